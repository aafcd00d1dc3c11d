//! Cassettes: every HTTP exchange with an LLM endpoint, one JSON line each (`llm.jsonl`), and
//! their replay.
//!
//! A line holds the request body as sent (never the headers, so never the API key), the status
//! or why no response came, the response body, the latency, and the tokens and dollars it cost.
//! Failed exchanges are recorded too (a 429, a timeout), so a replay retraces the same path,
//! fallbacks included, without sleeping.
//!
//! Replay answers a request with the next unused exchange whose request is identical (as JSON,
//! key order aside); requests repeat only when retried, and retries are sequential, so the
//! answer is exact. A request the cassette does not hold is an error naming where it differs
//! from the nearest recorded one.
//!
//! Images (a vision model's pictures, sent as `data:` URIs) are never recorded inline: each is
//! replaced by `sha256:<hex>`, the hash of the image file's bytes ([`redact_images`]), so a
//! cassette stays small and a reader can tell which picture was shown. Replay matches a picture
//! by its place in the request, not by its hash: pictures re-rendered on another machine may
//! differ by a byte, and that must not make a replay fail. A differing hash is only a warning
//! ([`Replay::take_warnings`]).

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::collections::{HashMap, VecDeque};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// One request and what came back (or why it was not sent).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Exchange {
    /// The request body as sent.
    pub request: Value,
    /// Set when the request was not sent because a budget cap was reached: the reason. A replay
    /// refuses the same requests, whatever its own budget (with requests in flight concurrently,
    /// which ones found the cap reached depends on timing, so it is recorded, not recomputed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skipped: Option<String>,
    /// HTTP status; None when no response came (`error` says why).
    pub status: Option<u16>,
    /// Seconds the server asked to wait before retrying (`Retry-After` or `retry-after-ms`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after_s: Option<f64>,
    /// The response body, when it is JSON.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response: Option<Value>,
    /// The response body, when it is not JSON (kept as text so a replay sees the same garbage).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_text: Option<String>,
    /// Why no response came.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ExchangeError>,
    /// Milliseconds from sending the request to the end of the response body.
    pub latency_ms: f64,
    /// A streamed reply: milliseconds from sending the request to its first token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_token_ms: Option<f64>,
    /// A streamed reply that carried no usage: its tokens (in `response.usage` too) are
    /// estimated (see [`crate::stream`]).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub usage_estimated: bool,
    /// Prompt tokens from the response's `usage`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt_tokens: Option<u64>,
    /// Completion tokens from the response's `usage`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completion_tokens: Option<u64>,
    /// Dollars, when the model has a price.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost_usd: Option<f64>,
}

impl Exchange {
    /// An exchange of `request` with nothing back yet.
    pub fn new(request: Value) -> Self {
        Self {
            request,
            skipped: None,
            status: None,
            retry_after_s: None,
            response: None,
            response_text: None,
            error: None,
            latency_ms: 0.0,
            first_token_ms: None,
            usage_estimated: false,
            prompt_tokens: None,
            completion_tokens: None,
            cost_usd: None,
        }
    }
}

/// Why an exchange has no response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "message")]
pub enum ExchangeError {
    /// No complete reply within the total cap.
    Timeout,
    /// A streamed reply went silent for the idle timeout and was cancelled.
    Idle {
        /// The idle timeout, in seconds.
        idle_s: f64,
        /// Tokens streamed before the silence.
        tokens: u64,
    },
    /// The connection failed.
    Connect(String),
}

/// Writes exchanges to a cassette file as they happen (each line written at once, so a crash
/// loses nothing already answered).
#[derive(Debug)]
pub struct Recorder {
    path: PathBuf,
    file: Mutex<std::fs::File>,
    /// Replaced by `[redacted]` wherever it appears (a server may echo the API key in an error).
    secret: Option<String>,
}

