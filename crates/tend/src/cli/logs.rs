//! `tend logs NAME... [-n N] [-f] [--stdout|--stderr] [--since T] [--until T]`: the
//! services' output, stdout and stderr in the order tend received them, from their log
//! files (rotated and gzipped ones included, and the separate `.out`/`.err` files of
//! an older tend before them), or from the journal when a service logs with `inherit`
//! under systemd, or from logd (`logread`) when it does under procd (OpenWrt).
//!
//! The files are found the way the supervisor that wrote them found them: an installed
//! service's through its installed spec; a `tend run` service's through its state file,
//! where the supervisor recorded where they are ([`state::Status::log`]); an older
//! state file's through the spec it names, whose `log.dir` is relative to the spec's
//! folder ([`logfile::log_dir`]); else the default log directory (`TEND_LOG_DIR`).
//! `--log-dir` reads a directory whatever the spec says.

mod files;
mod when;

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use clap::Args;

use super::exit;
use crate::platform::record::read_record;
use crate::platform::{procd, Layout};
use crate::spec::{LogTarget, ServiceName, Spec};
use crate::supervise::logfile::Stream;
use crate::supervise::{self, logfile, prepare, state, sys};
use crate::text::io_error;
use files::{Holds, Line, LiveEnd, Select, TailError, Want};
use when::Range;

/// Arguments of `tend logs`.
#[derive(Debug, Args)]
pub struct LogsArgs {
    /// The services (several: each line starts with its service's name, and lines with
    /// timestamps are merged in time order).
    #[arg(required = true, value_name = "NAME")]
    pub names: Vec<ServiceName>,
    /// How many lines from the end [default: 50, or the whole range with --since/--until].
    #[arg(short = 'n', long)]
    pub lines: Option<usize>,
    /// Keep printing new lines as they come (follows rotations; waits for a log file
    /// that does not exist yet).
    #[arg(short, long, conflicts_with = "until")]
    pub follow: bool,
    /// Show only what the service wrote to stdout.
    #[arg(long, conflicts_with = "stderr")]
    pub stdout: bool,
    /// Show only what the service wrote to stderr.
    #[arg(long)]
    pub stderr: bool,
    /// Only lines from TIME on: an RFC 3339 time, a UTC date and time (`2026-11-30
    /// 04:00`), or a duration ago (`10m`, `2h`).
    #[arg(long, value_name = "TIME")]
    pub since: Option<String>,
    /// Only lines before TIME (same forms as --since).
    #[arg(long, value_name = "TIME")]
    pub until: Option<String>,
    /// Read the log files in this directory, whatever the spec says (TEND_LOG_DIR is
    /// only the default, as for `tend run`: where logs are when the spec names no
    /// log.dir).
    #[arg(long)]
    pub log_dir: Option<PathBuf>,
    /// Where state files are (default: /var/lib/tend as root, else ~/.local/state/tend).
    #[arg(long, env = "TEND_STATE_DIR")]
    pub state_dir: Option<PathBuf>,
}

/// How often `-f` looks for new output.
const POLL: Duration = Duration::from_millis(100);

/// One log to show: a service's output, as files.
struct Log {
    /// The service.
    name: String,
    /// The directory of its files.
    dir: PathBuf,
    /// `<name>` (`tend` for `tend.log`).
    stem: String,
    /// What the lines of its files are: tagged with their stream (`tend.log`: raw).
    holds: Holds,
    /// The streams shown.
    want: Want,
    /// Its lines start with a timestamp.
    timestamps: bool,
}

impl Log {
    /// The separate files an older tend wrote, one a stream (`<name>.out`,
    /// `<name>.err`), of the streams shown.
    fn legacy(&self) -> Vec<(String, Stream)> {
        if self.holds == Holds::Raw {
            return Vec::new();
        }
        [(Stream::Out, "out"), (Stream::Err, "err")]
            .into_iter()
            .filter(|(s, _)| self.want.admits(Some(*s)))
            .map(|(s, suffix)| (format!("{}.{suffix}", self.name), s))
            .collect()
    }
}

impl Log {
    fn live(&self) -> PathBuf {
        self.dir.join(format!("{}.log", self.stem))
    }
}

/// What `tend logs` shows for one service.
enum Found {
    /// Its log files.
    Files(Log),
    /// The journal (`inherit` under systemd).
    Journal,
    /// logd, through `logread` (`inherit` under procd): tend's path as installed, whose
    /// name procd tags the lines with.
    Logd(PathBuf),
    /// Nothing in files: the streams wanted are discarded or go elsewhere.
    Discarded,
}

/// Where `tend logs` looks.
struct Places {
    layout: Layout,
    state_dir: PathBuf,
    /// Where a supervisor writes logs when the spec names no `log.dir`.
    default_dir: PathBuf,
    /// `--log-dir`.
    forced_dir: Option<PathBuf>,
    /// Every state file's status (read once).
    statuses: Vec<state::Status>,
}

/// `tend logs`.
pub fn logs(a: LogsArgs) -> u8 {
    let now = SystemTime::now();
    let mut range = Range::default();
    for (flag, text, slot) in [
        ("--since", &a.since, &mut range.since),
        ("--until", &a.until, &mut range.until),
    ] {
        if let Some(text) = text {
            match when::parse_when(text, now) {
                Ok(t) => *slot = Some(t),
                Err(e) => {
                    errln!("error: {flag}: {e}");
                    return exit::USAGE;
                }
            }
        }
    }
    if let (Some(since), Some(until)) = (range.since, range.until) {
        if since >= until {
            errln!(
                "error: --since ({}) is not before --until ({}): no line is in that range",
                humantime::format_rfc3339_millis(since),
                humantime::format_rfc3339_millis(until)
            );
            errln!("  = help: --since is the first moment shown, --until the first one no longer shown");
            return exit::USAGE;
        }
    }
    let state_dir = a
        .state_dir
        .clone()
        .unwrap_or_else(supervise::default_state_dir);
    let statuses = state::read_all(&state_dir)
        .map(|all| all.into_iter().filter_map(Result::ok).collect())
        .unwrap_or_default();
    let places = Places {
        layout: Layout::system(PathBuf::new()),
        state_dir,
        default_dir: std::env::var_os("TEND_LOG_DIR")
            .filter(|d| !d.is_empty())
            .map_or_else(supervise::default_log_dir, PathBuf::from),
        forced_dir: a.log_dir.clone(),
        statuses,
    };
    // Each name once, in the order given.
    let mut names: Vec<&ServiceName> = Vec::new();
    for n in &a.names {
        if !names.contains(&n) {
            names.push(n);
        }
    }
    let mut logs = Vec::new();
    // Like `tend status a b`: the services found are shown, and each one that is not
    // is an error (exit 1).
    let mut missing = false;
    let want = wanted(&a);
    for &name in &names {
        match find(name.as_str(), want, &places) {
            Ok(Found::Files(log)) => logs.push(log),
            Ok(Found::Journal) if names.len() == 1 => return journal(name.as_str(), &a, &range),
            Ok(Found::Journal) => {
                errln!("error: `{name}` logs to the journal (`inherit` under systemd), which tend cannot merge with other services' files");
                errln!("  = help: show it alone: `tend logs {name}`");
                missing = true;
            }
            Ok(Found::Logd(bin)) if names.len() == 1 => {
                return logd(name.as_str(), &bin, &a, &range)
            }
            Ok(Found::Logd(_)) => {
                errln!("error: `{name}` logs to logd (`inherit` under procd), which tend cannot merge with other services' files");
                errln!("  = help: show it alone: `tend logs {name}`");
                missing = true;
            }
            // What goes where was said.
            Ok(Found::Discarded) => {}
            Err(problem) => {
                for line in problem.lines() {
                    errln!("{line}");
                }
                missing = true;
            }
        }
    }
    let done = |code: u8| if missing { exit::ERROR } else { code };
    if logs.is_empty() {
        return done(exit::OK);
    }
    if !range.is_all() {
        for l in logs.iter().filter(|l| !l.timestamps) {
            errln!(
                "note: the lines of `{}` carry no timestamps (log.timestamps = false): --since/--until select whole files, each written from the rotation before it (else its creation) to its own rotation (the live file: its last write)",
                l.name
            );
        }
    }
    let last = a.lines.or(range.is_all().then_some(50));
    done(show(&logs, last, range, a.follow))
}

