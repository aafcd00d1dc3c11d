//! Reward scripts: compile, check the contract, call.

use crate::error::{ScriptError, ScriptErrorKind};
use crate::fast::FastReward;
use crate::locate;
use crate::sandbox::Sandbox;
use crate::types::State;
use rhai::{AST, CallFnOptions, Dynamic, Scope};

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
    /// The direct evaluation of `compute_reward`, when [`RewardScript::specialize`] found it in
    /// the subset `fast.rs` handles; else (and whenever it declines at run time) Rhai runs it.
    fast: Option<FastReward>,
}

impl std::fmt::Debug for RewardScript {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RewardScript").field("name", &self.name).finish_non_exhaustive()
    }
}

impl RewardScript {
    /// Compiles `source` (named `name` in errors) and checks that it defines `compute_reward(s)`.
    pub fn compile(sandbox: &Sandbox, name: &str, source: &str) -> Result<Self, ScriptError> {
        let ast = sandbox.engine.compile(source).map_err(|e| ScriptError::from_parse(name, e, sandbox))?;
        let mut arities: Vec<usize> = ast.iter_functions().filter(|f| f.name == REWARD_FN).map(|f| f.params.len()).collect();
        if arities.is_empty() {
            return Err(ScriptError::new(
                name,
                ScriptErrorKind::Contract,
                format!("the script must define `fn {REWARD_FN}(s)` returning a number or a map of numbers"),
            ));
        }
        if !arities.contains(&1) {
            arities.sort_unstable();
            let n = arities[0];
            return Err(ScriptError::new(
                name,
                ScriptErrorKind::Contract,
                format!("`{REWARD_FN}` must take exactly one parameter (the state `s`), it takes {n}"),
            )
            .at(locate::function_position(&ast, n)));
        }
        Ok(Self { name: name.to_owned(), source: source.to_owned(), sandbox: sandbox.clone(), ast, fast: None })
    }

    /// Prepares the direct evaluation of `compute_reward`, with the state's variables typed as in
    /// `sample` (the state after a reset). The terms are the same bits either way; a script
    /// outside the subset (loops, recursion, integers in arithmetic, `print`, …) runs on Rhai, and
    /// so does any call whose state does not fit the compiled types or whose terms are not all
    /// finite (so that errors are Rhai's, located as ever).
    pub fn specialize(&mut self, sample: &State) {
        self.fast = FastReward::compile(&self.ast, &self.sandbox.layout().names, sample, &self.sandbox.limits);
    }

    /// Whether [`RewardScript::specialize`] found the script in the directly evaluated subset.
    pub fn is_specialized(&self) -> bool {
        self.fast.is_some()
    }

    /// The same script compiled again on `sandbox` (see [`Sandbox::isolated`]): a copy that
    /// shares nothing with this one. It compiled once, so it compiles again; its direct
    /// evaluation (plain data, no Rhai) carries over when the state layout is the same.
    pub fn recompiled(&self, sandbox: &Sandbox) -> Result<Self, ScriptError> {
        let mut copy = Self::compile(sandbox, &self.name, &self.source)?;
        if sandbox.layout() == self.sandbox.layout() {
            copy.fast = self.fast.clone();
        }
        Ok(copy)
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
        if let Some(fast) = &self.fast
            && self.call_fast(fast, state, out)
        {
            return Ok(());
        }
        let mut scope = Scope::new();
        // Top-level statements are not re-run on every call: functions cannot see them anyway.
        let options = CallFnOptions::new().eval_ast(false).rewind_scope(true);
        let result: Dynamic =
            self.sandbox.engine.call_fn_with_options(options, &mut scope, &self.ast, REWARD_FN, (state.clone(),)).map_err(|e| self.eval_error(e, state))?;
        self.store(result, out)
    }

    /// The direct evaluation; false (and `out` untouched) where Rhai must run the script.
    fn call_fast(&self, fast: &FastReward, state: &State, out: &mut RewardTerms) -> bool {
        let mut values = Vec::with_capacity(fast.names.len());
        if fast.eval(state, &mut values).is_none() || !values.iter().all(|v| v.is_finite()) {
            return false;
        }
        store_terms(out, fast.names.iter().map(String::as_str).zip(values)).is_ok()
    }

    /// Rhai operations one call of `compute_reward(state)` takes (each expression node, loop
    /// iteration and function call counts one, as for [`crate::SandboxLimits::max_operations`]):
    /// a script's cost in a unit that is the same on every machine. Run on the sandbox's quiet
    /// engine, so nothing is printed.
    pub fn operations(&self, state: &State) -> Result<u64, ScriptError> {
        crate::sandbox::OPERATIONS.set(0);
        let mut scope = Scope::new();
        let options = CallFnOptions::new().eval_ast(false).rewind_scope(true);
        let _: Dynamic = self
            .sandbox
            .quiet_engine()
            .call_fn_with_options(options, &mut scope, &self.ast, REWARD_FN, (state.clone(),))
            .map_err(|e| self.eval_error(e, state))?;
        Ok(crate::sandbox::OPERATIONS.get())
    }

