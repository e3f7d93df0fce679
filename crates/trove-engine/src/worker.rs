//! The worker pool that runs the durable job queue: `jobs.workers` threads take jobs from the
//! store with a lease, run one attempt each on the engine, and record how it ended: success,
//! a retry after exponential backoff with jitter (errors of kind `system`: disk, locks,
//! models, timeouts), or the dead-letter queue (bad input, bugs, or no attempts left). One
//! more thread, the lease keeper, extends the leases of running jobs and tells an attempt to
//! stop at its next checkpoint when it is cancelled, runs past the time limit, loses its
//! lease or the pool shuts down.
//!
//! Nothing polls: an idle worker sleeps on a condition variable until [`WorkerPool::notify`]
//! announces work or the next delayed retry is due; the keeper sleeps while no job runs.
//! Shutting down lets running attempts finish within a grace period, then stops them and puts
//! their jobs back in the queue without using up an attempt.

use std::collections::HashMap;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use trove_config::JobsConfig;
use trove_store::{Heartbeat, JobOutcome, JobRecord};
use trove_types::{ErrorKind, HasCode, IngestSummary};

use crate::error::StopReason;
use crate::jobs::ProgressCounter;
use crate::{Engine, EngineError, IngestProgress};

/// An idle worker looks at the queue at least this often even without being told (a safety
/// net for work enqueued by another process sharing the store).
const IDLE_WAKE: Duration = Duration::from_secs(60);
/// After a failed claim (the store is unavailable), wait this long before the next.
const CLAIM_ERROR_WAIT: Duration = Duration::from_secs(1);
/// After the grace period, how long stopped attempts get to reach a checkpoint.
const STOP_WAIT: Duration = Duration::from_secs(5);

/// How the pool runs jobs.
#[derive(Debug, Clone)]
pub struct WorkerOptions {
    /// Worker threads.
    pub workers: usize,
    /// A lease lasts this long without a heartbeat.
    pub lease: Duration,
    /// First retry delay (doubles per attempt).
    pub backoff_base: Duration,
    /// Longest retry delay.
    pub backoff_max: Duration,
}

impl WorkerOptions {
    /// The options a `jobs:` section asks for.
    pub fn from_config(c: &JobsConfig) -> WorkerOptions {
        WorkerOptions {
            workers: c.workers.max(1),
            lease: Duration::from_secs(c.lease_s),
            backoff_base: Duration::from_millis(c.backoff_base_ms),
            backoff_max: Duration::from_secs(c.backoff_max_s),
        }
    }
}

