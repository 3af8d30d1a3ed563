//! The command line: one file per subcommand; this file holds the argument model, the
//! shared spec-loading options, and the one place where exit codes are decided.

/// `println!` for the command line. A closed stdout (`tend status | head`) is a normal
/// end, never a panic: write errors are ignored, so a command finishes what it does (an
/// install never stops half-way) and exits as it would have. A command that streams
/// without end (`logs -f`) checks its writes itself.
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout().lock(), $($arg)*);
    }};
}

/// `eprintln!` for the command line: a closed stderr is not a panic either.
macro_rules! errln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr().lock(), $($arg)*);
    }};
}

mod audit;
mod check;
mod complete;
mod control;
mod doctor;
mod forget;
mod init;
mod install;
mod logs;
mod run;
mod status;
mod top;
mod upgrade;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand};

use crate::spec::{self, LoadOptions, Loaded, ServiceName};
use crate::supervise::host;

/// Exit codes, decided here and nowhere else.
pub mod exit {
    /// Success: the service stopped on request, or ended successfully.
    pub const OK: u8 = 0;
    /// tend itself failed: a bad spec, a missing program, an I/O error.
    pub const ERROR: u8 = 1;
    /// Bad command-line usage (clap's convention).
    pub const USAGE: u8 = 2;
    /// The service failed: restart limit reached, or it ended with a failure and is
    /// not restarted. A service manager's own recovery should act on this.
    pub const SERVICE_FAILED: u8 = 3;
}

/// Run any program as a native, supervised service.
#[derive(Debug, Parser)]
#[command(name = "tend", version, about, long_about = None, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Supervise one service in the foreground (what a service manager starts).
    Run(run::RunArgs),
    /// Run all services of a file in the foreground, for development.
    Up(run::UpArgs),
    /// Show the state of services: the service manager's view and the supervisor's.
    Status(status::StatusArgs),
    /// Explain why a service is not running, or will not, and what to do.
    ///
    /// Each finding comes with its evidence and a fix: the last exit in words, a crash
    /// loop, the program missing or not executable for the service's account, missing
    /// shared libraries, a port held by another process, a failing health probe, an
    /// installed service that drifted from its spec.
    Doctor(doctor::DoctorArgs),
    /// Forget services that are no longer supervised: remove their state files.
    Forget(forget::ForgetArgs),
    /// Install a spec as a native service (systemd, OpenRC, a Windows service, ...).
    Install(install::InstallArgs),
    /// Remove an installed service.
    Uninstall(install::UninstallArgs),
    /// Start a service and wait until it runs.
    ///
    /// An installed service, or one of a running `tend run` / `tend up` (started again
    /// after `tend stop`, or after it ended).
    Start(control::ControlArgs),
    /// Stop a service.
    ///
    /// An installed service, or one of a running `tend run` / `tend up`: then only this
    /// service stops; the supervisor and its other services keep running.
    Stop(control::ControlArgs),
    /// Restart a service and wait until it runs.
    ///
    /// An installed service, or one of a running `tend run` / `tend up`.
    Restart(control::ControlArgs),
    /// Reopen the log files of a running service (after an external rotation).
    ReopenLogs(control::ControlArgs),
    /// Freeze a running service's whole process tree until `tend continue`.
    ///
    /// Its health probes wait too; a stop lets it run first, then stops it
    /// gracefully. An installed service, or one of a running `tend run` / `tend up`.
    Pause(control::ControlArgs),
    /// Let a paused service run again.
    Continue(control::ControlArgs),
    /// Tell a running service to re-read its configuration, without a restart.
    ///
    /// As its spec's `[reload]` says: a signal to its program (`signal = "SIGHUP"`) or
    /// a command (`command = [...]`). An installed service, or one of a running `tend
    /// run` / `tend up`; `systemctl reload NAME` runs this.
    Reload(control::ControlArgs),
    /// Switch a service to a signed release, and roll back unless it becomes ready.
    ///
    /// The artifact (a program, or a .tar.gz or .zip of a folder) must be signed with
    /// minisign by a key of the spec's `[update] public_keys`; it is refused before
    /// anything changes otherwise.
    Upgrade(upgrade::UpgradeArgs),
    /// Switch a service back to the release it ran before.
    Rollback(upgrade::RollbackArgs),
    /// Check a service's release channel (`[update] channel`) now, or upgrade from it.
    Update(upgrade::UpdateArgs),
    /// Show a service's output.
    Logs(logs::LogsArgs),
    /// Watch the services live; keys restart, stop, start them and follow their logs.
    Top(top::TopArgs),
    /// Validate a spec and print it resolved (profile and overrides applied).
    Check(check::CheckArgs),
    /// Write a commented spec for a program.
    Init(init::InitArgs),
    /// Show the audit trail of actions that changed services, and check it.
    Audit(audit::AuditArgs),
    /// Print the JSON Schema of spec files (for editor completion).
    Schema,
    /// Print shell completions (a script that asks tend for the candidates as you
    /// type, so service names are offered too).
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
}

