//! `[env]` values that refer to the environment and to each other: `${NAME}`,
//! `${NAME:-default}` and `$$` for a literal dollar, expanded once when the spec is
//! loaded.
//!
//! `${NAME}` is the value of the key `NAME` of the same `[env]` table when there is one
//! (itself expanded first), else the variable `NAME` of the loading process's
//! environment. A key that names itself (`PATH = "${PATH}:/opt/bin"`) means the
//! environment's variable, as in a shell. `${NAME:-default}` is the default when `NAME`
//! is undefined or empty (the default may refer to others in turn, and is expanded only
//! when it is used). An undefined name without a default is an error, and so is a cycle
//! (`A = "${B}"`, `B = "${A}"`) and a `$` that starts neither `${` nor `$$`: a value
//! never means something other than what it says in silence.
//!
//! Pure: the environment is passed in.

use std::collections::BTreeMap;

/// Why one `[env]` value could not be expanded.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ExpandError {
    /// A name that is neither a key of the table nor a variable of the environment.
    #[error("`${{{name}}}` is not defined: no key `{name}` in [env] and no such variable in tend's environment")]
    Undefined {
        /// The name referred to.
        name: String,
    },
    /// Keys that refer to each other in a circle; the first is the key in error, and
    /// the last refers back to it.
    #[error("`{}` refers to itself: {}", chain[0], cycle_text(chain))]
    Cycle {
        /// The keys of the cycle, from the key in error.
        chain: Vec<String>,
    },
    /// A `$` that is not the start of a reference nor `$$`, an unterminated `${`, an
    /// empty name, or a modifier other than `:-`.
    #[error("{what} (at character {column} of the value)")]
    Syntax {
        /// What is wrong.
        what: String,
        /// Its 1-based place in the value, in characters.
        column: usize,
    },
}

impl ExpandError {
    /// What to do about it.
    pub fn help(&self) -> &'static str {
        match self {
            ExpandError::Undefined { .. } => {
                "define it in [env] or in the environment, or give a default: `${NAME:-value}`"
            }
            ExpandError::Cycle { .. } => "break the circle: one of the keys must not refer back",
            ExpandError::Syntax { .. } => {
                "write `${NAME}` or `${NAME:-default}` to refer to a variable, `$$` for a dollar sign"
            }
        }
    }
}

fn cycle_text(chain: &[String]) -> String {
    let mut parts: Vec<&str> = chain.iter().map(String::as_str).collect();
    if let Some(first) = chain.first() {
        parts.push(first);
    }
    parts.join(" -> ")
}

/// A parsed value: literal text and references.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Piece {
    Text(String),
    Ref {
        name: String,
        default: Option<Vec<Piece>>,
    },
}

/// Parses `value`: the pieces up to its end.
fn parse(value: &str) -> Result<Vec<Piece>, ExpandError> {
    let chars: Vec<char> = value.chars().collect();
    let mut at = 0;
    parse_seq(&chars, &mut at, None)
}

/// Parses pieces from `chars[*at..]` up to the end, or (`open`: where its `${` is) up to
/// the `}` that closes a default, which it consumes.
fn parse_seq(
    chars: &[char],
    at: &mut usize,
    open: Option<usize>,
) -> Result<Vec<Piece>, ExpandError> {
    let mut out = Vec::new();
    let mut text = String::new();
    loop {
        let Some(&c) = chars.get(*at) else {
            if let Some(start) = open {
                return Err(unterminated(start));
            }
            break;
        };
        match c {
            '}' if open.is_some() => {
                *at += 1;
                break;
            }
            '$' => match chars.get(*at + 1) {
                Some('$') => {
                    text.push('$');
                    *at += 2;
                }
                Some('{') => {
                    if !text.is_empty() {
                        out.push(Piece::Text(std::mem::take(&mut text)));
                    }
                    out.push(parse_ref(chars, at)?);
                }
                _ => {
                    return Err(ExpandError::Syntax {
                        what: "a `$` that starts neither `${NAME}` nor `$$`".into(),
                        column: *at + 1,
                    })
                }
            },
            c => {
                text.push(c);
                *at += 1;
            }
        }
    }
    if !text.is_empty() {
        out.push(Piece::Text(text));
    }
    Ok(out)
}

