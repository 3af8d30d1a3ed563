//! What happens to a service, as its actor reports it: one typed [`Event`] per change
//! of state, handed to every observer with the new [`Status`](super::state::Status).
//! Each observer renders what it needs from it: the console and journal print its
//! [`Display`](fmt::Display) line, sd_notify sends it as `STATUS=`, the Event Log maps
//! it to its numbered messages ([`super::eventlog`]), the state file and the service
//! control manager only look at the status.
//!
//! The line of each event is the one `tend` has always printed, e.g. `exit code 1
//! after 340ms; restarting in 1.6s`: an event that follows from an earlier one
//! (restarted at once after an exit, a decision after a failed start) carries that
//! earlier one and renders it first, so one change of state stays one line and one
//! state-file write.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use crate::spec::{Duration as SpecDuration, RestartPolicy};

use super::policy::Exit;

/// One run of a child: its pid, how it ended and after how long.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Run {
    /// The child's pid.
    pub pid: i32,
    /// How it ended.
    pub exit: Exit,
    /// How long it ran, from its start to its exit.
    pub ran: Duration,
    /// The last lines it wrote to stderr (at most [`TAIL_LINES`](super::pump::TAIL_LINES)),
    /// when it exited by itself and failed; empty otherwise.
    pub stderr: Vec<String>,
    /// Whether the OOM killer killed it (its `exit` is then SIGKILL): see
    /// [`oom_killed`](super::resources::oom_killed).
    pub oom_killed: bool,
}

/// Why the program could not be started.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StartError {
    /// The program (the resolved path).
    pub program: PathBuf,
    /// The error, as the OS gave it.
    pub error: String,
}

impl fmt::Display for StartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cannot start {}: {}", self.program.display(), self.error)
    }
}

/// How a service's last attempt ended, before the restart policy decides what follows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ended {
    /// The child ran and exited by itself.
    Exited(Run),
    /// The program could not be started (decided as exit code 127, as a shell would).
    NotStarted(StartError),
    /// Its health checks failed (`health.on_unhealthy = "restart"`) and it was stopped.
    Unhealthy {
        /// The last probe's result.
        result: String,
        /// How it stopped.
        stopped: Stopped,
    },
}

impl fmt::Display for Ended {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Ended::Exited(run) if run.oom_killed => write!(
                f,
                "killed by the OOM killer ({}) after {}",
                run.exit,
                show_duration(run.ran)
            ),
            Ended::Exited(run) => write!(f, "{} after {}", run.exit, show_duration(run.ran)),
            Ended::NotStarted(e) => e.fmt(f),
            Ended::Unhealthy { result, stopped } => write!(f, "unhealthy ({result}), {stopped}"),
        }
    }
}

/// How a child that was asked to stop ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StopEnd {
    /// It exited by itself, `took` after the stop began.
    Gracefully {
        /// From the stop request to its exit.
        took: Duration,
    },
    /// Its tree was killed when `stop.timeout` passed.
    AfterTimeout {
        /// `stop.timeout`.
        timeout: SpecDuration,
    },
    /// Its tree was killed at once on a second stop request (by whom, when known).
    AtOnce(Option<StopBy>),
}

/// A stopped child: its run and how the stop ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stopped {
    /// The child's run (`ran`: from its start).
    pub run: Run,
    /// How the stop ended.
    pub how: StopEnd,
}

impl fmt::Display for Stopped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.how {
            StopEnd::Gracefully { took } => write!(
                f,
                "stopped gracefully in {} ({})",
                show_duration(*took),
                self.run.exit
            ),
            StopEnd::AfterTimeout { timeout } => {
                write!(f, "killed after the {timeout} stop timeout")
            }
            StopEnd::AtOnce(by) => write!(f, "killed at once on {}", second(*by)),
        }
    }
}

/// Which start of the service this is, and what came before it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Start {
    /// The service's first.
    First,
    /// Again, after the backoff delay (or a restart request during it).
    Again,
    /// Again at once, right after the last attempt ended.
    AtOnce(Ended),
    /// Again, after a restart request stopped the previous child.
    OnRequest(Stopped),
}

