//! Installing and uninstalling, shared by every backend: plan the steps by comparing
//! what should be with what is (so a second identical install has no steps), print
//! them for `--dry-run`, apply them, and undo what was done if a step fails.

use std::io::Write;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

pub use super::record::{installed_spec, normalize, read_record, InstallRecord};
use super::{Artifact, Backend, Cmd, Layout, Verb};
use crate::spec::Spec;
use crate::supervise::sys;

/// One change to the system.
#[derive(Clone, Debug)]
pub enum Step {
    /// Create a system group.
    CreateGroup(String),
    /// Create a system user (no login shell, no home) in a group.
    CreateUser {
        /// User name.
        name: String,
        /// Its primary group (created alongside when missing).
        group: String,
    },
    /// Create a directory owned by the service's account.
    CreateDir {
        /// The directory.
        path: PathBuf,
        /// Owner user and group.
        owner: Option<(String, String)>,
        /// Permission bits.
        mode: u32,
    },
    /// Copy the tend binary where the service's account can run it.
    CopyBinary {
        /// This binary.
        from: PathBuf,
        /// Where.
        to: PathBuf,
    },
    /// Write a file (replacing what is there).
    WriteFile {
        /// The file.
        artifact: Artifact,
        /// Group owner (the service's group, for files it must read).
        group: Option<String>,
    },
    /// Run a command.
    Run(Cmd),
}

impl Step {
    /// One line for people; `full` adds file contents (for `--dry-run`).
    pub fn describe(&self, full: bool) -> String {
        match self {
            Step::CreateGroup(g) => format!("create system group {g}"),
            Step::CreateUser { name, group } => {
                format!("create system user {name} (group {group}, no login shell, no home)")
            }
            Step::CreateDir { path, owner, mode } => match owner {
                Some((u, g)) => format!(
                    "create directory {} ({u}:{g}, mode {mode:o})",
                    path.display()
                ),
                None => format!("create directory {} (mode {mode:o})", path.display()),
            },
            Step::CopyBinary { from, to } => format!(
                "copy {} to {} (the service account cannot reach the original)",
                from.display(),
                to.display()
            ),
            Step::WriteFile { artifact, .. } => {
                let mut s = format!(
                    "write {} (mode {:o})",
                    artifact.path.display(),
                    artifact.mode
                );
                if full {
                    s.push_str(":\n");
                    for line in artifact.content.lines() {
                        s.push_str("    | ");
                        s.push_str(line);
                        s.push('\n');
                    }
                    s.pop();
                }
                s
            }
            Step::Run(c) => format!("run {c}"),
        }
    }
}

/// Everything `tend install` would do.
#[derive(Clone, Debug)]
pub struct Plan {
    /// The steps, in order.
    pub steps: Vec<Step>,
    /// The record written at the end.
    pub record: InstallRecord,
    /// Whether the installed spec or the unit changes (a running service then runs an
    /// older spec until restarted).
    pub changes_service: bool,
    /// Whether the service was installed before.
    pub existed: bool,
}

/// Where the service will find tend: this binary, if it lives somewhere only root can
/// change (root-owned, not group- or world-writable, all the way up) and outside the
/// places a unit hides or empties (temporary and home directories); else a copy in
/// `/usr/local/bin`.
pub fn tend_location(current: &Path) -> (PathBuf, bool) {
    let hidden = [
        "/tmp",
        "/var/tmp",
        "/dev/shm",
        "/home",
        "/root",
        "/run/user",
    ];
    let safe = |p: &Path| {
        p.metadata()
            .is_ok_and(|m| m.uid() == 0 && m.mode() & 0o022 == 0 && m.mode() & 0o001 != 0)
    };
    let ok = !hidden.iter().any(|h| current.starts_with(h))
        && super::check_tend_path(current).is_ok()
        && safe(current)
        && current.ancestors().skip(1).all(safe);
    if ok {
        (current.to_path_buf(), false)
    } else {
        (PathBuf::from("/usr/local/bin/tend"), true)
    }
}

