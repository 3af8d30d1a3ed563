//! `[[listen]]`: tend binds the sockets once and passes them to every start of the
//! child as systemd does (fds from 3, `LISTEN_FDS`, `LISTEN_FDNAMES`, and
//! `LISTEN_PID` = the child's own pid), so a restart refuses no connection; stop
//! hooks and health probes never get them; a socket that cannot be bound stops tend
//! before anything starts, saying why.
#![cfg(target_os = "linux")]

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;

const SECS: Duration = Duration::from_secs(1);

/// A shell child that reports what it got: its pid, the variables, and what its
/// descriptors 3 to 5 are (`socket:[INODE]`, or `closed`).
const REPORT: &str = r#"echo "pid=$$ LISTEN_PID=${LISTEN_PID-unset} LISTEN_FDS=${LISTEN_FDS-unset} LISTEN_FDNAMES=${LISTEN_FDNAMES-unset}"
for fd in 3 4 5; do printf 'fd%s=' $fd; readlink /proc/$$/fd/$fd 2>/dev/null || echo closed; done"#;

/// The inode of the socket listening on TCP `port` (/proc/net/tcp: local address
/// `HEXIP:HEXPORT`, state `0A`, inode in the tenth column).
fn tcp_inode(port: u16) -> Option<u64> {
    let text = std::fs::read_to_string("/proc/net/tcp").ok()?;
    text.lines().skip(1).find_map(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        let p = u16::from_str_radix(f.get(1)?.rsplit(':').next()?, 16).ok()?;
        (p == port && f.get(3) == Some(&"0A")).then(|| f.get(9)?.parse().ok())?
    })
}

/// The inode of the Unix socket bound at `path` (/proc/net/unix).
fn unix_inode(path: &Path) -> Option<u64> {
    let text = std::fs::read_to_string("/proc/net/unix").ok()?;
    text.lines().skip(1).find_map(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        (f.get(7) == Some(&path.to_str()?)).then(|| f.get(6)?.parse().ok())?
    })
}

/// The port tend says it bound for `name` (`tend: S: listening on 127.0.0.1:P (name)`).
fn bound_port(stderr: &str, name: &str) -> u16 {
    stderr
        .lines()
        .find_map(|l| {
            let rest = l.split("listening on ").nth(1)?;
            let addr = rest.strip_suffix(&format!(" ({name})"))?;
            addr.parse::<SocketAddr>().ok().map(|a| a.port())
        })
        .unwrap_or_else(|| panic!("no `listening on ... ({name})` line in:\n{stderr}"))
}

/// A child reads `LISTEN_PID` as its own pid, `LISTEN_FDS=2`, the names in spec
/// order, and has the TCP socket on 3 and the Unix socket on 4 (the very sockets
/// listening at those addresses) and nothing on 5.
#[test]
fn listen_child_gets_its_pid_and_the_sockets_in_order() {
    let s = Scratch::new();
    let sock = s.path("run/orders.sock");
    let spec = s.spec(
        "sh.toml",
        &format!(
            "name = \"sh\"\ncommand = \"/bin/sh\"\nargs = [\"-c\", {}]\n[restart]\npolicy = \"never\"\n\
             [[listen]]\nname = \"http\"\naddress = \"127.0.0.1:0\"\n\
             [[listen]]\nname = \"orders.v2\"\naddress = {}\nmode = \"0600\"\n",
            toml_str(REPORT),
            toml_str(&format!("unix:{}", sock.display()))
        ),
    );
    let run = s.spawn(&["run", spec.to_str().unwrap()]);
    let out = run.wait(20 * SECS);
    assert_eq!(code(&out), 0);
    let err = stderr(&out);
    assert_ne!(bound_port(&err, "http"), 0);
    let log = s.lines(&s.log_dir().join("sh.log"));
    let first = log.first().expect("the child's report");
    let pid = first
        .strip_prefix("out pid=")
        .and_then(|r| r.split(' ').next())
        .expect("pid=");
    assert_eq!(
        *first,
        format!("out pid={pid} LISTEN_PID={pid} LISTEN_FDS=2 LISTEN_FDNAMES=http:orders.v2")
    );
    // Which sockets these are: `listen_fds_are_the_sockets_at_the_addresses`.
    let fds: Vec<&str> = log[1..].iter().map(String::as_str).collect();
    assert_eq!(fds.len(), 3, "{log:?}");
    assert!(fds[0].starts_with("out fd3=socket:["), "{fds:?}");
    assert!(fds[1].starts_with("out fd4=socket:["), "{fds:?}");
    assert_eq!(fds[2], "out fd5=closed");
    assert!(err.contains(&format!("listening on unix:{} (orders.v2)", sock.display())));
    assert!(sock.parent().unwrap().is_dir(), "its folder was created");
    assert!(!sock.exists(), "the socket file goes with the supervisor");
}

