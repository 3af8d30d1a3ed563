//! Unix process control: spawning a contained child, signalling and killing whole
//! process trees, reaping, and the guard process that cleans up if the supervisor
//! itself is killed.
//!
//! Containment: each child leads its own process group, gets `PR_SET_PDEATHSIG`
//! (SIGKILL when the supervisor dies), and the supervisor is a child subreaper, so a
//! grandchild that escapes with `setsid()` or whose parent died is re-parented to the
//! supervisor rather than to init and can still be found and killed.

use std::collections::BTreeSet;
use std::ffi::{CString, OsStr, OsString};
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicI64, Ordering};

use super::{Containment, Prepared, Spawned, TreeUsage};
use crate::supervise::policy::Exit;

/// The account a child runs as, resolved before spawning.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Credentials {
    /// User id.
    pub uid: u32,
    /// Primary group id.
    pub gid: u32,
    /// Supplementary groups.
    pub groups: Vec<u32>,
    /// The user's home directory.
    pub home: PathBuf,
    /// The user name.
    pub name: String,
}

/// The read end of a child's output pipe.
pub type PipeReader = OwnedFd;

/// A child's process tree: its process group (the child leads it). While it lives, the
/// group is in the table the guard reads if the supervisor dies ([`GroupTable`]).
#[derive(Debug)]
pub struct Tree {
    /// The child's pid, which is also the group id.
    pub pid: i32,
    /// The cgroups made for its `[resources]` limits, removed with the tree.
    cgroup: Option<super::unix_cgroup::Cgroup>,
    /// Where the OOM killer's kills in its memory cgroup are counted.
    oom: Option<super::unix_cgroup::OomWatch>,
}

impl Tree {
    fn new(pid: i32) -> Tree {
        GROUPS.add(pid);
        Tree {
            pid,
            cgroup: None,
            oom: None,
        }
    }

    /// The cgroup folders the child was put in (none when `[resources]` sets no
    /// cgroup limit, or a service manager applies them).
    pub fn cgroups(&self) -> &[PathBuf] {
        self.cgroup.as_ref().map_or(&[], |c| c.dirs())
    }
}

/// Whether the child of `tree`, which ended with `exit`, was killed by the OOM killer
/// (see [`crate::supervise::resources::oom_killed`]); call before the tree is dropped.
pub fn oom_killed(tree: &Tree, exit: crate::supervise::policy::Exit) -> bool {
    let Some(w) = &tree.oom else {
        return false;
    };
    crate::supervise::resources::oom_killed(exit, w.before, w.now())
}

impl Drop for Tree {
    fn drop(&mut self) {
        GROUPS.remove(self.pid);
    }
}

/// The process groups of the supervisor's live children, in a page shared with the
/// guard (mapped before the fork that splits them). If the supervisor dies, the guard
/// kills each group: without a subreaper ([`Containment::ProcessGroups`]) the
/// grandchildren of a killed supervisor are re-parented to init, not to the guard, and
/// this table is how it still finds them. Slots are claimed and released with
/// compare-and-swap; when every slot is taken (more than [`GROUP_SLOTS`] children at
/// once), a group is simply not listed. Empty (nothing mapped) without a guard.
struct GroupTable {
    slots: std::sync::atomic::AtomicPtr<AtomicI32>,
}

/// How many groups the shared page holds (one page of 4-byte slots).
const GROUP_SLOTS: usize = 1024;

static GROUPS: GroupTable = GroupTable {
    slots: std::sync::atomic::AtomicPtr::new(std::ptr::null_mut()),
};

impl GroupTable {
    /// Maps the shared page; before the guard's fork, once.
    fn map(&self) -> io::Result<()> {
        // SAFETY: an anonymous shared mapping of one page, not backed by any file.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                GROUP_SLOTS * std::mem::size_of::<AtomicI32>(),
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        // The page is zeroed (every slot free) and never unmapped.
        self.slots.store(p.cast(), Ordering::Release);
        Ok(())
    }

    fn slots(&self) -> &[AtomicI32] {
        let p = self.slots.load(Ordering::Acquire);
        if p.is_null() {
            return &[];
        }
        // SAFETY: `p` is the start of a mapping of GROUP_SLOTS zero-initialised
        // AtomicI32s that lives as long as the process (never unmapped).
        unsafe { std::slice::from_raw_parts(p, GROUP_SLOTS) }
    }

    fn add(&self, pgid: i32) {
        for slot in self.slots() {
            if slot
                .compare_exchange(0, pgid, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
            {
                return;
            }
        }
    }

    fn remove(&self, pgid: i32) {
        for slot in self.slots() {
            if slot
                .compare_exchange(pgid, 0, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
            {
                return;
            }
        }
    }

    /// The listed groups (the guard reads them once the supervisor is gone).
    fn listed(&self) -> Vec<i32> {
        self.slots()
            .iter()
            .map(|s| s.load(Ordering::Acquire))
            .filter(|&g| g > 0)
            .collect()
    }
}

/// Kills every process in the tree (the group; orphans are swept separately).
pub fn kill_tree(tree: &Tree) -> io::Result<()> {
    signal_group(tree.pid, libc::SIGKILL)
}

/// Freezes the whole tree (`tend pause`): SIGSTOP to its process group, which no
/// process can catch or ignore. Returns what was done, for the log.
///
/// A process that left the group (`setsid`) is not frozen. Once the child has a
/// cgroup of its own (tend run's subtree for `[resources]`), the freezer is the
/// better tool: v2 `cgroup.freeze` = 1 (wait for `frozen 1` in `cgroup.events`), v1
/// `freezer.state` = FROZEN (wait until it reads FROZEN, not FREEZING); the same
/// signature, with SIGSTOP kept where there is none.
pub fn pause_tree(tree: &Tree) -> io::Result<String> {
    signal_group(tree.pid, libc::SIGSTOP)?;
    Ok(format!("sent SIGSTOP to process group {}", tree.pid))
}

/// Lets a tree frozen by [`pause_tree`] run again: SIGCONT to its process group.
pub fn resume_tree(tree: &Tree) -> io::Result<String> {
    signal_group(tree.pid, libc::SIGCONT)?;
    Ok(format!("sent SIGCONT to process group {}", tree.pid))
}

/// After the child exited: kill what it left in its process group.
pub fn clean_up_after_exit(tree: &Tree) {
    let _ = kill_tree(tree);
}

/// Asks the child to stop with the spec's signal (`KILL` goes to the whole group);
/// returns what was done, for the log.
pub fn request_stop(tree: &Tree, spec: &crate::spec::Spec) -> io::Result<String> {
    let sig = spec.stop.signal;
    if sig == crate::spec::Signal::Kill {
        signal_group(tree.pid, sig.number())?;
    } else {
        signal(tree.pid, sig.number())?;
    }
    Ok(format!("sent {} to pid {}", sig.name(), tree.pid))
}

/// Sends `sig` to the child itself (`[reload]`); returns what was done, for the log.
pub fn signal_child(tree: &Tree, sig: crate::spec::Signal) -> io::Result<String> {
    signal(tree.pid, sig.number())?;
    Ok(format!("sent {} to pid {}", sig.name(), tree.pid))
}

/// A `[[listen]]` socket the supervisor holds (close-on-exec: only a service's own
/// child gets it, as a descriptor from 3, through [`spawn`]).
pub type HeldSocket = OwnedFd;

/// Sets the backlog of a listening socket (`listen(2)` again: Linux takes the new
/// value; the kernel caps it at `net.core.somaxconn`).
pub fn set_backlog(socket: &HeldSocket, backlog: i32) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    // SAFETY: plain system call on a descriptor we own.
    if unsafe { libc::listen(socket.as_raw_fd(), backlog) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Binds a Unix stream socket at `path` for `[[listen]]`. A socket file already there
/// is removed only when nothing listens on it (a connection is refused: left by a
/// process that ended); anything else at the path is left alone. The file gets
/// `mode`, and the account the child runs as (`credentials`) when tend switches to
/// one. The parent folder is created when missing.
pub fn bind_unix(
    path: &Path,
    mode: Option<u32>,
    credentials: Option<&Credentials>,
) -> Result<HeldSocket, super::UnixBindError> {
    use super::UnixBindError;
    use std::os::unix::fs::FileTypeExt;
    use std::os::unix::net::{UnixListener, UnixStream};
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_socket() => match UnixStream::connect(path) {
            Ok(_) => return Err(UnixBindError::Listening),
            Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {
                std::fs::remove_file(path).map_err(UnixBindError::Io)?;
            }
            Err(e) => return Err(UnixBindError::Io(e)),
        },
        Ok(_) => return Err(UnixBindError::NotASocket),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir).map_err(UnixBindError::Io)?;
            }
        }
        Err(e) => return Err(UnixBindError::Io(e)),
    }
    let listener = UnixListener::bind(path).map_err(UnixBindError::Io)?;
    if mode.is_some() || credentials.is_some() {
        set_socket_file(path, mode, credentials).map_err(UnixBindError::Io)?;
    }
    let socket = OwnedFd::from(listener);
    set_backlog(&socket, crate::supervise::listen::BACKLOG).map_err(UnixBindError::Io)?;
    Ok(socket)
}

