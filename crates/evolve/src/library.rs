//! The offline proposer's building blocks: reward terms instantiated from an environment's typed
//! state variables, and reward scripts assembled from them.
//!
//! A [`Term`] is one named entry of the returned map, with its numeric parameters (weights,
//! temperatures, targets) kept apart from its shape, so that the evolutionary operators (perturb a
//! parameter, drop a term, add one, cross over two parents) work on this structure and
//! [`render`] turns it back into Rhai. Which templates fit which variable follows the variable's
//! type and unit (as `rewardsmith envs ID` shows them):
//!
//! | variable | templates |
//! |---|---|
//! | float, unit 1 (a cosine, a coordinate of a unit vector) | alignment bonus `w · x` |
//! | float, angle (rad) or length (m) | squared penalty `−w · x²`, shaping `w · exp(−|x − target| / τ)` |
//! | float, velocity (rad/s, m/s) | squared penalty, tracking `w · exp(−(x − target)² / τ)` |
//! | vec3, length (m), derived (an offset such as fingertip → goal) | shaping `w · exp(−‖v‖ / τ)`, squared penalty `−w · ‖v‖²` |
//! | vec3, a body's or site's world position | height bonus `w · v.z` (the norm of a world position means nothing) |
//! | vec3, velocity | squared penalty `−w · ‖v‖²`; speed along an axis `w · v.x` only as generation 0's hint, where the success measure reads that component |
//! | vec3, unit 1 (a body axis) | alignment with world up `w · v.z` |
//! | always | alive bonus `w`, action penalty `−w · Σ aᵢ²` |
//!
//! Time-like (`s`) variables, quaternions, per-episode targets (the policy cannot move them) and the
//! action array itself get no variable template.

use rewardsmith_sim::EnvModel;
use rewardsmith_spec::{Source, ValueType};
use std::collections::BTreeSet;
use std::fmt::Write as _;

/// The shape of a reward term; its numbers live in [`Term::params`].
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Shape {
    /// `w · s.var` for a float in [-1, 1] (a cosine): larger is better aligned.
    Alignment {
        /// State variable name.
        var: String,
    },
    /// `w · (s.var + 1) / 2` for a cosine: alignment shifted into [0, w], so that where an
    /// episode can end early, ending it is never a way out of negative reward.
    Upright {
        /// State variable name.
        var: String,
    },
    /// `w · s.var.z` for a unit vector: the body axis pointing up.
    UpAlignment {
        /// State variable name.
        var: String,
    },
    /// `w · s.var.z` for a world position: height.
    Height {
        /// State variable name.
        var: String,
    },
    /// `−w · s.var²` (float) or `−w · ‖s.var‖²` (vec3).
    SquaredPenalty {
        /// State variable name.
        var: String,
        /// Whether the variable is a vec3.
        vector: bool,
    },
    /// `w · exp(−|s.var − target| / τ)` (float) or `w · exp(−‖s.var‖ / τ)` (vec3): bounded
    /// shaping towards a value, steepest near it.
    ExpShaping {
        /// State variable name.
        var: String,
        /// Whether the variable is a vec3 (then the target is the origin).
        vector: bool,
    },
    /// `w · exp(−(s.var − target)² / τ)`: tracking a velocity.
    Tracking {
        /// State variable name.
        var: String,
    },
    /// `w · s.var.<axis>` for a vec3 velocity: speed along one world axis (run forward). Not a
    /// random template (three axes and two signs each would be mostly noise): generation 0 takes
    /// it where the env's success measure reads that component (ant's `s.velocity.x`), the hint
    /// an LLM gets from the expression; otherwise the only template over a vec3 velocity is a
    /// penalty, which would teach the ant to stand still.
    Progress {
        /// State variable name.
        var: String,
        /// `x`, `y` or `z`.
        axis: char,
    },
    /// `w` every step: a bonus for staying alive (episodes that terminate early).
    Alive,
    /// `−w · Σ s.action[i]²`: effort.
    ActionPenalty {
        /// Action components.
        dims: usize,
    },
    /// `w · total(function(s))`: a whole foreign reward script (`sparse.rhai`, an LLM's) kept as
    /// one term, its `compute_reward` renamed `function`; `total` sums a map's terms.
    Embedded {
        /// The renamed function.
        function: String,
    },
}

