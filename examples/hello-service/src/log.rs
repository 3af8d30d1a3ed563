//! Line-at-a-time logging to stdout and stderr.
//!
//! A supervisor such as tend captures these streams through pipes, so every
//! line is flushed as soon as it is written. Unlike `println!`, a closed
//! stream is ignored rather than panicking: losing the log must not take the
//! service down. Lines are short, so the brief blocking write is acceptable
//! on the runtime thread.

use std::fmt;
use std::io::{self, Write};

/// Writes one line to stdout and flushes it.
pub fn out(args: fmt::Arguments<'_>) {
    let mut stdout = io::stdout().lock();
    let _ = writeln!(stdout, "{args}");
    let _ = stdout.flush();
}

/// Writes one line to stderr (unbuffered).
pub fn err(args: fmt::Arguments<'_>) {
    let _ = writeln!(io::stderr().lock(), "{args}");
}
