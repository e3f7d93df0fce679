//! Work handed out to threads as they free up: [`for_each_dynamic`] runs numbered items on the
//! current rayon pool, each thread taking the next item from a shared counter when it finishes
//! one, so that a thread slowed down (by another process on its core, or by a larger item)
//! simply takes fewer items and both threads stay busy until the last item.
//!
//! Static splits (half the rows to each thread) leave one thread waiting whenever the two run
//! at different speeds, which on a shared machine is most of the time.

use std::sync::atomic::{AtomicUsize, Ordering};

/// Runs `f(0) .. f(count - 1)`, each exactly once, on up to `threads` threads of the current
/// rayon pool (the calling thread included); returns when all have run.
///
/// Items are taken in order from a shared counter, so nearby items run close together in time.
/// With `threads <= 1` or a single item everything runs on the calling thread. A helper that
/// starts late (its core busy elsewhere) finds fewer items or none left; nothing waits for it to
/// start, only for the item it is running.
pub(crate) fn for_each_dynamic(threads: usize, count: usize, f: impl Fn(usize) + Sync) {
    let helpers = threads.min(count).saturating_sub(1);
    if helpers == 0 {
        (0..count).for_each(f);
        return;
    }
    let next = AtomicUsize::new(0);
    let work = || {
        loop {
            let i = next.fetch_add(1, Ordering::Relaxed);
            if i >= count {
                break;
            }
            f(i);
        }
    };
    rayon::scope(|s| {
        for _ in 0..helpers {
            s.spawn(|_| work());
        }
        work();
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[test]
    fn every_item_runs_exactly_once_whatever_the_thread_count() {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(3).build().unwrap();
        for threads in [0, 1, 2, 3, 8] {
            for count in [0, 1, 2, 7, 100] {
                let seen = Mutex::new(vec![0u32; count]);
                pool.install(|| for_each_dynamic(threads, count, |i| seen.lock().unwrap()[i] += 1));
                assert!(seen.into_inner().unwrap().iter().all(|&n| n == 1), "{threads} threads, {count} items");
            }
        }
    }

    #[test]
    fn the_other_thread_runs_the_rest_while_one_item_holds_its_thread() {
        // Item 0 does not finish until every other item has: with a static split (half of the
        // items to each thread) it would wait for ever; here the other thread takes them all.
        let pool = rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap();
        let done = (Mutex::new(0usize), std::sync::Condvar::new());
        let held_long_enough = Mutex::new(false);
        pool.install(|| {
            for_each_dynamic(2, 50, |i| {
                let (count, changed) = &done;
                if i == 0 {
                    let limit = std::time::Duration::from_secs(30);
                    let (count, timeout) =
                        changed.wait_timeout_while(count.lock().unwrap(), limit, |n| *n < 49).unwrap();
                    *held_long_enough.lock().unwrap() = !timeout.timed_out() && *count == 49;
                } else {
                    *count.lock().unwrap() += 1;
                    changed.notify_all();
                }
            })
        });
        assert!(*held_long_enough.lock().unwrap(), "the other 49 items did not run while item 0 held its thread");
    }
}
