//! The durable job queue in the embedded store: one `jobs` row per job, moved between statuses
//! by single SQL transactions so a crash leaves every job in exactly one status. A worker
//! takes a job by setting itself as `lease_owner` until `lease_until_ms`; a job whose lease has
//! run out is taken back (queued again, or dead when its attempts are used up) by the next
//! claim. Every change checks the lease owner, so a worker that lost its lease cannot report
//! over a newer attempt. Workers of several processes share the queue safely: a claim is one
//! `IMMEDIATE` transaction, so two processes never take the same job, and recovery at startup
//! takes back every running job only when no other writer has the workspace open (otherwise
//! only expired leases). Listings and counts read through the read pool, so polling clients
//! and metrics scrapes never wait for the writer.

use rusqlite::{OptionalExtension, Transaction, params, params_from_iter, types::Value as SqlValue};

use super::EmbeddedStore;
use crate::{Heartbeat, JobCounts, JobFilter, JobOutcome, JobQueue, JobRecord, JobStatus, NewJob, StoreError};

const COLUMNS: &str = "id, public_id, kind, vault, payload, status, attempts, max_attempts, timeout_ms, run_at_ms, created_ms, updated_ms, started_ms, finished_ms, lease_owner, lease_until_ms, cancel_requested, error, error_code, result, retries";

/// The code recorded when a worker stopped without reporting (crash or lost lease).
pub const WORKER_LOST: &str = "worker_lost";

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<(JobRecord, String, String, Option<String>)> {
    Ok((
        JobRecord {
            rowid: r.get(0)?,
            id: r.get(1)?,
            kind: r.get(2)?,
            vault: r.get(3)?,
            payload: serde_json::Value::Null,
            status: JobStatus::Queued,
            attempts: r.get(6)?,
            max_attempts: r.get(7)?,
            timeout_ms: r.get(8)?,
            run_at_ms: r.get(9)?,
            created_ms: r.get(10)?,
            updated_ms: r.get(11)?,
            started_ms: r.get(12)?,
            finished_ms: r.get(13)?,
            lease_owner: r.get(14)?,
            lease_until_ms: r.get(15)?,
            cancel_requested: r.get(16)?,
            error: r.get(17)?,
            error_code: r.get(18)?,
            result: None,
            retries: r.get(20)?,
        },
        r.get(4)?,
        r.get(5)?,
        r.get(19)?,
    ))
}

fn finish(
    (mut job, payload, status, result): (JobRecord, String, String, Option<String>),
) -> Result<JobRecord, StoreError> {
    job.payload =
        serde_json::from_str(&payload).map_err(|e| StoreError::Corrupt(format!("job {}: payload: {e}", job.id)))?;
    job.status =
        JobStatus::parse(&status).ok_or_else(|| StoreError::Corrupt(format!("job {}: status `{status}`", job.id)))?;
    job.result = match result {
        None => None,
        Some(r) => {
            Some(serde_json::from_str(&r).map_err(|e| StoreError::Corrupt(format!("job {}: result: {e}", job.id)))?)
        }
    };
    Ok(job)
}

fn by_public_id(tx: &rusqlite::Connection, id: &str) -> Result<Option<JobRecord>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM jobs WHERE public_id = ?");
    tx.prepare_cached(&sql)?.query_row([id], row).optional()?.map(finish).transpose()
}

/// How a running attempt ends: as its worker reported, or taken back from a worker that stopped
/// reporting (its lease ran out, or the store opened with the job still running).
enum Ending<'a> {
    Reported(&'a JobOutcome),
    Lost,
}

/// The status and finish time of an attempt that failed: queued again while attempts remain,
/// dead (finished at `?1`, the time) once they are used up.
const FAILED_STATUS: &str = "CASE WHEN attempts >= max_attempts THEN 'dead' ELSE 'queued' END";
const FAILED_FINISHED_MS: &str = "CASE WHEN attempts >= max_attempts THEN ?1 ELSE NULL END";

