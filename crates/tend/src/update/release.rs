//! The releases of a service, side by side under its state folder, and which one is
//! current.
//!
//! ```text
//! STATE_DIR/releases/NAME/
//!   index.json          which release is current, the ones before it, the rolled back
//!   1.4.2/              a release: the program file, or the unpacked archive
//!   1.4.2.json          where it came from: sha256, size, the key that signed it
//!   current -> 1.4.2    (Unix) a link for people and scripts; index.json decides
//!   .incoming/          artifacts handed over by `tend upgrade`, until staged
//! ```
//!
//! `index.json` is replaced atomically, so a switch is one rename: a supervisor
//! starting at any moment runs the old release or the new one. `current: null` (and
//! `null` in `previous`) is the spec's own `command`, the program before any upgrade.
//! The decisions (what a switch or a rollback makes of the index, which releases go)
//! are pure functions; [`Store`] does the file work.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::fetch::{self, hex};
use super::minisign::{self, Key, Verified};
use super::unpack;

/// Which release runs, and what came before.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Index {
    /// The release the service runs (`None`: the spec's `command`).
    pub current: Option<String>,
    /// The releases it ran before, the most recent first.
    pub previous: Vec<Option<String>>,
    /// Releases that failed their check or were rolled back: a pull channel does not
    /// try them again.
    pub rolled_back: Vec<String>,
    /// The current release is on trial: switched to, not yet found ready. A supervisor
    /// that starts with a trial pending (the last one stopped, or the machine went
    /// down, during the check) checks it again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trial: Option<String>,
}

impl Index {
    /// After switching to `to`: `to` is current, the current one the first previous
    /// (a release already in the list moves up, never twice).
    pub fn switched(&self, to: &str) -> Index {
        let mut previous: Vec<Option<String>> = vec![self.current.clone()];
        previous.extend(self.previous.iter().cloned());
        previous.retain(|p| p.as_deref() != Some(to));
        dedup_keep_first(&mut previous);
        Index {
            current: Some(to.to_string()),
            previous,
            rolled_back: self.rolled_back.clone(),
            trial: None,
        }
    }

    /// The releases before the current one, without those no longer on disk
    /// (`present`: the ids that are; the spec's command always is).
    pub fn trimmed(&self, present: &[String]) -> Index {
        let mut out = self.clone();
        out.previous
            .retain(|p| p.as_ref().is_none_or(|id| present.contains(id)));
        out
    }

    /// After a rollback: the first previous is current again, and the release left is
    /// remembered as rolled back. `None` when there is nothing to go back to.
    pub fn rolled_back(&self) -> Option<Index> {
        let (back, rest) = self.previous.split_first()?;
        let mut rolled_back = self.rolled_back.clone();
        if let Some(c) = &self.current {
            rolled_back.retain(|r| r != c);
            rolled_back.push(c.clone());
        }
        Some(Index {
            current: back.clone(),
            previous: rest.to_vec(),
            rolled_back,
            trial: None,
        })
    }

    /// How a release is named for people: its id, or "the spec's command".
    pub fn describe(id: Option<&str>) -> String {
        match id {
            Some(id) => format!("release {id}"),
            None => "the spec's command".into(),
        }
    }
}

fn dedup_keep_first(v: &mut Vec<Option<String>>) {
    let mut seen = Vec::new();
    v.retain(|x| {
        if seen.contains(x) {
            false
        } else {
            seen.push(x.clone());
            true
        }
    });
}

/// The release folders to delete: all but the current one and the `keep - 1` most
/// recent previous ones. `present` are the release ids on disk.
pub fn to_remove(index: &Index, present: &[String], keep: u32) -> Vec<String> {
    let mut kept: Vec<&str> = index.current.iter().map(String::as_str).collect();
    kept.extend(
        index
            .previous
            .iter()
            .flatten()
            .take(keep.saturating_sub(1) as usize)
            .map(String::as_str),
    );
    let mut out: Vec<String> = present
        .iter()
        .filter(|p| !kept.contains(&p.as_str()))
        .cloned()
        .collect();
    out.sort();
    out
}

