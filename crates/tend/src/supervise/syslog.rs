//! Syslog output (`log.stdout` / `log.stderr = "syslog"`): each line of a stream as a
//! message, the service's name as APP-NAME, stderr at a higher severity than stdout,
//! to `log.syslog`: `udp://host:port` (an RFC 5424 message a datagram),
//! `tcp://host:port` (RFC 5424, RFC 6587 octet counting: `LEN SP MSG`), or the local
//! socket (`/dev/log`, `/var/run/syslog` on macOS, or `unix:///path`).
//!
//! The local socket gets the form syslog(3) writes, `<PRI>Mmm dd hh:mm:ss APP[PID]:
//! MSG` ([`format_local`]): that is what its readers parse by default. rsyslog's
//! imuxsock reads an RFC 5424 message there as a traditional one and takes its version
//! (`1`) for the APP-NAME; journald reads the traditional form too.
//!
//! The child is never held up by syslog: a line is formatted ([`format`], pure) and
//! handed to a bounded queue ([`QUEUE`] messages, [`QUEUE_BYTES`]) that one thread per destination
//! empties. A full queue, or a message the thread could not send (no `/dev/log`, the
//! server down), is dropped and counted like a line a full disk refused
//! ([`Dropped`]), in the service's `log_dropped_lines` / `log_dropped_bytes`.

use std::fmt;
use std::io::{self, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, SyncSender, TrySendError};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use super::logfile::{Dropped, Stream};

/// Messages waiting to be sent, per destination, beyond which lines are dropped.
pub const QUEUE: usize = 4096;
/// Bytes of messages waiting to be sent, per destination, beyond which lines are
/// dropped (what a destination that does not answer may hold of tend's memory).
pub const QUEUE_BYTES: u64 = 1 << 20;
/// The longest message sent, in bytes (rsyslog's default `maxMessageSize`): a longer
/// line is cut at a character boundary.
pub const MAX_MESSAGE: usize = 8192;
/// The facility of every message: `daemon` (3), system daemons.
const FACILITY: u8 = 3;
/// How long the end of a stream waits for its queued messages to be sent.
pub const FLUSH_WAIT: Duration = Duration::from_millis(500);
/// How long a sender waits before connecting again after a TCP failure.
const RECONNECT_EVERY: Duration = Duration::from_secs(1);

/// Where messages go.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Destination {
    /// The local syslog daemon's socket (`/dev/log`).
    Local(std::path::PathBuf),
    /// A server over UDP, `host:port`.
    Udp(String),
    /// A server over TCP, `host:port`, octet-counted (RFC 6587).
    Tcp(String),
}

/// The local syslog socket: `/dev/log`, on macOS `/var/run/syslog`.
pub const LOCAL_SOCKET: &str = if cfg!(target_os = "macos") {
    "/var/run/syslog"
} else {
    "/dev/log"
};

impl Destination {
    /// The destination `log.syslog` names (`None`: the local socket).
    pub fn of(syslog: Option<&str>) -> Result<Destination, String> {
        match syslog {
            None => Ok(Destination::Local(LOCAL_SOCKET.into())),
            Some(text) => parse_address(text),
        }
    }
}

impl fmt::Display for Destination {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Destination::Local(p) if p.as_os_str() == LOCAL_SOCKET => write!(f, "{}", p.display()),
            Destination::Local(p) => write!(f, "unix://{}", p.display()),
            Destination::Udp(a) => write!(f, "udp://{a}"),
            Destination::Tcp(a) => write!(f, "tcp://{a}"),
        }
    }
}

