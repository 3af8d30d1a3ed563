//! A log as files on disk: the live `<name>.log` and its rotations (`<name>.<UTC
//! timestamp>.log`, `.log.gz` once compressed), named as [`logfile`] names them, and
//! the last lines across them, oldest first. Their lines carry their stream's tag
//! (`out `, `err `), which is taken off as they are read ([`logfile::split_tag`]).
//! The separate files of an older tend (`<name>.out.log`, `<name>.err.log`) hold one
//! stream each, untagged ([`Holds`]).

use std::collections::VecDeque;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use super::when::{line_stamp, Range};
use crate::supervise::logfile::{self, Stream};

/// What the lines of a file are.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Holds {
    /// Both streams, each line tagged (`<name>.log`).
    #[default]
    Tagged,
    /// One stream, untagged (an older tend's `<name>.out.log`, `<name>.err.log`).
    Only(Stream),
    /// Lines as written, of no stream in particular (`tend.log`).
    Raw,
}

/// The streams wanted (`--stdout`, `--stderr`, or both).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Want {
    /// stdout lines.
    pub out: bool,
    /// stderr lines.
    pub err: bool,
}

impl Default for Want {
    fn default() -> Self {
        Want {
            out: true,
            err: true,
        }
    }
}

impl Want {
    /// Whether a line of `stream` is shown (a line of no known stream: only when
    /// both are).
    pub fn admits(&self, stream: Option<Stream>) -> bool {
        match stream {
            Some(Stream::Out) => self.out,
            Some(Stream::Err) => self.err,
            None => self.out && self.err,
        }
    }

    /// Whether every line is shown.
    pub fn all(&self) -> bool {
        self.out && self.err
    }
}

/// A line of a file that holds `holds` as shown when `want` is asked for: its text
/// without its tag, or `None` when it is of a stream not wanted.
pub fn shown_line<'a>(
    holds: Holds,
    want: &Want,
    line: &'a [u8],
) -> Option<std::borrow::Cow<'a, [u8]>> {
    match holds {
        Holds::Raw => Some(std::borrow::Cow::Borrowed(line)),
        Holds::Only(s) => want
            .admits(Some(s))
            .then_some(std::borrow::Cow::Borrowed(line)),
        Holds::Tagged => {
            let (s, text) = logfile::split_tag(line);
            want.admits(s).then_some(text)
        }
    }
}

/// One file of a log, with the time span its lines were written in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Piece {
    /// The file.
    pub path: PathBuf,
    /// Gzipped.
    pub gz: bool,
    /// Its lines were written after this (the previous rotation); `None`: unknown.
    pub start: Option<SystemTime>,
    /// When the file was created, where the system records it (Linux statx, macOS,
    /// Windows), for a file without `start` that is not gzipped (a `.gz` is created
    /// when compressed, after its lines).
    pub born: Option<SystemTime>,
    /// ... and up to this (its rotation, or the live file's last write); `None`:
    /// unknown.
    pub end: Option<SystemTime>,
    /// The live file (the one a supervisor appends to).
    pub live: bool,
    /// The live file's identity when it was listed (a rotation since gives another).
    pub id: Option<u64>,
    /// What its lines are.
    pub holds: Holds,
}

/// The files of the log `stem` (`orders.out`) among `names` (a listing of `dir`),
/// oldest first, the live file last if it exists; `live_mtime` is the live file's last
/// write.
pub fn pieces(
    dir: &Path,
    names: &[String],
    stem: &str,
    live_mtime: Option<SystemTime>,
) -> Vec<Piece> {
    let mut out = Vec::new();
    let mut start = None;
    for r in logfile::rotated_files(names, stem) {
        out.push(Piece {
            path: dir.join(&r.name),
            gz: r.gz,
            start,
            end: r.at,
            live: false,
            id: None,
            born: None,
            holds: Holds::Tagged,
        });
        start = r.at.or(start);
    }
    let live = format!("{stem}.log");
    if names.contains(&live) {
        out.push(Piece {
            path: dir.join(live),
            gz: false,
            start,
            end: live_mtime,
            live: true,
            id: None,
            born: None,
            holds: Holds::Tagged,
        });
    }
    out
}

