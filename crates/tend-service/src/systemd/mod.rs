//! systemd's service protocols: readiness notification, the watchdog, socket activation.
//!
//! A unit with `Type=notify` is "started" only when its process says so, by sending
//! `READY=1` to the datagram socket named in `NOTIFY_SOCKET` (`sd_notify(3)`). The same
//! channel carries a human-readable `STATUS=`, `STOPPING=1`, `RELOADING=1` and the
//! watchdog's keep-alive pings. Socket activation (`sd_listen_fds(3)`) hands a service
//! already-bound sockets as file descriptors 3, 4, …. This module speaks both protocols
//! without linking libsystemd, so `tend` and any Rust program can be a first-class
//! systemd service.
//!
//! The module has two layers:
//!
//! - pure functions, usable and tested on every platform: [`encode`] builds a
//!   notification datagram and validates it, [`parse_socket_addr`] reads a
//!   `NOTIFY_SOCKET` value, [`parse_watchdog_env`] and [`parse_listen_env`] interpret
//!   the watchdog and socket-activation variables;
//! - the OS side: [`Notifier`] sends the datagrams, [`watchdog_interval`] reads the
//!   environment, and `listen_fds` takes ownership of the passed descriptors. The
//!   notifier and `listen_fds` are Linux-only: elsewhere [`Notifier::from_env`] always
//!   returns `None` (a `Notifier` cannot exist) and `listen_fds` is absent.
//!
//! # How tend uses this
//!
//! `tend install` writes a unit with `Type=notify` and `NotifyAccess=all`; `tend run`
//! runs under it and:
//!
//! - sends `READY=1` once the supervised child is running (and so the unit is "active"
//!   only then, and units ordered after it wait for it);
//! - sends `STATUS=` on every state change (`running (pid 1234)`, `backoff 2s after
//!   exit 1`, …), which `systemctl status` shows;
//! - sends `STOPPING=1` when a stop begins;
//! - when the unit sets `WatchdogSec=`, pings `WATCHDOG=1` at half of
//!   [`watchdog_interval_any_pid`] while its supervision loop is healthy. It uses the
//!   `_any_pid` variant because `WATCHDOG_PID` names the unit's main process, which is
//!   not necessarily the supervisor's own pid.
//!
//! tend removes `NOTIFY_SOCKET`, `WATCHDOG_USEC`, `WATCHDOG_PID` and the `LISTEN_*`
//! variables from its children's environment itself; this module never edits the
//! environment except when `listen_fds(true)` is asked to.
//!
//! # Using it directly from a Rust program
//!
//! ```no_run
//! use std::time::Duration;
//! use tend_service::systemd::{self, Notifier};
//!
//! fn main() -> std::io::Result<()> {
//!     // `None` when not started by systemd with Type=notify: then every call below
//!     // is simply skipped, so the same binary runs fine from a terminal.
//!     let notifier = Notifier::from_env();
//!
//!     // ... load configuration, bind sockets, warm caches ...
//!
//!     if let Some(n) = &notifier {
//!         n.status("listening on 127.0.0.1:8080")?;
//!         n.ready()?;
//!     }
//!
//!     // With WatchdogSec= in the unit, ping at half the interval systemd gave us.
//!     let ping_every = systemd::watchdog_interval().map(|full| full / 2);
//!     loop {
//!         // ... serve ...
//!         std::thread::sleep(ping_every.unwrap_or(Duration::from_secs(1)));
//!         if let (Some(n), Some(_)) = (&notifier, ping_every) {
//!             n.watchdog()?;
//!         }
//!         # break;
//!     }
//!
//!     if let Some(n) = &notifier {
//!         n.stopping()?;
//!     }
//!     Ok(())
//! }
//! ```

mod listen;
mod listeners;
mod notify;
mod watchdog;

#[cfg(target_os = "linux")]
pub use listen::{listen_fds, ListenFd};
pub use listen::{parse_listen_env, LISTEN_FDS_START};
#[cfg(any(target_os = "linux", windows))]
pub use listeners::listeners;
pub use listeners::{parse_listen_handles, Listener, Listeners};
pub use notify::{
    encode, parse_socket_addr, sanitize_value, Notifier, NotifyAddr, DEFAULT_SEND_TIMEOUT,
    MAX_MESSAGE_LEN,
};
pub use watchdog::{parse_watchdog_env, watchdog_interval, watchdog_interval_any_pid};

use std::fmt;

/// What can be wrong with a notification, a `NOTIFY_SOCKET` address or the
/// socket-activation variables.
///
/// The OS-facing functions return `std::io::Error`; when the cause is one of these, it
/// is wrapped inside (kind `InvalidInput` for a message, `InvalidData` for the
/// environment) and can be recovered with `io::Error::get_ref` and `downcast_ref`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// A notification needs at least one assignment.
    NoAssignments,
    /// A key is empty or has a character other than `A`–`Z`, `0`–`9` and `_`.
    InvalidKey(String),
    /// The value for this key has a line break (`\n`, `\r`) or a NUL byte, which would
    /// split or truncate the message. [`sanitize_value`] makes any text acceptable.
    InvalidValue {
        /// The key whose value was rejected.
        key: String,
    },
    /// The encoded message is longer than [`MAX_MESSAGE_LEN`], so systemd would drop it.
    MessageTooLong {
        /// The encoded length in bytes.
        len: usize,
    },
    /// A `NOTIFY_SOCKET` value that is neither an absolute path nor `@name`.
    InvalidSocketAddr {
        /// The value as given.
        addr: String,
        /// Why it was rejected.
        reason: &'static str,
    },
    /// A socket-activation variable that does not parse.
    InvalidListenEnv {
        /// The variable's name (`LISTEN_PID`, `LISTEN_FDS`).
        var: &'static str,
        /// Its value.
        value: String,
    },
    /// `LISTEN_FDNAMES` does not name exactly `LISTEN_FDS` descriptors.
    ListenNamesMismatch {
        /// The number of descriptors in `LISTEN_FDS`.
        fds: usize,
        /// The number of names in `LISTEN_FDNAMES`.
        names: usize,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::NoAssignments => f.write_str("a notification needs at least one assignment"),
            Error::InvalidKey(key) => write!(
                f,
                "invalid notification key {key:?}: use A-Z, 0-9 and _ only"
            ),
            Error::InvalidValue { key } => {
                write!(f, "the value of {key} contains a line break or a NUL byte")
            }
            Error::MessageTooLong { len } => write!(
                f,
                "notification is {len} bytes, more than the {MAX_MESSAGE_LEN} systemd accepts"
            ),
            Error::InvalidSocketAddr { addr, reason } => {
                write!(f, "invalid NOTIFY_SOCKET {addr:?}: {reason}")
            }
            Error::InvalidListenEnv { var, value } => write!(f, "invalid {var}={value:?}"),
            Error::ListenNamesMismatch { fds, names } => write!(
                f,
                "LISTEN_FDNAMES has {names} names for LISTEN_FDS={fds} descriptors"
            ),
        }
    }
}

impl std::error::Error for Error {}

/// Reads an environment variable as UTF-8; unset and non-UTF-8 both read as `None`.
fn env_str(name: &str) -> Option<String> {
    std::env::var_os(name)?.into_string().ok()
}
