//! The install engine shared by every service manager: observe the system (all the
//! I/O of planning) → plan (a pure function of the spec, the layout and what was
//! observed) → apply the plan step by step, each applied step leaving an undo → on a
//! failure, undo in reverse what was applied.
//!
//! A backend provides the three things that differ between service managers: what it
//! observes (files, accounts and records on Unix; the SCM's registration, the Event Log
//! source and folder permissions on Windows), which steps it plans from that, and how
//! a step is applied (and undone): the [`Apply`] trait. The Unix backends (systemd,
//! OpenRC, launchd, SysV) share one planner and applier in [`super::install`], whose
//! [`super::Backend`] supplies the files and commands of each manager; Windows has its
//! own in [`super::windows`].

use std::io::Write;

use super::error::InstallError;

/// How a backend applies its steps and undoes them.
pub trait Apply {
    /// One change to the system.
    type Step;
    /// How to take back one applied change.
    type Undo;
    /// The step, in one line for people.
    fn describe(&self, step: &Self::Step) -> String;
    /// Applies `step`, pushing onto `undo` the undo of each change as it is made
    /// (before the change, when the change may be left half-done): on a failure, what
    /// was pushed is undone with the rest, so a step that fails half-way is taken back
    /// too.
    fn apply(&mut self, step: &Self::Step, undo: &mut Vec<Self::Undo>) -> Result<(), InstallError>;
    /// The undo, in one line for people.
    fn describe_undo(&self, undo: &Self::Undo) -> String;
    /// Takes one change back.
    fn undo(&mut self, undo: &Self::Undo) -> Result<(), InstallError>;
    /// When an undo after this one failed, whether to skip this one, and what to say
    /// instead (Unix: the install record stays, naming what is left for the next
    /// install or `--purge`).
    fn keep_after_failure(&self, _undo: &Self::Undo) -> Option<String> {
        None
    }
}

/// What an apply did, so it can be undone (if a later step, such as the first start,
/// fails).
pub struct Applied<A: Apply> {
    applier: A,
    undo: Vec<A::Undo>,
}

impl<A: Apply> Applied<A> {
    /// What was applied, from `undo` (oldest first): for tests and for undos that
    /// exist before any step (what the manager must forget).
    pub fn new(applier: A, undo: Vec<A::Undo>) -> Applied<A> {
        Applied { applier, undo }
    }

    /// Undoes everything, newest first, saying each undo. A failed undo is reported
    /// and the rest still run, except those the backend keeps after a failure.
    pub fn rollback(mut self, out: &mut dyn Write) {
        let _ = writeln!(out, "rolling back:");
        let mut failed = false;
        while let Some(u) = self.undo.pop() {
            if failed {
                if let Some(instead) = self.applier.keep_after_failure(&u) {
                    let _ = writeln!(out, "  {instead}");
                    continue;
                }
            }
            let _ = writeln!(out, "  {}", self.applier.describe_undo(&u));
            if let Err(e) = self.applier.undo(&u) {
                failed = true;
                let _ = writeln!(out, "  (this rollback step failed: {e})");
            }
        }
    }
}

/// Applies `steps` in order, printing each; `first` are undos that hold before any
/// step (they run last on rollback). On a failure, undoes the applied steps (and what
/// the failed one did half-way) in reverse, saying each undo, and returns the error,
/// which the caller prints (once).
pub fn apply<A: Apply>(
    applier: A,
    first: Vec<A::Undo>,
    steps: &[A::Step],
    out: &mut dyn Write,
) -> Result<Applied<A>, InstallError> {
    let mut applied = Applied::new(applier, first);
    for step in steps {
        let _ = writeln!(out, "  {}", applied.applier.describe(step));
        if let Err(e) = applied.applier.apply(step, &mut applied.undo) {
            let _ = writeln!(out, "  (failed)");
            applied.rollback(out);
            return Err(e);
        }
    }
    Ok(applied)
}

