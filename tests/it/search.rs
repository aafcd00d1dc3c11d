//! `rewardsmith search`: the run directory, determinism across thread counts, resuming a killed
//! search, and replaying an LLM search from its cassette.

use crate::support::{chat_completion, chat_requests, rewardsmith_with_env, text};
use serde_json::{Value, json};
use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

/// A small search: short trainings, few evaluation episodes, a final evaluation on 2 seeds
/// without the cache, and no GIF of the winner (a debug build of the viewer takes minutes).
pub(crate) const SMALL: [&str; 16] = [
    "search",
    "--env",
    "pendulum",
    "-k",
    "2",
    "--generations",
    "2",
    "--steps",
    "2048",
    "--eval-episodes",
    "2",
    "--final-seeds",
    "2",
    "--no-cache",
    "--no-gif",
    "--eval-seeds",
];

fn search(dir: &Path, extra: &[&str]) -> std::process::Output {
    let o = rewardsmith_with_env(dir, &[&SMALL[..], &["2"], extra].concat(), &[]);
    assert!(o.status.success(), "{}{}", text(&o).0, text(&o).1);
    o
}

/// A search started in the background in `dir`, for a test that ranks while it waits (output
/// discarded, its own training cache).
fn spawn_search(dir: &Path, args: &[&str]) -> std::process::Child {
    Command::new(env!("CARGO_BIN_EXE_rewardsmith"))
        .args(args)
        .current_dir(dir)
        .env("REWARDSMITH_CACHE", dir.join("cache"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// The messages of every request an LLM search sent, in order, from its `run/llm.jsonl`.
fn sent_messages(run: &Path) -> Vec<Value> {
    fs::read_to_string(run.join("llm.jsonl")).unwrap().lines().map(|l| serde_json::from_str::<Value>(l).unwrap()["request"]["messages"].clone()).collect()
}

/// The user prompt of every request an LLM search sent.
fn user_prompts(run: &Path) -> Vec<String> {
    sent_messages(run).iter().map(|m| m[1]["content"].as_str().unwrap_or("").to_owned()).collect()
}

pub(crate) fn json(path: &Path) -> Value {
    serde_json::from_str(&fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))).unwrap()
}

/// Everything a run's results are made of, without wall-clock times and cache provenance.
pub(crate) fn results(run: &Path) -> Value {
    let mut summary = json(&run.join("summary.json"));
    for entry in summary["final_evaluation"]["entries"].as_array_mut().into_iter().flatten() {
        entry.as_object_mut().unwrap().remove("cached");
    }
    let mut all = json!({ "summary": summary });
    for generation in ["gen-00", "gen-01"] {
        all[generation] = json!({ "feedback": fs::read_to_string(run.join(generation).join("feedback.md")).unwrap() });
        for entry in fs::read_dir(run.join(generation)).unwrap() {
            let dir = entry.unwrap().path();
            if dir.join("result.json").exists() {
                let mut result = json(&dir.join("result.json"));
                result.as_object_mut().unwrap().remove("seconds");
                let script = fs::read_to_string(dir.join("reward.rhai")).unwrap();
                all[generation][dir.file_name().unwrap().to_str().unwrap()] = json!({ "result": result, "script": script });
            }
        }
    }
    all
}

#[test]
fn search_writes_its_run_directory_and_does_not_depend_on_the_thread_count() {
    let dir = tempfile::tempdir().unwrap();
    let o = search(dir.path(), &["--jobs", "1", "--threads", "1", "--out", "one"]);
    let stdout = text(&o).0;
    assert!(stdout.contains("search finished (generations)") && stdout.contains("best: gen-0"), "{stdout}");
    let run = dir.path().join("one");
    for file in [
        "run.toml",
        "summary.json",
        "best/reward.rhai",
        "best/result.json",
        "gen-00/proposals.json",
        "gen-00/feedback.md",
        "gen-00/generation.json",
        "gen-01/generation.json",
        "gen-00/cand-00/critic.json",
    ] {
        assert!(run.join(file).is_file(), "{file} is missing");
    }
    // A trained candidate's curve, one line per PPO iteration under CleanRL's names, ending at
    // the step count of its result.
    let metrics = fs::read_to_string(run.join("gen-00/cand-00/metrics.jsonl")).unwrap();
    let lines: Vec<Value> = metrics.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert!(lines.len() > 1 && lines.iter().all(|l| l["losses/approx_kl"].is_number()), "{metrics}");
    assert_eq!(lines.last().unwrap()["global_step"], json(&run.join("gen-00/cand-00/result.json"))["global_step"]);
    let feedback = fs::read_to_string(run.join("gen-00/feedback.md")).unwrap();
    for needle in ["### The best reward function", "| step |", "Evaluation episodes:", "per evaluation seed"] {
        assert!(feedback.contains(needle), "feedback lacks {needle:?}:\n{feedback}");
    }
    assert!(fs::read_to_string(run.join("gen-01/feedback.md")).unwrap().contains("### The best reward function of each earlier generation"));
    // The best trained candidates (up to the default 3) were confirmed on 2 more training seeds
    // each; the winner has the best mean, its search training first among its seeds.
    let summary = json(&run.join("summary.json"));
    let best = summary["best"].as_str().unwrap();
    let confirmed = summary["confirmed"].as_array().unwrap();
    assert!(confirmed.len() >= 2, "{summary}");
    let winner = confirmed.iter().max_by(|a, b| a["fitness_mean"].as_f64().unwrap().total_cmp(&b["fitness_mean"].as_f64().unwrap())).unwrap();
    assert_eq!(winner["id"], best);
    assert_eq!(winner["fitness_mean"], summary["best_fitness"]);
    assert_eq!(winner["per_seed"].as_array().unwrap().len(), 3);
    assert_eq!(json(&run.join(best).join("result.json"))["fitness"], winner["per_seed"][0]);
    assert!(run.join("confirm").join(best.replace('/', "-")).join("seed-2/result.json").is_file());
    // Time per phase, for the report: every generation proposed, checked and trained.
    let timing = json(&run.join("timing.json"));
    assert_eq!(timing["generations"].as_array().unwrap().len(), 2);
    for phase in ["propose_s", "critic_s", "train_s"] {
        assert!(timing["generations"][1][phase].as_f64().unwrap() > 0.0, "{phase}: {timing}");
    }
    assert!(timing["final_s"].as_f64().unwrap() > 0.0 && timing["confirm_s"].as_f64().unwrap() > 0.0, "{timing}");
    // The report: self-contained, with its charts and every candidate.
    let report = fs::read_to_string(run.join("report.html")).unwrap();
    assert!(report.starts_with("<!doctype html>") && report.matches("<svg").count() >= 4, "charts missing");
    for needle in [
        "Fitness of every candidate",
        "Selection",
        "(winner)",
        "Final evaluation",
        "gen-00/cand-00",
        "Cost and time",
        "proposing (s)",
        "picked by",
        "Rankings and feedback",
        "Ranked by <b>fitness</b>",
        "feedback.md (what the next prompt received)",
        // No viewer binary asked for (--no-gif): the report says how to get the GIF.
        "No GIF of it in this run",
        "rewardsmith render",
    ] {
        assert!(report.contains(needle), "the report lacks {needle:?}");
    }
    assert!(!report.contains("gen-NN/cand-KK"), "the finished search's render command names no winner");
    assert!(report.contains("human-normalised score of the best: ") || report.contains("HNS not meaningful: human and sparse score alike"));
    // Every row of the cost table has the header's 9 cells (the total row once had 10).
    let total = &report[report.find("<tr><th>all</th>").unwrap()..];
    let total = &total[..total.find("</tr>").unwrap()];
    let cells = total.matches("<td").count() + total.matches("<th").count() + total.matches("colspan=\"5\"").count() * 4;
    assert_eq!(cells, 9, "{total}");
    assert!(report.contains("white-space:pre-wrap"), "scripts wrap instead of widening the page");
    assert!(!report.contains("<script") && !report.contains("src=\"http"), "nothing external");
    fs::remove_file(run.join("report.html")).unwrap();
    let o = rewardsmith_with_env(dir.path(), &["report", "one"], &[]);
    assert!(o.status.success() && run.join("report.html").is_file(), "{}", text(&o).1);

    search(dir.path(), &["--jobs", "2", "--threads", "2", "--out", "two"]);
    assert_eq!(results(&run), results(&dir.path().join("two")));
}

/// Starts `args` and kills it (SIGKILL) once `marker` exists in `dir`, or when it ends.
fn kill_when(dir: &Path, args: &[&str], marker: &str) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_rewardsmith")).args(args).current_dir(dir).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    while !dir.join(marker).exists() && child.try_wait().unwrap().is_none() {
        std::thread::sleep(Duration::from_millis(2));
    }
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn a_search_killed_at_any_moment_resumes_to_the_uninterrupted_result() {
    let dir = tempfile::tempdir().unwrap();
    search(dir.path(), &["--jobs", "1", "--out", "whole"]);
    // Killed with the first candidate trained and the second in training, then killed again
    // while resuming, once generation 1 is proposed; then resumed to the end.
    let args: Vec<&str> = [&SMALL[..], &["2", "--jobs", "1", "--out", "killed"]].concat();
    kill_when(dir.path(), &args, "killed/gen-00/cand-00/result.json");
    assert!(!dir.path().join("killed/gen-00/generation.json").exists(), "killed before the generation ended");
    kill_when(dir.path(), &["search", "--resume", "killed", "--no-cache", "--no-gif"], "killed/gen-01/proposals.json");
    assert!(!dir.path().join("killed/summary.json").exists(), "the resume was killed before the end");
    let o = rewardsmith_with_env(dir.path(), &["search", "--resume", "killed", "--no-cache", "--no-gif"], &[]);
    assert!(o.status.success(), "{}", text(&o).1);
    assert_eq!(results(&dir.path().join("whole")), results(&dir.path().join("killed")));
    // A finished run resumes to itself without training anything.
    let o = rewardsmith_with_env(dir.path(), &["search", "--resume", "killed", "--no-cache", "--no-gif"], &[]);
    assert!(o.status.success() && !text(&o).1.contains(" steps, "), "nothing is retrained: {}", text(&o).1);
    assert_eq!(results(&dir.path().join("whole")), results(&dir.path().join("killed")));
}

