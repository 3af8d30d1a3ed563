//! `tend init PROGRAM`: write a commented spec for a program, as `cargo init` writes a
//! manifest: every common setting present, most of them commented out with defaults.

use std::path::{Path, PathBuf};

use clap::Args;

use super::exit;
use crate::spec::ServiceName;

/// Arguments of `tend init`.
#[derive(Debug, Args)]
pub struct InitArgs {
    /// The program the service runs.
    #[arg(value_name = "PROGRAM")]
    pub program: PathBuf,
    /// The program's arguments, after `--`: `tend init /usr/bin/python3 -- -m
    /// http.server 8000`.
    #[arg(last = true, value_name = "ARGS")]
    pub args: Vec<String>,
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
        .program
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
    let out = a
        .output
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("{name}.toml")));
    let to_stdout = out == Path::new("-");
    // The spec reads a relative program from its own folder, as `tend check` will.
    let base = if to_stdout {
        std::env::current_dir().unwrap_or_default()
    } else {
        crate::supervise::prepare::spec_base(&out)
    };
    let program = std::fs::canonicalize(base.join(&a.program)).ok();
    if let Some(w) = program_warning(&a.program, &base) {
        errln!("warning: {w}");
    }
    let hint = program
        .as_deref()
        .and_then(|p| env_hint(&a.program, &program_head(p)));
    let text = render(&name, &a.program, &a.args, hint);
    if to_stdout {
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
    // The spec's `#:schema` line names tend.schema.json next to it: write it when it is
    // not there (one already there, perhaps the user's, is left alone).
    let schema = out.with_file_name(SCHEMA_FILE);
    if !schema.exists() {
        let text = serde_json::to_string_pretty(&crate::spec::schema()).unwrap_or_default();
        match std::fs::write(&schema, text + "\n") {
            Ok(()) => outln!(
                "wrote {}, which editors read to complete the spec",
                schema.display()
            ),
            Err(e) => errln!(
                "warning: cannot write {}: {}; write it with `tend schema > {}`",
                schema.display(),
                crate::text::io_error(&e),
                schema.display()
            ),
        }
    }
    exit::OK
}

/// The schema file a spec's `#:schema` line names, next to the spec.
const SCHEMA_FILE: &str = "tend.schema.json";

/// Why `tend run` could not start `binary` from a spec in `base`, if it could not.
fn program_warning(binary: &Path, base: &Path) -> Option<String> {
    use crate::supervise::sys::{resolve_command, CommandError};
    let command = binary.to_string_lossy();
    let path_var = std::env::var_os("PATH");
    let e = resolve_command(&command, base, path_var.as_deref()).err()?;
    // `./prog` joined to the folder reads as `/srv/./prog`: show it without the `.`.
    let clean = |p: &Path| p.components().collect::<PathBuf>().display().to_string();
    let why = match &e {
        CommandError::Unusable { path, source } => {
            format!("{}: {}", clean(path), crate::text::io_error(source))
        }
        CommandError::NotExecutable { path, mode } => {
            format!("{} is not executable (mode {mode:o})", clean(path))
        }
        CommandError::NotAFile { path } => format!("{} is not a regular file", clean(path)),
        other => other.to_string(),
    };
    Some(format!(
        "{why}; `tend check` and `tend run` will refuse the spec until the program is there"
    ))
}

/// The start of `program` (its first 64 MiB), to tell what it is.
fn program_head(program: &Path) -> Vec<u8> {
    use std::io::Read as _;
    let mut head = Vec::new();
    if let Ok(f) = std::fs::File::open(program) {
        let _ = f.take(64 << 20).read_to_end(&mut head);
    }
    head
}

/// An environment variable worth suggesting for a program, with why.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EnvHint {
    /// The variable.
    pub name: &'static str,
    /// Its suggested value.
    pub value: &'static str,
    /// What it does.
    pub why: &'static str,
}

