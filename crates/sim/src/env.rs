//! `Env`: one environment instance with Gymnasium's `reset(seed)` / `step(action)`.

use crate::SimError;
use crate::math::{derive_seed, vec3};
use crate::world::{BodyState, Layout, World, place_bodies, root_pose};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rapier3d::prelude::{Rotation, Vector};
use rewardsmith_script::{Expr, Quat, RewardScript, RewardTerms, Sandbox, SandboxLimits, State, StateData, StateLayout, Value, Vec3};
use rewardsmith_spec::{Dist, EnvSpec, LoadedSpec, Source, ValueType};
use std::sync::Arc;

/// A state source resolved to indices into the world.
#[derive(Debug, Clone)]
enum Resolved {
    JointPosition(usize),
    JointVelocity(usize),
    BodyPosition(usize),
    BodyLinvel(usize),
    BodyAngvel(usize),
    BodyQuat(usize),
    BodyUp(usize),
    BodyForward(usize),
    SitePosition(usize, Vector),
    SiteLinvel(usize, Vector),
    Target(usize),
    Action,
    Time,
}

/// How a state variable gets its value.
#[derive(Debug, Clone)]
enum VarKind {
    Source(Resolved),
    Derived(Expr),
}

/// Everything about an environment that its instances share: the validated spec, the compiled
/// expressions, the script engine and the state layout. Build it once, then make instances.
#[derive(Debug, Clone)]
pub struct EnvModel {
    spec: EnvSpec,
    path: String,
    hash: String,
    layout: Layout,
    sandbox: Sandbox,
    vars: Vec<VarKind>,
    types: Vec<ValueType>,
    observation: Vec<usize>,
    obs_dim: usize,
    terminations: Vec<Expr>,
    fitness: Expr,
    /// The state after `reset(0)`: the types the expressions and reward scripts are evaluated
    /// directly for ([`Expr::specialize`], [`RewardScript::specialize`]).
    sample: State,
}

impl EnvModel {
    /// Compiles a loaded spec; the expressions' types are probed on the state after `reset(0)`.
    pub fn new(loaded: &LoadedSpec) -> Result<Arc<Self>, SimError> {
        Self::with_limits(loaded, &SandboxLimits::default())
    }

    /// As [`EnvModel::new`] with explicit sandbox limits for reward scripts.
    pub fn with_limits(loaded: &LoadedSpec, limits: &SandboxLimits) -> Result<Arc<Self>, SimError> {
        let spec = loaded.spec.clone();
        let file = loaded.path.as_str();
        let layout = Layout::new(&spec);
        let names = spec.state.iter().map(|v| v.name.clone()).collect();
        let sandbox = Sandbox::new(StateLayout { names }, limits);
        let index_of = |list: Vec<&str>, name: &str| list.iter().position(|n| *n == name).expect("validated");
        let bodies: Vec<&str> = spec.bodies.iter().map(|b| b.name.as_str()).collect();
        let joints: Vec<&str> = spec.joints.iter().map(|j| j.name.as_str()).collect();
        let mut vars = Vec::with_capacity(spec.state.len());
        for (i, var) in spec.state.iter().enumerate() {
            let kind = if let Some(source) = &var.source {
                let body = |b: &str| index_of(bodies.clone(), b);
                let site = |s: &str| {
                    let site = spec.sites.iter().find(|x| x.name == s).expect("validated");
                    (body(&site.body), vec3(site.offset))
                };
                VarKind::Source(match Source::parse(source).expect("validated") {
                    Source::JointPosition(j) => Resolved::JointPosition(index_of(joints.clone(), &j)),
                    Source::JointVelocity(j) => Resolved::JointVelocity(index_of(joints.clone(), &j)),
                    Source::BodyPosition(b) => Resolved::BodyPosition(body(&b)),
                    Source::BodyLinvel(b) => Resolved::BodyLinvel(body(&b)),
                    Source::BodyAngvel(b) => Resolved::BodyAngvel(body(&b)),
                    Source::BodyQuat(b) => Resolved::BodyQuat(body(&b)),
                    Source::BodyUp(b) => Resolved::BodyUp(body(&b)),
                    Source::BodyForward(b) => Resolved::BodyForward(body(&b)),
                    Source::SitePosition(s) => {
                        let (b, o) = site(&s);
                        Resolved::SitePosition(b, o)
                    }
                    Source::SiteLinvel(s) => {
                        let (b, o) = site(&s);
                        Resolved::SiteLinvel(b, o)
                    }
                    Source::Target(t) => Resolved::Target(spec.targets.iter().position(|x| x.name == t).expect("validated")),
                    Source::Action => Resolved::Action,
                    Source::Time => Resolved::Time,
                })
            } else {
                let expr = var.expr.as_deref().expect("validated: source or expr");
                // Line and column of expression errors count inside the `expr` string.
                let name = format!("{file}: state[{i}] {:?} expr", var.name);
                check_earlier_only(&spec, i, expr).map_err(|m| SimError::Env(format!("{name}: {m}")))?;
                VarKind::Derived(Expr::compile(&sandbox, &name, expr)?)
            };
            vars.push(kind);
        }
        let terminations = spec
            .terminations
            .iter()
            .map(|t| Expr::compile(&sandbox, &format!("{file}: termination {:?} expr", t.name), &t.expr))
            .collect::<Result<Vec<_>, _>>()?;
        let fitness = Expr::compile(&sandbox, &format!("{file}: fitness expr"), &spec.fitness.expr)?;
        let observation = spec.observation.iter().map(|n| spec.state.iter().position(|v| &v.name == n).expect("validated")).collect();

        let mut model = Self {
            spec,
            path: loaded.path.clone(),
            hash: loaded.hash.clone(),
            layout,
            sandbox,
            vars,
            types: Vec::new(),
            observation,
            obs_dim: 0,
            terminations,
            fitness,
            sample: State::default(),
        };
        // Probe: one reset gives every variable's type, then the expressions are checked once.
        let probe = Env::new(Arc::new(model.clone()), None).and_then(|mut env| {
            env.reset(0)?;
            for t in &model.terminations {
                t.eval_bool(&env.state)?;
            }
            model.fitness.eval_number(&env.state)?;
            Ok(env.state.data().values.clone())
        })?;
        model.types = probe.iter().map(value_type).collect();
        model.obs_dim = model.observation.iter().map(|&i| model.types[i].width()).sum();
        // The state after a reset types the variables for the expressions' direct evaluation.
        model.sample = State::new(StateData { values: probe, ..StateData::default() });
        let sample = model.sample.clone();
        let derived = model.vars.iter_mut().filter_map(|v| match v {
            VarKind::Derived(e) => Some(e),
            VarKind::Source(_) => None,
        });
        for expr in derived.chain(&mut model.terminations).chain(std::iter::once(&mut model.fitness)) {
            expr.specialize(&sample);
        }
        Ok(Arc::new(model))
    }

