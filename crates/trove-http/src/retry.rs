//! The retry policy of every HTTP client in Trove (remote sources through [`crate::Client`],
//! REST embedders, Qdrant): a bounded number of attempts, and between two of them the wait the
//! server asked for (`Retry-After`, cut to a maximum) or else exponential backoff with full
//! jitter. [`Retries::run`] drives the attempts; each client says what one attempt is and what
//! waiting means for it (sleeping, or pausing every request of its limiter), and keeps its own
//! errors and messages.
//!
//! The module also holds what the clients' failures share: whether a `ureq` error is a TLS
//! failure ([`is_tls_failure`]), and a server's or network's detail made safe to show
//! ([`redacted`]).

use std::time::Duration;

/// How many times to retry and how long to wait in between.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retries {
    /// Retries after the first attempt.
    pub max_retries: u32,
    /// The first backoff's ceiling; it doubles per retry up to `backoff_max`.
    pub backoff_min: Duration,
    /// The longest backoff ceiling.
    pub backoff_max: Duration,
    /// The longest wait a server's `Retry-After` may impose; longer ones are cut to it.
    pub retry_after_max: Duration,
}

/// Why one attempt failed.
#[derive(Debug)]
pub enum Failure<R, F> {
    /// Worth another attempt: after the wait the server asked for, when it named one.
    Retry(R, Option<Duration>),
    /// Retrying cannot help.
    Fatal(F),
}

/// Why [`Retries::run`] gave up.
#[derive(Debug)]
pub enum GaveUp<R, F> {
    /// An attempt failed in a way retrying cannot help.
    Fatal(F),
    /// Every attempt failed and was worth retrying: the last one's error, and how many attempts
    /// were made.
    Exhausted {
        /// The last attempt's error.
        last: R,
        /// Attempts made (`max_retries + 1`).
        attempts: u32,
    },
}

/// The wait before the next attempt, as [`Retries::run`] hands it to the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Wait {
    /// The attempt that failed, counted from 0.
    pub attempt: u32,
    /// How long to wait.
    pub delay: Duration,
    /// Whether the server asked for the wait (`Retry-After`) rather than the backoff.
    pub asked: bool,
}

impl Retries {
    /// Runs `attempt` (given the attempt's number, from 0) until it succeeds, fails for good,
    /// or has failed `max_retries + 1` times. Before each retry, `wait` is called with the
    /// failure and the wait: the server's (`Retry-After`, at most `retry_after_max`) or the
    /// backoff ([`backoff_delay`]). `wait` does the waiting, so a client can pause all of its
    /// requests rather than just this one.
    pub fn run<T, R, F>(
        &self,
        mut attempt: impl FnMut(u32) -> Result<T, Failure<R, F>>,
        mut wait: impl FnMut(&R, Wait),
    ) -> Result<T, GaveUp<R, F>> {
        let mut n = 0;
        loop {
            match attempt(n) {
                Ok(value) => return Ok(value),
                Err(Failure::Fatal(e)) => return Err(GaveUp::Fatal(e)),
                Err(Failure::Retry(e, _)) if n >= self.max_retries => {
                    return Err(GaveUp::Exhausted { last: e, attempts: n + 1 });
                }
                Err(Failure::Retry(e, retry_after)) => {
                    let delay = match retry_after {
                        Some(asked) => asked.min(self.retry_after_max),
                        None => backoff_delay(self.backoff_min, self.backoff_max, n),
                    };
                    wait(&e, Wait { attempt: n, delay, asked: retry_after.is_some() });
                    n += 1;
                }
            }
        }
    }
}

/// Exponential backoff with full jitter: uniform in [0, min(max, min · 2^attempt)].
pub fn backoff_delay(min: Duration, max: Duration, attempt: u32) -> Duration {
    let ceiling = min.saturating_mul(1u32 << attempt.min(20)).min(max);
    let unit = f64::from(getrandom::u32().unwrap_or(u32::MAX / 2)) / f64::from(u32::MAX);
    ceiling.mul_f64(unit)
}

