//! The history: the simple list (filters, search, pages), the history at scale (keyset
//! pages, jumps, sorts, counts), and the CSV export of what the table shows through the
//! system's Save dialog.

use serde::Deserialize;
use tauri::State;
use tickstock_jobs::runtime::JobRunFilter;
use tickstock_protocol::ErrorKind;

use crate::error::{CmdResult, CommandError};
use crate::state::AppState;
use crate::views::{ExportView, HistoryPageView, JobListView, JobView};
use tickstock_jobs::reads::history_query::{HistoryPosition, HistoryQuery, HistorySort};

/// The history's search box and filters.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ListFilter {
    pub query: Option<String>,
    pub kind: Option<String>,
    pub status: Option<String>,
    /// 1-based, as the page counts.
    pub page: Option<u32>,
    pub page_size: Option<u32>,
}

impl ListFilter {
    /// Id prefix when the text looks like one (hex and dashes), else a symbol.
    fn to_filters(&self) -> Vec<JobRunFilter> {
        let base = JobRunFilter {
            kind: nonempty(&self.kind),
            status: nonempty(&self.status),
            page: self.page.unwrap_or(1).max(1) - 1,
            page_size: self.page_size.unwrap_or(20).clamp(1, 1000),
            ..JobRunFilter::default()
        };
        match nonempty(&self.query) {
            None => vec![base],
            Some(q) => {
                let as_symbol = JobRunFilter {
                    symbol: Some(q.to_ascii_uppercase()),
                    ..base.clone()
                };
                if q.chars().all(|c| c.is_ascii_hexdigit() || c == '-') {
                    vec![
                        JobRunFilter {
                            id_prefix: Some(q.to_ascii_lowercase()),
                            ..base
                        },
                        as_symbol,
                    ]
                } else {
                    vec![as_symbol]
                }
            }
        }
    }
}

fn nonempty(s: &Option<String>) -> Option<String> {
    s.as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

#[tauri::command]
pub async fn list_jobs(state: State<'_, AppState>, filter: ListFilter) -> CmdResult<JobListView> {
    let engine = state.engine().await;
    let store = engine.store()?;
    let filters = filter.to_filters();
    let mut page = store.list_job_runs(&filters[0]).await?;
    if page.total == 0 {
        if let Some(alt) = filters.get(1) {
            page = store.list_job_runs(alt).await?;
        }
    }
    let items: Vec<JobView> = page.items.iter().map(JobView::from_run).collect();
    Ok(JobListView {
        items,
        total: page.total,
        page: filters[0].page + 1,
        page_size: filters[0].page_size,
        database: store.describe(),
    })
}

/// Exports what the history table shows for `query` (its search and every filter, in its
/// order, all pages, with the table's columns) as CSV through the system's Save dialog:
/// `{"path"}` where the file went, or `{"cancelled": true}`. A file that cannot be
/// written is an error naming the path and the reason (nothing is written anywhere else).
#[tauri::command]
pub async fn export_jobs_csv<R: tauri::Runtime>(
    app: tauri::AppHandle<R>,
    state: State<'_, AppState>,
    query: HistoryQueryInput,
) -> CmdResult<ExportView> {
    use tauri_plugin_dialog::DialogExt;
    let text = jobs_csv(&state, &query).await?;
    let rows = Some(text.lines().count().saturating_sub(1));
    let name = format!(
        "tickstock-jobs-{}.csv",
        chrono::Local::now().format("%Y%m%d-%H%M")
    );
    // Scripted runs and tests name the file instead of answering a dialog.
    if let Some(path) = std::env::var_os("TICKSTOCK_EXPORT_PATH").filter(|p| !p.is_empty()) {
        let path = std::path::PathBuf::from(path);
        write_export(&path, &text).await?;
        return Ok(ExportView {
            path: Some(path.display().to_string()),
            cancelled: false,
            rows,
        });
    }
    let (tx, rx) = tokio::sync::oneshot::channel();
    app.dialog()
        .file()
        .set_title("Export jobs as CSV")
        .add_filter("CSV", &["csv"])
        .set_file_name(&name)
        .save_file(move |picked| {
            let _ = tx.send(picked);
        });
    let Some(picked) = rx.await.ok().flatten() else {
        return Ok(ExportView {
            path: None,
            cancelled: true,
            rows: None,
        });
    };
    let path = picked.into_path().map_err(|e| {
        CommandError::new(
            ErrorKind::InvalidInput,
            format!("the chosen location is not a file path: {e}"),
        )
    })?;
    write_export(&path, &text).await?;
    Ok(ExportView {
        path: Some(path.display().to_string()),
        cancelled: false,
        rows,
    })
}

/// Writes an export, naming the path and the reason when it cannot be written.
pub async fn write_export(path: &std::path::Path, text: &str) -> CmdResult<()> {
    tokio::fs::write(path, text).await.map_err(|e| {
        CommandError::new(
            ErrorKind::Internal,
            format!("could not write {}: {e}", path.display()),
        )
    })
}

/// What the history table shows for `query` (all pages) as CSV text.
pub async fn jobs_csv(state: &AppState, query: &HistoryQueryInput) -> CmdResult<String> {
    let q = query.to_query()?;
    let engine = state.engine().await;
    Ok(tickstock_jobs::reads::export::history_csv(engine.store()?, &q).await?)
}

/// The history table's query as the page sends it.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct HistoryQueryInput {
    pub search: Option<String>,
    pub status: Option<String>,
    pub kind: Option<String>,
    pub requested_by: Option<String>,
    /// `YYYY-MM-DD`: submitted on or after.
    pub since: Option<String>,
    /// `YYYY-MM-DD`: submitted on or before.
    pub until: Option<String>,
    /// `submitted`, `duration` or `bars`.
    pub sort: Option<String>,
    pub ascending: bool,
    pub page_size: Option<u32>,
    /// `after:CURSOR`, `before:CURSOR`, `page:N` (1-based), `date:YYYY-MM-DD`; else the first.
    pub at: Option<String>,
}