/// Reads `udp://host:port` or `tcp://host:port` (an IPv6 address in brackets:
/// `udp://[::1]:514`), or `unix:///path` (a local socket); the error says what is
/// wrong, for `tend check`.
pub fn parse_address(text: &str) -> Result<Destination, String> {
    let form = "write \"udp://host:port\", \"tcp://host:port\" or \"unix:///path\", e.g. \"udp://127.0.0.1:514\"";
    let (scheme, rest) = text
        .split_once("://")
        .ok_or_else(|| format!("{text:?} is not a syslog address: {form}"))?;
    let make: fn(String) -> Destination = match scheme {
        "udp" => Destination::Udp,
        "tcp" => Destination::Tcp,
        "unix" if rest.starts_with('/') => return Ok(Destination::Local(rest.into())),
        "unix" => {
            return Err(format!(
                "{text:?}: the socket's path must be absolute (\"unix:///dev/log\")"
            ))
        }
        _ => {
            return Err(format!(
            "{text:?}: unknown scheme `{scheme}`: {form} (without log.syslog, the local /dev/log)"
        ))
        }
    };
    let (host, port) = match rest.strip_prefix('[') {
        Some(v6) => {
            let (host, after) = v6
                .split_once(']')
                .ok_or_else(|| format!("{text:?}: an IPv6 address ends with `]`: {form}"))?;
            let port = after
                .strip_prefix(':')
                .ok_or_else(|| format!("{text:?} has no port: {form}"))?;
            (host, port)
        }
        None => rest
            .rsplit_once(':')
            .ok_or_else(|| format!("{text:?} has no port: {form}"))?,
    };
    let host_ok = !host.is_empty()
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | ':'));
    if !host_ok {
        return Err(format!(
            "{text:?}: `{host}` is not a host name or address: {form}"
        ));
    }
    match port.parse::<u16>() {
        Ok(p) if p > 0 => {}
        _ => return Err(format!("{text:?}: `{port}` is not a port (1 to 65535)")),
    }
    let addr = if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    };
    Ok(make(addr))
}

/// The severity of a stream's lines: stdout informational (6), stderr error (3).
pub fn severity(stream: Stream) -> u8 {
    match stream {
        Stream::Out => 6,
        Stream::Err => 3,
    }
}

/// What a message says besides its text.
#[derive(Clone, Debug)]
pub struct Header<'a> {
    /// The stream (gives the severity and the MSGID, `stdout` or `stderr`).
    pub stream: Stream,
    /// When the line was received.
    pub time: SystemTime,
    /// This host's name.
    pub hostname: &'a str,
    /// The service's name.
    pub app: &'a str,
    /// The supervisor's process id.
    pub procid: u32,
}

/// A header field as RFC 5424 allows it: printable US-ASCII (33 to 126), at most
/// `max` characters, else the NILVALUE `-`.
fn field(text: &str, max: usize) -> &str {
    let printable = |s: &str| !s.is_empty() && s.bytes().all(|b| (33..=126).contains(&b));
    let cut = &text[..text.len().min(max)];
    if printable(cut) {
        cut
    } else {
        "-"
    }
}

/// The RFC 5424 message for one line (without its newline): `<PRI>1 TIMESTAMP HOSTNAME
/// APP-NAME PROCID MSGID - MSG`, no structured data. The MSG is the line: UTF-8 text
/// starts with a BOM, as RFC 5424 (6.4) asks; bytes that are not UTF-8 go as they are,
/// without one. A message longer than `max` bytes is cut, at a character boundary.
pub fn format(h: &Header<'_>, line: &[u8], max: usize) -> Vec<u8> {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let pri = FACILITY * 8 + severity(h.stream);
    let msgid = match h.stream {
        Stream::Out => "stdout",
        Stream::Err => "stderr",
    };
    let mut out = format!(
        "<{pri}>1 {} {} {} {} {msgid} - ",
        humantime::format_rfc3339_micros(h.time),
        field(h.hostname, 255),
        field(h.app, 48),
        h.procid
    )
    .into_bytes();
    let room = max.saturating_sub(out.len());
    match std::str::from_utf8(line) {
        Ok(text) => {
            const BOM: &str = "\u{feff}";
            let room = room.saturating_sub(BOM.len());
            let mut end = text.len().min(room);
            while !text.is_char_boundary(end) {
                end -= 1;
            }
            out.extend_from_slice(BOM.as_bytes());
            out.extend_from_slice(&text.as_bytes()[..end]);
        }
        Err(_) => out.extend_from_slice(&line[..line.len().min(room)]),
    }
    out
}

/// The message for the local socket in the form syslog(3) writes: `<PRI>Mmm dd
/// hh:mm:ss APP[PID]: MSG`, the time in UTC (readers of the local socket take their
/// own time of receipt), the line as it is (no BOM), cut to `max` bytes at a
/// character boundary.
pub fn format_local(h: &Header<'_>, line: &[u8], max: usize) -> Vec<u8> {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let pri = FACILITY * 8 + severity(h.stream);
    // 2026-11-30T07:50:00Z
    let t = humantime::format_rfc3339_seconds(h.time).to_string();
    let month = t
        .get(5..7)
        .and_then(|m| m.parse::<usize>().ok())
        .and_then(|m| MONTHS.get(m.wrapping_sub(1)))
        .unwrap_or(&"Jan");
    let day = t.get(8..10).unwrap_or("01").trim_start_matches('0');
    let clock = t.get(11..19).unwrap_or("00:00:00");
    let mut out = format!(
        "<{pri}>{month} {day:>2} {clock} {}[{}]: ",
        field(h.app, 48),
        h.procid
    )
    .into_bytes();
    let room = max.saturating_sub(out.len());
    let mut end = line.len().min(room);
    if let Ok(text) = std::str::from_utf8(line) {
        while !text.is_char_boundary(end) {
            end -= 1;
        }
    }
    out.extend_from_slice(&line[..end]);
    out
}

