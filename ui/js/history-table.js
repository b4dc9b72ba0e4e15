// The job history's table: rows (live from the page's job model), count pills, sort headers, pager.
import {
  $, $$, el, clear, kindLabel, statusInfo, statusBadge, shortId,
  symbolsSummary, fmtInt, fmtDuration, fmtDateTime, count, param,
} from "./util.js";
import { jobModel } from "./jobs.js";
import { state, selected } from "./history-state.js";

export const COLS = 11;
const STATUS_ORDER = ["running", "queued", "submitted", "cancelling", "completed", "completed_with_errors", "failed", "cancelled"];

function liveOr(job) {
  const live = jobModel(job.jobId);
  return live ? { ...job, ...live, submittedAt: job.submittedAt || live.submittedAt } : job;
}

/** "day · 2024-01-02 → 2024-06-28" or "hour, day · 1 y". */
export function rangeSummary(job) {
  const p = job.params || {};
  const tfs = param(p, "timeframes") || (param(p, "timespan") ? [param(p, "timespan")] : null);
  const tf = Array.isArray(tfs) ? tfs.join(", ") : tfs || "day";
  const from = param(p, "start_date");
  const to = param(p, "end_date");
  const years = param(p, "years");
  const span = from ? `${from} → ${to || "today"}` : years ? `${Number(years)} y` : "";
  return span ? `${tf} · ${span}` : tf;
}

export function row(job) {
  const id = job.jobId;
  const summary = symbolsSummary(job);
  const box = el("input", { type: "checkbox", class: "form-check-input row-select", checked: selected.has(id), attrs: { "aria-label": `Select job ${shortId(id)}` } });
  return el(
    "tr",
    { tabIndex: 0, dataset: { jobId: id, status: job.status || "", submittedAt: job.submittedAt || "", progress: String(Math.round(Number(job.progress) || 0)) }, attrs: { "aria-label": `Job ${shortId(id)}, ${kindLabel(job.jobType)}, ${statusInfo(job.status).label}. Press Enter for details.` } },
    el("td", { class: "col-select" }, box),
    el("td", {}, el("code", { text: shortId(id), title: id }), job.retryOf ? el("span", { class: "badge text-bg-light ms-1 retry-badge", text: "retry", title: `Retry of ${job.retryOf}` }) : null),
    el("td", { text: kindLabel(job.jobType) }),
    el("td", { class: "col-symbols font-monospace small", text: summary, title: summary }),
    el("td", { class: "col-range small", text: rangeSummary(job) }),
    el("td", { class: "col-by small", text: job.requestedBy || "—" }),
    el("td", { class: "col-worker small font-monospace", text: job.worker || "—", title: job.worker || "" }),
    el("td", {}, statusBadge(job.status), job.active && job.progress ? el("span", { class: "small text-body-secondary ms-1 num", text: `${job.progress}%` }) : null),
    el("td", { class: "text-end num col-bars", text: fmtInt(job.ohlcvRecordsLoaded || 0) }),
    el("td", { class: "small", text: fmtDateTime(job.submittedAt, { seconds: false }), title: job.submittedAt ? fmtDateTime(job.submittedAt, { alwaysDate: true }) : "" }),
    el("td", { class: "text-end num small col-duration", text: fmtDuration(job.durationSeconds) }),
  );
}

function renderCounts(counts, total) {
  const box = $("#history-counts");
  clear(box);
  const all = Object.values(counts || {}).reduce((a, b) => a + Number(b || 0), 0);
  const pill = (status, label, n) =>
    el("button", {
      type: "button",
      class: `btn btn-sm rounded-pill status-count ${state.status === status ? "btn-primary" : "btn-outline-secondary"}`,
      dataset: { status },
      attrs: { "aria-pressed": state.status === status ? "true" : "false" },
      text: `${label} ${fmtInt(n)}`,
    });
  box.append(pill("", "All", state.status ? all : total));
  const keys = Object.keys(counts || {}).sort((a, b) => STATUS_ORDER.indexOf(a) - STATUS_ORDER.indexOf(b));
  for (const s of keys) box.append(pill(s, statusInfo(s).label, counts[s]));
}

export function renderSelection() {
  const n = selected.size;
  $("#history-selection").classList.toggle("d-none", n === 0);
  $("#history-selected").textContent = `${count(n, "job")} selected`;
  const boxes = $$("#history-table tbody .row-select");
  const all = $("#history-select-all");
  all.checked = boxes.length > 0 && boxes.every((b) => b.checked);
  all.indeterminate = !all.checked && boxes.some((b) => b.checked);
}

function renderSortHeaders() {
  for (const b of $$("#history-table .btn-sort")) {
    const on = b.dataset.sort === state.sort;
    b.classList.toggle("fw-bold", on);
    b.dataset.dir = on ? (state.ascending ? "asc" : "desc") : "";
    b.closest("th").setAttribute("aria-sort", on ? (state.ascending ? "ascending" : "descending") : "none");
  }
}

/** Renders a page of history: its rows, counts, sort, selection, summary and pager. */
export function renderPage(page) {
  const tbody = $("#history-table tbody");
  const items = Array.isArray(page.items) ? page.items : [];
  const focusedId = document.activeElement && document.activeElement.closest && document.activeElement.closest("#history-table tbody tr")?.dataset.jobId;
  clear(tbody);
  if (!items.length) {
    const filtered = state.search || state.kind || state.status || state.requestedBy || state.since || state.until;
    const text = page.total > 0 ? "No jobs on this page: go to the first page." : filtered ? "No jobs match these filters." : "No jobs yet. Submitted loads are listed here.";
    tbody.append(el("tr", { class: "empty-row" }, el("td", { colSpan: COLS, class: "text-body-secondary text-center py-4", text })));
  }
  for (const job of items) tbody.append(row(liveOr(job)));
  if (focusedId) tbody.querySelector(`tr[data-job-id="${CSS.escape(focusedId)}"]`)?.focus();
  renderCounts(page.counts, page.total);
  renderSortHeaders();
  renderSelection();
  const size = page.pageSize || state.pageSize;
  const from = page.total ? (page.page - 1) * size + 1 : 0;
  const to = Math.min(page.total, from + items.length - 1);
  const shown = page.total && items.length ? `Showing ${fmtInt(from)}–${fmtInt(to)} of ${count(page.total, "job")}` : page.total ? count(page.total, "job") : "";
  const db = page.database;
  $("#history-summary").textContent = db ? (shown ? `${shown} · history in ${db}` : `History in ${db}`) : shown;
  $("#history-summary").title = db ? `The job history shown is kept in ${db}` : "";
  $("#history-page").textContent = `${fmtInt(page.page)} / ${fmtInt(page.pages)}`;
  $("#history-prev").disabled = !page.prev;
  $("#history-first").disabled = !page.prev && !(page.total > 0 && !items.length);
  $("#history-next").disabled = !page.next;
}
