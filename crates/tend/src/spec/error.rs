//! Spec errors: each one says what is wrong, where (file, line, column, and the line
//! itself with a marker under the culprit), and what to do about it.

use std::fmt;
use std::path::PathBuf;

/// Where a diagnostic points.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Location {
    /// The file, or the override (`--set restart.policy=x`, `environment TEND_X`).
    pub origin: String,
    /// 1-based line (0 when the origin is not a file).
    pub line: usize,
    /// 1-based column, in characters.
    pub column: usize,
    /// The text of that line.
    pub line_text: String,
    /// How many characters to mark.
    pub width: usize,
    /// For an override (line 0): its place among the overrides, in the order they were
    /// given (`TEND_*` variables, then `--set` arguments in command-line order).
    pub order: usize,
}

impl Location {
    /// The location of byte range `span` within `text`, which came from `origin`.
    pub fn in_text(origin: &str, text: &str, span: std::ops::Range<usize>) -> Location {
        let start = span.start.min(text.len());
        let line_start = text[..start].rfind('\n').map_or(0, |i| i + 1);
        let line_end = text[start..].find('\n').map_or(text.len(), |i| start + i);
        let line_text = text[line_start..line_end].trim_end_matches('\r');
        let column = text[line_start..start].chars().count() + 1;
        let end = span.end.clamp(start, line_end);
        let width = text[start..end].chars().count().max(1);
        Location {
            origin: origin.to_string(),
            line: text[..start].matches('\n').count() + 1,
            column,
            line_text: line_text.to_string(),
            width,
            order: 0,
        }
    }

    /// The location of an override: it has no line; `order` is its place among the
    /// overrides.
    pub fn of_override(origin: &str, order: usize) -> Location {
        Location {
            origin: origin.to_string(),
            line: 0,
            column: 0,
            line_text: String::new(),
            width: 0,
            order,
        }
    }
}

/// One problem found in a spec.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Diagnostic {
    /// What is wrong.
    pub message: String,
    /// Where, when known.
    pub location: Option<Location>,
    /// What to do about it.
    pub help: Option<String>,
    /// The dotted key of the service's spec it is about (`restart.policy`), when it is
    /// about one.
    pub key: Option<String>,
    /// In a file of `[[service]]` tables, the name of the service it is about (as the
    /// file writes it); `None` in a single-service file and for the whole file.
    pub service: Option<String>,
}

impl Diagnostic {
    /// Where it sorts among the problems of one spec: problems of the whole spec first
    /// (an unknown profile), then the file's in the order of their lines and columns,
    /// then those of overrides (`--set`, `TEND_*`) in the order they were given.
    pub(crate) fn position(&self) -> (u8, usize, usize) {
        match &self.location {
            None => (0, 0, 0),
            Some(l) if l.line == 0 => (2, l.order, 0),
            Some(l) => (1, l.line, l.column),
        }
    }
}

/// Puts the problems of one spec in the order a person reads the file (stable: two at
/// the same place keep the order they were found in).
pub fn sort(diags: &mut [Diagnostic]) {
    diags.sort_by_key(Diagnostic::position);
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "error: {}", self.message)?;
        if let Some(loc) = &self.location {
            if loc.line == 0 {
                writeln!(f, "  --> {}", loc.origin)?;
            } else {
                let num = loc.line.to_string();
                let pad = " ".repeat(num.len());
                writeln!(f, "{pad}--> {}:{}:{}", loc.origin, loc.line, loc.column)?;
                writeln!(f, "{pad} |")?;
                writeln!(f, "{num} | {}", loc.line_text)?;
                let lead: String = loc
                    .line_text
                    .chars()
                    .take(loc.column - 1)
                    .map(|c| if c == '\t' { '\t' } else { ' ' })
                    .collect();
                writeln!(f, "{pad} | {lead}{}", "^".repeat(loc.width))?;
            }
        }
        if let Some(help) = &self.help {
            writeln!(f, "  = help: {help}")?;
        }
        Ok(())
    }
}

/// Why a spec could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    /// The file could not be read.
    #[error("{}", read_error(path, source))]
    Read {
        /// The spec file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The spec has one or more problems, every one of them, in the order of the file.
    #[error("{}", render(file, diagnostics))]
    Invalid {
        /// The spec file.
        file: PathBuf,
        /// The problems.
        diagnostics: Vec<Diagnostic>,
    },
}

