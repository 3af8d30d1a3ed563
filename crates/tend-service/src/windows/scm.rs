//! Thin, safe wrappers over the SCM management API (`windows-sys`).
//!
//! One owner per `SC_HANDLE` ([`ScHandle`] closes it on drop), as in windows-service-rs;
//! [`Manager`] and [`Service`] give each kind of handle only the calls that take it.
//! Variable-size answers (`QueryServiceConfigW`, `QueryServiceConfig2W`) are read into
//! 8-byte-aligned buffers sized by a first call, and their strings copied out before
//! the buffer goes away. Every `unsafe` block states why it is sound.

use std::ptr;
use std::time::Duration;

use windows_sys::Win32::Foundation::{
    ERROR_INSUFFICIENT_BUFFER, ERROR_INVALID_LEVEL, ERROR_NOT_SUPPORTED,
    ERROR_SERVICE_DOES_NOT_EXIST,
};
use windows_sys::Win32::System::Services as S;

use super::def::{Observed, RawFailureActions};
use super::Error;

/// UTF-16, NUL-terminated; `what` names the value in the error for an embedded NUL.
pub(crate) fn wide(s: &str, what: &'static str) -> Result<Vec<u16>, Error> {
    if s.contains('\0') {
        return Err(Error::Nul(what));
    }
    Ok(s.encode_utf16().chain([0]).collect())
}

/// A double-NUL-terminated list (`lpDependencies`); an empty list is just `[0, 0]`.
pub(crate) fn wide_list(items: &[String], what: &'static str) -> Result<Vec<u16>, Error> {
    let mut out = Vec::new();
    for item in items {
        if item.is_empty() {
            return Err(Error::Nul(what));
        }
        out.extend(wide(item, what)?);
    }
    if out.is_empty() {
        out.push(0);
    }
    out.push(0);
    Ok(out)
}

/// Copies a NUL-terminated UTF-16 string (lossily); a null pointer is the empty string.
///
/// # Safety
/// `p` is null or points to a NUL-terminated UTF-16 string that stays valid meanwhile.
unsafe fn from_wide(p: *const u16) -> String {
    if p.is_null() {
        return String::new();
    }
    let mut len = 0;
    // SAFETY: the caller guarantees a NUL terminator, so every read up to it is in bounds.
    while unsafe { *p.add(len) } != 0 {
        len += 1;
    }
    // SAFETY: `len` units starting at `p` were just read.
    String::from_utf16_lossy(unsafe { std::slice::from_raw_parts(p, len) })
}

/// Copies a double-NUL-terminated list of strings.
///
/// # Safety
/// `p` is null or points to a double-NUL-terminated UTF-16 list that stays valid.
unsafe fn from_wide_list(mut p: *const u16) -> Vec<String> {
    let mut out = Vec::new();
    if p.is_null() {
        return out;
    }
    loop {
        // SAFETY: `p` points into the list, at the start of an entry or the final NUL.
        let item = unsafe { from_wide(p) };
        if item.is_empty() {
            return out;
        }
        // SAFETY: skipping the entry and its NUL stays inside the list.
        p = unsafe { p.add(item.encode_utf16().count() + 1) };
        out.push(item);
    }
}

/// Owns one `SC_HANDLE` and closes it on drop.
struct ScHandle(S::SC_HANDLE);

impl ScHandle {
    /// Wraps a handle from an `Open*`/`Create*` call, or the calling thread's last error.
    fn new(handle: S::SC_HANDLE, call: &'static str) -> Result<ScHandle, Error> {
        if handle.is_null() {
            Err(Error::api(call))
        } else {
            Ok(ScHandle(handle))
        }
    }
}

impl Drop for ScHandle {
    fn drop(&mut self) {
        // SAFETY: the handle is valid (checked in `new`) and owned only by `self`.
        unsafe { S::CloseServiceHandle(self.0) };
    }
}

/// A connection to the local SCM.
pub(crate) struct Manager(ScHandle);

impl Manager {
    pub fn connect(access: u32) -> Result<Manager, Error> {
        // SAFETY: null machine and database names mean the local, active database.
        let h = unsafe { S::OpenSCManagerW(ptr::null(), ptr::null(), access) };
        Ok(Manager(ScHandle::new(h, "OpenSCManagerW")?))
    }

