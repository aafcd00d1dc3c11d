//! Building a rapier3d world from a spec, placing bodies by forward kinematics, applying actuators
//! and reading joint coordinates back from body poses.
//!
//! Joints are rapier multibody joints (reduced coordinates): a chain is integrated in its joint
//! coordinates, so joints never drift apart and no iterative joint solve is needed (measured on
//! cartpole: see BENCHMARKS.md). Joint coordinates are read back from the two bodies' poses, with
//! the convention of `spec::Joint`: at position 0 the child has the parent's orientation and the
//! anchors coincide; rapier's multibody coordinates use the same convention.

use crate::math::{rotation_vector, vec3};
use rapier3d::prelude::*;
use rewardsmith_spec::{Actuator, Axis, EnvSpec, JointKind, Shape, WORLD};

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
        Self { joints, joint_order }
    }
}

/// One rapier world built from a spec, with handles in spec order.
pub(crate) struct World {
    pub physics: PhysicsWorld,
    pub bodies: Vec<RigidBodyHandle>,
    pub joints: Vec<MultibodyJointHandle>,
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
            let rb = builder.pose(state.pose).linvel(state.linvel).angvel(state.angvel).can_sleep(false);
            let handle = physics.bodies.insert(rb);
            let mut collider = shape_collider(&body.shape).friction(body.friction as f32);
            collider = match body.mass {
                Some(m) => collider.mass(m as f32),
                None => collider.density(body.density as f32),
            };
            if !body.collide {
                collider = collider.collision_groups(InteractionGroups::new(
                    Group::NONE,
                    Group::NONE,
                    InteractionTestMode::And,
                ));
            }
            physics.colliders.insert_with_parent(collider, handle, &mut physics.bodies);
            bodies.push(handle);
        }

        let mut joints = Vec::with_capacity(layout.joints.len());
        for &j in &layout.joint_order {
            let info = &layout.joints[j];
            let parent = info.parent.map_or(world_body, |p| bodies[p]);
            let data = joint_data(info, &spec.joints[j], spec);
            let handle = physics
                .multibody_joints
                .insert(parent, bodies[info.child], data, true)
                .expect("validated: joints form a forest, so no joint closes a loop");
            joints.push((j, handle));
        }
        joints.sort_by_key(|(j, _)| *j);
        let joints: Vec<MultibodyJointHandle> = joints.into_iter().map(|(_, h)| h).collect();
        let mut world = Self { physics, bodies, joints };
        world.set_coordinates(layout, states, q, qd);
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
            mb.forward_kinematics(&self.physics.bodies, false);
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
        let (mb, link) = self.physics.multibody_joints.get_mut(self.joints[index])?;
        mb.link_mut(link).map(|l| &mut l.joint.data)
    }

    pub fn body(&self, index: usize) -> &RigidBody {
        &self.physics.bodies[self.bodies[index]]
    }

    fn parent_pose(&self, info: &JointInfo) -> (Pose, Vector, Vector) {
        match info.parent {
            Some(p) => {
                let rb = self.body(p);
                (*rb.position(), rb.linvel(), rb.angvel())
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
                let rel = parent.rotation.inverse() * child.rotation;
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

    /// Joint velocity, rad/s or m/s: the multibody's generalised velocity itself.
    pub fn joint_velocity(&self, joint: usize) -> f32 {
        let Some((mb, link)) = self.physics.multibody_joints.get(self.joints[joint]) else { return 0.0 };
        mb.link(link).map_or(0.0, |l| {
            let v = mb.joint_velocity(l);
            if v.is_empty() { 0.0 } else { v[0] }
        })
    }

    /// Linear velocity of every body's centre of mass and its angular velocity, world frame.
    ///
    /// Roots come from rapier; joint children are propagated down the tree from the joints'
    /// generalised velocities, because rapier writes a link body's velocity one solver substep
    /// before the end of the step (measured: a cart under constant force read 1.995 m/s where
    /// its joint velocity was 2.000 m/s).
    pub fn body_velocities(&self, layout: &Layout, out: &mut Vec<(Vector, Vector)>) {
        out.clear();
        out.extend((0..self.bodies.len()).map(|i| {
            let rb = self.body(i);
            (rb.linvel(), rb.angvel())
        }));
        for &j in &layout.joint_order {
            let info = &layout.joints[j];
            let (parent_pose, parent_linvel, parent_angvel) = match info.parent {
                Some(p) => (*self.body(p).position(), out[p].0, out[p].1),
                None => (Pose::identity(), Vector::ZERO, Vector::ZERO),
            };
            let axis = parent_pose.rotation * info.axis;
            let qd = self.joint_velocity(j);
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
        for (actuator, &a) in spec.actuators.iter().zip(action) {
            match actuator {
                Actuator::JointForce { joint, gear, .. } => {
                    let index = joint_index(spec, joint);
                    let info = &layout.joints[index];
                    let (parent, _, _) = self.parent_pose(info);
                    let f = parent.rotation * info.axis * (a * *gear as f32);
                    let (child, parent) = (self.bodies[info.child], info.parent.map(|p| self.bodies[p]));
                    let apply = |rb: &mut RigidBody, f: Vector| match info.kind {
                        JointKind::Revolute => rb.add_torque(f, false),
                        _ => rb.add_force(f, false),
                    };
                    apply(&mut self.physics.bodies[child], f);
                    if let Some(p) = parent {
                        apply(&mut self.physics.bodies[p], -f);
                    }
                }
                Actuator::JointVelocity { joint, gear, damping, .. } => {
                    let index = joint_index(spec, joint);
                    let axis = motor_axis(layout.joints[index].kind);
                    if let Some(joint) = self.joint_data_mut(index) {
                        joint.set_motor_velocity(axis, a * *gear as f32, *damping as f32);
                    }
                }
                Actuator::JointPosition { joint, gear, stiffness, damping, .. } => {
                    let index = joint_index(spec, joint);
                    let axis = motor_axis(layout.joints[index].kind);
                    if let Some(joint) = self.joint_data_mut(index) {
                        joint.set_motor_position(axis, a * *gear as f32, *stiffness as f32, *damping as f32);
                    }
                }
                Actuator::BodyThrust { body, axis, point, gear, reversible, .. } => {
                    let index = spec.bodies.iter().position(|b| &b.name == body).expect("validated");
                    let a = if *reversible { a } else { a.max(0.0) };
                    let rb = &mut self.physics.bodies[self.bodies[index]];
                    let pose = *rb.position();
                    let force = pose.rotation * vec3(*axis).normalize() * (a * *gear as f32);
                    rb.add_force_at_point(force, pose.transform_point(vec3(*point)), false);
                }
            }
        }
    }
}

fn joint_index(spec: &EnvSpec, name: &str) -> usize {
    spec.joints.iter().position(|j| j.name == name).expect("validated: actuator joint exists")
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

fn shape_collider(shape: &Shape) -> ColliderBuilder {
    let f = |x: f64| x as f32;
    match *shape {
        Shape::Box { half_extents: [x, y, z] } => ColliderBuilder::cuboid(f(x), f(y), f(z)),
        Shape::Sphere { radius } => ColliderBuilder::ball(f(radius)),
        Shape::Capsule { radius, half_length, axis } => match axis {
            Axis::X => ColliderBuilder::capsule_x(f(half_length), f(radius)),
            Axis::Y => ColliderBuilder::capsule_y(f(half_length), f(radius)),
            Axis::Z => ColliderBuilder::capsule_z(f(half_length), f(radius)),
        },
        Shape::Cylinder { radius, half_length, axis } => {
            // rapier's cylinder lies along y; turn it onto the requested axis.
            let half_pi = std::f32::consts::FRAC_PI_2;
            let turn = match axis {
                Axis::X => Vector::new(0.0, 0.0, -half_pi),
                Axis::Y => Vector::ZERO,
                Axis::Z => Vector::new(half_pi, 0.0, 0.0),
            };
            ColliderBuilder::cylinder(f(half_length), f(radius)).rotation(turn)
        }
    }
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
                parent.pose.rotation * Rotation::from_scaled_axis(info.axis * q[j]),
                Vector::ZERO,
                parent.angvel + axis_world * qd[j],
                Vector::ZERO,
            ),
            JointKind::Prismatic => {
                (parent.pose.rotation, info.axis * q[j], parent.angvel, axis_world * qd[j])
            }
            JointKind::Fixed | JointKind::Spherical => {
                (parent.pose.rotation, Vector::ZERO, parent.angvel, Vector::ZERO)
            }
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
