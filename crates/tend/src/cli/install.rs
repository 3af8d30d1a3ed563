//! `tend install` and `tend uninstall`: a spec becomes a native service (user,
//! directories, installed spec, unit or SCM registration), idempotently, with a dry run
//! and rollback. The work is the install engine's ([`crate::platform::engine`]), the
//! same on every OS; this file reads the arguments and reports.

use std::io::Write;
use std::path::PathBuf;

use clap::Args;

use super::exit;
use super::spec_error;
use super::SpecArgs;
use crate::platform::engine::{self, InstallRequest};
use crate::platform::{self, InstallError};
use crate::spec::{Loaded, ServiceName, Spec};

/// Arguments of `tend install`.
#[derive(Debug, Args)]
pub struct InstallArgs {
    /// The spec file.
    pub spec: PathBuf,
    /// In a file of several services, the one to install.
    #[arg(long)]
    pub name: Option<ServiceName>,
    #[command(flatten)]
    pub spec_args: SpecArgs,
    /// Also start the service and wait until it runs.
    #[arg(long)]
    pub now: bool,
    /// Restart the service if the install changed it.
    #[arg(long)]
    pub restart: bool,
    /// Print every file and command, change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Print what changed as JSON (steps, files, started); the text goes to stderr.
    #[arg(long)]
    pub json: bool,
    /// The service manager (default: detected).
    #[arg(long, value_parser = clap::builder::PossibleValuesParser::new(platform::BACKENDS))]
    pub backend: Option<String>,
    /// With `--dry-run`: plan as if the spec file were at PATH (the installed spec's
    /// first line names it; relative paths are taken from its folder). For a tool that
    /// plans from a copy of a spec it has not written to PATH yet (Ansible's check
    /// mode).
    #[arg(long, hide = true, value_name = "PATH", requires = "dry_run")]
    pub source: Option<PathBuf>,
    /// Windows: `--password-env`, on the command line only where there is a service
    /// control manager (see [`ScmInstallArgs`]).
    #[arg(skip)]
    pub password_env: Option<String>,
}

/// What `tend install` also takes where there is a Windows service control manager.
#[derive(Debug, Args)]
pub struct ScmInstallArgs {
    /// The environment variable holding the password of a user account (else
    /// `windows.password_env`, else a prompt).
    #[arg(long)]
    pub password_env: Option<String>,
}

impl ScmInstallArgs {
    /// The `--password-env` of `install` in `matches` (never where the command line
    /// has no `--password-env`).
    pub fn password_env(matches: &clap::ArgMatches) -> Option<String> {
        matches
            .subcommand_matches("install")
            .and_then(|m| m.try_get_one::<String>("password_env").ok().flatten())
            .cloned()
    }
}

/// The service of `loaded` to install: the only one, or the one named.
pub(crate) fn pick_service(loaded: &Loaded, want: Option<&str>) -> Result<Spec, InstallError> {
    match (want, loaded.services.len()) {
        (None, 1) => Ok(loaded.services[0].clone()),
        (None, n) => Err(InstallError::Refused(format!(
            "{} holds {n} services; pick one with --name NAME",
            loaded.path.display()
        ))),
        (Some(want), _) => loaded
            .services
            .iter()
            .find(|s| s.name.as_str() == want)
            .cloned()
            .ok_or_else(|| {
                InstallError::Refused(format!("{} has no service `{want}`", loaded.path.display()))
            }),
    }
}

/// Arguments of `tend uninstall`.
#[derive(Debug, Args)]
pub struct UninstallArgs {
    /// The service name.
    pub name: ServiceName,
    /// Also remove its logs, state, and the account tend created for it.
    #[arg(long)]
    pub purge: bool,
    /// Print what would be removed, change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Print what changed as JSON; the text goes to stderr. Not installed: nothing changed.
    #[arg(long)]
    pub json: bool,
}

/// Where the text for people goes: stdout, or stderr when stdout is for `--json`.
fn human(json: bool) -> Box<dyn std::io::Write> {
    if json {
        Box::new(std::io::stderr())
    } else {
        Box::new(std::io::stdout())
    }
}

