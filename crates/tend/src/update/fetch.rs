//! Getting an upgrade artifact onto disk: [`download`] fetches an `http://`,
//! `https://` or `file://` URL into a file, checked before it takes its name.
//!
//! The HTTP client is the supervisor's minimal HTTP/1.1 one (the stop hook's
//! [`connect`](crate::supervise::hook::connect), the health probes' head reader and
//! [`tls`](crate::supervise::tls)), with what a download needs on top, each piece a
//! pure function tested on its own:
//!
//! - **resuming**: the bytes land in `DEST.part`, which a failed download leaves
//!   behind; the next call asks for the rest (`Range: bytes=N-`) and appends when the
//!   server answers `206`, starts again when it answers `200` (it ignores ranges), and
//!   starts cleanly when it answers `416` or the rest would not add up ([`decide`]);
//! - **redirects**: at most [`MAX_REDIRECTS`], never from `https://` to `http://` nor
//!   to another scheme ([`redirect_target`]);
//! - **bounds**: a stall (no byte for `stall`) is an error that names the URL and how
//!   much came; `max_size` caps the body; `max_bytes_per_sec` paces it ([`pace`]);
//! - **checks**: the size and sha256 are checked before `DEST.part` is renamed to
//!   `DEST` (atomically); a mismatch removes the `.part` and names both values.
//!
//! A progress bar goes to stderr when it is a terminal ([`Progress`]).

use std::fs::{self, File, OpenOptions};
use std::io::{self, IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use sha2::{Digest, Sha256};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::time::Instant;

use crate::spec::HttpUrl;
use crate::supervise::health::{read_head, Answer};
use crate::supervise::hook::{self, quote, HttpError};

/// The most redirects followed for one download.
pub const MAX_REDIRECTS: usize = 5;

/// The largest read from the network at a time.
const READ_SIZE: usize = 64 * 1024;

/// What the artifact must be; unknown parts are not checked.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Expect {
    /// Its size in bytes.
    pub size: Option<u64>,
    /// Its SHA-256.
    pub sha256: Option<[u8; 32]>,
}

/// How progress is shown.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Progress {
    /// Not at all (background downloads).
    #[default]
    None,
    /// A one-line bar on stderr, redrawn in place, when stderr is a terminal (nothing
    /// otherwise).
    Bar,
    /// A plain line on stderr every few seconds (logs).
    Lines,
}

/// How a download behaves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Options {
    /// How progress is shown.
    pub progress: Progress,
    /// The most bytes a second (for background downloads), or no bound.
    pub max_bytes_per_sec: Option<u64>,
    /// No byte for this long is an error (also the bound for connecting).
    pub stall: Duration,
    /// The largest artifact accepted, in bytes.
    pub max_size: u64,
}

impl Default for Options {
    /// No progress, no rate bound, 30 s stall, 1 GiB.
    fn default() -> Options {
        Options {
            progress: Progress::None,
            max_bytes_per_sec: None,
            stall: Duration::from_secs(30),
            max_size: 1 << 30,
        }
    }
}

/// A downloaded and checked artifact.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Downloaded {
    /// Where it is (`dest`).
    pub path: PathBuf,
    /// Its size in bytes.
    pub size: u64,
    /// Its SHA-256.
    pub sha256: [u8; 32],
}

/// Why a download failed. Where the partial file is kept (network failures), the
/// message says so: calling [`download`] again resumes it.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// The URL is not one tend downloads.
    #[error("cannot download {url:?}: {why}")]
    BadUrl {
        /// The URL.
        url: String,
        /// Why.
        why: String,
    },
    /// An `https://` URL, and this build has no TLS.
    #[error(
        "cannot download {url}: this tend was built without HTTPS (cargo feature `https`); \
         use an http:// or file:// URL, or a tend built with it"
    )]
    NoHttps {
        /// The URL.
        url: String,
    },
    /// Resolving or connecting failed.
    #[error("GET {url}: {why}")]
    Connect {
        /// The URL.
        url: String,
        /// Why.
        why: HttpError,
    },
    /// No connection within the stall time.
    #[error("GET {url}: no connection within {}", crate::supervise::event::show_duration(*within))]
    ConnectTimeout {
        /// The URL.
        url: String,
        /// How long it had.
        within: Duration,
    },
    /// The TLS handshake failed.
    #[error("GET {url}: {why}")]
    Tls {
        /// The URL.
        url: String,
        /// Why.
        why: String,
    },
    /// The server did not answer in HTTP, or sending the request failed.
    #[error("GET {url}: {why}")]
    Protocol {
        /// The URL.
        url: String,
        /// What happened.
        why: String,
    },
    /// An answer other than a success or a redirect (the status line, quoted).
    #[error("GET {url}: answered {status}")]
    Status {
        /// The URL.
        url: String,
        /// The status line, quoted.
        status: String,
    },
    /// A redirect that is not followed.
    #[error("GET {url}: the redirect to {to:?} is refused: {why}")]
    Redirect {
        /// The URL that redirected.
        url: String,
        /// Where to.
        to: String,
        /// Why it is refused.
        why: String,
    },
    /// More than [`MAX_REDIRECTS`] redirects.
    #[error("GET {url}: more than {MAX_REDIRECTS} redirects; download from the final URL")]
    TooManyRedirects {
        /// The first URL.
        url: String,
    },
    /// No byte came for `stall`.
    #[error(
        "GET {url}: stalled: no data for {} after {received} bytes; {} is kept and the next \
         attempt resumes it",
        crate::supervise::event::show_duration(*stall), part.display()
    )]
    Stalled {
        /// The URL.
        url: String,
        /// The bytes in the partial file.
        received: u64,
        /// How long nothing came.
        stall: Duration,
        /// The partial file.
        part: PathBuf,
    },
    /// The connection closed before the whole body came.
    #[error(
        "GET {url}: the connection closed after {received}{} bytes; {} is kept and the \
         next attempt resumes it",
        expected.map_or_else(String::new, |n| format!(" of {n}")), part.display()
    )]
    Truncated {
        /// The URL.
        url: String,
        /// The bytes in the partial file.
        received: u64,
        /// The size announced, if any.
        expected: Option<u64>,
        /// The partial file.
        part: PathBuf,
    },
    /// Reading from the network failed.
    #[error(
        "GET {url}: reading failed after {received} bytes: {}; {} is kept and the next \
         attempt resumes it",
        crate::text::io_error(source), part.display()
    )]
    Read {
        /// The URL.
        url: String,
        /// The bytes in the partial file.
        received: u64,
        /// Why.
        source: io::Error,
        /// The partial file.
        part: PathBuf,
    },
    /// The chunked body is not well formed.
    #[error("GET {url}: the answer's chunked body is malformed: {why}")]
    Chunked {
        /// The URL.
        url: String,
        /// What is wrong.
        why: String,
    },
    /// The artifact is larger than `max_size`.
    #[error(
        "{url}: the artifact is larger than the {max} bytes allowed{}; raise the limit if it \
         is expected",
        size.map_or_else(String::new, |n| format!(" ({n} bytes)"))
    )]
    TooLarge {
        /// The URL.
        url: String,
        /// The limit.
        max: u64,
        /// Its size, when announced.
        size: Option<u64>,
    },
    /// The size is not the expected one.
    #[error(
        "{url}: size mismatch: expected {expected} bytes, got {got}; the download was removed"
    )]
    Size {
        /// The URL.
        url: String,
        /// The expected size.
        expected: u64,
        /// Its size.
        got: u64,
    },
    /// The SHA-256 is not the expected one (both in hex).
    #[error("{url}: sha256 mismatch: expected {expected}, got {got}; the download was removed")]
    Sha256 {
        /// The URL.
        url: String,
        /// The expected hash.
        expected: String,
        /// Its hash.
        got: String,
    },
    /// A local file operation failed.
    #[error("cannot {action} {}: {}", path.display(), crate::text::io_error(source))]
    Io {
        /// What was being done: `write`, `read`, `rename … to`.
        action: String,
        /// The file.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
}

