//! Upgrades and rollbacks of a running service (`tend upgrade`, `tend rollback`): the
//! supervisor's side.
//!
//! An upgrade is staged off the loop (the signature checked, the release unpacked: see
//! [`crate::update::release`]), then the loop switches the release index, points the
//! service's prepared command at the new program and restarts the child (with
//! `[[listen]]` sockets held by the supervisor, nothing is refused meanwhile). A gate
//! then watches the service's state: the release passes once the new child is ready
//! (its first healthy probe; without `[health]`, still running [`SETTLE`] after its
//! start, or half of `verify_within`) within `update.verify_within`. If not, the loop switches back, restarts the
//! release before, and the client hears why. Each step reaches the observers as an
//! [`Event::Switching`] or [`Event::Upgraded`].

use std::path::PathBuf;
use std::rc::Rc;
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use super::control::{self, Answer, Done};
use super::event::{release_name, Event, StopBy};
use super::service::{Control, ServiceSetup};
use super::state::State;
use super::{Seen, Services};
use crate::spec::Spec;
use crate::update::minisign::Key;
use crate::update::release::{default_program, Artifact, Index, StageError, Staged, Store};

/// Without `[health]`, how long a new release must run to pass (or half of
/// `verify_within`, if shorter): a program that exits at once fails the gate.
pub const SETTLE: Duration = Duration::from_secs(3);

/// How long a client waits for the staging (a large archive takes a while to check
/// and unpack).
const STAGE_WITHIN: Duration = Duration::from_secs(600);

/// What the supervisor knows of a service's releases (`[update]`).
pub(super) struct Releases {
    store: Store,
    keys: Vec<Key>,
    /// `update.program`, or the file name of the program `command` runs.
    program: String,
    keep: u32,
    verify_within: Duration,
    /// The spec's own program, for a rollback to before the first upgrade.
    base: PathBuf,
}

impl Releases {
    /// The releases of `spec` in `state_dir`, when it has `[update]`; `base` is the
    /// program prepared from `command`. The folders are created (so a `tend upgrade`
    /// run by root writes into a folder that the supervisor's account owns).
    pub(super) fn of(spec: &Spec, state_dir: &std::path::Path, base: PathBuf) -> Option<Releases> {
        let u = spec.update.as_ref()?;
        let store = Store::of(state_dir, spec.name.as_str());
        let _ = std::fs::create_dir_all(store.incoming());
        let program = u
            .program
            .clone()
            .unwrap_or_else(|| default_program(&spec.command, Some(&base)));
        Some(Releases {
            store,
            keys: u
                .public_keys
                .iter()
                .filter_map(|k| Key::parse(k).ok())
                .collect(),
            program,
            keep: u.keep,
            verify_within: u.verify_within.get(),
            base,
        })
    }

    /// The program to run for release `id` (`None`: the spec's own).
    pub(super) fn program_of(&self, id: Option<&str>) -> PathBuf {
        match id {
            Some(id) => self.store.program(id, &self.program),
            None => self.base.clone(),
        }
    }

    /// The program of the current release, or why it cannot run.
    pub(super) fn current_program(&self) -> Result<(Option<String>, PathBuf), String> {
        let index = self.store.index().map_err(|e| crate::text::io_error(&e))?;
        let program = self.program_of(index.current.as_deref());
        if index.current.is_some() && !program.is_file() {
            return Err(format!(
                "the current release's program {} is missing (the index is {}): remove the index to run the spec's command",
                program.display(),
                self.store.dir().join("index.json").display()
            ));
        }
        Ok((index.current, program))
    }
}

/// A step of an upgrade, from its tasks back to the loop.
pub(super) enum Step {
    /// The artifact was verified and unpacked (or not).
    Staged {
        i: usize,
        reply: mpsc::UnboundedSender<Answer>,
        result: Result<Staged, StageError>,
        dry_run: bool,
    },
    /// The gate's verdict on release `to`: ready after this long, or why not.
    Gated {
        i: usize,
        reply: mpsc::UnboundedSender<Answer>,
        from: Option<String>,
        to: String,
        result: Result<Duration, Failure>,
    },
}

/// Why a release did not pass its check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Failure {
    /// In the words of the service's state: the last probe's error, how it ended.
    pub(super) why: String,
    /// It was not ready in time (else it gave up, or could not run, before).
    pub(super) timed_out: bool,
}

