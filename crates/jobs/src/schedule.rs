//! Schedules: recurring jobs kept in the database (`schedules`), fired by every running
//! worker and by the app's built-in worker in embedded mode.
//!
//! A schedule is due on a cron expression evaluated in America/New_York (the `croner`
//! crate) or `trading-days HH:MM` (every NYSE session day at that New York time). Each due
//! time fires exactly once however many workers run: a worker claims it with a Redis lease
//! keyed by schedule and due time (`SET NX`, on the bus under the job service's queue) and
//! by moving the schedule's `last_due` forward in one compare-and-set; only the claimant
//! submits, through the [`JobService`] like every job (its history row at submit, the
//! duplicate check). A due time whose job is identical to one still active submits nothing:
//! it is logged and reported in [`Fired::already_active`], and the pass goes on. A due time
//! missed while no worker ran fires once when one starts (only the latest missed one). The
//! job's `requested_by` is `scheduler:NAME`. When a scheduled job ends failed or with errors, a Slack-compatible
//! webhook (`{"text": ...}`) is called when one is configured, and the failure is returned
//! so the app can raise a desktop notification. A `split_reload` schedule checks splits
//! and reloads flagged symbols instead of submitting one job (`schedule/splits.rs`).

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use tracing::{info, warn};

use crate::service::{JobService, Offer, SubmitOptions};
use tickstock_data::store::{ScheduleRow, Store};
use tickstock_protocol::error::{Error, Result};
use tickstock_protocol::job::{Job, JobRequest, SymbolsInput};
use tickstock_protocol::status::JobState;

mod splits;
mod when;
pub use splits::{is_split_reload, SPLIT_RELOAD};
pub use when::{describe_due, When};

/// A preset TickStock ran on its own scheduler: name, when, job kind, years, timeframes.
#[derive(Debug, Clone, Copy)]
pub struct Preset {
    pub name: &'static str,
    pub when: &'static str,
    pub kind: &'static str,
    pub years: f64,
    pub description: &'static str,
}

/// TickStock's daily, weekly and monthly refreshes.
pub const PRESETS: &[Preset] = &[
    Preset {
        name: "daily-top-up",
        when: "trading-days 16:30",
        kind: "top_up",
        years: 1.0,
        description: "every trading day after the close: each symbol from its last bar",
    },
    Preset {
        name: "weekly-refresh",
        when: "0 18 * * 6",
        kind: "csv_universe_load",
        years: 1.0,
        description: "Saturdays 18:00: the last year again",
    },
    Preset {
        name: "monthly-refresh",
        when: "0 6 1 * *",
        kind: "csv_universe_load",
        years: 5.0,
        description: "the 1st of each month 06:00: the last five years again",
    },
    Preset {
        name: "split-reload",
        when: "trading-days 17:00",
        kind: SPLIT_RELOAD,
        years: 0.0,
        description: "every trading day 17:00: check splits, reload the flagged symbols",
    },
];

/// The job request of a preset over `symbols` or a universe.
pub fn preset_request(
    preset: &Preset,
    symbols: Vec<String>,
    universe_key: Option<String>,
    timeframes: Vec<String>,
) -> JobRequest {
    JobRequest {
        kind: preset.kind.into(),
        symbols: SymbolsInput::List(symbols),
        universe_key,
        timeframes,
        years: Some(preset.years),
        ..Default::default()
    }
}

/// A schedule as listed: the row, its next due time and the last job's state.
#[derive(Debug, Clone, Serialize)]
pub struct ScheduleView {
    #[serde(flatten)]
    pub row: ScheduleRow,
    pub next_due: Option<DateTime<Utc>>,
    pub last_status: Option<String>,
}

/// Checks a schedule before it is stored: a valid name and spec, and a request that builds.
pub fn validate(name: &str, spec: &str, request: &JobRequest) -> Result<()> {
    let n = name.trim();
    if n.is_empty()
        || n.len() > 64
        || !n
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        return Err(Error::invalid(
            "a schedule name uses letters, digits, `-`, `_` or `.`, at most 64 characters",
        ));
    }
    let when = When::from_str(spec)?;
    if when.next_due(Utc::now()).is_none() {
        return Err(Error::invalid(format!(
            "the schedule {} never fires (no date matches it); nothing was stored",
            tickstock_protocol::error::quote_input(spec.trim())
        )));
    }
    if request.kind == SPLIT_RELOAD {
        // Every stored symbol when it names none.
        return Ok(());
    }
    if request.universe_key.is_none() && request.symbols.to_list().is_empty() {
        return Err(Error::invalid(
            "a schedule's job needs symbols or a universe",
        ));
    }
    Ok(())
}

