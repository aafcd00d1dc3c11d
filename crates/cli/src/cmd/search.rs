//! `rewardsmith search --env ID --out DIR`: the reward search (propose, critic, deduplicate,
//! train, evaluate, select, reflect), and `--resume DIR` to continue a killed one.

use crate::cmd::viewer::SheetOptions;
use crate::common::load_env_with;
use crate::compute_args::{self, ComputeArgs};
use crate::llm_args::{Cassettes, EndpointArgs, Llm, OfflineArgs, parse_llm, proposer, vlm_ranker};
use crate::vlm_judge::VlmJudge;
use anyhow::{Context as _, Result, bail};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use rewardsmith_llm::prompt::Templates;
use rewardsmith_ppo::config::PpoConfig;
use rewardsmith_search::slurm::{SlurmConfig, SlurmExecutor};
use rewardsmith_search::{EnvIdentity, Event, FeedbackMode, FitnessOverride, RunFile, Search, SearchConfig, per_seed_text};
use rewardsmith_sim::EnvModel;
use rewardsmith_spec::Aggregate;
use std::collections::HashMap;
use std::io::IsTerminal as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::Mutex;

/// `--feedback`: how candidates are judged for the next prompt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Feedback {
    /// Eureka: the best candidate by evaluated fitness.
    Fitness,
    /// ICPL's synthetic preferences: a ranking by fitness (plus --pref-noise).
    Synthetic,
    /// ICPL: a person ranks the candidates' evaluation rollouts (`rewardsmith rank`); the next
    /// generation is bred from their choices, and the winner is their top choice.
    Human,
    /// HERON: ranked by `--hierarchy` signals, most important first, each deciding only where
    /// the ones above it are within `--hierarchy-margin`.
    Hierarchy,
    /// A vision-language model (`--vlm-model`) ranks pictures of the candidates' evaluation
    /// episodes, in place of a person; an unusable answer ranks the generation by fitness.
    Vlm,
}

/// `--executor`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ExecutorKind {
    /// Threads of this process (`--jobs` trainings at once, `--threads` in all).
    Local,
    /// Tasks of Slurm array jobs, polled with squeue/scontrol.
    Slurm,
}

/// `--fitness-aggregate`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum FitnessAggregate {
    /// Mean over the episode's steps.
    Mean,
    /// Sum over the episode's steps.
    Sum,
    /// The last step's value.
    Final,
    /// The largest value.
    Max,
}

