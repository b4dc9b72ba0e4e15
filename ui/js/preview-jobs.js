// The preview's simulated jobs: made from a request, moved on by a timer's tick, finished with an event.
import { splitSymbols, resolveUniverse } from "./preview-requests.js";

export function uuid() {
  if (globalThis.crypto && typeof crypto.randomUUID === "function") return crypto.randomUUID();
  const h = () => Math.floor(Math.random() * 16).toString(16);
  return "xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx".replace(/[xy]/g, (c) => (c === "x" ? h() : ((Math.random() * 4) | 8).toString(16)));
}

/** A job as the app shows it, without the simulation's own state. */
export function view(j) {
  const { _sim, ...v } = j;
  return JSON.parse(JSON.stringify(v));
}

/**
 * @param {{jobs: Map<string, object>, emit: (name: string, payload: object) => void, stored: Record<string, number>}} ctx
 */
export function previewJobs({ jobs, emit, stored }) {
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

  return { newJob, finish, tick };
}
