//! The `split_reload` schedule: at each due time, settle the reloads that ended, check the
//! splits of the stored symbols (or the schedule's symbols or universe) at Polygon and
//! submit a reload of every flagged symbol ([`crate::splits`]). Not a job: it runs in the
//! scheduler that fires it, which needs the Polygon client ([`Scheduler::with_polygon`];
//! every `tickstock worker` has one). The reloads go through the job service
//! ([`splits::submit_reloads`]): one identical to an active job is not submitted again.
//! The schedule's last job is the first reload it submitted.

use std::collections::HashMap;

use chrono::Utc;

use super::Scheduler;
use crate::splits;
use tickstock_data::polygon::PolygonClient;
use tickstock_data::store::ScheduleRow;
use tickstock_protocol::error::{Error, Result};
use tickstock_protocol::job::JobRequest;
use tickstock_protocol::ErrorKind;

/// The request kind of a split check and reload (ours; never a job).
pub const SPLIT_RELOAD: &str = "split_reload";

/// Whether a schedule's request is a split check and reload.
pub fn is_split_reload(request: &serde_json::Value) -> bool {
    request.get("kind").and_then(|k| k.as_str()) == Some(SPLIT_RELOAD)
}

impl Scheduler {
    /// A scheduler that can also run `split_reload` schedules.
    pub fn with_polygon(mut self, polygon: PolygonClient) -> Self {
        self.polygon = Some(polygon);
        self
    }

    /// Runs one split check and submits the reloads through the job service; the
    /// schedule's last job becomes the first reload submitted, if any.
    pub(super) async fn split_reload(&self, row: &ScheduleRow) -> Result<splits::Reloads> {
        let polygon = self.polygon.as_ref().ok_or_else(|| {
            Error::new(
                ErrorKind::Config,
                "a split check needs the Polygon client: it runs in `tickstock worker` (or `tickstock schedule run` with a key)",
            )
        })?;
        let request: JobRequest = serde_json::from_value(row.request.clone()).map_err(|e| {
            Error::invalid(format!("schedule `{}` holds a bad request: {e}", row.name))
        })?;
        let mut symbols = request.symbols.to_list();
        if let Some(key) = &request.universe_key {
            symbols.extend(
                self.store
                    .universe_members(key)
                    .await?
                    .ok_or_else(|| Error::invalid(format!("unknown universe key `{key}`")))?,
            );
        }
        let symbols = if symbols.is_empty() {
            None
        } else {
            Some(
                tickstock_protocol::job::normalize_symbols(&symbols)
                    .map_err(|e| Error::invalid(e.message))?,
            )
        };
        let mut states = HashMap::new();
        for id in splits::pending_reload_jobs(&self.store).await? {
            if let Some(s) = self.job_state(&id).await {
                states.insert(id, s);
            }
        }
        splits::settle_reloads(&self.store, &states).await?;
        let today = tickstock_protocol::bars::ny_date(Utc::now().timestamp_millis());
        splits::check(&self.store, polygon, symbols.as_deref(), today).await?;
        let by = format!("scheduler:{}", row.name);
        let reloads =
            splits::submit_reloads(&self.store, &self.service, symbols.as_deref(), &by).await?;
        if let Some(id) = reloads.first_submitted() {
            self.store.set_schedule_job(&row.name, &id).await?;
        }
        Ok(reloads)
    }
}
