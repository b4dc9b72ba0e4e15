//! The dashboard: today's totals and throughput from the job history, and Polygon
//! requests per minute against the plan's limit. The requests are the app's own client's
//! (`PolygonClient::requests_sent`), sampled every few seconds into per-minute counts by
//! [`spawn_polygon_sampler`]; a new engine (settings changed) starts a new client, whose
//! count starts again from zero.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Duration;

use tauri::{Manager, Runtime, State};

use crate::error::CmdResult;
use crate::state::AppState;
use crate::views::console::{DashboardView, PointView, PolygonRateView, TotalsView};

/// How often the client's counter is read.
pub const SAMPLE_EVERY: Duration = Duration::from_secs(5);
/// Minutes kept.
const MINUTES: usize = 60;

/// Requests per minute from a growing counter.
#[derive(Debug, Default)]
pub struct RateSeries {
    last_total: Option<u64>,
    /// `(unix seconds of the minute, requests)`, oldest first.
    minutes: VecDeque<(i64, u64)>,
}

impl RateSeries {
    /// Adds a reading of the counter at `now` (Unix seconds). A counter lower than the
    /// last one started again (a new client): its whole value is new requests.
    pub fn sample(&mut self, total: u64, now: i64) {
        let new = match self.last_total {
            Some(last) if total >= last => total - last,
            Some(_) => total,
            None => 0,
        };
        self.last_total = Some(total);
        let minute = now - now.rem_euclid(60);
        match self.minutes.back_mut() {
            Some((m, n)) if *m == minute => *n += new,
            _ => {
                // Minutes without a sample (the app slept) are zero.
                if let Some(&(m, _)) = self.minutes.back() {
                    let mut t = m + 60;
                    while t < minute && self.minutes.len() < MINUTES * 2 {
                        self.minutes.push_back((t, 0));
                        t += 60;
                    }
                }
                self.minutes.push_back((minute, new));
            }
        }
        while self.minutes.len() > MINUTES {
            self.minutes.pop_front();
        }
    }

    /// The minutes kept, oldest first, and the last full minute's count.
    pub fn view(&self, now: i64) -> (Vec<(i64, u64)>, u64) {
        let current = now - now.rem_euclid(60);
        let last_full = self
            .minutes
            .iter()
            .find(|(m, _)| *m == current - 60)
            .map(|(_, n)| *n)
            .unwrap_or(0);
        (self.minutes.iter().copied().collect(), last_full)
    }
}

fn series() -> &'static Mutex<RateSeries> {
    static SERIES: std::sync::OnceLock<Mutex<RateSeries>> = std::sync::OnceLock::new();
    SERIES.get_or_init(|| Mutex::new(RateSeries::default()))
}

/// Reads the Polygon client's counter every [`SAMPLE_EVERY`] for the dashboard.
pub fn spawn_polygon_sampler<R: Runtime>(handle: tauri::AppHandle<R>) {
    tauri::async_runtime::spawn(async move {
        let mut ticker = tokio::time::interval(SAMPLE_EVERY);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            let Some(state) = handle.try_state::<AppState>() else {
                continue;
            };
            if let Some((total, _)) = state.engine().await.polygon_requests() {
                let now = chrono::Utc::now().timestamp();
                series().lock().expect("rate lock").sample(total, now);
            }
        }
    });
}

#[tauri::command]
pub async fn dashboard(state: State<'_, AppState>) -> CmdResult<DashboardView> {
    let engine = state.engine().await;
    let now = chrono::Utc::now().timestamp();
    let client = engine.polygon_requests();
    let (per_minute, last_minute) = series().lock().expect("rate lock").view(now);
    let polygon = PolygonRateView {
        available: client.is_some(),
        limit: client
            .map(|(_, l)| l)
            .unwrap_or(engine.settings().requests_per_minute),
        last_minute,
        per_minute,
        scope: if engine.mode_name() == "redis" {
            "this app's built-in worker".into()
        } else {
            "this app".into()
        },
        key_last_minute: engine.polygon_key_spent().await,
    };
    let (today, hourly, daily, history_error) = match engine.dashboard().await {
        Ok(d) => (
            (&d.today).into(),
            d.hourly.iter().map(PointView::from).collect(),
            d.daily.iter().map(PointView::from).collect(),
            None,
        ),
        Err(e) => (
            TotalsView::from(&tickstock_jobs::reads::dashboard::Totals::default()),
            Vec::new(),
            Vec::new(),
            Some(e.message),
        ),
    };
    Ok(DashboardView {
        today,
        hourly,
        daily,
        polygon,
        history_error,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_counter_becomes_requests_per_minute() {
        let mut s = RateSeries::default();
        s.sample(100, 600); // the first reading only sets the base
        s.sample(103, 605);
        s.sample(110, 655);
        s.sample(112, 661); // next minute
        assert_eq!(s.view(661), (vec![(600, 10), (660, 2)], 10));
        // A new client starts from zero: its count is all new.
        s.sample(4, 700);
        assert_eq!(s.view(700).0, vec![(600, 10), (660, 6)]);
        // Quiet minutes in between are zero; the last full minute is the one before now.
        s.sample(5, 850);
        assert_eq!(
            s.view(850),
            (vec![(600, 10), (660, 6), (720, 0), (780, 0), (840, 1)], 0)
        );
        assert_eq!(s.view(905).1, 1);
        for i in 0..100 {
            s.sample(5 + i, 900 + i as i64 * 60);
        }
        assert_eq!(s.view(0).0.len(), MINUTES);
    }
}
