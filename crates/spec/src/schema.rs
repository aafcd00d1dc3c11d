//! The serde schema of an environment file. Field docs give the unit and the default; the same text
//! is in `environments/README.md`. Unknown keys are errors everywhere, so a typo never silently
//! falls back to a default.

use serde::{Deserialize, Serialize};

/// A complete environment description, as read from `environments/<id>.toml`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnvSpec {
    /// Versioned identifier, lowercase letters, digits and `-` (e.g. `cartpole`).
    pub id: String,
    /// Version of this environment's dynamics; bump it whenever a change alters trajectories.
    pub version: u32,
    /// What the environment is, in words an LLM reads to write rewards.
    pub description: String,
    /// The default task given to the reward designer (`--task` overrides it).
    pub task: String,
    /// Time stepping and gravity.
    pub physics: Physics,
    /// A URDF or MJCF robot model whose bodies, joints and sites come before the file's own
    /// (default: none).
    #[serde(default)]
    pub model: Option<ModelRef>,
    /// Rigid bodies; at least one, counting the model's.
    #[serde(rename = "body", default)]
    pub bodies: Vec<Body>,
    /// Joints connecting bodies (default: none).
    #[serde(rename = "joint", default)]
    pub joints: Vec<Joint>,
    /// Points fixed on bodies whose position and velocity can be state variables (default: none).
    #[serde(rename = "site", default)]
    pub sites: Vec<Site>,
    /// How each component of the action in [-1, 1] acts on the world, in action order.
    #[serde(rename = "actuator")]
    pub actuators: Vec<Actuator>,
    /// Per-episode targets drawn at reset (default: none).
    #[serde(rename = "target", default)]
    pub targets: Vec<Target>,
    /// Seeded randomisation of the initial state (default: none, a deterministic start).
    #[serde(default)]
    pub reset: Reset,
    /// Named state variables, in order; derived ones may use the ones before them.
    #[serde(rename = "state")]
    pub state: Vec<StateVar>,
    /// State variable names whose values, concatenated in order, form the observation.
    pub observation: Vec<String>,
    /// Conditions that end an episode early (default: none; episodes then only truncate).
    #[serde(rename = "termination", default)]
    pub terminations: Vec<Termination>,
    /// The task's ground-truth success measure, separate from any reward.
    pub fitness: Fitness,
    /// PPO hyperparameters tuned for this environment (the fields of the ppo crate's
    /// `PpoConfig`, which checks them); a training's `--config` file and flags override them.
    /// Default: empty (PPO's defaults).
    #[serde(default)]
    pub ppo: toml::Table,
}

/// A robot model file (`[model]`): its links or bodies become bodies, its joints joints and (MJCF)
/// its sites sites, named as in the file. See `environments/README.md` for what is imported.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelRef {
    /// A URDF file, relative to the environment file. Give `urdf` or `mjcf`.
    #[serde(default)]
    pub urdf: Option<String>,
    /// A MuJoCo MJCF file, relative to the environment file.
    #[serde(default)]
    pub mjcf: Option<String>,
    /// World position of the model's frame, m. Default `[0, 0, 0]`.
    #[serde(default)]
    pub position: [f64; 3],
    /// World orientation of the model's frame, as a rotation vector (rad). Default none.
    #[serde(default)]
    pub rotation: [f64; 3],
    /// URDF only: whether the root link is fixed in the world (a robot arm's base) rather than
    /// free (a legged robot). Default true. (MJCF says it itself: a `<freejoint>`.)
    #[serde(default = "yes")]
    pub fixed_root: bool,
}

/// Time stepping and gravity.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Physics {
    /// Physics time step in seconds.
    pub timestep: f64,
    /// Physics steps per action (the control period is `timestep * substeps`). Default 1.
    #[serde(default = "one")]
    pub substeps: u32,
    /// Episode length in actions; the episode is truncated after this many steps.
    pub episode_length: u32,
    /// Gravity in m/s², world frame (z is up). Default `[0, 0, -9.81]`.
    #[serde(default = "default_gravity")]
    pub gravity: [f64; 3],
    /// Solver substeps per physics step (rapier's TGS iterations): more is stiffer contacts and
    /// joint limits, and slower. Multibody joints are exact (reduced coordinates), so envs without
    /// contacts can use 1. Default 4, rapier's.
    #[serde(default = "default_solver_iterations")]
    pub solver_iterations: u32,
    /// How joints are simulated. Default `multibody`.
    #[serde(default)]
    pub joints: JointModel,
}

