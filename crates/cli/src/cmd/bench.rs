//! `rewardsmith bench`: simulation throughput per environment.

use crate::common::{load_env, reward_or_default};
use anyhow::Result;
use rewardsmith_sim::bench::{BenchConfig, bench_env};
use rewardsmith_spec::catalog;
use std::process::ExitCode;

/// Arguments of `bench`.
#[derive(clap::Args)]
pub struct Args {
    /// Environments to measure (ids or paths); default all built-in ones. Each runs with its
    /// built-in human.rhai reward.
    #[arg(long = "env")]
    envs: Vec<String>,
    /// Steps per single-env measurement.
    #[arg(long, default_value_t = BenchConfig::default().steps)]
    steps: usize,
    /// Repeats per measurement (the fastest is kept).
    #[arg(long, default_value_t = BenchConfig::default().repeats)]
    repeats: usize,
    /// Instances in the VecEnv measurements.
    #[arg(long, default_value_t = BenchConfig::default().num_envs)]
    num_envs: usize,
    /// Steps per instance in the VecEnv measurements.
    #[arg(long, default_value_t = BenchConfig::default().vec_steps)]
    vec_steps: usize,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("model name")).map(|l| l.split(':').nth(1).unwrap_or("").trim().to_owned()))
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    format!("{cpu}, {cores} cores")
}

pub fn run(args: Args) -> Result<ExitCode> {
    let ids: Vec<String> = if args.envs.is_empty() { catalog::ids().into_iter().map(String::from).collect() } else { args.envs.clone() };
    let cfg = BenchConfig { steps: args.steps, repeats: args.repeats, num_envs: args.num_envs, vec_steps: args.vec_steps };
    let mut results = Vec::new();
    if !args.json {
        println!("machine: {}", machine());
        println!(
            "{:<18} {:>9} {:>9} {:>11} {:>8} {:>11} {:>11} {:>6} {:>11} {:>11}",
            "env", "µs/step", "no-rwd", "µs/sim-s", "reward%", "vec 1t sps", "vec 2t sps", "2t/1t", "world 1t", "world 2t"
        );
    }
    for id in &ids {
        let model = load_env(id)?;
        let reward = reward_or_default(&model, None)?;
        let b = bench_env(&model, reward, &cfg)?;
        if !args.json {
            println!(
                "{:<18} {:>9.2} {:>9.2} {:>11.1} {:>7.1}% {:>11.0} {:>11.0} {:>6.2} {:>11.0} {:>11.0}",
                b.id,
                b.us_per_step,
                b.us_per_step_no_reward,
                b.us_per_sim_second,
                100.0 * b.reward_share,
                b.vecenv_sps_1_thread,
                b.vecenv_sps_2_threads,
                b.vecenv_speedup,
                b.per_world_sps_1_thread,
                b.per_world_sps_2_threads
            );
        }
        results.push(b);
    }
    if args.json {
        println!("{}", serde_json::json!({ "machine": machine(), "envs": results }));
    }
    Ok(ExitCode::SUCCESS)
}
