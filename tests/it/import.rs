//! Robot models from URDF and MJCF files: the built-in envs that use them move like the same
//! robots written as env-file bodies, and MJCF numbers match MuJoCo's.

use crate::support::{ENV_HEADER, repo};
use rewardsmith_script::Value;
use rewardsmith_sim::{Env, EnvModel};
use rewardsmith_spec::{LoadedSpec, catalog};
use std::sync::Arc;

fn builtin(id: &str) -> Arc<EnvModel> {
    EnvModel::new(&catalog::resolve(id).unwrap()).unwrap()
}

fn fixture(name: &str) -> Arc<EnvModel> {
    EnvModel::new(&rewardsmith_spec::load(&repo().join("tests/fixtures").join(name)).unwrap()).unwrap()
}

fn vec3(env: &Env, name: &str) -> [f64; 3] {
    let i = env.model().spec().state.iter().position(|v| v.name == name).unwrap();
    match &env.state().data().values[i] {
        Value::Vec3(v) => [v.x, v.y, v.z],
        other => panic!("{name} is {other:?}"),
    }
}

/// Steps both envs from the same seed with the same pseudo-random actions and checks that the
/// state variable `watched` stays within `tolerance` (m) for `steps` steps.
fn same_motion(imported: Arc<EnvModel>, native: Arc<EnvModel>, watched: &str, steps: usize, tolerance: f64) {
    let (mut a, mut b) = (Env::new(imported, None).unwrap(), Env::new(native, None).unwrap());
    a.reset(3).unwrap();
    b.reset(3).unwrap();
    let mut worst = 0.0f64;
    for t in 0..steps {
        let action: Vec<f32> = (0..a.model().spec().action_dim()).map(|k| ((t * 7 + k * 3) % 11) as f32 / 5.0 - 1.0).collect();
        let ended_a = a.step(&action).unwrap().terminated;
        let ended_b = b.step(&action).unwrap().terminated;
        assert_eq!(ended_a, ended_b, "step {t}: one episode ended and not the other");
        let (pa, pb) = (vec3(&a, watched), vec3(&b, watched));
        let gap = (0..3).map(|k| (pa[k] - pb[k]).abs()).fold(0.0, f64::max);
        worst = worst.max(gap);
        assert!(gap < tolerance, "step {t}: {watched} {pa:?} (imported) vs {pb:?} (native)");
        if ended_a {
            break;
        }
    }
    assert!(worst > 0.0 || steps == 0, "the two runs are the same object");
}

#[test]
fn urdf_ball_balance_moves_like_its_env_file_definition() {
    same_motion(builtin("ball-balance"), fixture("ball-balance-native.toml"), "ball_position", 80, 2e-3);
}

#[test]
fn mjcf_pusher_moves_like_its_env_file_definition() {
    // The MJCF arm's links have their frames at the joints (the env file's at their centres), and
    // the reset draws the same angles through other expressions: equal up to f32 rounding.
    same_motion(builtin("pusher"), fixture("pusher-native.toml"), "fingertip", 100, 2e-3);
}

#[test]
fn imported_models_are_part_of_the_env_hash() {
    // An edited model file changes the env's hash, so replays of older rollouts notice.
    let dir = tempfile::tempdir().unwrap();
    let env = dir.path().join("pusher.toml");
    std::fs::create_dir(dir.path().join("assets")).unwrap();
    std::fs::copy(repo().join("environments/pusher.toml"), &env).unwrap();
    let xml = std::fs::read_to_string(repo().join("environments/assets/pusher.xml")).unwrap();
    std::fs::write(dir.path().join("assets/pusher.xml"), &xml).unwrap();
    let before = rewardsmith_spec::load(&env).unwrap().hash;
    assert_eq!(before, catalog::resolve("pusher").unwrap().hash, "same files, same hash");
    std::fs::write(dir.path().join("assets/pusher.xml"), xml.replace("damping=\"0.1\"", "damping=\"0.2\"")).unwrap();
    assert_ne!(rewardsmith_spec::load(&env).unwrap().hash, before);
}

