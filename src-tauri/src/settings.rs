//! The app's settings: kept with tauri-plugin-store (`settings.json` in the app's config
//! directory), overridden by environment variables for servers and tests, validated with a
//! message per field. The Polygon API key is never in the store: see [`crate::secrets`].

use serde::{Deserialize, Serialize};
use tickstock_protocol::settings::{redact_url, validate_redis_url, DEFAULT_POLYGON_URL};

use crate::error::CommandError;

/// Everything the operator can set (the API key aside).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct AppSettings {
    /// Empty: embedded mode (no Redis).
    pub redis_url: String,
    /// Prefix for Redis keys and channels (empty: TickStock's names).
    pub namespace: String,
    /// Empty: SQLite in the app's data directory.
    pub database_url: String,
    pub polygon_base_url: String,
    /// The plan's requests per minute; 0 = unlimited.
    pub requests_per_minute: u32,
    /// Publish jobs on the legacy pub/sub channel too.
    pub publish_legacy: bool,
    /// Run the built-in worker (always on in embedded mode).
    pub worker_enabled: bool,
    pub worker_concurrency: u32,
    /// TickStock environment whose universes are read and written (DEFAULT, TEST, ...).
    pub environment: String,
    /// Who the page's jobs are `requested_by`; empty: the OS user.
    pub operator: String,
}

impl Default for AppSettings {
    fn default() -> Self {
        AppSettings {
            redis_url: String::new(),
            namespace: String::new(),
            database_url: String::new(),
            polygon_base_url: DEFAULT_POLYGON_URL.into(),
            requests_per_minute: 5,
            publish_legacy: true,
            worker_enabled: true,
            worker_concurrency: 1,
            environment: tickstock_jobs::runtime::DEFAULT_ENVIRONMENT.into(),
            operator: String::new(),
        }
    }
}

/// Environment variables that win over stored settings.
pub const ENV_OVERRIDES: &[&str] = &[
    "TICKSTOCK_REDIS_URL",
    "TICKSTOCK_NAMESPACE",
    "TICKSTOCK_DATABASE_URL",
    "POLYGON_BASE_URL",
    "POLYGON_RPM",
    "TICKSTOCK_WORKER",
    "TICKSTOCK_WORKER_CONCURRENCY",
    "TICKSTOCK_PUBLISH_LEGACY",
    "TICKSTOCK_ENVIRONMENT",
];

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

fn flag(v: &str) -> Option<bool> {
    match v.trim().to_ascii_lowercase().as_str() {
        "1" | "on" | "true" | "yes" => Some(true),
        "0" | "off" | "false" | "no" => Some(false),
        _ => None,
    }
}

impl AppSettings {
    /// Who the page's jobs are `requested_by`: the name set, else the OS user.
    pub fn operator_name(&self) -> String {
        match self.operator.trim() {
            "" => tickstock_protocol::settings::os_user().unwrap_or_else(|| "admin_ui".into()),
            name => name.to_string(),
        }
    }

