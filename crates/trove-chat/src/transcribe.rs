//! [`TranscriptionClient`]: speech to text through an OpenAI-compatible
//! `POST {base}/audio/transcriptions` (OpenAI, Azure OpenAI's deployments, faster-whisper-server
//! / speaches, and whisper.cpp's server started with `--inference-path
//! /v1/audio/transcriptions`), on the chat client's networking. The audio goes up as
//! `multipart/form-data` with `response_format=verbose_json` and segment timestamps; the
//! answer's `segments` (`start`, `end` in seconds, `text`) become a [`Transcript`]'s
//! [`Segment`]s, which [`Transcript::pieces`] joins into pieces of bounded length with their
//! time ranges. A server that answers only `{text}` gives one segment over the whole audio.
//!
//! The time limit of a request grows with the audio: `base_timeout` plus `per_audio_second`
//! for each second of it (the caller knows the duration from the container; unknown, the
//! options' `total_timeout` applies).

use std::time::Duration;

use serde::Deserialize;
use trove_clock::SharedClock;
use trove_http::Sleep;

use crate::client::{Payload, Route};
use crate::media::{Accepts, check};
use crate::{ChatClient, ChatError, ChatOptions, MediaError};

/// The most bytes of an answer read.
const MAX_BODY: u64 = 16 * 1024 * 1024;

/// The audio types the transcription servers take, with a file extension each (servers
/// decide the decoder by the file name).
pub const AUDIO_TYPES: [(&str, &str); 6] = [
    ("audio/wav", "wav"),
    ("audio/mpeg", "mp3"),
    ("audio/mp4", "m4a"),
    ("audio/ogg", "ogg"),
    ("audio/flac", "flac"),
    ("audio/webm", "webm"),
];

/// What a [`TranscriptionClient`] needs besides the chat options.
#[derive(Debug, Clone)]
pub struct TranscriptionOptions {
    /// The connection, the model (`models.transcription`) and the networking; its
    /// `total_timeout` bounds a request whose audio's duration is unknown.
    pub chat: ChatOptions,
    /// The spoken language (ISO 639-1, `en`), or `None` to let the model detect it.
    pub language: Option<String>,
    /// The part of a request's time limit that does not depend on the audio.
    pub base_timeout: Duration,
    /// Time allowed per second of audio, on top of `base_timeout`.
    pub per_audio_second: Duration,
    /// The most bytes of audio sent (OpenAI takes 25 MB).
    pub max_audio_bytes: usize,
}

impl TranscriptionOptions {
    /// `chat` with the role [`crate::ModelRole::Transcription`], 60 s plus one second per
    /// second of audio, and OpenAI's 25 MB limit.
    pub fn new(mut chat: ChatOptions) -> TranscriptionOptions {
        chat.role = crate::ModelRole::Transcription;
        TranscriptionOptions {
            chat,
            language: None,
            base_timeout: Duration::from_secs(60),
            per_audio_second: Duration::from_secs(1),
            max_audio_bytes: 25 * 1000 * 1000,
        }
    }
}

/// A stretch of speech with its time range.
#[derive(Debug, Clone, PartialEq)]
pub struct Segment {
    /// Where it starts, in seconds from the beginning of the audio.
    pub start: f64,
    /// Where it ends, in seconds.
    pub end: f64,
    /// What was said, trimmed.
    pub text: String,
}

/// The text of a recording.
#[derive(Debug, Clone, PartialEq)]
pub struct Transcript {
    /// All of it.
    pub text: String,
    /// The language the server reports, when it does.
    pub language: Option<String>,
    /// The audio's duration the server reports, in seconds.
    pub duration: Option<f64>,
    /// The segments, in order (one over the whole audio when the server gave none).
    pub segments: Vec<Segment>,
    /// `<provider>/<model>` that wrote it.
    pub model: String,
}

