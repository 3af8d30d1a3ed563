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

use super::logfile::{CombinedLog, Dropped, Stream as Which};
use super::service::{Observer, COUNTERS_EVERY};
use super::state::Status;
use super::sys::PipeReader;

#[cfg(unix)]
const READ_BUF: usize = 256 * 1024;

#[cfg(unix)]
thread_local! {
    static BUF: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// A service's log file, shared by the sinks of its two streams.
pub type SharedLog = Rc<RefCell<CombinedLog>>;

/// Where a stream's bytes go.
pub enum Sink {
    /// The service's rotating log file, holding both streams, as this stream.
    File(SharedLog, Which),
    /// The terminal, each line prefixed with the (coloured) service name.
    Console(ConsoleSink),
    /// Syslog, a message per line.
    Syslog(super::syslog::SyslogSink),
}

impl Sink {
    fn write(&mut self, chunk: &[u8]) {
        match self {
            Sink::File(f, which) => f.borrow_mut().write(*which, chunk),
            Sink::Console(c) => c.write(chunk),
            Sink::Syslog(s) => s.write(chunk),
        }
    }

    /// Ends a partial last line (the child died mid-line) so the next child's output
    /// starts on a line of its own.
    fn finish_line(&mut self) {
        match self {
            Sink::File(f, which) => f.borrow_mut().finish(*which),
            Sink::Console(c) => c.flush_partial(),
            Sink::Syslog(s) => s.finish_line(),
        }
    }

    /// What could not be written (of this stream).
    pub fn dropped(&self) -> Dropped {
        match self {
            Sink::File(f, which) => f.borrow().dropped(*which),
            Sink::Console(_) => Dropped::default(),
            Sink::Syslog(s) => s.dropped(),
        }
    }

    /// Bytes of this stream written to the log file, or sent to syslog (the
    /// messages' bytes); none on the console.
    pub fn written(&self) -> u64 {
        match self {
            Sink::File(f, which) => f.borrow().written(*which),
            Sink::Syslog(s) => s.sent(),
            Sink::Console(_) => 0,
        }
    }

    /// Takes the last write error, if any.
    pub fn take_error(&mut self) -> Option<io::Error> {
        match self {
            Sink::File(f, _) => f.borrow_mut().take_error(),
            Sink::Console(_) => None,
            Sink::Syslog(s) => s.take_error(),
        }
    }

    /// Reopens the file (after an external rotation).
    pub fn reopen(&mut self) -> io::Result<()> {
        match self {
            Sink::File(f, _) => f.borrow_mut().reopen(),
            Sink::Console(_) | Sink::Syslog(_) => Ok(()),
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
/// How much of each of them is shown, in bytes of text once cleaned (cut at a
/// character boundary, then marked with `…`).
pub const TAIL_LINE_BYTES: usize = 200;

/// The last few lines a child wrote to stderr, for the lifecycle line of a failed exit
/// (`stderr: Error: listen tcp :8080: address already in use`): the reason a program
/// gives is otherwise only in its log. Each line is kept as tend shows it ([`Line`]:
/// no escapes or control characters, what a `\r` left), and only a line that says
/// something once cleaned counts. Bounded ([`TAIL_LINES`] lines of at most
/// [`TAIL_LINE_BYTES`] bytes) and cheap on the hot path: a chunk is only scanned back
/// from its end until enough lines are found, and a line is cleaned only until its
/// text is full.
#[derive(Debug, Default)]
pub struct StderrTail {
    /// Complete lines as shown, oldest first, at most [`TAIL_LINES`] (their buffers
    /// are reused).
    lines: std::collections::VecDeque<String>,
    /// The line being written, cleaned as its bytes come.
    partial: Line,
    /// Cleans the lines found in one chunk.
    scan: Line,
    /// The lines found in one chunk, newest first, and a spare buffer.
    found: [String; TAIL_LINES],
    spare: String,
}

impl StderrTail {
    /// Takes in the next chunk of the stream.
    pub fn push(&mut self, chunk: &[u8]) {
        let Some(last_nl) = memchr::memrchr(b'\n', chunk) else {
            self.partial.feed(chunk);
            return;
        };
        // The lines that end in this chunk and say something, newest first, scanned
        // back from its end until there are enough (or the chunk's first line, which
        // continues the partial line of earlier chunks, is reached).
        let mut n = 0;
        let mut end = last_nl;
        let mut first_line = None;
        while n < TAIL_LINES {
            let Some(nl) = memchr::memrchr(b'\n', &chunk[..end]) else {
                first_line = Some(end);
                break;
            };
            self.scan.feed(&chunk[nl + 1..end]);
            if self.scan.finish(&mut self.found[n]) {
                n += 1;
            }
            end = nl;
        }
        match first_line {
            Some(end) => {
                self.partial.feed(&chunk[..end]);
                if self.partial.finish(&mut self.spare) {
                    keep(&mut self.lines, &mut self.spare);
                }
            }
            // The partial line ended before the lines kept.
            None => self.partial.reset(),
        }
        for text in self.found[..n].iter_mut().rev() {
            keep(&mut self.lines, text);
        }
        self.partial.feed(&chunk[last_nl + 1..]);
    }

    /// The last lines, oldest first (a line the child did not end counts), and a fresh
    /// start for the next child.
    pub fn take(&mut self) -> Vec<String> {
        if self.partial.finish(&mut self.spare) {
            keep(&mut self.lines, &mut self.spare);
        }
        self.lines.drain(..).collect()
    }

    /// Forgets everything (a new child starts).
    pub fn clear(&mut self) {
        self.lines.clear();
        self.partial.reset();
    }
}

/// Keeps a line's text (swapped out of `text`, which gets a buffer to reuse).
fn keep(lines: &mut std::collections::VecDeque<String>, text: &mut String) {
    let mut buf = if lines.len() == TAIL_LINES {
        lines.pop_front().unwrap_or_default()
    } else {
        String::new()
    };
    std::mem::swap(&mut buf, text);
    lines.push_back(buf);
}

/// Where [`step`] is in a terminal escape sequence (ECMA-48, as terminals read it).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum Parse {
    /// Text.
    #[default]
    Text,
    /// After `ESC`.
    Escape,
    /// `ESC` and intermediate bytes (`ESC ( B`), until a final byte.
    Intermediate,
    /// A control sequence, `ESC [` or `CSI` (colours, cursor moves, erasing): parameter
    /// and intermediate bytes until a final byte `@`..`~`.
    Csi,
    /// A string: OSC (`ESC ]`: titles, hyperlinks), DCS, SOS, PM, APC; its payload
    /// until `BEL` or `ST` (`ESC \` or U+009C).
    Str,
    /// `ESC` in a string: `\` ends the string, anything else begins a new escape.
    StrEscape,
}

/// What a character of a line does to the text shown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Shown {
    /// Nothing (part of an escape, a control character).
    Nothing,
    /// Shows this character.
    Char(char),
    /// `\r`: what follows is written over the text so far.
    Return,
}

/// CAN and SUB: cancel an escape sequence.
fn cancels(c: char) -> bool {
    matches!(c, '\x18' | '\x1a')
}

/// One character of a line through the escape parser: the state after it and what
/// it shows. Text outside escapes shows, tabs as spaces; other control characters
/// (C0, DEL, C1) show nothing; an escape shows nothing from its `ESC` to its end. A
/// character that cannot continue a sequence ends it and is read as text.
fn step(parse: Parse, c: char) -> (Parse, Shown) {
    match (parse, c) {
        (Parse::Str, '\x07' | '\u{9c}') => (Parse::Text, Shown::Nothing),
        (Parse::Str, '\x1b') => (Parse::StrEscape, Shown::Nothing),
        (Parse::Str | Parse::StrEscape, c) if cancels(c) => (Parse::Text, Shown::Nothing),
        (Parse::Str, _) => (Parse::Str, Shown::Nothing),
        (Parse::StrEscape, '\\') => (Parse::Text, Shown::Nothing),
        (Parse::StrEscape, c) => step(Parse::Escape, c),
        (Parse::Escape, '[') => (Parse::Csi, Shown::Nothing),
        (Parse::Escape, ']' | 'P' | 'X' | '^' | '_') => (Parse::Str, Shown::Nothing),
        (Parse::Escape | Parse::Intermediate, ' '..='/') => (Parse::Intermediate, Shown::Nothing),
        (Parse::Escape | Parse::Intermediate, '0'..='~') => (Parse::Text, Shown::Nothing),
        (Parse::Csi, ' '..='?') => (Parse::Csi, Shown::Nothing),
        (Parse::Csi, '@'..='~') => (Parse::Text, Shown::Nothing),
        (Parse::Escape | Parse::Intermediate | Parse::Csi, c) if cancels(c) => {
            (Parse::Text, Shown::Nothing)
        }
        (Parse::Escape | Parse::Intermediate | Parse::Csi, c) => step(Parse::Text, c),
        (Parse::Text, '\x1b') => (Parse::Escape, Shown::Nothing),
        (Parse::Text, '\u{9b}') => (Parse::Csi, Shown::Nothing),
        (Parse::Text, '\u{9d}' | '\u{90}' | '\u{98}' | '\u{9e}' | '\u{9f}') => {
            (Parse::Str, Shown::Nothing)
        }
        (Parse::Text, '\r') => (Parse::Text, Shown::Return),
        (Parse::Text, '\t') => (Parse::Text, Shown::Char(' ')),
        (Parse::Text, c) if c.is_control() => (Parse::Text, Shown::Nothing),
        (Parse::Text, c) => (Parse::Text, Shown::Char(c)),
    }
}

/// A line of a child's output made into what tend shows of it, from its bytes as they
/// come: valid UTF-8 (a character cut between two pieces is put together), without
/// terminal escapes or other control characters (they must not reach the console or
/// the journal), without leading or trailing space, at most [`TAIL_LINE_BYTES`] bytes,
/// cut at a character with `…`. A line rewritten with `\r` (progress) shows its last
/// text, as a terminal would (a last part that only erases leaves the text before it).
#[derive(Debug, Default)]
struct Line {
    parse: Parse,
    /// The first bytes of a character the last piece ended in.
    carry: [u8; 4],
    carry_len: usize,
    /// The text since the last `\r`, leading space left out.
    text: String,
    /// A character of it did not fit: the rest of the part changes nothing.
    cut: bool,
    /// The last earlier part (before a `\r`) that said something, as shown.
    said: String,
}

impl Line {
    /// Takes in the next bytes of the line.
    fn feed(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            if self.skipping() {
                // The text is full: only a `\r` outside escapes, which starts it anew,
                // matters, and the escapes, to tell a `\r` in a string (payload) from
                // one outside. Text is skipped to the next byte that may be either:
                // `\r`, `ESC`, or the first byte of a C1 control (U+0080..U+009F).
                let Some(i) = memchr::memchr3(b'\r', b'\x1b', 0xc2, bytes) else {
                    return;
                };
                bytes = &bytes[i..];
            }
            bytes = self.feed_chars(bytes);
        }
    }

    /// The text is full and no escape or character is under way: text changes nothing.
    fn skipping(&self) -> bool {
        self.cut && self.parse == Parse::Text && self.carry_len == 0
    }

    /// Reads `bytes` as characters until the text is full and no escape is under way
    /// (or the bytes end); what is left of them.
    fn feed_chars<'a>(&mut self, mut bytes: &'a [u8]) -> &'a [u8] {
        let carried = self.carry_len > 0;
        while self.carry_len > 0 {
            let Some(&b) = bytes.first() else {
                return bytes;
            };
            if b & 0xc0 != 0x80 {
                // Not a continuation: the character was never finished.
                self.carry_len = 0;
                self.char(char::REPLACEMENT_CHARACTER);
                break;
            }
            self.carry[self.carry_len] = b;
            self.carry_len += 1;
            bytes = &bytes[1..];
            match std::str::from_utf8(&self.carry[..self.carry_len]) {
                Ok(s) => {
                    let c = s.chars().next().unwrap_or(char::REPLACEMENT_CHARACTER);
                    self.carry_len = 0;
                    self.char(c);
                }
                Err(e) if e.error_len().is_none() && self.carry_len < 4 => {}
                Err(_) => {
                    self.carry_len = 0;
                    self.char(char::REPLACEMENT_CHARACTER);
                }
            }
        }
        if carried && self.skipping() {
            return bytes;
        }
        let whole = bytes;
        let offset = |part: &[u8]| part.as_ptr() as usize - whole.as_ptr() as usize;
        for piece in whole.utf8_chunks() {
            let valid = piece.valid();
            let mut i = 0;
            while let Some(c) = valid[i..].chars().next() {
                // Plain text, the common case, is taken a run at a time.
                let run = match self.parse {
                    Parse::Text => {
                        // No further than what fits and one more (which cuts or not).
                        let room = TAIL_LINE_BYTES.saturating_sub(self.text.len());
                        let rest = &valid.as_bytes()[i..];
                        let look = &rest[..rest.len().min(room + 1)];
                        look.iter()
                            .position(|b| !(b' '..=b'~').contains(b))
                            .unwrap_or(look.len())
                    }
                    _ => 0,
                };
                if run > 0 {
                    self.put_ascii(&valid[i..i + run]);
                    i += run;
                } else {
                    self.char(c);
                    i += c.len_utf8();
                }
                if self.skipping() {
                    return &whole[offset(valid.as_bytes()) + i..];
                }
            }
            let bad = piece.invalid();
            if bad.is_empty() {
                continue;
            }
            let after = offset(bad) + bad.len();
            let unfinished = std::str::from_utf8(bad).is_err_and(|e| e.error_len().is_none());
            if after == whole.len() && unfinished && bad.len() < 4 {
                // Finished by the next piece.
                self.carry[..bad.len()].copy_from_slice(bad);
                self.carry_len = bad.len();
                return &[];
            }
            self.char(char::REPLACEMENT_CHARACTER);
            if self.skipping() {
                return &whole[after..];
            }
        }
        &[]
    }

    fn char(&mut self, c: char) {
        let (parse, shown) = step(self.parse, c);
        self.parse = parse;
        match shown {
            Shown::Nothing => {}
            Shown::Return => self.carriage_return(),
            Shown::Char(_) if self.cut => {}
            Shown::Char(c) if c.is_whitespace() && self.text.is_empty() => {}
            Shown::Char(c) if self.text.len() + c.len_utf8() > TAIL_LINE_BYTES => {
                // Space past the end is no loss.
                self.cut = !c.is_whitespace();
            }
            Shown::Char(c) => self.text.push(c),
        }
    }

    /// A run of printable ASCII outside escapes: what [`Line::char`] does with each of
    /// its characters, at once.
    fn put_ascii(&mut self, run: &str) {
        if self.cut {
            return;
        }
        let run = if self.text.is_empty() {
            run.trim_start_matches(' ')
        } else {
            run
        };
        let room = TAIL_LINE_BYTES.saturating_sub(self.text.len());
        if run.len() <= room {
            self.text.push_str(run);
        } else {
            self.text.push_str(&run[..room]);
            // Space past the end is no loss.
            self.cut = run[room..].bytes().any(|b| b != b' ');
        }
    }

    /// A `\r`: the text so far is kept if it says something, until a later part does.
    fn carriage_return(&mut self) {
        if !self.text.is_empty() {
            self.said.clear();
            shown(&self.text, self.cut, &mut self.said);
        }
        self.text.clear();
        self.cut = false;
    }

    /// Puts the line as shown in `out`, whether it says something, and starts afresh.
    fn finish(&mut self, out: &mut String) -> bool {
        if self.carry_len > 0 {
            self.carry_len = 0;
            self.char(char::REPLACEMENT_CHARACTER);
        }
        out.clear();
        if self.text.is_empty() {
            out.push_str(&self.said);
        } else {
            shown(&self.text, self.cut, out);
        }
        self.reset();
        !out.is_empty()
    }

    /// Forgets the line.
    fn reset(&mut self) {
        self.parse = Parse::Text;
        self.carry_len = 0;
        self.text.clear();
        self.cut = false;
        self.said.clear();
    }
}

