//! The supervisor end to end: `tend run` and `tend up` driving the fixture program.
#![cfg(unix)]

mod common;

use std::time::Duration;

use common::*;

const SECS: Duration = Duration::from_secs(1);

#[test]
fn crash_restarts_with_backoff_then_fails_at_the_limit() {
    let s = Scratch::new();
    let pidf = s.path("pids");
    let spec = s.spec(
        "crash.toml",
        &fixture_spec(
            "crash",
            &["--pid-file", pidf.to_str().unwrap(), "--exit", "1"],
            "[restart]\nmax_restarts = 4\n[restart.backoff]\ninitial = \"40ms\"\nfactor = 2.0\n",
        ),
    );
    let out = s.spawn(&["run", spec.to_str().unwrap()]).wait(20 * SECS);
    assert_eq!(code(&out), 3, "restart limit reached: the service failed");
    assert_eq!(pids(&pidf).len(), 5, "first start + 4 restarts");
    let err = stderr(&out);
    for delay in [
        "restarting in 40ms",
        "restarting in 80ms",
        "restarting in 160ms",
    ] {
        assert!(err.contains(delay), "backoff {delay} in:\n{err}");
    }
    let st = s.state("crash").unwrap();
    assert_eq!(st["state"], "failed");
    assert_eq!(st["restarts"], 4);
    assert_eq!(st["last_exit"]["code"], 1);
}

#[test]
fn success_codes_and_no_restart_codes() {
    let s = Scratch::new();
    let pidf = s.path("pids");
    let spec = s.spec(
        "ok.toml",
        &fixture_spec(
            "ok",
            &["--pid-file", pidf.to_str().unwrap(), "--exit", "7"],
            "[restart]\nsuccess_codes = [0, 7]\n",
        ),
    );
    let out = s.spawn(&["run", spec.to_str().unwrap()]).wait(10 * SECS);
    assert_eq!(code(&out), 0, "7 counts as success: ended, not restarted");
    assert_eq!(pids(&pidf).len(), 1);
    assert_eq!(s.state("ok").unwrap()["state"], "exited");

    let pidf2 = s.path("pids2");
    let spec = s.spec(
        "cfg.toml",
        &fixture_spec(
            "cfg",
            &["--pid-file", pidf2.to_str().unwrap(), "--exit", "78"],
            "[restart]\npolicy = \"always\"\nno_restart_codes = [78]\n",
        ),
    );
    let out = s.spawn(&["run", spec.to_str().unwrap()]).wait(10 * SECS);
    assert_eq!(code(&out), 3, "78 is a failure that must not be restarted");
    assert_eq!(
        pids(&pidf2).len(),
        1,
        "never restarted despite policy = always"
    );
    let err = stderr(&out);
    assert!(
        err.contains("tend: cfg: exit code 78 after ")
            && err.contains("; not restarting (exit code 78 is in restart.no_restart_codes)\n"),
        "the reason is the code, not the policy: {err}"
    );
}

/// The lines shown after a failed exit are what a terminal would show of them: escape
/// sequences (hyperlinks too) go whole, a line rewritten with `\r` shows its last text,
/// a line left empty once cleaned takes no place, and a long line is cut after cleaning.
#[test]
fn a_failed_exit_shows_the_reason_not_the_escapes_after_it() {
    let s = Scratch::new();
    let sh = |name: &str, script: &str| {
        s.spec(
            &format!("{name}.toml"),
            &format!(
                "name = \"{name}\"\ncommand = \"/bin/sh\"\nargs = [\"-c\", {}]\n[restart]\npolicy = \"never\"\n",
                toml_str(script)
            ),
        )
    };
    let why = "Error: listen tcp :8080: address already in use";
    let e95 = "é".repeat(95);
    let table = [
        (
            sh(
                "resets",
                &format!("printf '{why}\\n\\033[0m\\n\\033[2K\\n\\a\\n\\033[0m\\n' >&2; exit 1"),
            ),
            "resets",
            vec![why.to_string()],
        ),
        (
            sh(
                "cleaned",
                &format!(
                    "printf '\\033]8;;https://example.com/docs\\033\\\\see docs\\033]8;;\\033\\\\ failed\\n' >&2; \
                     printf '\\033[1;31m\\033[0m\\033[01;31m{e95}\\n' >&2; \
                     printf 'downloading 10%%\\rdownloading 50%%\\rError: disk full\\n' >&2; exit 1"
                ),
            ),
            "cleaned",
            vec!["see docs failed".to_string(), e95.clone(), "Error: disk full".to_string()],
        ),
    ];
    for (spec, name, want) in table {
        let out = s.spawn(&["run", spec.to_str().unwrap()]).wait(20 * SECS);
        assert_eq!(code(&out), 3, "{name}: {}", stderr(&out));
        let err = stderr(&out);
        let lines: String = want.iter().map(|l| format!("\n  stderr: {l}")).collect();
        assert!(
            err.contains(&format!("; not restarting (policy never){lines}\n")),
            "{name}: {err}"
        );
        assert_eq!(
            err.matches("  stderr: ").count(),
            want.len(),
            "{name}: {err}"
        );
        let st = s.state(name).unwrap();
        assert_eq!(
            st["last_stderr"],
            want[want.len() - 1].as_str(),
            "{name}: {st}"
        );
    }
}

/// A crash loop says why: each failed exit is followed by the last lines the program
/// wrote to stderr (which are otherwise only in its err log), giving up too, and the
/// state file keeps the last one. A success shows none.
#[test]
fn a_failed_exit_shows_the_last_lines_the_child_wrote_to_stderr() {
    let s = Scratch::new();
    let spec = s.spec(
        "web.toml",
        &fixture_spec(
            "web",
            &[
                "--print",
                "not this: stdout",
                "--eprint",
                "listening on :8080",
                "--eprint",
                "Error: listen tcp :8080: address already in use",
                "--exit",
                "1",
            ],
            "[restart]\nmax_restarts = 1\n[restart.backoff]\ninitial = \"10ms\"\n",
        ),
    );
    let out = s.spawn(&["run", spec.to_str().unwrap()]).wait(20 * SECS);
    assert_eq!(code(&out), 3);
    let err = stderr(&out);
    let tail = "\n  stderr: listening on :8080\n  stderr: Error: listen tcp :8080: address already in use\n";
    assert_eq!(err.matches(tail).count(), 2, "after both exits: {err}");
    assert!(
        err.contains(&format!("giving up (restart.max_restarts = 1){tail}")),
        "{err}"
    );
    assert!(!err.contains("not this"), "stdout is not shown: {err}");
    // Where the output goes, said at the start.
    let logs = s.log_dir();
    assert!(
        err.starts_with(&format!(
            "tend: web: output: stdout to {}, stderr to {}\n",
            logs.join("web.log").display(),
            logs.join("web.log").display()
        )),
        "{err}"
    );
    let st = s.state("web").unwrap();
    assert_eq!(
        st["last_stderr"], "Error: listen tcp :8080: address already in use",
        "{st}"
    );
    let out = s.tend(&["status", "web"]).output().unwrap();
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(
        table.contains(" last stderr: Error: listen tcp :8080: address already in use\n"),
        "{table}"
    );
    let out = s.tend(&["status", "web", "--json"]).output().unwrap();
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        json[0]["last_stderr"], "Error: listen tcp :8080: address already in use",
        "{json}"
    );

    // A success says nothing of stderr, and keeps no line in the state file.
    let spec = s.spec(
        "ok.toml",
        &fixture_spec(
            "ok",
            &["--eprint", "all fine", "--exit", "0"],
            "[restart]\npolicy = \"never\"\n",
        ),
    );
    let out = s.spawn(&["run", spec.to_str().unwrap()]).wait(20 * SECS);
    assert_eq!(code(&out), 0);
    let err = stderr(&out);
    assert!(!err.contains("stderr: "), "{err}");
    assert!(err.contains("tend: ok: exit code 0 after"), "{err}");
    assert!(s.state("ok").unwrap().get("last_stderr").is_none());

    // `tend up` too: its output is on the terminal, but the reason is right under the
    // exit, among the lines of every service.
    let spec = s.spec(
        "boom.toml",
        &fixture_spec(
            "boom",
            &["--eprint", "boom", "--exit", "2"],
            "[restart]\npolicy = \"never\"\n",
        ),
    );
    let out = s.spawn(&["up", spec.to_str().unwrap()]).wait(20 * SECS);
    assert_eq!(code(&out), 3);
    let err = stderr(&out);
    assert!(
        err.contains("; not restarting (policy never)\n  stderr: boom\n"),
        "{err}"
    );
    assert!(
        !err.contains("output: "),
        "the output is on the terminal: {err}"
    );
}

