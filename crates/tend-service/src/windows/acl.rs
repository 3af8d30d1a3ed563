//! File and directory permissions for a service's account.
//!
//! A service that runs as `LocalService`, `NetworkService`, its virtual account
//! `NT SERVICE\<name>` or a dedicated user can only use the directories it has been
//! given access to. [`grant`] adds that access to what a file or directory already
//! allows (inherited by everything created below a directory); [`restrict`] replaces a
//! file's permissions altogether, for files holding secrets, so that only the system,
//! the administrators and the service's account can read them. Both read the current
//! DACL first and write nothing when it already says what they would write, so they
//! can run on every install.
//!
//! Accounts become SIDs without asking the system where possible: the built-in ones are
//! well known, and a virtual account's SID is computed from the service name
//! ([`Sid::service`]); only users (`DOMAIN\user`, `.\user`, a managed `DOMAIN\name$`) are
//! looked up (`LookupAccountNameW`). [`dacl`] and [`allowed_access`] read permissions
//! back, for checks and tests.
//!
//! # Under Wine
//!
//! Wine 8 (measured with `examples/winapi-probe.rs`) runs every call here successfully
//! but keeps a file's DACL only as its Unix mode bits: allow entries for the owner and
//! for groups in the caller's token (Administrators) become the user and group bits,
//! an `Everyone` entry the other bits, and entries for any other SID (`LocalService`,
//! `NT SERVICE\…`) are dropped. Reading returns a DACL rebuilt from the mode (SYSTEM,
//! the owner, `Everyone`), never protected, and setting a DACL merges the parent
//! directory's inheritable entries into it even when it is protected. Its
//! `LookupAccountNameW` knows local users and well-known names (`Everyone`,
//! `BUILTIN\Administrators`, `NT AUTHORITY\LocalService`) but no `NT SERVICE\…` name
//! (`ERROR_NONE_MAPPED`), which is one reason virtual accounts are computed here.
//!
//! ```no_run
//! use std::path::Path;
//! use tend_service::windows::acl::{self, Access};
//! use tend_service::windows::Account;
//!
//! let data = Path::new(r"C:\ProgramData\orders");
//! acl::grant(data, &Account::Virtual, "orders", Access::Modify)?;
//! let spec = Path::new(r"C:\ProgramData\tend\orders.toml");
//! acl::restrict(spec, &Account::Virtual, "orders", Access::Read)?;
//! # Ok::<(), tend_service::windows::Error>(())
//! ```

use std::ffi::c_void;
use std::io;
use std::os::windows::ffi::OsStrExt;
use std::path::Path;
use std::ptr;

use windows_sys::Win32::Foundation::{LocalFree, ERROR_INSUFFICIENT_BUFFER, ERROR_INVALID_SID};
use windows_sys::Win32::Security::Authorization::{
    GetNamedSecurityInfoW, SetEntriesInAclW, SetNamedSecurityInfoW, EXPLICIT_ACCESS_W,
    GRANT_ACCESS, NO_MULTIPLE_TRUSTEE, SET_ACCESS, SE_FILE_OBJECT, TRUSTEE_IS_SID,
    TRUSTEE_IS_UNKNOWN, TRUSTEE_W,
};
use windows_sys::Win32::Security::{
    GetLengthSid, GetSecurityDescriptorControl, LookupAccountNameW, ACL, CONTAINER_INHERIT_ACE,
    DACL_SECURITY_INFORMATION, INHERITED_ACE, INHERIT_ONLY_ACE, NO_INHERITANCE, OBJECT_INHERIT_ACE,
    OWNER_SECURITY_INFORMATION, PROTECTED_DACL_SECURITY_INFORMATION, PSECURITY_DESCRIPTOR, PSID,
    SE_DACL_PROTECTED, SUB_CONTAINERS_AND_OBJECTS_INHERIT, UNPROTECTED_DACL_SECURITY_INFORMATION,
};
use windows_sys::Win32::Storage::FileSystem::{
    GetFileAttributesW, DELETE, FILE_ALL_ACCESS, FILE_ATTRIBUTE_DIRECTORY, FILE_GENERIC_EXECUTE,
    FILE_GENERIC_READ, FILE_GENERIC_WRITE, INVALID_FILE_ATTRIBUTES,
};

