//! Reward-script proposers: what an LLM is asked and how its answer is
//! read.
//!
//! - [`prompt`]: prompt templates (embedded, overridable per file) filled with the env's typed
//!   description, the task, the feedback of earlier generations and the sandbox limits;
//! - [`extract`]: the reward script out of an LLM's reply (prose, several fenced blocks, a
//!   missing language tag or fence), or the reason it cannot be had;
//! - [`library`]: reward-term templates instantiated from the env's typed state variables and
//!   scripts assembled from them;
//! - [`offline`]: the offline evolutionary proposer (perturb, drop, add, cross over; seeded;
//!   every child passes the critic on the states `rewardsmith check` uses).
//!
//! - [`proposer`]: the [`Proposer`] trait (K candidates for a context, async) and its types;
//! - [`openai`]: the proposer behind any OpenAI-compatible endpoint (`n` or parallel requests,
//!   retries, timeouts, token and dollar budgets), live or replayed;
//! - [`transport`] and [`cassette`]: the HTTP layer under async-openai that records every
//!   exchange to `llm.jsonl` or answers from such a file without touching the network.

pub mod cassette;
pub mod extract;
pub mod library;
pub mod offline;
pub mod openai;
pub mod prompt;
pub mod proposer;
pub mod transport;

pub use proposer::{AnyProposer, Candidate, CandidateError, Context, Generation, ProposeError, Proposer, Usage};
