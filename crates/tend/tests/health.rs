//! Health checks end to end: `tend run` probing a real child (the fixture's
//! `GET /healthz`), finding it unhealthy when it hangs, and replacing it.

mod common;

use std::time::Duration;

use common::*;

const SECS: Duration = Duration::from_secs(1);

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// A service answering `GET /healthz` on a free port, probed every 200 ms (with time
/// to answer on a loaded machine: 1 s).
fn healthy_child(s: &Scratch, extra: &str) -> (std::path::PathBuf, std::path::PathBuf, u16) {
    let pidf = s.path("pids");
    let port = free_port();
    let p = port.to_string();
    let args = [
        "--http-stop",
        &p,
        "--pid-file",
        pidf.to_str().unwrap(),
        "--hang",
    ];
    let extra = format!(
        "[stop]\ntimeout = \"1s\"\n[health]\nhttp = \"http://127.0.0.1:{port}/healthz\"\ninterval = \"200ms\"\ntimeout = \"1s\"\nretries = 2\n{extra}"
    );
    (
        s.spec("h.toml", &fixture_spec("h", &args, &extra)),
        pidf,
        port,
    )
}

fn health_of(s: &Scratch) -> Option<serde_json::Value> {
    s.state("h").and_then(|v| v.get("health").cloned())
}

#[test]
fn a_stopped_process_is_found_unhealthy_and_replaced() {
    let s = Scratch::new();
    let (spec, pidf, port) = healthy_child(&s, "");
    let tend = s.spawn(&["run", spec.to_str().unwrap()]);
    wait_until(10 * SECS, "the first healthy probe", || {
        health_of(&s).is_some_and(|h| h["state"] == "healthy")
    });
    let first = pids(&pidf)[0];
    // Hung: it neither answers nor handles SIGTERM.
    unsafe { libc::kill(first, libc::SIGSTOP) };
    wait_until(20 * SECS, "a second child, healthy", || {
        pids(&pidf).len() == 2 && health_of(&s).is_some_and(|h| h["state"] == "healthy")
    });
    assert!(!alive(first), "the hung child was killed");
    let state = s.state("h").unwrap();
    assert_eq!(state["restarts"], 1, "{state}");
    // The new child's record starts over: what the old one failed is in the log.
    assert_eq!(health_of(&s).unwrap()["failures"], 0);
    tend.signal(libc::SIGTERM);
    let out = tend.wait(10 * SECS);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let err = stderr(&out);
    for line in [
        format!("h: healthy: GET http://127.0.0.1:{port}/healthz answered 200 ("),
        format!("h: unhealthy: 2 probes in a row failed, the last: GET http://127.0.0.1:{port}/healthz: no answer within 1s"),
        format!("h: restarting on failed health checks: sent SIGTERM to pid {first}, waiting up to 1s"),
        "h: did not stop within 1s; killed the process tree".to_string(),
        format!("h: unhealthy (GET http://127.0.0.1:{port}/healthz: no answer within 1s), killed after the 1s stop timeout; restarted (pid "),
    ] {
        assert!(err.contains(&line), "missing {line:?} in:\n{err}");
    }
}

#[test]
fn status_shows_the_health_and_the_last_probe() {
    let s = Scratch::new();
    // Nothing listens where it is probed: starting, then unhealthy, reported only.
    let port = free_port();
    let spec = s.spec(
        "h.toml",
        &fixture_spec(
            "h",
            &["--hang"],
            &format!("[health]\ntcp = \"127.0.0.1:{port}\"\ninterval = \"200ms\"\nretries = 2\non_unhealthy = \"report\"\n"),
        ),
    );
    let tend = s.spawn(&["run", spec.to_str().unwrap()]);
    wait_until(10 * SECS, "unhealthy", || {
        health_of(&s).is_some_and(|h| h["state"] == "unhealthy")
    });
    let out = s.tend(&["status", "--json", "h"]).output().unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let h = &v[0]["health"];
    assert_eq!(h["state"], "unhealthy", "{v}");
    assert_eq!(h["last_probe"]["ok"], false, "{v}");
    let result = h["last_probe"]["result"].as_str().unwrap();
    assert!(
        result.starts_with(&format!(
            "connect to 127.0.0.1:{port}: cannot connect to 127.0.0.1:{port}: "
        )),
        "{result}"
    );
    let out = s.tend(&["status", "h"]).output().unwrap();
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(table.contains(" running unhealthy "), "{table}");
    assert!(
        table.contains(&format!("health: connect to 127.0.0.1:{port}")),
        "{table}"
    );
    tend.signal(libc::SIGTERM);
    assert_eq!(code(&tend.wait(10 * SECS)), 0);
}

