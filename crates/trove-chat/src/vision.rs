//! [`VisionClient`]: captions of images by a vision-language model behind an OpenAI-compatible
//! chat-completions API (OpenAI, Azure OpenAI, and the OpenAI-compatible routes of Ollama and
//! vLLM), on the chat client's networking (time limits, retries with `Retry-After`, the quota,
//! proxy, CA and breaker). The image travels inside the request as a `data:` URL in an
//! `image_url` content part, beside the prompt's `text` part, which every one of those servers
//! reads. The bytes are checked before any request: their type must be one the models take
//! ([`crate::media::IMAGE_TYPES`]) and match their magic bytes, and their size stay under the
//! limit; such failures, like a 400, are permanent ([`MediaError::retry_later`] is false).

use base64::Engine as _;
use serde::Deserialize;
use trove_clock::SharedClock;
use trove_http::Sleep;

use crate::client::{Payload, Route};
use crate::media::{Accepts, IMAGE_TYPES, check};
use crate::{ChatClient, ChatError, ChatOptions, MediaError, Usage};

/// The most bytes of an answer read.
const MAX_BODY: u64 = 4 * 1024 * 1024;
/// Tokens an image is counted as for the tokens-per-minute quota (OpenAI's high-detail
/// 1024×1024 image is 765; local models vary).
const IMAGE_TOKENS: usize = 1000;

/// The prompt asked when the configuration gives none.
pub const DEFAULT_CAPTION_PROMPT: &str = "Describe this image for a search index in two to four sentences: what it \
shows, any visible text word for word, and the kind of image (photo, screenshot, diagram, scan).";

/// What a [`VisionClient`] needs besides the chat options.
#[derive(Debug, Clone)]
pub struct VisionOptions {
    /// The connection, the model (`models.vision`) and the networking.
    pub chat: ChatOptions,
    /// The most bytes of an image sent.
    pub max_image_bytes: usize,
}

impl VisionOptions {
    /// `chat` with the role [`crate::ModelRole::Vision`] and a 20 MiB image limit (OpenAI's).
    pub fn new(mut chat: ChatOptions) -> VisionOptions {
        chat.role = crate::ModelRole::Vision;
        VisionOptions { chat, max_image_bytes: 20 * 1024 * 1024 }
    }
}

/// A caption of one image.
#[derive(Debug, Clone, PartialEq)]
pub struct Caption {
    /// The caption, trimmed.
    pub text: String,
    /// `<provider>/<model>` that wrote it.
    pub model: String,
    /// Tokens used.
    pub usage: Usage,
}

/// Captions images; clones share the connection pool, quota and breaker.
#[derive(Debug, Clone)]
pub struct VisionClient {
    chat: ChatClient,
    max_image_bytes: usize,
}

impl VisionClient {
    /// Prepares the client on the system's clock; makes no request.
    pub fn new(opts: VisionOptions) -> Result<VisionClient, ChatError> {
        VisionClient::with_time(opts, trove_clock::system(), trove_http::real_sleep())
    }

    /// Prepares the client with time from `clock`, waiting through `sleep` (tests step a clock).
    pub fn with_time(opts: VisionOptions, clock: SharedClock, sleep: Sleep) -> Result<VisionClient, ChatError> {
        let chat = ChatClient::on_route(opts.chat, Route::ChatCompletions, clock, sleep)?;
        Ok(VisionClient { chat, max_image_bytes: opts.max_image_bytes })
    }

    /// `<provider>/<model>`.
    pub fn model_id(&self) -> &str {
        crate::ChatModel::model_id(&self.chat)
    }

    /// The endpoint this client posts to.
    pub fn url(&self) -> &str {
        self.chat.url()
    }

    /// The options.
    pub fn options(&self) -> &ChatOptions {
        self.chat.options()
    }

    /// A caption of `image` (of media type `mime`) answering `prompt`.
    pub fn caption(&self, image: &[u8], mime: &str, prompt: &str) -> Result<Caption, MediaError> {
        let mime = self.check(image, mime)?;
        let opts = self.chat.options();
        let data_url = format!("data:{mime};base64,{}", base64::engine::general_purpose::STANDARD.encode(image));
        let mut body = serde_json::json!({
            "messages": [{
                "role": "user",
                "content": [
                    {"type": "text", "text": prompt},
                    {"type": "image_url", "image_url": {"url": data_url}},
                ],
            }],
            "max_tokens": opts.max_output_tokens,
            "stream": false,
        });
        if opts.protocol == crate::ChatProtocol::OpenAi {
            body["model"] = opts.model.clone().into();
        }
        if let Some(t) = opts.temperature {
            body["temperature"] = t.into();
        }
        let prompt_tokens = crate::estimate_tokens(prompt) + IMAGE_TOKENS;
        let payload = Payload {
            content_type: "application/json".into(),
            body: serde_json::to_vec(&body).unwrap_or_default(),
            tokens: prompt_tokens + opts.max_output_tokens,
            total_timeout: None,
        };
        let started = self.chat.send(&payload)?;
        let answer: Answer =
            self.chat.read_answer(started, MAX_BODY, "did not finish the caption", "a chat completion")?;
        let choice = answer
            .choices
            .into_iter()
            .next()
            .ok_or_else(|| self.chat.bad_answer("the answer has no choices".into()))?;
        let text = choice.message.content.unwrap_or_default().trim().to_string();
        if text.is_empty() {
            return Err(MediaError::Empty {
                key: opts.key.clone(),
                url: self.url().to_string(),
                setting: "models.vision",
                model: opts.model.clone(),
                detail: "an empty caption",
                does: "reads images",
            });
        }
        let usage = match answer.usage {
            Some(u) => {
                Usage { prompt_tokens: u.prompt_tokens, completion_tokens: u.completion_tokens, estimated: false }
            }
            None => Usage {
                prompt_tokens: prompt_tokens as u64,
                completion_tokens: crate::estimate_tokens(&text) as u64,
                estimated: true,
            },
        };
        Ok(Caption { text, model: self.model_id().to_string(), usage })
    }

    /// The image's media type once its bytes are known to be of it and small enough.
    fn check(&self, image: &[u8], mime: &str) -> Result<String, MediaError> {
        let accepts = Accepts {
            what: "the image",
            key: &self.chat.options().key,
            setting: "models.vision",
            types: &IMAGE_TYPES,
            convert: "convert it to PNG first",
            max: self.max_image_bytes,
            limit_setting: "vision.max_image_bytes",
        };
        check(image, mime, &accepts)
    }
}

#[derive(Deserialize)]
struct Answer {
    choices: Vec<Choice>,
    #[serde(default)]
    usage: Option<crate::client::WireUsage>,
}

#[derive(Deserialize)]
struct Choice {
    message: ChoiceMessage,
}

#[derive(Deserialize)]
struct ChoiceMessage {
    #[serde(default)]
    content: Option<String>,
}