/// Gives the socket file just bound at `path` its `mode` and owner, through a handle
/// of the file itself (`O_PATH | O_NOFOLLOW`, checked to be a socket): were the path
/// swapped for a symlink meanwhile (a folder others may write to), nothing else is
/// changed.
fn set_socket_file(
    path: &Path,
    mode: Option<u32>,
    credentials: Option<&Credentials>,
) -> io::Result<()> {
    use nix::fcntl::{open, OFlag};
    use std::os::fd::AsRawFd;
    use std::os::unix::fs::{FileTypeExt, PermissionsExt};
    let fd = open(
        path,
        OFlag::O_PATH | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .map_err(io::Error::from)?;
    let file = std::fs::File::from(fd);
    if !file.metadata()?.file_type().is_socket() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "the path was replaced by something other than the socket",
        ));
    }
    if let Some(c) = credentials {
        // SAFETY: plain system call on a descriptor we own; the empty path with
        // AT_EMPTY_PATH names that descriptor's file.
        let rc = unsafe {
            libc::fchownat(
                file.as_raw_fd(),
                c"".as_ptr(),
                c.uid,
                c.gid,
                libc::AT_EMPTY_PATH,
            )
        };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    if let Some(mode) = mode {
        // The handle's magic link in /proc is that very file (chmod on an O_PATH
        // descriptor itself is refused).
        let through = format!("/proc/self/fd/{}", file.as_raw_fd());
        std::fs::set_permissions(through, std::fs::Permissions::from_mode(mode))?;
    }
    Ok(())
}

