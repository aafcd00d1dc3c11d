//! The proposer behind any OpenAI-compatible chat endpoint (OpenAI, vLLM, Ollama, llama.cpp's
//! server, gateways), through async-openai, or behind a cassette of one.
//!
//! K samples are asked as one request with `n = K`. A server that rejects `n > 1` (a 4xx other
//! than 401/403/404/429) or returns fewer choices than asked is asked the missing ones as
//! parallel single requests instead (at most `concurrency` in flight), and is remembered as such.
//! Single requests carry `seed + slot`, so a server that honours `seed` does not answer K
//! identical requests with K identical samples, and so every request of a generation is distinct
//! (which makes a cassette's replay exact).
//!
//! Every request is retried on 408, 429, 5xx, timeouts, connection errors and bodies that are not
//! JSON, with exponential backoff and jitter, waiting as long as `Retry-After` asks when the server
//! says; 401/403/404 stop the generation at once ([`ProposeError::Refused`]), dropping the requests
//! still queued. Tokens come from each response's `usage`, dollars from the price table. Once a
//! cap of [`Budget`] is reached no further request (and no retry) is sent, and the remaining
//! candidates fail with the reason; requests already in flight still finish, so spending can pass
//! a cap by at most `concurrency` replies (one reply of `n = K` samples on the `n` path).
//!
//! Every request caps its reply's length ([`ReplyShape`]) and, by default, streams it: the
//! transport then fails a request only when no token comes for the idle timeout, never a slow
//! server that is still writing, and a reply cut at the cap is a truncated candidate whose advice
//! reaches the next prompt. How many requests are in flight at once starts at `concurrency` (or
//! at what a local server says it serves) and goes down when the server shows it queues them
//! (see [`crate::limiter`]); each lowering is a notice ([`OpenAiProposer::take_notices`]).
//! [`EndpointDefaults`] are the settings that depend on where the server is: a local one (a
//! loopback address) gets one request at a time, longer timeouts and a shorter cap.
//!
//! The retries, the budget checks and the cassette's say over refusals live in `Endpoint`, which
//! the vision ranker ([`crate::vlm`]) sends through as well; what was spent is a [`Spending`]
//! the two can share, so the caps hold over proposals and rankings together.

use crate::cassette::{Exchange, Recorder, Replay, budget_verdict_request, redact_images};
use crate::extract::{ExtractError, extract_script};
use crate::limiter::{Limiter, Outcome};
use crate::prompt::{Prompt, Templates};
use crate::transport::{Price, Timeouts, Transport, TransportError};
use async_openai::config::OpenAIConfig;
use async_openai::error::OpenAIError;
use async_openai::types::chat::{
    ChatCompletionRequestMessage, ChatCompletionRequestSystemMessage, ChatCompletionRequestUserMessage, ChatCompletionStreamOptions,
    CreateChatCompletionRequest,
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rewardsmith_propose::{Candidate, CandidateError, Context, Generation, ProposeError, Proposer, Usage};
use rewardsmith_sim::EnvModel;
use std::collections::BTreeMap;
use std::hash::BuildHasher;
use std::path::Path;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The base URL when neither `--base-url` nor `OPENAI_BASE_URL` gives one.
pub const DEFAULT_BASE_URL: &str = "https://api.openai.com/v1";

/// Settings of the OpenAI-compatible proposer.
#[derive(Debug, Clone, PartialEq)]
pub struct OpenAiConfig {
    /// The API's base URL, up to and including `/v1`. Default [`DEFAULT_BASE_URL`].
    pub base_url: String,
    /// The bearer key; None for local servers that need none. Default None.
    pub api_key: Option<String>,
    /// The model name as the server knows it. No default: the caller must name one.
    pub model: String,
    /// Sampling temperature. Default 1.0 (Eureka's; diversity across K samples matters more
    /// than any one sample's likelihood).
    pub temperature: f32,
    /// How each reply is asked for: its length cap and whether it streams. Default: the
    /// endpoint's ([`EndpointDefaults`]), streamed.
    pub reply: ReplyShape,
    /// Requests in flight at once, at most (lowered while the server shows it serves fewer).
    /// Default: the endpoint's ([`EndpointDefaults`]).
    pub concurrency: usize,
    /// Start from the number of requests the server says it serves at once (llama.cpp's
    /// `/props`), where it says, instead of `concurrency`. Default: the endpoint's.
    pub concurrency_from_server: bool,
    /// Lower the concurrency when a request waits for its first token while another is answered
    /// whole (a server that queues). Default: the endpoint's (on for a local server; off for a
    /// hosted API, where a reasoning model's first token may come minutes after another's whole
    /// answer; timeouts lower it there).
    pub watch_queueing: bool,
    /// Limits on one request (the transport is built with them: [`Transport::live`]). Default:
    /// the endpoint's.
    pub timeouts: Timeouts,
    /// How failed requests are retried.
    pub retry: RetryConfig,
    /// Caps on what a proposer may spend over its lifetime (all generations).
    pub budget: Budget,
}

impl OpenAiConfig {
    /// Defaults for `model` at [`DEFAULT_BASE_URL`].
    pub fn new(model: impl Into<String>) -> Self {
        Self::for_endpoint(model, DEFAULT_BASE_URL)
    }

    /// Defaults for `model` at `base_url` ([`EndpointDefaults::for_base_url`]).
    pub fn for_endpoint(model: impl Into<String>, base_url: &str) -> Self {
        let defaults = EndpointDefaults::for_base_url(base_url);
        Self {
            base_url: base_url.to_owned(),
            api_key: None,
            model: model.into(),
            temperature: 1.0,
            reply: ReplyShape { max_completion_tokens: Some(defaults.max_completion_tokens), cap_field: defaults.cap_field, stream: true },
            concurrency: defaults.concurrency,
            concurrency_from_server: defaults.local,
            watch_queueing: defaults.local,
            timeouts: defaults.timeouts,
            retry: RetryConfig::default(),
            budget: Budget::default(),
        }
    }
}

/// Which request field carries the completion cap. OpenAI's newer models refuse `max_tokens`
/// and OpenAI refuses both at once; llama.cpp's server and older Ollama read only `max_tokens`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CapField {
    /// `max_tokens`: llama.cpp, Ollama, vLLM, most gateways.
    MaxTokens,
    /// `max_completion_tokens`: OpenAI and Azure OpenAI.
    MaxCompletionTokens,
}

