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
//! unit-tested everywhere: [`EventMapper`] turns the supervisor's typed lifecycle
//! events ([`super::event::Event`], as the [`Observer`](super::service::Observer)
//! calls bring them) into [`Entry`]s, and each [`Entry`] gives the full message ID
//! and the strings for `ReportEventW`. Writing
//! to the log itself is Windows-only and lives with the Windows observer.
//!
//! Tests below prove that every [`EventId`] has a message in `res/messages.mc` with
//! the same code, severity and number of inserts (and the other way round), and
//! that the table in `docs/PLATFORMS.md` is that file's text. A Windows build also
//! checks, at compile time, that the IDs windmc compiled are the ones reported.

use super::event::{
    release_name, show_duration, Ended, Event as Lifecycle, NotRestarted, Run, Start, StartError,
    StopRequest,
};
use super::policy::Exit;
use super::state::Status;
use crate::spec::{Spec, WinStop};

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
    /// 1008: tend ends the program's process tree at once (a second stop request,
    /// `windows.stop = "kill"`).
    Killing,
    /// 1009: the service's health probe passed (the first time since the program
    /// started, or after it was unhealthy).
    Healthy,
    /// 1010: the service is switched to another release (`tend upgrade`) and its
    /// program restarted on it.
    Upgrading,
    /// 1011: the new release was ready within `update.verify_within`: the upgrade
    /// is done.
    Upgraded,
    /// 1012: someone acted on the service (install, stop, upgrade, ...): the copy of
    /// a line of the audit log (`tend audit`), with the line's hash.
    Audit,
    /// 1013: the program's whole process tree was frozen (`tend pause`, the SCM's
    /// PAUSE).
    Paused,
    /// 1014: a paused program's tree runs again (`tend continue`, the SCM's CONTINUE,
    /// or before a stop).
    Continued,
    /// 2001: the program ended by itself with a failure (code or signal).
    ProgramFailed,
    /// 2002: the program did not stop within `stop.timeout`; its tree was ended.
    StopTimedOut,
    /// 2003: `health.retries` health probes in a row failed.
    Unhealthy,
    /// 2004: the service is switched back to the release before and its program
    /// restarted on it: the new release was not ready in time, or `tend rollback`.
    RollingBack,
    /// 3001: the program failed and is not restarted (policy or `no_restart_codes`).
    ServiceFailed,
    /// 3002: the restart limit was reached; tend gives up.
    RestartLimit,
    /// 3003: the program cannot be started at all.
    CannotStart,
}

impl EventId {
    /// Every event, in code order.
    pub const ALL: [EventId; 22] = [
        EventId::SupervisorStarted,
        EventId::ProgramStarted,
        EventId::ProgramExited,
        EventId::Restarting,
        EventId::StopRequested,
        EventId::ProgramStopped,
        EventId::ServiceStopped,
        EventId::ServiceFinished,
        EventId::Killing,
        EventId::Healthy,
        EventId::Upgrading,
        EventId::Upgraded,
        EventId::Audit,
        EventId::Paused,
        EventId::Continued,
        EventId::ProgramFailed,
        EventId::StopTimedOut,
        EventId::Unhealthy,
        EventId::RollingBack,
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
            EventId::Killing => 1008,
            EventId::Healthy => 1009,
            EventId::Upgrading => 1010,
            EventId::Upgraded => 1011,
            EventId::Audit => 1012,
            EventId::Paused => 1013,
            EventId::Continued => 1014,
            EventId::ProgramFailed => 2001,
            EventId::StopTimedOut => 2002,
            EventId::Unhealthy => 2003,
            EventId::RollingBack => 2004,
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
            | EventId::ServiceFinished
            | EventId::Killing
            | EventId::Healthy
            | EventId::Upgrading
            | EventId::Upgraded
            | EventId::Audit
            | EventId::Paused
            | EventId::Continued => Kind::Information,
            EventId::ProgramFailed
            | EventId::StopTimedOut
            | EventId::Unhealthy
            | EventId::RollingBack => Kind::Warning,
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
            EventId::Killing => "TEND_KILLING",
            EventId::Healthy => "TEND_HEALTHY",
            EventId::Unhealthy => "TEND_UNHEALTHY",
            EventId::Upgrading => "TEND_UPGRADING",
            EventId::Upgraded => "TEND_UPGRADED",
            EventId::Audit => "TEND_AUDIT",
            EventId::Paused => "TEND_PAUSED",
            EventId::Continued => "TEND_CONTINUED",
            EventId::RollingBack => "TEND_ROLLING_BACK",
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
            | EventId::Killing
            | EventId::RestartLimit
            | EventId::CannotStart
            | EventId::Healthy
            | EventId::Upgrading
            | EventId::Upgraded
            | EventId::Paused => 3,
            EventId::ProgramExited
            | EventId::Unhealthy
            | EventId::RollingBack
            | EventId::StopRequested
            | EventId::ProgramStopped
            | EventId::ProgramFailed
            | EventId::Continued => 4,
            EventId::Audit => 6,
        }
    }
}

/// One Event Log entry with its values. Every variant's first insert (`%1`) is the
/// service name; the rest follow in field order. Values are already text (a pid, an
/// exit status such as `exit code 3` or `signal SIGKILL`, a duration such as `2.5s`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Entry {
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
    /// See [`EventId::Killing`].
    Killing {
        /// `%1`
        service: String,
        /// `%2`
        pid: i32,
        /// `%3`: why at once, e.g. `a second stop request`.
        why: String,
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
    /// See [`EventId::Healthy`].
    Healthy {
        /// `%1`
        service: String,
        /// `%2`
        pid: i32,
        /// `%3`: what the probe found, e.g. `GET http://127.0.0.1:8080/healthz
        /// answered 200 (3ms)`.
        result: String,
    },
    /// See [`EventId::Unhealthy`].
    Unhealthy {
        /// `%1`
        service: String,
        /// `%2`
        pid: i32,
        /// `%3`: probes failed in a row.
        failures: u32,
        /// `%4`: the last probe's result.
        result: String,
    },
    /// See [`EventId::Upgrading`].
    Upgrading {
        /// `%1`
        service: String,
        /// `%2`: the release it ran, as events name it: `release 1.1`, or `the
        /// spec's command` (before the first upgrade).
        from: String,
        /// `%3`: the release it runs now: `release 1.2`.
        to: String,
    },
    /// See [`EventId::Upgraded`].
    Upgraded {
        /// `%1`
        service: String,
        /// `%2`: `release 1.2`.
        release: String,
        /// `%3`: how long after the switch its program was ready.
        after: String,
    },
    /// See [`EventId::Audit`].
    Audit {
        /// `%1`
        service: String,
        /// `%2`: what: `install`, `stop`, `control 130`, ...
        action: String,
        /// `%3`: who: the account, with its SID on Windows (`uid` on Unix).
        who: String,
        /// `%4`: from where: the terminal or the calling process.
        from: String,
        /// `%5`: `ok`, or `error: ...`.
        result: String,
        /// `%6`: the SHA-256 of the audit log line (the `prev` of the next line).
        line_hash: String,
    },
    /// See [`EventId::Paused`].
    Paused {
        /// `%1`
        service: String,
        /// `%2`
        pid: i32,
        /// `%3`: how, e.g. `suspended 3 threads of 2 processes in its job`.
        how: String,
    },
    /// See [`EventId::Continued`].
    Continued {
        /// `%1`
        service: String,
        /// `%2`
        pid: i32,
        /// `%3`: how long it was paused, e.g. `3.2s`.
        paused: String,
        /// `%4`: how, e.g. `resumed 3 threads of 2 processes in its job`.
        how: String,
    },
    /// See [`EventId::RollingBack`].
    RollingBack {
        /// `%1`
        service: String,
        /// `%2`: the release it ran: `release 1.2`.
        from: String,
        /// `%3`: the release it runs now: `release 1.1`, or `the spec's command`.
        to: String,
        /// `%4`: why, e.g. `release 1.2 was not ready within 1m: ...`, or `on
        /// request (tend rollback)`.
        why: String,
    },
}

