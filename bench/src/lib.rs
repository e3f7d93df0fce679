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

/// The test judgments (`qrels/test.tsv`): query id → document id → relevance (positive only),
/// read as `trove eval` reads them.
pub fn read_qrels(path: &Path) -> Result<HashMap<String, HashMap<String, f64>>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    Ok(trove_engine::eval::parse_qrels(&text, &path.display().to_string())?)
}

pub use trove_engine::eval::{ndcg_at, recall_at};

/// The SciFact document ids of chunk-level hits, best first, each once (a document's rank is
/// that of its best chunk; files are named `<id>.md`).
pub fn ranked_documents(hits: &[trove_types::SearchHit]) -> Vec<String> {
    trove_engine::eval::ranked_documents(hits, &std::collections::HashSet::new())
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