/// Arguments of `search`.
#[derive(clap::Args)]
pub struct Args {
    /// Environment: a built-in id or a path to an env file.
    #[arg(long, required_unless_present = "resume")]
    env: Option<String>,
    /// The task in words (default: the env file's task).
    #[arg(long)]
    task: Option<String>,
    /// A ground-truth measure for the task, replacing the env file's: a Rhai expression over `s`
    /// evaluated after every step, e.g. `1.0 - abs(s.pole_cos)`.
    #[arg(long, value_name = "EXPR")]
    fitness: Option<String>,
    /// How --fitness combines over an episode.
    #[arg(long, value_enum, default_value_t = FitnessAggregate::Mean, requires = "fitness")]
    fitness_aggregate: FitnessAggregate,
    /// Who writes the candidates: offline, openai or replay:FILE (see `propose --help`).
    #[arg(long, default_value = "offline", value_parser = parse_llm)]
    llm: Llm,
    /// Candidates per generation.
    #[arg(short = 'k', default_value_t = 4, value_parser = clap::value_parser!(u64).range(1..=64))]
    k: u64,
    /// Generations.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u64).range(1..=1000))]
    generations: u64,
    /// How candidates are judged for the next prompt.
    #[arg(long, value_enum, default_value_t = Feedback::Fitness)]
    feedback: Feedback,
    /// With --feedback human: seconds to wait for a ranking before ranking by fitness (default:
    /// wait as long as it takes).
    #[arg(long, value_name = "SECONDS")]
    rank_timeout: Option<f64>,
    /// With --feedback vlm: the vision model that ranks each generation from pictures of its
    /// candidates' evaluation episodes (the key comes from OPENAI_API_KEY, as for --llm openai).
    #[arg(long, value_name = "MODEL")]
    vlm_model: Option<String>,
    /// With --feedback vlm: the vision model's OpenAI-compatible endpoint, up to /v1 (default:
    /// --base-url, the proposer's).
    #[arg(long, value_name = "URL")]
    vlm_base_url: Option<String>,
    /// With --feedback hierarchy: a signal that matters, as a Rhai expression over `s` averaged
    /// over the evaluation episodes (higher is better); repeat it, most important first, e.g.
    /// `--hierarchy "s.pole_cos" --hierarchy "-abs(s.pole_angular_velocity)"`.
    #[arg(long, value_name = "EXPR")]
    hierarchy: Vec<String>,
    /// With --feedback hierarchy: two candidates within this share of a signal's spread over the
    /// generation (largest − smallest) count as alike on it, and the next signal decides.
    #[arg(long, default_value_t = 0.1, value_name = "SHARE")]
    hierarchy_margin: f64,
    /// σ of the noise on fitness before the synthetic ranking.
    #[arg(long, default_value_t = 0.0)]
    pref_noise: f64,
    /// Environment steps of each candidate's training (default: the env's [ppo] total_steps).
    #[arg(long)]
    steps: Option<u64>,
    /// Evaluation seeds per candidate.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u64).range(1..=100))]
    eval_seeds: u64,
    /// Episodes per evaluation seed.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..=1000))]
    eval_episodes: u64,
    /// Master seed: every other seed derives from it.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Trainings at once (default: one per core, at most K).
    #[arg(long)]
    jobs: Option<usize>,
    /// Cores to use in all (default: all).
    #[arg(long)]
    threads: Option<usize>,
    /// Seconds one training may take; past it the candidate fails.
    #[arg(long)]
    train_timeout: Option<f64>,
    /// Distance below which a candidate duplicates one already trained (0 to 2).
    #[arg(long, default_value_t = 0.01)]
    dedup_epsilon: f64,
    /// Training seeds of the final evaluation of the best reward against human.rhai and
    /// sparse.rhai (0 skips it).
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u64).range(0..=100))]
    final_seeds: u64,
    /// Candidates (the best by selection fitness) retrained on more seeds before the winner is
    /// picked (0 or 1: the best single training wins).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u64).range(0..=100))]
    confirm_top: u64,
    /// Extra training seeds for each of those; the winner has the best mean.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u64).range(0..=100))]
    confirm_seeds: u64,
    /// Where the final evaluation's trainings are cached across searches (default:
    /// $REWARDSMITH_CACHE, else ~/.cache/rewardsmith/trainings).
    #[arg(long, value_name = "DIR")]
    cache: Option<PathBuf>,
    /// Neither read nor write the training cache.
    #[arg(long, conflicts_with = "cache")]
    no_cache: bool,
    /// Eureka's protocol: the proposer sees the task and the fitness values its rewards earned,
    /// never the success measure's formula or description (offline: no sparse.rhai parent and no
    /// hints from the measure).
    #[arg(long)]
    hide_fitness_expr: bool,
    /// A text file of notes for the LLM, read after every generation (edit it while the search
    /// runs); what was read goes into the next prompt and is kept as gen-NN/notes.md. The
    /// offline proposer ignores text.
    #[arg(long, value_name = "FILE")]
    notes: Option<PathBuf>,
    /// Override one PPO configuration key for every training (TOML value; repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    set: Vec<String>,
    /// Prompt templates overriding the embedded ones, file by file.
    #[arg(long, value_name = "DIR")]
    prompts: Option<PathBuf>,
    /// Run directory (default: runs/search-ENV-SEED, or -2, -3… if that exists).
    #[arg(long, conflicts_with = "resume")]
    out: Option<PathBuf>,
    /// Continue the search in this run directory with its recorded settings (only --jobs,
    /// --threads, --cache, --no-cache and the executor's flags may be given with it): finished
    /// candidates are not retrained, proposals are not asked again.
    #[arg(
        long,
        value_name = "DIR",
        conflicts_with_all = [
            "env", "task", "fitness", "fitness_aggregate", "llm", "k", "generations", "feedback", "pref_noise", "steps", "eval_seeds", "eval_episodes",
            "seed", "train_timeout", "rank_timeout", "dedup_epsilon", "final_seeds", "confirm_top", "confirm_seeds", "set", "prompts", "model", "temperature",
            "max_completion_tokens", "cap_field", "no_stream", "concurrency", "idle_timeout", "timeout", "retries", "budget_usd", "max_tokens", "prices", "backend", "device", "notes", "hierarchy", "hierarchy_margin", "hide_fitness_expr",
            "offline_steps", "offline_repair", "vlm_model", "vlm_base_url",
        ]
    )]
    resume: Option<PathBuf>,
    /// Where the trainings run: threads of this process, or tasks of Slurm array jobs (one
    /// `sbatch --array` per batch; the run directory must be on a filesystem the nodes share).
    /// May differ from the run's first executor on --resume: finished trainings are not run
    /// again, and Slurm tasks still running are adopted.
    #[arg(long, value_enum, default_value_t = ExecutorKind::Local)]
    executor: ExecutorKind,
    /// With --executor slurm: the partition (default: the cluster's default partition).
    #[arg(long, requires = "executor")]
    partition: Option<String>,
    /// With --executor slurm: more sbatch arguments, as one shell-quoted string, e.g.
    /// "--time=30 --cpus-per-task=4 --gres=gpu:1".
    #[arg(long, value_name = "ARGS", requires = "executor", allow_hyphen_values = true)]
    slurm_args: Option<String>,
    /// Print only the final summary (and errors).
    #[arg(long, short)]
    quiet: bool,
    /// Do not render the winner's evaluation episode to best/episode.gif for the report (done by
    /// default when the viewer binary is installed: `cargo build --release -p rewardsmith-viewer`).
    #[arg(long)]
    no_gif: bool,
    #[command(flatten)]
    endpoint: EndpointArgs,
    #[command(flatten)]
    offline: OfflineArgs,
    #[command(flatten)]
    compute: ComputeArgs,
}

