//! `sd_notify(3)`: telling systemd a service's state in datagrams of `KEY=VALUE` lines.
//!
//! The wire format is tiny, so this module implements it directly rather than binding
//! libsystemd: the message is newline-separated assignments, sent as one datagram from
//! any `AF_UNIX` socket to the address in `NOTIFY_SOCKET`. systemd learns the sender's
//! pid from the kernel-attached credentials, so nothing else has to be sent. The
//! encoding is a pure function so its rules (key charset, no line breaks in values, the
//! size limit) are tested without a socket.

use super::Error;
use std::io;
use std::path::PathBuf;
use std::time::Duration;

/// The largest notification systemd accepts, in bytes (its `NOTIFY_BUFFER_MAX`, which
/// is `PIPE_BUF`). Longer datagrams are ignored by the service manager.
pub const MAX_MESSAGE_LEN: usize = 4096;

/// How long a [`Notifier`] waits, by default, for room in the service manager's queue
/// before a send fails with `WouldBlock`/`TimedOut`. A busy or hung PID 1 then cannot
/// stall the caller indefinitely; see [`Notifier::set_send_timeout`].
pub const DEFAULT_SEND_TIMEOUT: Duration = Duration::from_secs(1);

/// Encodes assignments as one notification datagram: `KEY=VALUE` lines joined by `\n`
/// (no trailing newline, as `sd_notify("READY=1")` sends).
///
/// Keys must be non-empty and use only `A`–`Z`, `0`–`9` and `_`. Values must not contain
/// `\n`, `\r` (older systemd splits on both) or NUL (systemd drops such messages); pass
/// free text through [`sanitize_value`] first. The result must fit in
/// [`MAX_MESSAGE_LEN`].
///
/// ```
/// use tend_service::systemd::encode;
/// let msg = encode(&[("READY", "1"), ("STATUS", "serving")]).unwrap();
/// assert_eq!(msg, b"READY=1\nSTATUS=serving");
/// assert!(encode(&[("bad key", "1")]).is_err());
/// ```
pub fn encode(assignments: &[(&str, &str)]) -> Result<Vec<u8>, Error> {
    if assignments.is_empty() {
        return Err(Error::NoAssignments);
    }
    let mut out = Vec::new();
    for (i, (key, value)) in assignments.iter().enumerate() {
        let key_ok = !key.is_empty()
            && key
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_');
        if !key_ok {
            return Err(Error::InvalidKey((*key).to_owned()));
        }
        if value.bytes().any(|b| matches!(b, b'\n' | b'\r' | b'\0')) {
            return Err(Error::InvalidValue {
                key: (*key).to_owned(),
            });
        }
        if i > 0 {
            out.push(b'\n');
        }
        out.extend_from_slice(key.as_bytes());
        out.push(b'=');
        out.extend_from_slice(value.as_bytes());
    }
    if out.len() > MAX_MESSAGE_LEN {
        return Err(Error::MessageTooLong { len: out.len() });
    }
    Ok(out)
}

/// Makes free text a valid notification value: each line break (`\n`, `\r`) and NUL
/// becomes a space, so a multi-line message cannot inject further assignments.
///
/// ```
/// use tend_service::systemd::sanitize_value;
/// assert_eq!(sanitize_value("exit 1\nREADY=1"), "exit 1 READY=1");
/// ```
pub fn sanitize_value(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '\n' | '\r' | '\0' => ' ',
            c => c,
        })
        .collect()
}

/// Cuts `text` to at most `max` bytes, on a character boundary.
fn truncate_to(text: &mut String, max: usize) {
    if text.len() > max {
        let mut end = max;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
    }
}

/// Where notifications go: the two forms `NOTIFY_SOCKET` takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotifyAddr {
    /// A socket in the file system (`/run/systemd/notify`).
    Path(PathBuf),
    /// A socket in Linux's abstract namespace: `NOTIFY_SOCKET=@name`, holding the name
    /// without the `@`.
    Abstract(String),
}

