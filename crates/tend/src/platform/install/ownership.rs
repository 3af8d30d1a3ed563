//! What is tend's: the decisions `tend install` makes before it changes anything, so
//! that it never takes over what it did not create.
//!
//! - **Accounts** ([`choose_account`]): a spec without `user` gets a dedicated account
//!   named after the service, which tend creates; an existing account of that name is
//!   used only if tend's record says tend created it (or was about to, when an install
//!   was interrupted), never root, never someone else's. An existing account the spec
//!   names is the operator's choice, and the plan says so.
//! - **Service manager files** ([`foreign`], [`other_units`]): a unit, init script or
//!   plist is replaced only if tend wrote it; a symlink, someone else's file, or (for
//!   systemd) a unit of the same name elsewhere that tend's would override makes the
//!   install refuse, naming the file.
//! - **Temporary files** ([`stale_temps`]): what an interrupted atomic write left.
//!
//! Each decision is a pure function of what was observed, table-tested; the few
//! functions that observe (`observe`, `stale_temps`) are kept apart.

use std::path::{Path, PathBuf};

/// Why `tend install` will not go ahead; each says what to do instead.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    /// Whether an account exists could not be told (the user or group databases failed).
    #[error("cannot install `{name}`: {reason}")]
    Accounts {
        /// The service.
        name: String,
        /// The failed lookup.
        reason: String,
    },
    /// The program cannot be found or run.
    #[error("cannot install `{name}`: {reason}")]
    Command {
        /// The service.
        name: String,
        /// Why.
        reason: String,
    },
    /// Something that tend did not write is where its unit, script or plist goes.
    #[error(
        "cannot install `{name}`: {} already exists and tend did not write it ({what}); \
         tend does not replace another service's file: rename the service, or remove \
         that file yourself if nothing uses it",
        path.display()
    )]
    ForeignFile {
        /// The service.
        name: String,
        /// The file.
        path: PathBuf,
        /// What is there.
        what: String,
    },
    /// systemd has a unit of the same name elsewhere, which tend's unit would override.
    #[error(
        "cannot install `{name}`: systemd already has a unit of that name, {}, which \
         {} would override: rename the service",
        other.display(),
        unit.display()
    )]
    ShadowsUnit {
        /// The service.
        name: String,
        /// tend's unit.
        unit: PathBuf,
        /// The other unit.
        other: PathBuf,
    },
    /// A service named `root` with no `user` would run as root.
    #[error(
        "cannot install `{name}`: without `user` in the spec the service runs as the \
         account named after it, here `root`, and tend never picks root by itself: set \
         `user = \"root\"` in the spec to run it as root, or rename the service"
    )]
    ImplicitRoot {
        /// The service.
        name: String,
    },
    /// The account named after the service exists and tend did not create it.
    #[error(
        "cannot install `{name}`: an account named `{user}` already exists and tend did \
         not create it: set `user = \"{user}\"` in the spec to run as it, or rename the \
         service"
    )]
    ForeignUser {
        /// The service.
        name: String,
        /// The account.
        user: String,
    },
    /// The new account's default group exists and tend did not create it.
    #[error(
        "cannot install `{name}`: a group named `{group}` already exists and tend did not \
         create it, and the new account `{user}` would join it: set `group = \"{group}\"` \
         in the spec to use it, set another `group`, or rename the service"
    )]
    ForeignGroup {
        /// The service.
        name: String,
        /// The account tend would create.
        user: String,
        /// The group.
        group: String,
    },
    /// An existing account the spec names has no group named after it.
    #[error(
        "cannot install `{name}`: the account `{user}` exists but there is no group \
         `{group}` (the group defaults to the user's name): set `group` in the spec to \
         the account's group"
    )]
    NoGroup {
        /// The service.
        name: String,
        /// The account.
        user: String,
        /// The missing group.
        group: String,
    },
}

/// Where the service's user or group comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    /// It does not exist: tend creates it (recording that it will, first).
    Create,
    /// It exists and tend's record says tend created it (or was about to, when an
    /// install was interrupted): tend's, deleted by `--purge`.
    Tends,
    /// It exists and is not tend's: the spec names it, so it is the operator's choice;
    /// never deleted.
    Existing,
}

