//! Just enough HTTP/1.1 for the example: parse a request head, route it,
//! render a `Connection: close` response.
//!
//! Handwritten instead of pulling in hyper so the example builds fast and
//! shows tend supervising a small, dependency-light service. Pure
//! functions only; the socket work is in `server`.

/// Largest request head accepted (request line + headers + blank line).
pub const MAX_HEAD: usize = 8 * 1024;

/// The parts of a request the service looks at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub method: String,
    pub target: String,
}

/// A response ready to render.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub body: String,
}

impl Response {
    pub fn new(status: u16, body: impl Into<String>) -> Self {
        Response {
            status,
            body: body.into(),
        }
    }

    /// A response for a request that could not be parsed.
    pub fn error(status: u16) -> Self {
        Response::new(status, format!("{}\n", reason(status)))
    }

    /// The full response bytes: status line, headers, body.
    pub fn render(&self) -> Vec<u8> {
        let head = format!(
            "HTTP/1.1 {} {}\r\nContent-Type: text/plain; charset=utf-8\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n",
            self.status,
            reason(self.status),
            self.body.len()
        );
        let mut out = head.into_bytes();
        out.extend_from_slice(self.body.as_bytes());
        out
    }
}

/// Where the head ends: the index just past the first "\r\n\r\n".
pub fn head_end(buf: &[u8]) -> Option<usize> {
    buf.windows(4).position(|w| w == b"\r\n\r\n").map(|i| i + 4)
}

/// Parses a complete request head; `Err` is the status to answer with.
pub fn parse_head(head: &[u8]) -> Result<Request, u16> {
    let head = std::str::from_utf8(head).map_err(|_| 400u16)?;
    let mut lines = head.split("\r\n");
    let request_line = lines.next().unwrap_or_default();
    let mut parts = request_line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(400);
    };
    let method_ok = !method.is_empty() && method.bytes().all(|b| b.is_ascii_uppercase());
    if !method_ok || !target.starts_with('/') || !version.starts_with("HTTP/1.") {
        return Err(400);
    }
    // Headers are not used, but each must at least look like one.
    for line in lines.take_while(|l| !l.is_empty()) {
        match line.split_once(':') {
            Some((name, _)) if !name.is_empty() && !name.contains([' ', '\t']) => {}
            _ => return Err(400),
        }
    }
    Ok(Request {
        method: method.to_owned(),
        target: target.to_owned(),
    })
}

/// Answers a parsed request.
pub fn route(req: &Request, pid: u32) -> Response {
    let path = req.target.split('?').next().unwrap_or_default();
    match (req.method.as_str(), path) {
        ("GET", "/") => Response::new(200, format!("hello from hello-service (pid {pid})\n")),
        ("GET", "/healthz") => Response::new(200, "ok\n"),
        _ => Response::error(404),
    }
}

/// Reason phrase for the statuses this service uses.
pub fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        408 => "Request Timeout",
        431 => "Request Header Fields Too Large",
        _ => "Unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(method: &str, target: &str) -> Request {
        Request {
            method: method.into(),
            target: target.into(),
        }
    }

    #[test]
    fn finds_head_end() {
        assert_eq!(head_end(b"GET / HTTP/1.1\r\n\r\nbody"), Some(18));
        assert_eq!(head_end(b"GET / HTTP/1.1\r\nHost: x\r\n"), None);
    }

    #[test]
    fn parses_valid_heads() {
        let head = b"GET /healthz?x=1 HTTP/1.1\r\nHost: a\r\nUser-Agent: t\r\n\r\n";
        assert_eq!(parse_head(head), Ok(req("GET", "/healthz?x=1")));
        assert_eq!(parse_head(b"POST / HTTP/1.0\r\n\r\n"), Ok(req("POST", "/")));
    }

    #[test]
    fn rejects_bad_heads() {
        for head in [
            &b"\r\n\r\n"[..],
            b"GET /\r\n\r\n",
            b"GET / HTTP/1.1 extra\r\n\r\n",
            b"get / HTTP/1.1\r\n\r\n",
            b"GET x HTTP/1.1\r\n\r\n",
            b"GET / HTTP/2\r\n\r\n",
            b"GET / HTTP/1.1\r\nno colon\r\n\r\n",
            b"GET / HTTP/1.1\r\nBad Name: v\r\n\r\n",
            b"GET / HTTP/1.1\r\n\xff: v\r\n\r\n",
        ] {
            assert_eq!(
                parse_head(head),
                Err(400),
                "{:?}",
                String::from_utf8_lossy(head)
            );
        }
    }

    #[test]
    fn routes() {
        assert_eq!(
            route(&req("GET", "/"), 7),
            Response::new(200, "hello from hello-service (pid 7)\n")
        );
        assert_eq!(
            route(&req("GET", "/healthz"), 7),
            Response::new(200, "ok\n")
        );
        assert_eq!(route(&req("GET", "/healthz?v"), 7).status, 200);
        assert_eq!(route(&req("GET", "/nope"), 7).status, 404);
        assert_eq!(route(&req("POST", "/"), 7).status, 404);
    }

    #[test]
    fn renders_with_length_and_close() {
        let text = String::from_utf8(Response::new(200, "ok\n").render()).unwrap();
        assert_eq!(
            text,
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\n\
             Content-Length: 3\r\nConnection: close\r\n\r\nok\n"
        );
        assert!(String::from_utf8(Response::error(431).render())
            .unwrap()
            .starts_with("HTTP/1.1 431 Request Header Fields Too Large\r\n"));
    }
}
