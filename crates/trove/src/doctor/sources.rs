//! The `sources` check: every configured source is reachable as configured, without reading
//! a document or changing anything ([`trove_engine::probe_source`]): a local folder can be
//! listed; a git repository answers and has the branch (`git ls-remote` for a remote, so the
//! mirror is untouched); a Confluence space or a JIRA query is readable with the credentials; a
//! public site's robots.txt and base page answer (the page is read, not indexed). A failure
//! carries the source's own diagnosis: DNS, connection, TLS, credentials, permission,
//! unknown repository, branch, space or project.

use trove_config::{SourceConfig, Workspace};
use trove_ingest::IngestError;

use super::{Outcome, Status, fail, ok, skip};

/// Checks every source of every vault, in parallel.
pub fn check(ws: &Workspace) -> Outcome {
    let sources: Vec<(String, &SourceConfig)> = ws
        .config
        .vaults
        .iter()
        .flat_map(|(v, vault)| vault.sources.iter().map(move |(s, c)| (format!("{v}.{s}"), c)))
        .collect();
    if sources.is_empty() {
        return skip("no source is configured");
    }
    let outcomes: Vec<(String, Result<String, IngestError>)> = std::thread::scope(|scope| {
        let running: Vec<_> = sources
            .iter()
            .map(|(label, config)| {
                let (vault, source) = label.split_once('.').unwrap_or_default();
                (label.clone(), scope.spawn(move || probe(ws, vault, source, config)))
            })
            .collect();
        running
            .into_iter()
            .map(|(label, h)| (label, h.join().unwrap_or_else(|_| Ok("the probe crashed".into()))))
            .collect()
    });
    let failed: Vec<&(String, Result<String, IngestError>)> = outcomes.iter().filter(|(_, r)| r.is_err()).collect();
    let found = outcomes
        .iter()
        .map(|(label, r)| match r {
            Ok(what) => format!("{label}: {what}"),
            Err(e) => format!("{label}: {e}"),
        })
        .collect::<Vec<_>>()
        .join("; ");
    if failed.is_empty() {
        return ok(found);
    }
    let fixes = failed
        .iter()
        .map(|(label, r)| match r {
            Err(IngestError::Remote { fix, .. }) => format!("{label}: {fix}"),
            Err(e) => format!("{label}: {e}"),
            Ok(_) => String::new(),
        })
        .collect::<Vec<_>>()
        .join(" / ");
    let outcome = fail(found, fixes);
    debug_assert_eq!(outcome.0, Status::Fail);
    outcome
}

fn probe(ws: &Workspace, vault: &str, source: &str, config: &SourceConfig) -> Result<String, IngestError> {
    let mut unresolved = config.clone();
    if let Some((key, value)) =
        unresolved.credentials_mut().into_iter().find(|(_, v)| trove_config::secrets::parse_reference(v).is_some())
    {
        return Err(IngestError::Remote {
            remote: format!("{vault}.{source}"),
            action: "check".into(),
            detail: format!("{key} is `{value}`, which does not open"),
            fix: "see `trove doctor --only secrets` for why, and store the secret".into(),
            code: trove_types::Code::SecretNotFound,
        });
    }
    trove_engine::probe_source(ws, vault, source, config).map_err(|e| match e {
        trove_engine::EngineError::Ingest(inner) => inner,
        other => IngestError::Remote {
            remote: format!("{vault}.{source}"),
            action: "check".into(),
            detail: other.to_string(),
            fix: format!("check vaults.{vault}.sources.{source}"),
            code: trove_types::HasCode::code(&other),
        },
    })
}
