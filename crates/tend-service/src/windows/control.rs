//! An installed service seen from outside: its state and configuration, and start, stop
//! and custom controls through the SCM (what a CLI's `status`, `start` and `stop` need).
//!
//! Each call opens the service with only the access it needs, so reading the state
//! works for any user, while starting and stopping need the rights the service's
//! security descriptor gives (by default, administrators). A service that is not
//! installed is `Ok(None)` for [`query`] and an error for which
//! [`Error::is_not_installed`] is true everywhere else.

use std::fmt;
use std::io;
use std::thread;
use std::time::{Duration, Instant};

use windows_sys::Win32::Foundation::{
    ERROR_SERVICE_ALREADY_RUNNING, ERROR_SERVICE_CANNOT_ACCEPT_CTRL, ERROR_SERVICE_DOES_NOT_EXIST,
    ERROR_SERVICE_NOT_ACTIVE,
};
use windows_sys::Win32::System::Services as S;

use super::def::{ServiceState, StartType};
use super::scm::{Manager, Service};
use super::Error;

// The pure half hard-codes the state numbers; make sure they are the real ones.
const _: () = {
    assert!(S::SERVICE_STOPPED == 1);
    assert!(S::SERVICE_START_PENDING == 2);
    assert!(S::SERVICE_STOP_PENDING == 3);
    assert!(S::SERVICE_RUNNING == 4);
    assert!(S::SERVICE_CONTINUE_PENDING == 5);
    assert!(S::SERVICE_PAUSE_PENDING == 6);
    assert!(S::SERVICE_PAUSED == 7);
};

/// How often state changes are polled for.
const POLL: Duration = Duration::from_millis(100);

/// An installed service's state and configuration, as [`query`] reads them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceInfo {
    pub state: ServiceState,
    /// The service's process, while it has one.
    pub pid: Option<u32>,
    /// The Win32 error code of the last stop (0: clean; `ERROR_SERVICE_SPECIFIC_ERROR`,
    /// 1066: see `service_exit_code`).
    pub win32_exit_code: u32,
    /// The service-specific exit code of the last stop (what
    /// [`ExitCodeError`](super::ExitCodeError) reports).
    pub service_exit_code: u32,
    /// The start type; delayed auto-start only where the SCM can report it (not Wine,
    /// where such a service reads as [`StartType::Auto`]).
    pub start: StartType,
    /// The account (`lpServiceStartName`): `LocalSystem`, `NT AUTHORITY\LocalService`,
    /// `NT SERVICE\<name>`, `DOMAIN\user`, …
    pub account: String,
    /// The command line the SCM runs (`binPath`).
    pub command_line: String,
    pub display_name: String,
}

/// What [`start`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartOutcome {
    /// The SCM started the service's process (it may still be starting: see
    /// [`wait_state`]).
    Started,
    /// It was running already.
    AlreadyRunning,
}

impl fmt::Display for StartOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            StartOutcome::Started => "started",
            StartOutcome::AlreadyRunning => "already running",
        })
    }
}

/// What [`stop`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopOutcome {
    /// The service stopped.
    Stopped,
    /// It was not running.
    AlreadyStopped,
    /// Asked to stop, it had not stopped when the timeout ran out.
    StillStopping,
}

impl fmt::Display for StopOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            StopOutcome::Stopped => "stopped",
            StopOutcome::AlreadyStopped => "already stopped",
            StopOutcome::StillStopping => "still stopping",
        })
    }
}

/// The state and configuration of the service `name`; `Ok(None)` when it is not
/// installed (`QueryServiceStatusEx` and `QueryServiceConfigW`).
pub fn query(name: &str) -> Result<Option<ServiceInfo>, Error> {
    let manager = Manager::connect(S::SC_MANAGER_CONNECT)?;
    let Some(service) = manager.open(name, S::SERVICE_QUERY_STATUS | S::SERVICE_QUERY_CONFIG)?
    else {
        return Ok(None);
    };
    let status = service.status()?;
    let config = service.observe()?;
    Ok(Some(ServiceInfo {
        state: state_of(&status)?,
        pid: (status.dwProcessId != 0).then_some(status.dwProcessId),
        win32_exit_code: status.dwWin32ExitCode,
        service_exit_code: status.dwServiceSpecificExitCode,
        start: StartType::from_raw(
            config.start_type,
            config.delayed_auto_start.unwrap_or(false),
        ),
        account: config.account,
        command_line: config.binary_path,
        display_name: config.display_name,
    }))
}

/// Starts the service (`StartServiceW`, without arguments) and returns once the SCM has
/// started its process, without waiting for it to report running: follow with
/// [`wait_state`] for that.
pub fn start(name: &str) -> Result<StartOutcome, Error> {
    let service = open_installed(name, S::SERVICE_START)?;
    match service.start() {
        Ok(()) => Ok(StartOutcome::Started),
        Err(e) if e.raw_os_error() == Some(ERROR_SERVICE_ALREADY_RUNNING as i32) => {
            Ok(StartOutcome::AlreadyRunning)
        }
        Err(e) => Err(e),
    }
}

