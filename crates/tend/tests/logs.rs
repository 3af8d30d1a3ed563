//! `tend logs` end to end: finding a `tend run` service's files through its state file
//! and spec, both streams in the order tend received them, reading across rotated and
//! gzipped files, following a file that appears later, time ranges, several services
//! at once, the separate files of an older tend, retention and syslog.
#![cfg(unix)]

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::*;

const SECS: Duration = Duration::from_secs(1);

/// Runs `spec` with `tend run` until the service ends (its policy is `never`).
fn run_once(s: &Scratch, spec: &Path) {
    let out = s.spawn(&["run", spec.to_str().unwrap()]).wait(60 * SECS);
    assert_eq!(code(&out), 0, "tend run {}", spec.display());
}

/// `tend ARGS` to completion: (exit code, stdout, stderr).
fn logs(s: &Scratch, args: &[&str]) -> (i32, String, String) {
    let out = s.tend(args).output().unwrap();
    (
        code(&out),
        String::from_utf8_lossy(&out.stdout).to_string(),
        stderr(&out),
    )
}

/// A spec in its own folder `proj/` whose logs go to `proj/<log_dir>` (relative to the
/// spec, which is not where tend runs: the scratch directory).
fn project_spec(s: &Scratch, name: &str, args: &[&str], log: &str) -> PathBuf {
    std::fs::create_dir_all(s.path("proj")).unwrap();
    s.spec(
        &format!("proj/{name}.toml"),
        &fixture_spec(
            name,
            args,
            &format!("[restart]\npolicy = \"never\"\n[log]\n{log}\n"),
        ),
    )
}

#[test]
fn every_line_across_rotated_and_gzipped_files_in_order_from_the_specs_log_dir() {
    let s = Scratch::new();
    let n = 3000;
    let spec = project_spec(
        &s,
        "flood",
        &["--flood", &n.to_string(), "--line-bytes", "40"],
        "dir = \"mylogs\"\nmax_size = \"4KiB\"\nkeep = 1000\ncompress = true",
    );
    run_once(&s, &spec);
    let dir = s.path("proj/mylogs");
    let names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    let gz = names.iter().filter(|n| n.ends_with(".log.gz")).count();
    assert!(gz >= 10, "about 120KB at 4KiB rotate many times: {names:?}");
    assert!(
        names.iter().any(|n| n == "flood.log"),
        "the live file: {names:?}"
    );
    let (code, out, err) = logs(&s, &["logs", "-n", "1000000", "flood"]);
    assert_eq!(code, 0, "{err}");
    let got: Vec<u64> = out
        .lines()
        .map(|l| {
            l[1..11]
                .parse()
                .unwrap_or_else(|_| panic!("a flood line: {l:?}"))
        })
        .collect();
    let want: Vec<u64> = (1..=n).collect();
    assert_eq!(got.len(), want.len(), "every line, once: {err}");
    assert_eq!(got, want, "in order");
    // -n counts across files too.
    let (_, out, _) = logs(&s, &["logs", "-n", "250", "flood"]);
    let got: Vec<&str> = out.lines().collect();
    assert_eq!(got.len(), 250);
    assert!(
        got[0].starts_with(&format!("L{:010}", n - 249)),
        "{}",
        got[0]
    );
}

#[test]
fn an_unknown_service_is_named_as_such() {
    let s = Scratch::new();
    let spec = project_spec(&s, "api", &["--print", "hi"], "dir = \"l\"");
    run_once(&s, &spec);
    let (code, out, err) = logs(&s, &["logs", "apj"]);
    assert_eq!(code, 1, "{err}");
    assert!(out.is_empty(), "{out}");
    let state = s.state_dir();
    assert!(
        err.starts_with(&format!(
            "error: no service `apj`: not installed, and no state file in {}\n",
            state.display()
        )),
        "{err}"
    );
    assert!(err.contains("did you mean `api`?"), "{err}");
    assert!(!err.contains("os error"), "{err}");
    let (code, _, err) = logs(&s, &["logs", "zzzzzzzz"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("known services: api"), "{err}");
    // Forgotten: its logs are kept, and the help says how to read them.
    let (code, _, err) = logs(&s, &["forget", "api"]);
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = logs(&s, &["logs", "api"]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("--log-dir DIR reads the log files in DIR"),
        "{err}"
    );
    let (code, out, err) = logs(&s, &["logs", "--log-dir", "proj/l", "api"]);
    assert_eq!((code, out.as_str()), (0, "hi\n"), "{err}");
}

#[test]
fn the_known_services_are_shown_and_the_unknown_ones_named() {
    let s = Scratch::new();
    let spec = project_spec(&s, "api", &["--print", "hi"], "dir = \"l\"");
    run_once(&s, &spec);
    let (code, out, err) = logs(&s, &["logs", "api", "nosuch", "api"]);
    assert_eq!(code, 1, "{err}");
    // api once (a name given twice is shown once, without a prefix: one service).
    assert_eq!(out, "hi\n", "{err}");
    assert!(
        err.starts_with("error: no service `nosuch`: not installed"),
        "{err}"
    );
    assert_eq!(err.matches("error:").count(), 1, "{err}");
    let (code, out, err) = logs(&s, &["logs", "api", "api"]);
    assert_eq!((code, out.as_str()), (0, "hi\n"), "{err}");
}

/// Lines of a child's pipe, as they come.
fn lines_of(r: impl std::io::Read + Send + 'static) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for l in BufReader::new(r).lines() {
            if tx.send(l.unwrap_or_default()).is_err() {
                break;
            }
        }
    });
    rx
}

