//! Hosting under systemd: speaks the notify protocol and pings the watchdog when the
//! unit asks for them (`NOTIFY_SOCKET`, `WATCHDOG_USEC`); nothing otherwise.

use crate::supervise::event::Event;
use crate::supervise::service::Observer;
use std::cell::Cell;
use std::rc::Rc;

use crate::supervise::state::{HealthState, State, Status};

/// Adds systemd's observer to `observers` and starts the watchdog, when this process
/// runs under a unit that listens (must be called inside a `LocalSet`).
pub fn attach(observers: &mut Vec<Box<dyn Observer>>) {
    let unhealthy = Rc::new(Cell::new(false));
    if let Some(n) = tend_service::systemd::Notifier::from_env() {
        observers.push(Box::new(SdNotify {
            notifier: n,
            ready: false,
            unhealthy: unhealthy.clone(),
        }));
    }
    if let Some(n) = tend_service::systemd::Notifier::from_env() {
        spawn_watchdog(n, unhealthy);
    }
}

/// Speaks systemd's notify protocol: `READY=1` once the child first runs (with
/// `[health]`: once a probe first passes), `STATUS=` on every change, `STOPPING=1`
/// when a stop that ends the service begins.
struct SdNotify {
    notifier: tend_service::systemd::Notifier,
    ready: bool,
    /// Shared with the watchdog, which does not ping while it is set.
    unhealthy: Rc<Cell<bool>>,
}

impl Observer for SdNotify {
    fn changed(&mut self, status: &Status, event: &Event) {
        let n = &self.notifier;
        // Not while tend restarts it (a stop and a backoff can outlast WatchdogSec).
        self.unhealthy.set(
            status.state == State::Running
                && status
                    .health
                    .as_ref()
                    .is_some_and(|h| h.state == HealthState::Unhealthy),
        );
        if status.ready() && !self.ready {
            self.ready = n.ready().is_ok();
        }
        // A stop that ends the service; not one followed by a start (a restart on
        // request, or of an unhealthy child), after which systemd would wait for the
        // main process to exit and kill it at TimeoutStopSec.
        if matches!(
            event,
            Event::StopRequested { restart: false, .. } | Event::Killing { .. }
        ) {
            let _ = n.stopping();
        }
        let _ = n.status(&format!("{}: {event}", status.state.as_str()));
    }
}

/// Pings the systemd watchdog at half its interval while the supervisor's loop runs
/// and the service is not unhealthy (so that `WatchdogSec=` acts on failed health
/// checks too).
fn spawn_watchdog(notifier: tend_service::systemd::Notifier, unhealthy: Rc<Cell<bool>>) {
    if let Some(interval) = tend_service::systemd::watchdog_interval_any_pid() {
        tokio::task::spawn_local(async move {
            let mut tick = tokio::time::interval(interval / 2);
            loop {
                tick.tick().await;
                if !unhealthy.get() {
                    let _ = notifier.watchdog();
                }
            }
        });
    }
}
