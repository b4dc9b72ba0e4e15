//! Errors at the command boundary: `{kind, message, field?}` so the page can react to the
//! kind and put the message under the right field. Messages come from the core, which
//! keeps secrets out of them.

use serde::Serialize;
use tickstock_protocol::job::FieldError;
use tickstock_protocol::{Error, ErrorKind};

/// What a failed command returns to the page.
#[derive(Debug, Clone, Serialize, thiserror::Error)]
#[error("{message}")]
pub struct CommandError {
    pub kind: ErrorKind,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

/// A message as the page shows it: a sentence that starts with a capital, input quoted
/// with double quotes (the core's messages, written for logs and the terminal too, may
/// start in lower case and quote with backticks).
pub fn sentence(message: &str) -> String {
    let text = message.trim().replace('`', "\"");
    let mut chars = text.chars();
    match chars.next() {
        Some(c) if c.is_lowercase() => c.to_uppercase().chain(chars).collect(),
        _ => text,
    }
}

impl CommandError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        CommandError {
            kind,
            message: sentence(&message.into()),
            field: None,
        }
    }

    /// Bad input in one field.
    pub fn field(field: &str, message: impl Into<String>) -> Self {
        CommandError {
            kind: ErrorKind::InvalidInput,
            message: sentence(&message.into()),
            field: Some(field.to_string()),
        }
    }
}

impl From<Error> for CommandError {
    fn from(e: Error) -> Self {
        CommandError::new(e.kind(), e.message())
    }
}

impl From<tickstock_jobs::runtime::StoreError> for CommandError {
    fn from(e: tickstock_jobs::runtime::StoreError) -> Self {
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
                .map(|e| sentence(&e.message))
                .collect::<Vec<_>>()
                .join("; "),
            field: first.map(|e| e.field.to_string()),
        }
    }
}

pub type CmdResult<T> = Result<T, CommandError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_read_as_sentences() {
        assert_eq!(
            sentence("symbol `123!!` is not a valid ticker"),
            "Symbol \"123!!\" is not a valid ticker"
        );
        assert_eq!(sentence("Already fine"), "Already fine");
        assert_eq!(
            CommandError::new(ErrorKind::NotFound, "no job `abc` in the history").message,
            "No job \"abc\" in the history"
        );
    }
}
