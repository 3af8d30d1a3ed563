//! What the supervisor process itself needs of Unix (as opposed to its children's
//! control in `unix.rs`): collecting exit statuses, the stop and reopen signals, the
//! default directories, the console, file identity. Windows has the same names in
//! `windows_supervisor.rs`.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ffi::OsString;
use std::io;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use tokio::sync::{mpsc, oneshot};

use super::{euid, lookup_credentials, lookup_group, reap_one, Credentials, Spawned};
use crate::spec::Spec;
use crate::supervise::event::StopBy;
use crate::supervise::policy::Exit;
use crate::supervise::prepare::{problem, Problem, Warnings};
use crate::supervise::{Request, SuperviseError};

/// Collects exit statuses and routes them to whoever waits for that child.
#[derive(Default)]
pub struct Reaper {
    waiting: RefCell<HashMap<i32, oneshot::Sender<Exit>>>,
}

impl Reaper {
    /// Starts reaping (must be called inside a `LocalSet`).
    pub fn start() -> io::Result<Rc<Reaper>> {
        use tokio::signal::unix::{signal, SignalKind};
        let mut sigchld = signal(SignalKind::child())?;
        let reaper = Rc::new(Reaper::default());
        let r = reaper.clone();
        tokio::task::spawn_local(async move {
            loop {
                while let Some((pid, exit)) = reap_one() {
                    if let Some(tx) = r.waiting.borrow_mut().remove(&pid) {
                        let _ = tx.send(exit);
                    }
                }
                if sigchld.recv().await.is_none() {
                    break;
                }
            }
        });
        Ok(reaper)
    }

    /// Returns a receiver for the child's exit. Call it right after spawning, before
    /// any await, so the exit cannot be collected before it is awaited.
    pub fn watch(&self, child: &mut Spawned) -> oneshot::Receiver<Exit> {
        let (tx, rx) = oneshot::channel();
        self.waiting.borrow_mut().insert(child.pid, tx);
        rx
    }

    /// The pids of the children being waited for.
    pub fn live_pids(&self) -> BTreeSet<i32> {
        self.waiting.borrow().keys().copied().collect()
    }
}

/// Turns the OS's stop and reopen signals into [`Request`]s (must be called inside a
/// `LocalSet`): SIGTERM, SIGINT and SIGQUIT stop; SIGHUP and SIGUSR1 reopen logs;
/// SIGUSR2 is ignored (the guard forwards all of these, and without a handler each
/// would kill the supervisor).
pub fn listen_os(tx: mpsc::UnboundedSender<Request>) -> Result<(), SuperviseError> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut streams = Vec::new();
    for (kind, name, req) in [
        (
            SignalKind::terminate(),
            "SIGTERM",
            Request::Stop(StopBy::Signal("SIGTERM")),
        ),
        (
            SignalKind::interrupt(),
            "SIGINT",
            Request::Stop(StopBy::Signal("SIGINT")),
        ),
        (
            SignalKind::quit(),
            "SIGQUIT",
            Request::Stop(StopBy::Signal("SIGQUIT")),
        ),
        (SignalKind::hangup(), "SIGHUP", Request::ReopenLogs),
        (SignalKind::user_defined1(), "SIGUSR1", Request::ReopenLogs),
        (
            SignalKind::user_defined2(),
            "SIGUSR2",
            Request::Ignored("SIGUSR2"),
        ),
    ] {
        let s = signal(kind).map_err(|source| SuperviseError::Io {
            what: format!("cannot handle {name}"),
            source,
        })?;
        streams.push((s, req));
    }
    for (mut s, req) in streams {
        let tx = tx.clone();
        tokio::task::spawn_local(async move {
            while s.recv().await.is_some() {
                if tx.send(req).is_err() {
                    break;
                }
            }
        });
    }
    Ok(())
}

/// The default state directory: `TEND_STATE_DIR`, else `/var/lib/tend` for root, else
/// `$XDG_STATE_HOME/tend` (`~/.local/state/tend`).
pub fn default_state_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("TEND_STATE_DIR") {
        return d.into();
    }
    if euid() == 0 {
        return "/var/lib/tend".into();
    }
    let base = std::env::var_os("XDG_STATE_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let home = std::env::var_os("HOME")
                .map(PathBuf::from)
                .unwrap_or_else(|| "/tmp".into());
            home.join(".local/state")
        });
    base.join("tend")
}

