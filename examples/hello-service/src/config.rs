//! Command-line and environment configuration.
//!
//! Two settings, each from a flag or an environment variable (the flag
//! wins), so the service can be configured both from a tend spec's `args`
//! and from its `[env]` table. Hand-parsed: the example stays
//! dependency-light.
//!
//! Three subcommands make the program a self-installing Windows service:
//! `install` registers it with the service control manager (its own path
//! plus `run-service` and the flags become the service's command line),
//! `uninstall` removes it and `run-service` is what the SCM starts. They are
//! parsed on every platform (so these tests run everywhere) and refused at
//! run time outside Windows.

use std::ffi::OsString;
use std::path::PathBuf;

/// Listen address when neither `--listen` nor `HELLO_LISTEN` is given.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";

/// Service name when `--name` is not given.
pub const DEFAULT_NAME: &str = "hello-service";

/// The accepted `--start` values (mapped to the SCM's start types on Windows).
pub const START_TYPES: &[&str] = &["auto", "delayed-auto", "manual", "disabled"];

pub const USAGE: &str = "\
usage: hello-service [--listen ADDR] [--shutdown-marker FILE]
       hello-service install [--start auto|delayed-auto|manual|disabled]
                             [--name NAME] [--listen ADDR] [--shutdown-marker FILE]
       hello-service uninstall [--name NAME]
       hello-service run-service [--name NAME] [--listen ADDR] [--shutdown-marker FILE]

  --listen ADDR            address to listen on (env HELLO_LISTEN,
                           default 127.0.0.1:8080; port 0 picks a free one)
  --shutdown-marker FILE   after a graceful shutdown append \"graceful <pid>\\n\"
                           to FILE (env HELLO_SHUTDOWN_MARKER)
  --help                   print this help

A socket passed by the supervisor (tend's [[listen]], a systemd socket unit:
LISTEN_FDS) is served instead of --listen: the one named http, else the first
TCP one.

endpoints: GET / (greeting with pid), GET /healthz (\"ok\"); others 404.
SIGTERM/SIGINT (Ctrl-C on Windows): stop accepting, finish in-flight
requests (up to 5 s), exit 0.

Windows only: `install` registers this program as the service NAME (default
hello-service, start type auto) running `run-service` with the given
flags; installing again updates or leaves it as it is. `uninstall` stops
and removes it. `run-service` is what the service control manager starts:
a service stop finishes in-flight requests like Ctrl-C does.";

/// What the service was asked to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Serve in the foreground (the console, or under tend).
    Run(Config),
    Help,
    /// Register (or update) the Windows service.
    Install(Install),
    /// Remove the Windows service.
    Uninstall {
        name: String,
    },
    /// Serve under the Windows service control manager.
    RunService {
        name: String,
        config: Config,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Install {
    pub name: String,
    /// One of [`START_TYPES`].
    pub start: String,
    /// What the installed service will run with.
    pub config: Config,
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
    let mut it = args.into_iter().peekable();
    let sub = it
        .peek()
        .and_then(|a| a.to_str())
        .filter(|a| ["install", "uninstall", "run-service"].contains(a))
        .map(str::to_owned);
    if sub.is_some() {
        it.next();
    }
    let mut listen = None;
    let mut marker = None;
    let mut name = None;
    let mut start = None;
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
            "--listen" if sub.as_deref() != Some("uninstall") => {
                let v = value()?;
                listen = Some(v.into_string().map_err(|v| format!("bad address {v:?}"))?);
            }
            "--shutdown-marker" if sub.as_deref() != Some("uninstall") => {
                marker = Some(PathBuf::from(value()?))
            }
            "--name" if sub.is_some() => {
                let v = value()?;
                let v = v.into_string().map_err(|v| format!("bad name {v:?}"))?;
                if v.is_empty() || v.contains(['/', '\\']) {
                    return Err(format!("bad service name {v:?}"));
                }
                name = Some(v);
            }
            "--start" if sub.as_deref() == Some("install") => {
                let v = value()?;
                match v.to_str() {
                    Some(v) if START_TYPES.contains(&v) => start = Some(v.to_owned()),
                    _ => {
                        return Err(format!(
                            "bad start type {v:?} (one of {})",
                            START_TYPES.join(", ")
                        ))
                    }
                }
            }
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
    let config = Config {
        listen,
        shutdown_marker,
    };
    let name = name.unwrap_or_else(|| DEFAULT_NAME.to_owned());
    Ok(match sub.as_deref() {
        None => Command::Run(config),
        Some("install") => Command::Install(Install {
            name,
            start: start.unwrap_or_else(|| "auto".to_owned()),
            config,
        }),
        Some("uninstall") => Command::Uninstall { name },
        _ => Command::RunService { name, config },
    })
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
    fn service_subcommands() {
        assert_eq!(
            run(&["install"], &[]),
            Ok(Command::Install(Install {
                name: DEFAULT_NAME.into(),
                start: "auto".into(),
                config: match config(DEFAULT_LISTEN, None) {
                    Command::Run(c) => c,
                    _ => unreachable!(),
                },
            }))
        );
        let Ok(Command::Install(i)) = run(
            &[
                "install",
                "--start",
                "manual",
                "--name=hello2",
                "--listen",
                "127.0.0.1:9",
                "--shutdown-marker",
                r"C:\x y\m.txt",
            ],
            &[],
        ) else {
            panic!("install did not parse");
        };
        assert_eq!((i.name.as_str(), i.start.as_str()), ("hello2", "manual"));
        assert_eq!(i.config.listen, "127.0.0.1:9");
        assert_eq!(
            run(&["uninstall", "--name", "h"], &[]),
            Ok(Command::Uninstall { name: "h".into() })
        );
        assert_eq!(
            run(&["run-service", "--listen", "127.0.0.1:7"], &[]),
            Ok(Command::RunService {
                name: DEFAULT_NAME.into(),
                config: match config("127.0.0.1:7", None) {
                    Command::Run(c) => c,
                    _ => unreachable!(),
                },
            })
        );
        // Flags that belong to other subcommands, and bad values.
        assert!(run(&["--start", "auto"], &[]).is_err());
        assert!(run(&["--name", "x"], &[]).is_err());
        assert!(run(&["run-service", "--start", "auto"], &[]).is_err());
        assert!(run(&["uninstall", "--listen", "x"], &[]).is_err());
        assert!(run(&["install", "--start", "boot"], &[]).is_err());
        assert!(run(&["install", "--name", r"a\b"], &[]).is_err());
        // A subcommand is only recognised first.
        assert!(run(&["--listen", "x", "install"], &[]).is_err());
    }

    #[test]
    fn help_and_errors() {
        assert_eq!(run(&["--help"], &[]), Ok(Command::Help));
        assert!(run(&["--listen"], &[]).unwrap_err().contains("--listen"));
        assert!(run(&["--bogus"], &[]).unwrap_err().contains("--bogus"));
        assert!(run(&["stray"], &[]).is_err());
    }
}
