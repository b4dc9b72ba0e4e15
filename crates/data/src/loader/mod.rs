//! The loader: the [`JobRunner`] that downloads bars from Polygon and writes them to the
//! TickStock database, for every job kind.
//!
//! A job becomes a plan of units, one per (symbol, timeframe). Units run concurrently (as
//! many at once as `concurrency`; the Polygon client's shared rate limiter decides how fast
//! requests actually go), each page of bars written in its own transaction as it arrives,
//! so memory stays flat whatever the size of the load. Finished units are checkpointed and
//! skipped when a job is resumed. A symbol whose requests fail is recorded with the reason
//! and the job goes on; a database failure fails the job. Daily bars of many symbols on a
//! rate-limited plan come from grouped daily (one request per trading day) when that needs
//! fewer requests than one per symbol.
//!
//! The parts: `symbols` resolves what a job loads (universes, CSV files in `csv`, the ETF
//! refresh) and registers loaded symbols from the reference list (ticker details later,
//! from spare requests: [`Loader::describe_one`]); `plan` turns a job into units and runs them;
//! `units` loads one (symbol, timeframe), a range or what is missing; `grouped` loads
//! daily bars through grouped daily; `pace` reports the rate and ETA while a job runs.

mod csv;
pub mod estimate;
mod grouped;
mod pace;
mod plan;
mod symbols;
mod units;

use std::collections::HashSet;
use std::path::PathBuf;
use std::time::Duration;

use async_trait::async_trait;

use crate::exec::{JobContext, JobRunner};
use crate::polygon::PolygonClient;
use crate::store::Store;
use tickstock_protocol::error::Result;
use tickstock_protocol::job::Job;
use tickstock_protocol::status::figures;
use tickstock_protocol::universe;

pub use crate::exec::describe_note;
pub use csv::MAX_CSV_BYTES;
pub use symbols::{
    resolve_for_publish, tickstock_defaults, Registration, EXACT_LOOKUPS_UP_TO,
    REGISTRATION_PAGES_MAX,
};
pub use units::FINAL_BAR_DELAY;

/// How the loader behaves.
#[derive(Debug, Clone)]
pub struct LoaderConfig {
    /// Units (symbol x timeframe) in flight at once.
    pub concurrency: usize,
    /// The only folder `csv_file` names are read from (none: no file is read).
    pub csv_dir: Option<PathBuf>,
    /// Use grouped daily for daily bars when it needs fewer requests.
    pub grouped_daily: bool,
    /// Register every loaded symbol in `symbols` from Polygon's reference list when its row
    /// is missing or older than this (its ticker details fetched from spare requests when
    /// they are missing or older than this); `None` registers nothing.
    pub symbol_refresh: Option<Duration>,
}

/// How old a `symbols` row may be before a load registers it again.
pub const DEFAULT_SYMBOL_REFRESH: Duration = Duration::from_secs(7 * 86_400);

impl Default for LoaderConfig {
    fn default() -> Self {
        LoaderConfig {
            concurrency: 4,
            csv_dir: None,
            grouped_daily: true,
            symbol_refresh: Some(DEFAULT_SYMBOL_REFRESH),
        }
    }
}

/// The Polygon-to-database loader. Cheap to clone.
#[derive(Clone)]
pub struct Loader {
    polygon: PolygonClient,
    store: Store,
    cfg: LoaderConfig,
}

impl Loader {
    pub fn new(polygon: PolygonClient, store: Store, cfg: LoaderConfig) -> Loader {
        Loader {
            polygon,
            store,
            cfg,
        }
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn polygon(&self) -> &PolygonClient {
        &self.polygon
    }

    /// The universe keys the database offers, as listed and in canonical form (a
    /// request asks about canonical keys).
    pub async fn known_universes(&self) -> Result<HashSet<String>> {
        Self::known_universes_of(&self.store).await
    }

    /// [`Loader::known_universes`] of any store.
    pub async fn known_universes_of(store: &Store) -> Result<HashSet<String>> {
        let mut known = HashSet::new();
        for u in store.list_universes().await? {
            known.insert(universe::canonical_key(&u.key));
            known.insert(u.key);
        }
        Ok(known)
    }
}

#[async_trait]
impl JobRunner for Loader {
    async fn run(&self, job: &Job, ctx: &JobContext) -> Result<()> {
        // The job's own client counts its requests, whatever else shares the key.
        let this = Loader {
            polygon: self.polygon.for_job(),
            ..self.clone()
        };
        let out = this.load_job(job, ctx).await;
        let made = this.polygon.job_requests();
        ctx.progress().update(|s| {
            s.extra
                .insert(figures::POLYGON_REQUESTS.into(), made.into());
        });
        out
    }

    async fn spare_request(&self) -> Result<bool> {
        self.describe_one().await
    }
}
