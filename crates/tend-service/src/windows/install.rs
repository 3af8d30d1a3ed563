//! Installing and removing a service through the SCM API.
//!
//! `install` is idempotent: it reads the current registration back, compares it with the
//! definition ([`super::def::plan`]) and writes only what differs, so running an
//! installer twice (or on every deployment) is safe and says what it changed.
//! `uninstall` stops the service first, waiting a bounded time, because deleting a
//! running service only marks it for deletion.

use std::fmt;
use std::path::Path;
use std::time::Duration;

use windows_sys::Win32::Foundation::ERROR_SERVICE_MARKED_FOR_DELETE;
use windows_sys::Win32::Storage::FileSystem::DELETE;
use windows_sys::Win32::System::Services as S;

use super::control::{stop_service, StopOutcome};
use super::def::{self, Plan, ServiceDef, Setting};
use super::scm::{ConfigChange, Manager, Service};
use super::Error;
use crate::cmdline;

// The pure half hard-codes the SCM's numbers; make sure they are the real ones.
const _: () = {
    assert!(def::AUTO_START == S::SERVICE_AUTO_START);
    assert!(def::DEMAND_START == S::SERVICE_DEMAND_START);
    assert!(def::DISABLED == S::SERVICE_DISABLED);
    assert!(def::OWN_PROCESS == S::SERVICE_WIN32_OWN_PROCESS);
    assert!(def::ACTION_NONE == S::SC_ACTION_NONE);
    assert!(def::ACTION_RESTART == S::SC_ACTION_RESTART);
    assert!(def::ACTION_REBOOT == S::SC_ACTION_REBOOT);
};

/// How long [`uninstall`] waits for a running service to stop before deleting it anyway.
pub const STOP_TIMEOUT: Duration = Duration::from_secs(30);

/// What [`install`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InstallOutcome {
    /// The service did not exist and was created.
    Created,
    /// The service existed; these settings differed and were rewritten.
    Updated(Vec<Setting>),
    /// The service existed with exactly this configuration (settings this SCM cannot
    /// report are written again but cannot be compared; see [`install`]).
    Unchanged,
}

impl fmt::Display for InstallOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InstallOutcome::Created => f.write_str("created"),
            InstallOutcome::Unchanged => f.write_str("unchanged"),
            InstallOutcome::Updated(settings) => {
                f.write_str("updated (")?;
                for (i, s) in settings.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{s}")?;
                }
                f.write_str(")")
            }
        }
    }
}

/// What [`uninstall`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UninstallOutcome {
    /// The service was stopped if needed and deleted.
    Removed,
    /// There was no such service.
    NotInstalled,
    /// Deleted, but it did not stop within [`STOP_TIMEOUT`] (or other programs hold
    /// handles to it): the SCM removes it once it has stopped and the handles are closed.
    PendingDeletion,
}

impl fmt::Display for UninstallOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            UninstallOutcome::Removed => "removed",
            UninstallOutcome::NotInstalled => "not installed",
            UninstallOutcome::PendingDeletion => "marked for deletion (still stopping)",
        })
    }
}

/// The command line (`binPath`) the SCM runs for `def` with the executable `exe`:
/// `"<exe>" <def.args…>`, quoted with [`cmdline::windows_command_line`]. `exe` must be
/// absolute.
pub fn command_line(def: &ServiceDef, exe: &Path) -> Result<String, Error> {
    if !exe.is_absolute() {
        return Err(Error::RelativePath(exe.to_owned()));
    }
    let exe_str = exe
        .to_str()
        .ok_or_else(|| Error::NotUnicode(exe.to_owned()))?;
    let mut argv = vec![exe_str];
    argv.extend(def.args.iter().map(String::as_str));
    cmdline::windows_command_line(&argv).map_err(Error::CommandLine)
}

/// A service's registration as the SCM has it now: what [`install`] takes to put it
/// back (an installer's rollback of an update). A user account's password cannot be
/// read back: the definition has none, and [`install`] then leaves the password the
/// SCM has *now* (the update's, if it set one) — right when the account is unchanged,
/// wrong when the update changed the account; the caller must give the password again
/// (or tell the operator to) in that case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registration {
    /// The definition.
    pub def: ServiceDef,
    /// The executable (the first word of the command line).
    pub exe: std::path::PathBuf,
}

/// The registration of `name` (`None` when there is no such service). Needs only
/// the right to read the service's configuration.
pub fn registration(name: &str) -> Result<Option<Registration>, Error> {
    let manager = Manager::connect(S::SC_MANAGER_CONNECT)?;
    let Some(service) = manager.open(name, S::SERVICE_QUERY_CONFIG)? else {
        return Ok(None);
    };
    let (def, exe) = def::from_observed(name, &service.observe()?);
    Ok(Some(Registration {
        def,
        exe: exe.into(),
    }))
}

