//! Prometheus metrics, written by hand in the text exposition format (version 0.0.4): request
//! counts by route template, method and status; request latency by route; search latency by
//! mode; answers' generation latency, tokens in and out, and failures by kind; embedding latency (when the model was loaded at startup and wrapped by
//! [`TimedEmbedder`]); and the process's resident memory from `/proc/self/statm`.
//!
//! Routes are labelled by their template (`/v1/vaults/{vault}/search`), never by the raw path,
//! so a client cannot grow the label set; requests that match no route share `unmatched`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use trove_embed::{EmbedError, Embedder, EmbedderWrapper};

/// Upper bounds of the latency buckets, in seconds.
const BUCKETS: [f64; 14] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];

/// A latency histogram with the fixed [`BUCKETS`].
#[derive(Debug, Clone, Default)]
struct Histogram {
    /// Observations per bucket (not cumulative); the last slot is above every bound.
    counts: [u64; BUCKETS.len() + 1],
    sum: f64,
    count: u64,
}

impl Histogram {
    fn observe(&mut self, seconds: f64) {
        let i = BUCKETS.iter().position(|b| seconds <= *b).unwrap_or(BUCKETS.len());
        self.counts[i] += 1;
        self.sum += seconds;
        self.count += 1;
    }

    fn render(&self, out: &mut String, name: &str, labels: &str) {
        let sep = if labels.is_empty() { "" } else { "," };
        let mut cumulative = 0;
        for (bound, n) in BUCKETS.iter().zip(&self.counts) {
            cumulative += n;
            let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"{bound}\"}} {cumulative}");
        }
        let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"+Inf\"}} {}", self.count);
        let braces = if labels.is_empty() { String::new() } else { format!("{{{labels}}}") };
        let _ = writeln!(out, "{name}_sum{braces} {}", self.sum);
        let _ = writeln!(out, "{name}_count{braces} {}", self.count);
    }
}

/// The `# HELP` and `# TYPE` lines of a metric family.
fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

