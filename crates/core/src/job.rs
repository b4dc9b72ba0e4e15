//! The job message: the legacy wire format, parsed into a typed [`JobSpec`] while the
//! original JSON object is kept, so unknown fields survive a round trip untouched.
//!
//! Parsing ([`Job::from_json`]) checks structure and types and accepts every message the
//! existing TickStock services write. Validation ([`Job::validate`]) applies the rules a new
//! job must meet (ticker syntax, counts, duplicates, `years`, dates, timeframes, universe
//! keys) and reports each problem with the field it belongs to. [`JobRequest`] is how the
//! CLI and the app build a job from user input.

use chrono::{NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::{quote_input, Error, Result};
use crate::timeframe::Timeframe;
use crate::universe;

/// Most symbols one job may name.
pub const MAX_SYMBOLS: usize = 10_000;
/// Longest ticker accepted.
pub const MAX_TICKER_LEN: usize = 10;
/// Most years of history one job may ask for.
pub const MAX_YEARS: f64 = 30.0;
/// Largest job message accepted, in bytes (10,000 symbols take about 140 KB).
pub const MAX_MESSAGE_BYTES: usize = 512 * 1024;
/// Longest `job_id` accepted.
pub const MAX_JOB_ID_LEN: usize = 128;

/// Whether a job id read from anywhere may be used as one (in a key, a status, a log).
pub fn usable_id(id: &str) -> bool {
    !id.trim().is_empty() && id.len() <= MAX_JOB_ID_LEN && !id.chars().any(char::is_control)
}

/// A stable fingerprint of a job message's text (FNV-1a, 64 bits, hex): the status of a
/// job and its checkpoints remember it, so an entry or a run carrying another message
/// under the same `job_id` is told apart.
pub fn message_digest(text: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.as_bytes() {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")
}

/// The `job_id` of a message even when it is not valid JSON (TickStock's Python writes
/// `NaN`, a message may be cut short): read as JSON when it parses, else found in the
/// text as `"job_id": "..."`. Only a usable id is returned.
pub fn loose_job_id(text: &str) -> Option<String> {
    if let Ok(v) = serde_json::from_str::<Value>(text) {
        return v
            .get("job_id")
            .and_then(Value::as_str)
            .filter(|s| usable_id(s))
            .map(str::to_string);
    }
    let at = text.find("\"job_id\"")? + "\"job_id\"".len();
    let rest = text[at..].trim_start().strip_prefix(':')?.trim_start();
    let rest = rest.strip_prefix('"')?;
    let end = rest.find('"')?;
    let id = &rest[..end];
    (usable_id(id) && !id.contains('\\')).then(|| id.to_string())
}

/// Longest `csv_file` name accepted.
pub const MAX_CSV_NAME_LEN: usize = 255;

/// Checks a `csv_file` name: a relative path inside the CSV folder (no absolute path, no
/// `..`, no control characters), at most [`MAX_CSV_NAME_LEN`] bytes. The message never
/// repeats the name.
pub fn check_csv_name(name: &str) -> std::result::Result<(), String> {
    use std::path::{Component, Path};
    let name = name.trim();
    if name.is_empty() {
        return Err("`csv_file` is empty".into());
    }
    if name.len() > MAX_CSV_NAME_LEN {
        return Err(format!(
            "`csv_file` is longer than {MAX_CSV_NAME_LEN} characters"
        ));
    }
    if name.chars().any(|c| c.is_control()) {
        return Err("`csv_file` contains control characters".into());
    }
    let inside = Path::new(name)
        .components()
        .all(|c| matches!(c, Component::Normal(_)));
    if !inside || name.starts_with('/') || name.starts_with('\\') || name.contains(':') {
        return Err(
            "`csv_file` must name a file inside the CSV folder (no absolute path, no `..`)".into(),
        );
    }
    Ok(())
}

/// The four kinds of job the legacy protocol knows, and our `top_up`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobType {
    HistoricalLoad,
    UniverseSeed,
    MultiTimeframeLoad,
    CsvUniverseLoad,
    /// Ours: load each symbol from its last stored bar to the last closed session, or
    /// (`fill`) only the sessions missing in a range. Never published to TickStockPL.
    TopUp,
}

impl JobType {
    pub const ALL: [JobType; 5] = [
        JobType::HistoricalLoad,
        JobType::MultiTimeframeLoad,
        JobType::UniverseSeed,
        JobType::CsvUniverseLoad,
        JobType::TopUp,
    ];

    /// Whether TickStockPL workers know this kind (it goes on the legacy channel).
    pub fn is_legacy(self) -> bool {
        self != JobType::TopUp
    }

    /// The wire name (`historical_load`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            JobType::HistoricalLoad => "historical_load",
            JobType::UniverseSeed => "universe_seed",
            JobType::MultiTimeframeLoad => "multi_timeframe_load",
            JobType::CsvUniverseLoad => "csv_universe_load",
            JobType::TopUp => "top_up",
        }
    }

    /// Parses a wire name.
    pub fn parse(s: &str) -> Option<JobType> {
        JobType::ALL.into_iter().find(|t| t.as_str() == s)
    }
}

impl std::fmt::Display for JobType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How much history: `years` back from today, or explicit dates (which win over `years`).
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct DateRange {
    pub years: Option<f64>,
    pub start_date: Option<NaiveDate>,
    pub end_date: Option<NaiveDate>,
}

impl DateRange {
    /// The inclusive `(from, to)` dates this range means on `today`.
    /// `years` is converted as days = years x 365, rounded (0.003 = 1 day, 0.02 = 1 week), at least one day.
    pub fn resolve(&self, today: NaiveDate) -> (NaiveDate, NaiveDate) {
        if let Some(start) = self.start_date {
            let end = self.end_date.unwrap_or(today);
            return (start, end);
        }
        let years = self.years.unwrap_or(1.0);
        let days = (years * 365.0).round().max(1.0) as i64;
        let end = self.end_date.unwrap_or(today);
        (end - chrono::Duration::days(days), end)
    }
}

