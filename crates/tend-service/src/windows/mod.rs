//! The Windows service control manager (SCM): be a service, install yourself as one,
//! and look after installed services (state and control, file permissions, event log).
//!
//! On Windows a service is a program the SCM starts, that connects back to the SCM's
//! dispatcher, reports its state (start pending → running → stop pending → stopped) and
//! answers control requests (stop, shutdown, …). This module lets any Rust program do
//! both halves without sc.exe or PowerShell, the way Go programs do with
//! `kardianos/service`:
//!
//! - [`run`] hands the current thread to the service dispatcher and runs your service
//!   function on the SCM's thread, with an [`Event`] receiver (stop, shutdown,
//!   preshutdown, custom codes 128–255) and a [`StatusHandle`] to report progress; the
//!   function's result becomes the final `SERVICE_STOPPED` status, an error becoming a
//!   service-specific exit code.
//! - [`install`] registers the program (or updates an existing registration, or does
//!   nothing when it already matches) from a [`ServiceDef`]: display name, description,
//!   start type, dependencies, account, recovery actions, preshutdown timeout. The
//!   service's command line (`binPath`) is built with
//!   [`cmdline::windows_command_line`](crate::cmdline::windows_command_line), so paths
//!   with spaces are always quoted. [`uninstall`] stops the service (bounded wait) and
//!   deletes it.
//! - [`running_as_service`] tells a program started without a `run-service`-style flag
//!   whether the SCM started it.
//! - [`query`] reads an installed service's state, process id, exit codes, start type,
//!   account and command line ([`ServiceInfo`]; `None` when it is not installed);
//!   [`start`], [`stop`] (bounded wait) and [`control`] (custom codes 128–255) drive it,
//!   and [`wait_state`] waits for a [`ServiceState`]. What a CLI's `status`, `start` and
//!   `stop` need; an error for a service that does not exist says so
//!   ([`Error::is_not_installed`]).
//! - [`acl`] gives a service's account access to its directories ([`acl::grant`]) and
//!   locks files holding secrets down to it ([`acl::restrict`]), turning accounts into
//!   SIDs without asking the system where it can (a virtual account's SID is computed
//!   from the service name).
//! - [`rights`] grants an account a right of the local security policy, such as
//!   "Log on as a service" for a service running as a user ([`rights::add`]), and
//!   reads ([`rights::holds`]) and takes it back ([`rights::remove`]).
//! - [`eventlog`] registers an Application log event source ([`eventlog::register_source`])
//!   and reports events through it ([`eventlog::EventSource`]).
//!
//! The dispatcher side uses the `windows-service` crate; the management side calls the
//! SCM API through `windows-sys` directly (with one owner per `SC_HANDLE`) because it
//! needs the exact command line, the second-level configuration read back for the
//! idempotent comparison, and account passwords passed through without copies.
//!
//! # Example
//!
//! ```no_run
//! use std::time::Duration;
//! use tend_service::windows::{self, Event, ExitCodeError, ServiceDef};
//!
//! fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     match std::env::args().nth(1).as_deref() {
//!         Some("install") => {
//!             let def = ServiceDef {
//!                 description: "An example".into(),
//!                 args: vec!["run-service".into()],
//!                 ..ServiceDef::new("example")
//!             };
//!             let outcome = windows::install(&def, &std::env::current_exe()?)?;
//!             println!("{outcome}");
//!         }
//!         Some("uninstall") => println!("{}", windows::uninstall("example")?),
//!         Some("run-service") => windows::run("example", |events, status| {
//!             // ... bind sockets, load configuration ...
//!             status.running().map_err(|_| ExitCodeError::new(2))?;
//!             loop {
//!                 match events.recv() {
//!                     Ok(Event::Custom(code)) => { /* a custom control */ let _ = code; }
//!                     // Stop, Shutdown, Preshutdown, or the SCM went away.
//!                     _ => break,
//!                 }
//!             }
//!             let _ = status.stopping(Duration::from_secs(5));
//!             // ... finish in-flight work ...
//!             Ok(())
//!         })?,
//!         _ => { /* run in the console */ }
//!     }
//!     Ok(())
//! }
//! ```

pub mod acl;
mod control;
mod def;
pub mod eventlog;
mod events;
mod install;
pub mod rights;
mod scm;
mod security;
mod service;

use std::fmt;
use std::io;
use std::path::PathBuf;

use windows_sys::Win32::Foundation::{ERROR_SERVICE_DOES_NOT_EXIST, ERROR_SUCCESS};