/// Hears how attempts end (the server turns this into metrics).
pub trait JobObserver: Send + Sync {
    /// An attempt of a `kind` job ended with `outcome` (`succeeded`, `retry`, `dead`,
    /// `cancelled`, `released`, `lost`) after `took`.
    fn job_finished(&self, kind: &str, outcome: &'static str, took: Duration);
    /// A job embedded and wrote a group of `documents` with `chunks` chunks in `took`.
    fn ingest_group(&self, documents: u64, chunks: u64, took: Duration);
}

/// An observer that ignores everything.
#[derive(Debug, Default)]
pub struct NoObserver;

impl JobObserver for NoObserver {
    fn job_finished(&self, _: &str, _: &'static str, _: Duration) {}
    fn ingest_group(&self, _: u64, _: u64, _: Duration) {}
}

/// One running attempt, shared by its worker and the lease keeper.
struct Control {
    observer: Arc<dyn JobObserver>,
    job: String,
    worker: String,
    /// The engine's clock, which `deadline` is read against.
    clock: trove_clock::SharedClock,
    /// When the attempt runs out of time (`jobs.timeout_s`), by `clock`.
    deadline: Instant,
    limit_s: u64,
    stop: Mutex<Option<StopReason>>,
    progress: Arc<ProgressCounter>,
}

impl std::fmt::Debug for Control {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Control").field("job", &self.job).field("worker", &self.worker).finish_non_exhaustive()
    }
}

impl Control {
    fn stop_reason(&self) -> Option<StopReason> {
        *self.stop.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Asks the attempt to stop; the first reason given wins.
    fn request_stop(&self, reason: StopReason) {
        let mut stop = self.stop.lock().unwrap_or_else(|e| e.into_inner());
        if stop.is_none() {
            tracing::info!(job = %self.job, %reason, "stopping a job attempt");
            *stop = Some(reason);
        }
    }
}

impl IngestProgress for Control {
    fn source_started(&self, _: &str, _: &str, total: u64) {
        self.progress.listed(total);
    }
    fn advance(&self, n: u64) {
        self.progress.advanced(n);
    }
    fn source_finished(&self, _: &str, _: &str, _: &IngestSummary) {}
    fn group_written(&self, documents: u64, chunks: u64, took: Duration) {
        self.observer.ingest_group(documents, chunks, took);
    }
    fn checkpoint(&self) -> Result<(), EngineError> {
        if self.clock.instant() >= self.deadline {
            self.request_stop(StopReason::TimedOut { limit_s: self.limit_s });
        }
        match self.stop_reason() {
            Some(reason) => Err(EngineError::Stopped(reason)),
            None => Ok(()),
        }
    }
}

#[derive(Debug, Default)]
struct State {
    stopping: bool,
    keeper_stop: bool,
    /// Bumped by every notify, so a worker that found nothing can tell whether work arrived
    /// while it looked.
    epoch: u64,
    active: HashMap<String, Arc<Control>>,
}

struct Shared {
    engine: Arc<Engine>,
    opts: WorkerOptions,
    observer: Arc<dyn JobObserver>,
    state: Mutex<State>,
    /// Wakes idle workers.
    work: Condvar,
    /// Wakes the lease keeper.
    keeper: Condvar,
    /// Signals that a running attempt ended.
    ended: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The running pool. Dropping it without [`WorkerPool::shutdown`] leaves its threads running
/// until the process exits.
pub struct WorkerPool {
    shared: Arc<Shared>,
    threads: Vec<JoinHandle<()>>,
}

impl std::fmt::Debug for WorkerPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorkerPool").field("opts", &self.shared.opts).finish_non_exhaustive()
    }
}

impl WorkerPool {
    /// Starts the workers and the lease keeper.
    pub fn start(engine: Arc<Engine>, opts: WorkerOptions, observer: Arc<dyn JobObserver>) -> WorkerPool {
        let shared = Arc::new(Shared {
            engine,
            opts,
            observer,
            state: Mutex::new(State::default()),
            work: Condvar::new(),
            keeper: Condvar::new(),
            ended: Condvar::new(),
        });
        let run_id = format!("{:x}-{}", shared.engine.now_ms(), std::process::id());
        let mut threads = Vec::new();
        for i in 0..shared.opts.workers {
            let s = shared.clone();
            let id = format!("worker-{i}-{run_id}");
            let spawned = std::thread::Builder::new().name(format!("trove-worker-{i}")).spawn(move || worker(&s, &id));
            match spawned {
                Ok(h) => threads.push(h),
                Err(e) => tracing::error!(error = %e, "cannot start a job worker thread"),
            }
        }
        let s = shared.clone();
        match std::thread::Builder::new().name("trove-lease-keeper".into()).spawn(move || keeper(&s)) {
            Ok(h) => threads.push(h),
            Err(e) => tracing::error!(error = %e, "cannot start the lease keeper thread"),
        }
        if let Some(waiter) = shared.engine.store().job_waiter() {
            let s = shared.clone();
            match std::thread::Builder::new().name("trove-job-listener".into()).spawn(move || listener(&s, waiter)) {
                Ok(h) => threads.push(h),
                Err(e) => tracing::error!(error = %e, "cannot start the job listener thread"),
            }
        }
        tracing::info!(workers = shared.opts.workers, "job workers started");
        WorkerPool { shared, threads }
    }

    /// Announces new work (a job was enqueued or retried): idle workers look at the queue.
    pub fn notify(&self) {
        let mut st = self.shared.lock();
        st.epoch += 1;
        drop(st);
        self.shared.work.notify_all();
    }

