//! From a `Spec` to a ready-to-spawn command: the program resolved on `PATH` (a missing
//! or non-executable program is an error before anything starts), the environment
//! assembled (tend's own, the env file, the spec's `[env]`), the account looked up.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

use crate::spec::{HttpUrl, LogTarget, Spec};

use super::hook::{Hook, Reloader};
use super::sys::{self, Output, Prepared};

/// Variables that belong to tend's own service manager and must not leak to the child.
const PRIVATE_ENV: &[&str] = &[
    "NOTIFY_SOCKET",
    "LISTEN_FDS",
    "LISTEN_PID",
    "LISTEN_FDNAMES",
    "WATCHDOG_USEC",
    "WATCHDOG_PID",
    "TEND_PROFILE",
];

/// One reason a service cannot be started, and the spec key it is about (`command`,
/// `working_dir`, `env_file`, `user`, `group`, `stop.command`, `stop.http`), so `tend
/// check` can point at its line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// The spec key, dotted.
    pub key: &'static str,
    /// What is wrong, and what to do.
    pub message: String,
    /// It is about who runs tend, not about the spec or the machine (switching to
    /// `user` needs root): `tend check` run by someone else only warns.
    pub invoker: bool,
}

/// Why a service cannot be started: every problem found, not just the first.
#[derive(Debug, thiserror::Error)]
#[error("{}", .0.iter().map(|p| p.message.as_str()).collect::<Vec<_>>().join("\n  and: "))]
pub struct PrepareError(pub Vec<Problem>);

/// A problem with `key` that is not about who runs tend.
pub(crate) fn problem(key: &'static str, message: String) -> Problem {
    Problem {
        key,
        message,
        invoker: false,
    }
}

/// A warning found while preparing (e.g. a readable secrets file), and the spec key it
/// is about, so `tend check` can point at its line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Warning {
    /// The spec key, dotted.
    pub key: &'static str,
    /// What is wrong, and what to do.
    pub message: String,
}

impl std::fmt::Display for Warning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// The warnings found while preparing.
pub type Warnings = Vec<Warning>;

/// Builds the command for `spec`. `base` is the folder relative paths are taken from
/// (the spec file's folder); `env` is tend's own environment.
pub fn prepare(
    spec: &Spec,
    base: &Path,
    env: &[(OsString, OsString)],
    console: bool,
) -> Result<(Prepared, Warnings), PrepareError> {
    let mut warnings = Vec::new();
    let mut problems = Vec::new();
    let mut vars: BTreeMap<OsString, OsString> = env
        .iter()
        .filter(|(k, _)| !PRIVATE_ENV.iter().any(|p| k == p))
        .cloned()
        .collect();
    if let Some(f) = &spec.env_file {
        let path = join(base, f);
        match std::fs::read_to_string(&path) {
            Err(e) => problems.push(problem(
                "env_file",
                format!(
                    "cannot read env_file {}: {}",
                    path.display(),
                    crate::text::io_error(&e)
                ),
            )),
            Ok(text) => {
                if let Some(message) = sys::secrets_mode_warning(&path) {
                    warnings.push(Warning {
                        key: "env_file",
                        message,
                    });
                }
                match parse_env_file(&text) {
                    Err((line, msg)) => problems.push(problem(
                        "env_file",
                        format!("{}:{line}: {msg}", path.display()),
                    )),
                    Ok(parsed) => {
                        for (k, v) in parsed {
                            sys::env_insert(&mut vars, &k, &v);
                        }
                    }
                }
            }
        }
    }
    for (k, v) in &spec.env {
        // Windows names are case-insensitive: `Path` in the spec replaces `PATH`.
        sys::env_insert(&mut vars, k, v);
    }
    let credentials = sys::account(spec, &mut vars, &mut problems, &mut warnings);
    let path_var = vars
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("PATH"))
        .map(|(_, v)| v.clone());
    let program = sys::resolve_command(&spec.command, base, path_var.as_deref())
        .map_err(|e| {
            problems.push(problem(
                "command",
                format!("cannot start `{}`: {e}", spec.name),
            ))
        })
        .ok();
    let cwd = match &spec.working_dir {
        Some(d) => join(base, d),
        None => base.to_path_buf(),
    };
    if !cwd.is_dir() {
        problems.push(problem(
            "working_dir",
            format!("working_dir {} is not a directory", cwd.display()),
        ));
    }
    if let Some(message) =
        super::resources::affinity_problem(&spec.resources.cpu_affinity, sys::cpu_count())
    {
        problems.push(problem("resources.cpu_affinity", message));
    }
    let managed = super::resources::under_a_manager(env);
    let (cgroup, no_cgroup) = sys::cgroup_plan(&spec.resources, &spec.name.to_string(), managed);
    let mut applied = sys::APPLIED_RESOURCES.to_vec();
    applied.extend(
        sys::CGROUP_KEYS
            .iter()
            .filter(|k| !no_cgroup.iter().any(|(m, _)| m == *k)),
    );
    for (key, message) in super::resources::not_applied(&spec.resources, &applied, managed) {
        let message = no_cgroup
            .iter()
            .find(|(k, _)| *k == key)
            .map_or(message, |(_, m)| m.clone());
        warnings.push(Warning { key, message });
    }
    let Some(program) = program.filter(|_| problems.is_empty()) else {
        return Err(PrepareError(problems));
    };
    let output = |t: LogTarget| match t {
        LogTarget::File | LogTarget::Syslog => Output::Pipe,
        LogTarget::Inherit if console => Output::Pipe,
        LogTarget::Inherit => Output::Inherit,
        LogTarget::Null => Output::Null,
    };
    let prepared = Prepared {
        program,
        args: spec.args.iter().map(OsString::from).collect(),
        env: vars.into_iter().collect(),
        cwd: Some(cwd),
        credentials,
        stdout: output(spec.log.stdout),
        stderr: output(spec.log.stderr),
        stop: spec.windows.stop,
        kill_on_close: spec.windows.kill_on_close,
        code_page: spec.windows.code_page,
        // Bound by the supervisor (`listen::bind_all`), not by `tend check`.
        listen: Vec::new(),
        resources: Box::new(spec.resources.clone()),
        cgroup,
    };
    Ok((prepared, warnings))
}

