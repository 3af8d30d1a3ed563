//! `tend-fixture`: a scriptable child program for tend's tests and benchmarks.
//!
//! Integration tests and benchmarks spawn it under tend to get a service
//! whose behaviour they choose from the command line: print, crash, ignore
//! SIGTERM (Ctrl-C on Windows), leave grandchildren behind, flood its logs, and record when it
//! started, or stop on an HTTP request. See `args::USAGE` (or `--help`) for the flags; this file runs
//! the actions in their fixed order.

mod args;
mod files;
mod flood;
mod grandchildren;
mod http_stop;
mod sys;

use std::io::{self, Write};
use std::process::exit;
use std::time::Duration;

use args::{Args, Final, FloodSize, Output, TermMode};
use sys::Stream;

/// Bad command line (EX_USAGE).
const EXIT_USAGE: i32 = 64;
/// Asked for something this platform cannot do (EX_UNAVAILABLE).
const EXIT_UNSUPPORTED: i32 = 69;
/// A file or stream operation failed (EX_IOERR).
const EXIT_IO: i32 = 74;
/// Output pipe closed, as a shell reports death by SIGPIPE (128 + 13).
const EXIT_PIPE: i32 = 141;

fn main() {
    // Read the clock before anything else so `--stamp` measures the start of
    // the program, not our own parsing. Parsing a handful of arguments is
    // cheap, and the full parser knows which arguments are values, so the
    // stamp file is written right after it.
    let started = sys::monotonic_nanos();
    let args = match args::parse(std::env::args_os().skip(1)) {
        Ok(args) => args,
        Err(e) => {
            warn(&e.to_string());
            exit(EXIT_USAGE);
        }
    };
    if args.help {
        emit(Stream::Stdout, args::USAGE.trim_end());
        exit(0);
    }
    if let Some(pid) = args.suspend {
        sys::suspend(pid).unwrap_or_else(|e| fail("--suspend", e));
        exit(0);
    }
    run(&args, started);
}

/// Performs the actions in their fixed order; never returns.
fn run(args: &Args, started: io::Result<u64>) -> ! {
    if let Some(path) = &args.stamp {
        let nanos = started.unwrap_or_else(|e| fail("--stamp", e));
        files::write_stamp(path, nanos).unwrap_or_else(|e| fail("--stamp", e));
    }
    if args.setsid {
        sys::setsid().unwrap_or_else(|e| fail("--setsid", e));
    }
    // Signal dispositions go in before the pid file and any output, so a
    // test that waits for either knows the fixture already reacts as asked.
    match &args.term {
        TermMode::Default => {}
        TermMode::Ignore => sys::ignore_term().unwrap_or_else(|e| fail("--ignore-term", e)),
        TermMode::OnTerm(path) => sys::on_term(path).unwrap_or_else(|e| fail("--on-term", e)),
    }
    // Likewise the stop endpoint listens before the pid file is written.
    let http_port = args
        .http_stop
        .map(|port| start_http_stop(port, args.on_http_stop.clone()));
    for output in &args.outputs {
        match output {
            Output::Stdout(text) => emit(Stream::Stdout, text),
            Output::Stderr(text) => emit(Stream::Stderr, text),
        }
    }
    // After the printed lines too: a test that sees the pid knows they were written.
    if let Some(path) = &args.pid_file {
        files::append_pid(path, std::process::id()).unwrap_or_else(|e| fail("--pid-file", e));
    }
    report(args, http_port);
    if args.grandchildren > 0 {
        grandchildren::spawn(
            args.grandchildren,
            args.grandchild_pids.as_deref(),
            args.grandchild_setsid,
        )
        .unwrap_or_else(|e| fail("--grandchildren", e));
    }
    if let Some(size) = args.flood_stdout {
        flood_to(Stream::Stdout, size, args.line_bytes);
    }
    if let Some(size) = args.flood_stderr {
        flood_to(Stream::Stderr, size, args.line_bytes);
    }
    if let Some(ms) = args.sleep_ms {
        std::thread::sleep(Duration::from_millis(ms));
    }
    finish(args.final_action)
}

