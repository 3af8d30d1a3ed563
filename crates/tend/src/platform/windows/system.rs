//! The Windows engine's I/O: what the SCM, the Event Log and the folders say
//! ([`observe`]), applying and undoing steps through the SCM API, and the install,
//! uninstall, start and stop commands.

use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use tend_service::windows::acl::{self, Access};
use tend_service::windows::rights;
use tend_service::windows::{self as scm, eventlog, Account, ServiceInfo, ServiceState, StartType};

use super::super::engine::{self, Apply, InstallRequest, Installed, START_TIMEOUT};
use super::super::record::{installed_spec, installed_text, InstallRecord};
use super::super::{manager_stop_timeout_secs, InstallError, Layout, NativeStatus, Verb};
use super::{
    account, is_tend_exe, is_tends, DirState, Observed, Registration, ScmService, Step, Undo,
    UninstallStep, BACKEND,
};
use crate::spec::Spec;

fn scm_err(what: impl Into<String>) -> impl FnOnce(scm::Error) -> InstallError {
    let what = what.into();
    move |e| InstallError::scm(what, e)
}

/// What the SCM, the Event Log and the folders say about installing `spec`.
pub fn observe(
    spec: &Spec,
    layout: &Layout,
    copy_from: Option<&Path>,
) -> Result<Observed, InstallError> {
    let name = spec.name.as_str();
    let info = scm::query(name).map_err(scm_err("query the service manager"))?;
    // Read before anything changes: an update that fails puts it back.
    let registration = match &info {
        Some(_) => scm::registration(name)
            .map_err(scm_err(format!("read the registration of service {name}")))?
            .map(|r| Registration {
                def: r.def,
                exe: r.exe,
            }),
        None => None,
    };
    let mut dirs = std::collections::BTreeMap::new();
    for d in super::service_dirs(spec, layout) {
        let state = if !d.is_dir() {
            DirState::Missing
        } else if granted(&d, spec) {
            DirState::Granted
        } else {
            DirState::NotGranted
        };
        dirs.insert(d, state);
    }
    Ok(Observed {
        service: info.map(|i| ScmService {
            active: matches!(i.state, ServiceState::Running | ServiceState::StartPending),
            command_line: i.command_line,
            start: i.start,
            account: i.account,
            display_name: i.display_name,
        }),
        registration,
        record: trusted_record(layout, name),
        event_source: eventlog::source_registered(name).ok().flatten(),
        logon_right: logon_right(spec),
        // A root that may not be used is the plan's to refuse; one that cannot be
        // read is an error here.
        root: match layout
            .spec_dir
            .is_dir()
            .then(|| check_root(&layout.spec_dir))
        {
            None => None,
            Some(Ok(())) => Some(Ok(())),
            Some(Err(InstallError::Refused(why))) => Some(Err(why)),
            Some(Err(e)) => return Err(e),
        },
        dirs,
        spec_text: std::fs::read_to_string(layout.spec_path(name)).ok(),
        record_text: std::fs::read_to_string(layout.record_path(name)).ok(),
        binary_current: copy_from
            .is_none_or(|from| super::super::record::same_content(from, &layout.tend_bin)),
    })
}

/// Whether the account of `spec`, when a user or group managed account, holds "Log
/// on as a service"; `None` for the other accounts, and when the account cannot be
/// looked up or the policy read (the plan then grants it: the step checks again).
fn logon_right(spec: &Spec) -> Option<bool> {
    if !super::needs_logon_right(spec) {
        return None;
    }
    let sid = acl::account_sid(&account(spec, None), spec.name.as_str()).ok()?;
    rights::holds(&sid, rights::SERVICE_LOGON).ok()
}

/// The SID of the user or group managed account `name`.
fn user_sid(name: &str) -> Result<acl::Sid, InstallError> {
    let user = Account::User {
        name: name.into(),
        password: None,
    };
    acl::account_sid(&user, "").map_err(|e| InstallError::acl(format!("look up {name}"), e))
}

