//! The control channel: `tend start|stop|restart|reopen-logs NAME` reach the services
//! of a running `tend up` / `tend run`, and `tend up FILE NAME...` runs only those.
#![cfg(unix)]

mod common;

use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::Path;
use std::time::Duration;

use common::*;

const SECS: Duration = Duration::from_secs(1);

/// A `[[service]]` table running the fixture with a pid file, hanging.
fn service(s: &Scratch, name: &str, extra: &str) -> String {
    let pidf = q(&s.path(&format!("{name}.pid")));
    format!(
        "[[service]]\nname = \"{name}\"\ncommand = {}\nargs = [\"--pid-file\", {pidf}, \"--hang\"]\n{extra}\n",
        q(&fixture_bin())
    )
}

fn running(s: &Scratch, name: &str) -> bool {
    s.state(name).is_some_and(|st| st["state"] == "running")
}

/// The pid of `name`'s current child, from its state file.
fn child_pid(s: &Scratch, name: &str) -> i32 {
    s.state(name)
        .and_then(|st| st["pid"].as_i64())
        .expect("a child pid") as i32
}

#[test]
fn stop_start_restart_one_service_of_tend_up() {
    let s = Scratch::new();
    let text = format!("{}{}", service(&s, "api", ""), service(&s, "worker", ""));
    let file = s.spec("tend.toml", &text);
    let up = s.spawn(&["up", file.to_str().unwrap()]);
    wait_until(10 * SECS, "both services running", || {
        running(&s, "api") && running(&s, "worker")
    });
    let (api, worker) = (child_pid(&s, "api"), child_pid(&s, "worker"));

    // The channel: a socket only its owner may use.
    let sock = s.state_dir().join("api.sock");
    let meta = std::fs::metadata(&sock).expect("api's control socket");
    assert!(meta.file_type().is_socket());
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    // The private folder it was bound in is gone.
    let left: Vec<String> = std::fs::read_dir(s.state_dir())
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(left.is_empty(), "{left:?}");

    let out = tend(&s, &["status", "api"]);
    assert_eq!(code(&out), 0);
    assert!(stdout(&out).contains("running"), "{}", stdout(&out));

    // Stop: api only; tend up and the worker keep running.
    let out = tend(&s, &["stop", "api"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(
        stdout(&out).contains("`api` is stopped"),
        "{}",
        stdout(&out)
    );
    wait_until(5 * SECS, "api's child gone", || !alive(api));
    assert_eq!(s.state("api").unwrap()["state"], "stopped");
    assert!(alive(worker), "the worker runs on");
    assert!(alive(up.pid()), "tend up runs on");
    assert!(sock.exists(), "the channel stays open");

    // Stopping it again says so, and is no error.
    let out = tend(&s, &["stop", "api"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(
        stdout(&out).contains("`api` is not running (it is stopped)"),
        "{}",
        stdout(&out)
    );

    // Start: a new child.
    let out = tend(&s, &["start", "api"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(running(&s, "api"));
    let started = child_pid(&s, "api");
    assert_ne!(started, api);
    assert!(alive(started));
    assert!(
        stdout(&out).contains(&format!("`api` is running (pid {started})")),
        "{}",
        stdout(&out)
    );

    // Restart: another new child, the old one gone.
    let out = tend(&s, &["restart", "api"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let restarted = child_pid(&s, "api");
    assert_ne!(restarted, started);
    assert!(alive(restarted));
    wait_until(5 * SECS, "the restarted child gone", || !alive(started));
    assert_eq!(child_pid(&s, "worker"), worker, "the worker was left alone");

    let out = tend(&s, &["reopen-logs", "api"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));

    // A signal still ends everything, and the channels go with the supervisor.
    up.signal(libc::SIGINT);
    let out = up.wait(10 * SECS);
    assert_eq!(code(&out), 0);
    assert!(!alive(restarted) && !alive(worker));
    assert!(!sock.exists(), "the socket is removed");
    let err = stderr(&out);
    assert!(err.contains("stopping on `tend stop`"), "{err}");
    assert!(err.contains("restarting on `tend restart`"), "{err}");
}

/// The one service of a `tend run`, stopped through the channel: the supervisor stays
/// up (saying how to go on) until `tend start` or a signal.
#[test]
fn tend_run_stays_up_while_its_service_is_stopped() {
    let s = Scratch::new();
    let pidf = s.path("pids");
    let spec = s.spec(
        "one.toml",
        &fixture_spec("one", &["--pid-file", pidf.to_str().unwrap(), "--hang"], ""),
    );
    let run = s.spawn(&["run", spec.to_str().unwrap()]);
    wait_until(10 * SECS, "one running", || running(&s, "one"));
    let first = child_pid(&s, "one");
    let out = tend(&s, &["stop", "one"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    wait_until(5 * SECS, "the child gone", || !alive(first));
    assert!(alive(run.pid()), "tend run waits for `tend start`");
    let out = tend(&s, &["start", "one"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let second = child_pid(&s, "one");
    assert!(second != first && alive(second));
    run.signal(libc::SIGTERM);
    let out = run.wait(10 * SECS);
    assert_eq!(code(&out), 0);
    assert!(!alive(second));
    let err = stderr(&out);
    assert!(
        err.contains(
            "tend: one: stays stopped until `tend start one`; Ctrl-C (or SIGTERM) ends the supervisor"
        ),
        "{err}"
    );
}

/// A service that ended by itself can be started again while the supervisor runs
/// (another service keeps it up).
#[test]
fn a_service_that_exited_can_be_started_again() {
    let s = Scratch::new();
    let fx = q(&fixture_bin());
    let pidf = s.path("once.pids");
    let text = format!(
        "[[service]]\nname = \"once\"\ncommand = {fx}\nargs = [\"--pid-file\", {}, \"--exit\", \"0\"]\nrestart = {{ policy = \"never\" }}\n\n{}",
        q(&pidf),
        service(&s, "keep", "")
    );
    let file = s.spec("tend.toml", &text);
    let up = s.spawn(&["up", file.to_str().unwrap()]);
    wait_until(10 * SECS, "once exited, keep running", || {
        s.state("once").is_some_and(|st| st["state"] == "exited") && running(&s, "keep")
    });
    assert_eq!(pids(&pidf).len(), 1);
    let out = tend(&s, &["start", "once"]);
    // It runs, then exits at once again: the answer says which.
    assert!(
        stdout(&out).contains("`once` is running") || stderr(&out).contains("`once` is exited"),
        "{out:?}"
    );
    wait_until(5 * SECS, "once ran a second time", || {
        pids(&pidf).len() == 2
    });
    wait_until(5 * SECS, "once exited again", || {
        s.state("once").is_some_and(|st| st["state"] == "exited")
    });
    up.signal(libc::SIGINT);
    assert_eq!(code(&up.wait(10 * SECS)), 0);
}

#[test]
fn no_service_of_that_name_anywhere() {
    let s = Scratch::new();
    let out = tend(&s, &["stop", "nosuch"]);
    assert_eq!(code(&out), 1);
    let err = stderr(&out);
    let sock = s.state_dir().join("nosuch.sock");
    assert!(
        err.starts_with("error: `nosuch` is not installed (no /etc/tend/nosuch.install.json) and no `tend run` or `tend up` supervises it (no control channel ")
            && err.contains(&sock.display().to_string()),
        "{err}"
    );
    assert!(err.contains("= help: run it with `tend run SPEC`"), "{err}");
}

/// A socket left by a killed supervisor is named as such, and the next supervisor
/// replaces it.
#[test]
fn a_stale_socket_is_named_and_replaced() {
    let s = Scratch::new();
    std::fs::create_dir_all(s.state_dir()).unwrap();
    let sock = s.state_dir().join("gone.sock");
    drop(std::os::unix::net::UnixListener::bind(&sock).unwrap());
    let out = tend(&s, &["stop", "gone"]);
    assert_eq!(code(&out), 1);
    assert!(
        stderr(&out).contains("error: the supervisor of `gone` is gone"),
        "{}",
        stderr(&out)
    );
    let spec = s.spec("gone.toml", &fixture_spec("gone", &["--hang"], ""));
    let run = s.spawn(&["run", spec.to_str().unwrap()]);
    wait_until(10 * SECS, "gone running", || running(&s, "gone"));
    let out = tend(&s, &["stop", "gone"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    run.signal(libc::SIGTERM);
    assert_eq!(code(&run.wait(10 * SECS)), 0);
}

/// Another user cannot use the channel: the socket's mode stops them, and so does the
/// supervisor's check of the peer (with the mode opened up).
#[test]
fn another_user_cannot_control_the_service() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("not root: cannot run a command as another user here");
        return;
    }
    let s = Scratch::new();
    let spec = s.spec("svc.toml", &fixture_spec("svc", &["--hang"], ""));
    let run = s.spawn(&["run", spec.to_str().unwrap()]);
    wait_until(10 * SECS, "svc running", || running(&s, "svc"));
    let pid = child_pid(&s, "svc");
    // Only the socket itself may keep `nobody` out.
    for dir in [s.dir.path(), &s.state_dir()] {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let as_nobody = |s: &Scratch| {
        let mut c = std::process::Command::new("setpriv");
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .arg(tend_bin())
            .args(["stop", "svc"])
            .env("TEND_STATE_DIR", s.state_dir());
        let out = c.output().expect("run setpriv");
        eprintln!("--- as nobody: {out:?}");
        out
    };
    let out = as_nobody(&s);
    assert_eq!(code(&out), 1);
    assert!(
        stderr(&out).contains("Permission denied"),
        "{}",
        stderr(&out)
    );
    let sock = s.state_dir().join("svc.sock");
    std::fs::set_permissions(&sock, std::fs::Permissions::from_mode(0o666)).unwrap();
    let out = as_nobody(&s);
    assert_eq!(code(&out), 1);
    assert!(
        stderr(&out).contains("error: uid 65534 may not control this service (only uid 0, which runs its supervisor, and root)"),
        "{}",
        stderr(&out)
    );
    assert!(alive(pid) && running(&s, "svc"), "still running");
    run.signal(libc::SIGTERM);
    assert_eq!(code(&run.wait(10 * SECS)), 0);
}

#[test]
fn up_runs_only_the_named_services_and_their_dependencies() {
    let s = Scratch::new();
    let text = format!(
        "{}{}{}{}",
        service(&s, "web", "depends_on = [\"api\"]"),
        service(&s, "api", "depends_on = [\"db\"]"),
        service(&s, "db", ""),
        service(&s, "other", "")
    );
    let file = s.spec("tend.toml", &text);
    let up = s.spawn(&["up", file.to_str().unwrap(), "api"]);
    wait_until(10 * SECS, "api and db running", || {
        running(&s, "api") && running(&s, "db")
    });
    up.signal(libc::SIGINT);
    let out = up.wait(10 * SECS);
    assert_eq!(code(&out), 0);
    assert!(s.state("web").is_none() && s.state("other").is_none());
    assert!(!Path::new(&s.path("web.pid")).exists());
    let err = stderr(&out);
    assert!(
        err.contains("tend: also running db (needed by api)"),
        "{err}"
    );

    let out = tend(&s, &["up", file.to_str().unwrap(), "apu"]);
    assert_eq!(code(&out), 1);
    let err = stderr(&out);
    assert!(
        err.contains("has no service `apu`; its services: web, api, db, other")
            && err.contains("did you mean `api`?"),
        "{err}"
    );
}

/// `tend completions bash`, sourced in bash, offers the service names of the state
/// folder for `tend stop ` (that of `--state-dir` when the line has one) and those of
/// the spec file for `tend up FILE `; the script calls `tend`, not the path it was
/// made by.
#[test]
fn completions_offer_service_names() {
    let s = Scratch::new();
    for (dir, names) in [
        (s.state_dir(), ["api", "worker"]),
        (s.path("other"), ["db", "web"]),
    ] {
        std::fs::create_dir_all(&dir).unwrap();
        for name in names {
            std::fs::write(dir.join(format!("{name}.json")), "{}").unwrap();
        }
    }
    s.spec(
        "dev.toml",
        &format!("{}{}", service(&s, "front", ""), service(&s, "back", "")),
    );
    let script = tend(&s, &["completions", "bash"]);
    assert_eq!(code(&script), 0);
    let bin = tend_bin();
    assert!(
        !stdout(&script).contains(bin.to_str().unwrap()),
        "{}",
        stdout(&script)
    );
    let path = format!(
        "{}:{}",
        bin.parent().unwrap().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let complete = |line: &[&str]| {
        let words: Vec<String> = line.iter().map(|w| format!("'{w}'")).collect();
        let program = format!(
            "{}\nCOMP_WORDS=({}); COMP_CWORD={}; COMP_TYPE=9\n_clap_complete_tend tend '{}' '{}'\nprintf '%s\\n' \"${{COMPREPLY[@]}}\"\n",
            stdout(&script),
            words.join(" "),
            line.len() - 1,
            line[line.len() - 1],
            line[line.len() - 2],
        );
        let out = std::process::Command::new("bash")
            .args(["--norc", "-c", &program])
            .env("TEND_STATE_DIR", s.state_dir())
            .env("PATH", &path)
            .current_dir(s.dir.path())
            .output()
            .expect("run bash");
        assert!(out.status.success(), "{}", stderr(&out));
        // (With nothing typed yet, the options are offered too.)
        let mut got: Vec<String> = stdout(&out)
            .lines()
            .filter(|w| !w.starts_with('-'))
            .map(str::to_string)
            .collect();
        got.sort();
        got
    };
    assert_eq!(complete(&["tend", "stop", ""]), ["api", "worker"]);
    assert_eq!(complete(&["tend", "restart", "w"]), ["worker"]);
    let other = s.path("other");
    let other = other.to_str().unwrap();
    assert_eq!(
        complete(&["tend", "stop", "--state-dir", other, ""]),
        ["db", "web"]
    );
    assert_eq!(complete(&["tend", "up", "dev.toml", ""]), ["back", "front"]);
}

/// A supervisor hosted by a service manager (here: systemd's notify socket) leaves
/// start and stop to it: the channel refuses them, and says why.
#[test]
fn under_a_service_manager_the_channel_only_reopens_logs() {
    let s = Scratch::new();
    let notify = s.path("notify");
    let _manager = std::os::unix::net::UnixDatagram::bind(&notify).unwrap();
    let spec = s.spec("m.toml", &fixture_spec("m", &["--hang"], ""));
    let child = s
        .tend(&["run", spec.to_str().unwrap()])
        .env("NOTIFY_SOCKET", &notify)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let run = Running::from(child, "tend run m.toml (NOTIFY_SOCKET)");
    wait_until(10 * SECS, "m running", || running(&s, "m"));
    let pid = child_pid(&s, "m");
    let out = tend(&s, &["stop", "m"]);
    assert_eq!(code(&out), 1);
    assert!(
        stderr(&out).contains("error: `m` runs under a service manager, which starts and stops it"),
        "{}",
        stderr(&out)
    );
    assert!(alive(pid) && running(&s, "m"));
    let out = tend(&s, &["reopen-logs", "m"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    run.signal(libc::SIGTERM);
    assert_eq!(code(&run.wait(10 * SECS)), 0);
}

/// A service whose program cannot start (its interpreter is missing) until
/// [`make_ready`] (e.g. until its database is up); it waits an hour between attempts.
fn fails_until_ready(s: &Scratch, name: &str, extra: &str) -> String {
    let script = s.path(&format!("{name}.sh"));
    std::fs::write(&script, "#!/nonexistent/interpreter\n").unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    format!(
        "[[service]]\nname = \"{name}\"\ncommand = {}\n{extra}\n[service.restart.backoff]\ninitial = \"1h\"\nmax = \"1h\"\n\n",
        q(&script)
    )
}

/// The program of [`fails_until_ready`] `name` can start now.
fn make_ready(s: &Scratch, name: &str) {
    let tmp = s.path("ready.tmp");
    std::fs::write(
        &tmp,
        format!("#!/bin/sh\nexec {} --hang\n", fixture_bin().display()),
    )
    .unwrap();
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::rename(&tmp, s.path(&format!("{name}.sh"))).unwrap();
}

/// Whether the fixture of `name` wrote its pid file (it does once its signal
/// handlers are set: with `--ignore-term`, a SIGTERM is ignored from then on).
fn pid_written(s: &Scratch, name: &str) -> bool {
    std::fs::read_to_string(s.path(&format!("{name}.pid"))).is_ok_and(|t| t.ends_with('\n'))
}

fn state_is(s: &Scratch, name: &str, state: &str) -> bool {
    s.state(name).is_some_and(|st| st["state"] == state)
}

/// While `tend up` waits for a dependency (here one in a crash loop), requests to the
/// services that run are carried out completely: a stop is answered, and the service
/// can be started again.
#[test]
fn requests_while_a_dependency_is_awaited() {
    let s = Scratch::new();
    // A program whose interpreter is missing: it cannot start, and waits to retry.
    let script = s.path("broken.sh");
    std::fs::write(&script, "#!/nonexistent/interpreter\n").unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let text = format!(
        "{}[[service]]\nname = \"c\"\ncommand = {}\n[service.restart.backoff]\ninitial = \"1h\"\nmax = \"1h\"\n\n{}",
        service(&s, "z", "[service.stop]\ntimeout = \"2s\""),
        q(&script),
        service(&s, "b", "depends_on = [\"c\"]"),
    );
    let file = s.spec("tend.toml", &text);
    let up = s.spawn(&["up", file.to_str().unwrap()]);
    wait_until(10 * SECS, "z running, c in backoff", || {
        running(&s, "z") && state_is(&s, "c", "backoff")
    });
    let z = child_pid(&s, "z");
    let out = tend(&s, &["stop", "z"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(stdout(&out).contains("`z` is stopped"), "{}", stdout(&out));
    assert!(!alive(z));
    let out = tend(&s, &["start", "z"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(stdout(&out).contains("`z` is running"), "{}", stdout(&out));
    // A start during the backoff tries now, and says that it did not come up.
    let out = tend(&s, &["start", "c"]);
    assert_eq!(code(&out), 1, "{}", stdout(&out));
    assert!(
        stderr(&out).contains("error: `c` is in backoff: "),
        "{}",
        stderr(&out)
    );
    up.signal(libc::SIGINT);
    assert_eq!(code(&up.wait(10 * SECS)), 0);
}

/// A service stopped before it started holds its dependents back (waiting, not
/// failed); `tend start` of it starts them too, a Ctrl-C stops dependents before
/// their dependencies, and nothing counts as failed.
#[test]
fn a_dependency_stopped_before_it_started_holds_its_dependents() {
    let s = Scratch::new();
    let text = format!(
        "{}{}{}",
        fails_until_ready(&s, "c", ""),
        service(&s, "b", "depends_on = [\"c\"]"),
        service(&s, "a", "depends_on = [\"b\"]"),
    );
    let file = s.spec("tend.toml", &text);
    let up = s.spawn(&["up", file.to_str().unwrap()]);
    wait_until(10 * SECS, "c in backoff", || state_is(&s, "c", "backoff"));
    let out = tend(&s, &["stop", "b"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(
        stdout(&out).contains("`b` will not be started (until `tend start b`)"),
        "{}",
        stdout(&out)
    );
    wait_until(5 * SECS, "a says it waits for b", || {
        s.state("a").is_some_and(|st| {
            st["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("waiting for `b`"))
        })
    });
    // c comes up (and is started now, not in an hour).
    make_ready(&s, "c");
    let out = tend(&s, &["start", "c"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(stdout(&out).contains("`c` is running"), "{}", stdout(&out));
    assert!(
        s.state("b").is_none() || !running(&s, "b"),
        "b stays stopped"
    );
    // Starting b starts a, which waited for it.
    let out = tend(&s, &["start", "b"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    wait_until(10 * SECS, "a running", || running(&s, "a"));
    up.signal(libc::SIGINT);
    let out = up.wait(10 * SECS);
    let err = stderr(&out);
    assert_eq!(code(&out), 0, "{err}");
    let at = |name: &str| {
        err.find(&format!("tend: {name}: stopping on SIGINT"))
            .unwrap_or_else(|| panic!("{name} stopped: {err}"))
    };
    assert!(at("a") < at("b") && at("b") < at("c"), "{err}");
    assert!(!err.contains("not started"), "{err}");
}

/// `tend start` of a service starts its stopped dependencies first.
#[test]
fn start_starts_the_stopped_dependencies() {
    let s = Scratch::new();
    let text = format!(
        "{}{}",
        service(&s, "db", ""),
        service(&s, "api", "depends_on = [\"db\"]"),
    );
    let file = s.spec("tend.toml", &text);
    let up = s.spawn(&["up", file.to_str().unwrap()]);
    wait_until(10 * SECS, "both running", || {
        running(&s, "api") && running(&s, "db")
    });
    for name in ["api", "db"] {
        let out = tend(&s, &["stop", name]);
        assert_eq!(code(&out), 0, "{}", stderr(&out));
    }
    let out = tend(&s, &["start", "api"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(running(&s, "db") && running(&s, "api"));
    // db was started before api here (its dependency): a Ctrl-C stops api first.
    // (a_dependency_started_last_still_stops_last has db started last.)
    up.signal(libc::SIGINT);
    let out = up.wait(10 * SECS);
    let err = stderr(&out);
    assert_eq!(code(&out), 0, "{err}");
    let api = err
        .rfind("tend: api: stopping on SIGINT")
        .expect("api stopped");
    let db = err
        .rfind("tend: db: stopping on SIGINT")
        .expect("db stopped");
    assert!(api < db, "{err}");
}

/// A Ctrl-C while `tend stop` is stopping a service says so.
#[test]
fn ctrl_c_while_a_service_is_being_stopped_says_so() {
    let s = Scratch::new();
    let (spec, _) = ignoring_child(&s, "3s");
    // (Not at a terminal here: no "Ctrl-C again" hint; tests/supervise.rs checks it
    // at a pseudo-terminal.)
    let run = s.spawn(&["up", spec.to_str().unwrap()]);
    wait_until(10 * SECS, "i running", || running(&s, "i"));
    let stop = s.spawn(&["stop", "i"]);
    wait_until(5 * SECS, "i stopping", || state_is(&s, "i", "stopping"));
    run.signal(libc::SIGINT);
    let out = run.wait(10 * SECS);
    let err = stderr(&out);
    assert!(
        err.contains("tend: i: already stopping (waiting up to 3s for it)\n"),
        "{err}"
    );
    assert_eq!(code(&stop.wait(10 * SECS)), 0);
}

/// `tend up api` where ./tend.toml has a service `api` (and there is no file `api`)
/// says how to run that service.
#[test]
fn up_with_a_service_name_for_a_file() {
    let s = Scratch::new();
    s.spec("tend.toml", &service(&s, "api", ""));
    let out = tend(&s, &["up", "api"]);
    assert_eq!(code(&out), 1);
    assert_eq!(
        stderr(&out),
        "error: no spec file api; `api` is a service of tend.toml\n  = help: `tend up tend.toml api` runs it (and what it depends on)\n"
    );
    // Any other missing file: as before.
    let out = tend(&s, &["up", "web"]);
    assert!(stderr(&out).starts_with("error: no spec file web (looked for "));
}

/// A `NOTIFY_SOCKET` that nobody listens on (leaked from a unit into a shell) does not
/// make the supervisor a service manager's: `tend stop` works.
#[test]
fn a_leaked_notify_socket_does_not_turn_off_stop() {
    let s = Scratch::new();
    let spec = s.spec("m.toml", &fixture_spec("m", &["--hang"], ""));
    let child = s
        .tend(&["run", spec.to_str().unwrap()])
        .env("NOTIFY_SOCKET", s.path("gone"))
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let run = Running::from(child, "tend run m.toml (a leaked NOTIFY_SOCKET)");
    wait_until(10 * SECS, "m running", || running(&s, "m"));
    let out = tend(&s, &["stop", "m"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    run.signal(libc::SIGTERM);
    assert_eq!(code(&run.wait(10 * SECS)), 0);
}

/// A state folder whose socket path is longer than a socket's address holds (as
/// /var/lib/tend/NAME/NAME.sock is for a long NAME): the channel works all the same.
#[test]
fn a_socket_path_longer_than_an_address_holds() {
    let s = Scratch::new();
    let dir = s.path(&"d".repeat(100));
    let spec = s.spec("long.toml", &fixture_spec("long", &["--hang"], ""));
    let child = s
        .tend(&["run", spec.to_str().unwrap()])
        .env("TEND_STATE_DIR", &dir)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let run = Running::from(child, "tend run long.toml");
    let state = || {
        std::fs::read_to_string(dir.join("long.json"))
            .ok()
            .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
    };
    wait_until(10 * SECS, "long running", || {
        state().is_some_and(|st| st["state"] == "running")
    });
    assert!(dir.join("long.sock").as_os_str().len() > 108);
    let out = s
        .tend(&["stop", "long"])
        .env("TEND_STATE_DIR", &dir)
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(
        stdout(&out).contains("`long` is stopped"),
        "{}",
        stdout(&out)
    );
    run.signal(libc::SIGTERM);
    let out = run.wait(10 * SECS);
    assert!(!stderr(&out).contains("warning"), "{}", stderr(&out));
}

/// A request that is not UTF-8 gets an answer that says so.
#[test]
fn a_request_that_is_not_utf8_is_answered() {
    use std::io::{BufRead, Write};
    let s = Scratch::new();
    let spec = s.spec("u.toml", &fixture_spec("u", &["--hang"], ""));
    let run = s.spawn(&["run", spec.to_str().unwrap()]);
    wait_until(10 * SECS, "u running", || running(&s, "u"));
    let mut sock = std::os::unix::net::UnixStream::connect(s.state_dir().join("u.sock")).unwrap();
    sock.set_read_timeout(Some(5 * SECS)).unwrap();
    sock.write_all(b"{\"verb\":\"stop\",\"service\":\"\xff\"}\n")
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(&sock).read_line(&mut line).unwrap();
    assert!(
        line.starts_with(
            r#"{"ok":false,"state":null,"message":"not a control request (not UTF-8)"#
        ),
        "{line}"
    );
    assert!(running(&s, "u"));
    run.signal(libc::SIGTERM);
    assert_eq!(code(&run.wait(10 * SECS)), 0);
}

/// A service that waited for a dependency stopped on request, never started: its
/// state file says it waited, then that it was stopped; the supervisor exits 0.
#[test]
fn a_waiting_service_that_never_started_ends_stopped() {
    let s = Scratch::new();
    let text = format!(
        "{}{}{}",
        fails_until_ready(&s, "c", ""),
        service(&s, "b", "depends_on = [\"c\"]"),
        service(&s, "a", "depends_on = [\"b\"]"),
    );
    let file = s.spec("tend.toml", &text);
    let up = s.spawn(&["up", file.to_str().unwrap()]);
    wait_until(10 * SECS, "c in backoff", || state_is(&s, "c", "backoff"));
    let out = tend(&s, &["stop", "b"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    wait_until(5 * SECS, "a waits", || state_is(&s, "a", "starting"));
    up.signal(libc::SIGINT);
    let out = up.wait(10 * SECS);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let a = s.state("a").unwrap();
    assert_eq!(a["state"], "stopped");
    assert_eq!(a["message"], "not started: the supervisor stopped");
    let err = stderr(&out);
    assert!(
        err.contains(
            "tend: a: waiting for `b`, which is stopped: starts once `b` runs (`tend start b`)"
        ),
        "{err}"
    );
}

/// `tend start` of a service whose dependency waits to restart (backoff) starts that
/// dependency now; when it cannot run, the start is answered at once (not after the
/// client's timeout) with why, and the service's state file says what it waits for.
#[test]
fn start_tries_a_dependency_in_backoff_now_and_says_why_it_waits() {
    let s = Scratch::new();
    let text = format!(
        "{}{}",
        fails_until_ready(&s, "db", ""),
        service(&s, "api", "depends_on = [\"db\"]"),
    );
    let file = s.spec("tend.toml", &text);
    let up = s.spawn(&["up", file.to_str().unwrap()]);
    wait_until(10 * SECS, "db in backoff", || state_is(&s, "db", "backoff"));
    let out = tend(&s, &["stop", "api"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let asked = std::time::Instant::now();
    let out = tend(&s, &["start", "api"]);
    assert_eq!(code(&out), 1, "{}", stdout(&out));
    assert!(asked.elapsed() < 5 * SECS, "answered at once");
    let err = stderr(&out);
    assert!(
        err.contains("error: `api` is not running: waiting for `db`, which was started for it and did not come up (`db` is in backoff: "),
        "{err}"
    );
    let api = s.state("api").expect("a state file for api");
    assert_eq!(api["state"], "starting");
    assert!(
        api["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("waiting for `db`, which was started for it")),
        "{api}"
    );
    // Once db can run, `tend start api` starts it now (not in an hour), then api.
    make_ready(&s, "db");
    let out = tend(&s, &["start", "api"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(running(&s, "db") && running(&s, "api"));
    up.signal(libc::SIGINT);
    assert_eq!(code(&up.wait(10 * SECS)), 0);
}

/// `tend start x` where x <- d <- e and e was stopped (d waits for it): e, d and x are
/// started, all the way down; while e cannot run, x's start says so at once.
#[test]
fn start_starts_dependencies_all_the_way_down() {
    let s = Scratch::new();
    let text = format!(
        "{}{}{}",
        fails_until_ready(&s, "e", ""),
        service(&s, "d", "depends_on = [\"e\"]"),
        service(&s, "x", "depends_on = [\"d\"]"),
    );
    let file = s.spec("tend.toml", &text);
    let up = s.spawn(&["up", file.to_str().unwrap()]);
    wait_until(10 * SECS, "e in backoff", || state_is(&s, "e", "backoff"));
    let out = tend(&s, &["stop", "e"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let out = tend(&s, &["start", "x"]);
    assert_eq!(code(&out), 1, "{}", stdout(&out));
    assert!(
        stderr(&out).contains("error: `x` is not running: waiting for `d`: waiting for `e`, which was started for it and did not come up"),
        "{}",
        stderr(&out)
    );
    make_ready(&s, "e");
    let out = tend(&s, &["start", "x"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(running(&s, "e") && running(&s, "d") && running(&s, "x"));
    up.signal(libc::SIGINT);
    assert_eq!(code(&up.wait(10 * SECS)), 0);
}

/// A state folder reached through a symlink, with a socket path longer than a
/// socket's address holds: the client follows the symlink.
#[test]
fn a_long_socket_path_through_a_symlinked_state_dir() {
    let s = Scratch::new();
    let real = s.path("real");
    std::fs::create_dir(&real).unwrap();
    let dir = s.path(&"l".repeat(100));
    std::os::unix::fs::symlink(&real, &dir).unwrap();
    let spec = s.spec("long.toml", &fixture_spec("long", &["--hang"], ""));
    let child = s
        .tend(&["run", spec.to_str().unwrap()])
        .env("TEND_STATE_DIR", &dir)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let run = Running::from(child, "tend run long.toml");
    wait_until(10 * SECS, "long running", || {
        std::fs::read_to_string(real.join("long.json")).is_ok_and(|t| t.contains("\"running\""))
    });
    assert!(dir.join("long.sock").as_os_str().len() > 108);
    let out = s
        .tend(&["stop", "long"])
        .env("TEND_STATE_DIR", &dir)
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(
        stdout(&out).contains("`long` is stopped"),
        "{}",
        stdout(&out)
    );
    run.signal(libc::SIGTERM);
    run.wait(10 * SECS);
}

/// A service stopped while it waits to restart: the answer and its state file say
/// so, not the "restarting in 1h" of the backoff.
#[test]
fn a_stop_during_backoff_says_stopped() {
    let s = Scratch::new();
    let file = s.spec("tend.toml", &fails_until_ready(&s, "c", ""));
    let up = s.spawn(&["up", file.to_str().unwrap()]);
    wait_until(10 * SECS, "c in backoff", || state_is(&s, "c", "backoff"));
    let out = tend(&s, &["stop", "c"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(
        stdout(&out).contains("`c` is stopped: stopped on `tend stop` (was waiting to restart)"),
        "{}",
        stdout(&out)
    );
    let c = s.state("c").unwrap();
    assert_eq!(c["state"], "stopped");
    assert_eq!(
        c["message"], "stopped on `tend stop` (was waiting to restart)",
        "{c}"
    );
    up.signal(libc::SIGINT);
    assert_eq!(code(&up.wait(10 * SECS)), 0);
}

/// `tend stop db` while a Ctrl-C stops everything: db stops after api, which
/// depends on it; the client is told to wait for both stop timeouts, not db's alone.
#[test]
fn a_stop_during_shutdown_waits_for_the_dependents_first() {
    use std::io::{BufRead, Write};
    let s = Scratch::new();
    let pidf = q(&s.path("api.pid"));
    let text = format!(
        "{}[[service]]\nname = \"api\"\ncommand = {}\nargs = [\"--ignore-term\", \"--pid-file\", {pidf}, \"--hang\"]\ndepends_on = [\"db\"]\n[service.stop]\ntimeout = \"30s\"\n",
        service(&s, "db", "[service.stop]\ntimeout = \"1s\""),
        q(&fixture_bin()),
    );
    let file = s.spec("tend.toml", &text);
    let up = s.spawn(&["up", file.to_str().unwrap()]);
    wait_until(10 * SECS, "both running", || {
        running(&s, "api") && running(&s, "db")
    });
    wait_until(5 * SECS, "api ignores SIGTERM", || pid_written(&s, "api"));
    let api = child_pid(&s, "api");
    up.signal(libc::SIGINT);
    wait_until(5 * SECS, "api stopping", || state_is(&s, "api", "stopping"));
    let mut sock = std::os::unix::net::UnixStream::connect(s.state_dir().join("db.sock")).unwrap();
    sock.set_read_timeout(Some(10 * SECS)).unwrap();
    sock.write_all(b"{\"verb\":\"stop\",\"service\":\"db\"}\n")
        .unwrap();
    let mut reader = std::io::BufReader::new(&sock);
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    let accepted: serde_json::Value = serde_json::from_str(&line).unwrap();
    let wait_ms = accepted["wait_ms"]
        .as_u64()
        .expect("accepted, with wait_ms");
    assert!(wait_ms >= 31_000, "{line}");
    // api goes (killed here, not after its 30s): then db stops, and the stop is
    // answered.
    unsafe { libc::kill(api, libc::SIGKILL) };
    let out = up.wait(10 * SECS);
    line.clear();
    let _ = reader.read_line(&mut line);
    assert!(line.contains(r#""ok":true"#), "{line}\n{}", stderr(&out));
}

/// Started again after its dependent (so it is the last started), a dependency is
/// still stopped after that dependent: the stop order follows `depends_on`, not the
/// reverse of the start order.
#[test]
fn a_dependency_started_last_still_stops_last() {
    let s = Scratch::new();
    let text = format!(
        "{}{}",
        service(&s, "db", ""),
        service(&s, "api", "depends_on = [\"db\"]"),
    );
    let file = s.spec("tend.toml", &text);
    let up = s.spawn(&["up", file.to_str().unwrap()]);
    wait_until(10 * SECS, "both running", || {
        running(&s, "api") && running(&s, "db")
    });
    let api = child_pid(&s, "api");
    let out = tend(&s, &["stop", "db"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(alive(api), "api keeps running while db is stopped");
    let out = tend(&s, &["start", "db"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(child_pid(&s, "api"), api, "api was not restarted");
    up.signal(libc::SIGINT);
    let out = up.wait(10 * SECS);
    let err = stderr(&out);
    assert_eq!(code(&out), 0, "{err}");
    let at = |name: &str| {
        err.rfind(&format!("tend: {name}: stopping on SIGINT"))
            .unwrap_or_else(|| panic!("{name} stopped: {err}"))
    };
    assert!(at("api") < at("db"), "{err}");
}

/// A second Ctrl-C kills what is left in stop order, dependents first, and says so
/// in that order.
#[test]
fn a_second_ctrl_c_kills_in_stop_order() {
    let s = Scratch::new();
    let ignoring = |name: &str, extra: &str| {
        let pidf = q(&s.path(&format!("{name}.pid")));
        format!(
            "[[service]]\nname = \"{name}\"\ncommand = {}\nargs = [\"--ignore-term\", \"--pid-file\", {pidf}, \"--hang\"]\n{extra}\n[service.stop]\ntimeout = \"30s\"\n\n",
            q(&fixture_bin())
        )
    };
    let text = format!(
        "{}{}",
        ignoring("db", ""),
        ignoring("api", "depends_on = [\"db\"]")
    );
    let file = s.spec("tend.toml", &text);
    let up = s.spawn(&["up", file.to_str().unwrap()]);
    wait_until(10 * SECS, "both running", || {
        running(&s, "api") && running(&s, "db")
    });
    wait_until(5 * SECS, "both ignore SIGTERM", || {
        pid_written(&s, "api") && pid_written(&s, "db")
    });
    let supervisor = s.state("db").unwrap()["supervisor_pid"].as_i64().unwrap() as i32;
    up.signal(libc::SIGINT);
    wait_until(5 * SECS, "api stopping", || state_is(&s, "api", "stopping"));
    // To the supervisor itself: the guard takes a quick repeat for the same signal.
    unsafe { libc::kill(supervisor, libc::SIGINT) };
    let out = up.wait(10 * SECS);
    let err = stderr(&out);
    let at = |name: &str| {
        err.find(&format!("tend: {name}: killing the process tree at once"))
            .unwrap_or_else(|| panic!("{name} killed: {err}"))
    };
    assert!(at("api") < at("db"), "{err}");
}

/// `tend reload NAME`: `[reload] signal` reaches the child itself (which runs on, not
/// restarted), `[reload] command` runs with the child's pid in `TEND_PID` and its exit
/// status decides; a service without `[reload]` says how to add one.
#[test]
fn reload_signals_the_child_or_runs_the_command() {
    let s = Scratch::new();
    let (hups, ready, ran, ok) = (s.path("hups"), s.path("ready"), s.path("ran"), s.path("ok"));
    // Counts SIGHUPs; `wait` returns at once on a trapped signal.
    let counter = format!(
        "trap 'echo hup >> {}' HUP; touch {}; while :; do sleep 5 & wait $!; done",
        hups.display(),
        ready.display()
    );
    let command = format!(
        "echo \"$TEND_PID\" >> {}; test -e {}",
        ran.display(),
        ok.display()
    );
    let text = format!(
        "[[service]]\nname = \"sig\"\ncommand = \"/bin/sh\"\nargs = [\"-c\", {}]\n[service.reload]\nsignal = \"SIGHUP\"\n\n\
         [[service]]\nname = \"cmd\"\ncommand = \"/bin/sh\"\nargs = [\"-c\", \"while :; do sleep 5; done\"]\n[service.reload]\ncommand = [\"/bin/sh\", \"-c\", {}]\n\n\
         {}",
        toml_str(&counter),
        toml_str(&command),
        service(&s, "plain", "")
    );
    let file = s.spec("tend.toml", &text);
    let up = s.spawn(&["up", file.to_str().unwrap()]);
    wait_until(10 * SECS, "every service running, the trap set", || {
        running(&s, "sig") && running(&s, "cmd") && running(&s, "plain") && ready.exists()
    });
    let (sig, cmd) = (child_pid(&s, "sig"), child_pid(&s, "cmd"));
    let since = s.state("sig").unwrap()["since_ms"].clone();

    for n in 1..=2 {
        let out = tend(&s, &["reload", "sig"]);
        assert_eq!(code(&out), 0, "{}", stderr(&out));
        assert!(
            stdout(&out).contains(&format!("reloaded `sig`: sent SIGHUP to pid {sig}")),
            "{}",
            stdout(&out)
        );
        wait_until(5 * SECS, "the child heard it", || {
            std::fs::read_to_string(&hups).is_ok_and(|t| t.lines().count() == n)
        });
    }
    assert_eq!(child_pid(&s, "sig"), sig, "reloaded, not restarted");
    assert_eq!(s.state("sig").unwrap()["restarts"], 0);
    assert_eq!(
        s.state("sig").unwrap()["since_ms"],
        since,
        "running since its start, not since the reload"
    );

    // The command fails until `ok` exists: the answer says how it ended.
    let out = tend(&s, &["reload", "cmd"]);
    assert_eq!(code(&out), 1);
    assert!(
        stderr(&out).contains("error: reload of `cmd` failed: `/bin/sh` ended with exit code 1"),
        "{}",
        stderr(&out)
    );
    std::fs::write(&ok, "").unwrap();
    let out = tend(&s, &["reload", "cmd"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(
        stdout(&out).contains("reloaded `cmd`: `/bin/sh` succeeded"),
        "{}",
        stdout(&out)
    );
    let pids = std::fs::read_to_string(&ran).unwrap();
    assert_eq!(pids, format!("{cmd}\n{cmd}\n"), "TEND_PID is the child's");
    assert_eq!(child_pid(&s, "cmd"), cmd);

    let out = tend(&s, &["reload", "plain"]);
    assert_eq!(code(&out), 1);
    assert!(
        stderr(&out).contains(
            "`plain` has no [reload]: add signal = \"SIGHUP\" or command = [...] to its spec"
        ),
        "{}",
        stderr(&out)
    );

    up.signal(libc::SIGINT);
    let out = up.wait(10 * SECS);
    assert_eq!(code(&out), 0);
    let err = stderr(&out);
    assert!(
        err.contains(&format!(
            "sig | reloaded on `tend reload`: sent SIGHUP to pid {sig}"
        )) || err.contains(&format!(
            "reloaded on `tend reload`: sent SIGHUP to pid {sig}"
        )),
        "{err}"
    );
    assert!(
        err.contains("reload on `tend reload` failed: `/bin/sh` ended with exit code 1"),
        "{err}"
    );
}