/// A named reward term and its parameters (`w` always; `tau` and `target` where the shape has
/// them; `g<j>_tau`, `g<j>_target` for its gates).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Term {
    /// The term's key in the returned map (also the prefix of its `let` constants).
    pub name: String,
    /// Its form.
    pub shape: Shape,
    /// Named parameters, in the order they are declared in the script.
    pub params: Vec<(String, f64)>,
    /// Factors in (floor, 1] the term is multiplied by ([`Shape::ExpShaping`] or
    /// [`Shape::Tracking`] without their weight, raised to a floor, see [`GATE_FLOOR`]): the term
    /// pays in full only where each gate's variable is near its target, as dm_control's rewards
    /// are products ("upright *and* at rest"). A sum cannot say that: on a swing-up,
    /// `upright + at_rest` is earned half by spinning the pole.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub gates: Vec<Shape>,
}

/// Gates a term may carry: more would make it almost never pay.
pub const MAX_GATES: usize = 2;

/// A gate's floor when it is added: the factor is `floor + (1 − floor) · exp(…)`, so a gated
/// term still pays half while its gate is shut, dm_control's `(1 + tolerance) / 2` idiom. A hard
/// gate (floor 0) pays nothing for swinging a pole up fast, the motion a swing-up needs first:
/// on cartpole-swingup one reward with a hard "not spinning" gate reached 0.84 on 6 training seeds
/// of 8 and 0 on 2; with this floor, 0.80–0.86 on all 8 (BENCHMARKS.md, reward search).
pub const GATE_FLOOR: f64 = 0.5;

/// The largest floor mutation may give a gate: at 1 it would no longer gate anything.
pub const MAX_GATE_FLOOR: f64 = 0.95;

/// The speed (m/s or rad/s) at which a gate over a velocity starts to close: a brisk motion of a
/// robot's joint or body. Positions and angles use 1 (m or rad). A gate's temperature starts
/// within a factor of 2 of this scale (squared for [`Shape::Tracking`]), never at a velocity
/// template's default of 0.5, which would shut the gate at any motion at all.
pub const VELOCITY_SCALE: f64 = 5.0;

/// A gate the templates offer: its shape and its variable's typical scale (see
/// [`VELOCITY_SCALE`]).
#[derive(Debug, Clone, PartialEq)]
pub struct GateTemplate {
    /// [`Shape::ExpShaping`] or [`Shape::Tracking`].
    pub shape: Shape,
    /// The temperature it starts around (m, rad, or their squares for tracking).
    pub tau: f64,
    /// Whether it is an "at rest" gate: [`Shape::Tracking`] of a velocity towards 0.
    pub at_rest: bool,
    /// The bodies its variable describes (see [`bodies_of`]).
    pub bodies: BTreeSet<String>,
}

impl Term {
    /// A term with its shape's default parameters.
    pub fn new(name: String, shape: Shape) -> Self {
        let params: Vec<(&str, f64)> = match &shape {
            Shape::Alignment { .. }
            | Shape::Upright { .. }
            | Shape::UpAlignment { .. }
            | Shape::Height { .. }
            | Shape::Progress { .. }
            | Shape::Alive
            | Shape::Embedded { .. } => {
                vec![("w", 1.0)]
            }
            Shape::SquaredPenalty { .. } => vec![("w", 0.1)],
            Shape::ActionPenalty { .. } => vec![("w", 0.01)],
            Shape::ExpShaping { vector: true, .. } => vec![("w", 1.0), ("tau", 0.5)],
            Shape::ExpShaping { vector: false, .. } | Shape::Tracking { .. } => vec![("w", 1.0), ("tau", 0.5), ("target", 0.0)],
        };
        Self { name, shape, params: params.into_iter().map(|(k, v)| (k.to_owned(), v)).collect(), gates: Vec::new() }
    }

