//! Cross-crate, CLI and golden tests of rewardsmith, as one test binary (`cargo test --test it`).

mod cli;
mod determinism;
mod export;
mod golden;
mod import;
mod llm;
mod physics;
mod search;
mod slurm;
mod support;
mod torch;
mod viewer;
mod vlm;
