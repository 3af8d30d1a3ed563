//! No service control manager on this OS: `tend run --service` is refused with a
//! clear error. Windows has the same names in `scm.rs`.

use std::path::PathBuf;

use crate::spec::Loaded;
use crate::supervise::{Extras, Options};

/// Whether this OS has a service control manager to run under.
pub const AVAILABLE: bool = false;

/// Why `tend run --service` did not run.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// Started from a console, not by the SCM (never here).
    #[error("`tend run --service` is what the service control manager starts")]
    NotAService,
    /// There is no SCM on this OS.
    #[error("`tend run --service` is for the Windows service control manager; this OS has none (run the spec without --service)")]
    NoScm,
    /// The dispatcher failed (never here).
    #[error("{0}")]
    Scm(String),
}

/// `tend run --service` where there is no SCM: the [`RunError::NoScm`] error; nothing
/// is loaded or run.
pub fn run_service<L, S>(
    _name: &str,
    _log_dir: Option<PathBuf>,
    _load: L,
    _supervise: S,
) -> Result<(), RunError>
where
    L: FnOnce() -> Result<(Loaded, Options), u8> + Send + 'static,
    S: FnOnce(&Loaded, &Options, Extras) -> u8 + Send + 'static,
{
    Err(RunError::NoScm)
}
