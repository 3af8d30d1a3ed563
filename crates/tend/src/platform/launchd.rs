//! launchd (macOS): a LaunchDaemon plist that runs `tend run`. Rendered and
//! snapshot-tested here; it cannot be run on this project's Linux machines, so the
//! commands are what `launchctl` expects but are not exercised end to end.

use std::path::Path;

use super::escape::xml_text;
use super::{Artifact, Backend, Cmd, InstallError, Layout, NativeStatus, Verb};
use crate::spec::Spec;

/// The launchd backend.
pub struct Launchd;

fn label(name: &str) -> String {
    format!("dev.tend.{name}")
}

/// The plist text.
pub fn render_plist(spec: &Spec, layout: &Layout) -> String {
    let name = spec.name.as_str();
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!DOCTYPE plist PUBLIC \"-//Apple//DTD PLIST 1.0//EN\" \"http://www.apple.com/DTDs/PropertyList-1.0.dtd\">\n<plist version=\"1.0\">\n<dict>\n");
    out.push_str(&format!(
        "  <key>Label</key>\n  <string>{}</string>\n",
        xml_text(&label(name))
    ));
    out.push_str("  <key>ProgramArguments</key>\n  <array>\n");
    for a in layout.run_argv(spec) {
        out.push_str(&format!("    <string>{}</string>\n", xml_text(&a)));
    }
    out.push_str("  </array>\n");
    if let Some(u) = spec.user.as_deref().filter(|u| *u != "root") {
        out.push_str(&format!(
            "  <key>UserName</key>\n  <string>{}</string>\n",
            xml_text(u)
        ));
        if let Some(g) = &spec.group {
            out.push_str(&format!(
                "  <key>GroupName</key>\n  <string>{}</string>\n",
                xml_text(g)
            ));
        }
    }
    let dir = spec
        .working_dir
        .as_ref()
        .map_or_else(|| layout.state_dir(name), |d| d.clone());
    out.push_str(&format!(
        "  <key>WorkingDirectory</key>\n  <string>{}</string>\n",
        xml_text(&dir.display().to_string())
    ));
    out.push_str("  <key>RunAtLoad</key>\n  <true/>\n");
    out.push_str("  <key>KeepAlive</key>\n  <dict>\n    <key>SuccessfulExit</key>\n    <false/>\n  </dict>\n");
    let timeout = super::manager_stop_timeout_secs(spec);
    out.push_str(&format!(
        "  <key>ExitTimeOut</key>\n  <integer>{timeout}</integer>\n"
    ));
    let log = layout.log_dir(spec).join("tend.log").display().to_string();
    out.push_str(&format!(
        "  <key>StandardOutPath</key>\n  <string>{}</string>\n",
        xml_text(&log)
    ));
    out.push_str(&format!(
        "  <key>StandardErrorPath</key>\n  <string>{}</string>\n",
        xml_text(&log)
    ));
    out.push_str("</dict>\n</plist>\n");
    out
}

impl Backend for Launchd {
    fn name(&self) -> &'static str {
        "launchd"
    }

    fn render(&self, spec: &Spec, layout: &Layout) -> Vec<Artifact> {
        let path = Path::new("/Library/LaunchDaemons")
            .join(format!("{}.plist", label(spec.name.as_str())));
        vec![Artifact {
            path,
            content: render_plist(spec, layout),
            mode: 0o644,
        }]
    }

    fn enable(&self, name: &str) -> Vec<Cmd> {
        let plist = format!("/Library/LaunchDaemons/{}.plist", label(name));
        vec![Cmd::new("launchctl", &["bootstrap", "system", &plist])]
    }

    fn disable(&self, name: &str) -> Vec<Cmd> {
        vec![Cmd::new(
            "launchctl",
            &["bootout", &format!("system/{}", label(name))],
        )]
    }

    fn forget(&self, _name: &str) -> Vec<Cmd> {
        Vec::new()
    }

    fn control(&self, name: &str, verb: Verb) -> Cmd {
        let target = format!("system/{}", label(name));
        match verb {
            Verb::Start => Cmd::new("launchctl", &["kickstart", &target]),
            Verb::Stop => Cmd::new("launchctl", &["kill", "SIGTERM", &target]),
            Verb::Restart => Cmd::new("launchctl", &["kickstart", "-k", &target]),
        }
    }

    fn query(&self, _name: &str) -> Result<NativeStatus, InstallError> {
        Err(InstallError::Refused(
            "querying launchd is not implemented: run `launchctl print system/dev.tend.NAME`"
                .into(),
        ))
    }

    fn can_apply(&self) -> bool {
        cfg!(target_os = "macos")
    }
}
