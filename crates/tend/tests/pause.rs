//! `tend pause|continue NAME` under `tend run`: the child's whole process tree is
//! frozen (the count a child keeps does not move), its health probes wait, continue
//! lets it run on, and a stop while paused lets it run first and stops it gracefully.
#![cfg(target_os = "linux")]

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::*;

const SECS: Duration = Duration::from_secs(1);

fn state_is(s: &Scratch, name: &str, state: &str) -> bool {
    s.state(name).is_some_and(|st| st["state"] == state)
}

/// Lines in `path` (0 if it is not there yet).
fn count(path: &Path) -> usize {
    std::fs::read_to_string(path).map_or(0, |t| t.lines().count())
}

/// The `State:` letter of /proc/PID/status (`S`, `R`, `T` stopped, ...).
fn proc_state(pid: i32) -> char {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    text.lines()
        .find_map(|l| l.strip_prefix("State:"))
        .and_then(|v| v.trim().chars().next())
        .unwrap_or('?')
}

/// The processes of process group `pgid`, from /proc.
fn group(pgid: i32) -> Vec<i32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|&pid| {
            std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|st| {
                // pid (comm) state ppid pgrp ...: after the last ')'.
                st.rsplit_once(')')
                    .and_then(|(_, rest)| rest.split_whitespace().nth(2)?.parse::<i32>().ok())
                    == Some(pgid)
            })
        })
        .collect()
}

