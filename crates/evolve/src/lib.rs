//! The offline evolutionary proposer: the embedded default when no LLM is configured, and the
//! baseline an LLM must beat. It never calls an LLM.
//!
//! - [`library`]: reward-term templates instantiated from the env's typed state variables, gates,
//!   and scripts assembled from them;
//! - [`offline`]: the proposer over genomes of those terms (and embedded foreign scripts):
//!   structural operators (drop, add, gate, cross over), an evolution strategy over the
//!   continuous parameters, and the repairs [`repair`] reads from each parent's outcome; seeded,
//!   and every child passes the critic on the states `rewardsmith check` uses;
//! - [`repair`]: the reflection an LLM reads as text, read as data (a swamping term rescaled, a
//!   constant one dropped or re-tempered, the term that rose while the fitness fell dropped, an
//!   answer to the termination that ends most episodes);
//! - [`es`]: the (μ/μ_w, λ) evolution strategy with self-adapted step size over a genome's
//!   weights, temperatures, targets and gate floors.

pub mod es;
pub mod library;
pub mod offline;
pub mod repair;

pub use offline::{OfflineConfig, OfflineProposer};