/// A child that handles SIGTERM by writing "graceful" to a marker file and exiting 0.
fn graceful_child(s: &Scratch) -> (std::path::PathBuf, std::path::PathBuf, std::path::PathBuf) {
    let (pidf, marker) = (s.path("pids"), s.path("graceful"));
    let args = [
        "--on-term",
        marker.to_str().unwrap(),
        "--pid-file",
        pidf.to_str().unwrap(),
        "--hang",
    ];
    (
        s.spec("g.toml", &fixture_spec("g", &args, "")),
        pidf,
        marker,
    )
}

#[test]
fn graceful_stop_on_sigterm() {
    let s = Scratch::new();
    let (spec, pidf, marker) = graceful_child(&s);
    let tend = s.spawn(&["run", spec.to_str().unwrap()]);
    wait_until(10 * SECS, "the child to start", || pids(&pidf).len() == 1);
    tend.signal(libc::SIGTERM);
    let out = tend.wait(10 * SECS);
    assert_eq!(code(&out), 0, "a requested stop is a success");
    assert_eq!(
        std::fs::read_to_string(&marker).unwrap(),
        "graceful\n",
        "the child handled SIGTERM"
    );
    let err = stderr(&out);
    assert!(err.contains("stopped gracefully"), "{err}");
    // Who asked is said: the signal tend received.
    assert!(
        err.contains("tend: g: stopping on SIGTERM: sent SIGTERM to pid"),
        "{err}"
    );
    assert!(!alive(pids(&pidf)[0]));
    assert_eq!(s.state("g").unwrap()["state"], "stopped");
}

fn stubborn_tree(
    s: &Scratch,
    setsid: bool,
) -> (std::path::PathBuf, std::path::PathBuf, std::path::PathBuf) {
    let (pidf, gpids) = (s.path("pids"), s.path("grandchildren"));
    let mut args = vec![
        "--ignore-term",
        "--pid-file",
        pidf.to_str().unwrap(),
        "--grandchildren",
        "3",
        "--grandchild-pids",
        gpids.to_str().unwrap(),
    ];
    if setsid {
        args.push("--grandchild-setsid");
    }
    args.push("--hang");
    let spec = s.spec(
        "tree.toml",
        &fixture_spec("tree", &args, "[stop]\ntimeout = \"300ms\"\n"),
    );
    (spec, pidf, gpids)
}

#[test]
fn a_child_that_ignores_sigterm_and_its_grandchildren_are_gone_after_the_timeout() {
    for setsid in [false, true] {
        let s = Scratch::new();
        let (spec, pidf, gpids) = stubborn_tree(&s, setsid);
        let tend = s.spawn(&["run", spec.to_str().unwrap()]);
        wait_until(10 * SECS, "child and 3 grandchildren", || {
            pids(&pidf).len() == 1 && pids(&gpids).len() == 3
        });
        let all: Vec<i32> = pids(&pidf).into_iter().chain(pids(&gpids)).collect();
        tend.signal(libc::SIGTERM);
        let out = tend.wait(10 * SECS);
        assert_eq!(code(&out), 0);
        assert!(
            stderr(&out).contains("did not stop within 300ms"),
            "{}",
            stderr(&out)
        );
        for pid in &all {
            assert!(
                !alive(*pid),
                "pid {pid} survived the stop (setsid = {setsid})"
            );
        }
    }
}

#[test]
fn sigkill_of_the_supervisor_leaves_no_process_behind() {
    for setsid in [false, true] {
        let s = Scratch::new();
        let (spec, pidf, gpids) = stubborn_tree(&s, setsid);
        let tend = s.spawn(&["run", spec.to_str().unwrap()]);
        wait_until(10 * SECS, "child and 3 grandchildren", || {
            pids(&pidf).len() == 1 && pids(&gpids).len() == 3 && s.state("tree").is_some()
        });
        let supervisor = s.state("tree").unwrap()["supervisor_pid"].as_i64().unwrap() as i32;
        assert_ne!(supervisor, tend.pid(), "the supervisor runs under a guard");
        let all: Vec<i32> = pids(&pidf)
            .into_iter()
            .chain(pids(&gpids))
            .chain([supervisor])
            .collect();
        // SAFETY: plain kill(2).
        unsafe { libc::kill(supervisor, libc::SIGKILL) };
        let out = tend.wait(10 * SECS);
        assert_ne!(code(&out), 0, "the guard reports the supervisor's death");
        for pid in &all {
            wait_until(
                5 * SECS,
                &format!("pid {pid} to be gone (setsid = {setsid})"),
                || !alive(*pid),
            );
        }
    }
}

#[test]
fn sigkill_of_the_guard_stops_the_service_too() {
    let s = Scratch::new();
    let (spec, pidf, marker) = graceful_child(&s);
    let tend = s.spawn(&["run", spec.to_str().unwrap()]);
    wait_until(10 * SECS, "the child to start", || {
        pids(&pidf).len() == 1 && s.state("g").is_some()
    });
    let supervisor = s.state("g").unwrap()["supervisor_pid"].as_i64().unwrap() as i32;
    tend.signal(libc::SIGKILL);
    let _ = tend.wait(10 * SECS);
    wait_until(
        10 * SECS,
        "the supervisor to stop its child and exit",
        || !alive(supervisor) && !alive(pids(&pidf)[0]),
    );
    assert_eq!(
        std::fs::read_to_string(&marker).unwrap(),
        "graceful\n",
        "stopped gracefully, not killed"
    );
}

