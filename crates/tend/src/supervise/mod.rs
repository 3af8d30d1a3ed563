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
//!   console, and later the init system's readiness protocol.
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

pub mod event;
pub mod eventlog;
pub mod hook;
pub mod logfile;
pub mod policy;
pub mod prepare;
pub mod pump;
pub mod service;
pub mod state;
pub mod sys;

use std::cell::RefCell;
use std::collections::BTreeSet;
#[cfg(unix)]
use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use tokio::sync::{mpsc, oneshot, watch};

use crate::spec::{LogTarget, Spec};

use event::Event;
use logfile::{RotateConfig, RotatingFile};
use policy::Exit;
use pump::{ConsoleSink, SharedSink, Sink};
use service::{Control, Observer, Outcome, ServiceSetup};
use state::{State, Status};

/// Collects exit statuses and routes them to whoever waits for that child.
#[derive(Default)]
pub struct Reaper {
    #[cfg(unix)]
    waiting: RefCell<HashMap<i32, oneshot::Sender<Exit>>>,
}

#[cfg(unix)]
impl Reaper {
    /// Starts reaping (must be called inside a `LocalSet`).
    pub fn start() -> io::Result<Rc<Reaper>> {
        use tokio::signal::unix::{signal, SignalKind};
        let mut sigchld = signal(SignalKind::child())?;
        let reaper = Rc::new(Reaper::default());
        let r = reaper.clone();
        tokio::task::spawn_local(async move {
            loop {
                while let Some((pid, exit)) = sys::reap_one() {
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
    pub fn watch(&self, child: &mut sys::Spawned) -> oneshot::Receiver<Exit> {
        let (tx, rx) = oneshot::channel();
        self.waiting.borrow_mut().insert(child.pid, tx);
        rx
    }

    /// The pids of the children being waited for.
    pub fn live_pids(&self) -> BTreeSet<i32> {
        self.waiting.borrow().keys().copied().collect()
    }
}

#[cfg(windows)]
impl Reaper {
    /// Nothing to start: each child has a thread waiting on its process handle.
    pub fn start() -> io::Result<Rc<Reaper>> {
        Ok(Rc::new(Reaper::default()))
    }

    /// Returns a receiver for the child's exit (from its waiting thread).
    pub fn watch(&self, child: &mut sys::Spawned) -> oneshot::Receiver<Exit> {
        child.exit.take().unwrap_or_else(|| {
            // Watched twice: the second receiver reads as a lost status.
            oneshot::channel().1
        })
    }

    /// Orphans are contained by Job Objects on Windows: nothing to track.
    pub fn live_pids(&self) -> BTreeSet<i32> {
        BTreeSet::new()
    }
}

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
    /// Report readiness and status to the init system (systemd's `NOTIFY_SOCKET`).
    pub notify: bool,
}

/// The default state directory: `TEND_STATE_DIR`, else `%LOCALAPPDATA%\tend`
/// (installed services are given theirs under `%ProgramData%\tend`).
#[cfg(windows)]
pub fn default_state_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("TEND_STATE_DIR") {
        return d.into();
    }
    std::env::var_os("LOCALAPPDATA")
        .or_else(|| std::env::var_os("ProgramData"))
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir)
        .join("tend")
}

/// The default log directory: `TEND_LOG_DIR`, else `logs` under the state directory.
#[cfg(windows)]
pub fn default_log_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("TEND_LOG_DIR") {
        return d.into();
    }
    default_state_dir().join("logs")
}

/// The default state directory: `TEND_STATE_DIR`, else `/var/lib/tend` for root, else
/// `$XDG_STATE_HOME/tend` (`~/.local/state/tend`).
#[cfg(unix)]
pub fn default_state_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("TEND_STATE_DIR") {
        return d.into();
    }
    if sys::euid() == 0 {
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
#[cfg(unix)]
pub fn default_log_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("TEND_LOG_DIR") {
        return d.into();
    }
    if sys::euid() == 0 {
        return "/var/log/tend".into();
    }
    default_state_dir().join("logs")
}

struct StateFile {
    dir: PathBuf,
    failed: bool,
}

impl Observer for StateFile {
    fn counters(&mut self, status: &Status) {
        self.write(status);
    }

