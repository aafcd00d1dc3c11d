//! The `--llm` choice and the endpoint settings shared by `propose` and `search`.

use anyhow::{Context as _, Result, bail};
use rewardsmith_evolve::offline::Steps;
use rewardsmith_evolve::{OfflineConfig, OfflineProposer};
use rewardsmith_llm::cassette::{Recorder, Replay};
use rewardsmith_llm::openai::{Budget, CapField, DEFAULT_BASE_URL, EndpointDefaults, OpenAiConfig, OpenAiProposer, Prices, ReplyShape, Spending};
use rewardsmith_llm::prompt::Templates;
use rewardsmith_llm::transport::{Price, Timeouts, Transport};
use rewardsmith_llm::vlm::{VlmConfig, VlmRanker};
use rewardsmith_propose::{Context, Generation, ProposeError, Proposer, Usage};
use rewardsmith_sim::EnvModel;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// Who writes the candidates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Llm {
    /// The offline evolutionary proposer (no network).
    Offline,
    /// An OpenAI-compatible endpoint.
    OpenAi,
    /// A cassette recorded from an endpoint (no network).
    Replay(PathBuf),
}

impl std::fmt::Display for Llm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Llm::Offline => f.write_str("offline"),
            Llm::OpenAi => f.write_str("openai"),
            Llm::Replay(path) => write!(f, "replay:{}", path.display()),
        }
    }
}

/// Parses `--llm`.
pub fn parse_llm(value: &str) -> Result<Llm, String> {
    match value {
        "offline" => Ok(Llm::Offline),
        "openai" => Ok(Llm::OpenAi),
        _ => match value.strip_prefix("replay:") {
            Some(path) if !path.is_empty() => Ok(Llm::Replay(PathBuf::from(path))),
            _ => Err("expected offline, openai or replay:FILE".to_owned()),
        },
    }
}

/// Settings of `--llm openai` (and of the requests a replay must match).
///
/// In a run's run.toml, what shapes the requests (the cap, its field, streaming) is stored as
/// resolved for the endpoint ([`EndpointArgs::resolved`]), so a resumed run asks exactly what it
/// asked before; runs made before these settings existed read as what they sent then: no cap (or
/// theirs, as `max_completion_tokens`) and no streaming.
#[derive(clap::Args, Debug, Clone, serde::Serialize, serde::Deserialize)]
#[command(next_help_heading = "LLM endpoint")]
pub struct EndpointArgs {
    /// Base URL of the OpenAI-compatible API, up to /v1 (llama.cpp: http://127.0.0.1:8080/v1,
    /// Ollama: http://127.0.0.1:11434/v1, vLLM: http://127.0.0.1:8000/v1). A loopback address
    /// gets the local defaults below. The key, if one is needed, comes from OPENAI_API_KEY.
    #[arg(long, env = "OPENAI_BASE_URL", default_value = DEFAULT_BASE_URL)]
    pub base_url: String,
    /// Model name as the server knows it (required for openai; a replay defaults to the
    /// recorded one).
    #[arg(long)]
    pub model: Option<String>,
    /// Sampling temperature.
    #[arg(long, default_value_t = 1.0)]
    pub temperature: f32,
    /// Cap on each reply's tokens, reasoning included; 0 sends none (the server's own limit,
    /// often the whole context) [default: 2048 for a local server, 4096 otherwise; a replay: the
    /// recorded one].
    #[arg(long, alias = "max-reply-tokens", value_name = "TOKENS")]
    #[serde(alias = "max_reply_tokens", default = "no_cap")]
    pub max_completion_tokens: Option<u32>,
    /// The request field the cap goes in [default: max-completion-tokens for OpenAI's and
    /// Azure's hosts, max-tokens (what llama.cpp, Ollama and vLLM read) elsewhere].
    #[arg(long, value_enum, value_name = "FIELD")]
    #[serde(default = "old_cap_field")]
    pub cap_field: Option<CapFieldArg>,
    /// Ask for each reply whole instead of streaming it (for a server whose streaming is broken):
    /// --timeout is then the only limit on a request, and a timed-out request may keep a local
    /// server busy.
    #[arg(long)]
    #[serde(default = "did_not_stream")]
    pub no_stream: bool,
    /// Requests in flight at once, at most; fewer once the server shows it queues them
    /// [default: 4; for a local server 1, or the slots llama.cpp's server says it has].
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=64))]
    pub concurrency: Option<u64>,
    /// Seconds a streamed reply may go without a token, the wait for the first one included
    /// [default: 300 for a local server, 120 otherwise].
    #[arg(long, value_name = "SECS")]
    pub idle_timeout: Option<f64>,
    /// Seconds one request may take in all [default: 1800 for a local server, 600 otherwise].
    #[arg(long, value_name = "SECS")]
    pub timeout: Option<f64>,
    /// Retries of a request after a 429, 5xx, timeout or malformed reply.
    #[arg(long, default_value_t = 5)]
    pub retries: u32,
    /// Stop requesting once this many dollars are spent (needs a price for the model).
    #[arg(long, value_name = "USD")]
    pub budget_usd: Option<f64>,
    /// Stop requesting once this many tokens (prompt + completion) are spent.
    #[arg(long, value_name = "TOKENS")]
    pub max_tokens: Option<u64>,
    /// Price table (TOML, the form of the embedded crates/llm/prices.toml).
    #[arg(long, value_name = "FILE")]
    pub prices: Option<PathBuf>,
}

