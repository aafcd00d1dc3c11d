//! A direct evaluator for expressions and reward functions in a small typed subset of Rhai, used
//! in place of Rhai's where it gives the same bits.
//!
//! Why: Rhai's fixed cost per evaluation (a runtime state, function resolution, a scope) and its
//! dispatch per operation (≈ 500 instructions; ≈ 1 700 per state getter) made a cartpole step's
//! three env expressions ≈ 15% of its instructions and its `human.rhai` ≈ 38%, against ≈ 40% for
//! the physics (BENCHMARKS.md, issue 20).
//!
//! What: [`Fast::compile`] (an env file's termination, fitness or derived expression) and
//! [`FastReward::compile`] (`compute_reward`: `let`s, then a map literal of number terms or a
//! number) translate the Rhai AST when every node is in the subset: float and bool literals,
//! `s.<variable>` holding a number or a vec3, `s.dt`, `s.time`, `s.action[i]`, `.x`/`.y`/`.z`,
//! `+ - * /`, unary `-` and `!`, the six comparisons, `&&`, `||`, `if … { … } else { … }`,
//! `vec3(…)`, `abs`, `sqrt`, `square`, `clamp`, the libm functions the sandbox registers, `norm`,
//! `dot`. Each operation does what the engine does: the registered function's arithmetic, libm
//! where the sandbox uses libm, and Rhai's relative-epsilon float comparisons (its checked build).
//! Calls of the script's own functions are inlined, typed by their arguments. Anything else
//! (loops, recursion, integer arithmetic, `print`, …) leaves the whole
//! expression or script to Rhai; so does, at run time, a value that does not fit the compiled
//! types or an action index past the end, so errors stay Rhai's, word for word. Only loop-free
//! scripts are taken, and only those small enough to stay under the sandbox's operation limit.

use crate::types::{State, Value, Vec3};
use rhai::{AST, Expr, FnCallExpr, Stmt, Token};
use std::cell::Cell;

/// A value of the subset.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum V {
    F(f64),
    B(bool),
    V3(Vec3),
}

/// Static type of a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum T {
    F,
    B,
    V3,
}

#[derive(Debug, Clone, Copy)]
enum Cmp {
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
}

#[derive(Debug, Clone, Copy)]
enum Arith {
    Add,
    Sub,
    Mul,
    Div,
}

#[derive(Debug, Clone, Copy)]
enum Axis {
    X,
    Y,
    Z,
}

/// A node of a compiled expression.
#[derive(Debug, Clone)]
enum Node {
    Const(V),
    /// `s.<variable>` at this index of the state's values, of this type.
    Var(usize, T),
    Dt,
    Time,
    NegF(Box<Node>),
    NegV(Box<Node>),
    Not(Box<Node>),
    ArithF(Arith, Box<Node>, Box<Node>),
    AddV(Box<Node>, Box<Node>),
    SubV(Box<Node>, Box<Node>),
    /// A vec3 times a number, either side.
    ScaleV(Box<Node>, Box<Node>),
    /// A vec3 divided by a number.
    DivV(Box<Node>, Box<Node>),
    CmpF(Cmp, Box<Node>, Box<Node>),
    And(Vec<Node>),
    Or(Vec<Node>),
    If(Box<Node>, Box<Node>, Box<Node>),
    Unary(fn(f64) -> f64, Box<Node>),
    Norm(Box<Node>),
    Dot(Box<Node>, Box<Node>),
    Component(Axis, Box<Node>),
    Vec3(Box<[Node; 3]>),
    /// `s.action[i]`.
    Action(usize),
    /// A `let` of the reward function, by slot.
    Local(usize),
    Clamp(Box<[Node; 3]>),
    /// A call of a script function, its body compiled for this call's argument types.
    Inline(Box<Inline>),
}

/// A script function's body at one call site: the arguments (in the caller's frame), then the
/// body's `let`s and its value (in a frame of their own: parameters first, then the `let`s, as
/// Rhai's functions see no caller's variables).
#[derive(Debug, Clone)]
struct Inline {
    args: Vec<Node>,
    lets: Vec<Node>,
    value: Node,
}

/// How deep script functions may call each other in the subset (well under the sandbox's call
/// limit; a recursive helper is left to Rhai).
const MAX_INLINE_DEPTH: usize = 8;

