//! The Coverage view's commands: the completeness heat map (symbols x months) and the gaps
//! list, each a page of the symbols a filter picks. Thin: each is a call into the core,
//! with typed camelCase answers. Filling gaps is in [`super::fill`], the view's schedules
//! in [`super::schedules`].

use chrono::{NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use tauri::State;
use tickstock_jobs::reads::completeness::SymbolPage;
use tickstock_protocol::Timeframe;

use crate::error::{CmdResult, CommandError};
use crate::state::AppState;

pub(super) fn timeframe(tf: &str) -> CmdResult<Timeframe> {
    tf.trim()
        .parse()
        .map_err(|e| CommandError::field("timeframe", format!("{e}")))
}

pub(super) fn date(field: &str, s: &str) -> CmdResult<NaiveDate> {
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

/// The page of symbols the view asks for: those `filter` picks (tickers or prefixes,
/// separated by commas or spaces), from `offset`, at most `limit` (and the view's own most).
#[derive(Debug, Default, Deserialize)]
pub struct PageArgs {
    pub filter: Option<String>,
    pub offset: Option<usize>,
    pub limit: Option<usize>,
}

impl PageArgs {
    fn page(self, most: usize) -> SymbolPage {
        SymbolPage {
            filter: self.filter.filter(|f| !f.trim().is_empty()),
            offset: self.offset.unwrap_or(0),
            limit: self.limit.unwrap_or(most).clamp(1, most),
        }
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
    /// Symbols the filter picks; the rows are those from `offset` on.
    pub total: usize,
    pub offset: usize,
    /// Symbols picked after the rows.
    pub more: usize,
}

/// Completeness per symbol and month over the last `months` months: the page from
/// `offset` (at most 200 rows) of the symbols `filter` picks.
#[tauri::command]
pub async fn coverage_map(
    state: State<'_, AppState>,
    timeframe: String,
    months: Option<u32>,
    symbols: Option<Vec<String>>,
    page: Option<PageArgs>,
) -> CmdResult<HeatMapView> {
    let tf = self::timeframe(&timeframe)?;
    let symbols = symbol_list(&symbols)?;
    let page = page
        .unwrap_or_default()
        .page(tickstock_jobs::reads::heatmap::MAX_SYMBOLS);
    let engine = state.engine().await;
    let map = tickstock_jobs::reads::heatmap::monthly(
        engine.store()?,
        symbols.as_deref(),
        &page,
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
        total: map.total,
        offset: map.offset,
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
    /// Symbols the filter picks; those checked are `symbols_checked` from `offset` on.
    pub symbols_total: usize,
    pub offset: usize,
    pub symbols_checked: usize,
    /// Most symbols one page checks in this timeframe.
    pub page_size: usize,
    pub gaps: Vec<GapView>,
}

/// The missing sessions in `[from, to]` of one page of the stored symbols (or of
/// `symbols`) that `filter` picks, from `offset` (at most 100 daily, 50 hourly or 20
/// minute symbols a page: every stored key of the range is read).
#[tauri::command]
pub async fn coverage_gaps(
    state: State<'_, AppState>,
    timeframe: String,
    from: String,
    to: String,
    symbols: Option<Vec<String>>,
    page: Option<PageArgs>,
) -> CmdResult<GapsView> {
    let tf = self::timeframe(&timeframe)?;
    let (from, to) = (date("from", &from)?, date("to", &to)?);
    if from > to {
        return Err(CommandError::field("from", format!("{from} is after {to}")));
    }
    let symbols = symbol_list(&symbols)?;
    let page = page
        .unwrap_or_default()
        .page(tickstock_jobs::reads::completeness::max_gap_symbols(tf));
    let engine = state.engine().await;
    let r = tickstock_jobs::reads::completeness::gaps_page(
        engine.store()?,
        symbols.as_deref(),
        &page,
        tf,
        from,
        to,
        Utc::now(),
    )
    .await?;
    let symbols_checked = r.reports.len();
    let gaps = r
        .reports
        .into_iter()
        .flat_map(|report| {
            let symbol = report.symbol;
            report.gaps.into_iter().map(move |g| GapView {
                symbol: symbol.clone(),
                timeframe: tf.wire_name().to_string(),
                from: g.from,
                to: g.to,
                sessions: g.sessions,
            })
        })
        .collect();
    Ok(GapsView {
        from: r.from,
        to: r.to,
        symbols_total: r.total,
        offset: r.offset,
        symbols_checked,
        page_size: page.limit,
        gaps,
    })
}
