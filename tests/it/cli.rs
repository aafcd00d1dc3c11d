//! The `rewardsmith` command line: listing, checking, recording, replaying, and its exit codes.

use crate::support::{TINY_PPO, env_ids, repo, rewardsmith, rewardsmith_in, text};
use std::fs;

#[test]
fn envs_lists_the_four_builtin_environments() {
    let out = rewardsmith(&["envs"]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    for id in ["cartpole", "cartpole-swingup", "pendulum", "reacher"] {
        assert!(stdout.lines().any(|l| l.starts_with(&format!("{id} "))), "{id} missing from:\n{stdout}");
    }
}

#[test]
fn envs_id_prints_typed_state_actions_and_task() {
    let out = rewardsmith(&["envs", "cartpole"]);
    let (stdout, _) = text(&out);
    assert!(out.status.success());
    let line = |name: &str| -> Vec<String> {
        let line = stdout.lines().find(|l| l.trim_start().starts_with(name)).unwrap_or_else(|| panic!("{name}:\n{stdout}"));
        line.split_whitespace().take(3).map(String::from).collect()
    };
    // Each state variable carries its type and unit.
    assert_eq!(line("s.pole_angle "), ["s.pole_angle", "float", "rad"]);
    assert_eq!(line("s.cart_velocity "), ["s.cart_velocity", "float", "m/s"]);
    assert_eq!(line("s.pole_tip "), ["s.pole_tip", "vec3", "m"]);
    assert_eq!(line("s.action "), ["s.action", "array[1]", "1"]);
    assert!(stdout.contains("[0] push: force on joint \"slider\": 10 N at +1"), "{stdout}");
    assert!(stdout.contains("task: Keep the pole balanced upright"), "{stdout}");
    assert!(stdout.contains("pole_fell"), "terminations are listed:\n{stdout}");
}

#[test]
fn builtin_envs_are_found_outside_the_repository() {
    let elsewhere = tempfile::tempdir().unwrap();
    let out = rewardsmith_in(elsewhere.path(), &["envs", "pendulum"]);
    assert!(out.status.success(), "{}", text(&out).1);
    assert!(text(&out).0.contains("environment pendulum (version 1, environments/pendulum.toml)"));
}

#[test]
fn env_path_is_accepted_wherever_env_is_taken() {
    let path = repo().join("environments/reacher.toml");
    let out = rewardsmith(&["envs", path.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out).1);
    assert!(text(&out).0.contains("environment reacher"));
}

/// Every built-in reward script passes `check`, except a sparse success indicator that is zero
/// on every critic state (it never fires on random states): the critic refuses that, saying so.
#[test]
fn every_builtin_reward_script_passes_check_but_a_sparse_one_that_is_zero_everywhere() {
    let mut checked = 0;
    for dir in fs::read_dir(repo().join("reward_scripts")).unwrap() {
        let dir = dir.unwrap().path();
        let id = dir.file_name().unwrap().to_str().unwrap().to_owned();
        for script in fs::read_dir(&dir).unwrap() {
            let script = script.unwrap().path();
            let file = script.file_name().unwrap().to_str().unwrap().to_owned();
            let path = format!("reward_scripts/{id}/{file}");
            let out = rewardsmith(&["check", &path, "--env", &id]);
            let (stdout, stderr) = text(&out);
            checked += 1;
            if file == "sparse.rhai" && !out.status.success() {
                assert!(stderr.contains("the reward is constant (0) on all 256 critic states") && stderr.contains("zero everywhere"), "{path}: {stderr}");
                continue;
            }
            assert!(out.status.success(), "{path}: {stdout}{stderr}");
            assert!(stdout.starts_with(&format!("ok: {path} passed the critic on 256 states")), "{stdout}");
            assert!(stdout.contains("operations per call"), "the cost is stated: {stdout}");
        }
    }
    // Every built-in environment ships at least its two baselines.
    for id in env_ids() {
        assert!(repo().join(format!("reward_scripts/{id}/human.rhai")).is_file(), "{id} has no human.rhai");
        assert!(repo().join(format!("reward_scripts/{id}/sparse.rhai")).is_file(), "{id} has no sparse.rhai");
    }
    assert!(checked >= 2 * env_ids().len());
}

#[test]
fn check_reports_term_statistics_as_json() {
    let out = rewardsmith(&["check", "reward_scripts/reacher/human.rhai", "--env", "reacher", "--json"]);
    assert!(out.status.success());
    let verdict: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(verdict["ok"], true);
    assert!(verdict["cost"]["operations_max"].as_u64().unwrap() > 0, "{verdict}");
    let terms = verdict["terms"].as_array().unwrap();
    let names: Vec<&str> = terms.iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["control", "distance"]);
    let distance = &terms[1];
    assert!(distance["max"].as_f64().unwrap() <= 0.0, "distance is a penalty");
    assert!(distance["min"].as_f64().unwrap() >= -0.4, "the fingertip is never 0.4 m from a reachable goal");
}

