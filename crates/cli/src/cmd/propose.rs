//! `rewardsmith propose --env ID -k K --out DIR`: one generation of reward candidates, each with
//! its critic result.

use crate::common::load_env;
use anyhow::{Context, Result};
use rewardsmith_llm::offline::{OfflineConfig, OfflineProposer, CRITIC_SEED};
use rewardsmith_llm::prompt::{PromptContext, Templates};
use rewardsmith_script::{review, SandboxLimits};
use rewardsmith_sim::rollout::write_atomic;
use rewardsmith_sim::{critic_states, EnvModel, CRITIC_SAMPLES};
use rewardsmith_spec::catalog;
use std::path::PathBuf;
use std::process::ExitCode;

/// Who writes the candidates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Llm {
    /// The offline evolutionary proposer (no network).
    Offline,
}

/// Arguments of `propose`.
#[derive(clap::Args)]
pub struct Args {
    /// Environment: a built-in id or a path to an env file.
    #[arg(long)]
    env: String,
    /// The task in words (default: the env file's task). Only the prompt uses it, so for now only
    /// with --dry-run.
    #[arg(long, requires = "dry_run")]
    task: Option<String>,
    /// Who writes the candidates (the OpenAI-compatible client and cassette replay come next).
    #[arg(long, value_enum, default_value_t = Llm::Offline)]
    llm: Llm,
    /// Candidates to propose.
    #[arg(short = 'k', default_value_t = 4, value_parser = clap::value_parser!(u64).range(1..=64))]
    k: u64,
    /// Seed of the proposer.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Parent scripts (default: generation 0's, the env's sparse.rhai and template-assembled
    /// scripts; never human.rhai, the yardstick).
    #[arg(long = "parent", value_name = "SCRIPT")]
    parents: Vec<PathBuf>,
    /// Prompt templates overriding the embedded ones, file by file (with --dry-run, for now).
    #[arg(long, requires = "dry_run")]
    prompts: Option<PathBuf>,
    /// Print the prompt an LLM would receive, and write nothing.
    #[arg(long)]
    dry_run: bool,
    /// Output directory: cand-NN/reward.rhai and cand-NN/critic.json per candidate.
    #[arg(long, required_unless_present = "dry_run")]
    out: Option<PathBuf>,
}

/// Runs `propose`: exit 0 if every candidate passed the critic, 1 otherwise (the candidates are
/// written either way).
pub fn run(args: Args) -> Result<ExitCode> {
    let model = load_env(&args.env)?;
    let task = args.task.clone().unwrap_or_else(|| model.spec().task.clone());
    if args.dry_run {
        let templates = match &args.prompts {
            Some(dir) => Templates::with_overrides(dir)?,
            None => Templates::embedded(),
        };
        let limits = SandboxLimits::default();
        let env = model.describe();
        let prompt = templates.render(&PromptContext { env: &env, task: &task, feedback: None, limits: &limits })?;
        println!("=== system ===\n{}\n\n=== user ===\n{}", prompt.system, prompt.user);
        return Ok(ExitCode::SUCCESS);
    }
    let out = args.out.as_ref().expect("clap requires --out without --dry-run");
    let parents = parent_scripts(&args, &model)?;
    prepare_out_dir(out)?;
    let proposer = match args.llm {
        Llm::Offline => OfflineProposer::new(model.clone(), OfflineConfig::default()),
    };
    let candidates = proposer.propose(&parents, args.k as usize, args.seed)?;
    // The states `check` uses by default, so critic.json and `rewardsmith check` agree.
    let states = critic_states(&model, CRITIC_SAMPLES, CRITIC_SEED)?;
    let mut passed = 0;
    for (i, candidate) in candidates.iter().enumerate() {
        let dir = out.join(format!("cand-{i:02}"));
        std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
        // The critic's verdict in the form `check --json` prints, so the search and people read
        // one format.
        let verdict = match candidate {
            Ok(script) => {
                write_atomic(&dir.join("reward.rhai"), script.as_bytes())?;
                let name = dir.join("reward.rhai").display().to_string();
                match model.compile_reward(&name, script).map_err(anyhow::Error::from).and_then(|s| Ok(review(&s, &states)?)) {
                    Ok(report) => serde_json::json!({ "ok": true, "report": report }),
                    Err(e) => serde_json::json!({ "ok": false, "error": format!("{e:#}") }),
                }
            }
            Err(e) => serde_json::json!({ "ok": false, "error": e.to_string() }),
        };
        let ok = verdict["ok"] == true;
        passed += usize::from(ok);
        write_atomic(&dir.join("critic.json"), serde_json::to_string_pretty(&verdict)?.as_bytes())?;
        println!("cand-{i:02}: {}", if ok { "passed the critic".to_owned() } else { format!("failed: {}", verdict["error"]) });
    }
    println!("{passed} of {} candidates passed the critic; wrote {}", candidates.len(), out.display());
    Ok(if passed == candidates.len() { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

/// The `--parent` files (each must compile for this env), or generation 0's parents.
fn parent_scripts(args: &Args, model: &std::sync::Arc<EnvModel>) -> Result<Vec<String>> {
    if !args.parents.is_empty() {
        // A parent the critic rejects would only breed children it rejects: say so, naming it.
        let states = critic_states(model, CRITIC_SAMPLES, CRITIC_SEED)?;
        let mut parents = Vec::new();
        for path in &args.parents {
            let source = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
            let checked = model.compile_reward(&path.display().to_string(), &source).map_err(anyhow::Error::from).and_then(|s| Ok(review(&s, &states)?));
            checked.with_context(|| format!("parent {} fails the critic on {}", path.display(), model.spec().id))?;
            parents.push(source);
        }
        return Ok(parents);
    }
    // The built-in sparse.rhai of this id, if it fits this env file (a copy of a built-in may have
    // renamed its variables).
    let sparse = catalog::reward_script(&model.spec().id, "sparse.rhai")
        .map(|(_, source)| source)
        .filter(|source| model.compile_reward("sparse.rhai", source).is_ok());
    let proposer = OfflineProposer::new(model.clone(), OfflineConfig::default());
    Ok(proposer.initial_parents(sparse, args.seed))
}

/// Creates `out`, removing the candidate folders of an earlier run there (a reader listing
/// `cand-*` must see this generation only).
fn prepare_out_dir(out: &std::path::Path) -> Result<()> {
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    for entry in std::fs::read_dir(out).with_context(|| format!("cannot read {}", out.display()))? {
        let path = entry?.path();
        if path.is_dir() && path.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with("cand-")) {
            std::fs::remove_dir_all(&path).with_context(|| format!("cannot remove {}", path.display()))?;
        }
    }
    Ok(())
}
