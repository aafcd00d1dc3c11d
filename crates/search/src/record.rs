//! What a search writes per candidate and per generation (JSON in the run directory), and reads
//! back on `--resume`.

use crate::run::SearchError;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// A candidate as proposed, before any training (`gen-NN/proposals.json` lists them).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Proposal {
    /// `cand-KK`, in the order proposed (resampled candidates follow the first K).
    pub name: String,
    /// Resampling round that produced it (0: the generation's first K).
    pub round: usize,
    /// The script, if the proposer produced one.
    pub script: Option<String>,
    /// The LLM's reply, if there was one.
    pub reply: Option<String>,
    /// The critic's verdict.
    pub critic: Verdict,
    /// The candidates it was bred from (`gen-NN/cand-KK`): for the offline proposer its parent
    /// and crossover partner, for an LLM the judged best scripts its prompt showed; empty in
    /// generation 0. (Missing from proposals.json written before it existed: empty.)
    #[serde(default)]
    pub parents: Vec<String>,
}

/// The critic's verdict on a proposal: the one `rewardsmith check --json` prints.
pub use rewardsmith_script::Verdict;

/// A term's range on the critic's states.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TermRange {
    /// Term name.
    pub name: String,
    /// Smallest value.
    pub min: f64,
    /// Mean value.
    pub mean: f64,
    /// Largest value.
    pub max: f64,
}

/// A trained (or deduplicated, or failed) candidate: `gen-NN/cand-KK/result.json`, written once
/// the candidate is done, so a resumed search skips it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CandidateResult {
    /// `gen-NN/cand-KK`.
    pub id: String,
    /// What happened: `trained`, `duplicate` (of `duplicate_of`, whose results it shares),
    /// `failed` (training error) or `timeout`.
    pub status: String,
    /// The training error or why it timed out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The already-trained candidate it duplicates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duplicate_of: Option<String>,
    /// The nearest already-trained candidate and the distance to it (see `dedup`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nearest: Option<(String, f64)>,
    /// Environment steps trained.
    pub global_step: u64,
    /// Wall-clock seconds of training and evaluation (not part of any result).
    pub seconds: f64,
    /// Evaluated fitness: the mean over seeds of each seed's mean over its episodes. None when
    /// the training failed.
    pub fitness: Option<f64>,
    /// Each evaluation seed's mean fitness.
    pub fitness_per_seed: Vec<f64>,
    /// The evaluation episodes, seed by seed.
    pub episodes: Vec<Episode>,
    /// Training curves and reward terms at evenly spaced checkpoints.
    pub checkpoints: Vec<Checkpoint>,
    /// With `--feedback hierarchy`: each level's value (its per-step mean, averaged over the
    /// evaluation episodes of every seed), most important first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hierarchy: Vec<f64>,
}

/// One evaluation episode.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Episode {
    /// Evaluation seed index.
    pub seed: usize,
    /// Ground-truth fitness.
    pub fitness: f64,
    /// Return under the candidate's reward.
    #[serde(rename = "return")]
    pub ret: f64,
    /// Steps it lasted.
    pub steps: u32,
    /// Name of the termination that ended it; None: the time limit.
    pub termination: Option<String>,
}

/// Training state at one checkpoint (one PPO iteration).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// Environment steps so far.
    pub global_step: u64,
    /// Mean return of the episodes that ended in the iteration.
    pub episodic_return: Option<f64>,
    /// Their mean length in steps.
    pub episodic_length: Option<f64>,
    /// Their mean ground-truth fitness.
    pub fitness: Option<f64>,
    /// Each reward term's mean, min and max over the iteration's steps.
    pub terms: Vec<TermRange>,
}

/// A finished generation: `gen-NN/generation.json`, written last (a resumed search takes a
/// generation with this file as done).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GenerationRecord {
    /// Generation index.
    pub generation: usize,
    /// Candidate ids, best first (by fitness, the synthetic preferences or a person).
    pub ranking: Vec<String>,
    /// The best candidate's id, if any candidate was trained.
    pub best: Option<String>,
    /// Its fitness.
    pub best_fitness: Option<f64>,
    /// Tokens and dollars the proposer spent on this generation.
    pub usage: rewardsmith_propose::Usage,
    /// Who ranked: `fitness`, `synthetic preferences`, or a person's ranking's source (`rank
    /// command`, `viewer`, or `fitness (no human ranking within … s)`). (Missing from a record
    /// written before it existed: None.)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ranking_source: Option<String>,
}

/// Reads a JSON file of the run directory.
pub(crate) fn read_json<T: DeserializeOwned>(path: &Path) -> Result<T, SearchError> {
    let text = std::fs::read_to_string(path).map_err(|e| corrupt(path, e))?;
    serde_json::from_str(&text).map_err(|e| corrupt(path, e))
}

/// Reads a JSON file of the run directory that may not have been written yet.
/// Wall-clock seconds a run spent per phase, in `OUT/timing.json` (the report's time table). A
/// resumed run adds the time of each session; proposing and the critic are timed when the
/// proposals are made (and kept with them), so a resumed generation does not count them twice.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Timing {
    /// One entry per generation.
    pub generations: Vec<PhaseSeconds>,
    /// Retraining the best candidates on more seeds, s.
    pub confirm_s: f64,
    /// The final evaluation's trainings, s.
    pub final_s: f64,
}

/// Wall-clock seconds of one generation's phases.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct PhaseSeconds {
    /// Waiting for the proposer (an LLM's replies, or the offline proposer's breeding).
    pub propose_s: f64,
    /// Compiling and checking the proposals (the critic).
    pub critic_s: f64,
    /// Deduplicating, training and evaluating the candidates.
    pub train_s: f64,
}

pub(crate) fn read_json_if_present<T: DeserializeOwned>(path: &Path) -> Result<Option<T>, SearchError> {
    match std::fs::read_to_string(path) {
        Err(_) => Ok(None),
        Ok(text) => serde_json::from_str(&text).map(Some).map_err(|e| corrupt(path, e)),
    }
}

/// Writes a JSON file of the run directory atomically.
pub(crate) fn write_json(path: &Path, value: &impl Serialize) -> Result<(), SearchError> {
    let text = serde_json::to_string_pretty(value).map_err(|e| corrupt(path, e))?;
    Ok(rewardsmith_sim::rollout::write_atomic(path, text.as_bytes())?)
}

/// One JSON line per value (`metrics.jsonl`), written atomically.
pub(crate) fn write_jsonl<T: Serialize>(path: &Path, values: &[T]) -> Result<(), SearchError> {
    let mut text = String::new();
    for value in values {
        text += &serde_json::to_string(value).map_err(|e| corrupt(path, e))?;
        text.push('\n');
    }
    Ok(rewardsmith_sim::rollout::write_atomic(path, text.as_bytes())?)
}

/// A file of the run directory that cannot be read back, and why.
pub(crate) fn corrupt(path: &Path, e: impl std::fmt::Display) -> SearchError {
    SearchError::Corrupt { path: path.display().to_string(), message: e.to_string() }
}