    /// The settings that change live, without restarting the backend: running jobs go on.
    pub const LIVE: &'static [&'static str] = &["requestsPerMinute", "publishLegacy", "operator"];

    /// The fields (as the page names them) whose change from `self` to `next` needs the
    /// backend restarted: running jobs then stop after their current chunk and resume from
    /// their checkpoints with their totals.
    pub fn restart_needed(&self, next: &AppSettings) -> Vec<&'static str> {
        let mut out = Vec::new();
        let mut check = |name: &'static str, changed: bool| {
            if changed {
                out.push(name);
            }
        };
        check("redisUrl", self.redis_url.trim() != next.redis_url.trim());
        check("namespace", self.namespace.trim() != next.namespace.trim());
        check(
            "databaseUrl",
            self.database_url.trim() != next.database_url.trim(),
        );
        check(
            "polygonBaseUrl",
            self.polygon_base_url.trim() != next.polygon_base_url.trim(),
        );
        check("workerEnabled", self.worker_enabled != next.worker_enabled);
        check(
            "workerConcurrency",
            self.worker_concurrency != next.worker_concurrency,
        );
        check("environment", self.environment != next.environment);
        out
    }

    /// These settings with the environment's overrides applied.
    pub fn with_env(mut self) -> AppSettings {
        if let Some(v) = env("TICKSTOCK_REDIS_URL") {
            self.redis_url = v;
        }
        if let Some(v) = env("TICKSTOCK_NAMESPACE") {
            self.namespace = v;
        }
        if let Some(v) = env("TICKSTOCK_DATABASE_URL") {
            self.database_url = v;
        }
        if let Some(v) = env("POLYGON_BASE_URL") {
            self.polygon_base_url = v;
        }
        if let Some(v) = env("POLYGON_RPM").and_then(|v| v.trim().parse().ok()) {
            self.requests_per_minute = v;
        }
        if let Some(v) = env("TICKSTOCK_WORKER").as_deref().and_then(flag) {
            self.worker_enabled = v;
        }
        if let Some(v) = env("TICKSTOCK_WORKER_CONCURRENCY").and_then(|v| v.trim().parse().ok()) {
            self.worker_concurrency = v;
        }
        if let Some(v) = env("TICKSTOCK_PUBLISH_LEGACY").as_deref().and_then(flag) {
            self.publish_legacy = v;
        }
        if let Some(v) = env("TICKSTOCK_ENVIRONMENT") {
            self.environment = v;
        }
        self
    }

    /// Embedded (no Redis) or Redis mode.
    pub fn mode(&self) -> &'static str {
        if self.redis_url.trim().is_empty() {
            "embedded"
        } else {
            "redis"
        }
    }

    /// Checks every field; the first problem is reported with its field.
    pub fn validate(&self) -> Result<(), CommandError> {
        let op = self.operator.trim();
        if op.chars().count() > 64 || op.chars().any(char::is_control) {
            return Err(CommandError::field(
                "operator",
                "the operator's name is at most 64 characters, on one line",
            ));
        }
        if !self.redis_url.trim().is_empty() {
            validate_redis_url(&self.redis_url)
                .map_err(|e| CommandError::field("redisUrl", e.message()))?;
        }
        let db = self.database_url.trim();
        let known_scheme = ["postgres://", "postgresql://", "sqlite:"]
            .iter()
            .any(|p| db.starts_with(p));
        if !db.is_empty() && !known_scheme {
            return Err(CommandError::field(
                "databaseUrl",
                "database URL must start with postgres://, postgresql:// or sqlite:// (empty: the built-in SQLite file)",
            ));
        }
        match url::Url::parse(self.polygon_base_url.trim()) {
            Ok(u) if matches!(u.scheme(), "http" | "https") && u.host_str().is_some() => {}
            _ => {
                return Err(CommandError::field(
                    "polygonBaseUrl",
                    "Polygon base URL must be an http:// or https:// address, e.g. https://api.polygon.io",
                ))
            }
        }
        if self.requests_per_minute > 100_000 {
            return Err(CommandError::field(
                "requestsPerMinute",
                "requests per minute must be between 0 (unlimited) and 100000",
            ));
        }
        if !(1..=16).contains(&self.worker_concurrency) {
            return Err(CommandError::field(
                "workerConcurrency",
                "worker concurrency must be between 1 and 16",
            ));
        }
        tickstock_jobs::runtime::normalise_environment(&self.environment)
            .map_err(|e| CommandError::field("environment", e.to_string()))?;
        let ns = self.namespace.trim();
        if ns.len() > 64 || ns.chars().any(|c| c.is_whitespace()) {
            return Err(CommandError::field(
                "namespace",
                "namespace must be at most 64 characters without spaces",
            ));
        }
        Ok(())
    }

    /// A copy safe to show: passwords in URLs replaced by `***`.
    pub fn redacted(&self) -> AppSettings {
        let mut s = self.clone();
        if !s.redis_url.is_empty() {
            s.redis_url = redact_url(&s.redis_url);
        }
        if !s.database_url.is_empty() {
            s.database_url = redact_url(&s.database_url);
        }
        s
    }

    /// `self` with every field named in `overridden` (environment variables that win over
    /// stored settings) put back to its stored value: the page shows the variable's value
    /// read only, and it is never written into the settings file.
    pub fn keep_stored(mut self, stored: &AppSettings, overridden: &[&str]) -> AppSettings {
        for var in overridden {
            match *var {
                "TICKSTOCK_REDIS_URL" => self.redis_url = stored.redis_url.clone(),
                "TICKSTOCK_NAMESPACE" => self.namespace = stored.namespace.clone(),
                "TICKSTOCK_DATABASE_URL" => self.database_url = stored.database_url.clone(),
                "POLYGON_BASE_URL" => self.polygon_base_url = stored.polygon_base_url.clone(),
                "POLYGON_RPM" => self.requests_per_minute = stored.requests_per_minute,
                "TICKSTOCK_WORKER" => self.worker_enabled = stored.worker_enabled,
                "TICKSTOCK_WORKER_CONCURRENCY" => {
                    self.worker_concurrency = stored.worker_concurrency
                }
                "TICKSTOCK_PUBLISH_LEGACY" => self.publish_legacy = stored.publish_legacy,
                "TICKSTOCK_ENVIRONMENT" => self.environment = stored.environment.clone(),
                _ => {}
            }
        }
        self
    }

    /// The environment variables in [`ENV_OVERRIDES`] that are set now.
    pub fn overridden_now() -> Vec<&'static str> {
        ENV_OVERRIDES
            .iter()
            .copied()
            .filter(|v| std::env::var_os(v).is_some())
            .collect()
    }

    /// Takes edited settings from the page: a URL whose password reads `***` keeps the
    /// stored password (the page never sees it).
    pub fn merge_from_page(&self, mut incoming: AppSettings) -> AppSettings {
        incoming.redis_url = keep_password(&incoming.redis_url, &self.redis_url);
        incoming.database_url = keep_password(&incoming.database_url, &self.database_url);
        incoming
    }
}

