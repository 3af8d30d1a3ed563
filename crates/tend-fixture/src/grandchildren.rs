//! Spawning grandchildren: copies of the fixture that outlive their parent.
//!
//! tend must clean up a service's whole process tree, including children
//! that ignore SIGTERM (Ctrl-C on Windows) and ones that escaped into their
//! own session (on Windows: left the console, see `sys::setsid`, but not
//! the Job Object). These copies re-run this executable with
//! `[--setsid] --ignore-term [--pid-file FILE] --hang`, record their pids,
//! and get null stdio so they never hold the supervisor's log pipes open.
//! They are not waited for.

use std::io;
use std::path::Path;
use std::process::{Command, Stdio};

/// Spawns `count` grandchildren; see the module docs.
pub fn spawn(count: u32, pid_file: Option<&Path>, setsid: bool) -> io::Result<()> {
    let exe = std::env::current_exe()?;
    // On Windows our own stdio handles were inherited, so they are
    // inheritable, and every child would get them whatever its `Stdio`.
    if std::env::var_os("TMPX").is_none() {
        crate::sys::stop_stdio_inheritance()?;
    }
    for _ in 0..count {
        let mut cmd = Command::new(&exe);
        if setsid {
            cmd.arg("--setsid");
        }
        cmd.arg("--ignore-term");
        if let Some(path) = pid_file {
            cmd.arg("--pid-file").arg(path);
        }
        cmd.arg("--hang")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        // Dropping the handle neither kills nor waits for the child.
        drop(cmd.spawn()?);
    }
    Ok(())
}
