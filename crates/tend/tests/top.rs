//! `tend top` used the way a person uses it: in a terminal (a tmux session), keys sent
//! with `tmux send-keys`, the screen read back with `tmux capture-pane`, against a real
//! `tend up` of two services. The tmux test is skipped, saying so, only where there is
//! no tmux (`.ci/run` installs it).
#![cfg(unix)]

mod common;

use std::process::{Command, Output};
use std::time::{Duration, Instant};

use common::*;

const SECS: Duration = Duration::from_secs(1);

/// `tend up --log-files` of `api` (which says hello) and `worker`, both running.
fn two_services(s: &Scratch) -> Running {
    let svc = |name: &str, args: &str| {
        format!(
            "[[service]]\nname = \"{name}\"\ncommand = {}\nargs = [{args}\"--hang\"]\n",
            q(&fixture_bin())
        )
    };
    let text = format!(
        "{}{}",
        svc("api", "\"--print\", \"hello from api\", "),
        svc("worker", "")
    );
    let file = s.spec("tend.toml", &text);
    let up = s.spawn(&["up", "--log-files", file.to_str().unwrap()]);
    wait_until(10 * SECS, "both services running", || {
        ["api", "worker"].iter().all(|n| {
            s.state(n)
                .is_some_and(|st| st["state"] == "running" && st["pid"].is_i64())
        })
    });
    up
}

/// `tend status --json`'s object for `name`.
fn status(s: &Scratch, name: &str) -> serde_json::Value {
    let out = s.tend(&["status", "--json", name]).output().unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    v[0].clone()
}

/// A tmux server of this test's own (its own socket), killed at the end.
struct Tmux {
    socket: String,
}

impl Tmux {
    /// A session running a shell with a known prompt, 160×40; `None` without tmux.
    fn start() -> Option<Tmux> {
        if Command::new("tmux").arg("-V").output().is_err() {
            return None;
        }
        let t = Tmux {
            socket: format!("tend-top-{}", std::process::id()),
        };
        let out = t
            .tmux(&["new-session", "-d", "-x", "160", "-y", "40", "-s", "top"])
            .arg("env PS1='top-test$ ' sh")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        t.wait_for("the shell's prompt", |s| s.contains("top-test$"));
        Some(t)
    }

    fn tmux(&self, args: &[&str]) -> Command {
        let mut c = Command::new("tmux");
        c.args(["-L", &self.socket, "-f", "/dev/null"]).args(args);
        c
    }

