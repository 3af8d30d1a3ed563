//! Containment under hostile conditions: a process tree that keeps escaping when the
//! supervisor is SIGKILLed, and signals sent to tend's whole process group.
#![cfg(unix)]

mod common;

use std::path::Path;
use std::time::Duration;

use common::*;

const SECS: Duration = Duration::from_secs(1);

/// The processes whose environment carries `mark` (every descendant of a child
/// started with it inherits it).
fn marked(mark: &str) -> Vec<i32> {
    let needle = format!("TEND_TEST_MARK={mark}");
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/environ"))
                .is_ok_and(|env| env.split(|&b| b == 0).any(|kv| kv == needle.as_bytes()))
                && alive(*pid)
        })
        .collect()
}

/// Kills every marked process when dropped: if the guard fails to, the tree would
/// otherwise keep spawning on this machine long after the test.
struct KillMarked(String);

impl Drop for KillMarked {
    fn drop(&mut self) {
        let deadline = std::time::Instant::now() + 10 * SECS;
        while std::time::Instant::now() < deadline {
            let left = marked(&self.0);
            if left.is_empty() {
                return;
            }
            for pid in left {
                // SAFETY: plain kill(2).
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
        }
    }
}

/// A shell script: each node starts the next one of its chain in a new session, then
/// spawns an escaped `sleep` (a new session too) every 20 ms, forever.
fn escaping_tree(dir: &Path) -> std::path::PathBuf {
    let node = dir.join("node.sh");
    std::fs::write(
        &node,
        "#!/bin/sh\n\
         if [ \"$1\" -gt 0 ]; then setsid \"$0\" $(($1 - 1)) </dev/null >/dev/null 2>&1 & fi\n\
         while :; do setsid sleep 1000 </dev/null >/dev/null 2>&1 & sleep 0.02; done\n",
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&node, std::fs::Permissions::from_mode(0o755)).unwrap();
    node
}

#[test]
fn sigkill_of_the_supervisor_with_a_tree_that_keeps_escaping_leaves_nothing() {
    // Three chains four deep, each node spawning escaped sleeps: orphans keep being
    // re-parented to the guard while it cleans up. It must not wait on any of them.
    for attempt in 0..4 {
        let s = Scratch::new();
        let node = escaping_tree(s.dir.path());
        let mark = format!(
            "{}-{attempt}-{}",
            std::process::id(),
            s.dir.path().display()
        );
        let _cleanup = KillMarked(mark.clone());
        let spec = s.spec(
            "t.toml",
            &format!(
                "name = \"t\"\ncommand = \"/bin/sh\"\nargs = [\"-c\", {}]\n[env]\nTEND_TEST_MARK = {}\n",
                toml_str(&format!(
                    "for i in 1 2 3; do setsid {} 3 </dev/null >/dev/null 2>&1 & done; wait",
                    node.display()
                )),
                toml_str(&mark)
            ),
        );
        let tend = s.spawn(&["run", spec.to_str().unwrap()]);
        wait_until(20 * SECS, "the tree to grow to 60 processes", || {
            s.state("t").is_some() && marked(&mark).len() >= 60
        });
        let supervisor = s.state("t").unwrap()["supervisor_pid"].as_i64().unwrap() as i32;
        // SAFETY: plain kill(2).
        unsafe { libc::kill(supervisor, libc::SIGKILL) };
        let out = tend.wait(20 * SECS);
        assert_ne!(code(&out), 0, "the guard reports the supervisor's death");
        wait_until(5 * SECS, "every process of the tree to be gone", || {
            marked(&mark).is_empty()
        });
    }
}

#[test]
fn one_signal_to_the_process_group_is_one_stop() {
    // `setsid tend run s.toml & kill -TERM -- -$!`: the guard and (before) the
    // supervisor both got the signal, and the guard's forwarded copy read as a second
    // stop request, which kills at once.
    for sig in [libc::SIGTERM, libc::SIGINT] {
        let s = Scratch::new();
        let (spec, pidf) = ignoring_child(&s, "2s");
        let mut cmd = s.tend(&["run", spec.to_str().unwrap()]);
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        let child = cmd
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let tend = Running::from(child, "tend run (own process group)");
        wait_until(10 * SECS, "the child to start", || {
            pids(&pidf).len() == 1 && s.state("i").is_some_and(|st| st["state"] == "running")
        });
        // SAFETY: plain kill(2) to the process group tend leads.
        unsafe { libc::kill(-tend.pid(), sig) };
        let out = tend.wait(20 * SECS);
        let err = stderr(&out);
        assert!(
            !err.contains("killing every remaining service at once"),
            "signal {sig}: {err}"
        );
        assert!(
            err.contains("killed after the 2s stop timeout"),
            "signal {sig}: {err}"
        );
        assert_eq!(code(&out), 0, "a requested stop is a success: {err}");
    }
}

#[test]
fn timeout_1_is_one_stop() {
    // coreutils' timeout sends its signal to the command, then to its whole process
    // group: the same signal from the same sender, twice, a microsecond apart.
    let has_timeout = std::process::Command::new("timeout")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !has_timeout {
        eprintln!("skipped: no timeout(1) on this machine");
        return;
    }
    for _ in 0..2 {
        let s = Scratch::new();
        let (spec, pidf) = ignoring_child(&s, "2s");
        let mut cmd = std::process::Command::new("timeout");
        cmd.args(["-s", "TERM", "1"])
            .arg(tend_bin())
            .args(["run", spec.to_str().unwrap()])
            .env("TEND_STATE_DIR", s.state_dir())
            .env("TEND_LOG_DIR", s.log_dir())
            .current_dir(s.dir.path());
        let child = cmd
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let tend = Running::from(child, "timeout -s TERM 1 tend run");
        wait_until(10 * SECS, "the child to start", || pids(&pidf).len() == 1);
        let out = tend.wait(20 * SECS);
        let err = stderr(&out);
        assert!(
            !err.contains("killing every remaining service at once"),
            "{err}"
        );
        assert!(err.contains("killed after the 2s stop timeout"), "{err}");
    }
}

/// `tend run` of [`ignoring_child`] (2 s stop timeout), once its child runs.
fn running_ignoring_child(s: &Scratch) -> Running {
    let (spec, pidf) = ignoring_child(s, "2s");
    let tend = s.spawn(&["run", spec.to_str().unwrap()]);
    wait_until(10 * SECS, "the child to start", || {
        pids(&pidf).len() == 1 && s.state("i").is_some_and(|st| st["state"] == "running")
    });
    tend
}

#[test]
fn a_signal_its_sender_repeats_at_once_is_one_stop_another_senders_kills() {
    // A sender that delivers one request twice (timeout(1) does, to the pid and then to
    // the group) makes one stop; another sender's is a second request.
    let s = Scratch::new();
    let tend = running_ignoring_child(&s);
    tend.signal(libc::SIGTERM);
    // The stimulus: a repeat 10 ms later, well inside the guard's repeat window.
    std::thread::sleep(Duration::from_millis(10));
    tend.signal(libc::SIGTERM);
    wait_until(10 * SECS, "the stop to begin", || {
        s.state("i").is_some_and(|st| st["state"] == "stopping")
    });
    let out = tend.wait(20 * SECS);
    let err = stderr(&out);
    assert!(
        !err.contains("killing every remaining service at once"),
        "{err}"
    );
    assert!(err.contains("killed after the 2s stop timeout"), "{err}");

    let s = Scratch::new();
    let tend = running_ignoring_child(&s);
    tend.signal(libc::SIGTERM);
    wait_until(10 * SECS, "the stop to begin", || {
        s.state("i").is_some_and(|st| st["state"] == "stopping")
    });
    // A second request, from another sender: not a repeat, whenever it comes.
    tend.signal_from_elsewhere("TERM");
    let out = tend.wait(20 * SECS);
    let err = stderr(&out);
    assert!(
        err.contains("killing every remaining service at once"),
        "{err}"
    );
    assert!(err.contains("killed at once on a second SIGTERM"), "{err}");
}

#[test]
fn a_second_supervisor_of_the_same_service_is_refused() {
    let s = Scratch::new();
    let pidf = s.path("pids");
    let spec = s.spec(
        "api.toml",
        &fixture_spec("api", &["--pid-file", pidf.to_str().unwrap(), "--hang"], ""),
    );
    let first = s.spawn(&["run", spec.to_str().unwrap()]);
    wait_until(10 * SECS, "the first child to run", || {
        pids(&pidf).len() == 1 && s.state("api").is_some_and(|st| st["state"] == "running")
    });
    let supervisor = s.state("api").unwrap()["supervisor_pid"].as_i64().unwrap();
    // The same spec again, and a `tend up` file with a service of the same name.
    let up = s.spec(
        "tend.toml",
        &format!(
            "[[service]]\n{}",
            fixture_spec("api", &["--pid-file", pidf.to_str().unwrap(), "--hang"], "")
        ),
    );
    for args in [
        vec!["run", spec.to_str().unwrap()],
        vec!["run", "--no-guard", spec.to_str().unwrap()],
        vec!["up", up.to_str().unwrap()],
    ] {
        // Before the fix, a second child started and this never ended by itself.
        let out = s.spawn(&args).wait(10 * SECS);
        let err = stderr(&out);
        assert_eq!(code(&out), 1, "tend {args:?}: {err}");
        assert!(
            err.contains(&format!(
                "a service `api` from {} is already supervised (pid {supervisor})",
                spec.display()
            )),
            "tend {args:?}: {err}"
        );
    }
    assert_eq!(pids(&pidf).len(), 1, "no second child was started");
    let st = s.state("api").unwrap();
    assert_eq!(st["supervisor_pid"].as_i64(), Some(supervisor));
    assert_eq!(st["state"], "running");
    // Once the first one has ended, the service can be supervised again.
    first.signal(libc::SIGTERM);
    let _ = first.wait(20 * SECS);
    let again = s.spawn(&["run", spec.to_str().unwrap()]);
    wait_until(10 * SECS, "a new supervisor to run the service", || {
        pids(&pidf).len() == 2 && s.state("api").is_some_and(|st| st["state"] == "running")
    });
    drop(again);
}