/// A message framed for TCP by octet counting (RFC 6587, 3.4.1): `LEN SP MSG`.
pub fn octet_counted(msg: &[u8]) -> Vec<u8> {
    let mut out = format!("{} ", msg.len()).into_bytes();
    out.extend_from_slice(msg);
    out
}

/// What a sink could not send, shared with the sending thread.
#[derive(Debug, Default)]
struct Counters {
    lines: AtomicU64,
    bytes: AtomicU64,
    /// Messages queued and not yet sent (or dropped).
    pending: AtomicU64,
    /// Bytes of the messages sent.
    sent: AtomicU64,
    error: Mutex<Option<String>>,
}

impl Counters {
    fn drop_message(&self, len: usize, why: Option<String>) {
        self.lines.fetch_add(1, Ordering::Relaxed);
        self.bytes.fetch_add(len as u64, Ordering::Relaxed);
        if let Some(why) = why {
            *self.error.lock().unwrap_or_else(PoisonError::into_inner) = Some(why);
        }
    }
}

/// A message on its way, and whom to tell if it is dropped.
type Message = (Vec<u8>, Arc<Counters>);

/// The queue of one destination, emptied by its thread. Cloning gives another handle.
#[derive(Clone)]
pub struct Sender {
    tx: SyncSender<Message>,
    dest: Destination,
    /// Bytes of the messages in the queue.
    queued: Arc<AtomicU64>,
}

impl Sender {
    /// The sender of `dest`: one thread per destination and process, started at the
    /// first use.
    pub fn start(dest: Destination) -> Sender {
        static SENDERS: OnceLock<Mutex<Vec<Sender>>> = OnceLock::new();
        let mut all = SENDERS
            .get_or_init(Default::default)
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(s) = all.iter().find(|s| s.dest == dest) {
            return s.clone();
        }
        let (tx, rx) = sync_channel::<Message>(QUEUE);
        let d = dest.clone();
        let queued = Arc::new(AtomicU64::new(0));
        let taken = queued.clone();
        let spawned = std::thread::Builder::new()
            .name("tend-syslog".into())
            .stack_size(256 << 10)
            .spawn(move || {
                let mut t = Transport::new(d);
                while let Ok((msg, counters)) = rx.recv() {
                    taken.fetch_sub(msg.len() as u64, Ordering::AcqRel);
                    match t.send(&msg) {
                        Ok(()) => {
                            counters.sent.fetch_add(msg.len() as u64, Ordering::Relaxed);
                        }
                        Err(e) => counters.drop_message(
                            msg.len(),
                            Some(format!("{}: {}", t.dest, crate::text::io_error(&e))),
                        ),
                    }
                    counters.pending.fetch_sub(1, Ordering::Release);
                }
            });
        if let Err(e) = spawned {
            super::say!(
                "tend: error: cannot start sending to syslog: {}; lines for {dest} are dropped",
                crate::text::io_error(&e)
            );
        }
        // Without a thread the receiver is gone: every send fails, and is counted.
        let s = Sender { tx, dest, queued };
        all.push(s.clone());
        s
    }
}

/// The messages of one sink still on their way, to await at the end of a stream.
pub struct Queued(Arc<Counters>);

