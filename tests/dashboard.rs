//! The dashboard's numbers ([`tickstock_data::dashboard`]) from the same history on
//! PostgreSQL and SQLite: today's totals, the hourly and daily series and their rates
//! agree on both.

use chrono::{Duration, TimeZone, Utc};
use serde_json::json;
use tickstock_data::dashboard::{dashboard, Totals};
use tickstock_data::store::{JobRun, Store};
use tickstock_testkit::pg::fresh_database;

#[tokio::test]
async fn today_hours_and_days_agree_on_postgres_and_sqlite() {
    let db = fresh_database().await;
    let pg = Store::connect(&db.url).await.expect("PostgreSQL store");
    let dir = tempfile::tempdir().unwrap();
    let lite = Store::connect(&format!("sqlite://{}/d.db", dir.path().display()))
        .await
        .expect("SQLite store");
    let now = Utc.with_ymd_and_hms(2026, 3, 10, 15, 30, 0).unwrap();
    let today = Utc.with_ymd_and_hms(2026, 3, 10, 0, 0, 0).unwrap();
    // (status, bars, ended this long before now, ran for seconds)
    let spec = [
        ("completed", 6000, Duration::minutes(19), 60),
        ("failed", 0, Duration::minutes(50), 5),
        ("completed_with_errors", 400, Duration::hours(5), 20),
        ("cancelled", 7, Duration::hours(14), 7),
        ("completed", 1000, Duration::days(2), 100),
        ("completed", 1, Duration::days(9), 1),
    ];
    for store in [&pg, &lite] {
        for (i, (status, bars, ago, secs)) in spec.iter().enumerate() {
            let end = now - *ago;
            let mut r = JobRun::new(format!("dash-{i}"), "historical_load", json!({}));
            r.status = status.to_string();
            r.bars_loaded = *bars;
            r.submitted_at = Some(end - Duration::seconds(*secs));
            r.started_at = r.submitted_at;
            r.completed_at = Some(end);
            store.upsert_job_run(&r).await.unwrap();
        }
        let mut running = JobRun::new("dash-run", "historical_load", json!({}));
        running.status = "running".into();
        running.bars_loaded = 50;
        running.started_at = Some(now - Duration::minutes(2));
        store.upsert_job_run(&running).await.unwrap();
    }
    let a = dashboard(&pg, now, today)
        .await
        .expect("PostgreSQL dashboard");
    let b = dashboard(&lite, now, today)
        .await
        .expect("SQLite dashboard");
    for d in [&a, &b] {
        assert_eq!(
            d.today,
            Totals {
                completed: 2,
                failed: 1,
                cancelled: 1,
                bars: 6407
            }
        );
        assert_eq!(d.hourly.len(), 24);
        assert_eq!(d.hourly[23].totals.completed, 1);
        assert_eq!(d.hourly[22].totals.failed, 1);
        assert_eq!(d.hourly[18].totals.completed, 1);
        let rate = d.hourly[23].bars_per_second.expect("a timed job");
        assert!((rate - 100.0).abs() < 1e-3, "{rate}");
        assert_eq!(d.daily.len(), 7);
        assert_eq!(d.daily[4].totals.bars, 1000);
        assert_eq!(d.daily[4].jobs_per_hour, 1.0 / 24.0);
        let week: u64 = d.daily.iter().map(|p| p.totals.completed).sum();
        assert_eq!(week, 3, "the job of 9 days ago is outside the week");
    }
    assert_eq!(a.hourly.len(), b.hourly.len());
    for (x, y) in a.hourly.iter().zip(&b.hourly) {
        assert_eq!((x.start, &x.totals), (y.start, &y.totals));
    }
    pg.close().await;
    lite.close().await;
}
