//! Split reloads submitted through the job service: the reload jobs of flagged symbols
//! ([`tickstock_data::splits::reload_jobs`]) offered one by one, an identical active job
//! taken as the symbol's reload. The split checks themselves are `tickstock_data::splits`,
//! re-exported here so the shells name one module.

use serde::Serialize;
use tracing::warn;

pub use tickstock_data::splits::*;
use tickstock_data::store::Store;
use tickstock_protocol::error::Result;

use crate::service::{JobService, Offer, SubmitOptions};

/// One flagged symbol's reload, as [`submit_reloads`] submitted it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Reload {
    pub symbol: String,
    /// The jobs reloading it: those submitted now, and identical ones already active.
    pub job_ids: Vec<String>,
    /// Of `job_ids`, the active jobs a reload was refused as a duplicate of (not
    /// submitted again).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub already_active: Vec<String>,
}

/// The reloads of one split check, symbol by symbol.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Reloads(pub Vec<Reload>);

impl Reloads {
    /// The first job submitted now, if any.
    pub fn first_submitted(&self) -> Option<String> {
        self.0
            .iter()
            .flat_map(|r| r.job_ids.iter().filter(|id| !r.already_active.contains(id)))
            .next()
            .cloned()
    }

    /// Every active job a reload was refused as a duplicate of.
    pub fn already_active(&self) -> Vec<String> {
        self.0
            .iter()
            .flat_map(|r| r.already_active.iter().cloned())
            .collect()
    }
}

/// Submits the reload of every flagged symbol (of `symbols` when given) through the job
/// service ([`reload_jobs`]) and marks each symbol `reloading` with its jobs
/// ([`mark_reloading`]). A reload identical to an active job is not submitted again: that
/// job is recorded as the symbol's reload instead, and logged.
pub async fn submit_reloads(
    store: &Store,
    service: &JobService,
    symbols: Option<&[String]>,
    requested_by: &str,
) -> Result<Reloads> {
    let mut out = Vec::new();
    for (symbol, jobs) in reload_jobs(store, symbols, requested_by).await? {
        let mut reload = Reload {
            symbol,
            job_ids: Vec::new(),
            already_active: Vec::new(),
        };
        for job in jobs {
            match service.offer(job, SubmitOptions::default()).await? {
                Offer::Submitted(s) => reload.job_ids.push(s.job.id),
                Offer::Duplicate { active } => {
                    warn!(
                        symbol = reload.symbol,
                        active = active,
                        "split reload not submitted: an identical job is active and reloads it"
                    );
                    reload.job_ids.push(active.clone());
                    reload.already_active.push(active);
                }
            }
        }
        mark_reloading(store, &reload.symbol, &reload.job_ids).await?;
        out.push(reload);
    }
    Ok(Reloads(out))
}
