//! `tend doctor`: why a service is not running, or will not, and what to do. The
//! facts are observed first, at the edge ([`observe`]: the state file, the spec, the
//! program's file and folders, `ldd`, the ports); the findings are then decided from
//! them alone by a pure function ([`diagnose`]), table-tested like the supervisor's
//! policies. Each finding carries its evidence and, where there is one, a command that
//! fixes it. A check that could not be made (not root, not on this OS) is listed as
//! skipped, never passed silently.

use std::net::{SocketAddr, TcpListener, ToSocketAddrs};
use std::path::{Path, PathBuf};

use clap::Args;
use serde::Serialize;

use super::exit;
use super::status::{self, Row};
use crate::explain::{self, Family};
use crate::platform::Layout;
use crate::spec::{SocketAddress, Spec};
use crate::supervise::sys::{AccountIds, Perm};
use crate::supervise::{self, state, sys};

/// Arguments of `tend doctor`.
#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// A service name (installed, or with state from `tend run`/`tend up`), or a spec
    /// file (its services, also before they ever ran); by default every service.
    #[arg(value_name = "NAME|SPEC")]
    pub name: Option<String>,
    /// Print JSON: an array with one object per service (see the README).
    #[arg(long)]
    pub json: bool,
    /// Where state files are (default: /var/lib/tend as root, else ~/.local/state/tend).
    #[arg(long, env = "TEND_STATE_DIR")]
    pub state_dir: Option<PathBuf>,
}

/// How much a finding matters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Severity {
    /// It stops the service from running, or running well.
    Problem,
    /// Worth knowing; it may be the cause.
    Note,
}

/// One finding: what is wrong, the facts that show it, and what to do.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub(crate) struct Finding {
    /// A stable id for scripts: `last-exit`, `crash-loop`, `program`, ...
    pub(crate) id: &'static str,
    pub(crate) severity: Severity,
    /// What is wrong, one line.
    pub(crate) summary: String,
    /// The facts that show it.
    pub(crate) evidence: Vec<String>,
    /// A command or change that fixes it.
    pub(crate) fix: Option<String>,
}

/// The program, as observed.
#[derive(Clone, Debug, Default)]
pub(crate) struct ProgramFacts {
    /// The spec's `command`.
    pub(crate) command: String,
    /// Where it resolves to, or why it does not (for tend's own account).
    pub(crate) resolved: Option<Result<PathBuf, String>>,
    /// The program file and each folder above it, with owner and mode where known.
    pub(crate) chain: Vec<(PathBuf, Option<Perm>)>,
    /// `ldd`'s report on it, where there is `ldd`.
    pub(crate) ldd: Option<String>,
}

/// A port the service needs, as observed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct PortFacts {
    /// What needs it: `[[listen]] http`, `[health]`.
    pub(crate) what: String,
    /// The address.
    pub(crate) address: String,
    /// Whether another process listens there (None: not checked).
    pub(crate) in_use: Option<bool>,
    /// That process (`pid 42 (nginx)`), where it could be named.
    pub(crate) holder: Option<String>,
}

/// Everything observed of one service: the input of [`diagnose`].
#[derive(Clone, Debug)]
pub(crate) struct Facts {
    pub(crate) name: String,
    pub(crate) spec_path: Option<PathBuf>,
    /// Why the spec could not be read, when it could not.
    pub(crate) spec_error: Option<String>,
    pub(crate) installed: bool,
    /// The supervisor's view, from its state file.
    pub(crate) status: Option<state::Status>,
    pub(crate) supervisor_alive: bool,
    /// The installed unit differs from what its spec renders now.
    pub(crate) drift: Option<bool>,
    /// `restart.max_restarts` (0: no limit).
    pub(crate) max_restarts: Option<u32>,
    pub(crate) program: Option<ProgramFacts>,
    /// The account the child runs as.
    pub(crate) account: Option<Result<AccountIds, String>>,
    /// The working folder and each folder above it.
    pub(crate) working_dir: Vec<(PathBuf, Option<Perm>)>,
    pub(crate) ports: Vec<PortFacts>,
    /// Whether the doctor runs as root (it sees every process, may read every file).
    pub(crate) root: bool,
    pub(crate) family: Family,
}

/// One service's diagnosis.
#[derive(Debug, Serialize)]
pub(crate) struct Report {
    pub(crate) name: String,
    pub(crate) spec: Option<PathBuf>,
    pub(crate) findings: Vec<Finding>,
    /// Checks not made, and why (`needs root`, not on this OS).
    pub(crate) skipped: Vec<String>,
}