/// Whether the account `(uid, gid)` can reach `path` with access `need` on the file
/// itself (4 read, 1 execute) and search permission on every directory above it, from
/// the permission bits alone (root needs nothing; supplementary groups are ignored).
pub fn reachable_by(path: &Path, uid: Option<u32>, gid: Option<u32>, need: u32) -> bool {
    if uid == Some(0) {
        return true;
    }
    let allows = |p: &Path, bits: u32| {
        p.metadata().is_ok_and(|m| {
            let mode = m.mode();
            (Some(m.uid()) == uid && mode & (bits << 6) == bits << 6)
                || (Some(m.gid()) == gid && mode & (bits << 3) == bits << 3)
                || mode & bits == bits
        })
    };
    allows(path, need) && path.ancestors().skip(1).all(|d| allows(d, 1))
}

/// What the service's account will not be able to reach: one line each.
pub fn unreachable(spec: &Spec) -> Vec<String> {
    let Some(user) = spec.user.as_deref().filter(|u| *u != "root") else {
        return Vec::new();
    };
    let creds = sys::lookup_credentials(user, spec.group.as_deref()).ok();
    let uid = creds.as_ref().map(|c| c.uid);
    let gid = creds
        .as_ref()
        .map(|c| c.gid)
        .or_else(|| sys::lookup_group(spec.group.as_deref().unwrap_or(user)).ok());
    let mut out = Vec::new();
    let path_var = spec
        .env
        .get("PATH")
        .map(std::ffi::OsString::from)
        .or_else(|| std::env::var_os("PATH"));
    if let Ok(cmd) = sys::resolve_command(&spec.command, Path::new("/"), path_var.as_deref()) {
        if !reachable_by(&cmd, uid, gid, 1) {
            out.push(format!(
                "`{user}` cannot run {} (check the permissions of it and of every folder above it)",
                cmd.display()
            ));
        }
    }
    if let Some(f) = &spec.env_file {
        if !reachable_by(f, uid, gid, 4) {
            out.push(format!(
                "`{user}` cannot read env_file {}: make it `chown root:{} {}; chmod 640 {}`",
                f.display(),
                spec.group.as_deref().unwrap_or(user),
                f.display(),
                f.display()
            ));
        }
    }
    out
}

fn user_exists(name: &str) -> bool {
    sys::lookup_credentials(name, None).is_ok()
}

fn group_exists(name: &str) -> bool {
    sys::lookup_group(name).is_ok()
}

