//! Vault-scoped signed tokens (JWT, HS256) for the end users of a backend: the backend (or
//! `POST /v1/tokens` with an `admin` identity) signs `{iss, sub, org, vaults, actions, iat,
//! exp}` with `auth.jwt.secret`, and Trove accepts the token as `Authorization: Bearer` acting
//! as `sub` in that organization, on those vaults, with those actions. Only HS256 is accepted
//! (a header naming another algorithm, `none` included, is refused), the issuer must match,
//! and a token living longer than `auth.jwt.max_ttl_s` or not yet valid is refused. Tokens
//! never hold `admin`.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use trove_types::{Action, Code, MintedToken};

use crate::auth::{KeyPrincipal, Principal, auth, constant_time_eq, key_principal};
use crate::memory::format_ms;
use crate::{Engine, EngineError};

/// Clock difference tolerated between the minting backend and Trove, in seconds.
const SKEW_S: i64 = 60;

/// What a token says.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Claims {
    /// The issuer (`auth.jwt.issuer`).
    pub iss: String,
    /// The end user it is for (shown in the audit log as `key:jwt:<sub>`).
    pub sub: String,
    /// The organization's name.
    pub org: String,
    /// Vault names, or `["*"]` for all of the organization's.
    pub vaults: Vec<String>,
    /// Actions (never `admin`).
    pub actions: Vec<Action>,
    /// Issued at (Unix seconds).
    pub iat: i64,
    /// Expires at (Unix seconds).
    pub exp: i64,
}

/// HMAC-SHA256 (RFC 2104).
fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    const BLOCK: usize = 64;
    let mut k = [0u8; BLOCK];
    if key.len() > BLOCK {
        k[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        k[..key.len()].copy_from_slice(key);
    }
    let pad = |byte: u8| k.map(|b| b ^ byte);
    let inner = Sha256::new().chain_update(pad(0x36)).chain_update(message).finalize();
    Sha256::new().chain_update(pad(0x5c)).chain_update(inner).finalize().into()
}

/// `header.claims.signature`, signed with `secret`.
pub fn sign(claims: &Claims, secret: &str) -> String {
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
    let body = URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).unwrap_or_default());
    let signing = format!("{header}.{body}");
    let signature = URL_SAFE_NO_PAD.encode(hmac_sha256(secret.as_bytes(), signing.as_bytes()));
    format!("{signing}.{signature}")
}

/// Whether a bearer credential looks like a JWT (three base64url parts).
pub fn looks_like_jwt(token: &str) -> bool {
    token.starts_with("eyJ") && token.split('.').count() == 3
}

impl Engine {
    /// Checks a JWT and returns who it acts as.
    pub fn authenticate_jwt(&self, token: &str) -> Result<Principal, EngineError> {
        let refused = |why: &str| auth(Code::InvalidApiKey, format!("the signed token {why}"));
        let Some(config) = &self.workspace.config.auth.jwt else {
            return Err(refused("cannot be checked: this server has no auth.jwt.secret"));
        };
        let mut parts = token.split('.');
        let (Some(header), Some(body), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(refused("is malformed (header.claims.signature)"));
        };
        let decode = |part: &str| URL_SAFE_NO_PAD.decode(part).map_err(|_| refused("is not base64url"));
        let header: serde_json::Value =
            serde_json::from_slice(&decode(header)?).map_err(|_| refused("has an unreadable header"))?;
        if header["alg"] != "HS256" {
            return Err(refused(&format!("uses the algorithm {}; only HS256 is accepted", header["alg"])));
        }
        let expected = hmac_sha256(config.secret.as_bytes(), format!("{}.{body}", token_head(token)).as_bytes());
        if !constant_time_eq(&decode(signature)?, &expected) {
            return Err(refused("has a wrong signature"));
        }
        let claims: Claims = serde_json::from_slice(&decode(body)?)
            .map_err(|e| refused(&format!("has claims this server cannot read ({e})")))?;
        let now = self.now_ms() / 1000;
        if claims.iss != config.issuer {
            return Err(refused(&format!("was issued by `{}`, not `{}` (auth.jwt.issuer)", claims.iss, config.issuer)));
        }
        if claims.exp <= now {
            return Err(refused(&format!("expired at {}", format_ms(claims.exp * 1000))));
        }
        if claims.iat > now + SKEW_S {
            return Err(refused("is not valid yet (iat is in the future: check the clocks)"));
        }
        if claims.exp - claims.iat > config.max_ttl_s as i64 {
            return Err(refused(&format!("lives longer than auth.jwt.max_ttl_s ({} s)", config.max_ttl_s)));
        }
        if claims.actions.contains(&Action::Admin) {
            return Err(refused("holds `admin`, which signed tokens never do"));
        }
        let org = self.store.organization(&claims.org)?.ok_or_else(|| refused("names an unknown organization"))?;
        let all = claims.vaults.iter().any(|v| v == "*");
        Ok(Principal::Key(KeyPrincipal {
            key_id: format!("jwt:{}", claims.sub),
            organization: org.id,
            organization_name: org.name,
            vaults: (!all).then(|| claims.vaults.into_iter().collect()),
            actions: claims.actions,
            user_email: String::new(),
            session: false,
            role: None,
            grants: None,
        }))
    }

