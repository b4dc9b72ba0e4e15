// The Dashboard tab: today's completed, failed and bars; throughput over 24 hours (by hour)
// or 7 days (by day) from the job history; Polygon requests per minute of this app's
// client against the plan's limit. Charts are uPlot (vendored in ui/vendor/uplot, loaded as
// window.uPlot); their colours come from Bootstrap's variables and are redrawn when the
// colour scheme changes.
import * as api from "./api.js";
import { $, clear, el, fmtInt, debounce } from "./util.js";

let data = null;
let range = "hourly";
const charts = {};

/** Columns for uPlot from throughput points of `hours` each: [x, all jobs/h, failed/h, bars/s]. */
export function throughputColumns(points, hours = 1) {
  const x = [];
  const all = [];
  const failed = [];
  const rate = [];
  for (const p of points || []) {
    x.push(p.start);
    all.push(p.jobsPerHour);
    failed.push(p.failed / hours);
    rate.push(p.barsPerSecond ?? null);
  }
  return [x, all, failed, rate];
}

/** Columns for the Polygon chart over the hour ending with the minute starting at `minute`
 * (Unix seconds): [x, requests or null where not sampled, the plan's limit or nulls]. */
export function polygonColumns(perMinute, limit, minute) {
  const counts = new Map(perMinute || []);
  const x = [...Array(60)].map((_, i) => minute - (59 - i) * 60);
  return [x, x.map((m) => (counts.has(m) ? counts.get(m) : null)), x.map(() => (limit > 0 ? limit : null))];
}

/** "12 of 5 allowed" style text of the last minute against the plan. */
export function rpmText(p) {
  if (!p || !p.available) return "—";
  return p.limit > 0 ? `${fmtInt(p.lastMinute)} / ${fmtInt(p.limit)}` : fmtInt(p.lastMinute);
}

/** The plan and whose requests the figure counts; with a shared budget, the whole key's. */
export function limitText(p) {
  if (!p) return "";
  const plan = p.limit > 0 ? `plan: ${fmtInt(p.limit)}/min` : "no plan limit";
  const key = p.keyLastMinute != null ? `; ${fmtInt(p.keyLastMinute)} in the last minute on this API key, every process` : "";
  return `(${plan}; ${p.scope}${key})`;
}

function cssVar(name) {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
}

/** `#rrggbb` with an alpha, for fills. */
export function withAlpha(hex, a) {
  const m = /^#([0-9a-f]{6})$/i.exec(String(hex).trim());
  if (!m) return hex;
  const v = parseInt(m[1], 16);
  return `rgba(${(v >> 16) & 255}, ${(v >> 8) & 255}, ${v & 255}, ${a})`;
}

function colours() {
  return {
    text: cssVar("--bs-body-color") || "#212529",
    grid: cssVar("--bs-border-color") || "#dee2e6",
    primary: cssVar("--bs-primary") || "#0d6efd",
    danger: cssVar("--bs-danger") || "#dc3545",
    success: cssVar("--bs-success") || "#198754",
    info: cssVar("--bs-info") || "#0dcaf0",
  };
}

function axes(c, yLabel) {
  const axis = { stroke: c.text, grid: { stroke: c.grid, width: 1 }, ticks: { stroke: c.grid, width: 1 } };
  return [axis, { ...axis, size: 56, label: yLabel, labelSize: 18 }];
}

/** Zeros as gaps, so an empty bucket draws no hairline bar. */
const gaps = (values) => values.map((v) => (v > 0 ? v : null));

/** The x range of buckets of `width` seconds, half a bucket of room at each end. */
export function bucketRange(x, width) {
  if (!x.length) return null;
  return [x[0] - width / 2, x[x.length - 1] + width / 2];
}

