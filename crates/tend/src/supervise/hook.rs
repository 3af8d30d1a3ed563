//! Stop hooks: asking a service to stop some other way than with a signal.
//!
//! [`http_stop`] is the `stop.http` hook: one `POST` to a plain `http://` URL on
//! the service's own machine. It is deliberately a minimal HTTP/1.1 client —
//! connect, send a bodiless request, read the status line, hang up — built only
//! on tokio's cross-platform sockets and timers so it runs inside the
//! single-threaded supervisor on Unix and Windows alike. Its result only decides
//! whether the supervisor falls back to the stop signal; the service's exit is
//! still awaited (and bounded by `stop.timeout`) as for a signal.

use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::spec::HttpUrl;

use super::event::show_duration;
use super::policy::Exit;

/// The longest status line accepted; anything longer is not an HTTP server.
const MAX_STATUS_LINE: usize = 8 * 1024;

/// The longest piece of an unexpected answer quoted in an error message.
const MAX_QUOTED: usize = 80;

/// Why a stop hook failed: the supervisor then sends the stop request after all.
#[derive(Debug, thiserror::Error)]
pub enum HookError {
    /// `stop.http`: the `POST` failed.
    #[error("POST {url}: {why}")]
    Http {
        /// The URL, as a person would write it.
        url: String,
        /// What went wrong.
        why: HttpError,
    },
    /// `stop.command` could not be started.
    #[error("cannot run `{}`: {}", program.display(), crate::text::io_error(source))]
    Spawn {
        /// The command.
        program: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// `stop.command` ended with a failure.
    #[error("`{}` ended with {exit}", program.display())]
    Failed {
        /// The command.
        program: PathBuf,
        /// How it ended.
        exit: Exit,
    },
    /// `stop.command`'s exit status was lost.
    #[error("`{}`: exit status lost", program.display())]
    Lost {
        /// The command.
        program: PathBuf,
    },
    /// `stop.command` did not finish in time (it was killed).
    #[error("`{}` did not finish within {}", program.display(), show_duration(*within))]
    TimedOut {
        /// The command.
        program: PathBuf,
        /// How long it had.
        within: Duration,
    },
}

/// What went wrong with a `stop.http` request.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    /// Nothing came back in time.
    #[error("no answer within {}", show_duration(*.0))]
    NoAnswer(Duration),
    /// The host name could not be resolved.
    #[error("cannot resolve {host}: {}", crate::text::io_error(source))]
    Resolve {
        /// The host.
        host: String,
        /// Why.
        source: io::Error,
    },
    /// The host name resolved to nothing.
    #[error("{0} resolves to no address")]
    NoAddress(String),
    /// No address accepted the connection (the last one tried and why).
    #[error("cannot connect to {addr}: {}", crate::text::io_error(source))]
    Connect {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: io::Error,
    },
    /// The request could not be sent.
    #[error("sending the request failed: {}", crate::text::io_error(.0))]
    Send(io::Error),
    /// The answer could not be read.
    #[error("reading the answer failed: {0}")]
    Read(io::Error),
    /// The server hung up without a word.
    #[error("the server closed the connection without answering")]
    Closed,
    /// The server hung up in the middle of the status line (quoted).
    #[error("the answer ended early: {0}")]
    EndedEarly(String),
    /// The answer is not HTTP (quoted).
    #[error("not an HTTP response: {0}")]
    NotHttp(String),
    /// A status other than 2xx (the status line, quoted).
    #[error("answered {0}")]
    Status(String),
}

/// Sends `POST` to `url` and returns the status code if it is 2xx.
///
/// The request carries `Host`, `User-Agent: tend`, `Content-Length: 0` and
/// `Connection: close`. Every address the host resolves to is tried in turn.
/// Only the status line is awaited: neither the body nor the server closing the
/// connection is, so a server that answers and then lingers does not delay the
/// stop. The whole exchange (resolving, connecting, sending, reading) is bounded
/// by `timeout`.
///
/// Errors are one line that names the URL, e.g.
/// `POST http://127.0.0.1:8080/shutdown: answered "HTTP/1.1 500 Internal Server Error"`.
pub async fn http_stop(url: &HttpUrl, timeout: Duration) -> Result<u16, HookError> {
    let result = match tokio::time::timeout(timeout, exchange(url)).await {
        Ok(result) => result,
        Err(_) => Err(HttpError::NoAnswer(timeout)),
    };
    result.map_err(|why| HookError::Http {
        url: show_url(url),
        why,
    })
}

