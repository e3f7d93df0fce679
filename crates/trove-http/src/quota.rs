//! [`Quota`]: the client-side limits of a model API (the REST embedders, the chat models),
//! shared by every caller of one client: requests in flight, request and token buckets
//! refilled continuously (per minute), and a pause every caller honours after a 429.
//!
//! Time is read from a [`trove_clock::Clock`] and waits for time go through a [`Sleep`], so a
//! test hands it a `ManualClock` and a sleep that steps it instead of sleeping. Waiting for a
//! free slot (requests in flight) is a real wait on a condition variable: a returned permit
//! wakes it.

use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use trove_clock::SharedClock;

/// How a wait for time happens: `std::thread::sleep` in production ([`real_sleep`]), a step of
/// a manual clock in tests.
pub type Sleep = Arc<dyn Fn(Duration) + Send + Sync>;

/// Estimated tokens of `text` for a remote model, whose tokenizer is not at hand: one per
/// three bytes, rounded up. That over-counts English for BPE tokenizers, so what is sized by
/// it (a chunk for an embeddings model, a prompt for a chat model's context) stays within the
/// model's limit.
pub fn estimate_tokens(text: &str) -> usize {
    text.len().div_ceil(3)
}

/// The operating system's sleep.
pub fn real_sleep() -> Sleep {
    Arc::new(std::thread::sleep)
}

/// Client-side limits; see the module documentation.
pub struct Quota {
    state: Mutex<State>,
    changed: Condvar,
    concurrency: u32,
    rpm: f64,
    tpm: f64,
    clock: SharedClock,
    sleep: Sleep,
}

impl std::fmt::Debug for Quota {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Quota")
            .field("concurrency", &self.concurrency)
            .field("rpm", &self.rpm)
            .field("tpm", &self.tpm)
            .finish_non_exhaustive()
    }
}

#[derive(Debug)]
struct State {
    in_flight: u32,
    /// Callers waiting for a free slot.
    queued: u32,
    requests: f64,
    tokens: f64,
    refilled: Instant,
    paused_until: Option<Instant>,
}

/// A slot of [`Quota`] (one request in flight); returns it when dropped. It owns a handle on
/// the quota, so a streamed answer can hold it for as long as it is read.
#[derive(Debug)]
pub struct QuotaPermit(Arc<Quota>);

impl Drop for QuotaPermit {
    fn drop(&mut self) {
        let mut s = self.0.state.lock().unwrap_or_else(|e| e.into_inner());
        s.in_flight = s.in_flight.saturating_sub(1);
        self.0.changed.notify_all();
    }
}

impl Quota {
    /// At most `concurrency` requests in flight (at least 1), `rpm` requests and `tpm`
    /// (estimated) tokens a minute (0 = no limit); time from `clock`, waits through `sleep`.
    pub fn new(concurrency: u32, rpm: u32, tpm: u32, clock: SharedClock, sleep: Sleep) -> Arc<Quota> {
        Arc::new(Quota {
            state: Mutex::new(State {
                in_flight: 0,
                queued: 0,
                requests: f64::from(rpm),
                tokens: f64::from(tpm),
                refilled: clock.instant(),
                paused_until: None,
            }),
            changed: Condvar::new(),
            concurrency: concurrency.max(1),
            rpm: f64::from(rpm),
            tpm: f64::from(tpm),
            clock,
            sleep,
        })
    }

    /// The same limits on the system's clock and sleep.
    pub fn system(concurrency: u32, rpm: u32, tpm: u32) -> Arc<Quota> {
        Quota::new(concurrency, rpm, tpm, trove_clock::system(), real_sleep())
    }