/// A compiled expression of the subset.
#[derive(Debug, Clone)]
pub(crate) struct Fast {
    root: Node,
}

impl Fast {
    /// Translates `ast` (an expression over the state `s`) if it is in the subset, typing the
    /// state's variables by their values in `sample`.
    pub(crate) fn compile(ast: &AST, names: &[String], sample: &State) -> Option<Self> {
        if ast.iter_functions().next().is_some() {
            return None;
        }
        let nodes = Cell::new(0);
        let (root, _) = Compiler::new(names, sample, "s", &nodes, None).block(ast.statements())?;
        Some(Self { root })
    }

    /// The value, or None where a variable's value is not of its compiled type (Rhai then
    /// evaluates the expression, and says what is wrong if anything is).
    pub(crate) fn eval(&self, state: &State) -> Option<V> {
        eval(&self.root, state, &[])
    }
}

/// A compiled reward function of the subset: `let`s of numbers and vectors (or of `s.action`),
/// then a map literal of number terms or a bare number.
#[derive(Debug, Clone)]
pub(crate) struct FastReward {
    /// Each `let`'s value, in order; `Node::Local(i)` reads the i-th.
    lets: Vec<Node>,
    /// The terms' names, sorted as Rhai's map returns them (a bare number: `reward`).
    pub(crate) names: Vec<String>,
    /// Each term's value, in the order of `names`.
    terms: Vec<Node>,
}

impl FastReward {
    /// Translates the body of `compute_reward` if it is in the subset and provably stays under
    /// the sandbox's operation and map-size limits (a loop-free body does at most a few
    /// operations per node).
    pub(crate) fn compile(ast: &AST, names: &[String], sample: &State, limits: &crate::SandboxLimits) -> Option<Self> {
        let (body, param) = crate::locate::reward_body(ast)?;
        let nodes = Cell::new(0);
        let mut c = Compiler::new(names, sample, &param, &nodes, Some(ast));
        let (last, lets) = body.split_last()?;
        let values = c.lets(lets)?;
        let mut terms: Vec<(String, Node)> = match last {
            Stmt::Expr(e) if matches!(e.as_ref(), Expr::Map(..)) => {
                let Expr::Map(map, _) = e.as_ref() else { unreachable!() };
                let entries = map.0.iter().map(|(key, value)| c.expr(value).filter(|(_, t)| *t == T::F).map(|(n, _)| (key.name.to_string(), n)));
                entries.collect::<Option<Vec<_>>>()?
            }
            last => vec![("reward".to_owned(), c.block(std::slice::from_ref(last)).filter(|(_, t)| *t == T::F)?.0)],
        };
        if terms.is_empty() || terms.len() > limits.max_map_size || nodes.get().saturating_mul(OPERATIONS_PER_NODE) >= limits.max_operations {
            return None;
        }
        terms.sort_by(|a, b| a.0.cmp(&b.0));
        let (names, terms) = terms.into_iter().unzip();
        Some(Self { lets: values, names, terms })
    }

    /// The terms' values in the order of `names`, or None where Rhai must run the script (a
    /// value of another type than compiled, an action index out of range).
    pub(crate) fn eval(&self, state: &State, out: &mut Vec<f64>) -> Option<()> {
        let mut locals = Vec::with_capacity(self.lets.len());
        for node in &self.lets {
            let value = eval(node, state, &locals)?;
            locals.push(value);
        }
        out.clear();
        for node in &self.terms {
            match eval(node, state, &locals)? {
                V::F(x) => out.push(x),
                _ => return None,
            }
        }
        Some(())
    }
}

/// Rhai operations a node of the subset can cost at most (its own, its call's, a variable's
/// lookup), to keep a compiled script provably under the sandbox's operation limit.
const OPERATIONS_PER_NODE: u64 = 4;

/// A name bound by a `let` of the reward function.
#[derive(Debug, Clone)]
enum Local {
    /// A number or vector, in a slot.
    Slot(String, usize, T),
    /// `let a = s.action`: only `a[i]` is in the subset.
    Action(String),
}