#[test]
fn a_thousand_restarts_in_a_row_without_a_miss_and_the_state_file_always_parses() {
    let s = Scratch::new();
    let pidf = s.path("pids");
    let spec = s.spec(
        "flap.toml",
        &fixture_spec("flap", &["--pid-file", pidf.to_str().unwrap(), "--exit", "1"], "[restart]\nmax_restarts = 1000\nwindow = \"1h\"\n[restart.backoff]\ninitial = \"0s\"\nmax = \"0s\"\n[log]\nstdout = \"null\"\nstderr = \"null\"\n"),
    );
    let state = s.state_dir().join("flap.json");
    let tend = s.spawn(&["run", spec.to_str().unwrap()]);
    // Read the state file as fast as possible while it is being rewritten.
    let mut reads = 0;
    let out = loop {
        if let Ok(text) = std::fs::read_to_string(&state) {
            serde_json::from_str::<serde_json::Value>(&text)
                .unwrap_or_else(|e| panic!("torn state file after {reads} reads ({e}): {text:?}"));
            reads += 1;
        }
        if pids(&pidf).len() >= 1001 || reads > 1_000_000 {
            break tend.wait(60 * SECS);
        }
    };
    assert_eq!(code(&out), 3, "gave up after max_restarts");
    let started = pids(&pidf);
    assert_eq!(started.len(), 1001, "every restart happened");
    let st = s.state("flap").unwrap();
    assert_eq!(st["restarts"], 1000);
    assert!(
        reads > 10,
        "the reader saw the file being rewritten ({reads} reads)"
    );
}

#[test]
fn log_rotation_under_a_flood_loses_no_line() {
    let s = Scratch::new();
    let n = 300_000; // 30 MB of 100-byte lines
    let spec = s.spec(
        "flood.toml",
        &fixture_spec(
            "flood",
            &["--flood", &n.to_string()],
            "[restart]\npolicy = \"never\"\n[log]\nmax_size = \"1MB\"\nkeep = 1000\n",
        ),
    );
    let out = s.spawn(&["run", spec.to_str().unwrap()]).wait(60 * SECS);
    assert_eq!(code(&out), 0);
    let mut files: Vec<_> = std::fs::read_dir(s.log_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.starts_with("flood."))
        .collect();
    files.sort();
    // Rotated files (timestamped) sort in time order; the live file is last.
    files.retain(|f| f != "flood.log");
    files.push("flood.log".into());
    assert!(files.len() > 25, "rotated at 1MB: {} files", files.len());
    let mut expect = 1u64;
    for f in &files {
        let data = std::fs::read(s.log_dir().join(f)).unwrap();
        assert!(
            data.len() as u64 <= 1_000_000 + 104,
            "{f} is {} bytes: rotation is at 1MB, plus at most one line",
            data.len()
        );
        assert!(
            data.is_empty() || data.ends_with(b"\n"),
            "{f} ends in the middle of a line"
        );
        for line in data.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
            // Tagged with its stream: "out L0000000001 ...".
            assert_eq!(line.len(), 103, "a damaged line in {f}");
            assert_eq!(&line[..4], b"out ", "{f}");
            let num: u64 = std::str::from_utf8(&line[5..15]).unwrap().parse().unwrap();
            assert_eq!(num, expect, "line order in {f}");
            expect += 1;
        }
    }
    assert_eq!(expect - 1, n, "every line arrived");
    assert_eq!(s.state("flood").unwrap()["log_dropped_lines"], 0);
}

#[test]
fn a_full_disk_drops_and_counts_lines_without_blocking_the_child() {
    // SAFETY: geteuid cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("SKIPPED: mounting a small tmpfs needs root");
        return;
    }
    let s = Scratch::new();
    let mnt = s.path("small");
    std::fs::create_dir(&mnt).unwrap();
    let ok = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=512k", "tmpfs"])
        .arg(&mnt)
        .status()
        .map(|st| st.success())
        .unwrap_or(false);
    assert!(ok, "mount a 512k tmpfs at {}", mnt.display());
    struct Unmount(std::path::PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = std::process::Command::new("umount").arg(&self.0).status();
        }
    }
    let _guard = Unmount(mnt.clone());
    let n: u64 = 50_000; // 5 MB into 512 kB
    let spec = s.spec(
        "full.toml",
        &fixture_spec(
            "full",
            &["--flood", &n.to_string()],
            &format!(
                "[restart]\npolicy = \"never\"\n[log]\ndir = {}\nmax_size = \"100MB\"\n",
                q(&mnt)
            ),
        ),
    );
    let out = s.spawn(&["run", spec.to_str().unwrap()]).wait(30 * SECS);
    assert_eq!(
        code(&out),
        0,
        "the child finished its flood: it was never blocked"
    );
    // Whole lines, and at most the head of a line a failed write cut (counted as
    // dropped): never two lines glued together.
    let data = std::fs::read(mnt.join("full.log")).unwrap();
    let mut written = 0u64;
    for line in data.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
        assert!(
            line.len() <= 103 && line.iter().filter(|&&b| b == b'L').count() <= 1,
            "a damaged line: {}",
            String::from_utf8_lossy(line)
        );
        written += u64::from(line.len() == 103);
    }
    let dropped = s.state("full").unwrap()["log_dropped_lines"]
        .as_u64()
        .unwrap();
    assert!(
        written > 1000,
        "the disk took what it could: {written} lines"
    );
    assert!(dropped > 0, "lines were dropped and counted");
    assert_eq!(
        written + dropped,
        n,
        "written {written} + dropped {dropped} should account for all {n} lines"
    );
    assert!(
        stderr(&out).contains("dropping output and counting it"),
        "{}",
        stderr(&out)
    );
}

/// The files of one log stream (`<stem>.*`) in `dir`, rotated ones in time order, the
/// live file last.
fn stream_files(dir: &std::path::Path, stem: &str) -> Vec<String> {
    let live = format!("{stem}.log");
    let mut files: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.starts_with(&format!("{stem}.")) && *n != live)
        .collect();
    files.sort();
    files.push(live);
    files
}

/// A log file's text, decompressed when it is gzipped.
fn log_text(path: &std::path::Path) -> Vec<u8> {
    let raw = std::fs::read(path).unwrap();
    if path.extension().is_some_and(|e| e == "gz") {
        let mut out = Vec::new();
        std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&raw[..]), &mut out)
            .unwrap_or_else(|e| panic!("{} is not valid gzip: {e}", path.display()));
        out
    } else {
        raw
    }
}

