//! Variables: reading `.env` files and substituting `${VAR}` / `${VAR:-default}` into the
//! configuration text. The process environment wins over `.env`. `$${` writes a literal `${`.
//! `${secret:…}` references (see [`crate::secrets`]) are left as written, on credential keys only.
//! Substitution happens on the text, line by line, so errors keep their line and column;
//! YAML comments are left alone, and a value that would change the YAML structure (a colon,
//! a `#`, a quote, a newline) is inserted as a quoted string when it stands alone as a value.

use std::collections::BTreeMap;
use std::path::Path;

use crate::ConfigError;

/// The variables visible to a configuration: the environment over `.env`.
#[derive(Debug, Clone, Default)]
pub struct Vars {
    map: BTreeMap<String, String>,
}

impl Vars {
    /// Variables from `.env` (if it exists) overlaid by the process environment.
    pub fn load(env_file: &Path) -> Result<Vars, ConfigError> {
        let mut map = BTreeMap::new();
        match std::fs::read_to_string(env_file) {
            Ok(text) => map.extend(parse_dotenv(&text)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => return Err(ConfigError::Read { path: env_file.to_path_buf(), source }),
        }
        map.extend(std::env::vars());
        Ok(Vars { map })
    }

    /// Variables from an explicit list (for tests and embedding).
    pub fn from_pairs<I, K, V>(pairs: I) -> Vars
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        Vars { map: pairs.into_iter().map(|(k, v)| (k.into(), v.into())).collect() }
    }

    /// One variable.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.map.get(name).map(String::as_str)
    }

    /// Every variable whose name starts with `prefix`, in name order.
    pub fn with_prefix<'a>(&'a self, prefix: &'a str) -> impl Iterator<Item = (&'a str, &'a str)> {
        self.map.iter().filter(move |(k, _)| k.starts_with(prefix)).map(|(k, v)| (k.as_str(), v.as_str()))
    }
}

/// Parses `.env` text: `KEY=value`, optional `export `, `#` comments, single or double quotes
/// (double quotes understand `\n`, `\"` and `\\`). Malformed lines are ignored.
pub fn parse_dotenv(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").unwrap_or(line);
        let Some((key, value)) = line.split_once('=') else { continue };
        let key = key.trim();
        if key.is_empty() || !key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            continue;
        }
        let value = value.trim();
        let value = if let Some(inner) = value.strip_prefix('"').and_then(|v| v.strip_suffix('"')) {
            let mut s = String::with_capacity(inner.len());
            let mut chars = inner.chars();
            while let Some(c) = chars.next() {
                if c == '\\' {
                    match chars.next() {
                        Some('n') => s.push('\n'),
                        Some('t') => s.push('\t'),
                        Some(other) => s.push(other),
                        None => s.push('\\'),
                    }
                } else {
                    s.push(c);
                }
            }
            s
        } else if let Some(inner) = value.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')) {
            inner.to_string()
        } else {
            // An unquoted value ends at ` #`.
            match value.find(" #") {
                Some(i) => value[..i].trim_end().to_string(),
                None => value.to_string(),
            }
        };
        out.push((key.to_string(), value));
    }
    out
}

/// Substitutes variables in configuration text. `path` and `env_file` only label errors.
pub fn substitute(text: &str, vars: &Vars, path: &Path, env_file: &Path) -> Result<String, ConfigError> {
    let mut out = String::with_capacity(text.len());
    for (i, line) in text.split_inclusive('\n').enumerate() {
        let code_end = comment_start(line).unwrap_or(line.len());
        let (code, comment) = line.split_at(code_end);
        substitute_line(code, i + 1, vars, path, env_file, &mut out)?;
        out.push_str(comment);
    }
    Ok(out)
}

