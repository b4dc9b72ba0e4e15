//! One Polygon request budget per API key, shared by every process through Redis.
//!
//! Polygon counts a plan's requests per key, whoever sends them: the app's built-in worker
//! beside a `tickstock worker`, or two servers on one key, each spending the whole plan,
//! draw 429s. [`SharedBudget`] counts them all in one place:
//!
//! - **Keys** ([`tickstock_protocol::keys::Keys`]): `tickstock:polygon:budget:{digest}` (the grants),
//!   `…:plan:{digest}` (the plan's rate), `…:waiters:{digest}` and `…:waiters:{digest}:seen`
//!   (who waits, since when), `…:cooldown:{digest}` (after a 429). `{digest}` is
//!   [`key_digest`]: the API key itself is never in Redis, a log or an error.
//! - **Algorithm**: a sliding-window log in one Lua script, one round trip per request.
//!   The script takes the time from Redis `TIME` (so the clocks of the machines do not
//!   matter), drops grants older than the window (`ZREMRANGEBYSCORE`), and grants when
//!   fewer than the plan's requests remain (`ZCARD` < limit → `ZADD`); otherwise it
//!   answers how long until the oldest grant that matters leaves the window. Any window
//!   therefore holds at most the plan's requests across all processes.
//! - **Margin**: the window is the plan's minute plus [`super::rate_limit::RATE_MARGIN`]
//!   (2 s), the same margin the in-process limiter uses.
//! - **Fairness**: a process told to wait registers a ticket scored by when it began to
//!   wait, and a free slot goes only to the oldest live ticket; a process that has just been
//!   served queues behind those already waiting. Each process asks for one request at a
//!   time (its own requests queue in-process first), so processes take turns and none
//!   starves. A ticket not refreshed within [`TICKET_TTL`] (its process died or stopped
//!   waiting) loses its place: a dead process costs the others at most that long, and
//!   loses nothing but the grants it took, which leave the window like any other.
//! - **A Redis that restarts empty** (no persistence) loses the log: each process keeps
//!   its own grants of the last window and sends them with every look; the script puts
//!   back those missing and grants nothing on that look (a third of [`TICKET_TTL`], 2 s,
//!   for the other processes to put back theirs), so the window is whole again. A process
//!   idle since its grants puts them back only at its next request.
//! - **429**: a 429 that still arrives (a client outside our processes spends the key too)
//!   is recorded as a cool-down that the script honours for every process.
//! - **Plan value**: one `rpm` shared by all. The latest explicit setting wins (the app's
//!   Settings, or `--requests-per-minute`/`POLYGON_RPM` given to the CLI); a process that
//!   starts without one adopts the stored value (logging when its own differs) and writes
//!   its own only when none is stored.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use redis::aio::ConnectionManager;
use redis::Script;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use tokio::time::Instant;

use super::rate_limit::{describe_plan, margin_for};
use tickstock_protocol::keys::Keys;

/// Longest sleep between two looks at the budget while waiting: a waiting process asks
/// again at least this often, which keeps its ticket alive.
pub const POLL: Duration = Duration::from_secs(2);
/// A waiting ticket not refreshed for this long is dropped (its process is gone).
pub const TICKET_TTL: Duration = Duration::from_secs(6);
/// How soon a waiter asks again when a request is free but an older waiter goes first.
const NUDGE: Duration = Duration::from_millis(100);
/// How long an unlimited plan is trusted without asking Redis whether it changed.
const UNLIMITED_RECHECK: Duration = Duration::from_secs(5);

/// The first 16 hex digits (64 bits) of the SHA-256 of the API key: it tells keys
/// apart and names their budget, and the key cannot be recovered from it.
pub fn key_digest(api_key: &SecretString) -> String {
    let hash = Sha256::digest(api_key.expose_secret().trim().as_bytes());
    hash.iter().take(8).map(|b| format!("{b:02x}")).collect()
}

/// KEYS = [budget]; ARGV = [plan window µs]. Returns the grants within the plan's window
/// up to now, by Redis time.
static SPENT: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
return redis.call('ZCOUNT', KEYS[1], '(' .. string.format('%.0f', now - tonumber(ARGV[1])), '+inf')
"#,
    )
});