impl Transcript {
    /// The segments joined in order into pieces of at most `max_chars` characters (a longer
    /// segment stays whole), each spanning its first segment's start to its last one's end.
    pub fn pieces(&self, max_chars: usize) -> Vec<Segment> {
        let mut out: Vec<Segment> = Vec::new();
        for s in self.segments.iter().filter(|s| !s.text.is_empty()) {
            match out.last_mut() {
                Some(last) if last.text.chars().count() + 1 + s.text.chars().count() <= max_chars => {
                    last.text.push(' ');
                    last.text.push_str(&s.text);
                    last.end = s.end.max(last.end);
                }
                _ => out.push(s.clone()),
            }
        }
        out
    }
}

/// Transcribes audio; clones share the connection pool, quota and breaker.
#[derive(Debug, Clone)]
pub struct TranscriptionClient {
    chat: ChatClient,
    opts: TranscriptionOptions,
}

impl TranscriptionClient {
    /// Prepares the client on the system's clock; makes no request.
    pub fn new(opts: TranscriptionOptions) -> Result<TranscriptionClient, ChatError> {
        TranscriptionClient::with_time(opts, trove_clock::system(), trove_http::real_sleep())
    }

    /// Prepares the client with time from `clock`, waiting through `sleep` (tests step a clock).
    pub fn with_time(
        opts: TranscriptionOptions,
        clock: SharedClock,
        sleep: Sleep,
    ) -> Result<TranscriptionClient, ChatError> {
        let chat = ChatClient::on_route(opts.chat.clone(), Route::AudioTranscriptions, clock, sleep)?;
        Ok(TranscriptionClient { chat, opts })
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
    pub fn options(&self) -> &TranscriptionOptions {
        &self.opts
    }

    /// The time limit of one request for audio of `duration` (unknown: `total_timeout`).
    pub fn time_limit(&self, duration: Option<Duration>) -> Duration {
        match duration {
            Some(d) => self.opts.base_timeout + self.opts.per_audio_second.mul_f64(d.as_secs_f64()),
            None => self.opts.chat.total_timeout,
        }
    }

    /// The transcript of `audio` (of media type `mime`, lasting `duration` when known).
    pub fn transcribe(&self, audio: &[u8], mime: &str, duration: Option<Duration>) -> Result<Transcript, MediaError> {
        let extension = self.check(audio, mime)?;
        let chat = &self.opts.chat;
        let boundary = boundary_for(audio);
        let mut fields: Vec<(&str, String)> = vec![
            ("model", chat.model.clone()),
            ("response_format", "verbose_json".into()),
            ("timestamp_granularities[]", "segment".into()),
        ];
        if let Some(language) = &self.opts.language {
            fields.push(("language", language.clone()));
        }
        let file_type = AUDIO_TYPES.iter().find(|(_, e)| *e == extension).map_or("audio/wav", |(t, _)| t);
        let body = multipart(&boundary, &fields, &format!("audio.{extension}"), file_type, audio);
        // Speech is about 3 tokens a second; without a duration, 25 MB of audio is the bound.
        let tokens = duration.map_or(1000, |d| (d.as_secs_f64() * 3.0) as usize + 100);
        let payload = Payload {
            content_type: format!("multipart/form-data; boundary={boundary}"),
            body,
            tokens,
            total_timeout: Some(self.time_limit(duration)),
        };
        let started = self.chat.send(&payload)?;
        let answer: Answer = self.chat.read_answer(
            started,
            MAX_BODY,
            "did not finish the transcript",
            "a verbose_json transcription",
        )?;
        let text = answer.text.trim().to_string();
        let mut segments: Vec<Segment> = answer
            .segments
            .into_iter()
            .filter(|s| s.start.is_finite() && s.end.is_finite())
            .map(|s| Segment { start: s.start.max(0.0), end: s.end.max(s.start), text: s.text.trim().to_string() })
            .filter(|s| !s.text.is_empty())
            .collect();
        if segments.is_empty() && !text.is_empty() {
            let end = answer.duration.or(duration.map(|d| d.as_secs_f64())).unwrap_or(0.0);
            segments.push(Segment { start: 0.0, end, text: text.clone() });
        }
        if text.is_empty() && segments.is_empty() {
            return Err(MediaError::Empty {
                key: chat.key.clone(),
                url: self.url().to_string(),
                setting: "models.transcription",
                model: chat.model.clone(),
                detail: "an empty transcript",
                does: "transcribes speech (and that the audio holds speech)",
            });
        }
        let text =
            if text.is_empty() { segments.iter().map(|s| s.text.as_str()).collect::<Vec<_>>().join(" ") } else { text };
        Ok(Transcript {
            text,
            language: answer.language,
            duration: answer.duration,
            segments,
            model: self.model_id().to_string(),
        })
    }

    /// The file extension to send for audio of type `mime`, once its bytes match and fit.
    fn check(&self, audio: &[u8], mime: &str) -> Result<&'static str, MediaError> {
        let types: Vec<&str> = AUDIO_TYPES.iter().map(|(t, _)| *t).collect();
        let accepts = Accepts {
            what: "the audio",
            key: &self.opts.chat.key,
            setting: "models.transcription",
            types: &types,
            convert: "convert it first (e.g. `ffmpeg -i IN -ac 1 -ar 16000 OUT.wav`)",
            max: self.opts.max_audio_bytes,
            limit_setting: "transcription.max_audio_bytes",
        };
        let found = check(audio, mime, &accepts)?;
        Ok(AUDIO_TYPES.iter().find(|(t, _)| *t == found).map_or("bin", |(_, e)| e))
    }
}

