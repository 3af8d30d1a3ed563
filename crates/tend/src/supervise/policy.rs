//! Restart policy as pure functions: given how the child ended, how long it ran and
//! when, decide whether to restart it and after what delay. Time is passed in, so the
//! whole policy is table-tested without a clock.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

#[cfg(unix)]
use crate::spec::Signal;
use crate::spec::{Backoff, Health, Restart, RestartPolicy};

use super::event::NotRestarted;
use super::state::HealthState;

/// How a child process ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    /// It exited with this code.
    Code(i32),
    /// It was killed by this signal (Unix).
    Signal(i32),
}

impl Exit {
    /// Whether this counts as success under `restart.success_codes`.
    pub fn is_success(self, restart: &Restart) -> bool {
        matches!(self, Exit::Code(c) if restart.success_codes.contains(&c))
    }
}

impl std::fmt::Display for Exit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Exit::Code(c) => write!(f, "exit code {c}"),
            Exit::Signal(s) => write!(f, "signal {}", signal_name(*s)),
        }
    }
}

/// A signal's conventional name, or its number: the spec's stop signals by the names
/// the spec gives them ([`Signal::name`]), the other signals a program commonly dies
/// of by theirs.
pub fn signal_name(sig: i32) -> String {
    #[cfg(unix)]
    {
        if let Some(s) = Signal::ALL.iter().find(|s| s.number() == sig) {
            return s.name().to_string();
        }
        let other = [
            (libc::SIGILL, "SIGILL"),
            (libc::SIGABRT, "SIGABRT"),
            (libc::SIGFPE, "SIGFPE"),
            (libc::SIGSEGV, "SIGSEGV"),
            (libc::SIGPIPE, "SIGPIPE"),
            (libc::SIGALRM, "SIGALRM"),
            (libc::SIGBUS, "SIGBUS"),
        ];
        if let Some((_, name)) = other.iter().find(|(n, _)| *n == sig) {
            return name.to_string();
        }
    }
    sig.to_string()
}

/// What to do after the child exited.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Start it again after `delay`; this is restart number `count` of the service.
    Restart {
        /// The backoff delay.
        delay: Duration,
    },
    /// The service has ended and is not restarted; `success` says how it ended.
    Done {
        /// Whether the last exit counted as success.
        success: bool,
        /// Why it is not restarted.
        reason: NotRestarted,
    },
    /// Too many restarts within the window: the service has failed.
    GiveUp {
        /// How many restarts happened within the window.
        restarts: u32,
    },
}

/// The delay before restart number `n` in a row (0-based): the first is immediate, then
/// `initial`, `initial * factor`, ... up to `max`.
pub fn backoff_delay(b: &Backoff, n: u32) -> Duration {
    if n == 0 {
        return Duration::ZERO;
    }
    let initial = b.initial.get().as_secs_f64();
    let max = b.max.get().as_secs_f64();
    let exp = i32::try_from(n - 1).unwrap_or(i32::MAX);
    let secs = (initial * b.factor.powi(exp)).min(max);
    if secs.is_finite() && secs >= 0.0 {
        Duration::from_secs_f64(secs)
    } else {
        b.max.get()
    }
}

/// Remembers recent restarts, for the backoff and the restart limit.
#[derive(Clone, Debug, Default)]
pub struct RestartTracker {
    /// Restarts in a row without a stable run in between.
    consecutive: u32,
    /// When recent restarts happened (only those within the window are kept).
    recent: VecDeque<Instant>,
}

impl RestartTracker {
    /// Decides what follows `exit`, for a child that ran for `ran_for`, at `now`.
    pub fn on_exit(
        &mut self,
        cfg: &Restart,
        exit: Exit,
        ran_for: Duration,
        now: Instant,
    ) -> Decision {
        let success = exit.is_success(cfg);
        if let Exit::Code(c) = exit {
            if cfg.no_restart_codes.contains(&c) {
                return Decision::Done {
                    success,
                    reason: NotRestarted::NoRestartCode(c),
                };
            }
        }
        self.after(cfg, success, ran_for, now)
    }

