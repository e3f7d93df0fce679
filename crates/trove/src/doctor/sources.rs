//! The `sources` check: every configured source is reachable as configured, without reading
//! or changing anything: a local folder can be listed; a git repository answers and has the
//! branch (`git ls-remote` for a remote, so the mirror is untouched). A failure carries the
//! source's own diagnosis: DNS, connection, TLS, credentials, unknown repository or branch.

use trove_config::{SourceConfig, Workspace};
use trove_ingest::{GitSource, IngestError};

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
    match config {
        SourceConfig::Localfile(lf) => {
            let entries = std::fs::read_dir(&lf.path).map_err(|e| IngestError::io(lf.path.display().to_string(), e))?;
            Ok(format!("folder {} readable ({} entries at the top)", lf.path.display(), entries.count()))
        }
        SourceConfig::Git(_) => {
            let opts = trove_engine::git_options(ws, vault, source, config)
                .ok_or_else(|| IngestError::NotFound { uri: format!("{vault}.{source}") })?;
            let branch = opts.branch.clone().unwrap_or_else(|| "the default branch".into());
            let git = GitSource::new(opts)?;
            let commit = git.probe()?;
            Ok(format!("{} answers; {branch} is at {}", git.display_repo(), &commit[..commit.len().min(10)]))
        }
    }
}
