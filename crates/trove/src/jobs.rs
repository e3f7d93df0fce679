//! `trove jobs` and `trove dlq`: the job queue and its dead-letter queue for operators, on
//! the workspace (the engine's job operations, as the single-user identity, writing beside a
//! running server) or on a server (`--url`, the REST routes `GET /v1/jobs`, `/v1/dlq`, ...).
//! Both ways take the same filters and answer the same [`Job`] and [`JobPage`], printed as a
//! table (or the job's fields) for people and as the REST bodies with `--json`.

use std::io::Write;

use trove_config::Workspace;
use trove_engine::auth::Principal;
use trove_engine::{Engine, JobQuery, OpenMode, perm};
use trove_types::{Code, Job, JobPage};

use crate::Failure;
use crate::cli::{DlqAction, JobFilters, JobsAction, ServerTarget};
use crate::output::stdout_failure as closed;
use crate::remote::Remote;

/// Where the jobs are: the workspace's store, or a server.
enum Queue {
    Workspace(Box<Engine>),
    Server(Remote),
}

impl Queue {
    /// The server of `--url`, else the workspace opened for reading or writing.
    fn open(
        target: &ServerTarget,
        ws: impl FnOnce() -> Result<Workspace, Failure>,
        write: bool,
    ) -> Result<Queue, Failure> {
        if let Some(url) = &target.url {
            return Ok(Queue::Server(Remote::new(url, target.key.clone(), target.ca_file.as_deref())?));
        }
        let mode = if write { OpenMode::Write } else { OpenMode::Read };
        Ok(Queue::Workspace(Box::new(Engine::open(ws()?, mode, "trove jobs")?)))
    }

    fn list(&self, q: &JobQuery, dead: bool) -> Result<JobPage, Failure> {
        match self {
            Queue::Workspace(e) => Ok(e.visible_jobs(&Principal::Local, q)?),
            Queue::Server(r) => {
                let mut query = Vec::new();
                if !dead && let Some(s) = &q.status {
                    query.push(("status", s.clone()));
                }
                for (k, v) in [("kind", &q.kind), ("vault", &q.vault), ("cursor", &q.cursor)] {
                    if let Some(v) = v {
                        query.push((k, v.clone()));
                    }
                }
                if let Some(n) = q.limit {
                    query.push(("limit", n.to_string()));
                }
                r.get(if dead { "/v1/dlq" } else { "/v1/jobs" }, &query)
            }
        }
    }

    fn show(&self, id: &str, dead: bool) -> Result<Job, Failure> {
        match self {
            Queue::Workspace(e) => {
                let access = e.authorize_job::<perm::Jobs>(&Principal::Local, id)?;
                Ok(if dead { e.dlq_get(&access)? } else { e.job_get(&access)? })
            }
            Queue::Server(r) => r.get(&format!("{}/{}", if dead { "/v1/dlq" } else { "/v1/jobs" }, segment(id)?), &[]),
        }
    }

    fn cancel(&self, id: &str) -> Result<Job, Failure> {
        match self {
            Queue::Workspace(e) => Ok(e.job_cancel(&e.authorize_job::<perm::Jobs>(&Principal::Local, id)?)?),
            Queue::Server(r) => r.post(&format!("/v1/jobs/{}/cancel", segment(id)?)),
        }
    }

    fn retry(&self, id: &str) -> Result<Job, Failure> {
        match self {
            Queue::Workspace(e) => Ok(e.dlq_retry(&e.authorize_job::<perm::Admin>(&Principal::Local, id)?)?),
            Queue::Server(r) => r.post(&format!("/v1/dlq/{}/retry", segment(id)?)),
        }
    }

    fn delete(&self, id: &str) -> Result<(), Failure> {
        match self {
            Queue::Workspace(e) => Ok(e.dlq_delete(&e.authorize_job::<perm::Admin>(&Principal::Local, id)?)?),
            Queue::Server(r) => r.delete(&format!("/v1/dlq/{}", segment(id)?)),
        }
    }
}

/// A job id as one path segment: ids are `job_` and URL-safe characters, so anything else is
/// refused rather than escaped into another route.
fn segment(id: &str) -> Result<&str, Failure> {
    if !id.is_empty() && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
        Ok(id)
    } else {
        Err(Failure::new(
            Code::BadRequest,
            format!("`{id}` is not a job id; ids look like job_…, as `trove jobs list` prints them"),
        ))
    }
}