/// What access is asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Want {
    /// Execute a file, or enter a folder.
    Exec,
}

/// Whether `who` may `want` a file with `perm`, by the Unix permission bits (root may
/// execute what has any execute bit, and enter any folder that has one).
pub(crate) fn permits(perm: Perm, who: &AccountIds, want: Want) -> bool {
    let Want::Exec = want;
    let bit = 1;
    if who.uid == 0 {
        return perm.mode & 0o111 != 0;
    }
    let shift = if perm.uid == who.uid {
        6
    } else if who.gids.contains(&perm.gid) {
        3
    } else {
        0
    };
    (perm.mode >> shift) & bit != 0
}

/// The libraries `ldd` reports as not found.
pub(crate) fn missing_libraries(ldd: &str) -> Vec<String> {
    ldd.lines()
        .filter_map(|l| {
            let (lib, rest) = l.trim().split_once("=>")?;
            (rest.trim() == "not found").then(|| lib.trim().to_string())
        })
        .collect()
}

/// The `host:port` of a health probe's `http://` URL or `tcp` address.
pub(crate) fn probe_address(http: Option<&str>, tcp: Option<&str>) -> Option<String> {
    if let Some(t) = tcp {
        return Some(t.to_string());
    }
    let url = http?;
    let (scheme, rest) = url.split_once("://")?;
    let authority = rest.split(['/', '?', '#']).next()?;
    let authority = authority.rsplit('@').next()?;
    let has_port = match authority.rfind(']') {
        Some(end) => authority[end..].contains(':'),
        None => authority.contains(':'),
    };
    Some(if has_port {
        authority.to_string()
    } else {
        let port = if scheme == "https" { 443 } else { 80 };
        format!("{authority}:{port}")
    })
}

/// The first entry of `chain` (a file, then the folders above it) that `who` may not
/// use as `last` wants (the folders: enter).
fn blocked(
    chain: &[(PathBuf, Option<Perm>)],
    who: &AccountIds,
    last: Want,
) -> Option<(PathBuf, Perm, Want)> {
    chain.iter().enumerate().find_map(|(i, (path, perm))| {
        let want = if i == 0 { last } else { Want::Exec };
        // Root enters every folder.
        if i > 0 && who.uid == 0 {
            return None;
        }
        let perm = (*perm)?;
        (!permits(perm, who, want)).then(|| (path.clone(), perm, want))
    })
}

fn want_word(w: Want) -> &'static str {
    match w {
        Want::Exec => "execute",
    }
}

