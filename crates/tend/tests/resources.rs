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

/// Whether this test runs as root (creating cgroups needs it).
fn root() -> bool {
    // SAFETY: plain system call.
    unsafe { libc::geteuid() == 0 }
}

/// The folder of `pid`'s cgroup that holds `controller` (v1: its own hierarchy; v2:
/// the unified one, when it offers the controller), from /proc.
fn cgroup_dir(pid: i32, controller: &str) -> Option<std::path::PathBuf> {
    let own = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).ok()?;
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    for m in mounts.lines() {
        let (left, right) = m.split_once(" - ")?;
        let mount = left.split(' ').nth(4)?;
        let mut r = right.split(' ');
        let (fstype, opts) = (r.next()?, r.nth(1).unwrap_or(""));
        let path = match fstype {
            "cgroup" if opts.split(',').any(|o| o == controller) => own.lines().find_map(|l| {
                let mut p = l.splitn(3, ':');
                let (_, c, path) = (p.next()?, p.next()?, p.next()?);
                c.split(',').any(|c| c == controller).then_some(path)
            }),
            "cgroup2"
                if std::fs::read_to_string(format!("{mount}/cgroup.controllers"))
                    .is_ok_and(|c| c.split_whitespace().any(|c| c == controller)) =>
            {
                own.lines().find_map(|l| l.strip_prefix("0::"))
            }
            _ => None,
        };
        if let Some(path) = path {
            return Some(std::path::Path::new(mount).join(path.trim_start_matches('/')));
        }
    }
    None
}

fn read(dir: &std::path::Path, file: &str) -> String {
    std::fs::read_to_string(dir.join(file))
        .unwrap_or_else(|e| panic!("{}: {e}", dir.join(file).display()))
        .trim()
        .to_string()
}

/// The cgroup limits: the child runs in a cgroup of its own, `tend/r-<tend's pid>`,
/// that holds exactly the spec's memory, CPU and task limits (v1 or v2 files, as
/// this host mounts them), and that is removed when the service ends.
#[test]
fn tend_run_puts_the_child_in_a_cgroup_with_the_limits() {
    if !root() {
        eprintln!("skipped: creating cgroups needs root");
        return;
    }
    // A cgroup left by a killed supervisor of the same service (a pid that is not
    // alive) goes when the next one starts.
    let me = std::process::id() as i32;
    let stale = cgroup_dir(me, "memory")
        .expect("a memory controller on this host")
        .join("tend/r-4194300.0");
    std::fs::create_dir_all(&stale).unwrap();
    let s = Scratch::new();
    let (pid, run) = run_with(
        &s,
        "memory_max = \"64MiB\"\ncpu_max = \"50%\"\ncpu_weight = 200\ntasks_max = 64\nnice = 2\n",
    );
    let leaf = format!("r-{}.", run.pid());
    let ours = |dir: &std::path::Path| {
        dir.parent().is_some_and(|p| p.ends_with("tend"))
            && dir
                .file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with(&leaf))
    };
    let mem = cgroup_dir(pid, "memory").expect("a memory controller on this host");
    assert!(ours(&mem), "{}", mem.display());
    if mem.join("memory.max").exists() {
        assert_eq!(read(&mem, "memory.max"), "67108864");
    } else {
        assert_eq!(read(&mem, "memory.limit_in_bytes"), "67108864");
    }
    let cpu = cgroup_dir(pid, "cpu").expect("a cpu controller on this host");
    assert!(ours(&cpu), "{}", cpu.display());
    if cpu.join("cpu.max").exists() {
        assert_eq!(read(&cpu, "cpu.max"), "50000 100000");
        assert_eq!(read(&cpu, "cpu.weight"), "200");
    } else {
        assert_eq!(read(&cpu, "cpu.cfs_quota_us"), "50000");
        assert_eq!(read(&cpu, "cpu.cfs_period_us"), "100000");
        assert_eq!(read(&cpu, "cpu.shares"), "2048");
    }
    let tasks = cgroup_dir(pid, "pids").expect("a pids controller on this host");
    assert!(ours(&tasks), "{}", tasks.display());
    assert_eq!(read(&tasks, "pids.max"), "64");
    // The per-process settings still hold.
    assert_eq!(nice_of(pid), 2);
    assert!(!stale.exists(), "{} is removed", stale.display());
    run.signal(libc::SIGTERM);
    let out = run.wait(20 * SECS);
    assert!(!stderr(&out).contains("not applied"), "{}", stderr(&out));
    for dir in [mem, cpu, tasks] {
        assert!(
            !dir.exists(),
            "{} is removed with the service",
            dir.display()
        );
    }
}