/// Whether `id` can name a release: letters, digits, `.`, `_`, `+`, `-`, at most 64,
/// starting with a letter or digit, not a name the store uses itself.
pub fn check_id(id: &str) -> Result<(), String> {
    let ok_chars = id
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'+' | b'-'));
    if id.is_empty() || id.len() > 64 || !ok_chars {
        return Err(format!(
            "{id:?} cannot name a release: use 1 to 64 letters, digits, '.', '_', '+' or '-'"
        ));
    }
    if !id.as_bytes()[0].is_ascii_alphanumeric() {
        return Err(format!(
            "{id:?} cannot name a release: it must start with a letter or digit"
        ));
    }
    if id == "index" || id == "current" || id.ends_with(".json") {
        return Err(format!("{id:?} cannot name a release: tend uses that name"));
    }
    Ok(())
}

/// Whether `p` can be a program's path inside a release folder: relative, with no
/// `..`, `.` or empty parts (`/` separates them, `\` too on Windows).
pub fn check_program_path(p: &str) -> Result<(), &'static str> {
    if p.is_empty() || p.contains('\0') {
        return Err("is empty");
    }
    if p.starts_with('/') || p.starts_with('\\') || p.as_bytes().get(1) == Some(&b':') {
        return Err("is absolute: it is a path inside the release folder");
    }
    if p.split(['/', '\\'])
        .any(|part| matches!(part, "" | "." | ".."))
    {
        return Err("has an empty, `.` or `..` part");
    }
    Ok(())
}

/// The program's path inside a release when `update.program` is not set: the file name
/// of the program `command` resolved to (`resolved`), else of `command` itself. On
/// Windows the lookup may have added an extension (`orders` runs `orders.exe`,
/// `deploy` runs `deploy.cmd`), and the release's copy keeps it: without `.cmd` a
/// batch file is not run at all, without `.exe` a program runs under a name that
/// firewall rules and Task Manager do not know.
pub fn default_program(command: &str, resolved: Option<&Path>) -> String {
    resolved
        .and_then(Path::file_name)
        .map(|n| n.to_string_lossy().into_owned())
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| {
            command
                .rsplit(['/', '\\'])
                .next()
                .filter(|n| !n.is_empty())
                .unwrap_or(command)
                .to_string()
        })
}

/// Where a release came from, kept beside it (`ID.json`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Meta {
    /// The release id.
    pub id: String,
    /// The artifact's sha256, hex.
    pub sha256: String,
    /// The artifact's size in bytes.
    pub size: u64,
    /// What was given to `tend upgrade` (a path or URL), or the channel.
    pub source: String,
    /// The id of the key that signed it.
    pub key: String,
    /// The signature's trusted comment.
    pub trusted_comment: String,
    /// When it was added, in milliseconds since the Unix epoch.
    pub added_ms: u64,
}

/// An artifact handed over for staging.
#[derive(Clone, Debug)]
pub struct Artifact {
    /// The file (a program, a `.tar.gz`, a `.zip`).
    pub path: PathBuf,
    /// Its minisign signature (the text of the `.minisig` file).
    pub signature: String,
    /// Where it came from, for people (a path or URL).
    pub source: String,
    /// The release id asked for (`--release`); else the signed `version:`, else the
    /// sha256's first 12 hex digits.
    pub version: Option<String>,
    /// The signature must name `version` (`version:` in its trusted comment): what a
    /// channel's manifest says is not trusted, the signature is.
    pub signed_as_named: bool,
}

/// A release ready to switch to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Staged {
    /// Its id.
    pub id: String,
    /// Its metadata.
    pub meta: Meta,
    /// Whether it was on disk already (the same artifact staged before).
    pub existed: bool,
}

