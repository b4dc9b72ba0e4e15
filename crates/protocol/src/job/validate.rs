//! The rules a new job must meet before it runs: symbols, ranges, timeframes, universe
//! keys and CSV names, each problem reported with the field the submit form shows it on.

use chrono::Utc;
use serde::Serialize;

use super::{DateRange, Job, JobSpec};
use crate::error::{quote_input, Error};
use crate::unit::Ticker;
use crate::universe;

/// Most symbols one job may name.
pub const MAX_SYMBOLS: usize = 10_000;
pub use crate::unit::{check_ticker, MAX_TICKER_LEN};
/// Most years of history one job may ask for.
pub const MAX_YEARS: f64 = 30.0;
/// Largest job message accepted, in bytes (10,000 symbols take about 140 KB).
pub const MAX_MESSAGE_BYTES: usize = 512 * 1024;

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

/// A problem with one input field; `field` names it the way the submit form does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    pub field: &'static str,
    pub message: String,
}

impl FieldError {
    pub(super) fn new(field: &'static str, message: impl Into<String>) -> Self {
        FieldError {
            field,
            message: message.into(),
        }
    }
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

impl Job {
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

/// Normalises symbols (trim, upper case) and checks them: syntax, 1 to 10,000 of them, no
/// duplicates. Returns the normalised list in input order.
pub fn normalize_symbols(symbols: &[String]) -> std::result::Result<Vec<String>, FieldError> {
    normalize_tickers(symbols).map(|list| list.into_iter().map(Ticker::into_string).collect())
}

/// [`normalize_symbols`] as [`Ticker`]s.
pub fn normalize_tickers(symbols: &[String]) -> std::result::Result<Vec<Ticker>, FieldError> {
    let mut out = Vec::with_capacity(symbols.len());
    let mut seen = std::collections::HashSet::with_capacity(symbols.len());
    for s in symbols {
        // Only the ends are trimmed: `A\nB` is no ticker (it used to load as `AB`).
        let t = Ticker::parse(s).map_err(|m| FieldError::new("symbols", m))?;
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
