//! Trusted expressions from environment files: derived state, termination, fitness.

use crate::error::{ScriptError, ScriptErrorKind};
use crate::fast::{Fast, V};
use crate::sandbox::Sandbox;
use crate::types::{State, Value};
use rhai::{AST, Dynamic, Scope};

/// A compiled expression over the state `s`, e.g. `s.pole_angle.abs() > 0.8`.
#[derive(Clone)]
pub struct Expr {
    name: String,
    sandbox: Sandbox,
    ast: AST,
    /// The direct evaluation of the expression, when [`Expr::specialize`] found it in the subset
    /// `fast.rs` handles; else Rhai evaluates it.
    fast: Option<Fast>,
}

impl std::fmt::Debug for Expr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Expr").field("name", &self.name).finish_non_exhaustive()
    }
}

impl Expr {
    /// Compiles a single expression (no statements); `name` locates it in errors.
    pub fn compile(sandbox: &Sandbox, name: &str, text: &str) -> Result<Self, ScriptError> {
        let mut scope = Scope::new();
        scope.push("s", State::default());
        let ast = sandbox.engine.compile_expression_with_scope(&scope, text).map_err(|e| ScriptError::from_parse(name, e, sandbox))?;
        Ok(Self { name: name.to_owned(), sandbox: sandbox.clone(), ast, fast: None })
    }

    /// Prepares the direct evaluation, with the state's variables typed as in `sample` (the
    /// state after a reset). Results are the same bits either way; where the expression is
    /// outside the subset, or a variable's type later differs from `sample`'s, Rhai evaluates.
    pub fn specialize(&mut self, sample: &State) {
        self.fast = Fast::compile(&self.ast, &self.sandbox.layout().names, sample);
    }

    /// Whether [`Expr::specialize`] found the expression in the directly evaluated subset.
    pub fn is_specialized(&self) -> bool {
        self.fast.is_some()
    }

    /// The value as a state variable (a number or a vec3) if the direct evaluation gives one;
    /// None where Rhai must evaluate ([`Expr::eval`]).
    pub fn eval_value(&self, state: &State) -> Option<Value> {
        match self.fast.as_ref()?.eval(state)? {
            V::F(x) => Some(Value::Float(x)),
            V::V3(v) => Some(Value::Vec3(v)),
            V::B(_) => None,
        }
    }

    /// The expression's name as used in errors.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Evaluates the expression on `state`.
    pub fn eval(&self, state: &State) -> Result<Dynamic, ScriptError> {
        let mut scope = Scope::new();
        scope.push("s", state.clone());
        self.sandbox.engine.eval_ast_with_scope::<Dynamic>(&mut scope, &self.ast).map_err(|e| ScriptError::from_eval(&self.name, *e, &self.sandbox))
    }

    /// Evaluates to a finite number.
    pub fn eval_number(&self, state: &State) -> Result<f64, ScriptError> {
        let x = match self.fast.as_ref().and_then(|f| f.eval(state)) {
            Some(V::F(x)) => x,
            _ => {
                let d = self.eval(state)?;
                d.as_float().ok().or_else(|| d.as_int().ok().map(|i| i as f64)).ok_or_else(|| {
                    let t = self.sandbox.engine.map_type_name(d.type_name());
                    self.error(ScriptErrorKind::Contract, format!("expected a number, got {t}"))
                })?
            }
        };
        if x.is_finite() { Ok(x) } else { Err(self.error(ScriptErrorKind::NonFinite, format!("the value is {x}"))) }
    }

    /// Evaluates to a boolean.
    pub fn eval_bool(&self, state: &State) -> Result<bool, ScriptError> {
        if let Some(V::B(b)) = self.fast.as_ref().and_then(|f| f.eval(state)) {
            return Ok(b);
        }
        let d = self.eval(state)?;
        d.as_bool().map_err(|t| {
            let t = self.sandbox.engine.map_type_name(t);
            self.error(ScriptErrorKind::Contract, format!("expected true or false, got {t}"))
        })
    }

    fn error(&self, kind: ScriptErrorKind, message: String) -> ScriptError {
        ScriptError::new(&self.name, kind, message)
    }
}
