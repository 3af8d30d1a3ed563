//! The OS layer: one set of names on every platform, so nothing above it needs a
//! platform `cfg`. Process control: `spawn` a contained child, `request_stop` it
//! gracefully, `kill_tree` after the timeout, `clean_up_after_exit`, and the output
//! pipe type the pumps read (`unix.rs`, `windows.rs`). The supervisor's own process
//! (`*_supervisor.rs`): the [`Reaper`] of exit statuses, `listen_os` (the stop and
//! reopen signals or console events), the default directories, `fork_guard`, the
//! console's colours, file identity, environment names, the `account` a child runs as
//! (a Unix `user`; on Windows always the service's own). The control channel
//! (`*_control.rs`): `ControlListener`, `control_connect`, `control_address` (a socket
//! in the state folder on Unix, a named pipe on Windows). Unix uses process groups and
//! signals; Windows uses Job Objects and console Ctrl-C. Where a call means nothing on
//! an OS it is a no-op (`fork_guard` on Windows); `ctrl_c_helper` on Unix is never
//! called (`tend ctrl-c` parses only where there is an SCM) and keeps `cli/` free of
//! a platform `cfg`. For the metrics, `tree_usage` measures children's whole process trees
//! (Unix: its process group, from /proc where there is one; Windows: its Job Object).
//! For `tend doctor` (`*_doctor.rs`): `perm_of` a file, `account_ids`, `ldd`, `is_root`
//! (on Windows: none yet, and the doctor says which checks it skipped). For the audit
//! trail (`*_audit.rs`): `actor_facts`, `open_audit_log`, `lock_audit_log` (the log
//! itself on Unix, a `.lock` file beside it on Windows), `copy_audit_line` (syslog on
//! Unix, the Event Log on Windows). The cgroup limits of `[resources]`
//! (`unix_cgroup.rs`): `cgroup_plan` at prepare time, the cgroups made at each `spawn`,
//! and `oom_killed` after an exit (none on Windows).
#[cfg(unix)]
mod unix;
#[cfg(unix)]
mod unix_audit;
#[cfg(unix)]
mod unix_cgroup;
#[cfg(unix)]
mod unix_control;
#[cfg(unix)]
mod unix_doctor;
#[cfg(unix)]
mod unix_resources;
#[cfg(unix)]
mod unix_supervisor;
#[cfg(unix)]
pub use unix::*;
#[cfg(unix)]
pub use unix_audit::*;
#[cfg(unix)]
pub use unix_cgroup::{cgroup_plan, CgroupPlan, CGROUP_KEYS};
#[cfg(unix)]
pub use unix_control::*;
#[cfg(unix)]
pub use unix_doctor::*;
#[cfg(unix)]
pub use unix_resources::APPLIED_RESOURCES;
#[cfg(unix)]
pub use unix_supervisor::*;
#[cfg(windows)]
mod windows;
#[cfg(windows)]
mod windows_audit;
#[cfg(windows)]
mod windows_control;
#[cfg(windows)]
mod windows_doctor;
#[cfg(windows)]
mod windows_supervisor;
#[cfg(windows)]
pub use windows::*;
#[cfg(windows)]
pub use windows_audit::*;
#[cfg(windows)]
pub use windows_control::*;
#[cfg(windows)]
pub use windows_doctor::*;
#[cfg(windows)]
pub use windows_supervisor::*;

use std::ffi::OsString;
use std::io;
use std::path::PathBuf;

/// How much of tend's process containment this kernel gives (what [`fork_guard`]
/// could set up).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Containment {
    /// Everything: on Unix the supervisor and the guard are child subreapers, so a
    /// process that leaves its service's process group is still found and stopped;
    /// on Windows, Job Objects.
    Full,
    /// Unix without `PR_SET_CHILD_SUBREAPER` (Linux before 3.4, or an emulator such as
    /// qemu-user): each service's whole process group is still stopped, also by the
    /// guard if the supervisor is killed, but a process that leaves the group
    /// (`setsid`) is re-parented to init and escapes.
    ProcessGroups,
}

impl Containment {
    /// The warning to print when containment is weaker than [`Containment::Full`].
    pub fn warning(self) -> Option<&'static str> {
        match self {
            Containment::Full => None,
            Containment::ProcessGroups => Some(
                "this kernel cannot make tend a child subreaper (PR_SET_CHILD_SUBREAPER: Linux before 3.4, or an emulator such as qemu-user): \
                 tend still stops each service's whole process group, also if tend itself is killed, but a process that leaves the group (setsid) is not stopped with the service; \
                 run under a service manager that contains the tree (systemd, procd with cgroups) where that matters",
            ),
        }
    }
}

