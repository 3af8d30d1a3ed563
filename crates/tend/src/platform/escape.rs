//! Command-line escapers, one per format that needs a single command line. Arguments
//! stay a list everywhere else; only these functions turn them into text, and each is
//! table-tested with spaces, quotes, backslashes, `%`, `$` and unicode.

/// Escapes `args` for systemd's `ExecStart=` (systemd.service(5), "Command lines"):
/// each argument is left bare when it is plain, otherwise double-quoted with C-style
/// escapes; `%` becomes `%%` (specifiers) and `$` becomes `$$` (variable expansion)
/// everywhere, quoted or not.
pub fn systemd_exec(args: &[&str]) -> String {
    args.iter()
        .map(|a| systemd_word(a))
        .collect::<Vec<_>>()
        .join(" ")
}

fn systemd_word(arg: &str) -> String {
    let plain = !arg.is_empty()
        && arg.chars().all(|c| c.is_ascii_alphanumeric() || "/-_.,:+=@".contains(c))
        // A lone ";" separates commands in older systemd; prefixes like "-" or "@" only
        // matter on the first word, which is always an absolute path here.
        && arg != ";";
    if plain {
        return arg.to_string();
    }
    let mut out = String::with_capacity(arg.len() + 2);
    out.push('"');
    for c in arg.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '%' => out.push_str("%%"),
            '$' => out.push_str("$$"),
            c if (c as u32) < 0x20 || c == '\x7f' => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Escapes one argument for a POSIX shell: bare when plain, otherwise in single
/// quotes (where nothing is special), with each `'` written as `'\''`.
pub fn sh_word(arg: &str) -> String {
    let plain = !arg.is_empty()
        && arg
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "/-_.,:+=@%".contains(c));
    if plain {
        return arg.to_string();
    }
    format!("'{}'", arg.replace('\'', "'\\''"))
}

/// Escapes `args` for a POSIX shell command line.
pub fn sh_words(args: &[&str]) -> String {
    args.iter()
        .map(|a| sh_word(a))
        .collect::<Vec<_>>()
        .join(" ")
}

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

/// Splits a systemd `ExecStart=` value back into arguments, following the same rules
/// (used by tests to prove the escaper round-trips, and by drift detection).
pub fn systemd_split(line: &str) -> Result<Vec<String>, String> {
    let line = line.replace("%%", "%").replace("$$", "$");
    let mut words = Vec::new();
    let mut chars = line.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        let Some(&first) = chars.peek() else { break };
        let mut word = String::new();
        if first == '"' || first == '\'' {
            chars.next();
            loop {
                match chars.next() {
                    None => return Err("unterminated quote".into()),
                    Some(c) if c == first => break,
                    Some('\\') => word.push(unescape(&mut chars)?),
                    Some(c) => word.push(c),
                }
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c.is_whitespace() {
                    break;
                }
                chars.next();
                if c == '\\' {
                    word.push(unescape(&mut chars)?);
                } else {
                    word.push(c);
                }
            }
        }
        words.push(word);
    }
    Ok(words)
}

fn unescape(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) -> Result<char, String> {
    match chars.next() {
        Some('n') => Ok('\n'),
        Some('t') => Ok('\t'),
        Some('r') => Ok('\r'),
        Some('x') => {
            let hex: String = [chars.next(), chars.next()].iter().flatten().collect();
            u8::from_str_radix(&hex, 16)
                .map(char::from)
                .map_err(|_| format!("bad \\x escape {hex:?}"))
        }
        Some(c) => Ok(c),
        None => Err("trailing backslash".into()),
    }
}

#[cfg(test)]
mod tests {
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
        "new\nline",
        "tab\there",
        "unicode: 日本語 ü",
        "",
        ";",
        "C:\\Program Files\\x",
        "--opt=a b",
        "\x01ctl",
    ];

    #[test]
    fn systemd_words() {
        let table = [
            ("plain", "plain"),
            ("/etc/tend/orders.toml", "/etc/tend/orders.toml"),
            ("with space", "\"with space\""),
            ("a\"b", "\"a\\\"b\""),
            ("back\\slash", "\"back\\\\slash\""),
            ("50%", "\"50%%\""),
            ("$HOME", "\"$$HOME\""),
            ("", "\"\""),
            (";", "\";\""),
            ("new\nline", "\"new\\nline\""),
            ("ü", "\"ü\""),
        ];
        for (arg, want) in table {
            assert_eq!(systemd_word(arg), want, "{arg:?}");
        }
    }

    #[test]
    fn systemd_round_trip() {
        let line = systemd_exec(NASTY);
        assert_eq!(systemd_split(&line).unwrap(), NASTY, "{line}");
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
            .filter(|_| true)
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
