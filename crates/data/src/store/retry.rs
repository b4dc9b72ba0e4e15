//! Writes tried again when the database lost the connection (a failover, an idle-timeout
//! proxy, `pg_terminate_backend`) or answered busy: each write is one transaction and an
//! idempotent upsert, so writing it again never doubles a row, and a job goes on instead
//! of failing while the database is up.

use std::time::Duration;

use tracing::{info, warn};

use super::{Store, StoreError};

/// Tries after the first (about 30 s in all with the back-off below).
const RETRIES: u32 = 8;
/// First wait; doubled each time up to [`MAX_WAIT`].
const FIRST_WAIT: Duration = Duration::from_millis(200);
const MAX_WAIT: Duration = Duration::from_secs(5);

impl Store {
    /// Runs `write` until it succeeds, fails for good, or [`RETRIES`] retryable failures
    /// (lost connection, deadlock, busy file) have passed; `what` names it in the log.
    pub(super) async fn retrying<T, F, Fut>(
        &self,
        what: &str,
        mut write: F,
    ) -> Result<T, StoreError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, StoreError>>,
    {
        let mut wait = FIRST_WAIT;
        let mut tries = 0;
        loop {
            match write().await {
                Ok(v) => {
                    if tries > 0 {
                        info!(target = %self.target, "{what}: written after {tries} retries");
                    }
                    return Ok(v);
                }
                Err(e) if e.is_retryable() && tries < RETRIES => {
                    tries += 1;
                    warn!("{what} failed, writing it again in {wait:?} (try {tries} of {RETRIES}): {e}");
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(MAX_WAIT);
                }
                Err(e) => return Err(e),
            }
        }
    }
}
