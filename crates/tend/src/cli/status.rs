//! `tend status`: the state of supervised services, from their state files. A state
//! file whose supervisor is gone is shown as stale rather than trusted. Also `tend
//! status --prune`, which forgets the services whose supervisor is gone.

use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Args;
use serde::Serialize;

use super::exit;
use crate::platform::record::read_record;
use crate::platform::{self, Layout, NativeStatus};
use crate::spec::ServiceName;
use crate::supervise::event::show_duration;
use crate::supervise::{self, state, sys};

/// Arguments of `tend status`.
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Only these services (by default every installed service and every service with
    /// state).
    #[arg(value_name = "NAME")]
    pub names: Vec<ServiceName>,
    /// Print JSON: an array with one object per service (see the README).
    #[arg(long)]
    pub json: bool,
    /// Remove the state of services whose supervisor is gone and which are not
    /// installed, and list what was removed.
    #[arg(long, conflicts_with_all = ["json", "names"])]
    pub prune: bool,
    /// Where state files are (default: /var/lib/tend as root, else ~/.local/state/tend).
    #[arg(long, env = "TEND_STATE_DIR")]
    pub state_dir: Option<PathBuf>,
}

/// What is known of one service.
pub(crate) struct Row {
    pub(crate) name: String,
    /// Installed as a native service (`tend install`).
    pub(crate) installed: bool,
    backend: Option<String>,
    /// The service manager's view.
    pub(crate) native: Option<NativeStatus>,
    /// The installed unit differs from what the installed spec renders now.
    pub(crate) drift: Option<bool>,
    /// The supervisor's view (from its state file).
    pub(crate) status: Option<state::Status>,
    /// Why the state file could not be read, when it could not.
    unreadable: Option<String>,
    /// The state file read (or looked for).
    pub(crate) state_file: PathBuf,
    /// The spec: the state file's, else the installed one.
    pub(crate) spec: Option<PathBuf>,
    /// Whether the supervisor of the state file still runs: whether its lock is held,
    /// not whether its pid is (a pid may have been reused since, after a reboot).
    pub(crate) supervisor_alive: bool,
    /// Since the current child started, while running.
    pub(crate) uptime_ms: Option<u64>,
    /// Its releases (`tend upgrade`), when it has had any.
    releases: Option<crate::update::release::Index>,
}

impl Row {
    /// The state shown: the state file's, or `stale` when its supervisor is gone while
    /// it says the service is live, or `unreadable`; `None` without a state file.
    pub(crate) fn state_word(&self) -> Option<&'static str> {
        if self.unreadable.is_some() {
            return Some("unreadable");
        }
        self.status.as_ref().map(|s| {
            if self.supervisor_alive || !s.state.is_live() {
                s.state.as_str()
            } else {
                "stale"
            }
        })
    }

    /// The service's health (with `[health]`), while its supervisor runs and a child
    /// does (not the last child's, through a backoff).
    pub(crate) fn health(&self) -> Option<&state::Health> {
        self.status
            .as_ref()
            .filter(|s| self.supervisor_alive && s.pid.is_some())
            .and_then(|s| s.health.as_ref())
    }
}

/// What reading a state file gave: nothing (there is none), its state, or why it
/// could not be read.
type Read = Option<Result<state::Status, state::ReadError>>;

/// Reads the state file at `file`.
fn read(file: &Path) -> Read {
    match state::read_one(file) {
        Ok(s) => Some(Ok(s)),
        Err(state::ReadError::Io { source, .. })
            if source.kind() == std::io::ErrorKind::NotFound =>
        {
            None
        }
        Err(e) => Some(Err(e)),
    }
}

/// The row of the state file `name` in `dir` (with neither status nor unreadable when
/// there is none).
fn row(name: String, dir: &Path, now: u64) -> Row {
    row_between(name, dir, now, || {})
}

