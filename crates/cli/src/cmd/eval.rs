//! `rewardsmith eval DIR`: the deterministic policy of a training on seeded episodes.

use crate::common::{env_matching, load_policy};
use anyhow::Result;
use rewardsmith_ppo::eval::evaluate;
use rewardsmith_sim::{rollout, Env, EnvModel};
use std::path::PathBuf;
use std::process::ExitCode;

/// Arguments of `eval`.
#[derive(clap::Args)]
pub struct Args {
    /// A training's output directory (holding policy.safetensors).
    dir: PathBuf,
    /// Episodes to run.
    #[arg(long, default_value_t = 10)]
    episodes: usize,
    /// Seed of the episodes.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Also record the episodes as a rollout file (for `replay` and the viewer).
    #[arg(long)]
    record: Option<PathBuf>,
    /// Evaluate on this env file instead of the one the policy was trained on.
    #[arg(long)]
    env: Option<String>,
}

pub fn run(args: Args) -> Result<ExitCode> {
    let (agent, meta, obs_clip) = load_policy(&args.dir)?;
    let get = |k: &str| meta.get(k).cloned().unwrap_or_default();
    let loaded = env_matching(&get("env_id"), &get("env_path"), &get("env_hash"), args.env.as_deref()).map_err(anyhow::Error::msg)?;
    let model = EnvModel::new(&loaded)?;
    let scores = evaluate(&model, &agent, args.episodes, args.seed, obs_clip)?;
    for (e, s) in scores.iter().enumerate() {
        println!("episode {e}: fitness {s:.4}");
    }
    let n = scores.len().max(1) as f64;
    let mean = scores.iter().sum::<f64>() / n;
    let std = (scores.iter().map(|s| (s - mean) * (s - mean)).sum::<f64>() / n).sqrt();
    println!("fitness {mean:.4} ± {std:.4} over {} episodes ({})", scores.len(), model.spec().id);
    if let Some(out) = &args.record {
        let reward = match meta.get("reward_script") {
            Some(source) => Some(model.compile_reward(&get("reward_script_name"), source)?),
            None => None,
        };
        let steps = model.spec().physics.episode_length as usize * args.episodes;
        let mut env = Env::new(model.clone(), reward)?;
        // Records whole episodes at most: the last one may be cut where the step budget ends.
        let recorded = rollout::record(&mut env, args.seed, steps, &format!("policy {}", args.dir.display()), |obs, action| {
            action.copy_from_slice(&agent.act_deterministic(obs, obs_clip));
        })?;
        recorded.write(out)?;
        println!("recorded {} steps to {}", recorded.steps(), out.display());
    }
    Ok(ExitCode::SUCCESS)
}
