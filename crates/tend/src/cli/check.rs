//! `tend check`: validate a spec and print it resolved, so an operator sees exactly
//! what a profile and overrides produce.

use std::path::PathBuf;

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
        Err(e) => return spec_error(&e),
    };
    if !a.syntax_only {
        let (problems, warnings) = preflight(&loaded);
        if !a.quiet {
            for w in &warnings {
                errln!("warning: {w}");
            }
        }
        if !problems.is_empty() {
            if !a.quiet {
                errln!("{}", SpecError::invalid(&loaded.path, problems));
                errln!("  = note: `tend run` refuses to start this; `--syntax-only` checks the spec without this machine");
            }
            return exit::ERROR;
        }
    }
    if a.quiet {
        return exit::OK;
    }
    let out = if a.json {
        let v = if loaded.multi {
            serde_json::json!({ "service": loaded.services })
        } else {
            serde_json::to_value(&loaded.services[0]).unwrap_or_default()
        };
        serde_json::to_string_pretty(&v).map_err(|e| e.to_string())
    } else if loaded.multi {
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

/// What `tend run` checks before it starts anything, for every service of `loaded`:
/// each problem at the line of the key it is about, and the warnings.
fn preflight(loaded: &Loaded) -> (Vec<Diagnostic>, Vec<String>) {
    let base = prepare::spec_base(&loaded.path);
    let env: Vec<_> = std::env::vars_os().collect();
    let text = std::fs::read_to_string(&loaded.path).unwrap_or_default();
    let mut diags = Vec::new();
    let mut warnings = Vec::new();
    for (i, spec) in loaded.services.iter().enumerate() {
        let problems = match prepare::prepare(spec, &base, &env, false) {
            Ok((prepared, w)) => {
                warnings.extend(w.into_iter().map(|w| format!("{}: {w}", spec.name)));
                prepare::prepare_hook(spec, &base, &prepared)
                    .err()
                    .map_or_else(Vec::new, |e| e.0)
            }
            Err(e) => e.0,
        };
        // Who runs `tend check` is not who will run the service: say it, do not fail.
        let (invoker, problems): (Vec<_>, Vec<_>) = problems.into_iter().partition(|p| p.invoker);
        warnings.extend(invoker.into_iter().map(|p| p.message));
        diags.extend(problems.into_iter().map(|p| Diagnostic {
            location: crate::spec::locate(&loaded.path, &text, loaded.multi, i, p.key),
            message: if loaded.multi {
                format!("{}: {}", spec.name, p.message)
            } else {
                p.message
            },
            help: None,
            key: None,
        }));
    }
    (diags, warnings)
}