/// The one mapping of how an attempt ends to the row: the `SET` list of an `UPDATE jobs` and
/// its parameters, numbered from `?1` (the time; the statement's own follow them). Every ending
/// releases the lease and stamps `updated_ms`. A lost worker's job is cancelled when that was
/// asked for, and otherwise fails like a retry due at once, with code `worker_lost`.
fn ending(ending: &Ending<'_>, now_ms: i64) -> (String, Vec<SqlValue>) {
    let (set, values): (String, Vec<SqlValue>) = match ending {
        Ending::Reported(JobOutcome::Succeeded(result)) => (
            "status = 'succeeded', result = ?2, error = NULL, error_code = NULL, finished_ms = ?1".into(),
            vec![result.to_string().into()],
        ),
        Ending::Reported(JobOutcome::Retry { error, code, run_at_ms }) => (
            format!(
                "status = {FAILED_STATUS}, finished_ms = {FAILED_FINISHED_MS}, error = ?2, error_code = ?3, run_at_ms = ?4"
            ),
            vec![error.clone().into(), code.clone().into(), (*run_at_ms).into()],
        ),
        Ending::Reported(JobOutcome::Dead { error, code }) => (
            "status = 'dead', error = ?2, error_code = ?3, finished_ms = ?1".into(),
            vec![error.clone().into(), code.clone().into()],
        ),
        Ending::Reported(JobOutcome::Released) => {
            ("status = 'queued', attempts = max(attempts - 1, 0), run_at_ms = ?1".into(), Vec::new())
        }
        Ending::Reported(JobOutcome::Cancelled) => ("status = 'cancelled', finished_ms = ?1".into(), Vec::new()),
        Ending::Lost => (
            format!(
                "status = CASE WHEN cancel_requested THEN 'cancelled' ELSE {FAILED_STATUS} END,
                 finished_ms = CASE WHEN cancel_requested THEN ?1 ELSE {FAILED_FINISHED_MS} END,
                 run_at_ms = ?1,
                 error = CASE WHEN cancel_requested THEN error ELSE 'the worker stopped during attempt ' || attempts || ' without reporting (the server crashed or was killed, or the attempt outlived its lease)' END,
                 error_code = CASE WHEN cancel_requested THEN error_code ELSE ?2 END"
            ),
            vec![WORKER_LOST.to_string().into()],
        ),
    };
    let mut all = vec![SqlValue::from(now_ms)];
    all.extend(values);
    (format!("{set}, updated_ms = ?1, lease_owner = NULL, lease_until_ms = NULL"), all)
}

/// Takes back running jobs whose lease ran out before `now_ms` (every running job unless
/// `expired_only`) as lost ([`Ending::Lost`]). Returns how many.
fn release_running(tx: &Transaction<'_>, now_ms: i64, expired_only: bool) -> Result<u64, StoreError> {
    let (set, mut values) = ending(&Ending::Lost, now_ms);
    let only = values.len() + 1;
    values.push((expired_only as i64).into());
    let sql = format!("UPDATE jobs SET {set} WHERE status = 'running' AND (?{only} = 0 OR lease_until_ms < ?1)");
    Ok(tx.execute(&sql, params_from_iter(values))? as u64)
}