/// Escapes a label value.
fn label(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

#[derive(Debug, Default)]
struct Inner {
    requests: BTreeMap<(String, String, u16), u64>,
    request_latency: BTreeMap<String, Histogram>,
    search_latency: BTreeMap<(&'static str, &'static str), Histogram>,
    embed_latency: Option<Histogram>,
    /// Calls of the embedding model that failed.
    embed_errors: u64,
    jobs: BTreeMap<(String, &'static str), Histogram>,
    ingest_groups: Histogram,
    ingested_documents: u64,
    ingested_chunks: u64,
    answer_generation: Histogram,
    answer_tokens_in: u64,
    answer_tokens_out: u64,
    answer_failures: BTreeMap<&'static str, u64>,
}

/// The server's metrics.
#[derive(Debug)]
pub struct Metrics {
    inner: Mutex<Inner>,
    started: Instant,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    /// Empty metrics; uptime counts from now.
    pub fn new() -> Metrics {
        Metrics { inner: Mutex::new(Inner::default()), started: Instant::now() }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records one answered request.
    pub fn request(&self, route: &str, method: &str, status: u16, took: Duration) {
        let mut m = self.lock();
        *m.requests.entry((route.to_string(), method.to_string(), status)).or_default() += 1;
        m.request_latency.entry(route.to_string()).or_default().observe(took.as_secs_f64());
    }

    /// Records one search of `kind` (`documents` or `memories`) in a mode.
    pub fn search(&self, kind: &'static str, mode: &'static str, took: Duration) {
        self.lock().search_latency.entry((kind, mode)).or_default().observe(took.as_secs_f64());
    }

    /// Records one answer the chat model generated: its time, and its tokens in (the prompt)
    /// and out (the answer).
    pub fn answered(&self, generation_ms: u64, tokens_in: u64, tokens_out: u64) {
        let mut m = self.lock();
        m.answer_generation.observe(generation_ms as f64 / 1000.0);
        m.answer_tokens_in += tokens_in;
        m.answer_tokens_out += tokens_out;
    }

    /// Records one answer that failed, by the kind of the chat model's failure (`timeout`,
    /// `throttled`, `unavailable`...).
    pub fn answer_failed(&self, kind: &'static str) {
        *self.lock().answer_failures.entry(kind).or_default() += 1;
    }

    /// Records one call of the embedding model, and whether it failed.
    pub fn embed(&self, took: Duration, failed: bool) {
        let mut m = self.lock();
        m.embed_latency.get_or_insert_with(Histogram::default).observe(took.as_secs_f64());
        m.embed_errors += u64::from(failed);
    }

    /// Declares the embedder as timed, so its histogram appears (with zero counts) before the
    /// first call.
    pub fn embedder_timed(&self) {
        self.lock().embed_latency.get_or_insert_with(Histogram::default);
    }

    /// The exposition text, with the queue's depths when known.
    pub fn render_with(
        &self,
        jobs: Option<&trove_engine::JobCounts>,
        connections: Option<&trove_engine::ConnectionStats>,
        index: Option<&trove_engine::ExternalIndexStats>,
    ) -> String {
        let mut out = self.render();
        if let Some(ix) = index {
            let backend = label(&ix.backend);
            for (name, help, n) in [
                (
                    "trove_vector_index_requests_total",
                    "HTTP requests sent to the vector index (retries included).",
                    ix.requests,
                ),
                (
                    "trove_vector_index_retries_total",
                    "Requests to the vector index that retried a transient failure.",
                    ix.retries,
                ),
                (
                    "trove_vector_index_failures_total",
                    "Calls to the vector index that failed (after retries, refused, or by the open circuit breaker).",
                    ix.failures,
                ),
            ] {
                let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
                let _ = writeln!(out, "{name}{{backend=\"{backend}\"}} {n}");
            }
            out.push_str("# HELP trove_vector_index_circuit_open 1 while calls to the vector index are refused after repeated failures.\n");
            out.push_str("# TYPE trove_vector_index_circuit_open gauge\n");
            let _ =
                writeln!(out, "trove_vector_index_circuit_open{{backend=\"{backend}\"}} {}", u8::from(ix.circuit_open));
            if let Some(pending) = ix.pending {
                out.push_str("# HELP trove_vector_index_pending Changes stored but not yet applied to the vector index (searches of their vaults use the database meanwhile).\n");
                out.push_str("# TYPE trove_vector_index_pending gauge\n");
                let _ = writeln!(out, "trove_vector_index_pending{{backend=\"{backend}\"}} {pending}");
            }
        }
        if let Some(c) = connections {
            let backend = label(&c.backend);
            out.push_str(
                "# HELP trove_store_connections Database connections of this node, by state (open, in_use, max).\n",
            );
            out.push_str("# TYPE trove_store_connections gauge\n");
            for (state, n) in [("open", c.open), ("in_use", c.in_use), ("max", c.max)] {
                let _ = writeln!(out, "trove_store_connections{{backend=\"{backend}\",state=\"{state}\"}} {n}");
            }
            for (name, help, n) in [
                ("trove_store_connection_waits_total", "Requests that waited for a free database connection.", c.waits),
                (
                    "trove_store_connection_timeouts_total",
                    "Requests that gave up waiting for a database connection.",
                    c.timeouts,
                ),
                ("trove_store_connects_total", "Database connections opened.", c.connects),
                ("trove_store_connect_failures_total", "Database connection attempts that failed.", c.connect_failures),
            ] {
                let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
                let _ = writeln!(out, "{name}{{backend=\"{backend}\"}} {n}");
            }
            out.push_str("# HELP trove_store_circuit_open 1 while new database connections are refused after repeated failures.\n");
            out.push_str("# TYPE trove_store_circuit_open gauge\n");
            let _ = writeln!(out, "trove_store_circuit_open{{backend=\"{backend}\"}} {}", u8::from(c.breaker_open));
        }
        if let Some(c) = jobs {
            out.push_str("# HELP trove_queue_depth Jobs waiting in the queue (including delayed retries) or running, by status.\n");
            out.push_str("# TYPE trove_queue_depth gauge\n");
            let _ = writeln!(out, "trove_queue_depth{{status=\"queued\"}} {}", c.queued);
            let _ = writeln!(out, "trove_queue_depth{{status=\"running\"}} {}", c.running);
            out.push_str("# HELP trove_dlq_depth Jobs in the dead-letter queue.\n");
            out.push_str("# TYPE trove_dlq_depth gauge\n");
            let _ = writeln!(out, "trove_dlq_depth {}", c.dead);
        }
        out
    }

    /// The exposition text.
    pub fn render(&self) -> String {
        let m = self.lock();
        let mut out = String::with_capacity(4096);
        out.push_str(
            "# HELP trove_http_requests_total HTTP requests answered, by route template, method and status.\n",
        );
        out.push_str("# TYPE trove_http_requests_total counter\n");
        for ((route, method, status), n) in &m.requests {
            let _ = writeln!(
                out,
                "trove_http_requests_total{{route=\"{}\",method=\"{}\",status=\"{status}\"}} {n}",
                label(route),
                label(method)
            );
        }
        out.push_str("# HELP trove_http_request_duration_seconds Time from receiving a request to its response, by route template.\n");
        out.push_str("# TYPE trove_http_request_duration_seconds histogram\n");
        for (route, h) in &m.request_latency {
            h.render(&mut out, "trove_http_request_duration_seconds", &format!("route=\"{}\"", label(route)));
        }
        out.push_str("# HELP trove_search_latency_seconds Engine time of one search, query embedding included, by kind (documents or memories) and mode.\n");
        out.push_str("# TYPE trove_search_latency_seconds histogram\n");
        for ((kind, mode), h) in &m.search_latency {
            h.render(&mut out, "trove_search_latency_seconds", &format!("kind=\"{kind}\",mode=\"{mode}\""));
        }
        out.push_str("# HELP trove_job_processing_duration_seconds Time of one job attempt, by kind and outcome (succeeded, retry, dead, cancelled, released, lost).\n");
        out.push_str("# TYPE trove_job_processing_duration_seconds histogram\n");
        for ((kind, outcome), h) in &m.jobs {
            h.render(
                &mut out,
                "trove_job_processing_duration_seconds",
                &format!("kind=\"{}\",outcome=\"{outcome}\"", label(kind)),
            );
        }
        out.push_str("# HELP trove_ingest_latency_seconds Time to embed and write one group of documents in one transaction (jobs of this server).\n");
        out.push_str("# TYPE trove_ingest_latency_seconds histogram\n");
        m.ingest_groups.render(&mut out, "trove_ingest_latency_seconds", "");
        out.push_str("# HELP trove_ingested_documents_total Documents indexed by jobs of this server.\n");
        out.push_str("# TYPE trove_ingested_documents_total counter\n");
        let _ = writeln!(out, "trove_ingested_documents_total {}", m.ingested_documents);
        out.push_str("# HELP trove_ingested_chunks_total Chunks embedded and indexed by jobs of this server.\n");
        out.push_str("# TYPE trove_ingested_chunks_total counter\n");
        let _ = writeln!(out, "trove_ingested_chunks_total {}", m.ingested_chunks);
        out.push_str(
            "# HELP trove_db_query_duration_seconds Time one store operation held a database connection, by access (read or write).\n",
        );
        out.push_str("# TYPE trove_db_query_duration_seconds histogram\n");
        for q in trove_engine::store_metrics::query_histograms() {
            let labels = format!("access=\"{}\"", q.kind);
            for (bound, n) in trove_engine::store_metrics::BUCKETS.iter().zip(&q.cumulative) {
                let _ = writeln!(out, "trove_db_query_duration_seconds_bucket{{{labels},le=\"{bound}\"}} {n}");
            }
            let total = q.cumulative.last().copied().unwrap_or(0);
            let _ = writeln!(out, "trove_db_query_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {total}");
            let _ = writeln!(out, "trove_db_query_duration_seconds_sum{{{labels}}} {}", q.sum_seconds);
            let _ = writeln!(out, "trove_db_query_duration_seconds_count{{{labels}}} {total}");
        }
        family(
            &mut out,
            "trove_answer_generation_seconds",
            "histogram",
            "Time the chat model took to generate one answer (retrieval excluded).",
        );
        m.answer_generation.render(&mut out, "trove_answer_generation_seconds", "");
        family(
            &mut out,
            "trove_answer_tokens_total",
            "counter",
            "Tokens of answers' prompts (in) and of the answers (out), as the chat model's server counted them or Trove estimated.",
        );
        let _ = writeln!(out, "trove_answer_tokens_total{{direction=\"in\"}} {}", m.answer_tokens_in);
        let _ = writeln!(out, "trove_answer_tokens_total{{direction=\"out\"}} {}", m.answer_tokens_out);
        family(
            &mut out,
            "trove_answer_failures_total",
            "counter",
            "Answers the chat model failed, by kind (unauthorized, model_not_found, rejected, throttled, timeout, unavailable, not_configured).",
        );
        for (kind, n) in &m.answer_failures {
            let _ = writeln!(out, "trove_answer_failures_total{{kind=\"{kind}\"}} {n}");
        }
        if let Some(h) = &m.embed_latency {
            out.push_str(
                "# HELP trove_embedder_latency_seconds Time of one call of the embedding model (one batch of texts).\n",
            );
            out.push_str("# TYPE trove_embedder_latency_seconds histogram\n");
            h.render(&mut out, "trove_embedder_latency_seconds", "");
            family(
                &mut out,
                "trove_embedder_errors_total",
                "counter",
                "Calls of the embedding model that failed (a provider refusing or unreachable, a model that cannot run).",
            );
            let _ = writeln!(out, "trove_embedder_errors_total {}", m.embed_errors);
        }
        drop(m);
        if let Some(rss) = resident_memory_bytes() {
            out.push_str("# HELP trove_process_resident_memory_bytes Resident memory of the server process.\n");
            out.push_str("# TYPE trove_process_resident_memory_bytes gauge\n");
            let _ = writeln!(out, "trove_process_resident_memory_bytes {rss}");
        }
        out.push_str("# HELP trove_uptime_seconds Seconds since the server started.\n");
        out.push_str("# TYPE trove_uptime_seconds gauge\n");
        let _ = writeln!(out, "trove_uptime_seconds {}", self.started.elapsed().as_secs_f64());
        out
    }

    /// Seconds since [`Metrics::new`].
    pub fn uptime(&self) -> Duration {
        self.started.elapsed()
    }
}

impl trove_engine::worker::JobObserver for Metrics {
    fn job_finished(&self, kind: &str, outcome: &'static str, took: Duration) {
        self.lock().jobs.entry((kind.to_string(), outcome)).or_default().observe(took.as_secs_f64());
    }

    fn ingest_group(&self, documents: u64, chunks: u64, took: Duration) {
        let mut m = self.lock();
        m.ingest_groups.observe(took.as_secs_f64());
        m.ingested_documents += documents;
        m.ingested_chunks += chunks;
    }
}

/// Resident set size from `/proc/self/statm` (its second field, in pages); `None` off Linux.
pub fn resident_memory_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * rustix::param::page_size() as u64)
}

/// An [`Embedder`] that records the latency of every `embed` call.
pub struct TimedEmbedder {
    inner: Arc<dyn Embedder>,
    metrics: Arc<Metrics>,
}

impl TimedEmbedder {
    /// Wraps `inner`, recording into `metrics`.
    pub fn new(inner: Arc<dyn Embedder>, metrics: Arc<Metrics>) -> TimedEmbedder {
        metrics.embedder_timed();
        TimedEmbedder { inner, metrics }
    }
}

impl EmbedderWrapper for TimedEmbedder {
    fn inner(&self) -> &dyn Embedder {
        self.inner.as_ref()
    }

    fn embed_wrapped(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError> {
        let started = Instant::now();
        let out = self.inner.embed(texts);
        self.metrics.embed(started.elapsed(), out.is_err());
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histograms_are_cumulative_and_labels_escaped() {
        let m = Metrics::new();
        m.request("/v1/vaults/{vault}", "GET", 200, Duration::from_millis(3));
        m.request("/v1/vaults/{vault}", "GET", 200, Duration::from_millis(300));
        m.request("/v1/vaults/{vault}", "GET", 404, Duration::from_secs(60));
        m.search("documents", "keyword", Duration::from_millis(2));
        let text = m.render();
        assert!(
            text.contains("trove_http_requests_total{route=\"/v1/vaults/{vault}\",method=\"GET\",status=\"200\"} 2")
        );
        assert!(
            text.contains("trove_http_requests_total{route=\"/v1/vaults/{vault}\",method=\"GET\",status=\"404\"} 1")
        );
        let b = |le: &str| {
            format!("trove_http_request_duration_seconds_bucket{{route=\"/v1/vaults/{{vault}}\",le=\"{le}\"}}")
        };
        assert!(text.contains(&format!("{} 0\n", b("0.001"))), "{text}");
        assert!(text.contains(&format!("{} 1\n", b("0.005"))), "{text}");
        assert!(text.contains(&format!("{} 2\n", b("0.5"))), "{text}");
        assert!(text.contains(&format!("{} 2\n", b("30"))), "{text}");
        assert!(text.contains(&format!("{} 3\n", b("+Inf"))), "{text}");
        assert!(text.contains("trove_http_request_duration_seconds_count{route=\"/v1/vaults/{vault}\"} 3"));
        assert!(text.contains("trove_search_latency_seconds_count{kind=\"documents\",mode=\"keyword\"} 1"));
        assert!(!text.contains("trove_embedder_latency_seconds"), "embedder latency shown without a timed embedder");
        assert!(!text.contains("trove_embedder_errors_total"), "embedder errors shown without a timed embedder");
        m.embedder_timed();
        assert!(m.render().lines().any(|l| l == "trove_embedder_errors_total 0"));
        m.embed(Duration::from_millis(5), true);
        m.embed(Duration::from_millis(5), false);
        let text = m.render();
        assert!(text.lines().any(|l| l == "trove_embedder_errors_total 1"), "{text}");
        assert!(text.lines().any(|l| l == "trove_embedder_latency_seconds_count 2"), "{text}");
        assert_eq!(label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
        if cfg!(target_os = "linux") {
            assert!(resident_memory_bytes().unwrap() > 1024 * 1024);
        }
    }

    #[test]
    fn the_vector_index_figures_appear_only_with_an_index() {
        let m = Metrics::new();
        assert!(!m.render_with(None, None, None).contains("trove_vector_index"));
        let stats = trove_engine::ExternalIndexStats {
            backend: "qdrant".into(),
            requests: 12,
            retries: 3,
            failures: 1,
            circuit_open: true,
            pending: Some(4),
        };
        let text = m.render_with(None, None, Some(&stats));
        for line in [
            "trove_vector_index_requests_total{backend=\"qdrant\"} 12",
            "trove_vector_index_retries_total{backend=\"qdrant\"} 3",
            "trove_vector_index_failures_total{backend=\"qdrant\"} 1",
            "trove_vector_index_circuit_open{backend=\"qdrant\"} 1",
            "trove_vector_index_pending{backend=\"qdrant\"} 4",
            "# TYPE trove_vector_index_pending gauge",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} missing from\n{text}");
        }
        let uncounted = trove_engine::ExternalIndexStats { pending: None, ..stats };
        assert!(!m.render_with(None, None, Some(&uncounted)).contains("trove_vector_index_pending"));
    }
}
