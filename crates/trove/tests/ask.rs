//! Answers from the real binary, against the fake OpenAI-compatible chat server on
//! 127.0.0.1:0: `trove ask` streams the answer with its numbered sources under it (and
//! `--json` prints the whole answer), `trove doctor --only chat` reaches the model, and
//! `trove serve` answers `POST /v1/vaults/{vault}/answer` as Server-Sent Events.

use std::path::Path;
use std::process::{Command, Output};

use trove_chat::testing::{FakeChat, Script};

#[path = "support/served.rs"]
mod served;

use served::{Served, http, init};

const TOMATOES: &str = "# Tomatoes\n\n## Watering\n\nWater tomato plants deeply twice a week at the base.\n";

/// A workspace from `trove init`, with `tomatoes.md` in its docs and `chat` as its chat
/// model, ingested.
fn workspace(dir: &Path, chat: &FakeChat) {
    init(dir);
    std::fs::write(dir.join("docs/tomatoes.md"), TOMATOES).unwrap();
    let config = std::fs::read_to_string(dir.join("config.yaml")).unwrap();
    let chat_models = format!(
        "\nchat_models:\n  fake:\n    provider: custom\n    base_url: {}\n    models: {{chat: fake-model}}\n    request: {{max_retries: 0}}\n",
        chat.url()
    );
    std::fs::write(dir.join("config.yaml"), config + &chat_models).unwrap();
    let ingest = trove(dir, &["ingest"]);
    assert!(ingest.status.success(), "{}", String::from_utf8_lossy(&ingest.stderr));
}

fn trove(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_trove"))
        .arg("--workspace")
        .arg(dir)
        .args(args)
        .env_remove("TROVE_WORKSPACE")
        .env_remove("TROVE_CONFIG")
        .env("NO_COLOR", "1")
        .output()
        .unwrap()
}

#[test]
fn trove_ask_prints_the_answer_then_its_numbered_sources() {
    let chat = FakeChat::always(Script::answer(&["Water them deeply ", "twice a week [1][3]."]));
    let dir = tempfile::tempdir().unwrap();
    workspace(dir.path(), &chat);

    let asked = trove(dir.path(), &["ask", "--mode", "keyword", "how often to water tomato plants"]);
    let stdout = String::from_utf8_lossy(&asked.stdout);
    assert!(asked.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&asked.stderr));
    let (answer, sources) = stdout.split_once("\n\nSources\n").unwrap_or_else(|| panic!("no sources: {stdout}"));
    // [3] named no source, so it was removed.
    assert_eq!(answer, "Water them deeply twice a week [1].");
    assert!(sources.starts_with("[1] Tomatoes  tomatoes.md › Tomatoes › Watering"), "{sources}");
    assert_eq!(chat.requests()[0].json()["stream"], true);

    let json = trove(dir.path(), &["ask", "--json", "--mode", "keyword", "how often to water tomato plants"]);
    assert!(json.status.success(), "{}", String::from_utf8_lossy(&json.stderr));
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(v["answer"], "Water them deeply twice a week [1].");
    assert_eq!(v["citations"][0]["uri"], "tomatoes.md");
    assert_eq!(v["model"], "custom/fake-model");

    let doctor = trove(dir.path(), &["doctor", "--only", "chat", "--json"]);
    let report = String::from_utf8_lossy(&doctor.stdout);
    assert_eq!(doctor.status.code(), Some(0), "{report}");
    assert!(report.contains("fake-model") && report.contains("answered in"), "{report}");
}

#[test]
fn trove_ask_without_a_chat_model_says_how_to_configure_one() {
    let dir = tempfile::tempdir().unwrap();
    init(dir.path());
    assert!(trove(dir.path(), &["ingest"]).status.success());
    let asked = trove(dir.path(), &["ask", "anything"]);
    let stderr = String::from_utf8_lossy(&asked.stderr);
    assert!(!asked.status.success());
    assert!(stderr.contains("llm.models.chat") && stderr.contains("chat_models"), "{stderr}");
}

#[test]
fn trove_serve_answers_over_http_as_server_sent_events() {
    let chat = FakeChat::always(Script::answer(&["Twice ", "a week [1]."]));
    let dir = tempfile::tempdir().unwrap();
    workspace(dir.path(), &chat);
    let served = Served::start(dir.path(), &[]);
    let body = r#"{"question": "how often to water tomato plants", "mode": "keyword", "stream": true}"#;
    let (status, text) = http(&served.addr, "POST", "/v1/vaults/default/answer", Some(body));
    assert_eq!(status, 200, "{text}");
    let citations = text.find("event: citations").expect("a citations event");
    let token = text.find("event: token").expect("a token event");
    let done = text.find("event: done").expect("a done event");
    assert!(citations < token && token < done, "{text}");
    assert!(text.contains("tomatoes.md") && text.contains("a week [1]."), "{text}");
}
