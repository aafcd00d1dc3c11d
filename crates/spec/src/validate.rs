//! Checks that a parsed file describes a consistent environment. Each error names the item at
//! fault and says what was expected, listing the valid names where that helps.

use crate::SpecError;
use crate::schema::*;
use crate::vocabulary::Source;
use std::collections::{HashMap, HashSet};

/// Name of the implicit fixed body every joint may use as parent.
pub const WORLD: &str = "world";

/// Names the reward-script state type provides itself; state variables may not shadow them.
pub const RESERVED_STATE_NAMES: &[&str] = &["action", "dt", "step", "time"];

pub(crate) fn validate(file: &str, spec: &EnvSpec) -> Result<(), SpecError> {
    let err = |context: &str, message: String| SpecError::invalid(file, context, message);

    if spec.id.is_empty() || !spec.id.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-') {
        return Err(err("id", format!("{:?} must be lowercase letters, digits and '-'", spec.id)));
    }
    validate_physics(&spec.physics).map_err(|m| err("physics", m))?;

    // Bodies.
    if spec.bodies.is_empty() {
        return Err(err("body", "at least one body is required".into()));
    }
    let mut bodies: HashMap<&str, &Body> = HashMap::new();
    for body in &spec.bodies {
        let ctx = format!("body {:?}", body.name);
        check_name(&body.name).map_err(|m| err(&ctx, m))?;
        if body.name == WORLD {
            return Err(err(&ctx, format!("the name {WORLD:?} is reserved for the fixed world frame")));
        }
        if bodies.insert(&body.name, body).is_some() {
            return Err(err(&ctx, "defined twice".into()));
        }
        validate_body(body).map_err(|m| err(&ctx, m))?;
    }
    let body_names = || spec.bodies.iter().map(|b| b.name.as_str()).collect::<Vec<_>>().join(", ");

    // Joints: references, kinds, and a forest (each body the child of at most one joint, no loop).
    let mut joints: HashMap<&str, &Joint> = HashMap::new();
    let mut parent_of: HashMap<&str, (&str, &str)> = HashMap::new(); // child -> (parent, joint)
    for joint in &spec.joints {
        let ctx = format!("joint {:?}", joint.name);
        check_name(&joint.name).map_err(|m| err(&ctx, m))?;
        if joints.insert(&joint.name, joint).is_some() {
            return Err(err(&ctx, "defined twice".into()));
        }
        if joint.parent != WORLD && !bodies.contains_key(joint.parent.as_str()) {
            return Err(err(&ctx, format!("parent body {:?} does not exist (bodies: {}, or {WORLD})", joint.parent, body_names())));
        }
        let Some(child) = bodies.get(joint.child.as_str()) else {
            return Err(err(&ctx, format!("child body {:?} does not exist (bodies: {})", joint.child, body_names())));
        };
        if joint.child == joint.parent {
            return Err(err(&ctx, "parent and child are the same body".into()));
        }
        if child.fixed {
            return Err(err(&ctx, format!("child body {:?} is fixed; a joint's child must be dynamic", child.name)));
        }
        if child.position.is_some() || child.rotation.is_some() {
            return Err(err(&ctx, format!("child body {:?} has its own position/rotation; the joint places it, remove them", child.name)));
        }
        if let Some((_, other)) = parent_of.insert(&joint.child, (&joint.parent, &joint.name)) {
            return Err(err(&ctx, format!("body {:?} is already the child of joint {other:?}", joint.child)));
        }
        validate_joint(joint).map_err(|m| err(&ctx, m))?;
    }
    for joint in &spec.joints {
        // Walk up from the joint's parent; reaching its child again closes a loop. A loop further
        // up that does not pass through this child is left to be reported at one of its own joints.
        let mut chain = vec![joint.child.as_str()];
        let mut at = joint.parent.as_str();
        loop {
            if at == joint.child {
                chain.push(at);
                chain.reverse();
                return Err(err(&format!("joint {:?}", joint.name), format!("closes a loop ({}); joints must form a tree", chain.join(" → "))));
            }
            let Some((parent, _)) = parent_of.get(at) else { break };
            if chain.contains(&at) {
                break;
            }
            chain.push(at);
            at = parent;
        }
    }

    // Sites.
    let mut sites: HashMap<&str, &Site> = HashMap::new();
    for site in &spec.sites {
        let ctx = format!("site {:?}", site.name);
        check_name(&site.name).map_err(|m| err(&ctx, m))?;
        if sites.insert(&site.name, site).is_some() {
            return Err(err(&ctx, "defined twice".into()));
        }
        if !bodies.contains_key(site.body.as_str()) {
            return Err(err(&ctx, format!("body {:?} does not exist (bodies: {})", site.body, body_names())));
        }
        finite3("offset", site.offset).map_err(|m| err(&ctx, m))?;
    }

    // Actuators.
    if spec.actuators.is_empty() {
        return Err(err("actuator", "at least one actuator is required (the action space would be empty)".into()));
    }
    let mut actuator_names = HashSet::new();
    for actuator in &spec.actuators {
        let ctx = format!("actuator {:?}", actuator.name());
        if !actuator_names.insert(actuator.name()) {
            return Err(err(&ctx, "defined twice".into()));
        }
        if let Some(j) = actuator.joint() {
            driven_joint(spec, &joints, j).map_err(|m| err(&ctx, m))?;
        }
        validate_actuator(actuator, &bodies, body_names).map_err(|m| err(&ctx, m))?;
    }

    // Targets.
    let mut targets: HashMap<&str, &Target> = HashMap::new();
    for target in &spec.targets {
        let ctx = format!("target {:?}", target.name);
        check_name(&target.name).map_err(|m| err(&ctx, m))?;
        if targets.insert(&target.name, target).is_some() {
            return Err(err(&ctx, "defined twice".into()));
        }
        let has_components = target.x.is_some() || target.y.is_some() || target.z.is_some();
        if target.value.is_some() && has_components {
            return Err(err(&ctx, "give either `value` (a scalar target) or `x`/`y`/`z` (a vector), not both".into()));
        }
        for (key, d) in [("value", target.value), ("x", target.x), ("y", target.y), ("z", target.z)] {
            d.map_or(Ok(()), |d| validate_dist(key, d)).map_err(|m| err(&ctx, m))?;
        }
    }

    // Reset distributions.
    for (i, r) in spec.reset.joints.iter().enumerate() {
        let ctx = format!("reset.joint[{i}]");
        driven_joint(spec, &joints, &r.joint).map_err(|m| err(&ctx, m))?;
        for (key, d) in [("position", r.position), ("velocity", r.velocity)] {
            d.map_or(Ok(()), |d| validate_dist(key, d)).map_err(|m| err(&ctx, m))?;
        }
    }
    for (i, r) in spec.reset.bodies.iter().enumerate() {
        let ctx = format!("reset.body[{i}]");
        let Some(body) = bodies.get(r.body.as_str()) else {
            return Err(err(&ctx, format!("body {:?} does not exist (bodies: {})", r.body, body_names())));
        };
        if let Some((_, joint)) = parent_of.get(r.body.as_str()) {
            return Err(err(&ctx, format!("body {:?} is placed by joint {joint:?}; randomise that joint with [[reset.joint]] instead", r.body)));
        }
        if body.fixed {
            return Err(err(&ctx, format!("body {:?} is fixed; only dynamic root bodies can be randomised", r.body)));
        }
        for (key, d) in [("position", r.position), ("rotation", r.rotation), ("linvel", r.linvel), ("angvel", r.angvel)] {
            for (axis, d) in d.iter().flatten().enumerate() {
                validate_dist(&format!("{key}[{axis}]"), *d).map_err(|m| err(&ctx, m))?;
            }
        }
    }

    // State variables.
    let mut state_names = HashSet::new();
    for (i, var) in spec.state.iter().enumerate() {
        let ctx = format!("state[{i}] {:?}", var.name);
        if !is_identifier(&var.name) {
            return Err(err(&ctx, "a state name must be a Rhai identifier (letters, digits, '_')".into()));
        }
        if RESERVED_STATE_NAMES.contains(&var.name.as_str()) {
            return Err(err(&ctx, format!("{:?} is provided by every state already (reserved: {})", var.name, RESERVED_STATE_NAMES.join(", "))));
        }
        if !state_names.insert(var.name.as_str()) {
            return Err(err(&ctx, "defined twice".into()));
        }
        match (&var.source, &var.expr) {
            (Some(source), None) => {
                let parsed = Source::parse(source).ok_or_else(|| err(&ctx, format!("unknown source {source:?}; expected one of {}", Source::FORMS)))?;
                check_source(spec, &parsed, &joints, &bodies, &sites, &targets).map_err(|m| err(&ctx, m))?;
            }
            (None, Some(_)) if var.unit.is_none() => {
                return Err(err(&ctx, "a derived variable (`expr`) must state its `unit`".into()));
            }
            (None, Some(_)) => {}
            (Some(_), Some(_)) => {
                return Err(err(&ctx, "has both `source` and `expr`; give exactly one (a vocabulary source or a derived expression)".into()));
            }
            (None, None) => {
                return Err(err(&ctx, "has neither `source` nor `expr`; give exactly one (a vocabulary source or a derived expression)".into()));
            }
        }
    }

    // Observation.
    if spec.observation.is_empty() {
        return Err(err("observation", "must name at least one state variable".into()));
    }
    for (i, name) in spec.observation.iter().enumerate() {
        if let Some(first) = spec.observation[..i].iter().position(|n| n == name) {
            return Err(err(&format!("observation[{i}]"), format!("{name:?} is already observation[{first}]; list each state variable once")));
        }
        if !state_names.contains(name.as_str()) {
            let known: Vec<&str> = spec.state.iter().map(|s| s.name.as_str()).collect();
            return Err(err(&format!("observation[{i}]"), format!("state variable {name:?} does not exist (state: {})", known.join(", "))));
        }
    }

    let mut termination_names = HashSet::new();
    for t in &spec.terminations {
        if !termination_names.insert(t.name.as_str()) {
            return Err(err(&format!("termination {:?}", t.name), "defined twice".into()));
        }
    }
    Ok(())
}