struct Compiler<'a> {
    /// The state's variable names (the sandbox's layout).
    names: &'a [String],
    sample: &'a State,
    /// What the state is called: `s` in env expressions, the parameter in a reward function.
    state: &'a str,
    /// `let`s in scope, latest last (a later `let` of a name shadows an earlier one).
    locals: Vec<Local>,
    /// Nodes compiled so far, inlined function bodies included.
    nodes: &'a Cell<u64>,
    /// The script whose functions calls may inline (None: expressions, which have none).
    script: Option<&'a AST>,
    /// The script functions being inlined, outermost first (name, arity).
    inlining: Vec<(String, usize)>,
}

impl<'a> Compiler<'a> {
    fn new(names: &'a [String], sample: &'a State, state: &'a str, nodes: &'a Cell<u64>, script: Option<&'a AST>) -> Self {
        Self { names, sample, state, locals: Vec::new(), nodes, script, inlining: Vec::new() }
    }

    /// Compiles `let` statements into slots after the ones in scope; `let a = s.action` binds
    /// an alias instead of a slot.
    fn lets(&mut self, statements: &[Stmt]) -> Option<Vec<Node>> {
        let first = self.locals.iter().filter(|l| matches!(l, Local::Slot(..))).count();
        let mut values = Vec::new();
        for stmt in statements {
            let Stmt::Var(var, flags, _) = stmt else { return None };
            let (ident, value, _) = var.as_ref();
            if !flags.is_empty() {
                return None;
            }
            match value {
                Expr::Dot(chain, _, _) if self.is_state(&chain.lhs) && matches!(&chain.rhs, Expr::Property(p, _) if p.2.as_str() == "action") => {
                    self.locals.push(Local::Action(ident.name.to_string()));
                }
                value => {
                    let (node, t) = self.expr(value)?;
                    self.locals.push(Local::Slot(ident.name.to_string(), first + values.len(), t));
                    values.push(node);
                }
            }
        }
        Some(values)
    }

    /// A call of the script's function `name`, its body compiled for `args`' types.
    fn inline(&self, name: &str, args: Vec<(Node, T)>) -> Option<(Node, T)> {
        let id = (name.to_owned(), args.len());
        if self.inlining.len() >= MAX_INLINE_DEPTH || self.inlining.contains(&id) {
            return None;
        }
        let (body, params) = crate::locate::function_body(self.script?, name, args.len())?;
        // The function sees its parameters only: no state unless passed, no caller's `let`s.
        let mut inner = Compiler::new(self.names, self.sample, "", self.nodes, self.script);
        inner.inlining = self.inlining.clone();
        inner.inlining.push(id);
        inner.locals = params.into_iter().zip(&args).enumerate().map(|(i, (p, (_, t)))| Local::Slot(p, i, *t)).collect();
        let (last, lets) = body.split_last()?;
        let lets = inner.lets(lets)?;
        let (value, t) = inner.block(std::slice::from_ref(last))?;
        Some((Node::Inline(Box::new(Inline { args: args.into_iter().map(|(n, _)| n).collect(), lets, value })), t))
    }

    fn is_state(&self, e: &Expr) -> bool {
        !self.state.is_empty() && matches!(e, Expr::Variable(v, _, _) if v.1.as_str() == self.state)
    }

    fn local(&self, name: &str) -> Option<&Local> {
        self.locals.iter().rev().find(|l| match l {
            Local::Slot(n, _, _) | Local::Action(n) => n == name,
        })
    }

    fn expr(&self, e: &Expr) -> Option<(Node, T)> {
        self.nodes.set(self.nodes.get() + 1);
        match e {
            Expr::FloatConstant(x, _) => Some((Node::Const(V::F(**x)), T::F)),
            Expr::BoolConstant(b, _) => Some((Node::Const(V::B(*b)), T::B)),
            Expr::Variable(v, _, _) => match self.local(v.1.as_str())? {
                Local::Slot(_, slot, t) => Some((Node::Local(*slot), *t)),
                Local::Action(_) => None,
            },
            Expr::Index(index, _, _) => match (&index.lhs, &index.rhs) {
                (Expr::Variable(v, _, _), Expr::IntegerConstant(i, _)) if matches!(self.local(v.1.as_str()), Some(Local::Action(_))) => {
                    Some((Node::Action(usize::try_from(*i).ok()?), T::F))
                }
                _ => None,
            },
            Expr::Dot(chain, _, _) => match &chain.lhs {
                state if self.is_state(state) => self.state_chain(&chain.rhs),
                object => {
                    let object = self.expr(object)?;
                    self.chain(object, &chain.rhs)
                }
            },
            Expr::FnCall(call, _) => self.call(call),
            Expr::And(list, _) | Expr::Or(list, _) => {
                let nodes = list.iter().map(|x| self.expr(x).filter(|(_, t)| *t == T::B).map(|(n, _)| n)).collect::<Option<Vec<_>>>()?;
                Some((if matches!(e, Expr::And(..)) { Node::And(nodes) } else { Node::Or(nodes) }, T::B))
            }
            Expr::Stmt(block) => self.block(block.statements()),
            _ => None,
        }
    }

