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
//! | vec3, velocity | squared penalty `−w · ‖v‖²` |
//! | vec3, unit 1 (a body axis) | alignment with world up `w · v.z` |
//! | always | alive bonus `w`, action penalty `−w · Σ aᵢ²` |
//!
//! Time-like (`s`) variables, quaternions, per-episode targets (the policy cannot move them) and the
//! action array itself get no variable template.

use rewardsmith_sim::EnvModel;
use rewardsmith_spec::{Source, ValueType};
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
/// them).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Term {
    /// The term's key in the returned map (also the prefix of its `let` constants).
    pub name: String,
    /// Its form.
    pub shape: Shape,
    /// Named parameters, in the order they are declared in the script.
    pub params: Vec<(String, f64)>,
}

impl Term {
    /// A term with its shape's default parameters.
    pub fn new(name: String, shape: Shape) -> Self {
        let params: Vec<(&str, f64)> = match &shape {
            Shape::Alignment { .. }
            | Shape::Upright { .. }
            | Shape::UpAlignment { .. }
            | Shape::Height { .. }
            | Shape::Alive
            | Shape::Embedded { .. } => {
                vec![("w", 1.0)]
            }
            Shape::SquaredPenalty { .. } => vec![("w", 0.1)],
            Shape::ActionPenalty { .. } => vec![("w", 0.01)],
            Shape::ExpShaping { vector: true, .. } => vec![("w", 1.0), ("tau", 0.5)],
            Shape::ExpShaping { vector: false, .. } | Shape::Tracking { .. } => vec![("w", 1.0), ("tau", 0.5), ("target", 0.0)],
        };
        Self { name, shape, params: params.into_iter().map(|(k, v)| (k.to_owned(), v)).collect() }
    }

    /// The Rhai constant holding parameter `param` (`<term>_<param>`).
    fn constant(&self, param: &str) -> String {
        format!("{}_{param}", self.name)
    }

    /// The term's expression, reading its constants.
    fn expression(&self) -> String {
        let c = |p: &str| self.constant(p);
        match &self.shape {
            Shape::Alignment { var } => format!("{} * s.{var}", c("w")),
            Shape::Upright { var } => format!("{} * (s.{var} + 1.0) / 2.0", c("w")),
            Shape::UpAlignment { var } | Shape::Height { var } => format!("{} * s.{var}.z", c("w")),
            Shape::SquaredPenalty { var, vector: false } => format!("-{} * square(s.{var})", c("w")),
            Shape::SquaredPenalty { var, vector: true } => format!("-{} * s.{var}.norm_squared()", c("w")),
            Shape::ExpShaping { var, vector: false } => {
                format!("{} * exp(-abs(s.{var} - {}) / {})", c("w"), c("target"), c("tau"))
            }
            Shape::ExpShaping { var, vector: true } => format!("{} * exp(-s.{var}.norm() / {})", c("w"), c("tau")),
            Shape::Tracking { var } => format!("{} * exp(-square(s.{var} - {}) / {})", c("w"), c("target"), c("tau")),
            Shape::Alive => c("w"),
            Shape::Embedded { function } => format!("{} * {TOTAL_FN}({function}(s))", c("w")),
            Shape::ActionPenalty { dims } => {
                let sum = (0..*dims).map(|i| format!("square(s.action[{i}])")).collect::<Vec<_>>().join(" + ");
                format!("-{} * ({sum})", c("w"))
            }
        }
    }
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
            (ValueType::Float, "rad" | "m") => vec![
                ("sq", Shape::SquaredPenalty { var: name.clone(), vector: false }),
                ("exp", Shape::ExpShaping { var: name.clone(), vector: false }),
            ],
            (ValueType::Float, _) if velocity => vec![
                ("sq", Shape::SquaredPenalty { var: name.clone(), vector: false }),
                ("track", Shape::Tracking { var: name.clone() }),
            ],
            (ValueType::Vec3, "m") => vec![
                ("exp", Shape::ExpShaping { var: name.clone(), vector: true }),
                ("sq", Shape::SquaredPenalty { var: name.clone(), vector: true }),
            ],
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
    use rewardsmith_script::review;
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
        let names = |id: &str| -> Vec<String> {
            library(&EnvModel::new(&catalog::resolve(id).unwrap()).unwrap()).into_iter().map(|t| t.name).collect()
        };
        // cartpole-swingup terminates when the cart leaves the rail; pendulum never terminates.
        assert!(names("cartpole-swingup").contains(&"pole_cos_upright".to_owned()));
        assert!(!names("cartpole-swingup").contains(&"pole_cos_align".to_owned()));
        assert!(names("pendulum").contains(&"pole_cos_align".to_owned()));
        let upright = Term::new("u".into(), Shape::Upright { var: "pole_cos".into() });
        assert_eq!(upright.expression(), "u_w * (s.pole_cos + 1.0) / 2.0");
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
