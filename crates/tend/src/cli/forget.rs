//! `tend forget`: removes the state of services that are no longer supervised, so
//! `tend status` stops listing them.

use std::path::{Path, PathBuf};

use clap::Args;

use super::exit;
use super::status::show_paths;
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
/// it is installed; the others are still forgotten.
pub fn forget(a: ForgetArgs) -> u8 {
    let dir = a.state_dir.unwrap_or_else(supervise::default_state_dir);
    forget_in(&a.names, &dir, &Layout::system(PathBuf::new()))
}

/// [`forget`] of `names` in `dir`, with the installed services of `layout`.
fn forget_in(names: &[ServiceName], dir: &Path, layout: &Layout) -> u8 {
    let mut code = exit::OK;
    for name in names {
        let name = name.as_str();
        if layout.record_path(name).exists() {
            errln!("error: `{name}` is installed as a native service");
            errln!("  = help: `tend uninstall {name}` removes it (with --purge, its state and logs too)");
            code = exit::ERROR;
            continue;
        }
        match state::forget(dir, name) {
            Ok(f) => outln!("forgot `{name}`: removed {}", show_paths(&f.removed)),
            Err(e) => {
                errln!("error: {e}");
                match e {
                    state::ForgetError::Supervised { .. } => errln!(
                        "  = help: stop it first (`tend stop {name}`, or Ctrl-C where it runs), then forget it"
                    ),
                    state::ForgetError::Unknown { .. } => errln!(
                        "  = help: `tend status` lists the services with state; --state-dir or TEND_STATE_DIR says where to look"
                    ),
                    state::ForgetError::Io { .. } | state::ForgetError::Lock { .. } => {}
                }
                code = exit::ERROR;
            }
        }
    }
    code
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_installed_service_is_not_forgotten_the_others_are() {
        let root = tempfile::tempdir().unwrap();
        let layout = Layout {
            spec_dir: root.path().join("etc"),
            ..Layout::unix(PathBuf::new())
        };
        let dir = root.path().join("state");
        std::fs::create_dir_all(&layout.spec_dir).unwrap();
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(layout.record_path("web"), "{}").unwrap();
        for n in ["web", "old"] {
            std::fs::write(state::state_path(&dir, n), "{}").unwrap();
        }
        let names: Vec<ServiceName> = ["web", "old"].iter().map(|n| n.parse().unwrap()).collect();
        assert_eq!(forget_in(&names, &dir, &layout), exit::ERROR);
        assert!(state::state_path(&dir, "web").exists(), "installed: kept");
        assert!(!state::state_path(&dir, "old").exists());
    }
}