/// Every schedule with its next due time and the state of its last job (from `service`'s
/// queue while it knows the job, else from the history); what the page lists even when
/// no job can be submitted.
pub async fn list(
    store: &Store,
    service: Option<&JobService>,
    now: DateTime<Utc>,
) -> Result<Vec<ScheduleView>> {
    let mut out = Vec::new();
    for row in store.schedules().await? {
        let next_due = When::from_str(&row.spec).ok().and_then(|w| w.next_due(now));
        let last_status = match &row.last_job_id {
            Some(id) => job_state(store, service, id)
                .await
                .map(|s| s.as_str().to_string()),
            None => None,
        };
        out.push(ScheduleView {
            row,
            next_due,
            last_status,
        });
    }
    Ok(out)
}

async fn job_state(store: &Store, service: Option<&JobService>, id: &str) -> Option<JobState> {
    if let Some(service) = service {
        if let Ok(Some(st)) = service.status(id).await {
            return Some(st.state);
        }
    }
    store
        .job_run(id)
        .await
        .ok()
        .flatten()
        .and_then(|r| JobState::parse(&r.status))
}

/// One fired due time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Fired {
    pub name: String,
    pub due: DateTime<Utc>,
    /// The job submitted for it (a split reload's first); empty when none was.
    pub job_id: String,
    /// Active jobs identical to what this due time asked for: not submitted again (the
    /// job service refuses a duplicate), these do the work.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub already_active: Vec<String>,
}

/// A scheduled job that ended failed or with errors.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Failure {
    pub name: String,
    pub job_id: String,
    pub state: String,
    pub message: String,
}

/// What one pass of the scheduler did.
#[derive(Debug, Default)]
pub struct Tick {
    pub fired: Vec<Fired>,
    pub failures: Vec<Failure>,
}

/// The scheduler of one process: fires due schedules, reports failed scheduled jobs. Its
/// jobs are submitted through the job service like every other job (one history row at
/// submit, the duplicate check); on the Redis bus, its leases are taken there.
#[derive(Clone)]
pub struct Scheduler {
    store: Store,
    service: Arc<JobService>,
    holder: String,
    webhook: Option<String>,
    http: reqwest::Client,
    /// For `split_reload` schedules ([`Scheduler::with_polygon`]).
    polygon: Option<tickstock_data::polygon::PolygonClient>,
}

impl Scheduler {
    pub fn new(
        store: Store,
        service: Arc<JobService>,
        holder: &str,
        webhook: Option<String>,
    ) -> Self {
        Scheduler {
            store,
            service,
            holder: holder.to_string(),
            webhook: webhook.filter(|w| !w.trim().is_empty()),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .unwrap_or_default(),
            polygon: None,
        }
    }

    /// Every schedule with its next due time and the state of its last job.
    pub async fn list(&self, now: DateTime<Utc>) -> Result<Vec<ScheduleView>> {
        list(&self.store, Some(&self.service), now).await
    }

    async fn job_state(&self, id: &str) -> Option<JobState> {
        job_state(&self.store, Some(&self.service), id).await
    }

    /// Builds the job of a schedule as its due time asks for it.
    async fn build_job(&self, row: &ScheduleRow) -> Result<Job> {
        let mut request: JobRequest = serde_json::from_value(row.request.clone())
            .map_err(|e| Error::invalid(format!("schedule `{}` holds a bad job: {e}", row.name)))?;
        let requested_by = format!("scheduler:{}", row.name);
        if request.kind == "top_up" {
            if let Some(key) = request.universe_key.take() {
                let members = self
                    .store
                    .universe_members(&key)
                    .await?
                    .ok_or_else(|| Error::invalid(format!("unknown universe key `{key}`")))?;
                request.symbols = SymbolsInput::List(members);
            }
        }
        let known = tickstock_data::loader::Loader::known_universes_of(&self.store).await?;
        let job = request
            .build(&requested_by, &|k| known.contains(k))
            .map_err(|e| tickstock_protocol::job::field_errors_to_error(&e))?;
        tickstock_data::loader::resolve_for_publish(job, Some(&self.store)).await
    }

