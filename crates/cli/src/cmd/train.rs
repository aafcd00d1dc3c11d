//! `rewardsmith train`: PPO on one environment with one reward script.

use crate::common::{load_env, reward_or_default};
use crate::compute_args::{self, ComputeArgs};
use anyhow::{Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use rewardsmith_ppo::agent::{Agent, policy_metadata};
use rewardsmith_ppo::config::PpoConfig;
use rewardsmith_ppo::eval::{EvalSchedule, Evaluation, ScoreSummary, evaluate_with_reward};
use rewardsmith_ppo::tensorboard::EventWriter;
use rewardsmith_ppo::train::{Metrics, TermWindow, TrainError, evenly_spaced, train};
use rewardsmith_script::RewardScript;
use rewardsmith_search::record::write_atomic;
use rewardsmith_sim::{EnvModel, SimError};
use serde::Serialize;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
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
    /// PPO configuration file (TOML, the fields of PpoConfig); it overrides the env file's
    /// `[ppo]` table key by key, and PPO's defaults fill the rest.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Override one configuration key, e.g. `--set learning_rate=1e-3 --set hidden=[32,32]`
    /// (TOML values; over the env file and --config, under --steps and --seed; repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    set: Vec<String>,
    /// Stop after this many seconds of wall time, keeping what was learned.
    #[arg(long)]
    max_seconds: Option<f64>,
    /// Evaluate the deterministic policy every this many environment steps (0: only at the end;
    /// default with a target: every 4 rollouts).
    #[arg(long)]
    eval_every: Option<u64>,
    /// Episodes per evaluation during training.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..))]
    eval_episodes: u64,
    /// Stop training at the first evaluation whose mean fitness reaches this.
    #[arg(long, allow_negative_numbers = true)]
    target: Option<f64>,
    /// Stop training at the first evaluation whose mean return under the reward script reaches
    /// this (with --target too, both must be reached).
    #[arg(long, allow_negative_numbers = true)]
    target_return: Option<f64>,
    /// Output directory: metrics.jsonl, TensorBoard events, config.toml, policy.safetensors,
    /// summary.json.
    #[arg(long)]
    out: PathBuf,
    #[command(flatten)]
    compute: ComputeArgs,
}

/// Why a training ended before or at its step budget (`summary.json`'s `stop_reason`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
enum StopReason {
    /// The step budget was used up.
    Steps,
    /// An evaluation reached the target(s).
    Target,
    /// `--max-seconds` ran out.
    MaxSeconds,
    /// Ctrl-C (SIGINT), SIGTERM or SIGHUP: the run stopped after the iteration in progress, and
    /// its outputs were written.
    Interrupted,
}

/// Exit code of a training stopped by a signal, after writing its outputs (128 + SIGINT, as a
/// shell reports a process killed by Ctrl-C, so `train && next` does not go on).
const EXIT_INTERRUPTED: u8 = 130;

/// A flag raised by the first Ctrl-C, SIGTERM or SIGHUP, which training polls after each
/// iteration; a second signal exits at once.
fn interrupt_flag() -> Result<Arc<AtomicBool>> {
    let flag = Arc::new(AtomicBool::new(false));
    let raised = flag.clone();
    ctrlc::set_handler(move || {
        if raised.swap(true, Ordering::Relaxed) {
            std::process::exit(i32::from(EXIT_INTERRUPTED));
        }
        eprintln!("\ninterrupted: stopping after this iteration (again to quit at once)");
    })
    .context("cannot install the Ctrl-C handler")?;
    Ok(flag)
}

/// Rollouts between evaluations when --target is given without --eval-every.
const DEFAULT_EVAL_ROLLOUTS: u64 = 4;

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
    stop_reason: StopReason,
    last: Option<Metrics>,
    evaluations: Vec<Evaluation>,
    target: Option<f64>,
    target_return: Option<f64>,
    /// Environment steps at the first evaluation that reached the target(s).
    target_reached_at: Option<u64>,
    eval_fitness: Vec<f64>,
    eval_fitness_mean: Option<f64>,
    /// Mean return of those episodes under the training's reward script.
    eval_return_mean: Option<f64>,
    reward_checkpoints: Vec<Checkpoint>,
    /// Which backend trained, on which device (`torch backend on cuda:0 (NVIDIA H200, …)`).
    compute: String,
}

/// The resolved configuration: PPO's defaults, the env file's `[ppo]`, `--config`, then the
/// flags.
fn resolve_config(args: &Args, env_path: &str, env_ppo: &toml::Table) -> Result<PpoConfig> {
    let file = match &args.config {
        Some(path) => {
            let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
            let table: toml::Table = text.parse().with_context(|| format!("{}: not a TOML file", path.display()))?;
            Some((path.display().to_string(), table))
        }
        None => None,
    };
    let mut flags = Vec::new();
    for set in &args.set {
        flags.push((format!("--set {set}"), PpoConfig::parse_override(set)?));
    }
    if args.compute.given() {
        flags.push(("--backend/--device".to_owned(), args.compute.layer()));
    }
    let env_layer = format!("{env_path} [ppo]");
    let layers = std::iter::once((env_layer.as_str(), env_ppo))
        .chain(file.iter().map(|(name, t)| (name.as_str(), t)))
        .chain(flags.iter().map(|(name, t)| (name.as_str(), t)));
    let mut cfg = PpoConfig::from_layers(layers)?;
    cfg.total_steps = args.steps.unwrap_or(cfg.total_steps);
    cfg.seed = args.seed.unwrap_or(cfg.seed);
    Ok(cfg)
}