    /// Converts an evaluation error. A limit error, which Rhai reports without a position when it
    /// is hit inside a function, is located by re-running the body (see [`locate`]): at the
    /// statement of `compute_reward` that hit it, or at the recursive call for call depth.
    #[cold]
    fn eval_error(&self, e: Box<rhai::EvalAltResult>, state: &State) -> ScriptError {
        if !(e.is_system_exception() && e.position().is_none()) {
            return ScriptError::from_eval(&self.name, *e, &self.sandbox);
        }
        let rerun = locate::system_error_position(&self.sandbox, &self.ast, state, &e);
        let recursion = matches!(*e, rhai::EvalAltResult::ErrorStackOverflow(..));
        let mut err = ScriptError::from_eval(&self.name, *e, &self.sandbox);
        if recursion && let Some(pos) = locate::recursion_position(&self.ast, rerun) {
            return err.at(pos);
        }
        if let Some(pos) = rerun {
            if let Some(helper) = locate::called_at(&self.ast, pos) {
                err.message.push_str(&format!(" (inside `{helper}`, called here)"));
            }
            err = err.at(pos);
        }
        err
    }

    /// Checks the returned value and stores its terms in `out`; `out` is left untouched on error.
    fn store(&self, result: Dynamic, out: &mut RewardTerms) -> Result<(), ScriptError> {
        // Errors about the value are located at the term's key in the returned map literal if
        // there is one, else at the last statement of `compute_reward`.
        let error = |kind: ScriptErrorKind, term: Option<&str>, message: String| {
            ScriptError::new(&self.name, kind, message).at(locate::return_position(&self.ast, term))
        };
        // `in_map`: whether the term is a key of the returned map (else it is the bare number).
        let check = |term: &str, value: f64, in_map: bool| {
            if value.is_finite() {
                Ok(value)
            } else {
                Err(error(
                    ScriptErrorKind::NonFinite,
                    in_map.then_some(term),
                    format!("term \"{term}\" is {value}; guard divisions, `sqrt`, `ln`, `acos` against bad inputs"),
                ))
            }
        };
        let type_name = |d: &Dynamic| self.sandbox.engine.map_type_name(d.type_name()).to_owned();
        if let Some(x) = as_number(&result) {
            let x = check("reward", x, false)?;
            return store_terms(out, std::iter::once(("reward", x))).map_err(|m| error(ScriptErrorKind::Contract, None, m));
        }
        if result.is_unit() {
            return Err(error(
                ScriptErrorKind::Contract,
                None,
                format!("`{REWARD_FN}` returned nothing; end it with a number or a map of named numbers (`#{{ name: value }}`)"),
            ));
        }
        let map = match result.try_cast_result::<rhai::Map>() {
            Ok(map) => map,
            Err(other) => {
                return Err(error(
                    ScriptErrorKind::Contract,
                    None,
                    format!("`{REWARD_FN}` must return a number or a map of numbers (`#{{ name: value }}`), it returned {}", type_name(&other)),
                ));
            }
        };
        if map.is_empty() {
            return Err(error(ScriptErrorKind::Contract, None, format!("`{REWARD_FN}` returned an empty map; give at least one term")));
        }
        // Rhai checks its map-size limit when a map is built whole, not when a script fills one
        // by index (`m["t" + i] = …`): the term limit is enforced here, on what comes back.
        let max_terms = self.sandbox.limits.max_map_size;
        if map.len() > max_terms {
            return Err(error(
                ScriptErrorKind::Contract,
                None,
                format!("`{REWARD_FN}` returned {} terms; at most {max_terms} are allowed (sum related terms into one)", map.len()),
            ));
        }
        // Check every term first, so that `out` is left untouched on error.
        for (key, value) in &map {
            let Some(x) = as_number(value) else {
                return Err(error(ScriptErrorKind::Contract, Some(key), format!("term \"{key}\" is {}, not a number", type_name(value))));
            };
            check(key, x, true)?;
        }
        let terms = map.iter().map(|(key, value)| (key.as_str(), as_number(value).unwrap_or(f64::NAN)));
        store_terms(out, terms).map_err(|m| error(ScriptErrorKind::Contract, None, m))
    }
}

fn as_number(d: &Dynamic) -> Option<f64> {
    d.as_float().ok().or_else(|| d.as_int().ok().map(|i| i as f64))
}

/// Stores checked terms in `out`; the names must match the names of earlier calls, if any.
/// Allocates only on the first call (when the names are recorded) or on error.
fn store_terms<'a>(out: &mut RewardTerms, terms: impl Iterator<Item = (&'a str, f64)> + Clone) -> Result<(), String> {
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