/// `text` without trailing space, with `…` if it was cut, into `out`.
fn shown(text: &str, cut: bool, out: &mut String) {
    out.push_str(text.trim_end());
    if cut {
        out.push('…');
    }
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

/// The stream ended: ends its last line, and gives syslog's queue (if it goes there)
/// up to [`FLUSH_WAIT`](super::syslog::FLUSH_WAIT) to be sent, awaiting it: the
/// supervisor's other services, its control channel and `/metrics` go on meanwhile.
async fn finish(stream: &Stream) {
    let queued = {
        let mut sink = stream.sink.borrow_mut();
        sink.finish_line();
        match &*sink {
            Sink::Syslog(s) => Some(s.queued()),
            _ => None,
        }
    };
    if let Some(q) = queued {
        q.settled(super::syslog::FLUSH_WAIT).await;
    }
}

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
    finish(&stream).await;
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
    finish(&stream).await;
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

    /// A line as shown, its bytes given in pieces of `size` (0: at once).
    fn clean(bytes: &[u8], size: usize) -> String {
        let mut line = Line::default();
        if size == 0 {
            line.feed(bytes);
        } else {
            bytes.chunks(size).for_each(|piece| line.feed(piece));
        }
        let mut out = String::new();
        line.finish(&mut out);
        out
    }

    /// What a row is about, the chunks, the tail.
    type Row<'a> = (&'a str, Vec<&'a [u8]>, Vec<&'a str>);

    #[test]
    fn the_tail_is_the_last_lines_however_the_chunks_fall() {
        let long = "é".repeat(150); // 300 bytes, 2 a character
        let cut = format!("{}…", "é".repeat(100));
        let many: String = (1..=1000).map(|i| format!("line {i}\n")).collect();
        let why = "Error: listen tcp :8080: address already in use";
        let then_resets = format!("{why}\n\x1b[0m\n\x1b[2K\n\x1b[0m\n");
        let then_bells = format!("{why}\n\x07\n\x07\x07\n\x07\n");
        let e95 = "é".repeat(95);
        let resets = "\x1b[0m".repeat(100);
        let x200_cut = format!("{}…", "x".repeat(200));
        let osc_cr_after_cut = format!("{}\x1b]0;title\rmore\x07\n", "x".repeat(250));
        let osc_cr_then_error = format!("{osc_cr_after_cut}ERROR: bad\n");
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
            // Lines that are empty once cleaned say nothing and take no place.
            ("escape-only lines after the reason", vec![then_resets.as_bytes()], vec![why]),
            ("bell-only lines after the reason", vec![then_bells.as_bytes()], vec![why]),
            ("escape-only lines, one a chunk", vec![why.as_bytes(), b"\n", b"\x1b[0m\n", b"\x1b[2K\n", b"\x1b[0m"], vec![why]),
            ("escape-only lines before three that count", vec![b"a\n\x1b[0m\nb\n\x1b[0m\nc\n\x1b[K\n"], vec!["a", "b", "c"]),
            // A line is cleaned before it is cut, across chunks too.
            ("escapes do not count against the length", vec![b"\x1b[1;31m\x1b[0m\x1b[01;31m", e95.as_bytes(), b"\n"], vec![e95.as_str()]),
            ("a character split between chunks", vec![b"caf\xc3", b"\xa9 au lait\n"], vec!["café au lait"]),
            ("an escape split between chunks", vec![b"\x1b[3", b"1mred\x1b", b"[0m\n"], vec!["red"]),
            ("a long run of escapes, then the reason", vec![resets.as_bytes(), b"Error: disk full\n"], vec!["Error: disk full"]),
            ("a hyperlink shows its text", vec![b"\x1b]8;;https://example.com/docs\x1b\\see docs\x1b]8;;\x1b\\ failed\n"], vec!["see docs failed"]),
            ("progress, then the reason", vec![b"downloading 10%\rdownloading 50%\rError: disk full\n"], vec!["Error: disk full"]),
            ("progress across chunks", vec![b"downloading 10%\rdown", b"loading 50%\rError: disk", b" full"], vec!["Error: disk full"]),
            ("\\r in an OSC of a cut line", vec![osc_cr_after_cut.as_bytes(), b"ERROR: bad\n"], vec![&x200_cut, "ERROR: bad"]),
            ("\\r in an OSC of a cut line, one chunk", vec![osc_cr_then_error.as_bytes()], vec![&x200_cut, "ERROR: bad"]),
            ("\\r in an OSC of a cut line, byte by byte", osc_cr_then_error.as_bytes().chunks(1).collect(), vec![&x200_cut, "ERROR: bad"]),
        ];
        for (what, chunks, want) in table {
            assert_eq!(tail(&chunks), want, "{what}");
        }
    }

    /// The escape parser alone: what a line shows, whether its bytes come at once, one
    /// by one, or three at a time.
    #[test]
    fn a_line_shows_its_text_without_escapes() {
        let long = "é".repeat(150);
        let cut = format!("{}…", "é".repeat(100));
        let e95 = "é".repeat(95);
        // 19 bytes of escapes: in all, more than the bytes of a line shown.
        let sgr_then_long = format!("\x1b[1;31m\x1b[0m\x1b[01;31m{e95}");
        let over = format!("{}x{}", "a".repeat(200), " ".repeat(10));
        let exact = format!("{}{}", "a".repeat(200), " ".repeat(10));
        let four = format!("{}😀", "a".repeat(198));
        let a200_cut = format!("{}…", "a".repeat(200));
        let a198_cut = format!("{}…", "a".repeat(198));
        let a200 = "a".repeat(200);
        let rewritten = format!("{long}\rnext");
        let erased = format!("{long}\r\x1b[K");
        // After the cut, escapes are still followed: a `\r` in a string is payload.
        let x250 = "x".repeat(250);
        let x200_cut = format!("{}…", "x".repeat(200));
        let osc_cr_after_cut = format!("{x250}\x1b]0;title\rmore\x07");
        let osc8_cr_after_cut = format!("{x250}\u{9d}0;title\rmore\x07");
        let dcs_cr_after_cut = format!("{x250}\x1bPq\r#0\x1b\\");
        let osc_then_cr_after_cut = format!("{x250}\x1b]0;t\x07\rnext");
        let st_then_cr_after_cut = format!("{x250}\x1b]0;t\x1b\\\rnext");
        let csi_then_cr_after_cut = format!("{x250}\x1b[31m\rnext");
        let nel_then_cr_after_cut = format!("{x250}\u{85}é\rnext");
        #[rustfmt::skip]
        let table: Vec<(&str, &[u8], &str)> = vec![
            ("plain", b"plain text", "plain text"),
            ("SGR", b"\x1b[1;31mERROR\x1b[0m: x", "ERROR: x"),
            ("CSI with intermediates and private marks", b"a\x1b[?25lb\x1b[1 qc", "abc"),
            ("8-bit CSI", "a\u{9b}31mb".as_bytes(), "ab"),
            ("OSC hyperlink ended by ST", b"\x1b]8;;https://example.com/docs\x1b\\see docs\x1b]8;;\x1b\\ failed", "see docs failed"),
            ("OSC title ended by BEL", b"\x1b]0;my title\x07Error: x", "Error: x"),
            ("OSC ended by 8-bit ST", "\x1b]0;t\u{9c}ok".as_bytes(), "ok"),
            ("8-bit OSC", "\u{9d}0;title\x07ok".as_bytes(), "ok"),
            ("DCS", b"\x1bPq#0;2;0;0;0\x1b\\after", "after"),
            ("APC and PM", b"\x1b_apc\x1b\\a\x1b^pm\x1b\\b", "ab"),
            ("charset designation", b"\x1b(Bplain\x1b)0", "plain"),
            ("two-byte escapes", b"\x1b7saved\x1b8\x1bM", "saved"),
            ("CAN cancels a sequence", b"\x1b[12\x18text", "text"),
            ("an ESC in a string starts a new escape", b"\x1b]0;t\x1b[31mred", "red"),
            ("a lone ESC at the end", b"text\x1b", "text"),
            ("a sequence cut short by text", "\x1b[1é".as_bytes(), "é"),
            ("bells and other controls", b"a\x07b\x08c\x00d\x7fe", "abcde"),
            ("8-bit controls", "a\u{85}b\u{9c}c".as_bytes(), "abc"),
            ("tabs", b"a\tb", "a b"),
            ("leading and trailing space", b" \t a b \t ", "a b"),
            ("only escapes", b"\x1b[0m\x1b[2K\x07", ""),
            ("not UTF-8", b"caf\xe9!", "caf\u{fffd}!"),
            ("a character never finished", b"caf\xc3", "caf\u{fffd}"),
            ("a character broken by another", b"a\xe2\x82b", "a\u{fffd}b"),
            ("\\r: what a terminal shows last", b"downloading 10%\rdownloading 50%\rError: disk full", "Error: disk full"),
            ("\\r then only an erase", b"Error: disk full\r\x1b[2K", "Error: disk full"),
            ("\\r at the end", b"50% done\r", "50% done"),
            ("\\r inside a string is its payload", b"\x1b]0;a\rb\x07ok", "ok"),
            ("cut after cleaning, at a character", long.as_bytes(), &cut),
            ("escapes do not count against the length", sgr_then_long.as_bytes(), &e95),
            ("one more character is a cut", over.as_bytes(), &a200_cut),
            ("space past the end is no cut", exact.as_bytes(), &a200),
            ("a character that does not fit is cut whole", four.as_bytes(), &a198_cut),
            ("a full line rewritten", rewritten.as_bytes(), "next"),
            ("a cut part kept through \\r", erased.as_bytes(), &cut),
            ("\\r in an OSC after the cut is payload", osc_cr_after_cut.as_bytes(), &x200_cut),
            ("\\r in an 8-bit OSC after the cut is payload", osc8_cr_after_cut.as_bytes(), &x200_cut),
            ("\\r in a DCS after the cut is payload", dcs_cr_after_cut.as_bytes(), &x200_cut),
            ("\\r after an OSC after the cut", osc_then_cr_after_cut.as_bytes(), "next"),
            ("\\r after an OSC ended by ST after the cut", st_then_cr_after_cut.as_bytes(), "next"),
            ("\\r after a CSI after the cut", csi_then_cr_after_cut.as_bytes(), "next"),
            ("\\r after an 8-bit control after the cut", nel_then_cr_after_cut.as_bytes(), "next"),
        ];
        for (what, bytes, want) in table {
            for size in [0, 1, 3] {
                assert_eq!(clean(bytes, size), want, "{what}, pieces of {size}");
            }
        }
    }

    /// The parser's transitions, one character at a time.
    #[test]
    fn escape_steps() {
        use Parse::{Csi, Escape, Intermediate, Str, StrEscape, Text};
        use Shown::{Char as C, Nothing as N, Return as R};
        #[rustfmt::skip]
        let table: Vec<(Parse, char, (Parse, Shown))> = vec![
            (Text, 'a', (Text, C('a'))),
            (Text, '\t', (Text, C(' '))),
            (Text, '\r', (Text, R)),
            (Text, '\x07', (Text, N)),
            (Text, '\x1b', (Escape, N)),
            (Text, '\u{9b}', (Csi, N)),
            (Text, '\u{9d}', (Str, N)),
            (Text, '\u{85}', (Text, N)),
            (Escape, '[', (Csi, N)),
            (Escape, ']', (Str, N)),
            (Escape, 'P', (Str, N)),
            (Escape, '(', (Intermediate, N)),
            (Escape, '7', (Text, N)),
            (Escape, '\x1b', (Escape, N)),
            (Escape, '\x18', (Text, N)),
            (Escape, 'é', (Text, C('é'))),
            (Intermediate, '(', (Intermediate, N)),
            (Intermediate, 'B', (Text, N)),
            (Csi, '1', (Csi, N)),
            (Csi, ';', (Csi, N)),
            (Csi, '?', (Csi, N)),
            (Csi, ' ', (Csi, N)),
            (Csi, 'm', (Text, N)),
            (Csi, '\x1b', (Escape, N)),
            (Csi, '\x1a', (Text, N)),
            (Csi, 'é', (Text, C('é'))),
            (Str, 'x', (Str, N)),
            (Str, '\r', (Str, N)),
            (Str, '\x07', (Text, N)),
            (Str, '\u{9c}', (Text, N)),
            (Str, '\x1b', (StrEscape, N)),
            (Str, '\x18', (Text, N)),
            (StrEscape, '\\', (Text, N)),
            (StrEscape, '[', (Csi, N)),
        ];
        for (from, c, want) in table {
            assert_eq!(step(from, c), want, "{from:?} {c:?}");
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
        // A clear forgets a line half written, and the escape it was in.
        t.push(b"\x1b]0;never ended");
        t.clear();
        t.push(b"third\n");
        assert_eq!(t.take(), ["third"]);
    }

    #[test]
    fn a_flood_costs_only_its_tail() {
        // A 260 KB chunk of lines is scanned back only over its last few lines, and a
        // line without an end is cleaned only until its text is full: the tail holds
        // no more than it shows, however much went through.
        let chunk: Vec<u8> = b"x"
            .repeat(99)
            .into_iter()
            .chain(*b"\n")
            .cycle()
            .take(2600 * 100)
            .collect();
        let endless = b"y".repeat(256 * 1024);
        let mut t = StderrTail::default();
        for _ in 0..64 {
            t.push(&chunk);
            t.push(&endless);
        }
        assert!(t.partial.text.capacity() <= 2 * TAIL_LINE_BYTES);
        assert!(t.partial.said.capacity() <= 2 * TAIL_LINE_BYTES);
        assert!(t.partial.cut, "the endless line's text is full");
        let lines = t.take();
        assert_eq!(lines.len(), TAIL_LINES);
        assert_eq!(lines[2], format!("{}…", "y".repeat(TAIL_LINE_BYTES)));
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use crate::spec::RotateEvery;
    use crate::supervise::logfile::{Retention, RotateConfig};
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

    /// The end of a stream sent to syslog waits for its queue on the runtime's timer:
    /// with a destination that never answers, the supervisor's thread goes on with
    /// everything else (other services, control answers, `/metrics`) meanwhile.
    #[test]
    fn the_end_of_a_syslog_stream_holds_up_nothing_else() {
        use crate::supervise::syslog::{Destination, Sender, SyslogSink, FLUSH_WAIT};
        use std::future::Future as _;
        use std::time::{Duration, Instant};

        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let local = tokio::task::LocalSet::new();
        local.block_on(&rt, async {
            // A TCP server that never answers: nothing empties the queue.
            let (sender, _unsent) = Sender::unemptied(Destination::Tcp("192.0.2.1:514".into()), 16);
            let sink: SharedSink = Rc::new(RefCell::new(Sink::Syslog(SyslogSink::new(
                sender,
                "web".into(),
                Which::Out,
            ))));
            let (r, mut w) = std::io::pipe().unwrap();
            w.write_all(b"one\ntwo").unwrap();
            drop(w);
            let stream = open(r.into(), sink, None).unwrap();

            // Another task of the supervisor's thread, ticking.
            let ticks = Rc::new(std::cell::Cell::new(0u32));
            let t = ticks.clone();
            let _ticker = tokio::task::spawn_local(async move {
                loop {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    t.set(t.get() + 1);
                }
            });

            let began = Instant::now();
            let mut longest = Duration::ZERO;
            let mut pumped = std::pin::pin!(pump(stream, |_| {}));
            std::future::poll_fn(|cx| {
                let t = Instant::now();
                let p = pumped.as_mut().poll(cx);
                longest = longest.max(t.elapsed());
                p
            })
            .await
            .unwrap();
            let took = began.elapsed();
            assert!(
                longest < FLUSH_WAIT / 2,
                "one poll of the pump held the thread for {longest:?}"
            );
            assert!(took >= FLUSH_WAIT, "the queue was given its time: {took:?}");
            assert!(took < FLUSH_WAIT * 10, "and no more: {took:?}");
            assert!(
                ticks.get() >= 5,
                "the other task ran {} times while the stream ended",
                ticks.get()
            );
        });
    }

    #[test]
    fn counters_are_reported_when_they_grow_and_only_then() {
        // A log file on a full disk: /dev/full fails every write with ENOSPC.
        let dir = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink("/dev/full", dir.path().join("t.log")).unwrap();
        let file = CombinedLog::open(RotateConfig {
            dir: dir.path().to_path_buf(),
            stem: "t".into(),
            max_size: 1 << 20,
            every: RotateEvery::Never,
            retention: Retention {
                keep: 1,
                ..Default::default()
            },
            compress: false,
            timestamps: false,
        })
        .unwrap();
        let sink: SharedSink = Rc::new(RefCell::new(Sink::File(
            Rc::new(RefCell::new(file)),
            Which::Out,
        )));
        let sinks = [sink.clone()];
        let shown = RefCell::new(Status {
            supervisor_pid: 1,
            pid: Some(2),
            since_ms: 0,
            ..Status::new("t", State::Running, "t.toml".into())
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
        // Dropped bytes as they would have been written: tagged ("out a\n").
        assert_eq!(*heard.borrow(), [(2, 12), (3, 19)]);
        assert_eq!(shown.borrow().state, State::Running, "no change of state");
    }
}
