//! `[resources]` applied to a child by `tend run` / `tend up`, between fork and exec:
//! `setrlimit` (open files, locked memory), `sched_setaffinity`, `setpriority`,
//! `ioprio_set`, `/proc/self/oom_score_adj` and `sched_setscheduler`. Everything is
//! prepared before the fork ([`Apply::new`]); the child only makes system calls, and
//! reports each one that failed as five bytes (the step, the errno) on a pipe, which
//! the parent reads once the exec succeeded ([`Apply::not_applied`]): no limit is
//! dropped silently. A value already in effect for the supervisor (set by the service
//! manager that started it, e.g. systemd's `LimitNOFILE=`) is not set again.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use crate::spec::{IoClass, Limit, Resources, SchedPolicy};

/// The `[resources]` keys `spawn` applies to the child.
pub const APPLIED_RESOURCES: &[&str] = &[
    "resources.nofile",
    "resources.memlock",
    "resources.cpu_affinity",
    "resources.nice",
    "resources.io_class",
    "resources.io_priority",
    "resources.oom_score_adjust",
    "resources.scheduling",
];

/// One system call of [`Apply::apply`], as reported on the pipe.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
enum Step {
    Nofile = 0,
    Memlock = 1,
    Affinity = 2,
    Nice = 3,
    Io = 4,
    Oom = 5,
    Sched = 6,
    Cgroup = 7,
}

impl Step {
    const ALL: [Step; 8] = [
        Step::Nofile,
        Step::Memlock,
        Step::Affinity,
        Step::Nice,
        Step::Io,
        Step::Oom,
        Step::Sched,
        Step::Cgroup,
    ];

    /// The spec key and the call, for the warning.
    fn what(self) -> (&'static str, &'static str) {
        match self {
            Step::Nofile => ("resources.nofile", "setrlimit(RLIMIT_NOFILE)"),
            Step::Memlock => ("resources.memlock", "setrlimit(RLIMIT_MEMLOCK)"),
            Step::Affinity => ("resources.cpu_affinity", "sched_setaffinity"),
            Step::Nice => ("resources.nice", "setpriority"),
            Step::Io => ("resources.io_class", "ioprio_set"),
            Step::Oom => ("resources.oom_score_adjust", "/proc/self/oom_score_adj"),
            Step::Sched => ("resources.scheduling", "sched_setscheduler"),
            Step::Cgroup => (
                "resources.memory_max`, `cpu_max`, `cpu_weight`, `tasks_max",
                "joining the cgroup (cgroup.procs)",
            ),
        }
    }
}

/// What to apply in the child, prepared before the fork.
pub struct Apply {
    nofile: Option<libc::rlimit>,
    memlock: Option<libc::rlimit>,
    affinity: Option<libc::cpu_set_t>,
    nice: Option<libc::c_int>,
    ioprio: Option<libc::c_int>,
    /// The value's text, NUL-free.
    oom: Option<Vec<u8>>,
    sched: Option<(libc::c_int, libc::c_int)>,
    /// The `cgroup.procs` of each of the child's cgroups, open for writing (owned by
    /// the `unix_cgroup::Cgroup` the parent keeps).
    cgroup: Vec<libc::c_int>,
    /// The write end of the report pipe (close-on-exec).
    report: Option<OwnedFd>,
}

const OOM_PATH: &[u8] = b"/proc/self/oom_score_adj\0";

/// `IOPRIO_WHO_PROCESS`, and the class's place in an I/O priority value.
const IOPRIO_WHO_PROCESS: libc::c_int = 1;
const IOPRIO_CLASS_SHIFT: libc::c_int = 13;

/// The I/O priority value of `class` at `priority` (`ioprio_set(2)`), the kernel's
/// default (best-effort, 4) for what is not given.
pub fn ioprio_value(class: Option<IoClass>, priority: Option<u8>) -> libc::c_int {
    let (class, level) = match class.unwrap_or(IoClass::BestEffort) {
        IoClass::Realtime => (1, priority.unwrap_or(4)),
        IoClass::BestEffort => (2, priority.unwrap_or(4)),
        IoClass::Idle => (3, 0),
    };
    (class << IOPRIO_CLASS_SHIFT) | libc::c_int::from(level)
}

