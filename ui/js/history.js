// Recent jobs: a filtered, paged table from `list_jobs`, CSV export, and the job detail modal
// (parameters, timings, error, failed symbols, Retry / Cancel).
import * as api from "./api.js";
import {
  $, el, icon, clear, debounce, kindLabel, statusInfo, statusBadge, isTerminal, isRunning, shortId,
  symbolsSummary, fmtInt, fmtDuration, fmtDateTime, count,
} from "./util.js";
import { toast, errorToast } from "./toasts.js";
import { jobModel } from "./jobs.js";

const PAGE_SIZE = 20;
const REFRESH_MS = 5000;
const RETRYABLE = new Set(["failed", "error", "cancelled", "completed_with_errors"]);

const filter = { query: "", kind: "", status: "", page: 1, pageSize: PAGE_SIZE };
let total = 0;
let seq = 0;
let hooks = { onChanged: () => {}, onSubmitted: () => {} };

function currentFilter() {
  return {
    query: filter.query.trim(),
    kind: filter.kind || null,
    status: filter.status || null,
    page: filter.page,
    pageSize: filter.pageSize,
  };
}

function progressCell(job) {
  const p = Math.max(0, Math.min(100, Math.round(Number(job.progress) || 0)));
  const info = statusInfo(job.status);
  const bar = el("div", {
    class: `progress-bar ${info.group === "bad" ? "bg-danger" : info.group === "warn" ? "bg-warning" : info.group === "done" ? "bg-success" : ""}`,
  });
  bar.style.width = `${p}%`;
  return el(
    "td",
    { class: "col-progress" },
    el("div", { class: "d-flex align-items-center gap-2" },
      el("div", { class: "progress flex-grow-1", attrs: { role: "progressbar", "aria-label": "Progress", "aria-valuenow": p, "aria-valuemin": 0, "aria-valuemax": 100 } }, bar),
      el("span", { class: "small num text-body-secondary", text: `${p}%` })),
  );
}

function row(job) {
  const summary = symbolsSummary(job);
  const tr = el(
    "tr",
    { tabIndex: 0, dataset: { jobId: job.jobId, status: job.status || "", submittedAt: job.submittedAt || "" }, attrs: { "aria-label": `Job ${shortId(job.jobId)}, ${kindLabel(job.jobType)}, ${statusInfo(job.status).label}. Press Enter for details.` } },
    el("td", {}, el("code", { text: shortId(job.jobId), title: job.jobId })),
    el("td", { text: kindLabel(job.jobType) }),
    el("td", { class: "col-symbols font-monospace small", text: summary, title: summary }),
    el("td", {}, statusBadge(job.status)),
    progressCell(job),
    el("td", { class: "text-end num", text: fmtInt(job.ohlcvRecordsLoaded || 0) }),
    el("td", { class: "small", text: fmtDateTime(job.submittedAt, { seconds: false }), title: job.submittedAt ? fmtDateTime(job.submittedAt, { alwaysDate: true }) : "" }),
    el("td", { class: "text-end num small col-duration", text: fmtDuration(job.durationSeconds) }),
  );
  return tr;
}

function liveOr(job) {
  const live = jobModel(job.jobId);
  return live ? { ...job, ...live, submittedAt: job.submittedAt || live.submittedAt } : job;
}

/** Brings the row of a job in view up to date with the page's model of it. */
export function updateRow(job) {
  const tbody = $("#history-table tbody");
  const old = tbody && tbody.querySelector(`tr[data-job-id="${CSS.escape(job.jobId)}"]`);
  if (!old) return;
  const hadFocus = old === document.activeElement;
  const submittedAt = old.dataset.submittedAt;
  const fresh = row({ ...job, submittedAt: submittedAt || job.submittedAt });
  old.replaceWith(fresh);
  if (hadFocus) fresh.focus();
}