    /// Tells the attempt of `job` running in this pool, if any, to stop at its next
    /// checkpoint as cancelled.
    pub fn cancel(&self, job: &str) {
        let control = self.shared.lock().active.get(job).cloned();
        if let Some(c) = control {
            c.request_stop(StopReason::Cancelled);
        }
    }

    /// Jobs running now.
    pub fn running(&self) -> usize {
        self.shared.lock().active.len()
    }

    /// Worker threads still alive.
    pub fn alive(&self) -> usize {
        self.threads.iter().filter(|t| !t.is_finished()).count()
    }

    /// Stops taking jobs, gives running attempts `grace` to finish, then stops them (their
    /// jobs go back to the queue) and waits a little for them to reach a checkpoint. Threads
    /// still busy after that are left behind; the next start queues their jobs again.
    pub fn shutdown(self, grace: Duration) {
        let started = Instant::now();
        let mut st = self.shared.lock();
        st.stopping = true;
        self.shared.work.notify_all();
        while !st.active.is_empty() && started.elapsed() < grace {
            let left = grace.saturating_sub(started.elapsed());
            st = self.shared.ended.wait_timeout(st, left).unwrap_or_else(|e| e.into_inner()).0;
        }
        if !st.active.is_empty() {
            tracing::warn!(
                jobs = st.active.len(),
                "jobs still running after the grace period; putting them back in the queue"
            );
            for c in st.active.values() {
                c.request_stop(StopReason::ShuttingDown);
            }
            let stop_started = Instant::now();
            while !st.active.is_empty() && stop_started.elapsed() < STOP_WAIT {
                let left = STOP_WAIT.saturating_sub(stop_started.elapsed());
                st = self.shared.ended.wait_timeout(st, left).unwrap_or_else(|e| e.into_inner()).0;
            }
        }
        st.keeper_stop = true;
        let left_running = st.active.len();
        drop(st);
        self.shared.keeper.notify_all();
        for t in self.threads {
            if t.is_finished() || left_running == 0 {
                let _ = t.join();
            }
        }
        if left_running > 0 {
            tracing::warn!(
                jobs = left_running,
                "left job attempts running at shutdown; they are queued again at the next start"
            );
        }
        tracing::info!("job workers stopped");
    }
}

fn worker(shared: &Shared, id: &str) {
    let engine = &shared.engine;
    let lease_ms = shared.opts.lease.as_millis() as i64;
    loop {
        let epoch = {
            let st = shared.lock();
            if st.stopping {
                return;
            }
            st.epoch
        };
        let wait = match engine.store().job_claim(id, engine.now_ms(), lease_ms) {
            Ok(Some(job)) => {
                run_one(shared, id, job);
                continue;
            }
            Ok(None) => match engine.store().job_counts() {
                Ok(counts) => counts
                    .next_run_at_ms
                    .map(|t| Duration::from_millis((t - engine.now_ms()).max(0) as u64).min(IDLE_WAKE))
                    .unwrap_or(IDLE_WAKE),
                Err(e) => {
                    tracing::warn!(error = %e, "cannot read the job queue; trying again shortly");
                    CLAIM_ERROR_WAIT
                }
            },
            Err(e) => {
                tracing::warn!(error = %e, "cannot take a job from the queue; trying again shortly");
                CLAIM_ERROR_WAIT
            }
        };
        if wait.is_zero() {
            continue;
        }
        let st = shared.lock();
        if st.stopping || st.epoch != epoch {
            continue;
        }
        let _ = shared.work.wait_timeout(st, wait);
    }
}

fn run_one(shared: &Shared, worker: &str, job: JobRecord) {
    let engine = &shared.engine;
    let limit = Duration::from_millis(job.timeout_ms.max(1) as u64);
    let control = Arc::new(Control {
        observer: shared.observer.clone(),
        job: job.id.clone(),
        worker: worker.to_string(),
        clock: engine.clock().clone(),
        deadline: engine.clock().instant() + limit,
        limit_s: limit.as_secs().max(1),
        stop: Mutex::new(None),
        progress: engine.job_progress_start(&job.id),
    });
    {
        let mut st = shared.lock();
        if st.stopping {
            // Claimed just as the pool began shutting down: give the job back at once.
            control.request_stop(StopReason::ShuttingDown);
        }
        st.active.insert(job.id.clone(), control.clone());
    }
    shared.keeper.notify_all();
    let span = tracing::info_span!("job", id = %job.id, kind = %job.kind, attempt = job.attempts);
    let _entered = span.enter();
    tracing::info!(vault = ?job.vault, "job attempt started");
    let started = Instant::now();
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| engine.run_job(&job, control.as_ref())));
    let took = started.elapsed();
    engine.job_progress_end(&job.id);
    let stop = control.stop_reason();
    let (outcome, label) = match result {
        Ok(Ok(value)) => (Some(JobOutcome::Succeeded(value)), "succeeded"),
        Ok(Err(e)) => judge(shared, &job, &e, stop),
        Err(panic) => {
            let msg = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            let error = format!("the job hit a bug in trove ({msg}); please report it");
            (Some(JobOutcome::Dead { error, code: "internal".into() }), "dead")
        }
    };
    // Observed before the status is recorded, so whoever sees the job ended also sees it in
    // the metrics.
    shared.observer.job_finished(&job.kind, label, took);
    if let Some(outcome) = outcome {
        match engine.store().job_finish(&job.id, worker, &outcome, engine.now_ms()) {
            Ok(true) => {
                if matches!(outcome, JobOutcome::Succeeded(_) | JobOutcome::Cancelled) {
                    engine.remove_upload(&job);
                }
                match &outcome {
                    JobOutcome::Retry { error, run_at_ms, .. } => {
                        let in_ms = run_at_ms - engine.now_ms();
                        tracing::warn!(error = %error, retry_in_ms = in_ms, "job attempt failed; it will be retried")
                    }
                    JobOutcome::Dead { error, .. } => {
                        tracing::error!(error = %error, "job failed; it is in the dead-letter queue")
                    }
                    _ => tracing::info!(outcome = label, seconds = took.as_secs_f64(), "job attempt ended"),
                }
            }
            Ok(false) => tracing::warn!("the job's lease was lost before it reported; another attempt owns it"),
            Err(e) => {
                tracing::error!(error = %e, "cannot record how the job ended; it is taken back when its lease expires")
            }
        }
    }
    let mut st = shared.lock();
    st.active.remove(&job.id);
    drop(st);
    shared.ended.notify_all();
}

