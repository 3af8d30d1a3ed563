//! `hello-service`: the small HTTP microservice bundled with tend as its
//! example of a supervised service.
//!
//! It exists to show (and test) what tend expects of a well-behaved
//! service: a startup line on stdout, one log line per request, and a
//! graceful shutdown on SIGTERM/SIGINT (Ctrl-C on Windows) that finishes
//! in-flight requests within tend's stop timeout and exits 0. This file
//! wires configuration, the accept loop and shutdown together.

mod config;
mod http;
mod log;
mod server;
mod shutdown;

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
    let config = match config::parse(std::env::args_os().skip(1), |name| std::env::var_os(name)) {
        Ok(Command::Run(config)) => config,
        Ok(Command::Help) => {
            log::out(format_args!("{}", config::USAGE));
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            log::err(format_args!("hello-service: {e}"));
            return ExitCode::from(64);
        }
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build();
    match runtime {
        Ok(runtime) => runtime.block_on(run(config)),
        Err(e) => {
            log::err(format_args!("hello-service: cannot start runtime: {e}"));
            ExitCode::FAILURE
        }
    }
}

async fn run(config: Config) -> ExitCode {
    let pid = std::process::id();
    // Handlers first: a stop signal right after the startup line is graceful.
    let mut shutdown = match Shutdown::install() {
        Ok(shutdown) => shutdown,
        Err(e) => {
            log::err(format_args!(
                "hello-service: cannot install signal handlers: {e}"
            ));
            return ExitCode::FAILURE;
        }
    };
    let listener = match TcpListener::bind(&config.listen).await {
        Ok(listener) => listener,
        Err(e) => {
            log::err(format_args!(
                "hello-service: cannot listen on {}: {e}",
                config.listen
            ));
            return ExitCode::FAILURE;
        }
    };
    let addr = listener
        .local_addr()
        .map_or_else(|_| config.listen.clone(), |a| a.to_string());
    log::out(format_args!(
        "hello-service listening on {addr} (pid {pid})"
    ));

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

    drop(listener);
    log::out(format_args!(
        "hello-service: {signal} received, finishing in-flight requests"
    ));
    tokio::select! {
        _ = async { while connections.join_next().await.is_some() {} } => {}
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
            return ExitCode::FAILURE;
        }
    }
    ExitCode::SUCCESS
}

/// Appends `"graceful <pid>\n"` to `path`, creating it if needed.
fn append_marker(path: &Path, pid: u32) -> io::Result<()> {
    let mut file = OpenOptions::new().append(true).create(true).open(path)?;
    file.write_all(format!("graceful {pid}\n").as_bytes())
}
