//! What commands return to the page (camelCase JSON), built from core types.

use serde::Serialize;
use serde_json::Value;
use tickstock_core::bus::Health;
use tickstock_core::history::parse_time;
use tickstock_core::status::{JobState, JobStatus, SymbolFailure};
use tickstock_core::store::JobRun;

/// One job as the page shows it.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct JobView {
    pub job_id: String,
    pub job_type: Option<String>,
    pub status: String,
    pub progress: u8,
    pub message: Option<String>,
    pub current_symbol: Option<String>,
    pub processed_symbols: Option<u64>,
    pub total_symbols: Option<u64>,
    pub successful_symbols: Vec<String>,
    pub failed_symbols: Vec<SymbolFailure>,
    pub ohlcv_records_loaded: u64,
    pub bars_per_second: Option<f64>,
    pub eta_seconds: Option<f64>,
    pub submitted_at: Option<String>,
    pub started_at: Option<String>,
    pub completed_at: Option<String>,
    pub duration_seconds: Option<f64>,
    pub error_message: Option<String>,
    pub params: Value,
    pub active: bool,
}

fn elapsed_since(iso: Option<&str>) -> Option<f64> {
    let t = parse_time(iso?)?;
    let secs = (chrono::Utc::now() - t).num_milliseconds() as f64 / 1000.0;
    (secs > 0.0).then_some(secs)
}

impl JobView {
    /// From a live status (Redis or the in-process queue).
    pub fn from_status(job_id: &str, st: &JobStatus, params: Value) -> JobView {
        let bars = st.ohlcv_records_loaded.unwrap_or(0);
        let running = st.state == JobState::Running;
        let elapsed = elapsed_since(st.started_at.as_deref());
        // The worker's own figures when it sends them: the rate over the last minute and
        // an ETA from the requests left at the plan's rate (steady while it waits).
        let extra = |k: &str| st.extra.get(k).and_then(|v| v.as_f64());
        let rate = match (running, elapsed) {
            (true, _) if extra("bars_per_second").is_some() => extra("bars_per_second"),
            (true, Some(e)) if e >= 1.0 => Some((bars as f64 / e * 10.0).round() / 10.0),
            _ => None,
        };
        let eta = match (running, elapsed) {
            (true, _) if extra("eta_seconds").is_some() => extra("eta_seconds"),
            (true, Some(e)) if st.progress > 0 && st.progress < 100 => {
                Some((e * (100.0 - st.progress as f64) / st.progress as f64).round())
            }
            _ => None,
        };
        // Legacy writers list failed tickers without reasons.
        let mut failed = st.failures.clone();
        for s in &st.failed_symbols {
            if !failed.iter().any(|f| &f.symbol == s) {
                failed.push(SymbolFailure {
                    symbol: s.clone(),
                    reason: String::new(),
                });
            }
        }
        JobView {
            job_id: job_id.to_string(),
            job_type: st.job_type.clone(),
            status: st.state.as_str().to_string(),
            progress: st.progress,
            message: st.message.clone(),
            current_symbol: st.current_symbol.clone(),
            processed_symbols: st.processed_symbols,
            total_symbols: st.total_symbols,
            successful_symbols: st.successful_symbols.clone(),
            failed_symbols: failed,
            ohlcv_records_loaded: bars,
            bars_per_second: rate,
            eta_seconds: eta,
            submitted_at: st.submitted_at.clone(),
            started_at: st.started_at.clone(),
            completed_at: st.completed_at.clone(),
            duration_seconds: st.duration_seconds,
            error_message: st.error_message.clone(),
            params,
            active: st.state.is_active(),
        }
    }

    /// From a history row.
    pub fn from_run(run: &JobRun) -> JobView {
        let failed: Vec<SymbolFailure> =
            serde_json::from_value(run.failed_symbols.clone()).unwrap_or_default();
        let active = JobState::parse(&run.status).is_some_and(|s| s.is_active());
        let iso = |t: &Option<chrono::DateTime<chrono::Utc>>| t.map(|t| t.to_rfc3339());
        JobView {
            job_id: run.id.clone(),
            job_type: Some(run.kind.clone()),
            status: run.status.clone(),
            progress: run.progress.clamp(0, 100) as u8,
            message: run.message.clone(),
            current_symbol: None,
            processed_symbols: Some((run.symbols_ok + run.symbols_failed) as u64),
            total_symbols: Some(run.symbols_total as u64),
            successful_symbols: Vec::new(),
            failed_symbols: failed,
            ohlcv_records_loaded: run.bars_loaded.max(0) as u64,
            bars_per_second: None,
            eta_seconds: None,
            submitted_at: iso(&run.submitted_at),
            started_at: iso(&run.started_at),
            completed_at: iso(&run.completed_at),
            duration_seconds: match (run.started_at, run.completed_at) {
                (Some(s), Some(e)) => Some((e - s).num_milliseconds() as f64 / 1000.0),
                _ => None,
            },
            error_message: run.error.clone(),
            params: run.params.clone(),
            active,
        }
    }
}