impl CapField {
    /// The field's name in the request.
    pub fn name(self) -> &'static str {
        match self {
            CapField::MaxTokens => "max_tokens",
            CapField::MaxCompletionTokens => "max_completion_tokens",
        }
    }
}

/// How each reply is asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplyShape {
    /// Cap on the reply's tokens (reasoning tokens included, for models that count them); None
    /// sends none, leaving the server's own limit (often the whole context).
    pub max_completion_tokens: Option<u32>,
    /// The field the cap is sent as.
    pub cap_field: CapField,
    /// Stream the reply (`stream: true`, with the usage in the final chunk).
    pub stream: bool,
}

impl ReplyShape {
    /// The request's fields for this shape, to merge into a request body.
    pub(crate) fn fields(&self) -> serde_json::Map<String, serde_json::Value> {
        let mut fields = serde_json::Map::new();
        if let Some(cap) = self.max_completion_tokens {
            fields.insert(self.cap_field.name().to_owned(), cap.into());
        }
        if self.stream {
            fields.insert("stream".to_owned(), true.into());
            fields.insert("stream_options".to_owned(), serde_json::json!({ "include_usage": true }));
        }
        fields
    }
}

/// The settings whose best value depends on where the server is.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EndpointDefaults {
    /// Requests in flight at once: 4 for a hosted API (which serves many), 1 for a local server
    /// until it says otherwise (llama.cpp's has as many slots as its `--parallel`, told by
    /// `/props`; Ollama queues beyond its `OLLAMA_NUM_PARALLEL` and does not say).
    pub concurrency: usize,
    /// The server is on this machine (a loopback address): ask it how many requests it serves,
    /// and watch whether it queues them.
    pub local: bool,
    /// A hosted API: 120 s without a token, 600 s in all. A local server reads a long prompt on a
    /// CPU before its first token and may write a few tokens a second: 300 s and 1800 s.
    pub timeouts: Timeouts,
    /// The completion cap. A reward script is 84–304 tokens (the built-in `human.rhai` files,
    /// counted by Gemma 3's tokenizer through llama.cpp's `/tokenize`), so a commented one with
    /// a few paragraphs of reasoning fits in 1,500; a hosted API gets 4,096, room for a short
    /// chain of thought too. A small local model that rambles writes about 25 tokens a second on
    /// one CPU thread (BENCHMARKS.md), 80 s for 2,048 tokens, so a local server gets 2,048.
    pub max_completion_tokens: u32,
    /// The field the cap goes in: `max_completion_tokens` for OpenAI's and Azure's hosts,
    /// `max_tokens` elsewhere.
    pub cap_field: CapField,
}

impl EndpointDefaults {
    /// The defaults for a server at `base_url`.
    pub fn for_base_url(base_url: &str) -> Self {
        let url = reqwest::Url::parse(base_url).ok();
        let host = url.as_ref().and_then(|u| u.host_str()).unwrap_or_default().to_ascii_lowercase();
        let ip = host.trim_start_matches('[').trim_end_matches(']').parse::<std::net::IpAddr>().ok();
        // 0.0.0.0 is where local servers listen, and what users then paste as the address.
        let local = host == "localhost" || ip.is_some_and(|ip| ip.is_loopback() || ip.is_unspecified());
        let openai = host == "api.openai.com" || host.ends_with(".openai.azure.com");
        let cap_field = if openai { CapField::MaxCompletionTokens } else { CapField::MaxTokens };
        if local {
            Self {
                concurrency: 1,
                local: true,
                timeouts: Timeouts { idle: Duration::from_secs(300), total: Duration::from_secs(1800) },
                max_completion_tokens: 2048,
                cap_field,
            }
        } else {
            Self {
                concurrency: 4,
                local: false,
                timeouts: Timeouts { idle: Duration::from_secs(120), total: Duration::from_secs(600) },
                max_completion_tokens: 4096,
                cap_field,
            }
        }
    }
}