/// The typed parameters of each job kind (exactly the legacy fields, plus our dates).
#[derive(Debug, Clone, PartialEq)]
pub enum JobSpec {
    /// `historical_load`: `symbols`, `years`, `timespan`.
    Historical {
        symbols: Vec<String>,
        timespan: Timeframe,
        range: DateRange,
    },
    /// `multi_timeframe_load`: `symbols`, `timeframes`, `years`.
    MultiTimeframe {
        symbols: Vec<String>,
        timeframes: Vec<Timeframe>,
        range: DateRange,
    },
    /// `universe_seed`: `universe_type`, `years`, optional `refresh`.
    UniverseSeed {
        universe_type: String,
        refresh: bool,
        range: DateRange,
    },
    /// `csv_universe_load`: `csv_file` and/or `universe_key`; `symbols` (already resolved)
    /// take precedence; `timeframes` (default day), `years`, `include_ohlcv`, `source`.
    CsvUniverse {
        csv_file: Option<String>,
        universe_key: Option<String>,
        symbols: Option<Vec<String>>,
        timeframes: Vec<Timeframe>,
        include_ohlcv: bool,
        source: Option<String>,
        range: DateRange,
    },
    /// `top_up` (ours): `symbols`, `timeframes`, `fill`, and the range a fill checks (or a
    /// top-up starts from for a symbol with no bars yet).
    TopUp {
        symbols: Vec<String>,
        timeframes: Vec<Timeframe>,
        fill: bool,
        range: DateRange,
    },
}

impl JobSpec {
    pub fn job_type(&self) -> JobType {
        match self {
            JobSpec::Historical { .. } => JobType::HistoricalLoad,
            JobSpec::MultiTimeframe { .. } => JobType::MultiTimeframeLoad,
            JobSpec::UniverseSeed { .. } => JobType::UniverseSeed,
            JobSpec::CsvUniverse { .. } => JobType::CsvUniverseLoad,
            JobSpec::TopUp { .. } => JobType::TopUp,
        }
    }

    pub fn range(&self) -> &DateRange {
        match self {
            JobSpec::Historical { range, .. }
            | JobSpec::MultiTimeframe { range, .. }
            | JobSpec::UniverseSeed { range, .. }
            | JobSpec::CsvUniverse { range, .. }
            | JobSpec::TopUp { range, .. } => range,
        }
    }

    /// The symbols named in the message itself (universe jobs resolve theirs later).
    pub fn symbols(&self) -> Option<&[String]> {
        match self {
            JobSpec::Historical { symbols, .. }
            | JobSpec::MultiTimeframe { symbols, .. }
            | JobSpec::TopUp { symbols, .. } => Some(symbols),
            JobSpec::CsvUniverse {
                symbols: Some(s), ..
            } => Some(s),
            _ => None,
        }
    }

    /// The timeframes to load.
    pub fn timeframes(&self) -> Vec<Timeframe> {
        match self {
            JobSpec::Historical { timespan, .. } => vec![*timespan],
            JobSpec::MultiTimeframe { timeframes, .. }
            | JobSpec::CsvUniverse { timeframes, .. }
            | JobSpec::TopUp { timeframes, .. } => timeframes.clone(),
            JobSpec::UniverseSeed { .. } => vec![Timeframe::Day],
        }
    }
}

/// A problem with one input field; `field` names it the way the submit form does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    pub field: &'static str,
    pub message: String,
}

impl FieldError {
    fn new(field: &'static str, message: impl Into<String>) -> Self {
        FieldError {
            field,
            message: message.into(),
        }
    }
}

/// Reads a message's JSON text (any JSON; [`Job::from_value`] checks its shape).
pub fn parse_message(text: &str) -> Result<Value> {
    if text.len() > MAX_MESSAGE_BYTES {
        return Err(Error::invalid(format!(
            "job message is {} bytes, more than the limit of {MAX_MESSAGE_BYTES}",
            text.len()
        )));
    }
    serde_json::from_str(text)
        .map_err(|e| Error::invalid(format!("job message is not valid JSON: {e}")))
}

/// A string field of a message, read without parsing the message as a job: what can be
/// known of a message that is not a valid job (its id, its type).
pub fn string_field(message: &Result<Value>, name: &str) -> Option<String> {
    message
        .as_ref()
        .ok()
        .and_then(|v| v.get(name))
        .and_then(Value::as_str)
        .filter(|s| name != "job_id" || usable_id(s))
        .map(str::to_string)
}

/// Joins field errors into one core error (first problems first).
pub fn field_errors_to_error(errors: &[FieldError]) -> Error {
    let text = errors
        .iter()
        .map(|e| e.message.as_str())
        .collect::<Vec<_>>()
        .join("; ");
    Error::invalid(text)
}

/// A job message: the typed view and the wire object it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    pub id: String,
    pub requested_by: Option<String>,
    pub timestamp: Option<String>,
    pub spec: JobSpec,
    raw: Map<String, Value>,
}

impl Job {
    /// Builds a new job with a fresh UUID v4 and the current time (`timestamp`, naive local
    /// time as TickStock writes it), in the legacy field order.
    pub fn new(spec: JobSpec, requested_by: &str) -> Job {
        let id = uuid::Uuid::new_v4().to_string();
        // As TickStock writes it: naive local time with microseconds (its stale-job
        // cleanup compares it with its own naive local "now").
        let timestamp = crate::status::Stamp::now().legacy();
        let mut raw = Map::new();
        raw.insert("job_id".into(), Value::from(id.clone()));
        raw.insert("job_type".into(), Value::from(spec.job_type().as_str()));
        write_spec_fields(&spec, &mut raw);
        raw.insert("requested_by".into(), Value::from(requested_by));
        raw.insert("timestamp".into(), Value::from(timestamp.clone()));
        Job {
            id,
            requested_by: Some(requested_by.to_string()),
            timestamp: Some(timestamp),
            spec,
            raw,
        }
    }

