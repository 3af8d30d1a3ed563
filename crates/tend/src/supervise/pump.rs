//! Output capture: a task per child stream drains its pipe and hands each chunk to a
//! sink (a rotating file, the console with a service prefix, or nothing). The sink
//! outlives the child, so a restart keeps appending to the same file. All pumps share
//! one read buffer: the runtime is single-threaded and a read is handed to the sink
//! before the next await, so one buffer serves every service at no extra memory.
//!
//! What a file sink could not write is counted ([`Dropped`]); the pumps wake
//! [`keep_counters_current`] when the counts grow, so the state file shows them while
//! it happens (at most once a second), not only at the next change of state.

use std::cell::RefCell;
use std::io::{self, Write};
use std::rc::Rc;

use tokio::sync::Notify;

use super::logfile::{Dropped, RotatingFile};
use super::service::{Observer, COUNTERS_EVERY};
use super::state::Status;
use super::sys::PipeReader;

#[cfg(unix)]
const READ_BUF: usize = 256 * 1024;

#[cfg(unix)]
thread_local! {
    static BUF: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// Where a stream's bytes go.
pub enum Sink {
    /// A rotating file.
    File(RotatingFile),
    /// The terminal, each line prefixed with the (coloured) service name.
    Console(ConsoleSink),
}

impl Sink {
    fn write(&mut self, chunk: &[u8]) {
        match self {
            Sink::File(f) => f.write_chunk(chunk),
            Sink::Console(c) => c.write(chunk),
        }
    }

    /// Ends a partial last line (the child died mid-line) so the next child's output
    /// starts on a line of its own.
    fn finish_line(&mut self) {
        match self {
            Sink::File(f) => f.finish_line(),
            Sink::Console(c) => c.flush_partial(),
        }
    }

    /// What could not be written.
    pub fn dropped(&self) -> Dropped {
        match self {
            Sink::File(f) => f.dropped,
            Sink::Console(_) => Dropped::default(),
        }
    }

    /// Takes the last write error, if any.
    pub fn take_error(&mut self) -> Option<io::Error> {
        match self {
            Sink::File(f) => f.last_error.take(),
            Sink::Console(_) => None,
        }
    }

    /// Reopens the file (after an external rotation).
    pub fn reopen(&mut self) -> io::Result<()> {
        match self {
            Sink::File(f) => f.reopen(),
            Sink::Console(_) => Ok(()),
        }
    }
}

/// Lines to the terminal as `name | line`.
pub struct ConsoleSink {
    prefix: Vec<u8>,
    partial: Vec<u8>,
    stderr: bool,
}

impl ConsoleSink {
    /// A sink writing to tend's stdout (or stderr) with `prefix` before each line.
    pub fn new(prefix: String, stderr: bool) -> ConsoleSink {
        ConsoleSink {
            prefix: prefix.into_bytes(),
            partial: Vec::new(),
            stderr,
        }
    }

    fn write(&mut self, chunk: &[u8]) {
        let mut out = Vec::with_capacity(chunk.len() + 64);
        let mut rest = chunk;
        while let Some(i) = rest.iter().position(|&b| b == b'\n') {
            out.extend_from_slice(&self.prefix);
            out.append(&mut self.partial);
            out.extend_from_slice(&rest[..=i]);
            rest = &rest[i + 1..];
        }
        self.partial.extend_from_slice(rest);
        if self.partial.len() > 64 * 1024 {
            // A very long line without a newline: show what there is.
            self.flush_partial();
        }
        self.emit(&out);
    }

    fn flush_partial(&mut self) {
        if self.partial.is_empty() {
            return;
        }
        let mut out = self.prefix.clone();
        out.append(&mut self.partial);
        out.push(b'\n');
        self.emit(&out);
    }

    fn emit(&self, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        // The terminal going away must not stop the service: errors are ignored.
        let _ = if self.stderr {
            io::stderr().lock().write_all(bytes)
        } else {
            io::stdout().lock().write_all(bytes)
        };
    }
}

/// How many of the last stderr lines are kept (see [`StderrTail`]).
pub const TAIL_LINES: usize = 3;
/// How much of each of them is kept, in bytes (cut at a character boundary).
pub const TAIL_LINE_BYTES: usize = 200;
/// The bytes of a line looked at: a few more than are shown, so that a line cut in
/// the middle of a character, or one only just too long, is still seen as cut.
const KEPT: usize = TAIL_LINE_BYTES + 8;

/// The last few lines a child wrote to stderr, for the lifecycle line of a failed exit
/// (`stderr: Error: listen tcp :8080: address already in use`): the reason a program
/// gives is otherwise only in its log. Bounded ([`TAIL_LINES`] lines of at most
/// [`TAIL_LINE_BYTES`] bytes) and cheap on the hot path: a chunk is only scanned back
/// from its end until enough line ends are found.
#[derive(Debug, Default)]
pub struct StderrTail {
    /// Complete lines, oldest first, at most [`TAIL_LINES`], each its first [`KEPT`]
    /// bytes (made text only when taken: their buffers are reused meanwhile).
    lines: std::collections::VecDeque<Vec<u8>>,
    /// The start of the line being written (at most [`TAIL_LINE_BYTES`] bytes kept).
    partial: Vec<u8>,
}

impl StderrTail {
    /// Takes in the next chunk of the stream.
    pub fn push(&mut self, chunk: &[u8]) {
        let Some(last_nl) = chunk.iter().rposition(|&b| b == b'\n') else {
            self.extend_partial(chunk);
            return;
        };
        // The lines that end in this chunk and say something, newest first, scanned
        // back from its end until there are enough (or the chunk's first line, which
        // continues the partial line of earlier chunks, is reached).
        let mut found = [(0, 0); TAIL_LINES];
        let mut n = 0;
        let mut end = last_nl;
        let mut first_line = None;
        while n < TAIL_LINES {
            let Some(nl) = chunk[..end].iter().rposition(|&b| b == b'\n') else {
                first_line = Some(end);
                break;
            };
            if !chunk[nl + 1..end].iter().all(u8::is_ascii_whitespace) {
                found[n] = (nl + 1, end);
                n += 1;
            }
            end = nl;
        }
        match first_line {
            Some(end) => {
                let mut line = std::mem::take(&mut self.partial);
                line.extend_from_slice(&chunk[..end.min(KEPT)]);
                self.keep(&line);
                line.clear();
                self.partial = line;
            }
            // The partial line ended before the lines kept.
            None => self.partial.clear(),
        }
        for &(start, end) in found[..n].iter().rev() {
            self.keep(&chunk[start..end]);
        }
        self.extend_partial(&chunk[last_nl + 1..]);
    }

    fn extend_partial(&mut self, bytes: &[u8]) {
        let room = KEPT.saturating_sub(self.partial.len());
        self.partial
            .extend_from_slice(&bytes[..bytes.len().min(room)]);
    }

    /// Keeps a complete line (blank lines say nothing and are skipped).
    fn keep(&mut self, line: &[u8]) {
        let line = &line[..line.len().min(KEPT)];
        if line
            .iter()
            .all(|b| b.is_ascii_whitespace() || b.is_ascii_control())
        {
            return;
        }
        let mut buf = if self.lines.len() == TAIL_LINES {
            self.lines.pop_front().unwrap_or_default()
        } else {
            Vec::with_capacity(KEPT)
        };
        buf.clear();
        buf.extend_from_slice(line);
        self.lines.push_back(buf);
    }

    /// The last lines, oldest first (a line the child did not end counts), and a fresh
    /// start for the next child.
    pub fn take(&mut self) -> Vec<String> {
        let partial = std::mem::take(&mut self.partial);
        self.keep(&partial);
        self.lines
            .drain(..)
            .map(|l| show_line(&l))
            .filter(|l| !l.is_empty())
            .collect()
    }

    /// Forgets everything (a new child starts).
    pub fn clear(&mut self) {
        self.lines.clear();
        self.partial.clear();
    }
}

/// A line of a child's output as tend shows it: valid UTF-8, without terminal escapes
/// or other control characters (they must not reach the console or the journal), no
/// trailing space, at most [`TAIL_LINE_BYTES`] bytes, cut at a character boundary with
/// `…`.
fn show_line(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(&bytes[..bytes.len().min(KEPT)]);
    let mut out = String::with_capacity(text.len());
    let mut cut = false;
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        let c = match c {
            '\t' => ' ',
            // An escape sequence: `ESC [ ... final` (colours, cursor moves), else the
            // escape and the character after it.
            '\x1b' => {
                if chars.next() == Some('[') {
                    for c in chars.by_ref() {
                        if ('@'..='~').contains(&c) {
                            break;
                        }
                    }
                }
                continue;
            }
            c if c.is_control() => continue,
            c => c,
        };
        if out.len() + c.len_utf8() > TAIL_LINE_BYTES {
            cut = true;
            break;
        }
        out.push(c);
    }
    let mut out = out.trim().to_string();
    if cut {
        out.push('…');
    }
    out
}

