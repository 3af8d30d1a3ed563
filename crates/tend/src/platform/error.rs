//! What can go wrong while installing, uninstalling or controlling a service: one
//! typed error for every backend, whose text says what failed, where, and what to do
//! next.

use std::path::PathBuf;

/// An install, uninstall or control error.
#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    /// A tool (`systemctl`, `useradd`, …) ran and failed.
    #[error("`{command}` failed ({status}){}", if stderr.is_empty() { String::new() } else { format!(": {stderr}") })]
    Tool {
        /// The command, as shown in `--dry-run`.
        command: String,
        /// How it ended (`exit status: 1`).
        status: String,
        /// What it said on stderr, trimmed.
        stderr: String,
    },
    /// A tool could not be started.
    #[error("cannot run `{command}`: {}", crate::text::io_error(source))]
    Spawn {
        /// The command.
        command: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A file operation failed.
    #[error("cannot {op} {}: {}", path.display(), crate::text::io_error(source))]
    Io {
        /// What was being done (`write`, `create`, `remove`, …).
        op: &'static str,
        /// On what.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Something that must exist (an account, a group, this binary) was not found.
    #[error("cannot find {what}: {reason}")]
    Lookup {
        /// What was looked up.
        what: String,
        /// Why it was not found.
        reason: String,
    },
    /// The service control manager refused (Windows).
    #[error("cannot {what}: {source}")]
    Scm {
        /// What was being done (`register the service`, `start web`, …).
        what: String,
        /// The SCM's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A file's owner or permissions could not be read or set (Windows ACLs).
    #[error("cannot {what}: {source}")]
    Acl {
        /// What was being done (`restrict C:\ProgramData\tend`, …).
        what: String,
        /// The system's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The Event Log refused (Windows).
    #[error("cannot {what}: {source}")]
    EventLog {
        /// What was being done (`register the Event Log source`, …).
        what: String,
        /// The system's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// Reading what the operator typed failed (a password).
    #[error("cannot read {what}: {}", crate::text::io_error(source))]
    Input {
        /// What was being read.
        what: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The plan refused to touch something that is not tend's.
    #[cfg(unix)]
    #[error(transparent)]
    Plan(#[from] super::install::PlanError),
    /// The install cannot go on; the text says why and what to do.
    #[error("{0}")]
    Refused(String),
    /// `tend uninstall` of a service that is not installed (nothing to remove; the
    /// text says what was looked for).
    #[error("{0}")]
    NotInstalled(String),
    /// The service did not start (the text says what it reported).
    #[error("{0}")]
    Start(String),
    /// The service did not stop in time.
    #[error("{0}")]
    Stop(String),
    /// Changing the system needs root.
    #[error("{what} needs root: it writes system files and may create accounts (try sudo, or --dry-run)")]
    NeedsRoot {
        /// `tend install`, `tend uninstall`.
        what: &'static str,
    },
    /// What was asked for exists only on another OS.
    #[error(
        "{what} is not possible on this OS ({}){}",
        std::env::consts::OS,
        if *dry_run_works { "; `--dry-run` shows what it would do" } else { "" }
    )]
    NotOnThisOs {
        /// What was asked for.
        what: String,
        /// Whether a dry run of it works here (an install of another OS's service).
        dry_run_works: bool,
    },
    /// The SCM denied access: installing needs an elevated prompt.
    #[error("{0}\n  = help: installing a service needs an elevated prompt (Run as administrator)")]
    NeedsAdmin(Box<InstallError>),
}

impl InstallError {
    /// An I/O error on `path`.
    pub fn io(op: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> InstallError {
        InstallError::Io {
            op,
            path: path.into(),
            source,
        }
    }

    /// An SCM error while doing `what`.
    pub fn scm(
        what: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> InstallError {
        InstallError::Scm {
            what: what.into(),
            source: Box::new(source),
        }
    }

    /// An ACL error while doing `what`.
    pub fn acl(
        what: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> InstallError {
        InstallError::Acl {
            what: what.into(),
            source: Box::new(source),
        }
    }

    /// An Event Log error while doing `what`.
    pub fn event_log(
        what: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> InstallError {
        InstallError::EventLog {
            what: what.into(),
            source: Box::new(source),
        }
    }

    /// `what` is not possible on this OS, and neither is a dry run of it.
    pub fn not_here(what: impl Into<String>) -> InstallError {
        InstallError::NotOnThisOs {
            what: what.into(),
            dry_run_works: false,
        }
    }

    /// This error, with the way out when it is an access denied (Windows error 5).
    pub fn admin_hint(self) -> InstallError {
        let text = self.to_string();
        if text.contains("os error 5") || text.to_lowercase().contains("access is denied") {
            InstallError::NeedsAdmin(Box::new(self))
        } else {
            self
        }
    }
}