    pub fn job_type(&self) -> JobType {
        self.spec.job_type()
    }

    /// The message as it goes on the wire: the original object, unknown fields included.
    pub fn to_value(&self) -> Value {
        Value::Object(self.raw.clone())
    }

    /// The message as a JSON string.
    pub fn to_json(&self) -> String {
        serde_json::to_string(&self.raw).unwrap_or_default()
    }

    /// The wire object (read only).
    pub fn raw(&self) -> &Map<String, Value> {
        &self.raw
    }

    /// This job with a universe's resolved members in the message's `symbols`, as
    /// TickStockPL workers load them (they do not resolve universe keys themselves). A
    /// CSV-universe job then loads exactly these; a universe seed loads them unless it
    /// refreshes its universe first. Other kinds, and a CSV-universe job that already has
    /// symbols, are returned as they are.
    pub fn with_resolved_symbols(mut self, symbols: Vec<String>) -> Job {
        match &mut self.spec {
            JobSpec::CsvUniverse {
                symbols: s @ None, ..
            } => {
                *s = Some(symbols.clone());
            }
            JobSpec::UniverseSeed { .. } => {}
            _ => return self,
        }
        self.raw.insert("symbols".into(), Value::from(symbols));
        self
    }

    /// The `symbols` a universe-seed message carries (resolved when it was published).
    pub fn message_symbols(&self) -> Option<Vec<String>> {
        let list = self.raw.get("symbols")?.as_array()?;
        let out: Vec<String> = list
            .iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect();
        (!out.is_empty()).then_some(out)
    }

    /// A copy of this job with a new id and timestamp (for Retry), other fields kept.
    pub fn resubmission(&self, requested_by: &str) -> Job {
        let mut job = Job::new(self.spec.clone(), requested_by);
        for (k, v) in &self.raw {
            if !job.raw.contains_key(k) {
                job.raw.insert(k.clone(), v.clone());
            }
        }
        job.raw
            .insert("retry_of".into(), Value::from(self.id.clone()));
        job
    }

    /// Parses a message from JSON text.
    pub fn from_json(text: &str) -> Result<Job> {
        Job::from_value(parse_message(text)?)
    }

    /// Parses a message from a JSON value. Accepts everything existing TickStock services
    /// write; rejects wrong types and unknown job types with a message naming the field.
    pub fn from_value(value: Value) -> Result<Job> {
        let Value::Object(raw) = value else {
            return Err(Error::invalid("job message must be a JSON object"));
        };
        let id = match raw.get("job_id") {
            Some(Value::String(s)) if usable_id(s) => s.clone(),
            Some(Value::String(s)) if !s.trim().is_empty() => {
                return Err(Error::invalid(format!(
                "`job_id` must be at most {MAX_JOB_ID_LEN} characters without control characters"
            )))
            }
            Some(Value::String(_)) | None => {
                return Err(Error::invalid("job message has no `job_id`"))
            }
            Some(other) => {
                return Err(Error::invalid(format!(
                    "field `job_id` must be a string, got {}",
                    type_name(other)
                )))
            }
        };
        let job_type = match raw.get("job_type") {
            Some(Value::String(s)) => JobType::parse(s).ok_or_else(|| {
                Error::invalid(format!(
                    "unknown job_type {} (expected historical_load, multi_timeframe_load, universe_seed, csv_universe_load or top_up)",
                    quote_input(s)
                ))
            })?,
            Some(other) => {
                return Err(Error::invalid(format!(
                    "field `job_type` must be a string, got {}",
                    type_name(other)
                )))
            }
            None => return Err(Error::invalid("job message has no `job_type`")),
        };
        let f = Fields(&raw);
        let range = DateRange {
            years: f.number("years")?,
            start_date: f.date("start_date")?,
            end_date: f.date("end_date")?,
        };
        let spec = match job_type {
            JobType::HistoricalLoad => JobSpec::Historical {
                symbols: f.required_strings("symbols")?,
                timespan: f
                    .timeframe("timespan")?
                    .or(f.timeframe("timeframe")?)
                    .unwrap_or(Timeframe::Day),
                range,
            },
            JobType::MultiTimeframeLoad => JobSpec::MultiTimeframe {
                symbols: f.required_strings("symbols")?,
                timeframes: f
                    .timeframes("timeframes")?
                    .ok_or_else(|| Error::invalid("field `timeframes` is required"))?,
                range,
            },
            JobType::UniverseSeed => JobSpec::UniverseSeed {
                universe_type: f
                    .string("universe_type")?
                    .ok_or_else(|| Error::invalid("field `universe_type` is required"))?,
                refresh: f.boolean("refresh")?.unwrap_or(false),
                range,
            },
            JobType::CsvUniverseLoad => JobSpec::CsvUniverse {
                csv_file: f.string("csv_file")?,
                universe_key: f.string("universe_key")?,
                symbols: f.strings("symbols")?,
                timeframes: f
                    .timeframes("timeframes")?
                    .unwrap_or_else(|| vec![Timeframe::Day]),
                include_ohlcv: f.boolean("include_ohlcv")?.unwrap_or(true),
                source: f.string("source")?,
                range,
            },
            JobType::TopUp => JobSpec::TopUp {
                symbols: f.required_strings("symbols")?,
                timeframes: f
                    .timeframes("timeframes")?
                    .unwrap_or_else(|| vec![Timeframe::Day]),
                fill: f.boolean("fill")?.unwrap_or(false),
                range,
            },
        };
        Ok(Job {
            id,
            requested_by: f.string("requested_by").ok().flatten(),
            timestamp: f
                .string("timestamp")
                .ok()
                .flatten()
                .or_else(|| f.string("submitted_at").ok().flatten()),
            spec,
            raw,
        })
    }

