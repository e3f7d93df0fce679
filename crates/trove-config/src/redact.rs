//! Showing a configuration without its secrets: any key that names a secret (`api_key`,
//! `token`, `password`, `secret`, ...) has its value replaced before printing.

use serde_yaml::Value;

use crate::Config;

/// Whether a key's value is a secret that must never be printed or logged.
pub fn is_secret_key(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    ["password", "secret", "token", "api_key", "apikey", "private_key", "credentials"].iter().any(|s| k.contains(s))
}

/// Replaces secret values in place, at any depth.
pub fn redact_value(value: &mut Value) {
    match value {
        Value::Mapping(map) => {
            for (k, v) in map.iter_mut() {
                let secret = k.as_str().map(is_secret_key).unwrap_or(false);
                if secret && !v.is_null() && v.as_str() != Some("") {
                    *v = Value::String("***redacted***".into());
                } else if let Some(url) = v.as_str().and_then(redact_url_password) {
                    *v = Value::String(url);
                } else {
                    redact_value(v);
                }
            }
        }
        Value::Sequence(seq) => seq.iter_mut().for_each(redact_value),
        Value::Tagged(t) => redact_value(&mut t.value),
        _ => {}
    }
}

/// A URL with its password (`scheme://user:PASSWORD@host`) replaced; `None` when it has none.
pub fn redact_url_password(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let at = rest[..authority_end].rfind('@')?;
    let (user, _password) = rest[..at].split_once(':')?;
    Some(format!("{scheme}://{user}:***redacted***{}", &rest[at..]))
}

/// The effective configuration as YAML, secrets redacted.
pub fn redacted_yaml(config: &Config) -> String {
    let mut value = serde_yaml::to_value(config).unwrap_or(Value::Null);
    redact_value(&mut value);
    serde_yaml::to_string(&value).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_redacted_at_any_depth() {
        let mut v: Value = serde_yaml::from_str(
            "a:\n  api_key: sk-123\n  url: http://x\n  nested:\n    - password: hunter2\n      name: n\nkey_encryption_secret: s\nempty_token: ''\n",
        )
        .unwrap();
        redact_value(&mut v);
        let text = serde_yaml::to_string(&v).unwrap();
        assert!(!text.contains("sk-123"), "{text}");
        assert!(!text.contains("hunter2"), "{text}");
        assert!(!text.contains(": s\n"), "{text}");
        assert!(text.contains("http://x"), "{text}");
        assert!(text.contains("name: n"), "{text}");
        let mut v: Value =
            serde_yaml::from_str("url: postgres://trove:pw@db:5432/trove\nother: http://x/a@b\n").unwrap();
        redact_value(&mut v);
        let text = serde_yaml::to_string(&v).unwrap();
        assert!(text.contains("postgres://trove:***redacted***@db:5432/trove"), "{text}");
        assert!(text.contains("http://x/a@b"), "{text}");
    }
}
