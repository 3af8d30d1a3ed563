//! Platform process control behind one set of names: `spawn` a contained child,
//! `request_stop` it gracefully, `kill_tree` after the timeout, `clean_up_after_exit`,
//! and the output pipe type the pumps read. Unix uses process groups and signals;
//! Windows uses Job Objects and console Ctrl-C.
#[cfg(unix)]
mod unix;
#[cfg(unix)]
pub use unix::*;
#[cfg(windows)]
mod windows;
#[cfg(windows)]
pub use windows::*;

use std::ffi::OsString;
use std::path::PathBuf;

/// Where a child's stdout or stderr goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Output {
    /// A pipe the supervisor reads.
    Pipe,
    /// The supervisor's own stream.
    Inherit,
    /// The null device.
    Null,
}

impl Output {
    /// What `std::process::Command` takes.
    fn stdio(self) -> std::process::Stdio {
        match self {
            Output::Pipe => std::process::Stdio::piped(),
            Output::Inherit => std::process::Stdio::inherit(),
            Output::Null => std::process::Stdio::null(),
        }
    }
}

/// Everything needed to start the child; built once per service.
#[derive(Clone, Debug)]
pub struct Prepared {
    /// The resolved program path.
    pub program: PathBuf,
    /// Arguments (without the program).
    pub args: Vec<OsString>,
    /// The complete environment.
    pub env: Vec<(OsString, OsString)>,
    /// Working directory.
    pub cwd: Option<PathBuf>,
    /// Account to switch to (Unix; never set on Windows, where the child runs as the
    /// service's account).
    pub credentials: Option<Credentials>,
    /// stdout disposition.
    pub stdout: Output,
    /// stderr disposition.
    pub stderr: Output,
    /// How the child is asked to stop (Windows).
    #[cfg(windows)]
    pub stop: crate::spec::WinStop,
    /// Whether the job kills the tree when its last handle closes (Windows).
    #[cfg(windows)]
    pub kill_on_close: bool,
    /// How the output is decoded (Windows).
    #[cfg(windows)]
    pub code_page: crate::spec::CodePage,
}

/// A started child.
#[derive(Debug)]
pub struct Spawned {
    /// Its process id (on Unix also its process group id).
    pub pid: i32,
    /// Its process tree.
    pub tree: Tree,
    /// Its stdout, when piped.
    pub stdout: Option<PipeReader>,
    /// Its stderr, when piped.
    pub stderr: Option<PipeReader>,
    /// Resolves with the exit status (Windows: a thread waits on the process handle;
    /// Unix: the reaper delivers it).
    #[cfg(windows)]
    pub exit: Option<tokio::sync::oneshot::Receiver<crate::supervise::policy::Exit>>,
}
