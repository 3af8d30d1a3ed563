//! The audit trail: who did what to which service, when, from where, and with what
//! result, one JSON line per action in an append-only file.
//!
//! Each line holds the SHA-256 of the line before it (`prev`, hex; 64 zeros for the
//! first) and its place in the file (`seq`, from 1), so [`verify`] finds a line that
//! was edited, deleted, inserted or moved: the line after it no longer follows. The
//! hash is over the bytes of the line as written (without its newline), so no
//! canonical form of JSON is needed. What a chain cannot show alone is the removal of
//! the last lines; the copy of each entry sent to syslog / the journal (with its
//! hash) is the witness for those.
//!
//! This module is pure: the line format, the chain and its check. Writing the file
//! (locked, append-only) is [`log`]; who is acting is [`actor`].

pub mod actor;
pub mod log;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The `prev` of the first line.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// One action, as a line of the audit log.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// Its place in the log, from 1.
    pub seq: u64,
    /// When, in UTC (RFC 3339, seconds).
    pub time: String,
    /// Who: the numeric user id (on Windows, none: see `user`).
    pub uid: Option<u32>,
    /// Who, on Windows: the account's SID.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    /// Who: the user name (on Windows, `DOMAIN\user`).
    pub user: String,
    /// The user who ran `sudo`, when it was sudo.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sudo_user: Option<String>,
    /// From where: the terminal, else the calling process (`pid 812 (ansible)`); an
    /// SSH client's address when there is one.
    pub from: String,
    /// The service.
    pub service: String,
    /// What: `install`, `uninstall`, `start`, `stop`, `restart`, `upgrade`,
    /// `rollback`, `control 130`, ...
    pub action: String,
    /// The SHA-256 of the installed spec before the action, when there was one.
    pub spec_before: Option<String>,
    /// The SHA-256 of the installed spec after the action, when there is one.
    pub spec_after: Option<String>,
    /// `ok`, or `error: ...`.
    pub result: String,
    /// The SHA-256 of the previous line.
    pub prev: String,
}

/// The SHA-256 of `bytes`, lower-case hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// The line that follows a log whose last line is `last` (`None`: an empty log):
/// `entry` with its `seq` and `prev` set. No newline.
pub fn next_line(last: Option<&str>, mut entry: Entry) -> String {
    match last {
        None => {
            entry.seq = 1;
            entry.prev = GENESIS.to_string();
        }
        Some(last) => {
            let seq = serde_json::from_str::<Entry>(last).map_or(0, |e| e.seq);
            entry.seq = seq + 1;
            entry.prev = sha256_hex(last.as_bytes());
        }
    }
    serde_json::to_string(&entry).unwrap_or_default()
}

/// Why a line breaks the chain.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Break {
    /// Not an entry at all.
    #[error("line {line} is not an audit entry ({why})")]
    Unreadable {
        /// The 1-based line number.
        line: usize,
        /// What the JSON parser said.
        why: String,
    },
    /// Its `seq` does not follow the line before's: lines were deleted, inserted or
    /// moved there.
    #[error("line {line} holds entry #{seq}, which does not follow line {}: lines were deleted, inserted or moved there", line - 1)]
    Misplaced {
        /// The 1-based line number.
        line: usize,
        /// The `seq` it holds.
        seq: u64,
    },
    /// Its `prev` is not the hash of the line before it: that line was edited (or
    /// the lines around it deleted or moved).
    #[error("line {line} does not follow line {}: line {} was changed, or lines between them deleted or moved", line - 1, line - 1)]
    Unchained {
        /// The 1-based line number.
        line: usize,
    },
    /// The first line does not start a log.
    #[error("line 1 does not start a log: lines before it were deleted")]
    Headless,
}

impl Break {
    /// The line it is about.
    pub fn line(&self) -> usize {
        match self {
            Break::Unreadable { line, .. }
            | Break::Misplaced { line, .. }
            | Break::Unchained { line } => *line,
            Break::Headless => 1,
        }
    }
}

/// Checks the chain of the log `text`: every break, at most one per line, in the order
/// of the lines (a single edit gives a single break: the chain goes on from each line
/// as it is). An empty log is intact.
pub fn verify(text: &str) -> Vec<Break> {
    let mut breaks = Vec::new();
    let mut prev = GENESIS.to_string();
    // The `seq` of the line before (0 before the first); unknown after a line that
    // could not be read.
    let mut last_seq = Some(0);
    for (i, line) in text.lines().enumerate() {
        let n = i + 1;
        match serde_json::from_str::<Entry>(line) {
            Err(e) => {
                breaks.push(Break::Unreadable {
                    line: n,
                    why: e.to_string(),
                });
                last_seq = None;
            }
            Ok(e) => {
                if n == 1 && (e.seq != 1 || e.prev != GENESIS) {
                    breaks.push(Break::Headless);
                } else if last_seq.is_some_and(|s| e.seq != s + 1) {
                    breaks.push(Break::Misplaced {
                        line: n,
                        seq: e.seq,
                    });
                } else if e.prev != prev {
                    breaks.push(Break::Unchained { line: n });
                }
                last_seq = Some(e.seq);
            }
        }
        prev = sha256_hex(line.as_bytes());
    }
    breaks
}

