//! `GET /metrics` of a live supervisor: what it exports through a restart the test
//! causes, checked by Prometheus's own `promtool` (Debian's `prometheus` package,
//! which `.ci/run` installs), in both formats; every metric the Grafana dashboard
//! queries is in it; an address in use stops tend before anything starts.
#![cfg(unix)]

mod common;

use std::fs::File;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;

/// An answer of the metrics server: its head and body.
struct Answer {
    head: String,
    body: String,
}

/// `METHOD path` to `addr`, with the `Accept` header if given.
fn http(addr: &str, method: &str, path: &str, accept: Option<&str>) -> Answer {
    let mut s = TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect {addr}: {e}"));
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let accept = accept.map_or_else(String::new, |a| format!("Accept: {a}\r\n"));
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\n{accept}\r\n"
    )
    .unwrap();
    let mut all = String::new();
    s.read_to_string(&mut all).unwrap();
    let (head, body) = all.split_once("\r\n\r\n").expect("a head and a body");
    Answer {
        head: head.to_string(),
        body: body.to_string(),
    }
}

fn scrape(addr: &str) -> String {
    let a = http(addr, "GET", "/metrics", None);
    assert!(a.head.starts_with("HTTP/1.1 200 OK\r\n"), "{}", a.head);
    a.body
}

/// The value of the sample `series` (its name and labels exactly as exposed).
fn value(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|v| v.trim().parse().ok())
}

/// Starts `tend ARGS` with its stderr in a file, and waits for the address its
/// metrics are served on (it says `tend: metrics: http://ADDR/metrics`).
fn start(s: &Scratch, args: &[&str]) -> (Running, String) {
    let err = s.path("tend.err");
    let child = s
        .tend(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(File::create(&err).unwrap())
        .spawn()
        .expect("spawn tend");
    let running = Running::from(child, &format!("tend {}", args.join(" ")));
    let mut addr = String::new();
    wait_until(
        Duration::from_secs(20),
        "tend says where its metrics are",
        || {
            let text = std::fs::read_to_string(&err).unwrap_or_default();
            match text
                .lines()
                .find_map(|l| l.strip_prefix("tend: metrics: http://"))
            {
                Some(rest) => {
                    addr = rest.trim_end_matches("/metrics").to_string();
                    true
                }
                None => false,
            }
        },
    );
    (running, addr)
}

/// `promtool check metrics` on `text`: None when promtool is not installed.
fn promtool(text: &str) -> Option<(bool, String)> {
    let mut child = match Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    {
        Ok(c) => c,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
        Err(e) => panic!("promtool: {e}"),
    };
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Some((out.status.success(), said))
}

/// The names of the metrics `text` exposes (a histogram's with their `_bucket`,
/// `_sum` and `_count` series).
fn exposed_names(text: &str) -> std::collections::BTreeSet<String> {
    let mut names = std::collections::BTreeSet::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let mut parts = rest.split(' ');
            let (name, kind) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
            names.insert(name.to_string());
            if kind == "histogram" {
                for suffix in ["_bucket", "_sum", "_count"] {
                    names.insert(format!("{name}{suffix}"));
                }
            }
        } else if !line.starts_with('#') {
            let name = line.split(['{', ' ']).next().unwrap_or("");
            names.insert(name.to_string());
        }
    }
    names
}

/// Every `tend_*` metric name in the PromQL expressions of the dashboard at `path`
/// (its panels' targets and its variables' queries).
fn dashboard_metrics(path: &Path) -> Vec<(String, String)> {
    let text = std::fs::read_to_string(path).unwrap();
    let dash: serde_json::Value = serde_json::from_str(&text).expect("the dashboard is JSON");
    let mut exprs = Vec::new();
    for panel in dash["panels"].as_array().expect("panels") {
        let targets = panel["targets"].as_array().expect("targets");
        assert!(
            !targets.is_empty(),
            "panel {} queries nothing",
            panel["title"]
        );
        for t in targets {
            exprs.push(t["expr"].as_str().expect("a PromQL expr").to_string());
        }
    }
    for var in dash["templating"]["list"].as_array().expect("variables") {
        if let Some(q) = var["definition"].as_str() {
            exprs.push(q.to_string());
        }
    }
    let mut found = Vec::new();
    for expr in exprs {
        let mut names = Vec::new();
        let mut rest = expr.as_str();
        while let Some(at) = rest.find("tend_") {
            let before = rest[..at].chars().next_back();
            let tail = &rest[at..];
            let end = tail
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(tail.len());
            if !before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_') {
                names.push(tail[..end].to_string());
            }
            rest = &tail[end..];
        }
        assert!(!names.is_empty(), "{expr:?} queries no tend metric");
        found.extend(names.into_iter().map(|n| (n, expr.clone())));
    }
    found
}

