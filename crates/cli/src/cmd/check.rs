//! `rewardsmith check SCRIPT --env ID`: the critic's verdict, the one `propose` and the search
//! give (refused: an error, a constant reward, a script too costly to train with; else passed,
//! with warnings and its cost).

use crate::common::{load_env, load_reward};
use anyhow::Result;
use rewardsmith_script::{Verdict, judge};
use rewardsmith_sim::{CRITIC_SAMPLES, critic_states};
use std::path::PathBuf;
use std::process::ExitCode;

/// Arguments of `check`.
#[derive(clap::Args)]
pub struct Args {
    /// The reward script (`.rhai`).
    script: PathBuf,
    /// Environment: a built-in id or a path to an env file.
    #[arg(long)]
    env: String,
    /// How many sampled states to run the script on.
    #[arg(long, default_value_t = CRITIC_SAMPLES)]
    samples: usize,
    /// Seed of the sampled states.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Print the verdict as JSON (as `propose` and the search store it in critic.json).
    #[arg(long)]
    json: bool,
    /// Environment steps of the training the cost estimate speaks of (default: the env's
    /// `[ppo] total_steps`, the budget a search trains each candidate for).
    #[arg(long)]
    steps: Option<u64>,
}

pub fn run(args: Args) -> Result<ExitCode> {
    let model = load_env(&args.env)?;
    let steps = args.steps.unwrap_or_else(|| model.spec().training_steps());
    let verdict = match load_reward(&model, &args.script).and_then(|script| Ok((script, critic_states(&model, args.samples, args.seed)?))) {
        Ok((script, states)) => judge(&script, &states, steps, model.spec().terminates()),
        Err(e) => Verdict::refused("critic", format!("{e:#}")),
    };
    let code = if verdict.ok { ExitCode::SUCCESS } else { ExitCode::from(1) };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&verdict)?);
        return Ok(code);
    }
    if let Some(error) = &verdict.error {
        eprintln!("error: {error}");
        return Ok(code);
    }
    println!("ok: {} passed the critic on {} states of {}", args.script.display(), args.samples, model.spec().id);
    println!("  {:<20} {:>12} {:>12} {:>12}", "term", "min", "max", "mean");
    for t in &verdict.terms {
        println!("  {:<20} {:>12.5} {:>12.5} {:>12.5}", t.name, t.min, t.max, t.mean);
    }
    if let Some(cost) = &verdict.cost {
        println!(
            "  cost: {:.0} operations per call (at most {}), about {:.1} s of script time over a training of {} steps",
            cost.operations_mean, cost.operations_max, cost.seconds_per_training, cost.training_steps
        );
    }
    for warning in &verdict.warnings {
        println!("  warning: {warning}");
    }
    for line in &verdict.prints {
        println!("  printed: {line}");
    }
    Ok(code)
}
