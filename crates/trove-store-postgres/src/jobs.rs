//! The durable job queue in PostgreSQL, shared by every node on the database: one `jobs` row
//! per job, moved between statuses (`queued`, `running`, `succeeded`, `dead`, `cancelled`) by
//! single statements or single transactions, so a crash leaves every job in exactly one status.
//! A worker takes a job by setting itself as `lease_owner` until `lease_until_ms`. A claim first
//! takes back running jobs whose lease ran out (cancelled when cancellation was asked for, dead
//! with code `worker_lost` when no attempts are left, queued again otherwise), then picks the
//! oldest due queued job; both steps lock their rows with `FOR UPDATE SKIP LOCKED`, so claims
//! on many nodes never wait for each other and never take the same job. Every later change of
//! a running job (heartbeat, finish) names the lease owner in its `WHERE`, so a worker that lost
//! its lease cannot report over a newer attempt. Enqueues with a dedupe key hold a transaction
//! advisory lock on the key, so concurrent enqueues of one key make one queued job. Whenever a
//! transaction makes a job due (enqueue, retry, release, lease expiry, recovery), it sends
//! `NOTIFY trove_jobs`, delivered at commit, so idle workers on other nodes can wake.
//!
//! Times (`now_ms`, `run_at_ms`, leases) are the callers' clocks, as in the embedded store: the
//! nodes' clocks must agree to well within a lease.

use postgres::GenericClient;
use postgres::types::ToSql;

use crate::*;

const COLUMNS: &str = "id, public_id, kind, vault, payload, status, attempts, max_attempts, timeout_ms, run_at_ms, created_ms, updated_ms, started_ms, finished_ms, lease_owner, lease_until_ms, cancel_requested, error, error_code, result, retries";

/// The code recorded when a worker stopped without reporting (crash or lost lease), as in the
/// embedded store.
const WORKER_LOST: &str = "worker_lost";

/// The channel idle workers listen on.
const NOTIFY: &str = "NOTIFY trove_jobs";

/// First key of the two-key advisory locks on dedupe keys (`"tjob"`), so they never meet the
/// one-key locks of other modules (migrations) or another module's two-key class.
const DEDUPE_LOCK_CLASS: i32 = 0x746a_6f62;

/// A fresh public id: `job_` and 24 lowercase hex digits, the shape of the embedded store's
/// (`randomblob(12)`). The first 12 hex digits of a version-4 UUID are all random, so two
/// UUIDs give 96 random bits.
const NEW_PUBLIC_ID: &str = "'job_' || left(replace(gen_random_uuid()::text, '-', ''), 12) || left(replace(gen_random_uuid()::text, '-', ''), 12)";

/// How a running attempt ends: as its worker reported, or taken back from a worker that stopped
/// reporting (its lease ran out, or every node stopped with the job running).
enum Ending<'a> {
    Reported(&'a JobOutcome),
    Lost,
}

/// The status and finish time of an attempt that failed: queued again while attempts remain,
/// dead (finished at `$1`, the time) once they are used up.
const FAILED_STATUS: &str = "CASE WHEN attempts >= max_attempts THEN 'dead' ELSE 'queued' END";
const FAILED_FINISHED_MS: &str = "CASE WHEN attempts >= max_attempts THEN $1::bigint ELSE NULL END";

type Param = Box<dyn ToSql + Sync>;

/// The one mapping of how an attempt ends to the row: the `SET` list of an `UPDATE jobs` and
/// its parameters, numbered from `$1` (the time; the statement's own follow them). Every ending
/// releases the lease and stamps `updated_ms`. A lost worker's job is cancelled when that was
/// asked for, and otherwise fails like a retry due at once, with code `worker_lost`.
fn ending(ending: &Ending<'_>, now_ms: i64) -> (String, Vec<Param>) {
    let (set, values): (String, Vec<Param>) = match ending {
        Ending::Reported(JobOutcome::Succeeded(result)) => (
            "status = 'succeeded', result = $2, error = NULL, error_code = NULL, finished_ms = $1".into(),
            vec![Box::new(result.to_string())],
        ),
        Ending::Reported(JobOutcome::Retry { error, code, run_at_ms }) => (
            format!(
                "status = {FAILED_STATUS}, finished_ms = {FAILED_FINISHED_MS}, error = $2, error_code = $3, run_at_ms = $4"
            ),
            vec![Box::new(error.clone()), Box::new(code.clone()), Box::new(*run_at_ms)],
        ),
        Ending::Reported(JobOutcome::Dead { error, code }) => (
            "status = 'dead', error = $2, error_code = $3, finished_ms = $1".into(),
            vec![Box::new(error.clone()), Box::new(code.clone())],
        ),
        Ending::Reported(JobOutcome::Released) => {
            ("status = 'queued', attempts = greatest(attempts - 1, 0), run_at_ms = $1".into(), Vec::new())
        }
        Ending::Reported(JobOutcome::Cancelled) => ("status = 'cancelled', finished_ms = $1".into(), Vec::new()),
        Ending::Lost => (
            format!(
                "status = CASE WHEN cancel_requested THEN 'cancelled' ELSE {FAILED_STATUS} END,
                 finished_ms = CASE WHEN cancel_requested THEN $1::bigint ELSE {FAILED_FINISHED_MS} END,
                 run_at_ms = $1,
                 error = CASE WHEN cancel_requested THEN error ELSE 'the worker stopped during attempt ' || attempts || ' without reporting (the server crashed or was killed, or the attempt outlived its lease)' END,
                 error_code = CASE WHEN cancel_requested THEN error_code ELSE $2::text END"
            ),
            vec![Box::new(WORKER_LOST)],
        ),
    };
    let mut all: Vec<Param> = vec![Box::new(now_ms)];
    all.extend(values);
    (format!("{set}, updated_ms = $1, lease_owner = NULL, lease_until_ms = NULL"), all)
}