/// The findings for `f`, most important first, and the checks that could not be made.
pub(crate) fn diagnose(f: &Facts) -> (Vec<Finding>, Vec<String>) {
    let mut out = Vec::new();
    let mut skipped = Vec::new();
    let spec_arg = f
        .spec_path
        .as_ref()
        .map_or_else(|| "SPEC".to_string(), |p| p.display().to_string());
    if let Some(e) = &f.spec_error {
        out.push(Finding {
            id: "spec",
            severity: Severity::Problem,
            summary: "its spec cannot be read".to_string(),
            evidence: vec![e.clone()],
            fix: Some(format!("tend check {spec_arg}")),
        });
    }
    let live = f.supervisor_alive;
    if let Some(s) = &f.status {
        if !live
            && matches!(
                s.state,
                state::State::Starting
                    | state::State::Running
                    | state::State::Backoff
                    | state::State::Stopping
            )
        {
            out.push(Finding {
                id: "stale",
                severity: Severity::Problem,
                summary: format!(
                    "its supervisor (pid {}) is gone while the state file says {}",
                    s.supervisor_pid,
                    s.state.as_str()
                ),
                evidence: vec!["the supervisor's lock is not held".to_string()],
                fix: Some(if f.installed {
                    format!("tend start {}", f.name)
                } else {
                    format!("tend run {spec_arg}")
                }),
            });
        }
        let failed = s.state == state::State::Failed;
        let limit = f.max_restarts.unwrap_or(0);
        if failed && limit > 0 && s.restarts >= u64::from(limit) {
            let mut evidence = vec![format!(
                "{} restarts; restart.max_restarts = {limit}",
                s.restarts
            )];
            evidence.extend(s.message.clone());
            out.push(Finding {
                id: "crash-loop",
                severity: Severity::Problem,
                summary: "it crashed repeatedly and hit the restart limit: tend gave up"
                    .to_string(),
                evidence,
                fix: Some(format!(
                    "tend logs {} (why it ends), then {}",
                    f.name,
                    if f.installed || live {
                        format!("tend start {}", f.name)
                    } else {
                        format!("tend run {spec_arg}")
                    }
                )),
            });
        }
        if let Some(e) = &s.last_exit {
            let words = explain::ending(e.code, e.signal.as_deref(), f.family);
            let bad = e.code != Some(0);
            let mut evidence = vec![format!("last exit: {words}")];
            evidence.extend(s.last_stderr.iter().map(|l| format!("last stderr: {l}")));
            out.push(Finding {
                id: "last-exit",
                severity: if bad && s.pid.is_none() {
                    Severity::Problem
                } else {
                    Severity::Note
                },
                summary: format!("its last child ended with {words}"),
                evidence,
                fix: bad.then(|| format!("tend logs {}", f.name)),
            });
        }
        if let Some(h) = s.health.as_ref().filter(|_| live && s.pid.is_some()) {
            let failing = h.state == state::HealthState::Unhealthy
                || h.last_probe.as_ref().is_some_and(|p| !p.ok);
            if failing {
                let mut evidence = vec![format!(
                    "health: {} ({} failures in a row)",
                    h.state.as_str(),
                    h.failures
                )];
                evidence.extend(
                    h.last_probe
                        .as_ref()
                        .map(|p| format!("last probe: {}", p.result)),
                );
                evidence.extend(h.last_error.as_ref().map(|e| format!("last error: {e}")));
                out.push(Finding {
                    id: "health",
                    severity: Severity::Problem,
                    summary: "its health probe fails".to_string(),
                    evidence,
                    fix: Some(format!(
                        "check that the service answers on what [health] probes; tend logs {}",
                        f.name
                    )),
                });
            }
        }
    }
    if let Some(p) = &f.program {
        match &p.resolved {
            Some(Err(e)) => out.push(Finding {
                id: "program",
                severity: Severity::Problem,
                summary: "its program cannot be run".to_string(),
                evidence: vec![format!("command = {:?}: {e}", p.command)],
                fix: Some(format!(
                    "install the program, or correct `command` in {spec_arg} (`chmod +x` it if it is there)"
                )),
            }),
            Some(Ok(path)) => {
                match &f.account {
                    Some(Ok(who)) if p.chain.iter().any(|(_, perm)| perm.is_some()) => {
                        if let Some((at, perm, want)) = blocked(&p.chain, who, Want::Exec) {
                            out.push(Finding {
                                id: "program-access",
                                severity: Severity::Problem,
                                summary: format!(
                                    "its account {} cannot {} {}",
                                    who.name,
                                    if at == *path { want_word(want) } else { "enter" },
                                    at.display()
                                ),
                                evidence: vec![format!(
                                    "{}: owner {}, group {}, mode {:o}; {} is uid {}",
                                    at.display(),
                                    perm.uid,
                                    perm.gid,
                                    perm.mode,
                                    who.name,
                                    who.uid
                                )],
                                fix: Some(if at == *path {
                                    format!("chmod a+rx {}", at.display())
                                } else {
                                    format!("chmod a+x {}", at.display())
                                }),
                            });
                        }
                    }
                    Some(Err(e)) => skipped.push(format!("the account's access to the program: {e}")),
                    _ => skipped.push("the account's access to the program: no permission bits on this OS".to_string()),
                }
                match &p.ldd {
                    Some(text) => {
                        let missing = missing_libraries(text);
                        if !missing.is_empty() {
                            out.push(Finding {
                                id: "library",
                                severity: Severity::Problem,
                                summary: format!(
                                    "its program needs shared libraries that are not installed: {}",
                                    missing.join(", ")
                                ),
                                evidence: text
                                    .lines()
                                    .filter(|l| l.contains("not found"))
                                    .map(|l| format!("ldd {}: {}", path.display(), l.trim()))
                                    .collect(),
                                fix: Some(
                                    "install the package that provides them (`apt-file search NAME`, `dnf provides */NAME`), or set LD_LIBRARY_PATH in [env]"
                                        .to_string(),
                                ),
                            });
                        }
                    }
                    None => skipped.push("shared libraries: no `ldd` here".to_string()),
                }
            }
            None => {}
        }
    }
    if let Some(Ok(who)) = &f.account {
        if let Some((at, perm, _)) = blocked(&f.working_dir, who, Want::Exec) {
            out.push(Finding {
                id: "working-dir",
                severity: Severity::Problem,
                summary: format!("its account {} cannot enter its working folder", who.name),
                evidence: vec![format!(
                    "{}: owner {}, group {}, mode {:o}",
                    at.display(),
                    perm.uid,
                    perm.gid,
                    perm.mode
                )],
                fix: Some(format!(
                    "chmod a+x {} (or chown it to {})",
                    at.display(),
                    who.name
                )),
            });
        }
    }
    for port in &f.ports {
        let listen = port.what.starts_with("[[listen]]");
        // A live supervisor holds its own [[listen]] sockets; a running child answers
        // its own health probe.
        let ours = if listen {
            live
        } else {
            live && f.status.as_ref().is_some_and(|s| s.pid.is_some())
        };
        match port.in_use {
            Some(true) if !ours => {
                let by = port.holder.clone().unwrap_or_else(|| {
                    if f.root {
                        "a process tend cannot name".to_string()
                    } else {
                        "another process (run as root to name it)".to_string()
                    }
                });
                out.push(Finding {
                    id: "port",
                    severity: if listen {
                        Severity::Problem
                    } else {
                        Severity::Note
                    },
                    summary: if listen {
                        format!("the address of {} is held by {by}", port.what)
                    } else {
                        format!("something else answers the health probe's address: {by}")
                    },
                    evidence: vec![format!("{} {} is in use by {by}", port.what, port.address)],
                    fix: Some(format!(
                        "stop {by}, or give {} another address in {spec_arg}",
                        port.what
                    )),
                });
            }
            None => skipped.push(format!("{} {}: not checked", port.what, port.address)),
            _ => {}
        }
    }
    if f.drift == Some(true) {
        out.push(Finding {
            id: "drift",
            severity: Severity::Problem,
            summary: "the installed service differs from what its spec gives now".to_string(),
            evidence: vec![format!(
                "rendered from {spec_arg}, compared with the installed files"
            )],
            fix: Some(format!("tend install {spec_arg}")),
        });
    }
    if !f.root
        && f.ports
            .iter()
            .any(|p| p.in_use == Some(true) && p.holder.is_none())
    {
        skipped.push("naming the process that holds a port: needs root".to_string());
    }
    out.sort_by_key(|x| x.severity != Severity::Problem);
    (out, skipped)
}