/// Why an artifact cannot become a release. Nothing changed when this is returned.
#[derive(Debug, thiserror::Error)]
pub enum StageError {
    /// The signature does not check out.
    #[error("refused: {0}")]
    Signature(#[from] minisign::VerifyError),
    /// The release id cannot be used.
    #[error("{0}")]
    Id(String),
    /// The name asked for and the signed `version:` disagree.
    #[error("the release is named {given} but its signature says version {signed}: the signature says which release this is")]
    VersionMismatch {
        /// `--release`.
        given: String,
        /// The trusted comment's.
        signed: String,
    },
    /// The signature names no version, and it must (a channel's release).
    #[error("refused: the signature names no version (its trusted comment is {comment:?}); a channel's release must be signed with -t \"version:{given}\"")]
    NotSignedAs {
        /// The version the manifest names.
        given: String,
        /// The trusted comment.
        comment: String,
    },
    /// A release of that id exists with other content.
    #[error("release {id} exists with another artifact (sha256 {had}, this one {has}): give another --release ID, or `tend rollback` and remove it")]
    Exists {
        /// The id.
        id: String,
        /// Its sha256.
        had: String,
        /// This artifact's.
        has: String,
    },
    /// The archive could not be unpacked.
    #[error("{0}")]
    Unpack(#[from] unpack::UnpackError),
    /// The release does not hold the program.
    #[error("the release has no program {program} (update.program; it holds {holds})")]
    NoProgram {
        /// `update.program`.
        program: String,
        /// What it holds (a few names).
        holds: String,
    },
    /// File work failed.
    #[error("cannot {what}: {error}")]
    Io {
        /// What was being done.
        what: String,
        /// Why it failed.
        error: String,
    },
}

impl StageError {
    /// Whether the artifact was refused for what it is (its signature, its name), not
    /// for a passing reason (a full disk): the same artifact would be refused again.
    pub fn refused(&self) -> bool {
        matches!(
            self,
            StageError::Signature(_)
                | StageError::VersionMismatch { .. }
                | StageError::NotSignedAs { .. }
                | StageError::Exists { .. }
                | StageError::NoProgram { .. }
                | StageError::Unpack(_)
                | StageError::Id(_)
        )
    }
}

fn io_err(what: impl Into<String>) -> impl FnOnce(io::Error) -> StageError {
    let what = what.into();
    move |e| StageError::Io {
        what,
        error: crate::text::io_error(&e),
    }
}

/// The releases of one service.
#[derive(Clone, Debug)]
pub struct Store {
    dir: PathBuf,
}

impl Store {
    /// The store of service `name` whose state folder is `state_dir`.
    pub fn of(state_dir: &Path, name: &str) -> Store {
        Store {
            dir: state_dir.join("releases").join(name),
        }
    }

    /// Its folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where `tend upgrade` puts artifacts for the supervisor to stage.
    pub fn incoming(&self) -> PathBuf {
        self.dir.join(".incoming")
    }

    /// The folder of release `id`.
    pub fn release_dir(&self, id: &str) -> PathBuf {
        self.dir.join(id)
    }

    /// The program of release `id` (`program`: its path inside the release).
    pub fn program(&self, id: &str, program: &str) -> PathBuf {
        let mut p = self.release_dir(id);
        p.extend(program.split(['/', '\\']));
        p
    }

    /// The index; the default (the spec's command, nothing before) when there is none.
    pub fn index(&self) -> io::Result<Index> {
        match fs::read(self.dir.join("index.json")) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("{} is damaged: {e}", self.dir.join("index.json").display()),
                )
            }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Index::default()),
            Err(e) => Err(e),
        }
    }

    /// Replaces the index atomically, then points the `current` link at the current
    /// release (where the OS has such links; the index is what counts).
    pub fn write_index(&self, index: &Index) -> io::Result<()> {
        let json = serde_json::to_vec_pretty(index).map_err(io::Error::other)?;
        crate::supervise::state::write_atomic(&self.dir.join("index.json"), &json)?;
        let link = self.dir.join("current");
        match &index.current {
            Some(id) => crate::supervise::sys::point_link(&link, Path::new(id)),
            None => match fs::remove_file(&link) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
                _ => Ok(()),
            },
        }
    }

    /// The metadata of release `id`, if it is on disk.
    pub fn meta(&self, id: &str) -> Option<Meta> {
        let bytes = fs::read(self.dir.join(format!("{id}.json"))).ok()?;
        serde_json::from_slice(&bytes).ok()
    }

    /// The release ids on disk (folders with their metadata), sorted.
    pub fn present(&self) -> Vec<String> {
        let mut ids: Vec<String> = fs::read_dir(&self.dir)
            .map(|d| {
                d.filter_map(Result::ok)
                    .filter(|e| e.path().is_dir())
                    .filter_map(|e| e.file_name().into_string().ok())
                    .filter(|id| check_id(id).is_ok())
                    .collect()
            })
            .unwrap_or_default();
        ids.sort();
        ids
    }

    /// Deletes the releases that `keep` no longer covers (see [`to_remove`]); what it
    /// could not delete is said in the returned messages. A release it has no right to
    /// delete is left without a word: one that root switched to while the service was
    /// stopped, which the supervisor (the service's account) cannot remove; `tend
    /// upgrade` run by root removes it after its next switch.
    pub fn prune(&self, index: &Index, keep: u32) -> Vec<String> {
        let mut problems = Vec::new();
        for id in to_remove(index, &self.present(), keep) {
            let removed = fs::remove_dir_all(self.release_dir(&id));
            if matches!(&removed, Err(e) if e.kind() == io::ErrorKind::PermissionDenied) {
                continue;
            }
            if let Err(e) = removed {
                problems.push(format!(
                    "cannot remove old release {}: {}",
                    self.release_dir(&id).display(),
                    crate::text::io_error(&e)
                ));
                continue;
            }
            let _ = fs::remove_file(self.dir.join(format!("{id}.json")));
        }
        // What is gone cannot be rolled back to.
        let trimmed = index.trimmed(&self.present());
        if trimmed != *index {
            if let Err(e) = self.write_index(&trimmed) {
                problems.push(format!(
                    "cannot write the release index: {}",
                    crate::text::io_error(&e)
                ));
            }
        }
        problems
    }

    /// What staging `artifact` would give, without writing anything: the signature
    /// checked, the release id decided (`--dry-run`).
    pub fn check(&self, artifact: &Artifact, keys: &[Key]) -> Result<Staged, StageError> {
        let Checked {
            verified,
            size,
            sha,
            id,
        } = checked(artifact, keys)?;
        let existed = self.meta(&id).is_some_and(|m| m.sha256 == sha);
        Ok(Staged {
            meta: Meta {
                id: id.clone(),
                sha256: sha,
                size,
                source: artifact.source.clone(),
                key: verified.key,
                trusted_comment: verified.trusted_comment,
                added_ms: 0,
            },
            id,
            existed,
        })
    }

    /// Verifies `artifact` against `keys` and puts it on disk as a release holding
    /// `program`, without switching to it. Refused before anything is written when the
    /// signature does not check out; on any failure nothing is left.
    pub fn stage(
        &self,
        artifact: &Artifact,
        keys: &[Key],
        program: &str,
    ) -> Result<Staged, StageError> {
        let what = artifact.source.as_str();
        let Checked {
            verified,
            size,
            sha,
            id,
        } = checked(artifact, keys)?;
        if let Some(had) = self.meta(&id) {
            if self.release_dir(&id).is_dir() {
                if had.sha256 != sha {
                    return Err(StageError::Exists {
                        id,
                        had: had.sha256,
                        has: sha,
                    });
                }
                return Ok(Staged {
                    id,
                    meta: had,
                    existed: true,
                });
            }
        }
        fs::create_dir_all(&self.dir).map_err(io_err(format!("create {}", self.dir.display())))?;
        let target = self.release_dir(&id);
        // A folder without metadata is a leftover of a stage that was cut short, unless
        // the service runs it (its metadata lost): that one is not touched.
        if target.exists()
            && self.index().ok().and_then(|i| i.current).as_deref() == Some(id.as_str())
        {
            return Err(StageError::Io {
                what: format!("replace release {id}"),
                error: format!(
                    "{} is the current release and its {id}.json is missing: give this artifact another --release, or restore {id}.json",
                    target.display()
                ),
            });
        }
        if target.exists() {
            fs::remove_dir_all(&target)
                .map_err(io_err(format!("remove the leftover {}", target.display())))?;
        }
        let staging = self.dir.join(format!(".staging-{id}"));
        let _ = fs::remove_dir_all(&staging);
        let result = (|| {
            match unpack::kind_of(&artifact.path) {
                unpack::Kind::Program => {
                    let dest = {
                        let mut p = staging.clone();
                        p.extend(program.split(['/', '\\']));
                        p
                    };
                    if let Some(parent) = dest.parent() {
                        fs::create_dir_all(parent)
                            .map_err(io_err(format!("create {}", parent.display())))?;
                    }
                    fs::copy(&artifact.path, &dest)
                        .map_err(io_err(format!("copy {what} into {}", dest.display())))?;
                    crate::supervise::sys::make_executable(&dest)
                        .map_err(io_err(format!("make {} executable", dest.display())))?;
                }
                kind => {
                    unpack::unpack(&artifact.path, kind, &staging)?;
                }
            }
            let program_path = {
                let mut p = staging.clone();
                p.extend(program.split(['/', '\\']));
                p
            };
            if !program_path.is_file() {
                return Err(StageError::NoProgram {
                    program: program.to_string(),
                    holds: holds(&staging),
                });
            }
            let meta = Meta {
                id: id.clone(),
                sha256: sha.clone(),
                size,
                source: artifact.source.clone(),
                key: verified.key.clone(),
                trusted_comment: verified.trusted_comment.clone(),
                added_ms: crate::supervise::state::now_ms(),
            };
            fs::rename(&staging, &target).map_err(io_err(format!(
                "move the release into {}",
                target.display()
            )))?;
            let json = serde_json::to_vec_pretty(&meta).map_err(|e| StageError::Io {
                what: "write the release's metadata".into(),
                error: e.to_string(),
            })?;
            crate::supervise::state::write_atomic(&self.dir.join(format!("{id}.json")), &json)
                .map_err(io_err("write the release's metadata"))?;
            Ok(meta)
        })();
        match result {
            Ok(meta) => Ok(Staged {
                id,
                meta,
                existed: false,
            }),
            Err(e) => {
                let _ = fs::remove_dir_all(&staging);
                let _ = fs::remove_dir_all(&target);
                Err(e)
            }
        }
    }
}