#[test]
fn compression_finishes_before_exit_and_loses_no_line() {
    // The reported case: a fast one-shot writer with compressed rotation at 1MB used to
    // leave `*.log.gz.tmp` halves and uncompressed rotated files behind at exit 0.
    let s = Scratch::new();
    let n = 2_000_000u64;
    let spec = s.spec(
        "seq.toml",
        &format!(
            "name = \"seq\"\ncommand = \"/usr/bin/seq\"\nargs = [\"1\", \"{n}\"]\n\
             [restart]\npolicy = \"never\"\n\
             [log]\nmax_size = \"1MB\"\nkeep = 1000\ncompress = true\n"
        ),
    );
    let out = s.spawn(&["run", spec.to_str().unwrap()]).wait(120 * SECS);
    assert_eq!(code(&out), 0);
    let files = stream_files(&s.log_dir(), "seq");
    let (live, rotated) = files.split_last().unwrap();
    assert!(rotated.len() >= 13, "about 15MB at 1MB: {files:?}");
    for f in rotated {
        assert!(
            f.ends_with(".log.gz"),
            "every rotated file is compressed, nothing half-done is left: {f} in {files:?}"
        );
    }
    assert_eq!(live, "seq.log");
    let mut expect = 1u64;
    for f in &files {
        let text = log_text(&s.log_dir().join(f));
        assert!(
            text.is_empty() || text.ends_with(b"\n"),
            "{f} ends mid-line"
        );
        for line in text.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
            let line = line.strip_prefix(b"out ").expect("a stdout line");
            let got: u64 = std::str::from_utf8(line).unwrap().parse().unwrap();
            assert_eq!(got, expect, "line order in {f}");
            expect += 1;
        }
    }
    assert_eq!(expect - 1, n, "every line arrived");
}

#[test]
fn an_interrupted_compression_is_finished_at_the_next_start() {
    // What a supervisor killed mid-compression leaves: a rotated file with half its
    // `.gz.tmp`, a rotated file whose `.gz` was complete but not yet swapped in, and a
    // rotated file never compressed. The next start cleans up and compresses them, and
    // finishes before it exits even though the child exits at once.
    let s = Scratch::new();
    let dir = s.log_dir();
    std::fs::create_dir_all(&dir).unwrap();
    let numbered = |from: u64, to: u64| -> Vec<u8> {
        (from..to)
            .flat_map(|i| {
                format!("{i:09} {:x}\n", i.wrapping_mul(0x9e37_79b9_7f4a_7c15)).into_bytes()
            })
            .collect()
    };
    let a = numbered(0, 300_000); // 8MB: a while to compress
    let b = numbered(1_000_000, 1_000_100);
    let c = numbered(1_000_100, 1_000_200);
    let name = |t: &str| format!("res.20200101T0000{t}.000Z.log");
    std::fs::write(dir.join(name("00")), &a).unwrap();
    std::fs::write(dir.join(format!("{}.gz.tmp", name("00"))), b"half a gzip").unwrap();
    std::fs::write(dir.join(name("01")), &b).unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut gz, &b).unwrap();
    std::fs::write(dir.join(format!("{}.gz", name("01"))), gz.finish().unwrap()).unwrap();
    std::fs::write(dir.join(name("02")), &c).unwrap();
    // A stray temporary file of a rotation that is gone.
    std::fs::write(dir.join(format!("{}.gz.tmp", name("03"))), b"junk").unwrap();

    let spec = s.spec(
        "res.toml",
        &fixture_spec(
            "res",
            &["--print", "bye"],
            "[restart]\npolicy = \"never\"\n[log]\ncompress = true\n",
        ),
    );
    let out = s.spawn(&["run", spec.to_str().unwrap()]).wait(120 * SECS);
    assert_eq!(code(&out), 0);
    let files = stream_files(&dir, "res");
    assert_eq!(
        files,
        [
            format!("{}.gz", name("00")),
            format!("{}.gz", name("01")),
            format!("{}.gz", name("02")),
            "res.log".to_string()
        ]
    );
    assert_eq!(log_text(&dir.join(&files[0])), a);
    assert_eq!(log_text(&dir.join(&files[1])), b);
    assert_eq!(log_text(&dir.join(&files[2])), c);
    assert_eq!(log_text(&dir.join(&files[3])), b"out bye\n");
}

/// Threads of `pid` whose name is `name`.
fn threads_named(pid: i32, name: &str) -> usize {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return 0;
    };
    tasks
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
        .filter(|comm| comm.trim_end() == name)
        .count()
}

#[test]
fn one_compression_thread_however_fast_files_rotate() {
    // At 1KiB a flood rotates thousands of times a second; one thread per rotation
    // was 121 threads at once. Compression now runs on one worker.
    let s = Scratch::new();
    let spec = s.spec(
        "tiny.toml",
        &fixture_spec(
            "tiny",
            &["--flood", "40000", "--line-bytes", "50"],
            "[restart]\npolicy = \"never\"\n[log]\nmax_size = \"1KiB\"\nkeep = 5\ncompress = true\n",
        ),
    );
    let run = s.spawn(&["run", spec.to_str().unwrap()]);
    wait_until(10 * SECS, "the state file", || s.state("tiny").is_some());
    let pid = s.state("tiny").unwrap()["supervisor_pid"].as_i64().unwrap() as i32;
    let (mut most, mut samples) = (0, 0);
    while alive(pid) {
        most = most.max(threads_named(pid, "tend-gzip"));
        samples += 1;
        std::thread::yield_now();
    }
    let out = run.wait(60 * SECS);
    assert_eq!(code(&out), 0);
    assert!(samples > 10, "watched the supervisor {samples} times");
    assert!(most <= 1, "{most} compression threads at once");
    // Pruning counts every form of a rotated file: exactly `keep` remain, compressed.
    let files = stream_files(&s.log_dir(), "tiny");
    assert_eq!(files.len(), 6, "the live file and keep = 5: {files:?}");
    assert!(
        files[..5].iter().all(|f| f.ends_with(".log.gz")),
        "{files:?}"
    );
}

#[test]
fn dropped_lines_show_in_status_while_they_are_dropped() {
    // A log file that cannot take a byte: /dev/full fails every write with ENOSPC,
    // like a full disk, without mounting anything.
    let s = Scratch::new();
    std::fs::create_dir_all(s.log_dir()).unwrap();
    std::os::unix::fs::symlink("/dev/full", s.log_dir().join("full.log")).unwrap();
    let n = 1000u64;
    let spec = s.spec(
        "full.toml",
        &fixture_spec(
            "full",
            &["--flood", &n.to_string(), "--hang"],
            "[restart]\npolicy = \"never\"\n",
        ),
    );
    let run = s.spawn(&["run", spec.to_str().unwrap()]);
    let status = || {
        let out = s.tend(&["status", "full", "--json"]).output().unwrap();
        let all: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap_or_default();
        all.into_iter().next().unwrap_or_default()
    };
    // The child keeps running (no change of state), yet the counters are current.
    wait_until(10 * SECS, "tend status to count every dropped line", || {
        let st = status();
        st["state"] == "running" && st["log_dropped_lines"] == n
    });
    let st = status();
    // As they would have been written: tagged ("out ").
    assert_eq!(st["log_dropped_bytes"], n * 104, "{st}");
    let text = s.tend(&["status", "full"]).output().unwrap();
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.contains("1000 output lines (104000 bytes) could not be written to the log"),
        "{text}"
    );
    run.signal(libc::SIGTERM);
    let out = run.wait(10 * SECS);
    assert_eq!(code(&out), 0);
    assert_eq!(s.state("full").unwrap()["log_dropped_lines"], n);
}

