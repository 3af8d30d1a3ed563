//! `tend logs NAME [-n N] [-f]`: the service's output, from its log files, or from the
//! journal when it logs with `inherit` under systemd.

use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Args;

use super::exit;
use crate::platform::record::read_record;
use crate::platform::Layout;
use crate::spec::{LogTarget, ServiceName};
use crate::supervise::sys;

/// Arguments of `tend logs`.
#[derive(Debug, Args)]
pub struct LogsArgs {
    /// The service name.
    pub name: ServiceName,
    /// How many lines from the end.
    #[arg(short = 'n', long, default_value_t = 50)]
    pub lines: usize,
    /// Keep printing new lines as they come (follows rotations).
    #[arg(short, long)]
    pub follow: bool,
    /// Show stderr instead of stdout.
    #[arg(long)]
    pub stderr: bool,
    /// The log directory (for services run with `tend run`, not installed).
    #[arg(long, env = "TEND_LOG_DIR")]
    pub log_dir: Option<PathBuf>,
}

/// `tend logs`.
pub fn logs(a: LogsArgs) -> u8 {
    let name = a.name.as_str();
    let layout = Layout::system(PathBuf::new());
    let installed = crate::spec::load_file(&layout.spec_path(name), &Default::default())
        .ok()
        .and_then(|l| l.services.into_iter().next());
    let (dir, target) = match (&a.log_dir, &installed) {
        (Some(d), _) => (d.clone(), LogTarget::File),
        (None, Some(s)) => (
            layout.log_dir(s),
            if a.stderr { s.log.stderr } else { s.log.stdout },
        ),
        (None, None) => (crate::supervise::default_log_dir(), LogTarget::File),
    };
    if target == LogTarget::Inherit {
        let systemd = read_record(&layout, name).is_some_and(|r| r.backend == "systemd");
        if systemd {
            let n = a.lines.to_string();
            // The service's own processes only, not systemd's "Starting ..." lines.
            let unit = format!("_SYSTEMD_UNIT={name}.service");
            let mut args = vec![unit.as_str(), "-n", &n, "--no-pager", "-o", "cat"];
            if a.follow {
                args.push("-f");
            }
            let status = std::process::Command::new("journalctl")
                .args(&args)
                .status();
            return match status {
                Ok(s) if s.success() => exit::OK,
                Ok(_) => exit::ERROR,
                Err(e) => {
                    errln!("error: cannot run journalctl: {e}");
                    exit::ERROR
                }
            };
        }
        let log = dir.join("tend.log");
        errln!(
            "note: `{}` logs to the service manager (`inherit`); showing {}",
            a.name,
            log.display()
        );
        return tail(&log, a.lines, a.follow);
    }
    if target == LogTarget::Null {
        errln!(
            "`{}` discards this stream (log.{} = \"null\")",
            a.name,
            if a.stderr { "stderr" } else { "stdout" }
        );
        return exit::OK;
    }
    let file = dir.join(format!(
        "{}.{}.log",
        a.name,
        if a.stderr { "err" } else { "out" }
    ));
    tail(&file, a.lines, a.follow)
}

/// Prints the last `n` lines of `path`, then follows it if asked.
fn tail(path: &Path, n: usize, follow: bool) -> u8 {
    let mut f = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) => {
            errln!("error: cannot open {}: {e}", path.display());
            return exit::ERROR;
        }
    };
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    // Read backwards in blocks until n lines are found.
    let mut start = len;
    let mut buf = Vec::new();
    while start > 0 && buf.iter().filter(|&&b| b == b'\n').count() <= n {
        let step = start.min(64 * 1024);
        start -= step;
        let mut block = vec![0; step as usize];
        if f.seek(SeekFrom::Start(start)).is_err() || f.read_exact(&mut block).is_err() {
            break;
        }
        block.extend_from_slice(&buf);
        buf = block;
    }
    let newlines: Vec<usize> = buf
        .iter()
        .enumerate()
        .filter(|(_, &b)| b == b'\n')
        .map(|(i, _)| i)
        .collect();
    let skip = if newlines.len() > n {
        newlines[newlines.len() - n - 1] + 1
    } else {
        0
    };
    let mut out = std::io::stdout();
    if out
        .write_all(&buf[skip..])
        .and_then(|()| out.flush())
        .is_err()
    {
        return exit::OK;
    }
    if !follow {
        return exit::OK;
    }
    let mut pos = len;
    let mut ino = f.metadata().map(|m| sys::file_id(&m)).unwrap_or(0);
    loop {
        std::thread::sleep(Duration::from_millis(200));
        // A rotation replaced the file (or, where a file's identity is not reliable,
        // the file there is now smaller than what was read): continue with the file
        // at the path from its start.
        if let Ok(m) = std::fs::metadata(path) {
            if sys::file_id(&m) != ino || m.len() < pos {
                if let Ok(nf) = std::fs::File::open(path) {
                    if drain(&mut f, &mut out).is_none() {
                        return exit::OK;
                    }
                    f = nf;
                    ino = sys::file_id(&m);
                    pos = 0;
                }
            }
        }
        let _ = f.seek(SeekFrom::Start(pos));
        match drain(&mut f, &mut out) {
            Some(n) => pos += n,
            None => return exit::OK,
        }
    }
}

/// Copies what is new in `f` to `out`; `None` when `out` is gone (`| head`).
fn drain(f: &mut std::fs::File, out: &mut impl Write) -> Option<u64> {
    let mut chunk = Vec::new();
    let n = f.read_to_end(&mut chunk).unwrap_or(0);
    out.write_all(&chunk).ok()?;
    out.flush().ok()?;
    Some(n as u64)
}
