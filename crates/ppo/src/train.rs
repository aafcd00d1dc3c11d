//! The PPO training loop, in the order of CleanRL's `ppo_continuous_action.py`: rollout, GAE,
//! minibatch epochs, logging.

use crate::adam::AdamConfig;
use crate::agent::Agent;
use crate::backend::{Backend, CpuBackend};
use crate::config::{BackendKind, PpoConfig};
use crate::gae::{GaeConfig, Transitions, gae};
use crate::loss::{LossConfig, LossStats, Minibatch, gaussian_entropy, gaussian_log_prob, gaussian_log_prob_grad, ppo_loss};
use crate::normalize::RewardScaler;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rewardsmith_script::RewardScript;
use rewardsmith_sim::{EnvModel, EpisodeFitness, SimError, VecEnv, derive_seed};
use serde::Serialize;
use std::sync::Arc;
use std::time::Instant;

/// One line of `metrics.jsonl`: the logged values after one iteration, CleanRL's names.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Metrics {
    /// Environment steps so far.
    pub global_step: u64,
    /// `charts/episodic_return`: mean undiscounted return of the episodes that ended in this
    /// iteration (raw reward, before scaling); None if none ended.
    #[serde(rename = "charts/episodic_return")]
    pub episodic_return: Option<f64>,
    /// `charts/episodic_length`.
    #[serde(rename = "charts/episodic_length")]
    pub episodic_length: Option<f64>,
    /// Mean ground-truth fitness of those episodes (the env's aggregate).
    pub fitness: Option<f64>,
    /// `charts/SPS`: environment steps per second so far.
    #[serde(rename = "charts/SPS")]
    pub sps: f64,
    /// `charts/learning_rate`.
    #[serde(rename = "charts/learning_rate")]
    pub learning_rate: f32,
    /// `losses/value_loss` (last minibatch).
    #[serde(rename = "losses/value_loss")]
    pub value_loss: f32,
    /// `losses/policy_loss` (last minibatch).
    #[serde(rename = "losses/policy_loss")]
    pub policy_loss: f32,
    /// `losses/entropy`.
    #[serde(rename = "losses/entropy")]
    pub entropy: f32,
    /// `losses/old_approx_kl` (last minibatch).
    #[serde(rename = "losses/old_approx_kl")]
    pub old_approx_kl: f32,
    /// `losses/approx_kl` (last minibatch).
    #[serde(rename = "losses/approx_kl")]
    pub approx_kl: f32,
    /// `losses/clipfrac`: mean over the iteration's minibatches.
    #[serde(rename = "losses/clipfrac")]
    pub clipfrac: f32,
    /// `losses/explained_variance` of the value predictions over the rollout.
    #[serde(rename = "losses/explained_variance")]
    pub explained_variance: f64,
    /// `reward/<term>`: mean of each reward term over the iteration's steps (unscaled).
    #[serde(flatten)]
    pub reward_means: std::collections::BTreeMap<String, f64>,
    /// Mean, min and max of each reward term over the iteration's steps (for reward reflection).
    #[serde(skip)]
    pub reward_terms: Vec<TermWindow>,
}

/// Statistics of one reward term over one iteration's steps.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct TermWindow {
    /// Term name.
    pub name: String,
    /// Mean over the iteration's steps and instances.
    pub mean: f64,
    /// Smallest value.
    pub min: f64,
    /// Largest value.
    pub max: f64,
}

/// `count` entries of `log` evenly spaced from the first to the last (all of them if it has
/// fewer): the checkpoints at which reward terms are reported for reflection.
pub fn evenly_spaced<T>(log: &[T], count: usize) -> Vec<&T> {
    let n = count.min(log.len());
    (0..n).map(|k| &log[k * (log.len() - 1) / (n - 1).max(1)]).collect()
}

/// Why a training ended without an agent.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// The configuration fails [`PpoConfig::validate`].
    #[error("invalid PPO configuration: {0}")]
    Config(String),
    /// The environment or the reward script failed (a script error names line and column).
    #[error(transparent)]
    Sim(#[from] SimError),
    /// The backend asked for cannot run here: not compiled in, or its device is missing. Never
    /// answered by training somewhere else instead.
    #[error("{0}")]
    Backend(String),
}

/// The error for `backend = "torch"` in a binary built without it.
pub const NO_TORCH: &str = "the torch backend is not in this binary: build with `--features torch` against libtorch 2.11 (README, \"GPU training\")";