/// `--cap-field`.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CapFieldArg {
    /// `max_tokens`.
    MaxTokens,
    /// `max_completion_tokens`.
    MaxCompletionTokens,
}

impl From<CapFieldArg> for CapField {
    fn from(field: CapFieldArg) -> Self {
        match field {
            CapFieldArg::MaxTokens => CapField::MaxTokens,
            CapFieldArg::MaxCompletionTokens => CapField::MaxCompletionTokens,
        }
    }
}

impl From<CapField> for CapFieldArg {
    fn from(field: CapField) -> Self {
        match field {
            CapField::MaxTokens => CapFieldArg::MaxTokens,
            CapField::MaxCompletionTokens => CapFieldArg::MaxCompletionTokens,
        }
    }
}

/// A run.toml written before the cap had a default: the run sent none, unless it gave one.
fn no_cap() -> Option<u32> {
    Some(0)
}

/// A run.toml written before the cap's field could be chosen sent `max_completion_tokens`.
fn old_cap_field() -> Option<CapFieldArg> {
    Some(CapFieldArg::MaxCompletionTokens)
}

/// A run.toml written before replies were streamed.
fn did_not_stream() -> bool {
    true
}

impl EndpointArgs {
    /// These settings with the request-shaping ones made explicit (the cap, its field, streaming),
    /// as a run records them: for the base URL, or as `llm`'s cassette recorded them when it is a
    /// replay (its vision model's requests when `pictures`, else its proposer's).
    pub fn resolved(&self, llm: &Llm, pictures: bool) -> Result<Self> {
        let recorded = match llm {
            Llm::Replay(path) => first_recorded(&Replay::open(path).map_err(anyhow::Error::msg)?, pictures).cloned(),
            _ => None,
        };
        let shape = self.reply_shape(&self.base_url, recorded.as_ref());
        Ok(Self {
            max_completion_tokens: Some(shape.max_completion_tokens.unwrap_or(0)),
            cap_field: Some(shape.cap_field.into()),
            no_stream: !shape.stream,
            ..self.clone()
        })
    }

    /// How replies are asked for from a server at `base_url`: the flags, else what `recorded`
    /// (the first request of the cassette a replay follows) asked, else the endpoint's defaults.
    fn reply_shape(&self, base_url: &str, recorded: Option<&serde_json::Value>) -> ReplyShape {
        let defaults = EndpointDefaults::for_base_url(base_url);
        let recorded_cap = recorded.and_then(|r| {
            let field = [CapField::MaxTokens, CapField::MaxCompletionTokens].into_iter().find(|f| r.get(f.name()).is_some())?;
            Some((r[field.name()].as_u64()? as u32, field))
        });
        let max_completion_tokens = match self.max_completion_tokens {
            Some(0) => None,
            Some(cap) => Some(cap),
            None if recorded.is_some() => recorded_cap.map(|(cap, _)| cap),
            None => Some(defaults.max_completion_tokens),
        };
        // A cap given for a replay goes in the field the cassette's requests used.
        let cap_field = self.cap_field.map(CapField::from).or(recorded_cap.map(|(_, field)| field)).unwrap_or(defaults.cap_field);
        let recorded_stream = recorded.is_none_or(|r| r.get("stream") == Some(&serde_json::Value::Bool(true)));
        ReplyShape { max_completion_tokens, cap_field, stream: !self.no_stream && recorded_stream }
    }