/// The evaluation schedule the flags ask for; refuses combinations that could never stop.
fn eval_schedule(args: &Args, cfg: &PpoConfig, model: &EnvModel, reward: &Option<RewardScript>) -> Result<EvalSchedule> {
    let has_target = args.target.is_some() || args.target_return.is_some();
    if args.target_return.is_some() && reward.is_none() {
        anyhow::bail!("--target-return needs a reward script, and {} has no built-in one", model.spec().id);
    }
    if has_target && args.eval_every == Some(0) {
        anyhow::bail!("--target and --target-return are checked at evaluations: give --eval-every a number of steps > 0");
    }
    let rollout_steps = (cfg.num_envs * cfg.num_steps) as u64;
    let eval_every = args.eval_every.unwrap_or(if has_target { DEFAULT_EVAL_ROLLOUTS * rollout_steps } else { 0 });
    let mut schedule = EvalSchedule::new(eval_every, args.eval_episodes as usize, 0, reward.clone());
    (schedule.target, schedule.target_return) = (args.target, args.target_return);
    Ok(schedule)
}

/// Creates the output directory, removing the event files of an earlier run there (its
/// `metrics.jsonl` is overwritten too, and TensorBoard would overlay both runs' curves).
fn prepare_out_dir(out: &Path) -> Result<()> {
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    for entry in std::fs::read_dir(out).with_context(|| format!("cannot read {}", out.display()))? {
        let path = entry?.path();
        if path.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with("events.out.tfevents.")) {
            std::fs::remove_file(&path).with_context(|| format!("cannot remove {}", path.display()))?;
        }
    }
    Ok(())
}

