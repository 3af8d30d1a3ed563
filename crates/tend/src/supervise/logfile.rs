//! The rotating log writer. The child's output arrives in chunks; the writer appends
//! them to `<name>.log` and rotates by size and by time, always at a line boundary, so
//! a line never splits across two files. Rotated files are renamed with a UTC
//! timestamp (`orders.20261126T064928.123Z.log`), optionally gzipped in the
//! background, and the oldest beyond `keep`, older than `max_age` or over `max_total`
//! are removed.
//!
//! # One file, both streams
//!
//! stdout and stderr share one file ([`CombinedLog`]), each line in the order tend
//! received it (when its newline came), tagged with its stream after its timestamp, if
//! any: `out ` or `err ` ([`Stream::tag`]), as Kubernetes' CRI log files and the
//! journal keep both streams in one place. A stream's line is held until its newline
//! (or [`MAX_LINE`]), so a line of one stream is never cut by or glued to a line of the
//! other; `tend logs` shows the lines without their tags, `--stdout`/`--stderr` select
//! by tag ([`split_tag`]).
//!
//! # Failed writes
//!
//! Writes never wait on anything but the kernel's page cache. When a write fails (a
//! full disk, an I/O error) the rest of the chunk is dropped and counted, never retried
//! in a loop, so the child is never blocked and nothing is lost silently. A line counts
//! once, written or dropped: as dropped when its newline is.
//!
//! The live file is only ever appended to (`tail -F` and `tend logs -f` rely on that),
//! so a line that a failed write cut keeps its head in the file. Before the next line
//! the writer ends that head with a newline, and it drops (and counts) whatever still
//! arrives of the cut line up to its newline: a line in the file is whole, or the head
//! of a line counted as dropped, never two lines glued together.
//!
//! # Compression
//!
//! One worker thread per supervisor process ([`Compressor`]) compresses rotated files,
//! whatever the number of services: compression is CPU work that can wait, and one
//! thread keeps it to one core when many logs rotate at once (at `max_size = "1KiB"` a
//! flood rotates thousands of times a second). A writer never waits for it: a rotation
//! only asks for a *sweep* of its log's rotated files, and a log has at most one sweep
//! pending, so the queue holds at most one entry per log file. A sweep works on what
//! the directory holds, not on a list of names: it removes half-written `.gz.tmp` files
//! and rotated files beyond `keep` (counting a rotation once, whatever its form:
//! `.log`, `.log.gz`), then compresses every rotated `.log` left (see [`plan_sweep`]).
//! A rotation made while a sweep runs is picked up by the next one, and the leftovers
//! of a supervisor killed mid-compression by the first sweep, which opening a log asks
//! for. Before the supervisor exits, [`finish_compression`] waits for the pending
//! sweeps: every rotated file is compressed when `tend run` exits.

use std::collections::{BTreeMap, VecDeque};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock, PoisonError};
use std::thread::JoinHandle;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::spec::RotateEvery;

/// Which of the child's output streams a line came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Stream {
    /// stdout.
    Out,
    /// stderr.
    Err,
}

impl Stream {
    /// The tag a line of this stream carries in a combined log: `out ` or `err `.
    pub fn tag(self) -> &'static [u8; 4] {
        match self {
            Stream::Out => b"out ",
            Stream::Err => b"err ",
        }
    }

    fn index(self) -> usize {
        match self {
            Stream::Out => 0,
            Stream::Err => 1,
        }
    }
}

/// A line of a combined log split into its stream and its text: after the timestamp
/// (`log.timestamps`, kept in the text) comes `out ` or `err `. A line without a tag
/// (written by hand, or by an older tend) belongs to no stream: `None`, the line whole.
pub fn split_tag(line: &[u8]) -> (Option<Stream>, std::borrow::Cow<'_, [u8]>) {
    use std::borrow::Cow;
    // After "2026-11-26T06:49:28.123Z " (see `timestamp_now`), else at the start.
    let stamped = line.len() >= 29 && line[23] == b'Z' && line[24] == b' ';
    for s in [Stream::Out, Stream::Err] {
        if stamped && line[25..].starts_with(s.tag()) {
            let mut v = Vec::with_capacity(line.len() - 4);
            v.extend_from_slice(&line[..25]);
            v.extend_from_slice(&line[29..]);
            return (Some(s), Cow::Owned(v));
        }
        if let Some(text) = line.strip_prefix(s.tag()) {
            return (Some(s), Cow::Borrowed(text));
        }
    }
    (None, Cow::Borrowed(line))
}

/// The longest line a combined log holds whole: a longer one is written in pieces of
/// this size, each a line of its own (tagged), so that the other stream's lines never
/// wait long and no piece is cut by the rotation's hard cap (twice `max_size`).
pub const MAX_LINE: usize = 64 * 1024;

thread_local! {
    /// The tagged lines of one chunk, before they are written (one buffer for every
    /// log of the thread: a chunk is written before the next is taken).
    static TAGGED: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Appends to `out` the lines of `chunk` that end in it, each tagged with `tag`, the
/// first after what `partial` held of it; keeps the unfinished rest in `partial`, or
/// writes it out as a line of its own once it reaches `max_line`.
pub fn tag_lines<const N: usize>(
    out: &mut Vec<u8>,
    partial: &mut Vec<u8>,
    tag: &[u8; N],
    chunk: &[u8],
    max_line: usize,
) {
    let max_line = max_line.max(1);
    // Lines of 100 bytes: a tag each adds 4%.
    out.reserve(chunk.len() + partial.len() + chunk.len() / 16 + N + 1);
    // `partial` is always shorter than `max_line`. A line whose text (without its
    // newline) fits `max_line` is written whole; a longer one in pieces of `max_line`.
    let piece = |out: &mut Vec<u8>, partial: &mut Vec<u8>, text: &[u8]| {
        out.extend_from_slice(tag);
        out.append(partial);
        out.extend_from_slice(text);
        out.push(b'\n');
    };
    let mut start = 0;
    // One scan of the chunk for every newline, not one call a line.
    for nl in memchr::memchr_iter(b'\n', chunk) {
        // The common line: whole in the chunk and short, copied with its newline (the
        // tag's size is known, so its copy is a store).
        if partial.is_empty() && nl - start <= max_line {
            out.extend_from_slice(tag);
            out.extend_from_slice(&chunk[start..=nl]);
            start = nl + 1;
            continue;
        }
        let mut text = &chunk[start..nl];
        while partial.len() + text.len() > max_line {
            let room = max_line - partial.len();
            piece(out, partial, &text[..room]);
            text = &text[room..];
        }
        piece(out, partial, text);
        start = nl + 1;
    }
    let mut text = &chunk[start..];
    while !text.is_empty() && partial.len() + text.len() >= max_line {
        let room = max_line - partial.len();
        piece(out, partial, &text[..room]);
        text = &text[room..];
    }
    partial.extend_from_slice(text);
    if partial.is_empty() && partial.capacity() > 4096 {
        // A long line is over: its buffer goes with it.
        *partial = Vec::new();
    }
}

/// One service's log file, holding both streams (see the module doc).
pub struct CombinedLog {
    file: RotatingFile,
    /// Each stream's unfinished line.
    partial: [Vec<u8>; 2],
    /// What could not be written, by stream.
    dropped: [Dropped; 2],
    /// Bytes written, by stream (tags and timestamps included).
    written: [u64; 2],
    /// The longest line held whole.
    max_line: usize,
}

impl CombinedLog {
    /// Opens the log (see [`RotatingFile::open`]); `cfg.stem` is the service's name.
    pub fn open(cfg: RotateConfig) -> io::Result<CombinedLog> {
        CombinedLog::open_with(cfg, &Compressor::shared())
    }

    /// [`CombinedLog::open`] with a compression worker of the caller's.
    pub fn open_with(cfg: RotateConfig, gzip: &Compressor) -> io::Result<CombinedLog> {
        // Half of `max_size`: a whole line, with its stamp and tag, always fits under
        // the hard cap, so no line is cut without its tag.
        let max_line = MAX_LINE
            .min(usize::try_from(cfg.max_size / 2).unwrap_or(MAX_LINE))
            .max(64);
        Ok(CombinedLog {
            file: RotatingFile::open_with(cfg, gzip)?,
            partial: [Vec::new(), Vec::new()],
            dropped: [Dropped::default(); 2],
            written: [0; 2],
            max_line,
        })
    }

    /// The file's path.
    pub fn path(&self) -> PathBuf {
        self.file.path()
    }

    /// Takes in a chunk of `stream`: its lines that end in it are written, tagged.
    pub fn write(&mut self, stream: Stream, chunk: &[u8]) {
        TAGGED.with(|b| {
            let mut out = b.borrow_mut();
            out.clear();
            let i = stream.index();
            tag_lines(
                &mut out,
                &mut self.partial[i],
                stream.tag(),
                chunk,
                self.max_line,
            );
            self.put(stream, &out);
            if out.capacity() > 1 << 20 {
                *out = Vec::new();
            }
        });
    }

    /// The stream's output ended (its child exited): a line it did not end is written
    /// with a newline.
    pub fn finish(&mut self, stream: Stream) {
        let i = stream.index();
        if self.partial[i].is_empty() {
            return;
        }
        let mut line = Vec::with_capacity(self.partial[i].len() + 5);
        line.extend_from_slice(stream.tag());
        line.append(&mut self.partial[i]);
        line.push(b'\n');
        self.partial[i] = Vec::new();
        self.put(stream, &line);
    }

    /// Writes whole tagged lines, counting what is dropped against `stream`.
    fn put(&mut self, stream: Stream, lines: &[u8]) {
        if lines.is_empty() {
            return;
        }
        let (before, written) = (self.file.dropped, self.file.written);
        self.file.write_chunk(lines);
        let after = self.file.dropped;
        let d = &mut self.dropped[stream.index()];
        d.lines += after.lines - before.lines;
        d.bytes += after.bytes - before.bytes;
        self.written[stream.index()] += self.file.written - written;
    }

    /// Bytes of `stream` written to the file (tags and timestamps included).
    pub fn written(&self, stream: Stream) -> u64 {
        self.written[stream.index()]
    }

    /// What could not be written of `stream`.
    pub fn dropped(&self, stream: Stream) -> Dropped {
        self.dropped[stream.index()]
    }

    /// Takes the last write error, if any.
    pub fn take_error(&mut self) -> Option<io::Error> {
        self.file.last_error.take()
    }

    /// Reopens the file (after an external rotation).
    pub fn reopen(&mut self) -> io::Result<()> {
        self.file.reopen()
    }
}

/// Settings of one rotating file.
#[derive(Clone, Debug)]
pub struct RotateConfig {
    /// The directory.
    pub dir: PathBuf,
    /// The file stem, e.g. `orders.out`; the live file is `<stem>.log`.
    pub stem: String,
    /// Rotate when the file reaches this many bytes.
    pub max_size: u64,
    /// Also rotate each hour or day.
    pub every: RotateEvery,
    /// Rotated files to keep, and what else removes them.
    pub retention: Retention,
    /// Gzip rotated files.
    pub compress: bool,
    /// Prefix each line with an RFC 3339 timestamp.
    pub timestamps: bool,
}

/// Counters of what could not be written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Dropped {
    /// Lines whose newline was dropped (a line cut by a failed write counts here,
    /// though its head may be in the file).
    pub lines: u64,
    /// Bytes dropped, as they would have been written (with their timestamps).
    pub bytes: u64,
}

