//! The job history as CSV: every job matching a filter (all pages), one row each, for the
//! app's Export button and scripts.
//!
//! [`history_csv`] exports what the history table shows: the rows of a
//! [`HistoryQuery`] (its search and every filter, in its order, all pages) with one column
//! per column of the table. [`jobs_csv`] is the older export of a [`JobRunFilter`].

use crate::store::history_query::{HistoryPosition, HistoryQuery};
use crate::store::{JobRun, JobRunFilter, Store};
use tickstock_protocol::error::Result;
use tickstock_protocol::status::SymbolFailure;

/// The header of [`history_csv`]: the history table's columns, in its order (Job, Kind,
/// Symbols, Range, By, Worker, Status, Bars, Submitted, Duration).
pub const HISTORY_CSV_HEADER: &str =
    "job_id,kind,symbols,range,requested_by,worker,status,bars_loaded,submitted_at,duration_seconds";

/// The CSV header.
pub const JOBS_CSV_HEADER: &str = "job_id,kind,status,progress,symbols,bars_loaded,failed_symbols,submitted_at,started_at,completed_at,error";

/// A CSV field, quoted when it must be.
pub fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// The symbols a job names (space-separated), else its universe.
fn symbols_of(run: &JobRun) -> String {
    let p = &run.params;
    p.get("symbols")
        .and_then(|s| s.as_array())
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str())
                .collect::<Vec<_>>()
                .join(" ")
        })
        .or_else(|| {
            ["universe_type", "universe_key"]
                .iter()
                .find_map(|k| p.get(*k).and_then(|x| x.as_str()).map(str::to_string))
        })
        .unwrap_or_default()
}

fn param<'a>(p: &'a serde_json::Value, snake: &str) -> Option<&'a serde_json::Value> {
    let camel: String = {
        let mut up = false;
        snake
            .chars()
            .filter_map(|c| {
                if c == '_' {
                    up = true;
                    None
                } else if up {
                    up = false;
                    Some(c.to_ascii_uppercase())
                } else {
                    Some(c)
                }
            })
            .collect()
    };
    p.get(snake)
        .or_else(|| p.get(&camel))
        .filter(|v| !v.is_null())
}

