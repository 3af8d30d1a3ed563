//! Installing and uninstalling through the Unix backends (systemd, OpenRC, launchd,
//! SysV, procd; Windows has its own steps in [`super::windows`]): plan the steps by comparing
//! what should be with what is (so a second identical install has no steps), print
//! them for `--dry-run`, apply them, and undo what was done if a step fails.
//!
//! What tend may touch is decided first ([`ownership`]): an install refuses a unit,
//! script or plist it did not write and an existing account it did not create unless
//! the spec names it. What tend is about to create is recorded before it is created:
//! the first step writes the install record marked `pending`, naming the account,
//! folders and files; the last step rewrites it without the mark. An install killed
//! at any point (a power cut, SIGKILL) therefore leaves a record that tells the next
//! install what is tend's (it completes the install, re-running the enable commands)
//! and tells `uninstall --purge` what to remove. Uninstall removes the record last
//! for the same reason. A kill inside `useradd` can leave the account half made (in
//! `/etc/passwd` but not `/etc/shadow`, or without its group): the next install deletes
//! such an account, which the interrupted install's record names, and creates it again
//! with the same uid ([`ownership::half_made`]).

pub mod ownership;

use std::io::Write;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

pub use self::ownership::PlanError;
use self::ownership::{choose_account, foreign, observe, other_units, stale_temps};
use self::ownership::{half_made, parse_local_user};
use self::ownership::{Account, AccountFacts, HalfMade, LocalUser, OnDisk, Origin};
pub use super::record::{
    installed_spec, kept_path, normalize, read_kept, read_record, InstallRecord,
};
use super::{Artifact, Backend, Cmd, InstallError, Layout, Verb};
use crate::spec::Spec;
use crate::supervise::sys;

/// One change to the system.
#[derive(Clone, Debug)]
pub enum Step {
    /// Write the install record: first `pending` (what the install is about to create,
    /// before it creates anything), last finished.
    Record {
        /// The record file.
        artifact: Artifact,
        /// Whether this is the write-ahead one.
        pending: bool,
    },
    /// Create a system group.
    CreateGroup(String),
    /// Create a system user (no login shell, no home) in a group.
    CreateUser {
        /// User name.
        name: String,
        /// Its primary group (created alongside when missing).
        group: String,
    },
    /// Delete a user an interrupted install left half made and create it again, with
    /// the same uid (what it owns stays its), as [`Step::CreateUser`] does.
    RecreateUser {
        /// User name.
        name: String,
        /// Its primary group (created alongside when missing).
        group: String,
        /// Its uid, kept.
        uid: u32,
        /// What is missing.
        why: HalfMade,
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
    /// Remove a file of tend's that is no longer wanted.
    RemoveFile {
        /// The file.
        path: PathBuf,
        /// Why, for people.
        why: &'static str,
    },
    /// Run a command.
    Run(Cmd),
}

impl Step {
    /// The file this step writes (not the install record, tend's own bookkeeping).
    pub fn written(&self) -> Option<&Artifact> {
        match self {
            Step::WriteFile { artifact, .. } => Some(artifact),
            _ => None,
        }
    }