/// The env-file text of a one-robot environment around a model file `model` (in `[model]`).
fn with_model(model: &str) -> String {
    format!(
        r#"{ENV_HEADER}{model}
[physics]
timestep = 0.01
episode_length = 100
[[actuator]]
name = "motor"
kind = "joint_force"
joint = "hinge"
gear = 1.0
[[state]]
name = "q"
source = "joint.hinge.position"
doc = "angle"
"#
    )
}

/// Loads `env_text` from a folder holding `file` with `content`; the error message, if any.
fn load_error(env_text: &str, file: &str, content: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(file), content).unwrap();
    let path = dir.path().join("env.toml");
    std::fs::write(&path, env_text).unwrap();
    let message = rewardsmith_spec::load(&path).map(|_| ()).unwrap_err().to_string();
    message.replace(&dir.path().display().to_string(), "DIR")
}

const URDF_HINGE: &str = r#"<robot name="r">
  <link name="base"/>
  <link name="arm"><inertial><mass value="1"/><inertia ixx="0.1" iyy="0.1" izz="0.1" ixy="0" ixz="0" iyz="0"/></inertial>
    GEOMETRY</link>
  <joint name="hinge" type="JOINT"><parent link="base"/><child link="arm"/><axis xyz="0 1 0"/></joint>
</robot>"#;

