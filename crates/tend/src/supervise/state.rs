//! The state file: one JSON document per service in the state directory, rewritten
//! atomically (temporary file, fsync, rename) on every change, so a reader such as
//! `tend status` always sees a complete, valid document.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

/// The lifecycle state of a service.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum State {
    /// The child is being started.
    Starting,
    /// The child is running.
    Running,
    /// The child's whole process tree is frozen (`tend pause`) until `tend continue`.
    Paused,
    /// The child exited and will be restarted after a delay.
    Backoff,
    /// A stop was requested; waiting for the child to exit.
    Stopping,
    /// Stopped on request.
    Stopped,
    /// The child exited and the policy says not to restart it.
    Exited,
    /// The service gave up: restart limit reached, or the child cannot be started.
    Failed,
}

impl State {
    /// Whether a supervisor is at work on a service in this state (starting it,
    /// running or pausing its child, waiting to restart it, stopping it): a state file
    /// that says so without a live supervisor is stale.
    pub fn is_live(self) -> bool {
        matches!(
            self,
            State::Starting | State::Running | State::Paused | State::Backoff | State::Stopping
        )
    }

    /// The state as shown to people.
    pub fn as_str(self) -> &'static str {
        match self {
            State::Starting => "starting",
            State::Running => "running",
            State::Paused => "paused",
            State::Backoff => "backoff",
            State::Stopping => "stopping",
            State::Stopped => "stopped",
            State::Exited => "exited",
            State::Failed => "failed",
        }
    }
}

/// How the last child ended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LastExit {
    /// Exit code, if it exited.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<i32>,
    /// Signal name, if it was killed by a signal.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signal: Option<String>,
    /// When (milliseconds since the Unix epoch).
    pub at_ms: u64,
    /// Whether the OOM killer killed it (`signal` is then SIGKILL).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub oom_killed: bool,
}

/// Whether a service with `[health]` works, as its probes say.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum HealthState {
    /// No probe has passed since the child started.
    Starting,
    /// The last probe passed (or fewer than `health.retries` have failed in a row since).
    Healthy,
    /// `health.retries` probes in a row have failed.
    Unhealthy,
}

impl HealthState {
    /// The state as shown to people.
    pub fn as_str(self) -> &'static str {
        match self {
            HealthState::Starting => "starting",
            HealthState::Healthy => "healthy",
            HealthState::Unhealthy => "unhealthy",
        }
    }
}

/// One probe's result.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Probe {
    /// When it ended (ms since the epoch).
    pub at_ms: u64,
    /// Whether it passed.
    pub ok: bool,
    /// How long it took, in milliseconds.
    pub took_ms: u64,
    /// What it found: `answered 200`, or why it failed (`cannot connect to
    /// 127.0.0.1:8080: Connection refused`).
    pub result: String,
}

/// A service's health (with `[health]`; see [`Status::health`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Health {
    /// The state.
    pub state: HealthState,
    /// When the state last changed (ms since the epoch).
    pub since_ms: u64,
    /// Probes failed in a row.
    pub failures: u32,
    /// The last probe (none yet since the child started).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_probe: Option<Probe>,
    /// The last failed probe's result, kept after a probe passes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}

/// Everything the supervisor knows about one service, as written to the state file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Status {
    /// The service name.
    pub name: String,
    /// The state.
    pub state: State,
    /// The spec file.
    pub spec: PathBuf,
    /// The supervisor's pid.
    pub supervisor_pid: u32,
    /// The child's pid while one runs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pid: Option<i32>,
    /// When the current child started (ms since the epoch).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub started_at_ms: Option<u64>,
    /// When the state last changed (ms since the epoch).
    pub since_ms: u64,
    /// How many times the child was restarted since the supervisor started.
    pub restarts: u64,
    /// How the last child ended.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_exit: Option<LastExit>,
    /// A human explanation of the state (why it failed, the backoff delay, ...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Output lines that could not be written to the log files. Kept current while
    /// output is being dropped (rewritten at most once a second), not only on a change
    /// of state.
    pub log_dropped_lines: u64,
    /// Output bytes that could not be written to the log files (absent from the state
    /// files of older versions: 0).
    #[serde(default)]
    pub log_dropped_bytes: u64,
    /// The last line the child wrote to stderr before its last exit, when that exit was
    /// a failure (cut to about 200 bytes); none after a success or a stop, or when the
    /// child wrote nothing to stderr or its stderr is not piped through tend.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_stderr: Option<String>,
    /// Where the supervisor writes the service's output, as it resolved it (profile,
    /// `--set`, `TEND_LOG_DIR` applied), for `tend logs`. None on the console (`tend
    /// up`) and in the state files of older versions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log: Option<LogPlace>,
    /// Its health, when the spec has `[health]` and a child runs (or ran last).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health: Option<Health>,
    /// The probe result that last made the service unhealthy, until a probe passes or
    /// a restart is asked for: kept through the restarts it causes (the health record
    /// starts over with each child), so whoever waits for a start sees it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unhealthy: Option<String>,
}

