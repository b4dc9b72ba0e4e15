//! The `#[tauri::command]`s the page calls: thin, each one a call into the engine or the
//! core, with errors as `{kind, message, field?}`.

use std::time::{Duration, Instant};

use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tauri::State;
use tickstock_core::bus::Bus;
use tickstock_core::job::{FieldError, Job, JobRequest};
use tickstock_core::polygon::{PolygonClient, PolygonConfig};
use tickstock_core::settings::BusConfig;
use tickstock_core::store::{JobRunFilter, Store};
use tickstock_core::{universe, ErrorKind};

use crate::error::{CmdResult, CommandError};
use crate::settings::{keep_password, AppSettings};
use crate::state::AppState;
use crate::views::{HealthView, JobView, SettingsView, SubmitView, TestResult};

const USER: &str = "admin_ui";

#[tauri::command]
pub async fn health(state: State<'_, AppState>) -> CmdResult<HealthView> {
    Ok(state.engine().await.health().await)
}

#[derive(Serialize)]
pub struct Validation {
    pub ok: bool,
    pub errors: Vec<FieldError>,
}

async fn build_job(state: &AppState, request: &JobRequest) -> Result<Job, Vec<FieldError>> {
    let engine = state.engine().await;
    let known = engine.known_universes().await.unwrap_or_else(|_| {
        universe::builtin()
            .iter()
            .map(|u| u.key.to_string())
            .collect()
    });
    request.build(USER, &|k| known.contains(k))
}

/// Checks a request with the core's rules, as the user types.
#[tauri::command]
pub async fn validate_job(
    state: State<'_, AppState>,
    request: JobRequest,
) -> CmdResult<Validation> {
    Ok(match build_job(&state, &request).await {
        Ok(_) => Validation {
            ok: true,
            errors: Vec::new(),
        },
        Err(errors) => Validation { ok: false, errors },
    })
}

#[tauri::command]
pub async fn submit_job(state: State<'_, AppState>, request: JobRequest) -> CmdResult<SubmitView> {
    let job = build_job(&state, &request).await?;
    Ok(state.engine().await.submit(job).await?.into())
}

/// Every active job in one call (read only; changes reach the page as `job-events`).
#[tauri::command]
pub async fn active_jobs(state: State<'_, AppState>) -> CmdResult<Vec<JobView>> {
    state.engine().await.active_jobs().await
}

/// The history's search box and filters.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ListFilter {
    pub query: Option<String>,
    pub kind: Option<String>,
    pub status: Option<String>,
    /// 1-based, as the page counts.
    pub page: Option<u32>,
    pub page_size: Option<u32>,
}

