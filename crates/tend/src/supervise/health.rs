//! Health probes (`[health]`): whether a service works, not merely runs.
//!
//! A [`Prober`] runs one probe — an HTTP `GET`, a TCP connect, or a command run as the
//! service's account with its environment — bounded by `health.timeout`, and says
//! what it found in one line, the way the event lines, `tend status` and the Event Log
//! show it. What follows from a result (starting, healthy, unhealthy, a restart) is
//! the pure [`HealthTracker`](super::policy::HealthTracker)'s decision; the service
//! actor runs the probes and carries the decisions out.
//!
//! The HTTP client is the stop hook's minimal one ([`super::hook`]) with a `GET`: it
//! reads the status line and headers, and the body only when `expect_body` asks for it
//! (at most [`MAX_BODY`] bytes, chunked or not).

use std::rc::Rc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::time::Instant;

use crate::spec::{Health, HttpUrl};

use super::event::show_duration;
use super::hook::{authority, connect, parse_status, quote, show_url};
use super::policy::Exit;
use super::sys::{self, Prepared};
use super::Reaper;

/// The longest answer head (status line and headers) read.
const MAX_HEAD: usize = 16 * 1024;

/// The most of a body read to look for `expect_body`.
pub const MAX_BODY: usize = 64 * 1024;

/// What a probe checks.
#[derive(Clone, Debug)]
pub enum Check {
    /// `GET` this URL.
    Http {
        /// The URL.
        url: HttpUrl,
        /// The status that passes (none: any 2xx).
        expect_status: Option<u16>,
        /// Text the body must contain.
        expect_body: Option<String>,
    },
    /// Connect to this host and port.
    Tcp {
        /// The host.
        host: String,
        /// The port.
        port: u16,
    },
    /// Run this command: it passes when it exits 0.
    Command(Prepared),
}

/// One service's probe and how long it may take.
#[derive(Clone, Debug)]
pub struct Prober {
    /// What it checks.
    pub check: Check,
    /// `health.timeout`.
    pub timeout: Duration,
}

/// What one probe found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    /// Whether it passed.
    pub ok: bool,
    /// What it found, in one line: `GET http://127.0.0.1:8080/healthz answered 200
    /// (3ms)`, or why it failed.
    pub result: String,
    /// How long it took.
    pub took: Duration,
}

impl Prober {
    /// The probe of `health`, whose command (if any) is already `prepared` (resolved
    /// like the service's program, with its environment and account). `None` when
    /// `health` names no probe (`tend check` reports that).
    pub fn new(health: &Health, command: Option<Prepared>) -> Result<Prober, String> {
        let check = if let Some(url) = &health.http {
            Check::Http {
                url: HttpUrl::parse_with_tls(url)?,
                expect_status: health.expect_status,
                expect_body: health.expect_body.clone(),
            }
        } else if let Some(addr) = &health.tcp {
            let (host, port) = crate::spec::parse_host_port(addr)?;
            Check::Tcp { host, port }
        } else if let Some(p) = command {
            Check::Command(p)
        } else {
            return Err("`[health]` names no probe".into());
        };
        Ok(Prober {
            check,
            timeout: health.timeout.get(),
        })
    }

    /// What the probe does, for messages: `GET http://127.0.0.1:8080/healthz`,
    /// `connect to 127.0.0.1:5432`, `` `/opt/x/check` ``.
    pub fn describe(&self) -> String {
        match &self.check {
            Check::Http { url, .. } => format!("GET {}", show_url(url)),
            Check::Tcp { host, port } => format!("connect to {}", host_port(host, *port)),
            Check::Command(p) => format!("`{}`", p.program.display()),
        }
    }

    /// Runs the probe once, bounded by `health.timeout`.
    pub async fn run(&self, reaper: Rc<Reaper>) -> Outcome {
        let started = Instant::now();
        let what = self.describe();
        let result = match &self.check {
            Check::Command(p) => command(p, self.timeout, reaper).await,
            _ => match tokio::time::timeout(self.timeout, self.network()).await {
                Ok(r) => r,
                Err(_) => Err(format!("no answer within {}", show_duration(self.timeout))),
            },
        };
        let took = started.elapsed();
        match result {
            Ok(found) => Outcome {
                ok: true,
                result: format!("{found} ({})", show_duration(took)),
                took,
            },
            Err(why) => Outcome {
                ok: false,
                result: format!("{what}: {why}"),
                took,
            },
        }
    }

