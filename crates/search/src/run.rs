//! The search loop, over the run directory of [`crate::record`].
//!
//! ```text
//! run.toml                       resolved settings, env identity, proposer (written first)
//! llm.jsonl                      the LLM cassette (written by the proposer's transport)
//! gen-NN/proposals.json          the generation's proposals, resampled ones included
//! gen-NN/cand-KK/reward.rhai     the script; reply.md (the LLM's reply); critic.json
//! gen-NN/cand-KK/result.json     training, evaluation, checkpoints (written when done)
//! gen-NN/cand-KK/metrics.jsonl  every PPO iteration's metrics, CleanRL's names (as `train`'s)
//! gen-NN/cand-KK/policy.safetensors
//! gen-NN/feedback.md             exactly the feedback text the next prompt receives
//! gen-NN/generation.json         ranking and best (written last: the generation is done)
//! final/NAME/seed-S/             the final evaluation's trainings (best, human, sparse)
//! best/reward.rhai, best/result.json, summary.json, report.html
//! ```
//!
//! Every file is written atomically. A killed search resumes from its directory: a generation's
//! proposals are read back from `proposals.json` (an LLM proposer answers a generation killed
//! mid-proposal from the cassette it recorded, so not even that is asked twice), candidates with
//! `result.json` are not retrained, and everything else (deduplication, ranking, feedback) is
//! recomputed from those files. Since every seed derives from the master seed and a training does
//! not depend on the thread count, the resumed search ends where the uninterrupted one would
//! (unless a `train_timeout_s` fired: wall-clock limits depend on the machine).

use crate::config::{FeedbackMode, SearchConfig};
use crate::dedup::Signature;
use crate::error::SearchError;
use crate::execute::{Event, Executor, LocalExecutor, Shared, Training, compile_levels};
use crate::ranking::{self, VlmRecord};
use crate::record::{
    CandidateResult, Confirmed, FinalEntry, FinalEvaluation, GenerationRecord, PhaseSeconds, Proposal, RunFile, Summary, TASK_RESULT, Timing, Verdict, corrupt,
    hns_not_meaningful, per_seed_text, read_json, read_json_if_present, write_atomic, write_json,
};
use crate::reflect::{self, Best, EnvFacts, Judged};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};

use rewardsmith_ppo::config::PpoConfig;
use rewardsmith_propose::{Context, Judge, JudgeError, JudgeRequest, Judgement, Outcome, Proposer, Shown, Usage};
use rewardsmith_script::{Expr, State};
use rewardsmith_sim::{CRITIC_SAMPLES, CRITIC_SEED, EnvModel, critic_states, derive_seed};
use rewardsmith_spec::catalog;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Seed streams derived from the master seed.
const PROPOSE_STREAM: u64 = 1;
const TRAIN_STREAM: u64 = 2;
const EVAL_STREAM: u64 = 3;
const PREFERENCE_STREAM: u64 = 4;
const CONFIRM_STREAM: u64 = 5;

/// Seed of the final evaluation's trainings and evaluation episodes: a constant, not derived
/// from the master seed, so the baselines' trainings are the same in every search (and come from
/// the cache), and the best reward is scored on seeds it was not selected on.
const FINAL_SEED: u64 = 0x5eed_f17a_1e7a_0001;

/// Format of the training cache's entries; bumped when what a cached result means changes.
const CACHE_FORMAT: u32 = 1;

/// Resampling rounds per generation are numbered below this (seed derivation).
const MAX_ROUNDS: u64 = 64;

/// The picture a vision model is shown of a candidate, in its folder.
pub const VLM_PICTURE: &str = "vlm.png";

/// How often a search waiting for a human ranking looks for it.
const RANK_POLL: Duration = Duration::from_millis(200);

/// Scripts kept as the offline proposer's parents: the best this many of the search so far.
const ELITES: usize = 2;

/// A training of a named script outside the generations (confirmation, final evaluation): read
/// back from `OUT/id/result.json` if it ran before, from the cache if it is there, else run.
struct Retraining {
    id: String,
    source: String,
    ppo: PpoConfig,
}

/// One search over one environment.
pub struct Search<'a, P: Proposer> {
    model: Arc<EnvModel>,
    run: RunFile,
    proposer: &'a P,
    out: PathBuf,
    events: &'a (dyn Fn(Event<'_>) + Sync),
    cache: Option<PathBuf>,
    /// The hierarchy's levels, compiled (empty unless `--feedback hierarchy`).
    levels: Vec<Expr>,
    /// Where the trainings run.
    executor: Box<dyn Executor + 'a>,
    /// Who ranks by looking (`--feedback vlm`).
    judge: Option<&'a dyn DynJudge>,
}

/// [`Judge`] as a trait object: its `rank` boxed, so the search holds any judge without a
/// second type parameter on every impl.
trait DynJudge: Sync {
    fn rank_boxed<'f>(&'f self, request: &'f JudgeRequest) -> Pin<Box<dyn Future<Output = Result<Judgement, JudgeError>> + Send + 'f>>;
}

impl<J: Judge> DynJudge for J {
    fn rank_boxed<'f>(&'f self, request: &'f JudgeRequest) -> Pin<Box<dyn Future<Output = Result<Judgement, JudgeError>> + Send + 'f>> {
        Box::pin(self.rank(request))
    }
}

/// `gen-NN/proposals.json`.
#[derive(Debug, Serialize, Deserialize)]
struct ProposalsFile {
    usage: Usage,
    /// Time spent proposing and in the critic (train_s unused).
    #[serde(default)]
    seconds: PhaseSeconds,
    budget_exhausted: Option<String>,
    proposals: Vec<Proposal>,
}

