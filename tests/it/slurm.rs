//! `search --executor slurm` against a real single-node Slurm on loopback
//! (`scripts/slurm-local.sh start`, which CI runs first). Where no Slurm answers these tests say
//! so and pass, unless `REWARDSMITH_REQUIRE_SLURM_TESTS=1` (set by CI) makes that a failure.

use crate::search::{SMALL, json, results};
use crate::support::{rewardsmith_with_env, text};
use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Where `scripts/slurm-local.sh` keeps the cluster's files by default.
const LOCAL_CLUSTER_CONF: &str = "/tmp/rewardsmith-slurm/slurm.conf";

/// One Slurm test at a time: one of them stops the controller.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// `SLURM_CONF` of a cluster that answers `sinfo`, else None (after saying why, or failing where
/// Slurm is required).
fn slurm() -> Option<String> {
    let conf = std::env::var("SLURM_CONF").ok().or_else(|| Path::new(LOCAL_CLUSTER_CONF).exists().then(|| LOCAL_CLUSTER_CONF.to_owned()));
    let why = match &conf {
        None => "no SLURM_CONF and no cluster of scripts/slurm-local.sh".to_owned(),
        Some(conf) => match Command::new("timeout").args(["20", "sinfo", "-h"]).env("SLURM_CONF", conf).output() {
            Ok(o) if o.status.success() => return Some(conf.clone()),
            Ok(o) => format!("sinfo failed: {}", String::from_utf8_lossy(&o.stderr).trim()),
            Err(e) => format!("sinfo cannot run: {e}"),
        },
    };
    assert!(std::env::var_os("REWARDSMITH_REQUIRE_SLURM_TESTS").is_none(), "Slurm is required here, but {why} (start one with scripts/slurm-local.sh start)");
    eprintln!("skipped: {why} (start one with scripts/slurm-local.sh start)");
    None
}

/// One generation of two candidates, no confirmation or final evaluation: a search that ends soon
/// after its first batch.
const ONE_GENERATION: [&str; 19] = [
    "search",
    "--env",
    "pendulum",
    "-k",
    "2",
    "--generations",
    "1",
    "--eval-episodes",
    "2",
    "--eval-seeds",
    "2",
    "--final-seeds",
    "0",
    "--no-cache",
    "--no-gif",
    "--executor",
    "slurm",
    "--out",
    "run",
];

fn one_at_a_time() -> MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner())
}

/// A small search on Slurm in `dir` (absolute: the tasks run elsewhere).
fn search_on_slurm(dir: &Path, conf: &str, extra: &[&str]) -> std::process::Output {
    rewardsmith_with_env(dir, &[&SMALL[..], &["2", "--executor", "slurm"], extra].concat(), &[("SLURM_CONF", conf)])
}

/// Every training id submitted in the run's batches, with repeats.
fn submitted(run: &Path) -> Vec<String> {
    let mut ids = Vec::new();
    for entry in fs::read_dir(run.join("slurm")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "json") {
            for task in json(&path)["tasks"].as_array().unwrap() {
                ids.push(task["id"].as_str().unwrap().to_owned());
            }
        }
    }
    ids
}

fn temp_dir() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

#[test]
fn a_search_on_slurm_ends_where_the_local_search_ends() {
    let _one = one_at_a_time();
    let Some(conf) = slurm() else { return };
    let dir = temp_dir();
    let o = search_on_slurm(dir.path(), &conf, &["--out", "slurm"]);
    assert!(o.status.success(), "{}{}", text(&o).0, text(&o).1);
    let o = rewardsmith_with_env(dir.path(), &[&SMALL[..], &["2", "--out", "local"]].concat(), &[]);
    assert!(o.status.success(), "{}", text(&o).1);
    assert_eq!(results(&dir.path().join("local")), results(&dir.path().join("slurm")));
    for candidate in ["gen-00/cand-00", "gen-01/cand-01"] {
        let policy = |run: &str| fs::read(dir.path().join(run).join(candidate).join("policy.safetensors")).unwrap();
        assert!(policy("local") == policy("slurm"), "{candidate}: the policies differ");
    }
    // Each training ran once, as a Slurm task.
    let ids = submitted(&dir.path().join("slurm"));
    assert_eq!(ids.iter().collect::<BTreeSet<_>>().len(), ids.len(), "{ids:?}");
    assert!(ids.contains(&"gen-00/cand-00".to_owned()), "{ids:?}");
}