    /// A block of one statement with a value: an expression, a call or an `if` with both
    /// branches (Rhai's parser makes the last two statements of their own).
    fn block(&self, statements: &[Stmt]) -> Option<(Node, T)> {
        match statements {
            [Stmt::Expr(e)] => self.expr(e),
            [Stmt::FnCall(call, _)] => self.call(call),
            [Stmt::If(flow, _)] => {
                let (cond, tc) = self.expr(&flow.expr)?;
                let (then, tt) = self.block(flow.body.statements())?;
                let (other, to) = self.block(flow.branch.statements())?;
                (tc == T::B && tt == to).then(|| (Node::If(Box::new(cond), Box::new(then), Box::new(other)), tt))
            }
            _ => None,
        }
    }

    /// `s.<rest>`: a state variable, then properties and methods.
    fn state_chain(&self, rest: &Expr) -> Option<(Node, T)> {
        let (first, then) = match rest {
            Expr::Dot(chain, _, _) => (&chain.lhs, Some(&chain.rhs)),
            other => (other, None),
        };
        let name = match first {
            Expr::Property(p, _) => p.2.as_str(),
            // `s.action[i]`, a literal index (Rhai counts a negative one from the end).
            Expr::Index(index, _, _) => match (&index.lhs, &index.rhs) {
                (Expr::Property(p, _), Expr::IntegerConstant(i, _)) if p.2.as_str() == "action" => {
                    let node = (Node::Action(usize::try_from(*i).ok()?), T::F);
                    return match then {
                        Some(rest) => self.chain(node, rest),
                        None => Some(node),
                    };
                }
                _ => return None,
            },
            _ => return None,
        };
        let var = match name {
            "dt" => (Node::Dt, T::F),
            "time" => (Node::Time, T::F),
            _ => {
                let index = self.names.iter().position(|n| n == name)?;
                match self.sample.data().values.get(index)? {
                    Value::Float(_) => (Node::Var(index, T::F), T::F),
                    Value::Vec3(_) => (Node::Var(index, T::V3), T::V3),
                    _ => return None,
                }
            }
        };
        match then {
            Some(rest) => self.chain(var, rest),
            None => Some(var),
        }
    }

    /// Applies `rest` (a property, a method call, or a chain of them) to `object`.
    fn chain(&self, object: (Node, T), rest: &Expr) -> Option<(Node, T)> {
        match rest {
            Expr::Dot(chain, _, _) => {
                let mid = self.chain(object, &chain.lhs)?;
                self.chain(mid, &chain.rhs)
            }
            Expr::Property(p, _) => {
                let axis = match p.2.as_str() {
                    "x" => Axis::X,
                    "y" => Axis::Y,
                    "z" => Axis::Z,
                    _ => return None,
                };
                (object.1 == T::V3).then(|| (Node::Component(axis, Box::new(object.0)), T::F))
            }
            Expr::MethodCall(call, _) => {
                let mut args = vec![object];
                for a in &call.args {
                    args.push(self.expr(a)?);
                }
                let name = call.name.as_str();
                // `x.f()` calls a script function `f(x)` as well; those are left to Rhai.
                if self.script.is_some_and(|ast| ast.iter_functions().any(|f| f.name == name && f.params.len() == args.len())) {
                    return None;
                }
                function(name, args)
            }
            _ => None,
        }
    }