/// The streams `--stdout` / `--stderr` ask for (both without either).
fn wanted(a: &LogsArgs) -> Want {
    Want {
        out: !a.stderr,
        err: !a.stdout,
    }
}

fn stream_name(s: Stream) -> &'static str {
    match s {
        Stream::Out => "stdout",
        Stream::Err => "stderr",
    }
}

/// Finds the log of `name` (notes on the way are printed): the wanted streams that go
/// to files, with a note for each that goes elsewhere.
fn find(name: &str, want: Want, p: &Places) -> Result<Found, Missing> {
    let spec_path = p.layout.spec_path(name);
    let installed = installed_spec(
        name,
        &spec_path,
        crate::spec::load_file(&spec_path, &Default::default()),
    )?;
    let (streams, dir, installed) = match installed {
        Some(s) => (Some(Streams::of(&s)), p.layout.log_dir(&s), true),
        None => {
            let (streams, dir) = from_state(name, p)?;
            (streams, dir, false)
        }
    };
    let timestamps = streams.as_ref().is_some_and(|s| s.timestamps);
    let files = |want: Want, dir: PathBuf| {
        Found::Files(Log {
            name: name.to_string(),
            dir,
            stem: name.to_string(),
            holds: Holds::Tagged,
            want,
            timestamps,
        })
    };
    if let Some(dir) = &p.forced_dir {
        return Ok(files(want, dir.clone()));
    }
    let mut in_files = Want {
        out: false,
        err: false,
    };
    let mut inherited = Vec::new();
    for s in [Stream::Out, Stream::Err] {
        if !want.admits(Some(s)) {
            continue;
        }
        let target = streams.as_ref().map_or(LogTarget::File, |t| match s {
            Stream::Out => t.stdout,
            Stream::Err => t.stderr,
        });
        let word = stream_name(s);
        match target {
            LogTarget::File => match s {
                Stream::Out => in_files.out = true,
                Stream::Err => in_files.err = true,
            },
            LogTarget::Null => errln!("note: `{name}` discards its {word} (log.{word} = \"null\")"),
            LogTarget::Syslog => errln!(
                "note: `{name}` sends its {word} to syslog (log.{word} = \"syslog\"): read it there"
            ),
            LogTarget::Inherit => inherited.push(s),
        }
    }
    let none_in_files = !in_files.out && !in_files.err;
    if !inherited.is_empty() {
        let words: Vec<&str> = inherited.iter().map(|s| stream_name(*s)).collect();
        let words = words.join(" and ");
        let record = installed.then(|| read_record(&p.layout, name)).flatten();
        let backend = record.as_ref().map(|r| r.backend.as_str());
        if backend == Some("systemd") {
            if none_in_files {
                return Ok(Found::Journal);
            }
            errln!("note: `{name}` writes its {words} to the journal (`inherit`): see `journalctl -u {name}`");
        } else if let Some(r) = record.as_ref().filter(|r| r.backend == "procd") {
            if none_in_files {
                return Ok(Found::Logd(r.tend_bin.clone()));
            }
            errln!(
                "note: `{name}` writes its {words} to logd (`inherit` under procd): see `logread`"
            );
        } else if installed {
            let log = dir.join("tend.log");
            if none_in_files {
                errln!(
                    "note: `{name}` logs to the service manager (`inherit`); showing {}",
                    log.display()
                );
                return Ok(Found::Files(Log {
                    name: name.to_string(),
                    dir,
                    stem: "tend".into(),
                    holds: Holds::Raw,
                    want: Want::default(),
                    timestamps: false,
                }));
            }
            errln!(
                "note: `{name}` writes its {words} to the service manager (`inherit`): see {}",
                log.display()
            );
        } else {
            errln!(
                "note: `{name}` writes its {words} to the terminal of its `tend run` (`inherit`)"
            );
        }
    }
    if none_in_files {
        return Ok(Found::Discarded);
    }
    Ok(files(in_files, dir))
}

/// What a service's spec says of its output, as its supervisor resolved it.
#[derive(Debug, PartialEq, Eq)]
struct Streams {
    stdout: LogTarget,
    stderr: LogTarget,
    timestamps: bool,
}

impl Streams {
    fn of(spec: &Spec) -> Streams {
        Streams {
            stdout: spec.log.stdout,
            stderr: spec.log.stderr,
            timestamps: spec.log.timestamps,
        }
    }
}

/// Where the output of a service that is not installed goes and its log directory,
/// through the state file its supervisor wrote: as the supervisor recorded it (its
/// profile, `--set` and log directory applied), else (an older supervisor) through the
/// spec it names; without a state file, the default log directory if the service's
/// files are there.
fn from_state(name: &str, p: &Places) -> Result<(Option<Streams>, PathBuf), Missing> {
    // The latest supervisor of that name, whatever its state file is called.
    let status = p
        .statuses
        .iter()
        .filter(|s| s.name == name)
        .max_by_key(|s| s.since_ms);
    let Some(status) = status else {
        let dir = p.forced_dir.as_ref().unwrap_or(&p.default_dir);
        let has_files = [
            name.to_string(),
            format!("{name}.out"),
            format!("{name}.err"),
        ]
        .iter()
        .any(|stem| files::list(dir, stem).is_ok_and(|f| !f.is_empty()));
        if has_files {
            return Ok((None, dir.clone()));
        }
        return Err(Missing::Unknown(Unknown {
            name: name.to_string(),
            state_dir: p.state_dir.clone(),
            known: known_names(p),
        }));
    };
    if let Some(place) = &status.log {
        let streams = Streams {
            stdout: place.stdout,
            stderr: place.stderr,
            timestamps: place.timestamps,
        };
        return Ok((Some(streams), place.dir.clone()));
    }
    // A relative spec path is relative to where `tend run` ran, which the state file
    // does not say: the current directory is the best guess.
    let spec_path = &status.spec;
    let fallback = |why: String| {
        errln!(
            "note: `{name}` ran from {}, {why}; looking in {}",
            spec_path.display(),
            p.default_dir.display()
        );
        if spec_path.is_relative() {
            errln!("  = help: that path is relative to the folder `tend run` ran in: run `tend logs` there, or pass --log-dir");
        }
        Ok((None, p.default_dir.clone()))
    };
    match crate::spec::load_file(spec_path, &crate::spec::LoadOptions::with_process_env()) {
        Ok(loaded) => match loaded
            .services
            .into_iter()
            .find(|s| s.name.as_str() == name)
        {
            Some(spec) => {
                let base = prepare::spec_base(spec_path);
                let dir = logfile::log_dir(&spec, &base, &p.default_dir);
                Ok((Some(Streams::of(&spec)), dir))
            }
            None => fallback("which no longer has that service".into()),
        },
        Err(crate::spec::SpecError::Read { source, .. }) => {
            fallback(format!("which cannot be read now ({})", io_error(&source)))
        }
        Err(_) => fallback(format!(
            "which no longer loads (see `tend check {}`)",
            spec_path.display()
        )),
    }
}

