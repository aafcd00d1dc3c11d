//! The reward search (Eureka's loop, ICPL's synthetic preferences): each generation proposes K
//! reward scripts, checks them with the critic (resampling rejects), skips duplicates of rewards
//! already trained, trains a PPO policy with each, evaluates it on the env's ground-truth fitness
//! over several seeds, ranks the candidates and writes the feedback the next generation's prompt
//! receives. See [`run`] for the run directory and resuming.

pub mod config;
pub mod dedup;
pub mod error;
pub mod execute;
pub mod ranking;
pub mod record;
pub mod reflect;
pub mod report;
pub mod run;
pub mod slurm;

pub use config::{FeedbackMode, FitnessOverride, SearchConfig};
pub use error::SearchError;
pub use execute::{Event, Executor, LocalExecutor};
pub use record::{EnvIdentity, RunFile, Summary, per_seed_text};
pub use run::Search;
