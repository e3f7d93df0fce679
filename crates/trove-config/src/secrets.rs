//! Secret references: a credential in `config.yaml` may be `${secret:NAME}` or
//! `${secret:ORG/NAME}` instead of a value or an environment variable. Such a reference stays
//! in the loaded configuration as written; the engine replaces it, when the credential is
//! used, by the value an administrator stored through the API (`PUT /v1/org/secrets/{name}`),
//! kept encrypted with `auth.key_encryption_secret`. `NAME` alone means a secret of the
//! vault's organization and is only meaningful inside `vaults:`; elsewhere (an embedder's
//! `api_key`, the SMTP password) the organization must be named.
//!
//! Only credential keys ([`SECRET_KEYS`]) may hold a reference, and only as their whole value:
//! this module parses references, and lists every one a configuration holds, for validation
//! and for `trove doctor`.

use crate::{Config, SourceConfig};

/// The keys whose value may be a secret reference.
pub const SECRET_KEYS: &[&str] = &["token", "api_token", "api_key", "password"];

/// A parsed `${secret:…}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretRef {
    /// The organization named in the reference (`ORG/NAME`); `None` for the vault's own.
    pub organization: Option<String>,
    /// The secret's name.
    pub name: String,
}

impl std::fmt::Display for SecretRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.organization {
            Some(org) => write!(f, "${{secret:{org}/{}}}", self.name),
            None => write!(f, "${{secret:{}}}", self.name),
        }
    }
}

/// Whether `name` may name a secret: 1 to 64 ASCII letters, digits, `_`, `-` and `.`, starting
/// with a letter or digit (`JIRA_TOKEN`, `openai.prod`).
pub fn valid_secret_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

/// Parses the inside of `${…}` when it is a secret reference: `Some(Ok)` for a well-formed
/// one, `Some(Err(why))` for a malformed one, `None` when it is not a secret reference.
pub fn parse_inner(inner: &str) -> Option<Result<SecretRef, String>> {
    let body = inner.strip_prefix("secret:")?;
    let (organization, name) = match body.split_once('/') {
        Some((org, name)) => (Some(org), name),
        None => (None, body),
    };
    if let Some(org) = organization
        && !crate::valid_name(org)
    {
        return Some(Err(format!(
            "`{org}` is not an organization name: write `${{secret:NAME}}` or `${{secret:ORG/NAME}}` (lowercase letters, digits, `-` and `_`)"
        )));
    }
    if !valid_secret_name(name) {
        return Some(Err(format!(
            "`{name}` is not a secret name: use letters, digits, `_`, `-` and `.` (at most 64), e.g. `${{secret:JIRA_TOKEN}}`"
        )));
    }
    Some(Ok(SecretRef { organization: organization.map(str::to_string), name: name.to_string() }))
}

/// The reference a whole value is, if it is one (`${secret:wiki}`).
pub fn parse_reference(value: &str) -> Option<SecretRef> {
    let inner = value.trim().strip_prefix("${")?.strip_suffix('}')?;
    parse_inner(inner)?.ok()
}

/// One reference found in a configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretUse {
    /// The key holding it (`vaults.wiki.sources.eng.api_token`).
    pub key: String,
    /// The vault whose source holds it; `None` outside `vaults:`.
    pub vault: Option<String>,
    /// The reference.
    pub reference: SecretRef,
}

impl SourceConfig {
    /// The source's credential values by key, to resolve secret references in.
    pub fn credentials_mut(&mut self) -> Vec<(&'static str, &mut String)> {
        let pairs: [(&'static str, Option<&mut String>); 2] = match self {
            SourceConfig::Git(g) => [("token", g.token.as_mut()), ("", None)],
            SourceConfig::Confluence(c) => [("api_token", c.api_token.as_mut()), ("token", c.token.as_mut())],
            SourceConfig::Jira(j) => [("api_token", j.api_token.as_mut()), ("token", j.token.as_mut())],
            SourceConfig::Localfile(_) | SourceConfig::Publicdocs(_) => [("", None), ("", None)],
        };
        pairs.into_iter().filter_map(|(key, value)| value.map(|v| (key, v))).collect()
    }
}

impl Config {
    /// Every secret reference in the configuration, in file order.
    pub fn secret_uses(&self) -> Vec<SecretUse> {
        let mut out = Vec::new();
        let mut add = |key: String, vault: Option<&str>, value: Option<&str>| {
            if let Some(reference) = value.and_then(parse_reference) {
                out.push(SecretUse { key, vault: vault.map(str::to_string), reference });
            }
        };
        add("llm.api_key".into(), None, self.llm.api_key.as_deref());
        for (name, e) in &self.embedders {
            add(format!("embedders.{name}.api_key"), None, e.api_key.as_deref());
        }
        for (name, c) in &self.chat_models {
            add(format!("chat_models.{name}.api_key"), None, c.api_key.as_deref());
        }
        if let Some(smtp) = &self.mail.smtp {
            add("mail.smtp.password".into(), None, smtp.password.as_deref());
        }
        for (vault, v) in &self.vaults {
            for (source, s) in &v.sources {
                let mut s = s.clone();
                for (key, value) in s.credentials_mut() {
                    add(format!("vaults.{vault}.sources.{source}.{key}"), Some(vault), Some(value.as_str()));
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_parse_with_and_without_an_organization() {
        assert_eq!(
            parse_reference("${secret:JIRA_TOKEN}"),
            Some(SecretRef { organization: None, name: "JIRA_TOKEN".into() })
        );
        assert_eq!(
            parse_reference("${secret:acme/openai.prod}"),
            Some(SecretRef { organization: Some("acme".into()), name: "openai.prod".into() })
        );
        assert_eq!(parse_reference("${secret:acme/openai.prod}").unwrap().to_string(), "${secret:acme/openai.prod}");
        assert_eq!(parse_reference("plain-token"), None);
        assert_eq!(parse_reference("${TOKEN}"), None);
        assert_eq!(parse_reference("x${secret:a}"), None, "only a whole value is a reference");
        assert!(matches!(parse_inner("secret:Acme/x"), Some(Err(m)) if m.contains("organization name")));
        assert!(matches!(parse_inner("secret:"), Some(Err(m)) if m.contains("secret name")));
        assert!(matches!(parse_inner("secret:a b"), Some(Err(_))));
        assert_eq!(parse_inner("SECRET"), None);
    }
}