/// The installed spec of `name` from what loading `path` gave: `None` when there is
/// none (not installed); an error when there is one that cannot be read or loaded
/// (never taken for "not installed").
fn installed_spec(
    name: &str,
    path: &Path,
    loaded: Result<crate::spec::Loaded, crate::spec::SpecError>,
) -> Result<Option<Spec>, Missing> {
    match loaded {
        Ok(l) => Ok(l.services.into_iter().next()),
        Err(crate::spec::SpecError::Read { source, .. })
            if source.kind() == std::io::ErrorKind::NotFound =>
        {
            Ok(None)
        }
        Err(crate::spec::SpecError::Read { source, .. }) => Err(Missing::Unreadable {
            name: name.to_string(),
            path: path.to_path_buf(),
            denied: source.kind() == std::io::ErrorKind::PermissionDenied,
            why: io_error(&source),
            group: sys::group_of(path),
        }),
        Err(_) => Err(Missing::Broken {
            name: name.to_string(),
            path: path.to_path_buf(),
        }),
    }
}

/// Why a service's logs cannot be found.
#[derive(Debug)]
enum Missing {
    /// Neither installed nor run.
    Unknown(Unknown),
    /// Installed, with a spec this user cannot read.
    Unreadable {
        name: String,
        /// The installed spec.
        path: PathBuf,
        /// Permission denied (rather than another I/O error).
        denied: bool,
        /// The I/O error, in words.
        why: String,
        /// The spec's group, if known.
        group: Option<String>,
    },
    /// Installed, with a spec that no longer loads.
    Broken { name: String, path: PathBuf },
}

impl Missing {
    /// The error, then what to do.
    fn lines(&self) -> Vec<String> {
        match self {
            Missing::Unknown(u) => u.lines(),
            Missing::Unreadable {
                name,
                path,
                denied,
                why,
                group,
            } => {
                let mut out = vec![format!(
                    "error: `{name}` is installed, but its spec {} cannot be read: {why}",
                    path.display()
                )];
                if *denied {
                    out.push(match group {
                        Some(g) => format!("  = help: run as root, or as a member of the group `{g}` that may read it"),
                        None => "  = help: run as root, or as a user that may read it".into(),
                    });
                }
                out
            }
            Missing::Broken { name, path } => vec![
                format!(
                    "error: `{name}` is installed, but its spec {} no longer loads, so where its logs are is unknown",
                    path.display()
                ),
                format!(
                    "  = help: see `tend check {}`, or pass --log-dir DIR to read the log files in DIR",
                    path.display()
                ),
            ],
        }
    }
}

/// A name that is neither installed nor has a state file (nor log files in the
/// default log directory).
#[derive(Debug)]
struct Unknown {
    name: String,
    /// Where its state file was looked for.
    state_dir: PathBuf,
    /// The names of installed services and state files.
    known: Vec<String>,
}

impl Unknown {
    /// The error, then what to do.
    fn lines(&self) -> Vec<String> {
        let Unknown {
            name,
            state_dir,
            known,
        } = self;
        let error = format!(
            "error: no service `{name}`: not installed, and no state file in {}",
            state_dir.display()
        );
        let first = match closest(name, known) {
            Some(m) => format!("  = help: did you mean `{m}`?"),
            None if known.is_empty() => {
                "  = help: a service run with `tend run` or `tend up` writes its state file there"
                    .into()
            }
            None => format!("  = help: known services: {}", known.join(", ")),
        };
        let elsewhere = "  = help: pass --state-dir (or TEND_STATE_DIR) if it ran with another; its logs outlive its state (`tend forget`): --log-dir DIR reads the log files in DIR";
        vec![error, first, elsewhere.into()]
    }
}

/// The names of installed services and of state files, sorted, once each.
fn known_names(p: &Places) -> Vec<String> {
    let mut names = p.layout.installed_names();
    names.extend(p.statuses.iter().map(|s| s.name.clone()));
    names.sort();
    names.dedup();
    names
}

/// The known name closest to `name`, if close enough to be a typo.
fn closest<'a>(name: &str, known: &'a [String]) -> Option<&'a str> {
    let limit = (name.chars().count() / 3).max(2);
    known
        .iter()
        .map(|k| (strsim::levenshtein(name, k), k.as_str()))
        .filter(|(d, _)| (1..=limit).contains(d))
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

/// `journalctl` for a service that logs to the journal.
fn journal(name: &str, a: &LogsArgs, range: &Range) -> u8 {
    if a.stdout || a.stderr {
        errln!("note: the journal does not say which stream a line came from: showing both");
    }
    // The service's own processes only, not systemd's "Starting ..." lines.
    let mut args = vec![
        format!("_SYSTEMD_UNIT={name}.service"),
        "--no-pager".into(),
        "-o".into(),
        "cat".into(),
    ];
    let last = a.lines.or(range.is_all().then_some(50));
    if let Some(n) = last {
        args.extend(["-n".into(), n.to_string()]);
    }
    let secs = |t: SystemTime| t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    if let Some(t) = range.since {
        args.push(format!("--since=@{}", secs(t)));
    }
    if let Some(t) = range.until {
        args.push(format!("--until=@{}", secs(t)));
    }
    if a.follow {
        args.push("-f".into());
    }
    match std::process::Command::new("journalctl")
        .args(&args)
        .status()
    {
        Ok(s) if s.success() => exit::OK,
        Ok(_) => exit::ERROR,
        Err(e) => {
            errln!("error: cannot run journalctl: {}", io_error(&e));
            errln!("  = help: `{name}` logs to the journal; read it with journalctl -u {name}");
            exit::ERROR
        }
    }
}