/// The stop hook of `spec`, if it has one: the URL to post to, or the command, resolved
/// like the service's own program and run with its environment and account.
pub fn prepare_hook(
    spec: &Spec,
    base: &Path,
    service: &Prepared,
) -> Result<Option<Hook>, PrepareError> {
    if let Some(url) = &spec.stop.http {
        let url = HttpUrl::parse(url).map_err(|e| {
            PrepareError(vec![problem(
                "stop.http",
                format!("`stop.http` {url:?}: {e}"),
            )])
        })?;
        return Ok(Some(Hook::Http(url)));
    }
    let command = side_command(spec, "stop.command", &spec.stop.command, base, service)?;
    Ok(command.map(Hook::Command))
}

/// How `[reload]` of `spec` reaches the child, if it has one: a signal, or a command
/// resolved like the service's own program and run with its environment and account.
pub fn prepare_reload(
    spec: &Spec,
    base: &Path,
    service: &Prepared,
) -> Result<Option<Reloader>, PrepareError> {
    let Some(r) = &spec.reload else {
        return Ok(None);
    };
    if let Some(signal) = r.signal {
        return Ok(Some(Reloader::Signal(signal)));
    }
    Ok(
        side_command(spec, "reload.command", &r.command, base, service)?.map(|command| {
            Reloader::Command {
                command: Box::new(command),
                timeout: r.timeout.get(),
            }
        }),
    )
}

/// A command beside the service's own (`stop.command`, `reload.command`, at `key`):
/// resolved like its program, run with its environment and account, with tend's own
/// output, no `[[listen]]` sockets and no `[resources]`.
fn side_command(
    spec: &Spec,
    key: &'static str,
    argv: &[String],
    base: &Path,
    service: &Prepared,
) -> Result<Option<Prepared>, PrepareError> {
    let Some((program, args)) = argv.split_first() else {
        return Ok(None);
    };
    let path_var = service
        .env
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("PATH"))
        .map(|(_, v)| v.clone());
    let program = sys::resolve_command(program, base, path_var.as_deref()).map_err(|e| {
        PrepareError(vec![problem(
            key,
            format!("cannot use `{key}` of `{}`: {e}", spec.name),
        )])
    })?;
    Ok(Some(Prepared {
        program,
        args: args.iter().map(OsString::from).collect(),
        stdout: Output::Inherit,
        stderr: Output::Inherit,
        listen: Vec::new(),
        resources: Default::default(),
        cgroup: Default::default(),
        ..service.clone()
    }))
}

