//! Tool arguments: one JSON object holding a tool's own fields (`E`: the vault, an id, ...)
//! beside the fields of the engine request it passes on (`T`: a [`MemoryInput`], a
//! [`ContextRequest`], ...). Both are typed structs that refuse unknown fields, and the
//! `inputSchema` a tool shows is derived from the same two types ([`Args::input_schema`], from
//! utoipa's `ToSchema`): references inlined, flattened parts merged, unknown properties
//! refused. So the schema, the parser and the engine's request type cannot disagree; limits are
//! checked by the engine, as for REST.
//!
//! [`MemoryInput`]: trove_types::MemoryInput
//! [`ContextRequest`]: trove_types::ContextRequest

use std::collections::HashMap;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use utoipa::ToSchema;

/// A vault tool's arguments: the vault (optional), the tool's own fields `E` and the engine
/// request `T`, side by side in one object.
#[derive(Debug)]
pub struct Args<E = Nothing, T = Nothing> {
    /// The vault named, if any.
    pub vault: Option<String>,
    /// The tool's own fields.
    pub own: E,
    /// The engine request.
    pub request: T,
}

/// No fields.
#[derive(Debug, Default, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Nothing {}

/// The optional vault a tool uses.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InVault {
    /// The vault to use (see list_vaults). Optional when there is only one vault or a default.
    #[serde(default)]
    pub vault: Option<String>,
}

/// A memory, by id.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MemoryRef {
    /// The memory's id.
    pub id: String,
}

/// A chunk, by the id a search hit gave.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChunkRef {
    /// chunk_id of a search hit.
    pub chunk_id: i64,
}

/// A page of a listing.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Page {
    /// next_cursor of the previous page.
    #[serde(default)]
    pub cursor: Option<String>,
    /// Items per page (1–100, default 20).
    #[serde(default)]
    #[schema(minimum = 1, maximum = 100)]
    pub limit: Option<usize>,
}

/// The schema of `T` as one self-contained JSON object (see the module documentation).
fn object_schema<T: ToSchema>() -> Value {
    let mut components = Vec::new();
    T::schemas(&mut components);
    let defs: HashMap<String, Value> =
        components.into_iter().map(|(name, s)| (name, serde_json::to_value(s).unwrap_or_default())).collect();
    let mut schema = serde_json::to_value(T::schema()).unwrap_or_default();
    inline(&mut schema, &defs);
    let mut out = Map::new();
    merge(&mut out, schema);
    out.insert("type".into(), "object".into());
    out.insert("additionalProperties".into(), false.into());
    Value::Object(out)
}

/// Replaces each `{"$ref": "#/components/schemas/X", …}` under `v` by X's schema (keeping the
/// reference's own keys, such as its description).
fn inline(v: &mut Value, defs: &HashMap<String, Value>) {
    match v {
        Value::Object(m) => {
            let target = m.get("$ref").and_then(Value::as_str).and_then(|r| r.rsplit('/').next());
            if let Some(mut def) = target.and_then(|name| defs.get(name)).cloned() {
                m.remove("$ref");
                inline(&mut def, defs);
                if let Value::Object(d) = def {
                    for (k, val) in d {
                        m.entry(k).or_insert(val);
                    }
                }
            }
            m.values_mut().for_each(|v| inline(v, defs));
        }
        Value::Array(a) => a.iter_mut().for_each(|v| inline(v, defs)),
        _ => {}
    }
}

/// Merges an object schema (or the `allOf` parts of one) into `out`: properties and required
/// names are unions, other keys are kept from the first schema that has them.
fn merge(out: &mut Map<String, Value>, schema: Value) {
    let Value::Object(mut m) = schema else { return };
    for part in m.remove("allOf").and_then(|a| a.as_array().cloned()).unwrap_or_default() {
        merge(out, part);
    }
    if let Some(Value::Object(props)) = m.remove("properties") {
        let all = out.entry("properties").or_insert_with(|| json!({}));
        if let Value::Object(all) = all {
            all.extend(props);
        }
    }
    if let Some(Value::Array(required)) = m.remove("required") {
        let all = out.entry("required").or_insert_with(|| json!([]));
        if let Value::Array(all) = all {
            for r in required {
                if !all.contains(&r) {
                    all.push(r);
                }
            }
        }
    }
    for (k, v) in m {
        if k != "additionalProperties" && k != "description" {
            out.entry(k).or_insert(v);
        }
    }
}

/// The property names of an object schema.
fn properties(schema: &Value) -> Vec<String> {
    schema["properties"].as_object().map(|p| p.keys().cloned().collect()).unwrap_or_default()
}

