//! Account rights in the local security policy (what `secpol.msc` shows under "User
//! Rights Assignment"), through the LSA policy API: which rights an account holds
//! ([`holds`]), granting one ([`add`]) and taking one back ([`remove`]).
//!
//! A service that runs as a user (`DOMAIN\user`, `.\user`) or a group managed service
//! account (`DOMAIN\name$`) needs [`SERVICE_LOGON`], "Log on as a service": without it
//! the SCM cannot start the service (error 1069, "The service did not start due to a
//! logon failure"). `services.msc` grants it when an account is typed in there; a
//! program registering a service through the SCM API must grant it itself. The
//! built-in service accounts and the virtual accounts (`NT SERVICE\…`) hold it
//! already.
//!
//! Every call needs an administrator (the policy is opened with `POLICY_LOOKUP_NAMES`
//! and, to grant, `POLICY_CREATE_ACCOUNT`). Rights are named, not numbered; a right's
//! name is case-sensitive for the LSA (`SeServiceLogonRight`).
//!
//! # Under Wine
//!
//! Wine 8's LSA account-rights calls are stubs (measured with a probe calling these
//! functions): `LsaOpenPolicy` returns a dummy handle, `LsaEnumerateAccountRights`
//! reports no rights (`STATUS_OBJECT_NAME_NOT_FOUND`: [`holds`] is `false`), and
//! `LsaAddAccountRights` and `LsaRemoveAccountRights` succeed without keeping
//! anything, so [`holds`] stays `false` after [`add`].
//!
//! ```no_run
//! use tend_service::windows::{acl, rights, Account};
//!
//! let account = Account::User { name: r".\orders".into(), password: None };
//! let sid = acl::account_sid(&account, "orders")?;
//! if !rights::holds(&sid, rights::SERVICE_LOGON)? {
//!     rights::add(&sid, rights::SERVICE_LOGON)?;
//! }
//! # Ok::<(), tend_service::windows::Error>(())
//! ```

use std::io;
use std::ptr;

use windows_sys::Win32::Foundation::{NTSTATUS, STATUS_OBJECT_NAME_NOT_FOUND};
use windows_sys::Win32::Security::Authentication::Identity::{
    LsaAddAccountRights, LsaClose, LsaEnumerateAccountRights, LsaFreeMemory, LsaNtStatusToWinError,
    LsaOpenPolicy, LsaRemoveAccountRights, LSA_HANDLE, LSA_OBJECT_ATTRIBUTES, LSA_UNICODE_STRING,
    POLICY_CREATE_ACCOUNT, POLICY_LOOKUP_NAMES,
};

use super::security::Sid;
use super::Error;

/// "Log on as a service".
pub const SERVICE_LOGON: &str = "SeServiceLogonRight";

/// Whether the account `sid` holds the right `right` itself (not through a group it
/// is a member of: the LSA lists only the account's own assignments).
pub fn holds(sid: &Sid, right: &str) -> Result<bool, Error> {
    let policy = Policy::open(POLICY_LOOKUP_NAMES as u32)?;
    Ok(policy.rights(sid)?.iter().any(|r| r == right))
}

/// Grants the account `sid` the right `right` (nothing changes when it holds it).
pub fn add(sid: &Sid, right: &str) -> Result<(), Error> {
    let policy = Policy::open((POLICY_LOOKUP_NAMES | POLICY_CREATE_ACCOUNT) as u32)?;
    let mut sid = sid.to_bytes();
    let mut name = Name::new(right)?;
    let string = name.string();
    // SAFETY: an open policy handle; `sid` is a valid SID; one LSA_UNICODE_STRING
    // pointing into `name`, which outlives the call.
    let status = unsafe { LsaAddAccountRights(policy.0, sid.as_mut_ptr().cast(), &string, 1) };
    nt(status, "LsaAddAccountRights")
}

/// Takes the right `right` back from the account `sid` (its other rights stay);
/// returns whether the account had any rights at all (`false`: there was nothing to
/// take back).
pub fn remove(sid: &Sid, right: &str) -> Result<bool, Error> {
    let policy = Policy::open(POLICY_LOOKUP_NAMES as u32)?;
    let mut sid = sid.to_bytes();
    let mut name = Name::new(right)?;
    let string = name.string();
    // SAFETY: an open policy handle; `sid` is a valid SID; one LSA_UNICODE_STRING
    // pointing into `name`, which outlives the call; not all rights (`false`).
    let status =
        unsafe { LsaRemoveAccountRights(policy.0, sid.as_mut_ptr().cast(), false, &string, 1) };
    if status == STATUS_OBJECT_NAME_NOT_FOUND {
        return Ok(false);
    }
    nt(status, "LsaRemoveAccountRights").map(|()| true)
}

