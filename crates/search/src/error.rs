//! Why a search stops: the one error type of the search crate.

use rewardsmith_propose::ProposeError;
use rewardsmith_sim::SimError;

/// Why a search stopped before its end.
#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    /// The settings cannot work (the message names the field).
    #[error("{0}")]
    Config(String),
    /// The proposer cannot go on (refused key, unknown model, cassette mismatch).
    #[error(transparent)]
    Propose(#[from] ProposeError),
    /// The environment failed, or a file could not be written.
    #[error(transparent)]
    Sim(#[from] SimError),
    /// Slurm cannot be used: not installed, the controller does not answer, the partition is
    /// unknown, a submission refused (the message says which, and what to do).
    #[error("slurm: {0}")]
    Slurm(String),
    /// A file of the run directory cannot be written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A file of the run directory cannot be read back.
    #[error("{path}: {message}")]
    Corrupt {
        /// The file.
        path: String,
        /// What is wrong.
        message: String,
    },
}