/// The proposer settings kept in run.toml, so `--resume` asks the same proposer.
#[derive(serde::Serialize, serde::Deserialize)]
struct ProposerSettings {
    llm: String,
    prompts: Option<PathBuf>,
    endpoint: EndpointArgs,
    /// Absent from runs made before the offline proposer had settings: its defaults.
    #[serde(default)]
    offline: OfflineArgs,
    /// The vision model's endpoint with `--feedback vlm`, when not the proposer's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    vlm_base_url: Option<String>,
    /// The endpoint settings resolved for `vlm_base_url` (its own cap field, timeouts), when it
    /// is given; absent from older runs, whose vision model took the proposer's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    vlm_endpoint: Option<EndpointArgs>,
}

/// Runs `search`.
pub fn run(args: Args) -> Result<ExitCode> {
    let (out, run_file, settings, model) = match &args.resume {
        Some(dir) => {
            let run_file = RunFile::read(dir)?;
            let settings: ProposerSettings = run_file.proposer.clone().try_into().context("run.toml [proposer]")?;
            let model = run_model(&run_file)?;
            (dir.clone(), run_file, settings, model)
        }
        None => {
            let env = args.env.as_deref().expect("clap requires --env without --resume");
            let fitness = fitness_override(&args);
            let model = load_env_with(env, |loaded| {
                if let Some(fitness) = &fitness {
                    fitness.apply(loaded);
                }
            })?;
            if args.task.is_some() && fitness.is_none() {
                eprintln!(
                    "warning: --task replaces the task, but the env's fitness still measures: {}. It may not measure the new task: \
                     give --fitness EXPR, or judge by watching with --feedback human.",
                    model.spec().fitness.doc.trim()
                );
            }
            // The default folder never holds an earlier search: runs/search-ENV-SEED, then -2, -3…
            let out = args.out.clone().unwrap_or_else(|| {
                let base = format!("runs/search-{}-{}", model.spec().id, args.seed);
                (1..).map(|n| PathBuf::from(if n == 1 { base.clone() } else { format!("{base}-{n}") })).find(|p| !p.exists()).expect("some name is free")
            });
            if out.join("run.toml").exists() {
                bail!("{} already holds a search: continue it with --resume {0}, or choose another --out", out.display());
            }
            let run_file = new_run(&args, &model)?;
            let settings = absolute(ProposerSettings {
                llm: args.llm.to_string(),
                prompts: args.prompts.clone(),
                endpoint: args.endpoint.resolved(&args.llm, false)?,
                offline: args.offline.clone(),
                vlm_base_url: args.vlm_base_url.clone(),
                vlm_endpoint: match &args.vlm_base_url {
                    Some(url) => Some(EndpointArgs { base_url: url.clone(), ..args.endpoint.clone() }.resolved(&args.llm, true)?),
                    None => None,
                },
            })?;
            (out, RunFile { proposer: toml::Table::try_from(&settings)?, ..run_file }, settings, model)
        }
    };
    let compute = compute_args::check(&run_file.ppo)?;
    let llm = parse_llm(&settings.llm).map_err(anyhow::Error::msg)?;
    let templates = match &settings.prompts {
        Some(dir) => Templates::with_overrides(dir)?,
        None => Templates::embedded(),
    };
    std::fs::create_dir_all(&out).with_context(|| format!("cannot create {}", out.display()))?;
    // A resumed live search appends to its cassette.
    // With the measure hidden, the proposer works on its own copy of the env that does not show it.
    let proposer_model = if run_file.search.hide_fitness_expr {
        let env = if rewardsmith_spec::catalog::builtin(&run_file.env.id).is_some_and(|(path, _)| path == run_file.env.path) {
            &run_file.env.id
        } else {
            &run_file.env.path
        };
        let fitness = run_file.search.fitness.clone();
        load_env_with(env, |loaded| {
            if let Some(f) = &fitness {
                f.apply(loaded);
            }
            loaded.spec.fitness.hidden = true;
        })?
    } else {
        model.clone()
    };
    let cassettes = Cassettes::new(&llm, &out, args.resume.is_some())?;
    let proposer = proposer(&llm, &settings.endpoint, &settings.offline, &proposer_model, templates.clone(), &cassettes)?;
    let judge = match &run_file.search.vlm_model {
        Some(vlm_model) => {
            let spending = proposer.spending(&settings.endpoint);
            // A resumed run's earlier rankings count against the caps (the proposer restores its own).
            for g in 0..run_file.search.generations {
                let path = rewardsmith_search::ranking::generation_dir(&out, g).join("ranking.json");
                if let Ok(text) = std::fs::read_to_string(&path)
                    && let Ok(ranking) = serde_json::from_str::<rewardsmith_search::ranking::Ranking>(&text)
                    && let Some(vlm) = ranking.vlm
                {
                    spending.add(&vlm.usage);
                }
            }
            let endpoint = settings.vlm_endpoint.as_ref().unwrap_or(&settings.endpoint);
            let ranker = vlm_ranker(endpoint, vlm_model, settings.vlm_base_url.as_deref(), templates, &cassettes, spending)?;
            Some(VlmJudge { ranker, sheet: SheetOptions::default() })
        }
        None => None,
    };
    let s = &run_file.search;
    let confirmations = if s.confirm_top > 1 { s.confirm_top * s.confirm_seeds } else { 0 };
    let planned = s.generations * s.k + confirmations + 3 * s.final_seeds;
    let view = Progress::new(planned as u64, args.quiet);
    let log = |event: Event<'_>| view.show(event);
    log(Event::Line(&format!("training on the {compute}")));
    let cache = match (&args.cache, args.no_cache) {
        (_, true) => None,
        (Some(dir), false) => Some(dir.clone()),
        (None, false) => std::env::var_os("REWARDSMITH_CACHE")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache/rewardsmith/trainings"))),
    };
    let search = Search::new(model, run_file, &proposer, &out, &log)?.with_cache(cache);
    let search = match &judge {
        Some(judge) => search.with_judge(judge),
        None => search,
    };
    let search = match args.executor {
        ExecutorKind::Local => {
            // The local executor cannot see Slurm: a task still running would train the same
            // candidate twice, into the same folder.
            if args.resume.is_some() && out.join("slurm").is_dir() {
                eprintln!(
                    "warning: this run submitted Slurm jobs (see {}): scancel any still running before resuming with --executor local, or resume with --executor slurm to adopt them",
                    out.join("slurm").display()
                );
            }
            search
        }
        ExecutorKind::Slurm => search.with_executor(Box::new(slurm_executor(&args, &out)?)),
    };
    let summary = search.run();
    view.finish();
    let summary = summary?;
    if let (Some(best), false) = (&summary.best, args.no_gif) {
        render_best_gif(&out, best, args.quiet);
    }
    println!("search finished ({}) in {} (report: {})", summary.stop_reason, out.display(), out.join("report.html").display());
    for g in &summary.generations {
        match (&g.best, g.best_fitness) {
            (Some(best), Some(f)) => println!("  generation {}: best {best}, fitness {f:.3}", g.generation),
            _ => println!("  generation {}: no candidate trained", g.generation),
        }
    }
    if !summary.confirmed.is_empty() {
        println!("confirmed on more training seeds (fitness mean):");
        for c in &summary.confirmed {
            println!("  {} {:.3} ({})", c.id, c.fitness_mean, per_seed_text(&c.per_seed));
        }
    }
    match (&summary.best, summary.best_fitness) {
        (Some(best), Some(f)) => {
            println!("best: {best}, fitness {f:.3} (copied to {})", out.join("best/reward.rhai").display());
            println!("  picked by {}", summary.picked_by);
        }
        _ => println!("best: none"),
    }
    if let Some(final_eval) = &summary.final_evaluation {
        println!("final evaluation ({} seeds × {} steps; fitness mean ± std):", final_eval.seeds, final_eval.steps);
        for e in &final_eval.entries {
            let failed = e.per_seed.iter().filter(|f| f.is_none()).count();
            let failed = if failed > 0 { format!(", {failed} trainings failed") } else { String::new() };
            println!("  {:<7} {:.3} ± {:.3}{failed}", e.name, e.fitness_mean, e.fitness_std);
        }
        if let Some(text) = final_eval.hns_text() {
            println!("  {text}");
        }
    }
    if summary.usage.requests > 0 {
        let estimated = match summary.usage.estimated {
            0 => String::new(),
            n => format!(" (those of {n} streamed replies without `usage` estimated)"),
        };
        println!("llm: {} requests, {} tokens{estimated}, ${:.4}", summary.usage.requests, summary.usage.tokens(), summary.usage.cost_usd);
    }
    Ok(ExitCode::SUCCESS)
}

