//! Windows command lines: quoting argument vectors and splitting them back.
//!
//! A Windows process receives one string, not an argument vector: `CreateProcessW` and
//! a service's `binPath` (`ImagePath`) carry a single command line, and each program
//! splits it again itself. Getting the quoting wrong is the classic "unquoted service
//! path" bug and the source of arguments that silently change on the way. This module
//! is pure and compiled on every platform, so it is tested in ordinary Linux CI; the
//! Wine suite (`.ci/wine/`) additionally checks it against real Windows parsers.
//!
//! # The two parsers it must satisfy
//!
//! Windows has two splitters that agree on everything [`windows_arg`] produces:
//!
//! - the MSVC C runtime's (2008 and later, used by the UCRT and, re-implemented, by
//!   Rust's `std::env::args` on Windows): [`split_windows_command_line_crt`];
//! - shell32's `CommandLineToArgvW`, used by many programs that read
//!   `GetCommandLineW()` themselves: [`split_windows_command_line`].
//!
//! For the arguments after the program name both follow the same rules: space and tab
//! separate arguments outside quotes; `"` toggles quoting; `2n` backslashes followed by
//! `"` are `n` backslashes and a quote that toggles, `2n+1` backslashes followed by
//! `"` are `n` backslashes and a literal quote; backslashes not followed by `"` are
//! literal. They differ only in what runs of quotes (`""`, `"""`) mean, which the
//! quoting here never emits.
//!
//! # The program name (argv\[0\]) is special
//!
//! Neither parser applies escapes to the program name, because a file name cannot
//! contain `"`:
//!
//! - CRT: `"` toggles quoting and is dropped, everything else is literal (backslashes
//!   included), and an unquoted space or tab ends the name. `"a b"c d` is `a bc`, `d`.
//! - `CommandLineToArgvW`: if the line starts with `"`, the name is everything up to
//!   the next `"` and the next argument starts right after it, even without a space
//!   (`"a b"c d` is `a b`, `c`, `d`); otherwise the name ends at the first space or
//!   tab. (Wine also ends an unquoted name at other whitespace such as newline.)
//!
//! Both read an empty name when the line starts with a space. `CommandLineToArgvW("")`
//! returns the path of the calling program; here an empty line splits to no arguments.
//!
//! [`windows_command_line`] therefore always quotes the program name and rejects one
//! that contains `"`, and a NUL anywhere (a command line is a NUL-terminated string).

use std::fmt;

/// Why an argument vector cannot become a Windows command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommandLineError {
    /// The vector is empty: there is no program name.
    NoProgram,
    /// The program name contains `"`, which no Windows parser can read back (and no
    /// Windows file name contains).
    QuoteInProgram(String),
    /// An argument (index given, 0 is the program) contains a NUL character, which
    /// would end the command line early.
    Nul(usize),
}

impl fmt::Display for CommandLineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CommandLineError::NoProgram => f.write_str("empty argument vector: no program name"),
            CommandLineError::QuoteInProgram(p) => {
                write!(
                    f,
                    "program name {p:?} contains '\"', which Windows cannot pass"
                )
            }
            CommandLineError::Nul(i) => write!(f, "argument {i} contains a NUL character"),
        }
    }
}

impl std::error::Error for CommandLineError {}

/// Quotes one argument (not the program name) so that both the CRT and
/// `CommandLineToArgvW` read it back unchanged.
///
/// An argument without space, tab, newline, vertical tab or `"` that is not empty is
/// returned as is; backslashes in it are literal. Otherwise it is wrapped in quotes,
/// every `"` is escaped and the backslashes directly before a `"` or before the closing
/// quote are doubled. NUL characters are passed through; [`windows_command_line`]
/// rejects them.
///
/// ```
/// use tend_service::cmdline::windows_arg;
/// assert_eq!(windows_arg("plain"), "plain");
/// assert_eq!(windows_arg(r"C:\Program Files\x\"), r#""C:\Program Files\x\\""#);
/// assert_eq!(windows_arg(r#"say "hi""#), r#""say \"hi\"""#);
/// assert_eq!(windows_arg(""), r#""""#);
/// ```
pub fn windows_arg(arg: &str) -> String {
    let needs_quotes = arg.is_empty()
        || arg
            .chars()
            .any(|c| matches!(c, ' ' | '\t' | '\n' | '\x0b' | '"'));
    if !needs_quotes {
        return arg.to_owned();
    }
    let mut out = String::with_capacity(arg.len() + 2);
    out.push('"');
    let mut backslashes = 0usize;
    for c in arg.chars() {
        match c {
            '\\' => backslashes += 1,
            '"' => {
                // 2n+1 backslashes and the quote: n literal backslashes, a literal quote.
                push_backslashes(&mut out, backslashes * 2 + 1);
                out.push('"');
                backslashes = 0;
            }
            _ => {
                push_backslashes(&mut out, backslashes);
                out.push(c);
                backslashes = 0;
            }
        }
    }
    // The closing quote follows: double the trailing backslashes so it stays a quote.
    push_backslashes(&mut out, backslashes * 2);
    out.push('"');
    out
}