fn refs(params: &[Param]) -> Vec<&(dyn ToSql + Sync)> {
    params.iter().map(|p| p.as_ref() as &(dyn ToSql + Sync)).collect()
}

/// Takes back, as lost ([`Ending::Lost`]), the running jobs that also meet `which` (a condition
/// on `jobs` that may name the time, `$1`); how many.
fn release_running(tx: &mut Transaction<'_>, now_ms: i64, which: &str) -> Res<u64> {
    let (set, values) = ending(&Ending::Lost, now_ms);
    Ok(tx.execute(&format!("UPDATE jobs SET {set} WHERE status = 'running' AND {which}"), &refs(&values))?)
}

fn corrupt(id: &str, what: &str) -> Fail {
    Fail::Store(StoreError::Corrupt(format!("job {id}: {what}")))
}

fn count(id: &str, column: &str, v: i32) -> Res<u32> {
    u32::try_from(v).map_err(|_| corrupt(id, &format!("{column} is {v}")))
}

fn row(r: &postgres::Row) -> Res<JobRecord> {
    let id: String = r.try_get(1)?;
    let payload: String = r.try_get(4)?;
    let status: String = r.try_get(5)?;
    let result: Option<String> = r.try_get(19)?;
    Ok(JobRecord {
        rowid: r.try_get(0)?,
        kind: r.try_get(2)?,
        vault: r.try_get(3)?,
        payload: serde_json::from_str(&payload).map_err(|e| corrupt(&id, &format!("payload: {e}")))?,
        status: JobStatus::parse(&status).ok_or_else(|| corrupt(&id, &format!("status `{status}`")))?,
        attempts: count(&id, "attempts", r.try_get(6)?)?,
        max_attempts: count(&id, "max_attempts", r.try_get(7)?)?,
        timeout_ms: r.try_get(8)?,
        run_at_ms: r.try_get(9)?,
        created_ms: r.try_get(10)?,
        updated_ms: r.try_get(11)?,
        started_ms: r.try_get(12)?,
        finished_ms: r.try_get(13)?,
        lease_owner: r.try_get(14)?,
        lease_until_ms: r.try_get(15)?,
        cancel_requested: r.try_get(16)?,
        error: r.try_get(17)?,
        error_code: r.try_get(18)?,
        result: match result {
            None => None,
            Some(text) => Some(serde_json::from_str(&text).map_err(|e| corrupt(&id, &format!("result: {e}")))?),
        },
        retries: count(&id, "retries", r.try_get(20)?)?,
        id,
    })
}

fn by_public_id(c: &mut impl GenericClient, id: &str) -> Res<Option<JobRecord>> {
    c.query_opt(&format!("SELECT {COLUMNS} FROM jobs WHERE public_id = $1"), &[&id])?.map(|r| row(&r)).transpose()
}

/// A lease's end, without overflowing on absurd inputs.
fn lease_end(now_ms: i64, lease_ms: i64) -> i64 {
    now_ms.saturating_add(lease_ms)
}

impl JobQueue for PgStore {
    fn job_get(&self, id: &str) -> Result<Option<JobRecord>, StoreError> {
        self.read(|c| by_public_id(c, id))
    }

