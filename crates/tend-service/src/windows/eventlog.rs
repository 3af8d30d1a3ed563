//! Writing to the Windows Event Log's Application log as a named event source.
//!
//! The Event Log stores an event as a source name, a level ([`EventKind`]), an event ID
//! and insert strings; the Event Viewer builds the text from the source's message file
//! (a DLL or EXE with a message table) when it shows the event. A source is registered
//! once, at install time, by [`register_source`] (a registry key naming the message
//! file; needs administrator rights), and any process can then [`EventSource::open`] it
//! and [`EventSource::report`] events, including a service running as a restricted
//! account.
//!
//! # Event IDs
//!
//! [`EventSource::report`] takes the full 32-bit message identifier, exactly as the
//! message compiler (`mc.exe`, `windmc`) numbered it in the message table, severity
//! bits (the top two) and customer bit included: the Event Viewer looks that value up
//! in the message file and shows its low 16 bits as the "Event ID". The [`EventKind`]
//! sets the level separately. With a message file of generic messages, such as
//! `%SystemRoot%\System32\EventCreate.exe` (the messages `eventcreate /id 1…1000` uses),
//! pass an ID of that file and the text as the only string.
//!
//! ```no_run
//! use std::path::Path;
//! use tend_service::windows::eventlog::{self, EventKind, EventSource};
//!
//! // At install time (as an administrator):
//! eventlog::register_source("orders", Path::new(r"%SystemRoot%\System32\EventCreate.exe"))?;
//! // In the service:
//! let log = EventSource::open("orders")?;
//! log.report(EventKind::Info, 1, &["orders started"])?;
//! # Ok::<(), tend_service::windows::Error>(())
//! ```

use std::io;
use std::path::{Path, PathBuf};
use std::ptr;

use windows_sys::Win32::Foundation::{
    ERROR_FILE_NOT_FOUND, ERROR_INVALID_PARAMETER, ERROR_MORE_DATA, HANDLE,
};
use windows_sys::Win32::System::EventLog::{
    DeregisterEventSource, RegisterEventSourceW, ReportEventW, EVENTLOG_ERROR_TYPE,
    EVENTLOG_INFORMATION_TYPE, EVENTLOG_WARNING_TYPE,
};
use windows_sys::Win32::System::Registry::{
    RegCloseKey, RegCreateKeyExW, RegDeleteTreeW, RegOpenKeyExW, RegQueryValueExW, RegSetValueExW,
    HKEY, HKEY_LOCAL_MACHINE, KEY_QUERY_VALUE, KEY_SET_VALUE, REG_DWORD, REG_EXPAND_SZ,
    REG_OPTION_NON_VOLATILE, REG_SZ,
};

pub use super::events::EventKind;
use super::events::{self, source_key, sz_bytes, sz_from_bytes, TYPES_SUPPORTED};
use super::scm::wide;
use super::{check, Error};

// The pure half hard-codes the numbers; make sure they are the real ones.
const _: () = {
    assert!(EVENTLOG_ERROR_TYPE == 1);
    assert!(EVENTLOG_WARNING_TYPE == 2);
    assert!(EVENTLOG_INFORMATION_TYPE == 4);
    assert!(
        TYPES_SUPPORTED
            == (EVENTLOG_ERROR_TYPE | EVENTLOG_WARNING_TYPE | EVENTLOG_INFORMATION_TYPE) as u32
    );
};

const MESSAGE_FILE: &str = "EventMessageFile";
const TYPES: &str = "TypesSupported";

/// Registers the Application log source `source` with `message_file` (an absolute path
/// of the DLL or EXE holding its message table; environment variables such as
/// `%SystemRoot%` are allowed and expanded by the Event Viewer): writes the key
/// `HKLM\SYSTEM\CurrentControlSet\Services\EventLog\Application\<source>` with
/// `EventMessageFile` (`REG_EXPAND_SZ`) and `TypesSupported` = 7 (`REG_DWORD`: errors,
/// warnings, information). Returns whether anything changed (`false` when both values
/// already are exactly that). Needs administrator rights.
pub fn register_source(source: &str, message_file: &Path) -> Result<bool, Error> {
    let key = key_path(source)?;
    let file = message_file
        .to_str()
        .ok_or_else(|| Error::NotUnicode(message_file.to_owned()))?;
    // `%SystemRoot%\…` is absolute once expanded; anything else must be absolute now.
    if !message_file.is_absolute() && !file.starts_with('%') {
        return Err(Error::RelativePath(message_file.to_owned()));
    }
    let key = Key::create(&key)?;
    let mut changed = false;
    let file_now = key.value(MESSAGE_FILE)?;
    if file_now
        .as_ref()
        .map(|(kind, data)| (*kind, sz_from_bytes(data)))
        != Some((REG_EXPAND_SZ, file.to_owned()))
    {
        key.set(MESSAGE_FILE, REG_EXPAND_SZ, &sz_bytes(file))?;
        changed = true;
    }
    let types = TYPES_SUPPORTED.to_le_bytes();
    if key.value(TYPES)? != Some((REG_DWORD, types.to_vec())) {
        key.set(TYPES, REG_DWORD, &types)?;
        changed = true;
    }
    Ok(changed)
}

