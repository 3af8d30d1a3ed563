//! Socket activation (`sd_listen_fds(3)`): taking over sockets systemd opened for us.
//!
//! With a `.socket` unit (or `ListenStream=` and friends), systemd binds the sockets
//! itself and starts the service with them as file descriptors 3, 4, …, announced by
//! `LISTEN_PID` (who they are for), `LISTEN_FDS` (how many) and `LISTEN_FDNAMES`
//! (their `FileDescriptorName=`s, colon-separated). Parsing those variables is a pure
//! function, tested with a table; taking ownership of the descriptors is Linux-only.

use super::Error;

/// The first descriptor passed by socket activation (`SD_LISTEN_FDS_START`).
pub const LISTEN_FDS_START: i32 = 3;

/// Interprets the socket-activation variables for the process `pid`: the descriptors
/// passed (`RawFd`s on Unix, hence `i32`) with their names, in order.
///
/// - No descriptors (`Ok(vec![])`) when `LISTEN_PID` is unset or names another
///   process (the variables were inherited, not meant for us), or when `LISTEN_FDS`
///   is unset or `0`.
/// - `LISTEN_FDNAMES`, when set, must have exactly one colon-separated name per
///   descriptor; an empty name reads as `None`, as does every name when the variable
///   is unset.
///
/// # Errors
///
/// [`Error::InvalidListenEnv`] when `LISTEN_PID` or `LISTEN_FDS` is not a number (or
/// `LISTEN_FDS` would reach past the largest descriptor), and
/// [`Error::ListenNamesMismatch`] when the name count is wrong.
///
/// ```
/// use tend_service::systemd::parse_listen_env;
/// let fds = parse_listen_env(42, Some("42"), Some("2"), Some("http:admin")).unwrap();
/// assert_eq!(fds, [(3, Some("http".to_owned())), (4, Some("admin".to_owned()))]);
/// assert!(parse_listen_env(42, Some("41"), Some("2"), None).unwrap().is_empty());
/// ```
pub fn parse_listen_env(
    pid: u32,
    listen_pid: Option<&str>,
    listen_fds: Option<&str>,
    listen_fdnames: Option<&str>,
) -> Result<Vec<(i32, Option<String>)>, Error> {
    let Some(listen_pid) = listen_pid else {
        return Ok(Vec::new());
    };
    let for_pid: u32 = listen_pid.parse().map_err(|_| Error::InvalidListenEnv {
        var: "LISTEN_PID",
        value: listen_pid.to_owned(),
    })?;
    if for_pid != pid {
        return Ok(Vec::new());
    }
    let Some(listen_fds) = listen_fds else {
        return Ok(Vec::new());
    };
    let invalid_count = || Error::InvalidListenEnv {
        var: "LISTEN_FDS",
        value: listen_fds.to_owned(),
    };
    let count: i32 = listen_fds.parse().map_err(|_| invalid_count())?;
    if !(0..=i32::MAX - LISTEN_FDS_START).contains(&count) {
        return Err(invalid_count());
    }
    if count == 0 {
        return Ok(Vec::new());
    }
    let names: Vec<Option<String>> = match listen_fdnames {
        None => vec![None; count as usize],
        Some(list) => {
            let names: Vec<Option<String>> = list
                .split(':')
                .map(|name| (!name.is_empty()).then(|| name.to_owned()))
                .collect();
            if names.len() != count as usize {
                return Err(Error::ListenNamesMismatch {
                    fds: count as usize,
                    names: names.len(),
                });
            }
            names
        }
    };
    Ok((LISTEN_FDS_START..)
        .zip(names)
        .collect::<Vec<(i32, Option<String>)>>())
}

#[cfg(target_os = "linux")]
pub use linux::{listen_fds, ListenFd};

#[cfg(target_os = "linux")]
mod linux {
    use super::parse_listen_env;
    use crate::systemd::env_str;
    use std::io;
    use std::os::fd::{FromRawFd, OwnedFd};
    use std::sync::atomic::{AtomicBool, Ordering};

    /// Set once [`listen_fds`] has taken ownership of the passed descriptors.
    static TAKEN: AtomicBool = AtomicBool::new(false);

    /// A socket passed by systemd's socket activation, now owned by this process.
    #[derive(Debug)]
    pub struct ListenFd {
        /// The descriptor (3, 4, …), close-on-exec. Turn it into a listener with
        /// `std::net::TcpListener::from(fd)`, `UnixListener::from(fd)`, etc.
        pub fd: OwnedFd,
        /// Its `FileDescriptorName=` from `LISTEN_FDNAMES`, if given.
        pub name: Option<String>,
    }