    /// The same model compiled again on an engine of its own ([`Sandbox::isolated`]), for an
    /// instance on a worker thread: copies share no reference-counted Rhai data, which the
    /// engine would otherwise touch from every core on every step.
    pub fn isolated(&self) -> Result<Arc<Self>, SimError> {
        let loaded = LoadedSpec { spec: self.spec.clone(), hash: self.hash.clone(), path: self.path.clone() };
        Self::with_limits(&loaded, self.sandbox.limits())
    }

    /// The validated spec.
    pub fn spec(&self) -> &EnvSpec {
        &self.spec
    }
    /// Where the spec was read from (a path, or `environments/<id>.toml` for built-ins).
    pub fn path(&self) -> &str {
        &self.path
    }
    /// Hex SHA-256 of the env file.
    pub fn hash(&self) -> &str {
        &self.hash
    }
    /// The engine reward scripts for this environment must be compiled with.
    pub fn sandbox(&self) -> &Sandbox {
        &self.sandbox
    }
    /// Type of each state variable, in spec order.
    pub fn state_types(&self) -> &[ValueType] {
        &self.types
    }
    /// Length of the observation vector.
    pub fn obs_dim(&self) -> usize {
        self.obs_dim
    }
    /// Length of the action vector.
    pub fn action_dim(&self) -> usize {
        self.spec.action_dim()
    }
    /// One name per observation component, in the order the observation concatenates them: a
    /// scalar's name, `goal.x`/`.y`/`.z` for a vector, `q.w`/`.x`/`.y`/`.z` for a quaternion (w
    /// first, as `Value::extend_into` writes it), `name[i]` for an array.
    pub fn observation_names(&self) -> Vec<String> {
        let mut names = Vec::with_capacity(self.obs_dim);
        for name in &self.spec.observation {
            let index = self.spec.state.iter().position(|v| &v.name == name).expect("validated: observed variables exist");
            match self.types[index] {
                ValueType::Float => names.push(name.clone()),
                ValueType::Vec3 => names.extend(["x", "y", "z"].map(|c| format!("{name}.{c}"))),
                ValueType::Quat => names.extend(["w", "x", "y", "z"].map(|c| format!("{name}.{c}"))),
                ValueType::Array(n) => names.extend((0..n).map(|i| format!("{name}[{i}]"))),
            }
        }
        debug_assert_eq!(names.len(), self.obs_dim);
        names
    }
    /// One name per action component: the actuators' names.
    pub fn action_names(&self) -> Vec<String> {
        self.spec.actuators.iter().map(|a| a.name().to_owned()).collect()
    }
    /// Compiles a reward script for this environment.
    pub fn compile_reward(&self, name: &str, source: &str) -> Result<RewardScript, SimError> {
        let mut script = RewardScript::compile(&self.sandbox, name, source)?;
        script.specialize(&self.sample);
        Ok(script)
    }

    /// The critic's verdict ([`rewardsmith_script::judge`]) on a script's source over `states`,
    /// for a training of `training_steps` steps in this env; a script that does not compile is
    /// refused with its located error.
    pub fn judge_reward(&self, name: &str, source: &str, states: &[rewardsmith_script::State], training_steps: u64) -> rewardsmith_script::Verdict {
        match self.compile_reward(name, source) {
            Ok(script) => rewardsmith_script::judge(&script, states, training_steps, self.spec.terminates()),
            Err(e) => rewardsmith_script::Verdict::refused("critic", e.to_string()),
        }
    }
}