impl Recorder {
    /// Starts a cassette at `path`: a new file, or appended to (a search records all its
    /// generations in one).
    pub fn create(path: &Path, append: bool) -> Result<Self, String> {
        if append {
            drop_partial_line(path)?;
        }
        let file = std::fs::OpenOptions::new()
            .create(true)
            .write(true)
            .append(append)
            .truncate(!append)
            .open(path)
            .map_err(|e| format!("cannot open cassette {}: {e}", path.display()))?;
        Ok(Self { path: path.to_owned(), file: Mutex::new(file), secret: None })
    }

    /// Redacts `secret` (the API key) from every line written.
    pub fn with_secret(mut self, secret: Option<&str>) -> Self {
        self.secret = secret.filter(|s| !s.is_empty()).map(str::to_owned);
        self
    }

    /// Appends one exchange.
    pub fn record(&self, exchange: &Exchange) -> Result<(), String> {
        let mut line = serde_json::to_string(exchange).map_err(|e| e.to_string())?;
        if let Some(secret) = &self.secret {
            line = line.replace(secret.as_str(), "[redacted]");
        }
        line.push('\n');
        let mut file = self.file.lock().unwrap_or_else(|e| e.into_inner());
        file.write_all(line.as_bytes()).map_err(|e| format!("cannot write cassette {}: {e}", self.path.display()))
    }
}

/// Cuts an unterminated last line (a write interrupted by a kill) off the cassette at `path`, so
/// appended lines start on a line of their own.
fn drop_partial_line(path: &Path) -> Result<(), String> {
    let Ok(bytes) = std::fs::read(path) else { return Ok(()) };
    if bytes.is_empty() || bytes.ends_with(b"\n") {
        return Ok(());
    }
    let keep = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    let file = std::fs::OpenOptions::new().write(true).open(path).map_err(|e| format!("cannot repair cassette {}: {e}", path.display()))?;
    file.set_len(keep as u64).map_err(|e| format!("cannot repair cassette {}: {e}", path.display()))
}

/// The request of a cassette line that records a budget verdict at the end of a generation (not
/// an HTTP exchange): a replay stops where the recorded run stopped, whatever its own budget.
pub fn budget_verdict_request() -> Value {
    serde_json::json!({ "rewardsmith": "budget verdict" })
}

/// A cassette being replayed.
#[derive(Debug)]
pub struct Replay {
    path: PathBuf,
    /// Recorded requests in file order, with their line numbers (for the nearest-match message).
    requests: Vec<(usize, Value)>,
    /// Unused exchanges per request key ([`key`]), in file order, with their line numbers.
    unused: Mutex<HashMap<String, VecDeque<(usize, Exchange)>>>,
    /// Times each request key was recorded.
    recorded: HashMap<String, usize>,
    /// Answers given to requests whose pictures differ from the recorded ones.
    warnings: Mutex<Vec<String>>,
}