fn rlimit(l: Limit) -> libc::rlimit {
    let v = l.0.map_or(libc::RLIM_INFINITY, |n| n as libc::rlim_t);
    libc::rlimit {
        rlim_cur: v,
        rlim_max: v,
    }
}

fn same(a: &libc::rlimit, b: &libc::rlimit) -> bool {
    a.rlim_cur == b.rlim_cur && a.rlim_max == b.rlim_max
}

impl Apply {
    /// Prepares `r` for the child, and the read end of its report pipe for the
    /// parent ([`not_applied`]); `None` when there is nothing to do.
    pub fn new(r: &Resources, cgroup: Vec<libc::c_int>) -> io::Result<Option<(Apply, OwnedFd)>> {
        let mut a = Apply {
            nofile: r.nofile.map(rlimit),
            memlock: r.memlock.map(rlimit),
            affinity: None,
            nice: r.nice,
            ioprio: (r.io_class.is_some() || r.io_priority.is_some())
                .then(|| ioprio_value(r.io_class, r.io_priority)),
            oom: r.oom_score_adjust.map(|v| v.to_string().into_bytes()),
            sched: r.scheduling.map(|s| {
                let policy = match s.policy {
                    SchedPolicy::Other => libc::SCHED_OTHER,
                    SchedPolicy::Batch => libc::SCHED_BATCH,
                    SchedPolicy::Idle => libc::SCHED_IDLE,
                    SchedPolicy::Fifo => libc::SCHED_FIFO,
                    SchedPolicy::Rr => libc::SCHED_RR,
                };
                (policy, s.priority as libc::c_int)
            }),
            cgroup,
            report: None,
        };
        if !r.cpu_affinity.is_empty() {
            // SAFETY: cpu_set_t is a plain bit array; all-zero is the empty set.
            let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
            for cpu in &r.cpu_affinity {
                // SAFETY: validation keeps `cpu` below CPU_SETSIZE.
                unsafe { libc::CPU_SET(*cpu as usize, &mut set) };
            }
            a.affinity = Some(set);
        }
        a.skip_what_is_in_effect();
        if a.nothing() {
            return Ok(None);
        }
        let mut fds = [0 as libc::c_int; 2];
        // SAFETY: `fds` has room for the two descriptors.
        if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC | libc::O_NONBLOCK) } != 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: pipe2 returned two new descriptors that nothing else owns.
        let read = unsafe {
            a.report = Some(OwnedFd::from_raw_fd(fds[1]));
            OwnedFd::from_raw_fd(fds[0])
        };
        Ok(Some((a, read)))
    }

    fn nothing(&self) -> bool {
        self.nofile.is_none()
            && self.memlock.is_none()
            && self.affinity.is_none()
            && self.nice.is_none()
            && self.ioprio.is_none()
            && self.oom.is_none()
            && self.sched.is_none()
            && self.cgroup.is_empty()
    }

    /// Drops what the supervisor itself already has (the child would inherit it), so
    /// that a value a service manager set is not set again without the privilege to.
    /// The scheduling policy is always set: the supervisor may have left its own for
    /// batch (`defer_to_children`).
    fn skip_what_is_in_effect(&mut self) {
        let own = |resource| {
            let mut r = libc::rlimit {
                rlim_cur: 0,
                rlim_max: 0,
            };
            // SAFETY: `r` is a valid rlimit to fill in.
            (unsafe { libc::getrlimit(resource, &mut r) } == 0).then_some(r)
        };
        if self
            .nofile
            .is_some_and(|w| own(libc::RLIMIT_NOFILE).is_some_and(|o| same(&o, &w)))
        {
            self.nofile = None;
        }
        if self
            .memlock
            .is_some_and(|w| own(libc::RLIMIT_MEMLOCK).is_some_and(|o| same(&o, &w)))
        {
            self.memlock = None;
        }
        if let Some(want) = &self.affinity {
            // SAFETY: all-zero is a valid empty set to fill in.
            let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
            // SAFETY: `set` is a valid cpu_set_t of the size given.
            let ok = unsafe {
                libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set)
            } == 0;
            // SAFETY: both are valid cpu_set_t values.
            if ok && unsafe { libc::CPU_EQUAL(&set, want) } {
                self.affinity = None;
            }
        }
        if let Some(n) = self.nice {
            // SAFETY: clears errno, then a plain libc call; -1 is also a niceness.
            let own = unsafe {
                *libc::__errno_location() = 0;
                libc::getpriority(libc::PRIO_PROCESS, 0)
            };
            if own == n && io::Error::last_os_error().raw_os_error() == Some(0) {
                self.nice = None;
            }
        }
        if let Some(v) = self.ioprio {
            // SAFETY: plain system call with integer arguments.
            let own = unsafe { libc::syscall(libc::SYS_ioprio_get, IOPRIO_WHO_PROCESS, 0) };
            if own == libc::c_long::from(v) {
                self.ioprio = None;
            }
        }
        if let Some(v) = &self.oom {
            if std::fs::read("/proc/self/oom_score_adj")
                .is_ok_and(|own| own.trim_ascii() == v.as_slice())
            {
                self.oom = None;
            }
        }
    }

    /// Whether the spec sets the scheduling policy (then it replaces the reset of the
    /// supervisor's own).
    pub fn sets_policy(&self) -> bool {
        self.sched.is_some()
    }

    /// In the child, before the credential change (raising a limit, a negative
    /// niceness, a realtime policy need the privileges it drops): each setting, each
    /// failure reported on the pipe. Async-signal-safe: system calls only, on data
    /// prepared before the fork.
    pub fn apply(&self) {
        let fail = |step: Step| {
            let errno = io::Error::last_os_error().raw_os_error().unwrap_or(0);
            let mut rec = [0u8; 5];
            rec[0] = step as u8;
            rec[1..].copy_from_slice(&errno.to_le_bytes());
            if let Some(fd) = &self.report {
                // SAFETY: plain write of a valid buffer; a full pipe only loses a report.
                unsafe { libc::write(fd.as_raw_fd(), rec.as_ptr().cast(), rec.len()) };
            }
        };
        // First the cgroups, so that nothing below runs unlimited: "0" is the writer.
        for fd in &self.cgroup {
            // SAFETY: plain write of a valid buffer to a descriptor the parent holds open.
            if unsafe { libc::write(*fd, b"0".as_ptr().cast(), 1) } != 1 {
                fail(Step::Cgroup);
            }
        }
        if let Some(r) = &self.nofile {
            // SAFETY: plain system call with a valid rlimit.
            if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, r) } != 0 {
                fail(Step::Nofile);
            }
        }
        if let Some(r) = &self.memlock {
            // SAFETY: plain system call with a valid rlimit.
            if unsafe { libc::setrlimit(libc::RLIMIT_MEMLOCK, r) } != 0 {
                fail(Step::Memlock);
            }
        }
        if let Some(set) = &self.affinity {
            // SAFETY: plain system call with a valid cpu_set_t of the size given.
            let size = std::mem::size_of::<libc::cpu_set_t>();
            if unsafe { libc::syscall(libc::SYS_sched_setaffinity, 0, size, set) } != 0 {
                fail(Step::Affinity);
            }
        }
        if let Some(n) = self.nice {
            // SAFETY: plain system call with integer arguments.
            if unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, n) } != 0 {
                fail(Step::Nice);
            }
        }
        if let Some(v) = self.ioprio {
            // SAFETY: plain system call with integer arguments.
            if unsafe { libc::syscall(libc::SYS_ioprio_set, IOPRIO_WHO_PROCESS, 0, v) } != 0 {
                fail(Step::Io);
            }
        }
        if let Some(v) = &self.oom {
            // SAFETY: open, write and close of a NUL-terminated path and a valid buffer.
            unsafe {
                let fd = libc::open(OOM_PATH.as_ptr().cast(), libc::O_WRONLY | libc::O_CLOEXEC);
                if fd < 0 || libc::write(fd, v.as_ptr().cast(), v.len()) < 0 {
                    fail(Step::Oom);
                }
                if fd >= 0 {
                    libc::close(fd);
                }
            }
        }
        if let Some((policy, priority)) = self.sched {
            // SAFETY: sched_param is a plain C struct; all-zero is a valid value to fill
            // in (musl's has more fields than glibc's; the kernel reads the priority).
            let mut param: libc::sched_param = unsafe { std::mem::zeroed() };
            param.sched_priority = priority;
            // SAFETY: plain system call with a valid parameter (the library's wrapper
            // is not used: musl's only returns ENOSYS).
            if unsafe { libc::syscall(libc::SYS_sched_setscheduler, 0, policy, &param) } != 0 {
                fail(Step::Sched);
            }
        }
    }
}

