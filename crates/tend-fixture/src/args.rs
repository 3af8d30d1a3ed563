//! Command-line parsing for `tend-fixture`.
//!
//! Hand-rolled (no clap) so the fixture stays tiny and starts fast: its
//! start-up time is part of what tend's restart benchmarks measure. Parsing
//! only records what was asked for; `main` performs the actions in a fixed
//! order whatever the order of the flags on the command line.

use std::ffi::OsString;
use std::fmt;
use std::path::PathBuf;

use crate::flood::{MAX_LINE_NUMBER, MIN_LINE_BYTES};

/// Printed by `--help`.
pub const USAGE: &str = "\
usage: tend-fixture [FLAGS]

A scriptable child program for tend's tests and benchmarks. Actions run in
this fixed order, whatever the order of the flags:

  --stamp FILE            write CLOCK_MONOTONIC ns (read first thing) to FILE
                          (via FILE.tmp + rename)
  --pid-file FILE         append \"<pid>\\n\" to FILE (O_APPEND, one write), after
                          the signal handlers and the --print/--eprint lines
  --print TEXT            print TEXT to stdout (repeatable, flushed)
  --eprint TEXT           print TEXT to stderr (repeatable, flushed)
  --env NAME              print NAME=<value|(unset)> (repeatable)
  --cwd                   print cwd=<current dir>
  --whoami                print uid=<uid> gid=<gid>
  --ignore-term           ignore SIGTERM and SIGINT
  --on-term FILE          on SIGTERM/SIGINT append \"graceful\\n\" to FILE, exit 0
  --http-stop PORT        listen on 127.0.0.1:PORT (0: any free port) and print
                          http-stop-port=<port>; on POST /shutdown answer
                          200 OK and exit 0 (GET /healthz: 200 OK; other
                          requests: 404/405/400);
                          serves on a thread: pair it with --hang or --sleep
  --on-http-stop FILE     ... first appending \"http-stop\\n\" to FILE
  --grandchildren N       spawn N copies running --ignore-term --hang
  --grandchild-pids FILE  ... which append their pids to FILE
  --grandchild-setsid     ... which call setsid() first
  --flood N               write N lines to stdout as fast as possible
  --flood-bytes BYTES     same, sized in bytes (rounded down to whole lines)
  --flood-stderr N        write N lines to stderr
  --line-bytes B          bytes per flood line incl. '\\n' (default 100, min 13);
                          line = 'L' + 10-digit number from 1 + ' ' + 'x'... + '\\n'
  --sleep MS              sleep MS milliseconds
  --suspend PID           only suspend process PID (SIGSTOP; on Windows every
                          thread of it) and exit 0: a hung service, for tests
final action (last one wins, default --exit 0):
  --exit N                exit with code N
  --abort                 abort() (SIGABRT: a crash)
  --kill-self SIG         raise signal number SIG
  --hang                  wait forever
  --hog                   allocate and touch memory, 1 MiB at a time: a memory
                          hog for the OOM killer (exits 69 past 2 GiB)
  --help                  print this help

exit codes: 64 bad usage, 69 unsupported here, 74 I/O error,
            141 stdout/stderr closed (EPIPE) while writing

on Windows, signals are console control events:
  --ignore-term           ignore Ctrl-C and Ctrl-Break (a handler that returns
                          TRUE, so nothing is inherited by children)
  --on-term FILE          on Ctrl-C, Ctrl-Break, console close or shutdown
                          (not logoff) append \"graceful\\n\" to FILE, exit 0
  --grandchild-setsid     the grandchildren call FreeConsole(): no Ctrl-C
                          reaches them; they stay in the Job Object
  --whoami                print user=<name> (GetUserNameW)
  --kill-self N           TerminateProcess(self, N): exit code N, no cleanup
  --abort                 std's abort: exit code 0xC0000409 (fast fail)
  --stamp                 unsupported (69)
";

/// Text to print, in command-line order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    Stdout(String),
    Stderr(String),
}

/// What to do about SIGTERM and SIGINT.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum TermMode {
    /// Leave the default disposition (die on the signal).
    #[default]
    Default,
    /// `--ignore-term`.
    Ignore,
    /// `--on-term FILE`.
    OnTerm(PathBuf),
}