/// The Slurm executor of `--executor slurm`: tasks run this binary, in the run directory by its
/// absolute path.
fn slurm_executor(args: &Args, out: &std::path::Path) -> Result<SlurmExecutor> {
    let binary = std::env::current_exe().context("cannot find this binary's path for the Slurm tasks")?;
    let run_dir = std::fs::canonicalize(out).with_context(|| format!("cannot resolve {}", out.display()))?;
    let sbatch_args = match &args.slurm_args {
        Some(text) => shlex::split(text).with_context(|| format!("--slurm-args {text:?}: unbalanced quotes"))?,
        None => Vec::new(),
    };
    Ok(SlurmExecutor::new(SlurmConfig { partition: args.partition.clone(), sbatch_args, ..SlurmConfig::new(binary, run_dir) })?)
}

/// The env model a run directory's search trains in: its env file (a built-in by id: its
/// recorded path is inside the binary) with the run's fitness override.
pub fn run_model(run_file: &RunFile) -> Result<Arc<EnvModel>> {
    let builtin = rewardsmith_spec::catalog::builtin(&run_file.env.id).is_some_and(|(path, _)| path == run_file.env.path);
    let env = if builtin { &run_file.env.id } else { &run_file.env.path };
    load_env_with(env, |loaded| {
        if let Some(fitness) = &run_file.search.fitness {
            fitness.apply(loaded);
        }
    })
}