impl Queued {
    /// Waits (on the runtime's timer, never blocking the thread) until the messages
    /// queued are sent or dropped, at most `limit`: the counters in the state file the
    /// exit writes then say what was dropped, and an exiting supervisor takes no line
    /// with it. A destination that does not answer costs this stream's end `limit`,
    /// and nobody else anything.
    pub async fn settled(self, limit: Duration) {
        let deadline = tokio::time::Instant::now() + limit;
        while self.0.pending.load(Ordering::Acquire) > 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

#[cfg(test)]
impl Sender {
    /// A sender to `dest` whose queue (of `bound` messages) nobody empties while the
    /// [`Unsent`] lives: what a destination that never answers looks like.
    pub(crate) fn unemptied(dest: Destination, bound: usize) -> (Sender, Unsent) {
        let (tx, rx) = sync_channel::<Message>(bound);
        let queued = Default::default();
        (Sender { tx, dest, queued }, Unsent(rx))
    }
}

/// The other end of an [`Sender::unemptied`] queue.
#[cfg(test)]
pub(crate) struct Unsent(#[allow(dead_code)] std::sync::mpsc::Receiver<Message>);

/// One stream of one service, as syslog messages.
pub struct SyslogSink {
    sender: Sender,
    app: String,
    hostname: String,
    stream: Stream,
    partial: Vec<u8>,
    counters: Arc<Counters>,
}

impl SyslogSink {
    /// A sink sending the lines of `stream` of the service `app` through `sender`.
    pub fn new(sender: Sender, app: String, stream: Stream) -> SyslogSink {
        SyslogSink {
            sender,
            app,
            hostname: hostname(),
            stream,
            partial: Vec::new(),
            counters: Default::default(),
        }
    }

    /// Where the messages go, in words.
    pub fn destination(&self) -> String {
        self.sender.dest.to_string()
    }

    /// Takes in a chunk: each line it ends becomes a message.
    pub fn write(&mut self, chunk: &[u8]) {
        let mut rest = chunk;
        while let Some(i) = memchr::memchr(b'\n', rest) {
            if self.partial.is_empty() {
                self.send(&rest[..i]);
            } else {
                self.partial.extend_from_slice(&rest[..i]);
                let line = std::mem::take(&mut self.partial);
                self.send(&line);
            }
            rest = &rest[i + 1..];
        }
        self.partial.extend_from_slice(rest);
        if self.partial.len() >= MAX_MESSAGE {
            // A line longer than a message: sent as it is so far (and cut).
            let line = std::mem::take(&mut self.partial);
            self.send(&line);
        }
    }

    /// The output ended: a line not ended is sent. Never waits: the pump then gives
    /// the queue up to [`FLUSH_WAIT`] ([`Queued::settled`]) without holding up the
    /// supervisor's thread.
    pub fn finish_line(&mut self) {
        if !self.partial.is_empty() {
            let line = std::mem::take(&mut self.partial);
            self.send(&line);
        }
    }

    /// This sink's messages still queued, to be awaited.
    pub fn queued(&self) -> Queued {
        Queued(self.counters.clone())
    }

    fn send(&self, line: &[u8]) {
        let h = Header {
            stream: self.stream,
            time: SystemTime::now(),
            hostname: &self.hostname,
            app: &self.app,
            procid: std::process::id(),
        };
        let msg = match self.sender.dest {
            Destination::Local(_) => format_local(&h, line, MAX_MESSAGE),
            _ => format(&h, line, MAX_MESSAGE),
        };
        let len = msg.len();
        let queued = &self.sender.queued;
        if queued.fetch_add(len as u64, Ordering::AcqRel) + len as u64 > QUEUE_BYTES {
            queued.fetch_sub(len as u64, Ordering::AcqRel);
            self.counters.drop_message(len, None);
            return;
        }
        self.counters.pending.fetch_add(1, Ordering::AcqRel);
        match self.sender.tx.try_send((msg, self.counters.clone())) {
            Ok(()) => {}
            Err(e) => {
                self.counters.pending.fetch_sub(1, Ordering::AcqRel);
                queued.fetch_sub(len as u64, Ordering::AcqRel);
                self.refused(e, len);
            }
        }
    }

    fn refused(&self, e: TrySendError<Message>, len: usize) {
        match e {
            TrySendError::Full(_) => self.counters.drop_message(len, None),
            TrySendError::Disconnected(_) => self.counters.drop_message(
                len,
                Some(format!("{}: no thread sends to it", self.sender.dest)),
            ),
        }
    }

    /// What could not be sent.
    pub fn dropped(&self) -> Dropped {
        Dropped {
            lines: self.counters.lines.load(Ordering::Relaxed),
            bytes: self.counters.bytes.load(Ordering::Relaxed),
        }
    }

    /// Bytes of the messages sent so far (as they went out, headers included).
    pub fn sent(&self) -> u64 {
        self.counters.sent.load(Ordering::Relaxed)
    }

    /// The last reason a message could not be sent, once.
    pub fn take_error(&mut self) -> Option<io::Error> {
        let mut e = self
            .counters
            .error
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        e.take().map(io::Error::other)
    }
}

/// This host's name, as syslog shows it.
fn hostname() -> String {
    #[cfg(unix)]
    let name = nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok());
    #[cfg(windows)]
    let name = std::env::var("COMPUTERNAME").ok();
    name.filter(|n| !n.is_empty()).unwrap_or_else(|| "-".into())
}

/// A connection to a destination, made when needed.
struct Transport {
    dest: Destination,
    #[cfg(unix)]
    local: Option<std::os::unix::net::UnixDatagram>,
    udp: Option<std::net::UdpSocket>,
    tcp: Option<std::net::TcpStream>,
    /// After a failure, no new connection before this.
    retry_at: Option<Instant>,
}

impl Transport {
    fn new(dest: Destination) -> Transport {
        Transport {
            dest,
            #[cfg(unix)]
            local: None,
            udp: None,
            tcp: None,
            retry_at: None,
        }
    }

    /// Sends one message; an error drops it (the next one tries again).
    fn send(&mut self, msg: &[u8]) -> io::Result<()> {
        match self.dest.clone() {
            #[cfg(unix)]
            Destination::Local(path) => {
                if self.local.is_none() {
                    let s = std::os::unix::net::UnixDatagram::unbound()?;
                    s.set_write_timeout(Some(Duration::from_secs(1)))?;
                    self.local = Some(s);
                }
                let Some(s) = &self.local else {
                    return Err(io::ErrorKind::NotConnected.into());
                };
                s.send_to(msg, &path).map(drop)
            }
            #[cfg(windows)]
            Destination::Local(_) => Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "Windows has no /dev/log: set log.syslog",
            )),
            Destination::Udp(addr) => {
                if self.udp.is_none() {
                    let to = resolve(&addr)?;
                    let any = if to.is_ipv4() { "0.0.0.0:0" } else { "[::]:0" };
                    let s = std::net::UdpSocket::bind(any)?;
                    s.connect(to)?;
                    self.udp = Some(s);
                }
                let Some(s) = &self.udp else {
                    return Err(io::ErrorKind::NotConnected.into());
                };
                s.send(msg).map(drop)
            }
            Destination::Tcp(addr) => {
                if self.tcp.is_none() {
                    if self.retry_at.is_some_and(|t| Instant::now() < t) {
                        return Err(io::ErrorKind::NotConnected.into());
                    }
                    let s = resolve(&addr).and_then(|to| {
                        let s = std::net::TcpStream::connect_timeout(&to, Duration::from_secs(2))?;
                        s.set_write_timeout(Some(Duration::from_secs(5)))?;
                        Ok(s)
                    });
                    match s {
                        Ok(s) => self.tcp = Some(s),
                        Err(e) => {
                            self.retry_at = Some(Instant::now() + RECONNECT_EVERY);
                            return Err(e);
                        }
                    }
                }
                let Some(s) = &mut self.tcp else {
                    return Err(io::ErrorKind::NotConnected.into());
                };
                let r = s.write_all(&octet_counted(msg));
                if r.is_err() {
                    // A frame cut short would spoil the next ones: start anew.
                    self.tcp = None;
                    self.retry_at = Some(Instant::now() + RECONNECT_EVERY);
                }
                r
            }
        }
    }
}

