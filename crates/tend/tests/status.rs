//! `tend status`, `tend status --prune` and `tend forget`: the table, the JSON a script
//! reads, and forgetting only what no supervisor holds.
#![cfg(unix)]

mod common;

use std::path::PathBuf;
use std::time::Duration;

use common::*;

const SECS: Duration = Duration::from_secs(1);

/// Every key of an object of `tend status --json` (README: "tend status --json").
const KEYS: &[&str] = &[
    "name",
    "health",
    "releases",
    "state",
    "recorded_state",
    "spec",
    "state_file",
    "installed",
    "backend",
    "active",
    "sub",
    "enabled",
    "main_pid",
    "drift",
    "supervisor_pid",
    "supervisor_alive",
    "pid",
    "started_at_ms",
    "uptime_ms",
    "since_ms",
    "restarts",
    "last_exit",
    "message",
    "last_stderr",
    "log_dropped_lines",
    "log_dropped_bytes",
];

/// `tend status ARGS --json`, parsed: always an array whose objects have every key.
fn status_json(s: &Scratch, names: &[&str]) -> Vec<serde_json::Value> {
    let args: Vec<&str> = ["status", "--json"].iter().chain(names).copied().collect();
    let out = s.tend(&args).output().unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("tend {args:?}: not JSON ({e}): {}", stdout(&out)));
    let rows = v
        .as_array()
        .unwrap_or_else(|| panic!("tend {args:?}: not an array: {v}"))
        .clone();
    for row in &rows {
        let mut keys: Vec<&str> = row
            .as_object()
            .unwrap_or_else(|| panic!("not an object: {row}"))
            .keys()
            .map(String::as_str)
            .collect();
        keys.sort_unstable();
        let mut want = KEYS.to_vec();
        want.sort_unstable();
        assert_eq!(keys, want, "tend {args:?}: {row}");
    }
    rows
}

/// A pid no process has: a child that has ended and been reaped.
fn dead_pid() -> u32 {
    let mut c = std::process::Command::new("true").spawn().unwrap();
    let pid = c.id();
    c.wait().unwrap();
    pid
}

/// Writes the state file a supervisor (`supervisor_pid`) of `name` would have left.
fn write_state(s: &Scratch, name: &str, state: &str, supervisor_pid: u32, spec: &str) -> PathBuf {
    std::fs::create_dir_all(s.state_dir()).unwrap();
    let path = s.state_dir().join(format!("{name}.json"));
    let doc = serde_json::json!({
        "name": name,
        "state": state,
        "spec": spec,
        "supervisor_pid": supervisor_pid,
        "since_ms": 1_000,
        "restarts": 2,
        "log_dropped_lines": 0,
    });
    std::fs::write(&path, doc.to_string()).unwrap();
    path
}

/// A `tend run` of a fixture that hangs, once its state says running; and its
/// supervisor's pid.
fn running(s: &Scratch, name: &str) -> (Running, i32) {
    let spec = s.spec(
        &format!("{name}.toml"),
        &fixture_spec(name, &["--hang"], ""),
    );
    let tend = s.spawn(&["run", spec.to_str().unwrap()]);
    wait_until(10 * SECS, &format!("{name} to run"), || {
        s.state(name).is_some_and(|st| st["state"] == "running")
    });
    let supervisor = s.state(name).unwrap()["supervisor_pid"].as_i64().unwrap() as i32;
    (tend, supervisor)
}