/// Retries of one request.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryConfig {
    /// Retries after the first attempt. Default 5.
    pub max_retries: u32,
    /// Backoff before the first retry; it doubles with each retry. Default 1 s.
    pub base_delay: Duration,
    /// Cap of the backoff. Default 60 s.
    pub max_delay: Duration,
    /// Cap of a server's `Retry-After` (a misconfigured server asking for hours should fail the
    /// candidate, not hang the search). Default 300 s.
    pub max_retry_after: Duration,
}

impl Default for RetryConfig {
    fn default() -> Self {
        Self { max_retries: 5, base_delay: Duration::from_secs(1), max_delay: Duration::from_secs(60), max_retry_after: Duration::from_secs(300) }
    }
}

/// Caps on spending; None is no cap. Defaults: none.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Budget {
    /// Dollars (needs a price for the model).
    pub usd: Option<f64>,
    /// Prompt plus completion tokens.
    pub tokens: Option<u64>,
}

impl Budget {
    /// Whether the caps are usable, for a model named `model` priced at `price`.
    fn check(&self, model: &str, price: Option<Price>) -> Result<(), String> {
        if self.usd.is_some() && price.is_none() {
            return Err(format!("a dollar budget needs a price for model `{model}`; give a price table with --prices"));
        }
        if let Some(usd) = self.usd.filter(|usd| !(usd.is_finite() && *usd >= 0.0)) {
            return Err(format!("the dollar budget must be a number ≥ 0, not {usd}"));
        }
        Ok(())
    }
}

/// What has been spent against one [`Budget`], shared (as an `Arc`) by everyone who spends from
/// it: the proposer and the vision ranker of one search, so that the caps hold over both
/// together. A proposer makes its own from [`OpenAiConfig::budget`]
/// ([`OpenAiProposer::spending`] hands it out); a ranker is given one.
#[derive(Debug, Default)]
pub struct Spending {
    budget: Budget,
    spent: Mutex<Usage>,
}

impl Spending {
    /// Nothing spent yet against `budget`.
    pub fn new(budget: Budget) -> Self {
        Self { budget, spent: Mutex::new(Usage::default()) }
    }

    /// The caps.
    pub fn budget(&self) -> Budget {
        self.budget
    }

    /// Everything spent so far, by everyone sharing this.
    pub fn spent(&self) -> Usage {
        *self.spent.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Counts `usage` as spent (also what a resumed run restores of its earlier sessions).
    pub fn add(&self, usage: &Usage) {
        self.spent.lock().unwrap_or_else(|e| e.into_inner()).add(usage);
    }

    /// The cap already reached, in words.
    pub fn reached(&self) -> Option<String> {
        let spent = self.spent();
        if let Some(cap) = self.budget.tokens.filter(|cap| spent.tokens() >= *cap) {
            return Some(format!("token budget reached ({} of {cap} tokens spent)", spent.tokens()));
        }
        if let Some(cap) = self.budget.usd.filter(|cap| spent.cost_usd >= *cap) {
            return Some(format!("dollar budget reached (${:.4} of ${cap} spent)", spent.cost_usd));
        }
        None
    }
}

/// Prices per model, from `prices.toml` (embedded) or a user's file of the same form.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Prices(BTreeMap<String, Price>);

impl Prices {
    /// The embedded table (list prices when it was written; see the file's header).
    pub fn embedded() -> Self {
        Self::parse("prices.toml", include_str!("../prices.toml")).expect("the embedded price table parses")
    }

    /// A table from a file: `[models."name"]` tables with `input_usd_per_mtok` and
    /// `output_usd_per_mtok`.
    pub fn from_file(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        Self::parse(&path.display().to_string(), &text)
    }

    fn parse(origin: &str, text: &str) -> Result<Self, String> {
        #[derive(serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        struct File {
            models: BTreeMap<String, Price>,
        }
        let file: File = toml::from_str(text).map_err(|e| format!("{origin}: {e}"))?;
        Ok(Self(file.models))
    }

    /// The price of `model`: its own entry, else the longest entry it starts with (so a dated
    /// snapshot `gpt-4o-2024-08-06` is priced as `gpt-4o`).
    pub fn get(&self, model: &str) -> Option<Price> {
        self.0
            .get(model)
            .copied()
            .or_else(|| self.0.iter().filter(|(name, _)| model.starts_with(name.as_str())).max_by_key(|(name, _)| name.len()).map(|(_, p)| *p))
    }
}