/// Connects, sends the request and reads the status line (unbounded in time).
async fn exchange(url: &HttpUrl) -> Result<u16, HttpError> {
    let mut stream = connect(&url.host, url.port).await?;
    stream
        .write_all(request(url).as_bytes())
        .await
        .map_err(HttpError::Send)?;
    let line = status_line(&mut stream).await?;
    let code = parse_status(&line).ok_or_else(|| HttpError::NotHttp(quote(line.as_bytes())))?;
    if (200..300).contains(&code) {
        Ok(code)
    } else {
        Err(HttpError::Status(quote(line.as_bytes())))
    }
}

/// Connects to the first address of `host` that accepts (the stop hook's, the
/// health probes' and the upgrade downloader's connection).
pub(crate) async fn connect(host: &str, port: u16) -> Result<TcpStream, HttpError> {
    let addrs = tokio::net::lookup_host((host, port))
        .await
        .map_err(|source| HttpError::Resolve {
            host: host.to_string(),
            source,
        })?;
    let mut last: Option<(SocketAddr, io::Error)> = None;
    for addr in addrs {
        match TcpStream::connect(addr).await {
            Ok(stream) => return Ok(stream),
            Err(e) => last = Some((addr, e)),
        }
    }
    Err(match last {
        Some((addr, source)) => HttpError::Connect { addr, source },
        None => HttpError::NoAddress(host.to_string()),
    })
}

/// The request: a bodiless `POST` that asks the server to close afterwards.
fn request(url: &HttpUrl) -> String {
    format!(
        "POST {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: tend\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        url.path,
        authority(url)
    )
}

/// Reads up to the first line feed, without waiting for anything after it.
async fn status_line(stream: &mut TcpStream) -> Result<String, HttpError> {
    let mut line = Vec::new();
    let mut buf = [0u8; 1024];
    loop {
        let n = stream.read(&mut buf).await.map_err(HttpError::Read)?;
        if n == 0 {
            return Err(if line.is_empty() {
                HttpError::Closed
            } else {
                HttpError::EndedEarly(quote(&line))
            });
        }
        if let Some(end) = buf[..n].iter().position(|&b| b == b'\n') {
            line.extend_from_slice(&buf[..end]);
            break;
        }
        line.extend_from_slice(&buf[..n]);
        if line.len() > MAX_STATUS_LINE {
            return Err(HttpError::NotHttp(quote(&line)));
        }
    }
    if line.last() == Some(&b'\r') {
        line.pop();
    }
    Ok(String::from_utf8_lossy(&line).into_owned())
}

/// The code of a status line such as `HTTP/1.1 204 No Content`.
pub(super) fn parse_status(line: &str) -> Option<u16> {
    let mut parts = line.splitn(3, ' ');
    let version = parts.next()?;
    let code = parts.next()?;
    let version_ok = version
        .strip_prefix("HTTP/")
        .is_some_and(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit() || b == b'.'));
    if !version_ok || code.len() != 3 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    code.parse().ok().filter(|c| (100..600).contains(c))
}

/// `host[:port]` as in a `Host` header: IPv6 addresses in brackets, the port left
/// out when it is the default, 80 (443 for `https://`).
pub(crate) fn authority(url: &HttpUrl) -> String {
    let host = if url.host.contains(':') {
        format!("[{}]", url.host)
    } else {
        url.host.clone()
    };
    if url.port == if url.tls { 443 } else { 80 } {
        host
    } else {
        format!("{host}:{}", url.port)
    }
}

/// The URL as a person would write it, for messages.
pub(super) fn show_url(url: &HttpUrl) -> String {
    let scheme = if url.tls { "https" } else { "http" };
    format!("{scheme}://{}{}", authority(url), url.path)
}

