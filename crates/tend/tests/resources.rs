//! `[resources]` under `tend run`: the child the fixture runs as shows exactly the
//! spec's limits and scheduling in /proc, and a setting the kernel refuses is named in
//! a warning while the child still runs.
#![cfg(target_os = "linux")]

mod common;

use std::time::Duration;

use common::*;

const SECS: Duration = Duration::from_secs(1);

/// Runs `[resources]` `body` under `tend run` until its child runs; the child's pid
/// and tend (to stop).
fn run_with(s: &Scratch, body: &str) -> (i32, Running) {
    let pidf = s.path("pids");
    let spec = s.spec(
        "r.toml",
        &fixture_spec(
            "r",
            &["--pid-file", pidf.to_str().unwrap(), "--hang"],
            &format!("[resources]\n{body}"),
        ),
    );
    let run = s.spawn(&["run", "--no-guard", spec.to_str().unwrap()]);
    wait_until(20 * SECS, "the child runs", || {
        s.state("r").is_some_and(|st| st["state"] == "running") && !pids(&pidf).is_empty()
    });
    let pid = pids(&pidf)[0];
    (pid, run)
}

/// The soft and hard values of a line of /proc/PID/limits.
fn limit(pid: i32, name: &str) -> (String, String) {
    let text = std::fs::read_to_string(format!("/proc/{pid}/limits")).unwrap();
    let line = text
        .lines()
        .find(|l| l.starts_with(name))
        .unwrap_or_else(|| panic!("no {name} in\n{text}"));
    let mut words = line[name.len()..].split_whitespace();
    (
        words.next().unwrap().to_string(),
        words.next().unwrap().to_string(),
    )
}

fn status_field(pid: i32, field: &str) -> String {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .unwrap_or_else(|| panic!("no {field} in\n{text}"))
        .trim()
        .to_string()
}

/// The 19th field of /proc/PID/stat (after the command's parentheses): the niceness.
fn nice_of(pid: i32) -> i32 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let after = &stat[stat.rfind(')').unwrap() + 2..];
    // Fields from the 3rd (state) on: nice is the 19th.
    after.split_whitespace().nth(16).unwrap().parse().unwrap()
}

#[test]
fn tend_run_applies_limits_affinity_and_scheduling_to_the_child() {
    let s = Scratch::new();
    let (pid, run) = run_with(
        &s,
        "nofile = 1234\nmemlock = \"64KiB\"\ncpu_affinity = [0]\nnice = 7\n\
         io_class = \"best-effort\"\nio_priority = 6\noom_score_adjust = 321\n\
         scheduling = { policy = \"batch\" }\n",
    );
    assert_eq!(limit(pid, "Max open files"), ("1234".into(), "1234".into()));
    assert_eq!(
        limit(pid, "Max locked memory"),
        ("65536".into(), "65536".into())
    );
    assert_eq!(status_field(pid, "Cpus_allowed_list"), "0");
    assert_eq!(nice_of(pid), 7);
    assert_eq!(
        std::fs::read_to_string(format!("/proc/{pid}/oom_score_adj"))
            .unwrap()
            .trim(),
        "321"
    );
    // SAFETY: plain system calls about another process.
    let (policy, ioprio) = unsafe {
        (
            libc::sched_getscheduler(pid),
            libc::syscall(libc::SYS_ioprio_get, 1, pid),
        )
    };
    assert_eq!(policy, libc::SCHED_BATCH);
    assert_eq!(ioprio, (2 << 13) | 6, "best-effort, 6");
    run.signal(libc::SIGTERM);
    let out = run.wait(20 * SECS);
    assert!(
        !stderr(&out).contains("not applied"),
        "everything was applied: {}",
        stderr(&out)
    );
}

/// A limit the kernel refuses (open files above `fs.nr_open`, refused even to root)
/// is named in a warning, and the child runs all the same, with the other settings.
#[test]
fn a_setting_the_kernel_refuses_is_named_and_the_child_runs() {
    let s = Scratch::new();
    let (pid, run) = run_with(&s, "nofile = 2000000000\nnice = 3\n");
    assert_eq!(nice_of(pid), 3);
    run.signal(libc::SIGTERM);
    let out = run.wait(20 * SECS);
    let err = stderr(&out);
    assert!(
        err.contains("r: warning: `resources.nofile` not applied: setrlimit(RLIMIT_NOFILE) failed"),
        "{err}"
    );
    assert!(!err.contains("`resources.nice` not applied"), "{err}");
}