/// The status bar's data.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HealthView {
    pub mode: &'static str,
    pub redis: RedisView,
    pub workers: Vec<WorkerView>,
    pub legacy_heartbeat: HeartbeatView,
    pub queue: Option<QueueView>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RedisView {
    pub configured: bool,
    pub connected: bool,
    pub rtt_ms: Option<f64>,
    pub error: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkerView {
    pub id: String,
    pub host: Option<String>,
    pub started_at: Option<String>,
    pub last_seen: f64,
    pub age_seconds: f64,
    pub current_job: Option<String>,
    pub alive: bool,
    /// Why the worker cannot take jobs although it heartbeats, if so.
    pub cannot_consume: Option<String>,
    pub builtin: bool,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HeartbeatView {
    pub alive: bool,
    pub age_seconds: Option<f64>,
    pub key: Option<String>,
}

impl HeartbeatView {
    fn none() -> HeartbeatView {
        HeartbeatView {
            alive: false,
            age_seconds: None,
            key: None,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct QueueView {
    pub waiting: u64,
    pub in_flight: u64,
    pub dead: u64,
}

impl HealthView {
    /// Embedded mode: the built-in worker (when it runs) and its queue.
    pub fn embedded(
        worker: bool,
        alive: bool,
        depth: Option<tickstock_core::bus::QueueDepth>,
    ) -> HealthView {
        HealthView {
            mode: "embedded",
            redis: RedisView {
                configured: false,
                connected: false,
                rtt_ms: None,
                error: None,
            },
            workers: worker
                .then(|| WorkerView {
                    id: "built-in".into(),
                    host: Some(tickstock_core::worker::host_name()),
                    started_at: None,
                    last_seen: tickstock_core::bus::unix_now(),
                    age_seconds: 0.0,
                    current_job: None,
                    alive,
                    cannot_consume: None,
                    builtin: true,
                })
                .into_iter()
                .collect(),
            legacy_heartbeat: HeartbeatView::none(),
            queue: depth.map(|q| QueueView {
                waiting: q.waiting,
                in_flight: q.in_flight,
                dead: q.dead,
            }),
        }
    }

    /// Redis mode with Redis unreachable: why.
    pub fn redis_down(error: &str) -> HealthView {
        HealthView {
            mode: "redis",
            redis: RedisView {
                configured: true,
                connected: false,
                rtt_ms: None,
                error: Some(error.to_string()),
            },
            workers: Vec::new(),
            legacy_heartbeat: HeartbeatView::none(),
            queue: None,
        }
    }

    /// From the bus's health; `builtin` is the id of the app's own worker, if it runs.
    pub fn from_health(h: &Health, builtin: Option<&str>) -> HealthView {
        // Our own workers refresh `tickstockpl:heartbeat` too: it speaks for a TickStockPL
        // worker only when its value is not the one ours wrote last (TickStockPL's
        // producer key is never ours).
        let legacy = [
            h.legacy_heartbeat.as_ref().filter(|l| !l.ours),
            h.producer_heartbeat.as_ref(),
        ]
        .into_iter()
        .flatten()
        .filter(|hb| hb.present)
        .min_by(|a, b| {
            a.age_seconds
                .unwrap_or(f64::MAX)
                .total_cmp(&b.age_seconds.unwrap_or(f64::MAX))
        });
        HealthView {
            mode: "redis",
            redis: RedisView {
                configured: true,
                connected: h.redis.connected,
                rtt_ms: h.redis.rtt_ms.map(|r| (r * 100.0).round() / 100.0),
                error: h.redis.error.clone(),
            },
            workers: h
                .workers
                .iter()
                .map(|w| WorkerView {
                    id: w.id.clone(),
                    host: w.host.clone(),
                    started_at: w.started_at.clone(),
                    last_seen: w.last_seen,
                    age_seconds: (w.age_seconds * 10.0).round() / 10.0,
                    current_job: w.current_jobs.first().cloned(),
                    alive: w.alive,
                    cannot_consume: w.cannot_consume.clone(),
                    builtin: Some(w.id.as_str()) == builtin,
                })
                .collect(),
            legacy_heartbeat: HeartbeatView {
                alive: legacy.is_some_and(|l| l.alive),
                age_seconds: legacy.and_then(|l| l.age_seconds),
                key: legacy.map(|l| l.key.clone()),
            },
            queue: h.queue.map(|q| QueueView {
                waiting: q.waiting,
                in_flight: q.in_flight,
                dead: q.dead,
            }),
        }
    }
}

/// What saving settings would do.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SettingsImpact {
    /// Fields whose change restarts the backend; empty: all changes apply live.
    pub restart: Vec<&'static str>,
    /// Jobs active now (they would stop after their current chunk and resume).
    pub active_jobs: usize,
}

/// A submitted job: its id, and a warning when no live worker will take it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SubmitView {
    pub job_id: String,
    pub warning: Option<String>,
}

impl From<tickstock_core::service::Submitted> for SubmitView {
    fn from(s: tickstock_core::service::Submitted) -> SubmitView {
        SubmitView {
            job_id: s.job.id,
            warning: s.warning,
        }
    }
}

/// The result of a Test button.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TestResult {
    pub ok: bool,
    pub message: String,
    pub latency_ms: Option<f64>,
}

/// Settings as the page sees them: URLs without passwords, the key only as a hint.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SettingsView {
    #[serde(flatten)]
    pub settings: crate::settings::AppSettings,
    pub api_key_set: bool,
    pub api_key_hint: Option<String>,
    pub api_key_storage: Option<&'static str>,
    pub mode: &'static str,
    /// Settings fixed by environment variables (the page shows them read-only).
    pub overridden: Vec<&'static str>,
}

/// What the About dialog shows: the version and where the app keeps its files. Removing the
/// package leaves these folders (the user's jobs, bars, settings and logs).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AboutView {
    pub name: String,
    pub version: String,
    pub identifier: String,
    pub tauri_version: &'static str,
    /// Settings, job history and the default SQLite database.
    pub data_dir: String,
    /// The API key file when no OS keyring runs.
    pub config_dir: String,
    pub log_dir: String,
}