/// A derived expression may read only earlier variables (later ones are not computed yet).
fn check_earlier_only(spec: &EnvSpec, index: usize, expr: &str) -> Result<(), String> {
    let bytes = expr.as_bytes();
    let mut i = 0;
    while let Some(found) = expr[i..].find("s.") {
        let start = i + found;
        let boundary = start == 0 || !(bytes[start - 1].is_ascii_alphanumeric() || bytes[start - 1] == b'_');
        let name: String = expr[start + 2..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
        i = start + 2 + name.len();
        if !boundary || rewardsmith_spec::RESERVED_STATE_NAMES.contains(&name.as_str()) {
            continue;
        }
        match spec.state.iter().position(|v| v.name == name) {
            Some(j) if j < index => {}
            Some(j) if j == index => return Err(format!("uses s.{name}, itself")),
            Some(_) => return Err(format!("uses s.{name}, which is defined later; move it above")),
            None => return Err(format!("uses s.{name}, which is not a state variable")),
        }
    }
    Ok(())
}

fn value_type(v: &Value) -> ValueType {
    match v {
        Value::Float(_) => ValueType::Float,
        Value::Vec3(_) => ValueType::Vec3,
        Value::Quat(_) => ValueType::Quat,
        Value::Array(a) => ValueType::Array(a.len()),
    }
}

/// What one step produced. Observation and terms are borrowed from the env (no allocation).
#[derive(Debug, Clone, Copy)]
pub struct Step<'a> {
    /// Observation after the step.
    pub obs: &'a [f32],
    /// The reward terms (empty without a reward script).
    pub terms: &'a RewardTerms,
    /// The reward: the sum of the terms (0 without a reward script).
    pub reward: f64,
    /// This step's ground-truth fitness value (aggregated over the episode by the spec's rule).
    pub fitness: f64,
    /// The episode ended by a termination condition.
    pub terminated: bool,
    /// The episode reached its length without terminating.
    pub truncated: bool,
    /// Index into the spec's terminations of the condition that ended the episode.
    pub termination: Option<usize>,
}

/// One instance of an environment.
pub struct Env {
    model: Arc<EnvModel>,
    reward: Option<RewardScript>,
    world: World,
    state: State,
    terms: RewardTerms,
    obs: Vec<f32>,
    action: Vec<f32>,
    targets: Vec<Value>,
    /// Per body (linear, angular) velocity of the current state, world frame.
    velocities: Vec<(Vector, Vector)>,
    steps: u32,
    needs_reset: bool,
}

impl std::fmt::Debug for Env {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Env").field("id", &self.model.spec.id).field("steps", &self.steps).finish_non_exhaustive()
    }
}

impl Env {
    /// A new instance; call [`Env::reset`] before the first step (until then the observation is
    /// empty and `step` returns [`SimError::NeedsReset`]). `reward` must have been compiled with
    /// this model's sandbox ([`EnvModel::compile_reward`], which also prepares its direct evaluation).
    pub fn new(model: Arc<EnvModel>, reward: Option<RewardScript>) -> Result<Self, SimError> {
        let spec = &model.spec;
        let rest = vec![BodyState::rest(); spec.bodies.len()];
        let zeros = vec![0.0; model.layout.joints.len()];
        let world = World::build(spec, &model.layout, &rest, &zeros, &zeros);
        let data = StateData { values: Vec::with_capacity(spec.state.len()), action: vec![0.0; spec.action_dim()], dt: spec.control_dt(), step: 0, time: 0.0 };
        Ok(Self {
            action: vec![0.0; spec.action_dim()],
            obs: Vec::with_capacity(model.obs_dim),
            targets: Vec::new(),
            velocities: Vec::new(),
            state: State::new(data),
            terms: RewardTerms::default(),
            world,
            reward,
            model,
            steps: 0,
            needs_reset: true,
        })
    }

    /// The shared model.
    pub fn model(&self) -> &Arc<EnvModel> {
        &self.model
    }