    /// The limits on one request to a server at `base_url`, checked.
    fn timeouts(&self, base_url: &str) -> Result<Timeouts> {
        let defaults = EndpointDefaults::for_base_url(base_url).timeouts;
        let seconds = |flag: &str, value: Option<f64>, default: Duration| match value {
            None => Ok(default),
            Some(secs) => Duration::try_from_secs_f64(secs)
                .ok()
                .filter(|t| !t.is_zero())
                .with_context(|| format!("{flag} must be a positive number of seconds, not {secs}")),
        };
        Ok(Timeouts { idle: seconds("--idle-timeout", self.idle_timeout, defaults.idle)?, total: seconds("--timeout", self.timeout, defaults.total)? })
    }
}

/// Settings of the offline proposer (`--llm offline`), for measuring what each of its parts
/// brings.
#[derive(clap::Args, Debug, Clone, serde::Serialize, serde::Deserialize)]
#[command(next_help_heading = "Offline proposer")]
pub struct OfflineArgs {
    /// How the offline proposer moves a child's weights, temperatures, targets and gate floors:
    /// `es`, an evolution strategy (recombined over the ranked parents, step size self-adapted
    /// across generations), or `fixed`, one parameter by a fixed log-normal step.
    #[arg(long, default_value = "es", value_parser = ["es", "fixed"])]
    pub offline_steps: String,
    /// Share of the offline proposer's children that take the repairs their parent's training
    /// statistics call for (a swamping term rescaled, a constant one dropped or re-tempered, the
    /// term that rose while the fitness fell dropped, an alive bonus where most episodes end by a
    /// termination); 0 turns reading them off.
    #[arg(long, default_value_t = 0.5, value_name = "P", value_parser = probability)]
    pub offline_repair: f64,
}

impl Default for OfflineArgs {
    fn default() -> Self {
        Self { offline_steps: "es".to_owned(), offline_repair: 0.5 }
    }
}

impl OfflineArgs {
    /// The proposer's configuration these flags give.
    pub fn config(&self) -> OfflineConfig {
        let defaults = OfflineConfig::default();
        OfflineConfig { steps: if self.offline_steps == "fixed" { Steps::Fixed } else { defaults.steps.clone() }, p_repair: self.offline_repair, ..defaults }
    }
}

fn probability(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(p) if (0.0..=1.0).contains(&p) => Ok(p),
        _ => Err("expected a probability in [0, 1]".to_owned()),
    }
}

/// The cassette side of `--llm`, shared by the proposer and the vision model so both record to
/// (and a resumed run answers from) one `OUT/llm.jsonl`, or both replay one cassette. The
/// recorder is created on first use: an offline search without a vision model writes no file.
pub struct Cassettes {
    /// `--llm replay:FILE`'s cassette.
    replay: Option<Arc<Replay>>,
    /// `OUT/llm.jsonl`, appended to when resuming.
    path: PathBuf,
    append: bool,
    recorder: std::sync::OnceLock<Arc<Recorder>>,
    prefill: std::sync::OnceLock<Arc<Replay>>,
}

impl Cassettes {
    /// The cassettes of `llm` for a run in `out` (`append`: a resumed run).
    pub fn new(llm: &Llm, out: &Path, append: bool) -> Result<Self> {
        let replay = match llm {
            Llm::Replay(path) => Some(Arc::new(Replay::open(path).map_err(anyhow::Error::msg)?)),
            _ => None,
        };
        Ok(Self { replay, path: out.join("llm.jsonl"), append, recorder: Default::default(), prefill: Default::default() })
    }

