//! Models of how each service manager reads the files tend writes, so that a rendering
//! can be parsed back in-process and compared with what it was meant to say (the
//! render tests and the `render` fuzz target do exactly that).
//!
//! Each model states one real parser, as far as tend's files use it, and is itself
//! checked against that parser: [`sh`] against a real `sh` (`cargo test`), [`systemd`]
//! against systemd 252's `systemd-analyze verify` and `systemctl show` in the booted
//! container of the end-to-end suite (`.ci/e2e/systemd.sh`). A model errs on the side of
//! refusing: whatever it does not model (a variable systemd would expand, a command
//! substitution the shell would run) is an error, never a guess.
//!
//! launchd plists need no model here: the tests and the fuzz target read them with a
//! real plist parser.

/// systemd's unit file reader (systemd.syntax(7)) and the value syntax of the keys tend
/// writes (systemd.service(5), systemd.exec(5)), as measured against systemd 252.
pub mod systemd {
    use std::collections::BTreeMap;

    /// One `Key=value` line as systemd sees it after joining continuation lines.
    #[derive(Clone, Debug, PartialEq, Eq)]
    pub struct Assignment {
        /// The section (`Unit`, `Service`, `Install`).
        pub section: String,
        /// The key.
        pub key: String,
        /// The value, stripped of surrounding white space, not yet unescaped.
        pub value: String,
    }

    fn odd_backslashes_at_end(s: &str) -> bool {
        s.bytes().rev().take_while(|&b| b == b'\\').count() % 2 == 1
    }

    /// systemd's line reader: a line whose raw text ends in an odd number of
    /// backslashes continues on the next line (the backslash becomes a space); comment
    /// lines (`#`, `;`) are skipped, also in the middle of a continuation, and are
    /// never continued themselves; a continuation still open at the end of the file is
    /// read as a line. Then each line is stripped of white space: `[Section]`, or
    /// `Key=value` split at the first `=`.
    pub fn assignments(text: &str) -> Result<Vec<Assignment>, String> {
        let mut out = Vec::new();
        let mut section: Option<String> = None;
        let mut continuation: Option<String> = None;
        let mut lines: Vec<String> = Vec::new();
        for raw in text.split('\n') {
            let trimmed = raw.trim_start_matches([' ', '\t']);
            if trimmed.starts_with(['#', ';']) {
                continue;
            }
            let mut line = continuation.take().unwrap_or_default();
            line.push_str(raw);
            if odd_backslashes_at_end(&line) {
                line.pop();
                line.push(' ');
                continuation = Some(line);
                continue;
            }
            lines.push(line);
        }
        lines.extend(continuation);
        for line in lines {
            let l = line.trim_matches(WHITESPACE);
            if l.is_empty() || l.starts_with(['#', ';']) {
                continue;
            }
            if let Some(rest) = l.strip_prefix('[') {
                let name = rest
                    .strip_suffix(']')
                    .ok_or_else(|| format!("invalid section header {l:?}"))?;
                section = Some(name.to_string());
                continue;
            }
            let (k, v) = l
                .split_once('=')
                .ok_or_else(|| format!("missing '=' in {l:?}"))?;
            let section = section
                .clone()
                .ok_or_else(|| format!("assignment outside of a section: {l:?}"))?;
            out.push(Assignment {
                section,
                key: k.trim_matches(WHITESPACE).to_string(),
                value: v.trim_matches(WHITESPACE).to_string(),
            });
        }
        Ok(out)
    }

    const WHITESPACE: &[char] = &[' ', '\t', '\n', '\r'];

    /// Specifier expansion (`%%` is `%`). tend writes no other specifier: any other
    /// `%x` would be expanded by systemd, so it is an error here.
    pub fn specifiers(value: &str) -> Result<String, String> {
        let mut out = String::with_capacity(value.len());
        let mut chars = value.chars();
        while let Some(c) = chars.next() {
            if c == '%' {
                match chars.next() {
                    Some('%') => out.push('%'),
                    Some(x) => return Err(format!("systemd would expand the specifier %{x}")),
                    None => return Err("a lone % at the end".into()),
                }
            } else {
                out.push(c);
            }
        }
        Ok(out)
    }

    /// systemd's path simplification: no empty or `.` components, no trailing slash.
    /// A `..` component is an error (systemd refuses a path that is not normalized).
    pub fn simplify(path: &str) -> Result<String, String> {
        if !path.starts_with('/') {
            return Err(format!("{path:?} is not an absolute path"));
        }
        let mut out = String::new();
        for c in path.split('/') {
            match c {
                "" | "." => {}
                ".." => return Err(format!("{path:?} is not normalized")),
                c => {
                    out.push('/');
                    out.push_str(c);
                }
            }
        }
        if out.is_empty() {
            out.push('/');
        }
        Ok(out)
    }

    /// `WorkingDirectory=`: raw text with specifiers, then simplified as an absolute
    /// path. The `-` (missing is fine) and `~` (home) forms are errors: tend writes
    /// neither.
    pub fn working_directory(value: &str) -> Result<String, String> {
        if value.starts_with(['-', '~']) {
            return Err(format!(
                "WorkingDirectory={value} has a prefix tend never writes"
            ));
        }
        simplify(&specifiers(value)?)
    }

    /// One word in the way of systemd's `extract_first_word()`: white space separates
    /// words; `"` and `'` quote (also in the middle of a word); a backslash escapes the
    /// next character, or with `c_escapes` starts a C escape (unknown escapes are kept
    /// as written, as systemd does after a warning). `None` at the end of the value.
    fn next_word(rest: &mut &str, c_escapes: bool) -> Result<Option<String>, String> {
        let s = rest.trim_start_matches(WHITESPACE);
        let mut chars = s.char_indices().peekable();
        if chars.peek().is_none() {
            *rest = s;
            return Ok(None);
        }
        let mut word = String::new();
        let mut quote: Option<char> = None;
        let mut end = s.len();
        while let Some((i, c)) = chars.next() {
            match (c, quote) {
                ('\\', _) => {
                    let Some((_, n)) = chars.next() else {
                        return Err("a backslash at the end of the value".into());
                    };
                    if c_escapes {
                        word.push_str(&c_escape(n, &mut chars)?);
                    } else {
                        word.push(n);
                    }
                }
                (q @ ('"' | '\''), None) => quote = Some(q),
                (c, Some(q)) if c == q => quote = None,
                (c, None) if WHITESPACE.contains(&c) => {
                    end = i;
                    break;
                }
                (c, _) => word.push(c),
            }
        }
        if quote.is_some() {
            return Err("an unterminated quote".into());
        }
        *rest = &s[end..];
        Ok(Some(word))
    }