/// A loopback OpenAI-compatible server answering every request with two choices: a working
/// reward and one the critic rejects.
fn llm_server(runtime: &tokio::runtime::Runtime) -> wiremock::MockServer {
    use wiremock::matchers::{method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};
    let server = runtime.block_on(MockServer::start());
    let upright = "```rhai\nfn compute_reward(s) {\n    #{ up: s.pole_cos, calm: -0.01 * square(s.pole_angular_velocity) }\n}\n```";
    let broken = "```rhai\nfn compute_reward(s) {\n    s.no_such_variable\n}\n```";
    let reply = chat_completion(&[upright, broken], (10, 5));
    runtime
        .block_on(Mock::given(method("POST")).and(path("/v1/chat/completions")).respond_with(ResponseTemplate::new(200).set_body_json(reply)).mount(&server));
    server
}

#[test]
fn an_llm_search_replays_from_its_cassette_exactly_and_offline() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let server = llm_server(&runtime);
    let dir = tempfile::tempdir().unwrap();
    let base_url = format!("{}/v1", server.uri());
    let live = [&SMALL[..], &["2", "--llm", "openai", "--model", "m", "--out", "live"]].concat();
    let o = rewardsmith_with_env(dir.path(), &live, &[("OPENAI_BASE_URL", base_url.as_str())]);
    assert!(o.status.success(), "{}", text(&o).1);
    let sent = chat_requests(&runtime, &server);
    assert_eq!(sent, 4, "per generation: one request for both candidates, one more for the rejected one");
    let feedback = fs::read_to_string(dir.path().join("live/gen-00/feedback.md")).unwrap();
    assert!(feedback.contains("### Candidates that failed") && feedback.contains("no_such_variable"), "{feedback}");
    assert!(feedback.contains("### Candidates that repeated an earlier reward"), "resampling gave the same reward again:\n{feedback}");
    // The next generation's prompt, as sent, carries the broken candidate's error.
    let sent_prompts = user_prompts(&dir.path().join("live"));
    assert!(sent_prompts.iter().any(|p| p.contains("### Candidates that failed") && p.contains("no_such_variable")), "no prompt carried the error");

    let cassette = dir.path().join("live/llm.jsonl");
    let llm = format!("replay:{}", cassette.display());
    let replay = [&SMALL[..], &["2", "--llm", &llm, "--out", "replayed"]].concat();
    let o = rewardsmith_with_env(dir.path(), &replay, &[]);
    assert!(o.status.success(), "{}", text(&o).1);
    assert_eq!(chat_requests(&runtime, &server), sent, "the replay sent nothing");
    assert_eq!(results(&dir.path().join("live")), results(&dir.path().join("replayed")));

    // A live search killed after generation 1 was proposed (its requests are in the cassette,
    // its proposals.json is not): the resume answers them from the cassette, asks nothing again.
    copy_dir(&dir.path().join("live"), &dir.path().join("resumed"));
    for gone in ["gen-01", "best", "final", "summary.json"] {
        let path = dir.path().join("resumed").join(gone);
        let _ = fs::remove_dir_all(&path).or_else(|_| fs::remove_file(&path));
    }
    let o = rewardsmith_with_env(dir.path(), &["search", "--resume", "resumed", "--no-cache", "--no-gif"], &[]);
    assert!(o.status.success(), "{}", text(&o).1);
    assert_eq!(chat_requests(&runtime, &server), sent, "the resume asked nothing twice");
    assert_eq!(results(&dir.path().join("live")), results(&dir.path().join("resumed")));
    assert_eq!(fs::read_to_string(&cassette).unwrap(), fs::read_to_string(dir.path().join("resumed/llm.jsonl")).unwrap());
}

