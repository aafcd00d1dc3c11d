//! Robot models from URDF and MuJoCo MJCF files (`[model]`), turned into the environment file's
//! own bodies, joints and sites, so one simulation path, one validator and the viewer serve them.
//!
//! The files are read by the parsers the rapier project's loaders use (`urdf-rs` under
//! rapier3d-urdf, `mjcf-rs` under rapier3d-mjcf: MJCF defaults, includes and angle units are
//! resolved there). The conversion is ours, for three reasons found when gymnasium's models were
//! loaded through rapier3d-mjcf: its impulse-joint path freezes bodies behind massless
//! intermediate links, its contact filter does not follow MuJoCo's contype/conaffinity rule, and
//! `ctrlrange` is never applied. Here a link is a body, a joint a joint (exact multibody or
//! impulse, as `[physics] joints` says), contacts follow MuJoCo's rule, and actuators are the env
//! file's own. What cannot be represented is an error naming the element, never a silent change.

use crate::SpecError;
use crate::schema::{Axis, Body, Geom, Inertia, Joint, JointKind, ModelRef, Shape, Site};
use mjcf_rs::glam::{DQuat, DVec3, EulerRot};

/// MuJoCo's default geom density, kg/m³ (also ours).
const MJCF_DENSITY: f64 = 1000.0;
/// Half thickness (m) of the box that stands in for an MJCF plane, below its surface.
const PLANE_HALF_THICKNESS: f64 = 0.5;
/// Half extent (m) of that box along the plane when the plane is infinite (MJCF size 0).
const PLANE_HALF_EXTENT: f64 = 50.0;

/// Bodies, joints and sites imported from a model file, in the file's order.
#[derive(Debug, Default)]
pub(crate) struct Imported {
    pub bodies: Vec<Body>,
    pub joints: Vec<Joint>,
    pub sites: Vec<Site>,
}

/// Reads the model `model` names; `file` is where its text came from (for messages).
pub(crate) fn import(model: &ModelRef, file: &str, text: &str) -> Result<Imported, SpecError> {
    let err = |context: &str, message: String| SpecError::invalid(file, context, message);
    let root = Frame { translation: vec(model.position), rotation: rotation(model.rotation) };
    let mut out = match (&model.urdf, &model.mjcf) {
        (Some(_), None) => urdf(text, model.fixed_root, err)?,
        (None, Some(_)) => mjcf(text, err)?,
        _ => unreachable!("validated: exactly one of urdf, mjcf"),
    };
    // Only root bodies are placed in the world; joints place the rest.
    for body in out.bodies.iter_mut().filter(|b| b.position.is_some()) {
        let pose = root.then(&Frame { translation: vec(body.position.unwrap_or_default()), rotation: rotation(body.rotation.unwrap_or_default()) });
        body.position = Some(pose.translation.to_array());
        body.rotation = Some(pose.rotation.to_scaled_axis().to_array());
    }
    Ok(out)
}

/// A rigid transform in f64.
#[derive(Debug, Clone, Copy)]
struct Frame {
    translation: DVec3,
    rotation: DQuat,
}

impl Frame {
    fn then(&self, inner: &Frame) -> Frame {
        Frame { translation: self.translation + self.rotation * inner.translation, rotation: self.rotation * inner.rotation }
    }
}

fn vec(v: [f64; 3]) -> DVec3 {
    DVec3::from_array(v)
}

fn rotation(v: [f64; 3]) -> DQuat {
    DQuat::from_scaled_axis(vec(v))
}

/// A joint from `parent` to `child`, whose frame sits at `frame` in the parent's frame at joint
/// position 0; `anchor` and `axis` are in the child's frame.
fn joint_between(name: String, kind: JointKind, parent: String, child: String, frame: Frame, anchor: DVec3, axis: Option<DVec3>) -> Joint {
    Joint {
        name,
        kind,
        parent,
        child,
        anchor_parent: (frame.translation + frame.rotation * anchor).to_array(),
        anchor_child: anchor.to_array(),
        axis: axis.map(|a| (frame.rotation * a).to_array()),
        limits: None,
        damping: 0.0,
        initial_position: 0.0,
        child_rotation: frame.rotation.to_scaled_axis().to_array(),
    }
}

