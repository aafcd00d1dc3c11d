//! `rewardsmith slurm-task BATCH.json` (hidden): what one task of a Slurm array job runs. It
//! trains the batch's task `$SLURM_ARRAY_TASK_ID` into its folder of the run directory, exactly
//! as the search's own threads would, and writes `task-result.json` for the search to pick up.

use crate::cmd::search::run_model;
use anyhow::{Context as _, Result};
use rewardsmith_search::RunFile;
use rewardsmith_search::execute::{Event, Shared, compile_levels};
use rewardsmith_search::slurm::{Batch, run_task};
use std::path::PathBuf;
use std::process::ExitCode;

/// Arguments of `slurm-task`.
#[derive(clap::Args)]
pub struct Args {
    /// The batch file the search wrote (`RUN/slurm/batch-NNN.json`).
    batch: PathBuf,
    /// The task to run (default: `$SLURM_ARRAY_TASK_ID`).
    #[arg(long)]
    task: Option<usize>,
}

/// Runs `slurm-task`. A failed training is a result (exit 0); exit 1 means the task could not
/// even start it (a batch or run directory it cannot read: not on a shared filesystem?).
pub fn run(args: Args) -> Result<ExitCode> {
    let text = std::fs::read_to_string(&args.batch)
        .with_context(|| format!("cannot read {} (is the run directory on a filesystem this node shares?)", args.batch.display()))?;
    let batch: Batch = serde_json::from_str(&text).with_context(|| format!("{} is not a batch file", args.batch.display()))?;
    let task = match args.task {
        Some(task) => task,
        None => {
            std::env::var("SLURM_ARRAY_TASK_ID").context("no --task and no SLURM_ARRAY_TASK_ID: not an array task")?.parse().context("SLURM_ARRAY_TASK_ID")?
        }
    };
    let run_file = RunFile::read(&batch.run_dir)?;
    let model = run_model(&run_file)?;
    let levels = compile_levels(&model, &run_file.search)?;
    // The CPUs Slurm gave the task (results do not depend on the thread count).
    let threads = std::env::var("SLURM_CPUS_PER_TASK").ok().and_then(|n| n.parse().ok()).unwrap_or(1);
    let events = |event: Event<'_>| {
        if let Event::Line(line) = event {
            eprintln!("{line}");
        }
    };
    let shared = Shared { model: &model, search: &run_file.search, levels: &levels, events: &events };
    eprintln!("{}: training with {threads} thread(s)", batch.tasks.get(task).map_or("?", |t| t.id.as_str()));
    run_task(&shared, &batch, task, threads)?;
    Ok(ExitCode::SUCCESS)
}
