//! `tickstock health`: Redis, the workers and their heartbeats, the queue.

use std::process::ExitCode;
use std::time::Duration;

use clap::Args;

use tickstock_jobs::runtime::{Bus, HEARTBEAT_STALE_SECS};
use tickstock_protocol::Result;

use crate::output;
use crate::Global;

#[derive(Args)]
pub struct HealthArgs {
    #[arg(long)]
    pub json: bool,
}

pub async fn health(g: &Global, a: &HealthArgs) -> Result<ExitCode> {
    let cfg = g.bus_config()?;
    let health = match Bus::connect(cfg.clone()).await {
        Ok(bus) => {
            bus.health(Duration::from_secs_f64(HEARTBEAT_STALE_SECS))
                .await
        }
        Err(e) => tickstock_jobs::runtime::Health {
            redis: tickstock_jobs::runtime::RedisHealth {
                url: cfg.redacted_url(),
                connected: false,
                rtt_ms: None,
                error: Some(e.message().to_string()),
                full: None,
            },
            legacy_heartbeat: None,
            producer_heartbeat: None,
            workers: Vec::new(),
            queue: None,
        },
    };
    if a.json {
        output::json(&health);
    } else {
        print!("{}", output::health_text(&health));
    }
    Ok(if health.redis.connected {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
