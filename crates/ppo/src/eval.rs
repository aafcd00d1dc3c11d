//! Evaluation of a trained agent: the deterministic policy (the mean action) on seeded episodes,
//! scored by the environment's ground-truth fitness.

use crate::agent::Agent;
use rewardsmith_script::RewardScript;
use rewardsmith_sim::{Env, EnvModel, EpisodeFitness, SimError, episode_seed};
use std::sync::Arc;

/// Fitness per episode, in episode order; episode `e` is reset with `episode_seed(seed, e)`.
pub fn evaluate(model: &Arc<EnvModel>, agent: &Agent, episodes: usize, seed: u64, obs_clip: f32) -> Result<Vec<f64>, SimError> {
    Ok(evaluate_with_reward(model, agent, None, episodes, seed, obs_clip)?.into_iter().map(|s| s.fitness).collect())
}

/// One evaluation episode's scores.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct EpisodeScore {
    /// The env's ground-truth fitness.
    pub fitness: f64,
    /// Undiscounted return under the reward script, if one was given (for comparisons with
    /// benchmarks that report returns).
    #[serde(rename = "return")]
    pub ret: Option<f64>,
    /// Steps the episode lasted.
    pub steps: u32,
    /// Index into the env's `[[termination]]` list of the condition that ended the episode;
    /// None when it ran to the time limit.
    pub termination: Option<usize>,
}

/// Mean and spread of a set of evaluation episodes.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct ScoreSummary {
    /// Episodes summarised.
    pub episodes: usize,
    /// Mean fitness.
    pub fitness_mean: f64,
    /// Population standard deviation of the fitness.
    pub fitness_std: f64,
    /// Mean return, if the episodes had a reward script.
    pub return_mean: Option<f64>,
    /// Population standard deviation of the return, likewise.
    pub return_std: Option<f64>,
}

impl ScoreSummary {
    /// The summary of `scores` (means of an empty set are NaN).
    pub fn of(scores: &[EpisodeScore]) -> Self {
        let mean_std = |v: &[f64]| {
            let n = v.len() as f64;
            let mean = v.iter().sum::<f64>() / n;
            (mean, (v.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / n).sqrt())
        };
        let fitness: Vec<f64> = scores.iter().map(|s| s.fitness).collect();
        let returns: Vec<f64> = scores.iter().filter_map(|s| s.ret).collect();
        let (fitness_mean, fitness_std) = mean_std(&fitness);
        let (return_mean, return_std) = if returns.is_empty() {
            (None, None)
        } else {
            let (mean, std) = mean_std(&returns);
            (Some(mean), Some(std))
        };
        Self { episodes: scores.len(), fitness_mean, fitness_std, return_mean, return_std }
    }
}

/// As [`evaluate`], also summing each episode's rewards under `reward`.
pub fn evaluate_with_reward(
    model: &Arc<EnvModel>,
    agent: &Agent,
    reward: Option<RewardScript>,
    episodes: usize,
    seed: u64,
    obs_clip: f32,
) -> Result<Vec<EpisodeScore>, SimError> {
    evaluate_policy(model, &mut |obs| agent.act_deterministic(obs, obs_clip), reward, episodes, seed)
}

/// As [`evaluate_with_reward`], with the actions from `act` (raw observation → action in
/// [-1, 1]): the deterministic policy run by any backend.
pub fn evaluate_policy(
    model: &Arc<EnvModel>,
    act: &mut dyn FnMut(&[f32]) -> Vec<f32>,
    reward: Option<RewardScript>,
    episodes: usize,
    seed: u64,
) -> Result<Vec<EpisodeScore>, SimError> {
    evaluate_policy_observed(model, act, reward, episodes, seed, &mut |_, _| {})
}

