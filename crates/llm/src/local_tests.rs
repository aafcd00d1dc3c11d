//! The proposer against a one-slot local server ([`crate::mock`]): streamed replies, the
//! completion cap, the idle timeout and the concurrency that adapts.

use crate::cassette::{Recorder, Replay};
use crate::extract::ExtractError;
use crate::mock::{MockConfig, MockServer};
use crate::openai::{CapField, EndpointDefaults, OpenAiConfig, OpenAiProposer};
use crate::prompt::Templates;
use crate::transport::{Timeouts, Transport};
use rewardsmith_propose::{CandidateError, Context, Generation, Proposer};
use rewardsmith_sim::EnvModel;
use rewardsmith_spec::catalog;
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;

/// A reply with some reasoning and a script of about 40 tokens, told apart by the request's seed.
fn reply(request: &Value) -> String {
    let seed = request["seed"].as_u64().unwrap_or_default();
    format!(
        "The pole should stay upright, so reward its cosine and damp the spin.\n\n```rhai\n// seed {seed}\nfn compute_reward(s) {{\n    \
         let upright = s.pole_cos;\n    let spin_temp = 2.0;\n    let calm = exp(-square(s.pole_angular_velocity) / spin_temp);\n    \
         #{{ upright: upright, calm: 0.1 * calm }}\n}}\n```\n"
    )
}

fn proposer(config: OpenAiConfig, transport: Transport) -> OpenAiProposer {
    let model = EnvModel::new(&catalog::resolve("pendulum").unwrap()).unwrap();
    OpenAiProposer::new(&Arc::new(model), Templates::embedded(), config, None, transport).unwrap()
}

