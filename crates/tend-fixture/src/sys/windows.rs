//! Windows implementation of the fixture's system calls, via windows-sys.
//!
//! Signals become console control events. `--ignore-term` and `--on-term`
//! register a handler with `SetConsoleCtrlHandler`; Windows runs it on a new
//! thread of this process when the console it is attached to gets Ctrl-C or
//! Ctrl-Break (or, for `--on-term`, is closed or the system shuts down).
//! `--ignore-term` deliberately does not use `SetConsoleCtrlHandler(NULL,
//! TRUE)`: that flag is inherited by children, and the grandchildren must
//! behave like any program. Neither mode clears an ignore flag inherited from
//! the parent either: a program started that way gets no Ctrl-C, and tests
//! should see that. Output, `--abort`, `--hang` and the missing `--stamp`
//! clock are the std-only ones from `portable`.

use std::fs::OpenOptions;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use windows_sys::core::BOOL;
use windows_sys::Win32::Foundation::{
    SetHandleInformation, ERROR_INSUFFICIENT_BUFFER, FALSE, HANDLE_FLAG_INHERIT,
    INVALID_HANDLE_VALUE, TRUE,
};
use windows_sys::Win32::Storage::FileSystem::{GetFileType, FILE_TYPE_CHAR};
use windows_sys::Win32::System::Console::{
    FreeConsole, GetStdHandle, SetConsoleCtrlHandler, CTRL_BREAK_EVENT, CTRL_CLOSE_EVENT,
    CTRL_C_EVENT, CTRL_SHUTDOWN_EVENT, PHANDLER_ROUTINE, STD_ERROR_HANDLE, STD_INPUT_HANDLE,
    STD_OUTPUT_HANDLE,
};
use windows_sys::Win32::System::Threading::{GetCurrentProcess, TerminateProcess};
use windows_sys::Win32::System::WindowsProgramming::GetUserNameW;

pub use super::portable::{abort, hang, monotonic_nanos, write_all};
use super::TERM_MARKER;

/// Leaves the console: `FreeConsole()`, so Ctrl-C and Ctrl-Break sent to it
/// no longer reach this process, the nearest Windows has to setsid()'s
/// leaving the terminal's session. The process stays in its Job Object.
pub fn setsid() -> io::Result<()> {
    // SAFETY: FreeConsole takes no arguments. It fails only when no console
    // is attached, which is the state asked for, so the result is ignored.
    unsafe { FreeConsole() };
    Ok(())
}

/// Ignores Ctrl-C and Ctrl-Break (console close and shutdown still end the
/// process, as they do any console program).
pub fn ignore_term() -> io::Result<()> {
    add_ctrl_handler(Some(ignore_handler))
}

unsafe extern "system" fn ignore_handler(event: u32) -> BOOL {
    if matches!(event, CTRL_C_EVENT | CTRL_BREAK_EVENT) {
        TRUE
    } else {
        FALSE
    }
}

/// The `--on-term` file, set once before the handler is registered.
static TERM_PATH: OnceLock<PathBuf> = OnceLock::new();

/// On Ctrl-C, Ctrl-Break, console close or shutdown, appends [`TERM_MARKER`]
/// to `path` and exits 0.
pub fn on_term(path: &Path) -> io::Result<()> {
    TERM_PATH
        .set(path.to_path_buf())
        .map_err(|_| io::Error::other("--on-term installed twice"))?;
    add_ctrl_handler(Some(on_term_handler))
}

unsafe extern "system" fn on_term_handler(event: u32) -> BOOL {
    if !matches!(
        event,
        CTRL_C_EVENT | CTRL_BREAK_EVENT | CTRL_CLOSE_EVENT | CTRL_SHUTDOWN_EVENT
    ) {
        // Logoff of some user: not ours to react to, as a service.
        return FALSE;
    }
    if let Some(path) = TERM_PATH.get() {
        // A failed write has no better recourse here than exiting anyway.
        let _ = OpenOptions::new()
            .append(true)
            .create(true)
            .open(path)
            .and_then(|mut file| file.write_all(TERM_MARKER));
    }
    // This runs on a thread Windows created for the event; exiting from it
    // ends the whole process.
    std::process::exit(0)
}

