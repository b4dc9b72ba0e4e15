//! The history's list (filters, search, pages) and its CSV export through the system's
//! Save dialog.

use serde::Deserialize;
use tauri::State;
use tickstock_core::store::JobRunFilter;
use tickstock_core::ErrorKind;

use crate::error::{CmdResult, CommandError};
use crate::state::AppState;
use crate::views::{ExportView, JobListView, JobView};

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

/// Exports every job matching the filter (all pages) as CSV through the system's Save
/// dialog: `{"path"}` where the file went, or `{"cancelled": true}`. A file that cannot be
/// written is an error naming the path and the reason (nothing is written anywhere else).
#[tauri::command]
pub async fn export_jobs_csv<R: tauri::Runtime>(
    app: tauri::AppHandle<R>,
    state: State<'_, AppState>,
    filter: ListFilter,
) -> CmdResult<ExportView> {
    use tauri_plugin_dialog::DialogExt;
    let text = jobs_csv(&state, filter).await?;
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

/// Every job matching the filter (all pages) as CSV text.
pub async fn jobs_csv(state: &AppState, filter: ListFilter) -> CmdResult<String> {
    let engine = state.engine().await;
    let f = filter.to_filters().remove(0);
    Ok(tickstock_core::export::jobs_csv(engine.store()?, &f).await?)
}
