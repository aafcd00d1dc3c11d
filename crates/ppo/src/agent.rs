//! The agent: a Gaussian policy with a state-independent log standard deviation, a separate value
//! network, and the observation normaliser (saved with the policy, since the policy only
//! understands normalised observations).

use crate::mlp::{Mlp, Tape};
use crate::normalize::RunningMeanStd;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Policy, value function and observation statistics.
#[derive(Debug, Clone, PartialEq)]
pub struct Agent {
    /// Observation → action mean.
    pub actor: Mlp<f32>,
    /// log σ per action component, learned, independent of the state.
    pub log_std: Vec<f32>,
    /// Observation → value.
    pub critic: Mlp<f32>,
    /// Running statistics the observations are normalised with.
    pub obs_rms: RunningMeanStd,
}

/// Scale of the actor's output layer at initialisation: near-zero means, so early actions come
/// from the noise (CleanRL initialises this layer orthogonally with gain 0.01).
const ACTOR_OUTPUT_SCALE: f32 = 0.01;

fn init(sizes: Vec<usize>, rng: &mut ChaCha8Rng, output_scale: f32) -> Mlp<f32> {
    // PyTorch's default for Linear layers: U(−1/√fan_in, 1/√fan_in) for weights and biases.
    let layers = sizes.len() - 1;
    let mut params = Vec::with_capacity(Mlp::<f32>::param_count(&sizes));
    for l in 0..layers {
        let bound = 1.0 / (sizes[l] as f32).sqrt();
        let scale = if l + 1 == layers { output_scale } else { 1.0 };
        for _ in 0..sizes[l] * sizes[l + 1] + sizes[l + 1] {
            params.push(rng.random_range(-bound..=bound) * scale);
        }
    }
    Mlp::from_params(sizes, params)
}

impl Agent {
    /// A fresh agent for `obs_dim` observations and `act_dim` actions with the given hidden
    /// widths, initial log σ and seed.
    pub fn new(obs_dim: usize, act_dim: usize, hidden: &[usize], init_log_std: f32, seed: u64) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let sizes = |out: usize| [&[obs_dim][..], hidden, &[out]].concat();
        let actor = init(sizes(act_dim), &mut rng, ACTOR_OUTPUT_SCALE);
        let critic = init(sizes(1), &mut rng, 1.0);
        Self { actor, log_std: vec![init_log_std; act_dim], critic, obs_rms: RunningMeanStd::new(obs_dim) }
    }

    /// Observation length.
    pub fn obs_dim(&self) -> usize {
        self.actor.sizes[0]
    }

    /// Action length.
    pub fn act_dim(&self) -> usize {
        self.log_std.len()
    }

    /// The deterministic action (the mean, clipped to [-1, 1]) for raw observations.
    pub fn act_deterministic(&self, obs: &[f32], clip: f32) -> Vec<f32> {
        let mut norm = vec![0.0; obs.len()];
        self.obs_rms.normalize(obs, clip, &mut norm);
        let mut tape = Tape::default();
        let batch = obs.len() / self.obs_dim();
        self.actor.forward(&norm, batch, &mut tape).iter().map(|a| a.clamp(-1.0, 1.0)).collect()
    }
}