fn resolve(addr: &str) -> io::Result<std::net::SocketAddr> {
    use std::net::ToSocketAddrs;
    addr.to_socket_addrs()?
        .next()
        .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, format!("{addr}: no address")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::UNIX_EPOCH;

    fn header(stream: Stream) -> Header<'static> {
        Header {
            stream,
            time: UNIX_EPOCH + Duration::from_micros(1_795_000_000_123_456),
            hostname: "box",
            app: "orders",
            procid: 42,
        }
    }

    #[test]
    fn messages_are_rfc5424_with_the_stream_as_severity() {
        const BOM: &str = "\u{feff}";
        const HEAD: &str = "<30>1 2026-11-18T11:06:40.123456Z box orders 42 stdout - ";
        let long = "é".repeat(100); // 200 bytes
        #[rustfmt::skip]
        let table: Vec<(Stream, &[u8], usize, String)> = vec![
            (Stream::Out, b"listening on :8080", 8192,
                format!("<30>1 2026-11-18T11:06:40.123456Z box orders 42 stdout - {BOM}listening on :8080")),
            (Stream::Err, b"shutting down gracefully", 8192,
                format!("<27>1 2026-11-18T11:06:40.123456Z box orders 42 stderr - {BOM}shutting down gracefully")),
            // CRLF ends a line as LF does.
            (Stream::Out, b"dos line\r", 8192,
                format!("<30>1 2026-11-18T11:06:40.123456Z box orders 42 stdout - {BOM}dos line")),
            // An empty line is an empty MSG, still marked UTF-8.
            (Stream::Out, b"", 8192,
                format!("<30>1 2026-11-18T11:06:40.123456Z box orders 42 stdout - {BOM}")),
            // Not UTF-8: the bytes as they are, no BOM.
            (Stream::Err, b"caf\xe9", 8192,
                "<27>1 2026-11-18T11:06:40.123456Z box orders 42 stderr - caf\u{fffd}".into()),
            // Cut at a character boundary to fit.
            (Stream::Out, long.as_bytes(), HEAD.len() + 3 + 7,
                format!("{HEAD}{BOM}{}", "é".repeat(3))),
        ];
        for (stream, line, max, want) in table {
            let got = format(&header(stream), line, max);
            if std::str::from_utf8(line).is_ok() {
                assert_eq!(String::from_utf8(got.clone()).unwrap(), want, "{line:?}");
            } else {
                assert_eq!(String::from_utf8_lossy(&got), want, "{line:?}");
                assert!(!got.windows(3).any(|w| w == BOM.as_bytes()));
            }
            assert!(got.len() <= max, "{} > {max}", got.len());
        }
    }

    #[test]
    fn header_fields_that_rfc5424_does_not_allow_are_nil() {
        let mut h = header(Stream::Out);
        let app = "a".repeat(64);
        h.app = &app;
        h.hostname = "my host";
        let msg = String::from_utf8(format(&h, b"x", 8192)).unwrap();
        let fields: Vec<&str> = msg.splitn(8, ' ').collect();
        assert_eq!(fields[2], "-", "a hostname with a space");
        assert_eq!(
            fields[3],
            "a".repeat(48),
            "APP-NAME is at most 48 characters"
        );
        h.hostname = "";
        h.app = "ünïcode";
        let msg = String::from_utf8(format(&h, b"x", 8192)).unwrap();
        let fields: Vec<&str> = msg.splitn(8, ' ').collect();
        assert_eq!((fields[2], fields[3]), ("-", "-"));
    }

    #[test]
    fn the_local_socket_gets_what_syslog3_writes() {
        let h = |stream| Header {
            time: humantime::parse_rfc3339("2026-03-05T07:08:09.5Z").unwrap(),
            ..header(stream)
        };
        #[rustfmt::skip]
        let table: Vec<(Stream, &[u8], usize, &[u8])> = vec![
            (Stream::Out, b"listening on :8080", 8192, b"<30>Mar  5 07:08:09 orders[42]: listening on :8080"),
            (Stream::Err, b"shutting down gracefully\r", 8192, b"<27>Mar  5 07:08:09 orders[42]: shutting down gracefully"),
            (Stream::Err, "grüße".as_bytes(), 8192, "<27>Mar  5 07:08:09 orders[42]: grüße".as_bytes()),
            (Stream::Err, b"caf\xe9", 8192, b"<27>Mar  5 07:08:09 orders[42]: caf\xe9"),
            // Cut at a character boundary: "gr" and not half of "ü".
            (Stream::Out, "grüße".as_bytes(), 32 + 3, b"<30>Mar  5 07:08:09 orders[42]: gr"),
        ];
        for (stream, line, max, want) in table {
            let got = format_local(&h(stream), line, max);
            assert_eq!(got, want, "{}", String::from_utf8_lossy(&got));
        }
        let december = Header {
            time: humantime::parse_rfc3339("2026-12-25T23:59:59Z").unwrap(),
            ..header(Stream::Out)
        };
        assert!(format_local(&december, b"x", 100).starts_with(b"<30>Dec 25 23:59:59 "));
    }

    #[test]
    fn tcp_frames_count_octets() {
        assert_eq!(octet_counted(b"<30>1 x"), b"7 <30>1 x");
        let bom = "é\u{feff}";
        assert_eq!(
            octet_counted(bom.as_bytes()),
            format!("5 {bom}").as_bytes(),
            "octets, not characters"
        );
    }

    #[test]
    fn addresses_read_as_written_or_say_what_is_wrong() {
        let ok = [
            (
                "udp://127.0.0.1:514",
                Destination::Udp("127.0.0.1:514".into()),
            ),
            (
                "tcp://logs.example.com:6514",
                Destination::Tcp("logs.example.com:6514".into()),
            ),
            ("udp://[::1]:514", Destination::Udp("[::1]:514".into())),
            (
                "unix:///run/my.sock",
                Destination::Local("/run/my.sock".into()),
            ),
        ];
        for (text, want) in ok {
            assert_eq!(parse_address(text), Ok(want.clone()), "{text}");
            assert_eq!(want.to_string(), text);
        }
        let bad = [
            ("127.0.0.1:514", "is not a syslog address"),
            ("http://x:1", "unknown scheme `http`"),
            ("udp://x", "has no port"),
            ("udp://x:0", "is not a port"),
            ("udp://x:99999", "is not a port"),
            ("udp://:514", "is not a host name"),
            ("tcp://a b:514", "is not a host name"),
            ("udp://[::1:514", "ends with `]`"),
            ("unix://dev/log", "must be absolute"),
        ];
        for (text, why) in bad {
            let e = parse_address(text).unwrap_err();
            assert!(e.contains(why), "{text}: {e}");
        }
        assert_eq!(
            Destination::of(None),
            Ok(Destination::Local(LOCAL_SOCKET.into()))
        );
        assert_eq!(
            Destination::Local(LOCAL_SOCKET.into()).to_string(),
            LOCAL_SOCKET
        );
    }

    /// Lines reach a UDP server whole, one message each, across chunks.
    #[test]
    fn lines_arrive_as_messages_over_udp() {
        let server = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        server
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let dest = Destination::Udp(server.local_addr().unwrap().to_string());
        let mut sink = SyslogSink::new(Sender::start(dest), "web".into(), Stream::Err);
        sink.write(b"first li");
        sink.write(b"ne\nsecond\nthi");
        sink.finish_line();
        let mut got = Vec::new();
        let mut buf = [0u8; 9000];
        for _ in 0..3 {
            let n = server.recv(&mut buf).unwrap();
            let msg = String::from_utf8(buf[..n].to_vec()).unwrap();
            let (head, text) = msg.split_once(" - \u{feff}").unwrap();
            assert!(
                head.starts_with("<27>1 ") && head.contains(" web "),
                "{head}"
            );
            got.push(text.to_string());
        }
        assert_eq!(got, ["first line", "second", "thi"]);
        assert_eq!(sink.dropped(), Dropped::default());
    }

    /// A full queue drops (and counts) rather than waits.
    #[test]
    fn a_full_queue_drops_and_counts() {
        let (sender, _unsent) = Sender::unemptied(Destination::Udp("127.0.0.1:9".into()), 2);
        let mut sink = SyslogSink::new(sender, "web".into(), Stream::Out);
        sink.write(b"1\n2\n3\n4\n");
        let d = sink.dropped();
        assert_eq!(d.lines, 2, "two queued, two dropped");
        assert!(d.bytes > 2 * 50, "{d:?}");
    }

    /// The queue holds at most [`QUEUE_BYTES`], however few messages that is: long
    /// lines to a destination that does not answer are dropped past it, and counted.
    #[test]
    fn the_queue_is_bounded_in_bytes_too() {
        let (sender, _unsent) = Sender::unemptied(Destination::Udp("127.0.0.1:9".into()), QUEUE);
        let queued = sender.queued.clone();
        let mut sink = SyslogSink::new(sender, "web".into(), Stream::Out);
        let line = format!("{}\n", "x".repeat(MAX_MESSAGE));
        let lines = 4 * QUEUE_BYTES as usize / MAX_MESSAGE;
        for _ in 0..lines {
            sink.write(line.as_bytes());
        }
        let held = queued.load(Ordering::Acquire);
        assert!(held <= QUEUE_BYTES, "{held} bytes queued");
        assert!(
            held > QUEUE_BYTES - MAX_MESSAGE as u64,
            "{held}: it filled up"
        );
        let d = sink.dropped();
        let kept = held as usize / MAX_MESSAGE;
        assert_eq!(d.lines as usize, lines - kept, "{d:?}");
        assert_eq!(d.bytes, (d.lines as usize * MAX_MESSAGE) as u64, "{d:?}");
    }
}
