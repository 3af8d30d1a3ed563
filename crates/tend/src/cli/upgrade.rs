//! `tend upgrade NAME ARTIFACT` and `tend rollback NAME`: switch a service to a signed
//! release, or back to the one before.
//!
//! The command puts the artifact where the supervisor can read it (the service's
//! `releases/NAME/.incoming/`) and asks the supervisor through the control channel:
//! the supervisor checks the signature against its spec's `[update] public_keys`,
//! unpacks the release, restarts the service on it and keeps it only if it becomes
//! ready within `update.verify_within` (see `supervise::upgrade`). An installed
//! service that is not running is switched here, with the installed spec's keys: its
//! next start runs the release.

use std::path::{Path, PathBuf};

use clap::Args;

use super::exit;
use crate::platform::record::read_record;
use crate::platform::Layout;
use crate::spec::ServiceName;
use crate::supervise::control::{self, ClientError, Request, Upgrade, Verb};
use crate::supervise::{self, event::release_name};
use crate::update::fetch;
use crate::update::minisign::Key;
use crate::update::release::{default_program, Artifact, Store};

/// Arguments of `tend upgrade`.
#[derive(Debug, Args)]
pub struct UpgradeArgs {
    /// The service name.
    pub name: ServiceName,
    /// The release: a program file, or a .tar.gz or .zip of a folder; a path or an
    /// http(s) URL.
    pub artifact: String,
    /// Its minisign signature, a path or URL (default: ARTIFACT.minisig).
    #[arg(long, short = 's', value_name = "FILE")]
    pub signature: Option<String>,
    /// The release's id (default: the `version:` of the signature's trusted comment,
    /// else sha256- and the artifact's first 12 hex digits).
    #[arg(long, value_name = "ID")]
    pub release: Option<String>,
    /// Check the signature and say what would happen; change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Print the outcome as one JSON object.
    #[arg(long)]
    pub json: bool,
    /// Where the `tend run` / `tend up` of a service that is not installed keeps its
    /// state (default: /var/lib/tend as root, else ~/.local/state/tend).
    #[arg(long, env = "TEND_STATE_DIR")]
    pub state_dir: Option<PathBuf>,
}

/// Arguments of `tend rollback`.
#[derive(Debug, Args)]
pub struct RollbackArgs {
    /// The service name.
    pub name: ServiceName,
    /// Print the outcome as one JSON object.
    #[arg(long)]
    pub json: bool,
    /// As for `tend upgrade`.
    #[arg(long, env = "TEND_STATE_DIR")]
    pub state_dir: Option<PathBuf>,
}

/// Arguments of `tend update`.
#[derive(Debug, Args)]
pub struct UpdateArgs {
    #[command(subcommand)]
    what: UpdateWhat,
}

#[derive(Debug, clap::Subcommand)]
enum UpdateWhat {
    /// Check the service's release channel now and say what it names.
    Check(ChannelArgs),
    /// Check the service's release channel now and upgrade to the release it names
    /// (with the same check and rollback as `tend upgrade`).
    Apply(ChannelArgs),
}

/// Arguments of `tend update check|apply`.
#[derive(Debug, Args)]
struct ChannelArgs {
    /// The service name.
    name: ServiceName,
    /// Print the outcome as one JSON object.
    #[arg(long)]
    json: bool,
    /// As for `tend upgrade`.
    #[arg(long, env = "TEND_STATE_DIR")]
    state_dir: Option<PathBuf>,
}

/// `tend update check|apply NAME`: through the supervisor, whose poller checks the
/// channel now.
pub fn update(a: UpdateArgs) -> u8 {
    let (verb, a) = match a.what {
        UpdateWhat::Check(c) => (Verb::UpdateCheck, c),
        UpdateWhat::Apply(c) => (Verb::UpdateApply, c),
    };
    let name = a.name.as_str().to_string();
    let (dir, _) = state_dir_of(&name, a.state_dir.clone());
    let store = Store::of(&dir, &name);
    let req = Request {
        verb,
        service: name.clone(),
        upgrade: None,
    };
    let json = a.json;
    let result = match control::request_with(&dir, req, &mut |p| {
        if !json {
            errln!("tend: {p}");
        }
    }) {
        Ok(done) => Ok(Outcome::of(&name, done)),
        Err(e) => Err(format!(
            "{e} (the channel is checked by the service's running supervisor)"
        )),
    };
    finish(result, &name, &store, json)
}

