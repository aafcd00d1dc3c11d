//! The PPO training loop, in the order of CleanRL's `ppo_continuous_action.py`: rollout, GAE,
//! minibatch epochs, logging.

use crate::adam::{Adam, AdamConfig};
use crate::agent::Agent;
use crate::gae::{gae, GaeConfig, Transitions};
use crate::loss::{gaussian_entropy, gaussian_log_prob, gaussian_log_prob_grad, ppo_loss, LossConfig, Minibatch};
use crate::mlp::Tape;
use crate::normalize::RewardScaler;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rewardsmith_sim::{derive_seed, EnvModel, EpisodeFitness, SimError, VecEnv};
use rewardsmith_script::RewardScript;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Instant;

/// Everything that decides a training run. Defaults are CleanRL's `ppo_continuous_action.py`
/// except where noted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PpoConfig {
    /// Environment steps to train for, over all instances, rounded down to whole rollouts
    /// (`num_envs × num_steps`; at least one). Default 100 000.
    pub total_steps: u64,
    /// Instances stepped in parallel. Default 16 (CleanRL: 1).
    pub num_envs: usize,
    /// Steps per instance per rollout. Default 128 (CleanRL: 2048 with one env).
    pub num_steps: usize,
    /// Minibatches per epoch. Default 32.
    pub num_minibatches: usize,
    /// Passes over each rollout. Default 10.
    pub update_epochs: usize,
    /// Adam's step size at the start. Default 3e-4.
    pub learning_rate: f32,
    /// Whether the step size decays linearly to 0 over training. Default true.
    pub anneal_lr: bool,
    /// Discount γ. Default 0.99.
    pub gamma: f32,
    /// GAE's λ. Default 0.95.
    pub gae_lambda: f32,
    /// Whether advantages are normalised per minibatch. Default true.
    pub norm_adv: bool,
    /// PPO's ε. Default 0.2.
    pub clip_coef: f32,
    /// Whether the value loss is clipped. Default true.
    pub clip_vloss: bool,
    /// Entropy bonus weight. Default 0.0.
    pub ent_coef: f32,
    /// Value loss weight. Default 0.5.
    pub vf_coef: f32,
    /// Largest global gradient norm. Default 0.5.
    pub max_grad_norm: f32,
    /// Hidden layer widths of both networks. Default [64, 64].
    pub hidden: Vec<usize>,
    /// Initial log σ of the policy. Default 0.0 (σ = 1).
    pub init_log_std: f32,
    /// Normalised observations are clipped to ±this. Default 10.
    pub obs_clip: f32,
    /// Scaled rewards are clipped to ±this. Default 10.
    pub reward_clip: f32,
    /// Master seed: environments, initial weights and sampling derive from it. Default 1.
    pub seed: u64,
    /// Worker threads of the VecEnv (0 = one per core); results do not depend on it. Default 0.
    pub threads: usize,
}

impl Default for PpoConfig {
    fn default() -> Self {
        Self {
            total_steps: 100_000,
            num_envs: 16,
            num_steps: 128,
            num_minibatches: 32,
            update_epochs: 10,
            learning_rate: 3e-4,
            anneal_lr: true,
            gamma: 0.99,
            gae_lambda: 0.95,
            norm_adv: true,
            clip_coef: 0.2,
            clip_vloss: true,
            ent_coef: 0.0,
            vf_coef: 0.5,
            max_grad_norm: 0.5,
            hidden: vec![64, 64],
            init_log_std: 0.0,
            obs_clip: 10.0,
            reward_clip: 10.0,
            seed: 1,
            threads: 0,
        }
    }
}

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

