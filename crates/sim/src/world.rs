//! Building a rapier3d world from a spec, placing bodies by forward kinematics, applying actuators
//! and reading joint coordinates back from body poses.
//!
//! Joints are rapier multibody joints (reduced coordinates) by default: a chain is integrated in
//! its joint coordinates, so joints never drift apart. On cartpole they cost the same as impulse
//! joints (104.4k vs 104.0k instructions per step, BENCHMARKS.md); exactness decided. An env file
//! may ask for impulse joints (`[physics] joints = "impulse"`): on a legged robot with ground
//! contacts they cost several times less.
//!
//! Joint positions are read back from the two bodies' poses, with
//! the convention of `spec::Joint`: at position 0 the child has the parent's orientation and the
//! anchors coincide; rapier's multibody coordinates use the same convention.

use crate::math::{rotation_vector, vec3};
use rapier3d::geometry::InteractionTestMode;
use rapier3d::prelude::*;
use rewardsmith_spec::{Actuator, Axis, Body, DEFAULT_DENSITY, EnvSpec, Geom, JointKind, JointModel, Shape, WORLD};

/// A joint as the simulator needs it: body indices and frames in f32.
#[derive(Debug, Clone)]
pub(crate) struct JointInfo {
    pub kind: JointKind,
    /// Index into `World::bodies` of the parent; `None` for the world frame.
    pub parent: Option<usize>,
    pub child: usize,
    pub anchor_parent: Vector,
    pub anchor_child: Vector,
    /// Unit axis in the parent's frame (revolute, prismatic); zero otherwise.
    pub axis: Vector,
    pub initial_position: f32,
    /// Viscous damping, N·m·s/rad or N·s/m.
    pub damping: f32,
    /// The child's orientation relative to the parent's at position 0.
    pub child_rotation: Rotation,
}

/// Kinematic state of one body, used to place bodies at reset.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BodyState {
    pub pose: Pose,
    pub linvel: Vector,
    pub angvel: Vector,
}

impl BodyState {
    pub fn rest() -> Self {
        Self { pose: Pose::identity(), linvel: Vector::ZERO, angvel: Vector::ZERO }
    }

    fn velocity_at(&self, point: Vector) -> Vector {
        self.linvel + self.angvel.cross(point - self.pose.translation)
    }
}

/// The static description of an environment in simulator terms, shared by all its instances.
#[derive(Debug, Clone)]
pub(crate) struct Layout {
    pub joints: Vec<JointInfo>,
    /// Joint indices ordered parents-first, for forward kinematics.
    pub joint_order: Vec<usize>,
    /// Per actuator, the index of what it drives: its joint, or its body for thrusters. Resolved
    /// once here because actuators are applied on every physics step.
    pub actuator_targets: Vec<usize>,
}

impl Layout {
    pub fn new(spec: &EnvSpec) -> Self {
        let body_index = |name: &str| spec.bodies.iter().position(|b| b.name == name);
        let joints: Vec<JointInfo> = spec
            .joints
            .iter()
            .map(|j| JointInfo {
                kind: j.kind,
                parent: if j.parent == WORLD { None } else { body_index(&j.parent) },
                child: body_index(&j.child).expect("validated: child exists"),
                anchor_parent: vec3(j.anchor_parent),
                anchor_child: vec3(j.anchor_child),
                axis: j.axis.map_or(Vector::ZERO, |a| vec3(a).normalize()),
                initial_position: j.initial_position as f32,
                damping: j.damping as f32,
                child_rotation: rotation_vector(j.child_rotation),
            })
            .collect();
        let mut placed_by = vec![None; spec.bodies.len()];
        for (i, j) in joints.iter().enumerate() {
            placed_by[j.child] = Some(i);
        }
        // Validation guarantees a forest, so repeatedly taking joints whose parent is placed ends.
        let mut joint_order = Vec::with_capacity(joints.len());
        let mut placed: Vec<bool> = placed_by.iter().map(Option::is_none).collect();
        while joint_order.len() < joints.len() {
            for (i, j) in joints.iter().enumerate() {
                if !placed[j.child] && j.parent.is_none_or(|p| placed[p]) {
                    placed[j.child] = true;
                    joint_order.push(i);
                }
            }
        }
        let joint_index = |name: &str| spec.joints.iter().position(|j| j.name == name);
        let actuator_targets = spec
            .actuators
            .iter()
            .map(|a| match a {
                Actuator::BodyThrust { body, .. } => body_index(body),
                other => other.joint().and_then(joint_index),
            })
            .map(|i| i.expect("validated: an actuator's joint or body exists"))
            .collect();
        Self { joints, joint_order, actuator_targets }
    }
}

/// A joint in one of rapier's two joint sets (`[physics] joints`).
#[derive(Debug, Clone, Copy)]
pub(crate) enum JointHandle {
    Multibody(MultibodyJointHandle),
    Impulse(ImpulseJointHandle),
}

/// One rapier world built from a spec, with handles in spec order.
pub(crate) struct World {
    pub physics: PhysicsWorld,
    pub bodies: Vec<RigidBodyHandle>,
    pub joints: Vec<JointHandle>,
}