    /// Starts an episode from `seed`: targets, joint and body noise are drawn from it, the world
    /// is rebuilt (so no solver state leaks from the previous episode) and the observation
    /// returned. The same seed always gives the same episode.
    pub fn reset(&mut self, seed: u64) -> Result<&[f32], SimError> {
        let spec = &self.model.spec;
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        self.targets = spec
            .targets
            .iter()
            .map(|t| match t.value {
                Some(d) => Value::Float(draw(&mut rng, d)),
                None => {
                    let c = |d: Option<Dist>, rng: &mut ChaCha8Rng| d.map_or(0.0, |d| draw(rng, d));
                    let x = c(t.x, &mut rng);
                    let y = c(t.y, &mut rng);
                    let z = c(t.z, &mut rng);
                    Value::Vec3(Vec3::new(x, y, z))
                }
            })
            .collect();
        let layout = &self.model.layout;
        let mut q: Vec<f32> = layout.joints.iter().map(|j| j.initial_position).collect();
        let mut qd = vec![0.0f32; layout.joints.len()];
        for r in &spec.reset.joints {
            let j = spec.joints.iter().position(|x| x.name == r.joint).expect("validated");
            if let Some(d) = r.position {
                q[j] += draw(&mut rng, d) as f32;
            }
            if let Some(d) = r.velocity {
                qd[j] = draw(&mut rng, d) as f32;
            }
        }
        let mut roots: Vec<BodyState> = spec.bodies.iter().map(|b| BodyState { pose: root_pose(b.position, b.rotation), ..BodyState::rest() }).collect();
        for r in &spec.reset.bodies {
            let b = spec.bodies.iter().position(|x| x.name == r.body).expect("validated");
            let mut draw3 =
                |d: Option<[Dist; 3]>| d.map(|d| Vector::new(draw(&mut rng, d[0]) as f32, draw(&mut rng, d[1]) as f32, draw(&mut rng, d[2]) as f32));
            let (dp, dr, lv, av) = (draw3(r.position), draw3(r.rotation), draw3(r.linvel), draw3(r.angvel));
            let root = &mut roots[b];
            if let Some(dp) = dp {
                root.pose.translation += dp;
            }
            if let Some(dr) = dr {
                root.pose.rotation = Rotation::from_scaled_axis(dr) * root.pose.rotation;
            }
            root.linvel = lv.unwrap_or(Vector::ZERO);
            root.angvel = av.unwrap_or(Vector::ZERO);
        }
        let states = place_bodies(layout, &roots, &q, &qd);
        self.world = World::build(spec, layout, &states, &q, &qd);
        self.action.iter_mut().for_each(|a| *a = 0.0);
        self.steps = 0;
        self.needs_reset = false;
        self.refresh_state()?;
        Ok(&self.obs)
    }

    /// Applies `action` (clipped to [-1, 1]; NaN counts as 0) for one control period.
    pub fn step(&mut self, action: &[f32]) -> Result<Step<'_>, SimError> {
        if action.len() != self.action.len() {
            return Err(SimError::Action { expected: self.action.len(), got: action.len() });
        }
        if self.needs_reset {
            return Err(SimError::NeedsReset);
        }
        self.advance_physics(action);
        self.steps += 1;
        self.refresh_state()?;

