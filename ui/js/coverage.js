// Coverage view: a completeness heat map (symbols x months, coloured by completeness, the
// figures in each cell's tooltip), the gaps list with Fill per row and Fill all (top-up jobs
// with fill), and the schedules (enable/disable, run now, last and next run with result).
import * as api from "./api.js";
import { $, el, clear, icon, fmtInt, fmtNewYork } from "./util.js";
import { toast, errorToast } from "./toasts.js";

/** Background colour class of a completeness ratio (null: not loaded yet). */
export function heatClass(completeness) {
  if (completeness === null || completeness === undefined) return "heat-none";
  if (completeness >= 0.99) return "heat-good";
  if (completeness >= 0.9) return "heat-partial";
  if (completeness > 0) return "heat-poor";
  return "heat-empty";
}

/** The tooltip of one heat-map cell. */
export function heatTitle(symbol, cell) {
  if (cell.completeness === null || cell.completeness === undefined) {
    return `${symbol} ${cell.month}: before the first stored bar`;
  }
  const pct = (cell.completeness * 100).toFixed(1);
  return `${symbol} ${cell.month}: ${fmtInt(cell.bars)} of ${fmtInt(cell.expected)} bars (${pct} %, ${cell.rating})`;
}

let hooks = { onSubmitted: () => {} };
let lastGaps = [];
// The latest read of each part: an answer to an older read (from before a change of
// settings, say) is dropped, not drawn over a newer one.
const seq = { map: 0, gaps: 0, schedules: 0 };

function isoDaysAgo(days) {
  const d = new Date(Date.now() - days * 86400000);
  return d.toISOString().slice(0, 10);
}

async function loadMap() {
  const tf = $("#cov-timeframe").value;
  const months = Number($("#cov-months").value) || 12;
  const box = $("#cov-heatmap");
  const note = $("#cov-map-note");
  $("#btn-cov-refresh").disabled = true;
  const mine = ++seq.map;
  try {
    const map = await api.coverageMap(tf, months);
    if (mine !== seq.map) return;
    clear(box);
    if (!map.rows.length) {
      box.append(el("p", { class: "text-body-secondary text-center py-3 mb-0", text: `No ${tf} bars stored yet.` }));
      note.textContent = "";
      return;
    }
    const table = el("table", { class: "table table-sm mb-0 heatmap", attrs: { "aria-label": "Completeness per symbol and month" } });
    const head = el("tr", {}, el("th", { scope: "col", text: "Symbol" }));
    for (const m of map.months) head.append(el("th", { scope: "col", class: "text-center small", text: m.slice(2) }));
    table.append(el("thead", {}, head));
    const body = el("tbody");
    for (const row of map.rows) {
      const tr = el("tr", { dataset: { symbol: row.symbol } }, el("th", { scope: "row", class: "font-monospace small", text: row.symbol }));
      for (const cell of row.cells) {
        const title = heatTitle(row.symbol, cell);
        tr.append(el("td", {
          class: `heat-cell ${heatClass(cell.completeness)}`,
          title,
          dataset: { month: cell.month, completeness: cell.completeness ?? "" },
          attrs: { "aria-label": title },
        }));
      }
      body.append(tr);
    }
    table.append(body);
    box.append(table);
    note.textContent = `${map.rows.length} symbols · ${map.from} to ${map.to}${map.more ? ` · ${map.more} more not shown` : ""}`;
  } catch (err) {
    if (mine !== seq.map) return;
    clear(box);
    box.append(el("p", { class: "text-danger text-center py-3 mb-0", text: `Cannot read coverage: ${err.message}` }));
    note.textContent = "";
  } finally {
    if (mine === seq.map) $("#btn-cov-refresh").disabled = false;
  }
}

async function fill(items, button) {
  if (button) button.disabled = true;
  try {
    const r = await api.fillGaps(items);
    for (const id of r.jobIds) hooks.onSubmitted(id);
    toast({
      title: r.jobIds.length === 1 ? "Fill submitted" : `${r.jobIds.length} fill jobs submitted`,
      body: r.warning || "Only the missing sessions are loaded.",
      variant: r.warning ? "warning" : "success",
      mono: r.jobIds.join(" "),
    });
  } catch (err) {
    errorToast("Could not submit the fill", err);
  } finally {
    if (button) button.disabled = false;
  }
}

function gapItem(g) {
  return { symbol: g.symbol, timeframe: g.timeframe, from: g.from, to: g.to };
}