impl World {
    /// Builds the world with root bodies at `states[i]` and joints at positions `q` and
    /// velocities `qd` (`states` must hold the matching forward kinematics, see [`place_bodies`]).
    pub fn build(spec: &EnvSpec, layout: &Layout, states: &[BodyState], q: &[f32], qd: &[f32]) -> Self {
        let mut physics = PhysicsWorld::new();
        physics.gravity = vec3(spec.physics.gravity);
        physics.integration_parameters.dt = spec.physics.timestep as f32;
        physics.integration_parameters.num_solver_iterations = spec.physics.solver_iterations as usize;

        let world_body = physics.bodies.insert(RigidBodyBuilder::fixed());
        let mut bodies = Vec::with_capacity(spec.bodies.len());
        for (body, state) in spec.bodies.iter().zip(states) {
            let builder = if body.fixed { RigidBodyBuilder::fixed() } else { RigidBodyBuilder::dynamic() };
            // Sleeping would freeze a body whose state a policy still observes and drives.
            let mut rb = builder.pose(state.pose).linvel(state.linvel).angvel(state.angvel).can_sleep(false);
            if let (Some(inertia), Some(mass)) = (&body.inertia, body.mass) {
                rb = rb.additional_mass_properties(MassProperties::with_principal_inertia_frame(
                    vec3(inertia.center_of_mass),
                    mass as f32,
                    vec3(inertia.principal),
                    rotation_vector(inertia.rotation),
                ));
            }
            let handle = physics.bodies.insert(rb);
            let geoms: Vec<Geom> = body.all_geoms().collect();
            for (geom, share) in geoms.iter().zip(mass_shares(body, &geoms)) {
                let collider = geom_collider(geom).friction(body.friction as f32);
                let collider = match share {
                    MassShare::Mass(m) => collider.mass(m),
                    MassShare::Density(d) => collider.density(d),
                };
                let groups = if body.collide {
                    // MuJoCo's rule: two shapes touch when either's type meets the other's
                    // affinity (rapier's `Or` test on memberships = contype, filter = conaffinity).
                    InteractionGroups::new(Group::from(geom.contype), Group::from(geom.conaffinity), InteractionTestMode::Or)
                } else {
                    InteractionGroups::new(Group::NONE, Group::NONE, InteractionTestMode::And)
                };
                physics.colliders.insert_with_parent(collider.collision_groups(groups), handle, &mut physics.bodies);
            }
            bodies.push(handle);
        }

        let mut joints = Vec::with_capacity(layout.joints.len());
        for &j in &layout.joint_order {
            let info = &layout.joints[j];
            let parent = info.parent.map_or(world_body, |p| bodies[p]);
            let data = joint_data(info, &spec.joints[j], spec);
            let handle = match spec.physics.joints {
                JointModel::Multibody => JointHandle::Multibody(
                    physics
                        .multibody_joints
                        .insert(parent, bodies[info.child], data, true)
                        .expect("validated: joints form a forest, so no joint closes a loop"),
                ),
                JointModel::Impulse => JointHandle::Impulse(physics.impulse_joints.insert(parent, bodies[info.child], data, true)),
            };
            joints.push((j, handle));
        }
        joints.sort_by_key(|(j, _)| *j);
        let joints: Vec<JointHandle> = joints.into_iter().map(|(_, h)| h).collect();
        let mut world = Self { physics, bodies, joints };
        // Impulse-jointed bodies are free bodies, already placed and moving as `states` says.
        if spec.physics.joints == JointModel::Multibody {
            world.set_coordinates(layout, states, q, qd);
        }
        world
    }

    /// Sets every joint's coordinate, velocity and damping, then places the bodies accordingly.
    /// The damping replaces rapier's default of 0.1 on rotational degrees of freedom, which would
    /// be friction the env file never asked for.
    fn set_coordinates(&mut self, layout: &Layout, states: &[BodyState], q: &[f32], qd: &[f32]) {
        let set = &mut self.physics.multibody_joints;
        // Generalised coordinates start at 0; one displacement per multibody moves them to q.
        // Per multibody: its index, the displacement of every coordinate, and per degree of
        // freedom (index, velocity, damping).
        type Pending = (MultibodyIndex, Vec<Real>, Vec<(usize, Real, Real)>);
        let mut pending: Vec<Pending> = Vec::new();
        for (j, info) in layout.joints.iter().enumerate() {
            let link = *set.rigid_body_link(self.bodies[info.child]).expect("every child is a link");
            let mb = set.get_multibody(link.multibody).expect("the link's multibody exists");
            let dof: usize = (0..link.id).map(|i| mb.link(i).map_or(0, |l| l.joint().ndofs())).sum();
            let entry = match pending.iter().position(|(m, _, _)| *m == link.multibody) {
                Some(k) => k,
                None => {
                    pending.push((link.multibody, vec![0.0; mb.ndofs()], Vec::new()));
                    pending.len() - 1
                }
            };
            if mb.link(link.id).is_some_and(|l| l.joint().ndofs() == 1) {
                pending[entry].1[dof] = q[j];
                pending[entry].2.push((dof, qd[j], info.damping));
            } else {
                // Spherical joints: no damping parameter in the file, so none at all.
                let ndofs = mb.link(link.id).map_or(0, |l| l.joint().ndofs());
                pending[entry].2.extend((dof..dof + ndofs).map(|d| (d, 0.0, 0.0)));
            }
        }
        for (index, disp, dofs) in pending {
            let mb = set.get_multibody_mut(index).expect("exists");
            mb.apply_displacements(&disp);
            for (dof, velocity, damping) in dofs {
                mb.generalized_velocity_mut()[dof] = velocity;
                mb.damping_mut()[dof] = damping;
            }
            mb.forward_kinematics(&self.physics.bodies, true);
            // A dynamic root moves on a free joint whose six coordinates are the root's linear
            // then angular velocity in the world frame; without them it would start at rest.
            let root = mb.root().rigid_body_handle();
            if let Some(b) = self.bodies.iter().position(|h| *h == root)
                && mb.root().joint().ndofs() == 6
            {
                let (linvel, angvel) = (states[b].linvel, states[b].angvel);
                let mut velocity = mb.generalized_velocity_mut();
                for k in 0..3 {
                    velocity[k] = linvel[k];
                    velocity[3 + k] = angvel[k];
                }
                // rapier gives the free joint's rotations its default damping of 0.1, which would
                // stop a spinning body within a tenth of a second (found in review).
                mb.damping_mut().rows_mut(0, 6).fill(0.0);
            }
            mb.update_rigid_bodies(&mut self.physics.bodies, true);
        }
        // Body velocities as forward kinematics gives them, so the first observation is right.
        for (handle, state) in self.bodies.iter().zip(states) {
            let rb = &mut self.physics.bodies[*handle];
            rb.set_linvel(state.linvel, false);
            rb.set_angvel(state.angvel, false);
        }
    }

