// Data summary: rows, symbols and date range per OHLCV table, from `data_summary`.
import * as api from "./api.js";
import { $, el, clear, fmtInt, fmtDate, fmtTime } from "./util.js";

let loading = null;
let queued = null;

/** Reads the summary. A call while a read is under way reads once more after it (the
 * settings or the data may have changed meanwhile, so the answer in flight may be stale);
 * calls meanwhile share that one read. */
export function loadSummary() {
  if (loading) {
    if (!queued) {
      queued = loading.then(() => {
        queued = null;
        return loadSummary();
      });
    }
    return queued;
  }
  const btn = $("#btn-summary-refresh");
  btn.disabled = true;
  const tbody = $("#summary-table tbody");
  loading = api
    .dataSummary()
    .then((list) => {
      clear(tbody);
      const rows = Array.isArray(list) ? list : [];
      if (!rows.length) {
        tbody.append(el("tr", {}, el("td", { colSpan: 5, class: "text-body-secondary text-center py-3", text: "No bars stored yet." })));
      }
      let totalRows = 0;
      for (const r of rows) {
        totalRows += Number(r.rows) || 0;
        tbody.append(
          el("tr", { dataset: { table: r.table || "" } },
            el("td", { class: "font-monospace small", text: r.table || "?", title: r.timeframe ? `Timeframe: ${r.timeframe}` : "" }),
            el("td", { class: "text-end num", text: fmtInt(r.rows) }),
            el("td", { class: "text-end num", text: fmtInt(r.symbols) }),
            el("td", { class: "small num", text: fmtDate(r.earliest) }),
            el("td", { class: "small num", text: fmtDate(r.latest) })),
        );
      }
      $("#summary-note").textContent = `${fmtInt(totalRows)} bars in ${rows.length} table${rows.length === 1 ? "" : "s"} · updated ${fmtTime()}`;
    })
    .catch((err) => {
      clear(tbody);
      tbody.append(el("tr", {}, el("td", { colSpan: 5, class: "text-danger text-center py-3", text: `Cannot read the database: ${err.message}` })));
      $("#summary-note").textContent = "";
    })
    .finally(() => {
      btn.disabled = false;
      loading = null;
    });
  return loading;
}

export function initSummary() {
  $("#btn-summary-refresh").addEventListener("click", () => loadSummary());
  return loadSummary();
}