    /// Takes the sockets systemd passed to this process (`sd_listen_fds(3)` with
    /// names): reads `LISTEN_PID`, `LISTEN_FDS` and `LISTEN_FDNAMES` (see
    /// [`parse_listen_env`]), marks each descriptor close-on-exec so children do not
    /// inherit it, and returns them owned, in order.
    ///
    /// The descriptors are handed out at most once per process: later calls return an
    /// empty list, so no descriptor ever has two owners. With `unset_env`, the three
    /// variables are removed from the environment (whatever the outcome), so children
    /// do not see a `LISTEN_FDS` describing descriptors they lack.
    ///
    /// Thread safety: removing variables is not synchronised with other threads that
    /// read the environment through libc (`getenv`, e.g. in DNS resolution or
    /// timezone code). Call this early in `main`, before starting threads; edition
    /// 2024 marks `std::env::remove_var` `unsafe` for this reason.
    ///
    /// # Errors
    ///
    /// `InvalidData` wrapping an [`Error`](crate::systemd::Error) for malformed
    /// variables, and the `fcntl` error (typically `EBADF`) when an announced
    /// descriptor is not open; nothing is taken in either case.
    ///
    /// ```no_run
    /// use std::net::TcpListener;
    /// use tend_service::systemd::listen_fds;
    ///
    /// let mut fds = listen_fds(true)?;
    /// let listener = match fds.pop() {
    ///     Some(passed) => TcpListener::from(passed.fd),
    ///     None => TcpListener::bind("127.0.0.1:8080")?,
    /// };
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn listen_fds(unset_env: bool) -> io::Result<Vec<ListenFd>> {
        let parsed = parse_listen_env(
            std::process::id(),
            env_str("LISTEN_PID").as_deref(),
            env_str("LISTEN_FDS").as_deref(),
            env_str("LISTEN_FDNAMES").as_deref(),
        );
        if unset_env {
            for var in ["LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"] {
                std::env::remove_var(var);
            }
        }
        let passed = parsed.map_err(|error| io::Error::new(io::ErrorKind::InvalidData, error))?;
        if passed.is_empty() || TAKEN.swap(true, Ordering::SeqCst) {
            return Ok(Vec::new());
        }
        // Check every descriptor before owning any, so that an error closes nothing.
        for (fd, _) in &passed {
            set_cloexec(*fd)?;
        }
        Ok(passed
            .into_iter()
            .map(|(fd, name)| ListenFd {
                // SAFETY: `fd` is open (F_GETFD succeeded), systemd passed it to this
                // process for it to own, and TAKEN ensures this function creates at
                // most one owner for it per process.
                fd: unsafe { OwnedFd::from_raw_fd(fd) },
                name,
            })
            .collect())
    }

