//! What `tend top` measures of a service: the CPU and memory of its child's process
//! tree, as the metrics measure them (`sys::tree_usage`: on Linux the child's process
//! group in `/proc`; where it cannot be measured the columns show `-`), and the last
//! line of its log, from the end of its log file.

use std::collections::HashMap;
use std::io::{Read, Seek, SeekFrom};
use std::time::{Instant, SystemTime};

use crate::spec::LogTarget;
use crate::supervise::logfile::split_tag;
use crate::supervise::state::LogPlace;
use crate::supervise::sys::{self, TreeUsage};

/// The share of one CPU that `cpu_secs` of CPU time over `secs` seconds are, in
/// percent.
pub fn cpu_percent(cpu_secs: f64, secs: f64) -> Option<f64> {
    (secs > 0.0).then(|| cpu_secs.max(0.0) / secs * 100.0)
}

/// What was measured of one process tree.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Usage {
    /// Percent of one CPU since the last sample (none at the first).
    pub cpu: Option<f64>,
    /// Resident memory of the tree, in bytes.
    pub rss: Option<u64>,
}

/// Samples process trees, remembering each root's CPU time for the next sample.
pub struct Sampler {
    last: HashMap<i32, (Instant, f64)>,
    /// Reads the trees of the given children (`sys::tree_usage`).
    read: fn(&[i32]) -> Vec<Option<TreeUsage>>,
}

impl Sampler {
    /// A sampler of the system's processes.
    pub fn new() -> Sampler {
        Sampler {
            last: HashMap::new(),
            read: sys::tree_usage,
        }
    }

    /// The usage of the trees of `roots` (children's pids); none for a tree that
    /// cannot be measured.
    pub fn sample(&mut self, roots: &[i32]) -> HashMap<i32, Usage> {
        let usages = if roots.is_empty() {
            Vec::new()
        } else {
            (self.read)(roots)
        };
        self.take(roots, &usages, Instant::now())
    }

    /// Takes in the reading `usages` of the trees of `roots` made at `now`: the CPU
    /// share of a root is what its tree's CPU time grew by since the last reading of
    /// the same root, over the time between them.
    fn take(
        &mut self,
        roots: &[i32],
        usages: &[Option<TreeUsage>],
        now: Instant,
    ) -> HashMap<i32, Usage> {
        let mut out = HashMap::new();
        let mut seen = HashMap::new();
        for (&root, usage) in roots.iter().zip(usages) {
            let Some(u) = usage else {
                continue;
            };
            let cpu = self.last.get(&root).and_then(|(at, before)| {
                cpu_percent(
                    u.cpu_seconds - before,
                    now.saturating_duration_since(*at).as_secs_f64(),
                )
            });
            seen.insert(root, (now, u.cpu_seconds));
            out.insert(
                root,
                Usage {
                    cpu,
                    rss: Some(u.resident_bytes),
                },
            );
        }
        self.last = seen;
        out
    }
}

/// How much of a log file's end is read for its last line.
const TAIL: u64 = 4096;

/// The last line of the service's log in `place`: of its combined `NAME.log` (tagged
/// with the streams), or, while there is none, of the newer of the separate
/// `NAME.out.log` / `NAME.err.log` an older tend wrote (untagged); none when it writes
/// no files or they are empty.
pub fn last_log_line(name: &str, place: &LogPlace) -> Option<String> {
    if place.stdout != LogTarget::File && place.stderr != LogTarget::File {
        return None;
    }
    let combined = place.dir.join(format!("{name}.log"));
    let (path, tagged) = if combined.exists() {
        (combined, true)
    } else {
        let mut legacy = Vec::new();
        if place.stdout == LogTarget::File {
            legacy.push(format!("{name}.out.log"));
        }
        if place.stderr == LogTarget::File {
            legacy.push(format!("{name}.err.log"));
        }
        let newest = legacy
            .iter()
            .map(|f| place.dir.join(f))
            .filter_map(|p| {
                let m = std::fs::metadata(&p).ok()?;
                (m.len() > 0).then(|| (m.modified().unwrap_or(SystemTime::UNIX_EPOCH), p))
            })
            .max()?
            .1;
        (newest, false)
    };
    let mut f = std::fs::File::open(path).ok()?;
    let len = f.metadata().ok()?.len();
    f.seek(SeekFrom::Start(len.saturating_sub(TAIL))).ok()?;
    let mut tail = Vec::new();
    f.take(TAIL).read_to_end(&mut tail).ok()?;
    last_line(&tail, len > TAIL, tagged)
}

