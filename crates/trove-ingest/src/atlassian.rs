//! What the Atlassian sources ([`crate::ConfluenceSource`], [`crate::JiraSource`]) share: the
//! deployment (Cloud or Data Center, which decides the API version and the credentials: an
//! account's email and API token as basic authentication on Cloud, a personal access token as
//! a bearer token on Data Center), the HTTP settings, and the mapping of HTTP failures to
//! [`IngestError::Remote`] with fixes that name the configuration keys.

use std::path::PathBuf;
use std::time::Duration;

use trove_http::{Auth, Client, ClientOptions, HttpError};
use trove_types::HasCode;

use crate::error::IngestError;

/// Which product line a source talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deployment {
    /// Atlassian Cloud (`https://SITE.atlassian.net`): REST v2 (Confluence) / v3 (JIRA), basic
    /// authentication with an email and an API token.
    Cloud,
    /// Data Center or Server on your own host: REST v1 (Confluence) / v2 (JIRA), a personal
    /// access token as a bearer token.
    DataCenter,
}

/// How to reach an Atlassian site.
#[derive(Clone)]
pub struct Connection {
    /// Cloud or Data Center.
    pub deployment: Deployment,
    /// The site (Cloud: `https://SITE.atlassian.net`; Data Center: the address with any
    /// context path, e.g. `https://wiki.example.com/confluence`).
    pub base_url: String,
    /// Cloud: the account's email.
    pub email: Option<String>,
    /// Cloud: the account's API token.
    pub api_token: Option<String>,
    /// Data Center: a personal access token.
    pub token: Option<String>,
    /// Time limit of one request.
    pub timeout: Duration,
    /// Requests per minute; 0 = no limit.
    pub requests_per_minute: u32,
    /// A PEM bundle of CAs to trust.
    pub ca_file: Option<PathBuf>,
    /// A proxy URL.
    pub proxy: Option<String>,
    /// Retries of one request after the first attempt.
    pub max_retries: u32,
    /// The configuration key of the source, for messages (`vaults.kb.sources.wiki`).
    pub key: String,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("deployment", &self.deployment)
            .field("base_url", &self.base_url)
            .field("email", &self.email)
            .field("api_token", &self.api_token.as_ref().map(|_| "***"))
            .field("token", &self.token.as_ref().map(|_| "***"))
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

impl Connection {
    /// The fix for refused credentials, naming the keys of this deployment.
    pub(crate) fn credentials_fix(&self) -> String {
        let key = &self.key;
        match self.deployment {
            Deployment::Cloud => format!(
                "the credentials were refused: check {key}.email and {key}.api_token (an API token of that \
                 Atlassian account, made at id.atlassian.com)"
            ),
            Deployment::DataCenter => format!(
                "the credentials were refused: check {key}.token (a personal access token of a user who can read it)"
            ),
        }
    }

    /// A client for `service` with the source's fixes for 403, 404 and other refusals.
    pub(crate) fn client(
        &self,
        service: &str,
        base_url: &str,
        forbidden: String,
        not_found: String,
        rejected: String,
    ) -> Result<Client, IngestError> {
        let mut o = ClientOptions::new(service, base_url, &self.key);
        o.auth = match self.deployment {
            Deployment::Cloud => Auth::Basic {
                user: self.email.clone().unwrap_or_default(),
                secret: self.api_token.clone().unwrap_or_default(),
            },
            Deployment::DataCenter => self.token.clone().map(Auth::Bearer).unwrap_or_default(),
        };
        o.timeout = self.timeout;
        o.requests_per_minute = self.requests_per_minute;
        o.ca_file = self.ca_file.clone();
        o.proxy = self.proxy.clone();
        o.max_retries = self.max_retries;
        o.hints.unauthorized = self.credentials_fix();
        o.hints.forbidden = forbidden;
        o.hints.not_found = not_found;
        o.hints.rejected = rejected;
        Client::new(o).map_err(|e| remote_error(e, "set-up of the client"))
    }
}

/// An HTTP failure as an ingest error: what was being done, where, and what to check.
pub(crate) fn remote_error(e: HttpError, action: &str) -> IngestError {
    let code = e.code();
    IngestError::Remote { remote: e.url, action: action.to_string(), detail: e.detail, fix: e.fix, code }
}

/// `s` with `&`, `<`, `>` and `"` escaped for HTML text and attributes.
pub(crate) fn escape_html(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// Milliseconds since the Unix epoch of an ISO 8601 / RFC 3339 timestamp as Atlassian writes
/// them (`2024-05-01T10:20:30.000Z`, `2024-05-01T10:20:30.000+0200`); 0 when it does not parse.
pub(crate) fn timestamp_ms(s: &str) -> i64 {
    let s = s.trim();
    // JIRA writes the offset without a colon (+0200); RFC 3339 wants +02:00.
    let fixed = match s.len().checked_sub(5).map(|i| s.split_at(i)) {
        Some((head, tail))
            if (tail.starts_with('+') || tail.starts_with('-')) && tail[1..].chars().all(|c| c.is_ascii_digit()) =>
        {
            format!("{head}{}:{}", &tail[..3], &tail[3..])
        }
        _ => s.to_string(),
    };
    time::OffsetDateTime::parse(&fixed, &time::format_description::well_known::Rfc3339)
        .map(|t| (t.unix_timestamp_nanos() / 1_000_000) as i64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_of_both_products_parse() {
        assert_eq!(timestamp_ms("1970-01-01T00:00:01.000Z"), 1000);
        assert_eq!(timestamp_ms("1970-01-01T01:00:01.500+0100"), 1500);
        assert_eq!(timestamp_ms("1970-01-01T01:00:01+01:00"), 1000);
        assert_eq!(timestamp_ms("yesterday"), 0);
    }

    #[test]
    fn secrets_stay_out_of_debug() {
        let c = Connection {
            deployment: Deployment::Cloud,
            base_url: "https://acme.atlassian.net".into(),
            email: Some("ada@acme.com".into()),
            api_token: Some("s3cret".into()),
            token: Some("pat-s3cret".into()),
            timeout: Duration::from_secs(1),
            requests_per_minute: 0,
            ca_file: None,
            proxy: None,
            max_retries: 0,
            key: "k".into(),
        };
        assert!(!format!("{c:?}").contains("s3cret"));
    }
}
