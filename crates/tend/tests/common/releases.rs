//! Releases for the upgrade tests: minisign key pairs and signatures made with the
//! real tool (Debian's `minisign`; `.ci/run` installs it), and what a service under
//! `tend run` looks like (its releases index, its health, its pid and program).

use std::path::{Path, PathBuf};
use std::process::Command;

use super::*;

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// A minisign key pair made by the real tool: (public key line, secret key file).
pub fn key_pair(s: &Scratch, name: &str) -> (String, PathBuf) {
    let (public, secret) = (
        s.path(&format!("{name}.pub")),
        s.path(&format!("{name}.key")),
    );
    let out = Command::new("minisign")
        .args(["-G", "-W", "-p"])
        .arg(&public)
        .arg("-s")
        .arg(&secret)
        .output()
        .expect("minisign is installed (apt-get install minisign; .ci/run does)");
    assert!(out.status.success(), "minisign -G: {out:?}");
    let text = std::fs::read_to_string(&public).unwrap();
    // The real tool names the key id in the comment line; tend reads the same id.
    let mut lines = text.lines();
    let comment = lines.next().unwrap();
    let line = lines.next().unwrap().to_string();
    let id = tend::update::minisign::Key::parse(&line).unwrap().id;
    assert!(
        comment.ends_with(&format!(" {id}")),
        "{comment} names key {id}"
    );
    (line, secret)
}

/// Signs `file` with the real tool, `version:VERSION` in the trusted comment.
pub fn sign(file: &Path, secret: &Path, version: &str) -> PathBuf {
    let out = Command::new("minisign")
        .arg("-S")
        .arg("-s")
        .arg(secret)
        .arg("-m")
        .arg(file)
        .args(["-t", &format!("version:{version}")])
        .output()
        .expect("minisign");
    assert!(out.status.success(), "minisign -S: {out:?}");
    PathBuf::from(format!("{}.minisig", file.display()))
}

/// A shell script as a release's program.
pub fn script(s: &Scratch, name: &str, body: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let p = s.path(name);
    std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    p
}

pub fn index(s: &Scratch) -> serde_json::Value {
    let text = std::fs::read_to_string(s.state_dir().join("releases/app/index.json"))
        .unwrap_or_else(|_| "{}".into());
    serde_json::from_str(&text).unwrap()
}

pub fn healthy(s: &Scratch) -> bool {
    s.state("app")
        .is_some_and(|v| v["state"] == "running" && v["health"]["state"] == "healthy")
}

pub fn pid(s: &Scratch) -> i64 {
    s.state("app").and_then(|v| v["pid"].as_i64()).unwrap_or(0)
}

/// The program a process runs.
pub fn exe(pid: i64) -> PathBuf {
    std::fs::read_link(format!("/proc/{pid}/exe")).unwrap_or_default()
}