/// A log file that rotates itself.
pub struct RotatingFile {
    cfg: RotateConfig,
    /// The worker compressing rotated files (when `cfg.compress`).
    gzip: Option<Compressor>,
    file: Option<File>,
    size: u64,
    period: u64,
    /// The live file is empty or ends with a newline: rotating now splits no line.
    file_at_line_start: bool,
    /// The child's next byte begins a line (where a timestamp goes).
    stream_at_line_start: bool,
    /// When rotated files are next looked at for their age (`retention.max_age`).
    next_age_sweep: SystemTime,
    /// The live file ends with the head of a line whose rest was dropped: the next
    /// write ends it with a newline first.
    cut_in_file: bool,
    /// The child's current line lost part of it: what still comes of it, up to its
    /// newline, is dropped.
    skip_line: bool,
    /// What could not be written.
    pub dropped: Dropped,
    /// Bytes written to the log files since it was opened (timestamps included).
    pub written: u64,
    /// The last write error, until reported.
    pub last_error: Option<io::Error>,
}

impl RotatingFile {
    /// Opens (appending to) the live file, creating the directory if needed, with the
    /// supervisor's compression worker. Leftovers of an earlier run (rotated files not
    /// yet compressed, half-written `.gz.tmp` files) are tidied in the background.
    pub fn open(cfg: RotateConfig) -> io::Result<RotatingFile> {
        RotatingFile::open_with(cfg, &Compressor::shared())
    }

    /// [`RotatingFile::open`] with a compression worker of the caller's.
    pub fn open_with(cfg: RotateConfig, gzip: &Compressor) -> io::Result<RotatingFile> {
        fs::create_dir_all(&cfg.dir)?;
        let mut w = RotatingFile {
            gzip: cfg.compress.then(|| gzip.clone()),
            cfg,
            file: None,
            size: 0,
            period: 0,
            file_at_line_start: true,
            stream_at_line_start: true,
            next_age_sweep: SystemTime::now() + AGE_SWEEP_EVERY,
            cut_in_file: false,
            skip_line: false,
            dropped: Dropped::default(),
            written: 0,
            last_error: None,
        };
        w.reopen()?;
        // An earlier run may have left a line unfinished (killed mid-line, or a failed
        // write): the first line written now must not be glued to it.
        if w.size > 0 && last_byte(&w.path()).is_some_and(|b| b != b'\n') {
            w.file_at_line_start = false;
            w.cut_in_file = true;
        }
        w.tidy();
        Ok(w)
    }

    /// The live file's path.
    pub fn path(&self) -> PathBuf {
        self.cfg.dir.join(format!("{}.log", self.cfg.stem))
    }