    /// A transport for requests with `timeouts` and `price`: the replay, else live, recording to
    /// the run's `llm.jsonl` (its key never written) and, when resuming, answering first from it.
    fn transport(&self, timeouts: Timeouts, price: Option<Price>, api_key: Option<&str>) -> Result<Transport> {
        if let Some(replay) = &self.replay {
            return Ok(Transport::Replay(replay.clone()));
        }
        let recorder = match self.recorder.get() {
            Some(r) => r.clone(),
            None => {
                let created = Arc::new(Recorder::create(&self.path, self.append).map_err(anyhow::Error::msg)?.with_secret(api_key));
                self.recorder.get_or_init(|| created).clone()
            }
        };
        let transport = Transport::live(timeouts, Some(recorder), price).map_err(anyhow::Error::msg)?;
        if !self.append {
            return Ok(transport);
        }
        // Resuming: what the interrupted session asked is answered from its recording.
        let prefill = match self.prefill.get() {
            Some(p) => p.clone(),
            None => {
                let opened = Arc::new(Replay::open(&self.path).map_err(anyhow::Error::msg)?);
                self.prefill.get_or_init(|| opened).clone()
            }
        };
        Ok(transport.with_prefill(prefill))
    }
}

/// The proposer `llm` names: offline, or OpenAI-compatible (recording through `cassettes`) or
/// replaying a cassette.
pub fn proposer(
    llm: &Llm,
    endpoint: &EndpointArgs,
    offline: &OfflineArgs,
    model: &Arc<EnvModel>,
    templates: Templates,
    cassettes: &Cassettes,
) -> Result<AnyProposer> {
    Ok(match llm {
        Llm::Offline => AnyProposer::Offline(OfflineProposer::new(model.clone(), offline.config())),
        _ => AnyProposer::OpenAi(Box::new(openai_proposer(endpoint, model, templates, cassettes)?)),
    })
}

/// The price table `--prices` names, else the embedded one.
fn prices(endpoint: &EndpointArgs) -> Result<Prices> {
    match &endpoint.prices {
        Some(path) => Prices::from_file(path).map_err(anyhow::Error::msg),
        None => Ok(Prices::embedded()),
    }
}

/// The key for a live request (a replay sends nothing, so it needs none and must not depend on one).
fn api_key(cassettes: &Cassettes) -> Option<String> {
    if cassettes.replay.is_some() { None } else { std::env::var("OPENAI_API_KEY").ok().filter(|k| !k.is_empty()) }
}

/// The first request of `replay` that shows pictures (a vision model's) or, not `pictures`, the
/// first that does not (the proposer's): what a replay's unstated settings default to.
fn first_recorded(replay: &Replay, pictures: bool) -> Option<&serde_json::Value> {
    replay.requests().find(|r| r.get("messages").is_some_and(|m| m.to_string().contains("\"image_url\"") == pictures))
}

/// The OpenAI-compatible proposer, live (recording to OUT/llm.jsonl) or replaying a cassette.
fn openai_proposer(endpoint: &EndpointArgs, model: &EnvModel, templates: Templates, cassettes: &Cassettes) -> Result<OpenAiProposer> {
    if let Some(usd) = endpoint.budget_usd.filter(|usd| !(usd.is_finite() && *usd >= 0.0)) {
        bail!("--budget-usd must be a number of dollars ≥ 0, not {usd}");
    }
    if cassettes.replay.is_none() && !(endpoint.base_url.starts_with("http://") || endpoint.base_url.starts_with("https://")) {
        bail!("--base-url (or OPENAI_BASE_URL) must start with http:// or https://, not {:?}", endpoint.base_url);
    }
    let recorded = cassettes.replay.as_ref().and_then(|r| first_recorded(r, false));
    let recorded_model = recorded.and_then(|r| r["model"].as_str()).map(str::to_owned);
    let model_name = endpoint.model.clone().or(recorded_model).context("--llm openai needs --model")?;
    let price = prices(endpoint)?.get(&model_name);
    let mut config = OpenAiConfig::for_endpoint(model_name, &endpoint.base_url);
    config.api_key = api_key(cassettes);
    config.temperature = endpoint.temperature;
    config.reply = endpoint.reply_shape(&endpoint.base_url, recorded);
    if let Some(concurrency) = endpoint.concurrency {
        (config.concurrency, config.concurrency_from_server) = (concurrency as usize, false);
    }
    config.timeouts = endpoint.timeouts(&endpoint.base_url)?;
    config.retry.max_retries = endpoint.retries;
    config.budget.usd = endpoint.budget_usd;
    config.budget.tokens = endpoint.max_tokens;
    let transport = cassettes.transport(config.timeouts, price, config.api_key.as_deref())?;
    Ok(OpenAiProposer::new(model, templates, config, price, transport)?)
}

