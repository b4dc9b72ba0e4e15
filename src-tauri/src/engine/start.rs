//! Building an engine from settings: the database, the Polygon client and loader, the
//! queue (embedded or Redis) behind the job service, the built-in worker and the
//! schedules' passes.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use secrecy::SecretString;
use tickstock_jobs::queue::LazyBus;
use tickstock_jobs::runtime::LocalQueue;
use tickstock_jobs::runtime::{new_worker_id, WorkerConfig};
use tickstock_jobs::runtime::{Checkpoints, JobHistory};
use tickstock_jobs::runtime::{Loader, LoaderConfig};
use tickstock_jobs::runtime::{PolygonClient, PolygonConfig};
use tickstock_jobs::runtime::{Store, StoreOptions};
use tickstock_jobs::runtime::{StoreCheckpoints, StoreHistory};
use tickstock_jobs::service::JobService;
use tickstock_protocol::settings::BusConfig;
use tickstock_protocol::Error;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{info, warn};

use super::{Engine, Mode};
use crate::background;
use crate::settings::AppSettings;
use crate::views::BuiltinWorkerView;

/// Connections the app opens to an SQLite file.
const SQLITE_CONNECTIONS: u32 = 4;

/// Whether the built-in worker runs on these settings, and if not, why: the status bar and
/// the settings' answer say it (never the log alone).
fn builtin_worker(
    settings: &AppSettings,
    store: &Result<Store, Error>,
    has_key: bool,
    polygon: Option<&Result<PolygonClient, String>>,
) -> BuiltinWorkerView {
    let redis = !settings.redis_url.trim().is_empty();
    if redis && !settings.worker_enabled {
        let by = if std::env::var_os("TICKSTOCK_WORKER").is_some() {
            "the environment variable TICKSTOCK_WORKER"
        } else {
            "Settings"
        };
        return BuiltinWorkerView::off(format!(
            "switched off in {by}: jobs wait for another worker"
        ));
    }
    match (store, polygon) {
        (Err(e), _) => BuiltinWorkerView::unable(
            "database unavailable",
            format!(
                "the database is unavailable ({}): no job runs here until it answers; check the database URL in Settings",
                e.message()
            ),
        ),
        _ if !has_key => BuiltinWorkerView::unable(
            "no API key",
            "no Polygon API key: add it in Settings for the built-in worker to load data",
        ),
        (_, Some(Err(e))) => BuiltinWorkerView::unable(
            "Polygon settings unusable",
            format!("the Polygon settings are unusable: {e}"),
        ),
        _ => BuiltinWorkerView::on(),
    }
}