/// Removes the source's registry key (and anything below it). Returns whether it
/// existed. Events already logged stay, but show without their text. Needs
/// administrator rights.
pub fn unregister_source(source: &str) -> Result<bool, Error> {
    let key = wide(&key_path(source)?, "event source")?;
    // SAFETY: HKEY_LOCAL_MACHINE is a predefined key and `key` is NUL-terminated.
    match unsafe { RegDeleteTreeW(HKEY_LOCAL_MACHINE, key.as_ptr()) } {
        ERROR_FILE_NOT_FOUND => Ok(false),
        status => check(status, "RegDeleteTreeW").map(|()| true),
    }
}

/// The message file the source `source` is registered with, as stored (environment
/// variables not expanded); `None` when it is not registered, an empty path when its
/// key has no `EventMessageFile`.
pub fn source_registered(source: &str) -> Result<Option<PathBuf>, Error> {
    let Some(key) = Key::open(&key_path(source)?)? else {
        return Ok(None);
    };
    Ok(Some(match key.value(MESSAGE_FILE)? {
        Some((REG_SZ | REG_EXPAND_SZ, data)) => PathBuf::from(sz_from_bytes(&data)),
        _ => PathBuf::new(),
    }))
}

/// An open event source (`RegisterEventSourceW`), closed on drop
/// (`DeregisterEventSource`). It can be shared between threads.
#[derive(Debug)]
pub struct EventSource {
    handle: HANDLE,
}

// SAFETY: an event log handle is not tied to the thread that opened it, and
// ReportEventW may be called on it from several threads at once.
unsafe impl Send for EventSource {}
// SAFETY: as above; `report` takes `&self` and only passes the handle to ReportEventW.
unsafe impl Sync for EventSource {}

impl EventSource {
    /// Opens the source `source` of the Application log. Windows opens even a source
    /// that is not registered (its events then show without their text), so register
    /// it first with [`register_source`].
    pub fn open(source: &str) -> Result<EventSource, Error> {
        let name = wide(source, "event source")?;
        // SAFETY: a null server name is the local computer; `name` is NUL-terminated.
        let handle = unsafe { RegisterEventSourceW(ptr::null(), name.as_ptr()) };
        if handle.is_null() {
            return Err(Error::api("RegisterEventSourceW"));
        }
        Ok(EventSource { handle })
    }

    /// Reports one event (`ReportEventW`, category 0, no user SID, no binary data):
    /// `event_id` is the full message identifier of the message file (see the
    /// [module documentation](self)) and `strings` fill its `%1`, `%2`, …; each is cut
    /// at 31,839 UTF-16 units, the most `ReportEventW` takes. A string with a NUL is
    /// refused ([`Error::Nul`]).
    pub fn report(&self, kind: EventKind, event_id: u32, strings: &[&str]) -> Result<(), Error> {
        let inserts = strings
            .iter()
            .map(|s| events::insert(s).ok_or(Error::Nul("event string")))
            .collect::<Result<Vec<_>, _>>()?;
        let pointers: Vec<*const u16> = inserts.iter().map(|s| s.as_ptr()).collect();
        let count = u16::try_from(pointers.len()).map_err(|_| Error::Api {
            call: "ReportEventW",
            source: io::Error::from_raw_os_error(ERROR_INVALID_PARAMETER as i32),
        })?;
        // SAFETY: the handle is open; `pointers` holds `count` NUL-terminated strings
        // that outlive the call; no SID and no data.
        let ok = unsafe {
            ReportEventW(
                self.handle,
                kind.raw(),
                0,
                event_id,
                ptr::null_mut(),
                count,
                0,
                if pointers.is_empty() {
                    ptr::null()
                } else {
                    pointers.as_ptr()
                },
                ptr::null(),
            )
        };
        if ok == 0 {
            return Err(Error::api("ReportEventW"));
        }
        Ok(())
    }
}