impl Status {
    /// A service's status before anything has happened to it: `state` since now, as
    /// this process reports it; no child, nothing counted.
    pub fn new(name: &str, state: State, spec: PathBuf) -> Status {
        Status {
            name: name.to_string(),
            state,
            spec,
            supervisor_pid: std::process::id(),
            pid: None,
            started_at_ms: None,
            since_ms: now_ms(),
            restarts: 0,
            last_exit: None,
            message: None,
            log_dropped_lines: 0,
            log_dropped_bytes: 0,
            last_stderr: None,
            log: None,
            health: None,
            unhealthy: None,
        }
    }

    /// Whether the service is up, for its dependents and its service manager: its
    /// child runs and, with `[health]`, a probe has passed (and it is not unhealthy).
    pub fn ready(&self) -> bool {
        self.state == State::Running
            && self
                .health
                .as_ref()
                .is_none_or(|h| h.state == HealthState::Healthy)
    }

    /// What a start came to, for whoever waits for it (`tend start`, `tend install
    /// --now`): `Some(Ok)` ready, `Some(Err(why))` failed or unhealthy, `why` reading
    /// after the service's name (`failed: ...`, `is unhealthy: ` and the probe's
    /// result), `None` not yet.
    pub fn start_outcome(&self) -> Option<Result<(), String>> {
        if self.ready() {
            return Some(Ok(()));
        }
        if self.state == State::Failed {
            return Some(Err(format!(
                "failed: {}",
                self.message.as_deref().unwrap_or("no reason recorded")
            )));
        }
        self.unhealthy
            .as_ref()
            .map(|why| Err(format!("is unhealthy: {why}")))
    }

    /// With `[health]`, while no probe has passed: what the last one found.
    pub fn not_healthy_yet(&self) -> Option<String> {
        let h = self.health.as_ref()?;
        (h.state != HealthState::Healthy).then(|| match &h.last_probe {
            Some(p) => format!("not healthy yet: {}", p.result),
            None => "not probed yet".into(),
        })
    }

    /// Whether a start has come to something, for a service manager waiting on it:
    /// ready, or anything but a child that runs and has not passed a probe yet (a
    /// backoff, a failure, unhealthy).
    pub fn start_settled(&self) -> bool {
        if self.unhealthy.is_some() {
            return true;
        }
        match self.state {
            State::Starting => false,
            State::Running => self
                .health
                .as_ref()
                .is_none_or(|h| h.state != HealthState::Starting),
            _ => true,
        }
    }
}

/// Where a supervisor writes a service's output (see [`Status::log`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogPlace {
    /// The directory of its log files (absolute).
    pub dir: PathBuf,
    /// Where stdout goes (`log.stdout`).
    pub stdout: crate::spec::LogTarget,
    /// Where stderr goes (`log.stderr`).
    pub stderr: crate::spec::LogTarget,
    /// Its lines start with a timestamp (`log.timestamps`).
    pub timestamps: bool,
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// The state file of `name` in `dir`.
pub fn state_path(dir: &Path, name: &str) -> PathBuf {
    dir.join(format!("{name}.json"))
}

/// Writes a file atomically: a reader sees the old document or the new one.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    write_atomic_as(path, bytes, 0o644, None)
}

/// Writes a file atomically with `mode` and, if given, owner `(uid, gid)`. The
/// temporary file is created readable by its owner only and gets its final owner and
/// mode before it is renamed into place, so a secret is never readable by others, not
/// even for a moment.
pub fn write_atomic_as(
    path: &Path,
    bytes: &[u8],
    mode: u32,
    owner: Option<(u32, u32)>,
) -> io::Result<()> {
    replace(path, bytes, mode, owner, Durable::Yes)
}

/// Whether [`replace`] flushes the new content to disk before renaming it into place.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Durable {
    /// Yes: after a power cut the file holds the old content or the new one.
    Yes,
    /// No: readers still see the old document or the new one, never a torn one, but a
    /// power cut may leave the file empty.
    No,
}

/// Writes `path` through a temporary file renamed over it.
fn replace(
    path: &Path,
    bytes: &[u8],
    mode: u32,
    owner: Option<(u32, u32)>,
    durable: Durable,
) -> io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(dir)?;
    let tmp = path.with_extension(format!("tmp.{}", std::process::id()));
    // A temporary file with this process's id can only be left over from an earlier
    // process that had the same id (killed, or a power cut): stale.
    let _ = fs::remove_file(&tmp);
    let result = (|| {
        let mut open = fs::OpenOptions::new();
        open.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut open, 0o600);
        let mut f = open.open(&tmp)?;
        f.write_all(bytes)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            if let Some((uid, gid)) = owner {
                std::os::unix::fs::fchown(&f, Some(uid), Some(gid))?;
            }
            f.set_permissions(fs::Permissions::from_mode(mode))?;
        }
        // Windows: the file takes the permissions of its folder.
        #[cfg(windows)]
        let _ = (mode, owner);
        if durable == Durable::Yes {
            f.sync_all()?;
        }
        drop(f);
        fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Writes a service's state file. Atomically, but not flushed to disk: it describes
