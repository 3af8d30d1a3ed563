//! Lifecycle events for the Windows Event Log, as pure data.
//!
//! On Windows, tend reports what happens to a service (its program started, exited,
//! is restarted in N seconds, hit the restart limit, did not stop in time, ...) to the
//! Application log, with the service name as the event source. Each event has a
//! stable, documented ID, a kind (information, warning, error) and insert strings;
//! the readable text is a message table compiled into tend.exe from
//! `res/messages.mc` (see `build.rs`), so Event Viewer and `wevtutil` show it.
//!
//! This module decides *what* to report and is the same on every platform, so it is
//! unit-tested everywhere: [`EventMapper`] turns the supervisor's status reports
//! (the [`Observer`](super::service::Observer) calls) into [`Event`]s, and each
//! [`Event`] gives the full message ID and the strings for `ReportEventW`. Writing
//! to the log itself is Windows-only and lives with the Windows observer.
//!
//! Tests below prove that every [`EventId`] has a message in `res/messages.mc` with
//! the same code, severity and number of inserts (and the other way round), and
//! that the table in `docs/PLATFORMS.md` is that file's text. A Windows build also
//! checks, at compile time, that the IDs windmc compiled are the ones reported.

use std::time::{Duration, Instant};

use crate::spec::{RestartPolicy, Spec, WinStop};

use super::policy::{Decision, Exit, RestartTracker};
use super::state::{LastExit, State, Status};

/// How severe an event is: Event Viewer's "Level" column.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    /// Normal operation: started, stopped, restarting.
    Information,
    /// Something went wrong and tend handled it: the program failed, a stop timed out.
    Warning,
    /// The service is down and tend has given up on it.
    Error,
}

impl Kind {
    /// The `wType` for `ReportEventW`: `EVENTLOG_INFORMATION_TYPE` (4),
    /// `EVENTLOG_WARNING_TYPE` (2) or `EVENTLOG_ERROR_TYPE` (1).
    pub const fn event_type(self) -> u16 {
        match self {
            Kind::Information => 0x0004,
            Kind::Warning => 0x0002,
            Kind::Error => 0x0001,
        }
    }

    /// The message compiler's two severity bits (bits 30–31 of a message ID):
    /// informational 1, warning 2, error 3.
    pub const fn severity(self) -> u32 {
        match self {
            Kind::Information => 1,
            Kind::Warning => 2,
            Kind::Error => 3,
        }
    }

    /// The name Event Viewer shows.
    pub const fn as_str(self) -> &'static str {
        match self {
            Kind::Information => "Information",
            Kind::Warning => "Warning",
            Kind::Error => "Error",
        }
    }
}

/// The level for [`tend_service::windows::eventlog::EventSource::report`].
#[cfg(windows)]
impl From<Kind> for tend_service::windows::eventlog::EventKind {
    fn from(kind: Kind) -> Self {
        match kind {
            Kind::Information => Self::Info,
            Kind::Warning => Self::Warning,
            Kind::Error => Self::Error,
        }
    }
}

/// Which event happened: its stable ID, kind, message and inserts.
///
/// The codes are documented in `docs/PLATFORMS.md` and never change or get reused:
/// 1xxx information, 2xxx warnings, 3xxx errors.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EventId {
    /// 1000: the supervisor started (the first report of a service).
    SupervisorStarted,
    /// 1001: the program started.
    ProgramStarted,
    /// 1002: the program exited by itself, successfully (`restart.success_codes`).
    ProgramExited,
    /// 1003: the program will be started again after a delay.
    Restarting,
    /// 1004: tend asked the program to stop.
    StopRequested,
    /// 1005: the program stopped after a stop (or restart) request.
    ProgramStopped,
    /// 1006: the service stopped on request.
    ServiceStopped,
    /// 1007: the program ended successfully and the policy does not restart it.
    ServiceFinished,
    /// 2001: the program ended by itself with a failure (code or signal).
    ProgramFailed,
    /// 2002: the program did not stop within `stop.timeout`; its tree was ended.
    StopTimedOut,
    /// 3001: the program failed and is not restarted (policy or `no_restart_codes`).
    ServiceFailed,
    /// 3002: the restart limit was reached; tend gives up.
    RestartLimit,
    /// 3003: the program cannot be started at all.
    CannotStart,
}

impl EventId {
    /// Every event, in code order.
    pub const ALL: [EventId; 13] = [
        EventId::SupervisorStarted,
        EventId::ProgramStarted,
        EventId::ProgramExited,
        EventId::Restarting,
        EventId::StopRequested,
        EventId::ProgramStopped,
        EventId::ServiceStopped,
        EventId::ServiceFinished,
        EventId::ProgramFailed,
        EventId::StopTimedOut,
        EventId::ServiceFailed,
        EventId::RestartLimit,
        EventId::CannotStart,
    ];

    /// The event ID as Event Viewer shows it (the low 16 bits of the message ID).
    pub const fn code(self) -> u16 {
        match self {
            EventId::SupervisorStarted => 1000,
            EventId::ProgramStarted => 1001,
            EventId::ProgramExited => 1002,
            EventId::Restarting => 1003,
            EventId::StopRequested => 1004,
            EventId::ProgramStopped => 1005,
            EventId::ServiceStopped => 1006,
            EventId::ServiceFinished => 1007,
            EventId::ProgramFailed => 2001,
            EventId::StopTimedOut => 2002,
            EventId::ServiceFailed => 3001,
            EventId::RestartLimit => 3002,
            EventId::CannotStart => 3003,
        }
    }

    /// The event's kind (its severity in the message table).
    pub const fn kind(self) -> Kind {
        match self {
            EventId::SupervisorStarted
            | EventId::ProgramStarted
            | EventId::ProgramExited
            | EventId::Restarting
            | EventId::StopRequested
            | EventId::ProgramStopped
            | EventId::ServiceStopped
            | EventId::ServiceFinished => Kind::Information,
            EventId::ProgramFailed | EventId::StopTimedOut => Kind::Warning,
            EventId::ServiceFailed | EventId::RestartLimit | EventId::CannotStart => Kind::Error,
        }
    }

    /// The full 32-bit message ID that windmc compiled for this message: the
    /// severity in bits 30–31 over the 16-bit code (facility 0, no customer bit).
    /// This, not [`code`](Self::code), is the `dwEventID` for `ReportEventW`.
    pub const fn message_id(self) -> u32 {
        (self.kind().severity() << 30) | self.code() as u32
    }

    /// The message's `SymbolicName` in `res/messages.mc`.
    pub const fn symbol(self) -> &'static str {
        match self {
            EventId::SupervisorStarted => "TEND_SUPERVISOR_STARTED",
            EventId::ProgramStarted => "TEND_PROGRAM_STARTED",
            EventId::ProgramExited => "TEND_PROGRAM_EXITED",
            EventId::Restarting => "TEND_RESTARTING",
            EventId::StopRequested => "TEND_STOP_REQUESTED",
            EventId::ProgramStopped => "TEND_PROGRAM_STOPPED",
            EventId::ServiceStopped => "TEND_SERVICE_STOPPED",
            EventId::ServiceFinished => "TEND_SERVICE_FINISHED",
            EventId::ProgramFailed => "TEND_PROGRAM_FAILED",
            EventId::StopTimedOut => "TEND_STOP_TIMED_OUT",
            EventId::ServiceFailed => "TEND_SERVICE_FAILED",
            EventId::RestartLimit => "TEND_RESTART_LIMIT",
            EventId::CannotStart => "TEND_CANNOT_START",
        }
    }

    /// How many insert strings its message uses (`%1` to `%N`).
    pub const fn inserts(self) -> usize {
        match self {
            EventId::ServiceStopped => 1,
            EventId::Restarting | EventId::ServiceFinished | EventId::ServiceFailed => 2,
            EventId::SupervisorStarted
            | EventId::ProgramStarted
            | EventId::StopTimedOut
            | EventId::RestartLimit
            | EventId::CannotStart => 3,
            EventId::ProgramExited
            | EventId::StopRequested
            | EventId::ProgramStopped
            | EventId::ProgramFailed => 4,
        }
    }
}