    /// Fires schedule `name` now, whatever its due times (the "run now" button).
    pub async fn run_now(&self, name: &str) -> Result<String> {
        let row = self
            .store
            .schedules()
            .await?
            .into_iter()
            .find(|r| r.name == name)
            .ok_or_else(|| {
                Error::new(
                    tickstock_protocol::ErrorKind::NotFound,
                    format!("no schedule `{name}`"),
                )
            })?;
        if is_split_reload(&row.request) {
            return Ok(self
                .split_reload(&row)
                .await?
                .first_submitted()
                .unwrap_or_default());
        }
        let job = self.build_job(&row).await?;
        // The operator asked: a duplicate is refused to them as to any submit.
        let id = self.service.submit(job).await?.job.id;
        self.store.set_schedule_job(name, &id).await?;
        Ok(id)
    }

    /// One pass: fires each enabled schedule whose latest due time (at or before `now`,
    /// not before it was created) has not fired, claiming it first so that it fires once
    /// however many schedulers run; then reports scheduled jobs that failed.
    pub async fn tick(&self, now: DateTime<Utc>) -> Result<Tick> {
        let mut out = Tick::default();
        for row in self.store.schedules().await? {
            if row.enabled {
                if let Some(f) = self.fire_if_due(&row, now).await? {
                    out.fired.push(f);
                }
            }
            if let Some(f) = self.check_result(&row).await {
                out.failures.push(f);
            }
        }
        Ok(out)
    }

    async fn fire_if_due(&self, row: &ScheduleRow, now: DateTime<Utc>) -> Result<Option<Fired>> {
        let when = match When::from_str(&row.spec) {
            Ok(w) => w,
            Err(e) => {
                warn!(schedule = row.name, "{}", e.message());
                return Ok(None);
            }
        };
        let Some(due) = when.latest_due(now) else {
            return Ok(None);
        };
        if due < row.created_at || row.last_due.is_some_and(|l| l >= due) {
            return Ok(None);
        }
        if let Some(bus) = self.service.queue().redis().await? {
            let key = bus.keys().schedule_lease(&row.name, due.timestamp());
            if !bus
                .try_lease(&key, &self.holder, Duration::from_secs(7 * 86_400))
                .await?
            {
                return Ok(None);
            }
        }
        if !self.store.claim_schedule_due(&row.name, due).await? {
            return Ok(None);
        }
        if is_split_reload(&row.request) {
            return match self.split_reload(row).await {
                Ok(reloads) => {
                    let fired = Fired {
                        name: row.name.clone(),
                        due,
                        job_id: reloads.first_submitted().unwrap_or_default(),
                        already_active: reloads.already_active(),
                    };
                    info!(
                        schedule = row.name,
                        due = %due,
                        reload = fired.job_id,
                        already_active = ?fired.already_active,
                        "split check fired"
                    );
                    Ok(Some(fired))
                }
                Err(e) => {
                    warn!(schedule = row.name, "split check failed: {}", e.message());
                    self.alert(&row.name, &format!("split check failed: {}", e.message()))
                        .await;
                    Ok(None)
                }
            };
        }
        let job = match self.build_job(row).await {
            Ok(j) => j,
            Err(e) => {
                warn!(
                    schedule = row.name,
                    "scheduled job not built: {}",
                    e.message()
                );
                self.alert(&row.name, &format!("not submitted: {}", e.message()))
                    .await;
                return Ok(None);
            }
        };
        // Past the claim this due time is ours alone: whatever the submit answers is
        // logged and the pass goes on with the other schedules.
        match self.service.offer(job, SubmitOptions::default()).await {
            Ok(Offer::Submitted(s)) => {
                let id = s.job.id;
                self.store.set_schedule_job(&row.name, &id).await?;
                info!(schedule = row.name, job_id = id, due = %due, "schedule fired");
                Ok(Some(Fired {
                    name: row.name.clone(),
                    due,
                    job_id: id,
                    already_active: Vec::new(),
                }))
            }
            Ok(Offer::Duplicate { active }) => {
                warn!(
                    schedule = row.name,
                    due = %due,
                    active = active,
                    "schedule fired but submitted nothing: an identical job is still active"
                );
                Ok(Some(Fired {
                    name: row.name.clone(),
                    due,
                    job_id: String::new(),
                    already_active: vec![active],
                }))
            }
            Err(e) => {
                warn!(
                    schedule = row.name,
                    "scheduled job not submitted: {}",
                    e.message()
                );
                self.alert(&row.name, &format!("not submitted: {}", e.message()))
                    .await;
                Ok(None)
            }
        }
    }