fn fitness_override(args: &Args) -> Option<FitnessOverride> {
    let aggregate = match args.fitness_aggregate {
        FitnessAggregate::Mean => Aggregate::Mean,
        FitnessAggregate::Sum => Aggregate::Sum,
        FitnessAggregate::Final => Aggregate::Final,
        FitnessAggregate::Max => Aggregate::Max,
    };
    args.fitness.clone().map(|expr| FitnessOverride { expr, aggregate })
}

/// The settings with their paths made absolute, so `--resume` from another folder finds the same
/// files.
fn absolute(mut settings: ProposerSettings) -> Result<ProposerSettings> {
    let canonical = |path: &std::path::Path| std::fs::canonicalize(path).with_context(|| format!("cannot find {}", path.display()));
    if let Some(dir) = &settings.prompts {
        settings.prompts = Some(canonical(dir)?);
    }
    if let Some(prices) = &settings.endpoint.prices {
        settings.endpoint.prices = Some(canonical(prices)?);
    }
    if let Some(cassette) = settings.llm.strip_prefix("replay:") {
        settings.llm = format!("replay:{}", canonical(std::path::Path::new(cassette))?.display());
    }
    Ok(settings)
}

/// The run file of a new search from the flags.
fn new_run(args: &Args, model: &rewardsmith_sim::EnvModel) -> Result<RunFile> {
    let feedback = match args.feedback {
        Feedback::Fitness => FeedbackMode::Fitness,
        Feedback::Synthetic => FeedbackMode::Synthetic,
        Feedback::Human => FeedbackMode::Human,
        Feedback::Hierarchy => FeedbackMode::Hierarchy,
        Feedback::Vlm => FeedbackMode::Vlm,
    };
    let search = SearchConfig {
        k: args.k as usize,
        generations: args.generations as usize,
        steps: args.steps,
        eval_seeds: args.eval_seeds as usize,
        eval_episodes: args.eval_episodes as usize,
        seed: args.seed,
        feedback,
        pref_noise: args.pref_noise,
        dedup_epsilon: args.dedup_epsilon,
        jobs: args.jobs.unwrap_or(0),
        threads: args.threads.unwrap_or(0),
        train_timeout_s: args.train_timeout,
        task: args.task.clone(),
        fitness: fitness_override(args),
        final_seeds: args.final_seeds as usize,
        confirm_top: args.confirm_top as usize,
        confirm_seeds: args.confirm_seeds as usize,
        rank_timeout_s: args.rank_timeout,
        vlm_model: args.vlm_model.clone(),
        hide_fitness_expr: args.hide_fitness_expr,
        hierarchy: args.hierarchy.clone(),
        hierarchy_margin: args.hierarchy_margin,
        notes: args.notes.as_deref().map(std::fs::canonicalize).transpose().context("--notes: the file must exist when the search starts")?,
        ..SearchConfig::default()
    };
    search.validate().map_err(anyhow::Error::msg)?;
    let env_layer = (format!("{} [ppo]", model.path()), model.spec().ppo.clone());
    let mut layers = vec![env_layer];
    for set in &args.set {
        layers.push((format!("--set {set}"), PpoConfig::parse_override(set)?));
    }
    if args.compute.given() {
        layers.push(("--backend/--device".to_owned(), args.compute.layer()));
    }
    let ppo = PpoConfig::from_layers(layers.iter().map(|(name, table)| (name.as_str(), table)))?;
    // A user's env file by absolute path (a resume may start elsewhere); a built-in by its path
    // inside the binary, which the resume maps back to the id.
    let builtin = rewardsmith_spec::catalog::builtin(&model.spec().id).is_some_and(|(path, _)| path == model.path());
    let path = match std::fs::canonicalize(model.path()) {
        Ok(absolute) if !builtin => absolute.display().to_string(),
        _ => model.path().to_owned(),
    };
    Ok(RunFile {
        version: env!("CARGO_PKG_VERSION").to_owned(),
        env: EnvIdentity { id: model.spec().id.clone(), path, hash: model.hash().to_owned() },
        search,
        ppo,
        proposer: toml::Table::new(),
    })
}

