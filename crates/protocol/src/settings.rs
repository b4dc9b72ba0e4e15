//! Typed settings shared by the CLI, the worker and the app. Secrets (the Redis URL's
//! password, the database password, the Polygon API key) are held in `SecretString` so they
//! cannot be printed by accident; [`redact_url`] gives the form that may be shown.

use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};

/// Default Redis URL.
pub const DEFAULT_REDIS_URL: &str = "redis://127.0.0.1:6379";
/// Default Polygon base URL.
pub const DEFAULT_POLYGON_URL: &str = "https://api.polygon.io";

/// How to reach the Redis job bus.
#[derive(Debug, Clone)]
pub struct BusConfig {
    /// `redis://[user:password@]host:port[/db]` or `rediss://` for TLS.
    pub url: SecretString,
    /// Prefix for every key and channel (empty = production names).
    pub namespace: String,
    /// Also publish each job on the legacy pub/sub channel for TickStockPL workers.
    pub publish_legacy: bool,
    /// How long to wait for a connection before giving up.
    pub connect_timeout: Duration,
    /// How long to wait for any answer.
    pub response_timeout: Duration,
}

impl BusConfig {
    pub fn new(url: impl Into<String>) -> BusConfig {
        BusConfig {
            url: SecretString::from(url.into()),
            namespace: String::new(),
            publish_legacy: true,
            connect_timeout: Duration::from_secs(3),
            response_timeout: Duration::from_secs(10),
        }
    }

    pub fn with_namespace(mut self, ns: impl Into<String>) -> Self {
        self.namespace = ns.into();
        self
    }

    pub fn with_publish_legacy(mut self, on: bool) -> Self {
        self.publish_legacy = on;
        self
    }

    /// The URL with any password replaced by `***`: safe for logs and messages.
    pub fn redacted_url(&self) -> String {
        redact_url(self.url.expose_secret())
    }
}

/// Replaces the password (and only the password) of a URL with `***`. Text that does not
/// parse as a URL is reduced to its scheme so nothing secret can slip through.
pub fn redact_url(raw: &str) -> String {
    match url::Url::parse(raw) {
        Ok(mut u) => {
            if u.password().is_some() {
                let _ = u.set_password(Some("***"));
            }
            // Query strings may carry keys (`?apiKey=`, `?password=`).
            if u.query().is_some() {
                u.set_query(Some("***"));
            }
            u.to_string()
        }
        Err(_) => match raw.split_once("://") {
            Some((scheme, _)) => format!("{scheme}://***"),
            None => "***".to_string(),
        },
    }
}

/// Checks that a Redis URL has a scheme the client understands; the message names the
/// problem without repeating the URL (it may hold a password).
pub fn validate_redis_url(raw: &str) -> crate::Result<()> {
    let u = url::Url::parse(raw.trim())
        .map_err(|e| crate::Error::invalid(format!("Redis URL is not a URL ({e})")))?;
    match u.scheme() {
        "redis" | "rediss" | "redis+unix" | "unix" => {}
        other => {
            return Err(crate::Error::invalid(format!(
                "Redis URL scheme `{other}` is not supported (use redis:// or rediss://)"
            )))
        }
    }
    if u.scheme().starts_with("redis") && u.host_str().unwrap_or("").is_empty() {
        return Err(crate::Error::invalid("Redis URL has no host"));
    }
    Ok(())
}

/// Reads a secret for a one-off use (connection); keep the exposure local.
pub fn expose(s: &SecretString) -> &str {
    s.expose_secret()
}

/// The OS user running this process (`USER`, `USERNAME`, else the account's name): who
/// an operator's jobs are `requested_by` unless a name is set.
pub fn os_user() -> Option<String> {
    ["USER", "USERNAME"]
        .iter()
        .filter_map(|k| std::env::var(k).ok())
        .map(|u| u.trim().to_string())
        .find(|u| !u.is_empty())
        .or_else(|| whoami::fallible::username().ok())
        .filter(|u| !u.trim().is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_survive_redaction() {
        assert_eq!(
            redact_url("redis://user:s3cret@host:6380/2"),
            "redis://user:***@host:6380/2"
        );
        assert_eq!(redact_url("rediss://:s3cret@host"), "rediss://:***@host");
        assert_eq!(
            redact_url("redis://127.0.0.1:6379"),
            "redis://127.0.0.1:6379"
        );
        assert!(!redact_url("postgres://u:pw@h/db?password=pw").contains("pw@"));
        assert!(!redact_url("not a url with s3cret").contains("s3cret"));
        let cfg = BusConfig::new("redis://a:topsecret@h:1");
        assert!(!format!("{cfg:?}").contains("topsecret"));
        assert!(!cfg.redacted_url().contains("topsecret"));
    }

    #[test]
    fn redis_url_validation_names_the_problem() {
        assert!(validate_redis_url("redis://127.0.0.1:6379").is_ok());
        assert!(validate_redis_url("rediss://u:p@h:6380").is_ok());
        let e = validate_redis_url("http://h").unwrap_err();
        assert!(e.message().contains("scheme `http`"));
        assert!(validate_redis_url("nonsense").is_err());
    }
}