/// Per-instance accumulators of the episode in progress.
#[derive(Debug, Clone, Default)]
struct Episode {
    ret: f64,
    fitness: EpisodeFitness,
}

/// Seed streams derived from the master seed.
const ENV_STREAM: u64 = 1;
const INIT_STREAM: u64 = 2;
const SAMPLE_STREAM: u64 = 3;

/// Trains an agent on `model` with `reward`, on the backend and device `cfg` names;
/// `on_iteration` sees each iteration's metrics and agent, and may stop training early by
/// returning false (budgets, cancellation, a target reached).
pub fn train(
    model: &Arc<EnvModel>,
    reward: Option<RewardScript>,
    cfg: &PpoConfig,
    on_iteration: impl FnMut(&Metrics, &Agent) -> bool,
) -> Result<Agent, TrainError> {
    cfg.validate().map_err(TrainError::Config)?;
    match cfg.backend {
        BackendKind::Native => train_with(model, reward, cfg, |agent, adam| Ok(CpuBackend::new(agent, adam)), on_iteration),
        #[cfg(feature = "torch")]
        BackendKind::Torch => train_with(
            model,
            reward,
            cfg,
            |agent, adam| crate::torch::TorchBackend::new(&agent, adam, cfg.device).map_err(|e| TrainError::Backend(e.to_string())),
            on_iteration,
        ),
        #[cfg(not(feature = "torch"))]
        BackendKind::Torch => Err(TrainError::Backend(NO_TORCH.to_owned())),
    }
}