function draw(key, host, columns, series, yLabel, xRange) {
  if (charts[key]) {
    charts[key].destroy();
    delete charts[key];
  }
  clear(host);
  const width = host.clientWidth;
  if (!width) return;
  if (!window.uPlot) {
    host.append(el("div", { class: "dash-empty", text: "Charts are unavailable: the chart library (uPlot) did not load" }));
    return;
  }
  const c = colours();
  charts[key] = new window.uPlot(
    {
      width,
      height: 190,
      scales: { x: { time: true, ...(xRange ? { range: () => xRange } : {}) }, y: { range: (u, min, max) => [0, Math.max(1, max * 1.1)] } },
      axes: axes(c, yLabel),
      series: [{ label: "Time" }, ...series(c)],
      cursor: { drag: { x: false, y: false } },
    },
    columns,
    host,
  );
  host.dataset.points = String(columns[0].length);
}

function bars(size) {
  return window.uPlot && window.uPlot.paths && window.uPlot.paths.bars ? window.uPlot.paths.bars({ size: [size, 48] }) : undefined;
}

function render() {
  if (!data) return;
  const points = range === "daily" ? data.daily : data.hourly;
  const hours = range === "daily" ? 24 : 1;
  const [x, all, failed, rate] = throughputColumns(points, hours);
  const xRange = bucketRange(x, hours * 3600);
  draw("jobs", $("#dash-chart-jobs"), [x, gaps(all), gaps(failed)], (c) => [
    { label: "All jobs/h", stroke: c.primary, fill: withAlpha(c.primary, 0.55), paths: bars(0.7), points: { show: false } },
    { label: "Failed/h", stroke: c.danger, fill: withAlpha(c.danger, 0.75), paths: bars(0.7), points: { show: false } },
  ], "jobs/h", xRange);
  draw("rate", $("#dash-chart-rate"), [x, rate], (c) => [
    { label: "Bars/s", stroke: c.success, width: 2, fill: withAlpha(c.success, 0.12), points: { show: true, size: 5 }, spanGaps: false },
  ], "bars/s", xRange);
  const p = data.polygon;
  // The last hour, whatever has been sampled of it.
  const minute = Math.floor(Date.now() / 60000) * 60;
  const [px, pn, pl] = polygonColumns(p.perMinute, p.limit, minute);
  draw("polygon", $("#dash-chart-polygon"), [px, gaps(pn), pl], (c) => [
    { label: "Requests", stroke: c.info, fill: withAlpha(c.info, 0.5), paths: bars(0.8), points: { show: false } },
    { label: "Plan limit", stroke: c.danger, width: 1.5, dash: [6, 4], points: { show: false } },
  ], "req/min", bucketRange(px, 60));
}

function renderTiles(d) {
  $("#dash-completed").textContent = fmtInt(d.today.completed);
  $("#dash-failed").textContent = fmtInt(d.today.failed);
  $("#dash-bars").textContent = fmtInt(d.today.bars);
  const rpm = $("#dash-rpm");
  rpm.textContent = rpmText(d.polygon);
  rpm.title = d.polygon.available ? `Requests of ${d.polygon.scope}` : "No Polygon client: add the API key in Settings";
  rpm.classList.toggle("dash-over", d.polygon.limit > 0 && d.polygon.lastMinute > d.polygon.limit);
  $("#dash-limit").textContent = limitText(d.polygon);
  $("#dash-note").textContent = d.historyError ? `History unavailable: ${d.historyError}` : "Jobs count where they finished; bars/s is the loading speed while they ran";
}

/** Loads the numbers and redraws (called by console.js while the tab is shown). */
export async function loadDashboard() {
  data = await api.dashboard();
  renderTiles(data);
  render();
  $("#opsc-pane-dash").dataset.loaded = "1";
}

export function initDashboard() {
  for (const input of document.querySelectorAll('input[name="dash-range"]')) {
    input.addEventListener("change", () => {
      range = input.value;
      render();
    });
  }
  // Redraw with the other scheme's colours, and at the new width.
  new MutationObserver(() => render()).observe(document.documentElement, { attributes: true, attributeFilter: ["data-bs-theme"] });
  window.addEventListener("resize", debounce(render, 150));
}