    fn joint_data_mut(&mut self, index: usize) -> Option<&mut GenericJoint> {
        match self.joints[index] {
            JointHandle::Multibody(h) => {
                let (mb, link) = self.physics.multibody_joints.get_mut(h)?;
                mb.link_mut(link).map(|l| &mut l.joint.data)
            }
            JointHandle::Impulse(h) => self.physics.impulse_joints.get_mut(h, false).map(|j| &mut j.data),
        }
    }

    pub fn body(&self, index: usize) -> &RigidBody {
        &self.physics.bodies[self.bodies[index]]
    }

    fn parent_pose(&self, info: &JointInfo) -> (Pose, Vector, Vector) {
        match info.parent {
            Some(p) => {
                let rb = self.body(p);
                (*rb.position(), origin_velocity(rb), rb.angvel())
            }
            None => (Pose::identity(), Vector::ZERO, Vector::ZERO),
        }
    }

    /// Joint position: rad (revolute, wrapped to (-π, π]) or m (prismatic).
    pub fn joint_position(&self, info: &JointInfo) -> f32 {
        let (parent, _, _) = self.parent_pose(info);
        let child = self.body(info.child).position();
        match info.kind {
            JointKind::Revolute => {
                // Twist of the relative rotation about the joint axis.
                let rel = parent.rotation.inverse() * child.rotation * info.child_rotation.inverse();
                let along = Vector::new(rel.x, rel.y, rel.z).dot(info.axis);
                let angle = 2.0 * libm::atan2f(along, rel.w);
                wrap_angle(angle)
            }
            JointKind::Prismatic => {
                let a = parent.transform_point(info.anchor_parent);
                let b = child.transform_point(info.anchor_child);
                (b - a).dot(parent.rotation * info.axis)
            }
            JointKind::Fixed | JointKind::Spherical => 0.0,
        }
    }

    /// Joint velocity, rad/s or m/s: the multibody's generalised velocity itself, or for impulse
    /// joints the rate of the joint position from the two bodies' velocities.
    pub fn joint_velocity(&self, joint: usize, info: &JointInfo) -> f32 {
        match self.joints[joint] {
            JointHandle::Multibody(h) => {
                let Some((mb, link)) = self.physics.multibody_joints.get(h) else { return 0.0 };
                mb.link(link).map_or(0.0, |l| {
                    let v = mb.joint_velocity(l);
                    if v.is_empty() { 0.0 } else { v[0] }
                })
            }
            JointHandle::Impulse(_) => {
                let (parent_pose, parent_linvel, parent_angvel) = self.parent_pose(info);
                let parent = BodyState { pose: parent_pose, linvel: parent_linvel, angvel: parent_angvel };
                let rb = self.body(info.child);
                let child = BodyState { pose: *rb.position(), linvel: origin_velocity(rb), angvel: rb.angvel() };
                let axis = parent.pose.rotation * info.axis;
                match info.kind {
                    JointKind::Revolute => (child.angvel - parent.angvel).dot(axis),
                    JointKind::Prismatic => {
                        // d/dt of (b − a)·axis, where the axis turns with the parent.
                        let a = parent.pose.transform_point(info.anchor_parent);
                        let b = child.pose.transform_point(info.anchor_child);
                        (child.velocity_at(b) - parent.velocity_at(a)).dot(axis) + (b - a).dot(parent.angvel.cross(axis))
                    }
                    JointKind::Fixed | JointKind::Spherical => 0.0,
                }
            }
        }
    }

    /// Linear velocity of every body's centre of mass and its angular velocity, world frame.
    ///
    /// Roots come from rapier; joint children are propagated down the tree from the joints'
    /// generalised velocities, because rapier writes a link body's velocity one solver substep
    /// before the end of the step (measured: a cart under constant force read 1.995 m/s where
    /// its joint velocity was 2.000 m/s).
    /// Impulse-jointed bodies are free bodies: rapier's velocities are the state.
    pub fn body_velocities(&self, layout: &Layout, out: &mut Vec<(Vector, Vector)>) {
        out.clear();
        out.extend((0..self.bodies.len()).map(|i| {
            let rb = self.body(i);
            (origin_velocity(rb), rb.angvel())
        }));
        for &j in layout.joint_order.iter().filter(|&&j| matches!(self.joints[j], JointHandle::Multibody(_))) {
            let info = &layout.joints[j];
            let (parent_pose, parent_linvel, parent_angvel) = match info.parent {
                Some(p) => (*self.body(p).position(), out[p].0, out[p].1),
                None => (Pose::identity(), Vector::ZERO, Vector::ZERO),
            };
            let axis = parent_pose.rotation * info.axis;
            let qd = self.joint_velocity(j, info);
            let (angvel, slide_vel) = match info.kind {
                JointKind::Revolute => (parent_angvel + axis * qd, Vector::ZERO),
                JointKind::Prismatic => (parent_angvel, axis * qd),
                // A spherical joint's three rates are not exposed; its child keeps rapier's value.
                JointKind::Spherical => (self.body(info.child).angvel(), Vector::ZERO),
                JointKind::Fixed => (parent_angvel, Vector::ZERO),
            };
            let child = self.body(info.child).position();
            let anchor = child.transform_point(info.anchor_child);
            let parent = BodyState { pose: parent_pose, linvel: parent_linvel, angvel: parent_angvel };
            let linvel = parent.velocity_at(anchor) + slide_vel + angvel.cross(child.translation - anchor);
            out[info.child] = (linvel, angvel);
        }
    }

