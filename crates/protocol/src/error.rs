//! The error type of the core. Every variant says what the caller sees; the detail that
//! would leak internals (connection strings, SQL, keys) is logged where it happens, not shown.

use serde::Serialize;

/// What went wrong, as a caller (CLI exit code, UI badge) needs to tell it apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// The input was rejected; nothing was written.
    InvalidInput,
    /// The thing asked for does not exist.
    NotFound,
    /// Redis could not be reached or answered with an error.
    Redis,
    /// The database could not be reached or refused a statement.
    Database,
    /// The Polygon API refused or failed a request.
    Polygon,
    /// A setting is missing or malformed.
    Config,
    /// The work was cancelled.
    Cancelled,
    /// Anything else: a bug or an unexpected answer.
    Internal,
}

impl ErrorKind {
    /// The stable snake_case name used in JSON output and at the UI boundary.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::InvalidInput => "invalid_input",
            ErrorKind::NotFound => "not_found",
            ErrorKind::Redis => "redis",
            ErrorKind::Database => "database",
            ErrorKind::Polygon => "polygon",
            ErrorKind::Config => "config",
            ErrorKind::Cancelled => "cancelled",
            ErrorKind::Internal => "internal",
        }
    }
}

/// The core's error: a kind and a message that is safe to show (no secrets).
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct Error {
    kind: ErrorKind,
    message: String,
    retryable: bool,
}

/// Result with the core's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// A new error. `message` must already be free of secrets.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error {
            kind,
            message: message.into(),
            retryable: false,
        }
    }

    /// Bad input; the message names the problem.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidInput, message)
    }

    /// Marks the error as one that may go away if the same thing is tried again.
    pub fn retryable(mut self) -> Self {
        self.retryable = true;
        self
    }

    /// [`Error::retryable`] when `yes`, else the error as it is.
    pub fn retryable_if(self, yes: bool) -> Self {
        if yes {
            self.retryable()
        } else {
            self
        }
    }

    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    pub fn message(&self) -> &str {
        &self.message
    }

    /// Whether trying again later may succeed (a lost connection, a timeout).
    pub fn is_retryable(&self) -> bool {
        self.retryable
    }
}

/// (With the `redis` feature, which the layers that talk to Redis enable.)
#[cfg(feature = "redis")]
impl From<redis::RedisError> for Error {
    fn from(e: redis::RedisError) -> Self {
        // RedisError's text never carries the URL or its password, only the server's words.
        let retryable = e.is_io_error()
            || e.is_connection_dropped()
            || e.is_connection_refusal()
            || e.is_timeout()
            || e.is_cluster_error();
        Error::new(ErrorKind::Redis, format!("Redis: {e}")).retryable_if(retryable)
    }
}

impl From<serde_json::Error> for Error {
    fn from(e: serde_json::Error) -> Self {
        Error::new(ErrorKind::InvalidInput, format!("malformed JSON: {e}"))
    }
}

/// How a piece of input appears in a message: `"AAPL"` when it is short and plain (in
/// double quotes, as an operator would write it; never Markdown backticks), else only its
/// length, so an error never repeats a long or odd input (a 5 MB symbol, a line of a
/// file, control characters).
pub fn quote_input(s: &str) -> String {
    const MAX: usize = 32;
    if s.len() <= MAX
        && s.chars()
            .all(|c| (c.is_ascii_graphic() && c != '"') || c == ' ')
    {
        format!("\"{s}\"")
    } else {
        format!("({} characters, not shown)", s.chars().count())
    }
}

/// A serializable view of an error for machine-readable output: `{kind, message}`.
#[derive(Debug, Clone, Serialize)]
pub struct ErrorBody {
    pub kind: ErrorKind,
    pub message: String,
}

impl From<&Error> for ErrorBody {
    fn from(e: &Error) -> Self {
        ErrorBody {
            kind: e.kind,
            message: e.message.clone(),
        }
    }
}
