//! The sockets a supervisor passed to this process, as std listeners found by name:
//! tend's `[[listen]]` sockets and systemd's socket units on Linux (descriptors 3, 4, …
//! with `LISTEN_PID`, `LISTEN_FDS`, `LISTEN_FDNAMES`), tend's on Windows (inherited
//! SOCKET handles named in `TEND_LISTEN_HANDLES`, with `LISTEN_FDS` and
//! `LISTEN_FDNAMES`; no `LISTEN_PID`, which cannot be known before the process
//! exists). A program that serves on a passed socket keeps accepting across restarts
//! of itself: the supervisor holds the socket meanwhile and the kernel queues the
//! connections.

use std::net::TcpListener;

use super::Error;

/// A passed socket, by what it is.
#[derive(Debug)]
pub enum Listener {
    /// A TCP (IPv4 or IPv6) socket.
    Tcp(TcpListener),
    /// A Unix stream socket.
    #[cfg(unix)]
    Unix(std::os::unix::net::UnixListener),
    /// Another kind of socket (e.g. a datagram socket of a systemd socket unit).
    #[cfg(unix)]
    Other(std::os::fd::OwnedFd),
}

/// The sockets passed to this process, each with its name (`None` when the
/// supervisor named none).
#[derive(Debug, Default)]
pub struct Listeners {
    passed: Vec<(Option<String>, Listener)>,
}

impl Listeners {
    /// Takes the socket named `name` out of the list (the first, if several have it).
    pub fn take(&mut self, name: &str) -> Option<Listener> {
        let i = self
            .passed
            .iter()
            .position(|(n, _)| n.as_deref() == Some(name))?;
        Some(self.passed.remove(i).1)
    }

    /// Takes the TCP socket named `name`; `None` when there is none of that name, or
    /// it is not TCP (then it stays in the list).
    pub fn take_tcp(&mut self, name: &str) -> Option<TcpListener> {
        let i = self
            .passed
            .iter()
            .position(|(n, l)| n.as_deref() == Some(name) && matches!(l, Listener::Tcp(_)))?;
        match self.passed.remove(i).1 {
            Listener::Tcp(t) => Some(t),
            #[cfg(unix)]
            _ => None,
        }
    }

    /// Takes the Unix socket named `name`; `None` when there is none of that name,
    /// or it is not a Unix socket (then it stays in the list).
    #[cfg(unix)]
    pub fn take_unix(&mut self, name: &str) -> Option<std::os::unix::net::UnixListener> {
        let i = self
            .passed
            .iter()
            .position(|(n, l)| n.as_deref() == Some(name) && matches!(l, Listener::Unix(_)))?;
        match self.passed.remove(i).1 {
            Listener::Unix(u) => Some(u),
            _ => None,
        }
    }

    /// The names of the sockets still in the list, in order.
    pub fn names(&self) -> Vec<Option<&str>> {
        self.passed.iter().map(|(n, _)| n.as_deref()).collect()
    }

    /// How many sockets are still in the list.
    pub fn len(&self) -> usize {
        self.passed.len()
    }

    /// Whether no socket is in the list (none passed, or all taken).
    pub fn is_empty(&self) -> bool {
        self.passed.is_empty()
    }

    /// The sockets still in the list, in the order they were passed.
    pub fn into_vec(self) -> Vec<(Option<String>, Listener)> {
        self.passed
    }
}