#[test]
fn a_missing_program_fails_before_anything_starts() {
    let s = Scratch::new();
    let spec = s.spec(
        "missing.toml",
        "name = \"missing\"\ncommand = \"no-such-program-anywhere\"\n",
    );
    let out = s
        .tend(&["run", spec.to_str().unwrap()])
        .env("PATH", "/usr/bin:/bin")
        .output()
        .unwrap();
    assert_eq!(code(&out), 1);
    let err = stderr(&out);
    assert!(
        err.contains("`no-such-program-anywhere` was not found on PATH (/usr/bin:/bin)"),
        "{err}"
    );
    assert!(s.state("missing").is_none(), "nothing was started");

    let script = s.path("not-exec.sh");
    std::fs::write(&script, "#!/bin/sh\n").unwrap();
    let spec = s.spec(
        "noexec.toml",
        &format!("name = \"noexec\"\ncommand = {}\n", q(&script)),
    );
    let out = s.tend(&["run", spec.to_str().unwrap()]).output().unwrap();
    assert_eq!(code(&out), 1);
    assert!(
        stderr(&out).contains("is not executable (mode 644)"),
        "{}",
        stderr(&out)
    );

    // Paths relative to the spec read as written, and the OS error as a person reads it.
    for (command, says) in [
        (
            "./not-exec.sh",
            "/not-exec.sh` is not executable (mode 644)",
        ),
        ("./gone/./app", "/gone/app`: No such file or directory"),
    ] {
        let spec = s.spec(
            "rel.toml",
            &format!("name = \"rel\"\ncommand = \"{command}\"\n"),
        );
        let out = s.tend(&["run", spec.to_str().unwrap()]).output().unwrap();
        assert_eq!(code(&out), 1);
        let err = stderr(&out);
        let dir = s.dir.path().display().to_string();
        assert!(err.contains(&format!("`{dir}{says}")), "{err}");
        assert!(!err.contains("/./"), "{err}");
        assert!(!err.contains("os error"), "{err}");
    }
}

#[test]
fn spec_errors_name_the_file_and_line() {
    let s = Scratch::new();
    let spec = s.spec(
        "bad.toml",
        "name = \"bad\"\ncommand = \"x\"\n[restart]\npolcy = \"always\"\n",
    );
    let out = s.tend(&["run", spec.to_str().unwrap()]).output().unwrap();
    assert_eq!(code(&out), 1);
    let err = stderr(&out);
    assert!(err.contains("bad.toml:4:1"), "{err}");
    assert!(err.contains("did you mean `policy`?"), "{err}");
}

#[test]
fn env_cwd_and_env_file_reach_the_child() {
    let s = Scratch::new();
    let envf = s.path("secrets.env");
    std::fs::write(&envf, "SECRET='s3cr3t'\n").unwrap();
    std::fs::set_permissions(&envf, std::os::unix::fs::PermissionsExt::from_mode(0o644)).unwrap();
    std::fs::create_dir(s.path("work")).unwrap();
    let spec = s.spec(
        "env.toml",
        &fixture_spec("env", &["--env", "GREETING", "--env", "SECRET", "--env", "NOTIFY_SOCKET", "--cwd"], "working_dir = \"work\"\nenv_file = \"secrets.env\"\n[env]\nGREETING = \"hello world\"\n[restart]\npolicy = \"never\"\n"),
    );
    let out = s
        .tend(&["run", spec.to_str().unwrap()])
        .env("NOTIFY_SOCKET", "/run/nope")
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let log = std::fs::read_to_string(s.log_dir().join("env.log")).unwrap();
    assert!(log.contains("GREETING=hello world\n"), "{log}");
    assert!(log.contains("SECRET=s3cr3t\n"), "{log}");
    assert!(
        log.contains("NOTIFY_SOCKET=(unset)"),
        "tend's own notify socket must not leak: {log}"
    );
    assert!(
        log.contains(&format!(
            "cwd={}",
            s.path("work").canonicalize().unwrap().display()
        )),
        "{log}"
    );
    assert!(
        stderr(&out).contains("readable by everyone"),
        "secrets file warning: {}",
        stderr(&out)
    );
}

#[test]
fn up_starts_in_dependency_order_prefixes_output_and_stops_in_reverse() {
    let s = Scratch::new();
    let fx = q(&fixture_bin());
    // Each child writes its pid once its line is printed.
    let pidf = |n: &str| q(&s.path(&format!("{n}.pid")));
    let (web_pid, api_pid) = (pidf("web"), pidf("api"));
    let text = format!(
        "[[service]]\nname = \"web\"\ncommand = {fx}\nargs = [\"--print\", \"web ready\", \"--pid-file\", {web_pid}, \"--hang\"]\ndepends_on = [\"api\"]\n\n\
         [[service]]\nname = \"api\"\ncommand = {fx}\nargs = [\"--print\", \"api ready\", \"--pid-file\", {api_pid}, \"--hang\"]\n"
    );
    let file = s.spec("tend.toml", &text);
    let tend = s.spawn(&["up", file.to_str().unwrap()]);
    wait_until(
        10 * SECS,
        "both services running, their lines printed",
        || {
            ["web", "api"].iter().all(|n| {
                s.state(n).is_some_and(|st| st["state"] == "running")
                    && pids(&s.path(&format!("{n}.pid"))).len() == 1
            })
        },
    );
    tend.signal(libc::SIGINT);
    let out = tend.wait(10 * SECS);
    assert_eq!(code(&out), 0);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("web | web ready\n"), "{stdout}");
    assert!(stdout.contains("api | api ready\n"), "{stdout}");
    let err = stderr(&out);
    let pos = |needle: &str| {
        err.find(needle)
            .unwrap_or_else(|| panic!("{needle:?} not in:\n{err}"))
    };
    assert!(
        pos("tend: api: started") < pos("tend: web: started"),
        "api first: {err}"
    );
    assert!(
        pos("tend: web: stopping") < pos("tend: api: stopping"),
        "web stops first: {err}"
    );
    // Each service says who asked: the SIGINT `tend up` received, passed down.
    assert!(pos("tend: api: stopping on SIGINT: ") > 0, "{err}");
}

#[test]
fn status_reports_running_services_and_json() {
    let s = Scratch::new();
    let pidf = s.path("pids");
    let spec = s.spec(
        "st.toml",
        &fixture_spec("st", &["--pid-file", pidf.to_str().unwrap(), "--hang"], ""),
    );
    let tend = s.spawn(&["run", spec.to_str().unwrap()]);
    wait_until(10 * SECS, "running", || {
        s.state("st").is_some_and(|st| st["state"] == "running")
    });
    let out = s.tend(&["status"]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let child = pids(&pidf)[0];
    assert!(
        text.lines().any(|l| l.starts_with("st ")
            && l.contains("running")
            && l.contains(&child.to_string())),
        "{text}"
    );
    let out = s.tend(&["status", "st", "--json"]).output().unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let v = &v[0];
    assert_eq!(v["pid"], child);
    assert_eq!(v["supervisor_alive"], true);
    assert_eq!(v["installed"], false);
    tend.signal(libc::SIGTERM);
    let _ = tend.wait(10 * SECS);
    let out = s.tend(&["status", "st", "--json"]).output().unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v[0]["state"], "stopped");
    let out = s.tend(&["status", "nope"]).output().unwrap();
    assert_eq!(code(&out), 1);
}