impl Services<'_> {
    /// `tend upgrade`: stage the artifact off the loop; [`Self::upgrade_step`] goes on.
    pub(super) fn begin_upgrade(
        &mut self,
        i: usize,
        up: control::Upgrade,
        reply: mpsc::UnboundedSender<Answer>,
    ) {
        let name = self.specs[i].name.to_string();
        let setup = self.setups[i].clone();
        let Some(rel) = &setup.releases else {
            let _ = reply.send(Answer::Done(Done::new(
                false,
                None,
                format!("`{name}` has no [update] in its spec, so no release can be verified: add [update] public_keys = [\"RW...\"]"),
            )));
            return;
        };
        self.upgrading[i] = true;
        let _ = reply.send(Answer::Accepted {
            accepted: true,
            wait_ms: STAGE_WITHIN.as_millis() as u64,
        });
        let (store, keys, program) = (rel.store.clone(), rel.keys.clone(), rel.program.clone());
        let steps = self.steps_tx.clone();
        tokio::task::spawn_local(async move {
            let dry_run = up.dry_run;
            let artifact = Artifact {
                path: up.artifact,
                signature: up.signature,
                source: up.source,
                version: up.version,
                signed_as_named: up.signed_as_named,
            };
            let result = tokio::task::spawn_blocking(move || {
                if dry_run {
                    store.check(&artifact, &keys)
                } else {
                    store.stage(&artifact, &keys, &program)
                }
            })
            .await
            .unwrap_or_else(|e| {
                Err(StageError::Io {
                    what: "stage the release".into(),
                    error: e.to_string(),
                })
            });
            let _ = steps.send(Step::Staged {
                i,
                reply,
                result,
                dry_run,
            });
        });
    }

    /// The next step of an upgrade.
    pub(super) fn upgrade_step(&mut self, step: Step) {
        match step {
            Step::Staged {
                i,
                reply,
                result,
                dry_run,
            } => self.staged(i, reply, result, dry_run),
            Step::Gated {
                i,
                reply,
                from,
                to,
                result,
            } => self.gated(i, reply, from, to, result),
        }
    }

    fn staged(
        &mut self,
        i: usize,
        reply: mpsc::UnboundedSender<Answer>,
        result: Result<Staged, StageError>,
        dry_run: bool,
    ) {
        let name = self.specs[i].name.to_string();
        let seen = self.states[i].borrow().clone();
        let fail = |this: &mut Self, message: String| {
            this.upgrading[i] = false;
            let _ = reply.send(Answer::Done(Done::new(
                false,
                Some(seen.state.as_str()),
                message,
            )));
        };
        let staged = match result {
            Ok(s) => s,
            Err(e) => {
                self.upgrading[i] = false;
                let mut done = Done::new(
                    false,
                    Some(seen.state.as_str()),
                    format!("`{name}` not upgraded: {e}; nothing changed"),
                );
                done.refused = e.refused();
                let _ = reply.send(Answer::Done(done));
                return;
            }
        };
        let setup = self.setups[i].clone();
        let rel = setup
            .releases
            .as_ref()
            .expect("staged for a service with [update]");
        let index = match rel.store.index() {
            Ok(index) => index,
            Err(e) => {
                return fail(
                    self,
                    format!("`{name}` not upgraded: {}", crate::text::io_error(&e)),
                )
            }
        };
        let to = staged.id.clone();
        let from = index.current.clone();
        let verify_within = rel.verify_within;
        if dry_run {
            self.upgrading[i] = false;
            let message = if from.as_deref() == Some(to.as_str()) {
                format!("`{name}` runs release {to} already: nothing to do")
            } else {
                format!(
                    "would switch `{name}` from {} to release {to} (signed by key {}), restart it, and roll back unless it is ready within {}; nothing changed (dry run)",
                    release_name(from.as_deref()),
                    staged.meta.key,
                    crate::supervise::event::show_duration(verify_within),
                )
            };
            let _ = reply.send(Answer::Done(Done::new(
                true,
                Some(seen.state.as_str()),
                message,
            )));
            return;
        }
        if self.stopping.is_some() {
            return fail(
                self,
                format!("`{name}` not upgraded: the supervisor is stopping every service"),
            );
        }
        let _ = reply.send(Answer::Progress {
            progress: format!(
                "verified: signed by key {}; release {to} {} {}",
                staged.meta.key,
                if staged.existed {
                    "was already in"
                } else {
                    "unpacked into"
                },
                rel.store.release_dir(&to).display()
            ),
        });
        if from.as_deref() == Some(to.as_str()) {
            self.upgrading[i] = false;
            let _ = reply.send(Answer::Done(Done::new(
                true,
                Some(seen.state.as_str()),
                format!("`{name}` runs release {to} already: nothing to do"),
            )));
            return;
        }
        // On trial until it passes: a supervisor that starts meanwhile checks it again.
        let mut next = index.switched(&to);
        next.trial = Some(to.clone());
        if let Err(e) = self.switch(i, &next) {
            return fail(self, format!("`{name}` not upgraded: {e}"));
        }
        // (Stopping: to be started again, a restart's or a failed probe's; a stop for
        // good was refused before. Paused: the restart lets its tree run first.)
        let alive = self.tasks[i].is_some()
            && matches!(
                seen.state,
                State::Running | State::Backoff | State::Starting | State::Stopping | State::Paused
            );
        if !alive {
            // Not running: nothing to check now; its next start runs it, unchecked.
            next.trial = None;
            let _ = self.switch(i, &next);
            self.upgrading[i] = false;
            let _ = reply.send(Answer::Done(Done::new(
                true,
                Some(seen.state.as_str()),
                format!("release {to} is current; `{name}` is not running, and runs it at its next start (`tend start {name}`)"),
            )));
            return;
        }
        self.restart_on_release(i, from.clone(), Some(to.clone()), None);
        let _ = reply.send(Answer::Accepted {
            accepted: true,
            wait_ms: control::wait_for(
                self.specs[i]
                    .stop
                    .timeout
                    .get()
                    .saturating_add(verify_within),
            )
            .as_millis() as u64,
        });
        let _ = reply.send(Answer::Progress {
            progress: format!(
                "restarting `{name}` on release {to}; waiting up to {} for it to be ready",
                crate::supervise::event::show_duration(verify_within)
            ),
        });
        let has_health = self.specs[i].health.is_some();
        let rx = {
            let mut rx = self.states[i].clone();
            rx.borrow_and_update();
            rx
        };
        let steps = self.steps_tx.clone();
        let old_pid = seen.pid;
        tokio::task::spawn_local(async move {
            let result = gate(rx, old_pid, has_health, verify_within).await;
            let _ = steps.send(Step::Gated {
                i,
                reply,
                from,
                to,
                result,
            });
        });
    }

    /// Releases left on trial by a supervisor that stopped during their check (or a
    /// machine that went down): checked again from the first start, with no client
    /// waiting (what happens goes to the log).
    pub(super) fn resume_trials(&mut self) {
        for i in 0..self.specs.len() {
            let setup = self.setups[i].clone();
            let Some(rel) = &setup.releases else { continue };
            let Ok(index) = rel.store.index() else {
                continue;
            };
            let (Some(trial), Some(current)) = (&index.trial, &index.current) else {
                continue;
            };
            if trial != current {
                continue;
            }
            let name = self.specs[i].name.to_string();
            say!(
                "tend: {name}: release {trial} was on trial when its last check was cut short: checking it again (within {})",
                crate::supervise::event::show_duration(rel.verify_within)
            );
            self.upgrading[i] = true;
            let (reply, mut answers) = mpsc::unbounded_channel();
            tokio::task::spawn_local(async move {
                while let Some(a) = answers.recv().await {
                    if let Answer::Done(d) = a {
                        say!("tend: {name}: {}", d.message);
                    }
                }
            });
            let rx = self.states[i].clone();
            let steps = self.steps_tx.clone();
            let has_health = self.specs[i].health.is_some();
            let (within, from, to) = (
                rel.verify_within,
                index.previous.first().cloned().flatten(),
                trial.clone(),
            );
            tokio::task::spawn_local(async move {
                let result = gate(rx, None, has_health, within).await;
                let _ = steps.send(Step::Gated {
                    i,
                    reply,
                    from,
                    to,
                    result,
                });
            });
        }
    }

    fn gated(
        &mut self,
        i: usize,
        reply: mpsc::UnboundedSender<Answer>,
        from: Option<String>,
        to: String,
        result: Result<Duration, Failure>,
    ) {
        let name = self.specs[i].name.to_string();
        self.upgrading[i] = false;
        let setup = self.setups[i].clone();
        let rel = setup
            .releases
            .as_ref()
            .expect("gated for a service with [update]");
        if self.stopping.is_some() {
            // Cut short, not failed: the release stays on trial, and the next start
            // checks it again.
            let _ = reply.send(Answer::Done(Done::new(
                false,
                None,
                format!("`{name}`: the supervisor is stopping before release {to} was found ready: its next start checks it again"),
            )));
            return;
        }
        match result {
            Ok(after) => {
                if let Ok(mut index) = rel.store.index() {
                    if index.trial.take().is_some() {
                        let _ = rel.store.write_index(&index);
                    }
                }
                let mut message = format!(
                    "`{name}` upgraded from {} to release {to}: ready after {}",
                    release_name(from.as_deref()),
                    crate::supervise::event::show_duration(after)
                );
                if let Ok(index) = rel.store.index() {
                    for problem in rel.store.prune(&index, rel.keep) {
                        message.push_str(&format!("; warning: {problem}"));
                    }
                }
                self.announce(i, Event::Upgraded { to, after });
                let seen = self.states[i].borrow().clone();
                let _ = reply.send(Answer::Done(Done::new(
                    true,
                    Some(seen.state.as_str()),
                    message,
                )));
            }
            Err(Failure { why, timed_out }) => {
                let why = if timed_out {
                    format!(
                        "release {to} was not ready within {}: {why}",
                        crate::supervise::event::show_duration(rel.verify_within)
                    )
                } else {
                    format!("release {to} failed: {why}")
                };
                let back = rel.store.index().map(|index| index.rolled_back());
                match back {
                    Ok(Some(back)) => {
                        let back_to = back.current.clone();
                        if let Err(e) = self.switch(i, &back) {
                            let _ = reply.send(Answer::Done(Done::new(
                                false,
                                None,
                                format!("`{name}`: {why}; and the rollback failed: {e}"),
                            )));
                            return;
                        }
                        if self.tasks[i].is_none() {
                            // It ended (gave up, or exited under its policy): started
                            // again on the release before.
                            self.start(i);
                            self.announce(
                                i,
                                Event::Switching {
                                    from: Some(to),
                                    to: back_to.clone(),
                                    rollback: Some(why.clone()),
                                },
                            );
                        } else {
                            self.restart_on_release(
                                i,
                                Some(to),
                                back_to.clone(),
                                Some(why.clone()),
                            );
                        }
                        let rx = {
                            let mut rx = self.states[i].clone();
                            rx.borrow_and_update();
                            rx
                        };
                        let prefix = format!(
                            "`{name}` rolled back to {}: {why}",
                            release_name(back_to.as_deref())
                        );
                        answer_when_settled(rx, reply, name, prefix, false);
                    }
                    Ok(None) | Err(_) => {
                        let _ = reply.send(Answer::Done(Done::new(
                            false,
                            None,
                            format!("`{name}`: {why}; there is no release to roll back to"),
                        )));
                    }
                }
            }
        }
    }

    /// `tend rollback`: back to the release before the current one.
    pub(super) fn rollback(&mut self, i: usize, reply: mpsc::UnboundedSender<Answer>) {
        let name = self.specs[i].name.to_string();
        let seen = self.states[i].borrow().clone();
        let done = |ok: bool, message: String| {
            let _ = reply.send(Answer::Done(Done::new(
                ok,
                Some(seen.state.as_str()),
                message,
            )));
        };
        let setup = self.setups[i].clone();
        let Some(rel) = &setup.releases else {
            return done(
                false,
                format!("`{name}` has no [update] in its spec: it has no releases"),
            );
        };
        let index = match rel.store.index() {
            Ok(index) => index,
            Err(e) => {
                return done(
                    false,
                    format!("`{name}` not rolled back: {}", crate::text::io_error(&e)),
                )
            }
        };
        let Some(back) = index.rolled_back() else {
            return done(
                false,
                format!(
                    "`{name}` runs {} and has no release before it to roll back to",
                    release_name(index.current.as_deref())
                ),
            );
        };
        let (from, to) = (index.current.clone(), back.current.clone());
        if to.is_some() && !rel.program_of(to.as_deref()).is_file() {
            return done(
                false,
                format!(
                    "`{name}` not rolled back: {} is not on disk any more ({} is missing)",
                    release_name(to.as_deref()),
                    rel.program_of(to.as_deref()).display()
                ),
            );
        }
        if let Err(e) = self.switch(i, &back) {
            return done(false, format!("`{name}` not rolled back: {e}"));
        }
        let alive = self.tasks[i].is_some()
            && matches!(
                seen.state,
                State::Running | State::Backoff | State::Starting | State::Paused
            );
        if !alive {
            return done(
                true,
                format!(
                    "`{name}` rolled back to {}; it is not running, and runs it at its next start",
                    release_name(to.as_deref())
                ),
            );
        }
        self.restart_on_release(
            i,
            from,
            to.clone(),
            Some("on request (tend rollback)".into()),
        );
        let rx = {
            let mut rx = self.states[i].clone();
            rx.borrow_and_update();
            rx
        };
        let _ = reply.send(Answer::Accepted {
            accepted: true,
            wait_ms: control::wait_for(
                self.specs[i]
                    .stop
                    .timeout
                    .get()
                    .saturating_add(rel.verify_within),
            )
            .as_millis() as u64,
        });
        let prefix = format!("`{name}` rolled back to {}", release_name(to.as_deref()));
        answer_when_settled(rx, reply, name, prefix, true);
    }

    /// Writes `index` and points the service's command at its current release.
    fn switch(&mut self, i: usize, index: &Index) -> Result<(), String> {
        let setup = self.setups[i].clone();
        let rel = setup
            .releases
            .as_ref()
            .expect("a switch of a service with [update]");
        let program = rel.program_of(index.current.as_deref());
        rel.store.write_index(index).map_err(|e| {
            format!(
                "cannot write the release index: {}",
                crate::text::io_error(&e)
            )
        })?;
        set_program(&self.setups[i], program);
        Ok(())
    }

    /// Says the switch and restarts the child on the release now current.
    fn restart_on_release(
        &mut self,
        i: usize,
        from: Option<String>,
        to: Option<String>,
        rollback: Option<String>,
    ) {
        self.announce(i, Event::Switching { from, to, rollback });
        if let Some(tx) = &self.controls[i] {
            let _ = tx.send(Control::Restart(StopBy::Client("tend upgrade")));
        }
    }

    /// Tells service `i`'s observers of `event` (through its actor, which owns them).
    fn announce(&mut self, i: usize, event: Event) {
        if let Some(tx) = &self.controls[i] {
            let _ = tx.send(Control::Announce(event));
        }
    }
}

