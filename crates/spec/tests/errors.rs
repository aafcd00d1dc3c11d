//! What a person sees when an environment file is wrong: one snapshot per kind of mistake, each a
//! small edit of one valid file. A message must name the file, the item or key path at fault and
//! what was expected (parse errors also the line and column).

use rewardsmith_spec::{Source, catalog, parse};

/// A small valid environment touching every section, so each case is a one-line edit of it.
const VALID: &str = r#"id = "mini"
version = 1
description = "A cart on a rail with a hinged pole."
task = "Keep the pole upright."
observation = ["cart_x", "pole_angle"]

[physics]
timestep = 0.02
episode_length = 100

[[body]]
name = "cart"
shape = { type = "box", half_extents = [0.25, 0.15, 0.1] }
mass = 1.0

[[body]]
name = "pole"
shape = { type = "capsule", radius = 0.025, half_length = 0.5 }
mass = 0.1

[[body]]
name = "ball"
shape = { type = "sphere", radius = 0.1 }
position = [1.0, 0.0, 0.5]

[[joint]]
name = "slider"
kind = "prismatic"
parent = "world"
child = "cart"
axis = [1.0, 0.0, 0.0]
limits = [-3.0, 3.0]

[[joint]]
name = "hinge"
kind = "revolute"
parent = "cart"
child = "pole"
anchor_child = [0.0, 0.0, -0.5]
axis = [0.0, 1.0, 0.0]

[[site]]
name = "tip"
body = "pole"
offset = [0.0, 0.0, 0.5]

[[actuator]]
name = "push"
kind = "joint_force"
joint = "slider"
gear = 10.0

[[target]]
name = "goal"
value = { uniform = [-1.0, 1.0] }
unit = "m"

[[reset.joint]]
joint = "hinge"
position = { normal = [0.0, 0.05] }

[[reset.body]]
body = "ball"
position = [{ uniform = [-0.1, 0.1] }, { constant = 0.0 }, { constant = 0.0 }]

[[state]]
name = "cart_x"
source = "joint.slider.position"
doc = "cart position along the rail"

[[state]]
name = "pole_angle"
source = "joint.hinge.position"
doc = "pole angle from upright"

[[state]]
name = "goal_x"
source = "target.goal"
doc = "where the cart should go"

[[state]]
name = "to_goal"
expr = "s.goal_x - s.cart_x"
unit = "m"
doc = "signed distance from the cart to the goal"

[[termination]]
name = "pole_fell"
expr = "s.pole_angle.abs() > 0.5"

[fitness]
expr = "1.0"
aggregate = "sum"
doc = "steps survived"
"#;

const FILE: &str = "environments/broken.toml";

/// `VALID` with each `(from, to)` applied in turn; each `from` must occur exactly once.
fn edit(edits: &[(&str, &str)]) -> String {
    let mut text = VALID.to_owned();
    for (from, to) in edits {
        assert_eq!(text.matches(from).count(), 1, "{from:?} must occur exactly once in VALID");
        text = text.replacen(from, to, 1);
    }
    text
}

/// The error message for `text`, which must not parse.
fn error(text: &str) -> String {
    match parse(FILE, text) {
        Ok(_) => panic!("expected an error for:\n{text}"),
        Err(e) => e.to_string(),
    }
}

/// A test named `$name` snapshotting the error of `VALID` edited by `from => to` pairs; the
/// snapshot's description records the edit.
macro_rules! case {
    ($name:ident, $($from:expr => $to:expr),+ $(,)?) => {
        #[test]
        fn $name() {
            let edits = [$(($from, $to)),+];
            let edit_doc = edits.iter().map(|(f, t)| format!("{f:?} -> {t:?}")).collect::<Vec<_>>().join("; ");
            insta::with_settings!({ description => format!("VALID edited: {edit_doc}"), omit_expression => true }, {
                insta::assert_snapshot!(stringify!($name), error(&edit(&edits)));
            });
        }
    };
}

#[test]
fn the_base_env_is_valid() {
    let spec = parse(FILE, VALID).unwrap();
    assert_eq!(spec.action_dim(), 1);
}

