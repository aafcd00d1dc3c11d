//! The OpenAI-compatible proposer against a real HTTP server on loopback (wiremock): every
//! behaviour of such a server the proposer must survive, and cassette record → replay.

use rewardsmith_llm::cassette::{Recorder, Replay};
use rewardsmith_llm::extract::ExtractError;
use rewardsmith_llm::openai::{OpenAiConfig, OpenAiProposer};
use rewardsmith_llm::prompt::Templates;
use rewardsmith_llm::transport::{Price, Timeouts, Transport};
use rewardsmith_llm::{CandidateError, Context, Generation, ProposeError, Proposer};
use rewardsmith_sim::EnvModel;
use rewardsmith_spec::catalog;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::{Duration, Instant};
use wiremock::matchers::{method, path};
use wiremock::{Match, Mock, MockServer, Request, Respond, ResponseTemplate};

fn pendulum() -> Arc<EnvModel> {
    EnvModel::new(&catalog::resolve("pendulum").unwrap()).unwrap()
}

/// A reply an LLM could give: prose around one valid script, told apart by `tag`.
fn good_reply(tag: &str) -> String {
    format!("Here is a reward.\n\n```rhai\n// {tag}\nfn compute_reward(s) {{\n    s.pole_cos\n}}\n```\n")
}

/// A chat completion whose choices carry `contents`, 100 prompt and 50 completion tokens.
fn completion(contents: &[&str]) -> Value {
    let choices: Vec<Value> =
        contents.iter().enumerate().map(|(i, c)| json!({ "index": i, "message": { "role": "assistant", "content": c }, "finish_reason": "stop" })).collect();
    json!({
        "id": "chatcmpl-test", "object": "chat.completion", "created": 0, "model": "test-model",
        "choices": choices,
        "usage": { "prompt_tokens": 100, "completion_tokens": 50, "total_tokens": 150 }
    })
}

fn body(request: &Request) -> Value {
    serde_json::from_slice(&request.body).unwrap()
}

/// Matches requests whose `n` is this (None: no `n` field, i.e. one sample).
struct N(Option<u64>);

impl Match for N {
    fn matches(&self, request: &Request) -> bool {
        body(request).get("n").and_then(Value::as_u64) == self.0
    }
}

/// Answers a single-sample request with a good reply naming its seed.
struct EchoSeed;

impl Respond for EchoSeed {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let seed = body(request)["seed"].as_u64().unwrap();
        ResponseTemplate::new(200).set_body_json(completion(&[&good_reply(&format!("seed {seed}"))]))
    }
}

fn chat() -> wiremock::MockBuilder {
    Mock::given(method("POST")).and(path("/v1/chat/completions"))
}

/// Defaults for tests: millisecond backoffs, a 2 s timeout.
fn config(server: &MockServer) -> OpenAiConfig {
    let mut config = OpenAiConfig::new("test-model");
    config.base_url = format!("{}/v1", server.uri());
    config.retry.base_delay = Duration::from_millis(1);
    config.retry.max_delay = Duration::from_millis(5);
    config.timeouts = Timeouts { total: Duration::from_secs(2), idle: Duration::from_secs(2) };
    config
}

fn proposer(config: OpenAiConfig, transport: Transport) -> OpenAiProposer {
    OpenAiProposer::new(&pendulum(), Templates::embedded(), config, None, transport).unwrap()
}

fn live(config: OpenAiConfig) -> OpenAiProposer {
    let transport = Transport::live(config.timeouts, None, None).unwrap();
    proposer(config, transport)
}

fn context() -> Context {
    Context { task: "swing the pole up and keep it upright".to_owned(), ..Context::default() }
}

fn scripts(generation: &Generation) -> Vec<Result<String, CandidateError>> {
    generation.candidates.iter().map(|c| c.script.clone()).collect()
}

async fn requests(server: &MockServer) -> Vec<Value> {
    server.received_requests().await.unwrap().iter().map(body).collect()
}

