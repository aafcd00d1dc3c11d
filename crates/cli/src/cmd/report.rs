//! `rewardsmith report RUN`: writes RUN/report.html (also written at the end of every search).

use anyhow::Result;
use std::path::PathBuf;
use std::process::ExitCode;

/// Arguments of `report`.
#[derive(clap::Args)]
pub struct Args {
    /// The search's run directory (finished or not).
    run: PathBuf,
}

/// Runs `report`.
pub fn run(args: Args) -> Result<ExitCode> {
    let path = rewardsmith_search::report::write_report(&args.run)?;
    println!("wrote {}", path.display());
    Ok(ExitCode::SUCCESS)
}
