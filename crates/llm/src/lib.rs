//! Reward-script proposers (issue 4, in progress): what an LLM is asked and how its answer is
//! read.
//!
//! - [`prompt`]: prompt templates (embedded, overridable per file) filled with the env's typed
//!   description, the task, the feedback of earlier generations and the sandbox limits;
//! - [`library`]: reward-term templates instantiated from the env's typed state variables and
//!   scripts assembled from them (the offline proposer's building blocks).
//!
//! Next: the offline evolutionary proposer's operators, the `Proposer` trait with the OpenAI-compatible, offline
//! (evolutionary) and cassette-replay implementations, and the `propose` command.

pub mod library;
pub mod prompt;
