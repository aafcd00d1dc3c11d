//! Positions Rhai does not report: where a limit was hit inside `compute_reward`, where the value
//! it returns comes from. Used on error paths only, never on a successful call.
//!
//! Rhai drops the position of its "system" errors (operations, call depth, data size) at every
//! script-function boundary, and `call_fn` passes no position at all, so a limit hit inside
//! `compute_reward` arrives without a line. Re-running the body of `compute_reward` as top-level
//! statements (same engine configuration, same limits, same state) hits the same limit at the same
//! place, but with no function boundary in between, so the position survives: the statement of
//! `compute_reward` where the limit was hit, or the call in it that led there.
//!
//! Scripts have no clock, no randomness and no state that survives a call, so the re-run is
//! deterministic. It costs as much as the failed call: under a millisecond for an endless loop,
//! a few hundred for the slowest hostile script seen (every operation copying a 1000-element array
//! into a new map entry).
//!
//! This needs Rhai's `internals` feature (`AST::walk`, `AST::new`, the AST node types).

use crate::reward::REWARD_FN;
use crate::sandbox::Sandbox;
use crate::types::State;
use rhai::{AST, ASTNode, Dynamic, EvalAltResult, Expr, FnCallExpr, Position, Scope, Stmt};

/// An AST holding only the function `name` with `arity` parameters: walking it visits no other
/// function (closures are separate functions, so they are left out too). Not
/// `clone_functions_only_filtered`: Rhai 1.27 ignores its filter when the target module is empty,
/// and so copies every function.
fn function_only(ast: &AST, name: &str, arity: usize) -> AST {
    let mut only = ast.clone_functions_only();
    only.retain_functions(|_, _, n, a| n == name && a == arity);
    only
}

fn reward_fn_only(ast: &AST) -> AST {
    function_only(ast, REWARD_FN, 1)
}

/// A script function, by name and number of parameters.
type FnId = (String, usize);

/// The calls of script functions in the body of `f`, in source order: callee and position.
fn script_calls(ast: &AST, f: &FnId) -> Vec<(FnId, Position)> {
    let script_fns: Vec<FnId> = ast.iter_functions().map(|m| (m.name.to_owned(), m.params.len())).collect();
    let mut calls = Vec::new();
    function_only(ast, &f.0, f.1).walk(&mut |path: &[ASTNode]| {
        let call: Option<(&FnCallExpr, Position)> = match path.last() {
            Some(ASTNode::Expr(Expr::FnCall(call, pos) | Expr::MethodCall(call, pos))) => Some((call, *pos)),
            Some(ASTNode::Stmt(Stmt::FnCall(call, pos))) => Some((call, *pos)),
            _ => None,
        };
        if let Some((call, pos)) = call {
            let callee = (call.name.to_string(), call.args.len());
            if script_fns.contains(&callee) {
                calls.push((callee, pos));
            }
        }
        true
    });
    calls
}

/// For a call-depth error: the call that closes a cycle of script functions reachable from
/// `compute_reward` (the recursive call), trying first the call of `compute_reward` at `via`.
pub(crate) fn recursion_position(ast: &AST, via: Option<Position>) -> Option<Position> {
    fn visit(ast: &AST, f: FnId, via: Option<Position>, stack: &mut Vec<FnId>, done: &mut Vec<FnId>) -> Option<Position> {
        let mut calls = script_calls(ast, &f);
        // The call the error came through first (a stable sort keeps source order otherwise).
        calls.sort_by_key(|(_, pos)| Some(*pos) != via);
        stack.push(f);
        for (callee, pos) in calls {
            if stack.contains(&callee) {
                return Some(pos);
            }
            if !done.contains(&callee)
                && let Some(found) = visit(ast, callee, None, stack, done)
            {
                return Some(found);
            }
        }
        done.extend(stack.pop());
        None
    }
    visit(ast, (REWARD_FN.to_owned(), 1), via, &mut Vec::new(), &mut Vec::new())
}

/// The script function `compute_reward` calls at `pos`, if any.
pub(crate) fn called_at(ast: &AST, pos: Position) -> Option<String> {
    script_calls(ast, &(REWARD_FN.to_owned(), 1)).into_iter().find(|(_, p)| *p == pos).map(|((name, _), _)| name)
}

/// The top-level statements of `compute_reward(s)` and its parameter name.
pub(crate) fn reward_body(ast: &AST) -> Option<(Vec<Stmt>, String)> {
    let (body, mut params) = function_body(ast, REWARD_FN, 1)?;
    Some((body, params.pop()?))
}

/// The top-level statements of the script function `name` with `arity` parameters, and the
/// parameters' names.
pub(crate) fn function_body(ast: &AST, name: &str, arity: usize) -> Option<(Vec<Stmt>, Vec<String>)> {
    let params = ast.iter_functions().find(|f| f.name == name && f.params.len() == arity)?.params.iter().map(|p| (*p).to_owned()).collect();
    let mut body = Vec::new();
    function_only(ast, name, arity).walk(&mut |path: &[ASTNode]| {
        if let [ASTNode::Stmt(stmt)] = path {
            body.push((*stmt).clone());
        }
        true
    });
    Some((body, params))
}

/// Re-runs `compute_reward`'s body at top level and returns where it fails with the same kind of
/// error as `original`, if it does.
pub(crate) fn system_error_position(sandbox: &Sandbox, ast: &AST, state: &State, original: &EvalAltResult) -> Option<Position> {
    let (body, param) = reward_body(ast)?;
    let top = AST::new(body, ast.shared_lib().clone());
    let mut scope = Scope::new();
    scope.push(param, state.clone());
    let err = sandbox.quiet_engine().eval_ast_with_scope::<Dynamic>(&mut scope, &top).err()?;
    let same = std::mem::discriminant(&*err) == std::mem::discriminant(original);
    let pos = err.position();
    (same && !pos.is_none()).then_some(pos)
}

/// Where `compute_reward` produces its value: the key of `term` in a map literal of its body if
/// there is one, else its last statement.
pub(crate) fn return_position(ast: &AST, term: Option<&str>) -> Position {
    let only = reward_fn_only(ast);
    let mut key_pos = None;
    let mut last = Position::NONE;
    only.walk(&mut |path: &[ASTNode]| {
        match path {
            [ASTNode::Stmt(stmt)] => last = stmt.position(),
            [.., ASTNode::Expr(Expr::Map(map, _))] if key_pos.is_none() => {
                if let Some(term) = term {
                    key_pos = map.0.iter().find(|(key, _)| key.name == term).map(|(key, _)| key.pos);
                }
            }
            _ => {}
        }
        true
    });
    key_pos.unwrap_or(last)
}

/// Where `fn compute_reward` with `arity` parameters starts (its body's opening brace).
pub(crate) fn function_position(ast: &AST, arity: usize) -> Position {
    ast.iter_fn_def().find(|f| f.name == REWARD_FN && f.params.len() == arity).map_or(Position::NONE, |f| f.body.start_position())
}
