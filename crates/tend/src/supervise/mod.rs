//! The supervisor: runs services, restarts them, stops them, captures their output.
//!
//! # Theory of operation
//!
//! Everything runs on one thread, in a current-thread tokio runtime:
//!
//! - one **actor** per service ([`service::run_service`]) owns the service's state and
//!   reacts to events — its child exited, a control command, a timer — using the pure
//!   restart policy in [`policy`];
//! - one **reaper** collects every exit status (`waitpid(-1)` on SIGCHLD) and hands it
//!   to the actor that is waiting for that pid; exits of unknown pids are orphans that
//!   were re-parented to the supervisor (a subreaper) and are simply collected;
//! - one **pump** per child stream drains the pipe into a sink ([`pump`], [`logfile`])
//!   that outlives the child;
//! - **observers** receive every status change: the state file ([`state`]), the
//!   console, and the manager that hosts the supervisor ([`host`]: systemd's notify
//!   protocol, the Windows SCM), and the metrics ([`metrics`], `GET /metrics`, when
//!   asked for).
//!
//! Platform differences live in [`sys`], which has the same names on every OS.
//!
//! Containment (Unix): each child leads a process group and dies with the supervisor
//! (`PR_SET_PDEATHSIG`); stopping kills the group and any orphan; and a guard process
//! (see [`sys::fork_guard`]) kills whatever is left if the supervisor itself is killed.

/// A line on stderr that never panics: the terminal or pipe behind it may be gone
/// (`tend up | head`), and that must not take the services down.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr().lock(), $($arg)*);
    }};
}
pub(crate) use say;

mod channel;
pub mod control;
pub mod event;
pub mod eventlog;
pub mod health;
pub mod hook;
pub mod host;
pub mod job_limits;
pub mod listen;
pub mod logfile;
pub mod metrics;
pub mod policy;
pub mod prepare;
pub mod pump;
pub mod resources;
pub mod service;
pub mod state;
pub mod sys;
pub mod syslog;
pub mod tls;
mod upgrade;

pub use sys::{default_log_dir, default_state_dir, Reaper};

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::future::Future;
use std::io;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use tokio::sync::{mpsc, watch};

use crate::spec::{LogTarget, Spec};

use event::{Event, StopBy};
use logfile::{CombinedLog, RotateConfig};
use pump::{ConsoleSink, SharedSink, Sink};
use service::{Control, Observer, Outcome, ServiceSetup};
use state::{State, Status};

/// Where the supervisor keeps state and logs, and how it reports.
#[derive(Clone, Debug)]
pub struct Options {
    /// Directory of the state files.
    pub state_dir: PathBuf,
    /// Default directory of the log files (a spec's `log.dir` overrides it).
    pub log_dir: PathBuf,
    /// Show the children's output on the terminal, prefixed by service (`tend up`)
    /// instead of writing log files.
    pub console: bool,
    /// Colour the prefixes.
    pub color: bool,
    /// Colour the lifecycle lines on stderr (a `giving up` stands out).
    pub color_events: bool,
    /// A person runs this at a terminal and can press Ctrl-C again: a stop on Ctrl-C
    /// says that a second one kills at once.
    pub interactive: bool,
    /// Report readiness and status to the init system (systemd's `NOTIFY_SOCKET`).
    pub notify: bool,
    /// Serve the services' metrics at `GET /metrics` on this address (`[metrics]
    /// listen`, `--metrics`).
    pub metrics: Option<std::net::SocketAddr>,
}

struct StateFile {
    dir: PathBuf,
    failed: bool,
    /// When a probe's result was last written (a change of health is written at once).
    probe_written: Option<std::time::Instant>,
}

/// How often, at most, the state file is rewritten for a probe's result alone.
const PROBE_WRITE_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

impl Observer for StateFile {
    fn counters(&mut self, status: &Status) {
        self.write(status);
    }

    fn changed(&mut self, status: &Status, _event: &Event) {
        self.write(status);
    }

    /// `tend status` shows the last probe's result: written at most once a second
    /// (probes every 10 ms would otherwise cost a write each).
    fn probed(&mut self, status: &Status, _took: std::time::Duration) {
        if self
            .probe_written
            .is_none_or(|t| t.elapsed() >= PROBE_WRITE_EVERY)
        {
            self.probe_written = Some(std::time::Instant::now());
            self.write(status);
        }
    }
}

impl StateFile {
    fn write(&mut self, status: &Status) {
        match state::write_status(&self.dir, status) {
            Ok(()) => self.failed = false,
            Err(e) if !self.failed => {
                self.failed = true;
                say!(
                    "tend: {}: error: cannot write the state file in {}: {}",
                    status.name,
                    self.dir.display(),
                    crate::text::io_error(&e)
                );
            }
            Err(_) => {}
        }
    }
}

/// The lifecycle lines on stderr (the terminal, or the journal under systemd).
struct EventLog {
    /// `tend: NAME: `.
    prefix: String,
    /// See [`Options::interactive`].
    interactive: bool,
    /// See [`Options::color_events`].
    color: bool,
}

impl EventLog {
    /// The event as lines: `tend: web: exit code 1 after 38ms; restarting in 1s`, then
    /// the last stderr lines, each as `  stderr: ...`.
    fn render(&self, event: &Event) -> String {
        let mut out = self.prefix.clone();
        match event {
            Event::GaveUp { .. } if self.color => {
                out.push_str(&format!("\x1b[1;31m{event}\x1b[0m"));
            }
            Event::StopRequested {
                by, restart: false, ..
            } if self.interactive && by.is_ctrl_c() => {
                out.push_str(&format!("{event}; Ctrl-C again to kill now"));
            }
            _ => out.push_str(&event.to_string()),
        }
        // Also in `tend up`, where they were on the console already: among the output
        // of several services, the reason is then right under the exit.
        for line in event.stderr() {
            out.push_str("\n  stderr: ");
            out.push_str(line);
        }
        out
    }
}

impl Observer for EventLog {
    fn changed(&mut self, _status: &Status, event: &Event) {
        // Rendered first: stderr is unbuffered, and the event's parts would each be a
        // write of their own.
        let lines = self.render(event);
        say!("{lines}");
    }
}

/// A service's state as the supervisor's loop sees it: for its dependents, and for the
/// answers of the control channel.
#[derive(Clone, Debug)]
struct Seen {
    state: State,
    pid: Option<i32>,
    message: Option<String>,
    /// Not started, waiting for a dependency that was started on request and could
    /// not run (`message` says which): a `tend start` of it is answered at once.
    blocked: bool,
    /// Up for its dependents ([`Status::ready`]: with `[health]`, healthy).
    ready: bool,
    /// Its start came to something ([`Status::start_settled`]).
    settled: bool,
    /// With `[health]`, when it is not healthy: `unhealthy: ...` or `not healthy yet:
    /// ...`, the last probe's result.
    health: Option<String>,
    /// Not ready, and it turned unhealthy (maybe restarted since): its dependents
    /// wait, and say why.
    unhealthy: bool,
}

impl Seen {
    fn starting() -> Seen {
        Seen {
            state: State::Starting,
            pid: None,
            message: None,
            blocked: false,
            ready: false,
            settled: false,
            health: None,
            unhealthy: false,
        }
    }

    /// A service without an actor, as `state` with `message`.
    fn unstarted(state: State, message: Option<String>, blocked: bool) -> Seen {
        Seen {
            state,
            message,
            blocked,
            settled: state != State::Starting,
            ..Seen::starting()
        }
    }

    /// What a supervisor's loop sees of `status`.
    fn of(status: &Status) -> Seen {
        let unhealthy = status.unhealthy.as_ref().filter(|_| !status.ready());
        let health = status.health.as_ref().and_then(|h| {
            let last = h.last_probe.as_ref().map(|p| p.result.as_str());
            match (h.state, last) {
                (state::HealthState::Healthy, _) => None,
                (state::HealthState::Unhealthy, Some(last)) => Some(format!("unhealthy: {last}")),
                (state::HealthState::Unhealthy, None) => Some("unhealthy".into()),
                (state::HealthState::Starting, Some(last)) => {
                    Some(format!("not healthy yet: {last}"))
                }
                (state::HealthState::Starting, None) => Some("not probed yet".into()),
            }
        });
        Seen {
            state: status.state,
            pid: status.pid,
            message: status.message.clone(),
            blocked: false,
            ready: status.ready(),
            settled: status.start_settled(),
            health: unhealthy
                .map(|why| format!("unhealthy: {why}"))
                .or(health.filter(|_| status.state == State::Running)),
            unhealthy: unhealthy.is_some(),
        }
    }