/// a running supervisor, so after a power cut it is stale whatever it holds (and the
/// next supervisor rewrites it); the flush would put a disk write, and the wake-ups it
/// costs, on every restart's path.
pub fn write_status(dir: &Path, status: &Status) -> io::Result<()> {
    let mut bytes = serde_json::to_vec_pretty(status).map_err(io::Error::other)?;
    bytes.push(b'\n');
    replace(
        &state_path(dir, &status.name),
        &bytes,
        0o644,
        None,
        Durable::No,
    )
}

/// Reads every state file in `dir`, sorted by name. Unreadable files are reported as
/// errors next to the good ones.
pub fn read_all(dir: &Path) -> io::Result<Vec<Result<Status, ReadError>>> {
    let mut out = Vec::new();
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(e),
    };
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    paths.sort();
    for p in paths {
        out.push(read_one(&p));
    }
    Ok(out)
}

/// Why a state file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The file could not be read (missing, no permission).
    #[error("{}: {}", path.display(), crate::text::io_error(source))]
    Io {
        /// The state file.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// The file is empty: written but never flushed before the machine went down (the
    /// state file is not flushed, see [`write_status`]).
    #[error(
        "{}: empty (the machine may have lost power while tend ran); it is rewritten when the service next starts",
        path.display()
    )]
    Empty {
        /// The state file.
        path: PathBuf,
    },
    /// The file is not a state file tend wrote.
    #[error("{}: not a tend state file ({source})", path.display())]
    Json {
        /// The state file.
        path: PathBuf,
        /// What did not parse.
        source: serde_json::Error,
    },
}

/// Reads one state file.
pub fn read_one(path: &Path) -> Result<Status, ReadError> {
    let text = fs::read(path).map_err(|source| ReadError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    if text.is_empty() {
        return Err(ReadError::Empty {
            path: path.to_path_buf(),
        });
    }
    serde_json::from_slice(&text).map_err(|source| ReadError::Json {
        path: path.to_path_buf(),
        source,
    })
}

/// A supervisor's hold on one service, for its whole lifetime: a second supervisor of
/// the same service (another `tend run`, a `tend up` with the same name, in the same
/// state directory) is refused instead of starting a second child and overwriting the
/// first one's state file. It is an OS file lock on `<name>.lock` (flock on Unix,
/// LockFileEx on Windows), which the OS releases when the holder ends in any way, even
/// SIGKILL: a stale lock cannot exist, so there is nothing to clean up.
#[derive(Debug)]
pub struct SupervisorLock {
    _file: fs::File,
    /// The lock file did not exist: taking the lock made it.
    created: bool,
}

/// Why a service could not be locked.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Another supervisor holds it: the same spec run twice, or another project with a
    /// service of the same name (state files, logs and locks are named by service name,
    /// so two services of one name cannot share a state directory).
    #[error(
        "a service `{name}`{} is already supervised{}\n  = help: stop that one first; to run both, rename this one or give it another --state-dir",
        holder.as_ref().map_or(String::new(), |h| format!(" from {}", h.spec.display())),
        holder.as_ref().map_or(" by another tend process".to_string(), |h| format!(" (pid {})", h.pid))
    )]
    Held {
        /// The service.
        name: String,
        /// Who holds it, as far as its state file tells (a supervisor writes it as it
        /// starts; a moment before, it may not have yet).
        holder: Option<Holder>,
    },
    /// The lock file could not be opened or locked.
    #[error("cannot lock {}: {}", path.display(), crate::text::io_error(source))]
    Io {
        /// The lock file.
        path: PathBuf,
        /// The error.
        source: io::Error,
    },
}

/// The supervisor that holds a service, from its state file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Holder {
    /// The supervisor's pid.
    pub pid: u32,
    /// The spec it runs.
    pub spec: PathBuf,
}

/// The lock file of `name` in `dir`.
pub fn lock_path(dir: &Path, name: &str) -> PathBuf {
    dir.join(format!("{name}.lock"))
}

impl SupervisorLock {
    /// Takes the lock of `name` in `dir` for a supervisor. A holder that is not a live
    /// supervisor (its state file names none) is waited for a moment: `tend status`,
    /// `tend status --prune` and `tend forget` hold the lock for an instant, and must
    /// not make a start fail.
    pub fn acquire(dir: &Path, name: &str) -> Result<SupervisorLock, LockError> {
        Self::acquire_within(dir, name, SUPERVISOR_PATIENCE)
    }