/// Asks the service to stop (`SERVICE_CONTROL_STOP`) and waits at most `timeout` for it
/// to report `SERVICE_STOPPED`. A service that is still starting is asked as soon as it
/// accepts the request.
pub fn stop(name: &str, timeout: Duration) -> Result<StopOutcome, Error> {
    let service = open_installed(name, S::SERVICE_STOP | S::SERVICE_QUERY_STATUS)?;
    stop_service(&service, timeout)
}

/// Sends the custom control code `code` (128–255; the service sees
/// [`Event::Custom`](super::Event::Custom)). Lower codes are the system's and are
/// refused with [`Error::NotCustomControl`] without asking the SCM.
pub fn control(name: &str, code: u8) -> Result<(), Error> {
    if code < 128 {
        return Err(Error::NotCustomControl(code));
    }
    open_installed(name, S::SERVICE_USER_DEFINED_CONTROL)?.control(code.into())
}

/// Asks the service to pause (`SERVICE_CONTROL_PAUSE`, what `sc pause` sends): a
/// service that accepts it suspends its work and reports `SERVICE_PAUSED` (see
/// [`wait_state`]); one that does not is refused by the SCM
/// (`ERROR_INVALID_SERVICE_CONTROL`).
pub fn pause(name: &str) -> Result<(), Error> {
    open_installed(name, S::SERVICE_PAUSE_CONTINUE)?.control(S::SERVICE_CONTROL_PAUSE)
}

/// Asks a paused service to continue (`SERVICE_CONTROL_CONTINUE`, what `sc continue`
/// sends); it reports `SERVICE_RUNNING` once it does.
pub fn resume(name: &str) -> Result<(), Error> {
    open_installed(name, S::SERVICE_PAUSE_CONTINUE)?.control(S::SERVICE_CONTROL_CONTINUE)
}

/// Polls the service's state until it is `want` (`Ok(true)`) or `timeout` has passed
/// (`Ok(false)`).
pub fn wait_state(name: &str, want: ServiceState, timeout: Duration) -> Result<bool, Error> {
    let service = open_installed(name, S::SERVICE_QUERY_STATUS)?;
    let reached = poll(timeout, || {
        Ok((service.status()?.dwCurrentState == want.raw()).then_some(()))
    })?;
    Ok(reached.is_some())
}

/// Asks an open service (with `SERVICE_STOP | SERVICE_QUERY_STATUS` access) to stop and
/// polls until it has, or `timeout` passes.
pub(crate) fn stop_service(service: &Service, timeout: Duration) -> Result<StopOutcome, Error> {
    if service.status()?.dwCurrentState == S::SERVICE_STOPPED {
        return Ok(StopOutcome::AlreadyStopped);
    }
    let mut asked = false;
    let stopped = poll(timeout, || {
        let state = service.status()?.dwCurrentState;
        if state == S::SERVICE_STOPPED {
            return Ok(Some(StopOutcome::Stopped));
        }
        // Ask once it can take the request: not while it is still starting, and no
        // need once it is already stopping.
        if !asked && state != S::SERVICE_STOP_PENDING {
            match service.control(S::SERVICE_CONTROL_STOP) {
                Ok(()) => asked = true,
                Err(e) => match e.raw_os_error().map(|c| c as u32) {
                    // It stopped by itself meanwhile.
                    Some(ERROR_SERVICE_NOT_ACTIVE) => return Ok(Some(StopOutcome::AlreadyStopped)),
                    Some(ERROR_SERVICE_CANNOT_ACCEPT_CTRL) => {}
                    _ => return Err(e),
                },
            }
        }
        Ok(None)
    })?;
    Ok(stopped.unwrap_or(StopOutcome::StillStopping))
}

/// Calls `check` every [`POLL`] until it returns `Some`, or `timeout` has passed
/// (`Ok(None)`); it is always called at least once, and once more at the deadline.
fn poll<T>(
    timeout: Duration,
    mut check: impl FnMut() -> Result<Option<T>, Error>,
) -> Result<Option<T>, Error> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(done) = check()? {
            return Ok(Some(done));
        }
        let now = Instant::now();
        if now >= deadline {
            return Ok(None);
        }
        thread::sleep(POLL.min(deadline - now));
    }
}

/// Opens an installed service; not installed is an `ERROR_SERVICE_DOES_NOT_EXIST` error.
fn open_installed(name: &str, access: u32) -> Result<Service, Error> {
    Manager::connect(S::SC_MANAGER_CONNECT)?
        .open(name, access)?
        .ok_or_else(|| Error::Api {
            call: "OpenServiceW",
            source: io::Error::from_raw_os_error(ERROR_SERVICE_DOES_NOT_EXIST as i32),
        })
}

fn state_of(status: &S::SERVICE_STATUS_PROCESS) -> Result<ServiceState, Error> {
    ServiceState::from_raw(status.dwCurrentState).ok_or(Error::UnknownState(status.dwCurrentState))
}
