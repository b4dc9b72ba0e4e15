//! The dashboard's numbers from the job history: today's completed, failed and bars, and
//! throughput over the last 24 hours (by hour) and the last 7 days (by day), each point
//! with its jobs per hour and its bars per second of loading.
//!
//! A job counts where it finished (`completed_at`). Jobs per hour is the bucket's jobs over
//! the bucket's length (24 for a day); bars per second is the bucket's bars over the
//! seconds its jobs ran, i.e. the loading speed, not the bars over the wall clock. The
//! counting is one query per series ([`Store::finished_per_bucket`]), the same SQL shape on
//! PostgreSQL and SQLite.

use chrono::{DateTime, Duration, DurationRound, Utc};
use serde::Serialize;

use crate::store::{FinishedBucket, Store};
use tickstock_protocol::error::Result;

/// Jobs finished in a span, by outcome, and their bars.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Totals {
    /// Completed, with or without symbol errors.
    pub completed: u64,
    pub failed: u64,
    pub cancelled: u64,
    pub bars: u64,
}

/// One bucket of a throughput series.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Point {
    /// The bucket's start (UTC).
    pub start: DateTime<Utc>,
    #[serde(flatten)]
    pub totals: Totals,
    pub jobs_per_hour: f64,
    /// Bars over the seconds their jobs ran; `None` without a timed job.
    pub bars_per_second: Option<f64>,
}

/// What the dashboard shows.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Dashboard {
    /// Since `today_start`.
    pub today: Totals,
    /// 24 hours ending with the current one, oldest first.
    pub hourly: Vec<Point>,
    /// 7 days ending with today, oldest first.
    pub daily: Vec<Point>,
}

/// Folds the rows of one series into `count` points of `width` from `origin`.
pub fn fold(
    rows: &[FinishedBucket],
    origin: DateTime<Utc>,
    width: Duration,
    count: usize,
) -> Vec<Point> {
    let mut points: Vec<(Totals, f64)> = vec![(Totals::default(), 0.0); count];
    for r in rows {
        let Some((t, secs)) = usize::try_from(r.index)
            .ok()
            .and_then(|i| points.get_mut(i))
        else {
            continue;
        };
        let jobs = r.jobs.max(0) as u64;
        match r.status.as_str() {
            "completed" | "completed_with_errors" => t.completed += jobs,
            "failed" => t.failed += jobs,
            "cancelled" => t.cancelled += jobs,
            _ => {}
        }
        t.bars += r.bars.max(0) as u64;
        *secs += r.run_seconds.max(0.0);
    }
    let hours = width.num_seconds() as f64 / 3600.0;
    points
        .into_iter()
        .enumerate()
        .map(|(i, (totals, secs))| {
            let jobs = (totals.completed + totals.failed + totals.cancelled) as f64;
            Point {
                start: origin + width * i as i32,
                jobs_per_hour: if hours > 0.0 { jobs / hours } else { 0.0 },
                bars_per_second: (secs > 0.0).then(|| totals.bars as f64 / secs),
                totals,
            }
        })
        .collect()
}