impl SpecError {
    /// The problems of `file`, sorted by where they are.
    pub fn invalid(file: &std::path::Path, mut diagnostics: Vec<Diagnostic>) -> SpecError {
        sort(&mut diagnostics);
        SpecError::Invalid {
            file: file.to_path_buf(),
            diagnostics,
        }
    }

    /// Every problem, a file that cannot be read included.
    pub fn problems(&self) -> Vec<Diagnostic> {
        match self {
            SpecError::Invalid { diagnostics, .. } => diagnostics.clone(),
            SpecError::Read { path, source } => vec![read_problem(path, source)],
        }
    }

    /// The diagnostics, if the spec was read but is invalid.
    pub fn diagnostics(&self) -> &[Diagnostic] {
        match self {
            SpecError::Invalid { diagnostics, .. } => diagnostics,
            SpecError::Read { .. } => &[],
        }
    }
}

/// A spec that cannot be read, and for a missing one how to write it.
fn read_problem(path: &std::path::Path, e: &std::io::Error) -> Diagnostic {
    let help = (e.kind() == std::io::ErrorKind::NotFound).then(|| {
        let quoted = crate::text::sh_word(&path.to_string_lossy());
        format!("write one with `tend init PROGRAM --output {quoted}`")
    });
    Diagnostic {
        message: format!(
            "cannot read the spec {}: {}",
            path.display(),
            crate::text::io_error(e)
        ),
        location: None,
        help,
        key: None,
        service: None,
    }
}

fn read_error(path: &std::path::Path, e: &std::io::Error) -> String {
    read_problem(path, e).to_string().trim_end().to_string()
}

fn render(file: &std::path::Path, diags: &[Diagnostic]) -> String {
    let mut out = String::new();
    for (i, d) in diags.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        out.push_str(&d.to_string());
    }
    if diags.len() > 1 {
        out.push_str(&format!(
            "\nerror: {} problems in {}\n",
            diags.len(),
            file.display()
        ));
    }
    out.trim_end().to_string()
}

/// The candidate closest to `word`, if it is close enough to be a likely typo.
pub(crate) fn did_you_mean<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let word_l = word.to_ascii_lowercase();
    let limit = (word.chars().count() / 3).max(2);
    candidates
        .into_iter()
        .map(|c| (edit_distance(&word_l, &c.to_ascii_lowercase()), c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// Levenshtein distance, counting characters.
pub(crate) fn edit_distance(a: &str, b: &str) -> usize {
    strsim::levenshtein(a, b)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A missing spec's help is a shell command: the path is one unexpanded word in it.
    #[test]
    fn the_help_of_a_missing_spec_quotes_the_path_for_a_shell() {
        let missing = std::io::Error::from(std::io::ErrorKind::NotFound);
        for (path, help) in [
            (
                "web.toml",
                "write one with `tend init PROGRAM --output web.toml`",
            ),
            (
                "$(reboot).toml",
                "write one with `tend init PROGRAM --output '$(reboot).toml'`",
            ),
            (
                "it's here.toml",
                "write one with `tend init PROGRAM --output 'it'\\''s here.toml'`",
            ),
        ] {
            let d = read_problem(std::path::Path::new(path), &missing);
            assert_eq!(d.help.as_deref(), Some(help), "{path}");
        }
    }

    #[test]
    fn suggestions() {
        let fields = ["policy", "backoff", "max_restarts", "window"];
        assert_eq!(did_you_mean("polcy", fields), Some("policy"));
        assert_eq!(did_you_mean("max_restart", fields), Some("max_restarts"));
        assert_eq!(did_you_mean("Policy", fields), Some("policy"));
        assert_eq!(did_you_mean("colour", fields), None);
    }

    #[test]
    fn location_counts_lines_and_columns() {
        let text = "a = 1\n[restart]\npolcy = \"x\"\n";
        let start = text.find("polcy").unwrap();
        let loc = Location::in_text("f.toml", text, start..start + 5);
        assert_eq!((loc.line, loc.column, loc.width), (3, 1, 5));
        assert_eq!(loc.line_text, "polcy = \"x\"");
    }
}
