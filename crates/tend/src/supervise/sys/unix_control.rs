//! The control channel on Unix: a socket `STATE_DIR/NAME.sock`, mode 0600, and a peer
//! check (its uid must be the supervisor's, or root's) on every connection. Windows
//! has the same names in `windows_control.rs` (a named pipe with an ACL).

use std::io;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use tokio::net::{UnixListener, UnixStream};

/// A service's control socket, bound and listening; removed when dropped.
pub struct ControlListener {
    listener: UnixListener,
    path: PathBuf,
    /// The socket file's device and inode: only that file is removed at the end.
    id: (u64, u64),
}

/// A connection as the supervisor sees it.
pub type ControlStream = UnixStream;

/// A connection as the client sees it.
pub type ControlClient = UnixStream;

/// Where the channel of `name` is: its socket's path.
pub fn control_path(state_dir: &Path, name: &str) -> PathBuf {
    state_dir.join(format!("{name}.sock"))
}

/// The file of the channel of `name`, which a dead supervisor leaves behind and `tend
/// forget` removes: its socket.
pub fn control_file(state_dir: &Path, name: &str) -> Option<PathBuf> {
    Some(control_path(state_dir, name))
}

/// The channel of `name` as people read it.
pub fn control_address(state_dir: &Path, name: &str) -> String {
    control_path(state_dir, name).display().to_string()
}

/// The longest path a socket's address holds (`sun_path`, less its NUL).
pub const MAX_SOCKET_PATH: usize = if cfg!(target_os = "linux") { 107 } else { 103 };

/// The error for a socket path that a socket's address cannot hold.
fn too_long(path: &Path) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!(
            "its path is {} bytes long, more than the {MAX_SOCKET_PATH} a socket's address holds: a shorter --state-dir (or TEND_STATE_DIR) makes it fit",
            path.as_os_str().len()
        ),
    )
}

/// The error for the path `tmp` a socket is first bound at (in its private folder),
/// too long for a socket's address although the socket's own path may fit: named, with
/// its length.
fn bind_path_too_long(tmp: &Path) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!(
            "it is bound first as {}, {} bytes long, more than the {MAX_SOCKET_PATH} a socket's address holds: a shorter --state-dir (or TEND_STATE_DIR) makes it fit",
            tmp.display(),
            tmp.as_os_str().len()
        ),
    )
}

/// The folder `dir` as an `O_PATH` handle (Linux): the folder itself, even if its
/// name is swapped later. `follow`: a last symlink is followed (a state folder may be
/// one); else it is refused (the private folder of [`ControlListener::bind`]).
#[cfg(target_os = "linux")]
fn open_dir(dir: &Path, follow: bool) -> io::Result<std::os::fd::OwnedFd> {
    use nix::fcntl::{open, OFlag};
    use nix::sys::stat::Mode;
    let mut flags = OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC;
    if !follow {
        flags |= OFlag::O_NOFOLLOW;
    }
    open(dir, flags, Mode::empty()).map_err(io::Error::from)
}

/// `file` in the folder open as `dir`, by a short path through `/proc/self/fd`: any
/// socket path fits in a socket's address that way (Linux).
#[cfg(target_os = "linux")]
fn via_fd(dir: &std::os::fd::OwnedFd, file: &std::ffi::OsStr) -> PathBuf {
    use std::os::fd::AsRawFd;
    PathBuf::from(format!("/proc/self/fd/{}", dir.as_raw_fd())).join(file)
}

/// Whether `/proc/self/fd` can stand in for a folder (Linux, with /proc mounted).
#[cfg(target_os = "linux")]
fn proc_fd() -> bool {
    Path::new("/proc/self/fd").is_dir()
}

