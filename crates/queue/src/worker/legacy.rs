//! The legacy pub/sub channels: jobs published by old admin pages are added to the stream
//! once (an unreadable one is marked failed while still waiting), and cancel messages on
//! the control channel stop the running jobs they name.

use std::time::Duration;

use futures_util::StreamExt;
use serde_json::Value;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use super::Worker;
use crate::bus::{BusError, LegacyMessage};
use tickstock_protocol::error::Result;
use tickstock_protocol::job::{parse_message, Job};
use tickstock_protocol::status::JobState;

impl Worker {
    pub(super) async fn legacy_listener(&self) {
        let me = &self.inner;
        let mut backoff = Duration::from_millis(250);
        while !me.shutdown.is_cancelled() {
            match self.listen_once().await {
                Ok(()) => backoff = Duration::from_millis(250),
                Err(e) => {
                    debug!("legacy listener: {e}");
                    self.pause(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                }
            }
        }
    }

    pub(super) async fn listen_once(&self) -> Result<()> {
        let me = &self.inner;
        let mut messages = me.bus.legacy_messages().await?;
        loop {
            let msg = tokio::select! {
                _ = me.shutdown.cancelled() => return Ok(()),
                m = messages.next() => m,
            };
            match msg {
                Some(LegacyMessage::DataLoad(payload)) => self.on_legacy_job(&payload).await,
                Some(LegacyMessage::Control(payload)) => self.on_control(&payload).await,
                None => return Err(BusError::SubscriptionClosed.into()),
            }
        }
    }

    pub(super) async fn on_legacy_job(&self, payload: &str) {
        let me = &self.inner;
        let message = parse_message(payload);
        // Even an unreadable message's id is found, so its "submitted" status does not
        // linger for two hours.
        let id = tickstock_protocol::job::loose_job_id(payload);
        match message.and_then(Job::from_value) {
            Ok(job) => match me.bus.ingest_legacy(&job).await {
                Ok(true) => {
                    info!(job_id = %job.id, "accepted a job published on the legacy channel")
                }
                Ok(false) => {}
                Err(e) => warn!(job_id = %job.id, "could not queue a legacy job: {e}"),
            },
            Err(e) => {
                warn!(job_id = ?id, "rejected a message on the legacy channel: {}", e.message());
                let waiting =
                    match &id {
                        Some(id) => me.bus.status(id).await.ok().flatten().is_none_or(|s| {
                            matches!(s.state, JobState::Submitted | JobState::Queued)
                        }),
                        None => false,
                    };
                if let Some(id) = id.filter(|_| waiting) {
                    let reason = format!("rejected job message: {}", e.message());
                    // Never over a final state (settled by `finish_status`).
                    let st = Self::failed_status(None, &reason);
                    if let Err(e) = me.bus.finish_status(&id, &st, None).await {
                        warn!("could not mark {id} failed: {e}");
                    }
                }
            }
        }
    }

    pub(super) async fn on_control(&self, payload: &str) {
        let me = &self.inner;
        let Ok(v) = serde_json::from_str::<Value>(payload) else {
            warn!("ignored an unreadable control message");
            return;
        };
        let by = v
            .get("requested_by")
            .and_then(|x| x.as_str())
            .unwrap_or("legacy admin")
            .to_string();
        let targets: Vec<(String, CancellationToken)> = {
            let running = me.running.lock().expect("running lock");
            if v.get("command").and_then(|c| c.as_str()) == Some("cancel_all") {
                running
                    .iter()
                    .map(|(k, t)| (k.clone(), t.clone()))
                    .collect()
            } else if v.get("action").and_then(|c| c.as_str()) == Some("cancel") {
                let id = v.get("job_id").and_then(|x| x.as_str()).unwrap_or_default();
                running
                    .get(id)
                    .map(|t| vec![(id.to_string(), t.clone())])
                    .unwrap_or_default()
            } else {
                Vec::new()
            }
        };
        for (id, token) in targets {
            info!(job_id = %id, "cancel heard on the control channel");
            if let Err(e) = me.bus.set_cancel_flag(&id, &by).await {
                warn!("could not record cancel of {id}: {e}");
            }
            token.cancel();
        }
    }
}