/// Parses a `NOTIFY_SOCKET` value: an absolute path, or `@name` for the abstract
/// namespace. systemd's `vsock:` addresses (for virtual machines) are not supported.
///
/// ```
/// use tend_service::systemd::{parse_socket_addr, NotifyAddr};
/// assert_eq!(
///     parse_socket_addr("@tend/notify").unwrap(),
///     NotifyAddr::Abstract("tend/notify".into())
/// );
/// assert!(parse_socket_addr("relative/path").is_err());
/// ```
pub fn parse_socket_addr(addr: &str) -> Result<NotifyAddr, Error> {
    let invalid = |reason| Error::InvalidSocketAddr {
        addr: addr.to_owned(),
        reason,
    };
    if addr.is_empty() {
        Err(invalid("it is empty"))
    } else if addr.starts_with('/') {
        Ok(NotifyAddr::Path(PathBuf::from(addr)))
    } else if let Some(name) = addr.strip_prefix('@') {
        if name.is_empty() {
            Err(invalid("the abstract socket name after '@' is empty"))
        } else {
            Ok(NotifyAddr::Abstract(name.to_owned()))
        }
    } else if addr.starts_with("vsock:") || addr.starts_with("vsock-") {
        Err(invalid("vsock addresses are not supported"))
    } else {
        Err(invalid("expected an absolute path or @name"))
    }
}

/// Wraps a protocol error as `io::ErrorKind::InvalidInput`.
fn invalid_input(error: Error) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, error)
}

/// A connection to the service manager's notification socket.
///
/// Holds one unbound `AF_UNIX` datagram socket (close-on-exec, so children never
/// inherit it) and the destination address, resolved again on every send so a
/// re-created socket file is found. Each method sends exactly one datagram and returns
/// the send's error, if any; whether to ignore it is the caller's decision (systemd's
/// own `sd_notify` callers usually do).
///
/// It is `Send + Sync`: several threads may notify through one `Notifier`.
///
/// Linux only: on other platforms no `Notifier` can be constructed, so
/// [`Notifier::from_env`] returns `None` and code using it needs no `cfg`.
#[derive(Debug)]
pub struct Notifier {
    #[cfg(target_os = "linux")]
    socket: std::os::unix::net::UnixDatagram,
    #[cfg(target_os = "linux")]
    addr: std::os::unix::net::SocketAddr,
    /// Makes the type uninhabited where the protocol does not exist.
    #[cfg(not(target_os = "linux"))]
    never: std::convert::Infallible,
}

impl Notifier {
    /// The notifier for `NOTIFY_SOCKET`, or `None` when the variable is unset or empty
    /// (the process was not started by systemd with `Type=notify`), when its value is
    /// not an address this module can use, or when the socket cannot be created. Use
    /// [`Notifier::connect`] to see why.
    ///
    /// The variable is left in the environment; remove it before spawning children
    /// that should not notify (tend does this itself).
    pub fn from_env() -> Option<Notifier> {
        let addr = super::env_str("NOTIFY_SOCKET")?;
        if addr.is_empty() {
            return None;
        }
        Notifier::connect(&addr).ok()
    }

    /// A notifier sending to `addr`, in `NOTIFY_SOCKET`'s syntax (see
    /// [`parse_socket_addr`]). Nothing is sent yet, and the destination need not exist
    /// yet: a missing socket is reported by the first send.
    ///
    /// Sends wait at most [`DEFAULT_SEND_TIMEOUT`] for the receiver.
    ///
    /// # Errors
    ///
    /// `InvalidInput` wrapping an [`Error`] for a malformed address (or a path too long
    /// for a socket address), the socket's creation error, and `Unsupported` on
    /// platforms other than Linux.
    pub fn connect(addr: &str) -> io::Result<Notifier> {
        let parsed = parse_socket_addr(addr).map_err(invalid_input)?;
        Notifier::open(&parsed)
    }

    #[cfg(target_os = "linux")]
    fn open(addr: &NotifyAddr) -> io::Result<Notifier> {
        use std::os::linux::net::SocketAddrExt;
        use std::os::unix::net::{SocketAddr, UnixDatagram};

        let addr = match addr {
            NotifyAddr::Path(path) => SocketAddr::from_pathname(path)?,
            NotifyAddr::Abstract(name) => SocketAddr::from_abstract_name(name.as_bytes())?,
        };
        let socket = UnixDatagram::unbound()?;
        socket.set_write_timeout(Some(DEFAULT_SEND_TIMEOUT))?;
        Ok(Notifier { socket, addr })
    }