/// How rapier simulates an environment's joints.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JointModel {
    /// Reduced coordinates (rapier multibodies): joints are exact and never drift apart. The
    /// default: chains of a few links cost the same as impulse joints.
    #[default]
    Multibody,
    /// Constraints between free bodies, solved by impulses with the contacts. Joints can stretch
    /// a little under load, but a legged robot with ground contacts costs several times less
    /// (measured on `ant`, BENCHMARKS.md).
    Impulse,
}

fn one() -> u32 {
    1
}
fn default_gravity() -> [f64; 3] {
    [0.0, 0.0, -9.81]
}
fn default_solver_iterations() -> u32 {
    4
}
/// Density of a body given neither `mass` nor `density`, kg/m³ (water).
pub const DEFAULT_DENSITY: f64 = 1000.0;

fn default_friction() -> f64 {
    0.5
}
fn yes() -> bool {
    true
}
fn all_contacts() -> u32 {
    1
}

/// A rigid body: a collision shape centred on the body's origin (its centre of mass), and/or
/// further shapes placed in its frame (`geoms`, as imported robot links have).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Body {
    /// Unique name; `world` is reserved for the fixed world frame.
    pub name: String,
    /// The collision shape centred on the body's origin. A body needs `shape`, `geoms` or
    /// `inertia` (a massless body cannot move).
    #[serde(default)]
    pub shape: Option<Shape>,
    /// Further collision shapes rigidly attached to the body, each placed in the body's frame.
    /// Default none.
    #[serde(default)]
    pub geoms: Vec<Geom>,
    /// Mass in kg; when absent the mass is `density` × the shapes' volume.
    #[serde(default)]
    pub mass: Option<f64>,
    /// Explicit centre of mass and inertia (imported links carry them); needs `mass`, and the
    /// shapes then carry none. Default: from the shapes, uniformly dense.
    #[serde(default)]
    pub inertia: Option<Inertia>,
    /// Density in kg/m³; give it or `mass`, not both. Default [`DEFAULT_DENSITY`] (1000, water)
    /// when neither is given.
    #[serde(default)]
    pub density: Option<f64>,
    /// Initial position of the body's origin in m, world frame. Only for bodies that are not the
    /// child of a joint (a joint places its child). Default `[0, 0, 0]`.
    #[serde(default)]
    pub position: Option<[f64; 3]>,
    /// Initial orientation as a rotation vector (axis × angle, rad), world frame. Only for bodies
    /// that are not the child of a joint. Default `[0, 0, 0]`.
    #[serde(default)]
    pub rotation: Option<[f64; 3]>,
    /// Coulomb friction coefficient (dimensionless). Default 0.5.
    #[serde(default = "default_friction")]
    pub friction: f64,
    /// Whether the body is fixed in the world (ground, walls). Default false.
    #[serde(default)]
    pub fixed: bool,
    /// Whether the body's shapes take part in contacts. Bodies joined by a joint never collide with
    /// each other. Default true.
    #[serde(default = "yes")]
    pub collide: bool,
    /// Contact type bits of `shape` (MuJoCo's `contype`): two shapes touch when either's
    /// `contype` shares a bit with the other's `conaffinity`. Default 1.
    #[serde(default = "all_contacts")]
    pub contype: u32,
    /// Contact affinity bits of `shape` (MuJoCo's `conaffinity`). Default 1.
    #[serde(default = "all_contacts")]
    pub conaffinity: u32,
}

impl Body {
    /// Every collision shape of the body with its placement: `shape` at the origin, then `geoms`.
    pub fn all_geoms(&self) -> impl Iterator<Item = Geom> + '_ {
        let main = self.shape.clone().map(|shape| Geom { shape, position: [0.0; 3], rotation: [0.0; 3], contype: self.contype, conaffinity: self.conaffinity });
        main.into_iter().chain(self.geoms.iter().cloned())
    }
}