    /// Waits until a request of `tokens` estimated tokens may go out.
    pub fn acquire(self: &Arc<Self>, tokens: usize) -> QuotaPermit {
        // A request larger than the whole token budget goes out when the bucket is full.
        let cost = (tokens as f64).min(self.tpm);
        loop {
            let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
            let now = self.clock.instant();
            let elapsed = now.saturating_duration_since(s.refilled).as_secs_f64();
            s.refilled = now;
            s.requests = (s.requests + elapsed * self.rpm / 60.0).min(self.rpm);
            s.tokens = (s.tokens + elapsed * self.tpm / 60.0).min(self.tpm);
            let mut wait = Duration::ZERO;
            if let Some(until) = s.paused_until {
                if until > now {
                    wait = until - now;
                } else {
                    s.paused_until = None;
                }
            }
            if self.rpm > 0.0 && s.requests < 1.0 {
                wait = wait.max(Duration::from_secs_f64((1.0 - s.requests) * 60.0 / self.rpm));
            }
            if self.tpm > 0.0 && s.tokens < cost {
                wait = wait.max(Duration::from_secs_f64((cost - s.tokens) * 60.0 / self.tpm));
            }
            if !wait.is_zero() {
                drop(s);
                (self.sleep)(wait);
                continue;
            }
            if s.in_flight >= self.concurrency {
                // Woken by a returned permit; the bound only guards against a lost wake-up.
                s.queued += 1;
                let (mut s, _) =
                    self.changed.wait_timeout(s, Duration::from_millis(100)).unwrap_or_else(|e| e.into_inner());
                s.queued -= 1;
                continue;
            }
            s.in_flight += 1;
            if self.rpm > 0.0 {
                s.requests -= 1.0;
            }
            if self.tpm > 0.0 {
                s.tokens -= cost;
            }
            return QuotaPermit(self.clone());
        }
    }

    /// Callers waiting for a free slot (requests in flight at the limit) right now.
    pub fn queued(&self) -> u32 {
        self.state.lock().unwrap_or_else(|e| e.into_inner()).queued
    }

    /// Makes every caller wait `delay` from now before its next request (after a 429).
    pub fn pause(&self, delay: Duration) {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let until = self.clock.instant() + delay;
        s.paused_until = Some(s.paused_until.map_or(until, |u| u.max(until)));
    }

    /// Waits `delay` through the quota's sleep (a backoff between retries).
    pub fn sleep(&self, delay: Duration) {
        (self.sleep)(delay);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::stepped_time as stepped;
    use trove_clock::Clock;

    #[test]
    fn requests_are_spaced_by_rpm() {
        let (clock, sleep, _) = stepped();
        let q = Quota::new(4, 600, 0, clock.clone(), sleep); // 10 a second, the bucket starts full
        q.state.lock().unwrap().requests = 0.0;
        let start = clock.instant();
        for _ in 0..3 {
            drop(q.acquire(1));
        }
        let took = clock.instant() - start;
        assert!(took >= Duration::from_millis(299) && took < Duration::from_millis(400), "{took:?}");
    }

    #[test]
    fn tokens_are_spaced_by_tpm() {
        let (clock, sleep, _) = stepped();
        let q = Quota::new(4, 0, 600, clock.clone(), sleep); // 10 tokens a second
        let start = clock.instant();
        drop(q.acquire(600)); // the whole bucket
        drop(q.acquire(100)); // ten seconds of refill
        let took = clock.instant() - start;
        assert!(took >= Duration::from_millis(9_999) && took < Duration::from_secs(11), "{took:?}");
    }

    #[test]
    fn a_pause_holds_every_caller() {
        let (clock, sleep, waits) = stepped();
        let q = Quota::new(4, 0, 0, clock.clone(), sleep);
        q.pause(Duration::from_secs(7));
        drop(q.acquire(1));
        assert_eq!(*waits.lock().unwrap(), vec![Duration::from_secs(7)]);
        drop(q.acquire(1));
        assert_eq!(waits.lock().unwrap().len(), 1, "the pause is over");
    }

    #[test]
    fn requests_in_flight_are_bounded() {
        let (clock, sleep, waits) = stepped();
        let q = Quota::new(1, 0, 0, clock, sleep);
        let held = q.acquire(1);
        let (tx, rx) = std::sync::mpsc::channel();
        let other = q.clone();
        let t = std::thread::spawn(move || {
            let permit = other.acquire(1);
            tx.send(()).unwrap();
            drop(permit);
        });
        // The second caller is waiting for the slot, not for time.
        while q.queued() == 0 {
            std::thread::yield_now();
        }
        assert!(rx.try_recv().is_err(), "a second request went out while the first was in flight");
        drop(held);
        rx.recv().expect("the returned permit lets it go");
        t.join().unwrap();
        assert_eq!(q.queued(), 0);
        assert!(waits.lock().unwrap().is_empty(), "a slot is waited for, not slept for");
    }
}