    /// Decides what follows a child stopped for failing its health checks: a failure,
    /// whatever its exit (`restart.no_restart_codes` do not apply: it did not choose
    /// to exit).
    pub fn on_unhealthy(&mut self, cfg: &Restart, ran_for: Duration, now: Instant) -> Decision {
        self.after(cfg, false, ran_for, now)
    }

    /// The policy, the backoff and the limit, for an end that was a `success` or not.
    fn after(&mut self, cfg: &Restart, success: bool, ran_for: Duration, now: Instant) -> Decision {
        let restart = match cfg.policy {
            RestartPolicy::Always => true,
            RestartPolicy::OnFailure => !success,
            RestartPolicy::Never => false,
        };
        if !restart {
            return Decision::Done {
                success,
                reason: NotRestarted::Policy(cfg.policy),
            };
        }
        if ran_for >= cfg.backoff.reset_after.get() {
            self.consecutive = 0;
        }
        let window = cfg.window.get();
        while let Some(&t) = self.recent.front() {
            if now.saturating_duration_since(t) >= window {
                self.recent.pop_front();
            } else {
                break;
            }
        }
        let within = u32::try_from(self.recent.len()).unwrap_or(u32::MAX);
        if cfg.max_restarts > 0 && within >= cfg.max_restarts {
            return Decision::GiveUp { restarts: within };
        }
        let delay = backoff_delay(&cfg.backoff, self.consecutive);
        self.consecutive = self.consecutive.saturating_add(1);
        if cfg.max_restarts > 0 {
            self.recent.push_back(now);
        }
        Decision::Restart { delay }
    }
}

/// The longest wait between probes before the first healthy one, within
/// `health.start_period`: a service is found ready soon after it is.
pub const START_PROBE_EVERY: Duration = Duration::from_secs(1);

/// What [`ready_within`] adds to the probes' own times.
pub const READY_MARGIN: Duration = Duration::from_secs(5);

/// How long whoever waits for a start (`tend start`, `tend install --now`, a service
/// manager) gives it to become healthy: the start period, then `retries` probes, each
/// up to `timeout` and `interval` apart, and [`READY_MARGIN`]. By then the probes have
/// found it healthy or unhealthy.
pub fn ready_within(h: &Health) -> Duration {
    let probe = h.interval.get().saturating_add(h.timeout.get());
    h.start_period
        .get()
        .saturating_add(probe.saturating_mul(h.retries.max(1)))
        .saturating_add(READY_MARGIN)
}

/// What a probe's result changes in a service's health.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HealthChange {
    /// Nothing to report (a failure that does not count yet, or the same state).
    Same,
    /// It is healthy now: for the first time since the start, or `again` after it was
    /// unhealthy.
    Healthy {
        /// It was unhealthy.
        again: bool,
    },
    /// `health.retries` probes in a row failed.
    Unhealthy,
}

/// One child's health, from its probes' results: `starting` until a probe passes,
/// `unhealthy` after `health.retries` failures in a row (failures within
/// `health.start_period` of the start, before the first pass, do not count), `healthy`
/// again on the next pass. Time is passed in.
#[derive(Clone, Debug)]
pub struct HealthTracker {
    state: HealthState,
    failures: u32,
    started: Instant,
    /// Whether a probe has ended since the start.
    probed: bool,
}

impl HealthTracker {
    /// A child started at `started`.
    pub fn new(started: Instant) -> HealthTracker {
        HealthTracker {
            state: HealthState::Starting,
            failures: 0,
            started,
            probed: false,
        }
    }

    /// The state.
    pub fn state(&self) -> HealthState {
        self.state
    }

    /// Probes failed in a row (those that count).
    pub fn failures(&self) -> u32 {
        self.failures
    }

    /// Whether `now` is in the grace period: no probe passed yet and within
    /// `start_period` of the start.
    fn in_grace(&self, cfg: &Health, now: Instant) -> bool {
        self.state == HealthState::Starting
            && now.saturating_duration_since(self.started) < cfg.start_period.get()
    }

