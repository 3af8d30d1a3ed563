//! Escapers, one per context that reads a value back: each function names the parser it
//! writes for, and `parse_back` holds a model of that parser, checked against the real
//! one (a shell, `systemd-analyze verify`). Arguments stay a list everywhere else; only
//! these functions turn them into text, and each is table-tested with spaces, quotes,
//! backslashes, `%`, `$` and unicode.
//!
//! systemd reads each key of a unit in its own way (systemd.syntax(7), systemd.service(5),
//! systemd.exec(5)); what tend writes, measured against systemd 252:
//!
//! | key | quotes | backslash | `%` | `$` |
//! |---|---|---|---|---|
//! | `ExecStart=` arguments | `"…"` | C escapes (`\n`, `\x01`) | `%%` | `$$` |
//! | `ExecStart=` executable | `"…"` | refused (with `"` `'`) | `%%` | as is: never expanded |
//! | `ReadWritePaths=` | `"…"` | escapes the next character only | `%%` | as is |
//! | `Description=`, `WorkingDirectory=` | none: raw text | as is | `%%` | as is |
//!
//! In every key a line ending in an odd number of backslashes continues on the next
//! line, and leading and trailing white space is dropped.

/// Escapes `argv` for systemd's `ExecStart=` (systemd.service(5), "Command lines"):
/// each word bare when it is plain, otherwise double-quoted with C escapes; `%` is
/// `%%` (specifiers) everywhere. `$` is `$$` in the arguments, where systemd expands
/// variables, but not in the executable (the first word), which systemd runs as
/// written. systemd refuses an executable with `"`, `'`, `\` or a control character
/// (see [`super::check_tend_path`]).
pub fn systemd_exec(argv: &[&str]) -> String {
    argv.iter()
        .enumerate()
        .map(|(i, a)| systemd_quoted(a, Cx::Exec { dollar: i > 0 }))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Escapes paths for a systemd path list such as `ReadWritePaths=` (systemd.exec(5)):
/// each path bare when plain, otherwise double-quoted, where a backslash only
/// escapes the next character (no C escapes: a path cannot hold a control character
/// here). `%` is `%%`; `$` stays as is (no variables are expanded in these lists).
pub fn systemd_paths(paths: &[&str]) -> String {
    paths
        .iter()
        .map(|p| systemd_quoted(p, Cx::PathList))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Escapes a value systemd reads as raw text apart from specifiers (`Description=`,
/// `User=`): only `%` becomes `%%`. The caller makes sure the value does not end in a
/// backslash (a line continuation) and has no line break (spec validation).
pub fn systemd_raw(value: &str) -> String {
    value.replace('%', "%%")
}

/// Escapes a directory for `WorkingDirectory=`, which systemd reads raw (specifiers
/// aside) and then simplifies as a path. A directory ending in white space or a
/// backslash, which the line would lose or turn into a continuation, gets `/.`
/// appended: the same directory, and systemd simplifies it away again.
pub fn systemd_dir(dir: &str) -> String {
    let mut out = systemd_raw(dir);
    if out.ends_with(|c: char| c == '\\' || c.is_whitespace()) {
        out.push_str("/.");
    }
    out
}

#[derive(Clone, Copy)]
enum Cx {
    /// An `ExecStart=` word: C escapes; `$$` where variables are expanded.
    Exec { dollar: bool },
    /// A word of a path list: a backslash escapes the next character.
    PathList,
}

fn systemd_quoted(arg: &str, cx: Cx) -> String {
    let plain = !arg.is_empty()
        && arg.chars().all(|c| c.is_ascii_alphanumeric() || "/-_.,:+=@".contains(c))
        // A lone ";" separates commands in ExecStart; prefixes like "-" or "@" only
        // matter on the first word, which is always an absolute path here.
        && arg != ";";
    if plain {
        return arg.to_string();
    }
    let mut out = String::with_capacity(arg.len() + 2);
    out.push('"');
    for c in arg.chars() {
        match (c, cx) {
            ('"', _) => out.push_str("\\\""),
            ('\\', _) => out.push_str("\\\\"),
            ('%', _) => out.push_str("%%"),
            ('$', Cx::Exec { dollar: true }) => out.push_str("$$"),
            ('\n', Cx::Exec { .. }) => out.push_str("\\n"),
            ('\t', Cx::Exec { .. }) => out.push_str("\\t"),
            ('\r', Cx::Exec { .. }) => out.push_str("\\r"),
            (c, Cx::Exec { .. }) if (c as u32) < 0x20 || c == '\x7f' => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            (c, _) => out.push(c),
        }
    }
    out.push('"');
    out
}

// A POSIX shell's words: in `crate::text`, where the command lines suggested to people
// (`spec`, `cli`) take them too; proven here like every escaper.
pub use crate::text::{sh_word, sh_words};

/// Escapes text for XML character data and attribute values (launchd plists).
pub fn xml_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::parse_back::systemd;
    use super::*;

    const NASTY: &[&str] = &[
        "/usr/local/bin/tend",
        "plain",
        "with space",
        "double\"quote",
        "single'quote",
        "back\\slash",
        "trailing\\",
        "50%",
        "%n%i",
        "$HOME",
        "${VAR}",
        "$",
        "$$",
        "new\nline",
        "tab\there",
        "unicode: 日本語 ü",
        "",
        ";",
        "C:\\Program Files\\x",
        "--opt=a b",
        "\x01ctl",
        "$(touch /tmp/pwned)",
        "`id`",
    ];

    #[test]
    fn systemd_exec_words() {
        // (argv, ExecStart=): `$` doubled in arguments only, never in the executable.
        let table: &[(&[&str], &str)] = &[
            (&["/bin/x", "plain"], "/bin/x plain"),
            (&["/bin/x", "/etc/tend/o.toml"], "/bin/x /etc/tend/o.toml"),
            (&["/bin/x", "with space"], "/bin/x \"with space\""),
            (&["/bin/x", "a\"b"], "/bin/x \"a\\\"b\""),
            (&["/bin/x", "back\\slash"], "/bin/x \"back\\\\slash\""),
            (&["/bin/x", "50%"], "/bin/x \"50%%\""),
            (&["/bin/x", "$HOME"], "/bin/x \"$$HOME\""),
            (&["/bin/x", ""], "/bin/x \"\""),
            (&["/bin/x", ";"], "/bin/x \";\""),
            (&["/bin/x", "new\nline"], "/bin/x \"new\\nline\""),
            (&["/bin/x", "ü"], "/bin/x \"ü\""),
            (&["/opt/a $x%d/tend", "run"], "\"/opt/a $x%%d/tend\" run"),
            (&["/opt/$x/tend"], "\"/opt/$x/tend\""),
        ];
        for (argv, want) in table {
            assert_eq!(systemd_exec(argv), *want, "{argv:?}");
        }
    }

    #[test]
    fn systemd_other_keys() {
        assert_eq!(
            systemd_paths(&["/var/log/a b", "/v/$x", "/v/50%", "/v/q\"\\"]),
            "\"/var/log/a b\" \"/v/$x\" \"/v/50%%\" \"/v/q\\\"\\\\\""
        );
        assert_eq!(systemd_raw("100% $0 \\ \"x\""), "100%% $0 \\ \"x\"");
        for (dir, want) in [
            ("/srv/app", "/srv/app"),
            ("/srv/50%", "/srv/50%%"),
            ("/srv/app\\", "/srv/app\\/."),
            ("/srv/app ", "/srv/app /."),
            ("/srv/a\\b", "/srv/a\\b"),
        ] {
            assert_eq!(systemd_dir(dir), want, "{dir:?}");
        }
    }

    #[test]
    fn systemd_exec_round_trips_through_the_model() {
        let mut argv = vec!["/opt/my tools $x%d/tend"];
        argv.extend_from_slice(NASTY);
        let line = systemd_exec(&argv);
        let exec = systemd::exec(&line).unwrap();
        assert_eq!(exec.path, argv[0], "{line}");
        assert_eq!(exec.argv, argv, "{line}");
    }

    #[test]
    fn systemd_paths_round_trip_through_the_model() {
        let paths = [
            "/var/log/a b",
            "/var/log/$x",
            "/var/log/$$",
            "/var/log/50%",
            "/var/log/q\"q'q",
            "/var/log/back\\slash\\",
            "/var/log/$(touch x)`id`",
            "/var/log/日本",
        ];
        let line = systemd_paths(&paths);
        assert_eq!(systemd::path_list(&line).unwrap(), paths, "{line}");
        for dir in paths {
            assert_eq!(
                systemd::working_directory(&systemd_dir(dir)).unwrap(),
                dir,
                "{dir:?}"
            );
        }
    }

    #[test]
    fn sh_round_trip_through_a_real_shell() {
        // printf '%s\0' prints each argument NUL-terminated exactly as the shell parsed it.
        let line = format!("printf '%s\\0' {}", sh_words(NASTY));
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(&line)
            .output()
            .unwrap();
        let got: Vec<String> = out
            .stdout
            .split(|&b| b == 0)
            .map(|w| String::from_utf8_lossy(w).to_string())
            .collect();
        assert_eq!(&got[..got.len() - 1], NASTY, "{line}");
    }

    #[test]
    fn sh_words_quote_only_when_needed() {
        assert_eq!(sh_word("/usr/bin/tend"), "/usr/bin/tend");
        assert_eq!(sh_word("it's"), "'it'\\''s'");
        assert_eq!(sh_word("$x"), "'$x'");
        assert_eq!(sh_word(""), "''");
    }

    #[test]
    fn xml() {
        assert_eq!(xml_text("a<b & \"c\""), "a&lt;b &amp; &quot;c&quot;");
    }
}
