//! `tend check`: validate a spec and print it resolved, so an operator sees exactly
//! what a profile and overrides produce.

use std::path::{Path, PathBuf};

use clap::Args;

use super::{exit, SpecArgs};
use crate::spec::{Diagnostic, Loaded, Salvaged, SpecError};
use crate::supervise::prepare;

/// Arguments of `tend check`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// The spec file.
    pub spec: PathBuf,
    #[command(flatten)]
    pub spec_args: SpecArgs,
    /// Print JSON instead of TOML.
    #[arg(long)]
    pub json: bool,
    /// Print nothing; only the exit code tells.
    #[arg(long, short)]
    pub quiet: bool,
    /// Check the spec alone, not this machine: skip what `tend run` checks before it
    /// starts (the program, working_dir, env_file, the account), for a spec meant for
    /// another machine.
    #[arg(long)]
    pub syntax_only: bool,
}

/// `tend check`.
pub fn check(a: CheckArgs) -> u8 {
    // A spec with problems is still read as far as it can be, and the checks of this
    // machine run on what was read: every problem in one run.
    let (path, services, loaded, found) = match a.spec_args.load_or_salvage(&a.spec) {
        Ok(l) => (l.path.clone(), Salvaged::all_of(&l), Some(l), Vec::new()),
        Err(_) if a.quiet => return exit::ERROR,
        Err(f) => (a.spec.clone(), f.salvaged, None, f.error.problems()),
    };
    let (machine, warnings) = if a.syntax_only {
        (Vec::new(), Vec::new())
    } else {
        preflight(&path, &services)
    };
    if a.quiet {
        return if machine.is_empty() {
            exit::OK
        } else {
            exit::ERROR
        };
    }
    let mut errors: Vec<(Diagnostic, bool)> = found
        .into_iter()
        .map(|d| (d, false))
        .chain(machine.into_iter().map(|d| (d, true)))
        .collect();
    // One order for people and for scripts: that of the file.
    errors.sort_by_key(|(d, _)| d.position());
    if a.json {
        let spec = loaded
            .as_ref()
            .filter(|_| errors.is_empty())
            .map(resolved_json);
        let errors: Vec<Diagnostic> = errors.into_iter().map(|(d, _)| d).collect();
        return report(&path, &errors, &warnings, spec);
    }
    for w in &warnings {
        // Like an error, with its place; only the first word differs.
        let shown = Diagnostic {
            message: with_service(w),
            ..w.clone()
        };
        let text = shown.to_string();
        errln!(
            "{}",
            text.strip_prefix("error: ")
                .map_or(text.clone(), |t| format!("warning: {t}"))
                .trim_end()
        );
    }
    if !errors.is_empty() {
        let of_machine = errors.iter().any(|(_, m)| *m);
        // A check of this machine names its service in a file of several; a problem
        // of the file is at its line.
        let shown: Vec<Diagnostic> = errors
            .into_iter()
            .map(|(d, m)| {
                if m {
                    Diagnostic {
                        message: with_service(&d),
                        ..d
                    }
                } else {
                    d
                }
            })
            .collect();
        errln!("{}", SpecError::invalid(&path, shown));
        if of_machine {
            errln!("  = note: `tend run` refuses to start this; `--syntax-only` checks the spec without this machine");
        }
        return exit::ERROR;
    }
    let Some(loaded) = loaded else {
        return exit::ERROR;
    };
    let out = if loaded.multi {
        toml::to_string(&crate::spec::ServiceSet {
            service: loaded.services.clone(),
            metrics: loaded.metrics.clone(),
        })
        .map_err(|e| e.to_string())
    } else {
        toml::to_string(&loaded.services[0]).map_err(|e| e.to_string())
    };
    match out {
        Ok(text) => {
            outln!("{}", text.trim_end());
            exit::OK
        }
        Err(e) => {
            errln!("error: cannot print the resolved spec: {e}");
            exit::ERROR
        }
    }
}

/// `d`'s message, after the name of its service in a file of several.
fn with_service(d: &Diagnostic) -> String {
    match &d.service {
        Some(s) => format!("{s}: {}", d.message),
        None => d.message.clone(),
    }
}

/// The resolved spec as JSON, in the shape of the spec file: one service's keys, or
/// `{"service": [...]}` for a file of several.
fn resolved_json(loaded: &Loaded) -> serde_json::Value {
    if loaded.multi {
        match &loaded.metrics {
            Some(m) => serde_json::json!({ "service": loaded.services, "metrics": m }),
            None => serde_json::json!({ "service": loaded.services }),
        }
    } else {
        serde_json::to_value(&loaded.services[0]).unwrap_or_default()
    }
}

/// `tend check --json`: one object whatever the outcome (see the README, "`tend check
/// --json`"); exit 1 when there are errors.
fn report(
    file: &Path,
    errors: &[Diagnostic],
    warnings: &[Diagnostic],
    spec: Option<serde_json::Value>,
) -> u8 {
    let v = check_json(file, errors, warnings, spec);
    outln!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
    if errors.is_empty() {
        exit::OK
    } else {
        exit::ERROR
    }
}

