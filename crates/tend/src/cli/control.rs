//! `tend start|stop|restart|reopen-logs|reload NAME` (the same words on every service
//! manager) and `tend control NAME CODE` (a Windows service's custom control codes).
//! An installed service goes through the install engine
//! ([`crate::platform::engine`]); otherwise the command reaches the running `tend run`
//! or `tend up` that supervises the service through its control channel
//! ([`crate::supervise::control`]).

use std::path::{Path, PathBuf};

use clap::Args;

use super::exit;
use crate::platform::engine;
use crate::platform::record::read_record;
use crate::platform::{Layout, Verb};
use crate::spec::ServiceName;
use crate::supervise::control::{self, ClientError};
use crate::supervise::{self, sys};

/// Arguments of `tend start|stop|restart|reopen-logs`.
#[derive(Debug, Args)]
pub struct ControlArgs {
    /// The service name.
    pub name: ServiceName,
    /// Where the `tend run` / `tend up` of a service that is not installed keeps its
    /// state (default: /var/lib/tend as root, else ~/.local/state/tend).
    #[arg(long, env = "TEND_STATE_DIR")]
    pub state_dir: Option<PathBuf>,
}

/// Runs `verb` on service `name`: the installed service if there is one (start and
/// restart wait until it runs), else the service of a running `tend run` / `tend up`.
pub fn control(a: ControlArgs, verb: Verb) -> u8 {
    let name = a.name.as_str();
    let layout = Layout::system(PathBuf::new());
    let installed = read_record(&layout, name).is_some();
    let dir = a.state_dir.unwrap_or_else(supervise::default_state_dir);
    say(act(name, verb, installed, &dir, &layout))
}

/// Why a request to a service failed: the error, and what to do about it.
#[derive(Debug)]
pub(crate) struct Failed {
    pub(crate) error: String,
    pub(crate) help: Option<String>,
}

/// Runs `verb` on service `name` and returns what to say: through its service manager
/// when `installed` (see [`engine::control`]), else through the control channel of the
/// supervisor with state folder `dir`; `layout` is where an install was looked for.
/// What `tend start|stop|restart NAME` and `tend top` do.
/// Each request is appended to the audit log with its result: the system one for an
/// installed service, else the one of `dir`.
pub(crate) fn act(
    name: &str,
    verb: Verb,
    installed: bool,
    dir: &Path,
    layout: &Layout,
) -> Result<String, Failed> {
    let (root, spec) = if installed {
        (layout.state_root.as_path(), Some(layout.spec_path(name)))
    } else {
        (dir, None)
    };
    let before = spec.as_deref().and_then(|p| std::fs::read(p).ok());
    let result = act_unaudited(name, verb, installed, dir, layout);
    let word = match verb {
        Verb::Start => "start",
        Verb::Stop => "stop",
        Verb::Restart => "restart",
    };
    super::audit::note(
        root,
        name,
        word,
        before.as_deref(),
        spec.as_deref(),
        result.as_ref().map(|_| ()).map_err(|f| f.error.as_str()),
    );
    result
}

/// [`act`] without the audit log.
fn act_unaudited(
    name: &str,
    verb: Verb,
    installed: bool,
    dir: &Path,
    layout: &Layout,
) -> Result<String, Failed> {
    if installed {
        return engine::control(name, verb).map_err(|e| Failed {
            error: e.to_string(),
            help: None,
        });
    }
    let verb = match verb {
        Verb::Start => control::Verb::Start,
        Verb::Stop => control::Verb::Stop,
        Verb::Restart => control::Verb::Restart,
    };
    through_channel(dir, name, verb, Some(layout))
}

/// `tend reopen-logs NAME`: through the control channel of the supervisor, installed
/// (its state folder is the install's) or not.
pub fn reopen_logs(a: ControlArgs) -> u8 {
    let name = a.name.as_str();
    let layout = Layout::system(PathBuf::new());
    let dir = if read_record(&layout, name).is_some() {
        layout.state_dir(name)
    } else {
        a.state_dir.unwrap_or_else(supervise::default_state_dir)
    };
    say(through_channel(&dir, name, control::Verb::ReopenLogs, None))
}

/// `tend pause|continue NAME`: freezes a running service's whole process tree, or
/// lets it run again, through the control channel of its supervisor (installed: the
/// install's state folder, as the service manager has no word for it). Audited.
pub fn pause(a: ControlArgs, verb: control::Verb) -> u8 {
    audited_request(a, verb)
}

