//! The control channel: how `tend start|stop|restart|reopen-logs|reload NAME` reach the
//! services of a running `tend run` / `tend up`.
//!
//! Each supervisor opens one channel per service it runs ([`sys::ControlListener`]:
//! a Unix socket `STATE_DIR/NAME.sock` that only its owner (and root) may use; on
//! Windows a named pipe whose ACL grants only SYSTEM, Administrators and the owner).
//! The protocol is one request per connection, JSON lines:
//!
//! ```text
//! → {"verb":"stop","service":"api"}
//! ← {"accepted":true,"wait_ms":15000}          (the client waits up to this long)
//! ← {"ok":true,"state":"stopped","message":"stopped gracefully in 12ms (signal SIGTERM)"}
//! ```
//!
//! The last line always has `ok`; lines before it are progress. `start` and `restart`
//! answer once the service runs (or could not start, with why), `stop` once it is
//! stopped. The supervisor side is [`serve`] (it hands each request to the
//! supervisor's loop as a [`Command`]); the client side is [`request`].

use std::io;
use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::sync::mpsc;

use super::sys;

/// What a client asks of one service.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verb {
    /// Start it again (after a stop, or after it ended).
    Start,
    /// Stop it; the supervisor and the other services keep running.
    Stop,
    /// Stop its child gracefully and start it again.
    Restart,
    /// Reopen its log files (after an external rotation).
    ReopenLogs,
    /// Tell its child to re-read its configuration (`[reload]`).
    Reload,
    /// Switch to a new release (see [`Upgrade`]) and keep it if it becomes ready.
    Upgrade,
    /// Go back to the release before the current one.
    Rollback,
    /// Check the release channel now and say what it names.
    UpdateCheck,
    /// Check the release channel now and upgrade to what it names.
    UpdateApply,
    /// Freeze the child's whole process tree (health probes wait too).
    Pause,
    /// Let a paused child's tree run again.
    Continue,
}

impl Verb {
    /// The word on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Verb::Start => "start",
            Verb::Stop => "stop",
            Verb::Restart => "restart",
            Verb::ReopenLogs => "reopen-logs",
            Verb::Reload => "reload",
            Verb::Upgrade => "upgrade",
            Verb::Rollback => "rollback",
            Verb::UpdateCheck => "update-check",
            Verb::UpdateApply => "update-apply",
            Verb::Pause => "pause",
            Verb::Continue => "continue",
        }
    }
}

/// A request: the first and only line a client sends.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Request {
    /// What to do.
    pub verb: Verb,
    /// To which service (the channel's own; checked).
    pub service: String,
    /// What to upgrade to (`upgrade` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upgrade: Option<Upgrade>,
}

/// An `upgrade` request: an artifact that the client has put where the supervisor can
/// read it, and its signature.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Upgrade {
    /// The artifact (a program, a `.tar.gz`, a `.zip`), an absolute path.
    pub artifact: std::path::PathBuf,
    /// The text of its minisign signature.
    pub signature: String,
    /// Where it came from, for people and the release's record (a path or URL).
    pub source: String,
    /// The release id asked for (`--version`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Check only: verify, and say what would happen.
    #[serde(default)]
    pub dry_run: bool,
    /// The signature must name `version` (a channel's release).
    #[serde(default)]
    pub signed_as_named: bool,
}

/// A line of the answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Answer {
    /// The last line: how it went.
    Done(Done),
    /// The request is being carried out; the final answer comes within `wait_ms`.
    Accepted {
        /// Always true.
        accepted: bool,
        /// How long the client should wait for the final line (the service's stop
        /// timeout and a margin).
        wait_ms: u64,
    },
    /// A step of a long request (an upgrade), for people.
    Progress {
        /// What was done.
        progress: String,
    },
}

/// The final answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Done {
    /// Whether the request was carried out.
    pub ok: bool,
    /// The service's state afterwards (`running`, `stopped`, ...), when known.
    pub state: Option<String>,
    /// What happened, for people.
    pub message: String,
    /// An upgrade refused for what the artifact is (its signature, its name): the
    /// same artifact would be refused again.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub refused: bool,
}

impl Done {
    /// A final answer.
    pub fn new(ok: bool, state: Option<&str>, message: impl Into<String>) -> Done {
        Done {
            ok,
            state: state.map(str::to_string),
            message: message.into(),
            refused: false,
        }
    }
}

