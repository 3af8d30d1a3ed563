//! `tend run` (one service, what a service manager starts) and `tend up` (every
//! service of a file, in the foreground, for development).

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use clap::Args;

use crate::text::sh_word;

use super::{default_up_file, exit, spec_error, SpecArgs};
use crate::spec::{start_order, Loaded, ServiceName};
use crate::supervise::host::scm;
use crate::supervise::{self, service::Outcome, sys, Options};

/// Arguments of `tend run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// The spec file.
    pub spec: PathBuf,
    /// In a file of several services, the one to run.
    #[arg(long)]
    pub name: Option<ServiceName>,
    /// Run under the Windows service control manager: `--service`, which the command
    /// line has where there is one (see [`ScmRunArgs`]).
    #[arg(skip)]
    pub service: bool,
    #[command(flatten)]
    pub spec_args: SpecArgs,
    /// Where state files go (default: /var/lib/tend as root, else ~/.local/state/tend).
    #[arg(long, env = "TEND_STATE_DIR")]
    pub state_dir: Option<PathBuf>,
    /// Where log files go unless the spec says (default: /var/log/tend as root, else
    /// logs/ under the state directory).
    #[arg(long, env = "TEND_LOG_DIR")]
    pub log_dir: Option<PathBuf>,
    /// No guard process: for service managers that contain the whole process tree
    /// themselves (systemd's cgroups), so a killed supervisor leaves nothing behind.
    #[arg(long)]
    pub no_guard: bool,
    /// Serve Prometheus metrics at http://ADDR/metrics (IP:PORT; overrides the spec's
    /// `[metrics] listen`).
    #[arg(long, value_name = "ADDR", value_parser = listen_addr)]
    pub metrics: Option<std::net::SocketAddr>,
}

/// `--metrics ADDR`, read as `[metrics] listen` is.
fn listen_addr(text: &str) -> Result<std::net::SocketAddr, String> {
    crate::spec::parse_listen(text).map_err(|e| format!("{e}; write IP:PORT, e.g. 127.0.0.1:9464"))
}

/// Where the metrics are served: `--metrics`, else the spec's `[metrics] listen`
/// (checked when the spec was loaded).
fn metrics_addr(
    flag: Option<std::net::SocketAddr>,
    loaded: &Loaded,
) -> Option<std::net::SocketAddr> {
    flag.or_else(|| {
        loaded
            .metrics
            .as_ref()
            .and_then(|m| crate::spec::parse_listen(&m.listen).ok())
    })
}

/// What `tend run` also takes where there is a Windows service control manager.
#[derive(Debug, Args)]
pub struct ScmRunArgs {
    /// Run under the Windows service control manager (what an installed service's
    /// command line says; `tend install` writes it).
    #[arg(long)]
    pub service: bool,
}

impl ScmRunArgs {
    /// Whether the command line of `matches` is `run --service` (never where the
    /// command line has no `--service`).
    pub fn service(matches: &clap::ArgMatches) -> bool {
        matches
            .subcommand_matches("run")
            .and_then(|m| m.try_get_one::<bool>("service").ok().flatten())
            .is_some_and(|&on| on)
    }
}

/// Arguments of `tend up`.
#[derive(Debug, Args)]
pub struct UpArgs {
    /// The file of services (`[[service]]` tables) or a single-service spec.
    #[arg(default_value_os_t = default_up_file())]
    pub file: PathBuf,
    /// Only these services (and what they depend on); all by default.
    #[arg(value_name = "NAME")]
    pub names: Vec<ServiceName>,
    #[command(flatten)]
    pub spec_args: SpecArgs,
    /// Where state files go.
    #[arg(long, env = "TEND_STATE_DIR")]
    pub state_dir: Option<PathBuf>,
    /// Write output to log files instead of the terminal.
    #[arg(long)]
    pub log_files: bool,
    /// Where log files go with --log-files.
    #[arg(long, env = "TEND_LOG_DIR")]
    pub log_dir: Option<PathBuf>,
    /// Serve Prometheus metrics of every service at http://ADDR/metrics (IP:PORT;
    /// overrides the file's `[metrics] listen`).
    #[arg(long, value_name = "ADDR", value_parser = listen_addr)]
    pub metrics: Option<std::net::SocketAddr>,
}

