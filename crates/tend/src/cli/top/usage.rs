//! What `tend top` measures of a service: the CPU and memory of its child's process
//! tree, from `/proc` (Linux; elsewhere there is no `/proc` to read and the columns
//! show `-`), and the last line of its log, from the tail of its newest log file.

use std::collections::HashMap;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::time::{Instant, SystemTime};

use crate::spec::LogTarget;
use crate::supervise::logfile::split_tag;
use crate::supervise::state::LogPlace;

/// One process, from `/proc/PID/stat`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Proc {
    pub pid: i32,
    pub ppid: i32,
    /// Its process group (a service's child leads its own).
    pub pgrp: i32,
    /// CPU time in clock ticks: its own (user and system) and that of its children it
    /// has reaped, so that a short-lived helper's time is not lost when it ends.
    pub ticks: u64,
}

/// Parses `/proc/PID/stat`. The command name (field 2) is in parentheses and may hold
/// spaces and parentheses itself: the fields after it are found from its last `)`.
pub fn parse_stat(text: &str) -> Option<Proc> {
    let (head, rest) = text.rsplit_once(')')?;
    let pid = head.split_once('(')?.0.trim().parse().ok()?;
    // After the name: state(3) ppid(4) pgrp(5) session tty tpgid flags minflt cminflt
    // majflt cmajflt utime(14) stime(15) cutime(16) cstime(17).
    let f: Vec<&str> = rest.split_whitespace().collect();
    let num = |i: usize| f.get(i - 3).and_then(|s| s.parse::<i64>().ok());
    let ticks = [14, 15, 16, 17]
        .iter()
        .map(|&i| num(i).map(|t| t.max(0) as u64))
        .sum::<Option<u64>>()?;
    Some(Proc {
        pid,
        ppid: num(4)? as i32,
        pgrp: num(5)? as i32,
        ticks,
    })
}

/// The processes of the tree of `root`: `root`, its descendants, and the members of
/// its process group (a daemonising helper that its parent left behind).
pub fn tree(procs: &[Proc], root: i32) -> Vec<i32> {
    let mut children: HashMap<i32, Vec<i32>> = HashMap::new();
    for p in procs {
        children.entry(p.ppid).or_default().push(p.pid);
    }
    let mut out: Vec<i32> = Vec::new();
    let mut todo: Vec<i32> = procs
        .iter()
        .filter(|p| p.pid == root || p.pgrp == root)
        .map(|p| p.pid)
        .collect();
    while let Some(pid) = todo.pop() {
        if out.contains(&pid) {
            continue;
        }
        out.push(pid);
        todo.extend(children.get(&pid).into_iter().flatten());
    }
    out.sort_unstable();
    out
}

/// Linux's clock ticks per second for `/proc` times (`USER_HZ`: 100 on every
/// architecture Linux runs on today).
const TICKS_PER_SEC: f64 = 100.0;

/// The share of one CPU that `ticks` of CPU time over `secs` seconds are, in percent.
pub fn cpu_percent(ticks: u64, secs: f64) -> Option<f64> {
    (secs > 0.0).then(|| ticks as f64 / TICKS_PER_SEC / secs * 100.0)
}

/// `VmRSS` of `/proc/PID/status`, in bytes.
pub fn parse_rss(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line["VmRSS:".len()..]
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kib * 1024)
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
#[derive(Default)]
pub struct Sampler {
    last: HashMap<i32, (Instant, u64)>,
    proc_dir: Option<PathBuf>,
}

impl Sampler {
    /// A sampler of the processes in `/proc`.
    pub fn new() -> Sampler {
        Sampler {
            last: HashMap::new(),
            proc_dir: Some(PathBuf::from("/proc")),
        }
    }

    /// The usage of the trees of `roots` (children's pids); an empty map where there is
    /// no `/proc`.
    pub fn sample(&mut self, roots: &[i32]) -> HashMap<i32, Usage> {
        let mut out = HashMap::new();
        let Some(dir) = self.proc_dir.clone().filter(|_| !roots.is_empty()) else {
            self.last.clear();
            return out;
        };
        let procs = all_procs(&dir);
        let now = Instant::now();
        let mut seen = HashMap::new();
        for &root in roots {
            if !procs.iter().any(|p| p.pid == root) {
                continue;
            }
            let members = tree(&procs, root);
            let ticks: u64 = procs
                .iter()
                .filter(|p| members.contains(&p.pid))
                .map(|p| p.ticks)
                .sum();
            let rss = members
                .iter()
                .filter_map(|pid| std::fs::read_to_string(dir.join(format!("{pid}/status"))).ok())
                .filter_map(|s| parse_rss(&s))
                .sum::<u64>();
            let cpu = self.last.get(&root).and_then(|(at, before)| {
                cpu_percent(
                    ticks.saturating_sub(*before),
                    now.duration_since(*at).as_secs_f64(),
                )
            });
            seen.insert(root, (now, ticks));
            out.insert(
                root,
                Usage {
                    cpu,
                    rss: Some(rss),
                },
            );
        }
        self.last = seen;
        out
    }
}