/// [`row`], running `between` after looking at the lock and before reading the state
/// file. The lock first: a supervisor that writes its final state and ends between the
/// two is seen holding its lock and then its final state (read the other way round,
/// its last live state without a lock: stale).
fn row_between(name: String, dir: &Path, now: u64, between: impl FnOnce()) -> Row {
    let state_file = state::state_path(dir, &name);
    let locked = state::supervised(dir, &name);
    between();
    let (status, unreadable) = match read(&state_file) {
        Some(Ok(s)) => (Some(s), None),
        Some(Err(e)) => (None, Some(e.to_string())),
        None => (None, None),
    };
    // Its lock says whether its supervisor runs; the pid only when the lock cannot be
    // looked at (no permission).
    let alive = (status.is_some() || unreadable.is_some())
        && locked.unwrap_or_else(|_| {
            status
                .as_ref()
                .is_some_and(|s| sys::alive(s.supervisor_pid as i32))
        });
    let releases = crate::update::release::Store::of(dir, &name)
        .index()
        .ok()
        .filter(|i| *i != Default::default());
    let uptime_ms = status
        .as_ref()
        .filter(|s| alive && s.state == state::State::Running)
        .and_then(|s| s.started_at_ms)
        .map(|t| now.saturating_sub(t));
    Row {
        name,
        installed: false,
        backend: None,
        native: None,
        drift: None,
        spec: status.as_ref().map(|s| s.spec.clone()),
        releases,
        status,
        unreadable,
        state_file,
        supervisor_alive: alive,
        uptime_ms,
    }
}

/// Whether `a` and `b` are the same file or folder (the same path, or both exist and
/// resolve to one).
fn same_path(a: &Path, b: &Path) -> bool {
    a == b
        || matches!(
            (std::fs::canonicalize(a), std::fs::canonicalize(b)),
            (Ok(x), Ok(y)) if x == y
        )
}

/// Whether the state of `name` in `dir` is that of the installed service `name` (its
/// own state folder), rather than that of a `tend run`/`tend up` of a service with
/// the same name.
pub(super) fn installed_state(layout: &Layout, dir: &Path, name: &str) -> bool {
    layout.record_path(name).exists() && same_path(dir, &layout.state_dir(name))
}

/// The installed services (of `only`, if any), with the manager's view and drift.
fn installed_rows(layout: &Layout, only: &[ServiceName], now: u64) -> Vec<Row> {
    layout
        .installed_names()
        .into_iter()
        .filter(|n| only.is_empty() || only.iter().any(|o| o.as_str() == n))
        .map(|name| {
            let dir = layout.state_dir(&name);
            let mut r = row(name.clone(), &dir, now);
            r.installed = true;
            r.spec = r.spec.or_else(|| Some(layout.spec_path(&name)));
            if let Some(rec) = read_record(layout, &name) {
                // (The Windows engine exists everywhere; only Windows has such records.)
                if rec.backend == platform::windows::BACKEND {
                    r.native = platform::windows::query(&name).ok();
                    r.drift = crate::spec::load_file(&layout.spec_path(&name), &Default::default())
                        .ok()
                        .and_then(|l| l.services.into_iter().next())
                        .and_then(|spec| {
                            let layout = Layout {
                                tend_bin: rec.tend_bin.clone(),
                                ..layout.clone()
                            };
                            platform::windows::drifted(&spec, &layout)
                        });
                }
                if let Some(b) = platform::backend(&rec.backend) {
                    r.native = b.query(&name).ok();
                    let layout = Layout {
                        tend_bin: rec.tend_bin.clone(),
                        ..layout.clone()
                    };
                    r.drift = crate::spec::load_file(&layout.spec_path(&name), &Default::default())
                        .ok()
                        .and_then(|l| l.services.into_iter().next())
                        .map(|spec| {
                            b.render(&spec, &layout).iter().any(|a| {
                                std::fs::read_to_string(&a.path).ok().as_deref()
                                    != Some(a.content.as_str())
                            })
                        });
                }
                r.backend = Some(rec.backend);
            }
            r
        })
        .collect()
}