    /// Reopens the live file (after an external rotation, or after an error).
    pub fn reopen(&mut self) -> io::Result<()> {
        self.file = None;
        let f = OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.path())?;
        let meta = f.metadata()?;
        self.size = meta.len();
        if self.size == 0 {
            // A new file: nothing in it to end or to keep whole.
            self.file_at_line_start = true;
            self.cut_in_file = false;
        }
        let mtime = meta.modified().unwrap_or_else(|_| SystemTime::now());
        self.period = period_of(
            self.cfg.every,
            if self.size == 0 {
                SystemTime::now()
            } else {
                mtime
            },
        );
        self.file = Some(f);
        Ok(())
    }

    /// Appends `chunk`, rotating at line boundaries as needed.
    pub fn write_chunk(&mut self, chunk: &[u8]) {
        if self.cfg.retention.max_age.is_some() {
            // Rotated files age without a rotation: looked at now and then.
            let now = SystemTime::now();
            if now >= self.next_age_sweep {
                self.next_age_sweep = now + AGE_SWEEP_EVERY;
                self.tidy();
            }
        }
        let chunk = self.skip_cut_line(chunk);
        let Some(&last) = chunk.last() else {
            return;
        };
        let at_line_start = self.stream_at_line_start;
        self.stream_at_line_start = last == b'\n';
        if self.cfg.timestamps {
            let stamped = stamp_lines(chunk, at_line_start, &timestamp_now());
            self.write_raw(&stamped);
        } else {
            self.write_raw(chunk);
        }
    }

    /// The child's output ended (it died mid-line, or is being replaced): a partial
    /// last line is ended with a newline, so the next child's output starts on a line
    /// of its own; a line cut by a failed write is counted, and its head ended.
    pub fn finish_line(&mut self) {
        if self.skip_line {
            self.skip_line = false;
            self.stream_at_line_start = true;
            self.dropped.lines += 1;
        } else if !self.stream_at_line_start {
            self.write_chunk(b"\n");
        }
        if self.cut_in_file {
            self.write_raw(b"");
        }
    }

    /// What is left of `chunk` once the rest of a cut line is dropped (and counted).
    fn skip_cut_line<'a>(&mut self, chunk: &'a [u8]) -> &'a [u8] {
        if !self.skip_line {
            return chunk;
        }
        let end = match chunk.iter().position(|&b| b == b'\n') {
            Some(i) => {
                self.skip_line = false;
                self.stream_at_line_start = true;
                i + 1
            }
            None => chunk.len(),
        };
        self.count_dropped(&chunk[..end]);
        &chunk[end..]
    }

    fn write_raw(&mut self, data: &[u8]) {
        if self.cut_in_file {
            if let Err(e) = self.end_cut_line() {
                self.drop_rest(data, e);
                return;
            }
        }
        let mut rest = data;
        while !rest.is_empty() {
            let hard_cap = self.cfg.max_size.saturating_mul(2);
            let due = (self.file_at_line_start && self.rotation_due(SystemTime::now()))
                || self.size >= hard_cap;
            if self.size > 0 && due {
                if let Err(e) = self.rotate() {
                    self.last_error = Some(e);
                }
            }
            let cut = cut_point(
                rest,
                self.cfg.max_size.saturating_sub(self.size),
                hard_cap.saturating_sub(self.size),
            );
            match self.append(&rest[..cut]) {
                Ok(()) => rest = &rest[cut..],
                Err((done, e)) => {
                    // The disk refuses: the rest of the chunk is not tried part by part.
                    self.drop_rest(&rest[done..], e);
                    return;
                }
            }
        }
    }

    /// Ends the head of a cut line with a newline (unless the live file was replaced
    /// by an empty one meanwhile).
    fn end_cut_line(&mut self) -> io::Result<()> {
        if self.file.is_none() {
            self.reopen()?;
        }
        if self.cut_in_file {
            self.append(b"\n").map_err(|(_, e)| e)?;
            self.cut_in_file = false;
        }
        Ok(())
    }

    fn rotation_due(&self, now: SystemTime) -> bool {
        self.size >= self.cfg.max_size || period_of(self.cfg.every, now) != self.period
    }

    /// Appends all of `bytes` to the live file, reopening it first if an error closed
    /// it. On failure: how many bytes reached the file, and why the rest did not.
    fn append(&mut self, bytes: &[u8]) -> Result<(), (usize, io::Error)> {
        if self.file.is_none() {
            self.reopen().map_err(|e| (0, e))?;
        }
        let Some(f) = self.file.as_mut() else {
            return Err((0, io::ErrorKind::NotFound.into()));
        };
        let mut done = 0;
        let mut result = Ok(());
        while done < bytes.len() {
            match f.write(&bytes[done..]) {
                Ok(0) => {
                    result = Err(io::Error::from(io::ErrorKind::WriteZero));
                    break;
                }
                Ok(n) => done += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    result = Err(e);
                    break;
                }
            }
        }
        if done > 0 {
            self.size += done as u64;
            self.written += done as u64;
            self.file_at_line_start = bytes[done - 1] == b'\n';
        }
        result.map_err(|e| (done, e))
    }

    /// Drops what a failed write left of a chunk.
    fn drop_rest(&mut self, rest: &[u8], e: io::Error) {
        self.count_dropped(rest);
        // `rest` continued the file's last line: that line is cut.
        if !self.file_at_line_start {
            self.cut_in_file = true;
        }
        // The child's current line lost its beginning: the rest of it is not written.
        if rest.last().is_some_and(|&b| b != b'\n') {
            self.skip_line = true;
        }
        self.last_error = Some(e);
    }

    fn count_dropped(&mut self, bytes: &[u8]) {
        self.dropped.lines += bytes.iter().filter(|&&b| b == b'\n').count() as u64;
        self.dropped.bytes += bytes.len() as u64;
    }

    /// Renames the live file to its timestamped name and starts a new one.
    pub fn rotate(&mut self) -> io::Result<()> {
        self.file = None;
        let live = self.path();
        let rotated = unique_rotated_path(&self.cfg.dir, &self.cfg.stem, SystemTime::now());
        if let Err(e) = fs::rename(&live, &rotated) {
            // Windows: a reader that opened the live file without FILE_SHARE_DELETE
            // (PowerShell's `Get-Content -Wait`) blocks renaming it. tend is the only
            // writer, so copying it and truncating it in place loses nothing. The copy
            // gets its rotated name once complete: a sweep must never see half of it.
            let part = PathBuf::from(format!("{}.part", rotated.display()));
            fs::copy(&live, &part)
                .and_then(|_| fs::rename(&part, &rotated))
                .map_err(|_| {
                    let _ = fs::remove_file(&part);
                    e
                })?;
            fs::OpenOptions::new()
                .write(true)
                .truncate(true)
                .open(&live)?;
        }
        self.tidy();
        self.reopen()
    }

    /// Prunes and compresses the rotated files: on the worker when compressing, else
    /// here (a directory listing and a few removals).
    fn tidy(&self) {
        let c = &self.cfg;
        match &self.gzip {
            Some(gzip) => gzip.submit(Tidy {
                dir: c.dir.clone(),
                stem: c.stem.clone(),
                retention: c.retention,
            }),
            None => {
                let _ = sweep(&c.dir, &c.stem, &c.retention, false);
            }
        }
    }
}

/// The last byte of a file, if it can be read.
fn last_byte(path: &Path) -> Option<u8> {
    use std::io::{Read, Seek, SeekFrom};
    let mut f = File::open(path).ok()?;
    f.seek(SeekFrom::End(-1)).ok()?;
    let mut b = [0u8];
    f.read_exact(&mut b).ok()?;
    Some(b[0])
}

fn timestamp_now() -> String {
    format!("{} ", humantime::format_rfc3339_millis(SystemTime::now()))
}

/// `chunk` with `stamp` before each line that starts in it (`at_line_start`: the
/// previous chunk ended a line).
pub fn stamp_lines(chunk: &[u8], mut at_line_start: bool, stamp: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(chunk.len() + 32 * (chunk.len() / 40 + 1));
    for &b in chunk {
        if at_line_start {
            out.extend_from_slice(stamp.as_bytes());
        }
        out.push(b);
        at_line_start = b == b'\n';
    }
    out
}

/// Where to cut `chunk` so that the part before the cut fits in `room` bytes, ending at
/// a line boundary when possible. A line that crosses the limit stays whole in the
/// current file, up to `hard_room`: output without newlines (a progress bar drawn
/// with `\r`) is cut there, so no file grows past twice `max_size`.
pub fn cut_point(chunk: &[u8], room: u64, hard_room: u64) -> usize {
    let room = usize::try_from(room).unwrap_or(usize::MAX);
    let hard = usize::try_from(hard_room).unwrap_or(usize::MAX).max(room);
    if chunk.len() <= room {
        return chunk.len();
    }
    if let Some(i) = chunk[..room].iter().rposition(|&b| b == b'\n') {
        return i + 1;
    }
    let limit = chunk.len().min(hard);
    match chunk[room..limit].iter().position(|&b| b == b'\n') {
        Some(i) => room + i + 1,
        None if limit == 0 => chunk.len(),
        None => limit,
    }
}

/// The rotation period a moment falls in (hours or days since the epoch, UTC).
pub fn period_of(every: RotateEvery, t: SystemTime) -> u64 {
    let secs = t
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    match every {
        RotateEvery::Never => 0,
        RotateEvery::Hourly => secs / 3600,
        RotateEvery::Daily => secs / 86_400,
    }
}

/// The name of a file rotated at `t`: `<stem>.<UTC timestamp>.log`. Names sort in time
/// order.
pub fn rotated_name(stem: &str, t: SystemTime) -> String {
    let ts = humantime::format_rfc3339_millis(t).to_string();
    // 2026-11-26T06:49:28.123Z -> 20261126T064928.123Z
    let compact: String = ts.chars().filter(|c| !matches!(c, '-' | ':')).collect();
    format!("{stem}.{compact}.log")
}

/// A rotated path that no file has yet: two rotations within one millisecond get
/// successive milliseconds, so names keep sorting in time order.
fn unique_rotated_path(dir: &Path, stem: &str, mut t: SystemTime) -> PathBuf {
    loop {
        let base = rotated_name(stem, t);
        let p = dir.join(&base);
        if !p.exists() && !dir.join(format!("{base}.gz")).exists() {
            return p;
        }
        t += std::time::Duration::from_millis(1);
    }
}