    /// Checks the rules a job must meet before it runs. `known_universe` says whether a
    /// (canonical) universe key exists.
    pub fn validate(&self, known_universe: &dyn Fn(&str) -> bool) -> Vec<FieldError> {
        let mut errors = Vec::new();
        let size = self.to_json().len();
        if size > MAX_MESSAGE_BYTES {
            errors.push(FieldError::new(
                "message",
                format!("the job message would be {size} bytes, more than the limit of {MAX_MESSAGE_BYTES}"),
            ));
        }
        validate_range(self.spec.range(), &mut errors);
        match &self.spec {
            JobSpec::Historical { symbols, .. }
            | JobSpec::MultiTimeframe { symbols, .. }
            | JobSpec::TopUp { symbols, .. } => {
                if let Err(e) = normalize_symbols(symbols) {
                    errors.push(e);
                }
            }
            JobSpec::UniverseSeed { universe_type, .. } => {
                validate_universe_key(universe_type, known_universe, &mut errors);
            }
            JobSpec::CsvUniverse {
                csv_file,
                universe_key,
                symbols,
                ..
            } => {
                if let Some(symbols) = symbols {
                    if let Err(e) = normalize_symbols(symbols) {
                        errors.push(e);
                    }
                } else {
                    match (csv_file, universe_key) {
                        (None, None) => errors.push(FieldError::new(
                            "universe",
                            "a CSV universe load needs `csv_file`, `universe_key` or `symbols`",
                        )),
                        (_, Some(key)) => validate_universe_key(key, known_universe, &mut errors),
                        (Some(file), None) => {
                            if let Err(m) = check_csv_name(file) {
                                errors.push(FieldError::new("csvFile", m));
                            }
                        }
                    }
                }
            }
        }
        if let JobSpec::MultiTimeframe { timeframes, .. }
        | JobSpec::CsvUniverse { timeframes, .. }
        | JobSpec::TopUp { timeframes, .. } = &self.spec
        {
            if timeframes.is_empty() {
                errors.push(FieldError::new(
                    "timeframes",
                    "choose at least one timeframe",
                ));
            }
        }
        errors
    }

    /// [`Job::validate`] against the built-in universes, as one error.
    pub fn validate_builtin(&self) -> Result<()> {
        let errors = self.validate(&|k| universe::find_builtin(k).is_some());
        if errors.is_empty() {
            Ok(())
        } else {
            Err(field_errors_to_error(&errors))
        }
    }

    /// Short human description: "2 symbols · day · 1 y".
    pub fn describe(&self) -> String {
        let what = match &self.spec {
            JobSpec::Historical { symbols, .. } | JobSpec::MultiTimeframe { symbols, .. } => {
                describe_symbols(symbols)
            }
            JobSpec::UniverseSeed { universe_type, .. } => format!("universe {universe_type}"),
            JobSpec::CsvUniverse {
                symbols: Some(s), ..
            } => describe_symbols(s),
            JobSpec::CsvUniverse {
                universe_key: Some(k),
                ..
            } => format!("universe {k}"),
            JobSpec::CsvUniverse {
                csv_file: Some(f), ..
            } => format!("file {f}"),
            JobSpec::CsvUniverse { .. } => "nothing".into(),
            JobSpec::TopUp { symbols, fill, .. } => format!(
                "{} {}",
                if *fill { "fill" } else { "top-up" },
                describe_symbols(symbols)
            ),
        };
        let tfs: Vec<&str> = self
            .spec
            .timeframes()
            .iter()
            .map(|t| t.wire_name())
            .collect();
        let r = self.spec.range();
        let span = match (r.start_date, r.end_date) {
            (Some(s), Some(e)) => format!("{s}..{e}"),
            (Some(s), None) => format!("{s}.."),
            _ => format!("{} y", r.years.unwrap_or(1.0)),
        };
        format!("{what} · {} · {span}", tfs.join(","))
    }
}

fn describe_symbols(symbols: &[String]) -> String {
    match symbols.len() {
        0 => "no symbols".into(),
        1..=3 => symbols.join(","),
        n => format!("{},… ({n} symbols)", symbols[..3].join(",")),
    }
}

fn validate_range(range: &DateRange, errors: &mut Vec<FieldError>) {
    // Dates win over `years`, which then only informs legacy workers.
    if let Some(y) = range.years.filter(|_| range.start_date.is_none()) {
        if !(y.is_finite() && y > 0.0 && y <= MAX_YEARS) {
            errors.push(FieldError::new(
                "years",
                format!("`years` must be more than 0 and at most {MAX_YEARS}, got {y}"),
            ));
        }
    }
    if range.years.is_none() && range.start_date.is_none() {
        errors.push(FieldError::new(
            "years",
            "give `years` or a `start_date` for the range to load",
        ));
    }
    let today = Utc::now().date_naive();
    if let Some(start) = range.start_date {
        let end = range.end_date.unwrap_or(today);
        if start > end {
            errors.push(FieldError::new(
                "dates",
                format!("start date {start} is after end date {end}"),
            ));
        }
        if (end - start).num_days() as f64 > MAX_YEARS * 366.0 {
            errors.push(FieldError::new(
                "dates",
                format!("the range {start}..{end} is longer than {MAX_YEARS} years"),
            ));
        }
    }
    if let Some(end) = range.end_date {
        if end > today + chrono::Duration::days(1) {
            errors.push(FieldError::new(
                "dates",
                format!("end date {end} is in the future"),
            ));
        }
    }
}

fn validate_universe_key(
    key: &str,
    known_universe: &dyn Fn(&str) -> bool,
    errors: &mut Vec<FieldError>,
) {
    if key.trim().is_empty() {
        errors.push(FieldError::new("universe", "choose a universe"));
        return;
    }
    for part in key.split(':') {
        if !universe::is_valid_key_syntax(part) {
            errors.push(FieldError::new(
                "universe",
                format!(
                    "{} is not a valid universe key (letters, digits, `_`, `-`, joined by `:`)",
                    quote_input(part)
                ),
            ));
            return;
        }
    }
    let unknown: Vec<String> = key
        .split(':')
        .filter(|p| !known_universe(&universe::canonical_key(p)))
        .map(|p| p.trim().to_string())
        .collect();
    if !unknown.is_empty() {
        errors.push(FieldError::new(
            "universe",
            format!("unknown universe key `{}`", unknown.join("`, `")),
        ));
    }
}