// Parse errors: TOML syntax, unknown keys, wrong types, missing keys.
case!(toml_syntax_error, "gear = 10.0" => "gear = 10.0.0");
case!(duplicate_key, "gear = 10.0" => "gear = 10.0\ngear = 5.0");
case!(string_not_quoted, "kind = \"joint_force\"" => "kind = joint_force");
case!(array_of_tables_written_as_table, "[[termination]]" => "[termination]");
case!(physics_not_a_table, "[physics]\ntimestep = 0.02\nepisode_length = 100\n" => "", "version = 1" => "version = 1\nphysics = 0.02");
case!(unknown_top_level_key, "version = 1" => "version = 1\nepisodes = 5");
case!(unknown_body_key, "mass = 0.1" => "mass = 0.1\nmas = 0.2");
case!(body_mass_wrong_type, "mass = 0.1" => "mass = \"heavy\"");
case!(missing_task, "task = \"Keep the pole upright.\"\n" => "");
case!(missing_physics, "[physics]\ntimestep = 0.02\nepisode_length = 100\n" => "");
case!(physics_missing_timestep, "timestep = 0.02\n" => "");
case!(physics_substeps_negative, "timestep = 0.02" => "timestep = 0.02\nsubsteps = -1");
case!(gravity_wrong_length, "timestep = 0.02" => "timestep = 0.02\ngravity = [0.0, -9.81]");
case!(shape_unknown_key, "{ type = \"sphere\", radius = 0.1 }" => "{ type = \"sphere\", radius = 0.1, colour = \"red\" }");
case!(shape_type_unknown, "{ type = \"sphere\", radius = 0.1 }" => "{ type = \"ball\", radius = 0.1 }");
case!(shape_type_missing, "{ type = \"sphere\", radius = 0.1 }" => "{ radius = 0.1 }");
case!(shape_missing_radius, "{ type = \"sphere\", radius = 0.1 }" => "{ type = \"sphere\" }");
case!(shape_key_of_other_shape, "{ type = \"sphere\", radius = 0.1 }" => "{ type = \"sphere\", radius = 0.1, half_length = 0.2 }");
case!(shape_radius_wrong_type, "{ type = \"sphere\", radius = 0.1 }" => "{ type = \"sphere\", radius = \"small\" }");
case!(shape_axis_unknown, "half_length = 0.5 }" => "half_length = 0.5, axis = \"w\" }");
case!(joint_kind_unknown, "kind = \"revolute\"" => "kind = \"hinge\"");
case!(joint_axis_wrong_type, "axis = [0.0, 1.0, 0.0]" => "axis = \"y\"");
case!(actuator_kind_unknown, "kind = \"joint_force\"" => "kind = \"joint_torque\"");
case!(actuator_kind_missing, "kind = \"joint_force\"\n" => "");
case!(actuator_missing_gear, "gear = 10.0\n" => "");
case!(actuator_gear_wrong_type, "gear = 10.0" => "gear = \"strong\"");
case!(actuator_key_of_other_kind, "gear = 10.0" => "gear = 10.0\nstiffness = 3.0");
case!(dist_unknown, "{ normal = [0.0, 0.05] }" => "{ gaussian = [0, 1] }");
case!(dist_two_kinds, "{ normal = [0.0, 0.05] }" => "{ normal = [0.0, 0.05], constant = 1.0 }");
case!(dist_wrong_arity, "{ uniform = [-1.0, 1.0] }" => "{ uniform = [-1.0] }");
case!(dist_plain_number, "{ normal = [0.0, 0.05] }" => "0.05");
case!(reset_body_dist_unknown, "{ constant = 0.0 }, { constant = 0.0 }]" => "{ constant = 0.0 }, { fixed = 0.0 }]");
case!(reset_joint_unknown_key, "joint = \"hinge\"\nposition" => "joint = \"hinge\"\nangle = 0.1\nposition");
case!(aggregate_unknown, "aggregate = \"sum\"" => "aggregate = \"total\"");
case!(observation_not_a_list, "observation = [\"cart_x\", \"pole_angle\"]" => "observation = \"cart_x\"");