/// What a sweep of one log's rotated files does.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Sweep {
    /// Files to delete: rotations beyond `keep` (in every form), half-written
    /// `.gz.tmp` files, and `.log` files whose `.gz` is complete.
    pub remove: Vec<String>,
    /// Rotated `.log` files to compress, oldest first.
    pub compress: Vec<String>,
}

/// The forms of one rotated file present in a directory.
#[derive(Default)]
struct Forms<'a> {
    log: Option<&'a str>,
    gz: Option<&'a str>,
    tmp: Option<&'a str>,
}

/// How often rotated files are looked at for their age between rotations.
const AGE_SWEEP_EVERY: std::time::Duration = std::time::Duration::from_secs(600);

/// What removes rotated files: their number, their age, the log's size on disk.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Retention {
    /// Rotations to keep at most (`log.keep`).
    pub keep: u32,
    /// Rotations rotated longer ago than this go (`log.max_age`).
    pub max_age: Option<std::time::Duration>,
    /// The live file and the rotations together stay within this many bytes, the
    /// oldest rotations going first (`log.max_total`); the live file itself is never
    /// removed.
    pub max_total: Option<u64>,
}

/// Among `files` (a directory listing: names and sizes), what to do with the rotated
/// files of `stem` (`<stem>.<timestamp>.log`, `.log.gz` while or after compressing,
/// `.log.gz.tmp` while compressing) so that what `retention` allows remains, each
/// rotation in one form: the oldest rotations beyond `keep` go, whatever their form,
/// then those rotated more than `max_age` before `now` (by the timestamp in their
/// name), then the oldest until the live file and the rotations left take at most
/// `max_total` bytes (as they are on disk now: a rotation still to be compressed
/// counts whole). A `.gz.tmp` is a leftover (no compression runs while a sweep
/// plans), and so is a `.log` whose `.gz` exists (the `.gz` is renamed into place only
/// once complete); a `.log` alone is compressed when `compress`. A `.gz.tmp` alone is
/// no rotation, only a leftover.
pub fn plan_sweep(
    files: &[(String, u64)],
    stem: &str,
    retention: &Retention,
    compress: bool,
    now: SystemTime,
) -> Sweep {
    let names: Vec<String> = files.iter().map(|(n, _)| n.clone()).collect();
    let size_of = |n: &str| files.iter().find(|(f, _)| f == n).map_or(0, |(_, s)| *s);
    let rotations = rotation_forms(&names, stem);
    let real: Vec<(&str, &Forms)> = rotations
        .iter()
        .filter(|(_, f)| f.log.is_some() || f.gz.is_some())
        .map(|(k, f)| (*k, f))
        .collect();
    // Which rotations go, oldest first.
    let mut gone = vec![false; real.len()];
    let excess = real.len().saturating_sub(retention.keep as usize);
    gone[..excess].iter_mut().for_each(|g| *g = true);
    if let Some(age) = retention.max_age {
        for (g, (stamp, _)) in gone.iter_mut().zip(&real) {
            let at = parse_rotated_stamp(stamp).unwrap_or(UNIX_EPOCH);
            if now.duration_since(at).is_ok_and(|d| d > age) {
                *g = true;
            }
        }
    }
    if let Some(max) = retention.max_total {
        let kept_size = |f: &Forms| f.gz.or(f.log).map_or(0, size_of);
        let mut total = size_of(&format!("{stem}.log"))
            + real
                .iter()
                .zip(&gone)
                .filter(|(_, g)| !**g)
                .map(|((_, f), _)| kept_size(f))
                .sum::<u64>();
        for (g, (_, f)) in gone.iter_mut().zip(&real) {
            if total <= max {
                break;
            }
            if !*g {
                *g = true;
                total -= kept_size(f);
            }
        }
    }
    let mut sweep = Sweep::default();
    let mut remove = |n: Option<&str>| sweep.remove.extend(n.map(str::to_string));
    let mut to_compress = Vec::new();
    let mut next = real.iter().zip(&gone).peekable();
    for (stamp, forms) in &rotations {
        remove(forms.tmp);
        let Some(((_, _), &g)) = next.next_if(|((k, _), _)| k == stamp) else {
            continue;
        };
        if g {
            remove(forms.log);
            remove(forms.gz);
        } else if forms.gz.is_some() {
            remove(forms.log);
        } else if compress {
            to_compress.extend(forms.log.map(str::to_string));
        }
    }
    sweep.compress = to_compress;
    sweep
}

/// The rotations of `stem` among `names` (a directory listing), by timestamp (so in
/// time order), with the forms each is present in.
fn rotation_forms<'a>(names: &'a [String], stem: &str) -> BTreeMap<&'a str, Forms<'a>> {
    let prefix = format!("{stem}.");
    let mut rotations: BTreeMap<&str, Forms> = BTreeMap::new();
    for name in names {
        let Some(rest) = name.strip_prefix(&prefix) else {
            continue;
        };
        // <timestamp>.log..., a timestamp as `rotated_name` writes it: not the live
        // file, nor the file of a service whose name goes on (`orders.2.log`).
        let name = Some(name.as_str());
        let (k, form) = if let Some(k) = rest.strip_suffix(".log.gz.tmp") {
            (k, 2)
        } else if let Some(k) = rest.strip_suffix(".log.gz") {
            (k, 1)
        } else if let Some(k) = rest.strip_suffix(".log") {
            (k, 0)
        } else {
            continue;
        };
        if parse_rotated_stamp(k).is_none() {
            continue;
        }
        let forms = rotations.entry(k).or_default();
        match form {
            0 => forms.log = name,
            1 => forms.gz = name,
            _ => forms.tmp = name,
        }
    }
    rotations
}

/// One rotated file of a log, as a reader finds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rotated {
    /// The file name: `<stem>.<timestamp>.log`, or `.log.gz` once compressed.
    pub name: String,
    /// Whether it is gzipped.
    pub gz: bool,
    /// When it was rotated (its last line was written before), from its name; `None`
    /// for a name that is not a timestamp [`rotated_name`] writes.
    pub at: Option<SystemTime>,
}

/// The rotated files of `stem` among `names` (a directory listing), oldest first, each
/// rotation once: its `.log.gz` when there is one (a `.gz` is renamed into place only
/// once complete), else its `.log`. Never a `.gz.tmp` (a compression in progress or a
/// leftover), which is no rotation of its own.
pub fn rotated_files(names: &[String], stem: &str) -> Vec<Rotated> {
    rotation_forms(names, stem)
        .into_iter()
        .filter_map(|(stamp, forms)| {
            let (name, gz) = match (forms.gz, forms.log) {
                (Some(gz), _) => (gz, true),
                (None, Some(log)) => (log, false),
                (None, None) => return None,
            };
            Some(Rotated {
                name: name.to_string(),
                gz,
                at: parse_rotated_stamp(stamp),
            })
        })
        .collect()
}

/// The moment a rotated name's timestamp stands for: the inverse of [`rotated_name`]
/// (`20261126T064928.123Z` is 2026-11-26 06:49:28.123 UTC).
pub fn parse_rotated_stamp(stamp: &str) -> Option<SystemTime> {
    let b = stamp.as_bytes();
    // YYYYMMDDTHHMMSS.mmmZ
    if b.len() != 20 || b[8] != b'T' || b[15] != b'.' || b[19] != b'Z' {
        return None;
    }
    let digits = |r: std::ops::Range<usize>| -> Option<&str> {
        let s = stamp.get(r)?;
        s.bytes().all(|c| c.is_ascii_digit()).then_some(s)
    };
    let text = format!(
        "{}-{}-{}T{}:{}:{}.{}Z",
        digits(0..4)?,
        digits(4..6)?,
        digits(6..8)?,
        digits(9..11)?,
        digits(11..13)?,
        digits(13..15)?,
        digits(16..19)?
    );
    humantime::parse_rfc3339(&text).ok()
}

