//! Windows process control: spawning a contained child, asking it to stop, killing its
//! whole process tree, waiting for its exit, reading its output.
//!
//! Containment: each child is created suspended, put in its own Job Object, and only
//! then resumed, so nothing it starts can escape the job. The job kills every process
//! in it when its last handle closes (`JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE`), which is
//! when the supervisor drops it or dies; `windows.kill_on_close = false` leaves that
//! limit off for programs whose children must outlive tend. A stop that times out
//! ends the tree with `TerminateJobObject`.
//!
//! Graceful stop: each child is started with `CREATE_NO_WINDOW`, which gives it a
//! hidden console of its own (and no new process group, in which Ctrl-C would be
//! disabled). To stop it, tend attaches to the child's console and generates
//! `CTRL_C_EVENT` there: only processes on that console get it (see [`send_ctrl_c`]).
//! A supervisor with no console of its own (a service: the SCM gives it none) does this
//! itself, one stop at a time, and ignores the Ctrl-C that reaches it too. One with a
//! console (`tend run`/`tend up` in a terminal) would have to leave its own console for
//! that, so a short-lived helper (`tend ctrl-c PID`) does it instead, which keeps the
//! supervisor's console and its own Ctrl-C handling untouched; starting that process
//! is most of what a stop costs (measured under Wine, docs/PERFORMANCE.md).
//! `windows.stop = "close"` posts `WM_CLOSE` to the top-level windows of the job's
//! processes instead.

use std::ffi::OsStr;
use std::io::{self, Read};
use std::os::windows::io::{AsRawHandle, FromRawHandle, OwnedHandle, RawHandle};
use std::os::windows::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use tokio::sync::{mpsc, oneshot};
use windows_sys::Win32::Foundation::{
    CloseHandle, ERROR_ACCESS_DENIED, HANDLE, HWND, INVALID_HANDLE_VALUE, LPARAM,
};
use windows_sys::Win32::Globalization::{MultiByteToWideChar, CP_OEMCP};
use windows_sys::Win32::System::Console::{
    AttachConsole, FreeConsole, GenerateConsoleCtrlEvent, GetStdHandle, SetConsoleCtrlHandler,
    SetStdHandle, CTRL_C_EVENT, STD_ERROR_HANDLE, STD_HANDLE, STD_INPUT_HANDLE, STD_OUTPUT_HANDLE,
};
use windows_sys::Win32::System::Diagnostics::ToolHelp::{
    CreateToolhelp32Snapshot, Thread32First, Thread32Next, TH32CS_SNAPTHREAD, THREADENTRY32,
};
use windows_sys::Win32::System::JobObjects::{
    AssignProcessToJobObject, CreateJobObjectW, JobObjectBasicAccountingInformation,
    JobObjectBasicProcessIdList, JobObjectCpuRateControlInformation,
    JobObjectExtendedLimitInformation, QueryInformationJobObject, SetInformationJobObject,
    TerminateJobObject, JOBOBJECT_BASIC_ACCOUNTING_INFORMATION, JOBOBJECT_BASIC_PROCESS_ID_LIST,
    JOBOBJECT_CPU_RATE_CONTROL_INFORMATION, JOBOBJECT_EXTENDED_LIMIT_INFORMATION,
    JOB_OBJECT_CPU_RATE_CONTROL_ENABLE, JOB_OBJECT_CPU_RATE_CONTROL_HARD_CAP,
    JOB_OBJECT_CPU_RATE_CONTROL_WEIGHT_BASED, JOB_OBJECT_LIMIT_ACTIVE_PROCESS,
    JOB_OBJECT_LIMIT_AFFINITY, JOB_OBJECT_LIMIT_JOB_MEMORY, JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE,
    JOB_OBJECT_LIMIT_PRIORITY_CLASS,
};
use windows_sys::Win32::System::ProcessStatus::{K32GetProcessMemoryInfo, PROCESS_MEMORY_COUNTERS};
use windows_sys::Win32::System::Threading::{
    GetProcessIdOfThread, OpenThread, ResumeThread, SuspendThread, WaitForSingleObject,
    CREATE_NO_WINDOW, CREATE_SUSPENDED, THREAD_QUERY_LIMITED_INFORMATION, THREAD_SUSPEND_RESUME,
};
use windows_sys::Win32::UI::WindowsAndMessaging::{
    EnumWindows, GetWindowThreadProcessId, PostMessageW, WM_CLOSE,
};

use super::{Prepared, Spawned, TreeUsage};
use crate::spec::{CodePage, WinStop};
use crate::supervise::job_limits::{job_limits, CpuRate, JobLimits};
use crate::supervise::policy::Exit;

/// The account a child runs as. On Windows the child always runs as the supervisor's
/// own account (the service's, set with `windows.account`), so this is never built.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Credentials {}

/// A child's process tree: its Job Object. Dropping it closes the job, which (with
/// kill-on-close) ends every process still in it.
#[derive(Debug)]
pub struct Tree {
    /// The child's process id.
    pub pid: u32,
    job: OwnedHandle,
    /// The child's process, held so that its pid cannot be given to another process
    /// while a stop request may still be sent to it.
    process: OwnedHandle,
    kill_on_close: bool,
}

impl Tree {
    /// Whether the child process has exited.
    fn exited(&self) -> bool {
        // SAFETY: a valid process handle owned by `self`; a zero timeout only polls.
        unsafe { WaitForSingleObject(self.process.as_raw_handle() as HANDLE, 0) == 0 }
    }
}

