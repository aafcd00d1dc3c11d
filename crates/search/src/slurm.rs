//! The Slurm executor: each batch of trainings is one `sbatch --array`, whose tasks run
//! `rewardsmith slurm-task BATCH.json` (one training each, into its folder of the run directory)
//! on whichever nodes Slurm picks. Polled with `squeue` and `scontrol`, never `sacct` (it needs
//! slurmdbd, which small clusters lack). The run directory must be on a filesystem the nodes
//! share: tasks read their batch file from it and write their results into it.
//!
//! ```text
//! slurm/batch-NNN.json      the batch: the run directory and each task's training
//! slurm/batch-NNN.sh        the script given to sbatch
//! slurm/batch-NNN.job       the job id sbatch answered (a resumed search adopts a running job)
//! slurm/batch-NNN-T.out     task T's stdout and stderr
//! gen-NN/cand-KK/task-result.json   what task T trained (the search then writes result.json)
//! ```
//!
//! A task that fails, is cancelled or passes its time limit is a failed candidate with Slurm's
//! state and reason; the search goes on. Every client command has a time limit: with the
//! controller down they hang (about 10 s each, then retry), and a search must end with an error
//! that says so, its run directory resumable.

use crate::error::SearchError;
use crate::execute::{Executor, Finished, Shared, Training};
use crate::record::{CandidateResult, TASK_RESULT, read_json, read_json_if_present, write_atomic, write_json};
use rewardsmith_ppo::config::PpoConfig;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How the search reaches Slurm.
#[derive(Debug, Clone, PartialEq)]
pub struct SlurmConfig {
    /// The `rewardsmith` binary the tasks run (a path the nodes can run: on the shared
    /// filesystem, or installed at the same path on every node).
    pub binary: PathBuf,
    /// The run directory (absolute: tasks start in Slurm's working directory).
    pub run_dir: PathBuf,
    /// `--partition` for sbatch (None: the cluster's default partition).
    pub partition: Option<String>,
    /// More sbatch arguments, passed through (e.g. `--gres=gpu:1 --time=30`).
    pub sbatch_args: Vec<String>,
    /// Seconds between two `squeue` polls. Default 1.
    pub poll_s: f64,
    /// Seconds a Slurm client command may take before the controller counts as unreachable.
    /// Default 20 (a client retries an unreachable controller for about 10 s).
    pub command_timeout_s: f64,
}

impl SlurmConfig {
    /// Defaults for everything but where the binary and the run directory are.
    pub fn new(binary: PathBuf, run_dir: PathBuf) -> Self {
        Self { binary, run_dir, partition: None, sbatch_args: Vec::new(), poll_s: 1.0, command_timeout_s: 20.0 }
    }
}

/// One task of a batch: a training, as the task rebuilds it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Task {
    /// `gen-NN/cand-KK` or `final/NAME/seed-S`.
    pub id: String,
    /// Its folder (absolute).
    pub dir: PathBuf,
    /// The script's name (for error locations) and source.
    pub script_name: String,
    /// The script.
    pub source: String,
    /// The PPO settings (threads are the task's CPUs).
    pub ppo: PpoConfig,
    /// Seed of the evaluation seeds.
    pub eval_seed: u64,
    /// Record `eval.rollout` and evaluate the hierarchy's levels (a generation's candidates).
    pub record_rollout: bool,
}

/// `slurm/batch-NNN.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Batch {
    /// The run directory (its `run.toml` says the env and the search settings).
    pub run_dir: PathBuf,
    /// Task i of the array trains `tasks[i]`.
    pub tasks: Vec<Task>,
}

/// `slurm/batch-NNN.job`: the array job a batch became.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct JobFile {
    job_id: String,
}

/// Trainings as tasks of Slurm array jobs.
#[derive(Debug, Clone)]
pub struct SlurmExecutor {
    config: SlurmConfig,
}

impl SlurmExecutor {
    /// Checks that Slurm answers (`sinfo`) and that the partition exists before anything is
    /// trained: a typo must not cost a generation.
    pub fn new(config: SlurmConfig) -> Result<Self, SearchError> {
        if !config.run_dir.is_absolute() {
            return Err(SearchError::Slurm(format!("the run directory must be an absolute path for tasks on other nodes: {}", config.run_dir.display())));
        }
        let executor = Self { config };
        let mut sinfo = vec!["-h".to_owned(), "-o".to_owned(), "%P".to_owned()];
        if let Some(p) = &executor.config.partition {
            sinfo.extend(["-p".to_owned(), p.clone()]);
        }
        let partitions = executor.client("sinfo", &sinfo)?;
        if let Some(p) = &executor.config.partition
            && partitions.trim().is_empty()
        {
            return Err(SearchError::Slurm(format!("Slurm has no partition {p} (sinfo lists none of that name)")));
        }
        Ok(executor)
    }