fn push_backslashes(out: &mut String, n: usize) {
    out.extend(std::iter::repeat_n('\\', n));
}

/// Quotes each argument with [`windows_arg`] and joins them with single spaces: the
/// part of a command line after the program name (for example for
/// `std::os::windows::process::CommandExt::raw_arg`).
pub fn windows_args<S: AsRef<str>>(args: &[S]) -> String {
    let mut out = String::new();
    for (i, arg) in args.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        out.push_str(&windows_arg(arg.as_ref()));
    }
    out
}

/// Builds a whole command line: `argv[0]` is the program name, always quoted (so a path
/// with spaces can never be misread as a shorter path plus arguments), the rest are
/// quoted with [`windows_arg`].
///
/// ```
/// use tend_service::cmdline::windows_command_line;
/// let line = windows_command_line(&[r"C:\Program Files\tend\hello.exe", "run-service"]);
/// assert_eq!(line.unwrap(), r#""C:\Program Files\tend\hello.exe" run-service"#);
/// ```
pub fn windows_command_line<S: AsRef<str>>(argv: &[S]) -> Result<String, CommandLineError> {
    let (program, args) = argv.split_first().ok_or(CommandLineError::NoProgram)?;
    let program = program.as_ref();
    if program.contains('"') {
        return Err(CommandLineError::QuoteInProgram(program.to_owned()));
    }
    if let Some(i) = argv.iter().position(|a| a.as_ref().contains('\0')) {
        return Err(CommandLineError::Nul(i));
    }
    let mut out = String::with_capacity(program.len() + 2);
    out.push('"');
    out.push_str(program);
    out.push('"');
    if !args.is_empty() {
        out.push(' ');
        out.push_str(&windows_args(args));
    }
    Ok(out)
}

fn is_blank(c: char) -> bool {
    c == ' ' || c == '\t'
}

/// Splits a command line the way shell32's `CommandLineToArgvW` does (see the module
/// documentation for its program-name rule).
///
/// After the program name, runs of quotes follow `CommandLineToArgvW`'s own rule: a
/// count of unescaped quotes is kept; every third consecutive quote is a literal `"`,
/// and a count of two after a run is reset to "outside quotes".
pub fn split_windows_command_line(line: &str) -> Vec<String> {
    let chars: Vec<char> = line.chars().collect();
    let mut argv = Vec::new();
    if chars.is_empty() {
        return argv;
    }
    let mut i = 0;
    let mut program = String::new();
    if chars[0] == '"' {
        i = 1;
        while i < chars.len() {
            let c = chars[i];
            i += 1;
            if c == '"' {
                break;
            }
            program.push(c);
        }
    } else {
        while i < chars.len() && !is_blank(chars[i]) {
            program.push(chars[i]);
            i += 1;
        }
    }
    argv.push(program);
    while i < chars.len() && is_blank(chars[i]) {
        i += 1;
    }
    if i == chars.len() {
        return argv;
    }

    let mut cur = String::new();
    let mut quotes = 0u32; // 0: outside quotes, 1: inside quotes (2 is folded to 0)
    let mut backslashes = 0usize;
    while i < chars.len() {
        let c = chars[i];
        if is_blank(c) && quotes == 0 {
            argv.push(std::mem::take(&mut cur));
            backslashes = 0;
            while i < chars.len() && is_blank(chars[i]) {
                i += 1;
            }
            // A new argument starts only if something follows the blanks.
            if i == chars.len() {
                return argv;
            }
            continue;
        }
        match c {
            '\\' => {
                cur.push('\\');
                backslashes += 1;
                i += 1;
            }
            '"' => {
                // The backslashes were copied literally; keep half of them.
                let keep = cur.len() - backslashes + backslashes / 2;
                cur.truncate(keep);
                if backslashes.is_multiple_of(2) {
                    quotes += 1;
                } else {
                    cur.push('"');
                }
                backslashes = 0;
                i += 1;
                while i < chars.len() && chars[i] == '"' {
                    quotes += 1;
                    if quotes == 3 {
                        cur.push('"');
                        quotes = 0;
                    }
                    i += 1;
                }
                if quotes == 2 {
                    quotes = 0;
                }
            }
            _ => {
                cur.push(c);
                backslashes = 0;
                i += 1;
            }
        }
    }
    argv.push(cur);
    argv
}