impl JobQueue for EmbeddedStore {
    fn job_enqueue(&self, job: &NewJob, now_ms: i64) -> Result<JobRecord, StoreError> {
        if !job.payload.is_object() {
            return Err(StoreError::Corrupt("a job payload must be a JSON object".into()));
        }
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        if let Some(key) = &job.dedupe_key {
            let sql = format!("SELECT {COLUMNS} FROM jobs WHERE dedupe_key = ? AND status = 'queued'");
            if let Some(existing) = tx.query_row(&sql, [key], row).optional()? {
                return finish(existing);
            }
        }
        let public_id: String = tx.query_row(
            "INSERT INTO jobs (public_id, kind, vault, payload, dedupe_key, status, max_attempts, timeout_ms, run_at_ms, created_ms, updated_ms)
             VALUES ('job_' || lower(hex(randomblob(12))), ?1, ?2, ?3, ?4, 'queued', ?5, ?6, ?7, ?7, ?7) RETURNING public_id",
            params![job.kind, job.vault, job.payload.to_string(), job.dedupe_key, job.max_attempts.max(1), job.timeout_ms, now_ms],
            |r| r.get(0),
        )?;
        let record = by_public_id(&tx, &public_id)?;
        tx.commit()?;
        record.ok_or_else(|| StoreError::Corrupt("an enqueued job vanished".into()))
    }

