//! `tend install` and `tend uninstall`: a spec becomes a native service (user,
//! directories, installed spec, unit), idempotently, with a dry run and rollback.

use std::path::PathBuf;
#[cfg(unix)]
use std::time::Duration;

use clap::Args;

use super::exit;
#[cfg(unix)]
use super::spec_error;
use super::SpecArgs;
#[cfg(unix)]
use crate::platform::install::{
    self, installed_spec, plan_install, plan_uninstall, start_and_wait, tend_location,
};
use crate::platform::{self, Layout};
#[cfg(unix)]
use crate::platform::{Backend, Verb};
use crate::spec::{Loaded, ServiceName, Spec};
#[cfg(unix)]
use crate::supervise::{prepare, sys};

/// Arguments of `tend install`.
#[derive(Debug, Args)]
pub struct InstallArgs {
    /// The spec file.
    pub spec: PathBuf,
    /// In a file of several services, the one to install.
    #[arg(long)]
    pub name: Option<ServiceName>,
    #[command(flatten)]
    pub spec_args: SpecArgs,
    /// Also start the service and wait until it runs.
    #[arg(long)]
    pub now: bool,
    /// Restart the service if the install changed it.
    #[arg(long)]
    pub restart: bool,
    /// Print every file and command, change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// The service manager (default: detected).
    #[arg(long, value_parser = clap::builder::PossibleValuesParser::new(platform::BACKENDS))]
    pub backend: Option<String>,
    /// Windows: the environment variable holding the password of a user account (else
    /// `windows.password_env`, else a prompt).
    #[cfg(windows)]
    #[arg(long)]
    pub password_env: Option<String>,
}

/// The service of `loaded` to install: the only one, or the one named.
pub(crate) fn pick_service(loaded: &Loaded, want: Option<&str>) -> Result<Spec, String> {
    match (want, loaded.services.len()) {
        (None, 1) => Ok(loaded.services[0].clone()),
        (None, n) => Err(format!(
            "{} holds {n} services; pick one with --name NAME",
            loaded.path.display()
        )),
        (Some(want), _) => loaded
            .services
            .iter()
            .find(|s| s.name.as_str() == want)
            .cloned()
            .ok_or_else(|| format!("{} has no service `{want}`", loaded.path.display())),
    }
}

/// Arguments of `tend uninstall`.
#[derive(Debug, Args)]
pub struct UninstallArgs {
    /// The service name.
    pub name: ServiceName,
    /// Also remove its logs, state, and the account tend created for it.
    #[arg(long)]
    pub purge: bool,
    /// Print what would be removed, change nothing.
    #[arg(long)]
    pub dry_run: bool,
}

/// The backend to use: `--backend`, else the one recorded at install, else detected.
#[cfg(unix)]
pub(crate) fn pick_backend(
    flag: Option<&str>,
    recorded: Option<&str>,
) -> Result<Box<dyn Backend>, String> {
    let name = match flag.or(recorded) {
        Some(n) => n,
        None => platform::detect(std::path::Path::new("/")).ok_or("no supported service manager found (looked for /run/systemd/system and /run/openrc); pass --backend")?,
    };
    platform::backend(name).ok_or_else(|| format!("unknown backend `{name}`"))
}

#[cfg(unix)]
fn need_root(what: &str) -> Result<(), String> {
    if sys::euid() != 0 {
        return Err(format!("{what} needs root: it writes system files and may create accounts (try sudo, or --dry-run)"));
    }
    Ok(())
}

/// `tend install`.
pub fn install(a: InstallArgs) -> u8 {
    #[cfg(windows)]
    let result = super::windows::install(a);
    #[cfg(unix)]
    let result = run_install(a);
    match result {
        Ok(()) => exit::OK,
        Err(e) => {
            errln!("error: {e}");
            exit::ERROR
        }
    }
}

