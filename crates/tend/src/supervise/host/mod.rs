//! Hosting: how the supervisor speaks to the service manager that started it. Two
//! siblings, each an observer of the services' status plus what its manager needs
//! besides:
//!
//! - [`systemd`]: the notify protocol (`READY=1`, `STATUS=`, `STOPPING=1`) and the
//!   watchdog, when `NOTIFY_SOCKET` is set (`tend run` under a `Type=notify` unit);
//! - [`scm`]: the Windows service control manager (`tend run --service`): its
//!   dispatcher, status reports (start pending, running, stop pending, stopped with an
//!   exit code), its controls turned into requests, and the Event Log.
//!
//! Both exist on every platform: systemd's notify socket is simply absent elsewhere,
//! and where there is no SCM `tend run --service` does not parse, so [`scm::serve`]
//! (present for `cli/`'s sake) is never called.

#[cfg(windows)]
pub mod scm;
#[cfg(not(windows))]
#[path = "scm_none.rs"]
pub mod scm;
pub mod systemd;