/// Downloads `url` (`http://`, `https://` or `file://`) to `dest`, by way of
/// `DEST.part`: resumes a `.part` left by an earlier attempt, follows redirects, and
/// checks the size and SHA-256 against `expect` before renaming the `.part` to `dest`.
pub async fn download(
    url: &str,
    dest: &Path,
    expect: &Expect,
    opts: &Options,
) -> Result<Downloaded, FetchError> {
    let part = part_path(dest);
    if let Some(size) = expect.size.filter(|&s| s > opts.max_size) {
        return Err(FetchError::TooLarge {
            url: url.to_string(),
            max: opts.max_size,
            size: Some(size),
        });
    }
    let got = if url.starts_with("file://") {
        copy_local(url, &part, opts).await?
    } else {
        fetch(url, &part, expect, opts).await?
    };
    finish(url, &part, dest, expect, got)
}

/// What is in the `.part`: its size and hash (computed as the bytes come, so the
/// thread, the supervisor's, is never held for a whole file).
#[derive(Clone, Copy, Debug)]
struct Hashed {
    size: u64,
    sha256: [u8; 32],
}

/// The hash state of a file so far and its size, read in pieces that let the other
/// tasks of the thread run between them.
async fn hash_part(path: &Path) -> Result<(Sha256, u64), FetchError> {
    let io = |source| FetchError::Io {
        action: "read".into(),
        path: path.to_path_buf(),
        source,
    };
    let mut file = File::open(path).map_err(io)?;
    let mut hasher = Sha256::new();
    let mut size = 0u64;
    let mut buf = vec![0u8; READ_SIZE];
    loop {
        let n = file.read(&mut buf).map_err(io)?;
        if n == 0 {
            return Ok((hasher, size));
        }
        hasher.update(&buf[..n]);
        size += n as u64;
        tokio::task::yield_now().await;
    }
}

/// [`hash_part`], finished.
async fn hashed(path: &Path) -> Result<Hashed, FetchError> {
    let (hasher, size) = hash_part(path).await?;
    Ok(Hashed {
        size,
        sha256: hasher.finalize().into(),
    })
}

/// `DEST.part`: where the bytes land until they are checked.
pub fn part_path(dest: &Path) -> PathBuf {
    let mut name = dest.file_name().unwrap_or_default().to_os_string();
    name.push(".part");
    dest.with_file_name(name)
}

/// The SHA-256 of a file.
pub fn sha256_file(path: &Path) -> io::Result<[u8; 32]> {
    let mut file = File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; READ_SIZE];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            return Ok(hasher.finalize().into());
        }
        hasher.update(&buf[..n]);
    }
}

/// A hash in lower-case hex.
pub fn hex(hash: &[u8; 32]) -> String {
    hash.iter().map(|b| format!("{b:02x}")).collect()
}