    fn call(&self, call: &FnCallExpr) -> Option<(Node, T)> {
        // `clamp` takes any number: an integer literal is the float `clamp` converts it to.
        let arg = |a: &Expr| match a {
            Expr::IntegerConstant(i, _) if call.name.as_str() == "clamp" && call.op_token.is_none() => Some((Node::Const(V::F(*i as f64)), T::F)),
            a => self.expr(a),
        };
        let args = call.args.iter().map(arg).collect::<Option<Vec<_>>>()?;
        let name = call.name.as_str();
        // A script function takes precedence over a registered one of the same name and arity.
        let scripted = self.script.is_some_and(|ast| ast.iter_functions().any(|f| f.name == name && f.params.len() == args.len()));
        match (&call.op_token, args.len()) {
            (Some(token), 1) => unary(token, args),
            (Some(token), 2) => binary(token, args),
            (Some(_), _) => None,
            (None, _) if scripted => self.inline(name, args),
            (None, _) => function(name, args),
        }
    }
}

fn boxed(args: Vec<(Node, T)>) -> impl Iterator<Item = Box<Node>> {
    args.into_iter().map(|(n, _)| Box::new(n))
}

fn unary(token: &Token, args: Vec<(Node, T)>) -> Option<(Node, T)> {
    let t = args[0].1;
    let a = boxed(args).next()?;
    match (token, t) {
        (Token::Minus, T::F) => Some((Node::NegF(a), T::F)),
        // The sandbox's `-` for a vec3 is `scale(-1.0)`.
        (Token::Minus, T::V3) => Some((Node::NegV(a), T::V3)),
        (Token::Bang, T::B) => Some((Node::Not(a), T::B)),
        _ => None,
    }
}

fn binary(token: &Token, args: Vec<(Node, T)>) -> Option<(Node, T)> {
    let types = (args[0].1, args[1].1);
    let mut args = boxed(args);
    let (a, b) = (args.next()?, args.next()?);
    let arith = match token {
        Token::Plus => Some(Arith::Add),
        Token::Minus => Some(Arith::Sub),
        Token::Multiply => Some(Arith::Mul),
        Token::Divide => Some(Arith::Div),
        _ => None,
    };
    let cmp = match token {
        Token::EqualsTo => Some(Cmp::Eq),
        Token::NotEqualsTo => Some(Cmp::Ne),
        Token::GreaterThan => Some(Cmp::Gt),
        Token::GreaterThanEqualsTo => Some(Cmp::Ge),
        Token::LessThan => Some(Cmp::Lt),
        Token::LessThanEqualsTo => Some(Cmp::Le),
        _ => None,
    };
    match (types, arith, cmp) {
        ((T::F, T::F), Some(op), _) => Some((Node::ArithF(op, a, b), T::F)),
        ((T::F, T::F), _, Some(op)) => Some((Node::CmpF(op, a, b), T::B)),
        ((T::V3, T::V3), Some(Arith::Add), _) => Some((Node::AddV(a, b), T::V3)),
        ((T::V3, T::V3), Some(Arith::Sub), _) => Some((Node::SubV(a, b), T::V3)),
        ((T::V3, T::F), Some(Arith::Mul), _) => Some((Node::ScaleV(a, b), T::V3)),
        ((T::F, T::V3), Some(Arith::Mul), _) => Some((Node::ScaleV(b, a), T::V3)),
        ((T::V3, T::F), Some(Arith::Div), _) => Some((Node::DivV(a, b), T::V3)),
        _ => None,
    }
}

/// A function or method by name (the object first for a method).
fn function(name: &str, args: Vec<(Node, T)>) -> Option<(Node, T)> {
    let types: Vec<T> = args.iter().map(|a| a.1).collect();
    let mut a = boxed(args);
    match (name, types.as_slice()) {
        // Rhai's own `abs`; `square` as `types.rs` registers it.
        ("abs", [T::F]) => Some((Node::Unary(f64::abs, a.next()?), T::F)),
        ("square", [T::F]) => Some((Node::Unary(|x| x * x, a.next()?), T::F)),
        ("norm", [T::V3]) => Some((Node::Norm(a.next()?), T::F)),
        ("dot", [T::V3, T::V3]) => Some((Node::Dot(a.next()?, a.next()?), T::F)),
        ("vec3", [T::F, T::F, T::F]) => Some((Node::Vec3(Box::new([*a.next()?, *a.next()?, *a.next()?])), T::V3)),
        // As `types.rs` registers it: `x.max(lo).min(hi)`.
        ("clamp", [T::F, T::F, T::F]) => Some((Node::Clamp(Box::new([*a.next()?, *a.next()?, *a.next()?])), T::F)),
        (name, [T::F]) => crate::math::unary(name).map(|f| (Node::Unary(f, a.next().expect("one argument")), T::F)),
        _ => None,
    }
}

