use thiserror::Error;

/// Everything that can be wrong with an environment file. Each variant names the file; the ones
/// that come from the parser also name the line and column, the ones from validation the key.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum SpecError {
    /// The file could not be read.
    #[error("{file}: cannot read: {message}")]
    Io {
        /// The file as given.
        file: String,
        /// The operating system's message.
        message: String,
    },
    /// The file is not valid TOML, or a key has the wrong type or is unknown.
    #[error("{file}:{line}:{column}: {}{message}", key_prefix(.key))]
    Parse {
        /// The file as given.
        file: String,
        /// The key path, e.g. `joint[1].axis` (empty when the TOML itself is malformed).
        key: String,
        /// 1-based line of the offending text (0 when unknown).
        line: usize,
        /// 1-based column of the offending text (0 when unknown).
        column: usize,
        /// What was expected.
        message: String,
    },
    /// The file parsed but does not describe a consistent environment.
    #[error("{file}: {context}: {message}")]
    Invalid {
        /// The file as given.
        file: String,
        /// The item at fault, e.g. `joint "hinge"` or `observation[2]`.
        context: String,
        /// What is wrong and what was expected.
        message: String,
    },
}

fn key_prefix(key: &str) -> String {
    if key.is_empty() || key == "." { String::new() } else { format!("{key}: ") }
}

impl SpecError {
    /// A TOML syntax error: the message also quotes the offending line.
    pub(crate) fn from_toml(file: &str, text: &str, e: toml::de::Error) -> Self {
        let quoted = e.span().and_then(|s| {
            let start = text.get(..s.start)?.rfind('\n').map_or(0, |i| i + 1);
            let line = text[start..].lines().next().unwrap_or("").trim();
            (!line.is_empty() && line.chars().count() <= 80).then(|| line.to_owned())
        });
        let mut error = Self::from_toml_at(file, text, String::new(), e);
        if let (Self::Parse { message, .. }, Some(line)) = (&mut error, quoted) {
            message.push_str(&format!(" (in `{line}`)"));
        }
        error
    }

    /// A parse error at key path `key` (serde_path_to_error's rendering, `.` for the top level).
    pub(crate) fn from_toml_at(file: &str, text: &str, key: String, e: toml::de::Error) -> Self {
        let key = if key == "." { String::new() } else { key };
        let (line, column) = e.span().map(|s| line_column(text, s.start)).unwrap_or((0, 0));
        let mut message = plain_words(e.message().trim());
        // toml says only "duplicate key"; name it (the span covers the repeated key).
        if message == "duplicate key"
            && let Some(name) = e.span().and_then(|s| text.get(s)).filter(|n| !n.is_empty() && !n.contains('\n'))
        {
            message = format!("duplicate key `{}`", name.trim_matches(|c| c == '[' || c == ']'));
        }
        if key.is_empty() && message.starts_with("missing key") {
            message = message.replacen("missing key", "missing top-level key", 1);
        }
        // `[body]` instead of `[[body]]`: say how an array of tables is written.
        if message.starts_with("invalid type: table, expected an array") && ARRAYS_OF_TABLES.contains(&key.as_str()) {
            message = format!("{message}; write each entry as [[{key}]]");
        }
        Self::Parse { file: file.to_owned(), key, line, column, message }
    }

    pub(crate) fn invalid(file: &str, context: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Invalid { file: file.to_owned(), context: context.into(), message: message.into() }
    }
}

/// Keys whose value is an array of tables, written `[[key]]`.
const ARRAYS_OF_TABLES: &[&str] = &["body", "joint", "site", "actuator", "target", "state", "termination", "reset.joint", "reset.body"];

/// Rewrites serde's Rust-flavoured wording in the words of a TOML file: keys, not fields; values,
/// not variants; a number, not `f64`.
fn plain_words(message: &str) -> String {
    const WORDS: &[(&str, &str)] = &[
        ("missing field", "missing key"),
        ("unknown field", "unknown key"),
        ("unknown variant", "unknown value"),
        (", there are no fields", "; this table takes no keys"),
        ("expected f64", "expected a number"),
        ("expected u32", "expected a whole number ≥ 0"),
        ("expected a sequence", "expected an array"),
        ("invalid type: sequence", "invalid type: array"),
        ("invalid type: map", "invalid type: table"),
        ("invalid type: floating point", "invalid type: number"),
        ("invalid type: integer", "invalid type: number"),
        ("invalid value: integer", "invalid value:"),
    ];
    let mut out = message.to_owned();
    for (from, to) in WORDS {
        out = out.replace(from, to);
    }
    // "unknown key `x`, expected one of ..." reads better with a semicolon.
    for lead in ["unknown key `", "unknown value `"] {
        if let Some(rest) = out.strip_prefix(lead)
            && let Some(end) = rest.find("`, expected")
        {
            out = format!("{lead}{}`;{}", &rest[..end], &rest[end + 2..]);
        }
    }
    // "expected struct Physics" names a Rust type; the file has a table.
    if let Some(at) = out.find("expected struct ") {
        let end = out[at + 16..].find(|c: char| !c.is_alphanumeric()).map_or(out.len(), |e| at + 16 + e);
        out.replace_range(at..end, "expected a table");
    }
    if let Some(rest) = out.strip_prefix("invalid value: ") {
        out = format!("invalid value {}", rest.trim_start());
    }
    out
}

/// 1-based line and column (in characters) of byte `offset` in `text`.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}
