//! What `tend doctor` observes of this Unix system: a file's owner and mode, an
//! account's ids, and `ldd`'s report on a program. The decisions are the doctor's own
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
pub fn ldd(program: &Path) -> Option<String> {
    let out = Command::new("ldd")
        .arg(program)
        .stdin(Stdio::null())
        .output()
        .ok()?;
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    Some(text)
}

/// Whether this process runs as root.
pub fn is_root() -> bool {
    super::euid() == 0
}