/// The dashboard at `now`, with today starting at `today_start` (the operator's local
/// midnight; days are 24 hours back from it).
pub async fn dashboard(
    store: &Store,
    now: DateTime<Utc>,
    today_start: DateTime<Utc>,
) -> Result<Dashboard> {
    let hour = Duration::hours(1);
    let day = Duration::days(1);
    let hour_origin = now.duration_trunc(hour).unwrap_or(now) - hour * 23;
    let day_origin = today_start - day * 6;
    let until = now + Duration::seconds(1);
    let hourly_rows = store.finished_per_bucket(hour_origin, 3600, until).await?;
    let daily_rows = store.finished_per_bucket(day_origin, 86_400, until).await?;
    let hourly = fold(&hourly_rows, hour_origin, hour, 24);
    let daily = fold(&daily_rows, day_origin, day, 7);
    let today = daily.last().map(|p| p.totals.clone()).unwrap_or_default();
    Ok(Dashboard {
        today,
        hourly,
        daily,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::JobRun;
    use chrono::TimeZone;

    fn run(id: &str, status: &str, bars: i64, start: DateTime<Utc>, secs: i64) -> JobRun {
        let mut r = JobRun::new(id, "historical_load", serde_json::json!({}));
        r.status = status.into();
        r.bars_loaded = bars;
        r.submitted_at = Some(start);
        r.started_at = Some(start);
        r.completed_at = Some(start + Duration::seconds(secs));
        r
    }

    #[test]
    fn folding_counts_outcomes_and_rates_and_skips_out_of_range_rows() {
        let origin = Utc.with_ymd_and_hms(2026, 1, 5, 0, 0, 0).unwrap();
        let row = |index, status: &str, jobs, bars, run_seconds| FinishedBucket {
            index,
            status: status.into(),
            jobs,
            bars,
            run_seconds,
        };
        let rows = [
            row(0, "completed", 2, 1000, 10.0),
            row(0, "completed_with_errors", 1, 500, 40.0),
            row(1, "failed", 3, 0, 0.0),
            row(5, "completed", 9, 9, 9.0),
            row(-1, "completed", 9, 9, 9.0),
        ];
        let p = fold(&rows, origin, Duration::hours(1), 2);
        assert_eq!(p.len(), 2);
        assert_eq!(p[0].totals.completed, 3);
        assert_eq!(p[0].totals.bars, 1500);
        assert_eq!(p[0].bars_per_second, Some(30.0));
        assert_eq!(p[0].jobs_per_hour, 3.0);
        assert_eq!(p[1].start, origin + Duration::hours(1));
        assert_eq!(p[1].totals.failed, 3);
        assert_eq!(p[1].bars_per_second, None);
        let d = fold(&rows[..1], origin, Duration::days(1), 1);
        assert_eq!(d[0].jobs_per_hour, 2.0 / 24.0);
    }

    #[tokio::test]
    async fn sqlite_history_gives_today_hours_and_days() {
        let store = Store::connect("sqlite::memory:").await.unwrap();
        let now = Utc.with_ymd_and_hms(2026, 3, 10, 15, 30, 0).unwrap();
        let today = Utc.with_ymd_and_hms(2026, 3, 10, 0, 0, 0).unwrap();
        let runs = [
            run("a1", "completed", 6000, now - Duration::minutes(20), 60),
            run("a2", "failed", 0, now - Duration::minutes(50), 5),
            run(
                "a3",
                "completed_with_errors",
                400,
                now - Duration::hours(5),
                20,
            ),
            run("a4", "completed", 1000, now - Duration::days(2), 100),
            run("a5", "completed", 1, now - Duration::days(9), 1),
        ];
        for r in &runs {
            store.upsert_job_run(r).await.unwrap();
        }
        // Still running: not counted.
        let mut active = run("a6", "running", 50, now - Duration::minutes(3), 0);
        active.completed_at = None;
        store.upsert_job_run(&active).await.unwrap();

        let d = dashboard(&store, now, today).await.unwrap();
        assert_eq!(
            d.today,
            Totals {
                completed: 2,
                failed: 1,
                cancelled: 0,
                bars: 6400
            }
        );
        assert_eq!(d.hourly.len(), 24);
        assert_eq!(
            d.hourly[23].start,
            Utc.with_ymd_and_hms(2026, 3, 10, 15, 0, 0).unwrap()
        );
        // a1 ended 15:11 and a2 14:40.
        assert_eq!(d.hourly[23].totals.completed, 1);
        // SQLite's julianday is exact to a few microseconds.
        let near = |v: Option<f64>, want: f64| v.is_some_and(|v| (v - want).abs() < 1e-3);
        assert!(
            near(d.hourly[23].bars_per_second, 100.0),
            "{:?}",
            d.hourly[23]
        );
        assert_eq!(d.hourly[22].totals.failed, 1);
        assert_eq!(d.hourly[18].totals.completed, 1);
        assert_eq!(d.daily.len(), 7);
        assert_eq!(d.daily[4].totals.bars, 1000);
        assert!(near(d.daily[4].bars_per_second, 10.0), "{:?}", d.daily[4]);
        let week: u64 = d.daily.iter().map(|p| p.totals.completed).sum();
        assert_eq!(week, 3, "the job of 9 days ago is outside the week");
    }
}