impl Drop for Tree {
    fn drop(&mut self) {
        // The job's handle for the metrics goes first: with kill-on-close, the job
        // must close with the tree's own handle.
        if let Ok(mut jobs) = JOBS.lock() {
            jobs.remove(&self.pid);
        }
    }
}

/// A handle to each supervised child's job, by the child's pid, for [`tree_usage`]:
/// the [`Tree`] itself is its service actor's. Added at the spawn, removed when the
/// tree is dropped.
static JOBS: std::sync::Mutex<std::collections::BTreeMap<u32, OwnedHandle>> =
    std::sync::Mutex::new(std::collections::BTreeMap::new());

/// The output of one stream: chunks read by a thread (anonymous pipes cannot be read
/// asynchronously), bounded so that a flooding child waits for the log writer.
#[derive(Debug)]
pub struct PipeReader(pub mpsc::Receiver<Vec<u8>>);

fn check(ok: i32, what: &str) -> io::Result<()> {
    if ok == 0 {
        let e = io::Error::last_os_error();
        Err(io::Error::new(
            e.kind(),
            format!("{what}: {}", crate::text::io_error(&e)),
        ))
    } else {
        Ok(())
    }
}

/// A new Job Object, with kill-on-close when asked and the `limits` of `[resources]`
/// (see [`crate::supervise::job_limits`]); a warning for each limit the system refused
/// (the job is then made without it).
fn new_job(kill_on_close: bool, limits: &JobLimits) -> io::Result<(OwnedHandle, Vec<String>)> {
    // SAFETY: no security attributes, no name.
    let raw = unsafe { CreateJobObjectW(std::ptr::null(), std::ptr::null()) };
    if raw.is_null() {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a fresh handle that nothing else owns.
    let job = unsafe { OwnedHandle::from_raw_handle(raw as RawHandle) };
    let mut not_applied = Vec::new();
    let set_limits = |limits: &JobLimits| -> io::Result<()> {
        // SAFETY: an all-zero limit structure is valid (no limits).
        let mut info: JOBOBJECT_EXTENDED_LIMIT_INFORMATION = unsafe { std::mem::zeroed() };
        let basic = &mut info.BasicLimitInformation;
        if kill_on_close {
            basic.LimitFlags |= JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE;
        }
        if let Some(bytes) = limits.job_memory {
            basic.LimitFlags |= JOB_OBJECT_LIMIT_JOB_MEMORY;
            info.JobMemoryLimit = usize::try_from(bytes).unwrap_or(usize::MAX);
        }
        let basic = &mut info.BasicLimitInformation;
        if let Some(n) = limits.active_processes {
            basic.LimitFlags |= JOB_OBJECT_LIMIT_ACTIVE_PROCESS;
            basic.ActiveProcessLimit = n;
        }
        if let Some(mask) = limits.affinity {
            basic.LimitFlags |= JOB_OBJECT_LIMIT_AFFINITY;
            basic.Affinity = mask as usize;
        }
        if let Some(class) = limits.priority_class {
            basic.LimitFlags |= JOB_OBJECT_LIMIT_PRIORITY_CLASS;
            basic.PriorityClass = class;
        }
        if basic.LimitFlags == 0 {
            return Ok(());
        }
        // SAFETY: `info` is the structure this information class expects.
        check(
            unsafe {
                SetInformationJobObject(
                    job.as_raw_handle() as HANDLE,
                    JobObjectExtendedLimitInformation,
                    &info as *const _ as *const _,
                    std::mem::size_of::<JOBOBJECT_EXTENDED_LIMIT_INFORMATION>() as u32,
                )
            },
            "SetInformationJobObject",
        )
    };
    let process_limits = JobLimits {
        cpu: None,
        ..limits.clone()
    };
    if let Err(e) = set_limits(&process_limits) {
        if process_limits == JobLimits::default() {
            return Err(e);
        }
        // One at a time: each limit the system takes is kept, each it refuses named.
        let none = JobLimits::default();
        let one_by_one = [
            (
                "memory_max",
                JobLimits {
                    job_memory: process_limits.job_memory,
                    ..none.clone()
                },
            ),
            (
                "tasks_max",
                JobLimits {
                    active_processes: process_limits.active_processes,
                    ..none.clone()
                },
            ),
            (
                "cpu_affinity",
                JobLimits {
                    affinity: process_limits.affinity,
                    ..none.clone()
                },
            ),
            (
                "nice",
                JobLimits {
                    priority_class: process_limits.priority_class,
                    ..none.clone()
                },
            ),
        ];
        let mut kept = none.clone();
        for (key, one) in one_by_one.into_iter().filter(|(_, l)| !l.is_empty()) {
            let trial = JobLimits {
                job_memory: kept.job_memory.or(one.job_memory),
                active_processes: kept.active_processes.or(one.active_processes),
                affinity: kept.affinity.or(one.affinity),
                priority_class: kept.priority_class.or(one.priority_class),
                cpu: None,
            };
            match set_limits(&trial) {
                Ok(()) => kept = trial,
                Err(e) => not_applied.push(format!(
                    "resources.{key} is not applied (the Job Object refused it: {e})"
                )),
            }
        }
        set_limits(&kept)?;
    }
    if let Some(rate) = limits.cpu {
        // SAFETY: an all-zero structure is valid; the union member set below is the one
        // its flags name.
        let mut cpu: JOBOBJECT_CPU_RATE_CONTROL_INFORMATION = unsafe { std::mem::zeroed() };
        match rate {
            CpuRate::HardCap(r) => {
                cpu.ControlFlags =
                    JOB_OBJECT_CPU_RATE_CONTROL_ENABLE | JOB_OBJECT_CPU_RATE_CONTROL_HARD_CAP;
                cpu.Anonymous.CpuRate = r;
            }
            CpuRate::Weight(w) => {
                cpu.ControlFlags =
                    JOB_OBJECT_CPU_RATE_CONTROL_ENABLE | JOB_OBJECT_CPU_RATE_CONTROL_WEIGHT_BASED;
                cpu.Anonymous.Weight = w;
            }
        }
        // SAFETY: `cpu` is the structure this information class expects.
        if let Err(e) = check(
            unsafe {
                SetInformationJobObject(
                    job.as_raw_handle() as HANDLE,
                    JobObjectCpuRateControlInformation,
                    &cpu as *const _ as *const _,
                    std::mem::size_of::<JOBOBJECT_CPU_RATE_CONTROL_INFORMATION>() as u32,
                )
            },
            "SetInformationJobObject (CPU rate)",
        ) {
            not_applied.push(format!(
                "the CPU rate control of [resources] (cpu_max, cpu_weight) is not applied: {e}"
            ));
        }
    }
    Ok((job, not_applied))
}

/// Resumes every thread of a process created suspended (there is one: its main thread).
fn resume_threads(pid: u32) -> io::Result<()> {
    let resumed = each_thread_of(&[pid], |t| {
        // SAFETY: a valid thread handle with THREAD_SUSPEND_RESUME.
        unsafe { ResumeThread(t) != u32::MAX }
    })?;
    if resumed == 0 {
        return Err(io::Error::other(
            "no thread of the new process could be resumed",
        ));
    }
    Ok(())
}

/// Starts the child suspended, with a hidden console of its own, puts it in a new Job
/// Object, then lets it run.
pub fn spawn(p: &Prepared) -> io::Result<Spawned> {
    let (limits, warned) = job_limits(&p.resources, cpu_count());
    let (job, refused) = new_job(p.kill_on_close, &limits)?;
    let not_applied: Vec<String> = warned
        .into_iter()
        .map(|(_, why)| why)
        .chain(refused)
        .collect();
    let mut cmd = Command::new(&p.program);
    cmd.args(&p.args)
        .env_clear()
        .envs(p.env.iter().map(|(k, v)| (k, v)))
        .envs(listen_env(p))
        .stdin(Stdio::null())
        .stdout(p.stdout.stdio())
        .stderr(p.stderr.stdio())
        .creation_flags(CREATE_NO_WINDOW | CREATE_SUSPENDED);
    if let Some(dir) = &p.cwd {
        cmd.current_dir(dir);
    }
    let mut child = {
        let _inheritable = Inheritable::new(p)?;
        cmd.spawn()?
    };
    let pid = child.id();
    let process = duplicate(child.as_raw_handle());
    // SAFETY: both handles are valid; the process has not run a single instruction.
    let assigned = check(
        unsafe {
            AssignProcessToJobObject(
                job.as_raw_handle() as HANDLE,
                child.as_raw_handle() as HANDLE,
            )
        },
        "AssignProcessToJobObject",
    )
    .and_then(|()| resume_threads(pid));
    let process = match assigned.and(process) {
        Ok(p) => p,
        Err(e) => {
            let _ = child.kill();
            let _ = child.wait();
            return Err(e);
        }
    };
    if let (Ok(dup), Ok(mut jobs)) = (duplicate(job.as_raw_handle()), JOBS.lock()) {
        jobs.insert(pid, dup);
    }
    let oem = p.code_page == CodePage::Oem;
    let stdout = child.stdout.take().map(|s| read_pipe(s, oem));
    let stderr = child.stderr.take().map(|s| read_pipe(s, oem));
    let (tx, rx) = oneshot::channel();
    std::thread::Builder::new()
        .name(format!("wait-{pid}"))
        .stack_size(64 * 1024)
        .spawn(move || {
            let exit = match child.wait() {
                // Windows exit codes are 32-bit: NTSTATUS values read as negative.
                Ok(status) => Exit::Code(status.code().unwrap_or(1)),
                Err(_) => Exit::Code(1),
            };
            let _ = tx.send(exit);
        })?;
    Ok(Spawned {
        pid: pid as i32,
        tree: Tree {
            pid,
            job,
            process,
            kill_on_close: p.kill_on_close,
        },
        stdout,
        stderr,
        not_applied,
        exit: Some(rx),
    })
}

/// A `[[listen]]` socket the supervisor holds: not inheritable, except while the
/// service's own child is created (see [`Inheritable`]).
pub type HeldSocket = std::os::windows::io::OwnedSocket;

/// Windows keeps the backlog a socket was first given (std's, 128) when `listen` is
/// called again, so there is nothing to set.
pub fn set_backlog(_socket: &HeldSocket, _backlog: i32) -> io::Result<()> {
    Ok(())
}

/// tend holds TCP sockets only on Windows (the spec check says so first).
pub fn bind_unix(
    _path: &Path,
    _mode: Option<u32>,
    _credentials: Option<&Credentials>,
) -> Result<HeldSocket, super::UnixBindError> {
    Err(super::UnixBindError::Io(io::Error::new(
        io::ErrorKind::Unsupported,
        "tend holds TCP sockets only on Windows",
    )))
}

/// The variables that name the `[[listen]]` sockets to the child: `LISTEN_FDS` (how
/// many), `LISTEN_FDNAMES` (their names, `:`-separated) and `TEND_LISTEN_HANDLES`
/// (their inherited SOCKET handle values, decimal, `:`-separated, in the same order).
/// `LISTEN_PID` is not set: the environment is fixed before the process, and so its
/// id, exists.
fn listen_env(p: &Prepared) -> Vec<(String, String)> {
    use std::os::windows::io::AsRawSocket;
    if p.listen.is_empty() {
        return Vec::new();
    }
    let join = |f: &dyn Fn(&crate::supervise::listen::Passed) -> String| {
        p.listen.iter().map(f).collect::<Vec<_>>().join(":")
    };
    vec![
        ("LISTEN_FDS".into(), p.listen.len().to_string()),
        ("LISTEN_FDNAMES".into(), join(&|l| l.name.clone())),
        (
            "TEND_LISTEN_HANDLES".into(),
            join(&|l| l.socket.as_raw_socket().to_string()),
        ),
    ]
}

/// Makes the `[[listen]]` sockets of `p` inheritable while it lives: std creates
/// every child with handle inheritance on, so the child created meanwhile gets them
/// (and keeps their values). Dropping it makes them private again, so no later
/// child, stop hook or health probe inherits them. Children are created on the
/// supervisor's thread only, one at a time.
struct Inheritable<'a>(&'a [crate::supervise::listen::Passed]);