#[test]
fn a_streamed_search_through_a_local_server_replays_exactly_with_no_server() {
    use rewardsmith_llm::mock::{MockConfig, MockServer};
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let server = runtime.block_on(MockServer::start(MockConfig::new(crate::llm::local_reply)));
    let dir = tempfile::tempdir().unwrap();
    let url = server.url();
    let live = [&SMALL[..], &["2", "--llm", "openai", "--model", "local-model", "--base-url", &url, "--out", "live"]].concat();
    let o = rewardsmith_with_env(dir.path(), &live, &[]);
    assert!(o.status.success(), "{}", text(&o).1);
    let stats = server.stats();
    assert_eq!((stats.cancelled, stats.abandoned, stats.most_at_once), (0, 0, 1), "{stats:?}");
    let cassette = dir.path().join("live/llm.jsonl");
    let lines: Vec<Value> = fs::read_to_string(&cassette).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert!(lines.iter().filter(|l| l.get("status").is_some()).all(|l| l["request"]["stream"] == true && l["response"]["object"] == "chat.completion"));
    // The run records the cap it sent, so a resume asks the same.
    let run_toml = fs::read_to_string(dir.path().join("live/run.toml")).unwrap();
    assert!(run_toml.contains("max_completion_tokens = 2048") && run_toml.contains("cap_field = \"max_tokens\""), "{run_toml}");
    drop(server);

    let llm = format!("replay:{}", cassette.display());
    let o = rewardsmith_with_env(dir.path(), &[&SMALL[..], &["2", "--llm", &llm, "--out", "replayed"]].concat(), &[]);
    assert!(o.status.success(), "{}", text(&o).1);
    assert_eq!(results(&dir.path().join("live")), results(&dir.path().join("replayed")));
}

