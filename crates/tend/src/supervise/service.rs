//! The service actor: one task per service, one loop over events — the child exited,
//! a control command arrived (stop, restart), a timer fired (backoff over, stop
//! timeout). Decisions come from the pure policy in [`super::policy`]; this file only
//! carries them out and reports every change of state as a typed [`Event`].
//!
//! The actor reaches processes only through [`Procs`] (spawn, stop request, kill the
//! tree, clean up): [`OsProcs`] is the operating system; the tests below drive the
//! actor with a fake child on paused time.

use std::cell::RefCell;
use std::future::Future;
use std::io;
use std::path::PathBuf;
use std::pin::Pin;
use std::rc::Rc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot, Notify};
use tokio::task::JoinHandle;
use tokio::time::{sleep_until, Instant};

use crate::spec::Spec;

use super::control::{Answer, Done};
use super::event::{Ended, Event, Run, Start, StartError, StopBy, StopEnd, StopRequest, Stopped};
use super::health::{self, Prober};
use super::hook::{self, Hook, HookError, Reloader};
use super::logfile::Dropped;
use super::policy::{signal_name, Decision, Exit, HealthChange, HealthTracker, RestartTracker};
use super::pump::{
    self, keep_counters_current, report_counters, set_dropped, SharedSink, SharedTail, Stream,
};
use super::state::{self as state_file, now_ms, LastExit, State, Status};
use super::sys::{self, PipeReader, Prepared};
use super::Reaper;

/// Commands to a running service.
#[derive(Clone, Debug, PartialEq)]
pub enum Control {
    /// Stop gracefully, then end the actor.
    Stop(StopBy),
    /// Stop the child gracefully and start it again (no backoff).
    Restart(StopBy),
    /// Reopen the log files (after an external rotation).
    ReopenLogs,
    /// Tell the child to re-read its configuration (`[reload]`); how it went goes to
    /// the reply.
    Reload(StopBy, ReloadReply),
    /// Stop without waiting: kill the process tree now (a second stop request, by
    /// whom).
    Kill(StopBy),
    /// Tell the observers of this event (the supervisor's own: a release switch); the
    /// state does not change.
    Announce(Event),
    /// Freeze the running child's whole process tree (`tend pause`); the answer goes
    /// to the client.
    Pause(Reply),
    /// Let a paused child's tree run again (`tend continue`).
    Continue(Reply),
}

/// Where the actor answers a request it carries out itself (pause, continue): the
/// control channel's client.
#[derive(Clone, Debug)]
pub struct Reply(pub mpsc::UnboundedSender<Answer>);

impl PartialEq for Reply {
    fn eq(&self, other: &Reply) -> bool {
        self.0.same_channel(&other.0)
    }
}

impl Reply {
    /// Sends the final answer.
    fn done(&self, ok: bool, state: State, message: impl Into<String>) {
        let _ = self
            .0
            .send(Answer::Done(Done::new(ok, Some(state.as_str()), message)));
    }
}

/// Where the outcome of a reload goes: what was done, or why it failed.
#[derive(Clone, Debug)]
pub struct ReloadReply(pub mpsc::UnboundedSender<Result<String, String>>);

impl ReloadReply {
    /// A reply nobody waits for (a control code of the service manager).
    pub fn unheard() -> ReloadReply {
        ReloadReply(mpsc::unbounded_channel().0)
    }
}

impl PartialEq for ReloadReply {
    fn eq(&self, other: &Self) -> bool {
        self.0.same_channel(&other.0)
    }
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
    /// `event` is what happened; `status` the service's status after it.
    fn changed(&mut self, status: &Status, event: &Event);

    /// Only the dropped-output counters changed (`log_dropped_*` in `status`): at most
    /// once per [`COUNTERS_EVERY`] while output is being dropped. Nothing by default.
    fn counters(&mut self, _status: &Status) {}

    /// A health probe ended (its result is `status.health.last_probe`; `took` its exact
    /// duration), whether or not the health state changed. Nothing by default.
    fn probed(&mut self, _status: &Status, _took: Duration) {}
}

/// How often, at most, observers hear of dropped output between changes of state.
pub const COUNTERS_EVERY: Duration = Duration::from_secs(1);

/// What the actor needs besides the spec.
pub struct ServiceSetup {
    /// The spec.
    pub spec: Spec,
    /// The spec file.
    pub spec_path: PathBuf,
    /// The prepared command (its program changes with the release: see `upgrade`).
    pub prepared: RefCell<Prepared>,
    /// The service's releases (`[update]`).
    pub(super) releases: Option<super::upgrade::Releases>,
    /// The stop hook (`stop.http`, `stop.command`), tried before the stop signal.
    pub hook: Option<Hook>,
    /// How the child is told to reload (`[reload]`).
    pub reload: Option<Reloader>,
    /// The health probe (`[health]`).
    pub health: Option<Prober>,
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
    /// The last lines the current child wrote to stderr (when piped).
    pub stderr_tail: SharedTail,
    /// Where its output is written, for the state file ([`Status::log`]).
    pub log: Option<crate::supervise::state::LogPlace>,
}

/// A started child, as [`Procs::spawn`] gives it.
pub struct Launched<T> {
    /// Its pid.
    pub pid: i32,
    /// Its process tree.
    pub tree: T,
    /// Its stdout, when piped.
    pub stdout: Option<PipeReader>,
    /// Its stderr, when piped.
    pub stderr: Option<PipeReader>,
    /// Resolves with its exit status.
    pub exit: oneshot::Receiver<Exit>,
    /// A warning for each `[resources]` setting that could not be applied to it.
    pub not_applied: Vec<String>,
}

/// A stop hook's run: what it did, or why the stop request must be sent after all.
pub type HookRun = Pin<Box<dyn Future<Output = Result<String, HookError>>>>;

/// A health probe's run.
pub type ProbeRun = Pin<Box<dyn Future<Output = health::Outcome>>>;

/// What the actor does to processes.
pub trait Procs {
    /// A child's process tree (a process group on Unix, a Job Object on Windows, which
    /// must stay open while the child is supervised).
    type Tree;
    /// Starts the child and watches for its exit (registered at once, so the exit
    /// cannot be collected before it is awaited).
    fn spawn(&self, prepared: &Prepared) -> io::Result<Launched<Self::Tree>>;
    /// Asks the child to stop the way `spec` says; what was done, for the log.
    fn request_stop(&self, tree: &Self::Tree, spec: &Spec) -> io::Result<String>;
    /// Sends `signal` to the child (`[reload]`); what was done, for the log.
    fn signal(&self, tree: &Self::Tree, signal: crate::spec::Signal) -> io::Result<String>;
    /// Kills the whole tree now.
    fn kill_tree(&self, tree: &Self::Tree);
    /// Freezes the whole tree; what was done, for the log.
    fn pause(&self, tree: &Self::Tree) -> io::Result<String>;
    /// Lets a frozen tree run again; what was done, for the log.
    fn resume(&self, tree: &Self::Tree) -> io::Result<String>;
    /// After the child exited by itself: what it left behind (Unix: its group).
    fn clean_up_after_exit(&self, tree: &Self::Tree);
    /// Whether the child of `tree`, which ended with `exit`, was killed by the OOM
    /// killer (asked before the tree is cleaned up).
    fn oom_killed(&self, _tree: &Self::Tree, _exit: Exit) -> bool {
        false
    }
    /// Kills orphans re-parented to the supervisor (when `sole`: they can only be this
    /// service's). Reads /proc: kept off the restart's critical path.
    fn sweep_orphans(&self, sole: bool);
    /// [`Procs::sweep_orphans`] once the replacement just started is under way: the
    /// sweep reads all of /proc, and on a small machine it would take the CPU the new
    /// child needs to start.
    fn sweep_orphans_soon(&self, sole: bool) {
        self.sweep_orphans(sole);
    }
    /// Runs a stop hook, bounded by `within`.
    fn run_hook(&self, hook: &Hook, within: Duration) -> HookRun;
    /// Runs the health probe once (bounded by its timeout); nothing happens until the
    /// future is polled.
    fn probe(&self, prober: &Prober) -> ProbeRun;
}

/// The operating system's processes.
pub struct OsProcs {
    /// Collects exit statuses.
    pub reaper: Rc<Reaper>,
}

impl Procs for OsProcs {
    type Tree = sys::Tree;

    fn spawn(&self, prepared: &Prepared) -> io::Result<Launched<sys::Tree>> {
        let mut child = sys::spawn(prepared)?;
        let exit = self.reaper.watch(&mut child);
        Ok(Launched {
            pid: child.pid,
            tree: child.tree,
            stdout: child.stdout,
            stderr: child.stderr,
            exit,
            not_applied: child.not_applied,
        })
    }

    fn request_stop(&self, tree: &sys::Tree, spec: &Spec) -> io::Result<String> {
        sys::request_stop(tree, spec)
    }

    fn signal(&self, tree: &sys::Tree, signal: crate::spec::Signal) -> io::Result<String> {
        sys::signal_child(tree, signal)
    }

    fn kill_tree(&self, tree: &sys::Tree) {
        let _ = sys::kill_tree(tree);
    }

    fn pause(&self, tree: &sys::Tree) -> io::Result<String> {
        sys::pause_tree(tree)
    }

    fn resume(&self, tree: &sys::Tree) -> io::Result<String> {
        sys::resume_tree(tree)
    }

    fn clean_up_after_exit(&self, tree: &sys::Tree) {
        sys::clean_up_after_exit(tree);
    }

    fn oom_killed(&self, tree: &sys::Tree, exit: Exit) -> bool {
        sys::oom_killed(tree, exit)
    }

    fn sweep_orphans(&self, sole: bool) {
        if sole {
            sys::kill_orphans(&self.reaper.live_pids());
        }
    }

    fn sweep_orphans_soon(&self, sole: bool) {
        if sole {
            let reaper = self.reaper.clone();
            tokio::task::spawn_local(async move {
                tokio::time::sleep(SWEEP_AFTER_START).await;
                // The pids watched then: a child started meanwhile is kept.
                sys::kill_orphans(&reaper.live_pids());
            });
        }
    }

