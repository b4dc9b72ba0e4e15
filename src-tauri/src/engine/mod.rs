//! The running backend for one set of settings: the database, the queue (the embedded
//! [`LocalQueue`] or the Redis bus) behind one [`JobService`], and the built-in worker.
//! A settings change that needs it builds a new engine and stops the old one cleanly
//! (running jobs resume from their checkpoints with their totals). Commands ask the
//! engine; the job rules live in the core's service; the engine owns no UI.
//!
//! [`start`] builds one from settings; [`jobs`] has the submit form's and the history's
//! calls, [`console`] the operations console's (queue, workers, dead letters, dashboard).

mod console;
mod health;
mod jobs;
mod start;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
use tickstock_jobs::queue::LazyBus;
use tickstock_jobs::runtime::CancelOutcome;
use tickstock_jobs::runtime::Loader;
use tickstock_jobs::runtime::LocalQueue;
use tickstock_jobs::runtime::PolygonClient;
use tickstock_jobs::runtime::Store;
use tickstock_jobs::service::{Detail, JobService, Submitted};
use tickstock_protocol::job::Job;
use tickstock_protocol::{Error, ErrorKind};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::warn;

use crate::error::{CmdResult, CommandError};
use crate::settings::AppSettings;
use crate::views::JobView;

/// How long a finished job's card stays up with its final state.
pub const FINISHED_CARD_SECS: u64 = 10;

pub(super) enum Mode {
    Embedded { queue: Option<LocalQueue> },
    Redis { bus: Arc<LazyBus> },
}

/// The backend for one set of settings.
pub struct Engine {
    /// The settings it runs on (the live ones change in place).
    pub(super) settings: Mutex<AppSettings>,
    pub(super) store: Result<Store, Error>,
    pub(super) has_key: bool,
    pub(super) mode: Mode,
    /// The job service; `None` in embedded mode while there is no worker (no key or no
    /// database).
    pub(super) service: Option<Arc<JobService>>,
    /// The built-in worker's id in Redis mode, when it runs.
    pub(super) worker_id: Option<String>,
    /// Whether the built-in worker runs, and if not, why.
    pub(super) builtin: crate::views::BuiltinWorkerView,
    /// The Polygon client of the built-in worker, whose rate limit changes live.
    pub(super) polygon: Option<PolygonClient>,
    pub(super) shutdown: CancellationToken,
    pub(super) tracker: TaskTracker,
    /// The job messages of the jobs shown as active (looked up once each).
    pub(super) params: Mutex<HashMap<String, Value>>,
    /// Jobs that finished moments ago: their cards show the final state for a while.
    pub(super) recently_finished: Mutex<Vec<(Instant, JobView)>>,
}

fn no_key() -> CommandError {
    CommandError::new(
        ErrorKind::Config,
        "No Polygon API key yet: add it in Settings to load data",
    )
}

fn db_unavailable(e: &Error) -> CommandError {
    CommandError::new(ErrorKind::Database, e.message())
}

impl Engine {
    /// Stops the built-in worker: running jobs stop after their current chunk (in Redis
    /// mode they are released for another worker). Waits at most `grace`.
    pub async fn stop(&self, grace: Duration) {
        self.shutdown.cancel();
        if tokio::time::timeout(grace, self.tracker.wait())
            .await
            .is_err()
        {
            warn!("the built-in worker did not stop within {grace:?}");
        }
        if let Mode::Embedded { queue: Some(q) } = &self.mode {
            let _ = tokio::time::timeout(grace, q.stopped()).await;
        }
    }