impl Engine {
    /// Builds and starts the backend: opens the database and starts the built-in worker (in
    /// embedded mode always; in Redis mode when enabled).
    pub async fn start(
        settings: AppSettings,
        default_db: String,
        api_key: Option<SecretString>,
    ) -> Engine {
        let db_url = match settings.database_url.trim() {
            "" => default_db,
            url => url.to_string(),
        };
        let options = StoreOptions {
            environment: settings.environment.clone(),
            // Each SQLite connection keeps its own page cache (2 MB): the page and the
            // built-in worker need no more than four of them.
            max_connections: if db_url.starts_with("sqlite:") {
                SQLITE_CONNECTIONS
            } else {
                StoreOptions::default().max_connections
            },
            ..StoreOptions::default()
        };
        let store = Store::connect_with(&db_url, &options)
            .await
            .map_err(Error::from);
        if let Err(e) = &store {
            warn!("database unavailable: {}", e.message());
        }
        let shutdown = CancellationToken::new();
        let tracker = TaskTracker::new();
        let polygon = match (&store, &api_key) {
            (Ok(_), Some(key)) => {
                let cfg = PolygonConfig::new(settings.polygon_base_url.clone(), key.clone())
                    .with_requests_per_minute(settings.requests_per_minute);
                Some(PolygonClient::new(cfg).map_err(|e| {
                    warn!("Polygon settings unusable: {e}");
                    e.to_string()
                }))
            }
            _ => None,
        };
        let builtin = builtin_worker(&settings, &store, api_key.is_some(), polygon.as_ref());
        if builtin.state != "on" {
            warn!(
                "the built-in worker is off: {}",
                builtin.reason.as_deref().unwrap_or("")
            );
        }
        let polygon = polygon.and_then(Result::ok);
        let loader = match (&store, &polygon) {
            (Ok(store), Some(p)) => Some(Loader::new(
                p.clone(),
                store.clone(),
                LoaderConfig {
                    // `csv_file` names are read from this folder only.
                    csv_dir: std::env::var_os("TICKSTOCK_CSV_DIR")
                        .filter(|d| !d.is_empty())
                        .map(std::path::PathBuf::from),
                    ..LoaderConfig::default()
                },
            )),
            _ => None,
        };
        let history: Option<Arc<dyn JobHistory>> = store
            .as_ref()
            .ok()
            .map(|s| Arc::new(StoreHistory(s.clone())) as Arc<dyn JobHistory>);
        let concurrency = settings.worker_concurrency.clamp(1, 16) as usize;
        let history_store = store.as_ref().ok().cloned();
        let (mode, service, worker_id) = if settings.redis_url.trim().is_empty() {
            let checkpoints: Option<Arc<dyn Checkpoints>> = store
                .as_ref()
                .ok()
                .map(|s| Arc::new(StoreCheckpoints(s.clone())) as Arc<dyn Checkpoints>);
            let queue = loader.map(|l| {
                LocalQueue::start(
                    Arc::new(l),
                    history,
                    checkpoints,
                    concurrency,
                    shutdown.clone(),
                )
            });
            let service = queue
                .as_ref()
                .map(|q| Arc::new(JobService::new(Arc::new(q.clone()), history_store.clone())));
            if let (Some(q), Some(service), Ok(store)) = (&queue, &service, &store) {
                service.resume_unfinished(q).await;
                // The built-in worker fires the schedules in embedded mode.
                background::spawn_scheduler(
                    &tracker,
                    store.clone(),
                    service.clone(),
                    shutdown.clone(),
                    polygon.clone(),
                );
            }
            info!(worker = queue.is_some(), "embedded mode");
            (Mode::Embedded { queue }, service, None)
        } else {
            let cfg = BusConfig::new(settings.redis_url.trim())
                .with_namespace(settings.namespace.trim())
                .with_publish_legacy(settings.publish_legacy);
            let bus = Arc::new(LazyBus::new(cfg.clone(), Duration::from_millis(1500)));
            let service = Arc::new(JobService::new(bus.clone(), history_store.clone()));
            let worker_id = match (settings.worker_enabled, loader) {
                (true, Some(loader)) => {
                    let id = new_worker_id(Some("app"));
                    background::spawn_builtin_worker(
                        &tracker,
                        cfg,
                        loader,
                        history,
                        WorkerConfig {
                            id: Some(id.clone()),
                            concurrency,
                            ..WorkerConfig::default()
                        },
                        shutdown.clone(),
                        history_store.map(|s| (s, service.clone())),
                    );
                    Some(id)
                }
                _ => {
                    if let Some(p) = &polygon {
                        background::spawn_budget_share(&tracker, cfg, p.clone(), shutdown.clone());
                    }
                    None
                }
            };
            info!(builtin_worker = worker_id.is_some(), "Redis mode");
            (Mode::Redis { bus }, Some(service), worker_id)
        };
        tracker.close();
        Engine {
            settings: Mutex::new(settings),
            store,
            has_key: api_key.is_some(),
            mode,
            service,
            worker_id,
            builtin,
            polygon,
            shutdown,
            tracker,
            params: Mutex::new(HashMap::new()),
            recently_finished: Mutex::new(Vec::new()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tickstock_protocol::ErrorKind;

    #[test]
    fn the_built_in_worker_says_why_it_does_not_run() {
        let down: Result<Store, Error> = Err(Error::new(ErrorKind::Database, "refused"));
        let embedded = AppSettings::default();
        let w = builtin_worker(&embedded, &down, true, None);
        assert_eq!(
            (w.state, w.short.as_deref()),
            ("unable", Some("database unavailable"))
        );
        assert!(
            w.reason
                .unwrap()
                .starts_with("the database is unavailable (refused)"),
            "the reason names the database's error"
        );
        let redis_off = AppSettings {
            redis_url: "redis://127.0.0.1:6379".into(),
            worker_enabled: false,
            ..AppSettings::default()
        };
        let w = builtin_worker(&redis_off, &down, true, None);
        assert_eq!(w.state, "off", "switched off says so first");
    }
}
