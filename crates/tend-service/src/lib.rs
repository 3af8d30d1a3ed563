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
//! The Windows service control manager (SCM) side comes later, in its own module.

pub mod systemd;