#[test]
fn a_search_stopped_by_its_token_budget_replays_to_the_same_stop() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let server = llm_server(&runtime);
    let dir = tempfile::tempdir().unwrap();
    let base_url = format!("{}/v1", server.uri());
    // 15 tokens per request: the cap is reached by generation 0's resampling request.
    let live = [&SMALL[..], &["2", "--llm", "openai", "--model", "m", "--max-tokens", "20", "--out", "live"]].concat();
    let o = rewardsmith_with_env(dir.path(), &live, &[("OPENAI_BASE_URL", base_url.as_str())]);
    assert!(o.status.success(), "{}", text(&o).1);
    let summary = json(&dir.path().join("live/summary.json"));
    assert_eq!(summary["stop_reason"], "budget");
    assert_eq!(summary["generations"].as_array().unwrap().len(), 1);
    let llm = format!("replay:{}", dir.path().join("live/llm.jsonl").display());
    let o = rewardsmith_with_env(dir.path(), &[&SMALL[..], &["2", "--llm", &llm, "--out", "replayed"]].concat(), &[]);
    assert!(o.status.success(), "{}", text(&o).1);
    assert_eq!(json(&dir.path().join("replayed/summary.json"))["stop_reason"], "budget", "the replay stops where the run stopped, without the flag");
}

#[test]
fn synthetic_feedback_shows_the_preference_order_not_the_scores() {
    let dir = tempfile::tempdir().unwrap();
    let o = search(dir.path(), &["--feedback", "synthetic", "--pref-noise", "0.01", "--quiet", "--out", "s"]);
    assert!(text(&o).1.is_empty(), "--quiet prints no log: {}", text(&o).1);
    let feedback = fs::read_to_string(dir.path().join("s/gen-00/feedback.md")).unwrap();
    assert!(feedback.contains("preferred first: gen-00/cand-") && feedback.contains("### The preferred reward function"), "{feedback}");
    assert!(!feedback.to_lowercase().contains("fitness"), "no score reaches the prompt:\n{feedback}");
    // An unknown combination is refused, not ignored.
    let o = rewardsmith_with_env(dir.path(), &["search", "--env", "pendulum", "--pref-noise", "0.1", "--out", "x"], &[]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).1.contains("pref_noise"), "{}", text(&o).1);
}

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for entry in fs::read_dir(from).unwrap() {
        let path = entry.unwrap().path();
        let target = to.join(path.file_name().unwrap());
        if path.is_dir() {
            copy_dir(&path, &target)
        } else {
            fs::copy(&path, &target).unwrap();
        }
    }
}