#[tokio::test]
async fn k_samples_come_from_one_request_with_n() {
    let server = MockServer::start().await;
    let replies: Vec<String> = (0..4).map(|i| good_reply(&format!("choice {i}"))).collect();
    let refs: Vec<&str> = replies.iter().map(String::as_str).collect();
    chat().and(N(Some(4))).respond_with(ResponseTemplate::new(200).set_body_json(completion(&refs))).mount(&server).await;
    let generation = live(config(&server)).propose(&context(), 4, 7).await.unwrap();
    let scripts = scripts(&generation);
    for (i, script) in scripts.iter().enumerate() {
        assert!(script.as_ref().unwrap().contains(&format!("// choice {i}")), "{script:?}");
    }
    let sent = requests(&server).await;
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0]["model"], "test-model");
    assert_eq!(sent[0]["seed"], 7);
    let messages = sent[0]["messages"].as_array().unwrap();
    assert_eq!(messages[0]["role"], "system");
    assert!(messages[1]["content"].as_str().unwrap().contains("swing the pole up and keep it upright"));
    assert_eq!((generation.usage.requests, generation.usage.tokens()), (1, 150));
}

#[tokio::test]
async fn a_server_rejecting_n_gets_k_single_requests_with_distinct_seeds_and_is_remembered() {
    let server = MockServer::start().await;
    chat()
        .and(N(Some(3)))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({ "error": { "message": "only one completion choice is allowed" } })))
        .mount(&server)
        .await;
    chat().and(N(None)).respond_with(EchoSeed).mount(&server).await;
    let proposer = live(config(&server));
    let generation = proposer.propose(&context(), 3, 10).await.unwrap();
    for (slot, script) in scripts(&generation).iter().enumerate() {
        assert!(script.as_ref().unwrap().contains(&format!("// seed {}", 10 + slot)), "{script:?}");
    }
    assert_eq!(requests(&server).await.len(), 4, "one n=3 request, then three single ones");
    // The next generation goes straight to single requests.
    proposer.propose(&context(), 3, 20).await.unwrap();
    let sent = requests(&server).await;
    assert_eq!(sent.len(), 7);
    assert!(sent[4..].iter().all(|r| r.get("n").is_none()));
}

#[tokio::test]
async fn a_server_returning_fewer_choices_than_n_is_topped_up_with_single_requests() {
    // Ollama ignores `n` and answers with one choice.
    let server = MockServer::start().await;
    chat().and(N(Some(3))).respond_with(ResponseTemplate::new(200).set_body_json(completion(&[&good_reply("only")]))).mount(&server).await;
    chat().and(N(None)).respond_with(EchoSeed).mount(&server).await;
    let generation = live(config(&server)).propose(&context(), 3, 0).await.unwrap();
    let scripts = scripts(&generation);
    assert!(scripts[0].as_ref().unwrap().contains("// only"));
    assert!(scripts[1].as_ref().unwrap().contains("// seed 1"));
    assert!(scripts[2].as_ref().unwrap().contains("// seed 2"));
}

#[tokio::test]
async fn rate_limited_429_waits_as_retry_after_says_then_succeeds() {
    let server = MockServer::start().await;
    chat()
        .respond_with(ResponseTemplate::new(429).insert_header("retry-after", "1").set_body_json(json!({ "error": { "message": "slow down" } })))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    chat().respond_with(ResponseTemplate::new(200).set_body_json(completion(&[&good_reply("after 429")]))).mount(&server).await;
    let started = Instant::now();
    let generation = live(config(&server)).propose(&context(), 1, 0).await.unwrap();
    // The backoff alone would wait milliseconds: the second request waited for Retry-After.
    assert!(started.elapsed() >= Duration::from_millis(950), "retried after {:?}", started.elapsed());
    assert!(scripts(&generation)[0].as_ref().unwrap().contains("after 429"));
    assert_eq!(generation.usage.requests, 2);
}

#[tokio::test]
async fn server_errors_twice_then_success() {
    let server = MockServer::start().await;
    chat().respond_with(ResponseTemplate::new(500).set_body_string("upstream crashed")).up_to_n_times(2).with_priority(1).mount(&server).await;
    chat().respond_with(ResponseTemplate::new(200).set_body_json(completion(&[&good_reply("third time")]))).mount(&server).await;
    let generation = live(config(&server)).propose(&context(), 1, 0).await.unwrap();
    assert!(scripts(&generation)[0].as_ref().unwrap().contains("third time"));
    assert_eq!(requests(&server).await.len(), 3);
}

