//! The pull channel end to end: a `tend run` service whose `[update] channel` is a
//! real HTTP server on loopback, serving manifests and artifacts that the test signs
//! with the real `minisign`: it upgrades by itself; refuses a release signed with
//! another key (and does not fetch it again); survives a truncated download and a
//! server that stalls, and upgrades once the server is right; rolls back a release
//! that never becomes healthy and does not try it again until the channel names a
//! newer one.

mod common;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::releases::*;
use common::*;

const SECS: Duration = Duration::from_secs(1);

/// What the server answers for a path.
#[derive(Clone)]
enum Answer {
    /// 200 with this body.
    Body(Vec<u8>),
    /// A 200 announcing the whole body, cut after this many bytes.
    Truncated(Vec<u8>, usize),
    /// Accepts and never answers.
    Stall,
}

type Routes = Arc<Mutex<HashMap<String, Answer>>>;

/// An HTTP server on loopback answering from `routes` (404 for the rest), a thread
/// per connection; its base URL, and how many requests each path got.
fn server(routes: Routes) -> (String, Arc<Mutex<HashMap<String, usize>>>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let hits: Arc<Mutex<HashMap<String, usize>>> = Default::default();
    let counted = hits.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            let (routes, hits) = (routes.clone(), counted.clone());
            std::thread::spawn(move || {
                let mut reader = BufReader::new(conn.try_clone().unwrap());
                let mut first = String::new();
                let _ = reader.read_line(&mut first);
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                }
                let path = first.split(' ').nth(1).unwrap_or("/").to_string();
                *hits.lock().unwrap().entry(path.clone()).or_default() += 1;
                let answer = routes.lock().unwrap().get(&path).cloned();
                let head = |len: usize| {
                    format!("HTTP/1.1 200 OK\r\nContent-Length: {len}\r\nConnection: close\r\n\r\n")
                };
                let _ = match answer {
                    Some(Answer::Body(b)) => conn
                        .write_all(head(b.len()).as_bytes())
                        .and_then(|()| conn.write_all(&b)),
                    Some(Answer::Truncated(b, n)) => conn
                        .write_all(head(b.len()).as_bytes())
                        .and_then(|()| conn.write_all(&b[..n])),
                    Some(Answer::Stall) => {
                        std::thread::sleep(Duration::from_secs(60));
                        Ok(())
                    }
                    None => conn.write_all(
                        b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                    ),
                };
            });
        }
    });
    (base, hits)
}

/// A manifest for `artifact` (served at `url`) with its signature `sig`.
fn manifest(version: &str, url: &str, artifact: &Path, sig: &Path) -> Vec<u8> {
    let bytes = std::fs::read(artifact).unwrap();
    let sha = tend::update::fetch::sha256_file(artifact).unwrap();
    serde_json::to_vec(&serde_json::json!({
        "version": version,
        "url": url,
        "size": bytes.len(),
        "sha256": tend::update::fetch::hex(&sha),
        "signature": std::fs::read_to_string(sig).unwrap(),
    }))
    .unwrap()
}

fn update(s: &Scratch, what: &str) -> (i32, String) {
    let out = s.tend(&["update", what, "app"]).output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (code(&out), text)
}

fn current(s: &Scratch) -> serde_json::Value {
    index(s)["current"].clone()
}

/// Release `version` is current and its program runs, healthy.
fn runs(s: &Scratch, version: &str) -> bool {
    current(s) == version
        && healthy(s)
        && exe(pid(s)) == s.state_dir().join(format!("releases/app/{version}/app"))
}

