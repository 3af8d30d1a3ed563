//! `tend run` (one service, what a service manager starts) and `tend up` (every
//! service of a file, in the foreground, for development).

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use clap::Args;

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
                a.spec.display()
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
        // Under a service manager nobody presses Ctrl-C.
        interactive: !a.service && std::io::stdin().is_terminal(),
        notify: true,
    };
    Ok((loaded, opts))
}

/// `tend up`.
pub fn up(a: UpArgs) -> u8 {
    if let Err(code) = spec_file_exists(&a.file, a.file == default_up_file()) {
        return code;
    }
    let loaded = match a.spec_args.load(&a.file) {
        Ok(l) => l,
        Err(e) => return spec_error(&e),
    };
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
        // `tend up` is run by a person at a terminal (or a test acting as one).
        interactive: true,
        notify: false,
    };
    supervise_loaded(&loaded, &order, &opts, supervise::Extras::default())
}

/// Whether to colour a stream that is a terminal or not: never with `NO_COLOR` or
/// `TEND_COLOR=never`.
fn color_on(terminal: bool) -> bool {
    terminal
        && std::env::var_os("NO_COLOR").is_none()
        && std::env::var("TEND_COLOR").map_or(true, |v| v != "never")
        && sys::enable_ansi()
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
            format!("  = help: create one with `tend init PROGRAM --output {name}`, or name a file: `tend up FILE`"),
        ]
    } else {
        let full = crate::supervise::prepare::join(cwd, file);
        [
            format!(
                "error: no spec file {shown} (looked for {})",
                full.display()
            ),
            format!("  = help: `tend init PROGRAM --output {shown}` writes a spec to start from"),
        ]
    }
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
