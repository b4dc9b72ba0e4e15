//! One request to Polygon and its retries: the rate limit spent, the key sent in the
//! Bearer header, the answer classified into a typed result or a [`PolygonError`] (the
//! server's own words, the key scrubbed), retried with backoff while it may go away, and
//! consecutive connection failures counted until Polygon is declared unreachable.

use std::sync::atomic::Ordering;
use std::time::Duration;

use secrecy::ExposeSecret;
use serde::de::DeserializeOwned;
use url::Url;

use super::{Outage, PolygonClient, UNREACHABLE_AFTER};
use crate::polygon::errors::PolygonError;
use crate::polygon::retry;
use crate::polygon::types::{
    status_is_success, AggsResponse, DetailsResponse, ErrorBody, GroupedResponse, ListResponse,
};

/// A short cause for a connection failure, from its message.
fn network_cause(message: &str) -> String {
    let m = message.to_ascii_lowercase();
    if m.contains("refused") {
        "connection refused"
    } else if m.contains("timed out") || m.contains("timeout") {
        "timed out"
    } else if m.contains("dns") || m.contains("lookup") || m.contains("resolve") {
        "host name not resolved"
    } else if m.contains("reset") || m.contains("broke") {
        "connection reset"
    } else {
        "could not connect"
    }
    .to_string()
}

/// What one attempt produced when it failed: the error and the server's `Retry-After`.
struct Failure {
    error: PolygonError,
    retry_after: Option<Duration>,
}

impl From<PolygonError> for Failure {
    fn from(error: PolygonError) -> Self {
        Failure {
            error,
            retry_after: None,
        }
    }
}

/// Envelopes whose `status` field decides success.
pub(crate) trait Envelope {
    fn status(&self) -> &str;
}

impl Envelope for AggsResponse {
    fn status(&self) -> &str {
        &self.status
    }
}
impl Envelope for GroupedResponse {
    fn status(&self) -> &str {
        &self.status
    }
}
impl<T> Envelope for ListResponse<T> {
    fn status(&self) -> &str {
        &self.status
    }
}
impl Envelope for DetailsResponse {
    fn status(&self) -> &str {
        &self.status
    }
}

impl PolygonClient {
    /// GETs `url` and decodes an OK/DELAYED envelope, retrying what may go away.
    pub(crate) async fn get_json<T>(&self, url: &Url, what: &str) -> Result<T, PolygonError>
    where
        T: DeserializeOwned + Envelope,
    {
        let mut retries = 0u32;
        let mut rate_limited = 0u32;
        let mut server_failures = 0u32;
        loop {
            let failure = match self.attempt::<T>(url, what).await {
                Ok(v) => {
                    self.note_reached();
                    return Ok(v);
                }
                Err(f) => f,
            };
            let err = failure.error;
            if let PolygonError::Network { message } = &err {
                if let Some(down) = self.note_unreachable(message) {
                    tracing::warn!(path = url.path(), error = %down, "Polygon request failed");
                    return Err(down);
                }
            } else {
                // Any answer, even an error page, means Polygon can be reached.
                self.note_reached();
            }
            if !err.is_retryable() || retries >= self.inner.max_retries {
                let attempts = retries + 1;
                let err = if attempts > 1 {
                    err.with_suffix(&format!(" (gave up after {attempts} attempts)"))
                } else {
                    err
                };
                tracing::warn!(path = url.path(), error = %err, "Polygon request failed");
                return Err(err);
            }
            let delay = if matches!(err, PolygonError::RateLimited { .. }) {
                let d = retry::rate_limited_delay(
                    rate_limited,
                    failure.retry_after,
                    self.inner.max_backoff,
                );
                rate_limited += 1;
                // Every process on the key holds back as long as this one.
                self.inner.limiter.note_rate_limited(d).await;
                d
            } else {
                let d = retry::server_delay(server_failures, self.inner.max_backoff);
                server_failures += 1;
                d
            };
            retries += 1;
            tracing::warn!(
                path = url.path(),
                error = %err,
                retry = retries,
                max_retries = self.inner.max_retries,
                delay_ms = delay.as_millis() as u64,
                "Polygon request failed; retrying"
            );
            tokio::time::sleep(delay).await;
        }
    }

    fn note_reached(&self) {
        let mut o = self.inner.outage.lock().expect("outage lock");
        if o.take().is_some() {
            tracing::info!("Polygon reachable again");
        }
    }

