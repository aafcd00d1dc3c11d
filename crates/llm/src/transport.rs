//! The HTTP layer under async-openai's client (installed with `Client::with_http_service`): sends
//! a request live (recording it) or answers it from a cassette, and turns every non-2xx status
//! into a [`TransportError`] that keeps what the retry policy needs (async-openai's own errors keep
//! the status but drop `Retry-After`, and lose the status of a non-JSON error body).
//!
//! A request with `"stream": true` is read as it streams ([`crate::stream`]): it may take as long
//! as the total cap allows while tokens keep coming, and fails when nothing comes for the idle
//! timeout ([`Timeouts::idle`], waiting for the first token included). Failing drops the connection, which is what
//! stops a streaming server's generation (llama.cpp, vLLM and Ollama stop on disconnect), so no
//! abandoned work piles up on a local server. What is recorded, and what async-openai reads, is
//! the assembled reply.

use crate::cassette::{Exchange, ExchangeError, Recorder, Replay, redact_images};
use crate::stream::{Assembly, Event};
use async_openai::error::OpenAIError;
use async_openai::middleware::HttpRequestFactory;
use eventsource_stream::Eventsource as _;
use futures::StreamExt as _;
use serde_json::Value;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A price per million tokens, in dollars.
#[derive(Debug, Clone, Copy, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Price {
    /// Dollars per million prompt tokens.
    pub input_usd_per_mtok: f64,
    /// Dollars per million completion tokens.
    pub output_usd_per_mtok: f64,
}

impl Price {
    /// Dollars for these token counts.
    pub fn cost(&self, prompt_tokens: u64, completion_tokens: u64) -> f64 {
        (prompt_tokens as f64 * self.input_usd_per_mtok + completion_tokens as f64 * self.output_usd_per_mtok) / 1e6
    }
}

/// Why a request got no usable HTTP response. Travels inside `OpenAIError::Boxed`.
#[derive(Debug, Clone, thiserror::Error)]
pub enum TransportError {
    /// The server answered with a non-2xx status.
    #[error("HTTP {status}: {message}")]
    Status {
        /// HTTP status.
        status: u16,
        /// How long the server asked to wait before retrying.
        retry_after: Option<Duration>,
        /// The server's error message (or the start of its body).
        message: String,
    },
    /// No complete reply within the total cap.
    #[error("no complete reply within {} s", tenths(.0))]
    Timeout(Duration),
    /// A streamed reply went silent: no token for the idle timeout. The request was cancelled.
    #[error(
        "no token for {} s ({tokens} streamed before); the request was cancelled (raise --idle-timeout for a server this slow)",
        tenths(.idle)
    )]
    Idle {
        /// The idle timeout.
        idle: Duration,
        /// Tokens that came before the silence.
        tokens: u64,
    },
    /// The connection failed.
    #[error("cannot reach the endpoint: {0}")]
    Connect(String),
    /// Replay: the cassette does not hold this request.
    #[error("{0}")]
    NotInCassette(String),
    /// The cassette cannot be written.
    #[error("{0}")]
    Record(String),
    /// The request cannot be built (a base URL that is not a URL, a key that is not a valid
    /// header value): a setting to fix, not a failure to retry.
    #[error("cannot build the request: {0}")]
    Build(String),
}

/// Seconds to a tenth, as people write limits: `60`, `0.3` (a measured `60.0013` reads `60`).
fn tenths(duration: &Duration) -> String {
    let tenths = (duration.as_secs_f64() * 10.0).round() / 10.0;
    format!("{tenths}")
}

impl From<TransportError> for OpenAIError {
    fn from(e: TransportError) -> Self {
        OpenAIError::Boxed(Box::new(e))
    }
}

/// Where requests go.
#[derive(Clone, Debug)]
pub enum Transport {
    /// To the endpoint, each exchange recorded when a recorder is given.
    Live {
        /// The HTTP client (its timeout is the total cap on a request).
        client: reqwest::Client,
        /// The limits on one request.
        timeouts: Timeouts,
        /// Where exchanges are recorded.
        recorder: Option<Arc<Recorder>>,
        /// The model's price, for the cost of each recorded exchange.
        price: Option<Price>,
        /// What an earlier session of this run recorded: a request it holds is answered from it
        /// (not sent, not recorded again), so a resumed run retraces the interrupted one.
        prefill: Option<Arc<Replay>>,
    },
    /// To a cassette; nothing reaches the network.
    Replay(Arc<Replay>),
}