/// Most physics steps per action: each multiplies every step's work, and a typo (100 000 000)
/// must be refused, not hang a 50-step rollout. The built-in envs use 1 to 5.
pub const MAX_SUBSTEPS: u32 = 1_000;

/// Longest episode, in actions: an evaluation runs whole episodes. The built-in envs use 50 to 500.
pub const MAX_EPISODE_LENGTH: u32 = 100_000;

/// Most solver iterations per physics step (rapier's default is 4; the built-in envs use 1 or 4).
pub const MAX_SOLVER_ITERATIONS: u32 = 64;

fn validate_physics(p: &Physics) -> Result<(), String> {
    if !(p.timestep.is_finite() && p.timestep > 0.0) {
        return Err(format!("timestep must be a positive number of seconds, got {}", p.timestep));
    }
    if !(1..=MAX_SUBSTEPS).contains(&p.substeps) {
        return Err(format!("substeps must be 1 to {MAX_SUBSTEPS}, got {}", p.substeps));
    }
    if !(1..=MAX_EPISODE_LENGTH).contains(&p.episode_length) {
        return Err(format!("episode_length must be 1 to {MAX_EPISODE_LENGTH} actions, got {}", p.episode_length));
    }
    if !(1..=MAX_SOLVER_ITERATIONS).contains(&p.solver_iterations) {
        return Err(format!("solver_iterations must be 1 to {MAX_SOLVER_ITERATIONS}, got {}", p.solver_iterations));
    }
    if !p.gravity.iter().all(|g| g.is_finite()) {
        return Err("gravity must be finite".into());
    }
    Ok(())
}

