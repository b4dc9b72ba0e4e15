//! One job id runs on one worker at a time: the job lease.
//!
//! A stream entry's claim alone cannot promise that. Two copies of an entry (the same job
//! added twice, a dead letter requeued while the job still runs) are two entries, and a
//! take-over judged by the taker's own idle setting took live jobs from workers that
//! refresh their claims more slowly. So a worker also holds the job itself:
//! [`Keys::job_lease`] holds `"{worker} {entry}"`, set when the job starts, refreshed with
//! the entry's claim, deleted when the job ends or is released, and expiring after the
//! *owner's* lease time when the owner dies. A take-over ([`Bus::take_over_idle`]) claims
//! an idle entry only when its job has no lease, in the same script, so whatever the
//! taker's idle setting, a job whose worker is alive is never taken, re-run or
//! dead-lettered; and a copy of an entry read while the job runs elsewhere is refused
//! ([`Bus::acquire_job_lease`]).
//!
//! [`Keys::job_lease`]: tickstock_protocol::keys::Keys::job_lease

use std::sync::LazyLock;
use std::time::Duration;

use redis::aio::ConnectionManager;
use redis::Script;

use super::stream::StreamEntry;
use super::{Bus, BusError};
use tickstock_protocol::error::Result;

/// Idle entries a take-over looks at in one round trip (past leased ones).
const TAKE_OVER_SCAN: usize = 16;

/// Longest job id that gets a lease (a longer one is junk; its entry is rejected anyway).
const MAX_LEASED_ID: usize = 200;

/// Claims one idle entry whose job holds no lease, and leases the job to the taker.
/// KEYS = [stream]; ARGV = [group, consumer, min idle ms, lease key prefix, lease ttl ms,
/// how many idle entries to look at, longest leased id]. Returns `{entry id, fields,
/// deliveries}` or false; a `NOGROUP` error when the stream or its group is gone.
const TAKE_OVER: &str = r"
if redis.call('EXISTS', KEYS[1]) == 0 then
  return redis.error_reply('NOGROUP the job stream is gone')
end
local ok, pending = pcall(redis.call, 'XPENDING', KEYS[1], ARGV[1], 'IDLE', tonumber(ARGV[3]), '-', '+', tonumber(ARGV[6]))
if not ok then return redis.error_reply('NOGROUP the consumer group is gone') end
for _, p in ipairs(pending) do
  local id = p[1]
  local rows = redis.call('XRANGE', KEYS[1], id, id)
  local e = rows[1]
  if not e then
    -- Deleted while pending: nothing is left to run.
    redis.call('XACK', KEYS[1], ARGV[1], id)
  else
    local f = e[2]
    local job_id, job = nil, nil
    for i = 1, #f, 2 do
      if f[i] == 'job_id' then job_id = f[i + 1] elseif f[i] == 'job' then job = f[i + 1] end
    end
    if (not job_id) and job then
      local okj, v = pcall(cjson.decode, job)
      if okj and type(v) == 'table' and type(v['job_id']) == 'string' then job_id = v['job_id'] end
    end
    if job_id and (job_id == '' or #job_id > tonumber(ARGV[7])) then job_id = nil end
    local free = true
    if job_id then free = redis.call('EXISTS', ARGV[4] .. job_id) == 0 end
    if free then
      local c = redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], tonumber(ARGV[3]), id)
      if c[1] then
        if job_id then
          redis.call('SET', ARGV[4] .. job_id, ARGV[2] .. ' ' .. id, 'PX', tonumber(ARGV[5]))
        end
        return {id, c[1][2], p[4] + 1}
      end
    end
  end
end
return false
";

/// Takes a job's lease for a holder, or confirms it already has it. KEYS = [lease];
/// ARGV = [holder, ttl ms]. Returns '' when the holder has it, else the other holder.
const ACQUIRE: &str = r"
local cur = redis.call('GET', KEYS[1])
if (not cur) or cur == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', tonumber(ARGV[2]))
  return ''
end
return cur
";

/// Keeps a running job's lease and its entry's claim fresh in one step. A lease lost to
/// Redis (a restart without persistence) is taken again; one another worker holds is
/// left alone, and so is the entry. KEYS = [lease, stream]; ARGV = [holder, ttl ms,
/// group, consumer, entry id]. Returns 1 while the holder has the job, 0 when it lost it.
const REFRESH: &str = r"
local cur = redis.call('GET', KEYS[1])
if cur and cur ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', tonumber(ARGV[2]))
pcall(redis.call, 'XCLAIM', KEYS[2], ARGV[3], ARGV[4], 0, ARGV[5], 'JUSTID')
return 1
";

/// Deletes a lease only while the holder still has it. KEYS = [lease]; ARGV = [holder].
const RELEASE: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
";