/// Whether the server honours `n > 1`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
enum NSupport {
    Unknown = 0,
    Yes = 1,
    No = 2,
}

/// How one request ended for good.
#[derive(Debug)]
pub(crate) enum RequestFailure {
    /// Retrying cannot help and the generation stops (401/403/404, cassette errors, settings).
    Fatal(ProposeError),
    /// The server rejected this request (a 4xx not worth retrying); with `n > 1`, maybe `n`.
    Rejected(String),
    /// Retries exhausted.
    Exhausted(String),
    /// Not sent: a budget cap was reached.
    Budget(String),
}

/// A chat completion as servers send it. Lenient on purpose: servers differ in what they omit
/// (`object`, `created`, `index`) and in their `finish_reason`s, and a reply that lacks a field
/// this proposer does not read is still a reply.
#[derive(Debug, serde::Deserialize)]
pub(crate) struct Reply {
    #[serde(default)]
    choices: Vec<Choice>,
    #[serde(default)]
    usage: Option<ReplyUsage>,
}

/// One choice of a reply.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Answer {
    /// Its text (None for a choice without text content).
    pub(crate) text: Option<String>,
    /// The server stopped it at the completion cap (`finish_reason: "length"`).
    pub(crate) cut_at_cap: bool,
}

impl Reply {
    /// The choices in choice order.
    pub(crate) fn answers(self) -> Vec<Answer> {
        let mut choices: Vec<(u64, Answer)> = self
            .choices
            .into_iter()
            .enumerate()
            .map(|(i, c)| {
                let text = c.message.and_then(|m| m.content).and_then(|c| c.as_str().map(str::to_owned));
                (c.index.unwrap_or(i as u64), Answer { text, cut_at_cap: c.finish_reason.as_deref() == Some("length") })
            })
            .collect();
        choices.sort_by_key(|(index, _)| *index);
        choices.into_iter().map(|(_, answer)| answer).collect()
    }
}

#[derive(Debug, serde::Deserialize)]
struct Choice {
    #[serde(default)]
    index: Option<u64>,
    #[serde(default)]
    message: Option<Message>,
    /// `stop`, `length` (the cap), `tool_calls`…; anything that is not a string reads as none.
    #[serde(default, deserialize_with = "string_or_none")]
    finish_reason: Option<String>,
}

fn string_or_none<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    let value: Option<serde_json::Value> = serde::Deserialize::deserialize(deserializer)?;
    Ok(value.and_then(|v| v.as_str().map(str::to_owned)))
}

#[derive(Debug, serde::Deserialize)]
struct Message {
    /// A string from every chat server; anything else reads as no content.
    #[serde(default)]
    content: Option<serde_json::Value>,
}

#[derive(Debug, serde::Deserialize)]
struct ReplyUsage {
    #[serde(default)]
    prompt_tokens: u64,
    #[serde(default)]
    completion_tokens: u64,
    /// Set by the transport on a streamed reply that carried no usage ([`crate::stream`]).
    #[serde(default)]
    estimated: bool,
}

/// One OpenAI-compatible endpoint as the proposer and the vision ranker use it: async-openai's
/// client over a [`Transport`], with the retry policy, the budget and the cassette's say over
/// which requests were refused. Both send through it, so the policy exists once.
pub(crate) struct Endpoint {
    client: async_openai::Client<OpenAIConfig>,
    retry: RetryConfig,
    price: Option<Price>,
    /// Where refusals for budget are recorded (live).
    recorder: Option<Arc<Recorder>>,
    /// The cassette being replayed, or (live) what an earlier session of this run recorded: for
    /// the requests it holds, it, not the budget, says which were refused.
    replay: Option<Arc<Replay>>,
    /// Requests the cassette does not hold go to the network.
    live: bool,
    spending: Arc<Spending>,
    jitter: Mutex<ChaCha8Rng>,
    /// How many attempts are in flight at once.
    limiter: Limiter,
    /// Live and asked to: the transport, to ask the server how many requests it serves, once,
    /// before the first request.
    probe: Option<(Transport, String)>,
    probed: tokio::sync::OnceCell<()>,
}

/// How many requests an [`Endpoint`] sends at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Parallelism {
    /// At most this many (until the server shows it serves fewer).
    pub(crate) concurrency: usize,
    /// Start from what the server says it serves, where it says.
    pub(crate) from_server: bool,
    /// Take a request queued behind a whole answer as a sign to lower the limit.
    pub(crate) watch_queueing: bool,
}

