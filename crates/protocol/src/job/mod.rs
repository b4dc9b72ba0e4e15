//! The job message: the legacy wire format, parsed into a typed [`JobSpec`] while the
//! original JSON object is kept, so unknown fields survive a round trip untouched.
//!
//! By concern: `wire` reads and writes the message (parsing with [`Job::from_json`]
//! checks structure and types and accepts every message the existing TickStock services
//! write; ids, digests, unknown fields); `validate` holds the rules a new job must meet
//! ([`Job::validate`]: ticker syntax, counts, duplicates, `years`, dates, timeframes,
//! universe keys, each problem reported with its field); `request` is how the CLI and
//! the app build a job from user input ([`JobRequest`]). This file holds the typed model.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::timeframe::Timeframe;

mod request;
mod validate;
mod wire;

pub use request::{JobRequest, SymbolsInput};
pub use validate::{
    check_csv_name, check_ticker, field_errors_to_error, normalize_symbols, normalize_tickers,
    split_symbol_text, FieldError, MAX_CSV_NAME_LEN, MAX_MESSAGE_BYTES, MAX_SYMBOLS,
    MAX_TICKER_LEN, MAX_YEARS,
};
pub use wire::{
    loose_job_id, message_digest, parse_message, string_field, usable_id, MAX_JOB_ID_LEN,
};

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
        wire::write_spec_fields(&spec, &mut raw);
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

    /// Sets a field of ours on the message (such as `retry_of`); workers that do not know
    /// it keep and ignore it, as they do every unknown field.
    pub fn set_extra(&mut self, key: &str, value: Value) {
        self.raw.insert(key.to_string(), value);
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

#[cfg(test)]
mod tests {
    use super::*;

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