#[test]
fn status_json_is_an_array_with_every_key_and_says_stale_where_the_table_does() {
    let s = Scratch::new();
    write_state(&s, "old", "stopped", dead_pid(), "/srv/old/tend.toml");
    let (tend, supervisor) = running(&s, "st");
    let spec = s.path("st.toml");

    // With a name and without: the same shape, an array.
    let all = status_json(&s, &[]);
    assert_eq!(all.len(), 2, "{all:?}");
    let one = status_json(&s, &["st"]);
    assert_eq!(one.len(), 1, "{one:?}");
    let st = &one[0];
    assert_eq!(st["name"], "st");
    assert_eq!(st["state"], "running");
    assert_eq!(st["recorded_state"], "running");
    assert_eq!(st["spec"], spec.to_str().unwrap());
    assert_eq!(st["supervisor_pid"], supervisor);
    assert_eq!(st["supervisor_alive"], true);
    assert!(st["pid"].is_i64(), "{st}");
    assert!(
        st["started_at_ms"]
            .as_u64()
            .is_some_and(|t| t > 1_600_000_000_000),
        "{st}"
    );
    assert!(st["uptime_ms"].is_u64(), "{st}");
    assert_eq!(st["last_exit"], serde_json::Value::Null);
    assert_eq!(st["last_stderr"], serde_json::Value::Null);
    assert_eq!(st["installed"], false);
    let old = &all[0];
    assert_eq!(old["name"], "old");
    assert_eq!(old["state"], "stopped");
    assert_eq!(old["pid"], serde_json::Value::Null);
    assert_eq!(old["uptime_ms"], serde_json::Value::Null);

    // The supervisor is SIGKILLed: its state file still says running.
    // SAFETY: plain kill(2).
    unsafe { libc::kill(supervisor, libc::SIGKILL) };
    let _ = tend.wait(10 * SECS);
    wait_until(10 * SECS, "the supervisor to be gone", || {
        !alive(supervisor)
    });
    assert_eq!(s.state("st").unwrap()["state"], "running");
    let table = stdout(&s.tend(&["status", "st"]).output().unwrap());
    assert!(
        table
            .lines()
            .any(|l| l.starts_with("st ") && l.contains(" stale ")),
        "{table}"
    );
    let st = &status_json(&s, &["st"])[0];
    assert_eq!(st["state"], "stale", "{st}");
    assert_eq!(st["recorded_state"], "running", "{st}");
    assert_eq!(st["supervisor_alive"], false, "{st}");
    assert_eq!(st["pid"], serde_json::Value::Null, "{st}");
    assert_eq!(st["uptime_ms"], serde_json::Value::Null, "{st}");
}

#[test]
fn a_service_of_the_same_name_from_another_spec_is_refused_naming_that_spec() {
    let s = Scratch::new();
    let (_first, supervisor) = running(&s, "api");
    let first_spec = s.path("api.toml");
    std::fs::create_dir_all(s.path("other")).unwrap();
    let other = s.spec(
        "other/tend.toml",
        &format!("[[service]]\n{}", fixture_spec("api", &["--hang"], "")),
    );
    for args in [
        vec!["up", other.to_str().unwrap()],
        vec!["run", "--no-guard", other.to_str().unwrap()],
    ] {
        let out = s.spawn(&args).wait(10 * SECS);
        let err = stderr(&out);
        assert_eq!(code(&out), 1, "tend {args:?}: {err}");
        assert!(
            err.contains(&format!(
                "error: a service `api` from {} is already supervised (pid {supervisor})",
                first_spec.display()
            )),
            "tend {args:?}: {err}"
        );
        assert!(
            err.contains("= help: ") && err.contains("rename") && err.contains("--state-dir"),
            "tend {args:?}: {err}"
        );
    }
    // The first one's state is untouched.
    let st = s.state("api").unwrap();
    assert_eq!(st["supervisor_pid"], supervisor);
    assert_eq!(st["spec"], first_spec.to_str().unwrap());
}

const LONG: &str = "a-service-with-a-name-of-forty-chars-xyz";

/// State files whose names sort differently than their files do (`api-x.json` comes
/// before `api.json`), and a 40-character name.
fn several(s: &Scratch) {
    assert_eq!(LONG.len(), 40);
    let gone = dead_pid();
    write_state(s, "web", "stopped", gone, "/srv/web/tend.toml");
    write_state(s, "api-x", "failed", gone, "/srv/x/tend.toml");
    write_state(s, "api", "exited", gone, "/srv/api/tend.toml");
    write_state(s, LONG, "stopped", gone, "/opt/long/tend.toml");
}

#[test]
fn status_sorts_by_name_and_stays_aligned_with_a_long_name() {
    let s = Scratch::new();
    several(&s);
    let out = s.tend(&["status"]).output().unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let text = stdout(&out);
    let names: Vec<&str> = text
        .lines()
        .skip(1)
        .filter_map(|l| l.split(' ').next())
        .collect();
    assert_eq!(
        names,
        [
            "a-service-with-a-name-of-forty-chars-xyz",
            "api",
            "api-x",
            "web"
        ]
    );
    // Every column starts where its header does.
    let lines: Vec<&str> = text.lines().collect();
    for header in ["SERVICE", "STATE", "SPEC"] {
        let at = lines[0].find(header).unwrap();
        for l in &lines[1..] {
            assert!(
                l.as_bytes()[at - 1] == b' ' && l.as_bytes()[at] != b' ',
                "{header} at {at}:\n{text}"
            );
        }
    }
    insta::assert_snapshot!("status_table", text);
}