/// One service in `tend status --json`. Every key is always present (`null` when
/// unknown), whatever the service's state: a script can index without checking.
/// Times are milliseconds since the Unix epoch, like the state file's. Documented in
/// the README ("tend status --json"); keep the two in step.
#[derive(Debug, Serialize)]
struct JsonRow {
    name: String,
    /// As the table shows it: the state file's word, or `stale`; null without state.
    state: Option<&'static str>,
    /// What the state file says, even when stale.
    recorded_state: Option<&'static str>,
    spec: Option<PathBuf>,
    state_file: PathBuf,
    installed: bool,
    backend: Option<String>,
    /// The service manager's view, when installed: its state word, ...
    active: Option<String>,
    /// ... a finer state where it has one (systemd's SubState), ...
    sub: Option<String>,
    /// ... whether it starts at boot, ...
    enabled: Option<bool>,
    /// ... and the main pid it watches.
    main_pid: Option<u32>,
    drift: Option<bool>,
    supervisor_pid: Option<u32>,
    supervisor_alive: bool,
    /// The child's pid, while its supervisor runs.
    pid: Option<i32>,
    started_at_ms: Option<u64>,
    uptime_ms: Option<u64>,
    since_ms: Option<u64>,
    restarts: Option<u64>,
    last_exit: Option<JsonExit>,
    message: Option<String>,
    last_stderr: Option<String>,
    log_dropped_lines: Option<u64>,
    log_dropped_bytes: Option<u64>,
    /// With `[health]`: the state file's health record as is (state, since_ms,
    /// failures, last_probe {at_ms, ok, took_ms, result} or null, last_error or null);
    /// null without `[health]`, or when its supervisor has ended.
    health: Option<JsonHealth>,
    /// After a `tend upgrade`: the release it runs (null: the spec's command), those
    /// before it (most recent first), and those rolled back; null before any.
    releases: Option<crate::update::release::Index>,
}

/// A service's health, in [`JsonRow`].
#[derive(Debug, Serialize)]
struct JsonHealth {
    state: &'static str,
    since_ms: u64,
    failures: u32,
    last_probe: Option<state::Probe>,
    last_error: Option<String>,
}

/// How the last child ended, in [`JsonRow`].
#[derive(Debug, Serialize)]
struct JsonExit {
    code: Option<i32>,
    signal: Option<String>,
    at_ms: u64,
    /// Killed by the OOM killer (`signal` is then SIGKILL).
    oom_killed: bool,
}

impl From<&Row> for JsonRow {
    fn from(r: &Row) -> JsonRow {
        let s = r.status.as_ref();
        JsonRow {
            name: r.name.clone(),
            state: r.state_word(),
            recorded_state: s.map(|s| s.state.as_str()),
            spec: r.spec.clone(),
            state_file: r.state_file.clone(),
            installed: r.installed,
            backend: r.backend.clone(),
            active: r.native.as_ref().map(|n| n.active.clone()),
            sub: r.native.as_ref().and_then(|n| n.sub.clone()),
            enabled: r.native.as_ref().map(|n| n.enabled),
            main_pid: r.native.as_ref().and_then(|n| n.main_pid),
            drift: r.drift,
            supervisor_pid: s.map(|s| s.supervisor_pid),
            supervisor_alive: r.supervisor_alive,
            pid: s.and_then(|s| s.pid).filter(|_| r.supervisor_alive),
            started_at_ms: s.and_then(|s| s.started_at_ms),
            uptime_ms: r.uptime_ms,
            since_ms: s.map(|s| s.since_ms),
            restarts: s.map(|s| s.restarts),
            last_exit: s.and_then(|s| s.last_exit.as_ref()).map(|e| JsonExit {
                code: e.code,
                signal: e.signal.clone(),
                at_ms: e.at_ms,
                oom_killed: e.oom_killed,
            }),
            message: r
                .unreadable
                .clone()
                .or_else(|| s.and_then(|s| s.message.clone())),
            last_stderr: s.and_then(|s| s.last_stderr.clone()),
            log_dropped_lines: s.map(|s| s.log_dropped_lines),
            log_dropped_bytes: s.map(|s| s.log_dropped_bytes),
            health: r.health().map(|h| JsonHealth {
                state: h.state.as_str(),
                since_ms: h.since_ms,
                failures: h.failures,
                last_probe: h.last_probe.clone(),
                last_error: h.last_error.clone(),
            }),
            releases: r.releases.clone(),
        }
    }
}

