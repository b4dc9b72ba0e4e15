//! The job status value stored at `job:status:{id}` (and read from
//! `tickstock.jobs.status:{id}`), in either encoding: a JSON string or a hash whose values
//! are strings. Readers accept the old status words (`error`, `pending`, `processing`);
//! unknown fields are kept.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Where a job is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    Submitted,
    Queued,
    Running,
    Completed,
    CompletedWithErrors,
    Failed,
    Cancelling,
    Cancelled,
}

impl JobState {
    /// The status word written on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Submitted => "submitted",
            JobState::Queued => "queued",
            JobState::Running => "running",
            JobState::Completed => "completed",
            JobState::CompletedWithErrors => "completed_with_errors",
            JobState::Failed => "failed",
            JobState::Cancelling => "cancelling",
            JobState::Cancelled => "cancelled",
        }
    }

    /// Parses a status word, old writers' words included (`error` = failed,
    /// `pending` = queued, `processing` = running).
    pub fn parse(s: &str) -> Option<JobState> {
        Some(match s.trim().to_ascii_lowercase().as_str() {
            "submitted" => JobState::Submitted,
            "queued" | "pending" => JobState::Queued,
            "running" | "processing" => JobState::Running,
            "completed" | "complete" | "success" => JobState::Completed,
            "completed_with_errors" => JobState::CompletedWithErrors,
            "failed" | "error" => JobState::Failed,
            "cancelling" => JobState::Cancelling,
            "cancelled" | "canceled" => JobState::Cancelled,
            _ => return None,
        })
    }

    /// No more changes will come.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            JobState::Completed
                | JobState::CompletedWithErrors
                | JobState::Failed
                | JobState::Cancelled
        )
    }

    /// Waiting or working.
    pub fn is_active(self) -> bool {
        !self.is_terminal()
    }
}

impl std::fmt::Display for JobState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A symbol that failed, with the reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SymbolFailure {
    pub symbol: String,
    pub reason: String,
}

/// A job's status. Field names are the legacy ones; `extra` keeps what we do not model.
#[derive(Debug, Clone, PartialEq)]
pub struct JobStatus {
    pub state: JobState,
    /// 0–100.
    pub progress: u8,
    pub message: Option<String>,
    pub job_type: Option<String>,
    pub submitted_at: Option<String>,
    pub started_at: Option<String>,
    pub completed_at: Option<String>,
    pub current_symbol: Option<String>,
    pub processed_symbols: Option<u64>,
    pub total_symbols: Option<u64>,
    pub successful_symbols: Vec<String>,
    /// Legacy: failed tickers only.
    pub failed_symbols: Vec<String>,
    /// Ours: the reason of each failure (`failures` on the wire).
    pub failures: Vec<SymbolFailure>,
    pub symbols_loaded: Option<u64>,
    pub ohlcv_records_loaded: Option<u64>,
    pub error_message: Option<String>,
    pub duration_seconds: Option<f64>,
    /// Ours: the worker that holds the job (`worker_id`).
    pub worker_id: Option<String>,
    pub extra: Map<String, Value>,
}

const MODELLED: &[&str] = &[
    "status",
    "progress",
    "message",
    "job_type",
    "submitted_at",
    "started_at",
    "completed_at",
    "current_symbol",
    "processed_symbols",
    "total_symbols",
    "successful_symbols",
    "failed_symbols",
    "failures",
    "symbols_loaded",
    "ohlcv_records_loaded",
    "error_message",
    "duration_seconds",
    "worker_id",
];

impl JobStatus {
    /// A fresh status in `state` with nothing else set.
    pub fn new(state: JobState) -> JobStatus {
        JobStatus {
            state,
            progress: 0,
            message: None,
            job_type: None,
            submitted_at: None,
            started_at: None,
            completed_at: None,
            current_symbol: None,
            processed_symbols: None,
            total_symbols: None,
            successful_symbols: Vec::new(),
            failed_symbols: Vec::new(),
            failures: Vec::new(),
            symbols_loaded: None,
            ohlcv_records_loaded: None,
            error_message: None,
            duration_seconds: None,
            worker_id: None,
            extra: Map::new(),
        }
    }

