//! `rewardsmith bench`: simulation throughput per environment, or (`--ppo`) the PPO update's.

use crate::common::{load_env, reward_or_default};
use crate::compute_args::ComputeArgs;
use anyhow::{Result, anyhow};
use rewardsmith_ppo::bench::{UpdateBenchConfig, update_throughput};
use rewardsmith_ppo::config::{BackendKind, Device};
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
    /// Repeats per measurement (the median is reported; with --ppo, the fastest).
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
    /// Measure the PPO update instead of the environments: samples per second of whole updates
    /// on a synthetic batch (the rewardsmith half of `benches/ppo_update_reference.py`).
    #[arg(long)]
    ppo: bool,
    #[command(flatten)]
    ppo_workload: PpoWorkload,
    #[command(flatten)]
    compute: ComputeArgs,
}

/// The `--ppo` measurement's workload; the defaults are `ppo_update_reference.py`'s.
#[derive(clap::Args)]
#[command(next_help_heading = "PPO update (--ppo)")]
struct PpoWorkload {
    /// Observation length.
    #[arg(long, default_value_t = UpdateBenchConfig::default().obs)]
    obs: usize,
    /// Action length.
    #[arg(long, default_value_t = UpdateBenchConfig::default().act)]
    act: usize,
    /// Hidden layer widths, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "64,64")]
    hidden: Vec<usize>,
    /// Samples per batch.
    #[arg(long, default_value_t = UpdateBenchConfig::default().batch)]
    batch: usize,
    /// Samples per minibatch (must divide the batch).
    #[arg(long, default_value_t = UpdateBenchConfig::default().minibatch)]
    minibatch: usize,
    /// Passes over the batch per update.
    #[arg(long, default_value_t = UpdateBenchConfig::default().epochs)]
    epochs: usize,
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
    if args.ppo {
        return run_ppo(&args);
    }
    let ids: Vec<String> = if args.envs.is_empty() { catalog::ids().into_iter().map(String::from).collect() } else { args.envs.clone() };
    let cfg = BenchConfig { steps: args.steps, repeats: args.repeats, num_envs: args.num_envs, vec_steps: args.vec_steps };
    let mut results = Vec::new();
    if !args.json {
        println!("machine: {}", machine());
        println!(
            "{:<17} {:>8} {:>8} {:>9} {:>9} {:>8} {:>7} {:>9} {:>9} {:>5} {:>9} {:>9} {:>5}",
            "env", "µs/step", "no-rwd", "physics", "µs/sim-s", "rwd µs", "reward", "vec 1t", "vec 2t", "2t/1t", "world 1t", "world 2t", "2t/1t"
        );
    }
    for id in &ids {
        let model = load_env(id)?;
        let reward = reward_or_default(&model, None)?;
        let b = bench_env(&model, reward, &cfg)?;
        if !args.json {
            println!(
                "{:<17} {:>8.2} {:>8.2} {:>9.2} {:>9.1} {:>8.2} {:>6.1}% {:>9.0} {:>9.0} {:>5.2} {:>9.0} {:>9.0} {:>5.2}",
                b.id,
                b.us_per_step,
                b.us_per_step_no_reward,
                b.us_per_physics_step,
                b.us_per_sim_second,
                b.us_per_reward_call,
                100.0 * b.reward_share,
                b.vecenv_sps_1_thread,
                b.vecenv_sps_2_threads,
                b.vecenv_speedup,
                b.per_world_sps_1_thread,
                b.per_world_sps_2_threads,
                b.per_world_speedup
            );
        }
        results.push(b);
    }
    if args.json {
        println!("{}", serde_json::json!({ "machine": machine(), "envs": results }));
    }
    Ok(ExitCode::SUCCESS)
}

fn run_ppo(args: &Args) -> Result<ExitCode> {
    let w = &args.ppo_workload;
    let device = args.compute.device.unwrap_or(Device::Cpu);
    let backend = args.compute.backend.unwrap_or(if matches!(device, Device::Cuda(_)) { BackendKind::Torch } else { BackendKind::Native });
    let cfg = UpdateBenchConfig {
        obs: w.obs,
        act: w.act,
        hidden: w.hidden.clone(),
        batch: w.batch,
        minibatch: w.minibatch,
        epochs: w.epochs,
        repeats: args.repeats,
        backend,
        device,
    };
    let b = update_throughput(&cfg).map_err(|e| anyhow!(e))?;
    if args.json {
        println!(
            "{}",
            serde_json::json!({ "machine": machine(), "samples_per_s": b.samples_per_s, "ms_per_minibatch": b.ms_per_minibatch, "device": b.device })
        );
    } else {
        println!("machine: {}", machine());
        println!(
            "{:.0} samples/s, {:.3} ms per minibatch of {} (obs {}, act {}, hidden {:?}, batch {}, {} epochs; best of {}) on {}",
            b.samples_per_s, b.ms_per_minibatch, w.minibatch, w.obs, w.act, w.hidden, w.batch, w.epochs, args.repeats, b.device
        );
    }
    Ok(ExitCode::SUCCESS)
}
