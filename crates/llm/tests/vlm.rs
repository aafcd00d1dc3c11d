//! The vision ranker against a real HTTP server on loopback (wiremock) that reads the pictures
//! it is sent: one request per ranking, the retry in the same conversation, failures, the shared
//! budget, and cassette record → replay with pictures recorded by hash.

use base64::Engine as _;
use rewardsmith_llm::cassette::{Recorder, Replay};
use rewardsmith_llm::openai::{Budget, OpenAiConfig, OpenAiProposer, Spending};
use rewardsmith_llm::prompt::Templates;
use rewardsmith_llm::transport::{Timeouts, Transport};
use rewardsmith_llm::vlm::{VlmConfig, VlmRanker, recorded_model};
use rewardsmith_llm::{Context, JudgeError, Judgement, Proposer, Usage};
use rewardsmith_sim::EnvModel;
use rewardsmith_spec::catalog;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

const TASK: &str = "swing the pole up and keep it upright";

/// A real PNG file, 6×4 RGB, its colour set by `shade` (so pictures differ).
fn png(shade: u8) -> Vec<u8> {
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, 6, 4);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    let pixels: Vec<u8> = (0..6 * 4).flat_map(|i| [shade, i as u8 * 10, 255 - shade]).collect();
    let mut writer = encoder.write_header().unwrap();
    writer.write_image_data(&pixels).unwrap();
    writer.finish().unwrap();
    out
}

fn candidates(n: usize) -> Vec<(String, Vec<u8>)> {
    (0..n).map(|i| (format!("cand-{i:02}"), png(40 * i as u8))).collect()
}

/// A chat completion answering `content`, 100 prompt and 50 completion tokens.
fn completion(content: &str) -> Value {
    json!({
        "id": "chatcmpl-test", "object": "chat.completion", "created": 0, "model": "vision-model",
        "choices": [{ "index": 0, "message": { "role": "assistant", "content": content }, "finish_reason": "stop" }],
        "usage": { "prompt_tokens": 100, "completion_tokens": 50, "total_tokens": 150 }
    })
}

fn body(request: &Request) -> Value {
    serde_json::from_slice(&request.body).unwrap()
}

/// The candidates a request shows: each `Candidate NAME:` text part and the picture after it,
/// decoded from its data URI; an error says what is malformed.
fn shown(request: &Value) -> Result<Vec<(String, Vec<u8>)>, String> {
    let parts = request["messages"][1]["content"].as_array().ok_or("the user message has no parts")?;
    let mut out = Vec::new();
    for pair in parts.windows(2) {
        let Some(name) = pair[0]["text"].as_str().and_then(|t| t.strip_prefix("Candidate ")).and_then(|t| t.strip_suffix(':')) else { continue };
        if pair[1]["type"] != "image_url" {
            return Err(format!("no picture after {name}"));
        }
        let url = pair[1]["image_url"]["url"].as_str().ok_or("an image part without a url")?;
        let data = url.strip_prefix("data:image/png;base64,").ok_or_else(|| format!("not a PNG data URI: {}", &url[..url.len().min(40)]))?;
        let bytes = base64::engine::general_purpose::STANDARD.decode(data).map_err(|e| e.to_string())?;
        let info = png::Decoder::new(std::io::Cursor::new(&bytes)).read_info().map_err(|e| format!("{name}'s picture is not a PNG: {e}"))?;
        if (info.info().width, info.info().height) != (6, 4) {
            return Err(format!("{name}'s picture is {}×{}", info.info().width, info.info().height));
        }
        out.push((name.to_owned(), bytes));
    }
    Ok(out)
}

/// A vision server: checks that each request shows `expected` pictures that decode as PNG files,
/// then answers the next of its replies (400 naming the defect otherwise).
struct VisionServer {
    expected: usize,
    replies: Mutex<VecDeque<String>>,
}

impl VisionServer {
    fn new(expected: usize, replies: &[&str]) -> Self {
        Self { expected, replies: Mutex::new(replies.iter().map(|r| (*r).to_owned()).collect()) }
    }
}