/// The vision model of `--feedback vlm`: `model` at `base_url` (default: the proposer's
/// endpoint), with the proposer's timeout and retries, recording or replaying through
/// `cassettes`, spending from `spending` (the proposer's, so the caps hold over both).
pub fn vlm_ranker(
    endpoint: &EndpointArgs,
    model: &str,
    base_url: Option<&str>,
    templates: Templates,
    cassettes: &Cassettes,
    spending: Arc<Spending>,
) -> Result<VlmRanker> {
    let base_url = base_url.unwrap_or(&endpoint.base_url);
    if cassettes.replay.is_none() && !(base_url.starts_with("http://") || base_url.starts_with("https://")) {
        bail!("--vlm-base-url must start with http:// or https://, not {base_url:?}");
    }
    let price = prices(endpoint)?.get(model);
    let mut config = VlmConfig::for_endpoint(model, base_url);
    config.api_key = api_key(cassettes);
    let recorded = cassettes.replay.as_ref().and_then(|r| first_recorded(r, true));
    config.reply = endpoint.reply_shape(base_url, recorded);
    let timeouts = endpoint.timeouts(base_url)?;
    // Pictures and a reasoned answer take longer than a script: at least the ranker's default.
    config.timeouts = Timeouts { idle: timeouts.idle.max(config.timeouts.idle), total: timeouts.total.max(config.timeouts.total) };
    config.retry.max_retries = endpoint.retries;
    let transport = cassettes.transport(config.timeouts, price, config.api_key.as_deref())?;
    Ok(VlmRanker::new(templates, config, price, transport, spending)?)
}

/// One of the proposers, chosen at run time (`--llm`).
pub enum AnyProposer {
    /// The offline evolutionary proposer.
    Offline(OfflineProposer),
    /// An OpenAI-compatible endpoint, live or replayed.
    OpenAi(Box<OpenAiProposer>),
}

impl AnyProposer {
    /// What the proposer spends from: the OpenAI proposer's own (a vision model shares it), or,
    /// offline, a new one with `endpoint`'s caps for the vision model alone.
    pub fn spending(&self, endpoint: &EndpointArgs) -> Arc<Spending> {
        match self {
            AnyProposer::OpenAi(p) => p.spending(),
            AnyProposer::Offline(_) => Arc::new(Spending::new(Budget { usd: endpoint.budget_usd, tokens: endpoint.max_tokens })),
        }
    }

    /// What the proposer has spent so far (zero offline).
    pub fn spent(&self) -> Usage {
        match self {
            AnyProposer::Offline(_) => Usage::default(),
            AnyProposer::OpenAi(p) => p.spent(),
        }
    }
}

impl Proposer for AnyProposer {
    async fn propose(&self, ctx: &Context, k: usize, seed: u64) -> Result<Generation, ProposeError> {
        match self {
            AnyProposer::Offline(p) => p.propose(ctx, k, seed).await,
            AnyProposer::OpenAi(p) => {
                let generation = p.propose(ctx, k, seed).await;
                // A lowered concurrency is said once, when it happens (at most once a generation).
                for notice in p.take_notices() {
                    eprintln!("llm: {notice}");
                }
                generation
            }
        }
    }

