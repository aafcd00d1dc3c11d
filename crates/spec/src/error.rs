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
    pub(crate) fn from_toml(file: &str, text: &str, e: toml::de::Error) -> Self {
        Self::from_toml_at(file, text, String::new(), e)
    }

    pub(crate) fn from_toml_at(file: &str, text: &str, key: String, e: toml::de::Error) -> Self {
        let (line, column) = e.span().map(|s| line_column(text, s.start)).unwrap_or((0, 0));
        Self::Parse { file: file.to_owned(), key, line, column, message: e.message().trim().to_owned() }
    }

    pub(crate) fn invalid(file: &str, context: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Invalid { file: file.to_owned(), context: context.into(), message: message.into() }
    }
}

/// 1-based line and column (in characters) of byte `offset` in `text`.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}
