//! The status bar's data from the engine: Redis, the workers with the built-in one's state,
//! and the queue with its pause.

use std::time::Duration;

use tickstock_jobs::queue::JobQueue;
use tickstock_jobs::runtime::HEARTBEAT_STALE_SECS;

use super::{Engine, Mode};
use crate::views::{BuiltinWorkerView, HealthView};

impl Engine {
    /// Whether the built-in worker runs, and if not, why.
    pub fn builtin_worker(&self) -> BuiltinWorkerView {
        self.builtin.clone()
    }

    /// Status bar data. Never fails: what cannot be reached is reported.
    pub async fn health(&self) -> HealthView {
        let mut view = self.health_of_mode().await;
        view.builtin_worker = self.builtin.clone();
        view
    }

    async fn health_of_mode(&self) -> HealthView {
        match &self.mode {
            Mode::Embedded { queue } => {
                let depth = match queue {
                    Some(q) => JobQueue::depth(q).await.ok(),
                    None => None,
                };
                HealthView::embedded(queue.is_some(), !self.shutdown.is_cancelled(), depth)
            }
            Mode::Redis { bus } => match bus.get().await {
                Ok(bus) => {
                    let h = bus
                        .health(Duration::from_secs_f64(HEARTBEAT_STALE_SECS))
                        .await;
                    let mut view = HealthView::from_health(&h, self.worker_id.as_deref());
                    // A paused queue is what the status bar must say first; asked within
                    // the health check's own time, so a Redis going away is shown at once.
                    if let Some(q) = view.queue.as_mut() {
                        let paused = tokio::time::timeout(
                            tickstock_jobs::runtime::HEALTH_PING_TIMEOUT,
                            bus.queue_paused(),
                        )
                        .await;
                        if let Ok(Ok(Some(p))) = paused {
                            q.paused_by = Some(p.requested_by);
                        }
                    }
                    view
                }
                Err(e) => HealthView::redis_down(e.message()),
            },
        }
    }
}
