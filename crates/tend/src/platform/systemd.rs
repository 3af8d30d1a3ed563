//! systemd: a `Type=notify` unit that runs `tend run` on the installed spec.
//!
//! - The process systemd starts is tend's supervisor itself (`--no-guard`: the cgroup
//!   contains the tree, so no guard process is needed); it sends `READY=1` once the
//!   service's program runs. `NotifyAccess=all` keeps that working if the main pid
//!   ever is not the sender.
//! - `KillMode=mixed`: `systemctl stop` sends SIGTERM to the supervisor only, which
//!   stops the program gracefully; after the timeout, systemd SIGKILLs everything left
//!   in the cgroup. If the supervisor dies, systemd kills the rest of the cgroup.
//! - `Restart=on-failure` is a backstop for the supervisor itself; restarting the
//!   program is tend's job.
//! - Hardening is on by default, with the service's own directories writable; keys in
//!   the spec's `[systemd.service]` table are added, replacing tend's where they clash.

use std::collections::BTreeMap;
use std::path::Path;

use super::escape::{systemd_dir, systemd_exec, systemd_paths, systemd_raw};
use super::{Artifact, Backend, Cmd, InstallError, Layout, NativeStatus, Verb};
use crate::spec::{LogTarget, Spec};

/// The systemd backend.
pub struct Systemd;

/// Where units go.
pub const UNIT_DIR: &str = "/etc/systemd/system";

fn under_home(p: &Path) -> bool {
    ["/home", "/root", "/run/user"]
        .iter()
        .any(|h| p.starts_with(h))
}

/// What `ExecStart=` runs: `tend run --no-guard …`. systemd kills the whole cgroup
/// when the main process dies, so tend's guard process would only cost memory.
pub fn exec_argv(spec: &Spec, layout: &Layout) -> Vec<String> {
    let mut argv = layout.run_argv(spec);
    argv.insert(2, "--no-guard".into());
    argv
}

/// The unit file text.
pub fn render_unit(spec: &Spec, layout: &Layout) -> String {
    let name = spec.name.as_str();
    let argv = exec_argv(spec, layout);
    let words: Vec<&str> = argv.iter().map(String::as_str).collect();
    let mut unit: Vec<(String, String)> = vec![
        // Raw text but for specifiers; spec validation refuses a trailing backslash.
        (
            "Description".into(),
            systemd_raw(
                &spec
                    .description
                    .clone()
                    .unwrap_or_else(|| spec.display_name().to_string()),
            ),
        ),
        (
            "Documentation".into(),
            format!("file:{}", layout.spec_path(name).display()),
        ),
        ("After".into(), "network.target".into()),
    ];
    for (k, v) in &spec.systemd.unit {
        unit.retain(|(key, _)| key != k);
        unit.push((k.clone(), v.clone()));
    }
    let mut writable = vec![
        layout.state_dir(name).display().to_string(),
        layout.log_dir(spec).display().to_string(),
    ];
    writable.dedup();
    let touches_home = [
        Some(Path::new(&spec.command)),
        spec.working_dir.as_deref(),
        spec.env_file.as_deref(),
    ]
    .into_iter()
    .flatten()
    .any(under_home);
    let mut service: Vec<(String, String)> = Vec::new();
    let mut set = |k: &str, v: String| service.push((k.to_string(), v));
    set("Type", "notify".into());
    set("NotifyAccess", "all".into());
    set("ExecStart", systemd_exec(&words));
    if let Some(u) = spec.user.as_deref().filter(|u| *u != "root") {
        set("User", systemd_raw(u));
        set("Group", systemd_raw(spec.group.as_deref().unwrap_or(u)));
    }
    // Raw but for specifiers; the path has no control characters (validated).
    let dir = spec.working_dir.as_ref().map_or_else(
        || layout.state_dir(name).display().to_string(),
        |d| d.display().to_string(),
    );
    set("WorkingDirectory", systemd_dir(&dir));
    set("Restart", "on-failure".into());
    set("RestartSec", "2s".into());
    set("KillMode", "mixed".into());
    set(
        "TimeoutStopSec",
        format!("{}s", super::manager_stop_timeout_secs(spec)),
    );
    set("NoNewPrivileges", "yes".into());
    set("PrivateTmp", "yes".into());
    set("ProtectSystem", "strict".into());
    set(
        "ProtectHome",
        if touches_home {
            "read-only".into()
        } else {
            "yes".into()
        },
    );
    let rw: Vec<&str> = writable.iter().map(String::as_str).collect();
    set("ReadWritePaths", systemd_paths(&rw));
    if spec.log.stdout == LogTarget::Inherit || spec.log.stderr == LogTarget::Inherit {
        set("SyslogIdentifier", name.into());
    }
    for (k, v) in &spec.systemd.service {
        service.retain(|(key, _)| key != k);
        service.push((k.clone(), v.clone()));
    }
    let mut out = format!(
        "# Written by tend from {}; `tend install` rewrites it.\n",
        layout.spec_path(name).display()
    );
    out.push_str("[Unit]\n");
    for (k, v) in unit {
        out.push_str(&format!("{k}={v}\n"));
    }
    out.push_str("\n[Service]\n");
    for (k, v) in service {
        out.push_str(&format!("{k}={v}\n"));
    }
    out.push_str("\n[Install]\nWantedBy=multi-user.target\n");
    out
}

impl Backend for Systemd {
    fn name(&self) -> &'static str {
        "systemd"
    }

    fn render(&self, spec: &Spec, layout: &Layout) -> Vec<Artifact> {
        vec![Artifact {
            path: Path::new(UNIT_DIR).join(format!("{}.service", spec.name)),
            content: render_unit(spec, layout),
            mode: 0o644,
        }]
    }

    fn enable(&self, name: &str) -> Vec<Cmd> {
        vec![
            Cmd::new("systemctl", &["daemon-reload"]),
            Cmd::new("systemctl", &["enable", &format!("{name}.service")]),
        ]
    }

    fn disable(&self, name: &str) -> Vec<Cmd> {
        let unit = format!("{name}.service");
        // reset-failed while the unit is still loaded: after the reload it is unknown.
        vec![
            Cmd::new("systemctl", &["disable", "--now", &unit]),
            Cmd::new("systemctl", &["reset-failed", &unit]),
        ]
    }

    fn forget(&self, _name: &str) -> Vec<Cmd> {
        vec![Cmd::new("systemctl", &["daemon-reload"])]
    }

    fn control(&self, name: &str, verb: Verb) -> Cmd {
        Cmd::new("systemctl", &[verb.as_str(), &format!("{name}.service")])
    }

    fn query(&self, name: &str) -> Result<NativeStatus, InstallError> {
        let out = Cmd::new(
            "systemctl",
            &[
                "show",
                &format!("{name}.service"),
                "-p",
                "ActiveState",
                "-p",
                "SubState",
                "-p",
                "UnitFileState",
                "-p",
                "MainPID",
            ],
        )
        .run()?;
        let props: BTreeMap<&str, &str> = out.lines().filter_map(|l| l.split_once('=')).collect();
        Ok(NativeStatus {
            active: props.get("ActiveState").unwrap_or(&"unknown").to_string(),
            sub: props.get("SubState").map(|s| s.to_string()),
            enabled: props.get("UnitFileState").is_some_and(|s| *s == "enabled"),
            main_pid: props
                .get("MainPID")
                .and_then(|p| p.parse().ok())
                .filter(|p| *p != 0),
        })
    }

    fn can_apply(&self) -> bool {
        Path::new("/run/systemd/system").is_dir()
    }
}
