//! Running a search's trainings: the [`Executor`] seam ("run these trainings and evaluations,
//! report each result as it finishes") and [`LocalExecutor`], threads in this process. What one
//! training does (train, evaluate on the env's fitness and the hierarchy's signals, write its
//! folder's `metrics.jsonl`, `policy.safetensors` and `eval.rollout`) is [`Shared::train_one`],
//! the same wherever it runs; the search loop (`run`) decides what to train and records results,
//! and this file never reads it.

use crate::config::SearchConfig;
use crate::error::SearchError;
use crate::record::{CandidateResult, Checkpoint, Episode, TermRange, write_atomic, write_jsonl};
use rewardsmith_ppo::agent::{Agent, policy_metadata};
use rewardsmith_ppo::config::{Device, PpoConfig};
use rewardsmith_ppo::eval::evaluate_policy_observed;
use rewardsmith_ppo::train::{Metrics, TrainError, evenly_spaced, train};
use rewardsmith_script::{Expr, RewardScript, State};
use rewardsmith_sim::rollout;
use rewardsmith_sim::{CRITIC_SAMPLES, CRITIC_SEED, Env, EnvModel, EpisodeFitness, SimError, critic_states, derive_seed};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// One training to run: the script, where its result goes, and the PPO settings (seed and
/// steps set; threads are set when it runs).
#[derive(Clone)]
pub struct Training {
    /// Position of the result in the caller's list.
    pub index: usize,
    /// `gen-NN/cand-KK` or `final/NAME/seed-S`.
    pub id: String,
    /// The reward, compiled.
    pub script: RewardScript,
    /// Its folder in the run directory (`metrics.jsonl`, `policy.safetensors`, `eval.rollout`).
    pub dir: PathBuf,
    /// Its PPO settings.
    pub ppo: PpoConfig,
    /// Nearest already-trained candidate (recorded in the result).
    pub nearest: Option<(String, f64)>,
    /// Where the result is stored for later searches too (final evaluation only).
    pub cache: Option<PathBuf>,
    /// Seed of the evaluation seeds.
    pub eval_seed: u64,
    /// Record the trained policy's first evaluation episode to `eval.rollout` (candidates: what
    /// a person ranking them watches).
    pub record_rollout: bool,
}

/// Stack of a training thread: scripts nest deeply in debug builds (the VecEnv workers use the
/// same).
const TRAIN_STACK: usize = 16 << 20;

/// What a search reports as it goes, for a log or a live progress view.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Event<'a> {
    /// A line for the log (a generation proposed, a candidate's fitness, a ranking asked for).
    Line(&'a str),
    /// A training started.
    TrainingStarted {
        /// `gen-NN/cand-KK` or `final/NAME/seed-S`.
        id: &'a str,
        /// Its step budget.
        total_steps: u64,
    },
    /// A training finished a PPO iteration.
    Iteration {
        /// The training.
        id: &'a str,
        /// Environment steps so far.
        global_step: u64,
        /// Environment steps per second so far.
        sps: f64,
        /// Mean return of the episodes that ended in the iteration.
        episodic_return: Option<f64>,
    },
    /// A training and its evaluation ended.
    TrainingFinished {
        /// The training.
        id: &'a str,
    },
}

/// What every training of a search shares.
pub struct Shared<'a> {
    /// The environment.
    pub model: &'a Arc<EnvModel>,
    /// The search's settings (timeouts, evaluation seeds and episodes, checkpoints, jobs, threads).
    pub search: &'a SearchConfig,
    /// The hierarchy's levels, compiled (empty unless `--feedback hierarchy`); evaluated on the
    /// trainings that record a rollout (a generation's candidates).
    pub levels: &'a [Expr],
    /// Where events go (from the training threads too).
    pub events: &'a (dyn Fn(Event<'_>) + Sync),
}