    /// Opens a service; `Ok(None)` when it does not exist.
    pub fn open(&self, name: &str, access: u32) -> Result<Option<Service>, Error> {
        let name = wide(name, "service name")?;
        // SAFETY: the manager handle is valid and `name` is NUL-terminated.
        let h = unsafe { S::OpenServiceW(self.0 .0, name.as_ptr(), access) };
        match ScHandle::new(h, "OpenServiceW") {
            Ok(h) => Ok(Some(Service(h))),
            Err(e) if e.raw_os_error() == Some(ERROR_SERVICE_DOES_NOT_EXIST as i32) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// `CreateServiceW` for an own-process service with normal error control.
    #[allow(clippy::too_many_arguments)]
    pub fn create(
        &self,
        name: &str,
        display_name: &str,
        access: u32,
        start_type: u32,
        binary_path: &str,
        dependencies: &[String],
        account: &str,
        password: Option<&str>,
    ) -> Result<Service, Error> {
        let name = wide(name, "service name")?;
        let display = wide(display_name, "display name")?;
        let bin = wide(binary_path, "binary path")?;
        let deps = wide_list(dependencies, "dependency")?;
        let account = wide(account, "account")?;
        let password = password.map(|p| wide(p, "password")).transpose()?;
        // SAFETY: every pointer is null or a NUL-terminated (dependencies: double-NUL)
        // buffer that outlives the call; the manager handle is valid.
        let h = unsafe {
            S::CreateServiceW(
                self.0 .0,
                name.as_ptr(),
                display.as_ptr(),
                access,
                S::SERVICE_WIN32_OWN_PROCESS,
                start_type,
                S::SERVICE_ERROR_NORMAL,
                bin.as_ptr(),
                ptr::null(),
                ptr::null_mut(),
                deps.as_ptr(),
                account.as_ptr(),
                password.as_ref().map_or(ptr::null(), |p| p.as_ptr()),
            )
        };
        let service = ScHandle::new(h, "CreateServiceW").map(Service);
        scrub(password);
        service
    }
}

/// Overwrites a password's copy before it is freed.
fn scrub(password: Option<Vec<u16>>) {
    if let Some(mut p) = password {
        for unit in p.iter_mut() {
            // SAFETY: `unit` is a valid, aligned `&mut u16`; the volatile write keeps the
            // compiler from dropping the store to memory that is about to be freed.
            unsafe { ptr::write_volatile(unit, 0) };
        }
    }
}

/// Which parts [`Service::change_config`] changes; `None` leaves a part alone.
#[derive(Default)]
pub(crate) struct ConfigChange<'a> {
    pub own_process: bool,
    pub start_type: Option<u32>,
    pub binary_path: Option<&'a str>,
    pub dependencies: Option<&'a [String]>,
    pub account: Option<&'a str>,
    pub password: Option<&'a str>,
    pub display_name: Option<&'a str>,
}

/// An open service.
pub(crate) struct Service(ScHandle);

impl Service {
    fn raw(&self) -> S::SC_HANDLE {
        self.0 .0
    }