impl Respond for VisionServer {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        match shown(&body(request)) {
            Ok(shown) if shown.len() == self.expected => {
                let reply = self.replies.lock().unwrap().pop_front().expect("a reply for every request");
                ResponseTemplate::new(200).set_body_json(completion(&reply))
            }
            Ok(shown) => ResponseTemplate::new(400).set_body_json(json!({ "error": { "message": format!("{} pictures", shown.len()) } })),
            Err(e) => ResponseTemplate::new(400).set_body_json(json!({ "error": { "message": e } })),
        }
    }
}

fn chat() -> wiremock::MockBuilder {
    Mock::given(method("POST")).and(path("/v1/chat/completions"))
}

/// Defaults for tests: millisecond backoffs, a 2 s timeout.
fn config(server: &MockServer) -> VlmConfig {
    let mut config = VlmConfig::new("vision-model");
    config.base_url = format!("{}/v1", server.uri());
    config.retry.base_delay = Duration::from_millis(1);
    config.retry.max_delay = Duration::from_millis(5);
    config.timeouts = Timeouts { total: Duration::from_secs(2), idle: Duration::from_secs(2) };
    config
}

fn ranker(config: VlmConfig, transport: Transport, spending: Arc<Spending>) -> VlmRanker {
    VlmRanker::new(Templates::embedded(), config, None, transport, spending).unwrap()
}

fn live(config: VlmConfig) -> VlmRanker {
    let transport = Transport::live(config.timeouts, None, None).unwrap();
    ranker(config, transport, Arc::new(Spending::default()))
}

async fn requests(server: &MockServer) -> Vec<Value> {
    server.received_requests().await.unwrap().iter().map(body).collect()
}

fn failed(error: JudgeError) -> (String, Option<String>, Usage) {
    match error {
        JudgeError::Failed { message, reply, usage } => (message, reply, usage),
        other => panic!("expected Failed, got {other:?}"),
    }
}

#[tokio::test]
async fn one_request_shows_every_picture_after_its_name_and_the_ranking_comes_back() {
    let server = MockServer::start().await;
    let answer = "cand-01 stays upright longest; cand-02 never swings up.\nRANKING: cand-01 > cand-00 > cand-02";
    chat().respond_with(VisionServer::new(3, &[answer])).mount(&server).await;
    let judgement = live(config(&server)).rank(TASK, 4, &candidates(3)).await.unwrap();
    assert_eq!(judgement.order, ["cand-01", "cand-00", "cand-02"]);
    assert_eq!((judgement.attempts, judgement.model.as_str(), judgement.reply.as_str()), (1, "vision-model", answer));
    assert_eq!((judgement.usage.requests, judgement.usage.tokens()), (1, 150));

    let sent = requests(&server).await;
    assert_eq!(sent.len(), 1);
    let request = &sent[0];
    assert_eq!(shown(request).unwrap(), candidates(3), "each candidate's own picture, in candidate order, after its name");
    assert_eq!((request["model"].as_str(), request["seed"].as_u64(), request["temperature"].as_f64()), (Some("vision-model"), Some(4), Some(0.0)));
    let messages = request["messages"].as_array().unwrap();
    assert_eq!((messages.len(), messages[0]["role"].as_str(), messages[1]["role"].as_str()), (2, Some("system"), Some("user")));
    let parts = messages[1]["content"].as_array().unwrap();
    assert_eq!(parts.len(), 1 + 2 * 3 + 1, "intro, a name and a picture per candidate, the answer format");
    assert!(parts[0]["text"].as_str().unwrap().contains(TASK));
    assert!(parts[7]["text"].as_str().unwrap().contains("RANKING: <most preferred> >"));
}

