//! The vision and transcription clients against fake OpenAI-compatible servers on 127.0.0.1:0:
//! a caption of a real PNG (the request carries it as a `data:` URL), 429 with Retry-After
//! then a caption, 429 / a stall / 5xx / an open breaker classified "retry later", 400 and
//! unsupported or mislabelled images classified permanent without (or after one) request; a
//! transcript of speech made by `espeak-ng` (a generated tone when it is not installed) with
//! its segments' time ranges, a server that answers only `{text}`, a time limit that grows
//! with the audio. Waits for time (backoff, Retry-After) step a manual clock.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use trove_chat::testing::{FakeChat, FakeWhisper, Reply, Script, image_of};
use trove_chat::{
    ChatOptions, MediaError, Segment, TranscriptionClient, TranscriptionOptions, VisionClient, VisionOptions,
};
use trove_types::{Code, HasCode};

const PNG: &[u8] = include_bytes!("../../trove-embed/tests/fixtures/clip/gradient.png");
const TIFF: &[u8] = include_bytes!("../../trove-embed/tests/fixtures/clip/wide.tiff");
const JPEG: &[u8] = include_bytes!("../../trove-embed/tests/fixtures/clip/photo.jpg");

fn vision(server: &FakeChat, tune: impl FnOnce(&mut VisionOptions)) -> (VisionClient, Arc<Mutex<Vec<Duration>>>) {
    let mut chat = ChatOptions::new(&server.url(), "llava", "llm");
    chat.api_key = Some("sk-secret".into());
    chat.timeout = Duration::from_secs(5);
    chat.max_output_tokens = 200;
    let mut opts = VisionOptions::new(chat);
    tune(&mut opts);
    let (clock, sleep, waits) = trove_http::testing::stepped_time();
    (VisionClient::with_time(opts, clock, sleep).unwrap(), waits)
}

#[test]
fn a_caption_sends_the_image_as_a_data_url_beside_the_prompt() {
    let server = FakeChat::always(Script::answer(&["  A gradient ", "from black to white.\n"]));
    let (client, _) = vision(&server, |_| {});
    let caption = client.caption(PNG, "image/png", "Describe it.").unwrap();
    assert_eq!(caption.text, "A gradient from black to white.");
    assert_eq!(caption.model, "custom/llava");
    assert!(!caption.usage.estimated);
    let request = &server.requests()[0];
    assert_eq!(request.path, "/v1/chat/completions");
    assert_eq!(request.header("authorization"), Some("Bearer sk-secret"));
    let body = request.json();
    assert_eq!(body["model"], "llava");
    assert_eq!(body["max_tokens"], 200);
    assert_eq!(body["messages"][0]["content"][0]["text"], "Describe it.");
    let (mime, data) = image_of(request).expect("an image part");
    assert_eq!(mime, "image/png");
    assert_eq!(base64::engine::general_purpose::STANDARD.decode(data).unwrap(), PNG);

    // `image/jpg` is JPEG.
    client.caption(JPEG, "image/jpg", "Describe it.").unwrap();
    assert_eq!(image_of(&server.requests()[1]).unwrap().0, "image/jpeg");
}

#[test]
fn a_429_waits_for_its_retry_after_then_captions() {
    let server = FakeChat::start(|_, n| match n {
        0 => Script::status(429, "Rate limit reached").header("Retry-After", "9"),
        _ => Script::answer(&["a cat"]),
    });
    let (client, waits) = vision(&server, |_| {});
    assert_eq!(client.caption(PNG, "image/png", "p").unwrap().text, "a cat");
    assert_eq!(*waits.lock().unwrap(), vec![Duration::from_secs(9)]);
}

#[test]
fn rate_limits_stalls_and_server_errors_are_retry_later() {
    let throttled = FakeChat::always(Script::status(429, "slow down").header("Retry-After", "1"));
    let (client, _) = vision(&throttled, |o| o.chat.max_retries = 1);
    let err = client.caption(PNG, "image/png", "p").unwrap_err();
    assert!(err.retry_later(), "{err}");
    assert_eq!(err.code(), Code::ChatThrottled);
    assert_eq!(throttled.calls(), 2);

    let stalled = FakeChat::always(Script::answer(&["late"]).stalled(0, Duration::from_secs(30)));
    let (client, _) = vision(&stalled, |o| {
        o.chat.timeout = Duration::from_millis(300);
        o.chat.max_retries = 0;
    });
    let err = client.caption(PNG, "image/png", "p").unwrap_err();
    assert!(err.retry_later(), "{err}");
    assert_eq!(err.code(), Code::ChatTimeout, "{err}");

    let failing = FakeChat::always(Script::status(503, "overloaded"));
    let (client, _) = vision(&failing, |o| o.chat.max_retries = 0);
    for _ in 0..5 {
        let err = client.caption(PNG, "image/png", "p").unwrap_err();
        assert!(err.retry_later() && err.code() == Code::ChatUnavailable, "{err}");
    }
    // Five failures in a row open the breaker: refused without a request, still "later".
    let err = client.caption(PNG, "image/png", "p").unwrap_err();
    assert!(err.retry_later() && err.to_string().contains("not tried again"), "{err}");
    assert_eq!(failing.calls(), 5);
}