    /// Reads everything `install` compares, second-level settings included.
    pub fn observe(&self) -> Result<Observed, Error> {
        let buf = self.query(|h, p, n, need| {
            // SAFETY: `p` is an 8-byte-aligned buffer of `n` writable bytes.
            unsafe { S::QueryServiceConfigW(h, p.cast(), n, need) }
        })?;
        let buf = buf.ok_or(Error::Unsupported(super::Setting::ServiceType))?;
        // SAFETY: the call filled the buffer with a QUERY_SERVICE_CONFIGW followed by
        // the strings its pointers point to; the buffer is 8-byte aligned and alive.
        let mut have = unsafe {
            let c = &*(buf.as_ptr() as *const S::QUERY_SERVICE_CONFIGW);
            Observed {
                service_type: c.dwServiceType,
                start_type: c.dwStartType,
                binary_path: from_wide(c.lpBinaryPathName),
                dependencies: from_wide_list(c.lpDependencies),
                account: from_wide(c.lpServiceStartName),
                display_name: from_wide(c.lpDisplayName),
                ..Observed::default()
            }
        };
        have.description = self.config2(S::SERVICE_CONFIG_DESCRIPTION)?.map(|b| {
            // SAFETY: the level's answer starts with a SERVICE_DESCRIPTIONW.
            unsafe { from_wide((*(b.as_ptr() as *const S::SERVICE_DESCRIPTIONW)).lpDescription) }
        });
        have.delayed_auto_start = self
            .config2(S::SERVICE_CONFIG_DELAYED_AUTO_START_INFO)?
            // SAFETY: the level's answer is a SERVICE_DELAYED_AUTO_START_INFO.
            .map(|b| unsafe {
                (*(b.as_ptr() as *const S::SERVICE_DELAYED_AUTO_START_INFO)).fDelayedAutostart != 0
            });
        have.failure_actions = self.config2(S::SERVICE_CONFIG_FAILURE_ACTIONS)?.map(|b| {
            // SAFETY: the answer starts with a SERVICE_FAILURE_ACTIONSW whose action array
            // (cActions entries, or null) lives in the same buffer.
            unsafe {
                let f = &*(b.as_ptr() as *const S::SERVICE_FAILURE_ACTIONSW);
                let actions = if f.lpsaActions.is_null() || f.cActions == 0 {
                    &[][..]
                } else {
                    std::slice::from_raw_parts(f.lpsaActions, f.cActions as usize)
                };
                RawFailureActions {
                    reset_period_secs: f.dwResetPeriod,
                    actions: actions.iter().map(|a| (a.Type, a.Delay)).collect(),
                }
            }
        });
        have.failure_on_non_crash = self
            .config2(S::SERVICE_CONFIG_FAILURE_ACTIONS_FLAG)?
            // SAFETY: the level's answer is a SERVICE_FAILURE_ACTIONS_FLAG.
            .map(|b| unsafe {
                (*(b.as_ptr() as *const S::SERVICE_FAILURE_ACTIONS_FLAG))
                    .fFailureActionsOnNonCrashFailures
                    != 0
            });
        have.preshutdown_timeout_ms = self
            .config2(S::SERVICE_CONFIG_PRESHUTDOWN_INFO)?
            // SAFETY: the level's answer is a SERVICE_PRESHUTDOWN_INFO.
            .map(|b| unsafe {
                (*(b.as_ptr() as *const S::SERVICE_PRESHUTDOWN_INFO)).dwPreshutdownTimeout
            });
        Ok(have)
    }

    /// `QueryServiceConfig2W` at `level`; `Ok(None)` when this SCM does not know the level.
    fn config2(&self, level: u32) -> Result<Option<Vec<u64>>, Error> {
        self.query(|h, p, n, need| {
            // SAFETY: `p` is an 8-byte-aligned buffer of `n` writable bytes.
            unsafe { S::QueryServiceConfig2W(h, level, p, n, need) }
        })
    }

    /// Runs a sizing call, then the real one into a buffer of the size asked for.
    fn query(
        &self,
        call: impl Fn(S::SC_HANDLE, *mut u8, u32, *mut u32) -> i32,
    ) -> Result<Option<Vec<u64>>, Error> {
        let mut need = 0u32;
        // Large enough for almost every answer (the documented maximum of
        // QueryServiceConfigW is 8 KiB); a real buffer also avoids asking SCMs that
        // dislike null buffers for the size first.
        let mut buf: Vec<u64> = vec![0; 512];
        // A retry or two: the size can grow between the calls if someone reconfigures.
        for _ in 0..3 {
            let bytes = u32::try_from(buf.len() * 8).unwrap_or(u32::MAX);
            if call(self.raw(), buf.as_mut_ptr().cast::<u8>(), bytes, &mut need) != 0 {
                return Ok(Some(buf));
            }
            let err = std::io::Error::last_os_error();
            match err.raw_os_error().map(|c| c as u32) {
                Some(ERROR_INSUFFICIENT_BUFFER) => {
                    buf = vec![0u64; (need as usize).div_ceil(8).max(buf.len() * 2)]
                }
                Some(ERROR_INVALID_LEVEL) | Some(ERROR_NOT_SUPPORTED) => return Ok(None),
                _ => {
                    return Err(Error::Api {
                        call: "QueryServiceConfig",
                        source: err,
                    })
                }
            }
        }
        Err(Error::Api {
            call: "QueryServiceConfig",
            source: std::io::Error::from_raw_os_error(ERROR_INSUFFICIENT_BUFFER as i32),
        })
    }