    /// `` `api` is running (pid 42)``, `` `api` is failed: why``, `` `api` is in
    /// backoff: why``.
    fn describe(&self, name: &str) -> String {
        let state = match self.state {
            State::Backoff => "in backoff",
            st => st.as_str(),
        };
        match (self.pid, &self.message) {
            (Some(pid), _) if self.health.is_some() => format!(
                "`{name}` is {state} (pid {pid}) but {}",
                self.health.as_deref().unwrap_or_default()
            ),
            (Some(pid), _) => format!("`{name}` is {state} (pid {pid})"),
            (None, Some(m)) => format!("`{name}` is {state}: {m}"),
            (None, None) => format!("`{name}` is {state}"),
        }
    }
}

/// Passes a service's state on to the supervisor's loop, and wakes it up.
struct StateWatch(watch::Sender<Seen>, Rc<tokio::sync::Notify>);

impl Observer for StateWatch {
    fn changed(&mut self, status: &Status, _event: &Event) {
        let _ = self.0.send(Seen::of(status));
        self.1.notify_one();
    }
}

const COLORS: [&str; 6] = ["36", "33", "35", "32", "34", "31"];

fn open_sinks(
    spec: &Spec,
    base: &Path,
    opts: &Options,
    prefix: &str,
) -> Result<(Option<SharedSink>, Option<SharedSink>), SuperviseError> {
    let log = &spec.log;
    // One file for both streams (see logfile's module doc), opened if one goes there.
    let file = if !opts.console && [log.stdout, log.stderr].contains(&LogTarget::File) {
        let f = CombinedLog::open(RotateConfig {
            // Relative to the spec's folder, like every path in a spec.
            dir: logfile::log_dir(spec, base, &opts.log_dir),
            stem: spec.name.to_string(),
            max_size: log.max_size.0,
            every: log.rotate,
            retention: logfile::Retention {
                keep: log.keep,
                max_age: log.max_age.map(|d| d.0),
                max_total: log.max_total.map(|s| s.0),
            },
            compress: log.compress,
            timestamps: log.timestamps,
        })
        .map_err(io_err(format!("cannot open the log of {}", spec.name)))?;
        Some(Rc::new(RefCell::new(f)))
    } else {
        None
    };
    let mut syslog = None;
    let mut sink = |target: LogTarget, which: logfile::Stream| -> Result<_, SuperviseError> {
        let sink = match (target, opts.console) {
            (LogTarget::Null, _) => return Ok(None),
            (_, true) => Sink::Console(ConsoleSink::new(
                prefix.to_string(),
                which == logfile::Stream::Err,
            )),
            (LogTarget::Inherit, false) => return Ok(None),
            (LogTarget::File, false) => match &file {
                Some(f) => Sink::File(f.clone(), which),
                None => return Ok(None),
            },
            (LogTarget::Syslog, false) => {
                if syslog.is_none() {
                    let dest = syslog::Destination::of(log.syslog.as_deref()).map_err(|e| {
                        SuperviseError::Io {
                            what: format!("log.syslog of {}", spec.name),
                            source: io::Error::new(io::ErrorKind::InvalidInput, e),
                        }
                    })?;
                    syslog = Some(syslog::Sender::start(dest));
                }
                let Some(sender) = &syslog else {
                    return Ok(None);
                };
                Sink::Syslog(syslog::SyslogSink::new(
                    sender.clone(),
                    spec.name.to_string(),
                    which,
                ))
            }
        };
        Ok(Some(Rc::new(RefCell::new(sink))))
    };
    let stdout = sink(log.stdout, logfile::Stream::Out)?;
    let stderr = sink(log.stderr, logfile::Stream::Err)?;
    Ok((stdout, stderr))
}

/// Where the log files of `spec` are written, as [`open_sinks`] resolves it, for the
/// state file: `tend logs` reads them there, not where the spec alone (without the
/// run's profile, `--set` or log directory) would put them. None on the console.
fn log_place(spec: &Spec, base: &Path, opts: &Options) -> Option<state::LogPlace> {
    if opts.console {
        return None;
    }
    let dir = logfile::log_dir(spec, base, &opts.log_dir);
    Some(state::LogPlace {
        dir: std::path::absolute(&dir).unwrap_or(dir),
        stdout: spec.log.stdout,
        stderr: spec.log.stderr,
        timestamps: spec.log.timestamps,
    })
}

/// Where one stream of a service's output goes.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Goes {
    /// To this log file.
    File(PathBuf),
    /// To tend's own stream (the terminal, or the service manager's log).
    Inherited,
    /// Nowhere (`null`).
    Discarded,
    /// To syslog, at this address.
    Syslog(String),
}

impl Goes {
    fn of(target: LogTarget, sink: Option<&SharedSink>) -> Goes {
        match (target, sink.map(|s| s.borrow())) {
            (_, Some(s)) => match &*s {
                Sink::File(f, _) => Goes::File(f.borrow().path()),
                Sink::Console(_) => Goes::Inherited,
                Sink::Syslog(s) => Goes::Syslog(s.destination()),
            },
            (LogTarget::Null, None) => Goes::Discarded,
            (_, None) => Goes::Inherited,
        }
    }
}

/// `tend: web: output: stdout to /var/log/tend/web.out.log, stderr to
/// /var/log/tend/web.err.log`: said as a service starts (not on the console, where its
/// output is shown), so that its logs are found.
fn output_line(setup: &ServiceSetup) -> String {
    let log = &setup.spec.log;
    let streams = [
        ("stdout", Goes::of(log.stdout, setup.stdout.as_ref())),
        ("stderr", Goes::of(log.stderr, setup.stderr.as_ref())),
    ];
    format!(
        "tend: {}: output: {}",
        setup.spec.name,
        describe_output(&streams)
    )
}

