//! The errors of the Polygon client. Each message names what was asked for (ticker,
//! timeframe, dates or endpoint) and, for refusals, quotes the server's own words. The API
//! key is scrubbed from every server text before it is kept, and never put anywhere else.

use tickstock_protocol::error::{Error, ErrorKind};

/// Why a Polygon request failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolygonError {
    /// 401: the key is unknown or missing. Permanent.
    #[error("Polygon rejected the API key (HTTP 401): {message}")]
    Unauthorized { message: String },
    /// 403: the plan does not include this data. Permanent for this request.
    #[error("Polygon plan does not include this data (HTTP 403): {message}")]
    NotEntitled { message: String },
    /// 404: unknown ticker or resource. Permanent.
    #[error("not found on Polygon (HTTP 404): {message}")]
    NotFound { message: String },
    /// 429 that outlived every retry.
    #[error("Polygon rate limit exceeded (HTTP 429): {message}")]
    RateLimited { message: String },
    /// 5xx (or a gateway's HTML page) that outlived every retry.
    #[error("Polygon server error (HTTP {status}): {message}")]
    Server { status: u16, message: String },
    /// Another 4xx answer (bad request): permanent.
    #[error("Polygon refused the request (HTTP {status}): {message}")]
    Rejected { status: u16, message: String },
    /// Connection refused or reset, DNS failure, timeout.
    #[error("could not reach Polygon: {message}")]
    Network { message: String },
    /// Several requests in a row could not reach Polygon: it is down or cut off, and a
    /// job stops rather than retrying each symbol. `since` is the local time of the first
    /// failure of the run, `cause` a short reason ("connection refused").
    #[error("Polygon unreachable since {since} ({cause})")]
    Unreachable { since: String, cause: String },
    /// A body that is not the expected JSON (truncated, malformed, unknown status).
    #[error("unreadable Polygon response: {message}")]
    Decode { message: String },
    /// Polygon's paging stopped making progress (a known upstream bug): a `next_url` it
    /// had already sent, a `next_url` whose range does not move forward, or one empty
    /// page after another. Following it would loop forever. `message` names the ticker
    /// (or listing) and says which of these happened.
    #[error("{message}")]
    PagingLoop { ticker: String, message: String },
    /// The client's settings are unusable (base URL, key).
    #[error("invalid Polygon settings: {message}")]
    InvalidConfig { message: String },
}

impl PolygonError {
    /// Whether this error ends a whole job, not one symbol: the key was refused, or
    /// Polygon cannot be reached at all.
    pub fn stops_the_job(&self) -> bool {
        matches!(
            self,
            PolygonError::Unauthorized { .. } | PolygonError::Unreachable { .. }
        )
    }

    /// Whether the same request may succeed if sent again later.
    pub fn is_retryable(&self) -> bool {
        match self {
            PolygonError::RateLimited { .. }
            | PolygonError::Network { .. }
            | PolygonError::Decode { .. } => true,
            PolygonError::Server { status, .. } => *status >= 500 || *status == 408,
            PolygonError::Unauthorized { .. }
            | PolygonError::NotEntitled { .. }
            | PolygonError::NotFound { .. }
            | PolygonError::Rejected { .. }
            | PolygonError::PagingLoop { .. }
            | PolygonError::Unreachable { .. }
            | PolygonError::InvalidConfig { .. } => false,
        }
    }

    /// A stable snake_case name for the variant (logs, job results, UI badges).
    pub fn kind_name(&self) -> &'static str {
        match self {
            PolygonError::Unauthorized { .. } => "unauthorized",
            PolygonError::NotEntitled { .. } => "not_entitled",
            PolygonError::NotFound { .. } => "not_found",
            PolygonError::RateLimited { .. } => "rate_limited",
            PolygonError::Server { .. } => "server",
            PolygonError::Rejected { .. } => "rejected",
            PolygonError::Network { .. } => "network",
            PolygonError::Unreachable { .. } => "unreachable",
            PolygonError::Decode { .. } => "decode",
            PolygonError::PagingLoop { .. } => "paging_loop",
            PolygonError::InvalidConfig { .. } => "invalid_config",
        }
    }

    /// The HTTP status the error came from, when it came from one.
    pub fn http_status(&self) -> Option<u16> {
        match self {
            PolygonError::Unauthorized { .. } => Some(401),
            PolygonError::NotEntitled { .. } => Some(403),
            PolygonError::NotFound { .. } => Some(404),
            PolygonError::RateLimited { .. } => Some(429),
            PolygonError::Server { status, .. } | PolygonError::Rejected { status, .. } => {
                Some(*status)
            }
            _ => None,
        }
    }

    /// Appends `suffix` to the message (used to say how many attempts were made).
    pub(crate) fn with_suffix(mut self, suffix: &str) -> Self {
        match &mut self {
            PolygonError::Unauthorized { message }
            | PolygonError::NotEntitled { message }
            | PolygonError::NotFound { message }
            | PolygonError::RateLimited { message }
            | PolygonError::Server { message, .. }
            | PolygonError::Rejected { message, .. }
            | PolygonError::Network { message }
            | PolygonError::Decode { message }
            | PolygonError::InvalidConfig { message }
            | PolygonError::PagingLoop { message, .. } => message.push_str(suffix),
            PolygonError::Unreachable { .. } => {}
        }
        self
    }
}

impl From<PolygonError> for Error {
    fn from(e: PolygonError) -> Self {
        let kind = match e {
            PolygonError::InvalidConfig { .. } => ErrorKind::Config,
            _ => ErrorKind::Polygon,
        };
        Error::new(kind, e.to_string()).retryable_if(e.is_retryable())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permanent_and_retryable_errors_are_told_apart() {
        let perm = [
            PolygonError::Unauthorized {
                message: "x".into(),
            },
            PolygonError::NotEntitled {
                message: "x".into(),
            },
            PolygonError::NotFound {
                message: "x".into(),
            },
            PolygonError::Rejected {
                status: 400,
                message: "x".into(),
            },
            PolygonError::PagingLoop {
                ticker: "A".into(),
                message: "x".into(),
            },
        ];
        for e in perm {
            assert!(!e.is_retryable(), "{e}");
            let core: Error = e.into();
            assert_eq!(core.kind(), ErrorKind::Polygon);
            assert!(!core.is_retryable());
        }
        let retry = [
            PolygonError::RateLimited {
                message: "x".into(),
            },
            PolygonError::Server {
                status: 502,
                message: "x".into(),
            },
            PolygonError::Network {
                message: "x".into(),
            },
            PolygonError::Decode {
                message: "x".into(),
            },
        ];
        for e in retry {
            assert!(e.is_retryable(), "{e}");
            let core: Error = e.into();
            assert!(core.is_retryable());
        }
    }

    #[test]
    fn display_names_the_status_and_keeps_the_server_words() {
        let e = PolygonError::Unauthorized {
            message: "AAPL day: Unknown API Key".into(),
        };
        assert_eq!(
            e.to_string(),
            "Polygon rejected the API key (HTTP 401): AAPL day: Unknown API Key"
        );
        assert_eq!(e.kind_name(), "unauthorized");
        assert_eq!(e.http_status(), Some(401));
        let e = PolygonError::InvalidConfig {
            message: "bad".into(),
        };
        assert_eq!(Error::from(e).kind(), ErrorKind::Config);
    }
}
