//! The Windows service control manager (SCM): be a service, and install yourself as one.
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

mod def;
mod install;
mod scm;
mod service;

use std::fmt;
use std::io;
use std::path::PathBuf;

pub use def::{Account, FailurePolicy, RecoveryAction, ServiceDef, Setting, StartType};
pub use install::{install, uninstall, InstallOutcome, UninstallOutcome, STOP_TIMEOUT};
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
}

impl Error {
    fn api(call: &'static str) -> Error {
        Error::Api {
            call,
            source: io::Error::last_os_error(),
        }
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
        }
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
