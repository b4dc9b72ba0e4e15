//! Connecting to Redis, the job stream's consumer group, and the separate connection a
//! blocking read needs.

use std::sync::Arc;
use std::time::Duration;

use redis::aio::ConnectionManager;

use super::{Bus, BusError};
use tickstock_protocol::error::Result;
use tickstock_protocol::keys::Keys;
use tickstock_protocol::settings::{expose, BusConfig};

impl Bus {
    /// Connects to Redis (ping included) and makes sure the consumer group exists.
    pub async fn connect(cfg: BusConfig) -> Result<Bus> {
        let redacted = cfg.redacted_url();
        let client = redis::Client::open(expose(&cfg.url)).map_err(|e| BusError::BadUrl {
            url: redacted.clone(),
            reason: e.detail().unwrap_or("invalid URL").to_string(),
        })?;
        let mgr_cfg = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(cfg.connect_timeout)
            .set_response_timeout(cfg.response_timeout)
            .set_number_of_retries(2)
            .set_max_delay(2_000);
        let conn = tokio::time::timeout(
            cfg.connect_timeout * 3,
            client.get_connection_manager_with_config(mgr_cfg),
        )
        .await
        .map_err(|_| BusError::ConnectTimeout {
            url: redacted.clone(),
        })?
        .map_err(|e| BusError::Connect {
            url: redacted.clone(),
            message: e.to_string(),
        })?;
        let bus = Bus {
            client,
            conn,
            keys: Keys::with_namespace(&cfg.namespace),
            cfg: Arc::new(cfg),
        };
        // A Redis at its memory limit refuses every write, the group's creation too, but
        // still answers reads: what reads needs no group, and whoever takes jobs makes it.
        match bus.create_group().await {
            Err(e) if e.code() == Some("OOM") => {
                tracing::warn!("Redis is full (maxmemory reached): it refuses writes; the job stream's group was not checked");
            }
            r => r?,
        }
        Ok(bus)
    }

    /// A separate connection for blocking reads (a blocked command would hold up every
    /// other user of the shared connection).
    pub async fn blocking_connection(&self, block: Duration) -> Result<ConnectionManager> {
        let mgr_cfg = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(self.cfg.connect_timeout)
            .set_response_timeout(block + self.cfg.response_timeout)
            .set_number_of_retries(2)
            .set_max_delay(2_000);
        Ok(self
            .client
            .get_connection_manager_with_config(mgr_cfg)
            .await?)
    }

    /// Creates the consumer group (from the start of the stream, so nothing submitted
    /// before the first worker is lost).
    pub async fn ensure_group(&self) -> Result<()> {
        Ok(self.create_group().await?)
    }

    async fn create_group(&self) -> redis::RedisResult<()> {
        let mut c = self.conn.clone();
        let r: redis::RedisResult<()> = redis::cmd("XGROUP")
            .arg("CREATE")
            .arg(self.keys.stream())
            .arg(self.keys.group())
            .arg("0")
            .arg("MKSTREAM")
            .query_async(&mut c)
            .await;
        match r {
            Err(e) if e.code() == Some("BUSYGROUP") => Ok(()),
            r => r,
        }
    }
}
