//! A job as the page shows it, from a live status or from a history row.

use serde::Serialize;
use serde_json::Value;
use tickstock_jobs::runtime::JobRun;
use tickstock_protocol::status::parse_time;
use tickstock_protocol::status::{figures, JobState, JobStatus, SymbolFailure};

/// A whole, non-negative figure the worker keeps in the status.
fn figure(st: &JobStatus, key: &str) -> Option<u64> {
    st.figure(key).map(|n| n.max(0) as u64)
}

/// One job as the page shows it.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct JobView {
    pub job_id: String,
    pub job_type: Option<String>,
    pub status: String,
    pub progress: u8,
    pub message: Option<String>,
    pub current_symbol: Option<String>,
    pub processed_symbols: Option<u64>,
    pub total_symbols: Option<u64>,
    pub successful_symbols: Vec<String>,
    pub failed_symbols: Vec<SymbolFailure>,
    pub ohlcv_records_loaded: u64,
    pub bars_per_second: Option<f64>,
    pub eta_seconds: Option<f64>,
    /// The job's Polygon requests so far, and those its plan estimated (the worker's own
    /// figures; absent from history rows and from workers that do not send them).
    pub polygon_requests: Option<u64>,
    pub polygon_requests_estimated: Option<u64>,
    /// Seconds the estimated requests take at the plan's rate (rate-limited plans only).
    pub seconds_estimated: Option<u64>,
    pub submitted_at: Option<String>,
    pub started_at: Option<String>,
    pub completed_at: Option<String>,
    pub duration_seconds: Option<f64>,
    pub error_message: Option<String>,
    pub params: Value,
    pub active: bool,
    /// The job's own log lines (the detail only; empty in lists).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub log: Vec<tickstock_jobs::runtime::joblog::LogLine>,
    /// Who submitted it (the operator, or `scheduler:NAME`).
    pub requested_by: Option<String>,
    /// The worker that ran it.
    pub worker: Option<String>,
    /// The job this one retries, if it is a retry.
    pub retry_of: Option<String>,
    /// Jobs that retry this one (the detail only).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub retries: Vec<String>,
    /// Finished (symbol, timeframe) units with their bars (the detail only).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub units: Vec<UnitView>,
}

/// One finished (symbol, timeframe) unit of a job.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct UnitView {
    pub symbol: String,
    pub timeframe: &'static str,
    pub bars: u64,
}

fn param_str(params: &Value, key: &str) -> Option<String> {
    params
        .get(key)
        .and_then(|v| v.as_str())
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

fn elapsed_since(iso: Option<&str>) -> Option<f64> {
    let t = parse_time(iso?)?;
    let secs = (chrono::Utc::now() - t).num_milliseconds() as f64 / 1000.0;
    (secs > 0.0).then_some(secs)
}

impl JobView {
    /// From a live status (Redis or the in-process queue).
    pub fn from_status(job_id: &str, st: &JobStatus, params: Value) -> JobView {
        let bars = st.ohlcv_records_loaded.unwrap_or(0);
        let running = st.state == JobState::Running;
        let elapsed = elapsed_since(st.started_at.as_deref());
        // The worker's own figures when it sends them: the rate over the last minute and
        // an ETA from the requests left at the plan's rate (steady while it waits).
        let extra = |k: &str| st.extra.get(k).and_then(|v| v.as_f64());
        let rate = match (running, elapsed) {
            (true, _) if extra("bars_per_second").is_some() => extra("bars_per_second"),
            (true, Some(e)) if e >= 1.0 => Some((bars as f64 / e * 10.0).round() / 10.0),
            _ => None,
        };
        let eta = match (running, elapsed) {
            (true, _) if extra("eta_seconds").is_some() => extra("eta_seconds"),
            (true, Some(e)) if st.progress > 0 && st.progress < 100 => {
                Some((e * (100.0 - st.progress as f64) / st.progress as f64).round())
            }
            _ => None,
        };
        // Legacy writers list failed tickers without reasons.
        let mut failed = st.failures.clone();
        for s in &st.failed_symbols {
            if !failed.iter().any(|f| &f.symbol == s) {
                failed.push(SymbolFailure {
                    symbol: s.clone(),
                    reason: String::new(),
                });
            }
        }
        JobView {
            job_id: job_id.to_string(),
            job_type: st.job_type.clone(),
            status: st.state.as_str().to_string(),
            progress: st.progress,
            message: st.message.clone(),
            current_symbol: st.current_symbol.clone(),
            processed_symbols: st.processed_symbols,
            total_symbols: st.total_symbols,
            successful_symbols: st.successful_symbols.clone(),
            failed_symbols: failed,
            ohlcv_records_loaded: bars,
            bars_per_second: rate,
            eta_seconds: eta,
            polygon_requests: figure(st, figures::POLYGON_REQUESTS),
            polygon_requests_estimated: figure(st, figures::POLYGON_REQUESTS_ESTIMATED),
            seconds_estimated: figure(st, figures::SECONDS_ESTIMATED),
            submitted_at: st.submitted_at.clone(),
            started_at: st.started_at.clone(),
            completed_at: st.completed_at.clone(),
            duration_seconds: st.duration_seconds,
            error_message: st.error_message.clone(),
            requested_by: param_str(&params, "requested_by"),
            retry_of: param_str(&params, "retry_of"),
            worker: st.worker_id.clone(),
            params,
            active: st.state.is_active(),
            log: Vec::new(),
            retries: Vec::new(),
            units: Vec::new(),
        }
    }

    /// From a history row.
    pub fn from_run(run: &JobRun) -> JobView {
        let failed: Vec<SymbolFailure> =
            serde_json::from_value(run.failed_symbols.clone()).unwrap_or_default();
        let active = JobState::parse(&run.status).is_some_and(|s| s.is_active());
        let iso = |t: &Option<chrono::DateTime<chrono::Utc>>| t.map(|t| t.to_rfc3339());
        JobView {
            job_id: run.id.clone(),
            job_type: Some(run.kind.clone()),
            status: run.status.clone(),
            progress: run.progress.clamp(0, 100) as u8,
            message: run.message.clone(),
            current_symbol: None,
            processed_symbols: Some((run.symbols_ok + run.symbols_failed) as u64),
            total_symbols: Some(run.symbols_total as u64),
            successful_symbols: Vec::new(),
            failed_symbols: failed,
            ohlcv_records_loaded: run.bars_loaded.max(0) as u64,
            bars_per_second: None,
            eta_seconds: None,
            polygon_requests: run.polygon_requests.map(|n| n.max(0) as u64),
            polygon_requests_estimated: run.polygon_requests_estimated.map(|n| n.max(0) as u64),
            seconds_estimated: run.seconds_estimated.map(|n| n.max(0) as u64),
            submitted_at: iso(&run.submitted_at),
            started_at: iso(&run.started_at),
            completed_at: iso(&run.completed_at),
            duration_seconds: match (run.started_at, run.completed_at) {
                (Some(s), Some(e)) => Some((e - s).num_milliseconds() as f64 / 1000.0),
                _ => None,
            },
            error_message: run.error.clone(),
            requested_by: param_str(&run.params, "requested_by"),
            retry_of: param_str(&run.params, "retry_of"),
            worker: run.worker.clone(),
            params: run.params.clone(),
            active,
            log: Vec::new(),
            retries: Vec::new(),
            units: Vec::new(),
        }
    }
}