    /// Adds `FD_CLOEXEC` to `fd`'s flags; fails (`EBADF`) when `fd` is not open.
    fn set_cloexec(fd: i32) -> io::Result<()> {
        // SAFETY: F_GETFD/F_SETFD only read and write the descriptor's flags; an
        // invalid `fd` makes them fail with EBADF rather than touch anything.
        let flags = unsafe { libc::fcntl(fd, libc::F_GETFD) };
        if flags < 0 {
            return Err(io::Error::last_os_error());
        }
        if flags & libc::FD_CLOEXEC == 0 {
            // SAFETY: as above.
            let rc = unsafe { libc::fcntl(fd, libc::F_SETFD, flags | libc::FD_CLOEXEC) };
            if rc < 0 {
                return Err(io::Error::last_os_error());
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn named(list: &[(i32, Option<&str>)]) -> Vec<(i32, Option<String>)> {
        list.iter()
            .map(|(fd, name)| (*fd, name.map(str::to_owned)))
            .collect()
    }

    #[test]
    fn listen_env_table() {
        type Case<'a> = (
            Option<&'a str>,
            Option<&'a str>,
            Option<&'a str>,
            Vec<(i32, Option<String>)>,
        );
        let cases: Vec<Case> = vec![
            // Nothing, or meant for another process: no descriptors.
            (None, None, None, vec![]),
            (None, Some("2"), Some("a:b"), vec![]),
            (Some("99"), Some("2"), None, vec![]),
            (Some("99"), Some("garbage"), None, vec![]),
            (Some("7"), None, None, vec![]),
            (Some("7"), Some("0"), None, vec![]),
            (Some("7"), Some("0"), Some("ignored"), vec![]),
            // For us.
            (Some("7"), Some("1"), None, named(&[(3, None)])),
            (
                Some("7"),
                Some("3"),
                None,
                named(&[(3, None), (4, None), (5, None)]),
            ),
            (
                Some("7"),
                Some("2"),
                Some("http:admin"),
                named(&[(3, Some("http")), (4, Some("admin"))]),
            ),
            (
                Some("7"),
                Some("3"),
                Some("a::c"),
                named(&[(3, Some("a")), (4, None), (5, Some("c"))]),
            ),
            (Some("7"), Some("1"), Some(""), named(&[(3, None)])),
        ];
        for (pid, fds, names, want) in cases {
            assert_eq!(
                parse_listen_env(7, pid, fds, names),
                Ok(want),
                "LISTEN_PID={pid:?} LISTEN_FDS={fds:?} LISTEN_FDNAMES={names:?}"
            );
        }
    }

    #[test]
    fn listen_env_errors() {
        let bad_pid = |v: &str| Error::InvalidListenEnv {
            var: "LISTEN_PID",
            value: v.into(),
        };
        let bad_fds = |v: &str| Error::InvalidListenEnv {
            var: "LISTEN_FDS",
            value: v.into(),
        };
        for pid in ["", "x", "-7", "7 ", "0x7"] {
            assert_eq!(
                parse_listen_env(7, Some(pid), Some("1"), None),
                Err(bad_pid(pid))
            );
        }
        for fds in ["", "x", "-1", "1.0", "2147483645", "99999999999"] {
            assert_eq!(
                parse_listen_env(7, Some("7"), Some(fds), None),
                Err(bad_fds(fds)),
                "{fds:?}"
            );
        }
        // The largest count that still fits.
        let max = (i32::MAX - LISTEN_FDS_START).to_string();
        assert!(matches!(
            parse_listen_env(7, Some("7"), Some(&max), Some("a")),
            Err(Error::ListenNamesMismatch { .. })
        ));
        assert_eq!(
            parse_listen_env(7, Some("7"), Some("2"), Some("only-one")),
            Err(Error::ListenNamesMismatch { fds: 2, names: 1 })
        );
        assert_eq!(
            parse_listen_env(7, Some("7"), Some("1"), Some("a:b")),
            Err(Error::ListenNamesMismatch { fds: 1, names: 2 })
        );
    }

    /// Runs [`child_environment`] in a child whose pid, environment and descriptors
    /// are set up as systemd would: `sh` opens two files on fds 3 and 4, exports the
    /// variables with its own pid (`$$`), then execs this test binary in its place.
    #[cfg(target_os = "linux")]
    #[test]
    fn listen_fds_and_watchdog_in_a_real_child() {
        let dir = std::env::temp_dir().join(format!("tend-service-listen-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (one, two) = (dir.join("one"), dir.join("two"));
        std::fs::write(&one, "first").unwrap();
        std::fs::write(&two, "second").unwrap();
        let script = r#"
            export LISTEN_PID=$$ LISTEN_FDS=2 LISTEN_FDNAMES=http:admin
            export WATCHDOG_USEC=3000000 WATCHDOG_PID=$$
            exec "$0" --exact systemd::listen::tests::child_environment --ignored \
                --nocapture --test-threads=1 3<"$1" 4<"$2"
        "#;
        let output = std::process::Command::new("sh")
            .arg("-c")
            .arg(script)
            .arg(std::env::current_exe().unwrap())
            .arg(&one)
            .arg(&two)
            .env("TEND_SERVICE_CHILD", "1")
            .output()
            .unwrap();
        let _ = std::fs::remove_dir_all(&dir);
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "child failed:\n{stdout}\n{stderr}");
        assert!(stdout.contains("1 passed"), "child ran no test:\n{stdout}");
    }

    /// The child half of [`listen_fds_and_watchdog_in_a_real_child`].
    #[cfg(target_os = "linux")]
    #[test]
    #[ignore = "runs inside listen_fds_and_watchdog_in_a_real_child"]
    fn child_environment() {
        use crate::systemd::{listen_fds, watchdog_interval, watchdog_interval_any_pid};
        use std::io::Read;
        use std::os::fd::AsRawFd;
        use std::time::Duration;

        assert_eq!(std::env::var("TEND_SERVICE_CHILD").as_deref(), Ok("1"));
        assert_eq!(watchdog_interval(), Some(Duration::from_secs(3)));
        assert_eq!(watchdog_interval_any_pid(), Some(Duration::from_secs(3)));

        let fds = listen_fds(true).unwrap();
        for var in ["LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"] {
            assert!(std::env::var_os(var).is_none(), "{var} still set");
        }
        let got: Vec<(i32, Option<&str>)> = fds
            .iter()
            .map(|f| (f.fd.as_raw_fd(), f.name.as_deref()))
            .collect();
        assert_eq!(got, [(3, Some("http")), (4, Some("admin"))]);
        for f in &fds {
            // SAFETY: reads the flags of a descriptor we own.
            let flags = unsafe { libc::fcntl(f.fd.as_raw_fd(), libc::F_GETFD) };
            assert!(flags >= 0 && flags & libc::FD_CLOEXEC != 0, "{flags}");
        }
        let contents: Vec<String> = fds
            .into_iter()
            .map(|f| {
                let mut s = String::new();
                std::fs::File::from(f.fd).read_to_string(&mut s).unwrap();
                s
            })
            .collect();
        assert_eq!(contents, ["first", "second"]);

        // Handed out once only: even with the variables back, no second owner.
        std::env::set_var("LISTEN_PID", std::process::id().to_string());
        std::env::set_var("LISTEN_FDS", "2");
        assert!(listen_fds(false).unwrap().is_empty());

        // With WATCHDOG_PID naming another process, only the _any_pid reader agrees.
        std::env::set_var("WATCHDOG_PID", "1");
        assert_eq!(watchdog_interval(), None);
        assert_eq!(watchdog_interval_any_pid(), Some(Duration::from_secs(3)));
    }
}
