//! SysV init: an LSB init script that starts `tend run` in the background with
//! `start-stop-daemon`. Rendered and snapshot-tested; not exercised end to end here
//! (the project's e2e suites boot systemd and OpenRC).
//!
//! Each value is one shell word, quoted once and read once: the shell that
//! `start-stop-daemon` starts (to append tend's output to `tend.log`) gets its program,
//! log file and arguments as positional parameters of a fixed script
//! ([`START_SCRIPT`]), never as text it would parse again.

use std::path::Path;

use super::escape::{sh_word, sh_words};
use super::{Artifact, Backend, Cmd, InstallError, Layout, NativeStatus, Verb};
use crate::spec::Spec;

/// The SysV backend.
pub struct SysV;

/// What `sh -c` runs under `start-stop-daemon`, with `$0` the program, `$1` the log
/// file and the rest the program's arguments: it appends the program's output to the
/// log and becomes the program (so the pid file names tend itself).
pub const START_SCRIPT: &str = r#"log=$1; shift; exec "$0" "$@" >>"$log" 2>&1"#;

/// The init script text.
pub fn render_script(spec: &Spec, layout: &Layout) -> String {
    let name = spec.name.as_str();
    let argv = layout.run_argv(spec);
    let args: Vec<&str> = argv[1..].iter().map(String::as_str).collect();
    let description = spec
        .description
        .clone()
        .unwrap_or_else(|| spec.display_name().to_string());
    let log = layout.log_dir(spec).join("tend.log").display().to_string();
    let timeout = super::manager_stop_timeout_secs(spec);
    // `/etc/init.d/NAME reload`: tend tells the program, as `[reload]` says.
    let reload = layout.reload_argv(spec);
    let reload: Option<Vec<&str>> = reload
        .as_ref()
        .map(|a| a.iter().map(String::as_str).collect());
    let chuid = spec
        .user
        .as_deref()
        .filter(|u| *u != "root")
        .map(|u| {
            format!(
                "--chuid {} ",
                sh_word(&format!("{u}:{}", spec.group.as_deref().unwrap_or(u)))
            )
        })
        .unwrap_or_default();
    format!(
        r#"#!/bin/sh
### BEGIN INIT INFO
# Provides:          {name}
# Required-Start:    $remote_fs $network
# Required-Stop:     $remote_fs $network
# Default-Start:     2 3 4 5
# Default-Stop:      0 1 6
# Short-Description: {short}
### END INIT INFO
# Written by tend from {spec}; `tend install` rewrites it.

NAME={name_q}
DAEMON={daemon}
PIDFILE={pidfile}
LOG={log}

case "$1" in
  start)
    start-stop-daemon --start --quiet --background --make-pidfile --pidfile "$PIDFILE" {chuid}\
      --startas /bin/sh -- -c {script} "$DAEMON" "$LOG" {args}
    ;;
  stop)
    start-stop-daemon --stop --quiet --retry TERM/{timeout}/KILL/5 --pidfile "$PIDFILE" --remove-pidfile
    ;;
  restart)
    "$0" stop; "$0" start
    ;;{reload}
  status)
    start-stop-daemon --status --pidfile "$PIDFILE" && echo "$NAME is running" || {{ echo "$NAME is not running"; exit 3; }}
    ;;
  *)
    echo "usage: $0 {{start|stop|restart{reload_word}|status}}" >&2; exit 2
    ;;
esac
"#,
        short = description.replace('\n', " "),
        spec = layout.spec_path(name).display(),
        name_q = sh_word(name),
        daemon = sh_word(&argv[0]),
        pidfile = sh_word(&format!("/run/tend-{name}.pid")),
        log = sh_word(&log),
        script = sh_word(START_SCRIPT),
        args = sh_words(&args),
        reload = reload
            .as_deref()
            .map(|w| format!("\n  reload)\n    {}\n    ;;", sh_words(w)))
            .unwrap_or_default(),
        reload_word = if reload.is_some() { "|reload" } else { "" },
    )
}

impl Backend for SysV {
    fn name(&self) -> &'static str {
        "sysv"
    }

    fn render(&self, spec: &Spec, layout: &Layout) -> Vec<Artifact> {
        vec![Artifact {
            path: Path::new("/etc/init.d").join(spec.name.as_str()),
            content: render_script(spec, layout),
            mode: 0o755,
        }]
    }

    fn enable(&self, name: &str) -> Vec<Cmd> {
        vec![Cmd::new("update-rc.d", &[name, "defaults"])]
    }

    fn disable(&self, name: &str) -> Vec<Cmd> {
        vec![
            Cmd::new(&format!("/etc/init.d/{name}"), &["stop"]),
            Cmd::new("update-rc.d", &[name, "remove"]),
        ]
    }

    fn forget(&self, _name: &str) -> Vec<Cmd> {
        Vec::new()
    }

    fn control(&self, name: &str, verb: Verb) -> Cmd {
        Cmd::new(&format!("/etc/init.d/{name}"), &[verb.as_str()])
    }

    fn query(&self, name: &str) -> Result<NativeStatus, InstallError> {
        let running = Cmd::new(&format!("/etc/init.d/{name}"), &["status"])
            .run()
            .is_ok();
        Ok(NativeStatus {
            active: if running {
                "running".into()
            } else {
                "stopped".into()
            },
            sub: None,
            enabled: true,
            main_pid: None,
        })
    }

    fn can_apply(&self) -> bool {
        Path::new("/usr/sbin/update-rc.d").exists()
    }
}