    fn restore_spent(&self, usage: &Usage) {
        if let AnyProposer::OpenAi(p) = self {
            p.as_ref().restore_spent(usage);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The endpoint flags as clap parses them from `args`.
    fn parse(args: &[&str]) -> EndpointArgs {
        #[derive(clap::Parser)]
        struct Cli {
            #[command(flatten)]
            endpoint: EndpointArgs,
        }
        <Cli as clap::Parser>::parse_from([&["rewardsmith"], args].concat()).endpoint
    }

    #[test]
    fn a_run_toml_from_before_streaming_and_the_cap_asks_what_it_asked_then() {
        let old: EndpointArgs = toml::from_str(
            r#"base_url = "http://127.0.0.1:8080/v1"
temperature = 1.0
concurrency = 4
timeout = 120.0
retries = 5
"#,
        )
        .unwrap();
        let shape = old.reply_shape(&old.base_url, None);
        assert_eq!((shape.max_completion_tokens, shape.stream), (None, false));
        assert_eq!(old.timeouts(&old.base_url).unwrap().total, Duration::from_secs(120));
        let capped: EndpointArgs = toml::from_str("base_url = \"http://127.0.0.1:8080/v1\"\ntemperature = 1.0\nretries = 5\nmax_reply_tokens = 500\n").unwrap();
        let shape = capped.reply_shape(&capped.base_url, None);
        assert_eq!((shape.max_completion_tokens, shape.cap_field, shape.stream), (Some(500), CapField::MaxCompletionTokens, false));
    }

    #[test]
    fn a_new_run_records_the_shape_its_endpoint_gets_and_reads_it_back_the_same() {
        for (url, cap, field) in [("http://127.0.0.1:8080/v1", 2048, CapField::MaxTokens), ("https://api.openai.com/v1", 4096, CapField::MaxCompletionTokens)] {
            let args = parse(&["--base-url", url]);
            let resolved = args.resolved(&Llm::OpenAi, false).unwrap();
            let back: EndpointArgs = toml::from_str(&toml::to_string(&resolved).unwrap()).unwrap();
            let shape = back.reply_shape(url, None);
            assert_eq!((shape.max_completion_tokens, shape.cap_field, shape.stream), (Some(cap), field, true), "{url}");
            assert_eq!(shape, args.reply_shape(url, None), "{url}");
        }
        let uncapped = parse(&["--max-completion-tokens", "0", "--no-stream"]).resolved(&Llm::OpenAi, false).unwrap();
        let back: EndpointArgs = toml::from_str(&toml::to_string(&uncapped).unwrap()).unwrap();
        assert_eq!(
            back.reply_shape(DEFAULT_BASE_URL, None),
            ReplyShape { max_completion_tokens: None, cap_field: CapField::MaxCompletionTokens, stream: false }
        );
    }

    #[test]
    fn a_replay_asks_as_its_cassette_recorded_unless_told_otherwise() {
        let recorded = json!({ "model": "m", "max_tokens": 300, "stream": true });
        let shape = parse(&[]).reply_shape(DEFAULT_BASE_URL, Some(&recorded));
        assert_eq!(shape, ReplyShape { max_completion_tokens: Some(300), cap_field: CapField::MaxTokens, stream: true });
        let before = json!({ "model": "m" });
        assert_eq!(parse(&[]).reply_shape(DEFAULT_BASE_URL, Some(&before)).max_completion_tokens, None);
        assert!(!parse(&[]).reply_shape(DEFAULT_BASE_URL, Some(&before)).stream);
        let told = parse(&["--max-completion-tokens", "100", "--cap-field", "max-completion-tokens"]).reply_shape(DEFAULT_BASE_URL, Some(&recorded));
        assert_eq!((told.max_completion_tokens, told.cap_field), (Some(100), CapField::MaxCompletionTokens));
        // A cap alone goes in the recorded field, not in the default URL's.
        let cap_only = parse(&["--max-completion-tokens", "100"]).reply_shape(DEFAULT_BASE_URL, Some(&recorded));
        assert_eq!((cap_only.max_completion_tokens, cap_only.cap_field), (Some(100), CapField::MaxTokens));
    }

    #[test]
    fn the_old_flag_name_still_sets_the_cap() {
        assert_eq!(parse(&["--max-reply-tokens", "64"]).max_completion_tokens, Some(64));
        assert!(parse(&["--idle-timeout", "0"]).timeouts(DEFAULT_BASE_URL).unwrap_err().to_string().contains("--idle-timeout must be a positive"));
    }
}