/// A `${` at `start` without its `}`.
fn unterminated(start: usize) -> ExpandError {
    ExpandError::Syntax {
        what: "`${` without its closing `}`".into(),
        column: start + 1,
    }
}

/// Parses `${NAME}` or `${NAME:-default}` at `chars[*at]` (the `$`).
fn parse_ref(chars: &[char], at: &mut usize) -> Result<Piece, ExpandError> {
    let start = *at;
    *at += 2;
    let mut name = String::new();
    loop {
        match chars.get(*at) {
            None => return Err(unterminated(start)),
            Some('}') => {
                *at += 1;
                check_name(&name, start)?;
                return Ok(Piece::Ref {
                    name,
                    default: None,
                });
            }
            Some(':') => {
                check_name(&name, start)?;
                if chars.get(*at + 1) != Some(&'-') {
                    return Err(ExpandError::Syntax {
                        what: format!("`${{{name}:` must be followed by `-` and a default (`${{{name}:-value}}`)"),
                        column: *at + 1,
                    });
                }
                *at += 2;
                let default = parse_seq(chars, at, Some(start))?;
                return Ok(Piece::Ref {
                    name,
                    default: Some(default),
                });
            }
            Some(&c) if c == '$' || c == '{' || c == '=' || c == '\0' => {
                return Err(ExpandError::Syntax {
                    what: format!("`{c}` cannot be part of a variable name"),
                    column: *at + 1,
                });
            }
            Some(&c) => {
                name.push(c);
                *at += 1;
            }
        }
    }
}

fn check_name(name: &str, start: usize) -> Result<(), ExpandError> {
    if name.is_empty() {
        return Err(ExpandError::Syntax {
            what: "`${}` names no variable".into(),
            column: start + 1,
        });
    }
    Ok(())
}

/// The state of one key while the table is expanded.
#[derive(Clone, Debug)]
enum State {
    Busy,
    Done(Option<String>),
}

/// Why a key's value is unknown: an error reported at the key of its own, or a cycle
/// still being unwound to the key where it started.
enum Fail {
    Reported,
    Cycle(Vec<String>),
}

struct Expander<'a> {
    table: &'a BTreeMap<String, String>,
    environ: &'a dyn Fn(&str) -> Option<String>,
    state: BTreeMap<String, State>,
    stack: Vec<String>,
    errors: Vec<(String, ExpandError)>,
}

impl Expander<'_> {
    fn key(&mut self, key: &str) -> Result<String, Fail> {
        match self.state.get(key) {
            Some(State::Done(Some(v))) => return Ok(v.clone()),
            Some(State::Done(None)) => return Err(Fail::Reported),
            Some(State::Busy) => {
                let from = self.stack.iter().position(|k| k == key).unwrap_or(0);
                return Err(Fail::Cycle(self.stack[from..].to_vec()));
            }
            None => {}
        }
        let raw = self.table.get(key).cloned().unwrap_or_default();
        self.state.insert(key.to_string(), State::Busy);
        self.stack.push(key.to_string());
        let result = match parse(&raw) {
            Ok(pieces) => self.pieces(key, &pieces),
            Err(e) => {
                self.errors.push((key.to_string(), e));
                Err(Fail::Reported)
            }
        };
        self.stack.pop();
        let result = match result {
            Err(Fail::Cycle(chain)) if chain.first().map(String::as_str) == Some(key) => {
                self.errors
                    .push((key.to_string(), ExpandError::Cycle { chain }));
                Err(Fail::Reported)
            }
            other => other,
        };
        self.state
            .insert(key.to_string(), State::Done(result.as_ref().ok().cloned()));
        result
    }

    fn pieces(&mut self, key: &str, pieces: &[Piece]) -> Result<String, Fail> {
        let mut out = String::new();
        for p in pieces {
            match p {
                Piece::Text(t) => out.push_str(t),
                Piece::Ref { name, default } => {
                    let value = if name != key && self.table.contains_key(name) {
                        Some(self.key(name)?)
                    } else {
                        (self.environ)(name)
                    };
                    match (value, default) {
                        (Some(v), None) => out.push_str(&v),
                        (Some(v), Some(_)) if !v.is_empty() => out.push_str(&v),
                        (_, Some(d)) => out.push_str(&self.pieces(key, d)?),
                        (None, None) => {
                            self.errors.push((
                                key.to_string(),
                                ExpandError::Undefined { name: name.clone() },
                            ));
                            return Err(Fail::Reported);
                        }
                    }
                }
            }
        }
        Ok(out)
    }
}

