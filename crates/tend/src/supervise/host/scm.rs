//! Hosting under the Windows service control manager (`tend run --service`): the
//! dispatcher, the status reporter ([`ScmReport`]), the SCM's controls turned into
//! [`Request`]s, and the Event Log observer. Other platforms have [`AVAILABLE`],
//! [`RunError`] and [`serve`] in `scm_none.rs` (so that `cli/` calls one name).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{mpsc as std_mpsc, Arc};
use std::time::Duration;

use tend_service::windows::{self as scm, Event, ExitCodeError, StatusHandle};

use crate::platform::manager_stop_timeout_secs;
use crate::spec::{ControlAction, Loaded, Spec};
use crate::supervise::event::{Event as LifecycleEvent, StopBy};
use crate::supervise::service::Observer;
use crate::supervise::state::Status;
use crate::supervise::{default_log_dir, eventlog, Extras, Options, Request};

/// Whether this OS has a service control manager to run under.
pub const AVAILABLE: bool = true;

/// Why `tend run --service` did not run.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// Started from a console, not by the SCM.
    #[error("`tend run --service` is what the service control manager starts")]
    NotAService,
    /// The dispatcher failed.
    #[error("{0}")]
    Scm(String),
}

const STARTING: u8 = 0;
const RUNNING: u8 = 1;
const STOPPING: u8 = 2;
const DONE: u8 = 3;

/// `tend run --service`: the supervisor under the SCM's dispatcher. Reports
/// StartPending until the child first runs (with `[health]`: is healthy), Running, StopPending with a checkpoint
/// every second while stopping, then Stopped; a service that failed for good (the
/// restart limit) stops with the service-specific exit code 3, so the SCM's recovery
/// actions fire.
///
/// `name` is what the service calls itself to the dispatcher; `log_dir` (else the
/// default) receives tend.log; `load` reads the spec (an `Err` is the exit code to
/// stop with); `supervise` runs it with the SCM's requests and observers and returns
/// the exit code (0: stopped as asked, or ended successfully).
pub fn serve<L, S>(
    name: &str,
    log_dir: Option<PathBuf>,
    load: L,
    supervise: S,
) -> Result<(), RunError>
where
    L: FnOnce() -> Result<(Loaded, Options), u8> + Send + 'static,
    S: FnOnce(&Loaded, &Options, Extras) -> u8 + Send + 'static,
{
    // An own-process service may name itself anything here; the spec's name is not
    // known until the spec loads, which happens under the dispatcher.
    scm::run(name, move |events, status| {
        // A service has no console: tend's own messages (and output the spec sends to
        // `inherit`) go to tend.log beside the service's logs.
        let log_dir = log_dir.unwrap_or_else(default_log_dir);
        redirect_std_streams(&log_dir.join("tend.log"));
        match load() {
            Ok((loaded, opts)) => service_main(loaded, opts, events, status, supervise),
            Err(code) => Err(ExitCodeError::new(u32::from(code))),
        }
    })
    .map_err(|e| match e {
        scm::Error::NotAService => RunError::NotAService,
        e => RunError::Scm(e.to_string()),
    })
}

fn service_main(
    loaded: Loaded,
    opts: Options,
    events: std_mpsc::Receiver<Event>,
    status: StatusHandle,
    supervise: impl FnOnce(&Loaded, &Options, Extras) -> u8,
) -> Result<(), ExitCodeError> {
    let spec = loaded.services[0].clone();
    let phase = Arc::new(AtomicU8::new(STARTING));
    // `sc pause` / `sc continue`: the child's tree is frozen and let run (the actor's
    // pause, as `tend pause` does); ScmReport says PAUSED and RUNNING when it happened.
    if let Err(e) = status.accept_pause_continue() {
        say!("tend: error: cannot accept pause and continue: {e}");
    }
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    {
        let phase = phase.clone();
        let spec = spec.clone();
        std::thread::spawn(move || {
            for ev in events {
                let req = match ev {
                    Event::Custom(code) => match spec.windows.control_action(code) {
                        Some(ControlAction::Restart) => Request::Restart(StopBy::ServiceManager),
                        Some(ControlAction::ReopenLogs) => Request::ReopenLogs,
                        Some(ControlAction::Reload) => Request::Reload(StopBy::ServiceManager),
                        None => {
                            say!("tend: control code {code} is not mapped in [windows.controls]; ignored");
                            continue;
                        }
                    },
                    Event::Pause => Request::Pause,
                    Event::Continue => Request::Continue,
                    // Stop, Shutdown, Preshutdown.
                    _ => {
                        phase.store(STOPPING, Ordering::SeqCst);
                        Request::Stop(StopBy::ServiceManager)
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
                paused: false,
            })];
            v.extend(eventlog_observer(spec));
            v
        })),
    };
    let code = supervise(&loaded, &opts, extras);
    phase.store(DONE, Ordering::SeqCst);
    match code {
        0 => Ok(()),
        code => Err(ExitCodeError::new(u32::from(code))),
    }
}