    /// Whether `gate` can multiply this term: a bounded, non-negative term (a product with a
    /// penalty or an unbounded term would reward the gate's variable moving *away* from its
    /// target) with room for one more gate, over a variable it is not already about.
    pub fn can_take(&self, gate: &Shape) -> bool {
        let var = shape_variable(gate);
        matches!(self.shape, Shape::Upright { .. } | Shape::ExpShaping { .. } | Shape::Tracking { .. } | Shape::Alive)
            && self.gates.len() < MAX_GATES
            && var.is_some()
            && var != shape_variable(&self.shape)
            && !self.gates.iter().any(|g| shape_variable(g) == var)
    }

    /// Multiplies the term by `gate` with temperature `tau` (and target 0) above a floor of
    /// [`GATE_FLOOR`], renaming it `<name>_x_<gate variable>`: a gated term is another term than
    /// the plain one.
    pub fn add_gate(&mut self, gate: Shape, tau: f64) {
        let j = self.gates.len() + 1;
        self.params.push((format!("g{j}_tau"), tau));
        if matches!(gate, Shape::Tracking { .. } | Shape::ExpShaping { vector: false, .. }) {
            self.params.push((format!("g{j}_target"), 0.0));
        }
        self.params.push((format!("g{j}_floor"), GATE_FLOOR));
        if let Some(var) = shape_variable(&gate) {
            self.name = format!("{}_x_{var}", self.name);
        }
        self.gates.push(gate);
    }

    /// The Rhai constant holding parameter `param` (`<term>_<param>`).
    fn constant(&self, param: &str) -> String {
        format!("{}_{param}", self.name)
    }

    /// The term's expression, reading its constants.
    fn expression(&self) -> String {
        let c = |p: &str| self.constant(p);
        let mut expression = self.ungated_expression();
        for (j, gate) in self.gates.iter().enumerate() {
            let j = j + 1;
            if let Some(f) = factor(gate, &c(&format!("g{j}_tau")), &c(&format!("g{j}_target"))) {
                let floor = c(&format!("g{j}_floor"));
                expression = format!("{expression} * ({floor} + (1.0 - {floor}) * {f})");
            }
        }
        expression
    }

    /// The expression without its gates.
    fn ungated_expression(&self) -> String {
        let c = |p: &str| self.constant(p);
        match &self.shape {
            Shape::Alignment { var } => format!("{} * s.{var}", c("w")),
            Shape::Upright { var } => format!("{} * (s.{var} + 1.0) / 2.0", c("w")),
            Shape::UpAlignment { var } | Shape::Height { var } => format!("{} * s.{var}.z", c("w")),
            Shape::Progress { var, axis } => format!("{} * s.{var}.{axis}", c("w")),
            Shape::SquaredPenalty { var, vector: false } => format!("-{} * square(s.{var})", c("w")),
            Shape::SquaredPenalty { var, vector: true } => format!("-{} * s.{var}.norm_squared()", c("w")),
            Shape::ExpShaping { .. } | Shape::Tracking { .. } => {
                format!("{} * {}", c("w"), factor(&self.shape, &c("tau"), &c("target")).expect("a bounded shape"))
            }
            Shape::Alive => c("w"),
            Shape::Embedded { function } => format!("{} * {TOTAL_FN}({function}(s))", c("w")),
            Shape::ActionPenalty { dims } => {
                let sum = (0..*dims).map(|i| format!("square(s.action[{i}])")).collect::<Vec<_>>().join(" + ");
                format!("-{} * ({sum})", c("w"))
            }
        }
    }
}

/// The weightless factor in (0, 1] of a bounded shape, with its temperature and target read from
/// the constants named `tau` and `target` (None: the shape is not such a factor).
fn factor(shape: &Shape, tau: &str, target: &str) -> Option<String> {
    match shape {
        Shape::ExpShaping { var, vector: false } => Some(format!("exp(-abs(s.{var} - {target}) / {tau})")),
        Shape::ExpShaping { var, vector: true } => Some(format!("exp(-s.{var}.norm() / {tau})")),
        Shape::Tracking { var } => Some(format!("exp(-square(s.{var} - {target}) / {tau})")),
        _ => None,
    }
}

