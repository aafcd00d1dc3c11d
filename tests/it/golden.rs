//! Golden trajectory hashes: a seeded rollout of every built-in environment, recorded through the
//! CLI, must hash to the value committed in `tests/golden/hashes.txt`. They fail when the physics,
//! an env file, a baseline reward or the rollout encoding changes. After an intended change,
//! regenerate them explicitly:
//!
//! ```text
//! REWARDSMITH_BLESS=1 cargo test --test it golden
//! ```
//!
//! Physics uses rapier's `enhanced-determinism` and scripts use libm's math, so the hashes hold on
//! any x86-64 machine, not only the one that wrote them.

use crate::support::{env_ids, repo, rewardsmith};
use rewardsmith_sim::rollout::Rollout;
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// Seed and length of the golden rollouts (random policy, the env's human.rhai reward).
const SEED: u64 = 42;
const STEPS: usize = 300;

fn hashes_path() -> std::path::PathBuf {
    repo().join("tests/golden/hashes.txt")
}

fn record(id: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("golden.rollout");
    let (seed, steps) = (SEED.to_string(), STEPS.to_string());
    let out = rewardsmith(&["rollout", "--env", id, "--seed", &seed, "--steps", &steps, "--out", file.to_str().unwrap()]);
    assert!(out.status.success(), "{id}: {}", String::from_utf8_lossy(&out.stderr));
    Rollout::read(&file).unwrap().trajectory_hash()
}

#[test]
fn golden_rollout_hashes_match() {
    let actual: BTreeMap<&str, String> = env_ids().into_iter().map(|id| (id, record(id))).collect();
    if std::env::var_os("REWARDSMITH_BLESS").is_some() {
        let mut text = format!(
            "# Trajectory hashes (SHA-256 of the rollout records) of `rewardsmith rollout --env ID \
             --seed {SEED} --steps {STEPS}`.\n# Regenerate: REWARDSMITH_BLESS=1 cargo test --test it golden\n"
        );
        for (id, hash) in &actual {
            writeln!(text, "{id} {hash}").unwrap();
        }
        std::fs::write(hashes_path(), text).unwrap();
        return;
    }
    let committed = std::fs::read_to_string(hashes_path()).expect("tests/golden/hashes.txt exists");
    let expected: BTreeMap<&str, &str> = committed.lines().filter(|l| !l.starts_with('#') && !l.trim().is_empty()).filter_map(|l| l.split_once(' ')).collect();
    for (id, hash) in &actual {
        let want = expected.get(id).unwrap_or_else(|| panic!("no golden hash for {id}; run REWARDSMITH_BLESS=1 cargo test --test it golden"));
        assert_eq!(
            hash, want,
            "{id}: the seeded trajectory changed. If the change is intended (physics, env file, \
             baseline reward), regenerate with REWARDSMITH_BLESS=1 cargo test --test it golden"
        );
    }
    assert_eq!(expected.len(), actual.len(), "hashes.txt lists environments that no longer exist");
}
