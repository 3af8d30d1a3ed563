//! End-to-end test of the built `hello-service` binary.
//!
//! Starts it on a free loopback port, checks the endpoints and error
//! statuses over real sockets, then (on Unix) stops it with SIGTERM while a
//! request is still in flight and checks that the request is finished, the
//! exit is 0, and the graceful line and the shutdown marker are written:
//! the contract tend relies on.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::thread;
use std::time::{Duration, Instant};

const IO_TIMEOUT: Duration = Duration::from_secs(5);

/// Kills the service if the test fails before stopping it.
struct Service {
    child: Child,
    lines: Receiver<String>,
    seen: Vec<String>,
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Service {
    fn start(addr: SocketAddr, marker: &Path) -> Service {
        let mut child = Command::new(env!("CARGO_BIN_EXE_hello-service"))
            .args(["--listen", &addr.to_string(), "--shutdown-marker"])
            .arg(marker)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn hello-service");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, lines) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Service {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// Waits (bounded) for a stdout line containing `needle`.
    fn wait_for_line(&mut self, needle: &str) -> String {
        let deadline = Instant::now() + IO_TIMEOUT;
        loop {
            if let Some(line) = self.seen.iter().find(|l| l.contains(needle)) {
                return line.clone();
            }
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => self.seen.push(line),
                Err(_) => panic!("no line with {needle:?} on stdout; saw {:?}", self.seen),
            }
        }
    }

    /// Waits (bounded) for the process to exit.
    fn wait_exit(&mut self) -> ExitStatus {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status;
            }
            assert!(Instant::now() < deadline, "hello-service did not exit");
            thread::sleep(Duration::from_millis(20));
        }
    }
}

fn free_port() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind port 0");
    listener.local_addr().expect("local addr")
}

fn connect(addr: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect_timeout(&addr, IO_TIMEOUT).expect("connect");
    stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    stream.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
    stream
}

/// Polls until the service accepts connections: bounded retries, each with
/// a short connect timeout.
fn wait_until_up(service: &mut Service, addr: SocketAddr) {
    for _ in 0..100 {
        if let Some(status) = service.child.try_wait().expect("try_wait") {
            panic!("hello-service exited early: {status}");
        }
        if TcpStream::connect_timeout(&addr, Duration::from_millis(100)).is_ok() {
            return;
        }
        thread::sleep(Duration::from_millis(50));
    }
    panic!("hello-service never accepted connections on {addr}");
}

/// Reads a whole `Connection: close` response; returns (status, body).
fn read_response(mut stream: TcpStream) -> (u16, String) {
    let mut raw = String::new();
    stream.read_to_string(&mut raw).expect("read response");
    let (head, body) = raw.split_once("\r\n\r\n").expect("response head");
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status code");
    assert!(head.contains("Connection: close"), "{head}");
    assert!(
        head.contains(&format!("Content-Length: {}", body.len())),
        "{head}"
    );
    (status, body.to_owned())
}

fn request(addr: SocketAddr, raw: &[u8]) -> (u16, String) {
    let mut stream = connect(addr);
    stream.write_all(raw).expect("send request");
    read_response(stream)
}

fn get(addr: SocketAddr, path: &str) -> (u16, String) {
    request(
        addr,
        format!("GET {path} HTTP/1.1\r\nHost: test\r\n\r\n").as_bytes(),
    )
}

#[test]
fn serves_endpoints_and_stops_gracefully() {
    let dir = std::env::temp_dir().join(format!("hello-service-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let marker = dir.join("marker");
    let _ = std::fs::remove_file(&marker);
    let addr = free_port();

    let mut service = Service::start(addr, &marker);
    wait_until_up(&mut service, addr);
    let pid = service.child.id();
    let started = service.wait_for_line("hello-service listening on");
    assert_eq!(
        started,
        format!("hello-service listening on {addr} (pid {pid})")
    );

    assert_eq!(
        get(addr, "/"),
        (200, format!("hello from hello-service (pid {pid})\n"))
    );
    assert_eq!(get(addr, "/healthz"), (200, "ok\n".into()));
    assert_eq!(get(addr, "/nope").0, 404);
    assert_eq!(request(addr, b"nonsense\r\n\r\n").0, 400);
    let mut huge = b"GET / HTTP/1.1\r\nX-Big: ".to_vec();
    huge.resize(9000, b'a');
    assert_eq!(request(addr, &huge).0, 431);
    service.wait_for_line("GET /healthz 200 ");
    service.wait_for_line("GET /nope 404 ");

    #[cfg(unix)]
    {
        // An in-flight request: connected and half sent before the signal.
        let mut in_flight = connect(addr);
        in_flight.write_all(b"GET /healthz HTTP/1.1\r\n").unwrap();
        // Connections are accepted in order, so once this later one is
        // answered the in-flight one has been accepted too.
        assert_eq!(get(addr, "/healthz").0, 200);

        let pid = libc::pid_t::try_from(pid).expect("pid fits pid_t");
        // SAFETY: plain kill(2) on the child we spawned and still own.
        let rc = unsafe { libc::kill(pid, libc::SIGTERM) };
        assert_eq!(rc, 0, "kill: {}", std::io::Error::last_os_error());
        service.wait_for_line("SIGTERM received");

        // The service stopped listening but still finishes this request.
        in_flight.write_all(b"Host: test\r\n\r\n").unwrap();
        assert_eq!(read_response(in_flight), (200, "ok\n".into()));

        let status = service.wait_exit();
        assert_eq!(status.code(), Some(0), "exit status {status}");
        service.wait_for_line("hello-service: graceful shutdown (SIGTERM)");
        assert_eq!(
            std::fs::read_to_string(&marker).expect("marker file"),
            format!("graceful {pid}\n")
        );
        assert!(
            TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err(),
            "still accepting after shutdown"
        );
    }

    drop(service);
    let _ = std::fs::remove_dir_all(&dir);
}