/// Who runs this process and from where, as the system tells it ([`actor_facts`]),
/// for the audit trail.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ActorFacts {
    /// The numeric user id (none on Windows).
    pub uid: Option<u32>,
    /// The account's SID (Windows only).
    pub sid: Option<String>,
    /// The user name (`DOMAIN\user` on Windows).
    pub user: String,
    /// `SUDO_USER`, when tend runs under sudo.
    pub sudo_user: Option<String>,
    /// The terminal (`/dev/pts/3`; the session name on Windows), if any.
    pub terminal: Option<String>,
    /// The parent process: its pid and name, if known.
    pub parent: Option<(u32, Option<String>)>,
}

/// A file's owner and Unix permission bits (`perm_of`; none on Windows), for `tend
/// doctor`'s access checks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Perm {
    /// The owner's user id.
    pub uid: u32,
    /// The group id.
    pub gid: u32,
    /// The permission bits (`0o755`).
    pub mode: u32,
}

/// The ids of the account a service runs as (`account_ids`), for `tend doctor`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccountIds {
    /// The account's name.
    pub name: String,
    /// Its user id.
    pub uid: u32,
    /// Its groups: the supplementary ones, then the primary one (last).
    pub gids: Vec<u32>,
}

/// Why a spec's `command` cannot be run ([`resolve_command`]).
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    /// The path names nothing usable.
    #[error("`{}`: {}", path.display(), crate::text::io_error(source))]
    Unusable {
        /// The path.
        path: PathBuf,
        /// Why (e.g. it does not exist).
        source: io::Error,
    },
    /// No file is there (Windows, after trying the program extensions).
    #[error("`{}` does not exist", path.display())]
    Missing {
        /// The path.
        path: PathBuf,
    },
    /// The path names a folder or a device, not a program.
    #[error("`{}` is not a regular file", path.display())]
    NotAFile {
        /// The path.
        path: PathBuf,
    },
    /// The file may not be executed (Unix: its mode, for this account).
    #[error("`{}` is not executable (mode {mode:o})", path.display())]
    NotExecutable {
        /// The file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// A bare name that no folder of `PATH` holds.
    #[error("`{command}` was not found on PATH ({path_var})")]
    NotOnPath {
        /// The name.
        command: String,
        /// The `PATH` searched.
        path_var: String,
    },
}

/// Why a Unix socket of `[[listen]]` cannot be bound (`bind_unix`).
#[derive(Debug)]
pub enum UnixBindError {
    /// A process listens on the socket at that path.
    Listening,
    /// Something that is not a socket is at that path.
    NotASocket,
    /// Any other failure (on Windows: unsupported).
    Io(io::Error),
}

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
    /// How the child is asked to stop (Windows; Unix sends `stop.signal`).
    pub stop: crate::spec::WinStop,
    /// Whether the job kills the tree when its last handle closes (Windows).
    pub kill_on_close: bool,
    /// How the output is decoded (Windows; Unix passes bytes through).
    pub code_page: crate::spec::CodePage,
    /// The `[[listen]]` sockets passed to the child (the service's own command only:
    /// never a stop hook's or a health probe's).
    pub listen: Vec<crate::supervise::listen::Passed>,
    /// `[resources]` (the service's own command only): on Unix the limits and
    /// scheduling `spawn` applies to the child before it execs ([`APPLIED_RESOURCES`]).
    pub resources: Box<crate::spec::Resources>,
    /// The cgroups `spawn` makes for the child's cgroup limits of `resources` (Linux,
    /// not under a service manager: `cgroup_plan`); empty for hooks and probes.
    pub cgroup: CgroupPlan,
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
    /// A warning for each `[resources]` setting that could not be applied to it.
    pub not_applied: Vec<String>,
    /// Resolves with the exit status (Windows: a thread waits on the process handle;
    /// Unix: the reaper delivers it).
    #[cfg(windows)]
    pub exit: Option<tokio::sync::oneshot::Receiver<crate::supervise::policy::Exit>>,
}

/// What a child's whole process tree uses, as `tree_usage` measures it.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct TreeUsage {
    /// CPU time, user and system, in seconds: of the processes in the tree and of
    /// the children they have waited for (Unix), or of every process the job has
    /// held (Windows).
    pub cpu_seconds: f64,
    /// Resident memory of the processes in the tree now, in bytes (Unix: resident
    /// set sizes; Windows: working sets).
    pub resident_bytes: u64,
}