/// Who the service runs as.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Account {
    /// root, only because the spec says `user = "root"`.
    Root,
    /// A user and its primary group.
    User {
        /// The user.
        user: String,
        /// Where it comes from.
        user_origin: Origin,
        /// The group.
        group: String,
        /// Where it comes from.
        group_origin: Origin,
    },
}

impl Account {
    /// What the plan says about an account it does not create (one line each).
    pub fn notes(&self) -> Vec<String> {
        let mut out = Vec::new();
        match self {
            Account::Root => out.push("run as root (the spec's choice)".to_string()),
            Account::User {
                user,
                user_origin,
                group,
                group_origin,
            } => {
                match user_origin {
                    Origin::Existing => out.push(format!(
                        "run as existing user {user} (the spec's choice; tend will not delete it)"
                    )),
                    Origin::Tends => out.push(format!(
                        "run as user {user}, which tend created for this service"
                    )),
                    Origin::Create => {}
                }
                if *group_origin == Origin::Existing {
                    out.push(format!(
                        "use existing group {group} (tend will not delete it)"
                    ));
                }
            }
        }
        out
    }

    /// The user and group tend owns (created now or before), for the install record.
    pub fn tends(&self) -> (Option<String>, Option<String>) {
        match self {
            Account::Root => (None, None),
            Account::User {
                user,
                user_origin,
                group,
                group_origin,
            } => (
                (*user_origin != Origin::Existing).then(|| user.clone()),
                (*group_origin != Origin::Existing).then(|| group.clone()),
            ),
        }
    }
}

/// What is known about the account a spec asks for.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AccountFacts {
    /// The user's uid, if the user exists.
    pub uid: Option<u32>,
    /// Whether the group exists.
    pub group_exists: bool,
    /// The user tend's record (or what an uninstall kept) says tend created.
    pub created_user: Option<String>,
    /// The group it says tend created.
    pub created_group: Option<String>,
}

/// Decides who the service `name` runs as. `user` and `group` are the spec's own
/// (`None` when the spec does not set them: the user is then named after the service,
/// the group after the user); `facts` is what exists.
pub fn choose_account(
    name: &str,
    user: Option<&str>,
    group: Option<&str>,
    facts: &AccountFacts,
) -> Result<Account, PlanError> {
    let u = user.unwrap_or(name);
    if u == "root" {
        return match user {
            Some(_) => Ok(Account::Root),
            None => Err(PlanError::ImplicitRoot { name: name.into() }),
        };
    }
    // A record naming an account with uid 0 is not believed.
    let tends_user = facts.created_user.as_deref() == Some(u) && facts.uid != Some(0);
    let user_origin = match facts.uid {
        None => Origin::Create,
        Some(_) if tends_user => Origin::Tends,
        Some(_) if user.is_some() => Origin::Existing,
        Some(_) => {
            return Err(PlanError::ForeignUser {
                name: name.into(),
                user: u.into(),
            })
        }
    };
    let g = group.unwrap_or(u);
    let group_origin = if facts.group_exists {
        if facts.created_group.as_deref() == Some(g) {
            Origin::Tends
        } else if group.is_none() && user_origin == Origin::Create {
            return Err(PlanError::ForeignGroup {
                name: name.into(),
                user: u.into(),
                group: g.into(),
            });
        } else {
            Origin::Existing
        }
    } else if group.is_none() && user_origin == Origin::Existing {
        return Err(PlanError::NoGroup {
            name: name.into(),
            user: u.into(),
            group: g.into(),
        });
    } else {
        Origin::Create
    };
    Ok(Account::User {
        user: u.into(),
        user_origin,
        group: g.into(),
        group_origin,
    })
}

/// What the local account files say of an existing user: enough to tell an account
/// `useradd` finished from one it was killed in the middle of. `useradd` replaces
/// `/etc/passwd`, `/etc/shadow`, `/etc/group` and `/etc/gshadow` one after the other,
/// so a kill between two of them leaves a user without its `/etc/shadow` line (PAM's
/// account check then refuses it: OpenRC's `supervise-daemon --user` never starts the
/// service) or without the group its gid names.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LocalUser {
    /// Its uid.
    pub uid: u32,
    /// Its primary gid, as `/etc/passwd` says.
    pub gid: u32,
    /// The group that has that gid, if any.
    pub gid_group: Option<String>,
    /// Whether `/etc/passwd` keeps its password in `/etc/shadow` (`x`) and
    /// `/etc/shadow` has no line for it (false when `/etc/shadow` cannot be read).
    pub no_shadow: bool,
}

