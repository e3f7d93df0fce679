//! Request rate limits, in memory per process: a token bucket per API key (requests per
//! minute) and per client IP address (refused credentials and login attempts per hour, against
//! guessing keys and passwords).
//! A bucket holds a whole period's allowance and refills evenly; an empty one answers how long
//! until the next token, which becomes the `429` answer's `Retry-After`. Idle buckets are
//! dropped as the map grows, so memory stays bounded by the active callers.
//! On a store that several nodes share (PostgreSQL), the buckets live in the store
//! ([`Engine::rate_limit`]) so every node counts against one allowance; if the
//! store cannot answer, the node falls back to its own buckets rather than refusing everyone.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use trove_clock::SharedClock;
use trove_config::RateLimitsConfig;
use trove_engine::Engine;

/// Buckets kept before idle (full) ones are swept.
const SWEEP_AT: usize = 10_000;

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// One limit: `capacity` per `period`, per key.
pub struct Limiter {
    /// Names the limit's buckets in a shared store.
    name: &'static str,
    capacity: f64,
    per_second: f64,
    buckets: Mutex<HashMap<String, Bucket>>,
    /// The engine whose store may keep shared buckets.
    shared: Option<Arc<Engine>>,
    /// Where refills are timed from (the engine's clock in a server).
    clock: SharedClock,
}

impl std::fmt::Debug for Limiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Limiter").field("name", &self.name).field("capacity", &self.capacity).finish_non_exhaustive()
    }
}

impl Limiter {
    /// `capacity` events per `period`; 0 allows everything.
    pub fn new(capacity: u32, period: Duration) -> Limiter {
        Limiter::named("limit", capacity, period, None, trove_clock::system())
    }

    fn named(
        name: &'static str,
        capacity: u32,
        period: Duration,
        shared: Option<Arc<Engine>>,
        clock: SharedClock,
    ) -> Limiter {
        Limiter {
            name,
            capacity: f64::from(capacity),
            per_second: f64::from(capacity) / period.as_secs_f64().max(1e-3),
            buckets: Mutex::new(HashMap::new()),
            shared,
            clock,
        }
    }

    /// The store's shared bucket for `key`, when the store keeps them and answers.
    fn shared_bucket(&self, key: &str, take: bool) -> Option<Result<(), Duration>> {
        let engine = self.shared.as_ref()?;
        let now_ms = self.clock.now_ms();
        let bucket = format!("{}:{key}", self.name);
        match engine.rate_limit(&bucket, self.capacity, self.per_second, now_ms, take)? {
            Ok(Ok(())) => Some(Ok(())),
            Ok(Err(ms)) => Some(Err(Duration::from_millis(ms.max(0) as u64).max(Duration::from_secs(1)))),
            Err(e) => {
                tracing::warn!(limit = self.name, error = %e, "the shared rate-limit bucket cannot be read; counting on this node meanwhile");
                None
            }
        }
    }

    fn refill(&self, b: &mut Bucket, now: Instant) {
        b.tokens = (b.tokens + now.duration_since(b.at).as_secs_f64() * self.per_second).min(self.capacity);
        b.at = now;
    }

    fn wait(&self, tokens: f64) -> Duration {
        Duration::from_secs_f64(((1.0 - tokens) / self.per_second).max(0.0)).max(Duration::from_secs(1))
    }

    /// Takes one token for `key`; `Err(retry_after)` when there is none.
    pub fn take(&self, key: &str) -> Result<(), Duration> {
        self.ask(key, true)
    }

    /// `Err(retry_after)` when `key` has no token left, without taking one.
    pub fn check(&self, key: &str) -> Result<(), Duration> {
        self.ask(key, false)
    }

    /// Whether `key` has a token, taking it when `take`: the shared bucket when the store keeps
    /// one and answers, else this node's (a key never seen has a full bucket).
    fn ask(&self, key: &str, take: bool) -> Result<(), Duration> {
        if self.capacity == 0.0 {
            return Ok(());
        }
        if let Some(answer) = self.shared_bucket(key, take) {
            return answer;
        }
        let now = self.clock.instant();
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        let b = if take {
            if buckets.len() >= SWEEP_AT {
                let full =
                    |b: &Bucket| b.tokens + now.duration_since(b.at).as_secs_f64() * self.per_second >= self.capacity;
                buckets.retain(|_, b| !full(b));
            }
            buckets.entry(key.to_string()).or_insert(Bucket { tokens: self.capacity, at: now })
        } else {
            match buckets.get_mut(key) {
                Some(b) => b,
                None => return Ok(()),
            }
        };
        self.refill(b, now);
        if b.tokens < 1.0 {
            return Err(self.wait(b.tokens));
        }
        if take {
            b.tokens -= 1.0;
        }
        Ok(())
    }
}

/// The server's limits.
#[derive(Debug)]
pub struct Limits {
    /// Requests per API key.
    pub per_key: Limiter,
    /// Refused credentials per client address.
    pub failed_auth: Limiter,
    /// Login attempts per client address.
    pub logins: Limiter,
    /// Registrations per client address.
    pub registrations: Limiter,
}

impl Limits {
    /// The limits an `auth.rate_limits` section asks for, counted in this process by the
    /// system's clock.
    pub fn from_config(c: &RateLimitsConfig) -> Limits {
        Limits::with_store(c, None, trove_clock::system())
    }

    /// The limits of `c`, counted in `engine`'s store when it keeps shared buckets (several
    /// nodes), else in this process; refills are timed by `clock`.
    pub fn with_store(c: &RateLimitsConfig, engine: Option<Arc<Engine>>, clock: SharedClock) -> Limits {
        let hour = Duration::from_secs(3600);
        let limit = |name, capacity, period| Limiter::named(name, capacity, period, engine.clone(), clock.clone());
        Limits {
            per_key: limit("key", c.requests_per_key_per_minute, Duration::from_secs(60)),
            failed_auth: limit("failed_auth", c.failed_auth_per_ip_per_hour, hour),
            logins: limit("login", c.logins_per_ip_per_hour, hour),
            registrations: limit("registration", c.registrations_per_ip_per_day, Duration::from_secs(86_400)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_allows_its_capacity_then_names_the_wait() {
        let l = Limiter::new(3, Duration::from_secs(60));
        for _ in 0..3 {
            l.take("k").unwrap();
        }
        let wait = l.take("k").unwrap_err();
        assert!(wait >= Duration::from_secs(19) && wait <= Duration::from_secs(21), "{wait:?}");
        assert!(l.check("k").is_err());
        l.take("other").unwrap();
        assert!(l.check("never-seen").is_ok());
    }

    #[test]
    fn zero_means_unlimited_and_buckets_refill() {
        let off = Limiter::new(0, Duration::from_secs(60));
        for _ in 0..1000 {
            off.take("k").unwrap();
        }
        // The clock is stepped, not read: a slow machine must not refill the bucket mid-loop.
        let clock = trove_clock::ManualClock::at_ms(0);
        let fast = Limiter::named("fast", 1000, Duration::from_secs(1), None, clock.clone());
        for _ in 0..1000 {
            fast.take("k").unwrap();
        }
        assert!(fast.take("k").is_err());
        clock.advance(Duration::from_micros(500));
        assert!(fast.take("k").is_err());
        clock.advance(Duration::from_micros(1000));
        fast.take("k").unwrap();
        assert!(fast.take("k").is_err());
    }
}