/// KEYS = [budget, plan, waiters, seen, cooldown];
/// ARGV = [window µs, this process's rpm (used when none is stored), ticket, ticket ttl µs,
/// grant member, nudge µs, then pairs of (member, µs) of this process's own grants still in
/// the window]. Returns `{granted 0|1, wait µs, limit, now µs}`. The own grants are put
/// back where missing (`ZADD NX`): a Redis that restarted empty lost the log, and every
/// process restores what it spent at its next look (and is granted nothing on that look,
/// which gives the others, waiting ones ask every [`POLL`], the time to put back theirs),
/// so the window is counted whole again.
static ACQUIRE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local window = tonumber(ARGV[1])
local limit = tonumber(redis.call('HGET', KEYS[2], 'rpm') or ARGV[2]) or tonumber(ARGV[2])
local ticket = ARGV[3]
local ttl = tonumber(ARGV[4])
if limit <= 0 then
  redis.call('ZREM', KEYS[3], ticket)
  redis.call('ZREM', KEYS[4], ticket)
  return {1, 0, 0, now}
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local restored = 0
for i = 7, #ARGV - 1, 2 do
  local at = tonumber(ARGV[i + 1])
  if at and at > now - window then
    restored = restored + redis.call('ZADD', KEYS[1], 'NX', at, ARGV[i])
  end
end
redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', '(' .. string.format('%.0f', now - ttl))
-- The oldest live waiter; tickets whose process went quiet are dropped on the way.
local head = nil
while true do
  local h = redis.call('ZRANGE', KEYS[3], 0, 0)
  if #h == 0 then break end
  if redis.call('ZSCORE', KEYS[4], h[1]) then head = h[1]; break end
  redis.call('ZREM', KEYS[3], h[1])
end
local count = redis.call('ZCARD', KEYS[1])
local cool = 0
local till = tonumber(redis.call('GET', KEYS[5]) or '0') or 0
if till > now then cool = till - now end
-- A log found lost grants nothing on this look: the other processes put back theirs first.
if restored > 0 and cool < ttl / 3 then cool = math.floor(ttl / 3) end
if cool == 0 and count < limit and (head == nil or head == ticket) then
  redis.call('ZADD', KEYS[1], now, ARGV[5])
  redis.call('PEXPIRE', KEYS[1], math.floor(window / 1000) + 1000)
  redis.call('ZREM', KEYS[3], ticket)
  redis.call('ZREM', KEYS[4], ticket)
  return {1, 0, limit, now}
end
-- Wait: keep the place of the first wait, say when this ticket's turn may come.
redis.call('ZADD', KEYS[3], 'NX', now, ticket)
redis.call('ZADD', KEYS[4], now, ticket)
local keep = math.floor((window + ttl) / 1000)
redis.call('PEXPIRE', KEYS[3], keep)
redis.call('PEXPIRE', KEYS[4], keep)
local slot = count + redis.call('ZRANK', KEYS[3], ticket)
local wait
if slot < limit then
  wait = tonumber(ARGV[6])
elseif slot - limit < count then
  local e = redis.call('ZRANGE', KEYS[1], slot - limit, slot - limit, 'WITHSCORES')
  wait = tonumber(e[2]) + window - now
else
  wait = window
end
if wait < cool then wait = cool end
if wait < 1000 then wait = 1000 end
return {0, wait, limit, now}
"#,
    )
});

/// KEYS = [cooldown]; ARGV = [ms]. Extends the cool-down to now + ms (never shortens it).
/// Returns the µs it lasts from now.
static COOL_DOWN: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local ms = tonumber(ARGV[1])
local till = now + ms * 1000
local cur = tonumber(redis.call('GET', KEYS[1]) or '0') or 0
if till > cur then
  redis.call('SET', KEYS[1], string.format('%.0f', till), 'PX', math.max(ms, 1))
  return till - now
end
return cur - now
"#,
    )
});

/// KEYS = [plan, waiters, seen]; ARGV = [rpm, set_at, set_by, explicit 0|1]. Writes the plan
/// when explicit or when none is stored. Returns `{rpm in force, written 0|1, previous
/// rpm or '', set_at, set_by}`.
static PLAN: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
local cur = redis.call('HGET', KEYS[1], 'rpm')
if ARGV[4] == '1' or not cur then
  redis.call('HSET', KEYS[1], 'rpm', ARGV[1], 'set_at', ARGV[2], 'set_by', ARGV[3])
  return {ARGV[1], 1, cur or '', ARGV[2], ARGV[3]}