impl<'a> Inheritable<'a> {
    fn new(p: &'a Prepared) -> io::Result<Inheritable<'a>> {
        let guard = Inheritable(&p.listen);
        for l in guard.0 {
            set_inherit(l, true)?;
        }
        Ok(guard)
    }
}

impl Drop for Inheritable<'_> {
    fn drop(&mut self) {
        for l in self.0 {
            let _ = set_inherit(l, false);
        }
    }
}

/// Sets or clears `HANDLE_FLAG_INHERIT` on a held socket.
fn set_inherit(l: &crate::supervise::listen::Passed, on: bool) -> io::Result<()> {
    use std::os::windows::io::AsRawSocket;
    use windows_sys::Win32::Foundation::{SetHandleInformation, HANDLE_FLAG_INHERIT};
    // SAFETY: the socket is a valid handle this process owns; only its flag changes.
    check(
        unsafe {
            SetHandleInformation(
                l.socket.as_raw_socket() as HANDLE,
                HANDLE_FLAG_INHERIT,
                if on { HANDLE_FLAG_INHERIT } else { 0 },
            )
        },
        "SetHandleInformation",
    )
}

/// A handle of our own to the same object.
fn duplicate(h: RawHandle) -> io::Result<OwnedHandle> {
    use windows_sys::Win32::Foundation::{DuplicateHandle, DUPLICATE_SAME_ACCESS};
    use windows_sys::Win32::System::Threading::GetCurrentProcess;
    let mut dup: HANDLE = std::ptr::null_mut();
    // SAFETY: `h` is a valid handle of this process; `dup` is a valid out-pointer.
    check(
        unsafe {
            DuplicateHandle(
                GetCurrentProcess(),
                h as HANDLE,
                GetCurrentProcess(),
                &mut dup,
                0,
                0,
                DUPLICATE_SAME_ACCESS,
            )
        },
        "DuplicateHandle",
    )?;
    // SAFETY: a fresh handle that nothing else owns.
    Ok(unsafe { OwnedHandle::from_raw_handle(dup as RawHandle) })
}

