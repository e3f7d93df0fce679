//! Wake-ups for idle workers across nodes: a connection of its own that `LISTEN`s on
//! `trove_jobs`, which every enqueue and retry `NOTIFY`s in its transaction (so the news
//! arrives only once the job is committed). A lost connection is opened again on the next
//! wait; meanwhile workers still look at the queue on their own schedule, so a missed
//! notification delays a job, never loses it.

use std::time::Duration;

use postgres::Client;
use postgres::fallible_iterator::FallibleIterator;
use trove_store::StoreError;

use crate::pool::Connector;

/// The channel enqueues notify.
pub(crate) const CHANNEL: &str = "trove_jobs";

/// Blocks for notifications on [`CHANNEL`].
pub(crate) struct JobListener {
    connector: Connector,
    what: String,
    client: Option<Client>,
}

impl JobListener {
    pub(crate) fn new(connector: Connector, what: String) -> JobListener {
        JobListener { connector, what, client: None }
    }

    fn unavailable(&self, reason: String) -> StoreError {
        StoreError::Unavailable { what: self.what.clone(), reason }
    }

    /// Waits up to `within`; `Ok(true)` when at least one notification arrived.
    pub(crate) fn wait(&mut self, within: Duration) -> Result<bool, StoreError> {
        if self.client.is_none() {
            let mut c = self.connector.connect().map_err(|e| self.unavailable(format!("cannot connect: {e}")))?;
            c.batch_execute(&format!("LISTEN {CHANNEL}")).map_err(|e| self.unavailable(e.to_string()))?;
            self.client = Some(c);
        }
        let Some(client) = self.client.as_mut() else { return Ok(false) };
        let result = client.notifications().timeout_iter(within).next().map(|n| n.is_some());
        match result {
            Ok(any) => {
                if any {
                    // Several notifications may have come together: one wake-up is enough.
                    let _ = client.notifications().iter().count();
                }
                Ok(any)
            }
            Err(e) => {
                self.client = None;
                Err(self.unavailable(format!("the job listener lost its connection: {e}")))
            }
        }
    }
}