/// Plans the install of `spec` (already in installed form).
pub fn plan_install(
    spec: &Spec,
    spec_text: &str,
    layout: &Layout,
    backend: &dyn Backend,
    copy_from: Option<&Path>,
) -> Result<Plan, String> {
    let name = spec.name.as_str();
    // Fail before touching anything when the program is missing.
    let path_var = spec
        .env
        .get("PATH")
        .map(std::ffi::OsString::from)
        .or_else(|| std::env::var_os("PATH"));
    let base = spec.working_dir.clone().unwrap_or_else(|| "/".into());
    sys::resolve_command(&spec.command, &base, path_var.as_deref())
        .map_err(|e| format!("cannot install `{name}`: {e}"))?;

    let previous = read_record(layout, name);
    let existed = layout.spec_path(name).exists();
    let mut steps = Vec::new();
    let mut record = InstallRecord {
        backend: backend.name().into(),
        tend_bin: layout.tend_bin.clone(),
        ..Default::default()
    };
    // What tend created before stays tend's, as long as it still exists.
    if let Some(p) = &previous {
        record.created_user = p.created_user.clone().filter(|u| user_exists(u));
        record.created_group = p.created_group.clone().filter(|g| group_exists(g));
        record.created_dirs = p.created_dirs.clone();
    }
    let owner = match spec.user.as_deref().filter(|u| *u != "root") {
        Some(u) => {
            let g = spec.group.clone().unwrap_or_else(|| u.to_string());
            let group_missing = !group_exists(&g);
            if spec.group.is_some() && group_missing {
                steps.push(Step::CreateGroup(g.clone()));
                record.created_group = Some(g.clone());
            }
            if !user_exists(u) {
                steps.push(Step::CreateUser {
                    name: u.into(),
                    group: g.clone(),
                });
                record.created_user = Some(u.to_string());
                if spec.group.is_none() && group_missing {
                    // useradd --user-group creates it alongside.
                    record.created_group = Some(g.clone());
                }
            }
            Some((u.to_string(), g))
        }
        None => None,
    };
    // A custom log.dir may be shared (`/var/log`): create it if missing, never take
    // over one that exists.
    if let Some(custom) = &spec.log.dir {
        if !custom.exists() {
            steps.push(Step::CreateDir {
                path: custom.clone(),
                owner: owner.clone(),
                mode: 0o750,
            });
            record.created_dirs.push(custom.clone());
        }
    }
    let own_dirs = [
        Some(layout.state_dir(name)),
        spec.log.dir.is_none().then(|| layout.log_dir(spec)),
    ];
    for dir in own_dirs.into_iter().flatten() {
        let ok = dir.metadata().is_ok_and(|m| {
            m.is_dir()
                && m.mode() & 0o7777 == 0o750
                && match &owner {
                    Some((u, _)) => {
                        sys::lookup_credentials(u, None).is_ok_and(|c| c.uid == m.uid())
                    }
                    None => true,
                }
        });
        if !ok {
            steps.push(Step::CreateDir {
                path: dir,
                owner: owner.clone(),
                mode: 0o750,
            });
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
    let group = owner.as_ref().map(|(_, g)| g.clone());
    let mut changes_service = false;
    let spec_file = Artifact {
        path: layout.spec_path(name),
        content: spec_text.to_string(),
        mode: 0o640,
    };
    let mut files = vec![(spec_file, group)];
    for a in backend.render(spec, layout) {
        record.files.push(a.path.clone());
        files.push((a, None));
    }
    for (artifact, group) in files {
        if file_differs(&artifact) {
            changes_service = true;
            steps.push(Step::WriteFile { artifact, group });
        }
    }
    let record_text = serde_json::to_string_pretty(&record).unwrap_or_default() + "\n";
    let record_file = Artifact {
        path: layout.record_path(name),
        content: record_text,
        mode: 0o644,
    };
    if file_differs(&record_file) {
        steps.push(Step::WriteFile {
            artifact: record_file,
            group: None,
        });
    }
    if changes_service || !existed {
        steps.extend(backend.enable(name).into_iter().map(Step::Run));
    }
    Ok(Plan {
        steps,
        record,
        changes_service,
        existed,
    })
}

fn file_differs(a: &Artifact) -> bool {
    match (std::fs::read(&a.path), std::fs::metadata(&a.path)) {
        (Ok(bytes), Ok(m)) => bytes != a.content.as_bytes() || m.mode() & 0o7777 != a.mode,
        _ => true,
    }
}

/// How to undo one applied step.
enum Undo {
    DeleteUser(String),
    DeleteGroup(String),
    RemoveDir(PathBuf),
    Restore {
        path: PathBuf,
        old: Option<(Vec<u8>, u32)>,
    },
    Run(Vec<Cmd>),
}

/// What an apply did, so it can be undone if a later step (such as the first start)
/// fails.
pub struct Applied {
    undo: Vec<Undo>,
}

impl Applied {
    /// Undoes everything, newest first.
    pub fn rollback(self, out: &mut dyn Write) {
        let _ = writeln!(out, "rolling back:");
        for u in self.undo.into_iter().rev() {
            let _ = writeln!(out, "  {}", describe_undo(&u));
            if let Err(e) = run_undo(&u) {
                let _ = writeln!(out, "  (this rollback step failed: {e})");
            }
        }
    }
}

/// Applies `steps`, printing each; on failure undoes the applied ones in reverse and
/// returns the error.
pub fn apply(
    steps: &[Step],
    backend: &dyn Backend,
    name: &str,
    out: &mut dyn Write,
) -> Result<Applied, String> {
    // Runs last on rollback: the manager forgets the removed unit.
    let mut applied = Applied {
        undo: vec![Undo::Run(backend.forget(name))],
    };
    for step in steps {
        let _ = writeln!(out, "  {}", step.describe(false));
        match apply_one(step, backend, name) {
            Ok(u) => applied.undo.extend(u),
            Err(e) => {
                let _ = writeln!(out, "error: {e}");
                applied.rollback(out);
                return Err(e);
            }
        }
    }
    Ok(applied)
}

fn describe_undo(u: &Undo) -> String {
    match u {
        Undo::DeleteUser(n) => format!("delete user {n}"),
        Undo::DeleteGroup(g) => format!("delete group {g}"),
        Undo::RemoveDir(p) => format!("remove {}", p.display()),
        Undo::Restore { path, old: Some(_) } => format!("restore the previous {}", path.display()),
        Undo::Restore { path, old: None } => format!("remove {}", path.display()),
        Undo::Run(cmds) => cmds
            .iter()
            .map(|c| format!("run {c}"))
            .collect::<Vec<_>>()
            .join("; "),
    }
}

fn apply_one(step: &Step, backend: &dyn Backend, name: &str) -> Result<Option<Undo>, String> {
    match step {
        Step::CreateGroup(g) => {
            create_group(g)?;
            Ok(Some(Undo::DeleteGroup(g.clone())))
        }
        Step::CreateUser { name: u, group } => {
            create_user(u, group)?;
            Ok(Some(Undo::DeleteUser(u.clone())))
        }
        Step::CreateDir { path, owner, mode } => {
            let existed = path.exists();
            std::fs::create_dir_all(path)
                .map_err(|e| format!("cannot create {}: {e}", path.display()))?;
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(*mode))
                .map_err(|e| format!("cannot chmod {}: {e}", path.display()))?;
            if let Some((u, g)) = owner {
                chown(path, u, Some(g))?;
            }
            Ok((!existed).then(|| Undo::RemoveDir(path.clone())))
        }
        Step::CopyBinary { from, to } => {
            let old = std::fs::read(to).ok().map(|b| (b, 0o755));
            let tmp = to.with_extension("tend-new");
            std::fs::copy(from, &tmp)
                .map_err(|e| format!("cannot copy {} to {}: {e}", from.display(), tmp.display()))?;
            std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o755))
                .map_err(|e| e.to_string())?;
            std::fs::rename(&tmp, to)
                .map_err(|e| format!("cannot install {}: {e}", to.display()))?;
            Ok(Some(Undo::Restore {
                path: to.clone(),
                old,
            }))
        }
        Step::WriteFile { artifact, group } => {
            let old = std::fs::read(&artifact.path).ok().map(|b| {
                (
                    b,
                    std::fs::metadata(&artifact.path)
                        .map(|m| m.mode() & 0o7777)
                        .unwrap_or(0o644),
                )
            });
            if let Some(dir) = artifact.path.parent() {
                std::fs::create_dir_all(dir)
                    .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
            }
            crate::supervise::state::write_atomic(&artifact.path, artifact.content.as_bytes())
                .map_err(|e| format!("cannot write {}: {e}", artifact.path.display()))?;
            std::fs::set_permissions(
                &artifact.path,
                std::fs::Permissions::from_mode(artifact.mode),
            )
            .map_err(|e| e.to_string())?;
            if let Some(g) = group {
                chown(&artifact.path, "root", Some(g))?;
            }
            Ok(Some(Undo::Restore {
                path: artifact.path.clone(),
                old,
            }))
        }
        Step::Run(c) => {
            c.run()?;
            // Undoing an enable is a disable; other commands (reload) need no undo.
            let enables = backend.enable(name);
            Ok(enables
                .contains(c)
                .then(|| Undo::Run(backend.disable(name))))
        }
    }
}