    fn job_claim(&self, worker: &str, now_ms: i64, lease_ms: i64) -> Result<Option<JobRecord>, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let released = release_running(&tx, now_ms, true)?;
        if released > 0 {
            tracing::warn!(jobs = released, "took back jobs whose worker lease expired");
        }
        let next: Option<i64> = tx
            .prepare_cached(
                "SELECT id FROM jobs WHERE status = 'queued' AND run_at_ms <= ? ORDER BY run_at_ms, id LIMIT 1",
            )?
            .query_row([now_ms], |r| r.get(0))
            .optional()?;
        let Some(rowid) = next else {
            tx.commit()?;
            return Ok(None);
        };
        tx.execute(
            "UPDATE jobs SET status = 'running', attempts = attempts + 1, lease_owner = ?1, lease_until_ms = ?2,
                started_ms = ?3, updated_ms = ?3 WHERE id = ?4",
            params![worker, now_ms + lease_ms, now_ms, rowid],
        )?;
        let sql = format!("SELECT {COLUMNS} FROM jobs WHERE id = ?");
        let job = finish(tx.query_row(&sql, [rowid], row)?)?;
        tx.commit()?;
        Ok(Some(job))
    }

    fn job_heartbeat(&self, id: &str, worker: &str, now_ms: i64, lease_ms: i64) -> Result<Heartbeat, StoreError> {
        let conn = self.conn();
        let cancel: Option<bool> = conn
            .prepare_cached(
                "UPDATE jobs SET lease_until_ms = ?1 WHERE public_id = ?2 AND status = 'running' AND lease_owner = ?3 RETURNING cancel_requested",
            )?
            .query_row(params![now_ms + lease_ms, id, worker], |r| r.get(0))
            .optional()?;
        Ok(match cancel {
            Some(cancel_requested) => Heartbeat::Held { cancel_requested },
            None => Heartbeat::Lost,
        })
    }

    fn job_finish(&self, id: &str, worker: &str, outcome: &JobOutcome, now_ms: i64) -> Result<bool, StoreError> {
        let (set, mut values) = ending(&Ending::Reported(outcome), now_ms);
        let job = values.len() + 1;
        values.extend([SqlValue::from(id.to_string()), SqlValue::from(worker.to_string())]);
        let sql = format!(
            "UPDATE jobs SET {set} WHERE public_id = ?{job} AND status = 'running' AND lease_owner = ?{}",
            job + 1
        );
        Ok(self.conn().execute(&sql, params_from_iter(values))? == 1)
    }

    fn job_get(&self, id: &str) -> Result<Option<JobRecord>, StoreError> {
        by_public_id(&*self.read()?, id)
    }

    fn job_list(&self, filter: &JobFilter, before: Option<i64>, limit: usize) -> Result<Vec<JobRecord>, StoreError> {
        let mut sql = format!("SELECT {COLUMNS} FROM jobs WHERE 1 = 1");
        let mut args: Vec<SqlValue> = Vec::new();
        if let Some(s) = filter.status {
            sql.push_str(" AND status = ?");
            args.push(s.as_str().to_string().into());
        }
        if let Some(k) = &filter.kind {
            sql.push_str(" AND kind = ?");
            args.push(k.clone().into());
        }
        if let Some(v) = &filter.vault {
            sql.push_str(" AND vault = ?");
            args.push(v.clone().into());
        }
        if let Some(b) = before {
            sql.push_str(" AND id < ?");
            args.push(b.into());
        }
        sql.push_str(" ORDER BY id DESC LIMIT ?");
        args.push((limit as i64).into());
        let conn = self.read()?;
        let mut stmt = conn.prepare_cached(&sql)?;
        let rows = stmt.query_map(params_from_iter(args), row)?.collect::<Result<Vec<_>, _>>()?;
        rows.into_iter().map(finish).collect()
    }

    fn job_counts(&self) -> Result<JobCounts, StoreError> {
        let conn = self.read()?;
        let mut counts = JobCounts::default();
        let mut stmt = conn.prepare_cached("SELECT status, count(*) FROM jobs GROUP BY status")?;
        for r in stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))? {
            let (status, n) = r?;
            let n = n as u64;
            match JobStatus::parse(&status) {
                Some(JobStatus::Queued) => counts.queued = n,
                Some(JobStatus::Running) => counts.running = n,
                Some(JobStatus::Succeeded) => counts.succeeded = n,
                Some(JobStatus::Dead) => counts.dead = n,
                Some(JobStatus::Cancelled) => counts.cancelled = n,
                None => return Err(StoreError::Corrupt(format!("a job has status `{status}`"))),
            }
        }
        counts.next_run_at_ms =
            conn.query_row("SELECT min(run_at_ms) FROM jobs WHERE status = 'queued'", [], |r| r.get(0))?;
        Ok(counts)
    }

    fn job_cancel(&self, id: &str, now_ms: i64) -> Result<Option<JobRecord>, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        tx.execute(
            "UPDATE jobs SET status = 'cancelled', finished_ms = ?1, updated_ms = ?1 WHERE public_id = ?2 AND status = 'queued'",
            params![now_ms, id],
        )?;
        tx.execute(
            "UPDATE jobs SET cancel_requested = 1, updated_ms = ?1 WHERE public_id = ?2 AND status = 'running'",
            params![now_ms, id],
        )?;
        let job = by_public_id(&tx, id)?;
        tx.commit()?;
        Ok(job)
    }

    fn job_retry(&self, id: &str, now_ms: i64) -> Result<Option<JobRecord>, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let n = tx.execute(
            "UPDATE jobs SET status = 'queued', attempts = 0, retries = retries + 1, run_at_ms = ?1, updated_ms = ?1,
                finished_ms = NULL, cancel_requested = 0 WHERE public_id = ?2 AND status = 'dead'",
            params![now_ms, id],
        )?;
        let job = if n == 1 { by_public_id(&tx, id)? } else { None };
        tx.commit()?;
        Ok(job)
    }

    fn job_delete(&self, id: &str, status: JobStatus) -> Result<bool, StoreError> {
        let n =
            self.conn().execute("DELETE FROM jobs WHERE public_id = ? AND status = ?", params![id, status.as_str()])?;
        Ok(n == 1)
    }

    fn job_recover(&self, now_ms: i64) -> Result<u64, StoreError> {
        let mut conn = self.conn();
        // Immediate: no other process claims a job between the look at the registry and the
        // update (a writer registers before it claims anything).
        let tx = conn.transaction()?;
        // Other processes' workers may be alive: then only their expired leases are taken back.
        let others_write = crate::processes::others(&self.dir).iter().any(|p| p.role != crate::processes::Role::Reader);
        let n = release_running(&tx, now_ms, others_write)?;
        tx.commit()?;
        Ok(n)
    }

    fn job_prune(&self, finished_before_ms: i64) -> Result<u64, StoreError> {
        let n = self.conn().execute(
            "DELETE FROM jobs WHERE status IN ('succeeded', 'cancelled') AND finished_ms < ?",
            [finished_before_ms],
        )?;
        Ok(n as u64)
    }
}
