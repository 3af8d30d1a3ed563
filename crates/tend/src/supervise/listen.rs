//! `[[listen]]`: the sockets tend binds for a service and holds for its whole life, so
//! that a restart (or an upgrade) never refuses a connection: while one child stops
//! and the next starts, the kernel queues new connections on the socket tend still
//! holds, and the next child accepts them.
//!
//! Each socket is bound once, when the supervisor prepares the service (after it
//! took the service's lock, before anything starts): a socket that cannot be bound is
//! a prepare problem like a missing program, naming the address and, for a TCP port in
//! use, the process that holds it where the system says. Every start of the child
//! gets the sockets as file descriptors 3, 4, … in the order of the `[[listen]]`
//! tables, with systemd's `LISTEN_FDS`, `LISTEN_PID` and `LISTEN_FDNAMES` (see
//! `sys::spawn`; on Windows, inherited handles named in `TEND_LISTEN_HANDLES`). Stop
//! hooks and health probes never get them. A Unix socket's file is removed when the
//! supervisor ends (a killed supervisor's is replaced by the next one: nothing
//! listens on it).

use std::io;
use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;

use crate::spec::{Listen, SocketAddress, Spec};

use super::prepare::{problem, PrepareError};
use super::sys::{self, Credentials, HeldSocket};

/// The backlog of each held socket: connections that arrive while no child accepts
/// (between two runs) wait in it, so it is sized for a restart under load. The kernel
/// caps it at `net.core.somaxconn` (4096 by default since Linux 5.4).
pub const BACKLOG: i32 = 4096;

/// A socket held for a service and passed to each start of its child.
#[derive(Clone, Debug)]
pub struct Passed {
    /// Its `[[listen]]` name (`LISTEN_FDNAMES`).
    pub name: String,
    /// Where it listens, as bound (a port 0 resolved).
    pub address: SocketAddress,
    /// The socket; shared by every copy of the prepared command, closed when the last
    /// goes (when the supervisor ends).
    pub socket: Arc<HeldSocket>,
    /// A Unix socket's file, removed when the last copy goes.
    pub file: Option<Arc<SocketFile>>,
}

/// The file of a Unix socket tend bound: removed when the supervisor lets the socket
/// go, if it is still that file (not one something else put at the path since).
#[derive(Debug)]
pub struct SocketFile {
    path: std::path::PathBuf,
    id: Option<u64>,
}

impl SocketFile {
    fn new(path: &std::path::Path) -> SocketFile {
        SocketFile {
            path: path.to_path_buf(),
            id: std::fs::symlink_metadata(path)
                .ok()
                .map(|m| sys::file_id(&m)),
        }
    }
}