#[test]
fn pause_freezes_the_tree_continue_resumes_and_a_stop_while_paused_is_graceful() {
    let s = Scratch::new();
    let ticks = s.path("ticks");
    // A child that counts, with a worker in its group that counts too.
    let script = format!(
        "trap 'echo graceful >> {g}; exit 0' TERM\n\
         (while :; do echo w >> {t}.worker; sleep 0.02; done) &\n\
         while :; do echo x >> {t}; sleep 0.02; done\n",
        g = s.path("graceful").display(),
        t = ticks.display()
    );
    let spec = s.spec(
        "c.toml",
        &format!(
            "name = \"c\"\ncommand = \"/bin/sh\"\nargs = [\"-c\", {}]\n[stop]\ntimeout = \"20s\"\n",
            toml_str(&script)
        ),
    );
    let run = s.spawn(&["run", spec.to_str().unwrap()]);
    let worker = s.path("ticks.worker");
    wait_until(10 * SECS, "c counting", || {
        count(&ticks) > 2 && count(&worker) > 2
    });
    let pid = s.state("c").unwrap()["pid"].as_i64().unwrap() as i32;

    let out = tend(&s, &["pause", "c"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(
        stdout(&out).contains(&format!(
            "paused (pid {pid}): sent SIGSTOP to process group {pid}"
        )),
        "{}",
        stdout(&out)
    );
    // Every process of its group is stopped, and the state file says paused.
    // (SIGSTOP takes effect as each process next leaves the kernel; a `sleep` that
    // ended just before stays a zombie of its stopped parent.)
    wait_until(5 * SECS, "every process of the group stopped", || {
        let states: Vec<char> = group(pid).into_iter().map(proc_state).collect();
        states.iter().filter(|&&c| c == 'T').count() >= 2
            && states.iter().all(|&c| c == 'T' || c == 'Z')
    });
    let st = s.state("c").unwrap();
    assert_eq!(st["state"], "paused", "{st}");
    assert_eq!(st["pid"], pid, "{st}");
    // The counts do not move while it is paused (a window of 300ms: 15 ticks).
    let (frozen, frozen_worker) = (count(&ticks), count(&worker));
    let until = Instant::now() + Duration::from_millis(300);
    while Instant::now() < until {
        assert_eq!(count(&ticks), frozen);
        assert_eq!(count(&worker), frozen_worker);
        std::thread::yield_now();
    }
    let out = tend(&s, &["status", "c", "--json"]);
    assert!(
        stdout(&out).contains("\"state\": \"paused\""),
        "{}",
        stdout(&out)
    );
    // Pausing twice says so, and changes nothing.
    let out = tend(&s, &["pause", "c"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(
        stdout(&out).contains("`c` is paused already"),
        "{}",
        stdout(&out)
    );

    let out = tend(&s, &["continue", "c"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(
        stdout(&out).contains(&format!(
            "continued (pid {pid}): sent SIGCONT to process group {pid}"
        )),
        "{}",
        stdout(&out)
    );
    wait_until(10 * SECS, "counting again", || {
        count(&ticks) > frozen + 2 && count(&worker) > frozen_worker + 2
    });
    assert!(state_is(&s, "c", "running"));
    let out = tend(&s, &["continue", "c"]);
    assert!(
        stdout(&out).contains("`c` is not paused (it is running)"),
        "{}",
        stdout(&out)
    );

    // Paused again, then stopped: it runs first, so it hears SIGTERM and exits by its
    // trap, well within the 20s stop timeout.
    let out = tend(&s, &["pause", "c"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    wait_until(5 * SECS, "the shell stopped", || proc_state(pid) == 'T');
    run.signal(libc::SIGTERM);
    let out = run.wait(10 * SECS);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("stopped gracefully in"), "{err}");
    assert!(
        err.contains(&format!("continued (pid {pid}) after")),
        "{err}"
    );
    assert_eq!(s.lines(&s.path("graceful")), ["graceful"]);
    let st = s.state("c").unwrap();
    assert_eq!(st["state"], "stopped", "{st}");
}

#[test]
fn health_probes_wait_while_paused() {
    let s = Scratch::new();
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let graceful = s.path("graceful");
    let port_arg = port.to_string();
    let text = fixture_spec(
        "h",
        &[
            "--http-stop",
            &port_arg,
            "--on-term",
            graceful.to_str().unwrap(),
            "--hang",
        ],
        &format!(
            "[health]\nhttp = \"http://127.0.0.1:{port}/healthz\"\ninterval = \"100ms\"\ntimeout = \"200ms\"\nretries = 1\n"
        ),
    );
    let spec = s.spec("h.toml", &text);
    let run = s.spawn(&["run", spec.to_str().unwrap()]);
    let healthy = |s: &Scratch| {
        s.state("h")
            .is_some_and(|st| st["health"]["state"] == "healthy")
    };
    wait_until(10 * SECS, "h healthy", || healthy(&s));
    let pid = s.state("h").unwrap()["pid"].as_i64().unwrap();
    let out = tend(&s, &["pause", "h"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let probe_at = |s: &Scratch| s.state("h").unwrap()["health"]["last_probe"]["at_ms"].clone();
    let last = probe_at(&s);
    // Frozen, it could not answer a probe (each would fail within 200ms, and one
    // failure makes it unhealthy and restarts it): none runs for 10 intervals.
    let until = Instant::now() + Duration::from_millis(1_000);
    while Instant::now() < until {
        let st = s.state("h").unwrap();
        assert_eq!(st["state"], "paused", "{st}");
        assert_eq!(st["pid"], pid, "{st}");
        assert_eq!(st["health"]["state"], "healthy", "{st}");
        assert_eq!(st["health"]["last_probe"]["at_ms"], last, "{st}");
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = tend(&s, &["continue", "h"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    // Probed again once it runs, and it passes.
    wait_until(10 * SECS, "a probe after continue", || {
        probe_at(&s) != last && healthy(&s)
    });
    let st = s.state("h").unwrap();
    assert_eq!(st["state"], "running", "{st}");
    assert_eq!(st["pid"], pid, "the same child: {st}");
    assert_eq!(st["restarts"], 0, "{st}");
    run.signal(libc::SIGTERM);
    assert_eq!(code(&run.wait(10 * SECS)), 0);
    assert_eq!(s.lines(&graceful), ["graceful"]);
}

#[test]
fn pause_of_a_service_nobody_runs_says_so() {
    let s = Scratch::new();
    let out = tend(&s, &["pause", "nobody"]);
    assert_eq!(code(&out), 1);
    assert!(
        stderr(&out).contains("no `tend run` or `tend up` supervises it"),
        "{}",
        stderr(&out)
    );
}

/// A start of a paused service says to continue it; a restart lets its tree run, stops
/// it gracefully and starts a new child; a dead supervisor's paused state is stale.
#[test]
fn start_and_restart_of_a_paused_service() {
    let s = Scratch::new();
    let graceful = s.path("graceful");
    let text = fixture_spec(
        "r",
        &["--on-term", graceful.to_str().unwrap(), "--hang"],
        "",
    );
    let spec = s.spec("r.toml", &text);
    let run = s.spawn(&["run", "--no-guard", spec.to_str().unwrap()]);
    wait_until(10 * SECS, "r running", || state_is(&s, "r", "running"));
    let pid = s.state("r").unwrap()["pid"].as_i64().unwrap();
    assert_eq!(code(&tend(&s, &["pause", "r"])), 0);
    let out = tend(&s, &["start", "r"]);
    assert_eq!(code(&out), 1);
    assert!(stderr(&out).contains("tend continue r"), "{}", stderr(&out));
    assert!(state_is(&s, "r", "paused"));
    let out = tend(&s, &["restart", "r"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let st = s.state("r").unwrap();
    assert_eq!(st["state"], "running", "{st}");
    assert_ne!(st["pid"], pid, "a new child: {st}");
    assert_eq!(
        s.lines(&graceful),
        ["graceful"],
        "the old one stopped gracefully"
    );
    // Paused, then its supervisor killed: the state file's `paused` is stale.
    assert_eq!(code(&tend(&s, &["pause", "r"])), 0);
    run.signal(libc::SIGKILL);
    let _ = run.wait(10 * SECS);
    let out = tend(&s, &["status", "r"]);
    assert!(stdout(&out).contains("stale"), "{}", stdout(&out));
    // (The child, frozen and without its supervisor, is not ours to clean up here.)
    let child = s.state("r").unwrap()["pid"].as_i64().unwrap() as i32;
    // SAFETY: kill(2) with a pid and a signal number; no memory is involved.
    unsafe {
        libc::kill(child, libc::SIGKILL);
    }
}
