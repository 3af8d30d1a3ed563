//! OpenRC: an `openrc-run` script that runs `tend run` in the foreground under
//! `supervise-daemon`, which restarts tend itself if it dies. tend's own event lines
//! (and `inherit` output) go to `tend.log` in the service's log directory.
//!
//! The script defines its own `start()`, which calls `supervise-daemon` with each word
//! shell-quoted once. OpenRC's own start (`supervise_start` in
//! `/lib/rc/sh/supervise-daemon.sh`) passes `command=`, `directory=`, `output_log=`
//! and the other variables unquoted through `eval`, a second parse that would split a
//! path at its spaces and run a `$(…)` in it as root. `stop` and `status` stay
//! OpenRC's: they need only `supervisor=` and the service name (and `command=` being
//! set, which keeps OpenRC from emptying the service's cgroup after a start).

use std::path::Path;

use super::escape::sh_word;
use super::{Artifact, Backend, Cmd, InstallError, Layout, NativeStatus, Verb};
use crate::spec::{Limit, Resources, Spec};

/// The OpenRC backend.
pub struct OpenRc;

/// What `start()` runs: `supervise-daemon "$RC_SVCNAME" --start …`, the words after
/// the service name.
pub fn supervise_daemon_args(spec: &Spec, layout: &Layout) -> Vec<String> {
    let name = spec.name.as_str();
    let argv = layout.run_argv(spec);
    let log = layout.log_dir(spec).join("tend.log").display().to_string();
    let timeout = super::manager_stop_timeout_secs(spec);
    let dir = spec.working_dir.as_ref().map_or_else(
        || layout.state_dir(name).display().to_string(),
        |d| d.display().to_string(),
    );
    let mut words: Vec<String> = vec![
        "--start".into(),
        "--retry".into(),
        format!("TERM/{timeout}/KILL/5"),
        "--chdir".into(),
        dir,
        "--stdout".into(),
        log.clone(),
        "--stderr".into(),
        log,
        "--respawn-delay".into(),
        "2".into(),
        "--respawn-max".into(),
        "0".into(),
    ];
    if let Some(u) = spec.user.as_deref().filter(|u| *u != "root") {
        let g = spec.group.clone().unwrap_or_else(|| u.to_string());
        words.extend(["--user".into(), format!("{u}:{g}")]);
    }
    words.push(argv[0].clone());
    words.push("--".into());
    words.extend(argv[1..].iter().cloned());
    words
}

/// `[resources]` as OpenRC variables: `rc_ulimit` (the limits of the processes it
/// starts: `-n` open files, `-l` locked memory in KiB) and the service's cgroup,
/// `rc_cgroup_settings` on the unified hierarchy (cgroup v2) and `rc_cgroup_memory`,
/// `rc_cgroup_cpu`, `rc_cgroup_pids` for v1 controllers (OpenRC uses those the host
/// mounts). The process settings (affinity, nice, I/O class, OOM score, scheduling)
/// are applied by `tend run` in the child.
pub fn resource_settings(r: &Resources) -> Vec<(&'static str, String)> {
    let mut ulimit: Vec<String> = Vec::new();
    if let Some(n) = r.nofile {
        ulimit.push(format!(
            "-n {}",
            n.0.map_or("unlimited".into(), |n| n.to_string())
        ));
    }
    if let Some(m) = r.memlock {
        let kib =
            m.0.map_or("unlimited".into(), |b| b.div_ceil(1024).to_string());
        ulimit.push(format!("-l {kib}"));
    }
    let max = |l: Limit, none: &str| l.0.map_or(none.to_string(), |n| n.to_string());
    // cpu.max and cfs_quota_us over a period of 100 ms; cpu.shares is 1024 at the
    // weight 100 (systemd's mapping).
    let quota = r.cpu_max.map(|p| u64::from(p.0) * 1000);
    let mut v2: Vec<String> = Vec::new();
    let (mut memory, mut cpu, mut pids): (Vec<String>, Vec<String>, Vec<String>) =
        Default::default();
    if let Some(m) = r.memory_max {
        v2.push(format!("memory.max {}", max(m, "max")));
        memory.push(format!("memory.limit_in_bytes {}", max(m, "-1")));
    }
    if let Some(q) = quota {
        v2.push(format!("cpu.max {q} 100000"));
        cpu.push(format!("cpu.cfs_period_us 100000 cpu.cfs_quota_us {q}"));
    }
    if let Some(w) = r.cpu_weight {
        v2.push(format!("cpu.weight {w}"));
        cpu.push(format!("cpu.shares {}", (u64::from(w) * 1024 / 100).max(2)));
    }
    if let Some(t) = r.tasks_max {
        v2.push(format!("pids.max {}", max(t, "max")));
        pids.push(format!("pids.max {}", max(t, "max")));
    }
    let mut out = Vec::new();
    for (var, words, sep) in [
        ("rc_ulimit", ulimit, " "),
        ("rc_cgroup_settings", v2, "\n"),
        ("rc_cgroup_memory", memory, " "),
        ("rc_cgroup_cpu", cpu, " "),
        ("rc_cgroup_pids", pids, " "),
    ] {
        if !words.is_empty() {
            out.push((var, words.join(sep)));
        }
    }
    out
}