/// The outcome, for people or as JSON.
#[derive(Debug, serde::Serialize)]
struct Outcome {
    ok: bool,
    service: String,
    /// The release current afterwards (`null`: the spec's command).
    release: Option<String>,
    state: Option<String>,
    message: String,
}

impl Outcome {
    /// What the supervisor answered (the release is read from the index afterwards).
    fn of(name: &str, done: control::Done) -> Outcome {
        Outcome {
            ok: done.ok,
            service: name.to_string(),
            release: None,
            state: done.state,
            message: done.message,
        }
    }
}

/// Where service `name` keeps its state: the install's folder, else `dir` or the
/// default; and whether it is installed.
fn state_dir_of(name: &str, dir: Option<PathBuf>) -> (PathBuf, Option<Layout>) {
    let layout = Layout::system(PathBuf::new());
    if read_record(&layout, name).is_some() {
        (layout.state_dir(name), Some(layout))
    } else {
        (dir.unwrap_or_else(supervise::default_state_dir), None)
    }
}

/// `tend upgrade`.
pub fn upgrade(a: UpgradeArgs) -> u8 {
    let name = a.name.as_str().to_string();
    let (dir, installed) = state_dir_of(&name, a.state_dir.clone());
    let store = Store::of(&dir, &name);
    let result = (|| -> Result<Outcome, String> {
        let signature_from = a
            .signature
            .clone()
            .unwrap_or_else(|| format!("{}.minisig", a.artifact));
        let source = a.artifact.clone();
        // Where the artifact is handed over: the service's incoming folder, written as
        // the owner of its state folder (an installed service's supervisor runs as its
        // account: it must read the file, and root must not write through a link that
        // account planted there). A dry run that finds no such folder (no supervisor
        // with [update] made it) creates none: it uses a private temporary folder.
        let incoming = store.incoming();
        let private = a.dry_run && !incoming.is_dir();
        let folder = if private {
            private_folder()?
        } else {
            incoming.clone()
        };
        let owner = if private { folder.clone() } else { dir.clone() };
        // Root reads local files first: they may be root's alone.
        let mut local = match is_url(&a.artifact) {
            true => None,
            false => {
                let path = local_path(&a.artifact)?;
                let file = std::fs::File::open(&path).map_err(|e| {
                    format!(
                        "cannot read {}: {}",
                        path.display(),
                        crate::text::io_error(&e)
                    )
                })?;
                Some((file, file_name(&path)))
            }
        };
        let local_signature = match is_url(&signature_from) {
            true => None,
            false => Some(
                small_file(&signature_from, &folder).map_err(|e| sig_error(&signature_from, e))?,
            ),
        };
        let progress = if a.json {
            fetch::Progress::None
        } else {
            fetch::Progress::Bar
        };
        let handed =
            supervise::sys::as_owner_of(&owner, || -> Result<(PathBuf, String), String> {
                std::fs::create_dir_all(&folder).map_err(|e| {
                    format!(
                        "cannot create {}: {}",
                        folder.display(),
                        crate::text::io_error(&e)
                    )
                })?;
                let signature = match local_signature {
                    Some(s) => s,
                    None => small_file(&signature_from, &folder)
                        .map_err(|e| sig_error(&signature_from, e))?,
                };
                let dest = match local.as_mut() {
                    Some((file, base)) => {
                        let dest = folder.join(format!("{}-{base}", unique()));
                        supervise::sys::copy_to_new(file, &dest).map_err(|e| {
                            format!(
                                "cannot copy the artifact to {}: {}",
                                dest.display(),
                                crate::text::io_error(&e)
                            )
                        })?;
                        dest
                    }
                    // Named after its URL, so that a download cut short resumes next time.
                    None => {
                        let dest = folder.join(format!("download-{}", url_file_name(&a.artifact)));
                        let opts = fetch::Options {
                            progress,
                            ..Default::default()
                        };
                        download(&a.artifact, &dest, &opts)?;
                        dest
                    }
                };
                Ok((dest, signature))
            })
            .map_err(|e| {
                format!(
                    "cannot act as the owner of {}: {}",
                    owner.display(),
                    crate::text::io_error(&e)
                )
            })?;
        let (artifact, signature) = match handed {
            Ok(h) => h,
            Err(e) => {
                if private {
                    let _ = std::fs::remove_dir_all(&folder);
                }
                return Err(e);
            }
        };
        let up = Upgrade {
            artifact: artifact.clone(),
            signature,
            source,
            version: a.release.clone(),
            dry_run: a.dry_run,
            signed_as_named: false,
        };
        let outcome = ask_or_do(&dir, &name, installed.as_ref(), &store, up, a.json);
        let _ = std::fs::remove_file(&artifact);
        if private {
            let _ = std::fs::remove_dir_all(&folder);
        }
        outcome
    })();
    if !a.dry_run {
        audited("upgrade", &result, &name, &dir, installed.as_ref());
    }
    finish(result, &name, &store, a.json)
}

