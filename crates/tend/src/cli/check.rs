//! `tend check`: validate a spec and print it resolved, so an operator sees exactly
//! what a profile and overrides produce.

use std::path::{Path, PathBuf};

use clap::Args;

use super::{exit, spec_error, SpecArgs};
use crate::spec::{Diagnostic, Loaded, SpecError};
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
    let loaded = match a.spec_args.load(&a.spec) {
        Ok(l) => l,
        Err(e) if a.json && !a.quiet => {
            return report(&a.spec, &e.problems(), &[], None);
        }
        Err(_) if a.quiet => return exit::ERROR,
        Err(e) => return spec_error(&e),
    };
    let (problems, warnings) = if a.syntax_only {
        (Vec::new(), Vec::new())
    } else {
        preflight(&loaded)
    };
    if a.quiet {
        return if problems.is_empty() {
            exit::OK
        } else {
            exit::ERROR
        };
    }
    if a.json {
        let spec = problems.is_empty().then(|| resolved_json(&loaded));
        return report(&loaded.path, &problems, &warnings, spec);
    }
    for w in &warnings {
        errln!("warning: {}", w.message);
    }
    if !problems.is_empty() {
        errln!("{}", SpecError::invalid(&loaded.path, problems));
        errln!("  = note: `tend run` refuses to start this; `--syntax-only` checks the spec without this machine");
        return exit::ERROR;
    }
    let out = if loaded.multi {
        toml::to_string(&crate::spec::ServiceSet {
            service: loaded.services.clone(),
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

/// The resolved spec as JSON, in the shape of the spec file: one service's keys, or
/// `{"service": [...]}` for a file of several.
fn resolved_json(loaded: &Loaded) -> serde_json::Value {
    if loaded.multi {
        serde_json::json!({ "service": loaded.services })
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

/// What `tend run` checks before it starts anything, for every service of `loaded`:
/// each problem at the line of the key it is about, and the warnings.
fn preflight(loaded: &Loaded) -> (Vec<Diagnostic>, Vec<Diagnostic>) {
    let base = prepare::spec_base(&loaded.path);
    let env: Vec<_> = std::env::vars_os().collect();
    let text = std::fs::read_to_string(&loaded.path).unwrap_or_default();
    let mut diags = Vec::new();
    let mut warnings = Vec::new();
    for (i, spec) in loaded.services.iter().enumerate() {
        let problems = match prepare::prepare(spec, &base, &env, false) {
            Ok((prepared, w)) => {
                warnings.extend(w.into_iter().map(|w| Diagnostic {
                    message: format!("{}: {w}", spec.name),
                    ..Diagnostic::default()
                }));
                prepare::prepare_hook(spec, &base, &prepared)
                    .err()
                    .map_or_else(Vec::new, |e| e.0)
            }
            Err(e) => e.0,
        };
        // Who runs `tend check` is not who will run the service: say it, do not fail.
        let (invoker, problems): (Vec<_>, Vec<_>) = problems.into_iter().partition(|p| p.invoker);
        warnings.extend(invoker.into_iter().map(|p| Diagnostic {
            location: crate::spec::locate(&loaded.path, &text, loaded.multi, i, p.key),
            message: p.message,
            key: Some(p.key.to_string()),
            ..Diagnostic::default()
        }));
        diags.extend(problems.into_iter().map(|p| Diagnostic {
            location: crate::spec::locate(&loaded.path, &text, loaded.multi, i, p.key),
            message: if loaded.multi {
                format!("{}: {}", spec.name, p.message)
            } else {
                p.message
            },
            help: None,
            key: Some(p.key.to_string()),
        }));
    }
    (diags, warnings)
}
