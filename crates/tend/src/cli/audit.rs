//! `tend audit [NAME] [--verify] [--json]`: the audit trail of the actions that changed
//! services (see [`crate::audit`]), and whether its chain of hashes is intact; and
//! [`note`], which the verbs that change a service call to append to it.

use std::path::{Path, PathBuf};

use clap::Args;

use super::exit;
use crate::audit::{self, log};
use crate::platform::Layout;
use crate::spec::ServiceName;
use crate::supervise;

/// Arguments of `tend audit`.
#[derive(Debug, Args)]
pub struct AuditArgs {
    /// Only the actions on this service (`--verify` still checks the whole log).
    pub name: Option<ServiceName>,
    /// Check that no line was edited, deleted, inserted or moved; exit 1 naming each
    /// line that breaks the chain.
    #[arg(long)]
    pub verify: bool,
    /// The entries as a JSON array (with `--verify`: an object with the breaks too).
    #[arg(long)]
    pub json: bool,
    /// The state folder whose audit.jsonl to read (default: the installed services'
    /// log, /var/lib/tend or %ProgramData%\tend\state, when this user can read it,
    /// else this user's own, ~/.local/state/tend).
    #[arg(long, env = "TEND_STATE_DIR")]
    pub state_dir: Option<PathBuf>,
}

/// `tend audit`.
pub fn audit(a: AuditArgs) -> u8 {
    let path = match a.state_dir {
        Some(dir) => log::path_in(&dir),
        None => default_log(),
    };
    let text = match log::read(&path) {
        Ok(t) => t,
        Err(e) => {
            errln!(
                "error: cannot read the audit log {}: {}",
                path.display(),
                crate::text::io_error(&e)
            );
            return exit::ERROR;
        }
    };
    let entries: Vec<_> = audit::entries(&text)
        .into_iter()
        .filter(|(_, e)| a.name.as_ref().is_none_or(|n| n.as_str() == e.service))
        .collect();
    let breaks = if a.verify {
        audit::verify(&text)
    } else {
        Vec::new()
    };
    if a.json {
        let list: Vec<_> = entries.iter().map(|(_, e)| e).collect();
        let v = if a.verify {
            serde_json::json!({
                "file": path,
                "lines": text.lines().count(),
                "intact": breaks.is_empty(),
                "breaks": breaks.iter().map(|b| serde_json::json!({
                    "line": b.line(),
                    "message": b.to_string(),
                })).collect::<Vec<_>>(),
                "entries": list,
            })
        } else {
            serde_json::json!(list)
        };
        outln!("{}", serde_json::to_string(&v).unwrap_or_default());
    } else if a.verify {
        for b in &breaks {
            errln!("error: {}: {b}", path.display());
        }
        if breaks.is_empty() {
            outln!(
                "{}: {} lines, chain intact",
                path.display(),
                text.lines().count()
            );
        }
    } else {
        for (_, e) in &entries {
            outln!("{}", one_line(e));
        }
        if entries.is_empty() {
            errln!("no actions recorded in {}", path.display());
        }
    }
    if breaks.is_empty() {
        exit::OK
    } else {
        exit::ERROR
    }
}

/// The audit log `tend audit` reads without `--state-dir`: the installed services' one
/// (`/var/lib/tend`, `%ProgramData%\tend\state`) when this user can read it, else this
/// user's own (`tend run` / `tend up` services), else the installed services' one (so
/// that the error names it).
fn default_log() -> PathBuf {
    let system = log::path_in(&Layout::system(PathBuf::new()).state_root);
    let own = log::path_in(&supervise::default_state_dir());
    if std::fs::File::open(&system).is_ok() || !own.exists() {
        system
    } else {
        own
    }
}

/// An entry in one line: `#3 2025-01-02T03:04:05Z root (uid 0) from /dev/pts/0: stop web: ok`.
fn one_line(e: &audit::Entry) -> String {
    let who = audit::actor::describe_who(e.uid, e.sid.as_deref(), &e.user, e.sudo_user.as_deref());
    let short = |h: &Option<String>| {
        h.as_deref()
            .map_or("-".to_string(), |h| h[..h.len().min(12)].to_string())
    };
    let spec = if e.spec_before.is_some() || e.spec_after.is_some() {
        format!(
            " (spec {} -> {})",
            short(&e.spec_before),
            short(&e.spec_after)
        )
    } else {
        String::new()
    };
    format!(
        "#{} {} {who} from {}: {} {}: {}{spec}",
        e.seq, e.time, e.from, e.action, e.service, e.result
    )
}

/// Appends an action on `service` to the audit log of state root `dir`; the spec
/// hashes are those of the installed spec file `spec` (read now for `after`; `before`
/// is what the caller read before acting). A log that cannot be written is a warning:
/// the action itself is done.
pub(crate) fn note(
    dir: &Path,
    service: &str,
    action: &str,
    before: Option<&[u8]>,
    spec: Option<&Path>,
    result: Result<(), &str>,
) {
    let after = spec.and_then(|p| std::fs::read(p).ok());
    let what = log::Action {
        service,
        action,
        spec_before: before,
        spec_after: after.as_deref(),
        result,
    };
    if let Err(e) = log::record(dir, &what) {
        errln!("warning: {e}");
    }
}
