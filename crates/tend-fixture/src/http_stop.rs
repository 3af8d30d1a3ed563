//! `--http-stop`: a tiny HTTP endpoint that stops the fixture, for tend's
//! `stop.http` hook.
//!
//! The fixture listens on 127.0.0.1 and serves connections one at a time on a
//! background thread while the main thread goes on to its final action (so it
//! is combined with `--hang` or `--sleep`). `POST /shutdown` (any query
//! string) appends [`MARKER`] to the `--on-http-stop` file if one was given,
//! answers `200 OK`, and makes the fixture exit 0. Any other request gets an
//! error status (404 for another path, 405 for another method, 400 for
//! garbage; `GET /healthz` answers 200, for health checks) and the fixture keeps serving, so tests can also point tend at a
//! wrong URL and watch it fall back to the stop signal.
//!
//! std::net only, so it behaves the same on every platform.

use std::fs::OpenOptions;
use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, Shutdown, TcpListener, TcpStream};
use std::path::Path;
use std::time::Duration;

/// What a shutdown request appends to the `--on-http-stop` file. Distinct from
/// `--on-term`'s "graceful\n" so that a test sharing one file between both can
/// tell which way the fixture was asked to stop.
pub const MARKER: &str = "http-stop\n";

/// The path that stops the fixture.
pub const SHUTDOWN_PATH: &str = "/shutdown";

/// The path a health check gets: `GET /healthz` answers `200 OK` (while the fixture
/// runs: a stopped or hung fixture does not answer).
pub const HEALTH_PATH: &str = "/healthz";

/// How long one client may take to send its request or read the answer.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(5);

/// The largest request head (request line and headers) read.
const MAX_HEAD: usize = 16 * 1024;

/// The largest request body read (and discarded).
const MAX_BODY: u64 = 64 * 1024;

/// Listens on 127.0.0.1:`port` (0: any free port; see `local_addr`).
pub fn bind(port: u16) -> io::Result<TcpListener> {
    TcpListener::bind((Ipv4Addr::LOCALHOST, port))
}

/// Serves connections until one is a shutdown request, which has been
/// answered (and its marker written) when this returns. A client that
/// misbehaves only ends its own connection.
pub fn serve(listener: &TcpListener, marker: Option<&Path>) -> io::Result<()> {
    loop {
        let (stream, _) = listener.accept()?;
        match handle(stream, marker) {
            Ok(true) => return Ok(()),
            Ok(false) => {}
            Err(e) => crate::warn(&format!("--http-stop: a client failed: {e}")),
        }
    }
}

/// Answers one request; true if it was a shutdown request.
fn handle(mut stream: TcpStream, marker: Option<&Path>) -> io::Result<bool> {
    stream.set_read_timeout(Some(CLIENT_TIMEOUT))?;
    stream.set_write_timeout(Some(CLIENT_TIMEOUT))?;
    let request = read_request(&mut stream)?;
    let (status, body, stop) = match &request {
        None => (
            "400 Bad Request",
            "not an HTTP request\n".to_string(),
            false,
        ),
        Some((method, path)) if path == HEALTH_PATH && method == "GET" => {
            ("200 OK", "ok\n".to_string(), false)
        }
        Some((_, path)) if path != SHUTDOWN_PATH => (
            "404 Not Found",
            format!("POST {SHUTDOWN_PATH} stops the fixture\n"),
            false,
        ),
        Some((method, _)) if method != "POST" => (
            "405 Method Not Allowed",
            format!("POST {SHUTDOWN_PATH} stops the fixture\n"),
            false,
        ),
        Some(_) => ("200 OK", "stopping\n".to_string(), true),
    };
    // The marker is on disk before the client sees the answer.
    if let (true, Some(path)) = (stop, marker) {
        append_marker(path)?;
    }
    let answer = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(answer.as_bytes())?;
    stream.flush()?;
    // The whole request was read, so closing sends a FIN, not a reset that
    // could destroy the answer in flight. A client gone by now is no matter.
    let _ = stream.shutdown(Shutdown::Write);
    Ok(stop)
}

