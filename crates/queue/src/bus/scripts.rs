//! The Lua scripts of the bus: status reads and compare-and-set writes that check a key's
//! `TYPE` first (never `WRONGTYPE`), and the once-only ingest of a legacy job.

use std::sync::LazyLock;

use redis::Script;

/// Lua shared by the status scripts: a key's status word (lower case, `nil` when the key
/// is missing, holds no readable status or is of another type) and its compare-and-set
/// token (`''` = missing, the JSON text of a string, `__hash:` + the `status` field of a
/// hash, `__` + the type of anything else). Both check `TYPE` first: never `WRONGTYPE`.
const LUA_STATUS_PRELUDE: &str = r#"
local FINAL = {completed = true, completed_with_errors = true, failed = true, error = true,
  cancelled = true, canceled = true, complete = true, success = true}
local function word(k)
  local t = redis.call('TYPE', k)['ok']
  local w = nil
  if t == 'string' then
    local ok, v = pcall(cjson.decode, redis.call('GET', k))
    if ok and type(v) == 'table' and type(v['status']) == 'string' then w = v['status'] end
  elseif t == 'hash' then
    local s = redis.call('HGET', k, 'status')
    if s then w = s end
  end
  if w then w = string.lower(string.match(w, '^%s*(.-)%s*$')) end
  return w
end
local function token(k)
  local t = redis.call('TYPE', k)['ok']
  if t == 'none' then return '' end
  if t == 'string' then return redis.call('GET', k) end
  if t == 'hash' then
    local s = redis.call('HGET', k, 'status')
    if not s then s = '' end
    return '__hash:' .. s
  end
  return '__' .. t
end
"#;

fn status_script(body: &str) -> Script {
    Script::new(&format!("{LUA_STATUS_PRELUDE}\n{body}"))
}

/// Reads each job's two status keys, checking `TYPE` first.
/// KEYS = [status_1, alt_1, status_2, alt_2, ...]; returns per key `{}` (missing),
/// `{'s', text}`, `{'h', field, value, ...}` or `{'o', type}` (neither string nor hash).
pub(super) static READ_STATUSES: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
local out = {}
for i = 1, #KEYS do
  local k = KEYS[i]
  local t = redis.call('TYPE', k)['ok']
  if t == 'string' then
    out[i] = {'s', redis.call('GET', k)}
  elseif t == 'hash' then
    local h = redis.call('HGETALL', k)
    table.insert(h, 1, 'h')
    out[i] = h
  elseif t == 'none' then
    out[i] = {}
  else
    out[i] = {'o', t}
  end
end
return out
"#,
    )
});

/// Compare-and-set of both status keys of a job, optionally acknowledging its stream entry
/// in the same step. KEYS = [status, status_alt] or [status, status_alt, stream];
/// ARGV = [expected token, expected alt token, new JSON, ttl, alt ttl] and, with the stream,
/// [group, entry id]. Tokens as the prelude's `token`. `SET` replaces a key of any type,
/// so a hash TickStockAppV2 wrote becomes our JSON string. Returns 1 when written.
pub(super) static CAS_STATUS: LazyLock<Script> = LazyLock::new(|| {
    status_script(
        r#"
if token(KEYS[1]) ~= ARGV[1] or token(KEYS[2]) ~= ARGV[2] then return 0 end
redis.call('SET', KEYS[1], ARGV[3], 'EX', ARGV[4])
redis.call('SET', KEYS[2], ARGV[3], 'EX', ARGV[5])
if #KEYS == 3 then
  redis.call('XACK', KEYS[3], ARGV[6], ARGV[7])
  redis.call('XDEL', KEYS[3], ARGV[7])
end
return 1
"#,
    )
});

/// A worker's progress write, to both status keys. If either key already holds a final
/// state (someone else cancelled or failed the job: TickStock's page or its stale-job
/// cleanup, or our cancel of a job whose worker looked gone), nothing is written and the
/// state is returned, so the worker stops and a finished job never goes back to running.
/// If the cancel flag is set (or either key says `cancelling`), the `cancelling` variant
/// is written instead, so a cancel shown to the user is never flipped back.
/// The job is put back in the index of jobs when it is missing there (Redis restarted
/// empty). KEYS = [status, status_alt, cancel flag, index]; ARGV = [json, json if cancel
/// requested, ttl, alt ttl, submit ms, job id]. Returns `{0, ''}` written, `{1, ''}`
/// cancel requested, `{2, word}` final.
pub(super) static WORKER_STATUS: LazyLock<Script> = LazyLock::new(|| {
    status_script(
        r#"
local a, b = word(KEYS[1]), word(KEYS[2])
if b and FINAL[b] then return {2, b} end
if a and FINAL[a] then return {2, a} end
local body, r = ARGV[1], 0
if redis.call('EXISTS', KEYS[3]) == 1 or a == 'cancelling' or b == 'cancelling' then
  body, r = ARGV[2], 1
end
redis.call('SET', KEYS[1], body, 'EX', ARGV[3])
redis.call('SET', KEYS[2], body, 'EX', ARGV[4])
redis.call('ZADD', KEYS[4], 'NX', ARGV[5], ARGV[6])
return {r, ''}
"#,
    )
});

/// Why a running job must stop, checked between progress writes: `cancel` when the cancel
/// flag is set, else the status word of a key holding a final state or `cancelling`, else
/// `''`. KEYS = [status, status_alt, cancel flag].
pub(super) static STOP_CHECK: LazyLock<Script> = LazyLock::new(|| {
    status_script(
        r#"
if redis.call('EXISTS', KEYS[3]) == 1 then return 'cancel' end
local a, b = word(KEYS[1]), word(KEYS[2])
if b and (FINAL[b] or b == 'cancelling') then return b end
if a and (FINAL[a] or a == 'cancelling') then return a end
return ''
"#,
    )
});

/// Adds a job seen on the legacy channel to the stream once, whichever worker sees it
/// first. KEYS = [index, stream]; ARGV = [score ms, job id, json, maxlen]. Returns 1 if added.
pub(super) static INGEST: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
if redis.call('ZADD', KEYS[1], 'NX', ARGV[1], ARGV[2]) == 1 then
  redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[4], '*', 'job', ARGV[3], 'job_id', ARGV[2])
  return 1
end
return 0
"#,
    )
});