/// A body with the given shapes and mass distribution and default everything else.
fn body(name: String, geoms: Vec<Geom>, friction: f64) -> Body {
    Body {
        name,
        shape: None,
        geoms,
        mass: None,
        inertia: None,
        density: None,
        position: None,
        rotation: None,
        friction,
        fixed: false,
        collide: true,
        contype: 1,
        conaffinity: 1,
    }
}

/// Principal moments and axes of a symmetric inertia tensor given as (ixx, iyy, izz, ixy, ixz,
/// iyz), by Jacobi rotations.
fn principal_axes(i: [f64; 6]) -> ([f64; 3], DQuat) {
    let [xx, yy, zz, xy, xz, yz] = i;
    let mut a = [[xx, xy, xz], [xy, yy, yz], [xz, yz, zz]];
    let mut v = [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]];
    // Sweeps of Jacobi rotations; a 3×3 tensor converges to machine precision in a few.
    for _ in 0..50 {
        let off = a[0][1].abs() + a[0][2].abs() + a[1][2].abs();
        if off < 1e-15 * (a[0][0].abs() + a[1][1].abs() + a[2][2].abs()).max(1e-300) {
            break;
        }
        for (p, q) in [(0, 1), (0, 2), (1, 2)] {
            if a[p][q].abs() < 1e-300 {
                continue;
            }
            let theta = (a[q][q] - a[p][p]) / (2.0 * a[p][q]);
            let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
            let t = if theta == 0.0 { 1.0 } else { t };
            let (c, s) = (1.0 / (t * t + 1.0).sqrt(), t / (t * t + 1.0).sqrt());
            // A ← Jᵀ A J: columns p and q, then rows p and q.
            for row in &mut a {
                let (akp, akq) = (row[p], row[q]);
                row[p] = c * akp - s * akq;
                row[q] = s * akp + c * akq;
            }
            let (rp, rq) = (a[p], a[q]);
            a[p] = std::array::from_fn(|k| c * rp[k] - s * rq[k]);
            a[q] = std::array::from_fn(|k| s * rp[k] + c * rq[k]);
            for row in &mut v {
                let (vp, vq) = (row[p], row[q]);
                row[p] = c * vp - s * vq;
                row[q] = s * vp + c * vq;
            }
        }
    }
    // Columns of v are the principal axes; make them a right-handed basis.
    let (mut x, y) = (DVec3::new(v[0][0], v[1][0], v[2][0]), DVec3::new(v[0][1], v[1][1], v[2][1]));
    let z = DVec3::new(v[0][2], v[1][2], v[2][2]);
    if x.cross(y).dot(z) < 0.0 {
        x = -x;
    }
    let basis = mjcf_rs::glam::DMat3::from_cols(x, y, z);
    ([a[0][0], a[1][1], a[2][2]], DQuat::from_mat3(&basis).normalize())
}

// ---------------------------------------------------------------------------------------------
// URDF