/// How a search shows itself: on a terminal, a live view (an overall bar with the trainings done
/// of those planned and an ETA, and one bar per running training with its SPS and last return)
/// with the log lines above it; otherwise plain log lines on stderr; with --quiet, nothing.
struct Progress {
    /// None: plain lines (or nothing when quiet).
    live: Option<(MultiProgress, ProgressBar)>,
    bars: Mutex<HashMap<String, ProgressBar>>,
    quiet: bool,
}

impl Progress {
    fn new(planned: u64, quiet: bool) -> Self {
        let live = (!quiet && std::io::stderr().is_terminal()).then(|| {
            let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
            let overall = multi.add(ProgressBar::new(planned));
            overall.set_style(
                ProgressStyle::with_template("{elapsed_precise} [{bar:30}] {pos}/{len} trainings ETA {eta} (of those planned: duplicates are not trained)")
                    .expect("a valid template")
                    .progress_chars("=> "),
            );
            (multi, overall)
        });
        Self { live, bars: Mutex::new(HashMap::new()), quiet }
    }

    fn show(&self, event: Event<'_>) {
        let Some((multi, overall)) = &self.live else {
            if let (Event::Line(line), false) = (event, self.quiet) {
                eprintln!("{line}");
            }
            return;
        };
        let mut bars = self.bars.lock().unwrap_or_else(|e| e.into_inner());
        match event {
            Event::Line(line) => {
                let _ = multi.println(line);
            }
            Event::TrainingStarted { id, total_steps } => {
                let bar = multi.add(ProgressBar::new(total_steps));
                bar.set_style(ProgressStyle::with_template("  {prefix:24} [{bar:20}] {pos:>7}/{len} {msg}").expect("a valid template").progress_chars("=> "));
                bar.set_prefix(id.to_owned());
                bars.insert(id.to_owned(), bar);
            }
            Event::Iteration { id, global_step, sps, episodic_return } => {
                if let Some(bar) = bars.get(id) {
                    bar.set_position(global_step);
                    let ret = episodic_return.map_or(String::new(), |r| format!(", return {r:.2}"));
                    bar.set_message(format!("{sps:.0} SPS{ret}"));
                }
            }
            Event::TrainingFinished { id } => {
                if let Some(bar) = bars.remove(id) {
                    bar.finish_and_clear();
                    multi.remove(&bar);
                }
                overall.inc(1);
            }
        }
    }

