//! `tend doctor`: picks the services (a name, a spec file, or every one), has
//! [`crate::doctor`] observe and diagnose each, and prints the reports.

use std::path::{Path, PathBuf};

use clap::Args;

use super::exit;
use super::status::{self, Row};
use crate::doctor::observe::{self, Known};
use crate::doctor::{self, Report, Severity};
use crate::platform::Layout;
use crate::supervise::{self, state};

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
                let facts =
                    observe::observe(row.map(known), &name, Some(path.clone()), Ok(Some(spec)));
                reports.push(doctor::report(&facts));
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
                    .map(|p| observe::load_spec(p, &row.name))
                    .unwrap_or(Ok(None));
                let facts = observe::observe(Some(known(row)), &row.name, row.spec.clone(), spec);
                reports.push(doctor::report(&facts));
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

/// What `tend status` knows of a service, as the doctor's observation starts from it.
fn known(r: &Row) -> Known {
    Known {
        installed: r.installed,
        status: r.status.clone(),
        supervisor_alive: r.supervisor_alive,
        drift: r.drift,
        state_file: Some(r.state_file.clone()),
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