/// The names in `dir` (none when it does not exist).
pub fn names_in(dir: &Path) -> io::Result<Vec<String>> {
    match std::fs::read_dir(dir) {
        Ok(d) => Ok(d
            .filter_map(|e| e.ok())
            .filter_map(|e| e.file_name().into_string().ok())
            .collect()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(e),
    }
}

/// Lists `dir` and returns the pieces of `stem` in it (none when `dir` does not exist).
/// The live file is looked at before the listing, so that a reader that opens it and
/// finds the same identity knows no rotation came between (see [`last_lines`]). A
/// file whose start is unknown from the names gets its creation time ([`Piece::born`]).
pub fn list(dir: &Path, stem: &str) -> io::Result<Vec<Piece>> {
    let live = std::fs::metadata(dir.join(format!("{stem}.log"))).ok();
    let names = names_in(dir)?;
    let mut out = pieces(
        dir,
        &names,
        stem,
        live.as_ref().and_then(|m| m.modified().ok()),
    );
    for p in out.iter_mut() {
        if p.live {
            p.id = live.as_ref().map(crate::supervise::sys::file_id);
        }
        if p.start.is_none() && !p.gz {
            let meta = if p.live {
                live.clone()
            } else {
                std::fs::metadata(&p.path).ok()
            };
            p.born = meta.and_then(|m| m.created().ok());
        }
    }
    Ok(out)
}

/// One line of a log, without its newline.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Line {
    /// Its timestamp (`log.timestamps`), or the one of the line before it in its file.
    pub stamp: Option<SystemTime>,
    /// The text.
    pub text: Vec<u8>,
}

/// What to keep of a log's lines.
#[derive(Clone, Copy, Debug, Default)]
pub struct Select {
    /// At most this many, the last ones (`None`: all).
    pub last: Option<usize>,
    /// Only lines in this range, by their timestamps (when the lines carry them).
    pub range: Range,
    /// The lines start with a timestamp (`log.timestamps = true`).
    pub timestamps: bool,
    /// The streams shown.
    pub want: Want,
    /// What the lines of the file read are (set for each file by [`last_lines`]).
    pub holds: Holds,
}

/// The last lines of `read` that `sel` keeps (`last` is taken as at most `room`),
/// oldest first, and how many bytes the complete lines take (a last line without its
/// newline yet is returned too, but not counted).
pub fn tail_of(
    mut read: impl BufRead,
    sel: &Select,
    room: Option<usize>,
) -> io::Result<(VecDeque<Line>, u64)> {
    let mut kept = VecDeque::new();
    let mut complete = 0u64;
    let mut stamp = None;
    let filter = sel.timestamps && !sel.range.is_all();
    let mut buf = Vec::new();
    loop {
        buf.clear();
        let n = read.read_until(b'\n', &mut buf)?;
        if n == 0 {
            break;
        }
        if buf.ends_with(b"\n") {
            complete += n as u64;
            buf.pop();
        }
        let Some(text) = shown_line(sel.holds, &sel.want, &buf) else {
            continue;
        };
        if sel.timestamps {
            stamp = line_stamp(&text).or(stamp);
        }
        // A line before any timestamp (written before `log.timestamps` was set) has no
        // time: outside every range.
        if filter && !stamp.is_some_and(|t| sel.range.contains(t)) {
            continue;
        }
        if room == Some(0) {
            continue;
        }
        kept.push_back(Line {
            stamp,
            text: text.into_owned(),
        });
        if room.is_some_and(|r| kept.len() > r) {
            kept.pop_front();
        }
    }
    Ok((kept, complete))
}

/// Why a log could not be read.
#[derive(Debug, thiserror::Error)]
#[error("cannot read {}: {}", path.display(), crate::text::io_error(source))]
pub struct ReadError {
    /// The file.
    pub path: PathBuf,
    /// Why.
    pub source: io::Error,
}

/// The live file, opened, and how far its complete lines go: where following starts.
pub struct LiveEnd {
    /// The open live file.
    pub file: File,
    /// The bytes of its complete lines.
    pub complete: u64,
}