/// Waits for a service being started: asks `look` every `every` until it returns a
/// value or an error, for at most `timeout`. `look(late)` is told when the time is up:
/// it then says why it gives up (what the manager and the state file report), since
/// only it knows. Both backends' start-and-wait run on this loop, each with its own
/// look (Unix: the state file of a fresh supervisor; Windows: the SCM's state, then
/// the state file of the SCM's process).
pub fn wait_for<T>(
    timeout: Duration,
    every: Duration,
    mut look: impl FnMut(bool) -> Result<Option<T>, InstallError>,
) -> Result<T, InstallError> {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        let late = std::time::Instant::now() >= deadline;
        if let Some(found) = look(late)? {
            return Ok(found);
        }
        if late {
            return Err(InstallError::Start(format!(
                "gave up after {}s",
                timeout.as_secs()
            )));
        }
        std::thread::sleep(every);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A service's combined log is shown, not a dotted neighbour's (`web.err.log` is the
    /// log of `web.err`); without it, the separate files of an older tend.
    #[test]
    fn the_log_tail_is_of_the_service_alone() {
        let d = tempfile::tempdir().unwrap();
        let names = |files: Vec<std::path::PathBuf>| {
            files
                .iter()
                .map(|f| f.strip_prefix(d.path()).unwrap().display().to_string())
                .collect::<Vec<_>>()
        };
        assert_eq!(
            names(log_tail_files(d.path(), "web")),
            ["web.err.log", "web.out.log", "tend.log"]
        );
        std::fs::write(d.path().join("web.log"), "out hi\n").unwrap();
        assert_eq!(
            names(log_tail_files(d.path(), "web")),
            ["web.log", "tend.log"]
        );
    }

    /// Steps are numbers; a step fails when it is negative (after changing something
    /// half-way, with an undo, when it is below -100), an undo when its number is in
    /// `failing_undos`. Every applied undo is logged.
    struct Numbers {
        failing_undos: Vec<i32>,
        kept: Vec<i32>,
        log: std::rc::Rc<std::cell::RefCell<Vec<String>>>,
    }

    impl Apply for Numbers {
        type Step = i32;
        type Undo = i32;
        fn describe(&self, step: &i32) -> String {
            format!("do {step}")
        }
        fn apply(&mut self, step: &i32, undo: &mut Vec<i32>) -> Result<(), InstallError> {
            if *step < -100 {
                self.log.borrow_mut().push(format!("half-did {step}"));
                undo.push(*step);
            }
            if *step < 0 {
                return Err(InstallError::Refused(format!("{step} fails")));
            }
            self.log.borrow_mut().push(format!("did {step}"));
            undo.push(*step);
            Ok(())
        }
        fn describe_undo(&self, undo: &i32) -> String {
            format!("undo {undo}")
        }
        fn undo(&mut self, undo: &i32) -> Result<(), InstallError> {
            self.log.borrow_mut().push(format!("undid {undo}"));
            if self.failing_undos.contains(undo) {
                return Err(InstallError::Refused(format!("undo {undo} fails")));
            }
            Ok(())
        }
        fn keep_after_failure(&self, undo: &i32) -> Option<String> {
            self.kept.contains(undo).then(|| format!("keep {undo}"))
        }
    }

    fn run(steps: &[i32], failing_undos: Vec<i32>, kept: Vec<i32>) -> (Vec<String>, String) {
        let log = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
        let mut out = Vec::new();
        let a = Numbers {
            failing_undos,
            kept,
            log: log.clone(),
        };
        let _ = apply(a, vec![0], steps, &mut out);
        let log = log.borrow().clone();
        (log, String::from_utf8(out).unwrap())
    }

    #[test]
    fn waiting_ends_with_the_value_the_error_or_lateness() {
        let mut looks = 0;
        let found = wait_for(Duration::from_secs(60), Duration::ZERO, |_| {
            looks += 1;
            Ok((looks == 3).then_some("ran"))
        });
        assert_eq!(found.unwrap(), "ran");
        let failed: Result<(), _> = wait_for(Duration::from_secs(60), Duration::ZERO, |_| {
            Err(InstallError::Start("failed".into()))
        });
        assert_eq!(failed.unwrap_err().to_string(), "failed");
        // Out of time at once: asked once, told so, and its word is the error.
        let mut told = Vec::new();
        let late: Result<(), _> = wait_for(Duration::ZERO, Duration::ZERO, |late| {
            told.push(late);
            if late {
                Err(InstallError::Start("still starting".into()))
            } else {
                Ok(None)
            }
        });
        assert_eq!(told, [true]);
        assert_eq!(late.unwrap_err().to_string(), "still starting");
        // A look that never gives a reason still ends.
        let silent: Result<(), _> = wait_for(Duration::ZERO, Duration::ZERO, |_| Ok(None));
        assert!(silent.is_err());
    }

    #[test]
    fn a_failed_step_undoes_the_applied_ones_newest_first_then_the_first_undos() {
        let (log, out) = run(&[1, 2, -3, 4], vec![], vec![]);
        assert_eq!(log, ["did 1", "did 2", "undid 2", "undid 1", "undid 0"]);
        // The error is the caller's to print, once.
        assert!(
            out.contains("  do -3\n  (failed)\nrolling back:\n  undo 2\n  undo 1\n  undo 0\n"),
            "{out}"
        );
        assert!(!out.contains("fails"), "{out}");
    }

    #[test]
    fn a_step_that_fails_half_way_is_undone_too_and_each_undo_is_said() {
        let (log, out) = run(&[1, -103], vec![], vec![]);
        assert_eq!(
            log,
            ["did 1", "half-did -103", "undid -103", "undid 1", "undid 0"]
        );
        assert!(
            out.contains("rolling back:\n  undo -103\n  undo 1\n  undo 0\n"),
            "{out}"
        );
    }

    #[test]
    fn after_a_failed_undo_the_rest_run_but_what_the_backend_keeps() {
        let (log, out) = run(&[1, 2, 3, -4], vec![3], vec![1]);
        assert_eq!(
            log,
            ["did 1", "did 2", "did 3", "undid 3", "undid 2", "undid 0"]
        );
        assert!(
            out.contains("(this rollback step failed: undo 3 fails)"),
            "{out}"
        );
        assert!(out.contains("  keep 1\n"), "{out}");
    }
}

// ------------------------------------------------------------ the install command

use std::path::Path;
use std::time::Duration;

use super::record::installed_spec;
use super::Layout;
use crate::spec::Spec;

/// How long `install --now`, `start` and `restart` wait for the service to run.
pub const START_TIMEOUT: Duration = Duration::from_secs(30);

/// How long `install --now`, `start` and `restart` wait for `spec`'s service: with
/// `[health]`, long enough for its probes to find it healthy or unhealthy.
pub fn start_timeout(spec: &Spec) -> Duration {
    spec.health.as_ref().map_or(START_TIMEOUT, |h| {
        START_TIMEOUT.max(crate::supervise::policy::ready_within(h))
    })
}

/// What `tend install` was asked to do.
#[derive(Clone, Copy, Debug)]
pub struct InstallRequest<'a> {
    /// The service, as loaded from its file.
    pub spec: &'a Spec,
    /// The spec file.
    pub spec_file: &'a Path,
    /// The profile it was loaded with.
    pub profile: Option<&'a str>,
    /// `--backend` (else the one of this machine).
    pub backend: Option<&'a str>,
    /// Change nothing; print the plan.
    pub dry_run: bool,
    /// Start the service and wait until it runs.
    pub now: bool,
    /// Restart the service if the install changed it.
    pub restart: bool,
    /// Windows: the environment variable holding a user account's password.
    pub password_env: Option<&'a str>,
}

