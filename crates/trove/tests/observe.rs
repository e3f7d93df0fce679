//! The monitoring files under `deploy/`: the alert rules pass `promtool check rules`
//! (Debian's `prometheus` package, installed by `scripts/observe-deps`, found through
//! `$TROVE_PROMTOOL`), and every Trove metric that the rules (`deploy/prometheus/alerts.yml`)
//! and the Grafana dashboard (`deploy/grafana/trove.json`) use is in the `/metrics` of a real
//! server after some work: on the embedded store, on PostgreSQL (the `trove_store_*`
//! connection figures) and, when `TROVE_TEST_QDRANT_URL` names a Qdrant server, on
//! PostgreSQL + Qdrant (the `trove_vector_index_*` figures). The few metrics of other exporters
//! (node_exporter's disk space, blackbox_exporter's certificate expiry, Prometheus's `up`) are
//! listed here, so a new one is a decision.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use trove_store_postgres::testing::PgServer;

#[path = "support/run.rs"]
mod run;
#[path = "support/served.rs"]
mod served;

use served::{Served, http};

/// Metrics that come from other exporters than Trove.
const OTHER_EXPORTERS: &[&str] =
    &["node_filesystem_avail_bytes", "node_filesystem_size_bytes", "probe_ssl_earliest_cert_expiry", "up"];

/// Metrics only a server with an external vector index (Qdrant) exports.
const QDRANT_ONLY: &str = "trove_vector_index_";

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn read(path: &str) -> String {
    std::fs::read_to_string(repo().join(path)).unwrap()
}

/// The metric names a PromQL-bearing text uses: `trove_*` anywhere, and the other exporters'
/// names where they stand as a metric (before `{`, `[` or a space).
fn used_metrics(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let bytes = text.as_bytes();
    let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let mut i = 0;
    while i < bytes.len() {
        if word(bytes[i]) && (i == 0 || !word(bytes[i - 1])) {
            let start = i;
            while i < bytes.len() && word(bytes[i]) {
                i += 1;
            }
            let name = &text[start..i];
            let next = bytes.get(i).copied();
            let is_metric_use = matches!(next, Some(b'{' | b'['));
            let other = name.starts_with("node_") || name.starts_with("probe_") || name == "up";
            if (name.starts_with("trove_") && name.len() > 6) || (is_metric_use && other) {
                out.insert(name.to_string());
            }
        } else {
            i += 1;
        }
    }
    out
}

/// The names `/metrics` shows: every sample's, every family's, and a histogram family's
/// `_bucket`, `_count` and `_sum`.
fn exported(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let mut parts = rest.split_whitespace();
            let (name, kind) = (parts.next().unwrap(), parts.next().unwrap_or(""));
            out.insert(name.to_string());
            if kind == "histogram" {
                for suffix in ["_bucket", "_count", "_sum"] {
                    out.insert(format!("{name}{suffix}"));
                }
            }
        } else if !line.starts_with('#') && !line.is_empty() {
            let end = line.find(['{', ' ']).unwrap_or(line.len());
            out.insert(line[..end].to_string());
        }
    }
    out
}

fn post(addr: &str, path: &str, body: &str) -> serde_json::Value {
    let (status, text) = http(addr, "POST", path, Some(body));
    assert!(status < 300, "POST {path}: {status} {text}");
    serde_json::from_str(&text).unwrap()
}

