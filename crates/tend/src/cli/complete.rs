//! Shell completion: `tend completions SHELL` prints a script that asks tend itself
//! for the candidates as you type (clap_complete's dynamic engine, run by
//! [`clap_complete::CompleteEnv`] at the start of `main`), so the service names
//! offered for `tend stop NAME` and the like are those of this machine at that moment:
//! the installed services and the services with a state file (a `tend run` / `tend up`,
//! in `TEND_STATE_DIR` or the default state folder).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use clap_complete::engine::{ArgValueCandidates, CompletionCandidate};

use crate::platform::Layout;
use crate::spec::ServiceName;
use crate::supervise;

/// The subcommands whose `NAME` argument(s) are service names.
const NAMED: &[&str] = &[
    "start",
    "stop",
    "restart",
    "reopen-logs",
    "status",
    "logs",
    "uninstall",
    "forget",
    "control",
];

/// `cmd` with service names offered for the `NAME` arguments of [`NAMED`]
/// subcommands.
pub fn with_service_names(cmd: clap::Command) -> clap::Command {
    cmd.mut_subcommands(|sub| {
        if !NAMED.contains(&sub.get_name()) {
            return sub;
        }
        sub.mut_args(|a| {
            if a.is_positional() && matches!(a.get_id().as_str(), "name" | "names") {
                a.add(ArgValueCandidates::new(candidates))
            } else {
                a
            }
        })
    })
}

/// `tend completions SHELL`: the script to source, which asks this tend (as it was
/// called: a bare `tend` is looked up on `PATH` when completing) for the candidates.
pub fn registration(shell: clap_complete::Shell) -> u8 {
    // What `COMPLETE=SHELL tend` prints; the variable is removed again at once.
    std::env::set_var("COMPLETE", shell.to_string());
    let argv0 = std::env::args_os().next().unwrap_or_else(|| "tend".into());
    let cwd = std::env::current_dir().ok();
    // Its only error is a failed write (a closed stdout: a normal end, like every
    // command's output).
    let _ = clap_complete::CompleteEnv::with_factory(super::command)
        .try_complete([argv0], cwd.as_deref());
    super::exit::OK
}

/// The candidates of this machine (see the module's doc).
fn candidates() -> Vec<CompletionCandidate> {
    let layout = Layout::system(PathBuf::new());
    let state_dir = std::env::var_os("TEND_STATE_DIR")
        .filter(|d| !d.is_empty())
        .map_or_else(supervise::default_state_dir, PathBuf::from);
    service_names(&layout.spec_dir, &state_dir)
        .into_iter()
        .map(|(name, what)| CompletionCandidate::new(name).help(Some(what.into())))
        .collect()
}

/// The service names installed (records in `spec_dir`) or with a state file in
/// `state_dir`, sorted, each with what it is (`installed`, or `tend run/up`).
pub fn service_names(spec_dir: &Path, state_dir: &Path) -> Vec<(String, &'static str)> {
    let mut names = BTreeMap::new();
    for name in files(state_dir, ".json") {
        names.insert(name, "tend run/up");
    }
    for name in files(spec_dir, ".install.json") {
        names.insert(name, "installed");
    }
    names.into_iter().collect()
}

/// The names `NAME` of the files `NAME{suffix}` in `dir` (valid service names only).
fn files(dir: &Path, suffix: &str) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let file = e.file_name().into_string().ok()?;
            let stem = file.strip_suffix(suffix)?;
            // Not a temporary file, nor another kind of `.json`.
            ServiceName::new(stem).ok()?;
            Some(stem.to_string())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_come_from_install_records_and_state_files() {
        let dir = tempfile::tempdir().unwrap();
        let (specs, states) = (dir.path().join("etc"), dir.path().join("state"));
        std::fs::create_dir_all(&specs).unwrap();
        std::fs::create_dir_all(&states).unwrap();
        std::fs::write(specs.join("web.install.json"), "{}").unwrap();
        std::fs::write(specs.join("web.toml"), "").unwrap();
        std::fs::write(states.join("api.json"), "not json").unwrap();
        std::fs::write(states.join("api.lock"), "").unwrap();
        std::fs::write(states.join("api.json.tmp.42"), "").unwrap();
        std::fs::write(states.join("bad name.json"), "").unwrap();
        std::fs::write(states.join("db.json"), "{}").unwrap();
        assert_eq!(
            service_names(&specs, &states),
            [
                ("api".to_string(), "tend run/up"),
                ("db".to_string(), "tend run/up"),
                ("web".to_string(), "installed")
            ]
        );
        assert!(service_names(&dir.path().join("none"), &dir.path().join("none")).is_empty());
    }
}