/// The one PPO loop, over whichever backend `make_backend` builds from the fresh agent.
fn train_with<B: Backend>(
    model: &Arc<EnvModel>,
    reward: Option<RewardScript>,
    cfg: &PpoConfig,
    make_backend: impl FnOnce(Agent, AdamConfig) -> Result<B, TrainError>,
    mut on_iteration: impl FnMut(&Metrics, &Agent) -> bool,
) -> Result<Agent, TrainError> {
    // ---- Setup ----------------------------------------------------------------------------
    let (n, t_len) = (cfg.num_envs, cfg.num_steps);
    let batch_size = n * t_len;
    let num_iterations = (cfg.total_steps / batch_size as u64).max(1);
    let aggregate = model.spec().fitness.aggregate;
    let mut envs = VecEnv::new(model, reward, n, cfg.threads, derive_seed(cfg.seed, ENV_STREAM))?;
    let (obs_dim, act_dim) = (envs.obs_dim(), envs.action_dim());
    let agent = Agent::new(obs_dim, act_dim, &cfg.hidden, cfg.init_log_std, derive_seed(cfg.seed, INIT_STREAM));
    let mut obs_rms = agent.obs_rms.clone();
    let mut backend = make_backend(agent, AdamConfig { lr: cfg.learning_rate, ..AdamConfig::default() })?;
    let mut rng = ChaCha8Rng::seed_from_u64(derive_seed(cfg.seed, SAMPLE_STREAM));
    let mut scaler = RewardScaler::new(n, cfg.gamma);

    // Rollout storage, time-major: row `t · num_envs + i` is instance i at step t.
    let mut batch = Rollout::new(batch_size, obs_dim, act_dim);
    let mut next_val_buf = vec![0.0f32; batch_size];
    let mut term_buf = vec![false; batch_size];
    let mut trunc_buf = vec![false; batch_size];
    let mut rew_buf = vec![0.0f32; batch_size];

    let mut raw_obs = envs.reset()?.to_vec();
    let mut norm_obs = vec![0.0f32; n * obs_dim];
    let mut env_actions = vec![0.0f32; n * act_dim];
    let mut episodes = vec![Episode::default(); n];
    let mut global_step = 0u64;
    let start = Instant::now();

    for iteration in 1..=num_iterations {
        // ---- Learning-rate annealing ----------------------------------------------------
        let frac = 1.0 - (iteration - 1) as f32 / num_iterations as f32;
        let lr = if cfg.anneal_lr { frac * cfg.learning_rate } else { cfg.learning_rate };
        let mut finished: Vec<(f64, f64, f64)> = Vec::new();
        let mut terms: Vec<TermWindow> = Vec::new();

        // ---- Rollout ----------------------------------------------------------------------
        for step in 0..t_len {
            obs_rms.update(&raw_obs);
            obs_rms.normalize(&raw_obs, cfg.obs_clip, &mut norm_obs);
            let rows = step * n..(step + 1) * n;
            batch.obs[rows.start * obs_dim..rows.end * obs_dim].copy_from_slice(&norm_obs);
            let log_std = backend.log_std().to_vec();
            let (means, values) = backend.act(&norm_obs, n);
            batch.values[rows.clone()].copy_from_slice(values);
            for i in 0..n {
                let a = &mut batch.actions[(rows.start + i) * act_dim..(rows.start + i + 1) * act_dim];
                let mean = &means[i * act_dim..(i + 1) * act_dim];
                for k in 0..act_dim {
                    a[k] = mean[k] + log_std[k].exp() * standard_normal(&mut rng);
                    env_actions[i * act_dim + k] = a[k].clamp(-1.0, 1.0);
                }
                batch.logprobs[rows.start + i] = gaussian_log_prob(a, mean, &log_std);
            }
            // V(s_t) is also V(s_{t+1}) of the previous step, unless that episode was truncated
            // there (its bootstrap value came from the final observation).
            if step > 0 {
                for i in 0..n {
                    let prev = (step - 1) * n + i;
                    if !trunc_buf[prev] {
                        next_val_buf[prev] = batch.values[rows.start + i];
                    }
                }
            }
            let s = envs.step(&env_actions)?;
            global_step += n as u64;
            if terms.is_empty() {
                terms = s.term_names.iter().map(|name| TermWindow { name: name.clone(), mean: 0.0, min: f64::INFINITY, max: f64::NEG_INFINITY }).collect();
            }
            for row in s.terms.chunks(terms.len().max(1)) {
                for (w, v) in terms.iter_mut().zip(row) {
                    w.mean += v / batch_size as f64;
                    w.min = w.min.min(*v);
                    w.max = w.max.max(*v);
                }
            }
            let mut rewards: Vec<f32> = s.rewards.iter().map(|r| *r as f32).collect();
            let done: Vec<bool> = s.terminated.iter().zip(s.truncated).map(|(a, b)| *a || *b).collect();
            for i in 0..n {
                let e = &mut episodes[i];
                e.ret += s.rewards[i];
                e.fitness.push(s.fitness[i]);
                if done[i] {
                    finished.push((e.ret, f64::from(e.fitness.steps()), e.fitness.value(aggregate)));
                    *e = Episode::default();
                }
            }
            scaler.scale(&mut rewards, &done, cfg.reward_clip);
            rew_buf[rows.clone()].copy_from_slice(&rewards);
            term_buf[rows.clone()].copy_from_slice(s.terminated);
            trunc_buf[rows.clone()].copy_from_slice(s.truncated);
            // Where an episode was truncated (time limit), V(s_{t+1}) is the value of its final
            // observation: the episode did not end, it was cut.
            if s.truncated.iter().any(|t| *t) {
                let mut final_norm = vec![0.0f32; n * obs_dim];
                obs_rms.normalize(s.final_obs, cfg.obs_clip, &mut final_norm);
                let (_, final_values) = backend.act(&final_norm, n);
                for i in 0..n {
                    if s.truncated[i] {
                        next_val_buf[rows.start + i] = final_values[i];
                    }
                }
            }
            raw_obs.copy_from_slice(s.obs);
        }
        obs_rms.normalize(&raw_obs, cfg.obs_clip, &mut norm_obs);
        let (_, last_values) = backend.act(&norm_obs, n);
        for (i, value) in last_values.iter().enumerate() {
            let last = (t_len - 1) * n + i;
            if !trunc_buf[last] {
                next_val_buf[last] = *value;
            }
        }

        // ---- Advantages (GAE) ---------------------------------------------------------------
        let transitions =
            Transitions { num_envs: n, rewards: &rew_buf, values: &batch.values, next_values: &next_val_buf, terminated: &term_buf, truncated: &trunc_buf };
        gae(&GaeConfig { gamma: cfg.gamma, lambda: cfg.gae_lambda }, &transitions, &mut batch.advantages, &mut batch.returns);

        // ---- Optimise policy and value networks ------------------------------------------
        let stats = update(&mut backend, &batch, cfg, lr, &mut rng);

        // ---- Logging ------------------------------------------------------------------------
        let mean_of =
            |k: usize| -> Option<f64> { (!finished.is_empty()).then(|| finished.iter().map(|f| [f.0, f.1, f.2][k]).sum::<f64>() / finished.len() as f64) };
        let metrics = Metrics {
            global_step,
            episodic_return: mean_of(0),
            episodic_length: mean_of(1),
            fitness: mean_of(2),
            sps: global_step as f64 / start.elapsed().as_secs_f64().max(1e-9),
            learning_rate: lr,
            value_loss: stats.last.value_loss,
            policy_loss: stats.last.policy_loss,
            entropy: gaussian_entropy(backend.log_std()),
            old_approx_kl: stats.last.old_approx_kl,
            approx_kl: stats.last.approx_kl,
            clipfrac: stats.mean_clipfrac,
            explained_variance: explained_variance(&batch.values, &batch.returns),
            reward_means: terms.iter().map(|w| (format!("reward/{}", w.name), w.mean)).collect(),
            reward_terms: terms,
        };
        if !on_iteration(&metrics, &backend.save(&obs_rms)) {
            break;
        }
    }
    Ok(backend.save(&obs_rms))
}

