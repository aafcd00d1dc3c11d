//! A rollout's records as episodes of frames: frame 0 is the pose after reset, frame i the pose
//! after step i, with that step's reward terms and fitness.

use rewardsmith_sim::rollout::{BodyPose, Record, Rollout};
use rewardsmith_spec::Aggregate;

/// One episode of a rollout.
#[derive(Debug, Clone, PartialEq)]
pub struct Episode {
    /// The episode's reset seed.
    pub seed: u64,
    /// Every body's pose (in the rollout header's body order), per frame.
    pub poses: Vec<Vec<BodyPose>>,
    /// The reward terms of the step that led to frame i + 1 (in the header's term order).
    pub terms: Vec<Vec<f64>>,
    /// The fitness term of the step that led to frame i + 1.
    pub fitness: Vec<f64>,
    /// Whether the episode ended by a termination (not by its time limit or the recording's end).
    pub terminated: bool,
}

impl Episode {
    /// The fitness aggregated as the env scores it over the steps up to `frame` (frame 0 is the
    /// reset pose: no step yet, 0), so a person sees the score accrue as the episode plays.
    pub fn fitness_so_far(&self, frame: usize, aggregate: Aggregate) -> f64 {
        let steps = &self.fitness[..frame.min(self.fitness.len())];
        match (aggregate, steps.last()) {
            (_, None) => 0.0,
            (Aggregate::Sum, _) => steps.iter().sum(),
            (Aggregate::Mean, _) => steps.iter().sum::<f64>() / steps.len() as f64,
            (Aggregate::Final, Some(last)) => *last,
            (Aggregate::Max, _) => steps.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        }
    }

    /// Frames: the reset pose and one per step.
    pub fn frames(&self) -> usize {
        self.poses.len()
    }
}

/// The episodes of `rollout`, in order (steps before the first reset, which a valid rollout does
/// not have, are skipped).
pub fn split(rollout: &Rollout) -> Vec<Episode> {
    let mut episodes: Vec<Episode> = Vec::new();
    for record in &rollout.records {
        match record {
            Record::Reset { seed, poses } => {
                episodes.push(Episode { seed: *seed, poses: vec![poses.clone()], terms: Vec::new(), fitness: Vec::new(), terminated: false });
            }
            Record::Step { terminated, poses, terms, fitness, .. } => {
                if let Some(episode) = episodes.last_mut() {
                    episode.poses.push(poses.clone());
                    episode.terms.push(terms.clone());
                    episode.fitness.push(*fitness);
                    episode.terminated |= *terminated;
                }
            }
        }
    }
    episodes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fitness_accrues_as_the_env_aggregates_it() {
        let episode = Episode { seed: 0, poses: vec![Vec::new(); 5], terms: vec![Vec::new(); 4], fitness: vec![1.0, 0.0, 3.0, 2.0], terminated: false };
        assert_eq!(episode.fitness_so_far(0, Aggregate::Sum), 0.0, "the reset pose: no step yet");
        assert_eq!(episode.fitness_so_far(3, Aggregate::Sum), 4.0);
        assert_eq!(episode.fitness_so_far(2, Aggregate::Mean), 0.5);
        assert_eq!(episode.fitness_so_far(4, Aggregate::Final), 2.0);
        assert_eq!(episode.fitness_so_far(9, Aggregate::Max), 3.0, "past the end: the whole episode");
    }
}