    /// `ChangeServiceConfigW` with `SERVICE_NO_CHANGE`/null for the parts left alone.
    pub fn change_config(&self, c: &ConfigChange<'_>) -> Result<(), Error> {
        let bin = c.binary_path.map(|s| wide(s, "binary path")).transpose()?;
        let deps = c
            .dependencies
            .map(|d| wide_list(d, "dependency"))
            .transpose()?;
        let account = c.account.map(|s| wide(s, "account")).transpose()?;
        let password = c.password.map(|s| wide(s, "password")).transpose()?;
        let display = c
            .display_name
            .map(|s| wide(s, "display name"))
            .transpose()?;
        let p = |v: &Option<Vec<u16>>| v.as_ref().map_or(ptr::null(), |v| v.as_ptr());
        // SAFETY: the handle is valid; each pointer is null (no change) or a buffer that
        // outlives the call, NUL-terminated (dependencies: double-NUL-terminated).
        let ok = unsafe {
            S::ChangeServiceConfigW(
                self.raw(),
                if c.own_process {
                    S::SERVICE_WIN32_OWN_PROCESS
                } else {
                    S::SERVICE_NO_CHANGE
                },
                c.start_type.unwrap_or(S::SERVICE_NO_CHANGE),
                S::SERVICE_NO_CHANGE,
                p(&bin),
                ptr::null(),
                ptr::null_mut(),
                p(&deps),
                p(&account),
                p(&password),
                p(&display),
            )
        };
        let result = if ok != 0 {
            Ok(())
        } else {
            Err(Error::api("ChangeServiceConfigW"))
        };
        scrub(password);
        result
    }

    /// `ChangeServiceConfig2W`; `Error::Unsupported(setting)` when the SCM does not know
    /// the level.
    ///
    /// # Safety
    /// `info` points to the structure `level` expects, valid for the call.
    unsafe fn set_config2(
        &self,
        level: u32,
        info: *const core::ffi::c_void,
        setting: super::Setting,
    ) -> Result<(), Error> {
        // SAFETY: the handle is valid; the caller vouches for `info`.
        if unsafe { S::ChangeServiceConfig2W(self.raw(), level, info) } != 0 {
            return Ok(());
        }
        let e = Error::api("ChangeServiceConfig2W");
        match e.raw_os_error().map(|c| c as u32) {
            Some(ERROR_INVALID_LEVEL) | Some(ERROR_NOT_SUPPORTED) => {
                Err(Error::Unsupported(setting))
            }
            _ => Err(e),
        }
    }

    pub fn set_description(&self, text: &str) -> Result<(), Error> {
        let mut text = wide(text, "description")?;
        let info = S::SERVICE_DESCRIPTIONW {
            lpDescription: text.as_mut_ptr(),
        };
        // SAFETY: `info` and the string it points to live until the call returns.
        unsafe {
            self.set_config2(
                S::SERVICE_CONFIG_DESCRIPTION,
                (&info as *const S::SERVICE_DESCRIPTIONW).cast(),
                super::Setting::Description,
            )
        }
    }

    pub fn set_delayed_auto_start(&self, delayed: bool) -> Result<(), Error> {
        let info = S::SERVICE_DELAYED_AUTO_START_INFO {
            fDelayedAutostart: delayed.into(),
        };
        // SAFETY: `info` lives until the call returns.
        unsafe {
            self.set_config2(
                S::SERVICE_CONFIG_DELAYED_AUTO_START_INFO,
                (&info as *const S::SERVICE_DELAYED_AUTO_START_INFO).cast(),
                super::Setting::DelayedAutoStart,
            )
        }
    }

