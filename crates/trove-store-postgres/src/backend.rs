//! What kind of backend PostgreSQL is and its upkeep ([`Backend`]): shared by every node (so
//! no job without a live worker here is presumed abandoned), its connection pool's figures,
//! the `LISTEN` waiter that wakes idle workers when another node enqueues (see `listen`), the
//! external vector index beside it (see [`crate::index`]), the integrity checks `trove doctor`
//! runs, and the rate-limit token buckets every node counts against: one row per bucket
//! (`rate_limits`: tokens left at a time), refilled and taken from in one conditional upsert,
//! so two nodes taking at once cannot both take the last token. Buckets idle for two days
//! (full again for every limit Trove has) are deleted now and then.

use postgres::Client;

use crate::*;

/// Buckets idle this long are full again and can go.
const IDLE_MS: i64 = 2 * 86_400_000;

/// Counts of rows that break an invariant, each with what it means: `{n}` is the count.
const INTEGRITY_CHECKS: &[(&str, &str)] = &[
    (
        "SELECT count(*) FROM chunks c LEFT JOIN documents d ON d.id = c.document_id WHERE d.id IS NULL",
        "{n} chunks belong to no document",
    ),
    (
        "SELECT count(*) FROM chunks c JOIN documents d ON d.id = c.document_id WHERE d.vault_id <> c.vault_id",
        "{n} chunks name another vault than their document",
    ),
    (
        "SELECT count(*) FROM (SELECT document_id, max(idx) + 1 AS n, count(*) AS c FROM chunks GROUP BY document_id) g WHERE n <> c",
        "{n} documents have gaps in their chunk numbering",
    ),
    (
        "SELECT count(*) FROM memories m JOIN vaults v ON v.id = m.vault_id WHERE vector_dims(m.vector) <> v.dimension",
        "{n} memories have a vector of the wrong dimension",
    ),
    (
        "SELECT count(*) FROM vaults v LEFT JOIN LATERAL (
             SELECT count(*) AS n, coalesce(sum(term_count), 0) AS len FROM chunks c WHERE c.vault_id = v.id) k ON true
         WHERE v.keyword_rows <> k.n OR v.keyword_length <> k.len",
        "{n} vaults' keyword statistics disagree with their chunks",
    ),
    (
        "SELECT count(*) FROM chunks c WHERE c.term_count > 0
             AND NOT EXISTS (SELECT 1 FROM chunk_terms p WHERE p.chunk_id = c.id)",
        "{n} chunks have no keyword postings",
    ),
    (
        "SELECT count(*) FROM vaults v WHERE v.dimension IS NOT NULL AND NOT EXISTS (
             SELECT 1 FROM pg_indexes i WHERE i.schemaname = current_schema()
             AND i.indexname = 'chunks_hnsw_' || v.id || '_' || v.dimension)",
        "{n} vaults have no vector index for their dimension",
    ),
];

impl Backend for PgStore {
    fn shared(&self) -> bool {
        true
    }

    fn connections(&self) -> Option<trove_store::ConnectionStats> {
        Some(self.pool.stats())
    }

    fn job_waiter(&self) -> Option<trove_store::JobWaiter> {
        let mut listener = listen::JobListener::new(self.pool.connector(), self.what().to_string());
        Some(Box::new(move |within| listener.wait(within)))
    }

    fn external_index(&self) -> Option<trove_store::ExternalIndexStatus> {
        let index = self.index.as_deref()?;
        Some(trove_store::ExternalIndexStatus {
            describe: index.describe(),
            reachable: index.check().map_err(|e| e.to_string()),
            pending: self.index_pending(None).unwrap_or(0),
        })
    }

    fn external_index_stats(&self) -> Option<trove_store::ExternalIndexStats> {
        let index = self.index.as_deref()?;
        Some(trove_store::ExternalIndexStats { pending: self.index_pending(None).ok(), ..index.stats() })
    }

    fn check_integrity(&self) -> Result<IntegrityReport, StoreError> {
        self.read(|c| {
            let count = |c: &mut Client, sql: &str| -> Res<u64> { Ok(c.query_one(sql, &[])?.get::<_, i64>(0) as u64) };
            let mut report = IntegrityReport {
                documents: count(c, "SELECT count(*) FROM documents")?,
                chunks: count(c, "SELECT count(*) FROM chunks")?,
                vectors: count(
                    c,
                    "SELECT count(*) FROM chunks c JOIN vaults v ON v.id = c.vault_id WHERE vector_dims(c.vector) = v.dimension",
                )?,
                problems: Vec::new(),
            };
            if report.vectors != report.chunks {
                report.problems.push(format!(
                    "{} chunks have a vector of their vault's dimension, of {}",
                    report.vectors, report.chunks
                ));
            }
            for (sql, problem) in INTEGRITY_CHECKS {
                let n = count(c, sql)?;
                if n > 0 {
                    report.problems.push(problem.replace("{n}", &n.to_string()));
                }
            }
            Ok(report)
        })
    }

    fn reconcile_index(&self) -> Result<u64, StoreError> {
        let queued = self.compare_index()?;
        self.sync_index(None)?;
        Ok(queued)
    }

    fn rate_limit(
        &self,
        key: &str,
        capacity: f64,
        per_second: f64,
        now_ms: i64,
        take: bool,
    ) -> Option<Result<Result<(), i64>, StoreError>> {
        let per_ms = per_second / 1000.0;
        if !take {
            // Only looking: a read, no transaction.
            return Some(self.read(|c| Ok(wait(c, key, capacity, per_ms, now_ms)?)));
        }
        Some(self.write(|tx| {
            let taken = tx.query_opt(
                "INSERT INTO rate_limits AS r (key, tokens, at_ms) VALUES ($1::text, $2::float8 - 1, $4::bigint)
                 ON CONFLICT (key) DO UPDATE SET
                     tokens = least($2::float8, r.tokens + greatest($4::bigint - r.at_ms, 0) * $3::float8) - 1,
                     at_ms = greatest($4::bigint, r.at_ms)
                 WHERE least($2::float8, r.tokens + greatest($4::bigint - r.at_ms, 0) * $3::float8) >= 1
                 RETURNING tokens",
                &[&key, &capacity, &per_ms, &now_ms],
            )?;
            if now_ms % 997 == 0 {
                tx.execute("DELETE FROM rate_limits WHERE at_ms < $1", &[&(now_ms - IDLE_MS)])?;
            }
            if taken.is_some() {
                return Ok(Ok(()));
            }
            Ok(wait(tx, key, capacity, per_ms, now_ms)?)
        }))
    }
}

/// `Ok` when bucket `key` has a token at `now_ms` (or does not exist yet), else how many ms
/// until it has one.
fn wait(
    c: &mut impl postgres::GenericClient,
    key: &str,
    capacity: f64,
    per_ms: f64,
    now_ms: i64,
) -> Result<Result<(), i64>, postgres::Error> {
    let tokens: Option<f64> = c
        .query_opt(
            "SELECT least($2::float8, tokens + greatest($3::bigint - at_ms, 0) * $4::float8) FROM rate_limits WHERE key = $1",
            &[&key, &capacity, &now_ms, &per_ms],
        )?
        .map(|r| r.get(0));
    Ok(match tokens {
        // (A hair below the exact wait before rounding up: float error must not add a ms.)
        Some(t) if t < 1.0 => Err((((1.0 - t) / per_ms.max(1e-12) - 1e-6).ceil() as i64).max(1)),
        _ => Ok(()),
    })
}