use super::def::Account;
use super::scm::wide;
use super::security::{self as sec, parse_acl, restricted_entries};
pub use super::security::{Access, Ace, AceKind, Dacl, Sid};
use super::{check, Error};

// The pure half hard-codes the numbers; make sure they are the real ones.
const _: () = {
    assert!(sec::READ_MASK == FILE_GENERIC_READ | FILE_GENERIC_EXECUTE);
    assert!(sec::MODIFY_MASK == sec::READ_MASK | FILE_GENERIC_WRITE | DELETE);
    assert!(sec::FULL_MASK == FILE_ALL_ACCESS);
    assert!(sec::OBJECT_INHERIT as u32 == OBJECT_INHERIT_ACE);
    assert!(sec::CONTAINER_INHERIT as u32 == CONTAINER_INHERIT_ACE);
    assert!(sec::INHERIT_ONLY as u32 == INHERIT_ONLY_ACE);
    assert!(sec::INHERITED as u32 == INHERITED_ACE);
    assert!(SUB_CONTAINERS_AND_OBJECTS_INHERIT == OBJECT_INHERIT_ACE | CONTAINER_INHERIT_ACE);
};

/// The SID of `account` as the service `service_name` would run as it: well known for
/// the built-in accounts, computed for the virtual account ([`Sid::service`]), looked up
/// for a user (`.\name` is looked up as `name`, which finds local accounts first).
pub fn account_sid(account: &Account, service_name: &str) -> Result<Sid, Error> {
    match account {
        Account::LocalSystem => Ok(Sid::local_system()),
        Account::LocalService => Ok(Sid::local_service()),
        Account::NetworkService => Ok(Sid::network_service()),
        Account::Virtual => Ok(Sid::service(service_name)),
        Account::User { name, .. } => lookup(name.strip_prefix(r".\").unwrap_or(name)),
    }
}

/// Allows `account` (for the service `service_name`) `access` to `path`, adding to what
/// the DACL already allows; on a directory the entry is inherited by the files and
/// subdirectories below it, existing ones included. Returns whether anything changed:
/// `false` when an explicit entry already gives at least that access (with that
/// inheritance), or the DACL is null (everyone may do everything).
///
/// Whether the DACL inherits from the parent directory is left as it is. Needs the
/// right to change permissions (`WRITE_DAC`) on `path`: its owner, or an administrator.
pub fn grant(
    path: &Path,
    account: &Account,
    service_name: &str,
    access: Access,
) -> Result<bool, Error> {
    let target = Target::new(path, account, service_name)?;
    let dacl = target.current.dacl()?;
    if dacl.grants(&target.sid, access.mask(), target.flags) {
        return Ok(false);
    }
    let acl = set_entries(
        &[(target.sid, access.mask())],
        GRANT_ACCESS,
        target.flags,
        target.current.dacl,
    )?;
    write(&target.path, acl.0.cast(), dacl.protected)?;
    Ok(true)
}

/// Replaces the permissions of `path` with a protected DACL (nothing inherited from
/// the parent directory) that allows only SYSTEM and the Administrators full control
/// and `account` (for the service `service_name`) `access`: for files holding secrets,
/// such as an installed spec with environment values. On a directory the entries are
/// inherited below it. Returns whether anything changed (`false` when the DACL already
/// is exactly that).
pub fn restrict(
    path: &Path,
    account: &Account,
    service_name: &str,
    access: Access,
) -> Result<bool, Error> {
    let target = Target::new(path, account, service_name)?;
    let want = restricted_entries(&target.sid, access);
    if target.current.dacl()?.is_exactly(&want, target.flags) {
        return Ok(false);
    }
    let acl = set_entries(&want, SET_ACCESS, target.flags, ptr::null())?;
    write(&target.path, acl.0.cast(), true)?;
    Ok(true)
}

/// The DACL of `path` (`GetNamedSecurityInfoW`).
pub fn dacl(path: &Path) -> Result<Dacl, Error> {
    SecurityInfo::read(&wide_path(path)?, DACL_SECURITY_INFORMATION)?.dacl()
}

/// The rights the allow entries for `sid` give on `path` itself (see
/// [`Dacl::allowed`]); `None` when no entry names it.
pub fn allowed_access(path: &Path, sid: &Sid) -> Result<Option<u32>, Error> {
    Ok(dacl(path)?.allowed(sid))
}

/// What `grant` and `restrict` work on: the account's SID, and the file or directory
/// with the inheritance its entries get and its current DACL.
struct Target {
    sid: Sid,
    /// NUL-terminated.
    path: Vec<u16>,
    flags: u8,
    current: SecurityInfo,
}

impl Target {
    fn new(path: &Path, account: &Account, service_name: &str) -> Result<Target, Error> {
        let sid = account_sid(account, service_name)?;
        let path = wide_path(path)?;
        let flags = inheritance(&path)?;
        let current = SecurityInfo::read(&path, DACL_SECURITY_INFORMATION)?;
        Ok(Target {
            sid,
            path,
            flags,
            current,
        })
    }
}

/// Memory the system allocated with `LocalAlloc`, freed on drop.
struct LocalBox(*mut c_void);

impl Drop for LocalBox {
    fn drop(&mut self) {
        if !self.0.is_null() {
            // SAFETY: the pointer came from a call that allocates with LocalAlloc and is
            // owned only by `self`.
            unsafe { LocalFree(self.0) };
        }
    }
}

/// The owner of `path` (`GetNamedSecurityInfoW`): who may always change its
/// permissions, whatever they say.
pub fn owner(path: &Path) -> Result<Sid, Error> {
    let info = SecurityInfo::read(&wide_path(path)?, OWNER_SECURITY_INFORMATION)?;
    // SAFETY: the owner SID points into the descriptor `info` holds.
    unsafe { sid_at(info.owner, "GetNamedSecurityInfoW") }
}

/// A copy of the SID at `p`.
///
/// # Safety
/// `p` must point to a valid SID.
unsafe fn sid_at(p: PSID, call: &'static str) -> Result<Sid, Error> {
    // SAFETY: a valid SID of `GetLengthSid` bytes (the caller's promise).
    let bytes = unsafe { std::slice::from_raw_parts(p.cast::<u8>(), GetLengthSid(p) as usize) };
    Sid::from_bytes(bytes).ok_or_else(|| Error::Api {
        call,
        source: io::Error::new(io::ErrorKind::InvalidData, "malformed SID"),
    })
}

/// Makes the Administrators group the owner of `path` (an owner may always change the
/// permissions, whatever they say). Needs an administrator.
pub fn set_owner_administrators(path: &Path) -> Result<(), Error> {
    let path = wide_path(path)?;
    let mut admins = Sid::administrators().to_bytes();
    // SAFETY: `path` is NUL-terminated and `admins` a valid SID; only the owner is set.
    let status = unsafe {
        SetNamedSecurityInfoW(
            path.as_ptr(),
            SE_FILE_OBJECT,
            OWNER_SECURITY_INFORMATION,
            admins.as_mut_ptr().cast(),
            ptr::null_mut(),
            ptr::null(),
            ptr::null(),
        )
    };
    check(status, "SetNamedSecurityInfoW")
}

/// The user this process runs as (`GetTokenInformation(TokenUser)`).
pub fn current_user() -> Result<Sid, Error> {
    use windows_sys::Win32::Foundation::{CloseHandle, HANDLE};
    use windows_sys::Win32::Security::{GetTokenInformation, TokenUser, TOKEN_QUERY, TOKEN_USER};
    use windows_sys::Win32::System::Threading::{GetCurrentProcess, OpenProcessToken};
    let mut token: HANDLE = ptr::null_mut();
    // SAFETY: the pseudo-handle of this process; `token` is a valid out-pointer.
    if unsafe { OpenProcessToken(GetCurrentProcess(), TOKEN_QUERY, &mut token) } == 0 {
        return Err(Error::api("OpenProcessToken"));
    }
    let mut buf = vec![0u64; 64];
    let mut len = 0u32;
    // SAFETY: `buf` holds 512 bytes, aligned for TOKEN_USER; `token` is valid.
    let ok = unsafe {
        GetTokenInformation(
            token,
            TokenUser,
            buf.as_mut_ptr().cast(),
            (buf.len() * 8) as u32,
            &mut len,
        )
    };
    let err = Error::api("GetTokenInformation");
    // SAFETY: closing the handle opened above.
    unsafe { CloseHandle(token) };
    if ok == 0 {
        return Err(err);
    }
    // SAFETY: the call filled a TOKEN_USER whose SID points into `buf`.
    unsafe {
        let user = &*(buf.as_ptr().cast::<TOKEN_USER>());
        sid_at(user.User.Sid, "GetTokenInformation")
    }
}

/// A file's security descriptor (the parts asked for) as `GetNamedSecurityInfoW`
/// returned it.
struct SecurityInfo {
    descriptor: LocalBox,
    /// Points into `descriptor`; null for a null DACL, or when not asked for.
    dacl: *const ACL,
    /// Points into `descriptor`; null when not asked for.
    owner: PSID,
}

impl SecurityInfo {
    /// `what`: `DACL_SECURITY_INFORMATION`, `OWNER_SECURITY_INFORMATION` or both.
    fn read(path: &[u16], what: u32) -> Result<SecurityInfo, Error> {
        let mut dacl: *mut ACL = ptr::null_mut();
        let mut owner: PSID = ptr::null_mut();
        let mut descriptor: PSECURITY_DESCRIPTOR = ptr::null_mut();
        // SAFETY: `path` is NUL-terminated; the out-pointers are valid; group and SACL
        // are not asked for, so their out-pointers may be null.
        let status = unsafe {
            GetNamedSecurityInfoW(
                path.as_ptr(),
                SE_FILE_OBJECT,
                what,
                &mut owner,
                ptr::null_mut(),
                &mut dacl,
                ptr::null_mut(),
                &mut descriptor,
            )
        };
        let descriptor = LocalBox(descriptor);
        check(status, "GetNamedSecurityInfoW")?;
        Ok(SecurityInfo {
            descriptor,
            dacl,
            owner,
        })
    }

    fn dacl(&self) -> Result<Dacl, Error> {
        let mut control = 0u16;
        let mut revision = 0u32;
        // SAFETY: the descriptor is the valid one GetNamedSecurityInfoW returned.
        if unsafe { GetSecurityDescriptorControl(self.descriptor.0, &mut control, &mut revision) }
            == 0
        {
            return Err(Error::api("GetSecurityDescriptorControl"));
        }
        let aces = if self.dacl.is_null() {
            None
        } else {
            // SAFETY: a non-null DACL points to an ACL header inside the descriptor, and
            // the whole ACL (`AclSize` bytes) follows it there.
            let bytes = unsafe {
                std::slice::from_raw_parts(
                    self.dacl.cast::<u8>(),
                    usize::from((*self.dacl).AclSize),
                )
            };
            Some(parse_acl(bytes).ok_or_else(|| Error::Api {
                call: "GetNamedSecurityInfoW",
                source: io::Error::new(io::ErrorKind::InvalidData, "malformed DACL"),
            })?)
        };
        Ok(Dacl {
            protected: control & SE_DACL_PROTECTED != 0,
            aces,
        })
    }
}

/// `SetEntriesInAclW`: `old` (may be null) with an entry for each `(sid, mask)`.
fn set_entries(
    entries: &[(Sid, u32)],
    mode: i32,
    inheritance: u8,
    old: *const ACL,
) -> Result<LocalBox, Error> {
    let mut sids: Vec<Vec<u8>> = entries.iter().map(|(sid, _)| sid.to_bytes()).collect();
    let explicit: Vec<EXPLICIT_ACCESS_W> = entries
        .iter()
        .zip(sids.iter_mut())
        .map(|((_, mask), sid)| EXPLICIT_ACCESS_W {
            grfAccessPermissions: *mask,
            grfAccessMode: mode,
            grfInheritance: if inheritance == 0 {
                NO_INHERITANCE
            } else {
                SUB_CONTAINERS_AND_OBJECTS_INHERIT
            },
            Trustee: TRUSTEE_W {
                pMultipleTrustee: ptr::null_mut(),
                MultipleTrusteeOperation: NO_MULTIPLE_TRUSTEE,
                TrusteeForm: TRUSTEE_IS_SID,
                TrusteeType: TRUSTEE_IS_UNKNOWN,
                // With TRUSTEE_IS_SID the "name" is the SID.
                ptstrName: sid.as_mut_ptr().cast(),
            },
        })
        .collect();
    let mut acl: *mut ACL = ptr::null_mut();
    // SAFETY: `explicit` and the SIDs it points to live until the call returns; `old` is
    // null or a valid ACL; `acl` is a valid out-pointer.
    let status = unsafe {
        SetEntriesInAclW(
            u32::try_from(explicit.len()).unwrap_or(u32::MAX),
            explicit.as_ptr(),
            old,
            &mut acl,
        )
    };
    let acl = LocalBox(acl.cast());
    check(status, "SetEntriesInAclW")?;
    Ok(acl)
}

/// `SetNamedSecurityInfoW` with the DACL `acl`, protected from inheritance or not.
fn write(path: &[u16], acl: *const ACL, protected: bool) -> Result<(), Error> {
    let protection = if protected {
        PROTECTED_DACL_SECURITY_INFORMATION
    } else {
        UNPROTECTED_DACL_SECURITY_INFORMATION
    };
    // SAFETY: `path` is NUL-terminated and `acl` a valid ACL; nothing else is set.
    let status = unsafe {
        SetNamedSecurityInfoW(
            path.as_ptr(),
            SE_FILE_OBJECT,
            DACL_SECURITY_INFORMATION | protection,
            ptr::null_mut(),
            ptr::null_mut(),
            acl,
            ptr::null(),
        )
    };
    check(status, "SetNamedSecurityInfoW")
}

/// The inheritance flags for an entry on `path`: into files and subdirectories for a
/// directory, none for a file.
fn inheritance(path: &[u16]) -> Result<u8, Error> {
    // SAFETY: `path` is NUL-terminated.
    let attributes = unsafe { GetFileAttributesW(path.as_ptr()) };
    if attributes == INVALID_FILE_ATTRIBUTES {
        return Err(Error::api("GetFileAttributesW"));
    }
    Ok(if attributes & FILE_ATTRIBUTE_DIRECTORY != 0 {
        sec::OBJECT_INHERIT | sec::CONTAINER_INHERIT
    } else {
        0
    })
}

/// `LookupAccountNameW` on the local system.
fn lookup(name: &str) -> Result<Sid, Error> {
    let name = wide(name, "account")?;
    let mut sid = vec![0u8; 68];
    let mut domain = vec![0u16; 256];
    for _ in 0..2 {
        let mut sid_len = u32::try_from(sid.len()).unwrap_or(u32::MAX);
        let mut domain_len = u32::try_from(domain.len()).unwrap_or(u32::MAX);
        let mut usage = 0;
        // SAFETY: the buffers have the lengths passed with them; `name` is NUL-terminated.
        let ok = unsafe {
            LookupAccountNameW(
                ptr::null(),
                name.as_ptr(),
                sid.as_mut_ptr().cast(),
                &mut sid_len,
                domain.as_mut_ptr(),
                &mut domain_len,
                &mut usage,
            )
        };
        if ok != 0 {
            return Sid::from_bytes(&sid).ok_or_else(|| Error::Api {
                call: "LookupAccountNameW",
                source: io::Error::from_raw_os_error(ERROR_INVALID_SID as i32),
            });
        }
        let err = Error::api("LookupAccountNameW");
        if err.raw_os_error() != Some(ERROR_INSUFFICIENT_BUFFER as i32) {
            return Err(err);
        }
        sid.resize(sid_len as usize, 0);
        domain.resize(domain_len as usize, 0);
    }
    Err(Error::Api {
        call: "LookupAccountNameW",
        source: io::Error::from_raw_os_error(ERROR_INSUFFICIENT_BUFFER as i32),
    })
}

/// A path as a NUL-terminated wide string.
fn wide_path(path: &Path) -> Result<Vec<u16>, Error> {
    let mut out: Vec<u16> = path.as_os_str().encode_wide().collect();
    if out.contains(&0) {
        return Err(Error::Nul("path"));
    }
    out.push(0);
    Ok(out)
}
