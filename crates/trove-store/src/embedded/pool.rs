//! A small pool of read-only SQLite connections, so reads run on several cores at once: in
//! WAL mode readers do not block each other or the writer. Connections are opened lazily, up
//! to a fixed size; a read that finds none idle waits for one to come back.
//!
//! Each read starts its own transaction on a connection that has no transaction open, so it
//! sees every write committed before it began (read-your-writes across connections).

use std::path::{Path, PathBuf};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use rusqlite::{Connection, OpenFlags};

use crate::StoreError;

/// How much of the database file a read connection maps into memory (address space, not
/// resident memory: pages are shared with the OS page cache).
const MMAP_BYTES: i64 = 1 << 30;

/// How many read connections a store opens at most: one per available core, at least 2 and
/// at most 8.
pub(crate) fn default_size() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get()).clamp(2, 8)
}

/// Opens one connection that can only read (`query_only`); read-write flags so SQLite may
/// create the WAL index if needed.
pub(crate) fn open_read_only(path: &Path) -> Result<Connection, StoreError> {
    let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX)?;
    conn.busy_timeout(Duration::from_secs(10))?;
    conn.pragma_update(None, "query_only", "ON")?;
    // Reads map the database instead of copying every page through read(2): scans of the
    // memories table (whose rows carry their vectors) otherwise spend a tenth of a busy
    // server's time in the kernel.
    conn.pragma_update(None, "mmap_size", MMAP_BYTES)?;
    Ok(conn)
}

#[derive(Debug, Default)]
struct Slots {
    idle: Vec<Connection>,
    opened: usize,
}

/// The pool; see the module documentation.
#[derive(Debug)]
pub(crate) struct ReadPool {
    path: PathBuf,
    size: usize,
    slots: Mutex<Slots>,
    returned: Condvar,
}

/// A connection borrowed from a [`ReadPool`]; it goes back when dropped, and how long it was
/// held is recorded as one read in the store's metrics.
pub(crate) struct PooledConn<'a> {
    pool: &'a ReadPool,
    conn: Option<Connection>,
    since: Instant,
}

impl ReadPool {
    /// A pool of at most `size` (at least 1) connections to the database at `path`.
    pub(crate) fn new(path: &Path, size: usize) -> ReadPool {
        ReadPool {
            path: path.to_path_buf(),
            size: size.max(1),
            slots: Mutex::new(Slots::default()),
            returned: Condvar::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Slots> {
        // The slots hold no invariant a panic could break halfway.
        self.slots.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Borrows an idle connection, opens a new one while under the size, or waits.
    pub(crate) fn get(&self) -> Result<PooledConn<'_>, StoreError> {
        let mut slots = self.lock();
        loop {
            if let Some(conn) = slots.idle.pop() {
                return Ok(PooledConn { pool: self, conn: Some(conn), since: Instant::now() });
            }
            if slots.opened < self.size {
                slots.opened += 1;
                drop(slots);
                return self.open_new();
            }
            slots = self.returned.wait(slots).unwrap_or_else(|e| e.into_inner());
        }
    }

    fn open_new(&self) -> Result<PooledConn<'_>, StoreError> {
        match open_read_only(&self.path) {
            Ok(conn) => Ok(PooledConn { pool: self, conn: Some(conn), since: Instant::now() }),
            Err(e) => {
                self.lock().opened -= 1;
                self.returned.notify_one();
                Err(e)
            }
        }
    }

    fn put_back(&self, conn: Connection) {
        self.lock().idle.push(conn);
        self.returned.notify_one();
    }
}

impl std::ops::Deref for PooledConn<'_> {
    type Target = Connection;

    fn deref(&self) -> &Connection {
        self.conn.as_ref().expect("a pooled connection is present until dropped")
    }
}

impl Drop for PooledConn<'_> {
    fn drop(&mut self) {
        crate::metrics::observe(crate::metrics::Access::Read, self.since.elapsed());
        if let Some(conn) = self.conn.take() {
            if conn.is_autocommit() {
                self.pool.put_back(conn);
            } else {
                // A transaction left open (a panic mid-read) would pin an old snapshot: close
                // the connection instead, and let a new one be opened in its place.
                drop(conn);
                self.pool.lock().opened -= 1;
                self.pool.returned.notify_one();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connections_are_reused_and_capped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        Connection::open(&path).unwrap().execute_batch("PRAGMA journal_mode = WAL; CREATE TABLE t (x);").unwrap();
        let pool = ReadPool::new(&path, 2);
        let a = pool.get().unwrap();
        let b = pool.get().unwrap();
        assert!(a.execute("INSERT INTO t VALUES (1)", []).is_err(), "pooled connections are read-only");
        std::thread::scope(|s| {
            let waiter =
                s.spawn(|| pool.get().map(|c| c.query_row("SELECT count(*) FROM t", [], |r| r.get::<_, i64>(0))));
            std::thread::sleep(Duration::from_millis(50));
            drop(a);
            assert_eq!(waiter.join().unwrap().unwrap().unwrap(), 0);
        });
        drop(b);
        assert_eq!(pool.lock().opened, 2);
        assert_eq!(pool.lock().idle.len(), 2);
    }
}
