//! Simulation for rewardsmith: rapier3d worlds built from environment specs.
//!
//! - [`EnvModel`] compiles a spec once (expressions, script engine, layout); [`Env`] is one
//!   instance with Gymnasium's `reset(seed)` / `step(action)`;
//! - [`VecEnv`] steps many instances on a thread pool with auto-reset; results do not depend on
//!   the thread count;
//! - [`rollout`] records trajectories in a compact binary file and replays them bit for bit;
//! - [`export`] re-simulates a rollout into a per-step table (observations included) and writes
//!   it as numpy's `.npz` or as JSON lines;
//! - [`critic_states`] samples the states the reward critic runs scripts on.
//!
//! Physics uses rapier3d's `enhanced-determinism` feature, so a seed gives the same trajectory on
//! every x86-64 machine, and the world is rebuilt at every reset, so an episode does not depend on
//! the one before it.

pub mod bench;
mod describe;
mod env;
pub mod export;
mod math;
pub mod rollout;
mod vec_env;
mod world;

pub use env::{Env, EnvModel, EpisodeFitness, Step, episode_seed};
pub use math::derive_seed;
pub use vec_env::{VecEnv, VecStep};

use rewardsmith_script::{ScriptError, State};
use rewardsmith_spec::SpecError;
use thiserror::Error;

/// Errors of the simulator.
#[derive(Debug, Error)]
pub enum SimError {
    /// The environment file is invalid.
    #[error(transparent)]
    Spec(#[from] SpecError),
    /// A script or an environment expression failed.
    #[error(transparent)]
    Script(#[from] ScriptError),
    /// The environment is inconsistent in a way only building it reveals.
    #[error("{0}")]
    Env(String),
    /// The physics produced a non-finite value.
    #[error("simulation diverged at step {step}: {what}")]
    Diverged {
        /// Step at which it happened.
        step: u32,
        /// The first non-finite quantity.
        what: String,
    },
    /// The action has the wrong length.
    #[error("the action has {got} components, the environment expects {expected}")]
    Action {
        /// Expected length.
        expected: usize,
        /// Given length.
        got: usize,
    },
    /// `step` was called after the episode ended.
    #[error("step called on a finished episode; call reset first")]
    NeedsReset,
    /// A rollout file is malformed or does not match its environment.
    #[error("{path}: {message}")]
    Rollout {
        /// The file.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// Re-simulating a rollout did not reproduce it bit for bit.
    #[error("{0}; the re-simulation does not reproduce the recording (the env file or the program changed since it was recorded)")]
    Mismatch(rollout::Mismatch),
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
}

/// Number of states the critic samples by default: a few hundred, enough to hit most branches of
/// a reward while staying under a millisecond-scale budget per candidate.
pub const CRITIC_SAMPLES: usize = 256;

/// Seed of the critic's states (the default of `rewardsmith check --seed`): the proposer's own
/// critic and the search's use the same states, so a child the proposer accepts passes both.
pub const CRITIC_SEED: u64 = 0;

/// Seed stream of the critic's random actions, apart from the episodes' streams (0, 1, 2…).
const CRITIC_ACTION_STREAM: u64 = u64::MAX;

/// Samples `count` states for the critic from seeded resets and uniformly random actions: episodes
/// of up to 32 steps from successive seeds, so both starting states and states after random
/// pushes are covered. Deterministic in `seed`.
pub fn critic_states(model: &std::sync::Arc<EnvModel>, count: usize, seed: u64) -> Result<Vec<State>, SimError> {
    use rand::{Rng, SeedableRng};
    const EPISODE_STEPS: u32 = 32;
    let mut env = Env::new(model.clone(), None)?;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(derive_seed(seed, CRITIC_ACTION_STREAM));
    let mut action = vec![0.0f32; model.action_dim()];
    let mut states = Vec::with_capacity(count);
    let mut episode = 0;
    'outer: loop {
        env.reset(episode_seed(seed, episode))?;
        episode += 1;
        for _ in 0..EPISODE_STEPS {
            if states.len() >= count {
                break 'outer;
            }
            action.iter_mut().for_each(|a| *a = rng.random_range(-1.0..=1.0));
            let step = env.step(&action)?;
            let done = step.terminated || step.truncated;
            states.push(env.state().clone());
            if done {
                break;
            }
        }
    }
    Ok(states)
}
