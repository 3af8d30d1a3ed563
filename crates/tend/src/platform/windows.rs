//! Windows: services registered with the service control manager (SCM) through
//! `tend_service::windows` (the SCM API, never `sc.exe`).
//!
//! An installed service is `tend.exe run --service` on the installed spec in
//! `%ProgramData%\tend`; its state and logs are beside it (`state\NAME`, `logs\NAME`),
//! granted to the service's account (a per-service virtual account `NT SERVICE\NAME` by
//! default), and the installed spec itself is readable only by SYSTEM, the
//! Administrators and that account (it may hold environment secrets). The service is
//! also an Event Log source whose messages are compiled into tend.exe.
//!
//! Like the Unix backends, installing goes through the engine ([`super::engine`]):
//! [`Observed`] is what the SCM, the Event Log and the folders say (gathered by
//! `system::observe` on Windows; elsewhere nothing is installed, as there is no SCM
//! to ask), [`plan_install`] is a pure function of the spec, the layout and that, and
//! the steps are applied with an undo each (`system`, Windows only). This module is
//! compiled on every platform, so `tend install --dry-run --backend windows` works
//! anywhere.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tend_service::windows::{Account, FailurePolicy, RecoveryAction, ServiceDef, StartType};

use super::record::InstallRecord;
use super::{join, manager_stop_timeout_secs, InstallError, Layout};
use crate::spec::{Spec, WinStart};

#[cfg(windows)]
#[path = "windows/system.rs"]
mod system;
#[cfg(not(windows))]
#[path = "windows/elsewhere.rs"]
mod system;

#[cfg(windows)]
pub use self::system::{control, uninstall};
pub use self::system::{drifted, install, observe, query, send_control_code};

/// The backend name recorded for Windows installs.
pub const BACKEND: &str = "windows";

/// The account of `spec` as the SCM takes it; `password` for a user account.
pub fn account(spec: &Spec, password: Option<String>) -> Account {
    match spec.windows.account.to_ascii_lowercase().as_str() {
        "virtual" => Account::Virtual,
        "local-service" | r"nt authority\localservice" => Account::LocalService,
        "network-service" | r"nt authority\networkservice" => Account::NetworkService,
        "local-system" | "localsystem" => Account::LocalSystem,
        _ => Account::User {
            name: spec.windows.account.clone(),
            password,
        },
    }
}

/// Whether the account needs a password at install: a user, but not a group managed
/// service account (`DOMAIN\name$`).
pub fn needs_password(spec: &Spec) -> bool {
    matches!(account(spec, None), Account::User { ref name, .. } if !name.ends_with('$'))
}

/// Whether the account of `spec` must be granted "Log on as a service"
/// (`SeServiceLogonRight`) to run a service: a user (`DOMAIN\user`, `.\user`) or a
/// group managed service account (`DOMAIN\name$`). The built-in and virtual accounts
/// hold it already.
pub fn needs_logon_right(spec: &Spec) -> bool {
    matches!(account(spec, None), Account::User { .. })
}

/// The arguments after tend.exe in the service's command line.
pub fn run_args(spec: &Spec, layout: &Layout) -> Vec<String> {
    let mut argv = layout.run_argv(spec);
    argv.remove(0);
    // `run --service ...`: under the SCM's dispatcher.
    argv.insert(1, "--service".into());
    argv
}

/// The SCM registration of an installed spec.
pub fn service_def(spec: &Spec, layout: &Layout, password: Option<String>) -> ServiceDef {
    let w = &spec.windows;
    let stop = Duration::from_secs(manager_stop_timeout_secs(spec));
    ServiceDef {
        display_name: spec.display_name().to_string(),
        description: spec.description.clone().unwrap_or_default(),
        start: match w.start {
            WinStart::Auto => StartType::Auto,
            WinStart::DelayedAuto => StartType::AutoDelayed,
            WinStart::Manual => StartType::Manual,
            WinStart::Disabled => StartType::Disabled,
        },
        dependencies: w.dependencies.clone(),
        account: account(spec, password),
        failure: (!w.recovery.is_empty()).then(|| FailurePolicy {
            actions: w
                .recovery
                .iter()
                .map(|d| RecoveryAction::Restart(d.get()))
                .collect(),
            reset_after: Some(w.recovery_reset.get()),
            on_non_crash_failures: true,
        }),
        preshutdown_timeout: Some(w.preshutdown_timeout.map_or(stop, |d| d.get())),
        args: run_args(spec, layout),
        ..ServiceDef::new(spec.name.as_str())
    }
}

/// Where the service will find tend: `%ProgramFiles%\tend\tend.exe`, a copy of this
/// binary (unless it is that file): a folder only administrators can change, so no
/// user can replace what runs as the service. (Checking the permissions of wherever
/// tend.exe happens to be is not enough: some folders under `%ProgramFiles%` and the
/// Windows folder are writable by users.) Elsewhere (a dry run) `%ProgramFiles%` is
/// `C:\Program Files`.
pub fn tend_location(current: &Path) -> (PathBuf, bool) {
    let root = if cfg!(windows) {
        std::env::var_os("ProgramFiles").map(PathBuf::from)
    } else {
        None
    }
    .unwrap_or_else(|| PathBuf::from(r"C:\Program Files"));
    let installed = join(&join(&root, "tend"), "tend.exe");
    let same = current
        .to_string_lossy()
        .eq_ignore_ascii_case(&installed.to_string_lossy());
    (installed, !same)
}