/// `tend install` on Windows.
pub fn install(
    r: &InstallRequest<'_>,
    out: &mut dyn Write,
) -> Result<engine::InstallOutcome, InstallError> {
    let current = std::env::current_exe().map_err(|e| InstallError::Lookup {
        what: "tend.exe".into(),
        reason: e.to_string(),
    })?;
    let (tend_bin, copy) = super::tend_location(&current);
    let layout = Layout::windows(tend_bin);
    let spec = installed_spec(
        r.spec,
        &super::super::record::spec_base(r.spec_file),
        &layout,
    );
    let name = spec.name.to_string();
    let text = installed_text(&spec, r.spec_file, r.profile)?;
    let copy_from = copy.then_some(current.as_path());
    if r.dry_run {
        let (text, outcome) =
            engine::preview_outcome(r, BACKEND, &layout, copy_from, engine::Seen::System)
                .map_err(InstallError::admin_hint)?;
        let _ = out.write_all(text.as_bytes());
        return Ok(outcome);
    }
    let observed = observe(&spec, &layout, copy_from).map_err(InstallError::admin_hint)?;
    // A user account's password is asked for when the account is new to the service
    // (or `--password-env` gives a new one), not on every reinstall.
    let wanted = account(&spec, None).start_name(&name);
    let account_is_new = observed
        .service
        .as_ref()
        .is_none_or(|i| !scm::same_account(&i.account, &wanted));
    // A new password also comes when the spec's variable holds one (a rotation).
    let offered = r.password_env.is_some()
        || spec
            .windows
            .password_env
            .as_ref()
            .is_some_and(|v| std::env::var_os(v).is_some());
    let password = if super::needs_password(&spec) && (account_is_new || offered) {
        Some(password(&spec, r.password_env)?)
    } else {
        None
    };
    let active = observed.service.as_ref().is_some_and(|i| i.active);
    let plan = super::plan_install(&spec, &text, &layout, &observed, copy_from, password)
        .map_err(InstallError::admin_hint)?;
    for w in &plan.warnings {
        let _ = writeln!(std::io::stderr(), "warning: {w}");
    }
    if plan.steps.is_empty() {
        let _ = writeln!(out, "`{name}` is installed and up to date; nothing to do");
    } else {
        let _ = writeln!(out, "installing `{name}` (windows service):");
    }
    if !plan.steps.is_empty() {
        secure_root(&layout.spec_dir).map_err(InstallError::admin_hint)?;
    }
    let outcome = engine::InstallOutcome {
        name: name.clone(),
        backend: BACKEND.to_string(),
        changed: !plan.steps.is_empty(),
        steps: plan.steps.iter().map(|s| s.describe(false)).collect(),
        ..engine::InstallOutcome::default()
    };
    let applied = engine::apply(WinApply::new(&spec), Vec::new(), &plan.steps, out)
        .map_err(InstallError::admin_hint)?;
    let start =
        |restart: bool| start_and_wait(&name, restart, engine::start_timeout(&spec)).map(|_| ());
    engine::after_install(
        &Installed {
            spec: &spec,
            layout: &layout,
            existed: plan.existed,
            changed: !plan.steps.is_empty(),
            changes_service: plan.changes_service,
            active,
        },
        r,
        &start,
        |out| applied.rollback(out),
        outcome,
        out,
    )
}

/// The password of a user account: from `--password-env`, `windows.password_env`, or
/// a prompt without echo. Never from the spec, never printed.
fn password(spec: &Spec, flag: Option<&str>) -> Result<String, InstallError> {
    let var = flag.or(spec.windows.password_env.as_deref());
    if let Some(var) = var {
        return std::env::var(var).map_err(|_| {
            InstallError::Refused(format!(
                "the password of {} should be in the environment variable {var}, which is not set",
                spec.windows.account
            ))
        });
    }
    if !std::io::stdin().is_terminal() {
        return Err(InstallError::Refused(format!(
            "{} needs a password: set windows.password_env (or --password-env) to the name of an environment variable that holds it",
            spec.windows.account
        )));
    }
    {
        use std::io::Write as _;
        let _ = write!(std::io::stderr(), "password for {}: ", spec.windows.account);
    }
    let _echo = EchoOff::new();
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|source| InstallError::Input {
            what: "the password".into(),
            source,
        })?;
    let _ = writeln!(std::io::stderr());
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}

