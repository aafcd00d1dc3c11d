//! Loading environments and reward scripts from command-line arguments.

use anyhow::{Context, Result};
use rewardsmith_ppo::config::PpoConfig;
use rewardsmith_script::RewardScript;
use rewardsmith_sim::EnvModel;
use rewardsmith_spec::catalog;
use std::path::Path;
use std::sync::Arc;

/// Resolves `--env` (built-in id or path) and compiles it; its `[ppo]` table must be a valid
/// partial PPO configuration.
pub fn load_env(env: &str) -> Result<Arc<EnvModel>> {
    load_env_with(env, |_| ())
}

/// As [`load_env`], with `adjust` applied to the file's specification before it is compiled
/// (a search's `--fitness`).
pub fn load_env_with(env: &str, adjust: impl FnOnce(&mut rewardsmith_spec::LoadedSpec)) -> Result<Arc<EnvModel>> {
    let mut loaded = catalog::resolve(env)?;
    adjust(&mut loaded);
    PpoConfig::from_layers([(format!("{} [ppo]", loaded.path).as_str(), &loaded.spec.ppo)])?;
    Ok(EnvModel::new(&loaded)?)
}

/// Reads and compiles a reward script file for `model`.
pub fn load_reward(model: &EnvModel, path: &Path) -> Result<RewardScript> {
    let source = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    Ok(model.compile_reward(&path.display().to_string(), &source)?)
}

/// The reward script to use: the given file, else the environment's built-in `human.rhai`
/// (if it has one), else none.
pub fn reward_or_default(model: &EnvModel, path: Option<&Path>) -> Result<Option<RewardScript>> {
    if let Some(path) = path {
        return load_reward(model, path).map(Some);
    }
    match catalog::reward_script(&model.spec().id, "human.rhai") {
        Some((name, source)) => Ok(Some(model.compile_reward(name, source)?)),
        None => Ok(None),
    }
}

/// A training's policy: the agent saved in `DIR/policy.safetensors`, its metadata, and the
/// observation clip it was trained with.
pub fn load_policy(dir: &Path) -> Result<(rewardsmith_ppo::agent::Agent, std::collections::HashMap<String, String>, f32)> {
    let path = dir.join("policy.safetensors");
    let bytes = std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
    let (agent, meta) = rewardsmith_ppo::agent::Agent::from_safetensors(&bytes).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    let obs_clip =
        meta.get("obs_clip").and_then(|c| c.parse().ok()).with_context(|| format!("{}: metadata `obs_clip` is missing or not a number", path.display()))?;
    Ok((agent, meta, obs_clip))
}