fn eval(node: &Node, s: &State, locals: &[V]) -> Option<V> {
    let f = |n: &Node| match eval(n, s, locals)? {
        V::F(x) => Some(x),
        _ => None,
    };
    let b = |n: &Node| match eval(n, s, locals)? {
        V::B(x) => Some(x),
        _ => None,
    };
    let v = |n: &Node| match eval(n, s, locals)? {
        V::V3(x) => Some(x),
        _ => None,
    };
    Some(match node {
        Node::Const(c) => *c,
        Node::Var(i, t) => match (s.data().values.get(*i)?, t) {
            (Value::Float(x), T::F) => V::F(*x),
            (Value::Vec3(x), T::V3) => V::V3(*x),
            _ => return None,
        },
        Node::Dt => V::F(s.data().dt),
        Node::Time => V::F(s.data().time),
        Node::NegF(a) => V::F(-f(a)?),
        Node::NegV(a) => V::V3(v(a)?.scale(-1.0)),
        Node::Not(a) => V::B(!b(a)?),
        Node::ArithF(op, a, c) => {
            let (x, y) = (f(a)?, f(c)?);
            V::F(match op {
                Arith::Add => x + y,
                Arith::Sub => x - y,
                Arith::Mul => x * y,
                Arith::Div => x / y,
            })
        }
        Node::AddV(a, c) => V::V3(v(a)?.add(v(c)?)),
        Node::SubV(a, c) => V::V3(v(a)?.sub(v(c)?)),
        Node::ScaleV(a, k) => V::V3(v(a)?.scale(f(k)?)),
        Node::DivV(a, k) => V::V3(v(a)?.scale(1.0 / f(k)?)),
        Node::CmpF(op, a, c) => V::B(compare(*op, f(a)?, f(c)?)),
        Node::And(list) => {
            for n in list {
                if !b(n)? {
                    return Some(V::B(false));
                }
            }
            V::B(true)
        }
        Node::Or(list) => {
            for n in list {
                if b(n)? {
                    return Some(V::B(true));
                }
            }
            V::B(false)
        }
        Node::If(c, then, other) => {
            if b(c)? {
                eval(then, s, locals)?
            } else {
                eval(other, s, locals)?
            }
        }
        Node::Unary(g, a) => V::F(g(f(a)?)),
        Node::Norm(a) => V::F(v(a)?.norm()),
        Node::Dot(a, c) => V::F(v(a)?.dot(v(c)?)),
        Node::Component(axis, a) => {
            let x = v(a)?;
            V::F(match axis {
                Axis::X => x.x,
                Axis::Y => x.y,
                Axis::Z => x.z,
            })
        }
        Node::Vec3(parts) => V::V3(Vec3::new(f(&parts[0])?, f(&parts[1])?, f(&parts[2])?)),
        Node::Action(i) => V::F(*s.data().action.get(*i)?),
        Node::Local(slot) => *locals.get(*slot)?,
        Node::Clamp(parts) => V::F(f(&parts[0])?.max(f(&parts[1])?).min(f(&parts[2])?)),
        Node::Inline(call) => {
            let mut frame = Vec::with_capacity(call.args.len() + call.lets.len());
            for a in &call.args {
                frame.push(eval(a, s, locals)?);
            }
            for l in &call.lets {
                let value = eval(l, s, &frame)?;
                frame.push(value);
            }
            eval(&call.value, s, &frame)?
        }
    })
}

/// Rhai's float comparisons in its checked build (`func/builtin.rs`, rhai 1.27): relative to the
/// larger magnitude, within one machine epsilon counts as equal.
fn compare(op: Cmp, x: f64, y: f64) -> bool {
    let max = if x * y == 0.0 { 1.0 } else { x.abs().max(y.abs()) };
    if max == 0.0 {
        return matches!(op, Cmp::Eq | Cmp::Ge | Cmp::Le);
    }
    match op {
        Cmp::Eq => (x - y).abs() / max <= f64::EPSILON,
        Cmp::Ne => (x - y).abs() / max > f64::EPSILON,
        Cmp::Gt => (x - y) / max > f64::EPSILON,
        Cmp::Ge => (x - y) / max > -f64::EPSILON,
        Cmp::Lt => (y - x) / max > f64::EPSILON,
        Cmp::Le => (y - x) / max > -f64::EPSILON,
    }
}