/// Reads a pipe on a thread of its own into a bounded channel, converting OEM code
/// page text to UTF-8 when asked (whole lines, so a character split across reads is
/// never cut in two).
fn read_pipe(mut pipe: impl Read + Send + 'static, oem: bool) -> PipeReader {
    let (tx, rx) = mpsc::channel::<Vec<u8>>(16);
    let spawned = std::thread::Builder::new()
        .name("pipe".into())
        .stack_size(64 * 1024)
        .spawn(move || {
            let mut buf = vec![0u8; 64 * 1024];
            let mut pending: Vec<u8> = Vec::new();
            loop {
                let n = match pipe.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => n,
                };
                let chunk = if oem {
                    pending.extend_from_slice(&buf[..n]);
                    match pending.iter().rposition(|&b| b == b'\n') {
                        Some(i) => {
                            let rest = pending.split_off(i + 1);
                            let lines = std::mem::replace(&mut pending, rest);
                            oem_to_utf8(&lines)
                        }
                        // A long line without an end: convert what there is.
                        None if pending.len() >= 64 * 1024 => {
                            oem_to_utf8(&std::mem::take(&mut pending))
                        }
                        None => continue,
                    }
                } else {
                    buf[..n].to_vec()
                };
                if tx.blocking_send(chunk).is_err() {
                    break;
                }
            }
            if !pending.is_empty() {
                let _ = tx.blocking_send(oem_to_utf8(&pending));
            }
        });
    if let Err(e) = spawned {
        crate::supervise::say!("tend: error: cannot start an output reader thread: {e}");
    }
    PipeReader(rx)
}

/// Converts text in the OEM code page to UTF-8.
fn oem_to_utf8(bytes: &[u8]) -> Vec<u8> {
    if bytes.is_empty() {
        return Vec::new();
    }
    let Ok(len) = i32::try_from(bytes.len()) else {
        return bytes.to_vec();
    };
    let mut wide = vec![0u16; bytes.len()];
    // SAFETY: both buffers are valid for the lengths given; a single-byte or DBCS code
    // page never yields more UTF-16 units than input bytes.
    let n = unsafe {
        MultiByteToWideChar(
            CP_OEMCP,
            0,
            bytes.as_ptr(),
            len,
            wide.as_mut_ptr(),
            wide.len() as i32,
        )
    };
    if n <= 0 {
        return bytes.to_vec();
    }
    String::from_utf16_lossy(&wide[..n as usize]).into_bytes()
}