/// logd, for a service installed under procd whose output goes to the service
/// manager: `logread -e PATTERN` (see [`procd::logread_pattern`]), the last lines of
/// it, then with `-f` the new ones.
fn logd(name: &str, tend_bin: &Path, a: &LogsArgs, range: &Range) -> u8 {
    if !range.is_all() {
        errln!("error: `{name}` logs to logd (`inherit` under procd), and `logread` cannot select lines by time");
        errln!("  = help: leave out --since and --until (`-n N` shows the last N lines)");
        return exit::USAGE;
    }
    if a.stdout || a.stderr {
        errln!("note: logd does not say which stream a line came from: showing both");
    }
    let pid = crate::platform::backend("procd")
        .and_then(|b| b.query(name).ok())
        .and_then(|s| s.main_pid);
    if pid.is_none() {
        errln!("note: `{name}` is not running under procd: showing only tend's own lines about it (procd tags the program's lines with the pid of each run)");
    }
    let pattern = procd::logread_pattern(tend_bin, pid, name);
    let mut out = std::io::stdout().lock();
    match run_logread(
        Path::new("logread"),
        &pattern,
        a.lines.unwrap_or(50),
        a.follow,
        &mut out,
    ) {
        Ok(true) => exit::OK,
        Ok(false) => exit::ERROR,
        Err(e) => {
            errln!("error: cannot run logread: {}", io_error(&e));
            errln!(
                "  = help: `{name}` logs to logd; read it with logread -e {}",
                crate::text::sh_word(&pattern)
            );
            exit::ERROR
        }
    }
}

/// The last `n` lines of `text` (each with its line break).
fn last_lines(text: &[u8], n: usize) -> &[u8] {
    if n == 0 {
        return &[];
    }
    let body = text.strip_suffix(b"\n").unwrap_or(text);
    let start = body
        .iter()
        .enumerate()
        .rev()
        .filter(|(_, b)| **b == b'\n')
        .nth(n - 1)
        .map_or(0, |(i, _)| i + 1);
    &text[start..]
}

/// Runs `program` (`logread`) for the lines matching `pattern`: every one logd holds,
/// of which the last `last` are written to `out`; then, with `follow`, the new ones
/// as they come (`logread -f` sends none of the old). `logread -l N` would count lines
/// before the filter, hence the two runs (a line logged between them is missed).
/// Whether `program` succeeded.
fn run_logread(
    program: &Path,
    pattern: &str,
    last: usize,
    follow: bool,
    out: &mut impl Write,
) -> std::io::Result<bool> {
    let old = std::process::Command::new(program)
        .args(procd::logread_args(pattern, false))
        .stderr(std::process::Stdio::inherit())
        .output()?;
    out.write_all(last_lines(&old.stdout, last))?;
    out.flush()?;
    if !old.status.success() || !follow {
        return Ok(old.status.success());
    }
    let mut new = std::process::Command::new(program)
        .args(procd::logread_args(pattern, true))
        .stdout(std::process::Stdio::piped())
        .spawn()?;
    if let Some(mut pipe) = new.stdout.take() {
        let mut buf = [0u8; 8192];
        loop {
            let n = std::io::Read::read(&mut pipe, &mut buf)?;
            if n == 0 {
                break;
            }
            out.write_all(&buf[..n])?;
            out.flush()?;
        }
    }
    Ok(new.wait()?.success())
}

/// The prefix of a service's lines: `api | ` when several are shown, else nothing.
fn prefixes(logs: &[Log]) -> Vec<String> {
    if logs.len() < 2 {
        return vec![String::new(); logs.len()];
    }
    let width = logs.iter().map(|l| l.name.len()).max().unwrap_or(0);
    logs.iter()
        .map(|l| format!("{:width$} | ", l.name))
        .collect()
}

/// The last lines of each log (in time order when all carry timestamps, else one
/// service after the other), then, with `follow`, what comes.
fn show(logs: &[Log], last: Option<usize>, range: Range, follow: bool) -> u8 {
    let prefix = prefixes(logs);
    let mut per_log: Vec<Vec<Line>> = Vec::new();
    let mut ends: Vec<(Option<LiveEnd>, Option<String>)> = Vec::new();
    for l in logs {
        let sel = Select {
            last,
            range,
            timestamps: l.timestamps,
            want: l.want,
            holds: l.holds,
        };
        let (pieces, tail) = match tail_of_log(l, &sel) {
            Ok(t) => t,
            Err(e) => {
                errln!("error: {e}");
                errln!("  = help: check that you may read it (the logs of an installed service may need root)");
                return exit::ERROR;
            }
        };
        if pieces.is_empty() && !follow {
            errln!(
                "note: `{}` has no log yet: {} does not exist",
                l.name,
                l.live().display()
            );
            errln!("  = help: if it ran with --log-dir, pass the same --log-dir here; `tend up` writes log files only with --log-files");
        }
        for e in &tail.skipped {
            errln!("warning: {e}: skipped, its lines are missing here");
        }
        for f in &tail.undated {
            errln!(
                "note: when the first line of {} was written is unknown (no earlier rotation, no creation time): taken as its last write, which is out of the range; left out",
                f.display()
            );
        }
        per_log.push(tail.lines);
        // The newest rotation listed: following reads the rotations after it.
        let cursor = pieces
            .iter()
            .rev()
            .find(|p| !p.live && p.holds == l.holds)
            .and_then(|p| {
                p.path
                    .file_name()?
                    .to_str()
                    .map(|n| files::plain_name(n).to_string())
            });
        ends.push((tail.live, cursor));
    }
    let merged = merge(per_log, logs.iter().all(|l| l.timestamps), last);
    if logs.len() > 1 && !logs.iter().all(|l| l.timestamps) {
        errln!("note: not every service's lines carry timestamps (log.timestamps): shown one service after the other");
    }
    let mut out = BufWriter::new(std::io::stdout().lock());
    for (i, line) in &merged {
        if write_line(&mut out, &prefix[*i], &line.text).is_err() {
            return exit::OK;
        }
    }
    if out.flush().is_err() || !follow {
        return exit::OK;
    }
    drop(out);
    let mut followers: Vec<Follower> = logs
        .iter()
        .zip(ends)
        .zip(prefix)
        .map(|((l, (end, cursor)), prefix)| Follower::new(l, end, cursor, prefix))
        .collect();
    let mut out = std::io::stdout();
    loop {
        for f in &mut followers {
            if f.poll(&mut out).is_err() {
                return exit::OK;
            }
        }
        std::thread::sleep(POLL);
    }
}

/// How many times a log is listed again when its live file rotates while it is read.
const RELIST: usize = 20;

