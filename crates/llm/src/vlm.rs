//! The vision ranker behind `search --feedback vlm`: a vision-language model behind any
//! OpenAI-compatible endpoint is shown one picture per trained candidate (a PNG contact sheet of
//! its evaluation episode) and asked for a full ranking.
//!
//! One chat request per ranking: a system message, then one user message whose parts are the
//! task and what the pictures are, for each candidate a text part naming it (`Candidate
//! cand-03:`) followed by its picture as an `image_url` part holding a `data:image/png;base64,…`
//! URI (what OpenAI, vLLM and llama.cpp's server all accept), and how to answer: a final line
//! `RANKING: cand-03 > cand-01 > cand-02`, read by [`parse_ranking`]. An answer that cannot be
//! read is asked again once, in the same conversation, quoting why; a second unusable answer
//! fails the ranking ([`JudgeError::Failed`], with the reply), and the search ranks by fitness.
//!
//! Requests go through the proposer's [`Endpoint`](crate::openai): the same retries, backoff,
//! `Retry-After` and early stop on 401/403/404, the same cassette (pictures recorded as
//! `sha256:` hashes, see [`crate::cassette`]), and the same [`Spending`], so the proposer's
//! token and dollar caps hold over proposals and rankings together.
//!
//! How the CLI builds one, beside an [`OpenAiProposer`](crate::openai::OpenAiProposer):
//! - live: a [`Transport::live`] with the ranker's timeouts and price, the proposer's recorder
//!   (one `Arc<Recorder>` for `llm.jsonl`) and, when resuming, the proposer's prefill
//!   ([`Transport::with_prefill`], the same `Arc<Replay>`); `spending` is
//!   [`OpenAiProposer::spending`](crate::openai::OpenAiProposer::spending), or a new
//!   [`Spending`] of the caps when the proposer is the offline one;
//! - replay: `Transport::Replay` with the proposer's `Arc<Replay>`; the model recorded is
//!   [`recorded_model`].

use crate::cassette::Replay;
use crate::openai::{DEFAULT_BASE_URL, Endpoint, EndpointDefaults, Parallelism, ReplyShape, RequestFailure, RetryConfig, Spending};
use crate::prompt::Templates;
use crate::transport::{Price, Timeouts, Transport};
use base64::Engine as _;
use rewardsmith_propose::{JudgeError, Judgement, ProposeError, Usage};
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The first bytes of every PNG file.
const PNG_MAGIC: &[u8] = b"\x89PNG\r\n\x1a\n";

/// Settings of the vision ranker.
#[derive(Debug, Clone, PartialEq)]
pub struct VlmConfig {
    /// The API's base URL, up to and including `/v1`. Default [`DEFAULT_BASE_URL`].
    pub base_url: String,
    /// The bearer key; None for local servers that need none. Default None.
    pub api_key: Option<String>,
    /// The vision model's name as the server knows it. No default: the caller must name one.
    pub model: String,
    /// Sampling temperature; None sends none (for models that take only their default).
    /// Default 0: a ranking should be the model's best judgement, not a sample.
    pub temperature: Option<f32>,
    /// How each reply is asked for: its length cap and whether it streams. Default: the
    /// endpoint's cap ([`EndpointDefaults`]), streamed.
    pub reply: ReplyShape,
    /// The limits on one request that the transport is built with ([`Transport::live`]).
    /// Default: the endpoint's, with at least 300 s in all (pictures and a reasoned answer take
    /// a local model minutes).
    pub timeouts: Timeouts,
    /// How failed requests are retried.
    pub retry: RetryConfig,
}

impl VlmConfig {
    /// Defaults for `model` at [`DEFAULT_BASE_URL`].
    pub fn new(model: impl Into<String>) -> Self {
        Self::for_endpoint(model, DEFAULT_BASE_URL)
    }

    /// Defaults for `model` at `base_url` ([`EndpointDefaults::for_base_url`]).
    pub fn for_endpoint(model: impl Into<String>, base_url: &str) -> Self {
        let defaults = EndpointDefaults::for_base_url(base_url);
        let timeouts = Timeouts { total: defaults.timeouts.total.max(Duration::from_secs(300)), ..defaults.timeouts };
        Self {
            base_url: base_url.to_owned(),
            api_key: None,
            model: model.into(),
            temperature: Some(0.0),
            reply: ReplyShape { max_completion_tokens: Some(defaults.max_completion_tokens), cap_field: defaults.cap_field, stream: true },
            timeouts,
            retry: RetryConfig::default(),
        }
    }
}