    fn c_escape(
        n: char,
        chars: &mut std::iter::Peekable<std::str::CharIndices<'_>>,
    ) -> Result<String, String> {
        let mut take = |count: usize, radix: u32| -> Result<u32, String> {
            let mut v = 0u32;
            for _ in 0..count {
                let d = chars
                    .next()
                    .and_then(|(_, c)| c.to_digit(radix))
                    .ok_or("a short numeric escape")?;
                v = v * radix + d;
            }
            Ok(v)
        };
        let c = match n {
            'a' => '\x07',
            'b' => '\x08',
            'f' => '\x0c',
            'n' => '\n',
            'r' => '\r',
            't' => '\t',
            'v' => '\x0b',
            's' => ' ',
            '\\' | '"' | '\'' => n,
            'x' => char::from_u32(take(2, 16)?).ok_or("a bad \\x escape")?,
            'u' => char::from_u32(take(4, 16)?).ok_or("a bad \\u escape")?,
            'U' => char::from_u32(take(8, 16)?).ok_or("a bad \\U escape")?,
            '0'..='7' => {
                let rest = take(2, 8)?;
                char::from_u32(n.to_digit(8).unwrap_or(0) * 64 + rest)
                    .ok_or("a bad octal escape")?
            }
            other => return Ok(format!("\\{other}")),
        };
        if c == '\0' {
            return Err("a NUL escape".into());
        }
        Ok(c.to_string())
    }

    /// A path list such as `ReadWritePaths=`: words where a backslash only escapes
    /// the next character, each with specifiers, then simplified. The `-` and `+`
    /// prefixes are errors: tend writes neither.
    pub fn path_list(value: &str) -> Result<Vec<String>, String> {
        let mut rest = value;
        let mut out = Vec::new();
        while let Some(w) = next_word(&mut rest, false)? {
            if w.starts_with(['-', '+']) {
                return Err(format!("{w:?} has a prefix tend never writes"));
            }
            out.push(simplify(&specifiers(&w)?)?);
        }
        Ok(out)
    }

    /// A command line (`ExecStart=`) as systemd runs it.
    #[derive(Clone, Debug, PartialEq, Eq)]
    pub struct Exec {
        /// The program systemd executes.
        pub path: String,
        /// The argument vector it gets (`argv[0]` first).
        pub argv: Vec<String>,
    }

    /// `ExecStart=`: words with C escapes and specifiers. The first word is the
    /// executable and `argv[0]`, taken as written: systemd refuses it if it has a
    /// prefix, a quote, a backslash or a control character, or is not an absolute,
    /// normalized path. In the other words `$$` is `$`; a variable (`$NAME`,
    /// `${NAME}`) would be expanded, so it is an error, as is a command separator
    /// (an unquoted `;` word).
    pub fn exec(value: &str) -> Result<Exec, String> {
        let mut rest = value;
        let mut argv = Vec::new();
        loop {
            let t = rest.trim_start_matches(WHITESPACE);
            if t.starts_with(';') && t[1..].starts_with(|c| WHITESPACE.contains(&c)) || t == ";" {
                return Err("a command separator `;`".into());
            }
            let Some(word) = next_word(&mut rest, true)? else {
                break;
            };
            let word = specifiers(&word)?;
            if argv.is_empty() {
                check_executable(&word)?;
                argv.push(word);
            } else {
                argv.push(expand_dollars(&word)?);
            }
        }
        let path = argv.first().cloned().ok_or("an empty command line")?;
        Ok(Exec { path, argv })
    }

    fn check_executable(path: &str) -> Result<(), String> {
        if path.starts_with(['-', '@', ':', '+', '!']) {
            return Err(format!(
                "executable {path:?} has a prefix tend never writes"
            ));
        }
        if path.chars().any(|c| c.is_control() || "\"'\\".contains(c)) {
            return Err(format!(
                "Executable name contains special characters: {path:?}"
            ));
        }
        if simplify(path).ok().as_deref() != Some(path) {
            return Err(format!(
                "executable {path:?} is not an absolute normalized path"
            ));
        }
        Ok(())
    }

    fn expand_dollars(word: &str) -> Result<String, String> {
        let mut out = String::with_capacity(word.len());
        let mut chars = word.chars().peekable();
        while let Some(c) = chars.next() {
            if c != '$' {
                out.push(c);
                continue;
            }
            match chars.peek() {
                Some('$') => {
                    chars.next();
                    out.push('$');
                }
                Some(&n) if n == '{' || n == '_' || n.is_ascii_alphanumeric() => {
                    return Err(format!("systemd would expand a variable in {word:?}"));
                }
                _ => out.push('$'),
            }
        }
        Ok(out)
    }

    /// What a unit written by tend says, read back the way systemd reads it.
    #[derive(Clone, Debug, Default, PartialEq, Eq)]
    pub struct UnitView {
        /// `Description=`, specifiers expanded.
        pub description: String,
        /// `ExecStart=`.
        pub exec: Option<Exec>,
        /// `ExecReload=`, which tend writes with the `+` prefix (as root, outside the
        /// sandbox).
        pub reload: Option<Exec>,
        /// `WorkingDirectory=`.
        pub working_directory: Option<String>,
        /// `ReadWritePaths=`.
        pub read_write_paths: Vec<String>,
        /// `User=` and `Group=`.
        pub user: Option<String>,
        /// `Group=`.
        pub group: Option<String>,
        /// Every assignment, `Section.Key` to its raw value (the last one wins).
        pub keys: BTreeMap<String, String>,
    }

