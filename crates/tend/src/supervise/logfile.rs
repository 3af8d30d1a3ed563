//! The rotating log writer. The child's output arrives in chunks; the writer appends
//! them to `<name>.<stream>.log` and rotates by size and by time, always at a line
//! boundary, so a line never splits across two files. Rotated files are renamed with
//! a UTC timestamp (`orders.out.20261126T064928.123Z.log`), optionally gzipped on a
//! background thread, and the oldest beyond `keep` are removed.
//!
//! Writes never wait on anything but the kernel's page cache. When a write fails (a
//! full disk, an I/O error) the chunk is dropped and counted, never retried in a loop,
//! so the child is never blocked and nothing is lost silently.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::spec::RotateEvery;

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
    /// Rotated files to keep.
    pub keep: u32,
    /// Gzip rotated files.
    pub compress: bool,
    /// Prefix each line with an RFC 3339 timestamp.
    pub timestamps: bool,
}

/// Counters of what could not be written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Dropped {
    /// Lines (newlines) in dropped chunks.
    pub lines: u64,
    /// Bytes in dropped chunks.
    pub bytes: u64,
}

/// A log file that rotates itself.
pub struct RotatingFile {
    cfg: RotateConfig,
    file: Option<File>,
    size: u64,
    period: u64,
    at_line_start: bool,
    /// What could not be written.
    pub dropped: Dropped,
    /// The last write error, until reported.
    pub last_error: Option<io::Error>,
}

impl RotatingFile {
    /// Opens (appending to) the live file, creating the directory if needed.
    pub fn open(cfg: RotateConfig) -> io::Result<RotatingFile> {
        fs::create_dir_all(&cfg.dir)?;
        let mut w = RotatingFile {
            cfg,
            file: None,
            size: 0,
            period: 0,
            at_line_start: true,
            dropped: Dropped::default(),
            last_error: None,
        };
        w.reopen()?;
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
        if self.cfg.timestamps {
            let stamped = stamp_lines(chunk, self.at_line_start, &timestamp_now());
            self.write_raw(&stamped);
        } else {
            self.write_raw(chunk);
        }
    }

    /// Ends a partial last line with a newline.
    pub fn finish_line(&mut self) {
        if !self.at_line_start {
            self.write_raw(b"\n");
        }
    }

    fn write_raw(&mut self, mut chunk: &[u8]) {
        while !chunk.is_empty() {
            let hard_cap = self.cfg.max_size.saturating_mul(2);
            let due = (self.at_line_start && self.rotation_due(SystemTime::now()))
                || self.size >= hard_cap;
            if self.size > 0 && due {
                if let Err(e) = self.rotate() {
                    self.last_error = Some(e);
                }
            }
            let cut = cut_point(
                chunk,
                self.cfg.max_size.saturating_sub(self.size),
                hard_cap.saturating_sub(self.size),
            );
            let (now, rest) = chunk.split_at(cut);
            self.write_part(now);
            chunk = rest;
        }
    }

    fn rotation_due(&self, now: SystemTime) -> bool {
        self.size >= self.cfg.max_size || period_of(self.cfg.every, now) != self.period
    }

    fn write_part(&mut self, part: &[u8]) {
        if self.file.is_none() {
            if let Err(e) = self.reopen() {
                self.drop_part(part, e);
                return;
            }
        }
        let Some(f) = self.file.as_mut() else { return };
        let mut done = 0;
        while done < part.len() {
            match f.write(&part[done..]) {
                Ok(0) => {
                    self.drop_part(&part[done..], io::Error::from(io::ErrorKind::WriteZero));
                    break;
                }
                Ok(n) => {
                    done += n;
                    self.size += n as u64;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    self.drop_part(&part[done..], e);
                    break;
                }
            }
        }
        if done > 0 {
            self.at_line_start = part[done - 1] == b'\n';
        }
    }

    fn drop_part(&mut self, part: &[u8], e: io::Error) {
        // A line counts as lost when its newline is: every line is counted exactly
        // once, written or dropped, even when a chunk ends mid-line.
        self.dropped.lines += part.iter().filter(|&&b| b == b'\n').count() as u64;
        self.dropped.bytes += part.len() as u64;
        if let Some(&b) = part.last() {
            self.at_line_start = b == b'\n';
        }
        self.last_error = Some(e);
    }