/// The directory a service's log files are in: the spec's `log.dir`, relative to the
/// spec's folder `base` like every path in a spec, or `default` (`--log-dir`, or the
/// default log directory) when it has none. The supervisor writes there and `tend logs`
/// reads there.
pub fn log_dir(spec: &crate::spec::Spec, base: &Path, default: &Path) -> PathBuf {
    spec.log
        .dir
        .as_ref()
        .map_or_else(|| default.to_path_buf(), |d| super::prepare::join(base, d))
}

/// Tidies the rotated files of `stem` in `dir` as [`plan_sweep`] says. Stops at the
/// first file that cannot be compressed (it stays as it is, for a later sweep).
fn sweep(dir: &Path, stem: &str, retention: &Retention, compress: bool) -> io::Result<()> {
    let files: Vec<(String, u64)> = fs::read_dir(dir)?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let size = e.metadata().map_or(0, |m| m.len());
            Some((e.file_name().into_string().ok()?, size))
        })
        .collect();
    let plan = plan_sweep(&files, stem, retention, compress, SystemTime::now());
    for n in &plan.remove {
        let _ = fs::remove_file(dir.join(n));
    }
    for n in &plan.compress {
        let path = dir.join(n);
        match gzip_file(&path) {
            Ok(()) => {}
            // Removed meanwhile (by hand): nothing to do.
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => {
                let why = crate::text::io_error(&e);
                return Err(io::Error::new(
                    e.kind(),
                    format!("{}: {why}", path.display()),
                ));
            }
        }
        let _ = fs::remove_file(&path);
    }
    Ok(())
}

