//! Native service managers behind one trait.
//!
//! Each backend has two halves: `render`, a pure function from an installed spec to the
//! files the service manager needs (snapshot-tested), and a handful of commands that
//! drive the manager (`systemctl`, `rc-service`, ...), whose failures carry the tool's
//! own stderr. Installing goes through one engine ([`engine`]: observe, plan, apply,
//! roll back); the Unix backends share one planner and applier ([`install`], Unix
//! only) and Windows has its own ([`windows`], compiled everywhere).

pub mod engine;
pub mod error;
pub mod escape;
#[cfg(unix)]
pub mod install;
pub mod launchd;
pub mod openrc;
pub mod parse_back;
pub mod procd;
pub mod record;
pub mod systemd;
pub mod sysv;
pub mod windows;

use std::path::{Path, PathBuf};
use std::process::Command;

pub use self::error::InstallError;
use crate::spec::Spec;

/// Where installed services live.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Layout {
    /// Installed specs (`/etc/tend`).
    pub spec_dir: PathBuf,
    /// Per-service state directories (`/var/lib/tend`).
    pub state_root: PathBuf,
    /// Per-service log directories (`/var/log/tend`).
    pub log_root: PathBuf,
    /// The tend binary the service manager runs (absolute).
    pub tend_bin: PathBuf,
}

impl Layout {
    /// This machine's layout, with `tend_bin` as given: [`Layout::windows`] on
    /// Windows, [`Layout::unix`] elsewhere.
    pub fn system(tend_bin: PathBuf) -> Layout {
        if cfg!(windows) {
            Layout::windows(tend_bin)
        } else {
            Layout::unix(tend_bin)
        }
    }

    /// The Unix layout: `/etc/tend`, `/var/lib/tend`, `/var/log/tend`.
    pub fn unix(tend_bin: PathBuf) -> Layout {
        Layout {
            spec_dir: "/etc/tend".into(),
            state_root: "/var/lib/tend".into(),
            log_root: "/var/log/tend".into(),
            tend_bin,
        }
    }

    /// The Windows layout: `%ProgramData%\tend` holds the installed specs, with
    /// `state\NAME` and `logs\NAME` beside them. Elsewhere (a dry run of a Windows
    /// install) `%ProgramData%` is `C:\ProgramData`, and the paths are still joined
    /// with backslashes.
    pub fn windows(tend_bin: PathBuf) -> Layout {
        let data = if cfg!(windows) {
            std::env::var_os("ProgramData").map(PathBuf::from)
        } else {
            None
        };
        let root = join(
            &data.unwrap_or_else(|| PathBuf::from(r"C:\ProgramData")),
            "tend",
        );
        Layout {
            state_root: join(&root, "state"),
            log_root: join(&root, "logs"),
            spec_dir: root,
            tend_bin,
        }
    }

    /// Whether this is a Windows layout (its paths have drive letters and backslashes).
    pub fn is_windows(&self) -> bool {
        cfg!(windows) || windows_style(&self.spec_dir)
    }

