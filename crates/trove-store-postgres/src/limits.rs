//! Rate-limit token buckets in PostgreSQL, so every node counts against the same allowance:
//! one row per bucket (`rate_limits`: tokens left at a time), refilled and taken from in one
//! conditional upsert, so two nodes taking at once cannot both take the last token. Buckets
//! idle for two days (full again for every limit Trove has) are deleted now and then.

use trove_store::StoreError;

use crate::PgStore;

/// Buckets idle this long are full again and can go.
const IDLE_MS: i64 = 2 * 86_400_000;

pub(crate) fn rate_limit(
    s: &PgStore,
    key: &str,
    capacity: f64,
    per_second: f64,
    now_ms: i64,
    take: bool,
) -> Result<Result<(), i64>, StoreError> {
    let per_ms = per_second / 1000.0;
    if !take {
        // Only looking: a read, no transaction.
        return s.read(|c| Ok(wait(c, key, capacity, per_ms, now_ms)?));
    }
    s.write(|tx| {
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
    })
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