/// The same, checked against the live sockets: while the child runs, its fd 3 is the
/// socket listening on the TCP port and its fd 4 the one bound at the path.
#[test]
fn listen_fds_are_the_sockets_at_the_addresses() {
    let s = Scratch::new();
    let sock = s.path("s.sock");
    let port = free_port();
    let script = format!("{REPORT}\nexec sleep 600");
    let spec = s.spec(
        "sh.toml",
        &format!(
            "name = \"sh\"\ncommand = \"/bin/sh\"\nargs = [\"-c\", {}]\n[stop]\ntimeout = \"2s\"\n\
             [[listen]]\nname = \"http\"\naddress = \"127.0.0.1:{port}\"\n\
             [[listen]]\nname = \"sock\"\naddress = {}\nmode = \"0640\"\n",
            toml_str(&script),
            toml_str(&format!("unix:{}", sock.display()))
        ),
    );
    let run = s.spawn(&["run", spec.to_str().unwrap()]);
    let log_path = s.log_dir().join("sh.log");
    wait_until(20 * SECS, "the child's report", || {
        s.lines(&log_path).len() >= 4
    });
    let log = s.lines(&log_path);
    assert_eq!(
        log[1],
        format!("out fd3=socket:[{}]", tcp_inode(port).expect("a listener"))
    );
    assert_eq!(
        log[2],
        format!("out fd4=socket:[{}]", unix_inode(&sock).expect("a socket"))
    );
    use std::os::unix::fs::{FileTypeExt, PermissionsExt};
    let meta = std::fs::metadata(&sock).expect("the socket file");
    assert!(meta.file_type().is_socket());
    assert_eq!(meta.permissions().mode() & 0o777, 0o640);
    run.signal(libc::SIGTERM);
    assert_eq!(code(&run.wait(20 * SECS)), 0);
    assert!(!sock.exists(), "the socket file goes with the supervisor");
}