    fn job_list(&self, filter: &JobFilter, before: Option<i64>, limit: usize) -> Result<Vec<JobRecord>, StoreError> {
        let status = filter.status.map(JobStatus::as_str);
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let mut sql = format!("SELECT {COLUMNS} FROM jobs WHERE true");
        let mut args: Vec<&(dyn ToSql + Sync)> = Vec::new();
        if let Some(status) = &status {
            args.push(status);
            sql.push_str(&format!(" AND status = ${}", args.len()));
        }
        if let Some(kind) = &filter.kind {
            args.push(kind);
            sql.push_str(&format!(" AND kind = ${}", args.len()));
        }
        if let Some(vault) = &filter.vault {
            args.push(vault);
            sql.push_str(&format!(" AND vault = ${}", args.len()));
        }
        if let Some(before) = &before {
            args.push(before);
            sql.push_str(&format!(" AND id < ${}", args.len()));
        }
        args.push(&limit);
        sql.push_str(&format!(" ORDER BY id DESC LIMIT ${}", args.len()));
        self.read(|c| c.query(&sql, &args)?.iter().map(row).collect())
    }

    fn job_counts(&self) -> Result<JobCounts, StoreError> {
        self.read(|c| {
            let mut counts = JobCounts::default();
            for r in c.query("SELECT status, count(*), min(run_at_ms) FROM jobs GROUP BY status", &[])? {
                let status: String = r.try_get(0)?;
                let n = u64::try_from(r.try_get::<_, i64>(1)?).unwrap_or(0);
                match JobStatus::parse(&status) {
                    Some(JobStatus::Queued) => {
                        counts.queued = n;
                        counts.next_run_at_ms = r.try_get(2)?;
                    }
                    Some(JobStatus::Running) => counts.running = n,
                    Some(JobStatus::Succeeded) => counts.succeeded = n,
                    Some(JobStatus::Dead) => counts.dead = n,
                    Some(JobStatus::Cancelled) => counts.cancelled = n,
                    None => return Err(StoreError::Corrupt(format!("a job has status `{status}`")).into()),
                }
            }
            Ok(counts)
        })
    }

    fn job_enqueue(&self, job: &NewJob, now_ms: i64) -> Result<JobRecord, StoreError> {
        if !job.payload.is_object() {
            return Err(StoreError::Corrupt("a job payload must be a JSON object".into()));
        }
        let payload = job.payload.to_string();
        let max_attempts = i32::try_from(job.max_attempts.max(1)).unwrap_or(i32::MAX);
        self.write(|tx| {
            if let Some(key) = &job.dedupe_key {
                // Held until commit: a concurrent enqueue of the same key waits here, then its next
                // statement (a fresh snapshot) sees the job this one made.
                tx.execute("SELECT pg_advisory_xact_lock($1, hashtext($2))", &[&DEDUPE_LOCK_CLASS, key])?;
                let existing = tx.query_opt(
                    &format!("SELECT {COLUMNS} FROM jobs WHERE dedupe_key = $1 AND status = 'queued' ORDER BY id LIMIT 1"),
                    &[key],
                )?;
                if let Some(existing) = existing {
                    return row(&existing);
                }
            }
            let inserted = tx.query_one(
                &format!(
                    "INSERT INTO jobs (public_id, kind, vault, payload, dedupe_key, status, max_attempts, timeout_ms, run_at_ms, created_ms, updated_ms)
                     VALUES ({NEW_PUBLIC_ID}, $1, $2, $3, $4, 'queued', $5, $6, $7, $7, $7) RETURNING {COLUMNS}"
                ),
                &[&job.kind, &job.vault, &payload, &job.dedupe_key, &max_attempts, &job.timeout_ms, &now_ms],
            )?;
            tx.batch_execute(NOTIFY)?;
            row(&inserted)
        })
    }

    fn job_claim(&self, worker: &str, now_ms: i64, lease_ms: i64) -> Result<Option<JobRecord>, StoreError> {
        let until = lease_end(now_ms, lease_ms);
        let (released, job) = self.write(|tx| {
            // Rows another claim (or a heartbeat) holds are skipped, not waited for: that claim
            // takes them back, or the heartbeat kept them alive.
            let released = release_running(
                tx,
                now_ms,
                "id IN (SELECT id FROM jobs WHERE status = 'running' AND lease_until_ms < $1 FOR UPDATE SKIP LOCKED)",
            )?;
            let next: Option<i64> = tx
                .query_opt(
                    "SELECT id FROM jobs WHERE status = 'queued' AND run_at_ms <= $1
                     ORDER BY run_at_ms, id LIMIT 1 FOR UPDATE SKIP LOCKED",
                    &[&now_ms],
                )?
                .map(|r| r.try_get(0))
                .transpose()?;
            let job = match next {
                None => None,
                Some(rowid) => {
                    let r = tx.query_opt(
                        &format!(
                            "UPDATE jobs SET status = 'running', attempts = attempts + 1, lease_owner = $1, lease_until_ms = $2,
                                started_ms = $3, updated_ms = $3 WHERE id = $4 AND status = 'queued' RETURNING {COLUMNS}"
                        ),
                        &[&worker, &until, &now_ms, &rowid],
                    )?;
                    r.map(|r| row(&r)).transpose()?
                }
            };
            // Jobs taken back beyond the one this claim took are due for other workers.
            if released > u64::from(job.is_some()) {
                tx.batch_execute(NOTIFY)?;
            }
            Ok((released, job))
        })?;
        if released > 0 {
            tracing::warn!(jobs = released, "took back jobs whose worker lease expired");
        }
        Ok(job)
    }