/// Prints `v` as one line of JSON.
fn print_json(v: &impl serde::Serialize) {
    outln!("{}", serde_json::to_string(v).unwrap_or_default());
}

/// `tend install`.
pub fn install(a: InstallArgs) -> u8 {
    match run_install(&a) {
        Ok(outcome) => {
            if a.json {
                print_json(&outcome);
            }
            exit::OK
        }
        Err(e) => {
            errln!("error: {e}");
            exit::ERROR
        }
    }
}

fn run_install(a: &InstallArgs) -> Result<engine::InstallOutcome, InstallError> {
    let loaded = match a.spec_args.load(&a.spec) {
        Ok(l) => l,
        Err(e) => {
            spec_error(&e);
            return Err(InstallError::Refused(
                "the spec is invalid; nothing was installed".into(),
            ));
        }
    };
    let spec = pick_service(&loaded, a.name.as_ref().map(ServiceName::as_str))?;
    let layout = crate::platform::Layout::system(std::path::PathBuf::new());
    let spec_path = layout.spec_path(spec.name.as_str());
    let before = std::fs::read(&spec_path).ok();
    let result = engine::install(
        &InstallRequest {
            spec: &spec,
            spec_file: a.source.as_deref().unwrap_or(&loaded.path),
            profile: a.spec_args.profile.as_deref(),
            backend: a.backend.as_deref(),
            dry_run: a.dry_run,
            now: a.now,
            restart: a.restart,
            password_env: a.password_env.as_deref(),
        },
        &mut human(a.json),
    );
    if !a.dry_run {
        let error = result.as_ref().err().map(ToString::to_string);
        super::audit::note(
            &layout.state_root,
            spec.name.as_str(),
            "install",
            before.as_deref(),
            Some(&spec_path),
            error.as_deref().map_or(Ok(()), Err),
        );
    }
    result
}

/// `tend uninstall`.
pub fn uninstall(a: UninstallArgs) -> u8 {
    let mut out = human(a.json);
    let layout = crate::platform::Layout::system(std::path::PathBuf::new());
    let spec_path = layout.spec_path(a.name.as_str());
    let before = std::fs::read(&spec_path).ok();
    let result = engine::uninstall(a.name.as_str(), a.purge, a.dry_run, &mut out);
    let error = match &result {
        Ok(o) if o.failed => Some("not everything could be removed".to_string()),
        Ok(_) => None,
        Err(e) => Some(e.to_string()),
    };
    // Nothing was installed: nothing changed.
    if !a.dry_run && !matches!(result, Err(InstallError::NotInstalled(_))) {
        super::audit::note(
            &layout.state_root,
            a.name.as_str(),
            if a.purge {
                "uninstall --purge"
            } else {
                "uninstall"
            },
            before.as_deref(),
            Some(&spec_path),
            error.as_deref().map_or(Ok(()), Err),
        );
    }
    match result {
        Ok(outcome) => {
            if a.json {
                print_json(&outcome);
            }
            uninstall_summary(&a, outcome.failed, &mut out)
        }
        // Nothing to remove: what `--json` asks for (no service) is so.
        Err(InstallError::NotInstalled(why)) if a.json => {
            let _ = writeln!(out, "{why}; nothing to do");
            print_json(&engine::UninstallOutcome {
                name: a.name.to_string(),
                dry_run: a.dry_run,
                purge: a.purge,
                ..Default::default()
            });
            exit::OK
        }
        Err(e) => {
            errln!("error: {e}");
            exit::ERROR
        }
    }
}

/// The last words of an uninstall, and its exit code.
pub(crate) fn uninstall_summary(a: &UninstallArgs, failed: bool, out: &mut dyn Write) -> u8 {
    if a.dry_run {
        let _ = writeln!(out, "(nothing was changed)");
    } else if !a.purge {
        let _ = writeln!(
            out,
            "kept logs and state; `tend uninstall {} --purge` removes them",
            a.name
        );
    }
    if failed {
        exit::ERROR
    } else {
        exit::OK
    }
}