// Validation errors: the file parses but is inconsistent.
case!(id_not_lowercase, "id = \"mini\"" => "id = \"Mini\"");
case!(physics_timestep_zero, "timestep = 0.02" => "timestep = 0.0");
case!(physics_substeps_beyond_the_bound, "episode_length = 100" => "episode_length = 100\nsubsteps = 100000000");
case!(physics_episode_length_beyond_the_bound, "episode_length = 100" => "episode_length = 100000000");
case!(physics_solver_iterations_beyond_the_bound, "episode_length = 100" => "episode_length = 100\nsolver_iterations = 1000");
case!(body_defined_twice, "name = \"ball\"" => "name = \"cart\"");
case!(body_name_with_dot, "name = \"ball\"" => "name = \"ball.1\"");
case!(joint_anchor_not_finite, "anchor_child = [0.0, 0.0, -0.5]" => "anchor_child = [0.0, 0.0, nan]");
case!(body_named_world, "name = \"ball\"" => "name = \"world\"");
case!(body_mass_negative, "mass = 0.1" => "mass = -0.1");
case!(body_mass_and_density, "mass = 0.1" => "mass = 0.1\ndensity = 500.0");
case!(shape_size_negative, "radius = 0.1 }" => "radius = -0.1 }");
case!(joint_parent_missing, "parent = \"cart\"" => "parent = \"kart\"");
case!(joint_child_missing, "child = \"pole\"" => "child = \"pol\"");
case!(joint_loop, "parent = \"world\"" => "parent = \"pole\"");
case!(joint_child_of_two_joints, "child = \"cart\"" => "child = \"pole\"");
case!(joint_parent_is_child, "parent = \"cart\"\nchild = \"pole\"" => "parent = \"cart\"\nchild = \"cart\"");
case!(joint_child_has_position, "mass = 0.1" => "mass = 0.1\nposition = [0.0, 0.0, 1.0]");
case!(joint_child_fixed, "mass = 0.1" => "mass = 0.1\nfixed = true");
case!(revolute_without_axis, "axis = [0.0, 1.0, 0.0]\n" => "");
case!(revolute_axis_zero, "axis = [0.0, 1.0, 0.0]" => "axis = [0.0, 0.0, 0.0]");
case!(fixed_joint_with_axis, "kind = \"revolute\"" => "kind = \"fixed\"");
case!(joint_limits_inverted, "limits = [-3.0, 3.0]" => "limits = [3.0, -3.0]");
case!(site_body_missing, "body = \"pole\"" => "body = \"pol\"");
case!(actuator_joint_missing, "joint = \"slider\"\ngear" => "joint = \"slide\"\ngear");
case!(actuator_on_fixed_joint, "[[site]]" => "[[body]]\nname = \"weight\"\nshape = { type = \"sphere\", radius = 0.05 }\n\n\
     [[joint]]\nname = \"weld\"\nkind = \"fixed\"\nparent = \"pole\"\nchild = \"weight\"\n\n\
     [[actuator]]\nname = \"bad\"\nkind = \"joint_force\"\njoint = \"weld\"\ngear = 1.0\n\n[[site]]");
case!(actuator_defined_twice, "[[target]]" => "[[actuator]]\nname = \"push\"\nkind = \"joint_force\"\njoint = \"hinge\"\ngear = 1.0\n\n[[target]]");
case!(target_value_and_vector, "value = { uniform = [-1.0, 1.0] }" => "value = { uniform = [-1.0, 1.0] }\nx = { constant = 0.0 }");
case!(dist_uniform_inverted, "{ uniform = [-1.0, 1.0] }" => "{ uniform = [1.0, -1.0] }");
case!(dist_normal_negative_std, "{ normal = [0.0, 0.05] }" => "{ normal = [0.0, -0.05] }");
case!(reset_joint_missing, "joint = \"hinge\"\nposition" => "joint = \"hing\"\nposition");
case!(reset_body_is_joint_child, "body = \"ball\"\nposition" => "body = \"pole\"\nposition");
case!(state_source_unknown, "joint.hinge.position" => "joint.hinge.angle");
case!(state_source_body_missing, "joint.hinge.position" => "body.pol.position");
case!(state_source_site_missing, "joint.hinge.position" => "site.top.position");
case!(state_source_target_missing, "target.goal" => "target.gaol");
case!(state_source_and_expr, "source = \"target.goal\"" => "source = \"target.goal\"\nexpr = \"1.0\"");
case!(state_neither_source_nor_expr, "source = \"target.goal\"\n" => "");
case!(derived_state_without_unit, "unit = \"m\"\ndoc = \"signed" => "doc = \"signed");
case!(state_name_reserved, "name = \"goal_x\"" => "name = \"action\"");
case!(state_name_not_identifier, "name = \"goal_x\"" => "name = \"goal-x\"");
case!(state_defined_twice, "name = \"goal_x\"" => "name = \"cart_x\"");
case!(observation_state_missing, "observation = [\"cart_x\", \"pole_angle\"]" => "observation = [\"cart_x\", \"pole_angel\"]");
case!(observation_listed_twice, "observation = [\"cart_x\", \"pole_angle\"]" => "observation = [\"cart_x\", \"pole_angle\", \"cart_x\"]");
case!(joint_initial_position_outside_limits, "limits = [-3.0, 3.0]" => "limits = [-3.0, 3.0]\ninitial_position = 3.5");
case!(observation_empty, "observation = [\"cart_x\", \"pole_angle\"]" => "observation = []");
case!(actuators_empty, "[[actuator]]\nname = \"push\"\nkind = \"joint_force\"\njoint = \"slider\"\ngear = 10.0\n" => "", "version = 1" => "version = 1\nactuator = []");

