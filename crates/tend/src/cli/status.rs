//! `tend status`: the state of supervised services, from their state files. A state
//! file whose supervisor is gone is shown as stale rather than trusted.

use std::path::PathBuf;

use clap::Args;
use serde::Serialize;

use super::exit;
use crate::supervise::{self, state, sys};

/// Arguments of `tend status`.
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Only this service.
    pub name: Option<String>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
    /// Where state files are (default: /var/lib/tend as root, else ~/.local/state/tend).
    #[arg(long, env = "TEND_STATE_DIR")]
    pub state_dir: Option<PathBuf>,
}

#[derive(Serialize)]
struct Row {
    #[serde(flatten)]
    status: state::Status,
    /// Whether the supervisor that wrote the file is still running.
    supervisor_alive: bool,
    /// Seconds since the current child started, while running.
    #[serde(skip_serializing_if = "Option::is_none")]
    uptime_secs: Option<u64>,
}

/// `tend status`.
pub fn status(a: StatusArgs) -> u8 {
    let dir = a.state_dir.unwrap_or_else(supervise::default_state_dir);
    let all = match state::read_all(&dir) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("error: cannot read {}: {e}", dir.display());
            return exit::ERROR;
        }
    };
    let now = state::now_ms();
    let mut rows = Vec::new();
    for r in all {
        match r {
            Ok(s) if a.name.as_deref().is_none_or(|n| n == s.name) => {
                let alive = sys::alive(s.supervisor_pid as i32);
                let running = alive && s.state == state::State::Running;
                let uptime_secs = s
                    .started_at_ms
                    .filter(|_| running)
                    .map(|t| now.saturating_sub(t) / 1000);
                rows.push(Row {
                    status: s,
                    supervisor_alive: alive,
                    uptime_secs,
                });
            }
            Ok(_) => {}
            Err(e) => eprintln!("warning: {e}"),
        }
    }
    if let Some(n) = &a.name {
        if rows.is_empty() {
            eprintln!("error: no state for service `{n}` in {}", dir.display());
            eprintln!("  = help: is it running under tend? (state files are written by `tend run`/`tend up`; see --state-dir)");
            return exit::ERROR;
        }
    }
    if a.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&rows).unwrap_or_default()
        );
        return exit::OK;
    }
    if rows.is_empty() {
        println!("no services in {}", dir.display());
        return exit::OK;
    }
    println!(
        "{:<20} {:<9} {:>8} {:>10} {:>8}  LAST EXIT",
        "NAME", "STATE", "PID", "UPTIME", "RESTARTS"
    );
    for r in &rows {
        let s = &r.status;
        let state = if r.supervisor_alive || !is_live(s.state) {
            s.state.as_str().to_string()
        } else {
            "stale".to_string()
        };
        let pid = s
            .pid
            .filter(|_| r.supervisor_alive)
            .map_or("-".to_string(), |p| p.to_string());
        let uptime = r.uptime_secs.map_or("-".to_string(), human_secs);
        let last = match &s.last_exit {
            Some(e) => match (&e.code, &e.signal) {
                (Some(c), _) => format!(
                    "code {c}, {} ago",
                    human_secs(now.saturating_sub(e.at_ms) / 1000)
                ),
                (_, Some(sig)) => format!(
                    "{sig}, {} ago",
                    human_secs(now.saturating_sub(e.at_ms) / 1000)
                ),
                _ => "-".to_string(),
            },
            None => "-".to_string(),
        };
        println!(
            "{:<20} {:<9} {:>8} {:>10} {:>8}  {last}",
            s.name, state, pid, uptime, s.restarts
        );
        if !r.supervisor_alive && is_live(s.state) {
            println!(
                "{:<20} (supervisor pid {} is gone; this is its last word)",
                "", s.supervisor_pid
            );
        } else if let Some(m) = &s.message {
            if matches!(s.state, state::State::Failed | state::State::Backoff) {
                println!("{:<20} {m}", "");
            }
        }
        if s.log_dropped_lines > 0 {
            println!(
                "{:<20} {} output lines could not be written to the log",
                "", s.log_dropped_lines
            );
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

fn human_secs(s: u64) -> String {
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m{}s", s / 60, s % 60),
        3600..=86_399 => format!("{}h{}m", s / 3600, (s % 3600) / 60),
        _ => format!("{}d{}h", s / 86_400, (s % 86_400) / 3600),
    }
}
