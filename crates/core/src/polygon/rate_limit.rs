//! A sliding-window rate limiter: at most N requests in any window (a minute for Polygon
//! plans). It remembers when each of the last N requests was let through and makes a
//! request wait only until the oldest of them leaves the window, so it never sleeps while
//! the limit still allows the request. Time is `tokio::time::Instant`, so tests can pause it.

use std::collections::VecDeque;
use std::time::Duration;

use tokio::sync::Mutex;
use tokio::time::Instant;

/// Limits requests to `limit` per `window`; `limit == 0` means unlimited.
///
/// Waiters are served in arrival order (the lock is fair). Share one limiter (behind an
/// `Arc`) between everything that spends the same plan's budget.
#[derive(Debug)]
pub struct RateLimiter {
    /// Changes live ([`RateLimiter::set_limit`]): read at every acquire.
    limit: std::sync::atomic::AtomicUsize,
    window: Duration,
    granted: Mutex<VecDeque<Instant>>,
    /// When the request now waiting for the window will be let through, if one waits.
    next_at: std::sync::Mutex<Option<Instant>>,
}

impl RateLimiter {
    /// `per_minute` requests in any 60 s; 0 = unlimited.
    pub fn per_minute(per_minute: u32) -> Self {
        Self::with_window(per_minute, Duration::from_secs(60))
    }

    /// `limit` requests in any `window`; 0 = unlimited.
    pub fn with_window(limit: u32, window: Duration) -> Self {
        RateLimiter {
            limit: std::sync::atomic::AtomicUsize::new(limit as usize),
            window,
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

    /// The window the limit applies to.
    pub fn window(&self) -> Duration {
        self.window
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
        if self.window == Duration::from_secs(60) {
            format!("{}/min", self.current())
        } else {
            format!("{} per {} s", self.current(), self.window.as_secs_f64())
        }
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
        assert_eq!(rl.waiting_for(), Some(Duration::from_secs(40)));
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
        assert_eq!(Instant::now() - start, Duration::from_secs(60));
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
        assert_eq!(Instant::now() - start, Duration::from_secs(60));
    }

    #[tokio::test(start_paused = true)]
    async fn sliding_window_frees_slots_one_by_one() {
        let rl = RateLimiter::per_minute(2);
        let start = Instant::now();
        rl.acquire().await; // t=0
        tokio::time::sleep(Duration::from_secs(30)).await;
        rl.acquire().await; // t=30
        rl.acquire().await; // waits for t=0 to leave: t=60
        assert_eq!(Instant::now() - start, Duration::from_secs(60));
        rl.acquire().await; // waits for t=30 to leave: t=90
        assert_eq!(Instant::now() - start, Duration::from_secs(90));
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
        assert_eq!(waits[3..], [Duration::from_secs(60); 3]);
    }
}