/// Starts the child in its own process group, as the configured account, with
/// `PR_SET_PDEATHSIG` so it dies with the supervisor. With `[[listen]]` sockets, see
/// [`Passing`].
pub fn spawn(p: &Prepared) -> io::Result<Spawned> {
    let mut cmd = Command::new(&p.program);
    cmd.args(&p.args)
        .env_clear()
        .envs(p.env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(p.stdout.stdio())
        .stderr(p.stderr.stdio())
        .process_group(0);
    if let Some(dir) = &p.cwd {
        cmd.current_dir(dir);
    }
    let parent = std::process::id() as libc::pid_t;
    let reset_policy = DEFERRING.load(Ordering::Relaxed);
    let creds = p.credentials.clone();
    let groups: Vec<libc::gid_t> = creds.as_ref().map(|c| c.groups.clone()).unwrap_or_default();
    let mut passing = (!p.listen.is_empty())
        .then(|| Passing::new(p))
        .transpose()?;
    // The settings move into the child's closure (dropped with `cmd`, which closes
    // this end of the report pipe); the parent keeps the pipe's read end.
    // The cgroups first (their limits written, their `cgroup.procs` open): the child
    // joins them before it execs. The OOM counter is read now, before it runs.
    let (cgroup, oom, mut not_applied) = super::unix_cgroup::Cgroup::create(&p.cgroup);
    let oom = oom.or_else(super::unix_cgroup::own_oom_watch);
    let procs = cgroup.as_ref().map_or_else(Vec::new, |c| {
        c.procs.iter().map(|fd| fd.as_raw_fd()).collect()
    });
    let (resources, report) = super::unix_resources::Apply::new(&p.resources, procs)?.unzip();
    let reset_policy = reset_policy && !resources.as_ref().is_some_and(|r| r.sets_policy());
    // SAFETY: the closure runs in the forked child before exec and makes only
    // async-signal-safe system calls (the `[resources]` ones of `Apply::apply`,
    // setgroups, setgid, setuid, sigaction, sched_setscheduler, prctl, getppid, and
    // with sockets to pass fcntl, dup2, getpid and execve); it allocates nothing (the
    // group list, `Apply`, and `Passing`'s arguments, environment and descriptor
    // lists, were built before the fork).
    unsafe {
        cmd.pre_exec(move || {
            // Before the credential change: raising a limit, a negative niceness or
            // a realtime policy need the privileges it drops.
            if let Some(r) = &resources {
                r.apply();
            }
            if let Some(c) = &creds {
                // SAFETY: `groups` is a valid array of `groups.len()` gids.
                if libc::setgroups(groups.len() as _, groups.as_ptr()) != 0 {
                    return Err(io::Error::last_os_error());
                }
                // SAFETY: plain system call.
                if libc::setgid(c.gid) != 0 {
                    return Err(io::Error::last_os_error());
                }
                // SAFETY: plain system call.
                if libc::setuid(c.uid) != 0 {
                    return Err(io::Error::last_os_error());
                }
            }
            // The supervisor ignores SIGTTOU (see `fork_guard`); the program gets the
            // default, as if started from a shell.
            set_disposition(libc::SIGTTOU, libc::SIG_DFL);
            // And the normal scheduling policy, if the supervisor left it for batch (see
            // `defer_to_children`).
            if reset_policy {
                set_policy(libc::SCHED_OTHER);
            }
            // After the credential change, which would clear it.
            // SAFETY: plain system call with integer arguments.
            if libc::prctl(
                libc::PR_SET_PDEATHSIG,
                libc::SIGKILL as libc::c_ulong,
                0,
                0,
                0,
            ) != 0
            {
                return Err(io::Error::last_os_error());
            }
            // SAFETY: plain system call. If the supervisor died before prctl, exit now.
            if libc::getppid() != parent {
                // No allocation after fork: a plain errno (the parent is gone).
                return Err(io::Error::from_raw_os_error(libc::ESRCH));
            }
            match &mut passing {
                // Returns only if the exec failed.
                Some(passing) => Err(passing.exec()),
                None => Ok(()),
            }
        });
    }
    let mut child = cmd.spawn()?;
    drop(cmd);
    let pid = child.id() as i32;
    // The exec succeeded: every setting was tried.
    not_applied.extend(
        report
            .map(super::unix_resources::not_applied)
            .unwrap_or_default(),
    );
    let mut tree = Tree::new(pid);
    tree.cgroup = cgroup.map(|mut c| {
        c.procs.clear();
        c
    });
    tree.oom = oom;
    Ok(Spawned {
        pid,
        tree,
        stdout: child.stdout.take().map(OwnedFd::from),
        stderr: child.stderr.take().map(OwnedFd::from),
        not_applied,
    })
    // `child` is dropped without waiting: the reaper collects every exit status.
}

/// Passing `[[listen]]` sockets to a child the way systemd does (`sd_listen_fds(3)`):
/// as descriptors 3, 4, … with `LISTEN_FDS=n`, `LISTEN_FDNAMES=a:b` and
/// `LISTEN_PID=<the child's own pid>`. Readers (go-systemd's `activation.Listeners`,
/// `sd_listen_fds`) ignore the sockets unless `LISTEN_PID` is their pid, which is
/// known only after the fork, while `std::process::Command` builds the environment
/// before it. So this builds the program path, the arguments and the environment
/// (with room for the pid) before the fork, and in the child, last thing before
/// exec (`pre_exec`), writes the pid into its slot, moves the sockets into place and
/// calls `execve` itself. Only async-signal-safe calls happen in the child.
///
/// Moving the sockets: each held socket is close-on-exec in the supervisor (so no
/// other child, hook or probe inherits it). In the child, every socket is first
/// duplicated to a descriptor above the targets (`F_DUPFD_CLOEXEC` from 3+n), so no
/// `dup2` onto a target can close a socket not yet moved; every descriptor already
/// open at a target (e.g. std's close-on-exec pipe that reports a failed exec, which
/// may have any number) is duplicated above too before `dup2` replaces it, and put
/// back if `execve` fails, so std still reports the error. `dup2` clears
/// close-on-exec on the targets only; the copies above close at exec.
struct Passing {
    /// The program, NUL-terminated.
    program: CString,
    /// Keeps the strings `argv` and `envp` point into.
    _strings: Vec<CString>,
    /// `LISTEN_PID=` and room for the digits and the NUL; `envp` points at it.
    pid_slot: Box<[u8]>,
    /// NULL-terminated.
    argv: Vec<*const libc::c_char>,
    /// NULL-terminated.
    envp: Vec<*const libc::c_char>,
    /// The supervisor's sockets, in `[[listen]]` order.
    sources: Vec<libc::c_int>,
    /// Their copies above the targets (filled in the child).
    moved: Vec<libc::c_int>,
    /// What was open at each target, copied above (-1: nothing), to put back.
    saved: Vec<libc::c_int>,
}

// SAFETY: the raw pointers point into heap buffers (`_strings`, `pid_slot`) that
// `Passing` owns and never reallocates; they are only read (and the slot written) in
// the forked child, which has its own copy of the memory.
unsafe impl Send for Passing {}
// SAFETY: as above; no method takes `&self` and mutates.
unsafe impl Sync for Passing {}

/// `LISTEN_PID=`.
const PID_PREFIX: &[u8] = b"LISTEN_PID=";

impl Passing {
    fn new(p: &Prepared) -> io::Result<Passing> {
        use std::os::fd::AsRawFd;
        use std::os::unix::ffi::OsStrExt;
        let c = |bytes: &[u8]| {
            CString::new(bytes).map_err(|_| {
                io::Error::new(io::ErrorKind::InvalidInput, "a NUL byte in an argument")
            })
        };
        let program = c(p.program.as_os_str().as_bytes())?;
        let mut strings = vec![program.clone()];
        for a in &p.args {
            strings.push(c(a.as_bytes())?);
        }
        let argc = strings.len();
        for (k, v) in listen_env(p).iter().chain(p.env.iter()) {
            let mut kv = k.as_bytes().to_vec();
            kv.push(b'=');
            kv.extend_from_slice(v.as_bytes());
            strings.push(c(&kv)?);
        }
        // 20 digits hold any pid; the rest of the slot stays NUL.
        let mut pid_slot = vec![0u8; PID_PREFIX.len() + 21].into_boxed_slice();
        pid_slot[..PID_PREFIX.len()].copy_from_slice(PID_PREFIX);
        let mut argv: Vec<*const libc::c_char> =
            strings[..argc].iter().map(|s| s.as_ptr()).collect();
        argv.push(std::ptr::null());
        let mut envp: Vec<*const libc::c_char> = vec![pid_slot.as_ptr().cast()];
        envp.extend(strings[argc..].iter().map(|s| s.as_ptr()));
        envp.push(std::ptr::null());
        let n = p.listen.len();
        Ok(Passing {
            program,
            _strings: strings,
            pid_slot,
            argv,
            envp,
            sources: p.listen.iter().map(|l| l.socket.as_raw_fd()).collect(),
            moved: vec![-1; n],
            saved: vec![-1; n],
        })
    }

    /// In the forked child: writes the pid, moves the sockets to 3.., and execs.
    /// Returns the error if anything failed (with what was at 3.. put back).
    fn exec(&mut self) -> io::Error {
        let n = self.sources.len() as libc::c_int;
        let first = LISTEN_FDS_START;
        let above = first + n;
        for (i, &src) in self.sources.iter().enumerate() {
            // SAFETY: plain system call on a descriptor this process holds.
            let fd = unsafe { libc::fcntl(src, libc::F_DUPFD_CLOEXEC, above) };
            if fd < 0 {
                return io::Error::last_os_error();
            }
            self.moved[i] = fd;
        }
        for i in 0..self.saved.len() {
            let target = first + i as libc::c_int;
            // SAFETY: plain system call; fails with EBADF when nothing is open there.
            if unsafe { libc::fcntl(target, libc::F_GETFD) } >= 0 {
                // SAFETY: as above, on an open descriptor.
                let fd = unsafe { libc::fcntl(target, libc::F_DUPFD_CLOEXEC, above) };
                if fd < 0 {
                    return io::Error::last_os_error();
                }
                self.saved[i] = fd;
            }
        }
        for (i, &fd) in self.moved.iter().enumerate() {
            // SAFETY: plain system call; `fd` is open, the target is ours to replace
            // (what was there is saved above).
            if unsafe { libc::dup2(fd, first + i as libc::c_int) } < 0 {
                let e = io::Error::last_os_error();
                self.put_back();
                return e;
            }
        }
        write_pid(&mut self.pid_slot[PID_PREFIX.len()..]);
        // SAFETY: `program`, `argv` and `envp` are NUL-terminated strings and
        // NULL-terminated arrays that outlive the call.
        unsafe {
            libc::execve(
                self.program.as_ptr(),
                self.argv.as_ptr(),
                self.envp.as_ptr(),
            )
        };
        let e = io::Error::last_os_error();
        self.put_back();
        e
    }

    /// Puts back what was open at the targets before `exec` (std reports a failed
    /// exec through a pipe that may be one of them).
    fn put_back(&self) {
        for (i, &fd) in self.saved.iter().enumerate() {
            if fd >= 0 {
                // SAFETY: plain system call on descriptors this process holds.
                unsafe { libc::dup2(fd, LISTEN_FDS_START + i as libc::c_int) };
            }
        }
    }
}

/// The first descriptor passed (`SD_LISTEN_FDS_START`).
const LISTEN_FDS_START: libc::c_int = 3;

/// `LISTEN_FDS` and `LISTEN_FDNAMES` for the child of `p` (`LISTEN_PID` is written in
/// the child).
fn listen_env(p: &Prepared) -> Vec<(OsString, OsString)> {
    let names: Vec<&str> = p.listen.iter().map(|l| l.name.as_str()).collect();
    vec![
        ("LISTEN_FDS".into(), p.listen.len().to_string().into()),
        ("LISTEN_FDNAMES".into(), names.join(":").into()),
    ]
}

/// Writes the calling process's pid in decimal into `slot`, NUL-terminated (no
/// allocation, no formatting machinery: it runs in a forked child).
fn write_pid(slot: &mut [u8]) {
    // SAFETY: plain system call.
    let pid = unsafe { libc::getpid() };
    write_decimal(pid as u64, slot);
}

/// `n` in decimal at the start of `slot`, then a NUL (`slot` must hold 21 bytes).
fn write_decimal(mut n: u64, slot: &mut [u8]) {
    let mut digits = [0u8; 20];
    let mut len = 0;
    loop {
        digits[len] = b'0' + (n % 10) as u8;
        len += 1;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    for i in 0..len {
        slot[i] = digits[len - 1 - i];
    }
    slot[len] = 0;
}

/// Sends `sig` to one process (a negative `pid`: to that process group); a process
/// that is already gone is not an error.
pub fn signal(pid: i32, sig: i32) -> io::Result<()> {
    use nix::sys::signal::{kill, Signal};
    match kill(nix::unistd::Pid::from_raw(pid), Signal::try_from(sig)?) {
        Ok(()) | Err(nix::Error::ESRCH) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Sends `sig` to a whole process group.
pub fn signal_group(pgid: i32, sig: i32) -> io::Result<()> {
    signal(-pgid, sig)
}

/// Marks this process as a child subreaper: orphaned descendants are re-parented to
/// it instead of init. [`Containment::ProcessGroups`] where the kernel does not know
/// the call.
pub fn become_subreaper() -> io::Result<Containment> {
    containment_of(nix::sys::prctl::set_child_subreaper(true).map_err(io::Error::from))
}

/// What the result of `prctl(PR_SET_CHILD_SUBREAPER)` means for containment: EINVAL is
/// a kernel (or an emulator) without the option, which weakens containment but need
/// not stop a service on a small device; any other failure is an error.
fn containment_of(result: io::Result<()>) -> io::Result<Containment> {
    match result {
        Ok(()) => Ok(Containment::Full),
        Err(e) if e.raw_os_error() == Some(libc::EINVAL) => Ok(Containment::ProcessGroups),
        Err(e) => Err(e),
    }
}

/// Collects one exited child, if any, without blocking.
pub fn reap_one() -> Option<(i32, Exit)> {
    let mut status: libc::c_int = 0;
    // SAFETY: `status` is a valid out-pointer.
    let pid = unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) };
    if pid <= 0 {
        return None;
    }
    Some((pid, decode_status(status)))
}

/// Turns a wait status into an [`Exit`].
pub fn decode_status(status: libc::c_int) -> Exit {
    if libc::WIFSIGNALED(status) {
        Exit::Signal(libc::WTERMSIG(status))
    } else {
        Exit::Code(libc::WEXITSTATUS(status))
    }
}

/// The pids whose parent is `parent`, from /proc.
pub fn children_of(parent: i32) -> Vec<i32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()))
        .filter(|&pid| stat_field(pid, 4) == Some(parent))
        .collect()
}