/// Reads a SHA-256 written in hex (either case); `None` unless it is 64 hex digits.
pub fn parse_sha256(text: &str) -> Option<[u8; 32]> {
    let text = text.trim();
    if text.len() != 64 || !text.is_ascii() {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

/// Checks `part` (which is `got`) against `expect` and renames it to `dest`; a
/// mismatch removes it.
fn finish(
    url: &str,
    part: &Path,
    dest: &Path,
    expect: &Expect,
    got: Hashed,
) -> Result<Downloaded, FetchError> {
    let io = |action: &str, path: &Path| {
        let (action, path) = (action.to_string(), path.to_path_buf());
        move |source| FetchError::Io {
            action,
            path,
            source,
        }
    };
    let Hashed { size, sha256 } = got;
    if let Some(expected) = expect.size.filter(|&e| e != size) {
        let _ = fs::remove_file(part);
        return Err(FetchError::Size {
            url: url.to_string(),
            expected,
            got: size,
        });
    }
    if let Some(expected) = expect.sha256.filter(|e| *e != sha256) {
        let _ = fs::remove_file(part);
        return Err(FetchError::Sha256 {
            url: url.to_string(),
            expected: hex(&expected),
            got: hex(&sha256),
        });
    }
    fs::rename(part, dest).map_err(io(&format!("rename {} to", part.display()), dest))?;
    Ok(Downloaded {
        path: dest.to_path_buf(),
        size,
        sha256,
    })
}

/// The path a `file://` URL names: `file:///srv/a.tar.gz`, `file://localhost/srv/…`,
/// `file:///C:/srv/…` on Windows; `%XX` escapes decoded.
pub fn file_url_path(url: &str) -> Result<PathBuf, String> {
    let rest = url
        .strip_prefix("file://")
        .ok_or_else(|| "not a file:// URL".to_string())?;
    let rest = rest.strip_prefix("localhost").unwrap_or(rest);
    if !rest.starts_with('/') {
        return Err("write file:///PATH (a host other than localhost is not supported)".into());
    }
    let rest = rest.split(['?', '#']).next().unwrap_or_default();
    let mut bytes = Vec::with_capacity(rest.len());
    let mut it = rest.bytes();
    while let Some(b) = it.next() {
        if b != b'%' {
            bytes.push(b);
            continue;
        }
        let hi = it.next().and_then(|c| (c as char).to_digit(16));
        let lo = it.next().and_then(|c| (c as char).to_digit(16));
        match (hi, lo) {
            (Some(h), Some(l)) => bytes.push((h * 16 + l) as u8),
            _ => return Err("a `%` is not followed by two hex digits".into()),
        }
    }
    let text = String::from_utf8(bytes).map_err(|_| "the path is not UTF-8".to_string())?;
    // `/C:/x` is `C:/x` on Windows.
    let b = text.as_bytes();
    let text = if cfg!(windows) && b.len() >= 3 && b[0] == b'/' && b[2] == b':' {
        &text[1..]
    } else {
        &text
    };
    Ok(PathBuf::from(text))
}

/// A `file://` URL: copies the file to `part` (no resuming: it is local), in pieces
/// that let the other tasks of the thread run between them.
async fn copy_local(url: &str, part: &Path, opts: &Options) -> Result<Hashed, FetchError> {
    let from = file_url_path(url).map_err(|why| FetchError::BadUrl {
        url: url.to_string(),
        why,
    })?;
    let read = |source| FetchError::Io {
        action: "read".into(),
        path: from.clone(),
        source,
    };
    let write = |source| FetchError::Io {
        action: "write".into(),
        path: part.to_path_buf(),
        source,
    };
    // Only a regular file: a FIFO would block the open (and the supervisor's thread),
    // a device would never end.
    match std::fs::metadata(&from) {
        Ok(m) if !m.is_file() => {
            return Err(FetchError::BadUrl {
                url: url.to_string(),
                why: "it is not a regular file".into(),
            })
        }
        Err(e) => return Err(read(e)),
        Ok(_) => {}
    }
    let mut input = File::open(&from).map_err(read)?;
    let too_large = |size| FetchError::TooLarge {
        url: url.to_string(),
        max: opts.max_size,
        size,
    };
    let size = input.metadata().map_err(read)?.len();
    if size > opts.max_size {
        return Err(too_large(Some(size)));
    }
    let mut out = File::create(part).map_err(write)?;
    let mut hasher = Sha256::new();
    let mut done = 0u64;
    let mut buf = vec![0u8; READ_SIZE];
    loop {
        let n = input.read(&mut buf).map_err(read)?;
        if n == 0 {
            break;
        }
        done += n as u64;
        if done > opts.max_size {
            drop(out);
            let _ = fs::remove_file(part);
            return Err(too_large(None)); // it grew while being copied
        }
        out.write_all(&buf[..n]).map_err(write)?;
        hasher.update(&buf[..n]);
        tokio::task::yield_now().await;
    }
    out.sync_all().map_err(write)?;
    Ok(Hashed {
        size: done,
        sha256: hasher.finalize().into(),
    })
}

/// A connection, plain or TLS.
trait Conn: AsyncRead + AsyncWrite + Unpin {}
impl<T: AsyncRead + AsyncWrite + Unpin> Conn for T {}

/// What to do with an answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// Read the body into the `.part`: appended (a `206` for the bytes it lacks) or
    /// from zero; `total` is the whole artifact's size when the answer says it.
    Body {
        /// Append to the `.part` (else truncate it).
        append: bool,
        /// The size of the whole artifact, when known.
        total: Option<u64>,
    },
    /// The `.part` already holds everything (`416` with the same total).
    Complete,
    /// Remove the `.part` and ask for everything (a `416`, or a `206` that does not
    /// continue the `.part`).
    Restart,
    /// Follow a redirect to this `Location`.
    Redirect(String),
    /// Fail: a status that is neither.
    Fail,
}

/// What to do with an answer whose status is `code`, to a request that asked for the
/// bytes from `have` on (none when 0).
pub(crate) fn decide(answer: &Answer, have: u64) -> Step {
    let length = answer
        .header("content-length")
        .and_then(|v| v.parse::<u64>().ok());
    let range = answer.header("content-range");
    match answer.code {
        200 => Step::Body {
            append: false,
            total: length,
        },
        206 => match range.and_then(parse_content_range) {
            Some(ContentRange::Bytes { start, end, total }) if start == have && end >= start => {
                Step::Body {
                    append: have > 0,
                    total,
                }
            }
            _ => Step::Restart,
        },
        416 => match range.and_then(parse_content_range) {
            Some(ContentRange::Unsatisfied { total }) if have > 0 && total == have => {
                Step::Complete
            }
            _ => Step::Restart,
        },
        301 | 302 | 303 | 307 | 308 => match answer.header("location") {
            Some(to) if !to.is_empty() => Step::Redirect(to.to_string()),
            _ => Step::Fail,
        },
        _ => Step::Fail,
    }
}

/// A `Content-Range` header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ContentRange {
    /// `bytes START-END/TOTAL` (`TOTAL` may be `*`: unknown).
    Bytes {
        /// The first byte sent.
        start: u64,
        /// The last byte sent (inclusive).
        end: u64,
        /// The whole size, when known.
        total: Option<u64>,
    },
    /// `bytes */TOTAL` (with a `416`).
    Unsatisfied {
        /// The whole size.
        total: u64,
    },
}