    #[cfg(not(target_os = "linux"))]
    fn open(_addr: &NotifyAddr) -> io::Result<Notifier> {
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "the systemd notification protocol is only available on Linux",
        ))
    }

    /// Sets how long a send may wait for room in the receiver's queue; `None` waits
    /// indefinitely, as libsystemd's `sd_notify` does. A zero duration is rejected.
    pub fn set_send_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        #[cfg(target_os = "linux")]
        {
            self.socket.set_write_timeout(timeout)
        }
        #[cfg(not(target_os = "linux"))]
        {
            let _ = timeout;
            let never = self.never;
            match never {}
        }
    }

    /// Sends arbitrary assignments in one datagram, for fields without a method here
    /// (`ERRNO=`, `BUSERROR=`, `WATCHDOG=trigger`, `WATCHDOG_USEC=`, custom keys).
    ///
    /// # Errors
    ///
    /// `InvalidInput` wrapping an [`Error`] when [`encode`] rejects the message;
    /// otherwise the socket's error.
    pub fn notify(&self, assignments: &[(&str, &str)]) -> io::Result<()> {
        let message = encode(assignments).map_err(invalid_input)?;
        self.send(&message)
    }

    /// `READY=1`: start-up is complete (or a reload finished).
    pub fn ready(&self) -> io::Result<()> {
        self.notify(&[("READY", "1")])
    }

    /// `STATUS=text`: a one-line description of the state, shown by `systemctl status`.
    ///
    /// Line breaks and NULs in `text` become spaces, and text too long for one
    /// datagram is cut (on a character boundary), so any text can be sent.
    pub fn status(&self, text: &str) -> io::Result<()> {
        let mut text = sanitize_value(text);
        truncate_to(&mut text, MAX_MESSAGE_LEN - "STATUS=".len());
        self.notify(&[("STATUS", &text)])
    }

    /// `STOPPING=1`: the service is shutting down.
    pub fn stopping(&self) -> io::Result<()> {
        self.notify(&[("STOPPING", "1")])
    }

    /// `RELOADING=1` with `MONOTONIC_USEC=` set to now on `CLOCK_MONOTONIC`, which
    /// `Type=notify-reload` (systemd 253 and later) requires to match the reload to its
    /// request. Send [`Notifier::ready`] when the reload is done.
    pub fn reloading(&self) -> io::Result<()> {
        let now = monotonic_usec()?.to_string();
        self.notify(&[("RELOADING", "1"), ("MONOTONIC_USEC", &now)])
    }

    /// `WATCHDOG=1`: the keep-alive ping, due at least every half of
    /// [`watchdog_interval`](super::watchdog_interval).
    pub fn watchdog(&self) -> io::Result<()> {
        self.notify(&[("WATCHDOG", "1")])
    }

    /// `MAINPID=pid`: tells systemd which process is the service's main process.
    pub fn main_pid(&self, pid: u32) -> io::Result<()> {
        self.notify(&[("MAINPID", &pid.to_string())])
    }

    /// `EXTEND_TIMEOUT_USEC=`: asks for `by` more time for the current start-up,
    /// reload or stop, counted from now; send it again before it runs out.
    pub fn extend_timeout(&self, by: Duration) -> io::Result<()> {
        self.notify(&[("EXTEND_TIMEOUT_USEC", &by.as_micros().to_string())])
    }

    /// Sends one encoded datagram.
    #[cfg(target_os = "linux")]
    fn send(&self, message: &[u8]) -> io::Result<()> {
        let sent = self.socket.send_to_addr(message, &self.addr)?;
        if sent == message.len() {
            Ok(())
        } else {
            Err(io::Error::new(
                io::ErrorKind::WriteZero,
                format!("sent {sent} of {} bytes", message.len()),
            ))
        }
    }

    #[cfg(not(target_os = "linux"))]
    fn send(&self, _message: &[u8]) -> io::Result<()> {
        let never = self.never;
        match never {}
    }
}

/// `CLOCK_MONOTONIC` now, in microseconds: the clock systemd's `MONOTONIC_USEC=` uses.
/// (std's `Instant` reads the same clock but does not expose its value.)
#[cfg(target_os = "linux")]
fn monotonic_usec() -> io::Result<u64> {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec for the duration of the call.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    let secs = u64::try_from(ts.tv_sec).map_err(|_| io::Error::other("negative clock"))?;
    let nanos = u64::try_from(ts.tv_nsec).map_err(|_| io::Error::other("negative clock"))?;
    Ok(secs * 1_000_000 + nanos / 1_000)
}