/// Reads the request head and any body; returns the method and the path
/// (without the query), or None if the request line is malformed.
fn read_request(stream: &mut TcpStream) -> io::Result<Option<(String, String)>> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    // Byte by byte: the request is tiny and nothing after the head may be
    // consumed by mistake.
    while !head.ends_with(b"\r\n\r\n") && !head.ends_with(b"\n\n") {
        if head.len() >= MAX_HEAD {
            return Ok(None);
        }
        if stream.read(&mut byte)? == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head);
    let mut lines = head.lines();
    let request_line = lines.next().unwrap_or_default();
    let mut length = 0u64;
    for line in lines {
        if let Some((name, value)) = line.split_once(':') {
            if name.trim().eq_ignore_ascii_case("content-length") {
                match value.trim().parse() {
                    Ok(n) if n <= MAX_BODY => length = n,
                    _ => return Ok(None),
                }
            }
        }
    }
    io::copy(&mut stream.take(length), &mut io::sink())?;
    Ok(parse_request_line(request_line))
}

/// `"POST /shutdown?now=1 HTTP/1.1"` → `("POST", "/shutdown")`.
fn parse_request_line(line: &str) -> Option<(String, String)> {
    let mut parts = line.split(' ');
    let (method, target, version) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || method.is_empty() || !version.starts_with("HTTP/") {
        return None;
    }
    let path = target.split_once('?').map_or(target, |(path, _)| path);
    Some((method.to_string(), path.to_string()))
}

/// Appends [`MARKER`] to `path` (created if missing) in one write.
fn append_marker(path: &Path) -> io::Result<()> {
    let mut file = OpenOptions::new().append(true).create(true).open(path)?;
    file.write_all(MARKER.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;
    use std::thread;

    /// Sends `request` and returns the whole answer.
    fn ask(port: u16, request: &str) -> String {
        let mut stream = TcpStream::connect((Ipv4Addr::LOCALHOST, port)).unwrap();
        stream.write_all(request.as_bytes()).unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).unwrap();
        answer
    }

    fn post(path: &str) -> String {
        format!("POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
    }

    fn marker_file() -> PathBuf {
        let path = std::env::temp_dir().join(format!(
            "tend-fixture-test-{}-http-stop",
            std::process::id()
        ));
        let _ = std::fs::remove_file(&path);
        path
    }

    #[test]
    fn only_post_shutdown_stops_and_it_writes_the_marker_first() {
        let listener = bind(0).unwrap();
        let port = listener.local_addr().unwrap().port();
        assert_ne!(port, 0);
        let marker = marker_file();
        let server = {
            let marker = marker.clone();
            thread::spawn(move || serve(&listener, Some(&marker)))
        };

        let answer = ask(port, &post("/other"));
        assert!(answer.starts_with("HTTP/1.1 404 Not Found\r\n"), "{answer}");
        let answer = ask(port, "GET /shutdown HTTP/1.1\r\nHost: x\r\n\r\n");
        assert!(answer.starts_with("HTTP/1.1 405 "), "{answer}");
        let answer = ask(port, "hello\r\n\r\n");
        assert!(answer.starts_with("HTTP/1.1 400 "), "{answer}");
        // A client that connects and leaves does not stop the server.
        drop(TcpStream::connect((Ipv4Addr::LOCALHOST, port)).unwrap());
        assert!(!marker.exists());
        assert!(!server.is_finished());

        // A body is read (so the close is clean) and the query ignored.
        let answer = ask(
            port,
            "POST /shutdown?now=1 HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\nbody",
        );
        assert_eq!(
            answer,
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 9\r\n\
             Connection: close\r\n\r\nstopping\n"
        );
        assert_eq!(std::fs::read_to_string(&marker).unwrap(), MARKER);
        server.join().unwrap().unwrap();
        std::fs::remove_file(marker).unwrap();
    }

    #[test]
    fn works_without_a_marker_file() {
        let listener = bind(0).unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = thread::spawn(move || serve(&listener, None));
        assert!(ask(port, &post(SHUTDOWN_PATH)).starts_with("HTTP/1.1 200 OK\r\n"));
        server.join().unwrap().unwrap();
    }

    #[test]
    fn request_lines() {
        let parsed = |l| parse_request_line(l);
        assert_eq!(
            parsed("POST /shutdown?a=b HTTP/1.1"),
            Some(("POST".into(), "/shutdown".into()))
        );
        assert_eq!(parsed("GET / HTTP/1.0"), Some(("GET".into(), "/".into())));
        for bad in ["", "POST", "POST /", "POST / FTP", "POST / HTTP/1.1 x"] {
            assert_eq!(parsed(bad), None, "{bad:?}");
        }
    }
}