/// Some bytes of an answer, quoted and shortened for a one-line message.
pub(crate) fn quote(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let mut short: String = text.chars().take(MAX_QUOTED).collect();
    if text.chars().count() > MAX_QUOTED {
        short.push('…');
    }
    format!("{short:?}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;
    use tokio::net::TcpListener;
    use tokio::sync::oneshot;

    fn url(port: u16, path: &str) -> HttpUrl {
        HttpUrl::parse(&format!("http://127.0.0.1:{port}{path}")).unwrap()
    }

    /// Reads a request head (up to the blank line) from `stream`.
    async fn read_head(stream: &mut TcpStream) -> String {
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            if stream.read(&mut byte).await.unwrap() == 0 {
                break;
            }
            head.push(byte[0]);
        }
        String::from_utf8(head).unwrap()
    }

    /// A server for one connection: reads the request, sends it to the returned
    /// receiver, writes each of `answer` (flushing in between), then waits
    /// `linger` before closing.
    async fn serve_once(
        answer: Vec<&'static [u8]>,
        linger: Duration,
    ) -> (u16, oneshot::Receiver<String>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let (tx, rx) = oneshot::channel();
        tokio::spawn(async move {
            let (mut stream, _) = listener.accept().await.unwrap();
            let _ = tx.send(read_head(&mut stream).await);
            for part in answer {
                stream.write_all(part).await.unwrap();
                stream.flush().await.unwrap();
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            tokio::time::sleep(linger).await;
        });
        (port, rx)
    }

    const LONG: Duration = Duration::from_secs(30);

    /// `http_stop` on `path` against a server that answers `answer` and closes.
    async fn against(answer: Vec<&'static [u8]>, path: &str) -> (u16, Result<u16, String>) {
        let (port, _) = serve_once(answer, Duration::ZERO).await;
        let result = http_stop(&url(port, path), LONG).await;
        (port, result.map_err(|e| e.to_string()))
    }

    #[tokio::test]
    async fn success_returns_the_code() {
        let ok = against(
            vec![b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"],
            "/x",
        )
        .await;
        assert_eq!(ok.1, Ok(200));
        // Split across packets.
        let no_content = against(vec![b"HTTP/1.0 2", b"04 No Content\r\n\r\n"], "/").await;
        assert_eq!(no_content.1, Ok(204));
    }

    #[tokio::test]
    async fn other_codes_name_the_status_line_and_url() {
        let (port, err) = against(
            vec![b"HTTP/1.1 500 Internal Server Error\r\n\r\n"],
            "/shutdown",
        )
        .await;
        assert_eq!(
            err,
            Err(format!(
                "POST http://127.0.0.1:{port}/shutdown: answered \"HTTP/1.1 500 Internal Server Error\""
            ))
        );
        let (_, err) = against(vec![b"HTTP/1.1 301 Moved Permanently\r\n\r\n"], "/").await;
        assert!(err.unwrap_err().contains("301 Moved Permanently"));
    }

    #[tokio::test]
    async fn refused_connection_fails_quickly() {
        let port = {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            listener.local_addr().unwrap().port()
        };
        let err = http_stop(&url(port, "/stop"), LONG)
            .await
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with(&format!(
                "POST http://127.0.0.1:{port}/stop: cannot connect to 127.0.0.1:{port}: "
            )),
            "{err}"
        );
        assert!(!err.contains('\n'), "{err}");
    }

    #[tokio::test]
    async fn silent_server_times_out() {
        let (port, _) = serve_once(vec![], LONG).await;
        let started = Instant::now();
        let err = http_stop(&url(port, "/shutdown"), Duration::from_millis(300))
            .await
            .unwrap_err()
            .to_string();
        assert!(started.elapsed() >= Duration::from_millis(250));
        assert_eq!(
            err,
            format!("POST http://127.0.0.1:{port}/shutdown: no answer within 300ms")
        );
    }

    #[tokio::test]
    async fn lingering_server_does_not_delay_the_answer() {
        // The body never comes and the connection stays open: only the status
        // line is awaited, so this is Ok and not a timeout.
        let (port, _) = serve_once(
            vec![b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial"],
            LONG,
        )
        .await;
        assert_eq!(
            http_stop(&url(port, "/shutdown"), Duration::from_secs(20))
                .await
                .unwrap(),
            200
        );
    }

    #[tokio::test]
    async fn garbage_and_silence_are_errors() {
        for (answer, error) in [
            (
                &b"SSH-2.0-OpenSSH_9.6\r\n"[..],
                ": not an HTTP response: \"SSH-2.0-OpenSSH_9.6\"",
            ),
            (b"", ": the server closed the connection without answering"),
            (
                b"HTTP/1.1 200",
                ": the answer ended early: \"HTTP/1.1 200\"",
            ),
        ] {
            let err = against(vec![answer], "/").await.1.unwrap_err();
            assert!(err.ends_with(error), "{err}");
        }
    }

    #[tokio::test]
    async fn sends_exactly_the_expected_request() {
        let (port, request) = serve_once(vec![b"HTTP/1.1 200 OK\r\n\r\n"], Duration::ZERO).await;
        assert_eq!(
            http_stop(&url(port, "/admin/shutdown?grace=5s&x=y"), LONG)
                .await
                .unwrap(),
            200
        );
        assert_eq!(
            request.await.unwrap(),
            format!(
                "POST /admin/shutdown?grace=5s&x=y HTTP/1.1\r\n\
                 Host: 127.0.0.1:{port}\r\n\
                 User-Agent: tend\r\n\
                 Content-Length: 0\r\n\
                 Connection: close\r\n\r\n"
            )
        );
    }

    #[tokio::test]
    async fn tries_every_address_of_a_name() {
        // "localhost" may resolve to ::1 first; the listener is on 127.0.0.1 only.
        let (port, request) = serve_once(vec![b"HTTP/1.1 200 OK\r\n\r\n"], Duration::ZERO).await;
        let url = HttpUrl::parse(&format!("http://localhost:{port}/")).unwrap();
        assert_eq!(http_stop(&url, LONG).await.unwrap(), 200);
        assert!(request
            .await
            .unwrap()
            .contains(&format!("\r\nHost: localhost:{port}\r\n")));
    }

    #[test]
    fn command_failures_name_the_command_and_what_happened() {
        let program = PathBuf::from("/srv/drain");
        let refused = io::Error::from(io::ErrorKind::PermissionDenied);
        for (error, text) in [
            (
                HookError::Spawn {
                    program: program.clone(),
                    source: refused,
                },
                "cannot run `/srv/drain`: permission denied",
            ),
            (
                HookError::Failed {
                    program: program.clone(),
                    exit: Exit::Code(3),
                },
                "`/srv/drain` ended with exit code 3",
            ),
            (
                HookError::Lost {
                    program: program.clone(),
                },
                "`/srv/drain`: exit status lost",
            ),
            (
                HookError::TimedOut {
                    program,
                    within: Duration::from_millis(2_500),
                },
                "`/srv/drain` did not finish within 2.5s",
            ),
        ] {
            assert_eq!(error.to_string(), text);
        }
    }

    #[test]
    fn host_header_and_message_forms() {
        let u = HttpUrl::parse("http://[::1]:9000/q").unwrap();
        assert_eq!(authority(&u), "[::1]:9000");
        assert_eq!(show_url(&u), "http://[::1]:9000/q");
        let u = HttpUrl::parse("http://example.test/").unwrap();
        assert_eq!(authority(&u), "example.test");
        assert_eq!(show_url(&u), "http://example.test/");
    }

    #[test]
    fn status_lines() {
        assert_eq!(parse_status("HTTP/1.1 200 OK"), Some(200));
        assert_eq!(parse_status("HTTP/1.0 204"), Some(204));
        assert_eq!(parse_status("HTTP/2 503 Busy"), Some(503));
        for bad in [
            "",
            "HTTP/1.1",
            "HTTP/1.1 20 OK",
            "HTTP/1.1 2000",
            "HTTP/1.1 abc",
            "HTTP/ 200",
            "FTP/1 200",
            "HTTP/1.1 999 x",
        ] {
            assert_eq!(parse_status(bad), None, "{bad:?}");
        }
    }
}

/// A stop hook, ready to run: what `stop.http` or `stop.command` became.
#[derive(Clone, Debug)]
pub enum Hook {
    /// `POST` to this URL.
    Http(HttpUrl),
    /// Run this command (with the service's environment and account).
    Command(super::sys::Prepared),
}

impl Hook {
    /// What the hook does, for the log.
    pub fn describe(&self) -> String {
        match self {
            Hook::Http(url) => format!("stop hook POST {}", show_url(url)),
            Hook::Command(p) => format!("stop hook `{}`", p.program.display()),
        }
    }
}

/// How `[reload]` reaches the child, ready to use.
#[derive(Clone, Debug)]
pub enum Reloader {
    /// Send this signal to the child (Unix).
    Signal(crate::spec::Signal),
    /// Run this command (with the service's environment and account, and `TEND_PID`);
    /// killed after `timeout`.
    Command {
        /// The command.
        command: Box<super::sys::Prepared>,
        /// `reload.timeout`.
        timeout: Duration,
    },
}

impl Reloader {
    /// The command for the child `pid`: `TEND_PID` set to it.
    pub fn command_for(command: &super::sys::Prepared, pid: i32) -> super::sys::Prepared {
        let mut c = command.clone();
        c.env.retain(|(k, _)| k != "TEND_PID");
        c.env.push(("TEND_PID".into(), pid.to_string().into()));
        c
    }
}

/// Runs the hook, bounded by `timeout`; `Ok` says what it did, `Err` why the stop
/// request must be sent after all (it could not connect, answered an error, the
/// command failed).
pub async fn run(
    hook: Hook,
    timeout: Duration,
    reaper: std::rc::Rc<super::Reaper>,
) -> Result<String, HookError> {
    match hook {
        Hook::Http(url) => {
            let code = http_stop(&url, timeout).await?;
            Ok(format!("POST {} answered {code}", show_url(&url)))
        }
        Hook::Command(p) => {
            let program = p.program.clone();
            let mut child = super::sys::spawn(&p).map_err(|source| HookError::Spawn {
                program: program.clone(),
                source,
            })?;
            let exit = reaper.watch(&mut child);
            match tokio::time::timeout(timeout, exit).await {
                Ok(Ok(Exit::Code(0))) => Ok(format!("`{}` succeeded", program.display())),
                Ok(Ok(exit)) => Err(HookError::Failed { program, exit }),
                Ok(Err(_)) => Err(HookError::Lost { program }),
                Err(_) => {
                    let _ = super::sys::kill_tree(&child.tree);
                    Err(HookError::TimedOut {
                        program,
                        within: timeout,
                    })
                }
            }
        }
    }
}