/// Splits a command line the way the MSVC C runtime (2008 and later) and Rust's
/// `std::env::args` on Windows do (see the module documentation for the program name).
///
/// After the program name: inside quotes, `""` is a literal `"` and quoting continues;
/// a quote that opens or closes quoting is dropped; an argument that ends inside quotes
/// (even an empty one, `""` at the very end) still counts.
pub fn split_windows_command_line_crt(line: &str) -> Vec<String> {
    let chars: Vec<char> = line.chars().collect();
    let mut argv = Vec::new();
    if chars.is_empty() {
        return argv;
    }
    let mut i = 0;
    let mut program = String::new();
    let mut in_quotes = false;
    while i < chars.len() {
        let c = chars[i];
        i += 1;
        match c {
            '"' => in_quotes = !in_quotes,
            c if is_blank(c) && !in_quotes => break,
            c => program.push(c),
        }
    }
    argv.push(program);
    while i < chars.len() && is_blank(chars[i]) {
        i += 1;
    }

    let mut cur = String::new();
    let mut in_quotes = false;
    while i < chars.len() {
        let c = chars[i];
        i += 1;
        match c {
            c if is_blank(c) && !in_quotes => {
                argv.push(std::mem::take(&mut cur));
                while i < chars.len() && is_blank(chars[i]) {
                    i += 1;
                }
            }
            '\\' => {
                let mut count = 1;
                while i < chars.len() && chars[i] == '\\' {
                    count += 1;
                    i += 1;
                }
                if i < chars.len() && chars[i] == '"' {
                    push_backslashes(&mut cur, count / 2);
                    if count % 2 == 1 {
                        cur.push('"');
                        i += 1;
                    }
                } else {
                    push_backslashes(&mut cur, count);
                }
            }
            '"' if in_quotes => match chars.get(i) {
                Some('"') => {
                    cur.push('"');
                    i += 1;
                }
                Some(_) => in_quotes = false,
                None => break,
            },
            '"' => in_quotes = true,
            c => cur.push(c),
        }
    }
    if !cur.is_empty() || in_quotes {
        argv.push(cur);
    }
    argv
}

/// A tiny deterministic generator of awkward argument vectors, shared by the unit tests
/// here and the Wine round-trip probe (`examples/argv-roundtrip.rs`). Not a public API.
#[doc(hidden)]
pub mod gen {
    /// xorshift64*: deterministic, dependency-free, good enough for test inputs.
    pub struct Rng(u64);

    impl Rng {
        pub fn new(seed: u64) -> Rng {
            Rng(seed.max(1))
        }

        pub fn next_u64(&mut self) -> u64 {
            let mut x = self.0;
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            self.0 = x;
            x.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }

        /// A number in `0..n` (`n > 0`).
        pub fn below(&mut self, n: usize) -> usize {
            (self.next_u64() % n as u64) as usize
        }
    }

    /// Characters weighted towards the ones that matter to quoting; includes a
    /// character outside the Basic Multilingual Plane (a UTF-16 surrogate pair).
    const ALPHABET: &[char] = &[
        '\\', '\\', '\\', '"', '"', ' ', ' ', '\t', 'a', 'b', '=', '-', '/', ':', '\'', 'é', '✓',
        '😀', '\n', '\x0b', '*', '%', '^', '&',
    ];