// Hashed once, as the bus's other scripts are (`scripts.rs`): a take-over runs every step
// and a refresh every few seconds per running job.
static TAKE_OVER_SCRIPT: LazyLock<Script> = LazyLock::new(|| Script::new(TAKE_OVER));
static ACQUIRE_SCRIPT: LazyLock<Script> = LazyLock::new(|| Script::new(ACQUIRE));
static REFRESH_SCRIPT: LazyLock<Script> = LazyLock::new(|| Script::new(REFRESH));
static RELEASE_SCRIPT: LazyLock<Script> = LazyLock::new(|| Script::new(RELEASE));

/// What a lease holds: the worker and the entry it runs the job from.
pub fn lease_holder(worker_id: &str, entry_id: &str) -> String {
    format!("{worker_id} {entry_id}")
}

/// Whether a job id gets a lease (ids the take-over script leases too).
pub fn leasable(job_id: &str) -> bool {
    !job_id.is_empty() && job_id.len() <= MAX_LEASED_ID
}

impl Bus {
    /// Claims for `consumer` one entry idle for at least `min_idle` whose job no live
    /// worker holds (its lease has expired or was never taken), leasing the job to
    /// `consumer` for `lease_ttl`, in one atomic step, with the entry's delivery count.
    /// [`BusError::GroupGone`] when the stream or its group is missing.
    pub async fn take_over_idle(
        &self,
        conn: &mut ConnectionManager,
        consumer: &str,
        min_idle: Duration,
        lease_ttl: Duration,
    ) -> Result<Option<StreamEntry>, BusError> {
        let reply: Option<(String, Vec<Vec<u8>>, u64)> = TAKE_OVER_SCRIPT
            .key(self.keys.stream())
            .arg(self.keys.group())
            .arg(consumer)
            .arg(min_idle.as_millis() as u64)
            .arg(self.keys.job_lease(""))
            .arg(lease_ttl.as_millis().max(1) as u64)
            .arg(TAKE_OVER_SCAN)
            .arg(MAX_LEASED_ID)
            .invoke_async(conn)
            .await
            .map_err(BusError::from_stream)?;
        let Some((id, flat, deliveries)) = reply else {
            return Ok(None);
        };
        let fields = flat
            .chunks(2)
            .filter_map(|kv| match kv {
                [k, v] => Some((
                    String::from_utf8(k.clone()).ok()?,
                    String::from_utf8(v.clone()).ok()?,
                )),
                _ => None,
            })
            .collect();
        Ok(Some(StreamEntry {
            id,
            fields,
            deliveries,
        }))
    }

    /// Takes `job_id`'s lease for `holder` ([`lease_holder`]) for `ttl`. `None` when the
    /// holder has it now; the other holder (`"{worker} {entry}"`) when a live worker runs
    /// the job from another entry.
    pub async fn acquire_job_lease(
        &self,
        job_id: &str,
        holder: &str,
        ttl: Duration,
    ) -> Result<Option<String>> {
        let mut c = self.conn();
        let other: String = ACQUIRE_SCRIPT
            .key(self.keys.job_lease(job_id))
            .arg(holder)
            .arg(ttl.as_millis().max(1) as u64)
            .invoke_async(&mut c)
            .await?;
        Ok((!other.is_empty()).then_some(other))
    }

    /// Refreshes a running job's lease and its entry's claim for `consumer`. False when
    /// another worker holds the job now (this one was silent past its lease).
    pub async fn refresh_job_lease(
        &self,
        job_id: &str,
        consumer: &str,
        entry_id: &str,
        ttl: Duration,
    ) -> Result<bool> {
        let mut c = self.conn();
        let held: i64 = REFRESH_SCRIPT
            .key(self.keys.job_lease(job_id))
            .key(self.keys.stream())
            .arg(lease_holder(consumer, entry_id))
            .arg(ttl.as_millis().max(1) as u64)
            .arg(self.keys.group())
            .arg(consumer)
            .arg(entry_id)
            .invoke_async(&mut c)
            .await?;
        Ok(held == 1)
    }

    /// Whether `holder` has `job_id`'s lease now.
    pub async fn holds_job_lease(&self, job_id: &str, holder: &str) -> Result<bool> {
        let mut c = self.conn();
        let cur: Option<String> =
            redis::AsyncCommands::get(&mut c, self.keys.job_lease(job_id)).await?;
        Ok(cur.as_deref() == Some(holder))
    }

    /// Gives up `job_id`'s lease if `holder` still has it.
    pub async fn release_job_lease(&self, job_id: &str, holder: &str) -> Result<()> {
        let mut c = self.conn();
        let _: i64 = RELEASE_SCRIPT
            .key(self.keys.job_lease(job_id))
            .arg(holder)
            .invoke_async(&mut c)
            .await?;
        Ok(())
    }
}
