//! The bus's own failures, beside the store's and Polygon's errors: each says what went
//! wrong in words a user can act on, and converts into the core's [`Error`] with its kind
//! (a bad URL is a setting; an id in use is input; a lost stream group may pass).

use tickstock_protocol::error::{quote_input, Error, ErrorKind};

/// Why a bus operation failed.
#[derive(Debug, thiserror::Error)]
pub enum BusError {
    /// The Redis URL cannot be parsed or names an unsupported scheme. `url` is redacted.
    #[error("Redis URL {url} is not usable: {reason}")]
    BadUrl { url: String, reason: String },
    /// Redis did not accept a connection in time. `url` is redacted.
    #[error("Redis at {url}: connection timed out")]
    ConnectTimeout { url: String },
    /// Redis refused the connection or its handshake. `url` is redacted.
    #[error("Redis at {url}: {message}")]
    Connect { url: String, message: String },
    /// A job id is empty.
    #[error("job id is empty")]
    EmptyJobId,
    /// A new job names an id another job already has.
    #[error("job id {} is already in use", quote_input(.job_id))]
    IdInUse { job_id: String },
    /// A job message is larger than the bus accepts.
    #[error("the job message would be {size} bytes, more than the limit of {limit}")]
    MessageTooLarge { size: usize, limit: usize },
    /// No status is known for the job.
    #[error("no job `{job_id}` (unknown, or its status expired)")]
    UnknownJob { job_id: String },
    /// A job's status keys changed under every compare-and-set attempt of a final write.
    #[error("the status of job `{job_id}` kept changing; its final state was not written")]
    FinalStatusContended { job_id: String },
    /// A job's status keys changed under every compare-and-set attempt of a cancel (its
    /// cancel flag is set, so its worker still stops it).
    #[error("job `{job_id}` kept changing; cancel flag is set, the worker will stop it")]
    CancelContended { job_id: String },
    /// The job stream or its consumer group does not exist (Redis restarted empty, a
    /// failover, `FLUSHALL`) or was deleted under a blocked read.
    #[error("the job stream or its consumer group is gone (Redis restarted empty?)")]
    GroupGone,
    /// The subscription to the legacy channels ended.
    #[error("the subscription to the legacy channels was closed")]
    SubscriptionClosed,
    /// Redis answered with an error or could not be reached.
    #[error(transparent)]
    Redis(#[from] redis::RedisError),
}

impl BusError {
    /// Reads a reply error: a missing stream or group becomes [`BusError::GroupGone`].
    pub(crate) fn from_stream(e: redis::RedisError) -> Self {
        // UNBLOCKED: the stream was deleted while a read waited on it.
        if matches!(e.code(), Some("NOGROUP" | "UNBLOCKED")) {
            BusError::GroupGone
        } else {
            BusError::Redis(e)
        }
    }
}

impl From<BusError> for Error {
    fn from(e: BusError) -> Self {
        // Redis's own errors keep their wording and their retryable classification.
        let e = match e {
            BusError::Redis(r) => return Error::from(r),
            other => other,
        };
        let (kind, retryable) = match &e {
            BusError::Redis(_) => unreachable!("converted above"),
            BusError::BadUrl { .. } => (ErrorKind::Config, false),
            BusError::ConnectTimeout { .. } | BusError::Connect { .. } => (ErrorKind::Redis, true),
            BusError::EmptyJobId | BusError::IdInUse { .. } | BusError::MessageTooLarge { .. } => {
                (ErrorKind::InvalidInput, false)
            }
            BusError::UnknownJob { .. } => (ErrorKind::NotFound, false),
            BusError::FinalStatusContended { .. }
            | BusError::GroupGone
            | BusError::SubscriptionClosed => (ErrorKind::Redis, true),
            BusError::CancelContended { .. } => (ErrorKind::Redis, false),
        };
        Error::new(kind, e.to_string()).retryable_if(retryable)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_failure_has_its_kind() {
        let cases = [
            (
                BusError::BadUrl {
                    url: "redis://h".into(),
                    reason: "invalid URL".into(),
                },
                ErrorKind::Config,
                false,
            ),
            (
                BusError::IdInUse {
                    job_id: "a".repeat(40),
                },
                ErrorKind::InvalidInput,
                false,
            ),
            (
                BusError::UnknownJob { job_id: "x".into() },
                ErrorKind::NotFound,
                false,
            ),
            (BusError::GroupGone, ErrorKind::Redis, true),
            (
                BusError::ConnectTimeout {
                    url: "redis://h".into(),
                },
                ErrorKind::Redis,
                true,
            ),
        ];
        for (bus, kind, retryable) in cases {
            let text = bus.to_string();
            let e = Error::from(bus);
            assert_eq!((e.kind(), e.is_retryable()), (kind, retryable), "{text}");
            assert_eq!(e.message(), text);
        }
        // A long id is never repeated in the message.
        let e = Error::from(BusError::IdInUse {
            job_id: "a".repeat(40),
        });
        assert!(!e.message().contains(&"a".repeat(40)), "{e}");
    }

    #[test]
    fn a_missing_group_is_told_from_other_replies() {
        for code in ["NOGROUP", "UNBLOCKED"] {
            let e = redis::make_extension_error(code.into(), Some("gone".into()));
            assert!(
                matches!(BusError::from_stream(e), BusError::GroupGone),
                "{code}"
            );
        }
        let other = redis::RedisError::from((redis::ErrorKind::ResponseError, "boom"));
        assert!(matches!(BusError::from_stream(other), BusError::Redis(_)));
    }
}