/// As [`evaluate_policy`], showing `observe` the state after every step with its episode's
/// index, so other measures (a search's hierarchy of signals) come from the same episodes.
pub fn evaluate_policy_observed(
    model: &Arc<EnvModel>,
    act: &mut dyn FnMut(&[f32]) -> Vec<f32>,
    reward: Option<RewardScript>,
    episodes: usize,
    seed: u64,
    observe: &mut dyn FnMut(usize, &rewardsmith_script::State),
) -> Result<Vec<EpisodeScore>, SimError> {
    let has_reward = reward.is_some();
    let mut env = Env::new(model.clone(), reward)?;
    let aggregate = model.spec().fitness.aggregate;
    let mut scores = Vec::with_capacity(episodes);
    for e in 0..episodes {
        let mut obs = env.reset(episode_seed(seed, e as u64))?.to_vec();
        let mut fitness = EpisodeFitness::default();
        let mut ret = 0.0;
        let mut steps = 0u32;
        let termination = loop {
            let action = act(&obs);
            let s = env.step(&action)?;
            fitness.push(s.fitness);
            ret += s.reward;
            steps += 1;
            obs.copy_from_slice(s.obs);
            let end = (s.terminated || s.truncated).then_some(s.termination);
            observe(e, env.state());
            if let Some(termination) = end {
                break termination;
            }
        };
        scores.push(EpisodeScore { fitness: fitness.value(aggregate), ret: has_reward.then_some(ret), steps, termination });
    }
    Ok(scores)
}

/// Evaluation during training: every `every_steps` environment steps the deterministic policy
/// plays `episodes` seeded episodes, and training may stop once their mean fitness reaches
/// `target` (how "steps to solve" is measured, and how a search stops paying for a solved task).
#[derive(Debug, Clone)]
pub struct EvalSchedule {
    /// Environment steps between evaluations (checked after each iteration, so evaluations
    /// fall on the first iteration at or past each multiple).
    pub every_steps: u64,
    /// Episodes per evaluation. The same episodes (seed `seed`) every time, so evaluations are
    /// comparable along the run.
    pub episodes: usize,
    /// Seed of the evaluation episodes.
    pub seed: u64,
    /// Mean fitness at which training stops; None trains for the whole budget.
    pub target: Option<f64>,
    /// Mean return (under `reward`) at which training stops, for comparisons with benchmarks
    /// defined by returns; with `target` as well, both must be reached.
    pub target_return: Option<f64>,
    /// Reward script whose return is reported next to the fitness (None: fitness only).
    pub reward: Option<RewardScript>,
    next_at: u64,
}

/// One evaluation during training.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Evaluation {
    /// Environment steps trained when it ran.
    pub global_step: u64,
    /// Mean fitness over the episodes.
    pub fitness_mean: f64,
    /// Mean undiscounted return under the schedule's reward script, if it has one.
    pub return_mean: Option<f64>,
    /// Whether it reached the schedule's target.
    pub reached_target: bool,
}

impl EvalSchedule {
    /// A schedule evaluating first after `every_steps` steps.
    pub fn new(every_steps: u64, episodes: usize, seed: u64, reward: Option<RewardScript>) -> Self {
        Self { every_steps, episodes, seed, target: None, target_return: None, reward, next_at: every_steps }
    }

    /// Evaluates `agent` if `global_step` has reached the next evaluation point.
    pub fn maybe_run(&mut self, global_step: u64, model: &Arc<EnvModel>, agent: &Agent, obs_clip: f32) -> Result<Option<Evaluation>, SimError> {
        if self.every_steps == 0 || global_step < self.next_at {
            return Ok(None);
        }
        while self.next_at <= global_step {
            self.next_at += self.every_steps;
        }
        let scores = evaluate_with_reward(model, agent, self.reward.clone(), self.episodes, self.seed, obs_clip)?;
        let ScoreSummary { fitness_mean, return_mean, .. } = ScoreSummary::of(&scores);
        Ok(Some(Evaluation {
            global_step,
            fitness_mean,
            return_mean,
            reached_target: (self.target.is_some() || self.target_return.is_some())
                && self.target.is_none_or(|t| fitness_mean >= t)
                && self.target_return.is_none_or(|t| return_mean.is_some_and(|r| r >= t)),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn score_summary_has_population_mean_and_std_and_a_return_only_with_a_reward() {
        let with = [
            EpisodeScore { fitness: 1.0, ret: Some(-4.0), steps: 1, termination: None },
            EpisodeScore { fitness: 3.0, ret: Some(-2.0), steps: 1, termination: None },
        ];
        let s = ScoreSummary::of(&with);
        assert_eq!((s.episodes, s.fitness_mean, s.fitness_std), (2, 2.0, 1.0));
        assert_eq!((s.return_mean, s.return_std), (Some(-3.0), Some(1.0)));
        let without = [EpisodeScore { fitness: 5.0, ret: None, steps: 1, termination: None }];
        let s = ScoreSummary::of(&without);
        assert_eq!((s.fitness_mean, s.fitness_std, s.return_mean), (5.0, 0.0, None));
    }
}