/// How much a flood writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FloodSize {
    Lines(u64),
    Bytes(u64),
}

/// The last thing the fixture does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Final {
    Exit(i32),
    Abort,
    KillSelf(i32),
    Hang,
    /// Allocate and touch memory without end (until a memory limit kills it).
    Hog,
}

/// Everything the command line asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Args {
    pub help: bool,
    pub stamp: Option<PathBuf>,
    /// Hidden `--setsid`: call setsid() at start (used for grandchildren).
    pub setsid: bool,
    pub pid_file: Option<PathBuf>,
    pub outputs: Vec<Output>,
    pub env: Vec<OsString>,
    pub cwd: bool,
    pub whoami: bool,
    pub term: TermMode,
    /// `--http-stop PORT`.
    pub http_stop: Option<u16>,
    /// `--on-http-stop FILE`.
    pub on_http_stop: Option<PathBuf>,
    pub grandchildren: u32,
    pub grandchild_pids: Option<PathBuf>,
    pub grandchild_setsid: bool,
    pub flood_stdout: Option<FloodSize>,
    pub flood_stderr: Option<FloodSize>,
    pub line_bytes: usize,
    pub sleep_ms: Option<u64>,
    /// `--suspend PID`.
    pub suspend: Option<u32>,
    pub final_action: Final,
}

impl Default for Args {
    fn default() -> Self {
        Args {
            help: false,
            stamp: None,
            setsid: false,
            pid_file: None,
            outputs: Vec::new(),
            env: Vec::new(),
            cwd: false,
            whoami: false,
            term: TermMode::Default,
            http_stop: None,
            on_http_stop: None,
            grandchildren: 0,
            grandchild_pids: None,
            grandchild_setsid: false,
            flood_stdout: None,
            flood_stderr: None,
            line_bytes: 100,
            sleep_ms: None,
            suspend: None,
            final_action: Final::Exit(0),
        }
    }
}

/// Why the command line was rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseError {
    Unknown(String),
    MissingValue(&'static str),
    BadValue {
        flag: &'static str,
        value: String,
        reason: String,
    },
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseError::Unknown(flag) => write!(f, "unknown flag {flag:?} (see --help)"),
            ParseError::MissingValue(flag) => write!(f, "{flag} needs a value"),
            ParseError::BadValue {
                flag,
                value,
                reason,
            } => write!(f, "bad value {value:?} for {flag}: {reason}"),
        }
    }
}

impl std::error::Error for ParseError {}

/// Parses the arguments after the program name.
pub fn parse<I>(args: I) -> Result<Args, ParseError>
where
    I: IntoIterator<Item = OsString>,
{
    let mut out = Args::default();
    let mut it = args.into_iter();
    while let Some(arg) = it.next() {
        let flag = arg.to_string_lossy();
        // Each arm either consumes the flag's value with `value()` or not.
        let mut value = |name: &'static str| it.next().ok_or(ParseError::MissingValue(name));
        match flag.as_ref() {
            "--help" | "-h" => {
                out.help = true;
                return Ok(out);
            }
            "--stamp" => out.stamp = Some(value("--stamp")?.into()),
            "--setsid" => out.setsid = true,
            "--pid-file" => out.pid_file = Some(value("--pid-file")?.into()),
            "--print" => out.outputs.push(Output::Stdout(lossy(value("--print")?))),
            "--eprint" => out.outputs.push(Output::Stderr(lossy(value("--eprint")?))),
            "--env" => out.env.push(value("--env")?),
            "--cwd" => out.cwd = true,
            "--whoami" => out.whoami = true,
            "--ignore-term" => out.term = TermMode::Ignore,
            "--on-term" => out.term = TermMode::OnTerm(value("--on-term")?.into()),
            "--http-stop" => out.http_stop = Some(number("--http-stop", value)?),
            "--on-http-stop" => out.on_http_stop = Some(value("--on-http-stop")?.into()),
            "--grandchildren" => out.grandchildren = number("--grandchildren", value)?,
            "--grandchild-pids" => out.grandchild_pids = Some(value("--grandchild-pids")?.into()),
            "--grandchild-setsid" => out.grandchild_setsid = true,
            "--flood" => out.flood_stdout = Some(FloodSize::Lines(number("--flood", value)?)),
            "--flood-bytes" => {
                out.flood_stdout = Some(FloodSize::Bytes(number("--flood-bytes", value)?))
            }
            "--flood-stderr" => {
                out.flood_stderr = Some(FloodSize::Lines(number("--flood-stderr", value)?))
            }
            "--line-bytes" => out.line_bytes = number("--line-bytes", value)?,
            "--sleep" => out.sleep_ms = Some(number("--sleep", value)?),
            "--suspend" => out.suspend = Some(number("--suspend", value)?),
            "--exit" => out.final_action = Final::Exit(number("--exit", value)?),
            "--abort" => out.final_action = Final::Abort,
            "--kill-self" => out.final_action = Final::KillSelf(number("--kill-self", value)?),
            "--hang" => out.final_action = Final::Hang,
            "--hog" => out.final_action = Final::Hog,
            _ => return Err(ParseError::Unknown(flag.into_owned())),
        }
    }
    validate(&out)?;
    Ok(out)
}