/// One lifecycle event with its values. Every variant's first insert (`%1`) is the
/// service name; the rest follow in field order. Values are already text (a pid, an
/// exit status such as `exit code 3` or `signal SIGKILL`, a duration such as `2.5s`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// See [`EventId::SupervisorStarted`].
    SupervisorStarted {
        /// `%1`
        service: String,
        /// `%2`: the supervisor's process ID.
        supervisor_pid: u32,
        /// `%3`: the spec file.
        spec: String,
    },
    /// See [`EventId::ProgramStarted`].
    ProgramStarted {
        /// `%1`
        service: String,
        /// `%2`
        pid: i32,
        /// `%3`: restarts since the supervisor started.
        restarts: u64,
    },
    /// See [`EventId::ProgramExited`].
    ProgramExited(ProgramEnd),
    /// See [`EventId::Restarting`].
    Restarting {
        /// `%1`
        service: String,
        /// `%2`: the backoff delay (`0s` for an immediate restart).
        delay: String,
    },
    /// See [`EventId::StopRequested`].
    StopRequested {
        /// `%1`
        service: String,
        /// `%2`
        pid: i32,
        /// `%3`: what tend did, completing "it ...": e.g. `sent a Ctrl-C event`.
        method: String,
        /// `%4`: `stop.timeout`.
        timeout: String,
    },
    /// See [`EventId::ProgramStopped`].
    ProgramStopped(ProgramEnd),
    /// See [`EventId::ServiceStopped`].
    ServiceStopped {
        /// `%1`
        service: String,
    },
    /// See [`EventId::ServiceFinished`].
    ServiceFinished {
        /// `%1`
        service: String,
        /// `%2`: why it is not restarted, e.g. `restart policy: on-failure`.
        reason: String,
    },
    /// See [`EventId::ProgramFailed`].
    ProgramFailed(ProgramEnd),
    /// See [`EventId::StopTimedOut`].
    StopTimedOut {
        /// `%1`
        service: String,
        /// `%2`
        pid: i32,
        /// `%3`: `stop.timeout`.
        timeout: String,
    },
    /// See [`EventId::ServiceFailed`].
    ServiceFailed {
        /// `%1`
        service: String,
        /// `%2`: why it is not restarted, e.g. `restart policy: never`.
        reason: String,
    },
    /// See [`EventId::RestartLimit`].
    RestartLimit {
        /// `%1`
        service: String,
        /// `%2`: `restart.max_restarts`.
        restarts: u32,
        /// `%3`: `restart.window`.
        window: String,
    },
    /// See [`EventId::CannotStart`].
    CannotStart {
        /// `%1`
        service: String,
        /// `%2`: the spec's `command`.
        program: String,
        /// `%3`: the error.
        reason: String,
    },
}

/// How the program ended: the values of [`Event::ProgramExited`],
/// [`Event::ProgramStopped`] and [`Event::ProgramFailed`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProgramEnd {
    /// `%1`
    pub service: String,
    /// `%2`
    pub pid: i32,
    /// `%3`: e.g. `exit code 0`, `exit code 0xC0000005`, `signal SIGKILL`.
    pub exit: String,
    /// `%4`: how long it ran, e.g. `2.5s`.
    pub ran: String,
}

impl Event {
    /// Which event this is.
    pub fn id(&self) -> EventId {
        match self {
            Event::SupervisorStarted { .. } => EventId::SupervisorStarted,
            Event::ProgramStarted { .. } => EventId::ProgramStarted,
            Event::ProgramExited(_) => EventId::ProgramExited,
            Event::Restarting { .. } => EventId::Restarting,
            Event::StopRequested { .. } => EventId::StopRequested,
            Event::ProgramStopped(_) => EventId::ProgramStopped,
            Event::ServiceStopped { .. } => EventId::ServiceStopped,
            Event::ServiceFinished { .. } => EventId::ServiceFinished,
            Event::ProgramFailed(_) => EventId::ProgramFailed,
            Event::StopTimedOut { .. } => EventId::StopTimedOut,
            Event::ServiceFailed { .. } => EventId::ServiceFailed,
            Event::RestartLimit { .. } => EventId::RestartLimit,
            Event::CannotStart { .. } => EventId::CannotStart,
        }
    }

    /// Its kind: the `wType` for `ReportEventW` is `kind().event_type()`.
    pub fn kind(&self) -> Kind {
        self.id().kind()
    }

    /// The `dwEventID` for `ReportEventW`: the full ID of its message.
    pub fn message_id(&self) -> u32 {
        self.id().message_id()
    }

    /// The insert strings, `%1` first (always the service name); as many as
    /// [`EventId::inserts`] says.
    pub fn strings(&self) -> Vec<String> {
        match self {
            Event::SupervisorStarted {
                service,
                supervisor_pid,
                spec,
            } => vec![service.clone(), supervisor_pid.to_string(), spec.clone()],
            Event::ProgramStarted {
                service,
                pid,
                restarts,
            } => vec![service.clone(), pid.to_string(), restarts.to_string()],
            Event::ProgramExited(end) | Event::ProgramStopped(end) | Event::ProgramFailed(end) => {
                vec![
                    end.service.clone(),
                    end.pid.to_string(),
                    end.exit.clone(),
                    end.ran.clone(),
                ]
            }
            Event::Restarting { service, delay } => vec![service.clone(), delay.clone()],
            Event::StopRequested {
                service,
                pid,
                method,
                timeout,
            } => vec![
                service.clone(),
                pid.to_string(),
                method.clone(),
                timeout.clone(),
            ],
            Event::ServiceStopped { service } => vec![service.clone()],
            Event::ServiceFinished { service, reason }
            | Event::ServiceFailed { service, reason } => {
                vec![service.clone(), reason.clone()]
            }
            Event::StopTimedOut {
                service,
                pid,
                timeout,
            } => vec![service.clone(), pid.to_string(), timeout.clone()],
            Event::RestartLimit {
                service,
                restarts,
                window,
            } => vec![service.clone(), restarts.to_string(), window.clone()],
            Event::CannotStart {
                service,
                program,
                reason,
            } => vec![service.clone(), program.clone(), reason.clone()],
        }
    }
}

/// What the mapper remembers of the previous report.
#[derive(Clone, Debug)]
struct Seen {
    state: State,
    pid: Option<i32>,
    started_at_ms: Option<u64>,
    message: Option<String>,
}

/// The exit status a decision was about.
#[derive(Clone, Copy, Debug)]
enum Ended<'a> {
    Code(i32),
    Signal(&'a str),
    Unknown,
}