/// Field `n` (1-based, as in proc(5)) of /proc/PID/stat, for the numeric fields after
/// the command name.
fn stat_field(pid: i32, n: usize) -> Option<i32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may contain spaces.
    let after = &stat[stat.rfind(')')? + 2..];
    after.split(' ').nth(n - 3)?.parse().ok()
}

/// The process group of `pid`.
pub fn pgid_of(pid: i32) -> Option<i32> {
    stat_field(pid, 5)
}

/// SIGKILLs every child of this process not in `keep`, and their process groups.
pub fn kill_orphans(keep: &BTreeSet<i32>) -> usize {
    let me = std::process::id() as i32;
    let mut n = 0;
    for pid in children_of(me) {
        if keep.contains(&pid) {
            continue;
        }
        if let Some(g) = pgid_of(pid) {
            if g != pgid_of(me).unwrap_or(0) {
                let _ = signal_group(g, libc::SIGKILL);
            }
        }
        let _ = signal(pid, libc::SIGKILL);
        n += 1;
    }
    n
}

/// Resolves `command` as the child would run it: a path with a `/` is taken as is
/// (relative to `base`), a bare name is looked up on `path_var`. The result must be an
/// executable regular file.
pub fn resolve_command(
    command: &str,
    base: &Path,
    path_var: Option<&OsStr>,
) -> Result<PathBuf, super::CommandError> {
    use super::CommandError;
    let check = |p: &Path| -> Result<(), CommandError> {
        let meta = std::fs::metadata(p).map_err(|source| CommandError::Unusable {
            path: p.to_path_buf(),
            source,
        })?;
        if !meta.is_file() {
            return Err(CommandError::NotAFile {
                path: p.to_path_buf(),
            });
        }
        if nix::unistd::access(p, nix::unistd::AccessFlags::X_OK).is_err() {
            use std::os::unix::fs::PermissionsExt;
            return Err(CommandError::NotExecutable {
                path: p.to_path_buf(),
                mode: meta.permissions().mode() & 0o7777,
            });
        }
        Ok(())
    };
    if command.contains('/') {
        let p = crate::supervise::prepare::join(base, command);
        check(&p)?;
        return Ok(p);
    }
    let path_var = path_var
        .map(OsStr::to_os_string)
        .unwrap_or_else(|| OsString::from("/usr/local/bin:/usr/bin:/bin"));
    let mut tried_non_exec = None;
    for dir in std::env::split_paths(&path_var) {
        let p = dir.join(command);
        if p.is_file() {
            match check(&p) {
                Ok(()) => return Ok(p),
                Err(e) => tried_non_exec = Some(e),
            }
        }
    }
    Err(tried_non_exec.unwrap_or_else(|| CommandError::NotOnPath {
        command: command.to_string(),
        path_var: path_var.to_string_lossy().into_owned(),
    }))
}

/// Why a user or group could not be looked up.
#[derive(Debug, thiserror::Error)]
pub enum LookupError {
    /// The name is not in the system databases.
    #[error("{kind} `{name}` does not exist")]
    Missing {
        /// `user` or `group`.
        kind: &'static str,
        /// The name looked up.
        name: String,
    },
    /// The lookup itself failed (an unreachable directory service, an I/O error):
    /// whether the name exists is unknown.
    #[error(
        "cannot look up {kind} `{name}`: {source} (check the databases /etc/nsswitch.conf names, e.g. that the directory service is reachable)"
    )]
    Failed {
        /// `user` or `group`.
        kind: &'static str,
        /// The name looked up.
        name: String,
        /// The error the C library reported.
        source: nix::Error,
    },
}

impl LookupError {
    /// Whether the name surely does not exist (rather than the lookup failing).
    pub fn is_missing(&self) -> bool {
        matches!(self, LookupError::Missing { .. })
    }
}

/// Turns a lookup's answer into the value or a [`LookupError`].
fn found<T>(kind: &'static str, name: &str, r: nix::Result<Option<T>>) -> Result<T, LookupError> {
    let name = name.to_string();
    match r {
        Ok(Some(v)) => Ok(v),
        Ok(None) => Err(LookupError::Missing { kind, name }),
        Err(source) => Err(LookupError::Failed { kind, name, source }),
    }
}

/// Looks up a user (and optionally a group) in the system databases.
pub fn lookup_credentials(user: &str, group: Option<&str>) -> Result<Credentials, LookupError> {
    use nix::unistd::{getgrouplist, User};
    let pw = found("user", user, User::from_name(user))?;
    let gid = match group {
        Some(g) => lookup_group(g)?,
        None => pw.gid.as_raw(),
    };
    // The supplementary groups; if they cannot be read, the primary group alone.
    let groups = CString::new(user)
        .ok()
        .and_then(|c| getgrouplist(&c, nix::unistd::Gid::from_raw(gid)).ok())
        .map(|gs| gs.into_iter().map(|g| g.as_raw()).collect())
        .unwrap_or_else(|| vec![gid]);
    Ok(Credentials {
        uid: pw.uid.as_raw(),
        gid,
        groups,
        home: pw.dir,
        name: user.to_string(),
    })
}

