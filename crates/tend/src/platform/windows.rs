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
//! Like the Unix backends, installing is planned first (what differs from what is
//! there), printed for `--dry-run`, applied step by step, and undone if a step fails.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use tend_service::windows::acl::{self, Access};
use tend_service::windows::{
    self as scm, eventlog, Account, FailurePolicy, RecoveryAction, ServiceDef, ServiceInfo,
    ServiceState, StartType,
};

use super::record::InstallRecord;
use super::{manager_stop_timeout_secs, Layout, NativeStatus};
use crate::spec::{Spec, WinStart};

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
/// Windows folder are writable by users.)
pub fn tend_location(current: &Path) -> (PathBuf, bool) {
    let root = std::env::var_os("ProgramFiles")
        .map_or_else(|| PathBuf::from(r"C:\Program Files"), PathBuf::from);
    let installed = root.join("tend").join("tend.exe");
    let same = current
        .to_string_lossy()
        .eq_ignore_ascii_case(&installed.to_string_lossy());
    (installed, !same)
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
    /// Create or update the SCM registration.
    Register {
        /// The registration.
        def: Box<ServiceDef>,
        /// tend.exe.
        exe: PathBuf,
        /// Whether the service exists already.
        exists: bool,
    },
    /// Register the Event Log source (messages from tend.exe).
    EventSource {
        /// The source (the service name).
        source: String,
        /// tend.exe, holding the message table.
        exe: PathBuf,
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
            Step::Register { def, exe, exists } => {
                let cmd = scm::command_line(def, exe).unwrap_or_else(|e| format!("<{e}>"));
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
            Step::EventSource { source, exe } => format!(
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

/// Plans installing `spec` (already an installed spec, see
/// [`super::record::installed_spec`]) whose file text is `text`. `info` is what the
/// SCM reports of the service now (`query`); `copy_from` is this binary when it must
/// be copied to `layout.tend_bin`.
pub fn plan_install(
    spec: &Spec,
    text: &str,
    layout: &Layout,
    info: Option<&ServiceInfo>,
    copy_from: Option<&Path>,
    password: Option<String>,
) -> Result<Plan, String> {
    let name = spec.name.as_str();
    let mut steps = Vec::new();
    let mut warnings = Vec::new();
    let existed = info.is_some();
    // A record counts only if an administrator wrote it (a user may have planted one
    // in a root folder that was not locked down yet).
    let recorded = trusted_record(layout, name);
    if let (Some(i), None) = (info, &recorded) {
        if !is_tends(&i.command_line) {
            return Err(format!(
                "a service named {name} exists and is not tend's (it runs {}): choose another name, or remove that service first",
                i.command_line
            ));
        }
    }
    let source = eventlog::source_registered(name).ok().flatten();
    if let Some(file) = &source {
        if !is_tend_exe(file) {
            return Err(format!(
                "the Event Log source {name} belongs to another program ({}): choose another name",
                file.display()
            ));
        }
    }
    let before = recorded.unwrap_or_default();
    if layout.spec_dir.is_dir() {
        check_root(&layout.spec_dir)?;
    } else {
        steps.push(Step::CreateRoot(layout.spec_dir.clone()));
    }
    // Grants recorded for this same account count (some systems, such as Wine, cannot
    // show them when read back); a new account gets its own.
    let same_account = before.account.as_deref() == Some(spec.windows.account.as_str());
    let default_logs = layout.log_root.join(name);
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
    if log_dir == default_logs || !log_dir.is_dir() || created_dirs.contains(&log_dir) {
        if log_dir != default_logs && !created_dirs.contains(&log_dir) {
            created_dirs.push(log_dir.clone());
        }
        service_dirs.push(log_dir);
    } else if !granted(&log_dir, spec) {
        // A folder of someone else's: its permissions are theirs to give.
        warnings.push(format!(
            "log.dir {} exists and the service's account may not be able to write to it; if the service cannot start, grant it: icacls \"{}\" /grant \"{}\":(OI)(CI)M",
            log_dir.display(),
            log_dir.display(),
            account_name(spec)
        ));
    }
    for dir in &service_dirs {
        if !dir.is_dir() {
            steps.push(Step::CreateDir(dir.clone()));
        } else if !granted(dir, spec) && !(same_account && before.granted_dirs.contains(dir)) {
            steps.push(Step::GrantDir(dir.clone()));
        }
    }
    if let Some(from) = copy_from {
        if !super::record::same_content(from, &layout.tend_bin) {
            steps.push(Step::CopyBinary {
                from: from.to_path_buf(),
                to: layout.tend_bin.clone(),
            });
        }
    }
    let spec_path = layout.spec_path(name);
    let spec_changes = std::fs::read_to_string(&spec_path).ok().as_deref() != Some(text);
    if spec_changes {
        steps.push(Step::WriteSpec {
            path: spec_path,
            content: text.to_string(),
        });
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
        });
    }
    if source.as_ref() != Some(&layout.tend_bin) {
        steps.push(Step::EventSource {
            source: name.to_string(),
            exe: layout.tend_bin.clone(),
        });
    }
    let record = InstallRecord {
        backend: BACKEND.into(),
        created_user: None,
        created_group: None,
        created_dirs,
        granted_dirs: service_dirs.clone(),
        account: Some(spec.windows.account.clone()),
        tend_bin: layout.tend_bin.clone(),
        files: vec![layout.spec_path(name)],
        pending: false,
    };
    let content = serde_json::to_string_pretty(&record).map_err(|e| e.to_string())?;
    let record_path = layout.record_path(name);
    if !steps.is_empty()
        || std::fs::read_to_string(&record_path).ok().as_deref() != Some(content.as_str())
    {
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

/// Whether the service `name` is tend's: recorded by a tend install, or running
/// `tend.exe run --service`.
pub fn is_tend_service(layout: &Layout, name: &str) -> bool {
    trusted_record(layout, name).is_some()
        || matches!(scm::query(name), Ok(Some(i)) if is_tends(&i.command_line))
}

/// The install record of `name`, if an administrator (or SYSTEM, or this installing
/// user) owns the file.
fn trusted_record(layout: &Layout, name: &str) -> Option<InstallRecord> {
    let owner = acl::owner(&layout.record_path(name)).ok()?;
    if trusted_owner(&owner) {
        super::record::read_record(layout, name)
    } else {
        None
    }
}

/// Owners whose files decide what runs as a service.
fn trusted_owner(owner: &acl::Sid) -> bool {
    let trusted = [
        acl::Sid::administrators(),
        acl::Sid::local_system(),
        acl::Sid::service("TrustedInstaller"),
    ];
    // The installing administrator's own SID, where the system makes it the owner of
    // what an administrator creates (and on Wine, where every file is the user's).
    trusted.contains(owner) || acl::current_user().ok().as_ref() == Some(owner)
}

/// The name of the service's account, as `icacls` takes it.
fn account_name(spec: &Spec) -> String {
    match account(spec, None) {
        Account::LocalSystem => "SYSTEM".into(),
        a => a.start_name(spec.name.as_str()),
    }
}

/// Whether an event message file is a tend.exe.
fn is_tend_exe(file: &Path) -> bool {
    file.file_name()
        .is_some_and(|f| f.eq_ignore_ascii_case("tend.exe"))
}

/// tend's root folder must be owned by an administrator (or SYSTEM): a folder that a
/// user created first would let that user replace the installed specs, and so what
/// runs as each service.
fn check_root(root: &Path) -> Result<(), String> {
    use std::os::windows::fs::MetadataExt;
    // A junction or link could lead the install (and its permission changes) anywhere.
    const FILE_ATTRIBUTE_REPARSE_POINT: u32 = 0x400;
    let meta = std::fs::symlink_metadata(root)
        .map_err(|e| format!("cannot read {}: {e}", root.display()))?;
    if meta.file_attributes() & FILE_ATTRIBUTE_REPARSE_POINT != 0 {
        return Err(format!(
            "{} is a link or junction, not a folder: remove it and install again",
            root.display()
        ));
    }
    let owner = acl::owner(root)
        .map_err(|e| format!("cannot read the owner of {}: {e}", root.display()))?;
    if trusted_owner(&owner) {
        Ok(())
    } else {
        Err(format!(
            "{} is owned by {owner}, not by an administrator: someone else created it, and could change what the services run. Check what is in it, remove it, and install again",
            root.display()
        ))
    }
}

/// Gives tend's existing root folder its administrators-only permissions again (run by
/// every install that changes something): files in it decide what runs as services.
pub fn secure_root(root: &Path) -> Result<(), String> {
    if !root.is_dir() {
        return Ok(());
    }
    check_root(root)?;
    lock_root(root)
}

/// Administrators own tend's root, and only they and SYSTEM may use it.
fn lock_root(root: &Path) -> Result<(), String> {
    acl::set_owner_administrators(root)
        .map_err(|e| format!("cannot make the Administrators own {}: {e}", root.display()))?;
    acl::restrict(root, &Account::LocalSystem, "tend", Access::Modify)
        .map(|_| ())
        .map_err(|e| format!("cannot restrict {}: {e}", root.display()))
}

/// Whether the account of `spec` is granted modify access to `dir` already.
fn granted(dir: &Path, spec: &Spec) -> bool {
    let Ok(sid) = acl::account_sid(&account(spec, None), spec.name.as_str()) else {
        return false;
    };
    acl::allowed_access(dir, &sid)
        .ok()
        .flatten()
        .is_some_and(|m| m & Access::Modify.mask() == Access::Modify.mask())
}

/// Whether the SCM's registration of the installed `spec` differs from what the spec
/// gives now (`None` when the SCM cannot be asked or the service is gone).
pub fn drifted(spec: &Spec, layout: &Layout) -> Option<bool> {
    let info = scm::query(spec.name.as_str()).ok()??;
    Some(differs(
        &service_def(spec, layout, None),
        &layout.tend_bin,
        &info,
    ))
}

/// Whether the SCM's registration differs from `def` in what `query` can read back
/// (the rest is compared, and rewritten if needed, by the install itself).
fn differs(def: &ServiceDef, exe: &Path, info: &ServiceInfo) -> bool {
    // A delayed start reads as automatic where the SCM cannot report it (Wine).
    let start_same = info.start == def.start
        || (def.start == StartType::AutoDelayed && info.start == StartType::Auto);
    scm::command_line(def, exe).ok().as_deref() != Some(info.command_line.as_str())
        || !start_same
        || info.display_name != def.display_name
        || !scm::same_account(&info.account, &def.account.start_name(&def.name))
        || matches!(
            def.account,
            Account::User {
                password: Some(_),
                ..
            }
        )
}

/// What was done, so it can be undone.
#[derive(Debug, Default)]
pub struct Applied {
    dirs: Vec<PathBuf>,
    files: Vec<(PathBuf, Option<Vec<u8>>)>,
    created_service: Option<String>,
    source: Option<String>,
}

impl Applied {
    /// Undoes what was done, newest first, printing each undo.
    pub fn rollback(self, out: &mut dyn Write) {
        if let Some(s) = &self.source {
            let _ = writeln!(out, "  undo: unregister the Event Log source {s}");
            let _ = eventlog::unregister_source(s);
        }
        if let Some(name) = &self.created_service {
            let _ = writeln!(out, "  undo: delete service {name}");
            let _ = scm::uninstall(name);
        }
        for (path, before) in self.files.iter().rev() {
            let _ = writeln!(out, "  undo: restore {}", path.display());
            let _ = match before {
                Some(bytes) => std::fs::write(path, bytes),
                None => std::fs::remove_file(path),
            };
        }
        for d in self.dirs.iter().rev() {
            let _ = writeln!(out, "  undo: remove {}", d.display());
            let _ = std::fs::remove_dir_all(d);
        }
    }
}

/// Applies the plan's steps in order, printing each; on failure undoes what was done
/// and returns the error.
pub fn apply(steps: &[Step], spec: &Spec, out: &mut dyn Write) -> Result<Applied, String> {
    let mut done = Applied::default();
    for step in steps {
        let _ = writeln!(out, "  {}", step.describe(false));
        if let Err(e) = apply_one(step, spec, &mut done) {
            let _ = writeln!(out, "  failed: {e}; undoing");
            done.rollback(out);
            return Err(e);
        }
    }
    Ok(done)
}

fn apply_one(step: &Step, spec: &Spec, done: &mut Applied) -> Result<(), String> {
    let name = spec.name.as_str();
    let acct = account(spec, None);
    let grant = |dir: &Path| {
        acl::grant(dir, &acct, name, Access::Modify)
            .map(|_| ())
            .map_err(|e| {
                format!(
                    "cannot grant the service's account access to {}: {e}",
                    dir.display()
                )
            })
    };
    let remember = |done: &mut Applied, path: &Path| {
        done.files
            .push((path.to_path_buf(), std::fs::read(path).ok()));
    };
    match step {
        Step::CreateRoot(dir) => {
            create_dir(dir, done)?;
            lock_root(dir)
        }
        Step::CreateDir(dir) => {
            create_dir(dir, done)?;
            grant(dir)
        }
        Step::GrantDir(dir) => grant(dir),
        Step::CopyBinary { from, to } => {
            if let Some(parent) = to.parent() {
                if !parent.is_dir() {
                    std::fs::create_dir_all(parent)
                        .map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
                    done.dirs.push(parent.to_path_buf());
                }
            }
            remember(done, to);
            // Through a temporary name: a running service keeps its old binary open.
            let tmp = to.with_extension("exe.new");
            std::fs::copy(from, &tmp)
                .and_then(|_| replace(&tmp, to))
                .map_err(|e| format!("cannot copy {} to {}: {e}", from.display(), to.display()))
        }
        Step::WriteSpec { path, content } => {
            remember(done, path);
            write_restricted(path, content.as_bytes(), &acct, name)
        }
        Step::Register { def, exe, exists } => {
            scm::install(def, exe).map_err(|e| format!("cannot register the service: {e}"))?;
            if !exists {
                done.created_service = Some(def.name.clone());
            }
            Ok(())
        }
        Step::EventSource { source, exe } => {
            let existed = eventlog::source_registered(source).ok().flatten().is_some();
            eventlog::register_source(source, exe)
                .map_err(|e| format!("cannot register the Event Log source: {e}"))?;
            if !existed {
                done.source = Some(source.clone());
            }
            Ok(())
        }
        Step::WriteRecord { path, content } => {
            remember(done, path);
            write_atomic(path, content.as_bytes())
        }
    }
}

/// Creates `dir` and its missing parents, remembering the outermost one for an undo.
fn create_dir(dir: &Path, done: &mut Applied) -> Result<(), String> {
    let first_missing = dir
        .ancestors()
        .take_while(|a| !a.exists())
        .last()
        .map(Path::to_path_buf);
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    if let Some(d) = first_missing {
        done.dirs.push(d);
    }
    Ok(())
}

/// Replaces `to` with `from`; a running tend.exe cannot be overwritten or deleted but
/// can be renamed, so the old one is moved aside first.
fn replace(from: &Path, to: &Path) -> std::io::Result<()> {
    match std::fs::rename(from, to) {
        Ok(()) => Ok(()),
        Err(_) if to.exists() => {
            // Older copies still running cannot be deleted either: each gets a name of
            // its own, and those no longer in use are removed.
            if let Some(dir) = to.parent() {
                for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
                    if e.file_name().to_string_lossy().starts_with("tend.exe.old-") {
                        let _ = std::fs::remove_file(e.path());
                    }
                }
            }
            let stamp = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis());
            let old = to.with_file_name(format!("tend.exe.old-{stamp}"));
            std::fs::rename(to, &old)?;
            std::fs::rename(from, to)
        }
        Err(e) => Err(e),
    }
}

/// Writes a file whose permissions are restricted before its content goes in.
fn write_restricted(path: &Path, bytes: &[u8], acct: &Account, name: &str) -> Result<(), String> {
    let tmp = path.with_extension("toml.new");
    // A fresh file: never one that was there before, with permissions of its own.
    let _ = std::fs::remove_file(&tmp);
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&tmp)
        .map_err(|e| format!("cannot write {}: {e}", tmp.display()))?;
    let result = acl::restrict(&tmp, acct, name, Access::Read)
        .map_err(|e| format!("cannot restrict {}: {e}", tmp.display()))
        .and_then(|_| {
            std::fs::write(&tmp, bytes).map_err(|e| format!("cannot write {}: {e}", tmp.display()))
        })
        .and_then(|()| {
            std::fs::rename(&tmp, path).map_err(|e| format!("cannot write {}: {e}", path.display()))
        });
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), String> {
    let tmp = path.with_extension("json.new");
    std::fs::write(&tmp, bytes)
        .and_then(|()| std::fs::rename(&tmp, path))
        .map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// One step of `tend uninstall`.
#[derive(Debug)]
pub enum UninstallStep {
    /// Stop (bounded) and delete the SCM registration.
    Unregister(String),
    /// Unregister the Event Log source.
    EventSource(String),
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
            UninstallStep::RemoveFile(p) => format!("remove {}", p.display()),
            UninstallStep::RemoveDir(p) => format!("remove {} and its contents", p.display()),
            UninstallStep::RemoveLogs { dir, name } => format!(
                "remove {name}'s logs from {} (and the folder, if that empties it)",
                dir.display()
            ),
        }
    }

    /// Does it.
    pub fn apply(&self) -> Result<String, String> {
        match self {
            UninstallStep::Unregister(n) => scm::uninstall(n)
                .map(|o| o.to_string())
                .map_err(|e| e.to_string()),
            UninstallStep::EventSource(n) => eventlog::unregister_source(n)
                .map(|existed| {
                    if existed {
                        "removed"
                    } else {
                        "was not registered"
                    }
                    .into()
                })
                .map_err(|e| e.to_string()),
            UninstallStep::RemoveFile(p) => std::fs::remove_file(p)
                .map(|()| "removed".into())
                .map_err(|e| e.to_string()),
            UninstallStep::RemoveDir(p) => std::fs::remove_dir_all(p)
                .map(|()| "removed".into())
                .map_err(|e| e.to_string()),
            UninstallStep::RemoveLogs { dir, name } => {
                let mut n = 0;
                for e in std::fs::read_dir(dir).map_err(|e| e.to_string())?.flatten() {
                    let f = e.file_name().to_string_lossy().to_string();
                    if f.starts_with(&format!("{name}.")) || f.starts_with("tend.log") {
                        std::fs::remove_file(e.path()).map_err(|e| e.to_string())?;
                        n += 1;
                    }
                }
                let emptied = std::fs::remove_dir(dir).is_ok();
                Ok(format!(
                    "{n} files removed{}",
                    if emptied {
                        ", and the folder"
                    } else {
                        "; the folder holds other files"
                    }
                ))
            }
        }
    }
}