fn run_undo(u: &Undo) -> Result<(), String> {
    match u {
        Undo::DeleteUser(n) => delete_user(n),
        Undo::DeleteGroup(g) => delete_group(g),
        Undo::RemoveDir(p) => {
            std::fs::remove_dir_all(p).map_err(|e| format!("{}: {e}", p.display()))
        }
        Undo::Restore {
            path,
            old: Some((bytes, mode)),
        } => {
            let owner = std::fs::metadata(path).ok().map(|m| (m.uid(), m.gid()));
            crate::supervise::state::write_atomic_as(path, bytes, *mode, owner)
                .map_err(|e| format!("{}: {e}", path.display()))
        }
        Undo::Restore { path, old: None } => {
            std::fs::remove_file(path).map_err(|e| format!("{}: {e}", path.display()))
        }
        Undo::Run(cmds) => {
            for c in cmds {
                let _ = c.run();
            }
            Ok(())
        }
    }
}

fn has(tool: &str) -> bool {
    ["/usr/sbin", "/sbin", "/usr/bin", "/bin"]
        .iter()
        .any(|d| Path::new(d).join(tool).exists())
}

/// Creates a system group.
pub fn create_group(g: &str) -> Result<(), String> {
    if has("groupadd") {
        Cmd::new("groupadd", &["--system", g]).run().map(drop)
    } else {
        Cmd::new("addgroup", &["-S", g]).run().map(drop)
    }
}