fn nonempty(s: &Option<String>) -> Option<String> {
    s.as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

impl ListFilter {
    /// Id prefix when the text looks like one (hex and dashes), else a symbol.
    fn to_filters(&self) -> Vec<JobRunFilter> {
        let base = JobRunFilter {
            kind: nonempty(&self.kind),
            status: nonempty(&self.status),
            page: self.page.unwrap_or(1).max(1) - 1,
            page_size: self.page_size.unwrap_or(20).clamp(1, 1000),
            ..JobRunFilter::default()
        };
        match nonempty(&self.query) {
            None => vec![base],
            Some(q) => {
                let as_symbol = JobRunFilter {
                    symbol: Some(q.to_ascii_uppercase()),
                    ..base.clone()
                };
                if q.chars().all(|c| c.is_ascii_hexdigit() || c == '-') {
                    vec![
                        JobRunFilter {
                            id_prefix: Some(q.to_ascii_lowercase()),
                            ..base
                        },
                        as_symbol,
                    ]
                } else {
                    vec![as_symbol]
                }
            }
        }
    }
}

#[tauri::command]
pub async fn list_jobs(state: State<'_, AppState>, filter: ListFilter) -> CmdResult<Value> {
    let engine = state.engine().await;
    let store = engine.store()?;
    let filters = filter.to_filters();
    let mut page = store.list_job_runs(&filters[0]).await?;
    if page.total == 0 {
        if let Some(alt) = filters.get(1) {
            page = store.list_job_runs(alt).await?;
        }
    }
    let items: Vec<JobView> = page.items.iter().map(JobView::from_run).collect();
    Ok(json!({
        "items": items,
        "total": page.total,
        "page": filters[0].page + 1,
        "pageSize": filters[0].page_size,
    }))
}

#[tauri::command]
pub async fn job_detail(state: State<'_, AppState>, job_id: String) -> CmdResult<JobView> {
    state.engine().await.job_detail(job_id.trim()).await
}

#[tauri::command]
pub async fn cancel_job(state: State<'_, AppState>, job_id: String) -> CmdResult<Value> {
    let out = state.engine().await.cancel(job_id.trim(), USER).await?;
    Ok(json!({ "status": out.state.as_str(), "changed": out.changed }))
}

#[tauri::command]
pub async fn cancel_all(state: State<'_, AppState>) -> CmdResult<Value> {
    let n = state.engine().await.cancel_all(USER).await?;
    Ok(json!({ "cancelled": n }))
}

/// Submits a failed or cancelled job again (same parameters, new id).
#[tauri::command]
pub async fn retry_job(state: State<'_, AppState>, job_id: String) -> CmdResult<SubmitView> {
    Ok(state
        .engine()
        .await
        .retry(job_id.trim(), USER)
        .await?
        .into())
}

#[tauri::command]
pub async fn cleanup_stale(state: State<'_, AppState>) -> CmdResult<Value> {
    let n = state.engine().await.cleanup_stale().await?;
    Ok(json!({ "marked": n }))
}

#[tauri::command]
pub async fn clear_jobs(state: State<'_, AppState>, prefix: String) -> CmdResult<Value> {
    let n = state.engine().await.clear_jobs(&prefix).await?;
    Ok(json!({ "cleared": n }))
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// Exports every job matching the filter (all pages) as CSV through the system's Save
/// dialog: `{"path"}` where the file went, or `{"cancelled": true}`. A file that cannot be
/// written is an error naming the path and the reason (nothing is written anywhere else).
#[tauri::command]
pub async fn export_jobs_csv<R: tauri::Runtime>(
    app: tauri::AppHandle<R>,
    state: State<'_, AppState>,
    filter: ListFilter,
) -> CmdResult<Value> {
    use tauri_plugin_dialog::DialogExt;
    let text = jobs_csv(&state, filter).await?;
    let name = format!(
        "tickstock-jobs-{}.csv",
        chrono::Local::now().format("%Y%m%d-%H%M")
    );
    // Scripted runs and tests name the file instead of answering a dialog.
    if let Some(path) = std::env::var_os("TICKSTOCK_EXPORT_PATH").filter(|p| !p.is_empty()) {
        let path = std::path::PathBuf::from(path);
        write_export(&path, &text).await?;
        return Ok(json!({ "path": path.display().to_string() }));
    }
    let (tx, rx) = tokio::sync::oneshot::channel();
    app.dialog()
        .file()
        .set_title("Export jobs as CSV")
        .add_filter("CSV", &["csv"])
        .set_file_name(&name)
        .save_file(move |picked| {
            let _ = tx.send(picked);
        });
    let Some(picked) = rx.await.ok().flatten() else {
        return Ok(json!({ "cancelled": true }));
    };
    let path = picked.into_path().map_err(|e| {
        CommandError::new(
            ErrorKind::InvalidInput,
            format!("the chosen location is not a file path: {e}"),
        )
    })?;
    write_export(&path, &text).await?;
    Ok(json!({ "path": path.display().to_string() }))
}

/// Writes an export, naming the path and the reason when it cannot be written.
pub async fn write_export(path: &std::path::Path, text: &str) -> CmdResult<()> {
    tokio::fs::write(path, text).await.map_err(|e| {
        CommandError::new(
            ErrorKind::Internal,
            format!("could not write {}: {e}", path.display()),
        )
    })
}

/// Every job matching the filter (all pages) as CSV text.
pub async fn jobs_csv(state: &AppState, filter: ListFilter) -> CmdResult<String> {
    let engine = state.engine().await;
    let store = engine.store()?;
    let mut out = String::from("job_id,kind,status,progress,symbols,bars_loaded,failed_symbols,submitted_at,started_at,completed_at,error\n");
    let mut f = filter.to_filters().remove(0);
    f.page_size = 1000;
    f.page = 0;
    loop {
        let page = store.list_job_runs(&f).await?;
        if page.items.is_empty() {
            break;
        }
        for r in &page.items {
            let v = JobView::from_run(r);
            let symbols = r
                .params
                .get("symbols")
                .and_then(|s| s.as_array())
                .map(|a| {
                    a.iter()
                        .filter_map(|x| x.as_str())
                        .collect::<Vec<_>>()
                        .join(" ")
                })
                .or_else(|| {
                    r.params
                        .get("universe_type")
                        .and_then(|x| x.as_str())
                        .map(str::to_string)
                })
                .or_else(|| {
                    r.params
                        .get("universe_key")
                        .and_then(|x| x.as_str())
                        .map(str::to_string)
                })
                .unwrap_or_default();
            let failed = v
                .failed_symbols
                .iter()
                .map(|f| format!("{}: {}", f.symbol, f.reason))
                .collect::<Vec<_>>()
                .join("; ");
            let cols = [
                v.job_id.clone(),
                v.job_type.clone().unwrap_or_default(),
                v.status.clone(),
                v.progress.to_string(),
                symbols,
                v.ohlcv_records_loaded.to_string(),
                failed,
                v.submitted_at.clone().unwrap_or_default(),
                v.started_at.clone().unwrap_or_default(),
                v.completed_at.clone().unwrap_or_default(),
                v.error_message.clone().unwrap_or_default(),
            ];
            out += &cols
                .iter()
                .map(|c| csv_field(c))
                .collect::<Vec<_>>()
                .join(",");
            out.push('\n');
        }
        if ((f.page + 1) * f.page_size) as i64 >= page.total {
            break;
        }
        f.page += 1;
    }
    Ok(out)
}

#[tauri::command]
pub async fn list_universes(state: State<'_, AppState>) -> CmdResult<Value> {
    let engine = state.engine().await;
    let list = engine.store()?.list_universes().await?;
    Ok(Value::Array(
        list.into_iter()
            .map(|u| json!({"key": u.key, "name": u.name, "kind": u.kind, "members": u.members, "asOf": u.as_of}))
            .collect(),
    ))
}

/// Members of a universe key or joined keys: count, first few, unknown parts.
#[tauri::command]
pub async fn universe_preview(state: State<'_, AppState>, key: String) -> CmdResult<Value> {
    let engine = state.engine().await;
    let store = engine.store()?;
    let mut all: Vec<String> = Vec::new();
    let mut unknown = Vec::new();
    for part in universe::split_keys(&key) {
        match store.universe_members(&part).await? {
            Some(m) => {
                for s in m {
                    if !all.contains(&s) {
                        all.push(s);
                    }
                }
            }
            None => unknown.push(part),
        }
    }
    Ok(
        json!({"count": all.len(), "sample": all.iter().take(12).collect::<Vec<_>>(), "unknown": unknown}),
    )
}

#[tauri::command]
pub async fn data_summary(state: State<'_, AppState>) -> CmdResult<Value> {
    let engine = state.engine().await;
    let cov = engine.store()?.coverage().await?;
    Ok(Value::Array(
        cov.into_iter()
            .map(|c| json!({"table": c.table, "timeframe": c.timeframe.wire_name(), "rows": c.rows, "symbols": c.symbols, "earliest": c.earliest, "latest": c.latest}))
            .collect(),
    ))
}

#[tauri::command]
pub async fn get_settings(state: State<'_, AppState>) -> CmdResult<SettingsView> {
    Ok(state.settings_view().await)
}

/// What saving these settings would do (restart or live), before saving.
#[tauri::command]
pub async fn settings_impact(
    state: State<'_, AppState>,
    settings: SettingsInput,
) -> CmdResult<crate::views::SettingsImpact> {
    state.settings_impact(&settings).await
}

/// Settings as the page sends them: the key only when changed.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SettingsInput {
    #[serde(flatten)]
    pub settings: AppSettings,
    #[serde(default)]
    pub api_key: Option<String>,
    #[serde(default)]
    pub remove_api_key: bool,
}

#[tauri::command]
pub async fn save_settings(
    state: State<'_, AppState>,
    settings: SettingsInput,
) -> CmdResult<SettingsView> {
    state.save_settings(settings).await
}

fn test_result(ok: bool, message: impl Into<String>, started: Instant) -> TestResult {
    TestResult {
        ok,
        message: message.into(),
        latency_ms: Some((started.elapsed().as_secs_f64() * 10_000.0).round() / 10.0),
    }
}

#[tauri::command]
pub async fn test_redis(state: State<'_, AppState>, url: String) -> CmdResult<TestResult> {
    let stored = state.stored_settings().await.redis_url;
    let url = keep_password(&url, &stored);
    if url.trim().is_empty() {
        return Err(CommandError::field(
            "redisUrl",
            "enter a Redis URL to test (empty means embedded mode)",
        ));
    }
    tickstock_core::settings::validate_redis_url(&url)
        .map_err(|e| CommandError::field("redisUrl", e.message()))?;
    let started = Instant::now();
    let mut cfg = BusConfig::new(url);
    cfg.connect_timeout = Duration::from_secs(2);
    Ok(match Bus::connect(cfg).await {
        Ok(bus) => {
            let h = bus.health(Duration::from_secs(60)).await;
            let workers = h.workers.iter().filter(|w| w.alive).count();
            test_result(
                h.redis.connected,
                format!(
                    "Connected to {}; {workers} live worker(s)",
                    bus.redacted_url()
                ),
                started,
            )
        }
        Err(e) => test_result(false, e.message(), started),
    })
}

#[tauri::command]
pub async fn test_database(state: State<'_, AppState>, url: String) -> CmdResult<TestResult> {
    let stored = state.stored_settings().await.database_url;
    let url = keep_password(&url, &stored);
    let url = if url.trim().is_empty() {
        state.default_db().to_string()
    } else {
        url
    };
    let started = Instant::now();
    Ok(match Store::connect(&url).await {
        Ok(store) => {
            let r = store.ping().await;
            let msg = match r {
                Ok(_) => format!("Connected to {}", store.describe()),
                Err(e) => e.to_string(),
            };
            store.close().await;
            test_result(msg.starts_with("Connected"), msg, started)
        }
        Err(e) => test_result(false, tickstock_core::Error::from(e).message(), started),
    })
}

#[tauri::command]
pub async fn test_polygon(
    state: State<'_, AppState>,
    base_url: String,
    api_key: Option<String>,
) -> CmdResult<TestResult> {
    let key = match api_key.filter(|k| !k.trim().is_empty()) {
        Some(k) => SecretString::from(k.trim().to_string()),
        None => state
            .api_key()
            .ok_or_else(|| CommandError::field("apiKey", "enter the Polygon API key to test"))?,
    };
    let cfg = PolygonConfig::new(base_url.trim().to_string(), key)
        .with_max_retries(1)
        .with_request_timeout(Duration::from_secs(10));
    let client = PolygonClient::new(cfg)
        .map_err(|e| CommandError::field("polygonBaseUrl", e.to_string()))?;
    let started = Instant::now();
    Ok(match client.ticker_details("AAPL").await {
        Ok(d) => test_result(
            true,
            format!("Polygon answered: AAPL is {}", d.info.name),
            started,
        ),
        Err(e) => test_result(false, e.to_string(), started),
    })
}

#[tauri::command]
pub async fn open_log_dir(state: State<'_, AppState>) -> CmdResult<()> {
    let dir = state.log_dir();
    let opener = if cfg!(target_os = "macos") {
        "open"
    } else if cfg!(windows) {
        "explorer"
    } else {
        "xdg-open"
    };
    std::process::Command::new(opener)
        .arg(dir)
        .spawn()
        .map(|_| ())
        .map_err(|e| {
            CommandError::new(
                ErrorKind::Internal,
                format!("could not open {}: {e}", dir.display()),
            )
        })
}

/// A native desktop notification (the page asks when it is in the background).
#[tauri::command]
pub async fn notify(title: String, body: String) -> CmdResult<()> {
    crate::state::desktop_notification(&title, &body);
    Ok(())
}

/// The version and the app's folders, for the About dialog.
#[tauri::command]
pub fn about<R: tauri::Runtime>(
    app: tauri::AppHandle<R>,
    state: State<'_, AppState>,
) -> CmdResult<crate::views::AboutView> {
    use tauri::Manager;
    let paths = app.path();
    let shown = |dir: tauri::Result<std::path::PathBuf>| {
        dir.map(|d| d.display().to_string())
            .map_err(|e| CommandError::new(ErrorKind::Internal, e.to_string()))
    };
    let info = app.package_info();
    Ok(crate::views::AboutView {
        name: info.name.clone(),
        version: info.version.to_string(),
        identifier: app.config().identifier.clone(),
        tauri_version: tauri::VERSION,
        data_dir: shown(paths.app_data_dir())?,
        config_dir: shown(paths.app_config_dir())?,
        log_dir: state.log_dir().display().to_string(),
    })
}