/// How long the listener waits at a time, so it notices a shutdown.
const LISTEN_SLICE: Duration = Duration::from_secs(1);

/// On a shared store: wakes idle workers when another process enqueues or retries a job.
fn listener(shared: &Shared, mut waiter: trove_store::JobWaiter) {
    let mut failing = false;
    loop {
        {
            let st = shared.lock();
            if st.stopping || st.keeper_stop {
                return;
            }
        }
        match waiter(LISTEN_SLICE) {
            Ok(true) => {
                failing = false;
                shared.lock().epoch += 1;
                shared.work.notify_all();
            }
            Ok(false) => failing = false,
            Err(e) => {
                if !failing {
                    tracing::warn!(error = %e, "cannot listen for jobs of other nodes; workers still look at the queue on their own");
                }
                failing = true;
                let st = shared.lock();
                if st.stopping {
                    return;
                }
                let _ = shared.work.wait_timeout(st, CLAIM_ERROR_WAIT);
            }
        }
    }
}

/// What a failed attempt means for its job.
fn judge(
    shared: &Shared,
    job: &JobRecord,
    e: &EngineError,
    stop: Option<StopReason>,
) -> (Option<JobOutcome>, &'static str) {
    let reason = match e {
        EngineError::Stopped(r) => Some(*r),
        _ => stop,
    };
    match reason {
        Some(StopReason::Cancelled) => return (Some(JobOutcome::Cancelled), "cancelled"),
        Some(StopReason::LeaseLost) => return (None, "lost"),
        Some(StopReason::ShuttingDown) => return (Some(JobOutcome::Released), "released"),
        Some(StopReason::TimedOut { .. }) | None => {}
    }
    let code = e.code();
    let error = e.to_string();
    let code_name = code.info().name.to_string();
    if code.info().kind == ErrorKind::System {
        let now_ms = shared.engine.now_ms();
        let delay = backoff(&shared.opts, job.attempts, &job.id, now_ms);
        (Some(JobOutcome::Retry { error, code: code_name, run_at_ms: now_ms + delay.as_millis() as i64 }), "retry")
    } else {
        (Some(JobOutcome::Dead { error, code: code_name }), "dead")
    }
}

