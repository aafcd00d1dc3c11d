//! One module per subcommand: its arguments and what it does.

pub mod bench;
pub mod check;
pub mod envs;
pub mod eval;
pub mod export;
pub mod propose;
pub mod rank;
pub mod replay;
pub mod report;
pub mod rollout;
pub mod search;
pub mod slurm_task;
pub mod train;
pub mod viewer;