#[tokio::test]
async fn a_prose_only_answer_is_asked_again_in_the_same_conversation_quoting_why() {
    let server = MockServer::start().await;
    let prose = "cand-00 is clearly the best, then cand-01.";
    chat().respond_with(VisionServer::new(2, &[prose, "Sorry.\nRANKING: cand-00 > cand-01"])).mount(&server).await;
    let judgement = live(config(&server)).rank(TASK, 0, &candidates(2)).await.unwrap();
    assert_eq!((judgement.order.as_slice(), judgement.attempts), (["cand-00".to_owned(), "cand-01".to_owned()].as_slice(), 2));
    assert_eq!(judgement.reply, "Sorry.\nRANKING: cand-00 > cand-01", "the reply the ranking came from");
    assert_eq!((judgement.usage.requests, judgement.usage.tokens()), (2, 300));

    let sent = requests(&server).await;
    assert_eq!(sent.len(), 2);
    let retry = sent[1]["messages"].as_array().unwrap();
    assert_eq!(retry.len(), 4);
    assert_eq!(retry[..2], sent[0]["messages"].as_array().unwrap()[..], "the same conversation, pictures included");
    assert_eq!((retry[2]["role"].as_str(), retry[2]["content"].as_str()), (Some("assistant"), Some(prose)));
    let quoted = retry[3]["content"].as_str().unwrap();
    assert!(quoted.starts_with("Your answer could not be used: it has no line starting with `RANKING:`. Answer again with one line"), "{quoted}");
}

#[tokio::test]
async fn a_partial_then_a_duplicated_answer_fails_with_the_last_reply() {
    let server = MockServer::start().await;
    let second = "RANKING: cand-02 > cand-02 > cand-00 > cand-01";
    chat().respond_with(VisionServer::new(3, &["RANKING: cand-02 > cand-00", second])).mount(&server).await;
    let (message, reply, usage) = failed(live(config(&server)).rank(TASK, 0, &candidates(3)).await.unwrap_err());
    assert!(message.contains("leaves out cand-01") && message.contains("`cand-02` ranked more than once"), "{message}");
    assert_eq!(reply.as_deref(), Some(second));
    assert_eq!(usage.requests, 2);
    assert_eq!(requests(&server).await.len(), 2, "asked again once, not more");
}

#[tokio::test]
async fn an_unknown_id_is_quoted_back_and_a_good_retry_is_used() {
    let server = MockServer::start().await;
    chat().respond_with(VisionServer::new(2, &["RANKING: cand-01 > cand-9", "RANKING: Cand-01 > cand-00"])).mount(&server).await;
    let judgement = live(config(&server)).rank(TASK, 0, &candidates(2)).await.unwrap();
    assert_eq!(judgement.order, ["cand-01", "cand-00"]);
    let sent = requests(&server).await;
    assert!(sent[1]["messages"][3]["content"].as_str().unwrap().contains("`cand-9` is not a candidate (the candidates are cand-00, cand-01)"));
}

#[tokio::test]
async fn server_errors_past_the_retries_fail_the_ranking_and_a_401_stops_at_once() {
    let server = MockServer::start().await;
    chat().respond_with(ResponseTemplate::new(503).set_body_json(json!({ "error": { "message": "overloaded" } }))).mount(&server).await;
    let mut retried = config(&server);
    retried.retry.max_retries = 2;
    let (message, reply, usage) = failed(live(retried).rank(TASK, 0, &candidates(2)).await.unwrap_err());
    assert!(message.contains("HTTP 503: overloaded (gave up after 3 attempts)"), "{message}");
    assert_eq!((reply, usage.requests), (None, 3));

    let server = MockServer::start().await;
    chat().respond_with(ResponseTemplate::new(401).set_body_json(json!({ "error": { "message": "Incorrect API key provided" } }))).mount(&server).await;
    let (message, ..) = failed(live(config(&server)).rank(TASK, 0, &candidates(2)).await.unwrap_err());
    assert!(message.contains("HTTP 401") && message.contains("Incorrect API key provided"), "{message}");
    assert_eq!(requests(&server).await.len(), 1, "no retry");
}

#[tokio::test]
async fn pictures_that_are_not_png_and_a_single_candidate_send_nothing() {
    let server = MockServer::start().await;
    let ranker = live(config(&server));
    let (message, ..) = failed(ranker.rank(TASK, 0, &[("cand-00".to_owned(), png(0)), ("cand-01".to_owned(), b"GIF89a...".to_vec())]).await.unwrap_err());
    assert!(message.contains("cand-01 is not a PNG"), "{message}");
    let alone = ranker.rank(TASK, 0, &candidates(1)).await.unwrap();
    assert_eq!((alone.order.as_slice(), alone.attempts), (["cand-00".to_owned()].as_slice(), 0));
    assert!(requests(&server).await.is_empty());
}

