//! `rewardsmith export ROLLOUT --format npz|jsonl`: a rollout as a per-step table, observations
//! included, for numpy or pandas (formats in docs/rollouts.md).

use anyhow::{Result, bail};
use rewardsmith_sim::export::{self, Table};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Arguments of `export`.
#[derive(clap::Args)]
pub struct Args {
    /// The rollout file.
    rollout: PathBuf,
    /// `npz` (numpy arrays, `numpy.load`) or `jsonl` (one JSON object per step).
    #[arg(long, value_enum)]
    format: Format,
    /// Where to write (default: the rollout's path with the extension .npz or .jsonl); `-` writes
    /// JSON lines to stdout.
    #[arg(long)]
    output: Option<PathBuf>,
    /// Re-simulate with this env file instead of the one the rollout names (it must be the same
    /// file: the rollout records its hash).
    #[arg(long)]
    env: Option<String>,
}

/// The output format.
#[derive(Clone, Copy, clap::ValueEnum)]
enum Format {
    /// numpy's .npz: a zip of .npy arrays.
    Npz,
    /// JSON lines, one object per step.
    Jsonl,
}

impl Format {
    fn extension(self) -> &'static str {
        match self {
            Self::Npz => "npz",
            Self::Jsonl => "jsonl",
        }
    }
}

pub fn run(args: Args) -> Result<ExitCode> {
    let path = &args.rollout;
    let table = export::export_file(path, args.env.as_deref())?;
    let h = &table.header;

    let to_stdout = args.output.as_deref() == Some(Path::new("-"));
    let summary = |to: &str| format!("wrote {to}: {} steps, {} episodes of {} ({})", table.len(), table.episodes(), h.env_id, args.format.extension());
    if to_stdout {
        if matches!(args.format, Format::Npz) {
            bail!("--output - writes JSON lines only (an .npz is a zip that numpy reads from a file); give a path");
        }
        let mut out = std::io::stdout().lock();
        match table.write_jsonl(&mut out).and_then(|()| out.flush()) {
            Ok(()) => {}
            // A reader that stops early (`| head`) got what it wanted, as `main` treats `println!`.
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => return Ok(ExitCode::SUCCESS),
            Err(e) => return Err(anyhow::Error::new(e).context("cannot write to stdout")),
        }
        // stdout carries the data, so the summary goes to stderr.
        eprintln!("{}", summary("stdout"));
        return Ok(ExitCode::SUCCESS);
    }
    let output = args.output.clone().unwrap_or_else(|| path.with_extension(args.format.extension()));
    let bytes = encode(&table, args.format);
    rewardsmith_search::record::write_atomic(&output, &bytes)?;
    println!("{}", summary(&output.display().to_string()));
    Ok(ExitCode::SUCCESS)
}

fn encode(table: &Table, format: Format) -> Vec<u8> {
    match format {
        Format::Npz => table.to_npz_bytes(),
        Format::Jsonl => {
            let mut out = Vec::new();
            table.write_jsonl(&mut out).expect("writing to memory");
            out
        }
    }
}
