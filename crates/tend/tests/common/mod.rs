//! Shared helpers for integration tests: a scratch directory per test, `tend` and the
//! fixture binary, and polling with a deadline (never a bare sleep).
#![allow(dead_code)]

pub mod releases;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The `tend` binary under test.
pub fn tend_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_tend"))
}

/// The fixture child program, built next to `tend` by `cargo build --workspace`.
pub fn fixture_bin() -> PathBuf {
    let p = tend_bin().with_file_name(format!("tend-fixture{}", std::env::consts::EXE_SUFFIX));
    assert!(
        p.exists(),
        "{} is missing: run `cargo build --workspace` (the tests need the fixture program)",
        p.display()
    );
    p
}

/// A scratch directory with state and log folders, and a way to run tend in it.
pub struct Scratch {
    pub dir: tempfile::TempDir,
}

impl Scratch {
    pub fn new() -> Scratch {
        Scratch {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
    pub fn state_dir(&self) -> PathBuf {
        self.path("state")
    }
    pub fn log_dir(&self) -> PathBuf {
        self.path("logs")
    }
    /// Writes a spec file and returns its path.
    pub fn spec(&self, name: &str, text: &str) -> PathBuf {
        let p = self.path(name);
        std::fs::write(&p, text).expect("write spec");
        p
    }
    /// `tend ARGS` with this scratch's state and log directories.
    pub fn tend(&self, args: &[&str]) -> Command {
        let mut c = Command::new(tend_bin());
        c.args(args)
            .env("TEND_STATE_DIR", self.state_dir())
            .env("TEND_LOG_DIR", self.log_dir())
            .env_remove("TEND_PROFILE")
            .current_dir(self.dir.path());
        c
    }
    /// Starts `tend ARGS` in the background, output captured.
    pub fn spawn(&self, args: &[&str]) -> Running {
        let child = self
            .tend(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn tend");
        Running {
            child: Some(child),
            what: format!("tend {}", args.join(" ")),
        }
    }
    /// The service's state file, parsed.
    pub fn state(&self, name: &str) -> Option<serde_json::Value> {
        let text = std::fs::read_to_string(self.state_dir().join(format!("{name}.json"))).ok()?;
        Some(
            serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("state file is not valid JSON ({e}): {text}")),
        )
    }
    /// Lines of a file (empty if missing).
    pub fn lines(&self, path: &Path) -> Vec<String> {
        std::fs::read_to_string(path)
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }
}

/// A `tend` running in the background.
pub struct Running {
    child: Option<Child>,
    pub what: String,
}

impl Running {
    pub fn from(child: Child, what: &str) -> Running {
        Running {
            child: Some(child),
            what: what.to_string(),
        }
    }
    pub fn pid(&self) -> i32 {
        self.child.as_ref().map_or(0, |c| c.id() as i32)
    }
    pub fn signal(&self, sig: i32) {
        // SAFETY: plain kill(2) on a child we own.
        unsafe { libc::kill(self.pid(), sig) };
    }
    /// Waits for exit (bounded), returning the output; prints it if the test fails later.
    pub fn wait(mut self, limit: Duration) -> Output {
        let mut child = self.child.take().expect("waited once");
        let deadline = Instant::now() + limit;
        loop {
            if let Some(_status) = child.try_wait().expect("try_wait") {
                let out = child.wait_with_output().expect("output");
                eprintln!(
                    "--- {} exited: {:?}\n--- stdout:\n{}\n--- stderr:\n{}",
                    self.what,
                    out.status,
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&out.stderr)
                );
                return out;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let out = child.wait_with_output().expect("output");
                panic!(
                    "{} did not exit within {limit:?}\n--- stdout:\n{}\n--- stderr:\n{}",
                    self.what,
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&out.stderr)
                );
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

impl Running {
    /// Sends `sig` from another process (`kill(1)`): never a repeat of a signal this
    /// test sent, whenever it comes (the guard merges a sender's immediate repeats).
    pub fn signal_from_elsewhere(&self, sig: &str) {
        let st = Command::new("kill")
            .args(["-s", sig, &self.pid().to_string()])
            .status()
            .expect("run kill(1)");
        assert!(st.success(), "kill -s {sig} {} failed", self.pid());
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(c) = self.child.as_mut() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Polls `cond` every few milliseconds until it holds or `limit` passes.
pub fn wait_until(limit: Duration, what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !cond() {
        assert!(
            Instant::now() < deadline,
            "timed out after {limit:?} waiting for: {what}"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Whether a process exists and is not a zombie.
pub fn alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => {
            let state = stat
                .rsplit(')')
                .next()
                .and_then(|s| s.split_whitespace().next())
                .unwrap_or("");
            state != "Z" && state != "X"
        }
        Err(_) => false,
    }
}

/// The pids written to a pid file, one per line.
pub fn pids(path: &Path) -> Vec<i32> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect()
}

/// Exit code of a finished tend.
pub fn code(out: &Output) -> i32 {
    out.status.code().unwrap_or(-1)
}

/// `tend ARGS` in scratch `s`, run to its end; what it said goes to the test's output.
pub fn tend(s: &Scratch, args: &[&str]) -> Output {
    let out = s.tend(args).output().expect("run tend");
    eprintln!(
        "--- tend {}: {:?}\n{}{}",
        args.join(" "),
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// What a finished tend printed on stdout.
pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).to_string()
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).to_string()
}

/// A TOML string literal for a path.
pub fn q(p: &Path) -> String {
    toml_str(&p.display().to_string())
}

pub fn toml_str(s: &str) -> String {
    format!("{:?}", s)
}

/// A spec that runs the fixture program with `args`, then the TOML in `extra`.
pub fn fixture_spec(name: &str, args: &[&str], extra: &str) -> String {
    let args: Vec<String> = args.iter().map(|a| toml_str(a)).collect();
    format!(
        "name = \"{name}\"\ncommand = {}\nargs = [{}]\n{extra}\n",
        q(&fixture_bin()),
        args.join(", ")
    )
}

/// A child that ignores SIGTERM, with a stop timeout of `timeout`.
pub fn ignoring_child(s: &Scratch, timeout: &str) -> (std::path::PathBuf, std::path::PathBuf) {
    let pidf = s.path("pids");
    let spec = s.spec(
        "i.toml",
        &fixture_spec(
            "i",
            &[
                "--ignore-term",
                "--pid-file",
                pidf.to_str().unwrap(),
                "--hang",
            ],
            &format!("[stop]\ntimeout = \"{timeout}\"\n"),
        ),
    );
    (spec, pidf)
}