/// The path and each folder above it, with owner and mode.
fn chain(path: &Path) -> Vec<(PathBuf, Option<Perm>)> {
    path.ancestors()
        .filter(|p| !p.as_os_str().is_empty())
        .map(|p| {
            let perm = std::fs::metadata(p).ok().as_ref().and_then(sys::perm_of);
            (p.to_path_buf(), perm)
        })
        .collect()
}

/// Whether another process listens on `addr`: bound for a moment to find out (`None`
/// when the answer is unclear: no permission for a low port, an address not here).
fn tcp_in_use(addr: &str) -> (Option<bool>, u16) {
    let Some(sa) = addr.to_socket_addrs().ok().and_then(|mut a| a.next()) else {
        return (None, 0);
    };
    let probe = |sa: SocketAddr| match TcpListener::bind(sa) {
        Ok(_) => Some(false),
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => Some(true),
        Err(_) => None,
    };
    (probe(sa), sa.port())
}

/// The facts of one port.
fn port_facts(what: String, address: String) -> PortFacts {
    let (in_use, port) = tcp_in_use(&address);
    let holder = in_use.filter(|u| *u).and_then(|_| sys::listener_of(port));
    PortFacts {
        what,
        address,
        in_use,
        holder,
    }
}

/// Observes what [`diagnose`] needs of service `spec` (or of a spec that could not be
/// read), with its state where it has any.
fn observe(
    row: Option<&Row>,
    name: &str,
    spec_path: Option<PathBuf>,
    spec: Result<Option<Spec>, String>,
) -> Facts {
    let (spec, spec_error) = match spec {
        Ok(s) => (s, None),
        Err(e) => (None, Some(e)),
    };
    let live = row.is_some_and(|r| r.supervisor_alive);
    let base = spec_path
        .as_ref()
        .and_then(|p| p.parent())
        .map(Path::to_path_buf)
        .unwrap_or_default();
    let program = spec.as_ref().map(|s| {
        let path_var = s
            .env
            .get("PATH")
            .map(std::ffi::OsString::from)
            .or_else(|| std::env::var_os("PATH"));
        let resolved =
            sys::resolve_command(&s.command, &base, path_var.as_deref()).map_err(|e| e.to_string());
        let (chain, ldd) = match &resolved {
            Ok(p) => (chain(p), sys::ldd(p)),
            Err(_) => (Vec::new(), None),
        };
        ProgramFacts {
            command: s.command.clone(),
            resolved: Some(resolved),
            chain,
            ldd,
        }
    });
    let account = spec
        .as_ref()
        .map(|s| sys::account_ids(s.user.as_deref(), s.group.as_deref()));
    let working_dir = spec
        .as_ref()
        .and_then(|s| s.working_dir.clone())
        .map(|d| chain(&d))
        .unwrap_or_default();
    let mut ports = Vec::new();
    if let Some(s) = &spec {
        for l in &s.listen {
            if let SocketAddress::Tcp(a) = &l.address {
                let what = format!("[[listen]] {}", l.name);
                ports.push(if live {
                    PortFacts {
                        what,
                        address: a.to_string(),
                        in_use: Some(true),
                        holder: None,
                    }
                } else {
                    port_facts(what, a.to_string())
                });
            }
        }
        if let Some(h) = &s.health {
            if let Some(a) = probe_address(h.http.as_deref(), h.tcp.as_deref()) {
                ports.push(port_facts("[health]".to_string(), a));
            }
        }
    }
    Facts {
        name: name.to_string(),
        spec_path,
        spec_error,
        installed: row.is_some_and(|r| r.installed),
        status: row.and_then(|r| r.status.clone()),
        supervisor_alive: live,
        drift: row.and_then(|r| r.drift),
        max_restarts: spec.as_ref().map(|s| s.restart.max_restarts),
        program,
        account,
        working_dir,
        ports,
        root: sys::is_root(),
        family: Family::HOST,
    }
}