impl Endpoint {
    /// An endpoint at `base_url` for `model` (named in errors), spending from `spending`.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        base_url: &str,
        api_key: Option<&str>,
        model: &str,
        retry: RetryConfig,
        price: Option<Price>,
        transport: Transport,
        spending: Arc<Spending>,
        parallelism: Parallelism,
    ) -> Result<Self, String> {
        spending.budget().check(model, price)?;
        let key = api_key.unwrap_or_default();
        if key.chars().any(|c| c.is_control()) {
            return Err("the API key contains control characters (a stray newline?)".to_owned());
        }
        let openai = OpenAIConfig::new().with_api_base(base_url.trim_end_matches('/')).with_api_key(key);
        let (recorder, replay, live) = match &transport {
            Transport::Live { recorder, prefill, .. } => (recorder.clone(), prefill.clone(), true),
            Transport::Replay(replay) => (None, Some(replay.clone()), false),
        };
        let probe = (live && parallelism.from_server).then(|| (transport.clone(), base_url.to_owned()));
        let client = async_openai::Client::with_config(openai).with_http_service(transport);
        // Jitter only spreads out retries; drawn from a per-process random seed so that several
        // processes sharing a rate limit do not retry in step. No result depends on it.
        let jitter_seed = std::collections::hash_map::RandomState::new().hash_one(std::process::id());
        let limiter = Limiter::new(base_url.trim_end_matches('/'), parallelism.concurrency, parallelism.watch_queueing);
        Ok(Self {
            client,
            retry,
            price,
            recorder,
            replay,
            live,
            spending,
            jitter: Mutex::new(ChaCha8Rng::seed_from_u64(jitter_seed)),
            limiter,
            probe,
            probed: tokio::sync::OnceCell::new(),
        })
    }

    /// What the endpoint has to say about how it sends (a lowered concurrency), emptied.
    pub(crate) fn take_notices(&self) -> Vec<String> {
        self.limiter.take_notices()
    }

    /// Asks the server, once, how many requests it serves at once, and starts there.
    async fn probe(&self) {
        let Some((transport, base_url)) = &self.probe else { return };
        self.probed
            .get_or_init(|| async {
                if let Some(slots) = transport.server_slots(base_url).await {
                    self.limiter.set_from_server(slots);
                }
            })
            .await;
    }

    pub(crate) fn spending(&self) -> &Arc<Spending> {
        &self.spending
    }

    /// The cassette this endpoint replays (or, live, answers a resumed run's requests from).
    pub(crate) fn replay(&self) -> Option<&Arc<Replay>> {
        self.replay.as_ref()
    }

    /// Whether `request` may be sent now; Some(reason) if not. Live, the budget decides and a
    /// refusal is recorded; in a replay the cassette decides, so a replay refuses exactly the
    /// requests the recorded run refused.
    fn refusal(&self, body: &serde_json::Value) -> Result<Option<String>, RequestFailure> {
        if let Some(replay) = &self.replay {
            if let Some(reason) = replay.take_skip(body) {
                return Ok(Some(reason));
            }
            if !self.live || replay.holds(body) {
                return Ok(None);
            }
        }
        self.record_refusal(body.clone())
    }

    /// Live: the cap reached, if one is, recorded against `body` for replays.
    fn record_refusal(&self, body: serde_json::Value) -> Result<Option<String>, RequestFailure> {
        let Some(reason) = self.spending.reached() else { return Ok(None) };
        if let Some(recorder) = &self.recorder {
            let refusal = Exchange { skipped: Some(reason.clone()), ..Exchange::new(body) };
            recorder.record(&refusal).map_err(|e| RequestFailure::Fatal(ProposeError::Cassette(e)))?;
        }
        Ok(Some(reason))
    }

    /// Whether the budget is spent at the end of a generation: recorded live, read back in a
    /// replay (so a replay stops where the recorded run stopped, whatever its own flags).
    fn verdict(&self) -> Result<Option<String>, ProposeError> {
        let key = budget_verdict_request();
        if let Some(replay) = &self.replay {
            if let Some(reason) = replay.take_skip(&key) {
                return Ok(Some(reason));
            }
            if !self.live {
                return Ok(None);
            }
        }
        match self.record_refusal(key) {
            Ok(verdict) => Ok(verdict),
            Err(RequestFailure::Fatal(e)) => Err(e),
            Err(_) => unreachable!("recording a verdict fails only fatally"),
        }
    }

    /// One request with retries; what the server answered. Every attempt's cost is added to
    /// `usage` and to the shared spending.
    pub(crate) async fn send<R: serde::Serialize + Sync>(&self, request: &R, usage: &Mutex<Usage>) -> Result<Reply, RequestFailure> {
        // The body as the transport will see (and record) it: through JSON text, so a float
        // (an f32 temperature) reads as the same number here and there, and with pictures
        // replaced by their hashes.
        let text = serde_json::to_vec(request).map_err(|e| RequestFailure::Fatal(ProposeError::Config(e.to_string())))?;
        let body: serde_json::Value = serde_json::from_slice(&text).map_err(|e| RequestFailure::Fatal(ProposeError::Config(e.to_string())))?;
        let body = redact_images(&body);
        self.probe().await;
        // A replay retraces the recorded path: no waiting, and what it says of the server's
        // capacity was said when it was recorded.
        let from_cassette = !self.live || self.replay.as_ref().is_some_and(|r| r.holds(&body));
        let mut attempt = 0;
        loop {
            // In a slot, so a retry waits until the server has room; the budget is checked in it,
            // before every attempt (retries included), and what the attempt cost is counted
            // before the slot is given back: a cap reached while this request waited or was
            // failing stops it too.
            let attempt_once = async {
                if let Some(reason) = self.refusal(&body)? {
                    return Err(RequestFailure::Budget(reason));
                }
                let result = self.client.chat().create_byot::<_, Reply>(request).await;
                self.account(usage, result.as_ref().ok());
                Ok(result)
            };
            let result = self.limiter.run(attempt_once, |r| if from_cassette { Outcome::Other } else { outcome(r) }).await?;
            let (message, retry_after) = match result {
                Ok(reply) => return Ok(reply),
                Err(e) => match classify(e) {
                    Classified::Fatal(e) => return Err(RequestFailure::Fatal(e)),
                    Classified::Rejected(message) => return Err(RequestFailure::Rejected(message)),
                    Classified::Retry(message, retry_after) => (message, retry_after),
                },
            };
            if attempt >= self.retry.max_retries {
                return Err(RequestFailure::Exhausted(format!("{message} (gave up after {} attempts)", attempt + 1)));
            }
            if let Some(wait) = retry_after.filter(|w| *w > self.retry.max_retry_after) {
                return Err(RequestFailure::Exhausted(format!(
                    "{message}; the server asks to wait {:.0} s, more than the {:.0} s allowed",
                    wait.as_secs_f64(),
                    self.retry.max_retry_after.as_secs_f64()
                )));
            }
            let delay = retry_after.unwrap_or_else(|| self.backoff(attempt));
            if !from_cassette {
                tokio::time::sleep(delay).await;
            }
            attempt += 1;
        }
    }

    /// Exponential backoff with "equal jitter": half the step fixed, half drawn, so concurrent
    /// clients spread out but none retries at once.
    fn backoff(&self, attempt: u32) -> Duration {
        let retry = &self.retry;
        let step = retry.base_delay.saturating_mul(1u32.checked_shl(attempt).unwrap_or(u32::MAX)).min(retry.max_delay);
        let drawn: f64 = self.jitter.lock().unwrap_or_else(|e| e.into_inner()).random();
        step.mul_f64(0.5 + 0.5 * drawn)
    }

    fn account(&self, usage: &Mutex<Usage>, reply: Option<&Reply>) {
        let mut this = Usage { requests: 1, ..Usage::default() };
        match reply.map(|r| r.usage.as_ref()) {
            Some(Some(u)) => {
                this.prompt_tokens = u.prompt_tokens;
                this.completion_tokens = u.completion_tokens;
                this.estimated = u64::from(u.estimated);
                this.cost_usd = self.price.map_or(0.0, |p| p.cost(this.prompt_tokens, this.completion_tokens));
            }
            Some(None) => this.unmetered = 1,
            None => {}
        }
        usage.lock().unwrap_or_else(|e| e.into_inner()).add(&this);
        self.spending.add(&this);
    }
}