    /// Applies the actuators for one physics step. Forces are recomputed every physics step so a
    /// thruster follows its body as it turns.
    pub fn apply_actuators(&mut self, spec: &EnvSpec, layout: &Layout, action: &[f32]) {
        // rapier keeps user forces and torques until cleared, and clears them separately.
        for &handle in &self.bodies {
            let rb = &mut self.physics.bodies[handle];
            rb.reset_forces(false);
            rb.reset_torques(false);
        }
        for ((actuator, &index), &a) in spec.actuators.iter().zip(&layout.actuator_targets).zip(action) {
            match actuator {
                Actuator::JointForce { gear, .. } => {
                    let info = &layout.joints[index];
                    let (parent, _, _) = self.parent_pose(info);
                    let f = parent.rotation * info.axis * (a * *gear as f32);
                    let (child, parent) = (self.bodies[info.child], info.parent.map(|p| self.bodies[p]));
                    // A force acts at the joint's anchor on both bodies: applied at the centres
                    // of mass, the pair would also exert a torque on the joints above.
                    let anchor = self.body(info.child).position().transform_point(info.anchor_child);
                    let apply = |rb: &mut RigidBody, f: Vector| match info.kind {
                        JointKind::Revolute => rb.add_torque(f, false),
                        _ => rb.add_force_at_point(f, anchor, false),
                    };
                    apply(&mut self.physics.bodies[child], f);
                    if let Some(p) = parent {
                        apply(&mut self.physics.bodies[p], -f);
                    }
                }
                Actuator::JointVelocity { gear, damping, .. } => {
                    let info = &layout.joints[index];
                    let axis = motor_axis(info.kind);
                    // An impulse joint's own damping rides on its motor: the servo's force
                    // D·(v − q̇) plus −d·q̇ is (D + d)·(D·v/(D + d) − q̇).
                    let d = self.motor_joint_damping(index, info);
                    let (target, gain) = (a * *gear as f32, *damping as f32);
                    if let Some(joint) = self.joint_data_mut(index) {
                        joint.set_motor_velocity(axis, gain * target / (gain + d), gain + d);
                    }
                }
                Actuator::JointPosition { gear, stiffness, damping, .. } => {
                    let info = &layout.joints[index];
                    let axis = motor_axis(info.kind);
                    let d = self.motor_joint_damping(index, info);
                    if let Some(joint) = self.joint_data_mut(index) {
                        joint.set_motor_position(axis, a * *gear as f32, *stiffness as f32, *damping as f32 + d);
                    }
                }
                Actuator::BodyThrust { axis, point, gear, reversible, .. } => {
                    let a = if *reversible { a } else { a.max(0.0) };
                    let rb = &mut self.physics.bodies[self.bodies[index]];
                    let pose = *rb.position();
                    let force = pose.rotation * vec3(*axis).normalize() * (a * *gear as f32);
                    rb.add_force_at_point(force, pose.transform_point(vec3(*point)), false);
                }
            }
        }
    }

    /// The joint damping a servo's motor must carry: an impulse joint's (its only damping is its
    /// motor's); none for a multibody joint, whose damping is per degree of freedom.
    fn motor_joint_damping(&self, index: usize, info: &JointInfo) -> f32 {
        match self.joints[index] {
            JointHandle::Multibody(_) => 0.0,
            JointHandle::Impulse(_) => info.damping,
        }
    }
}

/// Velocity of a body's frame origin, m/s. rapier's linear velocity is its centre of mass's: the
/// same point unless `geoms` or `inertia` moved the centre of mass (then it is converted).
fn origin_velocity(rb: &RigidBody) -> Vector {
    if rb.local_center_of_mass() == Vector::ZERO { rb.linvel() } else { rb.velocity_at_point(rb.translation()) }
}

fn motor_axis(kind: JointKind) -> JointAxis {
    match kind {
        JointKind::Prismatic => JointAxis::LinX,
        _ => JointAxis::AngX,
    }
}

fn wrap_angle(a: f32) -> f32 {
    let two_pi = 2.0 * std::f32::consts::PI;
    let mut a = a % two_pi;
    if a > std::f32::consts::PI {
        a -= two_pi;
    } else if a <= -std::f32::consts::PI {
        a += two_pi;
    }
    a
}

/// How much of a body's mass one of its shapes carries.
#[derive(Debug, Clone, Copy)]
enum MassShare {
    /// This mass, kg.
    Mass(f32),
    /// This density, kg/m³ (0 when an explicit `inertia` carries the mass).
    Density(f32),
}

