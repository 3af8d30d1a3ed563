//! `tend check`: validate a spec and print it resolved, so an operator sees exactly
//! what a profile and overrides produce.

use std::path::PathBuf;

use clap::Args;

use super::{exit, spec_error, SpecArgs};

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
}

/// `tend check`.
pub fn check(a: CheckArgs) -> u8 {
    let loaded = match a.spec_args.load(&a.spec) {
        Ok(l) => l,
        Err(e) => return spec_error(&e),
    };
    // The spec is valid; whether its program exists is a fact about this machine, so a
    // warning (run and install refuse to start it).
    #[cfg(unix)]
    for s in loaded.services.iter().filter(|_| !a.quiet) {
        let base = crate::supervise::prepare::spec_base(&loaded.path);
        let path = s
            .env
            .get("PATH")
            .map(std::ffi::OsString::from)
            .or_else(|| std::env::var_os("PATH"));
        if let Err(e) = crate::supervise::sys::resolve_command(&s.command, &base, path.as_deref()) {
            errln!(
                "warning: {}: {e}; `tend run` and `tend install` will refuse to start it",
                s.name
            );
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