#[test]
fn a_channel_upgrades_a_running_service_and_refuses_bad_releases() {
    let s = Scratch::new();
    let (public, secret) = key_pair(&s, "release");
    let (_, stranger) = key_pair(&s, "stranger");
    let routes: Routes = Default::default();
    let (base, hits) = server(routes.clone());
    let serve = |path: &str, answer: Answer| {
        routes.lock().unwrap().insert(path.to_string(), answer);
    };
    // Releases: the fixture signed as each version (a copy per version: the signature
    // names it).
    let release = |version: &str, secret: &Path| {
        let p = s.path(&format!("app-{version}"));
        std::fs::copy(fixture_bin(), &p).unwrap();
        let sig = sign(&p, secret, version);
        (p, sig)
    };
    let (a20, s20) = release("2.0", &secret);
    serve("/app-2.0", Answer::Body(std::fs::read(&a20).unwrap()));
    serve(
        "/stable.json",
        Answer::Body(manifest("2.0", "app-2.0", &a20, &s20)),
    );

    let port = free_port();
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
verify_within = "3s"
channel = "{base}/stable.json"
check_every = "1s"
max_download_rate = "64MiB"
"#
        ),
    );
    let tend = s.spawn(&["run", spec.to_str().unwrap()]);

    // It upgrades by itself.
    wait_until(20 * SECS, "release 2.0 from the channel, healthy", || {
        runs(&s, "2.0")
    });
    assert_eq!(exe(pid(&s)), s.state_dir().join("releases/app/2.0/app"));
    let (rc, said) = update(&s, "check");
    assert_eq!(rc, 0, "{said}");
    assert!(said.contains("release 2.0 is current"), "{said}");

    // Signed with another key: refused, and not downloaded again.
    let (a21, _) = release("2.1", &secret);
    let bad_sig = sign(&a21, &stranger, "2.1");
    serve("/app-2.1", Answer::Body(std::fs::read(&a21).unwrap()));
    serve(
        "/stable.json",
        Answer::Body(manifest("2.1", "app-2.1", &a21, &bad_sig)),
    );
    wait_until(20 * SECS, "2.1 refused", || {
        update(&s, "check").1.contains("release 2.1 was refused")
    });
    let fetched = hits.lock().unwrap()["/app-2.1"];
    assert_eq!(current(&s), "2.0");
    let before = pid(&s);

    // Truncated, then whole: upgraded once the server is right.
    let (a22, s22) = release("2.2", &secret);
    let whole = std::fs::read(&a22).unwrap();
    serve(
        "/app-2.2",
        Answer::Truncated(whole.clone(), whole.len() / 2),
    );
    serve(
        "/stable.json",
        Answer::Body(manifest("2.2", "app-2.2", &a22, &s22)),
    );
    let (rc, said) = update(&s, "apply");
    assert_eq!(rc, 1, "{said}");
    assert!(
        said.contains("the download of release 2.2 failed"),
        "{said}"
    );
    assert_eq!(current(&s), "2.0");
    assert_eq!(pid(&s), before, "nothing changed");
    assert_eq!(
        hits.lock().unwrap()["/app-2.1"],
        fetched,
        "2.1 not fetched again"
    );
    serve("/app-2.2", Answer::Body(whole));
    wait_until(20 * SECS, "release 2.2, healthy", || runs(&s, "2.2"));

    // A server that stalls: the check gives up (after its stall time), nothing changes.
    let (a23, s23) = release("2.3", &secret);
    serve("/app-2.3", Answer::Stall);
    serve(
        "/stable.json",
        Answer::Body(manifest("2.3", "app-2.3", &a23, &s23)),
    );
    let (rc, said) = update(&s, "apply");
    assert_eq!(rc, 1, "{said}");
    assert!(
        said.contains("the download of release 2.3 failed"),
        "{said}"
    );
    assert_eq!(current(&s), "2.2");

    // Never healthy: rolled back, and not tried again while the channel names it.
    let deaf = script(&s, "app-3.0", &format!("exec {:?} --hang", fixture_bin()));
    let s30 = sign(&deaf, &secret, "3.0");
    serve("/app-3.0", Answer::Body(std::fs::read(&deaf).unwrap()));
    serve(
        "/stable.json",
        Answer::Body(manifest("3.0", "app-3.0", &deaf, &s30)),
    );
    wait_until(30 * SECS, "3.0 rolled back, 2.2 healthy again", || {
        index(&s)["rolled_back"]
            .as_array()
            .is_some_and(|r| r.iter().any(|v| v == "3.0"))
            && runs(&s, "2.2")
    });
    let (rc, said) = update(&s, "apply");
    assert_eq!(rc, 0, "{said}");
    assert!(
        said.contains("release 3.0 was rolled back: waiting for the channel to name another"),
        "{said}"
    );

    // A newer one: upgraded.
    let (a31, s31) = release("3.1", &secret);
    serve("/app-3.1", Answer::Body(std::fs::read(&a31).unwrap()));
    serve(
        "/stable.json",
        Answer::Body(manifest("3.1", "/app-3.1", &a31, &s31)),
    );
    wait_until(20 * SECS, "release 3.1, healthy", || runs(&s, "3.1"));
    assert_eq!(exe(pid(&s)), s.state_dir().join("releases/app/3.1/app"));

    tend.signal(libc::SIGTERM);
    let out = tend.wait(20 * SECS);
    let err = stderr(&out);
    assert_eq!(
        err.matches("upgrading from release 2.2 to release 3.0")
            .count(),
        1,
        "3.0 tried once:\n{err}"
    );
    for line in [
        "channel: `app` not upgraded: refused:",
        "which is not in update.public_keys",
        "upgraded to release 3.1: ready after",
    ] {
        assert!(err.contains(line), "{line:?} in:\n{err}");
    }
}