/// The uid, gid and whether the `/etc/shadow` line is missing, of `name` in the text
/// of `/etc/passwd` and (if it could be read) `/etc/shadow`; `None` when `/etc/passwd`
/// has no valid line for it (an account from elsewhere: LDAP, systemd's DynamicUser).
pub fn parse_local_user(
    name: &str,
    passwd: &str,
    shadow: Option<&str>,
) -> Option<(u32, u32, bool)> {
    let line = passwd.lines().find(|l| l.split(':').next() == Some(name))?;
    let f: Vec<&str> = line.split(':').collect();
    if f.len() < 7 {
        return None;
    }
    let uid = f[2].parse().ok()?;
    let gid = f[3].parse().ok()?;
    let no_shadow = f[1] == "x"
        && shadow.is_some_and(|s| !s.lines().any(|l| l.split(':').next() == Some(name)));
    Some((uid, gid, no_shadow))
}

/// How an account tend was creating is half made.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HalfMade {
    /// `/etc/passwd` has it, `/etc/shadow` does not.
    NoShadowLine,
    /// No group has its primary gid.
    NoPrimaryGroup {
        /// The gid.
        gid: u32,
    },
    /// Its primary gid is another group's than the service's.
    OtherPrimaryGroup {
        /// The gid.
        gid: u32,
        /// The group that has it.
        holder: String,
        /// The service's group.
        group: String,
    },
}

impl std::fmt::Display for HalfMade {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HalfMade::NoShadowLine => write!(f, "it has no line in /etc/shadow"),
            HalfMade::NoPrimaryGroup { gid } => {
                write!(f, "no group has its primary gid {gid}")
            }
            HalfMade::OtherPrimaryGroup { gid, holder, group } => write!(
                f,
                "its primary gid {gid} is group {holder}'s, not {group}'s"
            ),
        }
    }
}

/// Whether the account `account` names is one tend was creating (`pending`: the install
/// record is the write-ahead one of an interrupted install) and `useradd` left half
/// made (`local`: what the account files say of the user, when it exists). Only such an
/// account is deleted and created again: one an install finished may be in use, and
/// one tend did not create is never touched.
pub fn half_made(account: &Account, pending: bool, local: Option<&LocalUser>) -> Option<HalfMade> {
    let Account::User {
        user_origin: Origin::Tends,
        group,
        ..
    } = account
    else {
        return None;
    };
    let local = local.filter(|_| pending)?;
    if local.uid == 0 {
        return None;
    }
    if local.no_shadow {
        return Some(HalfMade::NoShadowLine);
    }
    match &local.gid_group {
        None => Some(HalfMade::NoPrimaryGroup { gid: local.gid }),
        Some(holder) if holder != group => Some(HalfMade::OtherPrimaryGroup {
            gid: local.gid,
            holder: holder.clone(),
            group: group.clone(),
        }),
        Some(_) => None,
    }
}

/// What is at the path of a service manager file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OnDisk {
    /// Nothing.
    Missing,
    /// A symbolic link (to this target), dangling or not.
    Symlink(PathBuf),
    /// A regular file; whether it carries tend's header naming this service's
    /// installed spec.
    File {
        /// `# Written by tend from /etc/tend/NAME.toml; …`
        tends_header: bool,
    },
    /// A directory, a socket, a device...
    Other,
}

/// Looks at `path` (without following a symlink). `spec_path` is the service's
/// installed spec, which tend's header names.
pub fn observe(path: &Path, spec_path: &Path) -> OnDisk {
    use std::io::Read;
    let Ok(meta) = path.symlink_metadata() else {
        return OnDisk::Missing;
    };
    if meta.file_type().is_symlink() {
        return OnDisk::Symlink(std::fs::read_link(path).unwrap_or_default());
    }
    if !meta.is_file() {
        return OnDisk::Other;
    }
    // The header is near the top (after `#!` or an init script's LSB block).
    let mut head = Vec::new();
    let read = std::fs::File::open(path).and_then(|f| f.take(16 * 1024).read_to_end(&mut head));
    OnDisk::File {
        tends_header: read.is_ok() && has_tends_header(&String::from_utf8_lossy(&head), spec_path),
    }
}

