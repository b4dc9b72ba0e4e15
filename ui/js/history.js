// The job history at scale, from `history_page`: search (id, symbols also inside universes,
// universe keys, status and kind words), filters (kind, status by its count pills, requester,
// dates), sort by submitted, duration or bars, page size, keyset pages that do not shift while
// reading (first, previous, next) and a jump to any page or date; rows selected for Retry,
// Cancel or Delete; CSV export. A job the page follows live is shown from the same model as
// its card. The detail modal is in detail.js.
import * as api from "./api.js";
import {
  $, $$, el, clear, debounce, kindLabel, statusInfo, statusBadge, shortId,
  symbolsSummary, fmtInt, fmtDuration, fmtDateTime, count, param,
} from "./util.js";
import { toast, errorToast } from "./toasts.js";
import { confirmAction } from "./confirm.js";
import { jobModel } from "./jobs.js";
import { openJobDetail, initDetail } from "./detail.js";

export { openJobDetail };

const REFRESH_MS = 5000;
const COLS = 11;
const STATUS_ORDER = ["running", "queued", "submitted", "cancelling", "completed", "completed_with_errors", "failed", "cancelled"];

const state = {
  search: "", kind: "", status: "", requestedBy: "", since: "", until: "",
  sort: "submitted", ascending: false, pageSize: 25,
  // Where the page starts: "first", "after:C", "before:C", "page:N", "date:D". Refreshes keep it.
  at: "first",
};
let current = null; // the last page answered
let notice = ""; // why the page shown is not the one asked for, until the next move
const selected = new Set();
let seq = 0;
let hooks = { onChanged: () => {}, onSubmitted: () => {} };

function query() {
  return {
    search: state.search.trim() || null,
    kind: state.kind || null,
    status: state.status || null,
    requestedBy: state.requestedBy.trim() || null,
    since: state.since || null,
    until: state.until || null,
    sort: state.sort,
    ascending: state.ascending,
    pageSize: state.pageSize,
    at: state.at,
  };
}

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

