//! A loopback server that behaves like a local model server with one slot (llama.cpp's
//! `llama-server` without `--parallel`, Ollama with `OLLAMA_NUM_PARALLEL=1`), for tests:
//! - it serves one chat request at a time and queues the others in arrival order, sending
//!   nothing (not even headers) to a request while it waits;
//! - it writes a reply one token every [`MockConfig::token_interval`] after
//!   [`MockConfig::prefill`], streamed as server-sent events when asked (`stream: true`), else as
//!   one JSON body at the end;
//! - it stops a streamed request whose client disconnected, waiting or generating, but generates
//!   a plain request to the end whatever its client did, holding the slot (llama.cpp's
//!   behaviour, and why abandoned plain requests pile up on it);
//! - it ignores `n` (one choice) and honours `max_tokens` / `max_completion_tokens`
//!   (`finish_reason: "length"`);
//! - `GET /props` says `total_slots: 1` when [`MockConfig::props`] is set, as llama.cpp does.
//!
//! What it did is counted in [`Stats`], so a test can say "no request was abandoned" rather than
//! time anything.

use serde_json::{Value, json};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

/// What the model writes for a request body.
pub type Writer = Arc<dyn Fn(&Value) -> String + Send + Sync>;

/// How the mock server behaves.
#[derive(Clone)]
pub struct MockConfig {
    /// The reply to a request (split into tokens at whitespace, each token keeping its trailing
    /// whitespace).
    pub reply: Writer,
    /// Time from taking a request into the slot to its first token (reading the prompt).
    pub prefill: Duration,
    /// Time between tokens.
    pub token_interval: Duration,
    /// Go silent after this many tokens of a streamed reply and hold the connection until the
    /// client leaves (a server that hangs).
    pub stall_after: Option<usize>,
    /// Answer `GET /props` with `total_slots: 1`; else 404 (Ollama, vLLM).
    pub props: bool,
    /// Send the usage in the final chunk when the request asks (`stream_options.include_usage`).
    pub usage_in_stream: bool,
}

impl MockConfig {
    /// A server that writes `reply` for every request.
    pub fn new(reply: impl Fn(&Value) -> String + Send + Sync + 'static) -> Self {
        Self {
            reply: Arc::new(reply),
            prefill: Duration::from_millis(5),
            token_interval: Duration::from_millis(2),
            stall_after: None,
            props: true,
            usage_in_stream: true,
        }
    }
}

/// What the server did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Stats {
    /// Chat requests received, in arrival order (their bodies).
    pub requests: Vec<Value>,
    /// Replies written to the end to a client that was there.
    pub completed: usize,
    /// Streamed requests stopped because their client left (waiting or generating).
    pub cancelled: usize,
    /// Plain requests generated to the end for a client that had left.
    pub abandoned: usize,
    /// The most chat requests inside the server at once (served plus queued).
    pub most_at_once: usize,
    /// `GET /props` requests.
    pub props_requests: usize,
}