/// How the program ended: the values of [`Entry::ProgramExited`],
/// [`Entry::ProgramStopped`] and [`Entry::ProgramFailed`].
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

impl Entry {
    /// Which event this is.
    pub fn id(&self) -> EventId {
        match self {
            Entry::SupervisorStarted { .. } => EventId::SupervisorStarted,
            Entry::ProgramStarted { .. } => EventId::ProgramStarted,
            Entry::ProgramExited(_) => EventId::ProgramExited,
            Entry::Restarting { .. } => EventId::Restarting,
            Entry::StopRequested { .. } => EventId::StopRequested,
            Entry::ProgramStopped(_) => EventId::ProgramStopped,
            Entry::ServiceStopped { .. } => EventId::ServiceStopped,
            Entry::ServiceFinished { .. } => EventId::ServiceFinished,
            Entry::ProgramFailed(_) => EventId::ProgramFailed,
            Entry::StopTimedOut { .. } => EventId::StopTimedOut,
            Entry::Killing { .. } => EventId::Killing,
            Entry::ServiceFailed { .. } => EventId::ServiceFailed,
            Entry::RestartLimit { .. } => EventId::RestartLimit,
            Entry::CannotStart { .. } => EventId::CannotStart,
            Entry::Healthy { .. } => EventId::Healthy,
            Entry::Unhealthy { .. } => EventId::Unhealthy,
            Entry::Upgrading { .. } => EventId::Upgrading,
            Entry::Upgraded { .. } => EventId::Upgraded,
            Entry::Audit { .. } => EventId::Audit,
            Entry::Paused { .. } => EventId::Paused,
            Entry::Continued { .. } => EventId::Continued,
            Entry::RollingBack { .. } => EventId::RollingBack,
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
            Entry::SupervisorStarted {
                service,
                supervisor_pid,
                spec,
            } => vec![service.clone(), supervisor_pid.to_string(), spec.clone()],
            Entry::ProgramStarted {
                service,
                pid,
                restarts,
            } => vec![service.clone(), pid.to_string(), restarts.to_string()],
            Entry::ProgramExited(end) | Entry::ProgramStopped(end) | Entry::ProgramFailed(end) => {
                vec![
                    end.service.clone(),
                    end.pid.to_string(),
                    end.exit.clone(),
                    end.ran.clone(),
                ]
            }
            Entry::Restarting { service, delay } => vec![service.clone(), delay.clone()],
            Entry::StopRequested {
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
            Entry::ServiceStopped { service } => vec![service.clone()],
            Entry::ServiceFinished { service, reason }
            | Entry::ServiceFailed { service, reason } => {
                vec![service.clone(), reason.clone()]
            }
            Entry::StopTimedOut {
                service,
                pid,
                timeout,
            } => vec![service.clone(), pid.to_string(), timeout.clone()],
            Entry::Killing { service, pid, why } => {
                vec![service.clone(), pid.to_string(), why.clone()]
            }
            Entry::RestartLimit {
                service,
                restarts,
                window,
            } => vec![service.clone(), restarts.to_string(), window.clone()],
            Entry::CannotStart {
                service,
                program,
                reason,
            } => vec![service.clone(), program.clone(), reason.clone()],
            Entry::Healthy {
                service,
                pid,
                result,
            } => vec![service.clone(), pid.to_string(), result.clone()],
            Entry::Unhealthy {
                service,
                pid,
                failures,
                result,
            } => vec![
                service.clone(),
                pid.to_string(),
                failures.to_string(),
                result.clone(),
            ],
            Entry::Upgrading { service, from, to } => {
                vec![service.clone(), from.clone(), to.clone()]
            }
            Entry::Upgraded {
                service,
                release,
                after,
            } => vec![service.clone(), release.clone(), after.clone()],
            Entry::Audit {
                service,
                action,
                who,
                from,
                result,
                line_hash,
            } => vec![
                service.clone(),
                action.clone(),
                who.clone(),
                from.clone(),
                result.clone(),
                line_hash.clone(),
            ],
            Entry::Paused { service, pid, how } => {
                vec![service.clone(), pid.to_string(), how.clone()]
            }
            Entry::Continued {
                service,
                pid,
                paused,
                how,
            } => vec![
                service.clone(),
                pid.to_string(),
                paused.clone(),
                how.clone(),
            ],
            Entry::RollingBack {
                service,
                from,
                to,
                why,
            } => vec![service.clone(), from.clone(), to.clone(), why.clone()],
        }
    }
}

/// Turns the supervisor's lifecycle events into Event Log entries.
///
/// Feed it every [`Observer::changed`](super::service::Observer::changed) call of
/// one service, in order. Each [`Lifecycle`] event says what happened and carries
/// what came before it (an exit restarted at once, a stop restarted on request), so
/// the entries follow from the event alone: the status only adds the restart count
/// and, for the first entry, the supervisor's pid and spec file.
#[derive(Clone, Debug)]
pub struct EventMapper {
    program: String,
    stop_method: StopMethod,
    stop_timeout: String,
    restart: crate::spec::Restart,
    started: bool,
}

impl EventMapper {
    /// A mapper for the service `spec` describes (its restart and stop settings
    /// name the reasons and limits in the entries).
    pub fn new(spec: &Spec) -> EventMapper {
        EventMapper {
            program: spec.command.clone(),
            stop_method: stop_method(spec),
            stop_timeout: spec.stop.timeout.to_string(),
            restart: spec.restart.clone(),
            started: false,
        }
    }