/// What an attempt's result says of the server's capacity.
fn outcome(result: &Result<Result<Reply, OpenAIError>, RequestFailure>) -> Outcome {
    match result {
        Ok(Ok(_)) => Outcome::Answered,
        Ok(Err(OpenAIError::Boxed(e))) => match e.downcast_ref::<TransportError>() {
            Some(TransportError::Timeout(_) | TransportError::Idle { .. }) => Outcome::TimedOut,
            _ => Outcome::Other,
        },
        _ => Outcome::Other,
    }
}

/// The OpenAI-compatible proposer for one environment.
pub struct OpenAiProposer {
    endpoint: Endpoint,
    config: OpenAiConfig,
    env: String,
    templates: Templates,
    n_support: AtomicU8,
}

impl OpenAiProposer {
    /// A proposer for `model` talking through `transport` (live, maybe recording, or a replay).
    /// `price` is the model's price (None: costs are not counted, and a dollar cap is refused).
    /// It spends against `config.budget` alone; [`OpenAiProposer::spending`] shares that with a
    /// vision ranker.
    pub fn new(model: &EnvModel, templates: Templates, config: OpenAiConfig, price: Option<Price>, transport: Transport) -> Result<Self, ProposeError> {
        if config.concurrency == 0 {
            return Err(ProposeError::Config("concurrency must be at least 1".to_owned()));
        }
        let spending = Arc::new(Spending::new(config.budget));
        let parallelism = Parallelism { concurrency: config.concurrency, from_server: config.concurrency_from_server, watch_queueing: config.watch_queueing };
        let endpoint = Endpoint::new(&config.base_url, config.api_key.as_deref(), &config.model, config.retry, price, transport, spending, parallelism)
            .map_err(ProposeError::Config)?;
        Ok(Self { endpoint, env: model.describe_for_prompt(), templates, n_support: AtomicU8::new(NSupport::Unknown as u8), config })
    }