/// The limits on one live request.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Timeouts {
    /// Cap on a request from sending it to its reply's last byte, streamed or not.
    pub total: Duration,
    /// With a streamed reply, the longest silence: from sending the request to the stream's
    /// first event (the server's queue and its reading of the prompt), then between events (a
    /// token each, in practice). A plain reply has only the total.
    pub idle: Duration,
}

/// How long a probe of the server's own description ([`Transport::server_slots`]) may take.
const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

impl Transport {
    /// A live transport with these limits on each request.
    pub fn live(timeouts: Timeouts, recorder: Option<Arc<Recorder>>, price: Option<Price>) -> Result<Self, String> {
        let client = reqwest::Client::builder().timeout(timeouts.total).build().map_err(|e| format!("cannot build the HTTP client: {e}"))?;
        Ok(Self::Live { client, timeouts, recorder, price, prefill: None })
    }

    /// This live transport, answering first from what `prefill` recorded (see
    /// [`Transport::Live::prefill`]).
    pub fn with_prefill(self, prefill: Arc<Replay>) -> Self {
        match self {
            Self::Live { client, timeouts, recorder, price, .. } => Self::Live { client, timeouts, recorder, price, prefill: Some(prefill) },
            replay => replay,
        }
    }

    /// How many requests the server at `base_url` says it serves at once, where it says:
    /// llama.cpp's server answers `GET /props` with `total_slots`. None for a replay, a server
    /// that does not say (Ollama, vLLM, OpenAI), or one that does not answer within
    /// [`PROBE_TIMEOUT`]. Not recorded: it decides only how many requests are in flight, never
    /// what they ask.
    pub async fn server_slots(&self, base_url: &str) -> Option<usize> {
        let Transport::Live { client, .. } = self else { return None };
        let base = base_url.trim_end_matches('/');
        let root = base.strip_suffix("/v1").unwrap_or(base);
        let probe = async {
            let response = client.get(format!("{root}/props")).send().await.ok()?.error_for_status().ok()?;
            let props: Value = serde_json::from_slice(&response.bytes().await.ok()?).ok()?;
            props.get("total_slots").and_then(Value::as_u64).filter(|n| *n >= 1).and_then(|n| usize::try_from(n).ok())
        };
        tokio::time::timeout(PROBE_TIMEOUT, probe).await.ok().flatten()
    }

    async fn send(self, factory: HttpRequestFactory) -> Result<reqwest::Response, OpenAIError> {
        let request = factory.build().await.map_err(|e| TransportError::Build(with_causes(&e)))?;
        let body: Value = request.body().and_then(reqwest::Body::as_bytes).and_then(|bytes| serde_json::from_slice(bytes).ok()).unwrap_or(Value::Null);
        // Pictures are recorded, and matched, by their hash (see the `cassette` module).
        let body = redact_images(&body);
        let exchange = match self {
            Transport::Replay(replay) => replay.answer(&body).map_err(TransportError::NotInCassette)?,
            Transport::Live { client, timeouts, recorder, price, prefill } => match prefill.and_then(|p| p.try_answer(&body)) {
                Some(recorded) => recorded,
                None => {
                    let exchange = exchange_live(&client, request, body, timeouts, price).await?;
                    if let Some(recorder) = recorder {
                        recorder.record(&exchange).map_err(TransportError::Record)?;
                    }
                    exchange
                }
            },
        };
        into_response(exchange)
    }
}

