//! Secrets at rest: an organization's named values (source tokens, provider keys) stored
//! through the API or the CLI, encrypted with `auth.key_encryption_secret`, and the
//! resolution of `${secret:…}` references in `config.yaml` when a credential is used.
//!
//! Sealing: AES-256-GCM (ring) under a key derived from the configured secret by HKDF-SHA256;
//! a fresh random 96-bit nonce per value; the organization's id and the secret's name are the
//! associated data, so a sealed value copied onto another row (or organization) fails to open.
//! The stored text is `v1.<key id>.<base64url(nonce ‖ ciphertext ‖ tag)>`, where the key id is
//! 8 bytes derived from the same secret (never the key): a value sealed under a previous key
//! is still read while that key is listed in `auth.previous_key_encryption_secrets`, and
//! `trove admin rotate-secrets` re-seals every value under the current key. Values never leave
//! the engine except to the credential that names them; listings show names and times only.
//!
//! References resolve at each use: a source's at each sync (so a changed secret is used by
//! the next sync), an embedder's when it is loaded. `${secret:NAME}` inside `vaults:` is a
//! secret of the vault's organization; `${secret:ORG/NAME}` names the organization.

use base64::Engine as _;
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::hkdf::{HKDF_SHA256, KeyType, Salt};
use ring::rand::{SecureRandom, SystemRandom};
use trove_config::secrets::{SecretRef, parse_reference, valid_secret_name};
use trove_store::SecretRecord;
use trove_types::{Code, SecretInfo};

use crate::auth::{Principal, auth, key_principal};
use crate::memory::format_ms;
use crate::{Engine, EngineError};

const FORMAT: &str = "v1";
const SALT: &[u8] = b"trove/secrets/v1";
/// Longest value accepted (a PEM key fits; a document does not).
pub const MAX_SECRET_BYTES: usize = 64 * 1024;

/// One key: the AEAD key and its public id.
struct Key {
    id: String,
    aead: LessSafeKey,
}

struct Len(usize);

impl KeyType for Len {
    fn len(&self) -> usize {
        self.0
    }
}

impl Key {
    fn derive(secret: &str) -> Key {
        let prk = Salt::new(HKDF_SHA256, SALT).extract(secret.as_bytes());
        let mut raw = [0u8; 32];
        let mut id = [0u8; 8];
        // Expanding to lengths HKDF-SHA256 supports (at most 255 × 32 bytes) cannot fail.
        if let Ok(okm) = prk.expand(&[b"aes-256-gcm key"], Len(32)) {
            let _ = okm.fill(&mut raw);
        }
        if let Ok(okm) = prk.expand(&[b"key id"], Len(8)) {
            let _ = okm.fill(&mut id);
        }
        let aead = UnboundKey::new(&AES_256_GCM, &raw).map(LessSafeKey::new);
        raw.fill(0);
        Key {
            id: id.iter().map(|b| format!("{b:02x}")).collect(),
            // A 32-byte key is always the right length for AES-256-GCM.
            aead: aead.unwrap_or_else(|_| unreachable!("AES-256-GCM takes a 32-byte key")),
        }
    }
}

/// The configured key encryption secrets: the current one seals, every one opens.
pub struct Keyring {
    current: Key,
    previous: Vec<Key>,
    rng: SystemRandom,
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keyring").field("current", &self.current.id).finish_non_exhaustive()
    }
}

fn aad(organization: i64, name: &str) -> Vec<u8> {
    format!("{organization}\0{name}").into_bytes()
}

impl Keyring {
    /// The keyring of `auth.key_encryption_secret` and the previous secrets (validated to be
    /// at least 32 bytes when the configuration was loaded).
    pub fn new(current: &str, previous: &[String]) -> Keyring {
        Keyring {
            current: Key::derive(current),
            previous: previous.iter().map(|s| Key::derive(s)).collect(),
            rng: SystemRandom::new(),
        }
    }

    /// The current key's id.
    pub fn key_id(&self) -> &str {
        &self.current.id
    }

