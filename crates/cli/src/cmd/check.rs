//! `rewardsmith check SCRIPT --env ID`: the static critic.

use crate::common::{load_env, load_reward};
use anyhow::Result;
use rewardsmith_script::review;
use rewardsmith_sim::{critic_states, CRITIC_SAMPLES};
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
    /// Print the report as JSON (as the search stores it in critic.json).
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args) -> Result<ExitCode> {
    let model = load_env(&args.env)?;
    let outcome = load_reward(&model, &args.script).and_then(|script| {
        let states = critic_states(&model, args.samples, args.seed)?;
        Ok(review(&script, &states)?)
    });
    let report = match outcome {
        Ok(report) => report,
        Err(e) => {
            if args.json {
                println!("{}", serde_json::json!({ "ok": false, "error": format!("{e:#}") }));
            } else {
                eprintln!("error: {e:#}");
            }
            return Ok(ExitCode::from(1));
        }
    };
    if args.json {
        println!("{}", serde_json::json!({ "ok": true, "report": report }));
        return Ok(ExitCode::SUCCESS);
    }
    println!("ok: {} passed the critic on {} states of {}", report.script, report.samples, model.spec().id);
    println!("  {:<20} {:>12} {:>12} {:>12}", "term", "min", "max", "mean");
    for t in &report.terms {
        println!("  {:<20} {:>12.5} {:>12.5} {:>12.5}", t.name, t.min, t.max, t.mean);
    }
    for line in &report.prints {
        println!("  printed: {line}");
    }
    Ok(ExitCode::SUCCESS)
}