    /// [`Self::acquire`], waiting for a holder as long as `patience` says.
    fn acquire_within(
        dir: &Path,
        name: &str,
        patience: Patience,
    ) -> Result<SupervisorLock, LockError> {
        let path = lock_path(dir, name);
        let io_err = |source| LockError::Io {
            path: path.clone(),
            source,
        };
        patiently(dir, name, patience, || {
            let open = |new| {
                fs::OpenOptions::new()
                    .read(true)
                    .write(true)
                    .create_new(new)
                    .open(&path)
            };
            let (file, created) = match open(true) {
                Ok(f) => (f, true),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => match open(false) {
                    Ok(f) => (f, false),
                    // Removed in between (by [`forget`]): make it.
                    Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Attempt::Again),
                    Err(e) => return Err(e),
                },
                Err(e) => return Err(e),
            };
            match file.try_lock() {
                Ok(()) if still_at(&file, &path) => Ok(Attempt::Got(SupervisorLock {
                    _file: file,
                    created,
                })),
                // [`forget`] removes a lock file while it holds it: a lock taken on the
                // file it removed (opened just before) guards nothing, so take it again
                // on the new one.
                Ok(()) => Ok(Attempt::Again),
                Err(fs::TryLockError::WouldBlock) => Ok(Attempt::Busy),
                Err(fs::TryLockError::Error(e)) => Err(e),
            }
        })
        .map_err(|e| match e {
            Busy::Held(holder) => LockError::Held {
                name: name.to_string(),
                holder,
            },
            Busy::Io(e) => io_err(e),
        })
    }
}

/// How long to wait for the lock of a service while someone else holds it, by who
/// that is as far as the state file tells.
#[derive(Clone, Copy, Debug)]
struct Patience {
    /// The state file names no live supervisor: most likely a reader or a forgetter
    /// holding the lock for an instant (or a supervisor that has not written its state
    /// file yet, which holds it for good).
    unnamed: Duration,
    /// The state file names a live supervisor: most likely it, holding the lock for
    /// good (unless its pid has been reused since).
    named: Duration,
}

/// A supervisor that starts: a moment for readers, and a short one even when a live
/// supervisor is named, in case that is a reused pid.
const SUPERVISOR_PATIENCE: Patience = Patience {
    unnamed: Duration::from_secs(1),
    named: Duration::from_millis(50),
};

/// `tend forget` and `tend status --prune`: a moment for readers, none for a named
/// supervisor (they keep its state, which is what they should do).
const FORGET_PATIENCE: Patience = Patience {
    unnamed: Duration::from_secs(1),
    named: Duration::ZERO,
};

/// `tend status`: as [`FORGET_PATIENCE`]; a lock still held after that is a
/// supervisor's.
const READER_PATIENCE: Patience = FORGET_PATIENCE;

/// The wait between two tries of a lock that is held.
const RETRY_EVERY: Duration = Duration::from_millis(5);

/// How many times in a row [`patiently`] tries again at once ([`Attempt::Again`]) before
/// it gives up: a lock file is only replaced that often by a filesystem whose file ids
/// are not stable, never by [`forget`], which holds the lock while it removes it.
const AGAIN_AT_MOST: u32 = 100;

/// The lock file was another file each time it was locked ([`AGAIN_AT_MOST`] times).
#[derive(Debug, thiserror::Error)]
#[error("the file at its path changed each time it was locked ({tries} tries): does the filesystem of the state directory keep file ids (device, inode) stable?")]
pub struct Unstable {
    /// How many times it was locked.
    pub tries: u32,
}

/// What one try of a lock gave.
enum Attempt<T> {
    /// The lock.
    Got(T),
    /// Someone else holds it.
    Busy,
    /// Nothing to hold: try again at once.
    Again,
}

/// Why [`patiently`] gave up.
enum Busy {
    /// The lock is held; by whom, as far as the state file tells.
    Held(Option<Holder>),
    /// The lock file could not be opened or locked.
    Io(io::Error),
}

/// Tries `attempt` until it gets the lock, waiting a little between tries while the
/// lock is held and for no longer than `patience` says.
fn patiently<T>(
    dir: &Path,
    name: &str,
    patience: Patience,
    mut attempt: impl FnMut() -> io::Result<Attempt<T>>,
) -> Result<T, Busy> {
    let start = Instant::now();
    let mut again = 0;
    loop {
        match attempt().map_err(Busy::Io)? {
            Attempt::Got(t) => return Ok(t),
            Attempt::Again => {
                again += 1;
                if again >= AGAIN_AT_MOST {
                    return Err(Busy::Io(io::Error::other(Unstable { tries: again })));
                }
                continue;
            }
            Attempt::Busy => again = 0,
        }
        let holder = holder(dir, name);
        let limit = if holder.is_some() {
            patience.named
        } else {
            patience.unnamed
        };
        if start.elapsed() >= limit {
            return Err(Busy::Held(holder));
        }
        std::thread::sleep(RETRY_EVERY);
    }
}

