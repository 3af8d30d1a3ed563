//! What `tend doctor` observes of a Windows system: access is decided by ACLs, which
//! the doctor does not read yet, and there is no `ldd`; each says so by returning
//! nothing, and the doctor reports the check as not made.

use std::path::Path;

use super::{AccountIds, Perm};

/// Unix permission bits: none on Windows.
pub fn perm_of(_m: &std::fs::Metadata) -> Option<Perm> {
    None
}

/// An account's Unix ids: none on Windows.
pub fn account_ids(_user: Option<&str>, _group: Option<&str>) -> Result<AccountIds, String> {
    Err("account permissions are not checked on Windows yet".to_string())
}

/// `ldd`: none on Windows.
pub fn ldd(
    _program: &Path,
    _who: Option<&AccountIds>,
    _ld_library_path: Option<&std::ffi::OsStr>,
) -> Option<String> {
    None
}

/// Free space: not measured on Windows yet.
pub fn free_bytes(_path: &Path) -> Option<u64> {
    None
}

/// Whether this process runs elevated: not asked; the doctor's checks that need it
/// say so.
pub fn is_root() -> bool {
    false
}