/// The state variable a shape is built on (None: alive bonus, action penalty, embedded script).
pub fn shape_variable(shape: &Shape) -> Option<&str> {
    match shape {
        Shape::Alignment { var }
        | Shape::Upright { var }
        | Shape::UpAlignment { var }
        | Shape::Height { var }
        | Shape::Progress { var, .. }
        | Shape::SquaredPenalty { var, .. }
        | Shape::ExpShaping { var, .. }
        | Shape::Tracking { var, .. } => Some(var),
        Shape::Alive | Shape::ActionPenalty { .. } | Shape::Embedded { .. } => None,
    }
}

/// The gates the templates offer for `model`: every bounded shaping template (see
/// [`Term::gates`]), its temperature scaled to its variable.
pub fn gates(model: &EnvModel) -> Vec<GateTemplate> {
    library(model)
        .into_iter()
        .filter_map(|term| {
            let var = shape_variable(&term.shape)?;
            let index = model.spec().state.iter().position(|v| v.name == var)?;
            let velocity = model.state_unit(index).ends_with("/s");
            let scale = if velocity { VELOCITY_SCALE } else { 1.0 };
            let bodies = bodies_of(model, var);
            match term.shape {
                Shape::Tracking { .. } => Some(GateTemplate { shape: term.shape, tau: scale * scale, at_rest: velocity, bodies }),
                Shape::ExpShaping { .. } => Some(GateTemplate { shape: term.shape, tau: scale, at_rest: false, bodies }),
                _ => None,
            }
        })
        .collect()
}

/// The bodies state variable `var` describes: a joint's child, a body, a site's body; for a
/// derived variable, the bodies of the variables its expression reads. (Targets, time and the
/// action describe none.) A term and a gate about the same body are "the same thing, at rest".
pub fn bodies_of(model: &EnvModel, var: &str) -> BTreeSet<String> {
    let spec = model.spec();
    let mut bodies = BTreeSet::new();
    let mut pending = vec![var.to_owned()];
    let mut seen = BTreeSet::new();
    while let Some(name) = pending.pop() {
        if !seen.insert(name.clone()) {
            continue;
        }
        let Some(v) = spec.state.iter().find(|v| v.name == name) else { continue };
        if let Some(expr) = &v.expr {
            pending.extend(spec.state.iter().filter(|other| reads(expr, &other.name)).map(|other| other.name.clone()));
        }
        let body = match v.source.as_deref().and_then(Source::parse) {
            Some(Source::JointPosition(j) | Source::JointVelocity(j)) => spec.joints.iter().find(|x| x.name == j).map(|x| x.child.clone()),
            Some(Source::SitePosition(site) | Source::SiteLinvel(site)) => spec.sites.iter().find(|x| x.name == site).map(|x| x.body.clone()),
            Some(
                Source::BodyPosition(b) | Source::BodyLinvel(b) | Source::BodyAngvel(b) | Source::BodyQuat(b) | Source::BodyUp(b) | Source::BodyForward(b),
            ) => Some(b),
            Some(Source::Target(_) | Source::Action | Source::Time) | None => None,
        };
        bodies.extend(body);
    }
    bodies
}

/// Whether Rhai expression `expr` reads state variable `name` (`s.<name>` as a whole word).
pub fn reads(expr: &str, name: &str) -> bool {
    let pattern = format!("s.{name}");
    expr.match_indices(&pattern).any(|(at, _)| {
        let before = expr[..at].chars().next_back();
        let after = expr[at + pattern.len()..].chars().next();
        !before.is_some_and(word_char) && !after.is_some_and(word_char)
    })
}

