//! `tend-service`: the lifecycle of a Rust program that is itself a service.
//!
//! The supervisor in `tend` uses this crate to talk to the service manager it runs
//! under (systemd's notify protocol, the Windows service control manager), and any
//! Rust program can use it to be a service without tend. The backends arrive with the
//! platform work; this crate deliberately has no dependencies yet.