        let reward = match &self.reward {
            Some(script) => {
                script.call(&self.state, &mut self.terms)?;
                self.terms.total()
            }
            None => 0.0,
        };
        // Borrowed, not cloned: instances on other threads share this model, and a reference
        // count touched every step would bounce its cache line between the cores.
        let model = &*self.model;
        let fitness = model.fitness.eval_number(&self.state)?;
        let mut termination = None;
        for (i, t) in model.terminations.iter().enumerate() {
            if t.eval_bool(&self.state)? {
                termination = Some(i);
                break;
            }
        }
        let terminated = termination.is_some();
        let truncated = !terminated && self.steps >= model.spec.physics.episode_length;
        self.needs_reset = terminated || truncated;
        Ok(Step { obs: &self.obs, terms: &self.terms, reward, fitness, terminated, truncated, termination })
    }

    /// The physics of one control period: the clipped action through the actuators, `substeps`
    /// physics steps. No state, observation, reward or termination.
    pub(crate) fn advance_physics(&mut self, action: &[f32]) {
        for (dst, &a) in self.action.iter_mut().zip(action) {
            *dst = if a.is_nan() { 0.0 } else { a.clamp(-1.0, 1.0) };
        }
        let model = &*self.model;
        for _ in 0..model.spec.physics.substeps {
            self.world.apply_actuators(&model.spec, &model.layout, &self.action);
            self.world.physics.step();
        }
    }

    /// The current observation.
    pub fn obs(&self) -> &[f32] {
        &self.obs
    }

    /// The current state, as scripts see it.
    pub fn state(&self) -> &State {
        &self.state
    }

    /// The episode's targets, drawn at reset, in the spec's `[[target]]` order (what the viewer
    /// marks).
    pub fn targets(&self) -> &[Value] {
        &self.targets
    }

    /// Actions taken since the last reset.
    pub fn steps(&self) -> u32 {
        self.steps
    }

    /// World pose of every body, in spec order: position (m) and quaternion (x, y, z, w).
    pub fn body_poses(&self) -> impl Iterator<Item = ([f32; 3], [f32; 4])> + '_ {
        (0..self.world.bodies.len()).map(|i| {
            let p = self.world.body(i).position();
            let (t, r) = (p.translation, p.rotation);
            ([t.x, t.y, t.z], [r.x, r.y, r.z, r.w])
        })
    }

    /// Reads every state variable, evaluates derived ones, and rebuilds the observation.
    fn refresh_state(&mut self) -> Result<(), SimError> {
        let model = &self.model;
        let steps = self.steps;
        let dt = model.spec.control_dt();
        self.world.body_velocities(&model.layout, &mut self.velocities);
        {
            let data = self.state.data_mut();
            data.values.clear();
            data.step = i64::from(steps);
            data.time = f64::from(steps) * dt;
            data.action.clear();
            data.action.extend(self.action.iter().map(|a| f64::from(*a)));
        }
        for (i, var) in model.vars.iter().enumerate() {
            let value = match var {
                VarKind::Source(source) => self.read(source),
                VarKind::Derived(expr) if let Some(value) = expr.eval_value(&self.state) => value,
                VarKind::Derived(expr) => {
                    let d = expr.eval(&self.state)?;
                    let value = Value::from_dynamic(&d)
                        .ok_or_else(|| SimError::Env(format!("{}: must give a number, vec3 or quat, got {}", expr.name(), d.type_name())))?;
                    // The type probed at load fixes the observation's width; it may not change.
                    if let Some(&probed) = model.types.get(i)
                        && value_type(&value) != probed
                    {
                        return Err(SimError::Env(format!(
                            "{}: gave a {} at step {steps}, but a {probed} at reset; a derived variable keeps one type",
                            expr.name(),
                            value_type(&value)
                        )));
                    }
                    value
                }
            };
            self.state.data_mut().values.push(value);
        }
        self.obs.clear();
        let values = &self.state.data().values;
        for &i in &model.observation {
            values[i].extend_into(&mut self.obs);
        }
        if let Some(bad) = self.obs.iter().position(|x| !x.is_finite()) {
            return Err(SimError::Diverged { step: steps, what: format!("observation[{bad}] = {}", self.obs[bad]) });
        }
        Ok(())
    }

    fn read(&self, source: &Resolved) -> Value {
        let w = &self.world;
        let v = |v: Vector| Value::Vec3(Vec3::new(f64::from(v.x), f64::from(v.y), f64::from(v.z)));
        let joint = |j: usize| &self.model.layout.joints[j];
        match *source {
            Resolved::JointPosition(j) => Value::Float(f64::from(w.joint_position(joint(j)))),
            Resolved::JointVelocity(j) => Value::Float(f64::from(w.joint_velocity(j, joint(j)))),
            Resolved::BodyPosition(b) => v(w.body(b).translation()),
            Resolved::BodyLinvel(b) => v(self.velocities[b].0),
            Resolved::BodyAngvel(b) => v(self.velocities[b].1),
            Resolved::BodyQuat(b) => {
                let r = w.body(b).rotation();
                Value::Quat(Quat { w: f64::from(r.w), x: f64::from(r.x), y: f64::from(r.y), z: f64::from(r.z) })
            }
            Resolved::BodyUp(b) => v(*w.body(b).rotation() * Vector::Z),
            Resolved::BodyForward(b) => v(*w.body(b).rotation() * Vector::X),
            Resolved::SitePosition(b, offset) => v(w.body(b).position().transform_point(offset)),
            Resolved::SiteLinvel(b, offset) => {
                let pose = w.body(b).position();
                let (linvel, angvel) = self.velocities[b];
                v(linvel + angvel.cross(pose.rotation * offset))
            }
            Resolved::Target(t) => self.targets[t].clone(),
            Resolved::Action => Value::Array(self.action.iter().map(|a| f64::from(*a)).collect()),
            Resolved::Time => Value::Float(f64::from(self.steps) * self.model.spec.control_dt()),
        }
    }
}

/// Draws from a distribution. Normal draws use the Box–Muller transform on two uniforms from
/// the seeded stream, with libm's functions, so the result is the same on every machine.
fn draw(rng: &mut ChaCha8Rng, d: Dist) -> f64 {
    match d {
        Dist::Constant(v) => v,
        Dist::Uniform([lo, hi]) => lo + (hi - lo) * rng.random::<f64>(),
        Dist::Normal([mean, std]) => {
            let u1: f64 = 1.0 - rng.random::<f64>(); // (0, 1], so ln is finite
            let u2: f64 = rng.random();
            mean + std * libm::sqrt(-2.0 * libm::log(u1)) * libm::cos(2.0 * std::f64::consts::PI * u2)
        }
    }
}

/// The reset seed of episode `episode` of a run seeded with `seed`.
pub fn episode_seed(seed: u64, episode: u64) -> u64 {
    derive_seed(seed, episode)
}

// `VecEnv` moves instances across worker threads.
const _: fn() = || {
    fn is_send<T: Send>() {}
    is_send::<Env>();
};

impl Env {
    /// Names of the reward terms, once the reward script has run.
    pub fn terms_names(&self) -> Option<&[String]> {
        (!self.terms.names.is_empty()).then_some(self.terms.names.as_slice())
    }

