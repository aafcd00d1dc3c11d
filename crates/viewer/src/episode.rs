//! A rollout's records as episodes of frames: frame 0 is the pose after reset, frame i the pose
//! after step i, with that step's reward terms and fitness.

use rewardsmith_sim::rollout::{BodyPose, Record, Rollout};

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