end
return {cur, 0, cur, redis.call('HGET', KEYS[1], 'set_at') or '',
  redis.call('HGET', KEYS[1], 'set_by') or ''}
"#,
    )
});

/// One answer of the budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Grant {
    /// Whether the request may go now (it is counted).
    pub granted: bool,
    /// When not granted: how long until this process's turn may come.
    pub wait: Duration,
    /// The plan's requests per window in force (0 = unlimited).
    pub limit: u32,
    /// Redis's time of the answer (Unix µs): for a grant, the time it is counted at.
    pub at_us: i64,
}

/// What [`SharedBudget::adopt_plan`] found or wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanValue {
    /// The requests per minute in force for every process on the key.
    pub rpm: u32,
    /// Whether this call wrote it.
    pub written: bool,
    /// The value stored before (None: none was).
    pub previous: Option<u32>,
    pub set_at: String,
    pub set_by: String,
}

/// The Redis keys of one API key's budget.
#[derive(Debug, Clone)]
struct BudgetKeys {
    budget: String,
    plan: String,
    waiters: String,
    seen: String,
    cooldown: String,
}

/// A request budget kept in Redis for one API key; one per process (clones of a
/// [`super::PolygonClient`] share it). See the module documentation.
pub struct SharedBudget {
    conn: ConnectionManager,
    keys: BudgetKeys,
    /// This process's place in the queue of waiters (random, per budget).
    ticket: String,
    seq: AtomicU64,
    /// The window counted: the plan's window plus its margin.
    window: Duration,
    plan_window: Duration,
    /// Longest sleep between two looks while waiting.
    poll: Duration,
    ticket_ttl: Duration,
    /// This process's own value, used by the script when none is stored.
    own: AtomicU32,
    /// The plan's value in force, as the last answer said.
    limit: AtomicU32,
    /// When the request now waiting will be let through (as far as known).
    next_at: std::sync::Mutex<Option<Instant>>,
    /// When an unlimited plan was last confirmed by Redis.
    unlimited_seen: std::sync::Mutex<Option<Instant>>,
    /// One request of this process at a time asks Redis: one ticket per process.
    turn: tokio::sync::Mutex<()>,
    /// This process's grants still in the window (member, Redis µs), sent with each look
    /// so a log Redis lost is rebuilt (see [`ACQUIRE`]).
    granted: std::sync::Mutex<std::collections::VecDeque<(String, i64)>>,
}

impl std::fmt::Debug for SharedBudget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedBudget")
            .field("budget", &self.keys.budget)
            .field("limit", &self.limit())
            .field("window", &self.window)
            .finish_non_exhaustive()
    }
}

impl SharedBudget {
    /// The budget of `api_key` under `keys`' namespace, for a plan of `per_window` requests
    /// (this process's own value, until [`SharedBudget::adopt_plan`]) per `plan_window`,
    /// counted over the window plus its margin.
    pub fn new(
        conn: ConnectionManager,
        keys: &Keys,
        api_key: &SecretString,
        per_window: u32,
        plan_window: Duration,
    ) -> SharedBudget {
        let digest = key_digest(api_key);
        SharedBudget {
            conn,
            keys: BudgetKeys {
                budget: keys.polygon_budget(&digest),
                plan: keys.polygon_plan(&digest),
                waiters: keys.polygon_waiters(&digest),
                seen: keys.polygon_waiters_seen(&digest),
                cooldown: keys.polygon_cooldown(&digest),
            },
            ticket: format!("{:016x}", rand::random::<u64>()),
            seq: AtomicU64::new(0),
            window: plan_window + margin_for(plan_window),
            plan_window,
            poll: POLL.min(plan_window.max(Duration::from_millis(200))),
            ticket_ttl: TICKET_TTL,
            own: AtomicU32::new(per_window),
            limit: AtomicU32::new(per_window),
            next_at: std::sync::Mutex::new(None),
            unlimited_seen: std::sync::Mutex::new(None),
            turn: tokio::sync::Mutex::new(()),
            granted: std::sync::Mutex::new(std::collections::VecDeque::new()),
        }
    }

    /// The window counted (the plan's window plus its margin).
    pub fn window(&self) -> Duration {
        self.window
    }

