//! Settings: read, what saving would do, save, and the Test buttons.

use std::time::{Duration, Instant};

use secrecy::SecretString;
use tauri::State;
use tickstock_jobs::runtime::Bus;
use tickstock_jobs::runtime::Store;
use tickstock_jobs::runtime::{PolygonClient, PolygonConfig};
use tickstock_protocol::settings::BusConfig;

use crate::error::{CmdResult, CommandError};
use crate::settings::{keep_password, SettingsInput};
use crate::state::AppState;
use crate::views::{SettingsImpact, SettingsView, TestResult};

#[tauri::command]
pub async fn get_settings(state: State<'_, AppState>) -> CmdResult<SettingsView> {
    Ok(state.settings_view().await)
}

/// What saving these settings would do (restart or live), before saving.
#[tauri::command]
pub async fn settings_impact(
    state: State<'_, AppState>,
    settings: SettingsInput,
) -> CmdResult<SettingsImpact> {
    state.settings_impact(&settings).await
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
        // Empty is a valid choice, not an error: the app runs without Redis.
        return Ok(TestResult {
            ok: true,
            message:
                "No Redis URL: the app runs in embedded mode, with its built-in worker and no Redis"
                    .into(),
            latency_ms: None,
        });
    }
    tickstock_protocol::settings::validate_redis_url(&url)
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
        Err(e) => test_result(false, tickstock_protocol::Error::from(e).message(), started),
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