fn urdf(text: &str, fixed_root: bool, err: impl Fn(&str, String) -> SpecError) -> Result<Imported, SpecError> {
    let robot = urdf_rs::read_from_string(text).map_err(|e| err("urdf", format!("not a valid URDF file: {e}")))?;
    let mut out = Imported::default();
    let children: std::collections::HashSet<&str> = robot.joints.iter().map(|j| j.child.link.as_str()).collect();
    for link in &robot.links {
        let ctx = format!("link {:?}", link.name);
        let mut geoms = Vec::new();
        for (i, c) in link.collision.iter().enumerate() {
            let shape = match &c.geometry {
                urdf_rs::Geometry::Box { size } => Shape::Box { half_extents: [size[0] / 2.0, size[1] / 2.0, size[2] / 2.0] },
                urdf_rs::Geometry::Sphere { radius } => Shape::Sphere { radius: *radius },
                urdf_rs::Geometry::Cylinder { radius, length } => Shape::Cylinder { radius: *radius, half_length: length / 2.0, axis: Axis::Z },
                urdf_rs::Geometry::Capsule { radius, length } => Shape::Capsule { radius: *radius, half_length: length / 2.0, axis: Axis::Z },
                urdf_rs::Geometry::Mesh { filename, .. } => {
                    return Err(err(
                        &format!("{ctx}: collision[{i}]"),
                        format!("mesh geometry ({filename}) is not supported: use boxes, spheres, cylinders or capsules"),
                    ));
                }
            };
            let frame = urdf_frame(&c.origin);
            geoms.push(Geom {
                shape,
                position: frame.translation.to_array(),
                rotation: frame.rotation.to_scaled_axis().to_array(),
                contype: 1,
                conaffinity: 1,
            });
        }
        let mut b = body(link.name.clone(), geoms, 0.5);
        let root = !children.contains(link.name.as_str());
        let moving = !(root && fixed_root);
        let mass = link.inertial.mass.value;
        if mass > 0.0 {
            let i = &link.inertial.inertia;
            let (principal, axes) = principal_axes([i.ixx, i.iyy, i.izz, i.ixy, i.ixz, i.iyz]);
            let frame = urdf_frame(&link.inertial.origin);
            b.mass = Some(mass);
            b.inertia =
                Some(Inertia { center_of_mass: frame.translation.to_array(), principal, rotation: (frame.rotation * axes).to_scaled_axis().to_array() });
        } else if moving && b.geoms.is_empty() {
            return Err(err(&ctx, "a moving link needs an <inertial> with a mass > 0, or collision shapes".into()));
        }
        // Without an <inertial>, the shapes carry the mass at the default density (water).
        if root {
            b.fixed = fixed_root;
            b.position = Some([0.0; 3]);
            b.rotation = Some([0.0; 3]);
        }
        out.bodies.push(b);
    }
    for j in &robot.joints {
        let ctx = format!("joint {:?}", j.name);
        let kind = match &j.joint_type {
            urdf_rs::JointType::Revolute | urdf_rs::JointType::Continuous => JointKind::Revolute,
            urdf_rs::JointType::Prismatic => JointKind::Prismatic,
            urdf_rs::JointType::Fixed => JointKind::Fixed,
            urdf_rs::JointType::Spherical => JointKind::Spherical,
            other => return Err(err(&ctx, format!("joint type {other:?} is not supported (revolute, continuous, prismatic, fixed, spherical are)"))),
        };
        let axis = matches!(kind, JointKind::Revolute | JointKind::Prismatic).then(|| vec(*j.axis.xyz));
        let mut joint = joint_between(j.name.clone(), kind, j.parent.link.clone(), j.child.link.clone(), urdf_frame(&j.origin), DVec3::ZERO, axis);
        if matches!(j.joint_type, urdf_rs::JointType::Revolute | urdf_rs::JointType::Prismatic) && j.limit.lower < j.limit.upper {
            joint.limits = Some([j.limit.lower, j.limit.upper]);
            joint.initial_position = 0.0f64.clamp(j.limit.lower, j.limit.upper);
        }
        if let Some(d) = &j.dynamics {
            joint.damping = d.damping;
            if d.friction != 0.0 {
                return Err(err(&ctx, "joint friction (<dynamics friction>) is not supported: set it to 0".into()));
            }
        }
        if j.mimic.is_some() {
            return Err(err(&ctx, "<mimic> joints are not supported".into()));
        }
        out.joints.push(joint);
    }
    Ok(out)
}

/// A URDF `<origin xyz rpy>`: rpy are fixed-axis roll about x, pitch about y, yaw about z.
fn urdf_frame(origin: &urdf_rs::Pose) -> Frame {
    let [r, p, y] = *origin.rpy;
    Frame { translation: vec(*origin.xyz), rotation: DQuat::from_euler(EulerRot::ZYX, y, p, r) }
}

// ---------------------------------------------------------------------------------------------
// MJCF