/// Interprets tend's Windows variables: `LISTEN_FDS` (how many sockets),
/// `TEND_LISTEN_HANDLES` (their SOCKET handle values, decimal, `:`-separated) and
/// `LISTEN_FDNAMES` (their names, `:`-separated; an empty name reads as `None`, as
/// every name does when the variable is unset). No sockets when `LISTEN_FDS` or
/// `TEND_LISTEN_HANDLES` is unset, or `LISTEN_FDS` is `0`.
///
/// # Errors
///
/// [`Error::InvalidListenEnv`] when a count or a handle is not a number, or the
/// handles are not `LISTEN_FDS` many; [`Error::ListenNamesMismatch`] when the names
/// are not.
///
/// ```
/// use tend_service::systemd::parse_listen_handles;
/// let got = parse_listen_handles(Some("2"), Some("260:272"), Some("http:admin")).unwrap();
/// assert_eq!(got, [(260, Some("http".to_owned())), (272, Some("admin".to_owned()))]);
/// ```
pub fn parse_listen_handles(
    listen_fds: Option<&str>,
    handles: Option<&str>,
    names: Option<&str>,
) -> Result<Vec<(u64, Option<String>)>, Error> {
    let (Some(listen_fds), Some(handles)) = (listen_fds, handles) else {
        return Ok(Vec::new());
    };
    let count: usize = listen_fds.parse().map_err(|_| Error::InvalidListenEnv {
        var: "LISTEN_FDS",
        value: listen_fds.to_owned(),
    })?;
    if count == 0 {
        return Ok(Vec::new());
    }
    let bad_handles = || Error::InvalidListenEnv {
        var: "TEND_LISTEN_HANDLES",
        value: handles.to_owned(),
    };
    let values = handles
        .split(':')
        .map(|h| h.parse::<u64>().ok().filter(|&h| h != 0))
        .collect::<Option<Vec<u64>>>()
        .ok_or_else(bad_handles)?;
    if values.len() != count {
        return Err(bad_handles());
    }
    let names: Vec<Option<String>> = match names {
        None => vec![None; count],
        Some(list) => {
            let names: Vec<Option<String>> = list
                .split(':')
                .map(|n| (!n.is_empty()).then(|| n.to_owned()))
                .collect();
            if names.len() != count {
                return Err(Error::ListenNamesMismatch {
                    fds: count,
                    names: names.len(),
                });
            }
            names
        }
    };
    Ok(values.into_iter().zip(names).collect())
}

/// The sockets a supervisor passed to this process (tend's `[[listen]]`, a systemd
/// socket unit), taken once: a second call returns none, so no socket ever has two
/// owners. The variables that describe them are removed from the environment, so
/// the program's own children do not take them for theirs, and the sockets are kept
/// from its children (close-on-exec, not inheritable).
///
/// Call it early in `main`, before threads start (it edits the environment).
///
/// # Errors
///
/// `InvalidData` wrapping an [`Error`] for malformed variables, and the system's error
/// when an announced descriptor is not open; nothing is taken then.
///
/// ```no_run
/// use tend_service::systemd::listeners;
///
/// let mut passed = listeners()?;
/// let http = match passed.take_tcp("http") {
///     Some(l) => l,
///     None => std::net::TcpListener::bind("127.0.0.1:8080")?,
/// };
/// # Ok::<(), std::io::Error>(())
/// ```
#[cfg(target_os = "linux")]
pub fn listeners() -> std::io::Result<Listeners> {
    let passed = super::listen_fds(true)?
        .into_iter()
        .map(|f| (f.name, classify(f.fd)))
        .collect();
    Ok(Listeners { passed })
}

/// What a passed descriptor is, by its address family and type.
#[cfg(target_os = "linux")]
fn classify(fd: std::os::fd::OwnedFd) -> Listener {
    use std::os::fd::AsRawFd;
    let raw = fd.as_raw_fd();
    let mut addr: libc::sockaddr_storage =
        // SAFETY: sockaddr_storage is plain data; all zeroes is a valid value.
        unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    // SAFETY: `addr` and `len` are valid out-pointers of the sizes given.
    let named = unsafe { libc::getsockname(raw, (&raw mut addr).cast(), &mut len) } == 0;
    let mut kind: libc::c_int = 0;
    let mut kind_len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: `kind` and `kind_len` are valid out-pointers of the sizes given.
    let typed = unsafe {
        libc::getsockopt(
            raw,
            libc::SOL_SOCKET,
            libc::SO_TYPE,
            (&raw mut kind).cast(),
            &mut kind_len,
        )
    } == 0;
    if !(named && typed && kind == libc::SOCK_STREAM) {
        return Listener::Other(fd);
    }
    match libc::c_int::from(addr.ss_family) {
        libc::AF_INET | libc::AF_INET6 => Listener::Tcp(TcpListener::from(fd)),
        libc::AF_UNIX => Listener::Unix(std::os::unix::net::UnixListener::from(fd)),
        _ => Listener::Other(fd),
    }
}