    /// An HTTP or TCP probe, unbounded in time.
    async fn network(&self) -> Result<String, String> {
        match &self.check {
            Check::Http {
                url,
                expect_status,
                expect_body,
            } => http_get(url, *expect_status, expect_body.as_deref()).await,
            Check::Tcp { host, port } => tcp(host, *port).await,
            Check::Command(_) => unreachable!("commands are bounded by their own timeout"),
        }
    }
}

/// `host:port`, an IPv6 address in brackets.
fn host_port(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// Connects to the first address of `host` that accepts.
async fn tcp(host: &str, port: u16) -> Result<String, String> {
    let stream = connect(host, port).await.map_err(|e| e.to_string())?;
    let addr = stream
        .peer_addr()
        .map_or_else(|_| host_port(host, port), |a| a.to_string());
    Ok(format!("connected to {addr}"))
}

/// `GET url`: `Ok` with what it answered when the status (and the body, if asked)
/// passes, else why not.
async fn http_get(
    url: &HttpUrl,
    expect_status: Option<u16>,
    expect_body: Option<&str>,
) -> Result<String, String> {
    let stream = connect(&url.host, url.port)
        .await
        .map_err(|e| e.to_string())?;
    if url.tls {
        let stream = super::tls::connect(&url.host, stream).await?;
        return exchange(stream, url, expect_status, expect_body).await;
    }
    exchange(stream, url, expect_status, expect_body).await
}

/// Sends the request on `stream` and judges the answer.
async fn exchange<S>(
    mut stream: S,
    url: &HttpUrl,
    expect_status: Option<u16>,
    expect_body: Option<&str>,
) -> Result<String, String>
where
    S: AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let request = format!(
        "GET {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: tend\r\nAccept: */*\r\nConnection: close\r\n\r\n",
        url.path,
        authority(url)
    );
    stream
        .write_all(request.as_bytes())
        .await
        .map_err(|e| format!("sending the request failed: {}", crate::text::io_error(&e)))?;
    let (head, rest) = read_head(&mut stream).await?;
    let answer = Answer::parse(&head)?;
    let passes = match expect_status {
        Some(want) => answer.code == want,
        None => (200..300).contains(&answer.code),
    };
    if !passes {
        return Err(format!("answered {}", quote(answer.status_line.as_bytes())));
    }
    if let Some(want) = expect_body {
        let body = read_body(&mut stream, rest, &answer).await?;
        if !contains(&body, want.as_bytes()) {
            return Err(format!(
                "answered {} but its body does not contain {want:?}",
                answer.code
            ));
        }
    }
    Ok(format!("GET {} answered {}", show_url(url), answer.code))
}

/// Reads up to the end of the answer's head; returns the head and what came after it
/// (also the upgrade downloader's, [`crate::update::fetch`]).
pub(crate) async fn read_head<S: AsyncRead + Unpin>(
    stream: &mut S,
) -> Result<(Vec<u8>, Vec<u8>), String> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(end) = find(&buf, b"\r\n\r\n") {
            let rest = buf.split_off(end + 4);
            return Ok((buf, rest));
        }
        if buf.len() > MAX_HEAD {
            return Err(format!("not an HTTP response: {}", quote(&buf)));
        }
        let n = stream
            .read(&mut chunk)
            .await
            .map_err(|e| format!("reading the answer failed: {}", crate::text::io_error(&e)))?;
        if n == 0 {
            return Err(if buf.is_empty() {
                "the server closed the connection without answering".into()
            } else if parse_status(first_line(&buf)).is_none() {
                format!("not an HTTP response: {}", quote(&buf))
            } else {
                format!("the answer ended early: {}", quote(&buf))
            });
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// The first line of `bytes`, without its line end.
fn first_line(bytes: &[u8]) -> &str {
    let line = bytes.split(|&b| b == b'\n').next().unwrap_or_default();
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    std::str::from_utf8(line).unwrap_or_default()
}

/// What an answer's head says.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Answer {
    /// The status line, as it came.
    pub(crate) status_line: String,
    /// The status code.
    pub(crate) code: u16,
    /// `Content-Length`.
    pub(crate) length: Option<usize>,
    /// `Transfer-Encoding: chunked`.
    pub(crate) chunked: bool,
    /// Every header: its name and trimmed value, in order.
    pub(crate) headers: Vec<(String, String)>,
}