/// Compresses `path` to `path.gz` through `path.gz.tmp`, renamed into place only once
/// complete and on disk, so a `.gz` is always whole.
fn gzip_file(path: &Path) -> io::Result<()> {
    let mut input = File::open(path)?;
    let gz = PathBuf::from(format!("{}.gz", path.display()));
    let tmp = PathBuf::from(format!("{}.gz.tmp", path.display()));
    let result = (|| {
        let out = File::create(&tmp)?;
        let mut enc = flate2::write::GzEncoder::new(out, flate2::Compression::fast());
        io::copy(&mut input, &mut enc)?;
        enc.finish()?.sync_all()?;
        fs::rename(&tmp, &gz)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// A request to sweep one log's rotated files.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Tidy {
    dir: PathBuf,
    stem: String,
    retention: Retention,
}

/// The compression worker: one thread, started at the first request, that sweeps the
/// logs it is asked to, one after the other. Cloning gives another handle to the same
/// worker.
#[derive(Clone, Default)]
pub struct Compressor(Arc<Shared>);

#[derive(Default)]
struct Shared {
    queue: Mutex<Queue>,
    wake: Condvar,
}

#[derive(Default)]
struct Queue {
    /// Logs to sweep, in the order asked: at most one entry per log.
    pending: VecDeque<Tidy>,
    /// The thread, once started.
    worker: Option<JoinHandle<()>>,
    /// Finished: requests are refused (what they ask is left for the next start).
    closed: bool,
}

impl Compressor {
    /// A worker of its own (the supervisor uses [`Compressor::shared`]).
    pub fn new() -> Compressor {
        Compressor::default()
    }

    /// The supervisor's worker, one per process.
    pub fn shared() -> Compressor {
        static SHARED: OnceLock<Compressor> = OnceLock::new();
        SHARED.get_or_init(Compressor::new).clone()
    }

    fn queue(&self) -> MutexGuard<'_, Queue> {
        self.0.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Asks for a sweep of a log; never waits for one. A log already waiting for a
    /// sweep is not queued twice: that sweep will see this rotation too.
    fn submit(&self, tidy: Tidy) {
        let mut q = self.queue();
        if q.closed {
            return;
        }
        if !q.pending.contains(&tidy) {
            q.pending.push_back(tidy);
        }
        if q.worker.is_none() {
            let shared = self.0.clone();
            match std::thread::Builder::new()
                .name("tend-gzip".into())
                .stack_size(2 << 20)
                .spawn(move || work(&shared))
            {
                Ok(h) => q.worker = Some(h),
                Err(e) => {
                    // No thread to be had: the files stay uncompressed until a later
                    // request (or the next start) succeeds.
                    q.pending.clear();
                    super::say!(
                        "tend: error: cannot start compressing rotated logs: {}",
                        crate::text::io_error(&e)
                    );
                    return;
                }
            }
        }
        drop(q);
        self.0.wake.notify_one();
    }

    /// Sweeps what is pending, then stops the worker and returns. Later requests are
    /// refused: their files stay as they are until the next start's sweep.
    pub fn finish(&self) {
        let worker = {
            let mut q = self.queue();
            q.closed = true;
            q.worker.take()
        };
        self.0.wake.notify_all();
        if let Some(w) = worker {
            let _ = w.join();
        }
    }
}

fn work(shared: &Shared) {
    loop {
        let tidy = {
            let mut q = shared.queue.lock().unwrap_or_else(PoisonError::into_inner);
            loop {
                if let Some(t) = q.pending.pop_front() {
                    break t;
                }
                if q.closed {
                    return;
                }
                q = shared.wake.wait(q).unwrap_or_else(PoisonError::into_inner);
            }
        };
        if let Err(e) = sweep(&tidy.dir, &tidy.stem, &tidy.retention, true) {
            super::say!(
                "tend: error: cannot compress a rotated log ({}); it stays uncompressed until the next rotation",
                crate::text::io_error(&e)
            );
        }
    }
}

/// Finishes the supervisor's compression before it exits: the pending sweeps run to
/// the end (every rotated file is compressed), then the worker stops. Rotations after
/// this are compressed at the next start.
pub fn finish_compression() {
    Compressor::shared().finish();
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn cuts_fall_on_line_boundaries() {
        let table: [(&[u8], u64, u64, usize); 9] = [
            (b"aaa\nbbb\n", 100, 200, 8), // fits
            (b"aaa\nbbb\n", 6, 12, 4),    // last newline within the room
            (b"aaa\nbbb\n", 2, 8, 4),     // a line crossing the limit stays whole
            (b"aaaaaa", 2, 100, 6),       // no newline, under the hard cap: all of it
            (b"aaaaaa", 2, 4, 4),         // no newline: cut at the hard cap
            (b"aaa\nbbb\n", 0, 6, 4),     // no room: still a whole line
            (b"aaaaaa", 0, 0, 6),         // at the cap (rotation failed): append anyway
            (b"aaa\n", 4, 8, 4),
            (b"", 0, 0, 0),
        ];
        for (chunk, room, hard, want) in table {
            assert_eq!(
                cut_point(chunk, room, hard),
                want,
                "{:?} room {room}",
                String::from_utf8_lossy(chunk)
            );
        }
    }

    #[test]
    fn stamps_start_each_line() {
        assert_eq!(stamp_lines(b"a\nb\nc", true, "T "), b"T a\nT b\nT c");
        assert_eq!(stamp_lines(b"rest\nnext", false, "T "), b"rest\nT next");
        assert_eq!(stamp_lines(b"", true, "T "), b"");
    }

    #[test]
    fn periods() {
        let t = UNIX_EPOCH + Duration::from_secs(86_400 * 3 + 3600 * 5 + 10);
        assert_eq!(period_of(RotateEvery::Never, t), 0);
        assert_eq!(period_of(RotateEvery::Hourly, t), 3 * 24 + 5);
        assert_eq!(period_of(RotateEvery::Daily, t), 3);
    }

    #[test]
    fn rotated_names_sort_in_time_order() {
        let t = UNIX_EPOCH + Duration::from_millis(1_795_000_000_123);
        let a = rotated_name("orders.out", t);
        assert!(a.starts_with("orders.out.2026"), "{a}");
        assert!(a.ends_with(".123Z.log"), "{a}");
        let b = rotated_name("orders.out", t + Duration::from_secs(1));
        assert!(a < b);
    }

    #[test]
    fn rotated_stamps_read_back_as_written() {
        for ms in [
            0u64,
            1_795_000_000_123,
            1_795_000_000_999,
            4_102_444_799_000,
        ] {
            let t = UNIX_EPOCH + Duration::from_millis(ms);
            let name = rotated_name("o.out", t);
            let stamp = name
                .strip_prefix("o.out.")
                .and_then(|n| n.strip_suffix(".log"))
                .unwrap();
            assert_eq!(parse_rotated_stamp(stamp), Some(t), "{name}");
        }
        for bad in [
            "",
            "20261126T064928.123",
            "20261126T064928123Z",
            "2026112xT064928.123Z",
            "20261126X064928.123Z",
            "20261326T064928.123Z",
            "20261126T064928.123Z.",
        ] {
            assert_eq!(parse_rotated_stamp(bad), None, "{bad}");
        }
    }

    #[test]
    fn readers_see_each_rotation_once_oldest_first_never_a_tmp() {
        let t = |n: u32, ext: &str| format!("o.out.20261126T0{n}0000.000Z.{ext}");
        let names: Vec<String> = [
            t(3, "log"),
            "o.out.log".into(),
            t(1, "log.gz"),
            t(2, "log"),
            t(2, "log.gz.tmp"), // being compressed: the .log is the rotation
            t(4, "log"),
            t(4, "log.gz"), // compressed, the .log not yet removed: the .gz is whole
            t(5, "log.gz.tmp"), // a leftover alone: no rotation
            "o.err.20261126T000000.000Z.log".into(),
            "other.out.20261126T000000.000Z.log".into(),
            "o.out.20261126T060000.000Z.log.part".into(),
        ]
        .into_iter()
        .collect();
        let got: Vec<(String, bool)> = rotated_files(&names, "o.out")
            .into_iter()
            .map(|r| (r.name, r.gz))
            .collect();
        assert_eq!(
            got,
            vec![
                (t(1, "log.gz"), true),
                (t(2, "log"), false),
                (t(3, "log"), false),
                (t(4, "log.gz"), true),
            ]
        );
        let at = rotated_files(&names, "o.out")[0].at.unwrap();
        assert_eq!(
            humantime::format_rfc3339_millis(at).to_string(),
            "2026-11-26T01:00:00.000Z"
        );
    }

    #[test]
    fn sweeps_count_a_rotation_once_whatever_its_form() {
        let names = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let t = |n: u32, ext: &str| format!("o.out.20261126T0{n}0000.000Z.{ext}");
        let all = names(&[
            "o.out.log",
            &t(1, "log.gz"),
            &t(2, "log"),
            &t(2, "log.gz.tmp"), // a compression cut short
            &t(3, "log"),
            &t(3, "log.gz"), // compressed, the .log not yet removed
            &t(4, "log"),
            &t(5, "log.gz.tmp"), // a leftover of a rotation that is gone
            "o.err.20261126T000000.000Z.log",
            "o.outside.log",
            "other.out.20261126T000000.000Z.log",
            "o.out.20261126T060000.000Z.log.part", // a copy in progress (Windows)
        ]);
        let s = |remove: &[String], compress: &[String]| Sweep {
            remove: remove.to_vec(),
            compress: compress.to_vec(),
        };
        let table: [(u32, bool, Sweep); 6] = [
            // Four rotations (1 to 4): keep 4 prunes none.
            (
                4,
                true,
                s(
                    &[t(2, "log.gz.tmp"), t(3, "log"), t(5, "log.gz.tmp")],
                    &[t(2, "log"), t(4, "log")],
                ),
            ),
            (
                4,
                false,
                s(&[t(2, "log.gz.tmp"), t(3, "log"), t(5, "log.gz.tmp")], &[]),
            ),
            // keep 2: 1 and 2 go, every form of them.
            (
                2,
                true,
                s(
                    &[
                        t(1, "log.gz"),
                        t(2, "log.gz.tmp"),
                        t(2, "log"),
                        t(3, "log"),
                        t(5, "log.gz.tmp"),
                    ],
                    &[t(4, "log")],
                ),
            ),
            (
                1,
                false,
                s(
                    &[
                        t(1, "log.gz"),
                        t(2, "log.gz.tmp"),
                        t(2, "log"),
                        t(3, "log"),
                        t(3, "log.gz"),
                        t(5, "log.gz.tmp"),
                    ],
                    &[],
                ),
            ),
            (
                0,
                true,
                s(
                    &[
                        t(1, "log.gz"),
                        t(2, "log.gz.tmp"),
                        t(2, "log"),
                        t(3, "log"),
                        t(3, "log.gz"),
                        t(4, "log"),
                        t(5, "log.gz.tmp"),
                    ],
                    &[],
                ),
            ),
            (
                100,
                true,
                s(
                    &[t(2, "log.gz.tmp"), t(3, "log"), t(5, "log.gz.tmp")],
                    &[t(2, "log"), t(4, "log")],
                ),
            ),
        ];
        let all = sized(&all);
        for (keep, compress, want) in table {
            let r = Retention {
                keep,
                ..Default::default()
            };
            assert_eq!(
                plan_sweep(&all, "o.out", &r, compress, UNIX_EPOCH),
                want,
                "keep {keep}, compress {compress}"
            );
        }
        assert_eq!(
            plan_sweep(&[], "o.out", &Retention::default(), true, UNIX_EPOCH),
            Sweep::default()
        );
    }

    fn cfg(dir: &Path, max: u64) -> RotateConfig {
        RotateConfig {
            dir: dir.to_path_buf(),
            stem: "t.out".into(),
            max_size: max,
            every: RotateEvery::Never,
            retention: Retention {
                keep: 100,
                ..Default::default()
            },
            compress: false,
            timestamps: false,
        }
    }

    /// A listing of `names`, each of size 0.
    fn sized(names: &[String]) -> Vec<(String, u64)> {
        names.iter().map(|n| (n.clone(), 0)).collect()
    }

    #[test]
    fn rotation_never_splits_a_line() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = RotatingFile::open(cfg(dir.path(), 1000)).unwrap();
        let mut all = Vec::new();
        for i in 0..500 {
            let line = format!("line {i:05} {}\n", "x".repeat(i % 37));
            all.extend_from_slice(line.as_bytes());
        }
        // Feed in odd-sized chunks that split lines anywhere.
        for chunk in all.chunks(333) {
            w.write_chunk(chunk);
        }
        let mut files: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        files.sort();
        // The live file sorts before rotated ones ("t.out.log" < "t.out.2026..."? no: '2' < 'l')
        let live = dir.path().join("t.out.log");
        files.retain(|p| *p != live);
        files.push(live);
        let mut joined = Vec::new();
        for f in &files {
            let data = fs::read(f).unwrap();
            assert!(
                data.is_empty() || data.ends_with(b"\n"),
                "{} ends mid-line",
                f.display()
            );
            joined.extend(data);
        }
        assert!(files.len() > 5, "rotated {} times", files.len());
        assert_eq!(joined, all, "every byte, in order");
        assert_eq!(w.dropped, Dropped::default());
        assert_eq!(w.written, all.len() as u64, "every byte counted as written");
    }

    /// The disk fills up: every write fails with ENOSPC, as writes to /dev/full do.
    #[cfg(unix)]
    fn fill_the_disk(w: &mut RotatingFile) {
        w.file = Some(OpenOptions::new().append(true).open("/dev/full").unwrap());
    }

    #[cfg(unix)]
    #[test]
    fn a_line_cut_by_a_full_disk_is_never_glued_to_a_later_one() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = RotatingFile::open(cfg(dir.path(), 1 << 20)).unwrap();
        w.write_chunk(b"L1 aaa\nL2 bb"); // a chunk may end mid-line
        fill_the_disk(&mut w);
        w.write_chunk(b"bbb\nL3 ccc\n");
        w.write_chunk(b"L4 ddd\nL5 e");
        // Space again: the next write reopens the live file.
        w.file = None;
        w.write_chunk(b"ee\nL6 fff\n");
        let text = fs::read_to_string(w.path()).unwrap();
        // L2's head stays (the file is only ever appended to) on a line of its own; L5's
        // tail is not written without its head. L2 to L5 count as dropped.
        assert_eq!(text, "L1 aaa\nL2 bb\nL6 fff\n");
        assert_eq!(w.dropped.lines, 4);
        assert_eq!(w.written, text.len() as u64, "only what reached the file");
    }

    #[cfg(unix)]
    #[test]
    fn the_end_of_output_ends_and_counts_a_cut_line() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = RotatingFile::open(cfg(dir.path(), 1 << 20)).unwrap();
        w.write_chunk(b"x1\nx2");
        fill_the_disk(&mut w);
        w.write_chunk(b" more of x2");
        w.file = None;
        // The child exits mid-line: x2 is over, dropped; its head gets its newline.
        w.finish_line();
        assert_eq!(w.dropped.lines, 1);
        w.write_chunk(b"y1\n");
        assert_eq!(fs::read_to_string(w.path()).unwrap(), "x1\nx2\ny1\n");
        assert_eq!(w.dropped.lines, 1);
    }

    #[cfg(unix)]
    #[test]
    fn a_cut_line_in_a_file_moved_away_leaves_the_new_file_clean() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = RotatingFile::open(cfg(dir.path(), 1 << 20)).unwrap();
        w.write_chunk(b"a\nb");
        fill_the_disk(&mut w);
        w.write_chunk(b"b\n");
        // Moved away (logrotate) while the disk was full; the next write reopens.
        fs::rename(w.path(), dir.path().join("moved")).unwrap();
        w.file = None;
        w.write_chunk(b"c\n");
        assert_eq!(fs::read_to_string(w.path()).unwrap(), "c\n");
        assert_eq!(w.dropped.lines, 1);
    }

    #[test]
    fn a_line_an_earlier_run_left_unfinished_stays_apart() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("t.out.log"), "old 1\nold 2 cut").unwrap();
        let mut w = RotatingFile::open(cfg(dir.path(), 1 << 20)).unwrap();
        w.write_chunk(b"new 1\n");
        let text = fs::read_to_string(w.path()).unwrap();
        assert_eq!(text, "old 1\nold 2 cut\nnew 1\n");
        // A file that ends a line is appended to as it is.
        drop(w);
        let mut w = RotatingFile::open(cfg(dir.path(), 1 << 20)).unwrap();
        w.write_chunk(b"new 2\n");
        assert_eq!(fs::read_to_string(w.path()).unwrap(), text + "new 2\n");
    }

    #[cfg(unix)]
    #[test]
    fn timestamps_start_the_lines_after_a_cut() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = cfg(dir.path(), 1 << 20);
        c.timestamps = true;
        let mut w = RotatingFile::open(c).unwrap();
        w.write_chunk(b"a1\na2");
        fill_the_disk(&mut w);
        w.write_chunk(b" rest\nb1\nb");
        w.file = None;
        w.write_chunk(b"2\nc1\nc");
        w.finish_line();
        let text = fs::read_to_string(w.path()).unwrap();
        // "2026-11-26T06:49:28.123Z " before each line.
        let lines: Vec<&str> = text.lines().map(|l| &l[25..]).collect();
        assert_eq!(lines, ["a1", "a2", "c1", "c"], "{text}");
        assert!(text
            .lines()
            .all(|l| l.as_bytes()[24] == b' ' && l.contains('Z')));
        assert_eq!(w.dropped.lines, 3, "a2, b1, b2");
    }

    #[cfg(unix)]
    #[test]
    fn a_short_write_then_a_failure_ends_the_cut_line_before_the_next() {
        use std::io::Read;
        use std::os::unix::net::UnixStream;
        // A non-blocking socket as the log file: a large write is taken in part, then
        // the next write fails (EAGAIN), as a disk that fills up mid-write does.
        let dir = tempfile::tempdir().unwrap();
        let mut w = RotatingFile::open(cfg(dir.path(), 1 << 30)).unwrap();
        let (tx, mut rx) = UnixStream::pair().unwrap();
        tx.set_nonblocking(true).unwrap();
        rx.set_nonblocking(true).unwrap();
        w.file = Some(File::from(std::os::fd::OwnedFd::from(tx)));
        let line = |i: u64| format!("L{i:07} {}\n", "x".repeat(87)); // 97 bytes
        let big: String = (0..20_000).map(line).collect(); // ~2MB: more than a socket holds
        w.write_chunk(big.as_bytes());
        let mut got = Vec::new();
        let _ = rx.read_to_end(&mut got); // what reached the "disk", until EAGAIN
        assert!(
            got.len() % 97 != 0,
            "the short write ended mid-line ({} bytes)",
            got.len()
        );
        let after: String = (20_000..20_010).map(line).collect();
        w.write_chunk(after.as_bytes());
        let _ = rx.read_to_end(&mut got);
        let text = String::from_utf8(got).unwrap();
        let mut whole = 0;
        for l in text.lines() {
            assert!(
                l.len() <= 96 && l.matches('L').count() == 1,
                "a damaged line: {l:?}"
            );
            whole += u64::from(l.len() == 96);
        }
        assert!(text.ends_with(&after), "the next lines arrive whole");
        assert_eq!(
            whole + w.dropped.lines,
            20_010,
            "every line written or counted"
        );
    }

    #[test]
    fn lines_carry_their_stream_and_read_back_without_it() {
        let stamp = "2026-11-26T06:49:28.123Z ";
        #[rustfmt::skip]
        let table: Vec<(String, Option<Stream>, String)> = vec![
            ("out hello".into(), Some(Stream::Out), "hello".into()),
            ("err shutting down gracefully".into(), Some(Stream::Err), "shutting down gracefully".into()),
            ("out ".into(), Some(Stream::Out), "".into()),
            (format!("{stamp}err boom"), Some(Stream::Err), format!("{stamp}boom")),
            (format!("{stamp}out err x"), Some(Stream::Out), format!("{stamp}err x")),
            // Untagged (an older file, a line written by hand): no stream, whole.
            ("plain".into(), None, "plain".into()),
            ("outlier".into(), None, "outlier".into()),
            (format!("{stamp}plain"), None, format!("{stamp}plain")),
            ("".into(), None, "".into()),
        ];
        for (line, stream, text) in table {
            let (s, t) = split_tag(line.as_bytes());
            assert_eq!(
                (s, String::from_utf8_lossy(&t).into_owned()),
                (stream, text),
                "{line:?}"
            );
        }
    }

    #[test]
    fn tagging_keeps_lines_whole_whatever_the_chunks() {
        // (chunks, max line, lines written, left over)
        #[rustfmt::skip]
        let table: Vec<(Vec<&str>, usize, &str, &str)> = vec![
            (vec!["a\nb\n"], 100, "T a\nT b\n", ""),
            (vec!["a\nb"], 100, "T a\n", "b"),
            (vec!["a", "b", "c\n"], 100, "T abc\n", ""),
            (vec!["", "\n"], 100, "T \n", ""),
            // A line longer than the most held whole: pieces, each a line.
            (vec!["abcdefghij"], 4, "T abcd\nT efgh\n", "ij"),
            (vec!["ab", "cdef\n"], 4, "T abcd\nT ef\n", ""),
            (vec!["abcd\n"], 4, "T abcd\n", ""),
            (vec!["abc", "d\ne"], 4, "T abcd\n", "e"),
            (vec!["abcde\n"], 4, "T abcd\nT e\n", ""),
            (vec!["abcd"], 4, "T abcd\n", ""),
            (vec!["ab", "cdefghijk\nxy\n"], 4, "T abcd\nT efgh\nT ijk\nT xy\n", ""),
        ];
        for (chunks, max, want, left) in table {
            let mut out = Vec::new();
            let mut partial = Vec::new();
            for c in &chunks {
                tag_lines(&mut out, &mut partial, b"T ", c.as_bytes(), max);
            }
            assert_eq!(String::from_utf8(out).unwrap(), want, "{chunks:?}");
            assert_eq!(String::from_utf8(partial).unwrap(), left, "{chunks:?}");
        }
    }

    fn combined(dir: &Path, max: u64) -> CombinedLog {
        let mut c = cfg(dir, max);
        c.stem = "t".into();
        CombinedLog::open(c).unwrap()
    }

    #[test]
    fn both_streams_share_one_file_in_the_order_their_lines_end() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = combined(dir.path(), 1 << 20);
        log.write(Stream::Out, b"starting\nlisten");
        // stderr writes while stdout is mid-line: neither is cut by the other.
        log.write(Stream::Err, b"warning: low memory\nshutting ");
        log.write(Stream::Out, b"ing on :8080\n");
        log.write(Stream::Err, b"down gracefully\n");
        log.write(Stream::Out, b"bye");
        log.finish(Stream::Out);
        log.finish(Stream::Err);
        let text = fs::read_to_string(log.path()).unwrap();
        assert_eq!(
            text,
            "out starting\nerr warning: low memory\nout listening on :8080\nerr shutting down gracefully\nout bye\n"
        );
        assert_eq!(log.path(), dir.path().join("t.log"));
    }

    #[test]
    fn the_combined_log_rotates_whole_tagged_lines() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = combined(dir.path(), 1024);
        let mut want = Vec::new();
        for i in 0..300 {
            let (s, tag) = if i % 3 == 0 {
                (Stream::Err, "err")
            } else {
                (Stream::Out, "out")
            };
            // Some lines longer than half of max_size: written in pieces, each tagged.
            let line = format!("{i:04} {}\n", "x".repeat((i * 7) % 700));
            let body = line.trim_end_matches('\n');
            for piece in body.as_bytes().chunks(512) {
                want.push(format!("{tag} {}", String::from_utf8_lossy(piece)));
            }
            for c in line.as_bytes().chunks(97) {
                log.write(s, c);
            }
        }
        let mut names: Vec<String> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        // Rotations (t.2026...) sort before the live t.log.
        assert!(names.len() > 10, "{names:?}");
        let mut got = Vec::new();
        for n in &names {
            let data = fs::read_to_string(dir.path().join(n)).unwrap();
            assert!(data.ends_with('\n'), "{n} ends mid-line");
            assert!(data.len() <= 2048, "{n}: {} bytes", data.len());
            got.extend(data.lines().map(str::to_string));
        }
        assert_eq!(got, want);
    }

    #[cfg(unix)]
    #[test]
    fn what_a_full_disk_drops_is_counted_against_its_stream() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = combined(dir.path(), 1 << 20);
        log.write(Stream::Out, b"kept\n");
        fill_the_disk(&mut log.file);
        log.write(Stream::Err, b"e1\ne2\n");
        log.write(Stream::Out, b"o1\n");
        assert_eq!(
            log.dropped(Stream::Err),
            Dropped {
                lines: 2,
                bytes: 14
            }
        );
        assert_eq!(log.dropped(Stream::Out), Dropped { lines: 1, bytes: 7 });
        assert!(log.take_error().is_some());
    }

    #[test]
    fn retention_removes_by_number_age_and_total_size() {
        let t = |n: u32, ext: &str| format!("o.20261126T0{n}0000.000Z.{ext}");
        let at = |h: u64| humantime::parse_rfc3339(&format!("2026-11-26T{h:02}:00:00Z")).unwrap();
        // Rotations at 01:00 to 04:00, 100 bytes each (03 compressed to 10), live 50.
        let files: Vec<(String, u64)> = vec![
            ("o.log".into(), 50),
            (t(1, "log"), 100),
            (t(2, "log"), 100),
            (t(3, "log.gz"), 10),
            (t(4, "log"), 100),
            ("other.20261126T000000.000Z.log".into(), 1000),
            ("o.2.log".into(), 1000), // another service's live file (`o.2`)
        ];
        let h = std::time::Duration::from_secs(3600);
        let r = |keep, max_age, max_total| Retention {
            keep,
            max_age,
            max_total,
        };
        #[rustfmt::skip]
        let table: Vec<(&str, Retention, u64, Vec<String>)> = vec![
            ("nothing to do", r(10, None, None), 5, vec![]),
            ("keep", r(2, None, None), 5, vec![t(1, "log"), t(2, "log")]),
            ("older than 2h at 05:00: 01 and 02 (03 is exactly 2h)", r(10, Some(2 * h), None), 5, vec![t(1, "log"), t(2, "log")]),
            ("age and keep together", r(1, Some(3 * h), None), 5, vec![t(1, "log"), t(2, "log"), t(3, "log.gz")]),
            ("a total of 360 bytes: 01 goes (360 - 100 = 260)", r(10, None, Some(300)), 5, vec![t(1, "log")]),
            ("a total of 150: the compressed one counts at its size", r(10, None, Some(150)), 5, vec![t(1, "log"), t(2, "log"), t(3, "log.gz")]),
            ("below the live file alone: every rotation, never the live file", r(10, None, Some(10)), 5, vec![t(1, "log"), t(2, "log"), t(3, "log.gz"), t(4, "log")]),
            ("exactly the total: nothing", r(10, None, Some(360)), 5, vec![]),
            ("a clock before the rotations: no age", r(10, Some(h), None), 0, vec![]),
        ];
        for (what, ret, now, want) in table {
            let plan = plan_sweep(&files, "o", &ret, false, at(now));
            assert_eq!(plan.remove, want, "{what}");
        }
    }

    #[test]
    fn names_that_only_look_like_rotations_are_not_swept() {
        let files = sized(&[
            "web.log".into(),
            "web.1.log".into(),
            "web.2026.log".into(),
            "web.20261126T010000.000Z.log".into(),
            "web.out.log".into(),
        ]);
        let r = Retention::default(); // keep 0
        let plan = plan_sweep(&files, "web", &r, false, UNIX_EPOCH);
        assert_eq!(plan.remove, ["web.20261126T010000.000Z.log"]);
    }

    #[test]
    fn keep_limits_rotated_files() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = cfg(dir.path(), 1024);
        c.retention.keep = 2;
        let mut w = RotatingFile::open(c).unwrap();
        for _ in 0..20 {
            w.write_chunk(&[b'y'; 1023]);
            w.write_chunk(b"\n");
        }
        let n = fs::read_dir(dir.path()).unwrap().count();
        assert_eq!(n, 3, "live file + 2 rotated");
    }

    /// The rotated files of `t.out` in `dir`, sorted (time order).
    fn rotated(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n.starts_with("t.out.") && n != "t.out.log")
            .collect();
        v.sort();
        v
    }

    fn gunzip(path: &Path) -> String {
        let mut text = String::new();
        let mut d = flate2::read::GzDecoder::new(File::open(path).unwrap());
        io::Read::read_to_string(&mut d, &mut text).unwrap();
        text
    }

    #[test]
    fn compressed_rotations_are_valid_gzip_once_finished() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = cfg(dir.path(), 1024);
        c.compress = true;
        let gzip = Compressor::new();
        let mut w = RotatingFile::open_with(c, &gzip).unwrap();
        let line = format!("{}\n", "z".repeat(100));
        // 11 lines pass 1024 bytes; the 12th starts a new file.
        for _ in 0..12 {
            w.write_chunk(line.as_bytes());
        }
        w.rotate().unwrap();
        gzip.finish();
        let gz = rotated(dir.path());
        assert_eq!(gz.len(), 2, "{gz:?}");
        let mut text = String::new();
        for g in &gz {
            assert!(g.ends_with(".log.gz"), "{gz:?}");
            text += &gunzip(&dir.path().join(g));
        }
        assert_eq!(text, line.repeat(12));
    }

    #[test]
    fn after_finishing_rotations_wait_for_the_next_start() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = cfg(dir.path(), 1024);
        c.compress = true;
        c.retention.keep = 3;
        let gzip = Compressor::new();
        let mut w = RotatingFile::open_with(c.clone(), &gzip).unwrap();
        gzip.finish();
        // The supervisor is exiting: the writer is never held up, the file is left.
        for i in 0..5 {
            w.write_chunk(format!("{i}\n").as_bytes());
            w.rotate().unwrap();
        }
        let left = rotated(dir.path());
        assert_eq!(left.len(), 5, "{left:?}");
        assert!(left.iter().all(|n| n.ends_with(".log")), "{left:?}");
        // The next start prunes to `keep` and compresses what is left.
        let gzip = Compressor::new();
        let _w = RotatingFile::open_with(c, &gzip).unwrap();
        gzip.finish();
        let left = rotated(dir.path());
        assert_eq!(left.len(), 3, "{left:?}");
        let texts: Vec<String> = left.iter().map(|n| gunzip(&dir.path().join(n))).collect();
        assert_eq!(texts, ["2\n", "3\n", "4\n"]);
    }
}