/// The body of one ranking request. A struct, not a `json!` value, so the temperature goes out as
/// the f32 it is (`0.2`, not `0.20000000298023224`).
#[derive(serde::Serialize)]
struct ChatRequest<'a> {
    model: &'a str,
    messages: &'a [Value],
    seed: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    temperature: Option<f32>,
    /// The cap and streaming fields ([`ReplyShape::fields`]).
    #[serde(flatten)]
    shape: serde_json::Map<String, Value>,
}

/// Ranks candidates by showing a vision-language model their pictures.
pub struct VlmRanker {
    endpoint: Endpoint,
    config: VlmConfig,
    templates: Templates,
}

impl VlmRanker {
    /// A ranker talking through `transport` (live, maybe recording, or a replay). `price` is the
    /// model's price (None: costs are not counted, and a dollar cap in `spending` is refused);
    /// `spending` is what it spends from and whose caps it keeps (shared with the proposer:
    /// [`OpenAiProposer::spending`](crate::openai::OpenAiProposer::spending)).
    pub fn new(templates: Templates, config: VlmConfig, price: Option<Price>, transport: Transport, spending: Arc<Spending>) -> Result<Self, ProposeError> {
        // One ranking at a time: a search asks for them one after the other.
        let parallelism = Parallelism { concurrency: 1, from_server: false, watch_queueing: false };
        let endpoint = Endpoint::new(&config.base_url, config.api_key.as_deref(), &config.model, config.retry, price, transport, spending, parallelism)
            .map_err(|e| ProposeError::Config(format!("vision model: {e}")))?;
        Ok(Self { endpoint, config, templates })
    }

    /// The model's name.
    pub fn model(&self) -> &str {
        &self.config.model
    }

    /// The spending this ranker counts against (shared with whoever it was given by).
    pub fn spending(&self) -> Arc<Spending> {
        self.endpoint.spending().clone()
    }

    /// The replay's warnings so far, emptied: rankings answered from the cassette although the
    /// pictures differ from the recorded ones (see [`Replay::take_warnings`]).
    pub fn take_warnings(&self) -> Vec<String> {
        self.endpoint.replay().map(|r| r.take_warnings()).unwrap_or_default()
    }

    /// Ranks `candidates` (name, PNG bytes; shown in this order) for `task`, in one request (two
    /// when the first answer cannot be read). `generation` is sent as the request's `seed`, so a
    /// server that honours it samples reproducibly and every generation's request differs from
    /// the others' even where they show the same names (a cassette matches pictures by place,
    /// not by content, so without it a replay could not tell generations apart).
    ///
    /// A single candidate is ranked without asking (`attempts` 0).
    pub async fn rank(&self, task: &str, generation: usize, candidates: &[(String, Vec<u8>)]) -> Result<Judgement, JudgeError> {
        let names: Vec<String> = candidates.iter().map(|(name, _)| name.clone()).collect();
        check_candidates(candidates).map_err(|message| failed(message, None, Usage::default()))?;
        if let [only] = names.as_slice() {
            return Ok(Judgement { order: vec![only.clone()], model: self.config.model.clone(), reply: String::new(), attempts: 0, usage: Usage::default() });
        }
        let prompt = self.templates.render_judge(task, &names).map_err(|e| failed(e.to_string(), None, Usage::default()))?;
        let mut parts = vec![json!({ "type": "text", "text": prompt.intro })];
        for (name, png) in candidates {
            parts.push(json!({ "type": "text", "text": format!("Candidate {name}:") }));
            let url = format!("data:image/png;base64,{}", base64::engine::general_purpose::STANDARD.encode(png));
            parts.push(json!({ "type": "image_url", "image_url": { "url": url } }));
        }
        parts.push(json!({ "type": "text", "text": prompt.answer }));
        let mut messages = vec![json!({ "role": "system", "content": prompt.system }), json!({ "role": "user", "content": parts })];

        let usage = Mutex::new(Usage::default());
        let spent = |usage: &Mutex<Usage>| *usage.lock().unwrap_or_else(|e| e.into_inner());
        let first = self.ask(&messages, generation, &usage).await.map_err(|f| failure(f, None, spent(&usage)))?;
        let first_error = match parse_ranking(&first, &names) {
            Ok(order) => return Ok(self.judgement(order, first, 1, spent(&usage))),
            Err(e) => e,
        };
        // Asked again in the same conversation: the model sees its own answer and what was wrong
        // with it, so it can restate its judgement in the right form rather than judge afresh.
        let retry = self.templates.render_judge_retry(&first_error, &names).map_err(|e| failed(e.to_string(), Some(first.clone()), spent(&usage)))?;
        messages.push(json!({ "role": "assistant", "content": first }));
        messages.push(json!({ "role": "user", "content": retry }));
        let second = self.ask(&messages, generation, &usage).await.map_err(|f| {
            let mut error = failure(f, Some(first.clone()), spent(&usage));
            if let JudgeError::Failed { message, .. } = &mut error {
                *message = format!("{message} (asking again after an unusable answer: {first_error})");
            }
            error
        })?;
        match parse_ranking(&second, &names) {
            Ok(order) => Ok(self.judgement(order, second, 2, spent(&usage))),
            Err(e) => Err(failed(format!("the vision model's ranking could not be used: {first_error}; asked again: {e}"), Some(second), spent(&usage))),
        }
    }