impl Answer {
    /// Reads the head (status line and headers, without the blank line).
    pub(crate) fn parse(head: &[u8]) -> Result<Answer, String> {
        let text = String::from_utf8_lossy(head);
        let mut lines = text.split("\r\n");
        let status_line = lines.next().unwrap_or_default().to_string();
        let code = parse_status(&status_line)
            .ok_or_else(|| format!("not an HTTP response: {}", quote(status_line.as_bytes())))?;
        let mut length = None;
        let mut chunked = false;
        let mut headers = Vec::new();
        for line in lines {
            let Some((name, value)) = line.split_once(':') else {
                continue;
            };
            let value = value.trim();
            headers.push((name.trim().to_string(), value.to_string()));
            if name.eq_ignore_ascii_case("content-length") {
                length = value.parse().ok();
            } else if name.eq_ignore_ascii_case("transfer-encoding") {
                chunked = value
                    .rsplit(',')
                    .next()
                    .is_some_and(|v| v.trim().eq_ignore_ascii_case("chunked"));
            }
        }
        Ok(Answer {
            status_line,
            code,
            length,
            chunked,
            headers,
        })
    }

    /// The value of the first header named `name` (in any case).
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Reads the body (at most [`MAX_BODY`] bytes of it), `rest` being what came with
/// the head; a chunked body is decoded.
async fn read_body<S: AsyncRead + Unpin>(
    stream: &mut S,
    mut raw: Vec<u8>,
    answer: &Answer,
) -> Result<Vec<u8>, String> {
    let want = match answer.length {
        Some(n) if !answer.chunked => n.min(MAX_BODY),
        _ => MAX_BODY,
    };
    let mut chunk = [0u8; 4096];
    while raw.len() < want && !(answer.chunked && dechunk(&raw).1) {
        let n = stream
            .read(&mut chunk)
            .await
            .map_err(|e| format!("reading the answer failed: {}", crate::text::io_error(&e)))?;
        if n == 0 {
            break;
        }
        raw.extend_from_slice(&chunk[..n]);
    }
    let mut body = if answer.chunked { dechunk(&raw).0 } else { raw };
    body.truncate(MAX_BODY);
    Ok(body)
}

/// Decodes a chunked body as far as it goes; whether it ended (the last chunk came).
fn dechunk(raw: &[u8]) -> (Vec<u8>, bool) {
    let mut out = Vec::new();
    let mut at = 0;
    loop {
        let Some(eol) = find(&raw[at..], b"\r\n") else {
            return (out, false);
        };
        let size_text = String::from_utf8_lossy(&raw[at..at + eol]);
        let size_text = size_text.split(';').next().unwrap_or_default().trim();
        let Ok(size) = usize::from_str_radix(size_text, 16) else {
            return (out, true);
        };
        if size == 0 {
            return (out, true);
        }
        let start = at + eol + 2;
        let end = start.saturating_add(size).min(raw.len());
        out.extend_from_slice(&raw[start..end]);
        if end < start + size {
            return (out, false);
        }
        at = end + 2;
        if at > raw.len() {
            return (out, false);
        }
    }
}

/// Where `needle` first occurs in `hay`.
fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Whether `hay` contains `needle`.
fn contains(hay: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || find(hay, needle).is_some()
}

/// Runs the probe command, killing its tree at `timeout`, or when the probe is given up
/// (its future dropped: the child it checks exited, or a stop came).
async fn command(p: &Prepared, timeout: Duration, reaper: Rc<Reaper>) -> Result<String, String> {
    let program = p.program.display().to_string();
    let mut child =
        sys::spawn(p).map_err(|e| format!("cannot be started: {}", crate::text::io_error(&e)))?;
    let exit = reaper.watch(&mut child);
    let mut running = KillOnDrop(Some(child.tree));
    let result = match tokio::time::timeout(timeout, exit).await {
        Ok(Ok(Exit::Code(0))) => Ok(format!("`{program}` exited 0")),
        Ok(Ok(exit)) => Err(format!("ended with {exit}")),
        Ok(Err(_)) => Err("its exit status was lost".into()),
        Err(_) => {
            return Err(format!(
                "did not finish within {}; killed",
                show_duration(timeout)
            ))
        }
    };
    // It exited: nothing to kill (what it left in its group goes with the tree).
    running.0.take();
    result
}

/// A probe command's process tree, killed when dropped unless taken out.
struct KillOnDrop(Option<sys::Tree>);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Some(tree) = &self.0 {
            let _ = sys::kill_tree(tree);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::TcpListener;

    #[test]
    fn answers_are_read_from_their_head() {
        let a = Answer::parse(b"HTTP/1.1 200 OK\r\nContent-Length: 12\r\nX: y\r\n").unwrap();
        assert_eq!((a.code, a.length, a.chunked), (200, Some(12), false));
        assert_eq!(
            (a.header("x"), a.header("content-length")),
            (Some("y"), Some("12"))
        );
        assert_eq!(a.header("location"), None);
        let a =
            Answer::parse(b"HTTP/1.1 503 Service Unavailable\r\ntransfer-encoding: gzip, chunked")
                .unwrap();
        assert_eq!((a.code, a.length, a.chunked), (503, None, true));
        assert_eq!(a.status_line, "HTTP/1.1 503 Service Unavailable");
        assert!(Answer::parse(b"SSH-2.0-OpenSSH_9.6").is_err());
    }

