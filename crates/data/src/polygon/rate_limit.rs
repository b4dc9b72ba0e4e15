//! A sliding-window rate limiter: at most N requests in any window (a minute for Polygon
//! plans). It remembers when each of the last N requests was let through and makes a
//! request wait only until the oldest of them leaves the window, so it never sleeps while
//! the limit still allows the request. Time is `tokio::time::Instant`, so tests can pause it.
//!
//! A plan's limiter ([`RateLimiter::per_minute`], [`RateLimiter::for_plan`]) counts over
//! the plan's window plus [`margin_for`] it, so that requests reach Polygon no closer
//! together than Polygon measures them (see [`RATE_MARGIN`]). This limiter counts one
//! process; [`super::shared_budget`] counts every process on one key through Redis.

use std::collections::VecDeque;
use std::time::Duration;

use tokio::sync::Mutex;
use tokio::time::Instant;

/// Added to a minute's window when counting a plan's requests: 2 s.
///
/// Polygon counts requests as they arrive, and we count them when we let them go. Between
/// the two lie the connection (DNS, TCP, TLS: up to about a second on a cold or slow
/// link, nothing on a warm one), so two requests we let go exactly 60 s apart can arrive
/// 59 s apart; and Polygon's window is inclusive and may be measured in whole seconds
/// ("exactly 60 s apart can land inside one window"), which costs up to one more second.
/// One second for each: with one client on a key at the plan's rate, no 429 of our own
/// making. The price is 3 % of a free plan's throughput (5 per 62 s instead of 60 s).
pub const RATE_MARGIN: Duration = Duration::from_secs(2);

/// The margin added to a plan's `window`: [`RATE_MARGIN`] for a minute, and the same
/// proportion (1/30) of a shorter window, which only tests use, so that they stay fast.
pub fn margin_for(window: Duration) -> Duration {
    RATE_MARGIN.min(window / 30)
}

/// Limits requests to `limit` per `window`; `limit == 0` means unlimited.
///
/// Waiters are served in arrival order (the lock is fair). Share one limiter (behind an
/// `Arc`) between everything that spends the same plan's budget.
#[derive(Debug)]
pub struct RateLimiter {
    /// Changes live ([`RateLimiter::set_limit`]): read at every acquire.
    limit: std::sync::atomic::AtomicUsize,
    /// The window counted: the plan's window plus its margin.
    window: Duration,
    /// The plan's window as the plan states it (what [`RateLimiter::describe`] shows).
    plan_window: Duration,
    granted: Mutex<VecDeque<Instant>>,
    /// When the request now waiting for the window will be let through, if one waits.
    next_at: std::sync::Mutex<Option<Instant>>,
}

impl RateLimiter {
    /// A plan of `per_minute` requests a minute: at most that many in any 62 s (the
    /// minute plus [`RATE_MARGIN`]); 0 = unlimited.
    pub fn per_minute(per_minute: u32) -> Self {
        Self::for_plan(per_minute, Duration::from_secs(60))
    }

    /// A plan of `limit` requests per `plan_window`, counted over the window plus
    /// [`margin_for`] it; 0 = unlimited.
    pub fn for_plan(limit: u32, plan_window: Duration) -> Self {
        let mut rl = Self::with_window(limit, plan_window + margin_for(plan_window));
        rl.plan_window = plan_window;
        rl
    }

    /// `limit` requests in any `window` exactly (no margin); 0 = unlimited.
    pub fn with_window(limit: u32, window: Duration) -> Self {
        RateLimiter {
            limit: std::sync::atomic::AtomicUsize::new(limit as usize),
            window,
            plan_window: window,
            granted: Mutex::new(VecDeque::with_capacity(limit.min(1024) as usize)),
            next_at: std::sync::Mutex::new(None),
        }
    }

    /// The configured limit (0 = unlimited).
    pub fn limit(&self) -> u32 {
        self.current() as u32
    }