/// The default log directory: `TEND_LOG_DIR`, else `/var/log/tend` for root, else
/// `logs` under the state directory.
pub fn default_log_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("TEND_LOG_DIR") {
        return d.into();
    }
    if euid() == 0 {
        return "/var/log/tend".into();
    }
    default_state_dir().join("logs")
}

/// Whether the terminal shows ANSI colours once asked: a Unix terminal always does.
pub fn enable_ansi() -> bool {
    true
}

/// What tells one file from its replacement after a rotation: the inode.
pub fn file_id(m: &std::fs::Metadata) -> u64 {
    std::os::unix::fs::MetadataExt::ino(m)
}

/// The name of the group that owns `path` (or, when it cannot be looked at, its
/// folder): who besides root may read an installed spec.
pub fn group_of(path: &std::path::Path) -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(path)
        .ok()
        .or_else(|| std::fs::metadata(path.parent()?).ok())?;
    let group = nix::unistd::Group::from_gid(nix::unistd::Gid::from_raw(meta.gid())).ok()??;
    Some(group.name)
}

/// Sets `key` in an environment being built: Unix names are case-sensitive.
pub fn env_insert(vars: &mut BTreeMap<OsString, OsString>, key: &str, value: &str) {
    vars.insert(key.into(), value.into());
}

/// A warning when the env file at `path` is readable by others than the service's
/// account (it may hold secrets).
pub fn secrets_mode_warning(path: &Path) -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(path).ok()?;
    let mode = meta.mode() & 0o777;
    // Readable by the file's group is right when that group is this process's own
    // (root:orders 0640 for a service running as orders); by anyone else it is not.
    let my_group = meta.gid() == nix::unistd::getegid().as_raw();
    let exposed = mode & 0o004 != 0 || (mode & 0o040 != 0 && !my_group);
    exposed.then(|| {
        format!(
            "env_file {} is readable by {} (mode {mode:o}): it may hold secrets; make it readable by the service's account only (`chmod 600`, or `chmod 640` with the service's group)",
            path.display(),
            if mode & 0o004 != 0 { "everyone" } else { "its group" }
        )
    })
}

/// `tend ctrl-c PID` is the Windows stop helper, and does not parse here (Unix stops
/// with signals): never called, present so `cli/` calls one name on every OS.
pub fn ctrl_c_helper(_pid: u32) -> Result<(), String> {
    Err("`tend ctrl-c` is the Windows stop helper; on Unix a stop is a signal".into())
}

/// The account the child of `spec` runs as: `user` (with `group`, else the user's own),
/// looked up now; `None` to stay tend's own account (no `user`, or already that
/// account). Sets `USER`, `LOGNAME` and `HOME` in `vars`; what is wrong goes to
/// `problems`.
pub fn account(
    spec: &Spec,
    vars: &mut BTreeMap<OsString, OsString>,
    problems: &mut Vec<Problem>,
    _warnings: &mut Warnings,
) -> Option<Credentials> {
    // (`group` without `user` is refused when the spec is validated.)
    match &spec.user {
        None => None,
        Some(u) => {
            let group_ok = match spec.group.as_deref().map(lookup_group) {
                Some(Err(e)) => {
                    problems.push(problem(
                        "group",
                        if e.is_missing() {
                            format!("{e}: create it first, or remove `group` to use the user's own")
                        } else {
                            e.to_string()
                        },
                    ));
                    false
                }
                _ => true,
            };
            match lookup_credentials(u, spec.group.as_deref().filter(|_| group_ok)) {
                Err(e) => {
                    problems.push(problem(
                        "user",
                        if e.is_missing() {
                            format!("{e}: create the account first, or remove `user` to run as tend's own account")
                        } else {
                            e.to_string()
                        },
                    ));
                    None
                }
                Ok(c) => {
                    let me = euid();
                    if me != 0 && me != c.uid {
                        problems.push(Problem {
                            invoker: true,
                            ..problem(
                                "user",
                                format!(
                                    "running `{}` as user `{u}` needs root (tend runs as uid {me})",
                                    spec.name
                                ),
                            )
                        });
                    }
                    vars.insert("USER".into(), u.into());
                    vars.insert("LOGNAME".into(), u.into());
                    vars.insert("HOME".into(), c.home.clone().into());
                    // Already that account (an installed service's supervisor runs as
                    // its user): nothing to switch.
                    (me != c.uid).then_some(c)
                }
            }
        }
    }
}