/// Whether `c` can continue a Rhai identifier (so a match ending or starting beside it is part
/// of a longer name).
fn word_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// The component (`x`, `y`, `z`) of vec3 variable `name` that Rhai expression `expr` reads as
/// `s.<name>.<axis>` (the first one), if any.
pub fn reads_component(expr: &str, name: &str) -> Option<char> {
    let pattern = format!("s.{name}.");
    expr.match_indices(&pattern).find_map(|(at, _)| {
        let before = expr[..at].chars().next_back();
        let mut rest = expr[at + pattern.len()..].chars();
        let (axis, after) = (rest.next()?, rest.next());
        let whole = !before.is_some_and(word_char) && !after.is_some_and(word_char);
        (whole && matches!(axis, 'x' | 'y' | 'z')).then_some(axis)
    })
}

/// Every term the templates offer for `model`, named `<variable>_<template>` (unique).
pub fn library(model: &EnvModel) -> Vec<Term> {
    let spec = model.spec();
    let mut terms = Vec::new();
    for (i, var) in spec.state.iter().enumerate() {
        let name = &var.name;
        let unit = model.state_unit(i);
        let ty = model.state_types().get(i).copied().unwrap_or(ValueType::Float);
        let velocity = unit.ends_with("/s");
        let source = var.source.as_deref().and_then(Source::parse);
        let shapes: Vec<(&str, Shape)> = match (ty, unit.as_str()) {
            _ if matches!(source, Some(Source::Target(_))) => Vec::new(),
            (ValueType::Vec3, "m") if matches!(source, Some(Source::BodyPosition(_) | Source::SitePosition(_))) => {
                vec![("height", Shape::Height { var: name.clone() })]
            }
            // Where episodes can end early, a cosine's reward is shifted to be non-negative.
            (ValueType::Float, "1") if !spec.terminations.is_empty() => vec![("upright", Shape::Upright { var: name.clone() })],
            (ValueType::Float, "1") => vec![("align", Shape::Alignment { var: name.clone() })],
            (ValueType::Float, "rad" | "m") => {
                vec![("sq", Shape::SquaredPenalty { var: name.clone(), vector: false }), ("exp", Shape::ExpShaping { var: name.clone(), vector: false })]
            }
            (ValueType::Float, _) if velocity => {
                vec![("sq", Shape::SquaredPenalty { var: name.clone(), vector: false }), ("track", Shape::Tracking { var: name.clone() })]
            }
            (ValueType::Vec3, "m") => {
                vec![("exp", Shape::ExpShaping { var: name.clone(), vector: true }), ("sq", Shape::SquaredPenalty { var: name.clone(), vector: true })]
            }
            (ValueType::Vec3, _) if velocity => vec![("sq", Shape::SquaredPenalty { var: name.clone(), vector: true })],
            (ValueType::Vec3, "1") => vec![("up", Shape::UpAlignment { var: name.clone() })],
            _ => Vec::new(),
        };
        terms.extend(shapes.into_iter().map(|(suffix, shape)| Term::new(format!("{name}_{suffix}"), shape)));
    }
    // A bonus for staying alive only means something where episodes can end early.
    if !spec.terminations.is_empty() {
        terms.push(Term::new("alive".into(), Shape::Alive));
    }
    if model.action_dim() > 0 {
        terms.push(Term::new("effort".into(), Shape::ActionPenalty { dims: model.action_dim() }));
    }
    terms
}

/// The helper that sums an embedded script's terms (or passes its bare number through).
const TOTAL_FN: &str = "reward_total";