    /// Reads a unit file: every line, and the keys whose value tend escapes.
    pub fn read(text: &str) -> Result<UnitView, String> {
        let mut view = UnitView::default();
        for a in assignments(text)? {
            let v = a.value.as_str();
            match (a.section.as_str(), a.key.as_str()) {
                ("Unit", "Description") => view.description = specifiers(v)?,
                ("Service", "ExecStart") => view.exec = Some(exec(v)?),
                ("Service", "ExecReload") => {
                    let v = v.strip_prefix('+').ok_or("ExecReload= without its `+`")?;
                    view.reload = Some(exec(v)?)
                }
                ("Service", "WorkingDirectory") => {
                    view.working_directory = Some(working_directory(v)?)
                }
                ("Service", "ReadWritePaths") => view.read_write_paths = path_list(v)?,
                ("Service", "User") => view.user = Some(specifiers(v)?),
                ("Service", "Group") => view.group = Some(specifiers(v)?),
                _ => {}
            }
            view.keys
                .insert(format!("{}.{}", a.section, a.key), a.value.clone());
        }
        Ok(view)
    }
}

/// The POSIX shell's reading of a script (XCU 2.2 Quoting, 2.3 Token Recognition, 2.6
/// Word Expansions), as far as init scripts written by tend need: tokens, quote removal,
/// and every expansion the shell would perform recorded, so that a caller can see that
/// nothing but its own template expands. A command substitution, a pathname pattern or
/// a tilde is never resolved: the model reports it instead.
pub mod sh {
    use std::collections::BTreeMap;

    /// A piece of a word.
    #[derive(Clone, Debug, PartialEq, Eq)]
    pub enum Part {
        /// Literal text; `quoted` if it came from quotes or a backslash (no pattern
        /// matching, no field splitting).
        Lit {
            /// The text after quote removal.
            text: String,
            /// Whether it was quoted.
            quoted: bool,
        },
        /// A parameter expansion: `$name`, `${…}` (the text between the braces),
        /// `$1`, `$?`.
        Param {
            /// The parameter (or the whole `${…}` body).
            name: String,
            /// Inside double quotes (no field splitting, no pattern matching).
            quoted: bool,
        },
        /// A command substitution (`$(…)`, backquotes) or an arithmetic expansion.
        Subst(String),
    }

    /// One word: its parts in order.
    #[derive(Clone, Debug, Default, PartialEq, Eq)]
    pub struct Word(pub Vec<Part>);

    /// A token: a word or an operator (`;`, `;;`, `&&`, `(`, `>>`, a newline, …).
    #[derive(Clone, Debug, PartialEq, Eq)]
    pub enum Token {
        /// A word.
        Word(Word),
        /// An operator.
        Op(String),
    }

    const OPS: &[&str] = &[
        ";;", "&&", "||", ">>", "<<", ">&", "<&", "<>", ">|", ";", "&", "|", "(", ")", "<", ">",
        "\n",
    ];

    fn lit(word: &mut Word, c: char, quoted: bool) {
        if let Some(Part::Lit { text, quoted: q }) = word.0.last_mut() {
            if *q == quoted {
                text.push(c);
                return;
            }
        }
        word.0.push(Part::Lit {
            text: c.to_string(),
            quoted,
        });
    }

    /// Splits a script into tokens, with quotes removed and expansions recorded.
    pub fn lex(script: &str) -> Result<Vec<Token>, String> {
        let chars: Vec<char> = script.chars().collect();
        let mut i = 0;
        let mut out = Vec::new();
        let mut word: Option<Word> = None;
        let finish = |word: &mut Option<Word>, out: &mut Vec<Token>| {
            if let Some(w) = word.take() {
                out.push(Token::Word(w));
            }
        };
        while i < chars.len() {
            let c = chars[i];
            if c == '\\' && chars.get(i + 1) == Some(&'\n') {
                i += 2;
                continue;
            }
            if word.is_none() {
                if c == ' ' || c == '\t' {
                    i += 1;
                    continue;
                }
                if c == '#' {
                    while i < chars.len() && chars[i] != '\n' {
                        i += 1;
                    }
                    continue;
                }
            }
            if let Some(op) = OPS.iter().find(|op| {
                let n = op.chars().count();
                chars
                    .get(i..i + n)
                    .is_some_and(|s| s.iter().copied().eq(op.chars()))
            }) {
                if *op == "<<" {
                    return Err("a here-document".into());
                }
                finish(&mut word, &mut out);
                out.push(Token::Op(op.to_string()));
                i += op.chars().count();
                continue;
            }
            if c == ' ' || c == '\t' {
                finish(&mut word, &mut out);
                i += 1;
                continue;
            }
            let w = word.get_or_insert_with(Word::default);
            match c {
                '\\' => {
                    let n = *chars.get(i + 1).ok_or("a backslash at the end")?;
                    lit(w, n, true);
                    i += 2;
                }
                '\'' => {
                    let end = chars[i + 1..]
                        .iter()
                        .position(|&c| c == '\'')
                        .ok_or("an unterminated single quote")?;
                    w.0.push(Part::Lit {
                        text: chars[i + 1..i + 1 + end].iter().collect(),
                        quoted: true,
                    });
                    i += end + 2;
                }
                '"' => {
                    i += 1;
                    // An empty "" still makes a (quoted, empty) field.
                    w.0.push(Part::Lit {
                        text: String::new(),
                        quoted: true,
                    });
                    loop {
                        let c = *chars.get(i).ok_or("an unterminated double quote")?;
                        match c {
                            '"' => {
                                i += 1;
                                break;
                            }
                            '\\' => {
                                let n = *chars.get(i + 1).ok_or("an unterminated double quote")?;
                                match n {
                                    '$' | '`' | '"' | '\\' => lit(w, n, true),
                                    '\n' => {}
                                    n => {
                                        lit(w, '\\', true);
                                        lit(w, n, true);
                                    }
                                }
                                i += 2;
                            }
                            '$' | '`' => i = expansion(&chars, i, w, true)?,
                            c => {
                                lit(w, c, true);
                                i += 1;
                            }
                        }
                    }
                }
                '$' | '`' => i = expansion(&chars, i, w, false)?,
                c => {
                    lit(w, c, false);
                    i += 1;
                }
            }
        }
        finish(&mut word, &mut out);
        Ok(out)
    }