#[tokio::test]
async fn a_budget_reached_by_the_proposer_stops_the_ranker_before_any_request_and_is_recorded() {
    let server = MockServer::start().await;
    let proposal = "```rhai\nfn compute_reward(s) {\n    s.pole_cos\n}\n```";
    chat().respond_with(ResponseTemplate::new(200).set_body_json(completion(proposal))).expect(1).mount(&server).await;
    let dir = tempfile::tempdir().unwrap();
    let cassette = dir.path().join("llm.jsonl");
    let recorder = Arc::new(Recorder::create(&cassette, false).unwrap());
    let transport = Transport::live(Timeouts { total: Duration::from_secs(2), idle: Duration::from_secs(2) }, Some(recorder), None).unwrap();

    // The proposer's one proposal spends 150 tokens of a 100-token budget it shares with the ranker.
    let mut proposer_config = OpenAiConfig::new("test-model");
    proposer_config.base_url = format!("{}/v1", server.uri());
    proposer_config.budget.tokens = Some(100);
    let model: Arc<EnvModel> = EnvModel::new(&catalog::resolve("pendulum").unwrap()).unwrap();
    let proposer = OpenAiProposer::new(&model, Templates::embedded(), proposer_config, None, transport.clone()).unwrap();
    proposer.propose(&Context { task: TASK.to_owned(), ..Context::default() }, 1, 0).await.unwrap();
    let ranker = ranker(config(&server), transport, proposer.spending());
    let (message, reply, usage) = failed(ranker.rank(TASK, 0, &candidates(2)).await.unwrap_err());
    assert_eq!(message, "the vision model was not asked: token budget reached (150 of 100 tokens spent)");
    assert_eq!((reply, usage), (None, Usage::default()));
    assert_eq!(requests(&server).await.len(), 1, "only the proposal");

    let text = std::fs::read_to_string(&cassette).unwrap();
    let last: Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
    assert_eq!(last["skipped"], "token budget reached (150 of 100 tokens spent)");
    assert!(shown(&last["request"]).is_err(), "the refused request is recorded with its pictures as hashes");

    // A ranker with caps of its own, already spent, refuses too; and its spending is the one given.
    let spending = Arc::new(Spending::new(Budget { tokens: Some(10), usd: None }));
    spending.add(&Usage { requests: 1, prompt_tokens: 10, ..Usage::default() });
    let own = live_with(config(&server), spending.clone());
    assert!(failed(own.rank(TASK, 0, &candidates(2)).await.unwrap_err()).0.contains("token budget reached (10 of 10"));
    assert!(Arc::ptr_eq(&own.spending(), &spending));
}

fn live_with(config: VlmConfig, spending: Arc<Spending>) -> VlmRanker {
    let transport = Transport::live(config.timeouts, None, None).unwrap();
    ranker(config, transport, spending)
}

#[tokio::test]
async fn rankings_count_against_the_proposers_budget() {
    let server = MockServer::start().await;
    chat().respond_with(VisionServer::new(2, &["RANKING: cand-01 > cand-00"])).mount(&server).await;
    let mut proposer_config = OpenAiConfig::new("test-model");
    proposer_config.budget.tokens = Some(1000);
    let model: Arc<EnvModel> = EnvModel::new(&catalog::resolve("pendulum").unwrap()).unwrap();
    let transport = Transport::live(Timeouts { total: Duration::from_secs(2), idle: Duration::from_secs(2) }, None, None).unwrap();
    let proposer = OpenAiProposer::new(&model, Templates::embedded(), proposer_config, None, transport.clone()).unwrap();
    ranker(config(&server), transport, proposer.spending()).rank(TASK, 0, &candidates(2)).await.unwrap();
    assert_eq!((proposer.spent().requests, proposer.spent().tokens()), (1, 150));
}

