//! `scale --compare BEFORE.json AFTER.json`: the headline figures of two runs' JSON files side
//! by side, per size both measured, with the ratio after ÷ before (below 1 is faster or
//! smaller, except recall).

use std::fmt::Write;
use std::path::Path;

use anyhow::{Context, Result};
use serde_json::Value;

use crate::report::thousands;
use crate::trove::MODES;

/// (label, JSON pointer under a size's object, unit).
fn figures() -> Vec<(String, String, &'static str)> {
    let mut out = vec![
        ("ingest".to_string(), "/ingest/wall_s".to_string(), "s"),
        ("on disk".into(), "/disk_bytes".into(), "bytes"),
    ];
    for m in MODES {
        out.push((format!("new process, cache dropped: {m}"), format!("/cli_first/{m}/cold_cache/wall_s"), "s"));
    }
    for m in MODES {
        out.push((format!("new process, files cached: {m}"), format!("/cli_first/{m}/warm_cache/wall_s"), "s"));
        out.push((format!("new process RSS: {m}"), format!("/cli_first/{m}/warm_cache/max_rss_mb"), "MB"));
    }
    for m in MODES {
        out.push((format!("serve, first search: {m}"), format!("/serve_first/{m}/first_ms"), "ms"));
    }
    for m in MODES {
        out.push((format!("warm p50: {m}"), format!("/serve/modes/{m}/p50_ms"), "ms"));
        out.push((format!("warm p99: {m}"), format!("/serve/modes/{m}/p99_ms"), "ms"));
    }
    out.push(("recall@10, semantic".into(), "/recall_at_10".into(), ""));
    out.push(("RSS idle after the warm queries".into(), "/serve/rss_idle_mb".into(), "MB"));
    out.push(("of it anonymous (heap)".into(), "/serve/rss_idle_anon_mb".into(), "MB"));
    out.push(("RSS peak under load".into(), "/serve/load/rss_peak_mb".into(), "MB"));
    out.push(("adding 1,000 chunks".into(), "/add_1000/wall_s".into(), "s"));
    out
}

fn read(path: &Path) -> Result<Value> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("{} is not JSON", path.display()))
}

fn show(v: f64, unit: &str) -> String {
    match unit {
        "bytes" => format!("{:.2} GB", v / 1e9),
        "" => format!("{v:.3}"),
        _ if v >= 100.0 => format!("{v:.0} {unit}"),
        _ => format!("{v:.2} {unit}"),
    }
}

/// The Markdown comparison of two JSON files of this benchmark.
pub fn compare(before: &Path, after: &Path) -> Result<String> {
    let (b, a) = (read(before)?, read(after)?);
    let sizes = |v: &Value| v["sizes"].as_array().cloned().unwrap_or_default();
    let mut out = String::new();
    for sa in sizes(&a) {
        let Some(n) = sa["n"].as_u64() else { continue };
        let Some(sb) = sizes(&b).into_iter().find(|s| s["n"].as_u64() == Some(n)) else { continue };
        let _ = writeln!(out, "### {} chunks: {} → {}\n", thousands(n as usize), before.display(), after.display());
        let _ = writeln!(out, "| figure | before | after | after ÷ before |\n|---|---|---|---|");
        for (label, pointer, unit) in figures() {
            let (Some(x), Some(y)) =
                (sb.pointer(&pointer).and_then(Value::as_f64), sa.pointer(&pointer).and_then(Value::as_f64))
            else {
                continue;
            };
            let ratio = if x == 0.0 { "—".to_string() } else { format!("{:.2}", y / x) };
            let _ = writeln!(out, "| {label} | {} | {} | {ratio} |", show(x, unit), show(y, unit));
        }
        out.push('\n');
    }
    if out.is_empty() {
        out = format!("{} and {} measured no size in common\n", before.display(), after.display());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_of_common_sizes_are_compared() {
        let dir = tempfile::tempdir().unwrap();
        let size = |n: u64, ingest: f64, p50: f64| serde_json::json!({"n": n, "ingest": {"wall_s": ingest}, "serve": {"modes": {"keyword": {"p50_ms": p50}}}});
        let before = dir.path().join("b.json");
        let after = dir.path().join("a.json");
        std::fs::write(&before, serde_json::json!({"sizes": [size(1000, 10.0, 4.0), size(5, 1.0, 1.0)]}).to_string())
            .unwrap();
        std::fs::write(&after, serde_json::json!({"sizes": [size(1000, 5.0, 1.0)]}).to_string()).unwrap();
        let table = compare(&before, &after).unwrap();
        assert!(table.contains("### 1,000 chunks"), "{table}");
        assert!(table.contains("| ingest | 10.00 s | 5.00 s | 0.50 |"), "{table}");
        assert!(table.contains("| warm p50: keyword | 4.00 ms | 1.00 ms | 0.25 |"), "{table}");
        assert!(!table.contains("### 5 chunks"), "{table}");
        assert!(!table.contains("recall"), "absent figures are left out: {table}");
    }
}