/// The commands that mean something only under the Windows service control manager,
/// added to the command line where there is one (see [`command`]).
#[derive(Debug, Subcommand)]
enum ScmCommand {
    /// Send a custom control code (128-255) to an installed Windows service; the spec's
    /// `[windows.controls]` says what it does (by default 128 restarts the child and
    /// 129 reopens the logs). Like `sc control NAME CODE`.
    Control {
        /// The service name.
        name: ServiceName,
        /// The control code, 128 to 255.
        #[arg(value_parser = clap::value_parser!(u8).range(128..=255))]
        code: u8,
    },
    /// Send Ctrl-C to the console of a process (what a stop uses on Windows).
    #[command(hide = true, name = "ctrl-c")]
    CtrlC {
        /// The process id.
        pid: u32,
    },
}

/// The command line of this OS: [`Cli`], and where there is a Windows service control
/// manager what means something only under it (`run --service`, `install
/// --password-env`, `control`, the hidden `ctrl-c` stop helper), so the help and
/// completions elsewhere never offer them.
pub fn command() -> clap::Command {
    let cmd = if host::scm::AVAILABLE {
        with_scm(Cli::command())
    } else {
        Cli::command()
    };
    complete::with_service_names(cmd)
}

/// `cmd` with the commands of the Windows service control manager.
fn with_scm(cmd: clap::Command) -> clap::Command {
    ScmCommand::augment_subcommands(cmd)
        .mut_subcommand("run", run::ScmRunArgs::augment_args)
        .mut_subcommand("install", install::ScmInstallArgs::augment_args)
}

/// What the command line asks for.
#[derive(Debug)]
enum Parsed {
    Cli(Cli),
    Scm(ScmCommand),
}

/// Parses `args` (the program name first) with `cmd`, [`command`] or a test's.
fn parse_from(
    mut cmd: clap::Command,
    args: impl IntoIterator<Item = std::ffi::OsString>,
) -> Result<Parsed, clap::Error> {
    let mut matches = cmd.try_get_matches_from_mut(args)?;
    let scm = matches
        .subcommand_name()
        .is_some_and(ScmCommand::has_subcommand);
    let parsed = if scm {
        ScmCommand::from_arg_matches_mut(&mut matches).map(Parsed::Scm)
    } else {
        let service = run::ScmRunArgs::service(&matches);
        let password_env = install::ScmInstallArgs::password_env(&matches);
        Cli::from_arg_matches_mut(&mut matches).map(|mut cli| {
            match &mut cli.command {
                Command::Run(a) => a.service = service,
                Command::Install(a) => a.password_env = password_env,
                _ => {}
            }
            Parsed::Cli(cli)
        })
    };
    parsed.map_err(|e| e.format(&mut cmd))
}

/// Options shared by every command that reads a spec.
#[derive(Debug, Clone, Args)]
pub struct SpecArgs {
    /// The profile to apply (`[profile.NAME]`); also `TEND_PROFILE`.
    #[arg(long, short = 'p', env = "TEND_PROFILE")]
    pub profile: Option<String>,
    /// Override a setting, e.g. `--set restart.policy=always` (repeatable; wins over
    /// the profile and `TEND_*` variables).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub sets: Vec<String>,
}