/// `tend status`.
pub fn status(a: StatusArgs) -> u8 {
    let now = state::now_ms();
    let layout = Layout::system(PathBuf::new());
    let dir = a.state_dir.unwrap_or_else(supervise::default_state_dir);
    if a.prune {
        return prune(&dir, &layout);
    }
    let rows = rows(&layout, &dir, &a.names, now);
    let (rows, unknown) = select(rows, &a.names);
    for n in &unknown {
        errln!(
            "error: `{n}` is neither installed nor has state in {}",
            dir.display()
        );
    }
    if !unknown.is_empty() {
        errln!("  = help: state files are written by `tend run`/`tend up` (see --state-dir); `tend install` installs a service");
    }
    let code = if unknown.is_empty() {
        exit::OK
    } else {
        exit::ERROR
    };
    if a.json {
        let v: Vec<JsonRow> = rows.iter().map(JsonRow::from).collect();
        outln!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
        return code;
    }
    if rows.is_empty() {
        if a.names.is_empty() {
            outln!(
                "no services (none installed, no state in {})",
                dir.display()
            );
        }
        return code;
    }
    for line in table(&rows, now) {
        outln!("{line}");
    }
    code
}

/// The rows of the installed services of `layout` (of `only`, if any) and of the
/// state files in `dir`, sorted by name. A row per state file: an installed service's
/// (in its own state folder) and that of a `tend run`/`tend up` of a service with the
/// same name are two rows, which the SPEC column tells apart.
pub(crate) fn rows(layout: &Layout, dir: &Path, only: &[ServiceName], now: u64) -> Vec<Row> {
    let mut rows = installed_rows(layout, only, now);
    match state::names(dir) {
        Ok(names) => {
            for name in names {
                let file = state::state_path(dir, &name);
                if rows.iter().any(|r| same_path(&r.state_file, &file)) {
                    continue;
                }
                let r = row(name, dir, now);
                // (Gone meanwhile: nothing to show.)
                if r.status.is_some() || r.unreadable.is_some() {
                    rows.push(r);
                }
            }
        }
        Err(e) => errln!(
            "warning: cannot read {}: {}",
            dir.display(),
            crate::text::io_error(&e)
        ),
    }
    // By name; of one name, the installed service first (the sort is stable).
    rows.sort_by(|a, b| a.name.cmp(&b.name));
    rows
}

/// The rows of `names` (all without names), in order, and the names that have none.
fn select(rows: Vec<Row>, names: &[ServiceName]) -> (Vec<Row>, Vec<String>) {
    if names.is_empty() {
        return (rows, Vec::new());
    }
    let unknown = names
        .iter()
        .map(ServiceName::as_str)
        .filter(|n| !rows.iter().any(|r| r.name == *n))
        .fold(Vec::<String>::new(), |mut v, n| {
            if !v.iter().any(|m| m == n) {
                v.push(n.to_string());
            }
            v
        });
    let rows = rows
        .into_iter()
        .filter(|r| names.iter().any(|n| n.as_str() == r.name))
        .collect();
    (rows, unknown)
}

