//! Running under the SCM: the dispatcher, the control handler and status reports.
//!
//! [`run`] connects the process to the SCM (`StartServiceCtrlDispatcherW`, which blocks
//! the calling thread until the service has stopped); the SCM then calls `service_main`
//! on a thread of its own, which registers the control handler, reports
//! `SERVICE_START_PENDING` and calls the user's function. Stop, shutdown and preshutdown
//! requests are answered at once with `SERVICE_STOP_PENDING` (so `sc stop` sees the
//! service react) and passed on as [`Event`]s; the function's result becomes the final
//! `SERVICE_STOPPED`. A service that calls [`StatusHandle::accept_pause_continue`] also
//! gets PAUSE and CONTINUE (`sc pause`, `sc continue`, the services console's buttons)
//! as [`Event::Pause`] and [`Event::Continue`], and reports [`StatusHandle::paused`] and
//! [`StatusHandle::running`] once it has done them; others never see those events.
//!
//! One service per process (`SERVICE_WIN32_OWN_PROCESS`), so the state the SCM's
//! callbacks need lives in statics. The control handler is a plain `fn`, not a closure:
//! `windows-service` 0.8 frees a handler closure after it has handled a stop, shutdown
//! or preshutdown, and a later control (an interrogate while stopping, say) would then
//! use freed memory; a `fn` item is zero-sized, so there is nothing to free.

use std::ffi::OsString;
use std::fmt;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use windows_service::service::{
    ServiceControl, ServiceControlAccept, ServiceExitCode, ServiceState, ServiceStatus, ServiceType,
};
use windows_service::service_control_handler::{
    self, ServiceControlHandlerResult, ServiceStatusHandle,
};
use windows_service::{define_windows_service, service_dispatcher};
use windows_sys::Win32::Foundation::{
    ERROR_FAILED_SERVICE_CONTROLLER_CONNECT, ERROR_SERVICE_CANNOT_ACCEPT_CTRL, HANDLE,
};

use super::Error;

/// How long the SCM should wait for the first progress report while starting.
const START_WAIT_HINT: Duration = Duration::from_secs(10);
/// How long the SCM should wait after the stop request for the next progress report.
const STOP_WAIT_HINT: Duration = Duration::from_secs(10);
/// The exit code reported when the service function panics (and unwinding is enabled).
const PANIC_EXIT_CODE: u32 = 0xDEAD;

/// A request from the SCM, delivered to the service function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// `sc stop`, `net stop`, the services console: stop now.
    Stop,
    /// The system is shutting down: stop within about 20 s (older systems) or 5 s.
    Shutdown,
    /// The system is about to shut down and waits for this service up to its
    /// preshutdown timeout: stop now.
    Preshutdown,
    /// A custom control code (128–255) sent with `ControlService`, e.g. "reload".
    Custom(u8),
    /// `sc pause`: suspend the work and report [`StatusHandle::paused`]. Only for a
    /// service that called [`StatusHandle::accept_pause_continue`].
    Pause,
    /// `sc continue`: resume the paused work and report [`StatusHandle::running`].
    Continue,
}

impl Event {
    /// Whether the event asks the service to stop.
    pub fn is_stop(self) -> bool {
        matches!(self, Event::Stop | Event::Shutdown | Event::Preshutdown)
    }
}

/// The error a service function returns: reported to the SCM as a service-specific exit
/// code (`sc query` shows it as `SERVICE_EXIT_CODE`), which also counts as a failure for
/// recovery actions when [`FailurePolicy::on_non_crash_failures`](super::FailurePolicy)
/// is set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExitCodeError {
    code: u32,
}

impl ExitCodeError {
    /// A failure with this code; 0 (which would read as success) becomes 1.
    pub fn new(code: u32) -> ExitCodeError {
        ExitCodeError { code: code.max(1) }
    }

    pub fn code(self) -> u32 {
        self.code
    }
}

impl fmt::Display for ExitCodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "service failed with exit code {}", self.code)
    }
}

impl std::error::Error for ExitCodeError {}

/// Reports the service's state to the SCM. Cheap to clone; all clones share the
/// checkpoint counter.
#[derive(Clone)]
pub struct StatusHandle {
    inner: Arc<StatusInner>,
}

struct StatusInner {
    handle: ServiceStatusHandle,
    /// The current state and the last checkpoint reported for it.
    state: Mutex<(ServiceState, u32)>,
    /// Whether the service accepts PAUSE and CONTINUE while running or paused.
    pausable: AtomicBool,
}

impl StatusHandle {
    /// Still starting: reports `SERVICE_START_PENDING` with the next checkpoint. Call it
    /// before `wait_hint` runs out when starting takes long.
    pub fn starting(&self, wait_hint: Duration) -> Result<(), Error> {
        self.pending(ServiceState::StartPending, wait_hint)
    }

