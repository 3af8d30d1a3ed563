//! Writing and reading the audit log file: `audit.jsonl` in a state root
//! (`/var/lib/tend` for installed services and root's `tend run`; the `--state-dir`
//! of a `tend run` / `tend up` otherwise). Created readable and writable by its owner
//! only (root's, for the system one); each line is appended under an exclusive lock on
//! the file, so two tends acting at once still chain. A copy of each line goes to the
//! local syslog socket (`/dev/log`: the journal or syslog), tagged `tend-audit`, and
//! on Windows to the Application Event Log (event 1012 under the service's source).
//! Opening the file (owner-only, never through a link) and sending the copies are the
//! OS layer's (`supervise::sys`).

use std::fs;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use super::{actor, next_line, sha256_hex, Entry};

/// The file name of the audit log in a state root.
pub const FILE: &str = "audit.jsonl";

/// The audit log of state root `dir`.
pub fn path_in(dir: &Path) -> PathBuf {
    dir.join(FILE)
}

/// The audit log could not be written.
#[derive(Debug, thiserror::Error)]
#[error("cannot write the audit log {}: {}", path.display(), crate::text::io_error(source))]
pub struct AppendError {
    /// The log.
    pub path: PathBuf,
    /// The error.
    pub source: io::Error,
}

/// What was done, for [`record`].
#[derive(Clone, Debug)]
pub struct Action<'a> {
    /// The service.
    pub service: &'a str,
    /// What: `install`, `stop`, `control 130`, ...
    pub action: &'a str,
    /// The installed spec before, if there was one (its SHA-256 is recorded).
    pub spec_before: Option<&'a [u8]>,
    /// The installed spec after, if there is one.
    pub spec_after: Option<&'a [u8]>,
    /// `Err(message)` when it failed.
    pub result: Result<(), &'a str>,
}

/// Appends `what`, done by this process's user, to the audit log of state root `dir`
/// (created if missing), and copies it to syslog. Returns the line written.
pub fn record(dir: &Path, what: &Action<'_>) -> Result<String, AppendError> {
    let a = actor::current();
    let entry = Entry {
        time: humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
        uid: a.uid,
        sid: a.sid,
        user: a.user,
        sudo_user: a.sudo_user,
        from: a.from,
        service: what.service.to_string(),
        action: what.action.to_string(),
        spec_before: what.spec_before.map(sha256_hex),
        spec_after: what.spec_after.map(sha256_hex),
        result: match what.result {
            Ok(()) => "ok".to_string(),
            Err(e) => format!("error: {e}"),
        },
        ..Entry::default()
    };
    let path = path_in(dir);
    let line = append(&path, entry.clone()).map_err(|source| AppendError {
        path: path.clone(),
        source,
    })?;
    let (syslog, event) = copies(&line, entry);
    crate::supervise::sys::copy_audit_line(&syslog, &event);
    Ok(line)
}

/// Appends `entry` to the log at `path`, chained to its last line.
pub fn append(path: &Path, entry: Entry) -> io::Result<String> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        fs::create_dir_all(parent)?;
    }
    let mut file = crate::supervise::sys::open_audit_log(path)?;
    let lock = crate::supervise::sys::lock_audit_log(path, &file)?;
    let (last, ended) = last_line(&mut file)?;
    let line = next_line(last.as_deref(), entry);
    // After a write cut short, the new line starts a line of its own.
    let lead = if ended { "" } else { "\n" };
    file.write_all(format!("{lead}{line}\n").as_bytes())?;
    drop(lock);
    Ok(line)
}

/// The last line of `file` (without its newline), none when it is empty, and whether
/// the file ends with a newline (or is empty). A last line without a newline (a write
/// cut short) still counts.
fn last_line(file: &mut fs::File) -> io::Result<(Option<String>, bool)> {
    // Lines are a few hundred bytes: the last 64 KiB hold the last one.
    const TAIL: u64 = 64 * 1024;
    let len = file.seek(SeekFrom::End(0))?;
    let start = len.saturating_sub(TAIL);
    file.seek(SeekFrom::Start(start))?;
    let mut buf = Vec::new();
    file.read_to_end(&mut buf)?;
    let text = String::from_utf8_lossy(&buf);
    let ended = text.is_empty() || text.ends_with('\n');
    let last = text
        .trim_end_matches('\n')
        .rsplit('\n')
        .next()
        .filter(|l| !l.is_empty())
        .map(str::to_string);
    Ok((last, ended))
}

/// Reads the log at `path`; an absent log is an empty one.
pub fn read(path: &Path) -> io::Result<String> {
    match fs::read_to_string(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(String::new()),
        other => other,
    }
}