/// Turns console echo off until dropped.
struct EchoOff(Option<u32>);

impl EchoOff {
    fn new() -> EchoOff {
        use windows_sys::Win32::System::Console::{
            GetConsoleMode, GetStdHandle, SetConsoleMode, ENABLE_ECHO_INPUT, STD_INPUT_HANDLE,
        };
        let mut mode = 0;
        // SAFETY: plain calls on this process's standard input handle.
        unsafe {
            let h = GetStdHandle(STD_INPUT_HANDLE);
            if GetConsoleMode(h, &mut mode) == 0 {
                return EchoOff(None);
            }
            SetConsoleMode(h, mode & !ENABLE_ECHO_INPUT);
        }
        EchoOff(Some(mode))
    }
}

impl Drop for EchoOff {
    fn drop(&mut self) {
        use windows_sys::Win32::System::Console::{GetStdHandle, SetConsoleMode, STD_INPUT_HANDLE};
        if let Some(mode) = self.0 {
            // SAFETY: restores the mode read in `new`.
            unsafe { SetConsoleMode(GetStdHandle(STD_INPUT_HANDLE), mode) };
        }
    }
}

/// `tend uninstall` on Windows: prints each step (and does it, unless `dry_run`);
/// returns whether a step failed.
pub fn uninstall(
    name: &str,
    purge: bool,
    dry_run: bool,
    out: &mut dyn Write,
    said: &mut Vec<String>,
) -> Result<bool, InstallError> {
    let layout = Layout::windows(PathBuf::new());
    let installed = crate::spec::load_file(&layout.spec_path(name), &Default::default()).ok();
    let spec = installed.as_ref().and_then(|l| l.services.first());
    let steps = plan_uninstall(spec, name, &layout, purge);
    if steps.is_empty() {
        return Err(InstallError::NotInstalled(format!(
            "`{name}` is not installed (no service, no {})",
            layout.spec_path(name).display()
        )));
    }
    let _ = writeln!(
        out,
        "{}uninstalling `{name}`:",
        if dry_run { "dry run: " } else { "" },
    );
    let mut failed = false;
    for s in &steps {
        let _ = writeln!(out, "  {}", s.describe());
        said.push(s.describe());
        if !dry_run {
            match apply_uninstall(s) {
                Ok(what) => {
                    let _ = writeln!(out, "    ({what})");
                }
                Err(e) => {
                    failed = true;
                    let _ = writeln!(out, "    (failed: {})", e.admin_hint());
                }
            }
        }
    }
    Ok(failed)
}

/// `tend control NAME CODE` on Windows: sends a custom control code; says which
/// action the spec maps to it.
pub fn send_control_code(name: &str, code: u8) -> Result<String, InstallError> {
    scm::control(name, code).map_err(|e| {
        InstallError::scm(format!("send control {code} to `{name}`"), e).admin_hint()
    })?;
    let layout = Layout::windows(PathBuf::new());
    let action = crate::spec::load_file(&layout.spec_path(name), &Default::default())
        .ok()
        .and_then(|l| l.services.into_iter().next())
        .and_then(|s| s.windows.control_action(code));
    Ok(match action {
        Some(a) => format!("sent control {code} to `{name}` ({a})"),
        None => format!("sent control {code} to `{name}` (its spec maps no action to it)"),
    })
}

