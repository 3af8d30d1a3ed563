//! The few operating-system calls the fixture needs, behind one interface.
//!
//! `unix` does the real work with libc and `windows` with windows-sys (console
//! control handlers instead of signals). `portable` holds the std-only pieces
//! `windows` shares and is the fallback for any other target: it returns
//! `ErrorKind::Unsupported` for what std cannot do, so the crate still builds
//! there and a test asking for such a behaviour gets a clear error, not a
//! silent no-op. `portable` is compiled everywhere so that it is type-checked
//! on the Unix machines the project is developed on.

#[cfg_attr(any(unix, windows), allow(dead_code))]
mod portable;
#[cfg(unix)]
mod unix;
#[cfg(windows)]
mod windows;

#[cfg(not(any(unix, windows)))]
pub use portable::*;
#[cfg(unix)]
pub use unix::*;
#[cfg(windows)]
pub use windows::*;

/// What `--on-term` appends to its file before exiting 0.
pub const TERM_MARKER: &[u8] = b"graceful\n";

/// An output stream of this process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}