impl ControlListener {
    /// Opens the channel of `name` in `state_dir`. The caller holds the service's
    /// supervisor lock, so a socket already there is a dead supervisor's and is
    /// replaced. The socket is bound in a folder only this user can enter, made 0600
    /// and only then renamed into place: nobody else can connect at any moment, not
    /// even before the mode is set (the umask plays no part). On Linux the private
    /// folder is used through a handle of it (checked to be this user's, 0700), so it
    /// cannot be swapped between its creation and the bind, and a socket path of any
    /// length works (see [`control_connect`]); elsewhere a path longer than a
    /// socket's address holds is refused, saying what to do.
    pub fn bind(state_dir: &Path, name: &str) -> io::Result<ControlListener> {
        let path = control_path(state_dir, name);
        // Short: a socket's path has a length limit (about 100 bytes).
        let private = state_dir.join(format!(".c{}", std::process::id()));
        // Left over from an earlier process with this pid: stale.
        let _ = std::fs::remove_dir_all(&private);
        std::fs::DirBuilder::new().mode(0o700).create(&private)?;
        let result = bind_in(&private, &path);
        let _ = std::fs::remove_dir_all(&private);
        let listener = result?;
        let m = std::fs::symlink_metadata(&path)?;
        Ok(ControlListener {
            listener,
            path,
            id: (m.dev(), m.ino()),
        })
    }

    /// The next connection, and whether its peer may control the service: another
    /// user (not root) may not, and is told why.
    pub async fn accept(&mut self) -> io::Result<(ControlStream, Result<(), String>)> {
        let (stream, _) = self.listener.accept().await?;
        let own = nix::unistd::geteuid().as_raw();
        // Who connected cannot be told: that connection is refused, saying so (the
        // other connections are not held up).
        let peer = match stream.peer_cred() {
            Ok(c) => c.uid(),
            Err(e) => {
                let why = format!("cannot tell who connected: {}", crate::text::io_error(&e));
                return Ok((stream, Err(why)));
            }
        };
        let allowed = if peer_allowed(peer, own) {
            Ok(())
        } else {
            Err(format!(
                "uid {peer} may not control this service (only uid {own}, which runs its supervisor, and root)"
            ))
        };
        Ok((stream, allowed))
    }
}

/// Binds the socket as `private/s`, makes it 0600 and renames it to `path`.
#[cfg(target_os = "linux")]
fn bind_in(private: &Path, path: &Path) -> io::Result<UnixListener> {
    use nix::sys::stat::{fchmodat, fstat, FchmodatFlags, Mode};
    if !proc_fd() {
        return bind_by_path(private, path);
    }
    let dir = open_dir(private, false)?;
    let st = fstat(&dir).map_err(io::Error::from)?;
    if st.st_uid != nix::unistd::geteuid().as_raw() || st.st_mode & 0o077 != 0 {
        return Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!(
                "{} is not this user's private folder (it was replaced)",
                private.display()
            ),
        ));
    }
    let listener = UnixListener::bind(via_fd(&dir, "s".as_ref()))?;
    fchmodat(
        &dir,
        "s",
        Mode::from_bits_truncate(0o600),
        FchmodatFlags::FollowSymlink,
    )
    .map_err(io::Error::from)?;
    nix::fcntl::renameat(&dir, "s", nix::fcntl::AT_FDCWD, path).map_err(io::Error::from)?;
    Ok(listener)
}

#[cfg(not(target_os = "linux"))]
fn bind_in(private: &Path, path: &Path) -> io::Result<UnixListener> {
    bind_by_path(private, path)
}

/// [`bind_in`] by paths: a path too long for a socket's address is refused.
fn bind_by_path(private: &Path, path: &Path) -> io::Result<UnixListener> {
    let tmp = private.join("s");
    if path.as_os_str().len() > MAX_SOCKET_PATH {
        return Err(too_long(path));
    }
    if tmp.as_os_str().len() > MAX_SOCKET_PATH {
        return Err(bind_path_too_long(&tmp));
    }
    let listener = UnixListener::bind(&tmp)?;
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600))?;
    std::fs::rename(&tmp, path)?;
    Ok(listener)
}

