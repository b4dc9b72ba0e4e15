//! Filling the Coverage view's gaps: top-up jobs with `fill` (one per timeframe, over its
//! symbols and the span of their gaps), submitted through the job service with its
//! duplicate refusal; and what they would cost, asked before many are submitted at once.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use tauri::State;
use tickstock_protocol::job::{Job, JobRequest, SymbolsInput};
use tickstock_protocol::{ErrorKind, Timeframe};

use super::coverage::{date, timeframe};
use crate::engine::Engine;
use crate::error::{CmdResult, CommandError};
use crate::state::AppState;

/// A gap to fill, as the page sends it.
#[derive(Debug, Deserialize)]
pub struct FillItem {
    pub symbol: String,
    pub timeframe: String,
    pub from: String,
    pub to: String,
}

/// The jobs that fill `items`: one top-up with `fill` per timeframe, over its symbols and
/// the span of their gaps (fill loads only what is missing in it).
fn fill_jobs(engine: &Engine, items: &[FillItem]) -> CmdResult<Vec<Job>> {
    if items.is_empty() {
        return Err(CommandError::new(
            ErrorKind::InvalidInput,
            "no gaps to fill",
        ));
    }
    let mut groups: Vec<(Timeframe, Vec<String>, NaiveDate, NaiveDate)> = Vec::new();
    for it in items {
        let tf = timeframe(&it.timeframe)?;
        let (a, b) = (date("from", &it.from)?, date("to", &it.to)?);
        match groups.iter_mut().find(|g| g.0 == tf) {
            Some(g) => {
                if !g.1.contains(&it.symbol) {
                    g.1.push(it.symbol.clone());
                }
                g.2 = g.2.min(a);
                g.3 = g.3.max(b);
            }
            None => groups.push((tf, vec![it.symbol.clone()], a, b)),
        }
    }
    let who = engine.settings().operator_name();
    groups
        .into_iter()
        .map(|(tf, symbols, from, to)| {
            Ok(JobRequest {
                kind: "top_up".into(),
                symbols: SymbolsInput::List(symbols),
                timeframes: vec![tf.wire_name().to_string()],
                fill: true,
                start_date: Some(from.format("%Y-%m-%d").to_string()),
                end_date: Some(to.format("%Y-%m-%d").to_string()),
                ..Default::default()
            }
            .build(&who, &|_| false)?)
        })
        .collect()
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FillView {
    pub job_ids: Vec<String>,
    pub warning: Option<String>,
}

/// Submits the jobs that fill the given gaps.
#[tauri::command]
pub async fn fill_gaps(state: State<'_, AppState>, items: Vec<FillItem>) -> CmdResult<FillView> {
    let engine = state.engine().await;
    let mut job_ids = Vec::new();
    let mut warning = None;
    for job in fill_jobs(&engine, &items)? {
        job_ids.push(job.id.clone());
        if let Some(w) = engine.submit(job).await?.warning {
            warning = Some(w);
        }
    }
    Ok(FillView { job_ids, warning })
}

/// What filling a set of gaps would submit and cost.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FillEstimateView {
    pub gaps: usize,
    /// Distinct symbols over every job.
    pub symbols: usize,
    pub jobs: usize,
    /// Polygon requests for the bars, at most (every page of each symbol's whole span).
    pub requests: u64,
    /// Reference-list requests more, at most, for symbols not yet registered.
    pub registration_requests_max: u64,
    /// The bars' requests at the plan's rate; `None` when unlimited.
    pub seconds: Option<f64>,
    pub requests_per_minute: u32,
    /// Each job's estimate, one line each.
    pub summary: String,
}

/// The jobs filling `items` would be, and their Polygon requests and time at the plan's
/// rate (nothing submitted).
#[tauri::command]
pub async fn estimate_fill(
    state: State<'_, AppState>,
    items: Vec<FillItem>,
) -> CmdResult<FillEstimateView> {
    let engine = state.engine().await;
    let jobs = fill_jobs(&engine, &items)?;
    let mut symbols: Vec<String> = items.iter().map(|i| i.symbol.to_uppercase()).collect();
    symbols.sort();
    symbols.dedup();
    let mut view = FillEstimateView {
        gaps: items.len(),
        symbols: symbols.len(),
        jobs: jobs.len(),
        requests: 0,
        registration_requests_max: 0,
        seconds: Some(0.0),
        requests_per_minute: 0,
        summary: String::new(),
    };
    let mut lines = Vec::new();
    for job in jobs {
        let e = engine.estimate(job).await?;
        view.requests += e.requests;
        view.registration_requests_max += e.registration_requests_max;
        view.seconds = view.seconds.zip(e.seconds).map(|(a, b)| a + b);
        view.requests_per_minute = e.requests_per_minute;
        lines.push(e.summary());
    }
    view.summary = lines.join("\n");
    Ok(view)
}
