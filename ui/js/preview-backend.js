// An in-memory imitation of the desktop app's commands, used only when the page is opened in
// a plain browser (no window.__TAURI__), so that its layout and behaviour can be previewed.
// Nothing here talks to TickStock: jobs are simulated and progress on a timer.
//
// Query options for previewing states: ?firstrun=1 (no API key yet), ?redis=down,
// ?workers=none|stale, ?empty=1 (no jobs), ?embedded=1.
import { previewConsoleCommands } from "./preview-console.js";
import { previewCoverageCommands } from "./preview-coverage.js";

const UNIVERSES = [
  { key: "sp500", name: "S&P 500", kind: "UNIVERSE", members: 503, asOf: "2025-06-30",
    sample: ["AAPL", "MSFT", "NVDA", "AMZN", "GOOGL", "META", "BRK.B", "AVGO", "TSLA", "JPM", "LLY", "V"] },
  { key: "nasdaq100", name: "NASDAQ 100", kind: "UNIVERSE", members: 101, asOf: "2025-06-30",
    sample: ["AAPL", "MSFT", "NVDA", "AMZN", "META", "AVGO", "GOOGL", "TSLA", "COST", "NFLX", "AMD", "PEP"] },
  { key: "dow30", name: "Dow Jones 30", kind: "UNIVERSE", members: 30, asOf: "2025-06-30",
    sample: ["AAPL", "AMGN", "AXP", "BA", "CAT", "CRM", "CSCO", "CVX", "DIS", "GS", "HD", "HON"] },
  { key: "etf", name: "Core ETFs", kind: "ETF", members: 42, asOf: "2025-06-30",
    sample: ["SPY", "QQQ", "IWM", "DIA", "VTI", "VOO", "EFA", "EEM", "TLT", "GLD", "XLF", "XLK"] },
];
const ALIASES = { spy: "sp500", snp500: "sp500", qqq: "nasdaq100", ndx: "nasdaq100", dia: "dow30", dji: "dow30", etfs: "etf", etfcore: "etf" };
const KINDS = ["historical_load", "multi_timeframe_load", "universe_seed", "csv_universe_load"];
const TIMESPANS = ["minute", "hour", "day", "week", "month"];
const TIMEFRAMES = ["1min", "minute", "hour", "day", "week", "month"];
const TERMINAL = new Set(["completed", "completed_with_errors", "failed", "error", "cancelled"]);
const TICKER = /^[A-Z][A-Z0-9.-]{0,9}$/;

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const fail = (kind, message, field) => {
  const e = { kind, message };
  if (field) e.field = field;
  throw e;
};
const canonical = (k) => {
  const c = String(k).trim().toLowerCase().replace(/[_\- ]/g, "");
  return ALIASES[c] || c;
};

function uuid() {
  if (globalThis.crypto && typeof crypto.randomUUID === "function") return crypto.randomUUID();
  const h = () => Math.floor(Math.random() * 16).toString(16);
  return "xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx".replace(/[xy]/g, (c) => (c === "x" ? h() : ((Math.random() * 4) | 8).toString(16)));
}

function splitSymbols(raw) {
  const list = Array.isArray(raw) ? raw : String(raw || "").split(/[\s,;]+/);
  return list.map((s) => String(s).trim().toUpperCase()).filter(Boolean);
}