    /// Encrypts `value` for the secret `name` of `organization`.
    pub fn seal(&self, organization: i64, name: &str, value: &str) -> Result<String, EngineError> {
        let mut nonce = [0u8; NONCE_LEN];
        self.rng
            .fill(&mut nonce)
            .map_err(|_| EngineError::Internal("the system's random number generator failed".into()))?;
        let mut data = value.as_bytes().to_vec();
        self.current
            .aead
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(aad(organization, name)),
                &mut data,
            )
            .map_err(|_| EngineError::Internal("encryption failed".into()))?;
        let mut blob = nonce.to_vec();
        blob.extend_from_slice(&data);
        Ok(format!("{FORMAT}.{}.{}", self.current.id, base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(blob)))
    }

    /// The id of the key a sealed value names.
    fn sealed_key_id(sealed: &str) -> Option<&str> {
        let mut parts = sealed.splitn(3, '.');
        (parts.next() == Some(FORMAT)).then(|| parts.next()).flatten()
    }

    /// Whether `sealed` is sealed with the current key.
    pub fn is_current(&self, sealed: &str) -> bool {
        Self::sealed_key_id(sealed) == Some(self.current.id.as_str())
    }

    /// Decrypts a value sealed for the secret `name` of `organization` (`label` names it in
    /// errors, e.g. `acme/JIRA_TOKEN`).
    pub fn open(&self, organization: i64, name: &str, sealed: &str, label: &str) -> Result<String, EngineError> {
        let unreadable = |why: String| auth(Code::SecretUnreadable, format!("secret `{label}` {why}"));
        let mut parts = sealed.splitn(3, '.');
        let (Some(FORMAT), Some(id), Some(body)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(unreadable("is not in a format this Trove reads: set it again".into()));
        };
        let Some(key) = std::iter::once(&self.current).chain(&self.previous).find(|k| k.id == id) else {
            return Err(unreadable(format!(
                "was encrypted with a key encryption secret (key id {id}) that is neither auth.key_encryption_secret (key id {}) nor in auth.previous_key_encryption_secrets: restore the secret it was stored with (list it under previous_key_encryption_secrets), or set the secret again",
                self.current.id
            )));
        };
        let mut blob = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(body)
            .map_err(|_| unreadable("is damaged (not base64): set it again".into()))?;
        if blob.len() < NONCE_LEN + AES_256_GCM.tag_len() {
            return Err(unreadable("is damaged (too short): set it again".into()));
        }
        let mut data = blob.split_off(NONCE_LEN);
        let nonce: [u8; NONCE_LEN] = blob.try_into().unwrap_or([0; NONCE_LEN]);
        let plain = key
            .aead
            .open_in_place(Nonce::assume_unique_for_key(nonce), Aad::from(aad(organization, name)), &mut data)
            .map_err(|_| {
                unreadable("failed its integrity check (altered, or moved from another secret): set it again".into())
            })?;
        String::from_utf8(plain.to_vec()).map_err(|_| unreadable("is not UTF-8: set it again".into()))
    }
}

fn info(r: &SecretRecord, keyring: &Keyring) -> SecretInfo {
    SecretInfo {
        name: r.name.clone(),
        created_at: format_ms(r.created_ms),
        updated_at: format_ms(r.updated_ms),
        updated_by: r.updated_by.clone(),
        current_key: keyring.is_current(&r.sealed),
    }
}

/// What `trove admin rotate-secrets` did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Rotation {
    /// Values re-sealed under the current key.
    pub resealed: usize,
    /// Values already under it.
    pub current: usize,
    /// Values set by someone else meanwhile (they are sealed under the current key already).
    pub raced: usize,
}

impl Engine {
    /// The keyring, or why secrets are off.
    pub fn keyring(&self) -> Result<&Keyring, EngineError> {
        self.keyring.as_ref().ok_or_else(|| {
            auth(
                Code::SecretsDisabled,
                "secrets are off: set auth.key_encryption_secret in config.yaml (at least 32 bytes, e.g. `openssl rand -base64 48` passed as ${TROVE_KEY_ENCRYPTION_SECRET}) and restart",
            )
        })
    }

    fn organization_id(&self, name: &str) -> Result<i64, EngineError> {
        Ok(self
            .store
            .organization(name)?
            .ok_or_else(|| auth(Code::OrganizationNotFound, format!("no organization named `{name}`")))?
            .id)
    }