fn validate_body(body: &Body) -> Result<(), String> {
    for (i, geom) in body.all_geoms().enumerate() {
        let dims: Vec<f64> = match &geom.shape {
            Shape::Box { half_extents } => half_extents.to_vec(),
            Shape::Sphere { radius } => vec![*radius],
            Shape::Capsule { radius, half_length, .. } | Shape::Cylinder { radius, half_length, .. } => {
                vec![*radius, *half_length]
            }
        };
        let (which, shape) = match i.checked_sub(usize::from(body.shape.is_some())) {
            None => (String::new(), "shape".to_owned()),
            Some(g) => (format!("geoms[{g}]."), format!("geoms[{g}] shape")),
        };
        if !dims.iter().all(|d| d.is_finite() && *d > 0.0) {
            return Err(format!("{shape} sizes must be positive lengths in m, got {dims:?}"));
        }
        finite3(&format!("{which}position"), geom.position)?;
        finite3(&format!("{which}rotation"), geom.rotation)?;
    }
    if let Some(m) = body.mass
        && !(m.is_finite() && m > 0.0)
    {
        return Err(format!("mass must be a positive number of kg, got {m}"));
    }
    match (body.mass, body.density) {
        (Some(_), Some(_)) => return Err("give `mass` or `density`, not both (one decides the other)".into()),
        (None, Some(d)) if !(d.is_finite() && d > 0.0) => {
            return Err(format!("density must be positive (kg/m³), got {d}"));
        }
        _ => {}
    }
    if let Some(inertia) = &body.inertia {
        if body.mass.is_none() {
            return Err("`inertia` needs `mass` (the shapes then carry no mass)".into());
        }
        if !inertia.principal.iter().all(|i| i.is_finite() && *i >= 0.0) {
            return Err(format!("inertia.principal must be ≥ 0 kg·m², got {:?}", inertia.principal));
        }
        finite3("inertia.center_of_mass", inertia.center_of_mass)?;
        finite3("inertia.rotation", inertia.rotation)?;
    } else if body.shape.is_none() && body.geoms.is_empty() && !body.fixed {
        return Err("a moving body needs a `shape`, `geoms` or an `inertia` (with `mass`)".into());
    }
    if !(body.friction.is_finite() && body.friction >= 0.0) {
        return Err(format!("friction must be ≥ 0, got {}", body.friction));
    }
    body.position.map_or(Ok(()), |p| finite3("position", p))?;
    body.rotation.map_or(Ok(()), |r| finite3("rotation", r))
}