/// A registration read back from the SCM, to put it back (the undo of an update).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Registration {
    /// The definition (a user account's password cannot be read back: none).
    pub def: ServiceDef,
    /// The executable.
    pub exe: PathBuf,
}

/// The command line (`binPath`) the SCM runs for `def` with `exe`, built the way
/// `tend_service::windows::install` builds it (so it can be shown anywhere).
pub fn command_line(def: &ServiceDef, exe: &Path) -> Result<String, InstallError> {
    let exe = exe
        .to_str()
        .ok_or_else(|| InstallError::Refused(format!("{} is not Unicode", exe.display())))?;
    let mut argv = vec![exe];
    argv.extend(def.args.iter().map(String::as_str));
    tend_service::cmdline::windows_command_line(&argv)
        .map_err(|e| InstallError::Refused(format!("cannot build the service's command line: {e}")))
}

/// One change to the system.
#[derive(Debug)]
pub enum Step {
    /// Create tend's own folder, for administrators only (SYSTEM and the
    /// Administrators; each service's files then grant their account what it needs).
    CreateRoot(PathBuf),
    /// Create a directory and let the service's account modify it.
    CreateDir(PathBuf),
    /// Let the service's account modify an existing directory.
    GrantDir(PathBuf),
    /// Copy tend.exe where only administrators can change it.
    CopyBinary {
        /// This binary.
        from: PathBuf,
        /// Where.
        to: PathBuf,
    },
    /// Write the installed spec, readable by SYSTEM, the Administrators and the
    /// service's account only.
    WriteSpec {
        /// The file.
        path: PathBuf,
        /// Its text.
        content: String,
    },
    /// Grant the service's account "Log on as a service" (`SeServiceLogonRight`), which
    /// a user or group managed account needs to run a service (without it the SCM
    /// fails to start the service with error 1069).
    GrantLogonRight {
        /// The account (`windows.account`).
        account: String,
    },
    /// Create or update the SCM registration.
    Register {
        /// The registration.
        def: Box<ServiceDef>,
        /// tend.exe.
        exe: PathBuf,
        /// Whether the service exists already.
        exists: bool,
        /// The registration it has now, which the undo puts back.
        previous: Option<Box<Registration>>,
    },
    /// Register the Event Log source (messages from tend.exe), or point it at this
    /// tend.exe.
    EventSource {
        /// The source (the service name).
        source: String,
        /// tend.exe, holding the message table.
        exe: PathBuf,
        /// The message file it has now (another tend.exe), which the undo puts back.
        previous: Option<PathBuf>,
    },
    /// Write the install record.
    WriteRecord {
        /// The file.
        path: PathBuf,
        /// Its JSON.
        content: String,
    },
}

impl Step {
    /// One line for people; `full` adds file contents (for `--dry-run`).
    pub fn describe(&self, full: bool) -> String {
        match self {
            Step::CreateRoot(p) => format!(
                "create directory {} (for SYSTEM and Administrators only)",
                p.display()
            ),
            Step::CreateDir(p) => format!(
                "create directory {} (modifiable by the service's account)",
                p.display()
            ),
            Step::GrantDir(p) => format!("let the service's account modify {}", p.display()),
            Step::CopyBinary { from, to } => format!(
                "copy {} to {} (where only administrators can change it)",
                from.display(),
                to.display()
            ),
            Step::WriteSpec { path, content } => {
                let mut s = format!(
                    "write {} (readable by SYSTEM, Administrators and the service's account only)",
                    path.display()
                );
                if full {
                    s.push_str(":\n");
                    for line in content.lines() {
                        s.push_str("    | ");
                        s.push_str(line);
                        s.push('\n');
                    }
                    s.pop();
                }
                s
            }
            Step::GrantLogonRight { account } => {
                format!("grant {account} the right to log on as a service (SeServiceLogonRight)")
            }
            Step::Register {
                def, exe, exists, ..
            } => {
                let cmd = command_line(def, exe).unwrap_or_else(|e| format!("<{e}>"));
                format!(
                    "{} service {} ({}, start {}, account {:?}{}): {cmd}",
                    if *exists { "update" } else { "create" },
                    def.name,
                    def.display_name,
                    def.start,
                    def.account,
                    def.failure.as_ref().map_or(String::new(), |f| format!(
                        ", recovery: restart after {}",
                        f.actions
                            .iter()
                            .map(|a| match a {
                                RecoveryAction::Restart(d) => format!("{}s", d.as_secs()),
                                other => format!("{other:?}"),
                            })
                            .collect::<Vec<_>>()
                            .join(", ")
                    )),
                )
            }
            Step::EventSource { source, exe, .. } => format!(
                "register the Event Log source {source} (messages in {})",
                exe.display()
            ),
            Step::WriteRecord { path, .. } => format!("write {}", path.display()),
        }
    }
}

/// Everything `tend install` would do.
#[derive(Debug)]
pub struct Plan {
    /// The steps, in order.
    pub steps: Vec<Step>,
    /// Whether the service was installed before.
    pub existed: bool,
    /// Whether the installed spec or the registration changes.
    pub changes_service: bool,
    /// What the operator should know (e.g. a `log.dir` the account may not reach).
    pub warnings: Vec<String>,
}

/// What the SCM reports of an installed service.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScmService {
    /// Its command line (`binPath`).
    pub command_line: String,
    /// Its start type.
    pub start: StartType,
    /// Its account (`lpServiceStartName`).
    pub account: String,
    /// Its display name.
    pub display_name: String,
    /// Whether it is running (or starting).
    pub active: bool,
}

