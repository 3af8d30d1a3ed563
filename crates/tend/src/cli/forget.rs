//! `tend forget`: removes the state of services that are no longer supervised, so
//! `tend status` stops listing them.

use std::path::{Path, PathBuf};

use clap::Args;

use super::exit;
use super::status::{installed_state, show_paths};
use crate::platform::Layout;
use crate::spec::ServiceName;
use crate::supervise::{self, state};

/// Arguments of `tend forget`.
#[derive(Debug, Args)]
pub struct ForgetArgs {
    /// The services.
    #[arg(required = true, value_name = "NAME")]
    pub names: Vec<ServiceName>,
    /// Where state files are (default: /var/lib/tend as root, else ~/.local/state/tend).
    #[arg(long, env = "TEND_STATE_DIR")]
    pub state_dir: Option<PathBuf>,
}

/// `tend forget NAME...`: each name's state file goes, unless its supervisor runs or
/// it is an installed service's own state; the others are still forgotten.
pub fn forget(a: ForgetArgs) -> u8 {
    let dir = a.state_dir.unwrap_or_else(supervise::default_state_dir);
    forget_in(&a.names, &dir, &Layout::system(PathBuf::new()))
}

/// [`forget`] of `names` in `dir`, with the installed services of `layout`.
fn forget_in(names: &[ServiceName], dir: &Path, layout: &Layout) -> u8 {
    let mut code = exit::OK;
    for name in names {
        let name = name.as_str();
        // Only the installed service's own state is refused: a `tend run` of a service
        // with the same name keeps its state elsewhere, and that can go.
        if installed_state(layout, dir, name) {
            errln!(
                "error: {} is the state of the installed service `{name}`",
                state::state_path(dir, name).display()
            );
            errln!("  = help: it goes with `tend uninstall {name} --purge` (which removes the service, its state and logs)");
            code = exit::ERROR;
            continue;
        }
        match state::forget(dir, name) {
            Ok(f) => outln!("forgot `{name}`: removed {}", show_paths(&f.removed)),
            Err(e) => {
                errln!("error: {e}");
                if let Some(help) = help(&e, name, layout) {
                    errln!("  = help: {help}");
                }
                code = exit::ERROR;
            }
        }
    }
    code
}

/// What to do about `e`, a service `name` not forgotten.
fn help(e: &state::ForgetError, name: &str, layout: &Layout) -> Option<String> {
    let installed = layout.record_path(name).exists();
    match e {
        // `tend stop NAME` stops the installed service of that name, through the
        // service manager: not this one.
        state::ForgetError::Supervised { .. } if installed => Some(format!(
            "stop it first (Ctrl-C where it runs), then forget it; `tend stop {name}` would stop the installed service `{name}`, not this one"
        )),
        state::ForgetError::Supervised { .. } => Some(format!(
            "stop it first (`tend stop {name}`, or Ctrl-C where it runs), then forget it"
        )),
        state::ForgetError::Unknown { .. } if installed => Some(format!(
            "`{name}` is installed: its state is in {} and goes with `tend uninstall {name} --purge`",
            layout.state_dir(name).display()
        )),
        state::ForgetError::Unknown { .. } => Some(
            "`tend status` lists the services with state; --state-dir or TEND_STATE_DIR says where to look".to_string(),
        ),
        state::ForgetError::Io { .. } | state::ForgetError::Lock { .. } => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Only an installed service's own state is refused; the state of a `tend run` of
    /// a service with the same name (another file) is forgotten like any other.
    #[test]
    fn only_an_installed_services_own_state_is_not_forgotten() {
        let root = tempfile::tempdir().unwrap();
        let layout = Layout {
            spec_dir: root.path().join("etc"),
            state_root: root.path().join("lib"),
            ..Layout::unix(PathBuf::new())
        };
        let dir = root.path().join("state");
        std::fs::create_dir_all(&layout.spec_dir).unwrap();
        std::fs::create_dir_all(layout.state_dir("web")).unwrap();
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(layout.record_path("web"), "{}").unwrap();
        let own = state::state_path(&layout.state_dir("web"), "web");
        std::fs::write(&own, "{}").unwrap();
        for n in ["web", "old"] {
            std::fs::write(state::state_path(&dir, n), "{}").unwrap();
        }
        let names: Vec<ServiceName> = ["web", "old"].iter().map(|n| n.parse().unwrap()).collect();
        assert_eq!(forget_in(&names, &dir, &layout), exit::OK);
        assert!(!state::state_path(&dir, "web").exists());
        assert!(!state::state_path(&dir, "old").exists());
        assert!(own.exists());
        // In the installed service's own state folder: refused.
        assert_eq!(
            forget_in(&names[..1], &layout.state_dir("web"), &layout),
            exit::ERROR
        );
        assert!(own.exists());
    }

    /// `tend stop NAME` acts on the installed service of that name: it is suggested
    /// to stop a `tend run` only when no service of its name is installed.
    #[test]
    fn the_help_sends_to_tend_stop_only_when_that_stops_this_one() {
        let root = tempfile::tempdir().unwrap();
        let layout = Layout {
            spec_dir: root.path().to_path_buf(),
            ..Layout::unix(PathBuf::new())
        };
        std::fs::write(layout.record_path("web"), "{}").unwrap();
        let supervised = |name: &str| state::ForgetError::Supervised {
            name: name.into(),
            holder: None,
        };
        let unknown = |name: &str| state::ForgetError::Unknown {
            name: name.into(),
            dir: "/st".into(),
        };
        for (e, name, want) in [
            (
                supervised("api"),
                "api",
                "stop it first (`tend stop api`, or Ctrl-C where it runs), then forget it",
            ),
            (
                supervised("web"),
                "web",
                "stop it first (Ctrl-C where it runs), then forget it; `tend stop web` would stop the installed service `web`, not this one",
            ),
            (
                unknown("web"),
                "web",
                "`web` is installed: its state is in /var/lib/tend/web and goes with `tend uninstall web --purge`",
            ),
        ] {
            assert_eq!(help(&e, name, &layout).as_deref(), Some(want));
        }
    }
}
