//! The audit trail's system side on Windows: who runs tend (the account and its SID)
//! and from where, the audit log, and the copy of each line to the Application
//! Event Log (event 1012, under the service's own event source).

use std::fs;
use std::io;
use std::path::Path;

use super::ActorFacts;
use crate::supervise::eventlog;

/// Who runs this process: the account (`DOMAIN\user`), its SID, and the session.
pub fn actor_facts() -> ActorFacts {
    let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let user = match (var("USERDOMAIN"), var("USERNAME")) {
        (Some(d), Some(u)) => format!("{d}\\{u}"),
        (None, Some(u)) => u,
        _ => "unknown".to_string(),
    };
    ActorFacts {
        uid: None,
        sid: tend_service::windows::acl::current_user()
            .ok()
            .map(|s| s.to_string()),
        user,
        sudo_user: None,
        terminal: var("SESSIONNAME"),
        parent: None,
    }
}

/// Opens (creating) the audit log at `path` to read and append. It lives in the
/// state root, which only the system and the administrators may write.
pub fn open_audit_log(path: &Path) -> io::Result<fs::File> {
    fs::OpenOptions::new()
        .read(true)
        .append(true)
        .create(true)
        .open(path)
}

/// The exclusive lock that makes one writer at a time append to an audit log (so
/// two tends acting at once still chain), released on drop. On Windows, a lock of
/// the file `audit.jsonl.lock` beside the log: a byte-range lock is mandatory there,
/// so a lock of the log itself would keep `tend audit` (and, under Wine, the writer's
/// own appends) from it.
pub struct AuditLock(fs::File);

impl Drop for AuditLock {
    fn drop(&mut self) {
        let _ = self.0.unlock();
    }
}

/// Takes the writers' lock of the audit log at `path`; waits for it.
pub fn lock_audit_log(path: &Path, _log: &fs::File) -> io::Result<AuditLock> {
    let mut name = path.as_os_str().to_owned();
    name.push(".lock");
    let f = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(std::path::PathBuf::from(name))?;
    f.lock()?;
    Ok(AuditLock(f))
}

/// Reports the copy of an audit line to the Application log, under the service's
/// event source. Nothing happens when the Event Log cannot be opened. (`syslog` is
/// the Unix copy.)
pub fn copy_audit_line(_syslog: &[u8], event: &eventlog::Entry) {
    let Some(service) = event.strings().into_iter().next() else {
        return;
    };
    if let Ok(source) = tend_service::windows::eventlog::EventSource::open(&service) {
        let strings = event.strings();
        let strings: Vec<&str> = strings.iter().map(String::as_str).collect();
        let _ = source.report(event.kind().into(), event.message_id(), &strings);
    }
}