pub use control::{
    control, pause, query, resume, start, stop, wait_state, ServiceInfo, StartOutcome, StopOutcome,
};
pub use def::{
    same_account, Account, FailurePolicy, RecoveryAction, ServiceDef, ServiceState, Setting,
    StartType,
};
pub use install::{
    command_line, install, registration, uninstall, InstallOutcome, Registration, UninstallOutcome,
    STOP_TIMEOUT,
};
pub use service::{run, running_as_service, Event, ExitCodeError, StatusHandle};

/// Errors from this module.
#[derive(Debug)]
pub enum Error {
    /// A Windows API call failed.
    Api {
        /// The function that failed, e.g. `"CreateServiceW"`.
        call: &'static str,
        source: io::Error,
    },
    /// The program was not started by the SCM (`StartServiceCtrlDispatcherW` failed
    /// with `ERROR_FAILED_SERVICE_CONTROLLER_CONNECT`): run it as a console program
    /// instead.
    NotAService,
    /// [`run`] was called while another [`run`] is active in this process.
    AlreadyRunning,
    /// The executable path is relative (the SCM needs an absolute one).
    RelativePath(PathBuf),
    /// The executable path is not valid Unicode.
    NotUnicode(PathBuf),
    /// A string contains a NUL character (which would cut it short).
    Nul(&'static str),
    /// The command line cannot be built.
    CommandLine(crate::cmdline::CommandLineError),
    /// This SCM cannot store the setting (e.g. Wine and some second-level settings).
    Unsupported(Setting),
    /// The `windows-service` crate reported an error.
    Service(windows_service::Error),
    /// [`control`] was given a code below 128, which are the system's.
    NotCustomControl(u8),
    /// The SCM reported a service state Windows does not define.
    UnknownState(u32),
    /// A name cannot be used, e.g. an event source name with a backslash.
    InvalidName {
        /// What the name is for, e.g. `"event source name"`.
        what: &'static str,
        name: String,
        /// Why not, e.g. `"is empty"`.
        reason: &'static str,
    },
}

impl Error {
    fn api(call: &'static str) -> Error {
        Error::Api {
            call,
            source: io::Error::last_os_error(),
        }
    }

    /// Whether the error says that the service does not exist
    /// (`ERROR_SERVICE_DOES_NOT_EXIST`), as [`start`], [`stop`], [`control`] and
    /// [`wait_state`] report it for a service that is not installed.
    pub fn is_not_installed(&self) -> bool {
        self.raw_os_error() == Some(ERROR_SERVICE_DOES_NOT_EXIST as i32)
    }

    /// The Windows error code, when the error came from an API call.
    pub fn raw_os_error(&self) -> Option<i32> {
        match self {
            Error::Api { source, .. } => source.raw_os_error(),
            Error::Service(windows_service::Error::Winapi(e)) => e.raw_os_error(),
            _ => None,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Api { call, source } => write!(f, "{call} failed: {source}"),
            Error::NotAService => {
                f.write_str("not started by the service control manager (start it with `sc start`)")
            }
            Error::AlreadyRunning => f.write_str("the service dispatcher is already running"),
            Error::RelativePath(p) => write!(f, "executable path {} is not absolute", p.display()),
            Error::NotUnicode(p) => write!(f, "executable path {} is not Unicode", p.display()),
            Error::Nul(what) => write!(f, "{what} contains a NUL character"),
            Error::CommandLine(e) => write!(f, "cannot build the service command line: {e}"),
            Error::Unsupported(s) => write!(f, "this service manager cannot store the {s}"),
            Error::Service(e) => write!(f, "service dispatcher: {e}"),
            Error::NotCustomControl(code) => {
                write!(f, "control code {code} is not a custom code (128–255)")
            }
            Error::UnknownState(state) => write!(f, "unknown service state {state}"),
            Error::InvalidName { what, name, reason } => write!(f, "{what} {name:?} {reason}"),
        }
    }
}

/// An error from the functions that return their error code instead of setting the
/// thread's last error (registry, security descriptors).
fn check(status: u32, call: &'static str) -> Result<(), Error> {
    if status == ERROR_SUCCESS {
        Ok(())
    } else {
        Err(Error::Api {
            call,
            source: io::Error::from_raw_os_error(status as i32),
        })
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Api { source, .. } => Some(source),
            Error::CommandLine(e) => Some(e),
            Error::Service(e) => Some(e),
            _ => None,
        }
    }
}
