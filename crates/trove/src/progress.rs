//! Ingest progress on the terminal: a bar per source when stderr is a terminal, otherwise a
//! log line per source and at most one progress line every five seconds.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use trove_engine::IngestProgress;
use trove_types::IngestSummary;

/// Progress for `trove ingest`.
pub struct CliProgress {
    bar: Option<ProgressBar>,
    plain: Mutex<Plain>,
}

struct Plain {
    label: String,
    total: u64,
    done: u64,
    last: Instant,
}

impl CliProgress {
    /// A bar when `bar` is true, plain lines otherwise.
    pub fn new(bar: bool) -> CliProgress {
        let bar = bar.then(|| {
            let b = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
            b.set_style(
                ProgressStyle::with_template("{prefix:.bold} [{bar:30}] {pos}/{len} documents {per_sec} eta {eta}")
                    .unwrap_or_else(|_| ProgressStyle::default_bar())
                    .progress_chars("=> "),
            );
            b
        });
        CliProgress { bar, plain: Mutex::new(Plain { label: String::new(), total: 0, done: 0, last: Instant::now() }) }
    }

    /// Says what the run is doing after its sources (on the bar's line, with the time spent,
    /// or as a log line).
    pub fn phase(&self, what: &str) {
        match &self.bar {
            Some(b) => {
                b.set_style(
                    ProgressStyle::with_template("{prefix:.bold} {elapsed}")
                        .unwrap_or_else(|_| ProgressStyle::default_bar()),
                );
                b.set_prefix(what.to_string());
                b.tick();
            }
            None => tracing::info!("{what}"),
        }
    }

    /// Removes the bar before the summary is printed.
    pub fn clear(&self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}

impl IngestProgress for CliProgress {
    fn source_started(&self, vault: &str, source: &str, total: u64) {
        if let Some(b) = &self.bar {
            b.set_prefix(format!("{vault}/{source}"));
            b.set_length(total);
            b.set_position(0);
            b.reset_eta();
        }
        let mut p = self.plain.lock().unwrap_or_else(|e| e.into_inner());
        *p = Plain { label: format!("{vault}/{source}"), total, done: 0, last: Instant::now() };
        if self.bar.is_none() {
            tracing::info!(vault, source, documents = total, "ingesting");
        }
    }

    fn advance(&self, n: u64) {
        if let Some(b) = &self.bar {
            b.inc(n);
            return;
        }
        let mut p = self.plain.lock().unwrap_or_else(|e| e.into_inner());
        p.done += n;
        if p.last.elapsed() >= Duration::from_secs(5) {
            p.last = Instant::now();
            tracing::info!(source = %p.label, done = p.done, total = p.total, "progress");
        }
    }

    fn source_finished(&self, _vault: &str, _source: &str, _summary: &IngestSummary) {}

    fn document_failed(&self, uri: &str, reason: &str) {
        match &self.bar {
            Some(b) => b.suspend(|| tracing::warn!(uri, reason, "skipped a document")),
            None => tracing::warn!(uri, reason, "skipped a document"),
        }
    }
}