    fn current(&self) -> usize {
        self.limit.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Changes the limit for every request from now on (a plan changed; 0 = unlimited).
    /// A request waiting for the window looks again once its wait ends.
    pub fn set_limit(&self, limit: u32) {
        self.limit
            .store(limit as usize, std::sync::atomic::Ordering::Relaxed);
    }

    /// The window the limit is counted over (the plan's window plus its margin).
    pub fn window(&self) -> Duration {
        self.window
    }

    /// The plan's window as the plan states it (a minute), without the margin.
    pub fn plan_window(&self) -> Duration {
        self.plan_window
    }

    /// Counts a request let through by someone else (the shared budget in Redis), so
    /// that this limiter, should it take over, knows what was spent. Never waits: while
    /// a request waits here, the grant is not counted.
    pub fn record_grant(&self) {
        if self.is_unlimited() {
            return;
        }
        if let Ok(mut granted) = self.granted.try_lock() {
            let now = Instant::now();
            while granted
                .front()
                .is_some_and(|&t| now.duration_since(t) >= self.window)
            {
                granted.pop_front();
            }
            granted.push_back(now);
            let keep = self.current().max(1);
            while granted.len() > keep {
                granted.pop_front();
            }
        }
    }

    /// Whether the limiter never waits.
    pub fn is_unlimited(&self) -> bool {
        self.current() == 0
    }

    /// Waits until one more request fits in the window, then counts it.
    pub async fn acquire(&self) {
        let mut granted = self.granted.lock().await;
        loop {
            let limit = self.current();
            if limit == 0 {
                return;
            }
            let now = Instant::now();
            while let Some(&oldest) = granted.front() {
                if now.duration_since(oldest) >= self.window {
                    granted.pop_front();
                } else {
                    break;
                }
            }
            if granted.len() < limit {
                granted.push_back(now);
                *self.next_at.lock().expect("next lock") = None;
                return;
            }
            // Full: the oldest grant (of the last `limit`) leaves the window then.
            let until = granted[granted.len() - limit] + self.window;
            tracing::debug!(
                wait_ms = until.saturating_duration_since(now).as_millis() as u64,
                limit,
                "rate limit reached; waiting for the window to move"
            );
            *self.next_at.lock().expect("next lock") = Some(until);
            tokio::time::sleep_until(until).await;
        }
    }

    /// How long the request now held back by the limit still waits (`None`: no request
    /// waits). Never blocks.
    pub fn waiting_for(&self) -> Option<Duration> {
        self.next_at
            .lock()
            .expect("next lock")
            .map(|t| t.saturating_duration_since(Instant::now()))
    }

    /// The plan's rate as people say it: `5/min`, or `2 per 3 s`.
    pub fn describe(&self) -> String {
        describe_plan(self.limit(), self.plan_window)
    }

    /// How many more requests would be let through right now without waiting.
    pub async fn available(&self) -> Option<u32> {
        if self.current() == 0 {
            return None;
        }
        let granted = self.granted.lock().await;
        let now = Instant::now();
        let in_window = granted
            .iter()
            .filter(|&&t| now.duration_since(t) < self.window)
            .count();
        Some(self.current().saturating_sub(in_window) as u32)
    }
}

/// A plan's rate as people say it: `5/min`, or `2 per 3 s`.
pub fn describe_plan(limit: u32, plan_window: Duration) -> String {
    if plan_window == Duration::from_secs(60) {
        format!("{limit}/min")
    } else {
        format!("{limit} per {} s", plan_window.as_secs_f64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[tokio::test(start_paused = true)]
    async fn a_waiting_request_is_visible() {
        let rl = Arc::new(RateLimiter::per_minute(1));
        rl.acquire().await;
        assert_eq!(rl.waiting_for(), None);
        let r = rl.clone();
        let waiter = tokio::spawn(async move { r.acquire().await });
        tokio::time::sleep(Duration::from_secs(20)).await;
        // A minute plus the margin after the first grant.
        assert_eq!(rl.waiting_for(), Some(Duration::from_secs(42)));
        assert_eq!(rl.describe(), "1/min");
        waiter.await.unwrap();
        assert_eq!(rl.waiting_for(), None);
    }

    #[tokio::test(start_paused = true)]
    async fn a_new_limit_applies_to_the_next_request() {
        let rl = RateLimiter::per_minute(5);
        let start = Instant::now();
        for _ in 0..5 {
            rl.acquire().await;
        }
        // The plan grew: the next five go at once instead of waiting a minute.
        rl.set_limit(10);
        for _ in 0..5 {
            rl.acquire().await;
        }
        assert_eq!(Instant::now(), start);
        assert_eq!(rl.describe(), "10/min");
        // It shrank to 2: the next waits until the 9th and 10th grants leave the window.
        rl.set_limit(2);
        rl.acquire().await;
        assert_eq!(Instant::now() - start, Duration::from_secs(62));
    }

    #[test]
    fn a_plan_counts_its_window_plus_the_margin() {
        let rl = RateLimiter::per_minute(5);
        assert_eq!(rl.window(), Duration::from_secs(62));
        assert_eq!(rl.plan_window(), Duration::from_secs(60));
        assert_eq!(rl.describe(), "5/min");
        // A test's short window keeps the proportion, not the two seconds.
        let rl = RateLimiter::for_plan(5, Duration::from_secs(3));
        assert_eq!(rl.window(), Duration::from_millis(3100));
        assert_eq!(rl.describe(), "5 per 3 s");
        let exact = RateLimiter::with_window(5, Duration::from_secs(3));
        assert_eq!(exact.window(), Duration::from_secs(3));
    }

    #[tokio::test(start_paused = true)]
    async fn a_grant_recorded_from_elsewhere_counts() {
        let rl = RateLimiter::per_minute(2);
        let start = Instant::now();
        rl.record_grant();
        rl.record_grant();
        assert_eq!(rl.available().await, Some(0));
        rl.acquire().await;
        assert_eq!(Instant::now() - start, Duration::from_secs(62));
    }

    #[tokio::test(start_paused = true)]
    async fn unlimited_never_waits() {
        let rl = RateLimiter::per_minute(0);
        let start = Instant::now();
        for _ in 0..10_000 {
            rl.acquire().await;
        }
        assert_eq!(Instant::now(), start);
        assert_eq!(rl.available().await, None);
    }

    #[tokio::test(start_paused = true)]
    async fn sixth_request_waits_for_the_window() {
        let rl = RateLimiter::per_minute(5);
        let start = Instant::now();
        for _ in 0..5 {
            rl.acquire().await;
        }
        assert_eq!(Instant::now(), start, "the first five never sleep");
        assert_eq!(rl.available().await, Some(0));
        rl.acquire().await;
        assert_eq!(Instant::now() - start, Duration::from_secs(62));
    }

    #[tokio::test(start_paused = true)]
    async fn sliding_window_frees_slots_one_by_one() {
        let rl = RateLimiter::per_minute(2);
        let start = Instant::now();
        rl.acquire().await; // t=0
        tokio::time::sleep(Duration::from_secs(30)).await;
        rl.acquire().await; // t=30
        rl.acquire().await; // waits for t=0 to leave (62 s with the margin)
        assert_eq!(Instant::now() - start, Duration::from_secs(62));
        rl.acquire().await; // waits for t=30 to leave: t=92
        assert_eq!(Instant::now() - start, Duration::from_secs(92));
    }

    #[tokio::test(start_paused = true)]
    async fn shared_limiter_counts_all_callers() {
        let rl = Arc::new(RateLimiter::per_minute(3));
        let start = Instant::now();
        let mut tasks = Vec::new();
        for _ in 0..6 {
            let rl = rl.clone();
            tasks.push(tokio::spawn(async move {
                rl.acquire().await;
                Instant::now() - start
            }));
        }
        let mut waits = Vec::new();
        for t in tasks {
            waits.push(t.await.unwrap());
        }
        waits.sort();
        assert_eq!(waits[..3], [Duration::ZERO; 3]);
        assert_eq!(waits[3..], [Duration::from_secs(62); 3]);
    }
}
