// The preview's seed: 27 finished jobs of every kind and state, and four active ones (one stuck).
/** Makes the jobs with the preview backend's `newJob`, each dated before now. */
export function seedJobs(newJob) {
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