/// The sockets tend passed to this process on Windows (see [`parse_listen_handles`]),
/// taken once, made non-inheritable, and their variables removed. See the Linux
/// version for the contract.
///
/// # Errors
///
/// `InvalidData` wrapping an [`Error`] for malformed variables, and the system's error
/// when a handle cannot be made non-inheritable (it is not open).
#[cfg(windows)]
pub fn listeners() -> std::io::Result<Listeners> {
    use super::env_str;
    use std::os::windows::io::FromRawSocket;
    use std::sync::atomic::{AtomicBool, Ordering};
    use windows_sys::Win32::Foundation::{SetHandleInformation, HANDLE, HANDLE_FLAG_INHERIT};
    static TAKEN: AtomicBool = AtomicBool::new(false);
    let parsed = parse_listen_handles(
        env_str("LISTEN_FDS").as_deref(),
        env_str("TEND_LISTEN_HANDLES").as_deref(),
        env_str("LISTEN_FDNAMES").as_deref(),
    );
    for var in [
        "LISTEN_PID",
        "LISTEN_FDS",
        "LISTEN_FDNAMES",
        "TEND_LISTEN_HANDLES",
    ] {
        std::env::remove_var(var);
    }
    let parsed = parsed.map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
    if parsed.is_empty() || TAKEN.swap(true, Ordering::SeqCst) {
        return Ok(Listeners::default());
    }
    // std starts Winsock when it creates a socket, not when it adopts one: start it
    // here (counted: std's own start later is another reference).
    // SAFETY: `data` is a valid out-pointer; WSAStartup may be called many times.
    let mut data: windows_sys::Win32::Networking::WinSock::WSADATA = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    let started = unsafe { windows_sys::Win32::Networking::WinSock::WSAStartup(0x202, &mut data) };
    if started != 0 {
        return Err(std::io::Error::from_raw_os_error(started));
    }
    for (h, _) in &parsed {
        // SAFETY: only the handle's inherit flag changes; an invalid value fails.
        if unsafe { SetHandleInformation(*h as HANDLE, HANDLE_FLAG_INHERIT, 0) } == 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    let passed = parsed
        .into_iter()
        .map(|(h, name)| {
            // SAFETY: tend passed this socket to this process for it to own (the
            // call above proved it open), and TAKEN makes this the only owner.
            let l = unsafe { TcpListener::from_raw_socket(h) };
            (name, Listener::Tcp(l))
        })
        .collect();
    Ok(Listeners { passed })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_handles_table() {
        let named = |v: &[(u64, Option<&str>)]| -> Vec<(u64, Option<String>)> {
            v.iter().map(|(h, n)| (*h, n.map(str::to_owned))).collect()
        };
        /// LISTEN_FDS, TEND_LISTEN_HANDLES, LISTEN_FDNAMES, and the sockets they name.
        type Case<'a> = (
            Option<&'a str>,
            Option<&'a str>,
            Option<&'a str>,
            Vec<(u64, Option<String>)>,
        );
        let ok: &[Case] = &[
            (None, None, None, vec![]),
            (Some("1"), None, Some("http"), vec![]),
            (None, Some("260"), Some("http"), vec![]),
            (Some("0"), Some("260"), None, vec![]),
            (Some("1"), Some("260"), None, named(&[(260, None)])),
            (
                Some("2"),
                Some("260:272"),
                Some("http:"),
                named(&[(260, Some("http")), (272, None)]),
            ),
        ];
        for (fds, handles, names, want) in ok {
            assert_eq!(
                parse_listen_handles(*fds, *handles, *names).as_ref(),
                Ok(want),
                "{fds:?} {handles:?} {names:?}"
            );
        }
        let bad_handles = |v: &str| Error::InvalidListenEnv {
            var: "TEND_LISTEN_HANDLES",
            value: v.into(),
        };
        for handles in ["", "x", "260:", "0", "260:272:284", "-1"] {
            assert_eq!(
                parse_listen_handles(Some("2"), Some(handles), None),
                Err(bad_handles(handles)),
                "{handles:?}"
            );
        }
        assert_eq!(
            parse_listen_handles(Some("x"), Some("1"), None),
            Err(Error::InvalidListenEnv {
                var: "LISTEN_FDS",
                value: "x".into()
            })
        );
        assert_eq!(
            parse_listen_handles(Some("1"), Some("260"), Some("a:b")),
            Err(Error::ListenNamesMismatch { fds: 1, names: 2 })
        );
    }

    #[test]
    fn taking_by_name() {
        let tcp = || Listener::Tcp(TcpListener::bind("127.0.0.1:0").unwrap());
        let mut l = Listeners {
            passed: vec![
                (Some("http".into()), tcp()),
                (None, tcp()),
                (Some("admin".into()), tcp()),
            ],
        };
        assert_eq!(l.names(), [Some("http"), None, Some("admin")]);
        assert!(l.take("nope").is_none());
        assert!(l.take_tcp("admin").is_some());
        assert!(l.take_tcp("admin").is_none(), "taken once");
        assert!(matches!(l.take("http"), Some(Listener::Tcp(_))));
        assert_eq!(l.len(), 1);
        assert!(!l.is_empty());
    }

    /// In a child started the way tend starts one (a TCP socket on 3, a Unix socket
    /// on 4, the variables with its own pid), [`listeners`] finds both by name and
    /// kind, and a connection to each reaches them.
    #[cfg(target_os = "linux")]
    #[test]
    fn listeners_in_a_real_child() {
        let dir =
            std::env::temp_dir().join(format!("tend-service-listeners-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let tcp = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = tcp.local_addr().unwrap().port();
        let path = dir.join("s.sock");
        let unix = std::os::unix::net::UnixListener::bind(&path).unwrap();
        let script = r#"
            export LISTEN_PID=$$ LISTEN_FDS=2 LISTEN_FDNAMES=http:sock
            exec "$0" --exact systemd::listeners::tests::child_listeners --ignored \
                --nocapture --test-threads=1 3<&"$1" 4<&"$2"
        "#;
        use std::os::fd::AsRawFd;
        // The child inherits both (std sets close-on-exec; the shell's `n<&m` duplicates
        // them, so they must be open in the shell: clear the flag for the spawn).
        for fd in [tcp.as_raw_fd(), unix.as_raw_fd()] {
            // SAFETY: flags of descriptors this test owns.
            unsafe { libc::fcntl(fd, libc::F_SETFD, 0) };
        }
        let output = std::process::Command::new("sh")
            .arg("-c")
            .arg(script)
            .arg(std::env::current_exe().unwrap())
            .arg(tcp.as_raw_fd().to_string())
            .arg(unix.as_raw_fd().to_string())
            .env("TEND_SERVICE_CHILD", "1")
            .env("TEND_SERVICE_PORT", port.to_string())
            .env("TEND_SERVICE_SOCK", &path)
            .output()
            .unwrap();
        let _ = std::fs::remove_dir_all(&dir);
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "child failed:\n{stdout}\n{stderr}");
        assert!(stdout.contains("1 passed"), "child ran no test:\n{stdout}");
    }

    /// The child half of [`listeners_in_a_real_child`].
    #[cfg(target_os = "linux")]
    #[test]
    #[ignore = "runs inside listeners_in_a_real_child"]
    fn child_listeners() {
        use std::io::{Read, Write};
        assert_eq!(std::env::var("TEND_SERVICE_CHILD").as_deref(), Ok("1"));
        let port: u16 = std::env::var("TEND_SERVICE_PORT").unwrap().parse().unwrap();
        let sock = std::env::var("TEND_SERVICE_SOCK").unwrap();
        let mut passed = listeners().unwrap();
        assert_eq!(passed.names(), [Some("http"), Some("sock")]);
        assert!(listeners().unwrap().is_empty(), "taken once");
        assert!(passed.take_unix("http").is_none(), "http is TCP");
        let http = passed.take_tcp("http").unwrap();
        assert_eq!(http.local_addr().unwrap().port(), port);
        let unix = passed.take_unix("sock").unwrap();
        assert!(passed.is_empty());
        let mut c = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        c.write_all(b"t").unwrap();
        let mut got = [0u8; 1];
        http.accept().unwrap().0.read_exact(&mut got).unwrap();
        assert_eq!(&got, b"t");
        let mut c = std::os::unix::net::UnixStream::connect(&sock).unwrap();
        c.write_all(b"u").unwrap();
        unix.accept().unwrap().0.read_exact(&mut got).unwrap();
        assert_eq!(&got, b"u");
    }
}