    /// The expansion at `chars[i]` (`$…` or a backquote); returns the index after it.
    fn expansion(chars: &[char], i: usize, w: &mut Word, quoted: bool) -> Result<usize, String> {
        let closing = |from: usize, open: char, close: char| -> Result<usize, String> {
            let mut depth = 0usize;
            for (j, &c) in chars.iter().enumerate().skip(from) {
                if c == open {
                    depth += 1;
                } else if c == close {
                    depth -= 1;
                    if depth == 0 {
                        return Ok(j);
                    }
                }
            }
            Err(format!("an unterminated {open}"))
        };
        if chars[i] == '`' {
            let end = chars[i + 1..]
                .iter()
                .position(|&c| c == '`')
                .ok_or("an unterminated backquote")?;
            w.0.push(Part::Subst(chars[i..i + end + 2].iter().collect()));
            return Ok(i + end + 2);
        }
        match chars.get(i + 1).copied() {
            Some('(') => {
                let end = closing(i + 1, '(', ')')?;
                w.0.push(Part::Subst(chars[i..=end].iter().collect()));
                Ok(end + 1)
            }
            Some('{') => {
                let end = closing(i + 1, '{', '}')?;
                w.0.push(Part::Param {
                    name: chars[i + 2..end].iter().collect(),
                    quoted,
                });
                Ok(end + 1)
            }
            Some(c) if c == '_' || c.is_ascii_alphabetic() => {
                let len = chars[i + 1..]
                    .iter()
                    .take_while(|c| **c == '_' || c.is_ascii_alphanumeric())
                    .count();
                w.0.push(Part::Param {
                    name: chars[i + 1..i + 1 + len].iter().collect(),
                    quoted,
                });
                Ok(i + 1 + len)
            }
            Some(c) if c.is_ascii_digit() || "@*#?-$!".contains(c) => {
                w.0.push(Part::Param {
                    name: c.to_string(),
                    quoted,
                });
                Ok(i + 2)
            }
            _ => {
                lit(w, '$', quoted);
                Ok(i + 1)
            }
        }
    }

    impl Word {
        /// The word's text if nothing in it expands: no parameter, no substitution,
        /// no unquoted pattern character (`*?[`) and no leading unquoted `~`.
        pub fn literal(&self) -> Option<String> {
            self.fields(&BTreeMap::new())
                .ok()
                .filter(|f| f.len() == 1)
                .and_then(|mut f| f.pop())
                .filter(|_| self.0.iter().all(|p| matches!(p, Part::Lit { .. })))
        }

        /// The fields the word expands to, with parameters from `vars`. Refused: a
        /// parameter not in `vars`, an unquoted parameter whose value would be split
        /// or matched, a substitution, an unquoted pattern character, a leading `~`.
        pub fn fields(&self, vars: &BTreeMap<String, String>) -> Result<Vec<String>, String> {
            let mut text = String::new();
            let mut quoted_any = false;
            for (n, p) in self.0.iter().enumerate() {
                match p {
                    Part::Lit { text: t, quoted } => {
                        if !quoted {
                            if t.contains(['*', '?', '[']) {
                                return Err(format!("the shell would match {t:?} as a pattern"));
                            }
                            if n == 0 && t.starts_with('~') {
                                return Err(format!("the shell would expand the tilde in {t:?}"));
                            }
                        }
                        quoted_any |= quoted;
                        text.push_str(t);
                    }
                    Part::Param { name, quoted } => {
                        let v = vars
                            .get(name)
                            .ok_or_else(|| format!("the shell would expand ${{{name}}}"))?;
                        if !quoted && v.contains([' ', '\t', '\n', '*', '?', '[']) | v.is_empty() {
                            return Err(format!("the shell would split or match ${name}"));
                        }
                        quoted_any |= quoted;
                        text.push_str(v);
                    }
                    Part::Subst(s) => return Err(format!("the shell would run {s}")),
                }
            }
            if text.is_empty() && !quoted_any {
                return Ok(Vec::new());
            }
            Ok(vec![text])
        }
    }

    /// Every expansion in `tokens`: (its name or text, whether double-quoted). A
    /// substitution is reported with `quoted` false.
    pub fn expansions(tokens: &[Token]) -> Vec<(String, bool)> {
        let mut out = Vec::new();
        for t in tokens {
            if let Token::Word(w) = t {
                for p in &w.0 {
                    match p {
                        Part::Param { name, quoted } => out.push((name.clone(), *quoted)),
                        Part::Subst(s) => out.push((s.clone(), false)),
                        Part::Lit { .. } => {}
                    }
                }
            }
        }
        out
    }

    /// The simple commands of `tokens`: the words between operators (and reserved
    /// words such as `case`, `{` stay words).
    pub fn commands(tokens: &[Token]) -> Vec<Vec<Word>> {
        let mut out = vec![Vec::new()];
        for t in tokens {
            match t {
                Token::Word(w) => out.last_mut().map(|c| c.push(w.clone())).unwrap_or(()),
                Token::Op(_) => out.push(Vec::new()),
            }
        }
        out.retain(|c| !c.is_empty());
        out
    }

    /// The top-level assignments `NAME=value` among `commands` whose value is literal.
    pub fn assignments(commands: &[Vec<Word>]) -> Result<BTreeMap<String, String>, String> {
        let mut out = BTreeMap::new();
        for c in commands {
            let [w] = c.as_slice() else { continue };
            let Some(Part::Lit {
                text,
                quoted: false,
            }) = w.0.first()
            else {
                continue;
            };
            let Some((name, _)) = text.split_once('=') else {
                continue;
            };
            if name.is_empty() || !name.chars().all(|c| c == '_' || c.is_ascii_alphanumeric()) {
                continue;
            }
            let value = w
                .literal()
                .ok_or_else(|| format!("the value of {name} expands: {w:?}"))?;
            out.insert(name.to_string(), value[name.len() + 1..].to_string());
        }
        Ok(out)
    }
}

/// An OpenRC script written by tend, read the way `openrc-run` does: it sources the
/// script with `/bin/sh` and runs its `start()`, which calls `supervise-daemon`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpenRcView {
    /// The script's variables (`name`, `description`, `command`, `supervisor`, …).
    pub vars: std::collections::BTreeMap<String, String>,
    /// The arguments of the `supervise-daemon` command `start()` runs, `$RC_SVCNAME`
    /// being `svcname`.
    pub supervise_daemon: Vec<String>,
    /// The command `reload()` runs (the words of the one command whose second word is
    /// `reload`).
    pub reload: Option<Vec<String>>,
}

