use rhai::{EvalAltResult, ParseError, Position};
use std::fmt;

/// What kind of failure a [`ScriptError`] is; the search feeds the kind and message to the LLM.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScriptErrorKind {
    /// The text does not parse, or uses a forbidden construct (`eval`, `import`, an unknown variable).
    Syntax,
    /// The script parses but breaks the reward contract (no `compute_reward(s)`, wrong return type,
    /// terms that change between calls).
    Contract,
    /// An error raised while running (unknown property or function, type mismatch, `throw`).
    Runtime,
    /// A sandbox limit was hit (operations, call depth, data size).
    Limit,
    /// A term was NaN or infinite.
    NonFinite,
}

/// An error in a script, located by script name, line and column where the engine knows them.
#[derive(Debug, Clone, PartialEq)]
pub struct ScriptError {
    /// The script's name (its path for files), as shown in messages.
    pub script: String,
    /// 1-based line, when known.
    pub line: Option<usize>,
    /// 1-based column, when known.
    pub column: Option<usize>,
    /// The kind of failure.
    pub kind: ScriptErrorKind,
    /// What went wrong, without the location.
    pub message: String,
}

impl fmt::Display for ScriptError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.line, self.column) {
            (Some(l), Some(c)) => write!(f, "{}:{l}:{c}: {}", self.script, self.message),
            (Some(l), None) => write!(f, "{}:{l}: {}", self.script, self.message),
            _ => write!(f, "{}: {}", self.script, self.message),
        }
    }
}

impl std::error::Error for ScriptError {}

impl ScriptError {
    pub(crate) fn new(script: &str, kind: ScriptErrorKind, message: impl Into<String>) -> Self {
        Self { script: script.to_owned(), line: None, column: None, kind, message: message.into() }
    }

    pub(crate) fn at(mut self, pos: Position) -> Self {
        self.line = pos.line();
        self.column = pos.position();
        self
    }

    pub(crate) fn from_parse(script: &str, e: ParseError) -> Self {
        let pos = e.position();
        let message = match e.err_type() {
            rhai::ParseErrorType::Reserved(s) if s == "eval" => {
                "`eval` is not allowed in reward scripts".to_owned()
            }
            rhai::ParseErrorType::Reserved(s) if s == "import" || s == "export" => {
                format!("`{s}` is not allowed: reward scripts cannot load modules")
            }
            t => t.to_string(),
        };
        Self::new(script, ScriptErrorKind::Syntax, message).at(pos)
    }

    /// Converts an evaluation error, locating it at the innermost position (inside the function
    /// that failed, not at the outer call site) and naming the chain of calls.
    pub(crate) fn from_eval(script: &str, e: Box<EvalAltResult>) -> Self {
        let outer_pos = e.position();
        let mut calls = Vec::new();
        let mut inner = *e;
        while let EvalAltResult::ErrorInFunctionCall(name, _, err, _) = inner {
            calls.push(name);
            inner = *err;
        }
        let pos = inner.take_position();
        let (kind, mut message) = match &inner {
            EvalAltResult::ErrorTooManyOperations(..) => (
                ScriptErrorKind::Limit,
                "too many operations: the script exceeded its operation budget (an endless loop?)".to_owned(),
            ),
            EvalAltResult::ErrorStackOverflow(..) => {
                (ScriptErrorKind::Limit, "call depth limit exceeded (unbounded recursion?)".to_owned())
            }
            EvalAltResult::ErrorDataTooLarge(..)
            | EvalAltResult::ErrorTooManyVariables(..)
            | EvalAltResult::ErrorTooManyModules(..) => (ScriptErrorKind::Limit, inner.to_string()),
            EvalAltResult::ErrorParsing(..) => (ScriptErrorKind::Syntax, inner.to_string()),
            _ => (ScriptErrorKind::Runtime, inner.to_string()),
        };
        if !calls.is_empty() {
            message.push_str(&format!(" (in {})", calls.join(" → ")));
        }
        let located = if pos.is_none() { outer_pos } else { pos };
        Self::new(script, kind, message).at(located)
    }
}