#[cfg(test)]
mod tests {
    use crate::{Expr, Sandbox, SandboxLimits, State, StateData, StateLayout, Value, Vec3};

    /// States with the edge cases of the comparisons (equal, one epsilon apart, zero, signed
    /// zero, NaN, infinity) and ordinary values.
    fn states() -> Vec<State> {
        let edges = [0.0, -0.0, 1.0, 1.0 + f64::EPSILON, 0.3, -2.5, 1e-300, f64::NAN, f64::INFINITY, 0.2095];
        let mut out = Vec::new();
        for (i, &a) in edges.iter().enumerate() {
            for &b in &edges {
                let v = Vec3::new(a, b, 0.25 * i as f64 - 1.0);
                let w = Vec3::new(b, -0.5, a);
                let values = vec![Value::Float(a), Value::Float(b), Value::Vec3(v), Value::Vec3(w)];
                out.push(State::new(StateData { values, action: vec![0.5], dt: 0.02, step: i as i64, time: 0.02 * i as f64 }));
            }
        }
        out
    }

    /// A sandbox for the state of [`states`]: numbers `a`, `b`, vectors `v`, `w`.
    fn sandbox() -> Sandbox {
        let names = ["a", "b", "v", "w"].map(str::to_owned).to_vec();
        Sandbox::new(StateLayout { names }, &SandboxLimits::default())
    }

    #[test]
    fn direct_evaluation_gives_rhai_s_bits() {
        let sandbox = sandbox();
        let numbers = [
            "1.0",
            "-s.a * s.b + s.a / 3.0 - 0.5",
            "s.a.abs() + square(s.b) + s.a.sqrt() + sqrt(s.b)",
            "s.a.cos() * sin(s.b) + exp(-s.a * s.a) + atan(s.b) + ln(s.a) + tanh(s.b)",
            "(s.v - s.w).norm() + s.v.dot(s.w) + (s.v + s.w * 2.0).x + (0.5 * s.v / 4.0).y + (-s.w).z",
            "vec3(s.a, s.b, 1.0).norm()",
            "if s.v.z > 0.5 { s.a * s.dt } else { s.time }",
            "if s.a > 0.0 && s.b < 1.0 || !(s.a == s.b) { 1.0 } else { 0.0 }",
        ];
        let bools = ["s.a > s.b", "s.a >= s.b", "s.a < s.b", "s.a <= s.b", "s.a == s.b", "s.a != s.b", "s.v.z < 0.0 || s.a.abs() > 0.2095"];
        let vectors = ["s.v - vec3(0.0, 0.0, 0.5)", "s.w * s.a"];
        for (exprs, kind) in [(&numbers[..], 0), (&bools[..], 1), (&vectors[..], 2)] {
            for text in exprs {
                let plain = Expr::compile(&sandbox, "e", text).unwrap();
                let mut fast = plain.clone();
                fast.specialize(&states()[0]);
                assert!(fast.is_specialized(), "{text} is in the subset");
                for state in states() {
                    let same = match kind {
                        0 => match (fast.eval_number(&state), plain.eval_number(&state)) {
                            (Ok(x), Ok(y)) => x.to_bits() == y.to_bits(),
                            (Err(x), Err(y)) => x.to_string() == y.to_string(),
                            _ => false,
                        },
                        1 => fast.eval_bool(&state).unwrap() == plain.eval_bool(&state).unwrap(),
                        _ => {
                            let d = plain.eval(&state).unwrap().cast::<Vec3>();
                            let Some(Value::Vec3(v)) = fast.eval_value(&state) else { panic!("{text}: no vec3") };
                            [v.x, v.y, v.z].map(f64::to_bits) == [d.x, d.y, d.z].map(f64::to_bits)
                        }
                    };
                    assert!(same, "{text} differs on {:?}", state.data().values);
                }
            }
        }
    }