/// `new` with a `***` password takes the password of `old` (same URL otherwise).
pub fn keep_password(new: &str, old: &str) -> String {
    let (Ok(mut n), Ok(o)) = (url::Url::parse(new.trim()), url::Url::parse(old.trim())) else {
        return new.trim().to_string();
    };
    if n.password() == Some("***") {
        let _ = n.set_password(o.password());
    }
    n.to_string()
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_validated_by_name() {
        let mut s = AppSettings::default();
        assert!(s.validate().is_ok());
        s.redis_url = "http://x".into();
        assert_eq!(s.validate().unwrap_err().field.as_deref(), Some("redisUrl"));
        s.redis_url.clear();
        s.worker_concurrency = 0;
        assert_eq!(
            s.validate().unwrap_err().field.as_deref(),
            Some("workerConcurrency")
        );
        s.worker_concurrency = 1;
        s.polygon_base_url = "ftp://x".into();
        assert_eq!(
            s.validate().unwrap_err().field.as_deref(),
            Some("polygonBaseUrl")
        );
    }

    #[test]
    fn overridden_values_are_never_stored() {
        let stored = AppSettings {
            redis_url: "redis://stored:6379".into(),
            requests_per_minute: 5,
            ..AppSettings::default()
        };
        let from_page = AppSettings {
            redis_url: "redis://from-env:6379".into(),
            requests_per_minute: 100,
            database_url: "sqlite:///tmp/x.db".into(),
            ..AppSettings::default()
        };
        let kept = from_page.keep_stored(&stored, &["TICKSTOCK_REDIS_URL", "POLYGON_RPM"]);
        assert_eq!(kept.redis_url, "redis://stored:6379");
        assert_eq!(kept.requests_per_minute, 5);
        assert_eq!(
            kept.database_url, "sqlite:///tmp/x.db",
            "not overridden: edited"
        );
    }

    #[test]
    fn passwords_are_hidden_and_kept() {
        let stored = AppSettings {
            redis_url: "redis://:s3cret@h:6379/0".into(),
            ..Default::default()
        };
        let shown = stored.redacted();
        assert!(!shown.redis_url.contains("s3cret"));
        let back = stored.merge_from_page(shown);
        assert_eq!(back.redis_url, "redis://:s3cret@h:6379/0");
    }
}