/// Checks one ticker's syntax (already upper case): letters, digits, `.` and `-`, 1–10
/// characters, starting with a letter or digit.
pub fn check_ticker(t: &str) -> std::result::Result<(), String> {
    if t.is_empty() {
        return Err("empty symbol".into());
    }
    if t.len() > MAX_TICKER_LEN {
        return Err(format!(
            "symbol {} is longer than {MAX_TICKER_LEN} characters",
            quote_input(t)
        ));
    }
    let first_ok = t.chars().next().is_some_and(|c| c.is_ascii_alphanumeric());
    if !first_ok
        || !t
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '.' || c == '-')
    {
        return Err(format!(
            "symbol {} is not a valid ticker (letters, digits, `.` and `-` only)",
            quote_input(t)
        ));
    }
    Ok(())
}

/// Normalises symbols (trim, upper case) and checks them: syntax, 1 to 10,000 of them, no
/// duplicates. Returns the normalised list in input order.
pub fn normalize_symbols(symbols: &[String]) -> std::result::Result<Vec<String>, FieldError> {
    let mut out = Vec::with_capacity(symbols.len());
    let mut seen = std::collections::HashSet::with_capacity(symbols.len());
    for s in symbols {
        // Only the ends are trimmed: `A\nB` is no ticker (it used to load as `AB`).
        let t = s.trim().to_ascii_uppercase();
        check_ticker(&t).map_err(|m| FieldError::new("symbols", m))?;
        if out.len() >= MAX_SYMBOLS {
            return Err(FieldError::new(
                "symbols",
                format!(
                    "{} symbols is more than the limit of {MAX_SYMBOLS}",
                    symbols.len()
                ),
            ));
        }
        if !seen.insert(t.clone()) {
            return Err(FieldError::new(
                "symbols",
                format!("symbol `{t}` is listed twice"),
            ));
        }
        out.push(t);
    }
    if out.is_empty() {
        return Err(FieldError::new("symbols", "enter at least one symbol"));
    }
    if out.len() > MAX_SYMBOLS {
        return Err(FieldError::new(
            "symbols",
            format!(
                "{} symbols is more than the limit of {MAX_SYMBOLS}",
                out.len()
            ),
        ));
    }
    Ok(out)
}

/// Splits free text ("aapl, msft\nTSLA") into symbols; the rules apply afterwards.
pub fn split_symbol_text(text: &str) -> Vec<String> {
    text.split(|c: char| c == ',' || c == ';' || c.is_whitespace())
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

fn write_spec_fields(spec: &JobSpec, raw: &mut Map<String, Value>) {
    fn tfs(list: &[Timeframe]) -> Value {
        Value::from(list.iter().map(|t| t.wire_name()).collect::<Vec<_>>())
    }
    fn range_fields(r: &DateRange, raw: &mut Map<String, Value>) {
        let years = r.years.unwrap_or_else(|| {
            // Keep `years` meaningful for legacy workers that only read it: the inclusive
            // day count, so a single day is 0.003 (never 0, which no worker accepts).
            let (from, to) = r.resolve(Utc::now().date_naive());
            let days = ((to - from).num_days() + 1).max(1) as f64;
            ((days / 365.0 * 1000.0).ceil() / 1000.0).max(0.003)
        });
        raw.insert("years".into(), Value::from(years));
        if let Some(s) = r.start_date {
            raw.insert("start_date".into(), Value::from(s.to_string()));
        }
        if let Some(e) = r.end_date {
            raw.insert("end_date".into(), Value::from(e.to_string()));
        }
    }
    match spec {
        JobSpec::Historical {
            symbols,
            timespan,
            range,
        } => {
            raw.insert("symbols".into(), Value::from(symbols.clone()));
            range_fields(range, raw);
            raw.insert("timespan".into(), Value::from(timespan.timespan_name()));
        }
        JobSpec::MultiTimeframe {
            symbols,
            timeframes,
            range,
        } => {
            raw.insert("symbols".into(), Value::from(symbols.clone()));
            raw.insert("timeframes".into(), tfs(timeframes));
            range_fields(range, raw);
        }
        JobSpec::UniverseSeed {
            universe_type,
            refresh,
            range,
        } => {
            raw.insert("universe_type".into(), Value::from(universe_type.clone()));
            range_fields(range, raw);
            if *refresh {
                raw.insert("refresh".into(), Value::from(true));
            }
        }
        JobSpec::CsvUniverse {
            csv_file,
            universe_key,
            symbols,
            timeframes,
            include_ohlcv,
            source,
            range,
        } => {
            if let Some(s) = source.as_ref().or(universe_key.as_ref()) {
                raw.insert("source".into(), Value::from(s.clone()));
            }
            if let Some(f) = csv_file {
                raw.insert("csv_file".into(), Value::from(f.clone()));
            }
            if let Some(k) = universe_key {
                raw.insert("universe_key".into(), Value::from(k.clone()));
            }
            if let Some(s) = symbols {
                raw.insert("symbols".into(), Value::from(s.clone()));
            }
            raw.insert("timeframes".into(), tfs(timeframes));
            range_fields(range, raw);
            raw.insert("include_ohlcv".into(), Value::from(*include_ohlcv));
        }
        JobSpec::TopUp {
            symbols,
            timeframes,
            fill,
            range,
        } => {
            raw.insert("symbols".into(), Value::from(symbols.clone()));
            raw.insert("timeframes".into(), tfs(timeframes));
            range_fields(range, raw);
            raw.insert("fill".into(), Value::from(*fill));
        }
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// Typed reads of optional fields with messages that name the field.
struct Fields<'a>(&'a Map<String, Value>);

impl Fields<'_> {
    fn get(&self, name: &str) -> Option<&Value> {
        self.0.get(name).filter(|v| !v.is_null())
    }

    fn wrong(&self, name: &str, want: &str, got: &Value) -> Error {
        Error::invalid(format!(
            "field `{name}` must be {want}, got {}",
            type_name(got)
        ))
    }

    fn string(&self, name: &str) -> Result<Option<String>> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(v) => Err(self.wrong(name, "a string", v)),
        }
    }

    fn number(&self, name: &str) -> Result<Option<f64>> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::Number(n)) => Ok(n.as_f64()),
            Some(v) => Err(self.wrong(name, "a number", v)),
        }
    }

    fn boolean(&self, name: &str) -> Result<Option<bool>> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(v) => Err(self.wrong(name, "true or false", v)),
        }
    }

    fn date(&self, name: &str) -> Result<Option<NaiveDate>> {
        match self.string(name)? {
            None => Ok(None),
            Some(s) => NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d")
                .map(Some)
                .map_err(|_| {
                    Error::invalid(format!(
                        "field `{name}` must be a date YYYY-MM-DD, got {}",
                        quote_input(&s)
                    ))
                }),
        }
    }

    fn strings(&self, name: &str) -> Result<Option<Vec<String>>> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::Array(items)) => items
                .iter()
                .map(|v| match v {
                    Value::String(s) => Ok(s.clone()),
                    other => Err(self.wrong(name, "a list of strings", other)),
                })
                .collect::<Result<Vec<_>>>()
                .map(Some),
            Some(v) => Err(self.wrong(name, "a list of strings", v)),
        }
    }

    fn required_strings(&self, name: &str) -> Result<Vec<String>> {
        self.strings(name)?
            .ok_or_else(|| Error::invalid(format!("field `{name}` is required")))
    }

    fn timeframe(&self, name: &str) -> Result<Option<Timeframe>> {
        match self.string(name)? {
            None => Ok(None),
            Some(s) => s
                .parse::<Timeframe>()
                .map(Some)
                .map_err(|e| Error::invalid(format!("field `{name}`: {e}"))),
        }
    }

    fn timeframes(&self, name: &str) -> Result<Option<Vec<Timeframe>>> {
        match self.strings(name)? {
            None => Ok(None),
            Some(list) => {
                let mut out: Vec<Timeframe> = Vec::new();
                for s in list {
                    let tf = s
                        .parse::<Timeframe>()
                        .map_err(|e| Error::invalid(format!("field `{name}`: {e}")))?;
                    if !out.contains(&tf) {
                        out.push(tf);
                    }
                }
                Ok(Some(out))
            }
        }
    }
}

