//! The status bar's data: Redis, workers, the legacy heartbeat and the queue.

use serde::Serialize;
use tickstock_jobs::runtime::Health;

/// The status bar's data.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HealthView {
    pub mode: &'static str,
    pub redis: RedisView,
    pub workers: Vec<WorkerView>,
    pub legacy_heartbeat: HeartbeatView,
    pub queue: Option<QueueView>,
    /// The app's own worker: running, or off and why.
    pub builtin_worker: BuiltinWorkerView,
}

/// The app's own worker: running, switched off, or unable to run (and why).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BuiltinWorkerView {
    /// `on`, `off` (switched off by the operator) or `unable` (meant to run, cannot).
    pub state: &'static str,
    /// A few words for the status bar ("database unavailable").
    pub short: Option<String>,
    /// Why it does not run, in full.
    pub reason: Option<String>,
}

impl BuiltinWorkerView {
    pub fn on() -> BuiltinWorkerView {
        BuiltinWorkerView {
            state: "on",
            short: None,
            reason: None,
        }
    }

    /// Switched off by the operator (Settings, or `TICKSTOCK_WORKER`).
    pub fn off(reason: impl Into<String>) -> BuiltinWorkerView {
        BuiltinWorkerView {
            state: "off",
            short: Some("switched off".into()),
            reason: Some(reason.into()),
        }
    }

    /// Meant to run, but it cannot.
    pub fn unable(short: &str, reason: impl Into<String>) -> BuiltinWorkerView {
        BuiltinWorkerView {
            state: "unable",
            short: Some(short.into()),
            reason: Some(reason.into()),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RedisView {
    pub configured: bool,
    pub connected: bool,
    pub rtt_ms: Option<f64>,
    pub error: Option<String>,
    /// Redis answers but refuses writes (at its memory limit): why.
    pub full: Option<String>,
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
    /// No heartbeat for `HEARTBEAT_SILENT_SECS` and not stopped cleanly: crashed, frozen or
    /// cut off (its jobs go to another worker once their lease lapses).
    pub silent: bool,
    /// Why the worker cannot take jobs although it heartbeats, if so.
    pub cannot_consume: Option<String>,
    pub builtin: bool,
}

/// Whether a worker that last beat `age_seconds` ago went silent.
pub fn is_silent(age_seconds: f64, stopped: bool) -> bool {
    !stopped && age_seconds >= tickstock_jobs::runtime::HEARTBEAT_SILENT_SECS
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
    /// Who paused the queue, when it is paused (no worker starts a job meanwhile).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub paused_by: Option<String>,
}

impl HealthView {
    /// Embedded mode: the built-in worker (when it runs) and its queue.
    pub fn embedded(
        worker: bool,
        alive: bool,
        depth: Option<tickstock_jobs::runtime::QueueDepth>,
    ) -> HealthView {
        HealthView {
            mode: "embedded",
            redis: RedisView {
                configured: false,
                connected: false,
                rtt_ms: None,
                error: None,
                full: None,
            },
            workers: worker
                .then(|| WorkerView {
                    id: "built-in".into(),
                    host: Some(tickstock_jobs::runtime::host_name()),
                    started_at: None,
                    last_seen: tickstock_protocol::status::unix_now(),
                    age_seconds: 0.0,
                    current_job: None,
                    alive,
                    silent: false,
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
                paused_by: None,
            }),
            builtin_worker: BuiltinWorkerView::on(),
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
                full: None,
            },
            workers: Vec::new(),
            legacy_heartbeat: HeartbeatView::none(),
            queue: None,
            builtin_worker: BuiltinWorkerView::on(),
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
                full: h.redis.full.clone(),
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
                    silent: is_silent(w.age_seconds, w.stopped),
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
                paused_by: None,
            }),
            builtin_worker: BuiltinWorkerView::on(),
        }
    }
}
