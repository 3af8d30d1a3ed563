//! `tend doctor`'s diagnosis: why a service is not running, or will not, and what to
//! do. The facts are observed first, at the edge ([`observe`]: the state file, the
//! spec, the program's file and folders, `ldd`, the ports, the installed unit); the
//! findings are then decided from them alone by a pure function ([`diagnose`]),
//! table-tested like the supervisor's policies. Each finding carries its evidence and,
//! where there is one, a command that fixes it. A check that could not be made (not
//! root, not on this OS) is listed as skipped, never passed silently. `cli/doctor.rs`
//! only picks the services and prints.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::explain::{self, Family};
use crate::supervise::state;
use crate::supervise::sys::{AccountIds, Perm};
use crate::text::sh_word;

pub(crate) mod observe;

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
    /// The account `ldd` ran as, when not the doctor's own (the service's, as root).
    pub(crate) ldd_as: Option<String>,
    /// The service's account, when `ldd` should have run as it but could not (the
    /// doctor is not root): what that account's loader finds was not checked.
    pub(crate) ldd_not_as: Option<String>,
    /// What the program file's first bytes say it is ([`binary_kind`]).
    pub(crate) binary: Option<Binary>,
}

/// What a program file is, by its first bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Binary {
    /// An ELF file: 64-bit or not, and its `e_machine`.
    Elf { bits64: bool, machine: u16 },
    /// A Windows PE file and its COFF `Machine`.
    Pe { machine: u16 },
    /// A script (`#!`): its interpreter decides.
    Script,
    /// Something else (a Mach-O file, a file too short to say).
    Other,
}

/// What a program file is, from its first bytes (at least 64, and for a PE file up to
/// its PE header, which `e_lfanew` places: [`HEAD_LEN`] bytes are enough in practice).
pub(crate) fn binary_kind(head: &[u8]) -> Binary {
    let u16_at = |at: usize, big: bool| {
        let b: [u8; 2] = head.get(at..at + 2)?.try_into().ok()?;
        Some(if big {
            u16::from_be_bytes(b)
        } else {
            u16::from_le_bytes(b)
        })
    };
    if head.starts_with(b"\x7fELF") {
        let bits64 = head.get(4) == Some(&2);
        let big = head.get(5) == Some(&2);
        return u16_at(18, big).map_or(Binary::Other, |machine| Binary::Elf { bits64, machine });
    }
    if head.starts_with(b"MZ") {
        let pe = head
            .get(0x3c..0x40)
            .and_then(|b| b.try_into().ok())
            .map(u32::from_le_bytes)
            .and_then(|off| usize::try_from(off).ok());
        return match pe {
            Some(off) if head.get(off..off + 4) == Some(b"PE\0\0") => {
                u16_at(off + 4, false).map_or(Binary::Other, |machine| Binary::Pe { machine })
            }
            _ => Binary::Other,
        };
    }
    if head.starts_with(b"#!") {
        return Binary::Script;
    }
    Binary::Other
}

/// How many bytes of a program [`binary_kind`] reads.
pub(crate) const HEAD_LEN: usize = 4096;

/// The architecture (as Rust's `std::env::consts::ARCH` names it) of an ELF
/// `e_machine` or a PE `Machine`, where it is one tend knows.
pub(crate) fn machine_arch(b: Binary) -> Option<&'static str> {
    Some(match b {
        Binary::Elf { bits64, machine } => match (machine, bits64) {
            (3, _) => "x86",
            (62, _) => "x86_64",
            (40, _) => "arm",
            (183, _) => "aarch64",
            (243, true) => "riscv64",
            (243, false) => "riscv32",
            (8, false) => "mips",
            (8, true) => "mips64",
            (20, _) => "powerpc",
            (21, _) => "powerpc64",
            (22, _) => "s390x",
            (258, _) => "loongarch64",
            _ => return None,
        },
        Binary::Pe { machine } => match machine {
            0x14c => "x86",
            0x8664 => "x86_64",
            0x1c4 => "arm",
            0xaa64 => "aarch64",
            _ => return None,
        },
        Binary::Script | Binary::Other => return None,
    })
}

