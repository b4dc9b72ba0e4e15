//! Retrying part of a job: only the symbols that failed, or the rest of a job that was
//! cancelled or failed part-way (the symbols its checkpoints do not show as done). The new
//! job loads those symbols over the same timeframes and dates, carries `retry_of` (the
//! original's id) and `retry_part`, and links back to it in the history.

use std::collections::HashSet;

use serde_json::Value;

use tickstock_data::store::JobRun;
use tickstock_protocol::error::{Error, Result};
use tickstock_protocol::job::{Job, JobSpec};
use tickstock_protocol::status::SymbolFailure;
use tickstock_protocol::unit::Unit;

/// Which part of a job to run again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RetryPart {
    /// All of it (same parameters, new id).
    All,
    /// Only the symbols that failed.
    FailedSymbols,
    /// The symbols not finished when it stopped.
    Rest,
}

impl RetryPart {
    pub fn as_str(self) -> &'static str {
        match self {
            RetryPart::All => "all",
            RetryPart::FailedSymbols => "failed_symbols",
            RetryPart::Rest => "rest",
        }
    }
}

/// Every symbol a job named or resolved (universe jobs: the `symbols` they were published
/// with), in order.
pub fn job_symbols(job: &Job) -> Vec<String> {
    job.spec
        .symbols()
        .map(<[String]>::to_vec)
        .or_else(|| job.message_symbols())
        .unwrap_or_default()
}

/// The symbols of a history row that failed.
pub fn failed_symbols(run: &JobRun) -> Vec<String> {
    let failures: Vec<SymbolFailure> =
        serde_json::from_value(run.failed_symbols.clone()).unwrap_or_default();
    let mut seen = HashSet::new();
    failures
        .into_iter()
        .map(|f| f.symbol)
        .filter(|s| !s.is_empty() && seen.insert(s.clone()))
        .collect()
}

/// The symbols of `job` not finished in every timeframe, given its finished units.
pub fn rest_symbols(job: &Job, done: &[Unit]) -> Vec<String> {
    let timeframes = job.spec.timeframes();
    job_symbols(job)
        .into_iter()
        .filter(|s| {
            !timeframes.iter().all(|tf| {
                done.iter()
                    .any(|u| u.symbol.as_str() == s && u.timeframe == *tf)
            })
        })
        .collect()
}

/// A new job loading `symbols` as `job` did (same timeframes and dates).
pub fn partial_job(job: &Job, symbols: Vec<String>, who: &str, part: RetryPart) -> Result<Job> {
    if symbols.is_empty() {
        return Err(Error::invalid(match part {
            RetryPart::FailedSymbols => "No symbol of this job failed: nothing to retry",
            _ => "Every symbol of this job was loaded: nothing is left to resume",
        }));
    }
    let range = *job.spec.range();
    let spec = match &job.spec {
        JobSpec::Historical { timespan, .. } => JobSpec::Historical {
            symbols,
            timespan: *timespan,
            range,
        },
        JobSpec::TopUp {
            timeframes, fill, ..
        } => JobSpec::TopUp {
            symbols,
            timeframes: timeframes.clone(),
            fill: *fill,
            range,
        },
        other => JobSpec::MultiTimeframe {
            symbols,
            timeframes: other.timeframes(),
            range,
        },
    };
    let mut new = Job::new(spec, who);
    new.set_extra("retry_of", Value::from(job.id.clone()));
    new.set_extra("retry_part", Value::from(part.as_str()));
    Ok(new)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tickstock_protocol::job::DateRange;
    use tickstock_protocol::Timeframe;

    #[test]
    fn the_rest_is_what_is_not_done_in_every_timeframe() {
        let job = Job::new(
            JobSpec::MultiTimeframe {
                symbols: vec!["AAPL".into(), "MSFT".into(), "NVDA".into()],
                timeframes: vec![Timeframe::Day, Timeframe::Hour],
                range: DateRange {
                    years: Some(1.0),
                    ..Default::default()
                },
            },
            "ops",
        );
        let done: Vec<Unit> = ["AAPL|day", "AAPL|hour", "MSFT|day"]
            .iter()
            .map(|u| u.parse().unwrap())
            .collect();
        assert_eq!(rest_symbols(&job, &done), vec!["MSFT", "NVDA"]);
        let again = partial_job(&job, rest_symbols(&job, &done), "ops", RetryPart::Rest).unwrap();
        assert_eq!(again.spec.symbols().unwrap(), ["MSFT", "NVDA"]);
        assert_eq!(
            again.spec.timeframes(),
            vec![Timeframe::Day, Timeframe::Hour]
        );
        let msg = again.to_value();
        assert_eq!(msg["retry_of"], Value::from(job.id.clone()));
        assert_eq!(msg["retry_part"], "rest");
        let none = partial_job(&job, Vec::new(), "ops", RetryPart::FailedSymbols);
        assert!(none
            .unwrap_err()
            .message()
            .contains("No symbol of this job failed"));
    }
}