/// The exit code the supervisor decides on when the program cannot be started (what
/// a shell would report).
const CANNOT_START_CODE: i32 = 127;

/// Turns the supervisor's status reports into lifecycle events.
///
/// Feed it every [`Observer::changed`](super::service::Observer::changed) call of
/// one service, in order; it compares each status with the previous one and returns
/// the events that transition means, e.g. running → backoff gives "program failed"
/// (or "exited") and "restarting in N". It relies on the state sequence and the
/// structured [`Status`] fields, and reads the human `event` text for two values
/// that have no field: the backoff delay (`restarting in 1.6s`) and why a program
/// cannot be started (`cannot start PROGRAM: ERROR`); both fall back to a neutral
/// text when absent. A stop timeout is told from a stop hook's progress (both
/// report `stopping` again) by the message only the timeout sets.
///
/// Known blind spot: a start failure right after an immediate restart is not
/// reported by the supervisor (nor, hence, here) until its decision, which then
/// reads as the previous run's exit followed by the decision.
#[derive(Clone, Debug)]
pub struct EventMapper {
    program: String,
    stop_method: String,
    stop_timeout: String,
    restart: crate::spec::Restart,
    seen: Option<Seen>,
}

impl EventMapper {
    /// A mapper for the service `spec` describes (its restart and stop settings
    /// name the reasons and limits in the events).
    pub fn new(spec: &Spec) -> EventMapper {
        EventMapper {
            program: spec.command.clone(),
            stop_method: stop_method(spec),
            stop_timeout: spec.stop.timeout.to_string(),
            restart: spec.restart.clone(),
            seen: None,
        }
    }

    /// The events that `status` (just reported, with its `event` text) means, given
    /// the reports before it; often none or one, at most three. The first call also
    /// yields [`Event::SupervisorStarted`].
    pub fn map(&mut self, status: &Status, event: &str) -> Vec<Event> {
        let mut out = Vec::new();
        let prev = match self.seen.take() {
            Some(seen) => seen,
            None => {
                out.push(Event::SupervisorStarted {
                    service: status.name.clone(),
                    supervisor_pid: status.supervisor_pid,
                    spec: status.spec.display().to_string(),
                });
                Seen {
                    state: State::Starting,
                    pid: None,
                    started_at_ms: None,
                    message: None,
                }
            }
        };
        self.seen = Some(Seen {
            state: status.state,
            pid: status.pid,
            started_at_ms: status.started_at_ms,
            message: status.message.clone(),
        });
        let service = || status.name.clone();
        let pid = status.pid.or(prev.pid).unwrap_or(0);
        use State::{Backoff, Exited, Failed, Running, Starting, Stopped, Stopping};
        match (prev.state, status.state) {
            (Running, Running)
                if prev.pid == status.pid && prev.started_at_ms == status.started_at_ms => {}
            // Exited and started again at once: one report for both.
            (Running, Running) => {
                out.push(self.exited(&prev, status));
                out.push(Event::Restarting {
                    service: service(),
                    delay: "0s".into(),
                });
                out.push(started(status));
            }
            // Restarted on request.
            (Stopping, Running) => {
                out.push(stopped(&prev, status));
                out.push(started(status));
            }
            (_, Running) => out.push(started(status)),
            (Running, Stopping) => out.push(Event::StopRequested {
                service: service(),
                pid,
                method: self.stop_method.clone(),
                timeout: self.stop_timeout.clone(),
            }),
            // The timeout is the stop's one report that sets a message (why it is
            // being killed); a stop hook's reports (done, or failed and the request
            // sent after all) leave it.
            (Stopping, Stopping) if status.message.is_some() && status.message != prev.message => {
                out.push(Event::StopTimedOut {
                    service: service(),
                    pid,
                    timeout: self.stop_timeout.clone(),
                })
            }
            (Running, Backoff | Exited | Failed) => {
                out.push(self.exited(&prev, status));
                out.push(self.decision(status, event, ended(status.last_exit.as_ref())));
            }
            // No child ran since the last report: starting it failed. After a
            // restart on request, the old child stopped first.
            (_, Backoff | Exited | Failed) => {
                if prev.state == Stopping {
                    out.push(stopped(&prev, status));
                }
                out.push(Event::CannotStart {
                    service: service(),
                    program: self.program.clone(),
                    reason: start_error(status, event),
                });
                out.push(self.decision(status, event, Ended::Code(CANNOT_START_CODE)));
            }
            (Running | Stopping, Stopped) => {
                out.push(stopped(&prev, status));
                out.push(Event::ServiceStopped { service: service() });
            }
            (_, Stopped) => out.push(Event::ServiceStopped { service: service() }),
            // Nothing runs yet, no child to stop, or a stop hook's progress.
            (_, Starting | Stopping) => {}
        }
        out
    }

    /// The program's own exit: success or failure by `restart.success_codes`.
    fn exited(&self, prev: &Seen, status: &Status) -> Event {
        let end = program_end(prev, status);
        match ended(status.last_exit.as_ref()) {
            Ended::Code(c) if Exit::Code(c).is_success(&self.restart) => Event::ProgramExited(end),
            _ => Event::ProgramFailed(end),
        }
    }

    /// What the supervisor decided after `end`, from the state it reported.
    fn decision(&self, status: &Status, event: &str, end: Ended) -> Event {
        let service = status.name.clone();
        let reason = || match end {
            Ended::Code(c) if self.restart.no_restart_codes.contains(&c) => {
                format!("exit code {c} is in restart.no_restart_codes")
            }
            _ => format!("restart policy: {}", policy_name(self.restart.policy)),
        };
        match status.state {
            State::Exited => Event::ServiceFinished {
                service,
                reason: reason(),
            },
            State::Failed if self.would_restart(end) => Event::RestartLimit {
                service,
                restarts: self.restart.max_restarts,
                window: self.restart.window.to_string(),
            },
            State::Failed => Event::ServiceFailed {
                service,
                reason: reason(),
            },
            _ => Event::Restarting {
                service,
                delay: backoff_delay(status, event),
            },
        }
    }

    /// Whether the policy restarts after `end` (so a failed state means the restart
    /// limit). Asks the real policy, with a fresh tracker (no limit reached yet).
    fn would_restart(&self, end: Ended) -> bool {
        let exit = match end {
            Ended::Code(c) => Exit::Code(c),
            // Any signal: signals are never a success and have no "no restart" list.
            Ended::Signal(_) | Ended::Unknown => Exit::Signal(0),
        };
        let decision =
            RestartTracker::default().on_exit(&self.restart, exit, Duration::ZERO, Instant::now());
        !matches!(decision, Decision::Done { .. })
    }
}

fn started(status: &Status) -> Event {
    Event::ProgramStarted {
        service: status.name.clone(),
        pid: status.pid.unwrap_or(0),
        restarts: status.restarts,
    }
}

fn stopped(prev: &Seen, status: &Status) -> Event {
    Event::ProgramStopped(program_end(prev, status))
}

/// How the previous child (`prev`) ended, by the exit `status` records.
fn program_end(prev: &Seen, status: &Status) -> ProgramEnd {
    let last = status.last_exit.as_ref();
    ProgramEnd {
        service: status.name.clone(),
        pid: prev.pid.unwrap_or(0),
        exit: show_exit(last),
        ran: ran_for(prev, last),
    }
}