/// Trains an agent on `model` with `reward`; `on_iteration` sees each iteration's metrics and
/// may stop training early by returning false (budgets, cancellation).
pub fn train(
    model: &Arc<EnvModel>,
    reward: Option<RewardScript>,
    cfg: &PpoConfig,
    mut on_iteration: impl FnMut(&Metrics, &Agent) -> bool,
) -> Result<Agent, SimError> {
    // ---- Setup ----------------------------------------------------------------------------
    let (n, t_len) = (cfg.num_envs, cfg.num_steps);
    let batch_size = n * t_len;
    let minibatch_size = batch_size / cfg.num_minibatches.max(1);
    let num_iterations = (cfg.total_steps / batch_size as u64).max(1);
    let aggregate = model.spec().fitness.aggregate;
    let mut envs = VecEnv::new(model, reward, n, cfg.threads, derive_seed(cfg.seed, ENV_STREAM))?;
    let (obs_dim, act_dim) = (envs.obs_dim(), envs.action_dim());
    let mut agent = Agent::new(obs_dim, act_dim, &cfg.hidden, cfg.init_log_std, derive_seed(cfg.seed, INIT_STREAM));
    let mut rng = ChaCha8Rng::seed_from_u64(derive_seed(cfg.seed, SAMPLE_STREAM));
    let adam_cfg = AdamConfig { lr: cfg.learning_rate, ..AdamConfig::default() };
    let loss_cfg = LossConfig { clip_coef: cfg.clip_coef, clip_vloss: cfg.clip_vloss, vf_coef: cfg.vf_coef, ent_coef: cfg.ent_coef };
    let (mut adam_actor, mut adam_log_std, mut adam_critic) =
        (Adam::new(agent.actor.params.len()), Adam::new(act_dim), Adam::new(agent.critic.params.len()));
    let mut scaler = RewardScaler::new(n, cfg.gamma);

    // Rollout storage, time-major.
    let mut obs_buf = vec![0.0f32; batch_size * obs_dim];
    let mut act_buf = vec![0.0f32; batch_size * act_dim];
    let mut logp_buf = vec![0.0f32; batch_size];
    let mut rew_buf = vec![0.0f32; batch_size];
    let mut val_buf = vec![0.0f32; batch_size];
    let mut next_val_buf = vec![0.0f32; batch_size];
    let mut term_buf = vec![false; batch_size];
    let mut trunc_buf = vec![false; batch_size];
    let (mut adv_buf, mut ret_buf) = (vec![0.0f32; batch_size], vec![0.0f32; batch_size]);

    let mut tape = Tape::default();
    let mut raw_obs = envs.reset()?.to_vec();
    let mut norm_obs = vec![0.0f32; n * obs_dim];
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
            agent.obs_rms.update(&raw_obs);
            agent.obs_rms.normalize(&raw_obs, cfg.obs_clip, &mut norm_obs);
            let rows = step * n..(step + 1) * n;
            obs_buf[rows.start * obs_dim..rows.end * obs_dim].copy_from_slice(&norm_obs);
            let values: Vec<f32> = agent.critic.forward(&norm_obs, n, &mut tape).to_vec();
            val_buf[rows.clone()].copy_from_slice(&values);
            let means = agent.actor.forward(&norm_obs, n, &mut tape).to_vec();
            let mut env_actions = vec![0.0f32; n * act_dim];
            for i in 0..n {
                let a = &mut act_buf[(rows.start + i) * act_dim..(rows.start + i + 1) * act_dim];
                for k in 0..act_dim {
                    a[k] = means[i * act_dim + k] + agent.log_std[k].exp() * standard_normal(&mut rng);
                    env_actions[i * act_dim + k] = a[k].clamp(-1.0, 1.0);
                }
                logp_buf[rows.start + i] = gaussian_log_prob(a, &means[i * act_dim..(i + 1) * act_dim], &agent.log_std);
            }
            let s = envs.step(&env_actions)?;
            global_step += n as u64;
            if terms.is_empty() {
                terms = s
                    .term_names
                    .iter()
                    .map(|name| TermWindow { name: name.clone(), mean: 0.0, min: f64::INFINITY, max: f64::NEG_INFINITY })
                    .collect();
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
            // V(s_{t+1}): of the final observation where an episode was truncated, else of the
            // next observation (filled in at the next step, or after the loop for the last one).
            if s.truncated.iter().any(|t| *t) {
                let mut final_norm = vec![0.0f32; n * obs_dim];
                agent.obs_rms.normalize(s.final_obs, cfg.obs_clip, &mut final_norm);
                let final_values = agent.critic.forward(&final_norm, n, &mut tape).to_vec();
                for i in 0..n {
                    if s.truncated[i] {
                        next_val_buf[rows.start + i] = final_values[i];
                    }
                }
            }
            raw_obs.copy_from_slice(s.obs);
            if step > 0 {
                for (i, value) in values.iter().enumerate() {
                    let prev = (step - 1) * n + i;
                    if !trunc_buf[prev] {
                        next_val_buf[prev] = *value;
                    }
                }
            }
        }
        agent.obs_rms.normalize(&raw_obs, cfg.obs_clip, &mut norm_obs);
        let last_values = agent.critic.forward(&norm_obs, n, &mut tape).to_vec();
        for (i, value) in last_values.iter().enumerate() {
            let last = (t_len - 1) * n + i;
            if !trunc_buf[last] {
                next_val_buf[last] = *value;
            }
        }

        // ---- Advantages (GAE) ---------------------------------------------------------------
        let transitions = Transitions {
            num_envs: n,
            rewards: &rew_buf,
            values: &val_buf,
            next_values: &next_val_buf,
            terminated: &term_buf,
            truncated: &trunc_buf,
        };
        gae(&GaeConfig { gamma: cfg.gamma, lambda: cfg.gae_lambda }, &transitions, &mut adv_buf, &mut ret_buf);

        // ---- Optimise policy and value networks ------------------------------------------
        let mut indices: Vec<usize> = (0..batch_size).collect();
        let mut last_stats = Default::default();
        let (mut clipfracs, mut clip_count) = (0.0f32, 0usize);
        let mut g_actor = vec![0.0f32; agent.actor.params.len()];
        let mut g_critic = vec![0.0f32; agent.critic.params.len()];
        for _epoch in 0..cfg.update_epochs {
            indices.shuffle(&mut rng);
            for mb in indices.chunks(minibatch_size.max(1)) {
                let b = mb.len();
                let obs_mb: Vec<f32> = mb.iter().flat_map(|&j| obs_buf[j * obs_dim..(j + 1) * obs_dim].iter().copied()).collect();
                let mut adv_mb: Vec<f32> = mb.iter().map(|&j| adv_buf[j]).collect();
                if cfg.norm_adv && b > 1 {
                    let mean = adv_mb.iter().sum::<f32>() / b as f32;
                    let std = (adv_mb.iter().map(|a| (a - mean) * (a - mean)).sum::<f32>() / (b - 1) as f32).sqrt();
                    adv_mb.iter_mut().for_each(|a| *a = (*a - mean) / (std + 1e-8));
                }
                let mut actor_tape = Tape::default();
                let means = agent.actor.forward(&obs_mb, b, &mut actor_tape).to_vec();
                let logp_new: Vec<f32> = mb
                    .iter()
                    .enumerate()
                    .map(|(r, &j)| gaussian_log_prob(&act_buf[j * act_dim..(j + 1) * act_dim], &means[r * act_dim..(r + 1) * act_dim], &agent.log_std))
                    .collect();
                let mut critic_tape = Tape::default();
                let values_new = agent.critic.forward(&obs_mb, b, &mut critic_tape).to_vec();
                let logp_old: Vec<f32> = mb.iter().map(|&j| logp_buf[j]).collect();
                let values_old: Vec<f32> = mb.iter().map(|&j| val_buf[j]).collect();
                let returns: Vec<f32> = mb.iter().map(|&j| ret_buf[j]).collect();
                let (mut d_logp, mut d_value) = (vec![0.0f32; b], vec![0.0f32; b]);
                let stats = ppo_loss(
                    &loss_cfg,
                    &Minibatch { logp_new: &logp_new, logp_old: &logp_old, advantages: &adv_mb, values_new: &values_new, values_old: &values_old, returns: &returns },
                    &mut d_logp,
                    &mut d_value,
                );
                clipfracs += stats.clipfrac;
                clip_count += 1;
                last_stats = stats;

                // Backward: loss → log-probabilities → means and log σ → actor; loss → values → critic.
                let mut d_mean = vec![0.0f32; b * act_dim];
                let mut d_log_std = vec![-cfg.ent_coef; act_dim]; // the entropy bonus: ∂H/∂log σ = 1
                for (r, &j) in mb.iter().enumerate() {
                    gaussian_log_prob_grad(
                        &act_buf[j * act_dim..(j + 1) * act_dim],
                        &means[r * act_dim..(r + 1) * act_dim],
                        &agent.log_std,
                        d_logp[r],
                        &mut d_mean[r * act_dim..(r + 1) * act_dim],
                        &mut d_log_std,
                    );
                }
                agent.actor.backward(&actor_tape, &d_mean, &mut g_actor);
                agent.critic.backward(&critic_tape, &d_value, &mut g_critic);

                // Global gradient-norm clipping over all of the agent's parameters.
                let norm = g_actor.iter().chain(&d_log_std).chain(&g_critic).map(|g| g * g).sum::<f32>().sqrt();
                if norm > cfg.max_grad_norm {
                    let k = cfg.max_grad_norm / (norm + 1e-6);
                    g_actor.iter_mut().chain(d_log_std.iter_mut()).chain(g_critic.iter_mut()).for_each(|g| *g *= k);
                }
                adam_actor.step(&adam_cfg, lr, &mut agent.actor.params, &g_actor);
                adam_log_std.step(&adam_cfg, lr, &mut agent.log_std, &d_log_std);
                adam_critic.step(&adam_cfg, lr, &mut agent.critic.params, &g_critic);
            }
        }

        // ---- Logging ------------------------------------------------------------------------
        let mean_of = |k: usize| -> Option<f64> {
            (!finished.is_empty()).then(|| {
                finished.iter().map(|f| [f.0, f.1, f.2][k]).sum::<f64>() / finished.len() as f64
            })
        };
        let metrics = Metrics {
            global_step,
            episodic_return: mean_of(0),
            episodic_length: mean_of(1),
            fitness: mean_of(2),
            sps: global_step as f64 / start.elapsed().as_secs_f64().max(1e-9),
            learning_rate: lr,
            value_loss: last_stats.value_loss,
            policy_loss: last_stats.policy_loss,
            entropy: gaussian_entropy(&agent.log_std),
            approx_kl: last_stats.approx_kl,
            clipfrac: clipfracs / clip_count.max(1) as f32,
            explained_variance: explained_variance(&val_buf, &ret_buf),
            reward_means: terms.iter().map(|w| (format!("reward/{}", w.name), w.mean)).collect(),
            reward_terms: terms,
        };
        if !on_iteration(&metrics, &agent) {
            break;
        }
    }
    Ok(agent)
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
