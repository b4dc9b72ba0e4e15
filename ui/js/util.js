// DOM helpers and formatters shared by the page's modules. Everything that may contain text
// from the backend goes through textContent: nothing here ever parses HTML.

/**
 * Creates an element. `props` may hold: class, text, attrs (object), dataset (object),
 * and any other property set directly (e.g. type, value, disabled, title).
 * Children may be nodes or strings (strings become text nodes).
 */
export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = String(value);
    else if (key === "attrs") {
      for (const [a, v] of Object.entries(value)) {
        if (v !== undefined && v !== null && v !== false) node.setAttribute(a, v === true ? "" : String(v));
      }
    } else if (key === "dataset") {
      for (const [d, v] of Object.entries(value)) node.dataset[d] = String(v);
    } else node[key] = value;
  }
  append(node, children);
  return node;
}

function append(node, children) {
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** An icon from Bootstrap Icons, hidden from screen readers. */
export function icon(name, extraClass = "") {
  return el("i", { class: `bi bi-${name}${extraClass ? " " + extraClass : ""}`, attrs: { "aria-hidden": "true" } });
}

export const $ = (sel, root = document) => root.querySelector(sel);
export const $$ = (sel, root = document) => Array.from(root.querySelectorAll(sel));

export function clear(node) {
  while (node.firstChild) node.removeChild(node.firstChild);
}

/** Returns a debounced wrapper of fn plus flush()/cancel(). */
export function debounce(fn, ms) {
  let timer = null;
  let lastArgs = [];
  const wrapped = (...args) => {
    lastArgs = args;
    clearTimeout(timer);
    timer = setTimeout(() => {
      timer = null;
      fn(...lastArgs);
    }, ms);
  };
  wrapped.pending = () => timer !== null;
  wrapped.cancel = () => {
    clearTimeout(timer);
    timer = null;
  };
  wrapped.flush = () => {
    if (timer !== null) {
      clearTimeout(timer);
      timer = null;
      return fn(...lastArgs);
    }
    return undefined;
  };
  return wrapped;
}

// Jobs ----------------------------------------------------------------------------------

export const KIND_LABELS = {
  historical_load: "Individual symbols",
  multi_timeframe_load: "Multi-timeframe",
  universe_seed: "Universe",
  csv_universe_load: "CSV / joined universes",
  top_up: "Top-up / fill",
};
export const KIND_ICONS = {
  historical_load: "graph-up",
  multi_timeframe_load: "layers",
  universe_seed: "globe2",
  csv_universe_load: "filetype-csv",
  top_up: "arrow-up-right-circle",
};
export const kindLabel = (kind) => KIND_LABELS[kind] || String(kind || "Job");

const STATUS = {
  submitted: { label: "Submitted", badge: "bg-secondary-subtle text-secondary-emphasis border border-secondary-subtle", group: "queued" },
  pending: { label: "Pending", badge: "bg-secondary-subtle text-secondary-emphasis border border-secondary-subtle", group: "queued" },
  queued: { label: "Queued", badge: "text-bg-info", group: "queued" },
  running: { label: "Running", badge: "text-bg-primary", group: "running" },
  processing: { label: "Running", badge: "text-bg-primary", group: "running" },
  cancelling: { label: "Cancelling", badge: "text-bg-warning", group: "warn" },
  completed: { label: "Completed", badge: "text-bg-success", group: "done", terminal: true },
  completed_with_errors: { label: "Completed with errors", badge: "text-bg-warning", group: "warn", terminal: true },
  failed: { label: "Failed", badge: "text-bg-danger", group: "bad", terminal: true },
  error: { label: "Failed", badge: "text-bg-danger", group: "bad", terminal: true },
  cancelled: { label: "Cancelled", badge: "text-bg-secondary", group: "warn", terminal: true },
};

export function statusInfo(status) {
  return STATUS[status] || { label: String(status || "Unknown"), badge: "text-bg-secondary", group: "queued" };
}
export const isTerminal = (status) => Boolean(STATUS[status] && STATUS[status].terminal);
export const isRunning = (status) => status === "running" || status === "processing";

export function statusBadge(status) {
  const info = statusInfo(status);
  return el("span", { class: `badge rounded-pill job-status ${info.badge}`, text: info.label, dataset: { status: status || "" } });
}

export const shortId = (id) => (id ? String(id).slice(0, 8) : "");

/** Reads a job parameter written either snake_case (wire) or camelCase. */
export function param(params, snake) {
  if (!params || typeof params !== "object") return undefined;
  if (snake in params) return params[snake];
  const camel = snake.replace(/_([a-z])/g, (_, c) => c.toUpperCase());
  return params[camel];
}

/** One short line naming what a job loads: symbols or universe. */
export function symbolsSummary(job) {
  const p = job.params || {};
  let symbols = param(p, "symbols");
  if (typeof symbols === "string") symbols = symbols.split(/[\s,]+/).filter(Boolean);
  const universe = param(p, "universe_key") || param(p, "universe_type") || param(p, "csv_file");
  if (Array.isArray(symbols) && symbols.length) {
    const head = symbols.slice(0, 3).join(", ");
    const more = symbols.length > 3 ? ` +${symbols.length - 3} more` : "";
    return universe ? `${universe}: ${head}${more}` : head + more;
  }
  if (universe) return String(universe);
  if (job.totalSymbols) return count(job.totalSymbols, "symbol");
  return "—";
}

// Formatting ----------------------------------------------------------------------------

// Grouped digits always: a locale that groups nothing (POSIX/C, as WebKit may report)
// falls back to en-US grouping.
const nf = (() => {
  const local = new Intl.NumberFormat();
  return /\d[^\d]\d{3}$/.test(local.format(1234)) ? local : new Intl.NumberFormat("en-US");
})();
export function fmtInt(n) {
  if (n === null || n === undefined || Number.isNaN(Number(n))) return "—";
  return nf.format(Math.round(Number(n)));
}

/** "1 symbol", "1,000 symbols": a grouped count with its noun in the right number. */
export function count(n, noun) {
  const v = Math.round(Number(n) || 0);
  return `${fmtInt(v)} ${v === 1 ? noun : noun + "s"}`;
}

export function fmtRate(n) {
  if (n === null || n === undefined || !Number.isFinite(Number(n))) return "—";
  const v = Number(n);
  return `${v >= 100 ? nf.format(Math.round(v)) : v.toFixed(1)} bars/s`;
}

/** 45 s · 3 m 20 s · 1 h 02 m · 2 d 4 h */
export function fmtDuration(seconds) {
  if (seconds === null || seconds === undefined || !Number.isFinite(Number(seconds))) return "—";
  let s = Math.max(0, Math.round(Number(seconds)));
  if (s < 60) return `${s} s`;
  const d = Math.floor(s / 86400);
  s -= d * 86400;
  const h = Math.floor(s / 3600);
  s -= h * 3600;
  const m = Math.floor(s / 60);
  s -= m * 60;
  if (d > 0) return `${d} d ${h} h`;
  if (h > 0) return `${h} h ${String(m).padStart(2, "0")} m`;
  return `${m} m ${String(s).padStart(2, "0")} s`;
}

/** "3 s ago", "4 min ago", "2 h ago". */
export function fmtAge(seconds) {
  if (seconds === null || seconds === undefined || !Number.isFinite(Number(seconds))) return "age unknown";
  const s = Math.max(0, Math.round(Number(seconds)));
  if (s < 90) return `${s} s ago`;
  if (s < 5400) return `${Math.round(s / 60)} min ago`;
  if (s < 172800) return `${Math.round(s / 3600)} h ago`;
  return `${Math.round(s / 86400)} d ago`;
}

function parseDate(iso) {
  if (!iso) return null;
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? null : d;
}

const pad = (n) => String(n).padStart(2, "0");

/** Local date and time, "2024-05-01 14:03:22"; today's times show without the date. */
export function fmtDateTime(iso, { seconds = true, alwaysDate = false } = {}) {
  const d = parseDate(iso);
  if (!d) return iso ? String(iso) : "—";
  const time = `${pad(d.getHours())}:${pad(d.getMinutes())}${seconds ? ":" + pad(d.getSeconds()) : ""}`;
  const now = new Date();
  const sameDay = d.getFullYear() === now.getFullYear() && d.getMonth() === now.getMonth() && d.getDate() === now.getDate();
  if (sameDay && !alwaysDate) return `Today ${time}`;
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${time}`;
}

/** A date and time as read on the wall clock of `timeZone` ({date, time}). */
function wallClock(d, timeZone) {
  const f = new Intl.DateTimeFormat("en-CA", { timeZone, year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", hourCycle: "h23" });
  const o = Object.fromEntries(f.formatToParts(d).map((p) => [p.type, p.value]));
  return { date: `${o.year}-${o.month}-${o.day}`, time: `${o.hour}:${o.minute}` };
}

/**
 * A time of the schedules, which run on New York time, labelled so, with the local time
 * when it differs: "2026-12-07 16:30 New York (21:30 here)".
 */
export function fmtNewYork(iso) {
  const d = parseDate(iso);
  if (!d) return iso ? String(iso) : "—";
  const ny = wallClock(d, "America/New_York");
  const here = { date: `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`, time: `${pad(d.getHours())}:${pad(d.getMinutes())}` };
  const text = `${ny.date} ${ny.time} New York`;
  if (here.date === ny.date && here.time === ny.time) return text;
  return `${text} (${here.date === ny.date ? "" : here.date + " "}${here.time} here)`;
}

/** Dates as given when they are plain dates, else local date. */
export function fmtDate(value) {
  if (!value) return "—";
  if (/^\d{4}-\d{2}-\d{2}$/.test(String(value))) return String(value);
  const d = parseDate(value);
  if (!d) return String(value);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
}

export function fmtTime(date = new Date()) {
  return `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}`;
}

/** Splits raw symbol text the way the form describes it (commas, spaces, new lines). */
export function splitSymbols(text) {
  return String(text || "")
    .split(/[\s,;]+/)
    .map((s) => s.trim())
    .filter(Boolean);
}