fn ended(last: Option<&LastExit>) -> Ended<'_> {
    match last {
        Some(LastExit { code: Some(c), .. }) => Ended::Code(*c),
        Some(LastExit {
            signal: Some(s), ..
        }) => Ended::Signal(s),
        _ => Ended::Unknown,
    }
}

/// `exit code 3`, `signal SIGKILL`; a Windows status code (negative as an `i32`, or
/// beyond 16 bits) in hex as Windows shows it: `exit code 0xC0000005`.
fn show_exit(last: Option<&LastExit>) -> String {
    match ended(last) {
        Ended::Code(c) if !(0..=0xFFFF).contains(&c) => format!("exit code 0x{:08X}", c as u32),
        Ended::Code(c) => format!("exit code {c}"),
        Ended::Signal(s) => format!("signal {s}"),
        Ended::Unknown => "an unknown exit status".into(),
    }
}

/// How long the previous child ran: from its start to its recorded exit.
fn ran_for(prev: &Seen, last: Option<&LastExit>) -> String {
    match (prev.started_at_ms, last) {
        (Some(start), Some(exit)) => show_duration(exit.at_ms.saturating_sub(start)),
        _ => "an unknown time".into(),
    }
}

/// `340ms`, `2.5s`, then whole units: `1m 30s`, `2h 5m 10s`.
fn show_duration(ms: u64) -> String {
    if ms < 1_000 {
        format!("{ms}ms")
    } else if ms < 60_000 {
        format!("{:.1}s", ms as f64 / 1000.0)
    } else {
        humantime::format_duration(Duration::from_secs(ms / 1000)).to_string()
    }
}

fn policy_name(p: RestartPolicy) -> &'static str {
    match p {
        RestartPolicy::Always => "always",
        RestartPolicy::OnFailure => "on-failure",
        RestartPolicy::Never => "never",
    }
}

/// The backoff delay, from the supervisor's text (`...; restarting in 1.6s`).
fn backoff_delay(status: &Status, event: &str) -> String {
    [Some(event), status.message.as_deref()]
        .into_iter()
        .flatten()
        .find_map(|text| {
            let (_, rest) = text.rsplit_once("restarting in ")?;
            let delay = rest.split([' ', ';', ',', ')']).next()?;
            (!delay.is_empty()).then(|| delay.to_string())
        })
        .unwrap_or_else(|| "a moment".into())
}

/// Why the program cannot be started, from the supervisor's text
/// (`cannot start PROGRAM: ERROR`).
fn start_error(status: &Status, event: &str) -> String {
    [status.message.as_deref(), Some(event)]
        .into_iter()
        .flatten()
        .find_map(|text| {
            let (_, rest) = text.split_once("cannot start ")?;
            let (_, why) = rest.split_once(": ")?;
            let why = why.trim().trim_end_matches('.');
            (!why.is_empty()).then(|| why.to_string())
        })
        .unwrap_or_else(|| "the error is in tend's own output".into())
}

/// What tend does to ask the program to stop on Windows, completing "it ...".
fn stop_method(spec: &Spec) -> String {
    if let Some(url) = &spec.stop.http {
        return format!("sent an HTTP POST to {url}");
    }
    if let Some(program) = spec.stop.command.first() {
        return format!("ran the stop command {program}");
    }
    match spec.windows.stop {
        WinStop::CtrlC => "sent a Ctrl-C event".into(),
        WinStop::Close => "sent WM_CLOSE to its windows".into(),
        WinStop::Kill => "is ending its process tree at once (windows.stop = kill)".into(),
    }
}

/// Whether `compiled` — the `(SymbolicName, message ID)` pairs windmc wrote — holds
/// exactly the events of [`EventId::ALL`] with their [`EventId::message_id`]s.
#[cfg(any(target_os = "windows", test))]
const fn compiled_ids_agree(compiled: &[(&str, u32)]) -> bool {
    const fn same(a: &str, b: &str) -> bool {
        let (a, b) = (a.as_bytes(), b.as_bytes());
        if a.len() != b.len() {
            return false;
        }
        let mut i = 0;
        while i < a.len() {
            if a[i] != b[i] {
                return false;
            }
            i += 1;
        }
        true
    }
    if compiled.len() != EventId::ALL.len() {
        return false;
    }
    let mut i = 0;
    while i < EventId::ALL.len() {
        let id = EventId::ALL[i];
        let mut found = false;
        let mut j = 0;
        while j < compiled.len() {
            if same(compiled[j].0, id.symbol()) {
                if compiled[j].1 != id.message_id() {
                    return false;
                }
                found = true;
            }
            j += 1;
        }
        if !found {
            return false;
        }
        i += 1;
    }
    true
}

/// The message IDs windmc compiled into tend.exe (written by `build.rs`).
#[cfg(target_os = "windows")]
mod compiled {
    include!(concat!(env!("OUT_DIR"), "/message_ids.rs"));
}

