//! The SQL condition of a document filter, shared by every filtered chunk search: it selects
//! the documents whose chunks a keyword or vector search of the derived indexes may return.
//! (Keyword ranking itself, of chunks and of memories, is the in-memory BM25 index of
//! [`crate::bm25`]; no SQLite full-text table is used.)

use rusqlite::types::Value as SqlValue;

use crate::ChunkFilter;

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