#[tokio::test]
async fn server_errors_past_the_retries_fail_the_candidate_with_the_last_error() {
    let server = MockServer::start().await;
    chat().respond_with(ResponseTemplate::new(503).set_body_json(json!({ "error": { "message": "overloaded" } }))).mount(&server).await;
    let mut config = config(&server);
    config.retry.max_retries = 2;
    let generation = live(config).propose(&context(), 1, 0).await.unwrap();
    let err = scripts(&generation)[0].clone().unwrap_err();
    assert_eq!(err, CandidateError::Request("HTTP 503: overloaded (gave up after 3 attempts)".to_owned()));
}

#[tokio::test]
async fn a_timeout_is_retried() {
    let server = MockServer::start().await;
    chat()
        .respond_with(ResponseTemplate::new(200).set_body_json(completion(&[&good_reply("too late")])).set_delay(Duration::from_secs(3)))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    chat().respond_with(ResponseTemplate::new(200).set_body_json(completion(&[&good_reply("in time")]))).mount(&server).await;
    let mut config = config(&server);
    config.timeouts = Timeouts { total: Duration::from_millis(300), idle: Duration::from_millis(300) };
    let generation = live(config).propose(&context(), 1, 0).await.unwrap();
    assert!(scripts(&generation)[0].as_ref().unwrap().contains("in time"));
}

#[tokio::test]
async fn malformed_json_is_retried() {
    let server = MockServer::start().await;
    chat().respond_with(ResponseTemplate::new(200).set_body_string("{\"choices\": [")).up_to_n_times(1).with_priority(1).mount(&server).await;
    chat().respond_with(ResponseTemplate::new(200).set_body_json(completion(&[&good_reply("whole")]))).mount(&server).await;
    let generation = live(config(&server)).propose(&context(), 1, 0).await.unwrap();
    assert!(scripts(&generation)[0].as_ref().unwrap().contains("whole"));
    assert_eq!(requests(&server).await.len(), 2);
}

#[tokio::test]
async fn an_empty_choice_fails_its_candidate_only() {
    let server = MockServer::start().await;
    let good = good_reply("kept");
    chat().respond_with(ResponseTemplate::new(200).set_body_json(completion(&["", &good]))).mount(&server).await;
    let generation = live(config(&server)).propose(&context(), 2, 0).await.unwrap();
    let scripts = scripts(&generation);
    assert_eq!(scripts[0], Err(CandidateError::from(ExtractError::Empty)));
    assert!(scripts[1].as_ref().unwrap().contains("kept"));
}

#[tokio::test]
async fn unauthorized_401_stops_at_once() {
    let server = MockServer::start().await;
    chat().respond_with(ResponseTemplate::new(401).set_body_json(json!({ "error": { "message": "Incorrect API key provided" } }))).mount(&server).await;
    let err = live(config(&server)).propose(&context(), 3, 0).await.unwrap_err();
    assert!(matches!(err, ProposeError::Refused { status: 401, .. }), "{err:?}");
    assert!(err.to_string().contains("Incorrect API key provided") && err.to_string().contains("OPENAI_API_KEY"), "{err}");
    assert_eq!(requests(&server).await.len(), 1, "no retry, no fallback");
}

#[tokio::test]
async fn unknown_model_404_stops_at_once() {
    let server = MockServer::start().await;
    chat()
        .and(N(None))
        .respond_with(ResponseTemplate::new(404).set_body_json(json!({ "error": { "message": "model `nope` not found" } })))
        .mount(&server)
        .await;
    let err = live(config(&server)).propose(&context(), 1, 0).await.unwrap_err();
    assert!(err.to_string().contains("--model"), "{err}");
    assert_eq!(requests(&server).await.len(), 1);
}