    fn run_hook(&self, h: &Hook, within: Duration) -> HookRun {
        Box::pin(hook::run(h.clone(), within, self.reaper.clone()))
    }

    fn probe(&self, prober: &Prober) -> ProbeRun {
        let (prober, reaper) = (prober.clone(), self.reaper.clone());
        Box::pin(async move { prober.run(reaper).await })
    }
}

/// How long after a restart at once the orphans are swept: the new child's exec and
/// startup come first.
const SWEEP_AFTER_START: Duration = Duration::from_millis(20);

/// The running child: its pid, its process tree, when it started and its stderr.
struct Child<T> {
    pid: i32,
    tree: T,
    started: Instant,
    stderr: Option<Rc<Stream>>,
}

impl<T> Child<T> {
    fn run(&self, exit: Exit) -> Run {
        Run {
            pid: self.pid,
            exit,
            ran: self.started.elapsed(),
            stderr: Vec::new(),
            oom_killed: false,
        }
    }
}

/// Why a stopping child was killed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Killed {
    /// It did not stop within `stop.timeout`.
    AfterTimeout,
    /// A second stop request (Ctrl-C again) asked not to wait.
    AtOnce(StopBy),
}

/// What a stop hook reports: what it did, or why the stop request must be sent after
/// all.
type HookResult = oneshot::Receiver<Result<String, HookError>>;

/// What follows a stop, once the child has exited.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum AfterStop {
    /// The service has ended (a stop request).
    End,
    /// Start it again at once (a restart request).
    Restart,
    /// It failed its health checks: the restart policy decides.
    Decide,
}

enum Phase<T> {
    Running {
        child: Child<T>,
        exit: oneshot::Receiver<Exit>,
        /// The next health probe (with `[health]`): it waits for its time, then runs.
        probe: Option<ProbeRun>,
    },
    /// The child's tree is frozen since `since` (`tend pause`): no probes, no
    /// timers; a stop or restart lets it run first.
    Paused {
        child: Child<T>,
        exit: oneshot::Receiver<Exit>,
        since: Instant,
    },
    /// Waiting until `until`, then `start` (none: [`Actor::again`], as it is then).
    Backoff {
        until: Instant,
        start: Option<Start>,
    },
    Stopping {
        child: Child<T>,
        exit: oneshot::Receiver<Exit>,
        /// When the stop began.
        since: Instant,
        killed: Option<Killed>,
        after: AfterStop,
        hook: Option<HookResult>,
    },
    Done(Outcome),
}

/// What follows an exit or a failed start.
enum Next<T> {
    /// Start again at once.
    AtOnce(Start),
    /// Report this, then go on in this phase.
    Report(State, Event, Phase<T>),
}

/// Runs one service until it is stopped, ends, or fails. The setup is shared with the
/// supervisor, which can start the service again (`tend start NAME`) with a new actor
/// once this one has ended.
pub async fn run_service(
    setup: Rc<ServiceSetup>,
    reaper: Rc<Reaper>,
    control: mpsc::UnboundedReceiver<Control>,
    observers: Vec<Box<dyn Observer>>,
) -> Outcome {
    run_actor(setup, OsProcs { reaper }, control, observers).await
}

