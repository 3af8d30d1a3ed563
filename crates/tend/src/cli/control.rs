//! `tend start|stop|restart|reopen-logs NAME` (the same words on every service
//! manager) and `tend control NAME CODE` (a Windows service's custom control codes).
//! An installed service goes through the install engine
//! ([`crate::platform::engine`]); otherwise the command reaches the running `tend run`
//! or `tend up` that supervises the service through its control channel
//! ([`crate::supervise::control`]).

use std::path::PathBuf;

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
    if read_record(&layout, name).is_some() {
        return report(engine::control(name, verb));
    }
    let verb = match verb {
        Verb::Start => control::Verb::Start,
        Verb::Stop => control::Verb::Stop,
        Verb::Restart => control::Verb::Restart,
    };
    let dir = a.state_dir.unwrap_or_else(supervise::default_state_dir);
    through_channel(&dir, name, verb, Some(&layout))
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
    through_channel(&dir, name, control::Verb::ReopenLogs, None)
}

/// Sends `verb` to `name`'s supervisor with state folder `dir`; `layout` is where an
/// install was looked for (for the error when there is neither).
fn through_channel(
    dir: &std::path::Path,
    name: &str,
    verb: control::Verb,
    layout: Option<&Layout>,
) -> u8 {
    match control::request(dir, name, verb) {
        Ok(done) if done.ok => {
            outln!("{}", done.message);
            exit::OK
        }
        Ok(done) => {
            errln!("error: {}", done.message);
            errln!("  = help: `tend status {name}` shows its state, `tend logs {name}` its output");
            exit::ERROR
        }
        Err(ClientError::NotRunning { address, .. }) => {
            match layout {
                Some(layout) => errln!(
                    "error: `{name}` is not installed (no {}) and no `tend run` or `tend up` supervises it (no control channel {address})",
                    layout.record_path(name).display()
                ),
                None => errln!(
                    "error: no `tend run` or `tend up` supervises `{name}` (no control channel {address})"
                ),
            }
            errln!("  = help: run it with `tend run SPEC` or `tend up FILE`, or install it with `tend install SPEC`; a supervisor with another state folder is reached with --state-dir (or TEND_STATE_DIR)");
            exit::ERROR
        }
        Err(e) => {
            errln!("error: {e}");
            let help = match e {
                ClientError::Stale { .. } => format!("its supervisor was killed: run it again with `tend run SPEC` or `tend up FILE` (that replaces {})", sys::control_address(dir, name)),
                ClientError::Connect { denied: true, .. } => "the channel belongs to the user who runs the supervisor: run this command as that user (or as root)".to_string(),
                ClientError::Timeout { .. } | ClientError::Unfinished { .. } => format!("`tend status {name}` shows where it is; the request goes on in the supervisor"),
                _ => format!("`tend status {name}` shows its state"),
            };
            errln!("  = help: {help}");
            exit::ERROR
        }
    }
}

/// `tend control NAME CODE`: a custom control code to an installed Windows service.
pub fn send_control_code(name: &str, code: u8) -> u8 {
    report(engine::send_control_code(name, code))
}

fn report(result: Result<String, crate::platform::InstallError>) -> u8 {
    match result {
        Ok(msg) => {
            outln!("{msg}");
            exit::OK
        }
        Err(e) => {
            errln!("error: {e}");
            exit::ERROR
        }
    }
}