/// A child the OOM killer kills (a memory hog above `memory_max`) is reported as
/// such: in tend's log line, the state file, and `tend status` (text and JSON).
#[test]
fn a_memory_hog_is_reported_as_killed_by_the_oom_killer() {
    if !root() {
        eprintln!("skipped: creating cgroups needs root");
        return;
    }
    let me = std::process::id() as i32;
    assert!(
        cgroup_dir(me, "memory").is_some(),
        "this host mounts no cgroup memory controller"
    );
    let s = Scratch::new();
    let spec = s.spec(
        "hog.toml",
        &fixture_spec(
            "hog",
            &["--hog"],
            "[restart]\npolicy = \"never\"\n[resources]\nmemory_max = \"32MiB\"\n",
        ),
    );
    let run = s.spawn(&["run", "--no-guard", spec.to_str().unwrap()]);
    let out = run.wait(60 * SECS);
    let err = stderr(&out);
    assert!(
        err.contains("killed by the OOM killer (signal SIGKILL)"),
        "{err}"
    );
    let st = s.state("hog").expect("a state file");
    assert_eq!(st["last_exit"]["signal"], "SIGKILL", "{st}");
    assert_eq!(st["last_exit"]["oom_killed"], true, "{st}");
    let text = s.tend(&["status", "hog"]).output().unwrap();
    assert!(
        String::from_utf8_lossy(&text.stdout).contains("OOM-killed"),
        "{}",
        String::from_utf8_lossy(&text.stdout)
    );
    let json = s.tend(&["status", "--json", "hog"]).output().unwrap();
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    let row = if v.is_array() { &v[0] } else { &v };
    assert_eq!(row["last_exit"]["oom_killed"], true, "{v}");
    // tend doctor names it, with the memory to raise.
    let doc = s.tend(&["doctor", "hog", "--json"]).output().unwrap();
    let v: serde_json::Value = serde_json::from_slice(&doc.stdout).unwrap();
    let oom = v[0]["findings"]
        .as_array()
        .and_then(|f| f.iter().find(|x| x["id"] == "oom-kill"))
        .unwrap_or_else(|| panic!("no oom-kill finding: {v}"));
    assert!(
        oom["fix"]
            .as_str()
            .is_some_and(|f| f.contains("resources.memory_max")),
        "{oom}"
    );
}

/// A plain SIGKILL is not an OOM kill, even with a memory limit set.
#[test]
fn a_plain_sigkill_is_not_an_oom_kill() {
    if !root() {
        eprintln!("skipped: creating cgroups needs root");
        return;
    }
    let s = Scratch::new();
    let spec = s.spec(
        "k.toml",
        &fixture_spec(
            "k",
            &["--kill-self", "9"],
            "[restart]\npolicy = \"never\"\n[resources]\nmemory_max = \"32MiB\"\n",
        ),
    );
    let out = s
        .spawn(&["run", "--no-guard", spec.to_str().unwrap()])
        .wait(20 * SECS);
    assert!(!stderr(&out).contains("OOM"), "{}", stderr(&out));
    let st = s.state("k").expect("a state file");
    assert_eq!(st["last_exit"]["signal"], "SIGKILL", "{st}");
    assert!(st["last_exit"].get("oom_killed").is_none(), "{st}");
}

/// A restart: the replacement gets a cgroup of its own, with the limit, and the old
/// child's cgroup, removed after the replacement started, takes nothing with it.
#[test]
fn a_restarted_child_runs_on_in_a_cgroup_of_its_own() {
    if !root() {
        eprintln!("skipped: creating cgroups needs root");
        return;
    }
    let s = Scratch::new();
    let (first, run) = run_with(&s, "memory_max = \"64MiB\"\n");
    let old = cgroup_dir(first, "memory").expect("a memory controller on this host");
    let out = s.tend(&["restart", "r"]).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let child = || s.state("r").and_then(|st| st["pid"].as_i64()).unwrap_or(0) as i32;
    wait_until(20 * SECS, "a new child", || {
        child() != first && child() != 0
    });
    let second = child();
    wait_until(20 * SECS, "the old cgroup removed", || !old.exists());
    assert!(
        alive(second),
        "the new child survives the removal of the old cgroup"
    );
    let new = cgroup_dir(second, "memory").unwrap();
    assert_ne!(new, old);
    let limit = if new.join("memory.max").exists() {
        read(&new, "memory.max")
    } else {
        read(&new, "memory.limit_in_bytes")
    };
    assert_eq!(limit, "67108864");
    assert_eq!(s.state("r").unwrap()["restarts"], 1);
    run.signal(libc::SIGTERM);
    run.wait(20 * SECS);
}
