//! `rewardsmith eval DIR`: the deterministic policy of a training on seeded episodes.

use crate::common::load_policy;
use crate::compute_args::{self, ComputeArgs};
use anyhow::Result;
use rewardsmith_ppo::agent::Agent;
use rewardsmith_ppo::config::PpoConfig;
use rewardsmith_ppo::eval::{ScoreSummary, evaluate_policy};
use rewardsmith_sim::{Env, EnvModel, rollout};
use rewardsmith_spec::catalog::matching as env_matching;
use std::path::PathBuf;
use std::process::ExitCode;

/// Arguments of `eval`.
#[derive(clap::Args)]
pub struct Args {
    /// A training's output directory (holding policy.safetensors).
    dir: PathBuf,
    /// Episodes to run.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..))]
    episodes: u64,
    /// Seed of the episodes.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Also record the episodes as a rollout file (for `replay` and the viewer).
    #[arg(long)]
    record: Option<PathBuf>,
    /// Evaluate on this env file instead of the one the policy was trained on.
    #[arg(long)]
    env: Option<String>,
    #[command(flatten)]
    compute: ComputeArgs,
}

pub fn run(args: Args) -> Result<ExitCode> {
    let (agent, meta, obs_clip) = load_policy(&args.dir)?;
    let get = |k: &str| meta.get(k).cloned().unwrap_or_default();
    let loaded = env_matching(&get("env_id"), &get("env_path"), &get("env_hash"), args.env.as_deref()).map_err(anyhow::Error::msg)?;
    let model = EnvModel::new(&loaded)?;
    // The reward the policy was trained with, for its return next to the fitness.
    let reward = match meta.get("reward_script") {
        Some(source) => Some(model.compile_reward(&get("reward_script_name"), source)?),
        None => None,
    };
    let episodes = args.episodes as usize;
    let compute = PpoConfig::from_layers([("--backend/--device", &args.compute.layer())])?;
    let described = compute_args::check(&compute)?;
    if args.compute.given() {
        eprintln!("evaluating on the {described}");
    }
    let mut act = policy(&agent, &compute, obs_clip)?;
    // The fitness is what `eval` is for; the return is extra, so a reward script that fails on
    // some state costs the return, not the evaluation.
    let scores = match evaluate_policy(&model, &mut act, reward.clone(), episodes, args.seed) {
        Ok(scores) => scores,
        Err(e) if reward.is_some() => {
            eprintln!("warning: the policy's reward script failed ({e}); evaluating the fitness alone");
            evaluate_policy(&model, &mut act, None, episodes, args.seed)?
        }
        Err(e) => return Err(e.into()),
    };
    for (e, s) in scores.iter().enumerate() {
        match s.ret {
            Some(r) => println!("episode {e}: fitness {:.4}  return {r:.3}", s.fitness),
            None => println!("episode {e}: fitness {:.4}", s.fitness),
        }
    }
    let summary = ScoreSummary::of(&scores);
    let ret = match (summary.return_mean, summary.return_std) {
        (Some(m), Some(s)) => format!("; return {m:.3} ± {s:.3}"),
        _ => String::new(),
    };
    println!("fitness {:.4} ± {:.4} over {} episodes ({}){ret}", summary.fitness_mean, summary.fitness_std, summary.episodes, model.spec().id);
    if let Some(out) = &args.record {
        let steps = model.spec().physics.episode_length as usize * episodes;
        let mut env = Env::new(model.clone(), reward)?;
        // Records whole episodes at most: the last one may be cut where the step budget ends.
        let recorded = rollout::record(&mut env, args.seed, steps, &format!("policy {}", args.dir.display()), |obs, action| {
            action.copy_from_slice(&act(obs));
        })?;
        rewardsmith_search::record::write_atomic(out, &recorded.to_bytes())?;
        println!("recorded {} steps to {}", recorded.steps(), out.display());
    }
    Ok(ExitCode::SUCCESS)
}

/// A deterministic policy: raw observation → action.
type Policy<'a> = Box<dyn FnMut(&[f32]) -> Vec<f32> + 'a>;

/// The deterministic policy on the backend and device asked for.
fn policy<'a>(agent: &'a Agent, compute: &PpoConfig, obs_clip: f32) -> Result<Policy<'a>> {
    match compute.backend {
        rewardsmith_ppo::config::BackendKind::Native => Ok(Box::new(move |obs| agent.act_deterministic(obs, obs_clip))),
        #[cfg(feature = "torch")]
        rewardsmith_ppo::config::BackendKind::Torch => {
            use rewardsmith_ppo::torch::TorchBackend;
            let mut backend = TorchBackend::new(agent, Default::default(), compute.device)?;
            Ok(Box::new(move |obs| backend.act_deterministic(&agent.obs_rms, obs, obs_clip)))
        }
        #[cfg(not(feature = "torch"))]
        rewardsmith_ppo::config::BackendKind::Torch => anyhow::bail!(rewardsmith_ppo::train::NO_TORCH),
    }
}