#[test]
fn the_last_words_of_a_stopped_child_reach_the_log() {
    let s = Scratch::new();
    let script = "trap 'echo goodbye; exit 0' TERM; echo hello; while :; do sleep 0.05; done";
    let spec = s.spec(
        "bye.toml",
        &format!(
            "name = \"bye\"\ncommand = \"sh\"\nargs = [\"-c\", {}]\n",
            toml_str(script)
        ),
    );
    let tend = s.spawn(&["run", spec.to_str().unwrap()]);
    let log = s.log_dir().join("bye.log");
    wait_until(10 * SECS, "hello in the log", || {
        s.lines(&log).contains(&"out hello".to_string())
    });
    tend.signal(libc::SIGTERM);
    let out = tend.wait(10 * SECS);
    assert_eq!(code(&out), 0);
    assert_eq!(s.lines(&log), ["out hello", "out goodbye"]);
}

#[test]
fn run_speaks_the_systemd_notify_protocol() {
    use std::os::unix::net::UnixDatagram;
    let s = Scratch::new();
    let sock_path = s.path("notify.sock");
    let sock = UnixDatagram::bind(&sock_path).unwrap();
    sock.set_read_timeout(Some(10 * SECS)).unwrap();
    let pidf = s.path("pids");
    let spec = s.spec(
        "n.toml",
        &fixture_spec(
            "n",
            &[
                "--pid-file",
                pidf.to_str().unwrap(),
                "--env",
                "NOTIFY_SOCKET",
                "--hang",
            ],
            "",
        ),
    );
    let mut cmd = s.tend(&["run", spec.to_str().unwrap()]);
    cmd.env("NOTIFY_SOCKET", &sock_path)
        .env("WATCHDOG_USEC", "200000")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let tend = Running::from(cmd.spawn().unwrap(), "tend run (notify)");
    let mut got: Vec<String> = Vec::new();
    let mut buf = [0u8; 4096];
    let mut recv_until = |want: &str, got: &mut Vec<String>| loop {
        let n = sock
            .recv(&mut buf)
            .unwrap_or_else(|e| panic!("no {want:?} notification (got {got:?}): {e}"));
        let msg = String::from_utf8_lossy(&buf[..n]).to_string();
        got.push(msg.clone());
        if msg.contains(want) {
            break;
        }
    };
    recv_until("READY=1", &mut got);
    // Ready only once the child runs: the state file (written before READY is sent)
    // names a live child. (Its pid file may still be on its way: the child writes it
    // after its own start-up.)
    let st = s.state("n").expect("state file before READY");
    assert_eq!(st["state"], "running", "{st}");
    let child = st["pid"].as_i64().expect("a child pid") as i32;
    assert!(alive(child), "ready only once the child runs");
    wait_until(10 * SECS, "the child's pid file", || pids(&pidf) == [child]);
    recv_until("WATCHDOG=1", &mut got);
    tend.signal(libc::SIGTERM);
    recv_until("STOPPING=1", &mut got);
    let out = tend.wait(10 * SECS);
    assert_eq!(code(&out), 0);
    assert!(
        got.iter().any(|m| m.starts_with("STATUS=running: started")),
        "{got:?}"
    );
    let log = std::fs::read_to_string(s.log_dir().join("n.log")).unwrap();
    assert!(
        log.contains("NOTIFY_SOCKET=(unset)"),
        "the child must not inherit tend's notify socket: {log}"
    );
}

#[test]
fn no_guard_runs_the_supervisor_as_the_process_itself() {
    let s = Scratch::new();
    let (spec, pidf, _marker) = graceful_child(&s);
    let tend = s.spawn(&["run", "--no-guard", spec.to_str().unwrap()]);
    wait_until(10 * SECS, "the child to start", || {
        pids(&pidf).len() == 1 && s.state("g").is_some()
    });
    assert_eq!(
        s.state("g").unwrap()["supervisor_pid"],
        tend.pid(),
        "no guard in between"
    );
    tend.signal(libc::SIGTERM);
    assert_eq!(code(&tend.wait(10 * SECS)), 0);
}