    /// Counts a connection failure; once [`UNREACHABLE_AFTER`] happened in a row, the
    /// error that ends the job.
    fn note_unreachable(&self, message: &str) -> Option<PolygonError> {
        let mut guard = self.inner.outage.lock().expect("outage lock");
        let o = guard.get_or_insert_with(|| Outage {
            since: chrono::Local::now(),
            cause: network_cause(message),
            failures: 0,
        });
        o.failures += 1;
        (o.failures >= UNREACHABLE_AFTER).then(|| PolygonError::Unreachable {
            since: o.since.format("%H:%M:%S").to_string(),
            cause: o.cause.clone(),
        })
    }

    /// One HTTP exchange: rate limit, send, read, classify, decode.
    async fn attempt<T>(&self, url: &Url, what: &str) -> Result<T, Failure>
    where
        T: DeserializeOwned + Envelope,
    {
        self.inner.limiter.acquire().await;
        self.inner.sent.fetch_add(1, Ordering::Relaxed);
        if let Some(job) = &self.job {
            job.fetch_add(1, Ordering::Relaxed);
        }
        tracing::debug!(path = url.path(), what, "Polygon request");
        let resp = self
            .inner
            .http
            .get(url.clone())
            .bearer_auth(self.inner.api_key.expose_secret())
            .header(reqwest::header::ACCEPT, "application/json")
            .timeout(self.inner.request_timeout)
            .send()
            .await
            .map_err(|e| self.network_error(e, what))?;
        let status = resp.status();
        let retry_after = resp
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(retry::parse_retry_after);
        let is_html = resp
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|ct| ct.to_ascii_lowercase().contains("html"));
        let body = resp
            .bytes()
            .await
            .map_err(|e| self.network_error(e, what))?;

        if status.is_success() {
            if is_html || looks_like_html(&body) {
                return Err(PolygonError::Decode {
                    message: format!("{what}: HTTP {status} with an HTML page instead of JSON"),
                }
                .into());
            }
            let env: T = serde_json::from_slice(&body).map_err(|e| PolygonError::Decode {
                message: format!(
                    "{what}: malformed JSON ({e}; {} bytes received)",
                    body.len()
                ),
            })?;
            return match env.status() {
                s if status_is_success(s) => Ok(env),
                "NOT_FOUND" => Err(PolygonError::NotFound {
                    message: format!("{what}: status NOT_FOUND"),
                }
                .into()),
                "NOT_AUTHORIZED" => Err(PolygonError::NotEntitled {
                    message: format!("{what}: status NOT_AUTHORIZED"),
                }
                .into()),
                other => Err(PolygonError::Decode {
                    message: format!(
                        "{what}: unexpected status `{}` in a {status} answer",
                        truncate(&self.scrub(other), 40)
                    ),
                }
                .into()),
            };
        }

        let text = self.server_text(&body, is_html);
        let message = format!("{what}: {text}");
        let code = status.as_u16();
        let error = match code {
            401 => PolygonError::Unauthorized { message },
            403 => PolygonError::NotEntitled { message },
            404 => PolygonError::NotFound { message },
            429 => PolygonError::RateLimited { message },
            // Polygon answers in place; a redirect (to another host, say) is not followed:
            // its answer would be read as this request's.
            300..=399 => PolygonError::Rejected {
                status: code,
                message: format!(
                    "{what}: a redirect (HTTP {code}) to another address, not followed"
                ),
            },
            408 | 500..=599 => PolygonError::Server {
                status: code,
                message,
            },
            _ => PolygonError::Rejected {
                status: code,
                message,
            },
        };
        Err(Failure { error, retry_after })
    }

    /// The server's own words from an error body: `error` or `message` of a JSON body,
    /// a note for an HTML page, or the start of any other text. The key is scrubbed.
    pub(crate) fn server_text(&self, body: &[u8], is_html: bool) -> String {
        if body.iter().all(u8::is_ascii_whitespace) {
            return "empty body".to_string();
        }
        if is_html || looks_like_html(body) {
            return "the server sent an HTML error page instead of JSON".to_string();
        }
        if let Ok(eb) = serde_json::from_slice::<ErrorBody>(body) {
            if let Some(t) = eb.error.or(eb.message).filter(|t| !t.trim().is_empty()) {
                return truncate(&self.scrub(t.trim()), 300);
            }
            if let Some(s) = eb.status {
                return format!("status {}", truncate(&self.scrub(&s), 40));
            }
        }
        let text = String::from_utf8_lossy(body);
        truncate(&self.scrub(text.trim()), 200)
    }

    fn network_error(&self, e: reqwest::Error, what: &str) -> Failure {
        let e = e.without_url();
        let kind = if e.is_timeout() {
            format!(
                "timed out after {:.1} s",
                self.inner.request_timeout.as_secs_f64()
            )
        } else if e.is_connect() {
            "could not connect".to_string()
        } else if e.is_body() || e.is_decode() {
            "the connection broke while reading the answer".to_string()
        } else {
            "the request failed".to_string()
        };
        let mut chain = Vec::new();
        let mut src: Option<&dyn std::error::Error> = std::error::Error::source(&e);
        while let Some(s) = src {
            chain.push(s.to_string());
            src = s.source();
        }
        let detail = if chain.is_empty() {
            String::new()
        } else {
            format!(" ({})", chain.join(": "))
        };
        PolygonError::Network {
            message: self.scrub(&format!("{what}: {kind}{detail}")),
        }
        .into()
    }

    /// Replaces the API key with `[REDACTED]` wherever it appears in `text`, in any
    /// letter case. Runs before any truncation, so no part of a key survives a cut.
    fn scrub(&self, text: &str) -> String {
        scrub_key(text, self.inner.api_key.expose_secret())
    }
}

