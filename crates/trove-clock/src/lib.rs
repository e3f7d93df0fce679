//! The clock Trove reads time from. Code that decides by time (expiry of sessions, memories
//! and leases, job deadlines, retry times, circuit breakers) asks a [`Clock`] instead of the
//! operating system, so a test can hand it a [`ManualClock`] and step time instead of
//! sleeping. Production code uses [`SystemClock`] (also what [`system`] returns).
//!
//! A clock answers two questions: the wall time ([`Clock::now_ms`], milliseconds since the
//! Unix epoch, what is stored and shown) and a monotonic instant ([`Clock::instant`], for
//! deadlines and cool-downs, which must not jump when the wall clock is set). Waits that bound
//! real I/O (a socket read, a condition variable) keep reading the operating system's
//! `Instant` where they are: stepping a clock cannot make a real wait end sooner.
//!
//! ```
//! use std::time::Duration;
//! use trove_clock::{Clock, ManualClock};
//!
//! let clock = ManualClock::at_ms(1_000);
//! let deadline = clock.instant() + Duration::from_secs(5);
//! clock.advance(Duration::from_secs(5));
//! assert_eq!(clock.now_ms(), 6_000);
//! assert!(clock.instant() >= deadline);
//! ```

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Where time comes from.
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// Wall time: milliseconds since the Unix epoch (0 for a system clock set before 1970).
    fn now_ms(&self) -> i64;
    /// Monotonic time, for deadlines and durations.
    fn instant(&self) -> Instant;
}

/// A clock shared by everything that reads it.
pub type SharedClock = Arc<dyn Clock>;

/// The operating system's clock, shared.
pub fn system() -> SharedClock {
    Arc::new(SystemClock)
}

/// The operating system's clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
    }

    fn instant(&self) -> Instant {
        Instant::now()
    }
}

/// A clock that moves only when told to ([`ManualClock::advance`]); both of its readings
/// move together.
#[derive(Debug)]
pub struct ManualClock {
    start_ms: i64,
    start: Instant,
    elapsed: Mutex<Duration>,
}

impl ManualClock {
    /// A stopped clock whose wall time is `start_ms`.
    pub fn at_ms(start_ms: i64) -> Arc<ManualClock> {
        Arc::new(ManualClock { start_ms, start: Instant::now(), elapsed: Mutex::new(Duration::ZERO) })
    }

    /// A stopped clock showing the system's time now (for stores whose other readers, such
    /// as a database server, keep real time).
    pub fn starting_now() -> Arc<ManualClock> {
        ManualClock::at_ms(SystemClock.now_ms())
    }

    /// Moves time forward by `by`.
    pub fn advance(&self, by: Duration) {
        let mut elapsed = self.elapsed.lock().unwrap_or_else(|e| e.into_inner());
        *elapsed = elapsed.saturating_add(by);
    }

    fn elapsed(&self) -> Duration {
        *self.elapsed.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> i64 {
        self.start_ms.saturating_add(self.elapsed().as_millis() as i64)
    }

    fn instant(&self) -> Instant {
        self.start + self.elapsed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manual_clock_stands_still_until_stepped() {
        let clock = ManualClock::at_ms(1_700_000_000_000);
        let (wall, mono) = (clock.now_ms(), clock.instant());
        std::thread::yield_now();
        assert_eq!((clock.now_ms(), clock.instant()), (wall, mono));
        clock.advance(Duration::from_millis(1_500));
        assert_eq!(clock.now_ms(), wall + 1_500);
        assert_eq!(clock.instant() - mono, Duration::from_millis(1_500));
    }

    #[test]
    fn a_shared_manual_clock_is_stepped_for_every_reader() {
        let manual = ManualClock::at_ms(0);
        let shared: SharedClock = manual.clone();
        manual.advance(Duration::from_secs(2));
        assert_eq!(shared.now_ms(), 2_000);
    }

    #[test]
    fn the_system_clock_reads_the_operating_system() {
        let before = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as i64;
        let now = SystemClock.now_ms();
        let after = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as i64;
        assert!(before <= now && now <= after, "{before} <= {now} <= {after}");
        let a = SystemClock.instant();
        assert!(SystemClock.instant() >= a);
    }
}