/// The share of each of a body's shapes: with `mass` and no `inertia`, the mass spread over the
/// shapes in proportion to their volume; otherwise the body's density, or none with `inertia`.
fn mass_shares(body: &Body, geoms: &[Geom]) -> Vec<MassShare> {
    match (body.mass, &body.inertia) {
        // One shape takes the mass exactly (no rounding through a volume).
        (Some(m), None) if geoms.len() == 1 => vec![MassShare::Mass(m as f32)],
        (Some(m), None) => {
            let total: f64 = geoms.iter().map(|g| g.shape.volume()).sum();
            geoms.iter().map(|g| MassShare::Mass((m * g.shape.volume() / total) as f32)).collect()
        }
        (_, Some(_)) => vec![MassShare::Density(0.0); geoms.len()],
        (None, None) => vec![MassShare::Density(body.density.unwrap_or(DEFAULT_DENSITY) as f32); geoms.len()],
    }
}

/// A collider for a shape placed in its body's frame.
fn geom_collider(geom: &Geom) -> ColliderBuilder {
    let f = |x: f64| x as f32;
    let (builder, turn) = match geom.shape {
        Shape::Box { half_extents: [x, y, z] } => (ColliderBuilder::cuboid(f(x), f(y), f(z)), Vector::ZERO),
        Shape::Sphere { radius } => (ColliderBuilder::ball(f(radius)), Vector::ZERO),
        Shape::Capsule { radius, half_length, axis } => (
            match axis {
                Axis::X => ColliderBuilder::capsule_x(f(half_length), f(radius)),
                Axis::Y => ColliderBuilder::capsule_y(f(half_length), f(radius)),
                Axis::Z => ColliderBuilder::capsule_z(f(half_length), f(radius)),
            },
            Vector::ZERO,
        ),
        Shape::Cylinder { radius, half_length, axis } => {
            // rapier's cylinder lies along y; turn it onto the requested axis.
            let half_pi = std::f32::consts::FRAC_PI_2;
            let turn = match axis {
                Axis::X => Vector::new(0.0, 0.0, -half_pi),
                Axis::Y => Vector::ZERO,
                Axis::Z => Vector::new(half_pi, 0.0, 0.0),
            };
            (ColliderBuilder::cylinder(f(half_length), f(radius)), turn)
        }
    };
    let placement = Pose::from_parts(vec3(geom.position), rotation_vector(geom.rotation));
    builder.position(placement * Pose::from_parts(Vector::ZERO, Rotation::from_scaled_axis(turn)))
}

fn joint_data(info: &JointInfo, joint: &rewardsmith_spec::Joint, spec: &EnvSpec) -> GenericJoint {
    let mut data: GenericJoint = match info.kind {
        JointKind::Revolute => RevoluteJointBuilder::new(info.axis).into(),
        JointKind::Prismatic => PrismaticJointBuilder::new(info.axis).into(),
        JointKind::Fixed => FixedJointBuilder::new().into(),
        JointKind::Spherical => SphericalJointBuilder::new().into(),
    };
    data.set_local_anchor1(info.anchor_parent);
    data.set_local_anchor2(info.anchor_child);
    // At position 0 rapier aligns the two joint frames: the child's frame is turned by the
    // inverse of its rotation relative to the parent.
    let mut frame2 = data.local_frame2;
    frame2.rotation = info.child_rotation.inverse() * data.local_frame1.rotation;
    data.set_local_frame2(frame2);
    data.set_contacts_enabled(false);
    let axis = motor_axis(info.kind);
    if let Some([lo, hi]) = joint.limits {
        data.set_limits(axis, [lo as f32, hi as f32]);
    }
    let servo = spec.actuators.iter().find(|a| a.joint() == Some(joint.name.as_str()));
    if matches!(servo, Some(Actuator::JointVelocity { .. } | Actuator::JointPosition { .. })) {
        // Gains in N·m/rad and N·m·s/rad, not scaled by the body's mass.
        data.set_motor_model(axis, MotorModel::ForceBased);
    }
    let impulse = spec.physics.joints == JointModel::Impulse;
    if impulse && servo.is_none() && info.damping > 0.0 && matches!(info.kind, JointKind::Revolute | JointKind::Prismatic) {
        // Impulse joints have no damping of their own: a motor towards zero velocity is one.
        data.set_motor_model(axis, MotorModel::ForceBased);
        data.set_motor_velocity(axis, 0.0, info.damping);
    }
    let max_force = match servo {
        Some(Actuator::JointVelocity { max_force, .. } | Actuator::JointPosition { max_force, .. }) => *max_force,
        _ => None,
    };
    if let Some(f) = max_force {
        data.set_motor_max_force(axis, f as f32);
    }
    data
}

/// Places every body for the given root states and joint coordinates (forward kinematics).
/// `roots[i]` is used for bodies no joint places; `q`/`qd` hold one entry per joint.
pub(crate) fn place_bodies(layout: &Layout, roots: &[BodyState], q: &[f32], qd: &[f32]) -> Vec<BodyState> {
    let mut states = roots.to_vec();
    for &j in &layout.joint_order {
        let info = &layout.joints[j];
        let parent = info.parent.map_or(BodyState::rest(), |p| states[p]);
        let axis_world = parent.pose.rotation * info.axis;
        let (rotation, slide, angvel, slide_vel) = match info.kind {
            JointKind::Revolute => (
                parent.pose.rotation * Rotation::from_scaled_axis(info.axis * q[j]) * info.child_rotation,
                Vector::ZERO,
                parent.angvel + axis_world * qd[j],
                Vector::ZERO,
            ),
            JointKind::Prismatic => (parent.pose.rotation * info.child_rotation, info.axis * q[j], parent.angvel, axis_world * qd[j]),
            JointKind::Fixed | JointKind::Spherical => (parent.pose.rotation * info.child_rotation, Vector::ZERO, parent.angvel, Vector::ZERO),
        };
        // The child's anchor sits at the parent's (slid) anchor.
        let anchor_world = parent.pose.transform_point(info.anchor_parent + slide);
        let translation = anchor_world - rotation * info.anchor_child;
        let linvel = parent.velocity_at(anchor_world) + slide_vel + angvel.cross(translation - anchor_world);
        states[info.child] = BodyState { pose: Pose::from_parts(translation, rotation), linvel, angvel };
    }
    states
}

