//! `tend status`: the state of supervised services, from their state files. A state
//! file whose supervisor is gone is shown as stale rather than trusted.

use std::path::PathBuf;
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
    /// Only this service.
    pub name: Option<ServiceName>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
    /// Where state files are (default: /var/lib/tend as root, else ~/.local/state/tend).
    #[arg(long, env = "TEND_STATE_DIR")]
    pub state_dir: Option<PathBuf>,
}

#[derive(Serialize)]
struct Row {
    name: String,
    /// Installed as a native service (`tend install`).
    installed: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    backend: Option<String>,
    /// The service manager's view.
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    native: Option<NativeStatus>,
    /// The installed unit differs from what the installed spec renders now.
    #[serde(skip_serializing_if = "Option::is_none")]
    drift: Option<bool>,
    /// The supervisor's view (from its state file).
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    status: Option<state::Status>,
    /// Whether the supervisor that wrote the state file is still running.
    supervisor_alive: bool,
    /// Seconds since the current child started, while running.
    #[serde(skip_serializing_if = "Option::is_none")]
    uptime_secs: Option<u64>,
}

fn row(name: String, status: Option<state::Status>, now: u64) -> Row {
    let alive = status
        .as_ref()
        .is_some_and(|s| sys::alive(s.supervisor_pid as i32));
    let uptime_secs = status
        .as_ref()
        .filter(|s| alive && s.state == state::State::Running)
        .and_then(|s| s.started_at_ms)
        .map(|t| now.saturating_sub(t) / 1000);
    Row {
        name,
        installed: false,
        backend: None,
        native: None,
        drift: None,
        status,
        supervisor_alive: alive,
        uptime_secs,
    }
}

/// The installed services, with the manager's view and drift.
fn installed_rows(layout: &Layout, only: Option<&str>, now: u64) -> Vec<Row> {
    let mut names: Vec<String> = std::fs::read_dir(&layout.spec_dir)
        .map(|d| {
            d.filter_map(|e| e.ok())
                .filter_map(|e| e.file_name().into_string().ok())
                .filter_map(|f| f.strip_suffix(".install.json").map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names.retain(|n| only.is_none_or(|o| o == n));
    names
        .into_iter()
        .map(|name| {
            let st = state::read_one(&state::state_path(&layout.state_dir(&name), &name)).ok();
            let mut r = row(name.clone(), st, now);
            r.installed = true;
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

/// `tend status`.
pub fn status(a: StatusArgs) -> u8 {
    let now = state::now_ms();
    let layout = Layout::system(PathBuf::new());
    let mut rows = installed_rows(&layout, a.name.as_ref().map(ServiceName::as_str), now);
    let dir = a.state_dir.unwrap_or_else(supervise::default_state_dir);
    match state::read_all(&dir) {
        Ok(all) => {
            for r in all {
                match r {
                    Ok(s)
                        if a.name.as_ref().is_none_or(|n| n.as_str() == s.name)
                            && !rows.iter().any(|r| r.installed && r.name == s.name) =>
                    {
                        rows.push(row(s.name.clone(), Some(s), now))
                    }
                    Ok(_) => {}
                    Err(e) => errln!("warning: {e}"),
                }
            }
        }
        Err(e) => errln!("warning: cannot read {}: {e}", dir.display()),
    }
    if let Some(n) = &a.name {
        if rows.is_empty() {
            errln!(
                "error: `{n}` is neither installed nor has state in {}",
                dir.display()
            );
            errln!("  = help: state files are written by `tend run`/`tend up` (see --state-dir); `tend install` installs a service");
            return exit::ERROR;
        }
    }
    if a.json {
        let v = if a.name.is_some() {
            serde_json::to_value(&rows[0])
        } else {
            serde_json::to_value(&rows)
        };
        outln!(
            "{}",
            serde_json::to_string_pretty(&v.unwrap_or_default()).unwrap_or_default()
        );
        return exit::OK;
    }
    if rows.is_empty() {
        outln!(
            "no services (none installed, no state in {})",
            dir.display()
        );
        return exit::OK;
    }
    outln!(
        "{:<20} {:<10} {:<9} {:>8} {:>10} {:>8}  LAST EXIT",
        "NAME",
        "SERVICE",
        "STATE",
        "PID",
        "UPTIME",
        "RESTARTS"
    );
    for r in &rows {
        let native = r
            .native
            .as_ref()
            .map_or("-".to_string(), |n| n.active.clone());
        let (state_word, pid, restarts, last) = match &r.status {
            Some(s) => {
                let word = if r.supervisor_alive || !is_live(s.state) {
                    s.state.as_str().to_string()
                } else {
                    "stale".to_string()
                };
                let pid = s
                    .pid
                    .filter(|_| r.supervisor_alive)
                    .map_or("-".to_string(), |p| p.to_string());
                let last = s
                    .last_exit
                    .as_ref()
                    .map_or("-".to_string(), |e| last_exit(e, now));
                (word, pid, s.restarts.to_string(), last)
            }
            None => (
                "-".to_string(),
                "-".to_string(),
                "-".to_string(),
                "-".to_string(),
            ),
        };
        let uptime = r.uptime_secs.map_or("-".to_string(), |secs| {
            show_duration(Duration::from_secs(secs))
        });
        outln!(
            "{:<20} {:<10} {:<9} {:>8} {:>10} {:>8}  {last}",
            r.name,
            native,
            state_word,
            pid,
            uptime,
            restarts
        );
        if let Some(s) = &r.status {
            if !r.supervisor_alive && is_live(s.state) {
                outln!(
                    "{:<20} (supervisor pid {} is gone; this is its last word)",
                    "",
                    s.supervisor_pid
                );
            } else if let Some(m) = &s.message {
                if matches!(s.state, state::State::Failed | state::State::Backoff) {
                    outln!("{:<20} {m}", "");
                }
            }
            if let Some(line) = &s.last_stderr {
                outln!("{:<20} last stderr: {line}", "");
            }
            if s.log_dropped_lines > 0 || s.log_dropped_bytes > 0 {
                outln!(
                    "{:<20} {} output lines ({} bytes) could not be written to the log",
                    "",
                    s.log_dropped_lines,
                    s.log_dropped_bytes
                );
            }
        }
        if r.drift == Some(true) {
            outln!("{:<20} drift: the installed service differs from what its spec gives now; run `tend install` again", "");
        }
        if let Some(n) = &r.native {
            if !n.enabled {
                outln!("{:<20} not enabled at boot", "");
            }
        }
    }
    exit::OK
}

fn is_live(s: state::State) -> bool {
    matches!(
        s,
        state::State::Starting
            | state::State::Running
            | state::State::Backoff
            | state::State::Stopping
    )
}

/// The LAST EXIT column: `code 1, 2m 5s ago`, `SIGKILL, 340ms ago`.
fn last_exit(e: &state::LastExit, now_ms: u64) -> String {
    let ago = show_duration(Duration::from_millis(now_ms.saturating_sub(e.at_ms)));
    match (&e.code, &e.signal) {
        (Some(c), _) => format!("code {c}, {ago} ago"),
        (_, Some(sig)) => format!("{sig}, {ago} ago"),
        _ => "-".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn last_exits_read_with_tends_durations() {
        let at = |code: Option<i32>, signal: Option<&str>| state::LastExit {
            code,
            signal: signal.map(str::to_string),
            at_ms: 1_000_000,
        };
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
