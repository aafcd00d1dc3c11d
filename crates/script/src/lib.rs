//! The Rhai sandbox of rewardsmith. Reward scripts are written by an LLM and are untrusted: they run
//! in an engine with no I/O, no modules, no clock, no randomness and no `eval`, under limits on
//! operations, call depth, expression depth and data sizes (see [`SandboxLimits`]). Environment
//! files also carry trusted expressions (derived state, termination, fitness), compiled here too.
//!
//! The state given to scripts is a registered Rust type ([`State`]) whose properties are the
//! environment's state variables; vectors are [`Vec3`], orientations [`Quat`].
//!
//! Contract of a reward script: `fn compute_reward(s)` returns a map of named numeric terms (the
//! reward is their sum) or a bare number (one term named `reward`). Every error names the script,
//! the line and the column.

mod critic;
mod error;
mod expr;
mod fast;
mod locate;
mod math;
mod reward;
mod sandbox;
mod signature;
mod types;

pub use critic::{Cost, CriticReport, TermStats, Verdict, judge, review};
pub use error::{ScriptError, ScriptErrorKind};
pub use expr::Expr;
pub use reward::{REWARD_FN, RewardScript, RewardTerms};
pub use sandbox::{Sandbox, SandboxLimits};
pub use signature::Signature;
pub use types::{Quat, State, StateData, StateLayout, Value, Vec3};