/** Loads the current page of history and renders it. */
export async function loadHistory() {
  const mySeq = ++seq;
  const tbody = $("#history-table tbody");
  let result;
  try {
    result = await api.listJobs(currentFilter());
  } catch (err) {
    if (mySeq !== seq) return;
    clear(tbody);
    tbody.append(el("tr", {}, el("td", { colSpan: 8, class: "text-danger py-4 text-center", text: `Cannot load jobs: ${err.message}` })));
    $("#history-summary").textContent = "";
    return;
  }
  if (mySeq !== seq) return;
  const items = Array.isArray(result && result.items) ? result.items : [];
  total = Number(result && result.total) || 0;
  const focusedId = document.activeElement && document.activeElement.closest && document.activeElement.closest("#history-table tbody tr")?.dataset.jobId;
  clear(tbody);
  if (!items.length) {
    const filtered = filter.query || filter.kind || filter.status;
    tbody.append(
      el("tr", { class: "empty-row" },
        el("td", { colSpan: 8, class: "text-body-secondary text-center py-4" },
          icon("inbox", "me-2"), filtered ? "No jobs match these filters." : "No jobs yet. Submitted loads are listed here.")),
    );
  }
  // A job the page follows live is shown from the same model as its card.
  for (const job of items) tbody.append(row(liveOr(job)));
  if (focusedId) {
    const again = tbody.querySelector(`tr[data-job-id="${CSS.escape(focusedId)}"]`);
    if (again) again.focus();
  }
  const pages = Math.max(1, Math.ceil(total / filter.pageSize));
  if (filter.page > pages && total > 0) {
    filter.page = pages;
    return loadHistory();
  }
  const from = total ? (filter.page - 1) * filter.pageSize + 1 : 0;
  const to = Math.min(total, (filter.page - 1) * filter.pageSize + items.length);
  const db = result && result.database;
  const shown = total ? `Showing ${fmtInt(from)}–${fmtInt(to)} of ${count(total, "job")}` : "";
  $("#history-summary").textContent = db ? (shown ? `${shown} · history in ${db}` : `History in ${db}`) : shown;
  $("#history-summary").title = result && result.database ? `The job history shown is kept in ${result.database}` : "";
  $("#history-page").textContent = `${filter.page} / ${pages}`;
  $("#history-prev").disabled = filter.page <= 1;
  $("#history-next").disabled = filter.page >= pages;
}

async function exportCsv() {
  const btn = $("#btn-export-csv");
  btn.disabled = true;
  try {
    // Same filter shape as list_jobs; the backend exports every matching job, not one
    // page, through the system's Save dialog, and says where the file went.
    const res = await api.exportJobsCsv(currentFilter());
    if (res && res.path) {
      toast({ title: "Jobs exported", body: `Saved to ${res.path}.`, variant: "success" });
    } else if (res && res.cancelled) {
      toast({ title: "Export cancelled", body: "No file was written.", variant: "info" });
    }
  } catch (err) {
    errorToast("Could not export jobs", err);
  } finally {
    btn.disabled = false;
  }
}

// Detail modal --------------------------------------------------------------------------

let detailJob = null;
let detailTimer = null;

function kvList(entries) {
  const dl = el("dl", { class: "kv-list" });
  for (const [k, v] of entries) {
    dl.append(el("dt", { text: k }), el("dd", {}, v instanceof Node ? v : String(v ?? "—")));
  }
  return dl;
}

function paramValue(value) {
  if (value === null || value === undefined) return el("span", { class: "text-body-secondary", text: "—" });
  if (Array.isArray(value) && value.every((v) => v === null || typeof v !== "object")) {
    return el("span", { class: "font-monospace", text: value.length ? value.join(", ") : "(none)" });
  }
  if (typeof value === "object") return el("pre", { text: JSON.stringify(value, null, 2) });
  if (typeof value === "boolean") return el("span", { text: value ? "yes" : "no" });
  return el("span", { class: typeof value === "string" ? "font-monospace" : "num", text: String(value) });
}

function section(title, ...content) {
  return el("section", { class: "detail-section" }, el("h3", { text: title }), ...content);
}