#[test]
fn a_400_and_images_the_model_cannot_take_are_permanent() {
    let server = FakeChat::always(Script::status(400, "Invalid image"));
    let (client, _) = vision(&server, |_| {});
    let err = client.caption(PNG, "image/png", "p").unwrap_err();
    assert!(!err.retry_later(), "{err}");
    assert_eq!(err.code(), Code::ChatRejected);
    assert!(err.to_string().contains("Invalid image") && err.to_string().contains("llm.models.vision"), "{err}");
    assert_eq!(server.calls(), 1, "not retried");

    let cases: [(&[u8], &str, &str); 3] = [
        (TIFF, "image/tiff", "convert it to PNG"),
        (JPEG, "image/png", "declared `image/png` but its bytes are `image/jpeg`"),
        (b"not an image at all", "image/webp", "bytes are not image/webp"),
    ];
    for (bytes, mime, says) in cases {
        let err = client.caption(bytes, mime, "p").unwrap_err();
        assert!(matches!(err, MediaError::Unsupported { .. }) && !err.retry_later(), "{err}");
        assert_eq!(err.code(), Code::UnsupportedMediaType);
        assert!(err.to_string().contains(says), "{err}");
    }
    let (small, _) = vision(&server, |o| o.max_image_bytes = 100);
    let err = small.caption(PNG, "image/png", "p").unwrap_err();
    assert!(err.to_string().contains("vision.max_image_bytes") && !err.retry_later(), "{err}");
    assert_eq!(server.calls(), 1, "nothing was sent for the refused images");

    let unknown = FakeChat::always(Script::status(404, "model not found"));
    let (client, _) = vision(&unknown, |_| {});
    let err = client.caption(PNG, "image/png", "p").unwrap_err();
    assert!(!err.retry_later() && err.to_string().contains("llm.models.vision"), "{err}");

    let blank = FakeChat::always(Script::answer(&["  "]));
    let (client, _) = vision(&blank, |_| {});
    let err = client.caption(PNG, "image/png", "p").unwrap_err();
    assert!(!err.retry_later() && err.to_string().contains("empty caption"), "{err}");
}

/// Speech by `espeak-ng` when it is installed, else one second of a generated 440 Hz tone,
/// as a 16-bit mono WAV.
fn speech() -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("speech.wav");
    let made = std::process::Command::new("espeak-ng")
        .args(["-w", path.to_str().unwrap(), "Trove keeps the recordings of the meeting."])
        .status()
        .is_ok_and(|s| s.success());
    if made {
        return std::fs::read(&path).unwrap();
    }
    let rate = 16_000u32;
    let samples: Vec<i16> =
        (0..rate).map(|i| ((i as f32 * 440.0 * std::f32::consts::TAU / rate as f32).sin() * 8000.0) as i16).collect();
    trove_chat::media::wav_pcm16(rate, &samples)
}

fn transcriber(server: &FakeWhisper, tune: impl FnOnce(&mut TranscriptionOptions)) -> TranscriptionClient {
    let mut chat = ChatOptions::new(&server.url(), "whisper-1", "llm");
    chat.api_key = Some("sk-secret".into());
    let mut opts = TranscriptionOptions::new(chat);
    tune(&mut opts);
    let (clock, sleep, _) = trove_http::testing::stepped_time();
    TranscriptionClient::with_time(opts, clock, sleep).unwrap()
}

