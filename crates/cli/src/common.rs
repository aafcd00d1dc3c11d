//! Loading environments and reward scripts from command-line arguments.

use anyhow::{Context, Result};
use rewardsmith_script::RewardScript;
use rewardsmith_sim::EnvModel;
use rewardsmith_spec::catalog;
use std::path::Path;
use std::sync::Arc;

/// Resolves `--env` (built-in id or path) and compiles it.
pub fn load_env(env: &str) -> Result<Arc<EnvModel>> {
    let loaded = catalog::resolve(env)?;
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