/// Why a program of kind `b` cannot run on a `family` host of architecture `host`,
/// when it cannot. A 32-bit x86 program on x86_64 is left to the loader (Windows runs
/// it; Linux does with 32-bit libraries, which `ldd` checks).
pub(crate) fn wrong_binary(b: Binary, family: Family, host: &str) -> Option<String> {
    let (format, native) = match b {
        Binary::Elf { .. } => ("an ELF (Linux/Unix) program", family == Family::Unix),
        Binary::Pe { .. } => ("a Windows (PE) program", family == Family::Windows),
        Binary::Script | Binary::Other => return None,
    };
    if !native {
        return Some(format!("it is {format}, and this is not that system"));
    }
    let arch = machine_arch(b)?;
    let ok = arch == host || (arch == "x86" && host == "x86_64");
    (!ok).then(|| format!("it is built for {arch}, and this machine is {host}"))
}

/// A folder the service writes (its state, its logs), as observed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct FolderFacts {
    /// `state folder`, `log folder`.
    pub(crate) what: &'static str,
    /// The folder, then each folder above it, with owner and mode (none: missing).
    pub(crate) chain: Vec<(PathBuf, Option<Perm>)>,
    /// Whether it is the service's own (an installed service's state folder, or its
    /// log folder where the spec names none): only then is a recursive `chown` the fix.
    pub(crate) own: bool,
}

/// The file-system sandbox of an installed systemd unit, as the unit file says it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Sandbox {
    /// `ProtectSystem=` (empty: not set).
    pub(crate) protect_system: String,
    /// `ProtectHome=` (empty: not set).
    pub(crate) protect_home: String,
    /// `ReadWritePaths=`, unescaped.
    pub(crate) read_write_paths: Vec<String>,
}

/// Why systemd's sandbox `sb` keeps the service from writing `path`, if it does
/// (systemd.exec(5): `ProtectSystem=strict` makes the whole tree read-only, `full`
/// /usr, /boot, /efi and /etc, `yes` all but /etc; `ProtectHome=yes`/`tmpfs` hides
/// /home, /root and /run/user, `read-only` makes them read-only; `ReadWritePaths=`
/// takes a path and everything under it back).
pub(crate) fn sandbox_denies(sb: &Sandbox, path: &Path) -> Option<String> {
    let yes = |v: &str| matches!(v, "yes" | "true" | "on" | "1");
    let rw = sb
        .read_write_paths
        .iter()
        .map(|p| p.trim_start_matches(['-', '+']))
        .any(|p| path.starts_with(p));
    let home = ["/home", "/root", "/run/user"];
    if home.iter().any(|h| path.starts_with(h)) {
        let ph = sb.protect_home.as_str();
        if yes(ph) || ph == "tmpfs" {
            return Some(format!("ProtectHome={ph} hides {}", path.display()));
        }
        if ph == "read-only" && !rw {
            return Some(format!(
                "ProtectHome=read-only makes {} read-only, and ReadWritePaths= does not list it",
                path.display()
            ));
        }
    }
    let ps = sb.protect_system.as_str();
    let read_only: &[&str] = match ps {
        "strict" => &["/"],
        "full" => &["/usr", "/boot", "/efi", "/etc"],
        v if yes(v) => &["/usr", "/boot", "/efi"],
        _ => &[],
    };
    (!rw && read_only.iter().any(|r| path.starts_with(r))).then(|| {
        format!(
            "ProtectSystem={ps} makes {} read-only, and ReadWritePaths= does not list it",
            path.display()
        )
    })
}

/// Free space where the logs go, as observed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct DiskFacts {
    /// The folder measured.
    pub(crate) path: PathBuf,
    /// Bytes free for an unprivileged writer.
    pub(crate) free: u64,
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
    /// The folders the service writes.
    pub(crate) folders: Vec<FolderFacts>,
    /// The account that writes them: the supervisor's (the service's own when
    /// installed: the service manager starts `tend run` as it).
    pub(crate) writer: Option<Result<AccountIds, String>>,
    /// The installed systemd unit's sandbox, when it is one.
    pub(crate) sandbox: Option<Sandbox>,
    /// Free space on the log folder's file system.
    pub(crate) log_disk: Option<DiskFacts>,
    /// This machine's architecture (`std::env::consts::ARCH`).
    pub(crate) host_arch: &'static str,
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
    /// Write a file, or create and remove files in a folder.
    Write,
}

