//! The Coverage view's commands: the completeness heat map (symbols x months) and the gaps
//! list with fill (top-up jobs with `fill`). Thin: each is a call into the core, with
//! typed camelCase answers. The view's schedules are in [`super::schedules`].

use chrono::{NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use tauri::State;
use tickstock_protocol::job::{JobRequest, SymbolsInput};
use tickstock_protocol::{ErrorKind, Timeframe};

use crate::error::{CmdResult, CommandError};
use crate::state::AppState;

/// Most symbols one gaps scan looks at: every stored key of the range is read.
fn max_gap_symbols(tf: Timeframe) -> usize {
    match tf {
        Timeframe::Minute => 20,
        Timeframe::Hour => 50,
        _ => 100,
    }
}

fn timeframe(tf: &str) -> CmdResult<Timeframe> {
    tf.trim()
        .parse()
        .map_err(|e| CommandError::field("timeframe", format!("{e}")))
}

fn date(field: &str, s: &str) -> CmdResult<NaiveDate> {
    NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d").map_err(|_| {
        CommandError::field(field, format!("`{}` is not a date (YYYY-MM-DD)", s.trim()))
    })
}

fn symbol_list(symbols: &Option<Vec<String>>) -> CmdResult<Option<Vec<String>>> {
    match symbols {
        Some(l) if !l.iter().all(|s| s.trim().is_empty()) => Ok(Some(
            tickstock_protocol::job::normalize_symbols(l)
                .map_err(|e| CommandError::field("symbols", e.message))?,
        )),
        _ => Ok(None),
    }
}

/// One cell of the heat map.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HeatCellView {
    pub month: String,
    pub bars: i64,
    pub expected: u64,
    pub completeness: Option<f64>,
    pub rating: Option<&'static str>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HeatRowView {
    pub symbol: String,
    pub cells: Vec<HeatCellView>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HeatMapView {
    pub timeframe: String,
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub months: Vec<String>,
    pub rows: Vec<HeatRowView>,
    pub more: usize,
}

/// Completeness per symbol and month over the last `months` months.
#[tauri::command]
pub async fn coverage_map(
    state: State<'_, AppState>,
    timeframe: String,
    months: Option<u32>,
    symbols: Option<Vec<String>>,
) -> CmdResult<HeatMapView> {
    let tf = self::timeframe(&timeframe)?;
    let symbols = symbol_list(&symbols)?;
    let engine = state.engine().await;
    let map = tickstock_jobs::reads::heatmap::monthly(
        engine.store()?,
        symbols.as_deref(),
        tf,
        months.unwrap_or(12),
        Utc::now(),
    )
    .await?;
    Ok(HeatMapView {
        timeframe: map.timeframe.wire_name().to_string(),
        from: map.from,
        to: map.to,
        rows: map
            .rows
            .into_iter()
            .map(|r| HeatRowView {
                symbol: r.symbol,
                cells: r
                    .cells
                    .into_iter()
                    .zip(&map.months)
                    .map(|(c, m)| HeatCellView {
                        month: m.clone(),
                        bars: c.bars,
                        expected: c.expected,
                        completeness: c.completeness,
                        rating: c.rating,
                    })
                    .collect(),
            })
            .collect(),
        months: map.months,
        more: map.more,
    })
}

/// One run of missing sessions.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GapView {
    pub symbol: String,
    pub timeframe: String,
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub sessions: u32,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GapsView {
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub symbols_checked: usize,
    /// Symbols asked for (those past the first `symbols_checked` were not looked at).
    pub symbols_total: usize,
    pub gaps: Vec<GapView>,
}

/// The missing sessions of the stored symbols (or of `symbols`) in `[from, to]`.
#[tauri::command]
pub async fn coverage_gaps(
    state: State<'_, AppState>,
    timeframe: String,
    from: String,
    to: String,
    symbols: Option<Vec<String>>,
) -> CmdResult<GapsView> {
    let tf = self::timeframe(&timeframe)?;
    let (from, to) = (date("from", &from)?, date("to", &to)?);
    if from > to {
        return Err(CommandError::field("from", format!("{from} is after {to}")));
    }
    let engine = state.engine().await;
    let store = engine.store()?;
    let list = match symbol_list(&symbols)? {
        Some(l) => l,
        None => store
            .symbol_spans(tf, None)
            .await?
            .into_iter()
            .map(|s| s.symbol)
            .collect(),
    };
    let now = Utc::now();
    let mut gaps = Vec::new();
    let mut to_checked = to;
    for s in list.iter().take(max_gap_symbols(tf)) {
        let r = tickstock_jobs::reads::completeness::gaps(store, s, tf, from, to, now).await?;
        to_checked = r.to;
        gaps.extend(r.gaps.into_iter().map(|g| GapView {
            symbol: r.symbol.clone(),
            timeframe: tf.wire_name().to_string(),
            from: g.from,
            to: g.to,
            sessions: g.sessions,
        }));
    }
    Ok(GapsView {
        from,
        to: to_checked,
        symbols_checked: list.len().min(max_gap_symbols(tf)),
        symbols_total: list.len(),
        gaps,
    })
}

/// A gap to fill, as the page sends it.
#[derive(Debug, Deserialize)]
pub struct FillItem {
    pub symbol: String,
    pub timeframe: String,
    pub from: String,
    pub to: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FillView {
    pub job_ids: Vec<String>,
    pub warning: Option<String>,
}

/// Submits top-up jobs with `fill` over the given gaps: one job per timeframe, over its
/// symbols and the span of their gaps (fill loads only what is missing in it).
#[tauri::command]
pub async fn fill_gaps(state: State<'_, AppState>, items: Vec<FillItem>) -> CmdResult<FillView> {
    if items.is_empty() {
        return Err(CommandError::new(
            ErrorKind::InvalidInput,
            "no gaps to fill",
        ));
    }
    let mut groups: Vec<(Timeframe, Vec<String>, NaiveDate, NaiveDate)> = Vec::new();
    for it in &items {
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
    let engine = state.engine().await;
    let mut job_ids = Vec::new();
    let mut warning = None;
    for (tf, symbols, from, to) in groups {
        let job = JobRequest {
            kind: "top_up".into(),
            symbols: SymbolsInput::List(symbols),
            timeframes: vec![tf.wire_name().to_string()],
            fill: true,
            start_date: Some(from.format("%Y-%m-%d").to_string()),
            end_date: Some(to.format("%Y-%m-%d").to_string()),
            ..Default::default()
        }
        .build(&engine.settings().operator_name(), &|_| false)?;
        job_ids.push(job.id.clone());
        if let Some(w) = engine.submit(job).await?.warning {
            warning = Some(w);
        }
    }
    Ok(FillView { job_ids, warning })
}