#[test]
fn missing_file_names_the_file() {
    let err = rewardsmith_spec::load(std::path::Path::new("environments/no-such-file.toml")).unwrap_err();
    let msg = err.to_string();
    assert!(msg.starts_with("environments/no-such-file.toml: cannot read: "), "{msg}");
}

#[test]
fn every_builtin_environment_parses() {
    let ids = catalog::ids();
    assert!(!ids.is_empty());
    for id in &ids {
        let loaded = catalog::resolve(id).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(loaded.spec.id, *id, "the id inside environments/{id}.toml");
    }
}

#[test]
fn builtin_catalog_matches_the_environments_folder() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../environments");
    let mut on_disk: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .map(|p| p.file_stem().unwrap().to_string_lossy().into_owned())
        .collect();
    on_disk.sort();
    assert_eq!(catalog::ids(), on_disk);
    for id in &on_disk {
        let path = dir.join(format!("{id}.toml"));
        rewardsmith_spec::load(&path).unwrap_or_else(|e| panic!("{e}"));
    }
}

/// Every concrete string described by `Source::FORMS`, with `<x>` placeholders filled in.
fn vocabulary_examples() -> Vec<String> {
    let mut out = Vec::new();
    for form in Source::FORMS.split(", ") {
        let (head, alternatives) = form.rsplit_once('.').map_or(("", form), |(h, a)| (h, a));
        let head = head.replace("<j>", "hinge").replace("<b>", "pole").replace("<s>", "tip");
        for alt in alternatives.split('|') {
            let alt = alt.replace("<t>", "goal");
            out.push(if head.is_empty() { alt } else { format!("{head}.{alt}") });
        }
    }
    out
}

#[test]
fn source_parse_round_trips_every_vocabulary_form() {
    let examples = vocabulary_examples();
    assert_eq!(examples.len(), 13, "{examples:?}");
    for s in &examples {
        let source = Source::parse(s).unwrap_or_else(|| panic!("{s:?} is in Source::FORMS but does not parse"));
        assert_eq!(source.to_string(), *s);
        assert_eq!(Source::parse(&source.to_string()), Some(source));
    }
}

#[test]
fn source_parse_rejects_strings_outside_the_vocabulary() {
    for s in [
        "",
        "joint.hinge.angle",
        "joint.hinge",
        "body.pole",
        "body.pole.velocity",
        "site.tip.quat",
        "target",
        "target.goal.x",
        "action.0",
        "time.now",
        "world.gravity",
    ] {
        assert_eq!(Source::parse(s), None, "{s:?}");
    }
}

#[test]
fn joint_loop_not_through_the_first_joint_is_reported_not_looped_on() {
    // `weld` comes first and hangs below a loop (cart ⇄ pole) that does not contain its child.
    let text = edit(&[(
        "[[joint]]\nname = \"slider\"",
        "[[body]]\nname = \"weight\"\nshape = { type = \"sphere\", radius = 0.05 }\n\n\
         [[joint]]\nname = \"weld\"\nkind = \"fixed\"\nparent = \"pole\"\nchild = \"weight\"\n\n[[joint]]\nname = \"slider\"",
    )])
    .replacen("parent = \"world\"", "parent = \"pole\"", 1);
    // Validation used to spin forever here; fail instead of hanging the suite.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || tx.send(error(&text)).unwrap());
    let msg = rx.recv_timeout(std::time::Duration::from_secs(10)).expect("validation did not finish");
    assert!(msg.contains("joint \"slider\": closes a loop (cart → pole → cart)"), "{msg}");
}
