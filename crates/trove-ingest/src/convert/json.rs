//! JSON to readable text. A top-level object gives one block per key (keys in sorted order), a
//! top-level array one block per element, a scalar one block; each block lists the leaves as
//! `dotted.path: value` lines (array elements as `path[i]`, short arrays of scalars inline as
//! `path: a, b, c`). Invalid JSON is a [`IngestError::InvalidJson`] naming line and column.

use serde_json::Value;

use crate::document::{Block, BlockKind, ParsedDocument};
use crate::error::IngestError;

/// Arrays of scalars whose rendering is at most this long are written on one line.
const INLINE_ARRAY_CHARS: usize = 200;

/// Converts a JSON document.
pub(super) fn convert(uri: &str, text: &str) -> Result<ParsedDocument, IngestError> {
    let value: Value = serde_json::from_str(text).map_err(|e| IngestError::InvalidJson {
        uri: uri.to_string(),
        line: e.line(),
        column: e.column(),
        message: e.to_string(),
    })?;
    let mut blocks = Vec::new();
    match &value {
        Value::Object(map) => {
            for (key, v) in map {
                blocks.push(block(key_path("", key), v));
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                blocks.push(block(format!("[{i}]"), v));
            }
        }
        scalar => blocks.push(Block::new(BlockKind::List, scalar_text(scalar))),
    }
    Ok(ParsedDocument { title: String::new(), blocks, metadata: Default::default() })
}

fn block(path: String, value: &Value) -> Block {
    let mut lines = Vec::new();
    flatten(&path, value, &mut lines);
    Block::new(BlockKind::List, lines.join("\n"))
}

/// Appends `path: value` lines for every leaf under `value`. serde_json refuses documents
/// nested more than 128 levels deep, which bounds the recursion.
fn flatten(path: &str, value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) if map.is_empty() => out.push(format!("{path}: {{}}")),
        Value::Object(map) => {
            for (key, v) in map {
                flatten(&key_path(path, key), v, out);
            }
        }
        Value::Array(items) if items.is_empty() => out.push(format!("{path}: []")),
        Value::Array(items) => {
            if items.iter().all(|v| !v.is_object() && !v.is_array()) {
                let inline = items.iter().map(scalar_text).collect::<Vec<_>>().join(", ");
                if inline.chars().count() <= INLINE_ARRAY_CHARS {
                    out.push(format!("{path}: {inline}"));
                    return;
                }
            }
            for (i, v) in items.iter().enumerate() {
                flatten(&format!("{path}[{i}]"), v, out);
            }
        }
        scalar => out.push(format!("{path}: {}", scalar_text(scalar))),
    }
}

/// Joins a key onto a path with a dot; keys that would be ambiguous are quoted.
fn key_path(path: &str, key: &str) -> String {
    let plain = !key.is_empty() && !key.contains(['.', '[', ']', ':', '"', '\n']) && key.trim() == key;
    let key = if plain { key.to_string() } else { format!("{key:?}") };
    if path.is_empty() { key } else { format!("{path}.{key}") }
}

fn scalar_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "null".into(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use crate::convert::convert_str;
    use crate::document::BlockKind;
    use crate::error::IngestError;
    use crate::format::Format;
    use trove_types::{Code, HasCode};

    #[test]
    fn object_becomes_one_block_per_key_with_dotted_paths() {
        let json = r#"{
            "name": "trove",
            "version": 3,
            "server": {"host": "localhost", "ports": [8080, 8081], "tls": {"enabled": false}},
            "vaults": [{"name": "notes", "tags": []}, {"name": "work", "extra": null}],
            "empty": {},
            "odd.key": "x"
        }"#;
        let doc = convert_str("conf/app.json", json, &Format::Json).unwrap();
        assert_eq!(doc.title, "app.json");
        let texts: Vec<_> = doc.blocks.iter().map(|b| b.text.as_str()).collect();
        assert_eq!(
            texts,
            [
                "empty: {}",
                "name: trove",
                "\"odd.key\": x",
                "server.host: localhost\nserver.ports: 8080, 8081\nserver.tls.enabled: false",
                "vaults[0].name: notes\nvaults[0].tags: []\nvaults[1].extra: null\nvaults[1].name: work",
                "version: 3",
            ]
        );
        assert!(doc.blocks.iter().all(|b| b.kind == BlockKind::List));
    }

    #[test]
    fn arrays_and_scalars() {
        let doc = convert_str("a.json", r#"[{"a": 1}, "two"]"#, &Format::Json).unwrap();
        let texts: Vec<_> = doc.blocks.iter().map(|b| b.text.as_str()).collect();
        assert_eq!(texts, ["[0].a: 1", "[1]: two"]);
        let doc = convert_str("s.json", r#""just a string""#, &Format::Json).unwrap();
        assert_eq!(doc.blocks[0].text, "just a string");
        let long: Vec<String> = (0..100).map(|i| format!("item{i}")).collect();
        let doc = convert_str("l.json", &serde_json::json!({ "xs": long }).to_string(), &Format::Json).unwrap();
        assert!(doc.blocks[0].text.starts_with("xs[0]: item0\nxs[1]: item1\n"));
    }

    #[test]
    fn invalid_json_names_line_and_column() {
        let err = convert_str("bad.json", "{\n  \"a\": 1,\n  \"b\": ,\n}", &Format::Json).unwrap_err();
        match &err {
            IngestError::InvalidJson { uri, line, column, .. } => {
                assert_eq!(uri, "bad.json");
                assert_eq!(*line, 3);
                assert_eq!(*column, 8);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(err.code(), Code::DocumentUnreadable);
        assert!(err.to_string().contains("line 3"), "{err}");
    }

    #[test]
    fn deeply_nested_json_is_an_error_not_a_crash() {
        let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        assert!(matches!(convert_str("deep.json", &deep, &Format::Json), Err(IngestError::InvalidJson { .. })));
    }
}