/// A job as a person or a script asks for it (the CLI's flags, the page's form). Field names
/// are camelCase on the wire to match the page.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct JobRequest {
    /// The job_type wire name.
    pub kind: String,
    /// Symbols as a list or as free text (commas, spaces, new lines).
    pub symbols: SymbolsInput,
    pub years: Option<f64>,
    pub start_date: Option<String>,
    pub end_date: Option<String>,
    pub timespan: Option<String>,
    pub timeframes: Vec<String>,
    pub universe_type: Option<String>,
    pub universe_key: Option<String>,
    pub csv_file: Option<String>,
    pub refresh: bool,
    /// `top_up`: load only the sessions missing in the range, not from the last bar on.
    pub fill: bool,
}

/// Symbols given as a list or as one string.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(untagged)]
pub enum SymbolsInput {
    List(Vec<String>),
    Text(String),
}

impl Default for SymbolsInput {
    fn default() -> Self {
        SymbolsInput::List(Vec::new())
    }
}

impl SymbolsInput {
    /// The symbols as given, split on commas and white space.
    pub fn to_list(&self) -> Vec<String> {
        match self {
            SymbolsInput::List(l) => l.iter().flat_map(|s| split_symbol_text(s)).collect(),
            SymbolsInput::Text(t) => split_symbol_text(t),
        }
    }
}

