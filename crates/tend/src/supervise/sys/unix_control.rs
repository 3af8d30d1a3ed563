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

impl ControlListener {
    /// Opens the channel of `name` in `state_dir`. The caller holds the service's
    /// supervisor lock, so a socket already there is a dead supervisor's and is
    /// replaced. The socket is bound in a folder only this user can enter, made 0600
    /// and only then renamed into place: nobody else can connect at any moment, not
    /// even before the mode is set (the umask plays no part).
    pub fn bind(state_dir: &Path, name: &str) -> io::Result<ControlListener> {
        let path = control_path(state_dir, name);
        // Short: a socket's path has a length limit (about 100 bytes).
        let private = state_dir.join(format!(".c{}", std::process::id()));
        // Left over from an earlier process with this pid: stale.
        let _ = std::fs::remove_dir_all(&private);
        std::fs::DirBuilder::new().mode(0o700).create(&private)?;
        let result = (|| -> io::Result<UnixListener> {
            let tmp = private.join("s");
            let listener = UnixListener::bind(&tmp)?;
            std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600))?;
            std::fs::rename(&tmp, &path)?;
            Ok(listener)
        })();
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
        let peer = stream.peer_cred()?.uid();
        let own = nix::unistd::geteuid().as_raw();
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

/// Connects to the channel of `name` in `state_dir`.
pub async fn control_connect(state_dir: &Path, name: &str) -> io::Result<ControlClient> {
    UnixStream::connect(control_path(state_dir, name)).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn who_may_connect() {
        assert!(peer_allowed(1000, 1000));
        assert!(peer_allowed(0, 1000), "root");
        assert!(peer_allowed(0, 0));
        assert!(!peer_allowed(1001, 1000), "another user");
        assert!(!peer_allowed(1000, 0), "a user, to root's supervisor");
    }
}