impl Start {
    /// What the line says before the start itself: `exit code 1 after 5ms; `.
    fn prefix(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Start::First | Start::Again => Ok(()),
            Start::AtOnce(ended) => write!(f, "{ended}; "),
            Start::OnRequest(stopped) => write!(f, "{stopped}; "),
        }
    }
}

/// How the child was asked to stop.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StopRequest {
    /// The platform's stop request was sent (the stop signal, Ctrl-C, `WM_CLOSE`):
    /// what was done, e.g. `sent SIGTERM to pid 42`.
    Sent(String),
    /// It could not be sent.
    NotSent {
        /// The child.
        pid: i32,
        /// Why.
        error: String,
    },
    /// A stop hook runs first: what it does, e.g. `stop hook POST http://...`.
    Hook(String),
}

impl StopRequest {
    /// What was done, without the leading `stopping: `.
    fn what(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StopRequest::Sent(done) | StopRequest::Hook(done) => f.write_str(done),
            StopRequest::NotSent { pid, error } => {
                write!(f, "cannot ask pid {pid} to stop: {error}")
            }
        }
    }
}

impl fmt::Display for StopRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("stopping: ")?;
        self.what(f)
    }
}

/// Who asked the supervisor to stop.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StopBy {
    /// A signal to the supervisor (Unix): `SIGTERM`, `SIGINT`, `SIGQUIT`.
    Signal(&'static str),
    /// A console event (Windows): `Ctrl-C`, `Ctrl-Break`, the console closing, shutdown.
    Console(&'static str),
    /// The service control manager (Windows): `sc stop`, services.msc, shutdown.
    ServiceManager,
    /// The supervisor itself: nothing can send it requests any more.
    Supervisor,
    /// A command through the supervisor's control channel: `tend stop NAME`, `tend
    /// restart NAME`.
    Client(&'static str),
    /// The service's health checks (`health.on_unhealthy = "restart"`).
    Unhealthy,
}

impl fmt::Display for StopBy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StopBy::Signal(name) | StopBy::Console(name) => f.write_str(name),
            StopBy::ServiceManager => f.write_str("the service manager's request"),
            StopBy::Supervisor => f.write_str("the supervisor's own request"),
            StopBy::Client(command) => write!(f, "`{command}`"),
            StopBy::Unhealthy => f.write_str("failed health checks"),
        }
    }
}

impl StopBy {
    /// Whether this is Ctrl-C (SIGINT, which a terminal sends for it, or the console
    /// event): a person at a terminal, who can press it again.
    pub fn is_ctrl_c(self) -> bool {
        matches!(self, StopBy::Signal("SIGINT") | StopBy::Console("Ctrl-C"))
    }
}

/// A second stop request as a person reads it: `a second Ctrl-C`, `a second SIGTERM`,
/// `a second stop request`.
pub(crate) fn second(by: Option<StopBy>) -> String {
    match by {
        Some(by) if by.is_ctrl_c() => "a second Ctrl-C".into(),
        Some(StopBy::Signal(name) | StopBy::Console(name)) => format!("a second {name}"),
        Some(StopBy::ServiceManager) => "a second stop request from the service manager".into(),
        Some(StopBy::Client(command)) => format!("a second `{command}`"),
        Some(StopBy::Unhealthy) => "a stop request after failed health checks".into(),
        Some(StopBy::Supervisor) | None => "a second stop request".into(),
    }
}

/// Why a service's child is not started again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NotRestarted {
    /// `restart.policy` says so (`never`, or `on-failure` after a success).
    Policy(RestartPolicy),
    /// The exit code is in `restart.no_restart_codes`.
    NoRestartCode(i32),
}

