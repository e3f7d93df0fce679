//! How results look: for people (titles, locations, highlighted snippets, aligned summaries)
//! and for programs (`--json`). Writing to a closed pipe ends quietly.

use std::io::{IsTerminal, Write};

use trove_engine::auth::Principal;
use trove_engine::{Engine, IngestReport};
use trove_types::{Code, SearchResponse};

use crate::Failure;

/// A closed pipe is a clean exit; another write failure is an error.
pub(crate) fn stdout_failure(e: std::io::Error) -> Result<(), Failure> {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        Ok(())
    } else {
        Err(Failure::new(Code::IoFailed, format!("writing output: {e}")))
    }
}

/// Prints an ingest summary.
pub fn ingest_report(report: &IngestReport, json: bool) -> Result<(), Failure> {
    let mut out = std::io::stdout().lock();
    let result = if json {
        writeln!(out, "{}", serde_json::to_string_pretty(report).unwrap_or_default())
    } else {
        (|| {
            for (vault, s) in &report.vaults {
                writeln!(
                    out,
                    "{vault}: {} added, {} updated, {} deleted, {} unchanged, {} failed; {} chunks ({} tokens) in {:.2}s",
                    s.added, s.updated, s.deleted, s.unchanged, s.failed, s.chunks, s.tokens, s.seconds
                )?;
                for f in &s.failures {
                    writeln!(out, "  failed: {f}")?;
                }
            }
            if report.reembedded_chunks > 0 {
                writeln!(
                    out,
                    "re-embedded {} chunks and memories with the configured model",
                    report.reembedded_chunks
                )?;
            }
            let t = &report.total;
            if report.vaults.len() > 1 {
                writeln!(
                    out,
                    "total: {} added, {} updated, {} deleted, {} unchanged, {} failed; {} chunks in {:.2}s",
                    t.added, t.updated, t.deleted, t.unchanged, t.failed, t.chunks, t.seconds
                )?;
            }
            Ok(())
        })()
    };
    result.or_else(stdout_failure)
}

/// Prints search hits (numbered from `offset + 1`).
pub fn search_response(r: &SearchResponse, offset: usize, json: bool) -> Result<(), Failure> {
    let mut out = std::io::stdout().lock();
    if json {
        return writeln!(out, "{}", serde_json::to_string(r).unwrap_or_default()).or_else(stdout_failure);
    }
    let color = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let result = (|| {
        if r.hits.is_empty() {
            writeln!(out, "No results for \"{}\" ({} search).", r.query, r.mode)?;
            return Ok(());
        }
        for (i, h) in r.hits.iter().enumerate() {
            let location = if h.heading_path.is_empty() {
                h.uri.clone()
            } else {
                format!("{} › {}", h.uri, h.heading_path.join(" › "))
            };
            if color {
                writeln!(
                    out,
                    "\x1b[1m{}. {}\x1b[0m  \x1b[2m{location}  [{}/{}]  score {:.4}\x1b[0m",
                    offset + i + 1,
                    h.title,
                    h.vault,
                    h.source,
                    h.score
                )?;
            } else {
                let n = offset + i + 1;
                writeln!(out, "{n}. {}  {location}  [{}/{}]  score {:.4}", h.title, h.vault, h.source, h.score)?;
            }
            match &h.context {
                // The passage whole: the hit (marked `>`) between its neighbours (`|`).
                Some(chunks) => {
                    for c in chunks {
                        let mark = if c.is_hit { ">" } else { "|" };
                        for line in c.text.lines().filter(|l| !l.trim().is_empty()) {
                            writeln!(out, "   {mark} {line}")?;
                        }
                    }
                }
                None => writeln!(out, "   {}", render_snippet(&h.snippet, color))?,
            }
            match h.other_chunks {
                Some(1) => writeln!(out, "   (1 more matching passage in this document)")?,
                Some(n) if n > 1 => writeln!(out, "   ({n} more matching passages in this document)")?,
                _ => {}
            }
        }
        Ok(())
    })();
    result.or_else(stdout_failure)
}

/// `**match**` becomes bold on a terminal, and stays as is otherwise.
fn render_snippet(s: &str, color: bool) -> String {
    if !color {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len());
    for (i, part) in s.split("**").enumerate() {
        if i % 2 == 1 {
            out.push_str("\x1b[1;33m");
            out.push_str(part);
            out.push_str("\x1b[0m");
        } else {
            out.push_str(part);
        }
    }
    out
}

/// Prints vaults with their counts (the same summaries `GET /v1/vaults` returns).
pub fn status(engine: &Engine, json: bool) -> Result<(), Failure> {
    let vaults = engine.visible_vaults(&Principal::Local)?;
    let mut out = std::io::stdout().lock();
    let result = if json {
        writeln!(out, "{}", serde_json::to_string_pretty(&vaults).unwrap_or_default())
    } else {
        (|| {
            for v in &vaults {
                writeln!(
                    out,
                    "{}: {} documents, {} chunks; model {}{}",
                    v.name,
                    v.documents,
                    v.chunks,
                    v.model.as_deref().unwrap_or("(none yet)"),
                    if v.configured { "" } else { " (not in config.yaml)" }
                )?;
                if let Some(r) = &v.reembedding {
                    writeln!(
                        out,
                        "  re-embedding for {}: {} of {} chunks staged; `trove ingest --vault {}` resumes it",
                        r.model, r.staged_chunks, r.chunks, v.name
                    )?;
                } else if v.model.as_ref().is_some_and(|m| *m != v.configured_model) {
                    writeln!(
                        out,
                        "  configured for {}: `trove ingest --vault {}` re-embeds it (searches keep working meanwhile)",
                        v.configured_model, v.name
                    )?;
                }
            }
            Ok(())
        })()
    };
    result.or_else(stdout_failure)
}
