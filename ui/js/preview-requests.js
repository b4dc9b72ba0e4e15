// The preview's universes and job requests: keys and aliases resolved, requests checked as the app does.
export const UNIVERSES = [
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
const TICKER = /^[A-Z][A-Z0-9.-]{0,9}$/;

const canonical = (k) => {
  const c = String(k).trim().toLowerCase().replace(/[_\- ]/g, "");
  return ALIASES[c] || c;
};

export function splitSymbols(raw) {
  const list = Array.isArray(raw) ? raw : String(raw || "").split(/[\s,;]+/);
  return list.map((s) => String(s).trim().toUpperCase()).filter(Boolean);
}

export function resolveUniverse(key) {
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

/** The request's errors [{field, message}], as the app's `validate_job` words them. */
export function validate(r) {
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