/// Points `setup`'s prepared command at `program` (for its next start).
fn set_program(setup: &Rc<ServiceSetup>, program: PathBuf) {
    setup.prepared.borrow_mut().program = program;
}

/// Waits for a child other than `old_pid` to be ready (with `[health]`: its first
/// healthy probe; without: still running [`SETTLE`] after it started, or half of
/// `verify_within` if shorter) within `verify_within`; else says why not, in the words
/// of the service's state (the last probe's error, the exit).
pub(super) async fn gate(
    mut rx: watch::Receiver<Seen>,
    old_pid: Option<i32>,
    has_health: bool,
    verify_within: Duration,
) -> Result<Duration, Failure> {
    let began = Instant::now();
    let failed = |seen: &Seen, timed_out: bool| Failure {
        why: why_not(seen),
        timed_out,
    };
    let deadline = began + verify_within;
    let settle = SETTLE.min(verify_within / 2);
    // Without [health]: when the new child was seen running, and its pid.
    let mut running_since: Option<(Instant, Option<i32>)> = None;
    let mut last = rx.borrow().clone();
    loop {
        let seen = last.clone();
        let new_child = seen.pid.is_some() && seen.pid != old_pid;
        if new_child && seen.state == State::Running {
            if has_health {
                if seen.ready && !seen.unhealthy {
                    return Ok(began.elapsed());
                }
            } else {
                match running_since {
                    Some((at, pid)) if pid == seen.pid => {
                        if at.elapsed() >= settle {
                            return Ok(began.elapsed());
                        }
                    }
                    _ => running_since = Some((Instant::now(), seen.pid)),
                }
            }
        } else if !has_health {
            running_since = None;
        }
        if matches!(seen.state, State::Failed | State::Exited | State::Stopped) && new_child {
            return Err(failed(&seen, false));
        }
        let wake = match running_since {
            Some((at, _)) if !has_health => (at + settle).min(deadline),
            _ => deadline,
        };
        tokio::select! {
            changed = rx.changed() => {
                if changed.is_err() {
                    return Err(failed(&rx.borrow().clone(), false));
                }
                last = rx.borrow_and_update().clone();
            }
            () = tokio::time::sleep_until(wake) => {
                if Instant::now() >= deadline {
                    return Err(failed(&last, true));
                }
            }
        }
    }
}

