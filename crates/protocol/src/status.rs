//! The job status value stored at `job:status:{id}` and `tickstock.jobs.status:{id}`, in
//! either encoding: a JSON string or a hash whose values are strings. Readers accept the old
//! status words (`error`, `pending`, `processing`); unknown fields are kept.
//!
//! Times: the legacy time fields (`timestamp`, `submitted_at`, `started_at`, `completed_at`,
//! `cancelled_at`) are written as TickStock writes them, naive local ISO time with
//! microseconds (`datetime.now().isoformat()`), because TickStock's stale-job cleanup drops
//! any offset and compares with its own naive local "now". Our exact instant goes beside
//! each one in a `{field}_utc` field (RFC 3339, `Z`); see [`Stamp`] and [`JobStatus::time`].

use chrono::{DateTime, Local, NaiveDateTime, SecondsFormat, TimeZone, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::time::{SystemTime, UNIX_EPOCH};

/// How TickStock writes a time: naive local ISO 8601 with microseconds, no offset.
pub const LEGACY_TIME_FORMAT: &str = "%Y-%m-%dT%H:%M:%S%.6f";

/// The status time fields TickStock reads, each written in [`LEGACY_TIME_FORMAT`] with our
/// exact instant beside it in `{field}_utc`.
pub const LEGACY_TIME_FIELDS: &[&str] = &[
    "timestamp",
    "submitted_at",
    "started_at",
    "completed_at",
    "cancelled_at",
];

/// The figures our workers keep in a status beside TickStock's fields (in
/// [`JobStatus::extra`]), read with [`JobStatus::figure`].
pub mod figures {
    /// Polygon requests the job has made so far.
    pub const POLYGON_REQUESTS: &str = "polygon_requests";
    /// Polygon requests the job was estimated to need when it started.
    pub const POLYGON_REQUESTS_ESTIMATED: &str = "polygon_requests_estimated";
    /// Seconds those requests take at the plan's rate (set on a rate-limited plan only).
    pub const SECONDS_ESTIMATED: &str = "seconds_estimated";
}

/// One instant, in the two forms a status carries it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Stamp(pub DateTime<Utc>);

impl Stamp {
    pub fn now() -> Stamp {
        Stamp(Utc::now())
    }

    /// Naive local time of this machine with microseconds, as TickStock writes it
    /// (`2026-02-10T09:15:43.002123`).
    pub fn legacy(&self) -> String {
        self.0
            .with_timezone(&Local)
            .naive_local()
            .format(LEGACY_TIME_FORMAT)
            .to_string()
    }

    /// RFC 3339 in UTC with microseconds and `Z` (`2026-02-10T15:15:43.002123Z`).
    pub fn utc(&self) -> String {
        self.0.to_rfc3339_opts(SecondsFormat::Micros, true)
    }
}

/// A naive time read as local time of this machine (the earlier one when a DST change
/// makes it ambiguous; shifted past the gap when it falls into one).
pub fn naive_local_to_utc(naive: NaiveDateTime) -> Option<DateTime<Utc>> {
    Local
        .from_local_datetime(&naive)
        .earliest()
        .or_else(|| {
            Local
                .from_local_datetime(&(naive + chrono::Duration::hours(1)))
                .earliest()
        })
        .map(|t| t.with_timezone(&Utc))
}

fn parse_naive(s: &str) -> Option<NaiveDateTime> {
    NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f")
        .or_else(|_| NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f"))
        .ok()
}

/// Parses a time as status fields and job messages carry it: RFC 3339 with an offset, or
/// naive ISO 8601 (TickStock's `datetime.now().isoformat()`), which is local time of this
/// machine.
pub fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    let s = s.trim();
    DateTime::parse_from_rfc3339(s)
        .map(|d| d.with_timezone(&Utc))
        .ok()
        .or_else(|| parse_naive(s).and_then(naive_local_to_utc))
}

/// Whether a legacy time and a UTC instant are the same instant as written by some
/// machine: the same seconds and fraction, hours apart by a whole quarter hour (a zone
/// offset) of at most 14 h. A legacy field rewritten later by a writer that kept our
/// `_utc` field beside it fails this, and the legacy field is believed instead.
fn same_instant(legacy: &str, utc: DateTime<Utc>) -> bool {
    let naive = match DateTime::parse_from_rfc3339(legacy.trim()) {
        Ok(d) => return d.with_timezone(&Utc) == utc,
        Err(_) => match parse_naive(legacy.trim()) {
            Some(n) => n,
            None => return false,
        },
    };
    let diff = naive - utc.naive_utc();
    let quarter = chrono::Duration::minutes(15);
    diff.num_microseconds().is_some_and(|us| {
        us % quarter.num_microseconds().unwrap_or(1) == 0
            && diff.abs() <= chrono::Duration::hours(14)
    })
}

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

    /// The text of a legacy time field (`submitted_at`, `started_at`, `completed_at`, or
    /// one kept in `extra` such as `timestamp` and `cancelled_at`).
    pub fn legacy_time(&self, field: &str) -> Option<&str> {
        match field {
            "submitted_at" => self.submitted_at.as_deref(),
            "started_at" => self.started_at.as_deref(),
            "completed_at" => self.completed_at.as_deref(),
            other => self.extra.get(other).and_then(Value::as_str),
        }
    }

    /// A whole-number figure of [`figures`] (or any other extra field), if present.
    pub fn figure(&self, key: &str) -> Option<i64> {
        self.extra.get(key).and_then(Value::as_i64)
    }

    /// The instant a time field holds: its `{field}_utc` companion when that is the same
    /// instant as the legacy field (or the legacy field is missing), else the legacy field
    /// parsed by [`parse_time`] (RFC 3339 with offset, or naive = local time here).
    pub fn time(&self, field: &str) -> Option<DateTime<Utc>> {
        let legacy = self.legacy_time(field);
        let utc = self
            .extra
            .get(&format!("{field}_utc"))
            .and_then(Value::as_str)
            .and_then(|s| DateTime::parse_from_rfc3339(s.trim()).ok())
            .map(|d| d.with_timezone(&Utc));
        match (legacy, utc) {
            (Some(l), Some(u)) if same_instant(l, u) => Some(u),
            (Some(l), u) => parse_time(l).or(u),
            (None, u) => u,
        }
    }

    /// Sets a time field: the legacy field in TickStock's form and `{field}_utc` beside it.
    pub fn set_time(&mut self, field: &str, at: Stamp) {
        let legacy = at.legacy();
        match field {
            "submitted_at" => self.submitted_at = Some(legacy),
            "started_at" => self.started_at = Some(legacy),
            "completed_at" => self.completed_at = Some(legacy),
            other => {
                self.extra.insert(other.to_string(), Value::from(legacy));
            }
        }
        self.extra
            .insert(format!("{field}_utc"), Value::from(at.utc()));
    }

    /// Copies a time field (and its `_utc` companion, or its absence) from another status.
    pub fn copy_time(&mut self, from: &JobStatus, field: &str) {
        let legacy = from.legacy_time(field).map(str::to_string);
        match field {
            "submitted_at" => self.submitted_at = legacy,
            "started_at" => self.started_at = legacy,
            "completed_at" => self.completed_at = legacy,
            other => match legacy {
                Some(l) => {
                    self.extra.insert(other.to_string(), Value::from(l));
                }
                None => {
                    self.extra.remove(other);
                }
            },
        }
        let key = format!("{field}_utc");
        match from.extra.get(&key) {
            Some(v) => {
                self.extra.insert(key, v.clone());
            }
            None => {
                self.extra.remove(&key);
            }
        }
    }

    /// When the job last showed life, as TickStock's stale-job cleanup judges it:
    /// `timestamp` (the last progress write), else `started_at`, else `submitted_at`.
    pub fn last_update(&self) -> Option<DateTime<Utc>> {
        self.time("timestamp")
            .or_else(|| self.time("started_at"))
            .or_else(|| self.time("submitted_at"))
    }

    /// The JSON object written to the status keys (legacy field names).
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

/// Current Unix time in seconds.
pub fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// ISO 8601 "now" as legacy time fields carry it: naive local time with microseconds, no
/// offset, as TickStock writes it (`datetime.now().isoformat()`). Where our exact instant
/// matters too, use [`Stamp`] and [`JobStatus::set_time`], which also write `{field}_utc`.
pub fn iso_now() -> String {
    Stamp::now().legacy()
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
    fn legacy_times_are_naive_local_with_microseconds() {
        let at = Stamp(Utc.with_ymd_and_hms(2026, 2, 10, 15, 15, 43).unwrap());
        let at = Stamp(at.0 + chrono::Duration::microseconds(2123));
        let legacy = at.legacy();
        // The shape of `datetime.now().isoformat()` (tickstock.jobs.status vectors).
        assert_eq!(legacy.len(), "2026-02-10T09:15:43.002123".len(), "{legacy}");
        assert!(!legacy.ends_with('Z') && !legacy[19..].contains(['+', '-']));
        assert!(legacy.ends_with(".002123"), "{legacy}");
        let local = at.0.with_timezone(&Local).naive_local();
        assert_eq!(legacy, local.format(LEGACY_TIME_FORMAT).to_string());
        assert_eq!(at.utc(), "2026-02-10T15:15:43.002123Z");
        // Read back as local time of this machine: the same instant.
        assert_eq!(parse_time(&legacy), Some(at.0));
    }

    #[test]
    fn parse_time_takes_offsets_and_naive_local_times() {
        let u = Utc.with_ymd_and_hms(2026, 2, 10, 15, 15, 42).unwrap();
        assert_eq!(parse_time("2026-02-10T15:15:42Z"), Some(u));
        assert_eq!(parse_time("2026-02-10T09:15:42-06:00"), Some(u));
        assert_eq!(parse_time("2026-02-11T00:15:42+09:00"), Some(u));
        for naive in [
            "2026-02-10T09:15:42.118304",
            "2025-01-22T10:30:00",
            "2026-02-10T09:15:43.002",
            "2026-02-10 09:15:43.002",
        ] {
            let n = parse_naive(naive).unwrap();
            let want = Local
                .from_local_datetime(&n)
                .earliest()
                .unwrap()
                .with_timezone(&Utc);
            assert_eq!(parse_time(naive), Some(want), "{naive}");
        }
        assert!(parse_time("yesterday").is_none());
    }

    #[test]
    fn set_time_writes_both_forms_and_time_prefers_the_utc_one() {
        let at = Stamp(Utc.with_ymd_and_hms(2026, 2, 10, 15, 15, 43).unwrap());
        let mut st = JobStatus::new(JobState::Running);
        st.set_time("started_at", at);
        st.set_time("timestamp", at);
        let v = st.to_value();
        assert_eq!(v["started_at"], at.legacy());
        assert_eq!(v["started_at_utc"], "2026-02-10T15:15:43.000000Z");
        assert_eq!(v["timestamp"], at.legacy());
        let back = JobStatus::from_json(&st.to_json()).unwrap();
        assert_eq!(back.time("started_at"), Some(at.0));
        assert_eq!(back.last_update(), Some(at.0));

        // Written on a machine in Tokyo: the legacy field is Tokyo wall time; the `_utc`
        // field says which instant that was, whatever zone reads it.
        let mut tokyo = JobStatus::new(JobState::Running);
        tokyo.started_at = Some("2026-02-11T00:15:43.000000".into());
        tokyo.extra.insert(
            "started_at_utc".into(),
            "2026-02-10T15:15:43.000000Z".into(),
        );
        assert_eq!(tokyo.time("started_at"), Some(at.0));

        // A writer that rewrote the legacy field later but kept our `_utc` beside it: the
        // legacy field is believed.
        let mut rewritten = tokyo.clone();
        rewritten.started_at = Some("2026-02-10T16:20:07.512001".into());
        assert_eq!(
            rewritten.time("started_at"),
            parse_time("2026-02-10T16:20:07.512001")
        );
        // Only the `_utc` field: used as it is.
        let mut only = JobStatus::new(JobState::Running);
        only.extra
            .insert("completed_at_utc".into(), "2026-02-10T15:15:43Z".into());
        assert_eq!(only.time("completed_at"), Some(at.0));

        let mut copy = JobStatus::new(JobState::Running);
        copy.copy_time(&st, "started_at");
        assert_eq!(copy.time("started_at"), Some(at.0));
        assert_eq!(copy.extra["started_at_utc"], v["started_at_utc"]);
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