    fn judgement(&self, order: Vec<String>, reply: String, attempts: u32, usage: Usage) -> Judgement {
        Judgement { order, model: self.config.model.clone(), reply, attempts, usage }
    }

    /// One request (with the endpoint's retries); the first choice's text, empty if it has none
    /// (which the parser then names).
    async fn ask(&self, messages: &[Value], generation: usize, usage: &Mutex<Usage>) -> Result<String, RequestFailure> {
        let request = ChatRequest {
            model: &self.config.model,
            messages,
            // 32 bits: llama.cpp's server reads the seed as an unsigned 32-bit integer.
            seed: generation as u32,
            temperature: self.config.temperature,
            shape: self.config.reply.fields(),
        };
        let reply = self.endpoint.send(&request, usage).await?;
        Ok(reply.answers().into_iter().next().and_then(|a| a.text).unwrap_or_default())
    }
}

fn failed(message: String, reply: Option<String>, usage: Usage) -> JudgeError {
    JudgeError::Failed { message, reply, usage }
}

/// A request that ended for good, as the judge's error: only a cassette the replay does not match
/// stops the search; everything else ranks by fitness.
fn failure(failure: RequestFailure, reply: Option<String>, usage: Usage) -> JudgeError {
    match failure {
        RequestFailure::Fatal(ProposeError::Cassette(message)) => JudgeError::Cassette(message),
        RequestFailure::Fatal(e) => failed(format!("the vision model's endpoint: {e}"), reply, usage),
        RequestFailure::Rejected(message) | RequestFailure::Exhausted(message) => {
            failed(format!("the vision model's endpoint failed: {message}"), reply, usage)
        }
        RequestFailure::Budget(reason) => failed(format!("the vision model was not asked: {reason}"), reply, usage),
    }
}

/// Names that a `RANKING:` line can name unambiguously, and pictures that are PNG files.
fn check_candidates(candidates: &[(String, Vec<u8>)]) -> Result<(), String> {
    if candidates.is_empty() {
        return Err("no candidates to rank".to_owned());
    }
    let mut seen = std::collections::BTreeSet::new();
    for (name, png) in candidates {
        if name.trim().is_empty() || name.trim() != name || name.contains(['>', '\n', '\r']) {
            return Err(format!("candidate name {name:?} cannot be ranked (empty, padded, or holding `>` or a line break)"));
        }
        if !seen.insert(name.to_ascii_lowercase()) {
            return Err(format!("candidate name `{name}` is given twice (names are compared ignoring case)"));
        }
        if !png.starts_with(PNG_MAGIC) {
            return Err(format!("the picture of {name} is not a PNG file"));
        }
    }
    Ok(())
}