    /// What has been spent over all generations, by this proposer and by whoever shares its
    /// [`Spending`] (a vision ranker).
    pub fn spent(&self) -> Usage {
        self.endpoint.spending().spent()
    }

    /// The spending this proposer counts against its budget: give it to
    /// [`crate::vlm::VlmRanker::new`] so the caps hold over proposals and rankings together.
    pub fn spending(&self) -> Arc<Spending> {
        self.endpoint.spending().clone()
    }

    /// What the proposer has to say about how it sends (a concurrency lowered because the server
    /// queues requests), emptied: for the log.
    pub fn take_notices(&self) -> Vec<String> {
        self.endpoint.take_notices()
    }

    /// The prompt for `ctx` (what `--dry-run` prints).
    pub fn prompt(&self, ctx: &Context) -> Result<Prompt, ProposeError> {
        Ok(self.templates.render_for(&self.env, ctx)?)
    }

    fn n_support(&self) -> NSupport {
        match self.n_support.load(Ordering::Relaxed) {
            1 => NSupport::Yes,
            2 => NSupport::No,
            _ => NSupport::Unknown,
        }
    }

    // `seed` is deprecated in OpenAI's schema but honoured by vLLM, llama.cpp and Ollama, where
    // it is what makes a sample reproducible.
    #[allow(deprecated)]
    fn request(&self, prompt: &Prompt, n: usize, seed: u64) -> CreateChatCompletionRequest {
        let messages: Vec<ChatCompletionRequestMessage> =
            vec![ChatCompletionRequestSystemMessage::from(prompt.system.as_str()).into(), ChatCompletionRequestUserMessage::from(prompt.user.as_str()).into()];
        let shape = self.config.reply;
        let cap = shape.max_completion_tokens;
        CreateChatCompletionRequest {
            messages,
            model: self.config.model.clone(),
            n: (n > 1).then(|| u8::try_from(n).unwrap_or(u8::MAX)),
            // 32 bits: llama.cpp's server reads the seed as an unsigned 32-bit integer.
            seed: Some(i64::from(seed as u32)),
            temperature: Some(self.config.temperature),
            max_tokens: cap.filter(|_| shape.cap_field == CapField::MaxTokens),
            max_completion_tokens: cap.filter(|_| shape.cap_field == CapField::MaxCompletionTokens),
            stream: shape.stream.then_some(true),
            stream_options: shape.stream.then_some(ChatCompletionStreamOptions { include_usage: Some(true), include_obfuscation: None }),
            ..Default::default()
        }
    }

    /// One request with retries; the replies in choice order.
    async fn chat(&self, prompt: &Prompt, n: usize, seed: u64, usage: &Mutex<Usage>) -> Result<Vec<Answer>, RequestFailure> {
        let request = self.request(prompt, n, seed);
        Ok(self.endpoint.send(&request, usage).await?.answers())
    }

    /// One sample for `slot`, asked alone; whether the server answered it.
    async fn single(&self, prompt: &Prompt, slot: usize, seed: u64, usage: &Mutex<Usage>) -> Result<(Candidate, bool), ProposeError> {
        let failed = |error: CandidateError| Ok((Candidate { script: Err(error), reply: None, parents: Vec::new() }, false));
        match self.chat(prompt, 1, seed.wrapping_add(slot as u64), usage).await {
            Ok(answers) => Ok((self.candidate(answers.into_iter().next()), true)),
            Err(RequestFailure::Fatal(e)) => Err(e),
            Err(RequestFailure::Budget(reason)) => failed(CandidateError::Budget(reason)),
            Err(RequestFailure::Rejected(message) | RequestFailure::Exhausted(message)) => failed(CandidateError::Request(message)),
        }
    }
}

impl OpenAiProposer {
    /// A candidate from a reply's answer (None: the reply had no such choice). An answer cut at
    /// the cap whose script cannot be had is a truncated one, whatever the extraction saw.
    fn candidate(&self, answer: Option<Answer>) -> Candidate {
        let Answer { text, cut_at_cap } = answer.unwrap_or(Answer { text: None, cut_at_cap: false });
        let script = extract_script(text.as_deref().unwrap_or("")).map(|e| e.script).map_err(|e| match e {
            ExtractError::Truncated { .. } => e,
            _ if cut_at_cap => ExtractError::CutAtCap { cap: self.config.reply.max_completion_tokens },
            _ => e,
        });
        Candidate { script: script.map_err(CandidateError::from), reply: text, parents: Vec::new() }
    }
}

enum Classified {
    Fatal(ProposeError),
    Rejected(String),
    Retry(String, Option<Duration>),
}