/// The defaults for a local server at `server`, with millisecond backoffs.
fn local(server: &MockServer) -> OpenAiConfig {
    let mut config = OpenAiConfig::for_endpoint("local-model", &server.url());
    config.retry.base_delay = Duration::from_millis(1);
    config.retry.max_delay = Duration::from_millis(5);
    config
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

#[test]
fn loopback_addresses_get_the_local_defaults_and_openai_gets_its_cap_field() {
    for url in ["http://localhost:8080/v1", "http://127.0.0.1:11434/v1", "http://[::1]:8000/v1", "http://0.0.0.0:8080/v1", "http://127.0.0.2/v1"] {
        let defaults = EndpointDefaults::for_base_url(url);
        assert!(defaults.local, "{url}");
        assert_eq!((defaults.concurrency, defaults.cap_field), (1, CapField::MaxTokens), "{url}");
        assert!(defaults.timeouts.idle > EndpointDefaults::for_base_url("https://example.com/v1").timeouts.idle, "{url}");
    }
    for url in ["https://api.openai.com/v1", "https://my.openai.azure.com/openai/v1"] {
        let defaults = EndpointDefaults::for_base_url(url);
        assert!(!defaults.local, "{url}");
        assert_eq!((defaults.concurrency, defaults.cap_field), (4, CapField::MaxCompletionTokens), "{url}");
    }
    let gateway = EndpointDefaults::for_base_url("http://10.0.0.5:8000/v1");
    assert_eq!((gateway.local, gateway.cap_field), (false, CapField::MaxTokens));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn propose_k4_on_a_one_slot_local_server_gets_4_candidates_one_request_at_a_time() {
    let server = MockServer::start(MockConfig::new(reply)).await;
    let generation = live(local(&server)).propose(&context(), 4, 7).await.unwrap();
    assert!(scripts(&generation).iter().all(Result::is_ok), "{:?}", scripts(&generation));
    let stats = server.stats();
    // The `n` probe (answered with one choice, as the server ignores `n`) and 3 single requests:
    // each generated once, none queued behind another, none abandoned or cancelled. So the wall
    // time is the 4 generations back to back.
    assert_eq!(stats.requests.len(), 4);
    assert_eq!(stats.requests[0]["n"], 4);
    assert_eq!((stats.completed, stats.cancelled, stats.abandoned, stats.most_at_once, stats.props_requests), (4, 0, 0, 1, 1));
    for request in &stats.requests {
        assert_eq!((request["stream"].as_bool(), request["max_tokens"].as_u64()), (Some(true), Some(2048)), "{request}");
        assert!(request.get("max_completion_tokens").is_none(), "one cap field: {request}");
    }
    assert_eq!(generation.usage.requests, 4);
    assert!(generation.usage.completion_tokens > 0 && generation.usage.estimated == 0, "{:?}", generation.usage);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_requests_queued_by_a_one_slot_server_lower_the_concurrency_once() {
    // A prefill long beside the client's own bookkeeping, so the next request is still waiting
    // for its first token when the client sees the one before it end.
    let server = MockServer::start(MockConfig { props: false, prefill: Duration::from_millis(100), ..MockConfig::new(reply) }).await;
    let mut config = local(&server);
    // As asked for with --concurrency 4: the server does not say how many it serves.
    (config.concurrency, config.concurrency_from_server) = (4, false);
    let proposer = live(config);
    let generation = proposer.propose(&context(), 4, 7).await.unwrap();
    assert!(scripts(&generation).iter().all(Result::is_ok), "{:?}", scripts(&generation));
    let notices = proposer.take_notices();
    assert_eq!(notices.len(), 1, "{notices:?}");
    assert!(notices[0].contains("serves 1 at a time; sending at most 1 request(s) at once from now on"), "{notices:?}");
    let stats = server.stats();
    assert_eq!((stats.requests.len(), stats.cancelled, stats.abandoned), (4, 0, 0));
    // The next generation sends one at a time.
    let server_before = stats.most_at_once;
    assert_eq!(server_before, 3, "the 3 single requests went out together before the server showed it queues them");
    proposer.propose(&context(), 3, 8).await.unwrap();
    assert!(proposer.take_notices().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reply_cut_at_the_completion_cap_is_reported_as_truncated() {
    let rambling = |_: &Value| format!("{}```rhai\nfn compute_reward(s) {{ s.pole_cos }}\n```\n", "Let me think about the pendulum. ".repeat(40));
    let server = MockServer::start(MockConfig::new(rambling)).await;
    let mut config = local(&server);
    config.reply.max_completion_tokens = Some(20);
    let generation = live(config).propose(&context(), 1, 0).await.unwrap();
    let error = scripts(&generation).remove(0).unwrap_err();
    assert_eq!(error, CandidateError::from(ExtractError::CutAtCap { cap: Some(20) }));
    assert!(error.to_string().contains("truncated at the completion cap of 20 tokens"), "{error}");
    assert_eq!(server.stats().requests[0]["max_tokens"], 20);
    // Cut inside the code, it is the truncation the extraction sees.
    let cut_in_code = |_: &Value| "```rhai\nfn compute_reward(s) {\n    let a = s.pole_cos;\n    let b = 1.0;\n    a + b\n}\n```".to_owned();
    let server = MockServer::start(MockConfig::new(cut_in_code)).await;
    let mut config = local(&server);
    config.reply.max_completion_tokens = Some(8);
    let generation = live(config).propose(&context(), 1, 0).await.unwrap();
    assert!(matches!(scripts(&generation).remove(0), Err(CandidateError::Extract(m)) if m.contains("truncated by the token limit")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_silent_past_the_idle_timeout_fails_with_a_clear_message_and_is_cancelled() {
    let server = MockServer::start(MockConfig { stall_after: Some(5), ..MockConfig::new(reply) }).await;
    let mut config = local(&server);
    config.timeouts = Timeouts { idle: Duration::from_millis(300), total: Duration::from_secs(30) };
    config.retry.max_retries = 0;
    let generation = live(config).propose(&context(), 1, 0).await.unwrap();
    let error = scripts(&generation).remove(0).unwrap_err().to_string();
    assert_eq!(
        error,
        "request failed: no token for 0.3 s (5 streamed before); the request was cancelled (raise --idle-timeout for a server this slow) \
         (gave up after 1 attempts)"
    );
    // The server saw the client leave and stopped generating.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while server.stats().cancelled == 0 && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!((server.stats().cancelled, server.stats().completed), (1, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_streams_no_usage_has_its_tokens_estimated_and_marked() {
    let server = MockServer::start(MockConfig { usage_in_stream: false, ..MockConfig::new(reply) }).await;
    let generation = live(local(&server)).propose(&context(), 2, 0).await.unwrap();
    assert_eq!((generation.usage.requests, generation.usage.estimated, generation.usage.unmetered), (2, 2, 0));
    let words = reply(&serde_json::json!({ "seed": 0 })).split_inclusive(char::is_whitespace).count() as u64;
    assert_eq!(generation.usage.completion_tokens, 2 * words, "one token a streamed chunk");
    assert!(generation.usage.prompt_tokens > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recorded_streamed_generation_replays_bit_identically_with_no_server() {
    let dir = tempfile::tempdir().unwrap();
    let cassette = dir.path().join("llm.jsonl");
    let server = MockServer::start(MockConfig::new(reply)).await;
    let config = local(&server);
    let recorder = Arc::new(Recorder::create(&cassette, false).unwrap());
    let recorded = proposer(config.clone(), Transport::live(config.timeouts, Some(recorder), None).unwrap()).propose(&context(), 3, 5).await.unwrap();
    drop(server);
    let line: Value = serde_json::from_str(std::fs::read_to_string(&cassette).unwrap().lines().next().unwrap()).unwrap();
    assert_eq!(line["request"]["stream"], true);
    assert_eq!(line["response"]["object"], "chat.completion", "the assembled reply is recorded");
    assert!(line["first_token_ms"].as_f64().is_some_and(|ms| ms > 0.0), "{line}");
    let replay = Arc::new(Replay::open(&cassette).unwrap());
    let replayed = proposer(config, Transport::Replay(replay)).propose(&context(), 3, 5).await.unwrap();
    assert_eq!(scripts(&replayed), scripts(&recorded));
    assert_eq!(replayed.candidates.iter().map(|c| &c.reply).collect::<Vec<_>>(), recorded.candidates.iter().map(|c| &c.reply).collect::<Vec<_>>());
    assert_eq!(replayed.usage, recorded.usage);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_streaming_the_total_cap_is_the_only_limit_and_the_cap_still_applies() {
    let server = MockServer::start(MockConfig::new(reply)).await;
    let mut config = local(&server);
    config.reply.stream = false;
    config.reply.max_completion_tokens = Some(6);
    config.reply.cap_field = CapField::MaxCompletionTokens;
    let generation = live(config).propose(&context(), 1, 0).await.unwrap();
    assert!(matches!(scripts(&generation).remove(0), Err(CandidateError::Extract(m)) if m.contains("truncated at the completion cap of 6 tokens")));
    let request = &server.stats().requests[0];
    assert_eq!((request.get("stream"), request["max_completion_tokens"].as_u64(), request.get("max_tokens")), (None, Some(6), None));
}