/// An artifact whose signature checked out.
struct Checked {
    verified: Verified,
    /// Its size in bytes.
    size: u64,
    /// Its sha256, hex.
    sha: String,
    /// Its release id.
    id: String,
}

/// Checks `artifact`'s signature against `keys` and decides its release id.
fn checked(artifact: &Artifact, keys: &[Key]) -> Result<Checked, StageError> {
    let what = artifact.source.as_str();
    let verified = minisign::verify_file(&artifact.path, &artifact.signature, keys, what)?;
    let size = fs::metadata(&artifact.path)
        .map_err(io_err(format!("read {what}")))?
        .len();
    let sha = hex(&fetch::sha256_file(&artifact.path).map_err(io_err(format!("read {what}")))?);
    let id = release_id(artifact, &verified, &sha)?;
    Ok(Checked {
        verified,
        size,
        sha,
        id,
    })
}

/// The id of a release: `--release`, else the signed `version:`, else `sha256-` and
/// the first 12 hex digits of its hash `sha`.
fn release_id(artifact: &Artifact, verified: &Verified, sha: &str) -> Result<String, StageError> {
    let id = match (&artifact.version, verified.version()) {
        (Some(given), None) if artifact.signed_as_named => {
            return Err(StageError::NotSignedAs {
                given: given.clone(),
                comment: verified.trusted_comment.clone(),
            })
        }
        (Some(given), Some(signed)) if given != signed => {
            return Err(StageError::VersionMismatch {
                given: given.clone(),
                signed: signed.to_string(),
            })
        }
        (Some(v), _) => v.clone(),
        (None, Some(v)) => v.to_string(),
        (None, None) => format!("sha256-{}", &sha[..12]),
    };
    check_id(&id).map_err(StageError::Id)?;
    Ok(id)
}