/// The object `tend check --json` prints.
pub(crate) fn check_json(
    file: &Path,
    errors: &[Diagnostic],
    warnings: &[Diagnostic],
    spec: Option<serde_json::Value>,
) -> serde_json::Value {
    let file = file.display().to_string();
    let one = |d: &Diagnostic| {
        // A problem in the file has a place in it; one of an override names the
        // override (`--set k=v`, `environment variable TEND_X`) as its source.
        let (in_file, line, column, source) = match &d.location {
            Some(l) if l.line > 0 => (Some(l.origin.clone()), Some(l.line), Some(l.column), None),
            Some(l) => (None, None, None, Some(l.origin.clone())),
            None => (None, None, None, None),
        };
        serde_json::json!({
            "message": d.message,
            "file": in_file,
            "line": line,
            "column": column,
            "key": d.key,
            "help": d.help,
            "source": source,
            "service": d.service,
        })
    };
    serde_json::json!({
        "ok": errors.is_empty(),
        "file": file,
        "errors": errors.iter().map(one).collect::<Vec<_>>(),
        "warnings": warnings.iter().map(one).collect::<Vec<_>>(),
        "spec": spec,
    })
}

/// What `tend run` checks before it starts anything, for each of `services` of the spec
/// at `path` (all of them, or what could be read of a spec in error): each problem at
/// the line of the key it is about, and the warnings. A key the spec had in error is
/// left out: its value here is a default or a stand-in, not the spec's.
fn preflight(path: &Path, services: &[Salvaged]) -> (Vec<Diagnostic>, Vec<Diagnostic>) {
    let base = prepare::spec_base(path);
    let env: Vec<_> = std::env::vars_os().collect();
    let mut diags = Vec::new();
    let mut warnings = Vec::new();
    for s in services {
        let mut spec = s.spec.clone();
        // A program in error stands in as this one, which runs, so the checks after it
        // (the stop command, the warnings) still run.
        if !s.trusts("command") {
            if let Ok(me) = std::env::current_exe() {
                spec.command = me.display().to_string();
            }
        }
        let spec = &spec;
        let diagnostic = |key: &str, message: String| {
            // A name in error stands in: do not show the stand-in.
            let message = if s.trusts("name") {
                message
            } else {
                message.replace(&format!("`{}`", spec.name), "the service")
            };
            Diagnostic {
                location: s.place(key),
                message,
                help: None,
                key: Some(key.to_string()),
                service: s.service.clone(),
            }
        };
        let (problems, w) = machine_checks(spec, &base, &env);
        warnings.extend(
            w.into_iter()
                .filter(|w| s.trusts(w.key))
                .map(|w| diagnostic(w.key, w.message)),
        );
        let problems = problems.into_iter().filter(|p| s.trusts(p.key));
        // Who runs `tend check` is not who will run the service: say it, do not fail.
        let (invoker, problems): (Vec<_>, Vec<_>) = problems.partition(|p| p.invoker);
        warnings.extend(invoker.into_iter().map(|p| diagnostic(p.key, p.message)));
        diags.extend(problems.into_iter().map(|p| diagnostic(p.key, p.message)));
    }
    (diags, warnings)
}

/// Every check `tend run` makes of `spec` before it starts, each on its own: a problem
/// with one key (the program, working_dir, env_file, the account) does not hide those
/// of the others, the stop command nor the warnings. `prepare` stops at its problems,
/// so each round sets the keys in error aside (the program stands in as this one) and
/// prepares again, until it prepares and the stop command can be checked too.
fn machine_checks(
    spec: &crate::spec::Spec,
    base: &Path,
    env: &[(std::ffi::OsString, std::ffi::OsString)],
) -> (Vec<prepare::Problem>, prepare::Warnings) {
    let mut problems: Vec<prepare::Problem> = Vec::new();
    let mut relaxed = spec.clone();
    // Each round sets aside at least one more key, so there are few rounds.
    for _ in 0..8 {
        match prepare::prepare(&relaxed, base, env, false) {
            Ok((prepared, warnings)) => {
                if let Err(e) = prepare::prepare_hook(spec, base, &prepared) {
                    problems.extend(e.0);
                }
                if let Err(e) = prepare::prepare_reload(spec, base, &prepared) {
                    problems.extend(e.0);
                }
                return (problems, warnings);
            }
            Err(e) => {
                let mut new = false;
                for p in e.0 {
                    if problems
                        .iter()
                        .any(|q| q.key == p.key && q.message == p.message)
                    {
                        continue;
                    }
                    new |= set_aside(&mut relaxed, p.key);
                    problems.push(p);
                }
                if !new {
                    break;
                }
            }
        }
    }
    (problems, Vec::new())
}

/// Takes `key` out of `spec`'s checks: its default, or for the program this one, which
/// runs. Whether there was such a key to set aside.
fn set_aside(spec: &mut crate::spec::Spec, key: &str) -> bool {
    match key {
        "command" => match std::env::current_exe() {
            Ok(me) if spec.command != me.display().to_string() => {
                spec.command = me.display().to_string();
                spec.args.clear();
                true
            }
            _ => false,
        },
        "working_dir" => spec.working_dir.take().is_some(),
        "env_file" => spec.env_file.take().is_some(),
        "user" => {
            spec.group = None;
            spec.user.take().is_some()
        }
        "group" => spec.group.take().is_some(),
        _ => false,
    }
}
