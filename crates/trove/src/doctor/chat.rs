//! The `chat` check: every configured chat model (`llm:` when it names `models.chat`, each
//! entry of `chat_models:`), reached by the same network steps as the REST embedders
//! ([`super::remote::reach`]: the key's secret, proxy, DNS, TCP, the proxy's tunnel, TLS), then
//! asked for a one-token answer without retries, so a failure names its step: 401/403 (the
//! key), 404 (the model or deployment, or the base URL's path), 429 (the rate limit), no
//! answer in time.

use std::time::{Duration, Instant};

use trove_chat::{ChatClient, ChatError, ChatModel, ChatOptions, Message};
use trove_config::{LlmConfig, Workspace};

use super::remote::{in_parallel, reach};
use super::{Outcome, fail, ok, skip, warn};

/// The `chat` check over every configured chat model.
pub fn check(ws: &Workspace) -> Outcome {
    let config = &ws.config;
    let mut profiles: Vec<(String, &LlmConfig)> = Vec::new();
    if config.llm.models.chat.is_some() {
        profiles.push(("llm".into(), &config.llm));
    }
    profiles.extend(config.chat_models.iter().map(|(name, llm)| (format!("chat_models.{name}"), llm)));
    if profiles.is_empty() {
        return skip("no chat model is configured (answers need llm.models.chat or an entry of chat_models:)");
    }
    in_parallel(&profiles, |label, llm| probe(&trove_engine::chat_options(llm, label)))
}

/// One chat model, step by step.
fn probe(opts: &ChatOptions) -> Outcome {
    let reached = match reach(&opts.base_url, opts.proxy.as_deref(), opts.ca_file.as_deref(), opts.api_key.as_deref()) {
        Ok(r) => r,
        Err(outcome) => return outcome,
    };
    let mut request = opts.clone();
    request.max_retries = 0;
    request.max_output_tokens = 1;
    request.timeout = opts.timeout.min(Duration::from_secs(10));
    request.total_timeout = request.timeout;
    let client = match ChatClient::new(request) {
        Ok(c) => c,
        Err(e) => return fail(e.to_string(), "fix the setting named"),
    };
    let started = Instant::now();
    let answer = client.complete(&[Message::user("Reply with OK.")]);
    let took = started.elapsed().as_secs_f64() * 1000.0;
    let outcome = match answer {
        Ok(_) => ok(format!(
            "{} at {}{}: answered in {took:.0} ms (connect {:.0} ms{})",
            opts.model,
            opts.base_url,
            reached.route,
            reached.connect_ms,
            if reached.https { ", TLS verified" } else { "" }
        )),
        Err(e) => request_failure(&e, opts),
    };
    reached.with_notes(outcome)
}

/// What a chat-shaped request's failure means (answers, captions, transcriptions).
pub(super) fn request_failure(e: &ChatError, opts: &ChatOptions) -> Outcome {
    let key = &opts.key;
    let setting = opts.role.setting();
    match e {
        ChatError::Unauthorized { status, .. } => fail(
            format!("{status} {}", if *status == 401 { "Unauthorized" } else { "Forbidden" }),
            if *status == 401 {
                format!(
                    "the API key is missing, wrong or expired: set {key}.api_key (e.g. ${{OPENAI_API_KEY}}) to a valid key"
                )
            } else {
                "the key is valid but may not use this model or deployment: grant it access, or use another key".into()
            },
        ),
        ChatError::ModelNotFound { .. } => fail(
            format!("404 Not Found for model `{}` at {}", opts.model, opts.base_url),
            format!(
                "the model (Azure: the deployment) does not exist there, or base_url lacks its path (e.g. /v1): fix {key}.{setting} or {key}.base_url"
            ),
        ),
        ChatError::Throttled { detail, .. } => warn(
            format!("429 Too Many Requests: {detail}"),
            format!(
                "the provider limits this key: lower {key}.rate_limits (rpm, tpm, concurrency), or raise the quota"
            ),
        ),
        ChatError::Timeout { secs, .. } => fail(
            format!("{}: connected, but no answer within {secs} s", opts.base_url),
            "the service accepts connections but does not answer: it is overloaded or hung (a local model may still be loading), or the port belongs to something else",
        ),
        other => fail(other.to_string(), "see the message for the setting to fix"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use trove_chat::testing::{FakeChat, Script};

    fn options(chat: &FakeChat) -> ChatOptions {
        let mut opts = ChatOptions::new(&chat.url(), "fake-model", "chat_models.fake");
        opts.api_key = Some("sk-test".into());
        opts
    }

    #[test]
    fn each_failure_names_its_fix() {
        let answered = FakeChat::always(Script::answer(&["OK"]));
        let (status, found, _) = probe(&options(&answered));
        assert_eq!(status, super::super::Status::Ok, "{found}");
        assert!(found.contains("fake-model") && found.contains("answered in"), "{found}");
        assert_eq!(answered.requests()[0].json()["max_tokens"], 1);

        let cases = [
            (Script::status(401, "bad key"), "401 Unauthorized", "chat_models.fake.api_key"),
            (Script::status(403, "no access"), "403 Forbidden", "grant it access"),
            (
                Script::status(404, "no such model"),
                "404 Not Found for model `fake-model`",
                "chat_models.fake.models.chat",
            ),
            (Script::status(429, "slow down").header("Retry-After", "1"), "429 Too Many Requests", "rate_limits"),
        ];
        for (script, want_found, want_fix) in cases {
            let chat = FakeChat::always(script);
            let (status, found, fix) = probe(&options(&chat));
            let fix = fix.unwrap_or_default();
            assert!(status > super::super::Status::Ok, "{found}");
            assert!(found.contains(want_found) && fix.contains(want_fix), "{found} / {fix}");
            assert_eq!(chat.calls(), 1, "the doctor does not retry");
        }
    }

    #[test]
    fn an_unresolvable_host_is_a_dns_failure() {
        let mut opts = ChatOptions::new("http://no-such-host.invalid/v1", "m", "llm");
        opts.api_key = None;
        let (status, found, _) = probe(&opts);
        assert_eq!(status, super::super::Status::Fail);
        assert!(found.contains("Name or service not known") || found.contains("took over"), "{found}");
    }
}