#[test]
fn the_final_evaluation_scores_the_best_against_the_baselines_and_caches_their_trainings() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let args = |seed: &'static str, out: &'static str| -> Vec<String> {
        // SMALL with one generation and the cache.
        let mut args: Vec<String> = SMALL.iter().map(|s| s.to_string()).filter(|s| s != "--no-cache").collect();
        let generations = args.iter().position(|a| a == "--generations").unwrap();
        args[generations + 1] = "1".to_owned();
        args.extend(["2", "--seed", seed, "--cache", cache.to_str().unwrap(), "--out", out].map(String::from));
        args
    };
    let run = |seed, out| {
        let args = args(seed, out);
        let o = rewardsmith_with_env(dir.path(), &args.iter().map(String::as_str).collect::<Vec<_>>(), &[]);
        assert!(o.status.success(), "{}", text(&o).1);
        json(&dir.path().join(out).join("summary.json"))["final_evaluation"].clone()
    };
    let first = run("1", "a");
    let names: Vec<&str> = first["entries"].as_array().unwrap().iter().map(|e| e["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["best", "human", "sparse"]);
    for e in first["entries"].as_array().unwrap() {
        assert_eq!((e["per_seed"].as_array().unwrap().len(), e["cached"].as_u64()), (2, Some(0)), "{e}");
    }
    let (best, human, sparse) = (&first["entries"][0]["fitness_mean"], &first["entries"][1]["fitness_mean"], &first["entries"][2]["fitness_mean"]);
    let expected = (best.as_f64().unwrap() - sparse.as_f64().unwrap()) / (human.as_f64().unwrap() - sparse.as_f64().unwrap()).abs();
    assert!((first["human_normalized_score"].as_f64().unwrap() - expected).abs() < 1e-12);
    // Another search: the baselines come from the cache, with the same numbers.
    let second = run("2", "b");
    for i in [1, 2] {
        assert_eq!(second["entries"][i]["cached"].as_u64(), Some(2), "{second}");
        assert_eq!(second["entries"][i]["per_seed"], first["entries"][i]["per_seed"]);
    }
}

#[test]
fn human_feedback_waits_for_a_ranking_and_the_next_prompt_follows_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut args: Vec<&str> = [&SMALL[..], &["2", "--feedback", "human", "--out", "h"]].concat();
    let generations = args.iter().position(|a| *a == "--generations").unwrap();
    args[generations + 1] = "1";
    let mut child = spawn_search(dir.path(), &args);
    let request = dir.path().join("h/gen-00/rank-request.json");
    while !request.exists() {
        assert!(child.try_wait().unwrap().is_none(), "the search ended without asking for a ranking");
        std::thread::sleep(Duration::from_millis(20));
    }
    let listing = rewardsmith_with_env(dir.path(), &["rank", "h", "--gen", "0"], &[]);
    assert!(text(&listing).0.contains("cand-00") && text(&listing).0.contains("eval.rollout"), "{}", text(&listing).0);
    // What a person watches replays bit for bit.
    let replayed = rewardsmith_with_env(dir.path(), &["replay", "h/gen-00/cand-00/eval.rollout"], &[]);
    assert!(replayed.status.success(), "{}", text(&replayed).1);
    // A wrong ranking is refused and names what is wrong; then the person ranks the worse one first.
    let bad = rewardsmith_with_env(dir.path(), &["rank", "h", "--gen", "0", "--order", "0,0"], &[]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(text(&bad).1.contains("missing cand-01") && text(&bad).1.contains("ranked twice: cand-00"), "{}", text(&bad).1);
    let fitness = |c: &str| json(&dir.path().join(format!("h/gen-00/{c}/result.json")))["fitness"].as_f64().unwrap();
    let order = if fitness("cand-00") < fitness("cand-01") { ["0,1", "cand-00"] } else { ["1,0", "cand-01"] };
    let ranked = rewardsmith_with_env(dir.path(), &["rank", "h", "--gen", "0", "--order", order[0]], &[]);
    assert!(ranked.status.success(), "{}", text(&ranked).1);
    assert!(child.wait().unwrap().success());
    let record = json(&dir.path().join("h/gen-00/generation.json"));
    assert_eq!(record["best"], format!("gen-00/{}", order[1]), "the person's choice, not the fitter one");
    assert_eq!(json(&dir.path().join("h/gen-00/ranking.json"))["source"], "rank command");
    let feedback = fs::read_to_string(dir.path().join("h/gen-00/feedback.md")).unwrap();
    assert!(feedback.contains(&format!("### The preferred reward function: gen-00/{}", order[1])), "{feedback}");
    assert!(!feedback.to_lowercase().contains("fitness"), "{feedback}");

    // Nobody ranks within the timeout: ranked by fitness, and the ranking says so.
    let o = rewardsmith_with_env(dir.path(), &[&args[..args.len() - 1], &["t", "--rank-timeout", "0"]].concat(), &[]);
    assert!(o.status.success(), "{}", text(&o).1);
    assert!(json(&dir.path().join("t/gen-00/ranking.json"))["source"].as_str().unwrap().starts_with("fitness (no human ranking"));
}

#[test]
fn a_new_task_gets_its_own_fitness_or_a_warning_that_the_env_fitness_may_not_measure_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut args: Vec<&str> = [&SMALL[..], &["2", "--task", "Hold the pole horizontal.", "--fitness", "1.0 - abs(s.pole_cos)", "--out", "new"]].concat();
    let generations = args.iter().position(|a| *a == "--generations").unwrap();
    args[generations + 1] = "1";
    let o = rewardsmith_with_env(dir.path(), &args, &[]);
    assert!(o.status.success(), "{}", text(&o).1);
    assert!(!text(&o).1.contains("may not measure"));
    let feedback = fs::read_to_string(dir.path().join("new/gen-00/feedback.md")).unwrap();
    assert!(feedback.contains("the user's measure `1.0 - abs(s.pole_cos)`, mean over the episode"), "{feedback}");
    assert!(fs::read_to_string(dir.path().join("new/run.toml")).unwrap().contains("expr = \"1.0 - abs(s.pole_cos)\""));
    // The resume applies the same measure (else the env's hash would not match).
    let o = rewardsmith_with_env(dir.path(), &["search", "--resume", "new", "--no-cache", "--no-gif"], &[]);
    assert!(o.status.success(), "{}", text(&o).1);

    // Without --fitness: a warning; with a broken one: an error naming it.
    let without: Vec<&str> =
        args.iter().copied().filter(|a| !["--fitness", "1.0 - abs(s.pole_cos)"].contains(a)).map(|a| if a == "new" { "warned" } else { a }).collect();
    let o = rewardsmith_with_env(dir.path(), &without, &[]);
    assert!(text(&o).1.contains("may not measure the new task"), "{}", text(&o).1);
    let broken: Vec<&str> = args
        .iter()
        .map(|a| match *a {
            "1.0 - abs(s.pole_cos)" => "s.no_such_thing +",
            "new" => "broken",
            a => a,
        })
        .collect();
    let o = rewardsmith_with_env(dir.path(), &broken, &[]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).1.contains("fitness"), "{}", text(&o).1);
}