/// A reward script returning `terms` (each parameter a named `let` constant, so that it reads as
/// Eureka asks: every transformed term with its own temperature). `header` becomes the leading
/// comment (provenance: generation, parents, operators); `functions` (the embedded scripts,
/// renamed) come before `compute_reward`.
pub fn render(terms: &[Term], functions: &[String], header: &str) -> String {
    let mut out = String::new();
    for line in header.lines() {
        let _ = writeln!(out, "// {line}");
    }
    for f in functions {
        out.push_str(f.trim_end());
        out.push_str("\n\n");
    }
    if terms.iter().any(|t| matches!(t.shape, Shape::Embedded { .. })) {
        let _ = writeln!(
            out,
            "fn {TOTAL_FN}(r) {{\n    if type_of(r) == \"map\" {{\n        let total = 0.0;\n        for v in r.values() {{ total += v; }}\n        total\n    }} else {{\n        r\n    }}\n}}\n"
        );
    }
    out.push_str("fn compute_reward(s) {\n");
    for term in terms {
        for (param, value) in &term.params {
            let _ = writeln!(out, "    let {} = {};", term.constant(param), float_literal(*value));
        }
    }
    out.push_str("    #{\n");
    for term in terms {
        let _ = writeln!(out, "        {}: {},", term.name, term.expression());
    }
    out.push_str("    }\n}\n");
    out
}

