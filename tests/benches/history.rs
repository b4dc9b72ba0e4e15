//! History benchmark: 100,000 jobs in PostgreSQL's `job_runs`, read as the console reads
//! them through [`Store::history_page`] (a page, its total and its per-status counts in
//! each call): the first page, a far page (page 2,000 of 2,000 by number, then the page
//! after it by cursor), searches (a symbol, a symbol inside universe jobs, a universe
//! key, a status word, an id prefix) and filters (status + requester + dates, kind),
//! and sorts by duration and bars. Each figure is the median of 7 calls after one to warm
//! up; the goal is under 50 ms each.
//!
//! The rows: a year of jobs, one every 5 minutes or so; one in 10 a universe seed (DOW30,
//! or SP500 with 500 resolved symbols, as the job service records them), one in 7
//! multi-timeframe, the rest historical loads of 1 to 5 of 2,000 tickers; 85 % completed,
//! 8 % failed, 5 % cancelled, 2 % completed with errors; five requesters. The table is
//! analysed after the insert, as autovacuum would.
//!
//! `cargo bench -p tickstock-tests --bench history` (PostgreSQL from `TEST_PG_URL`, default
//! `postgres://postgres@127.0.0.1:5432/postgres`; a fresh database is created and dropped,
//! or kept with `HISTORY_BENCH_KEEP=1` to look at the plans).

use std::time::{Duration, Instant};

use chrono::{Duration as Span, NaiveDate, TimeZone, Utc};
use serde_json::json;
use sqlx::{Connection, PgConnection, QueryBuilder};
use tickstock_data::store::history_query::{HistoryPosition, HistoryQuery, HistorySort};
use tickstock_data::store::Store;
use tickstock_testkit::pg::fresh_database;

const ROWS: usize = 100_000;
const GOAL_MS: f64 = 50.0;

fn ticker(i: usize) -> String {
    // AAPL is one of the 2,000, so a symbol search finds a few hundred jobs.
    if i.is_multiple_of(2000) {
        "AAPL".into()
    } else {
        let a = (b'A' + (i % 26) as u8) as char;
        let b = (b'A' + (i / 26 % 26) as u8) as char;
        let c = (b'A' + (i / 676 % 26) as u8) as char;
        format!("{a}{b}{c}X")
    }
}

struct Row {
    id: String,
    kind: &'static str,
    params: serde_json::Value,
    status: &'static str,
    bars: i64,
    submitted: chrono::DateTime<Utc>,
    took: i64,
}

fn row(i: usize, sp500: &[String]) -> Row {
    let t0 = Utc.with_ymd_and_hms(2025, 1, 1, 0, 0, 0).unwrap();
    let who = ["ana", "bob", "chen", "dana", "eli"][i % 5];
    // Ids spread like UUIDs v4: a prefix of 8 characters names one job.
    let id = uuid::Uuid::from_u128(
        (i as u128 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15_f39c_c060_5ced_c835),
    )
    .to_string();
    let (kind, params) = if i.is_multiple_of(10) {
        if i.is_multiple_of(20) {
            (
                "universe_seed",
                json!({"job_id": id, "job_type": "universe_seed", "universe_type": "SP500",
                       "years": 1, "symbols": sp500, "requested_by": who}),
            )
        } else {
            (
                "universe_seed",
                json!({"job_id": id, "job_type": "universe_seed", "universe_type": "DOW30",
                       "years": 1, "symbols": sp500[..30], "requested_by": who}),
            )
        }
    } else if i.is_multiple_of(7) {
        (
            "multi_timeframe_load",
            json!({"job_id": id, "job_type": "multi_timeframe_load",
                   "symbols": [ticker(i * 31)], "timeframes": ["hour", "day"], "years": 0.5,
                   "requested_by": who}),
        )
    } else {
        let syms: Vec<String> = (0..1 + i % 5).map(|k| ticker(i * 13 + k * 401)).collect();
        (
            "historical_load",
            json!({"job_id": id, "job_type": "historical_load", "symbols": syms,
                   "timespan": "day", "years": 1, "requested_by": who}),
        )
    };
    let status = match i % 100 {
        0..=84 => "completed",
        85..=92 => "failed",
        93..=97 => "cancelled",
        _ => "completed_with_errors",
    };
    Row {
        id,
        kind,
        params,
        status,
        bars: (i as i64 * 7919) % 200_000,
        submitted: t0 + Span::seconds(i as i64 * 315),
        took: 5 + (i as i64 * 31) % 3600,
    }
}

