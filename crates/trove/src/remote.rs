//! The CLI's client of a running Trove server (`--url`): a blocking `ureq` agent with time
//! limits, the key sent as `Authorization: Bearer`, trust from the built-in roots plus an
//! optional `--ca-file` (as every Trove client builds it, [`trove_http::tls_config`]). The
//! server's error bodies come back as [`Failure`]s with the server's code and message, so a
//! command fails the same way against a server as on the workspace; a server that cannot be
//! reached, or that answers something other than Trove's API, is `server_unreachable`.

use std::path::Path;
use std::time::Duration;

use serde::de::DeserializeOwned;
use trove_types::{Code, ErrorBody};

use crate::Failure;

/// How long connecting may take.
const CONNECT: Duration = Duration::from_secs(10);
/// How long a whole request may take.
const TOTAL: Duration = Duration::from_secs(60);
/// The most bytes of an answer read.
const MAX_BODY: u64 = 64 * 1024 * 1024;

/// A server at a base URL, with the key to call it with.
pub struct Remote {
    base: String,
    key: Option<String>,
    agent: ureq::Agent,
}

impl Remote {
    /// Prepares the client; makes no request. `url` must be http:// or https://.
    pub fn new(url: &str, key: Option<String>, ca_file: Option<&Path>) -> Result<Remote, Failure> {
        let base = url.trim_end_matches('/').to_string();
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(Failure::new(
                Code::BadRequest,
                format!("--url `{url}`: give the server's address with its scheme, e.g. http://127.0.0.1:7700"),
            ));
        }
        let tls = trove_http::tls_config(ca_file, "--ca-file").map_err(|e| Failure::new(Code::BadRequest, e))?;
        let proxy = match trove_http::proxy_from_env(&base, |name| std::env::var(name).ok()) {
            Some(p) => Some(ureq::Proxy::new(&p).map_err(|e| {
                Failure::new(
                    Code::BadRequest,
                    format!("the proxy `{p}` (from HTTPS_PROXY/HTTP_PROXY) is not usable: {e}"),
                )
            })?),
            None => None,
        };
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_connect(Some(CONNECT))
            .timeout_global(Some(TOTAL))
            .proxy(proxy)
            .tls_config(tls)
            .user_agent(concat!("trove-cli/", env!("CARGO_PKG_VERSION")))
            .max_redirects(0)
            .build();
        Ok(Remote { base, key: key.filter(|k| !k.is_empty()), agent: ureq::Agent::new_with_config(config) })
    }

    /// `GET path?query`, its JSON body.
    pub fn get<T: DeserializeOwned>(&self, path: &str, query: &[(&str, String)]) -> Result<T, Failure> {
        let mut req = self.agent.get(format!("{}{path}", self.base));
        for (k, v) in query {
            req = req.query(*k, v);
        }
        if let Some(key) = &self.key {
            req = req.header("authorization", format!("Bearer {key}"));
        }
        self.answer("GET", path, req.call()).and_then(|body| self.decode("GET", path, &body))
    }

    /// `POST path` with an empty JSON object, its JSON body.
    pub fn post<T: DeserializeOwned>(&self, path: &str) -> Result<T, Failure> {
        let mut req = self.agent.post(format!("{}{path}", self.base)).header("content-type", "application/json");
        if let Some(key) = &self.key {
            req = req.header("authorization", format!("Bearer {key}"));
        }
        self.answer("POST", path, req.send("{}")).and_then(|body| self.decode("POST", path, &body))
    }

    /// `DELETE path`, expecting no body.
    pub fn delete(&self, path: &str) -> Result<(), Failure> {
        let mut req = self.agent.delete(format!("{}{path}", self.base));
        if let Some(key) = &self.key {
            req = req.header("authorization", format!("Bearer {key}"));
        }
        self.answer("DELETE", path, req.call()).map(|_| ())
    }

    /// The body of a 2xx answer; the server's error otherwise.
    fn answer(
        &self,
        method: &str,
        path: &str,
        result: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    ) -> Result<String, Failure> {
        let mut response = result
            .map_err(|e| Failure::new(Code::ServerUnreachable, format!("{method} {}{path} failed: {e}", self.base)))?;
        let status = response.status().as_u16();
        let body = response.body_mut().with_config().limit(MAX_BODY).read_to_string().map_err(|e| {
            Failure::new(Code::ServerUnreachable, format!("{method} {}{path}: the answer was cut off: {e}", self.base))
        })?;
        if (200..300).contains(&status) {
            return Ok(body);
        }
        Err(server_error(&self.base, method, path, status, &body))
    }

    fn decode<T: DeserializeOwned>(&self, method: &str, path: &str, body: &str) -> Result<T, Failure> {
        serde_json::from_str(body).map_err(|e| {
            Failure::new(
                Code::ServerUnreachable,
                format!(
                    "{method} {}{path}: the answer is not what a Trove server sends ({e}); is --url a Trove server?",
                    self.base
                ),
            )
        })
    }
}

/// A non-2xx answer as a failure: the server's own code and message when it sent an error
/// body, else what was answered.
fn server_error(base: &str, method: &str, path: &str, status: u16, body: &str) -> Failure {
    match serde_json::from_str::<ErrorBody>(body) {
        Ok(e) => {
            let code = Code::from_name(&e.code).unwrap_or(Code::Internal);
            let hint = match code {
                Code::MissingAuthorization | Code::InvalidApiKey | Code::InvalidSession => {
                    " (pass the key with --key or $TROVE_API_KEY)"
                }
                _ => "",
            };
            Failure::new(code, format!("{}{hint}", e.message))
        }
        Err(_) => {
            let text: String = body.chars().take(200).collect();
            Failure::new(
                Code::ServerUnreachable,
                format!(
                    "{method} {base}{path} answered {status} without a Trove error body: {text}; is --url a Trove server?"
                ),
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_servers_error_body_keeps_its_code_and_message() {
        let body = r#"{"message":"job `job_x` not found","code":"job_not_found","type":"invalid_request","link":"x"}"#;
        let f = server_error("http://h", "GET", "/v1/jobs/job_x", 404, body);
        assert_eq!((f.code, f.message.as_str()), (Code::JobNotFound, "job `job_x` not found"));
        let unauthorized = r#"{"message":"no key","code":"missing_authorization","type":"auth","link":"x"}"#;
        let f = server_error("http://h", "GET", "/v1/jobs", 401, unauthorized);
        assert!(f.message.contains("--key or $TROVE_API_KEY"), "{}", f.message);
        let proxy = server_error("http://h", "GET", "/v1/jobs", 502, "<html>Bad Gateway</html>");
        assert_eq!(proxy.code, Code::ServerUnreachable);
        assert!(proxy.message.contains("502") && proxy.message.contains("Bad Gateway"), "{}", proxy.message);
    }

    #[test]
    fn a_url_needs_its_scheme() {
        let f = Remote::new("127.0.0.1:7700", None, None).err().unwrap();
        assert_eq!(f.code, Code::BadRequest);
        assert!(f.message.contains("http://127.0.0.1:7700"), "{}", f.message);
    }
}