fn query(status: Option<String>, f: &JobFilters) -> JobQuery {
    JobQuery { status, kind: f.kind.clone(), vault: f.vault.clone(), cursor: f.cursor.clone(), limit: f.limit }
}

/// Runs `trove jobs`.
pub fn jobs(
    action: &JobsAction,
    target: &ServerTarget,
    ws: impl FnOnce() -> Result<Workspace, Failure>,
) -> Result<(), Failure> {
    match action {
        JobsAction::List { status, filters } => {
            let page = Queue::open(target, ws, false)?.list(&query(status.clone(), filters), false)?;
            print_page(&page, target.json, "trove jobs list")
        }
        JobsAction::Show { id } => print_job(&Queue::open(target, ws, false)?.show(id, false)?, target.json, None),
        JobsAction::Cancel { id } => {
            let job = Queue::open(target, ws, true)?.cancel(id)?;
            let said = if job.status == "cancelled" {
                format!("cancelled {}", job.id)
            } else {
                format!("asked {} to stop at its next checkpoint (it is {})", job.id, job.status)
            };
            print_job(&job, target.json, Some(&said))
        }
    }
}

/// Runs `trove dlq`.
pub fn dlq(
    action: &DlqAction,
    target: &ServerTarget,
    ws: impl FnOnce() -> Result<Workspace, Failure>,
) -> Result<(), Failure> {
    match action {
        DlqAction::List { filters } => {
            let page = Queue::open(target, ws, false)?.list(&query(Some("dead".into()), filters), true)?;
            print_page(&page, target.json, "trove dlq list")
        }
        DlqAction::Show { id } => print_job(&Queue::open(target, ws, false)?.show(id, true)?, target.json, None),
        DlqAction::Retry { id } => {
            let job = Queue::open(target, ws, true)?.retry(id)?;
            print_job(&job, target.json, Some(&format!("queued {} again (retry {})", job.id, job.retries)))
        }
        DlqAction::Delete { id } => {
            Queue::open(target, ws, true)?.delete(id)?;
            let mut out = std::io::stdout().lock();
            let written = if target.json {
                writeln!(out, "{}", serde_json::json!({"deleted": id}))
            } else {
                writeln!(out, "deleted {id} from the dead-letter queue, with its uploaded files")
            };
            written.or_else(closed)
        }
    }
}

/// A page as a table (id, kind, status, vault, attempts, last change, error), and the command
/// for the next page.
fn print_page(page: &JobPage, json: bool, command: &str) -> Result<(), Failure> {
    let mut out = std::io::stdout().lock();
    if json {
        let text = serde_json::to_string_pretty(page).map_err(|e| Failure::new(Code::Internal, e.to_string()))?;
        return writeln!(out, "{text}").or_else(closed);
    }
    write_page(&mut out, page, command).or_else(closed)
}

fn write_page(out: &mut impl Write, page: &JobPage, command: &str) -> std::io::Result<()> {
    if page.jobs.is_empty() {
        return writeln!(out, "no jobs");
    }
    let width = page.jobs.iter().map(|j| j.id.len()).max().unwrap_or(0).max(2);
    let vault_width = page.jobs.iter().map(|j| j.vault.as_deref().unwrap_or("-").len()).max().unwrap_or(0).max(5);
    writeln!(
        out,
        "{:<width$}  {:<7}  {:<9}  {:<vault_width$}  {:>8}  {:<20}  error",
        "id", "kind", "status", "vault", "attempts", "updated"
    )?;
    for j in &page.jobs {
        let attempts = format!("{}/{}", j.attempts, j.max_attempts);
        let error = j.error.as_ref().map(|e| e.code.as_str()).unwrap_or("");
        let status = if j.cancel_requested && j.status == "running" { "stopping" } else { j.status.as_str() };
        writeln!(
            out,
            "{:<width$}  {:<7}  {:<9}  {:<vault_width$}  {:>8}  {:<20}  {error}",
            j.id,
            j.kind,
            status,
            j.vault.as_deref().unwrap_or("-"),
            attempts,
            j.updated_at
        )?;
    }
    if let Some(cursor) = &page.next_cursor {
        writeln!(out, "more: {command} --cursor {cursor}")?;
    }
    Ok(())
}

