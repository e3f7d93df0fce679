//! [`ChatStream`]: a streamed chat completion read as [`ChatEvent`]s. The body is Server-Sent
//! Events: `data: {chunk}` lines (each chunk's `choices[0].delta.content` is the next piece of
//! the answer; a last chunk may carry `usage`), events separated by a blank line, ending with
//! `data: [DONE]`. Comment lines (`:`) and other fields are ignored.
//!
//! The stream holds the connection and the client's quota slot; dropping it closes the
//! connection, which is how a server learns to stop generating.

use std::io::{BufRead, BufReader, Read};

use serde::Deserialize;

use crate::client::{ChatClient, Started, WireUsage};
use crate::{ChatError, ChatEvent, Usage};

/// The longest line Trove reads from a stream (a chunk is a few hundred bytes).
const MAX_LINE: u64 = 1024 * 1024;

/// A streamed answer; see the module documentation. Yields [`ChatEvent::Delta`]s, then one
/// [`ChatEvent::Finished`], then nothing; an error ends it too.
pub struct ChatStream {
    client: ChatClient,
    reader: BufReader<Box<dyn Read + Send>>,
    /// Held while the answer is read.
    _permit: trove_http::QuotaPermit,
    prompt_estimate: usize,
    text_bytes: usize,
    usage: Option<WireUsage>,
    finish_reason: Option<String>,
    done: bool,
}

impl std::fmt::Debug for ChatStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChatStream").field("client", &self.client).field("done", &self.done).finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct Chunk {
    #[serde(default)]
    choices: Vec<ChunkChoice>,
    #[serde(default)]
    usage: Option<WireUsage>,
    #[serde(default)]
    error: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct ChunkChoice {
    #[serde(default)]
    delta: Option<Delta>,
    #[serde(default)]
    finish_reason: Option<String>,
}

#[derive(Deserialize)]
struct Delta {
    #[serde(default)]
    content: Option<String>,
}

impl ChatStream {
    pub(crate) fn new(client: ChatClient, started: Started, prompt_estimate: usize) -> ChatStream {
        ChatStream {
            client,
            reader: BufReader::new(started.body),
            _permit: started.permit,
            prompt_estimate,
            text_bytes: 0,
            usage: None,
            finish_reason: None,
            done: false,
        }
    }

    /// The next `data:` payload, or `None` at the end of the body.
    fn next_data(&mut self) -> Result<Option<String>, ChatError> {
        let mut data: Option<String> = None;
        loop {
            let mut line = String::new();
            let read = (&mut self.reader)
                .take(MAX_LINE)
                .read_line(&mut line)
                .map_err(|e| self.client.read_failure(&e, "stalled mid-answer"))?;
            if read == 0 {
                return Ok(data);
            }
            let line = line.trim_end_matches(['\r', '\n']);
            if line.is_empty() {
                if data.is_some() {
                    return Ok(data);
                }
                continue;
            }
            if let Some(value) = line.strip_prefix("data:") {
                let value = value.strip_prefix(' ').unwrap_or(value);
                match &mut data {
                    Some(d) => {
                        d.push('\n');
                        d.push_str(value);
                    }
                    None => data = Some(value.to_string()),
                }
            }
        }
    }

    fn finished(&mut self) -> ChatEvent {
        self.done = true;
        let usage = match self.usage {
            Some(u) => {
                Usage { prompt_tokens: u.prompt_tokens, completion_tokens: u.completion_tokens, estimated: false }
            }
            None => Usage {
                prompt_tokens: self.prompt_estimate as u64,
                completion_tokens: self.text_bytes.div_ceil(3) as u64,
                estimated: true,
            },
        };
        ChatEvent::Finished { usage, finish_reason: self.finish_reason.take() }
    }

    fn step(&mut self) -> Result<Option<ChatEvent>, ChatError> {
        loop {
            let Some(data) = self.next_data()? else {
                // Some servers close without `[DONE]` once they said why they stopped.
                if self.finish_reason.is_some() {
                    return Ok(Some(self.finished()));
                }
                return Err(self.client.unavailable("the streamed answer ended before it was complete".into()));
            };
            if data.trim() == "[DONE]" {
                return Ok(Some(self.finished()));
            }
            let chunk: Chunk = serde_json::from_str(&data)
                .map_err(|e| self.client.bad_answer(format!("a streamed chunk is not the JSON expected: {e}")))?;
            if let Some(error) = chunk.error {
                let text = error.to_string();
                return Err(self.client.unavailable(format!(
                    "the server reported an error mid-answer: {}",
                    trove_http::model_error_message(&format!("{{\"error\":{text}}}"))
                )));
            }
            if chunk.usage.is_some() {
                self.usage = chunk.usage;
            }
            let mut piece = String::new();
            for choice in chunk.choices.into_iter().take(1) {
                if let Some(reason) = choice.finish_reason {
                    self.finish_reason = Some(reason);
                }
                if let Some(content) = choice.delta.and_then(|d| d.content) {
                    piece = content;
                }
            }
            if !piece.is_empty() {
                self.text_bytes += piece.len();
                return Ok(Some(ChatEvent::Delta(piece)));
            }
        }
    }
}

impl Iterator for ChatStream {
    type Item = Result<ChatEvent, ChatError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        match self.step() {
            Ok(event) => event.map(Ok),
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}