/// The one command of `commands` whose second word is `reload` (what tend writes for
/// a spec with `[reload]`: `tend reload …`), its words read with `env`.
fn reload_command(
    commands: &[Vec<sh::Word>],
    env: &std::collections::BTreeMap<String, String>,
) -> Result<Option<Vec<String>>, String> {
    let mut found = commands
        .iter()
        .filter(|c| c.get(1).and_then(|w| w.literal()).as_deref() == Some("reload"));
    let Some(c) = found.next() else {
        return Ok(None);
    };
    if found.next().is_some() {
        return Err("more than one reload command".into());
    }
    let mut argv = Vec::new();
    for w in c {
        argv.extend(w.fields(env)?);
    }
    Ok(Some(argv))
}

/// Reads an OpenRC script: every expansion in it must be one of tend's template
/// (`"$RC_SVCNAME"`, `$?`), every variable literal, and `start()` must run
/// `supervise-daemon` with literal words. (The model of the shell is [`sh`]; that
/// `start()` replaces OpenRC's own, which `eval`s its variables, is proven by the
/// render tests against OpenRC's code and by the OpenRC end-to-end suite.)
pub fn openrc(script: &str, svcname: &str) -> Result<OpenRcView, String> {
    let tokens = sh::lex(script)?;
    for (name, quoted) in sh::expansions(&tokens) {
        if !matches!((name.as_str(), quoted), ("RC_SVCNAME", true) | ("?", false)) {
            return Err(format!(
                "an expansion tend did not write: {name} (quoted: {quoted})"
            ));
        }
    }
    let commands = sh::commands(&tokens);
    let vars = sh::assignments(&commands)?;
    let env = [("RC_SVCNAME".to_string(), svcname.to_string())].into();
    let mut starts = commands
        .iter()
        .filter(|c| c[0].literal().as_deref() == Some("supervise-daemon"));
    let start = starts.next().ok_or("no supervise-daemon command")?;
    if starts.next().is_some() {
        return Err("more than one supervise-daemon command".into());
    }
    let mut argv = Vec::new();
    for w in &start[1..] {
        argv.extend(w.fields(&env)?);
    }
    let reload = reload_command(&commands, &env)?;
    Ok(OpenRcView {
        vars,
        reload,
        supervise_daemon: argv,
    })
}

/// A SysV init script written by tend, read the way `/bin/sh` runs `NAME start`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SysVView {
    /// The script's variables (`NAME`, `DAEMON`, `PIDFILE`, `LOG`).
    pub vars: std::collections::BTreeMap<String, String>,
    /// The `start-stop-daemon --start` command, variables expanded.
    pub start: Vec<String>,
    /// The program the started shell `exec`s, and its arguments.
    pub exec: Vec<String>,
    /// The file that shell appends the output to.
    pub log: String,
    /// The command of the `reload` branch.
    pub reload: Option<Vec<String>>,
}

/// Reads a SysV init script: every expansion must be one of tend's template, every
/// variable literal; the `start` branch runs `start-stop-daemon --start … --startas
/// /bin/sh -- -c SCRIPT DAEMON LOG ARGS…` where SCRIPT is
/// [`super::sysv::START_SCRIPT`], which appends to its first argument the output of
/// `$0` run with the rest (a real shell proves that in the render tests).
pub fn sysv(script: &str) -> Result<SysVView, String> {
    let tokens = sh::lex(script)?;
    let allowed = ["1", "0", "NAME", "PIDFILE", "DAEMON", "LOG"];
    for (name, quoted) in sh::expansions(&tokens) {
        if !(quoted && allowed.contains(&name.as_str())) {
            return Err(format!(
                "an expansion tend did not write: {name} (quoted: {quoted})"
            ));
        }
    }
    let commands = sh::commands(&tokens);
    let vars = sh::assignments(&commands)?;
    let mut starts = commands.iter().filter(|c| {
        c[0].literal().as_deref() == Some("start-stop-daemon")
            && c.get(1).and_then(|w| w.literal()).as_deref() == Some("--start")
    });
    let start = starts
        .next()
        .ok_or("no start-stop-daemon --start command")?;
    if starts.next().is_some() {
        return Err("more than one start-stop-daemon --start command".into());
    }
    let mut argv = Vec::new();
    for w in start {
        argv.extend(w.fields(&vars)?);
    }
    let tail = argv
        .windows(3)
        .position(|w| w == ["--startas", "/bin/sh", "--"])
        .map(|p| &argv[p + 3..])
        .ok_or("no --startas /bin/sh --")?;
    let [c, inner, program, log, args @ ..] = tail else {
        return Err(format!("too few words after --startas: {tail:?}"));
    };
    if c != "-c" || inner != super::sysv::START_SCRIPT {
        return Err(format!(
            "the started shell runs {inner:?}, not tend's script"
        ));
    }
    let mut exec = vec![program.clone()];
    exec.extend(args.iter().cloned());
    Ok(SysVView {
        reload: reload_command(&commands, &vars)?,
        start: argv.clone(),
        exec,
        log: log.clone(),
        vars,
    })
}

/// A procd init script written by tend, read the way `/etc/rc.common` runs it: it
/// sources the script (with `/bin/sh`) and `start` calls `start_service`, whose
/// `procd_set_param` calls each add one parameter of the instance, one word an
/// element.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProcdView {
    /// The script's variables (`USE_PROCD`, `START`, `STOP`).
    pub vars: std::collections::BTreeMap<String, String>,
    /// The `procd_set_param` calls in order: the parameter and its words.
    pub params: Vec<(String, Vec<String>)>,
    /// The command `reload_service()` runs.
    pub reload: Option<Vec<String>>,
}

impl ProcdView {
    /// The words of the parameter `name` (the last call setting it, as procd keeps).
    pub fn param(&self, name: &str) -> Option<&[String]> {
        self.params
            .iter()
            .rev()
            .find(|(p, _)| p == name)
            .map(|(_, w)| w.as_slice())
    }
}