    /// Started: reports `SERVICE_RUNNING`, accepting stop, shutdown and preshutdown
    /// (nothing once a stop has begun). States only move forward: [`starting`]
    /// does nothing once running or stopping, [`stopping`] nothing once stopped.
    ///
    /// [`starting`]: StatusHandle::starting
    /// [`stopping`]: StatusHandle::stopping
    pub fn running(&self) -> Result<(), Error> {
        let mut state = self.lock();
        // Never back from stopping (a stop request was acknowledged meanwhile).
        if matches!(state.0, ServiceState::StopPending | ServiceState::Stopped) {
            return Ok(());
        }
        *state = (ServiceState::Running, 0);
        self.report(
            ServiceState::Running,
            self.accepted(),
            ServiceExitCode::Win32(0),
            0,
            Duration::ZERO,
        )
    }

    /// From now on, accept PAUSE and CONTINUE while running or paused: the SCM then
    /// delivers them as [`Event::Pause`] and [`Event::Continue`], and the service
    /// answers with [`paused`](StatusHandle::paused) and
    /// [`running`](StatusHandle::running) once done (or stays as it was when it could
    /// not). Call it before [`running`](StatusHandle::running); if already running,
    /// the SCM is told at once.
    pub fn accept_pause_continue(&self) -> Result<(), Error> {
        self.inner.pausable.store(true, Ordering::SeqCst);
        if self.state() == ServiceState::Running {
            return self.running();
        }
        Ok(())
    }

    /// Paused: reports `SERVICE_PAUSED`, accepting continue, stop, shutdown and
    /// preshutdown. Only from running (or paused): nothing once a stop has begun, and
    /// nothing for a service that did not [accept
    /// pause](StatusHandle::accept_pause_continue).
    pub fn paused(&self) -> Result<(), Error> {
        let mut state = self.lock();
        if !self.inner.pausable.load(Ordering::SeqCst)
            || !matches!(state.0, ServiceState::Running | ServiceState::Paused)
        {
            return Ok(());
        }
        *state = (ServiceState::Paused, 0);
        self.report(
            ServiceState::Paused,
            self.accepted(),
            ServiceExitCode::Win32(0),
            0,
            Duration::ZERO,
        )
    }

    /// What a running or paused service accepts.
    fn accepted(&self) -> ServiceControlAccept {
        let always = ServiceControlAccept::STOP
            | ServiceControlAccept::SHUTDOWN
            | ServiceControlAccept::PRESHUTDOWN;
        if self.inner.pausable.load(Ordering::SeqCst) {
            always | ServiceControlAccept::PAUSE_CONTINUE
        } else {
            always
        }
    }

    /// Still stopping: reports `SERVICE_STOP_PENDING` with the next checkpoint. A stop
    /// request has already been acknowledged this way with a 10 s wait hint; call this
    /// before the hint runs out while finishing work, so the SCM sees progress.
    pub fn stopping(&self, wait_hint: Duration) -> Result<(), Error> {
        self.pending(ServiceState::StopPending, wait_hint)
    }

    fn pending(&self, kind: ServiceState, wait_hint: Duration) -> Result<(), Error> {
        let mut state = self.lock();
        // States only move forward: no "starting" once running or stopping, no
        // "stopping" once stopped (a progress thread may race with the change).
        let stale = match (state.0, kind) {
            (ServiceState::Stopped, _) => true,
            (
                ServiceState::Running | ServiceState::Paused | ServiceState::StopPending,
                ServiceState::StartPending,
            ) => true,
            _ => false,
        };
        if stale {
            return Ok(());
        }
        let checkpoint = if state.0 == kind {
            state.1.wrapping_add(1).max(1)
        } else {
            1
        };
        *state = (kind, checkpoint);
        self.report(
            kind,
            ServiceControlAccept::empty(),
            ServiceExitCode::Win32(0),
            checkpoint,
            wait_hint,
        )
    }

    fn stopped(&self, exit_code: ServiceExitCode) -> Result<(), Error> {
        let mut state = self.lock();
        *state = (ServiceState::Stopped, 0);
        self.report(
            ServiceState::Stopped,
            ServiceControlAccept::empty(),
            exit_code,
            0,
            Duration::ZERO,
        )
    }

    fn state(&self) -> ServiceState {
        self.lock().0
    }

    fn lock(&self) -> MutexGuard<'_, (ServiceState, u32)> {
        // A panic while holding the lock leaves plain data behind: keep using it.
        self.inner
            .state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn report(
        &self,
        current_state: ServiceState,
        controls_accepted: ServiceControlAccept,
        exit_code: ServiceExitCode,
        checkpoint: u32,
        wait_hint: Duration,
    ) -> Result<(), Error> {
        self.inner
            .handle
            .set_service_status(ServiceStatus {
                service_type: ServiceType::OWN_PROCESS,
                current_state,
                controls_accepted,
                exit_code,
                checkpoint,
                wait_hint,
                process_id: None,
            })
            .map_err(Error::Service)
    }
}