/// Looks up a group id by name.
pub fn lookup_group(name: &str) -> Result<u32, LookupError> {
    found("group", name, nix::unistd::Group::from_name(name)).map(|g| g.gid.as_raw())
}

/// The effective user id.
pub fn euid() -> u32 {
    nix::unistd::geteuid().as_raw()
}

/// Enlarges a pipe's buffer (best effort): fewer wake-ups when a child floods output.
pub fn grow_pipe(fd: &OwnedFd, bytes: i32) {
    let _ = nix::fcntl::fcntl(fd, nix::fcntl::FcntlArg::F_SETPIPE_SZ(bytes));
}

/// Points the symbolic link `link` at `target`, atomically (a new link renamed over
/// the old one).
pub fn point_link(link: &Path, target: &Path) -> io::Result<()> {
    let tmp = link.with_extension(format!("tmp.{}", std::process::id()));
    let _ = std::fs::remove_file(&tmp);
    std::os::unix::fs::symlink(target, &tmp)?;
    std::fs::rename(&tmp, link).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })
}

/// Creates `dir` and whichever folders above it are missing; run as root, gives the
/// folders it created the owner of `like` (a service's state folder: root making a
/// folder there that the service's supervisor must write to, as `tend upgrade` does).
pub fn create_dir_all_owned_like(dir: &Path, like: &Path) -> io::Result<()> {
    use std::os::unix::fs::MetadataExt;
    let missing: Vec<&Path> = dir.ancestors().take_while(|p| !p.exists()).collect();
    std::fs::create_dir_all(dir)?;
    let Ok(owner) = std::fs::metadata(like) else {
        return Ok(());
    };
    if euid() != 0 {
        return Ok(());
    }
    for p in missing {
        std::os::unix::fs::chown(p, Some(owner.uid()), Some(owner.gid()))?;
    }
    Ok(())
}

/// Gives a release's program its mode: 0755, whatever the artifact had (never
/// writable by others, never setuid).
pub fn make_executable(path: &Path) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))
}

/// Copies what `from` holds into the new file `to` (0644; an existing file, or a link
/// planted there, is an error, never written through).
pub fn copy_to_new(from: &mut std::fs::File, to: &Path) -> io::Result<u64> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut out = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o644)
        .custom_flags(libc::O_NOFOLLOW)
        .open(to)?;
    std::io::copy(from, &mut out)
}

/// Runs `f` as the owner of `dir` (its effective user and group, and that group
/// alone) when tend runs as root and `dir` belongs to another account: what root then
/// creates there belongs to that account, and a link that account planted in its
/// folder leads nowhere root alone may write. Otherwise runs `f` as is. Root's own
/// identity is restored afterwards (the process aborts if it cannot be: it must not
/// go on as someone else).
pub fn as_owner_of<T>(dir: &Path, f: impl FnOnce() -> T) -> io::Result<T> {
    use std::os::unix::fs::MetadataExt;
    if euid() != 0 {
        return Ok(f());
    }
    let m = std::fs::metadata(dir)?;
    let (uid, gid) = (m.uid(), m.gid());
    if uid == 0 {
        return Ok(f());
    }
    let groups = nix::unistd::getgroups().map_err(io::Error::from)?;
    // SAFETY: plain system calls with plain values; one thread or many, glibc applies
    // each to every thread of the process.
    unsafe {
        if libc::setgroups(1, &gid) != 0 || libc::setegid(gid) != 0 {
            let e = io::Error::last_os_error();
            restore_root(&groups);
            return Err(e);
        }
        if libc::seteuid(uid) != 0 {
            let e = io::Error::last_os_error();
            restore_root(&groups);
            return Err(e);
        }
    }
    let out = f();
    restore_root(&groups);
    Ok(out)
}

/// Back to root (effective user, group and groups) after [`as_owner_of`].
fn restore_root(groups: &[nix::unistd::Gid]) {
    let raw: Vec<libc::gid_t> = groups.iter().map(|g| g.as_raw()).collect();
    // SAFETY: plain system calls; `raw` is a valid array of `raw.len()` gids.
    let ok = unsafe {
        libc::seteuid(0) == 0
            && libc::setegid(0) == 0
            && libc::setgroups(raw.len() as _, raw.as_ptr()) == 0
    };
    if !ok {
        std::process::abort();
    }
}

/// Whether a process exists.
pub fn alive(pid: i32) -> bool {
    // No signal: only whether it exists (EPERM: it does, as someone else's).
    matches!(
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None),
        Ok(()) | Err(nix::Error::EPERM)
    )
}

// ---------------------------------------------------------------- the guard

/// Splits this process in two: the caller continues as the supervisor (the child of
/// the fork), while the original process becomes a small guard that waits for it.
/// If the supervisor is killed, every process it left behind is re-parented to the
/// guard (a subreaper), which kills them all and exits with a failure status. If the
/// guard is killed, the supervisor gets SIGTERM (`PR_SET_PDEATHSIG`) and stops its
/// services gracefully.
///
/// Signals: the supervisor leaves the guard's process group for one of its own, so
/// the guard is the one process outside that receives them — whether a service
/// manager sends one to its pid, someone to the whole group (`kill -TERM -- -PGID`,
/// dumb-init, `tini -g`), or the terminal (Ctrl-C goes to the foreground group). The
/// guard forwards each to the supervisor once (see `forward`), so one signal is one
/// stop request, never two (a second stop request kills at once).
///
/// Must be called while the process is single-threaded (before any runtime starts).
/// Returns in the supervisor only; the guard never returns.
pub fn fork_guard() -> io::Result<Containment> {
    let containment = become_subreaper()?;
    GROUPS.map()?;
    let guard_pid = std::process::id() as libc::pid_t;
    // SAFETY: the process is single-threaded here (documented precondition), so the
    // child may run arbitrary code after fork.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(io::Error::last_os_error());
    }
    if pid == 0 {
        // The supervisor.
        // SAFETY: plain system call with integer arguments.
        unsafe {
            libc::prctl(
                libc::PR_SET_PDEATHSIG,
                libc::SIGTERM as libc::c_ulong,
                0,
                0,
                0,
            )
        };
        // SAFETY: plain system call.
        if unsafe { libc::getppid() } != guard_pid {
            // The guard already died: nothing would clean up after us.
            std::process::exit(1);
        }
        // Its own process group (the guard does the same from its side, so neither
        // depends on which runs first).
        // SAFETY: plain system call with integer arguments.
        unsafe { libc::setpgid(0, 0) };
        // In a background group now: with `stty tostop`, writing to the terminal would
        // stop the supervisor (SIGTTOU) unless it ignores the signal. Children get the
        // default back before exec (see `spawn`).
        set_disposition(libc::SIGTTOU, libc::SIG_IGN);
        // The guard found out what the kernel gives: the same answer here.
        return become_subreaper().map(|_| containment);
    }
    // SAFETY: plain system call with integer arguments; if the supervisor already
    // moved itself, this changes nothing.
    unsafe { libc::setpgid(pid, pid) };
    guard_main(pid)
}

/// Whether the supervisor moved itself from the normal scheduling policy to batch
/// ([`defer_to_children`]); each child is then moved back before it execs.
static DEFERRING: AtomicBool = AtomicBool::new(false);