/// A change in a service's life, as its actor reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// A child started: `started (pid 42)`, `restarted (pid 43)`, `exit code 1 after
    /// 5ms; restarted (pid 43)`.
    Started {
        /// The new child.
        pid: i32,
        /// Which start this is.
        start: Start,
    },
    /// The program could not be started: `cannot start /srv/app: No such file or
    /// directory`. The decision ([`Event::Restarting`], ...) follows.
    CannotStart {
        /// Why.
        error: StartError,
        /// The start that failed.
        start: Start,
    },
    /// The last attempt ended; the next start is in `delay`: `exit code 1 after 5ms;
    /// restarting in 100ms`. (A restart at once is an [`Event::Started`].)
    Restarting {
        /// How the last attempt ended.
        ended: Ended,
        /// The backoff delay.
        delay: Duration,
    },
    /// The last attempt ended and the service is not started again: `exit code 0
    /// after 2.0s; not restarting (policy on-failure)`.
    Exited {
        /// How the last attempt ended.
        ended: Ended,
        /// Whether it counts as a success (`restart.success_codes`).
        success: bool,
        /// Why it is not started again.
        reason: NotRestarted,
        /// `restart.policy`.
        policy: RestartPolicy,
    },
    /// Too many restarts: `exit code 1 after 5ms; 10 restarts within 2m: giving up
    /// (restart.max_restarts = 10)`.
    GaveUp {
        /// How the last attempt ended.
        ended: Ended,
        /// Restarts within the window.
        restarts: u32,
        /// `restart.window`.
        window: SpecDuration,
        /// `restart.max_restarts`.
        max_restarts: u32,
    },
    /// A stop (or restart) request reached the child: `stopping on SIGTERM: sent
    /// SIGTERM to pid 42, waiting up to 10s`.
    StopRequested {
        /// The child.
        pid: i32,
        /// Who asked (to stop, or to restart).
        by: StopBy,
        /// How it was asked.
        request: StopRequest,
        /// `stop.timeout`.
        timeout: SpecDuration,
        /// A restart request: the child is started again once stopped.
        restart: bool,
    },
    /// The stop hook did its part: `stop hook: POST ... answered 200`.
    StopHookDone(String),
    /// The stop hook failed, so the stop request was sent after all: `stop hook failed
    /// (connection refused); stopping: sent SIGTERM to pid 42`.
    StopHookFailed {
        /// Why the hook failed.
        why: String,
        /// The request sent instead.
        then: StopRequest,
    },
    /// The child was told to re-read its configuration (`[reload]`): `reloaded on
    /// `tend reload`: sent SIGHUP to pid 42`.
    Reloaded {
        /// Who asked.
        by: StopBy,
        /// What was done.
        how: String,
    },
    /// A reload could not be done or its command failed: `reload on `tend reload`
    /// failed: `/opt/x/x` ended with exit code 3`. The child runs on.
    ReloadFailed {
        /// Who asked.
        by: StopBy,
        /// Why.
        why: String,
    },
    /// The child did not stop within `stop.timeout`; its tree was killed.
    StopTimedOut {
        /// The child.
        pid: i32,
        /// `stop.timeout`.
        timeout: SpecDuration,
    },
    /// A kill request (a second stop request): the tree is killed without waiting.
    Killing {
        /// The child.
        pid: i32,
        /// Who asked again, when known.
        by: Option<StopBy>,
    },
    /// The child stopped on request and the service has ended.
    Stopped(Stopped),
    /// A stop request during the backoff delay: no child ran; the service has ended.
    StoppedWhileWaiting {
        /// Who asked (none: a kill request, a second stop).
        by: Option<StopBy>,
    },
    /// A health probe passed after none had since the start (or after the service was
    /// unhealthy): `healthy: GET http://127.0.0.1:8080/healthz answered 200 (3ms)`.
    Healthy {
        /// The child.
        pid: i32,
        /// What the probe found.
        result: String,
        /// It was unhealthy until now (not merely starting).
        again: bool,
    },
    /// `health.retries` probes in a row failed: `unhealthy: 3 probes in a row failed,
    /// the last: GET http://127.0.0.1:8080/healthz: no answer within 2s`.
    Unhealthy {
        /// The child.
        pid: i32,
        /// Probes failed in a row.
        failures: u32,
        /// The last probe's result.
        result: String,
    },
    /// The service is switched to another release and restarted on it: `upgrading from
    /// release 1.1 to release 1.2`, `rolling back from release 1.2 to release 1.1: not
    /// ready within 60s (...)`. A release `None` is the spec's own `command`.
    Switching {
        /// The release it ran.
        from: Option<String>,
        /// The release it runs now.
        to: Option<String>,
        /// `None`: an upgrade; else a rollback, and why.
        rollback: Option<String>,
    },
    /// The child's process tree was frozen on request (`tend pause`): `paused (pid 42):
    /// sent SIGSTOP to process group 42`. Health probes wait until it continues.
    Paused {
        /// The child.
        pid: i32,
        /// How it was frozen, for the log.
        how: String,
    },
    /// A paused child's tree was let run again (`tend continue`, or before a stop):
    /// `continued (pid 42) after 3.2s paused: sent SIGCONT to process group 42`.
    Continued {
        /// The child.
        pid: i32,
        /// How long it was paused.
        paused: Duration,
        /// How it was let run, for the log.
        how: String,
    },
    /// A new release passed its check (`update.verify_within`): `upgraded to release
    /// 1.2: ready after 1.4s`.
    Upgraded {
        /// The release.
        to: String,
        /// How long after the switch it was ready.
        after: Duration,
    },
}

