//! The circuit breaker in front of Trove's network services (PostgreSQL connections, Qdrant
//! requests): after `threshold` failures in a row it opens, and calls are refused at once for
//! `cooldown`; then one trial call is let through (half open) while the others are still
//! refused, and its outcome closes the breaker or opens it for another `cooldown`. Any success
//! closes it. Time is read from a [`trove_clock::Clock`], so tests step the cool-down instead
//! of sleeping through it.

use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use trove_clock::SharedClock;

/// A circuit breaker; share it between the callers of one service.
#[derive(Debug)]
pub struct Breaker {
    threshold: u32,
    cooldown: Duration,
    clock: SharedClock,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    failures: u32,
    open_until: Option<Instant>,
    last_error: Option<String>,
    /// A half-open trial is under way.
    trial: bool,
}

/// Why a call was refused without being tried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BreakerOpen {
    /// Failures in a row so far.
    pub failures: u32,
    /// The last failure's reason, if one was given.
    pub last_error: Option<String>,
    /// How long until a trial call is let through (zero while one is under way).
    pub retry_in: Duration,
}

/// Leave to make one call: report its outcome with [`Permit::succeeded`] or
/// [`Permit::failed`]. A permit dropped without either (the call never reached the service)
/// changes nothing, except that a trial is over and the next caller may try.
#[derive(Debug)]
#[must_use = "report the call's outcome to the breaker"]
pub struct Permit<'a> {
    breaker: &'a Breaker,
    /// This call is the half-open trial.
    trial: bool,
}

/// What a reported outcome did to the breaker (for logs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// Nothing to tell.
    None,
    /// The breaker was open and is closed now.
    Closed,
    /// The breaker was closed and is open now.
    Opened,
}

impl Breaker {
    /// Opens after `threshold` failures in a row (at least 1), refuses for `cooldown`.
    pub fn new(threshold: u32, cooldown: Duration, clock: SharedClock) -> Breaker {
        Breaker { threshold: threshold.max(1), cooldown, clock, state: Mutex::new(State::default()) }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// How long an open breaker refuses.
    pub fn cooldown(&self) -> Duration {
        self.cooldown
    }

    /// Leave to call the service now, or why not.
    pub fn admit(&self) -> Result<Permit<'_>, BreakerOpen> {
        let mut s = self.state();
        if let Some(until) = s.open_until {
            let now = self.clock.instant();
            if now < until || s.trial {
                return Err(BreakerOpen {
                    failures: s.failures,
                    last_error: s.last_error.clone(),
                    retry_in: until.saturating_duration_since(now),
                });
            }
            s.trial = true;
            return Ok(Permit { breaker: self, trial: true });
        }
        Ok(Permit { breaker: self, trial: false })
    }

    /// Whether calls are refused now (open, and its cool-down not over).
    pub fn is_open(&self) -> bool {
        self.state().open_until.is_some_and(|until| self.clock.instant() < until)
    }

    /// The last failure's reason since the breaker last closed.
    pub fn last_error(&self) -> Option<String> {
        self.state().last_error.clone()
    }
}

impl Permit<'_> {
    /// The call reached the service: the breaker closes.
    pub fn succeeded(self) -> Change {
        let mut s = self.breaker.state();
        let was_open = s.open_until.is_some();
        *s = State::default();
        drop(s);
        std::mem::forget(self);
        if was_open { Change::Closed } else { Change::None }
    }

    /// The call failed for `reason`: counted, and the breaker opens at the threshold (again,
    /// after a failed trial).
    pub fn failed(self, reason: impl Into<String>) -> Change {
        let b = self.breaker;
        let mut s = b.state();
        s.trial = false;
        s.failures = s.failures.saturating_add(1);
        s.last_error = Some(reason.into());
        let mut change = Change::None;
        if s.failures >= b.threshold {
            if s.open_until.is_none() {
                change = Change::Opened;
            }
            s.open_until = Some(b.clock.instant() + b.cooldown);
        }
        drop(s);
        std::mem::forget(self);
        change
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        if self.trial {
            self.breaker.state().trial = false;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use trove_clock::ManualClock;

    fn breaker() -> (Breaker, std::sync::Arc<ManualClock>) {
        let clock = ManualClock::at_ms(0);
        (Breaker::new(3, Duration::from_secs(5), clock.clone()), clock)
    }

    #[test]
    fn it_opens_after_the_threshold_and_refuses_until_the_cooldown_is_over() {
        let (b, clock) = breaker();
        assert_eq!(b.admit().unwrap().failed("refused"), Change::None);
        assert_eq!(b.admit().unwrap().failed("refused"), Change::None);
        assert!(!b.is_open());
        assert_eq!(b.admit().unwrap().failed("connection refused"), Change::Opened);
        assert!(b.is_open());
        let open = b.admit().unwrap_err();
        assert_eq!((open.failures, open.last_error.as_deref()), (3, Some("connection refused")));
        assert_eq!(open.retry_in, Duration::from_secs(5));
        clock.advance(Duration::from_millis(4_999));
        assert_eq!(b.admit().unwrap_err().retry_in, Duration::from_millis(1));
        clock.advance(Duration::from_millis(1));
        assert!(!b.is_open());
        assert_eq!(b.admit().unwrap().succeeded(), Change::Closed);
        assert!(b.admit().is_ok() && b.last_error().is_none());
    }

    #[test]
    fn one_trial_at_a_time_and_a_failed_trial_reopens_it() {
        let (b, clock) = breaker();
        for _ in 0..3 {
            let _ = b.admit().unwrap().failed("down");
        }
        clock.advance(Duration::from_secs(5));
        let trial = b.admit().unwrap();
        assert_eq!(b.admit().unwrap_err().retry_in, Duration::ZERO, "a second caller waits for the trial");
        assert_eq!(trial.failed("still down"), Change::None, "it was open already");
        let open = b.admit().unwrap_err();
        assert_eq!((open.failures, open.retry_in), (4, Duration::from_secs(5)));
        clock.advance(Duration::from_secs(5));
        // A trial that never reached the service lets the next caller try.
        drop(b.admit().unwrap());
        assert!(b.admit().is_ok());
    }

    #[test]
    fn a_success_resets_the_count() {
        let (b, _) = breaker();
        let _ = b.admit().unwrap().failed("a");
        let _ = b.admit().unwrap().failed("b");
        assert_eq!(b.admit().unwrap().succeeded(), Change::None);
        let _ = b.admit().unwrap().failed("c");
        let _ = b.admit().unwrap().failed("d");
        assert!(!b.is_open(), "two failures after a success do not open it");
    }
}