    /// The installed spec of `name`.
    pub fn spec_path(&self, name: &str) -> PathBuf {
        join(&self.spec_dir, &format!("{name}.toml"))
    }
    /// What tend records about an install (who created the account, which backend).
    pub fn record_path(&self, name: &str) -> PathBuf {
        join(&self.spec_dir, &format!("{name}.install.json"))
    }
    /// The names of the services installed here (those with an install record), sorted;
    /// none when the folder cannot be read.
    pub fn installed_names(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(&self.spec_dir)
            .map(|d| {
                d.filter_map(|e| e.ok())
                    .filter_map(|e| e.file_name().into_string().ok())
                    .filter_map(|f| f.strip_suffix(".install.json").map(str::to_string))
                    // Not a temporary file of an install.
                    .filter(|n| crate::spec::ServiceName::new(n).is_ok())
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names
    }
    /// The state directory of `name`.
    pub fn state_dir(&self, name: &str) -> PathBuf {
        join(&self.state_root, name)
    }
    /// The log directory of `spec` (its own `log.dir`, or the default).
    pub fn log_dir(&self, spec: &Spec) -> PathBuf {
        spec.log
            .dir
            .clone()
            .unwrap_or_else(|| join(&self.log_root, spec.name.as_str()))
    }
    /// The command line the service manager runs: `tend run` on the installed spec.
    pub fn run_argv(&self, spec: &Spec) -> Vec<String> {
        let name = spec.name.as_str();
        vec![
            self.tend_bin.display().to_string(),
            "run".into(),
            "--state-dir".into(),
            self.state_dir(name).display().to_string(),
            "--log-dir".into(),
            self.log_dir(spec).display().to_string(),
            self.spec_path(name).display().to_string(),
        ]
    }
}

impl Layout {
    /// What a service manager's reload runs for a spec with `[reload]`: `tend reload
    /// --state-dir STATE NAME` (its supervisor's control channel is in STATE).
    pub fn reload_argv(&self, spec: &Spec) -> Option<Vec<String>> {
        spec.reload.as_ref()?;
        let name = spec.name.as_str();
        Some(vec![
            self.tend_bin.display().to_string(),
            "reload".into(),
            "--state-dir".into(),
            self.state_dir(name).display().to_string(),
            name.to_string(),
        ])
    }
}

/// Whether `p` is an absolute Windows path (`C:\…`, `\\server\…`), whatever this OS.
pub(crate) fn windows_style(p: &Path) -> bool {
    p.to_str().is_some_and(|s| {
        let b = s.as_bytes();
        s.starts_with(r"\\")
            || (b.len() >= 3 && b[0].is_ascii_alphabetic() && b[1] == b':' && b[2] == b'\\')
    })
}

/// `dir` joined with `name`, with the separator of `dir`'s own style: a Windows path
/// shown on Linux (a dry run of a Windows install) keeps its backslashes.
pub fn join(dir: &Path, name: &str) -> PathBuf {
    match dir.to_str() {
        Some(d) if !cfg!(windows) && windows_style(dir) => {
            PathBuf::from(format!("{}\\{name}", d.trim_end_matches('\\')))
        }
        _ => dir.join(name),
    }
}

/// Whether every service manager can run tend from `path`, as the first word of
/// systemd's `ExecStart=`, OpenRC's `command=`, SysV's `DAEMON=` and launchd's
/// `ProgramArguments`: an absolute, normalized UTF-8 path without control characters,
/// quotes or backslashes (systemd refuses those in an executable: "Executable name
/// contains special characters"). `tend install` copies tend to `/usr/local/bin/tend`
/// when it runs from anywhere else.
pub fn check_tend_path(path: &Path) -> Result<(), InstallError> {
    let text = path
        .to_str()
        .ok_or_else(|| InstallError::Refused(format!("{} is not valid UTF-8", path.display())))?;
    if let Some(c) = text
        .chars()
        .find(|c| c.is_control() || "\"'\\".contains(*c))
    {
        return Err(InstallError::Refused(format!(
            "{text:?} contains {c:?}, which systemd refuses in the program it runs"
        )));
    }
    let normal = text.starts_with('/')
        && text.len() < 4096
        && text[1..]
            .split('/')
            .all(|c| !matches!(c, "" | "." | "..") && c.len() <= 255);
    if !normal {
        return Err(InstallError::Refused(format!(
            "{text:?} is not an absolute, normalized path"
        )));
    }
    Ok(())
}

/// How long a service manager should wait for tend to stop: the spec's stop timeout
/// plus a margin for tend's own shutdown (draining logs, the state file), so the
/// manager never kills tend while it is still stopping the program gracefully.
pub fn manager_stop_timeout_secs(spec: &Spec) -> u64 {
    spec.stop.timeout.get().as_secs_f64().ceil() as u64 + 5
}

/// A file a backend needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Artifact {
    /// Where it goes.
    pub path: PathBuf,
    /// Its full text.
    pub content: String,
    /// Its permission bits.
    pub mode: u32,
}

/// A command to run, shown as is in `--dry-run`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cmd {
    /// The program.
    pub program: String,
    /// Its arguments.
    pub args: Vec<String>,
}

impl Cmd {
    /// A command from words.
    pub fn new(program: &str, args: &[&str]) -> Cmd {
        Cmd {
            program: program.into(),
            args: args.iter().map(|a| a.to_string()).collect(),
        }
    }
    /// Runs it; a failure carries the tool's stderr.
    ///
    /// Unix: the tool ignores SIGPIPE, so that if tend is killed while it runs (the
    /// pipes it writes to then have no reader) it still finishes its work instead of
    /// dying halfway: an `rc-service start` cut short leaves OpenRC's state stuck in
    /// `starting`, with a service nothing stops.
    pub fn run(&self) -> Result<String, InstallError> {
        let mut command = Command::new(&self.program);
        command.args(&self.args);
        #[cfg(unix)]
        {
            use std::os::unix::process::CommandExt;
            // SAFETY: the closure runs in the forked child before exec and makes one
            // async-signal-safe call.
            unsafe {
                command.pre_exec(|| {
                    // SAFETY: plain system call with constant arguments.
                    libc::signal(libc::SIGPIPE, libc::SIG_IGN);
                    Ok(())
                });
            }
        }
        let out = command.output().map_err(|source| InstallError::Spawn {
            command: self.to_string(),
            source,
        })?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).to_string())
        } else {
            Err(InstallError::Tool {
                command: self.to_string(),
                status: out.status.to_string(),
                stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
            })
        }
    }
}

impl std::fmt::Display for Cmd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut words = vec![self.program.as_str()];
        words.extend(self.args.iter().map(String::as_str));
        f.write_str(&escape::sh_words(&words))
    }
}

/// What the service manager says about a service.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct NativeStatus {
    /// Its state word (`active`, `inactive`, `failed`, `started`, `stopped`, ...).
    pub active: String,
    /// A finer state, where the manager has one (systemd's SubState).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sub: Option<String>,
    /// Whether it starts at boot.
    pub enabled: bool,
    /// The main pid the manager watches.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub main_pid: Option<u32>,
}

