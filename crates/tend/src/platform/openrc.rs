//! OpenRC: an `openrc-run` script that runs `tend run` in the foreground under
//! `supervise-daemon`, which restarts tend itself if it dies. tend's own event lines
//! (and `inherit` output) go to `tend.log` in the service's log directory.

use std::path::Path;

use super::escape::{sh_word, sh_words};
use super::{Artifact, Backend, Cmd, Layout, NativeStatus, Verb};
use crate::spec::Spec;

/// The OpenRC backend.
pub struct OpenRc;

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
    let mut out = String::new();
    out.push_str("#!/sbin/openrc-run\n");
    out.push_str(&format!(
        "# Written by tend from {}; `tend install` rewrites it.\n",
        layout.spec_path(name).display()
    ));
    out.push_str(&format!("name={}\n", sh_word(name)));
    out.push_str(&format!("description={}\n", sh_word(&description)));
    out.push_str("supervisor=supervise-daemon\n");
    out.push_str(&format!("command={}\n", sh_word(&argv[0])));
    // command_args is expanded by the shell: one level of quoting per argument.
    out.push_str(&format!("command_args={}\n", sh_word(&sh_words(&args))));
    if let Some(u) = spec.user.as_deref().filter(|u| *u != "root") {
        let g = spec.group.clone().unwrap_or_else(|| u.to_string());
        out.push_str(&format!("command_user={}\n", sh_word(&format!("{u}:{g}"))));
    }
    let dir = spec.working_dir.as_ref().map_or_else(
        || layout.state_dir(name).display().to_string(),
        |d| d.display().to_string(),
    );
    out.push_str(&format!("directory={}\n", sh_word(&dir)));
    out.push_str(&format!(
        "output_log={}\nerror_log={}\n",
        sh_word(&log),
        sh_word(&log)
    ));
    out.push_str("respawn_delay=2\nrespawn_max=0\n");
    out.push_str(&format!(
        "retry={}\n",
        sh_word(&format!("TERM/{timeout}/KILL/5"))
    ));
    out.push_str("\ndepend() {\n\tuse net\n}\n");
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

    fn query(&self, name: &str) -> Result<NativeStatus, String> {
        // `rc-service NAME status` exits non-zero when stopped: read its words either way.
        let out = std::process::Command::new("rc-service")
            .args([name, "status"])
            .output()
            .map_err(|e| format!("cannot run rc-service: {e}"))?;
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