/// The copies of `line` (written for `e`) that go outside the file, as witnesses: the syslog datagram
/// (tagged `tend-audit`, the line and its hash: the `prev` of the next line) and the
/// Windows Event Log entry (1012). Which one is sent is the system's choice.
fn copies(line: &str, e: Entry) -> (Vec<u8>, crate::supervise::eventlog::Entry) {
    use crate::supervise::logfile::Stream;
    use crate::supervise::syslog::{format_local, Header};
    let hash = sha256_hex(line.as_bytes());
    let hostname = String::new();
    let h = Header {
        stream: Stream::Out,
        time: std::time::SystemTime::now(),
        hostname: &hostname,
        app: "tend-audit",
        procid: std::process::id(),
    };
    let syslog = format_local(&h, format!("{line} sha256={hash}").as_bytes(), 8192);
    let event = crate::supervise::eventlog::Entry::Audit {
        who: actor::describe_who(e.uid, e.sid.as_deref(), &e.user, e.sudo_user.as_deref()),
        service: e.service,
        action: e.action,
        from: e.from,
        result: e.result,
        line_hash: hash,
    };
    (syslog, event)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn appends_chain_and_verify() {
        let dir = tempfile::tempdir().unwrap();
        // In a folder that does not exist yet.
        let path = path_in(&dir.path().join("new"));
        for i in 0..3 {
            append(
                &path,
                Entry {
                    service: "web".into(),
                    action: format!("a{i}"),
                    ..Entry::default()
                },
            )
            .unwrap();
        }
        let text = read(&path).unwrap();
        assert_eq!(text.lines().count(), 3);
        assert_eq!(super::super::verify(&text), []);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert_eq!(read(&dir.path().join("none")).unwrap(), "");
    }

    /// The copies carry the line and its hash: syslog's whole, the Event Log's by field.
    #[test]
    fn the_copies_name_the_line_and_its_hash() {
        let entry = Entry {
            uid: Some(0),
            user: "root".into(),
            sudo_user: Some("alice".into()),
            from: "/dev/pts/1".into(),
            service: "web".into(),
            action: "stop".into(),
            result: "ok".into(),
            ..Entry::default()
        };
        let line = next_line(None, entry.clone());
        let (syslog, event) = copies(&line, entry);
        let hash = sha256_hex(line.as_bytes());
        let syslog = String::from_utf8(syslog).unwrap();
        assert!(syslog.contains("tend-audit["), "{syslog}");
        assert!(
            syslog.ends_with(&format!("{line} sha256={hash}")),
            "{syslog}"
        );
        assert_eq!(
            event.strings(),
            [
                "web",
                "stop",
                "root (uid 0, sudo from alice)",
                "/dev/pts/1",
                "ok",
                hash.as_str()
            ]
        );
        assert_eq!(event.id().code(), 1012);
    }

    /// A log another account could rewrite (group- or world-writable, here) or a link
    /// planted where the log goes is not appended to.
    #[cfg(unix)]
    #[test]
    fn a_log_others_could_rewrite_or_a_link_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = path_in(dir.path());
        let entry = || Entry {
            service: "web".into(),
            action: "start".into(),
            ..Entry::default()
        };
        append(&path, entry()).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o622)).unwrap();
        let e = append(&path, entry()).unwrap_err();
        assert!(e.to_string().contains("mode 622"), "{e}");
        assert_eq!(read(&path).unwrap().lines().count(), 1);

        let other = dir.path().join("elsewhere");
        fs::write(&other, "").unwrap();
        let linked = dir.path().join("linked");
        std::fs::create_dir(&linked).unwrap();
        std::os::unix::fs::symlink(&other, path_in(&linked)).unwrap();
        assert!(append(&path_in(&linked), entry()).is_err());
        assert_eq!(fs::read_to_string(&other).unwrap(), "");
    }

    /// A last line cut short (no newline) is chained to as it is, on a line of its own.
    #[test]
    fn a_line_cut_short_is_chained_to() {
        let dir = tempfile::tempdir().unwrap();
        let path = path_in(dir.path());
        fs::write(&path, "{\"seq\":1,\"garb").unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
        }
        let line = append(&path, Entry::default()).unwrap();
        assert!(line.contains(&sha256_hex(b"{\"seq\":1,\"garb")), "{line}");
        let text = read(&path).unwrap();
        assert_eq!(text, format!("{{\"seq\":1,\"garb\n{line}\n"));
        let lines: Vec<usize> = super::super::verify(&text)
            .iter()
            .map(super::super::Break::line)
            .collect();
        // Only the cut line is a break: the next one chains to it as it is.
        assert_eq!(lines, [1]);
    }
}
