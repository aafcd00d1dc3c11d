//! Streamed chat completions (`stream: true`) put back together.
//!
//! A streamed reply arrives as server-sent events, one `chat.completion.chunk` each, closed by
//! `data: [DONE]`. The transport reads them as they come, so it can tell a slow but working
//! server (a token now and then) from a silent one, and hands the proposer the reply a plain
//! request would have had: the choices' texts concatenated, their `finish_reason`s, and the usage
//! of the final chunk (asked for with `stream_options.include_usage`). A cassette records that
//! assembled reply, so a replay needs no stream.
//!
//! A server that sends no usage still gets its tokens counted: the completion tokens as the
//! number of content chunks (llama.cpp, Ollama and vLLM send one token a chunk), the prompt
//! tokens as its characters / [`CHARS_PER_TOKEN`], marked `"estimated": true` so totals can say
//! so.

use serde_json::{Map, Value, json};
use std::collections::BTreeMap;

/// Characters per prompt token, for the estimate of a stream that reports no usage: the usual
/// rule of thumb for English text and code under BPE tokenizers.
pub const CHARS_PER_TOKEN: u64 = 4;

/// The chunks of one streamed completion so far.
#[derive(Debug, Default)]
pub(crate) struct Assembly {
    id: Option<Value>,
    model: Option<Value>,
    created: Option<Value>,
    choices: BTreeMap<u64, Parts>,
    usage: Option<Value>,
    /// Chunks that carried text (content or reasoning): the completion tokens when no usage comes.
    pub(crate) tokens: u64,
}

#[derive(Debug, Default)]
struct Parts {
    role: Option<Value>,
    content: String,
    finish_reason: Option<Value>,
}

/// What one event of the stream said.
#[derive(Debug, PartialEq)]
pub(crate) enum Event {
    /// A chunk, taken in.
    Chunk,
    /// `[DONE]`: the stream is complete.
    Done,
    /// The server reported an error mid-stream (its `error` object, as it sent it).
    Error(Value),
}

impl Assembly {
    /// Takes in one event's `data`.
    pub(crate) fn add(&mut self, data: &str) -> Result<Event, String> {
        if data.trim() == "[DONE]" {
            return Ok(Event::Done);
        }
        let chunk: Value =
            serde_json::from_str(data).map_err(|e| format!("a streamed chunk is not JSON ({e}): {:?}", data.chars().take(120).collect::<String>()))?;
        if let Some(error) = chunk.get("error") {
            return Ok(Event::Error(error.clone()));
        }
        for (field, slot) in [("id", &mut self.id), ("model", &mut self.model), ("created", &mut self.created)] {
            if slot.is_none() {
                *slot = chunk.get(field).cloned();
            }
        }
        if let Some(usage) = chunk.get("usage").filter(|u| u.is_object()) {
            self.usage = Some(usage.clone());
        }
        let mut carried_text = false;
        for (i, choice) in chunk.get("choices").and_then(Value::as_array).into_iter().flatten().enumerate() {
            let index = choice.get("index").and_then(Value::as_u64).unwrap_or(i as u64);
            let parts = self.choices.entry(index).or_default();
            let delta = choice.get("delta").or_else(|| choice.get("message"));
            if let Some(role) = delta.and_then(|d| d.get("role")).filter(|r| r.is_string()) {
                parts.role = Some(role.clone());
            }
            if let Some(text) = delta.and_then(|d| d.get("content")).and_then(Value::as_str) {
                parts.content.push_str(text);
                carried_text |= !text.is_empty();
            }
            // Reasoning models stream their thinking apart from the content: not part of the
            // reply, but tokens all the same.
            let reasoning = delta.and_then(|d| d.get("reasoning_content").or_else(|| d.get("reasoning"))).and_then(Value::as_str);
            carried_text |= reasoning.is_some_and(|r| !r.is_empty());
            if let Some(reason) = choice.get("finish_reason").filter(|r| !r.is_null()) {
                parts.finish_reason = Some(reason.clone());
            }
        }
        self.tokens += u64::from(carried_text);
        Ok(Event::Chunk)
    }

