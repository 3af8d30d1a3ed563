//! Std-only implementation: the pieces `windows` shares (output, abort,
//! hang, the missing `--stamp` clock) and the fallback for targets that are
//! neither Unix nor Windows.
//!
//! Signal handling, sessions and user ids have no std equivalent; they
//! report `Unsupported` so the caller can exit with a clear message.

use std::io::{self, Write};
use std::path::Path;

use super::Stream;

fn unsupported(what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::Unsupported,
        format!("{what} is not implemented on this platform yet"),
    )
}

/// There is no monotonic clock shared between processes in std (Windows'
/// QueryPerformanceCounter is not the CLOCK_MONOTONIC the benchmarks read).
pub fn monotonic_nanos() -> io::Result<u64> {
    Err(unsupported("--stamp (CLOCK_MONOTONIC)"))
}

/// Writes all of `buf` to `stream`, unbuffered.
pub fn write_all(stream: Stream, buf: &[u8]) -> io::Result<()> {
    match stream {
        Stream::Stdout => {
            let mut out = io::stdout().lock();
            out.write_all(buf)?;
            out.flush()
        }
        Stream::Stderr => io::stderr().lock().write_all(buf),
    }
}

pub fn setsid() -> io::Result<()> {
    Err(unsupported("--setsid"))
}

pub fn ignore_term() -> io::Result<()> {
    Err(unsupported("--ignore-term"))
}

pub fn on_term(_path: &Path) -> io::Result<()> {
    Err(unsupported("--on-term"))
}

pub fn whoami() -> io::Result<String> {
    Err(unsupported("--whoami"))
}

/// Nothing to do: std gives no way to see what a child would inherit.
pub fn stop_stdio_inheritance() -> io::Result<()> {
    Ok(())
}

pub fn raise(_signal: i32) -> io::Result<()> {
    Err(unsupported("--kill-self"))
}

/// Terminates abnormally (a "crash").
pub fn suspend(_pid: u32) -> io::Result<()> {
    Err(unsupported("--suspend"))
}

pub fn abort() -> ! {
    std::process::abort()
}

/// Waits forever.
pub fn hang() -> ! {
    loop {
        std::thread::sleep(std::time::Duration::from_secs(3600));
    }
}