/// Ends every process in the tree.
pub fn kill_tree(tree: &Tree) -> io::Result<()> {
    // SAFETY: a valid job handle owned by `tree`.
    check(
        unsafe { TerminateJobObject(tree.job.as_raw_handle() as HANDLE, 1) },
        "TerminateJobObject",
    )
}

/// Freezes the whole tree (`tend pause`, the SCM's PAUSE): suspends every thread of
/// every process in the child's job. Returns what was done, for the log.
pub fn pause_tree(tree: &Tree) -> io::Result<String> {
    let pids = members_of(tree)?;
    let threads = each_thread_of(&pids, |t| {
        // SAFETY: a valid thread handle with THREAD_SUSPEND_RESUME.
        unsafe { SuspendThread(t) != u32::MAX }
    })?;
    Ok(format!(
        "suspended {threads} threads of {} processes in its job",
        pids.len()
    ))
}

/// Lets a tree frozen by [`pause_tree`] run again: resumes every thread of every
/// process in the child's job.
pub fn resume_tree(tree: &Tree) -> io::Result<String> {
    let pids = members_of(tree)?;
    let threads = each_thread_of(&pids, |t| {
        // SAFETY: a valid thread handle with THREAD_SUSPEND_RESUME.
        unsafe { ResumeThread(t) != u32::MAX }
    })?;
    Ok(format!(
        "resumed {threads} threads of {} processes in its job",
        pids.len()
    ))
}

/// The processes of the tree's job.
fn members_of(tree: &Tree) -> io::Result<Vec<u32>> {
    pids_in_job(tree.job.as_raw_handle() as HANDLE)
        .ok_or_else(|| io::Error::other("cannot list the processes of the job"))
}

/// Calls `each` with a handle (THREAD_SUSPEND_RESUME) to every thread of the processes
/// `pids`, each checked to belong to its process still when opened (a thread id that
/// ended meanwhile may name another process's thread by now); returns for how many
/// threads it returned true.
fn each_thread_of(pids: &[u32], mut each: impl FnMut(HANDLE) -> bool) -> io::Result<usize> {
    // SAFETY: plain call; the snapshot handle is owned below.
    let snap = unsafe { CreateToolhelp32Snapshot(TH32CS_SNAPTHREAD, 0) };
    if snap == INVALID_HANDLE_VALUE {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a fresh handle that nothing else owns.
    let snap = unsafe { OwnedHandle::from_raw_handle(snap as RawHandle) };
    // SAFETY: an all-zero THREADENTRY32 with its size set is what Thread32First wants.
    let mut entry: THREADENTRY32 = unsafe { std::mem::zeroed() };
    entry.dwSize = std::mem::size_of::<THREADENTRY32>() as u32;
    let mut done = 0;
    // SAFETY: valid snapshot handle and entry.
    let mut more = unsafe { Thread32First(snap.as_raw_handle() as HANDLE, &mut entry) } != 0;
    while more {
        if pids.contains(&entry.th32OwnerProcessID) {
            // SAFETY: plain call; a null handle is checked, the handle owned below.
            let t = unsafe {
                OpenThread(
                    THREAD_SUSPEND_RESUME | THREAD_QUERY_LIMITED_INFORMATION,
                    0,
                    entry.th32ThreadID,
                )
            };
            if !t.is_null() {
                // SAFETY: a fresh handle that nothing else owns.
                let t = unsafe { OwnedHandle::from_raw_handle(t as RawHandle) };
                // SAFETY: a valid thread handle with THREAD_QUERY_LIMITED_INFORMATION.
                let owner = unsafe { GetProcessIdOfThread(t.as_raw_handle() as HANDLE) };
                // (0: it cannot tell, as under Wine: the snapshot's word stands.)
                let same = owner == 0 || owner == entry.th32OwnerProcessID;
                if same && each(t.as_raw_handle() as HANDLE) {
                    done += 1;
                }
            }
        }
        // SAFETY: as above.
        more = unsafe { Thread32Next(snap.as_raw_handle() as HANDLE, &mut entry) } != 0;
    }
    Ok(done)
}

/// After the child exited: end what it left in its job, unless the spec lets those
/// processes outlive it (`windows.kill_on_close = false`).
pub fn clean_up_after_exit(tree: &Tree) {
    if tree.kill_on_close {
        let _ = kill_tree(tree);
    }
}

/// `[reload] signal`: Windows has no signals; `[reload] command` is the way there.
pub fn signal_child(_tree: &Tree, sig: crate::spec::Signal) -> io::Result<String> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        format!("Windows has no signals ({sig}): give [reload] command = [...] instead"),
    ))
}

/// Asks the child to stop the way the spec says; returns what was done, for the log.
pub fn request_stop(tree: &Tree, spec: &crate::spec::Spec) -> io::Result<String> {
    if tree.exited() {
        return Ok(format!("pid {} has exited already", tree.pid));
    }
    match spec.windows.stop {
        WinStop::CtrlC => send_ctrl_c(tree.pid).map(|how| match how {
            CtrlCSent::Directly => format!("sent Ctrl-C to pid {} (directly)", tree.pid),
            CtrlCSent::ByHelper => format!("sent Ctrl-C to pid {}", tree.pid),
        }),
        WinStop::Close => {
            let n = close_windows(&job_pids(tree));
            if n == 0 {
                Err(io::Error::other(format!(
                    "pid {} has no window to close",
                    tree.pid
                )))
            } else {
                Ok(format!(
                    "sent WM_CLOSE to {n} window(s) of pid {}",
                    tree.pid
                ))
            }
        }
        WinStop::Kill => {
            kill_tree(tree).map(|()| format!("terminated the job of pid {}", tree.pid))
        }
    }
}