/// Makes the supervisor give way to its children: started with the normal policy, it
/// becomes a batch task (`SCHED_BATCH`), whose wake-ups never preempt a running task,
/// and each child is put back to the normal policy before it execs. Without this, the
/// supervisor, woken when a new child execs, preempts that child on its CPU to write
/// the state file and the event line, and a restart takes that much longer on a small
/// machine. The price: on a CPU kept busy by others, the supervisor waits for their
/// time slice to end before it reacts. Any other policy it was started with
/// (`CPUSchedulingPolicy=`, `chrt`) is left alone, and inherited by the children.
/// Best effort: a refusal leaves the policy as it was.
pub fn defer_to_children() {
    // SAFETY: plain system call on the calling thread.
    let policy = unsafe { libc::syscall(libc::SYS_sched_getscheduler, 0) };
    if policy & !(libc::SCHED_RESET_ON_FORK as libc::c_long) == libc::SCHED_OTHER as libc::c_long
        && set_policy(libc::SCHED_BATCH)
    {
        DEFERRING.store(true, Ordering::Relaxed);
    }
}

/// Sets the calling thread's scheduling policy (`SCHED_OTHER` or `SCHED_BATCH`, at
/// priority 0); whether it was set. Async-signal-safe (used between fork and exec).
/// The system call itself: musl's `sched_setscheduler` only returns ENOSYS.
fn set_policy(policy: libc::c_int) -> bool {
    // SAFETY: sched_param is a plain C struct; all-zero (priority 0) is the only valid
    // value for these policies.
    let param: libc::sched_param = unsafe { std::mem::zeroed() };
    // SAFETY: plain system call on the calling thread with a valid parameter.
    unsafe { libc::syscall(libc::SYS_sched_setscheduler, 0, policy, &param) == 0 }
}

/// Sets a signal's disposition to `SIG_DFL` or `SIG_IGN`.
fn set_disposition(sig: libc::c_int, disposition: libc::sighandler_t) {
    set_action(sig, disposition, 0, &[]);
}

/// Installs `handler` for `sig` with `flags`, blocking the signals of `mask` while it
/// runs. `handler` is `SIG_DFL`, `SIG_IGN`, or one of this module's async-signal-safe
/// handlers ([`forward`]). Async-signal-safe itself (used between fork and exec).
fn set_action(
    sig: libc::c_int,
    handler: libc::sighandler_t,
    flags: libc::c_int,
    mask: &[libc::c_int],
) {
    // SAFETY: sigaction is a plain C struct; all-zero is a valid value to fill in.
    let mut act: libc::sigaction = unsafe { std::mem::zeroed() };
    act.sa_sigaction = handler;
    act.sa_flags = flags;
    // SAFETY: `act.sa_mask` is a valid sigset_t to initialise.
    unsafe { libc::sigemptyset(&mut act.sa_mask) };
    for &s in mask {
        // SAFETY: `act.sa_mask` is an initialised sigset_t; `s` is a signal number.
        unsafe { libc::sigaddset(&mut act.sa_mask, s) };
    }
    // SAFETY: `act` is initialised and its handler is one this function accepts.
    unsafe { libc::sigaction(sig, &act, std::ptr::null_mut()) };
}

/// The supervisor's pid while it lives; 0 once it is reaped (a later signal must not
/// reach whatever process reuses its pid).
static SUPERVISOR: AtomicI32 = AtomicI32::new(0);
/// The last signal forwarded: its number, its sender and when (monotonic ms).
static LAST_SIGNAL: AtomicI32 = AtomicI32::new(0);
static LAST_SENDER: AtomicI32 = AtomicI32::new(0);
static LAST_AT_MS: AtomicI64 = AtomicI64::new(i64::MIN);

/// Repeats of one signal from one sender closer together than this are one signal.
/// `timeout(1)` sends its signal to the command's pid and then to its process group, a
/// few microseconds apart; a person pressing Ctrl-C twice to mean "now" takes longer.
pub const REPEAT_WINDOW_MS: i64 = 100;

/// Whether a signal is a repeat of the last one forwarded (same number, same sender,
/// within [`REPEAT_WINDOW_MS`]). Pure: the guard's handler passes in what it knows.
pub fn is_repeat(last: (i32, i32, i64), sig: i32, sender: i32, now_ms: i64) -> bool {
    let (last_sig, last_sender, last_at) = last;
    last_sig == sig
        && last_sender == sender
        && now_ms.saturating_sub(last_at) >= 0
        && now_ms.saturating_sub(last_at) < REPEAT_WINDOW_MS
}

fn monotonic_ms() -> i64 {
    // SAFETY: an all-zero timespec is valid; clock_gettime is async-signal-safe.
    let mut ts: libc::timespec = unsafe { std::mem::zeroed() };
    // SAFETY: `ts` is a valid out-pointer.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as i64 * 1000 + ts.tv_nsec as i64 / 1_000_000
}

/// Forwards a signal to the supervisor, once: a repeat of the same signal from the
/// same sender within [`REPEAT_WINDOW_MS`] is the same request delivered twice.
extern "C" fn forward(sig: libc::c_int, info: *mut libc::siginfo_t, _: *mut libc::c_void) {
    // The kernel's own signals (a terminal's Ctrl-C) have no sending process: pid 0.
    let sender = if info.is_null() {
        0
    } else {
        // SAFETY: the kernel passes a valid siginfo to an SA_SIGINFO handler.
        unsafe { (*info).si_pid() }
    };
    let now = monotonic_ms();
    let last = (
        LAST_SIGNAL.load(Ordering::Relaxed),
        LAST_SENDER.load(Ordering::Relaxed),
        LAST_AT_MS.load(Ordering::Relaxed),
    );
    // The handler blocks every forwarded signal while it runs (sa_mask), so these
    // loads and stores are never interleaved with another call.
    LAST_SIGNAL.store(sig, Ordering::Relaxed);
    LAST_SENDER.store(sender, Ordering::Relaxed);
    LAST_AT_MS.store(now, Ordering::Relaxed);
    if is_repeat(last, sig, sender, now) {
        return;
    }
    let pid = SUPERVISOR.load(Ordering::Relaxed);
    if pid > 0 {
        // SAFETY: kill is async-signal-safe.
        unsafe { libc::kill(pid, sig) };
    }
}

/// The signals the guard forwards.
const FORWARDED: [libc::c_int; 6] = [
    libc::SIGTERM,
    libc::SIGINT,
    libc::SIGHUP,
    libc::SIGQUIT,
    libc::SIGUSR1,
    libc::SIGUSR2,
];

fn guard_main(supervisor: libc::pid_t) -> ! {
    SUPERVISOR.store(supervisor, Ordering::Relaxed);
    for sig in FORWARDED {
        // `forward` is async-signal-safe (it reads its siginfo and the clock, and calls
        // kill); blocking every forwarded signal while it runs serialises its calls.
        set_action(
            sig,
            forward as *const () as libc::sighandler_t,
            libc::SA_SIGINFO | libc::SA_RESTART,
            &FORWARDED,
        );
    }
    let mut code = 1;
    loop {
        let mut status: libc::c_int = 0;
        // SAFETY: `status` is a valid out-pointer.
        let pid = unsafe { libc::waitpid(-1, &mut status, 0) };
        if pid == supervisor {
            SUPERVISOR.store(0, Ordering::Relaxed);
            code = match decode_status(status) {
                Exit::Code(c) => c,
                Exit::Signal(s) => 128 + s,
            };
            kill_everything_left();
            break;
        }
        if pid < 0 && io::Error::last_os_error().raw_os_error() == Some(libc::ECHILD) {
            break;
        }
    }
    std::process::exit(code)
}