impl Ended {
    /// The last lines the child wrote to stderr before a failed exit.
    pub fn stderr(&self) -> &[String] {
        match self {
            Ended::Exited(run) => &run.stderr,
            Ended::NotStarted(_) | Ended::Unhealthy { .. } => &[],
        }
    }
}

impl Event {
    /// The last lines the child wrote to stderr before the failed exit this event
    /// reports (none for other events): the console and the journal show them under
    /// the event's line, the state file keeps the last one.
    pub fn stderr(&self) -> &[String] {
        match self {
            Event::Restarting { ended, .. }
            | Event::Exited { ended, .. }
            | Event::GaveUp { ended, .. }
            | Event::Started {
                start: Start::AtOnce(ended),
                ..
            }
            | Event::CannotStart {
                start: Start::AtOnce(ended),
                ..
            } => ended.stderr(),
            _ => &[],
        }
    }
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Event::Started { pid, start } => {
                start.prefix(f)?;
                match start {
                    Start::First => write!(f, "started (pid {pid})"),
                    Start::Again | Start::AtOnce(_) => write!(f, "restarted (pid {pid})"),
                    Start::OnRequest(_) => write!(f, "restarted on request (pid {pid})"),
                }
            }
            Event::CannotStart { error, start } => {
                // A start that failed again after a failed start: said once.
                if !matches!(start, Start::AtOnce(Ended::NotStarted(_))) {
                    start.prefix(f)?;
                }
                error.fmt(f)
            }
            Event::Restarting { ended, delay } => {
                write!(f, "{ended}; restarting in {}", show_duration(*delay))
            }
            Event::Exited { ended, reason, .. } => match reason {
                NotRestarted::Policy(policy) => {
                    write!(f, "{ended}; not restarting (policy {policy})")
                }
                NotRestarted::NoRestartCode(code) => write!(
                    f,
                    "{ended}; not restarting (exit code {code} is in restart.no_restart_codes)"
                ),
            },
            Event::GaveUp {
                ended,
                restarts,
                window,
                max_restarts,
            } => write!(
                f,
                "{ended}; {restarts} restarts within {window}: giving up (restart.max_restarts = {max_restarts})"
            ),
            Event::StopRequested {
                by,
                request,
                timeout,
                restart,
                ..
            } => {
                let what = if *restart { "restarting" } else { "stopping" };
                write!(f, "{what} on {by}: ")?;
                request.what(f)?;
                write!(f, ", waiting up to {timeout}")
            }
            Event::StopHookDone(done) => write!(f, "stop hook: {done}"),
            Event::StopHookFailed { why, then } => write!(f, "stop hook failed ({why}); {then}"),
            Event::Reloaded { by, how } => write!(f, "reloaded on {by}: {how}"),
            Event::ReloadFailed { by, why } => write!(f, "reload on {by} failed: {why}"),
            Event::StopTimedOut { timeout, .. } => {
                write!(f, "did not stop within {timeout}; killed the process tree")
            }
            Event::Killing { by, .. } => {
                write!(f, "killing the process tree at once on {}", second(*by))
            }
            Event::Stopped(stopped) => stopped.fmt(f),
            Event::StoppedWhileWaiting { by: Some(by) } => {
                write!(f, "stopped on {by} (was waiting to restart)")
            }
            Event::StoppedWhileWaiting { by: None } => {
                f.write_str("stopped (was waiting to restart)")
            }
            Event::Healthy {
                result,
                again: false,
                ..
            } => write!(f, "healthy: {result}"),
            Event::Healthy {
                result,
                again: true,
                ..
            } => write!(f, "healthy again: {result}"),
            Event::Unhealthy {
                failures, result, ..
            } => {
                let probes = if *failures == 1 {
                    "1 probe failed".to_string()
                } else {
                    format!("{failures} probes in a row failed")
                };
                write!(f, "unhealthy: {probes}, the last: {result}")
            }
            Event::Switching {
                from,
                to,
                rollback: None,
            } => write!(
                f,
                "upgrading from {} to {}",
                release_name(from.as_deref()),
                release_name(to.as_deref())
            ),
            Event::Switching {
                from,
                to,
                rollback: Some(why),
            } => write!(
                f,
                "rolling back from {} to {}: {why}",
                release_name(from.as_deref()),
                release_name(to.as_deref())
            ),
            Event::Upgraded { to, after } => {
                write!(f, "upgraded to release {to}: ready after {}", show_duration(*after))
            }
            Event::Paused { pid, how } => write!(f, "paused (pid {pid}): {how}"),
            Event::Continued { pid, paused, how } => write!(
                f,
                "continued (pid {pid}) after {} paused: {how}",
                show_duration(*paused)
            ),
        }
    }
}