#[tokio::test]
async fn prose_only_two_blocks_and_truncated_replies() {
    let server = MockServer::start().await;
    let prose = "I would reward the pole for being upright and penalise its speed.";
    let two_blocks = "First a helper:\n```rhai\nfn up(s) { s.pole_cos }\n```\nThen the reward:\n```rhai\nfn compute_reward(s) {\n    up(s)\n}\n```\n";
    let truncated = "```rhai\nfn compute_reward(s) {\n    let upright = s.pole_cos;\n    if upright > 0.9 {";
    chat().respond_with(ResponseTemplate::new(200).set_body_json(completion(&[prose, two_blocks, truncated]))).mount(&server).await;
    let generation = live(config(&server)).propose(&context(), 3, 0).await.unwrap();
    let scripts = scripts(&generation);
    assert_eq!(scripts[0], Err(CandidateError::from(ExtractError::NoRewardFunction { blocks: 0 })));
    assert_eq!(scripts[1].as_ref().unwrap(), "fn compute_reward(s) {\n    up(s)\n}\n");
    assert_eq!(scripts[2], Err(CandidateError::from(ExtractError::Truncated { open_braces: 2, unclosed_fence: true })));
    assert_eq!(generation.candidates[0].reply.as_deref(), Some(prose), "the reply is kept for feedback");
}

#[tokio::test]
async fn a_token_budget_reached_mid_generation_stops_further_requests() {
    let server = MockServer::start().await;
    chat().and(N(Some(4))).respond_with(ResponseTemplate::new(400).set_body_json(json!({ "error": { "message": "n > 1 unsupported" } }))).mount(&server).await;
    chat().and(N(None)).respond_with(EchoSeed).mount(&server).await;
    let mut config = config(&server);
    config.concurrency = 1;
    config.budget.tokens = Some(250);
    let proposer = live(config);
    let generation = proposer.propose(&context(), 4, 0).await.unwrap();
    let scripts = scripts(&generation);
    assert!(scripts[0].is_ok() && scripts[1].is_ok());
    for script in &scripts[2..] {
        assert_eq!(script, &Err(CandidateError::Budget("token budget reached (300 of 250 tokens spent)".to_owned())));
    }
    assert_eq!(generation.budget_exhausted.as_deref(), Some("token budget reached (300 of 250 tokens spent)"));
    assert_eq!(requests(&server).await.len(), 3);
    // Later generations send nothing.
    let next = proposer.propose(&context(), 2, 1).await.unwrap();
    assert!(next.candidates.iter().all(|c| matches!(c.script, Err(CandidateError::Budget(_)))));
    assert_eq!(requests(&server).await.len(), 3);
}

#[tokio::test]
async fn a_dollar_budget_counts_the_price_and_needs_one() {
    let server = MockServer::start().await;
    chat().respond_with(ResponseTemplate::new(200).set_body_json(completion(&[&good_reply("a"), &good_reply("b")]))).mount(&server).await;
    let mut config = config(&server);
    config.budget.usd = Some(0.001);
    let transport = Transport::live(config.timeouts, None, None).unwrap();
    let refused = OpenAiProposer::new(&pendulum(), Templates::embedded(), config.clone(), None, transport.clone());
    assert!(matches!(refused, Err(ProposeError::Config(ref m)) if m.contains("--prices")));
    // $10 per million tokens either way: 150 tokens cost $0.0015, past the cap.
    let price = Price { input_usd_per_mtok: 10.0, output_usd_per_mtok: 10.0 };
    let proposer = OpenAiProposer::new(&pendulum(), Templates::embedded(), config, Some(price), transport).unwrap();
    let generation = proposer.propose(&context(), 2, 0).await.unwrap();
    assert!((generation.usage.cost_usd - 0.0015).abs() < 1e-12);
    assert!(generation.budget_exhausted.as_deref().unwrap().starts_with("dollar budget reached"));
    let next = proposer.propose(&context(), 2, 1).await.unwrap();
    assert!(next.candidates.iter().all(|c| matches!(c.script, Err(CandidateError::Budget(_)))));
    assert_eq!(requests(&server).await.len(), 1, "nothing is sent past the cap");
}

#[tokio::test]
async fn unauthorized_on_a_single_request_stops_the_queued_ones() {
    let server = MockServer::start().await;
    chat().and(N(Some(4))).respond_with(ResponseTemplate::new(400).set_body_json(json!({ "error": { "message": "no n" } }))).mount(&server).await;
    chat().and(N(None)).respond_with(ResponseTemplate::new(401).set_body_json(json!({ "error": { "message": "key revoked" } }))).mount(&server).await;
    let mut config = config(&server);
    config.concurrency = 1;
    let err = live(config).propose(&context(), 4, 0).await.unwrap_err();
    assert!(matches!(err, ProposeError::Refused { status: 401, .. }), "{err:?}");
    assert_eq!(requests(&server).await.len(), 2, "the n request and one single; the three queued are never sent");
}