/// Whether a dry run looks at this machine or plans for one where nothing is installed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Seen {
    /// Observe this machine (on Linux, a Windows plan still sees nothing: there is no
    /// SCM to ask).
    System,
    /// Nothing installed, no accounts but root (for stable snapshots).
    Nothing,
}

/// What `tend install` did, or in a dry run would do: what `--json` prints.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct InstallOutcome {
    /// The service.
    pub name: String,
    /// The service manager.
    pub backend: String,
    /// Nothing was changed: the steps and files are what an install would do.
    pub dry_run: bool,
    /// Something was changed (or, in a dry run, would be): a step, a start or a
    /// restart. False is tend's "installed and up to date; nothing to do".
    pub changed: bool,
    /// The steps, one line each, in order.
    pub steps: Vec<String>,
    /// The files the steps write, with their full text (the rendered unit or script,
    /// the installed spec).
    pub files: Vec<OutcomeFile>,
    /// The service was started (`--now`, and it was not running).
    pub started: bool,
    /// The service was restarted with the new spec (`--restart`).
    pub restarted: bool,
    /// It still runs the previous spec: a restart applies the new one.
    pub restart_pending: bool,
}

/// A file an install writes.
#[derive(Debug, Clone, serde::Serialize)]
pub struct OutcomeFile {
    /// Where.
    pub path: std::path::PathBuf,
    /// Its permission bits.
    pub mode: u32,
    /// Its full text.
    pub content: String,
}

impl OutcomeFile {
    /// The file of `a`.
    pub fn of(a: &super::Artifact) -> OutcomeFile {
        OutcomeFile {
            path: a.path.clone(),
            mode: a.mode,
            content: a.content.clone(),
        }
    }
}

/// `tend install`: through the backend asked for, else this machine's. What it says
/// for people goes to `out` (stdout, or stderr under `--json`).
pub fn install(
    r: &InstallRequest<'_>,
    out: &mut dyn Write,
) -> Result<InstallOutcome, InstallError> {
    let name = super::backend_name(r.backend)?;
    if name == super::windows::BACKEND {
        super::windows::install(r, out)
    } else {
        unix_install(r, name, out)
    }
}

/// On Windows, the Unix backends are neither installed nor planned (their planner
/// reads Unix accounts and files): a dry run of them works on Linux and macOS.
#[cfg(not(unix))]
fn unix_install(
    r: &InstallRequest<'_>,
    name: &str,
    _out: &mut dyn Write,
) -> Result<InstallOutcome, InstallError> {
    Err(InstallError::not_here(if r.dry_run {
        format!("planning a {name} install (a dry run of it works on Linux and macOS)")
    } else {
        format!("installing a {name} service")
    }))
}