/// A Rhai float literal for `x`: always with a decimal point or exponent (Rhai reads `2` as an
/// integer), shortest round-trip digits.
pub(crate) fn float_literal(x: f64) -> String {
    let text = format!("{x:?}");
    if text.contains(['.', 'e', 'E']) || !x.is_finite() { text } else { format!("{text}.0") }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rewardsmith_script::{RewardTerms, Value, review};
    use rewardsmith_sim::critic_states;
    use rewardsmith_spec::catalog;

    #[test]
    fn every_template_of_every_builtin_env_passes_the_critic() {
        for id in catalog::ids() {
            let model = EnvModel::new(&catalog::resolve(id).unwrap()).unwrap();
            let terms = library(&model);
            assert!(terms.len() >= 4, "{id}: only {} templates", terms.len());
            let source = render(&terms, &[], &format!("all templates of {id}"));
            let script = model.compile_reward("library.rhai", &source).unwrap_or_else(|e| panic!("{id}: {e}\n{source}"));
            let report = review(&script, &critic_states(&model, 64, 1).unwrap()).unwrap_or_else(|e| panic!("{id}: {e}\n{source}"));
            assert_eq!(report.terms.len(), terms.len(), "{id}: one logged term per template");
        }
    }

    #[test]
    fn templates_follow_the_variable_types() {
        let model = EnvModel::new(&catalog::resolve("pendulum").unwrap()).unwrap();
        let names: Vec<String> = library(&model).into_iter().map(|t| t.name).collect();
        for expected in ["pole_cos_align", "pole_angle_sq", "pole_angle_exp", "pole_angular_velocity_track", "pole_tip_height", "effort"] {
            assert!(names.iter().any(|n| n == expected), "pendulum lacks {expected}: {names:?}");
        }
        assert!(!names.iter().any(|n| n.starts_with("action") || n.starts_with("time")), "{names:?}");
        assert!(!names.iter().any(|n| n == "alive" || n == "pole_tip_exp"), "no alive bonus without terminations, no norm of a world position: {names:?}");
        let reacher = EnvModel::new(&catalog::resolve("reacher").unwrap()).unwrap();
        let names: Vec<String> = library(&reacher).into_iter().map(|t| t.name).collect();
        assert!(names.iter().any(|n| n == "to_goal_exp") && !names.iter().any(|n| n.starts_with("goal_")), "offsets yes, targets no: {names:?}");
    }

    #[test]
    fn where_episodes_can_end_early_a_cosine_is_rewarded_without_going_negative() {
        let names = |id: &str| -> Vec<String> { library(&EnvModel::new(&catalog::resolve(id).unwrap()).unwrap()).into_iter().map(|t| t.name).collect() };
        // cartpole-swingup terminates when the cart leaves the rail; pendulum never terminates.
        assert!(names("cartpole-swingup").contains(&"pole_cos_upright".to_owned()));
        assert!(!names("cartpole-swingup").contains(&"pole_cos_align".to_owned()));
        assert!(names("pendulum").contains(&"pole_cos_align".to_owned()));
        let upright = Term::new("u".into(), Shape::Upright { var: "pole_cos".into() });
        assert_eq!(upright.expression(), "u_w * (s.pole_cos + 1.0) / 2.0");
    }

    #[test]
    fn a_gate_multiplies_a_bounded_term_and_never_a_penalty() {
        let model = EnvModel::new(&catalog::resolve("cartpole-swingup").unwrap()).unwrap();
        let spin = gates(&model).into_iter().find(|g| g.shape == Shape::Tracking { var: "pole_angular_velocity".into() }).unwrap();
        assert!(spin.at_rest && spin.tau == VELOCITY_SCALE * VELOCITY_SCALE, "{spin:?}");
        let mut upright = Term::new("up".into(), Shape::Upright { var: "pole_cos".into() });
        assert!(upright.can_take(&spin.shape));
        upright.add_gate(spin.shape.clone(), 25.0);
        assert_eq!(upright.name, "up_x_pole_angular_velocity");
        let c = "up_x_pole_angular_velocity";
        assert_eq!(
            upright.expression(),
            format!(
                "{c}_w * (s.pole_cos + 1.0) / 2.0 * ({c}_g1_floor + (1.0 - {c}_g1_floor) * exp(-square(s.pole_angular_velocity - {c}_g1_target) / {c}_g1_tau))"
            )
        );
        // A shut gate leaves the floor: upright and spinning fast still pays half.
        let script = model.compile_reward("gated.rhai", &render(std::slice::from_ref(&upright), &[], "gated")).unwrap();
        let mut state = critic_states(&model, 1, 1).unwrap().remove(0);
        let at = |name: &str| model.spec().state.iter().position(|v| v.name == name).unwrap();
        state.data_mut().values[at("pole_cos")] = Value::Float(1.0);
        state.data_mut().values[at("pole_angular_velocity")] = Value::Float(100.0);
        let mut terms = RewardTerms::default();
        script.call(&state, &mut terms).unwrap();
        assert_eq!(terms.total(), GATE_FLOOR);
        assert!(!upright.can_take(&spin.shape), "one gate per variable");
        // A penalty times a gate would pay for leaving the gate's target.
        assert!(!Term::new("p".into(), Shape::SquaredPenalty { var: "cart_position".into(), vector: false }).can_take(&spin.shape));
        let source = render(&[upright], &[], "gated");
        let script = model.compile_reward("gated.rhai", &source).unwrap();
        review(&script, &critic_states(&model, 64, 1).unwrap()).unwrap();
    }

    #[test]
    fn variables_know_the_bodies_they_describe_through_joints_sites_and_expressions() {
        let model = EnvModel::new(&catalog::resolve("cartpole-swingup").unwrap()).unwrap();
        let pole = BTreeSet::from(["pole".to_owned()]);
        for var in ["pole_angle", "pole_angular_velocity", "pole_cos", "pole_tip"] {
            assert_eq!(bodies_of(&model, var), pole, "{var}");
        }
        assert_eq!(bodies_of(&model, "cart_position"), BTreeSet::from(["cart".to_owned()]));
        assert!(reads("s.pole_angle.cos()", "pole_angle") && !reads("s.pole_angle_2", "pole_angle"));
    }

    #[test]
    fn a_component_read_is_found_as_a_whole_word() {
        let ant = "if s.up.z > 0.5 { s.velocity.x * s.dt } else { 0.0 }";
        assert_eq!(reads_component(ant, "velocity"), Some('x'));
        assert_eq!(reads_component(ant, "up"), Some('z'));
        assert_eq!(reads_component("s.velocity.norm()", "velocity"), None);
        assert_eq!(reads_component("s.angular_velocity.x", "velocity"), None);
        assert_eq!(reads_component("s.velocity.xy", "velocity"), None);
    }

    #[test]
    fn rendered_constants_are_rhai_floats() {
        assert_eq!(float_literal(2.0), "2.0");
        assert_eq!(float_literal(0.01), "0.01");
        assert_eq!(float_literal(1e-7), "1e-7");
        let terms = vec![Term::new("alive".into(), Shape::Alive)];
        assert_eq!(render(&terms, &[], "test"), "// test\nfn compute_reward(s) {\n    let alive_w = 1.0;\n    #{\n        alive: alive_w,\n    }\n}\n");
    }
}