/// Parses a `Content-Range` value; `None` when it is not a byte range that adds up.
pub fn parse_content_range(value: &str) -> Option<ContentRange> {
    let rest = value.trim().strip_prefix("bytes")?;
    let rest = rest.strip_prefix([' ', '='])?.trim();
    let (range, total) = rest.split_once('/')?;
    let number = |s: &str| {
        let s = s.trim();
        (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse::<u64>().ok())
            .flatten()
    };
    let total = match total.trim() {
        "*" => None,
        t => Some(number(t)?),
    };
    if range.trim() == "*" {
        return Some(ContentRange::Unsatisfied { total: total? });
    }
    let (start, end) = range.split_once('-')?;
    let (start, end) = (number(start)?, number(end)?);
    if end < start || total.is_some_and(|t| end >= t) {
        return None;
    }
    Some(ContentRange::Bytes { start, end, total })
}

/// Where a redirect from `from` to `location` leads, as an absolute URL; refused when
/// it leaves HTTP or goes from `https://` to `http://`.
pub fn redirect_target(from: &str, location: &str) -> Result<String, String> {
    let (scheme, rest) = from
        .split_once("://")
        .ok_or_else(|| "the URL has no scheme".to_string())?;
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    let location = location.trim();
    let target = if let Some((to_scheme, _)) = location.split_once("://").filter(|(s, _)| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b))
    }) {
        match to_scheme.to_ascii_lowercase().as_str() {
            "http" | "https" => location.to_string(),
            _ => return Err(format!("it leaves HTTP ({to_scheme}://)")),
        }
    } else if let Some(rest) = location.strip_prefix("//") {
        format!("{scheme}://{rest}")
    } else if location.starts_with('/') {
        format!("{scheme}://{authority}{location}")
    } else {
        // Relative to the folder of the current path.
        let path = path.split(['?', '#']).next().unwrap_or_default();
        let dir = match path.rfind('/') {
            Some(i) => &path[..=i],
            None => "/",
        };
        format!("{scheme}://{authority}{dir}{location}")
    };
    if scheme.eq_ignore_ascii_case("https")
        && target
            .get(..7)
            .is_some_and(|s| s.eq_ignore_ascii_case("http://"))
    {
        return Err("it goes from https:// to http://".into());
    }
    Ok(target)
}

/// How long to wait, `elapsed` after starting, before going on once `bytes` came, so
/// the rate stays within `rate` bytes a second.
pub fn pace(bytes: u64, rate: u64, elapsed: Duration) -> Duration {
    if rate == 0 {
        return Duration::ZERO;
    }
    let due = Duration::from_nanos(
        u64::try_from(u128::from(bytes) * 1_000_000_000 / u128::from(rate)).unwrap_or(u64::MAX),
    );
    due.saturating_sub(elapsed)
}

/// The HTTP part of [`download`]: fills `part` (resuming it), following redirects.
async fn fetch(
    url: &str,
    part: &Path,
    expect: &Expect,
    opts: &Options,
) -> Result<Hashed, FetchError> {
    let first = url.to_string();
    let mut url = url.to_string();
    let mut redirects = 0;
    let mut restarted = false;
    loop {
        let mut have = fs::metadata(part).map(|m| m.len()).unwrap_or(0);
        if let Some(size) = expect.size {
            if have == size {
                return hashed(part).await; // complete: `finish` checks it
            }
            if have > size {
                remove(part)?;
                have = 0;
            }
        }
        let (mut conn, answer, rest) = request(&url, have, opts.stall, part).await?;
        match decide(&answer, have) {
            Step::Body { append, total } => {
                if !append && have > 0 {
                    have = 0;
                }
                if let Some(total) = total {
                    if total > opts.max_size {
                        return Err(FetchError::TooLarge {
                            url,
                            max: opts.max_size,
                            size: Some(total),
                        });
                    }
                    if let Some(expected) = expect.size.filter(|&e| e != total) {
                        if append && !restarted {
                            // The `.part` belongs to another artifact: start again.
                            remove(part)?;
                            restarted = true;
                            continue;
                        }
                        let _ = fs::remove_file(part);
                        return Err(FetchError::Size {
                            url,
                            expected,
                            got: total,
                        });
                    }
                }
                let body = Body {
                    url: &url,
                    part,
                    have,
                    total,
                    answer: &answer,
                    opts,
                };
                return body.read(&mut conn, rest).await;
            }
            Step::Complete => return hashed(part).await,
            Step::Restart if !restarted => {
                remove(part)?;
                restarted = true;
            }
            Step::Restart | Step::Fail => {
                return Err(FetchError::Status {
                    url,
                    status: quote(answer.status_line.as_bytes()),
                })
            }
            Step::Redirect(location) => {
                redirects += 1;
                if redirects > MAX_REDIRECTS {
                    return Err(FetchError::TooManyRedirects { url: first });
                }
                url = redirect_target(&url, &location).map_err(|why| FetchError::Redirect {
                    url: url.clone(),
                    to: location.clone(),
                    why,
                })?;
            }
        }
    }
}