#[cfg(unix)]
fn unix_install(
    r: &InstallRequest<'_>,
    backend_name: &str,
    out: &mut dyn Write,
) -> Result<InstallOutcome, InstallError> {
    use super::install::{self, start_and_wait, tend_location};
    use super::Verb;
    let backend = super::backend(backend_name)
        .ok_or_else(|| InstallError::Refused(format!("unknown backend `{backend_name}`")))?;
    if !r.dry_run {
        super::need_root("tend install")?;
        if !backend.can_apply() {
            return Err(InstallError::Refused(format!("the {} service manager is not running on this machine (use --dry-run to see what would be written)", backend.name())));
        }
    }
    let current = std::env::current_exe().map_err(|e| InstallError::Lookup {
        what: "the tend binary".into(),
        reason: e.to_string(),
    })?;
    let (tend_bin, copy) = tend_location(&current);
    let layout = Layout::unix(tend_bin);
    let copy_from = copy.then_some(current.as_path());
    if r.dry_run {
        let (text, outcome) = preview_outcome(r, backend_name, &layout, copy_from, Seen::System)?;
        let _ = out.write_all(text.as_bytes());
        return Ok(outcome);
    }
    let user_in_spec = r.spec.user.is_some();
    let spec = installed_spec(r.spec, &spec_base(r.spec_file), &layout);
    let name = spec.name.to_string();
    // Before the plan, which may refuse what these explain (a program in /tmp).
    for w in temporary_places(&spec, backend_name, &layout) {
        let _ = writeln!(std::io::stderr(), "warning: {w}");
    }
    let text = super::record::installed_text(&spec, r.spec_file, r.profile)?;
    let plan = install::plan_install(
        &spec,
        &text,
        &layout,
        backend.as_ref(),
        copy_from,
        user_in_spec,
    )?;
    let mut err = std::io::stderr();
    for w in install::unreachable(&spec) {
        let _ = writeln!(err, "warning: {w}");
    }
    let active = manager_active(backend.as_ref(), &name);
    if plan.steps.is_empty() {
        let _ = writeln!(out, "`{name}` is installed and up to date; nothing to do");
    } else {
        let _ = writeln!(out, "installing `{name}` ({}):", backend.name());
        for n in &plan.notes {
            let _ = writeln!(out, "  account: {n}");
        }
    }
    let outcome = InstallOutcome {
        name: name.clone(),
        backend: backend.name().to_string(),
        changed: !plan.steps.is_empty(),
        steps: plan.steps.iter().map(|s| s.describe(false)).collect(),
        files: plan
            .steps
            .iter()
            .filter_map(install::Step::written)
            .map(OutcomeFile::of)
            .collect(),
        ..InstallOutcome::default()
    };
    let applied = install::apply(&plan.steps, backend.as_ref(), &name, out)?;
    let start = |restart: bool| {
        let verb = if restart { Verb::Restart } else { Verb::Start };
        start_and_wait(backend.as_ref(), &name, &layout, verb, start_timeout(&spec)).map(|_| ())
    };
    after_install(
        &Installed {
            spec: &spec,
            layout: &layout,
            existed: plan.existed,
            changed: !plan.steps.is_empty(),
            changes_service: plan.changes_service,
            active,
        },
        r,
        &start,
        |out| applied.rollback(out),
        outcome,
        out,
    )
}

/// Whether the service manager has `name` running (or starting): what decides whether
/// an install starts it or restarts it.
#[cfg(unix)]
fn manager_active(backend: &dyn super::Backend, name: &str) -> bool {
    backend
        .query(name)
        .map(|n| {
            matches!(
                n.active.as_str(),
                "active" | "activating" | "reloading" | "started" | "running"
            )
        })
        .unwrap_or(false)
}

use super::record::spec_base;

/// What of `spec` (installed: paths absolute) the service will not find where the
/// spec says, through `backend`: under /tmp and /var/tmp only where the unit hides
/// them (systemd's `PrivateTmp=`), under /dev/shm everywhere (see
/// [`super::systemd::temporary_places`]).
#[cfg(unix)]
fn temporary_places(spec: &Spec, backend: &str, layout: &Layout) -> Vec<String> {
    use super::systemd;
    let private_tmp = super::backend(backend)
        .filter(|b| b.name() == "systemd")
        .and_then(|_| systemd::unit_private_tmp(&systemd::render_unit(spec, layout)));
    systemd::temporary_places(spec, private_tmp.as_deref())
}

/// What `tend install --dry-run` prints: the plan of installing `r.spec` through
/// `backend` in `layout` (`copy_from`: this binary, when it must be copied to
/// `layout.tend_bin`), observing this machine or nothing.
pub fn preview(
    r: &InstallRequest<'_>,
    backend: &str,
    layout: &Layout,
    copy_from: Option<&Path>,
    seen: Seen,
) -> Result<String, InstallError> {
    preview_outcome(r, backend, layout, copy_from, seen).map(|(text, _)| text)
}

