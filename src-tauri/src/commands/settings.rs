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
use crate::views::{SettingsImpact, SettingsProblem, SettingsView, TestResult};

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
    let mut impact = state.settings_impact(&settings).await?;
    // A changed database or Redis URL is tried before saving: one that does not answer
    // would leave the app without history, or without a queue, and its worker off.
    let stored = state.stored_settings().await;
    if impact.restart.contains(&"databaseUrl") {
        let url = keep_password(&settings.settings.database_url, &stored.database_url);
        let url = if url.trim().is_empty() {
            state.default_db().to_string()
        } else {
            url
        };
        if let Err(why) = probe_database(&url).await {
            impact.problems.push(SettingsProblem {
                field: "databaseUrl",
                message: format!(
                    "The database does not answer: {why}. Saved anyway, the app shows no history and its built-in worker stays off until it answers."
                ),
            });
        }
    }
    let redis = keep_password(&settings.settings.redis_url, &stored.redis_url);
    if impact.restart.contains(&"redisUrl") && !redis.trim().is_empty() {
        if let Err(why) = probe_redis(&redis).await {
            impact.problems.push(SettingsProblem {
                field: "redisUrl",
                message: format!(
                    "Redis does not answer: {why}. Saved anyway, no job can be submitted or run until it answers."
                ),
            });
        }
    }
    Ok(impact)
}

/// How long a check before saving waits for a database or Redis.
const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

/// Connects to a database and asks it one question; the reason when it does not answer.
async fn probe_database(url: &str) -> Result<String, String> {
    let connect = async {
        let store = Store::connect(url)
            .await
            .map_err(|e| tickstock_protocol::Error::from(e).message().to_string())?;
        let r = store.ping().await.map_err(|e| e.to_string());
        let described = store.describe();
        store.close().await;
        r.map(|_| described)
    };
    tokio::time::timeout(PROBE_TIMEOUT, connect)
        .await
        .unwrap_or_else(|_| Err(format!("no answer within {} s", PROBE_TIMEOUT.as_secs())))
}

/// Connects to Redis and pings it; the reason when it does not answer.
async fn probe_redis(url: &str) -> Result<String, String> {
    tickstock_protocol::settings::validate_redis_url(url).map_err(|e| e.message().to_string())?;
    let mut cfg = BusConfig::new(url);
    cfg.connect_timeout = Duration::from_secs(2);
    let connect = async {
        let bus = Bus::connect(cfg)
            .await
            .map_err(|e| e.message().to_string())?;
        let h = bus.health(Duration::from_secs(60)).await;
        match h.redis.connected {
            true => Ok(bus.redacted_url()),
            false => Err(h.redis.error.unwrap_or_else(|| "no answer".into())),
        }
    };
    tokio::time::timeout(PROBE_TIMEOUT, connect)
        .await
        .unwrap_or_else(|_| Err(format!("no answer within {} s", PROBE_TIMEOUT.as_secs())))
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