/// Tells the SCM the service runs once its child first ran (with `[health]`: passed a
/// probe), or could not be started or turned unhealthy: the supervisor then runs,
/// retrying with backoff, and must accept a stop. Then PAUSED while the child's tree
/// is frozen, and RUNNING again once it runs (see [`scm_paused`]).
struct ScmReport {
    status: StatusHandle,
    phase: Arc<AtomicU8>,
    /// Whether PAUSED was the last pause state reported.
    paused: bool,
}

impl Observer for ScmReport {
    fn changed(&mut self, status: &Status, event: &LifecycleEvent) {
        if self.phase.load(Ordering::SeqCst) == RUNNING {
            let report = match super::scm_paused(self.paused, status.state, event) {
                Some(true) => self.status.paused(),
                Some(false) => self.status.running(),
                None => Ok(()),
            };
            if let Some(paused) = super::scm_paused(self.paused, status.state, event) {
                self.paused = paused;
            }
            if let Err(e) = report {
                say!("tend: error: cannot report the pause state to the service control manager: {e}");
            }
        }
        // Once the first start is over, whatever came of it: a service that stays
        // "start pending" cannot even be stopped. With `[health]`, over means a probe
        // passed, or the service turned unhealthy (or its child ended).
        if status.start_settled()
            && self
                .phase
                .compare_exchange(STARTING, RUNNING, Ordering::SeqCst, Ordering::SeqCst)
                .is_ok()
        {
            if let Err(e) = self.status.running() {
                say!("tend: error: cannot report RUNNING to the service control manager: {e}");
            }
        }
    }
}

/// Points this process's stdout and stderr at `path` (appending).
fn redirect_std_streams(path: &Path) {
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

/// The Windows Event Log observer of a service: lifecycle events (started, exited,
/// restarting, gave up, stop timed out) under the service's own event source, with
/// the messages compiled into tend.exe (see [`eventlog`]).
pub fn eventlog_observer(spec: &Spec) -> Vec<Box<dyn Observer>> {
    match tend_service::windows::eventlog::EventSource::open(spec.name.as_str()) {
        Ok(source) => vec![Box::new(WinEventLog {
            source,
            mapper: eventlog::EventMapper::new(spec),
            failed: false,
        })],
        Err(e) => {
            say!("tend: {}: error: cannot open the Event Log: {e}", spec.name);
            Vec::new()
        }
    }
}

struct WinEventLog {
    source: tend_service::windows::eventlog::EventSource,
    mapper: eventlog::EventMapper,
    failed: bool,
}

impl Observer for WinEventLog {
    fn changed(&mut self, status: &Status, event: &LifecycleEvent) {
        for e in self.mapper.map(status, event) {
            let strings = e.strings();
            let strings: Vec<&str> = strings.iter().map(String::as_str).collect();
            match self
                .source
                .report(e.kind().into(), e.message_id(), &strings)
            {
                Ok(()) => self.failed = false,
                Err(err) if !self.failed => {
                    self.failed = true;
                    say!(
                        "tend: {}: error: cannot write to the Event Log: {err}",
                        status.name
                    );
                }
                Err(_) => {}
            }
        }
    }
}