/// One service manager. Its contract:
/// - `render` is pure: the same spec and layout give the same files, byte for byte,
///   which is what makes reinstalling a no-op and drift detectable;
/// - the command lists (`enable`, `disable`, ...) are what `--dry-run` prints and what
///   install runs, in order;
/// - `query` reads the manager's view without changing anything.
pub trait Backend {
    /// The backend's name (`systemd`, `openrc`, ...).
    fn name(&self) -> &'static str;
    /// The files for `spec` installed in `layout`.
    fn render(&self, spec: &Spec, layout: &Layout) -> Vec<Artifact>;
    /// After the files are written: reload the manager and enable at boot.
    fn enable(&self, name: &str) -> Vec<Cmd>;
    /// Before the files are removed: disable at boot.
    fn disable(&self, name: &str) -> Vec<Cmd>;
    /// After the files are removed.
    fn forget(&self, name: &str) -> Vec<Cmd>;
    /// Start, stop, restart.
    fn control(&self, name: &str, verb: Verb) -> Cmd;
    /// [`Backend::control`] for tend's own wait on the supervisor's state: a manager
    /// whose start waits for readiness (systemd) is asked not to, so that tend says
    /// why a start does not come up (a health probe's error) as soon as it knows,
    /// with its own timeout. The same command where the manager does not wait.
    fn control_no_wait(&self, name: &str, verb: Verb) -> Cmd {
        self.control(name, verb)
    }
    /// The manager's view of the service.
    fn query(&self, name: &str) -> Result<NativeStatus, InstallError>;
    /// Whether this backend can run on this machine at all (its tools exist).
    fn can_apply(&self) -> bool;
}

/// A control verb.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verb {
    /// Start the service.
    Start,
    /// Stop it.
    Stop,
    /// Restart it.
    Restart,
}

impl Verb {
    /// The word.
    pub fn as_str(self) -> &'static str {
        match self {
            Verb::Start => "start",
            Verb::Stop => "stop",
            Verb::Restart => "restart",
        }
    }
}

/// The backend names, for `--backend`.
pub const BACKENDS: &[&str] = &["systemd", "openrc", "launchd", "sysv", "procd", "windows"];

/// The Unix backend called `name` (Windows has its own engine, [`windows`]).
pub fn backend(name: &str) -> Option<Box<dyn Backend>> {
    match name {
        "systemd" => Some(Box::new(systemd::Systemd)),
        "openrc" => Some(Box::new(openrc::OpenRc)),
        "launchd" => Some(Box::new(launchd::Launchd)),
        "sysv" => Some(Box::new(sysv::SysV)),
        "procd" => Some(Box::new(procd::Procd)),
        _ => None,
    }
}

/// The backend to use: `flag` (`--backend`), else this machine's service manager
/// (the SCM on Windows).
pub fn backend_name(flag: Option<&str>) -> Result<&'static str, InstallError> {
    if let Some(f) = flag {
        return BACKENDS
            .iter()
            .copied()
            .find(|b| *b == f)
            .ok_or_else(|| InstallError::Refused(format!("unknown backend `{f}`")));
    }
    if cfg!(windows) {
        return Ok(windows::BACKEND);
    }
    detect(Path::new("/")).ok_or_else(|| {
        InstallError::Refused("no supported service manager found (looked for /run/systemd/system, /run/openrc, and /sbin/procd with /etc/rc.common); pass --backend".into())
    })
}

/// The Unix backend to use: `flag`, else the one recorded at install, else detected.
/// A name tend does not know (a corrupt or foreign record) is refused as such.
pub fn pick_backend(
    flag: Option<&str>,
    recorded: Option<&str>,
) -> Result<Box<dyn Backend>, InstallError> {
    let name = match flag.or(recorded) {
        Some(n) => n,
        None => backend_name(None)?,
    };
    if !BACKENDS.contains(&name) {
        return Err(InstallError::Refused(format!("unknown backend `{name}`")));
    }
    backend(name).ok_or_else(|| InstallError::not_here(format!("managing a {name} service")))
}

/// Refuses `what` (`tend install`) unless this process may change the system: root on
/// Unix (on Windows the SCM itself refuses a user who is not an administrator).
pub fn need_root(what: &'static str) -> Result<(), InstallError> {
    #[cfg(unix)]
    if crate::supervise::sys::euid() != 0 {
        return Err(InstallError::NeedsRoot { what });
    }
    let _ = what;
    Ok(())
}

/// The service manager of this machine (`root` is `/` but in tests): systemd if
/// `/run/systemd/system` exists, OpenRC if `/run/openrc` exists, else procd (OpenWrt)
/// if `/sbin/procd` and `/etc/rc.common` do.
pub fn detect(root: &Path) -> Option<&'static str> {
    if root.join("run/systemd/system").is_dir() {
        Some("systemd")
    } else if root.join("run/openrc").is_dir() {
        Some("openrc")
    } else if root.join("sbin/procd").is_file() && root.join("etc/rc.common").is_file() {
        Some("procd")
    } else if cfg!(target_os = "macos") {
        Some("launchd")
    } else {
        None
    }
}