fn mjcf(text: &str, err: impl Fn(&str, String) -> SpecError) -> Result<Imported, SpecError> {
    // `<include>` would read other files; the models here are single files.
    let model = mjcf_rs::Model::from_str(text, ".").map_err(|e| err("mjcf", format!("not a valid MJCF file: {e}")))?;
    let mut out = Imported::default();
    let name_of = |id: usize| -> String { model.bodies[id].body.name.clone().unwrap_or_else(|| format!("body{id}")) };
    // Geoms of the world body become fixed bodies of their own.
    for (g, geom) in model.bodies[0].body.geoms.iter().enumerate() {
        let name = geom.name.clone().unwrap_or_else(|| format!("world_geom{g}"));
        let ctx = format!("worldbody geom {name:?}");
        let (placed, _) = mjcf_geom(geom).map_err(|m| err(&ctx, m))?;
        let mut b = body(name, vec![Geom { position: [0.0; 3], rotation: [0.0; 3], ..placed.clone() }], geom.friction[0]);
        b.fixed = true;
        b.position = Some(placed.position);
        b.rotation = Some(placed.rotation);
        out.bodies.push(b);
    }
    for (id, entry) in model.bodies_iter() {
        let src = &entry.body;
        let name = name_of(id);
        let ctx = format!("body {name:?}");
        let mut geoms = Vec::new();
        let mut masses = Vec::new();
        for (g, geom) in src.geoms.iter().enumerate() {
            let (placed, mass) = mjcf_geom(geom).map_err(|m| err(&format!("{ctx}: geom {g}"), m))?;
            geoms.push(placed);
            masses.push(mass);
        }
        let friction = src.geoms.first().map_or(1.0, |g| g.friction[0]);
        let mut b = body(name.clone(), geoms, friction);
        match &src.inertial {
            Some(inertial) => {
                let (principal, axes) = match inertial.inertia {
                    mjcf_rs::body::InertiaSpec::Diagonal(d) => (d, DQuat::IDENTITY),
                    mjcf_rs::body::InertiaSpec::Full([xx, yy, zz, xy, xz, yz]) => principal_axes([xx, yy, zz, xy, xz, yz]),
                };
                b.mass = Some(inertial.mass);
                b.inertia = Some(Inertia {
                    center_of_mass: inertial.pose.translation.to_array(),
                    principal,
                    rotation: (inertial.pose.rotation * axes).to_scaled_axis().to_array(),
                });
            }
            // MuJoCo's default: the inertia of the geoms; ours is that with the mass spread by
            // volume, exact when the geoms share a density.
            None => b.mass = Some(masses.iter().sum::<f64>()).filter(|m| *m > 0.0),
        }
        let parent = entry.parent.unwrap_or(0);
        let frame = Frame { translation: entry.body.pose.translation, rotation: entry.body.pose.rotation };
        let joints: Vec<&mjcf_rs::body::Joint> = src.joints.iter().collect();
        match joints.as_slice() {
            [] if parent == 0 => {
                b.fixed = true;
                b.position = Some(frame.translation.to_array());
                b.rotation = Some(frame.rotation.to_scaled_axis().to_array());
            }
            [] => out.joints.push(joint_between(format!("{name}_weld"), JointKind::Fixed, name_of(parent), name.clone(), frame, DVec3::ZERO, None)),
            [j] if j.type_ == mjcf_rs::body::JointType::Free => {
                if parent != 0 {
                    return Err(err(&ctx, "a free joint is allowed only on a child of the worldbody".into()));
                }
                b.position = Some(frame.translation.to_array());
                b.rotation = Some(frame.rotation.to_scaled_axis().to_array());
            }
            [j] => {
                let jname = j.name.clone().unwrap_or_else(|| format!("{name}_joint"));
                let jctx = format!("joint {jname:?}");
                let kind = match j.type_ {
                    mjcf_rs::body::JointType::Hinge => JointKind::Revolute,
                    mjcf_rs::body::JointType::Slide => JointKind::Prismatic,
                    mjcf_rs::body::JointType::Ball => JointKind::Spherical,
                    mjcf_rs::body::JointType::Free => unreachable!("matched above"),
                };
                for (what, value) in [("armature", j.armature), ("stiffness", j.stiffness), ("frictionloss", j.frictionloss), ("ref", j.ref_)] {
                    if value != 0.0 {
                        return Err(err(&jctx, format!("{what}={value} is not supported (rewardsmith joints have no {what}): remove it")));
                    }
                }
                if j.springdamper.is_some() {
                    return Err(err(&jctx, "springdamper is not supported: remove it".into()));
                }
                let parent_name = if parent == 0 { crate::WORLD.to_owned() } else { name_of(parent) };
                let axis = (kind != JointKind::Spherical).then(|| vec(j.axis));
                let mut joint = joint_between(jname, kind, parent_name, name.clone(), frame, vec(j.pos), axis);
                let limited = match j.limited {
                    mjcf_rs::types::Tristate::True => true,
                    mjcf_rs::types::Tristate::False => false,
                    mjcf_rs::types::Tristate::Auto => model.compiler.autolimits && j.range.is_some(),
                };
                if let (true, Some([lo, hi]), true) = (limited, j.range, kind != JointKind::Spherical) {
                    joint.limits = Some([lo, hi]);
                    joint.initial_position = 0.0f64.clamp(lo, hi);
                }
                joint.damping = if kind == JointKind::Spherical { 0.0 } else { j.damping };
                out.joints.push(joint);
            }
            more => {
                return Err(err(&ctx, format!("{} joints on one body are not supported: give each joint its own body", more.len())));
            }
        }
        for (s, site) in src.sites.iter().enumerate() {
            let site_name = site.name.clone().unwrap_or_else(|| format!("{name}_site{s}"));
            out.sites.push(Site { name: site_name, body: name.clone(), offset: site.pose.translation.to_array() });
        }
        out.bodies.push(b);
    }
    Ok(out)
}