/// The stderr tail of a service, shared by the pumps of its children and its actor.
pub type SharedTail = Rc<RefCell<StderrTail>>;

/// A sink shared between the pumps of successive children of one service.
pub type SharedSink = Rc<RefCell<Sink>>;

/// Sets the dropped-output counters of `status` from the sinks; whether they changed.
pub fn set_dropped(status: &mut Status, sinks: &[SharedSink]) -> bool {
    let d = sinks.iter().fold(Dropped::default(), |sum, s| {
        let d = s.borrow().dropped();
        Dropped {
            lines: sum.lines + d.lines,
            bytes: sum.bytes + d.bytes,
        }
    });
    let changed = (status.log_dropped_lines, status.log_dropped_bytes) != (d.lines, d.bytes);
    status.log_dropped_lines = d.lines;
    status.log_dropped_bytes = d.bytes;
    changed
}

/// Tells the observers of the counters if they changed since they last heard.
pub fn report_counters(
    sinks: &[SharedSink],
    shown: &RefCell<Status>,
    observers: &RefCell<Vec<Box<dyn Observer>>>,
) {
    let status = {
        let mut s = shown.borrow_mut();
        if !set_dropped(&mut s, sinks) {
            return;
        }
        s.clone()
    };
    for o in observers.borrow_mut().iter_mut() {
        o.counters(&status);
    }
}