/// Expands every value of `table` (an `[env]` table) with `environ` looking up the
/// process environment. Returns the table with each value expanded (a value in error
/// keeps its text), and each key in error with why, in the order of the keys. A key
/// that refers to a key in error is not reported again: its value stays as written.
pub fn expand_env(
    table: &BTreeMap<String, String>,
    environ: &dyn Fn(&str) -> Option<String>,
) -> (BTreeMap<String, String>, Vec<(String, ExpandError)>) {
    let mut x = Expander {
        table,
        environ,
        state: BTreeMap::new(),
        stack: Vec::new(),
        errors: Vec::new(),
    };
    let mut out = BTreeMap::new();
    for (k, raw) in table {
        let v = x.key(k).unwrap_or_else(|_| raw.clone());
        out.insert(k.clone(), v);
    }
    let mut errors = x.errors;
    errors.sort_by(|a, b| a.0.cmp(&b.0));
    (out, errors)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn environ(name: &str) -> Option<String> {
        match name {
            "HOME" => Some("/home/ann".into()),
            "PATH" => Some("/usr/bin".into()),
            "EMPTY" => Some(String::new()),
            "ProgramFiles(x86)" => Some(r"C:\PF86".into()),
            _ => None,
        }
    }

    fn run(pairs: &[(&str, &str)]) -> (BTreeMap<String, String>, Vec<(String, ExpandError)>) {
        let table = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        expand_env(&table, &environ)
    }

    /// One value alone in the table: what it expands to, or the error's text.
    fn one(value: &str) -> Result<String, String> {
        let (out, errors) = run(&[("V", value)]);
        match errors.first() {
            Some((_, e)) => Err(e.to_string()),
            None => Ok(out["V"].clone()),
        }
    }

    #[test]
    fn values_expand_from_the_environment() {
        let cases: &[(&str, &str)] = &[
            ("plain", "plain"),
            ("", ""),
            ("${HOME}/data", "/home/ann/data"),
            ("${HOME}${HOME}", "/home/ann/home/ann"),
            ("a ${HOME} b", "a /home/ann b"),
            ("$$", "$"),
            ("$${HOME}", "${HOME}"),
            ("price: 5$$", "price: 5$"),
            ("$$$$", "$$"),
            ("${PORT:-8080}", "8080"),
            ("${HOME:-/tmp}", "/home/ann"),
            ("${EMPTY}", ""),
            // With `:-`, empty counts as unset.
            ("${EMPTY:-x}", "x"),
            ("${PORT:-}", ""),
            ("${PORT:-${HOME}/x}", "/home/ann/x"),
            ("${PORT:-${NOPE:-deep}}", "deep"),
            ("${HOME:-${NOPE}}", "/home/ann"),
            ("${PORT:-a$$b}", "a$b"),
            ("${PORT:-a:b-c}", "a:b-c"),
            ("${ProgramFiles(x86)}", r"C:\PF86"),
            ("héllo ${HOME} ✓", "héllo /home/ann ✓"),
        ];
        for (value, want) in cases {
            assert_eq!(one(value), Ok(want.to_string()), "{value:?}");
        }
    }

    #[test]
    fn errors_say_what_and_where() {
        let cases: &[(&str, &str)] = &[
            ("${PORT}", "`${PORT}` is not defined: no key `PORT` in [env] and no such variable in tend's environment"),
            ("x ${HOME} ${NOPE}", "`${NOPE}` is not defined: no key `NOPE` in [env] and no such variable in tend's environment"),
            ("${PORT:-${NOPE}}", "`${NOPE}` is not defined: no key `NOPE` in [env] and no such variable in tend's environment"),
            ("$HOME", "a `$` that starts neither `${NAME}` nor `$$` (at character 1 of the value)"),
            ("cost 5$", "a `$` that starts neither `${NAME}` nor `$$` (at character 7 of the value)"),
            ("é$x", "a `$` that starts neither `${NAME}` nor `$$` (at character 2 of the value)"),
            ("${HOME", "`${` without its closing `}` (at character 1 of the value)"),
            ("ab ${", "`${` without its closing `}` (at character 4 of the value)"),
            ("${X:-${HOME}", "`${` without its closing `}` (at character 1 of the value)"),
            ("${}", "`${}` names no variable (at character 1 of the value)"),
            ("${:-x}", "`${}` names no variable (at character 1 of the value)"),
            ("${HOME:x}", "`${HOME:` must be followed by `-` and a default (`${HOME:-value}`) (at character 7 of the value)"),
            ("${HOME:=x}", "`${HOME:` must be followed by `-` and a default (`${HOME:-value}`) (at character 7 of the value)"),
            ("${A${B}}", "`$` cannot be part of a variable name (at character 4 of the value)"),
            ("${A{}", "`{` cannot be part of a variable name (at character 4 of the value)"),
        ];
        for (value, want) in cases {
            assert_eq!(one(value), Err(want.to_string()), "{value:?}");
        }
    }

    #[test]
    fn keys_refer_to_each_other_and_to_themselves_in_the_environment() {
        let (out, errors) = run(&[
            ("BASE", "${HOME}/app"),
            ("DATA", "${BASE}/data"),
            ("LOGS", "${DATA}/../logs"),
            ("PATH", "${BASE}/bin:${PATH}"),
            ("HOME", "/srv/home"),
            ("AFTER", "${HOME}"),
            ("PORT", "${PORT:-8080}"),
            ("URL", "http://localhost:${PORT}/"),
        ]);
        assert_eq!(errors, []);
        // BASE refers to the key HOME (the table wins over the environment).
        assert_eq!(out["BASE"], "/srv/home/app");
        assert_eq!(out["DATA"], "/srv/home/app/data");
        assert_eq!(out["LOGS"], "/srv/home/app/data/../logs");
        assert_eq!(out["PATH"], "/srv/home/app/bin:/usr/bin");
        assert_eq!(out["AFTER"], "/srv/home");
        assert_eq!(out["PORT"], "8080");
        assert_eq!(out["URL"], "http://localhost:8080/");
    }

    #[test]
    fn a_key_empty_in_the_table_takes_the_default() {
        let (out, errors) = run(&[("A", ""), ("B", "${A:-dflt}"), ("C", "[${A}]")]);
        assert_eq!(errors, []);
        assert_eq!(out["B"], "dflt");
        assert_eq!(out["C"], "[]");
    }

    #[test]
    fn cycles_are_errors_at_the_key_where_they_start() {
        let (out, errors) = run(&[("A", "${B}"), ("B", "x${C}"), ("C", "${A}"), ("D", "${C}")]);
        assert_eq!(
            errors,
            [(
                "A".to_string(),
                ExpandError::Cycle {
                    chain: vec!["A".into(), "B".into(), "C".into()]
                }
            )]
        );
        assert_eq!(
            errors[0].1.to_string(),
            "`A` refers to itself: A -> B -> C -> A"
        );
        // Values in error, and those that depend on them, stay as written.
        assert_eq!(out["A"], "${B}");
        assert_eq!(out["D"], "${C}");
        // A default does not break a cycle: the key is defined.
        let (_, errors) = run(&[("A", "${B:-x}"), ("B", "${A:-y}")]);
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(matches!(&errors[0].1, ExpandError::Cycle { chain } if chain == &["A", "B"]));
    }

    #[test]
    fn a_key_referring_to_a_key_in_error_is_not_reported_twice() {
        let (out, errors) = run(&[("A", "${NOPE}"), ("B", "${A}/x"), ("C", "ok")]);
        assert_eq!(
            errors,
            [(
                "A".to_string(),
                ExpandError::Undefined {
                    name: "NOPE".into()
                }
            )]
        );
        assert_eq!(out["B"], "${A}/x");
        assert_eq!(out["C"], "ok");
    }

    #[test]
    fn every_key_in_error_is_reported_in_key_order() {
        let (_, errors) = run(&[("Z", "$"), ("M", "${NOPE}"), ("A", "${}")]);
        let keys: Vec<&str> = errors.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["A", "M", "Z"]);
    }
}