/// Reads a procd init script: nothing in it may expand (tend's script has no
/// expansion at all), every variable is literal, and the instance is opened once and
/// closed once around literal `procd_set_param` calls.
pub fn procd(script: &str) -> Result<ProcdView, String> {
    let tokens = sh::lex(script)?;
    if let Some((name, quoted)) = sh::expansions(&tokens).into_iter().next() {
        return Err(format!(
            "an expansion tend did not write: {name} (quoted: {quoted})"
        ));
    }
    let commands = sh::commands(&tokens);
    let vars = sh::assignments(&commands)?;
    let count = |word: &str| {
        commands
            .iter()
            .filter(|c| c[0].literal().as_deref() == Some(word))
            .count()
    };
    for call in ["procd_open_instance", "procd_close_instance"] {
        if count(call) != 1 {
            return Err(format!("{call} is called {} times, not once", count(call)));
        }
    }
    let mut params = Vec::new();
    for c in &commands {
        if c[0].literal().as_deref() != Some("procd_set_param") {
            continue;
        }
        let mut words = Vec::new();
        for w in &c[1..] {
            words.push(
                w.literal()
                    .ok_or_else(|| format!("a word that expands: {w:?}"))?,
            );
        }
        if words.is_empty() {
            return Err("procd_set_param without a parameter".into());
        }
        let param = words.remove(0);
        params.push((param, words));
    }
    let reload = reload_command(&commands, &vars)?;
    Ok(ProcdView {
        vars,
        params,
        reload,
    })
}

/// What every backend's files must say about `spec` installed in `layout`, stated
/// from the spec alone (not from the renderers), for the `check_*` functions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Meaning {
    /// The service's description (its display name by default).
    pub description: String,
    /// `tend run …`: what the manager runs (`argv[0]` is tend's own path).
    pub run: Vec<String>,
    /// Where tend starts: the spec's `working_dir`, else the state directory.
    pub working_dir: String,
    /// Where tend's own output goes: `tend.log` in the log directory.
    pub log_file: String,
    /// The directories tend writes: state and log.
    pub writable: Vec<String>,
    /// The account (`user`, `group`), unless it is root.
    pub account: Option<(String, String)>,
    /// How long the manager waits for tend to stop, in seconds.
    pub stop_timeout: u64,
    /// The spec's environment, by name (for the managers that pass it to tend too).
    pub env: Vec<(String, String)>,
    /// With `[reload]`: `tend reload --state-dir STATE NAME`, what a reload runs.
    pub reload: Option<Vec<String>>,
}

impl Meaning {
    /// The meaning of `spec` in `layout`.
    pub fn of(spec: &crate::spec::Spec, layout: &super::Layout) -> Meaning {
        let name = spec.name.as_str();
        let text = |p: &std::path::Path| p.display().to_string();
        let mut writable = vec![text(&layout.state_dir(name)), text(&layout.log_dir(spec))];
        writable.dedup();
        Meaning {
            description: spec
                .description
                .clone()
                .unwrap_or_else(|| spec.display_name().to_string()),
            run: layout.run_argv(spec),
            working_dir: spec
                .working_dir
                .as_deref()
                .map_or_else(|| text(&layout.state_dir(name)), text),
            log_file: text(&layout.log_dir(spec).join("tend.log")),
            writable,
            account: spec.user.as_deref().filter(|u| *u != "root").map(|u| {
                (
                    u.to_string(),
                    spec.group.clone().unwrap_or_else(|| u.to_string()),
                )
            }),
            stop_timeout: super::manager_stop_timeout_secs(spec),
            reload: spec.reload.as_ref().map(|_| {
                vec![
                    text(&layout.tend_bin),
                    "reload".into(),
                    "--state-dir".into(),
                    text(&layout.state_dir(name)),
                    name.to_string(),
                ]
            }),
            env: spec
                .env
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        }
    }
}

fn same<T: PartialEq + std::fmt::Debug>(what: &str, got: T, want: T) -> Result<(), String> {
    if got == want {
        Ok(())
    } else {
        Err(format!("{what}: read back {got:?}, meant {want:?}"))
    }
}

/// Checks a systemd unit against `m`, reading it as systemd does. systemd drops the
/// white space around a value, so the description is compared without it.
pub fn check_systemd(unit: &str, m: &Meaning, name: &str) -> Result<(), String> {
    let v = systemd::read(unit)?;
    same(
        "Description",
        v.description.as_str(),
        m.description.trim_matches([' ', '\t', '\n', '\r']),
    )?;
    let exec = v.exec.ok_or("no ExecStart=")?;
    let mut run = m.run.clone();
    run.insert(2, "--no-guard".into());
    same("ExecStart path", &exec.path, &run[0])?;
    same("ExecStart argv", &exec.argv, &run)?;
    same(
        "WorkingDirectory",
        v.working_directory.as_deref(),
        Some(systemd::simplify(&m.working_dir)?.as_str()),
    )?;
    same("ReadWritePaths", &v.read_write_paths, &m.writable)?;
    same("User, Group", v.user.zip(v.group), m.account.clone())?;
    same(
        "ExecReload argv",
        v.reload.map(|e| e.argv),
        m.reload.clone(),
    )?;
    same(
        "Documentation",
        v.keys.get("Unit.Documentation").map(String::as_str),
        Some(format!("file:/etc/tend/{name}.toml").as_str()),
    )?;
    for key in [
        "Service.Type",
        "Service.KillMode",
        "Service.ProtectSystem",
        "Install.WantedBy",
    ] {
        if !v.keys.contains_key(key) {
            return Err(format!("{key} is missing"));
        }
    }
    Ok(())
}

/// Checks an OpenRC script against `m`, reading it as `openrc-run` does.
pub fn check_openrc(script: &str, m: &Meaning, name: &str) -> Result<(), String> {
    let v = openrc(script, name)?;
    let var = |k: &str| v.vars.get(k).map(String::as_str);
    same("name", var("name"), Some(name))?;
    same(
        "description",
        var("description"),
        Some(m.description.as_str()),
    )?;
    same("supervisor", var("supervisor"), Some("supervise-daemon"))?;
    same("command", var("command"), Some(m.run[0].as_str()))?;
    let mut want: Vec<String> = vec![
        name.into(),
        "--start".into(),
        "--retry".into(),
        format!("TERM/{}/KILL/5", m.stop_timeout),
    ];
    for (flag, value) in [
        ("--chdir", m.working_dir.as_str()),
        ("--stdout", &m.log_file),
        ("--stderr", &m.log_file),
        ("--respawn-delay", "2"),
        ("--respawn-max", "0"),
    ] {
        want.extend([flag.to_string(), value.to_string()]);
    }
    if let Some((u, g)) = &m.account {
        want.extend(["--user".to_string(), format!("{u}:{g}")]);
    }
    want.push(m.run[0].clone());
    want.push("--".into());
    want.extend(m.run[1..].iter().cloned());
    same("supervise-daemon", &v.supervise_daemon, &want)?;
    same("reload()", &v.reload, &m.reload)?;
    same(
        "extra_started_commands",
        var("extra_started_commands"),
        m.reload.as_ref().map(|_| "reload"),
    )
}

