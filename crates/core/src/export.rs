//! The job history as CSV: every job matching a filter (all pages), one row each, for the
//! app's Export button and scripts.

use crate::error::Result;
use crate::status::SymbolFailure;
use crate::store::{JobRun, JobRunFilter, Store};

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
}