    async fn check_result(&self, row: &ScheduleRow) -> Option<Failure> {
        let id = row.last_job_id.as_deref()?;
        if row.last_alerted.as_deref() == Some(id) {
            return None;
        }
        let state = self.job_state(id).await?;
        if !state.is_terminal() {
            return None;
        }
        // Whoever records it first reports it: one alert per job.
        let _ = self.store.record_schedule_alerted(&row.name, id).await;
        if !matches!(state, JobState::Failed | JobState::CompletedWithErrors) {
            return None;
        }
        let message = self
            .service
            .status(id)
            .await
            .ok()
            .flatten()
            .and_then(|s| s.error_message.or(s.message))
            .unwrap_or_default();
        let text = format!(
            "job {id} ended {}{}",
            state.as_str(),
            if message.is_empty() {
                String::new()
            } else {
                format!(": {message}")
            }
        );
        self.alert(&row.name, &text).await;
        Some(Failure {
            name: row.name.clone(),
            job_id: id.to_string(),
            state: state.as_str().to_string(),
            message,
        })
    }

    /// Posts `{"text": ...}` to the webhook, if one is set. Never logs the URL (it often
    /// carries a token).
    async fn alert(&self, name: &str, text: &str) {
        let Some(url) = &self.webhook else {
            return;
        };
        let body = serde_json::json!({ "text": format!("TickStock schedule {name}: {text}") });
        match self.http.post(url).json(&body).send().await {
            Ok(r) if r.status().is_success() => {}
            Ok(r) => {
                warn!(schedule = name, status = %r.status(), "alert webhook refused the alert")
            }
            Err(e) => warn!(
                schedule = name,
                "alert webhook unreachable: {}",
                e.without_url()
            ),
        }
    }

    /// Runs passes every `every` until `shutdown`; failures go to `on_failure`.
    pub async fn run(
        &self,
        every: Duration,
        shutdown: tokio_util::sync::CancellationToken,
        on_failure: impl Fn(&Failure) + Send + Sync,
    ) {
        loop {
            match self.tick(Utc::now()).await {
                Ok(t) => t.failures.iter().for_each(&on_failure),
                Err(e) => warn!("scheduler pass failed: {}", e.message()),
            }
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(every) => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_schedule_that_never_fires_is_refused_and_odd_specs_are_never_echoed() {
        let req = JobRequest {
            symbols: tickstock_protocol::job::SymbolsInput::Text("AAPL".into()),
            ..JobRequest::default()
        };
        let e = validate("feb30", "0 0 30 2 *", &req).unwrap_err();
        assert!(e.message().contains("never fires"), "{}", e.message());
        let long = "1 ".repeat(2500);
        for odd in [
            long.as_str(),
            "0 0 * * *\n0 1 * * *",
            "trading-days 16:30\u{1b}[31m",
        ] {
            let e = validate("odd", odd, &req).unwrap_err();
            let m = e.message();
            assert!(!m.contains('\u{1b}') && !m.contains('\n'), "{m:?}");
            assert!(m.len() < 300, "{} characters: {m:?}", m.len());
        }
        validate("ok", "trading-days 16:30", &req).unwrap();
    }

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn trading_days_skip_weekends_and_holidays() {
        let w: When = "trading-days 16:30".parse().unwrap();
        // Thanksgiving Thursday 2025-11-27: the next due time is Friday 16:30 ET.
        assert_eq!(
            w.next_due(t("2025-11-26T22:00:00Z")),
            Some(t("2025-11-28T21:30:00Z"))
        );
        assert_eq!(
            w.latest_due(t("2025-11-27T23:00:00Z")),
            Some(t("2025-11-26T21:30:00Z"))
        );
        let w: When = "every trading day at 09:00".parse().unwrap();
        assert_eq!(
            w.next_due(t("2025-11-29T12:00:00Z")),
            Some(t("2025-12-01T14:00:00Z"))
        );
    }

    #[test]
    fn cron_is_new_york_time() {
        let w: When = "0 18 * * 6".parse().unwrap();
        // Saturday 2025-12-06 18:00 EST = 23:00 UTC.
        assert_eq!(
            w.next_due(t("2025-12-01T00:00:00Z")),
            Some(t("2025-12-06T23:00:00Z"))
        );
        assert_eq!(
            w.latest_due(t("2025-12-07T00:00:00Z")),
            Some(t("2025-12-06T23:00:00Z"))
        );
    }

    #[test]
    fn bad_specs_are_named() {
        let e = "trading-days 25:00".parse::<When>().unwrap_err();
        assert!(e.message().contains("25:00"), "{}", e.message());
        let e = "every 5 minutes".parse::<When>().unwrap_err();
        assert!(
            e.message().contains("invalid cron expression"),
            "{}",
            e.message()
        );
        assert!(validate("a b", "* * * * *", &JobRequest::default()).is_err());
    }
}
