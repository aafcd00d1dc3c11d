//! Physics against closed-form answers: the worlds built from env files move as mechanics says.

use crate::support::ENV_HEADER as HEADER;
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

/// A 1 kg sphere of radius 5 cm on a 1 m arm: a near-ideal pendulum.
fn pendulum(initial: f64, timestep: f64) -> Arc<EnvModel> {
    pendulum_with(initial, timestep, "multibody", 1)
}

/// The pendulum with the given `[physics] joints` and solver iterations.
fn pendulum_with(initial: f64, timestep: f64, joints: &str, iterations: u32) -> Arc<EnvModel> {
    let bob = r#"[[body]]
name = "bob"
shape = { type = "sphere", radius = 0.05 }
mass = 1.0
collide = false"#;
    hinged(bob, "[0.0, 0.0, -1.0]", initial, timestep, joints, iterations)
}

/// A body `bob` (given as TOML) on a hinge from the world at the origin about y, its anchor at
/// `anchor_child` in its frame; states `q` (the angle) and `bob` (the body origin's position).
fn hinged(bob: &str, anchor_child: &str, initial: f64, timestep: f64, joints: &str, iterations: u32) -> Arc<EnvModel> {
    model(&format!(
        r#"{HEADER}
[physics]
timestep = {timestep}
solver_iterations = {iterations}
joints = "{joints}"
episode_length = 100000
{bob}
[[joint]]
name = "hinge"
kind = "revolute"
parent = "world"
child = "bob"
anchor_child = {anchor_child}
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

/// A pendulum whose swinging body and hinge anchor are given as TOML, released 0.05 rad from
/// hanging.
fn custom_pendulum(bob: &str, anchor_child: &str) -> Arc<EnvModel> {
    hinged(bob, anchor_child, std::f64::consts::PI - 0.05, 0.002, "multibody", 1)
}

#[test]
fn a_shape_placed_off_the_origin_swings_like_the_same_shape_on_an_arm() {
    // The sphere 1 m below the body's origin, and the body's origin at the hinge: the bob of
    // `pendulum` by other means, so the same period.
    let placed = custom_pendulum(
        r#"[[body]]
name = "bob"
geoms = [{ shape = { type = "sphere", radius = 0.05 }, position = [0.0, 0.0, 1.0] }]
mass = 1.0
collide = false"#,
        "[0.0, 0.0, 0.0]",
    );
    let reference = small_swing_period(pendulum(std::f64::consts::PI - 0.05, 0.002));
    let period = small_swing_period(placed);
    assert!((period - reference).abs() < 1e-3, "placed geom: {period:.4} s, body-centred shape: {reference:.4} s");
}

#[test]
fn an_explicit_inertia_sets_the_period() {
    // A massive point-like body with a given inertia about its centre of mass, 0.5 m from the
    // hinge: T = 2π √((I + m d²) / (m g d)).
    let (m, d, inertia): (f64, f64, f64) = (2.0, 0.5, 0.3);
    let period = small_swing_period(custom_pendulum(
        &format!(
            r#"[[body]]
name = "bob"
mass = {m}
inertia = {{ principal = [{inertia}, {inertia}, {inertia}] }}
collide = false"#
        ),
        &format!("[0.0, 0.0, -{d}]"),
    ));
    let expected = 2.0 * std::f64::consts::PI * ((inertia + m * d * d) / (m * 9.81 * d)).sqrt();
    assert!((period - expected).abs() / expected < 0.01, "period {period:.4} s, expected {expected:.4} s");
}

/// Height (m) of a 5 cm ball dropped from 0.3 m onto a ground box, after 1 s, with the given
/// contact bits (contype, conaffinity) on the ball and on the ground.
fn ball_height_after_drop(ball: (u32, u32), ground: (u32, u32)) -> f64 {
    let m = model(&format!(
        r#"{HEADER}
[physics]
timestep = 0.01
episode_length = 1000
[[body]]
name = "ground"
shape = {{ type = "box", half_extents = [1.0, 1.0, 0.1] }}
position = [0.0, 0.0, -0.1]
fixed = true
contype = {}
conaffinity = {}
[[body]]
name = "ball"
shape = {{ type = "sphere", radius = 0.05 }}
position = [0.0, 0.0, 0.3]
contype = {}
conaffinity = {}
[[actuator]]
name = "push"
kind = "body_thrust"
body = "ball"
axis = [1.0, 0.0, 0.0]
gear = 0.0
[[state]]
name = "q"
source = "body.ball.position"
doc = "ball position"
"#,
        ground.0, ground.1, ball.0, ball.1
    ));
    let mut env = Env::new(m, None).unwrap();
    env.reset(0).unwrap();
    for _ in 0..100 {
        env.step(&[0.0]).unwrap();
    }
    let rewardsmith_script::Value::Vec3(p) = &env.state().data().values[0] else { panic!() };
    p.z
}

#[test]
fn contact_filtering_follows_mujocos_contype_conaffinity_rule() {
    // MuJoCo: two geoms touch when (contype₁ & conaffinity₂) ≠ 0 or (contype₂ & conaffinity₁) ≠ 0.
    let cases = [
        ((1, 1), (1, 1), true),  // the default: everything touches
        ((2, 0), (0, 2), true),  // only the ball's type meets the ground's affinity
        ((0, 1), (1, 0), true),  // only the ground's type meets the ball's affinity
        ((2, 0), (1, 1), false), // neither direction shares a bit
        ((2, 2), (1, 1), false),
        ((0, 0), (1, 1), false), // a visual-only shape
        ((3, 0), (0, 1), true),  // any shared bit is enough
    ];
    for (ball, ground, touches) in cases {
        let z = ball_height_after_drop(ball, ground);
        let rests = (z - 0.05).abs() < 0.01;
        assert_eq!(rests, touches, "ball {ball:?} on ground {ground:?}: ball at z = {z:.3} m");
        if !touches {
            assert!(z < -1.0, "ball {ball:?} falls through ground {ground:?}: z = {z:.3} m");
        }
    }
}
