//! Text for people: OS errors without Rust's `(os error N)` suffix, and the words of a
//! POSIX shell command line (what tend writes into init scripts, and the commands it
//! suggests), proven against a real shell in `platform::escape`.

use std::io;

/// The message of an I/O error as a person reads it: `No such file or directory`, not
/// `No such file or directory (os error 2)`. Errors that are not the OS's keep their
/// text.
pub fn io_error(e: &io::Error) -> String {
    strip_os_code(&e.to_string()).to_string()
}

/// `text` without a trailing ` (os error N)`.
fn strip_os_code(text: &str) -> &str {
    let Some(head) = text.strip_suffix(')') else {
        return text;
    };
    match head.rsplit_once(" (os error ") {
        Some((msg, code))
            if !code.is_empty()
                && code
                    .strip_prefix('-')
                    .unwrap_or(code)
                    .bytes()
                    .all(|b| b.is_ascii_digit()) =>
        {
            msg
        }
        _ => text,
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn os_codes_are_dropped_and_nothing_else() {
        for (text, shown) in [
            (
                "No such file or directory (os error 2)",
                "No such file or directory",
            ),
            ("Access is denied. (os error 5)", "Access is denied."),
            ("odd (os error -3)", "odd"),
            ("a note (see below)", "a note (see below)"),
            ("(os error 2)", "(os error 2)"),
            ("x (os error )", "x (os error )"),
            ("x (os error 2a)", "x (os error 2a)"),
            ("plain", "plain"),
        ] {
            assert_eq!(strip_os_code(text), shown, "{text}");
        }
        let e = io::Error::from_raw_os_error(2);
        assert!(!io_error(&e).contains("os error"), "{}", io_error(&e));
        assert_eq!(
            io_error(&io::Error::other("custom (thing)")),
            "custom (thing)"
        );
    }
}