/// Appends `action` on `name` and its result to the audit log: the system one for an
/// installed service (`layout`), else the one of the supervisor's state folder `dir`.
fn audited(
    action: &str,
    result: &Result<Outcome, String>,
    name: &str,
    dir: &Path,
    layout: Option<&Layout>,
) {
    let error = match result {
        Ok(o) if o.ok => None,
        Ok(o) => Some(o.message.as_str()),
        Err(e) => Some(e.as_str()),
    };
    let root = layout.map_or(dir, |l| l.state_root.as_path());
    let spec = layout.map(|l| l.spec_path(name));
    let before = spec.as_deref().and_then(|p| std::fs::read(p).ok());
    super::audit::note(
        root,
        name,
        action,
        before.as_deref(),
        spec.as_deref(),
        error.map_or(Ok(()), Err),
    );
}

/// The error for a signature that cannot be read.
fn sig_error(from: &str, e: String) -> String {
    format!("cannot read the signature {from}: {e} (give it with --signature FILE)")
}

/// A name no other `tend upgrade` uses at the same time.
fn unique() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("{}-{nanos}", std::process::id())
}

/// A new folder of this process's own in the temporary folder (one that exists, a
/// link planted there, is an error).
fn private_folder() -> Result<PathBuf, String> {
    let p = std::env::temp_dir().join(format!("tend-upgrade-{}", unique()));
    std::fs::create_dir(&p).map_err(|e| {
        format!(
            "cannot create {}: {}",
            p.display(),
            crate::text::io_error(&e)
        )
    })?;
    Ok(p)
}

/// `tend rollback`.
pub fn rollback(a: RollbackArgs) -> u8 {
    let name = a.name.as_str().to_string();
    let (dir, installed) = state_dir_of(&name, a.state_dir.clone());
    let store = Store::of(&dir, &name);
    let req = Request {
        verb: Verb::Rollback,
        service: name.clone(),
        upgrade: None,
    };
    let result = match control::request_with(&dir, req, &mut |p| errln!("tend: {p}")) {
        Ok(done) => Ok(Outcome::of(&name, done)),
        Err(ClientError::NotRunning { .. } | ClientError::Stale { .. }) if installed.is_some() => {
            supervise::sys::as_owner_of(&dir, || rollback_here(&name, &store))
                .map_err(|e| {
                    format!(
                        "cannot act as the owner of {}: {}",
                        dir.display(),
                        crate::text::io_error(&e)
                    )
                })
                .and_then(|r| r)
        }
        Err(e) => Err(e.to_string()),
    };
    audited("rollback", &result, &name, &dir, installed.as_ref());
    finish(result, &name, &store, a.json)
}

/// Asks the supervisor of `name` to upgrade; an installed service that no supervisor
/// runs is switched here.
fn ask_or_do(
    dir: &Path,
    name: &str,
    installed: Option<&Layout>,
    store: &Store,
    up: Upgrade,
    json: bool,
) -> Result<Outcome, String> {
    let req = Request {
        verb: Verb::Upgrade,
        service: name.to_string(),
        upgrade: Some(up.clone()),
    };
    let mut progress = |p: &str| {
        if !json {
            errln!("tend: {p}");
        }
    };
    match control::request_with(dir, req, &mut progress) {
        Ok(done) => {
            // The supervisor runs as the service's account, which cannot delete the
            // releases root switched to while the service was stopped: root does.
            if done.ok && !up.dry_run {
                let keep = installed
                    .and_then(|l| installed_update(l, name).ok())
                    .map(|(_, u)| u.keep);
                if let (Some(keep), Ok(index)) = (keep, store.index()) {
                    let _ = supervise::sys::as_owner_of(dir, || store.prune(&index, keep));
                }
            }
            Ok(Outcome::of(name, done))
        }
        Err(ClientError::NotRunning { .. } | ClientError::Stale { .. }) if installed.is_some() => {
            let layout = installed.expect("checked");
            // As the owner of the state folder: the releases are the service's, and
            // root writes through none of its links.
            // (The installed spec is read first, as root: it may be root's alone.)
            let installed = installed_update(layout, name)?;
            supervise::sys::as_owner_of(dir, || upgrade_here(name, layout, installed, store, up))
                .map_err(|e| {
                    format!(
                        "cannot act as the owner of {}: {}",
                        dir.display(),
                        crate::text::io_error(&e)
                    )
                })?
        }
        Err(e) => Err(format!("`{name}` not upgraded: {e}")),
    }
}

