//! PPO update throughput on a synthetic batch: the measurement behind `rewardsmith bench --ppo`
//! and rewardsmith's half of `benches/ppo_update_reference.py`, which times PyTorch doing the same
//! update on the same networks, batch and epochs (a benchmark, never a timed test).

use crate::adam::AdamConfig;
use crate::agent::Agent;
use crate::backend::{Backend, CpuBackend};
use crate::config::{BackendKind, Device, PpoConfig};
use crate::normalize::RunningMeanStd;
use crate::train::{Rollout, update};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use std::time::Instant;

/// The workload of one measurement. The defaults are `ppo_update_reference.py`'s.
#[derive(Debug, Clone)]
pub struct UpdateBenchConfig {
    /// Observation length. Default 16.
    pub obs: usize,
    /// Action length. Default 4.
    pub act: usize,
    /// Hidden layer widths of actor and critic. Default 64, 64 (CleanRL's).
    pub hidden: Vec<usize>,
    /// Samples in the batch (num_envs × num_steps of a rollout). Default 16 384.
    pub batch: usize,
    /// Samples per minibatch; must divide `batch`. Default 1 024.
    pub minibatch: usize,
    /// Passes over the batch per update. Default 10.
    pub epochs: usize,
    /// Timed updates after one warm-up; the fastest is kept. Default 5.
    pub repeats: usize,
    /// What runs the networks.
    pub backend: BackendKind,
    /// Where they run (a CUDA device needs the torch backend).
    pub device: Device,
}

impl Default for UpdateBenchConfig {
    fn default() -> Self {
        Self {
            obs: 16,
            act: 4,
            hidden: vec![64, 64],
            batch: 16_384,
            minibatch: 1_024,
            epochs: 10,
            repeats: 5,
            backend: BackendKind::Native,
            device: Device::Cpu,
        }
    }
}

/// What one measurement found. Times are wall-clock on the machine that ran it.
#[derive(Debug, Clone, Serialize)]
pub struct UpdateBench {
    /// Samples per second: batch × epochs / seconds of the fastest whole update (shuffling,
    /// gathering minibatches, forward, loss, backward, clipping, Adam).
    pub samples_per_s: f64,
    /// Milliseconds per minibatch gradient step of that update.
    pub ms_per_minibatch: f64,
    /// Where it ran, in words.
    pub device: String,
}

/// Times `cfg.repeats` whole PPO updates of a fresh agent on a seeded synthetic batch (random
/// observations, actions, old log-probabilities near the initial policy's, values, advantages).
pub fn update_throughput(cfg: &UpdateBenchConfig) -> Result<UpdateBench, String> {
    if cfg.minibatch == 0 || cfg.batch == 0 || !cfg.batch.is_multiple_of(cfg.minibatch) {
        return Err(format!("the minibatch ({}) must divide the batch ({})", cfg.minibatch, cfg.batch));
    }
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let mut uniform = |n: usize, scale: f32| -> Vec<f32> { (0..n).map(|_| rng.random_range(-scale..=scale)).collect() };
    let mut rollout = Rollout::new(cfg.batch, cfg.obs, cfg.act);
    rollout.obs = uniform(cfg.batch * cfg.obs, 2.0);
    rollout.actions = uniform(cfg.batch * cfg.act, 1.5);
    // Log-probabilities of 4-dimensional actions under the initial policy lie around -4.
    rollout.logprobs = uniform(cfg.batch, 1.0).iter().map(|x| x - 4.0).collect();
    rollout.values = uniform(cfg.batch, 1.0);
    rollout.advantages = uniform(cfg.batch, 1.0);
    rollout.returns = rollout.values.iter().zip(&rollout.advantages).map(|(v, a)| v + a).collect();
    let ppo = PpoConfig { num_minibatches: cfg.batch / cfg.minibatch, update_epochs: cfg.epochs, hidden: cfg.hidden.clone(), ..PpoConfig::default() };
    let agent = Agent::new(cfg.obs, cfg.act, &cfg.hidden, 0.0, 1);
    let (best, device) = match cfg.backend {
        BackendKind::Native => (time(&mut CpuBackend::new(agent, AdamConfig::default()), &rollout, &ppo, cfg.repeats, &mut rng), "cpu (native)".to_owned()),
        #[cfg(feature = "torch")]
        BackendKind::Torch => {
            let mut backend = crate::torch::TorchBackend::new(&agent, AdamConfig::default(), cfg.device).map_err(|e| e.to_string())?;
            (time(&mut backend, &rollout, &ppo, cfg.repeats, &mut rng), crate::torch::describe(cfg.device))
        }
        #[cfg(not(feature = "torch"))]
        BackendKind::Torch => return Err(crate::train::NO_TORCH.to_owned()),
    };
    Ok(UpdateBench { samples_per_s: (cfg.batch * cfg.epochs) as f64 / best, ms_per_minibatch: best * 1e3 / (ppo.num_minibatches * cfg.epochs) as f64, device })
}

/// Seconds of the fastest of `repeats` whole updates, after one warm-up. An update's last step
/// reads the weights back (`save`), so a GPU's queued work is inside the time.
fn time<B: Backend>(backend: &mut B, rollout: &Rollout, cfg: &PpoConfig, repeats: usize, rng: &mut ChaCha8Rng) -> f64 {
    let mut best = f64::INFINITY;
    let rms = RunningMeanStd::new(rollout.obs_dim);
    for repeat in 0..=repeats.max(1) {
        let start = Instant::now();
        let stats = update(backend, rollout, cfg, cfg.learning_rate, rng);
        std::hint::black_box((stats, backend.save(&rms)));
        if repeat > 0 {
            best = best.min(start.elapsed().as_secs_f64());
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_minibatch_that_does_not_divide_the_batch_is_refused() {
        let cfg = UpdateBenchConfig { batch: 1000, minibatch: 300, ..UpdateBenchConfig::default() };
        assert_eq!(update_throughput(&cfg).unwrap_err(), "the minibatch (300) must divide the batch (1000)");
    }

    #[test]
    fn a_small_update_reports_positive_finite_figures() {
        let cfg = UpdateBenchConfig { batch: 64, minibatch: 32, epochs: 1, repeats: 1, hidden: vec![8], ..UpdateBenchConfig::default() };
        let b = update_throughput(&cfg).unwrap();
        assert!(b.samples_per_s.is_finite() && b.samples_per_s > 0.0, "{b:?}");
        assert!(b.ms_per_minibatch.is_finite() && b.ms_per_minibatch > 0.0, "{b:?}");
        assert_eq!(b.device, "cpu (native)");
    }
}