    #[test]
    fn chunked_bodies_are_decoded() {
        assert_eq!(
            dechunk(b"4\r\nWiki\r\n5;x=y\r\npedia\r\n0\r\n\r\n"),
            (b"Wikipedia".to_vec(), true)
        );
        assert_eq!(dechunk(b"4\r\nWi"), (b"Wi".to_vec(), false));
        assert_eq!(dechunk(b"4\r\nWiki\r\n"), (b"Wiki".to_vec(), false));
        assert_eq!(dechunk(b""), (Vec::new(), false));
    }

    /// A server that answers each connection with `answer` (after reading the request
    /// head), for `n` connections.
    async fn server(answer: &'static [u8], n: usize) -> u16 {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            for _ in 0..n {
                let (mut s, _) = listener.accept().await.unwrap();
                let mut head = Vec::new();
                let mut b = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") && s.read(&mut b).await.unwrap() == 1 {
                    head.push(b[0]);
                }
                assert!(head.starts_with(b"GET /healthz HTTP/1.1\r\n"));
                s.write_all(answer).await.unwrap();
            }
        });
        port
    }

    fn health(http: String) -> Health {
        Health {
            http: Some(http),
            timeout: crate::spec::Duration::from_millis(500),
            ..Health::default()
        }
    }

    async fn probe(h: Health) -> Outcome {
        let p = Prober::new(&h, None).unwrap();
        tokio::task::LocalSet::new()
            .run_until(async { p.run(Reaper::start().unwrap()).await })
            .await
    }

    #[tokio::test]
    async fn http_passes_on_2xx_or_the_expected_status_and_body() {
        let port = server(b"HTTP/1.1 204 No Content\r\n\r\n", 1).await;
        let url = format!("http://127.0.0.1:{port}/healthz");
        let o = probe(health(url.clone())).await;
        assert!(o.ok, "{o:?}");
        assert!(
            o.result.starts_with(&format!("GET {url} answered 204 (")),
            "{o:?}"
        );

        let port = server(b"HTTP/1.1 503 Service Unavailable\r\n\r\n", 2).await;
        let url = format!("http://127.0.0.1:{port}/healthz");
        let o = probe(health(url.clone())).await;
        assert_eq!(
            (o.ok, o.result),
            (
                false,
                format!("GET {url}: answered \"HTTP/1.1 503 Service Unavailable\"")
            )
        );
        let mut h = health(url.clone());
        h.expect_status = Some(503);
        assert!(probe(h).await.ok);

        let body = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nsta\r\n5\r\ntus: \r\n2\r\nok\r\n0\r\n\r\n";
        let port = server(body, 2).await;
        let url = format!("http://127.0.0.1:{port}/healthz");
        let mut h = health(url.clone());
        h.expect_body = Some("status: ok".into());
        assert!(probe(h.clone()).await.ok);
        h.expect_body = Some("degraded".into());
        let o = probe(h).await;
        assert_eq!(
            o.result,
            format!("GET {url}: answered 200 but its body does not contain \"degraded\"")
        );
    }

    #[tokio::test]
    async fn a_silent_server_fails_at_the_timeout_and_a_closed_port_at_once() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let url = format!("http://127.0.0.1:{port}/healthz");
        let o = probe(health(url.clone())).await;
        assert_eq!(o.result, format!("GET {url}: no answer within 500ms"));
        assert!(o.took >= Duration::from_millis(450), "{o:?}");
        drop(listener);
        let o = probe(health(url.clone())).await;
        assert!(!o.ok);
        assert!(
            o.result
                .starts_with(&format!("GET {url}: cannot connect to 127.0.0.1:{port}: ")),
            "{o:?}"
        );
    }

    #[tokio::test]
    async fn tcp_passes_when_the_port_accepts() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let h = Health {
            tcp: Some(format!("127.0.0.1:{port}")),
            ..Health::default()
        };
        let o = probe(h.clone()).await;
        assert!(o.ok, "{o:?}");
        assert!(o
            .result
            .starts_with(&format!("connected to 127.0.0.1:{port} (")));
        drop(listener);
        let o = probe(h).await;
        assert!(!o.ok);
        assert!(
            o.result.starts_with(&format!(
                "connect to 127.0.0.1:{port}: cannot connect to 127.0.0.1:{port}: "
            )),
            "{o:?}"
        );
    }
}
