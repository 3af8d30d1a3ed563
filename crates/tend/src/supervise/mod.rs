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

pub mod logfile;
pub mod policy;
pub mod prepare;
pub mod pump;
pub mod service;
pub mod state;
pub mod sys;

use std::cell::RefCell;
use std::collections::{BTreeSet, HashMap};
use std::future::Future;
use std::io;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::{mpsc, oneshot, watch};

use crate::spec::{LogTarget, Spec};

use logfile::{RotateConfig, RotatingFile};
use policy::Exit;
use pump::{ConsoleSink, SharedSink, Sink};
use service::{Control, Observer, Outcome, ServiceSetup};
use state::{State, Status};

/// Collects exit statuses and routes them to whoever waits for that pid.
#[derive(Default)]
pub struct Reaper {
    waiting: RefCell<HashMap<i32, oneshot::Sender<Exit>>>,
}

impl Reaper {
    /// Starts reaping (must be called inside a `LocalSet`).
    pub fn start() -> io::Result<Rc<Reaper>> {
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

    /// Returns a receiver for `pid`'s exit. Call it right after spawning, before any
    /// await, so the exit cannot be collected before it is awaited.
    pub fn watch(&self, pid: i32) -> oneshot::Receiver<Exit> {
        let (tx, rx) = oneshot::channel();
        self.waiting.borrow_mut().insert(pid, tx);
        rx
    }

    /// The pids of the children being waited for.
    pub fn live_pids(&self) -> BTreeSet<i32> {
        self.waiting.borrow().keys().copied().collect()
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

/// The default state directory: `TEND_STATE_DIR`, else `/var/lib/tend` for root, else
/// `$XDG_STATE_HOME/tend` (`~/.local/state/tend`).
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
    fn changed(&mut self, status: &Status, _event: &str) {
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
    fn changed(&mut self, _status: &Status, event: &str) {
        say!("{}{event}", self.prefix);
    }
}

/// Speaks systemd's notify protocol: `READY=1` once the child first runs, `STATUS=` on
/// every change, `STOPPING=1` when a stop begins.
struct SdNotify {
    notifier: tend_service::systemd::Notifier,
    ready: bool,
}

impl Observer for SdNotify {
    fn changed(&mut self, status: &Status, event: &str) {
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
    fn changed(&mut self, status: &Status, _event: &str) {
        let _ = self.0.send(status.state);
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

/// Why the supervisor could not start.
#[derive(Debug, thiserror::Error)]
pub enum SuperviseError {
    /// A service could not be prepared (missing program, unknown user, ...).
    #[error("{0}")]
    Prepare(#[from] prepare::PrepareError),
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
            stdout,
            stderr,
            sole: specs.len() == 1,
            pumps: Default::default(),
        }));
    }
    std::fs::create_dir_all(&opts.state_dir).map_err(io_err(format!(
        "cannot create the state directory {}",
        opts.state_dir.display()
    )))?;

    let reaper = Reaper::start().map_err(io_err("cannot watch for child exits".into()))?;
    let mut term =
        signal(SignalKind::terminate()).map_err(io_err("cannot handle SIGTERM".into()))?;
    let mut int = signal(SignalKind::interrupt()).map_err(io_err("cannot handle SIGINT".into()))?;
    let mut hup = signal(SignalKind::hangup()).map_err(io_err("cannot handle SIGHUP".into()))?;
    // The guard forwards these too; without a handler each would kill the supervisor.
    let mut quit = signal(SignalKind::quit()).map_err(io_err("cannot handle SIGQUIT".into()))?;
    let mut usr1 =
        signal(SignalKind::user_defined1()).map_err(io_err("cannot handle SIGUSR1".into()))?;
    let mut usr2 =
        signal(SignalKind::user_defined2()).map_err(io_err("cannot handle SIGUSR2".into()))?;

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
                    _ = term.recv() => { stopping = true; break 'start; }
                    _ = int.recv() => { stopping = true; break 'start; }
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
            _ = term.recv() => stopping = true,
            _ = int.recv() => stopping = true,
            _ = quit.recv() => stopping = true,
            _ = hup.recv() => {
                for c in controls.iter().flatten() { let _ = c.send(Control::ReopenLogs); }
            }
            _ = usr1.recv() => {
                for c in controls.iter().flatten() { let _ = c.send(Control::ReopenLogs); }
            }
            _ = usr2.recv() => say!("tend: SIGUSR2 ignored"),
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
                    _ = term.recv() => {}
                    _ = int.recv() => {}
                    _ = quit.recv() => {}
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