/// The files of a log and the last lines `sel` keeps: listed again when the live file
/// was rotated between the listing and its reading (the file it became is not in the
/// listing, and its lines would be skipped).
fn tail_of_log(l: &Log, sel: &Select) -> Result<(Vec<files::Piece>, files::Tail), String> {
    let mut tries = 0;
    loop {
        let listing = |stem: &str| {
            files::list(&l.dir, stem)
                .map_err(|e| format!("cannot list {}: {}", l.dir.display(), io_error(&e)))
        };
        let combined: Vec<files::Piece> = listing(&l.stem)?
            .into_iter()
            .map(|mut p| {
                p.holds = l.holds;
                p
            })
            .collect();
        // An older tend's separate files (read through, never followed), only while
        // the service has no combined log: in a shared folder, `<name>.err.log` may
        // be the combined log of a service named `<name>.err`.
        let mut pieces = Vec::new();
        if combined.is_empty() {
            for (stem, stream) in l.legacy() {
                pieces.extend(listing(&stem)?.into_iter().map(|mut p| {
                    p.live = false;
                    p.id = None;
                    p.holds = Holds::Only(stream);
                    p
                }));
            }
        }
        pieces.extend(combined);
        match files::last_lines(&pieces, sel) {
            Ok(tail) => return Ok((pieces, tail)),
            Err(TailError::Read(e)) => return Err(e.to_string()),
            Err(TailError::Moved) if tries < RELIST => tries += 1,
            Err(TailError::Moved) => {
                return Err(format!(
                    "{} rotates faster than it can be read; try again",
                    l.live().display()
                ))
            }
        }
    }
}

/// The lines of several logs as `(log index, line)`: merged by timestamp when
/// `by_time` (a stable merge: equal times keep the order of the names) and cut to the
/// last `last`, else one log after the other (each already cut to its last lines).
fn merge(per_log: Vec<Vec<Line>>, by_time: bool, last: Option<usize>) -> Vec<(usize, Line)> {
    let mut all: Vec<(usize, Line)> = per_log
        .into_iter()
        .enumerate()
        .flat_map(|(i, lines)| lines.into_iter().map(move |l| (i, l)))
        .collect();
    if by_time {
        all.sort_by_key(|(_, l)| l.stamp);
        if let Some(n) = last {
            all.drain(..all.len().saturating_sub(n));
        }
    }
    all
}

fn write_line(out: &mut impl Write, prefix: &str, text: &[u8]) -> std::io::Result<()> {
    out.write_all(prefix.as_bytes())?;
    out.write_all(text)?;
    out.write_all(b"\n")
}

/// The followed file: open, how far it was read, its identity.
struct Followed {
    file: std::fs::File,
    pos: u64,
    id: u64,
}

/// The live file of a log, opened, and the rotations listed while it was the live file
/// (looked at again after the listing: a rotation in between gives another identity,
/// and the listing is made again); `None` when there is no live file.
fn open_listed(dir: &Path, stem: &str) -> (Option<Followed>, Vec<logfile::Rotated>) {
    let live = dir.join(format!("{stem}.log"));
    let mut tries = 0;
    loop {
        let file = std::fs::File::open(&live).ok().and_then(|file| {
            let id = sys::file_id(&file.metadata().ok()?);
            Some(Followed { file, pos: 0, id })
        });
        let names = files::names_in(dir).unwrap_or_default();
        let rotations = logfile::rotated_files(&names, stem);
        let after = std::fs::metadata(&live).ok().map(|m| sys::file_id(&m));
        tries += 1;
        if file.as_ref().map(|f| f.id) == after || tries > RELIST {
            return (file, rotations);
        }
    }
}

/// Follows one log: its live file, through rotations (a new file at the path), and
/// from before it exists. Several rotations between two looks are read in order: the
/// rest of the followed file, the rotated files after it, then the new live file.
struct Follower {
    /// The service (for warnings).
    name: String,
    dir: PathBuf,
    /// `<name>.out`.
    stem: String,
    prefix: String,
    /// What its lines are, and which are shown.
    holds: Holds,
    want: Want,
    /// The live file being read; `None` until it exists.
    file: Option<Followed>,
    /// The newest rotation whose lines are accounted for (shown, or before what was
    /// asked for), as its plain `.log` name: the rotations after it are new.
    cursor: Option<String>,
    /// The start of a line not ended yet.
    partial: Vec<u8>,
    /// Warnings not printed yet (lines that may be missing).
    warnings: Vec<String>,
}

impl Follower {
    fn new(l: &Log, end: Option<LiveEnd>, cursor: Option<String>, prefix: String) -> Follower {
        let mut f = Follower {
            name: l.name.clone(),
            dir: l.dir.clone(),
            stem: l.stem.clone(),
            prefix,
            holds: l.holds,
            want: l.want,
            file: None,
            cursor,
            partial: Vec::new(),
            warnings: Vec::new(),
        };
        if let Some(e) = end {
            let id = e.file.metadata().map_or(0, |m| sys::file_id(&m));
            f.file = Some(Followed {
                file: e.file,
                pos: e.complete,
                id,
            });
            return f;
        }
        // None of its lines shown (-n 0, or out of --since): follow from its end, and
        // from the rotations listed with it.
        if let (Some(mut live), rotations) = open_listed(&f.dir, &f.stem) {
            live.pos = files::end_of_lines(&mut live.file).unwrap_or(0);
            f.file = Some(live);
            f.cursor = newest(&rotations).or(f.cursor);
        } else {
            errln!("note: waiting for {} to be created", l.live().display());
        }
        f
    }

    /// Prints what is new (warnings on stderr); `Err` when stdout is gone (`| head`).
    fn poll(&mut self, out: &mut impl Write) -> std::io::Result<()> {
        let r = self.poll_lines(out);
        for w in self.warnings.drain(..) {
            errln!("{w}");
        }
        r
    }

    /// Prints what is new, keeping warnings in `warnings`.
    fn poll_lines(&mut self, out: &mut impl Write) -> std::io::Result<()> {
        let live = self.dir.join(format!("{}.log", self.stem));
        let now = std::fs::metadata(&live).ok();
        match (self.file.take(), now) {
            (None, Some(_)) => self.rotated(None, out)?,
            // A rotation replaced the file (or, where a file's identity is not
            // reliable, the file there is now smaller than what was read).
            (Some(f), Some(m)) if sys::file_id(&m) != f.id || m.len() < f.pos => {
                self.rotated(Some(f), out)?
            }
            (f, _) => self.file = f,
        }
        let Some(f) = &mut self.file else {
            return Ok(());
        };
        let chunk = files::read_from(&mut f.file, f.pos).unwrap_or_default();
        f.pos += chunk.len() as u64;
        self.emit(&chunk, out)
    }