async function loadGaps() {
  const tf = $("#cov-timeframe").value;
  const tbody = $("#cov-gaps tbody");
  const note = $("#cov-gaps-note");
  $("#btn-cov-fill-all").disabled = true;
  const mine = ++seq.gaps;
  try {
    const r = await api.coverageGaps(tf, $("#cov-gaps-from").value, $("#cov-gaps-to").value);
    if (mine !== seq.gaps) return;
    lastGaps = r.gaps;
    clear(tbody);
    if (!r.gaps.length) {
      tbody.append(el("tr", {}, el("td", { colSpan: 5, class: "text-body-secondary text-center py-3", text: "No gaps: every session is stored." })));
    }
    for (const g of r.gaps) {
      const btn = el("button", { type: "button", class: "btn btn-sm btn-outline-primary py-0", title: `Load ${g.symbol} ${g.from} to ${g.to}` }, icon("bi-download"), " Fill");
      btn.addEventListener("click", () => fill([gapItem(g)], btn));
      tbody.append(el("tr", { dataset: { symbol: g.symbol, from: g.from } },
        el("td", { class: "font-monospace small", text: g.symbol }),
        el("td", { class: "small num", text: g.from }),
        el("td", { class: "small num", text: g.to }),
        el("td", { class: "text-end num", text: fmtInt(g.sessions) }),
        el("td", { class: "text-end" }, btn)));
    }
    $("#btn-cov-fill-all").disabled = r.gaps.length === 0;
    const more = r.symbolsTotal > r.symbolsChecked ? ` (the first ${r.symbolsChecked} of ${r.symbolsTotal})` : "";
    note.textContent = `${r.gaps.length} gap${r.gaps.length === 1 ? "" : "s"} in ${r.symbolsChecked} symbols${more}, ${r.from} to ${r.to}`;
  } catch (err) {
    if (mine !== seq.gaps) return;
    clear(tbody);
    tbody.append(el("tr", {}, el("td", { colSpan: 5, class: "text-danger text-center py-3", text: `Cannot check gaps: ${err.message}` })));
    note.textContent = "";
  }
}

function scheduleResult(s) {
  if (!s.lastJobId) return el("span", { class: "text-body-secondary", text: "never run" });
  const status = s.lastStatus || "unknown";
  const variant = status === "completed" ? "success" : ["failed", "completed_with_errors", "cancelled"].includes(status) ? "danger" : "secondary";
  return el("span", { class: `badge text-bg-${variant}`, text: status, title: `Job ${s.lastJobId}` });
}

async function loadSchedules() {
  const tbody = $("#cov-schedules tbody");
  const mine = ++seq.schedules;
  try {
    const list = await api.listSchedules();
    if (mine !== seq.schedules) return;
    clear(tbody);
    if (!list.length) {
      tbody.append(el("tr", {}, el("td", { colSpan: 6, class: "text-body-secondary text-center py-3", text: "No schedules: add one with tickstock schedule add." })));
    }
    for (const s of list) {
      const toggle = el("input", { type: "checkbox", class: "form-check-input", checked: s.enabled, attrs: { role: "switch", "aria-label": `Enable ${s.name}` } });
      toggle.addEventListener("change", async () => {
        toggle.disabled = true;
        try {
          await api.setScheduleEnabled(s.name, toggle.checked);
        } catch (err) {
          toggle.checked = !toggle.checked;
          errorToast(`Could not change ${s.name}`, err);
        } finally {
          toggle.disabled = false;
        }
      });
      const run = el("button", { type: "button", class: "btn btn-sm btn-outline-secondary py-0" }, icon("bi-play-fill"), " Run now");
      run.addEventListener("click", async () => {
        run.disabled = true;
        try {
          const id = await api.runSchedule(s.name);
          hooks.onSubmitted(id);
          toast({ title: `${s.name} submitted`, variant: "success", mono: id });
          await loadSchedules();
        } catch (err) {
          errorToast(`Could not run ${s.name}`, err);
        } finally {
          run.disabled = false;
        }
      });
      tbody.append(el("tr", { dataset: { schedule: s.name } },
        el("td", {}, el("div", { class: "form-check form-switch mb-0" }, toggle)),
        el("td", {}, el("div", { class: "fw-semibold small", text: s.name }), el("div", { class: "font-monospace small text-body-secondary", text: `${s.spec} · ${s.kind || "?"}`, title: "Schedules run on New York time (America/New_York)" })),
        el("td", { class: "small num", text: s.lastDue ? fmtNewYork(s.lastDue) : "—" }),
        el("td", {}, scheduleResult(s)),
        el("td", { class: "small num schedule-next", text: s.nextDue && s.enabled ? fmtNewYork(s.nextDue) : "—" }),
        el("td", { class: "text-end" }, run)));
    }
  } catch (err) {
    if (mine !== seq.schedules) return;
    clear(tbody);
    tbody.append(el("tr", {}, el("td", { colSpan: 6, class: "text-danger text-center py-3", text: `Cannot read schedules: ${err.message}` })));
  }
}

/** Reloads the whole view. */
export function loadCoverage() {
  return Promise.all([loadMap(), loadGaps(), loadSchedules()]);
}

export function initCoverage(options = {}) {
  hooks = { ...hooks, ...options };
  $("#cov-gaps-from").value = isoDaysAgo(365);
  $("#cov-gaps-to").value = isoDaysAgo(0);
  $("#btn-cov-refresh").addEventListener("click", () => loadCoverage());
  $("#cov-timeframe").addEventListener("change", () => {
    loadMap();
    loadGaps();
  });
  $("#cov-months").addEventListener("change", () => loadMap());
  $("#btn-cov-gaps").addEventListener("click", () => loadGaps());
  $("#btn-cov-fill-all").addEventListener("click", (e) => fill(lastGaps.map(gapItem), e.currentTarget));
  return loadCoverage();
}