impl Drop for SocketFile {
    fn drop(&mut self) {
        let now = std::fs::symlink_metadata(&self.path)
            .ok()
            .map(|m| sys::file_id(&m));
        if now.is_some() && now == self.id {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// Why a `[[listen]]` socket cannot be bound.
#[derive(Debug, thiserror::Error)]
pub enum BindError {
    /// The address is in use (by `holder`, when the system says which process).
    #[error("cannot listen on {address} (`[[listen]]` {name}): the address is in use{}; stop it, or pick another address", holder.as_ref().map_or_else(String::new, |h| format!(" by {h}")))]
    InUse {
        /// The socket's name.
        name: String,
        /// The address.
        address: SocketAddress,
        /// The process listening there (`pid 42 (nginx)`), when known.
        holder: Option<String>,
    },
    /// A file that is not a socket is at the Unix socket's path.
    #[error("cannot listen on {address} (`[[listen]]` {name}): the path exists and is not a socket; move it away or pick another path")]
    NotASocket {
        /// The socket's name.
        name: String,
        /// The address.
        address: SocketAddress,
    },
    /// Any other failure.
    #[error(
        "cannot listen on {address} (`[[listen]]` {name}): {}",
        crate::text::io_error(source)
    )]
    Io {
        /// The socket's name.
        name: String,
        /// The address.
        address: SocketAddress,
        /// Why.
        source: io::Error,
    },
}

/// Binds every `[[listen]]` socket of `spec`; a Unix socket's file is given to the
/// account the child runs as (`credentials`, when tend switches to it). Every socket
/// that cannot be bound is a problem (those bound are closed again).
pub fn bind_all(
    spec: &Spec,
    credentials: Option<&Credentials>,
) -> Result<Vec<Passed>, PrepareError> {
    let mut passed = Vec::new();
    let mut problems = Vec::new();
    for l in &spec.listen {
        match bind(l, credentials) {
            Ok(p) => passed.push(p),
            Err(e) => problems.push(problem("listen", e.to_string())),
        }
    }
    if problems.is_empty() {
        Ok(passed)
    } else {
        Err(PrepareError(problems))
    }
}

/// Binds one socket.
fn bind(l: &Listen, credentials: Option<&Credentials>) -> Result<Passed, BindError> {
    let name = l.name.to_string();
    let io_error = |source: io::Error| BindError::Io {
        name: name.clone(),
        address: l.address.clone(),
        source,
    };
    let (socket, address, file) = match &l.address {
        SocketAddress::Tcp(addr) => {
            let (socket, bound) = bind_tcp(*addr).map_err(|source| {
                if source.kind() == io::ErrorKind::AddrInUse {
                    BindError::InUse {
                        name: name.clone(),
                        address: l.address.clone(),
                        holder: sys::listener_of(addr.port()),
                    }
                } else {
                    io_error(source)
                }
            })?;
            (socket, SocketAddress::Tcp(bound), None)
        }
        SocketAddress::Unix(path) => {
            let socket =
                sys::bind_unix(path, l.mode.map(|m| m.0), credentials).map_err(|e| match e {
                    sys::UnixBindError::Listening => BindError::InUse {
                        name: name.clone(),
                        address: l.address.clone(),
                        holder: None,
                    },
                    sys::UnixBindError::NotASocket => BindError::NotASocket {
                        name: name.clone(),
                        address: l.address.clone(),
                    },
                    sys::UnixBindError::Io(source) => io_error(source),
                })?;
            let file = Arc::new(SocketFile::new(path));
            (socket, l.address.clone(), Some(file))
        }
    };
    Ok(Passed {
        name,
        address,
        socket: Arc::new(socket),
        file,
    })
}

/// A TCP listener on `addr` (std sets `SO_REUSEADDR` on Unix, so a port whose old
/// connections linger in TIME_WAIT can be bound again; not on Windows, where the
/// option would let another program take the port), with the larger [`BACKLOG`].
fn bind_tcp(addr: SocketAddr) -> io::Result<(HeldSocket, SocketAddr)> {
    let listener = TcpListener::bind(addr)?;
    let bound = listener.local_addr()?;
    let socket = HeldSocket::from(listener);
    sys::set_backlog(&socket, BACKLOG)?;
    Ok((socket, bound))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(listen: &str) -> Spec {
        toml::from_str(&format!("name = \"s\"\ncommand = \"x\"\n{listen}")).unwrap()
    }

    /// A port in use is a problem that names the address and the socket; on Linux
    /// also this process, which holds it.
    #[test]
    fn a_port_in_use_is_a_problem_naming_the_address() {
        let taken = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = taken.local_addr().unwrap();
        let s = spec(&format!(
            "[[listen]]\nname = \"http\"\naddress = \"{addr}\"\n[[listen]]\nname = \"free\"\naddress = \"127.0.0.1:0\"\n"
        ));
        let e = bind_all(&s, None).unwrap_err();
        assert_eq!(e.0.len(), 1, "{e}");
        let msg = &e.0[0].message;
        assert!(
            msg.contains(&format!(
                "cannot listen on {addr} (`[[listen]]` http): the address is in use"
            )),
            "{msg}"
        );
        #[cfg(target_os = "linux")]
        assert!(
            msg.contains(&format!("by pid {}", std::process::id())),
            "{msg}"
        );
        assert_eq!(e.0[0].key, "listen");
    }

    /// Port 0 is resolved to the port the system chose, and the socket accepts
    /// connections before anyone accepts them (they wait in the backlog).
    #[test]
    fn binds_and_holds() {
        let s = spec("[[listen]]\nname = \"http\"\naddress = \"127.0.0.1:0\"\n");
        let passed = bind_all(&s, None).unwrap();
        assert_eq!(passed.len(), 1);
        let SocketAddress::Tcp(addr) = passed[0].address else {
            panic!("{:?}", passed[0].address)
        };
        assert_ne!(addr.port(), 0);
        std::net::TcpStream::connect(addr).unwrap();
    }
}
