//! Upgrades end to end under `tend run`: releases signed with the real `minisign`
//! tool (Debian's package; `.ci/run` installs it), a good one made live once healthy,
//! unsigned, wrongly signed and altered ones refused with nothing changed, one that
//! never becomes healthy and one that exits rolled back by themselves, and `tend
//! rollback` by hand.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::releases::*;
use common::*;

const SECS: Duration = Duration::from_secs(1);

/// Serves the files of `dir` over HTTP on loopback (GET only, one connection at a
/// time, 404 for what is not there) for the rest of the test; its base URL.
fn serve(dir: &Path) -> String {
    use std::io::{BufRead, BufReader, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let dir = dir.to_path_buf();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            let mut reader = BufReader::new(conn.try_clone().unwrap());
            let mut first = String::new();
            let _ = reader.read_line(&mut first);
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
            }
            let path = first
                .split(' ')
                .nth(1)
                .unwrap_or("/")
                .trim_start_matches('/');
            let _ = match std::fs::read(dir.join(path)) {
                Ok(body) => conn
                    .write_all(
                        format!(
                            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                            body.len()
                        )
                        .as_bytes(),
                    )
                    .and_then(|()| conn.write_all(&body)),
                Err(_) => conn.write_all(
                    b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                ),
            };
        }
    });
    base
}