type ServiceFn = Box<dyn FnOnce(Receiver<Event>, StatusHandle) -> Result<(), ExitCodeError> + Send>;

/// What `service_main` needs: the name and the user's function (taken once).
struct Pending {
    name: OsString,
    service: ServiceFn,
}

/// What the control handler needs while the service runs.
struct Control {
    events: Sender<Event>,
    /// `None` until `RegisterServiceCtrlHandlerExW` has returned the handle.
    status: Option<StatusHandle>,
}

static PENDING: Mutex<Option<Pending>> = Mutex::new(None);
static CONTROL: Mutex<Option<Control>> = Mutex::new(None);
/// An error `service_main` met before the user's function could run.
static FAILED: Mutex<Option<Error>> = Mutex::new(None);

fn lock<T>(m: &'static Mutex<T>) -> MutexGuard<'static, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Runs `service` as the service `name` under the SCM; returns once it has stopped.
///
/// Call it from `main` when the SCM started the program (typically behind a
/// `run-service` argument written into the service's command line, or when
/// [`running_as_service`] says so). The function runs on a thread of the SCM's; it should
/// call [`StatusHandle::running`] once it serves, watch the receiver for [`Event`]s
/// (the sender is dropped, ending `recv`, once the service is stopped), and return when
/// asked to stop. `Ok(())` is reported as a clean stop, `Err(e)` as the service-specific
/// exit code `e.code()`.
///
/// Returns [`Error::NotAService`] at once when the program was not started by the SCM
/// (for example from a console).
pub fn run<F>(name: &str, service: F) -> Result<(), Error>
where
    F: FnOnce(Receiver<Event>, StatusHandle) -> Result<(), ExitCodeError> + Send + 'static,
{
    {
        let mut pending = lock(&PENDING);
        if pending.is_some() || lock(&CONTROL).is_some() {
            return Err(Error::AlreadyRunning);
        }
        *pending = Some(Pending {
            name: name.into(),
            service: Box::new(service),
        });
    }
    let started = service_dispatcher::start(name, ffi_service_main);
    // Whatever happened, do not leave a function behind for a later call.
    lock(&PENDING).take();
    match started {
        Ok(()) => lock(&FAILED).take().map_or(Ok(()), Err),
        Err(windows_service::Error::Winapi(e))
            if e.raw_os_error() == Some(ERROR_FAILED_SERVICE_CONTROLLER_CONNECT as i32) =>
        {
            Err(Error::NotAService)
        }
        Err(e) => Err(Error::Service(e)),
    }
}

define_windows_service!(ffi_service_main, service_main);

/// The SCM's entry point for the service (on the SCM's thread).
fn service_main(_arguments: Vec<OsString>) {
    let Some(Pending { name, service }) = lock(&PENDING).take() else {
        return;
    };
    let (events, receiver) = mpsc::channel();
    *lock(&CONTROL) = Some(Control {
        events,
        status: None,
    });
    let handle = match service_control_handler::register(&name, handle_control) {
        Ok(handle) => handle,
        Err(e) => {
            lock(&CONTROL).take();
            *lock(&FAILED) = Some(Error::Service(e));
            return;
        }
    };
    let status = StatusHandle {
        inner: Arc::new(StatusInner {
            handle,
            state: Mutex::new((ServiceState::StartPending, 0)),
            pausable: AtomicBool::new(false),
        }),
    };
    if let Some(control) = lock(&CONTROL).as_mut() {
        control.status = Some(status.clone());
    }
    let result = match status.starting(START_WAIT_HINT) {
        Ok(()) => panic::catch_unwind(AssertUnwindSafe(|| service(receiver, status.clone())))
            .unwrap_or(Err(ExitCodeError::new(PANIC_EXIT_CODE))),
        Err(e) => {
            *lock(&FAILED) = Some(e);
            Err(ExitCodeError::new(1))
        }
    };
    // No more events: later controls only get "no error" (interrogate) or "not now".
    lock(&CONTROL).take();
    let exit_code = match result {
        Ok(()) => ServiceExitCode::Win32(0),
        Err(e) => ServiceExitCode::ServiceSpecific(e.code()),
    };
    if let Err(e) = status.stopped(exit_code) {
        lock(&FAILED).get_or_insert(e);
    }
}

/// The control handler (on the dispatcher's thread): must answer quickly.
fn handle_control(control: ServiceControl) -> ServiceControlHandlerResult {
    let event = match control {
        ServiceControl::Interrogate => return ServiceControlHandlerResult::NoError,
        ServiceControl::Stop => Event::Stop,
        ServiceControl::Shutdown => Event::Shutdown,
        ServiceControl::Preshutdown => Event::Preshutdown,
        ServiceControl::Pause => Event::Pause,
        ServiceControl::Continue => Event::Continue,
        ServiceControl::UserEvent(code) => match u8::try_from(code.to_raw()) {
            Ok(code) => Event::Custom(code),
            Err(_) => return ServiceControlHandlerResult::NotImplemented,
        },
        _ => return ServiceControlHandlerResult::NotImplemented,
    };
    let guard = lock(&CONTROL);
    let Some(control) = guard.as_ref() else {
        // Stopped (or not yet running): nothing to tell.
        return ServiceControlHandlerResult::Other(ERROR_SERVICE_CANNOT_ACCEPT_CTRL);
    };
    if matches!(event, Event::Pause | Event::Continue)
        && !control
            .status
            .as_ref()
            .is_some_and(|s| s.inner.pausable.load(Ordering::SeqCst))
    {
        // Not accepted (the SCM should not have sent it).
        return ServiceControlHandlerResult::NotImplemented;
    }
    if event.is_stop() {
        if let Some(status) = &control.status {
            // Acknowledge the first stop request at once; repeats change nothing.
            if status.state() != ServiceState::StopPending {
                let _ = status.stopping(STOP_WAIT_HINT);
            }
        }
    }
    // The receiver may be gone if the function returned early; then it is stopping.
    let _ = control.events.send(event);
    ServiceControlHandlerResult::NoError
}

/// Whether the SCM started this process: a heuristic, true when the parent process is
/// `services.exe` running in session 0 (the check .NET's `WindowsServiceHelpers` and
/// Go's `svc.IsWindowsService` make).
///
/// It cannot be fooled into a false negative by a service that was started normally,
/// but a program started by another service is not itself one. Prefer an explicit
/// argument in the service's command line (`run-service`, as [`install`](super::install)
/// makes easy) and use this only to make the same binary "just work" both ways.
pub fn running_as_service() -> bool {
    parent_process().is_some_and(|(pid, exe)| {
        exe.eq_ignore_ascii_case("services.exe") && session_of(pid) == Some(0)
    })
}

/// The parent's process id and executable name, from a Toolhelp snapshot.
fn parent_process() -> Option<(u32, String)> {
    use std::os::windows::io::{FromRawHandle, OwnedHandle};
    use windows_sys::Win32::Foundation::INVALID_HANDLE_VALUE;
    use windows_sys::Win32::System::Diagnostics::ToolHelp::{
        CreateToolhelp32Snapshot, Process32FirstW, Process32NextW, PROCESSENTRY32W,
        TH32CS_SNAPPROCESS,
    };

    let me = std::process::id();
    // SAFETY: plain call; the result is checked before use.
    let snapshot: HANDLE = unsafe { CreateToolhelp32Snapshot(TH32CS_SNAPPROCESS, 0) };
    if snapshot == INVALID_HANDLE_VALUE || snapshot.is_null() {
        return None;
    }
    // SAFETY: a valid handle we own; OwnedHandle closes it on every return path.
    let snapshot = unsafe { OwnedHandle::from_raw_handle(snapshot) };
    let raw = std::os::windows::io::AsRawHandle::as_raw_handle(&snapshot);
    let mut entries = Vec::new();
    let mut entry = PROCESSENTRY32W {
        dwSize: std::mem::size_of::<PROCESSENTRY32W>() as u32,
        ..Default::default()
    };
    // SAFETY: the snapshot handle is valid and `entry.dwSize` is set as required.
    let mut ok = unsafe { Process32FirstW(raw, &mut entry) };
    while ok != 0 {
        let len = entry
            .szExeFile
            .iter()
            .position(|&c| c == 0)
            .unwrap_or(entry.szExeFile.len());
        entries.push((
            entry.th32ProcessID,
            entry.th32ParentProcessID,
            String::from_utf16_lossy(&entry.szExeFile[..len]),
        ));
        // SAFETY: as above.
        ok = unsafe { Process32NextW(raw, &mut entry) };
    }
    let parent = entries.iter().find(|e| e.0 == me)?.1;
    entries
        .into_iter()
        .find(|e| e.0 == parent)
        .map(|(pid, _, exe)| (pid, exe))
}

fn session_of(pid: u32) -> Option<u32> {
    use windows_sys::Win32::System::RemoteDesktop::ProcessIdToSessionId;
    let mut session = 0;
    // SAFETY: `session` is a valid out-pointer.
    (unsafe { ProcessIdToSessionId(pid, &mut session) } != 0).then_some(session)
}