/// After the supervisor died: kill the process groups it listed ([`GroupTable`]);
/// everything it left is re-parented to the guard (a subreaper, where the kernel has
/// them), including what is still being spawned. Kill every child and its process
/// group, reap, and repeat until the guard has no child at all. Never a
/// blocking wait: an orphan re-parented after a scan may never exit on its own, so it
/// is found by the next scan, a few milliseconds later.
fn kill_everything_left() {
    // The groups the supervisor listed: without a subreaper their members were
    // re-parented to init, and this is the only way to reach them.
    for g in GROUPS.listed() {
        let _ = signal_group(g, libc::SIGKILL);
    }
    let none = BTreeSet::new();
    loop {
        kill_orphans(&none);
        let mut status: libc::c_int = 0;
        loop {
            // SAFETY: `status` is a valid out-pointer.
            let r = unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) };
            if r > 0 {
                continue;
            }
            if r < 0 && io::Error::last_os_error().raw_os_error() == Some(libc::ECHILD) {
                return;
            }
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The table the guard reads lists a group while its tree lives: added, removed,
    /// reused, and a full table drops what does not fit rather than overwrite.
    #[test]
    fn the_group_table_lists_live_groups_only() {
        let t = GroupTable {
            slots: std::sync::atomic::AtomicPtr::new(std::ptr::null_mut()),
        };
        t.add(7);
        assert!(
            t.listed().is_empty(),
            "nothing is listed before the page is mapped"
        );
        t.map().unwrap();
        t.add(7);
        t.add(9);
        assert_eq!(t.listed(), vec![7, 9]);
        t.remove(7);
        assert_eq!(t.listed(), vec![9]);
        t.add(11);
        assert_eq!(t.listed(), vec![11, 9], "the freed slot is reused");
        for g in 100..100 + GROUP_SLOTS as i32 {
            t.add(g);
        }
        let listed = t.listed();
        assert_eq!(listed.len(), GROUP_SLOTS);
        assert!(listed.contains(&9) && listed.contains(&11));
        t.remove(12345);
        assert_eq!(t.listed().len(), GROUP_SLOTS);
    }

    /// EINVAL (a kernel or emulator without the option) weakens containment; any other
    /// refusal is still an error.
    #[test]
    fn a_kernel_without_subreapers_gives_process_group_containment() {
        let cases = [
            (Ok(()), Some(Containment::Full)),
            (Err(libc::EINVAL), Some(Containment::ProcessGroups)),
            (Err(libc::EPERM), None),
            (Err(libc::ENOSYS), None),
        ];
        for (result, want) in cases {
            let got = containment_of(result.map_err(io::Error::from_raw_os_error)).ok();
            assert_eq!(got, want, "{result:?}");
        }
        assert!(Containment::Full.warning().is_none());
        assert!(Containment::ProcessGroups
            .warning()
            .is_some_and(|w| w.contains("setsid")));
    }

    /// A program that cannot be executed is still `spawn`'s error when sockets are
    /// passed, also when std's pipe that reports it sits where a socket goes: eight
    /// low descriptors are freed just before the spawn (std's /dev/null for the three
    /// streams and its pipe take them) and 100 "sockets" cover every target from 3 to
    /// 102.
    #[test]
    fn a_failed_exec_with_sockets_to_pass_is_reported() {
        use crate::supervise::listen::Passed;
        let low: Vec<std::fs::File> = (0..8)
            .map(|_| std::fs::File::open("/dev/null").unwrap())
            .collect();
        let listen: Vec<Passed> = (0..100)
            .map(|i| Passed {
                name: format!("s{i}"),
                address: crate::spec::SocketAddress::Unix(format!("/s{i}").into()),
                socket: std::sync::Arc::new(OwnedFd::from(
                    std::fs::File::open("/dev/null").unwrap(),
                )),
                file: None,
            })
            .collect();
        drop(low);
        let p = Prepared {
            program: "/nonexistent/tend-test-program".into(),
            args: Vec::new(),
            env: Vec::new(),
            cwd: None,
            credentials: None,
            stdout: super::super::Output::Null,
            stderr: super::super::Output::Null,
            stop: Default::default(),
            kill_on_close: false,
            code_page: Default::default(),
            listen,
            resources: Default::default(),
            cgroup: Default::default(),
        };
        let e = spawn(&p).expect_err("the program does not exist");
        assert_eq!(e.kind(), io::ErrorKind::NotFound, "{e}");
    }

    /// The pid written in the forked child reads back as the number, NUL-ended, for
    /// every digit count.
    #[test]
    fn pids_in_decimal() {
        for n in [0u64, 7, 10, 42, 99_999, 4_194_304, u64::MAX] {
            let mut slot = [0xffu8; 21];
            write_decimal(n, &mut slot);
            let end = slot.iter().position(|&b| b == 0).unwrap();
            assert_eq!(std::str::from_utf8(&slot[..end]).unwrap(), n.to_string());
        }
    }

    #[test]
    fn a_failed_lookup_is_not_reported_as_a_missing_name() {
        // (answer of the C library) → missing?, message
        let missing = found::<u32>("user", "svc", Ok(None)).unwrap_err();
        assert!(missing.is_missing());
        assert_eq!(missing.to_string(), "user `svc` does not exist");
        for errno in [nix::Error::ERANGE, nix::Error::EIO, nix::Error::EMFILE] {
            let failed = found::<u32>("group", "svc", Err(errno)).unwrap_err();
            assert!(!failed.is_missing(), "{errno}");
            let text = failed.to_string();
            assert!(text.starts_with("cannot look up group `svc`: "), "{text}");
            assert!(!text.contains("does not exist"), "{text}");
        }
        assert_eq!(found("user", "svc", Ok(Some(7))).unwrap(), 7);
    }

    #[test]
    fn real_accounts_are_found_and_unknown_ones_are_missing() {
        let root = lookup_credentials("root", None).unwrap();
        assert_eq!((root.uid, root.gid), (0, 0));
        assert!(root.groups.contains(&0), "{:?}", root.groups);
        assert_eq!(lookup_group("root").unwrap(), 0);
        assert!(lookup_credentials("tend-no-such-user", None)
            .unwrap_err()
            .is_missing());
        assert!(lookup_group("tend-no-such-group").unwrap_err().is_missing());
        // A name the C library cannot even hold is missing too.
        assert!(lookup_credentials("a\0b", None).unwrap_err().is_missing());
    }

    #[test]
    fn a_repeat_is_the_same_signal_from_the_same_sender_inside_the_window() {
        let term = libc::SIGTERM;
        let int = libc::SIGINT;
        // (last signal, last sender, last time), signal, sender, now → repeat?
        let table = [
            ((term, 42, 1000), term, 42, 1000, true),
            (
                (term, 42, 1000),
                term,
                42,
                1000 + REPEAT_WINDOW_MS - 1,
                true,
            ),
            ((term, 42, 1000), term, 42, 1000 + REPEAT_WINDOW_MS, false),
            ((term, 42, 1000), term, 43, 1001, false),
            ((term, 42, 1000), int, 42, 1001, false),
            // The terminal (sender 0): Ctrl-C twice quickly is one, later two.
            ((int, 0, 1000), int, 0, 1010, true),
            ((int, 0, 1000), int, 0, 1700, false),
            // Nothing forwarded yet.
            ((0, 0, i64::MIN), term, 0, 5, false),
            // The clock never goes back; if it seemed to, it is not a repeat.
            ((term, 42, 1000), term, 42, 999, false),
        ];
        for (last, sig, sender, now, want) in table {
            assert_eq!(
                is_repeat(last, sig, sender, now),
                want,
                "{last:?} then {sig} from {sender} at {now}"
            );
        }
    }
}

