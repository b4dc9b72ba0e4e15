//! Coverage benchmark: 50 million minute rows in PostgreSQL (500 symbols x 257 weekdays of
//! 2024 x 390 minutes, made with `generate_series` in a database of its own), then the
//! time of coverage for all symbols, for one symbol and per table, from `bar_counts` (the
//! fast path) and, for comparison, from a full count of the table. The two must agree.
//!
//! `cargo bench -p tickstock-tests --bench coverage` (PostgreSQL from `TEST_PG_URL`,
//! default `postgres://postgres@127.0.0.1:5432/postgres`; the database is dropped at the
//! end unless `COVERAGE_BENCH_KEEP=1`). Filling takes a few minutes and about 8 GB of disk.

use std::time::{Duration, Instant};

use chrono::Utc;
use sqlx::{Connection, PgConnection};
use tickstock_data::completeness::coverage;
use tickstock_data::store::Store;
use tickstock_protocol::Timeframe;
use tickstock_testkit::pg::fresh_database;

const SYMBOLS: i64 = 500;
const GOAL: Duration = Duration::from_secs(1);

fn secs(d: Duration) -> String {
    format!("{:.3} s", d.as_secs_f64())
}

/// The best and the median of `n` runs of `f`.
async fn time<F, Fut, T>(n: usize, mut f: F) -> (Duration, Duration, T)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = T>,
{
    let mut times = Vec::with_capacity(n);
    let mut last = None;
    for _ in 0..n {
        let t = Instant::now();
        last = Some(f().await);
        times.push(t.elapsed());
    }
    times.sort();
    (times[0], times[n / 2], last.expect("one run"))
}

#[tokio::main]
async fn main() {
    let db = fresh_database().await;
    let store = Store::connect(&db.url).await.expect("store");
    let mut c = PgConnection::connect(&db.url).await.expect("connect");

    // Fill without the primary key, then build it: much faster than keeping it up.
    let started = Instant::now();
    sqlx::raw_sql(
        "SET synchronous_commit = off; ALTER TABLE ohlcv_1min DROP CONSTRAINT ohlcv_1min_pkey",
    )
    .execute(&mut c)
    .await
    .expect("drop the key");
    let per_chunk = 50;
    for chunk in 0..SYMBOLS / per_chunk {
        let sql = format!(
            "INSERT INTO ohlcv_1min (symbol, \"timestamp\", open, high, low, close, volume)
             SELECT 'S' || lpad(s::text, 3, '0'),
                    d + time '14:30' + m * interval '1 minute',
                    100 + m * 0.01, 101 + m * 0.01, 99 + m * 0.01, 100.5 + m * 0.01, 1000 + m
               FROM generate_series({lo}, {hi}) s,
                    generate_series(date '2024-01-02', date '2024-12-31', interval '1 day') d,
                    generate_series(0, 389) m
              WHERE extract(isodow FROM d) < 6
              ORDER BY 1, 2",
            lo = chunk * per_chunk,
            hi = (chunk + 1) * per_chunk - 1
        );
        sqlx::raw_sql(&sql).execute(&mut c).await.expect("fill");
        eprintln!(
            "filled {} symbols ({})",
            (chunk + 1) * per_chunk,
            secs(started.elapsed())
        );
    }
    sqlx::raw_sql("ALTER TABLE ohlcv_1min ADD PRIMARY KEY (symbol, \"timestamp\")")
        .execute(&mut c)
        .await
        .expect("key");
    sqlx::raw_sql("VACUUM ANALYZE ohlcv_1min")
        .execute(&mut c)
        .await
        .expect("vacuum");
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM ohlcv_1min")
        .fetch_one(&mut c)
        .await
        .expect("count");
    println!("filled {rows} minute rows in {}", secs(started.elapsed()));

    // Rows written behind our back: the counts are rebuilt once.
    let t = Instant::now();
    let counted = store.rebuild_bar_counts().await.expect("rebuild");
    println!(
        "bar_counts rebuilt in {} ({} minute rows)",
        secs(t.elapsed()),
        counted[0].1
    );
    assert_eq!(counted[0].1, rows);

    let now = Utc::now();
    let one = vec!["S250".to_string()];
    let (best_all, median_all, all) =
        time(5, || coverage(&store, None, &[Timeframe::Minute], now)).await;
    let all = all.expect("coverage");
    assert_eq!(all.len() as i64, SYMBOLS);
    assert_eq!(all.iter().map(|r| r.bars).sum::<i64>(), rows);
    println!(
        "coverage, all {SYMBOLS} symbols (fast): best {}, median {}",
        secs(best_all),
        secs(median_all)
    );
    let (best_one, median_one, single) = time(5, || {
        coverage(&store, Some(&one), &[Timeframe::Minute], now)
    })
    .await;
    let single = single.expect("coverage");
    println!(
        "coverage, one symbol (fast): best {}, median {}",
        secs(best_one),
        secs(median_one)
    );
    let (best_table, median_table, table) = time(5, || store.coverage()).await;
    let table = table.expect("coverage");
    println!(
        "coverage per table (fast): best {}, median {}",
        secs(best_table),
        secs(median_table)
    );
    assert_eq!(table[0].rows, rows);

    // The same answers from a full count, for comparison.
    sqlx::raw_sql("UPDATE bar_counts_state SET complete = FALSE")
        .execute(&mut c)
        .await
        .expect("distrust");
    let (_, full_all, slow) = time(1, || coverage(&store, None, &[Timeframe::Minute], now)).await;
    let (_, full_one, slow_one) = time(1, || {
        coverage(&store, Some(&one), &[Timeframe::Minute], now)
    })
    .await;
    let (_, full_table, slow_table) = time(1, || store.coverage()).await;
    println!(
        "full count for comparison: all symbols {}, one symbol {}, per table {}",
        secs(full_all),
        secs(full_one),
        secs(full_table)
    );
    assert_eq!(
        slow.expect("coverage"),
        all,
        "the fast path and a full count agree"
    );
    assert_eq!(slow_one.expect("coverage"), single);
    assert_eq!(slow_table.expect("coverage")[0], table[0]);

    let ok = median_all < GOAL && median_one < GOAL && median_table < GOAL;
    println!(
        "goal: coverage of 50M minute rows under {} -> {}",
        secs(GOAL),
        if ok { "met" } else { "MISSED" }
    );
    drop(c);
    store.close().await;
    if std::env::var("COVERAGE_BENCH_KEEP").as_deref() != Ok("1") {
        db.drop_db().await;
    } else {
        eprintln!("kept database {}", db.name);
    }
}