/// `tend reload NAME`: tells the service's child to re-read its configuration, as its
/// `[reload]` says, through the control channel of its supervisor, installed (its
/// state folder is the install's; what `systemctl reload` and OpenRC's `reload` run)
/// or not. Appended to the audit log.
pub fn reload(a: ControlArgs) -> u8 {
    audited_request(a, control::Verb::Reload)
}

/// Sends `verb` through the control channel of the service's supervisor (an installed
/// service's is in the install's state folder) and appends it to the audit log.
fn audited_request(a: ControlArgs, verb: control::Verb) -> u8 {
    let name = a.name.as_str();
    let layout = Layout::system(PathBuf::new());
    let installed = read_record(&layout, name).is_some();
    let (dir, root, spec) = if installed {
        (
            layout.state_dir(name),
            layout.state_root.clone(),
            Some(layout.spec_path(name)),
        )
    } else {
        let dir = a.state_dir.unwrap_or_else(supervise::default_state_dir);
        (dir.clone(), dir, None)
    };
    let before = spec.as_deref().and_then(|p| std::fs::read(p).ok());
    let result = through_channel(&dir, name, verb, (!installed).then_some(&layout));
    super::audit::note(
        &root,
        name,
        verb.as_str(),
        before.as_deref(),
        spec.as_deref(),
        result.as_ref().map(|_| ()).map_err(|f| f.error.as_str()),
    );
    say(result)
}

/// Prints what a request gave and returns the exit code.
fn say(result: Result<String, Failed>) -> u8 {
    match result {
        Ok(msg) => {
            outln!("{msg}");
            exit::OK
        }
        Err(f) => {
            errln!("error: {}", f.error);
            if let Some(help) = f.help {
                errln!("  = help: {help}");
            }
            exit::ERROR
        }
    }
}

/// Sends `verb` to `name`'s supervisor with state folder `dir`; `layout` is where an
/// install was looked for (for the error when there is neither).
fn through_channel(
    dir: &Path,
    name: &str,
    verb: control::Verb,
    layout: Option<&Layout>,
) -> Result<String, Failed> {
    match control::request(dir, name, verb) {
        Ok(done) if done.ok => Ok(done.message),
        Ok(done) => Err(Failed {
            error: done.message,
            help: Some(format!(
                "`tend status {name}` shows its state, `tend logs {name}` its output"
            )),
        }),
        Err(ClientError::NotRunning { address, .. }) => Err(Failed {
            error: match layout {
                Some(layout) => format!(
                    "`{name}` is not installed (no {}) and no `tend run` or `tend up` supervises it (no control channel {address})",
                    layout.record_path(name).display()
                ),
                None => format!(
                    "no `tend run` or `tend up` supervises `{name}` (no control channel {address})"
                ),
            },
            help: Some("run it with `tend run SPEC` or `tend up FILE`, or install it with `tend install SPEC`; a supervisor with another state folder is reached with --state-dir (or TEND_STATE_DIR)".to_string()),
        }),
        Err(e) => {
            let help = match e {
                ClientError::Stale { .. } => format!("its supervisor was killed: run it again with `tend run SPEC` or `tend up FILE` (that replaces {})", sys::control_address(dir, name)),
                ClientError::Connect { denied: true, .. } => "the channel belongs to the user who runs the supervisor: run this command as that user (or as root)".to_string(),
                ClientError::Timeout { .. } | ClientError::Unfinished { .. } => format!("`tend status {name}` shows where it is; the request goes on in the supervisor"),
                _ => format!("`tend status {name}` shows its state"),
            };
            Err(Failed {
                error: e.to_string(),
                help: Some(help),
            })
        }
    }
}

/// `tend control NAME CODE`: a custom control code to an installed Windows service.
pub fn send_control_code(name: &str, code: u8) -> u8 {
    let result = engine::send_control_code(name, code).map_err(|e| Failed {
        error: e.to_string(),
        help: None,
    });
    let layout = Layout::system(PathBuf::new());
    let spec = layout.spec_path(name);
    let before = std::fs::read(&spec).ok();
    super::audit::note(
        &layout.state_root,
        name,
        &format!("control {code}"),
        before.as_deref(),
        Some(&spec),
        result.as_ref().map(|_| ()).map_err(|f| f.error.as_str()),
    );
    say(result)
}