/// A multipart boundary that does not occur in `bytes`: derived from them, then checked.
fn boundary_for(bytes: &[u8]) -> String {
    let mut seed =
        bytes.iter().take(4096).fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ *b as u64).wrapping_mul(0x0100_0000_01b3))
            ^ bytes.len() as u64;
    loop {
        let boundary = format!("trove-{seed:016x}");
        if !bytes.windows(boundary.len()).any(|w| w == boundary.as_bytes()) {
            return boundary;
        }
        seed = seed.wrapping_add(1);
    }
}

/// A `multipart/form-data` body: the text `fields`, then the file.
fn multipart(boundary: &str, fields: &[(&str, String)], file_name: &str, mime: &str, file: &[u8]) -> Vec<u8> {
    let mut body = Vec::with_capacity(file.len() + 1024);
    for (name, value) in fields {
        body.extend_from_slice(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n").as_bytes(),
        );
    }
    body.extend_from_slice(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{file_name}\"\r\nContent-Type: {mime}\r\n\r\n"
        )
        .as_bytes(),
    );
    body.extend_from_slice(file);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    body
}

#[derive(Deserialize)]
struct Answer {
    #[serde(default)]
    text: String,
    #[serde(default)]
    language: Option<String>,
    #[serde(default)]
    duration: Option<f64>,
    #[serde(default)]
    segments: Vec<WireSegment>,
}

#[derive(Deserialize)]
struct WireSegment {
    start: f64,
    end: f64,
    #[serde(default)]
    text: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seg(start: f64, end: f64, text: &str) -> Segment {
        Segment { start, end, text: text.into() }
    }

    #[test]
    fn segments_join_into_bounded_pieces_with_their_time_ranges() {
        let t = Transcript {
            text: String::new(),
            language: None,
            duration: None,
            segments: vec![seg(0.0, 1.5, "one two"), seg(1.5, 3.0, "three"), seg(3.0, 9.0, "a much longer segment")],
            model: "m".into(),
        };
        assert_eq!(t.pieces(13), vec![seg(0.0, 3.0, "one two three"), seg(3.0, 9.0, "a much longer segment")]);
        assert_eq!(t.pieces(1000), vec![seg(0.0, 9.0, "one two three a much longer segment")]);
    }

    #[test]
    fn the_multipart_body_carries_fields_then_the_file() {
        let body = multipart("B", &[("model", "whisper-1".into())], "audio.wav", "audio/wav", b"RIFF");
        let text = String::from_utf8(body).unwrap();
        assert_eq!(
            text,
            "--B\r\nContent-Disposition: form-data; name=\"model\"\r\n\r\nwhisper-1\r\n--B\r\nContent-Disposition: form-data; name=\"file\"; filename=\"audio.wav\"\r\nContent-Type: audio/wav\r\n\r\nRIFF\r\n--B--\r\n"
        );
    }
}