fn validate_joint(joint: &Joint) -> Result<(), String> {
    let has_dof = matches!(joint.kind, JointKind::Revolute | JointKind::Prismatic);
    match (has_dof, joint.axis) {
        (true, None) => {
            return Err(format!("a {} joint needs an `axis` ([x, y, z] in the parent's frame)", kind_name(joint.kind)));
        }
        (true, Some(a)) if !nonzero(a) => return Err(format!("axis must be a non-zero vector, got {a:?}")),
        (false, Some(_)) => {
            return Err(format!("a {} joint takes no `axis` (only revolute and prismatic joints have one)", kind_name(joint.kind)));
        }
        _ => {}
    }
    if let Some([lo, hi]) = joint.limits {
        if !has_dof {
            return Err(format!("a {} joint takes no `limits` (only revolute and prismatic joints have them)", kind_name(joint.kind)));
        }
        if lo.partial_cmp(&hi) != Some(std::cmp::Ordering::Less) {
            return Err(format!("limits must be [low, high] with low < high, got [{lo}, {hi}]"));
        }
        if !(lo..=hi).contains(&joint.initial_position) {
            return Err(format!("initial_position {} is outside the limits [{lo}, {hi}]", joint.initial_position));
        }
    }
    if !has_dof && (joint.damping != 0.0 || joint.initial_position != 0.0) {
        return Err(format!("a {} joint takes no `damping` or `initial_position` (only revolute and prismatic joints have them)", kind_name(joint.kind)));
    }
    if !(joint.damping.is_finite() && joint.damping >= 0.0) {
        return Err(format!("damping must be ≥ 0, got {}", joint.damping));
    }
    finite3("anchor_parent", joint.anchor_parent)?;
    finite3("anchor_child", joint.anchor_child)?;
    finite3("child_rotation", joint.child_rotation)?;
    if !joint.initial_position.is_finite() {
        return Err(format!("initial_position must be finite, got {}", joint.initial_position));
    }
    Ok(())
}

/// The joint named `name`, which must exist and have one degree of freedom.
fn driven_joint<'a>(spec: &EnvSpec, joints: &HashMap<&str, &'a Joint>, name: &str) -> Result<&'a Joint, String> {
    let Some(joint) = joints.get(name) else {
        return Err(format!("joint {name:?} does not exist (joints: {})", names(spec.joints.iter().map(|j| &j.name))));
    };
    match joint.kind {
        JointKind::Revolute | JointKind::Prismatic => Ok(joint),
        kind => Err(format!(
            "joint {name:?} is a {} joint, which has no position to drive, randomise or read; expected a revolute or prismatic joint",
            kind_name(kind)
        )),
    }
}

/// The kind as written in the file.
fn kind_name(kind: JointKind) -> &'static str {
    match kind {
        JointKind::Revolute => "revolute",
        JointKind::Prismatic => "prismatic",
        JointKind::Fixed => "fixed",
        JointKind::Spherical => "spherical",
    }
}