    fn finish(&self) {
        if let Some((_, overall)) = &self.live {
            overall.finish_and_clear();
        }
    }
}

/// GIF frames per second of the winner's episode in the report: every other step of a 20 Hz env,
/// to keep the report a few megabytes.
const BEST_GIF_FPS: &str = "10";

/// Renders the winner's evaluation episode to `best/episode.gif` with the viewer binary, when it
/// is installed, and redraws the report to show it. A failure costs the picture, not the search.
fn render_best_gif(out: &std::path::Path, best: &str, quiet: bool) {
    let Some(viewer) = crate::cmd::viewer::installed() else { return };
    let (rollout, gif) = (out.join(best).join("eval.rollout"), out.join(rewardsmith_search::report::BEST_GIF));
    if !rollout.is_file() {
        return;
    }
    let rendered = std::process::Command::new(&viewer)
        .arg("render")
        .arg(&rollout)
        .arg("--gif")
        .arg(&gif)
        .args(["--fps", BEST_GIF_FPS])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .output();
    match rendered {
        Ok(o) if o.status.success() => match rewardsmith_search::report::write_report(out) {
            Ok(_) if !quiet => eprintln!("rendered the winner's episode to {} (in the report)", gif.display()),
            Ok(_) => {}
            Err(e) => eprintln!("warning: report.html not redrawn with the GIF: {e}"),
        },
        Ok(o) => eprintln!("warning: no GIF of the winner's episode: {}", String::from_utf8_lossy(&o.stderr).lines().last().unwrap_or("the viewer failed")),
        Err(e) => eprintln!("warning: no GIF of the winner's episode: cannot start {}: {e}", viewer.display()),
    }
}