/// Binds `--http-stop`'s port and serves it on a thread that exits the
/// process with 0 once a shutdown request has been answered. Returns the port.
fn start_http_stop(port: u16, marker: Option<std::path::PathBuf>) -> u16 {
    let listener = http_stop::bind(port).unwrap_or_else(|e| fail("--http-stop", e));
    let port = listener
        .local_addr()
        .unwrap_or_else(|e| fail("--http-stop", e))
        .port();
    std::thread::spawn(
        move || match http_stop::serve(&listener, marker.as_deref()) {
            Ok(()) => exit(0),
            Err(e) => fail("--http-stop", e),
        },
    );
    port
}

/// `--env`, `--cwd`, `--whoami` and `--http-stop`'s port.
fn report(args: &Args, http_port: Option<u16>) {
    for name in &args.env {
        let value = std::env::var_os(name);
        let value = value
            .as_ref()
            .map_or("(unset)".into(), |v| v.to_string_lossy());
        emit(
            Stream::Stdout,
            &format!("{}={value}", name.to_string_lossy()),
        );
    }
    if args.cwd {
        let cwd = std::env::current_dir().unwrap_or_else(|e| fail("--cwd", e));
        emit(Stream::Stdout, &format!("cwd={}", cwd.display()));
    }
    if args.whoami {
        let who = sys::whoami().unwrap_or_else(|e| fail("--whoami", e));
        emit(Stream::Stdout, &who);
    }
    if let Some(port) = http_port {
        emit(Stream::Stdout, &format!("http-stop-port={port}"));
    }
}

fn flood_to(stream: Stream, size: FloodSize, line_bytes: usize) {
    let lines = flood::line_count(size, line_bytes);
    if let Err(e) = flood::flood(lines, line_bytes, |chunk| sys::write_all(stream, chunk)) {
        fail("flood", e);
    }
}

fn finish(action: Final) -> ! {
    match action {
        Final::Exit(code) => exit(code),
        Final::Abort => sys::abort(),
        Final::KillSelf(signal) => {
            sys::raise(signal).unwrap_or_else(|e| fail("--kill-self", e));
            // Still here: the signal was ignored, handled or not fatal.
            warn(&format!(
                "survived signal {signal}; exiting {}",
                128 + signal
            ));
            exit(128 + signal)
        }
        Final::Hang => sys::hang(),
        Final::Hog => hog(),
    }
}

/// Writes `text` and a newline to `stream` immediately (no buffering).
fn emit(stream: Stream, text: &str) {
    let mut line = String::with_capacity(text.len() + 1);
    line.push_str(text);
    line.push('\n');
    if let Err(e) = sys::write_all(stream, line.as_bytes()) {
        fail("output", e);
    }
}

/// Reports a failed action and exits with a code that says what kind.
fn fail(what: &str, err: io::Error) -> ! {
    let code = match err.kind() {
        io::ErrorKind::BrokenPipe => EXIT_PIPE,
        io::ErrorKind::Unsupported => EXIT_UNSUPPORTED,
        _ => EXIT_IO,
    };
    warn(&format!("{what}: {err}"));
    exit(code)
}

/// Best-effort message on stderr (which may itself be the broken pipe, so
/// unlike `eprintln!` this never panics).
fn warn(msg: &str) {
    let _ = writeln!(io::stderr(), "tend-fixture: {msg}");
}

/// Allocates 1 MiB at a time and writes every page of it, so that it is resident,
/// and keeps it all, until a memory limit kills it; past 2 GiB it gives up (exit 69),
/// so that a test run without the limit fails instead of eating the machine.
fn hog() -> ! {
    let mut kept: Vec<Vec<u8>> = Vec::new();
    loop {
        if kept.len() >= 2048 {
            warn("--hog: 2 GiB allocated and still alive: no memory limit holds");
            exit(EXIT_UNSUPPORTED);
        }
        let mut chunk = vec![0u8; 1 << 20];
        for page in chunk.chunks_mut(4096) {
            page[0] = 1;
        }
        kept.push(std::hint::black_box(chunk));
    }
}