/// Whether a folder exists and the service's account may modify it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DirState {
    /// It does not exist.
    Missing,
    /// It exists; the account may modify it.
    Granted,
    /// It exists; the account may not (or that cannot be read).
    NotGranted,
}

/// What an install of one service finds: gathered by `system::observe` on Windows.
/// [`Observed::default`] is a machine where nothing is installed.
#[derive(Clone, Debug, Default)]
pub struct Observed {
    /// The service, if the SCM has one of that name.
    pub service: Option<ScmService>,
    /// Its full registration, to put back if an update fails.
    pub registration: Option<Registration>,
    /// The install record, if an administrator wrote it.
    pub record: Option<InstallRecord>,
    /// The message file of the Event Log source of that name, if registered.
    pub event_source: Option<PathBuf>,
    /// Whether the service's account, a user or group managed account
    /// ([`needs_logon_right`]), holds "Log on as a service"; `None` when not asked
    /// (another account, or no system to ask: a plan for a fresh machine).
    pub logon_right: Option<bool>,
    /// tend's root folder: `None` when missing, else whether it may be used (`Err`:
    /// why not, with what to do, which the plan refuses with).
    pub root: Option<Result<(), String>>,
    /// The service's folders.
    pub dirs: BTreeMap<PathBuf, DirState>,
    /// The installed spec's text now.
    pub spec_text: Option<String>,
    /// The install record's text now.
    pub record_text: Option<String>,
    /// Whether the tend.exe in place is this one.
    pub binary_current: bool,
}

impl Observed {
    fn dir(&self, p: &Path) -> DirState {
        self.dirs.get(p).copied().unwrap_or(DirState::Missing)
    }
}

/// The folders whose state `observe` reads for an install of `spec`: its state folder
/// and its log folder (whether the account is given the log folder is the plan's
/// decision: not when `log.dir` names an existing folder tend did not create).
pub fn service_dirs(spec: &Spec, layout: &Layout) -> Vec<PathBuf> {
    vec![layout.state_dir(spec.name.as_str()), layout.log_dir(spec)]
}

/// Plans installing `spec` (already an installed spec, see
/// [`super::record::installed_spec`]) whose file text is `text`, from what was
/// observed (`o`): a pure function. `copy_from` is this binary when it must be copied
/// to `layout.tend_bin`.
pub fn plan_install(
    spec: &Spec,
    text: &str,
    layout: &Layout,
    o: &Observed,
    copy_from: Option<&Path>,
    password: Option<String>,
) -> Result<Plan, InstallError> {
    let info = o.service.as_ref();
    let name = spec.name.as_str();
    let mut steps = Vec::new();
    let mut warnings = Vec::new();
    let existed = info.is_some();
    // A record counts only if an administrator wrote it (a user may have planted one
    // in a root folder that was not locked down yet).
    let recorded = o.record.clone();
    if let (Some(i), None) = (info, &recorded) {
        if !is_tends(&i.command_line) {
            return Err(InstallError::Refused(format!(
                "a service named {name} exists and is not tend's (it runs {}): choose another name, or remove that service first",
                i.command_line
            )));
        }
    }
    let source = o.event_source.clone();
    if let Some(file) = &source {
        if !is_tend_exe(file) {
            return Err(InstallError::Refused(format!(
                "the Event Log source {name} belongs to another program ({}): choose another name",
                file.display()
            )));
        }
    }
    let before = recorded.unwrap_or_default();
    match &o.root {
        Some(Ok(())) => {}
        Some(Err(why)) => return Err(InstallError::Refused(why.clone())),
        None => steps.push(Step::CreateRoot(layout.spec_dir.clone())),
    }
    // Grants recorded for this same account count (some systems, such as Wine, cannot
    // show them when read back); a new account gets its own.
    let same_account = before.account.as_deref() == Some(spec.windows.account.as_str());
    let default_logs = join(&layout.log_root, name);
    let mut service_dirs = vec![layout.state_dir(name)];
    let log_dir = layout.log_dir(spec);
    // The only folder outside its own that tend may later purge: the spec's `log.dir`,
    // when this install creates it (or an earlier one did).
    let mut created_dirs: Vec<PathBuf> = before
        .created_dirs
        .iter()
        .filter(|d| **d == log_dir)
        .cloned()
        .collect();
    if log_dir == default_logs
        || o.dir(&log_dir) == DirState::Missing
        || created_dirs.contains(&log_dir)
    {
        if log_dir != default_logs && !created_dirs.contains(&log_dir) {
            created_dirs.push(log_dir.clone());
        }
        service_dirs.push(log_dir);
    } else if o.dir(&log_dir) != DirState::Granted {
        // A folder of someone else's: its permissions are theirs to give.
        warnings.push(format!(
            "log.dir {} exists and the service's account may not be able to write to it; if the service cannot start, grant it: icacls \"{}\" /grant \"{}\":(OI)(CI)M",
            log_dir.display(),
            log_dir.display(),
            account_name(spec)
        ));
    }
    for dir in &service_dirs {
        let state = o.dir(dir);
        if state == DirState::Missing {
            steps.push(Step::CreateDir(dir.clone()));
        } else if state != DirState::Granted && !(same_account && before.granted_dirs.contains(dir))
        {
            steps.push(Step::GrantDir(dir.clone()));
        }
    }
    if let Some(from) = copy_from {
        if !o.binary_current {
            steps.push(Step::CopyBinary {
                from: from.to_path_buf(),
                to: layout.tend_bin.clone(),
            });
        }
    }
    let spec_path = layout.spec_path(name);
    let spec_changes = o.spec_text.as_deref() != Some(text);
    if spec_changes {
        steps.push(Step::WriteSpec {
            path: spec_path,
            content: text.to_string(),
        });
    }
    // "Log on as a service" for a user or group managed account, unless it holds the
    // right already. tend owns the right (and `uninstall --purge` takes it back) only
    // when it granted it: now, or in an earlier install for this same account.
    let mut granted_logon_right = false;
    if needs_logon_right(spec) {
        if o.logon_right == Some(true) {
            granted_logon_right = same_account && before.granted_logon_right;
        } else {
            granted_logon_right = true;
            steps.push(Step::GrantLogonRight {
                account: spec.windows.account.clone(),
            });
        }
    }
    let def = service_def(spec, layout, password);
    // What `query` cannot read back (description, recovery, dependencies) follows the
    // spec: a changed spec re-applies the registration, which writes only what differs.
    let registration_changes = match info {
        None => true,
        Some(i) => spec_changes || differs(&def, &layout.tend_bin, i),
    };
    if registration_changes {
        steps.push(Step::Register {
            def: Box::new(def),
            exe: layout.tend_bin.clone(),
            exists: existed,
            previous: o.registration.clone().map(Box::new),
        });
    }
    if source.as_ref() != Some(&layout.tend_bin) {
        steps.push(Step::EventSource {
            source: name.to_string(),
            exe: layout.tend_bin.clone(),
            previous: source.clone(),
        });
    }
    let record = InstallRecord {
        backend: BACKEND.into(),
        created_user: None,
        created_group: None,
        created_dirs,
        granted_dirs: service_dirs.clone(),
        account: Some(spec.windows.account.clone()),
        granted_logon_right,
        tend_bin: layout.tend_bin.clone(),
        files: vec![layout.spec_path(name)],
        pending: false,
    };
    let content = serde_json::to_string_pretty(&record).unwrap_or_default();
    let record_path = layout.record_path(name);
    if !steps.is_empty() || o.record_text.as_deref() != Some(content.as_str()) {
        steps.push(Step::WriteRecord {
            path: record_path,
            content,
        });
    }
    Ok(Plan {
        steps,
        existed,
        changes_service: spec_changes || registration_changes,
        warnings,
    })
}

