//! The [`Proposer`] trait: K reward candidates for a context, asynchronously, from whoever writes
//! them (an LLM behind an OpenAI-compatible endpoint, a cassette of one, in `rewardsmith-llm`; the
//! offline evolutionary proposer, in `rewardsmith-evolve`), and what a context holds: the task,
//! the feedback text an LLM reads, the parents, and each parent's [`Outcome`] as numbers. Also
//! the [`Judge`] trait, for rankings by a vision model.

mod judge;
mod outcome;

pub use judge::{Judge, JudgeError, JudgeRequest, Judgement, Shown};
pub use outcome::{Ending, Outcome, TermTrace};
use rewardsmith_sim::SimError;
use std::future::Future;

/// What a generation is proposed from.
#[derive(Debug, Clone, Default)]
pub struct Context {
    /// The task in words (the env's default task or the user's `--task`). LLMs read it; the
    /// offline proposer does not.
    pub task: String,
    /// What the search says about earlier candidates (the prompt's feedback block); None in
    /// generation 0.
    pub feedback: Option<String>,
    /// Parent scripts, the judged best first (the offline proposer mutates them; empty:
    /// generation 0's parents).
    pub parents: Vec<String>,
    /// What training and evaluating each parent showed, as numbers (the data behind the feedback
    /// text), in the order of `parents`; None where nothing is known (generation 0's parents).
    /// Empty is the same as all None.
    pub outcomes: Vec<Option<Outcome>>,
}

/// One proposed candidate.
#[derive(Debug, Clone)]
pub struct Candidate {
    /// The reward script, or why there is none (fed back to the next generation).
    pub script: Result<String, CandidateError>,
    /// The LLM's whole reply, when there was one (kept so a failed extraction can be read).
    pub reply: Option<String>,
    /// Which of the context's parents it descends from (indices into [`Context::parents`]),
    /// when the proposer knows: the offline proposer's parent and crossover partner. Empty for an
    /// LLM (which saw the feedback, not a parent) and for generation 0.
    pub parents: Vec<usize>,
}

/// Why a candidate has no script. The message says what went wrong in words an LLM can act on.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CandidateError {
    /// The reply holds no usable script (why, in words the LLM is told).
    #[error("{0}")]
    Extract(String),
    /// The offline proposer found no child that passes the critic (why).
    #[error("{0}")]
    Offline(String),
    /// The request for it failed for good (retries exhausted, or an error not worth retrying).
    #[error("request failed: {0}")]
    Request(String),
    /// It was never requested: the token or dollar budget was reached first.
    #[error("not requested: {0}")]
    Budget(String),
}

/// Tokens and dollars spent.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Usage {
    /// HTTP requests sent (retries included).
    pub requests: u64,
    /// Prompt tokens, as the server's `usage` reported them.
    pub prompt_tokens: u64,
    /// Completion tokens, as the server's `usage` reported them.
    pub completion_tokens: u64,
    /// Dollars, from the price table; 0 when the model has no price.
    pub cost_usd: f64,
    /// Replies that came without `usage` (some local servers): their tokens are not counted, so
    /// a token cap cannot see them.
    #[serde(default)]
    pub unmetered: u64,
    /// Streamed replies that came without `usage`: their tokens are estimated (completion tokens
    /// counted as streamed chunks, prompt tokens as characters / 4) and counted as such.
    #[serde(default)]
    pub estimated: u64,
}

impl Usage {
    /// Prompt and completion tokens together.
    pub fn tokens(&self) -> u64 {
        self.prompt_tokens + self.completion_tokens
    }

    /// Adds `other` to `self`.
    pub fn add(&mut self, other: &Usage) {
        self.requests += other.requests;
        self.prompt_tokens += other.prompt_tokens;
        self.completion_tokens += other.completion_tokens;
        self.cost_usd += other.cost_usd;
        self.unmetered += other.unmetered;
        self.estimated += other.estimated;
    }
}

/// The candidates of one generation.
#[derive(Debug, Clone)]
pub struct Generation {
    /// K candidates, in slot order.
    pub candidates: Vec<Candidate>,
    /// What this generation cost.
    pub usage: Usage,
    /// Set when a budget cap was reached: later generations would get no requests either, so a
    /// search stops here (the message names the cap).
    pub budget_exhausted: Option<String>,
}

/// Why no generation could be proposed at all (per-candidate failures are [`CandidateError`]s).
#[derive(Debug, thiserror::Error)]
pub enum ProposeError {
    /// The prompt cannot be built (its templates are broken; the message names the file).
    #[error("{0}")]
    Prompt(String),
    /// The env's states for the critic cannot be sampled.
    #[error(transparent)]
    Sim(#[from] SimError),
    /// The endpoint refused the request in a way retrying cannot fix (401 bad key, 403, 404
    /// unknown model or wrong base URL).
    #[error("the endpoint refused the request (HTTP {status}): {message}{}", refusal_hint(*.status))]
    Refused {
        /// HTTP status.
        status: u16,
        /// The server's message.
        message: String,
    },
    /// Replay asked for an exchange the cassette does not hold, or the cassette cannot be read
    /// or written.
    #[error("{0}")]
    Cassette(String),
    /// The proposer's settings are unusable (named in the message).
    #[error("{0}")]
    Config(String),
}

fn refusal_hint(status: u16) -> &'static str {
    match status {
        401 => " (check OPENAI_API_KEY)",
        403 => " (the key has no access to this model or endpoint)",
        404 => " (check --model and --base-url)",
        _ => "",
    }
}

/// Whoever writes reward candidates.
pub trait Proposer: Send + Sync {
    /// `k` candidates for `ctx`. `seed` makes them reproducible where the writer allows it (the
    /// offline proposer always; an LLM server only if it honours `seed`; a cassette exactly).
    fn propose(&self, ctx: &Context, k: usize, seed: u64) -> impl Future<Output = Result<Generation, ProposeError>> + Send;

    /// Counts `usage` as already spent: the generations of an earlier session of a resumed run,
    /// so its budget caps hold over the whole run. Nothing to do for a proposer without one.
    fn restore_spent(&self, usage: &Usage) {
        let _ = usage;
    }
}
