//! The job message on the wire: reading a message ([`Job::from_json`], with messages that
//! name the field at fault), writing the typed fields back in the legacy order, and what
//! can be known of a message that is not a valid job (its id, its digest).

use chrono::{NaiveDate, Utc};
use serde_json::{Map, Value};

use super::{DateRange, Job, JobSpec, JobType, MAX_MESSAGE_BYTES};
use crate::error::{quote_input, Error, Result};
use crate::timeframe::Timeframe;

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

impl Job {
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
}

pub(super) fn write_spec_fields(spec: &JobSpec, raw: &mut Map<String, Value>) {
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

#[cfg(test)]
mod tests {
    use super::*;

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
            e.message().contains("unknown job_type \"mystery_load\""),
            "{e}"
        );
        let e = Job::from_json("{not json").unwrap_err();
        assert!(e.message().contains("not valid JSON"), "{e}");
        let e = Job::from_json(r#"{"job_type":"historical_load"}"#).unwrap_err();
        assert!(e.message().contains("no `job_id`"), "{e}");
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
}
