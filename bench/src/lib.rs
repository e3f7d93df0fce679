//! What the benchmark binaries share: reading BEIR SciFact (`corpus.jsonl`, `queries.jsonl`)
//! from `../shared/data`, and writing its abstracts as Markdown files for a workspace to
//! ingest. The data is read in place, never copied into the project.

use std::io::BufRead;
use std::path::Path;

use anyhow::{Context, Result};

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
