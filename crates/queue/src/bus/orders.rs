//! The operator's word as one worker reads it before it takes a job: the queue's pause and
//! the worker's own command. A worker keeps what it read; when Redis lost its data since
//! its last read (a restart without persistence, `FLUSHALL`: its `seen` mark is gone) it
//! puts that back, so a paused queue stays paused and a quiet worker stays quiet. An
//! operator's change (a resume, a withdrawn command) is read as such: Redis still has the
//! mark then.

use redis::AsyncCommands;

use super::control::{Gate, WorkerCommand, WorkerOrder, WORKER_COMMAND_TTL_SECS};
use super::Bus;
use tickstock_protocol::error::Result;

/// The pause and one worker's command, as stored.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Orders {
    /// The pause key's text while the queue is paused (empty when the key holds something
    /// that is not text: it still pauses).
    pub pause: Option<String>,
    /// The worker's command key's text (JSON [`WorkerOrder`]).
    pub command: Option<String>,
}

impl Orders {
    /// Whether anything is said.
    pub fn is_empty(&self) -> bool {
        self.pause.is_none() && self.command.is_none()
    }

    /// What the worker may do: a stop stops, a quiet command or a pause holds.
    pub fn gate(&self) -> Gate {
        let order = self
            .command
            .as_deref()
            .and_then(|o| serde_json::from_str::<WorkerOrder>(o).ok());
        match order.map(|o| o.command) {
            Some(WorkerCommand::Stop) => Gate::Stop,
            Some(WorkerCommand::Quiet) => Gate::Hold,
            None if self.pause.is_some() => Gate::Hold,
            None => Gate::Open,
        }
    }

    /// What is in `self`, else in `other`.
    pub fn or(self, other: Orders) -> Orders {
        Orders {
            pause: self.pause.or(other.pause),
            command: self.command.or(other.command),
        }
    }
}

impl Bus {
    /// One worker's orders, in one round trip, and whether Redis lost its data since that
    /// worker's last read (its `seen` mark is missing; also at its first read). Marks this
    /// read.
    pub async fn read_orders(&self, worker_id: &str) -> Result<(Orders, bool)> {
        let mut c = self.conn();
        let (pause, command, seen): (Option<String>, Option<String>, bool) = ORDERS_READ
            .key(self.keys.queue_paused())
            .key(self.keys.worker_control(worker_id))
            .key(self.keys.worker_seen(worker_id))
            .arg(WORKER_COMMAND_TTL_SECS)
            .invoke_async(&mut c)
            .await?;
        Ok((Orders { pause, command }, !seen))
    }

    /// Puts back orders Redis lost: the pause and the worker's command, each only where
    /// none is stored now (an operator's newer word stands).
    pub async fn restore_orders(&self, worker_id: &str, orders: &Orders) -> Result<()> {
        let mut c = self.conn();
        if let Some(pause) = &orders.pause {
            let _: Option<String> = redis::cmd("SET")
                .arg(self.keys.queue_paused())
                .arg(pause)
                .arg("NX")
                .query_async(&mut c)
                .await?;
        }
        if let Some(command) = &orders.command {
            let _: Option<String> = redis::cmd("SET")
                .arg(self.keys.worker_control(worker_id))
                .arg(command)
                .arg("NX")
                .arg("EX")
                .arg(WORKER_COMMAND_TTL_SECS)
                .query_async(&mut c)
                .await?;
        }
        let _: () = c
            .set_ex(self.keys.worker_seen(worker_id), 1, WORKER_COMMAND_TTL_SECS)
            .await?;
        Ok(())
    }
}

/// KEYS = [pause, command, seen], ARGV = [seen's expiry]. Returns `{pause text ('' for a
/// pause key that is not text) or false, command text or false, 1 when seen was there}`
/// and sets seen. Never `WRONGTYPE`.
static ORDERS_READ: std::sync::LazyLock<redis::Script> = std::sync::LazyLock::new(|| {
    redis::Script::new(
        r"
local pause = false
local kind = redis.call('TYPE', KEYS[1])['ok']
if kind == 'string' then pause = redis.call('GET', KEYS[1]) elseif kind ~= 'none' then pause = '' end
local command = false
if redis.call('TYPE', KEYS[2])['ok'] == 'string' then command = redis.call('GET', KEYS[2]) end
local seen = redis.call('EXISTS', KEYS[3])
redis.call('SET', KEYS[3], '1', 'EX', ARGV[1])
return {pause, command, seen}
",
    )
});

#[cfg(test)]
mod tests {
    use super::*;

    fn order(command: WorkerCommand) -> Option<String> {
        serde_json::to_string(&WorkerOrder {
            command,
            requested_by: "ana".into(),
            requested_at: String::new(),
        })
        .ok()
    }

    #[test]
    fn a_command_comes_before_the_pause() {
        let paused = Orders {
            pause: Some(String::new()),
            command: None,
        };
        assert_eq!(paused.gate(), Gate::Hold);
        assert_eq!(Orders::default().gate(), Gate::Open);
        let stop = Orders {
            command: order(WorkerCommand::Stop),
            ..paused.clone()
        };
        assert_eq!(stop.gate(), Gate::Stop);
        let quiet = Orders {
            pause: None,
            command: order(WorkerCommand::Quiet),
        };
        assert_eq!(quiet.gate(), Gate::Hold);
        assert_eq!(Orders::default().or(quiet.clone()), quiet);
    }
}