#[test]
fn a_training_past_its_timeout_fails_its_candidate_and_the_search_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let o = search(dir.path(), &["--train-timeout", "0.001", "--out", "slow"]);
    assert!(text(&o).0.contains("search finished (generations)"), "{}", text(&o).0);
    let result = json(&dir.path().join("slow/gen-00/cand-00/result.json"));
    assert_eq!(result["status"], "timeout");
    assert!(result["error"].as_str().unwrap().contains("passed its 0.001 s limit"), "{result}");
    let feedback = fs::read_to_string(dir.path().join("slow/gen-01/feedback.md")).unwrap();
    assert!(feedback.contains("### Candidates that failed") && feedback.contains("limit"), "{feedback}");
}

/// ICPL with the offline proposer: a person who ranks each generation in reverse fitness order
/// sees the next generation bred from their top choices (parents recorded by candidate path),
/// and the winner is their top choice of the last generation, not the fittest candidate.
#[test]
fn a_persons_ranking_breeds_the_next_generation_and_picks_the_winner() {
    let dir = tempfile::tempdir().unwrap();
    let args = [
        "search",
        "--env",
        "pendulum",
        "-k",
        "3",
        "--generations",
        "2",
        "--steps",
        "2048",
        "--eval-episodes",
        "2",
        "--eval-seeds",
        "1",
        "--final-seeds",
        "1",
        "--no-cache",
        "--no-gif",
        "--feedback",
        "human",
        "--seed",
        "2",
        "--out",
        "h",
    ];
    let mut child = spawn_search(dir.path(), &args);
    // Each generation's candidates, worst fitness first: the person's order.
    let mut orders: Vec<Vec<String>> = Vec::new();
    for generation in 0..2 {
        let request = dir.path().join(format!("h/gen-{generation:02}/rank-request.json"));
        while !request.exists() {
            assert!(child.try_wait().unwrap().is_none(), "the search ended without asking for generation {generation}'s ranking");
            std::thread::sleep(Duration::from_millis(20));
        }
        let fitness = |c: &str| json(&dir.path().join(format!("h/gen-{generation:02}/{c}/result.json")))["fitness"].as_f64().unwrap();
        let mut order: Vec<String> = json(&request)["candidates"].as_array().unwrap().iter().map(|c| c.as_str().unwrap().to_owned()).collect();
        assert!(order.len() >= 2, "generation {generation} has {} candidates to rank", order.len());
        order.sort_by(|a, b| fitness(a).total_cmp(&fitness(b)).then(a.cmp(b)));
        assert!(fitness(&order[0]) < fitness(order.last().unwrap()), "the test needs the person to disagree with fitness");
        let numbers: Vec<String> = order.iter().map(|c| c.trim_start_matches("cand-").parse::<usize>().unwrap().to_string()).collect();
        let ranked = rewardsmith_with_env(
            dir.path(),
            &["rank", "h", "--gen", &generation.to_string(), "--order", &numbers.join(","), "--note", &format!("NOTE-{generation}: less wobble")],
            &[],
        );
        assert!(ranked.status.success(), "{}", text(&ranked).1);
        orders.push(order);
    }
    assert!(child.wait().unwrap().success());

    let choices: Vec<String> = orders[0].iter().take(2).map(|c| format!("gen-00/{c}")).collect();
    let proposals = json(&dir.path().join("h/gen-01/proposals.json"));
    let proposals = proposals["proposals"].as_array().unwrap();
    for p in proposals {
        let parents: Vec<&str> = p["parents"].as_array().unwrap().iter().map(|x| x.as_str().unwrap()).collect();
        assert!(
            !parents.is_empty() && parents.iter().all(|x| choices.iter().any(|c| c == x)),
            "{}: parents {parents:?}, the person's top two {choices:?}",
            p["name"]
        );
    }
    assert_eq!(proposals[0]["parents"][0], choices[0], "the first child descends from the person's first choice");
    let gen0 = json(&dir.path().join("h/gen-00/proposals.json"));
    assert!(gen0["proposals"].as_array().unwrap().iter().all(|p| p["parents"].as_array().unwrap().is_empty()), "generation 0 has no candidate parents");

    let summary = json(&dir.path().join("h/summary.json"));
    assert_eq!(summary["best"], format!("gen-01/{}", orders[1][0]), "the winner is the person's top choice of the last generation");
    assert!(summary["picked_by"].as_str().unwrap().starts_with("the person: top choice of generation 1 (ranked by rank command)"), "{summary}");
    assert!(summary["confirmed"].as_array().unwrap().is_empty(), "fitness does not get to overrule the person");
    assert!(summary["final_evaluation"]["entries"][0]["fitness_mean"].is_f64(), "the winner's ground truth is still reported");
    // The person's note went with the ranking into the feedback (which the offline proposer
    // does not read) and is kept.
    assert_eq!(fs::read_to_string(dir.path().join("h/gen-00/notes.md")).unwrap(), "NOTE-0: less wobble");
    assert!(fs::read_to_string(dir.path().join("h/gen-00/feedback.md")).unwrap().contains("NOTE-0: less wobble"));
}

