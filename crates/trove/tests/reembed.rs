//! Changing a vault's embedding model: a vault ingested with model A (a local server speaking
//! the OpenAI embeddings API), the configuration switched to model B (another dimension), then
//! `POST /v1/vaults/default/reembed` on `trove serve`. While the job runs, searches keep
//! answering with A (queries embedded by A) and memories written meanwhile are not lost; once
//! it succeeds, every vector is B's, queries are embedded by B, and nothing staged remains.
//! Also: a vault can name its own embedder, beside another vault on the built-in model.

#[path = "../../trove-embed/tests/support/embeddings_mock.rs"]
mod mock;
#[path = "support/served.rs"]
mod served;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use mock::{Mock, Reply};
use serde_json::Value;
use served::{Served, http, init};

const DIM_A: usize = 64;
const DIM_B: usize = 48;

fn trove(root: &Path, args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_trove"))
        .arg("--workspace")
        .arg(root)
        .args(args)
        .env_remove("TROVE_WORKSPACE")
        .env_remove("TROVE_CONFIG")
        .env_remove("HTTP_PROXY")
        .env_remove("http_proxy")
        .output()
        .unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "trove {args:?} failed: {text}");
    text
}

/// The workspace's `llm:` section naming `model` of `dim` dimensions on the mock.
fn use_model(root: &Path, url: &str, model: &str, dim: usize) {
    let config = root.join("config.yaml");
    let yaml = std::fs::read_to_string(&config).unwrap();
    let base = yaml.split("\nllm:\n").next().unwrap().replace("provider: builtin", "provider: llm");
    let llm = format!(
        "\nllm:\n  provider: custom\n  base_url: {url}/v1\n  models:\n    embeddings: {model}\n  embeddings:\n    \
         vector_size: {dim}\n    batch_size: 2\n  request:\n    timeout_s: 20\n    max_retries: 1\n"
    );
    std::fs::write(&config, base + &llm).unwrap();
}

fn search(addr: &str, query: &str) -> Value {
    let body = serde_json::json!({"query": query, "mode": "semantic", "limit": 3}).to_string();
    let (status, body) = http(addr, "POST", "/v1/vaults/default/search", Some(&body));
    assert_eq!(status, 200, "{body}");
    serde_json::from_str(&body).unwrap()
}

fn first_uri(hits: &Value) -> String {
    hits["hits"][0]["uri"].as_str().unwrap_or_default().to_string()
}

/// The model each embeddings request for `text` named, in order.
fn models_asked_for(server: &Mock, text: &str) -> Vec<String> {
    server
        .seen()
        .iter()
        .filter(|s| s.body["input"].as_array().is_some_and(|i| i.iter().any(|t| t == text)))
        .map(|s| s.body["model"].as_str().unwrap_or_default().to_string())
        .collect()
}