    /// Runs a Slurm client command with the time limit; its stdout, or an error that says what
    /// failed and how.
    fn client(&self, program: &str, args: &[String]) -> Result<String, SearchError> {
        let shown = format!("{program} {}", args.join(" "));
        let mut child = Command::new(program)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| SearchError::Slurm(format!("cannot run {program}: {e} (is Slurm installed, and SLURM_CONF set where it needs to be?)")))?;
        let limit = Duration::from_secs_f64(self.config.command_timeout_s);
        let started = Instant::now();
        // Read both pipes on threads: a full pipe would block the child before it exits.
        let mut stdout = child.stdout.take().expect("piped");
        let mut stderr = child.stderr.take().expect("piped");
        let out = std::thread::spawn(move || {
            let mut s = String::new();
            let _ = stdout.read_to_string(&mut s);
            s
        });
        let err = std::thread::spawn(move || {
            let mut s = String::new();
            let _ = stderr.read_to_string(&mut s);
            s
        });
        let status = loop {
            if let Some(status) = child.try_wait().map_err(|e| SearchError::Slurm(format!("{shown}: {e}")))? {
                break status;
            }
            if started.elapsed() > limit {
                let _ = child.kill();
                let _ = child.wait();
                return Err(unreachable(&shown, &format!("it took more than {:.0} s", limit.as_secs_f64())));
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let (out, err) = (out.join().unwrap_or_default(), err.join().unwrap_or_default());
        if !status.success() {
            let said = if err.trim().is_empty() { out.trim() } else { err.trim() };
            if said.contains("Unable to contact slurm controller") {
                return Err(unreachable(&shown, said));
            }
            return Err(SearchError::Slurm(format!("`{shown}` failed ({status}): {said}")));
        }
        Ok(out)
    }

    /// The next free batch number in `slurm/`.
    fn next_batch(&self) -> usize {
        let dir = self.config.run_dir.join("slurm");
        let taken = std::fs::read_dir(&dir)
            .map(|entries| {
                entries
                    .flatten()
                    .filter_map(|e| e.file_name().to_str().and_then(|n| n.strip_prefix("batch-")?.strip_suffix(".json")?.parse::<usize>().ok()))
                    .max()
            })
            .ok()
            .flatten();
        taken.map_or(0, |n| n + 1)
    }

    /// Submits `trainings` as one array job; its id.
    fn submit(&self, trainings: &[&Training]) -> Result<(String, PathBuf), SearchError> {
        let slurm_dir = self.config.run_dir.join("slurm");
        let stem = slurm_dir.join(format!("batch-{:03}", self.next_batch()));
        // Tasks start in the run directory, not in this process's working directory.
        let absolute = |dir: &Path| std::path::absolute(dir).map_err(|e| SearchError::Io { path: dir.display().to_string(), source: e });
        let batch = Batch {
            run_dir: self.config.run_dir.clone(),
            tasks: trainings
                .iter()
                .map(|t| {
                    Ok(Task {
                        id: t.id.clone(),
                        dir: absolute(&t.dir)?,
                        script_name: t.script.name().to_owned(),
                        source: t.script.source().to_owned(),
                        ppo: t.ppo.clone(),
                        eval_seed: t.eval_seed,
                        record_rollout: t.record_rollout,
                    })
                })
                .collect::<Result<_, SearchError>>()?,
        };
        let batch_path = stem.with_extension("json");
        write_json(&batch_path, &batch)?;
        let script = format!(
            "#!/bin/sh\n# rewardsmith: one training per array task (see {batch})\nexec {binary} slurm-task {batch}\n",
            binary = shlex::try_quote(&self.config.binary.to_string_lossy()).map_err(|e| SearchError::Slurm(e.to_string()))?,
            batch = shlex::try_quote(&batch_path.to_string_lossy()).map_err(|e| SearchError::Slurm(e.to_string()))?,
        );
        let script_path = stem.with_extension("sh");
        write_atomic(&script_path, script.as_bytes())?;
        let mut args = vec![
            "--parsable".to_owned(),
            format!("--array=0-{}", trainings.len() - 1),
            "--job-name=rewardsmith".to_owned(),
            format!("--output={}-%a.out", stem.display()),
            format!("--chdir={}", self.config.run_dir.display()),
        ];
        if let Some(p) = &self.config.partition {
            args.push(format!("--partition={p}"));
        }
        args.extend(self.config.sbatch_args.iter().cloned());
        args.push(script_path.display().to_string());
        let answer = self.client("sbatch", &args)?;
        // `--parsable` answers `ID` or `ID;CLUSTER`.
        let job_id = answer.trim().split(';').next().unwrap_or("").to_owned();
        if job_id.is_empty() || !job_id.chars().all(|c| c.is_ascii_digit()) {
            return Err(SearchError::Slurm(format!("sbatch answered {answer:?}, not a job id")));
        }
        write_json(&stem.with_extension("job"), &JobFile { job_id: job_id.clone() })?;
        Ok((job_id, stem))
    }

    /// Batches of earlier runs of this search whose job still has tasks pending or running:
    /// (job id, stem, batch).
    fn running_batches(&self) -> Result<Vec<(String, PathBuf, Batch)>, SearchError> {
        let dir = self.config.run_dir.join("slurm");
        let Ok(entries) = std::fs::read_dir(&dir) else {
            return Ok(Vec::new());
        };
        let mut stems: Vec<PathBuf> = entries.flatten().map(|e| e.path()).filter(|p| p.extension().is_some_and(|e| e == "job")).collect();
        stems.sort();
        let mut found = Vec::new();
        for job_path in stems {
            let job: JobFile = read_json(&job_path)?;
            let stem = job_path.with_extension("");
            let batch: Batch = read_json(&stem.with_extension("json"))?;
            if !self.active(&job.job_id)?.is_empty() {
                found.push((job.job_id, stem, batch));
            }
        }
        Ok(found)
    }

    /// The array tasks of `job_id` still pending or running: task index → state.
    fn active(&self, job_id: &str) -> Result<BTreeMap<usize, String>, SearchError> {
        let args = ["-h", "-r", "-j", job_id, "-o", "%i|%T"].map(str::to_owned);
        // A controller that restarts (or a network blip) is waited for a while, not fatal.
        let first_failure = Instant::now();
        let listed = loop {
            match self.client("squeue", &args) {
                Ok(listed) => break listed,
                // A job the controller has forgotten (past MinJobAge) has no task left to wait for.
                Err(SearchError::Slurm(message)) if message.contains("Invalid job id") => break String::new(),
                Err(SearchError::Slurm(message))
                    if message.starts_with(UNREACHABLE) && first_failure.elapsed().as_secs_f64() < self.config.command_timeout_s =>
                {
                    std::thread::sleep(Duration::from_secs_f64(self.config.poll_s));
                }
                Err(e) => return Err(e),
            }
        };
        Ok(listed
            .lines()
            .filter_map(|line| {
                let (id, state) = line.trim().split_once('|')?;
                let task = id.strip_prefix(job_id)?.strip_prefix('_')?.parse().ok()?;
                Some((task, state.to_owned()))
            })
            .collect())
    }

    /// Why task `task` of `job_id` left no result: Slurm's state and reason (from `scontrol`),
    /// and the end of its output.
    fn failure(&self, job_id: &str, task: usize, stem: &Path) -> String {
        let name = stem.file_name().map_or(String::new(), |n| n.to_string_lossy().into_owned());
        let log = stem.with_file_name(format!("{name}-{task}.out"));
        let record = self.client("scontrol", &["-o".to_owned(), "show".to_owned(), "job".to_owned(), format!("{job_id}_{task}")]);
        let Ok(record) = record else {
            // Slurm keeps no record of an array task removed before it was split from the
            // pending array.
            return format!("Slurm task {job_id}_{task} was cancelled or removed before it started (Slurm has no record of it)");
        };
        let field = |name: &str| record.split_whitespace().find_map(|w| w.strip_prefix(name)).unwrap_or("?").to_owned();
        let state = format!("Slurm task {job_id}_{task} ended {} (reason {}, exit code {})", field("JobState="), field("Reason="), field("ExitCode="));
        match std::fs::read_to_string(&log) {
            Ok(text) => {
                let mut tail: Vec<&str> = text.lines().rev().take(5).collect();
                tail.reverse();
                if tail.is_empty() { state } else { format!("{state}; its output ends: {}", tail.join(" / ")) }
            }
            Err(_) => format!(
                "{state}; it wrote nothing under {} (no {}): is the run directory on a filesystem the nodes share, and writable from them?",
                self.config.run_dir.display(),
                log.display()
            ),
        }
    }

    /// Waits for the tasks of `job_id` (task index → training), handing each result over as it
    /// ends.
    fn wait(&self, job_id: &str, stem: &Path, mut tasks: BTreeMap<usize, &Training>, finished: &Finished) -> Result<(), SearchError> {
        let poll = Duration::from_secs_f64(self.config.poll_s);
        while !tasks.is_empty() {
            let active = self.active(job_id)?;
            let ended: Vec<usize> = tasks.keys().copied().filter(|t| !active.contains_key(t)).collect();
            for task in ended {
                let training = tasks.remove(&task).expect("listed");
                let result = match read_json_if_present::<CandidateResult>(&training.dir.join(TASK_RESULT))? {
                    Some(result) => result,
                    None => failed(training, &self.failure(job_id, task, stem)),
                };
                finished(training, result)?;
            }
            if !tasks.is_empty() {
                std::thread::sleep(poll);
            }
        }
        Ok(())
    }
}

/// How an unreachable controller's error starts.
const UNREACHABLE: &str = "the Slurm controller does not answer";

/// The error of a client command that could not reach the controller: what to do about it.
fn unreachable(command: &str, why: &str) -> SearchError {
    SearchError::Slurm(format!(
        "{UNREACHABLE}: `{command}`: {why}. The run directory is resumable with --resume once it is back; tasks still running go on and are adopted then."
    ))
}

/// A failed candidate: a task that ended without a result.
fn failed(training: &Training, why: &str) -> CandidateResult {
    CandidateResult { status: "failed".to_owned(), error: Some(why.to_owned()), ..CandidateResult::new(&training.id) }
}

impl Executor for SlurmExecutor {
    fn run(&self, shared: &Shared<'_>, trainings: &[Training], finished: &Finished) -> Result<(), SearchError> {
        if trainings.is_empty() {
            return Ok(());
        }
        // A resumed search adopts the tasks of its earlier jobs that still run, instead of
        // training them twice.
        let mut left: Vec<&Training> = trainings.iter().collect();
        for (job_id, stem, batch) in self.running_batches()? {
            let mut adopted = BTreeMap::new();
            for (task, spec) in batch.tasks.iter().enumerate() {
                if let Some(i) = left.iter().position(|t| std::path::absolute(&t.dir).is_ok_and(|d| d == spec.dir) && t.script.source() == spec.source) {
                    adopted.insert(task, left.remove(i));
                }
            }
            if !adopted.is_empty() {
                (shared.events)(crate::execute::Event::Line(&format!("adopting {} running task(s) of Slurm job {job_id}", adopted.len())));
                self.wait(&job_id, &stem, adopted, finished)?;
            }
        }
        if left.is_empty() {
            return Ok(());
        }
        let (job_id, stem) = self.submit(&left)?;
        (shared.events)(crate::execute::Event::Line(&format!("Slurm job {job_id}: {} task(s)", left.len())));
        self.wait(&job_id, &stem, left.into_iter().enumerate().collect(), finished)
    }
}

/// What `rewardsmith slurm-task` does for array task `task` of `batch`: trains it into its
/// folder and writes `task-result.json` (a failed training is a result too).
pub fn run_task(shared: &Shared<'_>, batch: &Batch, task: usize, threads: usize) -> Result<(), SearchError> {
    let spec = batch.tasks.get(task).ok_or_else(|| SearchError::Slurm(format!("the batch has {} tasks, not task {task}", batch.tasks.len())))?;
    let script = shared.model.compile_reward(&spec.script_name, &spec.source)?;
    let training = Training {
        index: task,
        id: spec.id.clone(),
        script,
        dir: spec.dir.clone(),
        ppo: spec.ppo.clone(),
        nearest: None,
        cache: None,
        eval_seed: spec.eval_seed,
        record_rollout: spec.record_rollout,
    };
    let result = shared.train_one(&training, threads);
    write_json(&spec.dir.join(TASK_RESULT), &result)
}