/// The hierarchy's levels of `search`, compiled and tried on the critic's states: a typo or a
/// non-number is found before the first generation has trained.
pub fn compile_levels(model: &Arc<EnvModel>, search: &SearchConfig) -> Result<Vec<Expr>, SearchError> {
    let levels = search
        .hierarchy
        .iter()
        .enumerate()
        .map(|(i, text)| Expr::compile(model.sandbox(), &format!("--hierarchy {}", i + 1), text))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| SearchError::Config(e.to_string()))?;
    if !levels.is_empty() {
        let states = critic_states(model, CRITIC_SAMPLES, CRITIC_SEED)?;
        for level in &levels {
            for state in &states {
                level.eval_number(state).map_err(|e| SearchError::Config(e.to_string()))?;
            }
        }
    }
    Ok(levels)
}

/// What an executor calls with each training's result as it ends: the search records it (an
/// error: it could not, and the executor stops).
pub type Finished<'a> = dyn Fn(&Training, CandidateResult) -> Result<(), SearchError> + Sync + 'a;

/// Runs a search's trainings: the seam between the search loop and where trainings run.
pub trait Executor: Send + Sync {
    /// Runs every training of `trainings` and hands each result to `finished` as it ends (in any
    /// order; a failed training is a result, not an error). An error from `finished` (its
    /// result could not be recorded) stops further trainings and is returned once the running
    /// ones end.
    fn run(&self, shared: &Shared<'_>, trainings: &[Training], finished: &Finished) -> Result<(), SearchError>;
}

/// Trainings as threads of this process: `jobs` at once (0: by the cores and, on CUDA, the
/// GPU's free memory), each with `threads / jobs` threads.
#[derive(Debug, Clone, Copy, Default)]
pub struct LocalExecutor;

impl Executor for LocalExecutor {
    fn run(&self, shared: &Shared<'_>, trainings: &[Training], finished: &Finished) -> Result<(), SearchError> {
        if trainings.is_empty() {
            return Ok(());
        }
        let cfg = shared.search;
        let cores = if cfg.threads == 0 { std::thread::available_parallelism().map_or(1, |n| n.get()) } else { cfg.threads };
        let jobs = if cfg.jobs == 0 { shared.auto_jobs(cores, &trainings[0].ppo) } else { cfg.jobs }.clamp(1, trainings.len());
        let threads = (cores / jobs).max(1);
        let next = AtomicUsize::new(0);
        let failure: Mutex<Option<SearchError>> = Mutex::new(None);
        std::thread::scope(|scope| {
            for _ in 0..jobs {
                let worker = || loop {
                    let n = next.fetch_add(1, Ordering::Relaxed);
                    let Some(training) = trainings.get(n) else { break };
                    if failure.lock().unwrap_or_else(|e| e.into_inner()).is_some() {
                        break;
                    }
                    (shared.events)(Event::TrainingStarted { id: &training.id, total_steps: training.ppo.total_steps });
                    let result = shared.train_one(training, threads);
                    (shared.events)(Event::TrainingFinished { id: &training.id });
                    if let Err(e) = finished(training, result) {
                        *failure.lock().unwrap_or_else(|e| e.into_inner()) = Some(e);
                        break;
                    }
                };
                std::thread::Builder::new().stack_size(TRAIN_STACK).spawn_scoped(scope, worker).expect("a training thread starts");
            }
        });
        failure.into_inner().unwrap_or_else(|e| e.into_inner()).map_or(Ok(()), Err)
    }
}

impl Shared<'_> {
    fn say(&self, line: &str) {
        (self.events)(Event::Line(line));
    }