    /// A probe ended at `now`, passing or not.
    pub fn on_probe(&mut self, cfg: &Health, ok: bool, now: Instant) -> HealthChange {
        self.probed = true;
        if ok {
            self.failures = 0;
            let was = std::mem::replace(&mut self.state, HealthState::Healthy);
            return match was {
                HealthState::Healthy => HealthChange::Same,
                HealthState::Starting => HealthChange::Healthy { again: false },
                HealthState::Unhealthy => HealthChange::Healthy { again: true },
            };
        }
        if self.in_grace(cfg, now) {
            return HealthChange::Same;
        }
        self.failures = self.failures.saturating_add(1);
        if self.failures >= cfg.retries.max(1) && self.state != HealthState::Unhealthy {
            self.state = HealthState::Unhealthy;
            return HealthChange::Unhealthy;
        }
        HealthChange::Same
    }

    /// When the next probe starts, the last one having ended (or the child started)
    /// at `now`: `health.interval` later, or sooner ([`START_PROBE_EVERY`]) for the
    /// first probe and within the grace period.
    pub fn next_probe(&self, cfg: &Health, now: Instant) -> Instant {
        let every = cfg.interval.get();
        if !self.probed || self.in_grace(cfg, now) {
            now + every.min(START_PROBE_EVERY)
        } else {
            now + every
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::Duration as D;

    fn cfg(policy: RestartPolicy) -> Restart {
        Restart {
            policy,
            backoff: Backoff {
                initial: D::from_millis(100),
                max: D::from_secs(1),
                factor: 2.0,
                reset_after: D::from_secs(10),
            },
            max_restarts: 3,
            window: D::from_secs(60),
            success_codes: vec![0, 2],
            no_restart_codes: vec![78],
        }
    }

    #[cfg(unix)]
    #[test]
    fn signals_are_named_once_as_the_spec_names_them() {
        for s in Signal::ALL {
            assert_eq!(signal_name(s.number()), s.name(), "{s:?}");
        }
        assert_eq!(signal_name(libc::SIGSEGV), "SIGSEGV");
        assert_eq!(signal_name(libc::SIGABRT), "SIGABRT");
        assert_eq!(signal_name(libc::SIGWINCH), libc::SIGWINCH.to_string());
        assert_eq!(Exit::Signal(libc::SIGKILL).to_string(), "signal SIGKILL");
        assert_eq!(Exit::Code(3).to_string(), "exit code 3");
    }

    #[test]
    fn backoff_sequence() {
        let b = cfg(RestartPolicy::Always).backoff;
        let ms: Vec<u128> = (0..7).map(|n| backoff_delay(&b, n).as_millis()).collect();
        assert_eq!(ms, [0, 100, 200, 400, 800, 1000, 1000]);
        let flat = Backoff {
            factor: 1.0,
            ..b.clone()
        };
        assert_eq!(backoff_delay(&flat, 50).as_millis(), 100);
        assert_eq!(backoff_delay(&b, u32::MAX).as_millis(), 1000, "no overflow");
    }

    #[test]
    fn policy_table() {
        use Decision::*;
        use RestartPolicy::*;
        let t0 = Instant::now();
        let table = [
            // policy, exit, expected
            (
                Always,
                Exit::Code(0),
                Restart {
                    delay: Duration::ZERO,
                },
            ),
            (
                Always,
                Exit::Code(1),
                Restart {
                    delay: Duration::ZERO,
                },
            ),
            (
                Always,
                Exit::Code(78),
                Done {
                    success: false,
                    reason: NotRestarted::NoRestartCode(78),
                },
            ),
            (
                OnFailure,
                Exit::Code(0),
                Done {
                    success: true,
                    reason: NotRestarted::Policy(OnFailure),
                },
            ),
            (
                OnFailure,
                Exit::Code(2),
                Done {
                    success: true,
                    reason: NotRestarted::Policy(OnFailure),
                },
            ),
            (
                OnFailure,
                Exit::Code(1),
                Restart {
                    delay: Duration::ZERO,
                },
            ),
            (
                OnFailure,
                Exit::Signal(9),
                Restart {
                    delay: Duration::ZERO,
                },
            ),
            (
                OnFailure,
                Exit::Code(78),
                Done {
                    success: false,
                    reason: NotRestarted::NoRestartCode(78),
                },
            ),
            (
                Never,
                Exit::Code(1),
                Done {
                    success: false,
                    reason: NotRestarted::Policy(Never),
                },
            ),
            (
                Never,
                Exit::Code(0),
                Done {
                    success: true,
                    reason: NotRestarted::Policy(Never),
                },
            ),
            (
                Never,
                Exit::Signal(15),
                Done {
                    success: false,
                    reason: NotRestarted::Policy(Never),
                },
            ),
        ];
        for (policy, exit, want) in table {
            let mut t = RestartTracker::default();
            let got = t.on_exit(&cfg(policy), exit, Duration::from_secs(1), t0);
            assert_eq!(got, want, "{policy:?} {exit:?}");
        }
    }

    #[test]
    fn quick_crashes_back_off_and_hit_the_limit() {
        let c = cfg(RestartPolicy::OnFailure);
        let mut t = RestartTracker::default();
        let t0 = Instant::now();
        let quick = Duration::from_millis(5);
        let mut seen = Vec::new();
        for i in 0..4u64 {
            seen.push(t.on_exit(&c, Exit::Code(1), quick, t0 + Duration::from_secs(i)));
        }
        assert_eq!(
            seen,
            [
                Decision::Restart {
                    delay: Duration::ZERO
                },
                Decision::Restart {
                    delay: Duration::from_millis(100)
                },
                Decision::Restart {
                    delay: Duration::from_millis(200)
                },
                Decision::GiveUp { restarts: 3 },
            ]
        );
    }

    #[test]
    fn restarts_outside_the_window_do_not_count() {
        let c = cfg(RestartPolicy::OnFailure);
        let mut t = RestartTracker::default();
        let t0 = Instant::now();
        for i in 0..10u64 {
            let d = t.on_exit(
                &c,
                Exit::Code(1),
                Duration::from_millis(5),
                t0 + Duration::from_secs(30 * i),
            );
            assert!(matches!(d, Decision::Restart { .. }), "restart {i}: {d:?}");
        }
    }

    #[test]
    fn a_stable_run_resets_the_backoff() {
        let c = cfg(RestartPolicy::Always);
        let mut t = RestartTracker::default();
        let t0 = Instant::now();
        t.on_exit(&c, Exit::Code(1), Duration::from_millis(5), t0);
        let second = t.on_exit(&c, Exit::Code(1), Duration::from_millis(5), t0);
        assert_eq!(
            second,
            Decision::Restart {
                delay: Duration::from_millis(100)
            }
        );
        let after_stable = t.on_exit(
            &c,
            Exit::Code(1),
            Duration::from_secs(11),
            t0 + Duration::from_secs(61),
        );
        assert_eq!(
            after_stable,
            Decision::Restart {
                delay: Duration::ZERO
            }
        );
    }

    #[test]
    fn zero_means_no_limit() {
        let mut c = cfg(RestartPolicy::Always);
        c.max_restarts = 0;
        let mut t = RestartTracker::default();
        let t0 = Instant::now();
        for _ in 0..10_000 {
            assert!(matches!(
                t.on_exit(&c, Exit::Code(1), Duration::ZERO, t0),
                Decision::Restart { .. }
            ));
        }
    }

    fn health(start_period: u64, retries: u32) -> Health {
        Health {
            tcp: Some("127.0.0.1:1".into()),
            interval: D::from_secs(5),
            start_period: D::from_secs(start_period),
            retries,
            ..Health::default()
        }
    }

    /// Each row: seconds after the start, the probe passed, the change, then the
    /// state and the failures in a row.
    #[test]
    fn health_follows_the_probes() {
        use HealthChange::{Healthy, Same, Unhealthy};
        use HealthState as S;
        let t0 = Instant::now();
        #[rustfmt::skip]
        type Step = (u64, bool, HealthChange, S, u32);
        let cases: &[(&str, Health, &[Step])] = &[
            (
                "failures within the start period do not count; a pass ends it",
                health(30, 2),
                &[
                    (1, false, Same, S::Starting, 0),
                    (29, false, Same, S::Starting, 0),
                    (30, false, Same, S::Starting, 1),
                    (31, true, Healthy { again: false }, S::Healthy, 0),
                    (36, false, Same, S::Healthy, 1),
                    (41, false, Unhealthy, S::Unhealthy, 2),
                    (46, false, Same, S::Unhealthy, 3),
                    (51, true, Healthy { again: true }, S::Healthy, 0),
                    (56, true, Same, S::Healthy, 0),
                ],
            ),
            (
                "after the first pass the start period is over",
                health(60, 1),
                &[
                    (1, true, Healthy { again: false }, S::Healthy, 0),
                    (6, false, Unhealthy, S::Unhealthy, 1),
                ],
            ),
            (
                "never healthy: unhealthy after the retries, from starting",
                health(0, 3),
                &[
                    (1, false, Same, S::Starting, 1),
                    (6, false, Same, S::Starting, 2),
                    (11, false, Unhealthy, S::Unhealthy, 3),
                ],
            ),
            (
                "a pass between failures starts the count over",
                health(0, 2),
                &[
                    (1, false, Same, S::Starting, 1),
                    (6, true, Healthy { again: false }, S::Healthy, 0),
                    (11, false, Same, S::Healthy, 1),
                    (16, true, Same, S::Healthy, 0),
                    (21, false, Same, S::Healthy, 1),
                ],
            ),
        ];
        for (what, cfg, steps) in cases {
            let mut t = HealthTracker::new(t0);
            for (i, &(at, ok, change, state, failures)) in steps.iter().enumerate() {
                let got = t.on_probe(cfg, ok, t0 + Duration::from_secs(at));
                assert_eq!(
                    (got, t.state(), t.failures()),
                    (change, state, failures),
                    "{what}: step {i}"
                );
            }
        }
    }

    #[test]
    fn probes_come_sooner_until_the_first_pass_within_the_start_period() {
        let t0 = Instant::now();
        let s = Duration::from_secs;
        let cfg = health(10, 3);
        let mut t = HealthTracker::new(t0);
        assert_eq!(t.next_probe(&cfg, t0), t0 + s(1), "the first probe");
        t.on_probe(&cfg, false, t0 + s(1));
        assert_eq!(
            t.next_probe(&cfg, t0 + s(1)),
            t0 + s(2),
            "in the start period"
        );
        t.on_probe(&cfg, false, t0 + s(10));
        assert_eq!(t.next_probe(&cfg, t0 + s(10)), t0 + s(15), "after it");
        let mut t = HealthTracker::new(t0);
        t.on_probe(&cfg, true, t0 + s(1));
        assert_eq!(t.next_probe(&cfg, t0 + s(1)), t0 + s(6), "healthy");
        // No start period: only the first probe comes sooner.
        let cfg = health(0, 3);
        let mut t = HealthTracker::new(t0);
        assert_eq!(t.next_probe(&cfg, t0), t0 + s(1));
        t.on_probe(&cfg, false, t0 + s(1));
        assert_eq!(t.next_probe(&cfg, t0 + s(1)), t0 + s(6));
        // An interval under a second is kept.
        let mut fast = health(10, 3);
        fast.interval = D::from_millis(200);
        let t = HealthTracker::new(t0);
        assert_eq!(t.next_probe(&fast, t0), t0 + Duration::from_millis(200));
    }

    #[test]
    fn a_start_may_take_the_start_period_and_the_retries() {
        // 30s + 3 * (5s + 2s) + 5s
        assert_eq!(ready_within(&health(30, 3)), Duration::from_secs(56));
        assert_eq!(ready_within(&health(0, 1)), Duration::from_secs(12));
    }

    #[test]
    fn an_unhealthy_stop_is_a_failure_whatever_the_exit() {
        let t0 = Instant::now();
        let mut c = cfg(RestartPolicy::OnFailure);
        let mut t = RestartTracker::default();
        assert_eq!(
            t.on_unhealthy(&c, Duration::from_secs(60), t0),
            Decision::Restart {
                delay: Duration::ZERO
            }
        );
        c.policy = RestartPolicy::Never;
        assert_eq!(
            t.on_unhealthy(&c, Duration::from_secs(60), t0),
            Decision::Done {
                success: false,
                reason: NotRestarted::Policy(RestartPolicy::Never)
            }
        );
        // Counted against the limit (3 within the window).
        c.policy = RestartPolicy::Always;
        let mut t = RestartTracker::default();
        for _ in 0..3 {
            assert!(matches!(
                t.on_unhealthy(&c, Duration::ZERO, t0),
                Decision::Restart { .. }
            ));
        }
        assert_eq!(
            t.on_unhealthy(&c, Duration::ZERO, t0),
            Decision::GiveUp { restarts: 3 }
        );
    }
}
