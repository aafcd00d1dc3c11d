//! `rewardsmith propose --llm openai` against an OpenAI-compatible server on loopback, and the
//! replay of what it recorded.

use crate::support::{chat_completion, chat_requests, rewardsmith_with_env, text};
use rewardsmith_llm::mock::{MockConfig, MockServer as LocalServer};
use serde_json::{Value, json};
use std::fs;
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn completion(contents: &[&str]) -> Value {
    chat_completion(contents, (1000, 200))
}

#[test]
fn propose_with_an_openai_endpoint_records_every_exchange_and_replay_reproduces_it_offline() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let server = runtime.block_on(MockServer::start());
    let upright = "Reward being upright:\n```rhai\nfn compute_reward(s) {\n    s.pole_cos\n}\n```";
    let calm = "```\nfn compute_reward(s) {\n    -0.1 * square(s.pole_angular_velocity)\n}\n```";
    let prose = "Reward the pole for staying up.";
    runtime.block_on(
        Mock::given(method("POST"))
            .and(path("/v1/chat/completions"))
            .and(header("authorization", "Bearer sk-loopback"))
            .respond_with(ResponseTemplate::new(200).set_body_json(completion(&[upright, calm, prose])))
            .mount(&server),
    );
    let dir = tempfile::tempdir().unwrap();
    let base_url = format!("{}/v1", server.uri());
    let live = dir.path().join("live");
    let args = ["propose", "--env", "pendulum", "--llm", "openai", "--model", "local-model", "-k", "3", "--seed", "9", "--out"];
    let o = rewardsmith_with_env(
        dir.path(),
        &[&args[..], &[live.to_str().unwrap()]].concat(),
        &[("OPENAI_BASE_URL", base_url.as_str()), ("OPENAI_API_KEY", "sk-loopback")],
    );
    let (stdout, stderr) = text(&o);
    assert_eq!(o.status.code(), Some(1), "one candidate has no script: {stdout}{stderr}");
    assert!(stdout.contains("2 of 3 candidates passed the critic"), "{stdout}");
    assert!(stdout.contains("llm: 1 requests, 1000 prompt + 200 completion tokens"), "{stdout}");
    let verdict: Value = serde_json::from_str(&fs::read_to_string(live.join("cand-02/critic.json")).unwrap()).unwrap();
    assert_eq!((verdict["ok"].as_bool(), verdict["stage"].as_str()), (Some(false), Some("proposer")));
    assert!(verdict["error"].as_str().unwrap().contains("no code in the reply defines"), "{verdict}");
    assert_eq!(fs::read_to_string(live.join("cand-02/reply.md")).unwrap(), prose);
    assert!(fs::read_to_string(live.join("cand-01/reward.rhai")).unwrap().contains("square(s.pole_angular_velocity)"));
    let cassette = live.join("llm.jsonl");
    let recorded = fs::read_to_string(&cassette).unwrap();
    assert_eq!(recorded.lines().count(), 1);
    assert!(!recorded.contains("sk-loopback"));

    // The replay needs neither the server, nor the model name, nor the key.
    let replayed = dir.path().join("replayed");
    let o = rewardsmith_with_env(
        dir.path(),
        &["propose", "--env", "pendulum", "--llm", &format!("replay:{}", cassette.display()), "-k", "3", "--seed", "9", "--out", replayed.to_str().unwrap()],
        &[],
    );
    assert_eq!(o.status.code(), Some(1), "{}", text(&o).1);
    for file in ["cand-00/reward.rhai", "cand-01/reward.rhai", "cand-02/reply.md", "cand-02/critic.json"] {
        assert_eq!(fs::read(live.join(file)).unwrap(), fs::read(replayed.join(file)).unwrap(), "{file}");
    }
    assert!(!replayed.join("llm.jsonl").exists(), "a replay records nothing");
    assert_eq!(chat_requests(&runtime, &server), 1, "the replay sent no request");

    // Another seed is another request: named, not sent.
    let o = rewardsmith_with_env(
        dir.path(),
        &["propose", "--env", "pendulum", "--llm", &format!("replay:{}", cassette.display()), "-k", "3", "--seed", "10", "--out", replayed.to_str().unwrap()],
        &[],
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).1.contains("`seed`: recorded 9, asked 10"), "{}", text(&o).1);
}

#[test]
fn propose_with_a_bad_key_stops_with_a_clear_message() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let server = runtime.block_on(MockServer::start());
    runtime.block_on(
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(401).set_body_json(json!({ "error": { "message": "Incorrect API key provided: sk-wrong" } })))
            .mount(&server),
    );
    let dir = tempfile::tempdir().unwrap();
    let base_url = format!("{}/v1", server.uri());
    let o = rewardsmith_with_env(
        dir.path(),
        &["propose", "--env", "pendulum", "--llm", "openai", "--base-url", &base_url, "--model", "m", "-k", "4", "--out", "out"],
        &[("OPENAI_API_KEY", "sk-wrong")],
    );
    assert_eq!(o.status.code(), Some(1));
    let stderr = text(&o).1;
    assert!(stderr.contains("HTTP 401") && stderr.contains("Incorrect API key provided") && stderr.contains("OPENAI_API_KEY"), "{stderr}");
    assert_eq!(chat_requests(&runtime, &server), 1);
    // The server echoed the key; the cassette does not.
    let cassette = fs::read_to_string(dir.path().join("out/llm.jsonl")).unwrap();
    assert!(cassette.contains("provided: [redacted]") && !cassette.contains("sk-wrong"), "{cassette}");
}

/// A local model's reply: a little reasoning and a script, told apart by the request's seed.
pub(crate) fn local_reply(request: &Value) -> String {
    let seed = request["seed"].as_u64().unwrap_or_default();
    format!(
        "Upright is good, spinning is not.\n\n```rhai\n// sample {seed}\nfn compute_reward(s) {{\n    let spin_temp = {}.0;\n    \
         #{{ up: s.pole_cos, calm: 0.1 * exp(-square(s.pole_angular_velocity) / spin_temp) }}\n}}\n```\n",
        1 + seed % 7
    )
}

#[test]
fn propose_k4_through_a_one_slot_local_server_streams_one_request_at_a_time() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let server = runtime.block_on(LocalServer::start(MockConfig::new(local_reply)));
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let args = ["propose", "--env", "pendulum", "--llm", "openai", "--model", "local-model", "-k", "4", "--seed", "3", "--base-url", &server.url()];
    let o = rewardsmith_with_env(dir.path(), &[&args[..], &["--out", out.to_str().unwrap()]].concat(), &[]);
    let (stdout, stderr) = text(&o);
    assert!(o.status.success(), "{stdout}{stderr}");
    assert!(stdout.contains("4 of 4 candidates passed the critic"), "{stdout}");
    // A loopback URL: one request at a time (the server's /props says one slot), streamed, capped.
    let stats = server.stats();
    assert_eq!(stats.requests.len(), 4, "the n probe (one choice back) and 3 single requests");
    assert_eq!((stats.completed, stats.cancelled, stats.abandoned, stats.most_at_once), (4, 0, 0, 1), "{stats:?}");
    assert!(stats.requests.iter().all(|r| r["stream"] == true && r["max_tokens"] == 2048), "{:?}", stats.requests);
    assert!(stdout.contains("llm: 4 requests,"), "{stdout}");
    assert!(!stderr.contains("at once from now on"), "nothing to lower: {stderr}");
}