    fn changed(&mut self, status: &Status, _event: &Event) {
        self.write(status);
    }
}

impl StateFile {
    fn write(&mut self, status: &Status) {
        match state::write_status(&self.dir, status) {
            Ok(()) => self.failed = false,
            Err(e) if !self.failed => {
                self.failed = true;
                say!(
                    "tend: {}: cannot write the state file in {}: {e}",
                    status.name,
                    self.dir.display()
                );
            }
            Err(_) => {}
        }
    }
}

struct EventLog {
    prefix: String,
}

impl Observer for EventLog {
    fn changed(&mut self, _status: &Status, event: &Event) {
        // Rendered first: stderr is unbuffered, and the event's parts would each be a
        // write of their own.
        let line = format!("{}{event}", self.prefix);
        say!("{line}");
    }
}

/// Speaks systemd's notify protocol: `READY=1` once the child first runs, `STATUS=` on
/// every change, `STOPPING=1` when a stop begins.
struct SdNotify {
    notifier: tend_service::systemd::Notifier,
    ready: bool,
}

impl Observer for SdNotify {
    fn changed(&mut self, status: &Status, event: &Event) {
        let n = &self.notifier;
        if status.state == State::Running && !self.ready {
            self.ready = n.ready().is_ok();
        }
        if status.state == State::Stopping {
            let _ = n.stopping();
        }
        let _ = n.status(&format!("{}: {event}", status.state.as_str()));
    }
}

/// Pings the systemd watchdog at half its interval while the supervisor's loop runs.
fn spawn_watchdog(notifier: tend_service::systemd::Notifier) {
    if let Some(interval) = tend_service::systemd::watchdog_interval_any_pid() {
        tokio::task::spawn_local(async move {
            let mut tick = tokio::time::interval(interval / 2);
            loop {
                tick.tick().await;
                let _ = notifier.watchdog();
            }
        });
    }
}

struct StateWatch(watch::Sender<State>);

impl Observer for StateWatch {
    fn changed(&mut self, status: &Status, _event: &Event) {
        let _ = self.0.send(status.state);
    }
}

/// The Windows Event Log observer of a service: lifecycle events (started, exited,
/// restarting, gave up, stop timed out) under the service's own event source, with
/// the messages compiled into tend.exe (see [`eventlog`]).
#[cfg(windows)]
pub fn eventlog_observer(spec: &Spec) -> Vec<Box<dyn Observer>> {
    match tend_service::windows::eventlog::EventSource::open(spec.name.as_str()) {
        Ok(source) => vec![Box::new(WinEventLog {
            source,
            mapper: eventlog::EventMapper::new(spec),
            failed: false,
        })],
        Err(e) => {
            say!("tend: {}: cannot open the Event Log: {e}", spec.name);
            Vec::new()
        }
    }
}

#[cfg(windows)]
struct WinEventLog {
    source: tend_service::windows::eventlog::EventSource,
    mapper: eventlog::EventMapper,
    failed: bool,
}

#[cfg(windows)]
impl Observer for WinEventLog {
    fn changed(&mut self, status: &Status, event: &Event) {
        for e in self.mapper.map(status, event) {
            let strings = e.strings();
            let strings: Vec<&str> = strings.iter().map(String::as_str).collect();
            match self
                .source
                .report(e.kind().into(), e.message_id(), &strings)
            {
                Ok(()) => self.failed = false,
                Err(err) if !self.failed => {
                    self.failed = true;
                    say!(
                        "tend: {}: cannot write to the Event Log: {err}",
                        status.name
                    );
                }
                Err(_) => {}
            }
        }
    }
}

const COLORS: [&str; 6] = ["36", "33", "35", "32", "34", "31"];

fn open_sink(
    spec: &Spec,
    base: &Path,
    target: LogTarget,
    stream: &str,
    opts: &Options,
    prefix: &str,
) -> io::Result<Option<SharedSink>> {
    let sink = match (target, opts.console) {
        (LogTarget::Null, _) => return Ok(None),
        (_, true) => Sink::Console(ConsoleSink::new(prefix.to_string(), stream == "err")),
        (LogTarget::Inherit, false) => return Ok(None),
        (LogTarget::File, false) => {
            let log = &spec.log;
            Sink::File(RotatingFile::open(RotateConfig {
                // Relative to the spec's folder, like every path in a spec.
                dir: log
                    .dir
                    .as_ref()
                    .map_or_else(|| opts.log_dir.clone(), |d| base.join(d)),
                stem: format!("{}.{stream}", spec.name),
                max_size: log.max_size.0,
                every: log.rotate,
                keep: log.keep,
                compress: log.compress,
                timestamps: log.timestamps,
            })?)
        }
    };
    Ok(Some(Rc::new(RefCell::new(sink))))
}

/// What the outside world asks of the supervisor: signals on Unix, console events on
/// Windows, the service control manager's controls.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Request {
    /// Stop every service (a second one while stopping: kill them at once).
    Stop,
    /// Reopen the log files (after an external rotation).
    ReopenLogs,
    /// Restart every service's child (gracefully).
    Restart,
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

/// Turns the OS's stop and reopen signals into [`Request`]s (must be called inside a
/// `LocalSet`): SIGTERM, SIGINT and SIGQUIT stop; SIGHUP and SIGUSR1 reopen logs;
/// SIGUSR2 is ignored (the guard forwards all of these, and without a handler each
/// would kill the supervisor).
#[cfg(unix)]
fn listen_os(tx: mpsc::UnboundedSender<Request>) -> Result<(), SuperviseError> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut streams = Vec::new();
    for (kind, name, req) in [
        (SignalKind::terminate(), "SIGTERM", Request::Stop),
        (SignalKind::interrupt(), "SIGINT", Request::Stop),
        (SignalKind::quit(), "SIGQUIT", Request::Stop),
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

/// Turns console events (Ctrl-C, Ctrl-Break, the console closing, logoff, shutdown)
/// into stop [`Request`]s (must be called inside a `LocalSet`). Also clears an
/// inherited "ignore Ctrl-C" flag, which the children would inherit in turn.
#[cfg(windows)]
fn listen_os(tx: mpsc::UnboundedSender<Request>) -> Result<(), SuperviseError> {
    use tokio::signal::windows;
    sys::enable_ctrl_c_for_children();
    let err = |what: &str| {
        let what = what.to_string();
        move |source| SuperviseError::Io { what, source }
    };
    macro_rules! forward {
        ($make:expr, $what:expr) => {{
            let mut s = $make.map_err(err($what))?;
            let tx = tx.clone();
            tokio::task::spawn_local(async move {
                while s.recv().await.is_some() {
                    if tx.send(Request::Stop).is_err() {
                        break;
                    }
                }
            });
        }};
    }
    forward!(windows::ctrl_c(), "cannot handle Ctrl-C");
    forward!(windows::ctrl_break(), "cannot handle Ctrl-Break");
    forward!(windows::ctrl_close(), "cannot handle the console closing");
    forward!(windows::ctrl_shutdown(), "cannot handle shutdown");
    Ok(())
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
    /// The log or state directory, or a signal handler, could not be set up.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The error.
        source: io::Error,
    },
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
    let result = supervise_locked(specs, order, spec_path, opts, extras).await;
    // No log is written any more: finish compressing the rotated ones while the
    // services are still this supervisor's.
    logfile::finish_compression();
    drop(locks);
    result
}

/// [`supervise_with`], once the services are locked.
async fn supervise_locked(
    specs: &[Spec],
    order: &[usize],
    spec_path: &Path,
    opts: &Options,
    extras: Extras,
) -> Result<Vec<(String, Outcome)>, SuperviseError> {
    let io_err = |what: String| move |source| SuperviseError::Io { what, source };
    let spec_path = &std::path::absolute(spec_path).unwrap_or_else(|_| spec_path.to_path_buf());
    let base = prepare::spec_base(spec_path);
    let env: Vec<_> = std::env::vars_os().collect();
    let width = specs
        .iter()
        .map(|s| s.name.as_str().len())
        .max()
        .unwrap_or(0);
    // Prepare everything first: nothing starts if any service cannot.
    let mut setups = Vec::new();
    for (i, spec) in specs.iter().enumerate() {
        let (prepared, warnings) = prepare::prepare(spec, &base, &env, opts.console)?;
        let hook = prepare::prepare_hook(spec, &base, &prepared)?;
        for w in warnings {
            say!("tend: {}: warning: {w}", spec.name);
        }
        let plain = format!("{:width$} | ", spec.name.as_str());
        let prefix = if opts.color {
            format!("\x1b[{}m{plain}\x1b[0m", COLORS[i % COLORS.len()])
        } else {
            plain
        };
        let stdout = open_sink(spec, &base, spec.log.stdout, "out", opts, &prefix).map_err(
            io_err(format!("cannot open the stdout log of {}", spec.name)),
        )?;
        let stderr = open_sink(spec, &base, spec.log.stderr, "err", opts, &prefix).map_err(
            io_err(format!("cannot open the stderr log of {}", spec.name)),
        )?;
        setups.push(Some(ServiceSetup {
            spec: spec.clone(),
            spec_path: spec_path.to_path_buf(),
            prepared,
            hook,
            stdout,
            stderr,
            sole: specs.len() == 1,
            pumps: Default::default(),
            log_counters: Default::default(),
        }));
    }

    let reaper = Reaper::start().map_err(io_err("cannot watch for child exits".into()))?;
    let (req_tx, mut requests) = mpsc::unbounded_channel();
    listen_os(req_tx.clone())?;
    if let Some(mut more) = extras.requests {
        let tx = req_tx.clone();
        tokio::task::spawn_local(async move {
            while let Some(r) = more.recv().await {
                if tx.send(r).is_err() {
                    break;
                }
            }
        });
    }

    let mut controls: Vec<Option<mpsc::UnboundedSender<Control>>> = vec![None; specs.len()];
    let mut states: Vec<watch::Receiver<State>> = Vec::new();
    let mut senders = Vec::new();
    for _ in specs {
        let (tx, rx) = watch::channel(State::Starting);
        states.push(rx);
        senders.push(Some(tx));
    }
    let mut tasks: Vec<Option<tokio::task::JoinHandle<Outcome>>> =
        (0..specs.len()).map(|_| None).collect();
    let mut outcomes: Vec<Option<Outcome>> = vec![None; specs.len()];
    let mut stopping = false;

    // Start in dependency order, each after its dependencies are running.
    let mut started = Vec::new();
    'start: for &i in order {
        for dep in &specs[i].depends_on {
            let j = specs.iter().position(|s| s.name == *dep).unwrap_or(i);
            let mut rx = states[j].clone();
            loop {
                let st = *rx.borrow_and_update();
                match st {
                    State::Running => break,
                    State::Failed | State::Exited | State::Stopped => {
                        say!(
                            "tend: {}: not started: dependency `{dep}` is {}",
                            specs[i].name,
                            st.as_str()
                        );
                        outcomes[i] = Some(Outcome::Failed(format!(
                            "dependency `{dep}` is {}",
                            st.as_str()
                        )));
                        // Its own dependents must not wait for it.
                        if let Some(tx) = senders[i].take() {
                            // The last value stays readable after the sender is gone.
                            let _ = tx.send(State::Failed);
                        }
                        continue 'start;
                    }
                    _ => {}
                }
                tokio::select! {
                    r = rx.changed() => if r.is_err() { break },
                    r = requests.recv() => match r {
                        Some(Request::Stop) | None => { stopping = true; break 'start; }
                        Some(r) => forward(&controls, r),
                    }
                }
            }
        }
        let (tx, rx) = mpsc::unbounded_channel();
        controls[i] = Some(tx);
        let setup = setups[i].take().expect("each service is started once");
        let event_prefix = if opts.console {
            format!("tend: {} ", setup.spec.name)
        } else {
            format!("tend: {}: ", setup.spec.name)
        };
        let mut observers: Vec<Box<dyn Observer>> = vec![
            Box::new(StateFile {
                dir: opts.state_dir.clone(),
                failed: false,
            }),
            Box::new(EventLog {
                prefix: event_prefix,
            }),
            Box::new(StateWatch(
                senders[i].take().expect("one watch per service"),
            )),
        ];
        if let Some(make) = &extras.observers {
            observers.extend(make(&specs[i]));
        }
        if opts.notify && specs.len() == 1 {
            if let Some(n) = tend_service::systemd::Notifier::from_env() {
                observers.push(Box::new(SdNotify {
                    notifier: n,
                    ready: false,
                }));
            }
            if let Some(n) = tend_service::systemd::Notifier::from_env() {
                spawn_watchdog(n);
            }
        }
        tasks[i] = Some(tokio::task::spawn_local(service::run_service(
            setup,
            reaper.clone(),
            rx,
            observers,
        )));
        started.push(i);
    }

    // Wait for every service to end, or for a stop signal.
    loop {
        let running: Vec<usize> = started
            .iter()
            .copied()
            .filter(|&i| outcomes[i].is_none())
            .collect();
        if running.is_empty() || stopping {
            break;
        }
        let any_done = futures_any(&mut tasks, &running);
        tokio::select! {
            (i, out) = any_done => { outcomes[i] = Some(out); }
            r = requests.recv() => match r {
                Some(Request::Stop) | None => stopping = true,
                Some(r) => forward(&controls, r),
            }
        }
    }
    // Stop in reverse start order, each completely before the next.
    for &i in started.iter().rev() {
        if outcomes[i].is_some() {
            continue;
        }
        if let Some(c) = &controls[i] {
            let _ = c.send(Control::Stop);
        }
        if let Some(mut t) = tasks[i].take() {
            // A second stop request (Ctrl-C again) means: no more waiting, kill now.
            let done = loop {
                tokio::select! {
                    r = &mut t => break r,
                    r = requests.recv() => match r {
                        Some(Request::Stop) => {}
                        Some(Request::ReopenLogs) => { forward(&controls, Request::ReopenLogs); continue; }
                        Some(_) | None => continue,
                    }
                }
                say!("tend: stopping at once: killing every remaining service");
                for c in controls.iter().flatten() {
                    let _ = c.send(Control::Kill);
                }
            };
            outcomes[i] = Some(
                done.unwrap_or_else(|e| Outcome::Failed(format!("supervisor task failed: {e}"))),
            );
        }
    }
    sys::kill_orphans(&BTreeSet::new());
    Ok(specs
        .iter()
        .zip(outcomes)
        .map(|(s, o)| (s.name.to_string(), o.unwrap_or(Outcome::Stopped)))
        .collect())
}

/// Hands a request other than stop to every running service.
fn forward(controls: &[Option<mpsc::UnboundedSender<Control>>], r: Request) {
    let c = match r {
        Request::ReopenLogs => Control::ReopenLogs,
        Request::Restart => Control::Restart,
        Request::Stop => Control::Stop,
        Request::Ignored(what) => {
            say!("tend: {what} ignored");
            return;
        }
    };
    for tx in controls.iter().flatten() {
        let _ = tx.send(c);
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
