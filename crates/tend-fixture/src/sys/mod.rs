//! The few operating-system calls the fixture needs, behind one interface.
//!
//! `unix` does the real work with libc. `portable` is the std-only fallback
//! used on other targets (Windows): it implements what std can and returns
//! `ErrorKind::Unsupported` for the rest, so the crate still builds there and
//! a test asking for a Unix-only behaviour gets a clear error, not a silent
//! no-op. `portable` is compiled everywhere so that it is type-checked on
//! the Unix machines the project is developed on.

#[cfg_attr(unix, allow(dead_code))]
mod portable;
#[cfg(unix)]
mod unix;

#[cfg(not(unix))]
pub use portable::*;
#[cfg(unix)]
pub use unix::*;

/// An output stream of this process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}