/// What the process tree of each child of `pids` uses: the processes of its process
/// group (the child leads it), from /proc, read once for all of them. None where there
/// is no /proc (macOS) or when no process of the group is left. A process that left
/// the group (`setsid`) is not counted. Reads one small file per process of the
/// system: called at a scrape, not on any path of the service's life.
pub fn tree_usage(pids: &[i32]) -> Vec<Option<TreeUsage>> {
    let mut out = vec![None; pids.len()];
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return out;
    };
    // SAFETY: sysconf has no preconditions.
    let (ticks, page) = unsafe {
        (
            libc::sysconf(libc::_SC_CLK_TCK),
            libc::sysconf(libc::_SC_PAGESIZE),
        )
    };
    let (ticks, page) = (ticks.max(1) as f64, page.max(0) as u64);
    for entry in dir.flatten() {
        let Some(p) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<i32>().ok())
        else {
            continue;
        };
        let Ok(text) = std::fs::read_to_string(format!("/proc/{p}/stat")) else {
            continue;
        };
        let Some(stat) = parse_stat(&text) else {
            continue;
        };
        if let Some(i) = pids.iter().position(|&pid| pid == stat.pgrp) {
            let usage = out[i].get_or_insert_with(TreeUsage::default);
            usage.cpu_seconds += stat.ticks as f64 / ticks;
            usage.resident_bytes += stat.rss_pages.saturating_mul(page);
        }
    }
    out
}

/// What [`tree_usage`] reads of one /proc/PID/stat line.
#[derive(Debug, PartialEq, Eq)]
struct Stat {
    /// The process group (field 5).
    pgrp: i32,
    /// utime + stime + cutime + cstime (fields 14 to 17), in clock ticks.
    ticks: u64,
    /// The resident set size (field 24), in pages.
    rss_pages: u64,
}

/// Parses a /proc/PID/stat line (see proc(5)); the command name (field 2) is in
/// parentheses and may itself hold spaces and parentheses.
fn parse_stat(text: &str) -> Option<Stat> {
    let after = text.get(text.rfind(')')? + 2..)?;
    // Field 3 (the state) is the first after the name.
    let fields: Vec<&str> = after.split_ascii_whitespace().collect();
    let field = |n: usize| fields.get(n - 3).copied();
    let num = |n: usize| field(n)?.parse::<i64>().ok();
    let ticks = (14..=17).map(num).sum::<Option<i64>>()?;
    Some(Stat {
        pgrp: field(5)?.parse().ok()?,
        ticks: ticks.max(0) as u64,
        rss_pages: num(24)?.max(0) as u64,
    })
}

/// Which process listens on TCP `port` (any address), as `pid 42 (nginx)`: from
/// /proc/net/tcp{,6} and the processes' open files, on Linux; None where that cannot
/// be read (another account's processes, unless root; no /proc).
pub fn listener_of(port: u16) -> Option<String> {
    let inodes: Vec<u64> = ["/proc/net/tcp", "/proc/net/tcp6"]
        .iter()
        .filter_map(|t| std::fs::read_to_string(t).ok())
        .flat_map(|text| listening_inodes(&text, port))
        .collect();
    if inodes.is_empty() {
        return None;
    }
    let wanted: Vec<String> = inodes.iter().map(|i| format!("socket:[{i}]")).collect();
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<i32>().ok())
        else {
            continue;
        };
        let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
            continue;
        };
        let holds = fds.flatten().any(|fd| {
            std::fs::read_link(fd.path())
                .is_ok_and(|target| wanted.iter().any(|w| target.as_os_str() == w.as_str()))
        });
        if holds {
            let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
            return Some(format!("pid {pid} ({})", comm.trim()));
        }
    }
    None
}

/// The inodes of the sockets listening on `port` in a /proc/net/tcp table (the local
/// address is `HEXIP:HEXPORT`; state `0A` is LISTEN).
fn listening_inodes(table: &str, port: u16) -> Vec<u64> {
    table
        .lines()
        .skip(1)
        .filter_map(|line| {
            let f: Vec<&str> = line.split_ascii_whitespace().collect();
            let local_port = u16::from_str_radix(f.get(1)?.rsplit(':').next()?, 16).ok()?;
            (local_port == port && *f.get(3)? == "0A").then(|| f.get(9)?.parse().ok())?
        })
        .collect()
}

#[cfg(test)]
mod usage_tests {
    use super::{parse_stat, Stat};

    #[test]
    fn listening_sockets() {
        // /proc/net/tcp as Linux writes it: a listener on 127.0.0.1:9464 (0x24F8), one
        // connected from that port (state 01), and a listener on another port.
        let table = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:24F8 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 31337 1 0000000000000000 100 0 0 10 0
   1: 0100007F:24F8 0100007F:A1B2 01 00000000:00000000 00:00000000 00000000     0        0 4242 1 0000000000000000 20 4 30 10 -1
   2: 00000000:0050 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 777 1 0000000000000000 100 0 0 10 0
";
        assert_eq!(super::listening_inodes(table, 9464), vec![31337]);
        assert_eq!(super::listening_inodes(table, 80), vec![777]);
        assert_eq!(super::listening_inodes(table, 81), Vec::<u64>::new());
    }

    #[test]
    fn stat_lines() {
        // A real line of proc(5)'s format (a shell), and one whose name holds `) (`.
        let sh = "4242 (sh) S 4200 4242 4200 34816 4242 4194304 120 0 0 0 7 3 11 2 20 0 1 0 123456 8859648 230 18446744073709551615 1 1 0 0 0 0 0 0 65538 0 0 0 17 1 0 0 0 0 0";
        assert_eq!(
            parse_stat(sh),
            Some(Stat {
                pgrp: 4242,
                ticks: 7 + 3 + 11 + 2,
                rss_pages: 230
            })
        );
        let odd = "77 (a) (b c) R 1 70 70 0 -1 0 0 0 0 0 100 50 0 0 20 0 1 0 9 1000 5 0";
        assert_eq!(
            parse_stat(odd),
            Some(Stat {
                pgrp: 70,
                ticks: 150,
                rss_pages: 5
            })
        );
        assert_eq!(parse_stat("12 (cut short) S 1 12"), None);
        assert_eq!(parse_stat("no parenthesis"), None);
    }

    /// A real tree: a shell whose child burns CPU and holds memory is measured with
    /// both, and its usage is that of its group.
    #[test]
    fn a_running_tree_is_measured() {
        use std::os::unix::process::CommandExt as _;
        let mut child = std::process::Command::new("sh")
            .args(["-c", "x=0; while :; do x=$((x+1)); done & wait"])
            .process_group(0)
            .spawn()
            .expect("sh");
        let pid = child.id() as i32;
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        let usage = loop {
            let u = super::tree_usage(&[1, pid])[1];
            if u.is_some_and(|u| u.cpu_seconds >= 0.05) || std::time::Instant::now() > deadline {
                break u;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        };
        let _ = super::signal_group(pid, libc::SIGKILL);
        let _ = child.wait();
        let usage = usage.expect("the group is found");
        assert!(usage.cpu_seconds >= 0.05, "{usage:?}");
        assert!(usage.resident_bytes > 100 * 1024, "{usage:?}");
        // Its last process (the loop, re-parented) is gone once reaped.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while super::tree_usage(&[pid])[0].is_some() && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        assert_eq!(super::tree_usage(&[pid]), [None], "the group is gone");
    }
}

/// The CPUs this machine has (configured, online or not), numbered from 0.
pub fn cpu_count() -> usize {
    // SAFETY: plain libc call.
    let n = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_CONF) };
    usize::try_from(n).unwrap_or(1).max(1)
}