#[test]
fn speech_is_uploaded_as_multipart_and_comes_back_as_timed_segments() {
    let audio = speech();
    let server = FakeWhisper::start(|_, _| {
        FakeWhisper::verbose_json(&[(0.0, 1.4, " Trove keeps the recordings"), (1.4, 2.6, " of the meeting.")])
    });
    let client = transcriber(&server, |o| o.language = Some("en".into()));
    let transcript = client.transcribe(&audio, "audio/x-wav", Some(Duration::from_secs(3))).unwrap();
    assert_eq!(transcript.text, "Trove keeps the recordings of the meeting.");
    assert_eq!(transcript.language.as_deref(), Some("english"));
    assert_eq!(transcript.model, "custom/whisper-1");
    assert_eq!(
        transcript.segments,
        vec![
            Segment { start: 0.0, end: 1.4, text: "Trove keeps the recordings".into() },
            Segment { start: 1.4, end: 2.6, text: "of the meeting.".into() },
        ]
    );
    assert_eq!(transcript.pieces(1000)[0].end, 2.6);

    let request = &server.requests()[0];
    assert_eq!(request.path, "/v1/audio/transcriptions");
    assert_eq!(request.header("authorization"), Some("Bearer sk-secret"));
    let upload = &server.uploads()[0];
    assert_eq!(upload.file, audio, "the audio arrives byte for byte");
    assert_eq!((upload.file_name.as_str(), upload.content_type.as_str()), ("audio.wav", "audio/wav"));
    assert_eq!(upload.field("model"), Some("whisper-1"));
    assert_eq!(upload.field("response_format"), Some("verbose_json"));
    assert_eq!(upload.field("timestamp_granularities[]"), Some("segment"));
    assert_eq!(upload.field("language"), Some("en"));
}

#[test]
fn a_server_without_segments_gives_one_piece_over_the_audio() {
    let server = FakeWhisper::start(|_, _| Reply::json(200, &serde_json::json!({"text": "hello there"})));
    let client = transcriber(&server, |_| {});
    let transcript = client.transcribe(&speech(), "audio/wav", Some(Duration::from_secs(2))).unwrap();
    assert_eq!(transcript.segments, vec![Segment { start: 0.0, end: 2.0, text: "hello there".into() }]);
}

#[test]
fn transcription_failures_are_classified_and_the_time_limit_grows_with_the_audio() {
    let audio = speech();
    let server = FakeWhisper::start(|_, n| match n {
        0 => FakeWhisper::status(429, "slow down").header("Retry-After", "2"),
        _ => FakeWhisper::verbose_json(&[(0.0, 1.0, "ok")]),
    });
    let client = transcriber(&server, |_| {});
    assert_eq!(client.transcribe(&audio, "audio/wav", None).unwrap().text, "ok");
    assert_eq!(server.requests().len(), 2);

    let client = transcriber(&server, |o| {
        o.base_timeout = Duration::from_secs(10);
        o.per_audio_second = Duration::from_millis(500);
    });
    assert_eq!(client.time_limit(Some(Duration::from_secs(600))), Duration::from_secs(310));
    assert_eq!(client.time_limit(None), Duration::from_secs(300), "unknown: the options' total_timeout");

    // A whole request longer than the limit for its (short) audio times out: retry later.
    let slow =
        FakeWhisper::start(|_, _| FakeWhisper::verbose_json(&[(0.0, 1.0, "late")]).delayed(Duration::from_secs(30)));
    let client = transcriber(&slow, |o| {
        o.base_timeout = Duration::from_millis(300);
        o.per_audio_second = Duration::from_millis(100);
        o.chat.max_retries = 0;
    });
    let started = std::time::Instant::now();
    let err = client.transcribe(&audio, "audio/wav", Some(Duration::from_secs(1))).unwrap_err();
    assert!(err.retry_later() && err.code() == Code::ChatTimeout, "{err}");
    assert!(started.elapsed() < Duration::from_secs(10), "{:?}", started.elapsed());

    let refused = FakeWhisper::start(|_, _| FakeWhisper::status(400, "Invalid file format"));
    let client = transcriber(&refused, |_| {});
    let err = client.transcribe(&audio, "audio/wav", None).unwrap_err();
    assert!(!err.retry_later() && err.to_string().contains("Invalid file format"), "{err}");
    assert!(err.to_string().contains("llm.models.transcription"), "{err}");
    let err = client.transcribe(PNG, "audio/wav", None).unwrap_err();
    assert!(matches!(err, MediaError::Unsupported { .. }) && err.to_string().contains("image/png"), "{err}");
    let err = client.transcribe(&audio, "audio/aiff", None).unwrap_err();
    assert!(err.to_string().contains("ffmpeg"), "{err}");
    assert_eq!(refused.requests().len(), 1, "nothing sent for refused files");
}

#[test]
fn azure_transcribes_at_its_deployment() {
    let server = FakeWhisper::start(|_, _| FakeWhisper::verbose_json(&[(0.0, 1.0, "hi")]));
    let mut chat = ChatOptions::new(&server.url(), "whisper-deploy", "llm");
    chat.protocol = trove_chat::ChatProtocol::Azure;
    chat.api_key = Some("azure-key".into());
    let client = TranscriptionClient::new(TranscriptionOptions::new(chat)).unwrap();
    client.transcribe(&speech(), "audio/wav", None).unwrap();
    let request = &server.requests()[0];
    assert_eq!(request.path, "/v1/openai/deployments/whisper-deploy/audio/transcriptions");
    assert_eq!(request.header("api-key"), Some("azure-key"));
}
