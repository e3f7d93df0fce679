//! The media models' checks. `vision` and `transcription`: the `llm:` section's
//! `models.vision` / `models.transcription`, reached by the same network steps as the chat
//! check ([`super::remote::reach`]), then asked once without retries: a caption of a small
//! generated PNG, a transcript of one second of generated silence (an empty transcript is an
//! answer: there is no speech in it). `clip`: the CLIP model folder found
//! ([`trove_embed::resolve_clip`]), loaded, and a text embedded with it.

use std::time::{Duration, Instant};

use trove_chat::{ChatOptions, MediaError, TranscriptionClient, VisionClient};
use trove_config::Workspace;

use super::remote::reach;
use super::{Outcome, fail, ok, skip};

/// A 32×32 red PNG, what the vision check asks about.
const PROBE_PNG: &[u8] = include_bytes!("probe.png");
/// The longest a probe may take.
const PROBE_TIMEOUT: Duration = Duration::from_secs(20);

/// The `vision` check.
pub fn vision(ws: &Workspace) -> Outcome {
    let Some(mut opts) = trove_engine::vision_options(&ws.config.llm) else {
        return skip("no vision model is configured (captions need llm.models.vision)");
    };
    opts.chat = probing(opts.chat);
    let reached = match reach_api(&opts.chat) {
        Ok(r) => r,
        Err(outcome) => return outcome,
    };
    let client = match VisionClient::new(opts.clone()) {
        Ok(c) => c,
        Err(e) => return fail(e.to_string(), "fix the setting named"),
    };
    let started = Instant::now();
    let outcome = match client.caption(PROBE_PNG, "image/png", "What colour is this square? One word.") {
        Ok(caption) => ok(format!(
            "{} at {}{}: captioned a test image in {:.0} ms (\"{}\")",
            opts.chat.model,
            opts.chat.base_url,
            reached.route,
            started.elapsed().as_secs_f64() * 1000.0,
            caption.text.chars().take(40).collect::<String>()
        )),
        Err(e) => media_failure(&e, &opts.chat),
    };
    reached.with_notes(outcome)
}

/// The `transcription` check.
pub fn transcription(ws: &Workspace) -> Outcome {
    let Some(mut opts) = trove_engine::transcription_options(&ws.config.llm) else {
        return skip("no transcription model is configured (speech to text needs llm.models.transcription)");
    };
    opts.chat = probing(opts.chat);
    opts.base_timeout = PROBE_TIMEOUT;
    let reached = match reach_api(&opts.chat) {
        Ok(r) => r,
        Err(outcome) => return outcome,
    };
    let client = match TranscriptionClient::new(opts.clone()) {
        Ok(c) => c,
        Err(e) => return fail(e.to_string(), "fix the setting named"),
    };
    let started = Instant::now();
    let answer = client.transcribe(&silence(), "audio/wav", Some(Duration::from_secs(1)));
    let took = started.elapsed().as_secs_f64() * 1000.0;
    let at = format!("{} at {}{}", opts.chat.model, opts.chat.base_url, reached.route);
    let outcome = match answer {
        Ok(_) | Err(MediaError::Empty { .. }) => {
            ok(format!("{at}: transcribed one second of test audio in {took:.0} ms"))
        }
        Err(e) => media_failure(&e, &opts.chat),
    };
    reached.with_notes(outcome)
}

/// The `clip` check.
pub fn clip(ws: &Workspace) -> Outcome {
    let configured = ws.config.embedder.clip.model_dir.as_deref();
    let dir = match trove_embed::resolve_clip(configured) {
        Ok(dir) => dir,
        Err(e) if configured.is_none() => {
            return skip(format!("no CLIP model is configured or installed ({e})"));
        }
        Err(e) => {
            return fail(
                e.to_string(),
                "install it there: `trove model install clip --dir DIR --url URL --sha256 HEX` (docs/models.md)",
            );
        }
    };
    let started = Instant::now();
    let model = match trove_embed::ClipModel::load(&dir) {
        Ok(m) => m,
        Err(e) => {
            return fail(
                e.to_string(),
                "reinstall it: `trove model install clip` (the files are damaged or not CLIP's)",
            );
        }
    };
    let loaded = started.elapsed().as_secs_f64() * 1000.0;
    match trove_embed::Embedder::embed(&model, &["a photo of a cat"]) {
        Ok(v) if v.first().is_some_and(|v| v.len() == model.dimension()) => {
            ok(format!("{} loaded in {loaded:.0} ms: {} dimensions, a text embedded", dir.display(), model.dimension()))
        }
        Ok(_) => {
            fail(format!("{}: the model returned no vector", dir.display()), "reinstall it: `trove model install clip`")
        }
        Err(e) => fail(e.to_string(), "reinstall it: `trove model install clip`"),
    }
}

