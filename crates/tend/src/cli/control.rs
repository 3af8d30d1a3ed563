//! `tend start|stop|restart NAME` (the same words on every service manager) and `tend
//! control NAME CODE` (a Windows service's custom control codes).

use crate::platform::Verb;

/// Runs `verb` on the installed service `name`; start and restart wait until it runs.
pub fn control(name: &str, verb: Verb) -> u8 {
    manager::control(name, verb)
}

/// `tend control NAME CODE`: a custom control code to an installed Windows service.
pub fn send_code(name: &str, code: u8) -> u8 {
    manager::send_control(name, code)
}

// The service manager's side: the SCM's (cli/windows.rs) or the Unix backends' (below).
#[cfg(windows)]
use super::windows as manager;

#[cfg(unix)]
mod manager {
    use std::path::PathBuf;
    use std::time::Duration;

    use super::super::exit;
    use super::super::install::pick_backend;
    use crate::platform::install::{read_record, start_and_wait};
    use crate::platform::{Layout, Verb};

    /// Runs `verb` on the installed service `name`; start and restart wait until it runs.
    pub fn control(name: &str, verb: Verb) -> u8 {
        let layout = Layout::system(PathBuf::new());
        let Some(record) = read_record(&layout, name) else {
            errln!(
                "error: `{name}` is not installed (no {})",
                layout.record_path(name).display()
            );
            errln!("  = help: install it with `tend install SPEC`, or run it in the foreground with `tend run SPEC`");
            return exit::ERROR;
        };
        let backend = match pick_backend(None, Some(&record.backend)) {
            Ok(b) => b,
            Err(e) => {
                errln!("error: {e}");
                return exit::ERROR;
            }
        };
        let result = match verb {
            Verb::Stop => backend
                .control(name, verb)
                .run()
                .map(|_| format!("`{name}` stopped")),
            _ => start_and_wait(
                backend.as_ref(),
                name,
                &layout,
                verb,
                Duration::from_secs(30),
            )
            .map(|s| format!("`{name}` is running (pid {})", s.pid.unwrap_or(0))),
        };
        match result {
            Ok(msg) => {
                outln!("{msg}");
                exit::OK
            }
            Err(e) => {
                errln!("error: {e}");
                if record.pending {
                    errln!("  = help: the install of `{name}` did not finish (it was interrupted): run `tend install SPEC` again to complete it, or `tend uninstall {name} --purge` to remove what it did");
                }
                exit::ERROR
            }
        }
    }

    /// Custom control codes are the SCM's: there is nothing to send them to here.
    pub fn send_control(name: &str, code: u8) -> u8 {
        errln!("error: cannot send control {code} to `{name}`: custom control codes are for Windows services");
        errln!("  = help: `tend restart {name}` restarts it; `kill -HUP` on its supervisor reopens its logs");
        exit::ERROR
    }
}
