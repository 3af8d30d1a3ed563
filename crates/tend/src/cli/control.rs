//! `tend start|stop|restart NAME`: the same words on every service manager.

#[cfg(unix)]
use std::path::PathBuf;
#[cfg(unix)]
use std::time::Duration;

#[cfg(unix)]
use super::exit;
#[cfg(unix)]
use crate::platform::install::{read_record, start_and_wait};
#[cfg(unix)]
use crate::platform::pick_backend;
#[cfg(unix)]
use crate::platform::Layout;
use crate::platform::Verb;

/// Runs `verb` on the installed service `name`; start and restart wait until it runs.
#[cfg(windows)]
pub fn control(name: &str, verb: Verb) -> u8 {
    super::windows::control(name, verb)
}

/// Runs `verb` on the installed service `name`; start and restart wait until it runs.
#[cfg(unix)]
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