    fn put_secret(
        &self,
        organization: i64,
        name: &str,
        value: &str,
        by: String,
    ) -> Result<(SecretInfo, bool), EngineError> {
        let keyring = self.keyring()?;
        if !valid_secret_name(name) {
            return Err(EngineError::BadRequest(format!(
                "`{name}` is not a usable secret name: use letters, digits, `_`, `-` and `.` (at most 64, starting with a letter or digit)"
            )));
        }
        if value.is_empty() || value.len() > MAX_SECRET_BYTES {
            return Err(EngineError::BadRequest(format!(
                "a secret's value must have 1 to {MAX_SECRET_BYTES} bytes (it has {})",
                value.len()
            )));
        }
        let now = self.now_ms();
        let record = SecretRecord {
            organization,
            name: name.to_string(),
            sealed: keyring.seal(organization, name, value)?,
            created_ms: now,
            updated_ms: now,
            updated_by: by,
        };
        let created = self.store.secret_put(&record)?;
        let stored = self.store.secret(organization, name)?.unwrap_or(record);
        Ok((info(&stored, keyring), created))
    }

    fn list_secrets(&self, organization: i64) -> Result<Vec<SecretInfo>, EngineError> {
        let keyring = self.keyring()?;
        Ok(self.store.secrets(Some(organization))?.iter().map(|r| info(r, keyring)).collect())
    }

    fn remove_secret(&self, organization: i64, org_name: &str, name: &str) -> Result<(), EngineError> {
        if self.store.secret_delete(organization, name)? {
            Ok(())
        } else {
            Err(auth(Code::SecretNotFound, format!("{org_name} has no secret `{name}`")))
        }
    }

    /// The principal's organization's secrets, by name (never their values).
    pub fn secrets(&self, principal: &Principal) -> Result<Vec<SecretInfo>, EngineError> {
        self.list_secrets(key_principal(principal)?.organization)
    }

    /// Sets a secret of the principal's organization; `true` when it is new.
    pub fn secret_set(
        &self,
        principal: &Principal,
        name: &str,
        value: &str,
    ) -> Result<(SecretInfo, bool), EngineError> {
        let k = key_principal(principal)?;
        let by = if k.session {
            format!("{} (session)", k.user_email)
        } else {
            format!("{} (key {})", k.user_email, k.key_id)
        };
        self.put_secret(k.organization, name, value, by)
    }

    /// Deletes a secret of the principal's organization.
    pub fn secret_delete(&self, principal: &Principal, name: &str) -> Result<(), EngineError> {
        let k = key_principal(principal)?;
        self.remove_secret(k.organization, &k.organization_name, name)
    }

    /// `trove admin set-secret`: sets a secret of the organization named `organization`.
    pub fn admin_secret_set(
        &self,
        organization: &str,
        name: &str,
        value: &str,
    ) -> Result<(SecretInfo, bool), EngineError> {
        let org = self.organization_id(organization)?;
        self.put_secret(org, name, value, "cli".into())
    }

    /// `trove admin list-secrets`.
    pub fn admin_secrets(&self, organization: &str) -> Result<Vec<SecretInfo>, EngineError> {
        self.list_secrets(self.organization_id(organization)?)
    }

    /// `trove admin delete-secret`.
    pub fn admin_secret_delete(&self, organization: &str, name: &str) -> Result<(), EngineError> {
        let org = self.organization_id(organization)?;
        self.remove_secret(org, organization, name)
    }

    /// Re-seals every secret of every organization under the current key. A value a previous
    /// key no longer listed cannot open stops the rotation with that secret's name.
    pub fn rotate_secrets(&self) -> Result<Rotation, EngineError> {
        let keyring = self.keyring()?;
        let mut done = Rotation::default();
        for r in self.store.secrets(None)? {
            if keyring.is_current(&r.sealed) {
                done.current += 1;
                continue;
            }
            let value = keyring.open(r.organization, &r.name, &r.sealed, &r.name)?;
            let sealed = keyring.seal(r.organization, &r.name, &value)?;
            if self.store.secret_reseal(r.organization, &r.name, &r.sealed, &sealed)? {
                done.resealed += 1;
            } else {
                done.raced += 1;
            }
        }
        Ok(done)
    }

    /// The organization whose secrets `${secret:NAME}` in vault `vault` names: the stored
    /// vault's, else the one its configuration gives it (read only: nothing is created).
    pub fn vault_organization(&self, vault: &str) -> Result<Option<i64>, EngineError> {
        if let Some(info) = self.store.vault(vault)?
            && info.organization.is_some()
        {
            return Ok(info.organization);
        }
        let configured = self.workspace.config.vaults.get(vault).and_then(|v| v.organization.as_deref());
        Ok(match configured {
            Some(org) => self.store.organization(org)?.map(|o| o.id),
            None => None,
        })
    }

    /// How many stored secrets are sealed with a previous key (until `rotate_secrets`).
    pub fn secrets_under_previous_keys(&self) -> Result<usize, EngineError> {
        let keyring = self.keyring()?;
        Ok(self.store.secrets(None)?.iter().filter(|s| !keyring.is_current(&s.sealed)).count())
    }

