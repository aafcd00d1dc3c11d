//! The run directory's files: what a search writes per candidate, per generation and at its end
//! (`run.toml`, JSON), and reads back on `--resume`; the viewer and the report read the same.

use crate::config::SearchConfig;
use crate::error::SearchError;
use rewardsmith_ppo::config::PpoConfig;
use rewardsmith_propose::Usage;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::io::Write as _;
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

impl CandidateResult {
    /// A result of training `id` with nothing in it yet: status `trained`, no fitness.
    pub fn new(id: &str) -> Self {
        Self {
            id: id.to_owned(),
            status: "trained".to_owned(),
            error: None,
            duplicate_of: None,
            nearest: None,
            global_step: 0,
            seconds: 0.0,
            fitness: None,
            fitness_per_seed: Vec::new(),
            episodes: Vec::new(),
            checkpoints: Vec::new(),
            hierarchy: Vec::new(),
        }
    }
}

/// A training's result as the executor that ran it left it (`task-result.json` in its folder),
/// before the search records it as `result.json`: a search killed in between adopts it on
/// `--resume` instead of training again.
pub const TASK_RESULT: &str = "task-result.json";

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
    /// Tokens and dollars the proposer (and, with `--feedback vlm`, the vision model) spent on
    /// this generation.
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

/// Writes `bytes` to `path` through a temporary file in the same folder, synced and renamed into
/// place, so a reader (or a resumed search) never sees a half-written file. Creates the folder.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), SearchError> {
    let io = |source| SearchError::Io { path: path.display().to_string(), source };
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(io)?;
    let tmp = dir.join(format!(".{}.tmp", path.file_name().map_or("file".into(), |n| n.to_string_lossy())));
    let mut file = std::fs::File::create(&tmp).map_err(io)?;
    file.write_all(bytes).map_err(io)?;
    file.sync_all().map_err(io)?;
    std::fs::rename(&tmp, path).map_err(io)
}

/// Writes a JSON file of the run directory atomically.
pub(crate) fn write_json(path: &Path, value: &impl Serialize) -> Result<(), SearchError> {
    let text = serde_json::to_string_pretty(value).map_err(|e| corrupt(path, e))?;
    write_atomic(path, text.as_bytes())
}

/// One JSON line per value (`metrics.jsonl`), written atomically.
pub(crate) fn write_jsonl<T: Serialize>(path: &Path, values: &[T]) -> Result<(), SearchError> {
    let mut text = String::new();
    for value in values {
        text += &serde_json::to_string(value).map_err(|e| corrupt(path, e))?;
        text.push('\n');
    }
    write_atomic(path, text.as_bytes())
}

/// A file of the run directory that cannot be read back, and why.
pub(crate) fn corrupt(path: &Path, e: impl std::fmt::Display) -> SearchError {
    SearchError::Corrupt { path: path.display().to_string(), message: e.to_string() }
}

/// `run.toml`: everything needed to resume or reproduce the search.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunFile {
    /// rewardsmith's version.
    pub version: String,
    /// The env: id, file (built-in path or the user's), content hash.
    pub env: EnvIdentity,
    /// The search settings.
    pub search: SearchConfig,
    /// The PPO settings of every training (its seed and threads are set per training).
    pub ppo: PpoConfig,
    /// How the proposer was chosen (the CLI's settings, read back by `--resume`).
    pub proposer: toml::Table,
}

/// Which env file a run used.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EnvIdentity {
    /// Its id.
    pub id: String,
    /// Where it was read from.
    pub path: String,
    /// Hash of its content (a resumed search refuses another version).
    pub hash: String,
}

impl RunFile {
    /// Reads `DIR/run.toml`.
    pub fn read(dir: &Path) -> Result<Self, SearchError> {
        let path = dir.join("run.toml");
        let text = std::fs::read_to_string(&path).map_err(|e| corrupt(&path, e))?;
        toml::from_str(&text).map_err(|e| corrupt(&path, e))
    }
}