impl Drop for ControlListener {
    fn drop(&mut self) {
        // A later supervisor's socket (once the lock is released) is left alone.
        if std::fs::symlink_metadata(&self.path).is_ok_and(|m| (m.dev(), m.ino()) == self.id) {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// Whether a peer running as `peer` may use a channel of a supervisor running as
/// `own`: the same user, or root.
pub fn peer_allowed(peer: u32, own: u32) -> bool {
    peer == own || peer == 0
}

/// Whether a client running as `own` trusts the answers of a supervisor running as
/// `server`: its own, or root's (root trusts every user's: it can do anything to them
/// anyway).
pub fn server_trusted(server: u32, own: u32) -> bool {
    server == own || server == 0 || own == 0
}

/// Connects to the channel of `name` in `state_dir`: on Linux a path too long for a
/// socket's address is reached through a handle of its folder. The supervisor at the
/// other end must run as this user or root (else `PermissionDenied`, saying who).
pub async fn control_connect(state_dir: &Path, name: &str) -> io::Result<ControlClient> {
    let path = control_path(state_dir, name);
    let stream = if path.as_os_str().len() <= MAX_SOCKET_PATH {
        UnixStream::connect(&path).await?
    } else {
        connect_long(&path).await?
    };
    let server = stream.peer_cred()?.uid();
    let own = nix::unistd::geteuid().as_raw();
    if !server_trusted(server, own) {
        return Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!("its supervisor runs as uid {server}, neither this user (uid {own}) nor root: not trusted"),
        ));
    }
    Ok(stream)
}

#[cfg(target_os = "linux")]
async fn connect_long(path: &Path) -> io::Result<UnixStream> {
    let (Some(dir), Some(file)) = (path.parent(), path.file_name()) else {
        return Err(too_long(path));
    };
    if !proc_fd() {
        return Err(too_long(path));
    }
    // The folder must be there: else the channel is not (NotFound, as for a short path).
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    let dir = open_dir(dir, true)?;
    UnixStream::connect(via_fd(&dir, file)).await
}

#[cfg(not(target_os = "linux"))]
async fn connect_long(path: &Path) -> io::Result<UnixStream> {
    // The supervisor refused such a path: there is no channel (say why).
    match std::fs::symlink_metadata(path) {
        Err(e) => Err(e),
        Ok(_) => Err(too_long(path)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Without a handle of the folder: the error names the path that is too long, and
    /// its length (the socket's own, else the one it is bound at first).
    #[test]
    fn too_long_says_which_path() {
        let base = |n: usize| PathBuf::from(format!("/{}", "d".repeat(n)));
        // The socket's own path fits; the bind path (`.c<pid>/s`) does not.
        let dir = base(MAX_SOCKET_PATH - 10);
        let path = dir.join("a.sock");
        let private = dir.join(".c1234567");
        assert!(path.as_os_str().len() <= MAX_SOCKET_PATH);
        let e = bind_by_path(&private, &path).unwrap_err().to_string();
        let tmp = private.join("s");
        assert!(
            e.starts_with(&format!(
                "it is bound first as {}, {} bytes long",
                tmp.display(),
                tmp.as_os_str().len()
            )),
            "{e}"
        );
        // The socket's own path is too long: its length.
        let path = dir.join("a-long-name.sock");
        let e = bind_by_path(&private, &path).unwrap_err().to_string();
        assert!(
            e.starts_with(&format!(
                "its path is {} bytes long",
                path.as_os_str().len()
            )),
            "{e}"
        );
    }

    #[test]
    fn who_may_connect() {
        assert!(peer_allowed(1000, 1000));
        assert!(peer_allowed(0, 1000), "root");
        assert!(peer_allowed(0, 0));
        assert!(!peer_allowed(1001, 1000), "another user");
        assert!(!peer_allowed(1000, 0), "a user, to root's supervisor");
    }

    #[test]
    fn whose_answers_are_trusted() {
        assert!(server_trusted(1000, 1000));
        assert!(server_trusted(0, 1000), "root's supervisor");
        assert!(server_trusted(1000, 0), "root trusts every user's");
        assert!(!server_trusted(1001, 1000), "another user's");
    }
}