#[tokio::test]
async fn a_recorded_ranking_replays_identically_without_a_server_and_the_cassette_holds_hashes() {
    let server = MockServer::start().await;
    chat().respond_with(VisionServer::new(3, &["I like cand-02.", "RANKING: cand-02 > cand-00 > cand-01"])).mount(&server).await;
    let dir = tempfile::tempdir().unwrap();
    let cassette = dir.path().join("llm.jsonl");
    let mut config = config(&server);
    config.api_key = Some("sk-do-not-record".to_owned());
    let recorder = Arc::new(Recorder::create(&cassette, false).unwrap().with_secret(config.api_key.as_deref()));
    let recording = ranker(config.clone(), Transport::live(config.timeouts, Some(recorder), None).unwrap(), Arc::new(Spending::default()));
    let recorded = recording.rank(TASK, 3, &candidates(3)).await.unwrap();
    assert_eq!(recorded.attempts, 2);

    let text = std::fs::read_to_string(&cassette).unwrap();
    assert_eq!(text.lines().count(), 2, "both requests recorded");
    assert!(!text.contains("base64") && !text.contains("sk-do-not-record"), "no picture and no key inline");
    let first: Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    let urls: Vec<&str> = first["request"]["messages"][1]["content"].as_array().unwrap().iter().filter_map(|p| p["image_url"]["url"].as_str()).collect();
    let hashes: Vec<String> = candidates(3).iter().map(|(_, png)| format!("sha256:{:x}", Sha256::digest(png))).collect();
    assert_eq!(urls, hashes, "each picture by the SHA-256 of its file");
    assert_eq!((first["prompt_tokens"].as_u64(), first["completion_tokens"].as_u64()), (Some(100), Some(50)));

    // Replay against a server that is gone: the same judgement, no request anywhere.
    drop(server);
    let replay = Arc::new(Replay::open(&cassette).unwrap());
    assert_eq!(recorded_model(&replay).as_deref(), Some("vision-model"));
    let mut offline = config.clone();
    offline.base_url = "http://127.0.0.1:9/v1".to_owned();
    offline.api_key = None;
    let replaying = ranker(offline.clone(), Transport::Replay(replay), Arc::new(Spending::default()));
    assert_eq!(replaying.rank(TASK, 3, &candidates(3)).await.unwrap(), recorded);
    assert!(replaying.take_warnings().is_empty());

    // Pictures re-rendered a byte apart (another machine's GPU): still the same judgement, with a
    // warning naming the cassette line.
    let mut rerendered = candidates(3);
    rerendered[1].1 = png(41);
    let replaying = ranker(offline.clone(), Transport::Replay(Arc::new(Replay::open(&cassette).unwrap())), Arc::new(Spending::default()));
    let judgement: Judgement = replaying.rank(TASK, 3, &rerendered).await.unwrap();
    assert_eq!(judgement, recorded);
    let warnings = replaying.take_warnings();
    assert_eq!(warnings.len(), 2, "{warnings:?}");
    assert!(warnings[0].contains("llm.jsonl:1") && warnings[0].contains("1 of 3 picture(s) differ"), "{warnings:?}");

    // Another generation (seed) or task is another request: a cassette error, not a ranking.
    let replaying = ranker(offline, Transport::Replay(Arc::new(Replay::open(&cassette).unwrap())), Arc::new(Spending::default()));
    let err = replaying.rank(TASK, 4, &candidates(3)).await.unwrap_err();
    assert!(matches!(&err, JudgeError::Cassette(m) if m.contains("`seed`: recorded 3, asked 4")), "{err:?}");
    let err = replaying.rank("keep the pole down", 3, &candidates(3)).await.unwrap_err();
    assert!(matches!(err, JudgeError::Cassette(_)), "{err:?}");
}

#[test]
fn the_ranker_can_sit_behind_the_judge_trait() {
    // `Judge` needs a `Send + Sync` implementor whose ranking future is `Send`.
    fn send_sync<T: Send + Sync>(_: &T) {}
    fn send<F: std::future::Future + Send>(_: F) {}
    let mut config = VlmConfig::new("vision-model");
    config.base_url = "http://127.0.0.1:9/v1".to_owned();
    let ranker = live(config);
    send_sync(&ranker);
    send(ranker.rank(TASK, 0, &[]));
}