fn day(field: &str, s: &str) -> CmdResult<chrono::NaiveDate> {
    chrono::NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d").map_err(|_| {
        CommandError::field(
            field,
            format!("\"{}\" is not a date (YYYY-MM-DD)", s.trim()),
        )
    })
}

impl HistoryQueryInput {
    fn to_query(&self) -> CmdResult<HistoryQuery> {
        let utc = |d: chrono::NaiveDate| d.and_hms_opt(0, 0, 0).map(|t| t.and_utc());
        let at = match self.at.as_deref().map(str::trim).unwrap_or("") {
            "" | "first" => HistoryPosition::First,
            s => match s.split_once(':') {
                Some(("after", c)) => HistoryPosition::After(c.to_string()),
                Some(("before", c)) => HistoryPosition::Before(c.to_string()),
                Some(("page", n)) => HistoryPosition::Page(
                    n.trim()
                        .parse::<u32>()
                        .ok()
                        .filter(|n| *n >= 1)
                        .ok_or_else(|| CommandError::field("page", "enter a page number from 1"))?
                        - 1,
                ),
                Some(("date", d)) => HistoryPosition::Date(day("date", d)?),
                _ => {
                    return Err(CommandError::field(
                        "at",
                        format!("unknown position \"{s}\""),
                    ))
                }
            },
        };
        Ok(HistoryQuery {
            search: nonempty(&self.search),
            status: nonempty(&self.status),
            kind: nonempty(&self.kind),
            requested_by: nonempty(&self.requested_by),
            since: nonempty(&self.since)
                .map(|d| day("since", &d))
                .transpose()?
                .and_then(utc),
            until: nonempty(&self.until)
                .map(|d| day("until", &d))
                .transpose()?
                .and_then(|d| utc(d + chrono::Duration::days(1))),
            sort: match nonempty(&self.sort) {
                Some(s) => s.parse().map_err(|e: tickstock_protocol::Error| {
                    CommandError::field("sort", e.message())
                })?,
                None => HistorySort::default(),
            },
            ascending: self.ascending,
            page_size: self.page_size.unwrap_or(25).clamp(1, 500),
            at,
        })
    }
}

/// A page of the history at scale: keyset paging that does not shift while reading, a
/// jump to any page or date, sorts, filters, search and counts per status.
#[tauri::command]
pub async fn history_page(
    state: State<'_, AppState>,
    query: HistoryQueryInput,
) -> CmdResult<HistoryPageView> {
    let q = query.to_query()?;
    let engine = state.engine().await;
    let page = engine.history_page(&q).await?;
    let (n, pages) = page.page_of();
    Ok(HistoryPageView {
        items: page.items.iter().map(JobView::from_run).collect(),
        total: page.total,
        counts: page.counts,
        page: n + 1,
        pages: pages.max(1),
        page_size: page.page_size,
        next: page.next,
        prev: page.prev,
        database: engine.store()?.describe(),
        asked_page: page.past_end.map(|n| i64::from(n) + 1),
    })
}
