//! [`StoreError`]: a storage failure, whose every message names the database as
//! [`Store::describe`](super::Store::describe) does and never carries a password or SQL
//! text, and its mapping to the core's [`Error`].

use tickstock_protocol::error::{Error, ErrorKind};

/// A storage failure. Every message names the database as
/// [`Store::describe`](super::Store::describe) does and never carries a password or SQL
/// text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// The database could not be reached (refused, timed out, connection lost).
    #[error("cannot reach {target}: {message}")]
    Connect { target: String, message: String },
    /// The database refused a statement. `retryable` for deadlocks, serialization
    /// failures and a busy SQLite file.
    #[error("{message}")]
    Query { message: String, retryable: bool },
    /// The schema could not be brought up to date.
    #[error("{message}")]
    Migrate { message: String },
    /// The input was rejected before anything was written.
    #[error("{message}")]
    Invalid { message: String },
}

impl StoreError {
    /// Whether trying the same thing again later may succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            StoreError::Connect { .. } => true,
            StoreError::Query { retryable, .. } => *retryable,
            StoreError::Migrate { .. } | StoreError::Invalid { .. } => false,
        }
    }

    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        StoreError::Invalid {
            message: message.into(),
        }
    }

    /// Classifies a driver error. `target` is the safe description of the database and
    /// `secret` a password that must not appear in the message.
    pub(crate) fn from_sqlx(e: sqlx::Error, target: &str, secret: Option<&str>) -> Self {
        let scrub = |s: String| match secret {
            Some(p) if !p.is_empty() => s.replace(p, "***"),
            _ => s,
        };
        match e {
            sqlx::Error::PoolTimedOut => StoreError::Connect {
                target: target.to_string(),
                message: "no connection could be opened in time (is the server running?)".into(),
            },
            sqlx::Error::PoolClosed => StoreError::Connect {
                target: target.to_string(),
                message: "the connection pool was closed".into(),
            },
            sqlx::Error::Io(io) => StoreError::Connect {
                target: target.to_string(),
                message: scrub(io.to_string()),
            },
            sqlx::Error::Tls(t) => StoreError::Connect {
                target: target.to_string(),
                message: scrub(format!("TLS: {t}")),
            },
            sqlx::Error::WorkerCrashed => StoreError::Connect {
                target: target.to_string(),
                message: "the database worker stopped".into(),
            },
            sqlx::Error::Database(db) => {
                let code = db.code().map(|c| c.into_owned()).unwrap_or_default();
                let text = scrub(db.message().to_string());
                // PostgreSQL connection exceptions (08xxx), shutdown and overload.
                let lost = code.starts_with("08")
                    || matches!(code.as_str(), "57P01" | "57P02" | "57P03" | "53300");
                if lost {
                    return StoreError::Connect {
                        target: target.to_string(),
                        message: text,
                    };
                }
                // Deadlock, serialization failure, lock timeout; SQLITE_BUSY / SQLITE_LOCKED
                // (and their extended codes).
                let retryable = matches!(code.as_str(), "40001" | "40P01" | "55P03")
                    || code
                        .parse::<i64>()
                        .map(|c| matches!(c & 0xff, 5 | 6))
                        .unwrap_or(false);
                let what = match code.as_str() {
                    "" => text,
                    c if is_full(c) => format!(
                        "{text} (code {c}): the disk holding the database is full (or the \
                         database reached its size limit); free space, then retry the job"
                    ),
                    c => format!("{text} (code {c})"),
                };
                StoreError::Query {
                    message: format!("{target}: {what}"),
                    retryable,
                }
            }
            sqlx::Error::RowNotFound => StoreError::Query {
                message: format!("{target}: no row returned"),
                retryable: false,
            },
            sqlx::Error::ColumnDecode { index, source } => StoreError::Query {
                message: format!(
                    "{target}: unexpected value in column {index}: {}",
                    scrub(source.to_string())
                ),
                retryable: false,
            },
            other => StoreError::Query {
                message: format!("{target}: {}", scrub(other.to_string())),
                retryable: false,
            },
        }
    }
}

/// Whether a database error code says the disk or the database is full: SQLite's
/// `SQLITE_FULL` (13; SQLite's codes are numbers of at most four digits), PostgreSQL's
/// `disk_full` (53100; its codes are five characters).
fn is_full(code: &str) -> bool {
    code == "53100" || code.len() < 5 && code.parse::<i64>().is_ok_and(|c| c & 0xff == 13)
}

impl From<StoreError> for Error {
    fn from(e: StoreError) -> Self {
        let retryable = e.is_retryable();
        let kind = match e {
            StoreError::Invalid { .. } => ErrorKind::InvalidInput,
            _ => ErrorKind::Database,
        };
        Error::new(kind, e.to_string()).retryable_if(retryable)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_disk_is_named() {
        assert!(is_full("13") && is_full("53100"));
        assert!(!is_full("5") && !is_full("23505") && !is_full("08006"));
    }

    #[test]
    fn errors_map_to_core_kinds() {
        let e: Error = StoreError::invalid("bad").into();
        assert_eq!(e.kind(), ErrorKind::InvalidInput);
        let e: Error = StoreError::Connect {
            target: "PostgreSQL at h:1/d".into(),
            message: "refused".into(),
        }
        .into();
        assert_eq!(e.kind(), ErrorKind::Database);
        assert!(e.is_retryable());
        assert!(e.message().contains("PostgreSQL at h:1/d"));
    }
}