/// Whether a request failed on TLS: a refused certificate (which often arrives as an I/O error
/// carrying rustls' error) or an unreadable PEM. Retrying cannot help.
pub fn is_tls_failure(e: &ureq::Error) -> bool {
    match e {
        ureq::Error::Io(io) => io.get_ref().is_some_and(|inner| inner.is::<rustls::Error>()),
        ureq::Error::Tls(_) | ureq::Error::Rustls(_) | ureq::Error::Pem(_) => true,
        _ => false,
    }
}

/// `detail` fit for a message: trimmed, without `secret` (when it is long enough to find),
/// cut to 300 bytes, and `no details` when nothing is left.
pub fn redacted(detail: &str, secret: Option<&str>) -> String {
    let mut d = detail.trim().to_string();
    if let Some(secret) = secret.filter(|s| s.len() >= 4) {
        d = d.replace(secret, "***");
    }
    if d.len() > 300 {
        d.truncate(d.floor_char_boundary(300));
        d.push('…');
    }
    if d.is_empty() { "no details".into() } else { d }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn retries(max_retries: u32) -> Retries {
        Retries {
            max_retries,
            backoff_min: Duration::from_millis(10),
            backoff_max: Duration::from_millis(40),
            retry_after_max: Duration::from_secs(2),
        }
    }

    #[test]
    fn retries_until_success_waiting_as_the_server_asks_or_by_backoff() {
        let mut waits = Vec::new();
        let answer = retries(3).run(
            |n| match n {
                0 => Err(Failure::Retry("busy", Some(Duration::from_secs(60)))),
                1 => Err(Failure::<_, ()>::Retry("reset", None)),
                _ => Ok(n),
            },
            |why, wait| waits.push((*why, wait)),
        );
        assert_eq!(answer.unwrap(), 2);
        assert_eq!(waits.len(), 2);
        // The server's wait, cut to the maximum.
        assert_eq!(waits[0], ("busy", Wait { attempt: 0, delay: Duration::from_secs(2), asked: true }));
        // The backoff of the second attempt: at most twice the first ceiling.
        assert_eq!((waits[1].0, waits[1].1.attempt, waits[1].1.asked), ("reset", 1, false));
        assert!(waits[1].1.delay <= Duration::from_millis(20), "{:?}", waits[1].1);
    }

    #[test]
    fn gives_up_after_the_last_attempt_or_at_once_when_fatal() {
        let mut tries = 0;
        let mut waited = 0;
        let gave_up = retries(2).run(
            |_| -> Result<(), Failure<&str, &str>> {
                tries += 1;
                Err(Failure::Retry("down", None))
            },
            |_, _| waited += 1,
        );
        assert!(matches!(gave_up, Err(GaveUp::Exhausted { last: "down", attempts: 3 })), "{gave_up:?}");
        assert_eq!((tries, waited), (3, 2));
        let fatal = retries(5).run(|_| -> Result<(), _> { Err(Failure::<(), _>::Fatal("no")) }, |_, _| unreachable!());
        assert!(matches!(fatal, Err(GaveUp::Fatal("no"))));
    }

    #[test]
    fn backoff_stays_under_its_ceiling() {
        for attempt in 0..30 {
            let d = backoff_delay(Duration::from_millis(100), Duration::from_secs(1), attempt);
            assert!(d <= Duration::from_millis(100).saturating_mul(1 << attempt.min(20)).min(Duration::from_secs(1)));
        }
    }

    #[test]
    fn details_lose_the_secret_and_stay_short() {
        assert_eq!(redacted("  bad key sk-123456 here ", Some("sk-123456")), "bad key *** here");
        assert_eq!(redacted("abc", Some("abc")), "abc", "a secret too short to find is left");
        assert_eq!(redacted(" ", None), "no details");
        let long = redacted(&"é".repeat(400), None);
        assert!(long.len() <= 303 && long.ends_with('…'), "{long}");
    }
}