    /// Sends keys (tmux key names: `Enter`, `Escape`, `j`, ...).
    fn keys(&self, keys: &[&str]) {
        let out = self
            .tmux(&["send-keys", "-t", "top"])
            .args(keys)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Types `text` literally, then Enter.
    fn type_line(&self, text: &str) {
        let out = self
            .tmux(&["send-keys", "-t", "top", "-l", text])
            .output()
            .unwrap();
        assert!(out.status.success());
        self.keys(&["Enter"]);
    }

    /// The shell's process.
    fn pane_pid(&self) -> i32 {
        let out = self
            .tmux(&["display-message", "-p", "-t", "top", "#{pane_pid}"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
    }

    /// The process the shell runs (`tend top`).
    fn child_of_the_shell(&self) -> i32 {
        let shell = self.pane_pid();
        let children =
            std::fs::read_to_string(format!("/proc/{shell}/task/{shell}/children")).unwrap();
        children.split_whitespace().next().unwrap().parse().unwrap()
    }

    /// Waits for the shell's prompt on a screen without `tend top`, and checks that
    /// the terminal is in the shell's modes again (`stty`: canonical, echoing, with
    /// signal keys).
    fn back_at_the_prompt(&self) {
        self.wait_for("the prompt back", |sc| {
            !sc.contains("tend top ·") && sc.trim_end().ends_with("top-test$")
        });
        // (The screen cleared first: only this stty's answer on it.)
        self.type_line("printf '\\033[2J\\033[H'; stty -a");
        let screen = self.wait_for("stty's answer", |sc| sc.contains("icanon"));
        let words: Vec<&str> = screen.split_whitespace().collect();
        for on in ["icanon", "echo", "isig"] {
            assert!(words.contains(&on), "{on} restored:\n{screen}");
        }
    }

    /// The screen, as text.
    fn screen(&self) -> String {
        let out: Output = self
            .tmux(&["capture-pane", "-p", "-t", "top"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).to_string()
    }

    /// Polls the screen until `ok` holds (10 s at most), and returns it.
    fn wait_for(&self, what: &str, ok: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + 10 * SECS;
        loop {
            let s = self.screen();
            if ok(&s) {
                return s;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}; the screen:\n{s}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.tmux(&["kill-server"]).output();
    }
}

/// The cells of `name`'s row on `screen` (the selection marker `>` left out):
/// NAME SERVICE STATE HEALTH PID UPTIME RESTARTS CPU MEM LAST LOG LINE...
fn row<'a>(screen: &'a str, name: &str) -> Option<Vec<&'a str>> {
    screen
        .lines()
        .map(|l| {
            l.trim_start_matches("> ")
                .split_whitespace()
                .collect::<Vec<_>>()
        })
        .find(|c| c.first() == Some(&name) && c.len() >= 10)
}

fn selected(screen: &str) -> Option<&str> {
    screen
        .lines()
        .find_map(|l| l.strip_prefix("> "))
        .and_then(|l| l.split_whitespace().next())
}

/// The state and pid `tend top` shows for `name`.
fn shown(screen: &str, name: &str) -> Option<(String, String)> {
    row(screen, name).map(|c| (c[2].to_string(), c[4].to_string()))
}

#[test]
fn top_in_a_terminal_restarts_stops_starts_and_follows_a_log() {
    let Some(tmux) = Tmux::start() else {
        eprintln!("SKIPPED: no tmux here (`.ci/need-tmux.sh` installs it)");
        return;
    };
    let s = Scratch::new();
    let _up = two_services(&s);
    let api = status(&s, "api")["pid"].as_i64().unwrap().to_string();
    let worker = status(&s, "worker")["pid"].as_i64().unwrap().to_string();

    let top = format!(
        "'{}' top --state-dir '{}'",
        tend_bin().display(),
        s.state_dir().display()
    );
    tmux.type_line(&top);
    // The last log line and the memory are read apart from the state and pid: the
    // wait covers them too.
    let screen = tmux.wait_for(
        "both services, running, with their pids, api's last log line and memory",
        |sc| {
            shown(sc, "api") == Some(("running".into(), api.clone()))
                && shown(sc, "worker") == Some(("running".into(), worker.clone()))
                && row(sc, "api").is_some_and(|c| {
                    c[9..] == ["hello", "from", "api"]
                        && (c[8].ends_with('M') || c[8].ends_with('K'))
                })
        },
    );
    assert!(screen.starts_with("tend top · 2 services · "), "{screen}");
    assert_eq!(selected(&screen), Some("api"), "{screen}");
    tmux.wait_for("a CPU share", |sc| {
        row(sc, "api").is_some_and(|c| c[7].ends_with('%'))
    });

    // Restart, confirmed: a new pid on the screen, the one `tend status` gives.
    tmux.keys(&["r"]);
    tmux.wait_for("the question", |sc| sc.contains("restart `api`? (y/n)"));
    tmux.keys(&["y"]);
    let screen = tmux.wait_for("api restarted", |sc| {
        sc.contains("`api` is running (pid ")
            && shown(sc, "api").is_some_and(|(st, pid)| st == "running" && pid != api)
    });
    let (_, restarted) = shown(&screen, "api").unwrap();
    assert_eq!(
        status(&s, "api")["pid"].as_i64().unwrap().to_string(),
        restarted
    );
    assert!(!alive(api.parse().unwrap()), "the old child is gone");
    assert_eq!(shown(&screen, "worker").unwrap().1, worker, "{screen}");

    // A stop not confirmed does nothing.
    tmux.keys(&["s"]);
    tmux.wait_for("the question", |sc| sc.contains("stop `api`? (y/n)"));
    tmux.keys(&["n"]);
    tmux.wait_for("cancelled", |sc| sc.contains("stop `api`: cancelled"));
    assert_eq!(status(&s, "api")["state"], "running");

    // Stop, confirmed.
    tmux.keys(&["s"]);
    tmux.wait_for("the question", |sc| sc.contains("stop `api`? (y/n)"));
    tmux.keys(&["y"]);
    tmux.wait_for("api stopped", |sc| {
        shown(sc, "api") == Some(("stopped".into(), "-".into()))
    });
    assert_eq!(status(&s, "api")["state"], "stopped");
    assert!(!alive(restarted.parse().unwrap()));

    // Start (no question): running again, with a new pid.
    tmux.keys(&["S"]);
    let screen = tmux.wait_for("api started", |sc| {
        shown(sc, "api").is_some_and(|(st, pid)| st == "running" && pid != "-" && pid != restarted)
    });
    let (_, started) = shown(&screen, "api").unwrap();
    assert_eq!(
        status(&s, "api")["pid"].as_i64().unwrap().to_string(),
        started
    );

    // The selection moves; `t` starts too (worker runs: it says so, no error).
    tmux.keys(&["j"]);
    tmux.wait_for("worker selected", |sc| selected(sc) == Some("worker"));
    tmux.keys(&["t"]);
    tmux.wait_for("worker's answer", |sc| {
        sc.contains("`worker` is already running") || sc.contains("`worker` is running (pid ")
    });
    assert_eq!(
        status(&s, "worker")["pid"].as_i64().unwrap().to_string(),
        worker
    );

    // The log of api, followed in a pane under the table; Esc closes it.
    tmux.keys(&["k", "l"]);
    let screen = tmux.wait_for("api's log in the pane", |sc| {
        sc.split_once("tend logs -f api")
            .is_some_and(|(_, pane)| pane.contains("hello from api"))
    });
    assert!(screen.contains("Esc close"), "{screen}");
    let hellos = |sc: &str| {
        sc.split_once("tend logs -f api")
            .map_or(0, |(_, pane)| pane.matches("hello from api").count())
    };
    // (As many as its log files hold: the pane shows them all.)
    let in_files = || {
        std::fs::read_dir(s.log_dir())
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().starts_with("api."))
            .map(|e| std::fs::read_to_string(e.path()).unwrap_or_default())
            .map(|t| t.matches("hello from api").count())
            .sum::<usize>()
    };
    let before = in_files();
    tmux.wait_for("every line in the pane", |sc| hellos(sc) == before);
    // It follows: api restarted from elsewhere says hello again, in the pane.
    let out = s.tend(&["restart", "api"]).output().unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    tmux.wait_for("the new line in the pane", |sc| hellos(sc) == before + 1);
    tmux.keys(&["Escape"]);
    tmux.wait_for("the pane closed", |sc| !sc.contains("tend logs -f api"));

    // q: the screen and the terminal's settings are the shell's again.
    tmux.keys(&["q"]);
    tmux.back_at_the_prompt();

    // So after a SIGTERM from elsewhere.
    tmux.type_line(&top);
    tmux.wait_for("top again", |sc| sc.starts_with("tend top · 2 services"));
    let pid = tmux.child_of_the_shell();
    let status = Command::new("kill")
        .args(["-s", "TERM", &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    tmux.back_at_the_prompt();
    wait_until(5 * SECS, "top gone", || !alive(pid));

    // The terminal closed under it (the pane killed: a hangup, the shell gone): it
    // ends, rather than spin on a terminal that is gone.
    tmux.type_line(&top);
    tmux.wait_for("top again", |sc| sc.starts_with("tend top · 2 services"));
    let pid = tmux.child_of_the_shell();
    let out = tmux.tmux(&["kill-pane", "-t", "top"]).output().unwrap();
    assert!(out.status.success());
    let deadline = Instant::now() + 5 * SECS;
    while alive(pid) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    if alive(pid) {
        // (Not left spinning after the test.)
        let _ = Command::new("kill")
            .args(["-s", "KILL", &pid.to_string()])
            .status();
        panic!("tend top still runs 5s after its terminal hung up");
    }
}

/// Without a terminal, `tend top` says what to use instead; `--once` prints a frame.
#[test]
fn without_a_terminal_top_refuses_and_once_prints_a_frame() {
    let s = Scratch::new();
    let _up = two_services(&s);
    let out = s
        .tend(&["top"])
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert_eq!(code(&out), 1);
    let err = stderr(&out);
    assert!(err.contains("error: `tend top` needs a terminal"), "{err}");
    assert!(err.contains("`tend status`"), "{err}");
    assert!(out.stdout.is_empty());

    let out = s
        .tend(&["top", "--once", "--interval", "200ms"])
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].starts_with("tend top · 2 services · "), "{text}");
    assert!(
        lines[1].contains("NAME") && lines[1].contains("LAST LOG LINE"),
        "{text}"
    );
    for name in ["api", "worker"] {
        let pid = status(&s, name)["pid"].as_i64().unwrap().to_string();
        assert_eq!(
            shown(&text, name),
            Some(("running".to_string(), pid)),
            "{text}"
        );
    }
    assert_eq!(row(&text, "api").unwrap()[9..], ["hello", "from", "api"]);
    assert_eq!(lines.len(), 4, "no key help: {text}");
}

/// The resident memory (bytes) of the processes of `/proc` that `keep` picks by pid and
/// process group, from their stat lines.
fn rss_of(keep: impl Fn(i32, i32) -> bool) -> u64 {
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) }.max(1) as u64;
    let mut sum = 0;
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|n| n.parse::<i32>().ok()) else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(e.path().join("stat")) else {
            continue;
        };
        let Some((_, after)) = stat.rsplit_once(')') else {
            continue;
        };
        let f: Vec<&str> = after.split_whitespace().collect();
        let (Some(pgrp), Some(rss)) = (
            f.get(2).and_then(|v| v.parse::<i32>().ok()),
            f.get(21).and_then(|v| v.parse::<u64>().ok()),
        ) else {
            continue;
        };
        if keep(pid, pgrp) {
            sum += rss * page;
        }
    }
    sum
}