/// A collision shape placed in a body's frame.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Geom {
    /// The shape, centred on `position`.
    pub shape: Shape,
    /// Position of the shape's centre in the body's frame, m. Default `[0, 0, 0]`.
    #[serde(default)]
    pub position: [f64; 3],
    /// Orientation of the shape in the body's frame, as a rotation vector (rad). Default none.
    #[serde(default)]
    pub rotation: [f64; 3],
    /// Contact type bits (MuJoCo's `contype`, see [`Body::contype`]). Default 1.
    #[serde(default = "all_contacts")]
    pub contype: u32,
    /// Contact affinity bits (MuJoCo's `conaffinity`). Default 1.
    #[serde(default = "all_contacts")]
    pub conaffinity: u32,
}

/// Explicit mass distribution of a body, in its frame.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Inertia {
    /// Centre of mass in the body's frame, m. Default `[0, 0, 0]`.
    #[serde(default)]
    pub center_of_mass: [f64; 3],
    /// Principal moments of inertia about the centre of mass, kg·m².
    pub principal: [f64; 3],
    /// Orientation of the principal axes in the body's frame, as a rotation vector (rad).
    /// Default none (the body's axes).
    #[serde(default)]
    pub rotation: [f64; 3],
}

/// A collision shape; `axis` is the body-frame axis of a capsule's or cylinder's length. Written
/// as a table tagged by `type` (read through `de::RawShape`, for precise error messages).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase", try_from = "crate::de::RawShape")]
pub enum Shape {
    /// Box with half extents along x, y, z in m.
    Box {
        /// Half extents in m.
        half_extents: [f64; 3],
    },
    /// Sphere.
    Sphere {
        /// Radius in m.
        radius: f64,
    },
    /// Capsule: a cylinder with hemispherical caps.
    Capsule {
        /// Radius in m.
        radius: f64,
        /// Half the length of the cylindrical part in m (caps excluded).
        half_length: f64,
        /// Body-frame axis of the length. Default `z`.
        #[serde(default)]
        axis: Axis,
    },
    /// Cylinder.
    Cylinder {
        /// Radius in m.
        radius: f64,
        /// Half the length in m.
        half_length: f64,
        /// Body-frame axis of the length. Default `z`.
        #[serde(default)]
        axis: Axis,
    },
}

impl Shape {
    /// Volume in m³.
    pub fn volume(&self) -> f64 {
        use std::f64::consts::PI;
        match *self {
            Shape::Box { half_extents: [x, y, z] } => 8.0 * x * y * z,
            Shape::Sphere { radius } => 4.0 / 3.0 * PI * radius.powi(3),
            Shape::Capsule { radius, half_length, .. } => PI * radius * radius * 2.0 * half_length + 4.0 / 3.0 * PI * radius.powi(3),
            Shape::Cylinder { radius, half_length, .. } => PI * radius * radius * 2.0 * half_length,
        }
    }
}

/// A body-frame coordinate axis.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Axis {
    /// The x axis.
    X,
    /// The y axis.
    Y,
    /// The z axis.
    #[default]
    Z,
}

/// The kind of a joint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JointKind {
    /// One rotational degree of freedom about `axis`; position in rad.
    Revolute,
    /// One translational degree of freedom along `axis`; position in m.
    Prismatic,
    /// No degree of freedom: the child is welded to the parent.
    Fixed,
    /// Three rotational degrees of freedom about the anchor (no position variable).
    Spherical,
}

/// A joint between a parent body (or `world`) and a child body. At joint position 0 the child has
/// the parent's orientation turned by `child_rotation`, and the two anchors coincide; the child's
/// initial pose follows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Joint {
    /// Unique name among joints.
    pub name: String,
    /// Kind of joint.
    pub kind: JointKind,
    /// Parent body name, or `world` for the fixed world frame.
    pub parent: String,
    /// Child body name; a body is the child of at most one joint.
    pub child: String,
    /// Anchor in the parent's frame, m. Default `[0, 0, 0]`.
    #[serde(default)]
    pub anchor_parent: [f64; 3],
    /// Anchor in the child's frame, m. Default `[0, 0, 0]`.
    #[serde(default)]
    pub anchor_child: [f64; 3],
    /// Axis of rotation or translation in the parent's frame (normalised on load); revolute and
    /// prismatic joints only.
    #[serde(default)]
    pub axis: Option<[f64; 3]>,
    /// Position limits `[low, high]` in rad or m; revolute and prismatic only. Default: none.
    #[serde(default)]
    pub limits: Option<[f64; 2]>,
    /// Viscous damping in N·m·s/rad (revolute) or N·s/m (prismatic). Default 0.
    #[serde(default)]
    pub damping: f64,
    /// The initial joint position in rad or m, before reset noise. Default 0.
    #[serde(default)]
    pub initial_position: f64,
    /// The child's orientation relative to the parent's at joint position 0, as a rotation vector
    /// in the parent's frame (rad); imported robots place links this way. Default none.
    #[serde(default)]
    pub child_rotation: [f64; 3],
}

