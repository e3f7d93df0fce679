//! [`MediaError`]: what went wrong asking a vision or speech model, classified for the
//! caller that must decide what to do with the document: [`MediaError::retry_later`] is true
//! for failures that time may cure (429, a time limit, 5xx or a dropped connection, the
//! breaker open after many of them), false for ones that asking again cannot fix (400, a key
//! refused, an unknown model, bytes the model does not take). Also the checks of the bytes
//! sent, before any request: their declared type against their magic bytes, and a size limit.

use trove_types::{Code, HasCode};

use crate::ChatError;

/// A failed caption or transcription.
#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    /// The bytes are not of a type the model takes, or not of the type they claim.
    #[error("{what} cannot be sent to {key}.{setting}: {detail}")]
    Unsupported {
        /// `the image`, `the audio`.
        what: &'static str,
        /// The configuration section.
        key: String,
        /// `models.vision` or `models.transcription`.
        setting: &'static str,
        /// What is wrong and what is accepted.
        detail: String,
    },
    /// The bytes exceed the limit of the section.
    #[error(
        "{what} is {bytes} bytes, more than {key}.{limit_setting} ({max} bytes); send a smaller file or raise the limit if the model server accepts more"
    )]
    TooLarge {
        /// `the image`, `the audio`.
        what: &'static str,
        /// The configuration section.
        key: String,
        /// The limit's setting (`vision.max_image_bytes`...).
        limit_setting: &'static str,
        /// The size.
        bytes: usize,
        /// The limit.
        max: usize,
    },
    /// The model server answered, but with nothing usable (an empty caption or transcript).
    #[error("{url} answered with {detail}; check that {key}.{setting} (`{model}`) is a model that {does}")]
    Empty {
        /// The configuration section.
        key: String,
        /// The URL called.
        url: String,
        /// `models.vision` or `models.transcription`.
        setting: &'static str,
        /// The model.
        model: String,
        /// What was missing.
        detail: &'static str,
        /// What the model should do (`reads images`, `transcribes speech`).
        does: &'static str,
    },
    /// The request failed (see [`ChatError`]).
    #[error(transparent)]
    Model(#[from] ChatError),
}

impl MediaError {
    /// Whether asking again later may succeed: a rate limit, a time limit, an unavailable
    /// server (5xx, connection errors, the breaker open). Everything else is permanent for
    /// these bytes until the configuration changes.
    pub fn retry_later(&self) -> bool {
        matches!(
            self,
            MediaError::Model(ChatError::Throttled { .. } | ChatError::Timeout { .. } | ChatError::Unavailable { .. })
        )
    }

    /// A short name of the failure's kind, for metrics and the caption status.
    pub fn kind(&self) -> &'static str {
        match self {
            MediaError::Unsupported { .. } => "unsupported",
            MediaError::TooLarge { .. } => "too_large",
            MediaError::Empty { .. } => "empty",
            MediaError::Model(e) => e.kind(),
        }
    }
}

impl HasCode for MediaError {
    fn code(&self) -> Code {
        match self {
            MediaError::Unsupported { .. } => Code::UnsupportedMediaType,
            MediaError::TooLarge { .. } => Code::PayloadTooLarge,
            MediaError::Empty { .. } => Code::ChatRejected,
            MediaError::Model(e) => e.code(),
        }
    }
}

/// The image types OpenAI-compatible vision models take (as `data:` URLs).
pub const IMAGE_TYPES: [&str; 4] = ["image/png", "image/jpeg", "image/webp", "image/gif"];

/// The media type the magic bytes of `bytes` show, among the images vision models take and
/// the audio containers transcription servers take; `None` when unknown.
pub fn sniff(bytes: &[u8]) -> Option<&'static str> {
    let starts = |magic: &[u8]| bytes.starts_with(magic);
    let riff = |kind: &[u8]| bytes.len() >= 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == kind;
    if starts(b"\x89PNG\r\n\x1a\n") {
        Some("image/png")
    } else if starts(&[0xFF, 0xD8, 0xFF]) {
        Some("image/jpeg")
    } else if starts(b"GIF87a") || starts(b"GIF89a") {
        Some("image/gif")
    } else if riff(b"WEBP") {
        Some("image/webp")
    } else if riff(b"WAVE") {
        Some("audio/wav")
    } else if starts(b"ID3") || (bytes.len() >= 2 && bytes[0] == 0xFF && bytes[1] & 0xE0 == 0xE0) {
        Some("audio/mpeg")
    } else if starts(b"OggS") {
        Some("audio/ogg")
    } else if starts(b"fLaC") {
        Some("audio/flac")
    } else if bytes.len() >= 12 && &bytes[4..8] == b"ftyp" {
        Some("audio/mp4")
    } else if starts(&[0x1A, 0x45, 0xDF, 0xA3]) {
        Some("audio/webm")
    } else {
        None
    }
}

