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
    "reload",
    "status",
    "doctor",
    "logs",
    "uninstall",
    "forget",
    "control",
];

/// `cmd` with service names offered for the `NAME` arguments of [`NAMED`]
/// subcommands, and for `tend up FILE NAME...` the services of FILE.
pub fn with_service_names(cmd: clap::Command) -> clap::Command {
    cmd.mut_subcommands(|sub| {
        if sub.get_name() == "up" {
            return sub.mut_arg("names", |a| a.add(ArgValueCandidates::new(up_candidates)));
        }
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

/// `tend completions SHELL`: the script to source, which asks `tend` (looked up on
/// `PATH` when completing) for the candidates. Always the program's name, never the
/// path it was run by: the script is written to a file (a package's completions
/// folder, a shell's startup file), where a build folder's path would go stale. (A
/// tend that is not on `PATH` prints a script that calls it by its path with
/// `COMPLETE=bash path/to/tend`, clap_complete's own way in.)
pub fn registration(shell: clap_complete::Shell) -> u8 {
    // What `COMPLETE=SHELL tend` prints; the variable is removed again at once.
    std::env::set_var("COMPLETE", shell.to_string());
    let cwd = std::env::current_dir().ok();
    // Its only error is a failed write (a closed stdout: a normal end, like every
    // command's output).
    let _ = clap_complete::CompleteEnv::with_factory(super::command)
        .completer("tend")
        .try_complete(["tend"], cwd.as_deref());
    super::exit::OK
}

/// The words of the command line being completed: what follows the `--` of
/// `COMPLETE=bash tend -- tend stop --state-dir x a`, the program's name first.
fn line() -> Vec<String> {
    let args: Vec<String> = std::env::args_os()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    match args.iter().position(|a| a == "--") {
        Some(i) => args[i + 1..].to_vec(),
        None => Vec::new(),
    }
}

/// A path as typed on the command line, where the shell has not expanded a leading
/// `~` yet (the word being completed, or a quoted one): `~` and `~/...` are under
/// `home`.
fn typed_path(word: &str, home: Option<&Path>) -> PathBuf {
    match (word, word.strip_prefix("~/"), home) {
        ("~", _, Some(home)) => home.to_path_buf(),
        (_, Some(rest), Some(home)) => home.join(rest),
        _ => PathBuf::from(word),
    }
}

/// The home folder, for [`typed_path`].
fn home() -> Option<PathBuf> {
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(PathBuf::from)
}

/// The value of `--state-dir` on the command line `words` (the last one given), as
/// `--state-dir DIR` or `--state-dir=DIR` (a leading `~` under `home`).
fn state_dir_on(words: &[String], home: Option<&Path>) -> Option<PathBuf> {
    let mut found = None;
    for (i, w) in words.iter().enumerate() {
        if w == "--state-dir" {
            found = words
                .get(i + 1)
                .filter(|v| !v.is_empty())
                .map(|v| typed_path(v, home));
        } else if let Some(v) = w.strip_prefix("--state-dir=") {
            found = Some(typed_path(v, home));
        }
    }
    found
}

/// The spec file of `tend up` on the command line `words` (its first word that is not
/// an option, the word being completed (the last) aside), and tend.toml if none (a
/// leading `~` under `home`).
fn up_file(words: &[String], home: Option<&Path>) -> Option<PathBuf> {
    let up = words.iter().position(|w| w == "up")?;
    let cmd = super::command();
    let sub = cmd.find_subcommand("up")?;
    let takes_value = |w: &str| {
        sub.get_arguments().any(|a| {
            let named = match w.strip_prefix("--") {
                Some(long) => a.get_long() == Some(long),
                None => w.len() == 2 && a.get_short() == w.chars().nth(1),
            };
            named && a.get_action().takes_values()
        })
    };
    let typed = &words[up + 1..words.len().saturating_sub(1).max(up + 1)];
    let mut skip = false;
    for w in typed {
        if std::mem::take(&mut skip) {
            continue;
        }
        if w.starts_with('-') {
            skip = !w.contains('=') && takes_value(w);
            continue;
        }
        return Some(typed_path(w, home));
    }
    Some(super::default_up_file())
}

/// The services of the spec file of the `tend up` being completed.
fn up_candidates() -> Vec<CompletionCandidate> {
    let Some(file) = up_file(&line(), home().as_deref()) else {
        return Vec::new();
    };
    let Ok(loaded) = super::SpecArgs {
        profile: None,
        sets: Vec::new(),
    }
    .load(&file) else {
        return Vec::new();
    };
    loaded
        .services
        .iter()
        .map(|s| {
            CompletionCandidate::new(s.name.as_str()).help(Some(file.display().to_string().into()))
        })
        .collect()
}

/// The candidates of this machine (see the module's doc).
fn candidates() -> Vec<CompletionCandidate> {
    let layout = Layout::system(PathBuf::new());
    let state_dir = state_dir_on(&line(), home().as_deref())
        .or_else(|| {
            std::env::var_os("TEND_STATE_DIR")
                .filter(|d| !d.is_empty())
                .map(PathBuf::from)
        })
        .unwrap_or_else(supervise::default_state_dir);
    service_names(&layout, &state_dir)
        .into_iter()
        .map(|(name, what)| CompletionCandidate::new(name).help(Some(what.into())))
        .collect()
}

/// The service names installed (in `layout`) or with a state file in `state_dir`,
/// sorted, each with what it is (`installed`, or `tend run/up`).
pub fn service_names(layout: &Layout, state_dir: &Path) -> Vec<(String, &'static str)> {
    let mut names = BTreeMap::new();
    for name in files(state_dir, ".json") {
        names.insert(name, "tend run/up");
    }
    for name in layout.installed_names() {
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

    fn words(line: &str) -> Vec<String> {
        line.split(' ').map(str::to_string).collect()
    }

    #[test]
    fn the_state_dir_on_the_line() {
        #[rustfmt::skip]
        let table: &[(&str, Option<&str>)] = &[
            ("tend stop --state-dir /x a", Some("/x")),
            ("tend stop --state-dir=/y ", Some("/y")),
            ("tend --state-dir /x stop --state-dir=/z ", Some("/z")),
            ("tend stop --state-dir", None),
            ("tend stop a", None),
            ("tend stop --state-dir ~/s a", Some("/home/me/s")),
            ("tend stop --state-dir=~ a", Some("/home/me")),
        ];
        for (line, want) in table {
            assert_eq!(
                state_dir_on(&words(line), Some(Path::new("/home/me"))),
                want.map(PathBuf::from),
                "{line}"
            );
        }
    }

    #[test]
    fn the_file_of_tend_up_on_the_line() {
        #[rustfmt::skip]
        let table: &[(&str, &str)] = &[
            ("tend up dev.toml ", "dev.toml"),
            ("tend up dev.toml api w", "dev.toml"),
            ("tend up --state-dir /s dev.toml ", "dev.toml"),
            ("tend up -p prod --set a=b dev.toml ", "dev.toml"),
            ("tend up --log-files dev.toml ", "dev.toml"),
            ("tend up --state-dir=/s ", "tend.toml"),
            ("tend up ", "tend.toml"),
            ("tend up dev", "tend.toml"),
            ("tend up ~/x.toml ", "/home/me/x.toml"),
            ("tend up ~other/x.toml ", "~other/x.toml"),
        ];
        for (line, want) in table {
            let home = Some(Path::new("/home/me"));
            assert_eq!(
                up_file(&words(line), home),
                Some(PathBuf::from(want)),
                "{line}"
            );
        }
    }

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
        let layout = |spec_dir: PathBuf| Layout {
            spec_dir,
            ..Layout::unix(PathBuf::new())
        };
        assert_eq!(
            service_names(&layout(specs), &states),
            [
                ("api".to_string(), "tend run/up"),
                ("db".to_string(), "tend run/up"),
                ("web".to_string(), "installed")
            ]
        );
        assert!(
            service_names(&layout(dir.path().join("none")), &dir.path().join("none")).is_empty()
        );
    }
}