/// While output is being dropped (a full disk), the state file would otherwise show
/// the count of the last change of state: this reports the counters when the pumps say
/// they grew, at most once per [`COUNTERS_EVERY`].
pub async fn keep_counters_current(
    sinks: Vec<SharedSink>,
    shown: Rc<RefCell<Status>>,
    observers: Rc<RefCell<Vec<Box<dyn Observer>>>>,
    grew: Rc<Notify>,
) {
    loop {
        grew.notified().await;
        report_counters(&sinks, &shown, &observers);
        tokio::time::sleep(COUNTERS_EVERY).await;
    }
}

/// One output stream of one child: its pipe, where its bytes go, and (stderr) the
/// tail kept of it. Shared by the pump and the actor, which reads what is left at once
/// when the child exits ([`drain_now`]).
pub struct Stream {
    #[cfg(unix)]
    pipe: tokio::net::unix::pipe::Receiver,
    #[cfg(windows)]
    pipe: RefCell<Option<PipeReader>>,
    sink: SharedSink,
    tail: Option<SharedTail>,
}

impl Stream {
    /// Hands a chunk to the sink and the tail.
    fn take_in(&self, chunk: &[u8]) -> std::cell::RefMut<'_, Sink> {
        if let Some(t) = &self.tail {
            t.borrow_mut().push(chunk);
        }
        let mut s = self.sink.borrow_mut();
        s.write(chunk);
        s
    }
}

/// Opens a child's stream for [`pump`]: its bytes go to `sink`, and to `tail` if any.
#[cfg(unix)]
pub fn open(fd: PipeReader, sink: SharedSink, tail: Option<SharedTail>) -> io::Result<Rc<Stream>> {
    // A larger pipe buffer: fewer wake-ups when a child floods its output.
    super::sys::grow_pipe(&fd, 1 << 20);
    let pipe = tokio::net::unix::pipe::Receiver::from_owned_fd(fd)?;
    Ok(Rc::new(Stream { pipe, sink, tail }))
}

/// Opens a child's stream for [`pump`]: its bytes go to `sink`, and to `tail` if any.
#[cfg(windows)]
pub fn open(fd: PipeReader, sink: SharedSink, tail: Option<SharedTail>) -> io::Result<Rc<Stream>> {
    Ok(Rc::new(Stream {
        pipe: RefCell::new(Some(fd)),
        sink,
        tail,
    }))
}

