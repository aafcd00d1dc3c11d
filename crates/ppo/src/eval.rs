//! Evaluation of a trained agent: the deterministic policy (the mean action) on seeded episodes,
//! scored by the environment's ground-truth fitness.

use crate::agent::Agent;
use rewardsmith_sim::{episode_seed, Env, EnvModel, SimError};
use rewardsmith_spec::Aggregate;
use std::sync::Arc;

/// Fitness per episode, in episode order; episode `e` is reset with `episode_seed(seed, e)`.
pub fn evaluate(model: &Arc<EnvModel>, agent: &Agent, episodes: usize, seed: u64, obs_clip: f32) -> Result<Vec<f64>, SimError> {
    let mut env = Env::new(model.clone(), None)?;
    let aggregate = model.spec().fitness.aggregate;
    let mut scores = Vec::with_capacity(episodes);
    for e in 0..episodes {
        let mut obs = env.reset(episode_seed(seed, e as u64))?.to_vec();
        let (mut sum, mut max, mut len) = (0.0, f64::NEG_INFINITY, 0u32);
        let mut last;
        loop {
            let action = agent.act_deterministic(&obs, obs_clip);
            let s = env.step(&action)?;
            sum += s.fitness;
            max = f64::max(max, s.fitness);
            last = s.fitness;
            len += 1;
            obs.copy_from_slice(s.obs);
            if s.terminated || s.truncated {
                break;
            }
        }
        scores.push(match aggregate {
            Aggregate::Sum => sum,
            Aggregate::Mean => sum / f64::from(len),
            Aggregate::Final => last,
            Aggregate::Max => max,
        });
    }
    Ok(scores)
}
