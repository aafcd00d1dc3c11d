//! Evaluation of a trained agent: the deterministic policy (the mean action) on seeded episodes,
//! scored by the environment's ground-truth fitness.

use crate::agent::Agent;
use rewardsmith_sim::{episode_seed, Env, EnvModel, EpisodeFitness, SimError};
use std::sync::Arc;

/// Fitness per episode, in episode order; episode `e` is reset with `episode_seed(seed, e)`.
pub fn evaluate(model: &Arc<EnvModel>, agent: &Agent, episodes: usize, seed: u64, obs_clip: f32) -> Result<Vec<f64>, SimError> {
    let mut env = Env::new(model.clone(), None)?;
    let aggregate = model.spec().fitness.aggregate;
    let mut scores = Vec::with_capacity(episodes);
    for e in 0..episodes {
        let mut obs = env.reset(episode_seed(seed, e as u64))?.to_vec();
        let mut fitness = EpisodeFitness::default();
        loop {
            let action = agent.act_deterministic(&obs, obs_clip);
            let s = env.step(&action)?;
            fitness.push(s.fitness);
            obs.copy_from_slice(s.obs);
            if s.terminated || s.truncated {
                break;
            }
        }
        scores.push(fitness.value(aggregate));
    }
    Ok(scores)
}