    /// Mints a token for `subject`, reaching no vault and holding no action the principal
    /// lacks.
    pub fn mint_token(
        &self,
        principal: &Principal,
        subject: &str,
        vaults: Vec<String>,
        actions: Vec<Action>,
        ttl_s: u64,
    ) -> Result<MintedToken, EngineError> {
        let Some(config) = &self.workspace.config.auth.jwt else {
            return Err(EngineError::BadRequest(
                "signed tokens are off: set auth.jwt.secret (at least 32 bytes) in config.yaml".into(),
            ));
        };
        let k = key_principal(principal)?;
        let bad = |m: String| Err(EngineError::BadRequest(m));
        if subject.is_empty() || subject.len() > 256 || subject.chars().any(char::is_control) {
            return bad("subject: give the end user's id (1 to 256 printable characters)".into());
        }
        if ttl_s == 0 || ttl_s > config.max_ttl_s {
            return bad(format!("ttl_s: must be between 1 and {} (auth.jwt.max_ttl_s)", config.max_ttl_s));
        }
        if vaults.is_empty() || actions.is_empty() {
            return bad("vaults and actions: name at least one of each".into());
        }
        if actions.contains(&Action::Admin) {
            return bad("actions: signed tokens never hold `admin`".into());
        }
        if let Some(a) = actions.iter().find(|a| !k.actions.iter().any(|held| held.grants(**a))) {
            return Err(auth(Code::Forbidden, format!("you cannot grant `{a}`, which you do not hold")));
        }
        k.check_reach(&vaults, "a token")?;
        let now = self.now_ms() / 1000;
        let claims = Claims {
            iss: config.issuer.clone(),
            sub: subject.to_string(),
            org: k.organization_name.clone(),
            vaults,
            actions,
            iat: now,
            exp: now + ttl_s as i64,
        };
        Ok(MintedToken { token: sign(&claims, &config.secret), expires_at: format_ms(claims.exp * 1000) })
    }
}

/// `header` of `header.claims.signature`.
fn token_head(token: &str) -> &str {
    token.split('.').next().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_matches_rfc_4231() {
        // Test case 2.
        let mac = hmac_sha256(b"Jefe", b"what do ya want for nothing?");
        let hex: String = mac.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
        // Test case 6: a key longer than a block is hashed first.
        let mac = hmac_sha256(&[0xaa; 131], b"Test Using Larger Than Block-Size Key - Hash Key First");
        let hex: String = mac.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex, "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
    }

    #[test]
    fn tokens_are_recognised() {
        let claims = Claims {
            iss: "trove".into(),
            sub: "u1".into(),
            org: "acme".into(),
            vaults: vec!["a".into()],
            actions: vec![Action::Search],
            iat: 1,
            exp: 2,
        };
        let t = sign(&claims, "0123456789abcdef0123456789abcdef");
        assert!(looks_like_jwt(&t));
        assert!(!looks_like_jwt("trove_abc_def") && !looks_like_jwt("tses_x"));
    }
}