/// The table: a header and a line per service (and notes under it), every column as
/// wide as its widest cell.
fn table(rows: &[Row], now: u64) -> Vec<String> {
    const HEADER: [&str; 9] = [
        "NAME",
        "SERVICE",
        "STATE",
        "HEALTH",
        "PID",
        "UPTIME",
        "RESTARTS",
        "LAST EXIT",
        "SPEC",
    ];
    // Right-aligned: the numbers.
    const RIGHT: [bool; 9] = [false, false, false, false, true, true, true, false, false];
    let dash = || "-".to_string();
    let cells: Vec<[String; 9]> = rows
        .iter()
        .map(|r| {
            let s = r.status.as_ref();
            [
                r.name.clone(),
                r.native.as_ref().map_or_else(dash, |n| n.active.clone()),
                r.state_word().map_or_else(dash, str::to_string),
                r.health()
                    .map_or_else(dash, |h| h.state.as_str().to_string()),
                s.and_then(|s| s.pid)
                    .filter(|_| r.supervisor_alive)
                    .map_or_else(dash, |p| p.to_string()),
                r.uptime_ms
                    .map_or_else(dash, |ms| show_duration(Duration::from_secs(ms / 1000))),
                s.map_or_else(dash, |s| s.restarts.to_string()),
                s.and_then(|s| s.last_exit.as_ref())
                    .map_or_else(dash, |e| last_exit(e, now)),
                r.spec
                    .as_ref()
                    .map_or_else(dash, |p| p.display().to_string()),
            ]
        })
        .collect();
    let mut widths = HEADER.map(|h| h.chars().count());
    for c in &cells {
        for (w, cell) in widths.iter_mut().zip(c) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |c: [&str; 9]| {
        let mut out = String::new();
        for (i, cell) in c.iter().enumerate() {
            if i > 0 {
                out.push_str(if i == 7 { "  " } else { " " });
            }
            let pad = widths[i].saturating_sub(cell.chars().count());
            if RIGHT[i] {
                out.extend(std::iter::repeat_n(' ', pad));
                out.push_str(cell);
            } else {
                out.push_str(cell);
                if i + 1 < c.len() {
                    out.extend(std::iter::repeat_n(' ', pad));
                }
            }
        }
        out
    };
    let indent = " ".repeat(widths[0] + 1);
    let mut out = vec![line(HEADER)];
    for (r, c) in rows.iter().zip(&cells) {
        out.push(line(c.each_ref().map(String::as_str)));
        if let Some(e) = &r.unreadable {
            out.push(format!("{indent}{e}"));
        }
        if let Some(s) = &r.status {
            if !r.supervisor_alive && s.state.is_live() {
                out.push(format!(
                    "{indent}(its supervisor, pid {}, has ended; this is its last word)",
                    s.supervisor_pid
                ));
            } else if let Some(m) = &s.message {
                if matches!(s.state, state::State::Failed | state::State::Backoff) {
                    out.push(format!("{indent}{m}"));
                }
            }
            if let Some(line) = &s.last_stderr {
                out.push(format!("{indent}last stderr: {line}"));
            }
            if let Some(h) = r.health() {
                if h.state != state::HealthState::Healthy || h.failures > 0 {
                    if let Some(p) = h.last_probe.as_ref().filter(|p| !p.ok) {
                        out.push(format!("{indent}health: {}", p.result));
                    }
                }
            }
            if s.log_dropped_lines > 0 || s.log_dropped_bytes > 0 {
                out.push(format!(
                    "{indent}{} output lines ({} bytes) could not be written to the log",
                    s.log_dropped_lines, s.log_dropped_bytes
                ));
            }
        }
        if let Some(i) = &r.releases {
            let before: Vec<String> = i
                .previous
                .iter()
                .map(|p| crate::supervise::event::release_name(p.as_deref()))
                .collect();
            let mut line = format!(
                "{indent}{}",
                crate::supervise::event::release_name(i.current.as_deref())
            );
            if !before.is_empty() {
                line.push_str(&format!(" (before: {})", before.join(", ")));
            }
            if !i.rolled_back.is_empty() {
                line.push_str(&format!("; rolled back: {}", i.rolled_back.join(", ")));
            }
            out.push(line);
        }
        if r.drift == Some(true) {
            out.push(format!("{indent}drift: the installed service differs from what its spec gives now; run `tend install` again"));
        }
        if let Some(n) = &r.native {
            if !n.enabled {
                out.push(format!("{indent}not enabled at boot"));
            }
        }
    }
    out
}

/// `tend status --prune`: forgets every service in `dir` whose supervisor is gone
/// (unless `dir` holds an installed service's own state), removes the lock files no
/// one holds that have no state file, and says what it removed and what it kept.
fn prune(dir: &Path, layout: &Layout) -> u8 {
    let names = match state::names(dir) {
        Ok(n) => n,
        Err(e) => {
            errln!(
                "error: cannot read {}: {}",
                dir.display(),
                crate::text::io_error(&e)
            );
            return exit::ERROR;
        }
    };
    let (mut removed, mut code) = (0, exit::OK);
    for name in names {
        // Only the installed service's own state; not that of a `tend run` of a
        // service with the same name, kept elsewhere.
        if installed_state(layout, dir, &name) {
            outln!("kept `{name}`: the installed service's own state (it goes with `tend uninstall {name} --purge`)");
            continue;
        }
        match state::forget(dir, &name) {
            Ok(f) => {
                removed += 1;
                outln!("removed `{name}`: {}", show_paths(&f.removed));
            }
            Err(state::ForgetError::Supervised { holder, .. }) => outln!(
                "kept `{name}`: its supervisor runs{}",
                holder.map_or(String::new(), |h| format!(" (pid {})", h.pid))
            ),
            // Gone meanwhile.
            Err(state::ForgetError::Unknown { .. }) => {}
            Err(e @ (state::ForgetError::Io { .. } | state::ForgetError::Lock { .. })) => {
                errln!("error: {e}");
                code = exit::ERROR;
            }
        }
    }
    match state::forget_lone_locks(dir) {
        Ok(locks) => {
            for lock in locks {
                removed += 1;
                outln!("removed {}: a lock file without state", lock.display());
            }
        }
        Err(e) => {
            errln!("error: {e}");
            code = exit::ERROR;
        }
    }
    if removed == 0 {
        outln!(
            "nothing to prune in {}: no state of a service whose supervisor is gone",
            dir.display()
        );
    }
    code
}

/// `a, b`.
pub(super) fn show_paths(paths: &[PathBuf]) -> String {
    paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The LAST EXIT column: `code 1, 2m 5s ago`, `SIGKILL, 340ms ago`, `OOM-killed, 3s
/// ago`.
fn last_exit(e: &state::LastExit, now_ms: u64) -> String {
    let ago = show_duration(Duration::from_millis(now_ms.saturating_sub(e.at_ms)));
    if e.oom_killed {
        return format!("OOM-killed, {ago} ago");
    }
    match (&e.code, &e.signal) {
        (Some(c), _) => format!("code {c}, {ago} ago"),
        (_, Some(sig)) => format!("{sig}, {ago} ago"),
        _ => "-".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(name: &str, state: state::State, message: Option<&str>) -> Row {
        Row {
            name: name.to_string(),
            installed: false,
            backend: None,
            native: None,
            drift: None,
            status: Some(state::Status {
                supervisor_pid: 1,
                pid: Some(4242),
                since_ms: 0,
                restarts: 12,
                message: message.map(str::to_string),
                ..state::Status::new(name, state, format!("/srv/{name}.toml").into())
            }),
            unreadable: None,
            state_file: PathBuf::new(),
            spec: Some(format!("/srv/{name}.toml").into()),
            supervisor_alive: true,
            uptime_ms: Some(125_000),
            releases: None,
        }
    }

    #[test]
    fn the_table_is_as_wide_as_its_cells_and_notes_sit_under_the_state() {
        let long = "x".repeat(40);
        let mut unhealthy = at("api", state::State::Running, None);
        unhealthy.status.as_mut().unwrap().health = Some(state::Health {
            state: state::HealthState::Unhealthy,
            since_ms: 0,
            failures: 3,
            last_probe: Some(state::Probe {
                at_ms: 0,
                ok: false,
                took_ms: 2000,
                result: "GET http://127.0.0.1:8080/healthz: no answer within 2s".into(),
            }),
            last_error: None,
        });
        let rows = [
            at(&long, state::State::Running, None),
            at("db", state::State::Backoff, Some("restarting in 2s")),
            unhealthy,
        ];
        assert_eq!(
            table(&rows, 0),
            [
                format!(
                    "{:<40} SERVICE STATE   HEALTH     PID UPTIME RESTARTS  LAST EXIT SPEC",
                    "NAME"
                ),
                format!("{long} -       running -         4242  2m 5s       12  -         /srv/{long}.toml"),
                format!(
                    "{:<40} -       backoff -         4242  2m 5s       12  -         /srv/db.toml",
                    "db"
                ),
                format!("{:<41}restarting in 2s", ""),
                format!(
                    "{:<40} -       running unhealthy 4242  2m 5s       12  -         /srv/api.toml",
                    "api"
                ),
                format!(
                    "{:<41}health: GET http://127.0.0.1:8080/healthz: no answer within 2s",
                    ""
                ),
            ]
        );
    }

    #[test]
    fn the_release_is_said_under_the_row() {
        let mut api = at("api", state::State::Running, None);
        api.releases = Some(crate::update::release::Index {
            current: Some("2.1".into()),
            previous: vec![Some("2.0".into()), None],
            rolled_back: vec!["2.2".into()],
            trial: None,
        });
        let lines = table(&[api], 0);
        assert_eq!(
            lines[2],
            "     release 2.1 (before: release 2.0, the spec's command); rolled back: 2.2"
        );
    }

    /// A layout in a temporary folder with `web` installed (its own state in
    /// `lib/web/web.json`, from its installed spec), and a state folder `state` where a
    /// `tend run` of another `web` (from a project), `old` and a corrupt `junk` left
    /// their state.
    fn installed_web_and_a_dev_web() -> (tempfile::TempDir, Layout, PathBuf) {
        let root = tempfile::tempdir().unwrap();
        let layout = Layout {
            spec_dir: root.path().join("etc"),
            state_root: root.path().join("lib"),
            ..Layout::unix(PathBuf::new())
        };
        let dir = root.path().join("state");
        std::fs::create_dir_all(&layout.spec_dir).unwrap();
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(layout.record_path("web"), "{}").unwrap();
        let stopped = |name: &str, spec: &Path| state::Status {
            spec: spec.to_path_buf(),
            supervisor_pid: 0,
            pid: None,
            state: state::State::Stopped,
            ..at(name, state::State::Stopped, None).status.unwrap()
        };
        state::write_status(
            &layout.state_dir("web"),
            &stopped("web", &layout.spec_path("web")),
        )
        .unwrap();
        state::write_status(&dir, &stopped("web", Path::new("/home/me/shop/tend.toml"))).unwrap();
        state::write_status(&dir, &stopped("old", Path::new("/srv/old/tend.toml"))).unwrap();
        std::fs::write(state::state_path(&dir, "junk"), "{}").unwrap();
        (root, layout, dir)
    }

    /// The installed `web` and a `tend run` of another `web` are two rows, told apart
    /// by their SPEC and state file; a corrupt state file is a row too.
    #[test]
    fn a_row_per_state_file_even_of_one_name() {
        let (_root, layout, dir) = installed_web_and_a_dev_web();
        let all = rows(&layout, &dir, &[], 0);
        let seen: Vec<(&str, bool, Option<&Path>, PathBuf)> = all
            .iter()
            .map(|r| {
                (
                    r.name.as_str(),
                    r.installed,
                    r.spec.as_deref(),
                    r.state_file.clone(),
                )
            })
            .collect();
        assert_eq!(
            seen,
            [
                ("junk", false, None, state::state_path(&dir, "junk")),
                (
                    "old",
                    false,
                    Some(Path::new("/srv/old/tend.toml")),
                    state::state_path(&dir, "old")
                ),
                (
                    "web",
                    true,
                    Some(layout.spec_path("web").as_path()),
                    state::state_path(&layout.state_dir("web"), "web")
                ),
                (
                    "web",
                    false,
                    Some(Path::new("/home/me/shop/tend.toml")),
                    state::state_path(&dir, "web")
                ),
            ]
        );
        // The state folder given is the installed service's own: one row.
        let own: Vec<(String, bool)> = rows(&layout, &layout.state_dir("web"), &[], 0)
            .iter()
            .map(|r| (r.name.clone(), r.installed))
            .collect();
        assert_eq!(own, [("web".to_string(), true)]);
    }

    /// A state file that cannot be read is a row (`unreadable`, the reason as its
    /// message), in the table and the JSON alike, not only a warning: `--prune` removes
    /// it, so a script must see it.
    #[test]
    fn an_unreadable_state_file_is_a_row_saying_why() {
        let (_root, layout, dir) = installed_web_and_a_dev_web();
        let rows = rows(&layout, &dir, &["junk".parse().unwrap()], 0);
        let (rows, unknown) = select(rows, &["junk".parse().unwrap()]);
        assert!(unknown.is_empty());
        let json = serde_json::to_value(JsonRow::from(&rows[0])).unwrap();
        assert_eq!(json["state"], "unreadable");
        assert_eq!(json["recorded_state"], serde_json::Value::Null);
        assert_eq!(json["supervisor_alive"], false);
        let why = json["message"].as_str().unwrap();
        assert!(
            why.starts_with(&format!(
                "{}: not a tend state file (",
                state::state_path(&dir, "junk").display()
            )),
            "{why}"
        );
        let table = table(&rows, 0);
        assert!(table[1].starts_with("junk -       unreadable"), "{table:?}");
        assert_eq!(table[2], format!("     {why}"));
    }

    /// Whether a supervisor runs is whether it holds its lock: a state file that says
    /// running, whose pid is a live process (reused after a reboot, say) that holds no
    /// lock, is stale, with no pid or uptime of that stranger's.
    #[test]
    fn a_live_pid_without_the_lock_is_stale() {
        let dir = tempfile::tempdir().unwrap();
        let dir = dir.path();
        let mut s = at("api", state::State::Running, None).status.unwrap();
        s.supervisor_pid = std::process::id();
        s.started_at_ms = Some(1_000);
        state::write_status(dir, &s).unwrap();
        let r = row("api".into(), dir, 5_000);
        assert!(!r.supervisor_alive);
        assert_eq!(r.state_word(), Some("stale"));
        assert_eq!(r.uptime_ms, None);
        let json = serde_json::to_value(JsonRow::from(&r)).unwrap();
        assert_eq!(json["pid"], serde_json::Value::Null);
        // Its supervisor holds the lock: running.
        let _held = state::SupervisorLock::acquire(dir, "api").unwrap();
        let r = row("api".into(), dir, 5_000);
        assert!(r.supervisor_alive);
        assert_eq!(r.state_word(), Some("running"));
        assert_eq!(r.uptime_ms, Some(4_000));
    }

    /// A supervisor that writes its final state and ends while status looks is shown in
    /// that state, not stale: the lock is looked at before the state file is read.
    #[test]
    fn a_supervisor_ending_while_status_looks_is_not_stale() {
        let dir = tempfile::tempdir().unwrap();
        let dir = dir.path();
        let mut s = at("api", state::State::Running, None).status.unwrap();
        s.supervisor_pid = std::process::id();
        s.started_at_ms = Some(1_000);
        state::write_status(dir, &s).unwrap();
        let held = state::SupervisorLock::acquire(dir, "api").unwrap();
        let r = row_between("api".into(), dir, 5_000, || {
            // Its final state, then its end.
            s.state = state::State::Stopped;
            state::write_status(dir, &s).unwrap();
            drop(held);
        });
        assert_eq!(r.state_word(), Some("stopped"));
    }

    /// `--prune` removes the state of a `tend run` of a service that has the name of an
    /// installed one (another file), and keeps only the installed service's own state.
    #[test]
    fn prune_keeps_only_an_installed_services_own_state() {
        let (_root, layout, dir) = installed_web_and_a_dev_web();
        let own = state::state_path(&layout.state_dir("web"), "web");
        // A lock file with no state file beside it, held by no one.
        std::fs::write(state::lock_path(&dir, "lone"), "").unwrap();
        assert_eq!(prune(&dir, &layout), exit::OK);
        assert!(
            state::names(&dir).unwrap().is_empty(),
            "web, old and junk go"
        );
        #[cfg(unix)]
        assert!(!state::lock_path(&dir, "lone").exists());
        assert!(
            own.exists(),
            "the installed service's state is not in that folder"
        );
        // In the installed service's own state folder: kept.
        assert_eq!(prune(&layout.state_dir("web"), &layout), exit::OK);
        assert!(own.exists());
    }
    #[test]
    fn names_select_rows_in_table_order_and_the_unknown_once_each() {
        let rows = vec![
            at("api", state::State::Running, None),
            at("db", state::State::Running, None),
            at("web", state::State::Running, None),
        ];
        let names: Vec<ServiceName> = ["web", "nope", "api", "nope"]
            .iter()
            .map(|n| n.parse().unwrap())
            .collect();
        let (rows, unknown) = select(rows, &names);
        let shown: Vec<&str> = rows.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(shown, ["api", "web"]);
        assert_eq!(unknown, ["nope"]);
    }

    #[test]
    fn last_exits_read_with_tends_durations() {
        let at = |code: Option<i32>, signal: Option<&str>| state::LastExit {
            code,
            signal: signal.map(str::to_string),
            at_ms: 1_000_000,
            oom_killed: false,
        };
        let oom = state::LastExit {
            oom_killed: true,
            ..at(None, Some("SIGKILL"))
        };
        assert_eq!(last_exit(&oom, 1_003_000), "OOM-killed, 3s ago");
        for (e, now, shown) in [
            (at(Some(1), None), 1_000_340, "code 1, 340ms ago"),
            (at(Some(0), None), 1_125_000, "code 0, 2m 5s ago"),
            (at(None, Some("SIGKILL")), 1_002_500, "SIGKILL, 2.5s ago"),
            (
                at(None, Some("SIGKILL")),
                1_000_000 + 3 * 86_400_000 + 7_200_000,
                "SIGKILL, 3days 2h ago",
            ),
            (at(None, None), 1_000_000, "-"),
        ] {
            assert_eq!(last_exit(&e, now), shown);
        }
    }
}
