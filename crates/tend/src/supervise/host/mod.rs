//! Hosting: how the supervisor speaks to the service manager that started it. Two
//! siblings, each an observer of the services' status plus what its manager needs
//! besides:
//!
//! - [`systemd`]: the notify protocol (`READY=1`, `STATUS=`, `STOPPING=1`) and the
//!   watchdog, when `NOTIFY_SOCKET` is set (`tend run` under a `Type=notify` unit);
//! - [`scm`]: the Windows service control manager (`tend run --service`): its
//!   dispatcher, status reports (start pending, running, stop pending, stopped with an
//!   exit code), its controls turned into requests, and the Event Log.
//!
//! Both exist on every platform: systemd's notify socket is simply absent elsewhere,
//! and where there is no SCM `tend run --service` does not parse, so [`scm::serve`]
//! (present for `cli/`'s sake) is never called.

#[cfg(windows)]
pub mod scm;
#[cfg(not(windows))]
#[path = "scm_none.rs"]
pub mod scm;
pub mod systemd;

use crate::supervise::event::Event;
use crate::supervise::state::State;

/// What the SCM is to be told of a pause after `event` (with the service in `state`
/// after it), `was_paused` saying whether PAUSED was the last report: `Some(true)`
/// PAUSED, `Some(false)` RUNNING again, `None` nothing. A tree frozen is paused, one
/// let run is running; a child that ended while paused (killed from outside) leaves
/// nothing frozen, so the service runs again (restarting it, or stopping).
pub fn scm_paused(was_paused: bool, state: State, event: &Event) -> Option<bool> {
    match event {
        Event::Paused { .. } => Some(true),
        Event::Continued { .. } => Some(false),
        _ if was_paused && state != State::Paused => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::supervise::event::StopBy;

    #[test]
    fn the_scm_is_told_paused_and_running_as_the_tree_is_frozen_and_let_run() {
        let paused = Event::Paused {
            pid: 42,
            how: "suspended 1 threads of 1 processes in its job".into(),
        };
        let continued = Event::Continued {
            pid: 42,
            paused: Duration::from_secs(3),
            how: "resumed 1 threads of 1 processes in its job".into(),
        };
        let killing = Event::Killing {
            pid: 42,
            by: Some(StopBy::ServiceManager),
        };
        let started = Event::Started {
            pid: 43,
            start: crate::supervise::event::Start::Again,
        };
        #[rustfmt::skip]
        let cases: &[(bool, State, &Event, Option<bool>)] = &[
            (false, State::Paused, &paused, Some(true)),
            // Again (a second `sc pause`): said again, harmless.
            (true, State::Paused, &paused, Some(true)),
            (true, State::Running, &continued, Some(false)),
            // A stop while paused lets it run first: RUNNING (the handle keeps STOP_PENDING).
            (true, State::Stopping, &continued, Some(false)),
            // Killed while paused: nothing frozen any more.
            (true, State::Stopping, &killing, Some(false)),
            // The child ended while paused and was started again.
            (true, State::Running, &started, Some(false)),
            // Nothing to do with a pause.
            (false, State::Running, &started, None),
            (false, State::Stopping, &killing, None),
        ];
        for (i, (was, state, event, want)) in cases.iter().enumerate() {
            assert_eq!(scm_paused(*was, *state, event), *want, "case {i}: {event}");
        }
    }
}