/// In the parent, once the child has exec'd (so [`Apply::apply`] has run) and the
/// `Apply` moved into it is dropped: a warning for each setting that failed, naming
/// the key and why, from the report pipe's read end.
pub fn not_applied(read: OwnedFd) -> Vec<String> {
    let mut bytes = Vec::new();
    let mut buf = [0u8; 320];
    loop {
        // SAFETY: reads into a valid buffer of its size; the pipe does not block.
        let n = unsafe { libc::read(read.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
        if n <= 0 {
            break;
        }
        bytes.extend_from_slice(&buf[..n as usize]);
    }
    decode(&bytes)
}

/// The warnings a report pipe's bytes stand for.
fn decode(bytes: &[u8]) -> Vec<String> {
    bytes
        .chunks_exact(5)
        .filter_map(|rec| {
            let step = *Step::ALL.get(usize::from(rec[0]))?;
            let errno = i32::from_le_bytes([rec[1], rec[2], rec[3], rec[4]]);
            let (key, call) = step.what();
            let why = crate::text::io_error(&io::Error::from_raw_os_error(errno));
            let hint = if matches!(errno, libc::EPERM | libc::EACCES) {
                " (raising a limit, a negative nice or oom_score_adjust and the realtime classes need root)"
            } else {
                ""
            };
            Some(format!("`{key}` not applied: {call} failed: {why}{hint}"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn io_priority_values() {
        for (class, prio, want) in [
            (Some(IoClass::BestEffort), Some(6), (2 << 13) | 6),
            (Some(IoClass::Realtime), None, (1 << 13) | 4),
            (Some(IoClass::Idle), None, 3 << 13),
            (None, Some(0), 2 << 13),
        ] {
            assert_eq!(ioprio_value(class, prio), want, "{class:?} {prio:?}");
        }
    }

    #[test]
    fn reports_decode_to_warnings_naming_the_key() {
        let mut bytes = vec![Step::Nice as u8];
        bytes.extend_from_slice(&libc::EACCES.to_le_bytes());
        bytes.push(Step::Sched as u8);
        bytes.extend_from_slice(&libc::EINVAL.to_le_bytes());
        bytes.push(99); // an unknown step, then a cut record: both ignored
        bytes.extend_from_slice(&[1, 2, 3, 4, 7]);
        let w = decode(&bytes);
        assert_eq!(w.len(), 2, "{w:?}");
        assert!(
            w[0].starts_with("`resources.nice` not applied: setpriority failed"),
            "{w:?}"
        );
        assert!(w[0].contains("need root"), "{w:?}");
        assert!(
            w[1].starts_with("`resources.scheduling` not applied"),
            "{w:?}"
        );
        assert!(!w[1].contains("need root"), "{w:?}");
    }
}