/// [`run_service`] with the processes of `procs`.
pub async fn run_actor<P: Procs>(
    setup: Rc<ServiceSetup>,
    procs: P,
    mut control: mpsc::UnboundedReceiver<Control>,
    observers: Vec<Box<dyn Observer>>,
) -> Outcome {
    let spec = &setup.spec;
    let status = Status {
        log: setup.log.clone(),
        ..Status::new(spec.name.as_str(), State::Starting, setup.spec_path.clone())
    };
    let sinks: Vec<SharedSink> = [&setup.stdout, &setup.stderr]
        .into_iter()
        .flatten()
        .cloned()
        .collect();
    // Shared with the task that keeps the counters current between changes of state.
    let observers = Rc::new(RefCell::new(observers));
    let shown = Rc::new(RefCell::new(status.clone()));
    let _counters = AbortOnDrop(tokio::task::spawn_local(keep_counters_current(
        sinks.clone(),
        shown.clone(),
        observers.clone(),
        setup.log_counters.clone(),
    )));
    let mut actor = Actor {
        setup: &setup,
        procs,
        status,
        tracker: RestartTracker::default(),
        health: None,
        sinks,
        reloading: false,
        shown,
        observers,
    };

    let mut control_open = true;
    // The outcomes of reload commands, which run beside the actor.
    let (reload_tx, mut reloaded) = mpsc::unbounded_channel::<(StopBy, Result<String, String>)>();
    let mut phase = actor.start(Start::First);
    loop {
        phase = match phase {
            Phase::Done(outcome) => {
                // The last lines a child wrote (its shutdown message) must reach the log.
                let pumps: Vec<_> = setup.pumps.borrow_mut().drain(..).collect();
                for p in pumps {
                    let _ = tokio::time::timeout(Duration::from_secs(2), p).await;
                }
                report_counters(&actor.sinks, &actor.shown, &actor.observers);
                return outcome;
            }
            Phase::Running {
                child,
                mut exit,
                mut probe,
            } => {
                tokio::select! {
                    biased;
                    e = &mut exit => actor.after_exit(child, e.unwrap_or(KILLED)),
                    c = control.recv() => match c.unwrap_or(Control::Stop(StopBy::Supervisor)) {
                        Control::ReopenLogs => { reopen(&setup); Phase::Running { child, exit, probe } }
                        Control::Reload(by, reply) => { actor.reload(&child, by, reply, &reload_tx); Phase::Running { child, exit, probe } }
                        Control::Announce(e) => { actor.announce(&e); Phase::Running { child, exit, probe } }
                        Control::Kill(by) => {
                            actor.procs.kill_tree(&child.tree);
                            actor.procs.sweep_orphans(setup.sole);
                            actor.report(State::Stopping, Event::Killing { pid: child.pid, by: Some(by) });
                            Phase::Stopping { child, exit, since: Instant::now(), killed: Some(Killed::AtOnce(by)), after: AfterStop::End, hook: None }
                        }
                        Control::Stop(by) => actor.begin_stop(child, exit, by, AfterStop::End),
                        Control::Restart(by) => actor.begin_stop(child, exit, by, AfterStop::Restart),
                        Control::Pause(reply) => actor.pause(child, exit, probe, &reply),
                        Control::Continue(reply) => {
                            reply.done(true, State::Running, format!("`{}` is not paused (it is running)", spec.name));
                            Phase::Running { child, exit, probe }
                        }
                    },
                    Some((by, r)) = reloaded.recv() => { actor.reloaded(by, r); Phase::Running { child, exit, probe } }
                    o = async { match probe.as_mut() { Some(p) => p.await, None => std::future::pending().await } }, if probe.is_some() => {
                        match actor.after_probe(&child, o) {
                            Some(next) => Phase::Running { child, exit, probe: Some(next) },
                            None => actor.begin_stop(child, exit, StopBy::Unhealthy, AfterStop::Decide),
                        }
                    }
                }
            }
            Phase::Paused {
                child,
                mut exit,
                since,
            } => {
                tokio::select! {
                    biased;
                    e = &mut exit => actor.after_exit(child, e.unwrap_or(KILLED)),
                    c = control.recv() => match c.unwrap_or(Control::Stop(StopBy::Supervisor)) {
                        Control::ReopenLogs => { reopen(&setup); Phase::Paused { child, exit, since } }
                        Control::Reload(_, reply) => { not_running(&reply, "is paused: `tend continue` it first"); Phase::Paused { child, exit, since } }
                        Control::Announce(e) => { actor.announce(&e); Phase::Paused { child, exit, since } }
                        Control::Pause(reply) => {
                            reply.done(true, State::Paused, format!("`{}` is paused already", spec.name));
                            Phase::Paused { child, exit, since }
                        }
                        Control::Continue(reply) => {
                            let (probe, result) = actor.resume(&child, since);
                            match result {
                                Ok(how) => reply.done(true, State::Running, format!("continued (pid {}): {how}", child.pid)),
                                Err(e) => reply.done(false, State::Running, e),
                            }
                            Phase::Running { child, exit, probe }
                        }
                        // Stopped gracefully: it must run to hear the request.
                        Control::Stop(by) => {
                            let _ = actor.resume(&child, since);
                            actor.begin_stop(child, exit, by, AfterStop::End)
                        }
                        Control::Restart(by) => {
                            let _ = actor.resume(&child, since);
                            actor.begin_stop(child, exit, by, AfterStop::Restart)
                        }
                        Control::Kill(by) => {
                            actor.procs.kill_tree(&child.tree);
                            let _ = actor.resume(&child, since);
                            actor.procs.sweep_orphans(setup.sole);
                            actor.report(State::Stopping, Event::Killing { pid: child.pid, by: Some(by) });
                            Phase::Stopping { child, exit, since: Instant::now(), killed: Some(Killed::AtOnce(by)), after: AfterStop::End, hook: None }
                        }
                    },
                    // A reload command started before the pause ends.
                    Some((by, r)) = reloaded.recv() => { actor.reloaded(by, r); Phase::Paused { child, exit, since } }
                }
            }
            Phase::Backoff { until, start } => {
                tokio::select! {
                    _ = sleep_until(until) => { let start = start.unwrap_or_else(|| actor.again()); actor.start(start) }
                    c = control.recv() => match c.unwrap_or(Control::Stop(StopBy::Supervisor)) {
                        c @ (Control::Stop(_) | Control::Kill(_)) => {
                            let by = match c { Control::Stop(by) => Some(by), _ => None };
                            actor.status.pid = None;
                            // Not the "restarting in ..." of the backoff any more.
                            let event = Event::StoppedWhileWaiting { by };
                            actor.status.message = Some(event.to_string());
                            actor.report(State::Stopped, event);
                            Phase::Done(Outcome::Stopped)
                        }
                        Control::Restart(_) => {
                            // A restart asked for starts over (as in begin_stop).
                            actor.status.unhealthy = None;
                            let again = actor.again();
                            actor.start(again)
                        }
                        Control::ReopenLogs => { reopen(&setup); Phase::Backoff { until, start } }
                        Control::Reload(_, reply) => { not_running(&reply, "is waiting to restart"); Phase::Backoff { until, start } }
                        Control::Announce(e) => { actor.announce(&e); Phase::Backoff { until, start } }
                        Control::Pause(reply) | Control::Continue(reply) => {
                            reply.done(false, State::Backoff, format!("`{}` is not running (it is waiting to restart)", spec.name));
                            Phase::Backoff { until, start }
                        }
                    },
                    Some((by, r)) = reloaded.recv() => { actor.reloaded(by, r); Phase::Backoff { until, start } }
                }
            }
            Phase::Stopping {
                child,
                mut exit,
                since,
                killed,
                after,
                mut hook,
            } => {
                tokio::select! {
                    e = &mut exit => {
                        let e = e.unwrap_or(KILLED);
                        // A program stopped by the hook may exit before the hook has read
                        // its answer: the answer (or why there was none) comes promptly
                        // now, and belongs in the log before "stopped".
                        if let Some(h) = hook.take() {
                            if let Ok(Ok(Ok(done))) = tokio::time::timeout(Duration::from_secs(1), h).await {
                                actor.report(State::Stopping, Event::StopHookDone(done));
                            }
                        }
                        actor.procs.kill_tree(&child.tree);
                        actor.record_exit(e);
                        let stopped = Stopped {
                            run: child.run(e),
                            how: match killed {
                                Some(Killed::AfterTimeout) => StopEnd::AfterTimeout { timeout: spec.stop.timeout },
                                Some(Killed::AtOnce(by)) => StopEnd::AtOnce(Some(by)),
                                None => StopEnd::Gracefully { took: since.elapsed() },
                            },
                        };
                        if after == AfterStop::Decide {
                            actor.procs.sweep_orphans(setup.sole);
                            let ran = stopped.run.ran;
                            let decision = actor.tracker.on_unhealthy(&spec.restart, ran, Instant::now().into_std());
                            let result = actor.status.health.as_ref()
                                .and_then(|h| h.last_probe.as_ref())
                                .map(|p| p.result.clone())
                                .unwrap_or_default();
                            actor.follow(decision, Ended::Unhealthy { result, stopped })
                        } else if after == AfterStop::Restart {
                            actor.status.restarts += 1;
                            let next = actor.start(Start::OnRequest(stopped));
                            // Orphans of the old child, once the new one runs (it is
                            // watched already, so it is not taken for one).
                            actor.procs.sweep_orphans(setup.sole);
                            next
                        } else {
                            actor.procs.sweep_orphans(setup.sole);
                            actor.status.pid = None;
                            actor.status.message = Some(stopped.to_string());
                            actor.report(State::Stopped, Event::Stopped(stopped));
                            Phase::Done(Outcome::Stopped)
                        }
                    }
                    r = async { match hook.as_mut() { Some(h) => h.await, None => std::future::pending().await } }, if hook.is_some() => {
                        hook = None;
                        match r {
                            Ok(Ok(done)) => actor.report(State::Stopping, Event::StopHookDone(done)),
                            // The hook could not ask: send the stop request after all.
                            Ok(Err(why)) => {
                                let then = actor.request_stop(&child);
                                actor.report(State::Stopping, Event::StopHookFailed { why: why.to_string(), then });
                            }
                            Err(_) => {}
                        }
                        Phase::Stopping { child, exit, since, killed, after, hook }
                    }
                    Some((by, r)) = reloaded.recv() => { actor.reloaded(by, r); Phase::Stopping { child, exit, since, killed, after, hook } }
                    _ = sleep_until(since + spec.stop.timeout.get()), if killed.is_none() => {
                        // The tree, and orphans only when they can only be this service's.
                        actor.procs.kill_tree(&child.tree);
                        actor.procs.sweep_orphans(setup.sole);
                        actor.status.message = Some(format!("did not stop within {}; killing the process tree", spec.stop.timeout));
                        actor.report(State::Stopping, Event::StopTimedOut { pid: child.pid, timeout: spec.stop.timeout });
                        Phase::Stopping { child, exit, since, killed: Some(Killed::AfterTimeout), after, hook }
                    }
                    c = control.recv(), if control_open => match c {
                        // A stop during a restart's stop: do not start it again.
                        Some(Control::Stop(_)) => Phase::Stopping { child, exit, since, killed, after: AfterStop::End, hook },
                        Some(Control::ReopenLogs) => { reopen(&setup); Phase::Stopping { child, exit, since, killed, after, hook } }
                        Some(Control::Reload(_, reply)) => { not_running(&reply, "is being stopped"); Phase::Stopping { child, exit, since, killed, after, hook } }
                        Some(Control::Announce(e)) => { actor.announce(&e); Phase::Stopping { child, exit, since, killed, after, hook } }
                        Some(Control::Restart(_)) => Phase::Stopping { child, exit, since, killed, after, hook },
                        Some(Control::Pause(reply) | Control::Continue(reply)) => {
                            reply.done(false, State::Stopping, format!("`{}` is being stopped", spec.name));
                            Phase::Stopping { child, exit, since, killed, after, hook }
                        }
                        Some(Control::Kill(by)) => {
                            actor.procs.kill_tree(&child.tree);
                            actor.procs.sweep_orphans(setup.sole);
                            // Said once: after the stop timeout it is being killed already.
                            if killed.is_none() {
                                actor.report(State::Stopping, Event::Killing { pid: child.pid, by: Some(by) });
                            }
                            Phase::Stopping { child, exit, since, killed: killed.or(Some(Killed::AtOnce(by))), after: AfterStop::End, hook }
                        }
                        // Nobody can send commands any more: just finish stopping.
                        None => {
                            control_open = false;
                            Phase::Stopping { child, exit, since, killed, after: AfterStop::End, hook }
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

/// Answers a reload that came while there is no child to reload.
fn not_running(reply: &ReloadReply, why: &str) {
    let _ = reply
        .0
        .send(Err(format!("nothing to reload: the service {why}")));
}

/// Reopens the log files of a service (after an external rotation).
pub(super) fn reopen(setup: &ServiceSetup) {
    for s in [&setup.stdout, &setup.stderr].into_iter().flatten() {
        let _ = s.borrow_mut().reopen();
    }
}

/// How an exit reads when the exit status was lost (the waiter went away).
#[cfg(unix)]
const KILLED: Exit = Exit::Signal(9);
#[cfg(windows)]
const KILLED: Exit = Exit::Code(1);

/// One service's state, and what acts on it.
struct Actor<'a, P> {
    setup: &'a ServiceSetup,
    procs: P,
    status: Status,
    tracker: RestartTracker,
    /// The current child's health (with `[health]`).
    health: Option<HealthTracker>,
    sinks: Vec<SharedSink>,
    /// A reload command runs.
    reloading: bool,
    /// The status as the observers last heard it (for the counters task).
    shown: Rc<RefCell<Status>>,
    observers: Rc<RefCell<Vec<Box<dyn Observer>>>>,
}

impl<P: Procs> Actor<'_, P> {
    /// Tells the running `child` to reload, as `[reload]` says (asked `by`): a signal
    /// at once; a command beside the actor, its outcome on `done`. How it went goes to
    /// `reply` and, as an event, to the observers.
    fn reload(
        &mut self,
        child: &Child<P::Tree>,
        by: StopBy,
        reply: ReloadReply,
        done: &mpsc::UnboundedSender<(StopBy, Result<String, String>)>,
    ) {
        match &self.setup.reload {
            None => {
                let _ = reply.0.send(Err(format!(
                    "`{}` has no [reload]: add signal = \"SIGHUP\" or command = [...] to its spec",
                    self.setup.spec.name
                )));
            }
            Some(Reloader::Signal(sig)) => {
                let result = self.procs.signal(&child.tree, *sig).map_err(|e| {
                    format!(
                        "cannot send {sig} to pid {}: {}",
                        child.pid,
                        crate::text::io_error(&e)
                    )
                });
                let _ = reply.0.send(result.clone());
                self.reloaded(by, result);
            }
            Some(Reloader::Command { .. }) if self.reloading => {
                let _ = reply
                    .0
                    .send(Err("a reload is under way: wait for it".into()));
            }
            Some(Reloader::Command { command, timeout }) => {
                self.reloading = true;
                let run = self.procs.run_hook(
                    &Hook::Command(Reloader::command_for(command, child.pid)),
                    *timeout,
                );
                let done = done.clone();
                tokio::task::spawn_local(async move {
                    let result = run.await.map_err(|e| e.to_string());
                    let _ = reply.0.send(result.clone());
                    let _ = done.send((by, result));
                });
            }
        }
    }

    /// A reload ended (asked `by`): tells the observers; the state, and since when the
    /// service has been in it, do not change.
    fn reloaded(&mut self, by: StopBy, result: Result<String, String>) {
        self.reloading = false;
        let event = match result {
            Ok(how) => Event::Reloaded { by, how },
            Err(why) => Event::ReloadFailed { by, why },
        };
        self.announce(&event);
    }

    /// Sets the state and tells every observer, in order.
    fn report(&mut self, state: State, event: Event) {
        let status = &mut self.status;
        // Health is a running child's; kept through a backoff (why it restarts).
        if matches!(state, State::Stopped | State::Exited | State::Failed) {
            status.health = None;
            self.health = None;
        }
        status.state = state;
        status.since_ms = now_ms();
        set_dropped(status, &self.sinks);
        self.shown.borrow_mut().clone_from(status);
        for o in self.observers.borrow_mut().iter_mut() {
            o.changed(status, &event);
        }
    }

    /// Tells every observer of `event` without changing the state.
    fn announce(&mut self, event: &Event) {
        let status = &self.status;
        for o in self.observers.borrow_mut().iter_mut() {
            o.changed(status, event);
        }
    }

    fn record_exit(&mut self, e: Exit) {
        // Set again by a failed exit (see `after_exit`).
        self.status.last_stderr = None;
        self.status.last_exit = Some(match e {
            Exit::Code(c) => LastExit {
                code: Some(c),
                signal: None,
                at_ms: now_ms(),
                oom_killed: false,
            },
            Exit::Signal(s) => LastExit {
                code: None,
                signal: Some(signal_name(s)),
                at_ms: now_ms(),
                oom_killed: false,
            },
        });
    }

    fn start(&mut self, start: Start) -> Phase<P::Tree> {
        let setup = self.setup;
        let spawned = self.procs.spawn(&setup.prepared.borrow());
        match spawned {
            Ok(child) => {
                let started = Instant::now();
                for w in &child.not_applied {
                    super::say!("tend: {}: warning: {w}", setup.spec.name);
                }
                // What an earlier child (or its grandchildren) wrote is not this one's.
                setup.stderr_tail.borrow_mut().clear();
                if let (Some(fd), Some(sink)) = (child.stdout, &setup.stdout) {
                    spawn_pump(setup, fd, sink.clone(), None);
                }
                let stderr = match (child.stderr, &setup.stderr) {
                    (Some(fd), Some(sink)) => {
                        spawn_pump(setup, fd, sink.clone(), Some(setup.stderr_tail.clone()))
                    }
                    _ => None,
                };
                let status = &mut self.status;
                status.pid = Some(child.pid);
                status.started_at_ms = Some(now_ms());
                status.message = None;
                let probe = if setup.health.is_some() {
                    let tracker = HealthTracker::new(started.into_std());
                    status.health = Some(state_file::Health {
                        state: tracker.state(),
                        since_ms: now_ms(),
                        failures: 0,
                        last_probe: None,
                        last_error: None,
                    });
                    self.health = Some(tracker);
                    Some(self.next_probe(started))
                } else {
                    None
                };
                self.report(
                    State::Running,
                    Event::Started {
                        pid: child.pid,
                        start,
                    },
                );
                Phase::Running {
                    child: Child {
                        pid: child.pid,
                        tree: child.tree,
                        started,
                        stderr,
                    },
                    exit: child.exit,
                    probe,
                }
            }
            Err(e) => {
                let error = StartError {
                    program: setup.prepared.borrow().program.clone(),
                    error: crate::text::io_error(&e),
                };
                self.status.pid = None;
                self.status.message = Some(error.to_string());
                self.report(
                    State::Starting,
                    Event::CannotStart {
                        error: error.clone(),
                        start,
                    },
                );
                // A failed exec counts as a failed run (exit 127, as a shell would say).
                match self.decide(Exit::Code(127), Duration::ZERO, Ended::NotStarted(error)) {
                    Next::AtOnce(start) => Phase::Backoff {
                        until: Instant::now(),
                        start: Some(start),
                    },
                    Next::Report(state, event, phase) => {
                        self.report(state, event);
                        phase
                    }
                }
            }
        }
    }

    /// A start after a wait: the first if no child ran yet (only starts failed).
    fn again(&self) -> Start {
        if self.status.restarts == 0 {
            Start::First
        } else {
            Start::Again
        }
    }

    fn after_exit(&mut self, child: Child<P::Tree>, e: Exit) -> Phase<P::Tree> {
        self.record_exit(e);
        let mut run = child.run(e);
        run.oom_killed = self.procs.oom_killed(&child.tree, e);
        if let Some(last) = &mut self.status.last_exit {
            last.oom_killed = run.oom_killed;
        }
        // The reason a program gives for failing is usually the last thing it wrote.
        if !e.is_success(&self.setup.spec.restart) {
            if let Some(s) = &child.stderr {
                pump::drain_now(s);
            }
            run.stderr = self.setup.stderr_tail.borrow_mut().take();
            self.status.last_stderr = run.stderr.last().cloned();
        }
        let ran = run.ran;
        match self.decide(e, ran, Ended::Exited(run)) {
            Next::AtOnce(start) => {
                self.status.restarts += 1;
                // What the old child left in its group goes first (one kill): workers
                // still holding its socket or lock would fail the replacement.
                self.procs.clean_up_after_exit(&child.tree);
                let next = self.start(start);
                // Escaped orphans are found by reading all of /proc: that waits until
                // the replacement is under way.
                self.procs.sweep_orphans_soon(self.setup.sole);
                next
            }
            Next::Report(state, event, phase) => {
                self.procs.clean_up_after_exit(&child.tree);
                self.report(state, event);
                if let Phase::Backoff { .. } = phase {
                    self.status.restarts += 1;
                }
                self.procs.sweep_orphans(self.setup.sole);
                phase
            }
        }
    }

    /// The policy's decision after `ended`: a start at once (reported with the start,
    /// one write), or an event to report and the phase after it.
    fn decide(&mut self, e: Exit, ran: Duration, ended: Ended) -> Next<P::Tree> {
        let spec = &self.setup.spec;
        let decision = self
            .tracker
            .on_exit(&spec.restart, e, ran, Instant::now().into_std());
        self.next(decision, ended)
    }

    /// What follows `decision` after `ended`.
    fn next(&mut self, decision: Decision, ended: Ended) -> Next<P::Tree> {
        let spec = &self.setup.spec;
        self.status.pid = None;
        let now = Instant::now();
        let (state, event, phase) = match decision {
            Decision::Restart { delay } if delay.is_zero() => {
                return Next::AtOnce(Start::AtOnce(ended));
            }
            Decision::Restart { delay } => (
                State::Backoff,
                Event::Restarting { ended, delay },
                Phase::Backoff {
                    until: now + delay,
                    start: None,
                },
            ),
            Decision::Done { success, reason } => (
                if success {
                    State::Exited
                } else {
                    State::Failed
                },
                Event::Exited {
                    ended,
                    success,
                    reason,
                    policy: spec.restart.policy,
                },
                Phase::Done(Outcome::Exited { success }),
            ),
            Decision::GiveUp { restarts } => {
                let event = Event::GaveUp {
                    ended,
                    restarts,
                    window: spec.restart.window,
                    max_restarts: spec.restart.max_restarts,
                };
                let outcome = Outcome::Failed(event.to_string());
                (State::Failed, event, Phase::Done(outcome))
            }
        };
        self.status.message = Some(event.to_string());
        Next::Report(state, event, phase)
    }

    /// Carries out `decision` after `ended` (a child stopped as unhealthy): a start at
    /// once, or the event and the phase after it.
    fn follow(&mut self, decision: Decision, ended: Ended) -> Phase<P::Tree> {
        match self.next(decision, ended) {
            Next::AtOnce(start) => {
                self.status.restarts += 1;
                self.start(start)
            }
            Next::Report(state, event, phase) => {
                self.report(state, event);
                if let Phase::Backoff { .. } = phase {
                    self.status.restarts += 1;
                }
                phase
            }
        }
    }

    /// The next probe of the current child, after one ended (or the child started) at
    /// `now`.
    fn next_probe(&self, now: Instant) -> ProbeRun {
        let (Some(prober), Some(tracker)) = (&self.setup.health, &self.health) else {
            return Box::pin(std::future::pending());
        };
        let spec = self.setup.spec.health.as_ref();
        let at = spec.map_or(now, |h| {
            Instant::from_std(tracker.next_probe(h, now.into_std()))
        });
        let run = self.procs.probe(prober);
        Box::pin(async move {
            sleep_until(at).await;
            run.await
        })
    }

    /// A probe of `child` ended with `o`: records it, reports a change of health, and
    /// gives the next probe, or `None` when the child must be restarted as unhealthy.
    fn after_probe(&mut self, child: &Child<P::Tree>, o: health::Outcome) -> Option<ProbeRun> {
        let (Some(cfg), Some(tracker)) = (self.setup.spec.health.as_ref(), self.health.as_mut())
        else {
            // (Not reached: a probe runs only with both.)
            return Some(Box::pin(std::future::pending()));
        };
        let change = tracker.on_probe(cfg, o.ok, Instant::now().into_std());
        let now = now_ms();
        let health = self.status.health.get_or_insert(state_file::Health {
            state: tracker.state(),
            since_ms: now,
            failures: 0,
            last_probe: None,
            last_error: None,
        });
        if health.state != tracker.state() {
            health.state = tracker.state();
            health.since_ms = now;
        }
        health.failures = tracker.failures();
        if !o.ok {
            health.last_error = Some(o.result.clone());
        }
        health.last_probe = Some(state_file::Probe {
            at_ms: now,
            ok: o.ok,
            took_ms: u64::try_from(o.took.as_millis()).unwrap_or(u64::MAX),
            result: o.result.clone(),
        });
        set_dropped(&mut self.status, &self.sinks);
        self.shown.borrow_mut().clone_from(&self.status);
        for obs in self.observers.borrow_mut().iter_mut() {
            obs.probed(&self.status, o.took);
        }
        match change {
            HealthChange::Same => {}
            HealthChange::Healthy { again } => {
                self.status.unhealthy = None;
                self.report(
                    State::Running,
                    Event::Healthy {
                        pid: child.pid,
                        result: o.result,
                        again,
                    },
                )
            }
            HealthChange::Unhealthy => {
                self.status.unhealthy = Some(o.result.clone());
                let failures = self.health.as_ref().map_or(0, HealthTracker::failures);
                self.report(
                    State::Running,
                    Event::Unhealthy {
                        pid: child.pid,
                        failures,
                        result: o.result,
                    },
                );
                if cfg.on_unhealthy == crate::spec::OnUnhealthy::Restart {
                    return None;
                }
            }
        }
        Some(self.next_probe(Instant::now()))
    }

    /// Freezes `child`'s tree on `reply`'s request; its probe is dropped (probes wait
    /// while it is paused). If it cannot be frozen, it runs on.
    fn pause(
        &mut self,
        child: Child<P::Tree>,
        exit: oneshot::Receiver<Exit>,
        probe: Option<ProbeRun>,
        reply: &Reply,
    ) -> Phase<P::Tree> {
        match self.procs.pause(&child.tree) {
            Ok(how) => {
                let event = Event::Paused {
                    pid: child.pid,
                    how,
                };
                let said = event.to_string();
                self.status.message = Some(said.clone());
                self.report(State::Paused, event);
                reply.done(true, State::Paused, said);
                drop(probe);
                Phase::Paused {
                    child,
                    exit,
                    since: Instant::now(),
                }
            }
            Err(e) => {
                reply.done(
                    false,
                    State::Running,
                    format!(
                        "cannot pause `{}`: {}",
                        self.setup.spec.name,
                        crate::text::io_error(&e)
                    ),
                );
                Phase::Running { child, exit, probe }
            }
        }
    }

    /// Lets `child`'s frozen tree (paused `since`) run again and says so; gives its
    /// next health probe (counted from now) and what was done, or why it could not.
    fn resume(
        &mut self,
        child: &Child<P::Tree>,
        since: Instant,
    ) -> (Option<ProbeRun>, Result<String, String>) {
        let result = self.procs.resume(&child.tree).map_err(|e| {
            format!(
                "cannot let `{}` run again: {}",
                self.setup.spec.name,
                crate::text::io_error(&e)
            )
        });
        let how = match &result {
            Ok(how) => how.clone(),
            Err(why) => why.clone(),
        };
        self.status.message = None;
        self.report(
            State::Running,
            Event::Continued {
                pid: child.pid,
                paused: since.elapsed(),
                how,
            },
        );
        let probe = self
            .setup
            .health
            .is_some()
            .then(|| self.next_probe(Instant::now()));
        (probe, result)
    }

    fn begin_stop(
        &mut self,
        child: Child<P::Tree>,
        exit: oneshot::Receiver<Exit>,
        by: StopBy,
        after: AfterStop,
    ) -> Phase<P::Tree> {
        let spec = &self.setup.spec;
        if after == AfterStop::Restart {
            // A restart asked for starts over: whoever waits for it waits for this one.
            self.status.unhealthy = None;
        }
        let (request, hook) = match &self.setup.hook {
            Some(h) => {
                let (tx, rx) = oneshot::channel();
                // Half the stop timeout: a hook that fails still leaves the stop request
                // time to work before the tree is killed.
                let run = self.procs.run_hook(h, spec.stop.timeout.get() / 2);
                tokio::task::spawn_local(async move {
                    let _ = tx.send(run.await);
                });
                (StopRequest::Hook(h.describe()), Some(rx))
            }
            None => (self.request_stop(&child), None),
        };
        self.report(
            State::Stopping,
            Event::StopRequested {
                pid: child.pid,
                by,
                request,
                timeout: spec.stop.timeout,
                restart: after != AfterStop::End,
            },
        );
        Phase::Stopping {
            child,
            exit,
            since: Instant::now(),
            killed: None,
            after,
            hook,
        }
    }

    /// Sends the platform's stop request (signal, Ctrl-C, WM_CLOSE).
    fn request_stop(&self, child: &Child<P::Tree>) -> StopRequest {
        match self.procs.request_stop(&child.tree, &self.setup.spec) {
            Ok(done) => StopRequest::Sent(done),
            Err(e) => StopRequest::NotSent {
                pid: child.pid,
                error: crate::text::io_error(&e),
            },
        }
    }
}

/// Drains one of the child's output pipes into its sink, reporting log write errors
/// (once, and when writes resume) and waking the counters task when output is dropped.
fn spawn_pump(
    setup: &ServiceSetup,
    fd: PipeReader,
    sink: SharedSink,
    tail: Option<SharedTail>,
) -> Option<Rc<Stream>> {
    let name = setup.spec.name.to_string();
    let stream = match pump::open(fd, sink, tail) {
        Ok(s) => s,
        Err(e) => {
            super::say!(
                "tend: {name}: error: cannot read the child's output: {}",
                crate::text::io_error(&e)
            );
            return None;
        }
    };
    let grew = setup.log_counters.clone();
    let mut seen = Dropped::default();
    let mut failing = false;
    let pumped = pump::pump(stream.clone(), move |s| {
        if s.dropped() != seen {
            seen = s.dropped();
            grew.notify_one();
        }
        match s.take_error() {
            Some(e) if !failing => {
                failing = true;
                super::say!(
                    "tend: {name}: error: cannot write the log ({}); dropping output and counting it",
                    crate::text::io_error(&e)
                );
            }
            None if failing => {
                failing = false;
                super::say!(
                    "tend: {name}: log writes resumed; {} lines ({} bytes) dropped so far",
                    seen.lines,
                    seen.bytes
                );
            }
            _ => {}
        }
    });
    let handle = tokio::task::spawn_local(async move {
        let _ = pumped.await;
    });
    let mut pumps = setup.pumps.borrow_mut();
    pumps.retain(|h| !h.is_finished());
    pumps.push(handle);
    Some(stream)
}

/// The actor in-process: a fake child behind [`Procs`], time paused (tokio advances
/// it whenever every task waits), and each scenario as the lines its observers hear,
/// interleaved with what it did to processes.
#[cfg(all(test, unix))]
mod tests {
    use std::cell::Cell;
    use std::collections::{HashMap, VecDeque};
    use std::path::Path;

    use super::*;
    use crate::supervise::sys::Output;

    /// Who asks the actor to stop in these tests.
    const BY: StopBy = StopBy::Signal("SIGINT");

    /// How one fake child behaves.
    #[derive(Clone, Copy, Debug)]
    enum Kid {
        /// It cannot be started (the program is missing).
        Missing,
        /// It exits with `exit` `after` ms, unless it is stopped first.
        Exits { after: u64, exit: Exit },
        /// It runs until asked to stop, then exits after `ms` with `exit`; `None`: it
        /// ignores stop requests (only a kill ends it).
        Serves { on_stop: Option<(u64, Exit)> },
    }

    const KILL: Exit = Exit::Signal(libc::SIGKILL);
    const TERM: Exit = Exit::Signal(libc::SIGTERM);

    /// The fake processes: the children to start, in order; the log of what was done.
    #[derive(Default)]
    struct World {
        kids: RefCell<VecDeque<Kid>>,
        next_pid: Cell<i32>,
        running: RefCell<HashMap<i32, (Kid, oneshot::Sender<Exit>)>>,
        log: Rc<RefCell<Vec<String>>>,
        /// The service's stderr tail, as its pump would fill it.
        stderr: SharedTail,
        /// How the health probes go, in order: how long each takes (ms) and whether
        /// it passes; once they are used up, each passes at once.
        probes: RefCell<VecDeque<(u64, bool)>>,
        /// Probes run so far.
        probed: Cell<u32>,
    }

    #[derive(Clone)]
    struct Fake(Rc<World>);

    impl Fake {
        fn note(&self, what: String) {
            self.0.log.borrow_mut().push(what);
        }

        /// Ends child `pid` with `exit` after `ms` (if it is still running then).
        fn end_after(&self, pid: i32, ms: u64, exit: Exit) {
            let world = self.0.clone();
            tokio::task::spawn_local(async move {
                tokio::time::sleep(Duration::from_millis(ms)).await;
                if let Some((kid, tx)) = world.running.borrow_mut().remove(&pid) {
                    // A child that exits by itself says why on stderr, the last line
                    // unfinished.
                    if let Kid::Exits { .. } = kid {
                        let why = format!("pid {pid} starting\npid {pid} says {exit}");
                        world.stderr.borrow_mut().push(why.as_bytes());
                    }
                    let _ = tx.send(exit);
                }
            });
        }
    }

    impl Procs for Fake {
        type Tree = i32;

        fn spawn(&self, _: &Prepared) -> io::Result<Launched<i32>> {
            let kid = self
                .0
                .kids
                .borrow_mut()
                .pop_front()
                .expect("a child to start");
            if let Kid::Missing = kid {
                self.note("spawn fails".into());
                return Err(io::Error::from(io::ErrorKind::NotFound));
            }
            let pid = self.0.next_pid.get() + 1;
            self.0.next_pid.set(pid);
            self.note(format!("spawn {pid}"));
            let (tx, exit) = oneshot::channel();
            self.0.running.borrow_mut().insert(pid, (kid, tx));
            if let Kid::Exits { after, exit } = kid {
                self.end_after(pid, after, exit);
            }
            Ok(Launched {
                pid,
                tree: pid,
                stdout: None,
                stderr: None,
                exit,
                not_applied: Vec::new(),
            })
        }

        fn request_stop(&self, pid: &i32, spec: &Spec) -> io::Result<String> {
            self.note(format!("stop {pid}"));
            let kid = self.0.running.borrow().get(pid).map(|(k, _)| *k);
            if let Some(Kid::Serves {
                on_stop: Some((ms, exit)),
            }) = kid
            {
                self.end_after(*pid, ms, exit);
            }
            Ok(format!("sent {} to pid {pid}", spec.stop.signal))
        }

        fn kill_tree(&self, pid: &i32) {
            self.note(format!("kill {pid}"));
            self.end_after(*pid, 0, KILL);
        }

        fn clean_up_after_exit(&self, pid: &i32) {
            self.note(format!("clean up {pid}"));
        }

        fn pause(&self, pid: &i32) -> io::Result<String> {
            self.note(format!("pause {pid}"));
            Ok(format!("froze {pid}"))
        }

        fn resume(&self, pid: &i32) -> io::Result<String> {
            self.note(format!("resume {pid}"));
            Ok(format!("thawed {pid}"))
        }

        fn sweep_orphans(&self, sole: bool) {
            assert!(sole, "the tests run one service");
            self.note("sweep".into());
        }

        fn sweep_orphans_soon(&self, sole: bool) {
            assert!(sole, "the tests run one service");
            self.note("sweep soon".into());
        }

        fn signal(&self, pid: &i32, signal: crate::spec::Signal) -> io::Result<String> {
            self.note(format!("signal {pid} {signal}"));
            Ok(format!("sent {signal} to pid {pid}"))
        }

        /// Only reload commands (no stop hook in these tests): each takes 300 ms, and
        /// succeeds when its program's name ends in `ok`.
        fn run_hook(&self, hook: &Hook, within: Duration) -> HookRun {
            let Hook::Command(p) = hook else {
                unreachable!("no stop hook in these tests")
            };
            let pid = p
                .env
                .iter()
                .find(|(k, _)| k == "TEND_PID")
                .map(|(_, v)| v.clone());
            self.note(format!(
                "run {} within {within:?}, TEND_PID={pid:?}",
                p.program.display()
            ));
            let program = p.program.clone();
            Box::pin(async move {
                tokio::time::sleep(Duration::from_millis(300)).await;
                if program.to_string_lossy().ends_with("ok") {
                    Ok(format!("`{}` succeeded", program.display()))
                } else {
                    Err(HookError::Failed {
                        program,
                        exit: Exit::Code(3),
                    })
                }
            })
        }

        fn probe(&self, _: &Prober) -> ProbeRun {
            let world = self.0.clone();
            Box::pin(async move {
                let (ms, ok) = world.probes.borrow_mut().pop_front().unwrap_or((0, true));
                tokio::time::sleep(Duration::from_millis(ms)).await;
                let n = world.probed.get() + 1;
                world.probed.set(n);
                health::Outcome {
                    ok,
                    result: format!("probe {n} {}", if ok { "passed" } else { "failed" }),
                    took: Duration::from_millis(ms),
                }
            })
        }
    }

    /// Hears every event as `state: line`, in the log of what was done, and keeps
    /// the last status.
    struct Ear(Rc<RefCell<Vec<String>>>, Rc<RefCell<Option<Status>>>);

    impl Observer for Ear {
        fn changed(&mut self, status: &Status, event: &Event) {
            let mut log = self.0.borrow_mut();
            log.push(format!("{}: {event}", status.state.as_str()));
            // The last stderr lines of a failed exit, as the console shows them; the
            // state file keeps the last.
            for line in event.stderr() {
                log.push(format!("  stderr: {line}"));
            }
            if let Some(line) = event.stderr().last() {
                assert_eq!(status.last_stderr.as_ref(), Some(line), "{event}");
            }
            *self.1.borrow_mut() = Some(status.clone());
        }
    }

    fn setup(extra: &str) -> ServiceSetup {
        let text = format!("name = \"app\"\ncommand = \"/srv/app\"\n{extra}");
        let spec = crate::spec::load_str(Path::new("app.toml"), &text, &Default::default())
            .unwrap()
            .services
            .remove(0);
        let prepared = Prepared {
            program: "/srv/app".into(),
            args: Vec::new(),
            env: Vec::new(),
            cwd: None,
            credentials: None,
            stdout: Output::Null,
            stderr: Output::Null,
            stop: Default::default(),
            kill_on_close: false,
            code_page: Default::default(),
            listen: Vec::new(),
            resources: Default::default(),
            cgroup: Default::default(),
        };
        ServiceSetup {
            spec: spec.clone(),
            spec_path: "/srv/app.toml".into(),
            prepared: RefCell::new(prepared.clone()),
            releases: None,
            hook: None,
            reload: spec.reload.as_ref().map(|r| match r.signal {
                Some(sig) => Reloader::Signal(sig),
                None => Reloader::Command {
                    command: Box::new(Prepared {
                        program: r.command[0].clone().into(),
                        ..prepared.clone()
                    }),
                    timeout: r.timeout.get(),
                },
            }),
            health: spec
                .health
                .as_ref()
                .map(|h| Prober::new(h, None).expect("a tcp or http probe")),
            stdout: None,
            stderr: None,
            sole: true,
            pumps: Default::default(),
            log_counters: Default::default(),
            stderr_tail: Default::default(),
            log: None,
        }
    }

    /// Runs the actor over `kids`, sending each control `at` ms after the start; the
    /// log and the outcome.
    async fn scenario(
        extra: &str,
        kids: &[Kid],
        controls: &[(u64, Control)],
    ) -> (Vec<String>, Outcome, Status) {
        probed(extra, kids, &[], controls).await
    }

    /// [`scenario`] with health probes that go as `probes` says.
    async fn probed(
        extra: &str,
        kids: &[Kid],
        probes: &[(u64, bool)],
        controls: &[(u64, Control)],
    ) -> (Vec<String>, Outcome, Status) {
        tokio::task::LocalSet::new()
            .run_until(async {
                let setup = setup(extra);
                let world = Rc::new(World {
                    stderr: setup.stderr_tail.clone(),
                    probes: RefCell::new(probes.iter().copied().collect()),
                    ..World::default()
                });
                world.kids.borrow_mut().extend(kids.iter().copied());
                let (tx, rx) = mpsc::unbounded_channel();
                let t0 = Instant::now();
                let controls = controls.to_vec();
                tokio::task::spawn_local(async move {
                    for (at, c) in controls {
                        sleep_until(t0 + Duration::from_millis(at)).await;
                        let _ = tx.send(c);
                    }
                    // Held open: a closed channel reads as a stop.
                    std::future::pending::<()>().await;
                });
                let last = Rc::new(RefCell::new(None));
                let ear = Box::new(Ear(world.log.clone(), last.clone()));
                let outcome = run_actor(Rc::new(setup), Fake(world.clone()), rx, vec![ear]).await;
                assert!(
                    world.kids.borrow().is_empty(),
                    "every scripted child was started"
                );
                let log = world.log.borrow().clone();
                let last = last.borrow().clone().expect("a status");
                (log, outcome, last)
            })
            .await
    }

    const LIMIT: &str = "[restart]\nmax_restarts = 3\nwindow = \"1m\"\n";

    /// A reload reply and what it will be told.
    fn reply() -> (ReloadReply, mpsc::UnboundedReceiver<Result<String, String>>) {
        let (tx, rx) = mpsc::unbounded_channel();
        (ReloadReply(tx), rx)
    }

    const RELOAD_BY: StopBy = StopBy::Client("tend reload");

    #[tokio::test(start_paused = true)]
    async fn a_reload_signals_the_running_child_and_waits_for_no_backoff() {
        let serves = Kid::Serves {
            on_stop: Some((0, TERM)),
        };
        let fails = Kid::Exits {
            after: 500,
            exit: Exit::Code(1),
        };
        let (running, mut told_running) = reply();
        let (waiting, mut told_waiting) = reply();
        let (log, outcome, last) = scenario(
            "[reload]\nsignal = \"SIGHUP\"\n[restart]\nbackoff = { initial = \"5s\" }\n",
            &[fails, fails, serves],
            &[
                // In the backoff after the second exit (at 500 ms and 1000 ms).
                (1_200, Control::Reload(RELOAD_BY, waiting)),
                (7_000, Control::Reload(RELOAD_BY, running)),
                (8_000, Control::Stop(BY)),
            ],
        )
        .await;
        assert_eq!(
            told_waiting.try_recv().unwrap(),
            Err("nothing to reload: the service is waiting to restart".into())
        );
        assert_eq!(
            told_running.try_recv().unwrap(),
            Ok("sent SIGHUP to pid 3".into())
        );
        let reloads: Vec<&String> = log.iter().filter(|l| l.contains("SIGHUP")).collect();
        assert_eq!(
            reloads,
            [
                "signal 3 SIGHUP",
                "running: reloaded on `tend reload`: sent SIGHUP to pid 3"
            ]
        );
        assert_eq!(outcome, Outcome::Stopped);
        assert_eq!(last.restarts, 2, "a reload is no restart");
    }

    #[tokio::test(start_paused = true)]
    async fn a_reload_command_runs_once_at_a_time_and_its_failure_is_reported() {
        let serves = Kid::Serves {
            on_stop: Some((0, TERM)),
        };
        let (first, mut told_first) = reply();
        let (second, mut told_second) = reply();
        let (third, mut told_third) = reply();
        let (log, _, last) = scenario(
            "[reload]\ncommand = [\"/srv/reload-fails\"]\ntimeout = \"5s\"\n",
            &[serves],
            &[
                (1_000, Control::Reload(RELOAD_BY, first)),
                (1_100, Control::Reload(RELOAD_BY, second)),
                (2_000, Control::Reload(StopBy::ServiceManager, third)),
                (3_000, Control::Stop(BY)),
            ],
        )
        .await;
        assert_eq!(
            told_second.try_recv().unwrap(),
            Err("a reload is under way: wait for it".into())
        );
        let failed = "`/srv/reload-fails` ended with exit code 3".to_string();
        assert_eq!(told_first.try_recv().unwrap(), Err(failed.clone()));
        assert_eq!(told_third.try_recv().unwrap(), Err(failed));
        let reloads: Vec<&String> = log.iter().filter(|l| l.contains("reload")).collect();
        assert_eq!(
            reloads,
            [
                "run /srv/reload-fails within 5s, TEND_PID=Some(\"1\")",
                "running: reload on `tend reload` failed: `/srv/reload-fails` ended with exit code 3",
                "run /srv/reload-fails within 5s, TEND_PID=Some(\"1\")",
                "running: reload on the service manager's request failed: `/srv/reload-fails` ended with exit code 3",
            ]
        );
        assert_eq!(last.restarts, 0);
    }

    /// Probes every second, each failing after 500 ms, unhealthy after 2 failures.
    const HEALTH: &str =
        "[health]\ntcp = \"127.0.0.1:1\"\ninterval = \"1s\"\ntimeout = \"500ms\"\nretries = 2\n";

    #[tokio::test(start_paused = true)]
    async fn a_hung_child_is_found_unhealthy_and_replaced() {
        // It ignores the stop request, as a SIGSTOPped or deadlocked program does:
        // its tree is killed after stop.timeout, and the restart counts.
        let hung = Kid::Serves { on_stop: None };
        let polite = Kid::Serves {
            on_stop: Some((100, TERM)),
        };
        let extra = format!("{HEALTH}[stop]\ntimeout = \"2s\"\n");
        let (log, outcome, last) = probed(
            &extra,
            &[hung, polite],
            &[(0, true), (500, false), (500, false), (0, true)],
            &[(12_000, Control::Stop(BY))],
        )
        .await;
        assert_eq!(
            log,
            [
                "spawn 1",
                "running: started (pid 1)",
                "running: healthy: probe 1 passed",
                "running: unhealthy: 2 probes in a row failed, the last: probe 3 failed",
                "stop 1",
                "stopping: restarting on failed health checks: sent SIGTERM to pid 1, waiting up to 2s",
                "kill 1",
                "sweep",
                "stopping: did not stop within 2s; killed the process tree",
                "kill 1",
                "sweep",
                "spawn 2",
                "running: unhealthy (probe 3 failed), killed after the 2s stop timeout; restarted (pid 2)",
                "running: healthy: probe 4 passed",
                "stop 2",
                "stopping: stopping on SIGINT: sent SIGTERM to pid 2, waiting up to 2s",
                "kill 2",
                "sweep",
                "stopped: stopped gracefully in 100ms (signal SIGTERM)",
            ]
        );
        assert_eq!(outcome, Outcome::Stopped);
        assert_eq!(last.restarts, 1);
        assert_eq!(last.health, None, "no child runs");
    }

    #[tokio::test(start_paused = true)]
    async fn report_only_says_unhealthy_and_healthy_again() {
        let serves = Kid::Serves {
            on_stop: Some((0, TERM)),
        };
        let extra = format!("{HEALTH}on_unhealthy = \"report\"\n");
        let (log, _, _) = probed(
            &extra,
            &[serves],
            &[(0, true), (0, false), (0, false), (0, false), (0, true)],
            &[(7_000, Control::Stop(BY))],
        )
        .await;
        assert_eq!(
            log[..5],
            [
                "spawn 1",
                "running: started (pid 1)",
                "running: healthy: probe 1 passed",
                "running: unhealthy: 2 probes in a row failed, the last: probe 3 failed",
                "running: healthy again: probe 5 passed",
            ]
        );
        assert_eq!(log[5], "stop 1");
    }

    /// What the state file says after each probe.
    struct Probes(Rc<RefCell<Vec<String>>>);

    impl Observer for Probes {
        fn changed(&mut self, _: &Status, _: &Event) {}

        fn probed(&mut self, status: &Status, took: Duration) {
            let h = status.health.as_ref().expect("a health record");
            let p = h.last_probe.as_ref().expect("the probe");
            self.0.borrow_mut().push(format!(
                "{} {} {} {}ms {}",
                h.state.as_str(),
                h.failures,
                p.result,
                took.as_millis(),
                h.last_error.as_deref().unwrap_or("-")
            ));
        }
    }

    #[tokio::test(start_paused = true)]
    async fn failures_in_the_start_period_do_not_count_and_each_probe_is_recorded() {
        tokio::task::LocalSet::new()
            .run_until(async {
                let extra = format!("{HEALTH}start_period = \"3s\"\n");
                let setup = setup(&extra);
                let world = Rc::new(World {
                    probes: RefCell::new(
                        [(0, false), (0, false), (0, false), (0, true), (0, false)].into(),
                    ),
                    ..World::default()
                });
                world.kids.borrow_mut().push_back(Kid::Serves {
                    on_stop: Some((0, TERM)),
                });
                let (tx, rx) = mpsc::unbounded_channel();
                let seen = Rc::new(RefCell::new(Vec::new()));
                let t0 = Instant::now();
                let actor = tokio::task::spawn_local(run_actor(
                    Rc::new(setup),
                    Fake(world.clone()),
                    rx,
                    vec![Box::new(Probes(seen.clone()))],
                ));
                sleep_until(t0 + Duration::from_millis(5_500)).await;
                tx.send(Control::Stop(BY)).unwrap();
                actor.await.unwrap();
                // Probes at 1s, 2s, 3s (the start period: every second), then 4s,
                // and 5s after the pass.
                assert_eq!(
                    *seen.borrow(),
                    [
                        "starting 0 probe 1 failed 0ms probe 1 failed",
                        "starting 0 probe 2 failed 0ms probe 2 failed",
                        "starting 1 probe 3 failed 0ms probe 3 failed",
                        "healthy 0 probe 4 passed 0ms probe 3 failed",
                        "healthy 1 probe 5 failed 0ms probe 5 failed",
                    ]
                );
            })
            .await;
    }

    /// Whether each start has come to something yet, as the state file says it.
    struct Settled(Rc<RefCell<Vec<String>>>);

    impl Observer for Settled {
        fn changed(&mut self, status: &Status, event: &Event) {
            if matches!(event, Event::Started { .. }) {
                self.0.borrow_mut().push(format!(
                    "pid {}: settled {}, unhealthy {:?}",
                    status.pid.unwrap_or(0),
                    status.start_settled(),
                    status.unhealthy
                ));
            }
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_restart_asked_for_during_the_backoff_of_an_unhealthy_child_starts_over() {
        // Unhealthy twice: restarted at once, then a backoff of 10s, which a restart
        // (`tend restart`, a release switched by `tend upgrade` or `tend rollback`)
        // cuts short. The new child is not settled before its own first probe: the
        // one who asked waits for it, and does not hear the old child's verdict.
        tokio::task::LocalSet::new()
            .run_until(async {
                let extra = format!("{HEALTH}[restart.backoff]\ninitial = \"10s\"\n");
                let world = Rc::new(World {
                    probes: RefCell::new([(0, false); 4].into()),
                    ..World::default()
                });
                for _ in 0..3 {
                    world.kids.borrow_mut().push_back(Kid::Serves {
                        on_stop: Some((0, TERM)),
                    });
                }
                let (tx, rx) = mpsc::unbounded_channel();
                let seen = Rc::new(RefCell::new(Vec::new()));
                let t0 = Instant::now();
                let actor = tokio::task::spawn_local(run_actor(
                    Rc::new(setup(&extra)),
                    Fake(world.clone()),
                    rx,
                    vec![
                        Box::new(Ear(world.log.clone(), Default::default())),
                        Box::new(Settled(seen.clone())),
                    ],
                ));
                sleep_until(t0 + Duration::from_millis(8_000)).await;
                tx.send(Control::Restart(BY)).unwrap();
                sleep_until(t0 + Duration::from_millis(9_500)).await;
                tx.send(Control::Stop(BY)).unwrap();
                actor.await.unwrap();
                let log = world.log.borrow().clone();
                assert!(
                    log.iter().any(|l| l.ends_with("restarting in 10s")),
                    "in its backoff when the restart came: {log:#?}"
                );
                assert_eq!(
                    *seen.borrow(),
                    [
                        "pid 1: settled false, unhealthy None",
                        // (its own restart: still unhealthy until a probe passes)
                        "pid 2: settled true, unhealthy Some(\"probe 2 failed\")",
                        "pid 3: settled false, unhealthy None",
                    ],
                    "{log:#?}"
                );
            })
            .await;
    }

    #[tokio::test(start_paused = true)]
    async fn an_unhealthy_child_counts_against_the_restart_policy() {
        let serves = Kid::Serves {
            on_stop: Some((0, TERM)),
        };
        let extra = format!("{HEALTH}[restart]\npolicy = \"never\"\n");
        let (log, outcome, last) = probed(&extra, &[serves], &[(0, false), (0, false)], &[]).await;
        let end =
            "unhealthy (probe 2 failed), stopped gracefully in 0ms (signal SIGTERM); not restarting (policy never)";
        assert_eq!(
            log.last().map(String::as_str),
            Some(&*format!("failed: {end}"))
        );
        assert_eq!(outcome, Outcome::Exited { success: false });
        assert_eq!(last.message.as_deref(), Some(end));
    }

    #[tokio::test(start_paused = true)]
    async fn a_paused_child_is_not_probed_and_a_stop_lets_it_run_first() {
        tokio::task::LocalSet::new()
            .run_until(async {
                let world = Rc::new(World::default());
                world.kids.borrow_mut().push_back(Kid::Serves {
                    on_stop: Some((300, TERM)),
                });
                let (tx, rx) = mpsc::unbounded_channel();
                let (answers, mut heard) = mpsc::unbounded_channel();
                let ask = |c: fn(Reply) -> Control| c(Reply(answers.clone()));
                let t0 = Instant::now();
                let actor = tokio::task::spawn_local(run_actor(
                    Rc::new(setup(HEALTH)),
                    Fake(world.clone()),
                    rx,
                    vec![Box::new(Ear(world.log.clone(), Default::default()))],
                ));
                let mut said = Vec::new();
                let at = |ms: u64, c: Control| {
                    let world = world.clone();
                    let tx = tx.clone();
                    async move {
                        sleep_until(t0 + Duration::from_millis(ms)).await;
                        let probed = world.probed.get();
                        tx.send(c).unwrap();
                        probed
                    }
                };
                // Probed at 1s (healthy); paused at 1.5s for 3.5s: no probe.
                assert_eq!(at(1_500, ask(Control::Pause)).await, 1);
                let probed = at(5_000, ask(Control::Continue)).await;
                assert_eq!(probed, 1, "no probe while paused");
                // The next probe 1s after it runs again.
                assert_eq!(at(5_900, ask(Control::Continue)).await, 1);
                assert_eq!(at(6_100, ask(Control::Pause)).await, 2);
                assert_eq!(at(6_200, ask(Control::Pause)).await, 2);
                at(7_000, Control::Stop(BY)).await;
                assert_eq!(actor.await.unwrap(), Outcome::Stopped);
                assert_eq!(
                    world.probed.get(),
                    2,
                    "none while paused, nor after the stop"
                );
                while let Ok(Answer::Done(d)) = heard.try_recv() {
                    said.push(format!(
                        "{} {}: {}",
                        d.ok,
                        d.state.unwrap_or_default(),
                        d.message
                    ));
                }
                assert_eq!(
                    said,
                    [
                        "true paused: paused (pid 1): froze 1",
                        "true running: continued (pid 1): thawed 1",
                        "true running: `app` is not paused (it is running)",
                        "true paused: paused (pid 1): froze 1",
                        "true paused: `app` is paused already",
                    ]
                );
                assert_eq!(
                    *world.log.borrow(),
                    [
                        "spawn 1",
                        "running: started (pid 1)",
                        "running: healthy: probe 1 passed",
                        "pause 1",
                        "paused: paused (pid 1): froze 1",
                        "resume 1",
                        "running: continued (pid 1) after 3.5s paused: thawed 1",
                        "pause 1",
                        "paused: paused (pid 1): froze 1",
                        // The stop: it runs first, then hears the stop request.
                        "resume 1",
                        "running: continued (pid 1) after 900ms paused: thawed 1",
                        "stop 1",
                        "stopping: stopping on SIGINT: sent SIGTERM to pid 1, waiting up to 10s",
                        "kill 1",
                        "sweep",
                        "stopped: stopped gracefully in 300ms (signal SIGTERM)",
                    ]
                );
            })
            .await;
    }

    #[tokio::test(start_paused = true)]
    async fn event_sequences() {
        let crash = Kid::Exits {
            after: 10,
            exit: Exit::Code(1),
        };
        let stubborn = Kid::Serves { on_stop: None };
        let polite = Kid::Serves {
            on_stop: Some((300, TERM)),
        };
        let gave_up =
            "exit code 1 after 10ms; 3 restarts within 1m: giving up (restart.max_restarts = 3)";
        let failed = format!("failed: {gave_up}");
        type Row<'a> = (
            &'a str,
            &'a str,
            Vec<Kid>,
            Vec<(u64, Control)>,
            Vec<&'a str>,
            // The outcome, the restarts the last status counts, and its stderr line.
            (Outcome, u64, Option<&'a str>),
        );
        #[rustfmt::skip]
        let table: Vec<Row> = vec![
            ("a crash loop backs off, then gives up at the limit", LIMIT,
                vec![crash; 4], vec![],
                vec![
                    "spawn 1", "running: started (pid 1)",
                    // Restarted at once: the old child's group and the orphans are
                    // cleaned up once the new child runs.
                    "clean up 1", "spawn 2", "running: exit code 1 after 10ms; restarted (pid 2)",
                    // What the child wrote last, the unfinished line too.
                    "  stderr: pid 1 starting", "  stderr: pid 1 says exit code 1", "sweep soon",
                    "clean up 2", "backoff: exit code 1 after 10ms; restarting in 100ms",
                    "  stderr: pid 2 starting", "  stderr: pid 2 says exit code 1", "sweep",
                    "spawn 3", "running: restarted (pid 3)",
                    "clean up 3", "backoff: exit code 1 after 10ms; restarting in 200ms",
                    "  stderr: pid 3 starting", "  stderr: pid 3 says exit code 1", "sweep",
                    "spawn 4", "running: restarted (pid 4)",
                    "clean up 4", &failed, "  stderr: pid 4 starting", "  stderr: pid 4 says exit code 1", "sweep",
                ],
                (Outcome::Failed(gave_up.into()), 3, Some("pid 4 says exit code 1"))),
            ("a stop during the backoff ends the wait, and nothing is started", "[restart.backoff]\ninitial = \"5s\"",
                vec![crash, crash], vec![(1_000, Control::Stop(BY))],
                vec![
                    "spawn 1", "running: started (pid 1)",
                    "clean up 1", "spawn 2", "running: exit code 1 after 10ms; restarted (pid 2)",
                    "  stderr: pid 1 starting", "  stderr: pid 1 says exit code 1", "sweep soon",
                    "clean up 2", "backoff: exit code 1 after 10ms; restarting in 5s",
                    "  stderr: pid 2 starting", "  stderr: pid 2 says exit code 1", "sweep",
                    "stopped: stopped on SIGINT (was waiting to restart)",
                ],
                // The line of the last failed exit stays until the next exit.
                (Outcome::Stopped, 2, Some("pid 2 says exit code 1"))),
            ("a graceful stop", "",
                vec![polite], vec![(1_000, Control::Stop(BY))],
                vec![
                    "spawn 1", "running: started (pid 1)",
                    "stop 1", "stopping: stopping on SIGINT: sent SIGTERM to pid 1, waiting up to 10s",
                    "kill 1", "sweep", "stopped: stopped gracefully in 300ms (signal SIGTERM)",
                ],
                (Outcome::Stopped, 0, None)),
            ("a stop that times out kills the tree", "[stop]\ntimeout = \"2s\"",
                vec![stubborn], vec![(1_000, Control::Stop(BY))],
                vec![
                    "spawn 1", "running: started (pid 1)",
                    "stop 1", "stopping: stopping on SIGINT: sent SIGTERM to pid 1, waiting up to 2s",
                    "kill 1", "sweep", "stopping: did not stop within 2s; killed the process tree",
                    "kill 1", "sweep", "stopped: killed after the 2s stop timeout",
                ],
                (Outcome::Stopped, 0, None)),
            ("a second stop request kills at once", "",
                vec![stubborn], vec![(1_000, Control::Stop(BY)), (1_500, Control::Kill(BY))],
                vec![
                    "spawn 1", "running: started (pid 1)",
                    "stop 1", "stopping: stopping on SIGINT: sent SIGTERM to pid 1, waiting up to 10s",
                    "kill 1", "sweep", "stopping: killing the process tree at once on a second Ctrl-C",
                    "kill 1", "sweep", "stopped: killed at once on a second Ctrl-C",
                ],
                (Outcome::Stopped, 0, None)),
            ("a stop request while stopping only waits on", "[stop]\ntimeout = \"2s\"",
                vec![polite], vec![(1_000, Control::Stop(BY)), (1_100, Control::Stop(BY))],
                vec![
                    "spawn 1", "running: started (pid 1)",
                    "stop 1", "stopping: stopping on SIGINT: sent SIGTERM to pid 1, waiting up to 2s",
                    "kill 1", "sweep", "stopped: stopped gracefully in 300ms (signal SIGTERM)",
                ],
                (Outcome::Stopped, 0, None)),
            ("a restart on request starts the next child before the sweep", "",
                vec![polite, stubborn], vec![(1_000, Control::Restart(StopBy::ServiceManager)), (5_000, Control::Kill(BY))],
                vec![
                    "spawn 1", "running: started (pid 1)",
                    "stop 1", "stopping: restarting on the service manager's request: sent SIGTERM to pid 1, waiting up to 10s",
                    "kill 1",
                    "spawn 2", "running: stopped gracefully in 300ms (signal SIGTERM); restarted on request (pid 2)",
                    "sweep",
                    "kill 2", "sweep", "stopping: killing the process tree at once on a second Ctrl-C",
                    "kill 2", "sweep", "stopped: killed at once on a second Ctrl-C",
                ],
                (Outcome::Stopped, 1, None)),
            ("a program that cannot be started is retried, then runs", "",
                vec![Kid::Missing, Kid::Missing, stubborn], vec![(5_000, Control::Kill(BY))],
                vec![
                    "spawn fails", "starting: cannot start /srv/app: entity not found",
                    "spawn fails", "starting: cannot start /srv/app: entity not found",
                    "backoff: cannot start /srv/app: entity not found; restarting in 100ms",
                    "spawn 1", "running: started (pid 1)",
                    "kill 1", "sweep", "stopping: killing the process tree at once on a second Ctrl-C",
                    "kill 1", "sweep", "stopped: killed at once on a second Ctrl-C",
                ],
                (Outcome::Stopped, 0, None)),
            ("a success ends the service, by the policy as the spec spells it", "",
                vec![Kid::Exits { after: 2_500, exit: Exit::Code(0) }], vec![],
                vec![
                    "spawn 1", "running: started (pid 1)",
                    "clean up 1", "exited: exit code 0 after 2.5s; not restarting (policy on-failure)", "sweep",
                ],
                (Outcome::Exited { success: true }, 0, None)),
            ("a no-restart code ends the service and says so, and why the child failed",
                "[restart]\npolicy = \"always\"\nno_restart_codes = [78]",
                vec![Kid::Exits { after: 10, exit: Exit::Code(78) }], vec![],
                vec![
                    "spawn 1", "running: started (pid 1)",
                    "clean up 1", "failed: exit code 78 after 10ms; not restarting (exit code 78 is in restart.no_restart_codes)",
                    "  stderr: pid 1 starting", "  stderr: pid 1 says exit code 78", "sweep",
                ],
                (Outcome::Exited { success: false }, 0, Some("pid 1 says exit code 78"))),
            ("a stop after a failed exit forgets its stderr line", "",
                vec![crash, polite], vec![(1_000, Control::Stop(BY))],
                vec![
                    "spawn 1", "running: started (pid 1)",
                    "clean up 1", "spawn 2", "running: exit code 1 after 10ms; restarted (pid 2)",
                    "  stderr: pid 1 starting", "  stderr: pid 1 says exit code 1", "sweep soon",
                    "stop 2", "stopping: stopping on SIGINT: sent SIGTERM to pid 2, waiting up to 10s",
                    "kill 2", "sweep", "stopped: stopped gracefully in 300ms (signal SIGTERM)",
                ],
                (Outcome::Stopped, 1, None)),
        ];
        for (name, extra, kids, controls, expected, (outcome, restarts, last_stderr)) in table {
            let (log, got, last) = scenario(extra, &kids, &controls).await;
            assert_eq!(log, expected, "{name}");
            assert_eq!(got, outcome, "{name}");
            assert_eq!(last.restarts, restarts, "{name}: restarts");
            assert_eq!(last.pid, None, "{name}: no child in the last status");
            assert_eq!(
                last.last_stderr.as_deref(),
                last_stderr,
                "{name}: last_stderr"
            );
        }
    }
}