#[test]
fn bad_model_files_get_errors_naming_the_file_and_element() {
    let urdf = with_model("[model]\nurdf = \"r.urdf\"");
    let robot = |geometry: &str, joint: &str| URDF_HINGE.replace("GEOMETRY", geometry).replace("JOINT", joint);
    let cases = [
        (urdf.clone(), "r.urdf", "<robot", "DIR/env.toml: model: DIR/r.urdf: urdf: not a valid URDF file"),
        (
            urdf.clone(),
            "r.urdf",
            &*robot(r#"<collision><geometry><mesh filename="arm.stl"/></geometry></collision>"#, "continuous"),
            "DIR/env.toml: model: DIR/r.urdf: link \"arm\": collision[0]: mesh geometry (arm.stl) is not supported",
        ),
        (urdf.clone(), "r.urdf", &*robot("", "floating"), "DIR/env.toml: model: DIR/r.urdf: joint \"hinge\": joint type Floating is not supported"),
        (urdf.replace("r.urdf", "missing.urdf"), "r.urdf", "", "DIR/env.toml: model: DIR/missing.urdf: cannot read"),
        (with_model("[model]\nurdf = \"r.urdf\"\nmjcf = \"r.xml\""), "r.urdf", "", "DIR/env.toml: model: give one of `urdf` or `mjcf`"),
        (
            with_model("[model]\nmjcf = \"r.xml\""),
            "r.xml",
            r#"<mujoco><worldbody><body name="arm"><joint name="hinge" axis="0 1 0"/><joint name="other" axis="1 0 0"/><geom size="0.1"/></body></worldbody></mujoco>"#,
            "DIR/env.toml: model: DIR/r.xml: body \"arm\": 2 joints on one body are not supported",
        ),
        (
            with_model("[model]\nmjcf = \"r.xml\""),
            "r.xml",
            r#"<mujoco><worldbody><body name="arm"><joint name="hinge" axis="0 1 0" armature="1"/><geom size="0.1"/></body></worldbody></mujoco>"#,
            "DIR/env.toml: model: DIR/r.xml: joint \"hinge\": armature=1 is not supported",
        ),
        (
            with_model("[model]\nmjcf = \"r.xml\""),
            "r.xml",
            r#"<mujoco><worldbody><body name="arm"><joint name="hinge" axis="0 1 0"/><geom type="ellipsoid" size="0.1 0.2 0.3"/></body></worldbody></mujoco>"#,
            "DIR/env.toml: model: DIR/r.xml: body \"arm\": geom 0: Ellipsoid geoms are not supported",
        ),
        (with_model("[model]\nmjcf = \"r.xml\""), "r.xml", "<mujoco><worldbody>", "DIR/env.toml: model: DIR/r.xml: mjcf: not a valid MJCF file"),
        // The env file itself still names what is wrong in its own terms.
        (
            with_model("[model]\nmjcf = \"r.xml\"").replace("joint = \"hinge\"", "joint = \"knee\""),
            "r.xml",
            r#"<mujoco><worldbody><body name="arm"><joint name="hinge" axis="0 1 0"/><geom size="0.1"/></body></worldbody></mujoco>"#,
            "DIR/env.toml: actuator \"motor\": joint \"knee\" does not exist",
        ),
    ];
    for (env, file, content, expected) in cases {
        let message = load_error(&env, file, content);
        assert!(message.starts_with(expected), "expected {expected:?}, got {message:?}");
    }
}

#[test]
fn a_valid_urdf_hinge_loads_with_its_names_and_mass() {
    let dir = tempfile::tempdir().unwrap();
    let robot = URDF_HINGE
        .replace("GEOMETRY", r#"<collision><origin xyz="0 0 -0.5"/><geometry><sphere radius="0.05"/></geometry></collision>"#)
        .replace("JOINT", "continuous");
    std::fs::write(dir.path().join("r.urdf"), robot).unwrap();
    std::fs::write(dir.path().join("env.toml"), with_model("[model]\nurdf = \"r.urdf\"")).unwrap();
    let loaded: LoadedSpec = rewardsmith_spec::load(&dir.path().join("env.toml")).unwrap();
    let spec = &loaded.spec;
    let names: Vec<&str> = spec.bodies.iter().map(|b| b.name.as_str()).collect();
    assert_eq!(names, ["base", "arm"]);
    assert!(spec.bodies[0].fixed, "the root link is fixed by default");
    assert_eq!(spec.bodies[1].mass, Some(1.0));
    assert_eq!(spec.bodies[1].geoms[0].position, [0.0, 0.0, -0.5]);
    assert_eq!(spec.joints[0].limits, None, "a continuous joint has no limits");
    assert!(Env::new(EnvModel::new(&loaded).unwrap(), None).is_ok());
}

#[test]
fn mjcf_arm_follows_mujocos_trajectory() {
    // From `python3 benches/mujoco_trajectory.py` (MuJoCo 4.0.0, RK4, dt 0.5 ms): the pusher
    // arm from folded (1.57, 2.0) rad at rest under constant torques (+0.05, -0.03) N·m.
    // (t s, shoulder rad, elbow rad)
    const MUJOCO: [(f64, f64, f64); 4] = [(0.25, 1.650189, 1.927200), (0.50, 1.769145, 1.849339), (0.75, 1.891681, 1.771924), (1.00, 2.014583, 1.694534)];
    let text = std::fs::read_to_string(repo().join("environments/pusher.toml")).unwrap();
    let text = text
        .replace("position = { uniform = [1.47, 1.67] }", "position = { constant = 1.57 }")
        .replace("position = { uniform = [1.9, 2.1] }", "position = { constant = 2.0 }");
    assert!(text.contains("constant = 1.57") && text.contains("constant = 2.0"), "pusher.toml's resets changed: update this test");
    let path = repo().join("environments/pusher.toml").display().to_string();
    let mut env = Env::new(EnvModel::new(&LoadedSpec::from_text(&path, &text).unwrap()).unwrap(), None).unwrap();
    env.reset(0).unwrap();
    let angle = |env: &Env, name: &str| {
        let i = env.model().spec().state.iter().position(|v| v.name == name).unwrap();
        match env.state().data().values[i] {
            Value::Float(x) => x,
            ref other => panic!("{name} is {other:?}"),
        }
    };
    let dt = env.model().spec().control_dt();
    // The actuators' gear is 1 N·m: the action is the torque.
    let mut t = 0.0;
    for (at, shoulder, elbow) in MUJOCO {
        while t < at - 1e-9 {
            env.step(&[0.05, -0.03]).unwrap();
            t += dt;
        }
        let (s, e) = (angle(&env, "shoulder_angle"), angle(&env, "elbow_angle"));
        assert!((s - shoulder).abs() < 2e-3 && (e - elbow).abs() < 2e-3, "t = {at} s: ({s:.5}, {e:.5}) rad, MuJoCo ({shoulder}, {elbow})");
    }
}