/// The model of the first ranking request recorded in `replay` (one that shows pictures): what a
/// replay ranks with when no model is named.
pub fn recorded_model(replay: &Replay) -> Option<String> {
    let shows_pictures = |request: &Value| {
        request["messages"]
            .as_array()
            .is_some_and(|messages| messages.iter().any(|m| m["content"].as_array().is_some_and(|parts| parts.iter().any(|p| p["type"] == "image_url"))))
    };
    replay.requests().find(|r| shows_pictures(r)).and_then(|r| r["model"].as_str()).map(str::to_owned)
}

/// Characters around a ranking's keyword and names that are formatting, not content (Markdown
/// emphasis and code, quotes).
const DECORATION: &[char] = &['*', '_', '`', '"', '\'', '“', '”', '‘', '’'];

/// The ranking in `reply` of the candidates `names`, most preferred first.
///
/// The grammar: the answer's **last** line that starts with `RANKING` and a colon (any case;
/// Markdown list, quote, heading and emphasis marks before it and around the keyword are
/// ignored, as in `**Ranking:**`) holds the ranking after the colon or, when nothing follows it
/// there, on the next non-empty line. The ranking is names separated by `>`, each name as given
/// (ASCII case ignored), optionally after the word `Candidate` and wrapped in emphasis, code or
/// quote marks; a final `.` is ignored. Prose before and after the line is allowed. It must name
/// every candidate exactly once; anything else is an error saying what is wrong (in words the
/// model is shown when it is asked again).
pub fn parse_ranking(reply: &str, names: &[String]) -> Result<Vec<String>, String> {
    if reply.trim().is_empty() {
        return Err("the answer was empty".to_owned());
    }
    let lines: Vec<&str> = reply.lines().collect();
    let (at, rest) = lines
        .iter()
        .enumerate()
        .rev()
        .find_map(|(i, line)| ranking_header(line).map(|rest| (i, rest)))
        .ok_or_else(|| "it has no line starting with `RANKING:`".to_owned())?;
    let list = if rest.trim_matches(|c: char| c.is_whitespace() || DECORATION.contains(&c)).is_empty() {
        lines[at + 1..].iter().copied().find(|l| !l.trim().is_empty()).ok_or_else(|| "the `RANKING:` line names no candidates".to_owned())?
    } else {
        rest
    };

    let mut order: Vec<String> = Vec::with_capacity(names.len());
    let mut unknown = Vec::new();
    let mut repeated = Vec::new();
    let mut empty = false;
    for item in list.split('>') {
        let item = clean_item(item);
        if item.is_empty() {
            empty = true;
            continue;
        }
        let found = names.iter().find(|n| n.as_str() == item).or_else(|| names.iter().find(|n| n.eq_ignore_ascii_case(item)));
        match found {
            None => unknown.push(format!("`{item}`")),
            Some(name) if order.contains(name) => repeated.push(format!("`{name}`")),
            Some(name) => order.push(name.clone()),
        }
    }
    let missing: Vec<&str> = names.iter().filter(|n| !order.contains(n)).map(String::as_str).collect();
    let mut problems = Vec::new();
    if !unknown.is_empty() {
        problems.push(format!(
            "{} {} not a candidate (the candidates are {})",
            unknown.join(", "),
            if unknown.len() == 1 { "is" } else { "are" },
            names.join(", ")
        ));
    }
    if !repeated.is_empty() {
        problems.push(format!("{} ranked more than once", repeated.join(", ")));
    }
    if empty {
        problems.push("the ranking has an empty place (two `>` in a row, or one at an end)".to_owned());
    }
    if !missing.is_empty() {
        problems.push(format!("the ranking leaves out {}", missing.join(", ")));
    }
    if problems.is_empty() { Ok(order) } else { Err(problems.join("; ")) }
}

/// What follows `RANKING:` if `line` starts with it (after list, quote, heading and emphasis
/// marks).
fn ranking_header(line: &str) -> Option<&str> {
    let line = line.trim_start_matches(|c: char| c.is_whitespace() || matches!(c, '-' | '+' | '#' | '>') || DECORATION.contains(&c));
    let keyword = line.get(..7).filter(|k| k.eq_ignore_ascii_case("ranking"))?;
    let after = line[keyword.len()..].trim_start_matches(|c: char| c.is_whitespace() || DECORATION.contains(&c));
    after.strip_prefix(':')
}