/// An open LSA policy handle, closed when dropped.
struct Policy(LSA_HANDLE);

impl Policy {
    /// The local system's policy with `access`.
    fn open(access: u32) -> Result<Policy, Error> {
        let attributes = LSA_OBJECT_ATTRIBUTES::default();
        let mut handle: LSA_HANDLE = 0;
        // SAFETY: the local system (null name); zeroed attributes, as the call asks;
        // `handle` is a valid out-pointer.
        let status = unsafe { LsaOpenPolicy(ptr::null(), &attributes, access, &mut handle) };
        nt(status, "LsaOpenPolicy")?;
        Ok(Policy(handle))
    }

    /// The rights `sid` holds (none when the policy has no entry for it).
    fn rights(&self, sid: &Sid) -> Result<Vec<String>, Error> {
        let mut sid = sid.to_bytes();
        let mut list: *mut LSA_UNICODE_STRING = ptr::null_mut();
        let mut count = 0u32;
        // SAFETY: an open policy handle; `sid` is a valid SID; valid out-pointers.
        let status = unsafe {
            LsaEnumerateAccountRights(self.0, sid.as_mut_ptr().cast(), &mut list, &mut count)
        };
        if status == STATUS_OBJECT_NAME_NOT_FOUND {
            return Ok(Vec::new());
        }
        nt(status, "LsaEnumerateAccountRights")?;
        let list = LsaBox(list);
        if list.0.is_null() {
            return Ok(Vec::new());
        }
        // SAFETY: the call returned `count` strings at `list`, which live until freed.
        let strings = unsafe { std::slice::from_raw_parts(list.0, count as usize) };
        Ok(strings
            .iter()
            .map(|s| {
                if s.Buffer.is_null() {
                    return String::new();
                }
                // SAFETY: `Length` bytes of UTF-16 at `Buffer`, owned by `list`.
                let units =
                    unsafe { std::slice::from_raw_parts(s.Buffer, usize::from(s.Length) / 2) };
                String::from_utf16_lossy(units)
            })
            .collect())
    }
}

impl Drop for Policy {
    fn drop(&mut self) {
        // SAFETY: the handle `open` got, closed once.
        unsafe { LsaClose(self.0) };
    }
}

/// Memory the LSA allocated, freed when dropped.
struct LsaBox(*mut LSA_UNICODE_STRING);

impl Drop for LsaBox {
    fn drop(&mut self) {
        if !self.0.is_null() {
            // SAFETY: returned by LsaEnumerateAccountRights, freed once.
            unsafe { LsaFreeMemory(self.0.cast()) };
        }
    }
}

/// A right's name as UTF-16, for an LSA_UNICODE_STRING.
struct Name(Vec<u16>);

impl Name {
    fn new(right: &str) -> Result<Name, Error> {
        let units: Vec<u16> = right.encode_utf16().collect();
        if units.contains(&0) {
            return Err(Error::Nul("right name"));
        }
        if units.is_empty() || units.len() * 2 > usize::from(u16::MAX) {
            return Err(Error::InvalidName {
                what: "right name",
                name: right.into(),
                reason: "is empty or too long",
            });
        }
        Ok(Name(units))
    }

    /// The string, pointing into `self` (counted, not NUL-terminated).
    fn string(&mut self) -> LSA_UNICODE_STRING {
        let bytes = (self.0.len() * 2) as u16;
        LSA_UNICODE_STRING {
            Length: bytes,
            MaximumLength: bytes,
            Buffer: self.0.as_mut_ptr(),
        }
    }
}

/// An NTSTATUS as this module's error (the Win32 code it maps to).
fn nt(status: NTSTATUS, call: &'static str) -> Result<(), Error> {
    if status >= 0 {
        return Ok(());
    }
    // SAFETY: a plain conversion of a status code.
    let code = unsafe { LsaNtStatusToWinError(status) };
    Err(Error::Api {
        call,
        source: io::Error::from_raw_os_error(code as i32),
    })
}
