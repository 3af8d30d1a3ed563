//! The Windows side of `install`, `uninstall`, `start`, `stop`, `restart` and of `run
//! --service` (the process the service control manager starts). The words and the
//! output are the same as on Linux; the service manager is the SCM, driven through
//! its API.

use std::io::{BufRead, IsTerminal};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{mpsc as std_mpsc, Arc};
use std::time::Duration;

use tend_service::windows::{self as scm, Event, ExitCodeError, StatusHandle};

use super::install::{
    after_install, installed_text, pick_service, uninstall_summary, InstallArgs, Installed,
    UninstallArgs,
};
use super::run::{load_one, outcome_code, supervise_blocking, RunArgs};
use super::{exit, spec_error};
use crate::platform::record::installed_spec;
use crate::platform::windows as win;
use crate::platform::{manager_stop_timeout_secs, Layout, Verb};
use crate::spec::{ControlAction, Loaded, ServiceName, Spec};
use crate::supervise::service::Observer;
use crate::supervise::state::{self, State, Status};
use crate::supervise::{prepare, say, Extras, Options, Request};

/// How long `start`, `restart` and `install --now` wait for the service to run.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// `tend install` on Windows.
pub fn install(a: InstallArgs) -> Result<(), String> {
    let loaded = match a.spec_args.load(&a.spec) {
        Ok(l) => l,
        Err(e) => {
            spec_error(&e);
            return Err("the spec is invalid; nothing was installed".into());
        }
    };
    let spec = pick_service(&loaded, a.name.as_ref().map(ServiceName::as_str))?;
    let current = std::env::current_exe().map_err(|e| format!("cannot find tend.exe: {e}"))?;
    let (tend_bin, copy) = win::tend_location(&current);
    let layout = Layout::system(tend_bin);
    let base = prepare::spec_base(&loaded.path);
    let spec = installed_spec(&spec, &base, &layout);
    let name = spec.name.to_string();
    let text = installed_text(&spec, &loaded, a.spec_args.profile.as_deref())?;
    // A user account's password is asked for when the account is new to the service
    // (or `--password-env` gives a new one), not on every reinstall.
    let info = scm::query(&name)
        .map_err(|e| admin_hint(format!("cannot query the service manager: {e}")))?;
    let wanted = win::account(&spec, None).start_name(&name);
    let account_is_new = info
        .as_ref()
        .is_none_or(|i| !scm::same_account(&i.account, &wanted));
    // A new password also comes when the spec's variable holds one (a rotation).
    let offered = a.password_env.is_some()
        || spec
            .windows
            .password_env
            .as_ref()
            .is_some_and(|v| std::env::var_os(v).is_some());
    let password = if win::needs_password(&spec) && !a.dry_run && (account_is_new || offered) {
        Some(password(&spec, a.password_env.as_deref())?)
    } else {
        None
    };
    let active = info.as_ref().is_some_and(|i| {
        matches!(
            i.state,
            scm::ServiceState::Running | scm::ServiceState::StartPending
        )
    });
    let plan = win::plan_install(
        &spec,
        &text,
        &layout,
        info.as_ref(),
        copy.then_some(current.as_path()),
        password,
    )
    .map_err(admin_hint)?;
    for w in &plan.warnings {
        errln!("warning: {w}");
    }
    if a.dry_run {
        outln!("dry run: installing `{name}` (windows service) would:");
        if plan.steps.is_empty() {
            outln!("  nothing: it is installed and up to date");
        }
        for s in &plan.steps {
            outln!("  {}", s.describe(true));
        }
        if a.now {
            outln!("  start service {name} and wait until it runs");
        }
        outln!("(nothing was changed)");
        return Ok(());
    }
    if plan.steps.is_empty() {
        outln!("`{name}` is installed and up to date; nothing to do");
    } else {
        outln!("installing `{name}` (windows service):");
    }
    let mut out = std::io::stdout();
    if !plan.steps.is_empty() {
        win::secure_root(&layout.spec_dir).map_err(admin_hint)?;
    }
    let applied = win::apply(&plan.steps, &spec, &mut out).map_err(admin_hint)?;
    let start = |restart: bool| win::start_and_wait(&name, restart, START_TIMEOUT).map(|_| ());
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

/// Turns on ANSI escape sequences in this console (Windows 10 and later); false where
/// the console cannot show them.
pub fn enable_ansi() -> bool {
    use windows_sys::Win32::System::Console::{
        GetConsoleMode, GetStdHandle, SetConsoleMode, ENABLE_VIRTUAL_TERMINAL_PROCESSING,
        STD_OUTPUT_HANDLE,
    };
    let mut mode = 0;
    // SAFETY: plain calls on this process's standard output handle.
    unsafe {
        let h = GetStdHandle(STD_OUTPUT_HANDLE);
        GetConsoleMode(h, &mut mode) != 0
            && SetConsoleMode(h, mode | ENABLE_VIRTUAL_TERMINAL_PROCESSING) != 0
    }
}

/// An access-denied error gets the way out.
fn admin_hint(e: String) -> String {
    if e.contains("os error 5") || e.to_lowercase().contains("access is denied") {
        format!(
            "{e}\n  = help: installing a service needs an elevated prompt (Run as administrator)"
        )
    } else {
        e
    }
}

/// The password of a user account: from `--password-env`, `windows.password_env`, or
/// a prompt without echo. Never from the spec, never printed.
fn password(spec: &Spec, flag: Option<&str>) -> Result<String, String> {
    let var = flag.or(spec.windows.password_env.as_deref());
    if let Some(var) = var {
        return std::env::var(var).map_err(|_| {
            format!(
                "the password of {} should be in the environment variable {var}, which is not set",
                spec.windows.account
            )
        });
    }
    if !std::io::stdin().is_terminal() {
        return Err(format!(
            "{} needs a password: set windows.password_env (or --password-env) to the name of an environment variable that holds it",
            spec.windows.account
        ));
    }
    {
        use std::io::Write as _;
        let _ = write!(std::io::stderr(), "password for {}: ", spec.windows.account);
    }
    let _echo = EchoOff::new();
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| format!("cannot read the password: {e}"))?;
    errln!();
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}