/// Text2Reward's free-text feedback: the `--notes` file, read after each generation, reaches the
/// next prompt an OpenAI-compatible server receives and is kept as gen-NN/notes.md. (A note
/// given with a ranking: `a_persons_ranking_breeds_the_next_generation_and_picks_the_winner`.)
#[test]
fn notes_from_a_file_reach_the_next_prompt() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let server = llm_server(&runtime);
    let dir = tempfile::tempdir().unwrap();
    let notes = dir.path().join("notes.txt");
    fs::write(&notes, "NOTE-FROM-FILE: the pole must also stay still at the top.\n").unwrap();
    let base_url = format!("{}/v1", server.uri());
    let args = [&SMALL[..], &["2", "--llm", "openai", "--model", "m", "--notes", notes.to_str().unwrap(), "--out", "n"]].concat();
    let o = rewardsmith_with_env(dir.path(), &args, &[("OPENAI_BASE_URL", base_url.as_str())]);
    assert!(o.status.success(), "{}", text(&o).1);
    let kept = fs::read_to_string(dir.path().join("n/gen-00/notes.md")).unwrap();
    assert!(kept.contains("NOTE-FROM-FILE"), "{kept}");
    let prompts = user_prompts(&dir.path().join("n"));
    assert!(!prompts[0].contains("NOTE-FROM-FILE"), "generation 0's prompt came before any generation was read");
    assert!(prompts.iter().any(|p| p.contains("### Notes from the person running the search") && p.contains("NOTE-FROM-FILE")), "no prompt carried the notes");
    // A missing file at the start is a usage mistake, said at once.
    let o = rewardsmith_with_env(dir.path(), &[&SMALL[..], &["2", "--notes", "nowhere.txt", "--out", "m"]].concat(), &[]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).1.contains("--notes"), "{}", text(&o).1);
}

