//! The pace of a running job: bars per second over the last minute, an ETA, and a message
//! while a request waits for the plan's rate limit.

use std::time::Duration;

use crate::exec::JobContext;
use crate::polygon::PolygonClient;
use tickstock_protocol::status::figures;

/// While a job runs: every second, the bars/s of the last minute (`bars_per_second`),
/// the job's Polygon requests so far (`polygon_requests`), an ETA (`eta_seconds`) and,
/// while a request waits for the plan's rate limit, a message that says so ("waiting for
/// the Polygon rate limit (5/min), next request in 23 s"). On a limited plan the ETA is the
/// requests left (the job's estimate less those made, at least one per unit left) at the
/// slower of the plan's rate and the job's own pace over the last minute (other jobs and
/// processes on the key take their share of the plan); otherwise it is the units left at
/// the recent pace of units.
pub(super) struct PaceReporter {
    _stop: tokio_util::sync::DropGuard,
}

/// The window over which the shown rate is measured.
const RATE_WINDOW: Duration = Duration::from_secs(60);

/// How long the job's own pace of requests is watched before the ETA trusts it.
const OWN_PACE_AFTER: Duration = Duration::from_secs(30);

impl PaceReporter {
    pub(super) fn start(
        polygon: PolygonClient,
        ctx: JobContext,
        loading: String,
        estimated_requests: u64,
    ) -> PaceReporter {
        let stop = tokio_util::sync::CancellationToken::new();
        let guard = stop.clone().drop_guard();
        tokio::spawn(async move {
            let p = ctx.progress().clone();
            let limiter = polygon.rate_limiter();
            let mut samples: std::collections::VecDeque<(std::time::Instant, u64, u64, u64)> =
                std::collections::VecDeque::new();
            let mut waiting_shown = false;
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            loop {
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = tick.tick() => {}
                }
                let now = std::time::Instant::now();
                let snap = p.snapshot();
                let bars = snap.ohlcv_records_loaded.unwrap_or(0);
                let left = p.units_left();
                let made = polygon.job_requests();
                samples.push_back((now, bars, left, made));
                while samples
                    .front()
                    .is_some_and(|(t, ..)| now.duration_since(*t) > RATE_WINDOW)
                {
                    samples.pop_front();
                }
                let (t0, bars0, left0, made0) = samples[0];
                let span = now.duration_since(t0).as_secs_f64();
                let rate = (span >= 1.0).then(|| bars.saturating_sub(bars0) as f64 / span);
                let wait = limiter
                    .waiting_for()
                    .filter(|w| *w >= Duration::from_secs(1));
                let eta = if limiter.is_unlimited() {
                    let units_rate =
                        (span >= 1.0).then(|| left0.saturating_sub(left) as f64 / span);
                    units_rate.filter(|r| *r > 0.0).map(|r| left as f64 / r)
                } else {
                    let plan_pace =
                        limiter.window().as_secs_f64() / f64::from(limiter.limit().max(1));
                    let own_pace = (span >= OWN_PACE_AFTER.as_secs_f64() && made > made0)
                        .then(|| span / (made - made0) as f64);
                    let per_request = own_pace.map_or(plan_pace, |o| o.max(plan_pace));
                    let requests_left = estimated_requests.saturating_sub(made).max(left);
                    let next = wait.map(|w| w.as_secs_f64()).unwrap_or(0.0);
                    Some(next + requests_left.saturating_sub(1) as f64 * per_request)
                };
                p.update(|s| {
                    s.extra
                        .insert(figures::POLYGON_REQUESTS.into(), made.into());
                    match rate {
                        Some(r) => s
                            .extra
                            .insert("bars_per_second".into(), ((r * 10.0).round() / 10.0).into()),
                        None => s.extra.remove("bars_per_second"),
                    };
                    match eta.filter(|_| left > 0) {
                        Some(e) => s.extra.insert("eta_seconds".into(), e.round().into()),
                        None => s.extra.remove("eta_seconds"),
                    };
                    match wait {
                        Some(w) => {
                            s.extra.insert("rate_limited".into(), true.into());
                            s.message = Some(format!(
                                "waiting for the Polygon rate limit ({}), next request in {} s",
                                limiter.describe(),
                                w.as_secs_f64().ceil() as u64
                            ));
                        }
                        None => {
                            s.extra.remove("rate_limited");
                            if waiting_shown {
                                s.message = Some(loading.clone());
                            }
                        }
                    }
                });
                waiting_shown = wait.is_some();
                let _ = p.publish().await;
            }
        });
        PaceReporter { _stop: guard }
    }
}