/// A request as the supervisor's loop receives it: the service (its index in the
/// supervisor's specs), the verb, and where the answer lines go.
#[derive(Debug)]
pub struct Command {
    /// The service's index.
    pub index: usize,
    /// What to do.
    pub verb: Verb,
    /// What to upgrade to (`upgrade` only).
    pub upgrade: Option<Upgrade>,
    /// The answer lines, the last one a [`Answer::Done`].
    pub reply: mpsc::UnboundedSender<Answer>,
}

/// The longest request line read (a request is a few dozen bytes; an upgrade's
/// carries a signature and paths).
const MAX_REQUEST: u64 = 16 * 1024;

/// How long a client may take to send its request.
const REQUEST_WITHIN: Duration = Duration::from_secs(5);

/// The longest answer line the client reads.
const MAX_ANSWER: u64 = 64 * 1024;

/// The longest the client waits after the request was accepted, whatever the
/// supervisor says.
const MAX_WAIT: Duration = Duration::from_secs(3600);

/// How long the client waits for the first answer line.
pub const ACCEPT_WITHIN: Duration = Duration::from_secs(10);

/// Accepts connections on service `index`'s channel (`name`) for as long as the
/// supervisor runs, handing each request to `commands`. Each connection gets a task
/// of its own (must be called inside a `LocalSet`).
pub async fn serve(
    mut listener: sys::ControlListener,
    index: usize,
    name: String,
    commands: mpsc::UnboundedSender<Command>,
) {
    loop {
        let stream = match listener.accept().await {
            Ok(s) => s,
            Err(e) => {
                super::say!(
                    "tend: {name}: control channel: cannot accept a connection: {}",
                    crate::text::io_error(&e)
                );
                // Not a busy loop if the error persists.
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let (stream, allowed) = stream;
        let (commands, name) = (commands.clone(), name.clone());
        tokio::task::spawn_local(async move {
            let _ = answer(stream, allowed, index, &name, &commands).await;
        });
    }
}

/// Reads one request from `stream`, passes it on (if the peer is `allowed`) and
/// writes the answer lines.
async fn answer<S: AsyncRead + AsyncWrite + Unpin>(
    stream: S,
    allowed: Result<(), String>,
    index: usize,
    name: &str,
    commands: &mpsc::UnboundedSender<Command>,
) -> io::Result<()> {
    let (read, mut write) = tokio::io::split(stream);
    let mut bytes = Vec::new();
    let mut reader = BufReader::new(read.take(MAX_REQUEST));
    let got = tokio::time::timeout(REQUEST_WITHIN, reader.read_until(b'\n', &mut bytes)).await;
    let done = match got {
        Err(_) => Done::new(false, None, "no request within 5s"),
        Ok(Err(e)) => return Err(e),
        Ok(Ok(_)) => match allowed.and_then(|()| {
            let line = std::str::from_utf8(&bytes).map_err(|_| {
                format!(
                    "not a control request (not UTF-8): {:?}",
                    String::from_utf8_lossy(&bytes).trim()
                )
            })?;
            parse_request(line, name)
        }) {
            Err(why) => Done::new(false, None, why),
            Ok(req) => {
                let (tx, mut rx) = mpsc::unbounded_channel();
                let sent = commands.send(Command {
                    index,
                    verb: req.verb,
                    upgrade: req.upgrade,
                    reply: tx,
                });
                if sent.is_err() {
                    Done::new(
                        false,
                        Some("stopping"),
                        "the supervisor is stopping every service",
                    )
                } else {
                    loop {
                        match rx.recv().await {
                            Some(Answer::Done(d)) => break d,
                            Some(a) => write_line(&mut write, &a).await?,
                            None => {
                                break Done::new(
                                    false,
                                    None,
                                    "the supervisor ended before answering",
                                )
                            }
                        }
                    }
                }
            }
        },
    };
    write_line(&mut write, &Answer::Done(done)).await?;
    write.shutdown().await
}

/// The request line for service `name`, or why it is not one.
pub fn parse_request(line: &str, name: &str) -> Result<Request, String> {
    let req: Request = serde_json::from_str(line.trim())
        .map_err(|e| format!("not a control request ({e}): {:?}", line.trim()))?;
    if req.service != name {
        return Err(format!(
            "this channel controls `{name}`, not `{}`",
            req.service
        ));
    }
    if (req.verb == Verb::Upgrade) != req.upgrade.is_some() {
        return Err("an `upgrade` request, and only it, names what to upgrade to".into());
    }
    Ok(req)
}

async fn write_line<W: AsyncWrite + Unpin>(w: &mut W, a: &Answer) -> io::Result<()> {
    let mut bytes = serde_json::to_vec(a).map_err(io::Error::other)?;
    bytes.push(b'\n');
    w.write_all(&bytes).await?;
    w.flush().await
}

/// Why a request through the control channel did not get an answer.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// No supervisor has a channel for the service here.
    #[error(
        "no running `tend run` or `tend up` supervises `{name}` (no control channel {address})"
    )]
    NotRunning {
        /// The service.
        name: String,
        /// Where the channel would be.
        address: String,
    },
    /// The channel is there but its supervisor is gone (killed).
    #[error("the supervisor of `{name}` is gone: {address} is left over from it ({why})")]
    Stale {
        /// The service.
        name: String,
        /// The channel.
        address: String,
        /// The connection error.
        why: String,
    },
    /// Connecting failed for another reason.
    #[error("cannot connect to {address}: {why}")]
    Connect {
        /// The channel.
        address: String,
        /// Why.
        why: String,
        /// For want of permission (another user's supervisor).
        denied: bool,
    },
    /// The supervisor did not answer in time.
    #[error("the supervisor of `{name}` did not answer within {}s", waited.as_secs())]
    Timeout {
        /// The service.
        name: String,
        /// How long the client waited.
        waited: Duration,
    },
    /// The supervisor accepted the request but did not finish it in time.
    #[error("the supervisor of `{name}` accepted the request but did not finish it within {}s", waited.as_secs())]
    Unfinished {
        /// The service.
        name: String,
        /// How long the client waited after the request was accepted.
        waited: Duration,
    },
    /// The conversation broke off or made no sense.
    #[error("the control channel of `{name}`: {why}")]
    Protocol {
        /// The service.
        name: String,
        /// What went wrong.
        why: String,
    },
}