#[test]
fn a_vault_moves_from_model_a_to_model_b_while_searches_keep_answering() {
    // B answers slowly, so the job runs long enough to search during it.
    let server = Mock::start(
        false,
        vec![Reply::PerModel(vec![("model-a", Duration::ZERO, DIM_A), ("model-b", Duration::from_millis(250), DIM_B)])],
    );
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    init(root);
    let docs = root.join("docs");
    std::fs::remove_file(docs.join("welcome.md")).unwrap();
    let topics = [
        ("bicycle", "A bicycle chain needs oil after rain and mud."),
        ("kettle", "The kettle boils water for tea in the kitchen."),
        ("garden", "Tomatoes in the garden want sun and water every morning."),
        ("piano", "The piano needs tuning twice a year by a technician."),
        ("bread", "Knead the dough and let the bread rise overnight."),
        ("boat", "The boat hull is scraped and painted every spring."),
        ("camera", "Clean the camera lens with a soft dry cloth."),
        ("roof", "Roof tiles slip in storms and let the rain inside."),
    ];
    for (name, text) in topics {
        std::fs::write(docs.join(format!("{name}.md")), format!("# {name}\n\n{text}\n")).unwrap();
    }
    use_model(root, &server.url(), "model-a", DIM_A);
    trove(root, &["ingest"]);

    // The configuration now asks for model B.
    use_model(root, &server.url(), "model-b", DIM_B);
    let served = Served::start(root, &[]);
    let vault = served.get("/v1/vaults/default");
    assert_eq!(vault["model"], "custom/model-a", "{vault}");
    assert_eq!(vault["configured_model"], "custom/model-b", "{vault}");
    assert_eq!(served.get("/health")["components"]["indexes"]["status"], "degraded");
    // Before the re-embed, searches use A, which still made every vector.
    assert!(first_uri(&search(&served.addr, "oil for the bicycle chain")).ends_with("bicycle.md"));

    let (status, body) = http(&served.addr, "POST", "/v1/vaults/default/reembed", None);
    assert_eq!(status, 202, "{body}");
    let job: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(job["kind"], "reembed");
    let id = job["id"].as_str().unwrap().to_string();

    let deadline = Instant::now() + Duration::from_secs(120);
    let mut during = 0;
    let mut memory = None;
    loop {
        let before = served.get(&format!("/v1/jobs/{id}"));
        if before["status"] != "queued" && before["status"] != "running" {
            break;
        }
        if before["status"] == "running" {
            let hits = search(&served.addr, "tea kettle kitchen water");
            // Still re-embedding after the search (the switch clears `reembedding` in the
            // same transaction that changes the model): the search ran before the switch.
            let v = served.get("/v1/vaults/default");
            if v["reembedding"]["model"] == "custom/model-b" {
                assert!(first_uri(&hits).ends_with("kettle.md"), "a search during the re-embed: {hits}");
                during += 1;
                assert_eq!(v["model"], "custom/model-a", "switched before the end: {v}");
                if memory.is_none() {
                    // A memory written mid-way: embedded by A now, re-embedded by the job.
                    let body = r#"{"text": "the violin case lives under the stairs"}"#;
                    let (status, body) = http(&served.addr, "POST", "/v1/vaults/default/memories", Some(body));
                    assert_eq!(status, 201, "{body}");
                    memory = Some(serde_json::from_str::<Value>(&body).unwrap()["id"].as_str().unwrap().to_string());
                }
            }
        }
        assert!(Instant::now() < deadline, "the re-embed did not finish");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(during >= 1, "no search ran while the job was running");
    assert!(memory.is_some());
    // The queries made while the job was running were embedded by A (one more may have been
    // made as the job finished).
    let asked = models_asked_for(&server, "tea kettle kitchen water");
    assert!(asked.len() >= during && asked[..during].iter().all(|m| m == "model-a"), "{asked:?}");

    let job = served.wait_finished(&id);
    assert_eq!(job["status"], "succeeded", "{job}");
    assert_eq!(job["result"]["model"], "custom/model-b", "{job}");
    assert!(job["result"]["reembedded"].as_u64().unwrap() >= 9, "8 chunks and a memory: {job}");
    let vault = served.get("/v1/vaults/default");
    assert_eq!((vault["model"].as_str(), vault["dimension"].as_u64()), (Some("custom/model-b"), Some(DIM_B as u64)));
    assert!(vault["reembedding"].is_null(), "{vault}");
    assert_eq!(served.get("/health")["components"]["indexes"]["status"], "ok");

    // Afterwards queries are embedded by B, and rank by B's vectors.
    assert!(first_uri(&search(&served.addr, "boat hull scraped spring")).ends_with("boat.md"));
    assert_eq!(models_asked_for(&server, "boat hull scraped spring"), ["model-b"]);
    let body = r#"{"query": "where is the violin case", "mode": "semantic"}"#;
    let (status, body) = http(&served.addr, "POST", "/v1/vaults/default/memories/retrieve", Some(body));
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("violin case lives under the stairs"), "{body}");
    drop(served);

    // No vector of A's dimension remains, and nothing is left staged.
    let db = rusqlite::Connection::open(root.join(".trove/trove.db")).unwrap();
    let count = |sql: &str| db.query_row(sql, [], |r| r.get::<_, i64>(0)).unwrap();
    let width = (DIM_B * 4) as i64;
    assert_eq!(count("SELECT count(*) FROM chunks"), 8);
    assert_eq!(count(&format!("SELECT count(*) FROM chunks WHERE length(vector) != {width}")), 0);
    assert_eq!(count(&format!("SELECT count(*) FROM memories WHERE length(vector) != {width}")), 0);
    assert_eq!(count("SELECT count(*) FROM memories"), 1);
    assert_eq!(
        count("SELECT (SELECT count(staged_vector) FROM chunks) + (SELECT count(staged_vector) FROM memories)"),
        0
    );
    assert_eq!(count("SELECT count(*) FROM vaults WHERE staged_model IS NOT NULL"), 0);
}

#[test]
fn each_vault_uses_the_embedder_it_names() {
    let server = Mock::start(false, vec![Reply::PerModel(vec![("notes-model", Duration::ZERO, DIM_B)])]);
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    init(root);
    let docs = root.join("notes");
    std::fs::create_dir(&docs).unwrap();
    std::fs::write(docs.join("kettle.md"), "# Kettle\n\nThe kettle boils water for tea.\n").unwrap();
    let config = root.join("config.yaml");
    let yaml = std::fs::read_to_string(&config).unwrap();
    let extra = format!(
        "  notes:\n    embedder: remote\n    sources:\n      notes:\n        type: localfile\n        path: notes\n\
         embedders:\n  remote:\n    provider: custom\n    base_url: {}/v1\n    models:\n      embeddings: notes-model\n    \
         embeddings:\n      vector_size: {DIM_B}\n",
        server.url()
    );
    std::fs::write(&config, yaml + &extra).unwrap();
    trove(root, &["ingest"]);
    let status: Value = serde_json::from_str(&trove(root, &["status", "--json"])).unwrap();
    let model = |name: &str| {
        status.as_array().unwrap().iter().find(|v| v["name"] == name).map(|v| v["model"].clone()).unwrap_or_default()
    };
    assert_eq!(model("default"), "builtin/all-MiniLM-L6-v2", "{status}");
    assert_eq!(model("notes"), "custom/notes-model", "{status}");
    let out = trove(root, &["search", "--vault", "notes", "--mode", "semantic", "--json", "boiling water for tea"]);
    let hits: Value = serde_json::from_str(&out).unwrap();
    assert!(first_uri(&hits).ends_with("kettle.md"), "{hits}");
    assert!(!models_asked_for(&server, "boiling water for tea").is_empty());
}