/// The last lines of a log.
pub struct Tail {
    /// Oldest first.
    pub lines: Vec<Line>,
    /// The live file, still open for following, if it was read.
    pub live: Option<LiveEnd>,
    /// Gzipped files that are not valid gzip (damaged): skipped, their lines missing.
    pub skipped: Vec<ReadError>,
    /// Files of a log without timestamps that a time range left out only because when
    /// they were started is unknown (taken as their last write, [`Piece::end`]).
    pub undated: Vec<PathBuf>,
}

/// Why [`last_lines`] gave no lines.
#[derive(Debug)]
pub enum TailError {
    /// A file could not be read.
    Read(ReadError),
    /// The live file was rotated since the listing: list again (the rotated file is
    /// not in the listing).
    Moved,
}

/// Whether the file `p` is read for `sel`. With timestamps the lines decide, so only a
/// file known from its name to be out of the range is not read (an unknown start is
/// any time before). Without, the file stands for its lines, written from the rotation
/// before it (else its creation) to its own rotation (the live file: its last write);
/// when neither start is known, from its end, the only time known of it.
pub fn wanted(sel: &Select, p: &Piece) -> bool {
    let start = if sel.timestamps {
        p.start
    } else {
        p.start.or(p.born).or(p.end)
    };
    sel.range.overlaps(start, p.end)
}

/// The last lines `sel` keeps across `pieces`, newest files read first and older ones
/// only while lines are missing.
pub fn last_lines(pieces: &[Piece], sel: &Select) -> Result<Tail, TailError> {
    let mut chunks: Vec<VecDeque<Line>> = Vec::new();
    let mut have = 0usize;
    let mut live_end = None;
    let mut skipped = Vec::new();
    let mut undated = Vec::new();
    for p in pieces.iter().rev() {
        let room = sel.last.map(|n| n.saturating_sub(have));
        if room == Some(0) {
            break;
        }
        if !wanted(sel, p) {
            if p.start.or(p.born).is_none() && sel.range.overlaps(None, p.end) {
                undated.push(p.path.clone());
            }
            continue;
        }
        let err = |source| {
            TailError::Read(ReadError {
                path: p.path.clone(),
                source,
            })
        };
        let sel = &Select {
            holds: p.holds,
            ..*sel
        };
        let (lines, _) = if p.live {
            let mut f = match File::open(&p.path) {
                Ok(f) => f,
                // Rotated away since the listing: its lines are in a file not listed.
                Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(TailError::Moved),
                Err(e) => return Err(err(e)),
            };
            let id = f.metadata().map(|m| crate::supervise::sys::file_id(&m));
            if p.id.is_some() && id.ok() != p.id {
                return Err(TailError::Moved);
            }
            let (lines, complete) = tail_plain(&mut f, sel, room).map_err(err)?;
            live_end = Some(LiveEnd { file: f, complete });
            (lines, complete)
        } else {
            match open_rotated(&p.path, p.gz) {
                Ok(Rotated::Plain(mut f)) => tail_plain(&mut f, sel, room).map_err(err)?,
                Ok(Rotated::Gz(r)) => match tail_of(r, sel, room) {
                    Ok(t) => t,
                    Err(e) if is_damaged(&e) => {
                        skipped.push(ReadError {
                            path: p.path.clone(),
                            source: e,
                        });
                        continue;
                    }
                    Err(e) => return Err(err(e)),
                },
                // Removed (beyond `keep`) since the listing.
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(err(e)),
            }
        };
        have += lines.len();
        chunks.push(lines);
    }
    skipped.reverse();
    undated.reverse();
    Ok(Tail {
        lines: chunks.into_iter().rev().flatten().collect(),
        live: live_end,
        skipped,
        undated,
    })
}

/// Whether a read error of a gzipped file means it is not valid gzip.
fn is_damaged(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::InvalidData | io::ErrorKind::InvalidInput | io::ErrorKind::UnexpectedEof
    )
}

/// The rotation a rotated file name stands for, as its plain `.log` name (`.gz` taken
/// off): names of one log sort in time order.
pub fn plain_name(name: &str) -> &str {
    name.strip_suffix(".gz").unwrap_or(name)
}