/// [`preview`], and the same plan as an [`InstallOutcome`] (`dry_run`; `changed` when
/// it has a step).
pub fn preview_outcome(
    r: &InstallRequest<'_>,
    backend: &str,
    layout: &Layout,
    copy_from: Option<&Path>,
    seen: Seen,
) -> Result<(String, InstallOutcome), InstallError> {
    use std::fmt::Write as _;
    let user_in_spec = r.spec.user.is_some();
    let spec = installed_spec(r.spec, &spec_base(r.spec_file), layout);
    let name = spec.name.to_string();
    let text = super::record::installed_text(&spec, r.spec_file, r.profile)?;
    let mut s = String::new();
    let mut outcome = InstallOutcome {
        name: name.clone(),
        backend: backend.to_string(),
        dry_run: true,
        ..InstallOutcome::default()
    };
    if backend == super::windows::BACKEND {
        let observed = match seen {
            Seen::System => super::windows::observe(&spec, layout, copy_from)?,
            Seen::Nothing => super::windows::Observed::default(),
        };
        let plan = super::windows::plan_install(&spec, &text, layout, &observed, copy_from, None)?;
        for w in &plan.warnings {
            let _ = writeln!(std::io::stderr(), "warning: {w}");
        }
        let _ = writeln!(s, "dry run: installing `{name}` (windows service) would:");
        if plan.steps.is_empty() {
            let _ = writeln!(s, "  nothing: it is installed and up to date");
        }
        for st in &plan.steps {
            let _ = writeln!(s, "  {}", st.describe(true));
            outcome.steps.push(st.describe(false));
        }
        let active = observed.service.as_ref().is_some_and(|i| i.active);
        let after = after_steps(r, plan.existed, plan.changes_service, active);
        match after {
            AfterSteps::Start => {
                let _ = writeln!(s, "  start service {name} and wait until it runs");
            }
            AfterSteps::Restart => {
                let _ = writeln!(
                    s,
                    "  restart service {name} with the new spec and wait until it runs"
                );
            }
            AfterSteps::RestartPending => {
                let _ = writeln!(s, "  (it would keep running the previous spec until restarted: --restart restarts it)");
            }
            AfterSteps::Nothing => {}
        }
        after.mark(&mut outcome);
    } else {
        unix_preview(
            &mut s,
            &spec,
            &text,
            backend,
            layout,
            copy_from,
            user_in_spec,
            r,
            seen,
            &mut outcome,
        )?;
    }
    outcome.changed |= !outcome.steps.is_empty();
    let _ = writeln!(s, "(nothing was changed)");
    Ok((s, outcome))
}

#[cfg(not(unix))]
#[allow(clippy::too_many_arguments)]
fn unix_preview(
    _s: &mut String,
    _spec: &Spec,
    _text: &str,
    backend: &str,
    _layout: &Layout,
    _copy_from: Option<&Path>,
    _user_in_spec: bool,
    _r: &InstallRequest<'_>,
    _seen: Seen,
    _outcome: &mut InstallOutcome,
) -> Result<(), InstallError> {
    Err(InstallError::not_here(format!(
        "planning a {backend} install (a dry run of it works on Linux and macOS)"
    )))
}

#[cfg(unix)]
#[allow(clippy::too_many_arguments)]
fn unix_preview(
    s: &mut String,
    spec: &Spec,
    text: &str,
    backend_name: &str,
    layout: &Layout,
    copy_from: Option<&Path>,
    user_in_spec: bool,
    r: &InstallRequest<'_>,
    seen: Seen,
    outcome: &mut InstallOutcome,
) -> Result<(), InstallError> {
    use super::install;
    use std::fmt::Write as _;
    let backend = super::backend(backend_name)
        .ok_or_else(|| InstallError::Refused(format!("unknown backend `{backend_name}`")))?;
    // Before observing and planning, which may refuse what these explain.
    for w in temporary_places(spec, backend_name, layout) {
        let _ = writeln!(std::io::stderr(), "warning: {w}");
    }
    let observed = match seen {
        Seen::System => {
            install::observe_system(spec, layout, backend.as_ref(), copy_from, user_in_spec)?
        }
        Seen::Nothing => install::Observed::default(),
    };
    let plan = install::plan(
        spec,
        text,
        layout,
        backend.as_ref(),
        &observed,
        copy_from,
        user_in_spec,
    )?;
    if seen == Seen::System {
        for w in install::unreachable(spec) {
            let _ = writeln!(std::io::stderr(), "warning: {w}");
        }
    }
    let name = spec.name.as_str();
    let _ = writeln!(
        s,
        "dry run: installing `{name}` ({}) would:",
        backend.name()
    );
    for p in observed.unreadable() {
        let _ = writeln!(
            s,
            "  note: {} cannot be read as this user, so it counts as changed (run as root to compare)",
            p.display()
        );
    }
    if plan.steps.is_empty() {
        let _ = writeln!(s, "  nothing: it is installed and up to date");
    }
    for n in &plan.notes {
        let _ = writeln!(s, "  account: {n}");
    }
    for st in &plan.steps {
        let _ = writeln!(s, "  {}", st.describe(true));
        outcome.steps.push(st.describe(false));
        outcome.files.extend(st.written().map(OutcomeFile::of));
    }
    outcome.backend = backend.name().to_string();
    let active = seen == Seen::System && manager_active(backend.as_ref(), name);
    let after = after_steps(r, plan.existed, plan.changes_service, active);
    match after {
        AfterSteps::Start => {
            let _ = writeln!(s, "  run {}", backend.control(name, super::Verb::Start));
        }
        AfterSteps::Restart => {
            let _ = writeln!(
                s,
                "  run {} (it runs the previous spec)",
                backend.control(name, super::Verb::Restart)
            );
        }
        AfterSteps::RestartPending => {
            let _ = writeln!(s, "  (it would keep running the previous spec until restarted: --restart restarts it)");
        }
        AfterSteps::Nothing => {}
    }
    after.mark(outcome);
    Ok(())
}

