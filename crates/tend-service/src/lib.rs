//! `tend-service`: the lifecycle of a Rust program that is itself a service.
//!
//! The supervisor in `tend` uses this crate to talk to the service manager it runs
//! under, and any Rust program can use it to be a service without tend. Dependencies
//! stay light: std, plus `libc` on Linux.
//!
//! # Modules
//!
//! - [`systemd`]: systemd's readiness protocol (`sd_notify(3)`: `READY=1`, `STATUS=`,
//!   `STOPPING=1`, `RELOADING=1`, watchdog pings), the watchdog interval
//!   (`WATCHDOG_USEC`) and socket activation (`sd_listen_fds(3)`). The notifier and the
//!   socket hand-over work on Linux only; on other platforms there is never a notifier
//!   and the protocol's pure encoding and parsing functions remain available.
//!
//! - [`cmdline`]: Windows command-line quoting and splitting (pure, every platform):
//!   how a service's `binPath` and a child's command line are built so Windows programs
//!   read back exactly the intended arguments.
//! - `windows`: the service control manager (SCM) side: run under the
//!   service dispatcher; install, uninstall, query, start, stop and control a service
//!   through the SCM API; give its account access to files (`windows::acl`); report
//!   to the Event Log (`windows::eventlog`). On other platforms only its pure half
//!   is there: service definitions, start types and accounts.

pub mod cmdline;
pub mod systemd;
#[cfg(windows)]
pub mod windows;

// The pure halves of the Windows module (service definitions and the comparison that
// makes `install` idempotent; SIDs and ACLs as bytes; the event log's registry layout
// and strings) are also compiled into the tests on other platforms, so ordinary Linux
// CI runs their unit tests.

/// The pure half of `windows` on other platforms: service definitions, start types and
/// accounts, so that what a Windows install would register can be planned and shown
/// anywhere (`tend install --dry-run --backend windows` on Linux).
#[cfg(not(windows))]
pub mod windows {
    #[allow(dead_code)]
    #[path = "def.rs"]
    mod def;
    pub use def::{
        same_account, Account, FailurePolicy, RecoveryAction, ServiceDef, ServiceState, Setting,
        StartType,
    };
}
#[cfg(all(test, not(windows)))]
#[allow(dead_code)]
#[path = "windows/events.rs"]
mod windows_events;
#[cfg(all(test, not(windows)))]
#[allow(dead_code)]
#[path = "windows/security.rs"]
mod windows_security;