/// Reads a whole rotated file, decompressed, in chunks given to `each`, after its
/// first `skip` bytes.
pub fn read_rotated(
    path: &Path,
    gz: bool,
    mut skip: u64,
    mut each: impl FnMut(&[u8]) -> io::Result<()>,
) -> io::Result<()> {
    let mut r: Box<dyn Read> = match open_rotated(path, gz)? {
        Rotated::Plain(f) => Box::new(f),
        Rotated::Gz(r) => Box::new(r),
    };
    let mut buf = vec![0; 64 * 1024];
    loop {
        let n = match r.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        let cut = usize::try_from(skip).unwrap_or(usize::MAX).min(n);
        skip -= cut as u64;
        if cut < n {
            each(&buf[cut..n])?;
        }
    }
}

/// Whether `a` (from its start) and the decompressed `gz` hold the same bytes: a
/// followed file (open, perhaps already removed) and the rotated file it may have been
/// compressed to.
pub fn same_content(a: &mut File, gz: &Path) -> bool {
    use std::io::Seek;
    let Ok(f) = File::open(gz) else {
        return false;
    };
    if a.seek(io::SeekFrom::Start(0)).is_err() {
        return false;
    }
    let mut b = flate2::read::MultiGzDecoder::new(BufReader::new(f));
    let (mut x, mut y) = (vec![0; 64 * 1024], vec![0; 64 * 1024]);
    loop {
        let n = match read_full(&mut b, &mut y) {
            Ok(n) => n,
            Err(_) => return false,
        };
        match read_full(a, &mut x[..n.max(1)]) {
            Ok(m) if n == 0 => return m == 0,
            Ok(m) if m == n && x[..n] == y[..n] => {}
            _ => return false,
        }
    }
}