#[test]
fn signed_releases_go_live_when_healthy_and_bad_ones_are_refused_or_rolled_back() {
    let s = Scratch::new();
    let (public, secret) = key_pair(&s, "release");
    let (_, other_secret) = key_pair(&s, "stranger");
    let port = free_port();
    // The program before any upgrade: a copy of the fixture named `app`.
    let app = s.path("app");
    std::fs::copy(fixture_bin(), &app).unwrap();
    let spec = s.spec(
        "app.toml",
        &format!(
            r#"name = "app"
command = {app:?}
args = ["--http-stop", "{port}", "--hang"]
[stop]
timeout = "2s"
[health]
http = "http://127.0.0.1:{port}/healthz"
interval = "200ms"
timeout = "1s"
retries = 2
[update]
public_keys = [{public:?}]
verify_within = "4s"
"#
        ),
    );
    let tend = s.spawn(&["run", spec.to_str().unwrap()]);
    wait_until(15 * SECS, "the first healthy probe", || healthy(&s));
    let first = pid(&s);
    let upgrade = |artifact: &Path, extra: &[&str]| {
        let mut args = vec!["upgrade", "app", artifact.to_str().unwrap()];
        args.extend(extra);
        s.tend(&args).output().unwrap()
    };

    // A good release: the fixture itself, signed as 2.0.
    let good = s.path("release-2.0");
    std::fs::copy(fixture_bin(), &good).unwrap();
    // Writable by everyone: the release's program is not.
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&good, std::fs::Permissions::from_mode(0o777)).unwrap();
    }
    sign(&good, &secret, "2.0");
    let out = upgrade(&good, &["--dry-run"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout)
            .contains("would switch `app` from the spec's command to release 2.0"),
        "{out:?}"
    );
    assert_eq!(pid(&s), first, "a dry run changes nothing");
    assert_eq!(index(&s)["current"], serde_json::Value::Null);
    let out = upgrade(&good, &[]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        said.contains("upgraded from the spec's command to release 2.0: ready after"),
        "{said}"
    );
    let second = pid(&s);
    assert_ne!(second, first, "restarted on the new release");
    let release_dir = s.state_dir().join("releases/app/2.0");
    assert_eq!(
        exe(second),
        release_dir.join("app"),
        "it runs the release's program"
    );
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(release_dir.join("app"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o7777, 0o755);
    }
    assert_eq!(index(&s)["current"], "2.0");
    assert_eq!(index(&s)["previous"], serde_json::json!([null]));
    assert_eq!(
        std::fs::read_link(s.state_dir().join("releases/app/current")).unwrap(),
        PathBuf::from("2.0")
    );
    assert!(healthy(&s));
    let out = s.tend(&["status", "app", "--json"]).output().unwrap();
    let rows: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        rows[0]["releases"],
        serde_json::json!({"current": "2.0", "previous": [null], "rolled_back": []})
    );
    let out = s.tend(&["status", "app"]).output().unwrap();
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("release 2.0 (before: the spec's command)"),
        "{out:?}"
    );

    // Refused before anything changes: no signature, another key's, an altered file.
    let unsigned = s.path("release-2.1");
    std::fs::copy(fixture_bin(), &unsigned).unwrap();
    let out = upgrade(&unsigned, &[]);
    assert_eq!(code(&out), 1);
    assert!(
        stderr(&out).contains("cannot read the signature"),
        "{}",
        stderr(&out)
    );
    let sig = sign(&unsigned, &other_secret, "2.1");
    let out = upgrade(&unsigned, &["--signature", sig.to_str().unwrap()]);
    assert_eq!(code(&out), 1);
    assert!(
        stderr(&out).contains("which is not in update.public_keys"),
        "{}",
        stderr(&out)
    );
    sign(&unsigned, &secret, "2.1");
    let mut bytes = std::fs::read(&unsigned).unwrap();
    bytes.push(0);
    std::fs::write(&unsigned, bytes).unwrap();
    let out = upgrade(&unsigned, &[]);
    assert_eq!(code(&out), 1);
    assert!(
        stderr(&out).contains("the signature does not match"),
        "{}",
        stderr(&out)
    );
    assert!(stderr(&out).contains("nothing changed"), "{}", stderr(&out));
    assert_eq!(pid(&s), second, "still the same child");
    assert_eq!(index(&s)["current"], "2.0");
    assert!(
        !s.state_dir().join("releases/app/2.1").exists(),
        "nothing unpacked"
    );

    // A release that runs but never becomes healthy: rolled back after verify_within.
    let deaf = script(
        &s,
        "release-3.0",
        &format!("exec {:?} --hang", fixture_bin()),
    );
    sign(&deaf, &secret, "3.0");
    let out = upgrade(&deaf, &[]);
    assert_eq!(code(&out), 1, "{out:?}");
    let err = stderr(&out);
    assert!(err.contains("release 3.0 was not ready within 4s"), "{err}");
    assert!(
        err.contains("connection refused") || err.contains("Connection refused"),
        "the probe's last error: {err}"
    );
    assert!(err.contains("rolled back to release 2.0"), "{err}");
    // What it is now: release 2.0's child, not 3.0's verdict.
    assert!(
        err.contains("; `app` is running (pid") && !err.contains("but unhealthy"),
        "{err}"
    );
    assert_eq!(index(&s)["current"], "2.0");
    assert_eq!(index(&s)["rolled_back"], serde_json::json!(["3.0"]));
    wait_until(10 * SECS, "healthy on 2.0 again", || healthy(&s));
    assert_eq!(exe(pid(&s)), release_dir.join("app"));

    // A release that exits at once: rolled back without waiting it out.
    let broken = script(&s, "release-4.0", "echo 'cannot open config' >&2; exit 3");
    sign(&broken, &secret, "4.0");
    let out = upgrade(&broken, &[]);
    assert_eq!(code(&out), 1, "{out:?}");
    assert!(
        stderr(&out).contains("rolled back to release 2.0"),
        "{}",
        stderr(&out)
    );
    wait_until(10 * SECS, "healthy on 2.0 again", || healthy(&s));

    // From a URL, the signature beside it (ARTIFACT.minisig): downloaded, then as
    // from a path.
    let served = s.path("served");
    std::fs::create_dir(&served).unwrap();
    let by_url = served.join("app-2.5");
    std::fs::copy(fixture_bin(), &by_url).unwrap();
    sign(&by_url, &secret, "2.5");
    let base = serve(&served);
    let out = s
        .tend(&["upgrade", "app", &format!("{base}/app-2.5")])
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("to release 2.5: ready after"),
        "{out:?}"
    );
    assert_eq!(exe(pid(&s)), s.state_dir().join("releases/app/2.5/app"));
    let out = s
        .tend(&["upgrade", "app", &format!("{base}/missing")])
        .output()
        .unwrap();
    assert_eq!(code(&out), 1);
    assert!(stderr(&out).contains("404"), "{}", stderr(&out));
    let out = s.tend(&["rollback", "app"]).output().unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("rolled back to release 2.0"),
        "{out:?}"
    );
    wait_until(10 * SECS, "healthy on 2.0 again", || healthy(&s));

    // A .tar.gz of a folder (made by the real tar): its one top folder is stripped,
    // the program is `app` inside it.
    let pkg = s.path("pkg/app-2.6");
    std::fs::create_dir_all(&pkg).unwrap();
    std::fs::copy(fixture_bin(), pkg.join("app")).unwrap();
    std::fs::write(pkg.join("README"), "orders 2.6\n").unwrap();
    let archive = s.path("app-2.6.tar.gz");
    let tar = Command::new("tar")
        .arg("czf")
        .arg(&archive)
        .arg("-C")
        .arg(s.path("pkg"))
        .arg("app-2.6")
        .status()
        .unwrap();
    assert!(tar.success());
    sign(&archive, &secret, "2.6");
    let out = upgrade(&archive, &[]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let release = s.state_dir().join("releases/app/2.6");
    assert_eq!(exe(pid(&s)), release.join("app"));
    assert_eq!(
        std::fs::read_to_string(release.join("README")).unwrap(),
        "orders 2.6\n"
    );
    // keep = 3 (the default): 2.6 and the two before it (2.0, the spec's command);
    // 2.5, rolled back, is deleted.
    let mut kept: Vec<String> = std::fs::read_dir(s.state_dir().join("releases/app"))
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| {
            e.file_type().unwrap().is_dir() && !e.file_name().to_string_lossy().starts_with('.')
        })
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    kept.sort();
    assert_eq!(kept, ["2.0", "2.6"]);
    let out = s.tend(&["rollback", "app"]).output().unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    wait_until(10 * SECS, "healthy on 2.0 again", || healthy(&s));

    // By hand: back to the spec's command.
    let out = s.tend(&["rollback", "app"]).output().unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("rolled back to the spec's command"),
        "{out:?}"
    );
    wait_until(10 * SECS, "healthy on the spec's command", || {
        healthy(&s) && exe(pid(&s)) == app
    });
    assert_eq!(index(&s)["current"], serde_json::Value::Null);
    let out = s.tend(&["rollback", "app"]).output().unwrap();
    assert_eq!(code(&out), 1, "nothing before the spec's command");

    // The events, as the console shows them.
    tend.signal(libc::SIGTERM);
    let out = tend.wait(20 * SECS);
    let err = stderr(&out);
    for line in [
        "upgrading from the spec's command to release 2.0",
        "upgraded to release 2.0: ready after",
        "rolling back from release 3.0 to release 2.0: release 3.0 was not ready within 4s",
        "rolling back from release 2.0 to the spec's command: on request",
    ] {
        assert!(err.contains(line), "{line:?} in:\n{err}");
    }
}

