// An in-memory imitation of the desktop app's commands, used only when the page is opened in
// a plain browser (no window.__TAURI__), so that its layout and behaviour can be previewed.
// Nothing here talks to TickStock: jobs are simulated and progress on a timer.
//
// Query options for previewing states: ?firstrun=1 (no API key yet), ?redis=down,
// ?workers=none|stale, ?empty=1 (no jobs), ?embedded=1.
//
// Requests and universes are preview-requests.js, the simulated jobs preview-jobs.js, the
// jobs there at start preview-seed.js; the history's, the settings', the console's and the
// Coverage view's commands have files of their own.
import { UNIVERSES, resolveUniverse, validate } from "./preview-requests.js";
import { uuid, view, previewJobs } from "./preview-jobs.js";
import { seedJobs } from "./preview-seed.js";
import { previewHistoryCommands } from "./preview-history.js";
import { previewSettingsCommands } from "./preview-settings.js";
import { previewConsoleCommands } from "./preview-console.js";
import { previewCoverageCommands } from "./preview-coverage.js";

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const fail = (kind, message, field) => {
  const e = { kind, message };
  if (field) e.field = field;
  throw e;
};

export function createPreviewBackend() {
  const q = new URLSearchParams(location.search);
  const listeners = new Map();
  const jobs = new Map();
  const emit = (name, payload) => (listeners.get(name) || new Set()).forEach((cb) => cb({ event: name, payload }));

  const embedded = q.get("embedded") === "1" || q.get("firstrun") === "1";
  const settings = {
    redisUrl: embedded ? "" : "redis://127.0.0.1:6379/0",
    databaseUrl: embedded ? "" : "postgres://postgres@127.0.0.1:5432/tickstock",
    environment: "DEFAULT",
    polygonBaseUrl: "https://api.polygon.io",
    apiKeySet: q.get("firstrun") !== "1",
    apiKeyHint: q.get("firstrun") === "1" ? null : "••••1a2b",
    apiKeyStorage: q.get("firstrun") === "1" ? null : "keyring",
    requestsPerMinute: 5,
    publishLegacy: true,
    workerEnabled: true,
    workerConcurrency: 2,
  };
  const mode = () => (settings.redisUrl ? "redis" : "embedded");
  const bootedAt = Date.now();
  const stored = { ohlcv_1min: 1843200, ohlcv_hourly: 412880, ohlcv_daily: 1265370, ohlcv_weekly: 262150, ohlcv_monthly: 60480 };

  const { newJob, finish, tick } = previewJobs({ jobs, emit, stored });

  // Commands ---------------------------------------------------------------------------

  const find = (id) => {
    const j = jobs.get(id);
    if (!j) fail("not_found", `No job with id ${id}.`);
    return j;
  };
  const sorted = () => [...jobs.values()].sort((a, b) => Date.parse(b.submittedAt) - Date.parse(a.submittedAt));
  const commands = {
    health() {
      const down = q.get("redis") === "down";
      const age = ((Date.now() - bootedAt) / 1000) % 5;
      const workersMode = q.get("workers");
      let workers = [
        { id: "builtin-1", host: "this computer", startedAt: new Date(bootedAt).toISOString(), lastSeen: new Date().toISOString(), ageSeconds: age, currentJob: null, alive: true, builtin: true },
        { id: "worker-7f3c", host: "loader-01", startedAt: new Date(bootedAt - 86400000).toISOString(), lastSeen: new Date().toISOString(), ageSeconds: age + 1.4, currentJob: null, alive: true, builtin: false },
      ];
      if (workersMode === "none") workers = [];
      if (workersMode === "stale") workers = workers.map((w) => ({ ...w, ageSeconds: 95, alive: false }));
      if (mode() === "embedded") workers = workers.filter((w) => w.builtin);
      const active = [...jobs.values()].filter((j) => j.active);
      const running = active.filter((j) => j.status === "running");
      running.slice(0, workers.length).forEach((j, i) => (workers[i].currentJob = j.jobId));
      return {
        mode: mode(),
        redis: mode() === "embedded"
          ? { configured: false, connected: false, rttMs: null, error: null }
          : down
            ? { configured: true, connected: false, rttMs: null, error: "Connection refused (os error 111) at 127.0.0.1:6379" }
            : { configured: true, connected: true, rttMs: 0.3 + Math.random() * 0.4, error: null },
        workers,
        legacyHeartbeat: { alive: false, ageSeconds: null, key: null },
        queue: mode() === "embedded" || down ? null : { waiting: active.filter((j) => j.status === "queued" || j.status === "submitted").length, inFlight: running.length, dead: 0 },
      };
    },
    validate_job({ request }) {
      const errors = validate(request);
      return { ok: errors.length === 0, errors };
    },
    submit_job({ request }) {
      const errors = validate(request);
      if (errors.length) fail("invalid_input", errors[0].message, errors[0].field);
      return { jobId: newJob(request).jobId };
    },
    active_jobs: () => sorted().filter((j) => j.active).map(view),
    estimate_job({ request }) {
      const n = String(request.symbols || "").split(/[\s,]+/).filter(Boolean).length || 1;
      return { symbols: n, requests: n, requestsPerMinute: settings.requestsPerMinute, seconds: settings.requestsPerMinute ? (n / settings.requestsPerMinute) * 60 : null, groupedDaily: false };
    },
    job_detail: ({ jobId }) => view(find(jobId)),
    cancel_job({ jobId }) {
      const j = find(jobId);
      if (!j.active) fail("invalid_input", `Job ${jobId.slice(0, 8)} has already finished (${j.status}).`);
      j.status = "cancelling";
      j.message = "Cancelling…";
      if (j._sim.stale) finish(j, "cancelled");
      return { status: j.status };
    },
    cancel_all() {
      let n = 0;
      for (const j of jobs.values()) {
        if (j.active && j.status !== "cancelling") {
          j.status = "cancelling";
          if (j._sim.stale) finish(j, "cancelled");
          n++;
        }
      }
      return { cancelled: n };
    },
    retry_job({ jobId }) {
      const j = find(jobId);
      const p = j.params;
      const job = newJob({
        kind: j.jobType, symbols: p.symbols || [], years: p.years ?? null, startDate: p.start_date || null, endDate: p.end_date || null,
        timespan: p.timespan || null, timeframes: p.timeframes || [], universeType: p.universe_type || null, universeKey: p.universe_key || (p.universe_type || "").toLowerCase() || null, refresh: Boolean(p.refresh),
      });
      job.params.retry_of = jobId;
      return { jobId: job.jobId };
    },
    cleanup_stale() {
      let n = 0;
      for (const j of jobs.values()) {
        if (j.active && j._sim.stale) {
          finish(j, "failed", "The worker stopped reporting progress; marked failed by cleanup.");
          n++;
        }
      }
      return { marked: n };
    },
    clear_jobs({ prefix }) {
      const p = String(prefix || "").trim().toLowerCase();
      if (p.length < 4) fail("invalid_input", "A prefix needs at least 4 characters.", "prefix");
      let n = 0;
      for (const [id, j] of jobs) if (id.startsWith(p) && !j.active) { jobs.delete(id); n++; }
      return { cleared: n };
    },
    list_universes: () => UNIVERSES.map(({ key, name, kind, members, asOf }) => ({ key, name, kind, members, asOf })),
    universe_preview({ key }) {
      const u = resolveUniverse(key);
      return { count: u.count, sample: u.members.slice(0, 8), unknown: u.unknown };
    },
    data_summary: () => [
      ["ohlcv_1min", "1min", 48, "2025-05-01"],
      ["ohlcv_hourly", "hour", 120, "2024-06-03"],
      ["ohlcv_daily", "day", 545, "2020-01-02"],
      ["ohlcv_weekly", "week", 545, "2020-01-06"],
      ["ohlcv_monthly", "month", 545, "2020-01-01"],
    ].map(([table, timeframe, symbols, earliest]) => ({ table, timeframe, rows: stored[table], symbols, earliest, latest: new Date().toISOString().slice(0, 10) })),
    open_log_dir() {
      console.info("[preview] open_log_dir");
      return null;
    },
    notify({ title, body }) {
      console.info("[preview] notify:", title, body);
      return null;
    },
    about() {
      return {
        name: "TickStock Admin",
        version: "0.1.0 (preview)",
        identifier: "io.tickstock.admin",
        tauriVersion: "2",
        dataDir: "~/.local/share/io.tickstock.admin",
        configDir: "~/.config/io.tickstock.admin",
        logDir: "~/.local/share/io.tickstock.admin/logs",
      };
    },
  };

  Object.assign(commands, previewHistoryCommands({ jobs, sorted, view }));
  Object.assign(commands, previewSettingsCommands({ settings, mode, jobs, q, fail }));
  Object.assign(commands, previewCoverageCommands({ newJob, uuid, fail, rate: () => settings.requestsPerMinute }));
  Object.assign(commands, previewConsoleCommands({ sorted, mode, fail }));

  if (q.get("empty") !== "1") seedJobs(newJob);
  const ticker = setInterval(tick, 600);
  if (ticker && typeof ticker.unref === "function") ticker.unref(); // lets unit tests under Node exit

  return {
    async invoke(cmd, args = {}) {
      await sleep(15 + Math.random() * 40);
      const fn = commands[cmd];
      if (!fn) fail("internal", `Unknown command ${cmd}.`);
      return fn(args);
    },
    async listen(name, cb) {
      if (!listeners.has(name)) listeners.set(name, new Set());
      listeners.get(name).add(cb);
      return () => listeners.get(name).delete(cb);
    },
  };
}
