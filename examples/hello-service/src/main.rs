//! `hello-service`: the small HTTP microservice bundled with tend as its
//! example of a supervised service.
//!
//! It exists to show (and test) what tend expects of a well-behaved
//! service: a startup line on stdout, one log line per request, and a
//! graceful shutdown on SIGTERM/SIGINT (Ctrl-C on Windows) that finishes
//! in-flight requests within tend's stop timeout and exits 0. This file
//! wires configuration, the accept loop and shutdown together.
//!
//! Under tend with `[[listen]]` (or a systemd socket unit) it serves on the
//! socket the supervisor holds and passes to each start (`LISTEN_FDS`), so a
//! restart refuses no connection: they wait in the socket's queue while the
//! old process finishes its requests and the new one starts.
//!
//! On Windows it can also install itself as a native service and run under
//! the service control manager (`winsvc.rs`, through `tend-service`): the
//! same accept loop, with the SCM's stop request in place of Ctrl-C.

mod config;
mod http;
mod log;
mod server;
mod shutdown;
#[cfg(windows)]
mod winsvc;

use std::fs::OpenOptions;
use std::io::{self, Write};
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::task::JoinSet;

use config::{Command, Config};
use shutdown::Shutdown;

/// How long in-flight connections may take to finish after a stop signal.
const GRACE: Duration = Duration::from_secs(5);

fn main() -> ExitCode {
    let command = match config::parse(std::env::args_os().skip(1), |name| std::env::var_os(name)) {
        Ok(command) => command,
        Err(e) => {
            log::err(format_args!("hello-service: {e}"));
            return ExitCode::from(64);
        }
    };
    match command {
        Command::Run(config) => console(config),
        Command::Help => {
            log::out(format_args!("{}", config::USAGE));
            ExitCode::SUCCESS
        }
        #[cfg(windows)]
        Command::Install(install) => winsvc::install(&install),
        #[cfg(windows)]
        Command::Uninstall { name } => winsvc::uninstall(&name),
        #[cfg(windows)]
        Command::RunService { name, config } => winsvc::run_service(&name, config),
        #[cfg(not(windows))]
        Command::Install(_) | Command::Uninstall { .. } | Command::RunService { .. } => {
            log::err(format_args!(
                "hello-service: install, uninstall and run-service are only available on Windows"
            ));
            ExitCode::from(64)
        }
    }
}

/// Runs in the foreground until SIGTERM/SIGINT (Ctrl-C on Windows).
fn console(config: Config) -> ExitCode {
    let runtime = match runtime() {
        Ok(runtime) => runtime,
        Err(code) => return ExitCode::from(code),
    };
    runtime.block_on(async {
        // Handlers first: a stop signal right after the startup line is graceful.
        let shutdown = match Shutdown::install() {
            Ok(shutdown) => shutdown,
            Err(e) => {
                log::err(format_args!(
                    "hello-service: cannot install signal handlers: {e}"
                ));
                return ExitCode::FAILURE;
            }
        };
        ExitCode::from(serve(config, shutdown, Hooks::default()).await)
    })
}

/// The single-threaded tokio runtime everything runs on, or exit code 1.
fn runtime() -> Result<tokio::runtime::Runtime, u8> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| {
            log::err(format_args!("hello-service: cannot start runtime: {e}"));
            1
        })
}

/// What the service manager the process runs under wants to hear (nothing in a
/// console or under tend; the SCM's status reports on Windows).
#[derive(Default)]
struct Hooks {
    /// Called once the listener is bound.
    ready: Option<Box<dyn FnOnce()>>,
    /// Called about every second while in-flight requests finish after a stop.
    draining: Option<Box<dyn Fn()>>,
}

/// Serves until `shutdown` fires, then shuts down gracefully; returns the exit
/// code (0, or 1 when it cannot listen or write the marker).
async fn serve(config: Config, mut shutdown: Shutdown, hooks: Hooks) -> u8 {
    let pid = std::process::id();
    let (listener, passed) = match listen(&config).await {
        Ok(listener) => listener,
        Err(e) => {
            log::err(format_args!(
                "hello-service: cannot listen on {}: {e}",
                config.listen
            ));
            return 1;
        }
    };
    let addr = listener
        .local_addr()
        .map_or_else(|_| config.listen.clone(), |a| a.to_string());
    let whose = if passed {
        ", a socket the supervisor holds"
    } else {
        ""
    };
    log::out(format_args!(
        "hello-service listening on {addr} (pid {pid}{whose})"
    ));
    if let Some(ready) = hooks.ready {
        ready();
    }

    let mut connections = JoinSet::new();
    let signal = loop {
        tokio::select! {
            signal = shutdown.wait() => break signal,
            accepted = listener.accept() => match accepted {
                Ok((stream, _peer)) => {
                    connections.spawn(server::serve(stream, pid));
                }
                Err(e) => {
                    // E.g. out of file descriptors: back off instead of spinning.
                    log::err(format_args!("hello-service: accept failed: {e}"));
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
            // Reap finished connections so the set does not grow.
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    };

    // No more accepting. A socket the supervisor passed stays open in the supervisor:
    // connections that arrive from now on wait in its queue for the next start.
    drop(listener);
    log::out(format_args!(
        "hello-service: {signal} received, finishing in-flight requests"
    ));
    let progress = async {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            tick.tick().await;
            if let Some(draining) = &hooks.draining {
                draining();
            }
        }
    };
    tokio::select! {
        _ = async { while connections.join_next().await.is_some() {} } => {}
        _ = progress => {}
        _ = tokio::time::sleep(GRACE) => {
            log::err(format_args!(
                "hello-service: connections still open after {GRACE:?}; dropping them"
            ));
        }
        again = shutdown.wait() => {
            log::err(format_args!("hello-service: second {again}; dropping open connections"));
        }
    }
    connections.abort_all();
    log::out(format_args!("hello-service: graceful shutdown ({signal})"));

    if let Some(marker) = &config.shutdown_marker {
        if let Err(e) = append_marker(marker, pid) {
            log::err(format_args!(
                "hello-service: cannot write shutdown marker {}: {e}",
                marker.display()
            ));
            return 1;
        }
    }
    0
}

/// The socket to serve on: the one the supervisor passed (tend's `[[listen]]` or a
/// systemd socket unit: the one named `http`, else the first TCP one), so restarts
/// refuse no connection; else `config.listen`, bound here. `true` when passed.
async fn listen(config: &Config) -> io::Result<(TcpListener, bool)> {
    #[cfg(any(target_os = "linux", windows))]
    {
        use tend_service::systemd::{listeners, Listener};
        let mut passed = listeners()?;
        let tcp = passed.take_tcp("http").or_else(|| {
            passed.into_vec().into_iter().find_map(|(_, l)| match l {
                Listener::Tcp(t) => Some(t),
                #[allow(unreachable_patterns)]
                _ => None,
            })
        });
        if let Some(tcp) = tcp {
            tcp.set_nonblocking(true)?;
            return Ok((TcpListener::from_std(tcp)?, true));
        }
    }
    Ok((TcpListener::bind(&config.listen).await?, false))
}

/// Appends `"graceful <pid>\n"` to `path`, creating it if needed.
fn append_marker(path: &Path, pid: u32) -> io::Result<()> {
    let mut file = OpenOptions::new().append(true).create(true).open(path)?;
    file.write_all(format!("graceful {pid}\n").as_bytes())
}