/// Whether `who` may `want` a file with `perm`, by the Unix permission bits (root may
/// execute what has any execute bit, and enter any folder that has one).
pub(crate) fn permits(perm: Perm, who: &AccountIds, want: Want) -> bool {
    let bit = match want {
        Want::Exec => 1,
        Want::Write => 2,
    };
    if who.uid == 0 {
        return want == Want::Write || perm.mode & 0o111 != 0;
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
        Want::Write => "write in",
    }
}

/// The first entry of a folder's `chain` that `who` cannot use to write in it: the
/// folder itself (write and enter), or when it is missing the nearest folder above
/// that exists (to create it), and every folder above (enter). With the entry, what
/// is wanted of it.
fn unwritable(
    chain: &[(PathBuf, Option<Perm>)],
    who: &AccountIds,
) -> Option<(PathBuf, Perm, Want)> {
    let first = chain.iter().position(|(_, p)| p.is_some())?;
    chain[first..]
        .iter()
        .enumerate()
        .find_map(|(i, (path, perm))| {
            let perm = (*perm)?;
            let wants: &[Want] = if i == 0 {
                &[Want::Write, Want::Exec]
            } else {
                &[Want::Exec]
            };
            if i > 0 && who.uid == 0 {
                return None;
            }
            wants
                .iter()
                .find(|w| !permits(perm, who, **w))
                .map(|w| (path.clone(), perm, *w))
        })
}

/// `path` as one word of a shell command line (quoted when it must be), for the fixes
/// an operator pastes.
fn path_word(path: &Path) -> String {
    sh_word(&path.display().to_string())
}

/// The findings on the folders the service writes: their permission bits for its
/// account, systemd's sandbox, a full disk and dropped log lines.
fn folder_findings(f: &Facts, spec_arg: &str, out: &mut Vec<Finding>, skipped: &mut Vec<String>) {
    let reinstall = if f.installed {
        format!(", or tend install {spec_arg} (it creates them)")
    } else {
        String::new()
    };
    match &f.writer {
        Some(Ok(who)) => {
            for d in &f.folders {
                let Some((at, perm, want)) = unwritable(&d.chain, who) else {
                    continue;
                };
                let folder = &d.chain[0].0;
                let account = sh_word(&who.name);
                let fix = match want {
                    Want::Exec => format!("chmod a+x {}", path_word(&at)),
                    Want::Write if at == *folder && d.own => {
                        format!("chown -R {account} {}", path_word(&at))
                    }
                    // A folder the spec chose may hold others' files: the folder only.
                    Want::Write if at == *folder => {
                        format!("chown {account} {}", path_word(&at))
                    }
                    Want::Write => format!(
                        "mkdir -p {} && chown {account} {}{reinstall}",
                        path_word(folder),
                        path_word(folder)
                    ),
                };
                out.push(Finding {
                    id: "folder-access",
                    severity: Severity::Problem,
                    summary: format!(
                        "its account {} cannot {} its {} {}",
                        who.name,
                        if want == Want::Exec {
                            "reach"
                        } else if at == *folder {
                            "write in"
                        } else {
                            "create"
                        },
                        d.what,
                        folder.display()
                    ),
                    evidence: vec![format!(
                        "{}: owner {}, group {}, mode {:o}; {} is uid {} and may not {} it",
                        at.display(),
                        perm.uid,
                        perm.gid,
                        perm.mode,
                        who.name,
                        who.uid,
                        want_word(want)
                    )],
                    fix: Some(fix),
                });
            }
        }
        Some(Err(e)) => skipped.push(format!("the account's access to its folders: {e}")),
        None => {}
    }
    if let Some(sb) = &f.sandbox {
        for d in &f.folders {
            let folder = &d.chain[0].0;
            if let Some(why) = sandbox_denies(sb, folder) {
                out.push(Finding {
                    id: "sandbox",
                    severity: Severity::Problem,
                    summary: format!(
                        "systemd's sandbox keeps it from writing its {} {}",
                        d.what,
                        folder.display()
                    ),
                    evidence: vec![format!("the installed unit: {why}")],
                    fix: Some(format!(
                        "let the unit write it (in {spec_arg}: [systemd.service] ReadWritePaths = {}, or drop the override of ProtectSystem=/ReadWritePaths=), then tend install {spec_arg}",
                        toml::Value::String(folder.display().to_string())
                    )),
                });
            }
        }
    }
    let dropped = f.status.as_ref().map_or(0, |s| s.log_dropped_lines);
    let full = f.log_disk.as_ref().filter(|d| d.free == 0);
    if dropped > 0 || full.is_some() {
        let s = f.status.as_ref();
        let mut evidence = Vec::new();
        if dropped > 0 {
            evidence.push(format!(
                "{dropped} lines ({} bytes) of its output could not be written to its log files",
                s.map_or(0, |s| s.log_dropped_bytes)
            ));
        }
        if let Some(d) = &f.log_disk {
            evidence.push(format!("{}: {} bytes free", d.path.display(), d.free));
        }
        let disk = f.log_disk.as_ref().map_or_else(
            || "free space on the disk of its log folder".to_string(),
            |d| {
                format!(
                    "free space on the disk of {} (`df -h {}`)",
                    d.path.display(),
                    path_word(&d.path)
                )
            },
        );
        out.push(Finding {
            id: "log-dropped",
            severity: if dropped > 0 {
                Severity::Problem
            } else {
                Severity::Note
            },
            summary: if dropped > 0 {
                "its logs are dropping lines".to_string()
            } else {
                "the disk of its logs is full: lines will be dropped".to_string()
            },
            evidence,
            fix: Some(format!(
                "{disk}, or lower [log] max_total/keep in {spec_arg}"
            )),
        });
    }
}