/// `tend run`.
pub fn run(a: RunArgs) -> u8 {
    // Under the SCM, the dispatcher comes first: an error loading the spec must still
    // reach the SCM (as a stop with an exit code) and tend.log, not a console nobody
    // reads.
    if a.service {
        return run_under_scm(a);
    }
    let (loaded, opts) = match load_one(&a) {
        Ok(l) => l,
        Err(code) => return code,
    };
    supervise_loaded(&loaded, &[0], &opts, supervise::Extras::default())
}

/// `tend run --service`: the supervisor under the Windows service control manager
/// (see [`scm::serve`]).
fn run_under_scm(a: RunArgs) -> u8 {
    let name = a
        .spec
        .file_stem()
        .map_or_else(|| "tend".into(), |s| s.to_string_lossy().to_string());
    let log_dir = a.log_dir.clone();
    match scm::serve(
        &name,
        log_dir,
        move || load_one(&a),
        |loaded, opts, extras| supervise_loaded(loaded, &[0], opts, extras),
    ) {
        Ok(()) => exit::OK,
        Err(e @ scm::RunError::NotAService) => {
            errln!("error: {e}");
            errln!("  = help: start the installed service with `tend start {name}`, or run the spec in this console without --service");
            exit::ERROR
        }
        Err(e) => {
            errln!("error: {e}");
            exit::ERROR
        }
    }
}

/// The spec of `tend run`, reduced to the one service it runs, and where its state and
/// logs go; errors are printed and become an exit code.
fn load_one(a: &RunArgs) -> Result<(Loaded, Options), u8> {
    if !a.service {
        spec_file_exists(&a.spec, false)?;
    }
    let mut loaded = a.spec_args.load(&a.spec).map_err(|e| spec_error(&e))?;
    if loaded.services.len() > 1 || a.name.is_some() {
        let names: Vec<String> = loaded.services.iter().map(|s| s.name.to_string()).collect();
        let Some(want) = &a.name else {
            errln!(
                "error: {} holds {} services ({}); `tend run` supervises one",
                a.spec.display(),
                names.len(),
                names.join(", ")
            );
            errln!(
                "  = help: pick one with --name NAME, or run them all with `tend up {}`",
                sh_word(&a.spec.to_string_lossy())
            );
            return Err(exit::ERROR);
        };
        let Some(i) = names.iter().position(|n| n == want.as_str()) else {
            errln!(
                "error: {} has no service `{want}`; services: {}",
                a.spec.display(),
                names.join(", ")
            );
            return Err(exit::ERROR);
        };
        loaded.services = vec![loaded.services.swap_remove(i)];
    }
    let opts = Options {
        state_dir: a
            .state_dir
            .clone()
            .unwrap_or_else(supervise::default_state_dir),
        log_dir: a.log_dir.clone().unwrap_or_else(supervise::default_log_dir),
        console: false,
        color: false,
        color_events: !a.service && color_on(std::io::stderr().is_terminal()),
        interactive: interactive(
            a.service,
            std::io::stdin().is_terminal(),
            std::io::stderr().is_terminal(),
        ),
        notify: true,
        metrics: metrics_addr(a.metrics, &loaded),
    };
    Ok((loaded, opts))
}

