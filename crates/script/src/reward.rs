//! Reward scripts: compile, check the contract, call.

use crate::error::{ScriptError, ScriptErrorKind};
use crate::sandbox::Sandbox;
use crate::types::State;
use rhai::{CallFnOptions, Dynamic, Scope, AST};

/// The function every reward script defines.
pub const REWARD_FN: &str = "compute_reward";

/// Named reward terms of one step, in the order the script's map returns them (sorted by name).
/// The names are fixed by the first call: a script must return the same terms every step.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RewardTerms {
    /// Term names.
    pub names: Vec<String>,
    /// Term values of the last call, one per name.
    pub values: Vec<f64>,
}

impl RewardTerms {
    /// The reward: the sum of the terms.
    pub fn total(&self) -> f64 {
        self.values.iter().sum()
    }
}

/// A compiled reward script, ready to be called on states.
#[derive(Clone)]
pub struct RewardScript {
    name: String,
    source: String,
    sandbox: Sandbox,
    ast: AST,
}

impl std::fmt::Debug for RewardScript {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RewardScript").field("name", &self.name).finish_non_exhaustive()
    }
}

impl RewardScript {
    /// Compiles `source` (named `name` in errors) and checks that it defines `compute_reward(s)`.
    pub fn compile(sandbox: &Sandbox, name: &str, source: &str) -> Result<Self, ScriptError> {
        let ast = sandbox.engine.compile(source).map_err(|e| ScriptError::from_parse(name, e))?;
        let mut found = None;
        for f in ast.iter_functions() {
            if f.name == REWARD_FN {
                found = Some(f.params.len());
            }
        }
        match found {
            Some(1) => {}
            Some(n) => {
                return Err(ScriptError::new(
                    name,
                    ScriptErrorKind::Contract,
                    format!("`{REWARD_FN}` must take exactly one parameter (the state `s`), it takes {n}"),
                ));
            }
            None => {
                return Err(ScriptError::new(
                    name,
                    ScriptErrorKind::Contract,
                    format!("the script must define `fn {REWARD_FN}(s)` returning a number or a map of numbers"),
                ));
            }
        }
        Ok(Self { name: name.to_owned(), source: source.to_owned(), sandbox: sandbox.clone(), ast })
    }

    /// The script's name as used in errors.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The script's source text.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Calls `compute_reward(state)` and stores the terms in `out`.
    pub fn call(&self, state: &State, out: &mut RewardTerms) -> Result<(), ScriptError> {
        let mut scope = Scope::new();
        // Top-level statements are not re-run on every call: functions cannot see them anyway.
        let options = CallFnOptions::new().eval_ast(false).rewind_scope(true);
        let result: Dynamic = self
            .sandbox
            .engine
            .call_fn_with_options(options, &mut scope, &self.ast, REWARD_FN, (state.clone(),))
            .map_err(|e| ScriptError::from_eval(&self.name, e))?;
        self.store(result, out)
    }

    fn store(&self, result: Dynamic, out: &mut RewardTerms) -> Result<(), ScriptError> {
        let contract = |message: String| ScriptError::new(&self.name, ScriptErrorKind::Contract, message);
        let check = |term: &str, value: f64| {
            if value.is_finite() {
                Ok(value)
            } else {
                Err(ScriptError::new(
                    &self.name,
                    ScriptErrorKind::NonFinite,
                    format!("term \"{term}\" is {value}; guard divisions, `sqrt`, `ln` and `acos` against bad inputs"),
                ))
            }
        };
        if let Some(x) = as_number(&result) {
            let x = check("reward", x)?;
            return store_terms(out, std::iter::once(("reward", x))).map_err(contract);
        }
        if result.is_unit() {
            return Err(contract(format!(
                "`{REWARD_FN}` returned nothing; end it with a number or a map of named numbers (`#{{ name: value }}`)"
            )));
        }
        let map = match result.try_cast_result::<rhai::Map>() {
            Ok(map) => map,
            Err(other) => {
                return Err(contract(format!(
                    "`{REWARD_FN}` must return a number or a map of numbers (`#{{ name: value }}`), it returned {}",
                    self.sandbox.engine.map_type_name(other.type_name())
                )));
            }
        };
        if map.is_empty() {
            return Err(contract(format!("`{REWARD_FN}` returned an empty map; give at least one term")));
        }
        // Check every term first, so that `out` is left untouched on error.
        for (key, value) in &map {
            let Some(x) = as_number(value) else {
                return Err(contract(format!(
                    "term \"{key}\" is {}, not a number",
                    self.sandbox.engine.map_type_name(value.type_name())
                )));
            };
            check(key, x)?;
        }
        let terms = map.iter().map(|(key, value)| (key.as_str(), as_number(value).unwrap_or(f64::NAN)));
        store_terms(out, terms).map_err(contract)
    }
}

fn as_number(d: &Dynamic) -> Option<f64> {
    d.as_float().ok().or_else(|| d.as_int().ok().map(|i| i as f64))
}

/// Stores checked terms in `out`; the names must match the names of earlier calls, if any.
/// Allocates only on the first call (when the names are recorded) or on error.
fn store_terms<'a>(
    out: &mut RewardTerms,
    terms: impl Iterator<Item = (&'a str, f64)> + Clone,
) -> Result<(), String> {
    if out.names.is_empty() {
        out.names = terms.clone().map(|(name, _)| name.to_owned()).collect();
    } else if !terms.clone().map(|(name, _)| name).eq(out.names.iter().map(String::as_str)) {
        let names: Vec<&str> = terms.map(|(name, _)| name).collect();
        return Err(format!(
            "`{REWARD_FN}` returned terms [{}] but earlier [{}]; return the same terms on every call (use 0.0 for a term that does not apply)",
            names.join(", "),
            out.names.join(", ")
        ));
    }
    out.values.clear();
    out.values.extend(terms.map(|(_, value)| value));
    Ok(())
}

impl RewardScript {
    /// The sandbox the script runs in.
    pub fn sandbox(&self) -> &Sandbox {
        &self.sandbox
    }
}