/// What an install changed, for [`after_install`].
pub struct Installed<'a> {
    /// The installed spec.
    pub spec: &'a Spec,
    /// Where.
    pub layout: &'a Layout,
    /// It was installed before.
    pub existed: bool,
    /// Anything was written.
    pub changed: bool,
    /// The spec or the service's registration changed.
    pub changes_service: bool,
    /// It was running before.
    pub active: bool,
}

/// What an install does after its steps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AfterSteps {
    /// Nothing more.
    Nothing,
    /// Start it and wait until it runs (`--now`, and it was not running).
    Start,
    /// Restart it with the new spec (`--restart`, and the install changed what runs).
    Restart,
    /// It keeps running the previous spec until restarted.
    RestartPending,
}

/// What the install `r` does after its steps, for a service that `existed` before,
/// whose spec or registration the steps change (`changes_service`), and that the
/// manager has `active`: the one decision of both the real install and its dry run.
pub fn after_steps(
    r: &InstallRequest<'_>,
    existed: bool,
    changes_service: bool,
    active: bool,
) -> AfterSteps {
    let runs_the_old_spec = existed && changes_service && active;
    if r.now && !active {
        AfterSteps::Start
    } else if runs_the_old_spec && r.restart {
        AfterSteps::Restart
    } else if runs_the_old_spec {
        AfterSteps::RestartPending
    } else {
        AfterSteps::Nothing
    }
}

impl AfterSteps {
    /// Records this in `outcome` (`changed` when it starts or restarts the service).
    pub fn mark(self, outcome: &mut InstallOutcome) {
        outcome.started = self == AfterSteps::Start;
        outcome.restarted = self == AfterSteps::Restart;
        outcome.restart_pending = self == AfterSteps::RestartPending;
        outcome.changed |= outcome.started || outcome.restarted;
    }
}

/// After the install steps: start it (`--now`, undoing a first install whose start
/// fails, after showing why), restart it (`--restart`), or say that it still runs the
/// previous spec (see [`after_steps`]); then where everything is. `start(restart)`
/// starts or restarts the service and waits until it runs; `rollback` undoes the
/// steps, saying so to the writer it is given (`out`). Returns `outcome` (the steps)
/// with what happened after them.
pub fn after_install(
    i: &Installed<'_>,
    r: &InstallRequest<'_>,
    start: &dyn Fn(bool) -> Result<(), InstallError>,
    rollback: impl FnOnce(&mut dyn Write),
    mut outcome: InstallOutcome,
    out: &mut dyn Write,
) -> Result<InstallOutcome, InstallError> {
    let name = i.spec.name.as_str();
    let after = after_steps(r, i.existed, i.changes_service, i.active);
    match after {
        AfterSteps::Start => {
            if let Err(e) = start(false) {
                let _ = writeln!(std::io::stderr(), "error: {e}");
                // The logs go with the rollback: show them first.
                show_log_tail(i.layout, i.spec);
                if !i.existed {
                    rollback(out);
                    return Err(InstallError::Start(format!("`{name}` was not installed")));
                }
                return Err(e);
            }
            let _ = writeln!(out, "`{name}` is running");
        }
        AfterSteps::Restart => {
            start(true)?;
            let _ = writeln!(out, "`{name}` restarted with the new spec");
        }
        AfterSteps::RestartPending => {
            let _ = writeln!(out, "`{name}` is running the previous spec: restart it with `tend restart {name}` (or install with --restart)");
        }
        AfterSteps::Nothing => {}
    }
    if i.changed {
        let _ = writeln!(
            out,
            "installed `{name}`: spec {}, state {}, logs {}",
            i.layout.spec_path(name).display(),
            i.layout.state_dir(name).display(),
            i.layout.log_dir(i.spec).display()
        );
    }
    after.mark(&mut outcome);
    Ok(outcome)
}

/// Prints the last lines of the service's logs (why a first start failed).
pub fn show_log_tail(layout: &Layout, spec: &Spec) {
    let mut err = std::io::stderr();
    let dir = layout.log_dir(spec);
    for path in log_tail_files(&dir, spec.name.as_str()) {
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        let lines: Vec<&str> = text.lines().collect();
        if lines.is_empty() {
            continue;
        }
        let _ = writeln!(err, "--- last lines of {}:", path.display());
        for l in &lines[lines.len().saturating_sub(10)..] {
            let _ = writeln!(err, "    {l}");
        }
    }
}

