//! `rewardsmith propose --env ID [--llm offline|openai|replay:FILE] -k K --out DIR`: one
//! generation of reward candidates, each with its critic result.

use crate::common::load_env;
use crate::llm_args::{EndpointArgs, Llm, OfflineArgs, parse_llm, proposer};
use anyhow::{Context as _, Result};

use crate::llm_args::AnyProposer;
use rewardsmith_llm::prompt::Templates;
use rewardsmith_propose::{Context, Generation, Proposer};
use rewardsmith_script::{Verdict, review};
use rewardsmith_search::record::write_atomic;
use rewardsmith_sim::{CRITIC_SAMPLES, CRITIC_SEED, EnvModel, critic_states};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

/// Arguments of `propose`.
#[derive(clap::Args)]
pub struct Args {
    /// Environment: a built-in id or a path to an env file.
    #[arg(long)]
    env: String,
    /// The task in words (default: the env file's task). LLMs read it; the offline proposer
    /// does not.
    #[arg(long)]
    task: Option<String>,
    /// Who writes the candidates: `offline` (the evolutionary proposer, no network), `openai`
    /// (any OpenAI-compatible endpoint; every exchange is recorded to OUT/llm.jsonl) or
    /// `replay:FILE` (answers from such a recording, no network).
    #[arg(long, default_value = "offline", value_parser = parse_llm)]
    llm: Llm,
    /// Candidates to propose.
    #[arg(short = 'k', default_value_t = 4, value_parser = clap::value_parser!(u64).range(1..=64))]
    k: u64,
    /// Seed of the proposer (an LLM request carries it as `seed`).
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Parent scripts for the offline proposer (default: generation 0's, the env's sparse.rhai
    /// and template-assembled scripts; never human.rhai, the yardstick).
    #[arg(long = "parent", value_name = "SCRIPT")]
    parents: Vec<PathBuf>,
    /// A file whose text fills the prompt's feedback block (what earlier generations did).
    #[arg(long, value_name = "FILE")]
    feedback: Option<PathBuf>,
    /// Prompt templates overriding the embedded ones, file by file.
    #[arg(long, value_name = "DIR")]
    prompts: Option<PathBuf>,
    /// Print the prompt an LLM would receive, and call nothing, write nothing.
    #[arg(long)]
    dry_run: bool,
    /// Output directory: cand-NN/{reward.rhai, reply.md, critic.json} per candidate, and
    /// llm.jsonl for `--llm openai`.
    #[arg(long, required_unless_present = "dry_run")]
    out: Option<PathBuf>,
    #[command(flatten)]
    endpoint: EndpointArgs,
    #[command(flatten)]
    offline: OfflineArgs,
}

/// Runs `propose`: exit 0 if every candidate passed the critic, 1 otherwise (the candidates are
/// written either way).
pub fn run(args: Args) -> Result<ExitCode> {
    let model = load_env(&args.env)?;
    let templates = match &args.prompts {
        Some(dir) => Templates::with_overrides(dir)?,
        None => Templates::embedded(),
    };
    let feedback = match &args.feedback {
        Some(path) => Some(std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?),
        None => None,
    };
    let ctx = Context {
        task: args.task.clone().unwrap_or_else(|| model.spec().task.clone()),
        feedback,
        parents: parent_scripts(&args.parents, &model)?,
        // Parents given as files come without training statistics.
        outcomes: Vec::new(),
    };
    if args.dry_run {
        let prompt = templates.render_for(&model.describe_for_prompt(), &ctx)?;
        println!("=== system ===\n{}\n\n=== user ===\n{}", prompt.system, prompt.user);
        return Ok(ExitCode::SUCCESS);
    }
    let out = args.out.as_ref().expect("clap requires --out without --dry-run");
    prepare_out_dir(out)?;
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().context("cannot start the async runtime")?;
    let cassettes = crate::llm_args::Cassettes::new(&args.llm, out, false)?;
    let proposer = proposer(&args.llm, &args.endpoint, &args.offline, &model, templates, &cassettes)?;
    let generation = runtime.block_on(proposer.propose(&ctx, args.k as usize, args.seed))?;
    if let AnyProposer::OpenAi(_) = &proposer {
        let spent = proposer.spent();
        println!(
            "llm: {} requests, {} prompt + {} completion tokens, ${:.4}{}",
            spent.requests,
            spent.prompt_tokens,
            spent.completion_tokens,
            spent.cost_usd,
            if matches!(args.llm, Llm::OpenAi) { format!("; exchanges recorded in {}", out.join("llm.jsonl").display()) } else { String::new() }
        );
        if let Some(reason) = &generation.budget_exhausted {
            println!("llm: {reason}; no further requests");
        }
        if spent.unmetered > 0 && args.endpoint.max_tokens.is_some() {
            eprintln!("warning: {} replies came without `usage`: --max-tokens cannot count their tokens", spent.unmetered);
        }
        if spent.estimated > 0 {
            println!("llm: {} streamed replies came without `usage`: their tokens are estimated", spent.estimated);
        }
    }
    write_candidates(&generation, &model, out)
}

/// Writes each candidate (script, the LLM's reply, the critic's verdict): exit 0 if all passed
/// the critic, 1 otherwise.
fn write_candidates(generation: &Generation, model: &Arc<EnvModel>, out: &Path) -> Result<ExitCode> {
    // The states `check` uses by default, so critic.json and `rewardsmith check` agree.
    let states = critic_states(model, CRITIC_SAMPLES, CRITIC_SEED)?;
    let steps = model.spec().training_steps();
    let mut passed = 0;
    for (i, candidate) in generation.candidates.iter().enumerate() {
        let dir = out.join(format!("cand-{i:02}"));
        std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
        if let Some(reply) = &candidate.reply {
            write_atomic(&dir.join("reply.md"), reply.as_bytes())?;
        }
        // The critic's verdict in the form `check --json` prints, so the search and people read
        // one format; a candidate without a script says why (stage "proposer").
        let verdict = match &candidate.script {
            Ok(script) => {
                write_atomic(&dir.join("reward.rhai"), script.as_bytes())?;
                let name = dir.join("reward.rhai").display().to_string();
                model.judge_reward(&name, script, &states, steps)
            }
            Err(e) => Verdict::refused("proposer", e.to_string()),
        };
        passed += usize::from(verdict.ok);
        write_atomic(&dir.join("critic.json"), serde_json::to_string_pretty(&verdict)?.as_bytes())?;
        println!("cand-{i:02}: {}", if verdict.ok { "passed the critic".to_owned() } else { format!("failed: {}", verdict.error.as_deref().unwrap_or("")) });
    }
    let k = generation.candidates.len();
    println!("{passed} of {k} candidates passed the critic; wrote {}", out.display());
    Ok(if passed == k { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

/// The `--parent` files, each checked by the critic (a parent it rejects would only breed
/// children it rejects); empty when none are given.
fn parent_scripts(paths: &[PathBuf], model: &Arc<EnvModel>) -> Result<Vec<String>> {
    if paths.is_empty() {
        return Ok(Vec::new());
    }
    let states = critic_states(model, CRITIC_SAMPLES, CRITIC_SEED)?;
    let mut parents = Vec::new();
    for path in paths {
        let source = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
        let checked = model.compile_reward(&path.display().to_string(), &source).map_err(anyhow::Error::from).and_then(|s| Ok(review(&s, &states)?));
        checked.with_context(|| format!("parent {} fails the critic on {}", path.display(), model.spec().id))?;
        parents.push(source);
    }
    Ok(parents)
}

/// Creates `out`, removing the candidate folders of an earlier run there (a reader listing
/// `cand-*` must see this generation only).
fn prepare_out_dir(out: &Path) -> Result<()> {
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    for entry in std::fs::read_dir(out).with_context(|| format!("cannot read {}", out.display()))? {
        let path = entry?.path();
        if path.is_dir() && path.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with("cand-")) {
            std::fs::remove_dir_all(&path).with_context(|| format!("cannot remove {}", path.display()))?;
        }
    }
    Ok(())
}