/// Waits (bounded) for a line containing `want`; the lines seen.
fn expect_line(rx: &mpsc::Receiver<String>, want: &str, what: &str) -> Vec<String> {
    let deadline = Instant::now() + 30 * SECS;
    let mut seen = Vec::new();
    while !seen.iter().any(|l: &String| l.contains(want)) {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(l) => seen.push(l),
            Err(_) => panic!("no line with {want:?} from {what}; saw {seen:?}"),
        }
    }
    seen
}

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn follow_waits_for_a_log_file_then_prints_its_lines() {
    let s = Scratch::new();
    let spec = project_spec(&s, "late", &["--print", "first run"], "dir = \"l\"");
    run_once(&s, &spec);
    // The service is known (its state file), its log gone: as before its first line.
    std::fs::remove_dir_all(s.path("proj/l")).unwrap();
    let mut child = s
        .tend(&["logs", "-f", "late"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let out = lines_of(child.stdout.take().unwrap());
    let err = lines_of(child.stderr.take().unwrap());
    let child = Killed(child);
    let seen = expect_line(&err, "note: waiting for", "tend logs -f");
    assert!(
        seen.iter()
            .any(|l| l.contains(&s.path("proj/l/late.log").display().to_string())),
        "names the file it waits for: {seen:?}"
    );
    std::fs::write(
        &spec,
        fixture_spec(
            "late",
            &["--print", "second run"],
            "[restart]\npolicy = \"never\"\n[log]\ndir = \"l\"\n",
        ),
    )
    .unwrap();
    run_once(&s, &spec);
    expect_line(&out, "second run", "tend logs -f");
    drop(child);
    let more: Vec<String> = err.try_iter().collect();
    assert!(
        !more.iter().any(|l| l.contains("waiting for")),
        "says it waits once: {more:?}"
    );
}

/// A known service (run once, with timestamps) whose log files are then replaced by
/// `files`: `(file name, lines)` in its log folder `proj/l`.
fn stamped_service(s: &Scratch, name: &str, files: &[(&str, &[&str])]) {
    let spec = project_spec(
        s,
        name,
        &["--print", "run"],
        "dir = \"l\"\ntimestamps = true",
    );
    run_once(s, &spec);
    let dir = s.path("proj/l");
    for e in std::fs::read_dir(&dir).unwrap() {
        let e = e.unwrap();
        if e.file_name()
            .to_string_lossy()
            .starts_with(&format!("{name}."))
        {
            std::fs::remove_file(e.path()).unwrap();
        }
    }
    for (file, lines) in files {
        let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
        std::fs::write(dir.join(file), text).unwrap();
    }
}

#[test]
fn since_and_until_select_lines_by_their_timestamps() {
    let s = Scratch::new();
    stamped_service(
        &s,
        "api",
        &[
            (
                "api.out.20261129T100000.000Z.log",
                &[
                    "2026-11-29T09:58:00.000Z before",
                    "2026-11-29T09:59:59.999Z just before",
                ],
            ),
            (
                "api.out.log",
                &[
                    "2026-11-29T10:00:00.000Z at ten",
                    "2026-11-29T10:30:00.000Z half past",
                    "2026-11-29T11:00:00.000Z at eleven",
                ],
            ),
        ],
    );
    let (code, out, err) = logs(
        &s,
        &[
            "logs",
            "--since",
            "2026-11-29 09:59",
            "--until",
            "2026-11-29T11:00:00Z",
            "api",
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        [
            "2026-11-29T09:59:59.999Z just before",
            "2026-11-29T10:00:00.000Z at ten",
            "2026-11-29T10:30:00.000Z half past",
        ]
    );
    // Offsets count; -n takes the last of the range.
    let (_, out, _) = logs(
        &s,
        &[
            "logs",
            "--since",
            "2026-11-29T11:00:00+01:00",
            "-n",
            "1",
            "api",
        ],
    );
    assert_eq!(out, "2026-11-29T11:00:00.000Z at eleven\n");
    let (code, _, err) = logs(&s, &["logs", "--since", "last tuesday", "api"]);
    assert_eq!(code, 2);
    assert!(
        err.starts_with("error: --since: `last tuesday` is not a time"),
        "{err}"
    );
}

#[test]
fn several_services_merge_by_time_with_their_names() {
    let s = Scratch::new();
    stamped_service(
        &s,
        "api",
        &[(
            "api.out.log",
            &["2026-11-29T10:00:01.000Z a1", "2026-11-29T10:00:03.000Z a3"],
        )],
    );
    stamped_service(
        &s,
        "db",
        &[
            (
                "db.out.20261129T100002.500Z.log",
                &["2026-11-29T10:00:02.000Z d2"],
            ),
            ("db.out.log", &["2026-11-29T10:00:04.000Z d4"]),
        ],
    );
    let (code, out, err) = logs(&s, &["logs", "api", "db"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        [
            "api | 2026-11-29T10:00:01.000Z a1",
            "db  | 2026-11-29T10:00:02.000Z d2",
            "api | 2026-11-29T10:00:03.000Z a3",
            "db  | 2026-11-29T10:00:04.000Z d4",
        ]
    );
    let (_, out, _) = logs(&s, &["logs", "-n", "2", "db", "api"]);
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        [
            "api | 2026-11-29T10:00:03.000Z a3",
            "db  | 2026-11-29T10:00:04.000Z d4",
        ]
    );
}

/// The state file of service `name`.
fn state_path(s: &Scratch, name: &str) -> PathBuf {
    s.state_dir().join(format!("{name}.json"))
}

#[test]
fn a_spec_that_moved_is_said_and_the_default_log_dir_is_read() {
    let s = Scratch::new();
    // No log.dir: the files are in the default log directory (TEND_LOG_DIR).
    let spec = project_spec(&s, "mv", &["--print", "still here"], "");
    run_once(&s, &spec);
    std::fs::rename(&spec, s.path("proj/elsewhere.toml")).unwrap();
    // The state file says where the logs are: the spec is not needed.
    let (code, out, err) = logs(&s, &["logs", "mv"]);
    assert_eq!((code, out.as_str(), err.as_str()), (0, "still here\n", ""));
    // The state file of an older version does not: the spec is read again.
    let state = state_path(&s, "mv");
    let mut status: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&state).unwrap()).unwrap();
    assert!(status["log"]["dir"].is_string(), "{status}");
    status.as_object_mut().unwrap().remove("log");
    std::fs::write(&state, status.to_string()).unwrap();
    let (code, out, err) = logs(&s, &["logs", "mv"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "still here\n");
    assert!(
        err.contains(&format!(
            "note: `mv` ran from {}, which cannot be read now (No such file or directory); looking in {}",
            spec.display(),
            s.log_dir().display()
        )),
        "{err}"
    );
    // --log-dir reads that directory, whatever else is known.
    let elsewhere = s.path("elsewhere");
    std::fs::create_dir_all(&elsewhere).unwrap();
    std::fs::write(elsewhere.join("mv.out.log"), "from elsewhere\n").unwrap();
    let (code, out, err) = logs(&s, &["logs", "--log-dir", "elsewhere", "mv"]);
    assert_eq!((code, out.as_str()), (0, "from elsewhere\n"), "{err}");
}

#[test]
fn follow_follows_several_services_together_across_rotations() {
    let s = Scratch::new();
    for name in ["api", "db"] {
        let spec = project_spec(&s, name, &["--print", "started"], "dir = \"l\"");
        run_once(&s, &spec);
    }
    let mut child = s
        .tend(&["logs", "-f", "-n", "1", "api", "db"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let out = lines_of(child.stdout.take().unwrap());
    let _child = Killed(child);
    // The last lines come first, then following starts where they end.
    let seen = expect_line(&out, "db  | started", "tend logs -f api db");
    assert_eq!(seen, ["api | started", "db  | started"]);
    let dir = s.path("proj/l");
    let append = |file: &str, text: &str| {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(dir.join(file))
            .unwrap();
        f.write_all(text.as_bytes()).unwrap();
    };
    append("db.log", "out from db\n");
    expect_line(&out, "db  | from db", "tend logs -f api db");
    // A line written in two parts is printed once, whole.
    append("api.log", "err from ");
    append("api.log", "api\n");
    let seen = expect_line(&out, "from api", "tend logs -f api db");
    assert_eq!(seen, ["api | from api"]);
    // A rotation: the rest of the old file, then the new one.
    append("api.log", "out last of the old file\n");
    std::fs::rename(
        dir.join("api.log"),
        dir.join("api.20261130T000000.000Z.log"),
    )
    .unwrap();
    append("api.log", "err first of the new file\n");
    let seen = expect_line(&out, "first of the new file", "tend logs -f api db");
    assert_eq!(
        seen,
        ["api | last of the old file", "api | first of the new file"]
    );
}

#[test]
fn without_timestamps_a_range_selects_whole_files_and_says_so() {
    let s = Scratch::new();
    let spec = project_spec(&s, "plain", &["--print", "run"], "dir = \"l\"");
    run_once(&s, &spec);
    let dir = s.path("proj/l");
    for (file, text) in [
        ("plain.20261129T100000.000Z.log", "out written before ten\n"),
        ("plain.20261129T110000.000Z.log.gz", ""),
        ("plain.log", "err written now\n"),
    ] {
        let path = dir.join(file);
        if file.ends_with(".gz") {
            use std::io::Write;
            let mut w = flate2::write::GzEncoder::new(
                std::fs::File::create(path).unwrap(),
                flate2::Compression::fast(),
            );
            w.write_all(b"out written from ten to eleven\n").unwrap();
            w.finish().unwrap();
        } else {
            std::fs::write(path, text).unwrap();
        }
    }
    let (code, out, err) = logs(
        &s,
        &[
            "logs",
            "--since",
            "2026-11-29 10:30",
            "--until",
            "2026-11-29 10:45",
            "plain",
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "written from ten to eleven\n");
    assert!(
        err.contains("note: the lines of `plain` carry no timestamps (log.timestamps = false): --since/--until select whole files"),
        "{err}"
    );
    let (_, out, _) = logs(&s, &["logs", "--since", "2026-11-29 10:30", "plain"]);
    assert_eq!(out, "written from ten to eleven\nwritten now\n");
}

#[test]
fn follow_with_no_line_shown_starts_at_the_end_of_the_file() {
    let s = Scratch::new();
    let spec = project_spec(&s, "api", &["--print", "old line"], "dir = \"l\"");
    run_once(&s, &spec);
    let mut child = s
        .tend(&["logs", "-f", "-n", "0", "api"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let out = lines_of(child.stdout.take().unwrap());
    let err = lines_of(child.stderr.take().unwrap());
    let _child = Killed(child);
    // No line to wait for before following starts: write until one comes through.
    let file = s.path("proj/l/api.log");
    let deadline = Instant::now() + 30 * SECS;
    let mut seen = Vec::new();
    let mut i = 0;
    while !seen.iter().any(|l: &String| l.starts_with("new line")) {
        assert!(Instant::now() < deadline, "nothing followed: {seen:?}");
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&file)
            .unwrap();
        writeln!(f, "out new line {i}").unwrap();
        i += 1;
        if let Ok(l) = out.recv_timeout(Duration::from_millis(50)) {
            seen.push(l);
        }
    }
    assert!(
        !seen.iter().any(|l| l.contains("old line")),
        "only what came after: {seen:?}"
    );
    let errs: Vec<String> = err.try_iter().collect();
    assert!(
        !errs.iter().any(|l| l.contains("waiting for")),
        "the file exists: {errs:?}"
    );
}

#[test]
fn follow_prints_every_line_when_many_rotations_come_between_two_looks() {
    let s = Scratch::new();
    let spec = project_spec(&s, "fl", &["--print", "first run"], "dir = \"l\"");
    run_once(&s, &spec);
    // Known, with no log yet: following starts before the flood.
    std::fs::remove_dir_all(s.path("proj/l")).unwrap();
    let n = 20_000u64;
    std::fs::write(
        &spec,
        fixture_spec(
            "fl",
            &["--flood", &n.to_string(), "--line-bytes", "40"],
            "[restart]\npolicy = \"never\"\n[log]\ndir = \"l\"\nmax_size = \"4KiB\"\nkeep = 100000\ncompress = true\n",
        ),
    )
    .unwrap();
    let mut child = s
        .tend(&["logs", "-f", "fl"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let out = lines_of(child.stdout.take().unwrap());
    let err = lines_of(child.stderr.take().unwrap());
    let _child = Killed(child);
    expect_line(&err, "note: waiting for", "tend logs -f");
    // About 800KB at 4KiB: some 200 rotations, many between two looks of the follower.
    run_once(&s, &spec);
    let deadline = Instant::now() + 60 * SECS;
    let mut got = Vec::new();
    while (got.len() as u64) < n {
        let left = deadline.saturating_duration_since(Instant::now());
        match out.recv_timeout(left) {
            Ok(l) => got.push(l),
            Err(_) => break,
        }
    }
    let numbers: Vec<u64> = got
        .iter()
        .map(|l| {
            l[1..11]
                .parse()
                .unwrap_or_else(|_| panic!("a flood line: {l:?}"))
        })
        .collect();
    let gaps = numbers.windows(2).filter(|w| w[1] != w[0] + 1).count();
    assert_eq!(
        (numbers.len() as u64, gaps),
        (n, 0),
        "every line once, in order; first {:?}, last {:?}",
        numbers.first(),
        numbers.last()
    );
    assert_eq!(numbers.first(), Some(&1));
    let errs: Vec<String> = err.try_iter().collect();
    assert!(!errs.iter().any(|l| l.contains("warning")), "{errs:?}");
}

#[test]
fn without_timestamps_a_file_written_now_is_not_before_an_old_until() {
    let s = Scratch::new();
    let spec = project_spec(&s, "plain", &["--print", "written today"], "dir = \"l\"");
    run_once(&s, &spec);
    // A lone live file: no rotation says when it was started.
    let (code, out, err) = logs(&s, &["logs", "--until", "2020-01-01", "plain"]);
    assert_eq!((code, out.as_str()), (0, ""), "{err}");
    // A rotated file with no rotation before it, gzipped (its creation is when it was
    // compressed): taken as written at its rotation, which is after --until.
    let dir = s.path("proj/l");
    let text = std::fs::read(dir.join("plain.log")).unwrap();
    std::fs::remove_file(dir.join("plain.log")).unwrap();
    let gz = dir.join("plain.20261129T100000.000Z.log.gz");
    {
        use std::io::Write;
        let mut w = flate2::write::GzEncoder::new(
            std::fs::File::create(&gz).unwrap(),
            flate2::Compression::fast(),
        );
        w.write_all(&text).unwrap();
        w.finish().unwrap();
    }
    let (code, out, err) = logs(&s, &["logs", "--until", "2020-01-01", "plain"]);
    assert_eq!((code, out.as_str()), (0, ""), "{err}");
    assert!(
        err.contains(&format!(
            "note: when the first line of {} was written is unknown",
            gz.display()
        )),
        "{err}"
    );
    let (_, out, err) = logs(&s, &["logs", "--since", "2026-11-29 09:00", "plain"]);
    assert_eq!(out, "written today\n", "{err}");
}

#[test]
fn a_reversed_range_is_refused() {
    let s = Scratch::new();
    let spec = project_spec(&s, "api", &["--print", "hi"], "dir = \"l\"");
    run_once(&s, &spec);
    for (since, until) in [("2026-11-30", "2026-11-29"), ("2026-11-30", "2026-11-30")] {
        let (code, out, err) = logs(&s, &["logs", "--since", since, "--until", until, "api"]);
        assert_eq!((code, out.as_str()), (2, ""), "{err}");
        assert!(
            err.starts_with(&format!("error: --since ({since}T00:00:00.000Z) is not before --until ({until}T00:00:00.000Z): no line is in that range\n")),
            "{err}"
        );
    }
}

/// `tend logs` reads where the supervisor wrote, which its state file records: a
/// profile's or `--set`'s `log.dir`, or the `TEND_LOG_DIR` of the `tend run`, not
/// where the spec alone (read again without them) would put the files.
#[test]
fn the_log_dir_of_a_profile_a_set_or_the_runs_log_dir_is_where_logs_are_read() {
    let s = Scratch::new();
    let extra = "[profile.prod.log]\ndir = \"prodlogs\"\ntimestamps = true";
    let a = project_spec(&s, "a", &["--print", "from a"], extra);
    let out = s
        .spawn(&["run", "--profile", "prod", a.to_str().unwrap()])
        .wait(60 * SECS);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(s.path("proj/prodlogs/a.log").exists());
    let (code_, out, err) = logs(&s, &["logs", "a"]);
    assert_eq!(code_, 0, "{err}");
    assert!(out.ends_with(" from a\n"), "timestamped: {out:?} {err}");
    // The profile's timestamps are known too: a range selects the lines by them.
    let (code_, out, err) = logs(&s, &["logs", "--since", "1h", "a"]);
    assert_eq!(code_, 0, "{err}");
    assert!(out.ends_with(" from a\n"), "{out:?} {err}");
    assert!(!err.contains("carry no timestamps"), "{err}");

    let b = project_spec(&s, "b", &["--print", "from b"], "");
    let out = s
        .spawn(&["run", "--set", "log.dir=setlogs", b.to_str().unwrap()])
        .wait(60 * SECS);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(s.path("proj/setlogs/b.log").exists());
    let (code_, out, err) = logs(&s, &["logs", "b"]);
    assert_eq!((code_, out.as_str()), (0, "from b\n"), "{err}");

    // The run's default log directory, relative to where it ran.
    let c = project_spec(&s, "c", &["--print", "from c"], "");
    let out = s
        .tend(&["run", c.to_str().unwrap()])
        .env("TEND_LOG_DIR", "runlogs")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(s.path("runlogs/c.log").exists());
    let (code_, out, err) = logs(&s, &["logs", "c"]);
    assert_eq!((code_, out.as_str()), (0, "from c\n"), "{err}");
    // Read from another folder too: the recorded directory is absolute.
    let out = s
        .tend(&["logs", "c"])
        .current_dir(s.path("proj"))
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "from c\n");
}

/// A service that writes to stdout and stderr in turn, each line only once tend has
/// written the one before to its log, so the order tend received them is known; at
/// the end a stderr line cut short by the exit, held while stdout writes a line.
fn both_streams_spec(s: &Scratch, name: &str) -> PathBuf {
    std::fs::create_dir_all(s.path("proj")).unwrap();
    let log = s.path(&format!("proj/l/{name}.log"));
    let log = log.display();
    let script = format!(
        "w() {{ until grep -q \"$1\" '{log}' 2>/dev/null; do :; done; }}; \
         echo 'listening on :8080'; w listening; \
         echo 'shutting down gracefully' >&2; w shutting; \
         echo 'bye'; w bye; \
         printf 'cut short' >&2; echo 'a whole line'; w 'a whole line'"
    );
    s.spec(
        &format!("proj/{name}.toml"),
        &format!(
            "name = \"{name}\"\ncommand = \"sh\"\nargs = [\"-c\", {}]\n[restart]\npolicy = \"never\"\n[log]\ndir = \"l\"\n",
            toml_str(&script)
        ),
    )
}

#[test]
fn logs_show_stdout_and_stderr_in_the_order_tend_received_them() {
    let s = Scratch::new();
    let spec = both_streams_spec(&s, "go");
    run_once(&s, &spec);
    // A Go program logs to stderr: its line is shown with the rest, in order.
    let (code, out, err) = logs(&s, &["logs", "go"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        out, "listening on :8080\nshutting down gracefully\nbye\na whole line\ncut short\n",
        "{err}"
    );
    let (_, out, _) = logs(&s, &["logs", "--stderr", "go"]);
    assert_eq!(out, "shutting down gracefully\ncut short\n");
    let (_, out, _) = logs(&s, &["logs", "--stdout", "go"]);
    assert_eq!(out, "listening on :8080\nbye\na whole line\n");
    let (_, out, _) = logs(&s, &["logs", "--stderr", "-n", "1", "go"]);
    assert_eq!(out, "cut short\n", "-n counts the lines shown");
    // The raw file reads as it is, each line tagged with its stream.
    let raw = std::fs::read_to_string(s.path("proj/l/go.log")).unwrap();
    assert_eq!(
        raw,
        "out listening on :8080\nerr shutting down gracefully\nout bye\nout a whole line\nerr cut short\n"
    );
    let (code, _, err) = logs(&s, &["logs", "--stdout", "--stderr", "go"]);
    assert_eq!(code, 2, "the filters exclude each other: {err}");
}

#[test]
fn follow_shows_both_streams_and_filters_them() {
    let s = Scratch::new();
    let spec = project_spec(&s, "api", &["--print", "started"], "dir = \"l\"");
    run_once(&s, &spec);
    let follow = |args: &[&str]| {
        let mut child = s
            .tend(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let out = lines_of(child.stdout.take().unwrap());
        (out, Killed(child))
    };
    let dir = s.path("proj/l");
    let append = |text: &str| {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(dir.join("api.log"))
            .unwrap();
        f.write_all(text.as_bytes()).unwrap();
    };
    // A stderr line first, so that each follower is seen to have read the log before
    // it is rotated (the stderr-only one shows nothing else to wait for).
    append("err e0\n");
    let (all, _a) = follow(&["logs", "-f", "api"]);
    let (errs, _e) = follow(&["logs", "-f", "--stderr", "api"]);
    expect_line(&all, "e0", "tend logs -f api");
    expect_line(&errs, "e0", "tend logs -f --stderr api");
    append("out o1\nerr e1\n");
    std::fs::rename(
        dir.join("api.log"),
        dir.join("api.20261130T000000.000Z.log"),
    )
    .unwrap();
    std::fs::write(dir.join("api.log"), "").unwrap();
    append("err e2\nout o2\n");
    assert_eq!(
        expect_line(&all, "o2", "tend logs -f api"),
        ["o1", "e1", "e2", "o2"]
    );
    assert_eq!(
        expect_line(&errs, "e2", "tend logs -f --stderr api"),
        ["e1", "e2"]
    );
}

#[test]
fn the_separate_files_of_an_older_tend_are_shown_until_a_combined_log_exists() {
    let s = Scratch::new();
    let spec = project_spec(&s, "old", &["--print", "new stdout"], "dir = \"l\"");
    run_once(&s, &spec);
    let dir = s.path("proj/l");
    let combined = std::fs::read(dir.join("old.log")).unwrap();
    std::fs::remove_file(dir.join("old.log")).unwrap();
    // What a tend before the combined log wrote: one file a stream, untagged.
    std::fs::write(dir.join("old.out.20261129T100000.000Z.log"), "old out 1\n").unwrap();
    std::fs::write(dir.join("old.out.log"), "old out 2\n").unwrap();
    std::fs::write(dir.join("old.err.log"), "old err\n").unwrap();
    let (code, out, err) = logs(&s, &["logs", "old"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "old out 1\nold out 2\nold err\n");
    let (_, out, _) = logs(&s, &["logs", "--stderr", "old"]);
    assert_eq!(out, "old err\n");
    let (_, out, _) = logs(&s, &["logs", "--stdout", "-n", "1", "old"]);
    assert_eq!(out, "old out 2\n");
    // Once the combined log is there, it alone is the service's log.
    std::fs::write(dir.join("old.log"), combined).unwrap();
    let (_, out, _) = logs(&s, &["logs", "old"]);
    assert_eq!(out, "new stdout\n");
}

/// In a shared folder, the combined log of a service named `web.err` is not web's
/// stderr.
#[test]
fn a_dotted_services_log_is_not_read_as_anothers_stderr() {
    let s = Scratch::new();
    for (name, line) in [("web", "web line"), ("web.err", "web.err line")] {
        let spec = project_spec(&s, name, &["--print", line], "dir = \"l\"");
        run_once(&s, &spec);
    }
    let (code, out, err) = logs(&s, &["logs", "web"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "web line\n");
    let (_, out, _) = logs(&s, &["logs", "--stderr", "web"]);
    assert_eq!(out, "");
    let (_, out, _) = logs(&s, &["logs", "web.err"]);
    assert_eq!(out, "web.err line\n");
}

#[test]
fn max_total_keeps_a_flood_within_its_size() {
    let s = Scratch::new();
    // About 400KB of output; at most 64KiB kept, in 8KiB files.
    let spec = project_spec(
        &s,
        "big",
        &["--flood", "10000", "--line-bytes", "40"],
        "dir = \"l\"\nmax_size = \"8KiB\"\nkeep = 100000\nmax_total = \"64KiB\"",
    );
    run_once(&s, &spec);
    let mut total = 0;
    let mut files = 0;
    for e in std::fs::read_dir(s.path("proj/l")).unwrap() {
        let e = e.unwrap();
        total += e.metadata().unwrap().len();
        files += 1;
    }
    assert!(total <= 64 * 1024, "{total} bytes in {files} files");
    assert!(
        files >= 4,
        "rotated files are kept up to the total: {files}"
    );
    // The newest lines are what is left.
    let (_, out, _) = logs(&s, &["logs", "-n", "1", "big"]);
    assert!(out.starts_with("L0000010000"), "{out}");
}

/// `tend check` points at a syslog address it cannot read.
#[test]
fn check_points_at_a_bad_syslog_address() {
    let s = Scratch::new();
    let spec = s.spec(
        "sys.toml",
        "name = \"sys\"\ncommand = \"/bin/true\"\n[log]\nstdout = \"syslog\"\nsyslog = \"udp://127.0.0.1\"\n",
    );
    let (code, _, err) = logs(&s, &["check", spec.to_str().unwrap()]);
    assert_ne!(code, 0, "{err}");
    assert!(err.contains("sys.toml:5:10"), "file:line:col: {err}");
    assert!(err.contains("has no port"), "{err}");
}

/// Lines to syslog over UDP, each an RFC 5424 message with the service's name and
/// its stream's severity; `tend logs` says where they went.
#[test]
fn syslog_output_reaches_a_udp_server() {
    let s = Scratch::new();
    let server = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    server.set_read_timeout(Some(10 * SECS)).unwrap();
    let addr = server.local_addr().unwrap();
    let spec = s.spec(
        "sl.toml",
        &fixture_spec(
            "sl",
            &["--print", "to stdout", "--eprint", "to stderr"],
            &format!(
                "[restart]\npolicy = \"never\"\n[log]\nstdout = \"syslog\"\nstderr = \"syslog\"\nsyslog = \"udp://{addr}\"\n"
            ),
        ),
    );
    run_once(&s, &spec);
    let mut got = Vec::new();
    let mut buf = [0u8; 9000];
    for _ in 0..2 {
        let n = server.recv(&mut buf).unwrap();
        got.push(String::from_utf8(buf[..n].to_vec()).unwrap());
    }
    got.sort();
    let re = |m: &str| {
        let f: Vec<&str> = m.splitn(8, ' ').collect();
        (
            f[0].to_string(),
            f[3].to_string(),
            f[5].to_string(),
            f[7].to_string(),
        )
    };
    assert_eq!(
        got.iter().map(|m| re(m)).collect::<Vec<_>>(),
        [
            (
                "<27>1".into(),
                "sl".into(),
                "stderr".into(),
                "\u{feff}to stderr".into()
            ),
            (
                "<30>1".into(),
                "sl".into(),
                "stdout".into(),
                "\u{feff}to stdout".into()
            ),
        ]
    );
    let (code, out, err) = logs(&s, &["logs", "sl"]);
    assert_eq!((code, out.as_str()), (0, ""), "{err}");
    assert!(
        err.contains("note: `sl` sends its stdout to syslog (log.stdout = \"syslog\")"),
        "{err}"
    );
}

/// `tend up --log-files` writes each service's two streams to its one file, which
/// `tend logs` reads as for `tend run`.
#[test]
fn tend_up_with_log_files_keeps_both_streams_for_tend_logs() {
    let s = Scratch::new();
    let service = |name: &str| {
        format!(
            "[[service]]\n{}[service.restart]\npolicy = \"never\"\n",
            fixture_spec(
                name,
                &[
                    "--print",
                    &format!("{name} out"),
                    "--eprint",
                    &format!("{name} err")
                ],
                ""
            )
        )
    };
    let spec = s.spec("up.toml", &(service("ua") + &service("ub")));
    let out = s
        .spawn(&["up", "--log-files", spec.to_str().unwrap()])
        .wait(60 * SECS);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    for name in ["ua", "ub"] {
        let (code, out, err) = logs(&s, &["logs", name]);
        assert_eq!(code, 0, "{err}");
        let mut lines: Vec<&str> = out.lines().collect();
        lines.sort();
        assert_eq!(
            lines,
            [format!("{name} err"), format!("{name} out")],
            "{err}"
        );
        let (_, out, _) = logs(&s, &["logs", "--stderr", name]);
        assert_eq!(out, format!("{name} err\n"));
    }
}

/// A total below the size of one file cannot be kept: `tend check` says so.
#[test]
fn check_refuses_a_max_total_below_max_size() {
    let s = Scratch::new();
    let spec = s.spec(
        "t.toml",
        "name = \"t\"\ncommand = \"/bin/true\"\n[log]\nmax_size = \"10MB\"\nmax_total = \"1MB\"\n",
    );
    let (code, _, err) = logs(&s, &["check", spec.to_str().unwrap()]);
    assert_ne!(code, 0, "{err}");
    assert!(err.contains("t.toml:5:13"), "file:line:col: {err}");
    assert!(err.contains("is below `log.max_size`"), "{err}");
}
