//! `rewardsmith rollout`: record a seeded rollout.

use crate::common::{load_env, load_policy, reward_or_default};
use anyhow::{Result, bail};
use rand::{Rng, SeedableRng};
use rewardsmith_sim::{Env, derive_seed, rollout};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Arguments of `rollout`.
#[derive(clap::Args)]
pub struct Args {
    /// Environment: a built-in id or a path to an env file.
    #[arg(long)]
    env: String,
    /// What chooses the actions: `random` (uniform in [-1, 1], seeded by --seed), `zero`, or a
    /// training's output directory (its deterministic policy).
    #[arg(long, default_value = "random", value_parser = parse_policy)]
    policy: Policy,
    /// Number of steps to record (episodes restart when they end).
    #[arg(long, default_value_t = 200)]
    steps: usize,
    /// Seed of the episodes and of the random policy.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Reward script whose terms are recorded (default: the env's built-in human.rhai, if any).
    #[arg(long)]
    reward: Option<PathBuf>,
    /// Output rollout file.
    #[arg(long)]
    out: PathBuf,
}

/// What chooses the actions.
#[derive(Clone)]
enum Policy {
    /// Uniform in [-1, 1], seeded by --seed.
    Random,
    /// All actions 0.
    Zero,
    /// The deterministic policy of a training's output directory.
    Trained(PathBuf),
}

fn parse_policy(s: &str) -> Result<Policy, String> {
    match s {
        "random" => Ok(Policy::Random),
        "zero" => Ok(Policy::Zero),
        dir if Path::new(dir).join("policy.safetensors").is_file() => Ok(Policy::Trained(PathBuf::from(dir))),
        other => Err(format!("{other:?} is neither `random`, `zero` nor a training directory holding policy.safetensors")),
    }
}

/// Seed stream of the random policy, apart from the episodes' streams.
const POLICY_STREAM: u64 = 0x706f_6c69_6379;

pub fn run(args: Args) -> Result<ExitCode> {
    let model = load_env(&args.env)?;
    let reward = reward_or_default(&model, args.reward.as_deref())?;
    let mut env = Env::new(model.clone(), reward)?;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(derive_seed(args.seed, POLICY_STREAM));
    let (policy_name, recorded) = match &args.policy {
        Policy::Random => (
            "random".to_owned(),
            rollout::record(&mut env, args.seed, args.steps, "random", |_, a| {
                a.iter_mut().for_each(|x| *x = rng.random_range(-1.0..=1.0));
            })?,
        ),
        Policy::Zero => ("zero".to_owned(), rollout::record(&mut env, args.seed, args.steps, "zero", |_, a| a.fill(0.0))?),
        Policy::Trained(dir) => {
            let (agent, _, obs_clip) = load_policy(dir)?;
            if (agent.obs_dim(), agent.act_dim()) != (model.obs_dim(), model.action_dim()) {
                bail!(
                    "the policy in {} takes {} observations and gives {} actions; {} has {} and {}",
                    dir.display(),
                    agent.obs_dim(),
                    agent.act_dim(),
                    model.spec().id,
                    model.obs_dim(),
                    model.action_dim()
                );
            }
            let name = format!("policy {}", dir.display());
            let recorded = rollout::record(&mut env, args.seed, args.steps, &name, |obs, a| {
                a.copy_from_slice(&agent.act_deterministic(obs, obs_clip));
            })?;
            (name, recorded)
        }
    };
    rewardsmith_search::record::write_atomic(&args.out, &recorded.to_bytes())?;
    let fitness_steps = recorded.steps();
    println!(
        "wrote {}: {} steps, {} episodes of {} (seed {}, policy {}), trajectory {}",
        args.out.display(),
        fitness_steps,
        recorded.episodes(),
        model.spec().id,
        args.seed,
        policy_name,
        &recorded.trajectory_hash()[..16]
    );
    Ok(ExitCode::SUCCESS)
}
