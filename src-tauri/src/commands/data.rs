//! What the database holds: universes, a universe's members, and the OHLCV tables.

use tauri::State;

use crate::error::CmdResult;
use crate::state::AppState;
use crate::views::{TableView, UniversePreviewView, UniverseView};

#[tauri::command]
pub async fn list_universes(state: State<'_, AppState>) -> CmdResult<Vec<UniverseView>> {
    let engine = state.engine().await;
    let list = engine.store()?.list_universes().await?;
    Ok(list
        .into_iter()
        .map(|u| UniverseView {
            key: u.key,
            name: u.name,
            kind: u.kind,
            members: u.members,
            as_of: u.as_of.map(|d| d.to_string()),
        })
        .collect())
}

/// Members of a universe key or joined keys: count, first few, unknown parts.
#[tauri::command]
pub async fn universe_preview(
    state: State<'_, AppState>,
    key: String,
) -> CmdResult<UniversePreviewView> {
    let engine = state.engine().await;
    Ok(engine.store()?.universe_preview(&key, 12).await?)
}

/// Rows, symbols and dates of each OHLCV table.
#[tauri::command]
pub async fn data_summary(state: State<'_, AppState>) -> CmdResult<Vec<TableView>> {
    let engine = state.engine().await;
    let cov = engine.store()?.coverage().await?;
    Ok(cov
        .into_iter()
        .map(|c| TableView {
            table: c.table,
            timeframe: c.timeframe.wire_name(),
            rows: c.rows,
            symbols: c.symbols,
            earliest: c.earliest,
            latest: c.latest,
        })
        .collect())
}