/// Removes the `.part` (when it is there).
fn remove(part: &Path) -> Result<(), FetchError> {
    match fs::remove_file(part) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(FetchError::Io {
            action: "remove".into(),
            path: part.to_path_buf(),
            source: e,
        }),
        _ => Ok(()),
    }
}

/// Connects, sends `GET` (for the bytes from `have` on) and reads the answer's head:
/// the connection, the head, and what came after it.
async fn request(
    url: &str,
    have: u64,
    stall: Duration,
    part: &Path,
) -> Result<(Box<dyn Conn>, Answer, Vec<u8>), FetchError> {
    let parsed = HttpUrl::parse_with_tls(url).map_err(|why| FetchError::BadUrl {
        url: url.to_string(),
        why,
    })?;
    if parsed.tls && !cfg!(feature = "https") {
        return Err(FetchError::NoHttps {
            url: url.to_string(),
        });
    }
    let connecting = async {
        let tcp = hook::connect(&parsed.host, parsed.port)
            .await
            .map_err(|why| FetchError::Connect {
                url: url.to_string(),
                why,
            })?;
        if parsed.tls {
            let tls = crate::supervise::tls::connect(&parsed.host, tcp)
                .await
                .map_err(|why| FetchError::Tls {
                    url: url.to_string(),
                    why,
                })?;
            Ok::<Box<dyn Conn>, FetchError>(Box::new(tls))
        } else {
            Ok(Box::new(tcp) as Box<dyn Conn>)
        }
    };
    let mut conn = tokio::time::timeout(stall, connecting)
        .await
        .map_err(|_| FetchError::ConnectTimeout {
            url: url.to_string(),
            within: stall,
        })??;
    let protocol = |why: String| FetchError::Protocol {
        url: url.to_string(),
        why,
    };
    conn.write_all(request_text(&parsed, have).as_bytes())
        .await
        .map_err(|e| {
            protocol(format!(
                "sending the request failed: {}",
                crate::text::io_error(&e)
            ))
        })?;
    let (head, rest) = tokio::time::timeout(stall, read_head(&mut conn))
        .await
        .map_err(|_| FetchError::Stalled {
            url: url.to_string(),
            received: have,
            stall,
            part: part.to_path_buf(),
        })?
        .map_err(protocol)?;
    let answer = Answer::parse(&head).map_err(protocol)?;
    Ok((conn, answer, rest))
}

/// The request: `GET`, asking for the bytes from `have` on when there are some.
pub fn request_text(url: &HttpUrl, have: u64) -> String {
    let range = if have > 0 {
        format!("Range: bytes={have}-\r\n")
    } else {
        String::new()
    };
    format!(
        "GET {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: tend\r\nAccept: */*\r\n\
         Accept-Encoding: identity\r\n{range}Connection: close\r\n\r\n",
        url.path,
        crate::supervise::hook::authority(url)
    )
}

/// One answer's body, going into the `.part`.
struct Body<'a> {
    url: &'a str,
    part: &'a Path,
    /// Bytes already in the `.part` that this body continues (0: it starts over).
    have: u64,
    /// The whole artifact's size, when known.
    total: Option<u64>,
    answer: &'a Answer,
    opts: &'a Options,
}

impl Body<'_> {
    /// Reads the body (`rest` being what came with the head) into the `.part`.
    async fn read(&self, conn: &mut Box<dyn Conn>, rest: Vec<u8>) -> Result<Hashed, FetchError> {
        let io = |action: &str| {
            let (action, path) = (action.to_string(), self.part.to_path_buf());
            move |source| FetchError::Io {
                action,
                path,
                source,
            }
        };
        // The bytes already there are hashed first, then each one as it comes.
        let hasher = if self.have > 0 {
            hash_part(self.part).await?.0
        } else {
            Sha256::new()
        };
        let mut file = if self.have > 0 {
            OpenOptions::new().append(true).open(self.part)
        } else {
            File::create(self.part)
        }
        .map_err(io("write"))?;
        // What this answer's body holds (not the chunked encoding's bytes).
        let body_len = if self.answer.chunked {
            None
        } else {
            self.answer
                .header("content-length")
                .and_then(|v| v.parse::<u64>().ok())
        };
        let mut chunks = self.answer.chunked.then(Dechunker::default);
        let mut sink = Sink {
            file: &mut file,
            done: self.have,
            this: 0,
            started: Instant::now(),
            meter: Meter::new(self.opts.progress, self.have, self.total),
            hasher,
            body: self,
        };
        let mut decoded = Vec::new();
        let mut feed = |sink: &mut Sink, raw: &[u8]| -> Result<bool, FetchError> {
            match &mut chunks {
                Some(d) => {
                    decoded.clear();
                    d.feed(raw, &mut decoded)
                        .map_err(|why| FetchError::Chunked {
                            url: self.url.to_string(),
                            why,
                        })?;
                    sink.write(&decoded)?;
                    Ok(d.done())
                }
                None => {
                    let left = body_len.map_or(u64::MAX, |n| n - sink.this);
                    let take = raw.len().min(usize::try_from(left).unwrap_or(usize::MAX));
                    sink.write(&raw[..take])?;
                    Ok(body_len.is_some_and(|n| sink.this >= n))
                }
            }
        };
        let mut ended = body_len == Some(0) || feed(&mut sink, &rest)?;
        let cap = match self.opts.max_bytes_per_sec {
            // Small reads keep a bounded rate smooth.
            Some(rate) => usize::try_from(rate / 8)
                .unwrap_or(READ_SIZE)
                .clamp(512, READ_SIZE),
            None => READ_SIZE,
        };
        let mut buf = vec![0u8; cap];
        while !ended {
            let n = match tokio::time::timeout(self.opts.stall, conn.read(&mut buf)).await {
                Err(_) => {
                    sink.close()?;
                    return Err(FetchError::Stalled {
                        url: self.url.to_string(),
                        received: sink.done,
                        stall: self.opts.stall,
                        part: self.part.to_path_buf(),
                    });
                }
                Ok(Err(source)) => {
                    sink.close()?;
                    return Err(FetchError::Read {
                        url: self.url.to_string(),
                        received: sink.done,
                        source,
                        part: self.part.to_path_buf(),
                    });
                }
                Ok(Ok(n)) => n,
            };
            if n == 0 {
                if chunks.is_some() || body_len.is_some() {
                    sink.close()?;
                    return Err(FetchError::Truncated {
                        url: self.url.to_string(),
                        received: sink.done,
                        expected: self.total,
                        part: self.part.to_path_buf(),
                    });
                }
                break; // no length: the body ends when the connection does
            }
            ended = feed(&mut sink, &buf[..n])?;
            if let Some(rate) = self.opts.max_bytes_per_sec {
                let wait = pace(sink.this, rate, sink.started.elapsed());
                if !wait.is_zero() {
                    tokio::time::sleep(wait).await;
                }
            }
        }
        sink.meter.end(sink.done);
        sink.close()?;
        Ok(Hashed {
            size: sink.done,
            sha256: sink.hasher.finalize().into(),
        })
    }
}