/// Whether a service command line is an installed tend's (`tend.exe run --service`).
fn is_tends(command_line: &str) -> bool {
    let argv = tend_service::cmdline::split_windows_command_line(command_line);
    argv.first().is_some_and(|exe| is_tend_exe(Path::new(exe)))
        && argv.get(1).map(String::as_str) == Some("run")
        && argv.get(2).map(String::as_str) == Some("--service")
}

/// The name of the service's account, as `icacls` takes it.
fn account_name(spec: &Spec) -> String {
    match account(spec, None) {
        Account::LocalSystem => "SYSTEM".into(),
        a => a.start_name(spec.name.as_str()),
    }
}

/// Whether an event message file is a tend.exe (a Windows path, read anywhere).
fn is_tend_exe(file: &Path) -> bool {
    let text = file.to_string_lossy();
    text.rsplit(['\\', '/'])
        .next()
        .is_some_and(|f| f.eq_ignore_ascii_case("tend.exe"))
}

/// Whether the SCM's registration differs from `def` in what `query` can read back
/// (the rest is compared, and rewritten if needed, by the install itself).
fn differs(def: &ServiceDef, exe: &Path, info: &ScmService) -> bool {
    // A delayed start reads as automatic where the SCM cannot report it (Wine).
    let start_same = info.start == def.start
        || (def.start == StartType::AutoDelayed && info.start == StartType::Auto);
    command_line(def, exe).ok().as_deref() != Some(info.command_line.as_str())
        || !start_same
        || info.display_name != def.display_name
        || !tend_service::windows::same_account(&info.account, &def.account.start_name(&def.name))
        || matches!(
            def.account,
            Account::User {
                password: Some(_),
                ..
            }
        )
}

/// How to take back one applied step.
#[derive(Debug, PartialEq, Eq)]
pub enum Undo {
    /// Remove a folder the step created (the outermost one it had to create).
    RemoveDir(PathBuf),
    /// Put a file back as it was, or remove it (`None`).
    RestoreFile {
        /// The file.
        path: PathBuf,
        /// What it held.
        old: Option<Vec<u8>>,
    },
    /// Delete the service the step created.
    DeleteService(String),
    /// Put back the registration the step changed.
    Reregister {
        /// The registration observed before the step.
        previous: Box<Registration>,
        /// The previous account is a user whose password neither the SCM nor this
        /// install can give back (see [`owed_undo`]): the operator must enter it.
        password_lost: bool,
    },
    /// Unregister the Event Log source the step registered.
    UnregisterSource(String),
    /// Take "Log on as a service" back from the account the step granted it to.
    RemoveLogonRight(String),
    /// Point the Event Log source back at the message file it had.
    RepointSource {
        /// The source.
        source: String,
        /// Its previous message file.
        file: PathBuf,
    },
}

impl Undo {
    /// One line for people.
    pub fn describe(&self) -> String {
        match self {
            Undo::RemoveDir(d) => format!("remove {}", d.display()),
            Undo::RestoreFile { path, old: Some(_) } => {
                format!("restore the previous {}", path.display())
            }
            Undo::RestoreFile { path, old: None } => format!("remove {}", path.display()),
            Undo::DeleteService(n) => format!("delete service {n}"),
            Undo::Reregister {
                previous,
                password_lost,
            } => {
                let name = &previous.def.name;
                let mut s = format!("restore the previous registration of service {name}");
                if *password_lost {
                    if let Account::User { name: user, .. } = &previous.def.account {
                        s.push_str(&format!(
                            " (note: the password of {user} cannot be read back, and the service now has another account's: enter it again with `sc.exe config {name} password= ...` or `tend install` with the previous spec)"
                        ));
                    }
                }
                s
            }
            Undo::UnregisterSource(s) => format!("unregister the Event Log source {s}"),
            Undo::RemoveLogonRight(a) => {
                format!("take the right to log on as a service back from {a}")
            }
            Undo::RepointSource { source, file } => format!(
                "point the Event Log source {source} back at {}",
                file.display()
            ),
        }
    }
}