#[tokio::test]
async fn replies_missing_optional_fields_or_with_unusual_finish_reasons_are_read() {
    // What some servers send: no id/object/created, no index, TGI's finish reason, no usage.
    let server = MockServer::start().await;
    let reply = json!({ "choices": [{ "message": { "content": good_reply("lean") }, "finish_reason": "eos_token" }] });
    chat().respond_with(ResponseTemplate::new(200).set_body_json(reply)).mount(&server).await;
    let generation = live(config(&server)).propose(&context(), 1, 0).await.unwrap();
    assert!(scripts(&generation)[0].as_ref().unwrap().contains("// lean"));
    assert_eq!((generation.usage.requests, generation.usage.unmetered, generation.usage.tokens()), (1, 1, 0));
    assert_eq!(requests(&server).await.len(), 1, "not retried as malformed");
}

#[tokio::test]
async fn replay_follows_the_recorded_budget_refusals_with_concurrent_requests() {
    // Four concurrent single requests and a cap reached after the first reply: which requests
    // went out before it depends on timing live; the replay must retrace what the recording did.
    let server = MockServer::start().await;
    chat().and(N(Some(6))).respond_with(ResponseTemplate::new(400).set_body_json(json!({ "error": { "message": "no n" } }))).mount(&server).await;
    chat().and(N(None)).respond_with(EchoSeed).mount(&server).await;
    let dir = tempfile::tempdir().unwrap();
    let cassette = dir.path().join("llm.jsonl");
    let mut config = config(&server);
    config.concurrency = 3;
    config.budget.tokens = Some(100);
    let recorder = Arc::new(Recorder::create(&cassette, false).unwrap());
    let recorded = proposer(config.clone(), Transport::live(config.timeouts, Some(recorder), None).unwrap()).propose(&context(), 6, 0).await.unwrap();
    let budget_failures = |g: &Generation| g.candidates.iter().filter(|c| matches!(c.script, Err(CandidateError::Budget(_)))).count();
    assert!(budget_failures(&recorded) >= 3, "at most 3 requests were in flight when the cap was reached");
    let sent = requests(&server).await.len();
    config.budget.tokens = None;
    let replayed = proposer(config, Transport::Replay(Arc::new(Replay::open(&cassette).unwrap()))).propose(&context(), 6, 0).await.unwrap();
    assert_eq!(scripts(&replayed), scripts(&recorded), "the replay refuses the recorded requests, whatever its own budget");
    assert_eq!(requests(&server).await.len(), sent);
}

