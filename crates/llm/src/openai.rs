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
//! The retries, the budget checks and the cassette's say over refusals live in `Endpoint`, which
//! the vision ranker ([`crate::vlm`]) sends through as well; what was spent is a [`Spending`]
//! the two can share, so the caps hold over proposals and rankings together.

use crate::cassette::{Exchange, Recorder, Replay, budget_verdict_request, redact_images};
use crate::extract::extract_script;
use crate::prompt::{Prompt, Templates};
use crate::transport::{Price, Transport, TransportError};
use async_openai::config::OpenAIConfig;
use async_openai::error::OpenAIError;
use async_openai::types::chat::{
    ChatCompletionRequestMessage, ChatCompletionRequestSystemMessage, ChatCompletionRequestUserMessage, CreateChatCompletionRequest,
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
    /// `max_completion_tokens` sent with each request; None sends none (the server's default).
    /// Default None.
    pub max_reply_tokens: Option<u32>,
    /// Requests in flight at once when samples are asked one by one. Default 4.
    pub concurrency: usize,
    /// Limit on one request, from sending it to the end of the response. Default 120 s (a long
    /// reply from a slow local model takes a minute).
    pub timeout: Duration,
    /// How failed requests are retried.
    pub retry: RetryConfig,
    /// Caps on what a proposer may spend over its lifetime (all generations).
    pub budget: Budget,
}

impl OpenAiConfig {
    /// Defaults for `model`.
    pub fn new(model: impl Into<String>) -> Self {
        Self {
            base_url: DEFAULT_BASE_URL.to_owned(),
            api_key: None,
            model: model.into(),
            temperature: 1.0,
            max_reply_tokens: None,
            concurrency: 4,
            timeout: Duration::from_secs(120),
            retry: RetryConfig::default(),
            budget: Budget::default(),
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

impl Reply {
    /// The choices' texts in choice order (None for a choice without text content).
    pub(crate) fn texts(self) -> Vec<Option<String>> {
        let mut choices: Vec<(u64, Option<String>)> = self
            .choices
            .into_iter()
            .enumerate()
            .map(|(i, c)| (c.index.unwrap_or(i as u64), c.message.and_then(|m| m.content).and_then(|c| c.as_str().map(str::to_owned))))
            .collect();
        choices.sort_by_key(|(index, _)| *index);
        choices.into_iter().map(|(_, text)| text).collect()
    }
}

#[derive(Debug, serde::Deserialize)]
struct Choice {
    #[serde(default)]
    index: Option<u64>,
    #[serde(default)]
    message: Option<Message>,
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
}

impl Endpoint {
    /// An endpoint at `base_url` for `model` (named in errors), spending from `spending`.
    pub(crate) fn new(
        base_url: &str,
        api_key: Option<&str>,
        model: &str,
        retry: RetryConfig,
        price: Option<Price>,
        transport: Transport,
        spending: Arc<Spending>,
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
        let client = async_openai::Client::with_config(openai).with_http_service(transport);
        // Jitter only spreads out retries; drawn from a per-process random seed so that several
        // processes sharing a rate limit do not retry in step. No result depends on it.
        let jitter_seed = std::collections::hash_map::RandomState::new().hash_one(std::process::id());
        Ok(Self { client, retry, price, recorder, replay, live, spending, jitter: Mutex::new(ChaCha8Rng::seed_from_u64(jitter_seed)) })
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
        let mut attempt = 0;
        loop {
            // Before every attempt, retries included: a cap reached while this request was
            // failing stops it too.
            if let Some(reason) = self.refusal(&body)? {
                return Err(RequestFailure::Budget(reason));
            }
            let result: Result<Reply, OpenAIError> = self.client.chat().create_byot(request).await;
            self.account(usage, result.as_ref().ok());
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
            // A replay retraces the recorded path; the waiting is not part of it.
            let from_cassette = !self.live || self.replay.as_ref().is_some_and(|r| r.holds(&body));
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
                this.cost_usd = self.price.map_or(0.0, |p| p.cost(this.prompt_tokens, this.completion_tokens));
            }
            Some(None) => this.unmetered = 1,
            None => {}
        }
        usage.lock().unwrap_or_else(|e| e.into_inner()).add(&this);
        self.spending.add(&this);
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
        let endpoint = Endpoint::new(&config.base_url, config.api_key.as_deref(), &config.model, config.retry, price, transport, spending)
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
        CreateChatCompletionRequest {
            messages,
            model: self.config.model.clone(),
            n: (n > 1).then(|| u8::try_from(n).unwrap_or(u8::MAX)),
            // 32 bits: llama.cpp's server reads the seed as an unsigned 32-bit integer.
            seed: Some(i64::from(seed as u32)),
            temperature: Some(self.config.temperature),
            max_completion_tokens: self.config.max_reply_tokens,
            ..Default::default()
        }
    }

    /// One request with retries; the replies' texts in choice order (None for a choice without
    /// text content).
    async fn chat(&self, prompt: &Prompt, n: usize, seed: u64, usage: &Mutex<Usage>) -> Result<Vec<Option<String>>, RequestFailure> {
        let request = self.request(prompt, n, seed);
        Ok(self.endpoint.send(&request, usage).await?.texts())
    }

    /// One sample for `slot`, asked alone; whether the server answered it.
    async fn single(
        &self,
        prompt: &Prompt,
        slot: usize,
        seed: u64,
        usage: &Mutex<Usage>,
        permits: &tokio::sync::Semaphore,
    ) -> Result<(Candidate, bool), ProposeError> {
        let _permit = permits.acquire().await.expect("the semaphore is never closed");
        let failed = |error: CandidateError| Ok((Candidate { script: Err(error), reply: None, parents: Vec::new() }, false));
        match self.chat(prompt, 1, seed.wrapping_add(slot as u64), usage).await {
            Ok(replies) => Ok((candidate(replies.into_iter().next().flatten()), true)),
            Err(RequestFailure::Fatal(e)) => Err(e),
            Err(RequestFailure::Budget(reason)) => failed(CandidateError::Budget(reason)),
            Err(RequestFailure::Rejected(message) | RequestFailure::Exhausted(message)) => failed(CandidateError::Request(message)),
        }
    }
}

/// A candidate from a reply's text.
fn candidate(reply: Option<String>) -> Candidate {
    let script = extract_script(reply.as_deref().unwrap_or("")).map(|e| e.script).map_err(CandidateError::from);
    Candidate { script, reply, parents: Vec::new() }
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
                e @ (TransportError::Timeout(_) | TransportError::Connect(_)) => Classified::Retry(e.to_string(), None),
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
                Ok(replies) => {
                    let answered = replies.len().min(k);
                    for (slot, reply) in slots.iter_mut().zip(replies) {
                        *slot = Some(candidate(reply));
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
        let permits = tokio::sync::Semaphore::new(self.config.concurrency);
        let missing: Vec<usize> = (0..k).filter(|i| slots[*i].is_none()).collect();
        // The first fatal error (a 401 on the third request) drops the requests still queued or
        // in flight: nothing more is sent once the generation cannot succeed.
        let singles = futures::future::try_join_all(missing.iter().map(|&slot| self.single(&prompt, slot, seed, &usage, &permits))).await?;
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