    /// The completion as a non-streamed request would have returned it, and whether its usage is
    /// an estimate (the stream carried none). `request` is the request body (for the estimate of
    /// its prompt tokens).
    pub(crate) fn finish(self, request: &Value) -> (Value, bool) {
        let choices: Vec<Value> = self
            .choices
            .into_iter()
            .map(|(index, parts)| {
                json!({
                    "index": index,
                    "message": { "role": parts.role.unwrap_or_else(|| json!("assistant")), "content": parts.content },
                    "finish_reason": parts.finish_reason.unwrap_or(Value::Null),
                })
            })
            .collect();
        let estimated = self.usage.is_none();
        let usage = self.usage.unwrap_or_else(|| {
            let prompt_tokens = prompt_chars(request).div_ceil(CHARS_PER_TOKEN);
            json!({
                "prompt_tokens": prompt_tokens,
                "completion_tokens": self.tokens,
                "total_tokens": prompt_tokens + self.tokens,
                "estimated": true,
            })
        });
        let mut reply = Map::new();
        for (field, value) in [("id", self.id), ("model", self.model), ("created", self.created)] {
            if let Some(value) = value {
                reply.insert(field.to_owned(), value);
            }
        }
        reply.insert("object".to_owned(), json!("chat.completion"));
        reply.insert("choices".to_owned(), Value::Array(choices));
        reply.insert("usage".to_owned(), usage);
        (Value::Object(reply), estimated)
    }
}

/// Characters of the text the request's messages carry.
fn prompt_chars(request: &Value) -> u64 {
    fn chars(content: &Value) -> usize {
        match content {
            Value::String(text) => text.chars().count(),
            // Parts: `{ "type": "text", "text": … }` among pictures (which are not counted).
            Value::Array(parts) => parts.iter().filter_map(|p| p.get("text")).map(chars).sum(),
            _ => 0,
        }
    }
    let messages = request.get("messages").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
    messages.iter().filter_map(|m| m.get("content")).map(chars).sum::<usize>() as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunk(delta: Value, finish: Value) -> String {
        json!({ "id": "c1", "object": "chat.completion.chunk", "model": "m", "choices": [{ "index": 0, "delta": delta, "finish_reason": finish }] }).to_string()
    }

    #[test]
    fn chunks_assemble_into_the_reply_a_plain_request_gets_with_the_final_usage() {
        let mut assembly = Assembly::default();
        assert_eq!(assembly.add(&chunk(json!({ "role": "assistant", "content": "" }), Value::Null)), Ok(Event::Chunk));
        for piece in ["fn ", "compute_reward", "(s) {}"] {
            assembly.add(&chunk(json!({ "content": piece }), Value::Null)).unwrap();
        }
        assembly.add(&chunk(json!({}), json!("stop"))).unwrap();
        assembly.add(&json!({ "id": "c1", "choices": [], "usage": { "prompt_tokens": 7, "completion_tokens": 3 } }).to_string()).unwrap();
        assert_eq!(assembly.add(" [DONE]"), Ok(Event::Done));
        assert_eq!(assembly.tokens, 3);
        let (reply, estimated) = assembly.finish(&json!({}));
        assert!(!estimated);
        assert_eq!(
            reply,
            json!({
                "id": "c1", "model": "m", "object": "chat.completion",
                "choices": [{ "index": 0, "message": { "role": "assistant", "content": "fn compute_reward(s) {}" }, "finish_reason": "stop" }],
                "usage": { "prompt_tokens": 7, "completion_tokens": 3 },
            })
        );
    }

    #[test]
    fn a_stream_without_usage_counts_chunks_and_prompt_characters_and_says_it_estimated() {
        let mut assembly = Assembly::default();
        for piece in ["a", "", "b"] {
            assembly.add(&chunk(json!({ "content": piece }), Value::Null)).unwrap();
        }
        assembly.add(&chunk(json!({ "reasoning_content": "hmm" }), json!("length"))).unwrap();
        let request = json!({ "messages": [{ "role": "system", "content": "12345" }, { "role": "user", "content": [{ "type": "text", "text": "678" }, { "type": "image_url" }] }] });
        let (reply, estimated) = assembly.finish(&request);
        assert!(estimated);
        // 8 characters are 2 tokens; 3 chunks carried text (the empty one did not).
        assert_eq!(reply["usage"], json!({ "prompt_tokens": 2, "completion_tokens": 3, "total_tokens": 5, "estimated": true }));
        assert_eq!(reply["choices"][0]["message"]["content"], "ab");
        assert_eq!(reply["choices"][0]["finish_reason"], "length");
    }

    #[test]
    fn an_error_mid_stream_and_a_chunk_that_is_not_json_are_told_apart() {
        let mut assembly = Assembly::default();
        assert_eq!(assembly.add(r#"{"error":{"message":"slot busy"}}"#), Ok(Event::Error(json!({ "message": "slot busy" }))));
        assert!(assembly.add("{not json").unwrap_err().starts_with("a streamed chunk is not JSON"));
    }
}