/// How [`send_ctrl_c`] delivered the event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CtrlCSent {
    /// From this process, which has no console of its own.
    Directly,
    /// Through the helper process `tend ctrl-c PID`.
    ByHelper,
}

/// Sends Ctrl-C to the console of `pid`: from this process when it has no console of
/// its own (see [`ctrl_c_directly`]), else through a helper process (`tend ctrl-c
/// PID`), waiting for it at most two seconds.
pub fn send_ctrl_c(pid: u32) -> io::Result<CtrlCSent> {
    if let Some(sent) = ctrl_c_directly(pid) {
        return sent.map(|()| CtrlCSent::Directly);
    }
    ctrl_c_by_helper(pid).map(|()| CtrlCSent::ByHelper)
}

/// Serialises [`ctrl_c_directly`]: a process is on one console at a time.
static CONSOLE: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Generates Ctrl-C on the console of `pid` from this process, if this process has no
/// console of its own (`None` if it has one: leaving it would cut the supervisor off
/// its terminal). Attach, generate, detach, under [`CONSOLE`]. Attaching is also the
/// test: it fails with `ERROR_ACCESS_DENIED` in a process that has a console
/// (`GetConsoleProcessList` would do, but Wine 8 does not implement it).
///
/// On Windows the event reaches every process on that console, this one too
/// (asynchronously, on a thread the system starts, possibly after the detach; Wine 8
/// spares the process that generates it), so a handler that ignores `CTRL_C_EVENT` is
/// installed first and kept: a process without a console gets no other Ctrl-C. It runs
/// before tokio's (handlers run last-registered first, and tokio's was registered when
/// supervising started), so no stop request comes of it. The process-wide "ignore
/// Ctrl-C" flag is not used: children started meanwhile would inherit it. The standard
/// handles, which attaching may replace, are put back.
fn ctrl_c_directly(pid: u32) -> Option<io::Result<()>> {
    static IGNORING: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    const STD: [STD_HANDLE; 3] = [STD_INPUT_HANDLE, STD_OUTPUT_HANDLE, STD_ERROR_HANDLE];
    let _one = CONSOLE.lock().unwrap_or_else(|e| e.into_inner());
    // SAFETY: plain call; reads this process's standard handles.
    let saved = STD.map(|h| unsafe { GetStdHandle(h) });
    // SAFETY: plain call with a process id.
    let attached = unsafe { AttachConsole(pid) } != 0;
    let result = if !attached {
        let err = io::Error::last_os_error();
        if err.raw_os_error() == Some(ERROR_ACCESS_DENIED as i32) {
            return None;
        }
        Err(io::Error::other(format!(
            "cannot attach to the console of pid {pid}: {err}"
        )))
    } else {
        let ignoring = *IGNORING.get_or_init(|| {
            // SAFETY: the handler is a plain function, valid for the life of the process.
            unsafe { SetConsoleCtrlHandler(Some(ignore_ctrl_c), 1) != 0 }
        });
        // SAFETY: plain call on the console attached above.
        let sent = ignoring && unsafe { GenerateConsoleCtrlEvent(CTRL_C_EVENT, 0) } != 0;
        let err = io::Error::last_os_error();
        // SAFETY: plain call; leaves the console attached above.
        unsafe { FreeConsole() };
        if !ignoring {
            Err(io::Error::other(format!(
                "cannot ignore Ctrl-C in the supervisor: {err}"
            )))
        } else if !sent {
            Err(io::Error::other(format!(
                "cannot generate Ctrl-C for pid {pid}: {err}"
            )))
        } else {
            Ok(())
        }
    };
    for (h, was) in STD.into_iter().zip(saved) {
        // SAFETY: plain call; puts back a handle this process had.
        unsafe { SetStdHandle(h, was) };
    }
    Some(result)
}

/// The handler of a supervisor without a console: the Ctrl-C it generated for a child
/// reaches it too and is not a request to stop; anything else goes on to the next
/// handler (tokio's, then the default).
unsafe extern "system" fn ignore_ctrl_c(ctrl_type: u32) -> i32 {
    i32::from(ctrl_type == CTRL_C_EVENT)
}