pub fn run(args: Args) -> Result<ExitCode> {
    let model = load_env(&args.env)?;
    let reward = reward_or_default(&model, args.reward.as_deref())?;
    let cfg = resolve_config(&args, model.path(), &model.spec().ppo)?;
    let compute = compute_args::check(&cfg)?;
    eprintln!("training {} on the {compute}", model.spec().id);
    let mut schedule = eval_schedule(&args, &cfg, &model, &reward)?;
    prepare_out_dir(&args.out)?;
    write_atomic(&args.out.join("config.toml"), toml::to_string(&cfg)?.as_bytes())?;

    let metrics_path = args.out.join("metrics.jsonl");
    let mut metrics_file = std::io::BufWriter::new(std::fs::File::create(&metrics_path).with_context(|| format!("cannot write {}", metrics_path.display()))?);
    let unix_now = || std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64());
    let mut events = EventWriter::create(&args.out, unix_now())?;
    let mut evaluations: Vec<Evaluation> = Vec::new();
    let bar = ProgressBar::new(cfg.total_steps);
    bar.set_style(ProgressStyle::with_template("{bar:30} {pos}/{len} steps {msg}").expect("valid template"));
    let start = Instant::now();
    let mut log: Vec<Metrics> = Vec::new();
    let mut stop_reason = StopReason::Steps;
    let interrupted = interrupt_flag()?;
    // An output that cannot be written ends the command; a reward script failing in an
    // evaluation ends the training like one failing in a rollout, recorded in the summary.
    let mut write_failure: Option<anyhow::Error> = None;
    let mut eval_failure: Option<SimError> = None;
    let result = train(&model, reward.clone(), &cfg, |m, agent| {
        let evaluation = match schedule.maybe_run(m.global_step, &model, agent, cfg.obs_clip) {
            Ok(e) => e,
            Err(e) => {
                eval_failure = Some(e);
                None
            }
        };
        let line =
            MetricsLine { metrics: m, eval_fitness: evaluation.as_ref().map(|e| e.fitness_mean), eval_return: evaluation.as_ref().and_then(|e| e.return_mean) };
        if let Err(e) = write_metrics(&mut metrics_file, &mut events, &line, unix_now()) {
            write_failure = Some(e.context(format!("cannot write {} or the TensorBoard events", metrics_path.display())));
            return false;
        }
        log.push(m.clone());
        let reached = evaluation.as_ref().is_some_and(|e| e.reached_target);
        evaluations.extend(evaluation);
        bar.set_position(m.global_step);
        bar.set_message(format!(
            "SPS {:.0}  return {}  fitness {}{}",
            m.sps,
            m.episodic_return.map_or("-".into(), |r| format!("{r:.1}")),
            m.fitness.map_or("-".into(), |f| format!("{f:.3}")),
            evaluations.last().map_or(String::new(), |e| format!("  eval {:.3}", e.fitness_mean)),
        ));
        if eval_failure.is_some() {
            return false;
        }
        let over_time = args.max_seconds.is_some_and(|s| start.elapsed().as_secs_f64() >= s);
        stop_reason = match () {
            _ if reached => StopReason::Target,
            _ if over_time => StopReason::MaxSeconds,
            _ if interrupted.load(Ordering::Relaxed) => StopReason::Interrupted,
            _ => return true,
        };
        false
    });
    bar.finish_and_clear();
    metrics_file.flush().with_context(|| format!("cannot write {}", metrics_path.display()))?;
    events.flush()?;
    if let Some(e) = write_failure {
        return Err(e);
    }
    let result = match (result, eval_failure) {
        (Ok(_), Some(e)) => Err(TrainError::from(e)),
        (result, _) => result,
    };

    let checkpoints =
        evenly_spaced(&log, TERM_CHECKPOINTS).into_iter().map(|m| Checkpoint { global_step: m.global_step, terms: m.reward_terms.clone() }).collect();
    let mut summary = Summary {
        status: "ok",
        error: None,
        env: model.spec().id.clone(),
        reward_script: reward.as_ref().map(|r| r.name().to_owned()),
        global_step: log.last().map_or(0, |m| m.global_step),
        wall_seconds: start.elapsed().as_secs_f64(),
        stopped_early: stop_reason != StopReason::Steps,
        stop_reason,
        last: log.last().cloned(),
        target: args.target,
        target_return: args.target_return,
        target_reached_at: evaluations.iter().find(|e| e.reached_target).map(|e| e.global_step),
        evaluations,
        eval_fitness: Vec::new(),
        eval_fitness_mean: None,
        eval_return_mean: None,
        reward_checkpoints: checkpoints,
        compute,
    };
    // The final evaluation can fail too (the reward script, for the return): that is recorded
    // like a failure during training, after the policy was saved.
    let outcome = result.map_err(anyhow::Error::from).and_then(|agent| {
        save_policy(&args.out, &model, reward.as_ref(), cfg.obs_clip, &agent)?;
        let scores = evaluate_with_reward(&model, &agent, reward.clone(), FINAL_EVAL_EPISODES, 0, cfg.obs_clip)?;
        let final_eval = ScoreSummary::of(&scores);
        summary.eval_fitness = scores.iter().map(|s| s.fitness).collect();
        summary.eval_fitness_mean = Some(final_eval.fitness_mean);
        summary.eval_return_mean = final_eval.return_mean;
        Ok(())
    });
    let code = match outcome {
        Ok(()) => {
            println!(
                "trained {} for {} steps in {:.1} s: evaluation fitness {:.3} (mean of {FINAL_EVAL_EPISODES} episodes); wrote {}",
                model.spec().id,
                summary.global_step,
                summary.wall_seconds,
                summary.eval_fitness_mean.unwrap_or(f64::NAN),
                args.out.display()
            );
            if stop_reason == StopReason::Interrupted { ExitCode::from(EXIT_INTERRUPTED) } else { ExitCode::SUCCESS }
        }
        Err(e) => {
            // A failing reward script ends this training, recorded; it is not a crash.
            eprintln!("error: training stopped: {e:#}");
            summary.status = "failed";
            summary.error = Some(format!("{e:#}"));
            ExitCode::from(1)
        }
    };
    write_atomic(&args.out.join("summary.json"), serde_json::to_string_pretty(&summary)?.as_bytes())?;
    Ok(code)
}

/// Writes `policy.safetensors` with what `eval`, `rollout --policy` and `replay` need to find
/// the env and the reward again.
fn save_policy(out: &Path, model: &EnvModel, reward: Option<&RewardScript>, obs_clip: f32, agent: &Agent) -> Result<()> {
    write_atomic(&out.join("policy.safetensors"), &agent.to_safetensors(&policy_metadata(model, reward, obs_clip))?)?;
    Ok(())
}

/// One line of `metrics.jsonl`: the iteration's metrics and, when one ran, the evaluation's.
#[derive(Serialize)]
struct MetricsLine<'a> {
    #[serde(flatten)]
    metrics: &'a Metrics,
    /// Mean fitness of the deterministic policy's evaluation episodes.
    #[serde(rename = "eval/fitness", skip_serializing_if = "Option::is_none")]
    eval_fitness: Option<f64>,
    /// Their mean return under the training's reward script.
    #[serde(rename = "eval/return", skip_serializing_if = "Option::is_none")]
    eval_return: Option<f64>,
}

/// One metrics line to `metrics.jsonl` and each of its numbers to the TensorBoard events, under
/// the same names (x axis: environment steps).
fn write_metrics(jsonl: &mut impl std::io::Write, events: &mut EventWriter, line: &MetricsLine<'_>, wall_time: f64) -> Result<()> {
    serde_json::to_writer(&mut *jsonl, line)?;
    writeln!(jsonl)?;
    let step = line.metrics.global_step as i64;
    for (tag, value) in serde_json::to_value(line)?.as_object().into_iter().flatten() {
        if let (Some(v), false) = (value.as_f64(), tag == "global_step") {
            events.add_scalar(tag, step, v as f32, wall_time)?;
        }
    }
    // Once per iteration, so `tensorboard` and `tail -f` follow a running training.
    jsonl.flush()?;
    events.flush()?;
    Ok(())
}