    /// The entries `event` (with the `status` after it) means; often one, at most
    /// four. The first call also yields [`Entry::SupervisorStarted`].
    pub fn map(&mut self, status: &Status, event: &Lifecycle) -> Vec<Entry> {
        let mut out = Vec::new();
        if !self.started {
            self.started = true;
            out.push(Entry::SupervisorStarted {
                service: status.name.clone(),
                supervisor_pid: status.supervisor_pid,
                spec: status.spec.display().to_string(),
            });
        }
        let service = || status.name.clone();
        match event {
            Lifecycle::Started { pid, start } => {
                self.before(status, start, &mut out);
                out.push(Entry::ProgramStarted {
                    service: service(),
                    pid: *pid,
                    restarts: status.restarts,
                });
            }
            Lifecycle::CannotStart { error, start } => {
                self.before(status, start, &mut out);
                out.push(self.cannot_start(status, error));
            }
            Lifecycle::Restarting { ended, delay } => {
                self.ended(status, ended, &mut out);
                out.push(Entry::Restarting {
                    service: service(),
                    delay: show_duration(*delay),
                });
            }
            Lifecycle::Exited {
                ended,
                success,
                reason,
                ..
            } => {
                self.ended(status, ended, &mut out);
                let reason = match reason {
                    NotRestarted::Policy(p) => format!("restart policy: {p}"),
                    NotRestarted::NoRestartCode(c) => {
                        format!("exit code {c} is in restart.no_restart_codes")
                    }
                };
                out.push(if *success {
                    Entry::ServiceFinished {
                        service: service(),
                        reason,
                    }
                } else {
                    Entry::ServiceFailed {
                        service: service(),
                        reason,
                    }
                });
            }
            Lifecycle::GaveUp {
                ended,
                window,
                max_restarts,
                ..
            } => {
                self.ended(status, ended, &mut out);
                out.push(Entry::RestartLimit {
                    service: service(),
                    restarts: *max_restarts,
                    window: window.to_string(),
                });
            }
            Lifecycle::StopRequested { pid, request, .. } => {
                out.push(match (request, &self.stop_method) {
                    (StopRequest::NotSent { error, .. }, _) => Entry::StopRequested {
                        service: service(),
                        pid: *pid,
                        method: format!("could not ask it to stop ({error})"),
                        timeout: self.stop_timeout.clone(),
                    },
                    (_, StopMethod::Kill) => Entry::Killing {
                        service: service(),
                        pid: *pid,
                        why: "windows.stop = \"kill\"".into(),
                    },
                    (_, StopMethod::Ask(method)) => Entry::StopRequested {
                        service: service(),
                        pid: *pid,
                        method: method.clone(),
                        timeout: self.stop_timeout.clone(),
                    },
                })
            }
            Lifecycle::Killing { pid, by } => out.push(Entry::Killing {
                service: service(),
                pid: *pid,
                why: super::event::second(*by),
            }),
            Lifecycle::StopTimedOut { pid, timeout } => out.push(Entry::StopTimedOut {
                service: service(),
                pid: *pid,
                timeout: timeout.to_string(),
            }),
            // The stop request entry said what is being done.
            Lifecycle::StopHookDone(_) | Lifecycle::StopHookFailed { .. } => {}
            Lifecycle::Paused { pid, how } => out.push(Entry::Paused {
                service: service(),
                pid: *pid,
                how: how.clone(),
            }),
            Lifecycle::Continued { pid, paused, how } => out.push(Entry::Continued {
                service: service(),
                pid: *pid,
                paused: show_duration(*paused),
                how: how.clone(),
            }),
            // Not in the message table yet: the console, the journal and the state
            // file say them.
            Lifecycle::Reloaded { .. } | Lifecycle::ReloadFailed { .. } => {}
            Lifecycle::Stopped(stopped) => {
                out.push(Entry::ProgramStopped(program_end(status, &stopped.run)));
                out.push(Entry::ServiceStopped { service: service() });
            }
            Lifecycle::StoppedWhileWaiting { .. } => {
                out.push(Entry::ServiceStopped { service: service() })
            }
            Lifecycle::Healthy { pid, result, .. } => out.push(Entry::Healthy {
                service: service(),
                pid: *pid,
                result: result.clone(),
            }),
            Lifecycle::Unhealthy {
                pid,
                failures,
                result,
            } => out.push(Entry::Unhealthy {
                service: service(),
                pid: *pid,
                failures: *failures,
                result: result.clone(),
            }),
            // The restart on the release follows as its own events (1004, 1005, 1001).
            Lifecycle::Switching {
                from,
                to,
                rollback: None,
            } => out.push(Entry::Upgrading {
                service: service(),
                from: release_name(from.as_deref()),
                to: release_name(to.as_deref()),
            }),
            Lifecycle::Switching {
                from,
                to,
                rollback: Some(why),
            } => out.push(Entry::RollingBack {
                service: service(),
                from: release_name(from.as_deref()),
                to: release_name(to.as_deref()),
                why: why.trim().trim_end_matches('.').to_string(),
            }),
            Lifecycle::Upgraded { to, after } => out.push(Entry::Upgraded {
                service: service(),
                release: release_name(Some(to)),
                after: show_duration(*after),
            }),
        }
        out
    }

    /// What came before a start: the last attempt's end and the restart at once, or
    /// the stop of a restart on request.
    fn before(&self, status: &Status, start: &Start, out: &mut Vec<Entry>) {
        match start {
            Start::First | Start::Again => {}
            Start::AtOnce(ended) => {
                self.ended(status, ended, out);
                out.push(Entry::Restarting {
                    service: status.name.clone(),
                    delay: "0s".into(),
                });
            }
            Start::OnRequest(stopped) => {
                out.push(Entry::ProgramStopped(program_end(status, &stopped.run)))
            }
        }
    }

    /// How the program's run ended: success or failure by `restart.success_codes`.
    /// A start that failed has had its own entry already.
    fn ended(&self, status: &Status, ended: &Ended, out: &mut Vec<Entry>) {
        match ended {
            Ended::Exited(run) => {
                let end = program_end(status, run);
                out.push(if run.exit.is_success(&self.restart) {
                    Entry::ProgramExited(end)
                } else {
                    Entry::ProgramFailed(end)
                });
            }
            // Stopped for failing its health checks (the unhealthy entry came first).
            Ended::Unhealthy { stopped, .. } => {
                out.push(Entry::ProgramStopped(program_end(status, &stopped.run)))
            }
            Ended::NotStarted(_) => {}
        }
    }