impl SpecArgs {
    /// Loads `path` with these options and the process environment.
    pub fn load(&self, path: &Path) -> Result<Loaded, spec::SpecError> {
        let opts = LoadOptions {
            profile: self.profile.clone(),
            sets: self.sets.clone(),
            env: std::env::vars().collect(),
            every_profile: false,
        };
        spec::load_file(path, &opts)
    }

    /// [`SpecArgs::load`], and when the spec has problems, what could be read of it.
    pub fn load_or_salvage(&self, path: &Path) -> Result<Loaded, spec::Failed> {
        let opts = LoadOptions {
            profile: self.profile.clone(),
            sets: self.sets.clone(),
            env: std::env::vars().collect(),
            every_profile: true,
        };
        spec::load_file_or_salvage(path, &opts)
    }
}

/// Parses the command line and runs the command; returns the process exit code.
pub fn main() -> ExitCode {
    // A shell asking for completions (`COMPLETE=bash tend -- tend stop a`, what the
    // script of `tend completions` runs): answered, and nothing else happens.
    clap_complete::CompleteEnv::with_factory(command).complete();
    if let Some(code) = guard_first() {
        return ExitCode::from(code);
    }
    let cli = match parse_from(command(), std::env::args_os()) {
        Ok(Parsed::Cli(c)) => c,
        Ok(Parsed::Scm(c)) => return ExitCode::from(scm_command(c)),
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() {
                exit::USAGE
            } else {
                exit::OK
            });
        }
    };
    let code = match cli.command {
        Command::Run(a) => run::run(a),
        Command::Up(a) => run::up(a),
        Command::Status(a) => status::status(a),
        Command::Doctor(a) => doctor::doctor(a),
        Command::Forget(a) => forget::forget(a),
        Command::Install(a) => install::install(a),
        Command::Uninstall(a) => install::uninstall(a),
        Command::Start(a) => control::control(a, crate::platform::Verb::Start),
        Command::Stop(a) => control::control(a, crate::platform::Verb::Stop),
        Command::Restart(a) => control::control(a, crate::platform::Verb::Restart),
        Command::ReopenLogs(a) => control::reopen_logs(a),
        Command::Pause(a) => control::pause(a, crate::supervise::control::Verb::Pause),
        Command::Continue(a) => control::pause(a, crate::supervise::control::Verb::Continue),
        Command::Reload(a) => control::reload(a),
        Command::Upgrade(a) => upgrade::upgrade(a),
        Command::Rollback(a) => upgrade::rollback(a),
        Command::Update(a) => upgrade::update(a),
        Command::Logs(a) => logs::logs(a),
        Command::Top(a) => top::top(a),
        Command::Check(a) => check::check(a),
        Command::Init(a) => init::init(a),
        Command::Audit(a) => audit::audit(a),
        Command::Schema => {
            outln!(
                "{}",
                serde_json::to_string_pretty(&spec::schema()).unwrap_or_default()
            );
            exit::OK
        }
        Command::Completions { shell } => complete::registration(shell),
    };
    ExitCode::from(code)
}

/// Runs a command of the Windows service control manager's.
fn scm_command(c: ScmCommand) -> u8 {
    match c {
        ScmCommand::Control { name, code } => control::send_control_code(name.as_str(), code),
        ScmCommand::CtrlC { pid } => match crate::supervise::sys::ctrl_c_helper(pid) {
            Ok(()) => exit::OK,
            Err(e) => {
                errln!("error: {e}");
                exit::ERROR
            }
        },
    }
}

/// For `tend run` and `tend up`: split off the guard process (see
/// [`crate::supervise::sys::fork_guard`]; nothing on Windows, where Job Objects contain
/// the children) before anything else happens, so that the guard holds as little
/// memory as possible — everything after this point (argument parsing, the spec, the
/// runtime) happens in the supervisor only. `run --no-guard` is for service managers
/// that contain the process tree themselves (systemd's cgroups).
fn guard_first() -> Option<u8> {
    let args: Vec<std::ffi::OsString> = std::env::args_os().skip(1).collect();
    let sub = args.first().and_then(|a| a.to_str());
    let wants = matches!(sub, Some("run" | "up"))
        && !args.iter().any(|a| {
            matches!(
                a.to_str(),
                Some("--no-guard" | "--help" | "-h" | "--version" | "-V")
            )
        });
    if !wants {
        return None;
    }
    match crate::supervise::sys::fork_guard() {
        Ok(containment) => {
            if let Some(warning) = containment.warning() {
                errln!("warning: {warning}");
            }
            None
        }
        Err(e) => {
            errln!(
                "error: cannot set up process containment: {}",
                crate::text::io_error(&e)
            );
            Some(exit::ERROR)
        }
    }
}

