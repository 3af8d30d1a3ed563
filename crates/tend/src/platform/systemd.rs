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
use crate::spec::{Limit, LogTarget, Resources, Spec};

/// The systemd backend.
pub struct Systemd;

/// Where units go.
pub const UNIT_DIR: &str = "/etc/systemd/system";

fn under_home(p: &Path) -> bool {
    ["/home", "/root", "/run/user"]
        .iter()
        .any(|h| p.starts_with(h))
}

/// The `PrivateTmp=` setting of a unit's text when it gives the service private `/tmp`
/// and `/var/tmp` folders (`yes`, `disconnected`): the last one set, as systemd reads
/// it (a spec's `[systemd.service]` may turn it off); `None` when it does not.
pub fn unit_private_tmp(unit: &str) -> Option<String> {
    let v = unit
        .lines()
        .filter_map(|l| l.trim().strip_prefix("PrivateTmp="))
        .next_back()?
        .trim();
    let off = matches!(
        v.to_ascii_lowercase().as_str(),
        "" | "no" | "false" | "0" | "off"
    );
    (!off).then(|| v.to_string())
}

/// The files and folders of an installed spec (paths made absolute) that the service
/// will not find where the spec says: under `/tmp` or `/var/tmp`, which a unit with
/// `PrivateTmp=` set (`private_tmp`, its value as the unit writes it) replaces with
/// empty folders of the service's own, and under `/dev/shm`, a memory file system
/// emptied at every boot (on every backend). One line each.
pub fn temporary_places(spec: &Spec, private_tmp: Option<&str>) -> Vec<String> {
    let command = Path::new(&spec.command);
    let places = [
        ("command", command.is_absolute().then_some(command)),
        ("working_dir", spec.working_dir.as_deref()),
        ("env_file", spec.env_file.as_deref()),
        (
            "stop.command",
            spec.stop
                .command
                .first()
                .map(Path::new)
                .filter(|p| p.is_absolute()),
        ),
        ("log.dir", spec.log.dir.as_deref()),
    ];
    let mut out = Vec::new();
    for (key, path) in places {
        let Some(path) = path else { continue };
        let shown = path.display();
        if let Some(setting) = private_tmp {
            if let Some(tmp) = ["/tmp", "/var/tmp"]
                .into_iter()
                .find(|t| path.starts_with(t))
            {
                out.push(format!(
                    "`{key}` {shown} is under {tmp}, which the unit's PrivateTmp={setting} replaces with an empty folder of the service's own: the service will not find it there; move it (e.g. under /opt or /srv)"
                ));
                continue;
            }
        }
        if path.starts_with("/dev/shm") {
            out.push(format!(
                "`{key}` {shown} is under /dev/shm, a memory file system emptied at every boot: the service will not find it after a restart of the machine; move it (e.g. under /opt or /srv)"
            ));
        }
    }
    out
}

/// What `ExecStart=` runs: `tend run --no-guard …`. systemd kills the whole cgroup
/// when the main process dies, so tend's guard process would only cost memory.
pub fn exec_argv(spec: &Spec, layout: &Layout) -> Vec<String> {
    let mut argv = layout.run_argv(spec);
    argv.insert(2, "--no-guard".into());
    argv
}