/// Whether a supervisor holds `name` in `dir`: its lock says so, not the pid in its
/// state file, which may have been reused by another process since (after a reboot,
/// say). The lock is tried shared and let go at once; a holder that is not a live
/// supervisor is waited for a moment (a `tend forget` holds it for an instant). The
/// lock file is not created. An error when the lock file cannot be opened (no
/// permission: the state of another user's service).
pub fn supervised(dir: &Path, name: &str) -> io::Result<bool> {
    let path = lock_path(dir, name);
    let held = patiently(dir, name, READER_PATIENCE, || {
        let file = match fs::File::open(&path) {
            Ok(f) => f,
            // No lock file: never supervised here, or forgotten.
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Attempt::Got(false)),
            Err(e) => return Err(e),
        };
        match file.try_lock_shared() {
            // Let go at once (closing the file releases it).
            Ok(()) => Ok(Attempt::Got(false)),
            Err(fs::TryLockError::WouldBlock) => Ok(Attempt::Busy),
            Err(fs::TryLockError::Error(e)) => Err(e),
        }
    });
    match held {
        Ok(held) => Ok(held),
        Err(Busy::Held(_)) => Ok(true),
        Err(Busy::Io(e)) => Err(e),
    }
}

/// Whether `file` is still the file at `path` (not removed or replaced since it was
/// opened).
#[cfg(unix)]
fn still_at(file: &fs::File, path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (file.metadata(), fs::metadata(path)) {
        (Ok(a), Ok(b)) => (a.dev(), a.ino()) == (b.dev(), b.ino()),
        _ => false,
    }
}

/// Windows: [`forget`] does not remove lock files there (an open file cannot be
/// removed for good while another process has it open).
#[cfg(not(unix))]
fn still_at(_: &fs::File, _: &Path) -> bool {
    true
}

/// The live supervisor of `name`, as its state file tells.
fn holder(dir: &Path, name: &str) -> Option<Holder> {
    read_one(&state_path(dir, name))
        .ok()
        .filter(|s| super::sys::alive(s.supervisor_pid as i32))
        .map(|s| Holder {
            pid: s.supervisor_pid,
            spec: s.spec,
        })
}

/// The names of the services with a state file in `dir` (the files' names, whether or
/// not they parse), sorted.
pub fn names(dir: &Path) -> io::Result<Vec<String>> {
    names_of(dir, ".json")
}

/// The names of the files in `dir` ending in `suffix`, without it, sorted.
fn names_of(dir: &Path, suffix: &str) -> io::Result<Vec<String>> {
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut names: Vec<String> = entries
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter_map(|f| f.strip_suffix(suffix).map(str::to_string))
        .filter(|n| !n.is_empty())
        .collect();
    names.sort();
    Ok(names)
}

/// Removes the lock files in `dir` that have no state file beside them and that no one
/// holds (left by a supervisor that never wrote its state, or by an older `tend
/// forget`), and returns them. A held one is kept without waiting: a supervisor that
/// is starting holds it. Nothing on Windows, where lock files are kept (see
/// `still_at`).
pub fn forget_lone_locks(dir: &Path) -> Result<Vec<PathBuf>, ForgetError> {
    let mut removed = Vec::new();
    if !cfg!(unix) {
        return Ok(removed);
    }
    let lone = names_of(dir, ".lock").map_err(|source| ForgetError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    for name in lone {
        if state_path(dir, &name).exists() {
            continue;
        }
        let now = Patience {
            unnamed: Duration::ZERO,
            named: Duration::ZERO,
        };
        let lock = match SupervisorLock::acquire_within(dir, &name, now) {
            Ok(l) => l,
            Err(LockError::Held { .. }) => continue,
            Err(LockError::Io { path, source }) => return Err(ForgetError::Lock { path, source }),
        };
        // A supervisor may have written its state file (and ended) meanwhile.
        if !state_path(dir, &name).exists() {
            let path = lock_path(dir, &name);
            match fs::remove_file(&path) {
                // Unless taking the lock made it (the one seen was removed meanwhile).
                Ok(()) if lock.created => {}
                Ok(()) => removed.push(path),
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(source) => return Err(ForgetError::Io { path, source }),
            }
        }
        drop(lock);
    }
    Ok(removed)
}

/// What [`forget`] did.
#[derive(Debug, PartialEq, Eq)]
pub struct Forgotten {
    /// The files it removed.
    pub removed: Vec<PathBuf>,
}

/// Why [`forget`] removed nothing.
#[derive(Debug, thiserror::Error)]
pub enum ForgetError {
    /// There is no state file of that name.
    #[error("no state of `{name}` in {}", dir.display())]
    Unknown {
        /// The service.
        name: String,
        /// The state directory.
        dir: PathBuf,
    },
    /// Its supervisor runs: its state is current.
    #[error("`{name}` is supervised{}: its state is current", holder.as_ref().map_or(" by a running tend".to_string(), |h| format!(" by pid {} ({})", h.pid, h.spec.display())))]
    Supervised {
        /// The service.
        name: String,
        /// Who, as far as the state file tells.
        holder: Option<Holder>,
    },
    /// The lock file could not be opened or locked.
    #[error("cannot lock {}: {}", path.display(), crate::text::io_error(source))]
    Lock {
        /// The lock file.
        path: PathBuf,
        /// The error.
        source: io::Error,
    },
    /// A file could not be removed.
    #[error("cannot remove {}: {}", path.display(), crate::text::io_error(source))]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: io::Error,
    },
}

