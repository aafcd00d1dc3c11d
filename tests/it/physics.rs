//! Physics against closed-form answers: the worlds built from env files move as mechanics says.

use rewardsmith_sim::{Env, EnvModel};
use rewardsmith_spec::LoadedSpec;
use std::sync::Arc;

fn model(text: &str) -> Arc<EnvModel> {
    EnvModel::new(&LoadedSpec::from_text("test.toml", text).unwrap()).unwrap()
}

fn float(env: &Env, index: usize) -> f64 {
    match &env.state().data().values[index] {
        rewardsmith_script::Value::Float(x) => *x,
        other => panic!("state {index} is {other:?}"),
    }
}

const HEADER: &str = r#"
id = "test"
version = 1
description = "test"
task = "test"
observation = ["q"]
[fitness]
expr = "0.0"
aggregate = "sum"
doc = "none"
"#;

/// A 1 kg sphere of radius 5 cm on a 1 m arm: a near-ideal pendulum.
fn pendulum(initial: f64, timestep: f64) -> Arc<EnvModel> {
    pendulum_with(initial, timestep, "multibody", 1)
}

/// The pendulum with the given `[physics] joints` and solver iterations.
fn pendulum_with(initial: f64, timestep: f64, joints: &str, iterations: u32) -> Arc<EnvModel> {
    model(&format!(
        r#"{HEADER}
[physics]
timestep = {timestep}
solver_iterations = {iterations}
joints = "{joints}"
episode_length = 100000
[[body]]
name = "bob"
shape = {{ type = "sphere", radius = 0.05 }}
mass = 1.0
collide = false
[[joint]]
name = "hinge"
kind = "revolute"
parent = "world"
child = "bob"
anchor_child = [0.0, 0.0, -1.0]
axis = [0.0, 1.0, 0.0]
initial_position = {initial}
[[site]]
name = "centre"
body = "bob"
[[actuator]]
name = "torque"
kind = "joint_force"
joint = "hinge"
gear = 1.0
[[state]]
name = "q"
source = "joint.hinge.position"
doc = "angle"
[[state]]
name = "bob"
source = "site.centre.position"
doc = "bob position"
"#
    ))
}

#[test]
fn joint_position_reads_back_what_reset_placed() {
    for q in [0.0, 0.3, -1.2, 2.9, -3.1] {
        let mut env = Env::new(pendulum(q, 0.01), None).unwrap();
        env.reset(0).unwrap();
        assert!((float(&env, 0) - q).abs() < 1e-6, "placed at {q}, read {}", float(&env, 0));
        // Rotating +q about +y from upright moves the bob towards +x: (sin q, 0, cos q).
        let rewardsmith_script::Value::Vec3(bob) = &env.state().data().values[1] else { panic!() };
        assert!((bob.x - q.sin()).abs() < 1e-5 && (bob.z - q.cos()).abs() < 1e-5, "q = {q}: bob at {bob:?}");
    }
}

#[test]
fn small_swings_of_a_pendulum_have_the_textbook_period() {
    // Multibody joints are exact; impulse joints stretch a little, so they get solver iterations.
    for (joints, iterations) in [("multibody", 1), ("impulse", 4)] {
        let period = small_swing_period(pendulum_with(std::f64::consts::PI - 0.05, 0.002, joints, iterations));
        // T = 2π √(I / (m g d)), I = 2/5 m r² + m d² about the hinge.
        let inertia = 0.4 * 0.05 * 0.05 + 1.0;
        let expected = 2.0 * std::f64::consts::PI * (inertia / 9.81f64).sqrt();
        assert!((period - expected).abs() / expected < 0.01, "{joints}: period {period:.4} s, expected {expected:.4} s");
    }
}

/// Period (s) of a pendulum released 0.05 rad from hanging, over its first swings.
fn small_swing_period(model: Arc<EnvModel>) -> f64 {
    let dt = model.spec().physics.timestep;
    let mut env = Env::new(model, None).unwrap();
    env.reset(0).unwrap();
    let deviation = |env: &Env| {
        let q = float(env, 0);
        if q > 0.0 { q - std::f64::consts::PI } else { q + std::f64::consts::PI }
    };
    let mut crossings = Vec::new();
    let mut previous = deviation(&env);
    for step in 1..=6000 {
        env.step(&[0.0]).unwrap();
        let now = deviation(&env);
        if previous < 0.0 && now >= 0.0 {
            crossings.push(step as f64 * dt);
        }
        previous = now;
    }
    assert!(crossings.len() >= 4, "the pendulum swings: {crossings:?}");
    (crossings[crossings.len() - 1] - crossings[0]) / (crossings.len() - 1) as f64
}

#[test]
fn a_pushed_cart_accelerates_at_force_over_mass() {
    let m = model(&format!(
        r#"{HEADER}
[physics]
timestep = 0.01
episode_length = 1000
gravity = [0.0, 0.0, 0.0]
[[body]]
name = "cart"
shape = {{ type = "box", half_extents = [0.2, 0.1, 0.1] }}
mass = 2.0
collide = false
[[joint]]
name = "slider"
kind = "prismatic"
parent = "world"
child = "cart"
axis = [1.0, 0.0, 0.0]
[[actuator]]
name = "push"
kind = "joint_force"
joint = "slider"
gear = 4.0
[[state]]
name = "q"
source = "joint.slider.position"
doc = "position"
[[state]]
name = "v"
source = "joint.slider.velocity"
doc = "velocity"
[[state]]
name = "body_v"
source = "body.cart.linvel"
doc = "velocity of the cart body"
"#
    ));
    let mut env = Env::new(m, None).unwrap();
    env.reset(0).unwrap();
    for _ in 0..100 {
        env.step(&[1.0]).unwrap();
    }
    // a = 4 N / 2 kg = 2 m/s²; after 1 s: v = 2 m/s and x = 1 m, plus the first-order error of
    // semi-implicit Euler over rapier's 4 solver substeps per step: x = a h² n (n + 1) / 2 with
    // h = 0.0025 s, n = 400, i.e. 1.0025 m.
    let (x, v) = (float(&env, 0), float(&env, 1));
    assert!((v - 2.0).abs() < 1e-4, "v = {v} (x = {x})");
    assert!((x - 1.0025).abs() < 1e-4, "x = {x}");
    // Guards the link-velocity lag: rapier writes a multibody link's body velocity one solver
    // substep early, which read 1.995 m/s here.
    let rewardsmith_script::Value::Vec3(body_v) = &env.state().data().values[2] else { panic!() };
    assert!((body_v.x - 2.0).abs() < 1e-4, "body linvel {body_v:?}");
}

