//! The service actor: one task per service, one loop over events — the child exited,
//! a control command arrived (stop, restart), a timer fired (backoff over, stop
//! timeout). Decisions come from the pure policy in [`super::policy`]; this file only
//! carries them out and reports every change of state.

use std::cell::RefCell;
use std::path::PathBuf;
use std::rc::Rc;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot, Notify};
use tokio::task::JoinHandle;
use tokio::time::sleep_until;

use crate::spec::Spec;

use super::hook::{self, Hook};
use super::logfile::Dropped;
use super::policy::{signal_name, Decision, Exit, RestartTracker};
use super::pump::{self, keep_counters_current, report_counters, set_dropped, SharedSink};
use super::state::{now_ms, LastExit, State, Status};
use super::sys::{self, Prepared, Tree};
use super::Reaper;

/// Commands to a running service.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Control {
    /// Stop gracefully, then end the actor.
    Stop,
    /// Stop the child gracefully and start it again (no backoff).
    Restart,
    /// Reopen the log files (after an external rotation).
    ReopenLogs,
    /// Stop without waiting: kill the process tree now.
    Kill,
}

/// How a service ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Stopped on request.
    Stopped,
    /// The child exited and the policy said not to restart it.
    Exited {
        /// Whether the exit counted as success.
        success: bool,
    },
    /// The service gave up (restart limit, or the child cannot be started).
    Failed(String),
}

/// Receives every status change (the state file, the console, the init system).
pub trait Observer {
    /// `status` is the new status; `event` a one-line description of what happened.
    fn changed(&mut self, status: &Status, event: &str);

    /// Only the dropped-output counters changed (`log_dropped_*` in `status`): at most
    /// once per [`COUNTERS_EVERY`] while output is being dropped. Nothing by default.
    fn counters(&mut self, _status: &Status) {}
}

/// How often, at most, observers hear of dropped output between changes of state.
pub const COUNTERS_EVERY: Duration = Duration::from_secs(1);

/// What the actor needs besides the spec.
pub struct ServiceSetup {
    /// The spec.
    pub spec: Spec,
    /// The spec file.
    pub spec_path: PathBuf,
    /// The prepared command.
    pub prepared: Prepared,
    /// The stop hook (`stop.http`, `stop.command`), tried before the stop signal.
    pub hook: Option<Hook>,
    /// Sinks for stdout and stderr (when piped).
    pub stdout: Option<SharedSink>,
    /// See `stdout`.
    pub stderr: Option<SharedSink>,
    /// Whether this is the only service of the supervisor (orphans are then surely its).
    pub sole: bool,
    /// The output pumps of the current and previous children, until they finish.
    pub pumps: RefCell<Vec<JoinHandle<()>>>,
    /// Woken by the pumps when a sink's dropped-output counters grow.
    pub log_counters: Rc<Notify>,
}

/// The running child: its pid and its process tree (a process group on Unix, a Job
/// Object on Windows, which must stay open while the child is supervised).
struct Child {
    pid: i32,
    tree: Tree,
}

/// Why a stopping child was killed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Killed {
    /// It did not stop within `stop.timeout`.
    AfterTimeout,
    /// A second stop request (Ctrl-C again) asked not to wait.
    AtOnce,
}

/// What a stop hook reports: what it did, or why the stop request must be sent after
/// all.
type HookResult = oneshot::Receiver<Result<String, String>>;

enum Phase {
    Running {
        child: Child,
        started: Instant,
        exit: oneshot::Receiver<Exit>,
    },
    /// `note`: why, when the restart is immediate and nothing was reported yet.
    Backoff {
        until: Instant,
        note: Option<String>,
    },
    Stopping {
        child: Child,
        exit: oneshot::Receiver<Exit>,
        deadline: Instant,
        killed: Option<Killed>,
        restart_after: bool,
        hook: Option<HookResult>,
    },
    Done(Outcome),
}