/// How a search ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// `generations` (all ran) or `budget` (the proposer's budget ran out).
    pub stop_reason: String,
    /// The best candidate of the search: with `--feedback human` the person's top choice of the
    /// last generation that had one; otherwise the best mean of the confirmed candidates, else
    /// the best single training.
    pub best: Option<String>,
    /// Its fitness: that mean (over 1 + `confirm_seeds` trainings), else its one training's.
    pub best_fitness: Option<f64>,
    /// Who picked the winner, in words: the person's ranking (`--feedback human`), or fitness
    /// on the confirmation seeds, or one training's fitness. (Missing from a summary written
    /// before it existed: empty.)
    #[serde(default)]
    pub picked_by: String,
    /// The candidates confirmed on more training seeds before the winner was picked (empty when
    /// `confirm_top` ≤ 1), best selection fitness first.
    #[serde(default)]
    pub confirmed: Vec<Confirmed>,
    /// Each generation's record.
    pub generations: Vec<GenerationRecord>,
    /// What the proposer and the vision model spent, all generations.
    pub usage: Usage,
    /// The best reward against the env's baselines, retrained on fresh seeds (None when
    /// `final_seeds` is 0 or no candidate was trained).
    pub final_evaluation: Option<FinalEvaluation>,
}

/// A candidate retrained on more seeds to confirm its selection fitness.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Confirmed {
    /// `gen-NN/cand-KK`.
    pub id: String,
    /// Fitness of its search training, then of each extra seed's (None: that training failed).
    pub per_seed: Vec<Option<f64>>,
    /// Mean over the trainings that succeeded.
    pub fitness_mean: f64,
}

/// The final evaluation: the best reward, `human.rhai` and `sparse.rhai` each trained with
/// `seeds` seeds and the search's budget, and evaluated like the candidates.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FinalEvaluation {
    /// Training seeds per reward.
    pub seeds: usize,
    /// Environment steps per training.
    pub steps: u64,
    /// One entry per reward: `best`, then `human` and `sparse` when the env has them.
    pub entries: Vec<FinalEntry>,
    /// Eureka's human-normalised score of the best reward: (best − sparse) / |human − sparse|
    /// on the mean fitness; None without both baselines or when they score the same.
    pub human_normalized_score: Option<f64>,
    /// Why that score means nothing, when |human − sparse| is within the spread (the standard
    /// deviation over the final seeds) of either: a ratio over a difference of noise. The CLI and
    /// the report then print this instead of the number. (Missing from a summary written before
    /// it existed: None.)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hns_not_meaningful: Option<String>,
}

impl FinalEvaluation {
    /// The score as the CLI and the report state it: the number, or why there is none worth
    /// reading.
    pub fn hns_text(&self) -> Option<String> {
        match (&self.hns_not_meaningful, self.human_normalized_score) {
            (Some(why), _) => Some(format!("HNS not meaningful: human and sparse score alike ({why})")),
            (None, Some(score)) => Some(format!("human-normalised score of the best: {score:.3} ((best − sparse) / |human − sparse|)")),
            (None, None) => None,
        }
    }
}

/// Why an HNS over these final entries means nothing, if it does not: human and sparse within
/// one standard deviation (over the final seeds) of each other.
pub(crate) fn hns_not_meaningful(entries: &[FinalEntry]) -> Option<String> {
    let entry = |name: &str| entries.iter().find(|e| e.name == name).filter(|e| e.fitness_mean.is_finite());
    let (human, sparse) = (entry("human")?, entry("sparse")?);
    let gap = (human.fitness_mean - sparse.fitness_mean).abs();
    (gap <= human.fitness_std.max(sparse.fitness_std)).then(|| {
        format!(
            "human {:.3} ± {:.3}, sparse {:.3} ± {:.3}: |human − sparse| = {gap:.3} is within the spread of either",
            human.fitness_mean, human.fitness_std, sparse.fitness_mean, sparse.fitness_std
        )
    })
}

/// One reward's final evaluation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FinalEntry {
    /// `best`, `human` or `sparse`.
    pub name: String,
    /// Mean over the seeds whose training succeeded.
    pub fitness_mean: f64,
    /// Their population standard deviation.
    pub fitness_std: f64,
    /// Each training seed's fitness (None: that training failed).
    pub per_seed: Vec<Option<f64>>,
    /// Trainings taken from the cache instead of being run.
    pub cached: usize,
}

/// Fitness per training seed for people: `0.812, failed, 0.790`.
pub fn per_seed_text(per_seed: &[Option<f64>]) -> String {
    per_seed.iter().map(|f| f.map_or("failed".to_owned(), |f| format!("{f:.3}"))).collect::<Vec<_>>().join(", ")
}