fn classify(error: OpenAIError) -> Classified {
    match error {
        OpenAIError::Boxed(boxed) => match boxed.downcast::<TransportError>() {
            Ok(transport) => match *transport {
                TransportError::Status { status: status @ (401 | 403 | 404), message, .. } => Classified::Fatal(ProposeError::Refused { status, message }),
                TransportError::Status { status, retry_after, message } if status == 408 || status == 429 || status >= 500 => {
                    Classified::Retry(format!("HTTP {status}: {message}"), retry_after)
                }
                TransportError::Status { status, message, .. } => Classified::Rejected(format!("HTTP {status}: {message}")),
                e @ (TransportError::Timeout(_) | TransportError::Idle { .. } | TransportError::Connect(_)) => Classified::Retry(e.to_string(), None),
                e @ (TransportError::NotInCassette(_) | TransportError::Record(_)) => Classified::Fatal(ProposeError::Cassette(e.to_string())),
                e @ TransportError::Build(_) => Classified::Fatal(ProposeError::Config(e.to_string())),
            },
            Err(other) => Classified::Retry(other.to_string(), None),
        },
        OpenAIError::JSONDeserialize(e, content) => {
            let start: String = content.chars().take(120).collect();
            Classified::Retry(format!("malformed response ({e}): {start:?}"), None)
        }
        e @ OpenAIError::InvalidArgument(_) => Classified::Fatal(ProposeError::Config(e.to_string())),
        other => Classified::Retry(other.to_string(), None),
    }
}

impl Proposer for OpenAiProposer {
    fn restore_spent(&self, usage: &Usage) {
        self.endpoint.spending().add(usage);
    }

    async fn propose(&self, ctx: &Context, k: usize, seed: u64) -> Result<Generation, ProposeError> {
        let prompt = self.prompt(ctx)?;
        let usage = Mutex::new(Usage::default());
        let mut slots: Vec<Option<Candidate>> = vec![None; k];
        let mut n_rejected = false;
        let fail_all = |slots: &mut Vec<Option<Candidate>>, error: CandidateError| {
            for slot in slots.iter_mut() {
                *slot = Some(Candidate { script: Err(error.clone()), reply: None, parents: Vec::new() });
            }
        };
        if k > 1 && self.n_support() != NSupport::No {
            match self.chat(&prompt, k, seed, &usage).await {
                Ok(answers) => {
                    let answered = answers.len().min(k);
                    for (slot, answer) in slots.iter_mut().zip(answers) {
                        *slot = Some(self.candidate(Some(answer)));
                    }
                    // Fewer choices than asked: the server ignores `n` (Ollama does).
                    let support = if answered < k { NSupport::No } else { NSupport::Yes };
                    self.n_support.store(support as u8, Ordering::Relaxed);
                }
                Err(RequestFailure::Fatal(e)) => return Err(e),
                // Maybe `n`, maybe the request itself (a prompt too long): the single requests
                // below tell, and only their success marks `n` as unsupported.
                Err(RequestFailure::Rejected(_)) => n_rejected = true,
                Err(RequestFailure::Exhausted(message)) => fail_all(&mut slots, CandidateError::Request(message)),
                Err(RequestFailure::Budget(reason)) => fail_all(&mut slots, CandidateError::Budget(reason)),
            }
        }
        let missing: Vec<usize> = (0..k).filter(|i| slots[*i].is_none()).collect();
        // At most the endpoint's limit in flight at once. The first fatal error (a 401 on the
        // third request) drops the requests still queued or in flight: nothing more is sent once
        // the generation cannot succeed.
        let singles = futures::future::try_join_all(missing.iter().map(|&slot| self.single(&prompt, slot, seed, &usage))).await?;
        if n_rejected && singles.iter().any(|(_, answered)| *answered) {
            self.n_support.store(NSupport::No as u8, Ordering::Relaxed);
        }
        for (slot, (candidate, _)) in missing.into_iter().zip(singles) {
            slots[slot] = Some(candidate);
        }
        let candidates: Vec<Candidate> = slots.into_iter().map(|c| c.expect("every slot is filled")).collect();
        let budget_exhausted = self.endpoint.verdict()?;
        let usage = *usage.lock().unwrap_or_else(|e| e.into_inner());
        Ok(Generation { candidates, usage, budget_exhausted })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_prices_parse_and_dated_snapshots_take_their_family_price() {
        let prices = Prices::embedded();
        let family = prices.get("gpt-4o").expect("gpt-4o is priced");
        assert_eq!(prices.get("gpt-4o-2024-08-06"), Some(family));
        // The longest prefix wins: the mini model is not priced as its larger namesake.
        assert_ne!(prices.get("gpt-4o-mini-2024-07-18"), Some(family));
        assert_eq!(prices.get("llama3"), None);
    }

    #[test]
    fn a_price_file_with_a_typo_names_file_and_key() {
        let err = Prices::parse("p.toml", "[models.m]\ninput_usd_per_mtok = 1.0\noutput_usd_per_mtk = 2.0\n").unwrap_err();
        assert!(err.starts_with("p.toml") && err.contains("output_usd_per_mtk"), "{err}");
    }
}