/// The last line of `tail` (the end of a log; `cut`: its first line may be the end of
/// a longer one), without its timestamp (`log.timestamps`) or, when `tagged` (a
/// combined log), its stream tag (`out ` / `err `, one, as [`split_tag`] reads it),
/// control characters made visible. An unfinished last line is shown when it is all
/// there is.
pub fn last_line(tail: &[u8], cut: bool, tagged: bool) -> Option<String> {
    let mut lines: Vec<&[u8]> = tail.split(|&b| b == b'\n').collect();
    if cut && lines.len() > 1 {
        lines.remove(0);
    }
    let mut complete = lines.clone();
    // After the last newline: the line being written (empty when there is none).
    complete.pop();
    let pick = |ls: &[&[u8]]| {
        ls.iter()
            .rev()
            .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
            .find(|l| !l.iter().all(u8::is_ascii_whitespace))
            .map(|l| l.to_vec())
    };
    let line = pick(&complete).or_else(|| pick(&lines))?;
    let line = if tagged {
        split_tag(&line).1.into_owned()
    } else {
        line
    };
    let mut text: &[u8] = &line;
    // "2026-11-26T06:49:28.123Z " (see logfile::timestamp_now).
    if text.len() >= 25 && text[23] == b'Z' && text[24] == b' ' && text[10] == b'T' {
        text = &text[25..];
    }
    Some(visible(&String::from_utf8_lossy(text)))
}