impl JobRequest {
    /// Builds and validates the job this request describes; every problem is reported with
    /// its field. `known_universe` is asked about canonical universe keys.
    pub fn build(
        &self,
        requested_by: &str,
        known_universe: &dyn Fn(&str) -> bool,
    ) -> std::result::Result<Job, Vec<FieldError>> {
        let mut errors = Vec::new();
        let kind = match JobType::parse(self.kind.trim()) {
            Some(k) => k,
            None => {
                return Err(vec![FieldError::new(
                    "kind",
                    format!("unknown job type `{}`", self.kind),
                )])
            }
        };
        let mut date = |field: &'static str, v: &Option<String>| -> Option<NaiveDate> {
            let s = v.as_deref().map(str::trim).filter(|s| !s.is_empty())?;
            match NaiveDate::parse_from_str(s, "%Y-%m-%d") {
                Ok(d) => Some(d),
                Err(_) => {
                    errors.push(FieldError::new(
                        "dates",
                        format!("{field} `{s}` is not a date (YYYY-MM-DD)"),
                    ));
                    None
                }
            }
        };
        let start_date = date("start date", &self.start_date);
        let end_date = date("end date", &self.end_date);
        let range = DateRange {
            years: if start_date.is_some() {
                None
            } else {
                self.years
            },
            start_date,
            end_date,
        };
        let parse_tfs = |errors: &mut Vec<FieldError>| -> Vec<Timeframe> {
            let mut out = Vec::new();
            for name in &self.timeframes {
                match name.parse::<Timeframe>() {
                    Ok(tf) if !out.contains(&tf) => out.push(tf),
                    Ok(_) => {}
                    Err(e) => errors.push(FieldError::new("timeframes", e.to_string())),
                }
            }
            out
        };
        let symbols_list = self.symbols.to_list();
        let mut symbols = || match normalize_symbols(&symbols_list) {
            Ok(s) => s,
            Err(e) => {
                errors.push(e);
                Vec::new()
            }
        };
        let spec = match kind {
            JobType::HistoricalLoad => {
                let symbols = symbols();
                let timespan = match self.timespan.as_deref().unwrap_or("day").parse() {
                    Ok(t) => t,
                    Err(e) => {
                        errors.push(FieldError::new("timespan", format!("{e}")));
                        Timeframe::Day
                    }
                };
                JobSpec::Historical {
                    symbols,
                    timespan,
                    range,
                }
            }
            JobType::MultiTimeframeLoad => {
                let symbols = symbols();
                JobSpec::MultiTimeframe {
                    symbols,
                    timeframes: parse_tfs(&mut errors),
                    range,
                }
            }
            JobType::UniverseSeed => JobSpec::UniverseSeed {
                universe_type: self
                    .universe_type
                    .clone()
                    .or_else(|| self.universe_key.clone())
                    .unwrap_or_default()
                    .trim()
                    .to_string(),
                refresh: self.refresh,
                range,
            },
            JobType::CsvUniverseLoad => {
                let given_symbols = if symbols_list.is_empty() {
                    None
                } else {
                    Some(symbols())
                };
                let timeframes = if self.timeframes.is_empty() {
                    vec![Timeframe::Day]
                } else {
                    parse_tfs(&mut errors)
                };
                JobSpec::CsvUniverse {
                    csv_file: self
                        .csv_file
                        .as_deref()
                        .map(str::trim)
                        .filter(|s| !s.is_empty())
                        .map(str::to_string),
                    universe_key: self
                        .universe_key
                        .as_deref()
                        .map(str::trim)
                        .filter(|s| !s.is_empty())
                        .map(str::to_string),
                    symbols: given_symbols,
                    timeframes,
                    include_ohlcv: true,
                    source: None,
                    range,
                }
            }
            JobType::TopUp => {
                let symbols = symbols();
                let timeframes = if self.timeframes.is_empty() {
                    vec![Timeframe::Day]
                } else {
                    parse_tfs(&mut errors)
                };
                JobSpec::TopUp {
                    symbols,
                    timeframes,
                    fill: self.fill,
                    range,
                }
            }
        };
        let job = Job::new(spec, requested_by);
        for e in job.validate(known_universe) {
            // The symbol rules already ran on the raw input above.
            if e.field != "symbols" && !errors.contains(&e) {
                errors.push(e);
            }
        }
        if errors.is_empty() {
            Ok(job)
        } else {
            Err(errors)
        }
    }

    /// [`JobRequest::build`] against the built-in universes, as one core error.
    pub fn build_builtin(&self, requested_by: &str) -> Result<Job> {
        self.build(requested_by, &|k| universe::find_builtin(k).is_some())
            .map_err(|e| field_errors_to_error(&e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn builtin(k: &str) -> bool {
        universe::find_builtin(k).is_some()
    }

    #[test]
    fn new_job_has_legacy_fields_in_order() {
        let job = Job::new(
            JobSpec::Historical {
                symbols: vec!["AAPL".into(), "MSFT".into()],
                timespan: Timeframe::Day,
                range: DateRange {
                    years: Some(1.0),
                    ..Default::default()
                },
            },
            "admin_ui",
        );
        let keys: Vec<&str> = job.raw().keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            [
                "job_id",
                "job_type",
                "symbols",
                "years",
                "timespan",
                "requested_by",
                "timestamp"
            ]
        );
        assert!(uuid::Uuid::parse_str(&job.id).is_ok());
        let back = Job::from_json(&job.to_json()).unwrap();
        assert_eq!(back, job);
    }

    #[test]
    fn unknown_fields_survive_a_round_trip() {
        let text = r#"{"job_id":"x1","job_type":"historical_load","symbols":["AAPL"],"years":0.5,"timespan":"minute","priority":"high","nested":{"a":[1,2]}}"#;
        let job = Job::from_json(text).unwrap();
        assert_eq!(job.to_json(), text);
        assert!(matches!(
            job.spec,
            JobSpec::Historical {
                timespan: Timeframe::Minute,
                ..
            }
        ));
    }

    #[test]
    fn wrong_types_and_unknown_kinds_name_the_field() {
        let e = Job::from_json(
            r#"{"job_id":"a","job_type":"historical_load","symbols":"AAPL","years":1}"#,
        )
        .unwrap_err();
        assert!(
            e.message().contains("`symbols` must be a list of strings"),
            "{e}"
        );
        let e = Job::from_json(
            r#"{"job_id":"a","job_type":"historical_load","symbols":["AAPL"],"years":"one"}"#,
        )
        .unwrap_err();
        assert!(e.message().contains("`years` must be a number"), "{e}");
        let e = Job::from_json(r#"{"job_id":"a","job_type":"mystery_load"}"#).unwrap_err();
        assert!(
            e.message().contains("unknown job_type `mystery_load`"),
            "{e}"
        );
        let e = Job::from_json("{not json").unwrap_err();
        assert!(e.message().contains("not valid JSON"), "{e}");
        let e = Job::from_json(r#"{"job_type":"historical_load"}"#).unwrap_err();
        assert!(e.message().contains("no `job_id`"), "{e}");
    }

    fn request(symbols: &str) -> JobRequest {
        JobRequest {
            kind: "historical_load".into(),
            symbols: SymbolsInput::Text(symbols.into()),
            years: Some(1.0),
            timespan: Some("day".into()),
            ..Default::default()
        }
    }

    fn first_error(r: &JobRequest) -> FieldError {
        r.build("t", &builtin).unwrap_err().remove(0)
    }

    #[test]
    fn symbol_rules() {
        let job = request(" aapl, msft\nbrk.b ").build("t", &builtin).unwrap();
        assert_eq!(job.spec.symbols().unwrap(), ["AAPL", "MSFT", "BRK.B"]);
        let e = first_error(&request("AAPL, aapl"));
        assert_eq!(e.field, "symbols");
        assert!(
            e.message.contains("`AAPL` is listed twice"),
            "{}",
            e.message
        );
        assert!(first_error(&request("AAPL$"))
            .message
            .contains("not a valid ticker"));
        assert!(first_error(&request("ABCDEFGHIJK"))
            .message
            .contains("longer than 10"));
        assert!(first_error(&request(""))
            .message
            .contains("at least one symbol"));
        let many: Vec<String> = (0..10_001).map(|i| format!("S{i}")).collect();
        let mut r = request("");
        r.symbols = SymbolsInput::List(many);
        assert!(first_error(&r)
            .message
            .contains("more than the limit of 10000"));
    }

    #[test]
    fn range_rules() {
        for bad in [0.0, -1.0, 30.5, f64::NAN] {
            let mut r = request("AAPL");
            r.years = Some(bad);
            let e = first_error(&r);
            assert_eq!(e.field, "years", "{bad}");
        }
        let mut r = request("AAPL");
        r.years = Some(30.0);
        assert!(r.build("t", &builtin).is_ok());
        let mut r = request("AAPL");
        r.start_date = Some("2024-05-01".into());
        r.end_date = Some("2024-01-01".into());
        assert!(first_error(&r).message.contains("after end date"));
        let mut r = request("AAPL");
        r.start_date = Some("2024-13-01".into());
        assert!(first_error(&r).message.contains("not a date"));
        let mut r = request("AAPL");
        r.start_date = Some("2024-01-02".into());
        r.end_date = Some("2024-12-31".into());
        let job = r.build("t", &builtin).unwrap();
        assert_eq!(job.raw()["start_date"], "2024-01-02");
        assert_eq!(
            job.spec.range().resolve(Utc::now().date_naive()),
            (
                NaiveDate::from_ymd_opt(2024, 1, 2).unwrap(),
                NaiveDate::from_ymd_opt(2024, 12, 31).unwrap()
            )
        );
    }

    #[test]
    fn timeframe_and_universe_rules() {
        let mut r = request("AAPL");
        r.timespan = Some("5min".into());
        assert_eq!(first_error(&r).field, "timespan");
        let r = JobRequest {
            kind: "multi_timeframe_load".into(),
            symbols: SymbolsInput::Text("AAPL".into()),
            years: Some(1.0),
            timeframes: vec!["hour".into(), "fortnight".into()],
            ..Default::default()
        };
        assert!(first_error(&r).message.contains("`fortnight`"));
        let r = JobRequest {
            kind: "universe_seed".into(),
            universe_type: Some("SP501".into()),
            years: Some(1.0),
            ..Default::default()
        };
        assert!(first_error(&r)
            .message
            .contains("unknown universe key `SP501`"));
        let r = JobRequest {
            kind: "csv_universe_load".into(),
            universe_key: Some("SPY:nasdaq100".into()),
            years: Some(1.0),
            timeframes: vec!["day".into()],
            ..Default::default()
        };
        let job = r.build("t", &builtin).unwrap();
        assert_eq!(job.raw()["universe_key"], "SPY:nasdaq100");
        assert_eq!(job.raw()["source"], "SPY:nasdaq100");
    }

    #[test]
    fn ids_are_found_in_unreadable_messages() {
        assert_eq!(
            loose_job_id(r#"{"job_id": "abc-1", "years": NaN}"#).as_deref(),
            Some("abc-1")
        );
        assert_eq!(loose_job_id(r#"{"job_id":"x""#).as_deref(), Some("x"));
        assert_eq!(loose_job_id(r#"{"job_type":"x"}"#), None);
        assert_eq!(loose_job_id("garbage"), None);
        assert_ne!(message_digest("a"), message_digest("b"));
        assert_eq!(message_digest(""), "cbf29ce484222325");
    }

    #[test]
    fn a_single_day_range_survives_the_wire() {
        let mut r = request("AAPL");
        r.start_date = Some("2024-03-04".into());
        r.end_date = Some("2024-03-04".into());
        let job = r.build("t", &builtin).unwrap();
        assert_eq!(job.raw()["years"], 0.003);
        let back = Job::from_json(&job.to_json()).unwrap();
        assert_eq!(back.validate(&builtin), vec![]);
        // As old submitters wrote it: dates with `years` 0.
        let old = r#"{"job_id":"a","job_type":"historical_load","symbols":["AAPL"],"years":0.0,"start_date":"2024-03-04","end_date":"2024-03-04"}"#;
        assert_eq!(Job::from_json(old).unwrap().validate(&builtin), vec![]);
    }

    #[test]
    fn csv_names_stay_inside_the_csv_folder() {
        for ok in ["sp_500.csv", "lists/mine.csv", ".env"] {
            assert_eq!(check_csv_name(ok), Ok(()), "{ok}");
        }
        for bad in [
            "/etc/passwd",
            "../x.csv",
            "a/../../x.csv",
            "./x.csv",
            "C:\\x.csv",
            "a\nb.csv",
            "",
        ] {
            let e = check_csv_name(bad).unwrap_err();
            assert!(!bad.is_empty() && !e.contains(bad) || bad.is_empty(), "{e}");
        }
        assert!(check_csv_name(&"a".repeat(256)).is_err());
    }

    #[test]
    fn years_convert_to_days() {
        let today = NaiveDate::from_ymd_opt(2025, 6, 30).unwrap();
        let r = DateRange {
            years: Some(0.003),
            ..Default::default()
        };
        assert_eq!(
            r.resolve(today).0,
            NaiveDate::from_ymd_opt(2025, 6, 29).unwrap()
        );
        let r = DateRange {
            years: Some(1.0),
            ..Default::default()
        };
        assert_eq!((r.resolve(today).1 - r.resolve(today).0).num_days(), 365);
    }
}