/// Runs one service until it is stopped, ends, or fails.
pub async fn run_service(
    setup: ServiceSetup,
    reaper: Rc<Reaper>,
    mut control: mpsc::UnboundedReceiver<Control>,
    observers: Vec<Box<dyn Observer>>,
) -> Outcome {
    let spec = &setup.spec;
    let mut status = Status {
        name: spec.name.to_string(),
        state: State::Starting,
        spec: setup.spec_path.clone(),
        supervisor_pid: std::process::id(),
        pid: None,
        started_at_ms: None,
        since_ms: now_ms(),
        restarts: 0,
        last_exit: None,
        message: None,
        log_dropped_lines: 0,
        log_dropped_bytes: 0,
    };
    let mut tracker = RestartTracker::default();
    // Shared with the task that keeps the counters current between changes of state.
    let observers = Rc::new(RefCell::new(observers));
    let shown = Rc::new(RefCell::new(status.clone()));
    let sinks: Vec<SharedSink> = [&setup.stdout, &setup.stderr]
        .into_iter()
        .flatten()
        .cloned()
        .collect();
    let mut report = |status: &mut Status, state: State, event: String| {
        status.state = state;
        status.since_ms = now_ms();
        set_dropped(status, &sinks);
        shown.borrow_mut().clone_from(status);
        for o in observers.borrow_mut().iter_mut() {
            o.changed(status, &event);
        }
    };
    let _counters = AbortOnDrop(tokio::task::spawn_local(keep_counters_current(
        sinks.clone(),
        shown.clone(),
        observers.clone(),
        setup.log_counters.clone(),
    )));

    let mut control_open = true;
    let mut phase = start(
        &setup,
        &reaper,
        &mut status,
        &mut report,
        &mut tracker,
        None,
    );
    loop {
        phase = match phase {
            Phase::Done(outcome) => {
                // The last lines a child wrote (its shutdown message) must reach the log.
                let pumps: Vec<_> = setup.pumps.borrow_mut().drain(..).collect();
                for p in pumps {
                    let _ = tokio::time::timeout(Duration::from_secs(2), p).await;
                }
                report_counters(&sinks, &shown, &observers);
                return outcome;
            }
            Phase::Running {
                child,
                started,
                mut exit,
            } => {
                tokio::select! {
                    e = &mut exit => {
                        let e = e.unwrap_or(KILLED);
                        after_exit(&setup, &reaper, &mut status, &mut report, &mut tracker, child, started, e)
                    }
                    c = control.recv() => match c.unwrap_or(Control::Stop) {
                        Control::ReopenLogs => { reopen(&setup); Phase::Running { child, started, exit } }
                        Control::Kill => {
                            let _ = sys::kill_tree(&child.tree);
                            sweep_orphans(&setup, &reaper);
                            report(&mut status, State::Stopping, "killing the process tree at once".into());
                            Phase::Stopping { child, exit, deadline: Instant::now(), killed: Some(Killed::AtOnce), restart_after: false, hook: None }
                        }
                        c => begin_stop(&setup, &reaper, &mut status, &mut report, child, exit, c == Control::Restart),
                    }
                }
            }
            Phase::Backoff { until, note } => {
                tokio::select! {
                    _ = sleep_until(until.into()) => start(&setup, &reaper, &mut status, &mut report, &mut tracker, note),
                    c = control.recv() => match c.unwrap_or(Control::Stop) {
                        Control::Stop | Control::Kill => {
                            status.pid = None;
                            report(&mut status, State::Stopped, "stopped (was waiting to restart)".into());
                            Phase::Done(Outcome::Stopped)
                        }
                        Control::Restart => start(&setup, &reaper, &mut status, &mut report, &mut tracker, None),
                        Control::ReopenLogs => { reopen(&setup); Phase::Backoff { until, note } }
                    }
                }
            }
            Phase::Stopping {
                child,
                mut exit,
                deadline,
                killed,
                restart_after,
                mut hook,
            } => {
                tokio::select! {
                    e = &mut exit => {
                        let e = e.unwrap_or(KILLED);
                        let took = Instant::now().saturating_duration_since(deadline.checked_sub(spec.stop.timeout.get()).unwrap_or(deadline));
                        // A program stopped by the hook may exit before the hook has read
                        // its answer: the answer (or why there was none) comes promptly
                        // now, and belongs in the log before "stopped".
                        if let Some(h) = hook.take() {
                            if let Ok(Ok(Ok(done))) = tokio::time::timeout(Duration::from_secs(1), h).await {
                                report(&mut status, State::Stopping, format!("stop hook: {done}"));
                            }
                        }
                        clean_up_tree(&setup, &reaper, &child.tree);
                        record_exit(&mut status, e);
                        let how = match killed {
                            Some(Killed::AfterTimeout) => format!("killed after the {} stop timeout", spec.stop.timeout),
                            Some(Killed::AtOnce) => "killed at once on a second stop request".to_string(),
                            None => format!("stopped gracefully in {} ({e})", show(took)),
                        };
                        if restart_after {
                            status.restarts += 1;
                            start(&setup, &reaper, &mut status, &mut report, &mut tracker, Some(format!("{how}; restarted on request")))
                        } else {
                            status.pid = None;
                            status.message = Some(how.clone());
                            report(&mut status, State::Stopped, how);
                            Phase::Done(Outcome::Stopped)
                        }
                    }
                    r = async { match hook.as_mut() { Some(h) => h.await, None => std::future::pending().await } }, if hook.is_some() => {
                        hook = None;
                        match r {
                            Ok(Ok(done)) => report(&mut status, State::Stopping, format!("stop hook: {done}")),
                            // The hook could not ask: send the stop request after all.
                            Ok(Err(why)) => {
                                let sent = request_stop(&child, spec);
                                report(&mut status, State::Stopping, format!("stop hook failed ({why}); {sent}"));
                            }
                            Err(_) => {}
                        }
                        Phase::Stopping { child, exit, deadline, killed, restart_after, hook }
                    }
                    _ = sleep_until(deadline.into()), if killed.is_none() => {
                        // The tree, and orphans only when they can only be this service's.
                        let _ = sys::kill_tree(&child.tree);
                        sweep_orphans(&setup, &reaper);
                        status.message = Some(format!("did not stop within {}; killing the process tree", spec.stop.timeout));
                        report(&mut status, State::Stopping, format!("did not stop within {}; killed the process tree", spec.stop.timeout));
                        Phase::Stopping { child, exit, deadline, killed: Some(Killed::AfterTimeout), restart_after, hook }
                    }
                    c = control.recv(), if control_open => match c {
                        // A stop during a restart's stop: do not start it again.
                        Some(Control::Stop) => Phase::Stopping { child, exit, deadline, killed, restart_after: false, hook },
                        Some(Control::ReopenLogs) => { reopen(&setup); Phase::Stopping { child, exit, deadline, killed, restart_after, hook } }
                        Some(Control::Restart) => Phase::Stopping { child, exit, deadline, killed, restart_after, hook },
                        Some(Control::Kill) => {
                            let _ = sys::kill_tree(&child.tree);
                            sweep_orphans(&setup, &reaper);
                            Phase::Stopping { child, exit, deadline, killed: killed.or(Some(Killed::AtOnce)), restart_after: false, hook }
                        }
                        // Nobody can send commands any more: just finish stopping.
                        None => {
                            control_open = false;
                            Phase::Stopping { child, exit, deadline, killed, restart_after: false, hook }
                        }
                    }
                }
            }
        };
    }
}