    #[test]
    fn expressions_outside_the_subset_and_changed_types_are_left_to_rhai() {
        let sandbox = sandbox();
        let sample = &states()[0];
        for text in ["s.a > 1", "s.action.len() > 0", "s.step > 3", "if s.a > 0.0 { 1.0 }", "s.a.max(s.b)", "s.v.x.to_string().len() > 0"] {
            let mut e = Expr::compile(&sandbox, "e", text).unwrap();
            e.specialize(sample);
            assert!(!e.is_specialized(), "{text}");
        }
        // `s.a` compiled as a number; given a vec3, Rhai evaluates and reports the error.
        let mut e = Expr::compile(&sandbox, "e", "s.a + 1.0").unwrap();
        e.specialize(sample);
        assert!(e.is_specialized());
        let odd = State::new(StateData { values: vec![Value::Vec3(Vec3::default())], ..StateData::default() });
        assert!(e.eval_value(&odd).is_none());
        let err = e.eval_number(&odd).unwrap_err().to_string();
        assert!(err.contains("e:"), "{err}");
    }

    #[test]
    fn direct_reward_terms_are_rhai_s_bits_and_errors_stay_rhai_s() {
        use crate::{RewardScript, RewardTerms};
        let sandbox = sandbox();
        let scripts = [
            // Terms out of order (a map returns them sorted), shadowing, a parameter not named `s`.
            "fn compute_reward(st) { let x = st.a * 2.0; let x = x + st.b; let act = st.action; #{ zeta: x, alpha: -square(act[0]), mid: clamp(st.a, -1, 1) } }",
            "fn compute_reward(s) { let d = (s.v - s.w).norm(); let dir = s.v / (d + 1e-6); -(s.w - dir * 0.06).norm() + s.v.dot(dir) }",
            "fn compute_reward(s) { let up = if s.v.z > 0.5 { 1.0 } else { 0.0 }; #{ up: up, far: -s.a.abs() - s.action[0] * s.action[0], t: s.time * s.dt } }",
            // Not finite for some states: Rhai reports it, located.
            "fn compute_reward(s) { #{ r: 1.0 / s.a, l: ln(s.b) } }",
            // Helper functions, one calling another, with the same names as the caller's `let`s.
            "fn tol(x, m) { let k = x / m; (-(k * k) * 2.3).exp() }\nfn both(x, k) { tol(x, k) * tol(k, 1.0) }\nfn compute_reward(s) { let k = s.b; #{ t: (1.0 + tol(s.a, 2.0)) / 2.0, u: both(s.b, 0.5) + k } }",
            // An action index past the end: Rhai's error.
            "fn compute_reward(s) { #{ r: s.action[3] } }",
        ];
        for text in scripts {
            let plain = RewardScript::compile(&sandbox, "r.rhai", text).unwrap();
            let mut fast = plain.clone();
            fast.specialize(&states()[0]);
            assert!(fast.is_specialized(), "{text} is in the subset");
            for state in states() {
                let (mut a, mut b) = (RewardTerms::default(), RewardTerms::default());
                match (fast.call(&state, &mut a), plain.call(&state, &mut b)) {
                    (Ok(()), Ok(())) => {
                        assert_eq!(a.names, b.names, "{text}");
                        let bits = |t: &RewardTerms| t.values.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
                        assert_eq!(bits(&a), bits(&b), "{text} on {:?}", state.data().values);
                    }
                    (Err(x), Err(y)) => assert_eq!(x.to_string(), y.to_string()),
                    (x, y) => panic!("{text} on {:?}: {x:?} vs {y:?}", state.data().values),
                }
            }
        }
        for text in [
            "fn compute_reward(s) { let t = 0.0; for x in s.action { t += x; } t }",
            "fn speed(st) { st.a }\nfn compute_reward(s) { speed(s) }",
            "fn f(x) { if x > 0.0 { f(x - 1.0) } else { 0.0 } }\nfn compute_reward(s) { f(s.a) }",
            "fn compute_reward(s) { s.a * 2 }",
            "fn compute_reward(s) { print(s.a); s.a }",
            "fn compute_reward(s) { #{ v: s.v } }",
        ] {
            let mut script = RewardScript::compile(&sandbox, "r.rhai", text).unwrap();
            script.specialize(&states()[0]);
            assert!(!script.is_specialized(), "{text}");
        }
    }
}