    /// The value `value` stands for: itself, or the secret it references (`${secret:NAME}`: a
    /// secret of the organization of `vault`, given as its name and organization row id;
    /// `${secret:ORG/NAME}`). `key` names the credential in errors.
    pub fn resolve_credential(
        &self,
        key: &str,
        vault: Option<(&str, Option<i64>)>,
        value: &str,
    ) -> Result<String, EngineError> {
        let Some(reference) = parse_reference(value) else { return Ok(value.to_string()) };
        self.resolve_secret(key, vault, &reference)
    }

    /// The value of a secret reference (see [`Engine::resolve_credential`]).
    pub fn resolve_secret(
        &self,
        key: &str,
        vault: Option<(&str, Option<i64>)>,
        reference: &SecretRef,
    ) -> Result<String, EngineError> {
        let keyring = self.keyring()?;
        let (org_id, owner) = match (&reference.organization, vault) {
            (Some(name), _) => (self.organization_id(name)?, name.clone()),
            (None, Some((vault, Some(id)))) => (id, format!("the organization of vault `{vault}`")),
            (None, _) => {
                return Err(auth(
                    Code::SecretNotFound,
                    format!(
                        "{key} is `{reference}`, but no vault's organization is there to take it from: write `${{secret:ORG/{}}}`, or give the vault an organization (vaults.<vault>.organization)",
                        reference.name
                    ),
                ));
            }
        };
        let label = match &reference.organization {
            Some(org) => format!("{org}/{}", reference.name),
            None => reference.name.clone(),
        };
        let record = self.store.secret(org_id, &reference.name)?.ok_or_else(|| {
            auth(
                Code::SecretNotFound,
                format!(
                    "{key} is `{reference}`, but {owner} has no secret `{}`: set it with PUT /v1/org/secrets/{} (as an administrator of that organization) or `trove admin set-secret --org ORG {}`",
                    reference.name, reference.name, reference.name
                ),
            )
        })?;
        keyring.open(org_id, &reference.name, &record.sealed, &label)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "0123456789abcdef0123456789abcdef-a";
    const B: &str = "0123456789abcdef0123456789abcdef-b";

    #[test]
    fn values_round_trip_and_never_appear_in_the_sealed_text() {
        let k = Keyring::new(A, &[]);
        let sealed = k.seal(7, "wiki", "tok-123456").unwrap();
        assert!(sealed.starts_with(&format!("v1.{}.", k.key_id())), "{sealed}");
        assert!(!sealed.contains("tok-123456"));
        assert_eq!(k.open(7, "wiki", &sealed, "acme/wiki").unwrap(), "tok-123456");
        assert_ne!(sealed, k.seal(7, "wiki", "tok-123456").unwrap(), "a fresh nonce each time");
        assert!(k.is_current(&sealed));
    }

    #[test]
    fn a_value_moved_to_another_secret_or_organization_or_altered_does_not_open() {
        let k = Keyring::new(A, &[]);
        let sealed = k.seal(7, "wiki", "tok").unwrap();
        for (org, name) in [(8, "wiki"), (7, "jira")] {
            let e = k.open(org, name, &sealed, "x").unwrap_err().to_string();
            assert!(e.contains("integrity check"), "{e}");
        }
        let mut altered = sealed.clone();
        let last = altered.pop().unwrap();
        altered.push(if last == 'A' { 'B' } else { 'A' });
        assert!(k.open(7, "wiki", &altered, "x").is_err());
        assert!(k.open(7, "wiki", "v1.zz", "x").unwrap_err().to_string().contains("format"));
    }

    #[test]
    fn previous_keys_open_and_an_unknown_key_is_named() {
        let old = Keyring::new(A, &[]);
        let sealed = old.seal(1, "s", "v").unwrap();
        let rotated = Keyring::new(B, &[A.to_string()]);
        assert_eq!(rotated.open(1, "s", &sealed, "x").unwrap(), "v");
        assert!(!rotated.is_current(&sealed));
        let lost = Keyring::new(B, &[]);
        let e = lost.open(1, "s", &sealed, "acme/s").unwrap_err().to_string();
        assert!(
            e.contains("acme/s") && e.contains("previous_key_encryption_secrets") && e.contains(old.key_id()),
            "{e}"
        );
        assert_ne!(old.key_id(), rotated.key_id());
    }
}