/// Turns console echo off until dropped.
struct EchoOff(Option<u32>);

impl EchoOff {
    fn new() -> EchoOff {
        use windows_sys::Win32::System::Console::{
            GetConsoleMode, GetStdHandle, SetConsoleMode, ENABLE_ECHO_INPUT, STD_INPUT_HANDLE,
        };
        let mut mode = 0;
        // SAFETY: plain calls on this process's standard input handle.
        unsafe {
            let h = GetStdHandle(STD_INPUT_HANDLE);
            if GetConsoleMode(h, &mut mode) == 0 {
                return EchoOff(None);
            }
            SetConsoleMode(h, mode & !ENABLE_ECHO_INPUT);
        }
        EchoOff(Some(mode))
    }
}

impl Drop for EchoOff {
    fn drop(&mut self) {
        use windows_sys::Win32::System::Console::{GetStdHandle, SetConsoleMode, STD_INPUT_HANDLE};
        if let Some(mode) = self.0 {
            // SAFETY: restores the mode read in `new`.
            unsafe { SetConsoleMode(GetStdHandle(STD_INPUT_HANDLE), mode) };
        }
    }
}

/// `tend uninstall` on Windows.
pub fn uninstall(a: UninstallArgs) -> u8 {
    let layout = Layout::system(PathBuf::new());
    let installed =
        crate::spec::load_file(&layout.spec_path(a.name.as_str()), &Default::default()).ok();
    let spec = installed.as_ref().and_then(|l| l.services.first());
    let steps = win::plan_uninstall(spec, a.name.as_str(), &layout, a.purge);
    if steps.is_empty() {
        errln!(
            "error: `{}` is not installed (no service, no {})",
            a.name,
            layout.spec_path(a.name.as_str()).display()
        );
        return exit::ERROR;
    }
    outln!(
        "{}uninstalling `{}`:",
        if a.dry_run { "dry run: " } else { "" },
        a.name
    );
    let mut failed = false;
    for s in &steps {
        outln!("  {}", s.describe());
        if !a.dry_run {
            match s.apply() {
                Ok(what) => outln!("    ({what})"),
                Err(e) => {
                    failed = true;
                    outln!("    (failed: {})", admin_hint(e));
                }
            }
        }
    }
    uninstall_summary(&a, failed)
}