/// Removes the state of `name` in `dir` (its state file and lock file), unless a
/// supervisor runs it. The supervisor's own lock says so, not a pid that may have been
/// reused: the files are removed while this holds the lock, for an instant, so a
/// supervisor starting meanwhile waits for it (see [`SupervisorLock::acquire`]) and never
/// loses its files.
pub fn forget(dir: &Path, name: &str) -> Result<Forgotten, ForgetError> {
    let state = state_path(dir, name);
    if !state.exists() {
        return Err(ForgetError::Unknown {
            name: name.to_string(),
            dir: dir.to_path_buf(),
        });
    }
    let lock = match SupervisorLock::acquire_within(dir, name, FORGET_PATIENCE) {
        Ok(l) => l,
        Err(LockError::Held { holder, .. }) => {
            return Err(ForgetError::Supervised {
                name: name.to_string(),
                holder,
            })
        }
        Err(LockError::Io { path, source }) => return Err(ForgetError::Lock { path, source }),
    };
    let mut removed = Vec::new();
    let remove = |path: PathBuf, removed: &mut Vec<PathBuf>| match fs::remove_file(&path) {
        Ok(()) => {
            removed.push(path);
            Ok(())
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(ForgetError::Io { path, source }),
    };
    // The state file first: a supervisor that starts once the lock file is gone takes a
    // new one, and writes its state file after this.
    remove(state, &mut removed)?;
    // A socket of the control channel that a killed supervisor left.
    if let Some(channel) = super::sys::control_file(dir, name) {
        remove(channel, &mut removed)?;
    }
    if cfg!(unix) {
        let before = removed.len();
        remove(lock_path(dir, name), &mut removed)?;
        if lock.created {
            // Made by taking the lock just now: it was not there to remove.
            removed.truncate(before);
        }
    }
    drop(lock);
    Ok(Forgotten { removed })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_temporary_file_left_by_an_earlier_process_with_this_pid_is_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("svc.json");
        let stale = path.with_extension(format!("tmp.{}", std::process::id()));
        fs::write(&stale, "left over").unwrap();
        write_atomic(&path, b"new\n").unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), "new\n");
        assert!(!stale.exists());
    }

    #[test]
    fn unreadable_state_files_say_which_and_why() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("gone.json");
        let err = read_one(&missing).unwrap_err();
        assert!(matches!(err, ReadError::Io { .. }), "{err:?}");
        assert!(!err.to_string().contains("os error"), "{err}");
        assert!(
            err.to_string()
                .starts_with(&format!("{}: ", missing.display())),
            "{err}"
        );
        let garbage = dir.path().join("garbage.json");
        fs::write(&garbage, "{\"name\": 1}").unwrap();
        let err = read_one(&garbage).unwrap_err();
        assert!(matches!(err, ReadError::Json { .. }), "{err:?}");
        assert!(
            err.to_string()
                .starts_with(&format!("{}: not a tend state file (", garbage.display())),
            "{err}"
        );
        let empty = dir.path().join("empty.json");
        fs::write(&empty, "").unwrap();
        let err = read_one(&empty).unwrap_err();
        assert!(matches!(err, ReadError::Empty { .. }), "{err:?}");
        fs::remove_file(&empty).unwrap();
        // Listed next to the good ones.
        let all = read_all(dir.path()).unwrap();
        assert_eq!(all.len(), 1);
        assert!(all[0].is_err());
    }

    fn stopped(name: &str) -> Status {
        Status {
            since_ms: 1,
            ..Status::new(name, State::Stopped, "/srv/tend.toml".into())
        }
    }

    // (Windows keeps lock files: see `still_at`.)
    #[cfg(unix)]
    #[test]
    fn forget_removes_nothing_while_the_lock_is_held_and_everything_after() {
        let dir = tempfile::tempdir().unwrap();
        let dir = dir.path();
        write_status(dir, &stopped("api")).unwrap();
        let held = SupervisorLock::acquire(dir, "api").unwrap();
        let err = forget(dir, "api").unwrap_err();
        // The state file names a live process (this one): its pid and spec are shown.
        assert!(
            matches!(&err, ForgetError::Supervised { holder: Some(h), .. } if h.pid == std::process::id()),
            "{err:?}"
        );
        assert!(state_path(dir, "api").exists() && lock_path(dir, "api").exists());
        drop(held);
        let f = forget(dir, "api").unwrap();
        assert_eq!(
            f.removed,
            [state_path(dir, "api"), lock_path(dir, "api")],
            "the state file first"
        );
        assert!(fs::read_dir(dir).unwrap().next().is_none(), "nothing left");
        assert!(matches!(
            forget(dir, "api").unwrap_err(),
            ForgetError::Unknown { .. }
        ));
        // A name without a state file is unknown, and no lock file is made for it.
        assert!(matches!(
            forget(dir, "never").unwrap_err(),
            ForgetError::Unknown { .. }
        ));
        assert!(!lock_path(dir, "never").exists());
    }

    /// `forget` lists the files that were there, not a lock file it made by locking.
    #[cfg(unix)]
    #[test]
    fn forget_lists_only_the_files_that_were_there() {
        let dir = tempfile::tempdir().unwrap();
        let dir = dir.path();
        fs::write(state_path(dir, "broken"), "{bad\n").unwrap();
        let f = forget(dir, "broken").unwrap();
        assert_eq!(f.removed, [state_path(dir, "broken")]);
        assert!(fs::read_dir(dir).unwrap().next().is_none(), "nothing left");
        // With a lock file, it is listed.
        fs::write(state_path(dir, "broken"), "{bad\n").unwrap();
        fs::write(lock_path(dir, "broken"), "").unwrap();
        let f = forget(dir, "broken").unwrap();
        assert_eq!(
            f.removed,
            [state_path(dir, "broken"), lock_path(dir, "broken")]
        );
    }

    /// A lock file that is another file each time it is locked (file ids that are not
    /// stable) makes a clear error after a few tries, not an endless loop.
    #[test]
    fn a_lock_that_never_stays_gives_up() {
        let dir = tempfile::tempdir().unwrap();
        let mut tries = 0;
        let got = patiently(dir.path(), "api", SUPERVISOR_PATIENCE, || {
            tries += 1;
            assert!(tries <= 10 * AGAIN_AT_MOST, "still trying");
            Ok(Attempt::<()>::Again)
        });
        let Err(Busy::Io(e)) = got else {
            panic!("not given up");
        };
        assert_eq!(tries, AGAIN_AT_MOST);
        let why = e.get_ref().and_then(|e| e.downcast_ref::<Unstable>());
        assert!(
            matches!(why, Some(Unstable { tries }) if *tries == AGAIN_AT_MOST),
            "{e}"
        );
        assert!(e.to_string().contains("file ids"), "{e}");
    }

    /// A supervisor that opened the lock file just before [`forget`] removed it must not
    /// hold a lock on the removed file: it locks the file now at the path.
    #[cfg(unix)]
    #[test]
    fn a_lock_on_a_removed_lock_file_is_taken_again() {
        let dir = tempfile::tempdir().unwrap();
        let dir = dir.path();
        let path = lock_path(dir, "api");
        let old = fs::File::create(&path).unwrap();
        assert!(still_at(&old, &path));
        fs::remove_file(&path).unwrap();
        assert!(!still_at(&old, &path));
        fs::File::create(&path).unwrap();
        assert!(!still_at(&old, &path), "another file at the path");
        let _held = SupervisorLock::acquire(dir, "api").unwrap();
        // Held on the file at the path: a second one is refused.
        assert!(matches!(
            SupervisorLock::acquire(dir, "api").unwrap_err(),
            LockError::Held { .. }
        ));
    }

    #[test]
    fn a_held_lock_names_the_spec_and_pid_and_says_what_to_do() {
        let dir = tempfile::tempdir().unwrap();
        let dir = dir.path();
        let _held = SupervisorLock::acquire(dir, "api").unwrap();
        // Before its supervisor wrote the state file.
        let err = SupervisorLock::acquire(dir, "api").unwrap_err().to_string();
        assert!(
            err.starts_with(
                "a service `api` is already supervised by another tend process\n  = help: "
            ),
            "{err}"
        );
        write_status(dir, &stopped("api")).unwrap();
        let err = SupervisorLock::acquire(dir, "api").unwrap_err().to_string();
        assert_eq!(
            err,
            format!(
                "a service `api` from /srv/tend.toml is already supervised (pid {})\n  = help: stop that one first; to run both, rename this one or give it another --state-dir",
                std::process::id()
            )
        );
    }

    /// A pid in a state file proves nothing (it may have been reused after a reboot):
    /// whether a supervisor runs is whether its lock is held.
    #[test]
    fn supervised_is_the_lock_held_not_the_pid_alive() {
        let dir = tempfile::tempdir().unwrap();
        let dir = dir.path();
        // No lock file: not supervised, and none is made.
        assert!(!supervised(dir, "api").unwrap());
        assert!(!lock_path(dir, "api").exists());
        // The state file names a live process (this one) that holds no lock.
        let mut s = stopped("api");
        s.state = State::Running;
        write_status(dir, &s).unwrap();
        fs::write(lock_path(dir, "api"), "").unwrap();
        assert!(!supervised(dir, "api").unwrap());
        let held = SupervisorLock::acquire(dir, "api").unwrap();
        assert!(supervised(dir, "api").unwrap());
        drop(held);
        assert!(!supervised(dir, "api").unwrap());
        // The probe holds nothing afterwards: a supervisor takes the lock at once.
        let _held = SupervisorLock::acquire_within(
            dir,
            "api",
            Patience {
                unnamed: Duration::ZERO,
                named: Duration::ZERO,
            },
        )
        .unwrap();
    }

    /// `tend status`, `tend status --prune` and `tend forget` take a service's lock for
    /// an instant: a supervisor starting at that instant waits for them instead of
    /// failing with "already supervised".
    #[cfg(unix)]
    #[test]
    fn readers_and_forgetters_never_fail_a_start() {
        use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
        let dir = tempfile::tempdir().unwrap();
        let dir = dir.path();
        // The state a supervisor that has ended leaves: its pid names no process.
        let gone = {
            let mut c = std::process::Command::new("true").spawn().unwrap();
            let pid = c.id();
            c.wait().unwrap();
            pid
        };
        let mut s = stopped("api");
        s.supervisor_pid = gone;
        let done = AtomicBool::new(false);
        let (probes, forgets) = (AtomicUsize::new(0), AtomicUsize::new(0));
        std::thread::scope(|scope| {
            scope.spawn(|| {
                while !done.load(Ordering::Relaxed) {
                    let _ = supervised(dir, "api");
                    probes.fetch_add(1, Ordering::Relaxed);
                }
            });
            scope.spawn(|| {
                while !done.load(Ordering::Relaxed) {
                    if forget(dir, "api").is_ok() {
                        forgets.fetch_add(1, Ordering::Relaxed);
                    }
                }
            });
            let starts = (0..500)
                .map(|_| {
                    let lock = SupervisorLock::acquire(dir, "api");
                    if lock.is_ok() {
                        write_status(dir, &s).unwrap();
                    }
                    lock.map(drop).map_err(|e| e.to_string())
                })
                .collect::<Vec<_>>();
            done.store(true, Ordering::Relaxed);
            let failed: Vec<_> = starts.iter().filter_map(|r| r.as_ref().err()).collect();
            assert!(
                failed.is_empty(),
                "{} of 500 starts failed: {:?}",
                failed.len(),
                failed.first()
            );
        });
        // The two really ran against the starts.
        assert!(probes.into_inner() > 0 && forgets.into_inner() > 0);
    }

    #[cfg(unix)]
    #[test]
    fn lone_lock_files_go_unless_held_or_beside_a_state_file() {
        let dir = tempfile::tempdir().unwrap();
        let dir = dir.path();
        for n in ["lone", "held", "kept"] {
            fs::write(lock_path(dir, n), "").unwrap();
        }
        write_status(dir, &stopped("kept")).unwrap();
        let _held = SupervisorLock::acquire(dir, "held").unwrap();
        assert_eq!(forget_lone_locks(dir).unwrap(), [lock_path(dir, "lone")]);
        assert!(!lock_path(dir, "lone").exists());
        assert!(lock_path(dir, "held").exists(), "a starting supervisor's");
        assert!(lock_path(dir, "kept").exists(), "a state file's");
        assert!(forget_lone_locks(&dir.join("missing")).unwrap().is_empty());
    }

    #[test]
    fn names_are_the_state_files_sorted() {
        let dir = tempfile::tempdir().unwrap();
        for f in [
            "web.json",
            "api.json",
            "api.lock",
            "api.tmp.12",
            "junk.json",
        ] {
            fs::write(dir.path().join(f), "").unwrap();
        }
        assert_eq!(names(dir.path()).unwrap(), ["api", "junk", "web"]);
        assert!(names(&dir.path().join("missing")).unwrap().is_empty());
    }

    #[test]
    fn round_trip_and_atomic_replace() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Status {
            supervisor_pid: 1,
            pid: Some(2),
            started_at_ms: Some(3),
            since_ms: 3,
            ..Status::new("orders", State::Running, "/etc/tend/orders.toml".into())
        };
        write_status(dir.path(), &s).unwrap();
        s.restarts = 7;
        s.last_stderr = Some("Error: listen tcp :8080: address already in use".into());
        s.last_exit = Some(LastExit {
            code: None,
            signal: Some("SIGKILL".into()),
            at_ms: 9,
            oom_killed: true,
        });
        write_status(dir.path(), &s).unwrap();
        let all = read_all(dir.path()).unwrap();
        assert_eq!(all.len(), 1, "no temporary file left behind");
        assert_eq!(all[0].as_ref().unwrap(), &s);
    }
}
