//! `tend start|stop|restart NAME` (the same words on every service manager) and `tend
//! control NAME CODE` (a Windows service's custom control codes), through the install
//! engine ([`crate::platform::engine`]), the same on every OS.

use super::exit;
use crate::platform::engine;
use crate::platform::Verb;

/// Runs `verb` on the installed service `name`; start and restart wait until it runs.
pub fn control(name: &str, verb: Verb) -> u8 {
    report(engine::control(name, verb))
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