/// The steps of uninstalling `name` (installed from `spec`, when it can be read).
pub fn plan_uninstall(
    spec: Option<&Spec>,
    name: &str,
    layout: &Layout,
    purge: bool,
) -> Vec<UninstallStep> {
    let mut steps = Vec::new();
    let record = trusted_record(layout, name);
    // Only what is tend's: a service running tend.exe (or recorded as installed by
    // tend), an event source whose messages are tend.exe's.
    if let Ok(Some(info)) = scm::query(name) {
        if record.is_some() || is_tends(&info.command_line) {
            steps.push(UninstallStep::Unregister(name.into()));
        }
    }
    if let Ok(Some(file)) = eventlog::source_registered(name) {
        if is_tend_exe(&file) {
            steps.push(UninstallStep::EventSource(name.into()));
        }
    }
    for f in [layout.spec_path(name), layout.record_path(name)] {
        if f.exists() {
            steps.push(UninstallStep::RemoveFile(f));
        }
    }
    if purge {
        // tend's own folders; never a folder of someone else's that a spec named
        // (`log.dir`). One tend created holds this service's logs (and maybe other
        // services'): their files go, the folder only if that leaves it empty.
        for d in [layout.state_dir(name), layout.log_root.join(name)] {
            if d.exists() {
                steps.push(UninstallStep::RemoveDir(d));
            }
        }
        let own_log_dir = spec.map(|s| layout.log_dir(s));
        for d in record.map(|r| r.created_dirs).unwrap_or_default() {
            if Some(&d) == own_log_dir.as_ref() && d.exists() {
                steps.push(UninstallStep::RemoveLogs {
                    dir: d,
                    name: name.to_string(),
                });
            }
        }
    }
    steps
}