    /// One argument of 0..=12 characters; `program` avoids `"` (which a program name
    /// cannot contain).
    pub fn arg(rng: &mut Rng, program: bool) -> String {
        let len = rng.below(13);
        let mut s = String::new();
        while s.chars().count() < len {
            let c = ALPHABET[rng.below(ALPHABET.len())];
            if program && c == '"' {
                continue;
            }
            s.push(c);
        }
        s
    }

    /// A program name and 0..=5 arguments.
    pub fn argv(rng: &mut Rng) -> Vec<String> {
        let n = rng.below(6);
        let mut argv = vec![arg(rng, true)];
        argv.extend((0..n).map(|_| arg(rng, false)));
        argv
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Arguments with their expected quoting.
    const QUOTING: &[(&str, &str)] = &[
        ("plain", "plain"),
        ("", r#""""#),
        ("a b", r#""a b""#),
        ("a\tb", "\"a\tb\""),
        ("a\nb", "\"a\nb\""),
        (r"C:\dir\file", r"C:\dir\file"),
        (r"C:\dir\", r"C:\dir\"),
        (r"C:\my dir\", r#""C:\my dir\\""#),
        (r"C:\my dir\\", r#""C:\my dir\\\\""#),
        (r#"a"b"#, r#""a\"b""#),
        (r#"a\"b"#, r#""a\\\"b""#),
        (r#"a\\"b"#, r#""a\\\\\"b""#),
        (r#"""#, r#""\"""#),
        (r#""""#, r#""\"\"""#),
        (r"\\server\share", r"\\server\share"),
        (r"\\server\my share\", r#""\\server\my share\\""#),
        ("é ✓ 😀", "\"é ✓ 😀\""),
        ("--flag=value", "--flag=value"),
    ];

    #[test]
    fn quoting_table() {
        for (arg, want) in QUOTING {
            assert_eq!(windows_arg(arg), *want, "quoting {arg:?}");
        }
    }

    #[test]
    fn quoted_args_round_trip_through_both_parsers() {
        for (arg, _) in QUOTING {
            let line = windows_command_line(&["prog", arg, "next"]).unwrap();
            let want = vec!["prog".to_owned(), arg.to_string(), "next".to_owned()];
            assert_eq!(split_windows_command_line(&line), want, "CLTAW {line:?}");
            assert_eq!(split_windows_command_line_crt(&line), want, "CRT {line:?}");
            // And as the last argument, where trailing backslashes meet the end.
            let line = windows_command_line(&["prog", arg]).unwrap();
            let want = &want[..2];
            assert_eq!(split_windows_command_line(&line), want, "CLTAW {line:?}");
            assert_eq!(split_windows_command_line_crt(&line), want, "CRT {line:?}");
        }
    }

    #[test]
    fn command_line_quotes_program_always() {
        assert_eq!(
            windows_command_line(&["hello.exe"]).unwrap(),
            r#""hello.exe""#
        );
        assert_eq!(
            windows_command_line(&[
                r"C:\Program Files\tend test\hello-service.exe",
                "run-service",
                "--listen",
                "127.0.0.1:8080"
            ])
            .unwrap(),
            r#""C:\Program Files\tend test\hello-service.exe" run-service --listen 127.0.0.1:8080"#
        );
        assert_eq!(windows_command_line(&[""]).unwrap(), r#""""#);
        assert_eq!(windows_args(&["a b", "c"]), r#""a b" c"#);
        assert_eq!(windows_args::<&str>(&[]), "");
    }

    #[test]
    fn command_line_errors() {
        assert_eq!(
            windows_command_line::<&str>(&[]),
            Err(CommandLineError::NoProgram)
        );
        assert_eq!(
            windows_command_line(&["a\"b"]),
            Err(CommandLineError::QuoteInProgram("a\"b".into()))
        );
        assert_eq!(
            windows_command_line(&["a", "b", "c\0"]),
            Err(CommandLineError::Nul(2))
        );
        assert!(CommandLineError::Nul(2).to_string().contains("argument 2"));
    }

    /// (command line, CommandLineToArgvW result, CRT result)
    #[allow(clippy::type_complexity)]
    const SPLITTING: &[(&str, &[&str], &[&str])] = &[
        ("", &[], &[]),
        ("prog", &["prog"], &["prog"]),
        ("prog   ", &["prog"], &["prog"]),
        (
            "prog a  b\tc",
            &["prog", "a", "b", "c"],
            &["prog", "a", "b", "c"],
        ),
        (" a b", &["", "a", "b"], &["", "a", "b"]),
        // Program names: no escapes; quotes differ.
        (
            r#""C:\a b\p.exe" x"#,
            &[r"C:\a b\p.exe", "x"],
            &[r"C:\a b\p.exe", "x"],
        ),
        (r#""a b"c d"#, &["a b", "c", "d"], &["a bc", "d"]),
        (r#"a"b c"d e"#, &[r#"a"b"#, "cd e"], &["ab cd", "e"]),
        (r#"C:\dir\" x"#, &[r#"C:\dir\""#, "x"], &[r"C:\dir\ x"]),
        (r#""C:\dir\" x"#, &[r"C:\dir\", "x"], &[r"C:\dir\", "x"]),
        (r#""unterminated"#, &["unterminated"], &["unterminated"]),
        // Arguments: backslashes and quotes.
        (r#"p a\\b"#, &["p", r"a\\b"], &["p", r"a\\b"]),
        (r#"p a\"b"#, &["p", r#"a"b"#], &["p", r#"a"b"#]),
        (r#"p a\\"b c""#, &["p", r"a\b c"], &["p", r"a\b c"]),
        (r#"p "a\\\"b""#, &["p", r#"a\"b"#], &["p", r#"a\"b"#]),
        (r#"p "" x"#, &["p", "", "x"], &["p", "", "x"]),
        (r#"p """#, &["p", ""], &["p", ""]),
        (r#"p ""#, &["p", ""], &["p", ""]),
        (r#"p a"b c"#, &["p", "ab c"], &["p", "ab c"]),
        (r#"p "a"b"#, &["p", "ab"], &["p", "ab"]),
        (r#"p \\\"#, &["p", r"\\\"], &["p", r"\\\"]),
        // Runs of quotes: where the two parsers part ways.
        (r#"p "a""b""#, &["p", r#"a"b"#], &["p", r#"a"b"#]),
        (r#"p a""b"#, &["p", "ab"], &["p", "ab"]),
        (r#"p """a"#, &["p", r#""a"#], &["p", r#""a"#]),
        (r#"p """" x"#, &["p", r#"" x"#], &["p", r#"""#, "x"]),
        (r#"p "a"" b"#, &["p", r#"a""#, "b"], &["p", r#"a" b"#]),
        (r#"p """""" x"#, &["p", r#""""#, "x"], &["p", r#""""#, "x"]),
        ("p é \"✓ 😀\"", &["p", "é", "✓ 😀"], &["p", "é", "✓ 😀"]),
    ];

    #[test]
    fn splitting_table() {
        for (line, cltaw, crt) in SPLITTING {
            assert_eq!(split_windows_command_line(line), *cltaw, "CLTAW {line:?}");
            assert_eq!(split_windows_command_line_crt(line), *crt, "CRT {line:?}");
        }
    }

    #[test]
    fn generated_vectors_round_trip() {
        let mut rng = gen::Rng::new(0x7e4d_5e41);
        for case in 0..20_000 {
            let argv = gen::argv(&mut rng);
            let line = windows_command_line(&argv).unwrap();
            assert_eq!(
                split_windows_command_line(&line),
                argv,
                "case {case}: CLTAW {line:?}"
            );
            assert_eq!(
                split_windows_command_line_crt(&line),
                argv,
                "case {case}: CRT {line:?}"
            );
        }
    }

    #[test]
    fn generated_single_args_need_quotes_exactly_when_expected() {
        let mut rng = gen::Rng::new(42);
        for _ in 0..5_000 {
            let arg = gen::arg(&mut rng, false);
            let quoted = windows_arg(&arg);
            let special = arg.is_empty() || arg.contains([' ', '\t', '\n', '\x0b', '"']);
            assert_eq!(quoted != arg, special, "{arg:?} -> {quoted:?}");
        }
    }
}