#[test]
fn status_takes_several_names_and_names_the_unknown_ones() {
    let s = Scratch::new();
    several(&s);
    let rows = status_json(&s, &["web", "api"]);
    let names: Vec<&str> = rows.iter().map(|r| r["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["api", "web"]);
    // Unknown names are an error naming each; the known ones are still shown.
    let out = s
        .tend(&["status", "web", "nope", "api", "zilch"])
        .output()
        .unwrap();
    let err = stderr(&out);
    assert_eq!(code(&out), 1, "{err}");
    assert!(
        err.contains("error: `nope` is neither installed nor has state in"),
        "{err}"
    );
    assert!(
        err.contains("error: `zilch` is neither installed nor has state in"),
        "{err}"
    );
    let text = stdout(&out);
    let names: Vec<&str> = text
        .lines()
        .skip(1)
        .filter_map(|l| l.split(' ').next())
        .collect();
    assert_eq!(names, ["api", "web"], "{text}");
    let out = s.tend(&["status", "--json", "nope"]).output().unwrap();
    assert_eq!(code(&out), 1);
    assert_eq!(stdout(&out).trim(), "[]");
}

#[test]
fn prune_removes_the_state_of_services_whose_supervisor_is_gone_and_keeps_the_live() {
    let s = Scratch::new();
    let (live, supervisor) = running(&s, "live");
    let gone = write_state(&s, "gone", "stopped", dead_pid(), "/srv/gone/tend.toml");
    // Its file says running; no supervisor holds it.
    let stale = write_state(&s, "stale", "running", dead_pid(), "/srv/stale/tend.toml");
    let out = s.tend(&["status", "--prune"]).output().unwrap();
    let text = stdout(&out);
    assert_eq!(code(&out), 0, "{text}{}", stderr(&out));
    assert!(
        text.contains(&format!("removed `gone`: {}", gone.display())),
        "{text}"
    );
    assert!(
        text.contains(&format!("removed `stale`: {}", stale.display())),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "kept `live`: its supervisor runs (pid {supervisor})"
        )),
        "{text}"
    );
    assert!(!gone.exists() && !stale.exists());
    let rows = status_json(&s, &[]);
    let names: Vec<&str> = rows.iter().map(|r| r["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["live"]);
    assert_eq!(rows[0]["state"], "running");
    // Nothing left to prune.
    let out = s.tend(&["status", "--prune"]).output().unwrap();
    assert!(
        stdout(&out).contains("nothing to prune"),
        "{}",
        stdout(&out)
    );
    assert!(s.state("live").is_some());
    drop(live);
}

#[test]
fn forget_removes_a_services_state_and_refuses_while_its_supervisor_runs() {
    let s = Scratch::new();
    let (live, supervisor) = running(&s, "live");
    let old = write_state(&s, "old", "stopped", dead_pid(), "/srv/old/tend.toml");
    let out = s.tend(&["forget", "live"]).output().unwrap();
    let err = stderr(&out);
    assert_eq!(code(&out), 1, "{err}");
    assert!(
        err.contains(&format!("error: `live` is supervised by pid {supervisor}")),
        "{err}"
    );
    assert!(err.contains("= help: stop it first"), "{err}");
    assert_eq!(s.state("live").unwrap()["supervisor_pid"], supervisor);
    // Several names: the known one is forgotten, the unknown one is an error.
    let out = s.tend(&["forget", "old", "nope"]).output().unwrap();
    let err = stderr(&out);
    assert_eq!(code(&out), 1, "{err}");
    assert!(err.contains("error: no state of `nope` in"), "{err}");
    assert!(
        stdout(&out).contains(&format!("forgot `old`: removed {}", old.display())),
        "{}",
        stdout(&out)
    );
    assert!(!old.exists());
    // Once its supervisor has stopped, it can be forgotten.
    live.signal(libc::SIGTERM);
    let _ = live.wait(20 * SECS);
    let out = s.tend(&["forget", "live"]).output().unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(s.state("live").is_none());
    assert!(!s.state_dir().join("live.lock").exists());
    let out = s.tend(&["status", "--json"]).output().unwrap();
    assert_eq!(stdout(&out).trim(), "[]");
}

/// A state file that says running, whose supervisor pid is now a live process that is
/// no supervisor (a pid reused after a reboot; here this test): stale, without that
/// process's pid or uptime, as `--prune` judges it.
#[test]
fn a_live_pid_that_holds_no_lock_is_not_a_running_supervisor() {
    let s = Scratch::new();
    let file = write_state(
        &s,
        "api",
        "running",
        std::process::id(),
        "/srv/api/tend.toml",
    );
    let st = &status_json(&s, &["api"])[0];
    assert_eq!(st["state"], "stale", "{st}");
    assert_eq!(st["supervisor_alive"], false, "{st}");
    assert_eq!(st["pid"], serde_json::Value::Null, "{st}");
    assert_eq!(st["uptime_ms"], serde_json::Value::Null, "{st}");
    let table = stdout(&s.tend(&["status", "api"]).output().unwrap());
    assert!(
        table
            .lines()
            .any(|l| l.starts_with("api ") && l.contains(" stale ")),
        "{table}"
    );
    let out = s.tend(&["status", "--prune"]).output().unwrap();
    assert!(
        stdout(&out).contains(&format!("removed `api`: {}", file.display())),
        "{}",
        stdout(&out)
    );
}

/// `tend status` and `tend status --prune` take each service's lock for an instant;
/// `tend up`s starting meanwhile wait for them and never fail with "already
/// supervised".
#[test]
fn status_and_prune_in_a_loop_never_fail_a_start() {
    use std::sync::atomic::{AtomicBool, Ordering};
    let s = Scratch::new();
    let services: String = (0..8)
        .map(|i| {
            format!(
                "[[service]]\n{}",
                fixture_spec(&format!("s{i}"), &["--exit", "0"], "")
            )
        })
        .collect();
    let spec = s.spec("tend.toml", &services);
    let done = AtomicBool::new(false);
    std::thread::scope(|scope| {
        for args in [&["status", "--prune"][..], &["status", "--json"][..]] {
            let (s, done) = (&s, &done);
            scope.spawn(move || {
                while !done.load(Ordering::Relaxed) {
                    s.tend(args).output().unwrap();
                }
            });
        }
        for i in 0..40 {
            let out = s.tend(&["up", spec.to_str().unwrap()]).output().unwrap();
            if code(&out) != 0 {
                done.store(true, Ordering::Relaxed);
                panic!("start {i} failed: {}", stderr(&out));
            }
        }
        done.store(true, Ordering::Relaxed);
    });
}

/// The state file records the spec without `..`: `tend status` shows it, and so
/// does the error of a second supervisor.
#[test]
fn the_spec_is_recorded_without_dot_dot() {
    let s = Scratch::new();
    std::fs::create_dir_all(s.path("proj")).unwrap();
    std::fs::create_dir_all(s.path("elsewhere")).unwrap();
    let spec = s.spec("proj/tend.toml", &fixture_spec("d", &["--exit", "0"], ""));
    let out = s
        .tend(&["run", "elsewhere/../proj/tend.toml"])
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let want = std::fs::canonicalize(&spec).unwrap();
    assert_eq!(s.state("d").unwrap()["spec"], want.to_str().unwrap());
}

/// A supervisor killed with SIGKILL leaves its control socket; `tend forget` removes it
/// with the state, so nothing of the service is left in the state folder.
#[test]
fn forget_removes_the_socket_a_killed_supervisor_left() {
    let s = Scratch::new();
    let (tend, supervisor) = running(&s, "k");
    let sock = s.state_dir().join("k.sock");
    assert!(sock.exists(), "the control socket {}", sock.display());
    unsafe { libc::kill(supervisor, libc::SIGKILL) };
    let _ = tend.wait(20 * SECS);
    assert!(sock.exists(), "a killed supervisor leaves its socket");
    let out = s.tend(&["forget", "k"]).output().unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(!sock.exists(), "{}", stdout(&out));
    assert!(
        stdout(&out).contains(&sock.display().to_string()),
        "forget names what it removed: {}",
        stdout(&out)
    );
}