/// One rollout ready for the update, one row per sample (any order).
#[derive(Debug, Clone, PartialEq)]
pub struct Rollout {
    /// Normalised observations, `len × obs_dim`.
    pub obs: Vec<f32>,
    /// Sampled actions before clipping to [-1, 1], `len × act_dim`.
    pub actions: Vec<f32>,
    /// log π_old(a | s) of each sampled action.
    pub logprobs: Vec<f32>,
    /// V_old(s).
    pub values: Vec<f32>,
    /// GAE advantages.
    pub advantages: Vec<f32>,
    /// Returns: advantages + values.
    pub returns: Vec<f32>,
    /// Observation length.
    pub obs_dim: usize,
    /// Action length.
    pub act_dim: usize,
}

impl Rollout {
    /// Zeroed storage for `len` samples.
    pub fn new(len: usize, obs_dim: usize, act_dim: usize) -> Self {
        Self {
            obs: vec![0.0; len * obs_dim],
            actions: vec![0.0; len * act_dim],
            logprobs: vec![0.0; len],
            values: vec![0.0; len],
            advantages: vec![0.0; len],
            returns: vec![0.0; len],
            obs_dim,
            act_dim,
        }
    }

    /// Samples held.
    pub fn len(&self) -> usize {
        self.logprobs.len()
    }

    /// Whether it holds no sample.
    pub fn is_empty(&self) -> bool {
        self.logprobs.is_empty()
    }
}

/// What one update logs.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct UpdateStats {
    /// The last minibatch's losses (CleanRL logs those).
    pub last: LossStats,
    /// `losses/clipfrac` averaged over all minibatches.
    pub mean_clipfrac: f32,
}