/// `tend start|stop|restart NAME` on Windows.
pub fn control(name: &str, verb: Verb) -> u8 {
    let layout = Layout::system(PathBuf::new());
    if !win::is_tend_service(&layout, name) {
        errln!("error: `{name}` is not installed by tend");
        errln!("  = help: install it with `tend install SPEC`, or run it in the foreground with `tend run SPEC`");
        return exit::ERROR;
    }
    let stop_timeout = crate::spec::load_file(&layout.spec_path(name), &Default::default())
        .ok()
        .and_then(|l| l.services.into_iter().next())
        .map_or(Duration::from_secs(30), |s| {
            Duration::from_secs(manager_stop_timeout_secs(&s))
        });
    let result = match verb {
        Verb::Stop => win::stop(name, stop_timeout).map(|o| format!("`{name}` {o}")),
        Verb::Start | Verb::Restart => {
            win::start_and_wait(name, verb == Verb::Restart, START_TIMEOUT.max(stop_timeout)).map(
                |_| {
                    let child = state::read_one(&state::state_path(&layout.state_dir(name), name))
                        .ok()
                        .and_then(|s| s.pid);
                    match child {
                        Some(pid) => format!("`{name}` is running (pid {pid})"),
                        None => format!("`{name}` is running"),
                    }
                },
            )
        }
    };
    match result {
        Ok(msg) => {
            outln!("{msg}");
            exit::OK
        }
        Err(e) => {
            errln!("error: {}", admin_hint(e));
            exit::ERROR
        }
    }
}

/// `tend control NAME CODE`: a custom control code to the service.
pub fn send_control(name: &str, code: u8) -> u8 {
    match scm::control(name, code) {
        Ok(()) => {
            let layout = Layout::system(PathBuf::new());
            let action = crate::spec::load_file(&layout.spec_path(name), &Default::default())
                .ok()
                .and_then(|l| l.services.into_iter().next())
                .and_then(|s| s.windows.control_action(code));
            match action {
                Some(a) => outln!("sent control {code} to `{name}` ({a:?})"),
                None => outln!("sent control {code} to `{name}` (its spec maps no action to it)"),
            }
            exit::OK
        }
        Err(e) => {
            errln!(
                "error: cannot send control {code} to `{name}`: {}",
                admin_hint(e.to_string())
            );
            exit::ERROR
        }
    }
}

// ------------------------------------------------------------ tend run --service

const STARTING: u8 = 0;
const RUNNING: u8 = 1;
const STOPPING: u8 = 2;
const DONE: u8 = 3;

/// `tend run --service`: the supervisor under the SCM's dispatcher. Reports
/// StartPending until the child first runs, Running, StopPending with a checkpoint
/// every second while stopping, then Stopped; a service that failed for good (the
/// restart limit) stops with the service-specific exit code 3, so the SCM's recovery
/// actions fire.
pub fn run_service(a: RunArgs) -> u8 {
    // An own-process service may name itself anything here; the spec's name is not
    // known until the spec loads, which happens under the dispatcher.
    let name = a
        .spec
        .file_stem()
        .map_or_else(|| "tend".into(), |s| s.to_string_lossy().to_string());
    match scm::run(&name, move |events, status| {
        // A service has no console: tend's own messages (and output the spec sends to
        // `inherit`) go to tend.log beside the service's logs.
        let log_dir = a
            .log_dir
            .clone()
            .unwrap_or_else(crate::supervise::default_log_dir);
        redirect_std_streams(&log_dir.join("tend.log"));
        match load_one(&a) {
            Ok((loaded, opts)) => service_main(loaded, opts, events, status),
            Err(code) => Err(ExitCodeError::new(u32::from(code))),
        }
    }) {
        Ok(()) => exit::OK,
        Err(scm::Error::NotAService) => {
            errln!("error: `tend run --service` is what the service control manager starts");
            errln!("  = help: start the installed service with `tend start {name}`, or run the spec in this console without --service");
            exit::ERROR
        }
        Err(e) => {
            errln!("error: {e}");
            exit::ERROR
        }
    }
}