function renderDetail(job) {
  detailJob = job;
  const info = statusInfo(job.status);
  $("#job-modal .job-modal-kind").textContent = kindLabel(job.jobType);
  const idEl = $("#job-modal .job-modal-id");
  idEl.textContent = shortId(job.jobId);
  idEl.title = job.jobId;
  const statusSlot = $("#job-modal .job-modal-status");
  clear(statusSlot);
  statusSlot.append(statusBadge(job.status));

  const body = $("#job-modal-body");
  clear(body);
  const p = Math.max(0, Math.min(100, Math.round(Number(job.progress) || 0)));
  const bar = el("div", {
    class: `progress-bar${isRunning(job.status) ? " progress-bar-striped progress-bar-animated" : ""}${info.group === "bad" ? " bg-danger" : info.group === "warn" ? " bg-warning" : info.group === "done" ? " bg-success" : ""}`,
    attrs: { role: "progressbar", "aria-valuenow": p, "aria-valuemin": 0, "aria-valuemax": 100, "aria-label": "Progress" },
    text: `${p}%`,
  });
  bar.style.width = `${p}%`;
  const total = Number(job.totalSymbols) || 0;
  body.append(
    section(
      "Progress",
      el("div", { class: "progress mb-2" }, bar),
      kvList([
        ["Symbols", total ? `${fmtInt(job.processedSymbols || 0)} of ${fmtInt(total)} processed` : fmtInt(job.processedSymbols || 0)],
        ["Bars loaded", fmtInt(job.ohlcvRecordsLoaded || 0)],
        ...(job.currentSymbol && !isTerminal(job.status) ? [["Current symbol", el("span", { class: "font-monospace", text: job.currentSymbol })]] : []),
        ["Message", job.message || "—"],
      ]),
    ),
    section(
      "Timings",
      kvList([
        ["Submitted", fmtDateTime(job.submittedAt, { alwaysDate: true })],
        ["Started", fmtDateTime(job.startedAt, { alwaysDate: true })],
        ["Completed", fmtDateTime(job.completedAt, { alwaysDate: true })],
        ["Duration", fmtDuration(job.durationSeconds)],
      ]),
    ),
  );
  if (job.errorMessage) {
    body.append(section("Error", el("div", { class: "alert alert-danger mb-0 error-text", attrs: { role: "alert" }, text: job.errorMessage })));
  }
  const failed = Array.isArray(job.failedSymbols) ? job.failedSymbols : [];
  if (failed.length) {
    const tbody = el("tbody");
    for (const f of failed) {
      const sym = typeof f === "string" ? f : f.symbol;
      const reason = typeof f === "string" ? "" : f.reason;
      tbody.append(el("tr", {}, el("td", { class: "font-monospace", text: sym || "?" }), el("td", { class: "error-text", text: reason || "—" })));
    }
    body.append(
      section(
        `Failed symbols (${fmtInt(failed.length)})`,
        el("div", { class: "failed-list table-responsive" },
          el("table", { class: "table table-sm mb-0" },
            el("thead", {}, el("tr", {}, el("th", { scope: "col", text: "Symbol" }), el("th", { scope: "col", text: "Reason" }))),
            tbody)),
      ),
    );
  }
  const ok = Array.isArray(job.successfulSymbols) ? job.successfulSymbols : [];
  if (ok.length) {
    const shown = ok.slice(0, 200).join(", ") + (ok.length > 200 ? ` … +${fmtInt(ok.length - 200)} more` : "");
    body.append(section(`Loaded symbols (${fmtInt(ok.length)})`, el("p", { class: "font-monospace small mb-0 text-break", text: shown })));
  }
  const log = Array.isArray(job.log) ? job.log : [];
  if (log.length) {
    const lines = el("div", { class: "job-log font-monospace small", attrs: { role: "log", "aria-label": "The job's log" } });
    for (const l of log) {
      const level = String(l.level || "INFO").toUpperCase();
      lines.append(el("div", { class: `log-line log-${level.toLowerCase()}` },
        el("span", { class: "log-time text-body-secondary", text: fmtDateTime(l.at), title: fmtDateTime(l.at, { alwaysDate: true }) }), " ",
        el("span", { class: "log-level", text: level.padEnd(5) }), " ",
        el("span", { class: "log-message", text: l.message || "" })));
    }
    body.append(section(`Log (${count(log.length, "line")})`, lines));
  }
  const params = job.params && typeof job.params === "object" ? Object.entries(job.params) : [];
  body.append(
    section(
      "Parameters",
      kvList([["job_id", el("span", { class: "font-monospace", text: job.jobId })], ["job_type", el("span", { class: "font-monospace", text: job.jobType })], ...params.filter(([k]) => k !== "job_id" && k !== "job_type").map(([k, v]) => [k, paramValue(v)])]),
    ),
  );

  const active = job.active || !isTerminal(job.status);
  $("#btn-job-retry").classList.toggle("d-none", !RETRYABLE.has(job.status));
  const cancelBtn = $("#btn-job-cancel");
  cancelBtn.classList.toggle("d-none", !active);
  cancelBtn.disabled = job.status === "cancelling";
  cancelBtn.setAttribute("aria-label", `Cancel job ${job.jobId}`);
  $("#btn-job-retry").setAttribute("aria-label", `Retry job ${job.jobId}`);
}

async function refreshDetail() {
  if (!detailJob) return;
  try {
    const job = await api.jobDetail(detailJob.jobId);
    if (detailJob && job && job.jobId === detailJob.jobId) renderDetail(job);
  } catch {
    /* keep what is shown */
  }
}