    /// Trainings at once when `jobs` is 0: one per core, and on a CUDA device no more than fit
    /// in its free memory (by `nvidia-smi`, less 1 GiB for libtorch's CUDA context; uncapped if
    /// it cannot be asked). Every training of a search shares one PPO configuration's shapes.
    fn auto_jobs(&self, cores: usize, ppo: &PpoConfig) -> usize {
        let Device::Cuda(index) = ppo.device else { return cores };
        let Some(gpu) = rewardsmith_ppo::gpu::query(index) else { return cores };
        let per_job = rewardsmith_ppo::gpu::training_bytes(ppo, self.model.obs_dim(), self.model.action_dim());
        let free = (gpu.free_mib << 20).saturating_sub(1 << 30);
        let fit = (free / per_job.max(1)) as usize;
        if fit < cores {
            self.say(&format!("{}: {fit} trainings fit in {} MiB free at ~{} MiB each", ppo.device, gpu.free_mib, per_job >> 20));
        }
        cores.min(fit).max(1)
    }

    /// Trains and evaluates one candidate; a failure is a result.
    pub fn train_one(&self, job: &Training, threads: usize) -> CandidateResult {
        let cfg = &self.search;
        let (id, script, dir) = (&job.id, &job.script, &job.dir);
        let ppo = &PpoConfig { threads, ..job.ppo.clone() };
        let started = Instant::now();
        let timeout = cfg.train_timeout_s.map(Duration::from_secs_f64);
        let mut log: Vec<Metrics> = Vec::new();
        let mut timed_out = false;
        // A panic inside a training (libtorch reports a CUDA error, out of memory say, as one) is
        // this candidate's failure, not the search's.
        let trained = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            train(self.model, Some(script.clone()), ppo, |metrics, _| {
                (self.events)(Event::Iteration { id, global_step: metrics.global_step, sps: metrics.sps, episodic_return: metrics.episodic_return });
                log.push(metrics.clone());
                timed_out = timeout.is_some_and(|t| started.elapsed() > t);
                !timed_out
            })
        }))
        .unwrap_or_else(|panic| {
            let message = panic.downcast_ref::<String>().map(String::as_str).or_else(|| panic.downcast_ref::<&str>().copied()).unwrap_or("no message");
            Err(TrainError::Backend(format!("the training panicked: {message}")))
        });
        let mut result = CandidateResult {
            global_step: log.last().map_or(0, |m| m.global_step),
            checkpoints: evenly_spaced(&log, cfg.checkpoints).into_iter().map(checkpoint).collect(),
            ..CandidateResult::new(id)
        };
        let outcome = match trained {
            Err(e) => Err(("failed", e.to_string())),
            Ok(_) if timed_out => {
                Err(("timeout", format!("training passed its {} s limit at step {}", cfg.train_timeout_s.unwrap_or(0.0), result.global_step)))
            }
            // The hierarchy ranks a generation's candidates only (not confirmations or baselines).
            Ok(agent) => {
                let levels = if job.record_rollout { self.levels } else { &[] };
                self.evaluate(script, &agent, ppo, job.eval_seed, levels, &mut result).map(|()| agent).map_err(|e| ("failed", format!("evaluation: {e}")))
            }
        };
        // The curve is written whatever the outcome: a failed or timed-out training's is what
        // explains it. (A candidate taken from the cache has none: the cache keeps results.)
        if let Err(e) = write_jsonl(&dir.join("metrics.jsonl"), &log) {
            result.error = Some(format!("metrics not saved: {e}"));
        }
        match outcome {
            Ok(agent) => {
                let bytes = agent.to_safetensors(&policy_metadata(self.model, Some(script), ppo.obs_clip));
                if let Err(e) = bytes.map_err(|e| e.to_string()).and_then(|b| write_atomic(&dir.join("policy.safetensors"), &b).map_err(|e| e.to_string())) {
                    result.error = Some(format!("policy not saved: {e}"));
                }
                if job.record_rollout
                    && let Err(e) = self.record_rollout(job, &agent, ppo)
                {
                    result.error = Some(format!("rollout not recorded: {e}"));
                }
            }
            Err((status, error)) => {
                result.status = status.to_owned();
                result.error = Some(error);
                result.fitness = None;
            }
        }
        result.seconds = started.elapsed().as_secs_f64();
        result
    }

    /// Records the first evaluation episode of `agent` to `eval.rollout` (replayable bit for bit,
    /// and what the viewer plays).
    fn record_rollout(&self, job: &Training, agent: &Agent, ppo: &PpoConfig) -> Result<(), SearchError> {
        let mut env = Env::new(self.model.clone(), Some(job.script.clone()))?;
        let steps = self.model.spec().physics.episode_length as usize;
        let recorded = rollout::record(&mut env, derive_seed(job.eval_seed, 0), steps, &format!("policy of {}", job.id), |obs, action| {
            action.copy_from_slice(&agent.act_deterministic(obs, ppo.obs_clip));
        })?;
        write_atomic(&job.dir.join("eval.rollout"), &recorded.to_bytes())
    }

    /// Evaluates `agent` on every evaluation seed into `result`, and on the same episodes each
    /// of `levels` (a hierarchy's signals: their per-step mean per episode, averaged over the
    /// episodes). A level that fails on some state costs the candidate its place in the ranking
    /// (NaN: alike on every level), not its fitness.
    fn evaluate(
        &self,
        script: &RewardScript,
        agent: &Agent,
        ppo: &PpoConfig,
        eval_seed: u64,
        levels: &[Expr],
        result: &mut CandidateResult,
    ) -> Result<(), SimError> {
        let cfg = &self.search;
        let names: Vec<String> = self.model.spec().terminations.iter().map(|t| t.name.clone()).collect();
        let mut level_sums = vec![0.0; levels.len()];
        let mut level_error: Option<SimError> = None;
        for s in 0..cfg.eval_seeds {
            let seed = derive_seed(eval_seed, s as u64);
            let mut per_episode = vec![vec![EpisodeFitness::default(); levels.len()]; cfg.eval_episodes];
            let mut observe = |episode: usize, state: &State| {
                for (level, acc) in levels.iter().zip(&mut per_episode[episode]) {
                    match level.eval_number(state) {
                        Ok(v) => acc.push(v),
                        Err(e) => {
                            level_error.get_or_insert(e.into());
                        }
                    }
                }
            };
            let act = &mut |obs: &[f32]| agent.act_deterministic(obs, ppo.obs_clip);
            let scores = evaluate_policy_observed(self.model, act, Some(script.clone()), cfg.eval_episodes, seed, &mut observe)?;
            result.fitness_per_seed.push(scores.iter().map(|e| e.fitness).sum::<f64>() / scores.len() as f64);
            result.episodes.extend(scores.iter().map(|e| Episode {
                seed: s,
                fitness: e.fitness,
                ret: e.ret.unwrap_or(f64::NAN),
                steps: e.steps,
                termination: e.termination.and_then(|t| names.get(t).cloned()),
            }));
            for episode in &per_episode {
                for (sum, acc) in level_sums.iter_mut().zip(episode) {
                    *sum += acc.value(rewardsmith_spec::Aggregate::Mean);
                }
            }
        }
        result.fitness = Some(result.fitness_per_seed.iter().sum::<f64>() / result.fitness_per_seed.len() as f64);
        let episodes = (cfg.eval_seeds * cfg.eval_episodes).max(1) as f64;
        result.hierarchy = match level_error {
            Some(e) => {
                result.error = Some(format!("hierarchy: {e}"));
                vec![f64::NAN; levels.len()]
            }
            None => level_sums.iter().map(|s| s / episodes).collect(),
        };
        Ok(())
    }
}

fn checkpoint(m: &Metrics) -> Checkpoint {
    Checkpoint {
        global_step: m.global_step,
        episodic_return: m.episodic_return,
        episodic_length: m.episodic_length,
        fitness: m.fitness,
        terms: m.reward_terms.iter().map(|t| TermRange { name: t.name.clone(), min: t.min, mean: t.mean, max: t.max }).collect(),
    }
}