/// `[resources]` as `[Service]` keys (`systemd.resource-control(5)`, `systemd.exec(5)`),
/// in the order of the spec. `systemd.service` keys given in the spec replace them.
/// With `memory_max`, `OOMPolicy=continue`: systemd's default (`stop`) would stop the
/// whole unit, tend included, when the OOM killer kills the child, so tend could
/// neither report the kill nor apply its restart policy.
pub fn resource_keys(r: &Resources) -> Vec<(&'static str, String)> {
    let limit = |l: Limit| {
        l.0.map_or_else(|| "infinity".to_string(), |n| n.to_string())
    };
    let mut out: Vec<(&'static str, String)> = Vec::new();
    if let Some(m) = r.memory_max {
        out.push(("MemoryMax", limit(m)));
        out.push(("OOMPolicy", "continue".into()));
    }
    if let Some(c) = r.cpu_max {
        out.push(("CPUQuota", c.to_string()));
    }
    if let Some(w) = r.cpu_weight {
        out.push(("CPUWeight", w.to_string()));
    }
    if let Some(t) = r.tasks_max {
        out.push(("TasksMax", limit(t)));
    }
    if let Some(n) = r.nofile {
        out.push(("LimitNOFILE", limit(n)));
    }
    if let Some(m) = r.memlock {
        out.push(("LimitMEMLOCK", limit(m)));
    }
    if !r.cpu_affinity.is_empty() {
        let cpus: Vec<String> = r.cpu_affinity.iter().map(u32::to_string).collect();
        out.push(("CPUAffinity", cpus.join(" ")));
    }
    if let Some(n) = r.nice {
        out.push(("Nice", n.to_string()));
    }
    if let Some(c) = r.io_class {
        out.push(("IOSchedulingClass", c.to_string()));
    }
    if let Some(p) = r.io_priority {
        out.push(("IOSchedulingPriority", p.to_string()));
    }
    if let Some(o) = r.oom_score_adjust {
        out.push(("OOMScoreAdjust", o.to_string()));
    }
    if let Some(s) = r.scheduling {
        out.push(("CPUSchedulingPolicy", s.policy.to_string()));
        if s.policy.realtime() {
            out.push(("CPUSchedulingPriority", s.priority.to_string()));
        }
    }
    out
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
    // `systemctl reload`: through tend (systemd's main pid is the supervisor, not the
    // program). `+`: as root and outside the sandbox, as `tend reload` is run by hand
    // (the control channel and the audit log are root's).
    if let Some(reload) = layout.reload_argv(spec) {
        let words: Vec<&str> = reload.iter().map(String::as_str).collect();
        set("ExecReload", format!("+{}", systemd_exec(&words)));
    }
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
    // READY=1 waits for the first healthy probe: systemd gives it that long, and a
    // margin (whatever the host's DefaultTimeoutStartSec).
    if let Some(h) = &spec.health {
        let ready = crate::supervise::policy::ready_within(h).as_secs() + 30;
        set("TimeoutStartSec", format!("{ready}s"));
    }
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
    for (k, v) in resource_keys(&spec.resources) {
        service.push((k.to_string(), v));
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

    fn control_no_wait(&self, name: &str, verb: Verb) -> Cmd {
        match verb {
            Verb::Stop => self.control(name, verb),
            _ => Cmd::new(
                "systemctl",
                &["--no-block", verb.as_str(), &format!("{name}.service")],
            ),
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(extra: &str) -> Spec {
        let text = format!("name = \"web\"\ncommand = \"/opt/web/web\"\n{extra}");
        crate::spec::load_str(Path::new("/srv/web.toml"), &text, &Default::default())
            .unwrap()
            .services
            .remove(0)
    }

    /// The unit tend writes hides /tmp and /var/tmp, unless the spec turns it off.
    #[test]
    fn the_rendered_unit_has_a_private_tmp_unless_the_spec_says_no() {
        let layout = Layout::unix("/usr/local/bin/tend".into());
        let cases = [
            ("", Some("yes")),
            ("[systemd.service]\nPrivateTmp = \"no\"\n", None),
            ("[systemd.service]\nPrivateTmp = \"false\"\n", None),
            (
                "[systemd.service]\nPrivateTmp = \"disconnected\"\n",
                Some("disconnected"),
            ),
        ];
        for (extra, private) in cases {
            let unit = render_unit(&spec(extra), &layout);
            assert_eq!(
                unit_private_tmp(&unit).as_deref(),
                private,
                "{extra}\n{unit}"
            );
        }
    }

    #[test]
    fn places_under_a_temporary_folder_are_named() {
        // (spec lines, private tmp, the keys warned about)
        let cases: &[(&str, bool, &[&str])] = &[
            ("", true, &[]),
            ("working_dir = \"/tmp/web\"\n", true, &["working_dir"]),
            ("working_dir = \"/tmp/web\"\n", false, &[]),
            ("env_file = \"/var/tmp/web.env\"\n", true, &["env_file"]),
            ("working_dir = \"/tmpfiles/web\"\n", true, &[]),
            ("env_file = \"/dev/shm/web.env\"\n", false, &["env_file"]),
            (
                "working_dir = \"/dev/shm/w\"\nenv_file = \"/tmp/e\"\n[log]\ndir = \"/var/tmp/l\"\n",
                true,
                &["working_dir", "env_file", "log.dir"],
            ),
            ("[stop]\ncommand = [\"/tmp/drain\"]\n", true, &["stop.command"]),
        ];
        for (extra, private, keys) in cases {
            let found = temporary_places(&spec(extra), private.then_some("yes"));
            let named: Vec<&str> = found.iter().filter_map(|w| w.split('`').nth(1)).collect();
            assert_eq!(named, *keys, "{extra} private={private}: {found:?}");
        }
        let mut s = spec("");
        s.command = "/tmp/web".into();
        let w = temporary_places(&s, Some("yes"));
        assert_eq!(w.len(), 1);
        assert!(w[0].contains("PrivateTmp=yes"), "{w:?}");
        // The warning names the setting the unit has.
        let w = temporary_places(&s, Some("disconnected"));
        assert!(w[0].contains("PrivateTmp=disconnected"), "{w:?}");
        assert!(!w[0].contains("PrivateTmp=yes"), "{w:?}");
        // A bare name is looked up on PATH, not a place in /tmp.
        s.command = "tmp".into();
        assert!(temporary_places(&s, Some("yes")).is_empty());
    }
}