#[cfg(unix)]
fn run_install(a: InstallArgs) -> Result<(), String> {
    let loaded = match a.spec_args.load(&a.spec) {
        Ok(l) => l,
        Err(e) => {
            spec_error(&e);
            return Err("the spec is invalid; nothing was installed".into());
        }
    };
    let spec = pick_service(&loaded, a.name.as_ref().map(ServiceName::as_str))?;
    let backend = pick_backend(a.backend.as_deref(), None)?;
    if !a.dry_run {
        need_root("tend install")?;
        if !backend.can_apply() {
            return Err(format!("the {} service manager is not running on this machine (use --dry-run to see what would be written)", backend.name()));
        }
    }
    let current =
        std::env::current_exe().map_err(|e| format!("cannot find the tend binary: {e}"))?;
    let (tend_bin, copy) = tend_location(&current);
    let layout = Layout::system(tend_bin);
    let base = prepare::spec_base(&loaded.path);
    // Whether the account is the spec's choice, before the installed form fills it in.
    let user_in_spec = spec.user.is_some();
    let spec = installed_spec(&spec, &base, &layout);
    let name = spec.name.to_string();
    let text = installed_text(&spec, &loaded, a.spec_args.profile.as_deref())?;
    let plan = plan_install(
        &spec,
        &text,
        &layout,
        backend.as_ref(),
        copy.then_some(current.as_path()),
        user_in_spec,
    )
    .map_err(|e| e.to_string())?;

    for w in install::unreachable(&spec) {
        errln!("warning: {w}");
    }
    let mut out = std::io::stdout();
    if a.dry_run {
        outln!("dry run: installing `{name}` ({}) would:", backend.name());
        if plan.steps.is_empty() {
            outln!("  nothing: it is installed and up to date");
        }
        for n in &plan.notes {
            outln!("  account: {n}");
        }
        for s in &plan.steps {
            outln!("  {}", s.describe(true));
        }
        if a.now {
            outln!("  run {}", backend.control(&name, Verb::Start));
        }
        outln!("(nothing was changed)");
        return Ok(());
    }
    let active = backend
        .query(&name)
        .map(|n| {
            matches!(
                n.active.as_str(),
                "active" | "activating" | "reloading" | "started"
            )
        })
        .unwrap_or(false);
    if plan.steps.is_empty() {
        outln!("`{name}` is installed and up to date; nothing to do");
    } else {
        outln!("installing `{name}` ({}):", backend.name());
        for n in &plan.notes {
            outln!("  account: {n}");
        }
    }
    let applied = install::apply(&plan.steps, backend.as_ref(), &name, &mut out)?;
    let start = |restart: bool| {
        let verb = if restart { Verb::Restart } else { Verb::Start };
        start_and_wait(
            backend.as_ref(),
            &name,
            &layout,
            verb,
            Duration::from_secs(30),
        )
        .map(|_| ())
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
        &a,
        &start,
        || applied.rollback(&mut out),
    )
}

/// What an install changed, for [`after_install`].
pub(crate) struct Installed<'a> {
    pub spec: &'a Spec,
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

/// After the install steps: start it (`--now`, undoing a first install whose start
/// fails, after showing why), restart it (`--restart`), or say that it still runs the
/// previous spec; then where everything is. `start(restart)` starts or restarts the
/// service and waits until it runs.
pub(crate) fn after_install(
    i: &Installed<'_>,
    a: &InstallArgs,
    start: &dyn Fn(bool) -> Result<(), String>,
    rollback: impl FnOnce(),
) -> Result<(), String> {
    let name = i.spec.name.as_str();
    let restart = i.existed && i.changes_service && i.active;
    if a.now && !i.active {
        if let Err(e) = start(false) {
            errln!("error: {e}");
            // The logs go with the rollback: show them first.
            show_log_tail(i.layout, i.spec);
            if !i.existed {
                rollback();
                return Err(format!("`{name}` was not installed"));
            }
            return Err(e);
        }
        outln!("`{name}` is running");
    } else if restart && a.restart {
        start(true)?;
        outln!("`{name}` restarted with the new spec");
    } else if restart {
        outln!("`{name}` is running the previous spec: restart it with `tend restart {name}` (or install with --restart)");
    }
    if i.changed {
        outln!(
            "installed `{name}`: spec {}, state {}, logs {}",
            i.layout.spec_path(name).display(),
            i.layout.state_dir(name).display(),
            i.layout.log_dir(i.spec).display()
        );
    }
    Ok(())
}