/** Opens the detail modal for a job. */
export async function openJobDetail(jobId) {
  const modalEl = $("#job-modal");
  const modal = window.bootstrap.Modal.getOrCreateInstance(modalEl);
  detailJob = { jobId };
  $("#job-modal .job-modal-kind").textContent = "Job";
  $("#job-modal .job-modal-id").textContent = shortId(jobId);
  clear($("#job-modal .job-modal-status"));
  const body = $("#job-modal-body");
  clear(body);
  body.append(el("div", { class: "text-center py-4 text-body-secondary" }, el("span", { class: "spinner-border spinner-border-sm me-2", attrs: { "aria-hidden": "true" } }), "Loading…"));
  $("#btn-job-retry").classList.add("d-none");
  $("#btn-job-cancel").classList.add("d-none");
  modal.show();
  try {
    renderDetail(await api.jobDetail(jobId));
  } catch (err) {
    clear(body);
    body.append(el("div", { class: "alert alert-danger mb-0", text: `Cannot load job ${shortId(jobId)}: ${err.message}` }));
  }
}

async function retryCurrent() {
  if (!detailJob) return;
  const btn = $("#btn-job-retry");
  btn.disabled = true;
  try {
    const res = await api.retryJob(detailJob.jobId);
    toast({ title: "Retry submitted", mono: shortId(res && res.jobId), body: `Retrying job ${shortId(detailJob.jobId)}.`, variant: "success" });
    window.bootstrap.Modal.getOrCreateInstance($("#job-modal")).hide();
    hooks.onSubmitted(res && res.jobId);
    hooks.onChanged();
  } catch (err) {
    errorToast("Could not retry the job", err);
  } finally {
    btn.disabled = false;
  }
}

async function cancelCurrent() {
  if (!detailJob) return;
  const btn = $("#btn-job-cancel");
  btn.disabled = true;
  try {
    await api.cancelJob(detailJob.jobId);
    toast({ title: "Cancel requested", mono: shortId(detailJob.jobId), variant: "info" });
    hooks.onChanged();
    refreshDetail();
  } catch (err) {
    errorToast("Could not cancel the job", err);
    btn.disabled = false;
  }
}

export function initHistory({ onChanged, onSubmitted } = {}) {
  if (onChanged) hooks.onChanged = onChanged;
  if (onSubmitted) hooks.onSubmitted = onSubmitted;
  const search = debounce(() => {
    filter.page = 1;
    loadHistory();
  }, 300);
  $("#history-filters").addEventListener("submit", (e) => {
    e.preventDefault();
    search.cancel();
    filter.page = 1;
    loadHistory();
  });
  $("#history-query").addEventListener("input", (e) => {
    filter.query = e.target.value;
    search();
  });
  $("#history-kind").addEventListener("change", (e) => {
    filter.kind = e.target.value;
    filter.page = 1;
    loadHistory();
  });
  $("#history-status").addEventListener("change", (e) => {
    filter.status = e.target.value;
    filter.page = 1;
    loadHistory();
  });
  $("#history-prev").addEventListener("click", () => {
    if (filter.page > 1) {
      filter.page--;
      loadHistory();
    }
  });
  $("#history-next").addEventListener("click", () => {
    filter.page++;
    loadHistory();
  });
  $("#btn-history-refresh").addEventListener("click", () => loadHistory());
  $("#btn-export-csv").addEventListener("click", exportCsv);

  const tbody = $("#history-table tbody");
  tbody.addEventListener("click", (e) => {
    const tr = e.target.closest("tr[data-job-id]");
    if (tr) openJobDetail(tr.dataset.jobId);
  });
  tbody.addEventListener("keydown", (e) => {
    const tr = e.target.closest("tr[data-job-id]");
    if (!tr) return;
    if (e.key === "Enter" || e.key === " ") {
      e.preventDefault();
      openJobDetail(tr.dataset.jobId);
    } else if (e.key === "ArrowDown" || e.key === "ArrowUp") {
      e.preventDefault();
      const next = e.key === "ArrowDown" ? tr.nextElementSibling : tr.previousElementSibling;
      if (next && next.dataset.jobId) next.focus();
    }
  });

  const modalEl = $("#job-modal");
  $("#btn-job-retry").addEventListener("click", retryCurrent);
  $("#btn-job-cancel").addEventListener("click", cancelCurrent);
  modalEl.addEventListener("shown.bs.modal", () => {
    clearInterval(detailTimer);
    detailTimer = setInterval(() => {
      if (detailJob && detailJob.status && !isTerminal(detailJob.status)) refreshDetail();
    }, 1500);
  });
  modalEl.addEventListener("hidden.bs.modal", () => {
    clearInterval(detailTimer);
    detailJob = null;
  });

  setInterval(() => {
    if (!document.hidden) loadHistory();
  }, REFRESH_MS);
  return loadHistory();
}