#[cfg(not(target_os = "linux"))]
fn monotonic_usec() -> io::Result<u64> {
    Err(io::Error::from(io::ErrorKind::Unsupported))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encode_joins_assignments_without_trailing_newline() {
        assert_eq!(encode(&[("READY", "1")]).unwrap(), b"READY=1");
        assert_eq!(
            encode(&[("RELOADING", "1"), ("MONOTONIC_USEC", "42")]).unwrap(),
            b"RELOADING=1\nMONOTONIC_USEC=42"
        );
        // Values may contain '=' and any non-control text; empty values are allowed.
        assert_eq!(
            encode(&[("STATUS", "a=b ünï"), ("X_1", "")]).unwrap(),
            "STATUS=a=b ünï\nX_1=".as_bytes()
        );
    }

    #[test]
    fn encode_rejects_bad_keys_and_values() {
        assert_eq!(encode(&[]), Err(Error::NoAssignments));
        for key in ["", "ready", "READY=1", "A B", "A\nB", "É", "A-B", "A\0"] {
            assert_eq!(
                encode(&[("READY", "1"), (key, "1")]),
                Err(Error::InvalidKey(key.to_owned())),
                "key {key:?}"
            );
        }
        for value in ["a\nb", "a\rb", "a\0b", "\n"] {
            assert_eq!(
                encode(&[("STATUS", value)]),
                Err(Error::InvalidValue {
                    key: "STATUS".into()
                }),
                "value {value:?}"
            );
        }
    }

    #[test]
    fn encode_enforces_the_size_limit() {
        let fits = "x".repeat(MAX_MESSAGE_LEN - "STATUS=".len());
        assert_eq!(encode(&[("STATUS", &fits)]).unwrap().len(), MAX_MESSAGE_LEN);
        let over = format!("{fits}x");
        assert_eq!(
            encode(&[("STATUS", &over)]),
            Err(Error::MessageTooLong {
                len: MAX_MESSAGE_LEN + 1
            })
        );
    }

    #[test]
    fn sanitize_replaces_line_breaks_and_nul() {
        assert_eq!(sanitize_value("a\nb\r\nc\0d"), "a b  c d");
        assert_eq!(sanitize_value("plain"), "plain");
        assert!(encode(&[("STATUS", &sanitize_value("x\ny\rz"))]).is_ok());
    }

    #[test]
    fn truncation_keeps_char_boundaries() {
        let mut s = "ab€".to_owned(); // '€' is 3 bytes: 2..5
        truncate_to(&mut s, 4);
        assert_eq!(s, "ab");
        let mut s = "ab€".to_owned();
        truncate_to(&mut s, 5);
        assert_eq!(s, "ab€");
    }

    #[test]
    fn socket_addresses() {
        assert_eq!(
            parse_socket_addr("/run/systemd/notify"),
            Ok(NotifyAddr::Path("/run/systemd/notify".into()))
        );
        assert_eq!(
            parse_socket_addr("@x"),
            Ok(NotifyAddr::Abstract("x".into()))
        );
        for bad in ["", "@", "run/notify", "vsock:2:1234", "./notify"] {
            assert!(
                matches!(parse_socket_addr(bad), Err(Error::InvalidSocketAddr { .. })),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn connect_reports_bad_addresses_as_invalid_input() {
        let err = Notifier::connect("not/absolute").unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        let inner = err.get_ref().and_then(|e| e.downcast_ref::<Error>());
        assert!(matches!(inner, Some(Error::InvalidSocketAddr { .. })));
    }

    #[cfg(target_os = "linux")]
    mod linux {
        use super::super::*;
        use std::os::linux::net::SocketAddrExt;
        use std::os::unix::net::{SocketAddr, UnixDatagram};
        use std::path::{Path, PathBuf};
        use std::sync::atomic::{AtomicUsize, Ordering};

        static COUNTER: AtomicUsize = AtomicUsize::new(0);

        /// A name unique to this process and call.
        fn unique(prefix: &str) -> String {
            let n = COUNTER.fetch_add(1, Ordering::Relaxed);
            format!("{prefix}-{}-{n}", std::process::id())
        }

        /// A directory under the system temp dir, removed on drop.
        struct TempDir(PathBuf);

        impl TempDir {
            fn new() -> TempDir {
                let dir = std::env::temp_dir().join(unique("tend-service-test"));
                std::fs::create_dir(&dir).unwrap();
                TempDir(dir)
            }
            fn path(&self) -> &Path {
                &self.0
            }
        }

        impl Drop for TempDir {
            fn drop(&mut self) {
                let _ = std::fs::remove_dir_all(&self.0);
            }
        }

        /// Receives one datagram, failing the test instead of hanging.
        fn recv(socket: &UnixDatagram) -> Vec<u8> {
            socket
                .set_read_timeout(Some(Duration::from_secs(5)))
                .unwrap();
            let mut buf = vec![0; MAX_MESSAGE_LEN + 1];
            let n = socket.recv(&mut buf).unwrap();
            buf.truncate(n);
            buf
        }

        /// Sends every message type through `notifier` and checks the exact bytes.
        fn exercise(notifier: &Notifier, receiver: &UnixDatagram) {
            notifier.ready().unwrap();
            assert_eq!(recv(receiver), b"READY=1");

            notifier.status("running (pid 42)").unwrap();
            assert_eq!(recv(receiver), b"STATUS=running (pid 42)");

            notifier.status("exit 1\nREADY=1\r\n").unwrap();
            assert_eq!(recv(receiver), b"STATUS=exit 1 READY=1  ");

            notifier.stopping().unwrap();
            assert_eq!(recv(receiver), b"STOPPING=1");

            notifier.watchdog().unwrap();
            assert_eq!(recv(receiver), b"WATCHDOG=1");

            notifier.main_pid(4321).unwrap();
            assert_eq!(recv(receiver), b"MAINPID=4321");

            notifier
                .extend_timeout(Duration::from_millis(1500))
                .unwrap();
            assert_eq!(recv(receiver), b"EXTEND_TIMEOUT_USEC=1500000");

            notifier
                .notify(&[("WATCHDOG", "trigger"), ("ERRNO", "2")])
                .unwrap();
            assert_eq!(recv(receiver), b"WATCHDOG=trigger\nERRNO=2");

            let before = monotonic_usec().unwrap();
            notifier.reloading().unwrap();
            let after = monotonic_usec().unwrap();
            let got = String::from_utf8(recv(receiver)).unwrap();
            let usec: u64 = got
                .strip_prefix("RELOADING=1\nMONOTONIC_USEC=")
                .unwrap_or_else(|| panic!("unexpected reload message {got:?}"))
                .parse()
                .unwrap();
            assert!(
                before <= usec && usec <= after,
                "{before} <= {usec} <= {after}"
            );

            // A rejected message sends nothing: the next datagram is the next good one.
            let err = notifier.notify(&[("bad", "1")]).unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
            let long = "€".repeat(MAX_MESSAGE_LEN);
            notifier.status(&long).unwrap();
            let got = recv(receiver);
            assert!(got.len() <= MAX_MESSAGE_LEN && got.len() > MAX_MESSAGE_LEN - 3);
            assert!(String::from_utf8(got).unwrap().starts_with("STATUS=€€"));
        }

        #[test]
        fn notifies_a_socket_in_the_file_system() {
            let dir = TempDir::new();
            let path = dir.path().join("notify");
            let receiver = UnixDatagram::bind(&path).unwrap();
            let notifier = Notifier::connect(path.to_str().unwrap()).unwrap();
            exercise(&notifier, &receiver);
        }

        #[test]
        fn notifies_an_abstract_socket() {
            let name = unique("tend-service-test");
            let addr = SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
            let receiver = UnixDatagram::bind_addr(&addr).unwrap();
            let notifier = Notifier::connect(&format!("@{name}")).unwrap();
            exercise(&notifier, &receiver);
        }

        #[test]
        fn the_destination_is_resolved_on_every_send() {
            let dir = TempDir::new();
            let path = dir.path().join("notify");
            let notifier = Notifier::connect(path.to_str().unwrap()).unwrap();
            // Nobody listens yet: the send fails, and the caller may ignore it.
            assert!(notifier.ready().is_err());
            let receiver = UnixDatagram::bind(&path).unwrap();
            notifier.ready().unwrap();
            assert_eq!(recv(&receiver), b"READY=1");
            // The socket file is replaced (as after a manager restart).
            drop(receiver);
            std::fs::remove_file(&path).unwrap();
            let receiver = UnixDatagram::bind(&path).unwrap();
            notifier.watchdog().unwrap();
            assert_eq!(recv(&receiver), b"WATCHDOG=1");
        }

        #[test]
        fn a_full_queue_times_out_instead_of_blocking() {
            let name = unique("tend-service-full");
            let addr = SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
            let _receiver = UnixDatagram::bind_addr(&addr).unwrap();
            let notifier = Notifier::connect(&format!("@{name}")).unwrap();
            notifier
                .set_send_timeout(Some(Duration::from_millis(50)))
                .unwrap();
            // Nobody reads: the receiver's queue fills and a send eventually fails.
            let err = (0..100_000)
                .find_map(|_| notifier.watchdog().err())
                .expect("the queue never filled");
            assert!(
                matches!(
                    err.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ),
                "{err:?}"
            );
        }

        #[test]
        fn from_env_is_none_without_a_usable_socket() {
            // Read-only check of the current environment: the test runner is not a
            // notify service, so there is normally no NOTIFY_SOCKET.
            if std::env::var_os("NOTIFY_SOCKET").is_none() {
                assert!(Notifier::from_env().is_none());
            }
        }

        #[test]
        fn notifier_is_send_and_sync() {
            fn check<T: Send + Sync>() {}
            check::<Notifier>();
        }
    }
}
