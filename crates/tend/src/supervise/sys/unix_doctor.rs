//! What `tend doctor` observes of this Unix system: a file's owner and mode, an
//! account's ids, `ldd`'s report on a program (as the service's account), the free
//! space of a file system. The decisions are the doctor's own
//! (pure, in `src/doctor/`); this only looks.

use std::path::Path;
use std::process::{Command, Stdio};

use super::{AccountIds, Perm};

/// A file's owner and permission bits.
pub fn perm_of(m: &std::fs::Metadata) -> Option<Perm> {
    use std::os::unix::fs::MetadataExt;
    Some(Perm {
        uid: m.uid(),
        gid: m.gid(),
        mode: m.mode() & 0o7777,
    })
}

/// The ids of `user` (with `group`, else the user's own), or of this process's own
/// account when there is no `user`.
pub fn account_ids(user: Option<&str>, group: Option<&str>) -> Result<AccountIds, String> {
    match user {
        Some(u) => super::lookup_credentials(u, group)
            .map(|c| {
                let mut gids = c.groups;
                gids.push(c.gid);
                AccountIds {
                    name: c.name,
                    uid: c.uid,
                    gids,
                }
            })
            .map_err(|e| e.to_string()),
        None => {
            let uid = nix::unistd::geteuid();
            let mut gids: Vec<u32> = nix::unistd::getgroups()
                .unwrap_or_default()
                .into_iter()
                .map(|g| g.as_raw())
                .collect();
            gids.push(nix::unistd::getegid().as_raw());
            let name = nix::unistd::User::from_uid(uid)
                .ok()
                .flatten()
                .map_or_else(|| uid.to_string(), |u| u.name);
            Ok(AccountIds {
                name,
                uid: uid.as_raw(),
                gids,
            })
        }
    }
}

/// What `ldd PROGRAM` prints (stdout and stderr), or `None` where there is no `ldd`.
/// With `who` (and this process root), `ldd` runs as that account, with its groups
/// (the primary one last in `gids`), so that a library folder the account cannot read
/// shows as not found, as it would to the service; `ld_library_path` is the service's
/// `LD_LIBRARY_PATH`, which the loader would use.
pub fn ldd(
    program: &Path,
    who: Option<&AccountIds>,
    ld_library_path: Option<&std::ffi::OsStr>,
) -> Option<String> {
    use std::os::unix::process::CommandExt;
    let mut cmd = Command::new("ldd");
    cmd.arg(program).stdin(Stdio::null());
    match ld_library_path {
        Some(p) => cmd.env("LD_LIBRARY_PATH", p),
        None => cmd.env_remove("LD_LIBRARY_PATH"),
    };
    if let Some(who) = who.filter(|w| w.uid != 0 && super::euid() == 0) {
        let groups: Vec<libc::gid_t> = who.gids.clone();
        let gid = *groups.last()?;
        let uid = who.uid;
        // SAFETY: the closure runs in the forked child before exec and makes only
        // async-signal-safe system calls (setgroups, setgid, setuid); it allocates
        // nothing (the group list was built before the fork).
        unsafe {
            cmd.pre_exec(move || {
                // SAFETY: `groups` is a valid array of `groups.len()` gids.
                if libc::setgroups(groups.len() as _, groups.as_ptr()) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                // SAFETY: plain system call.
                if libc::setgid(gid) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                // SAFETY: plain system call.
                if libc::setuid(uid) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
    }
    let out = cmd.output().ok()?;
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    Some(text)
}

/// Bytes free to an unprivileged writer on the file system of `path`.
// fsblkcnt_t and c_ulong are not u64 on every target.
#[allow(clippy::useless_conversion)]
pub fn free_bytes(path: &Path) -> Option<u64> {
    let v = nix::sys::statvfs::statvfs(path).ok()?;
    Some(u64::from(v.blocks_available()).saturating_mul(u64::from(v.fragment_size())))
}

/// Whether this process runs as root.
pub fn is_root() -> bool {
    super::euid() == 0
}