/// Deserializes `T` from `m`, naming the field that was wrong.
fn field_error<T: DeserializeOwned>(m: Map<String, Value>) -> Result<T, String> {
    serde_path_to_error::deserialize(Value::Object(m)).map_err(|e| match e.path().to_string().as_str() {
        "." => e.inner().to_string(),
        path => format!("`{path}`: {}", e.inner()),
    })
}

/// The object schema of several parts' fields together.
fn merged(parts: &[Value]) -> Value {
    let mut out = Map::new();
    for part in parts {
        merge(&mut out, part.clone());
    }
    out.insert("type".into(), "object".into());
    out.entry("properties").or_insert_with(|| json!({}));
    out.insert("additionalProperties".into(), false.into());
    Value::Object(out)
}

/// The arguments of a call split among parts by their fields; an argument no part takes is
/// refused with its name.
fn split<const N: usize>(args: Value, parts: [Vec<String>; N]) -> Result<[Map<String, Value>; N], String> {
    let mut all = match args {
        Value::Object(m) => m,
        Value::Null => Map::new(),
        other => return Err(format!("arguments must be a JSON object, got {other}")),
    };
    if let Some(unknown) = all.keys().find(|k| !parts.iter().any(|p| p.contains(k))) {
        let mut known = parts.concat();
        known.sort();
        let takes = if known.is_empty() { "no arguments".into() } else { known.join(", ") };
        return Err(format!("unknown argument `{unknown}` (it takes {takes})"));
    }
    Ok(parts.map(|names| names.iter().filter_map(|k| Some((k.clone(), all.remove(k)?))).collect()))
}

impl<E: DeserializeOwned + ToSchema, T: DeserializeOwned + ToSchema> Args<E, T> {
    /// The schema `tools/list` shows: the vault's, `E`'s and `T`'s fields in one object.
    pub fn input_schema() -> Value {
        merged(&[object_schema::<InVault>(), object_schema::<E>(), object_schema::<T>()])
    }

    /// The arguments of a call; an unknown or mistyped argument is refused with its name.
    pub fn parse(args: Value) -> Result<Self, String> {
        let parts = [object_schema::<InVault>(), object_schema::<E>(), object_schema::<T>()].map(|s| properties(&s));
        let [vault, own, request] = split(args, parts)?;
        Ok(Args { vault: field_error::<InVault>(vault)?.vault, own: field_error(own)?, request: field_error(request)? })
    }
}

/// The schema of a tool that takes no arguments.
pub fn no_arguments() -> Value {
    merged(&[])
}

/// Refuses any argument (for a tool that takes none).
pub fn parse_none(args: Value) -> Result<(), String> {
    split(args, []).map(|[]| ())
}

#[cfg(test)]
mod tests {
    use super::*;
    use trove_types::{MemoryQuery, MemoryUpdate};

    #[test]
    fn the_schema_holds_both_parts_self_contained() {
        let s = Args::<Nothing, MemoryQuery>::input_schema();
        assert_eq!((s["type"].as_str(), &s["additionalProperties"]), (Some("object"), &json!(false)));
        // `MemoryQuery` flattens its scope: its fields are merged in, not left in `allOf`.
        for field in ["vault", "query", "user_id", "tags", "mode", "limit"] {
            assert!(s["properties"][field].is_object(), "{field}: {s}");
        }
        assert_eq!(s["required"], json!(["query"]));
        assert!(!s.to_string().contains("$ref") && s.get("allOf").is_none(), "{s}");
        assert!(s["properties"]["mode"].to_string().contains("keyword"), "enums are inlined: {s}");
    }

    #[test]
    fn arguments_split_between_the_parts_and_unknown_ones_are_named() {
        let a = Args::<MemoryRef, MemoryUpdate>::parse(json!({"id": "mem_1", "vault": "v", "text": "new"})).unwrap();
        assert_eq!(
            (a.own.id.as_str(), a.vault.as_deref(), a.request.text.as_deref()),
            ("mem_1", Some("v"), Some("new"))
        );
        let e = Args::<MemoryRef, MemoryUpdate>::parse(json!({"id": "m", "colour": "red"})).unwrap_err();
        assert!(e.contains("unknown argument `colour`") && e.contains("expires_at"), "{e}");
        let e = Args::<ChunkRef>::parse(json!({"chunk_id": "seven"})).unwrap_err();
        assert!(e.starts_with("`chunk_id`: invalid type"), "{e}");
        let e = Args::<ChunkRef>::parse(json!({})).unwrap_err();
        assert!(e.contains("missing field `chunk_id`"), "{e}");
        assert!(Args::<Nothing, Nothing>::parse(Value::Null).is_ok());
        assert!(Args::<Nothing, Nothing>::parse(json!([1])).unwrap_err().contains("JSON object"));
        assert_eq!(parse_none(json!({"vault": "v"})).unwrap_err(), "unknown argument `vault` (it takes no arguments)");
    }
}