/// The findings for `f`, most important first, and the checks that could not be made.
pub(crate) fn diagnose(f: &Facts) -> (Vec<Finding>, Vec<String>) {
    let mut out = Vec::new();
    let mut skipped = Vec::new();
    let spec_arg = f
        .spec_path
        .as_ref()
        .map_or_else(|| "SPEC".to_string(), |p| path_word(p));
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
        if !live && s.state.is_live() {
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
            if e.oom_killed {
                out.push(Finding {
                    id: "oom-kill",
                    severity: Severity::Problem,
                    summary: "its last child was killed by the OOM killer: it ran out of memory"
                        .to_string(),
                    evidence: vec![
                        "it died of SIGKILL while its memory cgroup's oom_kill counter grew"
                            .to_string(),
                    ],
                    fix: Some(format!(
                        "raise resources.memory_max in its spec (or give the host more memory), or find what grows: tend top, tend logs {}",
                        f.name
                    )),
                });
            }
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
                                    format!("chmod a+rx {}", path_word(&at))
                                } else {
                                    format!("chmod a+x {}", path_word(&at))
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
                                    .map(|l| match &p.ldd_as {
                                        Some(who) => format!("ldd {} (as {who}): {}", path.display(), l.trim()),
                                        None => format!("ldd {}: {}", path.display(), l.trim()),
                                    })
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
                if let (Some(_), Some(who), false) = (&p.ldd, &p.ldd_not_as, f.root) {
                    skipped.push(format!(
                        "shared libraries as its account {who} sees them: needs root (ldd ran as the doctor's account)"
                    ));
                }
                if let Some(why) = p.binary.and_then(|b| wrong_binary(b, f.family, f.host_arch)) {
                    out.push(Finding {
                        id: "architecture",
                        severity: Severity::Problem,
                        summary: format!("its program cannot run on this machine: {why}"),
                        evidence: vec![format!("{}: {:?}", path.display(), p.binary.unwrap_or(Binary::Other))],
                        fix: Some(format!(
                            "install the {} build of the program, or correct `command` in {spec_arg}",
                            f.host_arch
                        )),
                    });
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
                    path_word(&at),
                    sh_word(&who.name)
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
    folder_findings(f, &spec_arg, &mut out, &mut skipped);
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

/// The diagnosis of the service `f` describes.
pub(crate) fn report(f: &Facts) -> Report {
    let (findings, skipped) = diagnose(f);
    Report {
        name: f.name.clone(),
        spec: f.spec_path.clone(),
        findings,
        skipped,
    }
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
            folders: Vec::new(),
            writer: Some(Ok(me(1000, &[1000]))),
            sandbox: None,
            log_disk: None,
            host_arch: "x86_64",
            root: false,
            family: Family::Unix,
        }
    }

    /// A folder, then those above it, with owner, group and mode (none: missing).
    type Entry<'a> = (&'a str, Option<(u32, u32, u32)>);

    fn folder(what: &'static str, chain: &[Entry]) -> FolderFacts {
        FolderFacts {
            what,
            own: true,
            chain: chain
                .iter()
                .map(|(p, m)| (PathBuf::from(p), m.map(|(u, g, m)| perm(u, g, m))))
                .collect(),
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
            ldd_as: None,
            ldd_not_as: None,
            binary: None,
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
                "an OOM kill: the exit, and the memory to raise",
                Box::new(|f| {
                    let mut s = status(state::State::Failed, 1, Some((None, Some("SIGKILL"))));
                    if let Some(e) = s.last_exit.as_mut() {
                        e.oom_killed = true;
                    }
                    f.status = Some(s);
                }),
                vec![("last-exit", Problem), ("oom-kill", Problem)],
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
                "a program built for another machine",
                Box::new(move |f| {
                    let mut p = program(Ok("/opt/api/bin/api"), &ok_chain, Some(""));
                    p.binary = Some(Binary::Elf {
                        bits64: true,
                        machine: 183,
                    });
                    f.program = Some(p);
                }),
                vec![("architecture", Problem)],
            ),
            (
                "a program for this machine",
                Box::new(move |f| {
                    let mut p = program(Ok("/opt/api/bin/api"), &ok_chain, Some(""));
                    p.binary = Some(Binary::Elf {
                        bits64: true,
                        machine: 62,
                    });
                    f.program = Some(p);
                }),
                vec![],
            ),
            (
                "a log folder owned by root, 0755",
                Box::new(|f| {
                    f.folders = vec![folder(
                        "log folder",
                        &[
                            ("/var/log/tend/api", Some((0, 0, 0o755))),
                            ("/var/log/tend", Some((0, 0, 0o755))),
                        ],
                    )];
                }),
                vec![("folder-access", Problem)],
            ),
            (
                "a log folder of its own",
                Box::new(|f| {
                    f.folders = vec![folder(
                        "log folder",
                        &[
                            ("/var/log/tend/api", Some((1000, 1000, 0o750))),
                            ("/var/log/tend", Some((0, 0, 0o755))),
                        ],
                    )];
                }),
                vec![],
            ),
            (
                "a missing state folder it may create",
                Box::new(|f| {
                    f.folders = vec![folder(
                        "state folder",
                        &[
                            ("/home/u/.local/state/tend", None),
                            ("/home/u/.local/state", Some((1000, 1000, 0o700))),
                        ],
                    )];
                }),
                vec![],
            ),
            (
                "a missing state folder it may not create",
                Box::new(|f| {
                    f.folders = vec![folder(
                        "state folder",
                        &[
                            ("/var/lib/tend/api", None),
                            ("/var/lib/tend", Some((0, 0, 0o755))),
                        ],
                    )];
                }),
                vec![("folder-access", Problem)],
            ),
            (
                "a folder written by root: no finding",
                Box::new(|f| {
                    f.writer = Some(Ok(me(0, &[0])));
                    f.folders = vec![folder(
                        "log folder",
                        &[("/var/log/tend/api", Some((1, 1, 0o700)))],
                    )];
                }),
                vec![],
            ),
            (
                "a log folder outside ReadWritePaths under ProtectSystem=strict",
                Box::new(|f| {
                    f.writer = Some(Ok(me(0, &[0])));
                    f.sandbox = Some(Sandbox {
                        protect_system: "strict".into(),
                        protect_home: "yes".into(),
                        read_write_paths: vec!["/var/lib/tend/api".into()],
                    });
                    f.folders = vec![
                        folder(
                            "state folder",
                            &[("/var/lib/tend/api", Some((0, 0, 0o755)))],
                        ),
                        folder("log folder", &[("/srv/logs", Some((0, 0, 0o755)))]),
                    ];
                }),
                vec![("sandbox", Problem)],
            ),
            (
                "logs dropping lines",
                Box::new(|f| {
                    let mut s = status(state::State::Running, 0, None);
                    s.pid = Some(9);
                    s.log_dropped_lines = 12;
                    f.supervisor_alive = true;
                    f.status = Some(s);
                }),
                vec![("log-dropped", Problem)],
            ),
            (
                "a full log disk before any line is dropped",
                Box::new(|f| {
                    f.log_disk = Some(DiskFacts {
                        path: "/var/log/tend/api".into(),
                        free: 0,
                    });
                }),
                vec![("log-dropped", Note)],
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
        if let Some(p) = f.program.as_mut() {
            p.ldd = Some(String::new());
            p.ldd_not_as = Some("svc".into());
        }
        let (_, skipped) = diagnose(&f);
        assert!(
            skipped
                .iter()
                .any(|s| s.starts_with("shared libraries as its account svc sees them: needs root")),
            "{skipped:?}"
        );
        f.root = true;
        let (_, skipped) = diagnose(&f);
        assert!(
            !skipped.iter().any(|s| s.contains("needs root")),
            "{skipped:?}"
        );
    }

    /// The first bytes of real programs' headers: an ELF file's `e_ident` and
    /// `e_machine` (little- and big-endian), a PE file's `e_lfanew` and `Machine`.
    #[test]
    fn binary_kinds_from_headers() {
        fn elf(class: u8, data: u8, machine: u16) -> Vec<u8> {
            let mut h = vec![0u8; 64];
            h[..4].copy_from_slice(b"\x7fELF");
            h[4] = class;
            h[5] = data;
            let m = if data == 2 {
                machine.to_be_bytes()
            } else {
                machine.to_le_bytes()
            };
            h[18..20].copy_from_slice(&m);
            h
        }
        fn pe(at: usize, machine: u16) -> Vec<u8> {
            let mut h = vec![0u8; at + 24];
            h[..2].copy_from_slice(b"MZ");
            h[0x3c..0x40].copy_from_slice(&(at as u32).to_le_bytes());
            h[at..at + 4].copy_from_slice(b"PE\0\0");
            h[at + 4..at + 6].copy_from_slice(&machine.to_le_bytes());
            h
        }
        let cases: Vec<(Vec<u8>, Binary)> = vec![
            (
                elf(2, 1, 62),
                Binary::Elf {
                    bits64: true,
                    machine: 62,
                },
            ),
            (
                elf(1, 1, 3),
                Binary::Elf {
                    bits64: false,
                    machine: 3,
                },
            ),
            (
                elf(2, 2, 22),
                Binary::Elf {
                    bits64: true,
                    machine: 22,
                },
            ),
            (elf(2, 1, 62)[..19].to_vec(), Binary::Other),
            (pe(0x80, 0x8664), Binary::Pe { machine: 0x8664 }),
            (pe(0xe8, 0xaa64), Binary::Pe { machine: 0xaa64 }),
            (pe(0x80, 0x8664)[..0x85].to_vec(), Binary::Other),
            (b"MZ".to_vec(), Binary::Other),
            (b"#!/bin/sh\n".to_vec(), Binary::Script),
            (b"\xcf\xfa\xed\xfe".to_vec(), Binary::Other),
            (Vec::new(), Binary::Other),
        ];
        for (head, want) in cases {
            assert_eq!(binary_kind(&head), want, "{:?}", &head[..head.len().min(8)]);
        }
    }

    #[test]
    fn binaries_that_cannot_run_here() {
        use Family::*;
        let elf = |machine| Binary::Elf {
            bits64: true,
            machine,
        };
        let cases: &[(Binary, Family, &str, Option<&str>)] = &[
            (elf(62), Unix, "x86_64", None),
            (elf(183), Unix, "aarch64", None),
            (
                elf(183),
                Unix,
                "x86_64",
                Some("it is built for aarch64, and this machine is x86_64"),
            ),
            (
                elf(62),
                Unix,
                "aarch64",
                Some("it is built for x86_64, and this machine is aarch64"),
            ),
            // 32-bit x86 on x86_64: left to the loader and ldd.
            (
                Binary::Elf {
                    bits64: false,
                    machine: 3,
                },
                Unix,
                "x86_64",
                None,
            ),
            (
                Binary::Pe { machine: 0x8664 },
                Unix,
                "x86_64",
                Some("it is a Windows (PE) program, and this is not that system"),
            ),
            (
                elf(62),
                Windows,
                "x86_64",
                Some("it is an ELF (Linux/Unix) program, and this is not that system"),
            ),
            (Binary::Pe { machine: 0x8664 }, Windows, "x86_64", None),
            (Binary::Pe { machine: 0x14c }, Windows, "x86_64", None),
            (
                Binary::Pe { machine: 0xaa64 },
                Windows,
                "x86_64",
                Some("it is built for aarch64, and this machine is x86_64"),
            ),
            // An unknown machine, a script: not judged.
            (elf(9999), Unix, "x86_64", None),
            (Binary::Script, Unix, "x86_64", None),
        ];
        for (b, fam, host, want) in cases {
            assert_eq!(
                wrong_binary(*b, *fam, host).as_deref(),
                *want,
                "{b:?} {fam:?} {host}"
            );
        }
    }

    #[test]
    fn systemd_sandbox_of_a_folder() {
        let sb = |ps: &str, ph: &str, rw: &[&str]| Sandbox {
            protect_system: ps.into(),
            protect_home: ph.into(),
            read_write_paths: rw.iter().map(|s| s.to_string()).collect(),
        };
        let cases: &[(Sandbox, &str, bool)] = &[
            (
                sb("strict", "yes", &["/var/log/tend/api"]),
                "/var/log/tend/api",
                false,
            ),
            (
                sb("strict", "yes", &["/var/log/tend"]),
                "/var/log/tend/api",
                false,
            ),
            (
                sb("strict", "yes", &["-/var/log/tend/api"]),
                "/var/log/tend/api",
                false,
            ),
            (
                sb("strict", "yes", &["/var/lib/tend/api"]),
                "/var/log/tend/api",
                true,
            ),
            // A path prefix that is not a parent folder does not count.
            (sb("strict", "", &["/var/log/te"]), "/var/log/tend", true),
            (sb("full", "", &[]), "/etc/api", true),
            (sb("full", "", &[]), "/var/log/api", false),
            (sb("yes", "", &[]), "/etc/api", false),
            (sb("true", "", &[]), "/usr/local/api", true),
            (sb("", "", &[]), "/usr/local/api", false),
            (sb("", "yes", &["/home/u/logs"]), "/home/u/logs", true),
            (sb("", "tmpfs", &[]), "/root/logs", true),
            (
                sb("", "read-only", &["/home/u/logs"]),
                "/home/u/logs",
                false,
            ),
            (sb("", "read-only", &[]), "/home/u/logs", true),
            (sb("", "no", &[]), "/home/u/logs", false),
        ];
        for (s, path, denied) in cases {
            assert_eq!(
                sandbox_denies(s, Path::new(path)).is_some(),
                *denied,
                "{s:?} {path}"
            );
        }
    }

    /// A fix is pasted into a shell: the spec's path is one word, whatever it holds.
    #[test]
    fn fixes_quote_the_spec_path() {
        let mut f = facts();
        f.spec_path = Some("/srv/my api/$(reboot).toml".into());
        f.spec_error = Some("bad".into());
        let (findings, _) = diagnose(&f);
        assert_eq!(
            findings[0].fix.as_deref(),
            Some("tend check '/srv/my api/$(reboot).toml'")
        );
    }

    #[test]
    fn an_unwritable_folder_is_named_with_its_fix() {
        let mut f = facts();
        f.folders = vec![folder(
            "log folder",
            &[
                ("/var/log/tend/api", Some((0, 0, 0o755))),
                ("/var/log/tend", Some((0, 0, 0o755))),
            ],
        )];
        let (findings, _) = diagnose(&f);
        assert_eq!(
            findings[0].summary,
            "its account u1000 cannot write in its log folder /var/log/tend/api"
        );
        assert_eq!(
            findings[0].fix.as_deref(),
            Some("chown -R u1000 /var/log/tend/api")
        );
        // A folder the spec chose (here /var/log itself, with a space to quote): the
        // folder only, never what others keep in it.
        f.folders[0].own = false;
        f.folders[0].chain[0].0 = PathBuf::from("/var/my logs");
        let (findings, _) = diagnose(&f);
        assert_eq!(
            findings[0].fix.as_deref(),
            Some("chown u1000 '/var/my logs'")
        );
        f.folders[0].own = true;
        f.folders[0].chain[0].0 = PathBuf::from("/var/log/tend/api");
        f.installed = true;
        f.folders[0].chain[0].1 = None;
        let (findings, _) = diagnose(&f);
        assert_eq!(
            findings[0].summary,
            "its account u1000 cannot create its log folder /var/log/tend/api"
        );
        assert_eq!(
            findings[0].fix.as_deref(),
            Some("mkdir -p /var/log/tend/api && chown u1000 /var/log/tend/api, or tend install /srv/api.toml (it creates them)")
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