    fn cannot_start(&self, status: &Status, error: &StartError) -> Entry {
        Entry::CannotStart {
            service: status.name.clone(),
            program: self.program.clone(),
            reason: error.error.trim().trim_end_matches('.').to_string(),
        }
    }
}

/// How a run ended, as the entries show it.
fn program_end(status: &Status, run: &Run) -> ProgramEnd {
    ProgramEnd {
        service: status.name.clone(),
        pid: run.pid,
        exit: show_exit(run.exit),
        ran: show_duration(run.ran),
    }
}

/// `exit code 3`, `signal SIGKILL`; a Windows status code (negative as an `i32`, or
/// beyond 16 bits) in hex as Windows shows it: `exit code 0xC0000005`.
fn show_exit(exit: Exit) -> String {
    match exit {
        Exit::Code(c) if !(0..=0xFFFF).contains(&c) => format!("exit code 0x{:08X}", c as u32),
        e => e.to_string(),
    }
}

/// What tend does to ask the program to stop on Windows, completing "it ...".
/// How a service's program is asked to stop, for the Event Log.
#[derive(Clone, Debug)]
enum StopMethod {
    /// It is asked, then given `stop.timeout`: what tend did, completing "it ...".
    Ask(String),
    /// It is not asked: its tree is ended at once (`windows.stop = "kill"`).
    Kill,
}

fn stop_method(spec: &Spec) -> StopMethod {
    if let Some(url) = &spec.stop.http {
        return StopMethod::Ask(format!("sent an HTTP POST to {url}"));
    }
    if let Some(program) = spec.stop.command.first() {
        return StopMethod::Ask(format!("ran the stop command {program}"));
    }
    match spec.windows.stop {
        WinStop::CtrlC => StopMethod::Ask("sent a Ctrl-C event".into()),
        WinStop::Close => StopMethod::Ask("sent WM_CLOSE to its windows".into()),
        WinStop::Kill => StopMethod::Kill,
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
    fn sample(id: EventId) -> Entry {
        let service = "orders".to_string();
        let end = |exit: &str, ran: &str| ProgramEnd {
            service: "orders".into(),
            pid: 5012,
            exit: exit.into(),
            ran: ran.into(),
        };
        match id {
            EventId::SupervisorStarted => Entry::SupervisorStarted {
                service,
                supervisor_pid: 4120,
                spec: r"C:\ProgramData\tend\orders.toml".into(),
            },
            EventId::ProgramStarted => Entry::ProgramStarted {
                service,
                pid: 5012,
                restarts: 2,
            },
            EventId::ProgramExited => Entry::ProgramExited(end("exit code 0", "1h 2m 3s")),
            EventId::Restarting => Entry::Restarting {
                service,
                delay: "1.6s".into(),
            },
            EventId::StopRequested => Entry::StopRequested {
                service,
                pid: 5012,
                method: "sent a Ctrl-C event".into(),
                timeout: "10s".into(),
            },
            EventId::ProgramStopped => Entry::ProgramStopped(end("exit code 0", "2m 5s")),
            EventId::ServiceStopped => Entry::ServiceStopped { service },
            EventId::ServiceFinished => Entry::ServiceFinished {
                service,
                reason: "restart policy: on-failure".into(),
            },
            EventId::Killing => Entry::Killing {
                service,
                pid: 5012,
                why: "a second stop request".into(),
            },
            EventId::ProgramFailed => Entry::ProgramFailed(end("exit code 0xC0000005", "2.5s")),
            EventId::StopTimedOut => Entry::StopTimedOut {
                service,
                pid: 5012,
                timeout: "10s".into(),
            },
            EventId::ServiceFailed => Entry::ServiceFailed {
                service,
                reason: "restart policy: never".into(),
            },
            EventId::RestartLimit => Entry::RestartLimit {
                service,
                restarts: 10,
                window: "2m".into(),
            },
            EventId::CannotStart => Entry::CannotStart {
                service,
                program: r"C:\orders\orders.exe".into(),
                reason: "The system cannot find the file specified. (os error 2)".into(),
            },
            EventId::Healthy => Entry::Healthy {
                service,
                pid: 5012,
                result: "GET http://127.0.0.1:8080/healthz answered 200 (3ms)".into(),
            },
            EventId::Unhealthy => Entry::Unhealthy {
                service,
                pid: 5012,
                failures: 3,
                result: "GET http://127.0.0.1:8080/healthz: no answer within 2s".into(),
            },
            EventId::Upgrading => Entry::Upgrading {
                service,
                from: "release 1.1".into(),
                to: "release 1.2".into(),
            },
            EventId::Upgraded => Entry::Upgraded {
                service,
                release: "release 1.2".into(),
                after: "1.4s".into(),
            },
            EventId::Audit => Entry::Audit {
                service,
                action: "stop".into(),
                who: r"HOST\ops (S-1-5-21-1004336348-1177238915-682003330-1001)".into(),
                from: "Console".into(),
                result: "ok".into(),
                line_hash: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08".into(),
            },
            EventId::Paused => Entry::Paused {
                service,
                pid: 5012,
                how: "suspended 3 threads of 2 processes in its job".into(),
            },
            EventId::Continued => Entry::Continued {
                service,
                pid: 5012,
                paused: "3.2s".into(),
                how: "resumed 3 threads of 2 processes in its job".into(),
            },
            EventId::RollingBack => Entry::RollingBack {
                service,
                from: "release 1.2".into(),
                to: "release 1.1".into(),
                why: "release 1.2 was not ready within 1m: GET http://127.0.0.1:8080/healthz: no answer within 2s".into(),
            },
        }
    }

    /// What Event Viewer shows: the message with the inserts filled in.
    fn render(messages: &[McMessage], event: &Entry) -> String {
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
        ("TEND_KILLING", 0x400003f0),
        ("TEND_HEALTHY", 0x400003f1),
        ("TEND_UPGRADING", 0x400003f2),
        ("TEND_UPGRADED", 0x400003f3),
        ("TEND_AUDIT", 0x400003f4),
        ("TEND_PAUSED", 0x400003f5),
        ("TEND_CONTINUED", 0x400003f6),
        ("TEND_PROGRAM_FAILED", 0x800007d1),
        ("TEND_STOP_TIMED_OUT", 0x800007d2),
        ("TEND_UNHEALTHY", 0x800007d3),
        ("TEND_ROLLING_BACK", 0x800007d4),
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
            "1008 Information: tend is ending the process tree of the program of the service orders (process ID 5012) at once: a second stop request.",
            "1009 Information: The service orders is healthy: the health probe of its program (process ID 5012) passed: GET http://127.0.0.1:8080/healthz answered 200 (3ms).",
            "1010 Information: tend is upgrading the service orders from release 1.1 to release 1.2 and restarting its program.",
            "1011 Information: The service orders has been upgraded to release 1.2: its program was ready 1.4s after the switch, within update.verify_within.",
            r"1012 Information: Audit: stop of the service orders by HOST\ops (S-1-5-21-1004336348-1177238915-682003330-1001) from Console: ok. The audit log line's SHA-256 is 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08 (tend audit orders --verify).",
            "1013 Information: The service orders is paused: the process tree of its program (process ID 5012) is frozen (suspended 3 threads of 2 processes in its job).",
            "1014 Information: The service orders continues: the process tree of its program (process ID 5012) runs again after 3.2s paused (resumed 3 threads of 2 processes in its job).",
            "2001 Warning: The program of the service orders (process ID 5012) failed: it ended with exit code 0xC0000005 after running for 2.5s.",
            "2002 Warning: The program of the service orders (process ID 5012) did not stop within 10s, so tend ended its process tree.",
            "2003 Warning: The service orders is unhealthy: 3 health probes in a row of its program (process ID 5012) failed; the last: GET http://127.0.0.1:8080/healthz: no answer within 2s.",
            "2004 Warning: tend is rolling back the service orders from release 1.2 to release 1.1 and restarting its program: release 1.2 was not ready within 1m: GET http://127.0.0.1:8080/healthz: no answer within 2s.",
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

    use crate::supervise::event::{StopEnd, StopRequest, Stopped};
    use crate::supervise::state::State;
    use std::time::Duration;

    /// An exit status of the child.
    #[derive(Clone, Copy)]
    enum X {
        Code(i32),
        Sig(i32),
    }

    impl X {
        fn exit(self) -> Exit {
            match self {
                X::Code(c) => Exit::Code(c),
                X::Sig(s) => Exit::Signal(s),
            }
        }
    }

    /// What the supervisor does, modelled on service.rs: each step is the event (or
    /// the two events) the actor reports, with the status it reports them with.
    #[derive(Clone, Copy)]
    enum Op {
        /// A start succeeded: the child runs with this pid.
        Start(i32),
        /// The child ran `ms` and exited; it is started again after `delay` ms.
        ExitBackoff(X, u64, u64),
        /// The child ran `ms` and exited; it was started again at once, as this pid.
        ExitRestarted(X, u64, i32),
        /// The child ran `ms` and exited; it is not started again (`None`: the
        /// restart limit).
        ExitDone(X, u64, Option<NotRestarted>),
        /// A start failed; the decision: a backoff of `Some(ms)`, else not again
        /// (`None`: the restart limit).
        StartFails(Result<u64, Option<NotRestarted>>),
        /// A stop (or restart) request: the stop signal was sent.
        Stop,
        /// The stop timeout passed: the tree was killed.
        StopTimeout,
        /// A stop hook ended (`true`: it asked; `false`: it failed, the request was
        /// sent after all).
        Hook(bool),
        /// During a stop, the child exited, `ms` after its start; `Some(pid)`:
        /// restarted on request as that pid (`Some(-1)`: that start fails), else
        /// stopped.
        StopExit(X, u64, Option<i32>),
        /// A stop request during a backoff.
        StopInBackoff,
        /// A kill request (a second stop request) while the child runs.
        Kill,
        /// A switch of release, `from` and `to` (`None`: the spec's command), as
        /// `tend upgrade` (`None`) or a rollback (`Some(why)`) announces it.
        Switch(
            Option<&'static str>,
            Option<&'static str>,
            Option<&'static str>,
        ),
        /// The release passed its check, ready `ms` after the switch.
        Upgraded(&'static str, u64),
        /// `tend pause` (or the SCM's PAUSE): the running child's tree was frozen.
        Pause,
        /// `tend continue` (or the SCM's CONTINUE, or a stop while paused): it runs
        /// again after `ms` paused.
        Continue(u64),
    }

    struct Sim {
        mapper: EventMapper,
        restart: crate::spec::Restart,
        status: Status,
    }

    fn spec(extra: &str) -> Spec {
        let text = format!("name = \"orders\"\ncommand = \"C:/orders/orders.exe\"\n{extra}");
        crate::spec::load_str(Path::new("orders.toml"), &text, &Default::default())
            .unwrap()
            .services
            .remove(0)
    }

    const NOT_FOUND: &str = "The system cannot find the file specified. (os error 2)";

    impl Sim {
        fn new(extra: &str) -> Sim {
            let spec = spec(extra);
            Sim {
                mapper: EventMapper::new(&spec),
                restart: spec.restart.clone(),
                status: Status {
                    supervisor_pid: 7,
                    since_ms: 0,
                    ..Status::new("orders", State::Starting, "/etc/tend/orders.toml".into())
                },
            }
        }

        fn report(&mut self, state: State, event: Lifecycle) -> Vec<String> {
            self.status.state = state;
            self.mapper
                .map(&self.status, &event)
                .iter()
                .map(|e| format!("{} {}", e.id().code(), e.strings().join("|")))
                .collect()
        }

        fn run(&self, x: X, ms: u64) -> Run {
            Run {
                pid: self.status.pid.unwrap_or(0),
                exit: x.exit(),
                ran: Duration::from_millis(ms),
                stderr: Vec::new(),
                oom_killed: false,
            }
        }

        fn started(&mut self, pid: i32, start: Start) -> Vec<String> {
            self.status.pid = Some(pid);
            self.report(State::Running, Lifecycle::Started { pid, start })
        }

        /// The decision after `ended`, as `Actor::decide` reports it.
        fn decided(&mut self, ended: Ended, exit: Exit, done: Option<NotRestarted>) -> Vec<String> {
            self.status.pid = None;
            match done {
                Some(reason) => {
                    let success = exit.is_success(&self.restart);
                    let state = if success {
                        State::Exited
                    } else {
                        State::Failed
                    };
                    let policy = self.restart.policy;
                    self.report(
                        state,
                        Lifecycle::Exited {
                            ended,
                            success,
                            reason,
                            policy,
                        },
                    )
                }
                None => {
                    let (window, max_restarts) = (self.restart.window, self.restart.max_restarts);
                    self.report(
                        State::Failed,
                        Lifecycle::GaveUp {
                            ended,
                            restarts: max_restarts,
                            window,
                            max_restarts,
                        },
                    )
                }
            }
        }

        fn cannot_start(&mut self, start: Start) -> (Vec<String>, Ended) {
            let error = StartError {
                program: r"C:\orders\orders.exe".into(),
                error: NOT_FOUND.into(),
            };
            self.status.pid = None;
            let out = self.report(
                State::Starting,
                Lifecycle::CannotStart {
                    error: error.clone(),
                    start,
                },
            );
            (out, Ended::NotStarted(error))
        }

        fn apply(&mut self, op: Op) -> Vec<String> {
            match op {
                Op::Start(pid) => {
                    let start = if self.status.restarts == 0 {
                        Start::First
                    } else {
                        Start::Again
                    };
                    self.started(pid, start)
                }
                Op::ExitBackoff(x, ms, delay) => {
                    let ended = Ended::Exited(self.run(x, ms));
                    self.status.pid = None;
                    let out = self.report(
                        State::Backoff,
                        Lifecycle::Restarting {
                            ended,
                            delay: Duration::from_millis(delay),
                        },
                    );
                    self.status.restarts += 1;
                    out
                }
                Op::ExitRestarted(x, ms, pid) => {
                    let ended = Ended::Exited(self.run(x, ms));
                    self.status.restarts += 1;
                    self.started(pid, Start::AtOnce(ended))
                }
                Op::ExitDone(x, ms, done) => {
                    let ended = Ended::Exited(self.run(x, ms));
                    self.decided(ended, x.exit(), done)
                }
                Op::StartFails(decision) => {
                    let start = if self.status.restarts == 0 {
                        Start::First
                    } else {
                        Start::Again
                    };
                    let (mut out, ended) = self.cannot_start(start);
                    out.extend(match decision {
                        Ok(delay) => self.report(
                            State::Backoff,
                            Lifecycle::Restarting {
                                ended,
                                delay: Duration::from_millis(delay),
                            },
                        ),
                        Err(done) => self.decided(ended, Exit::Code(127), done),
                    });
                    out
                }
                Op::Stop => {
                    let pid = self.status.pid.unwrap();
                    let request = StopRequest::Sent(format!("sent Ctrl-C to pid {pid}"));
                    let timeout = self.mapper_timeout();
                    self.report(
                        State::Stopping,
                        Lifecycle::StopRequested {
                            pid,
                            by: crate::supervise::event::StopBy::ServiceManager,
                            request,
                            timeout,
                            restart: false,
                        },
                    )
                }
                Op::StopTimeout => {
                    let pid = self.status.pid.unwrap();
                    let timeout = self.mapper_timeout();
                    self.report(State::Stopping, Lifecycle::StopTimedOut { pid, timeout })
                }
                Op::Hook(true) => self.report(
                    State::Stopping,
                    Lifecycle::StopHookDone("POST answered 200".into()),
                ),
                Op::Hook(false) => {
                    let then = StopRequest::Sent("sent Ctrl-C to pid 42".into());
                    self.report(
                        State::Stopping,
                        Lifecycle::StopHookFailed {
                            why: "connection refused".into(),
                            then,
                        },
                    )
                }
                Op::StopExit(x, ms, restart) => {
                    let stopped = Stopped {
                        run: self.run(x, ms),
                        how: StopEnd::Gracefully {
                            took: Duration::from_millis(300),
                        },
                    };
                    match restart {
                        Some(-1) => {
                            self.status.restarts += 1;
                            let (mut out, ended) = self.cannot_start(Start::OnRequest(stopped));
                            out.extend(self.report(
                                State::Backoff,
                                Lifecycle::Restarting {
                                    ended,
                                    delay: Duration::from_millis(100),
                                },
                            ));
                            out
                        }
                        Some(pid) => {
                            self.status.restarts += 1;
                            self.started(pid, Start::OnRequest(stopped))
                        }
                        None => {
                            self.status.pid = None;
                            self.report(State::Stopped, Lifecycle::Stopped(stopped))
                        }
                    }
                }
                Op::StopInBackoff => {
                    self.status.pid = None;
                    self.report(State::Stopped, Lifecycle::StoppedWhileWaiting { by: None })
                }
                Op::Kill => {
                    let pid = self.status.pid.unwrap();
                    self.report(State::Stopping, Lifecycle::Killing { pid, by: None })
                }
                Op::Switch(from, to, rollback) => {
                    let state = self.status.state;
                    self.report(
                        state,
                        Lifecycle::Switching {
                            from: from.map(Into::into),
                            to: to.map(Into::into),
                            rollback: rollback.map(Into::into),
                        },
                    )
                }
                Op::Pause => {
                    let pid = self.status.pid.unwrap();
                    self.report(
                        State::Paused,
                        Lifecycle::Paused {
                            pid,
                            how: "suspended 3 threads of 2 processes in its job".into(),
                        },
                    )
                }
                Op::Continue(ms) => {
                    let pid = self.status.pid.unwrap();
                    self.report(
                        State::Running,
                        Lifecycle::Continued {
                            pid,
                            paused: Duration::from_millis(ms),
                            how: "resumed 3 threads of 2 processes in its job".into(),
                        },
                    )
                }
                Op::Upgraded(to, ms) => {
                    let state = self.status.state;
                    self.report(
                        state,
                        Lifecycle::Upgraded {
                            to: to.into(),
                            after: Duration::from_millis(ms),
                        },
                    )
                }
            }
        }

        fn mapper_timeout(&self) -> crate::spec::Duration {
            crate::spec::Duration(humantime::parse_duration(&self.mapper.stop_timeout).unwrap())
        }
    }

    /// A table row: its name, the spec's extra TOML, and each step with the entries
    /// it must yield.
    type Case = (
        &'static str,
        &'static str,
        &'static [(Op, &'static [&'static str])],
    );

    const STARTED: &str = "1000 orders|7|/etc/tend/orders.toml";
    const CANNOT: &str =
        "3003 orders|C:/orders/orders.exe|The system cannot find the file specified. (os error 2)";

    #[test]
    fn mapper_turns_lifecycle_events_into_entries() {
        fn check(name: &str, extra: &str, steps: &[(Op, Vec<&str>)]) {
            let mut sim = Sim::new(extra);
            for (i, (op, expected)) in steps.iter().enumerate() {
                assert_eq!(sim.apply(*op), *expected, "{name}: step {i}");
            }
        }
        for (name, extra, steps) in CASES {
            let steps: Vec<_> = steps.iter().map(|(op, e)| (*op, e.to_vec())).collect();
            check(name, extra, &steps);
        }
        // Signals by name where they have one.
        use X::Sig;
        #[cfg(unix)]
        const SIGSEGV: (i32, &str) = (libc::SIGSEGV, "SIGSEGV");
        #[cfg(unix)]
        const SIGKILL: (i32, &str) = (libc::SIGKILL, "SIGKILL");
        #[cfg(windows)]
        const SIGSEGV: (i32, &str) = (11, "11");
        #[cfg(windows)]
        const SIGKILL: (i32, &str) = (9, "9");
        let segv = format!("2001 orders|42|signal {}|1h 2m", SIGSEGV.1);
        let kill = format!("2001 orders|42|signal {}|10ms", SIGKILL.1);
        check(
            "a crash by a signal restarted at once",
            "",
            &[
                (Op::Start(42), vec![STARTED, "1001 orders|42|0"]),
                (
                    Op::ExitRestarted(Sig(SIGSEGV.0), 3_723_000, 43),
                    vec![&segv, "1003 orders|0s", "1001 orders|43|1"],
                ),
            ],
        );
        check(
            "the restart limit after a signal",
            "",
            &[
                (Op::Start(42), vec![STARTED, "1001 orders|42|0"]),
                (
                    Op::ExitDone(Sig(SIGKILL.0), 10, None),
                    vec![&kill, "3002 orders|10|2m"],
                ),
            ],
        );
    }

    #[rustfmt::skip]
    const CASES: &[Case] = {
        use NotRestarted::{NoRestartCode, Policy};
        use crate::spec::RestartPolicy::{Always, Never, OnFailure};
        use X::Code;
        &[
            ("start, then a graceful stop", "", &[
                (Op::Start(42), &[STARTED, "1001 orders|42|0"]),
                (Op::Stop, &["1004 orders|42|sent a Ctrl-C event|10s"]),
                (Op::StopExit(Code(0), 2_500, None), &["1005 orders|42|exit code 0|2.5s", "1006 orders"]),
            ]),
            ("paused, continued, paused again and stopped", "", &[
                (Op::Start(42), &[STARTED, "1001 orders|42|0"]),
                (Op::Pause, &["1013 orders|42|suspended 3 threads of 2 processes in its job"]),
                (Op::Continue(3_200), &["1014 orders|42|3.2s|resumed 3 threads of 2 processes in its job"]),
                (Op::Pause, &["1013 orders|42|suspended 3 threads of 2 processes in its job"]),
                (Op::Continue(90_000), &["1014 orders|42|1m 30s|resumed 3 threads of 2 processes in its job"]),
                (Op::Stop, &["1004 orders|42|sent a Ctrl-C event|10s"]),
                (Op::StopExit(Code(0), 2_500, None), &["1005 orders|42|exit code 0|2.5s", "1006 orders"]),
            ]),
            ("a crash, a backoff, a restart", "", &[
                (Op::Start(42), &[STARTED, "1001 orders|42|0"]),
                (Op::ExitBackoff(Code(3), 340, 1_600), &["2001 orders|42|exit code 3|340ms", "1003 orders|1.6s"]),
                (Op::Start(43), &["1001 orders|43|1"]),
            ]),
            ("the same pid again is a new child", "", &[
                (Op::Start(42), &[STARTED, "1001 orders|42|0"]),
                (Op::ExitRestarted(Code(1), 90_000, 42), &["2001 orders|42|exit code 1|1m 30s", "1003 orders|0s", "1001 orders|42|1"]),
            ]),
            ("a success is information, and restarted with policy always", "[restart]\npolicy = \"always\"", &[
                (Op::Start(42), &[STARTED, "1001 orders|42|0"]),
                (Op::ExitBackoff(Code(0), 5_000, 100), &["1002 orders|42|exit code 0|5s", "1003 orders|100ms"]),
            ]),
            ("success codes from the spec", "[restart]\npolicy = \"always\"\nsuccess_codes = [0, 2]", &[
                (Op::Start(42), &[STARTED, "1001 orders|42|0"]),
                (Op::ExitBackoff(Code(2), 5_000, 100), &["1002 orders|42|exit code 2|5s", "1003 orders|100ms"]),
            ]),
            ("a success ends the service with on-failure", "", &[
                (Op::Start(42), &[STARTED, "1001 orders|42|0"]),
                (Op::ExitDone(Code(0), 20, Some(Policy(OnFailure))), &["1002 orders|42|exit code 0|20ms", "1007 orders|restart policy: on-failure"]),
            ]),
            ("a failure ends the service with never", "[restart]\npolicy = \"never\"", &[
                (Op::Start(42), &[STARTED, "1001 orders|42|0"]),
                (Op::ExitDone(Code(1), 20, Some(Policy(Never))), &["2001 orders|42|exit code 1|20ms", "3001 orders|restart policy: never"]),
            ]),
            ("a success ends the service with never", "[restart]\npolicy = \"never\"", &[
                (Op::Start(42), &[STARTED, "1001 orders|42|0"]),
                (Op::ExitDone(Code(0), 20, Some(Policy(Never))), &["1002 orders|42|exit code 0|20ms", "1007 orders|restart policy: never"]),
            ]),
            ("a no-restart code", "[restart]\npolicy = \"always\"\nno_restart_codes = [78]", &[
                (Op::Start(42), &[STARTED, "1001 orders|42|0"]),
                (Op::ExitDone(Code(78), 20, Some(NoRestartCode(78))), &["2001 orders|42|exit code 78|20ms", "3001 orders|exit code 78 is in restart.no_restart_codes"]),
            ]),
            ("the restart limit", "[restart]\nmax_restarts = 3\nwindow = \"1m\"", &[
                (Op::Start(42), &[STARTED, "1001 orders|42|0"]),
                (Op::ExitBackoff(Code(1), 10, 100), &["2001 orders|42|exit code 1|10ms", "1003 orders|100ms"]),
                (Op::Start(43), &["1001 orders|43|1"]),
                (Op::ExitDone(Code(1), 10, None), &["2001 orders|43|exit code 1|10ms", "3002 orders|3|1m"]),
            ]),
            ("the restart limit after a success with policy always", "[restart]\npolicy = \"always\"", &[
                (Op::Start(42), &[STARTED, "1001 orders|42|0"]),
                (Op::ExitDone(Code(0), 10, None), &["1002 orders|42|exit code 0|10ms", "3002 orders|10|2m"]),
            ]),
            ("a Windows status code in hex", "", &[
                (Op::Start(42), &[STARTED, "1001 orders|42|0"]),
                (Op::ExitBackoff(Code(0xC000_0005_u32 as i32), 10, 1_000), &["2001 orders|42|exit code 0xC0000005|10ms", "1003 orders|1s"]),
            ]),
            ("a stop that times out", "[stop]\ntimeout = \"5s\"", &[
                (Op::Start(42), &[STARTED, "1001 orders|42|0"]),
                (Op::Stop, &["1004 orders|42|sent a Ctrl-C event|5s"]),
                (Op::StopTimeout, &["2002 orders|42|5s"]),
                (Op::StopExit(Code(1), 5_000, None), &["1005 orders|42|exit code 1|5s", "1006 orders"]),
            ]),
            ("a restart on request", "", &[
                (Op::Start(42), &[STARTED, "1001 orders|42|0"]),
                (Op::Stop, &["1004 orders|42|sent a Ctrl-C event|10s"]),
                (Op::StopExit(Code(0), 61_000, Some(43)), &["1005 orders|42|exit code 0|1m 1s", "1001 orders|43|1"]),
            ]),
            ("a restart on request whose start fails", "", &[
                (Op::Start(42), &[STARTED, "1001 orders|42|0"]),
                (Op::Stop, &["1004 orders|42|sent a Ctrl-C event|10s"]),
                (Op::StopExit(Code(0), 1_500, Some(-1)), &["1005 orders|42|exit code 0|1.5s", CANNOT, "1003 orders|100ms"]),
            ]),
            ("a kill request, then the kill", "", &[
                (Op::Start(42), &[STARTED, "1001 orders|42|0"]),
                (Op::Kill, &["1008 orders|42|a second stop request"]),
                (Op::StopExit(Code(1), 700, None), &["1005 orders|42|exit code 1|700ms", "1006 orders"]),
            ]),
            ("a stop during a backoff", "", &[
                (Op::Start(42), &[STARTED, "1001 orders|42|0"]),
                (Op::ExitBackoff(Code(1), 10, 30_000), &["2001 orders|42|exit code 1|10ms", "1003 orders|30s"]),
                (Op::StopInBackoff, &["1006 orders"]),
            ]),
            ("a program that cannot be started, then starts", "", &[
                (Op::StartFails(Ok(100)), &[STARTED, CANNOT, "1003 orders|100ms"]),
                (Op::StartFails(Ok(200)), &[CANNOT, "1003 orders|200ms"]),
                (Op::Start(42), &["1001 orders|42|0"]),
            ]),
            ("a program that cannot be started until the limit", "", &[
                (Op::StartFails(Ok(100)), &[STARTED, CANNOT, "1003 orders|100ms"]),
                (Op::StartFails(Err(None)), &[CANNOT, "3002 orders|10|2m"]),
            ]),
            ("a program that cannot be started, policy never", "[restart]\npolicy = \"never\"", &[
                (Op::StartFails(Err(Some(Policy(Never)))), &[STARTED, CANNOT, "3001 orders|restart policy: never"]),
            ]),
            ("a policy spelled as the spec spells it", "[restart]\npolicy = \"always\"", &[
                (Op::Start(42), &[STARTED, "1001 orders|42|0"]),
                (Op::ExitDone(Code(0), 20, Some(Policy(Always))), &["1002 orders|42|exit code 0|20ms", "1007 orders|restart policy: always"]),
            ]),
            ("other stop methods: close", "[windows]\nstop = \"close\"", &[
                (Op::Start(42), &[STARTED, "1001 orders|42|0"]),
                (Op::Stop, &["1004 orders|42|sent WM_CLOSE to its windows|10s"]),
            ]),
            ("other stop methods: kill", "[windows]\nstop = \"kill\"", &[
                (Op::Start(42), &[STARTED, "1001 orders|42|0"]),
                (Op::Stop, &["1008 orders|42|windows.stop = \"kill\""]),
            ]),
            ("other stop methods: an HTTP hook", "[stop]\nhttp = \"http://127.0.0.1:8080/shutdown\"", &[
                (Op::Start(42), &[STARTED, "1001 orders|42|0"]),
                (Op::Stop, &["1004 orders|42|sent an HTTP POST to http://127.0.0.1:8080/shutdown|10s"]),
                (Op::Hook(true), &[]),
                (Op::StopTimeout, &["2002 orders|42|10s"]),
                (Op::StopExit(Code(1), 10_000, None), &["1005 orders|42|exit code 1|10s", "1006 orders"]),
            ]),
            ("a failed stop hook, then the request", "[stop]\nhttp = \"http://127.0.0.1:8080/shutdown\"", &[
                (Op::Start(42), &[STARTED, "1001 orders|42|0"]),
                (Op::Stop, &["1004 orders|42|sent an HTTP POST to http://127.0.0.1:8080/shutdown|10s"]),
                (Op::Hook(false), &[]),
                (Op::StopExit(Code(0), 300, None), &["1005 orders|42|exit code 0|300ms", "1006 orders"]),
            ]),
            ("an upgrade from the spec's command: the switch, the restart on the release, its check", "", &[
                (Op::Start(42), &[STARTED, "1001 orders|42|0"]),
                (Op::Switch(None, Some("1.2"), None), &["1010 orders|the spec's command|release 1.2"]),
                (Op::Stop, &["1004 orders|42|sent a Ctrl-C event|10s"]),
                (Op::StopExit(Code(0), 2_000, Some(43)), &["1005 orders|42|exit code 0|2s", "1001 orders|43|1"]),
                (Op::Upgraded("1.2", 1_400), &["1011 orders|release 1.2|1.4s"]),
            ]),
            ("an upgrade that is not ready, rolled back", "", &[
                (Op::Start(42), &[STARTED, "1001 orders|42|0"]),
                (Op::Switch(Some("1.1"), Some("1.2"), None), &["1010 orders|release 1.1|release 1.2"]),
                (Op::Stop, &["1004 orders|42|sent a Ctrl-C event|10s"]),
                (Op::StopExit(Code(0), 2_000, Some(43)), &["1005 orders|42|exit code 0|2s", "1001 orders|43|1"]),
                (Op::Switch(Some("1.2"), Some("1.1"), Some("release 1.2 was not ready within 1m: exited with exit code 1.")),
                    &["2004 orders|release 1.2|release 1.1|release 1.2 was not ready within 1m: exited with exit code 1"]),
            ]),
            ("tend rollback to before the first upgrade", "", &[
                (Op::Start(42), &[STARTED, "1001 orders|42|0"]),
                (Op::Switch(Some("1.2"), None, Some("on request (tend rollback)")),
                    &["2004 orders|release 1.2|the spec's command|on request (tend rollback)"]),
            ]),
            ("other stop methods: a command hook", "[stop]\ncommand = [\"C:/orders/orders.exe\", \"drain\"]", &[
                (Op::Start(42), &[STARTED, "1001 orders|42|0"]),
                (Op::Stop, &["1004 orders|42|ran the stop command C:/orders/orders.exe|10s"]),
            ]),
        ]
    };

    /// What was the known blind spot of the old, status-diffing mapper: a start that
    /// fails right after a restart at once. The run before it is reported now.
    #[test]
    fn a_failed_start_after_a_restart_at_once_keeps_the_exit_before_it() {
        let mut sim = Sim::new("");
        sim.apply(Op::Start(42));
        let run = sim.run(X::Code(1), 20);
        sim.status.restarts += 1;
        let (got, _) = sim.cannot_start(Start::AtOnce(Ended::Exited(run)));
        assert_eq!(
            got,
            ["2001 orders|42|exit code 1|20ms", "1003 orders|0s", CANNOT]
        );
    }
}