/// Sends `verb` to service `name` through its channel in `state_dir` and waits for the
/// final answer (blocking: the command line has no runtime of its own).
pub fn request(state_dir: &Path, name: &str, verb: Verb) -> Result<Done, ClientError> {
    let req = Request {
        verb,
        service: name.into(),
        upgrade: None,
    };
    request_with(state_dir, req, &mut |_| {})
}

/// Sends `req` and waits for the final answer, handing each progress line to
/// `progress` (blocking).
pub fn request_with(
    state_dir: &Path,
    req: Request,
    progress: &mut dyn FnMut(&str),
) -> Result<Done, ClientError> {
    let name = req.service.clone();
    let name = name.as_str();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| ClientError::Protocol {
            name: name.into(),
            why: crate::text::io_error(&e),
        })?;
    rt.block_on(request_async(state_dir, req, progress))
}

async fn request_async(
    state_dir: &Path,
    req: Request,
    progress: &mut dyn FnMut(&str),
) -> Result<Done, ClientError> {
    let name = req.service.as_str();
    let address = sys::control_address(state_dir, name);
    let stream = sys::control_connect(state_dir, name)
        .await
        .map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => ClientError::NotRunning {
                name: name.into(),
                address: address.clone(),
            },
            io::ErrorKind::ConnectionRefused => ClientError::Stale {
                name: name.into(),
                address: address.clone(),
                why: crate::text::io_error(&e),
            },
            kind => ClientError::Connect {
                address: address.clone(),
                why: crate::text::io_error(&e),
                denied: kind == io::ErrorKind::PermissionDenied,
            },
        })?;
    let protocol = |why: String| ClientError::Protocol {
        name: name.into(),
        why,
    };
    let (read, mut write) = tokio::io::split(stream);
    let mut bytes = serde_json::to_vec(&req).map_err(|e| protocol(e.to_string()))?;
    bytes.push(b'\n');
    write.write_all(&bytes).await.map_err(|e| {
        protocol(format!(
            "cannot send the request: {}",
            crate::text::io_error(&e)
        ))
    })?;
    let mut reader = BufReader::new(read);
    let mut within = ACCEPT_WITHIN;
    let mut accepted = false;
    loop {
        let mut line = Vec::new();
        let mut limited = (&mut reader).take(MAX_ANSWER);
        let read = limited.read_until(b'\n', &mut line);
        let got = tokio::time::timeout(within, read).await.map_err(|_| {
            if accepted {
                ClientError::Unfinished {
                    name: name.into(),
                    waited: within,
                }
            } else {
                ClientError::Timeout {
                    name: name.into(),
                    waited: within,
                }
            }
        })?;
        got.map_err(|e| protocol(crate::text::io_error(&e)))?;
        if line.is_empty() {
            return Err(protocol(
                "the supervisor closed the channel without answering".into(),
            ));
        }
        if !line.ends_with(b"\n") && line.len() as u64 == MAX_ANSWER {
            return Err(protocol(format!(
                "an answer line longer than {MAX_ANSWER} bytes"
            )));
        }
        let line = String::from_utf8_lossy(&line);
        match serde_json::from_str::<Answer>(&line) {
            Ok(Answer::Done(d)) => return Ok(d),
            Ok(Answer::Accepted { wait_ms, .. }) => {
                accepted = true;
                within = Duration::from_millis(wait_ms).min(MAX_WAIT);
            }
            Ok(Answer::Progress { progress: p }) => progress(&p),
            Err(e) => return Err(protocol(format!("unexpected answer ({e}): {line:?}"))),
        }
    }
}

