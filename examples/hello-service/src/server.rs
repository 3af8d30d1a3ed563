//! Serving one connection: read the request head, answer, log, close.
//!
//! Every response carries `Connection: close`, so a connection is exactly
//! one request. Slow or silent clients are bounded by a head timeout, and
//! the close is done politely (FIN, then briefly drain what the client
//! still sends) so a client never loses the response to a TCP reset.

use std::io;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;

use crate::http::{self, Response, MAX_HEAD};
use crate::log;

/// How long a client may take to send its request head.
const HEAD_TIMEOUT: Duration = Duration::from_secs(10);
/// How long to drain a client's leftover input after answering.
const LINGER: Duration = Duration::from_secs(1);
/// How much leftover input to drain at most.
const LINGER_BYTES: usize = 64 * 1024;

/// How reading a request head ended.
enum Head {
    Complete(Vec<u8>),
    TooLarge,
    /// The client closed the connection mid-head.
    Truncated,
    /// The client closed the connection before sending anything.
    Empty,
}

/// Serves the single request on `stream`; errors are logged, not returned.
pub async fn serve(mut stream: TcpStream, pid: u32) {
    let head = match timeout(HEAD_TIMEOUT, read_head(&mut stream)).await {
        Ok(Ok(Head::Empty)) => return,
        Ok(Ok(head)) => Some(head),
        Ok(Err(e)) => {
            log::err(format_args!("hello-service: read error: {e}"));
            return;
        }
        Err(_elapsed) => None,
    };
    let started = Instant::now();
    let (method, target, response) = match head {
        Some(Head::Complete(bytes)) => match http::parse_head(&bytes) {
            Ok(req) => {
                let response = http::route(&req, pid);
                (req.method, req.target, response)
            }
            Err(status) => unparsed(status),
        },
        Some(Head::TooLarge) => unparsed(431),
        Some(Head::Truncated) | Some(Head::Empty) => unparsed(400),
        None => unparsed(408),
    };
    if let Err(e) = respond(&mut stream, &response).await {
        log::err(format_args!("hello-service: write error: {e}"));
        return;
    }
    let micros = started.elapsed().as_micros();
    log::out(format_args!(
        "{method} {target} {} {micros}us",
        response.status
    ));
}

fn unparsed(status: u16) -> (String, String, Response) {
    ("-".into(), "-".into(), Response::error(status))
}

/// Reads until the end of the request head, at most [`MAX_HEAD`] bytes.
async fn read_head(stream: &mut TcpStream) -> io::Result<Head> {
    let mut buf = vec![0u8; MAX_HEAD];
    let mut len = 0;
    loop {
        let n = stream.read(&mut buf[len..]).await?;
        if n == 0 {
            return Ok(if len == 0 {
                Head::Empty
            } else {
                Head::Truncated
            });
        }
        // The terminator may straddle the previous read.
        let from = len.saturating_sub(3);
        len += n;
        if let Some(end) = http::head_end(&buf[from..len]) {
            buf.truncate(from + end);
            return Ok(Head::Complete(buf));
        }
        if len == MAX_HEAD {
            return Ok(Head::TooLarge);
        }
    }
}

/// Writes the response, then closes politely.
async fn respond(stream: &mut TcpStream, response: &Response) -> io::Result<()> {
    stream.write_all(&response.render()).await?;
    stream.shutdown().await?;
    // Closing with unread input makes the kernel send a reset, which can
    // destroy the response before the client reads it; drain a little first.
    let _ = timeout(LINGER, async {
        let mut scratch = [0u8; 4096];
        let mut drained = 0;
        while drained < LINGER_BYTES {
            match stream.read(&mut scratch).await {
                Ok(0) | Err(_) => break,
                Ok(n) => drained += n,
            }
        }
    })
    .await;
    Ok(())
}
