//! Helpers shared by the integration tests.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The repository root.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap()
}

/// A small PPO configuration for CLI tests: two iterations of 8 × 64 steps.
pub const TINY_PPO: &str = "num_envs = 8\nnum_steps = 64\nnum_minibatches = 4\nupdate_epochs = 2\n";

/// Runs the `rewardsmith` binary from the repository root.
pub fn rewardsmith(args: &[&str]) -> Output {
    rewardsmith_in(&repo(), args)
}

/// Runs the `rewardsmith` binary in `dir`.
pub fn rewardsmith_in(dir: &Path, args: &[&str]) -> Output {
    rewardsmith_with_env(dir, args, &[])
}

/// Runs the `rewardsmith` binary in `dir` with these environment variables (and none of the
/// developer's that change its behaviour: a test must not reach a real LLM endpoint, nor read or
/// fill the developer's training cache).
pub fn rewardsmith_with_env(dir: &Path, args: &[&str], vars: &[(&str, &str)]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rewardsmith"))
        .args(args)
        .current_dir(dir)
        .env_remove("REWARDSMITH_ENVIRONMENTS")
        .env_remove("OPENAI_BASE_URL")
        .env_remove("OPENAI_API_KEY")
        .env_remove("REWARDSMITH_VIEWER")
        // The search's training cache: never the developer's own.
        .env("REWARDSMITH_CACHE", Path::new(env!("CARGO_TARGET_TMPDIR")).join("training-cache"))
        .envs(vars.iter().copied())
        .output()
        .expect("the rewardsmith binary runs")
}

/// stdout and stderr as text.
pub fn text(out: &Output) -> (String, String) {
    (String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

/// The top of a test env file: id, texts, an observation of the state `q` (which the rest of the
/// file must define) and a fitness of 0; physics, bodies, actuators and states follow it.
pub const ENV_HEADER: &str = r#"
id = "test"
version = 1
description = "test"
task = "test"
observation = ["q"]
[fitness]
expr = "0.0"
aggregate = "sum"
doc = "none"
"#;

/// The built-in environment ids.
pub fn env_ids() -> Vec<&'static str> {
    rewardsmith_spec::catalog::ids()
}

/// An OpenAI chat completion whose choices carry `contents`, with this usage (prompt,
/// completion tokens): what the loopback LLM servers of the tests answer.
pub fn chat_completion(contents: &[&str], (prompt_tokens, completion_tokens): (u64, u64)) -> serde_json::Value {
    let choices: Vec<serde_json::Value> = contents
        .iter()
        .enumerate()
        .map(|(i, c)| serde_json::json!({ "index": i, "message": { "role": "assistant", "content": c }, "finish_reason": "stop" }))
        .collect();
    serde_json::json!({
        "id": "chatcmpl-it", "object": "chat.completion", "created": 0, "model": "m",
        "choices": choices,
        "usage": { "prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens, "total_tokens": prompt_tokens + completion_tokens }
    })
}

/// The chat requests a loopback server received (not the probes of how many it serves at once).
pub fn chat_requests(runtime: &tokio::runtime::Runtime, server: &wiremock::MockServer) -> usize {
    runtime.block_on(server.received_requests()).unwrap().iter().filter(|r| r.url.path().ends_with("/chat/completions")).count()
}
