//! Who is acting, and from where: the user (uid and name, and the `sudo` user behind
//! root), the terminal, else the process that ran tend, and an SSH client's address.

/// Who runs this tend.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Actor {
    /// The numeric user id (none on Windows).
    pub uid: Option<u32>,
    /// The account's SID (Windows only).
    pub sid: Option<String>,
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
    let f = crate::supervise::sys::actor_facts();
    let parent = f.parent.as_ref().map(|(pid, name)| (*pid, name.as_deref()));
    Actor {
        uid: f.uid,
        sid: f.sid,
        user: f.user,
        sudo_user: f.sudo_user,
        from: describe_from(f.terminal.as_deref(), parent, ssh.as_deref()),
    }
}

/// Who, in words, for the copies of a line (syslog, the Event Log): `root (uid 0)`,
/// `ops (uid 1000, sudo from alice)`, `HOST\ops (S-1-5-21-…)`.
pub fn describe_who(uid: Option<u32>, sid: Option<&str>, user: &str, sudo: Option<&str>) -> String {
    let mut ids = Vec::new();
    if let Some(uid) = uid {
        ids.push(format!("uid {uid}"));
    }
    if let Some(sid) = sid {
        ids.push(sid.to_string());
    }
    if let Some(sudo) = sudo {
        ids.push(format!("sudo from {sudo}"));
    }
    if ids.is_empty() {
        user.to_string()
    } else {
        format!("{user} ({})", ids.join(", "))
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

    /// A uid, a SID, the user, `SUDO_USER`, and what they make.
    type Who<'a> = (
        Option<u32>,
        Option<&'a str>,
        &'a str,
        Option<&'a str>,
        &'a str,
    );

    #[test]
    fn who_in_words() {
        let sid = "S-1-5-21-1004336348-1177238915-682003330-1001";
        let cases: &[Who] = &[
            (Some(0), None, "root", None, "root (uid 0)"),
            (
                Some(0),
                None,
                "root",
                Some("alice"),
                "root (uid 0, sudo from alice)",
            ),
            (
                None,
                Some(sid),
                r"HOST\ops",
                None,
                "HOST\\ops (S-1-5-21-1004336348-1177238915-682003330-1001)",
            ),
            (None, None, "unknown", None, "unknown"),
        ];
        for (uid, sid, user, sudo, want) in cases {
            assert_eq!(describe_who(*uid, *sid, user, *sudo), *want);
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