/// `tend up`.
pub fn up(a: UpArgs) -> u8 {
    let default = a.file == default_up_file();
    if !default && !a.file.try_exists().unwrap_or(true) {
        // `tend up api`: a service of ./tend.toml, not a file.
        if let Some(here) = service_of_default_file(&a.spec_args, &a.file) {
            errln!(
                "error: no spec file {0}; `{0}` is a service of {1}",
                a.file.display(),
                here.display()
            );
            errln!(
                "  = help: `tend up {} {}` runs it (and what it depends on)",
                sh_word(&here.to_string_lossy()),
                sh_word(&a.file.to_string_lossy())
            );
            return exit::ERROR;
        }
    }
    if let Err(code) = spec_file_exists(&a.file, default) {
        return code;
    }
    let mut loaded = match a.spec_args.load(&a.file) {
        Ok(l) => l,
        Err(e) => return spec_error(&e),
    };
    if !a.names.is_empty() {
        let names: Vec<&str> = a.names.iter().map(ServiceName::as_str).collect();
        match select(&loaded.services, &names) {
            Ok((keep, added)) => {
                if !added.is_empty() {
                    errln!(
                        "tend: also running {} (needed by {})",
                        added.join(", "),
                        names.join(", ")
                    );
                }
                let mut i = 0;
                loaded.services.retain(|_| {
                    i += 1;
                    keep[i - 1]
                });
            }
            Err(e) => {
                errln!("error: {} {e}", a.file.display());
                return exit::ERROR;
            }
        }
    }
    let order = match start_order(&loaded.services) {
        Ok(o) => o,
        Err(cycle) => {
            errln!("error: dependency cycle: {}", cycle.join(" -> "));
            return exit::ERROR;
        }
    };
    let opts = Options {
        state_dir: a.state_dir.unwrap_or_else(supervise::default_state_dir),
        log_dir: a.log_dir.unwrap_or_else(supervise::default_log_dir),
        console: !a.log_files,
        color: color_on(std::io::stdout().is_terminal()),
        color_events: color_on(std::io::stderr().is_terminal()),
        interactive: interactive(
            false,
            std::io::stdin().is_terminal(),
            std::io::stderr().is_terminal(),
        ),
        notify: false,
        metrics: metrics_addr(a.metrics, &loaded),
    };
    supervise_loaded(&loaded, &order, &opts, supervise::Extras::default())
}

/// Whether a person may press Ctrl-C and read that a second one kills at once (the
/// hint of a stop on Ctrl-C): tend was started from a terminal, which stdin or stderr
/// still is (`tend up > out.log`, `tend run < /dev/null` at a terminal). Never under a
/// service manager (`service`), nor in a script or a pipeline with neither.
fn interactive(service: bool, stdin_terminal: bool, stderr_terminal: bool) -> bool {
    !service && (stdin_terminal || stderr_terminal)
}

/// Whether to colour a stream that is a terminal or not: never with `NO_COLOR` or
/// `TEND_COLOR=never`.
fn color_on(terminal: bool) -> bool {
    terminal
        && std::env::var_os("NO_COLOR").is_none()
        && std::env::var("TEND_COLOR").map_or(true, |v| v != "never")
        && sys::enable_ansi()
}

/// The default spec file (./tend.toml), when `file` (which does not exist) is rather
/// the name of one of its services.
fn service_of_default_file(spec_args: &SpecArgs, file: &Path) -> Option<PathBuf> {
    let name = file.to_str()?;
    if file.components().count() != 1 {
        return None;
    }
    let here = default_up_file();
    if !here.is_file() {
        return None;
    }
    let loaded = spec_args.load(&here).ok()?;
    loaded
        .services
        .iter()
        .any(|s| s.name.as_str() == name)
        .then_some(here)
}

/// Says so, with what to do, when the spec file does not exist (`default`: `tend up`
/// looked for its default file, it was not named).
fn spec_file_exists(file: &Path, default: bool) -> Result<(), u8> {
    if file.try_exists().unwrap_or(true) {
        return Ok(());
    }
    for line in missing_spec(file, default, &std::env::current_dir().unwrap_or_default()) {
        errln!("{line}");
    }
    Err(exit::ERROR)
}