/// The entries of the log `text` that can be read (lines that cannot are left out;
/// [`verify`] reports them), with their line numbers.
pub fn entries(text: &str) -> Vec<(usize, Entry)> {
    text.lines()
        .enumerate()
        .filter_map(|(i, l)| serde_json::from_str(l).ok().map(|e| (i + 1, e)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(service: &str, action: &str) -> Entry {
        Entry {
            time: "2025-01-02T03:04:05Z".into(),
            uid: Some(0),
            user: "root".into(),
            from: "/dev/pts/0".into(),
            service: service.into(),
            action: action.into(),
            result: "ok".into(),
            ..Entry::default()
        }
    }

    /// A log of `n` entries, as its lines.
    fn log(n: usize) -> Vec<String> {
        let mut lines: Vec<String> = Vec::new();
        for i in 0..n {
            let line = next_line(
                lines.last().map(String::as_str),
                entry("web", &format!("a{i}")),
            );
            lines.push(line);
        }
        lines
    }

    fn text(lines: &[String]) -> String {
        lines.iter().map(|l| format!("{l}\n")).collect()
    }

    #[test]
    fn lines_chain_from_genesis() {
        let lines = log(3);
        let first: Entry = serde_json::from_str(&lines[0]).unwrap();
        assert_eq!((first.seq, first.prev.as_str()), (1, GENESIS));
        let third: Entry = serde_json::from_str(&lines[2]).unwrap();
        assert_eq!(third.seq, 3);
        assert_eq!(third.prev, sha256_hex(lines[1].as_bytes()));
        assert!(!lines[0].contains('\n'));
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn an_untouched_log_verifies() {
        assert_eq!(verify(""), []);
        for n in [1, 2, 5] {
            assert_eq!(verify(&text(&log(n))), [], "{n} lines");
        }
        // Without a final newline too.
        assert_eq!(verify(text(&log(2)).trim_end()), []);
    }

    /// Each way of tampering, and the line numbers `verify` names.
    #[test]
    fn tampering_is_found_at_its_line() {
        let l = log(5);
        let edit = |i: usize, from: &str, to: &str| {
            let mut v = l.clone();
            v[i] = v[i].replace(from, to);
            assert_ne!(v[i], l[i], "the edit changed nothing");
            v
        };
        let without = |i: usize| {
            let mut v = l.clone();
            v.remove(i);
            v
        };
        let swapped = |i: usize| {
            let mut v = l.clone();
            v.swap(i, i + 1);
            v
        };
        let mut inserted = l.clone();
        inserted.insert(2, l[1].clone());
        let cases: Vec<(&str, Vec<String>, Vec<usize>)> = vec![
            ("line 2 edited", edit(1, "\"ok\"", "\"error: x\""), vec![3]),
            ("line 1 edited", edit(0, "root", "toor"), vec![2]),
            ("line 4 edited", edit(3, "\"a3\"", "\"a9\""), vec![5]),
            ("line 3 deleted", without(2), vec![3]),
            ("line 1 deleted", without(0), vec![1]),
            // The chain alone cannot show the last lines removed: the syslog copy can.
            ("line 5 deleted", without(4), vec![]),
            ("lines 2 and 3 swapped", swapped(1), vec![2, 3, 4]),
            ("lines 4 and 5 swapped", swapped(3), vec![4, 5]),
            ("line 2 copied after itself", inserted, vec![3]),
            (
                "line 3 not JSON",
                {
                    let mut v = l.clone();
                    v[2] = "garbage".into();
                    v
                },
                vec![3, 4],
            ),
        ];
        for (what, lines, want) in cases {
            let got: Vec<usize> = verify(&text(&lines)).iter().map(Break::line).collect();
            assert_eq!(got, want, "{what}: {:?}", verify(&text(&lines)));
        }
    }

    /// An edit that also fixes `seq` and `prev` of its own line is still found.
    #[test]
    fn a_careful_edit_is_found_by_the_next_line() {
        let mut l = log(3);
        let mut e: Entry = serde_json::from_str(&l[1]).unwrap();
        e.result = "ok, honestly".into();
        l[1] = serde_json::to_string(&e).unwrap();
        assert_eq!(verify(&text(&l)), [Break::Unchained { line: 3 }]);
        assert_eq!(
            Break::Unchained { line: 3 }.to_string(),
            "line 3 does not follow line 2: line 2 was changed, or lines between them deleted or moved"
        );
    }

    #[test]
    fn the_next_line_follows_an_unreadable_last_line() {
        let line = next_line(Some("garbage"), entry("web", "stop"));
        let e: Entry = serde_json::from_str(&line).unwrap();
        assert_eq!(e.seq, 1);
        assert_eq!(e.prev, sha256_hex(b"garbage"));
    }

    #[test]
    fn entries_have_their_line_numbers() {
        let mut l = log(3);
        l[1] = "garbage".into();
        let got: Vec<(usize, String)> = entries(&text(&l))
            .into_iter()
            .map(|(n, e)| (n, e.action))
            .collect();
        assert_eq!(got, [(1, "a0".to_string()), (3, "a2".to_string())]);
    }
}