/// Ends a task with the actor.
struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

fn reopen(setup: &ServiceSetup) {
    for s in [&setup.stdout, &setup.stderr].into_iter().flatten() {
        let _ = s.borrow_mut().reopen();
    }
}

fn show(d: Duration) -> String {
    if d < Duration::from_secs(1) {
        format!("{}ms", d.as_millis())
    } else {
        format!("{:.1}s", d.as_secs_f64())
    }
}

fn record_exit(status: &mut Status, e: Exit) {
    status.last_exit = Some(match e {
        Exit::Code(c) => LastExit {
            code: Some(c),
            signal: None,
            at_ms: now_ms(),
        },
        Exit::Signal(s) => LastExit {
            code: None,
            signal: Some(signal_name(s)),
            at_ms: now_ms(),
        },
    });
}

/// How an exit reads when the exit status was lost (the waiter went away).
#[cfg(unix)]
const KILLED: Exit = Exit::Signal(9);
#[cfg(windows)]
const KILLED: Exit = Exit::Code(1);

/// After a stop: kills what the child left behind, its whole process tree (whatever
/// `windows.kill_on_close` says: a stop ends the service), and (when this supervisor
/// runs only this service) any orphan re-parented to the supervisor.
fn clean_up_tree(setup: &ServiceSetup, reaper: &Reaper, tree: &Tree) {
    let _ = sys::kill_tree(tree);
    sweep_orphans(setup, reaper);
}