/// A service with health checks whose child the test kills: the exposition through
/// the restart, in the Prometheus text format (accepted by promtool) and in
/// OpenMetrics, and the answers to other requests.
#[test]
fn a_live_supervisor_exposes_its_services() {
    let s = Scratch::new();
    let pidf = s.path("pids");
    let spec = s.spec(
        "m.toml",
        &fixture_spec(
            "m",
            &["--print", "hello", "--pid-file", pidf.to_str().unwrap(), "--hang"],
            // Health checks that cannot restart the service (`report`, a long start
            // period): the health series exist, and nothing restarts but the kill below.
            "[health]\ntcp = \"127.0.0.1:9\"\nstart_period = \"1h\"\ninterval = \"1h\"\non_unhealthy = \"report\"\n",
        ),
    );
    let (tend, addr) = start(
        &s,
        &["run", spec.to_str().unwrap(), "--metrics", "127.0.0.1:0"],
    );
    wait_until(Duration::from_secs(20), "the child runs", || {
        pids(&pidf).len() == 1
            && value(&scrape(&addr), "tend_service_up{service=\"m\"}") == Some(1.0)
    });
    let first = scrape(&addr);
    assert_eq!(
        value(&first, "tend_service_restarts_total{service=\"m\"}"),
        Some(0.0),
        "{first}"
    );
    assert!(
        value(&first, "tend_service_resident_memory_bytes{service=\"m\"}").unwrap_or(0.0) > 0.0,
        "the child's tree is measured: {first}"
    );
    assert!(
        value(&first, "tend_service_start_time_seconds{service=\"m\"}").unwrap_or(0.0) > 1.7e9,
        "{first}"
    );
    wait_until(Duration::from_secs(20), "hello reaches the log", || {
        value(
            &scrape(&addr),
            "tend_service_log_written_bytes_total{service=\"m\",stream=\"stdout\"}",
        ) == Some("out hello\n".len() as f64)
    });

    // The test kills the child: one exit by SIGKILL, one restart.
    let child = pids(&pidf)[0];
    // SAFETY: kill(2) of the fixture child this test started.
    unsafe { libc::kill(child, libc::SIGKILL) };
    wait_until(Duration::from_secs(20), "the restart is counted", || {
        pids(&pidf).len() == 2
            && value(&scrape(&addr), "tend_service_restarts_total{service=\"m\"}") == Some(1.0)
    });
    let text = scrape(&addr);
    for (series, want) in [
        ("tend_service_up{service=\"m\"}", 1.0),
        (
            "tend_service_exits_total{service=\"m\",signal=\"SIGKILL\"}",
            1.0,
        ),
        (
            "tend_service_log_dropped_lines_total{service=\"m\",stream=\"stdout\"}",
            0.0,
        ),
    ] {
        assert_eq!(value(&text, series), Some(want), "{series} in:\n{text}");
    }
    let build = format!(
        "tend_build_info{{version=\"{}\"}}",
        env!("CARGO_PKG_VERSION")
    );
    assert_eq!(value(&text, &build), Some(1.0), "{build} in:\n{text}");
    // The health series exist from the start (whether probes have run yet or not:
    // during the start period they may, failing without consequence).
    for series in [
        "tend_service_health{service=\"m\",state=\"starting\"}",
        "tend_service_health{service=\"m\",state=\"healthy\"}",
        "tend_service_health{service=\"m\",state=\"unhealthy\"}",
        "tend_service_probes_total{service=\"m\",result=\"ok\"}",
        "tend_service_probes_total{service=\"m\",result=\"failed\"}",
        "tend_service_probe_duration_seconds_count{service=\"m\"}",
        "tend_service_probe_duration_seconds_bucket{service=\"m\",le=\"+Inf\"}",
    ] {
        assert!(value(&text, series).is_some(), "{series} in:\n{text}");
    }

    match promtool(&text) {
        Some((ok, said)) => assert!(ok && said.trim().is_empty(), "promtool check metrics: {said}\n{text}"),
        None => eprintln!("SKIPPED: promtool is not installed (Debian: apt-get install prometheus); .ci/run installs it"),
    }

    let om = http(
        &addr,
        "GET",
        "/metrics",
        Some("application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5"),
    );
    assert!(
        om.head.contains(
            "\r\nContent-Type: application/openmetrics-text; version=1.0.0; charset=utf-8\r\n"
        ),
        "{}",
        om.head
    );
    assert!(om.body.ends_with("# EOF\n"), "{}", om.body);
    assert_eq!(
        value(&om.body, "tend_service_restarts_total{service=\"m\"}"),
        Some(1.0),
        "{}",
        om.body
    );
    assert!(
        om.body.contains("# TYPE tend_service_restarts counter\n"),
        "{}",
        om.body
    );

    let plain = http(&addr, "GET", "/metrics", None);
    assert!(
        plain
            .head
            .contains("\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n"),
        "{}",
        plain.head
    );
    assert!(http(&addr, "GET", "/", None)
        .head
        .starts_with("HTTP/1.1 404 "));
    assert!(http(&addr, "POST", "/metrics", None)
        .head
        .starts_with("HTTP/1.1 405 "));

    // Every metric the dashboard queries is there.
    let dashboard =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../contrib/grafana/tend-dashboard.json");
    let names = exposed_names(&text);
    let queried = dashboard_metrics(&dashboard);
    assert!(queried.len() >= 10, "{queried:?}");
    for (name, expr) in queried {
        assert!(
            names.contains(&name),
            "the dashboard queries {name} ({expr}), which tend does not expose:\n{text}"
        );
    }

    tend.signal(libc::SIGTERM);
    let out = tend.wait(Duration::from_secs(20));
    assert_eq!(code(&out), 0);
}