/// Upgrades an installed service that is not running: staged and switched here,
/// checked against the installed spec's keys; its next start runs it.
fn upgrade_here(
    name: &str,
    layout: &Layout,
    (spec, update): (crate::spec::Spec, crate::spec::Update),
    store: &Store,
    up: Upgrade,
) -> Result<Outcome, String> {
    let update = &update;
    let keys: Vec<Key> = update
        .public_keys
        .iter()
        .filter_map(|k| Key::parse(k).ok())
        .collect();
    // As the supervisor names it: after the file the command resolves to.
    let program = update.program.clone().unwrap_or_else(|| {
        let path_var = spec
            .env
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("PATH"))
            .map(|(_, v)| std::ffi::OsString::from(v))
            .or_else(|| std::env::var_os("PATH"));
        let resolved = crate::supervise::sys::resolve_command(
            &spec.command,
            &crate::supervise::prepare::spec_base(&layout.spec_path(name)),
            path_var.as_deref(),
        )
        .ok();
        default_program(&spec.command, resolved.as_deref())
    });
    let artifact = Artifact {
        path: up.artifact,
        signature: up.signature,
        source: up.source,
        version: up.version,
        signed_as_named: up.signed_as_named,
    };
    let index = store.index().map_err(|e| crate::text::io_error(&e))?;
    let staged = if up.dry_run {
        store.check(&artifact, &keys)
    } else {
        store.stage(&artifact, &keys, &program)
    }
    .map_err(|e| format!("`{name}` not upgraded: {e}; nothing changed"))?;
    let to = staged.id;
    let from = index.current.clone();
    if from.as_deref() == Some(to.as_str()) {
        return Ok(Outcome {
            ok: true,
            service: name.into(),
            release: Some(to.clone()),
            state: None,
            message: format!("`{name}` has release {to} already: nothing to do"),
        });
    }
    if up.dry_run {
        return Ok(Outcome {
            ok: true,
            service: name.into(),
            release: from.clone(),
            state: None,
            message: format!(
                "would switch `{name}` from {} to release {to} (signed by key {}); it is not running, so its next start runs it; nothing changed (dry run)",
                release_name(from.as_deref()),
                staged.meta.key
            ),
        });
    }
    let next = index.switched(&to);
    store.write_index(&next).map_err(|e| {
        format!(
            "cannot write the release index: {}",
            crate::text::io_error(&e)
        )
    })?;
    let mut message = format!(
        "`{name}` switched from {} to release {to}; it is not running: `tend start {name}` runs it",
        release_name(from.as_deref())
    );
    for problem in store.prune(&next, update.keep) {
        message.push_str(&format!("; warning: {problem}"));
    }
    Ok(Outcome {
        ok: true,
        service: name.into(),
        release: Some(to),
        state: None,
        message,
    })
}

/// The installed spec of `name` and its `[update]`.
fn installed_update(
    layout: &Layout,
    name: &str,
) -> Result<(crate::spec::Spec, crate::spec::Update), String> {
    let spec_path = layout.spec_path(name);
    let loaded = crate::spec::load_file(&spec_path, &Default::default()).map_err(|e| {
        format!(
            "cannot read the installed spec {}: {e}",
            spec_path.display()
        )
    })?;
    let spec = loaded
        .services
        .into_iter()
        .next()
        .ok_or_else(|| format!("{} has no service", spec_path.display()))?;
    let Some(update) = spec.update.clone() else {
        return Err(format!(
            "`{name}` has no [update] in its spec ({}), so no release can be verified: add [update] public_keys = [\"RW...\"] and `tend install` it again",
            spec_path.display()
        ));
    };
    Ok((spec, update))
}