/// An MJCF geom as a placed shape, and its mass (kg: its `mass`, else density × volume).
fn mjcf_geom(g: &mjcf_rs::body::Geom) -> Result<(Geom, f64), String> {
    use mjcf_rs::body::GeomType;
    let mut frame = Frame { translation: g.pose.translation, rotation: g.pose.rotation };
    let [s0, s1, s2] = g.size;
    // `fromto` gives a capsule's or cylinder's segment: centre, and z along it.
    let from_to_half = g.fromto.map(|[ax, ay, az, bx, by, bz]| {
        let (a, b) = (DVec3::new(ax, ay, az), DVec3::new(bx, by, bz));
        frame = Frame { translation: (a + b) / 2.0, rotation: DQuat::from_rotation_arc(DVec3::Z, (b - a).normalize()) };
        (b - a).length() / 2.0
    });
    let shape = match g.type_ {
        GeomType::Sphere => Shape::Sphere { radius: s0 },
        GeomType::Capsule => Shape::Capsule { radius: s0, half_length: from_to_half.unwrap_or(s1), axis: Axis::Z },
        GeomType::Cylinder => Shape::Cylinder { radius: s0, half_length: from_to_half.unwrap_or(s1), axis: Axis::Z },
        GeomType::Box => Shape::Box { half_extents: [s0, s1, s2] },
        GeomType::Plane => {
            // A thick box under the plane's surface: the same contacts for anything above it.
            frame.translation -= frame.rotation * DVec3::Z * PLANE_HALF_THICKNESS;
            let half = |s: f64| if s > 0.0 { s } else { PLANE_HALF_EXTENT };
            Shape::Box { half_extents: [half(s0), half(s1), PLANE_HALF_THICKNESS] }
        }
        other => return Err(format!("{other:?} geoms are not supported (sphere, capsule, cylinder, box and plane are)")),
    };
    let mass = g.mass.unwrap_or_else(|| g.density.unwrap_or(MJCF_DENSITY) * shape.volume());
    let placed = Geom {
        shape,
        position: frame.translation.to_array(),
        rotation: frame.rotation.to_scaled_axis().to_array(),
        contype: g.contype,
        conaffinity: g.conaffinity,
    };
    Ok((placed, mass))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn principal_axes_diagonalise_a_rotated_tensor() {
        // diag(1, 2, 3) turned by 0.4 rad about z: off-diagonal xy terms.
        let (c, s) = (0.4f64.cos(), 0.4f64.sin());
        let xx = c * c * 1.0 + s * s * 2.0;
        let yy = s * s * 1.0 + c * c * 2.0;
        let xy = c * s * (1.0 - 2.0);
        let (mut moments, axes) = principal_axes([xx, yy, 3.0, xy, 0.0, 0.0]);
        // The axes map the principal frame onto the body's: R diag R^T is the tensor.
        let m = mjcf_rs::glam::DMat3::from_quat(axes);
        let d = mjcf_rs::glam::DMat3::from_diagonal(DVec3::from_array(moments));
        let back = m * d * m.transpose();
        assert!((back.x_axis.x - xx).abs() < 1e-12 && (back.y_axis.x - xy).abs() < 1e-12 && (back.y_axis.y - yy).abs() < 1e-12);
        moments.sort_by(f64::total_cmp);
        assert!((moments[0] - 1.0).abs() < 1e-12 && (moments[1] - 2.0).abs() < 1e-12 && (moments[2] - 3.0).abs() < 1e-12);
    }
}
