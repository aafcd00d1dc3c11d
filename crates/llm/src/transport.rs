//! The HTTP layer under async-openai's client (installed with `Client::with_http_service`): sends
//! a request live (recording it) or answers it from a cassette, and turns every non-2xx status
//! into a [`TransportError`] that keeps what the retry policy needs (async-openai's own errors keep
//! the status but drop `Retry-After`, and lose the status of a non-JSON error body).

use crate::cassette::{Exchange, ExchangeError, Recorder, Replay, redact_images};
use async_openai::error::OpenAIError;
use async_openai::middleware::HttpRequestFactory;
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
    /// No response within the timeout.
    #[error("no response within {} s", .0.as_secs_f64())]
    Timeout(Duration),
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
        /// The HTTP client (its timeout is the request timeout).
        client: reqwest::Client,
        /// The request timeout (for the error message).
        timeout: Duration,
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

impl Transport {
    /// A live transport with this request timeout.
    pub fn live(timeout: Duration, recorder: Option<Arc<Recorder>>, price: Option<Price>) -> Result<Self, String> {
        let client = reqwest::Client::builder().timeout(timeout).build().map_err(|e| format!("cannot build the HTTP client: {e}"))?;
        Ok(Self::Live { client, timeout, recorder, price, prefill: None })
    }

    /// This live transport, answering first from what `prefill` recorded (see
    /// [`Transport::Live::prefill`]).
    pub fn with_prefill(self, prefill: Arc<Replay>) -> Self {
        match self {
            Self::Live { client, timeout, recorder, price, .. } => Self::Live { client, timeout, recorder, price, prefill: Some(prefill) },
            replay => replay,
        }
    }

    async fn send(self, factory: HttpRequestFactory) -> Result<reqwest::Response, OpenAIError> {
        let request = factory.build().await.map_err(|e| TransportError::Build(with_causes(&e)))?;
        let body: Value = request.body().and_then(reqwest::Body::as_bytes).and_then(|bytes| serde_json::from_slice(bytes).ok()).unwrap_or(Value::Null);
        // Pictures are recorded, and matched, by their hash (see the `cassette` module).
        let body = redact_images(&body);
        let exchange = match self {
            Transport::Replay(replay) => replay.answer(&body).map_err(TransportError::NotInCassette)?,
            Transport::Live { client, timeout, recorder, price, prefill } => match prefill.and_then(|p| p.try_answer(&body)) {
                Some(recorded) => recorded,
                None => {
                    let exchange = exchange_live(&client, request, body, timeout, price).await?;
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
    timeout: Duration,
    price: Option<Price>,
) -> Result<Exchange, TransportError> {
    let started = Instant::now();
    let mut exchange = Exchange::new(body);
    let failed = |e: reqwest::Error| if e.is_timeout() { ExchangeError::Timeout } else { ExchangeError::Connect(with_causes(&e)) };
    match client.execute(request).await {
        Err(e) if e.is_builder() => return Err(TransportError::Build(with_causes(&e))),
        Err(e) => exchange.error = Some(failed(e)),
        Ok(response) => {
            exchange.status = Some(response.status().as_u16());
            exchange.retry_after_s = retry_after(response.headers()).map(|d| d.as_secs_f64());
            match response.bytes().await {
                Err(e) => exchange.error = Some(failed(e)),
                Ok(bytes) => match serde_json::from_slice::<Value>(&bytes) {
                    Ok(json) => exchange.response = Some(json),
                    Err(_) => exchange.response_text = Some(String::from_utf8_lossy(&bytes).into_owned()),
                },
            }
        }
    }
    exchange.latency_ms = started.elapsed().as_secs_f64() * 1e3;
    if exchange.error == Some(ExchangeError::Timeout) {
        // The client's own limit: the latency says how long we waited, the message the limit.
        exchange.latency_ms = exchange.latency_ms.max(timeout.as_secs_f64() * 1e3);
    }
    if let Some(usage) = exchange.response.as_ref().and_then(|r| r.get("usage")) {
        exchange.prompt_tokens = usage.get("prompt_tokens").and_then(Value::as_u64);
        exchange.completion_tokens = usage.get("completion_tokens").and_then(Value::as_u64);
        exchange.cost_usd = price.map(|p| p.cost(exchange.prompt_tokens.unwrap_or(0), exchange.completion_tokens.unwrap_or(0)));
    }
    Ok(exchange)
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
    let Some(status) = exchange.status else {
        return Err(match exchange.error {
            Some(ExchangeError::Connect(message)) => TransportError::Connect(message),
            _ => TransportError::Timeout(seconds(exchange.latency_ms / 1e3)),
        }
        .into());
    };
    if let Some(error) = exchange.error {
        // Headers came, the body did not.
        return Err(match error {
            ExchangeError::Timeout => TransportError::Timeout(seconds(exchange.latency_ms / 1e3)),
            ExchangeError::Connect(message) => TransportError::Connect(message),
        }
        .into());
    }
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
    fn price_is_per_million_tokens() {
        let price = Price { input_usd_per_mtok: 2.0, output_usd_per_mtok: 8.0 };
        assert!((price.cost(1_000_000, 500_000) - 6.0).abs() < 1e-12);
    }
}