/// Sends `request` and keeps everything about the exchange.
async fn exchange_live(
    client: &reqwest::Client,
    request: reqwest::Request,
    body: Value,
    timeouts: Timeouts,
    price: Option<Price>,
) -> Result<Exchange, TransportError> {
    let started = Instant::now();
    let mut exchange = Exchange::new(body);
    let streamed = exchange.request.get("stream") == Some(&Value::Bool(true));
    let sent = client.execute(request);
    // A streamed request's wait for its headers and first event counts against the idle
    // timeout: servers send the headers with (or just before) the first token.
    let first_by = tokio::time::Instant::from_std(started) + timeouts.idle;
    let sent = if streamed { tokio::time::timeout_at(first_by, sent).await.ok() } else { Some(sent.await) };
    match sent {
        None => exchange.error = Some(ExchangeError::Idle { idle_s: timeouts.idle.as_secs_f64(), tokens: 0 }),
        Some(Err(e)) if e.is_builder() => return Err(TransportError::Build(with_causes(&e))),
        Some(Err(e)) => exchange.error = Some(failed(&e)),
        Some(Ok(response)) => {
            exchange.status = Some(response.status().as_u16());
            exchange.retry_after_s = retry_after(response.headers()).map(|d| d.as_secs_f64());
            let event_stream =
                response.headers().get(reqwest::header::CONTENT_TYPE).and_then(|t| t.to_str().ok()).is_some_and(|t| t.starts_with("text/event-stream"));
            if streamed && event_stream && response.status().is_success() {
                read_stream(response, &mut exchange, timeouts.idle, started, first_by).await;
            } else {
                // Not streamed, or a server that answered a streamed request plainly (an error,
                // or one that ignores `stream`).
                match response.bytes().await {
                    Err(e) => exchange.error = Some(failed(&e)),
                    Ok(bytes) => match serde_json::from_slice::<Value>(&bytes) {
                        Ok(json) => exchange.response = Some(json),
                        Err(_) => exchange.response_text = Some(String::from_utf8_lossy(&bytes).into_owned()),
                    },
                }
            }
        }
    }
    exchange.latency_ms = started.elapsed().as_secs_f64() * 1e3;
    if exchange.error == Some(ExchangeError::Timeout) {
        // The client's own limit: the latency says how long we waited, the message the limit.
        exchange.latency_ms = exchange.latency_ms.max(timeouts.total.as_secs_f64() * 1e3);
    }
    if let Some(usage) = exchange.response.as_ref().filter(|_| exchange.error.is_none()).and_then(|r| r.get("usage")) {
        exchange.prompt_tokens = usage.get("prompt_tokens").and_then(Value::as_u64);
        exchange.completion_tokens = usage.get("completion_tokens").and_then(Value::as_u64);
        exchange.cost_usd = price.map(|p| p.cost(exchange.prompt_tokens.unwrap_or(0), exchange.completion_tokens.unwrap_or(0)));
    }
    Ok(exchange)
}

/// Why a request got no (complete) response, from reqwest's error.
fn failed(e: &reqwest::Error) -> ExchangeError {
    if e.is_timeout() { ExchangeError::Timeout } else { ExchangeError::Connect(with_causes(e)) }
}

/// Reads a streamed reply into `exchange`: the assembled completion, or why it has none: the
/// first event must come by `first_by`, each later one within `idle` of the one before. Returning
/// early drops the stream, and with it the connection, which cancels the server's generation.
async fn read_stream(response: reqwest::Response, exchange: &mut Exchange, idle: Duration, started: Instant, first_by: tokio::time::Instant) {
    let mut events = response.bytes_stream().eventsource();
    let mut assembly = Assembly::default();
    let mut deadline = first_by;
    loop {
        let next = tokio::time::timeout_at(deadline, events.next()).await;
        deadline = tokio::time::Instant::now() + idle;
        let event = match next {
            Err(_) => {
                exchange.error = Some(ExchangeError::Idle { idle_s: idle.as_secs_f64(), tokens: assembly.tokens });
                return;
            }
            Ok(None) => break,
            Ok(Some(Err(eventsource_stream::EventStreamError::Transport(e)))) => {
                exchange.error = Some(failed(&e));
                return;
            }
            Ok(Some(Err(e))) => {
                exchange.error = Some(ExchangeError::Connect(format!("the stream is not valid server-sent events: {e}")));
                return;
            }
            Ok(Some(Ok(event))) => event,
        };
        let before = assembly.tokens;
        match assembly.add(&event.data) {
            Ok(Event::Chunk) => {
                if assembly.tokens > before {
                    if before == 0 {
                        exchange.first_token_ms = Some(started.elapsed().as_secs_f64() * 1e3);
                    }
                    crate::limiter::report_token();
                }
            }
            Ok(Event::Done) => break,
            Ok(Event::Error(error)) => {
                let message = error.get("message").and_then(Value::as_str).map_or_else(|| error.to_string(), str::to_owned);
                exchange.error = Some(ExchangeError::Connect(format!("the server broke off the stream: {message}")));
                return;
            }
            Err(_) => {
                // Kept as the body's text, so it fails (and is retried) as any malformed reply.
                exchange.response_text = Some(event.data);
                return;
            }
        }
    }
    let (reply, estimated) = assembly.finish(&exchange.request);
    let finished = reply["choices"].as_array().is_some_and(|c| !c.is_empty() && c.iter().all(|c| !c["finish_reason"].is_null()));
    if !finished {
        exchange.error = Some(ExchangeError::Connect("the stream ended before the reply was finished".to_owned()));
        return;
    }
    exchange.response = Some(reply);
    exchange.usage_estimated = estimated;
}