/// The spec of service `name` in the file at `path`.
fn load_spec(path: &Path, name: &str) -> Result<Option<Spec>, String> {
    let loaded = crate::spec::load_file(path, &crate::spec::LoadOptions::with_process_env())
        .map_err(|e| e.to_string())?;
    Ok(loaded
        .services
        .into_iter()
        .find(|s| s.name.as_str() == name))
}

/// Whether `target` names a spec file rather than a service.
fn is_spec_file(target: &str) -> bool {
    target.ends_with(".toml") || target.contains(['/', '\\'])
}

/// `tend doctor`.
pub fn doctor(a: DoctorArgs) -> u8 {
    let now = state::now_ms();
    let layout = Layout::system(PathBuf::new());
    let dir = a.state_dir.unwrap_or_else(supervise::default_state_dir);
    let mut reports = Vec::new();
    match a.name.as_deref() {
        Some(t) if is_spec_file(t) => {
            let path = PathBuf::from(t);
            let loaded = match crate::spec::load_file(
                &path,
                &crate::spec::LoadOptions::with_process_env(),
            ) {
                Ok(l) => l,
                Err(e) => return super::spec_error(&e),
            };
            let rows = status::rows(&layout, &dir, &[], now);
            for spec in loaded.services {
                let name = spec.name.as_str().to_string();
                let row = rows.iter().find(|r| {
                    r.name == name && r.spec.as_deref().is_some_and(|p| same_file(p, &path))
                });
                let facts = observe(row, &name, Some(path.clone()), Ok(Some(spec)));
                reports.push(report(&facts));
            }
        }
        target => {
            let only: Vec<crate::spec::ServiceName> = match target {
                Some(t) => match t.parse() {
                    Ok(n) => vec![n],
                    Err(e) => {
                        errln!("error: `{t}` is neither a service name nor a spec file: {e}");
                        return exit::USAGE;
                    }
                },
                None => Vec::new(),
            };
            let rows: Vec<Row> = status::rows(&layout, &dir, &only, now)
                .into_iter()
                .filter(|r| only.is_empty() || r.name == only[0].as_str())
                .collect();
            if rows.is_empty() {
                if let Some(t) = target {
                    errln!(
                        "error: `{t}` is neither installed nor has state in {}",
                        dir.display()
                    );
                    errln!("  = help: give the spec file instead (`tend doctor ./{t}.toml`) to check a service that never ran");
                    return exit::ERROR;
                }
            }
            for row in &rows {
                let spec = row
                    .spec
                    .as_deref()
                    .map(|p| load_spec(p, &row.name))
                    .unwrap_or(Ok(None));
                let facts = observe(Some(row), &row.name, row.spec.clone(), spec);
                reports.push(report(&facts));
            }
        }
    }
    let problems = reports
        .iter()
        .any(|r| r.findings.iter().any(|f| f.severity == Severity::Problem));
    if a.json {
        outln!(
            "{}",
            serde_json::to_string_pretty(&reports).unwrap_or_default()
        );
    } else if reports.is_empty() {
        outln!(
            "no services (none installed, no state in {})",
            dir.display()
        );
    } else {
        for (i, r) in reports.iter().enumerate() {
            if i > 0 {
                outln!();
            }
            for line in show(r) {
                outln!("{line}");
            }
        }
    }
    if problems {
        exit::SERVICE_FAILED
    } else {
        exit::OK
    }
}