// A Windows build fails here if the message table and the reported IDs disagree.
#[cfg(target_os = "windows")]
const _: () = assert!(
    compiled_ids_agree(compiled::MESSAGE_IDS),
    "res/messages.mc and EventId disagree: the IDs windmc compiled are not the IDs tend reports"
);

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};
    use std::path::Path;

    use super::*;

    const MC: &str = include_str!("../../res/messages.mc");
    const PLATFORMS_MD: &str = include_str!("../../../../docs/PLATFORMS.md");

    /// One message of the `.mc` file.
    #[derive(Debug)]
    struct McMessage {
        id: u32,
        code: u16,
        severity: String,
        symbol: String,
        text: String,
    }

    /// Parses the subset of the message compiler's language the file uses, strictly
    /// (an unknown key fails the test), and computes each full ID as windmc does:
    /// severity << 30 | facility << 16 | code (no customer bit: build.rs passes no -c).
    fn parse_mc(src: &str) -> Vec<McMessage> {
        let mut severities = BTreeMap::new();
        let mut out = Vec::new();
        let mut lines = src.lines();
        let mut header: BTreeMap<String, String> = BTreeMap::new();
        while let Some(line) = lines.next() {
            let line = line.trim_end_matches('\r');
            if line.starts_with(';') || line.trim().is_empty() {
                continue;
            }
            let (key, value) = line.split_once('=').expect("a `Key=value` line");
            match key.trim() {
                "MessageIdTypedef" => assert_eq!(value, "DWORD"),
                "LanguageNames" => assert_eq!(value, "(English=0x409:MSG00409)"),
                "SeverityNames" => {
                    let mut list = value.to_string();
                    while !list.contains(')') {
                        list.push(' ');
                        list.push_str(lines.next().expect("SeverityNames ends with )"));
                    }
                    for entry in list.trim_matches(|c| "() ".contains(c)).split_whitespace() {
                        let entry = entry.trim_end_matches(')');
                        if entry.is_empty() {
                            continue;
                        }
                        let (name, rest) = entry.split_once('=').unwrap();
                        let value = rest.split(':').next().unwrap();
                        let value =
                            u32::from_str_radix(value.trim_start_matches("0x"), 16).unwrap();
                        severities.insert(name.to_string(), value);
                    }
                }
                k @ ("MessageId" | "Severity" | "SymbolicName" | "Facility") => {
                    assert!(
                        header.insert(k.into(), value.trim().into()).is_none(),
                        "{k} twice in one message"
                    );
                }
                "Language" => {
                    assert_eq!(value, "English");
                    let mut text = Vec::new();
                    loop {
                        let l = lines.next().expect("a message ends with a `.` line");
                        let l = l.trim_end_matches('\r');
                        if l == "." {
                            break;
                        }
                        text.push(l);
                    }
                    let code: u16 = header["MessageId"]
                        .parse()
                        .expect("an explicit decimal MessageId");
                    let severity = header["Severity"].clone();
                    let facility = header.get("Facility").map_or(0, |_| panic!("no Facility"));
                    let id = (severities[&severity] << 30) | (facility << 16) | u32::from(code);
                    out.push(McMessage {
                        id,
                        code,
                        severity,
                        symbol: header["SymbolicName"].clone(),
                        text: text.join("\n"),
                    });
                    header.clear();
                }
                other => panic!("unexpected key {other:?} in messages.mc"),
            }
        }
        assert!(header.is_empty(), "a message without text: {header:?}");
        out
    }

    /// The `%N` inserts a message uses; fails on any other `%` sequence (the message
    /// formatter would read it as an escape).
    fn inserts_of(text: &str) -> BTreeSet<usize> {
        let mut found = BTreeSet::new();
        let mut rest = text;
        while let Some(i) = rest.find('%') {
            let digits: String = rest[i + 1..]
                .chars()
                .take_while(char::is_ascii_digit)
                .collect();
            assert!(
                !digits.is_empty(),
                "a `%` that is not an insert in {text:?}"
            );
            found.insert(digits.parse().unwrap());
            rest = &rest[i + 1 + digits.len()..];
        }
        found
    }

    fn mc_severity(kind: Kind) -> &'static str {
        match kind {
            Kind::Information => "Informational",
            Kind::Warning => "Warning",
            Kind::Error => "Error",
        }
    }

    /// One event of each kind, with realistic values.
    fn sample(id: EventId) -> Event {
        let service = "orders".to_string();
        let end = |exit: &str, ran: &str| ProgramEnd {
            service: "orders".into(),
            pid: 5012,
            exit: exit.into(),
            ran: ran.into(),
        };
        match id {
            EventId::SupervisorStarted => Event::SupervisorStarted {
                service,
                supervisor_pid: 4120,
                spec: r"C:\ProgramData\tend\orders.toml".into(),
            },
            EventId::ProgramStarted => Event::ProgramStarted {
                service,
                pid: 5012,
                restarts: 2,
            },
            EventId::ProgramExited => Event::ProgramExited(end("exit code 0", "1h 2m 3s")),
            EventId::Restarting => Event::Restarting {
                service,
                delay: "1.6s".into(),
            },
            EventId::StopRequested => Event::StopRequested {
                service,
                pid: 5012,
                method: "sent a Ctrl-C event".into(),
                timeout: "10s".into(),
            },
            EventId::ProgramStopped => Event::ProgramStopped(end("exit code 0", "2m 5s")),
            EventId::ServiceStopped => Event::ServiceStopped { service },
            EventId::ServiceFinished => Event::ServiceFinished {
                service,
                reason: "restart policy: on-failure".into(),
            },
            EventId::ProgramFailed => Event::ProgramFailed(end("exit code 0xC0000005", "2.5s")),
            EventId::StopTimedOut => Event::StopTimedOut {
                service,
                pid: 5012,
                timeout: "10s".into(),
            },
            EventId::ServiceFailed => Event::ServiceFailed {
                service,
                reason: "restart policy: never".into(),
            },
            EventId::RestartLimit => Event::RestartLimit {
                service,
                restarts: 10,
                window: "2m".into(),
            },
            EventId::CannotStart => Event::CannotStart {
                service,
                program: r"C:\orders\orders.exe".into(),
                reason: "The system cannot find the file specified. (os error 2)".into(),
            },
        }
    }

    /// What Event Viewer shows: the message with the inserts filled in.
    fn render(messages: &[McMessage], event: &Event) -> String {
        let m = messages
            .iter()
            .find(|m| m.id == event.message_id())
            .unwrap();
        let mut text = m.text.clone();
        // From the highest, so %1 does not eat the start of %10.
        for (i, s) in event.strings().iter().enumerate().rev() {
            text = text.replace(&format!("%{}", i + 1), s);
        }
        text
    }

    #[test]
    fn every_event_has_its_message_and_every_message_an_event() {
        let messages = parse_mc(MC);
        for id in EventId::ALL {
            let m = messages
                .iter()
                .find(|m| m.symbol == id.symbol())
                .unwrap_or_else(|| panic!("{id:?}: no {} in messages.mc", id.symbol()));
            assert_eq!(m.code, id.code(), "{id:?}: code");
            assert_eq!(m.severity, mc_severity(id.kind()), "{id:?}: severity");
            assert_eq!(m.id, id.message_id(), "{id:?}: full message ID");
            let expected: BTreeSet<usize> = (1..=id.inserts()).collect();
            assert_eq!(
                inserts_of(&m.text),
                expected,
                "{id:?}: inserts of {:?}",
                m.text
            );
            let event = sample(id);
            assert_eq!(event.id(), id);
            assert_eq!(
                event.strings().len(),
                id.inserts(),
                "{id:?}: strings passed"
            );
            assert_eq!(event.strings()[0], "orders", "{id:?}: %1 is the service");
        }
        assert_eq!(
            messages.len(),
            EventId::ALL.len(),
            "a message without an event"
        );
        let codes: BTreeSet<u16> = messages.iter().map(|m| m.code).collect();
        assert_eq!(codes.len(), messages.len(), "a code used twice");
        let all: Vec<u16> = EventId::ALL.iter().map(|id| id.code()).collect();
        assert!(all.is_sorted(), "EventId::ALL in code order");
    }

    #[test]
    fn codes_are_grouped_by_kind_and_fit_event_viewer() {
        for id in EventId::ALL {
            let group = match id.kind() {
                Kind::Information => 1,
                Kind::Warning => 2,
                Kind::Error => 3,
            };
            assert_eq!(id.code() / 1000, group, "{id:?}");
            // Event Viewer shows the low 16 bits; the rest is the severity only.
            assert_eq!(id.message_id() & 0xFFFF, u32::from(id.code()));
            assert_eq!(id.message_id() >> 30, id.kind().severity());
            assert_eq!(
                id.message_id() & 0x3FFF_0000,
                0,
                "no facility, no customer bit"
            );
        }
        assert_eq!(Kind::Information.event_type(), 4);
        assert_eq!(Kind::Warning.event_type(), 2);
        assert_eq!(Kind::Error.event_type(), 1);
    }

    /// The `#define`s `x86_64-w64-mingw32-windmc` 2.40 wrote for res/messages.mc
    /// (`windmc -U -h OUT -r OUT messages.mc`, then `grep '(DWORD)' messages.h`).
    /// A Windows build checks the same thing against what its windmc produces.
    const WINDMC_HEADER: &[(&str, u32)] = &[
        ("TEND_SUPERVISOR_STARTED", 0x400003e8),
        ("TEND_PROGRAM_STARTED", 0x400003e9),
        ("TEND_PROGRAM_EXITED", 0x400003ea),
        ("TEND_RESTARTING", 0x400003eb),
        ("TEND_STOP_REQUESTED", 0x400003ec),
        ("TEND_PROGRAM_STOPPED", 0x400003ed),
        ("TEND_SERVICE_STOPPED", 0x400003ee),
        ("TEND_SERVICE_FINISHED", 0x400003ef),
        ("TEND_PROGRAM_FAILED", 0x800007d1),
        ("TEND_STOP_TIMED_OUT", 0x800007d2),
        ("TEND_SERVICE_FAILED", 0xc0000bb9),
        ("TEND_RESTART_LIMIT", 0xc0000bba),
        ("TEND_CANNOT_START", 0xc0000bbb),
    ];

    #[test]
    fn ids_match_what_windmc_compiled() {
        assert!(compiled_ids_agree(WINDMC_HEADER));
        let mut wrong = WINDMC_HEADER.to_vec();
        wrong[3].1 = 0x800003eb;
        assert!(!compiled_ids_agree(&wrong), "a changed severity is caught");
        assert!(
            !compiled_ids_agree(&WINDMC_HEADER[1..]),
            "a missing message is caught"
        );
        let mut renamed = WINDMC_HEADER.to_vec();
        renamed[0].0 = "TEND_SUPERVISOR_START";
        assert!(!compiled_ids_agree(&renamed), "a renamed message is caught");
    }

    #[test]
    fn messages_read_well() {
        let messages = parse_mc(MC);
        let shown: Vec<String> = EventId::ALL
            .iter()
            .map(|&id| {
                format!(
                    "{} {}: {}",
                    id.code(),
                    id.kind().as_str(),
                    render(&messages, &sample(id))
                )
            })
            .collect();
        let expected = [
            r"1000 Information: tend started supervising the service orders (supervisor process ID 4120, spec file C:\ProgramData\tend\orders.toml).",
            "1001 Information: The program of the service orders started (process ID 5012, restarts so far: 2).",
            "1002 Information: The program of the service orders (process ID 5012) exited with exit code 0 after running for 1h 2m 3s.",
            "1003 Information: tend will start the program of the service orders again in 1.6s.",
            "1004 Information: tend is stopping the program of the service orders (process ID 5012): it sent a Ctrl-C event. If the program has not stopped within 10s, tend ends its process tree.",
            "1005 Information: The program of the service orders (process ID 5012) stopped with exit code 0 after running for 2m 5s.",
            "1006 Information: The service orders stopped on request.",
            "1007 Information: The service orders has finished: its program ended successfully and is not started again (restart policy: on-failure).",
            "2001 Warning: The program of the service orders (process ID 5012) failed: it ended with exit code 0xC0000005 after running for 2.5s.",
            "2002 Warning: The program of the service orders (process ID 5012) did not stop within 10s, so tend ended its process tree.",
            "3001 Error: The service orders has failed: its program ended with a failure and is not started again (restart policy: never).",
            "3002 Error: The service orders has failed: its program was restarted 10 times within 2m (restart.max_restarts), so tend gives up.",
            r"3003 Error: The program C:\orders\orders.exe of the service orders cannot be started: The system cannot find the file specified. (os error 2).",
        ];
        assert_eq!(shown, expected);
    }

    #[test]
    fn platforms_md_documents_every_message() {
        let section = PLATFORMS_MD
            .split_once("\n## Windows Event Log\n")
            .expect("a `## Windows Event Log` section in docs/PLATFORMS.md")
            .1;
        let section = section.split("\n## ").next().unwrap();
        let messages = parse_mc(MC);
        for m in &messages {
            let level = EventId::ALL
                .iter()
                .find(|id| id.code() == m.code)
                .unwrap()
                .kind()
                .as_str();
            let row = format!("| {} | {level} | {} |", m.code, m.text);
            assert!(
                section.contains(&row),
                "docs/PLATFORMS.md lacks the row\n{row}"
            );
        }
        let rows = section
            .lines()
            .filter(|l| l.starts_with("| ") && l[2..].starts_with(|c: char| c.is_ascii_digit()))
            .count();
        assert_eq!(
            rows,
            messages.len(),
            "a documented event that does not exist"
        );
    }

    // ---- the mapper ----

    /// An exit status of the child.
    #[derive(Clone, Copy)]
    enum X {
        Code(i32),
        Sig(&'static str),
    }

    /// What the supervisor does, modelled on service.rs: each step changes the status
    /// the way the actor does and reports it.
    #[derive(Clone, Copy)]
    enum Op {
        /// `start()` succeeded: the child runs with this pid.
        Start(i32),
        /// The child exited after `ms` and will be restarted after `delay`.
        ExitBackoff(X, u64, &'static str),
        /// The child exited after `ms` and was restarted at once, as this pid.
        ExitRestarted(X, u64, i32),
        /// The child exited after `ms`; the decision left this final state.
        ExitDone(X, u64, State),
        /// `start()` failed; the decision: backoff (its delay) or a final state.
        StartFails(Option<&'static str>, State),
        /// A stop (or restart) request: the stop signal was sent.
        Stop,
        /// The stop timeout passed: the tree was killed.
        StopTimeout,
        /// A stop hook ended (`true`: it asked; `false`: it failed, the request was
        /// sent after all).
        Hook(bool),
        /// During a stop, the child exited after `ms`; `Some(pid)`: restarted on
        /// request as that pid (`Some(-1)`: that start fails), else stopped.
        StopExit(X, u64, Option<i32>),
        /// A stop request during a backoff.
        StopInBackoff,
    }

    struct Sim {
        mapper: EventMapper,
        status: Status,
        now: u64,
    }

    fn spec(extra: &str) -> Spec {
        let text = format!("name = \"orders\"\ncommand = \"C:/orders/orders.exe\"\n{extra}");
        crate::spec::load_str(Path::new("orders.toml"), &text, &Default::default())
            .unwrap()
            .services
            .remove(0)
    }

    impl Sim {
        fn new(extra: &str) -> Sim {
            Sim {
                mapper: EventMapper::new(&spec(extra)),
                status: Status {
                    name: "orders".into(),
                    state: State::Starting,
                    spec: "/etc/tend/orders.toml".into(),
                    supervisor_pid: 7,
                    pid: None,
                    started_at_ms: None,
                    since_ms: 0,
                    restarts: 0,
                    last_exit: None,
                    message: None,
                    log_dropped_lines: 0,
                    log_dropped_bytes: 0,
                },
                now: 1_000_000,
            }
        }

        fn report(&mut self, state: State, event: &str) -> Vec<String> {
            self.status.state = state;
            self.status.since_ms = self.now;
            self.mapper
                .map(&self.status, event)
                .iter()
                .map(|e| format!("{} {}", e.id().code(), e.strings().join("|")))
                .collect()
        }

        fn exit(&mut self, x: X, ms: u64) -> String {
            self.now += ms;
            let (code, signal) = match x {
                X::Code(c) => (Some(c), None),
                X::Sig(s) => (None, Some(s.to_string())),
            };
            self.status.last_exit = Some(LastExit {
                code,
                signal,
                at_ms: self.now,
            });
            match x {
                X::Code(c) => format!("exit code {c} after {ms}ms"),
                X::Sig(s) => format!("signal {s} after {ms}ms"),
            }
        }

        fn start(&mut self, pid: i32, event: &str) -> Vec<String> {
            self.status.pid = Some(pid);
            self.status.started_at_ms = Some(self.now);
            self.status.message = None;
            self.report(State::Running, event)
        }

        fn decided(&mut self, state: State, event: String) -> Vec<String> {
            self.status.pid = None;
            self.status.message = Some(event.clone());
            self.report(state, &event)
        }

        fn apply(&mut self, op: Op) -> Vec<String> {
            match op {
                Op::Start(pid) => self.start(pid, &format!("started (pid {pid})")),
                Op::ExitBackoff(x, ms, delay) => {
                    let e = self.exit(x, ms);
                    let out = self.decided(State::Backoff, format!("{e}; restarting in {delay}"));
                    self.status.restarts += 1;
                    out
                }
                Op::ExitRestarted(x, ms, pid) => {
                    let e = self.exit(x, ms);
                    self.status.restarts += 1;
                    self.start(pid, &format!("{e}; restarted (pid {pid})"))
                }
                Op::ExitDone(x, ms, state) => {
                    let e = self.exit(x, ms);
                    self.decided(state, format!("{e}; not restarting (or giving up)"))
                }
                Op::StartFails(delay, state) => {
                    // As service.rs does today: decide() replaces the start error.
                    let e = "exit code 127 after 0ms";
                    match delay {
                        Some(d) => self.decided(state, format!("{e}; restarting in {d}")),
                        None => self.decided(state, format!("{e}; not restarting")),
                    }
                }
                Op::Stop => self.report(
                    State::Stopping,
                    "stopping: sent SIGTERM to pid, waiting up to 10s",
                ),
                Op::StopTimeout => {
                    self.status.message =
                        Some("did not stop within 10s; killing the process tree".into());
                    self.report(
                        State::Stopping,
                        "did not stop within 10s; sent SIGKILL to the process tree",
                    )
                }
                Op::StopExit(x, ms, restart) => {
                    let e = self.exit(x, ms);
                    match restart {
                        // The new start fails (`None` restart: see `StartFails`).
                        Some(-1) => {
                            self.status.restarts += 1;
                            self.decided(
                                State::Backoff,
                                "exit code 127 after 0ms; restarting in 100ms".into(),
                            )
                        }
                        Some(pid) => {
                            self.status.restarts += 1;
                            self.start(
                                pid,
                                &format!(
                                    "stopped gracefully ({e}); restarted on request (pid {pid})"
                                ),
                            )
                        }
                        None => {
                            let how = format!("stopped gracefully in {ms}ms ({e})");
                            self.decided(State::Stopped, how)
                        }
                    }
                }
                Op::Hook(true) => self.report(State::Stopping, "stop hook: POST answered 200"),
                Op::Hook(false) => self.report(
                    State::Stopping,
                    "stop hook failed (connection refused); stopping: sent Ctrl-C to pid 42",
                ),
                Op::StopInBackoff => {
                    self.status.pid = None;
                    self.report(State::Stopped, "stopped (was waiting to restart)")
                }
            }
        }
    }

    /// A table row: its name, the spec's extra TOML, and each step with the events
    /// it must yield.
    type Case = (
        &'static str,
        &'static str,
        &'static [(Op, &'static [&'static str])],
    );

    const STARTED: &str = "1000 orders|7|/etc/tend/orders.toml";

    #[test]
    fn mapper_turns_status_sequences_into_events() {
        use State::{Exited, Failed};
        use X::{Code, Sig};
        #[rustfmt::skip]
        let cases: &[Case] = &[
            ("start, then a graceful stop", "", &[
                (Op::Start(42), &[STARTED, "1001 orders|42|0"]),
                (Op::Stop, &["1004 orders|42|sent a Ctrl-C event|10s"]),
                (Op::StopExit(Code(0), 2_500, None), &["1005 orders|42|exit code 0|2.5s", "1006 orders"]),
            ]),
            ("a crash, a backoff, a restart", "", &[
                (Op::Start(42), &[STARTED, "1001 orders|42|0"]),
                (Op::ExitBackoff(Code(3), 340, "1.6s"), &["2001 orders|42|exit code 3|340ms", "1003 orders|1.6s"]),
                (Op::Start(43), &["1001 orders|43|1"]),
            ]),
            ("a crash restarted at once", "", &[
                (Op::Start(42), &[STARTED, "1001 orders|42|0"]),
                (Op::ExitRestarted(Sig("SIGSEGV"), 3_723_000, 43),
                    &["2001 orders|42|signal SIGSEGV|1h 2m 3s", "1003 orders|0s", "1001 orders|43|1"]),
            ]),
            ("the same pid again is a new child when its start time differs", "", &[
                (Op::Start(42), &[STARTED, "1001 orders|42|0"]),
                (Op::ExitRestarted(Code(1), 90_000, 42), &["2001 orders|42|exit code 1|1m 30s", "1003 orders|0s", "1001 orders|42|1"]),
            ]),
            ("a success is information, and restarted with policy always", "[restart]\npolicy = \"always\"", &[
                (Op::Start(42), &[STARTED, "1001 orders|42|0"]),
                (Op::ExitBackoff(Code(0), 5_000, "100ms"), &["1002 orders|42|exit code 0|5.0s", "1003 orders|100ms"]),
            ]),
            ("success codes from the spec", "[restart]\npolicy = \"always\"\nsuccess_codes = [0, 2]", &[
                (Op::Start(42), &[STARTED, "1001 orders|42|0"]),
                (Op::ExitBackoff(Code(2), 5_000, "100ms"), &["1002 orders|42|exit code 2|5.0s", "1003 orders|100ms"]),
            ]),
            ("a success ends the service with on-failure", "", &[
                (Op::Start(42), &[STARTED, "1001 orders|42|0"]),
                (Op::ExitDone(Code(0), 20, Exited), &["1002 orders|42|exit code 0|20ms", "1007 orders|restart policy: on-failure"]),
            ]),
            ("a failure ends the service with never", "[restart]\npolicy = \"never\"", &[
                (Op::Start(42), &[STARTED, "1001 orders|42|0"]),
                (Op::ExitDone(Code(1), 20, Failed), &["2001 orders|42|exit code 1|20ms", "3001 orders|restart policy: never"]),
            ]),
            ("a success ends the service with never", "[restart]\npolicy = \"never\"", &[
                (Op::Start(42), &[STARTED, "1001 orders|42|0"]),
                (Op::ExitDone(Code(0), 20, Exited), &["1002 orders|42|exit code 0|20ms", "1007 orders|restart policy: never"]),
            ]),
            ("a no-restart code", "[restart]\npolicy = \"always\"\nno_restart_codes = [78]", &[
                (Op::Start(42), &[STARTED, "1001 orders|42|0"]),
                (Op::ExitDone(Code(78), 20, Failed), &["2001 orders|42|exit code 78|20ms", "3001 orders|exit code 78 is in restart.no_restart_codes"]),
            ]),
            ("the restart limit", "[restart]\nmax_restarts = 3\nwindow = \"1m\"", &[
                (Op::Start(42), &[STARTED, "1001 orders|42|0"]),
                (Op::ExitBackoff(Code(1), 10, "100ms"), &["2001 orders|42|exit code 1|10ms", "1003 orders|100ms"]),
                (Op::Start(43), &["1001 orders|43|1"]),
                (Op::ExitDone(Code(1), 10, Failed), &["2001 orders|43|exit code 1|10ms", "3002 orders|3|1m"]),
            ]),
            ("the restart limit after a success with policy always", "[restart]\npolicy = \"always\"", &[
                (Op::Start(42), &[STARTED, "1001 orders|42|0"]),
                (Op::ExitDone(Code(0), 10, Failed), &["1002 orders|42|exit code 0|10ms", "3002 orders|10|2m"]),
            ]),
            ("the restart limit after a signal", "", &[
                (Op::Start(42), &[STARTED, "1001 orders|42|0"]),
                (Op::ExitDone(Sig("SIGKILL"), 10, Failed), &["2001 orders|42|signal SIGKILL|10ms", "3002 orders|10|2m"]),
            ]),
            ("a Windows status code in hex", "", &[
                (Op::Start(42), &[STARTED, "1001 orders|42|0"]),
                (Op::ExitBackoff(Code(0xC000_0005_u32 as i32), 10, "1s"), &["2001 orders|42|exit code 0xC0000005|10ms", "1003 orders|1s"]),
            ]),
            ("a stop that times out", "[stop]\ntimeout = \"5s\"", &[
                (Op::Start(42), &[STARTED, "1001 orders|42|0"]),
                (Op::Stop, &["1004 orders|42|sent a Ctrl-C event|5s"]),
                (Op::StopTimeout, &["2002 orders|42|5s"]),
                (Op::StopExit(Code(1), 5_000, None), &["1005 orders|42|exit code 1|5.0s", "1006 orders"]),
            ]),
            ("a restart on request", "", &[
                (Op::Start(42), &[STARTED, "1001 orders|42|0"]),
                (Op::Stop, &["1004 orders|42|sent a Ctrl-C event|10s"]),
                (Op::StopExit(Code(0), 61_000, Some(43)), &["1005 orders|42|exit code 0|1m 1s", "1001 orders|43|1"]),
            ]),
            ("a restart on request whose start fails", "", &[
                (Op::Start(42), &[STARTED, "1001 orders|42|0"]),
                (Op::Stop, &["1004 orders|42|sent a Ctrl-C event|10s"]),
                (Op::StopExit(Code(0), 1_000, Some(-1)), &["1005 orders|42|exit code 0|1.0s",
                    "3003 orders|C:/orders/orders.exe|the error is in tend's own output", "1003 orders|100ms"]),
            ]),
            ("a stop during a backoff", "", &[
                (Op::Start(42), &[STARTED, "1001 orders|42|0"]),
                (Op::ExitBackoff(Code(1), 10, "30s"), &["2001 orders|42|exit code 1|10ms", "1003 orders|30s"]),
                (Op::StopInBackoff, &["1006 orders"]),
            ]),
            ("a program that cannot be started, then starts", "", &[
                (Op::StartFails(Some("100ms"), State::Backoff),
                    &[STARTED, "3003 orders|C:/orders/orders.exe|the error is in tend's own output", "1003 orders|100ms"]),
                (Op::StartFails(Some("200ms"), State::Backoff),
                    &["3003 orders|C:/orders/orders.exe|the error is in tend's own output", "1003 orders|200ms"]),
                (Op::Start(42), &["1001 orders|42|0"]),
            ]),
            ("a program that cannot be started until the limit", "", &[
                (Op::StartFails(Some("100ms"), State::Backoff),
                    &[STARTED, "3003 orders|C:/orders/orders.exe|the error is in tend's own output", "1003 orders|100ms"]),
                (Op::StartFails(None, Failed),
                    &["3003 orders|C:/orders/orders.exe|the error is in tend's own output", "3002 orders|10|2m"]),
            ]),
            ("a program that cannot be started, policy never", "[restart]\npolicy = \"never\"", &[
                (Op::StartFails(None, Failed),
                    &[STARTED, "3003 orders|C:/orders/orders.exe|the error is in tend's own output", "3001 orders|restart policy: never"]),
            ]),
            ("other stop methods: close", "[windows]\nstop = \"close\"", &[
                (Op::Start(42), &[STARTED, "1001 orders|42|0"]),
                (Op::Stop, &["1004 orders|42|sent WM_CLOSE to its windows|10s"]),
            ]),
            ("other stop methods: kill", "[windows]\nstop = \"kill\"", &[
                (Op::Start(42), &[STARTED, "1001 orders|42|0"]),
                (Op::Stop, &["1004 orders|42|is ending its process tree at once (windows.stop = kill)|10s"]),
            ]),
            ("other stop methods: an HTTP hook", "[stop]\nhttp = \"http://127.0.0.1:8080/shutdown\"", &[
                (Op::Start(42), &[STARTED, "1001 orders|42|0"]),
                (Op::Stop, &["1004 orders|42|sent an HTTP POST to http://127.0.0.1:8080/shutdown|10s"]),
                (Op::Hook(true), &[]),
                (Op::StopTimeout, &["2002 orders|42|10s"]),
                (Op::StopExit(Code(1), 10_000, None), &["1005 orders|42|exit code 1|10.0s", "1006 orders"]),
            ]),
            ("a failed stop hook, then the request", "[stop]\nhttp = \"http://127.0.0.1:8080/shutdown\"", &[
                (Op::Start(42), &[STARTED, "1001 orders|42|0"]),
                (Op::Stop, &["1004 orders|42|sent an HTTP POST to http://127.0.0.1:8080/shutdown|10s"]),
                (Op::Hook(false), &[]),
                (Op::StopExit(Code(0), 300, None), &["1005 orders|42|exit code 0|300ms", "1006 orders"]),
            ]),
            ("other stop methods: a command hook", "[stop]\ncommand = [\"C:/orders/orders.exe\", \"drain\"]", &[
                (Op::Start(42), &[STARTED, "1001 orders|42|0"]),
                (Op::Stop, &["1004 orders|42|ran the stop command C:/orders/orders.exe|10s"]),
            ]),
        ];
        for (name, extra, steps) in cases {
            let mut sim = Sim::new(extra);
            for (i, (op, expected)) in steps.iter().enumerate() {
                let got = sim.apply(*op);
                assert_eq!(got, *expected, "{name}: step {i}");
            }
        }
    }

    #[test]
    fn a_repeated_report_adds_nothing() {
        let mut sim = Sim::new("");
        sim.apply(Op::Start(42));
        // e.g. a status written again for its dropped-lines count.
        assert_eq!(
            sim.report(State::Running, "started (pid 42)"),
            Vec::<String>::new()
        );
    }

    #[test]
    fn the_start_error_is_used_when_the_supervisor_reports_it() {
        let mut sim = Sim::new("");
        sim.status.message = Some(r"cannot start C:\orders\orders.exe: The system cannot find the file specified. (os error 2)".into());
        let got = sim.report(
            State::Backoff,
            "exit code 127 after 0ms; restarting in 100ms",
        );
        assert_eq!(
            got,
            [
                STARTED,
                "3003 orders|C:/orders/orders.exe|The system cannot find the file specified. (os error 2)",
                "1003 orders|100ms",
            ]
        );
    }

    #[test]
    fn durations_read_as_people_write_them() {
        for (ms, shown) in [
            (0, "0ms"),
            (999, "999ms"),
            (1_000, "1.0s"),
            (59_949, "59.9s"),
            (60_000, "1m"),
            (90_500, "1m 30s"),
            (86_400_000 + 1_000, "1day 1s"),
        ] {
            assert_eq!(show_duration(ms), shown, "{ms}ms");
        }
    }
}