/// When an undo is owed: before a step runs (it may fail half-way, and what it
/// changes must be put back whatever it got to), or only once it succeeded (what it
/// creates is there only then).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Owed {
    /// Pushed before the step runs.
    Before,
    /// Pushed after it succeeded.
    After,
}

/// The undo owed for the SCM and Event Log steps, `when` (the file and folder steps
/// push theirs as they go): a pure function.
///
/// - An update of a registration owes the registration observed before, *before*
///   the update: `tend_service::windows::install` changes the main configuration and
///   then each of the others, and a failure half-way leaves a half-updated service
///   (a service it creates it deletes itself on a failure, so a created service is
///   owed its deletion only after). A user account's password cannot be read back: the
///   previous registration gets this install's password when the account stays the
///   same user, and is marked `password_lost` when the account changes away from a
///   user (its rollback says so).
/// - An Event Log source owes, before it is written, its previous message file, or
///   its removal when there was none (removing a missing source does nothing).
pub fn owed_undo(step: &Step, when: Owed) -> Option<Undo> {
    match (step, when) {
        (
            Step::Register {
                def,
                previous: Some(p),
                ..
            },
            Owed::Before,
        ) => {
            let mut previous = p.clone();
            let mut password_lost = false;
            if let Account::User {
                name: before,
                password: old @ None,
            } = &mut previous.def.account
            {
                match &def.account {
                    Account::User {
                        name: now,
                        password: Some(pw),
                    } if now.eq_ignore_ascii_case(before) => *old = Some(pw.clone()),
                    Account::User { name: now, .. } if now.eq_ignore_ascii_case(before) => {}
                    _ => password_lost = !before.ends_with('$'),
                }
            }
            Some(Undo::Reregister {
                previous,
                password_lost,
            })
        }
        (
            Step::Register {
                def,
                exists: false,
                previous: None,
                ..
            },
            Owed::After,
        ) => Some(Undo::DeleteService(def.name.clone())),
        (
            Step::EventSource {
                source, previous, ..
            },
            Owed::Before,
        ) => Some(match previous {
            Some(file) => Undo::RepointSource {
                source: source.clone(),
                file: file.clone(),
            },
            None => Undo::UnregisterSource(source.clone()),
        }),
        _ => None,
    }
}

/// Applies `step` through `change` (the system calls, which push the undos of the
/// files and folders they change as they go), with the undos the step owes
/// ([`owed_undo`]) pushed before and after: what the Windows applier does for every
/// step.
pub fn apply_step(
    step: &Step,
    done: &mut Vec<Undo>,
    change: impl FnOnce(&mut Vec<Undo>) -> Result<(), InstallError>,
) -> Result<(), InstallError> {
    done.extend(owed_undo(step, Owed::Before));
    change(done)?;
    done.extend(owed_undo(step, Owed::After));
    Ok(())
}

/// The account whose "Log on as a service" `tend uninstall --purge` takes back: the
/// service's account, when its install record (`record`) says tend granted it the
/// right, and no other installed tend service runs as it (`others`: the accounts of
/// the other install records), whose service would fail to start without it. A plain
/// uninstall keeps the right.
pub fn purged_logon_right(
    record: Option<&InstallRecord>,
    others: &[String],
    purge: bool,
) -> Option<String> {
    let r = record.filter(|r| purge && r.granted_logon_right)?;
    let account = r.account.clone()?;
    let shared = others
        .iter()
        .any(|o| tend_service::windows::same_account(o, &account));
    (!shared).then_some(account)
}

/// One step of `tend uninstall`.
#[derive(Debug)]
pub enum UninstallStep {
    /// Stop (bounded) and delete the SCM registration.
    Unregister(String),
    /// Unregister the Event Log source.
    EventSource(String),
    /// Take "Log on as a service" back from the account tend granted it to
    /// (`--purge`).
    RemoveLogonRight(String),
    /// Remove a file.
    RemoveFile(PathBuf),
    /// Remove a directory and everything in it (`--purge`).
    RemoveDir(PathBuf),
    /// Remove a service's log files from a folder tend created for them, and the
    /// folder if nothing else is left in it (`--purge`).
    RemoveLogs {
        /// The folder.
        dir: PathBuf,
        /// The service.
        name: String,
    },
}

