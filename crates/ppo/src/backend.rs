//! The network backend: what the PPO loop needs from the networks, behind one small trait, so a
//! GPU backend (tch/libtorch) can sit next to the CPU one without touching the loop.
//!
//! The split follows CleanRL's update: the backend does what PyTorch does there (forward with
//! autograd, `loss.backward()`, `clip_grad_norm_`, `optimizer.step()`, `state_dict`), and the
//! loop keeps the PPO arithmetic (log-probabilities, ratios, clipping, the loss and its
//! derivatives with respect to the networks' outputs), which is cheap and identical for every
//! backend.

use crate::adam::{Adam, AdamConfig};
use crate::agent::Agent;
use crate::mlp::Tape;
use crate::normalize::RunningMeanStd;

/// A Gaussian policy (means from a network, a learned state-independent log σ) and a value
/// network, trainable by gradient steps.
pub trait Backend {
    /// Action means (`batch × act_dim`, row-major) and values (`batch`) for normalised
    /// observations (`batch × obs_dim`). Keeps what [`Backend::backward`] needs.
    fn forward(&mut self, obs: &[f32], batch: usize) -> (&[f32], &[f32]);

    /// The same outputs as [`Backend::forward`] for acting and bootstrapping, when no backward
    /// pass will follow. A backend may compute them elsewhere: the torch backend on a host copy
    /// of its weights, since a GPU's latency per call costs more than a rollout's small batches
    /// (BENCHMARKS.md, "GPU").
    fn act(&mut self, obs: &[f32], batch: usize) -> (&[f32], &[f32]) {
        self.forward(obs, batch)
    }

    /// The current log σ per action component.
    fn log_std(&self) -> &[f32];

    /// Gradients of a loss with respect to every parameter, given the loss's derivatives with
    /// respect to the last forward pass's means and values and to log σ. Replaces the previous
    /// gradients (PyTorch's `zero_grad` + `backward`).
    fn backward(&mut self, d_means: &[f32], d_values: &[f32], d_log_std: &[f32]);

    /// Scales the gradients so that their global norm (over all parameters) is at most
    /// `max_norm`; returns the norm before scaling (`torch.nn.utils.clip_grad_norm_`).
    fn clip_grad_norm(&mut self, max_norm: f32) -> f32;

    /// One optimiser step with step size `lr` (the loop anneals it).
    fn optimizer_step(&mut self, lr: f32);

    /// The weights in host memory with the observation statistics the loop kept: what is saved
    /// (`Agent::to_safetensors`) and evaluated.
    fn save(&self, obs_rms: &RunningMeanStd) -> Agent;

    /// Replaces the weights with `agent`'s (its observation statistics stay with the caller).
    /// The optimiser's state is kept: loading is for resuming or swapping weights mid-run, and a
    /// fresh optimiser wants a fresh backend.
    fn load(&mut self, agent: &Agent);
}

/// The default backend: the hand-written MLPs of [`crate::mlp`] and [`Adam`], on the CPU, one
/// thread, bitwise deterministic.
#[derive(Debug, Clone)]
pub struct CpuBackend {
    agent: Agent,
    adam: AdamConfig,
    actor_tape: Tape<f32>,
    critic_tape: Tape<f32>,
    g_actor: Vec<f32>,
    g_log_std: Vec<f32>,
    g_critic: Vec<f32>,
    adam_actor: Adam,
    adam_log_std: Adam,
    adam_critic: Adam,
}

impl CpuBackend {
    /// A backend training `agent`'s networks with Adam (`adam.lr` is replaced by the step size
    /// given to each [`Backend::optimizer_step`]).
    pub fn new(agent: Agent, adam: AdamConfig) -> Self {
        let (na, nl, nc) = (agent.actor.params.len(), agent.log_std.len(), agent.critic.params.len());
        Self {
            agent,
            adam,
            actor_tape: Tape::default(),
            critic_tape: Tape::default(),
            g_actor: vec![0.0; na],
            g_log_std: vec![0.0; nl],
            g_critic: vec![0.0; nc],
            adam_actor: Adam::new(na),
            adam_log_std: Adam::new(nl),
            adam_critic: Adam::new(nc),
        }
    }

    /// The gradients of the last [`Backend::backward`] (after any clipping), flat in the order
    /// actor, log σ, critic: [`Agent`]'s parameter layout, for comparing backends.
    pub fn gradients(&self) -> Vec<f32> {
        [&self.g_actor[..], &self.g_log_std, &self.g_critic].concat()
    }
}

impl Backend for CpuBackend {
    fn forward(&mut self, obs: &[f32], batch: usize) -> (&[f32], &[f32]) {
        let means = self.agent.actor.forward(obs, batch, &mut self.actor_tape);
        let values = self.agent.critic.forward(obs, batch, &mut self.critic_tape);
        (means, values)
    }

    fn log_std(&self) -> &[f32] {
        &self.agent.log_std
    }

    fn backward(&mut self, d_means: &[f32], d_values: &[f32], d_log_std: &[f32]) {
        self.agent.actor.backward(&mut self.actor_tape, d_means, &mut self.g_actor);
        self.agent.critic.backward(&mut self.critic_tape, d_values, &mut self.g_critic);
        self.g_log_std.copy_from_slice(d_log_std);
    }

    fn clip_grad_norm(&mut self, max_norm: f32) -> f32 {
        let grads = || self.g_actor.iter().chain(&self.g_log_std).chain(&self.g_critic);
        let norm = grads().map(|g| g * g).sum::<f32>().sqrt();
        if norm > max_norm {
            // PyTorch's clip_grad_norm_ adds the same 1e-6 to the norm.
            let k = max_norm / (norm + 1e-6);
            self.g_actor.iter_mut().chain(self.g_log_std.iter_mut()).chain(self.g_critic.iter_mut()).for_each(|g| *g *= k);
        }
        norm
    }

    fn optimizer_step(&mut self, lr: f32) {
        self.adam_actor.step(&self.adam, lr, &mut self.agent.actor.params, &self.g_actor);
        self.adam_log_std.step(&self.adam, lr, &mut self.agent.log_std, &self.g_log_std);
        self.adam_critic.step(&self.adam, lr, &mut self.agent.critic.params, &self.g_critic);
    }

    fn save(&self, obs_rms: &RunningMeanStd) -> Agent {
        Agent { obs_rms: obs_rms.clone(), ..self.agent.clone() }
    }

    fn load(&mut self, agent: &Agent) {
        self.agent = agent.clone();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clip_grad_norm_scales_the_global_norm_down_to_the_limit() {
        let agent = Agent::new(3, 2, &[4], 0.0, 5);
        let mut b = CpuBackend::new(agent, AdamConfig::default());
        let obs = [0.5, -1.0, 2.0, 0.1, 0.2, 0.3];
        b.forward(&obs, 2);
        b.backward(&[1.0, -2.0, 0.5, 3.0], &[4.0, -1.0], &[2.0, -2.0]);
        let before = b.clip_grad_norm(0.5);
        assert!(before > 0.5, "the test needs a norm above the limit, got {before}");
        let after = b.clip_grad_norm(f32::INFINITY);
        assert!((after - 0.5).abs() < 1e-5, "norm after clipping {after}");
    }

    #[test]
    fn save_then_load_round_trips_the_weights() {
        let mut b = CpuBackend::new(Agent::new(3, 1, &[4], -0.5, 1), AdamConfig::default());
        let other = Agent::new(3, 1, &[4], 0.3, 2);
        b.load(&other);
        let rms = RunningMeanStd::new(3);
        assert_eq!(b.save(&rms), Agent { obs_rms: rms.clone(), ..other });
    }
}