/// Whether `text` has tend's header line for the installed spec `spec_path`:
/// `# Written by tend from /etc/tend/NAME.toml; …` (or the same words in an XML
/// comment).
pub fn has_tends_header(text: &str, spec_path: &Path) -> bool {
    let want = format!("Written by tend from {}", spec_path.display());
    text.lines().take(40).any(|l| {
        let l = l.trim_start();
        let rest = l
            .strip_prefix('#')
            .or_else(|| l.strip_prefix("<!--"))
            .map(str::trim_start);
        rest.is_some_and(|r| {
            r.strip_prefix(want.as_str()).is_some_and(|after| {
                // the path ends there: `; …`, ` …`, `.` or `. …`
                after.is_empty()
                    || after.starts_with([';', ' '])
                    || after == "."
                    || after.starts_with(". ")
            })
        })
    })
}

/// Whether what is at a service manager file's path is someone else's: `None` when
/// tend may write there (nothing is there, or the file is tend's), else what is there,
/// for the error. `in_record` says that this service's install record lists the file.
///
/// A regular file is tend's if the record lists it, or if it carries tend's header
/// naming this service's installed spec even without a record: only tend writes that
/// line, and a file with it but no record is what an install interrupted before its
/// record was written leaves (tends before the write-ahead record wrote the record
/// last) or a record lost by hand; replacing it writes what tend would write anyway,
/// whereas refusing would make the operator delete tend's own file by hand. A
/// symlink is never tend's (tend writes regular files, and replacing a link would
/// break what it aliases, such as another unit), even at a path the record lists.
pub fn foreign(on_disk: &OnDisk, in_record: bool) -> Option<String> {
    match on_disk {
        OnDisk::Missing => None,
        OnDisk::File { tends_header } if *tends_header || in_record => None,
        OnDisk::File { .. } => {
            Some("a file without tend's header that no tend install recorded".into())
        }
        OnDisk::Symlink(target) => Some(format!("a symlink to {}", target.display())),
        OnDisk::Other => Some("not a regular file".into()),
    }
}

/// Where else systemd looks for a unit of the same name as `unit`, a unit file in
/// `…/etc/systemd/system`: a vendor unit (`/usr/lib/systemd/system/ssh.service`), an
/// alias symlink, a runtime or generated unit (the SysV generator turns
/// `/etc/init.d/NAME` into one). A unit in `/etc/systemd/system` overrides all of them
/// but the transient and early-generated ones, so installing one there would hijack
/// or clash with another service. Empty for any other path.
pub fn other_units(unit: &Path) -> Vec<PathBuf> {
    const DIRS: &[&str] = &[
        "run/systemd/transient",
        "run/systemd/generator.early",
        "run/systemd/system",
        "run/systemd/generator",
        "usr/local/lib/systemd/system",
        "usr/lib/systemd/system",
        "lib/systemd/system",
        "run/systemd/generator.late",
    ];
    let (Some(dir), Some(file)) = (unit.parent(), unit.file_name()) else {
        return Vec::new();
    };
    let Some(root) = dir
        .to_str()
        .and_then(|d| d.strip_suffix("etc/systemd/system"))
        .filter(|r| r.is_empty() || r.ends_with('/'))
    else {
        return Vec::new();
    };
    DIRS.iter()
        .map(|d| Path::new(root).join(d).join(file))
        .collect()
}

