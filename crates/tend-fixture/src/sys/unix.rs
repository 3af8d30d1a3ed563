//! Unix implementation of the fixture's system calls, via libc.
//!
//! Each unsafe block makes exactly one libc call. The `--on-term` handler
//! only uses async-signal-safe calls (open, write, close, _exit).

use std::ffi::CString;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::ptr;
use std::sync::atomic::{AtomicPtr, Ordering};

use super::{Stream, TERM_MARKER};

/// Reads CLOCK_MONOTONIC in nanoseconds.
pub fn monotonic_nanos() -> io::Result<u64> {
    // SAFETY: timespec is plain old data; all-zero is a valid value.
    let mut ts: libc::timespec = unsafe { std::mem::zeroed() };
    // SAFETY: `ts` is a valid, writable timespec.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64)
}

/// Writes all of `buf` to `stream` with write(2), retrying partial writes
/// and EINTR. EPIPE comes back as `ErrorKind::BrokenPipe` (std ignores
/// SIGPIPE before `main`).
pub fn write_all(stream: Stream, mut buf: &[u8]) -> io::Result<()> {
    let fd = match stream {
        Stream::Stdout => libc::STDOUT_FILENO,
        Stream::Stderr => libc::STDERR_FILENO,
    };
    while !buf.is_empty() {
        // SAFETY: `buf` is readable for `buf.len()` bytes during the call.
        let n = unsafe { libc::write(fd, buf.as_ptr().cast(), buf.len()) };
        if n < 0 {
            let err = io::Error::last_os_error();
            if err.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(err);
        }
        if n == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        buf = &buf[n as usize..];
    }
    Ok(())
}

/// Starts a new session, leaving the parent's process group.
pub fn setsid() -> io::Result<()> {
    // SAFETY: setsid takes no arguments and only changes process state.
    let rc = unsafe { libc::setsid() };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Ignores SIGTERM and SIGINT.
pub fn ignore_term() -> io::Result<()> {
    set_disposition(libc::SIGTERM, libc::SIG_IGN)?;
    set_disposition(libc::SIGINT, libc::SIG_IGN)
}

/// The `--on-term` file, leaked so the handler can always read it.
static TERM_PATH: AtomicPtr<libc::c_char> = AtomicPtr::new(ptr::null_mut());

/// On SIGTERM or SIGINT, appends [`TERM_MARKER`] to `path` and exits 0.
pub fn on_term(path: &Path) -> io::Result<()> {
    let c_path = CString::new(path.as_os_str().as_bytes())
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    TERM_PATH.store(c_path.into_raw(), Ordering::Release);
    let handler = on_term_handler as extern "C" fn(libc::c_int);
    let handler = handler as *const () as libc::sighandler_t;
    set_disposition(libc::SIGTERM, handler)?;
    set_disposition(libc::SIGINT, handler)
}

extern "C" fn on_term_handler(_signal: libc::c_int) {
    let path = TERM_PATH.load(Ordering::Acquire);
    if !path.is_null() {
        let flags = libc::O_WRONLY | libc::O_CREAT | libc::O_APPEND | libc::O_CLOEXEC;
        // SAFETY: `path` is a leaked, NUL-terminated CString that is never
        // freed; open is async-signal-safe.
        let fd = unsafe { libc::open(path, flags, 0o644 as libc::c_uint) };
        if fd >= 0 {
            let msg = TERM_MARKER;
            // SAFETY: `msg` is readable for its length; write is
            // async-signal-safe. A failed write has no better recourse here.
            unsafe { libc::write(fd, msg.as_ptr().cast(), msg.len()) };
            // SAFETY: `fd` was opened above and is closed once.
            unsafe { libc::close(fd) };
        }
    }
    // SAFETY: _exit is async-signal-safe and skips atexit handlers.
    unsafe { libc::_exit(0) }
}

/// Installs `handler` (a function address, SIG_IGN or SIG_DFL) for `signal`.
fn set_disposition(signal: libc::c_int, handler: libc::sighandler_t) -> io::Result<()> {
    // SAFETY: sigaction is plain old data; all-zero is a valid value
    // (no flags, so `sa_sigaction` is read as a plain handler).
    let mut action: libc::sigaction = unsafe { std::mem::zeroed() };
    action.sa_sigaction = handler;
    // SAFETY: `action.sa_mask` is a valid, writable sigset_t.
    unsafe { libc::sigemptyset(&mut action.sa_mask) };
    // SAFETY: `action` is initialised; a null old-action pointer is allowed.
    let rc = unsafe { libc::sigaction(signal, &action, ptr::null_mut()) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// `uid=<uid> gid=<gid>`: the real user and group ids.
pub fn whoami() -> io::Result<String> {
    // SAFETY: getuid takes no arguments and cannot fail.
    let uid = unsafe { libc::getuid() };
    // SAFETY: getgid takes no arguments and cannot fail.
    let gid = unsafe { libc::getgid() };
    Ok(format!("uid={uid} gid={gid}"))
}

/// Nothing to do: `Stdio::null()` replaces fds 0-2 in a grandchild and std
/// opens everything else close-on-exec.
pub fn stop_stdio_inheritance() -> io::Result<()> {
    Ok(())
}

/// Stops process `pid` (SIGSTOP): it runs no more, as a hung program.
pub fn suspend(pid: u32) -> io::Result<()> {
    let pid =
        libc::pid_t::try_from(pid).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // SAFETY: kill takes plain integers; a bad pid yields an error.
    if unsafe { libc::kill(pid, libc::SIGSTOP) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Sends `signal` to this process. Returns if the signal did not kill it.
pub fn raise(signal: i32) -> io::Result<()> {
    // SAFETY: raise takes a plain integer; an invalid one yields an error.
    let rc = unsafe { libc::raise(signal) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Terminates with SIGABRT (a "crash").
pub fn abort() -> ! {
    // SAFETY: abort takes no arguments and never returns.
    unsafe { libc::abort() }
}

/// Waits forever; signal handlers (such as `--on-term`'s) still run.
pub fn hang() -> ! {
    loop {
        // SAFETY: pause takes no arguments; it returns after a handler ran.
        unsafe { libc::pause() };
    }
}