/// Kills orphans re-parented to the supervisor. This reads /proc, so after a crash it
/// runs once the replacement is started, off the restart's critical path.
fn sweep_orphans(setup: &ServiceSetup, reaper: &Reaper) {
    if setup.sole {
        sys::kill_orphans(&reaper.live_pids());
    }
}

fn start(
    setup: &ServiceSetup,
    reaper: &Rc<Reaper>,
    status: &mut Status,
    report: &mut impl FnMut(&mut Status, State, String),
    tracker: &mut RestartTracker,
    note: Option<String>,
) -> Phase {
    match sys::spawn(&setup.prepared) {
        Ok(mut child) => {
            // Registered before the next await, so the reaper cannot miss this exit.
            let exit = reaper.watch(&mut child);
            for (fd, sink) in [(child.stdout, &setup.stdout), (child.stderr, &setup.stderr)] {
                if let (Some(fd), Some(sink)) = (fd, sink) {
                    let sink = sink.clone();
                    let name = setup.spec.name.to_string();
                    let grew = setup.log_counters.clone();
                    let mut seen = Dropped::default();
                    let mut failing = false;
                    let handle = tokio::task::spawn_local(async move {
                        let _ = pump::pump(fd, sink, |s| {
                            if s.dropped() != seen {
                                seen = s.dropped();
                                grew.notify_one();
                            }
                            match s.take_error() {
                                Some(e) if !failing => {
                                    failing = true;
                                    super::say!("tend: {name}: cannot write the log ({e}); dropping output and counting it");
                                }
                                None if failing => {
                                    failing = false;
                                    super::say!("tend: {name}: log writes resumed; {} lines ({} bytes) dropped so far", seen.lines, seen.bytes);
                                }
                                _ => {}
                            }
                        })
                        .await;
                    });
                    let mut pumps = setup.pumps.borrow_mut();
                    pumps.retain(|h| !h.is_finished());
                    pumps.push(handle);
                }
            }
            status.pid = Some(child.pid);
            status.started_at_ms = Some(now_ms());
            status.message = None;
            let event = match note {
                Some(why) => format!("{why} (pid {})", child.pid),
                None if status.restarts > 0 => format!("restarted (pid {})", child.pid),
                None => format!("started (pid {})", child.pid),
            };
            report(status, State::Running, event);
            Phase::Running {
                child: Child {
                    pid: child.pid,
                    tree: child.tree,
                },
                started: Instant::now(),
                exit,
            }
        }
        Err(e) => {
            // A failed exec counts as a failed run (exit 127, as a shell would say).
            let msg = format!("cannot start {}: {e}", setup.prepared.program.display());
            status.message = Some(msg.clone());
            super::say!("tend: {}: {msg}", setup.spec.name);
            decide(
                setup,
                status,
                report,
                tracker,
                Exit::Code(127),
                Duration::ZERO,
                Some(msg),
            )
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn after_exit(
    setup: &ServiceSetup,
    reaper: &Rc<Reaper>,
    status: &mut Status,
    report: &mut impl FnMut(&mut Status, State, String),
    tracker: &mut RestartTracker,
    child: Child,
    started: Instant,
    e: Exit,
) -> Phase {
    sys::clean_up_after_exit(&child.tree);
    record_exit(status, e);
    let ran = started.elapsed();
    let next = match decide(setup, status, report, tracker, e, ran, None) {
        Phase::Backoff { until, note } if until <= Instant::now() => {
            status.restarts += 1;
            start(setup, reaper, status, report, tracker, note)
        }
        Phase::Backoff { until, note } => {
            status.restarts += 1;
            Phase::Backoff { until, note }
        }
        other => other,
    };
    sweep_orphans(setup, reaper);
    next
}

fn decide(
    setup: &ServiceSetup,
    status: &mut Status,
    report: &mut impl FnMut(&mut Status, State, String),
    tracker: &mut RestartTracker,
    e: Exit,
    ran: Duration,
    cause: Option<String>,
) -> Phase {
    let spec = &setup.spec;
    status.pid = None;
    // What happened: the exit and how long it ran, or why it could not start.
    let what = cause.unwrap_or_else(|| format!("{e} after {}", show(ran)));
    match tracker.on_exit(&spec.restart, e, ran, Instant::now()) {
        Decision::Restart { delay } if delay.is_zero() => {
            // Restarted at once: the next report (started) tells both, one write.
            Phase::Backoff {
                until: Instant::now(),
                note: Some(format!("{what}; restarted")),
            }
        }
        Decision::Restart { delay } => {
            let event = format!("{what}; restarting in {}", show(delay));
            status.message = Some(event.clone());
            report(status, State::Backoff, event);
            Phase::Backoff {
                until: Instant::now() + delay,
                note: None,
            }
        }
        Decision::Done { success } => {
            let event = format!("{what}; not restarting (policy {:?})", spec.restart.policy);
            status.message = Some(event.clone());
            report(
                status,
                if success {
                    State::Exited
                } else {
                    State::Failed
                },
                event,
            );
            Phase::Done(Outcome::Exited { success })
        }
        Decision::GiveUp { restarts } => {
            let event = format!(
                "{what}; {restarts} restarts within {}: giving up (restart.max_restarts = {})",
                spec.restart.window, spec.restart.max_restarts
            );
            status.message = Some(event.clone());
            report(status, State::Failed, event.clone());
            Phase::Done(Outcome::Failed(event))
        }
    }
}

fn begin_stop(
    setup: &ServiceSetup,
    reaper: &Rc<Reaper>,
    status: &mut Status,
    report: &mut impl FnMut(&mut Status, State, String),
    child: Child,
    exit: oneshot::Receiver<Exit>,
    restart_after: bool,
) -> Phase {
    let spec = &setup.spec;
    let (event, hook) = match &setup.hook {
        Some(h) => {
            let (tx, rx) = oneshot::channel();
            // Half the stop timeout: a hook that fails still leaves the stop request
            // time to work before the tree is killed.
            let run = hook::run(h.clone(), spec.stop.timeout.get() / 2, reaper.clone());
            tokio::task::spawn_local(async move {
                let _ = tx.send(run.await);
            });
            (format!("stopping: {}", h.describe()), Some(rx))
        }
        None => (request_stop(&child, spec), None),
    };
    report(
        status,
        State::Stopping,
        format!("{event}, waiting up to {}", spec.stop.timeout),
    );
    Phase::Stopping {
        child,
        exit,
        deadline: Instant::now() + spec.stop.timeout.get(),
        killed: None,
        restart_after,
        hook,
    }
}

/// Sends the platform's stop request (signal, Ctrl-C, WM_CLOSE); returns the event text.
fn request_stop(child: &Child, spec: &Spec) -> String {
    match sys::request_stop(&child.tree, spec) {
        Ok(done) => format!("stopping: {done}"),
        Err(e) => format!("stopping: cannot ask pid {} to stop: {e}", child.pid),
    }
}