/// Reads what the pipe holds now, without waiting, into the sink and the tail: called
/// when the child has exited, so that the lines it wrote last are in the tail before
/// the exit is reported (the exit can be seen before the pump had its turn). The
/// child closed its end before it exited, so everything it wrote is there.
#[cfg(unix)]
pub fn drain_now(stream: &Stream) {
    use std::os::fd::AsFd;
    // Read past tokio's readiness (it may not have heard of the bytes yet): the pipe is
    // non-blocking, and the pump, woken later, finds it empty or at its end.
    BUF.with(|b| {
        let mut b = b.borrow_mut();
        if b.len() < READ_BUF {
            b.resize(READ_BUF, 0);
        }
        loop {
            match nix::unistd::read(stream.pipe.as_fd(), &mut b) {
                Ok(0) => break,
                Ok(n) => drop(stream.take_in(&b[..n])),
                Err(nix::errno::Errno::EINTR) => {}
                Err(_) => break,
            }
        }
    });
}

/// Windows: the reader thread hands the chunks over on its own; a last one it has
/// not handed over yet when the exit is reported is missed by the tail (not the log).
#[cfg(windows)]
pub fn drain_now(_stream: &Stream) {}

/// Drains the stream into its sink until end of file (every writer, including
/// grandchildren that inherited the pipe, has closed it). `on_write` runs after each
/// chunk.
#[cfg(unix)]
pub async fn pump(stream: Rc<Stream>, mut on_write: impl FnMut(&mut Sink)) -> io::Result<()> {
    loop {
        stream.pipe.readable().await?;
        let read = BUF.with(|b| {
            let mut b = b.borrow_mut();
            if b.len() < READ_BUF {
                b.resize(READ_BUF, 0);
            }
            let n = stream.pipe.try_read(&mut b)?;
            if n > 0 {
                on_write(&mut stream.take_in(&b[..n]));
            }
            Ok::<usize, io::Error>(n)
        });
        match read {
            Ok(0) => break,
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
                ) => {}
            Err(e) => return Err(e),
        }
    }
    stream.sink.borrow_mut().finish_line();
    Ok(())
}

/// Drains the chunks a reader thread takes from the pipe into the sink until end of
/// file. `on_write` runs after each chunk.
#[cfg(windows)]
pub async fn pump(stream: Rc<Stream>, mut on_write: impl FnMut(&mut Sink)) -> io::Result<()> {
    let reader = stream.pipe.borrow_mut().take();
    if let Some(mut reader) = reader {
        while let Some(chunk) = reader.0.recv().await {
            on_write(&mut stream.take_in(&chunk));
        }
    }
    stream.sink.borrow_mut().finish_line();
    Ok(())
}

#[cfg(test)]
mod tail_tests {
    use super::*;

    /// The tail after `chunks`, as [`StderrTail::take`] gives it.
    fn tail(chunks: &[&[u8]]) -> Vec<String> {
        let mut t = StderrTail::default();
        for c in chunks {
            t.push(c);
        }
        t.take()
    }

