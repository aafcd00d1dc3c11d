//! The [`Judge`] trait: ranks a generation's trained candidates by looking at them, as a person
//! does in ICPL's human mode, for `search --feedback vlm` (a vision-language model behind an
//! OpenAI-compatible endpoint, in `rewardsmith-llm`, shown pictures the viewer renders).

use crate::Usage;
use std::future::Future;
use std::path::PathBuf;

/// One candidate a judge is shown.
#[derive(Debug, Clone, PartialEq)]
pub struct Shown {
    /// Its name in the run (`cand-03`), which the answer ranks.
    pub name: String,
    /// Its evaluation rollout (every candidate's first episode has the same seed, so pictures
    /// differ only by policy).
    pub rollout: PathBuf,
    /// Where the judge writes the picture it was shown (PNG), for the report and for people.
    pub picture: PathBuf,
}

/// What a judge is asked.
#[derive(Debug, Clone, PartialEq)]
pub struct JudgeRequest {
    /// The task in words (the env's task or the user's `--task`).
    pub task: String,
    /// Generation index.
    pub generation: usize,
    /// The candidates, in candidate order.
    pub candidates: Vec<Shown>,
}

/// A judge's ranking.
#[derive(Debug, Clone, PartialEq)]
pub struct Judgement {
    /// Every candidate's name exactly once, most preferred first.
    pub order: Vec<String>,
    /// The model that ranked.
    pub model: String,
    /// The reply the ranking was parsed from, as it came.
    pub reply: String,
    /// Requests it took (2 when the first answer could not be parsed and the retry could).
    pub attempts: u32,
    /// What it cost.
    pub usage: Usage,
}

/// Why a judge gave no ranking.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum JudgeError {
    /// No usable ranking: the pictures could not be made, the endpoint failed after its retries,
    /// a budget cap was reached, or the answers could not be parsed (twice). The search ranks by
    /// fitness instead and records why.
    #[error("{message}")]
    Failed {
        /// What went wrong.
        message: String,
        /// The last reply, if one came.
        reply: Option<String>,
        /// What the attempts cost.
        usage: Usage,
    },
    /// A replayed run asked for an exchange its cassette does not hold: the replay is not the
    /// run it claims to be, so the search stops rather than diverge.
    #[error("{0}")]
    Cassette(String),
}

/// Whoever ranks candidates by looking at them.
pub trait Judge: Send + Sync {
    /// Ranks `request`'s candidates, writing each one's picture to its [`Shown::picture`].
    fn rank(&self, request: &JudgeRequest) -> impl Future<Output = Result<Judgement, JudgeError>> + Send;
}