/// Checks the combinations a single flag's parser cannot see.
fn validate(args: &Args) -> Result<(), ParseError> {
    if args.line_bytes < MIN_LINE_BYTES {
        return Err(ParseError::BadValue {
            flag: "--line-bytes",
            value: args.line_bytes.to_string(),
            reason: format!("a line needs at least {MIN_LINE_BYTES} bytes"),
        });
    }
    for (flag, size) in [
        ("--flood", args.flood_stdout),
        ("--flood-stderr", args.flood_stderr),
    ] {
        if let Some(FloodSize::Lines(n)) = size {
            if n > MAX_LINE_NUMBER {
                return Err(ParseError::BadValue {
                    flag,
                    value: n.to_string(),
                    reason: format!("at most {MAX_LINE_NUMBER} lines"),
                });
            }
        }
    }
    if let Some(FloodSize::Bytes(b)) = args.flood_stdout {
        if b / args.line_bytes as u64 > MAX_LINE_NUMBER {
            return Err(ParseError::BadValue {
                flag: "--flood-bytes",
                value: b.to_string(),
                reason: format!("at most {MAX_LINE_NUMBER} lines"),
            });
        }
    }
    if let (Some(path), None) = (&args.on_http_stop, args.http_stop) {
        return Err(ParseError::BadValue {
            flag: "--on-http-stop",
            value: path.display().to_string(),
            reason: "it only applies with --http-stop".into(),
        });
    }
    if let Final::KillSelf(sig) = args.final_action {
        if sig <= 0 {
            return Err(ParseError::BadValue {
                flag: "--kill-self",
                value: sig.to_string(),
                reason: "a signal number is positive".into(),
            });
        }
    }
    Ok(())
}