    /// What a row is about, the chunks, the tail.
    type Row<'a> = (&'a str, Vec<&'a [u8]>, Vec<&'a str>);

    #[test]
    fn the_tail_is_the_last_lines_however_the_chunks_fall() {
        let long = "é".repeat(150); // 300 bytes, 2 a character
        let cut = format!("{}…", "é".repeat(100));
        let many: String = (1..=1000).map(|i| format!("line {i}\n")).collect();
        #[rustfmt::skip]
        let table: Vec<Row> = vec![
            ("nothing", vec![], vec![]),
            ("one line", vec![b"Error: address in use\n"], vec!["Error: address in use"]),
            ("the last three of many, in order", vec![many.as_bytes()], vec!["line 998", "line 999", "line 1000"]),
            ("exactly three", vec![b"a\nb\nc\n"], vec!["a", "b", "c"]),
            ("an unfinished last line counts", vec![b"a\nb\nc\nd"], vec!["b", "c", "d"]),
            ("a line across chunks", vec![b"a\nEr", b"ror: x", b"\nb\n"], vec!["a", "Error: x", "b"]),
            ("a line across chunks, the chunk full of lines", vec![b"Er", b"ror\nb\nc\nd\n"], vec!["b", "c", "d"]),
            ("a line across chunks, three in the second", vec![b"Er", b"ror\nb\nc\n"], vec!["Error", "b", "c"]),
            ("older lines stay while new ones come", vec![b"a\nb\n", b"c\n", b"d"], vec!["b", "c", "d"]),
            ("blank lines say nothing", vec![b"fatal\n\n  \n\r\n"], vec!["fatal"]),
            ("CRLF and tabs, trailing space", vec![b"a\tb  \r\n"], vec!["a b"]),
            ("escapes do not reach the terminal", vec![b"\x1b[1;31mERROR\x1b[0m: disk full\x07\n"], vec!["ERROR: disk full"]),
            ("leading space goes too", vec![b"    at main (app.js:3)\n"], vec!["at main (app.js:3)"]),
            ("not UTF-8", vec![b"caf\xe9\n"], vec!["caf\u{fffd}"]),
            ("a long line is cut at a character", vec![long.as_bytes(), b"\n"], vec![cut.as_str()]),
            ("a long unfinished line too", vec![long.as_bytes()], vec![cut.as_str()]),
        ];
        for (what, chunks, want) in table {
            assert_eq!(tail(&chunks), want, "{what}");
        }
    }

    #[test]
    fn taking_starts_afresh() {
        let mut t = StderrTail::default();
        t.push(b"first child\nhalf");
        assert_eq!(t.take(), ["first child", "half"]);
        t.push(b"second\n");
        assert_eq!(t.take(), ["second"]);
        assert!(t.take().is_empty());
    }

    #[test]
    fn a_flood_costs_only_its_tail() {
        // A 256 KiB chunk of lines is scanned back only over its last few lines: the
        // tail holds no more than it shows, however much went through.
        let chunk: Vec<u8> = b"x"
            .repeat(99)
            .into_iter()
            .chain(*b"\n")
            .cycle()
            .take(256 * 1024)
            .collect();
        let mut t = StderrTail::default();
        for _ in 0..64 {
            t.push(&chunk);
        }
        assert!(t.partial.capacity() <= 2 * KEPT, "{}", t.partial.capacity());
        assert_eq!(t.take().len(), TAIL_LINES);
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use crate::spec::RotateEvery;
    use crate::supervise::logfile::RotateConfig;
    use crate::supervise::state::State;

    struct Heard(Rc<RefCell<Vec<(u64, u64)>>>);

    impl Observer for Heard {
        fn changed(&mut self, _status: &Status, _event: &crate::supervise::event::Event) {}
        fn counters(&mut self, status: &Status) {
            self.0
                .borrow_mut()
                .push((status.log_dropped_lines, status.log_dropped_bytes));
        }
    }

    #[test]
    fn counters_are_reported_when_they_grow_and_only_then() {
        // A log file on a full disk: /dev/full fails every write with ENOSPC.
        let dir = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink("/dev/full", dir.path().join("t.out.log")).unwrap();
        let file = RotatingFile::open(RotateConfig {
            dir: dir.path().to_path_buf(),
            stem: "t.out".into(),
            max_size: 1 << 20,
            every: RotateEvery::Never,
            keep: 1,
            compress: false,
            timestamps: false,
        })
        .unwrap();
        let sink: SharedSink = Rc::new(RefCell::new(Sink::File(file)));
        let sinks = [sink.clone()];
        let shown = RefCell::new(Status {
            name: "t".into(),
            state: State::Running,
            spec: "t.toml".into(),
            supervisor_pid: 1,
            pid: Some(2),
            started_at_ms: None,
            since_ms: 0,
            restarts: 0,
            last_exit: None,
            message: None,
            log_dropped_lines: 0,
            log_dropped_bytes: 0,
            last_stderr: None,
        });
        let heard = Rc::new(RefCell::new(Vec::new()));
        let observers: RefCell<Vec<Box<dyn Observer>>> =
            RefCell::new(vec![Box::new(Heard(heard.clone()))]);

        report_counters(&sinks, &shown, &observers);
        assert!(heard.borrow().is_empty(), "nothing dropped, nothing said");
        sink.borrow_mut().write(b"a\nb\n");
        report_counters(&sinks, &shown, &observers);
        report_counters(&sinks, &shown, &observers);
        sink.borrow_mut().write(b"cc\n");
        report_counters(&sinks, &shown, &observers);
        assert_eq!(*heard.borrow(), [(2, 4), (3, 7)]);
        assert_eq!(shown.borrow().state, State::Running, "no change of state");
    }
}