    /// Renames the live file to its timestamped name and starts a new one.
    pub fn rotate(&mut self) -> io::Result<()> {
        self.file = None;
        let live = self.path();
        let rotated = unique_rotated_path(&self.cfg.dir, &self.cfg.stem, SystemTime::now());
        if let Err(e) = fs::rename(&live, &rotated) {
            // Windows: a reader that opened the live file without FILE_SHARE_DELETE
            // (PowerShell's `Get-Content -Wait`) blocks renaming it. tend is the only
            // writer, so copying it and truncating it in place loses nothing.
            fs::copy(&live, &rotated).map_err(|_| e)?;
            fs::OpenOptions::new()
                .write(true)
                .truncate(true)
                .open(&live)?;
        }
        self.reopen()?;
        let cfg = self.cfg.clone();
        if cfg.compress {
            // Compression can take a while on a large file: never in the write path.
            std::thread::Builder::new()
                .name("tend-gzip".into())
                .stack_size(1024 * 1024)
                .spawn(move || {
                    if gzip_file(&rotated).is_ok() {
                        let _ = fs::remove_file(&rotated);
                    }
                    prune(&cfg.dir, &cfg.stem, cfg.keep);
                })?;
        } else {
            prune(&cfg.dir, &cfg.stem, cfg.keep);
        }
        Ok(())
    }
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

/// Among `names` (a directory listing), the rotated files of `stem` to delete so that
/// `keep` remain: the oldest first.
pub fn files_to_prune(names: &[String], stem: &str, keep: u32) -> Vec<String> {
    let live = format!("{stem}.log");
    let prefix = format!("{stem}.");
    let mut rotated: Vec<&String> = names
        .iter()
        .filter(|n| n.starts_with(&prefix) && **n != live)
        .filter(|n| {
            let rest = &n[prefix.len()..];
            // <timestamp>.log or <timestamp>.log.gz, timestamp starting with a digit
            rest.starts_with(|c: char| c.is_ascii_digit())
                && (rest.ends_with(".log") || rest.ends_with(".log.gz"))
        })
        .collect();
    rotated.sort();
    let excess = rotated.len().saturating_sub(keep as usize);
    rotated.into_iter().take(excess).cloned().collect()
}

/// Deletes the oldest rotated files of `stem` beyond `keep`.
pub fn prune(dir: &Path, stem: &str, keep: u32) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    let names: Vec<String> = entries
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().into_string().ok())
        .collect();
    for n in files_to_prune(&names, stem, keep) {
        let _ = fs::remove_file(dir.join(n));
    }
}

fn gzip_file(path: &Path) -> io::Result<()> {
    let mut input = File::open(path)?;
    let gz = PathBuf::from(format!("{}.gz", path.display()));
    let tmp = PathBuf::from(format!("{}.gz.tmp", path.display()));
    let out = File::create(&tmp)?;
    let mut enc = flate2::write::GzEncoder::new(out, flate2::Compression::fast());
    io::copy(&mut input, &mut enc)?;
    enc.finish()?.sync_all()?;
    fs::rename(&tmp, &gz)
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
    fn prune_keeps_the_newest() {
        let names: Vec<String> = [
            "orders.out.log",
            "orders.out.20261126T010000.000Z.log.gz",
            "orders.out.20261126T020000.000Z.log",
            "orders.out.20261126T030000.000Z.log",
            "orders.err.20261126T000000.000Z.log",
            "orders.outside.log",
            "other.out.20261126T000000.000Z.log",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        assert_eq!(
            files_to_prune(&names, "orders.out", 1),
            [
                "orders.out.20261126T010000.000Z.log.gz",
                "orders.out.20261126T020000.000Z.log"
            ]
        );
        assert!(files_to_prune(&names, "orders.out", 5).is_empty());
        assert_eq!(files_to_prune(&names, "orders.out", 0).len(), 3);
    }

    fn cfg(dir: &Path, max: u64) -> RotateConfig {
        RotateConfig {
            dir: dir.to_path_buf(),
            stem: "t.out".into(),
            max_size: max,
            every: RotateEvery::Never,
            keep: 100,
            compress: false,
            timestamps: false,
        }
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
    }

    #[test]
    fn keep_limits_rotated_files() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = cfg(dir.path(), 1024);
        c.keep = 2;
        let mut w = RotatingFile::open(c).unwrap();
        for _ in 0..20 {
            w.write_chunk(&[b'y'; 1023]);
            w.write_chunk(b"\n");
        }
        let n = fs::read_dir(dir.path()).unwrap().count();
        assert_eq!(n, 3, "live file + 2 rotated");
    }

    #[test]
    fn compressed_rotations_are_valid_gzip() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = cfg(dir.path(), 1024);
        c.compress = true;
        let mut w = RotatingFile::open(c).unwrap();
        let line = format!("{}\n", "z".repeat(100));
        // 11 lines pass 1024 bytes; the 12th starts a new file.
        for _ in 0..12 {
            w.write_chunk(line.as_bytes());
        }
        w.rotate().unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        let gz = loop {
            let found: Vec<_> = fs::read_dir(dir.path())
                .unwrap()
                .map(|e| e.unwrap().path())
                .filter(|p| p.extension().is_some_and(|e| e == "gz"))
                .collect();
            if found.len() == 2 || std::time::Instant::now() > deadline {
                break found;
            }
            std::thread::yield_now();
        };
        assert_eq!(gz.len(), 2, "both rotations compressed");
        let mut text = String::new();
        for g in gz {
            let mut d = flate2::read::GzDecoder::new(File::open(g).unwrap());
            io::Read::read_to_string(&mut d, &mut text).unwrap();
        }
        assert_eq!(text, line.repeat(12));
    }
}