#[tokio::test]
async fn cassette_record_then_replay_gives_identical_candidates_and_sends_nothing() {
    let server = MockServer::start().await;
    // A path worth retracing: n rejected, a 429 on the way, one empty reply.
    chat().and(N(Some(3))).respond_with(ResponseTemplate::new(422).set_body_json(json!({ "error": { "message": "n: must be 1" } }))).mount(&server).await;
    chat()
        .and(N(None))
        .respond_with(ResponseTemplate::new(429).insert_header("retry-after-ms", "10").set_body_json(json!({ "error": { "message": "later" } })))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    chat().and(N(None)).respond_with(EchoSeed).mount(&server).await;
    let dir = tempfile::tempdir().unwrap();
    let cassette = dir.path().join("llm.jsonl");
    let mut config = config(&server);
    config.api_key = Some("sk-do-not-record".to_owned());
    config.concurrency = 1;
    let recorder = Arc::new(Recorder::create(&cassette, false).unwrap());
    let recording = proposer(config.clone(), Transport::live(config.timeouts, Some(recorder), None).unwrap());
    let recorded = recording.propose(&context(), 3, 5).await.unwrap();
    let sent = server.received_requests().await.unwrap();
    assert_eq!(sent.len(), 5, "n=3, a 429 and its retry, two more singles");
    assert!(sent.iter().all(|r| r.headers.get("authorization").unwrap() == "Bearer sk-do-not-record"));
    let text = std::fs::read_to_string(&cassette).unwrap();
    assert_eq!(text.lines().count(), 5, "every exchange is recorded, failures included");
    assert!(!text.contains("sk-do-not-record"), "the key never reaches the cassette");
    let first: Value = serde_json::from_str(text.lines().nth(1).unwrap()).unwrap();
    assert_eq!((first["status"].as_u64(), first["retry_after_s"].as_f64()), (Some(429), Some(0.01)));
    let last: Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
    assert_eq!((last["prompt_tokens"].as_u64(), last["completion_tokens"].as_u64()), (Some(100), Some(50)));
    assert!(last["latency_ms"].as_f64().unwrap() > 0.0);

    // Replay against a server that is gone: the same candidates, no request anywhere.
    drop(server);
    let replay = Arc::new(Replay::open(&cassette).unwrap());
    let mut offline = config.clone();
    offline.base_url = "http://127.0.0.1:9/v1".to_owned();
    let replaying = proposer(offline.clone(), Transport::Replay(replay.clone()));
    let replayed = replaying.propose(&context(), 3, 5).await.unwrap();
    assert_eq!(scripts(&replayed), scripts(&recorded));
    assert_eq!(replayed.usage, recorded.usage);

    // Another task is another prompt: an error naming the difference, not a call.
    let replaying = proposer(offline, Transport::Replay(Arc::new(Replay::open(&cassette).unwrap())));
    let other = Context { task: "keep the pole down".to_owned(), ..Context::default() };
    let err = replaying.propose(&other, 3, 5).await.unwrap_err();
    assert!(matches!(err, ProposeError::Cassette(_)), "{err:?}");
    assert!(err.to_string().contains("`messages[1].content`: recorded"), "{err}");
}

#[tokio::test]
async fn single_requests_respect_the_concurrency_cap() {
    // Four slow single requests: with two in flight at a time they take two rounds. (A lower
    // bound on time is the only outside view of the cap a server has; it cannot pass by luck.)
    let server = MockServer::start().await;
    chat().and(N(Some(4))).respond_with(ResponseTemplate::new(400).set_body_json(json!({ "error": { "message": "no n" } }))).mount(&server).await;
    chat()
        .and(N(None))
        .respond_with(ResponseTemplate::new(200).set_body_json(completion(&[&good_reply("slow")])).set_delay(Duration::from_millis(400)))
        .mount(&server)
        .await;
    let mut config = config(&server);
    config.concurrency = 2;
    let started = Instant::now();
    let generation = live(config).propose(&context(), 4, 0).await.unwrap();
    let took = started.elapsed();
    // Two rounds: more than one (no cap), less than four (one at a time; 1.6 s at the least).
    assert!(took >= Duration::from_millis(800) && took < Duration::from_millis(1550), "4 requests of 400 ms, 2 at a time, took {took:?}");
    assert!(generation.candidates.iter().all(|c| c.script.is_ok()));
}

#[tokio::test]
async fn a_resumed_run_answers_what_it_recorded_whatever_the_budget_with_a_temperature_that_is_not_a_round_f32() {
    // 0.7 as an f32 is 0.699999988…: the proposer's view of a request must be the one the
    // transport records (0.7, read back from the JSON text), or a resumed run does not see that
    // its earlier session holds the request and applies the budget to it instead.
    let server = MockServer::start().await;
    chat().respond_with(EchoSeed).mount(&server).await;
    let dir = tempfile::tempdir().unwrap();
    let cassette = dir.path().join("llm.jsonl");
    let mut config = config(&server);
    config.temperature = 0.7;
    let recorder = Arc::new(Recorder::create(&cassette, false).unwrap());
    let first = proposer(config.clone(), Transport::live(config.timeouts, Some(recorder), None).unwrap()).propose(&context(), 1, 0).await.unwrap();
    drop(server);
    config.base_url = "http://127.0.0.1:9/v1".to_owned();
    config.budget.tokens = Some(0);
    let prefill = Arc::new(Replay::open(&cassette).unwrap());
    let recorder = Arc::new(Recorder::create(&cassette, true).unwrap());
    let resumed = proposer(config.clone(), Transport::live(config.timeouts, Some(recorder), None).unwrap().with_prefill(prefill));
    assert_eq!(scripts(&resumed.propose(&context(), 1, 0).await.unwrap()), scripts(&first));
}
