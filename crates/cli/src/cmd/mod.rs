//! One module per subcommand: its arguments and what it does.

pub mod bench;
pub mod check;
pub mod envs;
pub mod replay;
pub mod rollout;