/// The init script text.
pub fn render_script(spec: &Spec, layout: &Layout) -> String {
    let name = spec.name.as_str();
    let description = spec
        .description
        .clone()
        .unwrap_or_else(|| spec.display_name().to_string());
    let args = supervise_daemon_args(spec, layout);
    let words: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut out = String::new();
    out.push_str("#!/sbin/openrc-run\n");
    out.push_str(&format!(
        "# Written by tend from {}; `tend install` rewrites it.\n",
        layout.spec_path(name).display()
    ));
    out.push_str(&format!("name={}\n", sh_word(name)));
    out.push_str(&format!("description={}\n", sh_word(&description)));
    out.push_str("supervisor=supervise-daemon\n");
    out.push_str(&format!(
        "command={}\n",
        sh_word(&layout.tend_bin.display().to_string())
    ));
    for (var, value) in resource_settings(&spec.resources) {
        out.push_str(&format!("{var}={}\n", sh_word(&value)));
    }
    let reload = layout.reload_argv(spec);
    if reload.is_some() {
        out.push_str("extra_started_commands=reload\n");
    }
    out.push_str("\ndepend() {\n\tuse net\n}\n");
    out.push_str("\n# Not OpenRC's start, which passes the paths through `eval` a second time.\n");
    out.push_str("start() {\n");
    out.push_str(&format!(
        "\tebegin {}\n",
        sh_word(&format!("Starting {name}"))
    ));
    // One option per line, up to tend's own command line.
    let sep = words.iter().position(|w| *w == "--").unwrap_or(words.len());
    out.push_str("\tsupervise-daemon \"$RC_SVCNAME\"");
    for (i, w) in words.iter().enumerate() {
        let brk = i < sep && w.starts_with("--") || i + 1 == sep;
        out.push_str(if brk { " \\\n\t\t" } else { " " });
        out.push_str(&sh_word(w));
    }
    out.push('\n');
    out.push_str(&format!(
        "\teend $? {}\n}}\n",
        sh_word(&format!("failed to start {name}"))
    ));
    // `rc-service NAME reload`: tend tells the program, as `[reload]` says.
    if let Some(argv) = reload {
        out.push_str("\nreload() {\n");
        out.push_str(&format!(
            "\tebegin {}\n",
            sh_word(&format!("Reloading {name}"))
        ));
        let words: Vec<String> = argv.iter().map(|w| sh_word(w)).collect();
        out.push_str(&format!("\t{}\n", words.join(" ")));
        out.push_str(&format!(
            "\teend $? {}\n}}\n",
            sh_word(&format!("failed to reload {name}"))
        ));
    }
    out
}

impl Backend for OpenRc {
    fn name(&self) -> &'static str {
        "openrc"
    }

    fn render(&self, spec: &Spec, layout: &Layout) -> Vec<Artifact> {
        vec![Artifact {
            path: Path::new("/etc/init.d").join(spec.name.as_str()),
            content: render_script(spec, layout),
            mode: 0o755,
        }]
    }

    fn enable(&self, name: &str) -> Vec<Cmd> {
        vec![Cmd::new("rc-update", &["add", name, "default"])]
    }

    fn disable(&self, name: &str) -> Vec<Cmd> {
        vec![
            Cmd::new("rc-service", &[name, "stop"]),
            Cmd::new("rc-update", &["del", name, "default"]),
        ]
    }

    fn forget(&self, _name: &str) -> Vec<Cmd> {
        Vec::new()
    }

    fn control(&self, name: &str, verb: Verb) -> Cmd {
        Cmd::new("rc-service", &[name, verb.as_str()])
    }

    fn query(&self, name: &str) -> Result<NativeStatus, InstallError> {
        // `rc-service NAME status` exits non-zero when stopped: read its words either way.
        let out = std::process::Command::new("rc-service")
            .args([name, "status"])
            .output()
            .map_err(|source| InstallError::Spawn {
                command: format!("rc-service {name} status"),
                source,
            })?;
        let text = String::from_utf8_lossy(&out.stdout).to_string()
            + &String::from_utf8_lossy(&out.stderr);
        let active = text
            .split_whitespace()
            .skip_while(|w| *w != "status:")
            .nth(1)
            .unwrap_or("unknown")
            .to_string();
        let enabled = Path::new("/etc/runlevels/default").join(name).exists();
        let main_pid = std::fs::read_to_string(format!("/run/supervise-{name}.pid"))
            .ok()
            .and_then(|p| p.trim().parse().ok());
        Ok(NativeStatus {
            active,
            sub: None,
            enabled,
            main_pid,
        })
    }

    fn can_apply(&self) -> bool {
        Path::new("/run/openrc").is_dir()
    }
}