/// `tend start|stop|restart NAME` on Windows: what to say when it worked.
pub fn control(name: &str, verb: Verb) -> Result<String, InstallError> {
    let layout = Layout::windows(PathBuf::new());
    if !is_tend_service(&layout, name) {
        return Err(InstallError::Refused(format!("`{name}` is not installed by tend\n  = help: install it with `tend install SPEC`, or run it in the foreground with `tend run SPEC`")));
    }
    let spec = crate::spec::load_file(&layout.spec_path(name), &Default::default())
        .ok()
        .and_then(|l| l.services.into_iter().next());
    let stop_timeout = spec.as_ref().map_or(Duration::from_secs(30), |s| {
        Duration::from_secs(manager_stop_timeout_secs(s))
    });
    let start_timeout = spec.as_ref().map_or(START_TIMEOUT, engine::start_timeout);
    let result = match verb {
        Verb::Stop => stop(name, stop_timeout).map(|o| format!("`{name}` {o}")),
        Verb::Start | Verb::Restart => {
            start_and_wait(name, verb == Verb::Restart, start_timeout.max(stop_timeout)).map(|_| {
                let child = crate::supervise::state::read_one(
                    &crate::supervise::state::state_path(&layout.state_dir(name), name),
                )
                .ok()
                .and_then(|s| s.pid);
                match child {
                    Some(pid) => format!("`{name}` is running (pid {pid})"),
                    None => format!("`{name}` is running"),
                }
            })
        }
    };
    result.map_err(InstallError::admin_hint)
}

/// Whether the service `name` is tend's: recorded by a tend install, or running
/// `tend.exe run --service`.
fn is_tend_service(layout: &Layout, name: &str) -> bool {
    trusted_record(layout, name).is_some()
        || matches!(scm::query(name), Ok(Some(i)) if is_tends(&i.command_line))
}