/// The lines that say a spec file is missing, and how to create one (see
/// [`spec_file_exists`]); `cwd`: where a relative `file` was looked for.
fn missing_spec(file: &Path, default: bool, cwd: &Path) -> [String; 2] {
    let shown = file.display();
    let name = file
        .file_name()
        .map_or_else(|| "tend.toml".into(), |n| n.to_string_lossy());
    if default {
        [
            format!(
                "error: no {shown} in {}: `tend up` runs the services of ./{shown} unless given a file",
                cwd.display()
            ),
            format!("  = help: create one with `tend init PROGRAM --output {}`, or name a file: `tend up FILE`", sh_word(&name)),
        ]
    } else {
        let full = crate::supervise::prepare::join(cwd, file);
        [
            format!(
                "error: no spec file {shown} (looked for {})",
                full.display()
            ),
            format!(
                "  = help: `tend init PROGRAM --output {}` writes a spec to start from",
                sh_word(&file.to_string_lossy())
            ),
        ]
    }
}

/// Why the names given to `tend up FILE NAME...` cannot be run.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum SelectError {
    /// The file has no service of that name.
    #[error("has no service `{name}`; its services: {}{}", all.join(", "), suggestion.as_ref().map_or_else(String::new, |s| format!("\n  = help: did you mean `{s}`?")))]
    Unknown {
        /// The name given.
        name: String,
        /// The file's services.
        all: Vec<String>,
        /// The closest name, if close.
        suggestion: Option<String>,
    },
}

/// Which of `services` `tend up FILE NAME...` runs: the `names`, and what they depend
/// on, transitively. Whether each service is kept (in file order), and the names of
/// those added as dependencies (in file order).
pub fn select(
    services: &[crate::spec::Spec],
    names: &[&str],
) -> Result<(Vec<bool>, Vec<String>), SelectError> {
    let index = |n: &str| services.iter().position(|s| s.name.as_str() == n);
    let mut keep = vec![false; services.len()];
    let mut todo = Vec::new();
    for &n in names {
        let Some(i) = index(n) else {
            let all: Vec<&str> = services.iter().map(|s| s.name.as_str()).collect();
            return Err(SelectError::Unknown {
                name: n.to_string(),
                suggestion: crate::spec::did_you_mean(n, all.iter().copied()).map(str::to_string),
                all: all.into_iter().map(str::to_string).collect(),
            });
        };
        todo.push(i);
    }
    let asked = todo.clone();
    while let Some(i) = todo.pop() {
        if std::mem::replace(&mut keep[i], true) {
            continue;
        }
        // Validation has checked that every dependency names a service of the file.
        todo.extend(
            services[i]
                .depends_on
                .iter()
                .filter_map(|d| index(d.as_str())),
        );
    }
    let added = (0..services.len())
        .filter(|&i| keep[i] && !asked.contains(&i))
        .map(|i| services[i].name.to_string())
        .collect();
    Ok((keep, added))
}

/// Supervises the services of `loaded` at `order` until they end; the exit code.
fn supervise_loaded(
    loaded: &Loaded,
    order: &[usize],
    opts: &Options,
    extras: supervise::Extras,
) -> u8 {
    let result = supervise_blocking(loaded, order, opts, extras);
    match result {
        Err(code) => code,
        Ok(outcomes) => outcome_code(&outcomes),
    }
}

/// The exit code for the services' outcomes: a failure if any failed.
fn outcome_code(outcomes: &[(String, Outcome)]) -> u8 {
    let failed = outcomes
        .iter()
        .any(|(_, o)| matches!(o, Outcome::Failed(_) | Outcome::Exited { success: false }));
    if failed {
        exit::SERVICE_FAILED
    } else {
        exit::OK
    }
}