    fn job_heartbeat(&self, id: &str, worker: &str, now_ms: i64, lease_ms: i64) -> Result<Heartbeat, StoreError> {
        let until = lease_end(now_ms, lease_ms);
        let cancel: Option<bool> = self.write(|tx| {
            tx.query_opt(
                "UPDATE jobs SET lease_until_ms = $1 WHERE public_id = $2 AND status = 'running' AND lease_owner = $3
                 RETURNING cancel_requested",
                &[&until, &id, &worker],
            )?
            .map(|r| r.try_get(0))
            .transpose()
            .map_err(Fail::from)
        })?;
        Ok(match cancel {
            Some(cancel_requested) => Heartbeat::Held { cancel_requested },
            None => Heartbeat::Lost,
        })
    }

    fn job_finish(&self, id: &str, worker: &str, outcome: &JobOutcome, now_ms: i64) -> Result<bool, StoreError> {
        let (set, mut values) = ending(&Ending::Reported(outcome), now_ms);
        let job = values.len() + 1;
        let sql = format!(
            "UPDATE jobs SET {set} WHERE public_id = ${job} AND status = 'running' AND lease_owner = ${}",
            job + 1
        );
        values.extend([Box::new(id.to_string()) as Param, Box::new(worker.to_string())]);
        self.write(|tx| {
            let n = tx.execute(&sql, &refs(&values))?;
            if n == 1 && matches!(outcome, JobOutcome::Released) {
                // Due at once: a worker on another node can take it.
                tx.batch_execute(NOTIFY)?;
            }
            Ok(n == 1)
        })
    }

    fn job_cancel(&self, id: &str, now_ms: i64) -> Result<Option<JobRecord>, StoreError> {
        self.write(|tx| {
            // One statement, so a job claimed or taken back meanwhile is judged by its newest
            // status: queued jobs are cancelled at once, running ones are asked to stop, final
            // ones are left alone.
            tx.execute(
                "UPDATE jobs SET
                    status = CASE WHEN status = 'queued' THEN 'cancelled' ELSE status END,
                    finished_ms = CASE WHEN status = 'queued' THEN $1 ELSE finished_ms END,
                    cancel_requested = cancel_requested OR status = 'running',
                    updated_ms = $1
                 WHERE public_id = $2 AND status IN ('queued', 'running')",
                &[&now_ms, &id],
            )?;
            by_public_id(tx, id)
        })
    }

    fn job_retry(&self, id: &str, now_ms: i64) -> Result<Option<JobRecord>, StoreError> {
        self.write(|tx| {
            let r = tx.query_opt(
                &format!(
                    "UPDATE jobs SET status = 'queued', attempts = 0, retries = retries + 1, run_at_ms = $1, updated_ms = $1,
                        finished_ms = NULL, cancel_requested = false WHERE public_id = $2 AND status = 'dead'
                     RETURNING {COLUMNS}"
                ),
                &[&now_ms, &id],
            )?;
            let Some(r) = r else { return Ok(None) };
            tx.batch_execute(NOTIFY)?;
            row(&r).map(Some)
        })
    }

    fn job_delete(&self, id: &str, status: JobStatus) -> Result<bool, StoreError> {
        self.write(|tx| {
            Ok(tx.execute("DELETE FROM jobs WHERE public_id = $1 AND status = $2", &[&id, &status.as_str()])? == 1)
        })
    }

    fn job_recover(&self, now_ms: i64) -> Result<u64, StoreError> {
        self.write(|tx| {
            let n = release_running(tx, now_ms, "true")?;
            if n > 0 {
                tx.batch_execute(NOTIFY)?;
            }
            Ok(n)
        })
    }

    fn job_prune(&self, finished_before_ms: i64) -> Result<u64, StoreError> {
        self.write(|tx| {
            Ok(tx.execute(
                "DELETE FROM jobs WHERE status IN ('succeeded', 'cancelled') AND finished_ms < $1",
                &[&finished_before_ms],
            )?)
        })
    }
}
