//! Command-line and environment configuration.
//!
//! Two settings, each from a flag or an environment variable (the flag
//! wins), so the service can be configured both from a tend spec's `args`
//! and from its `[env]` table. Hand-parsed: the example stays
//! dependency-light.

use std::ffi::OsString;
use std::path::PathBuf;

/// Listen address when neither `--listen` nor `HELLO_LISTEN` is given.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";

pub const USAGE: &str = "\
usage: hello-service [--listen ADDR] [--shutdown-marker FILE]

  --listen ADDR            address to listen on (env HELLO_LISTEN,
                           default 127.0.0.1:8080; port 0 picks a free one)
  --shutdown-marker FILE   after a graceful shutdown append \"graceful <pid>\\n\"
                           to FILE (env HELLO_SHUTDOWN_MARKER)
  --help                   print this help

endpoints: GET / (greeting with pid), GET /healthz (\"ok\"); others 404.
SIGTERM/SIGINT (Ctrl-C on Windows): stop accepting, finish in-flight
requests (up to 5 s), exit 0.";

/// What the service was asked to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Run(Config),
    Help,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub listen: String,
    pub shutdown_marker: Option<PathBuf>,
}

/// Parses the arguments after the program name; `env` looks up variables.
pub fn parse<I, E>(args: I, env: E) -> Result<Command, String>
where
    I: IntoIterator<Item = OsString>,
    E: Fn(&str) -> Option<OsString>,
{
    let mut listen = None;
    let mut marker = None;
    let mut it = args.into_iter();
    while let Some(arg) = it.next() {
        let arg = arg
            .into_string()
            .map_err(|a| format!("argument {a:?} is not valid UTF-8"))?;
        let (flag, inline) = match arg.split_once('=') {
            Some((flag, value)) if flag.starts_with("--") => (flag, Some(value.to_owned())),
            _ => (arg.as_str(), None),
        };
        let mut value = || -> Result<OsString, String> {
            match &inline {
                Some(v) => Ok(v.into()),
                None => it.next().ok_or(format!("{flag} needs a value")),
            }
        };
        match flag {
            "--help" | "-h" => return Ok(Command::Help),
            "--listen" => {
                let v = value()?;
                listen = Some(v.into_string().map_err(|v| format!("bad address {v:?}"))?);
            }
            "--shutdown-marker" => marker = Some(PathBuf::from(value()?)),
            _ => return Err(format!("unknown argument {arg:?} (see --help)")),
        }
    }
    let listen = match listen {
        Some(l) => l,
        None => match env("HELLO_LISTEN") {
            Some(v) => v
                .into_string()
                .map_err(|v| format!("bad HELLO_LISTEN {v:?}"))?,
            None => DEFAULT_LISTEN.to_owned(),
        },
    };
    let shutdown_marker = marker.or_else(|| env("HELLO_SHUTDOWN_MARKER").map(PathBuf::from));
    Ok(Command::Run(Config {
        listen,
        shutdown_marker,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(args: &[&str], env: &[(&str, &str)]) -> Result<Command, String> {
        let env: Vec<(String, OsString)> =
            env.iter().map(|(k, v)| (k.to_string(), v.into())).collect();
        parse(args.iter().map(OsString::from), |name| {
            env.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
        })
    }

    fn config(listen: &str, marker: Option<&str>) -> Command {
        Command::Run(Config {
            listen: listen.into(),
            shutdown_marker: marker.map(PathBuf::from),
        })
    }

    #[test]
    fn defaults() {
        assert_eq!(run(&[], &[]), Ok(config(DEFAULT_LISTEN, None)));
    }

    #[test]
    fn env_then_flags_override() {
        let env = [
            ("HELLO_LISTEN", "0.0.0.0:1"),
            ("HELLO_SHUTDOWN_MARKER", "/env"),
        ];
        assert_eq!(run(&[], &env), Ok(config("0.0.0.0:1", Some("/env"))));
        assert_eq!(
            run(&["--listen", "[::1]:2", "--shutdown-marker=/flag"], &env),
            Ok(config("[::1]:2", Some("/flag")))
        );
        assert_eq!(
            run(&["--listen=127.0.0.1:3"], &[]),
            Ok(config("127.0.0.1:3", None))
        );
    }

    #[test]
    fn help_and_errors() {
        assert_eq!(run(&["--help"], &[]), Ok(Command::Help));
        assert!(run(&["--listen"], &[]).unwrap_err().contains("--listen"));
        assert!(run(&["--bogus"], &[]).unwrap_err().contains("--bogus"));
        assert!(run(&["stray"], &[]).is_err());
    }
}
