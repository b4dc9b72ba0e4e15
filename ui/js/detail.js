// The job detail modal: progress, timings, who and where, errors grouped by reason, bars per
// symbol and timeframe, the job's own log, its parameters; Retry (all, failed symbols only,
// the rest), Cancel, Copy id. A deep link (#job=ID) opens it.
// The sections of its body are detail-sections.js.
import * as api from "./api.js";
import { $, el, clear, kindLabel, statusBadge, isTerminal, shortId } from "./util.js";
import { toast, errorToast } from "./toasts.js";
import { renderSections } from "./detail-sections.js";

const RETRYABLE = new Set(["failed", "error", "cancelled", "completed_with_errors"]);
let hooks = { onChanged: () => {}, onSubmitted: () => {} };

let detailJob = null;
let detailTimer = null;

function renderDetail(job) {
  detailJob = job;
  $("#job-modal .job-modal-kind").textContent = kindLabel(job.jobType);
  const idEl = $("#job-modal .job-modal-id");
  idEl.textContent = shortId(job.jobId);
  idEl.title = job.jobId;
  const statusSlot = $("#job-modal .job-modal-status");
  clear(statusSlot);
  statusSlot.append(statusBadge(job.status));

  renderSections($("#job-modal-body"), job);

  const active = job.active || !isTerminal(job.status);
  $("#btn-job-retry").classList.toggle("d-none", !RETRYABLE.has(job.status));
  const failedCount = Array.isArray(job.failedSymbols) ? job.failedSymbols.length : 0;
  $("#btn-job-retry-failed").classList.toggle("d-none", !(isTerminal(job.status) && failedCount > 0));
  $("#btn-job-resume").classList.toggle("d-none", !(job.status === "cancelled" || job.status === "failed"));
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
  if (location.hash !== `#job=${jobId}`) history.replaceState(null, "", `#job=${jobId}`);
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

const RETRY_TEXT = {
  all: (id) => `Retrying job ${id}.`,
  failed_symbols: (id) => `Retrying the failed symbols of job ${id}.`,
  rest: (id) => `Loading what job ${id} had not loaded.`,
};

async function retryCurrent(part = "all", btn = $("#btn-job-retry")) {
  if (!detailJob) return;
  btn.disabled = true;
  try {
    const res = await api.retryJob(detailJob.jobId, part);
    toast({ title: "Retry submitted", mono: shortId(res && res.jobId), body: RETRY_TEXT[part](shortId(detailJob.jobId)), variant: "success" });
    hideDetail();
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

/** Closes the detail, after it has finished opening if it is still opening (Bootstrap
 * ignores a hide during the show transition). */
function hideDetail() {
  const modalEl = $("#job-modal");
  const modal = window.bootstrap.Modal.getOrCreateInstance(modalEl);
  if (modalEl.dataset.shown === "1") modal.hide();
  else modalEl.addEventListener("shown.bs.modal", () => modal.hide(), { once: true });
}

async function copyCurrent() {
  if (!detailJob) return;
  const link = `${location.origin}${location.pathname}#job=${detailJob.jobId}`;
  const btn = $("#btn-job-copy");
  try {
    await navigator.clipboard.writeText(detailJob.jobId);
    btn.textContent = "Copied";
  } catch (_) {
    btn.textContent = detailJob.jobId;
  }
  btn.title = `Link: ${link}`;
  setTimeout(() => {
    clear(btn);
    btn.append(el("i", { class: "bi bi-clipboard", attrs: { "aria-hidden": "true" } }), " Copy id");
  }, 2000);
}

/** Opens the detail a deep link names (#job=ID), now and when the link changes. */
function followLink() {
  const m = /^#job=([0-9a-fA-F-]{8,})$/.exec(location.hash);
  if (m && (!detailJob || detailJob.jobId !== m[1])) openJobDetail(m[1]);
}

export function initDetail({ onChanged, onSubmitted } = {}) {
  if (onChanged) hooks.onChanged = onChanged;
  if (onSubmitted) hooks.onSubmitted = onSubmitted;
  const modalEl = $("#job-modal");
  $("#btn-job-retry").addEventListener("click", () => retryCurrent("all", $("#btn-job-retry")));
  $("#btn-job-retry-failed").addEventListener("click", () => retryCurrent("failed_symbols", $("#btn-job-retry-failed")));
  $("#btn-job-resume").addEventListener("click", () => retryCurrent("rest", $("#btn-job-resume")));
  $("#btn-job-cancel").addEventListener("click", cancelCurrent);
  $("#btn-job-copy").addEventListener("click", copyCurrent);
  modalEl.addEventListener("shown.bs.modal", () => {
    modalEl.dataset.shown = "1";
    clearInterval(detailTimer);
    detailTimer = setInterval(() => {
      if (detailJob && detailJob.status && !isTerminal(detailJob.status)) refreshDetail();
    }, 1500);
  });
  modalEl.addEventListener("hide.bs.modal", () => delete modalEl.dataset.shown);
  modalEl.addEventListener("hidden.bs.modal", () => {
    clearInterval(detailTimer);
    detailJob = null;
    if (location.hash.startsWith("#job=")) history.replaceState(null, "", location.pathname + location.search);
  });
  window.addEventListener("hashchange", followLink);
  followLink();
}