/// The files [`show_log_tail`] shows, in `dir`, of the service `name`: its combined
/// log, or (without one) the separate files of an older tend, then tend's own log. The
/// separate files are not read next to a combined log: `<name>.err.log` may be the
/// combined log of a service named `<name>.err`.
fn log_tail_files(dir: &std::path::Path, name: &str) -> Vec<std::path::PathBuf> {
    let combined = dir.join(format!("{name}.log"));
    let mut files = vec![];
    if combined.exists() {
        files.push(combined);
    } else {
        files.extend(["err", "out"].map(|s| dir.join(format!("{name}.{s}.log"))));
    }
    files.push(dir.join("tend.log"));
    files
}

/// What `tend uninstall` did, or in a dry run would do: what `--json` prints.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct UninstallOutcome {
    /// The service.
    pub name: String,
    /// Nothing was changed: the steps are what an uninstall would do.
    pub dry_run: bool,
    /// Something was removed (or, in a dry run, would be). False when there was
    /// nothing of the service to remove ([`InstallError::NotInstalled`]).
    pub changed: bool,
    /// Logs, state and the account tend created were removed too.
    pub purge: bool,
    /// The steps, one line each, in order.
    pub steps: Vec<String>,
    /// A step failed (each says why in the text).
    pub failed: bool,
}

/// `tend uninstall NAME`: prints each step to `out` (and does it, unless `dry_run`).
/// (Windows services are uninstalled on Windows, the others on Unix: the service
/// manager of an installed service is this machine's.)
pub fn uninstall(
    name: &str,
    purge: bool,
    dry_run: bool,
    out: &mut dyn Write,
) -> Result<UninstallOutcome, InstallError> {
    let mut outcome = UninstallOutcome {
        name: name.to_string(),
        dry_run,
        purge,
        ..UninstallOutcome::default()
    };
    #[cfg(unix)]
    let failed = unix_uninstall(name, purge, dry_run, out, &mut outcome.steps)?;
    #[cfg(not(unix))]
    let failed = super::windows::uninstall(name, purge, dry_run, out, &mut outcome.steps)?;
    outcome.failed = failed;
    outcome.changed = !outcome.steps.is_empty();
    Ok(outcome)
}

#[cfg(unix)]
fn unix_uninstall(
    name: &str,
    purge: bool,
    dry_run: bool,
    out: &mut dyn Write,
    said: &mut Vec<String>,
) -> Result<bool, InstallError> {
    use super::install::{self, plan_uninstall};
    let layout = Layout::unix(std::path::PathBuf::new());
    let record = install::read_record(&layout, name);
    let kept = install::read_kept(&layout, name);
    let installed = crate::spec::load_file(&layout.spec_path(name), &Default::default()).ok();
    if record.is_none() && installed.is_none() {
        match &kept {
            // What an earlier uninstall left in place, or what an install killed while
            // writing its first record left: only --purge has work to do.
            Some(_) if purge => {}
            None if purge && !install::stale_files(&layout, name).is_empty() => {}
            Some(_) => {
                return Err(InstallError::NotInstalled(format!(
                    "`{name}` is not installed; its account, state and logs were kept by an earlier uninstall: `tend uninstall {name} --purge` removes them"
                )));
            }
            None => {
                return Err(InstallError::NotInstalled(format!(
                    "`{name}` is not installed (no {})",
                    layout.spec_path(name).display()
                )));
            }
        }
    }
    let recorded_backend = record
        .as_ref()
        .or(kept.as_ref())
        .map(|r| r.backend.as_str());
    let backend = super::pick_backend(None, recorded_backend)?;
    if !dry_run {
        super::need_root("tend uninstall")?;
    }
    let spec = installed.as_ref().and_then(|l| l.services.first());
    let steps = plan_uninstall(spec, name, &layout, backend.as_ref(), purge);
    let _ = writeln!(
        out,
        "{}uninstalling `{name}`:",
        if dry_run { "dry run: " } else { "" },
    );
    let mut failed = false;
    for s in &steps {
        let _ = writeln!(out, "  {}", s.describe());
        // Leaving a file alone changes nothing.
        if !matches!(s, install::UninstallStep::Keep { .. }) {
            said.push(s.describe());
        }
        if !dry_run {
            if let Err(e) = s.apply() {
                // Stopping a stopped service fails harmlessly; anything else is worth saying.
                if !matches!(s, install::UninstallStep::Run(_)) {
                    failed = true;
                }
                let _ = writeln!(out, "    ({e})");
            }
        }
    }
    Ok(failed)
}

/// `tend start|stop|restart NAME`: runs `verb` on the installed service through the
/// service manager it was installed with; start and restart wait until it runs.
/// Returns what to say.
pub fn control(name: &str, verb: super::Verb) -> Result<String, InstallError> {
    #[cfg(unix)]
    return unix_control(name, verb);
    #[cfg(not(unix))]
    return super::windows::control(name, verb);
}

/// `tend control NAME CODE`: a custom control code (128–255) to an installed
/// Windows service; returns what to say. (The command exists only where there is a
/// service control manager.)
pub fn send_control_code(name: &str, code: u8) -> Result<String, InstallError> {
    super::windows::send_control_code(name, code)
}