/// A named point fixed in a body's frame (a fingertip, a foot, a rotor).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Site {
    /// Unique name among sites.
    pub name: String,
    /// The body it is fixed to.
    pub body: String,
    /// Offset from the body's origin in the body's frame, m. Default `[0, 0, 0]`.
    #[serde(default)]
    pub offset: [f64; 3],
}

/// How one action component `a` in [-1, 1] acts on the world (actions outside are clipped).
/// Written as a table tagged by `kind` (read through `de::RawActuator`, for precise messages).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", try_from = "crate::de::RawActuator")]
pub enum Actuator {
    /// A force (prismatic, N) or torque (revolute, N·m) of `a * gear` along the joint's axis,
    /// applied to the child and, opposite, to the parent.
    JointForce {
        /// Name of the actuator (names the action component for the LLM).
        name: String,
        /// The actuated joint (revolute or prismatic).
        joint: String,
        /// Force in N or torque in N·m at `a = 1`.
        gear: f64,
    },
    /// A velocity servo: drives the joint towards velocity `a * gear` with gain `damping`,
    /// force capped at `max_force`.
    JointVelocity {
        /// Name of the actuator.
        name: String,
        /// The actuated joint (revolute or prismatic).
        joint: String,
        /// Target velocity in rad/s or m/s at `a = 1`.
        gear: f64,
        /// Servo gain in N·m·s/rad or N·s/m.
        damping: f64,
        /// Largest force or torque the servo exerts, N or N·m. Default: unlimited.
        #[serde(default)]
        max_force: Option<f64>,
    },
    /// A position servo (PD): drives the joint towards position `a * gear`.
    JointPosition {
        /// Name of the actuator.
        name: String,
        /// The actuated joint (revolute or prismatic).
        joint: String,
        /// Target position in rad or m at `a = 1`.
        gear: f64,
        /// Proportional gain in N·m/rad or N/m.
        stiffness: f64,
        /// Derivative gain in N·m·s/rad or N·s/m.
        damping: f64,
        /// Largest force or torque the servo exerts, N or N·m. Default: unlimited.
        #[serde(default)]
        max_force: Option<f64>,
    },
    /// A force of `a * gear` along a body-frame axis, applied at a body-frame point (a thruster).
    BodyThrust {
        /// Name of the actuator.
        name: String,
        /// The body pushed.
        body: String,
        /// Direction in the body's frame (normalised on load).
        axis: [f64; 3],
        /// Point of application in the body's frame, m. Default `[0, 0, 0]` (the centre of mass).
        #[serde(default)]
        point: [f64; 3],
        /// Force in N at `a = 1`.
        gear: f64,
        /// Whether negative actions push backwards; a propeller cannot (then `a < 0` gives 0).
        /// Default true.
        #[serde(default = "yes")]
        reversible: bool,
    },
}

impl Actuator {
    /// The actuator's name.
    pub fn name(&self) -> &str {
        match self {
            Self::JointForce { name, .. } | Self::JointVelocity { name, .. } | Self::JointPosition { name, .. } | Self::BodyThrust { name, .. } => name,
        }
    }

    /// The joint it drives, if it drives one.
    pub fn joint(&self) -> Option<&str> {
        match self {
            Self::JointForce { joint, .. } | Self::JointVelocity { joint, .. } | Self::JointPosition { joint, .. } => Some(joint),
            Self::BodyThrust { .. } => None,
        }
    }
}

/// A random draw made at reset from the episode's seed, written as a one-key table:
/// `{ constant = c }`, `{ uniform = [low, high] }` or `{ normal = [mean, std] }` (deserialised
/// by hand in `de.rs`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Dist {
    /// Always this value.
    Constant(f64),
    /// Uniform on `[low, high]`.
    Uniform([f64; 2]),
    /// Normal with `[mean, standard deviation]`.
    Normal([f64; 2]),
}