/// Prints a spec error and returns the matching exit code.
pub(crate) fn spec_error(e: &spec::SpecError) -> u8 {
    errln!("{e}");
    exit::ERROR
}

/// Where `tend up` looks by default.
pub(crate) fn default_up_file() -> PathBuf {
    PathBuf::from("tend.toml")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What `args` parse to with `cmd`, in a word or two.
    fn parsed(cmd: clap::Command, args: &[&str]) -> String {
        let args = std::iter::once("tend").chain(args.iter().copied());
        match parse_from(cmd, args.map(Into::into)) {
            Err(e) => format!("error: {:?}", e.kind()),
            Ok(Parsed::Cli(Cli {
                command: Command::Run(a),
            })) => format!("run {} service={}", a.spec.display(), a.service),
            Ok(Parsed::Cli(Cli {
                command: Command::Install(a),
            })) => format!("install password_env={:?}", a.password_env),
            Ok(Parsed::Cli(c)) => format!("{:?}", c.command)
                .split([' ', '('])
                .next()
                .unwrap_or_default()
                .to_lowercase(),
            Ok(Parsed::Scm(ScmCommand::Control { name, code })) => {
                format!("control {name} {code}")
            }
            Ok(Parsed::Scm(ScmCommand::CtrlC { pid })) => format!("ctrl-c {pid}"),
        }
    }

    /// The commands of the Windows service control manager parse where the command
    /// line has them, and are unknown elsewhere; the rest parses the same either way.
    #[test]
    fn the_scm_commands_parse_only_where_the_command_line_has_them() {
        let unexpected = "error: UnknownArgument";
        let unknown = "error: InvalidSubcommand";
        let cases: &[(&[&str], &str, &str)] = &[
            (
                &["run", "a.toml"],
                "run a.toml service=false",
                "run a.toml service=false",
            ),
            (
                &["run", "--service", "a.toml"],
                "run a.toml service=true",
                unexpected,
            ),
            (
                &["run", "--no-guard", "--name", "x", "--service", "a.toml"],
                "run a.toml service=true",
                unexpected,
            ),
            // What `tend install` writes as a Windows service's command line.
            (
                &[
                    "run",
                    "--service",
                    "--state-dir",
                    r"C:\s",
                    "--log-dir",
                    r"C:\l",
                    "h.toml",
                ],
                "run h.toml service=true",
                unexpected,
            ),
            (&["control", "a", "130"], "control a 130", unknown),
            (&["control", "a", "12"], "error: ValueValidation", unknown),
            (&["ctrl-c", "42"], "ctrl-c 42", unknown),
            (
                &["install", "--password-env", "PW", "a.toml"],
                "install password_env=Some(\"PW\")",
                unexpected,
            ),
            (
                &["install", "a.toml"],
                "install password_env=None",
                "install password_env=None",
            ),
            (&["up"], "up", "up"),
            (&["status"], "status", "status"),
        ];
        for (args, with, without) in cases {
            assert_eq!(
                parsed(with_scm(Cli::command()), args),
                *with,
                "{args:?} with the SCM"
            );
            assert_eq!(parsed(Cli::command(), args), *without, "{args:?} without");
        }
    }

    /// With the SCM, `control` is in the help and `ctrl-c` is not (a helper of the
    /// supervisor's own).
    #[test]
    fn with_the_scm_control_is_shown_and_ctrl_c_hidden() {
        let cmd = with_scm(Cli::command());
        let shown: Vec<&str> = cmd
            .get_subcommands()
            .filter(|c| !c.is_hide_set())
            .map(|c| c.get_name())
            .collect();
        assert!(shown.contains(&"control"), "{shown:?}");
        assert!(!shown.contains(&"ctrl-c"), "{shown:?}");
        assert!(cmd.find_subcommand("ctrl-c").is_some());
    }
}
