//! tend: run any program as a native, supervised operating-system service.
//!
//! Data flows one way: a spec file becomes a validated [`spec::Spec`]; at run time the
//! [`supervise`] actor turns a `Spec` into a running, restarted, logged child process.
pub mod audit;
pub mod cli;
pub mod doctor;
pub mod explain;
pub mod platform;
pub mod spec;
pub mod supervise;
pub mod text;
pub mod update;
