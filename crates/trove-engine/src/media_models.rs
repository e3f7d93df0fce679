//! The media models' client options from the configuration: [`vision_options`] for captions
//! (`llm.models.vision`, `llm.vision`) and [`transcription_options`] for speech to text
//! (`llm.models.transcription`, `llm.transcription`), both on the `llm:` section's connection,
//! key, retries, rate limits, proxy and CA, as [`crate::chat_options`] builds them for answers.

use std::time::Duration;

use trove_chat::{ModelRole, TranscriptionOptions, VisionOptions};
use trove_config::LlmConfig;

use crate::chat_options;

/// The caption client's options when `llm.models.vision` names a model.
pub fn vision_options(llm: &LlmConfig) -> Option<VisionOptions> {
    let model = llm.models.vision.as_deref().filter(|m| !m.trim().is_empty())?;
    let mut chat = chat_options(llm, "llm");
    chat.model = model.to_string();
    chat.role = ModelRole::Vision;
    chat.max_output_tokens = llm.vision.max_output_tokens;
    chat.total_timeout = Duration::from_secs_f64(llm.vision.timeout_s);
    let mut opts = VisionOptions::new(chat);
    opts.max_image_bytes = llm.vision.max_image_bytes;
    Some(opts)
}

/// The prompt asked about each image: `llm.vision.prompt`, else Trove's.
pub fn caption_prompt(llm: &LlmConfig) -> &str {
    llm.vision.prompt.as_deref().unwrap_or(trove_chat::DEFAULT_CAPTION_PROMPT)
}

/// The transcription client's options when `llm.models.transcription` names a model.
pub fn transcription_options(llm: &LlmConfig) -> Option<TranscriptionOptions> {
    let model = llm.models.transcription.as_deref().filter(|m| !m.trim().is_empty())?;
    let t = &llm.transcription;
    let mut chat = chat_options(llm, "llm");
    chat.model = model.to_string();
    chat.role = ModelRole::Transcription;
    chat.total_timeout = Duration::from_secs_f64(t.unknown_length_timeout_s);
    let mut opts = TranscriptionOptions::new(chat);
    opts.language = t.language.clone();
    opts.base_timeout = Duration::from_secs_f64(t.base_timeout_s);
    opts.per_audio_second = Duration::from_secs_f64(t.seconds_per_audio_second);
    opts.max_audio_bytes = t.max_audio_bytes;
    Some(opts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use trove_config::LlmProvider;

    #[test]
    fn media_options_come_from_the_llm_section() {
        let mut llm = LlmConfig { provider: LlmProvider::Ollama, ..LlmConfig::default() };
        assert!(vision_options(&llm).is_none() && transcription_options(&llm).is_none());
        llm.models.chat = Some("llama3.1".into());
        llm.models.vision = Some("llava".into());
        llm.models.transcription = Some("whisper".into());
        llm.vision.max_output_tokens = 77;
        llm.transcription.language = Some("de".into());
        let v = vision_options(&llm).unwrap();
        assert_eq!((v.chat.model.as_str(), v.chat.base_url.as_str()), ("llava", "http://localhost:11434/v1"));
        assert_eq!((v.chat.max_output_tokens, v.chat.role), (77, ModelRole::Vision));
        assert_eq!(v.chat.total_timeout, Duration::from_secs(120));
        let t = transcription_options(&llm).unwrap();
        assert_eq!((t.chat.model.as_str(), t.language.as_deref()), ("whisper", Some("de")));
        assert_eq!(t.chat.total_timeout, Duration::from_secs(1800));
        assert_eq!(caption_prompt(&llm), trove_chat::DEFAULT_CAPTION_PROMPT);
    }
}
