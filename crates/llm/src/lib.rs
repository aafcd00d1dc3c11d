//! The LLM proposer: what an LLM is asked and how its answer is read.
//!
//! - [`prompt`]: prompt templates (embedded, overridable per file) filled with the env's typed
//!   description, the task, the feedback of earlier generations and the sandbox limits;
//! - [`extract`]: the reward script out of an LLM's reply (prose, several fenced blocks, a
//!   missing language tag or fence), or the reason it cannot be had;
//! - [`openai`]: the proposer behind any OpenAI-compatible endpoint (`n` or parallel requests,
//!   retries, timeouts, token and dollar budgets), live or replayed;
//! - [`vlm`]: the vision ranker (`search --feedback vlm`): a vision-language model shown one
//!   picture per candidate and asked for a full ranking, through the same endpoint machinery
//!   and budget as the proposer;
//! - [`transport`] and [`cassette`]: the HTTP layer under async-openai that records every
//!   exchange to `llm.jsonl` (pictures by their hash) or answers from such a file without
//!   touching the network; [`stream`]: streamed replies read token by token (an idle timeout, not
//!   a total one, for slow local servers) and assembled for the record; `limiter`: how many
//!   requests go to a server at once, lowered when it shows it queues them;
//! - `mock` (feature `mock`): a loopback server that behaves like a one-slot local model server,
//!   for tests.
//!
//! The [`Proposer`] trait and its types come from `rewardsmith-propose`; the proposer that needs
//! no LLM is `rewardsmith-evolve`'s.

pub mod cassette;
pub mod extract;
mod limiter;
#[cfg(test)]
mod local_tests;
#[cfg(any(test, feature = "mock"))]
pub mod mock;
pub mod openai;
pub mod prompt;
pub mod stream;
pub mod transport;
pub mod vlm;

pub use rewardsmith_propose::{Candidate, CandidateError, Context, Generation, JudgeError, Judgement, ProposeError, Proposer, Usage};