/// A 16-bit mono PCM WAV file of `samples` at `rate` Hz (test audio for probes and tests).
pub fn wav_pcm16(rate: u32, samples: &[i16]) -> Vec<u8> {
    let data = (samples.len() * 2) as u32;
    let mut wav = Vec::with_capacity(44 + data as usize);
    wav.extend_from_slice(b"RIFF");
    wav.extend_from_slice(&(36 + data).to_le_bytes());
    wav.extend_from_slice(b"WAVEfmt ");
    wav.extend_from_slice(&16u32.to_le_bytes());
    wav.extend_from_slice(&1u16.to_le_bytes()); // PCM
    wav.extend_from_slice(&1u16.to_le_bytes()); // mono
    wav.extend_from_slice(&rate.to_le_bytes());
    wav.extend_from_slice(&(rate * 2).to_le_bytes());
    wav.extend_from_slice(&2u16.to_le_bytes());
    wav.extend_from_slice(&16u16.to_le_bytes());
    wav.extend_from_slice(b"data");
    wav.extend_from_slice(&data.to_le_bytes());
    for s in samples {
        wav.extend_from_slice(&s.to_le_bytes());
    }
    wav
}

/// What [`check`] checks bytes against.
pub(crate) struct Accepts<'a> {
    /// `the image`, `the audio`.
    pub(crate) what: &'static str,
    /// The configuration section.
    pub(crate) key: &'a str,
    /// `models.vision` or `models.transcription`.
    pub(crate) setting: &'static str,
    /// The media types taken (as [`sniff`] names them).
    pub(crate) types: &'a [&'a str],
    /// What to do with another type.
    pub(crate) convert: &'static str,
    /// The size limit and its setting.
    pub(crate) max: usize,
    pub(crate) limit_setting: &'static str,
}

/// The canonical media type of `bytes`, declared `mime`, once it is one `accepts` takes, the
/// bytes are of it, and they fit the limit.
pub(crate) fn check(bytes: &[u8], mime: &str, accepts: &Accepts<'_>) -> Result<String, MediaError> {
    let unsupported = |detail: String| MediaError::Unsupported {
        what: accepts.what,
        key: accepts.key.to_string(),
        setting: accepts.setting,
        detail,
    };
    let declared = canonical_type(mime);
    if !accepts.types.contains(&declared.as_str()) {
        return Err(unsupported(format!(
            "its type `{mime}` is not one these models take ({}); {}",
            accepts.types.join(", "),
            accepts.convert
        )));
    }
    if bytes.len() > accepts.max {
        return Err(MediaError::TooLarge {
            what: accepts.what,
            key: accepts.key.to_string(),
            limit_setting: accepts.limit_setting,
            bytes: bytes.len(),
            max: accepts.max,
        });
    }
    match sniff(bytes) {
        Some(found) if found == declared => Ok(declared),
        Some(found) => Err(unsupported(format!("it is declared `{declared}` but its bytes are `{found}`"))),
        None => Err(unsupported(format!("its bytes are not {declared} (the file is damaged or of another type)"))),
    }
}

/// `image/jpg` and `audio/x-wav` spelled the way [`sniff`] does, lowercase, without parameters.
fn canonical_type(mime: &str) -> String {
    let base = mime.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    match base.as_str() {
        "image/jpg" | "image/pjpeg" => "image/jpeg".into(),
        "audio/x-wav" | "audio/wave" | "audio/vnd.wave" => "audio/wav".into(),
        "audio/mp3" => "audio/mpeg".into(),
        "audio/x-flac" => "audio/flac".into(),
        "audio/m4a" | "audio/x-m4a" | "video/mp4" => "audio/mp4".into(),
        "audio/x-ogg" | "video/ogg" => "audio/ogg".into(),
        "video/webm" => "audio/webm".into(),
        _ => base,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn magic_bytes_name_their_type() {
        assert_eq!(sniff(b"\x89PNG\r\n\x1a\n...."), Some("image/png"));
        assert_eq!(sniff(&[0xFF, 0xD8, 0xFF, 0xE0]), Some("image/jpeg"));
        assert_eq!(sniff(b"GIF89a..."), Some("image/gif"));
        assert_eq!(sniff(b"RIFF\0\0\0\0WEBPVP8 "), Some("image/webp"));
        assert_eq!(sniff(b"RIFF\0\0\0\0WAVEfmt "), Some("audio/wav"));
        assert_eq!(sniff(b"OggS\0"), Some("audio/ogg"));
        assert_eq!(sniff(b"II*\0 a tiff"), None);
        assert_eq!(sniff(b""), None);
        let wav = wav_pcm16(8000, &[0, 1, -1]);
        assert_eq!((sniff(&wav), wav.len()), (Some("audio/wav"), 44 + 6));
        assert_eq!(canonical_type("Image/JPG; q=1"), "image/jpeg");
    }

    #[test]
    fn only_time_curable_failures_retry_later() {
        let (key, url) = (String::from("llm"), String::from("http://x/v1/chat/completions"));
        let later = [
            ChatError::Throttled { key: key.clone(), url: url.clone(), attempts: 3, detail: "429".into() },
            ChatError::Timeout { key: key.clone(), url: url.clone(), what: "did not answer", secs: 1.0 },
            ChatError::Unavailable { key: key.clone(), url: url.clone(), detail: "HTTP 503".into() },
        ];
        for e in later {
            assert!(MediaError::from(e).retry_later());
        }
        let never = [
            MediaError::Model(ChatError::Rejected {
                url: url.clone(),
                status: 400,
                detail: "bad image".into(),
                fix: "x".into(),
            }),
            MediaError::Model(ChatError::Unauthorized {
                key: key.clone(),
                url: url.clone(),
                status: 401,
                detail: "".into(),
            }),
            MediaError::Unsupported { what: "the image", key, setting: "models.vision", detail: "tiff".into() },
        ];
        for e in never {
            assert!(!e.retry_later(), "{e}");
        }
    }
}
