//! What the supervisor process itself needs of Windows (as opposed to its children's
//! control in `windows.rs`): collecting exit statuses, the console's stop events, the
//! default directories, the console, file identity. Unix has the same names in
//! `unix_supervisor.rs`.

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsString;
use std::io;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use tokio::sync::{mpsc, oneshot};

use super::{enable_ctrl_c_for_children, Credentials, Spawned};
use crate::spec::Spec;
use crate::supervise::event::StopBy;
use crate::supervise::policy::Exit;
use crate::supervise::prepare::{Problem, Warnings};
use crate::supervise::{Request, SuperviseError};

/// Collects exit statuses and routes them to whoever waits for that child.
#[derive(Default)]
pub struct Reaper {}

impl Reaper {
    /// Nothing to start: each child has a thread waiting on its process handle.
    pub fn start() -> io::Result<Rc<Reaper>> {
        Ok(Rc::new(Reaper::default()))
    }

    /// Returns a receiver for the child's exit (from its waiting thread).
    pub fn watch(&self, child: &mut Spawned) -> oneshot::Receiver<Exit> {
        child.exit.take().unwrap_or_else(|| {
            // Watched twice: the second receiver reads as a lost status.
            oneshot::channel().1
        })
    }

    /// Orphans are contained by Job Objects on Windows: nothing to track.
    pub fn live_pids(&self) -> BTreeSet<i32> {
        BTreeSet::new()
    }
}

/// Turns console events (Ctrl-C, Ctrl-Break, the console closing, logoff, shutdown)
/// into stop [`Request`]s (must be called inside a `LocalSet`). Also clears an
/// inherited "ignore Ctrl-C" flag, which the children would inherit in turn.
pub fn listen_os(tx: mpsc::UnboundedSender<Request>) -> Result<(), SuperviseError> {
    use tokio::signal::windows;
    enable_ctrl_c_for_children();
    let err = |what: &str| {
        let what = what.to_string();
        move |source| SuperviseError::Io { what, source }
    };
    macro_rules! forward {
        ($make:expr, $what:expr, $by:expr) => {{
            let mut s = $make.map_err(err($what))?;
            let tx = tx.clone();
            tokio::task::spawn_local(async move {
                while s.recv().await.is_some() {
                    if tx.send(Request::Stop(StopBy::Console($by))).is_err() {
                        break;
                    }
                }
            });
        }};
    }
    forward!(windows::ctrl_c(), "cannot handle Ctrl-C", "Ctrl-C");
    forward!(
        windows::ctrl_break(),
        "cannot handle Ctrl-Break",
        "Ctrl-Break"
    );
    forward!(
        windows::ctrl_close(),
        "cannot handle the console closing",
        "the console closing"
    );
    forward!(
        windows::ctrl_shutdown(),
        "cannot handle shutdown",
        "shutdown"
    );
    Ok(())
}

/// Nothing to change: the Unix supervisor lowers its scheduling class here so that
/// its wake-ups never preempt a child (see the Unix version).
pub fn defer_to_children() {}

/// The default state directory: `TEND_STATE_DIR`, else `%LOCALAPPDATA%\tend`
/// (installed services are given theirs under `%ProgramData%\tend`).
pub fn default_state_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("TEND_STATE_DIR") {
        return d.into();
    }
    std::env::var_os("LOCALAPPDATA")
        .or_else(|| std::env::var_os("ProgramData"))
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir)
        .join("tend")
}

/// The default log directory: `TEND_LOG_DIR`, else `logs` under the state directory.
pub fn default_log_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("TEND_LOG_DIR") {
        return d.into();
    }
    default_state_dir().join("logs")
}

/// Turns on ANSI escape sequences in this console (Windows 10 and later); false where
/// the console cannot show them.
pub fn enable_ansi() -> bool {
    use windows_sys::Win32::System::Console::{
        GetConsoleMode, GetStdHandle, SetConsoleMode, ENABLE_VIRTUAL_TERMINAL_PROCESSING,
        STD_OUTPUT_HANDLE,
    };
    let mut mode = 0;
    // SAFETY: plain calls on this process's standard output handle.
    unsafe {
        let h = GetStdHandle(STD_OUTPUT_HANDLE);
        GetConsoleMode(h, &mut mode) != 0
            && SetConsoleMode(h, mode | ENABLE_VIRTUAL_TERMINAL_PROCESSING) != 0
    }
}

/// What tells one file from its replacement after a rotation: the creation time.
pub fn file_id(m: &std::fs::Metadata) -> u64 {
    std::os::windows::fs::MetadataExt::creation_time(m)
}

/// The group that owns `path`: none on Windows, where an access list says who may
/// read it.
pub fn group_of(_path: &std::path::Path) -> Option<String> {
    None
}

/// Sets `key` in an environment being built: Windows names are case-insensitive, so
/// `Path` replaces `PATH`.
pub fn env_insert(vars: &mut BTreeMap<OsString, OsString>, key: &str, value: &str) {
    vars.retain(|have, _| !have.eq_ignore_ascii_case(key));
    vars.insert(key.into(), value.into());
}

/// File modes are a Unix matter: no warning.
pub fn secrets_mode_warning(_: &Path) -> Option<String> {
    None
}

/// Nothing to split off: Job Objects contain the children even if the supervisor is
/// killed (Unix splits off a guard process here).
pub fn fork_guard() -> io::Result<super::Containment> {
    Ok(super::Containment::Full)
}

/// The account the child of `spec` runs as: always the supervisor's own (the service's,
/// `windows.account`); `user` and `group` only warn.
pub fn account(
    spec: &Spec,
    _vars: &mut BTreeMap<OsString, OsString>,
    _problems: &mut Vec<Problem>,
    warnings: &mut Warnings,
) -> Option<Credentials> {
    if spec.user.is_some() || spec.group.is_some() {
        warnings.push(crate::supervise::prepare::Warning {
            key: if spec.user.is_some() { "user" } else { "group" },
            message: "`user` and `group` are for Unix: on Windows the child runs as the service's account (`windows.account`)"
                .into(),
        });
    }
    None
}