    /// After a rotation (or the live file's first appearance, `old` = `None`): the rest
    /// of the old file, the rotated files after it, then the new live file is followed.
    fn rotated(&mut self, old: Option<Followed>, out: &mut impl Write) -> std::io::Result<()> {
        let mut shrunk = false;
        let mut old = old;
        if let Some(o) = &mut old {
            let chunk = files::read_from(&mut o.file, o.pos).unwrap_or_default();
            o.pos += chunk.len() as u64;
            self.emit(&chunk, out)?;
            shrunk = o.file.metadata().is_ok_and(|m| sys::file_id(&m) == o.id)
                && std::fs::metadata(self.dir.join(format!("{}.log", self.stem)))
                    .is_ok_and(|m| sys::file_id(&m) == o.id);
        }
        let (new, rotations) = open_listed(&self.dir, &self.stem);
        let listed = |c: &str| rotations.iter().any(|r| files::plain_name(&r.name) == c);
        let cursor_listed = self.cursor.as_deref().is_some_and(listed);
        let after: Vec<&logfile::Rotated> = rotations
            .iter()
            .filter(|r| {
                self.cursor
                    .as_deref()
                    .is_none_or(|c| files::plain_name(&r.name) > c)
            })
            .collect();
        // Which of them the followed file became: the first (sweeps remove the oldest
        // rotations first, so when the one before it is still there, so is it; else it
        // is recognised by its identity, or by its content once compressed), or none
        // (removed beyond log.keep).
        let mut rest = &after[..];
        let mut skip = None;
        if let (Some(o), Some(first)) = (&mut old, after.first()) {
            let ours = shrunk || cursor_listed || self.is_ours(first, o);
            if ours {
                rest = &after[1..];
                // A copy of the followed file, which was then emptied (Windows, when
                // a reader blocks the rename): what was not read yet is in the copy.
                if shrunk {
                    skip = Some((*first, o.pos));
                }
            }
            if !ours {
                self.missed(first);
            }
        }
        if let Some((r, pos)) = skip {
            self.read_whole(r, pos, out)?;
        }
        for r in rest {
            self.read_whole(r, 0, out)?;
        }
        self.cursor = newest(&rotations).or(self.cursor.take());
        self.file = new;
        Ok(())
    }

    /// Whether the rotated file `r` is what `old` (the followed file) became.
    fn is_ours(&self, r: &logfile::Rotated, old: &mut Followed) -> bool {
        let plain = self.dir.join(files::plain_name(&r.name));
        match std::fs::metadata(&plain) {
            Ok(m) => sys::file_id(&m) == old.id,
            // Compressed (and the plain file removed): the same bytes.
            Err(_) => files::same_content(
                &mut old.file,
                &self.dir.join(format!("{}.gz", plain.display())),
            ),
        }
    }

    /// Says that lines may be missing: the followed file was rotated and removed
    /// (beyond log.keep) before it was read to its end, and so may have been the
    /// rotations after it, up to `first`, the oldest one left.
    fn missed(&mut self, first: &logfile::Rotated) {
        self.warnings.push(format!(
            "warning: `{}`: rotated files of {} were removed (log.keep) before they could be read: lines written between the last one shown and those of {} may be missing",
            self.name,
            self.stem,
            first.name
        ));
    }

    /// Prints a rotated file from byte `skip` on.
    fn read_whole(
        &mut self,
        r: &logfile::Rotated,
        skip: u64,
        out: &mut impl Write,
    ) -> std::io::Result<()> {
        let path = self.dir.join(&r.name);
        let mut stdout_gone = None;
        let read = files::read_rotated(&path, r.gz, skip, |chunk| {
            self.emit(chunk, out).inspect_err(|e| {
                stdout_gone = Some(e.kind());
            })
        });
        if let Some(kind) = stdout_gone {
            return Err(kind.into());
        }
        match read {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => self.warnings.push(format!(
                "warning: `{}`: {} was removed (log.keep) before it could be read: its lines are missing here",
                self.name,
                path.display()
            )),
            Err(e) => self.warnings.push(format!(
                "warning: `{}`: cannot read {}: {}; its lines are missing here",
                self.name,
                path.display(),
                io_error(&e)
            )),
        }
        Ok(())
    }

    /// Prints the complete lines of `chunk` (after what was left of the last one).
    fn emit(&mut self, chunk: &[u8], out: &mut impl Write) -> std::io::Result<()> {
        if chunk.is_empty() {
            return Ok(());
        }
        self.partial.extend_from_slice(chunk);
        let Some(end) = self.partial.iter().rposition(|&b| b == b'\n') else {
            return Ok(());
        };
        let mut buf = Vec::with_capacity(end + 1);
        for line in self.partial[..end].split(|&b| b == b'\n') {
            if let Some(text) = files::shown_line(self.holds, &self.want, line) {
                write_line(&mut buf, &self.prefix, &text)?;
            }
        }
        self.partial.drain(..=end);
        out.write_all(&buf)?;
        out.flush()
    }
}