/// Registers `exe` as the service `def` describes, or brings an existing registration in
/// line with it. Needs administrator rights.
///
/// The command line is `"<exe>" <def.args…>`, quoted with
/// [`cmdline::windows_command_line`]; `exe` must be absolute (use
/// `std::env::current_exe()` for "install myself").
///
/// Settings that this SCM cannot read back (Wine stores no failure actions) are written
/// again whenever the definition asks for something other than the default, and are not
/// counted as changes. A password (for [`Account::User`](super::Account::User)) cannot
/// be read back either, so giving one always writes it and reports
/// [`Setting::Password`]. A setting this SCM cannot store at all fails with
/// [`Error::Unsupported`] (Wine: delayed auto-start), except recovery settings that it
/// cannot report either (Wine: failure actions, which it then has no use for). When a
/// new service cannot be fully configured it is deleted again: nothing half-installed
/// is left behind.
pub fn install(def: &ServiceDef, exe: &Path) -> Result<InstallOutcome, Error> {
    let binary_path = command_line(def, exe)?;
    let account = def.account.start_name(&def.name);

    let manager = Manager::connect(S::SC_MANAGER_CONNECT | S::SC_MANAGER_CREATE_SERVICE)?;
    // SERVICE_START: setting a "restart" recovery action requires it.
    let access = S::SERVICE_QUERY_CONFIG | S::SERVICE_CHANGE_CONFIG | S::SERVICE_START;
    let Some(service) = manager.open(&def.name, access)? else {
        let service = manager.create(
            &def.name,
            &def.display_name,
            access | DELETE,
            def.start.raw(),
            &binary_path,
            &def.dependencies,
            &account,
            def.account.password(),
        )?;
        // Only what differs from a new service's defaults needs writing.
        let fresh = Plan {
            changed: Vec::new(),
            unverified: [
                (!def.description.is_empty()).then_some(Setting::Description),
                def.start.delayed().then_some(Setting::DelayedAutoStart),
                def.failure.as_ref().map(|_| Setting::FailureActions),
                def.failure
                    .as_ref()
                    .filter(|f| f.on_non_crash_failures)
                    .map(|_| Setting::FailureActionsOnNonCrash),
                def.preshutdown_timeout.map(|_| Setting::PreshutdownTimeout),
            ]
            .into_iter()
            .flatten()
            .collect(),
        };
        // All or nothing: a service this call created but could not finish configuring
        // is removed again rather than left half-installed.
        if let Err(e) = apply_config2(&service, def, &fresh) {
            let _ = service.delete();
            return Err(e);
        }
        return Ok(InstallOutcome::Created);
    };

    let have = service.observe()?;
    let plan = def::plan(def, &binary_path, &have);
    let w = |s| plan.writes(s);
    if [
        Setting::ServiceType,
        Setting::StartType,
        Setting::BinaryPath,
        Setting::Dependencies,
        Setting::Account,
        Setting::Password,
        Setting::DisplayName,
    ]
    .into_iter()
    .any(w)
    {
        let account_changes = w(Setting::Account);
        service.change_config(&ConfigChange {
            own_process: w(Setting::ServiceType),
            start_type: w(Setting::StartType).then(|| def.start.raw()),
            binary_path: w(Setting::BinaryPath).then_some(binary_path.as_str()),
            dependencies: w(Setting::Dependencies).then_some(def.dependencies.as_slice()),
            account: account_changes.then_some(account.as_str()),
            // A new account takes its (possibly empty) password with it; an unchanged
            // one only a password that was given.
            password: if account_changes || w(Setting::Password) {
                def.account.password()
            } else {
                None
            },
            display_name: w(Setting::DisplayName).then_some(def.display_name.as_str()),
        })?;
    }
    apply_config2(&service, def, &plan)?;
    Ok(if plan.changed.is_empty() {
        InstallOutcome::Unchanged
    } else {
        InstallOutcome::Updated(plan.changed)
    })
}

/// Writes the second-level settings the plan names.
fn apply_config2(service: &Service, def: &ServiceDef, plan: &Plan) -> Result<(), Error> {
    if plan.writes(Setting::Description) {
        service.set_description(&def.description)?;
    }
    if plan.writes(Setting::DelayedAutoStart) {
        service.set_delayed_auto_start(def.start.delayed())?;
    }
    if plan.writes(Setting::FailureActions) {
        let raw = def.failure.as_ref().map(|f| f.raw()).unwrap_or_default();
        tolerate_unverified(
            service.set_failure_actions(&raw),
            plan,
            Setting::FailureActions,
        )?;
    }
    if plan.writes(Setting::FailureActionsOnNonCrash) {
        let on = def
            .failure
            .as_ref()
            .is_some_and(|f| f.on_non_crash_failures);
        tolerate_unverified(
            service.set_failure_on_non_crash(on),
            plan,
            Setting::FailureActionsOnNonCrash,
        )?;
    }
    if let (true, Some(timeout)) = (
        plan.writes(Setting::PreshutdownTimeout),
        def.preshutdown_timeout,
    ) {
        service.set_preshutdown_timeout(timeout)?;
    }
    Ok(())
}

/// Recovery settings that this SCM could neither report nor store are skipped: such an
/// SCM (Wine) has no recovery to configure. Anything else is an error.
fn tolerate_unverified(
    result: Result<(), Error>,
    plan: &Plan,
    setting: Setting,
) -> Result<(), Error> {
    match result {
        Err(Error::Unsupported(s)) if s == setting && plan.unverified.contains(&s) => Ok(()),
        other => other,
    }
}

/// Stops the service if it runs (waiting at most [`STOP_TIMEOUT`]) and deletes it.
/// Needs administrator rights.
pub fn uninstall(name: &str) -> Result<UninstallOutcome, Error> {
    let manager = Manager::connect(S::SC_MANAGER_CONNECT)?;
    let access = S::SERVICE_STOP | S::SERVICE_QUERY_STATUS | DELETE;
    let Some(service) = manager.open(name, access)? else {
        return Ok(UninstallOutcome::NotInstalled);
    };
    let stopped = stop_service(&service, STOP_TIMEOUT)? != StopOutcome::StillStopping;
    match service.delete() {
        Ok(()) => {}
        Err(e) if e.raw_os_error() == Some(ERROR_SERVICE_MARKED_FOR_DELETE as i32) => {
            return Ok(UninstallOutcome::PendingDeletion)
        }
        Err(e) => return Err(e),
    }
    Ok(if stopped {
        UninstallOutcome::Removed
    } else {
        UninstallOutcome::PendingDeletion
    })
}
