//! [`Limiter`]: what every request of a [`super::PolygonClient`] waits on. Either the
//! in-process [`RateLimiter`] (embedded mode, no Redis), or the [`SharedBudget`] in Redis
//! that every process on the key counts against, with the in-process limiter standing in
//! while Redis cannot be reached: a job never fails because the limiter's Redis hiccuped.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use super::rate_limit::RateLimiter;
use super::shared_budget::SharedBudget;

/// How long the in-process limiter decides after the shared budget failed, before
/// Redis is asked again.
pub const FALLBACK_FOR: Duration = Duration::from_secs(10);

/// Where the budget is kept.
#[derive(Debug, Clone)]
enum Mode {
    /// In this process only.
    InProcess,
    /// In Redis, for every process on the key; `who` names this process in the plan's
    /// `set_by`.
    Shared {
        budget: Arc<SharedBudget>,
        who: String,
    },
}

/// The plan's rate limit of one client (and its clones). See the module documentation.
#[derive(Debug)]
pub struct Limiter {
    local: RateLimiter,
    mode: RwLock<Mode>,
    /// Set while the shared budget is unreachable: the in-process limiter decides until then.
    fallback_until: std::sync::Mutex<Option<std::time::Instant>>,
}

impl Limiter {
    /// In-process only.
    pub fn in_process(local: RateLimiter) -> Limiter {
        Limiter {
            local,
            mode: RwLock::new(Mode::InProcess),
            fallback_until: std::sync::Mutex::new(None),
        }
    }

    /// From now on, counts against `budget` (kept in Redis); `who` names this process
    /// when it writes the plan's value.
    pub fn share(&self, budget: Arc<SharedBudget>, who: impl Into<String>) {
        self.local.set_limit(budget.limit());
        *self.mode.write().expect("mode lock") = Mode::Shared {
            budget,
            who: who.into(),
        };
        *self.fallback_until.lock().expect("fallback lock") = None;
    }

    /// The shared budget, when there is one.
    pub fn shared(&self) -> Option<Arc<SharedBudget>> {
        match &*self.mode.read().expect("mode lock") {
            Mode::Shared { budget, .. } => Some(budget.clone()),
            Mode::InProcess => None,
        }
    }

    /// Whether the budget is shared through Redis (even while falling back).
    pub fn is_shared(&self) -> bool {
        self.shared().is_some()
    }

    /// The in-process limiter (in embedded mode, the only one).
    pub fn local(&self) -> &RateLimiter {
        &self.local
    }

    /// The shared budget, unless it failed within [`FALLBACK_FOR`].
    fn shared_now(&self) -> Option<Arc<SharedBudget>> {
        let budget = self.shared()?;
        let mut fb = self.fallback_until.lock().expect("fallback lock");
        match *fb {
            Some(t) if std::time::Instant::now() < t => None,
            Some(_) => {
                *fb = None;
                Some(budget)
            }
            None => Some(budget),
        }
    }

    fn fall_back(&self, e: &redis::RedisError) {
        let mut fb = self.fallback_until.lock().expect("fallback lock");
        tracing::warn!(
            // A RedisError's text never carries the URL or its password.
            "the shared Polygon request budget in Redis is unreachable ({}); this process \
             counts its own requests for the next {} s",
            e,
            FALLBACK_FOR.as_secs()
        );
        *fb = Some(std::time::Instant::now() + FALLBACK_FOR);
    }

    /// Requests the plan lets through now without waiting, as far as this process can
    /// tell (`None`: unlimited): none while a request of this process waits for a shared
    /// budget, else what the in-process count leaves (it sees this process's grants only,
    /// so spare requests may still wait their fair turn behind other processes').
    pub async fn available(&self) -> Option<u32> {
        if let Some(budget) = self.shared_now() {
            if budget.waiting_for().is_some() {
                return Some(0);
            }
        }
        self.local.available().await
    }

    /// Waits until the plan lets one more request through, then counts it.
    pub async fn acquire(&self) {
        if let Some(budget) = self.shared_now() {
            match budget.acquire().await {
                Ok(g) => {
                    if g.limit != self.local.limit() {
                        self.local.set_limit(g.limit);
                    }
                    // Should Redis go away, the in-process limiter knows what was spent.
                    self.local.record_grant();
                    return;
                }
                Err(e) => self.fall_back(&e),
            }
        }
        self.local.acquire().await;
    }

    /// Polygon answered 429 although the limit allowed the request: someone outside our
    /// processes spends the key too. With a shared budget, every process on the key holds
    /// back for `wait`.
    pub async fn note_rate_limited(&self, wait: Duration) {
        if let Some(budget) = self.shared_now() {
            match budget.cool_down(wait).await {
                Ok(d) => tracing::info!(
                    cool_down_ms = d.as_millis() as u64,
                    "Polygon answered 429: every process on this key holds back"
                ),
                Err(e) => self.fall_back(&e),
            }
        }
    }

    /// Changes the plan for every request from now on. With a shared budget this is an
    /// explicit setting: it is written to Redis and wins for every process on the key.
    pub fn set_limit(&self, per_window: u32) {
        self.local.set_limit(per_window);
        let Mode::Shared { budget, who } = self.mode.read().expect("mode lock").clone() else {
            return;
        };
        match tokio::runtime::Handle::try_current() {
            Ok(rt) => {
                rt.spawn(async move {
                    if let Err(e) = budget.set_plan(per_window, &who).await {
                        tracing::warn!(
                            "the new Polygon plan could not be shared through Redis ({}); \
                             it applies to this process only until it can",
                            e
                        );
                    }
                });
            }
            Err(_) => tracing::warn!("the new Polygon plan applies to this process only"),
        }
    }

    /// The plan's requests per window in force (0 = unlimited).
    pub fn limit(&self) -> u32 {
        match self.shared() {
            Some(b) => b.limit(),
            None => self.local.limit(),
        }
    }

    /// Whether requests never wait.
    pub fn is_unlimited(&self) -> bool {
        self.limit() == 0
    }

    /// The window counted: the plan's window plus its margin.
    pub fn window(&self) -> Duration {
        self.local.window()
    }

    /// The plan's window as stated (a minute).
    pub fn plan_window(&self) -> Duration {
        self.local.plan_window()
    }

    /// How long the request now held back still waits (`None`: none waits), whichever
    /// limiter holds it.
    pub fn waiting_for(&self) -> Option<Duration> {
        let shared = self.shared().and_then(|b| b.waiting_for());
        match (shared, self.local.waiting_for()) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        }
    }

    /// The plan's rate as people say it: `5/min`, or `2 per 3 s`.
    pub fn describe(&self) -> String {
        match self.shared() {
            Some(b) => b.describe(),
            None => self.local.describe(),
        }
    }
}