/// The sandbox's promises on what a script returns and costs, held by the critic: a constant
/// reward, more terms than the limit, and a script too costly to train with are each refused by
/// `check` with the reason, and `propose` and the search give the same verdict (critic.json).
#[test]
fn check_refuses_a_constant_reward_too_many_terms_and_a_costly_script_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let cases: &[(&str, &str, &[&str])] = &[
        (
            "constant",
            "fn compute_reward(s) {\n    #{ a: 1.0, b: 0.5 }\n}\n",
            &["the reward is constant (1.5) on all 256 critic states", "episodes end only at the time limit"],
        ),
        ("zero", "fn compute_reward(s) {\n    0.0 * s.pole_cos\n}\n", &["the reward is constant (0)", "zero everywhere"]),
        (
            "many_terms",
            "fn compute_reward(s) {\n    let m = #{};\n    for i in 0..5000 { m[\"t\" + i] = 0.001 * i; }\n    m\n}\n",
            &["returned 5000 terms; at most 64 are allowed", ":4:"],
        ),
        (
            "printing",
            "fn compute_reward(s) {\n    for i in 0..10000 { print(\"x\"); }\n    s.pole_cos\n}\n",
            &["operations per call", "s of script time alone over a training of", "the limit is 20000"],
        ),
    ];
    for (name, source, needles) in cases {
        let path = dir.path().join(format!("{name}.rhai"));
        fs::write(&path, source).unwrap();
        let out = rewardsmith(&["check", path.to_str().unwrap(), "--env", "pendulum"]);
        let (stdout, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(1), "{name}: {stdout}{stderr}");
        for needle in *needles {
            assert!(stderr.contains(needle), "{name}: expected {needle:?} in {stderr}");
        }
        let json = rewardsmith(&["check", path.to_str().unwrap(), "--env", "pendulum", "--json"]);
        let verdict: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
        assert_eq!((verdict["ok"].as_bool(), verdict["stage"].as_str()), (Some(false), Some("critic")), "{name}: {verdict}");
    }
    // Where episodes can end early, a constant is an alive bonus: passed, with a warning.
    let alive = dir.path().join("alive.rhai");
    fs::write(&alive, "fn compute_reward(s) { 1.0 }\n").unwrap();
    let out = rewardsmith(&["check", alive.to_str().unwrap(), "--env", "cartpole"]);
    assert!(out.status.success() && text(&out).0.contains("warning: the reward is constant (1)"), "{}", text(&out).0);
}