/// What to suggest in `[env]` for `program`, whose file starts with `head`: only a
/// variable this kind of program reads (a Python interpreter or script, Node.js, a
/// Rust binary), else nothing.
pub fn env_hint(program: &Path, head: &[u8]) -> Option<EnvHint> {
    let file = program
        .file_name()
        .map(|f| f.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    let first_line = head.split(|b| *b == b'\n').next().unwrap_or_default();
    let shebang = first_line
        .strip_prefix(b"#!")
        .map(|l| String::from_utf8_lossy(l).to_ascii_lowercase());
    let runs = |interp: &str| {
        file.starts_with(interp)
            || shebang
                .as_deref()
                .is_some_and(|l| l.split(['/', ' ']).any(|w| w.starts_with(interp)))
    };
    if runs("python") {
        return Some(EnvHint {
            name: "PYTHONUNBUFFERED",
            value: "1",
            why: "write output at once, not in blocks",
        });
    }
    if runs("node") {
        return Some(EnvHint {
            name: "NODE_ENV",
            value: "production",
            why: "what many Node.js frameworks read",
        });
    }
    // A Rust binary names its standard library's sources in its panic messages.
    let rust = shebang.is_none() && head.windows(b"/rustc/".len()).any(|w| w == b"/rustc/");
    rust.then_some(EnvHint {
        name: "RUST_LOG",
        value: "info",
        why: "the log level of env_logger and tracing",
    })
}

/// The commented spec for `binary` run with `args`; `hint`, a variable for `[env]`.
/// Every commented line shows the default.
pub fn render(name: &ServiceName, binary: &Path, args: &[String], hint: Option<EnvHint>) -> String {
    let cmd = toml::Value::String(binary.display().to_string());
    let args = toml::Value::Array(
        args.iter()
            .map(|a| toml::Value::String(a.clone()))
            .collect(),
    );
    let env = match hint {
        Some(h) => format!(
            "{} = {}{}# {}",
            h.name,
            toml::Value::String(h.value.into()),
            " ".repeat(
                33usize
                    .saturating_sub(h.name.len() + h.value.len() + 5)
                    .max(1)
            ),
            h.why
        ),
        None => "# NAME = \"value\"".to_string(),
    };
    format!(
        r#"#:schema ./tend.schema.json
# tend spec for {name}. Editors complete it from tend.schema.json next to this file;
# `tend schema > tend.schema.json` writes it afresh. Check the spec with `tend check`.
name = "{name}"
description = "{name} service"
command = {cmd}
args = {args}
# working_dir = "/var/lib/{name}"
# user = "{name}"                # run as this account (install creates it)
# env_file = "/etc/{name}/env"   # KEY=VALUE lines; keep it chmod 600

[env]
{env}

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

# [profile.prod.restart]         # `--profile prod` layers this over the settings above
# policy = "always"
"#
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> crate::spec::Spec {
        crate::spec::load_str(Path::new("orders.toml"), text, &Default::default())
            .unwrap()
            .services
            .remove(0)
    }

    #[test]
    fn the_generated_spec_loads() {
        let name = ServiceName::new("orders").unwrap();
        let args = ["-m".to_string(), "http.server".into(), "a \"b\"".into()];
        for hint in [
            None,
            env_hint(Path::new("python3"), b""),
            env_hint(Path::new("x"), b"\x7fELF../rustc/abc/library/core"),
        ] {
            let text = render(&name, Path::new("/opt/orders/orders \"v2\""), &args, hint);
            let spec = load(&text);
            assert_eq!(spec.command, "/opt/orders/orders \"v2\"");
            assert_eq!(spec.args, args);
            if let Some(h) = hint {
                assert_eq!(spec.env[h.name], h.value);
            } else {
                assert!(spec.env.is_empty());
            }
        }
    }

    /// The first line is the schema directive editors read; no address of another
    /// project, and no setting the program does not read.
    #[test]
    fn the_generated_spec_points_editors_at_the_schema_and_nowhere_else() {
        let name = ServiceName::new("web").unwrap();
        let text = render(&name, Path::new("/usr/bin/python3"), &[], None);
        assert_eq!(text.lines().next(), Some("#:schema ./tend.schema.json"));
        assert!(text.contains("tend schema > tend.schema.json"));
        assert!(!text.contains("http"), "{text}");
        assert!(!text.contains("RUST_LOG"), "{text}");
    }

    #[test]
    fn env_hints_fit_the_program() {
        let elf_rust = b"\x7fELF\x02\x01 ... /rustc/90b35a6239c3d8bdabc530a6a0816f7ff89a0aaf/library/core/src/panicking.rs";
        let cases: &[(&str, &[u8], Option<&str>)] = &[
            ("/usr/bin/python3", b"\x7fELF", Some("PYTHONUNBUFFERED")),
            ("/usr/bin/python3.11", b"", Some("PYTHONUNBUFFERED")),
            (
                "/srv/app.py",
                b"#!/usr/bin/env python3\nimport x",
                Some("PYTHONUNBUFFERED"),
            ),
            (
                "/srv/serve",
                b"#!/usr/bin/python3 -u\n",
                Some("PYTHONUNBUFFERED"),
            ),
            ("/usr/bin/node", b"\x7fELF", Some("NODE_ENV")),
            ("/srv/app", b"#!/usr/bin/env node\n", Some("NODE_ENV")),
            ("/opt/orders/orders", elf_rust, Some("RUST_LOG")),
            ("/usr/bin/nginx", b"\x7fELF\x02\x01 plain C", None),
            (
                "/srv/run.sh",
                b"#!/bin/sh\n# mentions /rustc/ in a comment\n",
                None,
            ),
            ("/usr/bin/ruby", b"", None),
        ];
        for (program, head, want) in cases {
            assert_eq!(
                env_hint(Path::new(program), head).map(|h| h.name),
                *want,
                "{program}"
            );
        }
    }
}
