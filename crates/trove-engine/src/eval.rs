//! Retrieval quality on judged queries, as `trove eval` and the benchmarks measure it: BEIR's
//! files read as they are (queries as JSON lines with `_id` or `id` and `text`; judgments as
//! `query-id corpus-id score` lines, tab or space separated, with or without a header line,
//! or TREC's four columns `query-id iteration corpus-id score`), and trec_eval's nDCG@10,
//! Recall@100 and MRR over the documents a search ranks (one hit per document). A judged
//! `corpus-id` names a document by its URI, or by its URI without the file extension
//! (`31715818` for `31715818.md`).

use std::collections::{HashMap, HashSet};

use trove_types::{GroupBy, SearchHit};

use crate::access::{Access, perm};
use crate::search::SearchSettings;
use crate::{Engine, EngineError};

/// Judgments: query id → document id → relevance (positive relevances only).
pub type Judgments = HashMap<String, HashMap<String, f64>>;

/// Documents ranked per query: nDCG is cut at 10, recall and MRR at this many.
pub const DEPTH: usize = 100;
/// Queries searched together (embedded in one batch).
const BATCH: usize = 256;

/// One query of a queries file.
#[derive(Debug, Clone, PartialEq)]
pub struct JudgedQuery {
    /// Its id (`_id` or `id`; a number is read as its digits).
    pub id: String,
    /// The query text.
    pub text: String,
}

/// Mean scores over the judged queries.
#[derive(Debug, Clone, Copy, PartialEq, Default, serde::Serialize)]
pub struct EvalScores {
    /// Queries scored: those of the file with at least one positive judgment.
    pub queries: usize,
    /// nDCG@10 (gain = relevance, discount log2(rank + 1)).
    pub ndcg_at_10: f64,
    /// The share of each query's relevant documents among its first 100, averaged.
    pub recall_at_100: f64,
    /// 1 / the rank of the first relevant document (0 when none is in the first 100), averaged.
    pub mrr: f64,
}

fn bad(origin: &str, line: usize, what: String) -> EngineError {
    EngineError::BadRequest(format!("{origin}:{line}: {what}"))
}

/// The queries of a JSON-lines file's text (`origin` names it in errors); blank lines are
/// skipped.
pub fn parse_queries(text: &str, origin: &str) -> Result<Vec<JudgedQuery>, EngineError> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let shape = "each line must be a JSON object like {\"_id\": \"q1\", \"text\": \"...\"}";
        let value: serde_json::Value =
            serde_json::from_str(line).map_err(|e| bad(origin, i + 1, format!("{e}; {shape}")))?;
        let id = match value.get("_id").or_else(|| value.get("id")) {
            Some(serde_json::Value::String(s)) => s.clone(),
            Some(n @ serde_json::Value::Number(_)) => n.to_string(),
            _ => return Err(bad(origin, i + 1, format!("no `_id` (or `id`) string or number; {shape}"))),
        };
        let Some(text) = value.get("text").and_then(|t| t.as_str()) else {
            return Err(bad(origin, i + 1, format!("no `text` string; {shape}")));
        };
        out.push(JudgedQuery { id, text: text.to_string() });
    }
    Ok(out)
}

