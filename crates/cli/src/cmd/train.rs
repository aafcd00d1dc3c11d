//! `rewardsmith train`: PPO on one environment with one reward script.

use crate::common::{load_env, reward_or_default};
use anyhow::{Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use rewardsmith_ppo::eval::evaluate;
use rewardsmith_ppo::train::{train, Metrics, PpoConfig, TermWindow};
use rewardsmith_sim::rollout::write_atomic;
use serde::Serialize;
use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

/// Arguments of `train`.
#[derive(clap::Args)]
pub struct Args {
    /// Environment: a built-in id or a path to an env file.
    #[arg(long)]
    env: String,
    /// Reward script (default: the env's built-in human.rhai).
    #[arg(long)]
    reward: Option<PathBuf>,
    /// Environment steps to train for (overrides the config's total_steps).
    #[arg(long)]
    steps: Option<u64>,
    /// Master seed (overrides the config's seed).
    #[arg(long)]
    seed: Option<u64>,
    /// PPO configuration file (TOML, the fields of PpoConfig; missing ones take their defaults).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Stop after this many seconds of wall time, keeping what was learned.
    #[arg(long)]
    max_seconds: Option<f64>,
    /// Output directory: metrics.jsonl, config.toml, policy.safetensors, summary.json.
    #[arg(long)]
    out: PathBuf,
}

/// Episodes of the deterministic policy evaluated at the end, seed stream 0.
const FINAL_EVAL_EPISODES: usize = 10;
/// Reward-term checkpoints kept in summary.json (evenly spaced over the iterations).
const TERM_CHECKPOINTS: usize = 10;

#[derive(Serialize)]
struct Checkpoint {
    global_step: u64,
    terms: Vec<TermWindow>,
}

#[derive(Serialize)]
struct Summary {
    status: &'static str,
    error: Option<String>,
    env: String,
    reward_script: Option<String>,
    global_step: u64,
    wall_seconds: f64,
    stopped_early: bool,
    last: Option<Metrics>,
    eval_fitness: Vec<f64>,
    eval_fitness_mean: Option<f64>,
    reward_checkpoints: Vec<Checkpoint>,
}

pub fn run(args: Args) -> Result<ExitCode> {
    let model = load_env(&args.env)?;
    let reward = reward_or_default(&model, args.reward.as_deref())?;
    let mut cfg: PpoConfig = match &args.config {
        Some(path) => {
            let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
            toml::from_str(&text).with_context(|| format!("{}: not a PPO configuration", path.display()))?
        }
        None => PpoConfig::default(),
    };
    cfg.total_steps = args.steps.unwrap_or(cfg.total_steps);
    cfg.seed = args.seed.unwrap_or(cfg.seed);
    std::fs::create_dir_all(&args.out).with_context(|| format!("cannot create {}", args.out.display()))?;
    write_atomic(&args.out.join("config.toml"), toml::to_string(&cfg)?.as_bytes())?;

    let metrics_path = args.out.join("metrics.jsonl");
    let mut metrics_file = std::io::BufWriter::new(
        std::fs::File::create(&metrics_path).with_context(|| format!("cannot write {}", metrics_path.display()))?,
    );
    let bar = ProgressBar::new(cfg.total_steps);
    bar.set_style(ProgressStyle::with_template("{bar:30} {pos}/{len} steps {msg}").expect("valid template"));
    let start = Instant::now();
    let mut log: Vec<Metrics> = Vec::new();
    let mut stopped_early = false;
    let mut write_error = None;
    let result = train(&model, reward.clone(), &cfg, |m, _| {
        if let Err(e) = serde_json::to_writer(&mut metrics_file, m).map_err(std::io::Error::from).and_then(|_| writeln!(metrics_file)) {
            write_error = Some(e);
            return false;
        }
        bar.set_position(m.global_step);
        bar.set_message(format!(
            "SPS {:.0}  return {}  fitness {}",
            m.sps,
            m.episodic_return.map_or("-".into(), |r| format!("{r:.1}")),
            m.fitness.map_or("-".into(), |f| format!("{f:.3}"))
        ));
        log.push(m.clone());
        let over_time = args.max_seconds.is_some_and(|s| start.elapsed().as_secs_f64() >= s);
        stopped_early |= over_time;
        !over_time
    });
    bar.finish_and_clear();
    metrics_file.flush()?;
    if let Some(e) = write_error {
        return Err(e).with_context(|| format!("cannot write {}", metrics_path.display()));
    }

    let checkpoints = (0..TERM_CHECKPOINTS.min(log.len()))
        .map(|k| &log[k * (log.len() - 1) / (TERM_CHECKPOINTS - 1).max(1)])
        .map(|m| Checkpoint { global_step: m.global_step, terms: m.reward_terms.clone() })
        .collect();
    let mut summary = Summary {
        status: "ok",
        error: None,
        env: model.spec().id.clone(),
        reward_script: reward.as_ref().map(|r| r.name().to_owned()),
        global_step: log.last().map_or(0, |m| m.global_step),
        wall_seconds: start.elapsed().as_secs_f64(),
        stopped_early,
        last: log.last().cloned(),
        eval_fitness: Vec::new(),
        eval_fitness_mean: None,
        reward_checkpoints: checkpoints,
    };
    let code = match result {
        Ok(agent) => {
            let mut metadata = std::collections::HashMap::new();
            metadata.insert("env_id".to_string(), model.spec().id.clone());
            metadata.insert("env_path".to_string(), model.path().to_owned());
            metadata.insert("env_hash".to_string(), model.hash().to_owned());
            metadata.insert("obs_clip".to_string(), cfg.obs_clip.to_string());
            if let Some(r) = &reward {
                metadata.insert("reward_script_name".to_string(), r.name().to_owned());
                metadata.insert("reward_script".to_string(), r.source().to_owned());
            }
            let bytes = agent.to_safetensors(&metadata).map_err(anyhow::Error::msg)?;
            write_atomic(&args.out.join("policy.safetensors"), &bytes)?;
            summary.eval_fitness = evaluate(&model, &agent, FINAL_EVAL_EPISODES, 0, cfg.obs_clip)?;
            summary.eval_fitness_mean =
                Some(summary.eval_fitness.iter().sum::<f64>() / summary.eval_fitness.len().max(1) as f64);
            println!(
                "trained {} for {} steps in {:.1} s: evaluation fitness {:.3} (mean of {FINAL_EVAL_EPISODES} episodes); wrote {}",
                model.spec().id,
                summary.global_step,
                summary.wall_seconds,
                summary.eval_fitness_mean.unwrap_or(f64::NAN),
                args.out.display()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            // A failing reward script ends this training, recorded; it is not a crash.
            eprintln!("error: training stopped: {e}");
            summary.status = "failed";
            summary.error = Some(e.to_string());
            ExitCode::from(1)
        }
    };
    write_atomic(&args.out.join("summary.json"), serde_json::to_string_pretty(&summary)?.as_bytes())?;
    Ok(code)
}
