//! `tend init BINARY`: write a commented spec for a program, as `cargo init` writes a
//! manifest: every common setting present, most of them commented out with defaults.

use std::path::{Path, PathBuf};

use clap::Args;

use super::exit;
use crate::spec::ServiceName;

/// Arguments of `tend init`.
#[derive(Debug, Args)]
pub struct InitArgs {
    /// The program the service runs.
    pub binary: PathBuf,
    /// The service name (default: the program's file name).
    #[arg(long)]
    pub name: Option<String>,
    /// Where to write the spec (default: NAME.toml; `-` for stdout).
    #[arg(long, short)]
    pub output: Option<PathBuf>,
    /// Overwrite an existing file.
    #[arg(long)]
    pub force: bool,
}

/// `tend init`.
pub fn init(a: InitArgs) -> u8 {
    let stem = a
        .binary
        .file_stem()
        .map(|s| s.to_string_lossy().to_string())
        .unwrap_or_default();
    let raw = a.name.clone().unwrap_or(stem);
    let name = match ServiceName::new(&raw) {
        Ok(n) => n,
        Err(e) => {
            errln!("error: {e}");
            errln!("  = help: choose a name with --name");
            return exit::ERROR;
        }
    };
    let text = render(&name, &a.binary);
    let out = a
        .output
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("{name}.toml")));
    if out == Path::new("-") {
        {
            use std::io::Write as _;
            let _ = std::io::stdout().lock().write_all(text.as_bytes());
        }
        return exit::OK;
    }
    if out.exists() && !a.force {
        errln!("error: {} already exists", out.display());
        errln!("  = help: pass --force to overwrite it, or --output to write elsewhere");
        return exit::ERROR;
    }
    if let Err(e) = std::fs::write(&out, text) {
        errln!(
            "error: cannot write {}: {}",
            out.display(),
            crate::text::io_error(&e)
        );
        return exit::ERROR;
    }
    outln!(
        "wrote {}; check it with `tend check {}`, try it with `tend up {}`",
        out.display(),
        out.display(),
        out.display()
    );
    exit::OK
}

/// The commented spec for `binary`. Every commented line shows the default.
pub fn render(name: &ServiceName, binary: &Path) -> String {
    let cmd = toml::Value::String(binary.display().to_string());
    format!(
        r#"# tend spec for {name}. Reference: https://github.com/tend (README, "Spec reference").
name = "{name}"
description = "{name} service"
command = {cmd}
args = []
# working_dir = "/var/lib/{name}"
# user = "{name}"                # run as this account (install creates it)
# env_file = "/etc/{name}/env"   # KEY=VALUE lines; keep it chmod 600

[env]
# RUST_LOG = "info"

[restart]
policy = "on-failure"            # always | on-failure | never
# max_restarts = 10              # within `window`; then the service has failed
# window = "2m"
# success_codes = [0]
# no_restart_codes = []          # e.g. [78] for "bad configuration"

[restart.backoff]
# initial = "100ms"              # the first restart is immediate, then this, doubling
# max = "30s"
# factor = 2.0
# reset_after = "10s"            # a run this long resets the backoff

[stop]
# signal = "SIGTERM"
timeout = "10s"                  # then the whole process tree is killed

[log]
# stdout = "file"                # file | inherit | null
# stderr = "file"
max_size = "10MB"
keep = 5
# rotate = "never"               # never | hourly | daily
# compress = false
# timestamps = false

# [profile.prod.env]
# RUST_LOG = "warn"
"#
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_generated_spec_loads() {
        let name = ServiceName::new("orders").unwrap();
        let text = render(&name, Path::new("/opt/orders/orders \"v2\""));
        let loaded =
            crate::spec::load_str(Path::new("orders.toml"), &text, &Default::default()).unwrap();
        assert_eq!(loaded.services[0].command, "/opt/orders/orders \"v2\"");
    }
}