/// Creates a system user with no login shell and no home, in `group` (created with
/// the same name when it does not exist).
pub fn create_user(u: &str, group: &str) -> Result<(), String> {
    let nologin = ["/usr/sbin/nologin", "/sbin/nologin"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .unwrap_or("/bin/false");
    if has("useradd") {
        let mut args = vec![
            "--system",
            "--no-create-home",
            "--home-dir",
            "/nonexistent",
            "--shell",
            nologin,
        ];
        if group_exists(group) {
            args.extend(["--gid", group]);
        } else {
            args.push("--user-group");
        }
        args.push(u);
        Cmd::new("useradd", &args).run().map(drop)
    } else {
        if !group_exists(group) {
            create_group(group)?;
        }
        Cmd::new(
            "adduser",
            &["-S", "-D", "-H", "-s", nologin, "-G", group, u],
        )
        .run()
        .map(drop)
    }
}

/// Deletes a user.
pub fn delete_user(u: &str) -> Result<(), String> {
    if has("userdel") {
        Cmd::new("userdel", &[u]).run().map(drop)
    } else {
        Cmd::new("deluser", &[u]).run().map(drop)
    }
}

/// Deletes a group (if it still exists).
pub fn delete_group(g: &str) -> Result<(), String> {
    if !group_exists(g) {
        return Ok(());
    }
    if has("groupdel") {
        Cmd::new("groupdel", &[g]).run().map(drop)
    } else {
        Cmd::new("delgroup", &[g]).run().map(drop)
    }
}

fn chown(path: &Path, user: &str, group: Option<&str>) -> Result<(), String> {
    let c = sys::lookup_credentials(user, group)
        .map_err(|e| format!("cannot chown {}: {e}", path.display()))?;
    std::os::unix::fs::chown(path, Some(c.uid), Some(c.gid))
        .map_err(|e| format!("cannot chown {}: {e}", path.display()))
}

/// Plans the removal of an installed service: stop and disable, remove its files,
/// and with `purge` its state, logs and the account tend created.
pub fn plan_uninstall(
    spec: Option<&Spec>,
    name: &str,
    layout: &Layout,
    backend: &dyn Backend,
    purge: bool,
) -> Vec<UninstallStep> {
    let record = read_record(layout, name);
    let mut steps: Vec<UninstallStep> = backend
        .disable(name)
        .into_iter()
        .map(UninstallStep::Run)
        .collect();
    let mut files: Vec<PathBuf> = record.as_ref().map(|r| r.files.clone()).unwrap_or_default();
    if let Some(s) = spec {
        for a in backend.render(s, layout) {
            if !files.contains(&a.path) {
                files.push(a.path);
            }
        }
    }
    files.push(layout.spec_path(name));
    files.push(layout.record_path(name));
    for f in files {
        if f.exists() {
            steps.push(UninstallStep::Remove(f));
        }
    }
    steps.extend(backend.forget(name).into_iter().map(UninstallStep::Run));
    if purge {
        // tend's own directories, and others only if tend created them.
        let mut dirs = vec![layout.state_dir(name), layout.log_root.join(name)];
        if let Some(r) = &record {
            dirs.extend(r.created_dirs.iter().cloned());
        }
        for d in dirs {
            if d.exists()
                && !steps
                    .iter()
                    .any(|s| matches!(s, UninstallStep::RemoveTree(p) if *p == d))
            {
                steps.push(UninstallStep::RemoveTree(d));
            }
        }
        if let Some(u) = record
            .as_ref()
            .and_then(|r| r.created_user.clone())
            .filter(|u| user_exists(u))
        {
            steps.push(UninstallStep::DeleteUser(u));
        }
        if let Some(g) = record.as_ref().and_then(|r| r.created_group.clone()) {
            steps.push(UninstallStep::DeleteGroup(g));
        }
    }
    steps
}

/// One uninstall step.
#[derive(Clone, Debug)]
pub enum UninstallStep {
    /// Run a command (failures are reported, not fatal: the service may be stopped).
    Run(Cmd),
    /// Remove a file.
    Remove(PathBuf),
    /// Remove a directory tree.
    RemoveTree(PathBuf),
    /// Delete the user tend created.
    DeleteUser(String),
    /// Delete the group tend created.
    DeleteGroup(String),
}

impl UninstallStep {
    /// One line for people.
    pub fn describe(&self) -> String {
        match self {
            UninstallStep::Run(c) => format!("run {c}"),
            UninstallStep::Remove(p) => format!("remove {}", p.display()),
            UninstallStep::RemoveTree(p) => format!("remove {} and everything in it", p.display()),
            UninstallStep::DeleteUser(u) => format!("delete user {u} (tend created it)"),
            UninstallStep::DeleteGroup(g) => format!("delete group {g} (tend created it)"),
        }
    }

    /// Does it; errors are returned for reporting.
    pub fn apply(&self) -> Result<(), String> {
        match self {
            UninstallStep::Run(c) => c.run().map(drop),
            UninstallStep::Remove(p) => {
                std::fs::remove_file(p).map_err(|e| format!("{}: {e}", p.display()))
            }
            UninstallStep::RemoveTree(p) => {
                std::fs::remove_dir_all(p).map_err(|e| format!("{}: {e}", p.display()))
            }
            UninstallStep::DeleteUser(u) => delete_user(u),
            UninstallStep::DeleteGroup(g) => delete_group(g),
        }
    }
}

/// Starts (or restarts) the service and waits until its supervisor reports the
/// program running, or fails with what the state file and the manager say.
pub fn start_and_wait(
    backend: &dyn Backend,
    name: &str,
    layout: &Layout,
    verb: Verb,
    timeout: std::time::Duration,
) -> Result<crate::supervise::state::Status, String> {
    let state_file = crate::supervise::state::state_path(&layout.state_dir(name), name);
    let before = crate::supervise::state::read_one(&state_file).ok();
    if verb == Verb::Start {
        if let Some(s) = before.as_ref().filter(|s| {
            s.state == crate::supervise::state::State::Running
                && sys::alive(s.supervisor_pid as i32)
        }) {
            // Already running: starting it is a no-op, and nothing new will be reported.
            return Ok(s.clone());
        }
    }
    backend.control(name, verb).run()?;
    let deadline = std::time::Instant::now() + timeout;
    loop {
        if let Ok(s) = crate::supervise::state::read_one(&state_file) {
            let fresh = before
                .as_ref()
                .is_none_or(|b| b.supervisor_pid != s.supervisor_pid || b.since_ms != s.since_ms);
            if fresh
                && s.state == crate::supervise::state::State::Running
                && sys::alive(s.supervisor_pid as i32)
            {
                return Ok(s);
            }
            if fresh && s.state == crate::supervise::state::State::Failed {
                return Err(format!(
                    "`{name}` failed to start: {}",
                    s.message.unwrap_or_default()
                ));
            }
        }
        if std::time::Instant::now() > deadline {
            let native = backend.query(name).map(|n| n.active).unwrap_or_else(|e| e);
            return Err(format!("`{name}` did not report running within {}s (service manager says: {native}); see `tend logs {name}`", timeout.as_secs()));
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tend_is_copied_from_places_a_unit_hides_or_others_can_change() {
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("tend");
        std::fs::write(&bin, b"x").unwrap();
        assert_eq!(
            tend_location(&bin),
            (PathBuf::from("/usr/local/bin/tend"), true),
            "under /tmp"
        );
        // /bin/sh is root-owned, not writable by others, all the way up.
        let sh = Path::new("/bin/sh").canonicalize().unwrap();
        if sh.metadata().unwrap().uid() == 0 {
            assert_eq!(tend_location(&sh), (sh.clone(), false));
        }
    }

    #[test]
    fn reachability_from_permission_bits() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("secret.env");
        std::fs::write(&f, b"A=1").unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o600)).unwrap();
        let me = std::fs::metadata(&f).unwrap();
        assert!(
            reachable_by(&f, Some(me.uid()), Some(me.gid()), 4),
            "its owner"
        );
        assert!(!reachable_by(&f, Some(4242), Some(4242), 4), "a stranger");
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o640)).unwrap();
        assert!(reachable_by(&f, Some(4242), Some(me.gid()), 4), "its group");
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
        assert!(
            !reachable_by(&f, Some(4242), Some(me.gid()), 4),
            "the folder above is closed"
        );
    }

    #[test]
    fn normalize_is_lexical() {
        assert_eq!(
            normalize(Path::new("/a/b/../c/./d")),
            PathBuf::from("/a/c/d")
        );
        assert_eq!(
            normalize(Path::new("/work/x/../../target/t")),
            PathBuf::from("/target/t")
        );
    }
}