/// A few names of what a folder holds, for an error message.
fn holds(dir: &Path) -> String {
    let mut names: Vec<String> = fs::read_dir(dir)
        .map(|d| {
            d.filter_map(Result::ok)
                .map(|e| {
                    let mut n = e.file_name().to_string_lossy().into_owned();
                    if e.path().is_dir() {
                        n.push('/');
                    }
                    n
                })
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    match names.len() {
        0 => "nothing".into(),
        n if n > 8 => format!("{} and {} more", names[..8].join(", "), n - 8),
        _ => names.join(", "),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn idx(current: Option<&str>, previous: &[Option<&str>], rolled: &[&str]) -> Index {
        Index {
            current: current.map(str::to_string),
            previous: previous.iter().map(|p| p.map(str::to_string)).collect(),
            rolled_back: rolled.iter().map(|s| s.to_string()).collect(),
            trial: None,
        }
    }

    #[test]
    fn what_is_pruned_is_no_longer_a_release_to_go_back_to() {
        let index = idx(Some("1.3"), &[Some("1.2"), Some("1.1"), None], &[]);
        let present = ["1.3".to_string(), "1.2".to_string()];
        assert_eq!(
            index.trimmed(&present),
            idx(Some("1.3"), &[Some("1.2"), None], &[])
        );
        // keep = 2, upgraded 1.1 → 1.2 → 1.3: two rollbacks reach the spec's command,
        // never the deleted 1.1.
        let after = index.trimmed(&present);
        let back = after.rolled_back().unwrap();
        assert_eq!(back.current.as_deref(), Some("1.2"));
        assert_eq!(back.rolled_back().unwrap().current, None);
    }

    #[test]
    fn a_switch_puts_the_current_release_first_among_the_previous() {
        let cases = [
            // First upgrade: the spec's command is what to go back to.
            (idx(None, &[], &[]), "1.1", idx(Some("1.1"), &[None], &[])),
            (
                idx(Some("1.1"), &[None], &[]),
                "1.2",
                idx(Some("1.2"), &[Some("1.1"), None], &[]),
            ),
            // Back to an older release: it leaves the list, and is not there twice.
            (
                idx(Some("1.2"), &[Some("1.1"), None], &[]),
                "1.1",
                idx(Some("1.1"), &[Some("1.2"), None], &[]),
            ),
            // The same release again: nothing before it changes.
            (
                idx(Some("1.2"), &[Some("1.1")], &["1.3"]),
                "1.2",
                idx(Some("1.2"), &[Some("1.1")], &["1.3"]),
            ),
        ];
        for (before, to, after) in cases {
            assert_eq!(before.switched(to), after, "{before:?} → {to}");
        }
    }

    #[test]
    fn a_rollback_goes_back_one_and_remembers_the_release_left() {
        let cases = [
            (idx(None, &[], &[]), None),
            (
                idx(Some("1.1"), &[None], &[]),
                Some(idx(None, &[], &["1.1"])),
            ),
            (
                idx(Some("1.3"), &[Some("1.2"), Some("1.1")], &["1.3", "0.9"]),
                Some(idx(Some("1.2"), &[Some("1.1")], &["0.9", "1.3"])),
            ),
        ];
        for (before, after) in cases {
            assert_eq!(before.rolled_back(), after, "{before:?}");
        }
    }

    #[test]
    fn pruning_keeps_the_current_and_keep_minus_one_before_it() {
        let present: Vec<String> = ["1.0", "1.1", "1.2", "1.3", "stray"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let index = idx(
            Some("1.3"),
            &[Some("1.2"), None, Some("1.1"), Some("1.0")],
            &[],
        );
        assert_eq!(to_remove(&index, &present, 3), ["1.0", "stray"]);
        assert_eq!(to_remove(&index, &present, 2), ["1.0", "1.1", "stray"]);
        assert_eq!(to_remove(&index, &present, 9), ["stray"]);
        // On the spec's command: only what the list names is kept.
        assert_eq!(
            to_remove(&idx(None, &[Some("1.3")], &[]), &present, 2),
            ["1.0", "1.1", "1.2", "stray"]
        );
    }

    #[test]
    fn release_ids() {
        for ok in [
            "1.4.2",
            "2.0.0-rc.1",
            "v3",
            "1.0+build.5",
            "sha256-0123456789ab",
        ] {
            assert_eq!(check_id(ok), Ok(()), "{ok}");
        }
        for bad in [
            "",
            ".hidden",
            "-x",
            "a/b",
            "..",
            "a b",
            "index",
            "current",
            "x.json",
            &"9".repeat(65),
        ] {
            assert!(check_id(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_default_program_keeps_the_name_the_command_resolved_to() {
        let cases: [(&str, Option<&str>, &str); 6] = [
            ("/opt/orders/orders", Some("/opt/orders/orders"), "orders"),
            ("orders", Some("/usr/bin/orders"), "orders"),
            // Windows: the extension the lookup added is kept.
            (r"C:\app\orders", Some(r"C:\app\orders.exe"), "orders.exe"),
            ("deploy", Some(r"C:\tools\deploy.cmd"), "deploy.cmd"),
            // Not resolved (the CLI, when the program is missing): the command's name.
            (r"C:\app\orders.exe", None, "orders.exe"),
            ("orders", None, "orders"),
        ];
        for (command, resolved, want) in cases {
            let resolved =
                resolved.map(|r| PathBuf::from(r.replace('\\', std::path::MAIN_SEPARATOR_STR)));
            assert_eq!(
                default_program(command, resolved.as_deref()),
                want,
                "{command} -> {resolved:?}"
            );
        }
    }

    #[test]
    fn program_paths_inside_a_release() {
        for ok in ["orders", "bin/orders", "orders.exe", "bin\\orders.exe"] {
            assert_eq!(check_program_path(ok), Ok(()), "{ok}");
        }
        for bad in [
            "",
            "/opt/orders",
            "\\x",
            "C:\\x.exe",
            "../orders",
            "bin//x",
            "./x",
            "bin/..",
        ] {
            assert!(check_program_path(bad).is_err(), "{bad:?}");
        }
    }
}