/// `opts` for a probe: no retries, short time limits.
fn probing(mut opts: ChatOptions) -> ChatOptions {
    opts.max_retries = 0;
    opts.timeout = opts.timeout.min(Duration::from_secs(10));
    opts.total_timeout = PROBE_TIMEOUT;
    opts
}

fn reach_api(opts: &ChatOptions) -> Result<super::remote::Reached, Outcome> {
    reach(&opts.base_url, opts.proxy.as_deref(), opts.ca_file.as_deref(), opts.api_key.as_deref())
}

/// What a probe's failure means.
fn media_failure(e: &MediaError, opts: &ChatOptions) -> Outcome {
    match e {
        MediaError::Model(e) => super::chat::request_failure(e, opts),
        MediaError::Empty { .. } => {
            fail(e.to_string(), format!("{}.{} must name a model that takes images", opts.key, opts.role.setting()))
        }
        other => fail(other.to_string(), "report this as a bug: the probe's own file was refused"),
    }
}

/// One second of 16 kHz mono 16-bit silence as a WAV file.
fn silence() -> Vec<u8> {
    trove_chat::media::wav_pcm16(16_000, &[0; 16_000])
}

#[cfg(test)]
mod tests {
    use super::super::Status;
    use super::*;
    use trove_chat::testing::{FakeChat, FakeWhisper, Script};

    fn workspace(yaml: &str) -> (tempfile::TempDir, Workspace) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("config.yaml"), format!("log:\n  level: info\n{yaml}")).unwrap();
        let ws = Workspace::load(Some(dir.path()), None).unwrap();
        (dir, ws)
    }

    #[test]
    fn the_vision_check_captions_a_test_image_and_names_failures() {
        let (_d, ws) = workspace("");
        assert_eq!(vision(&ws).0, Status::Skip);
        let server = FakeChat::always(Script::answer(&["Red."]));
        let (_d, ws) = workspace(&format!(
            "llm:\n  provider: custom\n  base_url: {}\n  models: {{vision: llava}}\n",
            server.url()
        ));
        let (status, found, _) = vision(&ws);
        assert_eq!(status, Status::Ok, "{found}");
        assert!(found.contains("llava") && found.contains("\"Red.\""), "{found}");
        assert_eq!(trove_chat::testing::image_of(&server.requests()[0]).unwrap().0, "image/png");

        let server = FakeChat::always(Script::status(404, "no such model"));
        let (_d, ws) = workspace(&format!(
            "llm:\n  provider: custom\n  base_url: {}\n  models: {{vision: llava}}\n",
            server.url()
        ));
        let (status, found, fix) = vision(&ws);
        assert_eq!(status, Status::Fail, "{found}");
        assert!(fix.unwrap_or_default().contains("llm.models.vision"), "{found}");
        assert_eq!(server.calls(), 1, "the doctor does not retry");
    }

    #[test]
    fn the_transcription_check_sends_a_second_of_silence() {
        let (_d, ws) = workspace("");
        assert_eq!(transcription(&ws).0, Status::Skip);
        // Silence may come back empty: that is an answer.
        let server = FakeWhisper::start(|_, _| FakeWhisper::verbose_json(&[]));
        let (_d, ws) = workspace(&format!(
            "llm:\n  provider: custom\n  base_url: {}\n  models: {{transcription: whisper-1}}\n",
            server.url()
        ));
        let (status, found, _) = transcription(&ws);
        assert_eq!(status, Status::Ok, "{found}");
        assert_eq!(server.uploads()[0].file, silence());
        let server = FakeWhisper::start(|_, _| FakeWhisper::status(401, "bad key"));
        let (_d, ws) = workspace(&format!(
            "llm:\n  provider: custom\n  base_url: {}\n  models: {{transcription: whisper-1}}\n",
            server.url()
        ));
        let (status, found, fix) = transcription(&ws);
        assert_eq!(status, Status::Fail, "{found}");
        assert!(found.contains("401") && fix.unwrap_or_default().contains("llm.api_key"), "{found}");
    }

    #[test]
    fn the_clip_check_loads_the_configured_model() {
        let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../trove-embed/tests/fixtures/clip");
        let (_d, ws) = workspace(&format!("embedder:\n  clip:\n    model_dir: {}\n", fixtures.display()));
        let (status, found, _) = clip(&ws);
        assert_eq!(status, Status::Ok, "{found}");
        assert!(found.contains("dimensions, a text embedded"), "{found}");
        let empty = tempfile::tempdir().unwrap();
        let (_d, ws) = workspace(&format!("embedder:\n  clip:\n    model_dir: {}\n", empty.path().display()));
        let (status, found, fix) = clip(&ws);
        assert_eq!(status, Status::Fail, "{found}");
        assert!(
            found.contains("lacks model.safetensors") && fix.unwrap_or_default().contains("trove model install clip"),
            "{found}"
        );
    }
}