/// Why a release did not pass, from what its service looks like.
fn why_not(seen: &Seen) -> String {
    if let Some(h) = &seen.health {
        return h.clone();
    }
    match (&seen.message, seen.state) {
        (Some(m), _) => m.clone(),
        (None, state) => format!("it is {}", state.as_str()),
    }
}

/// Answers once the service watched by `rx` has settled after a switch: `prefix`,
/// then what it is now. `ok`: whether a ready service answers success.
fn answer_when_settled(
    mut rx: watch::Receiver<Seen>,
    reply: mpsc::UnboundedSender<Answer>,
    name: String,
    prefix: String,
    ok: bool,
) {
    let old_pid = rx.borrow().pid;
    tokio::task::spawn_local(async move {
        let seen = loop {
            let ended = rx.changed().await.is_err();
            let seen = rx.borrow_and_update().clone();
            let new_child = seen.pid != old_pid;
            if ended
                || (new_child && seen.settled && seen.state != State::Stopping)
                || matches!(seen.state, State::Failed | State::Exited | State::Stopped)
            {
                break seen;
            }
        };
        let _ = reply.send(Answer::Done(Done::new(
            ok && seen.ready,
            Some(seen.state.as_str()),
            format!("{prefix}; {}", seen.describe(&name)),
        )));
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seen(state: State, pid: i32, ready: bool) -> Seen {
        Seen {
            state,
            pid: Some(pid),
            ready,
            settled: true,
            ..Seen::starting()
        }
    }

    /// Runs the gate over `changes` (after how long, what the service looks like),
    /// starting from the old child (pid 1) running: its verdict and when it came.
    async fn verdict(
        has_health: bool,
        within: Duration,
        changes: Vec<(u64, Seen)>,
    ) -> (Result<Duration, String>, Duration) {
        let (result, at) = verdict_full(has_health, within, changes).await;
        (result.map_err(|f| f.why), at)
    }

    async fn verdict_full(
        has_health: bool,
        within: Duration,
        changes: Vec<(u64, Seen)>,
    ) -> (Result<Duration, Failure>, Duration) {
        let (tx, rx) = watch::channel(seen(State::Running, 1, true));
        let began = Instant::now();
        tokio::task::spawn(async move {
            for (after_ms, s) in changes {
                tokio::time::sleep(Duration::from_millis(after_ms)).await;
                let _ = tx.send(s);
            }
            // Keep the sender: the gate decides by time, not by a closed channel.
            std::future::pending::<()>().await;
        });
        let result = gate(rx, Some(1), has_health, within).await;
        (result, began.elapsed())
    }

    #[test]
    fn a_release_holds_the_program_under_the_name_the_command_resolved_to() {
        // Windows: `command` without an extension runs the `.exe` (or `.cmd`) that the
        // lookup found; a release's copy must be that file, extension and all.
        let dir = tempfile::tempdir().unwrap();
        let spec = |update: &str| {
            let text = format!(
                "name = \"app\"\ncommand = 'C:\\app\\tend-fixture'\n[update]\npublic_keys = [\"RWQf6LRCGA9i53mlYecO4IzT51TGPpvWucNSCh1CBM0QTaLn73Y7GFO3\"]\n{update}"
            );
            crate::spec::load_str(std::path::Path::new("app.toml"), &text, &Default::default())
                .unwrap()
                .services
                .remove(0)
        };
        let resolved = PathBuf::from("C:/app").join("tend-fixture.exe");
        let rel = Releases::of(&spec(""), dir.path(), resolved.clone()).unwrap();
        assert_eq!(rel.program, "tend-fixture.exe");
        assert_eq!(
            rel.program_of(Some("2.0")),
            dir.path().join("releases/app/2.0/tend-fixture.exe")
        );
        assert_eq!(rel.program_of(None), resolved);
        // update.program is taken as written.
        let rel = Releases::of(&spec("program = 'bin/app.exe'"), dir.path(), resolved).unwrap();
        assert_eq!(rel.program, "bin/app.exe");
    }

    #[tokio::test(start_paused = true)]
    async fn with_health_the_first_healthy_probe_of_the_new_child_passes() {
        let unhealthy = Seen {
            health: Some("not healthy yet: connection refused".into()),
            ..seen(State::Running, 2, false)
        };
        let (result, at) = verdict(
            true,
            Duration::from_secs(10),
            vec![
                (100, seen(State::Stopping, 1, false)),
                (100, seen(State::Starting, 2, false)),
                (100, unhealthy),
                (700, seen(State::Running, 2, true)),
            ],
        )
        .await;
        assert_eq!(result, Ok(Duration::from_millis(1000)));
        assert_eq!(at, Duration::from_millis(1000));
    }

    #[tokio::test(start_paused = true)]
    async fn the_old_child_being_ready_does_not_pass() {
        // Nothing changes: the old child stays up (the restart never happened).
        let (result, at) = verdict(true, Duration::from_secs(5), vec![]).await;
        assert_eq!(result, Err("it is running".into()));
        assert_eq!(at, Duration::from_secs(5));
    }

    #[tokio::test(start_paused = true)]
    async fn with_health_a_release_never_healthy_fails_with_the_probe_error_at_the_deadline() {
        let unhealthy = Seen {
            health: Some("not healthy yet: GET http://127.0.0.1:8080/healthz answered 503".into()),
            ..seen(State::Running, 2, false)
        };
        let (result, at) = verdict(true, Duration::from_secs(5), vec![(300, unhealthy)]).await;
        assert_eq!(
            result,
            Err("not healthy yet: GET http://127.0.0.1:8080/healthz answered 503".into())
        );
        assert_eq!(at, Duration::from_secs(5));
    }

    #[tokio::test(start_paused = true)]
    async fn without_health_the_new_child_must_keep_running_for_the_settle_time() {
        // Crashes once (a new pid): the settle time starts again.
        let (result, at) = verdict(
            false,
            Duration::from_secs(60),
            vec![
                (100, seen(State::Running, 2, true)),
                (1_000, seen(State::Backoff, 2, false)),
                (100, seen(State::Running, 3, true)),
            ],
        )
        .await;
        assert_eq!(result, Ok(Duration::from_millis(1_200) + SETTLE));
        assert_eq!(at, Duration::from_millis(1_200) + SETTLE);
    }

    #[tokio::test(start_paused = true)]
    async fn a_failure_says_whether_the_deadline_passed() {
        let (result, _) = verdict_full(true, Duration::from_secs(5), vec![]).await;
        assert!(result.unwrap_err().timed_out);
        let failed = Seen {
            message: Some("exit code 3 after 1ms; not restarting (policy never)".into()),
            ..seen(State::Exited, 2, false)
        };
        let (result, _) = verdict_full(false, Duration::from_secs(60), vec![(500, failed)]).await;
        assert!(!result.unwrap_err().timed_out);
    }

    #[tokio::test(start_paused = true)]
    async fn a_release_that_gives_up_fails_at_once_with_why() {
        let failed = Seen {
            message: Some("exit code 3 after 5ms; 10 restarts within 2m: giving up".into()),
            ..seen(State::Failed, 2, false)
        };
        let (result, at) = verdict(false, Duration::from_secs(60), vec![(500, failed)]).await;
        assert_eq!(
            result,
            Err("exit code 3 after 5ms; 10 restarts within 2m: giving up".into())
        );
        assert_eq!(at, Duration::from_millis(500));
    }

    #[tokio::test(start_paused = true)]
    async fn without_health_a_short_verify_within_halves_the_settle_time() {
        let (result, at) = verdict(
            false,
            Duration::from_secs(2),
            vec![(100, seen(State::Running, 2, true))],
        )
        .await;
        assert_eq!(result, Ok(Duration::from_millis(1_100)));
        assert_eq!(at, Duration::from_millis(1_100));
    }
}