/// [`start_timeout`] of the installed spec at `path` ([`START_TIMEOUT`] if it cannot be
/// read).
pub fn installed_start_timeout(path: &Path) -> Duration {
    crate::spec::load_file(path, &Default::default())
        .ok()
        .and_then(|l| l.services.into_iter().next())
        .map_or(START_TIMEOUT, |s| start_timeout(&s))
}

#[cfg(unix)]
fn unix_control(name: &str, verb: super::Verb) -> Result<String, InstallError> {
    use super::install::{read_record, start_and_wait};
    let layout = Layout::unix(std::path::PathBuf::new());
    let Some(record) = read_record(&layout, name) else {
        return Err(InstallError::Refused(format!(
            "`{name}` is not installed (no {})\n  = help: install it with `tend install SPEC`, or run it in the foreground with `tend run SPEC`",
            layout.record_path(name).display()
        )));
    };
    let backend = super::pick_backend(None, Some(&record.backend))?;
    let result = match verb {
        super::Verb::Stop => backend
            .control(name, verb)
            .run()
            .map(|_| format!("`{name}` stopped")),
        _ => start_and_wait(
            backend.as_ref(),
            name,
            &layout,
            verb,
            installed_start_timeout(&layout.spec_path(name)),
        )
        .map(|s| format!("`{name}` is running (pid {})", s.pid.unwrap_or(0))),
    };
    result.map_err(|e| {
        if record.pending {
            InstallError::Refused(format!("{e}\n  = help: the install of `{name}` did not finish (it was interrupted): run `tend install SPEC` again to complete it, or `tend uninstall {name} --purge` to remove what it did"))
        } else {
            e
        }
    })
}

#[cfg(test)]
mod after_tests {
    use super::*;

    fn spec() -> Spec {
        crate::spec::load_str(
            Path::new("/srv/web.toml"),
            "name = \"web\"\ncommand = \"/opt/web/web\"\n",
            &Default::default(),
        )
        .unwrap()
        .services
        .remove(0)
    }

    fn request(spec: &Spec, now: bool, restart: bool) -> InstallRequest<'_> {
        InstallRequest {
            spec,
            spec_file: Path::new("/srv/web.toml"),
            profile: None,
            backend: None,
            dry_run: false,
            now,
            restart,
            password_env: None,
        }
    }

    /// One decision for the install and its dry run: start only what does not run,
    /// restart (or say it runs the old spec) only what runs an installed spec that the
    /// steps changed.
    #[test]
    fn what_follows_the_steps() {
        use AfterSteps::*;
        let s = spec();
        // (now, restart, existed, changes_service, active) -> after, started, restarted, pending
        let table = [
            ((false, false, false, true, false), Nothing),
            ((true, false, false, true, false), Start),
            ((true, true, false, true, false), Start),
            ((true, true, true, true, false), Start),
            // running: --now does nothing more, whatever changed
            ((true, false, true, false, true), Nothing),
            ((true, false, true, true, true), RestartPending),
            ((true, true, true, true, true), Restart),
            ((false, true, true, true, true), Restart),
            ((false, false, true, true, true), RestartPending),
            // what runs is not what changed (only files the service does not read)
            ((false, true, true, false, true), Nothing),
            // a first install of a name the manager runs (not tend's): nothing to restart
            ((false, true, false, true, true), Nothing),
        ];
        for ((now, restart, existed, changes, active), want) in table {
            let got = after_steps(&request(&s, now, restart), existed, changes, active);
            assert_eq!(
                got, want,
                "now {now} restart {restart} existed {existed} changes {changes} active {active}"
            );
            let mut o = InstallOutcome::default();
            got.mark(&mut o);
            assert_eq!(
                (o.started, o.restarted, o.restart_pending, o.changed),
                (
                    want == Start,
                    want == Restart,
                    want == RestartPending,
                    matches!(want, Start | Restart)
                )
            );
        }
    }

    /// A first install whose start fails is rolled back, and the rollback is said on
    /// the install's own writer (stderr under `--json`), never on stdout.
    #[test]
    fn the_rollback_speaks_on_the_installs_writer() {
        let s = spec();
        let d = tempfile::tempdir().unwrap();
        let layout = Layout {
            spec_dir: d.path().join("etc"),
            state_root: d.path().join("lib"),
            log_root: d.path().join("log"),
            tend_bin: d.path().join("tend"),
        };
        let mut out = Vec::new();
        let r = after_install(
            &Installed {
                spec: &s,
                layout: &layout,
                existed: false,
                changed: true,
                changes_service: true,
                active: false,
            },
            &request(&s, true, false),
            &|_| Err(InstallError::Start("no".into())),
            |w| {
                let _ = writeln!(w, "rolling back: test");
            },
            InstallOutcome::default(),
            &mut out,
        );
        assert!(matches!(r, Err(InstallError::Start(_))), "{r:?}");
        assert_eq!(String::from_utf8(out).unwrap(), "rolling back: test\n");
    }
}
