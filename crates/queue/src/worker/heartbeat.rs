//! The worker's heartbeat: the legacy heartbeat key and this worker's own entry, refreshed
//! every `heartbeat_every` and at once when its jobs or its ability to consume change; a
//! busy worker also heeds an operator's stop command here.

use std::time::Duration;

use tracing::debug;

use super::Worker;
use crate::bus::WorkerBeat;
use tickstock_protocol::error::Result;

impl Worker {
    pub(super) async fn heartbeat_loop(&self) {
        let me = &self.inner;
        let mut ticker = tokio::time::interval(me.cfg.heartbeat_every);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = me.shutdown.cancelled() => return,
                _ = ticker.tick() => {}
            }
            if let Err(e) = self.heartbeat(false).await {
                debug!("heartbeat failed: {e}");
            }
            // A stop command reaches a worker whose slots are all busy too.
            if !self.current_jobs().is_empty() {
                let _ = self.gate_open_now().await;
            }
        }
    }

    /// [`Worker::gate_open`] without the wait on hold (a busy worker only heeds stop).
    async fn gate_open_now(&self) -> Result<()> {
        if self.gate().await? == crate::bus::Gate::Stop {
            self.gate_open().await?;
        }
        Ok(())
    }

    /// Refreshes the legacy heartbeat and this worker's entry (`stopped` on the way out).
    pub(super) async fn heartbeat(&self, stopped: bool) -> Result<()> {
        let me = &self.inner;
        let beat = WorkerBeat {
            id: me.id.clone(),
            host: me.host.clone(),
            pid: std::process::id(),
            started_at: me.started_at.clone(),
            current_jobs: self.current_jobs(),
            concurrency: me.cfg.concurrency,
            stopped,
            consume_error: self.consume_error(),
            legacy_ttl: Duration::from_secs((me.cfg.heartbeat_every.as_secs() * 3).max(15)),
        };
        me.bus.write_worker_heartbeat(&beat).await
    }
}