/// `text` with every occurrence of `key` (ASCII case ignored) replaced by `[REDACTED]`.
fn scrub_key(text: &str, key: &str) -> String {
    if key.len() < 4 {
        return text.to_string();
    }
    let hay = text.to_ascii_lowercase();
    let needle = key.to_ascii_lowercase();
    // ASCII lower-casing keeps byte offsets, so matches index `text` directly.
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    while let Some(pos) = hay[at..].find(&needle) {
        out.push_str(&text[at..at + pos]);
        out.push_str("[REDACTED]");
        at += pos + needle.len();
    }
    out.push_str(&text[at..]);
    out
}

fn looks_like_html(body: &[u8]) -> bool {
    let start = body
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(body.len());
    body[start..].first() == Some(&b'<')
}

fn truncate(s: &str, max_chars: usize) -> String {
    if s.chars().count() <= max_chars {
        s.to_string()
    } else {
        let cut: String = s.chars().take(max_chars).collect();
        format!("{cut}...")
    }
}

#[cfg(test)]
mod tests {
    use super::super::PolygonConfig;
    use super::*;
    use secrecy::SecretString;

    fn client(base: &str) -> PolygonClient {
        PolygonClient::new(PolygonConfig::new(base, SecretString::from("sekrit-key"))).unwrap()
    }

    #[test]
    fn the_key_is_scrubbed_in_any_case_before_truncation() {
        let c = client("http://127.0.0.1:9/");
        let key = "sekrit-key";
        for echoed in [
            key.to_string(),
            key.to_ascii_uppercase(),
            "SeKrIt-KeY".into(),
        ] {
            let body = format!(r#"{{"error":"bad key {echoed} given"}}"#);
            let text = c.server_text(body.as_bytes(), false);
            assert!(text.contains("[REDACTED]"), "{text}");
            assert!(!text.to_ascii_lowercase().contains("sekrit"), "{text}");
        }
        // The key straddling the cut: nothing of it may be left.
        let body = format!("{}{key}", "x".repeat(195));
        let text = c.server_text(body.as_bytes(), false);
        assert!(!text.contains("sekr"), "{text}");
        assert_eq!(scrub_key("a ÄÖ KEYX b", "keyx"), "a ÄÖ [REDACTED] b");
    }

    #[test]
    fn server_text_prefers_the_servers_words_and_scrubs_the_key() {
        let c = client("http://127.0.0.1:9");
        assert_eq!(
            c.server_text(br#"{"status":"ERROR","error":"Unknown API Key"}"#, false),
            "Unknown API Key"
        );
        assert_eq!(
            c.server_text(
                br#"{"status":"NOT_AUTHORIZED","message":"You are not entitled"}"#,
                false
            ),
            "You are not entitled"
        );
        assert!(c
            .server_text(b"<html><body>502 Bad Gateway</body></html>", false)
            .contains("HTML"));
        assert_eq!(c.server_text(b"", false), "empty body");
        assert_eq!(
            c.server_text(b"bad key sekrit-key here", false),
            "bad key [REDACTED] here"
        );
    }
}
