//! `rewardsmith rollout`: record a seeded rollout.

use crate::common::{load_env, reward_or_default};
use anyhow::Result;
use rand::{Rng, SeedableRng};
use rewardsmith_sim::{derive_seed, rollout, Env};
use std::path::PathBuf;
use std::process::ExitCode;

/// Arguments of `rollout`.
#[derive(clap::Args)]
pub struct Args {
    /// Environment: a built-in id or a path to an env file.
    #[arg(long)]
    env: String,
    /// What chooses the actions.
    #[arg(long, value_enum, default_value_t = Policy::Random)]
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

/// The built-in policies (trained ones come with `train`).
#[derive(Clone, Copy, clap::ValueEnum)]
enum Policy {
    /// Uniform in [-1, 1], seeded by --seed.
    Random,
    /// All actions 0.
    Zero,
}

/// Seed stream of the random policy, apart from the episodes' streams.
const POLICY_STREAM: u64 = 0x706f_6c69_6379;

pub fn run(args: Args) -> Result<ExitCode> {
    let model = load_env(&args.env)?;
    let reward = reward_or_default(&model, args.reward.as_deref())?;
    let mut env = Env::new(model.clone(), reward)?;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(derive_seed(args.seed, POLICY_STREAM));
    let (policy_name, recorded) = match args.policy {
        Policy::Random => ("random", rollout::record(&mut env, args.seed, args.steps, "random", |_, a| {
            a.iter_mut().for_each(|x| *x = rng.random_range(-1.0..=1.0));
        })?),
        Policy::Zero => ("zero", rollout::record(&mut env, args.seed, args.steps, "zero", |_, a| a.fill(0.0))?),
    };
    recorded.write(&args.out)?;
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