/// Hostile scripts: each is a clean diagnostic `file:line:col: message` with exit code 1.
#[test]
fn hostile_scripts_fail_check_with_located_errors() {
    let dir = tempfile::tempdir().unwrap();
    let cases: &[(&str, &str, &str)] = &[
        ("endless_loop", "fn compute_reward(s) {\n    loop { }\n}\n", ":2:"),
        ("recursion", "fn f(x) { f(x + 1) }\nfn compute_reward(s) {\n    f(0)\n}\n", ":1:"),
        ("huge_string", "fn compute_reward(s) {\n    let t = \"x\";\n    loop { t += t; }\n}\n", ":3:"),
        ("huge_array", "fn compute_reward(s) {\n    let a = [];\n    loop { a.push(1.0); }\n}\n", ":3:"),
        ("wrong_return", "fn compute_reward(s) {\n    \"fine\"\n}\n", "must return a number or a map"),
        ("syntax", "fn compute_reward(s) {\n    let x = ;\n}\n", ":2:13:"),
        ("undefined_function", "fn compute_reward(s) {\n    open_file(\"/etc/passwd\")\n}\n", ":2:5:"),
        ("eval", "fn compute_reward(s) {\n    eval(\"1 + 1\")\n}\n", ":2:5:"),
        ("import", "import \"fs\" as fs;\nfn compute_reward(s) { 1.0 }\n", ":1:1:"),
        ("unknown_state", "fn compute_reward(s) {\n    s.pole_height\n}\n", ":2:"),
        ("nan", "fn compute_reward(s) {\n    #{ broken: 0.0 / 0.0 }\n}\n", "\"broken\""),
    ];
    for (name, source, located) in cases {
        let path = dir.path().join(format!("{name}.rhai"));
        fs::write(&path, source).unwrap();
        let start = std::time::Instant::now();
        let out = rewardsmith(&["check", path.to_str().unwrap(), "--env", "cartpole"]);
        let elapsed = start.elapsed();
        let (stdout, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(1), "{name}: expected exit 1, got {:?}\n{stdout}{stderr}", out.status);
        assert!(stderr.contains(&format!("{name}.rhai")), "{name}: the error names the script:\n{stderr}");
        assert!(stderr.contains(located), "{name}: expected {located:?} in:\n{stderr}");
        assert!(!stderr.contains("panicked"), "{name}: {stderr}");
        // Not a timing test: a hang would show up as minutes, not as a slightly slow machine.
        assert!(elapsed.as_secs() < 30, "{name} took {elapsed:?}");
    }
}

#[test]
fn rollout_then_replay_round_trips_for_every_env() {
    let dir = tempfile::tempdir().unwrap();
    for id in env_ids() {
        let file = dir.path().join(format!("{id}.rollout"));
        let out = rewardsmith(&["rollout", "--env", id, "--steps", "120", "--seed", "3", "--out", file.to_str().unwrap()]);
        assert!(out.status.success(), "{id}: {}", text(&out).1);
    }
    let junit = dir.path().join("junit.xml");
    let out = rewardsmith(&["replay", dir.path().to_str().unwrap(), "--junit", junit.to_str().unwrap()]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}{stderr}");
    let n = env_ids().len();
    assert_eq!(stdout.lines().filter(|l| l.starts_with("ok ")).count(), n, "{stdout}");
    assert!(stdout.contains(&format!("{n} passed, 0 failed")), "{stdout}");
    let xml = fs::read_to_string(junit).unwrap();
    assert!(xml.contains(&format!("tests=\"{n}\" failures=\"0\"")), "{xml}");
    assert_eq!(xml.matches("<testcase ").count(), n);
}

#[test]
fn tampered_rollout_fails_replay_naming_the_step() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("cartpole.rollout");
    let out = rewardsmith(&["rollout", "--env", "cartpole", "--steps", "50", "--seed", "9", "--out", file.to_str().unwrap()]);
    assert!(out.status.success());
    // Flip one bit of the last step's first action component: the replay then pushes the cart
    // differently at that step and every later quantity differs.
    let mut recorded = rewardsmith_sim::rollout::Rollout::read(&file).unwrap();
    let last = recorded.records.len() - 1;
    if let rewardsmith_sim::rollout::Record::Step { action, .. } = &mut recorded.records[last] {
        action[0] = f32::from_bits(action[0].to_bits() ^ 1);
    }
    let tampered = dir.path().join("tampered.rollout");
    std::fs::write(&tampered, recorded.to_bytes()).unwrap();
    let junit = dir.path().join("junit.xml");
    let out = rewardsmith(&["replay", file.to_str().unwrap(), tampered.to_str().unwrap(), "--junit", junit.to_str().unwrap()]);
    let (stdout, _) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    let fail = stdout.lines().find(|l| l.starts_with("FAIL")).expect("one failure line");
    assert!(fail.contains("tampered.rollout"), "{fail}");
    assert!(fail.contains("step 49"), "the last step differs:\n{fail}");
    assert!(stdout.contains("1 passed, 1 failed"), "{stdout}");
    let xml = fs::read_to_string(junit).unwrap();
    assert!(xml.contains("failures=\"1\"") && xml.contains("<failure message=\"step 49"), "{xml}");
}

