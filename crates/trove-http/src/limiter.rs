//! The request-rate limit of one [`crate::Client`]: requests are spaced evenly
//! (`60 / requests_per_minute` seconds apart, the first at once), and a pause asked for by the
//! server (`Retry-After`) holds every request of the client until it ends.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Spaces requests out; shared by the clones of a client.
#[derive(Debug)]
pub(crate) struct Limiter {
    /// Time between two request starts; `None` = no limit.
    interval: Option<Duration>,
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    /// When the next request may start.
    next: Instant,
    /// Until when the server asked everyone to wait.
    paused_until: Option<Instant>,
}

impl Limiter {
    /// A limit of `per_minute` requests a minute; 0 = none.
    pub(crate) fn new(per_minute: u32) -> Limiter {
        let interval = (per_minute > 0).then(|| Duration::from_secs(60) / per_minute);
        Limiter { interval, state: Mutex::new(State { next: Instant::now(), paused_until: None }) }
    }

    /// Waits until a request may start, and books its slot.
    pub(crate) fn acquire(&self) {
        loop {
            let wait = {
                let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
                let now = Instant::now();
                let mut at = now;
                if let Some(until) = s.paused_until {
                    if until > now {
                        at = until;
                    } else {
                        s.paused_until = None;
                    }
                }
                if self.interval.is_some() {
                    at = at.max(s.next);
                }
                if at <= now {
                    if let Some(interval) = self.interval {
                        s.next = now + interval;
                    }
                    return;
                }
                at - now
            };
            std::thread::sleep(wait);
        }
    }

    /// Makes every request wait `delay` from now.
    pub(crate) fn pause(&self, delay: Duration) {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let until = Instant::now() + delay;
        s.paused_until = Some(s.paused_until.map_or(until, |u| u.max(until)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_spaced_by_the_rate() {
        let l = Limiter::new(600); // one every 100 ms
        let start = Instant::now();
        for _ in 0..4 {
            l.acquire();
        }
        let took = start.elapsed();
        assert!(took >= Duration::from_millis(290), "four requests at 10/s took {took:?}");
        assert!(took < Duration::from_secs(2), "{took:?}");
        let free = Limiter::new(0);
        let start = Instant::now();
        for _ in 0..100 {
            free.acquire();
        }
        // A limiter that spaced these would take 100 intervals; the bound is loose for busy CI.
        assert!(start.elapsed() < Duration::from_secs(1));
    }

    #[test]
    fn a_pause_holds_every_caller() {
        let l = std::sync::Arc::new(Limiter::new(0));
        let start = Instant::now();
        l.pause(Duration::from_millis(300));
        let other = l.clone();
        let t = std::thread::spawn(move || {
            other.acquire();
            start.elapsed()
        });
        l.acquire();
        assert!(start.elapsed() >= Duration::from_millis(280));
        assert!(t.join().unwrap() >= Duration::from_millis(280));
    }
}
