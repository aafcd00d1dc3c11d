//! The fixed vocabulary of state sources: the only quantities the simulator reads out of a world.

use serde::{Deserialize, Serialize};
use std::fmt;

/// The type of a state variable as scripts see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ValueType {
    /// A number.
    Float,
    /// A 3-vector with `x`, `y`, `z`.
    Vec3,
    /// A unit quaternion with `w`, `x`, `y`, `z`.
    Quat,
    /// An array of this many numbers (the action).
    Array(usize),
}

impl ValueType {
    /// How many numbers the value adds to the observation.
    pub fn width(self) -> usize {
        match self {
            Self::Float => 1,
            Self::Vec3 => 3,
            Self::Quat => 4,
            Self::Array(n) => n,
        }
    }
}

impl fmt::Display for ValueType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Float => f.write_str("float"),
            Self::Vec3 => f.write_str("vec3"),
            Self::Quat => f.write_str("quat"),
            Self::Array(n) => write!(f, "array[{n}]"),
        }
    }
}

/// One entry of the vocabulary, parsed from strings such as `joint.hinge.position`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Source {
    /// `joint.<name>.position`: rad (revolute, wrapped to (-π, π]) or m (prismatic).
    JointPosition(String),
    /// `joint.<name>.velocity`: rad/s or m/s.
    JointVelocity(String),
    /// `body.<name>.position`: the body frame's origin (its centre of mass unless `geoms` or `inertia` put that elsewhere), world frame, m.
    BodyPosition(String),
    /// `body.<name>.linvel`: linear velocity of the body frame's origin, world frame, m/s.
    BodyLinvel(String),
    /// `body.<name>.angvel`: angular velocity, world frame, rad/s.
    BodyAngvel(String),
    /// `body.<name>.quat`: orientation quaternion (body to world).
    BodyQuat(String),
    /// `body.<name>.up`: the body's +z axis in the world frame (unit vector).
    BodyUp(String),
    /// `body.<name>.forward`: the body's +x axis in the world frame (unit vector).
    BodyForward(String),
    /// `site.<name>.position`: world frame, m.
    SitePosition(String),
    /// `site.<name>.linvel`: world frame, m/s.
    SiteLinvel(String),
    /// `target.<name>`: the episode's target (float or vec3).
    Target(String),
    /// `action`: the last action applied, after clipping to [-1, 1] (zeros right after reset).
    Action,
    /// `time`: seconds since the episode's reset.
    Time,
}

impl Source {
    /// Parses a vocabulary string; `None` if it is not of the vocabulary's form.
    pub fn parse(s: &str) -> Option<Self> {
        let parts: Vec<&str> = s.split('.').collect();
        Some(match parts.as_slice() {
            ["action"] => Self::Action,
            ["time"] => Self::Time,
            ["target", t] => Self::Target((*t).to_owned()),
            ["joint", j, "position"] => Self::JointPosition((*j).to_owned()),
            ["joint", j, "velocity"] => Self::JointVelocity((*j).to_owned()),
            ["body", b, q] => {
                let b = (*b).to_owned();
                match *q {
                    "position" => Self::BodyPosition(b),
                    "linvel" => Self::BodyLinvel(b),
                    "angvel" => Self::BodyAngvel(b),
                    "quat" => Self::BodyQuat(b),
                    "up" => Self::BodyUp(b),
                    "forward" => Self::BodyForward(b),
                    _ => return None,
                }
            }
            ["site", n, "position"] => Self::SitePosition((*n).to_owned()),
            ["site", n, "linvel"] => Self::SiteLinvel((*n).to_owned()),
            _ => return None,
        })
    }

    /// The forms the vocabulary accepts, for error messages and documentation.
    pub const FORMS: &'static str = "joint.<j>.position|velocity, body.<b>.position|linvel|angvel|quat|up|forward, \
         site.<s>.position|linvel, target.<t>, action, time";
}

impl fmt::Display for Source {
    /// The vocabulary string, as written in a file: `Source::parse(&s.to_string()) == Some(s)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::JointPosition(j) => write!(f, "joint.{j}.position"),
            Self::JointVelocity(j) => write!(f, "joint.{j}.velocity"),
            Self::BodyPosition(b) => write!(f, "body.{b}.position"),
            Self::BodyLinvel(b) => write!(f, "body.{b}.linvel"),
            Self::BodyAngvel(b) => write!(f, "body.{b}.angvel"),
            Self::BodyQuat(b) => write!(f, "body.{b}.quat"),
            Self::BodyUp(b) => write!(f, "body.{b}.up"),
            Self::BodyForward(b) => write!(f, "body.{b}.forward"),
            Self::SitePosition(s) => write!(f, "site.{s}.position"),
            Self::SiteLinvel(s) => write!(f, "site.{s}.linvel"),
            Self::Target(t) => write!(f, "target.{t}"),
            Self::Action => f.write_str("action"),
            Self::Time => f.write_str("time"),
        }
    }
}