#[test]
fn replay_refuses_an_edited_env_file() {
    let dir = tempfile::tempdir().unwrap();
    // An env of the user's own (no built-in has its id, so nothing else can match the hash).
    let env = dir.path().join("my-pendulum.toml");
    let original = fs::read_to_string(repo().join("environments/pendulum.toml")).unwrap();
    fs::write(&env, original.replacen("id = \"pendulum\"", "id = \"my-pendulum\"", 1)).unwrap();
    let file = dir.path().join("p.rollout");
    let out = rewardsmith(&["rollout", "--env", env.to_str().unwrap(), "--steps", "20", "--out", file.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out).1);
    let edited = fs::read_to_string(&env).unwrap().replace("gear = 2.0", "gear = 2.5");
    fs::write(&env, edited).unwrap();
    let out = rewardsmith(&["replay", file.to_str().unwrap()]);
    let (stdout, _) = text(&out);
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout.contains("changed since recording"), "{stdout}");
}

#[test]
fn replay_prefers_a_matching_builtin_over_a_stale_copy_on_disk() {
    // A rollout of the built-in, replayed where environments/pendulum.toml is an edited copy.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("p.rollout");
    let out = rewardsmith(&["rollout", "--env", "pendulum", "--steps", "20", "--out", file.to_str().unwrap()]);
    assert!(out.status.success());
    fs::create_dir(dir.path().join("environments")).unwrap();
    let original = fs::read_to_string(repo().join("environments/pendulum.toml")).unwrap();
    fs::write(dir.path().join("environments/pendulum.toml"), original.replace("gear = 2.0", "gear = 2.5")).unwrap();
    let out = crate::support::rewardsmith_in(dir.path(), &["replay", "p.rollout"]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}{stderr}");
}

#[test]
fn broken_env_file_is_exit_1_naming_file_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let env = dir.path().join("cartpole.toml");
    let text_in = fs::read_to_string(repo().join("environments/cartpole.toml")).unwrap();
    fs::write(&env, text_in.replacen("parent = \"cart\"", "parent = \"kart\"", 1)).unwrap();
    let out = rewardsmith(&["envs", env.to_str().unwrap()]);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr.contains("cartpole.toml: joint \"hinge\": parent body \"kart\" does not exist (bodies: cart, pole, or world)"), "{stderr}");
}

#[test]
fn usage_errors_exit_2() {
    assert_eq!(rewardsmith(&["rollout", "--env"]).status.code(), Some(2));
    assert_eq!(rewardsmith(&["no-such-command"]).status.code(), Some(2));
    assert_eq!(rewardsmith(&["rollout", "--env", "cartpole", "--steps", "many", "--out", "x"]).status.code(), Some(2));
    assert_eq!(rewardsmith(&["rollout", "--env", "cartpole", "--policy", "smart", "--out", "x"]).status.code(), Some(2));
}

