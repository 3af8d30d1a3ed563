//! The Windows side of `run --service` (the process the service control manager
//! starts), and `start`, `stop`, `restart` and `control` through the install engine
//! (`platform::windows`). The words and the output are the same as on Linux.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{mpsc as std_mpsc, Arc};
use std::time::Duration;

use tend_service::windows::{self as scm, Event, ExitCodeError, StatusHandle};

use super::exit;
use super::run::{load_one, outcome_code, supervise_blocking, RunArgs};
use crate::platform::windows as win;
use crate::platform::{manager_stop_timeout_secs, Layout, Verb};
use crate::spec::{ControlAction, Loaded, Spec};
use crate::supervise::service::Observer;
use crate::supervise::state::{State, Status};
use crate::supervise::{say, Extras, Options, Request};

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

/// `tend start|stop|restart NAME` on Windows: the install engine's.
pub fn control(name: &str, verb: Verb) -> u8 {
    match win::control(name, verb) {
        Ok(msg) => {
            outln!("{msg}");
            exit::OK
        }
        Err(e) => {
            errln!("error: {e}");
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
                crate::platform::InstallError::scm("send a control", e).admin_hint()
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
    fn changed(&mut self, status: &Status, _event: &str) {
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