/// A port nobody listens on now.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// One `GET /` through a new connection: the answering pid, or what failed.
fn get(addr: SocketAddr) -> Result<u32, String> {
    let mut c = TcpStream::connect_timeout(&addr, 5 * SECS).map_err(|e| format!("connect: {e}"))?;
    c.set_read_timeout(Some(10 * SECS)).unwrap();
    c.write_all(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
        .map_err(|e| format!("write: {e}"))?;
    let mut answer = String::new();
    c.read_to_string(&mut answer)
        .map_err(|e| format!("read: {e}"))?;
    if !answer.starts_with("HTTP/1.1 200 ") {
        return Err(format!("answer: {answer:?}"));
    }
    answer
        .split("(pid ")
        .nth(1)
        .and_then(|r| r.split(')').next())
        .and_then(|p| p.parse().ok())
        .ok_or_else(|| format!("no pid in {answer:?}"))
}

/// The example service on a socket tend holds: clients connecting all the time
/// through three `tend restart`s are never refused, and every request is answered
/// (by the old child, which finishes what it accepted, or by the new one, which takes
/// what queued meanwhile).
#[test]
fn listen_restarts_refuse_no_connection() {
    let hello = tend_bin().with_file_name("hello-service");
    assert!(
        hello.exists(),
        "{} is missing: run `cargo build --workspace`",
        hello.display()
    );
    let s = Scratch::new();
    let port = free_port();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    // `--listen` names another port: the child must serve on the passed socket.
    let spec = s.spec(
        "hello.toml",
        &format!(
            "name = \"hello\"\ncommand = {}\nargs = [\"--listen\", \"127.0.0.1:1\"]\n\
             [[listen]]\nname = \"http\"\naddress = \"127.0.0.1:{port}\"\n",
            q(&hello)
        ),
    );
    let run = s.spawn(&["run", spec.to_str().unwrap()]);
    wait_until(20 * SECS, "the service answers", || get(addr).is_ok());

    let stop = Arc::new(AtomicBool::new(false));
    let seen = Arc::new(Mutex::new((
        Vec::<u32>::new(),
        Vec::<String>::new(),
        0usize,
    )));
    let clients: Vec<_> = (0..4)
        .map(|_| {
            let (stop, seen) = (stop.clone(), seen.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let r = get(addr);
                    let mut seen = seen.lock().unwrap();
                    seen.2 += 1;
                    match r {
                        Ok(pid) if !seen.0.contains(&pid) => seen.0.push(pid),
                        Ok(_) => {}
                        Err(e) => seen.1.push(e),
                    }
                }
            })
        })
        .collect();
    for _ in 0..3 {
        let before = seen.lock().unwrap().2;
        wait_until(20 * SECS, "requests between restarts", || {
            seen.lock().unwrap().2 > before + 20
        });
        let out = tend(&s, &["restart", "hello"]);
        assert_eq!(code(&out), 0, "{}", stderr(&out));
    }
    let before = seen.lock().unwrap().2;
    wait_until(20 * SECS, "requests after the restarts", || {
        seen.lock().unwrap().2 > before + 20
    });
    stop.store(true, Ordering::Relaxed);
    for c in clients {
        c.join().unwrap();
    }
    let (pids, errors, total) = seen.lock().unwrap().clone();
    assert!(
        errors.is_empty(),
        "{} of {total} requests failed, the first: {:?}",
        errors.len(),
        &errors[..errors.len().min(5)]
    );
    assert_eq!(pids.len(), 4, "four children answered: {pids:?}");
    run.signal(libc::SIGTERM);
    assert_eq!(code(&run.wait(20 * SECS)), 0);
}

/// A TCP port another process listens on stops tend before anything starts, naming
/// the address, the socket and the process; so does a Unix socket someone listens
/// on, and a file that is not a socket (left alone). A socket file nobody listens on
/// any more is replaced.
#[test]
fn listen_bind_conflicts_are_clear() {
    let s = Scratch::new();
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    let run = |listen: &str| -> Output {
        let spec = s.spec(
            "c.toml",
            &fixture_spec(
                "c",
                &["--print", "ran"],
                &format!("[restart]\npolicy = \"never\"\n{listen}"),
            ),
        );
        s.spawn(&["run", spec.to_str().unwrap()]).wait(20 * SECS)
    };
    let ran = || {
        s.lines(&s.log_dir().join("c.log"))
            .contains(&"out ran".to_string())
    };

    let out = run(&format!(
        "[[listen]]\nname = \"http\"\naddress = \"{addr}\"\n"
    ));
    assert_eq!(code(&out), 1);
    let err = stderr(&out);
    assert!(
        err.contains(&format!(
            "cannot listen on {addr} (`[[listen]]` http): the address is in use by pid {} (",
            std::process::id()
        )),
        "{err}"
    );
    assert!(!ran(), "nothing started");

    let path = s.path("busy.sock");
    let busy = std::os::unix::net::UnixListener::bind(&path).unwrap();
    let out = run(&format!(
        "[[listen]]\nname = \"sock\"\naddress = \"unix:{}\"\n",
        path.display()
    ));
    assert_eq!(code(&out), 1);
    assert!(
        stderr(&out).contains(&format!(
            "cannot listen on unix:{} (`[[listen]]` sock): the address is in use",
            path.display()
        )),
        "{}",
        stderr(&out)
    );
    drop(busy);

    let file = s.path("notes.txt");
    std::fs::write(&file, "keep me").unwrap();
    let out = run(&format!(
        "[[listen]]\nname = \"sock\"\naddress = \"unix:{}\"\n",
        file.display()
    ));
    assert_eq!(code(&out), 1);
    assert!(
        stderr(&out).contains("the path exists and is not a socket"),
        "{}",
        stderr(&out)
    );
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "keep me");
    assert!(!ran(), "nothing started");

    // `busy.sock` is left by a listener that is gone: taken over.
    assert!(path.exists());
    let out = run(&format!(
        "[[listen]]\nname = \"sock\"\naddress = \"unix:{}\"\n",
        path.display()
    ));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(ran());
}

