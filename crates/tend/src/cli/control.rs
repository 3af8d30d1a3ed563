//! `tend start|stop|restart NAME`: the same words on every service manager.

use std::path::PathBuf;
use std::time::Duration;

use super::exit;
use super::install::pick_backend;
use crate::platform::install::{read_record, start_and_wait};
use crate::platform::{Layout, Verb};

/// Runs `verb` on the installed service `name`; start and restart wait until it runs.
pub fn control(name: &str, verb: Verb) -> u8 {
    let layout = Layout::system(PathBuf::new());
    let Some(record) = read_record(&layout, name) else {
        eprintln!(
            "error: `{name}` is not installed (no {})",
            layout.record_path(name).display()
        );
        eprintln!("  = help: install it with `tend install SPEC`, or run it in the foreground with `tend run SPEC`");
        return exit::ERROR;
    };
    let backend = match pick_backend(None, Some(&record.backend)) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("error: {e}");
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
            println!("{msg}");
            exit::OK
        }
        Err(e) => {
            eprintln!("error: {e}");
            exit::ERROR
        }
    }
}
