use crate::sandbox::Sandbox;
use rhai::{EvalAltResult, LexError, ParseError, ParseErrorType, Position};
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

    pub(crate) fn from_parse(script: &str, e: ParseError, sandbox: &Sandbox) -> Self {
        let pos = e.position();
        let limits = &sandbox.limits;
        let (kind, message) = match e.err_type() {
            ParseErrorType::Reserved(s) | ParseErrorType::BadInput(LexError::ImproperSymbol(s, _)) if s == "eval" => (ScriptErrorKind::Syntax, eval_message()),
            ParseErrorType::Reserved(s) if s == "import" || s == "export" => {
                (ScriptErrorKind::Syntax, format!("`{s}` is not allowed: reward scripts cannot load modules; define helper functions in the script"))
            }
            ParseErrorType::VariableUndefined(name) => {
                let hint = if sandbox.layout().names.iter().any(|n| n == name) {
                    format!("; `{name}` is a state variable: write `s.{name}`")
                } else {
                    "; a function sees only its parameters and its own `let`s, not top-level `let`/`const`".to_owned()
                };
                (ScriptErrorKind::Syntax, format!("unknown variable `{name}`{hint}"))
            }
            ParseErrorType::ExprTooDeep => (
                ScriptErrorKind::Limit,
                format!(
                    "expression nested too deeply (limit {} levels, {} inside functions); split it with `let`",
                    limits.max_expr_depth, limits.max_function_expr_depth
                ),
            ),
            ParseErrorType::TooManyFunctions => (ScriptErrorKind::Limit, format!("too many functions (limit {})", limits.max_functions)),
            ParseErrorType::UnexpectedEOF => (ScriptErrorKind::Syntax, "the script ends too early: a closing `}`, `)` or `]` is missing".to_owned()),
            t => (ScriptErrorKind::Syntax, t.to_string()),
        };
        Self::new(script, kind, message).at(pos)
    }

    /// Converts an evaluation error, locating it at the innermost position (inside the function
    /// that failed, not at the outer call site) and naming the chain of calls.
    pub(crate) fn from_eval(script: &str, e: EvalAltResult, sandbox: &Sandbox) -> Self {
        let outer_pos = e.position();
        let mut calls = Vec::new();
        let mut inner = e;
        while let EvalAltResult::ErrorInFunctionCall(name, _, err, _) = inner {
            calls.push(name);
            inner = *err;
        }
        let pos = inner.take_position();
        let limits = &sandbox.limits;
        let (kind, mut message) = match &inner {
            EvalAltResult::ErrorTooManyOperations(..) => (
                ScriptErrorKind::Limit,
                format!("too many operations (limit {} per call): an endless loop, or far too much work for a reward", limits.max_operations),
            ),
            EvalAltResult::ErrorStackOverflow(..) => {
                (ScriptErrorKind::Limit, format!("functions nested too deeply (limit {} calls): unbounded recursion? use a loop", limits.max_call_levels))
            }
            EvalAltResult::ErrorDataTooLarge(what, ..) => {
                let message = if what.contains("string") {
                    format!("string too long (limit {} bytes)", limits.max_string_size)
                } else if what.contains("array") {
                    format!("array too large (limit {} elements)", limits.max_array_size)
                } else if what.contains("map") {
                    format!("map too large (limit {} entries)", limits.max_map_size)
                } else {
                    format!("{what} too large")
                };
                (ScriptErrorKind::Limit, message)
            }
            EvalAltResult::ErrorTooManyVariables(..) => (ScriptErrorKind::Limit, format!("too many variables alive at once (limit {})", limits.max_variables)),
            EvalAltResult::ErrorTooManyModules(..) => (ScriptErrorKind::Limit, inner.to_string()),
            EvalAltResult::ErrorParsing(ParseErrorType::Reserved(s), _) if s == "eval" => (ScriptErrorKind::Syntax, eval_message()),
            EvalAltResult::ErrorParsing(t, _) => (ScriptErrorKind::Syntax, t.to_string()),
            EvalAltResult::ErrorFunctionNotFound(signature, _) => (ScriptErrorKind::Runtime, function_not_found(signature)),
            EvalAltResult::ErrorDotExpr(text, _) => (ScriptErrorKind::Runtime, unknown_property(text, sandbox)),
            EvalAltResult::ErrorPropertyNotFound(name, _) => (ScriptErrorKind::Runtime, format!("the map has no property `{name}`")),
            EvalAltResult::ErrorRuntime(value, _) => (ScriptErrorKind::Runtime, format!("runtime error: {value}")),
            _ => (ScriptErrorKind::Runtime, inner.to_string()),
        };
        if !calls.is_empty() {
            message.push_str(&format!(" (in {})", calls.join(" → ")));
        }
        let located = if pos.is_none() { outer_pos } else { pos };
        Self::new(script, kind, message).at(located)
    }
}

fn eval_message() -> String {
    "`eval` is not allowed in reward scripts; write the code directly".to_owned()
}

/// Rhai's signature text (`foo (i64)`, `+ (vec3, f64)`) made readable.
fn function_not_found(signature: &str) -> String {
    let signature = signature.replace("&str | ImmutableString | String", "string");
    let (name, args) = match signature.split_once(" (") {
        Some((name, args)) => (name, format!("({args}")),
        None => (signature.as_str(), String::new()),
    };
    if name.chars().next().is_some_and(|c| c.is_alphabetic() || c == '_') {
        format!(
            "no function `{name}` taking {}: it is not defined, or not for these argument types",
            if args.is_empty() { "these arguments".to_owned() } else { args }
        )
    } else {
        format!("operator `{name}` does not apply to {args}")
    }
}

/// Rhai's "Unknown property 'x' - a getter is not registered for type 'T'" made helpful.
fn unknown_property(text: &str, sandbox: &Sandbox) -> String {
    let parsed = text
        .strip_prefix("Unknown property '")
        .and_then(|rest| rest.split_once("' - a getter is not registered for type '"))
        .and_then(|(prop, rest)| Some((prop, rest.strip_suffix('\'')?)));
    let Some((prop, typ)) = parsed else {
        return text.to_owned();
    };
    match typ {
        "State" => format!(
            "the state has no variable `{prop}`; it has {}, and action, dt, step, time",
            if sandbox.layout().names.is_empty() { "none of its own".to_owned() } else { sandbox.layout().names.join(", ") }
        ),
        "vec3" => format!("vec3 has no property `{prop}`; it has x, y, z"),
        "quat" => format!("quat has no property `{prop}`; it has w, x, y, z (and q.rotate(v))"),
        _ => format!("{typ} has no property `{prop}`"),
    }
}