#[test]
fn up_starts_a_dependent_once_its_dependency_is_healthy() {
    let s = Scratch::new();
    let (db_pids, api_pids, ready) = (s.path("db-pids"), s.path("api-pids"), s.path("ready"));
    // db runs at once, but its probe (a command) passes only once `ready` exists.
    let text = format!(
        r#"[[service]]
name = "db"
command = {fixture}
args = ["--pid-file", {dbp}, "--hang"]
[service.health]
command = ["/usr/bin/test", "-e", {ready}]
interval = "100ms"
start_period = "1m"

[[service]]
name = "api"
command = {fixture}
args = ["--pid-file", {apip}, "--hang"]
depends_on = ["db"]
"#,
        fixture = q(&fixture_bin()),
        dbp = q(&db_pids),
        apip = q(&api_pids),
        ready = q(&ready),
    );
    let spec = s.spec("tend.toml", &text);
    let tend = s.spawn(&["up", spec.to_str().unwrap()]);
    wait_until(10 * SECS, "db to be probed a few times", || {
        pids(&db_pids).len() == 1
            && s.state("db").is_some_and(|v| {
                v["health"]["last_error"]
                    .as_str()
                    .is_some_and(|e| e.ends_with("ended with exit code 1"))
            })
    });
    assert!(
        pids(&api_pids).is_empty(),
        "api started before db was healthy"
    );
    std::fs::write(&ready, "").unwrap();
    wait_until(10 * SECS, "api to start", || pids(&api_pids).len() == 1);
    assert_eq!(s.state("db").unwrap()["health"]["state"], "healthy");
    tend.signal(libc::SIGTERM);
    let out = tend.wait(10 * SECS);
    let err = stderr(&out);
    let healthy = err.find("healthy: `/usr/bin/test` exited 0");
    let api = err
        .find("api | started")
        .or_else(|| err.find("api: started"));
    assert!(healthy.is_some() && api.is_some() && healthy < api, "{err}");
}

#[test]
fn restart_waits_for_the_first_healthy_probe_and_fails_with_the_probe_error() {
    let s = Scratch::new();
    let ready = s.path("ready");
    let spec = s.spec(
        "h.toml",
        &fixture_spec(
            "h",
            &["--hang"],
            &format!(
                "[health]\ncommand = [\"/usr/bin/test\", \"-e\", {}]\ninterval = \"100ms\"\nretries = 3\non_unhealthy = \"report\"\n",
                q(&ready)
            ),
        ),
    );
    let tend = s.spawn(&["run", spec.to_str().unwrap()]);
    wait_until(10 * SECS, "unhealthy", || {
        health_of(&s).is_some_and(|h| h["state"] == "unhealthy")
    });
    // Never healthy: the restart fails, and says why.
    let out = s.tend(&["restart", "h"]).output().unwrap();
    let err = stderr(&out);
    assert_ne!(code(&out), 0, "{err}");
    assert!(
        err.contains("unhealthy: `/usr/bin/test`: ended with exit code 1"),
        "{err}"
    );
    // Healthy once the probe passes: the restart answers then, not at the start.
    std::fs::write(&ready, "").unwrap();
    let out = s.tend(&["restart", "h"]).output().unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(health_of(&s).unwrap()["state"], "healthy");
    tend.signal(libc::SIGTERM);
    assert_eq!(code(&tend.wait(10 * SECS)), 0);
}

