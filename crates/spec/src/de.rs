//! Hand-written deserialisation for the schema's tagged types (`shape`, `[[actuator]]`,
//! distributions). serde's internally tagged enums buffer their table before choosing a variant,
//! which loses the key path and the line of a wrong value (`actuator[0]: expected f64` instead of
//! `actuator[0].gear: ... expected a number` at the value). Here each is read as a flat table of
//! optional keys, so wrong types are reported at the key, and the keys are then checked against
//! the chosen kind with messages that list the kind's keys.

use crate::schema::{Actuator, Axis, Dist, Shape};
use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, Visitor};
use std::fmt;

/// The keys present in a raw table, by name, for checking against a kind's keys.
struct Keys<'a> {
    /// What is being read, e.g. `a sphere` or `a joint_force actuator`.
    what: String,
    present: Vec<&'a str>,
}

impl Keys<'_> {
    /// Checks that every present key is one of `required` or `optional` and every `required` one
    /// is present; `tag` is the key naming the kind (listed first in messages).
    fn check(&self, tag: &str, required: &[&str], optional: &[&str]) -> Result<(), String> {
        let all = || std::iter::once(tag).chain(required.iter().copied()).chain(optional.iter().copied()).collect::<Vec<_>>().join(", ");
        if let Some(extra) = self.present.iter().find(|k| !required.contains(k) && !optional.contains(k)) {
            return Err(format!("{} takes no `{extra}` (its keys: {})", self.what, all()));
        }
        if let Some(missing) = required.iter().find(|k| !self.present.contains(k)) {
            return Err(format!("missing key `{missing}`: {} needs it (its keys: {})", self.what, all()));
        }
        Ok(())
    }
}

/// Pushes `name` onto `present` when `value` is set.
fn mark<'a, T>(present: &mut Vec<&'a str>, name: &'a str, value: &Option<T>) {
    if value.is_some() {
        present.push(name);
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "lowercase")]
enum ShapeKind {
    Box,
    Sphere,
    Capsule,
    Cylinder,
}

/// A `shape` table as written: every key of every shape, optional.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawShape {
    #[serde(rename = "type")]
    kind: Option<ShapeKind>,
    half_extents: Option<[f64; 3]>,
    radius: Option<f64>,
    half_length: Option<f64>,
    axis: Option<Axis>,
}

impl TryFrom<RawShape> for Shape {
    type Error = String;

    fn try_from(raw: RawShape) -> Result<Self, String> {
        let Some(kind) = raw.kind else {
            return Err("missing key `type`; expected one of `box`, `sphere`, `capsule`, `cylinder`".into());
        };
        let mut present = Vec::new();
        mark(&mut present, "half_extents", &raw.half_extents);
        mark(&mut present, "radius", &raw.radius);
        mark(&mut present, "half_length", &raw.half_length);
        mark(&mut present, "axis", &raw.axis);
        let keys = |what: &str| Keys { what: what.into(), present: present.clone() };
        Ok(match kind {
            ShapeKind::Box => {
                keys("a box").check("type", &["half_extents"], &[])?;
                Shape::Box { half_extents: raw.half_extents.unwrap_or_default() }
            }
            ShapeKind::Sphere => {
                keys("a sphere").check("type", &["radius"], &[])?;
                Shape::Sphere { radius: raw.radius.unwrap_or_default() }
            }
            ShapeKind::Capsule => {
                keys("a capsule").check("type", &["radius", "half_length"], &["axis"])?;
                Shape::Capsule { radius: raw.radius.unwrap_or_default(), half_length: raw.half_length.unwrap_or_default(), axis: raw.axis.unwrap_or_default() }
            }
            ShapeKind::Cylinder => {
                keys("a cylinder").check("type", &["radius", "half_length"], &["axis"])?;
                Shape::Cylinder { radius: raw.radius.unwrap_or_default(), half_length: raw.half_length.unwrap_or_default(), axis: raw.axis.unwrap_or_default() }
            }
        })
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "snake_case")]
enum ActuatorKind {
    JointForce,
    JointVelocity,
    JointPosition,
    BodyThrust,
}