/// Checks a SysV init script against `m`, reading it as `/bin/sh` does.
pub fn check_sysv(script: &str, m: &Meaning, name: &str) -> Result<(), String> {
    let v = sysv(script)?;
    same("NAME", v.vars.get("NAME").map(String::as_str), Some(name))?;
    same("exec", &v.exec, &m.run)?;
    same("log", &v.log, &m.log_file)?;
    same("reload", &v.reload, &m.reload)?;
    let chuid = v
        .start
        .iter()
        .position(|w| w == "--chuid")
        .and_then(|i| v.start.get(i + 1))
        .cloned();
    same(
        "--chuid",
        chuid,
        m.account.as_ref().map(|(u, g)| format!("{u}:{g}")),
    )
}

/// Checks a procd init script against `m`, reading it as `rc.common` does.
pub fn check_procd(script: &str, m: &Meaning, name: &str) -> Result<(), String> {
    let v = procd(script)?;
    let var = |k: &str| v.vars.get(k).map(String::as_str);
    same("USE_PROCD", var("USE_PROCD"), Some("1"))?;
    for k in ["START", "STOP"] {
        if !var(k).is_some_and(|p| p.len() == 2 && p.bytes().all(|b| b.is_ascii_digit())) {
            return Err(format!("{k} is not a two-digit priority: {:?}", var(k)));
        }
    }
    let word = |p: &str| v.param(p).map(<[String]>::to_vec);
    same("command", word("command"), Some(m.run.clone()))?;
    same("reload_service()", &v.reload, &m.reload)?;
    same(
        "term_timeout",
        word("term_timeout"),
        Some(vec![m.stop_timeout.to_string()]),
    )?;
    same(
        "user, group",
        word("user").zip(word("group")),
        m.account.clone().map(|(u, g)| (vec![u], vec![g])),
    )?;
    same(
        "file",
        word("file").and_then(|f| f.first().cloned()),
        Some(format!("/etc/tend/{name}.toml")),
    )?;
    for stream in ["stdout", "stderr"] {
        same(stream, word(stream), Some(vec!["1".to_string()]))?;
    }
    // procd.sh splits each `env` word at its first `=`.
    let env: Vec<(String, String)> = word("env")
        .unwrap_or_default()
        .iter()
        .map(|w| match w.split_once('=') {
            Some((k, v)) => (k.to_string(), v.to_string()),
            None => (w.clone(), String::new()),
        })
        .collect();
    same("env", &env, &m.env)
}

/// A launchd job as read from its plist by a real plist parser (the caller's).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LaunchdJob {
    /// `Label`.
    pub label: String,
    /// `ProgramArguments`.
    pub program_arguments: Vec<String>,
    /// `WorkingDirectory`.
    pub working_directory: Option<String>,
    /// `StandardOutPath`.
    pub standard_out_path: Option<String>,
    /// `StandardErrorPath`.
    pub standard_error_path: Option<String>,
    /// `UserName`.
    pub user_name: Option<String>,
    /// `GroupName`.
    pub group_name: Option<String>,
}