/// Byte offset of a YAML comment's `#` in a line (outside quotes, at the start or after a space).
fn comment_start(line: &str) -> Option<usize> {
    let mut quote: Option<char> = None;
    let mut prev = ' ';
    for (i, c) in line.char_indices() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if c == '"' || c == '\'' => quote = Some(c),
            None if c == '#' && prev.is_whitespace() => return Some(i),
            None => {}
        }
        prev = c;
    }
    None
}

fn substitute_line(
    code: &str,
    line_no: usize,
    vars: &Vars,
    path: &Path,
    env_file: &Path,
    out: &mut String,
) -> Result<(), ConfigError> {
    let mut rest = code;
    let mut consumed = 0usize;
    while let Some(pos) = rest.find('$') {
        let after = &rest[pos + 1..];
        if let Some(escaped) = after.strip_prefix("${") {
            // `$${` is an escaped literal `${`.
            out.push_str(&rest[..pos]);
            out.push_str("${");
            rest = escaped;
            consumed += pos + 3;
            continue;
        }
        if !after.starts_with('{') {
            out.push_str(&rest[..=pos]);
            rest = after;
            consumed += pos + 1;
            continue;
        }
        let column = consumed + pos + 1;
        let Some(close) = after.find('}') else {
            return Err(ConfigError::BadVariable {
                path: path.to_path_buf(),
                line: line_no,
                column,
                message: "`${` without a closing `}`: write `${NAME}`, or `$${` for a literal `${`".into(),
            });
        };
        let inner = &after[1..close];
        if let Some(reference) = crate::secrets::parse_inner(inner) {
            // A secret reference stays as written; the engine resolves it when it is used.
            let bad =
                |message: String| ConfigError::BadVariable { path: path.to_path_buf(), line: line_no, column, message };
            let reference = reference.map_err(bad)?;
            let before = &rest[..pos];
            let key = before.trim_end().strip_suffix(':').map(|k| k.trim().trim_start_matches("- "));
            if !key.is_some_and(|k| crate::secrets::SECRET_KEYS.contains(&k)) || !after[close + 1..].trim().is_empty() {
                return Err(bad(format!(
                    "`{reference}` must be the whole value of a credential key ({}), e.g. `api_token: {reference}`",
                    crate::secrets::SECRET_KEYS.join(", ")
                )));
            }
            out.push_str(before);
            out.push_str(&serde_json::to_string(&reference.to_string()).unwrap_or_default());
            rest = &after[close + 1..];
            consumed += pos + 1 + close + 1;
            continue;
        }
        let (name, default) = match inner.split_once(":-") {
            Some((n, d)) => (n, Some(d)),
            None => (inner, None),
        };
        let valid = !name.is_empty()
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            && !name.starts_with(|c: char| c.is_ascii_digit());
        if !valid {
            return Err(ConfigError::BadVariable {
                path: path.to_path_buf(),
                line: line_no,
                column,
                message: format!("`${{{inner}}}` is not a valid variable reference: names use letters, digits and `_`"),
            });
        }
        let value = match (vars.get(name), default) {
            (Some(v), _) => v.to_string(),
            (None, Some(d)) => d.to_string(),
            (None, None) => {
                return Err(ConfigError::MissingVariable {
                    path: path.to_path_buf(),
                    line: line_no,
                    column,
                    name: name.to_string(),
                    env_file: env_file.to_path_buf(),
                });
            }
        };
        let before = &rest[..pos];
        let tail = &after[close + 1..];
        let stands_alone = before.trim_end().ends_with(':')
            || before.trim_end().ends_with("- ")
            || before.trim().is_empty()
            || before.trim_end().ends_with('-');
        out.push_str(before);
        if stands_alone && tail.trim().is_empty() && needs_quoting(&value) {
            out.push_str(&serde_json::to_string(&value).unwrap_or_default());
        } else {
            out.push_str(&value);
        }
        rest = tail;
        consumed += pos + 1 + close + 1;
    }
    out.push_str(rest);
    Ok(())
}