/// Runs the supervisor on a current-thread runtime until the services end.
fn supervise_blocking(
    loaded: &Loaded,
    order: &[usize],
    opts: &Options,
    extras: supervise::Extras,
) -> Result<Vec<(String, Outcome)>, u8> {
    // The guard was split off first thing in main (see `cli::guard_first`).
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            errln!("error: cannot start the runtime: {e}");
            return Err(exit::ERROR);
        }
    };
    let local = tokio::task::LocalSet::new();
    let result = local.block_on(
        &rt,
        supervise::supervise_with(&loaded.services, order, &loaded.path, opts, extras),
    );
    result.map_err(|e| {
        errln!("error: {e}");
        exit::ERROR
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The command a missing spec's help suggests is a shell command: a path with
    /// spaces, quotes or `$` is a single, unexpanded word in it.
    #[test]
    fn the_suggested_command_quotes_the_path_for_a_shell() {
        let cwd = Path::new("/srv");
        for (file, default, help) in [
            (
                "my specs/$HOME's.toml",
                false,
                "  = help: `tend init PROGRAM --output 'my specs/$HOME'\\''s.toml'` writes a spec to start from",
            ),
            (
                "plain/web.toml",
                false,
                "  = help: `tend init PROGRAM --output plain/web.toml` writes a spec to start from",
            ),
            (
                "a b.toml",
                true,
                "  = help: create one with `tend init PROGRAM --output 'a b.toml'`, or name a file: `tend up FILE`",
            ),
        ] {
            assert_eq!(missing_spec(Path::new(file), default, cwd)[1], help, "{file}");
        }
    }

    #[test]
    fn the_ctrl_c_hint_only_where_a_person_can_press_it() {
        // (under a service manager, stdin a terminal, stderr a terminal): interactive
        #[rustfmt::skip]
        let table = [
            ((false, false, false), false),
            ((false, true, false), true),
            ((false, false, true), true),
            ((false, true, true), true),
            ((true, true, true), false),
            ((true, false, false), false),
        ];
        for ((service, stdin, stderr), want) in table {
            assert_eq!(
                interactive(service, stdin, stderr),
                want,
                "{service} {stdin} {stderr}"
            );
        }
    }

    #[test]
    fn up_selects_the_named_services_and_their_dependencies() {
        let text = "[[service]]\nname = \"web\"\ncommand = \"/bin/true\"\ndepends_on = [\"api\"]\n\
                    [[service]]\nname = \"api\"\ncommand = \"/bin/true\"\ndepends_on = [\"db\"]\n\
                    [[service]]\nname = \"db\"\ncommand = \"/bin/true\"\n\
                    [[service]]\nname = \"cache\"\ncommand = \"/bin/true\"\n";
        let services =
            crate::spec::load_str(std::path::Path::new("tend.toml"), text, &Default::default())
                .unwrap()
                .services;
        /// Which services are kept and which were added, or the error.
        type Want<'a> = Result<(&'a [bool], &'a [&'a str]), &'a str>;
        #[rustfmt::skip]
        let table: &[(&[&str], Want)] = &[
            (&["db"], Ok((&[false, false, true, false], &[]))),
            (&["web"], Ok((&[true, true, true, false], &["api", "db"]))),
            (&["api", "cache"], Ok((&[false, true, true, true], &["db"]))),
            (&["db", "api"], Ok((&[false, true, true, false], &[]))),
            (&["apj"], Err("has no service `apj`; its services: web, api, db, cache\n  = help: did you mean `api`?")),
            (&["zzzzzz"], Err("has no service `zzzzzz`; its services: web, api, db, cache")),
        ];
        for (names, want) in table {
            let got = select(&services, names);
            match (got, want) {
                (Ok((keep, added)), Ok((k, a))) => {
                    assert_eq!(keep, *k, "{names:?}");
                    assert_eq!(added, *a, "{names:?}");
                }
                (Err(e), Err(w)) => assert_eq!(e.to_string(), *w, "{names:?}"),
                (got, want) => panic!("{names:?}: {got:?}, want {want:?}"),
            }
        }
    }
}