/// Sends Ctrl-C to the console of `pid` through a helper process (`tend ctrl-c PID`),
/// waiting for it at most two seconds.
fn ctrl_c_by_helper(pid: u32) -> io::Result<()> {
    let exe = std::env::current_exe()?;
    let mut helper = Command::new(exe)
        .arg("ctrl-c")
        .arg(pid.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .creation_flags(CREATE_NO_WINDOW)
        .spawn()?;
    // SAFETY: a valid process handle owned by `helper`.
    let waited = unsafe { WaitForSingleObject(helper.as_raw_handle() as HANDLE, 2000) };
    if waited != 0 {
        let _ = helper.kill();
        let _ = helper.wait();
        return Err(io::Error::other(
            "the Ctrl-C helper did not finish within 2 s",
        ));
    }
    let out = helper.wait_with_output()?;
    if out.status.success() {
        Ok(())
    } else {
        Err(io::Error::other(
            String::from_utf8_lossy(&out.stderr).trim().to_string(),
        ))
    }
}

/// The helper's side of [`ctrl_c_by_helper`] (`tend ctrl-c PID`): leave this process's own
/// console, attach to the target's, ignore Ctrl-C here, and generate it for every
/// process on that console. The ignore flag is safe in this process only because it
/// starts nothing (children would inherit it and could never be stopped this way).
pub fn ctrl_c_helper(pid: u32) -> Result<(), String> {
    // SAFETY: plain calls on this process's console state.
    unsafe {
        FreeConsole();
        if AttachConsole(pid) == 0 {
            return Err(format!(
                "cannot attach to the console of pid {pid}: {}",
                io::Error::last_os_error()
            ));
        }
        SetConsoleCtrlHandler(None, 1);
        let sent = GenerateConsoleCtrlEvent(CTRL_C_EVENT, 0);
        let err = io::Error::last_os_error();
        FreeConsole();
        if sent == 0 {
            return Err(format!("cannot generate Ctrl-C for pid {pid}: {err}"));
        }
    }
    Ok(())
}

/// Clears an inherited "ignore Ctrl-C" flag, which every child would inherit in turn
/// and which would make the Ctrl-C stop useless. Called once when supervising starts.
pub fn enable_ctrl_c_for_children() {
    // SAFETY: plain call.
    unsafe { SetConsoleCtrlHandler(None, 0) };
}

/// Which process listens on TCP `port`: not looked up on Windows (`netstat -abno`
/// says).
pub fn listener_of(_port: u16) -> Option<String> {
    None
}

/// The processes in the tree's job.
fn job_pids(tree: &Tree) -> Vec<u32> {
    pids_in_job(tree.job.as_raw_handle() as HANDLE).unwrap_or_else(|| vec![tree.pid])
}

/// What the job of each child of `pids` uses (see [`job_usage`]).
pub fn tree_usage(pids: &[i32]) -> Vec<Option<TreeUsage>> {
    pids.iter().map(|&pid| job_usage(pid)).collect()
}

/// What the job of the child `pid` uses: the job's CPU time (every process it has
/// held, user and kernel) and the working sets of the processes in it now. None when
/// `pid` is not a supervised child or the job cannot be queried.
fn job_usage(pid: i32) -> Option<TreeUsage> {
    let jobs = JOBS.lock().ok()?;
    let job = jobs.get(&u32::try_from(pid).ok()?)?.as_raw_handle() as HANDLE;
    // SAFETY: an all-zero structure is valid.
    let mut acct: JOBOBJECT_BASIC_ACCOUNTING_INFORMATION = unsafe { std::mem::zeroed() };
    // SAFETY: `job` is a valid job handle (held in JOBS, locked); `acct` is the
    // structure this information class expects, and its size is passed.
    let ok = unsafe {
        QueryInformationJobObject(
            job,
            JobObjectBasicAccountingInformation,
            &mut acct as *mut _ as *mut _,
            std::mem::size_of::<JOBOBJECT_BASIC_ACCOUNTING_INFORMATION>() as u32,
            std::ptr::null_mut(),
        )
    };
    if ok == 0 {
        return None;
    }
    // 100-nanosecond units.
    let cpu = (acct.TotalUserTime.max(0) + acct.TotalKernelTime.max(0)) as f64 / 1e7;
    let resident = pids_in_job(job)
        .unwrap_or_default()
        .into_iter()
        .map(working_set)
        .sum();
    Some(TreeUsage {
        cpu_seconds: cpu,
        resident_bytes: resident,
    })
}

/// The working set of process `pid`, in bytes (0 when it cannot be read).
fn working_set(pid: u32) -> u64 {
    use windows_sys::Win32::System::Threading::{OpenProcess, PROCESS_QUERY_LIMITED_INFORMATION};
    // SAFETY: plain call; a null handle is checked below.
    let raw = unsafe { OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION, 0, pid) };
    if raw.is_null() {
        return 0;
    }
    // SAFETY: a fresh handle that nothing else owns.
    let process = unsafe { OwnedHandle::from_raw_handle(raw as RawHandle) };
    // SAFETY: an all-zero structure is valid.
    let mut counters: PROCESS_MEMORY_COUNTERS = unsafe { std::mem::zeroed() };
    let size = std::mem::size_of::<PROCESS_MEMORY_COUNTERS>() as u32;
    counters.cb = size;
    // SAFETY: a valid process handle; `counters` is as large as `size` says.
    let ok =
        unsafe { K32GetProcessMemoryInfo(process.as_raw_handle() as HANDLE, &mut counters, size) };
    if ok == 0 {
        0
    } else {
        counters.WorkingSetSize as u64
    }
}

/// The processes in the job `job` (at most 256); None when it cannot be queried.
fn pids_in_job(job: HANDLE) -> Option<Vec<u32>> {
    #[repr(C)]
    struct List {
        head: JOBOBJECT_BASIC_PROCESS_ID_LIST,
        more: [usize; 255],
    }
    // SAFETY: an all-zero list is valid.
    let mut list: List = unsafe { std::mem::zeroed() };
    // SAFETY: `list` is large enough for 256 ids and its size is passed.
    let ok = unsafe {
        QueryInformationJobObject(
            job,
            JobObjectBasicProcessIdList,
            &mut list as *mut _ as *mut _,
            std::mem::size_of::<List>() as u32,
            std::ptr::null_mut(),
        )
    };
    if ok == 0 {
        return None;
    }
    let n = (list.head.NumberOfProcessIdsInList as usize).min(256);
    let ids = std::iter::once(list.head.ProcessIdList[0]).chain(list.more.iter().copied());
    Some(ids.take(n).map(|id| id as u32).collect())
}