/// The delay before attempt `attempts + 1`: the base doubled per attempt, capped, with
/// "equal jitter" (between half and all of it) so jobs that failed together spread out; the
/// jitter is drawn from `salt` and the time `now_ms`.
pub fn backoff(opts: &WorkerOptions, attempts: u32, salt: &str, now_ms: i64) -> Duration {
    let exp = attempts.saturating_sub(1).min(30);
    let full = opts.backoff_base.saturating_mul(1u32 << exp).min(opts.backoff_max);
    let half = full / 2;
    let seed = salt
        .bytes()
        .fold(now_ms as u64 ^ 0x9e37_79b9_7f4a_7c15, |h, b| (h ^ b as u64).wrapping_mul(0x0000_0100_0000_01b3));
    let jitter = splitmix(seed) % (half.as_millis() as u64 + 1);
    half + Duration::from_millis(jitter)
}

fn splitmix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn keeper(shared: &Shared) {
    let engine = &shared.engine;
    let lease_ms = shared.opts.lease.as_millis() as i64;
    let beat = (shared.opts.lease / 3).max(Duration::from_millis(200));
    let mut st = shared.lock();
    loop {
        if st.keeper_stop {
            return;
        }
        if st.active.is_empty() {
            st = shared.keeper.wait(st).unwrap_or_else(|e| e.into_inner());
            continue;
        }
        let running: Vec<Arc<Control>> = st.active.values().cloned().collect();
        drop(st);
        for c in running {
            if c.clock.instant() >= c.deadline {
                c.request_stop(StopReason::TimedOut { limit_s: c.limit_s });
            }
            match engine.store().job_heartbeat(&c.job, &c.worker, engine.now_ms(), lease_ms) {
                Ok(Heartbeat::Held { cancel_requested: true }) => c.request_stop(StopReason::Cancelled),
                Ok(Heartbeat::Held { cancel_requested: false }) => {}
                Ok(Heartbeat::Lost) => {
                    // The attempt may already have reported; only a still-active one has lost.
                    if shared.lock().active.contains_key(&c.job) {
                        c.request_stop(StopReason::LeaseLost);
                    }
                }
                Err(e) => tracing::warn!(job = %c.job, error = %e, "cannot extend a job's lease; trying again"),
            }
        }
        st = shared.lock();
        if st.keeper_stop {
            return;
        }
        st = shared.keeper.wait_timeout(st, beat).unwrap_or_else(|e| e.into_inner()).0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_with_jitter_and_stays_under_the_cap() {
        let opts = WorkerOptions {
            workers: 1,
            lease: Duration::from_secs(60),
            backoff_base: Duration::from_millis(1000),
            backoff_max: Duration::from_secs(10),
        };
        for attempt in 1..=8u32 {
            let full = Duration::from_millis(1000 * (1u64 << (attempt - 1))).min(Duration::from_secs(10));
            for salt in ["a", "b", "c", "d"] {
                let d = backoff(&opts, attempt, salt, 1_700_000_000_000);
                assert!(d >= full / 2 && d <= full, "attempt {attempt}: {d:?} not in [{:?}, {full:?}]", full / 2);
            }
        }
        let spread: std::collections::HashSet<_> =
            (0..20).map(|i| backoff(&opts, 4, &format!("job_{i}"), 1_700_000_000_000).as_millis()).collect();
        assert!(spread.len() > 5, "jitter spreads retries: {spread:?}");
    }
}