/// One job's fields (after `said`, what was done), or its REST body with `--json`.
fn print_job(job: &Job, json: bool, said: Option<&str>) -> Result<(), Failure> {
    let mut out = std::io::stdout().lock();
    if json {
        let text = serde_json::to_string_pretty(job).map_err(|e| Failure::new(Code::Internal, e.to_string()))?;
        return writeln!(out, "{text}").or_else(closed);
    }
    (|| {
        if let Some(said) = said {
            writeln!(out, "{said}")?;
        }
        write_job(&mut out, job)
    })()
    .or_else(closed)
}

fn write_job(out: &mut impl Write, j: &Job) -> std::io::Result<()> {
    writeln!(out, "id:          {}", j.id)?;
    writeln!(out, "kind:        {}", j.kind)?;
    let stopping = if j.cancel_requested && j.status == "running" { " (asked to stop)" } else { "" };
    writeln!(out, "status:      {}{stopping}", j.status)?;
    writeln!(out, "vault:       {}", j.vault.as_deref().unwrap_or("-"))?;
    writeln!(out, "attempts:    {} of {} (retried {} times)", j.attempts, j.max_attempts, j.retries)?;
    writeln!(out, "created:     {}", j.created_at)?;
    writeln!(out, "updated:     {}", j.updated_at)?;
    if j.status == "queued" {
        writeln!(out, "runs after:  {}", j.run_at)?;
    }
    if let Some(t) = &j.started_at {
        writeln!(out, "started:     {t}")?;
    }
    if let Some(t) = &j.finished_at {
        writeln!(out, "finished:    {t}")?;
    }
    if let Some(p) = &j.progress {
        writeln!(out, "progress:    {} of {}", p.done, p.total)?;
    }
    if let Some(e) = &j.error {
        writeln!(out, "error:       {} ({})", e.message, e.code)?;
    }
    writeln!(out, "payload:     {}", j.payload)?;
    if let Some(r) = &j.result {
        writeln!(out, "result:      {r}")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use trove_types::JobError;

    fn job(id: &str, status: &str, error: Option<&str>) -> Job {
        Job {
            id: id.into(),
            kind: "upload".into(),
            status: status.into(),
            vault: Some("notes".into()),
            attempts: 1,
            max_attempts: 5,
            retries: 0,
            created_at: "2026-12-07T21:00:00Z".into(),
            updated_at: "2026-12-07T21:00:01Z".into(),
            run_at: "2026-12-07T21:00:00Z".into(),
            started_at: None,
            finished_at: None,
            cancel_requested: false,
            error: error.map(|c| JobError { message: "broken.json: not JSON".into(), code: c.into() }),
            result: None,
            payload: serde_json::json!({"documents": 1}),
            progress: None,
        }
    }

    #[test]
    fn a_page_is_a_table_with_the_command_for_the_next_one() {
        let page = JobPage {
            jobs: vec![job("job_a", "dead", Some("document_unreadable")), job("job_bb", "succeeded", None)],
            next_cursor: Some("17".into()),
        };
        let mut out = Vec::new();
        write_page(&mut out, &page, "trove dlq list").unwrap();
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].starts_with("id      kind     status"), "{text}");
        assert!(
            lines[1].starts_with("job_a   upload   dead       notes") && lines[1].ends_with("document_unreadable"),
            "{text}"
        );
        assert!(lines[2].contains("1/5"), "{text}");
        assert_eq!(lines[3], "more: trove dlq list --cursor 17");
        let mut empty = Vec::new();
        write_page(&mut empty, &JobPage { jobs: vec![], next_cursor: None }, "x").unwrap();
        assert_eq!(String::from_utf8(empty).unwrap(), "no jobs\n");
    }

    #[test]
    fn a_job_shows_its_error_and_payload() {
        let mut out = Vec::new();
        write_job(&mut out, &job("job_a", "dead", Some("document_unreadable"))).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains("error:       broken.json: not JSON (document_unreadable)"), "{text}");
        assert!(text.contains("payload:     {\"documents\":1}"), "{text}");
        assert!(!text.contains("runs after"), "{text}");
    }

    #[test]
    fn an_id_is_one_path_segment() {
        assert_eq!(segment("job_01HX-a").unwrap(), "job_01HX-a");
        for bad in ["", "../auth/me", "job_x?limit=1", "job x"] {
            assert_eq!(segment(bad).unwrap_err().code, Code::BadRequest, "{bad}");
        }
    }
}