/// An `[[actuator]]` table as written: every key of every kind, optional.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawActuator {
    kind: Option<ActuatorKind>,
    name: Option<String>,
    joint: Option<String>,
    body: Option<String>,
    axis: Option<[f64; 3]>,
    point: Option<[f64; 3]>,
    gear: Option<f64>,
    stiffness: Option<f64>,
    damping: Option<f64>,
    max_force: Option<f64>,
    reversible: Option<bool>,
}

impl TryFrom<RawActuator> for Actuator {
    type Error = String;

    fn try_from(raw: RawActuator) -> Result<Self, String> {
        let Some(kind) = raw.kind else {
            return Err("missing key `kind`; expected one of `joint_force`, `joint_velocity`, `joint_position`, `body_thrust`".into());
        };
        let mut present = Vec::new();
        mark(&mut present, "name", &raw.name);
        mark(&mut present, "joint", &raw.joint);
        mark(&mut present, "body", &raw.body);
        mark(&mut present, "axis", &raw.axis);
        mark(&mut present, "point", &raw.point);
        mark(&mut present, "gear", &raw.gear);
        mark(&mut present, "stiffness", &raw.stiffness);
        mark(&mut present, "damping", &raw.damping);
        mark(&mut present, "max_force", &raw.max_force);
        mark(&mut present, "reversible", &raw.reversible);
        let keys = |what: &str| Keys { what: format!("a {what} actuator"), present: present.clone() };
        let name = raw.name.unwrap_or_default();
        let joint = raw.joint.unwrap_or_default();
        let gear = raw.gear.unwrap_or_default();
        Ok(match kind {
            ActuatorKind::JointForce => {
                keys("joint_force").check("kind", &["name", "joint", "gear"], &[])?;
                Actuator::JointForce { name, joint, gear }
            }
            ActuatorKind::JointVelocity => {
                keys("joint_velocity").check("kind", &["name", "joint", "gear", "damping"], &["max_force"])?;
                Actuator::JointVelocity { name, joint, gear, damping: raw.damping.unwrap_or_default(), max_force: raw.max_force }
            }
            ActuatorKind::JointPosition => {
                keys("joint_position").check("kind", &["name", "joint", "gear", "stiffness", "damping"], &["max_force"])?;
                Actuator::JointPosition {
                    name,
                    joint,
                    gear,
                    stiffness: raw.stiffness.unwrap_or_default(),
                    damping: raw.damping.unwrap_or_default(),
                    max_force: raw.max_force,
                }
            }
            ActuatorKind::BodyThrust => {
                keys("body_thrust").check("kind", &["name", "body", "axis", "gear"], &["point", "reversible"])?;
                Actuator::BodyThrust {
                    name,
                    body: raw.body.unwrap_or_default(),
                    axis: raw.axis.unwrap_or_default(),
                    point: raw.point.unwrap_or_default(),
                    gear,
                    reversible: raw.reversible.unwrap_or(true),
                }
            }
        })
    }
}

/// The distribution forms, for messages.
pub(crate) const DIST_FORMS: &str = "{ constant = c }, { uniform = [low, high] } or { normal = [mean, std] }";

impl<'de> Deserialize<'de> for Dist {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(DistVisitor)
    }
}

struct DistVisitor;

impl<'de> Visitor<'de> for DistVisitor {
    type Value = Dist;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a distribution, one of {DIST_FORMS}")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Dist, A::Error> {
        let Some(kind) = map.next_key::<String>()? else {
            return Err(de::Error::custom(format!("empty distribution; expected one of {DIST_FORMS}")));
        };
        let dist = match kind.as_str() {
            "constant" => Dist::Constant(map.next_value()?),
            "uniform" => Dist::Uniform(map.next_value()?),
            "normal" => Dist::Normal(map.next_value()?),
            other => {
                return Err(de::Error::custom(format!("unknown distribution `{other}`; expected one of {DIST_FORMS}")));
            }
        };
        if let Some(extra) = map.next_key::<String>()? {
            return Err(de::Error::custom(format!("a distribution has exactly one key, got `{kind}` and `{extra}`; expected one of {DIST_FORMS}")));
        }
        Ok(dist)
    }
}