/// HERON's hierarchy: with a first signal the same for every candidate, the second decides, so
/// each generation's ranking is the order of the second signal's values; the prompt an LLM gets
/// states the hierarchy; a level that is not a number is refused before anything trains.
#[test]
fn hierarchy_feedback_ranks_by_the_first_signal_that_separates_the_candidates() {
    let dir = tempfile::tempdir().unwrap();
    // Margin 0: any difference on a level decides, so the order is the second level's, exactly.
    let hierarchy = ["--feedback", "hierarchy", "--hierarchy", "1.0", "--hierarchy", "s.pole_cos", "--hierarchy-margin", "0"];
    let mut args = [&SMALL[..], &["2"], &hierarchy[..], &["--out", "h"]].concat();
    let k = args.iter().position(|a| *a == "-k").unwrap();
    args[k + 1] = "3";
    let final_seeds = args.iter().position(|a| *a == "--final-seeds").unwrap();
    args[final_seeds + 1] = "0";
    let o = rewardsmith_with_env(dir.path(), &args, &[]);
    assert!(o.status.success(), "{}", text(&o).1);
    for generation in ["gen-00", "gen-01"] {
        let record = json(&dir.path().join(format!("h/{generation}/generation.json")));
        assert_eq!(record["ranking_source"], "hierarchy (1.0 > s.pole_cos)");
        let ranking: Vec<String> = record["ranking"].as_array().unwrap().iter().map(|r| r.as_str().unwrap().to_owned()).collect();
        let level =
            |id: &str| json(&dir.path().join(id).join("result.json"))["hierarchy"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect::<Vec<_>>();
        assert!(ranking.len() >= 2, "{generation}: {ranking:?}");
        for pair in ranking.windows(2) {
            let (a, b) = (level(&format!("h/{}", pair[0])), level(&format!("h/{}", pair[1])));
            assert_eq!((a[0], b[0]), (1.0, 1.0), "the first signal is the same for all");
            assert!(a[1] >= b[1], "{generation}: {} ({}) ranked above {} ({})", pair[0], a[1], pair[1], b[1]);
        }
    }
    // The LLM's prompt states the hierarchy, from generation 0 on.
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let server = llm_server(&runtime);
    let base_url = format!("{}/v1", server.uri());
    let mut args = [&SMALL[..], &["2", "--llm", "openai", "--model", "m"], &hierarchy[..], &["--out", "l"]].concat();
    let final_seeds = args.iter().position(|a| *a == "--final-seeds").unwrap();
    args[final_seeds + 1] = "0";
    let o = rewardsmith_with_env(dir.path(), &args, &[("OPENAI_BASE_URL", base_url.as_str())]);
    assert!(o.status.success(), "{}", text(&o).1);
    let first = sent_messages(&dir.path().join("l"))[0].to_string();
    assert!(first.contains("What matters, most important first") && first.contains("1. `1.0`; 2. `s.pole_cos`"), "{first}");
    let o = rewardsmith_with_env(dir.path(), &[&SMALL[..], &["2", "--feedback", "hierarchy", "--hierarchy", "s.pole_cos > 0.5", "--out", "b"]].concat(), &[]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).1.contains("--hierarchy 1") && !dir.path().join("b/gen-00/cand-00/result.json").exists(), "{}", text(&o).1);
    // --hierarchy belongs to that mode.
    let o = rewardsmith_with_env(dir.path(), &[&SMALL[..], &["2", "--hierarchy", "s.pole_cos", "--out", "x"]].concat(), &[]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).1.contains("`hierarchy`"), "{}", text(&o).1);
}

/// Eureka's protocol (`--hide-fitness-expr`): the prompts never show the success measure's
/// formula or description, only the fitness values earned; without the flag they do. The
/// offline proposer runs without its hints.
#[test]
fn a_hidden_success_measure_never_reaches_the_prompt() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let server = llm_server(&runtime);
    let base_url = format!("{}/v1", server.uri());
    let dir = tempfile::tempdir().unwrap();
    for (run, hide) in [("shown", false), ("hidden", true)] {
        let mut args = [&SMALL[..], &["2", "--llm", "openai", "--model", "m", "--out", run]].concat();
        if hide {
            args.push("--hide-fitness-expr");
        }
        let o = rewardsmith_with_env(dir.path(), &args, &[("OPENAI_BASE_URL", base_url.as_str())]);
        assert!(o.status.success(), "{}", text(&o).1);
        let sent: Vec<String> = sent_messages(&dir.path().join(run)).iter().map(Value::to_string).collect();
        assert!(sent.len() >= 2, "{run}: {} requests", sent.len());
        for p in &sent {
            let leaks = p.contains("s.pole_cos > 0.95") || p.contains("within 18° of upright");
            assert_eq!(leaks, !hide, "{run}: a prompt {} the measure: {p}", if hide { "shows" } else { "lacks" });
        }
        if hide {
            assert!(sent[0].contains("not shown"), "{}", sent[0]);
            assert!(sent[1..].iter().any(|p| p.contains("fitness")), "the values earned are still fed back");
        }
    }
    // Offline too (what it leaves out is tested in the offline proposer's own tests).
    let o = rewardsmith_with_env(dir.path(), &[&SMALL[..], &["2", "--hide-fitness-expr", "--out", "offline"]].concat(), &[]);
    assert!(o.status.success(), "{}", text(&o).1);
}
