//! `rewardsmith export`: a rollout as a per-step table whose observations are the ones the policy
//! acted on.

use crate::support::{TINY_PPO, rewardsmith, text};
use rewardsmith_ppo::agent::Agent;
use std::fs;

fn f32s(v: &serde_json::Value) -> Vec<f32> {
    // Written as the f64 each f32 widens to, so the cast is exact.
    v.as_array().unwrap().iter().map(|x| x.as_f64().unwrap() as f32).collect()
}

fn bits(x: &[f32]) -> Vec<u32> {
    x.iter().map(|x| x.to_bits()).collect()
}

#[test]
fn exported_observations_give_the_recorded_actions_under_the_deterministic_policy() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("ppo.toml");
    fs::write(&config, TINY_PPO).unwrap();
    let run = dir.path().join("run");
    let o =
        rewardsmith(&["train", "--env", "pendulum", "--steps", "1024", "--seed", "2", "--config", config.to_str().unwrap(), "--out", run.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o).1);
    let rollout = dir.path().join("eval.rollout");
    let o = rewardsmith(&["eval", run.to_str().unwrap(), "--episodes", "2", "--record", rollout.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o).1);

    let o = rewardsmith(&["export", rollout.to_str().unwrap(), "--format", "jsonl"]);
    let (stdout, stderr) = text(&o);
    assert!(o.status.success(), "{stdout}{stderr}");
    let jsonl = dir.path().join("eval.jsonl");
    assert_eq!(stdout.trim(), format!("wrote {}: 400 steps, 2 episodes of pendulum (jsonl)", jsonl.display()), "the default path swaps the extension");

    let bytes = fs::read(run.join("policy.safetensors")).unwrap();
    let (agent, meta) = Agent::from_safetensors(&bytes).unwrap();
    let obs_clip: f32 = meta["obs_clip"].parse().unwrap();
    let lines: Vec<serde_json::Value> = fs::read_to_string(&jsonl).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 400, "two whole episodes of 200 steps");
    for (i, line) in lines.iter().enumerate() {
        let obs = f32s(&line["obs"]);
        assert_eq!(obs.len(), 3);
        assert_eq!(bits(&agent.act_deterministic(&obs, obs_clip)), bits(&f32s(&line["action"])), "step {i}: the policy's action on the exported observation");
        assert_eq!(line["step"], i % 200);
        assert_eq!(line["episode"], i / 200);
        if i % 200 != 199 {
            assert_eq!(bits(&f32s(&line["next_obs"])), bits(&f32s(&lines[i + 1]["obs"])), "step {i}: the next observation is the next step's");
        }
        assert!(line["reward"].is_f64(), "eval records the training's reward script: {line}");
    }
    assert_eq!(lines[199]["truncated"], true);

    // The same rollout to stdout, and as an .npz next to it.
    let o = rewardsmith(&["export", rollout.to_str().unwrap(), "--format", "jsonl", "--output", "-"]);
    assert!(o.status.success());
    assert_eq!(String::from_utf8(o.stdout.clone()).unwrap(), fs::read_to_string(&jsonl).unwrap());
    assert!(text(&o).1.contains("wrote stdout: 400 steps"), "{}", text(&o).1);
    let npz = dir.path().join("table.npz");
    let o = rewardsmith(&["export", rollout.to_str().unwrap(), "--format", "npz", "--output", npz.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o).1);
    assert!(fs::read(&npz).unwrap().starts_with(b"PK\x03\x04"), "a zip");
}

#[test]
fn export_against_another_env_or_of_a_tampered_rollout_fails_with_exit_1() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("p.rollout");
    let o = rewardsmith(&["rollout", "--env", "pendulum", "--steps", "30", "--seed", "3", "--out", file.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o).1);

    let o = rewardsmith(&["export", file.to_str().unwrap(), "--format", "npz", "--env", "reacher"]);
    let stderr = text(&o).1;
    assert_eq!(o.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("p.rollout: recorded in environment \"pendulum\", but --env reacher is \"reacher\""), "{stderr}");

    // One flipped bit of a recorded pose: the re-simulation no longer reproduces the file.
    let mut recorded = rewardsmith_sim::rollout::Rollout::read(&file).unwrap();
    let rewardsmith_sim::rollout::Record::Step { poses, .. } = &mut recorded.records[8] else { panic!("record 8 is a step") };
    poses[0][3] = f32::from_bits(poses[0][3].to_bits() ^ 1);
    let tampered = dir.path().join("tampered.rollout");
    fs::write(&tampered, recorded.to_bytes()).unwrap();
    let o = rewardsmith(&["export", tampered.to_str().unwrap(), "--format", "jsonl"]);
    let stderr = text(&o).1;
    assert_eq!(o.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("tampered.rollout: step 7 (episode 0): pose of body \"pole\" [qx] differs"), "{stderr}");
    assert!(stderr.contains("the env file or the program changed"), "{stderr}");
    assert!(!dir.path().join("tampered.jsonl").exists(), "nothing is written from a trajectory that does not reproduce");
}