/// The install record of `name`, if an administrator (or SYSTEM, or this installing
/// user) owns the file.
pub(super) fn trusted_record(layout: &Layout, name: &str) -> Option<InstallRecord> {
    let owner = acl::owner(&layout.record_path(name)).ok()?;
    if trusted_owner(&owner) {
        super::super::record::read_record(layout, name)
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

/// tend's root folder must be owned by an administrator (or SYSTEM): a folder that a
/// user created first would let that user replace the installed specs, and so what
/// runs as each service.
fn check_root(root: &Path) -> Result<(), InstallError> {
    use std::os::windows::fs::MetadataExt;
    // A junction or link could lead the install (and its permission changes) anywhere.
    const FILE_ATTRIBUTE_REPARSE_POINT: u32 = 0x400;
    let meta = std::fs::symlink_metadata(root).map_err(|e| InstallError::io("read", root, e))?;
    if meta.file_attributes() & FILE_ATTRIBUTE_REPARSE_POINT != 0 {
        return Err(InstallError::Refused(format!(
            "{} is a link or junction, not a folder: remove it and install again",
            root.display()
        )));
    }
    let owner = acl::owner(root)
        .map_err(|e| InstallError::acl(format!("read the owner of {}", root.display()), e))?;
    if trusted_owner(&owner) {
        Ok(())
    } else {
        Err(InstallError::Refused(format!(
            "{} is owned by {owner}, not by an administrator: someone else created it, and could change what the services run. Check what is in it, remove it, and install again",
            root.display()
        )))
    }
}

/// Gives tend's existing root folder its administrators-only permissions again (run by
/// every install that changes something): files in it decide what runs as services.
/// Not undone by a rollback: kept as hardening (docs/DESIGN.md, the install engine).
fn secure_root(root: &Path) -> Result<(), InstallError> {
    if !root.is_dir() {
        return Ok(());
    }
    check_root(root)?;
    lock_root(root)
}

/// Administrators own tend's root, and only they and SYSTEM may use it.
fn lock_root(root: &Path) -> Result<(), InstallError> {
    acl::set_owner_administrators(root).map_err(|e| {
        InstallError::acl(format!("make the Administrators own {}", root.display()), e)
    })?;
    acl::restrict(root, &Account::LocalSystem, "tend", Access::Modify)
        .map(|_| ())
        .map_err(|e| InstallError::acl(format!("restrict {}", root.display()), e))
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
    Some(super::differs(
        &super::service_def(spec, layout, None),
        &layout.tend_bin,
        &ScmService {
            active: false,
            command_line: info.command_line,
            start: info.start,
            account: info.account,
            display_name: info.display_name,
        },
    ))
}

/// Applies the Windows steps of one service.
pub struct WinApply {
    spec: Spec,
}

impl WinApply {
    /// The applier of `spec`'s install.
    pub fn new(spec: &Spec) -> WinApply {
        WinApply { spec: spec.clone() }
    }
}

impl Apply for WinApply {
    type Step = Step;
    type Undo = Undo;
    fn describe(&self, step: &Step) -> String {
        step.describe(false)
    }
    fn apply(&mut self, step: &Step, undo: &mut Vec<Undo>) -> Result<(), InstallError> {
        apply_one(step, &self.spec, undo)
    }
    fn describe_undo(&self, undo: &Undo) -> String {
        undo.describe()
    }
    fn undo(&mut self, undo: &Undo) -> Result<(), InstallError> {
        match undo {
            Undo::UnregisterSource(s) => eventlog::unregister_source(s).map(drop).map_err(|e| {
                InstallError::event_log(format!("unregister the Event Log source {s}"), e)
            }),
            Undo::RepointSource { source, file } => eventlog::register_source(source, file)
                .map(drop)
                .map_err(|e| {
                    InstallError::event_log(format!("point the Event Log source {source} back"), e)
                }),
            Undo::RemoveLogonRight(a) => remove_logon_right(a).map(drop),
            Undo::DeleteService(name) => scm::uninstall(name)
                .map(drop)
                .map_err(scm_err(format!("delete service {name}"))),
            Undo::Reregister { previous: r, .. } => scm::install(&r.def, &r.exe)
                .map(drop)
                .map_err(scm_err(format!("restore service {}", r.def.name))),
            Undo::RestoreFile { path, old } => match old {
                Some(bytes) => std::fs::write(path, bytes),
                None => std::fs::remove_file(path),
            }
            .map_err(|e| InstallError::io("restore", path, e)),
            Undo::RemoveDir(d) => {
                std::fs::remove_dir_all(d).map_err(|e| InstallError::io("remove", d, e))
            }
        }
    }
}

/// Applies one step, pushing each undo onto `done` as the change is made (the engine
/// undoes them, newest first and each said, when the step or a later one fails).
fn apply_one(step: &Step, spec: &Spec, done: &mut Vec<Undo>) -> Result<(), InstallError> {
    let name = spec.name.as_str();
    let acct = account(spec, None);
    let grant = |dir: &Path| {
        acl::grant(dir, &acct, name, Access::Modify)
            .map(|_| ())
            .map_err(|e| {
                InstallError::acl(
                    format!("grant the service's account access to {}", dir.display()),
                    e,
                )
            })
    };
    let remember = |done: &mut Vec<Undo>, path: &Path| {
        done.push(Undo::RestoreFile {
            path: path.to_path_buf(),
            old: std::fs::read(path).ok(),
        });
    };
    super::apply_step(step, done, |done| match step {
        Step::CreateRoot(dir) => {
            create_dir(dir, done)?;
            lock_root(dir)
        }
        Step::CreateDir(dir) => {
            create_dir(dir, done)?;
            grant(dir)
        }
        // (Not undone: a grant of the service's own folders, kept as hardening; see
        // docs/DESIGN.md.)
        Step::GrantDir(dir) => grant(dir),
        Step::CopyBinary { from, to } => {
            if let Some(parent) = to.parent() {
                if !parent.is_dir() {
                    create_dir(parent, done)?;
                }
            }
            remember(done, to);
            // Through a temporary name: a running service keeps its old binary open.
            let tmp = to.with_extension("exe.new");
            std::fs::copy(from, &tmp)
                .and_then(|_| replace(&tmp, to))
                .map_err(|e| InstallError::io("copy tend.exe to", to, e))
        }
        Step::WriteSpec { path, content } => {
            remember(done, path);
            write_restricted(path, content.as_bytes(), &acct, name)
        }
        Step::GrantLogonRight { account } => {
            let sid = user_sid(account)?;
            let policy = |e| {
                InstallError::acl(
                    format!("grant {account} the right to log on as a service"),
                    e,
                )
            };
            // Checked again: a right the account held already is not taken back by
            // a rollback.
            if !rights::holds(&sid, rights::SERVICE_LOGON).map_err(policy)? {
                rights::add(&sid, rights::SERVICE_LOGON).map_err(policy)?;
                done.push(Undo::RemoveLogonRight(account.clone()));
            }
            Ok(())
        }
        Step::Register { def, exe, .. } => scm::install(def, exe)
            .map(drop)
            .map_err(scm_err("register the service")),
        Step::EventSource { source, exe, .. } => eventlog::register_source(source, exe)
            .map(drop)
            .map_err(|e| InstallError::event_log("register the Event Log source", e)),
        Step::WriteRecord { path, content } => {
            remember(done, path);
            write_atomic(path, content.as_bytes())
        }
    })
}

/// Creates `dir` and its missing parents, remembering the outermost one for an undo.
fn create_dir(dir: &Path, done: &mut Vec<Undo>) -> Result<(), InstallError> {
    let first_missing = dir
        .ancestors()
        .take_while(|a| !a.exists())
        .last()
        .map(Path::to_path_buf);
    std::fs::create_dir_all(dir).map_err(|e| InstallError::io("create", dir, e))?;
    if let Some(d) = first_missing {
        done.push(Undo::RemoveDir(d));
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
fn write_restricted(
    path: &Path,
    bytes: &[u8],
    acct: &Account,
    name: &str,
) -> Result<(), InstallError> {
    let tmp = path.with_extension("toml.new");
    // A fresh file: never one that was there before, with permissions of its own.
    let _ = std::fs::remove_file(&tmp);
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&tmp)
        .map_err(|e| InstallError::io("write", &tmp, e))?;
    let result = acl::restrict(&tmp, acct, name, Access::Read)
        .map_err(|e| InstallError::acl(format!("restrict {}", tmp.display()), e))
        .and_then(|_| std::fs::write(&tmp, bytes).map_err(|e| InstallError::io("write", &tmp, e)))
        .and_then(|()| std::fs::rename(&tmp, path).map_err(|e| InstallError::io("write", path, e)));
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// (The same atomic write as the Unix install's: a temporary file, synced, renamed.)
fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), InstallError> {
    crate::supervise::state::write_atomic(path, bytes)
        .map_err(|e| InstallError::io("write", path, e))
}

/// Takes "Log on as a service" back from `account`; whether it had any rights.
fn remove_logon_right(account: &str) -> Result<bool, InstallError> {
    let sid = user_sid(account)?;
    rights::remove(&sid, rights::SERVICE_LOGON).map_err(|e| {
        InstallError::acl(
            format!("take the right to log on as a service back from {account}"),
            e,
        )
    })
}

/// Does one uninstall step; says what came of it.
fn apply_uninstall(step: &UninstallStep) -> Result<String, InstallError> {
    match step {
        UninstallStep::Unregister(n) => scm::uninstall(n)
            .map(|o| o.to_string())
            .map_err(scm_err(format!("delete service {n}"))),
        UninstallStep::EventSource(n) => eventlog::unregister_source(n)
            .map(|existed| {
                if existed {
                    "removed"
                } else {
                    "was not registered"
                }
                .into()
            })
            .map_err(|e| {
                InstallError::event_log(format!("unregister the Event Log source {n}"), e)
            }),
        UninstallStep::RemoveLogonRight(a) => {
            remove_logon_right(a).map(|had| if had { "removed" } else { "did not hold it" }.into())
        }
        UninstallStep::RemoveFile(p) => std::fs::remove_file(p)
            .map(|()| "removed".into())
            .map_err(|e| InstallError::io("remove", p, e)),
        UninstallStep::RemoveDir(p) => std::fs::remove_dir_all(p)
            .map(|()| "removed".into())
            .map_err(|e| InstallError::io("remove", p, e)),
        UninstallStep::RemoveLogs { dir, name } => {
            let mut n = 0;
            for e in std::fs::read_dir(dir)
                .map_err(|e| InstallError::io("read", dir, e))?
                .flatten()
            {
                let f = e.file_name().to_string_lossy().to_string();
                if f.starts_with(&format!("{name}.")) || f.starts_with("tend.log") {
                    let path = e.path();
                    std::fs::remove_file(&path)
                        .map_err(|e| InstallError::io("remove", &path, e))?;
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

/// The steps of uninstalling `name` (installed from `spec`, when it can be read).
fn plan_uninstall(
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
    // (Before the record goes: it says whether tend granted the right.)
    let others: Vec<String> = layout
        .installed_names()
        .iter()
        .filter(|n| *n != name)
        .filter_map(|n| trusted_record(layout, n)?.account)
        .collect();
    if let Some(account) = super::purged_logon_right(record.as_ref(), &others, purge) {
        steps.push(UninstallStep::RemoveLogonRight(account));
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
pub fn query(name: &str) -> Result<NativeStatus, InstallError> {
    let info = scm::query(name)
        .map_err(scm_err(format!("query service {name}")))?
        .ok_or_else(|| InstallError::Refused(format!("service {name} does not exist")))?;
    Ok(native_status(&info))
}

/// [`ServiceInfo`] as a [`NativeStatus`].
fn native_status(info: &ServiceInfo) -> NativeStatus {
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
/// running and, with `[health]`, healthy (the SCM says RUNNING only then), or the
/// service stops or turns unhealthy, or `timeout`.
fn start_and_wait(name: &str, restart: bool, timeout: Duration) -> Result<u32, InstallError> {
    if restart {
        stop(name, timeout)?;
    }
    scm::start(name).map_err(scm_err(format!("start {name}")))?;
    engine::wait_for(timeout, Duration::from_millis(100), |late| {
        let info = scm::query(name)
            .map_err(scm_err(format!("query service {name}")))?
            .ok_or_else(|| InstallError::Refused(format!("service {name} does not exist")))?;
        match info.state {
            // The SCM says running once the first start attempt is over; the program
            // runs when the supervisor's state file says so.
            ServiceState::Running => {
                let layout = Layout::windows(PathBuf::new());
                let st = crate::supervise::state::read_one(&crate::supervise::state::state_path(
                    &layout.state_dir(name),
                    name,
                ))
                .ok();
                // (Only this supervisor's word: not a state file an earlier run left.)
                let st = st.filter(|st| info.pid == Some(st.supervisor_pid));
                match st {
                    // Running (with `[health]`: healthy), or ran and ended as it should
                    // (a one-shot program).
                    Some(st)
                        if st.ready()
                            || (st.state == crate::supervise::state::State::Exited
                                && st.started_at_ms.is_some()) =>
                    {
                        Ok(Some(info.pid.unwrap_or(0)))
                    }
                    Some(st) if matches!(st.start_outcome(), Some(Err(_))) => {
                        let why = st.start_outcome().and_then(Result::err).unwrap_or_default();
                        Err(InstallError::Start(format!("{name}'s program {why}")))
                    }
                    Some(st) if late && st.not_healthy_yet().is_some() => {
                        Err(InstallError::Start(format!(
                            "{name}'s program is {} after {}s",
                            st.not_healthy_yet().unwrap_or_default(),
                            timeout.as_secs()
                        )))
                    }
                    Some(st) if late || st.state == crate::supervise::state::State::Failed => {
                        Err(InstallError::Start(format!(
                            "{name}'s program is {}: {}",
                            st.state.as_str(),
                            st.message.unwrap_or_default()
                        )))
                    }
                    _ if late => Err(InstallError::Start(format!(
                        "{name}'s program did not start within {}s",
                        timeout.as_secs()
                    ))),
                    _ => Ok(None),
                }
            }
            ServiceState::Stopped => Err(InstallError::Start(format!(
                "{name} stopped while starting (exit code {}, service-specific {})",
                info.win32_exit_code, info.service_exit_code
            ))),
            _ if late => Err(InstallError::Start(format!(
                "{name} is still {} after {}s",
                info.state.as_str(),
                timeout.as_secs()
            ))),
            _ => Ok(None),
        }
    })
}

/// Stops `name`, waiting up to `timeout`.
fn stop(name: &str, timeout: Duration) -> Result<String, InstallError> {
    match scm::stop(name, timeout) {
        Ok(scm::StopOutcome::StillStopping) => Err(InstallError::Stop(format!(
            "{name} is still stopping after {}s",
            timeout.as_secs()
        ))),
        Ok(o) => Ok(o.to_string()),
        Err(e) => Err(InstallError::scm(format!("stop {name}"), e)),
    }
}