fn validate_actuator(a: &Actuator, bodies: &HashMap<&str, &Body>, body_names: impl Fn() -> String) -> Result<(), String> {
    let finite = |what: &str, v: f64| {
        if v.is_finite() { Ok(()) } else { Err(format!("{what} must be finite, got {v}")) }
    };
    match a {
        Actuator::JointForce { gear, .. } => finite("gear", *gear),
        Actuator::JointVelocity { gear, damping, max_force, .. } => {
            finite("gear", *gear)?;
            positive("damping", *damping)?;
            max_force.map_or(Ok(()), |f| positive("max_force", f))
        }
        Actuator::JointPosition { gear, stiffness, damping, max_force, .. } => {
            finite("gear", *gear)?;
            positive("stiffness", *stiffness)?;
            if !(damping.is_finite() && *damping >= 0.0) {
                return Err(format!("damping must be ≥ 0, got {damping}"));
            }
            max_force.map_or(Ok(()), |f| positive("max_force", f))
        }
        Actuator::BodyThrust { body, axis, point, gear, .. } => {
            let Some(b) = bodies.get(body.as_str()) else {
                return Err(format!("body {body:?} does not exist (bodies: {})", body_names()));
            };
            if b.fixed {
                return Err(format!("body {body:?} is fixed; thrust would do nothing"));
            }
            if !nonzero(*axis) {
                return Err(format!("axis must be a non-zero vector, got {axis:?}"));
            }
            finite3("point", *point)?;
            finite("gear", *gear)
        }
    }
}

fn positive(what: &str, v: f64) -> Result<(), String> {
    if v.is_finite() && v > 0.0 { Ok(()) } else { Err(format!("{what} must be positive, got {v}")) }
}

/// Checks the distribution at key `key`.
fn validate_dist(key: &str, d: Dist) -> Result<(), String> {
    match d {
        Dist::Constant(v) if v.is_finite() => Ok(()),
        Dist::Uniform([lo, hi]) if lo.is_finite() && hi.is_finite() && lo <= hi => Ok(()),
        Dist::Normal([mean, std]) if mean.is_finite() && std.is_finite() && std >= 0.0 => Ok(()),
        Dist::Constant(v) => Err(format!("{key}: constant must be finite, got {v}")),
        Dist::Uniform([lo, hi]) => Err(format!("{key}: uniform takes finite [low, high] with low ≤ high, got [{lo}, {hi}]")),
        Dist::Normal([mean, std]) => Err(format!("{key}: normal takes finite [mean, standard deviation] with std ≥ 0, got [{mean}, {std}]")),
    }
}

fn check_source(
    spec: &EnvSpec,
    source: &Source,
    joints: &HashMap<&str, &Joint>,
    bodies: &HashMap<&str, &Body>,
    sites: &HashMap<&str, &Site>,
    targets: &HashMap<&str, &Target>,
) -> Result<(), String> {
    match source {
        Source::JointPosition(j) | Source::JointVelocity(j) => driven_joint(spec, joints, j).map(|_| ()),
        Source::BodyPosition(b) | Source::BodyLinvel(b) | Source::BodyAngvel(b) | Source::BodyQuat(b) | Source::BodyUp(b) | Source::BodyForward(b)
            if !bodies.contains_key(b.as_str()) =>
        {
            Err(format!("body {b:?} does not exist (bodies: {})", names(spec.bodies.iter().map(|b| &b.name))))
        }
        Source::SitePosition(s) | Source::SiteLinvel(s) if !sites.contains_key(s.as_str()) => {
            Err(format!("site {s:?} does not exist (sites: {})", names(spec.sites.iter().map(|s| &s.name))))
        }
        Source::Target(t) if !targets.contains_key(t.as_str()) => {
            Err(format!("target {t:?} does not exist (targets: {})", names(spec.targets.iter().map(|t| &t.name))))
        }
        _ => Ok(()),
    }
}

/// Names in file order, comma-separated, or `none` when there are none.
fn names<'a>(names: impl Iterator<Item = &'a String>) -> String {
    let list: Vec<&str> = names.map(String::as_str).collect();
    if list.is_empty() { "none".to_owned() } else { list.join(", ") }
}

/// Body, joint, site and target names appear inside vocabulary strings (`body.<name>.position`),
/// so they must be non-empty and free of `.` and whitespace.
fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name.contains('.') || name.chars().any(char::is_whitespace) {
        return Err("a name must be non-empty, without '.' or spaces (it is used in sources like `body.<name>.position`)".into());
    }
    Ok(())
}

fn finite3(what: &str, v: [f64; 3]) -> Result<(), String> {
    if v.iter().all(|c| c.is_finite()) { Ok(()) } else { Err(format!("{what} must be finite, got {v:?}")) }
}

fn nonzero(v: [f64; 3]) -> bool {
    v.iter().all(|c| c.is_finite()) && v.iter().any(|c| *c != 0.0)
}

fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_') && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}