/// Reads until `buf` is full or the end; how much was read.
fn read_full(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// A rotated file, opened.
enum Rotated {
    Plain(File),
    Gz(Box<dyn BufRead>),
}

/// A rotated file, decompressed when gzipped. A `.log` compressed since the listing is
/// read from its `.gz`.
fn open_rotated(path: &Path, is_gz: bool) -> io::Result<Rotated> {
    let gz = |f: File| {
        Rotated::Gz(Box::new(BufReader::new(flate2::read::MultiGzDecoder::new(
            f,
        ))))
    };
    if is_gz {
        return File::open(path).map(gz);
    }
    match File::open(path) {
        Ok(f) => Ok(Rotated::Plain(f)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            let mut name = path.to_path_buf().into_os_string();
            name.push(".gz");
            File::open(PathBuf::from(name)).map(gz)
        }
        Err(e) => Err(e),
    }
}

/// How much a backward read of a plain file reads at a time.
const BLOCK: u64 = 64 * 1024;

/// [`tail_of`] a plain file. When only the last lines are wanted (no time filter), only
/// the end of the file is read: blocks from the end until they hold enough lines.
fn tail_plain(
    f: &mut File,
    sel: &Select,
    room: Option<usize>,
) -> io::Result<(VecDeque<Line>, u64)> {
    // Lines left out (by time, or of a stream not wanted) would not count.
    let filter =
        (sel.timestamps && !sel.range.is_all()) || (sel.holds != Holds::Raw && !sel.want.all());
    match room {
        Some(room) if !filter => tail_backwards(f, room, BLOCK, sel),
        _ => tail_of(BufReader::new(f), sel, room),
    }
}

/// The last `room` lines of `f`, reading `block` bytes at a time from its end. Each
/// block is read, scanned for newlines and copied once: linear in what is read, which
/// is no more than the blocks that hold the lines wanted (a long line is read whole).
fn tail_backwards(
    f: &mut (impl Read + io::Seek),
    room: usize,
    block: u64,
    sel: &Select,
) -> io::Result<(VecDeque<Line>, u64)> {
    let len = f.seek(io::SeekFrom::End(0))?;
    let mut start = len;
    // The blocks read, first one first.
    let mut blocks: VecDeque<Vec<u8>> = VecDeque::new();
    let mut newlines = 0usize;
    // One newline more than the lines wanted: the line cut at `start` is dropped.
    while start > 0 && newlines <= room {
        let step = start.min(block);
        start -= step;
        let mut head = vec![0; step as usize];
        f.seek(io::SeekFrom::Start(start))?;
        f.read_exact(&mut head)?;
        newlines += memchr::memchr_iter(b'\n', &head).count();
        blocks.push_front(head);
    }
    let mut skip = 0usize;
    if start > 0 {
        // Past the first newline (there is one: the loop stopped on enough of them).
        for b in &blocks {
            match memchr::memchr(b'\n', b) {
                Some(i) => {
                    skip += i + 1;
                    break;
                }
                None => skip += b.len(),
            }
        }
    }
    let total: usize = blocks.iter().map(Vec::len).sum();
    let mut buf = Vec::with_capacity(total - skip);
    let mut cut = skip;
    for b in blocks {
        let from = cut.min(b.len());
        cut -= from;
        buf.extend_from_slice(&b[from..]);
    }
    let (lines, complete) = tail_of(&buf[..], sel, Some(room))?;
    Ok((lines, start + skip as u64 + complete))
}

/// Where the complete lines of `file` end: following it from its end (none of its
/// lines were shown) starts there.
pub fn end_of_lines(file: &mut File) -> io::Result<u64> {
    let (_, complete) = tail_backwards(file, 0, BLOCK, &Select::default())?;
    Ok(complete)
}

/// Reads what is new in `f` from `pos` (for following).
pub fn read_from(f: &mut File, pos: u64) -> io::Result<Vec<u8>> {
    use std::io::Seek;
    f.seek(io::SeekFrom::Start(pos))?;
    let mut chunk = Vec::new();
    f.read_to_end(&mut chunk)?;
    Ok(chunk)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_shown_by_what_their_file_holds_and_the_streams_wanted() {
        let both = Want::default();
        let out = Want {
            out: true,
            err: false,
        };
        let err = Want {
            out: false,
            err: true,
        };
        let o = Holds::Only(Stream::Out);
        #[rustfmt::skip]
        let table: Vec<(Holds, Want, &str, Option<&str>)> = vec![
            (Holds::Tagged, both, "out hello", Some("hello")),
            (Holds::Tagged, both, "err boom", Some("boom")),
            (Holds::Tagged, out, "err boom", None),
            (Holds::Tagged, err, "err boom", Some("boom")),
            (Holds::Tagged, err, "out hello", None),
            // Untagged in a tagged file: shown only when both streams are.
            (Holds::Tagged, both, "stray", Some("stray")),
            (Holds::Tagged, out, "stray", None),
            // An older tend's stdout file: its lines as they are, "err " and all.
            (o, both, "err is just text here", Some("err is just text here")),
            (o, out, "x", Some("x")),
            (o, err, "x", None),
            // tend.log: as written, whatever is asked.
            (Holds::Raw, err, "out of memory", Some("out of memory")),
        ];
        for (holds, want, line, shown) in table {
            let got = shown_line(holds, &want, line.as_bytes());
            assert_eq!(
                got.as_deref()
                    .map(|b| String::from_utf8_lossy(b).into_owned()),
                shown.map(str::to_string),
                "{holds:?} {want:?} {line:?}"
            );
        }
    }
    use std::io::Write;
    use std::time::Duration;

    fn at(text: &str) -> SystemTime {
        humantime::parse_rfc3339(text).unwrap()
    }

    fn texts(lines: &[Line]) -> Vec<String> {
        lines
            .iter()
            .map(|l| String::from_utf8_lossy(&l.text).to_string())
            .collect()
    }

    #[test]
    fn pieces_run_oldest_first_with_their_spans() {
        let t = |h: u32, ext: &str| format!("o.out.20261130T0{h}0000.000Z.{ext}");
        let names: Vec<String> = vec![
            "o.out.log".into(),
            t(2, "log"),
            t(1, "log.gz"),
            t(3, "log.gz.tmp"),
            "o.err.log".into(),
        ];
        let dir = Path::new("/l");
        let m = at("2026-11-30T05:00:00Z");
        let got = pieces(dir, &names, "o.out", Some(m));
        let want = vec![
            Piece {
                path: dir.join(t(1, "log.gz")),
                gz: true,
                start: None,
                end: Some(at("2026-11-30T01:00:00Z")),
                live: false,
                id: None,
                born: None,
                holds: Holds::Tagged,
            },
            Piece {
                path: dir.join(t(2, "log")),
                gz: false,
                start: Some(at("2026-11-30T01:00:00Z")),
                end: Some(at("2026-11-30T02:00:00Z")),
                live: false,
                id: None,
                born: None,
                holds: Holds::Tagged,
            },
            Piece {
                path: dir.join("o.out.log"),
                gz: false,
                start: Some(at("2026-11-30T02:00:00Z")),
                end: Some(m),
                live: true,
                id: None,
                born: None,
                holds: Holds::Tagged,
            },
        ];
        assert_eq!(got, want);
        // No live file yet: rotations only.
        let got = pieces(dir, &names[1..], "o.out", None);
        assert_eq!(got.len(), 2);
        assert!(pieces(dir, &[], "o.out", None).is_empty());
    }

    #[test]
    fn tails_keep_the_last_lines_and_count_complete_bytes() {
        let sel = |last| Select {
            last,
            ..Select::default()
        };
        for (text, room, want, complete) in [
            ("a\nb\nc\n", Some(2), vec!["b", "c"], 6),
            ("a\nb\nc\n", None, vec!["a", "b", "c"], 6),
            ("a\nb\nc\n", Some(0), vec![], 6),
            ("a\nb\npart", Some(5), vec!["a", "b", "part"], 4),
            ("", Some(5), vec![], 0),
            ("\n\n", Some(5), vec!["", ""], 2),
        ] {
            let (lines, n) = tail_of(text.as_bytes(), &sel(room), room).unwrap();
            let lines: Vec<Line> = lines.into();
            assert_eq!(texts(&lines), want, "{text:?}");
            assert_eq!(n, complete, "{text:?}");
        }
    }

    #[test]
    fn timestamps_select_lines_and_unstamped_lines_follow_the_one_before() {
        let text = "\
early line without a stamp
2026-11-30T01:00:00.000Z one
2026-11-30T02:00:00.000Z two
  continued
2026-11-30T03:00:00.000Z three
";
        let sel = |since: &str, until: Option<&str>, timestamps| Select {
            last: None,
            range: Range {
                since: Some(at(since)),
                until: until.map(at),
            },
            timestamps,
            ..Select::default()
        };
        let run = |s: Select| texts(&Vec::from(tail_of(text.as_bytes(), &s, None).unwrap().0));
        assert_eq!(
            run(sel("2026-11-30T02:00:00Z", None, true)),
            [
                "2026-11-30T02:00:00.000Z two",
                "  continued",
                "2026-11-30T03:00:00.000Z three"
            ]
        );
        assert_eq!(
            run(sel(
                "2026-11-30T00:00:00Z",
                Some("2026-11-30T02:00:00Z"),
                true
            )),
            ["2026-11-30T01:00:00.000Z one"]
        );
        // Without timestamps the lines are not filtered (files are, by their times).
        assert_eq!(run(sel("2026-11-30T09:00:00Z", None, false)).len(), 5);
    }

    #[test]
    fn reading_backwards_finds_what_reading_forwards_does() {
        let texts = [
            "",
            "\n",
            "a",
            "a\n",
            "one\ntwo\nthree\n",
            "one\ntwo\nthree",
            "a very long first line that spans blocks\nb\n\n\nc\nlast without newline",
            "x\n\n\n\n\n\n",
        ];
        for text in texts {
            for room in 0..8 {
                for block in [1u64, 2, 3, 5, 64] {
                    let sel = Select::default();
                    let forward = tail_of(text.as_bytes(), &sel, Some(room)).unwrap();
                    let mut c = std::io::Cursor::new(text.as_bytes());
                    let backward = tail_backwards(&mut c, room, block, &sel).unwrap();
                    assert_eq!(backward, forward, "{text:?} room {room} block {block}");
                }
            }
        }
    }

    /// Counts the bytes allocated on each thread: how much a reader copies.
    struct Counting;

    thread_local! {
        static ALLOCATED: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
    }

    fn count(n: usize) {
        let _ = ALLOCATED.try_with(|a| a.set(a.get() + n as u64));
    }

    // SAFETY: every call is passed on to the system allocator unchanged.
    unsafe impl std::alloc::GlobalAlloc for Counting {
        unsafe fn alloc(&self, l: std::alloc::Layout) -> *mut u8 {
            count(l.size());
            // SAFETY: the caller's contract is the system allocator's.
            unsafe { std::alloc::System.alloc(l) }
        }
        unsafe fn alloc_zeroed(&self, l: std::alloc::Layout) -> *mut u8 {
            count(l.size());
            // SAFETY: as above.
            unsafe { std::alloc::System.alloc_zeroed(l) }
        }
        unsafe fn dealloc(&self, p: *mut u8, l: std::alloc::Layout) {
            // SAFETY: as above.
            unsafe { std::alloc::System.dealloc(p, l) }
        }
        unsafe fn realloc(&self, p: *mut u8, l: std::alloc::Layout, new: usize) -> *mut u8 {
            count(new);
            // SAFETY: as above.
            unsafe { std::alloc::System.realloc(p, l, new) }
        }
    }

    #[global_allocator]
    static COUNTING: Counting = Counting;

    #[test]
    fn reading_backwards_copies_a_long_line_a_few_times_not_once_per_block() {
        // One 1 MiB line read 4 KiB at a time: 256 blocks. Copying what was read so far
        // on each block would allocate ~128 MiB; reading linearly, a few copies of it.
        let len = 1 << 20;
        let mut text = vec![b'x'; len];
        text.push(b'\n');
        for room in [0, 50, 10_000_000] {
            let mut c = std::io::Cursor::new(&text[..]);
            let before = ALLOCATED.with(|a| a.get());
            let (lines, complete) = tail_backwards(&mut c, room, 4096, &Select::default()).unwrap();
            let copied = ALLOCATED.with(|a| a.get()) - before;
            assert_eq!(complete, len as u64 + 1);
            if room > 0 {
                assert_eq!(lines.len(), 1);
                assert_eq!(lines[0].text.len(), len);
            }
            assert!(
                copied < 8 * len as u64,
                "room {room}: {copied} bytes allocated"
            );
        }
    }

    /// A log directory: `(name, lines)` files, gzipped for `.gz` names.
    fn dir_with(files: &[(&str, &[&str])]) -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        for (name, lines) in files {
            let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
            let path = d.path().join(name);
            if name.ends_with(".gz") {
                let mut w = flate2::write::GzEncoder::new(
                    File::create(path).unwrap(),
                    flate2::Compression::fast(),
                );
                w.write_all(text.as_bytes()).unwrap();
                w.finish().unwrap();
            } else {
                std::fs::write(path, text).unwrap();
            }
        }
        d
    }

    #[test]
    fn last_lines_cross_rotations_in_order_and_read_only_what_is_needed() {
        let d = dir_with(&[
            ("o.out.20261130T010000.000Z.log.gz", &["1", "2"]),
            ("o.out.20261130T020000.000Z.log", &["3", "4"]),
            ("o.out.20261130T030000.000Z.log.gz.tmp", &["garbage"]),
            ("o.out.log", &["5", "6"]),
        ]);
        let p = list(d.path(), "o.out").unwrap();
        assert_eq!(p.len(), 3);
        for (last, want) in [
            (Some(1), vec!["6"]),
            (Some(3), vec!["4", "5", "6"]),
            (Some(100), vec!["1", "2", "3", "4", "5", "6"]),
            (None, vec!["1", "2", "3", "4", "5", "6"]),
        ] {
            let sel = Select {
                last,
                ..Select::default()
            };
            let tail = last_lines(&p, &sel).unwrap();
            assert_eq!(texts(&tail.lines), want, "{last:?}");
            assert_eq!(tail.live.map(|l| l.complete), Some(4), "{last:?}");
        }
        // A rotated .log compressed since the listing is read from its .gz.
        let plain = d.path().join("o.out.20261130T020000.000Z.log");
        let text = std::fs::read(&plain).unwrap();
        std::fs::remove_file(&plain).unwrap();
        let mut w = flate2::write::GzEncoder::new(
            File::create(d.path().join("o.out.20261130T020000.000Z.log.gz")).unwrap(),
            flate2::Compression::fast(),
        );
        w.write_all(&text).unwrap();
        w.finish().unwrap();
        let tail = last_lines(&p, &Select::default()).unwrap();
        assert_eq!(texts(&tail.lines), ["1", "2", "3", "4", "5", "6"]);
        // A damaged .gz is skipped and reported, the others read.
        let damaged = d.path().join("o.out.20261130T010000.000Z.log.gz");
        let mut bytes = std::fs::read(&damaged).unwrap();
        bytes.truncate(bytes.len() / 2);
        std::fs::write(&damaged, bytes).unwrap();
        let tail = last_lines(&p, &Select::default()).unwrap();
        assert_eq!(texts(&tail.lines), ["3", "4", "5", "6"]);
        assert_eq!(tail.skipped.len(), 1);
        assert_eq!(tail.skipped[0].path, damaged);
    }

    #[test]
    fn a_range_skips_files_outside_it() {
        let d = dir_with(&[
            ("o.out.20261130T010000.000Z.log", &["old"]),
            ("o.out.20261130T020000.000Z.log", &["middle"]),
            ("o.out.log", &["new"]),
        ]);
        let mut p = list(d.path(), "o.out").unwrap();
        p.last_mut().unwrap().end = Some(at("2026-11-30T03:00:00Z"));
        // The oldest file's start is its creation time: fixed here, not the clock's.
        p[0].born = Some(at("2026-11-30T00:30:00Z"));
        let sel = |since: &str, until: &str| Select {
            last: None,
            range: Range {
                since: Some(at(since)),
                until: Some(at(until)),
            },
            timestamps: false,
            ..Select::default()
        };
        let run = |s| texts(&last_lines(&p, &s).unwrap().lines);
        assert_eq!(
            run(sel("2026-11-30T01:30:00Z", "2026-11-30T01:40:00Z")),
            ["middle"]
        );
        assert_eq!(
            run(sel("2026-11-30T00:00:00Z", "2026-11-30T09:00:00Z")),
            ["old", "middle", "new"]
        );
        assert_eq!(
            run(sel("2026-11-30T02:00:00.001Z", "2026-11-30T09:00:00Z")),
            ["new"]
        );
        let late = at("2026-11-30T03:00:00Z") + Duration::from_millis(1);
        let s = Select {
            last: None,
            range: Range {
                since: Some(late),
                until: None,
            },
            timestamps: false,
            ..Select::default()
        };
        assert!(run(s).is_empty());
    }
    #[test]
    fn a_rotation_between_the_listing_and_the_reading_is_noticed() {
        let d = dir_with(&[("o.out.log", &["1", "2"])]);
        let listed = list(d.path(), "o.out").unwrap();
        let live = d.path().join("o.out.log");
        std::fs::rename(&live, d.path().join("o.out.20261130T010000.000Z.log")).unwrap();
        std::fs::write(&live, "3\n").unwrap();
        // Reading the new live file alone would skip the lines of the rotated one.
        assert!(matches!(
            last_lines(&listed, &Select::default()),
            Err(TailError::Moved)
        ));
        let again = list(d.path(), "o.out").unwrap();
        let tail = last_lines(&again, &Select::default()).unwrap();
        assert_eq!(texts(&tail.lines), ["1", "2", "3"]);
    }

    #[test]
    fn without_timestamps_a_file_spans_from_its_best_known_start() {
        let t = |h: u64| Some(SystemTime::UNIX_EPOCH + Duration::from_secs(h * 3600));
        let range = Range {
            since: t(10),
            until: t(20),
        };
        let piece = |start, born, end| Piece {
            path: PathBuf::new(),
            gz: false,
            start,
            born,
            end,
            live: false,
            id: None,
            holds: Holds::Tagged,
        };
        for (start, born, end, plain, stamped) in [
            // Known start: from it.
            (t(25), None, t(30), false, false),
            (t(15), None, t(30), true, true),
            // Unknown start: from its creation, else its end; with timestamps the lines
            // decide (any time before).
            (None, t(25), t(30), false, true),
            (None, t(15), t(30), true, true),
            (None, None, t(30), false, true),
            (None, None, t(15), true, true),
            (None, None, t(5), false, false),
        ] {
            for (timestamps, want) in [(false, plain), (true, stamped)] {
                let sel = Select {
                    last: None,
                    range,
                    timestamps,
                    ..Select::default()
                };
                assert_eq!(
                    wanted(&sel, &piece(start, born, end)),
                    want,
                    "{start:?} {born:?} {end:?} timestamps {timestamps}"
                );
            }
        }
    }
}