/// Initial pose of a root body from the spec.
pub(crate) fn root_pose(position: Option<[f64; 3]>, rotation: Option<[f64; 3]>) -> Pose {
    Pose::from_parts(vec3(position.unwrap_or_default()), rotation_vector(rotation.unwrap_or_default()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::f32::consts::PI;

    /// A spec for kinematics tests, zero gravity. Joints, in spec order:
    /// 0 `shoulder`: revolute world → arm about y;
    /// 1 `elbow`: revolute arm → forearm about a skewed axis (the parent is rotated by `shoulder`);
    /// 2 `rail`: prismatic arm → slider along a skewed axis (a rotated parent again);
    /// 3 `hinge`: revolute base → flap, where `base` is a free root body.
    const SPEC: &str = r#"
id = "kinematics"
version = 1
description = "test"
task = "test"
observation = ["q"]
[fitness]
expr = "0.0"
aggregate = "sum"
doc = "none"
[physics]
timestep = 0.01
episode_length = 10
gravity = [0.0, 0.0, 0.0]
[[body]]
name = "arm"
shape = { type = "box", half_extents = [0.05, 0.05, 0.5] }
mass = 1.0
collide = false
[[body]]
name = "forearm"
shape = { type = "box", half_extents = [0.05, 0.05, 0.3] }
mass = 0.5
collide = false
[[body]]
name = "slider"
shape = { type = "box", half_extents = [0.1, 0.1, 0.1] }
mass = 0.3
collide = false
[[body]]
name = "base"
shape = { type = "box", half_extents = [0.2, 0.2, 0.2] }
mass = 2.0
collide = false
position = [1.0, -0.5, 2.0]
rotation = [0.3, -0.2, 0.4]
[[body]]
name = "flap"
shape = { type = "box", half_extents = [0.2, 0.02, 0.1] }
mass = 0.2
collide = false
[[joint]]
name = "shoulder"
kind = "revolute"
parent = "world"
child = "arm"
anchor_parent = [0.0, 0.0, 1.0]
anchor_child = [0.0, 0.0, -0.5]
axis = [0.0, 1.0, 0.0]
[[joint]]
name = "elbow"
kind = "revolute"
parent = "arm"
child = "forearm"
anchor_parent = [0.0, 0.0, 0.5]
anchor_child = [0.0, 0.0, -0.3]
axis = [1.0, 0.0, 1.0]
[[joint]]
name = "rail"
kind = "prismatic"
parent = "arm"
child = "slider"
anchor_parent = [0.1, 0.0, 0.2]
anchor_child = [-0.05, 0.0, 0.0]
axis = [1.0, 1.0, 0.0]
[[joint]]
name = "hinge"
kind = "revolute"
parent = "base"
child = "flap"
anchor_parent = [0.2, 0.0, 0.0]
anchor_child = [-0.2, 0.0, 0.0]
axis = [0.0, 0.0, 1.0]
[[actuator]]
name = "torque"
kind = "joint_force"
joint = "shoulder"
gear = 1.0
[[state]]
name = "q"
source = "joint.shoulder.position"
doc = "angle"
"#;

    fn spec() -> EnvSpec {
        rewardsmith_spec::parse("kinematics.toml", SPEC).unwrap()
    }

    /// Roots from the spec, with the free `base` moving and spinning.
    fn roots(spec: &EnvSpec) -> Vec<BodyState> {
        let mut roots: Vec<BodyState> = spec.bodies.iter().map(|b| BodyState { pose: root_pose(b.position, b.rotation), ..BodyState::rest() }).collect();
        roots[3].linvel = Vector::new(0.3, -0.2, 0.1);
        roots[3].angvel = Vector::new(0.5, 0.1, -0.4);
        roots
    }

    const Q: [f32; 4] = [0.7, -0.4, 0.3, 1.1];
    const QD: [f32; 4] = [0.9, -1.3, 0.6, 2.0];

    fn close(a: Vector, b: Vector, tol: f32) -> bool {
        (a - b).length() <= tol
    }

    fn same_rotation(a: Rotation, b: Rotation, tol: f32) -> bool {
        1.0 - a.dot(b).abs() <= tol
    }

    #[test]
    fn wrap_angle_maps_into_minus_pi_exclusive_to_pi_inclusive() {
        assert_eq!(wrap_angle(PI), PI, "π stays π");
        assert_eq!(wrap_angle(-PI), PI, "-π becomes π");
        assert_eq!(wrap_angle(0.0), 0.0);
        assert_eq!(wrap_angle(1.0), 1.0);
        assert_eq!(wrap_angle(-1.0), -1.0);
        assert_eq!(wrap_angle(PI.next_up()), PI.next_up() - 2.0 * PI);
        assert_eq!(wrap_angle((-PI).next_down()), (-PI).next_down() + 2.0 * PI);
        for k in [-1000i32, -101, -7, -3, -2, -1, 1, 2, 3, 7, 101, 1000] {
            for offset in [-3.0f32, -1.5, -0.25, 0.0, 0.25, 1.5, 3.0] {
                let a = offset + 2.0 * PI * k as f32;
                let w = wrap_angle(a);
                assert!(w > -PI && w <= PI, "wrap_angle({a}) = {w} is outside (-π, π]");
                // The same direction (f32 rounding of large multiples allows a little slack).
                let tol = 1e-6 * a.abs().max(1.0);
                let (a64, w64) = (f64::from(a), f64::from(w));
                assert!((a64.sin() - w64.sin()).abs() < f64::from(tol), "wrap_angle({a}) = {w}: sin differs");
                assert!((a64.cos() - w64.cos()).abs() < f64::from(tol), "wrap_angle({a}) = {w}: cos differs");
            }
        }
        // Odd multiples of π land on π (or the float just below it), never on -π.
        for k in [-5i32, -3, 3, 5, 31] {
            let w = wrap_angle(PI * k as f32);
            assert!(w > -PI && w <= PI && (w.abs() - PI).abs() < 1e-4, "wrap_angle({k}π) = {w}");
        }
    }

    #[test]
    fn layout_orders_parents_before_children() {
        let spec = spec();
        let layout = Layout::new(&spec);
        assert_eq!(layout.joint_order.len(), 4);
        for (pos, &j) in layout.joint_order.iter().enumerate() {
            if let Some(parent) = layout.joints[j].parent {
                let placed_by = layout.joints.iter().position(|x| x.child == parent);
                if let Some(pj) = placed_by {
                    let ppos = layout.joint_order.iter().position(|&x| x == pj).unwrap();
                    assert!(ppos < pos, "joint {j} comes before the joint that places its parent");
                }
            }
        }
        // Axes are normalised.
        for info in &layout.joints {
            assert!((info.axis.length() - 1.0).abs() < 1e-6);
        }
    }

    #[test]
    fn place_bodies_puts_child_anchor_on_parent_anchor() {
        let spec = spec();
        let layout = Layout::new(&spec);
        let states = place_bodies(&layout, &roots(&spec), &Q, &QD);
        for (j, info) in layout.joints.iter().enumerate() {
            let parent = info.parent.map_or(BodyState::rest(), |p| states[p]);
            let child = states[info.child];
            let slide = if info.kind == JointKind::Prismatic { info.axis * Q[j] } else { Vector::ZERO };
            let on_parent = parent.pose.transform_point(info.anchor_parent + slide);
            let on_child = child.pose.transform_point(info.anchor_child);
            assert!(close(on_parent, on_child, 1e-5), "joint {j}: anchors {on_parent:?} vs {on_child:?}");
            // Relative rotation: about the axis by q (revolute) or none (prismatic).
            let rel = parent.pose.rotation.inverse() * child.pose.rotation;
            let expected = match info.kind {
                JointKind::Revolute => Rotation::from_scaled_axis(info.axis * Q[j]),
                _ => Rotation::IDENTITY,
            };
            assert!(same_rotation(rel, expected, 1e-6), "joint {j}: relative rotation {rel:?}");
        }
        // The arm really is rotated, so the two-level joints test a rotated parent frame.
        assert!(!same_rotation(states[0].pose.rotation, Rotation::IDENTITY, 1e-3));
    }

    #[test]
    fn place_bodies_gives_child_the_velocity_of_its_anchor_point() {
        let spec = spec();
        let layout = Layout::new(&spec);
        let states = place_bodies(&layout, &roots(&spec), &Q, &QD);
        for (j, info) in layout.joints.iter().enumerate() {
            let parent = info.parent.map_or(BodyState::rest(), |p| states[p]);
            let child = states[info.child];
            let anchor = child.pose.transform_point(info.anchor_child);
            let axis_world = parent.pose.rotation * info.axis;
            let (slide_vel, spin) = match info.kind {
                JointKind::Prismatic => (axis_world * QD[j], Vector::ZERO),
                _ => (Vector::ZERO, axis_world * QD[j]),
            };
            let from_parent = parent.velocity_at(anchor) + slide_vel;
            let from_child = child.velocity_at(anchor);
            assert!(close(from_parent, from_child, 1e-5), "joint {j}: anchor velocity {from_parent:?} vs {from_child:?}");
            assert!(close(child.angvel, parent.angvel + spin, 1e-6), "joint {j}: angular velocity");
        }
    }

    /// Velocities from forward kinematics agree with finite differences of the placed poses, an
    /// independent check of the velocity formulas.
    #[test]
    fn place_bodies_velocities_match_finite_differences() {
        let spec = spec();
        let layout = Layout::new(&spec);
        let roots = roots(&spec);
        let h = 1e-3f32;
        let at = |t: f32| {
            let q: Vec<f32> = Q.iter().zip(QD).map(|(q, qd)| q + qd * t).collect();
            let moved: Vec<BodyState> = roots
                .iter()
                .map(|r| BodyState {
                    pose: Pose::from_parts(r.pose.translation + r.linvel * t, Rotation::from_scaled_axis(r.angvel * t) * r.pose.rotation),
                    ..*r
                })
                .collect();
            place_bodies(&layout, &moved, &q, &QD)
        };
        let (now, before, after) = (at(0.0), at(-h), at(h));
        for b in 0..now.len() {
            let linvel = (after[b].pose.translation - before[b].pose.translation) / (2.0 * h);
            assert!(close(linvel, now[b].linvel, 2e-3), "body {b}: linvel {:?}, differences give {linvel:?}", now[b].linvel);
            let turn = after[b].pose.rotation * before[b].pose.rotation.inverse();
            let angvel = turn.to_scaled_axis() / (2.0 * h);
            assert!(close(angvel, now[b].angvel, 2e-3), "body {b}: angvel {:?}, differences give {angvel:?}", now[b].angvel);
        }
    }

    #[test]
    fn built_world_reads_back_the_joint_coordinates_it_was_given() {
        for model in [JointModel::Multibody, JointModel::Impulse] {
            let mut spec = spec();
            spec.physics.joints = model;
            reads_back_joint_coordinates(&spec);
            // Children turned relative to their parents at position 0, as imported links are.
            for (j, turn) in spec.joints.iter_mut().zip([[0.0, 0.0, 0.5], [0.3, -0.2, 0.1], [1.2, 0.0, 0.0], [0.0, -2.0, 0.4]]) {
                j.child_rotation = turn;
            }
            reads_back_joint_coordinates(&spec);
        }
    }

    fn reads_back_joint_coordinates(spec: &EnvSpec) {
        let layout = Layout::new(spec);
        for (q, qd) in [(Q, QD), ([-2.5, 2.9, -0.45, -3.0], [0.0, 0.5, -1.0, 0.25]), ([0.0; 4], [0.0; 4])] {
            let states = place_bodies(&layout, &roots(spec), &q, &qd);
            let world = World::build(spec, &layout, &states, &q, &qd);
            for (j, info) in layout.joints.iter().enumerate() {
                let read = world.joint_position(info);
                assert!((read - q[j]).abs() < 1e-5, "joint {j} ({:?}): built at {}, read {read}", info.kind, q[j]);
                let velocity = world.joint_velocity(j, info);
                match spec.physics.joints {
                    JointModel::Multibody => assert_eq!(velocity, qd[j], "joint {j}: velocity"),
                    // Recomputed from the two bodies' velocities: equal up to rounding.
                    JointModel::Impulse => {
                        assert!((velocity - qd[j]).abs() < 1e-5, "joint {j}: velocity {velocity} vs {}", qd[j])
                    }
                }
            }
            // rapier's forward kinematics places the bodies where ours does.
            for (b, state) in states.iter().enumerate() {
                let pose = world.body(b).position();
                assert!(close(pose.translation, state.pose.translation, 1e-5), "body {b}: {pose:?} vs {:?}", state.pose);
                assert!(same_rotation(pose.rotation, state.pose.rotation, 1e-6), "body {b}: rotation");
            }
            let mut velocities = Vec::new();
            world.body_velocities(&layout, &mut velocities);
            for (b, (state, (linvel, angvel))) in states.iter().zip(&velocities).enumerate() {
                assert!(close(*linvel, state.linvel, 1e-5), "body {b}: linvel {linvel:?} vs {:?}", state.linvel);
                assert!(close(*angvel, state.angvel, 1e-5), "body {b}: angvel {angvel:?} vs {:?}", state.angvel);
            }
        }
    }

    impl World {
        fn body_velocities_for_test(&self) -> Vec<(Vector, Vector)> {
            let spec = rewardsmith_spec::parse("kinematics.toml", SPEC).unwrap();
            let mut out = Vec::new();
            self.body_velocities(&Layout::new(&spec), &mut out);
            out
        }
    }

    /// Builds the kinematics world with `base` fixed or free, checks that `base` and `flap` end
    /// up where the spec and forward kinematics put them, and returns the world and the states.
    fn build_with_root(fixed: bool) -> (EnvSpec, World, Vec<BodyState>) {
        let text = if fixed { SPEC.replace("mass = 2.0\n", "mass = 2.0\nfixed = true\n") } else { SPEC.to_owned() };
        let spec = rewardsmith_spec::parse("kinematics.toml", &text).unwrap();
        assert_eq!(spec.bodies[3].fixed, fixed);
        let layout = Layout::new(&spec);
        let mut roots = roots(&spec);
        if fixed {
            roots[3] = BodyState { pose: roots[3].pose, ..BodyState::rest() };
        }
        let states = place_bodies(&layout, &roots, &Q, &QD);
        let world = World::build(&spec, &layout, &states, &Q, &QD);
        for b in [3, 4] {
            let pose = world.body(b).position();
            assert!(close(pose.translation, states[b].pose.translation, 1e-5), "body {b}: {pose:?} vs {:?}", states[b].pose);
            assert!(same_rotation(pose.rotation, states[b].pose.rotation, 1e-6), "body {b}: rotation");
        }
        (spec, world, states)
    }

    /// Guards the one-line fix in `set_coordinates` (`forward_kinematics(.., true)`): before it,
    /// rapier took a root body's pose from the multibody's root joint, which starts at the
    /// identity, so a root body with joint children was moved to the origin.
    #[test]
    fn fixed_root_body_with_joint_children_keeps_its_pose() {
        build_with_root(true);
    }

    #[test]
    fn free_root_body_with_joint_children_keeps_its_pose() {
        build_with_root(false);
    }

    #[test]
    fn free_root_body_with_joint_children_keeps_its_reset_velocity() {
        let (spec, mut world, states) = build_with_root(false);
        // Zero gravity, no contacts: the base drifts with its reset velocity.
        world.physics.step();
        let moved = world.body(3).translation() - states[3].pose.translation;
        let expected = states[3].linvel * spec.physics.timestep as f32;
        assert!(close(moved, expected, 1e-4), "base moved {moved:?} in one step, expected {expected:?}");
        // Nor does it lose its spin: rapier's default damping on a free root's rotations (0.1)
        // brought it to a near stop; undamped, the children only trade some of it.
        let spin = states[3].angvel.length();
        assert!(spin > 0.1, "the test needs a spinning base, got {spin}");
        for _ in 0..100 {
            world.physics.step();
        }
        let now = world.body_velocities_for_test()[3].1.length();
        assert!(now > 0.3 * spin, "base spin fell from {spin} to {now} rad/s");
    }
}