    /// Reads a status stored as a JSON string.
    pub fn from_json(text: &str) -> crate::Result<JobStatus> {
        let v: Value = serde_json::from_str(text)
            .map_err(|e| crate::Error::invalid(format!("status is not valid JSON: {e}")))?;
        match v {
            Value::Object(map) => JobStatus::from_map(map),
            _ => Err(crate::Error::invalid("status must be a JSON object")),
        }
    }

    /// Reads a status stored as a hash (every value a string; lists as JSON text).
    pub fn from_hash<I, K, V>(fields: I) -> crate::Result<JobStatus>
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        let map: Map<String, Value> = fields
            .into_iter()
            .map(|(k, v)| {
                let v: String = v.into();
                let trimmed = v.trim_start();
                let value = if trimmed.starts_with('[') || trimmed.starts_with('{') {
                    serde_json::from_str(&v).unwrap_or(Value::String(v))
                } else {
                    Value::String(v)
                };
                (k.into(), value)
            })
            .collect();
        JobStatus::from_map(map)
    }

    /// Reads a status from its fields, accepting numbers written as strings.
    pub fn from_map(mut map: Map<String, Value>) -> crate::Result<JobStatus> {
        let state_word = match map.get("status") {
            Some(Value::String(s)) => s.clone(),
            _ => return Err(crate::Error::invalid("status has no `status` word")),
        };
        let state = JobState::parse(&state_word)
            .ok_or_else(|| crate::Error::invalid(format!("unknown status word `{state_word}`")))?;
        let mut st = JobStatus::new(state);
        st.progress = as_f64(map.get("progress"))
            .map(|p| p.clamp(0.0, 100.0).round() as u8)
            .unwrap_or(0);
        st.message = as_string(map.get("message"));
        st.job_type = as_string(map.get("job_type"));
        st.submitted_at = as_string(map.get("submitted_at"));
        st.started_at = as_string(map.get("started_at"));
        st.completed_at = as_string(map.get("completed_at"));
        st.current_symbol = as_string(map.get("current_symbol"));
        st.processed_symbols = as_u64(map.get("processed_symbols"));
        st.total_symbols = as_u64(map.get("total_symbols"));
        st.successful_symbols = as_strings(map.get("successful_symbols"));
        st.failed_symbols = as_strings(map.get("failed_symbols"));
        st.failures = map
            .get("failures")
            .and_then(|v| serde_json::from_value(v.clone()).ok())
            .unwrap_or_default();
        st.symbols_loaded = as_u64(map.get("symbols_loaded"));
        st.ohlcv_records_loaded = as_u64(map.get("ohlcv_records_loaded"));
        st.error_message = as_string(map.get("error_message"));
        st.duration_seconds = as_f64(map.get("duration_seconds"));
        st.worker_id = as_string(map.get("worker_id"));
        for k in MODELLED {
            map.remove(*k);
        }
        st.extra = map;
        Ok(st)
    }

    /// The JSON object written to `job:status:{id}` (legacy field names).
    pub fn to_value(&self) -> Value {
        let mut m = Map::new();
        m.insert("status".into(), Value::from(self.state.as_str()));
        m.insert("progress".into(), Value::from(self.progress));
        let mut opt = |k: &str, v: Option<Value>| {
            if let Some(v) = v {
                m.insert(k.into(), v);
            }
        };
        opt("message", self.message.clone().map(Value::from));
        opt("job_type", self.job_type.clone().map(Value::from));
        opt("submitted_at", self.submitted_at.clone().map(Value::from));
        opt("started_at", self.started_at.clone().map(Value::from));
        opt(
            "current_symbol",
            self.current_symbol.clone().map(Value::from),
        );
        opt("processed_symbols", self.processed_symbols.map(Value::from));
        opt("total_symbols", self.total_symbols.map(Value::from));
        opt("symbols_loaded", self.symbols_loaded.map(Value::from));
        opt(
            "ohlcv_records_loaded",
            self.ohlcv_records_loaded.map(Value::from),
        );
        opt("completed_at", self.completed_at.clone().map(Value::from));
        opt("duration_seconds", self.duration_seconds.map(Value::from));
        opt("error_message", self.error_message.clone().map(Value::from));
        opt("worker_id", self.worker_id.clone().map(Value::from));
        if !self.successful_symbols.is_empty() || self.state.is_terminal() {
            m.insert(
                "successful_symbols".into(),
                Value::from(self.successful_symbols.clone()),
            );
        }
        if !self.failed_symbols.is_empty() || self.state.is_terminal() {
            m.insert(
                "failed_symbols".into(),
                Value::from(self.failed_symbols.clone()),
            );
        }
        if !self.failures.is_empty() {
            m.insert(
                "failures".into(),
                serde_json::to_value(&self.failures).unwrap_or(Value::Null),
            );
        }
        for (k, v) in &self.extra {
            m.entry(k.clone()).or_insert_with(|| v.clone());
        }
        Value::Object(m)
    }

    /// The JSON text written to Redis.
    pub fn to_json(&self) -> String {
        self.to_value().to_string()
    }
}