fn add_ctrl_handler(handler: PHANDLER_ROUTINE) -> io::Result<()> {
    // SAFETY: `handler` is a function that lives as long as the process.
    if unsafe { SetConsoleCtrlHandler(handler, TRUE) } == 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// `user=<name>`: the account this process runs as (GetUserNameW, so
/// `SYSTEM` for LocalSystem whatever `USERNAME` says).
pub fn whoami() -> io::Result<String> {
    let mut buf = vec![0u16; 257];
    loop {
        let mut len = buf.len() as u32;
        // SAFETY: `buf` is writable for `len` UTF-16 units; `len` is a valid
        // in/out count.
        if unsafe { GetUserNameW(buf.as_mut_ptr(), &mut len) } != 0 {
            // `len` counts the terminating NUL.
            let name = String::from_utf16_lossy(&buf[..len.saturating_sub(1) as usize]);
            return Ok(format!("user={name}"));
        }
        let err = io::Error::last_os_error();
        if err.raw_os_error() != Some(ERROR_INSUFFICIENT_BUFFER as i32) || len as usize <= buf.len()
        {
            return Err(err);
        }
        buf.resize(len as usize, 0);
    }
}

/// Ends this process at once with `TerminateProcess(self, code)`: no
/// handlers, no flushing, exit code `code`, as if another process had
/// killed it. Windows has no signals, so the number is the exit code.
pub fn raise(code: i32) -> io::Result<()> {
    // SAFETY: the pseudo handle of the current process needs no closing.
    if unsafe { TerminateProcess(GetCurrentProcess(), code as u32) } == 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Suspends every thread of process `pid` (a snapshot of the system's threads, each
/// of `pid` opened and suspended): it runs no more, as a hung program.
pub fn suspend(pid: u32) -> io::Result<()> {
    use windows_sys::Win32::Foundation::CloseHandle;
    use windows_sys::Win32::System::Diagnostics::ToolHelp::{
        CreateToolhelp32Snapshot, Thread32First, Thread32Next, TH32CS_SNAPTHREAD, THREADENTRY32,
    };
    use windows_sys::Win32::System::Threading::{OpenThread, SuspendThread, THREAD_SUSPEND_RESUME};
    // SAFETY: a snapshot of all threads; the handle is closed below.
    let snap = unsafe { CreateToolhelp32Snapshot(TH32CS_SNAPTHREAD, 0) };
    if snap == INVALID_HANDLE_VALUE {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: THREADENTRY32 is plain data, valid as all zeroes.
    let mut entry: THREADENTRY32 = unsafe { std::mem::zeroed() };
    entry.dwSize = std::mem::size_of::<THREADENTRY32>() as u32;
    let mut suspended = 0;
    let mut error = None;
    // SAFETY: `snap` is a live snapshot and `entry` is sized for it.
    let mut more = unsafe { Thread32First(snap, &mut entry) } != 0;
    while more {
        if entry.th32OwnerProcessID == pid {
            // SAFETY: opening a thread by id; the handle is closed below.
            let thread = unsafe { OpenThread(THREAD_SUSPEND_RESUME, FALSE, entry.th32ThreadID) };
            if thread.is_null() {
                error = Some(io::Error::last_os_error());
            } else {
                // SAFETY: `thread` is an open handle with THREAD_SUSPEND_RESUME.
                if unsafe { SuspendThread(thread) } == u32::MAX {
                    error = Some(io::Error::last_os_error());
                } else {
                    suspended += 1;
                }
                // SAFETY: closing the handle opened above.
                unsafe { CloseHandle(thread) };
            }
        }
        // SAFETY: as for Thread32First.
        more = unsafe { Thread32Next(snap, &mut entry) } != 0;
    }
    // SAFETY: closing the snapshot taken above.
    unsafe { CloseHandle(snap) };
    match (suspended, error) {
        (0, Some(e)) => Err(e),
        (0, None) => Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!("no thread of process {pid}"),
        )),
        _ => Ok(()),
    }
}

/// Makes this process's own stdin, stdout and stderr non-inheritable, so the
/// grandchildren, which get null stdio, do not also inherit the supervisor's
/// pipes: std spawns with `bInheritHandles = TRUE`, and handles this process
/// inherited stay inheritable. Character devices (consoles, `NUL`) are left
/// alone: sharing them holds nothing open that matters, and a Windows 7
/// console pseudo-handle cannot be changed.
pub fn stop_stdio_inheritance() -> io::Result<()> {
    for which in [STD_INPUT_HANDLE, STD_OUTPUT_HANDLE, STD_ERROR_HANDLE] {
        // SAFETY: GetStdHandle only reads this process's parameters.
        let handle = unsafe { GetStdHandle(which) };
        if handle.is_null() || handle == INVALID_HANDLE_VALUE {
            continue;
        }
        // SAFETY: `handle` is this process's open standard handle.
        if unsafe { GetFileType(handle) } == FILE_TYPE_CHAR {
            continue;
        }
        // SAFETY: as above; only the inherit flag changes.
        if unsafe { SetHandleInformation(handle, HANDLE_FLAG_INHERIT, 0) } == 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}