function row(job) {
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

/** Brings the row of a job in view up to date with the page's model of it. */
export function updateRow(job) {
  const tbody = $("#history-table tbody");
  const old = tbody && tbody.querySelector(`tr[data-job-id="${CSS.escape(job.jobId)}"]`);
  if (!old) return;
  const hadFocus = old === document.activeElement;
  const base = current && current.items.find((j) => j.jobId === job.jobId);
  const fresh = row({ ...(base || {}), ...job, submittedAt: old.dataset.submittedAt || job.submittedAt });
  old.replaceWith(fresh);
  if (hadFocus) fresh.focus();
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

function renderSelection() {
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

/** Loads the current page of history (where it starts stays put) and renders it. */
export async function loadHistory() {
  const mySeq = ++seq;
  const tbody = $("#history-table tbody");
  let page;
  try {
    page = await api.historyPage(query());
  } catch (err) {
    if (mySeq !== seq) return;
    clear(tbody);
    tbody.append(el("tr", {}, el("td", { colSpan: COLS, class: "text-danger py-4 text-center", text: `Cannot load jobs: ${err.message}` })));
    $("#history-summary").textContent = "";
    return;
  }
  if (mySeq !== seq) return;
  current = page;
  if (page.askedPage) {
    // Past the last page: the last is shown, and the page says so; refreshes stay there.
    notice = `Page ${fmtInt(page.askedPage)} is past the end: showing the last page, ${fmtInt(page.page)}.`;
    state.at = `page:${page.page}`;
  }
  const noticeNode = $("#history-notice");
  noticeNode.textContent = notice;
  noticeNode.classList.toggle("d-none", !notice);
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

/** Goes to the first page with the filters as they are now. */
function restart() {
  notice = "";
  state.at = "first";
  return loadHistory();
}

async function exportCsv() {
  const btn = $("#btn-export-csv");
  btn.disabled = true;
  try {
    // The rows the table shows (its search, every filter and its order; all pages, not only
    // this one) with its columns, through the system's Save dialog; the backend says where
    // the file went and how many jobs it holds.
    const res = await api.exportJobsCsv({ ...query(), at: "first" });
    if (res && res.path) {
      const n = typeof res.rows === "number" ? `${count(res.rows, "job")} saved` : "Saved";
      toast({ title: "Jobs exported", body: `${n} to ${res.path}.`, variant: "success" });
    } else if (res && res.cancelled) toast({ title: "Export cancelled", body: "No file was written.", variant: "info" });
  } catch (err) {
    errorToast("Could not export jobs", err);
  } finally {
    btn.disabled = false;
  }
}

const BULK = {
  retry: { title: "Retry", done: "Retried", variant: "primary" },
  cancel: { title: "Cancel", done: "Cancel requested for", variant: "warning" },
  delete: { title: "Delete", done: "Deleted", variant: "danger" },
};

async function bulk(action) {
  const ids = [...selected];
  if (!ids.length) return;
  const b = BULK[action];
  if (action !== "retry") {
    const ok = await confirmAction({
      title: `${b.title} ${count(ids.length, "job")}?`,
      body: action === "delete" ? "Finished jobs are deleted from the history and the queue; active ones are left alone." : "Running jobs stop after their current chunk; waiting ones do not start.",
      confirmLabel: `${b.title} ${count(ids.length, "job")}`,
      variant: b.variant,
    });
    if (!ok) return;
  }
  try {
    const res = await api.bulkJobs(action, ids);
    const failed = Array.isArray(res.failed) ? res.failed : [];
    const lines = failed.slice(0, 5).map((f) => `${shortId(f.jobId)}: ${f.message}`);
    if (failed.length > 5) lines.push(`and ${failed.length - 5} more`);
    toast({
      title: `${b.done} ${count(res.done, "job")}`,
      body: failed.length ? `${count(failed.length, "job")} not changed:\n${lines.join("\n")}` : "",
      variant: failed.length ? "warning" : "success",
    });
    for (const id of res.jobIds || []) hooks.onSubmitted(id);
    selected.clear();
    hooks.onChanged();
  } catch (err) {
    errorToast(`Could not ${action} the selected jobs`, err);
  }
}

function jump(text) {
  const t = String(text || "").trim();
  notice = "";
  if (/^\d+$/.test(t)) state.at = `page:${t}`;
  else if (/^\d{4}-\d{2}-\d{2}$/.test(t)) {
    state.sort = "submitted";
    state.at = `date:${t}`;
  } else {
    errorToast("Cannot go there", { message: `"${t}" is neither a page number nor a date (YYYY-MM-DD).` });
    return;
  }
  loadHistory();
}

export function initHistory({ onChanged, onSubmitted } = {}) {
  if (onChanged) hooks.onChanged = onChanged;
  if (onSubmitted) hooks.onSubmitted = onSubmitted;
  initDetail({ onChanged, onSubmitted });
  const search = debounce(restart, 300);
  $("#history-filters").addEventListener("submit", (e) => {
    e.preventDefault();
    search.cancel();
    restart();
  });
  const bind = (sel, key, ev = "change", after = restart) =>
    $(sel).addEventListener(ev, (e) => {
      state[key] = e.target.value;
      after();
    });
  bind("#history-query", "search", "input", search);
  bind("#history-by", "requestedBy", "input", search);
  bind("#history-kind", "kind");
  bind("#history-since", "since");
  bind("#history-until", "until");
  $("#history-size").addEventListener("change", (e) => {
    state.pageSize = Number(e.target.value) || 25;
    restart();
  });
  $("#history-counts").addEventListener("click", (e) => {
    const b = e.target.closest("button[data-status]");
    if (!b) return;
    state.status = b.dataset.status;
    restart();
  });
  for (const b of $$("#history-table .btn-sort")) {
    b.addEventListener("click", () => {
      state.ascending = state.sort === b.dataset.sort ? !state.ascending : false;
      state.sort = b.dataset.sort;
      restart();
    });
  }
  $("#history-first").addEventListener("click", restart);
  $("#history-prev").addEventListener("click", () => {
    if (current && current.prev) {
      notice = "";
      state.at = `before:${current.prev}`;
      loadHistory();
    }
  });
  $("#history-next").addEventListener("click", () => {
    if (current && current.next) {
      notice = "";
      state.at = `after:${current.next}`;
      loadHistory();
    }
  });
  $("#history-jump").addEventListener("submit", (e) => {
    e.preventDefault();
    jump($("#history-goto").value);
  });
  $("#btn-history-refresh").addEventListener("click", () => loadHistory());
  $("#btn-export-csv").addEventListener("click", exportCsv);
  $("#btn-bulk-retry").addEventListener("click", () => bulk("retry"));
  $("#btn-bulk-cancel").addEventListener("click", () => bulk("cancel"));
  $("#btn-bulk-delete").addEventListener("click", () => bulk("delete"));
  $("#history-select-all").addEventListener("change", (e) => {
    for (const b of $$("#history-table tbody .row-select")) {
      b.checked = e.target.checked;
      const id = b.closest("tr").dataset.jobId;
      if (b.checked) selected.add(id);
      else selected.delete(id);
    }
    renderSelection();
  });

  const tbody = $("#history-table tbody");
  tbody.addEventListener("click", (e) => {
    const tr = e.target.closest("tr[data-job-id]");
    if (!tr) return;
    if (e.target.classList.contains("row-select")) {
      if (e.target.checked) selected.add(tr.dataset.jobId);
      else selected.delete(tr.dataset.jobId);
      renderSelection();
      return;
    }
    if (e.target.closest(".col-select")) return;
    openJobDetail(tr.dataset.jobId);
  });
  tbody.addEventListener("keydown", (e) => {
    const tr = e.target.closest("tr[data-job-id]");
    if (!tr || e.target.classList.contains("row-select")) return;
    if (e.key === "Enter" || e.key === " ") {
      e.preventDefault();
      openJobDetail(tr.dataset.jobId);
    } else if (e.key === "ArrowDown" || e.key === "ArrowUp") {
      e.preventDefault();
      const next = e.key === "ArrowDown" ? tr.nextElementSibling : tr.previousElementSibling;
      if (next && next.dataset.jobId) next.focus();
    }
  });

  // The page in view is refreshed where it starts (new jobs do not shift a later page).
  setInterval(() => {
    if (!document.hidden) loadHistory();
  }, REFRESH_MS);
  return loadHistory();
}