/// Rolls back an installed service that is not running.
fn rollback_here(name: &str, store: &Store) -> Result<Outcome, String> {
    let index = store.index().map_err(|e| crate::text::io_error(&e))?;
    let Some(back) = index.rolled_back() else {
        return Err(format!(
            "`{name}` runs {} and has no release before it to roll back to",
            release_name(index.current.as_deref())
        ));
    };
    store.write_index(&back).map_err(|e| {
        format!(
            "cannot write the release index: {}",
            crate::text::io_error(&e)
        )
    })?;
    Ok(Outcome {
        ok: true,
        service: name.into(),
        release: back.current.clone(),
        state: None,
        message: format!(
            "`{name}` rolled back to {}; it is not running: `tend start {name}` runs it",
            release_name(back.current.as_deref())
        ),
    })
}

/// Prints the outcome and returns the exit code.
fn finish(result: Result<Outcome, String>, name: &str, store: &Store, json: bool) -> u8 {
    let mut outcome = result.unwrap_or_else(|message| Outcome {
        ok: false,
        service: name.to_string(),
        release: None,
        state: None,
        message,
    });
    outcome.release = store
        .index()
        .ok()
        .and_then(|i| i.current)
        .or(outcome.release);
    if json {
        outln!("{}", serde_json::to_string(&outcome).unwrap_or_default());
    } else if outcome.ok {
        outln!("{}", outcome.message);
    } else {
        errln!("error: {}", outcome.message);
        errln!("  = help: `tend status {name}` shows its state and releases, `tend logs {name}` its output");
    }
    if outcome.ok {
        exit::OK
    } else {
        exit::ERROR
    }
}

/// Whether an artifact argument is a URL to download.
fn is_url(arg: &str) -> bool {
    arg.starts_with("http://") || arg.starts_with("https://")
}

/// The local file an artifact argument names (a path, or a `file://` URL).
fn local_path(arg: &str) -> Result<PathBuf, String> {
    if arg.starts_with("file://") {
        return fetch::file_url_path(arg);
    }
    Ok(PathBuf::from(arg))
}

/// A name for the download of `url`: its last path segment (without query), made of
/// safe characters, else `artifact`.
fn url_file_name(url: &str) -> String {
    let path = url.split(['?', '#']).next().unwrap_or(url);
    let last = path.rsplit('/').next().unwrap_or("");
    let safe: String = last
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '+') {
                c
            } else {
                '_'
            }
        })
        .collect();
    if safe.trim_matches(['.', '_']).is_empty() {
        "artifact".into()
    } else {
        safe
    }
}

/// Downloads `url` to `dest` (resuming a `.part` left there), as `opts` say.
fn download(url: &str, dest: &Path, opts: &fetch::Options) -> Result<PathBuf, String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| crate::text::io_error(&e))?;
    rt.block_on(fetch::download(url, dest, &fetch::Expect::default(), opts))
        .map(|d| d.path)
        .map_err(|e| e.to_string())
}

/// A small file (a signature): a path, or a URL downloaded into `folder` (as whoever
/// runs this).
fn small_file(arg: &str, folder: &Path) -> Result<String, String> {
    if is_url(arg) {
        let dest = folder.join(format!("signature-{}", unique()));
        let opts = fetch::Options {
            max_size: 8192,
            ..Default::default()
        };
        let got = download(arg, &dest, &opts);
        let bytes = got.and_then(|p| std::fs::read(p).map_err(|e| crate::text::io_error(&e)));
        let _ = std::fs::remove_file(&dest);
        let _ = std::fs::remove_file(fetch::part_path(&dest));
        return check_small(bytes?);
    }
    let bytes = std::fs::read(local_path(arg)?).map_err(|e| crate::text::io_error(&e))?;
    check_small(bytes)
}

/// A signature's bytes as text, if they can be one.
fn check_small(bytes: Vec<u8>) -> Result<String, String> {
    if bytes.len() > 8192 {
        return Err("it is larger than a minisign signature".into());
    }
    String::from_utf8(bytes).map_err(|_| "it is not text".into())
}

fn file_name(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "artifact".into())
}