    /// The plan's window as stated (a minute).
    pub fn plan_window(&self) -> Duration {
        self.plan_window
    }

    /// The plan's requests per window in force, as Redis last said (0 = unlimited).
    pub fn limit(&self) -> u32 {
        self.limit.load(Ordering::Relaxed)
    }

    /// `5/min`, or `2 per 3 s`.
    pub fn describe(&self) -> String {
        describe_plan(self.limit(), self.plan_window)
    }

    /// How long the request now waiting for the budget still waits (`None`: none waits).
    pub fn waiting_for(&self) -> Option<Duration> {
        self.next_at
            .lock()
            .expect("next lock")
            .map(|t| t.saturating_duration_since(Instant::now()))
    }

    /// Settles the plan's value at start: with `explicit`, `rpm` is written and wins for
    /// everyone; otherwise the stored value wins and `rpm` is written only when none is
    /// stored. Logs when this process's value and the one in force differ.
    pub async fn adopt_plan(
        &self,
        rpm: u32,
        explicit: bool,
        who: &str,
    ) -> Result<PlanValue, redis::RedisError> {
        let mut c = self.conn.clone();
        let (now, written, previous, set_at, set_by): (String, i64, String, String, String) = PLAN
            .key(&self.keys.plan)
            .arg(rpm)
            .arg(tickstock_protocol::status::iso_now())
            .arg(who)
            .arg(if explicit { "1" } else { "0" })
            .invoke_async(&mut c)
            .await?;
        let v = PlanValue {
            rpm: now.trim().parse().unwrap_or(rpm),
            written: written == 1,
            previous: previous.trim().parse().ok(),
            set_at,
            set_by,
        };
        self.own.store(rpm, Ordering::Relaxed);
        self.limit.store(v.rpm, Ordering::Relaxed);
        let mine = describe_plan(rpm, self.plan_window);
        match (v.written, v.previous) {
            (true, Some(p)) if p != rpm => tracing::warn!(
                "Polygon plan: this process's explicit {mine} replaces the shared {} for \
                 every process on this key (the latest explicit setting wins)",
                describe_plan(p, self.plan_window)
            ),
            (false, _) if v.rpm != rpm => tracing::warn!(
                "Polygon plan: the shared {} (set by {} at {}) wins over this process's {mine}; \
                 set the plan explicitly (Settings, or --requests-per-minute) to change it",
                describe_plan(v.rpm, self.plan_window),
                v.set_by,
                v.set_at
            ),
            _ => tracing::info!(plan = %mine, "Polygon request budget shared through Redis"),
        }
        Ok(v)
    }

    /// Requests granted on this key within the plan's window (the last minute) by every
    /// process that shares the budget, as Redis counts them.
    pub async fn spent_in_plan_window(&self) -> Result<u64, redis::RedisError> {
        let mut c = self.conn.clone();
        SPENT
            .key(&self.keys.budget)
            .arg(self.plan_window.as_micros() as u64)
            .invoke_async(&mut c)
            .await
    }

    /// An explicit change of the plan: written for every process on the key.
    pub async fn set_plan(&self, rpm: u32, who: &str) -> Result<(), redis::RedisError> {
        self.adopt_plan(rpm, true, who).await.map(|_| ())
    }

    /// One look at the budget: counts a request and grants it, or says how long to wait.
    pub async fn try_acquire(&self) -> Result<Grant, redis::RedisError> {
        let mut c = self.conn.clone();
        let member = format!(
            "{}-{}",
            self.ticket,
            self.seq.fetch_add(1, Ordering::Relaxed)
        );
        let own: Vec<(String, i64)> = self
            .granted
            .lock()
            .expect("granted lock")
            .iter()
            .cloned()
            .collect();
        let mut call = ACQUIRE.prepare_invoke();
        call.key(&self.keys.budget)
            .key(&self.keys.plan)
            .key(&self.keys.waiters)
            .key(&self.keys.seen)
            .key(&self.keys.cooldown)
            .arg(self.window.as_micros() as u64)
            .arg(self.own.load(Ordering::Relaxed))
            .arg(&self.ticket)
            .arg(self.ticket_ttl.as_micros() as u64)
            .arg(&member)
            .arg(NUDGE.as_micros() as u64);
        for (m, at) in &own {
            call.arg(m).arg(*at);
        }
        let (granted, wait_us, limit, at_us): (i64, i64, i64, i64) =
            call.invoke_async(&mut c).await?;
        {
            // Keep this process's grants of the last window (by Redis's clock).
            let mut mine = self.granted.lock().expect("granted lock");
            let oldest = at_us - self.window.as_micros() as i64;
            while mine.front().is_some_and(|(_, at)| *at <= oldest) {
                mine.pop_front();
            }
            if granted == 1 && limit > 0 {
                mine.push_back((member, at_us));
            }
        }
        let limit = u32::try_from(limit.max(0)).unwrap_or(u32::MAX);
        self.limit.store(limit, Ordering::Relaxed);
        Ok(Grant {
            granted: granted == 1,
            wait: Duration::from_micros(wait_us.max(0) as u64),
            limit,
            at_us,
        })
    }

