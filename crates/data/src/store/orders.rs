//! The `operator_orders` table: a durable copy of operator orders that Redis keeps and can
//! lose (a restart without persistence): today the queue's pause, under the Redis key it
//! is kept at (so namespaces sharing a database stay apart). Workers put it back in Redis
//! when they find Redis emptied (`tickstock_queue::worker`).

use super::job_runs::Stmt;
use super::{Store, StoreError};

impl Store {
    /// The order kept under `key`, if any (none when the table is missing: a read-only
    /// database of an older release).
    pub async fn operator_order(&self, key: &str) -> Result<Option<String>, StoreError> {
        match self
            .read_text(|s| {
                s.push("SELECT value FROM operator_orders WHERE key = ")
                    .bind(Stmt::text(key));
            })
            .await
        {
            Ok(v) => Ok(v),
            Err(sqlx::Error::Database(e)) if super::is_missing(e.message(), "operator_orders") => {
                Ok(None)
            }
            Err(e) => Err(self.err(e)),
        }
    }

    /// Keeps `value` under `key`, or removes the order with `None`; whether a row changed.
    pub async fn set_operator_order(
        &self,
        key: &str,
        value: Option<&str>,
    ) -> Result<bool, StoreError> {
        self.schedule_run(|s| match value {
            Some(v) => {
                s.push("INSERT INTO operator_orders (key, value) VALUES (")
                    .bind(Stmt::text(key))
                    .push(", ")
                    .bind(Stmt::text(v))
                    .push(") ON CONFLICT (key) DO UPDATE SET value = excluded.value");
            }
            None => {
                s.push("DELETE FROM operator_orders WHERE key = ")
                    .bind(Stmt::text(key));
            }
        })
        .await
        .map(|n| n > 0)
        .map_err(|e| self.err(e))
    }
}