async fn insert(url: &str) -> Duration {
    let sp500: Vec<String> = (0..500).map(|i| ticker(i * 3 + 1)).collect();
    let mut c = PgConnection::connect(url).await.unwrap();
    let started = Instant::now();
    for chunk in (0..ROWS).collect::<Vec<_>>().chunks(2000) {
        let rows: Vec<Row> = chunk.iter().map(|&i| row(i, &sp500)).collect();
        let mut q = QueryBuilder::<sqlx::Postgres>::new(
            "INSERT INTO job_runs (id, kind, params, status, progress, bars_loaded, \
             submitted_at, started_at, completed_at, worker) ",
        );
        q.push_values(rows, |mut b, r| {
            b.push_bind(r.id)
                .push_bind(r.kind)
                .push_bind(r.params)
                .push_bind(r.status)
                .push_bind(100)
                .push_bind(r.bars)
                .push_bind(r.submitted)
                .push_bind(r.submitted + Span::seconds(2))
                .push_bind(r.submitted + Span::seconds(2 + r.took))
                .push_bind("bench-worker");
        });
        q.build().execute(&mut c).await.unwrap();
    }
    sqlx::raw_sql("VACUUM ANALYZE job_runs")
        .execute(&mut c)
        .await
        .unwrap();
    started.elapsed()
}

/// Median of 7 timed calls after a warm-up, and the last page.
async fn time(
    store: &Store,
    q: &HistoryQuery,
) -> (f64, tickstock_data::store::history_query::HistoryPage) {
    let mut page = store.history_page(q).await.unwrap();
    let mut ms = Vec::new();
    for _ in 0..7 {
        let t = Instant::now();
        page = store.history_page(q).await.unwrap();
        ms.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    ms.sort_by(f64::total_cmp);
    (ms[3], page)
}

#[tokio::main]
async fn main() {
    let db = fresh_database().await;
    // Connecting migrates: the table and its indexes exist before the rows go in.
    let store = Store::connect(&db.url).await.unwrap();
    let took = insert(&db.url).await;
    println!(
        "inserted {ROWS} job rows in {:.1} s (then VACUUM ANALYZE)",
        took.as_secs_f64()
    );
    let prefix = row(4242, &[]).id[..8].to_string();
    let base = HistoryQuery {
        page_size: 50,
        ..HistoryQuery::default()
    };
    let search = |s: &str| HistoryQuery {
        search: Some(s.into()),
        ..base.clone()
    };
    let far = HistoryQuery {
        at: HistoryPosition::Page(1999),
        ..base.clone()
    };
    let (far_ms, far_page) = time(&store, &far).await;
    let after_far = HistoryQuery {
        at: HistoryPosition::Before(far_page.prev.clone().unwrap()),
        ..base.clone()
    };
    let cases: Vec<(&str, HistoryQuery)> = vec![
        (
            "first page (newest 50, total and per-status counts)",
            base.clone(),
        ),
        (
            "a date: the page where 2025-06-15 begins",
            HistoryQuery {
                at: HistoryPosition::Date(NaiveDate::from_ymd_opt(2025, 6, 15).unwrap()),
                ..base.clone()
            },
        ),
        ("far page by cursor: the page before page 2,000", after_far),
        ("search a symbol: AAPL", search("AAPL")),
        (
            "search a symbol inside universe jobs (an SP500 member)",
            search(&ticker(4)),
        ),
        ("search a universe key: dow30", search("dow30")),
        ("search a status word: failed", search("failed")),
        (
            "search an id prefix: 8 characters of one job's id",
            search(&prefix),
        ),
        (
            "filter: failed, by ana, June 2025",
            HistoryQuery {
                status: Some("failed".into()),
                requested_by: Some("ana".into()),
                since: Some(Utc.with_ymd_and_hms(2025, 6, 1, 0, 0, 0).unwrap()),
                until: Some(Utc.with_ymd_and_hms(2025, 7, 1, 0, 0, 0).unwrap()),
                ..base.clone()
            },
        ),
        (
            "filter: kind multi_timeframe_load",
            HistoryQuery {
                kind: Some("multi_timeframe_load".into()),
                ..base.clone()
            },
        ),
        (
            "sort: longest first",
            HistoryQuery {
                sort: HistorySort::Duration,
                ..base.clone()
            },
        ),
        (
            "sort: most bars first, page 1,000",
            HistoryQuery {
                sort: HistorySort::Bars,
                at: HistoryPosition::Page(999),
                ..base.clone()
            },
        ),
    ];
    let mut worst: f64 = far_ms;
    println!(
        "{:<66} {:>9} {:>8}",
        "query (page of 50 + total + counts)", "median", "matches"
    );
    println!(
        "{:<66} {:>6.1} ms {:>8}",
        "far page by number: page 2,000 of 2,000", far_ms, far_page.total
    );
    for (what, q) in cases {
        let (ms, page) = time(&store, &q).await;
        assert!(!page.items.is_empty(), "{what}: no rows");
        worst = worst.max(ms);
        println!("{what:<66} {ms:>6.1} ms {:>8}", page.total);
    }
    println!(
        "slowest {worst:.1} ms; goal < {GOAL_MS} ms: {}",
        if worst < GOAL_MS { "met" } else { "MISSED" }
    );
    store.close().await;
    if std::env::var_os("HISTORY_BENCH_KEEP").is_some() {
        println!("kept: {}", db.url);
    } else {
        db.drop_db().await;
    }
}