function resolveUniverse(key) {
  const parts = String(key || "").split(":").map((s) => s.trim()).filter(Boolean);
  const members = [];
  const unknown = [];
  let count = 0;
  for (const part of parts) {
    const u = UNIVERSES.find((x) => x.key === canonical(part));
    if (!u) unknown.push(part);
    else {
      count += u.members;
      for (const s of u.sample) if (!members.includes(s)) members.push(s);
    }
  }
  // Overlaps between index lists shrink the union a little.
  if (parts.length > 1 && count) count = Math.round(count * 0.93);
  return { count, members, unknown, parts };
}

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

  // Jobs -------------------------------------------------------------------------------

  function view(j) {
    const { _sim, ...v } = j;
    return JSON.parse(JSON.stringify(v));
  }

  function newJob(request, at = new Date()) {
    const kind = request.kind;
    let symbols = [];
    let total = 0;
    const params = { requested_by: "admin_ui", years: request.years };
    if (kind === "historical_load" || kind === "multi_timeframe_load") {
      symbols = splitSymbols(request.symbols);
      total = symbols.length;
      params.symbols = symbols;
      if (kind === "historical_load") params.timespan = request.timespan || "day";
      else params.timeframes = request.timeframes;
    } else {
      const u = resolveUniverse(request.universeKey || request.universeType);
      symbols = u.members;
      total = u.count || symbols.length;
      if (kind === "universe_seed") {
        params.universe_type = request.universeType || String(request.universeKey || "").toUpperCase();
        params.refresh = Boolean(request.refresh);
      } else {
        params.universe_key = request.universeKey;
        params.timeframes = request.timeframes;
        params.include_ohlcv = true;
        params.source = "admin_ui";
      }
    }
    if (request.startDate) {
      params.start_date = request.startDate;
      params.end_date = request.endDate;
      delete params.years;
    }
    const job = {
      jobId: uuid(),
      jobType: kind,
      status: "submitted",
      progress: 0,
      message: "Waiting for a worker",
      currentSymbol: null,
      processedSymbols: 0,
      totalSymbols: total,
      successfulSymbols: [],
      failedSymbols: [],
      ohlcvRecordsLoaded: 0,
      barsPerSecond: null,
      etaSeconds: null,
      submittedAt: at.toISOString(),
      startedAt: null,
      completedAt: null,
      durationSeconds: null,
      errorMessage: null,
      params,
      active: true,
      _sim: { symbols, ticks: 0, barsPerSymbol: Math.max(1, Math.round(252 * (request.years || 0.08))), stale: false },
    };
    jobs.set(job.jobId, job);
    return job;
  }

  function finish(job, status, error) {
    job.status = status;
    job.active = false;
    job.progress = status === "completed" || status === "completed_with_errors" ? 100 : job.progress;
    job.completedAt = new Date().toISOString();
    job.durationSeconds = job.startedAt ? (Date.parse(job.completedAt) - Date.parse(job.startedAt)) / 1000 : 0;
    job.currentSymbol = null;
    job.barsPerSecond = null;
    job.etaSeconds = null;
    job.errorMessage = error || null;
    job.message =
      status === "cancelled" ? "Cancelled by the operator"
        : status === "failed" ? "Load failed"
          : `Loaded ${job.ohlcvRecordsLoaded.toLocaleString()} bars for ${job.successfulSymbols.length} symbols`;
    emit("job-events", [{ job: view(job), finished: true }]);
  }

  function tick() {
    for (const job of jobs.values()) {
      if (!job.active || job._sim.stale) continue;
      const sim = job._sim;
      sim.ticks++;
      if (job.status === "cancelling") {
        finish(job, "cancelled");
        continue;
      }
      if (job.status === "submitted" && sim.ticks > 1) {
        job.status = "queued";
        job.message = "Queued";
      } else if (job.status === "queued" && sim.ticks > 4) {
        job.status = "running";
        job.startedAt = new Date().toISOString();
      } else if (job.status === "running") {
        const total = job.totalSymbols || 1;
        const step = Math.max(1, Math.round(total / 40));
        for (let i = 0; i < step && job.processedSymbols < total; i++) {
          const sym = sim.symbols.length ? sim.symbols[job.processedSymbols % sim.symbols.length] : `SYM${job.processedSymbols}`;
          const name = job.processedSymbols < sim.symbols.length ? sym : `${sym}${Math.floor(job.processedSymbols / sim.symbols.length)}`;
          job.currentSymbol = name;
          job.processedSymbols++;
          if (/^X|FAIL/.test(name)) {
            job.failedSymbols.push({ symbol: name, reason: "Polygon returned no results for this ticker (404 NOT_FOUND)" });
          } else {
            job.successfulSymbols.push(name);
            job.ohlcvRecordsLoaded += sim.barsPerSymbol;
            stored.ohlcv_daily += sim.barsPerSymbol;
          }
        }
        const elapsed = Math.max(0.5, (Date.now() - Date.parse(job.startedAt)) / 1000);
        job.progress = Math.min(100, Math.floor((job.processedSymbols / total) * 100));
        job.barsPerSecond = job.ohlcvRecordsLoaded / elapsed;
        job.etaSeconds = job.processedSymbols ? ((total - job.processedSymbols) * elapsed) / job.processedSymbols : null;
        job.message = `${job.currentSymbol} day ${job.processedSymbols}/${total}`;
        if (job.processedSymbols >= total) {
          if (job.successfulSymbols.length === 0) finish(job, "failed", "Every symbol failed; see the reasons per symbol.");
          else finish(job, job.failedSymbols.length ? "completed_with_errors" : "completed",
            job.failedSymbols.length ? `${job.failedSymbols.length} of ${total} symbols failed` : null);
        }
      }
    }
  }

  function seed() {
    if (q.get("empty") === "1") return;
    const now = Date.now();
    const past = [
      ["historical_load", "completed", { symbols: "AAPL MSFT NVDA", years: 1, timespan: "day" }],
      ["universe_seed", "completed", { universeKey: "etf", universeType: "ETF", years: 1, refresh: true }],
      ["multi_timeframe_load", "completed_with_errors", { symbols: "TSLA XYZQ AMD", years: 2, timeframes: ["day", "week"] }],
      ["historical_load", "failed", { symbols: "SPY", years: 5, timespan: "minute" }],
      ["csv_universe_load", "completed", { universeKey: "SPY:nasdaq100", years: 1, timeframes: ["day"] }],
      ["historical_load", "cancelled", { symbols: "GOOGL META AMZN NFLX", years: 0.25, timespan: "hour" }],
    ];
    for (let i = 0; i < 27; i++) {
      const [kind, status, req] = past[i % past.length];
      const at = new Date(now - (i + 1) * 3.7 * 3600 * 1000);
      const job = newJob({ kind, timeframes: [], ...req }, at);
      const total = job.totalSymbols;
      job.startedAt = new Date(at.getTime() + 4000).toISOString();
      job.active = false;
      job.status = status;
      const done = status === "cancelled" ? Math.floor(total / 2) : status === "failed" ? 0 : total;
      job.processedSymbols = status === "failed" ? total : done;
      job.successfulSymbols = job._sim.symbols.slice(0, done).filter((s) => !/^X/.test(s));
      job.failedSymbols = job._sim.symbols.filter((s) => /^X/.test(s)).map((s) => ({ symbol: s, reason: "Polygon returned no results for this ticker (404 NOT_FOUND)" }));
      job.ohlcvRecordsLoaded = Math.round(done * job._sim.barsPerSymbol * (status === "failed" ? 0 : 1));
      job.progress = status === "completed" || status === "completed_with_errors" ? 100 : Math.round((done / Math.max(1, total)) * 100);
      job.durationSeconds = 20 + ((i * 137) % 900);
      job.completedAt = new Date(at.getTime() + 4000 + job.durationSeconds * 1000).toISOString();
      job.message = status === "cancelled" ? "Cancelled by the operator" : status === "failed" ? "Load failed" : `Loaded ${job.ohlcvRecordsLoaded.toLocaleString()} bars`;
      if (status === "failed") {
        job.failedSymbols = [{ symbol: "SPY", reason: "HTTP 403 from Polygon: <b>NOT_AUTHORIZED</b> — your plan does not include minute bars" }];
        job.errorMessage = "Polygon refused the request: <b>NOT_AUTHORIZED</b> (minute bars need a paid plan)";
      }
      if (status === "completed_with_errors") job.errorMessage = `${job.failedSymbols.length} of ${total} symbols failed`;
    }
    const running = newJob({ kind: "universe_seed", universeKey: "sp500", universeType: "SP500", years: 2, refresh: false }, new Date(now - 95000));
    running.status = "running";
    running.startedAt = new Date(now - 90000).toISOString();
    running.processedSymbols = 212;
    running.successfulSymbols = running._sim.symbols.slice();
    running.ohlcvRecordsLoaded = 212 * running._sim.barsPerSymbol;
    running.progress = 42;
    running.currentSymbol = "HD";
    running.message = "HD day 212/503";
    const single = newJob({ kind: "historical_load", symbols: "AAPL MSFT NVDA AMZN XLNX GOOGL META TSLA AVGO JPM", years: 1, timespan: "day" }, new Date(now - 8000));
    single.status = "running";
    single.startedAt = new Date(now - 6000).toISOString();
    newJob({ kind: "multi_timeframe_load", symbols: "SPY QQQ IWM", years: 0.5, timeframes: ["hour", "day", "week"] }, new Date(now - 2000));
    const stuck = newJob({ kind: "historical_load", symbols: "DIS KO PEP", years: 1, timespan: "day" }, new Date(now - 3 * 3600 * 1000));
    stuck.status = "running";
    stuck.startedAt = new Date(now - 3 * 3600 * 1000 + 5000).toISOString();
    stuck.processedSymbols = 1;
    stuck.progress = 33;
    stuck.currentSymbol = "KO";
    stuck.message = "KO day 2/3 — <b>worker silent</b>";
    stuck._sim.stale = true;
  }

  // Validation -------------------------------------------------------------------------

  function validate(r) {
    const errors = [];
    const add = (field, message) => errors.push({ field, message });
    if (!r || !KINDS.includes(r.kind)) {
      add("kind", "Choose a load type.");
      return errors;
    }
    if (r.kind === "historical_load" || r.kind === "multi_timeframe_load") {
      const symbols = splitSymbols(r.symbols);
      const bad = symbols.filter((s) => !TICKER.test(s));
      if (!symbols.length) add("symbols", "Enter at least one symbol.");
      else if (bad.length) add("symbols", `Not a ticker: ${bad.slice(0, 3).map((b) => `"${b}"`).join(", ")}${bad.length > 3 ? ` and ${bad.length - 3} more` : ""}.`);
      else if (symbols.length > 500) add("symbols", `At most 500 symbols per job (${symbols.length} given).`);
    }
    if (r.startDate || r.endDate || r.years === null) {
      if (!r.startDate || !r.endDate) add("dates", "Enter both a start and an end date.");
      else if (r.startDate > r.endDate) add("dates", "The start date is after the end date.");
      else if (r.endDate > new Date().toISOString().slice(0, 10)) add("dates", "The end date is in the future.");
    } else if (!(Number(r.years) > 0) || Number(r.years) > 30) {
      add("years", "Choose how much history to load (1 day to 30 years).");
    }
    if (r.kind === "historical_load" && !TIMESPANS.includes(r.timespan)) add("timespan", "Choose a timespan.");
    if (r.kind === "multi_timeframe_load" || r.kind === "csv_universe_load") {
      const tfs = Array.isArray(r.timeframes) ? r.timeframes : [];
      if (!tfs.length) add("timeframes", "Choose at least one timeframe.");
      else if (tfs.some((t) => !TIMEFRAMES.includes(t))) add("timeframes", "Unknown timeframe.");
    }
    if (r.kind === "universe_seed" || r.kind === "csv_universe_load") {
      const key = r.universeKey || r.universeType;
      if (!key) add(r.kind === "csv_universe_load" ? "csvFile" : "universe", "Choose a universe or type a universe key.");
      else {
        const u = resolveUniverse(key);
        if (u.unknown.length) add("universe", `Unknown universe key${u.unknown.length > 1 ? "s" : ""}: ${u.unknown.join(", ")}.`);
        else if (r.kind === "universe_seed" && u.parts.length > 1) add("universe", "A universe seed takes one universe; use “CSV or joined universes” for a union.");
      }
    }
    return errors;
  }

  // Commands ---------------------------------------------------------------------------

  const find = (id) => {
    const j = jobs.get(id);
    if (!j) fail("not_found", `No job with id ${id}.`);
    return j;
  };
  const sorted = () => [...jobs.values()].sort((a, b) => Date.parse(b.submittedAt) - Date.parse(a.submittedAt));
  /** The history table's rows for a query (every page), and the counts per status. */
  function historyRows(q0 = {}) {
    const base = matching({ query: q0.search, kind: q0.kind });
    const counts = {};
    for (const j of base) counts[j.status] = (counts[j.status] || 0) + 1;
    let all = q0.status ? base.filter((j) => j.status === q0.status) : base;
    if (q0.requestedBy) all = all.filter((j) => String(j.params.requested_by || "").toLowerCase() === q0.requestedBy.toLowerCase());
    return { all, counts };
  }

  function matching(filter = {}) {
    const qy = String(filter.query || "").trim();
    return sorted().filter((j) => {
      if (filter.kind && j.jobType !== filter.kind) return false;
      if (filter.status === "active" && !j.active) return false;
      if (filter.status && filter.status !== "active" && j.status !== filter.status) return false;
      if (qy) {
        const low = qy.toLowerCase();
        const up = qy.toUpperCase();
        const syms = Array.isArray(j.params.symbols) ? j.params.symbols : [];
        const uk = String(j.params.universe_key || j.params.universe_type || "").toLowerCase();
        if (!j.jobId.startsWith(low) && !syms.includes(up) && !uk.includes(low)) return false;
      }
      return true;
    });
  }
  const csvCell = (v) => {
    const s = v === null || v === undefined ? "" : String(v);
    return /[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
  };

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
    list_jobs({ filter }) {
      const all = matching(filter);
      const size = Math.max(1, Number(filter.pageSize) || 20);
      const page = Math.max(1, Number(filter.page) || 1);
      return { items: all.slice((page - 1) * size, page * size).map(view), total: all.length, page, pageSize: size, database: "SQLite at ~/.local/share/io.tickstock.admin/tickstock.sqlite (preview)" };
    },
    history_page({ query }) {
      const q0 = query || {};
      const { all, counts } = historyRows(q0);
      const size = Math.max(1, Number(q0.pageSize) || 25);
      const pages = Math.max(1, Math.ceil(all.length / size));
      const at = String(q0.at || "first");
      let page = 1;
      let askedPage = null;
      if (at.startsWith("page:")) {
        const asked = Math.max(1, Number(at.slice(5)) || 1);
        page = Math.min(pages, asked);
        if (asked > pages) askedPage = asked;
      }
      else if (at.startsWith("after:")) page = Math.min(pages, Number(at.slice(6)) + 1);
      else if (at.startsWith("before:")) page = Math.max(1, Number(at.slice(7)) - 1);
      const items = all.slice((page - 1) * size, page * size).map((j) => ({ ...view(j), requestedBy: j.params.requested_by || "preview", worker: j.startedAt ? "built-in" : null }));
      return {
        items, total: all.length, counts, page, pages, pageSize: size, askedPage,
        next: page < pages ? String(page) : null, prev: page > 1 ? String(page) : null,
        database: "SQLite at ~/.local/share/io.tickstock.admin/tickstock.sqlite (preview)",
      };
    },
    bulk_jobs({ action, jobIds }) {
      let done = 0;
      const failed = [];
      for (const id of jobIds) {
        const j = jobs.get(id);
        if (!j) failed.push({ jobId: id, message: "No such job" });
        else if (action === "delete" && j.active) failed.push({ jobId: id, message: "Active jobs are not deleted" });
        else {
          if (action === "delete") jobs.delete(id);
          if (action === "cancel" && j.active) j.status = "cancelling";
          done++;
        }
      }
      return { done, failed, jobIds: [] };
    },
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
    export_jobs_csv({ query }) {
      const cols = ["job_id", "kind", "symbols", "range", "requested_by", "worker", "status", "bars_loaded", "submitted_at", "duration_seconds"];
      const lines = [cols.join(",")];
      for (const j of historyRows(query || {}).all) {
        const syms = Array.isArray(j.params.symbols) ? j.params.symbols.join(" ") : j.params.universe_key || j.params.universe_type || "";
        lines.push([j.jobId, j.jobType, syms, "", j.params.requested_by || "preview", j.startedAt ? "built-in" : "", j.status, j.ohlcvRecordsLoaded, j.submittedAt, j.durationSeconds].map(csvCell).join(","));
      }
      // The app writes through a Save dialog; the preview only says where it would go.
      return { path: `~/tickstock-jobs.csv (preview: ${lines.length - 1} jobs, not written)` };
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
    get_settings: () => ({ ...settings, mode: mode() }),
    settings_impact({ settings: s }) {
      const restart = ["redisUrl", "databaseUrl", "environment", "polygonBaseUrl", "workerEnabled", "workerConcurrency"]
        .filter((k) => s[k] !== undefined && s[k] !== settings[k]);
      if (s.apiKey || s.removeApiKey) restart.push("apiKey");
      return { restart, activeJobs: [...jobs.values()].filter((j) => j.active).length };
    },
    save_settings({ settings: s }) {
      if (s.requestsPerMinute < 0) fail("invalid_input", "Requests per minute cannot be negative.", "requestsPerMinute");
      if (s.polygonBaseUrl && !/^https?:\/\//.test(s.polygonBaseUrl)) fail("invalid_input", "The Polygon base URL must start with https://.", "polygonBaseUrl");
      if (s.apiKey && s.apiKey.toLowerCase() === "invalid") fail("invalid_input", "Polygon rejected this API key (401 Unauthorized).", "apiKey");
      Object.assign(settings, {
        redisUrl: s.redisUrl, databaseUrl: s.databaseUrl, environment: s.environment, polygonBaseUrl: s.polygonBaseUrl,
        requestsPerMinute: s.requestsPerMinute, publishLegacy: s.publishLegacy, workerEnabled: s.workerEnabled, workerConcurrency: s.workerConcurrency,
      });
      if (s.removeApiKey) Object.assign(settings, { apiKeySet: false, apiKeyHint: null, apiKeyStorage: null });
      else if (s.apiKey) Object.assign(settings, { apiKeySet: true, apiKeyHint: `••••${s.apiKey.slice(-4)}`, apiKeyStorage: "keyring" });
      return { ...settings, mode: mode() };
    },
    test_redis({ url }) {
      if (!url) return { ok: true, message: "No Redis URL: the app runs in embedded mode.", latencyMs: null };
      if (!/^rediss?:\/\//.test(url)) return { ok: false, message: "Not a Redis URL (expected redis://host:port).", latencyMs: null };
      if (q.get("redis") === "down") return { ok: false, message: "Connection refused (os error 111).", latencyMs: null };
      return { ok: true, message: "Connected to Redis 7.0.15.", latencyMs: 0.6 };
    },
    test_database({ url }) {
      if (!url) return { ok: true, message: "Embedded SQLite file is ready.", latencyMs: 0.2 };
      if (!/^(postgres(ql)?:\/\/|sqlite:)/.test(url)) return { ok: false, message: "Not a database URL (expected postgres://… or sqlite:…).", latencyMs: null };
      return { ok: true, message: "Connected to PostgreSQL 15.8; schema is up to date.", latencyMs: 2.1 };
    },
    test_polygon({ baseUrl, apiKey }) {
      if (!apiKey && !settings.apiKeySet) return { ok: false, message: "No API key: enter one first.", latencyMs: null };
      if (apiKey && apiKey.toLowerCase() === "invalid") return { ok: false, message: "Polygon answered 401 Unauthorized: the key is not valid.", latencyMs: 140 };
      return { ok: true, message: `Key accepted by ${baseUrl || "Polygon"}.`, latencyMs: 118 };
    },
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

  Object.assign(commands, previewCoverageCommands({ newJob, uuid, fail, rate: () => settings.requestsPerMinute }));
  Object.assign(commands, previewConsoleCommands({ sorted, mode, fail }));

  seed();
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