/// Where a body's bytes go: the `.part`, the size cap, the progress.
struct Sink<'a, 'b> {
    file: &'a mut File,
    /// Bytes in the `.part`.
    done: u64,
    /// Bytes of this body.
    this: u64,
    started: Instant,
    meter: Meter,
    hasher: Sha256,
    body: &'a Body<'b>,
}

impl Sink<'_, '_> {
    fn write(&mut self, bytes: &[u8]) -> Result<(), FetchError> {
        let after = self.done + bytes.len() as u64;
        if after > self.body.opts.max_size {
            let _ = fs::remove_file(self.body.part);
            return Err(FetchError::TooLarge {
                url: self.body.url.to_string(),
                max: self.body.opts.max_size,
                size: None,
            });
        }
        self.file
            .write_all(bytes)
            .map_err(|source| FetchError::Io {
                action: "write".into(),
                path: self.body.part.to_path_buf(),
                source,
            })?;
        self.hasher.update(bytes);
        self.done = after;
        self.this += bytes.len() as u64;
        self.meter.update(self.done);
        Ok(())
    }

    /// Flushes the `.part` to disk (also before an error: the next attempt resumes it).
    fn close(&mut self) -> Result<(), FetchError> {
        self.file.sync_all().map_err(|source| FetchError::Io {
            action: "write".into(),
            path: self.body.part.to_path_buf(),
            source,
        })
    }
}

/// Decodes a chunked body as it comes, in pieces of any size.
#[derive(Debug, Default)]
pub struct Dechunker {
    state: ChunkState,
}

#[derive(Debug)]
enum ChunkState {
    /// Reading a size line (what came of it so far).
    Size(Vec<u8>),
    /// Inside a chunk: bytes left.
    Data(u64),
    /// After a chunk's data: its line end (`\r` seen or not).
    DataEnd,
    /// The last chunk came (trailers, if any, are not read).
    Done,
}

impl Default for ChunkState {
    fn default() -> Self {
        ChunkState::Size(Vec::new())
    }
}

impl Dechunker {
    /// The longest size line accepted.
    const MAX_LINE: usize = 1024;

    /// Decodes `input`, appending the data to `out`; an error when it is not chunked
    /// encoding. Input after the last chunk is ignored.
    pub fn feed(&mut self, mut input: &[u8], out: &mut Vec<u8>) -> Result<(), String> {
        while !input.is_empty() {
            match &mut self.state {
                ChunkState::Size(line) => {
                    let Some(eol) = input.iter().position(|&b| b == b'\n') else {
                        line.extend_from_slice(input);
                        if line.len() > Self::MAX_LINE {
                            return Err("a chunk size line is too long".into());
                        }
                        return Ok(());
                    };
                    line.extend_from_slice(&input[..eol]);
                    input = &input[eol + 1..];
                    let text = String::from_utf8_lossy(line);
                    let text = text.trim_end_matches('\r');
                    let size = text.split(';').next().unwrap_or_default().trim();
                    let size = u64::from_str_radix(size, 16)
                        .map_err(|_| format!("{} is not a chunk size", quote(text.as_bytes())))?;
                    self.state = if size == 0 {
                        ChunkState::Done
                    } else {
                        ChunkState::Data(size)
                    };
                }
                ChunkState::Data(left) => {
                    let take = input
                        .len()
                        .min(usize::try_from(*left).unwrap_or(usize::MAX));
                    out.extend_from_slice(&input[..take]);
                    input = &input[take..];
                    *left -= take as u64;
                    if *left == 0 {
                        self.state = ChunkState::DataEnd;
                    }
                }
                ChunkState::DataEnd => {
                    match input[0] {
                        b'\r' => {}
                        b'\n' => self.state = ChunkState::Size(Vec::new()),
                        _ => return Err("a chunk is longer than its size says".into()),
                    }
                    input = &input[1..];
                }
                ChunkState::Done => return Ok(()),
            }
        }
        Ok(())
    }

    /// Whether the last chunk came.
    pub fn done(&self) -> bool {
        matches!(self.state, ChunkState::Done)
    }
}

/// Shows progress on stderr.
struct Meter {
    mode: Progress,
    total: Option<u64>,
    /// Bytes at the start (a resumed `.part`), not counted in the rate.
    base: u64,
    started: Instant,
    shown: Instant,
    drew: bool,
}