    /// The reward script this instance runs, if any.
    pub fn reward_script(&self) -> Option<&RewardScript> {
        self.reward.as_ref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rewardsmith_spec::parse;

    /// A cart on a frictionless rail in zero gravity, three actuators, a random target and reset
    /// noise; `extra` is appended (terminations, more state).
    fn slide_text(episode_length: u32, extra: &str) -> String {
        format!(
            r#"
id = "slide"
version = 1
description = "test"
task = "test"
observation = ["x", "v", "goal", "act"]
[fitness]
expr = "s.x"
aggregate = "sum"
doc = "none"
[physics]
timestep = 0.01
episode_length = {episode_length}
gravity = [0.0, 0.0, 0.0]
[[body]]
name = "cart"
shape = {{ type = "box", half_extents = [0.1, 0.1, 0.1] }}
mass = 1.0
collide = false
[[joint]]
name = "rail"
kind = "prismatic"
parent = "world"
child = "cart"
axis = [1.0, 0.0, 0.0]
[[actuator]]
name = "push"
kind = "joint_force"
joint = "rail"
gear = 1.0
[[actuator]]
name = "push2"
kind = "joint_force"
joint = "rail"
gear = 0.5
[[actuator]]
name = "push3"
kind = "joint_force"
joint = "rail"
gear = 0.25
[[target]]
name = "goal"
value = {{ uniform = [-1.0, 1.0] }}
[[reset.joint]]
joint = "rail"
position = {{ uniform = [-0.1, 0.1] }}
velocity = {{ uniform = [-0.1, 0.1] }}
[[state]]
name = "x"
source = "joint.rail.position"
doc = "position"
[[state]]
name = "v"
source = "joint.rail.velocity"
doc = "velocity"
[[state]]
name = "goal"
source = "target.goal"
doc = "goal"
[[state]]
name = "act"
source = "action"
doc = "action"
[[state]]
name = "gap"
expr = "s.goal - s.x"
unit = "m"
doc = "distance to the goal"
{extra}
"#
        )
    }

    fn loaded(text: &str) -> LoadedSpec {
        LoadedSpec::from_text("slide.toml", text).unwrap()
    }

    fn slide(episode_length: u32, extra: &str) -> Arc<EnvModel> {
        EnvModel::new(&loaded(&slide_text(episode_length, extra))).unwrap()
    }

    fn bits(obs: &[f32]) -> Vec<u32> {
        obs.iter().map(|x| x.to_bits()).collect()
    }

    fn float(env: &Env, name: &str) -> f64 {
        let i = env.model().spec().state.iter().position(|v| v.name == name).unwrap();
        match &env.state().data().values[i] {
            Value::Float(x) => *x,
            other => panic!("{name} is {other:?}"),
        }
    }

    #[test]
    fn every_built_in_expression_is_evaluated_directly() {
        for id in rewardsmith_spec::catalog::ids() {
            let model = EnvModel::new(&rewardsmith_spec::catalog::resolve(id).unwrap()).unwrap();
            let derived = model.vars.iter().filter_map(|v| match v {
                VarKind::Derived(e) => Some(e),
                VarKind::Source(_) => None,
            });
            let left: Vec<&str> = derived.chain(&model.terminations).chain([&model.fitness]).filter(|e| !e.is_specialized()).map(|e| e.name()).collect();
            assert!(left.is_empty(), "{id}: left to Rhai: {left:?}");
        }
    }

    #[test]
    fn built_in_human_rewards_without_loops_are_evaluated_directly() {
        for id in rewardsmith_spec::catalog::ids() {
            let model = EnvModel::new(&rewardsmith_spec::catalog::resolve(id).unwrap()).unwrap();
            let (name, source) = rewardsmith_spec::catalog::reward_script(id, "human.rhai").unwrap();
            let env = Env::new(model.clone(), Some(model.compile_reward(name, source).unwrap())).unwrap();
            let direct = env.reward.as_ref().unwrap().is_specialized();
            // ant sums the action in a loop.
            assert_eq!(direct, id != "ant", "{id}");
        }
    }

    #[test]
    fn check_earlier_only_accepts_earlier_and_reserved_names() {
        let spec = parse("slide.toml", &slide_text(10, "")).unwrap();
        // State order: x, v, goal, act, gap.
        assert_eq!(check_earlier_only(&spec, 4, "s.goal - s.x"), Ok(()));
        assert_eq!(check_earlier_only(&spec, 4, "(s.x * s.v).abs() + s.act[0] + s.goal.max(s.v)"), Ok(()));
        assert_eq!(check_earlier_only(&spec, 0, "s.action[0] + s.dt * s.step + s.time"), Ok(()));
        assert_eq!(check_earlier_only(&spec, 0, "1.0 + 2.0"), Ok(()));
    }

    #[test]
    fn check_earlier_only_rejects_later_and_unknown_names() {
        let spec = parse("slide.toml", &slide_text(10, "")).unwrap();
        let later = check_earlier_only(&spec, 1, "s.x + s.goal").unwrap_err();
        assert!(later.contains("s.goal") && later.contains("later"), "{later}");
        // After an operator or a bracket, `s.` still starts a reference.
        let later = check_earlier_only(&spec, 2, "s.x*(s.gap)").unwrap_err();
        assert!(later.contains("s.gap") && later.contains("later"), "{later}");
        // A variable cannot read itself (it is not computed yet either).
        let itself = check_earlier_only(&spec, 0, "s.x + 1.0").unwrap_err();
        assert!(itself.contains("s.x"), "{itself}");
        let unknown = check_earlier_only(&spec, 4, "s.x + s.nope").unwrap_err();
        assert!(unknown.contains("s.nope") && unknown.contains("not a state variable"), "{unknown}");
    }

    #[test]
    fn check_earlier_only_ignores_identifiers_that_merely_end_in_s() {
        let spec = parse("slide.toml", &slide_text(10, "")).unwrap();
        // None of these is `s.<name>`: `pos.x` is not `s.x`, `bias.gap` is not `s.gap`.
        for expr in ["pos.x + bias.y", "bias.gap", "this.nope * xs.gap", "my_s.gap + S1s.goal", "sss.gap"] {
            assert_eq!(check_earlier_only(&spec, 0, expr), Ok(()), "{expr}");
        }
        // A real reference after such an identifier is still found.
        let err = check_earlier_only(&spec, 0, "pos.x + s.gap").unwrap_err();
        assert!(err.contains("s.gap"), "{err}");
    }

    #[test]
    fn episode_fitness_aggregates_as_the_env_file_says() {
        use rewardsmith_spec::Aggregate;
        let mut f = EpisodeFitness::default();
        for v in [1.0, 3.0, -2.0] {
            f.push(v);
        }
        assert_eq!(f.steps(), 3);
        assert_eq!([Aggregate::Sum, Aggregate::Mean, Aggregate::Final, Aggregate::Max].map(|a| f.value(a)), [2.0, 2.0 / 3.0, -2.0, 3.0]);
        let mut negative = EpisodeFitness::default();
        negative.push(-5.0);
        assert_eq!(negative.value(Aggregate::Max), -5.0, "the max of negative values is not 0");
    }

    /// Guards the observation's width: it is fixed by the types probed at load.
    #[test]
    fn a_derived_variable_that_changes_type_is_an_error() {
        let extra = r#"
[[state]]
name = "shifty"
expr = "if s.step > 0 { vec3(0, 0, 0) } else { 1.0 }"
unit = "m"
doc = "a number at reset, a vector after"
"#;
        let mut env = Env::new(slide(10, extra), None).unwrap();
        env.reset(0).unwrap();
        let err = env.step(&[0.0, 0.0, 0.0]).unwrap_err().to_string();
        assert!(err.contains("state[5] \"shifty\" expr: gave a vec3 at step 1, but a float at reset"), "{err}");
    }

    #[test]
    fn env_model_rejects_a_derived_variable_that_reads_a_later_one() {
        let extra = r#"
[[state]]
name = "early"
expr = "s.late * 2.0"
unit = "m"
doc = "reads a later variable"
[[state]]
name = "late"
expr = "s.x"
unit = "m"
doc = "defined after early"
"#;
        let err = EnvModel::new(&loaded(&slide_text(10, extra))).unwrap_err();
        let message = err.to_string();
        assert!(matches!(err, SimError::Env(_)), "{err:?}");
        assert!(message.contains("\"early\"") && message.contains("s.late") && message.contains("later"), "{message}");
        assert!(message.contains("slide.toml"), "names the file: {message}");
    }

    #[test]
    fn reset_with_the_same_seed_gives_identical_obs() {
        let model = slide(10, "");
        let mut a = Env::new(model.clone(), None).unwrap();
        let mut b = Env::new(model, None).unwrap();
        let first = bits(a.reset(17).unwrap());
        assert_eq!(first.len(), 6, "x, v, goal and 3 actions");
        assert_eq!(bits(b.reset(17).unwrap()), first, "two instances, same seed");
        a.step(&[1.0, -0.5, 0.2]).unwrap();
        assert_eq!(bits(a.reset(17).unwrap()), first, "the same instance after stepping");
        assert_ne!(bits(a.reset(18).unwrap()), first, "another seed draws another start");
    }

    #[test]
    fn step_before_reset_needs_reset() {
        let mut env = Env::new(slide(10, ""), None).unwrap();
        assert!(matches!(env.step(&[0.0; 3]), Err(SimError::NeedsReset)));
        env.reset(0).unwrap();
        assert!(env.step(&[0.0; 3]).is_ok());
    }

    #[test]
    fn wrong_action_length_is_an_action_error() {
        let mut env = Env::new(slide(10, ""), None).unwrap();
        env.reset(0).unwrap();
        for len in [0, 2, 4] {
            match env.step(&vec![0.0; len]) {
                Err(SimError::Action { expected: 3, got }) => assert_eq!(got, len),
                other => panic!("length {len}: {other:?}"),
            }
        }
        assert_eq!(env.steps(), 0, "a rejected action does not advance the episode");
    }

    #[test]
    fn nan_actions_count_as_zero_and_out_of_range_actions_are_clipped() {
        let model = slide(10, "");
        let mut env = Env::new(model.clone(), None).unwrap();
        let mut reference = Env::new(model, None).unwrap();
        env.reset(3).unwrap();
        reference.reset(3).unwrap();
        for (given, applied) in [
            ([f32::NAN, 5.0, f32::NEG_INFINITY], [0.0, 1.0, -1.0]),
            ([-1.5, f32::INFINITY, 0.25], [-1.0, 1.0, 0.25]),
            ([0.5, -f32::NAN, -0.75], [0.5, 0.0, -0.75]),
        ] {
            let obs = bits(env.step(&given).unwrap().obs);
            let expected: Vec<f64> = applied.iter().map(|a| f64::from(*a)).collect();
            assert_eq!(env.state().data().action, expected, "s.action for {given:?}");
            assert_eq!(env.state().data().values[3], Value::Array(expected.clone()), "the `act` state variable");
            // The physics sees the same thing as a clean action.
            assert_eq!(obs, bits(reference.step(&applied).unwrap().obs), "{given:?} acts like {applied:?}");
        }
        env.reset(3).unwrap();
        assert_eq!(env.state().data().action, vec![0.0; 3], "reset clears the action");
    }

    #[test]
    fn termination_ends_the_episode_with_the_first_matching_condition() {
        let extra = r#"
[[termination]]
name = "never"
expr = "s.time < 0.0"
[[termination]]
name = "third_step"
expr = "s.step >= 3"
[[termination]]
name = "also_third_step"
expr = "s.step >= 3"
"#;
        // episode_length 3 as well: terminating on the last step is terminated, not truncated.
        let mut env = Env::new(slide(3, extra), None).unwrap();
        env.reset(1).unwrap();
        for t in 1..=3u32 {
            let step = env.step(&[0.1, 0.0, 0.0]).unwrap();
            let (terminated, truncated, termination) = (step.terminated, step.truncated, step.termination);
            if t < 3 {
                assert!(!terminated && !truncated && termination.is_none(), "step {t}");
            } else {
                assert!(terminated && !truncated, "step {t}: terminated {terminated}, truncated {truncated}");
                assert_eq!(termination, Some(1), "the first condition that holds");
            }
            assert_eq!(env.state().data().step, i64::from(t));
        }
        assert!(matches!(env.step(&[0.0; 3]), Err(SimError::NeedsReset)));
        env.reset(1).unwrap();
        assert_eq!(env.steps(), 0);
        assert!(env.step(&[0.0; 3]).is_ok(), "reset makes the env steppable again");
    }

    #[test]
    fn episode_truncates_at_episode_length() {
        let mut env = Env::new(slide(4, ""), None).unwrap();
        env.reset(2).unwrap();
        let dt = env.model().spec().control_dt();
        for t in 1..=4u32 {
            let step = env.step(&[0.3, 0.3, 0.3]).unwrap();
            let (terminated, truncated, termination) = (step.terminated, step.truncated, step.termination);
            assert!(!terminated && termination.is_none(), "step {t}");
            assert_eq!(truncated, t == 4, "step {t}");
            assert_eq!(env.state().data().time, f64::from(t) * dt);
        }
        assert!(matches!(env.step(&[0.0; 3]), Err(SimError::NeedsReset)));
    }

    #[test]
    fn step_reports_the_script_reward_and_the_fitness_expression() {
        let model = slide(10, "");
        let script = model.compile_reward("r.rhai", "fn compute_reward(s) { #{ pos: s.x, bonus: 0.5 } }").unwrap();
        let mut env = Env::new(model, Some(script)).unwrap();
        assert_eq!(env.terms_names(), None, "no names before the script ran");
        env.reset(4).unwrap();
        let (reward, fitness, total, values) = {
            let step = env.step(&[1.0, 1.0, 1.0]).unwrap();
            (step.reward, step.fitness, step.terms.total(), step.terms.values.clone())
        };
        let x = float(&env, "x");
        assert_eq!(fitness, x, "fitness is `s.x`");
        assert_eq!(reward, total);
        let mut names = env.terms_names().unwrap().to_vec();
        names.sort();
        assert_eq!(names, ["bonus", "pos"]);
        let mut sorted = values;
        sorted.sort_by(f64::total_cmp);
        assert_eq!(sorted, {
            let mut v = vec![x, 0.5];
            v.sort_by(f64::total_cmp);
            v
        });
        // The derived variable is computed from this step's values.
        assert_eq!(float(&env, "gap"), float(&env, "goal") - x);
    }
}

/// An episode's ground-truth fitness, accumulated step by step with the env's aggregate.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct EpisodeFitness {
    sum: f64,
    max: f64,
    last: f64,
    steps: u32,
}

impl EpisodeFitness {
    /// Adds one step's fitness value.
    pub fn push(&mut self, value: f64) {
        self.max = if self.steps == 0 { value } else { self.max.max(value) };
        self.sum += value;
        self.last = value;
        self.steps += 1;
    }

    /// Steps pushed so far.
    pub fn steps(&self) -> u32 {
        self.steps
    }

    /// The episode's fitness under `aggregate` (0 before any step).
    pub fn value(&self, aggregate: rewardsmith_spec::Aggregate) -> f64 {
        use rewardsmith_spec::Aggregate;
        match aggregate {
            Aggregate::Sum => self.sum,
            Aggregate::Mean => self.sum / f64::from(self.steps.max(1)),
            Aggregate::Final => self.last,
            Aggregate::Max => self.max,
        }
    }
}