/// The installed spec's file: where it came from, then the resolved spec.
pub(crate) fn installed_text(
    spec: &Spec,
    loaded: &Loaded,
    profile: Option<&str>,
) -> Result<String, String> {
    let mut text = format!(
        "# Installed by tend from {}{}. `tend install` rewrites this file.\n",
        std::path::absolute(&loaded.path)
            .unwrap_or(loaded.path.clone())
            .display(),
        profile
            .map(|p| format!(" (profile {p})"))
            .unwrap_or_default()
    );
    text.push_str(
        &toml::to_string(spec).map_err(|e| format!("cannot write the resolved spec: {e}"))?,
    );
    Ok(text)
}

/// Prints the last lines of the service's logs (why a first start failed).
pub(crate) fn show_log_tail(layout: &Layout, spec: &crate::spec::Spec) {
    let dir = layout.log_dir(spec);
    for file in [
        format!("{}.err.log", spec.name),
        format!("{}.out.log", spec.name),
        "tend.log".to_string(),
    ] {
        let path = dir.join(&file);
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        let lines: Vec<&str> = text.lines().collect();
        if lines.is_empty() {
            continue;
        }
        errln!("--- last lines of {}:", path.display());
        for l in &lines[lines.len().saturating_sub(10)..] {
            errln!("    {l}");
        }
    }
}

/// `tend uninstall`.
pub fn uninstall(a: UninstallArgs) -> u8 {
    #[cfg(windows)]
    return super::windows::uninstall(a);
    #[cfg(unix)]
    uninstall_unix(a)
}

#[cfg(unix)]
fn uninstall_unix(a: UninstallArgs) -> u8 {
    let layout = Layout::system(PathBuf::new());
    let record = install::read_record(&layout, a.name.as_str());
    let kept = install::read_kept(&layout, a.name.as_str());
    let installed =
        crate::spec::load_file(&layout.spec_path(a.name.as_str()), &Default::default()).ok();
    if record.is_none() && installed.is_none() {
        match &kept {
            // What an earlier uninstall left in place, or what an install killed while
            // writing its first record left: only --purge has work to do.
            Some(_) if a.purge => {}
            None if a.purge && !install::stale_files(&layout, a.name.as_str()).is_empty() => {}
            Some(_) => {
                errln!(
                    "error: `{}` is not installed; its account, state and logs were kept by an earlier uninstall: `tend uninstall {} --purge` removes them",
                    a.name, a.name
                );
                return exit::ERROR;
            }
            None => {
                errln!(
                    "error: `{}` is not installed (no {})",
                    a.name,
                    layout.spec_path(a.name.as_str()).display()
                );
                return exit::ERROR;
            }
        }
    }
    let recorded_backend = record
        .as_ref()
        .or(kept.as_ref())
        .map(|r| r.backend.as_str());
    let backend = match pick_backend(None, recorded_backend) {
        Ok(b) => b,
        Err(e) => {
            errln!("error: {e}");
            return exit::ERROR;
        }
    };
    if !a.dry_run {
        if let Err(e) = need_root("tend uninstall") {
            errln!("error: {e}");
            return exit::ERROR;
        }
    }
    let spec = installed.as_ref().and_then(|l| l.services.first());
    let steps = plan_uninstall(spec, a.name.as_str(), &layout, backend.as_ref(), a.purge);
    outln!(
        "{}uninstalling `{}`:",
        if a.dry_run { "dry run: " } else { "" },
        a.name
    );
    let mut failed = false;
    for s in &steps {
        outln!("  {}", s.describe());
        if !a.dry_run {
            if let Err(e) = s.apply() {
                // Stopping a stopped service fails harmlessly; anything else is worth saying.
                if !matches!(s, install::UninstallStep::Run(_)) {
                    failed = true;
                }
                outln!("    ({e})");
            }
        }
    }
    uninstall_summary(&a, failed)
}

/// The last words of an uninstall, and its exit code.
pub(crate) fn uninstall_summary(a: &UninstallArgs, failed: bool) -> u8 {
    if a.dry_run {
        outln!("(nothing was changed)");
    } else if !a.purge {
        outln!(
            "kept logs and state; `tend uninstall {} --purge` removes them",
            a.name
        );
    }
    if failed {
        exit::ERROR
    } else {
        exit::OK
    }
}