    /// Waits until the budget lets one more request through, and counts it. Returns the
    /// grant. An error (Redis unreachable) ends the wait; the caller decides what then.
    pub async fn acquire(self: &Arc<Self>) -> Result<Grant, redis::RedisError> {
        if self.limit() == 0
            && self
                .unlimited_seen
                .lock()
                .expect("unlimited lock")
                .is_some_and(|t| t.elapsed() < UNLIMITED_RECHECK)
        {
            return Ok(Grant {
                granted: true,
                wait: Duration::ZERO,
                limit: 0,
                at_us: 0,
            });
        }
        let _turn = self.turn.lock().await;
        // A wait given up (the job was cancelled) leaves the queue at once.
        let mut guard = TicketGuard {
            budget: self.clone(),
            armed: false,
        };
        loop {
            let g = match self.try_acquire().await {
                Ok(g) => g,
                Err(e) => {
                    *self.next_at.lock().expect("next lock") = None;
                    return Err(e);
                }
            };
            if g.granted {
                guard.armed = false;
                *self.next_at.lock().expect("next lock") = None;
                *self.unlimited_seen.lock().expect("unlimited lock") =
                    (g.limit == 0).then(Instant::now);
                return Ok(g);
            }
            guard.armed = true;
            let now = Instant::now();
            *self.next_at.lock().expect("next lock") = Some(now + g.wait);
            tracing::debug!(
                wait_ms = g.wait.as_millis() as u64,
                limit = g.limit,
                "shared Polygon budget reached; waiting for the window to move"
            );
            tokio::time::sleep(g.wait.min(self.poll)).await;
        }
    }

    /// Records that Polygon answered 429: no process on this key sends a request for
    /// `wait` (a longer cool-down already recorded stays).
    pub async fn cool_down(&self, wait: Duration) -> Result<Duration, redis::RedisError> {
        let mut c = self.conn.clone();
        let us: i64 = COOL_DOWN
            .key(&self.keys.cooldown)
            .arg(wait.as_millis().max(1) as u64)
            .invoke_async(&mut c)
            .await?;
        Ok(Duration::from_micros(us.max(0) as u64))
    }

    /// Leaves the queue of waiters (a wait given up).
    async fn leave(&self) {
        let mut c = self.conn.clone();
        let _: Result<(), _> = redis::pipe()
            .zrem(&self.keys.waiters, &self.ticket)
            .ignore()
            .zrem(&self.keys.seen, &self.ticket)
            .ignore()
            .query_async(&mut c)
            .await;
    }
}

/// Takes the ticket out of the queue when a wait ends without a grant.
struct TicketGuard {
    budget: Arc<SharedBudget>,
    armed: bool,
}

impl Drop for TicketGuard {
    fn drop(&mut self) {
        if self.armed {
            *self.budget.next_at.lock().expect("next lock") = None;
            if let Ok(rt) = tokio::runtime::Handle::try_current() {
                let b = self.budget.clone();
                rt.spawn(async move { b.leave().await });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_digest_names_the_key_without_revealing_it() {
        let d = key_digest(&SecretString::from("sekrit-key"));
        assert_eq!(d.len(), 16);
        assert!(d.chars().all(|c| c.is_ascii_hexdigit()));
        assert!(!d.contains("sekrit"));
        assert_eq!(d, key_digest(&SecretString::from(" sekrit-key ")));
        assert_ne!(d, key_digest(&SecretString::from("other-key")));
    }
}
