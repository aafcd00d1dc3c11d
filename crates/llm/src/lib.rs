//! Reward-script proposers (issue 4, in progress): what an LLM is asked and how its answer is
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
//! Next: the `Proposer` trait (async) with the OpenAI-compatible and cassette-replay
//! implementations beside the offline one (`rewardsmith propose` uses the offline one directly).

pub mod extract;
pub mod library;
pub mod offline;
pub mod prompt;