/// A release as events name it: `release 1.2`, or `the spec's command` (before any
/// upgrade).
pub fn release_name(id: Option<&str>) -> String {
    match id {
        Some(id) => format!("release {id}"),
        None => "the spec's command".into(),
    }
}

/// A duration as tend shows it everywhere (event lines, the Event Log, `tend
/// status`): `340ms` below a second, `2.5s` (or `2s` when whole) below a minute,
/// then its two largest whole units: `1m 30s`, `2h 5m`, `3days 4h`.
pub fn show_duration(d: Duration) -> String {
    if d < Duration::from_secs(1) {
        return format!("{}ms", d.as_millis());
    }
    // Rounded to tenths first, so that 1.96 s reads `2s`, not `2.0s`.
    let tenths = (d.as_millis() + 50) / 100;
    if tenths < 600 {
        return if tenths.is_multiple_of(10) {
            format!("{}s", tenths / 10)
        } else {
            format!("{}.{}s", tenths / 10, tenths % 10)
        };
    }
    // From a minute on, whole seconds (59.96 s is already `1m`).
    let whole = humantime::format_duration(Duration::from_secs(d.as_secs().max(60))).to_string();
    whole.split(' ').take(2).collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(exit: Exit, ms: u64) -> Run {
        Run {
            pid: 42,
            exit,
            ran: Duration::from_millis(ms),
            stderr: Vec::new(),
            oom_killed: false,
        }
    }

    /// The stderr lines of a failed exit are the event's, whichever event reports the
    /// exit; its line stays one line (the state file's message, sd_notify's STATUS=).
    #[test]
    fn the_stderr_lines_go_with_the_exit() {
        let mut r = run(Exit::Code(1), 5);
        r.stderr = vec!["Error: address already in use".into()];
        let ended = Ended::Exited(r);
        let lines: &[String] = &["Error: address already in use".into()];
        #[rustfmt::skip]
        let carried = [
            Event::Restarting { ended: ended.clone(), delay: Duration::from_secs(1) },
            Event::Started { pid: 43, start: Start::AtOnce(ended.clone()) },
            Event::CannotStart { error: StartError { program: "/srv/app".into(), error: "gone".into() }, start: Start::AtOnce(ended.clone()) },
            Event::Exited { ended: ended.clone(), success: false, reason: NotRestarted::NoRestartCode(1), policy: RestartPolicy::Always },
            Event::GaveUp { ended: ended.clone(), restarts: 1, window: SpecDuration::from_secs(60), max_restarts: 1 },
        ];
        for event in carried {
            assert_eq!(event.stderr(), lines, "{event:?}");
            assert!(!event.to_string().contains('\n'), "{event}");
            assert!(!event.to_string().contains("address"), "{event}");
        }
        assert!(Event::Started {
            pid: 43,
            start: Start::Again
        }
        .stderr()
        .is_empty());
        assert!(Event::StopTimedOut {
            pid: 43,
            timeout: SpecDuration::from_secs(1)
        }
        .stderr()
        .is_empty());
    }

    #[test]
    fn durations_read_as_people_write_them() {
        for (ms, shown) in [
            (0, "0ms"),
            (999, "999ms"),
            (1_000, "1s"),
            (1_500, "1.5s"),
            (59_949, "59.9s"),
            (1_949, "1.9s"),
            (1_960, "2s"),
            (59_960, "1m"),
            (59_000, "59s"),
            (60_000, "1m"),
            (90_500, "1m 30s"),
            (3_723_000, "1h 2m"),
            (86_400_000 + 1_000, "1day 1s"),
            (3 * 86_400_000 + 4 * 3_600_000 + 5_000, "3days 4h"),
        ] {
            assert_eq!(show_duration(Duration::from_millis(ms)), shown, "{ms}ms");
        }
    }

    /// Every line as tend printed it before events were typed (the e2e suites and
    /// tests/supervise.rs look for parts of them); only the policy reads as the spec
    /// spells it now.
    #[test]
    fn every_event_renders_its_line() {
        let timeout = SpecDuration::from_secs(10);
        let code1 = Ended::Exited(run(Exit::Code(1), 5));
        let oom = Ended::Exited(Run {
            oom_killed: true,
            ..run(Exit::Signal(9), 2_100)
        });
        let missing = StartError {
            program: "/srv/app".into(),
            error: "No such file or directory".into(),
        };
        let graceful = Stopped {
            run: run(Exit::Code(0), 60_000),
            how: StopEnd::Gracefully {
                took: Duration::from_millis(12),
            },
        };
        #[rustfmt::skip]
        let table: Vec<(Event, &str)> = vec![
            (Event::Started { pid: 42, start: Start::First }, "started (pid 42)"),
            (Event::Started { pid: 43, start: Start::Again }, "restarted (pid 43)"),
            (Event::Started { pid: 43, start: Start::AtOnce(code1.clone()) },
                "exit code 1 after 5ms; restarted (pid 43)"),
            (Event::Started { pid: 43, start: Start::AtOnce(Ended::NotStarted(missing.clone())) },
                "cannot start /srv/app: No such file or directory; restarted (pid 43)"),
            (Event::Started { pid: 43, start: Start::OnRequest(graceful.clone()) },
                "stopped gracefully in 12ms (exit code 0); restarted on request (pid 43)"),
            (Event::CannotStart { error: missing.clone(), start: Start::First },
                "cannot start /srv/app: No such file or directory"),
            (Event::CannotStart { error: missing.clone(), start: Start::AtOnce(code1.clone()) },
                "exit code 1 after 5ms; cannot start /srv/app: No such file or directory"),
            (Event::CannotStart { error: missing.clone(), start: Start::AtOnce(Ended::NotStarted(missing.clone())) },
                "cannot start /srv/app: No such file or directory"),
            (Event::CannotStart { error: missing.clone(), start: Start::OnRequest(graceful.clone()) },
                "stopped gracefully in 12ms (exit code 0); cannot start /srv/app: No such file or directory"),
            (Event::Restarting { ended: code1.clone(), delay: Duration::from_millis(1_600) },
                "exit code 1 after 5ms; restarting in 1.6s"),
            (Event::Restarting { ended: oom, delay: Duration::from_millis(100) },
                "killed by the OOM killer (signal 9) after 2.1s; restarting in 100ms"),
            (Event::Restarting { ended: Ended::NotStarted(missing.clone()), delay: Duration::from_millis(100) },
                "cannot start /srv/app: No such file or directory; restarting in 100ms"),
            (Event::Exited { ended: Ended::Exited(run(Exit::Code(0), 2_000)), success: true,
                    reason: NotRestarted::Policy(RestartPolicy::OnFailure), policy: RestartPolicy::OnFailure },
                "exit code 0 after 2s; not restarting (policy on-failure)"),
            (Event::Exited { ended: Ended::Exited(run(Exit::Code(78), 2_000)), success: false,
                    reason: NotRestarted::NoRestartCode(78), policy: RestartPolicy::Always },
                "exit code 78 after 2s; not restarting (exit code 78 is in restart.no_restart_codes)"),
            (Event::GaveUp { ended: Ended::Exited(run(Exit::Signal(9), 5)), restarts: 10,
                    window: SpecDuration::from_secs(120), max_restarts: 10 },
                "signal 9 after 5ms; 10 restarts within 2m: giving up (restart.max_restarts = 10)"),
            (Event::StopRequested { pid: 42, by: StopBy::Signal("SIGTERM"), request: StopRequest::Sent("sent SIGTERM to pid 42".into()), timeout, restart: false },
                "stopping on SIGTERM: sent SIGTERM to pid 42, waiting up to 10s"),
            (Event::StopRequested { pid: 42, by: StopBy::ServiceManager, request: StopRequest::Sent("sent a Ctrl-C event to pid 42".into()), timeout, restart: false },
                "stopping on the service manager's request: sent a Ctrl-C event to pid 42, waiting up to 10s"),
            (Event::StopRequested { pid: 42, by: StopBy::Console("Ctrl-C"), request: StopRequest::Sent("sent a Ctrl-C event to pid 42".into()), timeout, restart: false },
                "stopping on Ctrl-C: sent a Ctrl-C event to pid 42, waiting up to 10s"),
            (Event::StopRequested { pid: 42, by: StopBy::Supervisor, request: StopRequest::Sent("sent SIGTERM to pid 42".into()), timeout, restart: false },
                "stopping on the supervisor's own request: sent SIGTERM to pid 42, waiting up to 10s"),
            (Event::StopRequested { pid: 42, by: StopBy::ServiceManager, request: StopRequest::NotSent { pid: 42, error: "denied".into() }, timeout, restart: true },
                "restarting on the service manager's request: cannot ask pid 42 to stop: denied, waiting up to 10s"),
            (Event::StopRequested { pid: 42, by: StopBy::Signal("SIGINT"), request: StopRequest::Hook("stop hook `/bin/drain`".into()), timeout, restart: false },
                "stopping on SIGINT: stop hook `/bin/drain`, waiting up to 10s"),
            (Event::StopRequested { pid: 42, by: StopBy::Client("tend restart"), request: StopRequest::Sent("sent SIGTERM to pid 42".into()), timeout, restart: true },
                "restarting on `tend restart`: sent SIGTERM to pid 42, waiting up to 10s"),
            (Event::StopHookDone("`/bin/drain` succeeded".into()), "stop hook: `/bin/drain` succeeded"),
            (Event::StopHookFailed { why: "connection refused".into(), then: StopRequest::Sent("sent SIGTERM to pid 42".into()) },
                "stop hook failed (connection refused); stopping: sent SIGTERM to pid 42"),
            (Event::Reloaded { by: StopBy::Client("tend reload"), how: "sent SIGHUP to pid 42".into() },
                "reloaded on `tend reload`: sent SIGHUP to pid 42"),
            (Event::ReloadFailed { by: StopBy::ServiceManager, why: "`/bin/x` ended with exit code 3".into() },
                "reload on the service manager's request failed: `/bin/x` ended with exit code 3"),
            (Event::StopTimedOut { pid: 42, timeout }, "did not stop within 10s; killed the process tree"),
            (Event::Killing { pid: 42, by: None }, "killing the process tree at once on a second stop request"),
            (Event::Killing { pid: 42, by: Some(StopBy::Signal("SIGINT")) }, "killing the process tree at once on a second Ctrl-C"),
            (Event::Killing { pid: 42, by: Some(StopBy::Console("Ctrl-C")) }, "killing the process tree at once on a second Ctrl-C"),
            (Event::Killing { pid: 42, by: Some(StopBy::Signal("SIGTERM")) }, "killing the process tree at once on a second SIGTERM"),
            (Event::Stopped(graceful.clone()), "stopped gracefully in 12ms (exit code 0)"),
            (Event::Stopped(Stopped { run: run(Exit::Signal(9), 2_000), how: StopEnd::AfterTimeout { timeout: SpecDuration::from_secs(2) } }),
                "killed after the 2s stop timeout"),
            (Event::Stopped(Stopped { run: run(Exit::Signal(9), 2_000), how: StopEnd::AtOnce(None) }),
                "killed at once on a second stop request"),
            (Event::Stopped(Stopped { run: run(Exit::Signal(9), 2_000), how: StopEnd::AtOnce(Some(StopBy::Signal("SIGINT"))) }),
                "killed at once on a second Ctrl-C"),
            (Event::Stopped(Stopped { run: run(Exit::Signal(9), 2_000), how: StopEnd::AtOnce(Some(StopBy::ServiceManager)) }),
                "killed at once on a second stop request from the service manager"),
            (Event::StoppedWhileWaiting { by: None }, "stopped (was waiting to restart)"),
            (Event::Healthy { pid: 42, result: "GET http://127.0.0.1:8080/healthz answered 200 (3ms)".into(), again: false },
                "healthy: GET http://127.0.0.1:8080/healthz answered 200 (3ms)"),
            (Event::Healthy { pid: 42, result: "connected to 127.0.0.1:5432 (1ms)".into(), again: true },
                "healthy again: connected to 127.0.0.1:5432 (1ms)"),
            (Event::Unhealthy { pid: 42, failures: 3, result: "GET http://127.0.0.1:8080/healthz: no answer within 2s".into() },
                "unhealthy: 3 probes in a row failed, the last: GET http://127.0.0.1:8080/healthz: no answer within 2s"),
            (Event::Unhealthy { pid: 42, failures: 1, result: "`/bin/check` ended with exit code 1".into() },
                "unhealthy: 1 probe failed, the last: `/bin/check` ended with exit code 1"),
            (Event::StopRequested { pid: 42, by: StopBy::Unhealthy, request: StopRequest::Sent("sent SIGTERM to pid 42".into()), timeout, restart: true },
                "restarting on failed health checks: sent SIGTERM to pid 42, waiting up to 10s"),
            (Event::Restarting { ended: Ended::Unhealthy { result: "GET http://127.0.0.1:8080/healthz: answered \"HTTP/1.1 503\"".into(), stopped: graceful.clone() }, delay: Duration::from_millis(100) },
                "unhealthy (GET http://127.0.0.1:8080/healthz: answered \"HTTP/1.1 503\"), stopped gracefully in 12ms (exit code 0); restarting in 100ms"),
            (Event::Started { pid: 43, start: Start::AtOnce(Ended::Unhealthy { result: "`/bin/check` ended with exit code 1".into(), stopped: Stopped { run: run(Exit::Signal(9), 2_000), how: StopEnd::AfterTimeout { timeout } } }) },
                "unhealthy (`/bin/check` ended with exit code 1), killed after the 10s stop timeout; restarted (pid 43)"),
            (Event::StoppedWhileWaiting { by: Some(StopBy::Signal("SIGTERM")) },
                "stopped on SIGTERM (was waiting to restart)"),
        ];
        for (event, line) in table {
            // Signal names are Unix's; elsewhere the number is shown.
            let line = if cfg!(unix) {
                line.replace("signal 9", "signal SIGKILL")
            } else {
                line.to_string()
            };
            assert_eq!(event.to_string(), line, "{event:?}");
        }
    }
}