fn service_main(
    loaded: Loaded,
    opts: Options,
    events: std_mpsc::Receiver<Event>,
    status: StatusHandle,
) -> Result<(), ExitCodeError> {
    let spec = loaded.services[0].clone();
    let phase = Arc::new(AtomicU8::new(STARTING));
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    {
        let phase = phase.clone();
        let spec = spec.clone();
        std::thread::spawn(move || {
            for ev in events {
                let req = match ev {
                    Event::Custom(code) => match spec.windows.control_action(code) {
                        Some(ControlAction::Restart) => Request::Restart,
                        Some(ControlAction::ReopenLogs) => Request::ReopenLogs,
                        None => {
                            say!("tend: control code {code} is not mapped in [windows.controls]; ignored");
                            continue;
                        }
                    },
                    // Stop, Shutdown, Preshutdown.
                    _ => {
                        phase.store(STOPPING, Ordering::SeqCst);
                        Request::Stop
                    }
                };
                if tx.send(req).is_err() {
                    break;
                }
            }
        });
    }
    {
        // Progress for the SCM: a checkpoint a second while starting or stopping.
        let phase = phase.clone();
        let status = status.clone();
        let stop_hint = Duration::from_secs(manager_stop_timeout_secs(&spec));
        std::thread::spawn(move || loop {
            std::thread::sleep(Duration::from_secs(1));
            let _ = match phase.load(Ordering::SeqCst) {
                STARTING => status.starting(Duration::from_secs(5)),
                STOPPING => status.stopping(stop_hint),
                DONE => break,
                _ => Ok(()),
            };
        });
    }
    let observe_phase = phase.clone();
    let observe_status = status.clone();
    let extras = Extras {
        requests: Some(rx),
        observers: Some(Box::new(move |spec: &Spec| {
            let mut v: Vec<Box<dyn Observer>> = vec![Box::new(ScmReport {
                status: observe_status.clone(),
                phase: observe_phase.clone(),
            })];
            v.extend(crate::supervise::eventlog_observer(spec));
            v
        })),
    };
    let result = supervise_blocking(&loaded, &[0], &opts, extras);
    phase.store(DONE, Ordering::SeqCst);
    match result {
        Ok(outcomes) if outcome_code(&outcomes) == exit::OK => Ok(()),
        Ok(_) => Err(ExitCodeError::new(u32::from(exit::SERVICE_FAILED))),
        Err(code) => Err(ExitCodeError::new(u32::from(code))),
    }
}

/// Tells the SCM the service runs once its child first ran (or could not be started:
/// the supervisor then runs, retrying with backoff, and must accept a stop).
struct ScmReport {
    status: StatusHandle,
    phase: Arc<AtomicU8>,
}

impl Observer for ScmReport {
    fn changed(&mut self, status: &Status, _event: &crate::supervise::event::Event) {
        // Once the first start is over, whatever came of it: a service that stays
        // "start pending" cannot even be stopped.
        if status.state != State::Starting
            && self
                .phase
                .compare_exchange(STARTING, RUNNING, Ordering::SeqCst, Ordering::SeqCst)
                .is_ok()
        {
            if let Err(e) = self.status.running() {
                say!("tend: cannot report RUNNING to the service control manager: {e}");
            }
        }
    }
}

/// Points this process's stdout and stderr at `path` (appending).
fn redirect_std_streams(path: &std::path::Path) {
    use std::os::windows::io::IntoRawHandle;
    use windows_sys::Win32::System::Console::{SetStdHandle, STD_ERROR_HANDLE, STD_OUTPUT_HANDLE};
    if let Some(dir) = path.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    // Kept small across restarts of the service: past 10 MB it becomes tend.log.1
    // (replacing the one before).
    if std::fs::metadata(path).is_ok_and(|m| m.len() > 10_000_000) {
        let _ = std::fs::rename(path, path.with_extension("log.1"));
    }
    let Ok(file) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
    else {
        return;
    };
    // The handle stays open for the life of the process.
    let h = file.into_raw_handle();
    // SAFETY: `h` is a valid file handle that is never closed.
    unsafe {
        SetStdHandle(STD_OUTPUT_HANDLE, h);
        SetStdHandle(STD_ERROR_HANDLE, h);
    }
}