/// An address another program listens on: tend says so and starts nothing; the flag
/// wins over the spec's `[metrics] listen`.
#[test]
fn an_address_in_use_stops_tend_and_the_flag_wins_over_the_spec() {
    let s = Scratch::new();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let pidf = s.path("pids");
    let spec = s.spec(
        "m.toml",
        &fixture_spec(
            "m",
            &["--pid-file", pidf.to_str().unwrap(), "--hang"],
            &format!("[metrics]\nlisten = \"{addr}\"\n"),
        ),
    );
    let out = s
        .tend(&["run", spec.to_str().unwrap()])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let err = stderr(&out);
    assert_eq!(code(&out), 1, "{err}");
    assert!(
        err.contains(&format!("error: cannot serve the metrics on {addr}: ")),
        "{err}"
    );
    // The test itself holds the port: tend names it.
    assert!(
        err.contains(&format!("; pid {} (", std::process::id()))
            && err.contains(") listens there: stop it, or pick another address"),
        "{err}"
    );
    assert!(pids(&pidf).is_empty(), "nothing started: {err}");

    let (tend, served) = start(
        &s,
        &["run", spec.to_str().unwrap(), "--metrics", "127.0.0.1:0"],
    );
    assert_ne!(served, addr);
    assert!(scrape(&served).contains("tend_service_up{service=\"m\"}"));
    tend.signal(libc::SIGTERM);
    assert_eq!(code(&tend.wait(Duration::from_secs(20))), 0);

    let bad = s
        .tend(&[
            "run",
            spec.to_str().unwrap(),
            "--metrics",
            "metrics.local:1",
        ])
        .output()
        .unwrap();
    assert_eq!(code(&bad), 2, "{}", stderr(&bad));
    assert!(
        stderr(&bad).contains("\"metrics.local\" is not an IP address"),
        "{}",
        stderr(&bad)
    );
}

/// `tend up` of a `[[service]]` file: its one `[metrics]` table serves every service.
#[test]
fn one_endpoint_serves_every_service_of_tend_up() {
    let s = Scratch::new();
    let fixture = q(&fixture_bin());
    let file = s.spec(
        "tend.toml",
        &format!(
            "[metrics]\nlisten = \"127.0.0.1:0\"\n\n\
             [[service]]\nname = \"api\"\ncommand = {fixture}\nargs = [\"--hang\"]\n\n\
             [[service]]\nname = \"worker\"\ncommand = {fixture}\nargs = [\"--hang\"]\ndepends_on = [\"api\"]\n"
        ),
    );
    let (tend, addr) = start(&s, &["up", "--log-files", file.to_str().unwrap()]);
    wait_until(Duration::from_secs(20), "both services run", || {
        let text = scrape(&addr);
        value(&text, "tend_service_up{service=\"api\"}") == Some(1.0)
            && value(&text, "tend_service_up{service=\"worker\"}") == Some(1.0)
    });
    tend.signal(libc::SIGTERM);
    assert_eq!(code(&tend.wait(Duration::from_secs(20))), 0);
}