/// The newest of `rotations` (listed oldest first), as its plain `.log` name.
fn newest(rotations: &[logfile::Rotated]) -> Option<String> {
    rotations
        .last()
        .map(|r| files::plain_name(&r.name).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(stamp: Option<u64>, text: &str) -> Line {
        Line {
            stamp: stamp.map(|s| UNIX_EPOCH + Duration::from_secs(s)),
            text: text.as_bytes().to_vec(),
        }
    }

    fn shown(v: &[(usize, Line)]) -> Vec<String> {
        v.iter()
            .map(|(i, l)| format!("{i}:{}", String::from_utf8_lossy(&l.text)))
            .collect()
    }

    #[test]
    fn several_logs_merge_by_time_or_follow_each_other() {
        let a = vec![
            line(Some(1), "a1"),
            line(Some(3), "a3"),
            line(Some(5), "a5"),
        ];
        let b = vec![
            line(Some(2), "b2"),
            line(Some(3), "b3"),
            line(Some(6), "b6"),
        ];
        assert_eq!(
            shown(&merge(vec![a.clone(), b.clone()], true, None)),
            ["0:a1", "1:b2", "0:a3", "1:b3", "0:a5", "1:b6"]
        );
        assert_eq!(
            shown(&merge(vec![a.clone(), b.clone()], true, Some(3))),
            ["1:b3", "0:a5", "1:b6"]
        );
        assert_eq!(
            shown(&merge(vec![a, b], false, Some(3))),
            ["0:a1", "0:a3", "0:a5", "1:b2", "1:b3", "1:b6"]
        );
    }

    #[test]
    fn an_unknown_name_says_where_it_looked_and_what_to_do() {
        let unknown = |name: &str, known: &[&str]| {
            Unknown {
                name: name.into(),
                state_dir: PathBuf::from("/st"),
                known: known.iter().map(|k| k.to_string()).collect(),
            }
            .lines()
        };
        let error = "error: no service `apj`: not installed, and no state file in /st";
        let elsewhere = "  = help: pass --state-dir (or TEND_STATE_DIR) if it ran with another; its logs outlive its state (`tend forget`): --log-dir DIR reads the log files in DIR";
        assert_eq!(
            unknown("apj", &["api", "db"]),
            [error, "  = help: did you mean `api`?", elsewhere]
        );
        assert_eq!(
            unknown("apj", &[]),
            [
                error,
                "  = help: a service run with `tend run` or `tend up` writes its state file there",
                elsewhere
            ]
        );
        assert_eq!(
            unknown("apj", &["database", "worker"])[1],
            "  = help: known services: database, worker"
        );
        // Never the name itself (known, say, by its install record alone).
        assert_eq!(unknown("web", &["web"])[1], "  = help: known services: web");
    }

    #[cfg(unix)]
    #[test]
    fn an_installed_spec_that_cannot_be_read_is_not_taken_for_none() {
        let path = Path::new("/etc/tend/web.toml");
        let read = |source: std::io::Error| {
            Err(crate::spec::SpecError::Read {
                path: path.into(),
                source,
            })
        };
        // Not there: not installed.
        assert!(matches!(
            installed_spec("web", path, read(std::io::ErrorKind::NotFound.into())),
            Ok(None)
        ));
        let lines = |r: Result<Option<Spec>, Missing>| r.unwrap_err().lines();
        let denied = lines(installed_spec(
            "web",
            path,
            read(std::io::Error::from_raw_os_error(
                nix::errno::Errno::EACCES as i32,
            )),
        ));
        assert_eq!(
            denied[0],
            "error: `web` is installed, but its spec /etc/tend/web.toml cannot be read: Permission denied"
        );
        assert!(
            denied[1].starts_with("  = help: run as root, or as a member of the group `")
                || denied[1] == "  = help: run as root, or as a user that may read it",
            "{denied:?}"
        );
        let broken = crate::spec::load_str(path, "name = 1\n", &Default::default());
        assert_eq!(
            lines(installed_spec("web", path, broken)),
            [
                "error: `web` is installed, but its spec /etc/tend/web.toml no longer loads, so where its logs are is unknown",
                "  = help: see `tend check /etc/tend/web.toml`, or pass --log-dir DIR to read the log files in DIR"
            ]
        );
    }

    #[cfg(unix)]
    #[test]
    fn the_group_of_a_spec_is_named() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("web.toml");
        std::fs::write(&f, "").unwrap();
        let gid = nix::unistd::getegid();
        let want = nix::unistd::Group::from_gid(gid).unwrap().map(|g| g.name);
        assert_eq!(sys::group_of(&f), want);
        // The file cannot be looked at: its folder's.
        assert_eq!(sys::group_of(&d.path().join("nothing/here")), None);
        assert_eq!(sys::group_of(&d.path().join("nothing")), want);
    }

    /// An installed service whose output goes to the service manager is read where
    /// its backend puts it: the journal (systemd), logd (procd, with the tend that
    /// procd runs), tend.log (the others).
    #[test]
    fn inherited_output_is_read_where_the_backend_sends_it() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout {
            spec_dir: dir.path().join("etc/tend"),
            state_root: dir.path().join("state"),
            log_root: dir.path().join("log"),
            tend_bin: PathBuf::new(),
        };
        std::fs::create_dir_all(&layout.spec_dir).unwrap();
        std::fs::write(
            layout.spec_path("web"),
            "name = \"web\"\ncommand = \"/bin/sh\"\n[log]\nstdout = \"inherit\"\nstderr = \"inherit\"\n",
        )
        .unwrap();
        let places = Places {
            layout: layout.clone(),
            state_dir: dir.path().join("state"),
            default_dir: dir.path().join("log"),
            forced_dir: None,
            statuses: Vec::new(),
        };
        let want = Want {
            out: true,
            err: true,
        };
        for backend in ["procd", "systemd", "openrc"] {
            let record = crate::platform::record::InstallRecord {
                backend: backend.into(),
                tend_bin: "/opt/tend/tend".into(),
                ..Default::default()
            };
            std::fs::write(layout.record_path("web"), record.to_json()).unwrap();
            let found = find("web", want, &places).map_err(|e| e.lines()).unwrap();
            match (backend, found) {
                ("procd", Found::Logd(bin)) => assert_eq!(bin, Path::new("/opt/tend/tend")),
                ("systemd", Found::Journal) => {}
                ("openrc", Found::Files(l)) => assert_eq!(l.stem, "tend"),
                (b, _) => panic!("{b}: read from the wrong place"),
            }
        }
    }

    #[test]
    fn the_last_lines_of_logread() {
        for (text, n, want) in [
            ("a\nb\nc\n", 2, "b\nc\n"),
            ("a\nb\nc\n", 3, "a\nb\nc\n"),
            ("a\nb\nc\n", 9, "a\nb\nc\n"),
            ("a\nb\nc", 1, "c"),
            ("a\nb\nc\n", 0, ""),
            ("", 5, ""),
            ("\n\n", 1, "\n"),
        ] {
            assert_eq!(
                String::from_utf8_lossy(last_lines(text.as_bytes(), n)),
                want,
                "{text:?} {n}"
            );
        }
    }

    /// `tend logs` of a procd service runs `logread -e PATTERN`, keeps the last lines,
    /// then follows with `logread -f -e PATTERN`: a fake `logread` records its
    /// arguments and answers like the real one (the old lines, then the new ones).
    #[cfg(unix)]
    #[test]
    fn logread_is_run_for_the_last_lines_then_followed() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let fake = dir.path().join("logread");
        let calls = dir.path().join("calls");
        std::fs::write(
            &fake,
            format!(
                "#!/bin/sh\nprintf '%s\\0' \"$#\" \"$@\" >>'{}'\nif [ \"$1\" = -f ]; then echo 'Mon Dec  1 10:00:03 2025 daemon.info tend[42]: new'; else printf 'Mon Dec  1 10:00:0%s 2025 daemon.info tend[42]: old %s\\n' 0 0 1 1 2 2; fi\n",
                calls.display()
            ),
        )
        .unwrap();
        std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
        let pattern = procd::logread_pattern(Path::new("/usr/local/bin/tend"), Some(42), "web");
        let mut out = Vec::new();
        assert!(run_logread(&fake, &pattern, 2, true, &mut out).unwrap());
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "Mon Dec  1 10:00:01 2025 daemon.info tend[42]: old 1\n\
             Mon Dec  1 10:00:02 2025 daemon.info tend[42]: old 2\n\
             Mon Dec  1 10:00:03 2025 daemon.info tend[42]: new\n"
        );
        let recorded: Vec<String> = std::fs::read(&calls)
            .unwrap()
            .split(|&b| b == 0)
            .map(|w| String::from_utf8(w.to_vec()).unwrap())
            .collect();
        assert_eq!(
            recorded,
            [
                "2",
                "-e",
                "^tend\\[42\\]: ",
                "3",
                "-f",
                "-e",
                "^tend\\[42\\]: ",
                ""
            ]
        );
        // Without -f, one run; a failing logread is a failure.
        let mut out = Vec::new();
        assert!(run_logread(&fake, &pattern, 1, false, &mut out).unwrap());
        assert!(String::from_utf8(out).unwrap().ends_with("old 2\n"));
        let mut out = Vec::new();
        assert!(!run_logread(Path::new("/bin/false"), &pattern, 1, true, &mut out).unwrap());
        assert!(run_logread(&dir.path().join("none"), &pattern, 1, false, &mut out).is_err());
    }

    #[test]
    fn tend_log_is_read_as_written_and_a_combined_log_without_tags() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("tend.log"), "out of memory\n").unwrap();
        std::fs::write(d.path().join("web.log"), "out hello\nerr boom\n").unwrap();
        // The combined log of a service named `web.err`, not web's older stderr.
        std::fs::write(d.path().join("web.err.log"), "out web.err's\n").unwrap();
        let log = |stem: &str, holds, want| Log {
            name: "web".into(),
            dir: d.path().to_path_buf(),
            stem: stem.into(),
            holds,
            want,
            timestamps: false,
        };
        let lines = |l: &Log| {
            let sel = Select {
                holds: l.holds,
                want: l.want,
                ..Select::default()
            };
            let (_, tail) = tail_of_log(l, &sel).unwrap();
            tail.lines
                .iter()
                .map(|l| String::from_utf8_lossy(&l.text).into_owned())
                .collect::<Vec<_>>()
        };
        let err = Want {
            out: false,
            err: true,
        };
        assert_eq!(
            lines(&log("tend", Holds::Raw, Want::default())),
            ["out of memory"]
        );
        assert_eq!(
            lines(&log("web", Holds::Tagged, Want::default())),
            ["hello", "boom"]
        );
        assert_eq!(lines(&log("web", Holds::Tagged, err)), ["boom"]);
        // Without a combined log, `web.err.log` is the stderr an older tend wrote.
        std::fs::remove_file(d.path().join("web.log")).unwrap();
        assert_eq!(
            lines(&log("web", Holds::Tagged, Want::default())),
            ["out web.err's"]
        );
    }

    #[test]
    fn prefixes_are_aligned_and_only_for_several() {
        let log = |n: &str| Log {
            name: n.into(),
            dir: PathBuf::new(),
            stem: String::new(),
            holds: Holds::Tagged,
            want: Want::default(),
            timestamps: false,
        };
        assert_eq!(prefixes(&[log("api")]), [""]);
        assert_eq!(
            prefixes(&[log("api"), log("db2000")]),
            ["api    | ", "db2000 | "]
        );
    }

    /// A follower of `dir/o.out.log` from its start.
    fn follower(dir: &Path) -> Follower {
        let log = Log {
            name: "o".into(),
            dir: dir.to_path_buf(),
            stem: "o.out".into(),
            holds: Holds::Tagged,
            want: Want::default(),
            timestamps: false,
        };
        let file = std::fs::File::open(dir.join("o.out.log")).unwrap();
        Follower::new(
            &log,
            Some(LiveEnd { file, complete: 0 }),
            None,
            String::new(),
        )
    }

    fn append(dir: &Path, file: &str, text: &str) {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(dir.join(file))
            .unwrap();
        f.write_all(text.as_bytes()).unwrap();
    }

    /// Rotates `o.out.log` as the supervisor does, to the rotation named `n`.
    fn rotate(dir: &Path, n: u32) -> String {
        let name = format!("o.out.20261130T0000{n:02}.000Z.log");
        std::fs::rename(dir.join("o.out.log"), dir.join(&name)).unwrap();
        name
    }

    fn gzip(dir: &Path, name: &str) {
        use std::io::Write;
        let text = std::fs::read(dir.join(name)).unwrap();
        let mut w = flate2::write::GzEncoder::new(
            std::fs::File::create(dir.join(format!("{name}.gz"))).unwrap(),
            flate2::Compression::fast(),
        );
        w.write_all(&text).unwrap();
        w.finish().unwrap();
        std::fs::remove_file(dir.join(name)).unwrap();
    }

    fn polled(f: &mut Follower) -> String {
        let mut out = Vec::new();
        f.poll_lines(&mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn following_reads_every_rotation_made_between_two_looks() {
        // (compress each rotation at once, rotations removed as log.keep would)
        for (compress, removed, want, warned) in [
            (false, 0, "2\n3\n4\n5\n", false),
            (true, 0, "2\n3\n4\n5\n", false),
            // The followed file and the next one removed: read to its end through the
            // open file, but the next one's lines are gone, and that is said.
            (false, 2, "2\n4\n5\n", true),
            (true, 2, "2\n4\n5\n", true),
        ] {
            let d = tempfile::tempdir().unwrap();
            let dir = d.path();
            std::fs::write(dir.join("o.out.20261130T000000.000Z.log"), "0\n").unwrap();
            std::fs::write(dir.join("o.out.log"), "1\n").unwrap();
            let mut f = follower(dir);
            assert_eq!(polled(&mut f), "1\n");
            // Three rotations before the follower looks again.
            append(dir, "o.out.log", "2\n");
            let mut rotated = Vec::new();
            for (n, line) in [(1, "3\n"), (2, "4\n"), (3, "5\n")] {
                rotated.push(rotate(dir, n));
                append(dir, "o.out.log", line);
            }
            if compress {
                for r in &rotated {
                    gzip(dir, r);
                }
            }
            std::fs::remove_file(dir.join("o.out.20261130T000000.000Z.log")).unwrap();
            for r in &rotated[..removed] {
                let gz = format!("{r}.gz");
                std::fs::remove_file(dir.join(if compress { &gz } else { r })).unwrap();
            }
            assert_eq!(
                polled(&mut f),
                want,
                "compress {compress}, removed {removed}"
            );
            assert_eq!(f.warnings.len(), usize::from(warned), "{:?}", f.warnings);
            if warned {
                assert!(
                    f.warnings[0].contains(
                        "rotated files of o.out were removed (log.keep) before they could be read"
                    ) && f.warnings[0].contains("o.out.20261130T000003.000Z.log"),
                    "{:?}",
                    f.warnings
                );
            }
            // Then on from the new live file.
            append(dir, "o.out.log", "6\n");
            rotate(dir, 4);
            append(dir, "o.out.log", "7\n");
            assert_eq!(polled(&mut f), "6\n7\n");
        }
    }

    #[test]
    fn following_a_file_that_appears_reads_the_rotations_made_before() {
        let d = tempfile::tempdir().unwrap();
        let dir = d.path();
        let log = Log {
            name: "o".into(),
            dir: dir.to_path_buf(),
            stem: "o.out".into(),
            holds: Holds::Tagged,
            want: Want::default(),
            timestamps: false,
        };
        let mut f = Follower::new(&log, None, None, String::new());
        assert_eq!(polled(&mut f), "");
        append(dir, "o.out.log", "1\n");
        let r = rotate(dir, 1);
        gzip(dir, &r);
        append(dir, "o.out.log", "2\n");
        assert_eq!(polled(&mut f), "1\n2\n");
    }

    #[test]
    fn following_prints_whole_lines_with_their_prefix() {
        let mut f = Follower {
            name: "db".into(),
            dir: PathBuf::new(),
            stem: "db.out".into(),
            prefix: "db | ".into(),
            holds: Holds::Tagged,
            want: Want::default(),
            file: None,
            cursor: None,
            partial: Vec::new(),
            warnings: Vec::new(),
        };
        let mut out = Vec::new();
        f.emit(b"out one\nerr tw", &mut out).unwrap();
        f.emit(b"o\n", &mut out).unwrap();
        f.emit(b"", &mut out).unwrap();
        f.emit(b"out three", &mut out).unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), "db | one\ndb | two\n");
        // --stderr: only the lines tagged so; --stdout: only the others.
        for (want, shown) in [
            (
                Want {
                    out: false,
                    err: true,
                },
                "db | two\n",
            ),
            (
                Want {
                    out: true,
                    err: false,
                },
                "db | one\ndb | three\n",
            ),
        ] {
            f.want = want;
            f.partial.clear();
            let mut out = Vec::new();
            f.emit(b"out one\nerr two\nout three\n", &mut out).unwrap();
            assert_eq!(String::from_utf8(out).unwrap(), shown, "{want:?}");
        }
    }
}