impl Replay {
    /// Reads a cassette; a line that is not an exchange is an error naming the line.
    pub fn open(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read cassette {}: {e}", path.display()))?;
        let mut requests = Vec::new();
        let mut unused: HashMap<String, VecDeque<(usize, Exchange)>> = HashMap::new();
        let mut recorded: HashMap<String, usize> = HashMap::new();
        // An unterminated last line is a write cut short by a kill: the exchange never completed.
        let complete = if text.ends_with('\n') { text.as_str() } else { text.rsplit_once('\n').map_or("", |(done, _)| done) };
        for (i, line) in complete.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
            let mut exchange: Exchange = serde_json::from_str(line).map_err(|e| format!("{}:{}: not a cassette exchange: {e}", path.display(), i + 1))?;
            // A hand-written cassette may hold pictures inline; they match as recorded ones do.
            exchange.request = redact_images(&exchange.request);
            let key = key(&exchange.request);
            requests.push((i + 1, exchange.request.clone()));
            *recorded.entry(key.clone()).or_default() += 1;
            unused.entry(key).or_default().push_back((i + 1, exchange));
        }
        Ok(Self { path: path.to_owned(), requests, unused: Mutex::new(unused), recorded, warnings: Mutex::new(Vec::new()) })
    }

    /// The recorded requests, in file order.
    pub fn requests(&self) -> impl Iterator<Item = &Value> {
        self.requests.iter().map(|(_, r)| r)
    }

    /// The warnings so far, emptied: requests answered although their pictures differ from the
    /// recorded ones (re-rendered on another machine, say).
    pub fn take_warnings(&self) -> Vec<String> {
        std::mem::take(&mut *self.warnings.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// The next unused exchange for `request`, taken, with a warning when its pictures differ.
    fn take(&self, unused: &mut HashMap<String, VecDeque<(usize, Exchange)>>, request: &Value) -> Option<Exchange> {
        let (line, exchange) = unused.get_mut(&key(request)).and_then(VecDeque::pop_front)?;
        let (recorded, asked) = (image_hashes(&exchange.request), image_hashes(request));
        if recorded != asked {
            let differing = recorded.iter().zip(&asked).filter(|(a, b)| a != b).count();
            self.warnings.lock().unwrap_or_else(|e| e.into_inner()).push(format!(
                "{}:{line}: answered a request whose {differing} of {} picture(s) differ from the recorded ones (matched by place, not by hash)",
                self.path.display(),
                asked.len()
            ));
        }
        Some(exchange)
    }

    /// If the next unused exchange for `request` is a refusal (budget reached), consumes it and
    /// returns its reason.
    pub fn take_skip(&self, request: &Value) -> Option<String> {
        let mut unused = self.unused.lock().unwrap_or_else(|e| e.into_inner());
        let queue = unused.get_mut(&key(request))?;
        queue.front()?.1.skipped.as_ref()?;
        queue.pop_front().and_then(|(_, e)| e.skipped)
    }

    /// Whether an unused exchange for `request` remains.
    pub fn holds(&self, request: &Value) -> bool {
        let unused = self.unused.lock().unwrap_or_else(|e| e.into_inner());
        unused.get(&key(request)).is_some_and(|q| !q.is_empty())
    }

    /// The next unused exchange for `request`, if any (a resumed live run answers from what it
    /// recorded before going to the network).
    pub fn try_answer(&self, request: &Value) -> Option<Exchange> {
        let mut unused = self.unused.lock().unwrap_or_else(|e| e.into_inner());
        self.take(&mut unused, request)
    }

    /// The next unused exchange for `request`, or a message naming what differs.
    pub fn answer(&self, request: &Value) -> Result<Exchange, String> {
        let mut unused = self.unused.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(exchange) = self.take(&mut unused, request) {
            return Ok(exchange);
        }
        let path = self.path.display();
        if let Some(times) = self.recorded.get(&key(request)) {
            return Err(format!("{path}: this request was recorded {times} time(s) and is now asked once more"));
        }
        let nearest = self
            .requests
            .iter()
            .map(|(line, recorded)| {
                let mut diffs = Vec::new();
                differences(recorded, request, "", &mut diffs);
                (diffs, *line)
            })
            .min_by_key(|(diffs, line)| (diffs.len(), *line));
        Err(match nearest {
            None => format!("{path} holds no exchanges"),
            Some((diffs, line)) => {
                let shown: Vec<&str> = diffs.iter().take(3).map(String::as_str).collect();
                let more = if diffs.len() > 3 { format!("; and {} more", diffs.len() - 3) } else { String::new() };
                format!("{path} holds no such request; the nearest, on line {line}, differs at {}{more}", shown.join("; "))
            }
        })
    }
}

/// `value` as JSON text with object keys sorted, so two requests compare equal whatever order
/// their fields were written in.
pub fn canonical(value: &Value) -> String {
    fn sorted(value: &Value) -> Value {
        match value {
            Value::Object(map) => {
                let mut entries: Vec<(&String, &Value)> = map.iter().collect();
                entries.sort_by(|a, b| a.0.cmp(b.0));
                Value::Object(entries.into_iter().map(|(k, v)| (k.clone(), sorted(v))).collect())
            }
            Value::Array(items) => Value::Array(items.iter().map(sorted).collect()),
            other => other.clone(),
        }
    }
    sorted(value).to_string()
}

/// What an image placeholder starts with; 64 hex digits follow.
pub const IMAGE_HASH_PREFIX: &str = "sha256:";

/// `request` with every `data:<type>;base64,<data>` string (an image sent inline) replaced by
/// `sha256:<hex>`, the SHA-256 of the decoded bytes (of the URI's text if they do not decode),
/// so `sha256sum picture.png` tells which picture it was. Everything else is kept as it is.
pub fn redact_images(request: &Value) -> Value {
    match request {
        Value::String(text) => match text.strip_prefix("data:").and_then(|rest| rest.split_once(";base64,")) {
            Some((media_type, data)) if !media_type.contains(',') => {
                let bytes = base64::engine::general_purpose::STANDARD.decode(data.trim());
                let digest = match &bytes {
                    Ok(bytes) => Sha256::digest(bytes),
                    Err(_) => Sha256::digest(text.as_bytes()),
                };
                Value::String(format!("{IMAGE_HASH_PREFIX}{}", hex(&digest)))
            }
            _ => request.clone(),
        },
        Value::Array(items) => Value::Array(items.iter().map(redact_images).collect()),
        Value::Object(map) => Value::Object(map.iter().map(|(k, v)| (k.clone(), redact_images(v))).collect()),
        other => other.clone(),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Whether `text` is an image placeholder of [`redact_images`].
fn is_image_hash(text: &str) -> bool {
    text.strip_prefix(IMAGE_HASH_PREFIX).is_some_and(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// The image hashes of `request`, in the order they appear.
fn image_hashes(request: &Value) -> Vec<&str> {
    fn walk<'a>(value: &'a Value, out: &mut Vec<&'a str>) {
        match value {
            Value::String(s) if is_image_hash(s) => out.push(s),
            Value::Array(items) => items.iter().for_each(|v| walk(v, out)),
            // Requests with the same key have the same structure, so their hashes line up.
            Value::Object(map) => map.values().for_each(|v| walk(v, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(request, &mut out);
    out
}

/// What replay matches requests by: [`canonical`], with every image placeholder's hash left out
/// (a picture is matched by its place in the request).
fn key(request: &Value) -> String {
    fn strip(value: &Value) -> Value {
        match value {
            Value::String(s) if is_image_hash(s) => Value::String(IMAGE_HASH_PREFIX.to_owned()),
            Value::Array(items) => Value::Array(items.iter().map(strip).collect()),
            Value::Object(map) => Value::Object(map.iter().map(|(k, v)| (k.clone(), strip(v))).collect()),
            other => other.clone(),
        }
    }
    canonical(&strip(request))
}

/// Where `asked` differs from `recorded`: one entry per differing leaf, as
/// `` `path`: recorded …, asked … ``.
fn differences(recorded: &Value, asked: &Value, path: &str, out: &mut Vec<String>) {
    match (recorded, asked) {
        (Value::Object(a), Value::Object(b)) => {
            let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
            keys.sort();
            keys.dedup();
            for key in keys {
                let child = if path.is_empty() { key.clone() } else { format!("{path}.{key}") };
                match (a.get(key), b.get(key)) {
                    (Some(x), Some(y)) => differences(x, y, &child, out),
                    (x, y) => out.push(describe(&child, x, y)),
                }
            }
        }
        (Value::Array(a), Value::Array(b)) if a.len() == b.len() => {
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                differences(x, y, &format!("{path}[{i}]"), out);
            }
        }
        (a, b) if a == b => {}
        // Pictures are matched by place (see `key`): a differing hash is no difference here.
        (Value::String(a), Value::String(b)) if is_image_hash(a) && is_image_hash(b) => {}
        (a, b) => out.push(describe(path, Some(a), Some(b))),
    }
}

fn describe(path: &str, recorded: Option<&Value>, asked: Option<&Value>) -> String {
    /// Long values (a prompt) are cut to this many characters around the first difference.
    const SHOWN: usize = 60;
    let show = |v: Option<&Value>, from: usize| match v {
        None => "nothing".to_owned(),
        Some(Value::String(s)) => {
            let chars: Vec<char> = s.chars().collect();
            let start = from.saturating_sub(SHOWN / 2).min(chars.len());
            let end = (start + SHOWN).min(chars.len());
            let cut: String = chars[start..end].iter().collect();
            format!("{}{cut:?}{}", if start > 0 { "…" } else { "" }, if end < chars.len() { "…" } else { "" })
        }
        Some(other) => other.to_string(),
    };
    // Where two strings start to differ, so a long prompt shows the changed words.
    let from = match (recorded, asked) {
        (Some(Value::String(a)), Some(Value::String(b))) => a.chars().zip(b.chars()).take_while(|(x, y)| x == y).count(),
        _ => 0,
    };
    format!("`{path}`: recorded {}, asked {}", show(recorded, from), show(asked, from))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn exchange(request: Value, content: &str) -> Exchange {
        Exchange {
            status: Some(200),
            response: Some(json!({ "content": content })),
            latency_ms: 1.0,
            prompt_tokens: Some(3),
            completion_tokens: Some(4),
            ..Exchange::new(request)
        }
    }

    #[test]
    fn canonical_ignores_key_order() {
        assert_eq!(canonical(&json!({"b": 1, "a": {"y": 2, "x": 3}})), canonical(&json!({"a": {"x": 3, "y": 2}, "b": 1})));
        assert_ne!(canonical(&json!({"a": 1})), canonical(&json!({"a": 2})));
    }

    #[test]
    fn replay_answers_identical_requests_in_recorded_order_then_says_it_ran_out() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("llm.jsonl");
        let recorder = Recorder::create(&path, false).unwrap();
        let request = json!({"model": "m", "seed": 1});
        recorder.record(&exchange(request.clone(), "first")).unwrap();
        recorder.record(&exchange(request.clone(), "second")).unwrap();
        drop(recorder);
        let replay = Replay::open(&path).unwrap();
        assert_eq!(replay.answer(&request).unwrap().response, Some(json!({"content": "first"})));
        assert_eq!(replay.answer(&json!({"seed": 1, "model": "m"})).unwrap().response, Some(json!({"content": "second"})));
        let err = replay.answer(&request).unwrap_err();
        assert!(err.contains("recorded 2 time(s)"), "{err}");
    }

    #[test]
    fn a_line_cut_short_by_a_kill_is_ignored_by_replay_and_repaired_before_appending() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("llm.jsonl");
        let whole = serde_json::to_string(&exchange(json!({"seed": 1}), "kept")).unwrap();
        std::fs::write(&path, format!("{whole}\n{{\"request\": {{\"se")).unwrap();
        let replay = Replay::open(&path).unwrap();
        assert!(replay.holds(&json!({"seed": 1})));
        Recorder::create(&path, true).unwrap().record(&exchange(json!({"seed": 2}), "new")).unwrap();
        let replay = Replay::open(&path).unwrap();
        assert!(replay.holds(&json!({"seed": 1})) && replay.holds(&json!({"seed": 2})));
        assert_eq!(std::fs::read_to_string(&path).unwrap().lines().count(), 2);
    }

    #[test]
    fn the_secret_never_reaches_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("llm.jsonl");
        let recorder = Recorder::create(&path, false).unwrap().with_secret(Some("sk-123"));
        recorder.record(&exchange(json!({}), "Incorrect API key provided: sk-123")).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(!text.contains("sk-123") && text.contains("provided: [redacted]"), "{text}");
    }

    #[test]
    fn a_recorded_refusal_is_taken_only_where_it_comes_next() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("llm.jsonl");
        let recorder = Recorder::create(&path, false).unwrap();
        let request = json!({"seed": 3});
        recorder.record(&exchange(request.clone(), "sent")).unwrap();
        recorder.record(&Exchange { skipped: Some("token budget reached".to_owned()), ..Exchange::new(request.clone()) }).unwrap();
        let replay = Replay::open(&path).unwrap();
        assert_eq!(replay.take_skip(&request), None, "the answered exchange comes first");
        assert!(replay.answer(&request).unwrap().skipped.is_none());
        assert_eq!(replay.take_skip(&request).as_deref(), Some("token budget reached"));
        assert_eq!(replay.take_skip(&request), None);
    }

    #[test]
    fn unknown_request_names_the_differing_field_of_the_nearest_recorded_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("llm.jsonl");
        let recorder = Recorder::create(&path, false).unwrap();
        recorder.record(&exchange(json!({"model": "a", "temperature": 1.0}), "x")).unwrap();
        recorder.record(&exchange(json!({"model": "m", "messages": [{"content": "balance the pole upright"}], "temperature": 1.0}), "y")).unwrap();
        drop(recorder);
        let replay = Replay::open(&path).unwrap();
        let err = replay.answer(&json!({"model": "m", "messages": [{"content": "balance the pole sideways"}], "temperature": 1.0})).unwrap_err();
        assert!(err.contains("line 2"), "{err}");
        assert!(err.contains("`messages[0].content`: recorded \"balance the pole upright\", asked \"balance the pole sideways\""), "{err}");
    }

    /// A request showing pictures with these bytes.
    fn picture_request(pictures: &[&[u8]]) -> Value {
        let parts: Vec<Value> = pictures
            .iter()
            .map(|p| json!({ "type": "image_url", "image_url": { "url": format!("data:image/png;base64,{}", base64::engine::general_purpose::STANDARD.encode(p)) } }))
            .collect();
        json!({ "model": "v", "messages": [{ "role": "user", "content": parts }] })
    }

    #[test]
    fn pictures_are_replaced_by_the_hash_of_their_bytes_and_nothing_else_is_touched() {
        let redacted = redact_images(&picture_request(&[b"abc"]));
        // sha256("abc"), as `sha256sum` prints it.
        assert_eq!(redacted["messages"][0]["content"][0]["image_url"]["url"], "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        let prose = json!({ "messages": [{ "content": "data: a plain sentence; base64, mentioned" }], "temperature": 0.5 });
        assert_eq!(redact_images(&prose), prose);
    }

    #[test]
    fn replay_matches_pictures_by_place_and_warns_when_their_bytes_differ() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("llm.jsonl");
        let recorder = Recorder::create(&path, false).unwrap();
        recorder.record(&exchange(redact_images(&picture_request(&[b"one", b"two"])), "ranked")).unwrap();
        drop(recorder);
        let replay = Replay::open(&path).unwrap();
        let same = redact_images(&picture_request(&[b"one", b"two"]));
        assert!(replay.holds(&redact_images(&picture_request(&[b"one", b"TWO"]))));
        assert_eq!(replay.answer(&redact_images(&picture_request(&[b"one", b"TWO"]))).unwrap().response, Some(json!({ "content": "ranked" })));
        let warnings = replay.take_warnings();
        assert_eq!(warnings.len(), 1);
        assert!(warnings[0].contains("llm.jsonl:1") && warnings[0].contains("1 of 2 picture(s) differ"), "{warnings:?}");
        assert!(replay.take_warnings().is_empty(), "taken once");
        // Another model is another request; the differing picture is not named as a difference.
        let mut other = redact_images(&picture_request(&[b"one", b"TWO"]));
        other["model"] = json!("w");
        let err = replay.answer(&other).unwrap_err();
        assert!(err.contains("differs at `model`: recorded \"v\", asked \"w\"") && !err.contains("sha256"), "{err}");
        let err = replay.answer(&same).unwrap_err();
        assert!(err.contains("recorded 1 time(s)"), "{err}");
    }

    #[test]
    fn a_line_that_is_not_an_exchange_names_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("llm.jsonl");
        std::fs::write(&path, format!("{}\n{{\"request\": 1}}\n", serde_json::to_string(&exchange(json!({}), "x")).unwrap())).unwrap();
        let err = Replay::open(&path).unwrap_err();
        assert!(err.contains("llm.jsonl:2: not a cassette exchange"), "{err}");
    }
}
