//! Output: one JSON document for `--json`, short aligned text otherwise.

use serde::Serialize;
use tickstock_jobs::runtime::{Health, JobEntry};
use tickstock_protocol::status::JobStatus;

/// Prints a value as pretty JSON on stdout.
pub fn json<T: Serialize>(value: &T) {
    println!(
        "{}",
        serde_json::to_string_pretty(value).unwrap_or_else(|_| "null".into())
    );
}

fn opt<T: std::fmt::Display>(v: Option<T>) -> String {
    v.map(|x| x.to_string()).unwrap_or_else(|| "-".into())
}

/// A job's status as a few lines of text.
pub fn status_text(job_id: &str, st: &JobStatus) -> String {
    let mut out = format!(
        "job      {job_id}\nstatus   {}\nprogress {}%\n",
        st.state, st.progress
    );
    if let Some(t) = &st.job_type {
        out += &format!("kind     {t}\n");
    }
    if let Some(m) = &st.message {
        out += &format!("message  {m}\n");
    }
    if st.total_symbols.is_some() {
        out += &format!(
            "symbols  {}/{} processed, {} ok, {} failed\n",
            opt(st.processed_symbols),
            opt(st.total_symbols),
            st.successful_symbols.len(),
            st.failed_symbols.len()
        );
    }
    if let Some(b) = st.ohlcv_records_loaded {
        out += &format!("bars     {b}\n");
    }
    if let Some(s) = &st.current_symbol {
        out += &format!("current  {s}\n");
    }
    for f in &st.failures {
        out += &format!("failed   {}: {}\n", f.symbol, f.reason);
    }
    if let Some(e) = &st.error_message {
        if st.failures.is_empty() {
            out += &format!("error    {e}\n");
        }
    }
    out
}

/// The job list as a table.
pub fn jobs_table(entries: &[JobEntry]) -> String {
    let mut out = format!(
        "{:<36}  {:<21}  {:<22}  {:>4}  {}\n",
        "JOB", "KIND", "STATUS", "%", "MESSAGE"
    );
    for e in entries {
        let (kind, state, pct, msg) = match &e.status {
            Some(s) => (
                s.job_type.clone().unwrap_or_default(),
                s.state.to_string(),
                s.progress.to_string(),
                s.message.clone().unwrap_or_default(),
            ),
            None => ("-".into(), "expired".into(), "-".into(), String::new()),
        };
        out += &format!(
            "{:<36}  {:<21}  {:<22}  {:>4}  {}\n",
            e.job_id, kind, state, pct, msg
        );
    }
    out
}

/// Health as text.
pub fn health_text(h: &Health) -> String {
    let mut out = String::new();
    if h.redis.connected {
        out += &format!(
            "redis    connected ({}) rtt {:.2} ms\n",
            h.redis.url,
            h.redis.rtt_ms.unwrap_or(0.0)
        );
        if let Some(full) = &h.redis.full {
            out += &format!("redis    FULL, writes refused: {full}\n");
        }
    } else {
        out += &format!(
            "redis    DOWN ({}): {}\n",
            h.redis.url,
            h.redis.error.clone().unwrap_or_default()
        );
        return out;
    }
    for hb in [&h.legacy_heartbeat, &h.producer_heartbeat]
        .into_iter()
        .flatten()
    {
        let age = hb
            .age_seconds
            .map(|a| format!("{a:.1} s ago"))
            .unwrap_or_else(|| "age unknown".into());
        let state = match (hb.present, hb.alive) {
            (false, _) => "absent".to_string(),
            (true, true) => format!("alive, {age}"),
            (true, false) => format!("stale, {age}"),
        };
        let whose = if hb.ours {
            " (written by our workers)"
        } else {
            ""
        };
        out += &format!("heartbeat {}: {state}{whose}\n", hb.key);
    }
    if h.workers.is_empty() {
        out += "workers  none\n";
    }
    for w in &h.workers {
        let state = if w.alive {
            "alive".to_string()
        } else if w.stopped {
            "stopped".to_string()
        } else if let Some(e) = w.cannot_consume.as_ref().filter(|_| w.age_seconds < 60.0) {
            format!("cannot consume ({e})")
        } else {
            "dead".to_string()
        };
        out += &format!(
            "worker   {} on {} {state}, last seen {:.1} s ago{}\n",
            w.id,
            w.host.clone().unwrap_or_else(|| "?".into()),
            w.age_seconds,
            if w.current_jobs.is_empty() {
                String::new()
            } else {
                format!(", running {}", w.current_jobs.join(","))
            }
        );
    }
    if let Some(q) = &h.queue {
        out += &format!(
            "queue    {} waiting, {} in flight, {} dead\n",
            q.waiting, q.in_flight, q.dead
        );
    }
    out
}

/// What a job loads, from its message: its universe or symbols, timeframes and range.
fn job_scope(params: &serde_json::Value) -> (String, String, String) {
    let s = |k: &str| params.get(k).and_then(|v| v.as_str()).map(str::to_string);
    let list = |k: &str| {
        params.get(k).and_then(|v| v.as_array()).map(|a| {
            a.iter()
                .filter_map(|x| x.as_str())
                .collect::<Vec<_>>()
                .join(",")
        })
    };
    let what = match (s("universe_type").or(s("universe_key")), list("symbols")) {
        (Some(u), _) => u,
        (None, Some(syms)) if syms.len() > 24 => {
            format!("{}…", syms.chars().take(23).collect::<String>())
        }
        (None, Some(syms)) => syms,
        (None, None) => s("csv_file").unwrap_or_else(|| "-".into()),
    };
    let tfs = list("timeframes")
        .or(s("timespan"))
        .unwrap_or_else(|| "day".into());
    let range = match (s("start_date"), s("end_date")) {
        (Some(a), Some(b)) => format!("{a}..{b}"),
        (Some(a), None) => format!("{a}.."),
        _ => params
            .get("years")
            .and_then(|y| y.as_f64())
            .map(|y| format!("{y} y"))
            .unwrap_or_else(|| "-".into()),
    };
    (what, tfs, range)
}

/// History rows as a table.
pub fn history_table(runs: &[tickstock_jobs::runtime::JobRun]) -> String {
    let mut out = format!(
        "{:<36}  {:<20}  {:<24}  {:<10}  {:<22}  {:<10}  {:<21}  {:>10}  {:<16}  {}\n",
        "JOB",
        "KIND",
        "SYMBOLS/UNIVERSE",
        "TIMEFRAMES",
        "RANGE",
        "BY",
        "STATUS",
        "BARS",
        "SUBMITTED",
        "DURATION"
    );
    for r in runs {
        let (what, tfs, range) = job_scope(&r.params);
        let by = r
            .params
            .get("requested_by")
            .and_then(|v| v.as_str())
            .unwrap_or("-");
        let took = match (r.started_at, r.completed_at) {
            (Some(a), Some(b)) => {
                tickstock_protocol::text::duration((b - a).num_milliseconds() as f64 / 1000.0)
            }
            _ => "-".into(),
        };
        out += &format!(
            "{:<36}  {:<20}  {:<24}  {:<10}  {:<22}  {:<10}  {:<21}  {:>10}  {:<16}  {}\n",
            r.id,
            r.kind,
            what,
            tfs,
            range,
            by,
            r.status,
            tickstock_protocol::text::number(r.bars_loaded.max(0) as u64),
            r.submitted_at
                .map(|t| t.format("%Y-%m-%d %H:%M").to_string())
                .unwrap_or_else(|| "-".into()),
            took
        );
    }
    out
}