/// Root upgrades a service whose supervisor runs as another account, as an installed
/// one does: the folders root makes for the hand-over belong to the state folder's
/// owner (else that supervisor cannot unpack a release beside them), and a dry run
/// hands the supervisor a copy too (it cannot read root's files).
#[test]
fn root_hands_releases_to_a_supervisor_running_as_another_account() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    // SAFETY: geteuid cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("SKIPPED: running a supervisor as another account needs root");
        return;
    }
    const NOBODY: u32 = 65534;
    let s = Scratch::new();
    let (public, secret) = key_pair(&s, "release");
    let port = free_port();
    // nobody reaches the spec, the program, its state and log folders; not `private`
    std::fs::set_permissions(s.dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    for d in [s.state_dir(), s.log_dir()] {
        std::fs::create_dir(&d).unwrap();
        std::os::unix::fs::chown(&d, Some(NOBODY), Some(NOBODY)).unwrap();
    }
    let app = s.path("app");
    std::fs::copy(fixture_bin(), &app).unwrap();
    let spec = s.spec(
        "app.toml",
        &format!(
            r#"name = "app"
command = {app:?}
args = ["--http-stop", "{port}", "--hang"]
[stop]
timeout = "2s"
[health]
http = "http://127.0.0.1:{port}/healthz"
interval = "200ms"
retries = 2
[update]
public_keys = [{public:?}]
verify_within = "10s"
"#
        ),
    );
    std::fs::set_permissions(&spec, std::fs::Permissions::from_mode(0o644)).unwrap();
    let private = s.path("private");
    std::fs::create_dir(&private).unwrap();
    std::fs::set_permissions(&private, std::fs::Permissions::from_mode(0o700)).unwrap();
    let good = private.join("release-2.0");
    std::fs::copy(fixture_bin(), &good).unwrap();
    sign(&good, &secret, "2.0");
    let upgrade = |extra: &[&str]| {
        let mut args = vec!["upgrade", "app", good.to_str().unwrap()];
        args.extend(extra);
        let out = s.tend(&args).output().unwrap();
        eprintln!("--- tend {args:?}: {out:?}");
        out
    };

    // Before its supervisor ever ran: nobody to ask, but the folders are made.
    let out = upgrade(&[]);
    assert_eq!(code(&out), 1, "no supervisor runs app");
    let releases = s.state_dir().join("releases");
    for d in [
        releases.clone(),
        releases.join("app"),
        releases.join("app/.incoming"),
    ] {
        let m = std::fs::metadata(&d).unwrap();
        assert_eq!(
            (m.uid(), m.gid()),
            (NOBODY, NOBODY),
            "{} belongs to the state folder's owner",
            d.display()
        );
    }

    let child = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(tend_bin())
        .args(["run", spec.to_str().unwrap()])
        .env("TEND_STATE_DIR", s.state_dir())
        .env("TEND_LOG_DIR", s.log_dir())
        .env_remove("TEND_PROFILE")
        .current_dir(s.dir.path())
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("setpriv");
    let tend = Running::from(child, "tend run app (as nobody)");
    wait_until(15 * SECS, "the first healthy probe", || healthy(&s));
    let first = pid(&s);

    let out = upgrade(&["--dry-run"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout)
            .contains("would switch `app` from the spec's command to release 2.0"),
        "{out:?}"
    );
    assert_eq!(pid(&s), first, "a dry run changes nothing");

    let out = upgrade(&[]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let now = pid(&s);
    assert_ne!(now, first);
    assert_eq!(exe(now), releases.join("app/2.0/app"));
    assert_eq!(
        std::fs::metadata(releases.join("app/2.0/app"))
            .unwrap()
            .uid(),
        NOBODY,
        "its supervisor unpacked it"
    );
    assert_eq!(
        std::fs::read_dir(releases.join("app/.incoming"))
            .unwrap()
            .count(),
        0,
        "the hand-over copies are gone"
    );
    tend.signal(libc::SIGTERM);
    tend.wait(20 * SECS);
}

/// A service whose policy does not restart it, upgraded to a release that exits: rolled
/// back and started again (the supervisor of its only service stays up for it); a stop
/// while a release is being checked is refused; a supervisor stopped during the check
/// leaves the release on trial, and the next one checks it again (and rolls it back).
#[test]
fn checks_cut_short_or_ending_the_service_still_roll_back() {
    let s = Scratch::new();
    let (public, secret) = key_pair(&s, "release");
    let port = free_port();
    let app = s.path("app");
    std::fs::copy(fixture_bin(), &app).unwrap();
    let spec = s.spec(
        "app.toml",
        &format!(
            r#"name = "app"
command = {app:?}
args = ["--http-stop", "{port}", "--hang"]
[restart]
policy = "never"
[stop]
timeout = "2s"
[health]
http = "http://127.0.0.1:{port}/healthz"
interval = "200ms"
timeout = "1s"
retries = 2
[update]
public_keys = [{public:?}]
verify_within = "6s"
"#
        ),
    );
    let tend = s.spawn(&["run", spec.to_str().unwrap()]);
    wait_until(15 * SECS, "healthy", || healthy(&s));
    let first = pid(&s);

    // Exits at once, and the policy is `never`: the service ends; it is rolled back and
    // started again on the spec's command.
    let broken = script(&s, "release-2.0", "exit 3");
    sign(&broken, &secret, "2.0");
    let out = s
        .tend(&["upgrade", "app", broken.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(code(&out), 1, "{out:?}");
    let err = stderr(&out);
    assert!(err.contains("release 2.0 failed:"), "not a timeout: {err}");
    assert!(err.contains("rolled back to the spec's command"), "{err}");
    wait_until(15 * SECS, "healthy on the spec's command again", || {
        healthy(&s) && exe(pid(&s)) == app
    });
    assert_ne!(pid(&s), first);
    assert_eq!(index(&s)["current"], serde_json::Value::Null);

    // Never healthy; while it is checked, a stop is refused; then the supervisor
    // stops: the release stays on trial.
    let deaf = script(
        &s,
        "release-3.0",
        &format!("exec {:?} --hang", fixture_bin()),
    );
    sign(&deaf, &secret, "3.0");
    let upgrading = s.spawn(&["upgrade", "app", deaf.to_str().unwrap()]);
    wait_until(10 * SECS, "3.0 on trial", || index(&s)["trial"] == "3.0");
    let out = s.tend(&["stop", "app"]).output().unwrap();
    assert_eq!(code(&out), 1);
    assert!(
        stderr(&out).contains("is being switched to a release and checked"),
        "{out:?}"
    );
    tend.signal(libc::SIGTERM);
    let out = tend.wait(20 * SECS);
    assert!(stderr(&out).contains("upgrading from the spec's command to release 3.0"));
    let client = upgrading.wait(10 * SECS);
    assert_eq!(code(&client), 1, "{client:?}");
    assert_eq!(index(&s)["trial"], "3.0");
    assert_eq!(index(&s)["current"], "3.0");

    // The next supervisor checks it again, and rolls it back.
    let tend = s.spawn(&["run", spec.to_str().unwrap()]);
    wait_until(
        30 * SECS,
        "3.0 rolled back, healthy on the spec's command",
        || index(&s)["current"].is_null() && healthy(&s) && exe(pid(&s)) == app,
    );
    assert_eq!(index(&s)["rolled_back"], serde_json::json!(["2.0", "3.0"]));
    assert!(index(&s).get("trial").is_none());
    tend.signal(libc::SIGTERM);
    let out = tend.wait(20 * SECS);
    let err = stderr(&out);
    for line in [
        "release 3.0 was on trial when its last check was cut short: checking it again",
        "rolling back from release 3.0 to the spec's command: release 3.0 failed: unhealthy",
    ] {
        assert!(err.contains(line), "{line:?} in:\n{err}");
    }
}
