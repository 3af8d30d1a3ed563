//! Who is acting, and from where: the user (uid and name, and the `sudo` user behind
//! root), the terminal, else the process that ran tend, and an SSH client's address.

/// Who runs this tend.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Actor {
    /// The numeric user id (none on Windows).
    pub uid: Option<u32>,
    /// The user name.
    pub user: String,
    /// `SUDO_USER`, when tend runs under sudo.
    pub sudo_user: Option<String>,
    /// From where (see [`describe_from`]).
    pub from: String,
}

/// Where an action comes from, in words: the terminal when there is one, else the
/// calling process (`pid 812 (ansible-playboo)`), with the SSH client's address
/// (`SSH_CONNECTION`'s first field) when there is one.
pub fn describe_from(
    tty: Option<&str>,
    parent: Option<(u32, Option<&str>)>,
    ssh: Option<&str>,
) -> String {
    let mut out = match (tty, parent) {
        (Some(t), _) => t.to_string(),
        (None, Some((pid, Some(name)))) => format!("pid {pid} ({name})"),
        (None, Some((pid, None))) => format!("pid {pid}"),
        (None, None) => "unknown".to_string(),
    };
    if let Some(addr) = ssh.and_then(|s| s.split_whitespace().next()) {
        out.push_str(&format!(" via ssh from {addr}"));
    }
    out
}

/// The actor of this process.
pub fn current() -> Actor {
    let ssh = std::env::var("SSH_CONNECTION").ok();
    imp::current(ssh.as_deref())
}

#[cfg(unix)]
mod imp {
    use super::{describe_from, Actor};

    pub fn current(ssh: Option<&str>) -> Actor {
        let uid = nix::unistd::getuid();
        let user = nix::unistd::User::from_uid(uid)
            .ok()
            .flatten()
            .map_or_else(|| uid.to_string(), |u| u.name);
        let tty = std::fs::read_link("/proc/self/fd/0")
            .ok()
            .map(|p| p.display().to_string())
            .filter(|p| p.starts_with("/dev/pts/") || p.starts_with("/dev/tty"));
        let ppid = std::os::unix::process::parent_id();
        let comm = std::fs::read_to_string(format!("/proc/{ppid}/comm")).ok();
        let comm = comm.as_deref().map(str::trim).filter(|c| !c.is_empty());
        Actor {
            uid: Some(uid.as_raw()),
            user,
            sudo_user: std::env::var("SUDO_USER").ok().filter(|u| !u.is_empty()),
            from: describe_from(tty.as_deref(), Some((ppid, comm)), ssh),
        }
    }
}

#[cfg(windows)]
mod imp {
    use super::{describe_from, Actor};

    pub fn current(ssh: Option<&str>) -> Actor {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        let user = match (var("USERDOMAIN"), var("USERNAME")) {
            (Some(d), Some(u)) => format!("{d}\\{u}"),
            (None, Some(u)) => u,
            _ => "unknown".to_string(),
        };
        Actor {
            uid: None,
            user,
            sudo_user: None,
            from: describe_from(var("SESSIONNAME").as_deref(), None, ssh),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A terminal, the parent process, `SSH_CONNECTION`, and what they make.
    type Case<'a> = (
        Option<&'a str>,
        Option<(u32, Option<&'a str>)>,
        Option<&'a str>,
        &'a str,
    );

    #[test]
    fn from_in_words() {
        let cases: &[Case] = &[
            (
                Some("/dev/pts/3"),
                Some((9, Some("bash"))),
                None,
                "/dev/pts/3",
            ),
            (
                None,
                Some((812, Some("ansible"))),
                None,
                "pid 812 (ansible)",
            ),
            (None, Some((812, None)), None, "pid 812"),
            (None, None, None, "unknown"),
            (
                Some("/dev/pts/0"),
                None,
                Some("192.0.2.7 51234 192.0.2.1 22"),
                "/dev/pts/0 via ssh from 192.0.2.7",
            ),
            (Some("/dev/pts/0"), None, Some(""), "/dev/pts/0"),
        ];
        for (tty, parent, ssh, want) in cases {
            assert_eq!(describe_from(*tty, *parent, *ssh), *want);
        }
    }

    #[cfg(unix)]
    #[test]
    fn the_current_actor_is_this_process_user() {
        let a = current();
        assert_eq!(a.uid, Some(nix::unistd::getuid().as_raw()));
        assert!(!a.user.is_empty());
        assert_ne!(a.from, "unknown");
    }
}