impl Serialize for JobStatus {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.to_value().serialize(s)
    }
}

fn as_string(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) => Some(s.clone()),
        Value::Null => None,
        other => Some(other.to_string()),
    }
}

fn as_f64(v: Option<&Value>) -> Option<f64> {
    match v? {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn as_u64(v: Option<&Value>) -> Option<u64> {
    as_f64(v).filter(|f| *f >= 0.0).map(|f| f as u64)
}

fn as_strings(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(|i| match i {
                Value::String(s) => Some(s.clone()),
                Value::Object(o) => o.get("symbol").and_then(|s| s.as_str()).map(str::to_string),
                _ => None,
            })
            .collect(),
        Some(Value::String(s)) if !s.is_empty() => s
            .split(',')
            .map(|x| x.trim().to_string())
            .filter(|x| !x.is_empty())
            .collect(),
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn old_words_map_to_states() {
        assert_eq!(JobState::parse("error"), Some(JobState::Failed));
        assert_eq!(JobState::parse("pending"), Some(JobState::Queued));
        assert_eq!(JobState::parse("processing"), Some(JobState::Running));
        assert_eq!(JobState::parse("nonsense"), None);
        assert!(JobState::CompletedWithErrors.is_terminal());
        assert!(JobState::Cancelling.is_active());
    }

    #[test]
    fn hash_values_are_strings() {
        let st = JobStatus::from_hash([
            ("status", "running"),
            ("progress", "42"),
            ("total_symbols", "3"),
            ("successful_symbols", "[\"AAPL\"]"),
            ("note", "kept"),
        ])
        .unwrap();
        assert_eq!(st.state, JobState::Running);
        assert_eq!(st.progress, 42);
        assert_eq!(st.total_symbols, Some(3));
        assert_eq!(st.successful_symbols, vec!["AAPL"]);
        assert_eq!(st.extra["note"], "kept");
    }

    #[test]
    fn round_trip_keeps_fields() {
        let text = r#"{"status":"completed_with_errors","progress":100,"failed_symbols":["ADBE"],"failures":[{"symbol":"ADBE","reason":"403"}],"cancelled_by":"x"}"#;
        let st = JobStatus::from_json(text).unwrap();
        assert_eq!(st.failures[0].reason, "403");
        let again = JobStatus::from_json(&st.to_json()).unwrap();
        assert_eq!(again, st);
    }
}