/// Where each stream goes, in words (see [`output_line`]).
fn describe_output(streams: &[(&str, Goes)]) -> String {
    streams
        .iter()
        .map(|(stream, goes)| match goes {
            Goes::File(p) => format!("{stream} to {}", p.display()),
            Goes::Inherited => {
                format!("{stream} inherited (the terminal, or the service manager's log)")
            }
            Goes::Discarded => format!("{stream} discarded"),
            Goes::Syslog(to) => format!("{stream} to syslog ({to})"),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// What the outside world asks of the supervisor: signals on Unix, console events on
/// Windows, the service control manager's controls.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Request {
    /// Stop every service (a second one while stopping: kill them at once).
    Stop(StopBy),
    /// Reopen the log files (after an external rotation).
    ReopenLogs,
    /// Restart every service's child (gracefully).
    Restart(StopBy),
    /// Tell every service's child to re-read its configuration (`[reload]`).
    Reload(StopBy),
    /// Freeze every running service's process tree (the SCM's PAUSE); each actor
    /// reports it (an event), or says why not.
    Pause,
    /// Let every paused service's tree run again (the SCM's CONTINUE).
    Continue,
    /// Something with no meaning here, reported and ignored.
    Ignored(&'static str),
}

/// What a caller adds to [`supervise`]: requests of its own (e.g. from the SCM) and
/// observers for each service (e.g. the SCM status, the Event Log).
#[derive(Default)]
pub struct Extras {
    /// More requests, merged with the OS signals.
    pub requests: Option<mpsc::UnboundedReceiver<Request>>,
    /// Builds extra observers for a service.
    #[allow(clippy::type_complexity)]
    pub observers: Option<Box<dyn Fn(&Spec) -> Vec<Box<dyn Observer>>>>,
}

/// Why the supervisor could not start.
#[derive(Debug, thiserror::Error)]
pub enum SuperviseError {
    /// A service could not be prepared (missing program, unknown user, ...).
    #[error("{0}")]
    Prepare(#[from] prepare::PrepareError),
    /// Another supervisor already runs one of the services.
    #[error("{0}")]
    Locked(#[from] state::LockError),
    /// The metrics address cannot be listened on.
    #[error("cannot serve the metrics on {addr}: {}{}", crate::text::io_error(source), in_use_hint(source, holder.as_deref()))]
    Metrics {
        /// The address.
        addr: std::net::SocketAddr,
        /// Why.
        source: io::Error,
        /// The process that listens there, when it is known (`pid 42 (nginx)`).
        holder: Option<String>,
    },
    /// The log or state directory, or a signal handler, could not be set up.
    #[error("{what}: {}", crate::text::io_error(source))]
    Io {
        /// What was being done.
        what: String,
        /// The error.
        source: io::Error,
    },
}

/// What to do about an address in use: stop what listens there (named when known), or
/// pick another.
fn in_use_hint(e: &io::Error, holder: Option<&str>) -> String {
    if e.kind() != io::ErrorKind::AddrInUse {
        return String::new();
    }
    let who = holder.map_or_else(|| "another program".to_string(), str::to_string);
    format!(
        "; {who} listens there: stop it, or pick another address (`[metrics] listen`, `--metrics`)"
    )
}

/// Runs `specs` (from the file at `spec_path`) until they end or a stop signal arrives,
/// starting them in `order` and stopping them in reverse. Returns each service's
/// outcome, in spec order.
pub async fn supervise(
    specs: &[Spec],
    order: &[usize],
    spec_path: &Path,
    opts: &Options,
) -> Result<Vec<(String, Outcome)>, SuperviseError> {
    supervise_with(specs, order, spec_path, opts, Extras::default()).await
}

/// [`supervise`], with requests and observers of the caller's.
pub async fn supervise_with(
    specs: &[Spec],
    order: &[usize],
    spec_path: &Path,
    opts: &Options,
    extras: Extras,
) -> Result<Vec<(String, Outcome)>, SuperviseError> {
    // One supervisor per service: held until every service here has ended and its
    // logs are compressed, taken before anything else (a second supervisor must not
    // even open the logs).
    std::fs::create_dir_all(&opts.state_dir).map_err(|source| SuperviseError::Io {
        what: format!(
            "cannot create the state directory {}",
            opts.state_dir.display()
        ),
        source,
    })?;
    let locks = specs
        .iter()
        .map(|s| state::SupervisorLock::acquire(&opts.state_dir, s.name.as_str()))
        .collect::<Result<Vec<_>, _>>()?;
    sys::defer_to_children();
    let result = supervise_locked(specs, order, spec_path, opts, extras).await;
    // No log is written any more: finish compressing the rotated ones while the
    // services are still this supervisor's.
    logfile::finish_compression();
    drop(locks);
    result
}

/// [`supervise_with`], once the services are locked: prepare every service, start them
/// once their dependencies run, serve requests, stop them dependents first.
async fn supervise_locked(
    specs: &[Spec],
    order: &[usize],
    spec_path: &Path,
    opts: &Options,
    extras: Extras,
) -> Result<Vec<(String, Outcome)>, SuperviseError> {
    let spec_path = &recorded_spec_path(spec_path);
    // Prepare everything first: nothing starts if any service cannot.
    let setups = prepare_all(specs, spec_path, opts)?;
    // Then the metrics address: taken by another program, nothing starts either.
    let metrics = match opts.metrics {
        Some(addr) => {
            let listener = metrics::bind(addr).map_err(|source| SuperviseError::Metrics {
                holder: (source.kind() == io::ErrorKind::AddrInUse)
                    .then(|| sys::listener_of(addr.port()))
                    .flatten(),
                addr,
                source,
            })?;
            let shown = listener.local_addr().unwrap_or(addr);
            say!("tend: metrics: http://{shown}/metrics");
            let m = Rc::new(metrics::Metrics::new(
                setups.iter().map(|s| metrics::Watched::of(s)),
            ));
            Some((
                tokio::task::spawn_local(metrics::serve(listener, m.clone())),
                m,
            ))
        }
        None => None,
    };
    if !opts.console {
        for setup in &setups {
            say!("{}", output_line(setup));
        }
    }
    let reaper = Reaper::start().map_err(io_err("cannot watch for child exits".into()))?;
    // Hosted by a service manager (the SCM's requests, systemd's notify socket): it owns
    // the start and stop of the service, and the channel only reopens the logs.
    let managed = hosted(
        extras.requests.is_some(),
        opts.notify && notify_socket_listens(),
        {
            use std::io::IsTerminal as _;
            std::io::stdin().is_terminal()
        },
    );
    let mut requests = listen(extras.requests)?;
    let (commands_tx, commands, channels) = open_channels(specs, opts);
    let mut services = Services::new(specs, opts, extras.observers, reaper, setups, commands);
    services.pollers = specs
        .iter()
        .enumerate()
        .map(|(i, spec)| channel::spawn(i, spec, &opts.state_dir, commands_tx.clone()))
        .collect();
    services.managed = managed;
    services.metrics = metrics.as_ref().map(|(_, m)| m.clone());
    services.run(order, &mut requests).await;
    sys::kill_orphans(&BTreeSet::new());
    // The channels close (their sockets are removed) before the locks are released.
    for c in channels.into_iter().chain(metrics.map(|(task, _)| task)) {
        c.abort();
        let _ = c.await;
    }
    Ok(services.outcomes())
}

/// Whether a service manager hosts the supervisor (and owns the start and stop of its
/// service): the SCM's requests come (`scm`), or systemd's notify socket takes messages
/// (`notify`) and stdin is not a terminal: a `NOTIFY_SOCKET` leaked into a shell (a
/// tmux started inside a `Type=notify` unit) does not make a `tend run` typed there
/// a service manager's.
fn hosted(scm: bool, notify: bool, stdin_terminal: bool) -> bool {
    scm || (notify && !stdin_terminal)
}

/// Whether `NOTIFY_SOCKET` names a socket that takes messages (a datagram socket can
/// be connected to it): one left over from a unit that is gone does not.
#[cfg(target_os = "linux")]
fn notify_socket_listens() -> bool {
    use std::os::linux::net::SocketAddrExt as _;
    use std::os::unix::net::{SocketAddr, UnixDatagram};
    let Some(value) = std::env::var_os("NOTIFY_SOCKET") else {
        return false;
    };
    let bytes = std::os::unix::ffi::OsStrExt::as_bytes(value.as_os_str());
    let addr = match bytes.strip_prefix(b"@") {
        Some(name) if !name.is_empty() => SocketAddr::from_abstract_name(name),
        _ if bytes.starts_with(b"/") => SocketAddr::from_pathname(Path::new(&value)),
        _ => return false,
    };
    let Ok(addr) = addr else { return false };
    UnixDatagram::unbound().is_ok_and(|sock| sock.connect_addr(&addr).is_ok())
}

/// Elsewhere there is no systemd: a `NOTIFY_SOCKET` is taken at its word.
#[cfg(not(target_os = "linux"))]
fn notify_socket_listens() -> bool {
    std::env::var_os("NOTIFY_SOCKET").is_some_and(|v| !v.is_empty())
}

/// The spec file's path as the state file records it (and `tend status` shows it):
/// absolute, and on Unix with its folder resolved, so no `..` or symlinked folder is
/// left (`/tmp/d/elsewhere/../proj/tend.toml` is `/tmp/d/proj/tend.toml`). The file's
/// own name is kept: a spec that is a symlink is still read from where it is linked, as
/// its relative paths are. (Windows: `absolute` already removes `..`.)
fn recorded_spec_path(spec_path: &Path) -> PathBuf {
    let abs = std::path::absolute(spec_path).unwrap_or_else(|_| spec_path.to_path_buf());
    #[cfg(unix)]
    if let (Some(dir), Some(file)) = (abs.parent(), abs.file_name()) {
        if let Ok(dir) = std::fs::canonicalize(dir) {
            return dir.join(file);
        }
    }
    abs
}

/// Wraps an I/O error with what was being done.
fn io_err(what: String) -> impl FnOnce(io::Error) -> SuperviseError {
    move |source| SuperviseError::Io { what, source }
}

/// Opens each service's control channel (see [`control`]); a channel that cannot be
/// opened is a warning (the service runs, only `tend stop NAME` cannot reach it). The
/// requests of every channel, and the tasks that serve them.
fn open_channels(
    specs: &[Spec],
    opts: &Options,
) -> (
    mpsc::UnboundedSender<control::Command>,
    mpsc::UnboundedReceiver<control::Command>,
    Vec<tokio::task::JoinHandle<()>>,
) {
    let (tx, rx) = mpsc::unbounded_channel();
    let tasks = specs
        .iter()
        .enumerate()
        .filter_map(|(i, spec)| {
            let name = spec.name.as_str();
            match sys::ControlListener::bind(&opts.state_dir, name) {
                Ok(l) => Some(tokio::task::spawn_local(control::serve(
                    l,
                    i,
                    name.to_string(),
                    tx.clone(),
                ))),
                Err(e) => {
                    say!(
                        "tend: {name}: warning: cannot open the control channel {}: {}; `tend stop|start|restart {name}` cannot reach this supervisor",
                        sys::control_address(&opts.state_dir, name),
                        crate::text::io_error(&e)
                    );
                    None
                }
            }
        })
        .collect();
    (tx, rx, tasks)
}

/// Prepares every service of `specs` (its command, stop hook and log sinks); the first
/// that cannot be prepared is the error.
fn prepare_all(
    specs: &[Spec],
    spec_path: &Path,
    opts: &Options,
) -> Result<Vec<Rc<ServiceSetup>>, SuperviseError> {
    let base = prepare::spec_base(spec_path);
    let env: Vec<_> = std::env::vars_os().collect();
    let width = specs
        .iter()
        .map(|s| s.name.as_str().len())
        .max()
        .unwrap_or(0);
    let mut setups = Vec::new();
    for (i, spec) in specs.iter().enumerate() {
        let (mut prepared, warnings) = prepare::prepare(spec, &base, &env, opts.console)?;
        // With `[update]`: the current release's program, if there is one.
        let releases = upgrade::Releases::of(spec, &opts.state_dir, prepared.program.clone());
        if let Some(rel) = &releases {
            match rel.current_program() {
                Ok((_, program)) => prepared.program = program,
                Err(message) => {
                    return Err(prepare::PrepareError(vec![prepare::Problem {
                        key: "update",
                        message,
                        invoker: false,
                    }])
                    .into())
                }
            }
        }
        let hook = prepare::prepare_hook(spec, &base, &prepared)?;
        let reload = prepare::prepare_reload(spec, &base, &prepared)?;
        let health = prepare::prepare_probe(spec, &base, &prepared)?;
        // Last: held from here until the supervisor ends (the hook and the probe were
        // built without them, so they never get them).
        prepared.listen = listen::bind_all(spec, prepared.credentials.as_ref())?;
        for l in &prepared.listen {
            say!(
                "tend: {}: listening on {} ({})",
                spec.name,
                l.address,
                l.name
            );
        }
        for w in warnings {
            say!("tend: {}: warning: {w}", spec.name);
        }
        let plain = format!("{:width$} | ", spec.name.as_str());
        let prefix = if opts.color {
            format!("\x1b[{}m{plain}\x1b[0m", COLORS[i % COLORS.len()])
        } else {
            plain
        };
        let (stdout, stderr) = open_sinks(spec, &base, opts, &prefix)?;
        setups.push(Rc::new(ServiceSetup {
            spec: spec.clone(),
            spec_path: spec_path.to_path_buf(),
            prepared: std::cell::RefCell::new(prepared),
            releases,
            hook,
            reload,
            health,
            stdout,
            stderr,
            sole: specs.len() == 1,
            pumps: Default::default(),
            log_counters: Default::default(),
            stderr_tail: Default::default(),
            log: log_place(spec, &base, opts),
        }));
    }
    Ok(setups)
}

/// The requests to the supervisor: the OS's (see [`sys::listen_os`]) and the caller's
/// `more`, merged (must be called inside a `LocalSet`).
fn listen(
    more: Option<mpsc::UnboundedReceiver<Request>>,
) -> Result<mpsc::UnboundedReceiver<Request>, SuperviseError> {
    let (req_tx, requests) = mpsc::unbounded_channel();
    sys::listen_os(req_tx.clone())?;
    if let Some(mut more) = more {
        let tx = req_tx.clone();
        tokio::task::spawn_local(async move {
            while let Some(r) = more.recv().await {
                if tx.send(r).is_err() {
                    break;
                }
            }
        });
    }
    Ok(requests)
}

/// The caller's observers of each service (see [`Extras::observers`]).
type MakeObservers = Box<dyn Fn(&Spec) -> Vec<Box<dyn Observer>>>;

/// The services of one supervisor from their start to their stop: how to reach each
/// one's actor, its state as its dependents see it, and what came of it.
struct Services<'a> {
    specs: &'a [Spec],
    opts: &'a Options,
    make_observers: Option<MakeObservers>,
    reaper: Rc<Reaper>,
    /// What each service's actor is started with (again, after `tend start NAME`).
    setups: Vec<Rc<ServiceSetup>>,
    /// Each started service's control channel.
    controls: Vec<Option<mpsc::UnboundedSender<Control>>>,
    /// Each service's state, for its dependents and the control channel's answers.
    states: Vec<watch::Receiver<Seen>>,
    /// The sending side of `states`, until the service starts (or cannot).
    senders: Vec<Option<watch::Sender<Seen>>>,
    /// Told whenever a running service's state changes (its dependents may start).
    changed: Rc<tokio::sync::Notify>,
    /// Each running service's actor.
    tasks: Vec<Option<tokio::task::JoinHandle<Outcome>>>,
    outcomes: Vec<Option<Outcome>>,
    /// The start order (dependencies first).
    order: Vec<usize>,
    /// To be started once its dependencies run.
    pending: Vec<bool>,
    /// A pending service waits for this dependency, stopped on request (said once).
    waiting_on: Vec<Option<usize>>,
    /// The services started, in start order (the last start counts).
    started: Vec<usize>,
    /// A stop of every service was requested, by whom.
    stopping: Option<StopBy>,
    /// The service being stopped while every service is stopped, one after the other.
    stopping_now: Option<usize>,
    /// The requests of the control channels.
    commands: Option<mpsc::UnboundedReceiver<control::Command>>,
    /// Whether the supervisor's requests (signals, the SCM's) can still come.
    requests_open: bool,
    /// Stopped through the control channel: such a service keeps the supervisor up
    /// (waiting for `tend start NAME`) even when nothing else runs.
    held: Vec<bool>,
    /// The answers owed once each service's actor has ended (`tend stop NAME`).
    owed: Vec<Vec<mpsc::UnboundedSender<control::Answer>>>,
    /// The answers owed to `tend start` / `tend restart` of a service whose actor was
    /// finishing: it is started again once it has ended.
    again: Vec<Vec<mpsc::UnboundedSender<control::Answer>>>,
    /// A service waiting to restart, asked to start now for a dependent's `tend
    /// start`: its state as it was then (a change is the outcome of that attempt).
    kicked: Vec<Option<watch::Receiver<Seen>>>,
    /// Pending for a dependent's `tend start`: once started, it is [`Self::kicked`].
    for_dependent: Vec<bool>,
    /// A service manager hosts the supervisor: start, stop and restart are its.
    managed: bool,
    /// The services' metrics, when served.
    metrics: Option<Rc<metrics::Metrics>>,
    /// An upgrade or rollback of this service is under way.
    upgrading: Vec<bool>,
    /// The steps of upgrades, from their tasks (see [`upgrade`]).
    steps_tx: mpsc::UnboundedSender<upgrade::Step>,
    steps: mpsc::UnboundedReceiver<upgrade::Step>,
    /// Each service's release channel poller (`[update] channel`).
    pollers: Vec<Option<mpsc::UnboundedSender<channel::PollNow>>>,
}

/// Whether a pending service's dependencies let it start.
#[derive(Debug, PartialEq, Eq)]
enum Dependencies {
    /// All run: start the service.
    Running,
    /// Some are starting (or pending): wait.
    Starting,
    /// This one was stopped on request: wait for `tend start` of it.
    Stopped(usize),
    /// This one was started on request (`tend start` of a dependent) and could not
    /// run: wait for it, and say so at once.
    Blocked(usize),
    /// This one ended by itself (or could not start), in this state: the service is
    /// not started.
    Ended(usize, State),
}

/// The next control request, or never when the channels are closed.
async fn next_command(
    commands: &mut Option<mpsc::UnboundedReceiver<control::Command>>,
) -> control::Command {
    match commands {
        Some(rx) => match rx.recv().await {
            Some(c) => c,
            None => std::future::pending().await,
        },
        None => std::future::pending().await,
    }
}

impl<'a> Services<'a> {
    fn new(
        specs: &'a [Spec],
        opts: &'a Options,
        make_observers: Option<MakeObservers>,
        reaper: Rc<Reaper>,
        setups: Vec<Rc<ServiceSetup>>,
        commands: mpsc::UnboundedReceiver<control::Command>,
    ) -> Self {
        let (steps_tx, steps) = mpsc::unbounded_channel();
        let (senders, states) = specs
            .iter()
            .map(|_| {
                let (tx, rx) = watch::channel(Seen::starting());
                (Some(tx), rx)
            })
            .unzip();
        Services {
            specs,
            opts,
            make_observers,
            reaper,
            setups,
            controls: vec![None; specs.len()],
            states,
            senders,
            changed: Rc::new(tokio::sync::Notify::new()),
            tasks: (0..specs.len()).map(|_| None).collect(),
            outcomes: vec![None; specs.len()],
            order: Vec::new(),
            pending: vec![false; specs.len()],
            waiting_on: vec![None; specs.len()],
            started: Vec::new(),
            stopping: None,
            stopping_now: None,
            commands: Some(commands),
            requests_open: true,
            held: vec![false; specs.len()],
            owed: (0..specs.len()).map(|_| Vec::new()).collect(),
            again: (0..specs.len()).map(|_| Vec::new()).collect(),
            kicked: vec![None; specs.len()],
            for_dependent: vec![false; specs.len()],
            managed: false,
            metrics: None,
            upgrading: vec![false; specs.len()],
            steps_tx,
            steps,
            pollers: vec![None; specs.len()],
        }
    }

    /// The supervisor's loop, from the first start to the last stop: starts each
    /// service of `order` once its dependencies run, collects the ends of services,
    /// carries out the requests of the OS and of the control channels, and once a stop
    /// is requested stops the services one after the other, dependents first. Ends
    /// when nothing runs any more and no service is held stopped by the channel.
    async fn run(&mut self, order: &[usize], requests: &mut mpsc::UnboundedReceiver<Request>) {
        self.order = order.to_vec();
        for &i in order {
            self.pending[i] = true;
        }
        self.resume_trials();
        loop {
            let alive = self.tasks.iter().any(Option::is_some);
            match self.stopping {
                None => {
                    self.start_ready();
                    let alive = self.tasks.iter().any(Option::is_some);
                    // (An upgrade being checked keeps it too: a release that ended is
                    // rolled back and started again.)
                    if !alive && !self.held.iter().any(|&h| h) && !self.upgrading.iter().any(|&u| u)
                    {
                        break;
                    }
                }
                Some(by) => {
                    if !alive {
                        break;
                    }
                    self.stop_next(by);
                }
            }
            let changed = self.changed.clone();
            let all: Vec<usize> = (0..self.specs.len()).collect();
            let any_done = futures_any(&mut self.tasks, &all);
            // Biased: an actor that has ended is collected before a request is
            // served, so the request is decided on what the service really is.
            tokio::select! {
                biased;
                (i, out) = any_done => self.ended(i, out),
                r = requests.recv(), if self.requests_open => self.request(r),
                c = next_command(&mut self.commands) => self.command(c),
                Some(step) = self.steps.recv() => self.upgrade_step(step),
                () = changed.notified() => {}
            }
        }
        // Requests that came too late are answered, not dropped.
        if let Some(rx) = self.commands.as_mut() {
            rx.close();
            while let Ok(c) = rx.try_recv() {
                let _ = c.reply.send(control::Answer::Done(control::Done::new(
                    false,
                    None,
                    "the supervisor is ending",
                )));
            }
        }
    }

    /// A request of the OS or the caller's (see [`Request`]).
    fn request(&mut self, r: Option<Request>) {
        match r {
            Some(Request::Stop(by)) if self.stopping.is_some() => {
                say!(
                    "tend: {}: killing every remaining service at once",
                    event::second(Some(by))
                );
                // In stop order (dependents first), as they are said.
                for i in self.stop_order() {
                    if let Some(c) = &self.controls[i] {
                        let _ = c.send(Control::Kill(by));
                    }
                }
            }
            Some(Request::Stop(by)) => self.begin_stopping(by),
            None => {
                self.requests_open = false;
                if self.stopping.is_none() {
                    self.begin_stopping(StopBy::Supervisor);
                }
            }
            Some(Request::ReopenLogs) => forward(&self.controls, Request::ReopenLogs),
            Some(_) if self.stopping.is_some() => {}
            Some(r) => forward(&self.controls, r),
        }
    }

    /// Every service is to stop (`by`): nothing more starts, and a service that a
    /// `tend stop` is stopping already is said to be.
    fn begin_stopping(&mut self, by: StopBy) {
        self.stopping = Some(by);
        for i in 0..self.specs.len() {
            if self.pending[i] {
                self.pending[i] = false;
                if self.waiting_on[i].take().is_some() {
                    self.write_unstarted(
                        i,
                        State::Stopped,
                        "not started: the supervisor stopped".into(),
                    );
                }
                self.outcomes[i] = Some(Outcome::Stopped);
                if let Some(tx) = self.senders[i].take() {
                    let _ = tx.send(Seen::unstarted(
                        State::Stopped,
                        Some("not started: the supervisor is stopping".into()),
                        false,
                    ));
                }
            }
            if self.tasks[i].is_some() && self.states[i].borrow().state == State::Stopping {
                let hint = if self.opts.interactive && by.is_ctrl_c() {
                    "; Ctrl-C again to kill now"
                } else {
                    ""
                };
                say!(
                    "tend: {}: already stopping (waiting up to {} for it){hint}",
                    self.specs[i].name,
                    self.specs[i].stop.timeout
                );
            }
        }
    }

    /// While every service stops: asks the next one to stop once the one before has
    /// ended; the next is the last started that no running service depends on.
    fn stop_next(&mut self, by: StopBy) {
        if self.stopping_now.is_some_and(|i| self.tasks[i].is_some()) {
            return;
        }
        if let Some(&i) = self.stop_order().first() {
            self.stopping_now = Some(i);
            if let Some(c) = &self.controls[i] {
                let _ = c.send(Control::Stop(by));
            }
        }
    }

    /// The running services in the order they are stopped: each time the last started
    /// that no other running service depends on.
    fn stop_order(&self) -> Vec<usize> {
        let mut alive: Vec<usize> = (0..self.specs.len())
            .filter(|&i| self.tasks[i].is_some())
            .collect();
        let mut order = Vec::with_capacity(alive.len());
        while !alive.is_empty() {
            let next = self
                .started
                .iter()
                .rev()
                .copied()
                .filter(|i| alive.contains(i))
                .find(|&i| !alive.iter().any(|&j| j != i && self.needs(j, i)))
                .unwrap_or(alive[0]);
            order.push(next);
            alive.retain(|&i| i != next);
        }
        order
    }

    /// The index of the service `name`.
    fn index(&self, name: &str) -> Option<usize> {
        self.specs.iter().position(|s| s.name.as_str() == name)
    }

    /// Whether service `j` needs service `i` (directly or through other services).
    fn needs(&self, j: usize, i: usize) -> bool {
        let mut seen = vec![false; self.specs.len()];
        let mut stack = vec![j];
        while let Some(k) = stack.pop() {
            for dep in &self.specs[k].depends_on {
                if let Some(d) = self.index(dep.as_str()) {
                    if d == i {
                        return true;
                    }
                    if !seen[d] {
                        seen[d] = true;
                        stack.push(d);
                    }
                }
            }
        }
        false
    }

    /// Whether the dependencies of service `i` let it start (an ended one first: then
    /// it cannot; then one stopped on request).
    fn dependencies(&self, i: usize) -> Dependencies {
        let mut stopped = None;
        let mut blocked = None;
        let mut starting = false;
        for dep in &self.specs[i].depends_on {
            let Some(j) = self.index(dep.as_str()) else {
                continue;
            };
            if self.tasks[j].is_some() {
                let st = self.states[j].borrow().state;
                let tried = self.kicked[j]
                    .as_ref()
                    .is_some_and(|rx| rx.has_changed().unwrap_or(true));
                if (st == State::Backoff && tried) || self.states[j].borrow().unhealthy {
                    blocked = blocked.or(Some(j));
                }
                starting |= !self.states[j].borrow().ready;
            } else if self.pending[j] {
                starting = true;
                if self.states[j].borrow().blocked {
                    blocked = blocked.or(Some(j));
                }
            } else if self.held[j] {
                stopped = stopped.or(Some(j));
            } else {
                return Dependencies::Ended(j, self.states[j].borrow().state);
            }
        }
        match (stopped, starting) {
            (Some(j), _) => Dependencies::Stopped(j),
            (None, true) if blocked.is_some() => Dependencies::Blocked(blocked.unwrap_or(i)),
            (None, true) => Dependencies::Starting,
            (None, false) => Dependencies::Running,
        }
    }

    /// Starts each pending service whose dependencies run, in start order; one whose
    /// dependency ended is not started, one whose dependency was stopped on request
    /// waits for it.
    fn start_ready(&mut self) {
        for j in 0..self.specs.len() {
            if self.tasks[j].is_none() || self.states[j].borrow().ready {
                self.kicked[j] = None;
            }
        }
        for i in self.order.clone() {
            if !self.pending[i] {
                continue;
            }
            match self.dependencies(i) {
                Dependencies::Running => self.start(i),
                Dependencies::Starting => {}
                Dependencies::Stopped(j) => {
                    let dep = self.specs[j].name.as_str();
                    let why = format!(
                        "waiting for `{dep}`, which is stopped: starts once `{dep}` runs (`tend start {dep}`)"
                    );
                    self.waiting(i, j, why, false);
                }
                Dependencies::Blocked(j) => {
                    let dep = self.specs[j].name.as_str();
                    let seen = self.states[j].borrow().clone();
                    let why = if seen.blocked {
                        format!("waiting for `{dep}`: {}", seen.message.unwrap_or_default())
                    } else if seen.unhealthy {
                        format!(
                            "waiting for `{dep}`, which is {}: starts once `{dep}` is healthy",
                            seen.health.as_deref().unwrap_or("unhealthy")
                        )
                    } else {
                        format!(
                            "waiting for `{dep}`, which was started for it and did not come up ({}): starts once `{dep}` runs",
                            seen.describe(dep)
                        )
                    };
                    self.waiting(i, j, why, true);
                }
                Dependencies::Ended(j, st) => {
                    self.pending[i] = false;
                    self.waiting_on[i] = None;
                    let dep = self.specs[j].name.to_string();
                    self.not_started(i, &dep, st);
                }
            }
        }
    }

    /// Pending service `i` waits for its dependency `j` (stopped on request, or
    /// `blocked`: started for it and not running), `why`: said once, to people, to
    /// `tend status` and (`blocked`) to a `tend start` waiting for it.
    fn waiting(&mut self, i: usize, j: usize, why: String, blocked: bool) {
        if self.waiting_on[i] == Some(j) {
            return;
        }
        self.waiting_on[i] = Some(j);
        let name = self.specs[i].name.as_str();
        say!("tend: {name}: {why}");
        if let Some(tx) = &self.senders[i] {
            let _ = tx.send(Seen::unstarted(State::Starting, Some(why.clone()), blocked));
        }
        self.write_unstarted(i, State::Starting, why);
    }

    /// The state file of service `i`, which has no actor (it waits for a dependency,
    /// or was stopped before it started), as `state` with `message`: for `tend
    /// status`. Only once it waited: a service that never started otherwise has none.
    fn write_unstarted(&self, i: usize, state: State, message: String) {
        let status = Status {
            message: Some(message),
            log: self.setups[i].log.clone(),
            ..Status::new(
                self.specs[i].name.as_str(),
                state,
                self.setups[i].spec_path.clone(),
            )
        };
        let _ = state::write_status(&self.opts.state_dir, &status);
    }

    /// Service `i` is not started: its dependency `dep` is `st`.
    fn not_started(&mut self, i: usize, dep: &str, st: State) {
        self.for_dependent[i] = false;
        self.write_unstarted(
            i,
            State::Failed,
            format!("not started: dependency `{dep}` is {}", st.as_str()),
        );
        say!(
            "tend: {}: not started: dependency `{dep}` is {}",
            self.specs[i].name,
            st.as_str()
        );
        self.outcomes[i] = Some(Outcome::Failed(format!(
            "dependency `{dep}` is {}",
            st.as_str()
        )));
        // Its own dependents must not wait for it.
        if let Some(tx) = self.senders[i].take() {
            // The last value stays readable after the sender is gone.
            let _ = tx.send(Seen::unstarted(
                State::Failed,
                Some(format!("dependency `{dep}` is {}", st.as_str())),
                false,
            ));
        }
    }

    /// Service `i` is to be started (`tend start`): pending, as is each of its
    /// dependencies that does not run (see [`Services::want_dependencies`]).
    fn want(&mut self, i: usize) {
        if self.tasks[i].is_none() {
            self.pend(i);
        }
        self.want_dependencies(i);
    }

    /// The dependencies of service `i`, to be started for a `tend start` of it, all
    /// the way down: one that ended or was stopped (or waits, pending) is started
    /// again; one waiting to restart (backoff) is started now. One that runs is left
    /// alone (its own dependencies are not).
    fn want_dependencies(&mut self, i: usize) {
        for dep in self.specs[i].depends_on.clone() {
            let Some(j) = self.index(dep.as_str()) else {
                continue;
            };
            if self.tasks[j].is_none() {
                self.for_dependent[j] = true;
                self.want(j);
                continue;
            }
            let waits = self.states[j].borrow().state == State::Backoff;
            let trying = self.kicked[j]
                .as_ref()
                .is_some_and(|rx| !rx.has_changed().unwrap_or(true));
            if waits && !trying {
                let mut rx = self.states[j].clone();
                rx.borrow_and_update();
                if let Some(c) = &self.controls[j] {
                    let _ = c.send(Control::Restart(StopBy::Client("tend start")));
                }
                self.kicked[j] = Some(rx);
            }
            self.want_dependencies(j);
        }
    }

    /// Service `i`, which has no actor, is pending: to be started once its
    /// dependencies run.
    fn pend(&mut self, i: usize) {
        self.pending[i] = true;
        self.held[i] = false;
        self.outcomes[i] = None;
        self.waiting_on[i] = None;
        match &self.senders[i] {
            Some(tx) => {
                let _ = tx.send(Seen::starting());
            }
            None => {
                let (tx, rx) = watch::channel(Seen::starting());
                self.senders[i] = Some(tx);
                self.states[i] = rx;
            }
        }
    }

    /// Starts service `i`'s actor (again, after it ended: with a new state watch).
    fn start(&mut self, i: usize) {
        let setup = self.setups[i].clone();
        if self.senders[i].is_none() {
            let (tx, rx) = watch::channel(Seen::starting());
            self.senders[i] = Some(tx);
            self.states[i] = rx;
        }
        let (tx, rx) = mpsc::unbounded_channel();
        self.controls[i] = Some(tx);
        let observers = self.observers(i, &setup);
        self.tasks[i] = Some(tokio::task::spawn_local(service::run_service(
            setup,
            self.reaper.clone(),
            rx,
            observers,
        )));
        self.outcomes[i] = None;
        self.held[i] = false;
        self.pending[i] = false;
        self.waiting_on[i] = None;
        self.started.retain(|&s| s != i);
        self.started.push(i);
        if std::mem::take(&mut self.for_dependent[i]) {
            let mut rx = self.states[i].clone();
            rx.borrow_and_update();
            self.kicked[i] = Some(rx);
        }
    }

    /// The observers of service `i`: its state file, its events on stderr, its state
    /// for its dependents, the caller's, and the init system's.
    fn observers(&mut self, i: usize, setup: &ServiceSetup) -> Vec<Box<dyn Observer>> {
        let (opts, specs) = (self.opts, self.specs);
        let mut observers: Vec<Box<dyn Observer>> = vec![
            Box::new(StateFile {
                dir: opts.state_dir.clone(),
                failed: false,
                probe_written: None,
            }),
            Box::new(EventLog {
                prefix: format!("tend: {}: ", setup.spec.name),
                interactive: opts.interactive,
                color: opts.color_events,
            }),
            Box::new(StateWatch(
                self.senders[i].take().expect("one watch per service"),
                self.changed.clone(),
            )),
        ];
        if let Some(make) = &self.make_observers {
            observers.extend(make(&specs[i]));
        }
        if let Some(m) = &self.metrics {
            observers.push(m.observer(i));
        }
        if opts.notify && specs.len() == 1 {
            host::systemd::attach(&mut observers);
        }
        observers
    }

    /// Service `i`'s actor ended with `out`: recorded, and the answers owed to `tend
    /// stop` clients sent.
    fn ended(&mut self, i: usize, out: Outcome) {
        // A `tend stop` that raced the service's own end (it exited or gave up before
        // the stop reached it) does not hold it: the supervisor ends as it would have.
        let by_itself = !matches!(out, Outcome::Stopped);
        if by_itself {
            self.held[i] = false;
        }
        self.outcomes[i] = Some(out);
        self.controls[i] = None;
        let seen = self.states[i].borrow().clone();
        let specs = self.specs;
        let name = specs[i].name.as_str();
        for reply in self.owed[i].drain(..) {
            let message = if by_itself {
                format!("already ended: {}", seen.describe(name))
            } else {
                seen.describe(name)
            };
            let _ = reply.send(control::Answer::Done(control::Done::new(
                seen.state != State::Running,
                Some(seen.state.as_str()),
                message,
            )));
        }
        // Starts asked for while it was ending (see `command`): now it has.
        let again = std::mem::take(&mut self.again[i]);
        if !again.is_empty() {
            if self.stopping.is_none() {
                self.want(i);
                for reply in again {
                    let mut rx = self.states[i].clone();
                    rx.borrow_and_update();
                    answer_when_started(rx, reply, name.to_string());
                }
            } else {
                for reply in again {
                    let _ = reply.send(control::Answer::Done(control::Done::new(
                        false,
                        Some(seen.state.as_str()),
                        "the supervisor is stopping every service",
                    )));
                }
            }
        }
        if self.held[i] && self.stopping.is_none() {
            say!("tend: {name}: stays stopped until `tend start {name}`; Ctrl-C (or SIGTERM) ends the supervisor");
        }
    }

    /// Carries out a request of the control channel (see [`control`]); the answer
    /// comes when it is done, from a task of its own where that takes time.
    fn command(&mut self, c: control::Command) {
        use control::{Answer, Done, Verb};
        let i = c.index;
        let name = self.specs[i].name.to_string();
        let alive = self.tasks[i].is_some();
        let stopping = !self.owed[i].is_empty();
        let seen = self.states[i].borrow().clone();
        // Its actor reported its end (exited, gave up, stopped) and is finishing: the
        // request is decided on that, not on the actor still being there.
        let finishing =
            alive && matches!(seen.state, State::Stopped | State::Exited | State::Failed);
        // While every service stops, this one stops after those still running before
        // it (dependents first): the client waits for them all.
        let timeout = match self.stopping {
            // A start waits for the first healthy probe too.
            None if c.verb != Verb::Stop => self.specs[i].stop.timeout.get().saturating_add(
                self.specs[i]
                    .health
                    .as_ref()
                    .map_or(std::time::Duration::ZERO, policy::ready_within),
            ),
            None => self.specs[i].stop.timeout.get(),
            Some(_) => (0..self.specs.len())
                .filter(|&j| j == i || self.tasks[j].is_some())
                .map(|j| self.specs[j].stop.timeout.get())
                .sum(),
        };
        let wait_ms = control::wait_for(timeout).as_millis() as u64;
        let accepted = Answer::Accepted {
            accepted: true,
            wait_ms,
        };
        let done = |ok: bool, state: State, message: String| {
            Answer::Done(Done::new(ok, Some(state.as_str()), message))
        };
        let by = match c.verb {
            Verb::Start => StopBy::Client("tend start"),
            _ => StopBy::Client("tend restart"),
        };
        match c.verb {
            Verb::Start | Verb::Stop | Verb::Restart if self.managed => {
                let _ = c.reply.send(done(
                    false,
                    seen.state,
                    format!(
                        "`{name}` runs under a service manager, which starts and stops it: use the service manager (`tend {} {name}` does for a service tend installed)",
                        c.verb.as_str()
                    ),
                ));
            }
            Verb::Start | Verb::Stop | Verb::Restart if self.upgrading[i] => {
                let _ = c.reply.send(done(
                    false,
                    seen.state,
                    format!("`{name}` is being switched to a release and checked (for at most update.verify_within): wait for it"),
                ));
            }
            Verb::Start | Verb::Restart if self.stopping.is_some() => {
                let _ = c.reply.send(done(
                    false,
                    seen.state,
                    "the supervisor is stopping every service".into(),
                ));
            }
            Verb::Stop if alive => {
                if !stopping && !finishing && self.stopping.is_none() {
                    if let Some(tx) = &self.controls[i] {
                        let _ = tx.send(Control::Stop(StopBy::Client("tend stop")));
                    }
                    self.held[i] = true;
                }
                let _ = c.reply.send(accepted);
                self.owed[i].push(c.reply);
            }
            // Not started yet (its dependencies are starting): it is not started then,
            // and its dependents wait for it.
            Verb::Stop if self.pending[i] => {
                self.pending[i] = false;
                if self.waiting_on[i].take().is_some() {
                    self.write_unstarted(i, State::Stopped, "stopped before it started".into());
                }
                self.outcomes[i] = Some(Outcome::Stopped);
                self.held[i] = true;
                if let Some(tx) = &self.senders[i] {
                    let _ = tx.send(Seen::unstarted(
                        State::Stopped,
                        Some("stopped before it started".into()),
                        false,
                    ));
                }
                let _ = c.reply.send(done(
                    true,
                    State::Stopped,
                    format!("`{name}` will not be started (until `tend start {name}`)"),
                ));
            }
            Verb::Stop => {
                let _ = c.reply.send(done(
                    true,
                    seen.state,
                    format!("`{name}` is not running (it is {})", seen.state.as_str()),
                ));
            }
            Verb::Start | Verb::Restart if alive && stopping => {
                let _ = c.reply.send(done(
                    false,
                    State::Stopping,
                    format!("`{name}` is being stopped; start it again once it has stopped"),
                ));
            }
            // Ended by itself, its actor finishing: started again once it has ended.
            Verb::Start | Verb::Restart if finishing => {
                let _ = c.reply.send(accepted);
                self.again[i].push(c.reply);
            }
            // Running: its dependencies that do not run are started (it needs them).
            // (With `[health]`: healthy, or unhealthy, which a start does not change.)
            Verb::Start if alive && seen.state == State::Running && seen.settled => {
                self.want_dependencies(i);
                let _ = c
                    .reply
                    .send(done(seen.ready, seen.state, seen.describe(&name)));
            }
            // Running, not healthy yet: once it is (or is found unhealthy).
            Verb::Start if alive && seen.state == State::Running => {
                self.want_dependencies(i);
                let mut rx = self.states[i].clone();
                rx.borrow_and_update();
                let _ = c.reply.send(accepted);
                answer_when_started(rx, c.reply, name);
            }
            // Paused: a start changes nothing (that is `tend continue`).
            Verb::Start if alive && seen.state == State::Paused => {
                let _ = c.reply.send(done(
                    false,
                    seen.state,
                    format!("`{name}` is paused: `tend continue {name}` lets it run again"),
                ));
            }
            // Running or paused (restart: the tree runs first, to hear the stop), or
            // waiting to be started again: now.
            Verb::Start | Verb::Restart
                if alive
                    && matches!(seen.state, State::Running | State::Backoff | State::Paused) =>
            {
                let mut rx = self.states[i].clone();
                rx.borrow_and_update();
                if let Some(tx) = &self.controls[i] {
                    let _ = tx.send(Control::Restart(by));
                }
                let _ = c.reply.send(accepted);
                answer_when_started(rx, c.reply, name);
            }
            // Starting, or stopping to be restarted: once it runs.
            Verb::Start | Verb::Restart if alive => {
                let mut rx = self.states[i].clone();
                rx.borrow_and_update();
                let _ = c.reply.send(accepted);
                answer_when_started(rx, c.reply, name);
            }
            Verb::Start | Verb::Restart => {
                self.want(i);
                let mut rx = self.states[i].clone();
                rx.borrow_and_update();
                let _ = c.reply.send(accepted);
                answer_when_started(rx, c.reply, name);
            }
            Verb::Upgrade | Verb::Rollback if self.stopping.is_some() => {
                let _ = c.reply.send(done(
                    false,
                    seen.state,
                    "the supervisor is stopping every service".into(),
                ));
            }
            Verb::Upgrade | Verb::Rollback if alive && stopping => {
                let _ = c.reply.send(done(
                    false,
                    State::Stopping,
                    format!("`{name}` is being stopped; upgrade it once it has stopped"),
                ));
            }
            Verb::Upgrade | Verb::Rollback if self.upgrading[i] => {
                let _ = c.reply.send(done(
                    false,
                    seen.state,
                    format!("an upgrade or rollback of `{name}` is under way: wait for it"),
                ));
            }
            Verb::Upgrade => match c.upgrade {
                Some(up) => self.begin_upgrade(i, up, c.reply),
                None => {
                    let _ = c
                        .reply
                        .send(done(false, seen.state, "no artifact named".into()));
                }
            },
            Verb::Rollback => self.rollback(i, c.reply),
            Verb::UpdateCheck | Verb::UpdateApply => match &self.pollers[i] {
                Some(poller) => {
                    let _ = c.reply.send(control::Answer::Accepted {
                        accepted: true,
                        wait_ms: 3_600_000,
                    });
                    let _ = poller.send(channel::PollNow {
                        apply: c.verb == Verb::UpdateApply,
                        reply: c.reply,
                    });
                }
                None => {
                    let _ = c.reply.send(done(
                        false,
                        seen.state,
                        format!("`{name}` has no release channel: add [update] channel = \"https://...\" to its spec"),
                    ));
                }
            },
            // Under a service manager too: pausing is tend's (the manager has no word
            // for it). The actor answers.
            Verb::Pause | Verb::Continue if self.upgrading[i] => {
                let _ = c.reply.send(done(
                    false,
                    seen.state,
                    format!("`{name}` is being switched to a release and checked (for at most update.verify_within): wait for it"),
                ));
            }
            Verb::Pause | Verb::Continue
                if alive && !stopping && !finishing && self.stopping.is_none() =>
            {
                let reply = service::Reply(c.reply);
                let request = if c.verb == Verb::Pause {
                    Control::Pause(reply.clone())
                } else {
                    Control::Continue(reply.clone())
                };
                let sent = self.controls[i]
                    .as_ref()
                    .is_some_and(|tx| tx.send(request).is_ok());
                if !sent {
                    let _ = reply.0.send(done(
                        false,
                        seen.state,
                        format!("`{name}` is not running (it is {})", seen.state.as_str()),
                    ));
                }
            }
            Verb::Pause | Verb::Continue => {
                let _ = c.reply.send(done(
                    false,
                    seen.state,
                    format!("`{name}` is not running (it is {})", seen.state.as_str()),
                ));
            }
            Verb::Reload => self.reload(i, &seen, c.reply),
            Verb::ReopenLogs => {
                service::reopen(&self.setups[i]);
                let _ = c.reply.send(done(
                    true,
                    seen.state,
                    format!("reopened the log files of `{name}`"),
                ));
            }
        }
    }

    /// `tend reload`: the service's actor tells the child, and the answer says how it
    /// went.
    fn reload(&mut self, i: usize, seen: &Seen, reply: mpsc::UnboundedSender<control::Answer>) {
        let spec = &self.specs[i];
        let name = spec.name.to_string();
        let done = |ok: bool, message: String| {
            control::Answer::Done(control::Done::new(ok, Some(seen.state.as_str()), message))
        };
        let Some(how) = &spec.reload else {
            let _ = reply.send(done(
                false,
                format!("`{name}` has no [reload]: add signal = \"SIGHUP\" or command = [...] to its spec"),
            ));
            return;
        };
        let control = self.controls[i]
            .as_ref()
            .filter(|_| self.tasks[i].is_some());
        let Some(control) = control.filter(|_| seen.state == State::Running) else {
            let _ = reply.send(done(
                false,
                format!("`{name}` is not running (it is {})", seen.state.as_str()),
            ));
            return;
        };
        let (tx, mut rx) = mpsc::unbounded_channel();
        let by = StopBy::Client("tend reload");
        let _ = control.send(Control::Reload(by, service::ReloadReply(tx)));
        let within = if how.command.is_empty() {
            std::time::Duration::ZERO
        } else {
            how.timeout.get()
        };
        let _ = reply.send(control::Answer::Accepted {
            accepted: true,
            wait_ms: control::wait_for(within).as_millis() as u64,
        });
        tokio::task::spawn_local(async move {
            let answer = match rx.recv().await {
                Some(Ok(how)) => done_with(true, format!("reloaded `{name}`: {how}")),
                Some(Err(why)) => done_with(false, format!("reload of `{name}` failed: {why}")),
                None => done_with(false, format!("`{name}` ended before it was reloaded")),
            };
            let _ = reply.send(answer);
        });
        fn done_with(ok: bool, message: String) -> control::Answer {
            control::Answer::Done(control::Done::new(ok, None, message))
        }
    }

    /// Each service's outcome, in spec order (stopped if it never ran).
    fn outcomes(self) -> Vec<(String, Outcome)> {
        self.specs
            .iter()
            .zip(self.outcomes)
            .map(|(s, o)| (s.name.to_string(), o.unwrap_or(Outcome::Stopped)))
            .collect()
    }
}

/// Answers a start or restart on `reply` once the service watched by `rx` runs, or
/// could not start (with why).
fn answer_when_started(
    mut rx: watch::Receiver<Seen>,
    reply: mpsc::UnboundedSender<control::Answer>,
    name: String,
) {
    tokio::task::spawn_local(async move {
        let seen = loop {
            let ended = rx.changed().await.is_err();
            let seen = rx.borrow_and_update().clone();
            if ended || seen.blocked || (seen.settled && seen.state != State::Stopping) {
                break seen;
            }
        };
        let message = match (&seen.message, seen.blocked) {
            (Some(m), true) => format!("`{name}` is not running: {m}"),
            _ => seen.describe(&name),
        };
        let _ = reply.send(control::Answer::Done(control::Done::new(
            seen.ready,
            Some(seen.state.as_str()),
            message,
        )));
    });
}

/// Hands a request other than stop to every running service.
fn forward(controls: &[Option<mpsc::UnboundedSender<Control>>], r: Request) {
    let c = match r {
        Request::ReopenLogs => Control::ReopenLogs,
        Request::Restart(by) => Control::Restart(by),
        Request::Reload(by) => Control::Reload(by, service::ReloadReply::unheard()),
        Request::Stop(by) => Control::Stop(by),
        Request::Pause | Request::Continue => {
            // The actor answers pause and continue itself; a refusal ("not running")
            // is said here, as there is no client to tell.
            for tx in controls.iter().flatten() {
                let (reply, mut answers) = mpsc::unbounded_channel();
                let reply = service::Reply(reply);
                let c = if matches!(r, Request::Pause) {
                    Control::Pause(reply)
                } else {
                    Control::Continue(reply)
                };
                if tx.send(c).is_ok() {
                    tokio::task::spawn_local(async move {
                        if let Some(control::Answer::Done(d)) = answers.recv().await {
                            if !d.ok {
                                say!("tend: {}", d.message);
                            }
                        }
                    });
                }
            }
            return;
        }
        Request::Ignored(what) => {
            say!("tend: {what} ignored");
            return;
        }
    };
    for tx in controls.iter().flatten() {
        let _ = tx.send(c.clone());
    }
}

/// Resolves when any of the tasks at `indices` finishes, with its index and outcome.
async fn futures_any(
    tasks: &mut [Option<tokio::task::JoinHandle<Outcome>>],
    indices: &[usize],
) -> (usize, Outcome) {
    std::future::poll_fn(|cx| {
        for &i in indices {
            if let Some(t) = tasks[i].as_mut() {
                if let std::task::Poll::Ready(r) = std::pin::Pin::new(t).poll(cx) {
                    tasks[i] = None;
                    return std::task::Poll::Ready((
                        i,
                        r.unwrap_or_else(|e| {
                            Outcome::Failed(format!("supervisor task failed: {e}"))
                        }),
                    ));
                }
            }
        }
        std::task::Poll::Pending
    })
    .await
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::event::{Ended, Run, Start, StopRequest};
    use super::policy::Exit;
    use super::*;
    use crate::spec::Duration as SpecDuration;

    fn crashed(stderr: &[&str]) -> Ended {
        Ended::Exited(Run {
            pid: 42,
            exit: Exit::Code(1),
            ran: Duration::from_millis(38),
            stderr: stderr.iter().map(|l| l.to_string()).collect(),
            oom_killed: false,
        })
    }

    /// The lifecycle lines as the console and the journal get them: the last stderr
    /// lines under a failed exit, the Ctrl-C hint only to a person at a terminal, a
    /// `giving up` in colour.
    #[test]
    fn event_lines() {
        let why = crashed(&["listening on :8080", "Error: address already in use"]);
        let tail = "\n  stderr: listening on :8080\n  stderr: Error: address already in use";
        let gave_up = Event::GaveUp {
            ended: why.clone(),
            restarts: 10,
            window: SpecDuration::from_secs(120),
            max_restarts: 10,
        };
        let ctrl_c = |by| Event::StopRequested {
            pid: 42,
            by,
            request: StopRequest::Sent("sent SIGTERM to pid 42".into()),
            timeout: SpecDuration::from_secs(30),
            restart: false,
        };
        let plain = EventLog {
            prefix: "tend: web: ".into(),
            interactive: false,
            color: false,
        };
        let console = EventLog {
            prefix: "tend: web: ".into(),
            interactive: true,
            color: true,
        };
        #[rustfmt::skip]
        let table: Vec<(&EventLog, Event, String)> = vec![
            (&plain, Event::Restarting { ended: why.clone(), delay: Duration::from_secs(1) },
                format!("tend: web: exit code 1 after 38ms; restarting in 1s{tail}")),
            (&plain, Event::Started { pid: 43, start: Start::AtOnce(why.clone()) },
                format!("tend: web: exit code 1 after 38ms; restarted (pid 43){tail}")),
            (&plain, gave_up.clone(),
                format!("tend: web: exit code 1 after 38ms; 10 restarts within 2m: giving up (restart.max_restarts = 10){tail}")),
            (&plain, Event::Restarting { ended: crashed(&[]), delay: Duration::from_secs(1) },
                "tend: web: exit code 1 after 38ms; restarting in 1s".into()),
            (&plain, ctrl_c(StopBy::Signal("SIGINT")),
                "tend: web: stopping on SIGINT: sent SIGTERM to pid 42, waiting up to 30s".into()),
            (&console, gave_up,
                format!("tend: web: \x1b[1;31mexit code 1 after 38ms; 10 restarts within 2m: giving up (restart.max_restarts = 10)\x1b[0m{tail}")),
            (&console, ctrl_c(StopBy::Signal("SIGINT")),
                "tend: web: stopping on SIGINT: sent SIGTERM to pid 42, waiting up to 30s; Ctrl-C again to kill now".into()),
            (&console, ctrl_c(StopBy::Console("Ctrl-C")),
                "tend: web: stopping on Ctrl-C: sent SIGTERM to pid 42, waiting up to 30s; Ctrl-C again to kill now".into()),
            (&console, ctrl_c(StopBy::Signal("SIGTERM")),
                "tend: web: stopping on SIGTERM: sent SIGTERM to pid 42, waiting up to 30s".into()),
        ];
        for (log, event, lines) in table {
            assert_eq!(log.render(&event), lines, "{event:?}");
        }
    }

    #[test]
    fn who_hosts_the_supervisor() {
        // (scm, notify socket reachable, stdin a terminal) -> hosted
        #[rustfmt::skip]
        let table = [
            ((true, false, false), true),
            ((true, false, true), true),
            ((false, true, false), true),
            ((false, true, true), false),
            ((false, false, false), false),
        ];
        for ((scm, notify, tty), want) in table {
            assert_eq!(hosted(scm, notify, tty), want, "{scm} {notify} {tty}");
        }
    }

    #[test]
    fn where_the_output_goes() {
        let file = |p: &str| Goes::File(PathBuf::from(p));
        #[rustfmt::skip]
        let table = [
            ([("stdout", file("/var/log/tend/web.out.log")), ("stderr", file("/var/log/tend/web.err.log"))],
                "stdout to /var/log/tend/web.out.log, stderr to /var/log/tend/web.err.log"),
            ([("stdout", Goes::Discarded), ("stderr", Goes::Inherited)],
                "stdout discarded, stderr inherited (the terminal, or the service manager's log)"),
        ];
        for (streams, said) in table {
            assert_eq!(describe_output(&streams), said);
        }
    }
}
