//! What `view RUN --gen N` shows: a generation's candidates with their recorded evaluation
//! rollouts, and the ranking request it answers.

use crate::episode::{Episode, split};
use crate::layout::MAX_TILES;
use rewardsmith_search::RunFile;
use rewardsmith_search::config::FeedbackMode;
use rewardsmith_search::ranking::{self, RankRequest, Ranking};
use rewardsmith_search::record::CandidateResult;
use rewardsmith_sim::rollout::Rollout;
use rewardsmith_spec::LoadedSpec;
use std::path::{Path, PathBuf};

/// Why a generation cannot be shown or ranked.
#[derive(Debug, thiserror::Error)]
pub enum ViewerError {
    /// A run file is missing or unreadable.
    #[error("{0}")]
    Run(#[from] rewardsmith_search::SearchError),
    /// A rollout is missing or unreadable.
    #[error("{path}: {message}")]
    Rollout {
        /// The rollout file.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
    /// Nothing to show.
    #[error("{0}")]
    Empty(String),
    /// The environment the rollouts were recorded in cannot be found.
    #[error("{0}")]
    Env(String),
}

/// One candidate's tile.
#[derive(Debug, Clone)]
pub struct Tile {
    /// `cand-KK`.
    pub candidate: String,
    /// Its recorded rollout.
    pub rollout: Rollout,
    /// The rollout's episodes.
    pub episodes: Vec<Episode>,
    /// Its evaluated fitness (mean over evaluation seeds), if it was trained.
    pub fitness: Option<f64>,
}

/// A generation of a search run, ready to show.
#[derive(Debug, Clone)]
pub struct GenerationView {
    /// The run directory.
    pub run: PathBuf,
    /// The generation shown.
    pub generation: usize,
    /// Its candidates, in candidate order (at most [`MAX_TILES`]).
    pub tiles: Vec<Tile>,
    /// The env the rollouts were recorded in.
    pub env: LoadedSpec,
    /// The search's request for a ranking of this generation (None: it asked for none, so the
    /// viewer only shows).
    pub request: Option<RankRequest>,
    /// Whether the search runs on human feedback (fitness hidden at first).
    pub human_feedback: bool,
    /// The ranking already written for this generation, if any.
    pub ranked: Option<Ranking>,
}

impl GenerationView {
    /// Reads generation `generation` of `run`; without it, the generation a search waits on
    /// (a request without a ranking), else the last one.
    pub fn load(run: &Path, generation: Option<usize>) -> Result<Self, ViewerError> {
        let run_file = RunFile::read(run)?;
        let generations: Vec<usize> = (0..).take_while(|g| ranking::generation_dir(run, *g).is_dir()).collect();
        let Some(&last) = generations.last() else {
            return Err(ViewerError::Empty(format!("{}: no generation yet (no gen-00)", run.display())));
        };
        let waiting = generations.iter().rev().copied().find(|&g| {
            let dir = ranking::generation_dir(run, g);
            dir.join("rank-request.json").is_file() && !dir.join("ranking.json").is_file()
        });
        let generation = generation.or(waiting).unwrap_or(last);
        let dir = ranking::generation_dir(run, generation);
        if !dir.is_dir() {
            return Err(ViewerError::Empty(format!("{}: no generation {generation} (the run has 0 to {last})", run.display())));
        }
        let request = dir.join("rank-request.json").is_file().then(|| ranking::read_request(run, generation)).transpose()?;
        // The candidates to rank, or every candidate with a recorded evaluation.
        let candidates: Vec<(String, PathBuf)> = match &request {
            Some(r) => r.candidates.iter().zip(&r.rollouts).map(|(c, p)| (c.clone(), run.join(p))).collect(),
            None => {
                let mut found: Vec<(String, PathBuf)> = std::fs::read_dir(&dir)
                    .map_err(|e| ViewerError::Empty(format!("{}: {e}", dir.display())))?
                    .flatten()
                    .map(|e| e.path())
                    .filter(|p| p.join("eval.rollout").is_file())
                    .map(|p| (p.file_name().unwrap_or_default().to_string_lossy().into_owned(), p.join("eval.rollout")))
                    .collect();
                found.sort();
                found
            }
        };
        if candidates.is_empty() {
            return Err(ViewerError::Empty(format!("{}: no candidate of generation {generation} has a recorded evaluation (eval.rollout)", dir.display())));
        }
        if candidates.len() > MAX_TILES {
            return Err(ViewerError::Empty(format!("{}: {} candidates; the viewer shows at most {MAX_TILES}", dir.display(), candidates.len())));
        }
        let mut tiles = Vec::new();
        for (candidate, path) in candidates {
            let rollout = Rollout::read(&path).map_err(|e| ViewerError::Rollout { path: path.clone(), message: e.to_string() })?;
            let episodes = split(&rollout);
            if episodes.is_empty() {
                return Err(ViewerError::Rollout { path, message: "no episode".into() });
            }
            let result = dir.join(&candidate).join("result.json");
            let fitness = std::fs::read(&result).ok().and_then(|b| serde_json::from_slice::<CandidateResult>(&b).ok()).and_then(|r| r.fitness);
            tiles.push(Tile { candidate, rollout, episodes, fitness });
        }
        let h = &tiles[0].rollout.header;
        let env = rewardsmith_spec::catalog::matching(&h.env_id, &h.env_path, &h.env_hash, None).map_err(ViewerError::Env)?;
        let ranked = request.as_ref().map(|r| ranking::read(run, r)).transpose()?.flatten();
        Ok(Self { run: run.to_owned(), generation, tiles, env, request, human_feedback: run_file.search.feedback == FeedbackMode::Human, ranked })
    }

    /// One rollout file as a single tile (`render --gif`), not part of a run.
    pub fn from_rollout(path: &Path) -> Result<Self, ViewerError> {
        let rollout = Rollout::read(path).map_err(|e| ViewerError::Rollout { path: path.to_owned(), message: e.to_string() })?;
        let episodes = split(&rollout);
        if episodes.is_empty() {
            return Err(ViewerError::Rollout { path: path.to_owned(), message: "no episode".into() });
        }
        let h = &rollout.header;
        let env = rewardsmith_spec::catalog::matching(&h.env_id, &h.env_path, &h.env_hash, None).map_err(ViewerError::Env)?;
        let candidate = path.file_stem().unwrap_or_default().to_string_lossy().into_owned();
        let tiles = vec![Tile { candidate, rollout, episodes, fitness: None }];
        let run = path.parent().map(Path::to_owned).unwrap_or_default();
        Ok(Self { run, generation: 0, tiles, env, request: None, human_feedback: false, ranked: None })
    }

    /// Episodes every tile has (the viewer switches between these).
    pub fn episodes(&self) -> usize {
        self.tiles.iter().map(|t| t.episodes.len()).min().unwrap_or(0)
    }

    /// Frames of the longest of the tiles' episodes `episode`.
    pub fn frames(&self, episode: usize) -> usize {
        self.tiles.iter().filter_map(|t| t.episodes.get(episode)).map(Episode::frames).max().unwrap_or(1)
    }

    /// Writes the ranking (tile indices, most preferred first) to `gen-NN/ranking.json`,
    /// checked against the request, with source `viewer`.
    pub fn write_ranking(&self, tiles: &[usize]) -> Result<Ranking, ViewerError> {
        let Some(request) = &self.request else {
            return Err(ViewerError::Empty(format!("generation {} has no ranking request (only a `search --feedback human` asks for one)", self.generation)));
        };
        let order = tiles.iter().filter_map(|&t| self.tiles.get(t)).map(|t| t.candidate.clone()).collect();
        Ok(ranking::write(&self.run, request, order, "viewer", None)?)
    }
}