impl Meter {
    fn new(mode: Progress, base: u64, total: Option<u64>) -> Meter {
        let mode = match mode {
            Progress::Bar if !io::stderr().is_terminal() => Progress::None,
            m => m,
        };
        let now = Instant::now();
        Meter {
            mode,
            total,
            base,
            started: now,
            shown: now,
            drew: false,
        }
    }

    fn rate(&self, done: u64) -> u64 {
        let secs = self.started.elapsed().as_secs_f64();
        if secs < 0.001 {
            0
        } else {
            ((done - self.base) as f64 / secs) as u64
        }
    }

    fn update(&mut self, done: u64) {
        let every = match self.mode {
            Progress::None => return,
            Progress::Bar => Duration::from_millis(200),
            Progress::Lines => Duration::from_secs(5),
        };
        if self.shown.elapsed() < every {
            return;
        }
        self.shown = Instant::now();
        self.show(done);
    }

    fn show(&mut self, done: u64) {
        let line = progress_line(done, self.total, self.rate(done));
        let mut err = io::stderr().lock();
        let _ = match self.mode {
            Progress::Bar => write!(err, "\r{line}\x1b[K"),
            Progress::Lines => writeln!(err, "downloading: {line}"),
            Progress::None => Ok(()),
        };
        self.drew = true;
    }

    fn end(&mut self, done: u64) {
        if self.mode == Progress::None {
            return;
        }
        self.show(done);
        if self.mode == Progress::Bar {
            let _ = writeln!(io::stderr().lock());
        }
    }
}

/// One line of progress: `[#####-----]  42%  4.2 MiB / 10.0 MiB  1.3 MiB/s`, or
/// without the bar and percentage when the size is not known.
pub fn progress_line(done: u64, total: Option<u64>, rate: u64) -> String {
    const WIDTH: u64 = 20;
    let rate = format!("{}/s", show_bytes(rate));
    match total.filter(|&t| t > 0) {
        Some(total) => {
            let done = done.min(total);
            let filled = (u128::from(done) * u128::from(WIDTH) / u128::from(total)) as u64;
            let pct = u128::from(done) * 100 / u128::from(total);
            format!(
                "[{}{}] {pct:>3}%  {} / {}  {rate}",
                "#".repeat(filled as usize),
                "-".repeat((WIDTH - filled) as usize),
                show_bytes(done),
                show_bytes(total)
            )
        }
        None => format!("{}  {rate}", show_bytes(done)),
    }
}