/// Checks a launchd job against `m`. (launchd runs `ProgramArguments` itself, with no
/// shell; the plist's XML escaping is what is checked, by the caller's parser.)
pub fn check_launchd(job: &LaunchdJob, m: &Meaning, name: &str) -> Result<(), String> {
    same("Label", job.label.clone(), format!("dev.tend.{name}"))?;
    same("ProgramArguments", &job.program_arguments, &m.run)?;
    same(
        "WorkingDirectory",
        job.working_directory.as_deref(),
        Some(m.working_dir.as_str()),
    )?;
    same(
        "StandardOutPath",
        job.standard_out_path.as_deref(),
        Some(m.log_file.as_str()),
    )?;
    same(
        "StandardErrorPath",
        job.standard_error_path.as_deref(),
        Some(m.log_file.as_str()),
    )?;
    same(
        "UserName",
        job.user_name.as_deref(),
        m.account.as_ref().map(|(u, _)| u.as_str()),
    )
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::sh::{self, Token};
    use super::systemd;
    use crate::platform::escape::sh_word;

    /// A small deterministic generator (xorshift64*), so a failure repeats.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }
        fn text(&mut self, alphabet: &[&str], max: usize) -> String {
            let n = (self.next() % (max as u64 + 1)) as usize;
            (0..n)
                .map(|_| alphabet[(self.next() % alphabet.len() as u64) as usize])
                .collect()
        }
    }

    const SHELLY: &[&str] = &[
        "a", "b", " ", "  ", "\t", "'", "\"", "\\", "$", "$x", "${x}", "$1", "(", ")", "`", "{",
        "}", "*", "?", "[", "]", "~", "#", "=", "%", "\n", "é", "x y",
    ];

    fn real_sh(script: &str) -> Option<Vec<String>> {
        let dir = tempfile::tempdir().unwrap();
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(script)
            .current_dir(dir.path())
            .output()
            .unwrap();
        if !out.status.success() {
            return None;
        }
        let mut words: Vec<String> = out
            .stdout
            .split(|&b| b == 0)
            .map(|w| String::from_utf8(w.to_vec()).unwrap())
            .collect();
        words.pop();
        Some(words)
    }

    #[test]
    fn the_shell_model_agrees_with_a_real_shell() {
        // Whatever the model reads as plain words (only words, every expansion known),
        // a real shell reads the same way. Cases the model refuses are skipped: a
        // refusal is safe, a wrong reading is not.
        let mut rng = Rng(0x5eed_1234_abcd_0001);
        let vars: BTreeMap<String, String> = [("x", "v"), ("1", "one")]
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .into();
        let (mut compared, mut refused) = (0, 0);
        for _ in 0..1000 {
            let line = rng.text(SHELLY, 8);
            let Ok(tokens) = sh::lex(&line) else {
                refused += 1;
                continue;
            };
            let words: Option<Vec<String>> = tokens
                .iter()
                .map(|t| match t {
                    Token::Word(w) => w.fields(&vars).ok(),
                    Token::Op(_) => None,
                })
                .collect::<Option<Vec<Vec<String>>>>()
                .map(|f| f.concat());
            let Some(words) = words else {
                refused += 1;
                continue;
            };
            // A first word, since printf with no argument still prints once.
            let script = format!("x=v; set -- one; printf '%s\\0' - {line}");
            let real = real_sh(&script).map(|w| w[1..].to_vec());
            assert_eq!(real.as_ref(), Some(&words), "{line:?}");
            compared += 1;
        }
        assert!(
            compared > 300 && refused > 100,
            "{compared} compared, {refused} refused"
        );
    }

    #[test]
    fn quoted_words_read_back_as_themselves() {
        let mut rng = Rng(0x0bad_cafe_0000_0002);
        let mut all = Vec::new();
        for _ in 0..300 {
            all.push(rng.text(SHELLY, 10));
        }
        let line: Vec<String> = all.iter().map(|w| sh_word(w)).collect();
        let tokens = sh::lex(&line.join(" ")).unwrap();
        let got: Vec<String> = tokens
            .iter()
            .map(|t| match t {
                Token::Word(w) => w.literal().unwrap(),
                Token::Op(o) => panic!("operator {o:?}"),
            })
            .collect();
        assert_eq!(got, all);
        assert!(sh::expansions(&tokens).is_empty());
    }

    #[test]
    fn the_shell_model_reports_what_would_run() {
        for (text, want) in [
            ("a $(touch x)", vec![("$(touch x)", false)]),
            ("'a' \"$b\" `c`", vec![("b", true), ("`c`", false)]),
            ("a\\$b '$(c)'", vec![]),
            ("\"${name:-$RC}\"", vec![("name:-$RC", true)]),
        ] {
            let got = sh::expansions(&sh::lex(text).unwrap());
            let want: Vec<(String, bool)> = want.into_iter().map(|(a, b)| (a.into(), b)).collect();
            assert_eq!(got, want, "{text:?}");
        }
        let w = |t: &str| match sh::lex(t).unwrap().remove(0) {
            Token::Word(w) => w,
            t => panic!("{t:?}"),
        };
        assert!(w("a*").literal().is_none());
        assert!(w("~root").literal().is_none());
        assert_eq!(w("'a*'~").literal().as_deref(), Some("a*~"));
    }

    #[test]
    fn systemd_lines_as_systemd_252_reads_them() {
        // Each case measured with `systemctl show` on systemd 252 (Debian 12).
        let unit = |unit: &str| -> BTreeMap<String, String> {
            systemd::assignments(&format!("[Unit]\n{unit}"))
                .unwrap()
                .into_iter()
                .map(|a| (a.key, a.value))
                .collect()
        };
        let d = unit("Description=foo\\\nDocumentation=file:/x\n");
        assert_eq!(d["Description"], "foo Documentation=file:/x");
        assert!(!d.contains_key("Documentation"));
        let d = unit("Description=foo\\\\\nDocumentation=file:/x\n");
        assert_eq!(d["Description"], "foo\\\\");
        assert_eq!(d["Documentation"], "file:/x");
        let d = unit("Description=foo\\\\\\\nDocumentation=file:/x\n");
        assert_eq!(d["Description"], "foo\\\\ Documentation=file:/x");
        let d = unit("Description=abc\\ \nDocumentation=file:/x\n");
        assert_eq!(d["Description"], "abc\\");
        assert_eq!(d["Documentation"], "file:/x");
        let d = unit("Description=abc\\\n# mid comment\\\n def\nDocumentation=file:/x\n");
        assert_eq!(d["Description"], "abc  def");
        let d = unit("Description=abc\\");
        assert_eq!(d["Description"], "abc");
        let d = systemd::assignments("# a comment\\\n[Unit]\nDescription=x\n").unwrap();
        assert_eq!(d[0].value, "x");
    }

    #[test]
    fn systemd_values_as_systemd_252_reads_them() {
        // ExecStart= and ReadWritePaths= measured with `systemctl show` and a program
        // that prints its argv (systemd 252).
        let e = systemd::exec(
            r#"/usr/local/bin/argv "a\x41" a"b c"d "\q" ";" "e\s" 'f\'g' "tab\there" "nl\nx" "oct\101" x$$y"#,
        )
        .unwrap();
        assert_eq!(
            e.argv,
            [
                "/usr/local/bin/argv",
                "aA",
                "ab cd",
                "\\q",
                ";",
                "e ",
                "f'g",
                "tab\there",
                "nl\nx",
                "octA",
                "x$y"
            ]
        );
        let e = systemd::exec("\"/opt/a$x/argv\" run").unwrap();
        assert_eq!(e.path, "/opt/a$x/argv");
        assert_eq!(e.argv[0], "/opt/a$x/argv");
        assert!(systemd::exec("/bin/x $HOME").is_err());
        assert!(systemd::exec("/bin/x ${HOME}").is_err());
        assert!(systemd::exec("/bin/x ; /bin/y").is_err());
        for bad in [
            "\"/opt/a\\\"q/x\"",
            "\"/opt/a'q/x\"",
            "\"/opt/a\\\\b/x\"",
            "/opt//x",
        ] {
            assert!(systemd::exec(bad).is_err(), "{bad}");
        }
        assert_eq!(
            systemd::path_list(
                r#""/var/log/a b" "/var/log/a$x" /var/log/c$$d "/var/log/p%%d" "/var/log/q\"q" "/var/log/s'q" "/var/log/bs\\x" "/var/log/nl\nx" /var/log/bare\x41 "/var/log/tr\\""#
            )
            .unwrap(),
            [
                "/var/log/a b",
                "/var/log/a$x",
                "/var/log/c$$d",
                "/var/log/p%d",
                "/var/log/q\"q",
                "/var/log/s'q",
                "/var/log/bs\\x",
                "/var/log/nlnx",
                "/var/log/barex41",
                "/var/log/tr\\"
            ]
        );
        assert_eq!(
            systemd::working_directory("/var/log/a b$%%\"'\\x").unwrap(),
            "/var/log/a b$%\"'\\x"
        );
        assert_eq!(
            systemd::working_directory("/srv/sp /.").unwrap(),
            "/srv/sp "
        );
        assert!(systemd::specifiers("%n").is_err());
    }
}