/// The health probe of `spec`, if it has `[health]`: a command is resolved like the
/// service's own program and runs with its environment and account, its output
/// discarded.
pub fn prepare_probe(
    spec: &Spec,
    base: &Path,
    service: &Prepared,
) -> Result<Option<super::health::Prober>, PrepareError> {
    let Some(health) = &spec.health else {
        return Ok(None);
    };
    let command = match health.command.split_first() {
        Some((program, args)) => {
            let path_var = service
                .env
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case("PATH"))
                .map(|(_, v)| v.clone());
            let program =
                sys::resolve_command(program, base, path_var.as_deref()).map_err(|e| {
                    PrepareError(vec![problem(
                        "health.command",
                        format!("cannot use `health.command` of `{}`: {e}", spec.name),
                    )])
                })?;
            Some(Prepared {
                program,
                args: args.iter().map(OsString::from).collect(),
                stdout: Output::Null,
                stderr: Output::Null,
                listen: Vec::new(),
                resources: Default::default(),
                cgroup: Default::default(),
                ..service.clone()
            })
        }
        None => None,
    };
    super::health::Prober::new(health, command)
        .map(Some)
        .map_err(|e| {
            PrepareError(vec![problem(
                "health",
                format!("`[health]` of `{}`: {e}", spec.name),
            )])
        })
}

/// Parses `KEY=VALUE` lines: blank lines and `#` comments are skipped, an `export `
/// prefix is allowed, and a value in single or double quotes is taken literally
/// (without the quotes). Nothing is expanded. Errors carry the 1-based line number.
pub fn parse_env_file(text: &str) -> Result<Vec<(String, String)>, (usize, String)> {
    let mut out = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").unwrap_or(line).trim_start();
        let Some((k, v)) = line.split_once('=') else {
            return Err((i + 1, format!("expected KEY=VALUE, found {line:?}")));
        };
        let k = k.trim();
        if k.is_empty() || !k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err((i + 1, format!("{k:?} is not a valid variable name")));
        }
        let v = v.trim();
        let v = match (v.chars().next(), v.chars().last()) {
            (Some(q @ ('"' | '\'')), Some(e)) if v.len() >= 2 && q == e => &v[1..v.len() - 1],
            _ => v,
        };
        out.push((k.to_string(), v.to_string()));
    }
    Ok(out)
}

/// `path` taken relative to `base` (unless absolute), as people write it: no `.`
/// components (`/specs/./notexec` reads `/specs/notexec`). `..` is kept: through a
/// symbolic link it does not mean the folder above.
pub fn join(base: &Path, path: impl AsRef<Path>) -> PathBuf {
    base.join(path).components().collect()
}

/// The folder a spec's relative paths are taken from.
pub fn spec_base(spec_path: &Path) -> PathBuf {
    let abs = join(&std::env::current_dir().unwrap_or_default(), spec_path);
    abs.parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_read_as_people_write_them() {
        for (base, path, joined) in [
            ("/specs", "./notexec", "/specs/notexec"),
            ("/specs", "bin/./app", "/specs/bin/app"),
            ("/specs", "../bin/app", "/specs/../bin/app"),
            ("/specs", "/usr/bin/env", "/usr/bin/env"),
            ("/specs/.", "logs", "/specs/logs"),
            ("/specs", "a//b/", "/specs/a/b"),
        ] {
            #[cfg(windows)]
            let joined = joined.replace('/', "\\");
            assert_eq!(
                join(Path::new(base), path),
                PathBuf::from(joined),
                "{base} + {path}"
            );
        }
    }

    #[test]
    fn env_file_lines() {
        let text = "# secrets\n\nDB_URL=postgres://u:p@h/db\nexport TOKEN = 'a b#c'\nQUOTED=\"x=y\"\nEMPTY=\n";
        let got = parse_env_file(text).unwrap();
        let want = [
            ("DB_URL", "postgres://u:p@h/db"),
            ("TOKEN", "a b#c"),
            ("QUOTED", "x=y"),
            ("EMPTY", ""),
        ];
        assert_eq!(
            got.iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect::<Vec<_>>(),
            want
        );
        assert_eq!(parse_env_file("A=1\nnot a pair\n").unwrap_err().0, 2);
        assert_eq!(parse_env_file("BAD-NAME=1\n").unwrap_err().0, 1);
    }
}