/// One place of a ranking without its decoration: `**Candidate cand-03**.` → `cand-03`.
fn clean_item(item: &str) -> &str {
    let mut item = item.trim().trim_end_matches(['.', ',', ';']).trim_matches(|c: char| c.is_whitespace() || DECORATION.contains(&c));
    if let Some(head) = item.get(..10).filter(|h| h.eq_ignore_ascii_case("candidate ")) {
        item = item[head.len()..].trim_matches(|c: char| c.is_whitespace() || DECORATION.contains(&c));
    }
    item.trim_end_matches(['.', ',', ';', ':'])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("cand-{i:02}")).collect()
    }

    #[test]
    fn a_clean_answer_is_read_in_order() {
        assert_eq!(parse_ranking("RANKING: cand-02 > cand-00 > cand-01", &names(3)).unwrap(), ["cand-02", "cand-00", "cand-01"]);
    }

    #[test]
    fn prose_around_the_last_ranking_line_is_allowed() {
        let reply = "Candidate cand-01 falls at 2 s. I will answer as RANKING: a > b.\n\
                     RANKING: cand-00 > cand-01 > cand-02\n\
                     On reflection cand-02 never rises.\n\n\
                     **Ranking:** `cand-02` > **cand-00** > Candidate cand-01.\n\
                     Hope this helps.";
        assert_eq!(parse_ranking(reply, &names(3)).unwrap(), ["cand-02", "cand-00", "cand-01"], "the last line decides");
    }

    #[test]
    fn case_and_spacing_are_tolerated_and_the_list_may_follow_on_the_next_line() {
        assert_eq!(parse_ranking("  ranking :CAND-01>cand-00 >   Cand-02 ", &names(3)).unwrap(), ["cand-01", "cand-00", "cand-02"]);
        assert_eq!(parse_ranking("- RANKING:\n\ncand-01 > cand-00", &names(2)).unwrap(), ["cand-01", "cand-00"]);
    }

    #[test]
    fn a_partial_ranking_names_the_left_out() {
        assert_eq!(parse_ranking("RANKING: cand-02 > cand-00", &names(4)).unwrap_err(), "the ranking leaves out cand-01, cand-03");
    }

    #[test]
    fn a_duplicate_is_named() {
        let err = parse_ranking("RANKING: cand-01 > cand-00 > cand-01", &names(3)).unwrap_err();
        assert_eq!(err, "`cand-01` ranked more than once; the ranking leaves out cand-02");
    }

    #[test]
    fn an_unknown_id_is_named_with_the_real_ones() {
        let err = parse_ranking("RANKING: cand-01 > cand-7 > cand-00", &names(2)).unwrap_err();
        assert_eq!(err, "`cand-7` is not a candidate (the candidates are cand-00, cand-01)");
        let err = parse_ranking("RANKING: cand-01 > > cand-00 > (best)", &names(2)).unwrap_err();
        assert!(err.contains("`(best)` is not a candidate") && err.contains("empty place"), "{err}");
    }

    #[test]
    fn no_ranking_line_or_an_empty_answer_is_an_error() {
        assert_eq!(parse_ranking("cand-01 is best, then cand-00.", &names(2)).unwrap_err(), "it has no line starting with `RANKING:`");
        assert_eq!(parse_ranking(" \n", &names(2)).unwrap_err(), "the answer was empty");
        assert_eq!(parse_ranking("Here it is.\nRANKING:", &names(2)).unwrap_err(), "the `RANKING:` line names no candidates");
        // The keyword must begin the line: a word that merely starts with it is prose.
        assert!(parse_ranking("Rankings: cand-01 > cand-00", &names(2)).is_err());
    }

    #[test]
    fn names_that_cannot_be_ranked_are_refused_before_asking() {
        let png = PNG_MAGIC.to_vec();
        assert!(check_candidates(&[("a".to_owned(), png.clone()), ("A".to_owned(), png.clone())]).unwrap_err().contains("twice"));
        assert!(check_candidates(&[("a>b".to_owned(), png.clone())]).unwrap_err().contains("cannot be ranked"));
        assert!(check_candidates(&[("a".to_owned(), b"GIF89a".to_vec())]).unwrap_err().contains("not a PNG"));
        assert!(check_candidates(&[]).is_err());
        assert!(check_candidates(&[("cand-00".to_owned(), png)]).is_ok());
    }
}
