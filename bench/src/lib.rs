//! What the benchmark binaries share: reading BEIR SciFact (`corpus.jsonl`, `queries.jsonl`)
//! from `../shared/data`, and writing its abstracts as Markdown files for a workspace to
//! ingest (the data is read in place, never copied into the project); a `trove serve` child
//! process ([`serve`]); a process's CPU time and memory from `/proc` ([`procfs`]); and the
//! Python of the reference engines ([`bench_python`]).

pub mod procfs;
pub mod serve;

use std::io::BufRead;
use std::path::Path;

use std::collections::HashMap;

use anyhow::{Context, Result, bail};

/// One abstract of `corpus.jsonl`.
#[derive(Debug, serde::Deserialize)]
pub struct CorpusDoc {
    /// Document id.
    #[serde(rename = "_id")]
    pub id: String,
    /// Title.
    pub title: String,
    /// Abstract.
    pub text: String,
}

/// One query of `queries.jsonl`.
#[derive(Debug, serde::Deserialize)]
pub struct Query {
    /// Query id.
    #[serde(rename = "_id")]
    pub id: String,
    /// The question.
    pub text: String,
}

/// Every record of a JSON-lines file.
pub fn read_jsonl<T: serde::de::DeserializeOwned>(path: &Path) -> Result<Vec<T>> {
    let file = std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    std::io::BufReader::new(file)
        .lines()
        .enumerate()
        .map(|(i, l)| serde_json::from_str(&l?).with_context(|| format!("{}:{}", path.display(), i + 1)))
        .collect()
}

/// Writes up to `limit` abstracts of `corpus` into `dir` as `<id>.md` (the title as heading,
/// the abstract as body); returns how many.
pub fn write_corpus(corpus: &Path, dir: &Path, limit: Option<usize>) -> Result<usize> {
    let docs: Vec<CorpusDoc> = read_jsonl(corpus)?;
    let n = limit.unwrap_or(docs.len()).min(docs.len());
    for doc in &docs[..n] {
        std::fs::write(dir.join(format!("{}.md", doc.id)), format!("# {}\n\n{}\n", doc.title.trim(), doc.text.trim()))?;
    }
    Ok(n)
}

/// The test judgments (`qrels/test.tsv`): query id → document id → relevance (positive only).
pub fn read_qrels(path: &Path) -> Result<HashMap<String, HashMap<String, f64>>> {
    let mut out: HashMap<String, HashMap<String, f64>> = HashMap::new();
    for (i, line) in std::fs::read_to_string(path)?.lines().enumerate() {
        let cols: Vec<&str> = line.split('\t').collect();
        if i == 0 && cols.first() == Some(&"query-id") {
            continue;
        }
        if cols.len() != 3 {
            bail!("{}:{}: expected 3 tab-separated columns", path.display(), i + 1);
        }
        let score: f64 = cols[2].trim().parse()?;
        if score > 0.0 {
            out.entry(cols[0].to_string()).or_default().insert(cols[1].to_string(), score);
        }
    }
    Ok(out)
}

/// trec_eval nDCG: gain = relevance, discount log2(rank + 1), ideal from the judgments.
pub fn ndcg_at(ranked: &[String], rel: &HashMap<String, f64>, k: usize) -> f64 {
    let dcg: f64 = ranked
        .iter()
        .take(k)
        .enumerate()
        .map(|(i, d)| rel.get(d).copied().unwrap_or(0.0) / ((i + 2) as f64).log2())
        .sum();
    let mut ideal: Vec<f64> = rel.values().copied().collect();
    ideal.sort_by(|a, b| b.total_cmp(a));
    let idcg: f64 = ideal.iter().take(k).enumerate().map(|(i, g)| g / ((i + 2) as f64).log2()).sum();
    if idcg == 0.0 { 0.0 } else { dcg / idcg }
}

/// The share of the relevant documents among the first `k`.
pub fn recall_at(ranked: &[String], rel: &HashMap<String, f64>, k: usize) -> f64 {
    let found = ranked.iter().take(k).filter(|d| rel.contains_key(*d)).count();
    found as f64 / rel.len() as f64
}

/// The SciFact document ids of chunk-level hits, best first, each once (a document's rank is
/// that of its best chunk; files are named `<id>.md`).
pub fn ranked_documents(hits: &[trove_types::SearchHit]) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    hits.iter().map(|h| h.uri.trim_end_matches(".md").to_string()).filter(|id| seen.insert(id.clone())).collect()
}

/// The Python of `scripts/bench-venv` (PyTorch, sentence-transformers, transformers, ONNX
/// Runtime, Pillow), installing the virtualenv on first use.
pub fn bench_python() -> Result<std::path::PathBuf> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/bench-venv");
    let out = std::process::Command::new(&script)
        .stderr(std::process::Stdio::inherit())
        .output()
        .with_context(|| format!("cannot run {}", script.display()))?;
    if !out.status.success() {
        bail!("{} failed ({}): pass --python or --trove-only", script.display(), out.status);
    }
    Ok(std::path::PathBuf::from(String::from_utf8(out.stdout)?.trim()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_match_hand_computed_values() {
        let rel: HashMap<String, f64> = [("a".to_string(), 1.0), ("b".to_string(), 1.0)].into_iter().collect();
        let ranked: Vec<String> = ["x", "a", "y", "b"].iter().map(|s| s.to_string()).collect();
        let dcg = 1.0 / 3f64.log2() + 1.0 / 5f64.log2();
        let idcg = 1.0 + 1.0 / 3f64.log2();
        assert!((ndcg_at(&ranked, &rel, 10) - dcg / idcg).abs() < 1e-12);
        assert_eq!(recall_at(&ranked, &rel, 2), 0.5);
        assert_eq!(recall_at(&ranked, &rel, 100), 1.0);
        assert_eq!(ndcg_at(&[], &rel, 10), 0.0);
    }
}
