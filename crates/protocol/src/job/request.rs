//! A job as a person or a script asks for it: [`JobRequest`] (the CLI's flags, the page's
//! form) built into a validated [`Job`], every problem reported with its field.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::{
    field_errors_to_error, normalize_symbols, split_symbol_text, DateRange, FieldError, Job,
    JobSpec, JobType,
};
use crate::error::Result;
use crate::timeframe::Timeframe;
use crate::universe;

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
    use chrono::Utc;

    use super::*;

    fn builtin(k: &str) -> bool {
        universe::find_builtin(k).is_some()
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
        assert!(first_error(&r).message.contains("\"fortnight\""));
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
}