fn text(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// What the table's Symbols column names, whole: `universe: A B C`, the symbols, or the
/// universe (or CSV file).
fn symbols_column(run: &JobRun) -> String {
    let p = &run.params;
    let symbols: Vec<String> = match param(p, "symbols") {
        Some(serde_json::Value::Array(a)) => a.iter().map(text).collect(),
        Some(serde_json::Value::String(s)) => s
            .split(|c: char| c.is_whitespace() || c == ',')
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect(),
        _ => Vec::new(),
    };
    let universe = ["universe_key", "universe_type", "csv_file"]
        .iter()
        .find_map(|k| param(p, k).map(text));
    match (universe, symbols.is_empty()) {
        (Some(u), false) => format!("{u}: {}", symbols.join(" ")),
        (None, false) => symbols.join(" "),
        (Some(u), true) => u,
        (None, true) => String::new(),
    }
}

/// What the table's Range column says: `day · 2024-01-02 → 2024-06-28`, `hour, day · 1 y`.
fn range_column(run: &JobRun) -> String {
    let p = &run.params;
    let tf = match param(p, "timeframes").or_else(|| param(p, "timespan")) {
        Some(serde_json::Value::Array(a)) => a.iter().map(text).collect::<Vec<_>>().join(", "),
        Some(v) => text(v),
        None => "day".into(),
    };
    let span = match (param(p, "start_date"), param(p, "years")) {
        (Some(from), _) => format!(
            "{} → {}",
            text(from),
            param(p, "end_date")
                .map(text)
                .unwrap_or_else(|| "today".into())
        ),
        (None, Some(y)) => format!("{} y", text(y)),
        (None, None) => String::new(),
    };
    if span.is_empty() {
        tf
    } else {
        format!("{tf} · {span}")
    }
}

/// One job as a line of [`history_csv`] (without the line break).
pub fn history_csv_line(run: &JobRun) -> String {
    let duration = match (run.started_at, run.completed_at) {
        (Some(s), Some(e)) => format!("{:.1}", (e - s).num_milliseconds().max(0) as f64 / 1000.0),
        _ => String::new(),
    };
    let cols = [
        run.id.clone(),
        run.kind.clone(),
        symbols_column(run),
        range_column(run),
        param(&run.params, "requested_by")
            .map(text)
            .unwrap_or_default(),
        run.worker.clone().unwrap_or_default(),
        run.status.clone(),
        run.bars_loaded.max(0).to_string(),
        run.submitted_at.map(|t| t.to_rfc3339()).unwrap_or_default(),
        duration,
    ];
    cols.iter()
        .map(|c| csv_field(c))
        .collect::<Vec<_>>()
        .join(",")
}

/// Every job the history table shows for `q` (its search, filters and order; all pages,
/// wherever `q` starts) as CSV text, with the table's columns ([`HISTORY_CSV_HEADER`]).
pub async fn history_csv(store: &Store, q: &HistoryQuery) -> Result<String> {
    let mut out = format!("{HISTORY_CSV_HEADER}\n");
    let mut q = q.clone();
    q.page_size = 1000;
    q.at = HistoryPosition::First;
    loop {
        let page = store.history_page(&q).await?;
        for r in &page.items {
            out += &history_csv_line(r);
            out.push('\n');
        }
        match page.next {
            Some(c) if !page.items.is_empty() => q.at = HistoryPosition::After(c),
            _ => break,
        }
    }
    Ok(out)
}

/// One job as a CSV line (without the line break).
pub fn job_csv_line(run: &JobRun) -> String {
    let failed: Vec<SymbolFailure> =
        serde_json::from_value(run.failed_symbols.clone()).unwrap_or_default();
    let iso =
        |t: &Option<chrono::DateTime<chrono::Utc>>| t.map(|t| t.to_rfc3339()).unwrap_or_default();
    let cols = [
        run.id.clone(),
        run.kind.clone(),
        run.status.clone(),
        run.progress.clamp(0, 100).to_string(),
        symbols_of(run),
        run.bars_loaded.max(0).to_string(),
        failed
            .iter()
            .map(|f| format!("{}: {}", f.symbol, f.reason))
            .collect::<Vec<_>>()
            .join("; "),
        iso(&run.submitted_at),
        iso(&run.started_at),
        iso(&run.completed_at),
        run.error.clone().unwrap_or_default(),
    ];
    cols.iter()
        .map(|c| csv_field(c))
        .collect::<Vec<_>>()
        .join(",")
}

/// Every job matching `filter` (all pages, whatever its page and size) as CSV text.
pub async fn jobs_csv(store: &Store, filter: &JobRunFilter) -> Result<String> {
    let mut out = format!("{JOBS_CSV_HEADER}\n");
    let mut f = filter.clone();
    f.page_size = 1000;
    f.page = 0;
    loop {
        let page = store.list_job_runs(&f).await?;
        if page.items.is_empty() {
            break;
        }
        for r in &page.items {
            out += &job_csv_line(r);
            out.push('\n');
        }
        if ((f.page + 1) * f.page_size) as i64 >= page.total {
            break;
        }
        f.page += 1;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_with_commas_quotes_and_breaks_are_quoted() {
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        let mut run = JobRun::new(
            "id1",
            "historical_load",
            serde_json::json!({"symbols": ["AAPL", "MSFT"]}),
        );
        run.failed_symbols = serde_json::json!([{"symbol": "X", "reason": "HTTP 404, not found"}]);
        let line = job_csv_line(&run);
        assert_eq!(
            line,
            "id1,historical_load,submitted,0,AAPL MSFT,0,\"X: HTTP 404, not found\",,,,"
        );
    }

    #[test]
    fn history_lines_hold_the_tables_columns() {
        let mut run = JobRun::new(
            "id2",
            "universe_seed",
            serde_json::json!({"universe_key": "dow30", "symbols": ["CVX", "XOM"],
                               "timeframes": ["hour", "day"], "years": 1, "requested_by": "ops-2"}),
        );
        let t = chrono::DateTime::parse_from_rfc3339("2024-05-01T10:00:00Z")
            .unwrap()
            .to_utc();
        run.submitted_at = Some(t);
        run.started_at = Some(t);
        run.completed_at = Some(t + chrono::Duration::milliseconds(12_500));
        run.status = "completed".into();
        run.bars_loaded = 42;
        run.worker = Some("w1".into());
        assert_eq!(HISTORY_CSV_HEADER.split(',').count(), 10);
        assert_eq!(
            history_csv_line(&run),
            "id2,universe_seed,dow30: CVX XOM,\"hour, day · 1 y\",ops-2,w1,completed,42,2024-05-01T10:00:00+00:00,12.5"
        );
        let dated = JobRun::new(
            "id3",
            "historical_load",
            serde_json::json!({"symbols": "AAPL, MSFT", "timespan": "day",
                               "start_date": "2024-01-02", "end_date": "2024-06-28"}),
        );
        assert_eq!(
            history_csv_line(&dated),
            "id3,historical_load,AAPL MSFT,day · 2024-01-02 → 2024-06-28,,,submitted,0,,"
        );
    }
}
