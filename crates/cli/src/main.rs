//! `rewardsmith`: LLM-driven reward design for robot RL.
//!
//! Exit codes: 0 success; 1 the input or the work failed (a broken env file or script, a replay
//! that differs, a failed command); 2 usage error (unknown flag, missing argument); 130 `train`
//! interrupted by Ctrl-C or SIGTERM (its outputs are written). A reader that closes stdout early
//! (`| head`) ends the process quietly with 0.

mod cmd;
mod common;
mod compute_args;
mod llm_args;
mod vlm_judge;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// Reward design for robot RL: environments as data, reward scripts in a sandbox, seeded rollouts
/// replayable bit for bit.
#[derive(Parser)]
#[command(name = "rewardsmith", version, about, long_about = None, after_help = EXIT_CODES)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

const EXIT_CODES: &str = "Exit codes: 0 success, 1 the input or the work failed, 2 usage error, \
130 train interrupted (outputs written).\n\
Built-in environments are embedded in the binary; --env also takes a path to an env file.";

#[derive(Subcommand)]
enum Command {
    /// List environments, or print one environment's typed representation.
    Envs(cmd::envs::Args),
    /// The critic's verdict on a reward script: its terms and cost, or why it is refused (exit 1;
    /// script errors located by line and column).
    Check(cmd::check::Args),
    /// Record a seeded rollout of a policy into a rollout file.
    Rollout(cmd::rollout::Args),
    /// Re-simulate rollout files and compare them bit for bit (exit 1 at the first difference).
    Replay(cmd::replay::Args),
    /// Export a rollout as a per-step table with observations (numpy .npz or JSON lines),
    /// re-simulated and checked bit for bit.
    Export(cmd::export::Args),
    /// Train a PPO policy with a reward script.
    Train(cmd::train::Args),
    /// Evaluate a trained policy on seeded episodes by the env's ground-truth fitness.
    Eval(cmd::eval::Args),
    /// Measure simulation throughput (µs per step, reward share, VecEnv scaling).
    Bench(cmd::bench::Args),
    /// Propose reward candidates (offline evolutionary proposer, an OpenAI-compatible LLM or a cassette of one), each checked by the critic.
    Propose(cmd::propose::Args),
    /// Search for a reward: propose, critic, deduplicate, train, evaluate, select, reflect; per generation.
    Search(Box<cmd::search::Args>),
    /// Write a search's report.html (plots, final evaluation, costs, every candidate's script).
    Report(cmd::report::Args),
    /// Rank a generation's candidates for a search in --feedback human mode (most preferred first).
    Rank(cmd::rank::Args),
    /// Watch a generation's rollouts side by side and rank them (runs `rewardsmith-viewer view`;
    /// `rewardsmith view --help` shows its own options).
    #[command(disable_help_flag = true)]
    View(cmd::viewer::Args),
    /// Render a rollout to an animated GIF, offscreen (runs `rewardsmith-viewer render`).
    #[command(disable_help_flag = true)]
    Render(cmd::viewer::Args),
    /// One task of a `search --executor slurm` array job (run by Slurm, not by people).
    #[command(hide = true)]
    SlurmTask(cmd::slurm_task::Args),
}

fn run() -> anyhow::Result<ExitCode> {
    let cli = Cli::parse();
    match cli.command {
        Command::Envs(args) => cmd::envs::run(args),
        Command::Check(args) => cmd::check::run(args),
        Command::Rollout(args) => cmd::rollout::run(args),
        Command::Replay(args) => cmd::replay::run(args),
        Command::Export(args) => cmd::export::run(args),
        Command::Train(args) => cmd::train::run(args),
        Command::Eval(args) => cmd::eval::run(args),
        Command::Bench(args) => cmd::bench::run(args),
        Command::Propose(args) => cmd::propose::run(args),
        Command::Search(args) => cmd::search::run(*args),
        Command::Rank(args) => cmd::rank::run(args),
        Command::Report(args) => cmd::report::run(args),
        Command::View(args) => cmd::viewer::run("view", args),
        Command::Render(args) => cmd::viewer::run("render", args),
        Command::SlurmTask(args) => cmd::slurm_task::run(args),
    }
}

fn main() -> ExitCode {
    quiet_on_closed_stdout();
    match run() {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}

/// `rewardsmith envs cartpole | head` closes our stdout early, and Rust's `println!` then panics
/// ("failed printing to stdout: Broken pipe"; the runtime ignores SIGPIPE, and resetting it needs
/// `unsafe`). Such a reader got what it wanted, so the process ends quietly with status 0, as
/// other command-line tools do; every other panic keeps the default report.
fn quiet_on_closed_stdout() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let payload = info.payload();
        let message = payload.downcast_ref::<String>().map(String::as_str).or_else(|| payload.downcast_ref::<&str>().copied());
        if message.is_some_and(|m| m.starts_with("failed printing to stdout") && m.contains("Broken pipe")) {
            std::process::exit(0);
        }
        default(info);
    }));
}