/// PPO's update: `update_epochs` passes over `rollout` in `num_minibatches` shuffled minibatches,
/// one clipped-surrogate gradient step each (CleanRL's "Optimizing the policy and value network").
pub fn update<B: Backend>(backend: &mut B, rollout: &Rollout, cfg: &PpoConfig, lr: f32, rng: &mut ChaCha8Rng) -> UpdateStats {
    let act_dim = rollout.act_dim;
    let minibatch_size = (rollout.len() / cfg.num_minibatches.max(1)).max(1);
    let loss_cfg = LossConfig { clip_coef: cfg.clip_coef, clip_vloss: cfg.clip_vloss, vf_coef: cfg.vf_coef, ent_coef: cfg.ent_coef };
    let mut indices: Vec<usize> = (0..rollout.len()).collect();
    let mut stats = UpdateStats::default();
    let mut minibatches = 0usize;
    let mut mb = MinibatchBuffers::default();
    for _epoch in 0..cfg.update_epochs {
        indices.shuffle(rng);
        for idx in indices.chunks(minibatch_size) {
            let b = idx.len();
            mb.gather(rollout, idx);
            if cfg.norm_adv && b > 1 {
                let mean = mb.advantages.iter().sum::<f32>() / b as f32;
                let std = (mb.advantages.iter().map(|a| (a - mean) * (a - mean)).sum::<f32>() / (b - 1) as f32).sqrt();
                mb.advantages.iter_mut().for_each(|a| *a = (*a - mean) / (std + 1e-8));
            }
            let log_std = backend.log_std().to_vec();
            let (means, values_new) = backend.forward(&mb.obs, b);
            mb.logp_new.clear();
            mb.logp_new
                .extend((0..b).map(|r| gaussian_log_prob(&mb.actions[r * act_dim..(r + 1) * act_dim], &means[r * act_dim..(r + 1) * act_dim], &log_std)));
            mb.d_logp.resize(b, 0.0);
            mb.d_value.resize(b, 0.0);
            let loss = ppo_loss(
                &loss_cfg,
                &Minibatch {
                    logp_new: &mb.logp_new,
                    logp_old: &mb.logp_old,
                    advantages: &mb.advantages,
                    values_new,
                    values_old: &mb.values_old,
                    returns: &mb.returns,
                },
                &mut mb.d_logp,
                &mut mb.d_value,
            );
            stats.mean_clipfrac += loss.clipfrac;
            minibatches += 1;
            stats.last = loss;

            // Backward: loss → log-probabilities → means and log σ; loss → values.
            mb.d_mean.clear();
            mb.d_mean.resize(b * act_dim, 0.0);
            let mut d_log_std = vec![-cfg.ent_coef; act_dim]; // the entropy bonus: ∂H/∂log σ = 1
            for r in 0..b {
                gaussian_log_prob_grad(
                    &mb.actions[r * act_dim..(r + 1) * act_dim],
                    &means[r * act_dim..(r + 1) * act_dim],
                    &log_std,
                    mb.d_logp[r],
                    &mut mb.d_mean[r * act_dim..(r + 1) * act_dim],
                    &mut d_log_std,
                );
            }
            backend.backward(&mb.d_mean, &mb.d_value, &d_log_std);
            backend.clip_grad_norm(cfg.max_grad_norm);
            backend.optimizer_step(lr);
        }
    }
    stats.mean_clipfrac /= minibatches.max(1) as f32;
    stats
}

/// One minibatch gathered from a [`Rollout`], reused across minibatches to avoid allocations.
#[derive(Debug, Default)]
struct MinibatchBuffers {
    obs: Vec<f32>,
    actions: Vec<f32>,
    logp_old: Vec<f32>,
    values_old: Vec<f32>,
    advantages: Vec<f32>,
    returns: Vec<f32>,
    logp_new: Vec<f32>,
    d_logp: Vec<f32>,
    d_value: Vec<f32>,
    d_mean: Vec<f32>,
}

impl MinibatchBuffers {
    fn gather(&mut self, r: &Rollout, idx: &[usize]) {
        let (od, ad) = (r.obs_dim, r.act_dim);
        self.obs.clear();
        self.actions.clear();
        for &j in idx {
            self.obs.extend_from_slice(&r.obs[j * od..(j + 1) * od]);
            self.actions.extend_from_slice(&r.actions[j * ad..(j + 1) * ad]);
        }
        for (dst, src) in
            [(&mut self.logp_old, &r.logprobs), (&mut self.values_old, &r.values), (&mut self.advantages, &r.advantages), (&mut self.returns, &r.returns)]
        {
            dst.clear();
            dst.extend(idx.iter().map(|&j| src[j]));
        }
    }
}

/// A standard normal draw (Box–Muller on two uniforms of the seeded stream, libm's functions, so
/// the same on every machine).
fn standard_normal(rng: &mut ChaCha8Rng) -> f32 {
    let u1: f64 = 1.0 - rng.random::<f64>(); // (0, 1], so ln is finite
    let u2: f64 = rng.random();
    (libm::sqrt(-2.0 * libm::log(u1)) * libm::cos(2.0 * std::f64::consts::PI * u2)) as f32
}

/// 1 − Var(returns − values) / Var(returns): how much of the returns the value function explains.
fn explained_variance(values: &[f32], returns: &[f32]) -> f64 {
    let n = returns.len() as f64;
    let var = |x: &[f64]| {
        let m = x.iter().sum::<f64>() / n;
        x.iter().map(|v| (v - m) * (v - m)).sum::<f64>() / n
    };
    let r: Vec<f64> = returns.iter().map(|x| f64::from(*x)).collect();
    let d: Vec<f64> = returns.iter().zip(values).map(|(r, v)| f64::from(r - v)).collect();
    let var_r = var(&r);
    if var_r == 0.0 { f64::NAN } else { 1.0 - var(&d) / var_r }
}