/// A byte count for people: `512 B`, `1.5 KiB`, `10.0 MiB`.
pub fn show_bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut value = n as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(head: &str) -> Answer {
        Answer::parse(head.replace('\n', "\r\n").as_bytes()).unwrap()
    }

    #[test]
    fn content_ranges_are_read_and_checked() {
        use ContentRange::*;
        for (text, want) in [
            (
                "bytes 100-199/200",
                Some(Bytes {
                    start: 100,
                    end: 199,
                    total: Some(200),
                }),
            ),
            (
                "bytes 0-0/*",
                Some(Bytes {
                    start: 0,
                    end: 0,
                    total: None,
                }),
            ),
            (
                "bytes=5-9/10",
                Some(Bytes {
                    start: 5,
                    end: 9,
                    total: Some(10),
                }),
            ),
            ("bytes */1234", Some(Unsatisfied { total: 1234 })),
            ("bytes */*", None),
            ("bytes 10-5/20", None),
            ("bytes 0-20/20", None),
            ("bytes 0-9", None),
            ("items 0-9/10", None),
            ("bytes -5-9/10", None),
            ("bytes 0-18446744073709551616/*", None),
            ("", None),
        ] {
            assert_eq!(parse_content_range(text), want, "{text:?}");
        }
    }

    #[test]
    fn answers_decide_append_restart_or_redirect() {
        let body = |append, total| Step::Body { append, total };
        for (head, have, want) in [
            (
                "HTTP/1.1 200 OK\nContent-Length: 10",
                0,
                body(false, Some(10)),
            ),
            // The server ignores the range: start over.
            (
                "HTTP/1.1 200 OK\nContent-Length: 10",
                4,
                body(false, Some(10)),
            ),
            ("HTTP/1.1 200 OK", 0, body(false, None)),
            (
                "HTTP/1.1 206 Partial Content\nContent-Range: bytes 4-9/10",
                4,
                body(true, Some(10)),
            ),
            (
                "HTTP/1.1 206 Partial Content\nContent-Range: bytes 4-9/*",
                4,
                body(true, None),
            ),
            // Not the bytes asked for.
            (
                "HTTP/1.1 206 Partial Content\nContent-Range: bytes 0-9/10",
                4,
                Step::Restart,
            ),
            ("HTTP/1.1 206 Partial Content", 4, Step::Restart),
            (
                "HTTP/1.1 416 Range Not Satisfiable\nContent-Range: bytes */10",
                10,
                Step::Complete,
            ),
            (
                "HTTP/1.1 416 Range Not Satisfiable\nContent-Range: bytes */8",
                10,
                Step::Restart,
            ),
            ("HTTP/1.1 416 Range Not Satisfiable", 10, Step::Restart),
            (
                "HTTP/1.1 302 Found\nLocation: /b",
                0,
                Step::Redirect("/b".into()),
            ),
            (
                "HTTP/1.1 308 Permanent Redirect\nlocation: http://x/b",
                0,
                Step::Redirect("http://x/b".into()),
            ),
            ("HTTP/1.1 301 Moved", 0, Step::Fail),
            ("HTTP/1.1 304 Not Modified\nLocation: /b", 0, Step::Fail),
            ("HTTP/1.1 404 Not Found", 0, Step::Fail),
            ("HTTP/1.1 500 Oops", 3, Step::Fail),
        ] {
            assert_eq!(decide(&answer(head), have), want, "{head:?} with {have}");
        }
    }

    #[test]
    fn redirects_resolve_and_never_downgrade() {
        for (from, to, want) in [
            ("http://a/x/y.tgz", "http://b/z", Ok("http://b/z")),
            ("http://a/x/y.tgz", "https://b/z", Ok("https://b/z")),
            ("http://a:81/x/y.tgz", "/z?q=1", Ok("http://a:81/z?q=1")),
            ("https://a/x/y.tgz", "//b/z", Ok("https://b/z")),
            ("http://a/x/y.tgz?q", "z.tgz", Ok("http://a/x/z.tgz")),
            ("http://a", "z", Ok("http://a/z")),
            ("https://a/x", "HTTPS://b/z", Ok("HTTPS://b/z")),
            ("https://a/x", "http://b/z", Err("from https:// to http://")),
            ("https://a/x", "HTTP://b/z", Err("from https:// to http://")),
            ("http://a/x", "file:///etc/passwd", Err("leaves HTTP")),
            ("http://a/x", "ftp://b/z", Err("leaves HTTP")),
        ] {
            match (redirect_target(from, to), want) {
                (Ok(got), Ok(want)) => assert_eq!(got, want, "{from} -> {to}"),
                (Err(got), Err(want)) => assert!(got.contains(want), "{from} -> {to}: {got}"),
                (got, want) => panic!("{from} -> {to}: {got:?}, wanted {want:?}"),
            }
        }
    }

    #[test]
    fn chunked_bodies_decode_whatever_the_pieces() {
        let raw = b"4\r\nWiki\r\n5;x=y\r\npedia\r\nA\r\n in chunks\r\n0\r\n\r\nignored";
        for size in 1..raw.len() {
            let mut d = Dechunker::default();
            let mut out = Vec::new();
            for piece in raw.chunks(size) {
                d.feed(piece, &mut out).unwrap();
            }
            assert!(d.done(), "pieces of {size}");
            assert_eq!(out, b"Wikipedia in chunks", "pieces of {size}");
        }
        let mut d = Dechunker::default();
        let mut out = Vec::new();
        d.feed(b"4\r\nWi", &mut out).unwrap();
        assert_eq!((out.as_slice(), d.done()), (&b"Wi"[..], false));
        for bad in [&b"zz\r\n"[..], b"2\r\nabc\r\n", &[b'1'; 2000]] {
            assert!(
                Dechunker::default().feed(bad, &mut Vec::new()).is_err(),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn the_pace_holds_the_rate() {
        let s = Duration::from_secs;
        for (bytes, rate, elapsed, want) in [
            (1000, 1000, s(0), s(1)),
            (1000, 1000, s(1), s(0)),
            (1000, 1000, s(2), s(0)),
            (
                500,
                1000,
                Duration::from_millis(200),
                Duration::from_millis(300),
            ),
            (10, 0, s(0), s(0)),
            (u64::MAX, 1, s(0), Duration::from_nanos(u64::MAX)),
        ] {
            assert_eq!(pace(bytes, rate, elapsed), want, "{bytes} at {rate}");
        }
    }

    #[test]
    fn requests_ask_for_the_rest_when_there_is_some() {
        let url = HttpUrl::parse("http://127.0.0.1:8080/a/b.tgz?x=1").unwrap();
        let r = request_text(&url, 0);
        assert!(r.starts_with("GET /a/b.tgz?x=1 HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n"));
        assert!(!r.contains("Range"));
        assert!(r.ends_with("Connection: close\r\n\r\n"));
        let r = request_text(&url, 1234);
        assert!(r.contains("\r\nRange: bytes=1234-\r\n"), "{r}");
    }

    #[test]
    fn file_urls_name_local_paths() {
        for (url, want) in [
            ("file:///srv/a.tar.gz", Ok("/srv/a.tar.gz")),
            ("file://localhost/srv/a%20b.zip", Ok("/srv/a b.zip")),
            ("file:///srv/x?y#z", Ok("/srv/x")),
            ("file://host/srv/x", Err("localhost")),
            ("file:///srv/%zz", Err("hex")),
            ("http://a/b", Err("not a file")),
        ] {
            match (file_url_path(url), want) {
                (Ok(got), Ok(want)) => assert_eq!(got, PathBuf::from(want), "{url}"),
                (Err(got), Err(want)) => assert!(got.contains(want), "{url}: {got}"),
                (got, want) => panic!("{url}: {got:?}, wanted {want:?}"),
            }
        }
    }

    #[test]
    fn hashes_read_back_and_parts_sit_beside_their_file() {
        let h: [u8; 32] = std::array::from_fn(|i| (i * 7) as u8);
        assert_eq!(parse_sha256(&hex(&h)), Some(h));
        assert_eq!(parse_sha256(&hex(&h).to_uppercase()), Some(h));
        assert_eq!(parse_sha256(&hex(&h)[1..]), None);
        assert_eq!(parse_sha256(&"g".repeat(64)), None);
        assert_eq!(parse_sha256(&"é".repeat(32)), None);
        assert_eq!(
            part_path(Path::new("/x/app.tar.gz")),
            PathBuf::from("/x/app.tar.gz.part")
        );
    }

    #[test]
    fn progress_lines_show_bytes_total_and_rate() {
        for (done, total, rate, want) in [
            (
                0,
                Some(2048),
                0,
                "[--------------------]   0%  0 B / 2.0 KiB  0 B/s",
            ),
            (
                1024,
                Some(2048),
                1536,
                "[##########----------]  50%  1.0 KiB / 2.0 KiB  1.5 KiB/s",
            ),
            (
                5 << 20,
                Some(5 << 20),
                3 << 20,
                "[####################] 100%  5.0 MiB / 5.0 MiB  3.0 MiB/s",
            ),
            (100, None, 10, "100 B  10 B/s"),
        ] {
            assert_eq!(progress_line(done, total, rate), want);
        }
    }
}
