//! The `--llm` choice and the endpoint settings shared by `propose` and `search`.

use anyhow::{bail, Context as _, Result};
use rewardsmith_llm::cassette::{Recorder, Replay};
use rewardsmith_llm::openai::{OpenAiConfig, OpenAiProposer, Prices, DEFAULT_BASE_URL};
use rewardsmith_llm::prompt::Templates;
use rewardsmith_llm::offline::{OfflineConfig, OfflineProposer};
use rewardsmith_llm::transport::Transport;
use rewardsmith_llm::AnyProposer;
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
#[derive(clap::Args, Debug, Clone, serde::Serialize, serde::Deserialize)]
#[command(next_help_heading = "LLM endpoint")]
pub struct EndpointArgs {
    /// Base URL of the OpenAI-compatible API, up to /v1 (vLLM: http://localhost:8000/v1,
    /// Ollama: http://localhost:11434/v1). The key, if one is needed, comes from OPENAI_API_KEY.
    #[arg(long, env = "OPENAI_BASE_URL", default_value = DEFAULT_BASE_URL)]
    pub base_url: String,
    /// Model name as the server knows it (required for openai; a replay defaults to the
    /// recorded one).
    #[arg(long)]
    pub model: Option<String>,
    /// Sampling temperature.
    #[arg(long, default_value_t = 1.0)]
    pub temperature: f32,
    /// Cap on each reply's length (sent as max_completion_tokens; default: the server's).
    #[arg(long, value_name = "TOKENS")]
    pub max_reply_tokens: Option<u32>,
    /// Requests in flight at once when samples are asked one by one.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u64).range(1..=64))]
    pub concurrency: u64,
    /// Seconds one request may take.
    #[arg(long, default_value_t = 120.0)]
    pub timeout: f64,
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

/// The proposer `llm` names: offline, or OpenAI-compatible (recording to OUT/llm.jsonl; when
/// `append`, a resumed run, appended to and answering first from what it holds) or replaying a
/// cassette.
pub fn proposer(llm: &Llm, endpoint: &EndpointArgs, model: &Arc<EnvModel>, templates: Templates, out: &Path, append: bool) -> Result<AnyProposer> {
    Ok(match llm {
        Llm::Offline => AnyProposer::Offline(OfflineProposer::new(model.clone(), OfflineConfig::default())),
        llm => AnyProposer::OpenAi(Box::new(openai_proposer(llm, endpoint, model, templates, out, append)?)),
    })
}

/// The OpenAI-compatible proposer, live (recording to OUT/llm.jsonl) or replaying a cassette.
fn openai_proposer(llm: &Llm, endpoint: &EndpointArgs, model: &EnvModel, templates: Templates, out: &Path, append: bool) -> Result<OpenAiProposer> {
    let timeout = Duration::try_from_secs_f64(endpoint.timeout)
        .ok()
        .filter(|t| !t.is_zero())
        .with_context(|| format!("--timeout must be a positive number of seconds, not {}", endpoint.timeout))?;
    if let Some(usd) = endpoint.budget_usd.filter(|usd| !(usd.is_finite() && *usd >= 0.0)) {
        bail!("--budget-usd must be a number of dollars ≥ 0, not {usd}");
    }
    let replay = match llm {
        Llm::Replay(path) => Some(Arc::new(Replay::open(path).map_err(anyhow::Error::msg)?)),
        _ => None,
    };
    if replay.is_none() && !(endpoint.base_url.starts_with("http://") || endpoint.base_url.starts_with("https://")) {
        bail!("--base-url (or OPENAI_BASE_URL) must start with http:// or https://, not {:?}", endpoint.base_url);
    }
    let recorded_model = replay.as_ref().and_then(|r| r.first_request()).and_then(|r| r["model"].as_str()).map(str::to_owned);
    let model_name = endpoint.model.clone().or(recorded_model).context("--llm openai needs --model")?;
    let prices = match &endpoint.prices {
        Some(path) => Prices::from_file(path).map_err(anyhow::Error::msg)?,
        None => Prices::embedded(),
    };
    let price = prices.get(&model_name);
    let mut config = OpenAiConfig::new(model_name);
    config.base_url = endpoint.base_url.clone();
    // A replay sends nothing, so it needs no key (and must not depend on one).
    config.api_key = if replay.is_none() { std::env::var("OPENAI_API_KEY").ok().filter(|k| !k.is_empty()) } else { None };
    config.temperature = endpoint.temperature;
    config.max_reply_tokens = endpoint.max_reply_tokens;
    config.concurrency = endpoint.concurrency as usize;
    config.timeout = timeout;
    config.retry.max_retries = endpoint.retries;
    config.budget.usd = endpoint.budget_usd;
    config.budget.tokens = endpoint.max_tokens;
    let transport = match replay {
        Some(replay) => Transport::Replay(replay),
        None => {
            let path = out.join("llm.jsonl");
            let recorder = Recorder::create(&path, append).map_err(anyhow::Error::msg)?.with_secret(config.api_key.as_deref());
            let transport = Transport::live(config.timeout, Some(Arc::new(recorder)), price).map_err(anyhow::Error::msg)?;
            // Resuming: what the interrupted session asked is answered from its recording.
            if append { transport.with_prefill(Arc::new(Replay::open(&path).map_err(anyhow::Error::msg)?)) } else { transport }
        }
    };
    Ok(OpenAiProposer::new(model, templates, config, price, transport)?)
}