#[test]
fn a_reader_closing_stdout_early_ends_the_process_quietly() {
    // As `rewardsmith envs cartpole | head -c0`: the pipe's read end is closed before the
    // description is written, so the write fails with EPIPE.
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_rewardsmith"))
        .args(["envs", "cartpole"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn unknown_env_id_lists_the_builtin_ones() {
    let out = rewardsmith(&["envs", "cartpoel"]);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr.contains(&format!("built-in: {}", env_ids().join(", "))), "{stderr}");
    assert!(stderr.contains("cartpole, cartpole-swingup"), "ids are listed sorted: {stderr}");
}

#[test]
fn help_is_available_on_every_command() {
    for cmd in ["envs", "check", "rollout", "replay", "train", "eval", "bench", "propose"] {
        let out = rewardsmith(&[cmd, "--help"]);
        assert!(out.status.success(), "{cmd} --help");
        assert!(text(&out).0.contains("Usage: rewardsmith"), "{cmd}");
    }
}

#[test]
fn train_writes_metrics_config_policy_and_summary_and_eval_replays() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("ppo.toml");
    fs::write(&config, TINY_PPO).unwrap();
    let out = dir.path().join("run");
    let o =
        rewardsmith(&["train", "--env", "pendulum", "--steps", "1024", "--seed", "4", "--config", config.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    let (stdout, stderr) = text(&o);
    assert!(o.status.success(), "{stdout}{stderr}");
    let lines: Vec<serde_json::Value> = fs::read_to_string(out.join("metrics.jsonl")).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 2, "1024 steps of 8 × 64 are two iterations");
    for key in [
        "charts/SPS",
        "losses/value_loss",
        "losses/policy_loss",
        "losses/entropy",
        "losses/old_approx_kl",
        "losses/approx_kl",
        "losses/clipfrac",
        "losses/explained_variance",
        "reward/angle",
        "reward/torque",
        "reward/velocity",
    ] {
        assert!(lines[1].get(key).is_some(), "metrics.jsonl lacks {key}: {}", lines[1]);
    }
    let config: toml::Table = toml::from_str(&fs::read_to_string(out.join("config.toml")).unwrap()).unwrap();
    assert_eq!(config["num_envs"].as_integer(), Some(8), "the resolved config keeps the file's values");
    assert_eq!(config["seed"].as_integer(), Some(4), "and the flags'");
    let summary: serde_json::Value = serde_json::from_str(&fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["status"], "ok");
    assert_eq!(summary["eval_fitness"].as_array().unwrap().len(), 10);
    assert!(!summary["reward_checkpoints"].as_array().unwrap().is_empty());
    assert!(out.join("policy.safetensors").is_file());

    let rollout = dir.path().join("eval.rollout");
    let o = rewardsmith(&["eval", out.to_str().unwrap(), "--episodes", "2", "--record", rollout.to_str().unwrap()]);
    let (stdout, stderr) = text(&o);
    assert!(o.status.success(), "{stdout}{stderr}");
    assert!(stdout.contains("over 2 episodes (pendulum); return -"), "the return under the embedded reward script: {stdout}");
    let o = rewardsmith(&["replay", rollout.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o).0);

    // `rollout --policy DIR` records the trained policy; it replays bit for bit.
    let trained = dir.path().join("trained.rollout");
    let o = rewardsmith(&["rollout", "--env", "pendulum", "--policy", out.to_str().unwrap(), "--steps", "50", "--out", trained.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o).1);
    assert!(rewardsmith(&["replay", trained.to_str().unwrap()]).status.success());
    // A pendulum policy cannot drive the reacher.
    let o = rewardsmith(&["rollout", "--env", "reacher", "--policy", out.to_str().unwrap(), "--out", trained.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).1.contains("takes 3 observations and gives 1 actions; reacher has 12 and 2"), "{}", text(&o).1);
}

#[test]
fn train_layers_env_ppo_table_config_file_and_set_flags_and_logs_tensorboard_events() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("ppo.toml");
    fs::write(&config, "num_steps = 32\nlearning_rate = 5e-4\n").unwrap();
    let out = dir.path().join("run");
    // pendulum.toml's [ppo] sets num_envs = 8 and gamma = 0.9; the file and --set override.
    let o = rewardsmith(&[
        "train",
        "--env",
        "pendulum",
        "--steps",
        "512",
        "--config",
        config.to_str().unwrap(),
        "--set",
        "gamma=0.95",
        "--set",
        "hidden=[16, 16]",
        "--eval-every",
        "256",
        "--eval-episodes",
        "1",
        "--out",
        out.to_str().unwrap(),
    ]);
    let (stdout, stderr) = text(&o);
    assert!(o.status.success(), "{stdout}{stderr}");
    let config: toml::Table = toml::from_str(&fs::read_to_string(out.join("config.toml")).unwrap()).unwrap();
    assert_eq!(config["num_envs"].as_integer(), Some(8), "from the env file");
    assert_eq!(config["num_steps"].as_integer(), Some(32), "from --config");
    assert_eq!(config["learning_rate"].as_float(), Some(5e-4), "from --config");
    assert_eq!(config["gamma"].as_float(), Some(0.95), "--set beats the env file");
    assert_eq!(config["hidden"].as_array().map(Vec::len), Some(2));
    let lines: Vec<serde_json::Value> = fs::read_to_string(out.join("metrics.jsonl")).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 2, "512 steps of 8 × 32");
    assert!(lines.iter().all(|l| l["eval/fitness"].is_f64()), "an evaluation every 256 steps: {lines:?}");
    assert!(lines.iter().all(|l| l["eval/return"].as_f64().is_some_and(|r| r < 0.0)), "human.rhai's return is a cost: {lines:?}");
    // One TensorBoard event file, starting with a well-formed record (u64 length, masked CRC).
    let events: Vec<_> =
        fs::read_dir(&out).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).filter(|n| n.starts_with("events.out.tfevents.")).collect();
    assert_eq!(events.len(), 1, "{events:?}");
    let bytes = fs::read(out.join(&events[0])).unwrap();
    let len = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    assert!(String::from_utf8_lossy(&bytes[12..12 + len]).contains("brain.Event:2"));
    for tag in ["losses/approx_kl", "losses/old_approx_kl"] {
        assert!(bytes.windows(tag.len()).any(|w| w == tag.as_bytes()), "scalars are logged under CleanRL's names: {tag}");
    }

    let bad = rewardsmith(&["train", "--env", "pendulum", "--set", "learning_rat=1", "--out", out.to_str().unwrap()]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(text(&bad).1.contains("--set learning_rat=1") && text(&bad).1.contains("learning_rat"), "{}", text(&bad).1);
}