impl UninstallStep {
    /// One line for people.
    pub fn describe(&self) -> String {
        match self {
            UninstallStep::Unregister(n) => format!("stop and delete service {n}"),
            UninstallStep::EventSource(n) => format!("unregister the Event Log source {n}"),
            UninstallStep::RemoveLogonRight(a) => {
                format!("take the right to log on as a service back from {a}")
            }
            UninstallStep::RemoveFile(p) => format!("remove {}", p.display()),
            UninstallStep::RemoveDir(p) => format!("remove {} and its contents", p.display()),
            UninstallStep::RemoveLogs { dir, name } => format!(
                "remove {name}'s logs from {} (and the folder, if that empties it)",
                dir.display()
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(toml: &str) -> Spec {
        let loaded = crate::spec::load_str(
            Path::new(r"C:\specs\web.toml"),
            toml,
            &crate::spec::LoadOptions::default(),
        )
        .unwrap();
        let layout = layout();
        super::super::record::installed_spec(&loaded.services[0], Path::new(r"C:\specs"), &layout)
    }

    fn layout() -> Layout {
        Layout::windows(PathBuf::from(r"C:\Program Files\tend\tend.exe"))
    }

    const WEB: &str = "name = \"web\"\ncommand = 'C:\\web\\web.exe'\n";

    /// What a machine with `spec` installed by tend looks like to `observe`.
    fn installed(spec: &Spec) -> Observed {
        let layout = layout();
        let def = service_def(spec, &layout, None);
        Observed {
            service: Some(ScmService {
                command_line: command_line(&def, &layout.tend_bin).unwrap(),
                start: def.start,
                account: def.account.start_name(&def.name),
                display_name: def.display_name.clone(),
                active: true,
            }),
            registration: Some(Registration {
                def,
                exe: layout.tend_bin.clone(),
            }),
            record: Some(InstallRecord {
                backend: BACKEND.into(),
                tend_bin: layout.tend_bin.clone(),
                ..Default::default()
            }),
            event_source: Some(layout.tend_bin.clone()),
            logon_right: None,
            root: Some(Ok(())),
            dirs: service_dirs(spec, &layout)
                .into_iter()
                .map(|d| (d, DirState::Granted))
                .collect(),
            spec_text: Some("the old spec".into()),
            record_text: None,
            binary_current: true,
        }
    }

    fn register(plan: &Plan) -> &Step {
        plan.steps
            .iter()
            .find(|s| matches!(s, Step::Register { .. }))
            .expect("the plan registers the service")
    }

    #[test]
    fn an_update_is_undone_by_putting_the_previous_registration_back() {
        let old = spec(WEB);
        let seen = installed(&old);
        let new = spec(&format!(
            "{WEB}description = \"changed\"\n[windows]\nstart = \"manual\"\n"
        ));
        let plan = plan_install(&new, "the new spec", &layout(), &seen, None, None).unwrap();
        assert!(plan.existed);
        let step = register(&plan);
        assert!(
            step.describe(false).starts_with("update service web"),
            "{}",
            step.describe(false)
        );
        // The undo re-applies exactly what the SCM had before the update, and is owed
        // before the update runs (so an update failing half-way is put back too).
        assert_eq!(owed_undo(step, Owed::After), None);
        let Some(undo @ Undo::Reregister { .. }) = owed_undo(step, Owed::Before) else {
            panic!("an update's undo restores the registration: {step:?}");
        };
        let Undo::Reregister {
            previous,
            password_lost,
        } = &undo
        else {
            unreachable!()
        };
        assert_eq!(Some(&**previous), seen.registration.as_ref());
        assert_eq!(previous.def.start, StartType::Auto);
        assert_eq!(previous.def.description, "");
        assert!(!password_lost);
        assert_eq!(
            undo.describe(),
            "restore the previous registration of service web"
        );
    }

    /// Which undo each SCM and Event Log step owes before it runs and after it
    /// succeeded.
    #[test]
    fn the_undo_a_step_owes_before_and_after_it_runs() {
        let user = |name: &str, password: Option<&str>| Account::User {
            name: name.into(),
            password: password.map(Into::into),
        };
        let registration = |account: Account| Registration {
            def: ServiceDef {
                account,
                ..ServiceDef::new("web")
            },
            exe: PathBuf::from(r"C:\Program Files\tend\tend.exe"),
        };
        let register = |account: Account, previous: Option<Account>| Step::Register {
            def: Box::new(ServiceDef {
                account,
                ..ServiceDef::new("web")
            }),
            exe: PathBuf::from(r"C:\Program Files\tend\tend.exe"),
            exists: previous.is_some(),
            previous: previous.map(|a| Box::new(registration(a))),
        };
        let reregister = |account: Account, password_lost: bool| Undo::Reregister {
            previous: Box::new(registration(account)),
            password_lost,
        };
        let source = |previous: Option<&str>| Step::EventSource {
            source: "web".into(),
            exe: PathBuf::from(r"C:\Program Files\tend\tend.exe"),
            previous: previous.map(PathBuf::from),
        };
        let table: Vec<(&str, Step, Option<Undo>, Option<Undo>)> = vec![
            (
                "a new service: deleted, once created (install deletes a half-created one)",
                register(Account::Virtual, None),
                None,
                Some(Undo::DeleteService("web".into())),
            ),
            (
                "an update: the previous registration, before it runs",
                register(Account::LocalService, Some(Account::Virtual)),
                Some(reregister(Account::Virtual, false)),
                None,
            ),
            (
                "the same user with a new password: put back with it",
                register(user(r"DOM\app", Some("new")), Some(user(r"dom\APP", None))),
                Some(reregister(user(r"dom\APP", Some("new")), false)),
                None,
            ),
            (
                "the same user, no new password: the SCM keeps the one it has",
                register(user(r"DOM\app", None), Some(user(r"DOM\app", None))),
                Some(reregister(user(r"DOM\app", None), false)),
                None,
            ),
            (
                "away from a user: its password is lost",
                register(Account::Virtual, Some(user(r"DOM\app", None))),
                Some(reregister(user(r"DOM\app", None), true)),
                None,
            ),
            (
                "to another user: the previous one's password is lost",
                register(user(r"DOM\b", Some("b")), Some(user(r"DOM\a", None))),
                Some(reregister(user(r"DOM\a", None), true)),
                None,
            ),
            (
                "away from a group managed account: it has no password",
                register(Account::Virtual, Some(user(r"DOM\gmsa$", None))),
                Some(reregister(user(r"DOM\gmsa$", None), false)),
                None,
            ),
            (
                "a new Event Log source: removed (even if half-written)",
                source(None),
                Some(Undo::UnregisterSource("web".into())),
                None,
            ),
            (
                "a re-pointed source: its previous message file",
                source(Some(r"C:\old\tend.exe")),
                Some(Undo::RepointSource {
                    source: "web".into(),
                    file: PathBuf::from(r"C:\old\tend.exe"),
                }),
                None,
            ),
            (
                "a folder: its undo comes as it is created",
                Step::CreateDir(PathBuf::from(r"C:\x")),
                None,
                None,
            ),
        ];
        for (what, step, before, after) in table {
            assert_eq!(owed_undo(&step, Owed::Before), before, "{what}");
            assert_eq!(owed_undo(&step, Owed::After), after, "{what}");
        }
        let lost = reregister(user(r"DOM\app", None), true).describe();
        assert!(
            lost.contains(r"the password of DOM\app cannot be read back")
                && lost.contains("sc.exe config web password="),
            "{lost}"
        );
    }

    /// The Windows steps through the engine, with the system calls replaced: the
    /// step named `fails` fails after its change began; every undo run is logged.
    struct FakeSystem {
        fails: &'static str,
        undone: Vec<String>,
    }

    impl crate::platform::engine::Apply for FakeSystem {
        type Step = Step;
        type Undo = Undo;
        fn describe(&self, step: &Step) -> String {
            step.describe(false)
        }
        fn apply(&mut self, step: &Step, undo: &mut Vec<Undo>) -> Result<(), InstallError> {
            let kind = format!("{step:?}");
            apply_step(step, undo, |_| {
                if kind.starts_with(self.fails) {
                    Err(InstallError::Refused(format!("{} failed", self.fails)))
                } else {
                    Ok(())
                }
            })
        }
        fn describe_undo(&self, undo: &Undo) -> String {
            undo.describe()
        }
        fn undo(&mut self, undo: &Undo) -> Result<(), InstallError> {
            self.undone.push(undo.describe());
            Ok(())
        }
    }

    #[test]
    fn an_update_failing_in_the_register_step_puts_the_registration_back() {
        let old = spec(WEB);
        let mut seen = installed(&old);
        seen.event_source = None;
        let new = spec(&format!("{WEB}[windows]\nstart = \"manual\"\n"));
        let plan = plan_install(&new, "the new spec", &layout(), &seen, None, None).unwrap();
        for (fails, want) in [
            (
                "Register",
                "restore the previous registration of service web",
            ),
            ("EventSource", "unregister the Event Log source web"),
        ] {
            let mut out = Vec::new();
            let fake = FakeSystem {
                fails,
                undone: Vec::new(),
            };
            let e = crate::platform::engine::apply(fake, Vec::new(), &plan.steps, &mut out)
                .err()
                .expect("the step fails");
            assert_eq!(e.to_string(), format!("{fails} failed"));
            let out = String::from_utf8(out).unwrap();
            // The failed step's own undo runs first, and is said.
            let rollback = out.split("rolling back:\n").nth(1).unwrap_or_default();
            assert!(
                rollback.starts_with(&format!("  {want}\n")),
                "{fails}: {out}"
            );
        }
    }

    #[test]
    fn a_fresh_install_is_undone_by_deleting_the_service() {
        let s = spec(WEB);
        let plan = plan_install(&s, "spec", &layout(), &Observed::default(), None, None).unwrap();
        assert!(!plan.existed);
        let step = register(&plan);
        assert_eq!(owed_undo(step, Owed::Before), None);
        assert_eq!(
            owed_undo(step, Owed::After),
            Some(Undo::DeleteService("web".into()))
        );
    }

    #[test]
    fn an_unchanged_service_plans_nothing_and_a_foreign_one_is_refused() {
        let s = spec(WEB);
        let mut seen = installed(&s);
        let text = "spec";
        seen.spec_text = Some(text.into());
        let record = plan_install(&s, text, &layout(), &seen, None, None)
            .unwrap()
            .steps;
        // Only the record (its text was not observed) is left to write.
        assert!(
            matches!(record.as_slice(), [Step::WriteRecord { .. }]),
            "{record:?}"
        );
        let mut foreign = installed(&s);
        foreign.record = None;
        foreign.service.as_mut().unwrap().command_line = r"C:\other\svc.exe".into();
        let e = plan_install(&s, text, &layout(), &foreign, None, None).unwrap_err();
        assert!(e.to_string().contains("is not tend's"), "{e}");
    }

    #[test]
    fn windows_paths_keep_their_backslashes_everywhere() {
        let l = layout();
        assert_eq!(
            l.spec_path("web"),
            PathBuf::from(r"C:\ProgramData\tend\web.toml")
        );
        assert_eq!(
            l.state_dir("web"),
            PathBuf::from(r"C:\ProgramData\tend\state\web")
        );
        assert!(is_tend_exe(Path::new(r"C:\Program Files\tend\TEND.EXE")));
        assert!(!is_tend_exe(Path::new(r"C:\Program Files\tend\other.exe")));
    }

    fn logon_steps(plan: &Plan) -> Vec<String> {
        plan.steps
            .iter()
            .filter(|s| matches!(s, Step::GrantLogonRight { .. }))
            .map(|s| s.describe(false))
            .collect()
    }

    fn recorded(plan: &Plan) -> InstallRecord {
        plan.steps
            .iter()
            .find_map(|s| match s {
                Step::WriteRecord { content, .. } => serde_json::from_str(content).ok(),
                _ => None,
            })
            .expect("the plan writes the record")
    }

    /// (what, account, observed right, previous record's account and grant, the grant
    /// steps planned, whether the record says tend granted it)
    type LogonRow<'a> = (
        &'a str,
        &'a str,
        Option<bool>,
        Option<(&'a str, bool)>,
        Vec<String>,
        bool,
    );

    /// (what, record, the other services' accounts, purge, the account purged)
    type PurgeRow<'a> = (
        &'a str,
        Option<InstallRecord>,
        &'a [String],
        bool,
        Option<&'a str>,
    );

    /// A user or group managed account is granted "Log on as a service" unless it
    /// holds it; the record says whether tend granted it (and so owns it).
    #[test]
    fn a_user_account_is_granted_the_right_to_log_on_as_a_service() {
        let grant = |a: &str| {
            vec![format!(
                "grant {a} the right to log on as a service (SeServiceLogonRight)"
            )]
        };
        let user = |a: &str| spec(&format!("{WEB}[windows]\naccount = '{a}'\n"));
        let table: Vec<LogonRow> = vec![
            (
                "a domain user without it",
                r"CORP\app",
                Some(false),
                None,
                grant(r"CORP\app"),
                true,
            ),
            (
                "a local user, not observed (a fresh machine)",
                r".\app",
                None,
                None,
                grant(r".\app"),
                true,
            ),
            (
                "a group managed account",
                r"CORP\web$",
                Some(false),
                None,
                grant(r"CORP\web$"),
                true,
            ),
            (
                "a user holding it already: not tend's",
                r"CORP\app",
                Some(true),
                None,
                vec![],
                false,
            ),
            (
                "tend granted it before, to the same account: still tend's",
                r"CORP\app",
                Some(true),
                Some((r"CORP\app", true)),
                vec![],
                true,
            ),
            (
                "tend granted it to another account: this one's is not tend's",
                r"CORP\app",
                Some(true),
                Some((r"CORP\old", true)),
                vec![],
                false,
            ),
            (
                "tend granted it, someone took it back: granted again",
                r"CORP\app",
                Some(false),
                Some((r"CORP\app", true)),
                grant(r"CORP\app"),
                true,
            ),
            (
                "the virtual account holds it",
                "virtual",
                None,
                None,
                vec![],
                false,
            ),
            (
                "LocalService holds it",
                "local-service",
                None,
                None,
                vec![],
                false,
            ),
            (
                "LocalSystem holds it",
                "local-system",
                None,
                None,
                vec![],
                false,
            ),
        ];
        for (what, acct, held, before, want_steps, want_recorded) in table {
            let s = user(acct);
            let mut seen = Observed {
                logon_right: held,
                ..Observed::default()
            };
            if let Some((prev, granted)) = before {
                seen = Observed {
                    record: Some(InstallRecord {
                        backend: BACKEND.into(),
                        account: Some(prev.into()),
                        granted_logon_right: granted,
                        ..Default::default()
                    }),
                    ..seen
                };
            }
            let plan = plan_install(&s, "spec", &layout(), &seen, None, None).unwrap();
            assert_eq!(logon_steps(&plan), want_steps, "{what}");
            assert_eq!(recorded(&plan).granted_logon_right, want_recorded, "{what}");
            // Granted before the service is registered.
            if !want_steps.is_empty() {
                let at = |f: fn(&Step) -> bool| plan.steps.iter().position(f).unwrap();
                assert!(
                    at(|s| matches!(s, Step::GrantLogonRight { .. }))
                        < at(|s| matches!(s, Step::Register { .. })),
                    "{what}"
                );
            }
        }
    }

    /// `--purge` takes the right back only when tend granted it, and not from an
    /// account another installed tend service runs as; a plain uninstall keeps it.
    #[test]
    fn purge_takes_the_right_back_only_when_tend_granted_it() {
        let rec = |account: Option<&str>, granted: bool| InstallRecord {
            account: account.map(Into::into),
            granted_logon_right: granted,
            ..Default::default()
        };
        let none: &[String] = &[];
        let same = [r"corp\APP".to_string()];
        let virt = ["virtual".to_string()];
        let table: Vec<PurgeRow> = vec![
            (
                "granted by tend, purge",
                Some(rec(Some(r"CORP\app"), true)),
                none,
                true,
                Some(r"CORP\app"),
            ),
            (
                "granted by tend, plain uninstall",
                Some(rec(Some(r"CORP\app"), true)),
                none,
                false,
                None,
            ),
            (
                "held before tend",
                Some(rec(Some(r"CORP\app"), false)),
                none,
                true,
                None,
            ),
            ("no record", None, none, true, None),
            (
                "another tend service runs as it",
                Some(rec(Some(r"CORP\app"), true)),
                &same,
                true,
                None,
            ),
            (
                "other services run as others",
                Some(rec(Some(r"CORP\app"), true)),
                &virt,
                true,
                Some(r"CORP\app"),
            ),
        ];
        for (what, record, others, purge, want) in table {
            assert_eq!(
                purged_logon_right(record.as_ref(), others, purge).as_deref(),
                want,
                "{what}"
            );
        }
        assert_eq!(
            UninstallStep::RemoveLogonRight(r"CORP\app".into()).describe(),
            r"take the right to log on as a service back from CORP\app"
        );
    }
}