impl Drop for EventSource {
    fn drop(&mut self) {
        // SAFETY: the handle came from RegisterEventSourceW and is owned only by `self`.
        unsafe { DeregisterEventSource(self.handle) };
    }
}

/// The source's key below `HKEY_LOCAL_MACHINE`, or why the name cannot be one.
fn key_path(source: &str) -> Result<String, Error> {
    source_key(source).map_err(|reason| Error::InvalidName {
        what: "event source name",
        name: source.to_owned(),
        reason,
    })
}

/// An open registry key below `HKEY_LOCAL_MACHINE`, closed on drop.
struct Key(HKEY);

impl Key {
    /// Opens the key for reading its values; `Ok(None)` when it does not exist.
    fn open(path: &str) -> Result<Option<Key>, Error> {
        let path = wide(path, "registry key")?;
        let mut key: HKEY = ptr::null_mut();
        // SAFETY: `path` is NUL-terminated and `key` a valid out-pointer.
        let status = unsafe {
            RegOpenKeyExW(
                HKEY_LOCAL_MACHINE,
                path.as_ptr(),
                0,
                KEY_QUERY_VALUE,
                &mut key,
            )
        };
        if status == ERROR_FILE_NOT_FOUND {
            return Ok(None);
        }
        check(status, "RegOpenKeyExW")?;
        Ok(Some(Key(key)))
    }

    /// Opens the key for reading and writing its values, creating it (and the keys above
    /// it) if needed.
    fn create(path: &str) -> Result<Key, Error> {
        let path = wide(path, "registry key")?;
        let mut key: HKEY = ptr::null_mut();
        // SAFETY: `path` is NUL-terminated; no class, default security; `key` is a valid
        // out-pointer and the disposition is not asked for.
        let status = unsafe {
            RegCreateKeyExW(
                HKEY_LOCAL_MACHINE,
                path.as_ptr(),
                0,
                ptr::null(),
                REG_OPTION_NON_VOLATILE,
                KEY_QUERY_VALUE | KEY_SET_VALUE,
                ptr::null(),
                &mut key,
                ptr::null_mut(),
            )
        };
        check(status, "RegCreateKeyExW")?;
        Ok(Key(key))
    }

    /// The value `name` (its type and data); `Ok(None)` when there is none.
    fn value(&self, name: &str) -> Result<Option<(u32, Vec<u8>)>, Error> {
        let name = wide(name, "registry value")?;
        let mut data = vec![0u8; 512];
        // A retry or two: the value can grow between the calls.
        for _ in 0..3 {
            let mut kind = 0u32;
            let mut len = u32::try_from(data.len()).unwrap_or(u32::MAX);
            // SAFETY: the key is open; `data` has `len` writable bytes; `name` is
            // NUL-terminated.
            let status = unsafe {
                RegQueryValueExW(
                    self.0,
                    name.as_ptr(),
                    ptr::null(),
                    &mut kind,
                    data.as_mut_ptr(),
                    &mut len,
                )
            };
            match status {
                ERROR_FILE_NOT_FOUND => return Ok(None),
                ERROR_MORE_DATA => data.resize(len as usize, 0),
                _ => {
                    check(status, "RegQueryValueExW")?;
                    data.truncate(len as usize);
                    return Ok(Some((kind, data)));
                }
            }
        }
        check(ERROR_MORE_DATA, "RegQueryValueExW").map(|()| None)
    }

    fn set(&self, name: &str, kind: u32, data: &[u8]) -> Result<(), Error> {
        let name = wide(name, "registry value")?;
        let len = u32::try_from(data.len()).map_err(|_| Error::Api {
            call: "RegSetValueExW",
            source: io::Error::from_raw_os_error(ERROR_INVALID_PARAMETER as i32),
        })?;
        // SAFETY: the key is open with KEY_SET_VALUE; `data` has `len` bytes; `name` is
        // NUL-terminated.
        let status = unsafe { RegSetValueExW(self.0, name.as_ptr(), 0, kind, data.as_ptr(), len) };
        check(status, "RegSetValueExW")
    }
}

impl Drop for Key {
    fn drop(&mut self) {
        // SAFETY: the key was opened by `open`/`create` and is owned only by `self`.
        unsafe { RegCloseKey(self.0) };
    }
}