/// The named pipe (Windows) of service `name` for the state folder `dir` (absolute):
/// the folder's hash in the name, so two state folders never share a pipe; Windows
/// paths are compared without case, and so are they here.
pub fn pipe_name(dir: &str, name: &str) -> String {
    let key = dir.to_lowercase();
    format!(r"\\.\pipe\tend-{:016x}-{name}", fnv1a(key.as_bytes()))
}

/// FNV-1a, 64 bits: a hash that is the same in every process (std's is seeded).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// How long a client should wait for a stop or restart of a service whose stop
/// timeout is `stop_timeout`: the timeout, the kill after it, and a margin.
pub fn wait_for(stop_timeout: Duration) -> Duration {
    stop_timeout.saturating_add(Duration::from_secs(10))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The JSON lines of the protocol, both ways, as the README shows them.
    #[test]
    fn the_protocol_lines() {
        let req = Request {
            verb: Verb::ReopenLogs,
            service: "api".into(),
            upgrade: None,
        };
        assert_eq!(
            serde_json::to_string(&req).unwrap(),
            r#"{"verb":"reopen-logs","service":"api"}"#
        );
        let accepted = Answer::Accepted {
            accepted: true,
            wait_ms: 15_000,
        };
        assert_eq!(
            serde_json::to_string(&accepted).unwrap(),
            r#"{"accepted":true,"wait_ms":15000}"#
        );
        let done = Answer::Done(Done::new(true, Some("stopped"), "stopped"));
        let text = serde_json::to_string(&done).unwrap();
        assert_eq!(text, r#"{"ok":true,"state":"stopped","message":"stopped"}"#);
        // Each parses back as what it was (untagged: the final line is told by `ok`).
        assert_eq!(serde_json::from_str::<Answer>(&text).unwrap(), done);
        assert_eq!(
            serde_json::from_str::<Answer>(r#"{"accepted":true,"wait_ms":15000}"#).unwrap(),
            accepted
        );
    }

    #[test]
    fn pipe_names() {
        // The FNV-1a test vectors.
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
        let a = pipe_name(r"C:\Users\me\AppData\Local\tend", "api");
        assert!(
            a.starts_with(r"\\.\pipe\tend-") && a.ends_with("-api"),
            "{a}"
        );
        assert_eq!(
            a,
            pipe_name(r"c:\users\ME\appdata\local\TEND", "api"),
            "no case"
        );
        assert_ne!(a, pipe_name(r"C:\ProgramData\tend\state\api", "api"));
        assert_ne!(a, pipe_name(r"C:\Users\me\AppData\Local\tend", "db"));
    }

    #[test]
    fn requests_are_checked() {
        #[rustfmt::skip]
        let table: &[(&str, Result<Verb, &str>)] = &[
            (r#"{"verb":"stop","service":"api"}"#, Ok(Verb::Stop)),
            ("{\"verb\":\"restart\",\"service\":\"api\"}\n", Ok(Verb::Restart)),
            (r#"{"verb":"start","service":"db"}"#, Err("this channel controls `api`, not `db`")),
            (r#"{"verb":"explode","service":"api"}"#, Err("not a control request")),
            ("stop api", Err("not a control request")),
            (r#"{"verb":"upgrade","service":"api"}"#, Err("an `upgrade` request, and only it")),
            (r#"{"verb":"rollback","service":"api"}"#, Ok(Verb::Rollback)),
            (r#"{"verb":"upgrade","service":"api","upgrade":{"artifact":"/x","signature":"s","source":"x"}}"#, Ok(Verb::Upgrade)),
        ];
        for (line, want) in table {
            match (parse_request(line, "api"), want) {
                (Ok(got), Ok(want)) => assert_eq!(got.verb, *want, "{line}"),
                (Err(got), Err(want)) => assert!(got.starts_with(want), "{line}: {got}"),
                (got, want) => panic!("{line}: {got:?}, want {want:?}"),
            }
        }
    }
}
