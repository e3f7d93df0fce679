//! The `secrets` check, and the resolution of `${secret:…}` references for the checks that
//! use credentials (`sources`, `embedder`, `mail`): each reference in `config.yaml` must name a
//! secret that is stored and opens with the configured key encryption secrets (a lost key is
//! named with its fix); secrets still encrypted with a previous key are a warning until
//! `trove admin rotate-secrets`. The store is opened read-only; nothing is changed.

use trove_config::Workspace;
use trove_config::secrets::SecretUse;
use trove_engine::{Engine, OpenMode};

use super::{Outcome, fail, ok, skip, warn};

fn open(ws: &Workspace) -> Result<Engine, String> {
    if ws.config.storage.backend == trove_config::StorageBackend::Embedded
        && !ws.data_dir().join(trove_store::embedded::DB_FILE).exists()
    {
        return Err("nothing is stored yet (no data in the workspace)".into());
    }
    Engine::open(ws.clone(), OpenMode::Read, "trove doctor").map_err(|e| e.to_string())
}

/// Each reference's value, or why it has none (`engine`: the store opened, or why not).
fn resolve_all(engine: &Result<Engine, String>, uses: &[SecretUse]) -> Vec<(SecretUse, Result<String, String>)> {
    let engine = match engine {
        Ok(e) => e,
        Err(why) => return uses.iter().map(|u| (u.clone(), Err(why.clone()))).collect(),
    };
    uses.iter()
        .map(|u| {
            let value = match &u.vault {
                Some(vault) => engine
                    .vault_organization(vault)
                    .and_then(|org| engine.resolve_secret(&u.key, Some((vault, org)), &u.reference)),
                None => engine.resolve_secret(&u.key, None, &u.reference),
            };
            (u.clone(), value.map_err(|e| e.to_string()))
        })
        .collect()
}

/// The workspace with every reference that resolves replaced by its value (those that do not
/// stay as written, so the check using them fails naming the credential).
pub fn resolved(ws: &Workspace) -> Workspace {
    let uses = ws.config.secret_uses();
    if uses.is_empty() {
        return ws.clone();
    }
    let mut out = ws.clone();
    for (u, value) in resolve_all(&open(ws), &uses) {
        let Ok(value) = value else { continue };
        let config = &mut out.config;
        let slot: Option<&mut String> = match u.key.split('.').collect::<Vec<_>>().as_slice() {
            ["llm", "api_key"] => config.llm.api_key.as_mut(),
            ["embedders", name, "api_key"] => config.embedders.get_mut(*name).and_then(|e| e.api_key.as_mut()),
            ["chat_models", name, "api_key"] => config.chat_models.get_mut(*name).and_then(|e| e.api_key.as_mut()),
            ["mail", "smtp", "password"] => config.mail.smtp.as_mut().and_then(|s| s.password.as_mut()),
            ["vaults", vault, "sources", source, key] => config
                .vaults
                .get_mut(*vault)
                .and_then(|v| v.sources.get_mut(*source))
                .and_then(|s| s.credentials_mut().into_iter().find(|(k, _)| k == key).map(|(_, v)| v)),
            _ => None,
        };
        if let Some(slot) = slot {
            *slot = value;
        }
    }
    out
}

/// The `secrets` check.
pub fn check(ws: &Workspace) -> Outcome {
    let uses = ws.config.secret_uses();
    if ws.config.auth.key_encryption_secret.is_none() {
        // References without a key are refused when the configuration loads.
        return skip("no auth.key_encryption_secret: secrets cannot be stored (config.yaml names none)");
    }
    let engine = open(ws);
    let results = resolve_all(&engine, &uses);
    let failed: Vec<String> =
        results.iter().filter_map(|(u, r)| r.as_ref().err().map(|e| format!("{}: {e}", u.key))).collect();
    let names: Vec<String> = results.iter().filter(|(_, r)| r.is_ok()).map(|(u, _)| u.reference.to_string()).collect();
    if !failed.is_empty() {
        return fail(
            failed.join("; "),
            "store each missing secret (PUT /v1/org/secrets/NAME as an administrator of its organization, or `trove admin set-secret --org ORG NAME`); for one that does not open, put the key it was stored with back under auth.previous_key_encryption_secrets, or set it again",
        );
    }
    let stale = match &engine {
        Ok(engine) => {
            if let Err(e) = engine.keyring() {
                return fail(e.to_string(), "set auth.key_encryption_secret");
            }
            engine.secrets_under_previous_keys()
        }
        Err(_) => Ok(0),
    };
    let found = if names.is_empty() {
        "no ${secret:…} reference in config.yaml".to_string()
    } else {
        format!("{} reference(s) open: {}", names.len(), names.join(", "))
    };
    match stale {
        Ok(0) => ok(found),
        Ok(n) => warn(
            format!("{found}; {n} stored secret(s) are encrypted with a previous key"),
            "run `trove admin rotate-secrets`, then remove the old key from auth.previous_key_encryption_secrets",
        ),
        Err(e) => fail(format!("{found}; the secrets cannot be listed: {e}"), "check the `store` finding"),
    }
}
