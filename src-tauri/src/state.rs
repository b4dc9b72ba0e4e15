//! The one managed state: the engine for the current settings, the stored settings, where
//! the API key and the logs live, and how to persist settings and announce events.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use secrecy::SecretString;
use serde_json::Value;
use tickstock_protocol::ErrorKind;
use tokio::sync::{Mutex, RwLock};
use tracing::info;

use crate::engine::Engine;
use crate::error::{CmdResult, CommandError};
use crate::secrets::{hint, KeyStore};
use crate::settings::{AppSettings, SettingsInput};
use crate::views::{SettingsImpact, SettingsView};

type Persist = Box<dyn Fn(&AppSettings) -> Result<(), String> + Send + Sync>;

/// Managed by Tauri; commands borrow it.
pub struct AppState {
    engine: RwLock<Arc<Engine>>,
    stored: Mutex<AppSettings>,
    keys: Arc<KeyStore>,
    default_db: String,
    log_dir: PathBuf,
    persist: Persist,
}

impl AppState {
    /// Starts the engine for `stored` settings (with the environment's overrides).
    pub async fn start(
        stored: AppSettings,
        data_dir: &Path,
        keys: KeyStore,
        log_dir: PathBuf,
        persist: Persist,
    ) -> AppState {
        let keys = Arc::new(keys);
        let default_db = format!("sqlite://{}", data_dir.join("tickstock.sqlite").display());
        let engine =
            Engine::start(stored.clone().with_env(), default_db.clone(), keys.load()).await;
        AppState {
            engine: RwLock::new(Arc::new(engine)),
            stored: Mutex::new(stored),
            keys,
            default_db,
            log_dir,
            persist,
        }
    }

    /// The current engine (the lock is released at once).
    pub async fn engine(&self) -> Arc<Engine> {
        self.engine.read().await.clone()
    }

    pub async fn stored_settings(&self) -> AppSettings {
        self.stored.lock().await.clone()
    }

    pub fn default_db(&self) -> &str {
        &self.default_db
    }

    pub fn log_dir(&self) -> &Path {
        &self.log_dir
    }

    pub fn api_key(&self) -> Option<SecretString> {
        self.keys.load()
    }

    pub async fn settings_view(&self) -> SettingsView {
        let engine = self.engine().await;
        let key = self.keys.load();
        SettingsView {
            settings: engine.settings().redacted(),
            api_key_set: key.is_some(),
            api_key_hint: key.as_ref().map(hint),
            api_key_storage: Some(self.keys.storage()),
            mode: engine.mode_name(),
            overridden: AppSettings::overridden_now(),
            builtin_worker: engine.builtin_worker(),
        }
    }

    /// What saving `input` would do: the fields whose change restarts the backend (empty:
    /// everything changes live), and how many jobs are active now.
    pub async fn settings_impact(&self, input: &SettingsInput) -> CmdResult<SettingsImpact> {
        let stored = self.stored.lock().await.clone();
        let next = stored
            .merge_from_page(input.settings.clone())
            .keep_stored(&stored, &AppSettings::overridden_now())
            .with_env();
        let engine = self.engine().await;
        let mut restart = engine.settings().restart_needed(&next);
        if input
            .api_key
            .as_deref()
            .is_some_and(|k| !k.trim().is_empty())
            || input.remove_api_key
        {
            restart.push("apiKey");
        }
        let active = engine
            .active_jobs()
            .await
            .map(|v| v.iter().filter(|j| j.active).count())
            .unwrap_or(0);
        Ok(SettingsImpact {
            restart,
            active_jobs: active,
            problems: Vec::new(),
        })
    }

    /// Validates and stores the settings; applies them live when it can, else restarts the
    /// engine on them (running jobs stop after their current chunk and resume from their
    /// checkpoints with their totals).
    pub async fn save_settings(&self, input: SettingsInput) -> CmdResult<SettingsView> {
        let mut stored = self.stored.lock().await;
        // Values set by environment variables stay as stored: they are shown read only and
        // never written into the settings file.
        let next = stored
            .merge_from_page(input.settings)
            .keep_stored(&stored, &AppSettings::overridden_now());
        next.validate()?;
        let key_changed = (input
            .api_key
            .as_deref()
            .is_some_and(|k| !k.trim().is_empty())
            || input.remove_api_key)
            .then_some(());
        if let Some(key) = input
            .api_key
            .as_deref()
            .map(str::trim)
            .filter(|k| !k.is_empty())
        {
            if key.len() < 8 || key.chars().any(char::is_whitespace) {
                return Err(CommandError::field(
                    "apiKey",
                    "that does not look like a Polygon API key (no spaces, at least 8 characters)",
                ));
            }
            let key = key.to_string();
            self.with_keys("store", move |keys| keys.save(&key)).await?;
        } else if input.remove_api_key {
            self.with_keys("remove", |keys| keys.remove()).await?;
        }
        (self.persist)(&next).map_err(|e| {
            CommandError::new(ErrorKind::Internal, format!("could not save settings: {e}"))
        })?;
        *stored = next.clone();
        drop(stored);
        let engine = self.engine().await;
        let next = next.with_env();
        if key_changed.is_none() && engine.settings().restart_needed(&next).is_empty() {
            engine.apply_live(&next).await;
            info!("settings saved; applied live");
            return Ok(self.settings_view().await);
        }
        drop(engine);
        let fresh = Engine::start(next, self.default_db.clone(), self.keys.load()).await;
        let old = std::mem::replace(&mut *self.engine.write().await, Arc::new(fresh));
        info!("settings saved; backend restarted");
        old.stop(Duration::from_secs(10)).await;
        Ok(self.settings_view().await)
    }

    /// Runs a key-store change on a blocking thread (keyring calls block).
    async fn with_keys(
        &self,
        what: &str,
        f: impl FnOnce(&KeyStore) -> Result<(), String> + Send + 'static,
    ) -> CmdResult<()> {
        let keys = self.keys.clone();
        tokio::task::spawn_blocking(move || f(&keys))
            .await
            .map_err(|e| e.to_string())
            .and_then(|r| r)
            .map_err(|e| {
                CommandError::new(
                    ErrorKind::Internal,
                    format!("could not {what} the API key: {e}"),
                )
            })
    }

    /// Stops the built-in worker (the window is closing).
    pub async fn shutdown(&self) {
        self.engine().await.stop(Duration::from_secs(10)).await;
    }
}

/// Reads settings saved by the store plugin (missing or unreadable: defaults).
pub fn settings_from_value(v: Option<Value>) -> AppSettings {
    v.and_then(|v| serde_json::from_value(v).ok())
        .unwrap_or_default()
}
