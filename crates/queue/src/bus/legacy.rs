//! The legacy pub/sub channels: a job published by an old admin page is added to the
//! stream once across all workers, and the channels are heard as typed messages.

use futures_util::stream::{BoxStream, StreamExt};

use super::scripts::INGEST;
use super::{unix_now, Bus, STREAM_MAX_LEN};
use tickstock_protocol::error::Result;
use tickstock_protocol::job::Job;

/// A message heard on the legacy channels (its payload text, as published).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LegacyMessage {
    /// On the data-load channel: a job published by an old admin page.
    DataLoad(String),
    /// On the control channel: `cancel` of one job or `cancel_all`.
    Control(String),
}

impl Bus {
    /// Adds a job heard on the legacy channel to the durable stream, once across all
    /// workers (the index says whether it is already known). Returns true if added.
    ///
    /// Its status is left as the publisher wrote it (TickStockAppV2: a hash at
    /// `tickstock.jobs.status:{id}`, written just after it publishes; old pages: JSON at
    /// `job:status:{id}`): writing one here could race the publisher's own `HSET` into a
    /// `WRONGTYPE` error on its side. Readers take either key in either encoding, and the
    /// worker's first progress write replaces both with the JSON string.
    pub async fn ingest_legacy(&self, job: &Job) -> Result<bool> {
        let mut c = self.conn.clone();
        let added: i64 = INGEST
            .key(self.keys.index())
            .key(self.keys.stream())
            .arg((unix_now() * 1000.0) as i64)
            .arg(&job.id)
            .arg(job.to_json())
            .arg(STREAM_MAX_LEN)
            .invoke_async(&mut c)
            .await?;
        Ok(added == 1)
    }

    /// Subscribes to the legacy data-load and control channels on a connection of its own.
    /// The stream ends when the subscription is lost; subscribe again to go on.
    pub async fn legacy_messages(&self) -> Result<BoxStream<'static, LegacyMessage>> {
        let mut pubsub = self.client.get_async_pubsub().await?;
        let data_channel = self.keys.channel_data_load();
        pubsub.subscribe(&data_channel).await?;
        pubsub.subscribe(self.keys.channel_control()).await?;
        Ok(pubsub
            .into_on_message()
            .map(move |msg| {
                let payload: String = msg.get_payload().unwrap_or_default();
                if msg.get_channel_name() == data_channel {
                    LegacyMessage::DataLoad(payload)
                } else {
                    LegacyMessage::Control(payload)
                }
            })
            .boxed())
    }
}