/// `tend top` shows a service's memory as the metrics measure it (the child's process
/// group: grandchildren that left it with `setsid` are not counted), not a tree of
/// its own definition.
#[test]
fn top_measures_a_tree_as_the_metrics_do() {
    if !std::path::Path::new("/proc/self/stat").exists() {
        eprintln!("SKIPPED: no /proc here");
        return;
    }
    let s = Scratch::new();
    let gpids = s.path("gpids");
    let spec = s.spec(
        "g.toml",
        &fixture_spec(
            "g",
            &[
                "--grandchildren",
                "4",
                "--grandchild-setsid",
                "--grandchild-pids",
                gpids.to_str().unwrap(),
                "--hang",
            ],
            "",
        ),
    );
    let _run = s.spawn(&["run", spec.to_str().unwrap()]);
    wait_until(20 * SECS, "the child and its four grandchildren", || {
        pids(&gpids).len() == 4 && s.state("g").is_some_and(|st| st["pid"].is_i64())
    });
    let grandchildren = pids(&gpids);
    let child = status(&s, "g")["pid"].as_i64().unwrap() as i32;
    let group = rss_of(|_, pgrp| pgrp == child);
    let with_grandchildren = group + rss_of(|pid, _| grandchildren.contains(&pid));
    let out = s.tend(&["top", "--once"]).output().unwrap();
    for g in &grandchildren {
        // SAFETY: kill(2) of the fixture's grandchildren, which left tend's reach.
        unsafe { libc::kill(*g, libc::SIGKILL) };
    }
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    let mem = &row(&text, "g").unwrap()[8];
    let (num, unit) = mem.split_at(mem.len() - 1);
    let shown = num.parse::<f64>().unwrap()
        * match unit {
            "K" => 1024.0,
            "M" => 1024.0 * 1024.0,
            _ => panic!("{mem}: {text}"),
        };
    assert!(
        with_grandchildren as f64 > 2.0 * group as f64,
        "the grandchildren weigh: {group} vs {with_grandchildren}"
    );
    assert!(
        (shown - group as f64).abs() < 0.25 * group as f64,
        "tend top shows {mem}; the child's process group holds {group} bytes, with the grandchildren that left it {with_grandchildren}:\n{text}"
    );
}