/// Makes a server do what every panel and rule counts: an upload that succeeds and one that
/// dies, a search, a memory retrieval, an answer refused; answers its `/metrics`.
fn worked_metrics(served: &Served) -> BTreeSet<String> {
    let addr = &served.addr;
    post(addr, "/v1/vaults", r#"{"name":"watched"}"#);
    let good = r##"{"documents":[{"uri":"a.md","text":"# Tomatoes\n\nWater them twice a week."}]}"##;
    let bad = r#"{"documents":[{"uri":"bad.json","text":"{not json","format":"json"}]}"#;
    for (body, want) in [(good, "succeeded"), (bad, "dead")] {
        let job = post(addr, "/v1/vaults/watched/documents", body);
        let done = served.wait_finished(job["id"].as_str().unwrap());
        assert_eq!(done["status"], want, "{done}");
    }
    post(addr, "/v1/vaults/watched/search", r#"{"query":"watering tomatoes"}"#);
    post(addr, "/v1/vaults/watched/memories", r#"{"text":"Ada likes tea","user_id":"ada"}"#);
    post(addr, "/v1/vaults/watched/memories/retrieve", r#"{"query":"tea","user_id":"ada"}"#);
    let (status, text) = http(addr, "POST", "/v1/vaults/watched/answer", Some(r#"{"question":"how to water?"}"#));
    assert!(
        status >= 400 && text.contains("chat_not_configured"),
        "an answer without a chat model is refused: {status} {text}"
    );
    let (status, text) = http(addr, "GET", "/metrics", None);
    assert_eq!(status, 200, "{text}");
    exported(&text)
}

fn serve_with(config: &str) -> (tempfile::TempDir, Served) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("config.yaml"), config).unwrap();
    let served = Served::start(dir.path(), &[]);
    (dir, served)
}

fn postgres_config(url: &str, qdrant: Option<&str>) -> String {
    let qdrant = qdrant.map(|q| format!("  qdrant:\n    url: {q}\n")).unwrap_or_default();
    format!("storage:\n  backend: postgres\n  postgres:\n    url: {url}\n    pool_size: 4\n{qdrant}")
}

/// The metrics the rules and the dashboard use, with the file each comes from.
fn used() -> Vec<(String, &'static str)> {
    let mut out = Vec::new();
    for file in ["deploy/prometheus/alerts.yml", "deploy/grafana/trove.json"] {
        out.extend(used_metrics(&read(file)).into_iter().map(|m| (m, file)));
    }
    out
}

#[test]
fn the_alert_rules_pass_promtool() {
    let promtool = std::env::var_os("TROVE_PROMTOOL").expect(
        "TROVE_PROMTOOL is not set: run the tests with scripts/test, which installs Debian's prometheus package (scripts/observe-deps)",
    );
    let out = Command::new(promtool)
        .args(["check", "rules"])
        .arg(repo().join("deploy/prometheus/alerts.yml"))
        .output()
        .expect("promtool runs");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{text}");
    assert!(text.contains("SUCCESS"), "{text}");
}

#[test]
fn the_dashboard_is_grafana_json_whose_panels_all_query() {
    let dashboard: serde_json::Value = serde_json::from_str(&read("deploy/grafana/trove.json")).unwrap();
    assert_eq!(dashboard["uid"], "trove-overview");
    let panels = dashboard["panels"].as_array().unwrap();
    let mut ids = BTreeSet::new();
    for p in panels {
        assert!(ids.insert(p["id"].as_u64().unwrap()), "two panels share id {}", p["id"]);
        if p["type"] != "row" {
            let targets = p["targets"].as_array().unwrap();
            assert!(!targets.is_empty(), "panel {} has no query", p["title"]);
            assert!(targets.iter().all(|t| t["expr"].as_str().is_some_and(|e| !e.is_empty())), "{p}");
        }
    }
}

#[test]
fn every_metric_the_rules_and_dashboard_use_is_exported() {
    let (_dir, embedded) = serve_with("vaults: {}\n");
    let mut seen = worked_metrics(&embedded);
    let pg = PgServer::start();
    let (_pg_dir, on_pg) = serve_with(&postgres_config(&pg.create_database(), None));
    seen.extend(worked_metrics(&on_pg));

    let mut missing = Vec::new();
    for (metric, file) in used() {
        let other = OTHER_EXPORTERS.contains(&metric.as_str());
        if !other && !metric.starts_with("trove_") {
            missing.push(format!("{metric} ({file}) is neither Trove's nor in OTHER_EXPORTERS"));
        } else if metric.starts_with("trove_") && !metric.starts_with(QDRANT_ONLY) && !seen.contains(&metric) {
            missing.push(format!("{metric} ({file}) is not in /metrics"));
        }
    }
    assert!(missing.is_empty(), "{missing:#?}\nexported: {seen:#?}");
    let used: BTreeSet<String> = used().into_iter().map(|(m, _)| m).collect();
    for other in OTHER_EXPORTERS {
        assert!(used.contains(*other), "{other} is listed in OTHER_EXPORTERS but no longer used");
    }
    assert!(used.iter().any(|m| m.starts_with(QDRANT_ONLY)), "the Qdrant figures are no longer used");
}

/// With a real Qdrant (`TROVE_TEST_QDRANT_URL`): the `trove_vector_index_*` figures the rules
/// and the dashboard use are exported by a server on PostgreSQL + Qdrant.
#[test]
#[ignore = "needs a Qdrant server: set TROVE_TEST_QDRANT_URL, and scripts/test runs it"]
fn the_vector_index_metrics_are_exported_with_qdrant() {
    let qdrant = std::env::var("TROVE_TEST_QDRANT_URL").expect("TROVE_TEST_QDRANT_URL names a Qdrant server");
    let pg = PgServer::start();
    let (_dir, served) = serve_with(&postgres_config(&pg.create_database(), Some(&qdrant)));
    let seen = worked_metrics(&served);
    let wanted: Vec<String> = used().into_iter().map(|(m, _)| m).filter(|m| m.starts_with(QDRANT_ONLY)).collect();
    let missing: Vec<&String> = wanted.iter().filter(|m| !seen.contains(*m)).collect();
    assert!(missing.is_empty(), "{missing:?} not in /metrics: {seen:#?}");
}

#[test]
fn used_metrics_reads_names_from_promql() {
    let names = used_metrics(
        r#"expr: rate(trove_a_total[5m]) > 0 and up{job="x"} == 0 or node_fs_bytes{m="/"} / node_other
description: "uptime of trove_b", a node_word and up to"#,
    );
    let want: BTreeSet<String> = ["trove_a_total", "up", "node_fs_bytes", "trove_b"].map(String::from).into();
    assert_eq!(names, want);
}