/// A per-episode target: a scalar (`value`) or a 3-vector (`x`, `y`, `z`), drawn at reset.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Target {
    /// Unique name; the state vocabulary calls it `target.<name>`.
    pub name: String,
    /// Scalar target distribution (exclusive with `x`/`y`/`z`).
    #[serde(default)]
    pub value: Option<Dist>,
    /// x component of a vector target, m (or the target's unit). Default constant 0.
    #[serde(default)]
    pub x: Option<Dist>,
    /// y component of a vector target. Default constant 0.
    #[serde(default)]
    pub y: Option<Dist>,
    /// z component of a vector target. Default constant 0.
    #[serde(default)]
    pub z: Option<Dist>,
    /// Unit of the target, for the LLM (e.g. `m`). Default empty.
    #[serde(default)]
    pub unit: String,
    /// What the target means, for the LLM.
    #[serde(default)]
    pub doc: String,
}

impl Target {
    /// Whether the target is a 3-vector rather than a scalar.
    pub fn is_vector(&self) -> bool {
        self.value.is_none()
    }
}

/// Seeded randomisation of the initial state, applied after the joints place their children.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Reset {
    /// Per joint, noise added to its initial position and velocity.
    #[serde(default, rename = "joint")]
    pub joints: Vec<JointReset>,
    /// Per root body (one that no joint places), noise added to its initial pose and velocity.
    #[serde(default, rename = "body")]
    pub bodies: Vec<BodyReset>,
}

/// Reset noise for one joint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JointReset {
    /// The joint (revolute or prismatic).
    pub joint: String,
    /// Added to the initial position, rad or m. Default: none.
    #[serde(default)]
    pub position: Option<Dist>,
    /// Initial velocity, rad/s or m/s. Default: none (0).
    #[serde(default)]
    pub velocity: Option<Dist>,
}

/// Reset noise for one root body, each component drawn independently.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BodyReset {
    /// The body (must not be a joint's child, nor fixed).
    pub body: String,
    /// Added to the initial position, per axis, m. Default: none.
    #[serde(default)]
    pub position: Option<[Dist; 3]>,
    /// Rotation vector composed with the initial orientation, per axis, rad. Default: none.
    #[serde(default)]
    pub rotation: Option<[Dist; 3]>,
    /// Initial linear velocity, per axis, m/s. Default: none (0).
    #[serde(default)]
    pub linvel: Option<[Dist; 3]>,
    /// Initial angular velocity, per axis, rad/s. Default: none (0).
    #[serde(default)]
    pub angvel: Option<[Dist; 3]>,
}

/// A named state variable: either read from the simulation through the fixed vocabulary
/// (`source`), or derived from earlier variables by a trusted Rhai expression (`expr`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StateVar {
    /// Name scripts use (`s.<name>`): a Rhai identifier.
    pub name: String,
    /// A vocabulary entry such as `joint.hinge.position` (see `environments/README.md`).
    #[serde(default)]
    pub source: Option<String>,
    /// A Rhai expression over `s` (earlier variables), e.g. `s.goal - s.fingertip`.
    #[serde(default)]
    pub expr: Option<String>,
    /// Unit, for the LLM; vocabulary entries have one by default, derived ones must state it.
    #[serde(default)]
    pub unit: Option<String>,
    /// What the variable means, for the LLM.
    pub doc: String,
}

/// An early end of an episode, with a name that the search reports ("pole_fell in 80% of
/// episodes").
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Termination {
    /// Name of the condition.
    pub name: String,
    /// A Rhai boolean expression over `s`; true ends the episode (terminated, not truncated).
    pub expr: String,
    /// What the condition means.
    #[serde(default)]
    pub doc: String,
}

/// How per-step fitness values combine into one episode's fitness.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Aggregate {
    /// Mean over the episode's steps.
    Mean,
    /// Sum over the episode's steps.
    Sum,
    /// The last step's value.
    Final,
    /// The largest value.
    Max,
}

/// The ground-truth success measure of the task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fitness {
    /// A Rhai numeric expression over `s`, evaluated after every step.
    pub expr: String,
    /// How the per-step values aggregate over an episode.
    pub aggregate: Aggregate,
    /// What the fitness measures and its range, in words.
    pub doc: String,
    /// Set by a program, never by the file: the measure is kept from whoever proposes rewards
    /// (Eureka's protocol, `search --hide-fitness-expr`): `describe` does not show it, and the
    /// offline proposer takes no hint from it. The env still computes it.
    #[serde(skip)]
    pub hidden: bool,
}