/// Neither the stop hook nor the health probe gets the sockets or the variables
/// (the service's own child does).
#[test]
fn listen_hooks_and_probes_get_no_sockets() {
    let s = Scratch::new();
    let (probe, hook) = (s.path("probe"), s.path("hook"));
    let check = |out: &PathBuf| {
        format!(
            "if [ -e /proc/$$/fd/3 ] || [ -e /proc/$$/fd/4 ] || [ -n \"${{LISTEN_FDS-}}\" ] || [ -n \"${{LISTEN_PID-}}\" ]; then echo leaked >> {0}; else echo clean >> {0}; fi",
            out.display()
        )
    };
    let spec = s.spec(
        "h.toml",
        &format!(
            "name = \"h\"\ncommand = \"/bin/sh\"\nargs = [\"-c\", {}]\n\
             [stop]\ntimeout = \"1s\"\ncommand = [\"/bin/sh\", \"-c\", {}]\n\
             [health]\ncommand = [\"/bin/sh\", \"-c\", {}]\ninterval = \"100ms\"\n\
             [[listen]]\nname = \"a\"\naddress = \"127.0.0.1:0\"\n\
             [[listen]]\nname = \"b\"\naddress = \"127.0.0.1:0\"\n",
            toml_str(&format!("{REPORT}\nexec sleep 600")),
            toml_str(&check(&hook)),
            toml_str(&check(&probe)),
        ),
    );
    let run = s.spawn(&["run", spec.to_str().unwrap()]);
    wait_until(20 * SECS, "two probes", || s.lines(&probe).len() >= 2);
    run.signal(libc::SIGTERM);
    let out = run.wait(20 * SECS);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let log = s.lines(&s.log_dir().join("h.log"));
    assert!(
        log[0].contains("LISTEN_FDS=2 LISTEN_FDNAMES=a:b"),
        "{log:?}"
    );
    assert!(log[1].starts_with("out fd3=socket:["), "{log:?}");
    let probes = s.lines(&probe);
    assert!(probes.iter().all(|l| l == "clean"), "{probes:?}");
    assert_eq!(s.lines(&hook), ["clean"]);
}