/// Every process in `dir` (`/proc`); none where it cannot be read.
fn all_procs(dir: &Path) -> Vec<Proc> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok())
        .filter(|e| {
            e.file_name()
                .to_str()
                .is_some_and(|n| n.parse::<i32>().is_ok())
        })
        .filter_map(|e| std::fs::read_to_string(e.path().join("stat")).ok())
        .filter_map(|s| parse_stat(&s))
        .collect()
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
    fn stat_lines_parse_whatever_the_command_name_holds() {
        let stat = |name: &str| {
            format!("4242 ({name}) S 4200 4242 4242 0 -1 4194560 100 0 0 0 250 50 7 3 20 0 1 0 12345 1000000 200 18446744073709551615")
        };
        let want = Some(Proc {
            pid: 4242,
            ppid: 4200,
            pgrp: 4242,
            ticks: 250 + 50 + 7 + 3,
        });
        for name in ["api", "a b", "x) S 1 1 1 (y", ")", ""] {
            assert_eq!(parse_stat(&stat(name)), want, "{name:?}");
        }
        assert_eq!(parse_stat("4242 (api) S 4200"), None);
        assert_eq!(parse_stat("garbage"), None);
    }

    #[test]
    fn a_tree_is_the_descendants_and_the_process_group() {
        let p = |pid, ppid, pgrp| Proc {
            pid,
            ppid,
            pgrp,
            ticks: 0,
        };
        let procs = [
            p(1, 0, 1),
            p(10, 1, 10),  // the supervisor
            p(11, 10, 11), // the child, leading its group
            p(12, 11, 11), // its child
            p(13, 12, 13), // a grandchild in a group of its own
            p(14, 1, 11),  // left behind (reparented), still in the group
            p(15, 14, 15), // ... and its child
            p(20, 10, 20), // another service
            p(21, 20, 20),
        ];
        assert_eq!(tree(&procs, 11), [11, 12, 13, 14, 15]);
        assert_eq!(tree(&procs, 20), [20, 21]);
        assert_eq!(tree(&procs, 99), Vec::<i32>::new());
    }

    #[test]
    fn cpu_is_a_share_of_one_cpu() {
        assert_eq!(cpu_percent(100, 1.0), Some(100.0));
        assert_eq!(cpu_percent(25, 0.5), Some(50.0));
        assert_eq!(cpu_percent(400, 2.0), Some(200.0));
        assert_eq!(cpu_percent(1, 0.0), None);
    }

    #[test]
    fn rss_is_read_in_kib() {
        let status = "Name:\tapi\nVmPeak:\t  9000 kB\nVmRSS:\t    1536 kB\nThreads:\t1\n";
        assert_eq!(parse_rss(status), Some(1536 * 1024));
        assert_eq!(parse_rss("Name:\tkthreadd\n"), None);
    }

    /// This test's own process: its tree holds it, its memory is counted, and CPU
    /// spent between two samples shows. (Linux only: elsewhere there is no /proc and
    /// nothing is measured.)
    #[test]
    fn a_live_process_is_measured() {
        let me = std::process::id() as i32;
        let mut s = Sampler::new();
        let first = s.sample(&[me]);
        if !Path::new("/proc/self/stat").exists() {
            assert!(first.is_empty());
            return;
        }
        let u = first[&me];
        assert_eq!(u.cpu, None, "no CPU share before a second sample");
        assert!(u.rss.unwrap() > 1024 * 1024, "{u:?}");
        // Burn a few clock ticks of CPU time (however long that takes on a busy
        // machine): a share above zero.
        let ticks = || {
            parse_stat(&std::fs::read_to_string("/proc/self/stat").unwrap())
                .unwrap()
                .ticks
        };
        let start = ticks();
        let mut x = 0u64;
        while ticks() < start + 5 {
            for _ in 0..10_000 {
                x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(7));
            }
        }
        let u = s.sample(&[me])[&me];
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