/// Whether a value inserted as a plain YAML scalar could change the document's structure.
fn needs_quoting(value: &str) -> bool {
    value.is_empty()
        || value.contains(": ")
        || value.contains(" #")
        || value.contains('\n')
        || value.ends_with(':')
        || value.starts_with(|c: char| "!&*{}[]|>'\"%@`#,?-".contains(c)) && value != "-"
        || value != value.trim()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sub(text: &str, pairs: &[(&str, &str)]) -> Result<String, ConfigError> {
        let vars = Vars::from_pairs(pairs.iter().copied());
        substitute(text, &vars, Path::new("config.yaml"), Path::new(".env"))
    }

    #[test]
    fn substitutes_values_and_defaults() {
        let out = sub("a: ${A}\nb: ${B:-two}\nc: x${A}y\n", &[("A", "one")]).unwrap();
        assert_eq!(out, "a: one\nb: two\nc: xoney\n");
    }

    #[test]
    fn secret_references_stay_as_written_on_credential_keys_only() {
        let out = sub("api_token: ${secret:wiki}\n  token: ${secret:acme/jira-dc} # c\n", &[]).unwrap();
        assert_eq!(out, "api_token: \"${secret:wiki}\"\n  token: \"${secret:acme/jira-dc}\" # c\n");
        let msg = sub("url: ${secret:wiki}\n", &[]).unwrap_err().to_string();
        assert!(msg.contains("config.yaml:1:6") && msg.contains("whole value of a credential key"), "{msg}");
        let msg = sub("token: Bearer-${secret:wiki}\n", &[]).unwrap_err().to_string();
        assert!(msg.contains("whole value"), "{msg}");
        let msg = sub("token: ${secret:no way}\n", &[]).unwrap_err().to_string();
        assert!(msg.contains("not a secret name"), "{msg}");
    }

    #[test]
    fn missing_variable_names_line_column_and_fix() {
        let err = sub("a: 1\nb: ${NOPE}\n", &[]).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("config.yaml:2:4"), "{msg}");
        assert!(msg.contains("NOPE"), "{msg}");
        assert!(msg.contains(".env"), "{msg}");
    }

    #[test]
    fn comments_and_escapes_are_left_alone() {
        let out = sub("a: 1 # see ${UNSET}\n# ${ALSO_UNSET}\nb: $${LITERAL}\nc: \"#${A}\"\n", &[("A", "v")]).unwrap();
        assert_eq!(out, "a: 1 # see ${UNSET}\n# ${ALSO_UNSET}\nb: ${LITERAL}\nc: \"#v\"\n");
    }

    #[test]
    fn structural_values_are_quoted() {
        let out = sub("token: ${T}\n", &[("T", "a: b # c")]).unwrap();
        assert_eq!(out, "token: \"a: b # c\"\n");
        let parsed: serde_yaml::Value = serde_yaml::from_str(&out).unwrap();
        assert_eq!(parsed["token"], serde_yaml::Value::from("a: b # c"));
    }

    #[test]
    fn unclosed_and_invalid_references_are_errors() {
        assert!(matches!(sub("a: ${A\n", &[]), Err(ConfigError::BadVariable { line: 1, column: 4, .. })));
        assert!(matches!(sub("a: ${1A}\n", &[]), Err(ConfigError::BadVariable { .. })));
    }

    #[test]
    fn dotenv_parsing() {
        let pairs =
            parse_dotenv("# comment\nA=1\nexport B = two \nC=\"x\\ny\"\nD='lit $X'\nE=val # trailing\nnot a line\n");
        let map: BTreeMap<_, _> = pairs.into_iter().collect();
        assert_eq!(map["A"], "1");
        assert_eq!(map["B"], "two");
        assert_eq!(map["C"], "x\ny");
        assert_eq!(map["D"], "lit $X");
        assert_eq!(map["E"], "val");
        assert_eq!(map.len(), 5);
    }
}
