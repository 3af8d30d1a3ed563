//! No service control manager on this OS. `tend run --service` does not parse here
//! (the command line has `--service` only where [`AVAILABLE`]), so [`serve`] is never
//! called: it exists so that `cli/` calls one name on every OS. Windows has these
//! names in `scm.rs` (and an Event Log observer besides).

use std::path::PathBuf;

use crate::spec::Loaded;
use crate::supervise::{Extras, Options};

/// Whether this OS has a service control manager to run under.
pub const AVAILABLE: bool = false;

/// Why `tend run --service` did not run (the same as on Windows).
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// Started from a console, not by the SCM.
    #[error("`tend run --service` is what the service control manager starts")]
    NotAService,
    /// The dispatcher failed, or (here) there is none.
    #[error("{0}")]
    Scm(String),
}

/// Never called (see the module): says that this OS has no service control manager.
pub fn serve<L, S>(
    _name: &str,
    _log_dir: Option<PathBuf>,
    _load: L,
    _supervise: S,
) -> Result<(), RunError>
where
    L: FnOnce() -> Result<(Loaded, Options), u8> + Send + 'static,
    S: FnOnce(&Loaded, &Options, Extras) -> u8 + Send + 'static,
{
    Err(RunError::Scm(
        "this OS has no service control manager to run under".into(),
    ))
}