fn same_file(a: &Path, b: &Path) -> bool {
    a == b
        || matches!(
            (std::fs::canonicalize(a), std::fs::canonicalize(b)),
            (Ok(x), Ok(y)) if x == y
        )
}

fn report(f: &Facts) -> Report {
    let (findings, skipped) = diagnose(f);
    Report {
        name: f.name.clone(),
        spec: f.spec_path.clone(),
        findings,
        skipped,
    }
}

/// A report as people read it.
fn show(r: &Report) -> Vec<String> {
    let mut out = vec![format!("{}:", r.name)];
    if r.findings.is_empty() {
        out.push("  no problem found".to_string());
    }
    for f in &r.findings {
        let mark = match f.severity {
            Severity::Problem => "problem",
            Severity::Note => "note",
        };
        out.push(format!("  {mark} [{}]: {}", f.id, f.summary));
        for e in &f.evidence {
            out.push(format!("      {e}"));
        }
        if let Some(fix) = &f.fix {
            out.push(format!("    fix: {fix}"));
        }
    }
    for s in &r.skipped {
        out.push(format!("  not checked: {s}"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn me(uid: u32, gids: &[u32]) -> AccountIds {
        AccountIds {
            name: format!("u{uid}"),
            uid,
            gids: gids.to_vec(),
        }
    }

    fn perm(uid: u32, gid: u32, mode: u32) -> Perm {
        Perm { uid, gid, mode }
    }

    #[test]
    fn permission_bits_for_an_account() {
        use Want::*;
        let cases: &[(Perm, AccountIds, Want, bool)] = &[
            (perm(1, 1, 0o700), me(1, &[1]), Exec, true),
            (perm(1, 1, 0o700), me(2, &[1]), Exec, false),
            (perm(1, 1, 0o750), me(2, &[1]), Exec, true),
            (perm(1, 1, 0o750), me(2, &[2]), Exec, false),
            (perm(1, 1, 0o755), me(2, &[2]), Exec, true),
            // The owner's bits apply to the owner, even when the others' would allow.
            (perm(1, 1, 0o077), me(1, &[1]), Exec, false),
            (perm(1, 1, 0o707), me(2, &[1]), Exec, false),
            // Root executes what has any execute bit.
            (perm(1, 1, 0o644), me(0, &[0]), Exec, false),
            (perm(1, 1, 0o744), me(0, &[0]), Exec, true),
        ];
        for (p, who, want, ok) in cases {
            assert_eq!(permits(*p, who, *want), *ok, "{p:?} {who:?} {want:?}");
        }
    }

    #[test]
    fn ldd_not_found_lines() {
        let text = "\tlinux-vdso.so.1 (0x00007ffd)\n\
            \tlibgone.so.3 => not found\n\
            \tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f)\n\
            \tlibother.so => not found\n\
            \t/lib64/ld-linux-x86-64.so.2 (0x00007f)\n";
        assert_eq!(missing_libraries(text), ["libgone.so.3", "libother.so"]);
        assert!(missing_libraries("\tnot a dynamic executable\n").is_empty());
        assert!(missing_libraries("").is_empty());
    }

    #[test]
    fn probe_addresses() {
        let cases: &[(Option<&str>, Option<&str>, Option<&str>)] = &[
            (
                Some("http://127.0.0.1:8080/healthz"),
                None,
                Some("127.0.0.1:8080"),
            ),
            (Some("https://localhost/x"), None, Some("localhost:443")),
            (Some("http://localhost"), None, Some("localhost:80")),
            (Some("http://[::1]:9/x?y"), None, Some("[::1]:9")),
            (Some("http://[::1]/"), None, Some("[::1]:80")),
            (Some("http://u:p@h:81/"), None, Some("h:81")),
            (None, Some("127.0.0.1:5432"), Some("127.0.0.1:5432")),
            (Some("no-scheme"), None, None),
            (None, None, None),
        ];
        for (http, tcp, want) in cases {
            assert_eq!(
                probe_address(*http, *tcp).as_deref(),
                *want,
                "{http:?} {tcp:?}"
            );
        }
    }

    fn facts() -> Facts {
        Facts {
            name: "api".into(),
            spec_path: Some("/srv/api.toml".into()),
            spec_error: None,
            installed: false,
            status: None,
            supervisor_alive: false,
            drift: None,
            max_restarts: Some(10),
            program: None,
            account: Some(Ok(me(1000, &[1000]))),
            working_dir: Vec::new(),
            ports: Vec::new(),
            root: false,
            family: Family::Unix,
        }
    }

    fn status(
        st: state::State,
        restarts: u64,
        exit: Option<(Option<i32>, Option<&str>)>,
    ) -> state::Status {
        state::Status {
            supervisor_pid: 7,
            restarts,
            last_exit: exit.map(|(code, signal)| state::LastExit {
                code,
                signal: signal.map(str::to_string),
                at_ms: 0,
                oom_killed: false,
            }),
            ..state::Status::new("api", st, "/srv/api.toml".into())
        }
    }

    fn ids(f: &Facts) -> Vec<(&'static str, Severity)> {
        diagnose(f).0.iter().map(|x| (x.id, x.severity)).collect()
    }

    fn program(
        resolved: Result<&str, &str>,
        chain: &[(&str, u32, u32, u32)],
        ldd: Option<&str>,
    ) -> ProgramFacts {
        ProgramFacts {
            command: "/opt/api/bin/api".into(),
            resolved: Some(resolved.map(PathBuf::from).map_err(str::to_string)),
            chain: chain
                .iter()
                .map(|(p, u, g, m)| (PathBuf::from(p), Some(perm(*u, *g, *m))))
                .collect(),
            ldd: ldd.map(str::to_string),
        }
    }

    #[test]
    fn findings_from_facts() {
        use Severity::*;
        let ok_chain = [
            ("/opt/api/bin/api", 0, 0, 0o755),
            ("/opt/api/bin", 0, 0, 0o755),
            ("/opt/api", 0, 0, 0o755),
        ];
        type Case = (
            &'static str,
            Box<dyn Fn(&mut Facts)>,
            Vec<(&'static str, Severity)>,
        );
        let cases: Vec<Case> = vec![
            ("nothing known: nothing found", Box::new(|_| {}), vec![]),
            (
                "a crash loop",
                Box::new(|f| {
                    f.status = Some(status(state::State::Failed, 10, Some((Some(1), None))));
                }),
                vec![("crash-loop", Problem), ("last-exit", Problem)],
            ),
            (
                "failed below the limit: no crash loop",
                Box::new(|f| {
                    f.status = Some(status(state::State::Failed, 2, Some((Some(78), None))));
                }),
                vec![("last-exit", Problem)],
            ),
            (
                "no limit: no crash loop",
                Box::new(|f| {
                    f.max_restarts = Some(0);
                    f.status = Some(status(
                        state::State::Failed,
                        50,
                        Some((None, Some("SIGSEGV"))),
                    ));
                }),
                vec![("last-exit", Problem)],
            ),
            (
                "running after a crash: a note",
                Box::new(|f| {
                    f.supervisor_alive = true;
                    let mut s = status(state::State::Running, 1, Some((None, Some("SIGKILL"))));
                    s.pid = Some(9);
                    f.status = Some(s);
                }),
                vec![("last-exit", Note)],
            ),
            (
                "a dead supervisor",
                Box::new(|f| {
                    f.status = Some(status(state::State::Running, 0, None));
                }),
                vec![("stale", Problem)],
            ),
            (
                "a missing program",
                Box::new(|f| {
                    f.program = Some(program(Err("`/opt/api/bin/api`: No such file"), &[], None));
                }),
                vec![("program", Problem)],
            ),
            (
                "a program the account may not execute",
                Box::new(|f| {
                    f.program = Some(program(
                        Ok("/opt/api/bin/api"),
                        &[
                            ("/opt/api/bin/api", 0, 0, 0o700),
                            ("/opt/api/bin", 0, 0, 0o755),
                        ],
                        Some(""),
                    ));
                }),
                vec![("program-access", Problem)],
            ),
            (
                "a folder the account may not enter",
                Box::new(|f| {
                    f.program = Some(program(
                        Ok("/opt/api/bin/api"),
                        &[
                            ("/opt/api/bin/api", 0, 0, 0o755),
                            ("/opt/api/bin", 0, 0, 0o700),
                        ],
                        Some(""),
                    ));
                }),
                vec![("program-access", Problem)],
            ),
            (
                "a missing library",
                Box::new(move |f| {
                    f.program = Some(program(
                        Ok("/opt/api/bin/api"),
                        &ok_chain,
                        Some("\tlibgone.so.1 => not found\n"),
                    ));
                }),
                vec![("library", Problem)],
            ),
            (
                "no ldd: skipped, not passed",
                Box::new(move |f| {
                    f.program = Some(program(Ok("/opt/api/bin/api"), &ok_chain, None));
                }),
                vec![],
            ),
            (
                "a listen port held while the supervisor is gone",
                Box::new(|f| {
                    f.ports = vec![PortFacts {
                        what: "[[listen]] http".into(),
                        address: "127.0.0.1:80".into(),
                        in_use: Some(true),
                        holder: Some("pid 5 (nginx)".into()),
                    }];
                }),
                vec![("port", Problem)],
            ),
            (
                "a listen port held by its own live supervisor",
                Box::new(|f| {
                    f.supervisor_alive = true;
                    f.ports = vec![PortFacts {
                        what: "[[listen]] http".into(),
                        address: "127.0.0.1:80".into(),
                        in_use: Some(true),
                        holder: None,
                    }];
                }),
                vec![],
            ),
            (
                "the health port answered by another process",
                Box::new(|f| {
                    f.ports = vec![PortFacts {
                        what: "[health]".into(),
                        address: "127.0.0.1:80".into(),
                        in_use: Some(true),
                        holder: None,
                    }];
                }),
                vec![("port", Note)],
            ),
            (
                "a failing health probe",
                Box::new(|f| {
                    f.supervisor_alive = true;
                    let mut s = status(state::State::Running, 0, None);
                    s.pid = Some(9);
                    s.health = Some(state::Health {
                        state: state::HealthState::Unhealthy,
                        since_ms: 0,
                        failures: 3,
                        last_probe: Some(state::Probe {
                            at_ms: 0,
                            ok: false,
                            took_ms: 1,
                            result: "connection refused".into(),
                        }),
                        last_error: None,
                    });
                    f.status = Some(s);
                }),
                vec![("health", Problem)],
            ),
            (
                "drift",
                Box::new(|f| {
                    f.installed = true;
                    f.drift = Some(true);
                }),
                vec![("drift", Problem)],
            ),
            (
                "no drift",
                Box::new(|f| {
                    f.installed = true;
                    f.drift = Some(false);
                }),
                vec![],
            ),
            (
                "an unreadable spec",
                Box::new(|f| {
                    f.spec_error = Some("bad".into());
                }),
                vec![("spec", Problem)],
            ),
            (
                "a working folder the account cannot enter",
                Box::new(|f| {
                    f.working_dir = vec![("/srv/data".into(), Some(perm(0, 0, 0o700)))];
                }),
                vec![("working-dir", Problem)],
            ),
        ];
        for (what, set, want) in cases {
            let mut f = facts();
            set(&mut f);
            assert_eq!(ids(&f), want, "{what}");
        }
    }

    #[test]
    fn the_checks_not_made_are_listed() {
        let mut f = facts();
        f.program = Some(program(Ok("/bin/x"), &[("/bin/x", 0, 0, 0o755)], None));
        f.ports = vec![PortFacts {
            what: "[[listen]] http".into(),
            address: "127.0.0.1:80".into(),
            in_use: Some(true),
            holder: None,
        }];
        let (findings, skipped) = diagnose(&f);
        assert!(skipped.iter().any(|s| s.contains("ldd")), "{skipped:?}");
        assert!(
            skipped.iter().any(|s| s.contains("needs root")),
            "{skipped:?}"
        );
        assert!(
            findings[0].summary.contains("run as root to name it"),
            "{findings:?}"
        );
        f.root = true;
        let (_, skipped) = diagnose(&f);
        assert!(
            !skipped.iter().any(|s| s.contains("needs root")),
            "{skipped:?}"
        );
    }

    #[test]
    fn the_last_exit_is_in_words_with_its_fix() {
        let mut f = facts();
        f.status = Some(status(state::State::Failed, 0, Some((Some(78), None))));
        let (findings, _) = diagnose(&f);
        assert_eq!(
            findings[0].summary,
            "its last child ended with exit code 78 (EX_CONFIG: its configuration is wrong)"
        );
        assert_eq!(findings[0].fix.as_deref(), Some("tend logs api"));
    }
}