/// Takes the flag's value and parses it as a number.
fn number<T, F>(flag: &'static str, mut value: F) -> Result<T, ParseError>
where
    T: std::str::FromStr,
    T::Err: fmt::Display,
    F: FnMut(&'static str) -> Result<OsString, ParseError>,
{
    let raw = lossy(value(flag)?);
    raw.parse().map_err(|e: T::Err| ParseError::BadValue {
        flag,
        value: raw.clone(),
        reason: e.to_string(),
    })
}

fn lossy(s: OsString) -> String {
    s.into_string()
        .unwrap_or_else(|s| s.to_string_lossy().into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(args: &[&str]) -> Result<Args, ParseError> {
        parse(args.iter().map(OsString::from))
    }

    #[test]
    fn defaults_exit_zero() {
        let a = p(&[]).unwrap();
        assert_eq!(a, Args::default());
        assert_eq!(a.final_action, Final::Exit(0));
        assert_eq!(a.line_bytes, 100);
    }

    #[test]
    fn parses_everything() {
        let a = p(&[
            "--hang",
            "--print",
            "hi there",
            "--eprint",
            "oops",
            "--env",
            "HOME",
            "--env",
            "PATH",
            "--pid-file",
            "/tmp/p",
            "--stamp",
            "/tmp/s",
            "--cwd",
            "--whoami",
            "--on-term",
            "/tmp/t",
            "--grandchildren",
            "3",
            "--grandchild-pids",
            "/tmp/g",
            "--grandchild-setsid",
            "--flood",
            "10",
            "--flood-stderr",
            "5",
            "--line-bytes",
            "20",
            "--sleep",
            "250",
            "--setsid",
            "--http-stop",
            "8080",
            "--on-http-stop",
            "/tmp/h",
        ])
        .unwrap();
        assert_eq!(a.final_action, Final::Hang);
        assert_eq!(p(&["--hang", "--hog"]).unwrap().final_action, Final::Hog);
        assert_eq!(
            a.outputs,
            vec![
                Output::Stdout("hi there".into()),
                Output::Stderr("oops".into())
            ]
        );
        assert_eq!(a.env, vec![OsString::from("HOME"), OsString::from("PATH")]);
        assert_eq!(a.pid_file, Some("/tmp/p".into()));
        assert_eq!(a.stamp, Some("/tmp/s".into()));
        assert!(a.cwd && a.whoami && a.setsid && a.grandchild_setsid);
        assert_eq!(a.term, TermMode::OnTerm("/tmp/t".into()));
        assert_eq!(a.grandchildren, 3);
        assert_eq!(a.grandchild_pids, Some("/tmp/g".into()));
        assert_eq!(a.flood_stdout, Some(FloodSize::Lines(10)));
        assert_eq!(a.flood_stderr, Some(FloodSize::Lines(5)));
        assert_eq!(a.line_bytes, 20);
        assert_eq!(a.sleep_ms, Some(250));
        assert_eq!(a.http_stop, Some(8080));
        assert_eq!(a.on_http_stop, Some("/tmp/h".into()));
    }

    #[test]
    fn last_final_action_wins() {
        assert_eq!(
            p(&["--abort", "--exit", "3"]).unwrap().final_action,
            Final::Exit(3)
        );
        assert_eq!(
            p(&["--exit", "3", "--kill-self", "9"])
                .unwrap()
                .final_action,
            Final::KillSelf(9)
        );
        assert_eq!(
            p(&["--hang", "--abort"]).unwrap().final_action,
            Final::Abort
        );
        assert_eq!(
            p(&["--on-term", "f", "--ignore-term"]).unwrap().term,
            TermMode::Ignore
        );
    }

    #[test]
    fn flood_bytes_is_an_alternative() {
        let a = p(&["--flood", "7", "--flood-bytes", "1000"]).unwrap();
        assert_eq!(a.flood_stdout, Some(FloodSize::Bytes(1000)));
    }

    #[test]
    fn values_that_look_like_flags_are_values() {
        let a = p(&["--print", "--exit"]).unwrap();
        assert_eq!(a.outputs, vec![Output::Stdout("--exit".into())]);
        assert_eq!(a.final_action, Final::Exit(0));
    }

    #[test]
    fn help_stops_parsing() {
        assert!(p(&["--help", "--bogus"]).unwrap().help);
    }

    #[test]
    fn errors() {
        assert_eq!(p(&["--bogus"]), Err(ParseError::Unknown("--bogus".into())));
        assert_eq!(p(&["--exit"]), Err(ParseError::MissingValue("--exit")));
        assert!(matches!(
            p(&["--exit", "x"]),
            Err(ParseError::BadValue { flag: "--exit", .. })
        ));
        assert!(matches!(
            p(&["--flood", "-1"]),
            Err(ParseError::BadValue {
                flag: "--flood",
                ..
            })
        ));
        assert!(matches!(
            p(&["--line-bytes", "12"]),
            Err(ParseError::BadValue {
                flag: "--line-bytes",
                ..
            })
        ));
        assert!(matches!(
            p(&["--flood", "10000000000"]),
            Err(ParseError::BadValue {
                flag: "--flood",
                ..
            })
        ));
        assert!(matches!(
            p(&["--kill-self", "0"]),
            Err(ParseError::BadValue {
                flag: "--kill-self",
                ..
            })
        ));
        assert!(matches!(
            p(&["--http-stop", "65536"]),
            Err(ParseError::BadValue {
                flag: "--http-stop",
                ..
            })
        ));
        assert!(matches!(
            p(&["--on-http-stop", "f"]),
            Err(ParseError::BadValue {
                flag: "--on-http-stop",
                ..
            })
        ));
        // The message names the flag.
        assert!(p(&["--sleep"]).unwrap_err().to_string().contains("--sleep"));
    }
}