/// `[[listen]]` mistakes are reported at their lines by `tend check`.
#[test]
fn listen_spec_mistakes_at_their_lines() {
    let s = Scratch::new();
    let spec = s.spec(
        "bad.toml",
        "name = \"x\"\ncommand = \"/bin/true\"\n\n\
         [[listen]]\nname = \"http\"\naddress = \"127.0.0.1:8080\"\n\n\
         [[listen]]\nname = \"http\"\naddress = \"0.0.0.0:8080\"\nmode = \"0600\"\n",
    );
    let out = tend(&s, &["check", spec.to_str().unwrap()]);
    assert_eq!(code(&out), 1);
    let err = stderr(&out);
    for (line, what) in [
        (9, "two `[[listen]]` sockets are named `http`"),
        (
            10,
            "`0.0.0.0:8080` is also the address of `[[listen]]` number 1",
        ),
        (11, "`mode` applies to a Unix socket"),
    ] {
        let i = err
            .find(what)
            .unwrap_or_else(|| panic!("{what} in:\n{err}"));
        // The location under the message.
        let place = err[i..].split("--> ").nth(1).and_then(|r| r.lines().next());
        assert!(
            place.is_some_and(|p| p.contains(&format!("bad.toml:{line}:"))),
            "{what} at line {line}:\n{err}"
        );
    }
    let spec = s.spec(
        "bad2.toml",
        "name = \"x\"\ncommand = \"/bin/true\"\n[[listen]]\nname = \"a:b\"\naddress = \"127.0.0.1:1\"\n",
    );
    let err = stderr(&tend(&s, &["check", spec.to_str().unwrap()]));
    assert!(
        err.contains("contains ':'") && err.contains("bad2.toml:4:"),
        "{err}"
    );
}

/// Two services of one file cannot hold the same socket: reported at the second
/// one's `address`.
#[test]
fn listen_one_socket_per_file() {
    let s = Scratch::new();
    let spec = s.spec(
        "two.toml",
        "[[service]]\nname = \"a\"\ncommand = \"/bin/true\"\n[[service.listen]]\nname = \"http\"\naddress = \"0.0.0.0:8080\"\n\n\
         [[service]]\nname = \"b\"\ncommand = \"/bin/true\"\n[[service.listen]]\nname = \"http\"\naddress = \"127.0.0.1:8080\"\n",
    );
    let out = tend(&s, &["check", spec.to_str().unwrap()]);
    assert_eq!(code(&out), 1);
    let err = stderr(&out);
    assert!(
        err.contains("`127.0.0.1:8080` is also an address of service `a`")
            && err.contains("two.toml:13:"),
        "{err}"
    );
}

/// As root, a Unix socket's file belongs to the service's `user`, with its `mode`,
/// and the child that runs as that user gets the socket.
#[test]
fn listen_unix_socket_file_is_the_users() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("not root: cannot run a service as another user here");
        return;
    }
    let s = Scratch::new();
    let sock = s.path("u.sock");
    let spec = s.spec(
        "u.toml",
        &format!(
            "name = \"u\"\ncommand = \"/bin/sh\"\nargs = [\"-c\", {}]\nuser = \"nobody\"\nworking_dir = \"/\"\n\
             [stop]\ntimeout = \"2s\"\n[[listen]]\nname = \"sock\"\naddress = {}\nmode = \"0600\"\n",
            toml_str(&format!("{REPORT}\nexec sleep 600")),
            toml_str(&format!("unix:{}", sock.display()))
        ),
    );
    let run = s.spawn(&["run", spec.to_str().unwrap()]);
    let log_path = s.log_dir().join("u.log");
    wait_until(20 * SECS, "the child's report", || {
        s.lines(&log_path).len() >= 4
    });
    let log = s.lines(&log_path);
    assert!(
        log[0].contains("LISTEN_FDS=1 LISTEN_FDNAMES=sock"),
        "{log:?}"
    );
    assert_eq!(
        log[1],
        format!("out fd3=socket:[{}]", unix_inode(&sock).expect("a socket"))
    );
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let meta = std::fs::metadata(&sock).unwrap();
    // SAFETY: getpwnam with a valid C string; the record is read at once.
    let nobody = unsafe { libc::getpwnam(c"nobody".as_ptr()) };
    assert!(!nobody.is_null());
    // SAFETY: checked non-null just above.
    let (uid, gid) = unsafe { ((*nobody).pw_uid, (*nobody).pw_gid) };
    assert_eq!((meta.uid(), meta.gid()), (uid, gid));
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    run.signal(libc::SIGTERM);
    assert_eq!(code(&run.wait(20 * SECS)), 0);
}