    /// Sets (or, with no actions, deletes) the recovery actions.
    pub fn set_failure_actions(&self, f: &RawFailureActions) -> Result<(), Error> {
        let mut actions: Vec<S::SC_ACTION> = f
            .actions
            .iter()
            .map(|&(kind, delay)| S::SC_ACTION {
                Type: kind,
                Delay: delay,
            })
            .collect();
        let info = S::SERVICE_FAILURE_ACTIONSW {
            dwResetPeriod: f.reset_period_secs,
            lpRebootMsg: ptr::null_mut(),
            lpCommand: ptr::null_mut(),
            cActions: u32::try_from(actions.len()).unwrap_or(u32::MAX),
            // Non-null even when empty: "0 actions and a non-null array" is how the
            // existing actions are deleted (null would mean "leave them").
            lpsaActions: if actions.is_empty() {
                ptr::NonNull::dangling().as_ptr()
            } else {
                actions.as_mut_ptr()
            },
        };
        // SAFETY: `info` and the array it points to live until the call returns; with
        // zero actions the array is never read.
        unsafe {
            self.set_config2(
                S::SERVICE_CONFIG_FAILURE_ACTIONS,
                (&info as *const S::SERVICE_FAILURE_ACTIONSW).cast(),
                super::Setting::FailureActions,
            )
        }
    }

    pub fn set_failure_on_non_crash(&self, on: bool) -> Result<(), Error> {
        let info = S::SERVICE_FAILURE_ACTIONS_FLAG {
            fFailureActionsOnNonCrashFailures: on.into(),
        };
        // SAFETY: `info` lives until the call returns.
        unsafe {
            self.set_config2(
                S::SERVICE_CONFIG_FAILURE_ACTIONS_FLAG,
                (&info as *const S::SERVICE_FAILURE_ACTIONS_FLAG).cast(),
                super::Setting::FailureActionsOnNonCrash,
            )
        }
    }

    pub fn set_preshutdown_timeout(&self, timeout: Duration) -> Result<(), Error> {
        let info = S::SERVICE_PRESHUTDOWN_INFO {
            dwPreshutdownTimeout: super::def::duration_ms(timeout),
        };
        // SAFETY: `info` lives until the call returns.
        unsafe {
            self.set_config2(
                S::SERVICE_CONFIG_PRESHUTDOWN_INFO,
                (&info as *const S::SERVICE_PRESHUTDOWN_INFO).cast(),
                super::Setting::PreshutdownTimeout,
            )
        }
    }

    /// The current status: state (`SERVICE_STOPPED`, `SERVICE_RUNNING`, …), process id,
    /// exit codes.
    pub fn status(&self) -> Result<S::SERVICE_STATUS_PROCESS, Error> {
        let mut status = S::SERVICE_STATUS_PROCESS::default();
        let mut need = 0;
        // SAFETY: the buffer is exactly one SERVICE_STATUS_PROCESS, as the level asks.
        let ok = unsafe {
            S::QueryServiceStatusEx(
                self.raw(),
                S::SC_STATUS_PROCESS_INFO,
                (&mut status as *mut S::SERVICE_STATUS_PROCESS).cast(),
                std::mem::size_of::<S::SERVICE_STATUS_PROCESS>() as u32,
                &mut need,
            )
        };
        if ok == 0 {
            return Err(Error::api("QueryServiceStatusEx"));
        }
        Ok(status)
    }

    /// Starts the service without arguments (the handle needs `SERVICE_START`).
    pub fn start(&self) -> Result<(), Error> {
        // SAFETY: the handle is valid; no arguments means a null vector.
        if unsafe { S::StartServiceW(self.raw(), 0, ptr::null()) } == 0 {
            return Err(Error::api("StartServiceW"));
        }
        Ok(())
    }

    /// Sends a control code (`SERVICE_CONTROL_STOP`, or a custom 128–255).
    pub fn control(&self, code: u32) -> Result<(), Error> {
        let mut status = S::SERVICE_STATUS::default();
        // SAFETY: the handle is valid and `status` is a writable SERVICE_STATUS.
        if unsafe { S::ControlService(self.raw(), code, &mut status) } == 0 {
            return Err(Error::api("ControlService"));
        }
        Ok(())
    }

    /// Marks the service for deletion (it goes once stopped and all handles closed).
    pub fn delete(&self) -> Result<(), Error> {
        // SAFETY: the handle is valid and was opened with DELETE access.
        if unsafe { S::DeleteService(self.raw()) } == 0 {
            return Err(Error::api("DeleteService"));
        }
        Ok(())
    }
}
