//! `tend forget`: removes the state of services that are no longer supervised, so
//! `tend status` stops listing them.

use std::path::PathBuf;

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
    let layout = Layout::system(PathBuf::new());
    let mut code = exit::OK;
    for name in &a.names {
        let name = name.as_str();
        if layout.record_path(name).exists() {
            errln!("error: `{name}` is installed as a native service");
            errln!("  = help: `tend uninstall {name}` removes it (with --purge, its state and logs too)");
            code = exit::ERROR;
            continue;
        }
        match state::forget(&dir, name) {
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
