//! `rewardsmith rank RUN --gen N --order 2,0,1`: a person's ranking of a generation's candidates
//! (most preferred first), for a search in `--feedback human` mode.

use anyhow::{Context as _, Result};
use rewardsmith_search::ranking;
use std::path::PathBuf;
use std::process::ExitCode;

/// Arguments of `rank`.
#[derive(clap::Args)]
pub struct Args {
    /// The search's run directory.
    run: PathBuf,
    /// The generation to rank.
    #[arg(long = "gen", value_name = "N")]
    generation: usize,
    /// Candidate numbers, most preferred first, each candidate of the request once (e.g.
    /// `2,0,1`). Without it, the candidates to rank and their rollouts are listed.
    #[arg(long, value_delimiter = ',')]
    order: Option<Vec<usize>>,
    /// Words for the next prompt with the ranking, e.g. `--note "the winner wobbles; keep it
    /// still at the top"` (kept in gen-NN/notes.md; the offline proposer reads no text).
    #[arg(long, requires = "order")]
    note: Option<String>,
}

/// Runs `rank`.
pub fn run(args: Args) -> Result<ExitCode> {
    let request = ranking::read_request(&args.run, args.generation)?;
    let Some(order) = args.order else {
        println!("generation {}: rank these candidates, most preferred first (`--order`):", args.generation);
        for (candidate, rollout) in request.candidates.iter().zip(&request.rollouts) {
            println!("  {candidate}  {}", args.run.join(rollout).display());
        }
        return Ok(ExitCode::SUCCESS);
    };
    let order: Vec<String> = order.iter().map(|n| format!("cand-{n:02}")).collect();
    let written = ranking::write(&args.run, &request, order, "rank command", args.note).context("not written")?;
    println!("generation {}: ranked {}", args.generation, written.order.join(" > "));
    Ok(ExitCode::SUCCESS)
}