#[test]
fn the_same_seed_twice_gives_identical_metrics_and_policy_files() {
    let dir = tempfile::tempdir().unwrap();
    let run = |name: &str, threads: &str| {
        let out = dir.path().join(name);
        let set = format!("threads={threads}");
        let o = rewardsmith(&["train", "--env", "pendulum", "--steps", "2048", "--seed", "5", "--set", &set, "--out", out.to_str().unwrap()]);
        assert!(o.status.success(), "{}", text(&o).1);
        // Everything but the wall-clock figure.
        let metrics: Vec<serde_json::Value> = fs::read_to_string(out.join("metrics.jsonl"))
            .unwrap()
            .lines()
            .map(|l| {
                let mut v: serde_json::Value = serde_json::from_str(l).unwrap();
                v.as_object_mut().unwrap().remove("charts/SPS");
                v
            })
            .collect();
        (metrics, fs::read(out.join("policy.safetensors")).unwrap())
    };
    let a = run("a", "1");
    assert_eq!(a, run("b", "1"));
    assert_eq!(a, run("c", "2"), "the thread count changes nothing");
}

#[test]
fn train_stops_at_the_first_evaluation_that_reaches_the_target() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    // Any policy keeps the cartpole up for at least one step: a target of 1 is reached at once.
    let o = rewardsmith(&[
        "train",
        "--env",
        "cartpole",
        "--steps",
        "100000",
        "--target",
        "1",
        "--eval-every",
        "1",
        "--eval-episodes",
        "1",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o).1);
    let summary: serde_json::Value = serde_json::from_str(&fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    let rollout = 16 * 128; // cartpole trains with PPO's default rollout
    assert_eq!(summary["target_reached_at"], rollout);
    assert_eq!(summary["global_step"], rollout);
    assert_eq!(summary["stopped_early"], true);
    assert_eq!(summary["stop_reason"], "target");
    assert_eq!(summary["evaluations"].as_array().unwrap().len(), 1);

    // A return target (negative: pendulum's human.rhai is a cost; an episode costs at most
    // ≈ 200 × 16.4, so -10000 is reached at once) and a fitness target no policy reaches: both
    // must be reached, so training runs to its budget.
    for (fitness_target, stops) in [(None, true), (Some("1.5"), false)] {
        let mut cmd = vec![
            "train",
            "--env",
            "pendulum",
            "--steps",
            "2048",
            "--target-return",
            "-10000",
            "--eval-every",
            "1",
            "--eval-episodes",
            "1",
            "--out",
            out.to_str().unwrap(),
        ];
        if let Some(t) = fitness_target {
            cmd.extend(["--target", t]);
        }
        let o = rewardsmith(&cmd);
        assert!(o.status.success(), "{}", text(&o).1);
        let summary: serde_json::Value = serde_json::from_str(&fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
        assert_eq!(summary["target_reached_at"].is_u64(), stops, "{summary}");
        assert_eq!(summary["global_step"], if stops { 1024 } else { 2048 }, "pendulum's rollout is 8 × 128");
    }
}

/// The search kills trainings that overrun; a signal must still leave a usable policy and a
/// summary saying why the run stopped.
#[cfg(unix)]
#[test]
fn sigterm_stops_training_after_the_iteration_and_writes_its_outputs() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_rewardsmith"))
        .args(["train", "--env", "cartpole", "--steps", "100000000", "--out", out.to_str().unwrap()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Wait for the first iteration's metrics line, then signal.
    let metrics = out.join("metrics.jsonl");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while fs::read_to_string(&metrics).map_or(true, |t| t.is_empty()) {
        assert!(std::time::Instant::now() < deadline, "no metrics after 60 s");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    // The shell's built-in kill: no procps needed.
    let kill = std::process::Command::new("sh").args(["-c", &format!("kill -TERM {}", child.id())]).status().unwrap();
    assert!(kill.success());
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(130), "{}", String::from_utf8_lossy(&o.stderr));
    let summary: serde_json::Value = serde_json::from_str(&fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["stop_reason"], "interrupted");
    assert_eq!(summary["status"], "ok");
    assert!(summary["global_step"].as_u64().unwrap() < 100_000_000);
    assert!(out.join("policy.safetensors").is_file());
}

#[test]
fn an_env_file_with_a_bad_ppo_key_names_the_file_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let text_in = fs::read_to_string(repo().join("environments/pendulum.toml")).unwrap();
    let env = dir.path().join("pendulum.toml");
    for (edit, expected) in [("num_minibatch = 8", "unknown field `num_minibatch`"), ("num_minibatches = \"8\"", "`num_minibatches`: invalid type")] {
        fs::write(&env, text_in.replace("num_minibatches = 8", edit)).unwrap();
        let run = dir.path().join("run");
        let o = rewardsmith(&["train", "--env", env.to_str().unwrap(), "--steps", "512", "--out", run.to_str().unwrap()]);
        assert_eq!(o.status.code(), Some(1));
        let stderr = text(&o).1;
        assert!(stderr.contains("pendulum.toml [ppo]: ") && stderr.contains(expected), "{stderr}");
        assert!(!run.exists(), "nothing is written before the configuration is valid");
    }
}

#[test]
fn a_reward_script_failing_in_an_evaluation_is_recorded_and_eval_still_scores_fitness() {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("late.rhai");
    // Training rollouts of 8 (then 32) steps never reach step 11 (34); evaluation episodes do.
    fs::write(&script, "fn compute_reward(s) {\n    if s.step > LIMIT { throw \"gave up\"; }\n    1.0\n}\n").unwrap();
    let out = dir.path().join("run");
    let train = |limit: &str, num_steps: &str, steps: &str, eval: &[&str]| {
        fs::write(&script, fs::read_to_string(&script).unwrap().replace("LIMIT", limit)).unwrap();
        let mut args = vec!["train", "--env", "pendulum", "--reward", script.to_str().unwrap(), "--set", "num_envs=2", "--set", "num_minibatches=2"];
        let set_steps = format!("num_steps={num_steps}");
        args.extend(["--set", &set_steps, "--steps", steps, "--out", out.to_str().unwrap()]);
        args.extend(eval);
        let o = rewardsmith(&args);
        fs::write(&script, fs::read_to_string(&script).unwrap().replace(limit, "LIMIT")).unwrap();
        let summary: serde_json::Value = serde_json::from_str(&fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
        (o, summary)
    };

    // In a periodic evaluation: the training ends, failed, with the script's error.
    let (o, summary) = train("10", "8", "64", &["--eval-every", "1", "--eval-episodes", "1"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o).1);
    assert_eq!(summary["status"], "failed");
    assert!(summary["error"].as_str().unwrap().contains("late.rhai:2:") && summary["error"].as_str().unwrap().contains("gave up"), "{summary}");
    assert_eq!(summary["global_step"], 16, "stopped after the first iteration");

    // In the final evaluation: the policy is saved, the summary says failed.
    let (o, summary) = train("33", "32", "64", &[]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o).1);
    assert_eq!(summary["status"], "failed");
    assert!(out.join("policy.safetensors").is_file());
    let events = fs::read_dir(&out).unwrap().filter(|e| e.as_ref().unwrap().file_name().to_string_lossy().starts_with("events.out.tfevents.")).count();
    assert_eq!(events, 1, "a second run into the same directory replaces the first's event file");

    // `eval` loses the return, not the fitness.
    let o = rewardsmith(&["eval", out.to_str().unwrap(), "--episodes", "2"]);
    let (stdout, stderr) = text(&o);
    assert!(o.status.success(), "{stderr}");
    assert!(stderr.contains("warning: the policy's reward script failed") && stdout.contains("over 2 episodes (pendulum)"), "{stdout}{stderr}");
}

#[test]
fn a_reward_script_failing_mid_training_is_recorded_not_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("ppo.toml");
    fs::write(&config, TINY_PPO).unwrap();
    let script = dir.path().join("late_failure.rhai");
    fs::write(&script, "fn compute_reward(s) {\n    if s.step > 20 { throw \"gave up\"; }\n    1.0\n}\n").unwrap();
    let out = dir.path().join("run");
    let o = rewardsmith(&[
        "train",
        "--env",
        "cartpole",
        "--reward",
        script.to_str().unwrap(),
        "--steps",
        "1024",
        "--config",
        config.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    let (stdout, stderr) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{stdout}{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    let summary: serde_json::Value = serde_json::from_str(&fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["status"], "failed");
    let error = summary["error"].as_str().unwrap();
    assert!(error.contains("late_failure.rhai:2:") && error.contains("gave up"), "{error}");
}

#[test]
fn propose_offline_writes_candidates_that_pass_the_critic_the_same_for_a_seed() {
    let dir = tempfile::tempdir().unwrap();
    let run = |name: &str, seed: &str| {
        let out = dir.path().join(name);
        let o = rewardsmith(&["propose", "--env", "reacher", "-k", "3", "--seed", seed, "--out", out.to_str().unwrap()]);
        assert!(o.status.success(), "{}{}", text(&o).0, text(&o).1);
        assert!(text(&o).0.contains("3 of 3 candidates passed the critic"), "{}", text(&o).0);
        (0..3)
            .map(|i| {
                let cand = out.join(format!("cand-{i:02}"));
                let critic: serde_json::Value = serde_json::from_str(&fs::read_to_string(cand.join("critic.json")).unwrap()).unwrap();
                assert_eq!(critic["ok"], true, "{critic}");
                fs::read_to_string(cand.join("reward.rhai")).unwrap()
            })
            .collect::<Vec<_>>()
    };
    let a = run("a", "4");
    assert_eq!(a, run("b", "4"));
    assert_ne!(a, run("c", "5"));
    // A candidate is a parent of the next generation.
    let parent = dir.path().join("a/cand-00/reward.rhai");
    let o = rewardsmith(&["propose", "--env", "reacher", "-k", "2", "--parent", parent.to_str().unwrap(), "--out", dir.path().join("a").to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o).1);
    assert!(!dir.path().join("a/cand-02").exists(), "a new generation replaces the old one's candidates");
    // Every candidate also passes `rewardsmith check` (the same critic states).
    let o = rewardsmith(&["check", dir.path().join("a/cand-01/reward.rhai").to_str().unwrap(), "--env", "reacher"]);
    assert!(o.status.success(), "{}", text(&o).1);

    // A parent the critic rejects is named before anything is proposed.
    let bad = dir.path().join("bad.rhai");
    fs::write(&bad, "fn compute_reward(s) {\n    s.nope\n}\n").unwrap();
    let o = rewardsmith(&["propose", "--env", "reacher", "--parent", bad.to_str().unwrap(), "--out", dir.path().join("e").to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).1.contains("parent ") && text(&o).1.contains("bad.rhai:2:"), "{}", text(&o).1);
    assert!(!dir.path().join("e").exists());
}

#[test]
fn propose_dry_run_prints_the_whole_prompt_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let o = rewardsmith_in(dir.path(), &["propose", "--env", "pendulum", "--task", "Hold it up.", "--dry-run"]);
    let (stdout, stderr) = text(&o);
    assert!(o.status.success(), "{stderr}");
    for needle in ["=== system ===", "reward engineer", "=== user ===", "s.pole_angular_velocity", "Hold it up.", "```rhai"] {
        assert!(stdout.contains(needle), "the prompt lacks {needle:?}:\n{stdout}");
    }
    assert!(!stdout.contains("Swing the pendulum up"), "--task replaces the env's task everywhere:\n{stdout}");
    assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0, "a dry run writes nothing");

    fs::write(dir.path().join("usr.md"), "typo").unwrap();
    let o = rewardsmith(&["propose", "--env", "pendulum", "--dry-run", "--prompts", dir.path().to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).1.contains("usr.md: not a prompt template"), "{}", text(&o).1);
}