    /// One line for people; `full` adds file contents (for `--dry-run`).
    pub fn describe(&self, full: bool) -> String {
        let with_content = |mut s: String, artifact: &Artifact| {
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
        };
        match self {
            Step::Record {
                artifact,
                pending: true,
            } => with_content(
                format!(
                    "record what this install is about to create in {} (an interrupted install is completed by the next one, or removed by `uninstall --purge`)",
                    artifact.path.display()
                ),
                artifact,
            ),
            Step::Record {
                artifact,
                pending: false,
            } => format!("mark the install finished in {}", artifact.path.display()),
            Step::CreateGroup(g) => format!("create system group {g}"),
            Step::CreateUser { name, group } => {
                format!("create system user {name} (group {group}, no login shell, no home)")
            }
            Step::RecreateUser {
                name,
                group,
                uid,
                why,
            } => format!(
                "delete user {name} and create it again (uid {uid}, group {group}, no login shell, no home): an interrupted install left it half made ({why})"
            ),
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
            Step::WriteFile { artifact, .. } => with_content(
                format!(
                    "write {} (mode {:o})",
                    artifact.path.display(),
                    artifact.mode
                ),
                artifact,
            ),
            Step::RemoveFile { path, why } => format!("remove {} ({why})", path.display()),
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
    /// Whether the service was installed before (and that install finished).
    pub existed: bool,
    /// What the plan uses without creating it (an existing account the spec names),
    /// one line each: shown with the steps, and by `--dry-run`.
    pub notes: Vec<String>,
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

#[cfg(test)]
fn user_exists(name: &str) -> bool {
    sys::lookup_credentials(name, None).is_ok()
}

/// Whether group `name` exists; a lookup that failed is an error, not a "no".
fn group_exists(name: &str) -> Result<bool, InstallError> {
    match sys::lookup_group(name) {
        Ok(_) => Ok(true),
        Err(e) if e.is_missing() => Ok(false),
        Err(e) => Err(InstallError::Lookup {
            what: format!("group `{name}`"),
            reason: e.to_string(),
        }),
    }
}

/// What is at a path the install writes or checks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileFacts {
    /// What kind of thing, and whether a regular file carries tend's header.
    pub on_disk: OnDisk,
    /// A regular file's bytes.
    pub content: Option<Vec<u8>>,
    /// Its permission bits.
    pub mode: u32,
    /// Its owner.
    pub uid: u32,
    /// Its group.
    pub gid: u32,
    /// Whether it is a directory.
    pub is_dir: bool,
}

/// What the planner needs to know of the system, gathered by [`observe_system`] (all
/// the I/O of planning) so that [`plan`] is a pure function of the spec, the layout and
/// this. [`Observed::default`] is a machine where nothing is installed and no account
/// but root exists.
#[derive(Clone, Debug, Default)]
pub struct Observed {
    /// Why the program cannot be found, if it cannot.
    pub command_missing: Option<String>,
    /// The install record (finished or interrupted) and what an uninstall kept.
    pub record: Option<InstallRecord>,
    /// What an earlier uninstall kept.
    pub kept: Option<InstallRecord>,
    /// Every path looked at (files, folders); a path not here does not exist.
    pub paths: std::collections::BTreeMap<PathBuf, FileFacts>,
    /// Temporary files interrupted writes left, by the path written.
    pub stale: std::collections::BTreeMap<PathBuf, Vec<PathBuf>>,
    /// Users that exist, with their uid.
    pub users: std::collections::BTreeMap<String, u32>,
    /// Groups that exist, with their gid.
    pub groups: std::collections::BTreeMap<String, u32>,
    /// What the local account files say of the users that exist (those in
    /// `/etc/passwd`), to find one an interrupted `useradd` left half made.
    pub local_users: std::collections::BTreeMap<String, LocalUser>,
    /// Whether the tend binary in place is this one already.
    pub binary_current: bool,
}

impl Observed {
    /// The regular files that exist and could not be read (a dry run by a user who
    /// may not read them): the plan counts them as different, so rewritten.
    pub fn unreadable(&self) -> Vec<&Path> {
        self.paths
            .iter()
            .filter(|(_, f)| matches!(f.on_disk, OnDisk::File { .. }) && f.content.is_none())
            .map(|(p, _)| p.as_path())
            .collect()
    }
    fn file(&self, path: &Path) -> Option<&FileFacts> {
        self.paths.get(path)
    }
    fn exists(&self, path: &Path) -> bool {
        self.paths.contains_key(path)
    }
    fn stale(&self, path: &Path) -> Vec<PathBuf> {
        self.stale.get(path).cloned().unwrap_or_default()
    }
    fn on_disk(&self, path: &Path) -> OnDisk {
        self.file(path)
            .map_or(OnDisk::Missing, |f| f.on_disk.clone())
    }
    fn holds(&self, path: &Path, content: &[u8]) -> bool {
        self.file(path)
            .and_then(|f| f.content.as_deref())
            .is_some_and(|b| b == content)
    }
}

/// Looks at everything [`plan`] decides from: the records, the files the backend
/// writes (and, for systemd, other units of the same name), tend's folders, the
/// accounts involved and the binary.
pub fn observe_system(
    spec: &Spec,
    layout: &Layout,
    backend: &dyn Backend,
    copy_from: Option<&Path>,
    user_in_spec: bool,
) -> Result<Observed, PlanError> {
    let name = spec.name.as_str();
    let mut o = Observed::default();
    let path_var = spec
        .env
        .get("PATH")
        .map(std::ffi::OsString::from)
        .or_else(|| std::env::var_os("PATH"));
    let base = spec.working_dir.clone().unwrap_or_else(|| "/".into());
    o.command_missing = sys::resolve_command(&spec.command, &base, path_var.as_deref())
        .err()
        .map(|e| e.to_string());
    o.record = read_record(layout, name);
    o.kept = read_kept(layout, name);
    let spec_path = layout.spec_path(name);
    let mut paths = vec![
        spec_path.clone(),
        layout.record_path(name),
        kept_path(layout, name),
        layout.state_dir(name),
        layout.log_dir(spec),
        layout.tend_bin.clone(),
    ];
    for a in backend.render(spec, layout) {
        paths.extend(other_units(&a.path));
        paths.push(a.path);
    }
    for r in [&o.record, &o.kept].into_iter().flatten() {
        paths.extend(r.created_dirs.iter().cloned());
    }
    for p in paths {
        o.stale.insert(p.clone(), stale_temps(&p));
        let Ok(meta) = p.symlink_metadata() else {
            continue;
        };
        let on_disk = observe(&p, &spec_path);
        let content = matches!(on_disk, OnDisk::File { .. })
            .then(|| std::fs::read(&p).ok())
            .flatten();
        // Folders are judged by where they lead (a symlinked state folder is fine).
        let meta = if meta.file_type().is_symlink() {
            p.metadata().unwrap_or(meta)
        } else {
            meta
        };
        o.paths.insert(
            p,
            FileFacts {
                on_disk,
                content,
                mode: meta.mode() & 0o7777,
                uid: meta.uid(),
                gid: meta.gid(),
                is_dir: meta.is_dir(),
            },
        );
    }
    let u = if user_in_spec {
        spec.user.as_deref().unwrap_or(name)
    } else {
        name
    };
    let g = spec.group.as_deref().unwrap_or(u);
    let mut users = vec![u.to_string()];
    let mut groups = vec![g.to_string()];
    for r in [&o.record, &o.kept].into_iter().flatten() {
        users.extend(r.created_user.clone());
        groups.extend(r.created_group.clone());
    }
    // A lookup that failed (not a missing name) must not read as "create it": that
    // would shadow a directory account with a local one.
    let failed = |e: sys::LookupError| PlanError::Accounts {
        name: name.to_string(),
        reason: e.to_string(),
    };
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    // Unreadable (a dry run by a user): no line is known to be missing.
    let shadow = std::fs::read_to_string("/etc/shadow").ok();
    for u in users {
        match sys::lookup_credentials(&u, None) {
            Ok(c) => {
                if let Some((uid, gid, no_shadow)) =
                    parse_local_user(&u, &passwd, shadow.as_deref())
                {
                    let gid_group = nix::unistd::Group::from_gid(nix::unistd::Gid::from_raw(gid))
                        .map_err(|e| PlanError::Accounts {
                            name: name.to_string(),
                            reason: format!("cannot look up gid {gid}: {e}"),
                        })?
                        .map(|g| g.name);
                    o.local_users.insert(
                        u.clone(),
                        LocalUser {
                            uid,
                            gid,
                            gid_group,
                            no_shadow,
                        },
                    );
                }
                o.users.insert(u, c.uid);
            }
            Err(e) if e.is_missing() => {}
            Err(e) => return Err(failed(e)),
        }
    }
    for g in groups {
        match sys::lookup_group(&g) {
            Ok(gid) => {
                o.groups.insert(g, gid);
            }
            Err(e) if e.is_missing() => {}
            Err(e) => return Err(failed(e)),
        }
    }
    o.binary_current =
        copy_from.is_none_or(|from| super::record::same_content(from, &layout.tend_bin));
    Ok(o)
}

/// What tend created for `name` before, as far as its records say: the install record
/// (finished or interrupted), and what an uninstall without `--purge` kept.
fn created_before(previous: Option<&InstallRecord>, kept: Option<&InstallRecord>) -> InstallRecord {
    let mut out = InstallRecord::default();
    for r in [previous, kept].into_iter().flatten() {
        out.created_user = out.created_user.or_else(|| r.created_user.clone());
        out.created_group = out.created_group.or_else(|| r.created_group.clone());
        for d in &r.created_dirs {
            if !out.created_dirs.contains(d) {
                out.created_dirs.push(d.clone());
            }
        }
    }
    out
}

/// Whether `dir` is a directory with mode 0750 owned by `owner`'s user (any owner when
/// the service runs as root).
fn dir_ok(o: &Observed, dir: &Path, owner: Option<&(String, String)>) -> bool {
    o.file(dir).is_some_and(|m| {
        m.is_dir
            && m.mode == 0o750
            && match owner {
                Some((u, _)) => o.users.get(u) == Some(&m.uid),
                None => true,
            }
    })
}

/// Refuses when a file the backend would write, or (systemd) a unit of the same name
/// elsewhere, is not tend's.
fn check_files(name: &str, artifacts: &[Artifact], o: &Observed) -> Result<(), PlanError> {
    let previous = o.record.as_ref();
    for a in artifacts {
        // A pending record names files before they are written: it vouches for one only
        // if it holds what this install writes anyway (tend's header vouches for the
        // rest, see `foreign`).
        let in_record = previous.is_some_and(|r| {
            r.files.contains(&a.path) && (!r.pending || o.holds(&a.path, a.content.as_bytes()))
        });
        if let Some(what) = foreign(&o.on_disk(&a.path), in_record) {
            return Err(PlanError::ForeignFile {
                name: name.into(),
                path: a.path.clone(),
                what,
            });
        }
        if let Some(other) = other_units(&a.path).into_iter().find(|p| o.exists(p)) {
            return Err(PlanError::ShadowsUnit {
                name: name.into(),
                unit: a.path.clone(),
                other,
            });
        }
    }
    Ok(())
}

/// Plans the install of `spec` (already in installed form) on this machine: observes
/// it ([`observe_system`]), then [`plan`]s. `user_in_spec` says whether the spec
/// itself sets `user` (else the installed form names the account after the service,
/// which tend must create, or own already).
pub fn plan_install(
    spec: &Spec,
    spec_text: &str,
    layout: &Layout,
    backend: &dyn Backend,
    copy_from: Option<&Path>,
    user_in_spec: bool,
) -> Result<Plan, PlanError> {
    let observed = observe_system(spec, layout, backend, copy_from, user_in_spec)?;
    plan(
        spec,
        spec_text,
        layout,
        backend,
        &observed,
        copy_from,
        user_in_spec,
    )
}

/// Plans the install of `spec` (already in installed form) from what was observed:
/// a pure function, so a plan can be shown for any machine state (`--dry-run` on a
/// machine without this service manager, snapshot tests).
pub fn plan(
    spec: &Spec,
    spec_text: &str,
    layout: &Layout,
    backend: &dyn Backend,
    o: &Observed,
    copy_from: Option<&Path>,
    user_in_spec: bool,
) -> Result<Plan, PlanError> {
    let name = spec.name.as_str();
    // Fail before touching anything when the program is missing.
    if let Some(reason) = &o.command_missing {
        return Err(PlanError::Command {
            name: name.into(),
            reason: reason.clone(),
        });
    }

    let previous = o.record.clone();
    let kept = o.kept.clone();
    let pending_before = previous.as_ref().is_some_and(|r| r.pending);
    let existed = previous.is_some() && !pending_before && o.exists(&layout.spec_path(name));
    let artifacts = backend.render(spec, layout);
    check_files(name, &artifacts, o)?;

    // The account: decided from the spec and what exists, before anything changes.
    let before = created_before(previous.as_ref(), kept.as_ref());
    let spec_user = if user_in_spec {
        spec.user.as_deref()
    } else {
        None
    };
    let u = spec_user.unwrap_or(name);
    let g = spec.group.as_deref().unwrap_or(u);
    let account = choose_account(
        name,
        spec_user,
        spec.group.as_deref(),
        &AccountFacts {
            uid: o.users.get(u).copied(),
            group_exists: o.groups.contains_key(g),
            created_user: before.created_user.clone(),
            created_group: before.created_group.clone(),
        },
    )?;

    let (tends_user, tends_group) = account.tends();
    let mut record = InstallRecord {
        backend: backend.name().into(),
        tend_bin: layout.tend_bin.clone(),
        // What tend created before stays tend's, as long as it still exists.
        created_user: tends_user.or(before.created_user.filter(|u| o.users.contains_key(u))),
        created_group: tends_group.or(before.created_group.filter(|g| o.groups.contains_key(g))),
        created_dirs: before
            .created_dirs
            .into_iter()
            .filter(|d| o.exists(d))
            .collect(),
        ..Default::default()
    };
    // An account the interrupted install was creating, which `useradd` left half made.
    let repair = match &account {
        Account::User { user, .. } => o.local_users.get(user).and_then(|local| {
            half_made(&account, pending_before, Some(local)).map(|why| (local.uid, why))
        }),
        Account::Root => None,
    };
    // Its group may come back with another gid: the folders and the spec are owned anew.
    let reown = repair.is_some();
    let (mut steps, owner) = account_steps(&account, repair);
    // A custom log.dir may be shared (`/var/log`): create it if missing, never take
    // over one that exists (unless tend created it: then finish it if an interrupted
    // install left it half made).
    if let Some(custom) = &spec.log.dir {
        let tends = record.created_dirs.contains(custom);
        if !o.exists(custom) || (tends && (reown || !dir_ok(o, custom, owner.as_ref()))) {
            steps.push(Step::CreateDir {
                path: custom.clone(),
                owner: owner.clone(),
                mode: 0o750,
            });
            if !tends {
                record.created_dirs.push(custom.clone());
            }
        }
    }
    let own_dirs = [
        Some(layout.state_dir(name)),
        spec.log.dir.is_none().then(|| layout.log_dir(spec)),
    ];
    for dir in own_dirs.into_iter().flatten() {
        if reown || !dir_ok(o, &dir, owner.as_ref()) {
            steps.push(Step::CreateDir {
                path: dir,
                owner: owner.clone(),
                mode: 0o750,
            });
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
    let group = owner.as_ref().map(|(_, g)| g.clone());
    let mut changes_service = false;
    let spec_file = Artifact {
        path: layout.spec_path(name),
        content: spec_text.to_string(),
        mode: 0o640,
    };
    let mut files = vec![(spec_file, group)];
    for a in artifacts {
        record.files.push(a.path.clone());
        files.push((a, None));
    }
    for (artifact, group) in files {
        steps.extend(remove_stale(o, &artifact.path));
        if file_differs(o, &artifact, group.as_deref()) || (reown && group.is_some()) {
            changes_service = true;
            steps.push(Step::WriteFile { artifact, group });
        }
    }
    // A first install, a changed one, or one an interruption may have left before its
    // enable commands ran.
    if changes_service || !existed {
        steps.extend(backend.enable(name).into_iter().map(Step::Run));
    }

    let steps = around_record(steps, &record, kept.is_some(), layout, name, o);
    Ok(Plan {
        steps,
        record,
        changes_service,
        existed,
        notes: account.notes(),
    })
}

/// What interrupted writes of `name`'s installed spec, install record or kept record
/// left in tend's folder (an install killed while writing its first record leaves
/// only this).
pub fn stale_files(layout: &Layout, name: &str) -> Vec<PathBuf> {
    [
        layout.spec_path(name),
        layout.record_path(name),
        kept_path(layout, name),
    ]
    .iter()
    .flat_map(|p| stale_temps(p))
    .collect()
}

/// The steps creating the account (the group first when `useradd --user-group` will
/// not create it alongside), or creating again a user left half made (`repair`: its
/// uid and what is missing), and who then owns the service's folders.
fn account_steps(
    account: &Account,
    repair: Option<(u32, HalfMade)>,
) -> (Vec<Step>, Option<(String, String)>) {
    let mut steps = Vec::new();
    let Account::User {
        user,
        user_origin,
        group,
        group_origin,
    } = account
    else {
        return (steps, None);
    };
    let creates_user = *user_origin == Origin::Create || repair.is_some();
    if *group_origin == Origin::Create && !(creates_user && group == user) {
        steps.push(Step::CreateGroup(group.clone()));
    }
    if let Some((uid, why)) = repair {
        steps.push(Step::RecreateUser {
            name: user.clone(),
            group: group.clone(),
            uid,
            why,
        });
    } else if *user_origin == Origin::Create {
        steps.push(Step::CreateUser {
            name: user.clone(),
            group: group.clone(),
        });
    }
    (steps, Some((user.clone(), group.clone())))
}

/// `steps` with the install record around them: written first marked pending (the
/// write-ahead record: everything the steps create is named before any of it exists),
/// then the kept record of an earlier uninstall removed (the install record holds it
/// now), and last the record without the mark. With no other steps, only a record
/// that differs is rewritten.
fn around_record(
    mut steps: Vec<Step>,
    record: &InstallRecord,
    kept: bool,
    layout: &Layout,
    name: &str,
    o: &Observed,
) -> Vec<Step> {
    let record_path = layout.record_path(name);
    let kept_file = kept_path(layout, name);
    steps.extend(remove_stale(o, &record_path));
    steps.extend(remove_stale(o, &kept_file));
    let finished = Artifact {
        path: record_path,
        content: record.to_json(),
        mode: 0o644,
    };
    if steps.is_empty() && !kept {
        return if file_differs(o, &finished, None) {
            vec![Step::Record {
                artifact: finished,
                pending: false,
            }]
        } else {
            Vec::new()
        };
    }
    let intent = InstallRecord {
        pending: true,
        ..record.clone()
    };
    let mut all = vec![Step::Record {
        artifact: Artifact {
            content: intent.to_json(),
            ..finished.clone()
        },
        pending: true,
    }];
    if kept {
        all.push(Step::RemoveFile {
            path: kept_file,
            why: "what the last uninstall kept is in the install record now",
        });
    }
    all.extend(steps);
    all.push(Step::Record {
        artifact: finished,
        pending: false,
    });
    all
}

/// Steps removing what interrupted atomic writes of `path` left.
fn remove_stale(o: &Observed, path: &Path) -> Vec<Step> {
    o.stale(path)
        .into_iter()
        .map(|path| Step::RemoveFile {
            path,
            why: "left by an interrupted write",
        })
        .collect()
}

/// Whether `a` differs from what is on disk: content, mode, or group (when given).
fn file_differs(o: &Observed, a: &Artifact, group: Option<&str>) -> bool {
    match o.file(&a.path) {
        Some(f) => {
            f.content.as_deref() != Some(a.content.as_bytes())
                || f.mode != a.mode
                || group.is_some_and(|g| o.groups.get(g) != Some(&f.gid))
        }
        None => true,
    }
}

/// How to undo one applied step.
pub enum Undo {
    /// Delete the user the step created.
    DeleteUser(String),
    /// Delete the group the step created.
    DeleteGroup(String),
    /// Remove the directory the step created.
    RemoveDir(PathBuf),
    /// Put a file back as it was (bytes and mode), or remove it (`None`).
    Restore {
        /// The file.
        path: PathBuf,
        /// What it held before.
        old: Option<(Vec<u8>, u32)>,
    },
    /// Put back the install record as it was: skipped when an undo after it failed,
    /// so the record (pending) still names what is left for a later install or
    /// `--purge` to finish.
    Record(Box<Undo>),
    /// Run commands (failures ignored: the manager may not know the unit any more).
    Run(Vec<Cmd>),
}

/// Applies the Unix steps for one service of one backend.
pub struct UnixApply<'a> {
    backend: &'a dyn Backend,
    name: String,
}

/// What an apply did, so it can be undone.
pub type Applied<'a> = super::engine::Applied<UnixApply<'a>>;

impl<'a> UnixApply<'a> {
    /// The applier of `name`'s steps through `backend`.
    pub fn new(backend: &'a dyn Backend, name: &str) -> UnixApply<'a> {
        UnixApply {
            backend,
            name: name.to_string(),
        }
    }
}

impl super::engine::Apply for UnixApply<'_> {
    type Step = Step;
    type Undo = Undo;
    fn describe(&self, step: &Step) -> String {
        step.describe(false)
    }
    fn apply(&mut self, step: &Step, undo: &mut Vec<Undo>) -> Result<(), InstallError> {
        apply_one(step, self.backend, &self.name).map(|u| undo.extend(u))
    }
    fn describe_undo(&self, undo: &Undo) -> String {
        describe_undo(undo)
    }
    fn undo(&mut self, undo: &Undo) -> Result<(), InstallError> {
        run_undo(undo)
    }
    /// If an undo fails (`userdel` refuses while a process still runs as the user),
    /// the install record is not put back: it stays pending and names what is left,
    /// so the next install or `--purge` finishes the job instead of finding an account
    /// that nothing says is tend's.
    fn keep_after_failure(&self, undo: &Undo) -> Option<String> {
        match undo {
            Undo::Record(inner) => Some(format!(
                "keep the install record (an undo failed): `tend install` again or `tend uninstall {} --purge` finishes from it (instead of: {})",
                self.name,
                describe_undo(inner)
            )),
            _ => None,
        }
    }
}

/// Applies `steps`, printing each; on failure undoes the applied ones in reverse and
/// returns the error.
pub fn apply<'a>(
    steps: &[Step],
    backend: &'a dyn Backend,
    name: &str,
    out: &mut dyn Write,
) -> Result<Applied<'a>, InstallError> {
    // Runs last on rollback: the manager forgets the removed unit.
    super::engine::apply(
        UnixApply::new(backend, name),
        vec![Undo::Run(backend.forget(name))],
        steps,
        out,
    )
}

fn describe_undo(u: &Undo) -> String {
    match u {
        Undo::DeleteUser(n) => format!("delete user {n}"),
        Undo::DeleteGroup(g) => format!("delete group {g}"),
        Undo::RemoveDir(p) => format!("remove {}", p.display()),
        Undo::Restore { path, old: Some(_) } => format!("restore the previous {}", path.display()),
        Undo::Restore { path, old: None } => format!("remove {}", path.display()),
        Undo::Record(inner) => describe_undo(inner),
        Undo::Run(cmds) => cmds
            .iter()
            .map(|c| format!("run {c}"))
            .collect::<Vec<_>>()
            .join("; "),
    }
}

fn apply_one(step: &Step, backend: &dyn Backend, name: &str) -> Result<Option<Undo>, InstallError> {
    let io = |op, path: &Path| {
        let path = path.to_path_buf();
        move |source| InstallError::io(op, path, source)
    };
    match step {
        Step::CreateGroup(g) => {
            create_group(g)?;
            Ok(Some(Undo::DeleteGroup(g.clone())))
        }
        Step::CreateUser { name: u, group } => {
            create_user(u, group, None)?;
            Ok(Some(Undo::DeleteUser(u.clone())))
        }
        Step::RecreateUser {
            name: u,
            group,
            uid,
            ..
        } => {
            // (the half-made account is not put back if the creation fails: the
            // record still names the user, so the next install creates it)
            delete_user(u)?;
            create_user(u, group, Some(*uid))?;
            Ok(Some(Undo::DeleteUser(u.clone())))
        }
        Step::CreateDir { path, owner, mode } => {
            let existed = path.exists();
            std::fs::create_dir_all(path).map_err(io("create", path))?;
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(*mode))
                .map_err(io("chmod", path))?;
            if let Some((u, g)) = owner {
                chown(path, u, Some(g))?;
            }
            Ok((!existed).then(|| Undo::RemoveDir(path.clone())))
        }
        Step::CopyBinary { from, to } => {
            let old = std::fs::read(to).ok().map(|b| (b, 0o755));
            let tmp = to.with_extension("tend-new");
            std::fs::copy(from, &tmp).map_err(io("copy tend to", &tmp))?;
            std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o755))
                .map_err(io("chmod", &tmp))?;
            std::fs::rename(&tmp, to).map_err(io("install", to))?;
            Ok(Some(Undo::Restore {
                path: to.clone(),
                old,
            }))
        }
        Step::Record { artifact, .. } => {
            Ok(write_file(artifact, None)?.map(|u| Undo::Record(Box::new(u))))
        }
        Step::WriteFile { artifact, group } => write_file(artifact, group.as_deref()),
        Step::RemoveFile { path, .. } => {
            let old = read_old(path);
            std::fs::remove_file(path).map_err(io("remove", path))?;
            Ok(Some(Undo::Restore {
                path: path.clone(),
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

/// A file's bytes and mode, to restore it.
fn read_old(path: &Path) -> Option<(Vec<u8>, u32)> {
    let bytes = std::fs::read(path).ok()?;
    let mode = std::fs::metadata(path).map_or(0o644, |m| m.mode() & 0o7777);
    Some((bytes, mode))
}

/// Writes `artifact` atomically, root-owned with `group` (if any) as its group: its
/// content, mode and owner appear at once.
fn write_file(artifact: &Artifact, group: Option<&str>) -> Result<Option<Undo>, InstallError> {
    let path = &artifact.path;
    let old = read_old(path);
    let owner = match group {
        Some(g) => Some((
            0,
            sys::lookup_group(g).map_err(|reason| InstallError::Lookup {
                what: format!("group {g} (the group of {})", path.display()),
                reason: reason.to_string(),
            })?,
        )),
        None => None,
    };
    crate::supervise::state::write_atomic_as(
        path,
        artifact.content.as_bytes(),
        artifact.mode,
        owner,
    )
    .map_err(|e| InstallError::io("write", path, e))?;
    Ok(Some(Undo::Restore {
        path: path.clone(),
        old,
    }))
}

fn run_undo(u: &Undo) -> Result<(), InstallError> {
    match u {
        Undo::DeleteUser(n) => delete_user(n),
        Undo::DeleteGroup(g) => delete_group(g),
        Undo::RemoveDir(p) => {
            std::fs::remove_dir_all(p).map_err(|e| InstallError::io("remove", p, e))
        }
        Undo::Restore {
            path,
            old: Some((bytes, mode)),
        } => {
            let owner = std::fs::metadata(path).ok().map(|m| (m.uid(), m.gid()));
            crate::supervise::state::write_atomic_as(path, bytes, *mode, owner)
                .map_err(|e| InstallError::io("restore", path, e))
        }
        Undo::Restore { path, old: None } => {
            std::fs::remove_file(path).map_err(|e| InstallError::io("remove", path, e))
        }
        Undo::Record(inner) => run_undo(inner),
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
pub fn create_group(g: &str) -> Result<(), InstallError> {
    if has("groupadd") {
        Cmd::new("groupadd", &["--system", g]).run().map(drop)
    } else {
        Cmd::new("addgroup", &["-S", g]).run().map(drop)
    }
}

/// Creates a system user with no login shell and no home, in `group` (created with
/// the same name when it does not exist), with `uid` if given.
pub fn create_user(u: &str, group: &str, uid: Option<u32>) -> Result<(), InstallError> {
    let uid = uid.map(|n| n.to_string());
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
        if group_exists(group)? {
            args.extend(["--gid", group]);
        } else {
            args.push("--user-group");
        }
        if let Some(uid) = &uid {
            args.extend(["--uid", uid]);
        }
        args.push(u);
        Cmd::new("useradd", &args).run().map(drop)
    } else {
        if !group_exists(group)? {
            create_group(group)?;
        }
        let mut args = vec!["-S", "-D", "-H", "-s", nologin, "-G", group];
        if let Some(uid) = &uid {
            args.extend(["-u", uid]);
        }
        args.push(u);
        Cmd::new("adduser", &args).run().map(drop)
    }
}

/// Deletes a user.
pub fn delete_user(u: &str) -> Result<(), InstallError> {
    if has("userdel") {
        Cmd::new("userdel", &[u]).run().map(drop)
    } else {
        Cmd::new("deluser", &[u]).run().map(drop)
    }
}

/// Deletes a group (if it still exists).
pub fn delete_group(g: &str) -> Result<(), InstallError> {
    if !group_exists(g)? {
        return Ok(());
    }
    if has("groupdel") {
        Cmd::new("groupdel", &[g]).run().map(drop)
    } else {
        Cmd::new("delgroup", &[g]).run().map(drop)
    }
}

fn chown(path: &Path, user: &str, group: Option<&str>) -> Result<(), InstallError> {
    let c = sys::lookup_credentials(user, group).map_err(|reason| InstallError::Lookup {
        what: format!("user {user} (the owner of {})", path.display()),
        reason: reason.to_string(),
    })?;
    std::os::unix::fs::chown(path, Some(c.uid), Some(c.gid))
        .map_err(|e| InstallError::io("chown", path, e))
}

/// Plans the removal of an installed service: stop and disable, remove its files,
/// and with `purge` its state, logs and the account tend created. Without `purge`,
/// what tend created and leaves in place (the account, the state and logs) is kept in
/// [`kept_path`], for a later install to take back or a later `--purge` to remove.
/// The install record goes last, so that an interrupted uninstall can be run again.
/// A unit, script or plist that is not tend's (see [`ownership::foreign`]) is left
/// alone, and so is the service of that name: it is not disabled.
pub fn plan_uninstall(
    spec: Option<&Spec>,
    name: &str,
    layout: &Layout,
    backend: &dyn Backend,
    purge: bool,
) -> Vec<UninstallStep> {
    let record = read_record(layout, name);
    let kept = read_kept(layout, name);
    let spec_path = layout.spec_path(name);
    let record_path = layout.record_path(name);
    let kept_file = kept_path(layout, name);
    let recorded: Vec<PathBuf> = record.as_ref().map(|r| r.files.clone()).unwrap_or_default();
    let rendered = spec.map(|s| backend.render(s, layout)).unwrap_or_default();
    let mut files = recorded.clone();
    for a in &rendered {
        if !files.contains(&a.path) {
            files.push(a.path.clone());
        }
    }
    // A pending record names files before they are written: it vouches for one only if
    // it holds what the installed spec renders (tend's header vouches for the rest).
    let pending = record.as_ref().is_some_and(|r| r.pending);
    let vouched = |f: &PathBuf| {
        recorded.contains(f)
            && (!pending
                || rendered.iter().any(|a| {
                    a.path == *f && std::fs::read(f).is_ok_and(|b| b == a.content.as_bytes())
                }))
    };
    let mut removals = Vec::new();
    let mut foreign_unit = false;
    for f in &files {
        match foreign(&observe(f, &spec_path), vouched(f)) {
            Some(what) => {
                foreign_unit = true;
                removals.push(UninstallStep::Keep {
                    path: f.clone(),
                    why: what,
                });
            }
            None if f.symlink_metadata().is_ok() => removals.push(UninstallStep::Remove(f.clone())),
            None => {}
        }
    }
    let installed = record.is_some() || spec.is_some() || spec_path.exists();
    let manage = installed && !foreign_unit;
    let mut steps: Vec<UninstallStep> = Vec::new();
    if manage {
        steps.extend(backend.disable(name).into_iter().map(UninstallStep::Run));
    }
    steps.extend(removals);
    if manage {
        steps.extend(backend.forget(name).into_iter().map(UninstallStep::Run));
    }
    if spec_path.exists() {
        steps.push(UninstallStep::Remove(spec_path.clone()));
    }
    for f in files
        .iter()
        .chain([&spec_path, &record_path, &kept_file])
        .flat_map(|f| stale_temps(f))
    {
        steps.push(UninstallStep::Remove(f));
    }
    let created = created_before(record.as_ref(), kept.as_ref());
    if purge {
        // tend's own directories, and others only if tend created them.
        let mut dirs = vec![layout.state_dir(name), layout.log_root.join(name)];
        dirs.extend(created.created_dirs.iter().cloned());
        for d in dirs {
            if d.exists()
                && !steps
                    .iter()
                    .any(|s| matches!(s, UninstallStep::RemoveTree(p) if *p == d))
            {
                steps.push(UninstallStep::RemoveTree(d));
            }
        }
        // An account with uid 0 is never deleted, whatever a record says.
        if let Some(u) = created
            .created_user
            .clone()
            .filter(|u| sys::lookup_credentials(u, None).is_ok_and(|c| c.uid != 0))
        {
            steps.push(UninstallStep::DeleteUser(u));
        }
        if let Some(g) = created
            .created_group
            .clone()
            .filter(|g| sys::lookup_group(g).is_ok_and(|gid| gid != 0))
        {
            steps.push(UninstallStep::DeleteGroup(g));
        }
        if kept_file.exists() {
            steps.push(UninstallStep::Remove(kept_file));
        }
    } else if let Some(r) = &record {
        let mut keep = created_before(Some(r), kept.as_ref());
        keep.backend = r.backend.clone();
        keep.tend_bin = r.tend_bin.clone();
        steps.push(UninstallStep::Write(Artifact {
            path: kept_file,
            content: keep.to_json(),
            mode: 0o644,
        }));
    }
    if record.is_some() {
        steps.push(UninstallStep::Remove(record_path));
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
    /// Leave a file that is not tend's where it is (nothing to do; shown).
    Keep {
        /// The file.
        path: PathBuf,
        /// What it is.
        why: String,
    },
    /// Write a file (atomically).
    Write(Artifact),
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
            UninstallStep::Keep { path, why } => format!(
                "leave {} alone: tend did not write it ({why}); the service of that name is not tend's to stop",
                path.display()
            ),
            UninstallStep::Write(a) => format!(
                "write {} (what tend created for the service and leaves in place: a later install takes it back, `--purge` removes it)",
                a.path.display()
            ),
            UninstallStep::RemoveTree(p) => format!("remove {} and everything in it", p.display()),
            UninstallStep::DeleteUser(u) => format!("delete user {u} (tend created it)"),
            UninstallStep::DeleteGroup(g) => format!("delete group {g} (tend created it)"),
        }
    }

    /// Does it; errors are returned for reporting.
    pub fn apply(&self) -> Result<(), InstallError> {
        let io = |op, p: &Path| {
            let p = p.to_path_buf();
            move |e| InstallError::io(op, p, e)
        };
        match self {
            UninstallStep::Run(c) => c.run().map(drop),
            UninstallStep::Remove(p) => std::fs::remove_file(p).map_err(io("remove", p)),
            UninstallStep::Keep { .. } => Ok(()),
            UninstallStep::Write(a) => crate::supervise::state::write_atomic_as(
                &a.path,
                a.content.as_bytes(),
                a.mode,
                None,
            )
            .map_err(io("write", &a.path)),
            UninstallStep::RemoveTree(p) => std::fs::remove_dir_all(p).map_err(io("remove", p)),
            UninstallStep::DeleteUser(u) => delete_user(u),
            UninstallStep::DeleteGroup(g) => delete_group(g),
        }
    }
}

/// Starts (or restarts) the service and waits until its supervisor reports the
/// program running (with `[health]`: healthy), or fails with what the state file and
/// the manager say (the probe's last result).
pub fn start_and_wait(
    backend: &dyn Backend,
    name: &str,
    layout: &Layout,
    verb: Verb,
    timeout: std::time::Duration,
) -> Result<crate::supervise::state::Status, InstallError> {
    let state_file = crate::supervise::state::state_path(&layout.state_dir(name), name);
    let before = crate::supervise::state::read_one(&state_file).ok();
    if verb == Verb::Start {
        if let Some(s) = before
            .as_ref()
            .filter(|s| s.ready() && sys::alive(s.supervisor_pid as i32))
        {
            // Already running: starting it is a no-op, and nothing new will be reported.
            return Ok(s.clone());
        }
    }
    if let Err(e) = backend.control_no_wait(name, verb).run() {
        // A manager that waits for readiness (systemd) only says its job failed: the
        // supervisor's state says why.
        let why = crate::supervise::state::read_one(&state_file)
            .ok()
            .filter(|s| {
                before.as_ref().is_none_or(|b| {
                    b.supervisor_pid != s.supervisor_pid || b.since_ms != s.since_ms
                })
            })
            .and_then(|s| {
                s.start_outcome()
                    .and_then(Result::err)
                    .or_else(|| s.message.clone())
            });
        return Err(match why {
            Some(why) => InstallError::Start(format!("{e}\n  `{name}` {why}")),
            None => e,
        });
    }
    let mut last = None;
    let mut asked = std::time::Instant::now();
    super::engine::wait_for(timeout, std::time::Duration::from_millis(50), |late| {
        if let Ok(s) = crate::supervise::state::read_one(&state_file) {
            let fresh = before
                .as_ref()
                .is_none_or(|b| b.supervisor_pid != s.supervisor_pid || b.since_ms != s.since_ms);
            if fresh && sys::alive(s.supervisor_pid as i32) {
                match s.start_outcome() {
                    Some(Ok(())) => return Ok(Some(s)),
                    Some(Err(why)) => {
                        return Err(InstallError::Start(format!("`{name}` {why}")));
                    }
                    None => {}
                }
            }
            if fresh && s.state == crate::supervise::state::State::Failed {
                return Err(InstallError::Start(format!(
                    "`{name}` failed to start: {}",
                    s.message.unwrap_or_default()
                )));
            }
            if fresh {
                last = s.not_healthy_yet();
            }
        }
        // The manager gave up on it (systemd: its start job failed, or the supervisor
        // did not run): once a second, as asking costs a process.
        if asked.elapsed() >= std::time::Duration::from_secs(1) {
            asked = std::time::Instant::now();
            if backend.query(name).is_ok_and(|n| n.active == "failed") {
                let why = last.take().map(|w| format!(": {w}")).unwrap_or_default();
                return Err(InstallError::Start(format!(
                    "`{name}` failed to start (the service manager says: failed){why}; see `tend logs {name}`"
                )));
            }
        }
        if late {
            if let Some(why) = last.take() {
                return Err(InstallError::Start(format!(
                    "`{name}` is not healthy after {}s: {why}; see `tend logs {name}`",
                    timeout.as_secs()
                )));
            }
            let native = backend
                .query(name)
                .map_or_else(|e| e.to_string(), |n| n.active);
            return Err(InstallError::Start(format!("`{name}` did not report running within {}s (service manager says: {native}); see `tend logs {name}`", timeout.as_secs())));
        }
        Ok(None)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_that_exist_but_cannot_be_read_are_named() {
        let facts = |on_disk, content: Option<&[u8]>| FileFacts {
            on_disk,
            content: content.map(<[u8]>::to_vec),
            mode: 0o600,
            uid: 0,
            gid: 0,
            is_dir: false,
        };
        let mut o = Observed::default();
        for (path, f) in [
            (
                "/etc/tend/a.toml",
                facts(
                    OnDisk::File {
                        tends_header: false,
                    },
                    None,
                ),
            ),
            (
                "/etc/tend/b.toml",
                facts(
                    OnDisk::File {
                        tends_header: false,
                    },
                    Some(b"x"),
                ),
            ),
            ("/etc/tend/link", facts(OnDisk::Symlink("/x".into()), None)),
            ("/var/lib/tend/a", facts(OnDisk::Other, None)),
        ] {
            o.paths.insert(path.into(), f);
        }
        assert_eq!(o.unreadable(), [Path::new("/etc/tend/a.toml")]);
    }

    #[test]
    fn a_failed_undo_keeps_the_install_record_for_the_next_install() {
        let dir = tempfile::tempdir().unwrap();
        let record = dir.path().join("x.install.json");
        let rollback = |undo_fails: bool| {
            std::fs::write(&record, b"{\"pending\": true}").unwrap();
            let gone = dir.path().join("x-state");
            if !undo_fails {
                std::fs::create_dir_all(&gone).unwrap();
            }
            let fake = Fake {
                root: dir.path().into(),
            };
            let applied = Applied::new(
                UnixApply::new(&fake, "x"),
                vec![
                    Undo::Record(Box::new(Undo::Restore {
                        path: record.clone(),
                        old: None,
                    })),
                    // Fails when the folder is not there (as userdel fails while a
                    // process still runs as the user).
                    Undo::RemoveDir(gone),
                ],
            );
            let mut out = Vec::new();
            applied.rollback(&mut out);
            String::from_utf8(out).unwrap()
        };
        let said = rollback(true);
        assert!(record.exists(), "kept after a failed undo: {said}");
        assert!(said.contains("tend uninstall x --purge"), "{said}");
        let said = rollback(false);
        assert!(!record.exists(), "removed when every undo worked: {said}");
    }

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

    /// A backend whose unit goes under a temporary root: `enable` leaves a marker file
    /// that `disable` removes.
    struct Fake {
        root: PathBuf,
    }

    impl Fake {
        fn unit(&self, name: &str) -> PathBuf {
            self.root.join(format!("etc/systemd/system/{name}.service"))
        }
        fn marker(&self, name: &str) -> PathBuf {
            self.root.join(format!("{name}.enabled"))
        }
    }

    impl Backend for Fake {
        fn name(&self) -> &'static str {
            "systemd"
        }
        fn render(&self, spec: &Spec, layout: &Layout) -> Vec<Artifact> {
            let name = spec.name.as_str();
            vec![Artifact {
                path: self.unit(name),
                content: format!(
                    "# Written by tend from {}; `tend install` rewrites it.\n[Service]\nUser={}\n",
                    layout.spec_path(name).display(),
                    spec.user.as_deref().unwrap_or("")
                ),
                mode: 0o644,
            }]
        }
        fn enable(&self, name: &str) -> Vec<Cmd> {
            vec![Cmd::new(
                "touch",
                &[&self.marker(name).display().to_string()],
            )]
        }
        fn disable(&self, name: &str) -> Vec<Cmd> {
            vec![Cmd::new(
                "rm",
                &["-f", &self.marker(name).display().to_string()],
            )]
        }
        fn forget(&self, _name: &str) -> Vec<Cmd> {
            Vec::new()
        }
        fn control(&self, _name: &str, _verb: Verb) -> Cmd {
            Cmd::new("true", &[])
        }
        fn query(&self, _name: &str) -> Result<super::super::NativeStatus, InstallError> {
            Ok(Default::default())
        }
        fn can_apply(&self) -> bool {
            true
        }
    }

    /// A service installed under a temporary root.
    struct Fixture {
        dir: tempfile::TempDir,
        layout: Layout,
        backend: Fake,
        spec: Spec,
        text: String,
        user_in_spec: bool,
    }

    impl Fixture {
        fn new(toml: &str) -> Fixture {
            let dir = tempfile::tempdir().unwrap();
            let root = dir.path().to_path_buf();
            let layout = Layout {
                spec_dir: root.join("etc/tend"),
                state_root: root.join("var/lib/tend"),
                log_root: root.join("var/log/tend"),
                tend_bin: "/bin/sh".into(),
            };
            let loaded = crate::spec::load_str(
                &root.join("spec.toml"),
                toml,
                &crate::spec::LoadOptions::default(),
            )
            .unwrap();
            let spec = loaded.services[0].clone();
            let user_in_spec = spec.user.is_some();
            let spec = installed_spec(&spec, &root, &layout);
            let text = toml::to_string(&spec).unwrap();
            Fixture {
                dir,
                layout,
                backend: Fake { root },
                spec,
                text,
                user_in_spec,
            }
        }
        fn name(&self) -> &str {
            self.spec.name.as_str()
        }
        fn plan(&self) -> Result<Plan, PlanError> {
            plan_install(
                &self.spec,
                &self.text,
                &self.layout,
                &self.backend,
                None,
                self.user_in_spec,
            )
        }
        fn install(&self, steps: &[Step]) {
            apply(steps, &self.backend, self.name(), &mut std::io::sink()).unwrap();
        }
        fn uninstall(&self, purge: bool) -> Vec<UninstallStep> {
            plan_uninstall(
                Some(&self.spec),
                self.name(),
                &self.layout,
                &self.backend,
                purge,
            )
        }
        /// Every file and directory under the root, relative, sorted.
        fn tree(&self) -> Vec<String> {
            fn walk(dir: &Path, base: &Path, out: &mut Vec<String>) {
                for e in std::fs::read_dir(dir).unwrap() {
                    let p = e.unwrap().path();
                    let rel = p.strip_prefix(base).unwrap().display().to_string();
                    if p.symlink_metadata().unwrap().is_dir() {
                        out.push(format!("{rel}/"));
                        walk(&p, base, out);
                    } else {
                        out.push(rel);
                    }
                }
            }
            let mut out = Vec::new();
            walk(self.dir.path(), self.dir.path(), &mut out);
            out.sort();
            out
        }
    }

    const ROOT_WEB: &str = "name = \"web\"\ncommand = \"/bin/sh\"\nuser = \"root\"\n";

    fn foreign_file(r: Result<Plan, PlanError>) -> PathBuf {
        match r {
            Err(PlanError::ForeignFile { path, .. }) => path,
            other => panic!("want ForeignFile, got {other:?}"),
        }
    }

    #[test]
    fn a_unit_tend_did_not_write_is_refused_before_any_change() {
        // a symlink (an alias of another service's unit), even a dangling one
        let f = Fixture::new(ROOT_WEB);
        let unit = f.backend.unit("web");
        std::fs::create_dir_all(unit.parent().unwrap()).unwrap();
        std::os::unix::fs::symlink("/lib/systemd/system/systemd-timesyncd.service", &unit).unwrap();
        let before = f.tree();
        let e = f.plan();
        assert_eq!(foreign_file(e.clone()), unit);
        let msg = e.unwrap_err().to_string();
        assert!(
            msg.contains(&unit.display().to_string())
                && msg.contains("a symlink to /lib/systemd/system/systemd-timesyncd.service")
                && msg.contains("rename the service"),
            "{msg}"
        );
        assert_eq!(f.tree(), before, "planning changed nothing");

        // someone else's regular file
        let f = Fixture::new(ROOT_WEB);
        let unit = f.backend.unit("web");
        std::fs::create_dir_all(unit.parent().unwrap()).unwrap();
        std::fs::write(&unit, "[Service]\nExecStart=/usr/sbin/web\n").unwrap();
        assert_eq!(foreign_file(f.plan()), unit);

        // tend's header without a record (an install interrupted by an older tend): tend's
        let f = Fixture::new(ROOT_WEB);
        let unit = f.backend.unit("web");
        std::fs::create_dir_all(unit.parent().unwrap()).unwrap();
        std::fs::write(
            &unit,
            format!(
                "# Written by tend from {}; `tend install` rewrites it.\n[Service]\n",
                f.layout.spec_path("web").display()
            ),
        )
        .unwrap();
        let p = f.plan().unwrap();
        assert!(p
            .steps
            .iter()
            .any(|s| matches!(s, Step::WriteFile { artifact, .. } if artifact.path == unit)));

        // listed in the record (a hand-edited unit without the header): tend's
        let f = Fixture::new(ROOT_WEB);
        f.install(&f.plan().unwrap().steps);
        let unit = f.backend.unit("web");
        std::fs::write(&unit, "[Service]\n# edited by hand\n").unwrap();
        assert!(f.plan().is_ok());
        // ... but not once it is replaced by a symlink
        std::fs::remove_file(&unit).unwrap();
        std::os::unix::fs::symlink("/dev/null", &unit).unwrap();
        assert_eq!(foreign_file(f.plan()), unit);

        // a pending record (an install cut before it wrote the unit) names the unit's
        // path, but what someone else put there since is not tend's
        let f = Fixture::new(ROOT_WEB);
        let steps = f.plan().unwrap().steps;
        assert!(matches!(&steps[0], Step::Record { pending: true, .. }));
        f.install(&steps[..1]);
        let unit = f.backend.unit("web");
        std::fs::create_dir_all(unit.parent().unwrap()).unwrap();
        std::fs::write(&unit, "[Service]\nExecStart=/usr/sbin/web\n").unwrap();
        assert_eq!(foreign_file(f.plan()), unit);
        // ... whereas the very unit this install writes is
        let f = Fixture::new(ROOT_WEB);
        let steps = f.plan().unwrap().steps;
        f.install(&steps[..1]);
        let unit = f.backend.unit("web");
        let Some(Step::WriteFile { artifact, .. }) = steps
            .iter()
            .find(|s| matches!(s, Step::WriteFile { artifact, .. } if artifact.path == unit))
        else {
            panic!("the plan writes the unit: {steps:?}");
        };
        std::fs::create_dir_all(unit.parent().unwrap()).unwrap();
        std::fs::write(&unit, &artifact.content).unwrap();
        assert!(f.plan().is_ok());
    }

    #[test]
    fn a_vendor_unit_of_the_same_name_is_refused() {
        let f = Fixture::new(ROOT_WEB);
        let vendor = f.dir.path().join("lib/systemd/system/web.service");
        std::fs::create_dir_all(vendor.parent().unwrap()).unwrap();
        std::fs::write(&vendor, "[Service]\n").unwrap();
        match f.plan() {
            Err(PlanError::ShadowsUnit { other, unit, .. }) => {
                assert_eq!(other, vendor);
                assert_eq!(unit, f.backend.unit("web"));
            }
            other => panic!("want ShadowsUnit, got {other:?}"),
        }
    }

    /// A system account this machine has, for the account tests (Debian has them all).
    fn system_account() -> &'static str {
        ["daemon", "bin", "sys", "nobody"]
            .into_iter()
            .find(|u| user_exists(u) && group_exists(u).unwrap_or(false))
            .expect("a system account with a group of its name (daemon, bin, sys, nobody)")
    }

    #[test]
    fn an_existing_account_is_never_picked_implicitly() {
        let acct = system_account();
        let f = Fixture::new(&format!("name = \"{acct}\"\ncommand = \"/bin/sh\"\n"));
        match f.plan() {
            Err(e @ PlanError::ForeignUser { .. }) => assert!(
                e.to_string().contains(&format!(
                    "an account named `{acct}` already exists and tend did not create it: set `user = \"{acct}\"` in the spec to run as it, or rename the service"
                )),
                "{e}"
            ),
            other => panic!("want ForeignUser, got {other:?}"),
        }
        let f = Fixture::new("name = \"root\"\ncommand = \"/bin/sh\"\n");
        assert!(matches!(f.plan(), Err(PlanError::ImplicitRoot { .. })));

        // named in the spec: the operator's choice, shown, not recorded as tend's
        let f = Fixture::new(&format!(
            "name = \"web\"\ncommand = \"/bin/sh\"\nuser = \"{acct}\"\n"
        ));
        let p = f.plan().unwrap();
        assert!(
            p.notes
                .iter()
                .any(|n| n.starts_with(&format!("run as existing user {acct} (the spec's choice"))),
            "{:?}",
            p.notes
        );
        assert_eq!(p.record.created_user, None);
        assert!(!p
            .steps
            .iter()
            .any(|s| matches!(s, Step::CreateUser { .. } | Step::CreateGroup(_))));
        let f = Fixture::new("name = \"root\"\ncommand = \"/bin/sh\"\nuser = \"root\"\n");
        assert_eq!(
            f.plan().unwrap().notes,
            vec!["run as root (the spec's choice)"]
        );
    }

    #[test]
    fn the_record_names_the_account_before_it_is_created_and_is_finished_last() {
        let f = Fixture::new("name = \"tend-test-no-such-user\"\ncommand = \"/bin/sh\"\n");
        assert!(!user_exists("tend-test-no-such-user"));
        let p = f.plan().unwrap();
        let Some(Step::Record {
            artifact,
            pending: true,
        }) = p.steps.first()
        else {
            panic!("the first step writes the pending record: {:?}", p.steps);
        };
        let intent: InstallRecord = serde_json::from_str(&artifact.content).unwrap();
        assert!(intent.pending);
        assert_eq!(
            intent.created_user.as_deref(),
            Some("tend-test-no-such-user")
        );
        assert_eq!(
            intent.created_group.as_deref(),
            Some("tend-test-no-such-user")
        );
        assert_eq!(intent.files, vec![f.backend.unit("tend-test-no-such-user")]);
        assert!(
            matches!(p.steps[1], Step::CreateUser { .. }),
            "{:?}",
            p.steps
        );
        let Some(Step::Record {
            artifact,
            pending: false,
        }) = p.steps.last()
        else {
            panic!("the last step finishes the record: {:?}", p.steps);
        };
        let done: InstallRecord = serde_json::from_str(&artifact.content).unwrap();
        assert_eq!(
            done,
            InstallRecord {
                pending: false,
                ..intent
            }
        );
        assert!(
            matches!(p.steps[p.steps.len() - 2], Step::Run(_)),
            "enable just before"
        );
    }

    #[test]
    fn an_account_a_killed_useradd_left_half_made_is_made_again_and_everything_owned_anew() {
        let name = "tend-test-half";
        let f = Fixture::new(&format!("name = \"{name}\"\ncommand = \"/bin/sh\"\n"));
        assert!(!user_exists(name));
        let nothing = observe_system(&f.spec, &f.layout, &f.backend, None, false).unwrap();
        let first = plan(
            &f.spec, &f.text, &f.layout, &f.backend, &nothing, None, false,
        )
        .unwrap();
        // what the first install recorded before it ran useradd, killed midway
        let Some(Step::Record {
            artifact,
            pending: true,
        }) = first.steps.first()
        else {
            panic!("{:?}", first.steps);
        };
        let pending: InstallRecord = serde_json::from_str(&artifact.content).unwrap();
        // the service's folders made already (by an earlier install) and owned by the uid
        let dir = |uid| FileFacts {
            on_disk: OnDisk::Other,
            content: None,
            mode: 0o750,
            uid,
            gid: 990,
            is_dir: true,
        };
        let seen = |record: &InstallRecord, local: LocalUser, groups: &[(&str, u32)]| {
            let mut o = nothing.clone();
            o.record = Some(record.clone());
            o.users.insert(name.into(), local.uid);
            o.local_users.insert(name.into(), local);
            o.groups = groups.iter().map(|(g, id)| (g.to_string(), *id)).collect();
            o.paths.insert(f.layout.state_dir(name), dir(990));
            o.paths.insert(f.layout.log_dir(&f.spec), dir(990));
            plan(&f.spec, &f.text, &f.layout, &f.backend, &o, None, false).unwrap()
        };
        let local = |gid_group: Option<&str>, no_shadow| LocalUser {
            uid: 990,
            gid: 990,
            gid_group: gid_group.map(String::from),
            no_shadow,
        };
        let account_steps = |p: &Plan| -> Vec<String> {
            p.steps
                .iter()
                .filter(|s| {
                    matches!(
                        s,
                        Step::CreateUser { .. } | Step::RecreateUser { .. } | Step::CreateGroup(_)
                    )
                })
                .map(|s| s.describe(false))
                .collect()
        };
        let dirs = |p: &Plan| {
            p.steps
                .iter()
                .filter(|s| matches!(s, Step::CreateDir { .. }))
                .count()
        };
        let recreate = |why: &str| {
            vec![format!(
                "delete user {name} and create it again (uid 990, group {name}, no login shell, no home): an interrupted install left it half made ({why})"
            )]
        };

        // killed after /etc/passwd: before, the plan created the group beside the user
        // and the service never started (PAM refuses a user without its shadow line)
        let p = seen(&pending, local(None, true), &[]);
        assert_eq!(account_steps(&p), recreate("it has no line in /etc/shadow"));
        assert_eq!(dirs(&p), 2, "both folders owned anew: {:?}", p.steps);
        assert!(matches!(&p.steps[0], Step::Record { pending: true, .. }));
        assert!(matches!(
            p.steps.last(),
            Some(Step::Record { pending: false, .. })
        ));
        assert_eq!(p.record.created_user.as_deref(), Some(name));
        assert_eq!(p.record.created_group.as_deref(), Some(name));
        assert!(p
            .steps
            .iter()
            .any(|s| matches!(s, Step::WriteFile { group: Some(g), .. } if g == name)));
        // killed after /etc/shadow: the group its gid names is missing
        let p = seen(&pending, local(None, false), &[]);
        assert_eq!(
            account_steps(&p),
            recreate("no group has its primary gid 990")
        );
        // ... and a group made since has another gid (what the install before this fix did)
        let p = seen(&pending, local(None, false), &[(name, 989)]);
        assert_eq!(
            account_steps(&p),
            recreate("no group has its primary gid 990")
        );
        // whole (killed after useradd finished): used as it is, nothing owned anew
        let p = seen(&pending, local(Some(name), false), &[(name, 990)]);
        assert_eq!(account_steps(&p), Vec::<String>::new());
        assert_eq!(dirs(&p), 0, "{:?}", p.steps);
        // a finished install's account is never deleted (it may be in use)
        let done = InstallRecord {
            pending: false,
            ..pending.clone()
        };
        let p = seen(&done, local(None, true), &[]);
        assert_eq!(
            account_steps(&p),
            vec![format!("create system group {name}")]
        );
    }

    #[test]
    fn an_install_cut_after_any_step_is_finished_by_the_next_and_purged_completely() {
        let n = Fixture::new(ROOT_WEB).plan().unwrap().steps.len();
        assert!(n >= 6, "record, dirs, spec, unit, enable, record");
        for cut in 0..=n {
            // cut, then install again: the same result as an install never cut
            let f = Fixture::new(ROOT_WEB);
            let first = f.plan().unwrap();
            assert_eq!(first.steps.len(), n);
            f.install(&first.steps[..cut]);
            let second = f.plan().unwrap();
            assert!(
                !second.existed || cut == n,
                "cut after {cut}: counts as installed"
            );
            f.install(&second.steps);
            let rec = read_record(&f.layout, "web").unwrap();
            assert!(!rec.pending, "cut after {cut}");
            assert_eq!(rec.files, vec![f.backend.unit("web")]);
            assert!(f.backend.marker("web").exists(), "cut after {cut}: enabled");
            assert!(
                f.plan().unwrap().steps.is_empty(),
                "cut after {cut}: a third install has nothing to do"
            );
            for s in f.uninstall(true) {
                s.apply().unwrap();
            }
            assert!(
                f.tree()
                    .iter()
                    .all(|p| p.ends_with('/') && !p.contains("web")),
                "cut after {cut}, reinstalled, purged: {:?}",
                f.tree()
            );

            // cut, then purge: nothing left either
            let f = Fixture::new(ROOT_WEB);
            f.install(&f.plan().unwrap().steps[..cut]);
            if read_record(&f.layout, "web").is_some() {
                for s in f.uninstall(true) {
                    let _ = s.apply();
                }
            }
            assert!(
                f.tree()
                    .iter()
                    .all(|p| p.ends_with('/') && !p.contains("web")),
                "cut after {cut}, purged: {:?}",
                f.tree()
            );
        }
    }

    #[test]
    fn stale_temporary_files_are_removed_by_install_and_purge() {
        let f = Fixture::new(ROOT_WEB);
        let stale = f.layout.spec_dir.join("web.tmp.999999999");
        std::fs::create_dir_all(&f.layout.spec_dir).unwrap();
        std::fs::write(&stale, "half").unwrap();
        let p = f.plan().unwrap();
        assert!(p
            .steps
            .iter()
            .any(|s| matches!(s, Step::RemoveFile { path, .. } if *path == stale)));
        std::fs::write(&stale, "half").unwrap();
        std::fs::write(f.layout.spec_dir.join("web.install.tmp.999999999"), "half").unwrap();
        for s in f.uninstall(true) {
            let _ = s.apply();
        }
        assert!(f.tree().iter().all(|p| p.ends_with('/')), "{:?}", f.tree());
    }

    #[test]
    fn uninstall_leaves_a_unit_tend_did_not_write_and_its_service() {
        let f = Fixture::new(ROOT_WEB);
        let unit = f.backend.unit("web");
        std::fs::create_dir_all(unit.parent().unwrap()).unwrap();
        std::fs::write(&unit, "[Service]\nExecStart=/usr/sbin/web\n").unwrap();
        std::fs::create_dir_all(&f.layout.spec_dir).unwrap();
        std::fs::write(f.layout.spec_path("web"), &f.text).unwrap();
        let steps = f.uninstall(true);
        assert!(
            steps
                .iter()
                .any(|s| matches!(s, UninstallStep::Keep { path, .. } if *path == unit)),
            "{steps:?}"
        );
        assert!(!steps.iter().any(|s| matches!(s, UninstallStep::Run(_))
            || matches!(s, UninstallStep::Remove(p) if *p == unit)));
    }

    #[test]
    fn what_an_uninstall_keeps_is_tends_for_the_next_install_and_purge() {
        // As if tend had created the account (only planned here: nothing is deleted).
        let acct = system_account();
        let f = Fixture::new(&format!("name = \"{acct}\"\ncommand = \"/bin/sh\"\n"));
        let record = InstallRecord {
            backend: "systemd".into(),
            created_user: Some(acct.into()),
            created_group: Some(acct.into()),
            tend_bin: "/bin/sh".into(),
            files: vec![f.backend.unit(acct)],
            ..Default::default()
        };
        crate::supervise::state::write_atomic(
            &f.layout.record_path(acct),
            record.to_json().as_bytes(),
        )
        .unwrap();
        let steps = f.uninstall(false);
        assert!(
            matches!(steps.last(), Some(UninstallStep::Remove(p)) if *p == f.layout.record_path(acct)),
            "the record goes last: {steps:?}"
        );
        for s in &steps {
            s.apply().unwrap();
        }
        let kept = read_kept(&f.layout, acct).unwrap();
        assert_eq!(kept.created_user.as_deref(), Some(acct));
        assert!(read_record(&f.layout, acct).is_none());

        let p = f.plan().unwrap();
        assert_eq!(p.record.created_user.as_deref(), Some(acct));
        assert!(
            matches!(&p.steps[1], Step::RemoveFile { path, .. } if *path == kept_path(&f.layout, acct))
        );
        let purge = f.uninstall(true);
        assert!(
            purge
                .iter()
                .any(|s| matches!(s, UninstallStep::DeleteUser(u) if u == acct)),
            "{purge:?}"
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