/// Posts `WM_CLOSE` to the top-level windows of `pids`; returns how many.
fn close_windows(pids: &[u32]) -> usize {
    struct Ctx<'a> {
        pids: &'a [u32],
        closed: usize,
    }
    unsafe extern "system" fn each(hwnd: HWND, lparam: LPARAM) -> i32 {
        // SAFETY: `lparam` is the `Ctx` passed to EnumWindows below, alive for the call.
        let ctx = unsafe { &mut *(lparam as *mut Ctx<'_>) };
        let mut pid = 0u32;
        // SAFETY: a window handle given by EnumWindows.
        unsafe { GetWindowThreadProcessId(hwnd, &mut pid) };
        // SAFETY: as above.
        if ctx.pids.contains(&pid) && unsafe { PostMessageW(hwnd, WM_CLOSE, 0, 0) } != 0 {
            ctx.closed += 1;
        }
        1
    }
    let mut ctx = Ctx { pids, closed: 0 };
    // SAFETY: the callback only touches `ctx` through the pointer, during the call.
    unsafe { EnumWindows(Some(each), &mut ctx as *mut Ctx<'_> as LPARAM) };
    ctx.closed
}

/// Orphans are contained by the job: nothing to sweep.
pub fn kill_orphans(_keep: &std::collections::BTreeSet<i32>) -> usize {
    0
}

/// Resolves `command` as Windows would: a path (with `\` or `/`) relative to `base`,
/// else a name looked up on `path_var`; a name without an extension also tries `.exe`,
/// `.com`, `.bat` and `.cmd`.
pub fn resolve_command(
    command: &str,
    base: &Path,
    path_var: Option<&OsStr>,
) -> Result<PathBuf, super::CommandError> {
    use super::CommandError;
    let candidates = |p: PathBuf| -> Vec<PathBuf> {
        let mut v = vec![p.clone()];
        if p.extension().is_none() {
            for ext in ["exe", "com", "bat", "cmd"] {
                v.push(p.with_extension(ext));
            }
        }
        v
    };
    if command.contains(['\\', '/']) {
        let p = crate::supervise::prepare::join(base, command);
        return candidates(p.clone())
            .into_iter()
            .find(|c| c.is_file())
            .ok_or(CommandError::Missing { path: p });
    }
    let path_var = path_var.map(OsStr::to_os_string).unwrap_or_default();
    for dir in std::env::split_paths(&path_var) {
        if let Some(found) = candidates(dir.join(command))
            .into_iter()
            .find(|c| c.is_file())
        {
            return Ok(found);
        }
    }
    Err(CommandError::NotOnPath {
        command: command.to_string(),
        path_var: path_var.to_string_lossy().into_owned(),
    })
}

/// Windows keeps no `current` link (creating one needs a privilege): the releases'
/// index is what counts, so this does nothing.
pub fn point_link(_link: &Path, _target: &Path) -> io::Result<()> {
    Ok(())
}

/// Creates `dir` and the folders above it; they take the permissions of the folder
/// they are in (`like`, the service's state folder, grants its account).
pub fn create_dir_all_owned_like(dir: &Path, _like: &Path) -> io::Result<()> {
    std::fs::create_dir_all(dir)
}

/// Windows runs any file it can read as a program: nothing to do.
pub fn make_executable(_path: &Path) -> io::Result<()> {
    Ok(())
}

/// Copies what `from` holds into the new file `to` (an existing one is an error).
pub fn copy_to_new(from: &mut std::fs::File, to: &Path) -> io::Result<u64> {
    let mut out = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(to)?;
    std::io::copy(from, &mut out)
}

/// Runs `f` (Windows: files take the permissions of their folder; nothing to switch).
pub fn as_owner_of<T>(_dir: &Path, f: impl FnOnce() -> T) -> io::Result<T> {
    Ok(f())
}

/// Whether the process `pid` still runs (for tests and status).
pub fn alive(pid: i32) -> bool {
    use windows_sys::Win32::System::Threading::{
        GetExitCodeProcess, OpenProcess, PROCESS_QUERY_LIMITED_INFORMATION,
    };
    // SAFETY: plain call; the handle is closed below.
    let h = unsafe { OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION, 0, pid as u32) };
    if h.is_null() {
        return false;
    }
    let mut code = 0u32;
    // SAFETY: a valid process handle.
    let ok = unsafe { GetExitCodeProcess(h, &mut code) };
    // SAFETY: closing the handle opened above.
    unsafe { CloseHandle(h) };
    const STILL_ACTIVE: u32 = 259;
    ok != 0 && code == STILL_ACTIVE
}

/// The `[resources]` keys [`spawn`] applies to the child's Job Object (the others have
/// no Windows meaning: each is warned about).
pub const APPLIED_RESOURCES: &[&str] = crate::supervise::job_limits::APPLIED;

/// The CPUs this process may use, numbered from 0.
pub fn cpu_count() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// The `[resources]` keys applied through a cgroup: none on Windows.
pub const CGROUP_KEYS: &[&str] = &[];

/// The cgroups of a child (none on Windows: the Job Object holds its limits).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CgroupPlan;

/// No cgroups on Windows: nothing planned, nothing to warn of here (the keys not in
/// [`APPLIED_RESOURCES`] are warned about by the caller).
pub fn cgroup_plan(
    _: &crate::spec::Resources,
    _: &str,
    _: bool,
) -> (CgroupPlan, Vec<(&'static str, String)>) {
    (CgroupPlan, Vec::new())
}

/// Whether the child whose tree this was was killed by the OOM killer: never on
/// Windows (a Job Object limit is not reported this way yet).
pub fn oom_killed(_: &Tree, _: crate::supervise::policy::Exit) -> bool {
    false
}
