// The Coverage view's commands for the in-browser preview (preview-backend.js): a heat map
// and gaps of 258 made-up symbols, paged and filtered as the app's are, fills with their
// estimate, and three schedules.

const NAMED = ["AAPL", "AMZN", "GOOGL", "IBM", "META", "MSFT", "NVDA", "SPY", "TSLA"];
const LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ";

/** Named symbols and made-up three-letter ones, by ticker. */
function coverageSymbols() {
  const out = new Set(NAMED);
  for (let i = 0; out.size < 258; i++) out.add(LETTERS[i % 26] + LETTERS[Math.floor(i / 26) % 26] + LETTERS[(i * 7) % 26]);
  return [...out].sort();
}

/** The page of `list` a filter picks (tickers or prefixes), as the backend pages it. */
function pick(list, page = {}, most) {
  const prefixes = String(page.filter || "").split(/[\s,]+/).filter(Boolean).map((p) => p.toUpperCase());
  const picked = prefixes.length ? list.filter((s) => prefixes.some((p) => s.startsWith(p))) : list;
  const limit = Math.max(1, Math.min(most, Number(page.limit) || most));
  let offset = Math.max(0, Number(page.offset) || 0);
  if (offset >= picked.length) offset = Math.floor(Math.max(0, picked.length - 1) / limit) * limit;
  return { total: picked.length, offset, rows: picked.slice(offset, offset + limit) };
}

/**
 * @param {{newJob: (request: object) => {jobId: string}, uuid: () => string, fail: (kind: string, message: string, field?: string) => never, rate: () => number}} ctx
 */
export function previewCoverageCommands({ newJob, uuid, fail, rate }) {
  const symbols = coverageSymbols();
  const index = (s) => symbols.indexOf(s);
  const schedules = [
    { name: "daily-top-up", spec: "trading-days 16:30", kind: "top_up", enabled: true, lastDue: new Date(Date.now() - 86400000).toISOString(), lastJobId: uuid(), lastStatus: "completed", nextDue: new Date(Date.now() + 3600000).toISOString() },
    { name: "weekly-refresh", spec: "0 18 * * SAT", kind: "multi_timeframe_load", enabled: true, lastDue: new Date(Date.now() - 5 * 86400000).toISOString(), lastJobId: uuid(), lastStatus: "completed_with_errors", nextDue: new Date(Date.now() + 2 * 86400000).toISOString() },
    { name: "monthly-refresh", spec: "0 6 1 * *", kind: "multi_timeframe_load", enabled: false, lastDue: null, lastJobId: null, lastStatus: null, nextDue: null },
  ];
  const findSchedule = (name) => schedules.find((x) => x.name === name) || fail("not_found", `No schedule \`${name}\`.`);
  const groups = (items) => {
    if (!Array.isArray(items) || !items.length) fail("invalid_input", "No gaps to fill.");
    const byTf = new Map();
    for (const it of items) byTf.set(it.timeframe, [...(byTf.get(it.timeframe) || []), it]);
    return [...byTf].map(([tf, list]) => ({ kind: "multi_timeframe_load", symbols: [...new Set(list.map((i) => i.symbol))], timeframes: [tf], fill: true, startDate: list.map((i) => i.from).sort()[0], endDate: list.map((i) => i.to).sort().slice(-1)[0] }));
  };
  return {
    coverage_map({ timeframe, months, page }) {
      const n = Math.max(1, Math.min(120, Number(months) || 12));
      const now = new Date();
      const list = [];
      for (let i = n - 1; i >= 0; i--) {
        const d = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() - i, 1));
        list.push(d.toISOString().slice(0, 7));
      }
      const per = timeframe === "1min" ? 390 : timeframe === "hour" ? 7 : 1;
      const { total, offset, rows: names } = pick(symbols, page, 200);
      const rows = names.map((symbol) => {
        const si = index(symbol);
        return {
          symbol,
          cells: list.map((month, mi) => {
            const expected = 21 * per;
            if (si % 9 === 5 && mi < 3) return { month, bars: 0, expected, completeness: null, rating: null };
            const c = (si + mi) % 11 === 0 ? 0.6 : (si * 3 + mi) % 7 === 0 ? 0.95 : 1;
            return { month, bars: Math.round(expected * c), expected, completeness: c, rating: c >= 0.99 ? "good" : c >= 0.9 ? "partial" : "poor" };
          }),
        };
      });
      return { timeframe, from: `${list[0]}-01`, to: now.toISOString().slice(0, 10), months: list, rows, total, offset, more: total - offset - rows.length };
    },
    coverage_gaps({ timeframe, from, to, page }) {
      if (!from || !to) fail("invalid_input", "Give both dates.", "from");
      const most = timeframe === "1min" ? 20 : timeframe === "hour" ? 50 : 100;
      const { total, offset, rows: names } = pick(symbols, page, most);
      const gaps = names
        .filter((s) => index(s) % 5 === 1)
        .map((symbol, i) => ({ symbol, timeframe, from: "2025-03-12", to: i % 2 ? "2025-03-12" : "2025-03-14", sessions: i % 2 ? 1 : 3 }))
        .filter((g) => g.from >= from && g.to <= to);
      return { from, to, symbolsTotal: total, offset, symbolsChecked: names.length, pageSize: most, gaps };
    },
    fill_gaps({ items }) {
      return { jobIds: groups(items).map((r) => newJob(r).jobId), warning: null };
    },
    estimate_fill({ items }) {
      const jobs = groups(items);
      const requests = jobs.reduce((n, j) => n + j.symbols.length, 0);
      const rpm = rate();
      return { gaps: items.length, symbols: new Set(items.map((i) => i.symbol)).size, jobs: jobs.length, requests, registrationRequestsMax: 0, requestsPerMinute: rpm, seconds: rpm ? (requests / rpm) * 60 : null, summary: "" };
    },
    list_schedules: () => schedules.map((x) => ({ ...x })),
    set_schedule_enabled({ name, enabled }) {
      findSchedule(name).enabled = Boolean(enabled);
      return Boolean(enabled);
    },
    run_schedule({ name }) {
      const sch = findSchedule(name);
      const job = newJob({ kind: "multi_timeframe_load", symbols: ["AAPL", "MSFT"], timeframes: ["day"], years: 1 });
      Object.assign(sch, { lastJobId: job.jobId, lastStatus: "running", lastDue: new Date().toISOString() });
      return job.jobId;
    },
  };
}