/// `error` and its causes, `: `-separated (reqwest's own message omits the cause, e.g. "connection
/// refused").
fn with_causes(error: &dyn std::error::Error) -> String {
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !message.contains(&text) {
            message = format!("{message}: {text}");
        }
        source = cause.source();
    }
    message
}

/// The response async-openai reads, or the error the retry policy reads.
fn into_response(exchange: Exchange) -> Result<reqwest::Response, OpenAIError> {
    if let Some(reason) = exchange.skipped {
        return Err(TransportError::NotInCassette(format!("the cassette says this request was not sent ({reason})")).into());
    }
    let body = match (&exchange.response, &exchange.response_text) {
        (Some(json), _) => json.to_string(),
        (None, Some(text)) => text.clone(),
        (None, None) => String::new(),
    };
    if let Some(error) = exchange.error {
        // No response, or headers came and the (whole) body did not.
        return Err(match error {
            ExchangeError::Timeout => TransportError::Timeout(seconds(exchange.latency_ms / 1e3)),
            ExchangeError::Idle { idle_s, tokens } => TransportError::Idle { idle: seconds(idle_s), tokens },
            ExchangeError::Connect(message) => TransportError::Connect(message),
        }
        .into());
    }
    let Some(status) = exchange.status else {
        return Err(TransportError::Timeout(seconds(exchange.latency_ms / 1e3)).into());
    };
    if !(200..300).contains(&status) {
        let message = exchange
            .response
            .as_ref()
            .and_then(|r| r.pointer("/error/message").or_else(|| r.get("error")).or_else(|| r.get("message")))
            .map(|m| m.as_str().map_or_else(|| m.to_string(), str::to_owned))
            .unwrap_or_else(|| body.chars().take(300).collect());
        let retry_after = exchange.retry_after_s.map(seconds);
        return Err(TransportError::Status { status, retry_after, message }.into());
    }
    let response = http::Response::builder()
        .status(status)
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(body)
        .map_err(|e| OpenAIError::InvalidArgument(e.to_string()))?;
    Ok(reqwest::Response::from(response))
}

/// `retry-after-ms` (OpenAI's, milliseconds) or `Retry-After` in seconds. The HTTP-date form and
/// numbers no `Duration` holds are ignored (the backoff applies instead).
fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let number = |name: &str| headers.get(name)?.to_str().ok()?.trim().parse::<f64>().ok();
    let from = |secs: f64| Duration::try_from_secs_f64(secs).ok();
    number("retry-after-ms").and_then(|ms| from(ms / 1e3)).or_else(|| number("retry-after").and_then(from))
}

/// Seconds read from a cassette (which a person may have edited): what no `Duration` holds is 0.
fn seconds(secs: f64) -> Duration {
    Duration::try_from_secs_f64(secs).unwrap_or_default()
}

impl tower::Service<HttpRequestFactory> for Transport {
    type Response = reqwest::Response;
    type Error = OpenAIError;
    type Future = Pin<Box<dyn Future<Output = Result<reqwest::Response, OpenAIError>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut std::task::Context<'_>) -> std::task::Poll<Result<(), Self::Error>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, factory: HttpRequestFactory) -> Self::Future {
        Box::pin(self.clone().send(factory))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_prefers_milliseconds_and_ignores_dates_and_numbers_out_of_range() {
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert("retry-after", "2".parse().unwrap());
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(2)));
        headers.insert("retry-after-ms", "150".parse().unwrap());
        assert_eq!(retry_after(&headers), Some(Duration::from_millis(150)));
        for odd in ["Wed, 21 Oct 2015 07:28:00 GMT", "1e30", "-1", "NaN", "inf"] {
            let mut headers = reqwest::header::HeaderMap::new();
            headers.insert("retry-after", odd.parse().unwrap());
            assert_eq!(retry_after(&headers), None, "{odd}");
        }
    }

    #[test]
    fn limits_read_in_tenths_of_seconds() {
        assert_eq!(TransportError::Timeout(Duration::from_secs_f64(60.001297689)).to_string(), "no complete reply within 60 s");
        assert!(TransportError::Idle { idle: Duration::from_millis(300), tokens: 5 }.to_string().starts_with("no token for 0.3 s (5 streamed before)"));
    }

    #[test]
    fn price_is_per_million_tokens() {
        let price = Price { input_usd_per_mtok: 2.0, output_usd_per_mtok: 8.0 };
        assert!((price.cost(1_000_000, 500_000) - 6.0).abs() < 1e-12);
    }
}
