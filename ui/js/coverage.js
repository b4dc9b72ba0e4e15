// Coverage view: a completeness heat map (symbols x months, coloured by completeness, the
// figures in each cell's tooltip), the gaps list with Fill per row and Fill all
// (coverage-gaps.js), and the schedules (enable/disable, run now, last and next run with
// result). A filter (tickers or prefixes) picks the symbols of the heat map and the gaps,
// whatever their rank; both show a page of them at a time, with Previous and Next.
import * as api from "./api.js";
import { $, el, clear, icon, fmtNewYork, debounce } from "./util.js";
import { toast, errorToast } from "./toasts.js";
import { heatClass, heatTitle, showingText, pageMoves, filterLabel } from "./coverage-text.js";
import { initGaps, loadGaps } from "./coverage-gaps.js";

export { heatClass, heatTitle };

let hooks = { onSubmitted: () => {} };
// The latest read of each part: an answer to an older read (from before a change of
// settings, say) is dropped, not drawn over a newer one.
const seq = { map: 0, schedules: 0 };
// The heat map's page asked for next, and the one shown.
const mapPage = { offset: 0, shown: 0, size: 200 };

/** The symbols filter as typed (tickers or prefixes). */
const filterText = () => $("#cov-filter").value.trim();

function isoDaysAgo(days) {
  const d = new Date(Date.now() - days * 86400000);
  return d.toISOString().slice(0, 10);
}

async function loadMap({ restart = false } = {}) {
  if (restart) mapPage.offset = 0;
  const tf = $("#cov-timeframe").value;
  const filter = filterText();
  const months = Number($("#cov-months").value) || 12;
  const box = $("#cov-heatmap");
  const note = $("#cov-map-note");
  $("#btn-cov-refresh").disabled = true;
  const mine = ++seq.map;
  try {
    const map = await api.coverageMap(tf, months, { filter, offset: mapPage.offset });
    if (mine !== seq.map) return;
    Object.assign(mapPage, { offset: map.offset, shown: map.rows.length });
    const moves = pageMoves(map.offset, map.rows.length, map.total);
    $("#cov-map-prev").disabled = !moves.prev;
    $("#cov-map-next").disabled = !moves.next;
    clear(box);
    if (!map.rows.length) {
      const f = filterLabel(filter);
      const text = f ? `No ${tf} bars stored for symbols matching ${f}.` : `No ${tf} bars stored yet.`;
      box.append(el("p", { class: "text-body-secondary text-center py-3 mb-0", text }));
      note.textContent = f ? showingText(0, 0, 0, filter) : "";
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
    note.textContent = `${showingText(map.offset, map.rows.length, map.total, filter)} · ${map.from} to ${map.to}`;
  } catch (err) {
    if (mine !== seq.map) return;
    clear(box);
    box.append(el("p", { class: "text-danger text-center py-3 mb-0", text: `Cannot read coverage: ${err.message}` }));
    note.textContent = "";
  } finally {
    if (mine === seq.map) $("#btn-cov-refresh").disabled = false;
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

/** Both lists from their first page (the filter or the timeframe changed). */
function restart() {
  loadMap({ restart: true });
  loadGaps({ restart: true });
}

export function initCoverage(options = {}) {
  hooks = { ...hooks, ...options };
  $("#cov-gaps-from").value = isoDaysAgo(365);
  $("#cov-gaps-to").value = isoDaysAgo(0);
  initGaps({ onSubmitted: (id) => hooks.onSubmitted(id), filter: filterText });
  $("#btn-cov-refresh").addEventListener("click", () => loadCoverage());
  $("#cov-timeframe").addEventListener("change", restart);
  $("#cov-filter").addEventListener("input", debounce(restart, 300));
  $("#cov-filter-form").addEventListener("submit", (e) => {
    e.preventDefault();
    restart();
  });
  $("#cov-months").addEventListener("change", () => loadMap());
  $("#cov-map-prev").addEventListener("click", () => {
    mapPage.offset = Math.max(0, mapPage.offset - mapPage.size);
    loadMap();
  });
  $("#cov-map-next").addEventListener("click", () => {
    mapPage.offset += mapPage.shown;
    loadMap();
  });
  return loadCoverage();
}