/// `s` with tabs as spaces and other control characters (an escape sequence would
/// reach the terminal) as `?`.
pub fn visible(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '\t' => ' ',
            c if c.is_control() => '?',
            c => c,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_is_a_share_of_one_cpu() {
        assert_eq!(cpu_percent(1.0, 1.0), Some(100.0));
        assert_eq!(cpu_percent(0.25, 0.5), Some(50.0));
        assert_eq!(cpu_percent(4.0, 2.0), Some(200.0));
        assert_eq!(
            cpu_percent(-1.0, 1.0),
            Some(0.0),
            "a tree whose time shrank"
        );
        assert_eq!(cpu_percent(1.0, 0.0), None);
    }

    /// The share comes from two readings of the same child: none at the first, none
    /// for a new child (another pid), none for a tree that could not be measured.
    #[test]
    fn the_cpu_share_is_the_growth_between_two_readings() {
        let mut s = Sampler::new();
        let t0 = Instant::now();
        let at = |ms| t0 + std::time::Duration::from_millis(ms);
        let u = |cpu_seconds, resident_bytes| {
            Some(TreeUsage {
                cpu_seconds,
                resident_bytes,
            })
        };
        let first = s.take(&[10, 20], &[u(5.0, 1 << 20), None], at(0));
        assert_eq!(
            first[&10],
            Usage {
                cpu: None,
                rss: Some(1 << 20)
            }
        );
        assert!(!first.contains_key(&20));
        let second = s.take(&[10, 20], &[u(5.5, 2 << 20), u(1.0, 7)], at(1000));
        assert_eq!(second[&10].cpu, Some(50.0));
        assert_eq!(second[&10].rss, Some(2 << 20));
        assert_eq!(second[&20].cpu, None, "first reading of 20");
        // 10 restarted as 11: a new tree, no share yet; 20 used nothing.
        let third = s.take(&[11, 20], &[u(0.1, 1), u(1.0, 7)], at(2000));
        assert_eq!(third[&11].cpu, None);
        assert_eq!(third[&20].cpu, Some(0.0));
    }

    /// This test's own process group, as tend top reads it (sys::tree_usage, what the
    /// metrics read): its memory is counted, and CPU spent between two samples shows.
    /// Where the system cannot be read (no /proc), nothing is measured.
    #[cfg(unix)]
    #[test]
    fn a_live_process_group_is_measured() {
        let group = nix::unistd::getpgrp().as_raw();
        let mut s = Sampler::new();
        let first = s.sample(&[group]);
        if !std::path::Path::new("/proc/self/stat").exists() {
            assert!(first.is_empty());
            return;
        }
        let u = first[&group];
        assert_eq!(u.cpu, None, "no CPU share before a second sample");
        assert!(u.rss.unwrap() > 1024 * 1024, "{u:?}");
        // The same figures as the metrics' reading.
        let direct = sys::tree_usage(&[group])[0].unwrap();
        assert!(direct.resident_bytes > 1024 * 1024);
        // Burn CPU time (however long that takes on a busy machine): a share above
        // zero.
        let cpu = || sys::tree_usage(&[group])[0].unwrap().cpu_seconds;
        let start = cpu();
        let mut x = 0u64;
        while cpu() < start + 0.05 {
            for _ in 0..10_000 {
                x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(7));
            }
        }
        let u = s.sample(&[group])[&group];
        assert!(u.cpu.unwrap() > 0.0, "{u:?}");
        // A pid that does not exist: nothing.
        assert!(s.sample(&[i32::MAX]).is_empty());
    }

    #[test]
    fn the_last_line_without_stamp_or_tag_and_made_visible() {
        for (tail, cut, shown) in [
            (&b"one\ntwo\n"[..], false, Some("two")),
            (b"one\ntwo\n\n  \n", false, Some("two")),
            (b"one\ntwo\nthree (unfinished)", false, Some("two")),
            (b"only unfinished", false, Some("only unfinished")),
            (b"end of a cut line\nwhole\n", true, Some("whole")),
            (b"end of a cut line", true, Some("end of a cut line")),
            (
                b"2026-11-26T06:49:28.123Z out listening\n",
                false,
                Some("listening"),
            ),
            (
                b"2026-11-26T06:49:28.123Z out shutting down\r\n",
                false,
                Some("shutting down"),
            ),
            (b"err panic: boom\n", false, Some("panic: boom")),
            // One tag, the stream's: the text keeps what follows it.
            (b"out err retrying\n", false, Some("err retrying")),
            (b"err out of memory\n", false, Some("out of memory")),
            // A line without a tag (written by hand) is shown whole.
            (b"of memory\n", false, Some("of memory")),
            (
                b"out \x1b[31mred\x1b[0m\tx\n",
                false,
                Some("?[31mred?[0m x"),
            ),
            (b"out caf\xc3\xa9 \xff\n", false, Some("caf\u{e9} \u{fffd}")),
            (b"", false, None),
            (b"\n\n", false, None),
        ] {
            assert_eq!(
                last_line(tail, cut, true).as_deref(),
                shown,
                "{:?}",
                String::from_utf8_lossy(tail)
            );
        }
        // The separate files of an older tend hold no tags: a line is the text.
        for (tail, shown) in [
            (&b"out of memory\n"[..], "out of memory"),
            (b"err on line 3\n", "err on line 3"),
            (b"2026-11-26T06:49:28.123Z out of memory\n", "out of memory"),
        ] {
            assert_eq!(last_line(tail, false, false).as_deref(), Some(shown));
        }
    }

    #[test]
    fn the_newest_live_log_file_gives_the_last_line() {
        let dir = tempfile::tempdir().unwrap();
        let place = |stdout, stderr| LogPlace {
            dir: dir.path().to_path_buf(),
            stdout,
            stderr,
            timestamps: false,
        };
        let both = place(LogTarget::File, LogTarget::File);
        assert_eq!(last_log_line("api", &both), None, "no files yet");
        std::fs::write(dir.path().join("api.out.log"), "started\nserving\n").unwrap();
        assert_eq!(last_log_line("api", &both).as_deref(), Some("serving"));
        // A newer stderr file.
        let err = dir.path().join("api.err.log");
        std::fs::write(&err, "warning: slow\n").unwrap();
        let f = std::fs::File::options().write(true).open(&err).unwrap();
        f.set_modified(SystemTime::now() + std::time::Duration::from_secs(5))
            .unwrap();
        assert_eq!(
            last_log_line("api", &both).as_deref(),
            Some("warning: slow")
        );
        // stderr not to a file: its old file is not looked at.
        assert_eq!(
            last_log_line("api", &place(LogTarget::File, LogTarget::Inherit)).as_deref(),
            Some("serving")
        );
        // Nothing to files: nothing.
        assert_eq!(
            last_log_line("api", &place(LogTarget::Inherit, LogTarget::Null)),
            None
        );
        // A long file: only its end is read.
        let long = format!("{}\nlast\n", "x".repeat(100_000));
        std::fs::write(dir.path().join("api.out.log"), long).unwrap();
        std::fs::remove_file(&err).unwrap();
        assert_eq!(last_log_line("api", &both).as_deref(), Some("last"));
        // The separate files are untagged: "out of memory" is what was written.
        std::fs::write(dir.path().join("api.out.log"), "out of memory\n").unwrap();
        assert_eq!(
            last_log_line("api", &both).as_deref(),
            Some("out of memory")
        );
        // A combined log is the log, its one tag taken off; the older files are not
        // looked at next to it.
        std::fs::write(dir.path().join("api.log"), "out err retrying\n").unwrap();
        let old = std::fs::File::options()
            .write(true)
            .open(dir.path().join("api.out.log"))
            .unwrap();
        old.set_modified(SystemTime::now() + std::time::Duration::from_secs(60))
            .unwrap();
        assert_eq!(last_log_line("api", &both).as_deref(), Some("err retrying"));
    }
}