/// The SCM's view of `name`, in the words `tend status` shows on every platform.
pub fn query(name: &str) -> Result<NativeStatus, String> {
    let info = scm::query(name)
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("service {name} does not exist"))?;
    Ok(native_status(&info))
}

/// [`ServiceInfo`] as a [`NativeStatus`].
pub fn native_status(info: &ServiceInfo) -> NativeStatus {
    let failed = info.state == ServiceState::Stopped
        && (info.win32_exit_code != 0 || info.service_exit_code != 0);
    NativeStatus {
        active: if failed {
            "failed".into()
        } else {
            info.state.as_str().into()
        },
        sub: Some(format!(
            "start {}{}",
            info.start,
            if failed {
                format!(
                    ", exit code {}/{}",
                    info.win32_exit_code, info.service_exit_code
                )
            } else {
                String::new()
            }
        )),
        enabled: matches!(info.start, StartType::Auto | StartType::AutoDelayed),
        main_pid: info.pid,
    }
}

/// Starts `name` (or restarts it) and waits until the supervisor reports its child
/// running (the SCM says RUNNING only then), or the service stops, or `timeout`.
pub fn start_and_wait(name: &str, restart: bool, timeout: Duration) -> Result<u32, String> {
    if restart {
        stop(name, timeout)?;
    }
    scm::start(name).map_err(|e| format!("cannot start {name}: {e}"))?;
    let deadline = Instant::now() + timeout;
    loop {
        let info = scm::query(name)
            .map_err(|e| e.to_string())?
            .ok_or_else(|| format!("service {name} does not exist"))?;
        match info.state {
            // The SCM says running once the first start attempt is over; the program
            // runs when the supervisor's state file says so.
            ServiceState::Running => {
                let layout = Layout::system(PathBuf::new());
                let st = crate::supervise::state::read_one(&crate::supervise::state::state_path(
                    &layout.state_dir(name),
                    name,
                ))
                .ok();
                // (Only this supervisor's word: not a state file an earlier run left.)
                let st = st.filter(|st| info.pid == Some(st.supervisor_pid));
                match st {
                    // Running, or ran and ended as it should (a one-shot program).
                    Some(st)
                        if st.state == crate::supervise::state::State::Running
                            || (st.state == crate::supervise::state::State::Exited
                                && st.started_at_ms.is_some()) =>
                    {
                        return Ok(info.pid.unwrap_or(0))
                    }
                    Some(st)
                        if Instant::now() >= deadline
                            || st.state == crate::supervise::state::State::Failed =>
                    {
                        return Err(format!(
                            "{name}'s program is {}: {}",
                            st.state.as_str(),
                            st.message.unwrap_or_default()
                        ))
                    }
                    _ if Instant::now() >= deadline => {
                        return Err(format!(
                            "{name}'s program did not start within {}s",
                            timeout.as_secs()
                        ))
                    }
                    _ => std::thread::sleep(Duration::from_millis(100)),
                }
            }
            ServiceState::Stopped => {
                return Err(format!(
                    "{name} stopped while starting (exit code {}, service-specific {})",
                    info.win32_exit_code, info.service_exit_code
                ))
            }
            _ if Instant::now() >= deadline => {
                return Err(format!(
                    "{name} is still {} after {}s",
                    info.state.as_str(),
                    timeout.as_secs()
                ))
            }
            _ => std::thread::sleep(Duration::from_millis(100)),
        }
    }
}

/// Stops `name`, waiting up to `timeout`.
pub fn stop(name: &str, timeout: Duration) -> Result<String, String> {
    match scm::stop(name, timeout) {
        Ok(scm::StopOutcome::StillStopping) => Err(format!(
            "{name} is still stopping after {}s",
            timeout.as_secs()
        )),
        Ok(o) => Ok(o.to_string()),
        Err(e) => Err(format!("cannot stop {name}: {e}")),
    }
}