/// Under systemd: READY=1 only once a probe passed; an unhealthy child's restart is the
/// supervisor's own (no STOPPING=1, which would make systemd stop the whole unit).
#[test]
fn systemd_hears_ready_when_healthy_and_no_stopping_on_an_unhealthy_restart() {
    use std::os::unix::net::UnixDatagram;
    let s = Scratch::new();
    let sock_path = s.path("notify.sock");
    let sock = UnixDatagram::bind(&sock_path).unwrap();
    let ready = s.path("ready");
    let spec = s.spec(
        "h.toml",
        &fixture_spec(
            "h",
            &["--hang"],
            &format!(
                "[health]\ncommand = [\"/usr/bin/test\", \"-e\", {}]\ninterval = \"100ms\"\nretries = 2\n",
                q(&ready)
            ),
        ),
    );
    let mut cmd = s.tend(&["run", spec.to_str().unwrap()]);
    cmd.env("NOTIFY_SOCKET", &sock_path)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let tend = Running::from(cmd.spawn().unwrap(), "tend run (notify)");
    let mut got: Vec<String> = Vec::new();
    let mut buf = [0u8; 4096];
    let mut drain = |got: &mut Vec<String>| {
        sock.set_nonblocking(true).unwrap();
        while let Ok(n) = sock.recv(&mut buf) {
            got.push(String::from_utf8_lossy(&buf[..n]).to_string());
        }
    };
    // Probed and failing (not yet counted: its first failures, in a row, make it
    // unhealthy only at 2): no READY=1.
    wait_until(10 * SECS, "a failed probe", || {
        health_of(&s).is_some_and(|h| h["last_error"].is_string())
    });
    drain(&mut got);
    assert!(!got.iter().any(|m| m.contains("READY=1")), "{got:?}");
    std::fs::write(&ready, "").unwrap();
    wait_until(10 * SECS, "READY=1", || {
        drain(&mut got);
        got.iter().any(|m| m.contains("READY=1"))
    });
    assert_eq!(health_of(&s).unwrap()["state"], "healthy");
    // Unhealthy: restarted by the supervisor, without a word of stopping to systemd.
    let restarts = |s: &Scratch| {
        s.state("h")
            .map_or(0, |v| v["restarts"].as_u64().unwrap_or(0))
    };
    let before = restarts(&s);
    std::fs::remove_file(&ready).unwrap();
    wait_until(10 * SECS, "an unhealthy restart", || restarts(&s) > before);
    std::fs::write(&ready, "").unwrap();
    wait_until(10 * SECS, "healthy again", || {
        health_of(&s).is_some_and(|h| h["state"] == "healthy")
    });
    drain(&mut got);
    assert!(
        got.iter()
            .any(|m| m.contains("STATUS=stopping: restarting on failed health checks")),
        "{got:?}"
    );
    assert!(!got.iter().any(|m| m.contains("STOPPING=1")), "{got:?}");
    tend.signal(libc::SIGTERM);
    let out = tend.wait(10 * SECS);
    assert_eq!(code(&out), 0);
    drain(&mut got);
    assert!(got.iter().any(|m| m.contains("STOPPING=1")), "{got:?}");
}

/// A probe command that hangs is killed when its probe is given up (the service is
/// stopped), not left running until its own timeout.
#[test]
fn a_hanging_probe_command_is_killed_when_the_service_stops() {
    let s = Scratch::new();
    let probe_pids = s.path("probe-pids");
    let text = format!(
        r#"[[service]]
name = "h"
command = {fixture}
args = ["--hang"]
[service.health]
command = [{fixture}, "--pid-file", {pp}, "--hang"]
interval = "100ms"
timeout = "1h"

[[service]]
name = "other"
command = {fixture}
args = ["--hang"]
"#,
        fixture = q(&fixture_bin()),
        pp = q(&probe_pids),
    );
    let spec = s.spec("tend.toml", &text);
    let tend = s.spawn(&["up", spec.to_str().unwrap()]);
    wait_until(10 * SECS, "the probe command to run", || {
        pids(&probe_pids).len() == 1
    });
    let probe = pids(&probe_pids)[0];
    let out = s.tend(&["stop", "h"]).output().unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    wait_until(10 * SECS, "the hanging probe to be killed", || {
        !alive(probe)
    });
    tend.signal(libc::SIGTERM);
    assert_eq!(code(&tend.wait(10 * SECS)), 0);
}

/// In `tend up`, a service waits for a dependency that runs but is unhealthy, and says
/// so; `tend start` of the unhealthy one fails, naming the probe's error.
#[test]
fn a_dependent_waits_for_an_unhealthy_dependency_and_says_why() {
    let s = Scratch::new();
    let port = free_port();
    let text = format!(
        r#"[[service]]
name = "db"
command = {fixture}
args = ["--hang"]
[service.health]
tcp = "127.0.0.1:{port}"
interval = "100ms"
retries = 1
on_unhealthy = "report"

[[service]]
name = "api"
command = {fixture}
args = ["--hang"]
depends_on = ["db"]
"#,
        fixture = q(&fixture_bin()),
    );
    let spec = s.spec("tend.toml", &text);
    let tend = s.spawn(&["up", spec.to_str().unwrap()]);
    let why = format!(
        "waiting for `db`, which is unhealthy: connect to 127.0.0.1:{port}: cannot connect to 127.0.0.1:{port}"
    );
    wait_until(10 * SECS, "api to say why it waits", || {
        s.state("api")
            .and_then(|v| v["message"].as_str().map(str::to_string))
            .is_some_and(|m| m.starts_with(&why))
    });
    let out = s.tend(&["start", "db"]).output().unwrap();
    let err = stderr(&out);
    assert_ne!(code(&out), 0, "{err}");
    assert!(
        err.contains(&format!("but unhealthy: connect to 127.0.0.1:{port}")),
        "{err}"
    );
    tend.signal(libc::SIGTERM);
    assert_eq!(code(&tend.wait(10 * SECS)), 0);
}
