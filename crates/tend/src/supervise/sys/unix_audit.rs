//! The audit trail's system side on Unix: who runs tend and from where, the audit
//! log opened safely, and the copy of each line to the local syslog socket.

use std::fs;
use std::io;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::Path;

use super::ActorFacts;
use crate::supervise::eventlog;

/// Who runs this process: its user, `SUDO_USER`, the terminal on its standard input,
/// and its parent process.
pub fn actor_facts() -> ActorFacts {
    let uid = nix::unistd::getuid();
    let user = nix::unistd::User::from_uid(uid)
        .ok()
        .flatten()
        .map_or_else(|| uid.to_string(), |u| u.name);
    let terminal = fs::read_link("/proc/self/fd/0")
        .ok()
        .map(|p| p.display().to_string())
        .filter(|p| p.starts_with("/dev/pts/") || p.starts_with("/dev/tty"));
    let ppid = std::os::unix::process::parent_id();
    let comm = fs::read_to_string(format!("/proc/{ppid}/comm"))
        .ok()
        .map(|c| c.trim().to_string())
        .filter(|c| !c.is_empty());
    ActorFacts {
        uid: Some(uid.as_raw()),
        sid: None,
        user,
        sudo_user: std::env::var("SUDO_USER").ok().filter(|u| !u.is_empty()),
        terminal,
        parent: Some((ppid, comm)),
    }
}

/// Opens (creating, owner-only) the audit log at `path` to read and append. Never
/// through a link someone planted where the log goes, and not a log another account
/// owns or could rewrite.
pub fn open_audit_log(path: &Path) -> io::Result<fs::File> {
    let file = fs::OpenOptions::new()
        .read(true)
        .append(true)
        .create(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)?;
    let meta = file.metadata()?;
    let euid = super::euid();
    if meta.uid() != euid || meta.mode() & 0o077 != 0 {
        return Err(io::Error::other(format!(
            "it belongs to uid {} with mode {:o}, not to uid {euid} with mode 600: check who wrote it, then fix it (chown {euid} and chmod 600) or move it away",
            meta.uid(),
            meta.mode() & 0o7777
        )));
    }
    Ok(file)
}

/// The exclusive lock that makes one writer at a time append to an audit log (so
/// two tends acting at once still chain), released on drop. On Unix, an advisory
/// `flock` of the log itself.
pub struct AuditLock(fs::File);

impl Drop for AuditLock {
    fn drop(&mut self) {
        let _ = self.0.unlock();
    }
}

/// Takes the writers' lock of the audit log at `path`, open as `log`; waits for it.
pub fn lock_audit_log(_path: &Path, log: &fs::File) -> io::Result<AuditLock> {
    let f = log.try_clone()?;
    f.lock()?;
    Ok(AuditLock(f))
}

/// Sends the copy of an audit line to the local syslog socket (`/dev/log`: the journal
/// or syslog; `/var/run/syslog` on macOS): `syslog` is the whole datagram. Nothing happens where there is no
/// socket. (`event` is the Windows Event Log's copy.)
pub fn copy_audit_line(syslog: &[u8], _event: &eventlog::Entry) {
    if let Ok(sock) = std::os::unix::net::UnixDatagram::unbound() {
        let _ = sock.send_to(syslog, crate::supervise::syslog::LOCAL_SOCKET);
    }
}
