//! Errors at the command boundary: `{kind, message, field?}` so the page can react to the
//! kind and put the message under the right field. Messages come from the core, which
//! keeps secrets out of them.

use serde::Serialize;
use tickstock_core::job::FieldError;
use tickstock_core::{Error, ErrorKind};

/// What a failed command returns to the page.
#[derive(Debug, Clone, Serialize, thiserror::Error)]
#[error("{message}")]
pub struct CommandError {
    pub kind: ErrorKind,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

impl CommandError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        CommandError {
            kind,
            message: message.into(),
            field: None,
        }
    }

    /// Bad input in one field.
    pub fn field(field: &str, message: impl Into<String>) -> Self {
        CommandError {
            kind: ErrorKind::InvalidInput,
            message: message.into(),
            field: Some(field.to_string()),
        }
    }
}

impl From<Error> for CommandError {
    fn from(e: Error) -> Self {
        CommandError::new(e.kind(), e.message())
    }
}

impl From<tickstock_core::store::StoreError> for CommandError {
    fn from(e: tickstock_core::store::StoreError) -> Self {
        Error::from(e).into()
    }
}

impl From<Vec<FieldError>> for CommandError {
    fn from(errors: Vec<FieldError>) -> Self {
        let first = errors.first();
        CommandError {
            kind: ErrorKind::InvalidInput,
            message: errors
                .iter()
                .map(|e| e.message.as_str())
                .collect::<Vec<_>>()
                .join("; "),
            field: first.map(|e| e.field.to_string()),
        }
    }
}

pub type CmdResult<T> = Result<T, CommandError>;
