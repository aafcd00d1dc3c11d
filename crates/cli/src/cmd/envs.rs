//! `rewardsmith envs [ID]`.

use crate::common::load_env;
use anyhow::Result;
use rewardsmith_spec::catalog;
use std::process::ExitCode;

/// Arguments of `envs`.
#[derive(clap::Args)]
pub struct Args {
    /// A built-in id or a path to an env file; without it, list the built-in environments.
    env: Option<String>,
}

pub fn run(args: Args) -> Result<ExitCode> {
    match args.env {
        Some(env) => print!("{}", load_env(&env)?.describe()),
        None => {
            println!("{:<18} {:>3} {:>4} {:>4}  task", "id", "ver", "obs", "act");
            for id in catalog::ids() {
                let model = load_env(id)?;
                let spec = model.spec();
                println!("{:<18} {:>3} {:>4} {:>4}  {}", spec.id, spec.version, model.obs_dim(), model.action_dim(), spec.task.trim());
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