/// The judgments of a qrels file's text (`origin` names it in errors). A first line whose
/// score is not a number is a header; relevances of 0 or less are left out.
pub fn parse_qrels(text: &str, origin: &str) -> Result<Judgments, EngineError> {
    let mut out: Judgments = HashMap::new();
    for (i, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let cols: Vec<&str> = line.split_whitespace().collect();
        let (query, doc, score) = match cols.as_slice() {
            [q, d, s] | [q, _, d, s] => (*q, *d, *s),
            _ => {
                return Err(bad(
                    origin,
                    i + 1,
                    format!(
                        "expected `query-id corpus-id score` (or TREC's `query-id 0 corpus-id score`), got {} columns",
                        cols.len()
                    ),
                ));
            }
        };
        let score: f64 = match score.parse() {
            Ok(s) => s,
            Err(_) if i == 0 => continue, // a header such as `query-id corpus-id score`
            Err(_) => return Err(bad(origin, i + 1, format!("score `{score}` is not a number"))),
        };
        if score > 0.0 {
            out.entry(query.to_string()).or_default().insert(doc.to_string(), score);
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
    if rel.is_empty() {
        return 0.0;
    }
    let found = ranked.iter().take(k).filter(|d| rel.contains_key(*d)).count();
    found as f64 / rel.len() as f64
}

/// 1 / the rank of the first relevant document among the first `k`, or 0.
pub fn reciprocal_rank(ranked: &[String], rel: &HashMap<String, f64>, k: usize) -> f64 {
    ranked.iter().take(k).position(|d| rel.contains_key(d)).map_or(0.0, |i| 1.0 / (i + 1) as f64)
}

/// The document a judgment names for a hit's URI: the URI itself when some judgment names
/// it, else the URI without its file extension.
fn document_key(uri: &str, judged: &HashSet<&str>) -> String {
    if judged.contains(uri) {
        return uri.to_string();
    }
    let name_start = uri.rfind('/').map_or(0, |i| i + 1);
    match uri[name_start..].rfind('.') {
        Some(dot) if dot > 0 => uri[..name_start + dot].to_string(),
        _ => uri.to_string(),
    }
}

/// The documents of hits, best first, each once (a document's rank is its best chunk's).
pub fn ranked_documents(hits: &[SearchHit], judged: &HashSet<&str>) -> Vec<String> {
    let mut seen = HashSet::new();
    hits.iter().map(|h| document_key(&h.uri, judged)).filter(|d| seen.insert(d.clone())).collect()
}

impl Engine {
    /// Scores `settings` (its mode, filter and fusion; results are always the first
    /// [`DEPTH`] documents) on the queries that have judgments.
    pub fn evaluate(
        &self,
        access: &Access<perm::Search>,
        queries: &[JudgedQuery],
        judgments: &Judgments,
        settings: &SearchSettings,
    ) -> Result<EvalScores, EngineError> {
        let judged: Vec<&JudgedQuery> = queries.iter().filter(|q| judgments.contains_key(&q.id)).collect();
        let known: HashSet<&str> = judgments.values().flat_map(|r| r.keys().map(String::as_str)).collect();
        let settings = SearchSettings {
            limit: Some(DEPTH),
            offset: None,
            group_by: GroupBy::Document,
            context: None,
            ..settings.clone()
        };
        let mut sum = EvalScores::default();
        for batch in judged.chunks(BATCH) {
            let texts: Vec<String> = batch.iter().map(|q| q.text.clone()).collect();
            let answers = self.search_batch(access, &settings, &texts)?;
            for (q, a) in batch.iter().zip(&answers) {
                let docs = ranked_documents(&a.hits, &known);
                let rel = &judgments[&q.id];
                sum.ndcg_at_10 += ndcg_at(&docs, rel, 10);
                sum.recall_at_100 += recall_at(&docs, rel, DEPTH);
                sum.mrr += reciprocal_rank(&docs, rel, DEPTH);
            }
        }
        let n = judged.len().max(1) as f64;
        Ok(EvalScores {
            queries: judged.len(),
            ndcg_at_10: sum.ndcg_at_10 / n,
            recall_at_100: sum.recall_at_100 / n,
            mrr: sum.mrr / n,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rel(ids: &[(&str, f64)]) -> HashMap<String, f64> {
        ids.iter().map(|(d, s)| (d.to_string(), *s)).collect()
    }

    fn docs(ids: &[&str]) -> Vec<String> {
        ids.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn metrics_match_hand_computed_values() {
        let r = rel(&[("a", 1.0), ("b", 1.0)]);
        let ranked = docs(&["x", "a", "y", "b"]);
        let dcg = 1.0 / 3f64.log2() + 1.0 / 5f64.log2();
        let idcg = 1.0 + 1.0 / 3f64.log2();
        assert!((ndcg_at(&ranked, &r, 10) - dcg / idcg).abs() < 1e-12);
        assert_eq!(recall_at(&ranked, &r, 2), 0.5);
        assert_eq!(recall_at(&ranked, &r, 100), 1.0);
        assert_eq!(reciprocal_rank(&ranked, &r, 100), 0.5);
        assert_eq!(reciprocal_rank(&ranked, &r, 1), 0.0);
        assert_eq!(ndcg_at(&[], &r, 10), 0.0);
        // Graded relevance: the ideal puts the 2 first.
        let graded = rel(&[("a", 1.0), ("b", 2.0)]);
        let got = ndcg_at(&docs(&["a", "b"]), &graded, 10);
        let want = (1.0 + 2.0 / 3f64.log2()) / (2.0 + 1.0 / 3f64.log2());
        assert!((got - want).abs() < 1e-12);
    }

    #[test]
    fn qrels_are_read_with_or_without_a_header_and_in_trec_form() {
        let beir = parse_qrels("query-id\tcorpus-id\tscore\n1\tdoc1\t1\n1\tdoc2\t0\n2\tdoc3\t2\n", "q.tsv").unwrap();
        assert_eq!(beir["1"], rel(&[("doc1", 1.0)]), "a relevance of 0 is left out");
        assert_eq!(beir["2"], rel(&[("doc3", 2.0)]));
        let bare = parse_qrels("1 doc1 1\n\n1 doc2 1\n", "q.tsv").unwrap();
        assert_eq!(bare["1"].len(), 2);
        let trec = parse_qrels("1 0 doc1 1\n", "q.txt").unwrap();
        assert_eq!(trec["1"], rel(&[("doc1", 1.0)]));
        let e = parse_qrels("1 doc1 1\n2 doc2 high\n", "q.tsv").unwrap_err().to_string();
        assert!(e.contains("q.tsv:2") && e.contains("`high` is not a number"), "{e}");
        let e = parse_qrels("1 doc1\n", "q.tsv").unwrap_err().to_string();
        assert!(e.contains("q.tsv:1") && e.contains("2 columns"), "{e}");
    }

    #[test]
    fn queries_take_beir_ids_or_plain_ones() {
        let q =
            parse_queries("{\"_id\": \"7\", \"text\": \"a\"}\n\n{\"id\": 8, \"text\": \"b\"}\n", "q.jsonl").unwrap();
        assert_eq!(
            q,
            [JudgedQuery { id: "7".into(), text: "a".into() }, JudgedQuery { id: "8".into(), text: "b".into() }]
        );
        let e = parse_queries("{\"_id\": \"7\"}\n", "q.jsonl").unwrap_err().to_string();
        assert!(e.contains("q.jsonl:1") && e.contains("`text`"), "{e}");
        assert!(parse_queries("not json\n", "q.jsonl").is_err());
    }

    #[test]
    fn judged_ids_name_documents_by_uri_or_by_uri_without_extension() {
        let judged: HashSet<&str> = ["guides/a.md", "b"].into_iter().collect();
        assert_eq!(document_key("guides/a.md", &judged), "guides/a.md");
        assert_eq!(document_key("b.md", &judged), "b");
        assert_eq!(document_key("dir.v2/c", &judged), "dir.v2/c");
        assert_eq!(document_key(".hidden", &judged), ".hidden");
    }
}
