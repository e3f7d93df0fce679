//! Keyword queries for the FTS5 index of memories: free text becomes a safe FTS5 query (every
//! word quoted, English stopwords dropped unless nothing else is left), and keyword search
//! ranks inside FTS5 first and only then checks the few best rows' vault and filter. Also the
//! SQL condition of a document filter, shared with every filtered search. (Chunks are ranked
//! by the in-memory index of [`crate::bm25`].)
//!
//! Stopwords are dropped on the query side only; the index keeps every word, so a query made
//! only of stopwords ("the who", "to be or not to be") still finds what contains them.

use rusqlite::types::Value as SqlValue;
use rusqlite::{Connection, params};

use crate::{ChunkFilter, Scored, StoreError};

/// How many FTS5 candidates per wanted hit are ranked before the vault and filter checks;
/// when too few survive the checks, every match is ranked and filtered in SQL instead.
const OVERSAMPLE: usize = 4;

/// Turns free text into an FTS5 query: every word quoted (so no operator syntax can leak
/// in), stopwords dropped unless the text has nothing else, joined with OR. `None` when the
/// text has no searchable word.
pub(crate) fn fts_query(text: &str) -> Option<String> {
    let terms = crate::bm25::Analyzer::query_words(text);
    if terms.is_empty() {
        return None;
    }
    Some(terms.iter().map(|t| format!("\"{t}\"")).collect::<Vec<_>>().join(" OR "))
}

/// An FTS5 table that [`best_passing`] ranks.
#[derive(Debug, Clone, Copy)]
pub(crate) enum FtsTable {
    /// `memories_fts`, keyed by memory rowid.
    Memories,
}

impl FtsTable {
    fn ranked_sql(self) -> &'static str {
        match self {
            FtsTable::Memories => {
                "SELECT rowid, bm25(memories_fts) AS s FROM memories_fts WHERE memories_fts MATCH ?1 ORDER BY s, rowid LIMIT ?2"
            }
        }
    }
}

/// A row of a ranking query as a hit: FTS5's bm25() is negative, lower is better; flip it so
/// higher is better.
pub(crate) fn scored(r: &rusqlite::Row<'_>) -> rusqlite::Result<Scored> {
    Ok(Scored { id: r.get(0)?, score: -(r.get::<_, f64>(1)? as f32) })
}

/// The best `window` matches of `query` in the whole of `table`, best first.
fn ranked_candidates(
    conn: &Connection,
    table: FtsTable,
    query: &str,
    window: usize,
) -> Result<Vec<Scored>, StoreError> {
    let mut stmt = conn.prepare_cached(table.ranked_sql())?;
    let rows = stmt.query_map(params![query, i64::try_from(window).unwrap_or(i64::MAX)], scored)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// The best `limit` matches of `query` (an [`fts_query`]) in `table` that pass `passes`, best
/// first. FTS5 ranks a window of the best `limit * OVERSAMPLE` matches of the whole table and
/// only those are checked, which is all a search needs when most rows pass (one vault, no
/// narrow filter). When too few pass and more matches exist, `everything` answers instead,
/// ranking and filtering every match in SQL. Runs in one read transaction, so both see the
/// same snapshot.
pub(crate) fn best_passing(
    conn: &Connection,
    table: FtsTable,
    query: &str,
    limit: usize,
    mut passes: impl FnMut(&Connection, i64) -> Result<bool, StoreError>,
    everything: impl FnOnce(&Connection) -> Result<Vec<Scored>, StoreError>,
) -> Result<Vec<Scored>, StoreError> {
    let tx = conn.unchecked_transaction()?;
    let window = limit.saturating_mul(OVERSAMPLE);
    let candidates = ranked_candidates(&tx, table, query, window)?;
    let mut out = Vec::with_capacity(limit);
    for candidate in &candidates {
        if out.len() == limit {
            break;
        }
        if passes(&tx, candidate.id)? {
            out.push(*candidate);
        }
    }
    if out.len() < limit && candidates.len() == window {
        out = everything(&tx)?;
    }
    tx.finish()?;
    Ok(out)
}

/// The SQL condition (on the documents alias `d`) and its parameters for a filter; `1` when
/// it filters nothing.
pub(crate) fn document_condition(filter: &ChunkFilter) -> (String, Vec<SqlValue>) {
    let mut parts = Vec::new();
    let mut args: Vec<SqlValue> = Vec::new();
    if let Some(s) = &filter.source {
        parts.push("d.source = ?".to_string());
        args.push(s.clone().into());
    }
    if let Some(p) = &filter.uri_prefix {
        parts.push("substr(d.uri, 1, length(?)) = ?".to_string());
        args.push(p.clone().into());
        args.push(p.clone().into());
    }
    for (key, value) in &filter.metadata {
        // A scalar at the key, or an element of an array there; json_each yields one row for
        // a scalar and one per element for an array.
        parts.push("EXISTS (SELECT 1 FROM json_each(d.metadata, ?) WHERE json_each.value = ?)".to_string());
        args.push(format!("$.\"{key}\"").into());
        args.push(match value {
            serde_json::Value::Bool(b) => SqlValue::Integer(*b as i64),
            serde_json::Value::Number(n) => match n.as_i64() {
                Some(i) => SqlValue::Integer(i),
                None => SqlValue::Real(n.as_f64().unwrap_or(f64::NAN)),
            },
            serde_json::Value::String(s) => SqlValue::Text(s.clone()),
            // Not scalars: the engine refuses them before they get here; match nothing.
            _ => SqlValue::Null,
        });
    }
    if parts.is_empty() { ("1".to_string(), args) } else { (parts.join(" AND "), args) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fts_query_quotes_every_word_and_drops_stopwords() {
        // "and" and "not" are stopwords beside real words; operators cannot leak in either way.
        assert_eq!(fts_query("Hello, \"world\" AND NOT x*").unwrap(), "\"hello\" OR \"world\" OR \"x\"");
        assert_eq!(
            fts_query("the effect of vitamin D on bones").unwrap(),
            "\"effect\" OR \"vitamin\" OR \"d\" OR \"bones\""
        );
        assert_eq!(fts_query("  !!! "), None);
    }

    #[test]
    fn fts_query_keeps_stopwords_when_nothing_else_is_left() {
        assert_eq!(fts_query("a a A").unwrap(), "\"a\"");
        assert_eq!(fts_query("The Who").unwrap(), "\"who\"");
        assert_eq!(fts_query("the of in and a").unwrap(), "\"the\" OR \"of\" OR \"in\" OR \"and\" OR \"a\"");
        assert_eq!(fts_query("to be or not to be").unwrap(), "\"to\" OR \"be\" OR \"or\" OR \"not\"");
    }

    #[test]
    fn fts_query_keeps_at_most_max_terms() {
        let text: Vec<String> = (0..100).map(|i| format!("w{i}")).collect();
        let q = fts_query(&text.join(" ")).unwrap();
        assert_eq!(q.matches(" OR ").count(), crate::bm25::MAX_QUERY_TERMS - 1);
    }
}