#[test]
fn up_does_not_wait_forever_on_a_dependency_that_never_started() {
    let s = Scratch::new();
    let fx = q(&fixture_bin());
    // c never runs: its interpreter does not exist, so exec fails.
    let broken = s.path("broken.sh");
    std::fs::write(&broken, "#!/nonexistent/interpreter\n").unwrap();
    std::fs::set_permissions(&broken, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let c = q(&broken);
    let text = format!(
        "[[service]]\nname = \"c\"\ncommand = {c}\nrestart = {{ policy = \"never\" }}\n\n\
         [[service]]\nname = \"b\"\ncommand = {fx}\nargs = [\"--hang\"]\ndepends_on = [\"c\"]\n\n\
         [[service]]\nname = \"a\"\ncommand = {fx}\nargs = [\"--hang\"]\ndepends_on = [\"b\"]\n\n\
         [[service]]\nname = \"indep\"\ncommand = {fx}\nargs = [\"--hang\"]\n"
    );
    let file = s.spec("tend.toml", &text);
    let tend = s.spawn(&["up", file.to_str().unwrap()]);
    wait_until(10 * SECS, "the independent service to run", || {
        s.state("indep").is_some_and(|st| st["state"] == "running")
    });
    tend.signal(libc::SIGINT);
    let out = tend.wait(10 * SECS);
    let err = stderr(&out);
    assert!(
        err.contains("tend: b: not started: dependency `c` is failed"),
        "{err}"
    );
    assert!(
        err.contains("tend: a: not started: dependency `b` is failed"),
        "{err}"
    );
    assert_eq!(code(&out), 3, "services failed");
}

/// A free loopback port (bound, then released for the fixture to take).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// A child that ignores SIGTERM but stops on `POST /shutdown`, under a spec whose stop
/// hook posts to `path`.
fn http_stop_child(
    s: &Scratch,
    path: &str,
) -> (std::path::PathBuf, std::path::PathBuf, std::path::PathBuf) {
    let (pidf, marker) = (s.path("pids"), s.path("stopped-by"));
    let port = free_port().to_string();
    let args = [
        "--ignore-term",
        "--http-stop",
        &port,
        "--on-http-stop",
        marker.to_str().unwrap(),
        "--pid-file",
        pidf.to_str().unwrap(),
        "--hang",
    ];
    let extra = format!("[stop]\ntimeout = \"3s\"\nhttp = \"http://127.0.0.1:{port}{path}\"\n");
    (
        s.spec("h.toml", &fixture_spec("h", &args, &extra)),
        pidf,
        marker,
    )
}

#[test]
fn stop_hook_http_stops_the_child_gracefully() {
    let s = Scratch::new();
    let (spec, pidf, marker) = http_stop_child(&s, "/shutdown");
    let tend = s.spawn(&["run", spec.to_str().unwrap()]);
    wait_until(10 * SECS, "the child to start", || pids(&pidf).len() == 1);
    tend.signal(libc::SIGTERM);
    let out = tend.wait(10 * SECS);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(std::fs::read_to_string(&marker).unwrap(), "http-stop\n");
    let err = stderr(&out);
    assert!(err.contains("stop hook POST http://127.0.0.1:"), "{err}");
    assert!(err.contains("answered 200"), "{err}");
    assert!(
        err.contains("stopped gracefully"),
        "not killed after the timeout: {err}"
    );
    assert_eq!(s.state("h").unwrap()["state"], "stopped");
}

#[test]
fn stop_hook_http_failure_falls_back_to_the_signal() {
    let s = Scratch::new();
    // A wrong path: the fixture answers 404 and keeps running; tend then sends SIGTERM,
    // which this child ignores, so the tree is killed after the timeout.
    let (spec, pidf, marker) = http_stop_child(&s, "/wrong");
    let tend = s.spawn(&["run", spec.to_str().unwrap()]);
    wait_until(10 * SECS, "the child to start", || pids(&pidf).len() == 1);
    tend.signal(libc::SIGTERM);
    let out = tend.wait(15 * SECS);
    assert_eq!(
        code(&out),
        0,
        "a requested stop is a success: {}",
        stderr(&out)
    );
    let err = stderr(&out);
    assert!(err.contains("stop hook failed"), "{err}");
    assert!(err.contains("404"), "{err}");
    assert!(err.contains("sent SIGTERM"), "the signal after all: {err}");
    assert!(err.contains("killed after the 3s stop timeout"), "{err}");
    assert!(!marker.exists(), "the hook did not stop it");
    assert!(!alive(pids(&pidf)[0]));
}

#[test]
fn stop_hook_command_runs_with_the_service_environment() {
    let s = Scratch::new();
    let (pidf, marker, hook_out) = (s.path("pids"), s.path("graceful"), s.path("hook-ran"));
    let child = [
        "--on-term",
        marker.to_str().unwrap(),
        "--pid-file",
        pidf.to_str().unwrap(),
        "--hang",
    ];
    // The hook records a variable of the service's environment, then asks the child to
    // stop the way a real `app drain` command would (here: SIGTERM through kill).
    let extra = format!(
        "[env]\nHOOK_MARK = \"from-env\"\n[stop]\ntimeout = \"5s\"\ncommand = [\"/bin/sh\", \"-c\", \"echo $HOOK_MARK > {} && kill -TERM $(cat {})\"]\n",
        hook_out.display(),
        pidf.display()
    );
    let spec = s.spec("c.toml", &fixture_spec("c", &child, &extra));
    let tend = s.spawn(&["run", spec.to_str().unwrap()]);
    wait_until(10 * SECS, "the child to start", || pids(&pidf).len() == 1);
    tend.signal(libc::SIGTERM);
    let out = tend.wait(10 * SECS);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(std::fs::read_to_string(&hook_out).unwrap(), "from-env\n");
    assert_eq!(std::fs::read_to_string(&marker).unwrap(), "graceful\n");
    let err = stderr(&out);
    assert!(err.contains("stop hook `/bin/sh`"), "{err}");
    assert!(
        !err.contains("sent SIGTERM"),
        "tend itself sent no signal: {err}"
    );
    assert!(err.contains("stopped gracefully"), "{err}");
}

/// Starts `tend ARGS` as the session leader of a new pseudo-terminal (as a shell in a
/// terminal would); returns it and the terminal's master side.
fn spawn_on_terminal(s: &Scratch, args: &[&str]) -> (Running, std::fs::File) {
    use std::os::fd::FromRawFd;
    use std::os::unix::process::CommandExt;
    let (mut master, mut slave) = (0, 0);
    // SAFETY: valid out-pointers; no name, default termios (ISIG on, ^C is VINTR).
    let rc = unsafe {
        libc::openpty(
            &mut master,
            &mut slave,
            std::ptr::null_mut(),
            std::ptr::null(),
            std::ptr::null(),
        )
    };
    assert_eq!(rc, 0, "openpty: {}", std::io::Error::last_os_error());
    // SAFETY: both descriptors were just opened and are owned here.
    let (master, slave) = unsafe {
        (
            std::fs::File::from_raw_fd(master),
            std::fs::File::from_raw_fd(slave),
        )
    };
    let mut cmd = s.tend(args);
    cmd.stdin(slave)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    // SAFETY: setsid and ioctl are async-signal-safe; stdin is the terminal.
    unsafe {
        cmd.pre_exec(|| {
            if libc::setsid() < 0 || libc::ioctl(0, libc::TIOCSCTTY, 0) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let child = cmd.spawn().expect("spawn tend on a terminal");
    (
        Running::from(child, &format!("tend {}", args.join(" "))),
        master,
    )
}

#[test]
fn a_terminal_ctrl_c_is_one_stop_request_a_later_one_kills_at_once() {
    // A terminal's Ctrl-C goes to the whole foreground process group: the guard and
    // the supervisor each get it. That is one stop request, which waits for the stop
    // timeout as usual.
    let s = Scratch::new();
    let (spec, pidf) = ignoring_child(&s, "2s");
    let (tend, mut terminal) = spawn_on_terminal(&s, &["run", spec.to_str().unwrap()]);
    wait_until(10 * SECS, "the child to start", || pids(&pidf).len() == 1);
    std::io::Write::write_all(&mut terminal, b"\x03").expect("type Ctrl-C");
    let out = tend.wait(20 * SECS);
    let err = stderr(&out);
    assert!(
        !err.contains("killing every remaining service at once"),
        "{err}"
    );
    assert!(err.contains("killed after the 2s stop timeout"), "{err}");
    // At a terminal, the wait says how not to wait.
    assert!(
        err.contains("waiting up to 2s; Ctrl-C again to kill now"),
        "{err}"
    );

    // Typed again, later than a repeat of the first: killed at once, and said so.
    let s = Scratch::new();
    let (spec, pidf) = ignoring_child(&s, "60s");
    let (tend, mut terminal) = spawn_on_terminal(&s, &["run", spec.to_str().unwrap()]);
    wait_until(10 * SECS, "the child to start", || pids(&pidf).len() == 1);
    std::io::Write::write_all(&mut terminal, b"\x03").expect("type Ctrl-C");
    // Closer together than the guard's repeat window, two Ctrl-C are one (a terminal
    // delivers each to the guard and the supervisor): wait until the stop began
    // longer ago than that.
    wait_until(10 * SECS, "the stop to be under way", || {
        s.state("i").is_some_and(|st| {
            st["state"] == "stopping"
                && st["since_ms"].as_u64().is_some_and(|t| {
                    let now = std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .unwrap()
                        .as_millis() as u64;
                    now > t + 300
                })
        })
    });
    std::io::Write::write_all(&mut terminal, b"\x03").expect("type Ctrl-C again");
    let out = tend.wait(20 * SECS);
    let err = stderr(&out);
    assert!(
        err.contains("tend: i: killed at once on a second Ctrl-C\n"),
        "{err}"
    );
    assert!(!err.contains("stop timeout"), "{err}");
    assert!(!alive(pids(&pidf)[0]));

    // A second Ctrl-C later, while the child ignores the first: no more waiting.
    let s = Scratch::new();
    let (spec, pidf) = ignoring_child(&s, "60s");
    let tend = s.spawn(&["run", spec.to_str().unwrap()]);
    wait_until(10 * SECS, "the child to start", || pids(&pidf).len() == 1);
    tend.signal(libc::SIGINT);
    wait_until(10 * SECS, "the stop to begin", || {
        s.state("i").is_some_and(|st| st["state"] == "stopping")
    });
    // A second Ctrl-C, not a repeat of the first: another sender.
    tend.signal_from_elsewhere("INT");
    let out = tend.wait(20 * SECS);
    let err = stderr(&out);
    assert!(
        err.contains("tend: a second Ctrl-C: killing every remaining service at once"),
        "{err}"
    );
    // Said as it is: killed on the second Ctrl-C, not after the stop timeout.
    assert!(
        err.contains("tend: i: killed at once on a second Ctrl-C"),
        "{err}"
    );
    assert!(!err.contains("stop timeout"), "{err}");
    // Not at a terminal: no promise about a Ctrl-C nobody can press.
    assert!(!err.contains("Ctrl-C again"), "{err}");
    assert!(!alive(pids(&pidf)[0]));
}

/// `tend up` stopped on Ctrl-C at a terminal says that a second one kills at once (not
/// without a terminal, where nobody can press it), and a second one says it did so.
#[test]
fn up_a_second_ctrl_c_kills_at_once_and_says_so() {
    // At a terminal: the wait says how not to wait.
    let s = Scratch::new();
    let (spec, pidf) = ignoring_child(&s, "2s");
    let (tend, mut terminal) = spawn_on_terminal(&s, &["up", spec.to_str().unwrap()]);
    wait_until(10 * SECS, "the child to start", || pids(&pidf).len() == 1);
    std::io::Write::write_all(&mut terminal, b"\x03").expect("type Ctrl-C");
    let out = tend.wait(20 * SECS);
    let err = stderr(&out);
    assert!(
        err.contains(", waiting up to 2s; Ctrl-C again to kill now\n"),
        "{err}"
    );
    assert!(err.contains("killed after the 2s stop timeout"), "{err}");

    // Not at a terminal (stdin /dev/null, stderr a pipe): no hint, but a second Ctrl-C
    // still kills at once.
    let s = Scratch::new();
    let (spec, pidf) = ignoring_child(&s, "60s");
    let tend = s.spawn(&["up", spec.to_str().unwrap()]);
    wait_until(10 * SECS, "the child to start", || pids(&pidf).len() == 1);
    tend.signal(libc::SIGINT);
    wait_until(10 * SECS, "the stop to begin", || {
        s.state("i").is_some_and(|st| st["state"] == "stopping")
    });
    tend.signal_from_elsewhere("INT");
    let out = tend.wait(20 * SECS);
    let err = stderr(&out);
    assert!(
        err.contains("tend: i: stopping on SIGINT: sent SIGTERM to pid ")
            && err.contains(", waiting up to 1m\n"),
        "{err}"
    );
    assert!(!err.contains("Ctrl-C again"), "nobody can press it: {err}");
    assert!(
        err.contains("tend: i: killed at once on a second Ctrl-C\n"),
        "{err}"
    );
    assert!(!err.contains("stop timeout"), "{err}");
    assert!(!alive(pids(&pidf)[0]));
}

/// The scheduling policy of `pid` (field 41 of /proc/PID/stat: 0 normal, 3 batch).
fn sched_policy(pid: i32) -> u32 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // Fields after the command name in parentheses start at field 3.
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    rest.split(' ').nth(41 - 3).unwrap().parse().unwrap()
}

#[test]
fn the_supervisor_gives_way_to_its_child_and_keeps_a_policy_it_was_given() {
    const SCHED_OTHER: u32 = 0;
    const SCHED_BATCH: u32 = 3;
    let s = Scratch::new();
    let pidf = s.path("pids");
    let spec = s.spec(
        "p.toml",
        &fixture_spec("p", &["--pid-file", pidf.to_str().unwrap(), "--hang"], ""),
    );
    // Started with the normal policy (as a test runs), and started as a batch task
    // (`CPUSchedulingPolicy=batch`), which the child then keeps.
    let me = sched_policy(std::process::id() as i32);
    assert_eq!(me, SCHED_OTHER, "the tests run with the normal policy");
    for (started_as, supervisor_runs, child_runs) in [
        (SCHED_OTHER, SCHED_BATCH, SCHED_OTHER),
        (SCHED_BATCH, SCHED_BATCH, SCHED_BATCH),
    ] {
        let _ = std::fs::remove_file(&pidf);
        let mut cmd = s.tend(&["run", spec.to_str().unwrap()]);
        let policy = started_as as libc::c_int;
        // SAFETY: one async-signal-safe system call between fork and exec.
        unsafe {
            use std::os::unix::process::CommandExt;
            cmd.pre_exec(move || {
                let param = libc::sched_param { sched_priority: 0 };
                if libc::sched_setscheduler(0, policy, &param) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let tend = Running::from(cmd.spawn().unwrap(), "tend run");
        wait_until(10 * SECS, "the child to run", || {
            pids(&pidf).len() == 1 && s.state("p").is_some_and(|st| st["state"] == "running")
        });
        let supervisor = s.state("p").unwrap()["supervisor_pid"].as_i64().unwrap() as i32;
        assert_eq!(
            sched_policy(supervisor),
            supervisor_runs,
            "started as {started_as}"
        );
        assert_eq!(
            sched_policy(pids(&pidf)[0]),
            child_runs,
            "started as {started_as}"
        );
        tend.signal(libc::SIGTERM);
        assert_eq!(code(&tend.wait(10 * SECS)), 0);
    }
}

#[test]
fn after_a_crash_and_a_restart_at_once_the_escaped_orphans_of_the_old_child_are_killed() {
    let s = Scratch::new();
    let (pidf, gpids) = (s.path("pids"), s.path("grandchildren"));
    let args = [
        "--pid-file",
        pidf.to_str().unwrap(),
        "--grandchildren",
        "2",
        "--grandchild-setsid",
        "--grandchild-pids",
        gpids.to_str().unwrap(),
        "--hang",
    ];
    let spec = s.spec(
        "o.toml",
        &fixture_spec(
            "o",
            &args,
            "[restart]\npolicy = \"always\"\n[restart.backoff]\ninitial = \"0s\"\nmax = \"0s\"\n",
        ),
    );
    let tend = s.spawn(&["run", spec.to_str().unwrap()]);
    wait_until(10 * SECS, "a child and its 2 escaped grandchildren", || {
        pids(&pidf).len() == 1 && pids(&gpids).len() == 2
    });
    let first = pids(&pidf)[0];
    let escaped = pids(&gpids);
    // The crash: the escaped grandchildren are re-parented to the supervisor.
    // SAFETY: plain kill(2).
    unsafe { libc::kill(first, libc::SIGKILL) };
    wait_until(10 * SECS, "the replacement and its grandchildren", || {
        pids(&pidf).len() == 2 && pids(&gpids).len() == 4
    });
    for pid in &escaped {
        wait_until(5 * SECS, &format!("orphan {pid} to be killed"), || {
            !alive(*pid)
        });
    }
    // The replacement's own tree is left alone.
    let second = pids(&pidf)[1];
    assert!(alive(second));
    for pid in &pids(&gpids)[2..] {
        assert!(alive(*pid), "grandchild {pid} of the running child");
    }
    tend.signal(libc::SIGTERM);
    assert_eq!(code(&tend.wait(10 * SECS)), 0);
}
