//! `rewardsmith replay FILE|DIR… [--junit F]`: re-simulate rollouts and compare bit for bit.

use anyhow::{Context, Result};
use rewardsmith_sim::rollout::{self, Rollout};
use rewardsmith_sim::{Env, EnvModel, SimError};
use rewardsmith_spec::catalog::matching as env_matching;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

/// Arguments of `replay`.
#[derive(clap::Args)]
pub struct Args {
    /// Rollout files, or directories searched recursively for `*.rollout` files.
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    /// Write a JUnit XML report here (one test case per rollout).
    #[arg(long)]
    junit: Option<PathBuf>,
    /// Replay against this env file instead of the one the rollout names.
    #[arg(long)]
    env: Option<String>,
}

/// The outcome of replaying one file.
struct Case {
    path: String,
    seconds: f64,
    result: Result<String, String>,
}

pub fn run(args: Args) -> Result<ExitCode> {
    let mut files = Vec::new();
    for path in &args.paths {
        collect(path, &mut files)?;
    }
    if files.is_empty() {
        anyhow::bail!("no .rollout files found in {}", args.paths.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", "));
    }
    let mut cases = Vec::new();
    for file in &files {
        let start = Instant::now();
        let result = replay_file(file, args.env.as_deref());
        let case = Case { path: file.display().to_string(), seconds: start.elapsed().as_secs_f64(), result };
        match &case.result {
            Ok(summary) => println!("ok    {}  {summary}", case.path),
            Err(why) => println!("FAIL  {}  {why}", case.path),
        }
        cases.push(case);
    }
    let failed = cases.iter().filter(|c| c.result.is_err()).count();
    println!("{} passed, {} failed", cases.len() - failed, failed);
    if let Some(junit) = &args.junit {
        std::fs::write(junit, junit_xml(&cases)).with_context(|| format!("cannot write {}", junit.display()))?;
    }
    Ok(if failed == 0 { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

fn collect(path: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    if path.is_dir() {
        let mut entries: Vec<PathBuf> =
            std::fs::read_dir(path).with_context(|| format!("cannot read directory {}", path.display()))?.filter_map(|e| e.ok().map(|e| e.path())).collect();
        entries.sort();
        for entry in entries {
            if entry.is_dir() || entry.extension().is_some_and(|e| e == "rollout") {
                collect(&entry, out)?;
            }
        }
    } else {
        out.push(path.to_path_buf());
    }
    Ok(())
}

fn replay_file(path: &Path, override_env: Option<&str>) -> Result<String, String> {
    // The line already names the file; keep only what is wrong with it.
    let recorded = Rollout::read(path).map_err(|e| match e {
        SimError::Rollout { message, .. } => message,
        SimError::Io { source, .. } => source.to_string(),
        other => other.to_string(),
    })?;
    let h = &recorded.header;
    let loaded = env_matching(&h.env_id, &h.env_path, &h.env_hash, override_env)?;
    let model = EnvModel::new(&loaded).map_err(|e| e.to_string())?;
    let reward = match &recorded.header.reward_script {
        Some(s) => Some(model.compile_reward(&s.name, &s.source).map_err(|e| e.to_string())?),
        None => None,
    };
    let mut env = Env::new(model, reward).map_err(|e| e.to_string())?;
    match rollout::replay(&recorded, &mut env) {
        Ok(None) => Ok(format!("{} steps, {} episodes of {}, bit-identical", recorded.steps(), recorded.episodes(), recorded.header.env_id)),
        Ok(Some(mismatch)) => Err(mismatch.to_string()),
        Err(e) => Err(format!("replay failed: {e}")),
    }
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

fn junit_xml(cases: &[Case]) -> String {
    let failures = cases.iter().filter(|c| c.result.is_err()).count();
    let total: f64 = cases.iter().map(|c| c.seconds).sum();
    let mut xml = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    xml.push_str(&format!("<testsuites name=\"rewardsmith replay\" tests=\"{}\" failures=\"{failures}\" time=\"{total:.3}\">\n", cases.len()));
    xml.push_str(&format!("  <testsuite name=\"replay\" tests=\"{}\" failures=\"{failures}\" time=\"{total:.3}\">\n", cases.len()));
    for c in cases {
        let name = xml_escape(&c.path);
        match &c.result {
            Ok(summary) => xml.push_str(&format!(
                "    <testcase classname=\"replay\" name=\"{name}\" time=\"{:.3}\"><system-out>{}</system-out></testcase>\n",
                c.seconds,
                xml_escape(summary)
            )),
            Err(why) => xml.push_str(&format!(
                "    <testcase classname=\"replay\" name=\"{name}\" time=\"{:.3}\">\n      <failure message=\"{}\">{}</failure>\n    </testcase>\n",
                c.seconds,
                xml_escape(why),
                xml_escape(why)
            )),
        }
    }
    xml.push_str("  </testsuite>\n</testsuites>\n");
    xml
}