    pub fn mode_name(&self) -> &'static str {
        match self.mode {
            Mode::Embedded { .. } => "embedded",
            Mode::Redis { .. } => "redis",
        }
    }

    pub fn store(&self) -> CmdResult<&Store> {
        self.store.as_ref().map_err(db_unavailable)
    }

    /// The settings it runs on.
    pub fn settings(&self) -> AppSettings {
        self.settings.lock().expect("settings lock").clone()
    }

    /// Applies settings whose changes need no restart ([`AppSettings::LIVE`]: the Polygon
    /// rate limit, publishing on the legacy channel); running jobs go on with them.
    pub async fn apply_live(&self, next: &AppSettings) {
        if let Some(p) = &self.polygon {
            // In Redis mode this is an explicit setting shared with every process on
            // the key: written only when the operator changed it, so that saving other
            // settings never replaces a value another process set.
            if self.settings().requests_per_minute != next.requests_per_minute {
                p.set_requests_per_minute(next.requests_per_minute);
            }
        }
        if let Mode::Redis { bus } = &self.mode {
            bus.set_publish_legacy(next.publish_legacy).await;
        }
        *self.settings.lock().expect("settings lock") = next.clone();
    }

    /// The job service: every job the app submits goes through it (the page's submits and
    /// retries, coverage fills, the schedules, dead-letter requeues).
    pub fn service(&self) -> CmdResult<&Arc<JobService>> {
        self.service.as_ref().ok_or_else(|| {
            if self.has_key {
                CommandError::new(
                    ErrorKind::Database,
                    "the database is unavailable; see Settings",
                )
            } else {
                no_key()
            }
        })
    }

    /// Universe keys the database offers, as listed and in canonical form.
    pub async fn known_universes(&self) -> CmdResult<std::collections::HashSet<String>> {
        Ok(Loader::known_universes_of(self.store()?).await?)
    }

    /// Submits a validated job; the answer warns when no live worker will take it.
    pub async fn submit(&self, job: Job) -> CmdResult<Submitted> {
        Ok(self.service()?.submit(job).await?)
    }

    /// Active jobs (one call for all), with the cards of jobs that finished moments ago.
    /// Reads only.
    pub async fn active_jobs(&self) -> CmdResult<Vec<JobView>> {
        let Ok(service) = self.service() else {
            return Ok(Vec::new());
        };
        let mut views = Vec::new();
        for e in service.active().await? {
            if let Some(st) = &e.status {
                let params = self.active_params(&e.job_id).await;
                views.push(JobView::from_status(&e.job_id, st, params));
            }
        }
        let recent = self.recently_finished.lock().expect("recent lock");
        views.extend(
            recent
                .iter()
                .filter(|(_, v)| !views.iter().any(|a| a.job_id == v.job_id))
                .map(|(_, v)| v.clone())
                .collect::<Vec<_>>(),
        );
        Ok(views)
    }

    /// What changed since the last call, as views; `finished` ones have left the active
    /// set (their final state is then in the history, recorded by the service).
    pub async fn changes(&self) -> CmdResult<Vec<(JobView, bool)>> {
        let Ok(service) = self.service() else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        for c in service.changes().await? {
            let mut view =
                JobView::from_status(&c.job_id, &c.status, self.active_params(&c.job_id).await);
            // Gone from the active jobs without a final state read here (the status moved on
            // between two reads): the history row says how it ended.
            if c.finished && !c.status.state.is_terminal() {
                if let Some(run) = self.final_run(&c.job_id).await {
                    view = JobView::from_run(&run);
                }
            }
            if c.finished {
                self.params.lock().expect("params lock").remove(&c.job_id);
            }
            out.push((view, c.finished));
        }
        let now = Instant::now();
        let mut recent = self.recently_finished.lock().expect("recent lock");
        recent.retain(|(t, _)| now.duration_since(*t).as_secs() < FINISHED_CARD_SECS);
        recent.extend(
            out.iter()
                .filter(|(_, f)| *f)
                .map(|(v, _)| (now, v.clone())),
        );
        Ok(out)
    }

    /// A job's parameters, looked up once while it stays active.
    async fn active_params(&self, id: &str) -> Value {
        if let Some(v) = self.params.lock().expect("params lock").get(id) {
            return v.clone();
        }
        let v = match self.service().ok() {
            Some(s) => match s.detail(id).await {
                Ok(Detail::Live { params, .. }) => params.unwrap_or(Value::Null),
                Ok(Detail::History(run)) => run.params,
                Err(_) => Value::Null,
            },
            None => Value::Null,
        };
        if !v.is_null() {
            self.params
                .lock()
                .expect("params lock")
                .insert(id.to_string(), v.clone());
        }
        v
    }

    /// A job's live status when it is active here, else its history row.
    pub async fn job_detail(&self, id: &str) -> CmdResult<JobView> {
        let detail = match self.service() {
            Ok(s) => s.detail(id).await?,
            Err(_) => match self.store()?.job_run(id).await? {
                Some(run) => Detail::History(Box::new(run)),
                None => {
                    return Err(CommandError::new(
                        ErrorKind::NotFound,
                        format!("no job `{id}` in the history"),
                    ))
                }
            },
        };
        let mut view = match detail {
            Detail::Live { status, params } => {
                JobView::from_status(id, &status, params.unwrap_or(Value::Null))
            }
            Detail::History(run) => JobView::from_run(&run),
        };
        // Kept lines, then those of a run still going in this process.
        if let Ok(store) = self.store() {
            view.log = store.job_log(id).await.unwrap_or_default();
            view.retries = store.retries_of(id).await.unwrap_or_default();
        }
        view.log.extend(tickstock_jobs::runtime::joblog::peek(id));
        if let Ok(service) = self.service() {
            view.units = service
                .unit_rows(id)
                .await
                .unwrap_or_default()
                .into_iter()
                .map(|(u, bars)| crate::views::UnitView {
                    symbol: u.symbol.to_string(),
                    timeframe: u.timeframe.wire_name(),
                    bars,
                })
                .collect();
        }
        Ok(view)
    }

    pub async fn cancel(&self, id: &str, who: &str) -> CmdResult<CancelOutcome> {
        Ok(self.service()?.cancel(id, who).await?)
    }

    pub async fn cancel_all(&self, who: &str) -> CmdResult<usize> {
        Ok(self.service()?.cancel_all(who).await?)
    }

    /// Marks stale jobs failed (see [`JobService::cleanup_stale`]).
    pub async fn cleanup_stale(&self) -> CmdResult<usize> {
        Ok(self.service()?.cleanup_stale().await?)
    }

    /// Deletes finished jobs whose id starts with `prefix` (at least 4 characters).
    pub async fn clear_jobs(&self, prefix: &str) -> CmdResult<u64> {
        if prefix.trim().chars().count() < 4 {
            return Err(CommandError::field(
                "prefix",
                "enter at least 4 characters of the job id",
            ));
        }
        Ok(self.service()?.clear(prefix).await?)
    }
}
