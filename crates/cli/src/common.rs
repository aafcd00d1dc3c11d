//! Loading environments and reward scripts from command-line arguments.

use anyhow::{Context, Result};
use rewardsmith_ppo::config::PpoConfig;
use rewardsmith_script::RewardScript;
use rewardsmith_sim::EnvModel;
use rewardsmith_spec::{catalog, LoadedSpec};
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

/// The env file a recording (rollout, policy) was made with: `--env` if given; else the first of the recorded path, the
/// `REWARDSMITH_ENVIRONMENTS` copy and the embedded built-in whose hash is the recorded one (a
/// stale copy on disk must not hide a matching built-in).
pub fn env_matching(id: &str, path: &str, hash: &str, override_env: Option<&str>) -> Result<LoadedSpec, String> {
    let candidates: Vec<Result<LoadedSpec, String>> = match override_env {
        Some(env) => vec![catalog::resolve(env).map_err(|e| e.to_string())],
        None => {
            let mut c = Vec::new();
            if Path::new(path).is_file() {
                c.push(rewardsmith_spec::load(Path::new(path)).map_err(|e| e.to_string()));
            }
            c.push(catalog::resolve(id).map_err(|e| e.to_string()));
            if let Some((path, text)) = catalog::builtin(id) {
                c.push(LoadedSpec::from_text(path, text).map_err(|e| e.to_string()));
            }
            c
        }
    };
    let mut first = None;
    for candidate in candidates {
        match candidate {
            Ok(loaded) if loaded.hash == hash => return Ok(loaded),
            other => {
                first.get_or_insert(other);
            }
        }
    }
    match first {
        Some(Ok(loaded)) => Err(format!(
            "env file {} changed since recording (hash {} then, {} now); give the original file with --env",
            loaded.path,
            &hash[..12.min(hash.len())],
            &loaded.hash[..12]
        )),
        Some(Err(e)) => Err(e),
        None => Err(format!("environment {:?} not found; give its file with --env", id)),
    }
}


/// A training's policy: the agent saved in `DIR/policy.safetensors`, its metadata, and the
/// observation clip it was trained with.
pub fn load_policy(dir: &Path) -> Result<(rewardsmith_ppo::agent::Agent, std::collections::HashMap<String, String>, f32)> {
    let path = dir.join("policy.safetensors");
    let bytes = std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
    let (agent, meta) = rewardsmith_ppo::agent::Agent::from_safetensors(&bytes)
        .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    let obs_clip = meta
        .get("obs_clip")
        .and_then(|c| c.parse().ok())
        .with_context(|| format!("{}: metadata `obs_clip` is missing or not a number", path.display()))?;
    Ok((agent, meta, obs_clip))
}