/// The temporary files that interrupted atomic writes of `path` left beside it
/// (`NAME.tmp.PID`, as `supervise::state::write_atomic` names them) and whose writer
/// is gone.
pub fn stale_temps(path: &Path) -> Vec<PathBuf> {
    let (Some(dir), Some(prefix)) = (
        path.parent(),
        path.with_extension("tmp.")
            .file_name()
            .and_then(|f| f.to_str())
            .map(str::to_string),
    ) else {
        return Vec::new();
    };
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out: Vec<PathBuf> = entries
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let file = e.file_name().into_string().ok()?;
            let pid: i32 = file.strip_prefix(prefix.as_str())?.parse().ok()?;
            let gone =
                pid > 0 && pid != std::process::id() as i32 && !crate::supervise::sys::alive(pid);
            gone.then(|| e.path())
        })
        .collect();
    out.sort();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(uid: Option<u32>, group: bool, cu: Option<&str>, cg: Option<&str>) -> AccountFacts {
        AccountFacts {
            uid,
            group_exists: group,
            created_user: cu.map(String::from),
            created_group: cg.map(String::from),
        }
    }

    fn user(u: &str, uo: Origin, g: &str, go: Origin) -> Result<Account, PlanError> {
        Ok(Account::User {
            user: u.into(),
            user_origin: uo,
            group: g.into(),
            group_origin: go,
        })
    }

    /// (service, the spec's user, the spec's group, what exists, the decision)
    type Case<'a> = (
        &'a str,
        Option<&'a str>,
        Option<&'a str>,
        AccountFacts,
        Result<Account, PlanError>,
    );

    #[test]
    fn accounts_are_created_reused_when_tends_or_named_and_otherwise_refused() {
        use Origin::*;
        let foreign_user = |n: &str| {
            Err(PlanError::ForeignUser {
                name: n.into(),
                user: n.into(),
            })
        };
        let implicit_root = Err(PlanError::ImplicitRoot {
            name: "root".into(),
        });
        let foreign_group = |n: &str, u: &str| {
            Err(PlanError::ForeignGroup {
                name: n.into(),
                user: u.into(),
                group: u.into(),
            })
        };
        #[rustfmt::skip]
        let table: Vec<Case> = vec![
            // nothing exists: tend creates both
            ("web", None, None, facts(None, false, None, None), user("web", Create, "web", Create)),
            // the service's name is an existing account tend did not create: refused
            ("daemon", None, None, facts(Some(1), true, None, None), foreign_user("daemon")),
            ("www-data", None, None, facts(Some(33), true, None, None), foreign_user("www-data")),
            // ... even when a record (of another account) exists
            ("daemon", None, None, facts(Some(1), true, Some("web"), Some("web")), foreign_user("daemon")),
            // root: never implicitly, even with a record claiming it
            ("root", None, None, facts(Some(0), true, None, None), implicit_root.clone()),
            ("root", None, None, facts(Some(0), true, Some("root"), Some("root")), implicit_root),
            // a record naming an account with uid 0 is not believed
            ("toor", None, None, facts(Some(0), true, Some("toor"), Some("toor")), foreign_user("toor")),
            // root when the spec says so
            ("web", Some("root"), None, facts(Some(0), true, None, None), Ok(Account::Root)),
            // an existing account the spec names: the operator's choice
            ("web", Some("daemon"), None, facts(Some(1), true, None, None), user("daemon", Existing, "daemon", Existing)),
            ("daemon", Some("daemon"), None, facts(Some(1), true, None, None), user("daemon", Existing, "daemon", Existing)),
            // tend created it before (or recorded that it was about to): tend's
            ("web", None, None, facts(Some(990), true, Some("web"), Some("web")), user("web", Tends, "web", Tends)),
            ("web", Some("web"), None, facts(Some(990), true, Some("web"), Some("web")), user("web", Tends, "web", Tends)),
            // the user exists (recorded) but its group is gone: created again
            ("web", None, None, facts(Some(990), false, Some("web"), Some("web")), user("web", Tends, "web", Create)),
            // an interrupted install recorded the intent but created nothing
            ("web", None, None, facts(None, false, Some("web"), Some("web")), user("web", Create, "web", Create)),
            // a new account would join an existing group tend did not create: refused
            ("disk", None, None, facts(None, true, None, None), foreign_group("disk", "disk")),
            ("web", Some("disk"), None, facts(None, true, None, None), foreign_group("web", "disk")),
            // ... unless the spec names the group
            ("disk", None, Some("disk"), facts(None, true, None, None), user("disk", Create, "disk", Existing)),
            ("web", None, Some("web-data"), facts(None, false, None, None), user("web", Create, "web-data", Create)),
            // an existing named account whose default group is missing
            ("web", Some("nobody"), None, facts(Some(65534), false, None, None),
                Err(PlanError::NoGroup { name: "web".into(), user: "nobody".into(), group: "nobody".into() })),
            ("web", Some("nobody"), Some("nogroup"), facts(Some(65534), true, None, None), user("nobody", Existing, "nogroup", Existing)),
            // an explicit group tend created before
            ("web", Some("nobody"), Some("webg"), facts(Some(65534), true, None, Some("webg")), user("nobody", Existing, "webg", Tends)),
        ];
        for (name, u, g, f, want) in table {
            assert_eq!(
                choose_account(name, u, g, &f),
                want,
                "service {name}, user {u:?}, group {g:?}, {f:?}"
            );
        }
    }

    #[test]
    fn the_account_files_say_uid_gid_and_a_missing_shadow_line() {
        let passwd = "root:x:0:0:root:/root:/bin/bash\n\
                      web:x:999:999::/nonexistent:/usr/sbin/nologin\n\
                      webby:x:998:998::/nonexistent:/usr/sbin/nologin\n\
                      old:*:997:997::/:/bin/false\n\
                      short:x:996\n";
        let shadow = "root:*:19000:0:99999:7:::\nwebby:!:20787::::::\n";
        /// (the user, /etc/shadow if readable, uid, gid and whether its line is missing)
        type Line<'a> = (&'a str, Option<&'a str>, Option<(u32, u32, bool)>);
        #[rustfmt::skip]
        let table: Vec<Line> = vec![
            // killed between /etc/passwd and /etc/shadow (a prefix of another name's line
            // is not its line)
            ("web", Some(shadow), Some((999, 999, true))),
            ("webby", Some(shadow), Some((998, 998, false))),
            // /etc/shadow unreadable: nothing is known missing
            ("web", None, Some((999, 999, false))),
            // a password kept in /etc/passwd itself needs no shadow line
            ("old", Some(shadow), Some((997, 997, false))),
            // not in /etc/passwd (a directory account), or a broken line
            ("we", Some(shadow), None),
            ("nobody", Some(shadow), None),
            ("short", Some(shadow), None),
        ];
        for (name, sh, want) in table {
            assert_eq!(
                parse_local_user(name, passwd, sh),
                want,
                "{name}, shadow {sh:?}"
            );
        }
    }

    #[test]
    fn only_an_account_an_interrupted_install_left_half_made_is_made_again() {
        use Origin::*;
        let local = |gid: u32, gid_group: Option<&str>, no_shadow: bool| LocalUser {
            uid: 999,
            gid,
            gid_group: gid_group.map(String::from),
            no_shadow,
        };
        let web = |uo: Origin, go: Origin| user("web", uo, "web", go).unwrap();
        let whole = local(999, Some("web"), false);
        #[rustfmt::skip]
        let table: Vec<(Account, bool, Option<LocalUser>, Option<HalfMade>)> = vec![
            // useradd killed after /etc/passwd: no shadow line (and no group)
            (web(Tends, Create), true, Some(local(999, None, true)), Some(HalfMade::NoShadowLine)),
            // ... after /etc/shadow: no group has its gid
            (web(Tends, Create), true, Some(local(999, None, false)), Some(HalfMade::NoPrimaryGroup { gid: 999 })),
            // ... and another group took its gid since (or the group came back with
            // another gid)
            (web(Tends, Tends), true, Some(local(999, Some("other"), false)),
                Some(HalfMade::OtherPrimaryGroup { gid: 999, holder: "other".into(), group: "web".into() })),
            (user("web", Tends, "webg", Existing).unwrap(), true, Some(local(999, Some("web"), false)),
                Some(HalfMade::OtherPrimaryGroup { gid: 999, holder: "web".into(), group: "webg".into() })),
            // whole: nothing to do
            (web(Tends, Tends), true, Some(whole.clone()), None),
            (user("web", Tends, "webg", Existing).unwrap(), true, Some(local(999, Some("webg"), false)), None),
            // an install that finished: the account may be in use, never deleted
            (web(Tends, Create), false, Some(local(999, None, true)), None),
            // not tend's, not there, or not in /etc/passwd: never
            (user("daemon", Existing, "daemon", Existing).unwrap(), true, Some(local(1, None, true)), None),
            (web(Create, Create), true, None, None),
            (web(Tends, Create), true, None, None),
            (Account::Root, true, Some(local(0, None, true)), None),
            // uid 0, whatever the record says
            (web(Tends, Create), true, Some(LocalUser { uid: 0, ..local(0, None, true) }), None),
        ];
        for (account, pending, l, want) in table {
            assert_eq!(
                half_made(&account, pending, l.as_ref()),
                want,
                "{account:?}, pending {pending}, {l:?}"
            );
        }
        assert_eq!(
            HalfMade::NoShadowLine.to_string(),
            "it has no line in /etc/shadow"
        );
        assert_eq!(
            HalfMade::OtherPrimaryGroup {
                gid: 7,
                holder: "a".into(),
                group: "b".into()
            }
            .to_string(),
            "its primary gid 7 is group a's, not b's"
        );
    }

    #[test]
    fn refusals_say_what_to_do() {
        let e = choose_account("daemon", None, None, &facts(Some(1), true, None, None))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("an account named `daemon` already exists and tend did not create it")
                && e.contains(
                    "set `user = \"daemon\"` in the spec to run as it, or rename the service"
                ),
            "{e}"
        );
        let e = choose_account("root", None, None, &facts(Some(0), true, None, None))
            .unwrap_err()
            .to_string();
        assert!(e.contains("set `user = \"root\"`"), "{e}");
    }

    #[test]
    fn notes_name_the_accounts_tend_does_not_create() {
        let a = choose_account(
            "web",
            Some("daemon"),
            None,
            &facts(Some(1), true, None, None),
        )
        .unwrap();
        assert_eq!(
            a.notes(),
            vec![
                "run as existing user daemon (the spec's choice; tend will not delete it)",
                "use existing group daemon (tend will not delete it)"
            ]
        );
        assert_eq!(a.tends(), (None, None));
        assert_eq!(
            Account::Root.notes(),
            vec!["run as root (the spec's choice)"]
        );
        let a = choose_account("web", None, None, &facts(None, false, None, None)).unwrap();
        assert!(a.notes().is_empty());
        assert_eq!(a.tends(), (Some("web".into()), Some("web".into())));
    }

    #[test]
    fn a_file_is_tends_by_record_or_header_and_a_symlink_never() {
        let table = [
            (OnDisk::Missing, false, false),
            (OnDisk::File { tends_header: true }, false, false),
            (
                OnDisk::File {
                    tends_header: false,
                },
                true,
                false,
            ),
            (OnDisk::File { tends_header: true }, true, false),
            (
                OnDisk::File {
                    tends_header: false,
                },
                false,
                true,
            ),
            (
                OnDisk::Symlink("/lib/systemd/system/systemd-timesyncd.service".into()),
                false,
                true,
            ),
            (OnDisk::Symlink("x".into()), true, true),
            (OnDisk::Other, false, true),
            (OnDisk::Other, true, true),
        ];
        for (on_disk, in_record, is_foreign) in table {
            assert_eq!(
                foreign(&on_disk, in_record).is_some(),
                is_foreign,
                "{on_disk:?}, in record: {in_record}"
            );
        }
        assert_eq!(
            foreign(
                &OnDisk::Symlink("/lib/systemd/system/systemd-timesyncd.service".into()),
                false
            )
            .unwrap(),
            "a symlink to /lib/systemd/system/systemd-timesyncd.service"
        );
    }

    #[test]
    fn observing_files_finds_links_directories_and_tends_header() {
        let dir = tempfile::tempdir().unwrap();
        let spec = Path::new("/etc/tend/web.toml");
        let p = |f: &str| dir.path().join(f);
        std::fs::write(
            p("tend.service"),
            "# Written by tend from /etc/tend/web.toml; `tend install` rewrites it.\n[Unit]\n",
        )
        .unwrap();
        std::fs::write(p("other.service"), "[Unit]\nDescription=not tend's\n").unwrap();
        std::fs::write(
            p("otherspec.service"),
            "# Written by tend from /etc/tend/web2.toml; `tend install` rewrites it.\n",
        )
        .unwrap();
        std::fs::write(p("script"), "#!/sbin/openrc-run\n# Written by tend from /etc/tend/web.toml; `tend install` rewrites it.\n").unwrap();
        std::os::unix::fs::symlink(
            "/lib/systemd/system/systemd-timesyncd.service",
            p("alias.service"),
        )
        .unwrap();
        std::fs::create_dir(p("dir.service")).unwrap();
        assert_eq!(
            observe(&p("tend.service"), spec),
            OnDisk::File { tends_header: true }
        );
        assert_eq!(
            observe(&p("script"), spec),
            OnDisk::File { tends_header: true }
        );
        assert_eq!(
            observe(&p("other.service"), spec),
            OnDisk::File {
                tends_header: false
            }
        );
        assert_eq!(
            observe(&p("otherspec.service"), spec),
            OnDisk::File {
                tends_header: false
            },
            "another service's header"
        );
        assert_eq!(observe(&p("missing"), spec), OnDisk::Missing);
        assert_eq!(
            observe(&p("alias.service"), spec),
            OnDisk::Symlink("/lib/systemd/system/systemd-timesyncd.service".into()),
            "dangling here, still a link"
        );
        assert_eq!(observe(&p("dir.service"), spec), OnDisk::Other);
    }

    #[test]
    fn tends_header_is_a_whole_comment_line_naming_this_spec() {
        let spec = Path::new("/etc/tend/web.toml");
        let yes = [
            "# Written by tend from /etc/tend/web.toml; `tend install` rewrites it.",
            "#!/bin/sh\n### BEGIN INIT INFO\n# Provides: web\n### END INIT INFO\n# Written by tend from /etc/tend/web.toml; x",
            "<?xml?>\n<!-- Written by tend from /etc/tend/web.toml. -->",
            "#Written by tend from /etc/tend/web.toml",
        ];
        let no = [
            "# Written by tend from /etc/tend/web.toml.bak; x",
            "# Written by tend from /etc/tend/web2.toml; x",
            "Description=Written by tend from /etc/tend/web.toml",
            "# written by tend from /etc/tend/web.toml",
            "",
        ];
        for t in yes {
            assert!(has_tends_header(t, spec), "{t:?}");
        }
        for t in no {
            assert!(!has_tends_header(t, spec), "{t:?}");
        }
    }

    #[test]
    fn other_units_are_systemds_other_unit_folders() {
        let o = other_units(Path::new("/etc/systemd/system/ssh.service"));
        assert!(o.contains(&PathBuf::from("/lib/systemd/system/ssh.service")));
        assert!(o.contains(&PathBuf::from("/usr/lib/systemd/system/ssh.service")));
        assert!(o.contains(&PathBuf::from("/run/systemd/generator.late/ssh.service")));
        assert!(o.contains(&PathBuf::from("/run/systemd/system/ssh.service")));
        assert!(!o.iter().any(|p| p.starts_with("/etc")));
        assert_eq!(
            other_units(Path::new("/tmp/r/etc/systemd/system/a.service"))[0],
            PathBuf::from("/tmp/r/run/systemd/transient/a.service"),
            "under a root folder"
        );
        assert!(other_units(Path::new("/etc/init.d/ssh")).is_empty());
        assert!(other_units(Path::new("/Library/LaunchDaemons/dev.tend.a.plist")).is_empty());
        assert!(other_units(Path::new("/x/myetc/systemd/system/a.service")).is_empty());
    }

    #[test]
    fn stale_temps_are_those_of_dead_writers() {
        let dir = tempfile::tempdir().unwrap();
        let p = |f: &str| dir.path().join(f);
        // a pid far above any pid_max default: no such process
        for f in [
            "web.tmp.999999999",
            "web.install.tmp.999999999",
            "web.tmp.notapid",
            "web2.tmp.999999999",
            &format!("web.tmp.{}", std::process::id()),
        ] {
            std::fs::write(p(f), "x").unwrap();
        }
        assert_eq!(stale_temps(&p("web.toml")), vec![p("web.tmp.999999999")]);
        assert_eq!(
            stale_temps(&p("web.install.json")),
            vec![p("web.install.tmp.999999999")]
        );
        assert_eq!(
            stale_temps(&p("web")),
            vec![p("web.tmp.999999999")],
            "no extension"
        );
        assert!(stale_temps(&p("none.toml")).is_empty());
    }
}