/// A running mock server; stopped when dropped.
pub struct MockServer {
    addr: SocketAddr,
    stats: Arc<Mutex<Stats>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for MockServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

struct Shared {
    config: MockConfig,
    stats: Arc<Mutex<Stats>>,
    slot: tokio::sync::Mutex<()>,
    inside: Mutex<usize>,
}

impl MockServer {
    /// Starts a server on a free loopback port (within a tokio runtime, which must keep running
    /// for the server to answer).
    pub async fn start(config: MockConfig) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("a free loopback port");
        let addr = listener.local_addr().expect("a bound address");
        let stats = Arc::new(Mutex::new(Stats::default()));
        let shared = Arc::new(Shared { config, stats: stats.clone(), slot: tokio::sync::Mutex::new(()), inside: Mutex::new(0) });
        let task = tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                let shared = shared.clone();
                tokio::spawn(async move {
                    let (read, write) = socket.into_split();
                    serve(shared, read, write).await;
                });
            }
        });
        Self { addr, stats, task }
    }

    /// The base URL, up to `/v1`.
    pub fn url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// What it did so far.
    pub fn stats(&self) -> Stats {
        self.stats.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

impl Shared {
    fn stats(&self) -> std::sync::MutexGuard<'_, Stats> {
        self.stats.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// One HTTP request on one connection (answered with `Connection: close`).
async fn serve(shared: Arc<Shared>, mut read: OwnedReadHalf, mut write: OwnedWriteHalf) {
    let Some((head, body)) = read_request(&mut read).await else { return };
    let line = head.lines().next().unwrap_or_default().to_owned();
    if line.starts_with("GET ") && line.contains("/props") {
        shared.stats().props_requests += 1;
        let answer = if shared.config.props { respond(200, &json!({ "total_slots": 1 }).to_string()) } else { respond(404, r#"{"error":"not found"}"#) };
        let _ = write.write_all(answer.as_bytes()).await;
        return;
    }
    if !(line.starts_with("POST ") && line.contains("/chat/completions")) {
        let _ = write.write_all(respond(404, r#"{"error":"not found"}"#).as_bytes()).await;
        return;
    }
    let Ok(request) = serde_json::from_slice::<Value>(&body) else {
        let _ = write.write_all(respond(400, r#"{"error":"not JSON"}"#).as_bytes()).await;
        return;
    };
    shared.stats().requests.push(request.clone());
    let inside = {
        let mut inside = shared.inside.lock().unwrap_or_else(|e| e.into_inner());
        *inside += 1;
        *inside
    };
    {
        let mut stats = shared.stats();
        stats.most_at_once = stats.most_at_once.max(inside);
    }
    // The client leaving: EOF (or an error) on the read half.
    let (gone_tx, gone) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        let mut byte = [0u8; 64];
        while matches!(read.read(&mut byte).await, Ok(n) if n > 0) {}
        let _ = gone_tx.send(true);
    });
    let streamed = request.get("stream") == Some(&Value::Bool(true));
    if streamed {
        stream(&shared, &request, &mut write, gone).await;
    } else {
        plain(&shared, &request, &mut write, gone).await;
    }
    *shared.inside.lock().unwrap_or_else(|e| e.into_inner()) -= 1;
}

/// Resolves once the client has left.
async fn left(mut gone: tokio::sync::watch::Receiver<bool>) {
    let _ = gone.wait_for(|gone| *gone).await;
}

/// The reply's tokens, at most the request's cap; whether the cap cut it.
fn tokens(shared: &Shared, request: &Value) -> (Vec<String>, bool) {
    let text = (shared.config.reply)(request);
    let all: Vec<String> = text.split_inclusive(char::is_whitespace).map(str::to_owned).collect();
    let cap = request.get("max_tokens").or_else(|| request.get("max_completion_tokens")).and_then(Value::as_u64).map_or(usize::MAX, |c| c as usize);
    let cut = all.len() > cap;
    (all.into_iter().take(cap).collect(), cut)
}

fn usage(request: &Value, completion: usize) -> Value {
    let prompt = request.to_string().len() / 4;
    json!({ "prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion })
}

async fn stream(shared: &Shared, request: &Value, write: &mut OwnedWriteHalf, gone: tokio::sync::watch::Receiver<bool>) {
    let cancelled = || shared.stats().cancelled += 1;
    let _slot = tokio::select! {
        slot = shared.slot.lock() => slot,
        _ = left(gone.clone()) => return cancelled(),
    };
    tokio::select! {
        _ = tokio::time::sleep(shared.config.prefill) => {}
        _ = left(gone.clone()) => return cancelled(),
    }
    let (tokens, cut) = tokens(shared, request);
    let head = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\nConnection: close\r\n\r\n";
    let chunk = |delta: Value, finish: Value| {
        format!(
            "data: {}\n\n",
            json!({ "id": "mock", "object": "chat.completion.chunk", "model": "mock", "choices": [{ "index": 0, "delta": delta, "finish_reason": finish }] })
        )
    };
    if write.write_all(format!("{head}{}", chunk(json!({ "role": "assistant", "content": "" }), Value::Null)).as_bytes()).await.is_err() {
        return cancelled();
    }
    for (i, token) in tokens.iter().enumerate() {
        if shared.config.stall_after == Some(i) {
            left(gone.clone()).await;
            return cancelled();
        }
        tokio::select! {
            _ = tokio::time::sleep(shared.config.token_interval) => {}
            _ = left(gone.clone()) => return cancelled(),
        }
        if write.write_all(chunk(json!({ "content": token }), Value::Null).as_bytes()).await.is_err() {
            return cancelled();
        }
    }
    let mut end = chunk(json!({}), json!(if cut { "length" } else { "stop" }));
    if shared.config.usage_in_stream && request.pointer("/stream_options/include_usage") == Some(&Value::Bool(true)) {
        end.push_str(&format!(
            "data: {}\n\n",
            json!({ "id": "mock", "object": "chat.completion.chunk", "choices": [], "usage": usage(request, tokens.len()) })
        ));
    }
    end.push_str("data: [DONE]\n\n");
    if write.write_all(end.as_bytes()).await.is_err() {
        return cancelled();
    }
    shared.stats().completed += 1;
}

async fn plain(shared: &Shared, request: &Value, write: &mut OwnedWriteHalf, gone: tokio::sync::watch::Receiver<bool>) {
    // Queued and generated to the end whether or not anyone still waits for it.
    let _slot = shared.slot.lock().await;
    let (tokens, cut) = tokens(shared, request);
    tokio::time::sleep(shared.config.prefill + shared.config.token_interval * tokens.len() as u32).await;
    let body = json!({
        "id": "mock", "object": "chat.completion", "model": "mock",
        "choices": [{ "index": 0, "message": { "role": "assistant", "content": tokens.concat() }, "finish_reason": if cut { "length" } else { "stop" } }],
        "usage": usage(request, tokens.len()),
    });
    if *gone.borrow() || write.write_all(respond(200, &body.to_string()).as_bytes()).await.is_err() {
        shared.stats().abandoned += 1;
    } else {
        shared.stats().completed += 1;
    }
}

fn respond(status: u16, body: &str) -> String {
    let reason = match status {
        200 => "OK",
        400 => "Bad Request",
        _ => "Not Found",
    };
    format!("HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len())
}

/// The request's head (as text) and body (by its Content-Length).
async fn read_request(read: &mut OwnedReadHalf) -> Option<(String, Vec<u8>)> {
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        if let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            break end + 4;
        }
        let n = read.read(&mut chunk).await.ok().filter(|n| *n > 0)?;
        buffer.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buffer[..head_end]).into_owned();
    let length = head
        .lines()
        .find_map(|l| l.split_once(':').filter(|(name, _)| name.eq_ignore_ascii_case("content-length")).and_then(|(_, v)| v.trim().parse::<usize>().ok()))
        .unwrap_or(0);
    while buffer.len() < head_end + length {
        let n = read.read(&mut chunk).await.ok().filter(|n| *n > 0)?;
        buffer.extend_from_slice(&chunk[..n]);
    }
    Some((head, buffer[head_end..head_end + length].to_vec()))
}