impl<'a, P: Proposer> Search<'a, P> {
    /// A search writing to `out`, as `run` describes; `events` receives what happens (from the
    /// training threads too).
    pub fn new(model: Arc<EnvModel>, run: RunFile, proposer: &'a P, out: &Path, events: &'a (dyn Fn(Event<'_>) + Sync)) -> Result<Self, SearchError> {
        run.search.validate().map_err(SearchError::Config)?;
        run.ppo.validate().map_err(|e| SearchError::Config(format!("ppo: {e}")))?;
        if run.env.hash != model.hash() {
            return Err(SearchError::Config(format!("{} has changed since the run started (hash {} then, {} now)", run.env.path, run.env.hash, model.hash())));
        }
        let levels = compile_levels(&model, &run.search)?;
        Ok(Self { model, run, proposer, out: out.to_owned(), events, cache: None, levels, executor: Box::new(LocalExecutor), judge: None })
    }

    fn say(&self, line: &str) {
        (self.events)(Event::Line(line));
    }

    /// Keeps the final evaluation's trainings in `dir` (one JSON file per training, keyed by a
    /// hash of env, script, PPO settings, seed and evaluation settings), so the baselines are
    /// not retrained by every search.
    pub fn with_cache(mut self, dir: Option<PathBuf>) -> Self {
        self.cache = dir;
        self
    }

    /// Runs the trainings on `executor` instead of this process's threads ([`LocalExecutor`]).
    pub fn with_executor(mut self, executor: Box<dyn Executor + 'a>) -> Self {
        self.executor = executor;
        self
    }

    /// Ranks each generation with `judge` (what `--feedback vlm` needs).
    pub fn with_judge<J: Judge>(mut self, judge: &'a J) -> Self {
        self.judge = Some(judge);
        self
    }

    /// Runs (or resumes) the search to its end.
    pub fn run(&self) -> Result<Summary, SearchError> {
        let cfg = &self.run.search;
        write_atomic(&self.out.join("run.toml"), toml::to_string(&self.run).map_err(|e| SearchError::Config(e.to_string()))?.as_bytes())?;
        // One sample of states for the critic and the deduplication, the one `check` uses.
        let states = critic_states(&self.model, CRITIC_SAMPLES, CRITIC_SEED)?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| SearchError::Config(format!("cannot start the async runtime: {e}")))?;
        let mut task = cfg.task.clone().unwrap_or_else(|| self.model.spec().task.clone());
        if cfg.feedback == FeedbackMode::Hierarchy {
            task.push_str(&hierarchy_statement(&cfg.hierarchy, cfg.hierarchy_margin));
        }
        let mut feedback: Option<String> = None;
        let mut history: Vec<Best> = Vec::new();
        let mut trained: Vec<(String, Signature)> = Vec::new();
        let mut all: Vec<(String, f64, String)> = Vec::new();
        // Each trained candidate's outcome, as data for a proposer that reads it.
        let mut outcomes: BTreeMap<String, Outcome> = BTreeMap::new();
        // Each generation's trained candidates' ids in the judged order (their scripts are in `all`).
        let mut judged_orders: Vec<Vec<String>> = Vec::new();
        let mut records = Vec::new();
        let mut usage = Usage::default();
        let mut stop_reason = "generations".to_owned();
        let timing_path = self.out.join("timing.json");
        let mut timing: Timing = read_json_if_present(&timing_path)?.unwrap_or_default();
        for generation in 0..cfg.generations {
            let dir = self.out.join(format!("gen-{generation:02}"));
            let ids = if cfg.feedback == FeedbackMode::Fitness { fittest(&all) } else { judged_parents(&judged_orders) };
            // Every judged candidate was trained, so its script is in `all`.
            let (parent_ids, scripts): (Vec<String>, Vec<String>) =
                ids.into_iter().filter_map(|id| all.iter().find(|a| a.0 == id).map(|a| (id, a.2.clone()))).unzip();
            let ctx = Context {
                task: task.clone(),
                feedback: feedback.clone(),
                parents: scripts,
                outcomes: parent_ids.iter().map(|id| outcomes.get(id).cloned()).collect(),
            };
            let lineage = Lineage { parent_ids, shown: history.iter().map(|b| b.id.clone()).collect() };
            let proposals = self.proposals(generation, &dir, &ctx, &lineage, &states, &runtime)?;
            usage.add(&proposals.usage);
            let started = Instant::now();
            let results = self.train_generation(generation, &dir, &proposals.proposals, &states, &mut trained)?;
            if timing.generations.len() <= generation {
                timing.generations.resize(generation + 1, PhaseSeconds::default());
            }
            let phases = &mut timing.generations[generation];
            (phases.propose_s, phases.critic_s) = (proposals.seconds.propose_s, proposals.seconds.critic_s);
            phases.train_s += started.elapsed().as_secs_f64();
            write_json(&timing_path, &timing)?;
            let judged: Vec<Judged<'_>> =
                proposals.proposals.iter().zip(&results).map(|(proposal, result)| Judged { proposal, result: result.as_ref() }).collect();
            let Ranked { order: ranking, source: ranking_source, note: rank_note, usage: judge_usage } = self.rank(generation, &judged, &task, &runtime)?;
            usage.add(&judge_usage);
            let best = ranking.first().map(|&i| &judged[i]);
            let worst = (cfg.feedback != FeedbackMode::Fitness && ranking.len() > 1).then(|| &judged[*ranking.last().unwrap()]);
            let facts = EnvFacts {
                dt: self.model.spec().control_dt(),
                episode_steps: self.model.spec().physics.episode_length,
                fitness: if cfg.hide_fitness_expr { "not shown" } else { &self.model.spec().fitness.doc },
                compared: if cfg.feedback == FeedbackMode::Hierarchy {
                    "on the signals that matter, in order of importance (see the task)"
                } else {
                    "by watching them"
                },
            };
            let show_fitness = cfg.feedback == FeedbackMode::Fitness;
            let ranked: Vec<&Judged<'_>> = ranking.iter().map(|&i| &judged[i]).collect();
            judged_orders.push(ranked.iter().filter_map(|j| Some(j.result?.id.clone())).collect());
            let mut text = reflect::feedback(generation, &facts, &judged, &ranked, show_fitness, worst, &history);
            if let Some(notes) = self.notes(&dir, rank_note)? {
                text.push_str(&format!("\n### Notes from the person running the search\n\n{notes}\n"));
            }
            write_atomic(&dir.join("feedback.md"), text.as_bytes())?;
            for j in &judged {
                if let (Some(r), Some(script)) = (j.result, &j.proposal.script)
                    && let (Some(f), "trained") = (r.fitness, r.status.as_str())
                {
                    all.push((r.id.clone(), f, script.clone()));
                    outcomes.insert(r.id.clone(), reflect::outcome(r, show_fitness));
                }
            }
            if let Some(b) = best {
                let result = b.result.expect("ranked candidates have results");
                history.push(Best {
                    generation,
                    id: result.id.clone(),
                    fitness: result.fitness.unwrap_or(f64::NAN),
                    script: b.proposal.script.clone().unwrap_or_default(),
                });
            }
            let record = GenerationRecord {
                generation,
                ranking: ranking.iter().map(|&i| judged[i].result.map(|r| r.id.clone()).unwrap_or_default()).collect(),
                best: best.and_then(|b| b.result).map(|r| r.id.clone()),
                best_fitness: best.and_then(|b| b.result).and_then(|r| r.fitness),
                usage: {
                    let mut u = proposals.usage;
                    u.add(&judge_usage);
                    u
                },
                ranking_source: Some(ranking_source),
            };
            write_json(&dir.join("generation.json"), &record)?;
            self.say(&format!(
                "generation {generation}: best {}",
                record
                    .best
                    .as_ref()
                    .map_or("none (no candidate trained)".to_owned(), |b| format!("{b}, fitness {:.3}", record.best_fitness.unwrap_or(f64::NAN)))
            ));
            records.push(record);
            feedback = Some(text);
            if let Some(reason) = proposals.budget_exhausted {
                self.say(&format!("stopping: {reason}"));
                stop_reason = "budget".to_owned();
                break;
            }
        }
        let started = Instant::now();
        // ICPL: with a person judging, the winner is the person's, never overruled by fitness.
        // With a vision model judging, its choice wins as a person's does.
        let person = matches!(cfg.feedback, FeedbackMode::Human | FeedbackMode::Vlm);
        let confirmed = if person { Vec::new() } else { self.confirm(&all)? };
        timing.confirm_s += started.elapsed().as_secs_f64();
        write_json(&timing_path, &timing)?;
        let (best, picked_by) = match confirmed.iter().max_by(|a, b| a.fitness_mean.total_cmp(&b.fitness_mean)) {
            // The latest generation a person ranked (not one ranked by fitness for want of an
            // answer or of candidates), else the latest ranked at all.
            _ if person => match judged_orders
                .iter()
                .enumerate()
                .rev()
                .filter(|(g, _)| records[*g].ranking_source.as_deref().is_some_and(|s| !s.starts_with("fitness")))
                .chain(judged_orders.iter().enumerate().rev())
                .find_map(|(g, order)| Some((g, order.first()?)))
            {
                Some((g, id)) => (
                    all.iter().find(|a| &a.0 == id).cloned(),
                    format!(
                        "{}: top choice of generation {g} (ranked by {})",
                        if cfg.feedback == FeedbackMode::Vlm { "the vision model" } else { "the person" },
                        records[g].ranking_source.as_deref().unwrap_or("a person")
                    ),
                ),
                None => (None, String::new()),
            },
            // Ties keep the better selection fitness (the earlier entry): max_by keeps the last.
            Some(c) => {
                let top = confirmed.iter().find(|x| x.fitness_mean == c.fitness_mean).unwrap_or(c);
                let best = all.iter().find(|a| a.0 == top.id).map(|a| (a.0.clone(), top.fitness_mean, a.2.clone()));
                (best, format!("fitness: the best mean over 1 + {} training seeds of the {} best candidates", cfg.confirm_seeds, confirmed.len()))
            }
            None => {
                let best = best_first(&all).first().map(|&b| b.clone());
                let picked_by = if best.is_some() { "fitness: the best single training".to_owned() } else { String::new() };
                (best, picked_by)
            }
        };
        let best = best.as_ref();
        if let Some((id, _, script)) = best {
            write_atomic(&self.out.join("best/reward.rhai"), script.as_bytes())?;
            let result = std::fs::read(self.out.join(id).join("result.json")).map_err(|e| corrupt(&self.out.join(id), e))?;
            write_atomic(&self.out.join("best/result.json"), &result)?;
        }
        let started = Instant::now();
        let final_evaluation = match best {
            Some((_, _, script)) => self.final_evaluation(script)?,
            None => None,
        };
        timing.final_s += started.elapsed().as_secs_f64();
        write_json(&timing_path, &timing)?;
        let summary = Summary {
            stop_reason,
            best: best.map(|b| b.0.clone()),
            best_fitness: best.map(|b| b.1),
            picked_by,
            confirmed,
            generations: records,
            usage,
            final_evaluation,
        };
        write_json(&self.out.join("summary.json"), &summary)?;
        // The report is for reading; a failure to draw it costs no result.
        match crate::report::write_report(&self.out) {
            Ok(path) => self.say(&format!("report: {}", path.display())),
            Err(e) => self.say(&format!("warning: report.html not written: {e}")),
        }
        Ok(summary)
    }

    /// The generation's proposals: read back if already made, else proposed (with resampling
    /// of critic rejects) and written.
    fn proposals(
        &self,
        generation: usize,
        dir: &Path,
        ctx: &Context,
        lineage: &Lineage,
        states: &[State],
        runtime: &tokio::runtime::Runtime,
    ) -> Result<ProposalsFile, SearchError> {
        let path = dir.join("proposals.json");
        if path.exists() {
            let file: ProposalsFile = read_json(&path)?;
            // Spent in an earlier session of this run: the budget caps cover the whole run.
            self.proposer.restore_spent(&file.usage);
            return Ok(file);
        }
        let cfg = &self.run.search;
        let mut file = ProposalsFile { usage: Usage::default(), seconds: PhaseSeconds::default(), budget_exhausted: None, proposals: Vec::new() };
        let mut wanted = cfg.k;
        for round in 0..=cfg.resample_rounds {
            let seed = derive_seed(derive_seed(cfg.seed, PROPOSE_STREAM), generation as u64 * MAX_ROUNDS + round as u64);
            let started = Instant::now();
            let proposed = runtime.block_on(self.proposer.propose(ctx, wanted, seed))?;
            file.seconds.propose_s += started.elapsed().as_secs_f64();
            file.usage.add(&proposed.usage);
            let started = Instant::now();
            for candidate in proposed.candidates {
                let name = format!("cand-{:02}", file.proposals.len());
                let critic = match &candidate.script {
                    Ok(script) => self.model.judge_reward(&script_name(generation, &name), script, states, self.search_ppo().total_steps),
                    Err(e) => Verdict::refused("proposer", e.to_string()),
                };
                let parents = if candidate.script.is_ok() { lineage.of(&candidate.parents) } else { Vec::new() };
                let proposal = Proposal { name, round, script: candidate.script.ok(), reply: candidate.reply, critic, parents };
                write_candidate_files(&dir.join(&proposal.name), &proposal)?;
                file.proposals.push(proposal);
            }
            file.seconds.critic_s += started.elapsed().as_secs_f64();
            let valid = file.proposals.iter().filter(|p| p.critic.ok).count();
            self.say(&format!("generation {generation}, round {round}: {valid} of {} proposals passed the critic", file.proposals.len()));
            if proposed.budget_exhausted.is_some() {
                file.budget_exhausted = proposed.budget_exhausted;
                break;
            }
            if valid >= cfg.k {
                break;
            }
            wanted = cfg.k - valid;
        }
        write_json(&path, &file)?;
        Ok(file)
    }

    /// Deduplicates and trains the generation's valid proposals (at most K); results by
    /// proposal, None for the ones not trained (critic rejects, those past K).
    fn train_generation(
        &self,
        generation: usize,
        dir: &Path,
        proposals: &[Proposal],
        states: &[State],
        trained: &mut Vec<(String, Signature)>,
    ) -> Result<Vec<Option<CandidateResult>>, SearchError> {
        let cfg = &self.run.search;
        let mut results: Vec<Option<CandidateResult>> = vec![None; proposals.len()];
        let mut queue = Vec::new();
        let mut duplicates = Vec::new();
        let valid: Vec<usize> = (0..proposals.len()).filter(|&i| proposals[i].critic.ok).take(cfg.k).collect();
        for &i in &valid {
            let id = format!("gen-{generation:02}/{}", proposals[i].name);
            let source = proposals[i].script.as_deref().unwrap_or("");
            let script = self.model.compile_reward(&script_name(generation, &proposals[i].name), source)?;
            let signature = Signature::of(&script, states).map_err(|e| SearchError::Config(format!("{id}: passed the critic, then failed: {e}")))?;
            let nearest = trained.iter().map(|(other, s)| (other.clone(), signature.distance(s))).min_by(|a, b| a.1.total_cmp(&b.1));
            let result_path = dir.join(&proposals[i].name).join("result.json");
            if result_path.exists() {
                let result: CandidateResult = read_json(&result_path)?;
                if result.status != "duplicate" {
                    trained.push((id, signature));
                }
                results[i] = Some(result);
                continue;
            }
            match nearest {
                Some((original, distance)) if distance < cfg.dedup_epsilon => duplicates.push((i, id, original, distance)),
                _ => {
                    let job = Training {
                        index: i,
                        id: id.clone(),
                        script,
                        dir: dir.join(&proposals[i].name),
                        ppo: self.search_ppo(),
                        nearest,
                        cache: None,
                        eval_seed: derive_seed(cfg.seed, EVAL_STREAM),
                        record_rollout: true,
                    };
                    queue.push(job);
                    trained.push((id, signature));
                }
            }
        }
        let done = self.train_all(&queue)?;
        for (i, result) in done {
            results[i] = Some(result);
        }
        for (i, id, original, distance) in duplicates {
            let source = self.out.join(&original).join("result.json");
            let mut result: CandidateResult = read_json(&source)?;
            result.id = id.clone();
            result.status = "duplicate".to_owned();
            result.duplicate_of = Some(original.clone());
            result.nearest = Some((original.clone(), distance));
            result.seconds = 0.0;
            self.say(&format!("{id}: duplicate of {original} (distance {distance:.4}), not trained"));
            write_json(&dir.join(&proposals[i].name).join("result.json"), &result)?;
            results[i] = Some(result);
        }
        Ok(results)
    }

    /// The PPO settings of a search training: every candidate trains with the same seed, so
    /// differences in fitness come from the rewards, not from the luck of the draw (common
    /// random numbers).
    fn search_ppo(&self) -> PpoConfig {
        let cfg = &self.run.search;
        let mut ppo = self.run.ppo.clone();
        ppo.seed = derive_seed(cfg.seed, TRAIN_STREAM);
        if let Some(steps) = cfg.steps {
            ppo.total_steps = steps;
        }
        ppo
    }

    /// Runs the trainings on the executor, each writing its result (and cache entry) when
    /// done; results by training index.
    fn train_all(&self, queue: &[Training]) -> Result<Vec<(usize, CandidateResult)>, SearchError> {
        let done = Mutex::new(Vec::new());
        let shared = Shared { model: &self.model, search: &self.run.search, levels: &self.levels, events: self.events };
        let record = |job: &Training, mut result: CandidateResult| -> Result<(), SearchError> {
            result.nearest = job.nearest.clone();
            self.say(&match (&result.fitness, &result.error) {
                (Some(f), _) => format!("{}: fitness {f:.3} ({} steps, {:.1} s)", job.id, result.global_step, result.seconds),
                (None, e) => format!("{}: {} ({})", job.id, result.status, e.as_deref().unwrap_or("")),
            });
            write_json(&job.dir.join("result.json"), &result)?;
            // Only a finished training is worth reusing: a failure (a panic such as a CUDA
            // out-of-memory, a timeout) may not repeat, and must not poison later searches'
            // baselines.
            if let Some(path) = job.cache.as_ref().filter(|_| result.status == "trained") {
                write_json(path, &result)?;
            }
            done.lock().unwrap_or_else(|e| e.into_inner()).push((job.index, result));
            Ok(())
        };
        // A training an executor finished before the search was killed (its task-result.json is
        // there, its result.json not yet) is recorded, not trained again, whichever executor
        // resumes.
        let mut rest = Vec::new();
        for job in queue {
            match read_json_if_present::<CandidateResult>(&job.dir.join(TASK_RESULT))? {
                Some(result) => record(job, result)?,
                None => rest.push(job.clone()),
            }
        }
        self.executor.run(&shared, &rest, &record)?;
        let mut done = done.into_inner().unwrap_or_else(|e| e.into_inner());
        done.sort_by_key(|(i, _)| *i);
        Ok(done)
    }

    /// The person's words after generation `dir` for the next prompt: the note given with its
    /// ranking and the `--notes` file as it reads now, kept in `dir/notes.md`; a resumed run
    /// reads that back instead (the file may have changed since). None when there are none.
    fn notes(&self, dir: &Path, rank_note: Option<String>) -> Result<Option<String>, SearchError> {
        let kept = dir.join("notes.md");
        if kept.exists() {
            let notes = std::fs::read_to_string(&kept).map_err(|e| crate::record::corrupt(&kept, e))?;
            return Ok((!notes.is_empty()).then_some(notes));
        }
        let file = match &self.run.search.notes {
            // A notes file that is missing or unreadable right now costs this generation its notes,
            // not the search: the person may be saving it.
            Some(path) => match std::fs::read_to_string(path) {
                Ok(text) => Some(text),
                Err(e) => {
                    self.say(&format!("warning: notes not read from {}: {e}", path.display()));
                    None
                }
            },
            None => None,
        };
        let parts: Vec<String> = rank_note.into_iter().chain(file).map(|t| t.trim().to_owned()).filter(|t| !t.is_empty()).collect();
        let notes = parts.join("\n\n");
        // Written even when empty: a resume must not read today's file into a prompt that was
        // sent without it.
        write_atomic(&kept, notes.as_bytes())?;
        Ok((!notes.is_empty()).then_some(notes))
    }

    /// Retrains the `confirm_top` best candidates (by selection fitness) on `confirm_seeds`
    /// more training seeds each; the candidates with their fitness per seed, search training
    /// first. Empty when there is nothing to choose between.
    fn confirm(&self, all: &[(String, f64, String)]) -> Result<Vec<Confirmed>, SearchError> {
        let cfg = &self.run.search;
        let mut ranked = best_first(all);
        ranked.truncate(cfg.confirm_top);
        if ranked.len() < 2 || cfg.confirm_seeds == 0 {
            return Ok(Vec::new());
        }
        let base = &self.search_ppo();
        let trainings: Vec<Retraining> = ranked
            .iter()
            .flat_map(|(id, _, source)| {
                (1..=cfg.confirm_seeds).map(move |seed| Retraining {
                    id: format!("confirm/{}/seed-{seed}", id.replace('/', "-")),
                    source: source.clone(),
                    ppo: PpoConfig { seed: derive_seed(derive_seed(cfg.seed, CONFIRM_STREAM), seed as u64), ..base.clone() },
                })
            })
            .collect();
        let (results, _) = self.retrain("confirmation of the best candidates", &trainings, derive_seed(cfg.seed, EVAL_STREAM))?;
        let confirmed: Vec<Confirmed> = ranked
            .iter()
            .zip(results.chunks(cfg.confirm_seeds))
            .map(|((id, fitness, _), extra)| {
                let per_seed: Vec<Option<f64>> = std::iter::once(Some(*fitness)).chain(extra.iter().map(|r| r.as_ref().and_then(|r| r.fitness))).collect();
                Confirmed { id: id.clone(), fitness_mean: mean_std(&per_seed).0, per_seed }
            })
            .collect();
        for c in &confirmed {
            self.say(&format!("confirmed {}: fitness {:.3} over {} trainings ({})", c.id, c.fitness_mean, c.per_seed.len(), per_seed_text(&c.per_seed)));
        }
        write_json(&self.out.join("confirm/confirmed.json"), &confirmed)?;
        Ok(confirmed)
    }

    /// Runs `trainings` (`what`, for the log), each read back if it ran before in this run, or
    /// taken from the cache, or trained; the results in order, and which came from the cache.
    fn retrain(&self, what: &str, trainings: &[Retraining], eval_seed: u64) -> Result<(Vec<Option<CandidateResult>>, Vec<bool>), SearchError> {
        let cfg = &self.run.search;
        let mut results: Vec<Option<CandidateResult>> = vec![None; trainings.len()];
        let mut cached = vec![false; trainings.len()];
        let mut jobs = Vec::new();
        for (index, t) in trainings.iter().enumerate() {
            let dir = self.out.join(&t.id);
            let done = dir.join("result.json");
            let cache = self.cache.as_ref().map(|c| c.join(format!("{}.json", cache_key(&self.model, &t.source, &t.ppo, cfg, eval_seed))));
            if done.exists() {
                results[index] = Some(read_json(&done)?);
            } else if let Some(hit) = cache.as_ref().filter(|c| c.exists()) {
                let mut result: CandidateResult = read_json(hit)?;
                result.id = t.id.clone();
                write_json(&done, &result)?;
                results[index] = Some(result);
                cached[index] = true;
            } else {
                let script = self.model.compile_reward(&format!("{}/reward.rhai", t.id), &t.source)?;
                write_atomic(&dir.join("reward.rhai"), t.source.as_bytes())?;
                jobs.push(Training { index, id: t.id.clone(), script, dir, ppo: t.ppo.clone(), nearest: None, cache, eval_seed, record_rollout: false });
            }
        }
        self.say(&format!("{what}: {} trainings ({} from the cache or earlier)", trainings.len(), trainings.len() - jobs.len()));
        for (index, result) in self.train_all(&jobs)? {
            results[index] = Some(result);
        }
        Ok((results, cached))
    }

    /// Trains the best reward and the env's baselines on `final_seeds` fresh seeds each.
    fn final_evaluation(&self, best: &str) -> Result<Option<FinalEvaluation>, SearchError> {
        let cfg = &self.run.search;
        if cfg.final_seeds == 0 {
            return Ok(None);
        }
        let mut rewards = vec![("best", best.to_owned())];
        for (name, file) in [("human", "human.rhai"), ("sparse", "sparse.rhai")] {
            let source = catalog::reward_script(&self.model.spec().id, file).map(|(_, source)| source);
            // A copy of a built-in env may have renamed variables: then it has no baseline.
            if let Some(source) = source.filter(|source| self.model.compile_reward(file, source).is_ok()) {
                rewards.push((name, source.to_owned()));
            }
        }
        let base = self.search_ppo();
        let eval_seed = derive_seed(FINAL_SEED, EVAL_STREAM);
        let base_ref = &base;
        let trainings: Vec<Retraining> = rewards
            .iter()
            .flat_map(|(name, source)| {
                (0..cfg.final_seeds).map(move |seed| Retraining {
                    id: format!("final/{name}/seed-{seed}"),
                    source: source.clone(),
                    ppo: PpoConfig { seed: derive_seed(FINAL_SEED, seed as u64), ..base_ref.clone() },
                })
            })
            .collect();
        let (flat, from_cache) = self.retrain("final evaluation", &trainings, eval_seed)?;
        let results: Vec<&[Option<CandidateResult>]> = flat.chunks(cfg.final_seeds).collect();
        let cached: Vec<usize> = from_cache.chunks(cfg.final_seeds).map(|c| c.iter().filter(|&&c| c).count()).collect();
        let entries: Vec<FinalEntry> = rewards
            .iter()
            .zip(&results)
            .zip(&cached)
            .map(|(((name, _), results), &cached)| {
                let per_seed: Vec<Option<f64>> = results.iter().map(|r| r.as_ref().and_then(|r| r.fitness)).collect();
                let (mean, std) = mean_std(&per_seed);
                FinalEntry { name: (*name).to_owned(), fitness_mean: mean, fitness_std: std, per_seed, cached }
            })
            .collect();
        let mean = |name: &str| entries.iter().find(|e| e.name == name).map(|e| e.fitness_mean).filter(|m| m.is_finite());
        let human_normalized_score = match (mean("best"), mean("human"), mean("sparse")) {
            (Some(best), Some(human), Some(sparse)) if human != sparse => Some((best - sparse) / (human - sparse).abs()),
            _ => None,
        };
        let hns_not_meaningful = hns_not_meaningful(&entries);
        Ok(Some(FinalEvaluation { seeds: cfg.final_seeds, steps: base.total_steps, entries, human_normalized_score, hns_not_meaningful }))
    }

    /// Indices of the trained candidates, best first.
    fn rank(&self, generation: usize, judged: &[Judged<'_>], task: &str, runtime: &tokio::runtime::Runtime) -> Result<Ranked, SearchError> {
        let cfg = &self.run.search;
        // Duplicates share their original's result: they are not candidates of their own.
        let mut scored: Vec<(usize, f64)> = judged
            .iter()
            .enumerate()
            .filter(|(_, j)| j.result.is_some_and(|r| r.duplicate_of.is_none()))
            .filter_map(|(i, j)| j.result.and_then(|r| r.fitness).map(|f| (i, f)))
            .collect();
        if cfg.feedback == FeedbackMode::Synthetic && cfg.pref_noise > 0.0 {
            let mut rng = ChaCha8Rng::seed_from_u64(derive_seed(derive_seed(cfg.seed, PREFERENCE_STREAM), generation as u64));
            let noise = Normal::new(0.0, cfg.pref_noise).expect("σ ≥ 0 is checked by validate");
            for (_, f) in &mut scored {
                *f += noise.sample(&mut rng);
            }
        }
        scored.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        let by_fitness: Vec<usize> = scored.into_iter().map(|(i, _)| i).collect();
        match cfg.feedback {
            FeedbackMode::Fitness => return Ok(Ranked::by(by_fitness, "fitness")),
            FeedbackMode::Synthetic => return Ok(Ranked::by(by_fitness, "synthetic preferences")),
            FeedbackMode::Hierarchy => {
                let values: Vec<&[f64]> = by_fitness.iter().map(|&i| judged[i].result.map_or(&[][..], |r| r.hierarchy.as_slice())).collect();
                let order = hierarchy_order(&values, cfg.hierarchy_margin);
                let source = format!("hierarchy ({})", cfg.hierarchy.join(" > "));
                return Ok(Ranked::by(order.into_iter().map(|k| by_fitness[k]).collect(), &source));
            }
            // One candidate or none: nothing to ask.
            FeedbackMode::Human | FeedbackMode::Vlm if by_fitness.len() < 2 => {
                return Ok(Ranked::by(by_fitness, "fitness (fewer than two candidates to rank)"));
            }
            FeedbackMode::Human | FeedbackMode::Vlm => {}
        }
        let index = |name: &str| judged.iter().position(|j| j.proposal.name == name).expect("checked against the request");
        let ranking = match cfg.feedback {
            FeedbackMode::Vlm => self.vlm_ranking(generation, judged, &by_fitness, task, runtime)?,
            _ => self.human_ranking(generation, judged, &by_fitness)?,
        };
        Ok(Ranked {
            order: ranking.order.iter().map(|name| index(name)).collect(),
            source: ranking.source,
            note: ranking.note,
            usage: ranking.vlm.map(|v| v.usage).unwrap_or_default(),
        })
    }

    /// Has the judge rank the generation's trained candidates by their pictures, recording what
    /// it was shown and said in `ranking.json`; an unusable answer leaves the generation ranked by
    /// fitness, recorded as such. A resumed run reads the ranking it wrote before.
    fn vlm_ranking(
        &self,
        generation: usize,
        judged: &[Judged<'_>],
        by_fitness: &[usize],
        task: &str,
        runtime: &tokio::runtime::Runtime,
    ) -> Result<ranking::Ranking, SearchError> {
        let judge = self.judge.ok_or_else(|| SearchError::Config("--feedback vlm needs a vision model (--vlm-model)".to_owned()))?;
        let mut in_order = by_fitness.to_vec();
        in_order.sort_unstable();
        let results: Vec<&CandidateResult> = in_order.iter().filter_map(|&i| judged[i].result).collect();
        let request = ranking::request(&self.out, generation, &results)?;
        if let Some(done) = ranking::read(&self.out, &request)? {
            return Ok(done);
        }
        let pictures: Vec<String> = request.candidates.iter().map(|c| format!("gen-{generation:02}/{c}/{VLM_PICTURE}")).collect();
        let shown = request
            .candidates
            .iter()
            .zip(&request.rollouts)
            .zip(&pictures)
            .map(|((name, rollout), picture)| Shown { name: name.clone(), rollout: self.out.join(rollout), picture: self.out.join(picture) })
            .collect();
        let asked = JudgeRequest { task: task.to_owned(), generation, candidates: shown };
        self.say(&format!("generation {generation}: asking the vision model to rank {}", request.candidates.join(", ")));
        match runtime.block_on(judge.rank_boxed(&asked)) {
            Ok(j) => {
                let record = VlmRecord { model: j.model, reply: Some(j.reply), error: None, pictures, requests: j.usage.requests, usage: j.usage };
                let done = ranking::write_with(&self.out, &request, j.order, "vlm", None, Some(record))?;
                self.say(&format!("generation {generation}: ranked by the vision model: {}", done.order.join(" > ")));
                Ok(done)
            }
            Err(JudgeError::Failed { message, reply, usage }) => {
                let order = by_fitness.iter().map(|&i| judged[i].proposal.name.clone()).collect();
                let model = self.run.search.vlm_model.clone().unwrap_or_default();
                let record = VlmRecord { model, reply, error: Some(message.clone()), pictures, requests: usage.requests, usage };
                self.say(&format!("generation {generation}: the vision model gave no ranking ({message}); ranked by fitness"));
                ranking::write_with(&self.out, &request, order, "fitness (no usable vision-model ranking)", None, Some(record))
            }
            Err(JudgeError::Cassette(message)) => Err(SearchError::Config(message)),
        }
    }

    /// Asks for a ranking of the generation's trained candidates and waits for it (or, past
    /// `rank_timeout_s`, ranks by fitness and says so in the ranking's source).
    fn human_ranking(&self, generation: usize, judged: &[Judged<'_>], by_fitness: &[usize]) -> Result<ranking::Ranking, SearchError> {
        let cfg = &self.run.search;
        let mut in_order = by_fitness.to_vec();
        in_order.sort_unstable();
        let results: Vec<&CandidateResult> = in_order.iter().filter_map(|&i| judged[i].result).collect();
        let request = ranking::request(&self.out, generation, &results)?;
        if let Some(done) = ranking::read(&self.out, &request)? {
            return Ok(done);
        }
        self.say(&format!(
            "generation {generation}: waiting for your ranking of {} (their evaluation episodes: {}). Watch them (`rewardsmith view {run} --gen {generation}`,              or replay the rollouts), then rank, most preferred first: rewardsmith rank {run} --gen {generation} --order {}",
            request.candidates.join(", "),
            request.rollouts.join(", "),
            request.candidates.iter().map(|c| c.trim_start_matches("cand-").parse::<usize>().map_or(c.clone(), |n| n.to_string())).collect::<Vec<_>>().join(","),
            run = self.out.display(),
        ));
        let started = Instant::now();
        loop {
            if let Some(done) = ranking::read(&self.out, &request)? {
                self.say(&format!("generation {generation}: ranked by {}: {}", done.source, done.order.join(" > ")));
                return Ok(done);
            }
            if let Some(limit) = cfg.rank_timeout_s.filter(|t| started.elapsed().as_secs_f64() >= *t) {
                let order = by_fitness.iter().map(|&i| judged[i].proposal.name.clone()).collect();
                let source = format!("fitness (no human ranking within {limit} s)");
                self.say(&format!("generation {generation}: no ranking within {limit} s; ranked by fitness"));
                return ranking::write(&self.out, &request, order, &source, None);
            }
            std::thread::sleep(RANK_POLL);
        }
    }
}

/// A generation's judged order and who judged it.
struct Ranked {
    /// Indices into the generation's candidates, most preferred first.
    order: Vec<usize>,
    /// Who ranked (`ranking.json`'s `source`).
    source: String,
    /// What the person said with it, for the next prompt.
    note: Option<String>,
    /// What the vision model's requests spent (nothing for other judges).
    usage: Usage,
}

impl Ranked {
    /// A ranking no model or person spent anything on.
    fn by(order: Vec<usize>, source: &str) -> Self {
        Self { order, source: source.to_owned(), note: None, usage: Usage::default() }
    }
}

/// A candidate script's name in messages: relative to the run directory, so that errors (which
/// reach the next prompt) do not depend on where the run lies, and a replay asks the same.
fn script_name(generation: usize, candidate: &str) -> String {
    format!("gen-{generation:02}/{candidate}/reward.rhai")
}

/// Mean and population standard deviation of the values present (NaN when none is).
fn mean_std(values: &[Option<f64>]) -> (f64, f64) {
    let ok: Vec<f64> = values.iter().flatten().copied().collect();
    let n = ok.len() as f64;
    let mean = ok.iter().sum::<f64>() / n;
    (mean, (ok.iter().map(|f| (f - mean) * (f - mean)).sum::<f64>() / n).sqrt())
}

/// The trained candidates (id, fitness, script), best fitness first, ties by id.
fn best_first(all: &[(String, f64, String)]) -> Vec<&(String, f64, String)> {
    let mut ranked: Vec<&(String, f64, String)> = all.iter().collect();
    ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    ranked
}

/// What the prompt's task says of a hierarchy: the signals in order and how they decide.
fn hierarchy_statement(levels: &[String], margin: f64) -> String {
    let list: Vec<String> = levels.iter().enumerate().map(|(i, l)| format!("{}. `{l}`", i + 1)).collect();
    format!(
        "\n\nWhat matters, most important first (each a per-step value averaged over an episode, higher is better): {}. \
         Policies are compared on the first; the next decides only where they are within {:.0}% of the first's spread.",
        list.join("; "),
        margin * 100.0
    )
}

/// The order of candidates by a hierarchy of values (`values[c][level]`, higher better): a pair
/// is decided by the first level on which they differ by more than `margin` × that level's
/// spread over all candidates; a candidate's rank is its number of pairs won (Copeland), since
/// "within the margin" is not transitive and a sort needs a consistent order. Ties keep the
/// given order.
fn hierarchy_order(values: &[&[f64]], margin: f64) -> Vec<usize> {
    let levels = values.iter().map(|v| v.len()).min().unwrap_or(0);
    let spread: Vec<f64> = (0..levels)
        .map(|l| {
            let (lo, hi) = values.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| (lo.min(v[l]), hi.max(v[l])));
            hi - lo
        })
        .collect();
    let beats = |a: &[f64], b: &[f64]| (0..levels).find(|&l| (a[l] - b[l]).abs() > margin * spread[l]).is_some_and(|l| a[l] > b[l]);
    let wins: Vec<usize> = (0..values.len()).map(|a| (0..values.len()).filter(|&b| b != a && beats(values[a], values[b])).count()).collect();
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by(|&a, &b| wins[b].cmp(&wins[a]).then(a.cmp(&b)));
    order
}

/// The parents with `--feedback fitness`, where fitness is the judge and compares across
/// generations: the ids of the best [`ELITES`] trained candidates so far.
fn fittest(all: &[(String, f64, String)]) -> Vec<String> {
    best_first(all).into_iter().take(ELITES).map(|(id, _, _)| id.clone()).collect()
}

/// The parents in the preference modes, where a ranking orders one generation only: the judged
/// best [`ELITES`] of the latest generation that ranked any, then the top choice of each
/// earlier generation, latest first (a person's earlier favourites stay eligible). The offline
/// proposer gives parent i mod their number the i-th child, so the latest top choice breeds
/// most.
fn judged_parents(orders: &[Vec<String>]) -> Vec<String> {
    let mut ranked = orders.iter().rev().filter(|order| !order.is_empty());
    let mut parents: Vec<String> = ranked.next().map(|latest| latest.iter().take(ELITES).cloned().collect()).unwrap_or_default();
    for earlier in ranked {
        if !parents.contains(&earlier[0]) {
            parents.push(earlier[0].clone());
        }
    }
    parents
}

/// Who a generation's candidates descend from, by candidate id.
struct Lineage {
    /// The ids of the context's parents, in order.
    parent_ids: Vec<String>,
    /// The judged best of each earlier generation: the scripts an LLM's prompt shows.
    shown: Vec<String>,
}

impl Lineage {
    /// A candidate's parents: the ones its proposer names (indices into the context's parents),
    /// else the scripts its prompt showed (an LLM's; none in generation 0).
    fn of(&self, indices: &[usize]) -> Vec<String> {
        if indices.is_empty() { self.shown.clone() } else { indices.iter().filter_map(|&i| self.parent_ids.get(i).cloned()).collect() }
    }
}

fn write_candidate_files(dir: &Path, proposal: &Proposal) -> Result<(), SearchError> {
    if let Some(script) = &proposal.script {
        write_atomic(&dir.join("reward.rhai"), script.as_bytes())?;
    }
    if let Some(reply) = &proposal.reply {
        write_atomic(&dir.join("reply.md"), reply.as_bytes())?;
    }
    write_json(&dir.join("critic.json"), &proposal.critic)
}

/// The cache key of a training: a hash of everything its result depends on (the thread count
/// aside, which changes nothing).
fn cache_key(model: &EnvModel, script: &str, ppo: &PpoConfig, cfg: &SearchConfig, eval_seed: u64) -> String {
    use sha2::{Digest, Sha256};
    let key = serde_json::json!({
        "format": CACHE_FORMAT,
        "rewardsmith": env!("CARGO_PKG_VERSION"),
        "env": model.hash(),
        "script": script,
        "ppo": PpoConfig { threads: 0, ..ppo.clone() },
        "eval": { "seeds": cfg.eval_seeds, "episodes": cfg.eval_episodes, "seed": eval_seed },
    });
    Sha256::digest(key.to_string().as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn order(ids: &[&str]) -> Vec<String> {
        ids.iter().map(|id| id.to_string()).collect()
    }

    #[test]
    fn preference_parents_are_the_latest_top_two_then_each_earlier_top_choice() {
        let orders = vec![order(&["g0/c2", "g0/c0"]), order(&[]), order(&["g2/c1", "g2/c3", "g2/c0"])];
        assert_eq!(judged_parents(&orders), ["g2/c1", "g2/c3", "g0/c2"]);
        // A generation with nothing ranked passes the turn to the one before.
        assert_eq!(judged_parents(&[order(&["g0/c1", "g0/c0"]), order(&[])]), ["g0/c1", "g0/c0"]);
        assert!(judged_parents(&[]).is_empty());
    }

    fn entry(name: &str, per_seed: &[f64]) -> FinalEntry {
        let per_seed: Vec<Option<f64>> = per_seed.iter().map(|f| Some(*f)).collect();
        let (fitness_mean, fitness_std) = mean_std(&per_seed);
        FinalEntry { name: name.into(), fitness_mean, fitness_std, per_seed, cached: 0 }
    }

    #[test]
    fn the_hns_is_not_meaningful_when_human_and_sparse_are_within_either_spread() {
        // A gap of 0.27 above both spreads (0.06, 0.10); then one of 22 below a spread of 30.
        let apart = [entry("best", &[0.0]), entry("human", &[0.1, 0.2, 0.25]), entry("sparse", &[-0.2, -0.05, 0.05])];
        assert_eq!(hns_not_meaningful(&apart), None);
        let alike = [entry("best", &[490.0]), entry("human", &[500.0, 500.0]), entry("sparse", &[448.0, 508.0])];
        let why = hns_not_meaningful(&alike).expect("22 apart, sparse spreads 30");
        assert!(why.starts_with("human 500.000 ± 0.000, sparse 478.000 ± 30.000"), "{why}");
        let eval = FinalEvaluation { seeds: 2, steps: 1, entries: alike.to_vec(), human_normalized_score: Some(0.5), hns_not_meaningful: Some(why) };
        assert!(eval.hns_text().unwrap().starts_with("HNS not meaningful: human and sparse score alike (human 500.000"));
        assert!(hns_not_meaningful(&apart[..2]).is_none(), "no sparse baseline: nothing to say");
    }

    #[test]
    fn a_lower_level_decides_only_where_the_higher_ones_are_within_the_margin() {
        // Level 1 spreads 0..1: candidates 0 and 2 are within 0.1 of each other there, so level 2
        // orders them; candidate 1 loses on level 1 whatever its level 2.
        let values: [&[f64]; 3] = [&[0.95, 0.0], &[0.0, 9.0], &[1.0, -5.0]];
        assert_eq!(hierarchy_order(&values, 0.1), [0, 2, 1]);
        // With no margin, level 1 alone decides.
        assert_eq!(hierarchy_order(&values, 0.0), [2, 0, 1]);
        // A level that is the same for all passes every decision on.
        let flat: [&[f64]; 3] = [&[1.0, 0.2], &[1.0, 0.9], &[1.0, 0.5]];
        assert_eq!(hierarchy_order(&flat, 0.1), [1, 2, 0]);
    }

    #[test]
    fn a_candidate_descends_from_the_parents_its_proposer_names_else_from_what_its_prompt_showed() {
        let lineage = Lineage { parent_ids: vec!["g1/c0".into(), "g0/c2".into()], shown: vec!["g0/c2".into(), "g1/c0".into()] };
        assert_eq!(lineage.of(&[1, 0]), ["g0/c2", "g1/c0"]);
        assert_eq!(lineage.of(&[]), lineage.shown, "an LLM's candidate");
    }
}