/// Waits until `path` exists (a minute at most).
fn wait_for(path: &Path) {
    let started = Instant::now();
    while !path.exists() {
        assert!(started.elapsed() < Duration::from_secs(60), "{} did not appear", path.display());
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// The job id of a run's first batch, once submitted.
fn first_job(run: &Path) -> String {
    let job = run.join("slurm/batch-000.job");
    wait_for(&job);
    // Written atomically: complete once it exists.
    json(&job)["job_id"].as_str().unwrap().to_owned()
}

fn spawn_on_slurm(dir: &Path, conf: &str, args: &[&str]) -> std::process::Child {
    Command::new(env!("CARGO_BIN_EXE_rewardsmith"))
        .args(args)
        .current_dir(dir)
        .env("SLURM_CONF", conf)
        .env("REWARDSMITH_CACHE", dir.join("cache"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

#[test]
fn a_cancelled_task_is_a_failed_candidate_and_the_search_goes_on() {
    let _one = one_at_a_time();
    let Some(conf) = slurm() else { return };
    let dir = temp_dir();
    // Long enough trainings that the cancel lands while the task is pending or running.
    let args = [&ONE_GENERATION[..], &["--steps", "40000"]].concat();
    let mut child = spawn_on_slurm(dir.path(), &conf, &args);
    let job = first_job(&dir.path().join("run"));
    let o = Command::new("scancel").arg(format!("{job}_0")).env("SLURM_CONF", &conf).output().unwrap();
    assert!(o.status.success(), "{}", text(&o).1);
    assert!(child.wait().unwrap().success(), "the search went on to its end");
    let cancelled = json(&dir.path().join("run/gen-00/cand-00/result.json"));
    assert_eq!(cancelled["status"], "failed", "{cancelled}");
    assert!(cancelled["error"].as_str().unwrap().to_lowercase().contains("cancel"), "{cancelled}");
    let other = json(&dir.path().join("run/gen-00/cand-01/result.json"));
    assert_eq!(other["status"], "trained", "{other}");
}

#[test]
fn a_search_killed_mid_generation_adopts_its_running_tasks_on_resume() {
    let _one = one_at_a_time();
    let Some(conf) = slurm() else { return };
    let dir = temp_dir();
    let run: PathBuf = dir.path().join("run");
    // Trainings long enough to be still running when the search is killed and resumed.
    let args = [&ONE_GENERATION[..], &["--steps", "40000"]].concat();
    let mut child = spawn_on_slurm(dir.path(), &conf, &args);
    first_job(&run);
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(!run.join("gen-00/generation.json").exists(), "killed before the generation ended");
    let o = rewardsmith_with_env(dir.path(), &["search", "--resume", "run", "--no-cache", "--no-gif", "--executor", "slurm"], &[("SLURM_CONF", &conf)]);
    assert!(o.status.success(), "{}", text(&o).1);
    assert!(run.join("summary.json").is_file());
    let (stdout, stderr) = text(&o);
    assert!(stdout.contains("adopting 2 running task(s) of Slurm job") || stderr.contains("adopting 2 running task(s) of Slurm job"), "{stdout}{stderr}");
    // Nothing trained twice: the first batch's tasks were adopted (or their results picked up),
    // never submitted again.
    let ids = submitted(&run);
    assert_eq!(ids.iter().collect::<BTreeSet<_>>().len(), ids.len(), "{ids:?}");
}

#[test]
fn a_controller_that_stops_mid_search_is_a_clear_error_and_the_run_resumes() {
    let _one = one_at_a_time();
    let Some(conf) = slurm() else { return };
    let Some(pid_file) = Path::new(&conf).parent().map(|d| d.join("run/slurmctld.pid")).filter(|p| p.exists()) else {
        eprintln!("skipped: the controller is not one of scripts/slurm-local.sh (no run/slurmctld.pid beside {conf})");
        return;
    };
    let dir = temp_dir();
    let run = dir.path().join("run");
    let args = [&ONE_GENERATION[..], &["--steps", "40000"]].concat();
    let child = Command::new(env!("CARGO_BIN_EXE_rewardsmith"))
        .args(&args)
        .current_dir(dir.path())
        .env("SLURM_CONF", &conf)
        .env("REWARDSMITH_CACHE", dir.path().join("cache"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    first_job(&run);
    let pid = fs::read_to_string(&pid_file).unwrap();
    let killed = Command::new("kill").arg(pid.trim()).status().unwrap();
    let o = child.wait_with_output().unwrap();
    // Back before any assertion can fail, for the tests that follow.
    let restarted = Command::new(crate::support::repo().join("scripts/slurm-local.sh")).arg("start").env("SLURM_CONF", &conf).output().unwrap();
    assert!(killed.success() && restarted.status.success(), "{}", text(&restarted).1);
    assert!(!o.status.success(), "the search cannot go on without its controller");
    let (stdout, stderr) = text(&o);
    assert!(stderr.contains("controller") && stderr.contains("--resume"), "{stdout}{stderr}");
    let o = rewardsmith_with_env(dir.path(), &["search", "--resume", "run", "--no-cache", "--no-gif", "--executor", "slurm"], &[("SLURM_CONF", &conf)]);
    assert!(o.status.success(), "{}", text(&o).1);
    assert!(run.join("summary.json").is_file());
}
