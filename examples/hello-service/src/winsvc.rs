//! hello-service as a self-installing Windows service, through `tend-service`.
//!
//! `install` registers the running executable with the service control manager,
//! with `run-service` and the chosen flags as its command line; `run-service` is
//! the entry point the SCM starts: the same accept loop as in a console, with
//! the SCM's stop (or shutdown) request in place of Ctrl-C and the SCM told
//! about each step (running once listening, stop progress while draining, the
//! exit code at the end). The Go analogue is a program using
//! `kardianos/service`'s `Install` and `Run`.

use std::process::ExitCode;
use std::time::Duration;

use tend_service::windows::{self, Event, ExitCodeError, FailurePolicy, ServiceDef, StartType};

use crate::config::{Config, Install, DEFAULT_NAME};
use crate::log;
use crate::shutdown::Shutdown;
use crate::{runtime, serve, Hooks};

/// The wait hint sent with each stop-progress report (sent every second).
const STOP_PROGRESS_HINT: Duration = Duration::from_secs(3);

/// Registers (or updates) the service; prints what changed.
pub fn install(install: &Install) -> ExitCode {
    let start: StartType = match install.start.parse() {
        Ok(start) => start,
        Err(e) => {
            log::err(format_args!("hello-service: {e}"));
            return ExitCode::from(64);
        }
    };
    let exe = match std::env::current_exe() {
        Ok(exe) => exe,
        Err(e) => {
            log::err(format_args!("hello-service: cannot find my own path: {e}"));
            return ExitCode::FAILURE;
        }
    };
    let mut args = vec!["run-service".to_owned()];
    if install.name != DEFAULT_NAME {
        args.extend(["--name".to_owned(), install.name.clone()]);
    }
    args.extend(["--listen".to_owned(), install.config.listen.clone()]);
    if let Some(marker) = &install.config.shutdown_marker {
        let Some(marker) = marker.to_str() else {
            log::err(format_args!(
                "hello-service: the marker path is not Unicode"
            ));
            return ExitCode::from(64);
        };
        args.extend(["--shutdown-marker".to_owned(), marker.to_owned()]);
    }
    let def = ServiceDef {
        display_name: format!("{} (tend example)", install.name),
        description: "The HTTP example service bundled with tend, installed by itself.".into(),
        start,
        failure: Some(FailurePolicy::restart(Duration::from_secs(5))),
        preshutdown_timeout: Some(Duration::from_secs(10)),
        args,
        ..ServiceDef::new(install.name.clone())
    };
    match windows::install(&def, &exe) {
        Ok(outcome) => {
            log::out(format_args!(
                "hello-service: service {} {outcome}",
                def.name
            ));
            ExitCode::SUCCESS
        }
        Err(e) => {
            log::err(format_args!(
                "hello-service: cannot install {}: {e}",
                def.name
            ));
            ExitCode::FAILURE
        }
    }
}

/// Stops and removes the service.
pub fn uninstall(name: &str) -> ExitCode {
    match windows::uninstall(name) {
        Ok(outcome) => {
            log::out(format_args!("hello-service: service {name} {outcome}"));
            ExitCode::SUCCESS
        }
        Err(e) => {
            log::err(format_args!("hello-service: cannot uninstall {name}: {e}"));
            ExitCode::FAILURE
        }
    }
}

/// Serves under the SCM until it asks the service to stop.
pub fn run_service(name: &str, config: Config) -> ExitCode {
    let result = windows::run(name, move |events, status| {
        let runtime = runtime().map_err(|code| ExitCodeError::new(code.into()))?;
        let (requests, shutdown) = tokio::sync::mpsc::unbounded_channel();
        // The SCM's events arrive on a blocking channel: forward the stop requests
        // to the runtime from a thread of their own. The loop ends when the service
        // has stopped (the sender is dropped).
        std::thread::spawn(move || {
            for event in events {
                let what = match event {
                    Event::Stop => "service stop",
                    Event::Shutdown => "system shutdown",
                    Event::Preshutdown => "system preshutdown",
                    Event::Custom(code) => {
                        log::out(format_args!("hello-service: control code {code} ignored"));
                        continue;
                    }
                    // Never sent: it does not accept pause and continue.
                    Event::Pause | Event::Continue => continue,
                };
                if requests.send(what).is_err() {
                    break;
                }
            }
        });
        let running = status.clone();
        let hooks = Hooks {
            ready: Some(Box::new(move || {
                if let Err(e) = running.running() {
                    log::err(format_args!("hello-service: cannot report running: {e}"));
                }
            })),
            draining: Some(Box::new(move || {
                let _ = status.stopping(STOP_PROGRESS_HINT);
            })),
        };
        match runtime.block_on(serve(config, Shutdown::from_service(shutdown), hooks)) {
            0 => Ok(()),
            code => Err(ExitCodeError::new(code.into())),
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(windows::Error::NotAService) => {
            log::err(format_args!(
                "hello-service: run-service is started by the service control manager \
                 (install, then `sc start {name}`); run without it for the console"
            ));
            ExitCode::from(64)
        }
        Err(e) => {
            log::err(format_args!("hello-service: service {name}: {e}"));
            ExitCode::FAILURE
        }
    }
}
