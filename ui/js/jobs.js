// Active jobs: one card per job, refreshed from ONE `active_jobs` call per second, updated
// in place (so focus and the progress animation survive). Announces jobs that finish, from
// the poll or from the backend's "job-finished" event, once each: a toast, a native
// notification when the window is hidden, and the onFinished callbacks.
import * as api from "./api.js";
import {
  $, el, icon, clear, kindLabel, KIND_ICONS, statusInfo, isTerminal, isRunning,
  shortId, fmtInt, fmtRate, fmtDuration,
} from "./util.js";
import { toast, errorToast } from "./toasts.js";

const POLL_MS = 1000;
const GROUP_CLASSES = ["st-running", "st-queued", "st-done", "st-warn", "st-bad"];

const cards = new Map(); // jobId -> {node, refs}
const seenLive = new Set(); // ids seen in a non-terminal state during this session
const announced = new Set();
let previousIds = new Set();
const watched = new Set(); // ids to look up if they are missing from the active list
let inFlight = null;
let timer = null;
let hooks = { onFinished: () => {}, openDetail: () => {} };

function buildCard(job) {
  const id = job.jobId;
  const refs = {};
  refs.kindIcon = icon(KIND_ICONS[job.jobType] || "gear", "text-body-secondary");
  refs.kind = el("span", { class: "fw-semibold job-kind" });
  refs.id = el("code", { class: "job-id", text: shortId(id), title: id });
  refs.status = el("span", { class: "badge rounded-pill job-status" });
  refs.details = el(
    "button",
    { type: "button", class: "btn btn-sm btn-outline-secondary btn-details ms-auto", attrs: { "aria-label": `Details of job ${id}` } },
    icon("info-circle"), " Details",
  );
  refs.cancel = el(
    "button",
    { type: "button", class: "btn btn-sm btn-outline-danger btn-cancel", attrs: { "aria-label": `Cancel job ${id}` } },
    icon("x-circle"), " Cancel",
  );
  refs.bar = el("div", {
    class: "progress-bar",
    attrs: { role: "progressbar", "aria-valuemin": "0", "aria-valuemax": "100", "aria-valuenow": "0", "aria-label": `Progress of job ${shortId(id)}` },
  });
  refs.symbol = el("dd", { class: "font-monospace job-current" });
  refs.count = el("dd", { class: "job-count" });
  refs.bars = el("dd", { class: "job-bars" });
  refs.rate = el("dd", { class: "job-rate" });
  refs.eta = el("dd", { class: "job-eta" });
  refs.message = el("p", { class: "job-message mb-0" });
  const node = el(
    "article",
    { class: "job-card", dataset: { jobId: id }, attrs: { "aria-label": `Job ${shortId(id)}` } },
    el("div", { class: "d-flex align-items-center gap-2 mb-2 flex-wrap" }, refs.kindIcon, refs.kind, refs.id, refs.status, refs.details, refs.cancel),
    el("div", { class: "progress" }, refs.bar),
    el(
      "dl",
      { class: "job-stats" },
      el("div", {}, el("dt", { text: "Current" }), refs.symbol),
      el("div", {}, el("dt", { text: "Symbols" }), refs.count),
      el("div", {}, el("dt", { text: "Bars loaded" }), refs.bars),
      el("div", {}, el("dt", { text: "Rate" }), refs.rate),
      el("div", {}, el("dt", { text: "ETA" }), refs.eta),
    ),
    refs.message,
  );
  refs.details.addEventListener("click", () => hooks.openDetail(id));
  refs.cancel.addEventListener("click", () => cancel(id, refs.cancel));
  return { node, refs };
}

function setText(node, text) {
  const t = String(text);
  if (node.textContent !== t) node.textContent = t;
}

function updateCard(card, job) {
  const { node, refs } = card;
  const info = statusInfo(job.status);
  const progress = Math.max(0, Math.min(100, Math.round(Number(job.progress) || 0)));
  const running = isRunning(job.status);
  node.classList.remove(...GROUP_CLASSES);
  node.classList.add(`st-${info.group}`);
  node.dataset.status = job.status;
  setText(refs.kind, kindLabel(job.jobType));
  setText(refs.status, info.label);
  const badgeClass = `badge rounded-pill job-status ${info.badge}`;
  if (refs.status.className !== badgeClass) refs.status.className = badgeClass;
  refs.status.dataset.status = job.status || "";

  refs.bar.style.width = `${progress}%`; // CSSOM write: allowed by the CSP
  refs.bar.setAttribute("aria-valuenow", String(progress));
  setText(refs.bar, `${progress}%`);
  refs.bar.classList.toggle("progress-bar-striped", running || job.status === "cancelling");
  refs.bar.classList.toggle("progress-bar-animated", running);
  refs.bar.classList.toggle("bg-success", job.status === "completed");
  refs.bar.classList.toggle("bg-warning", job.status === "completed_with_errors" || job.status === "cancelling" || job.status === "cancelled");
  refs.bar.classList.toggle("bg-danger", job.status === "failed" || job.status === "error");
  refs.bar.classList.toggle("bg-info", info.group === "queued");

  setText(refs.symbol, job.currentSymbol || "—");
  const total = Number(job.totalSymbols) || 0;
  setText(refs.count, total ? `${fmtInt(job.processedSymbols || 0)} / ${fmtInt(total)}` : fmtInt(job.processedSymbols || 0));
  const failed = Array.isArray(job.failedSymbols) ? job.failedSymbols.length : 0;
  refs.count.title = failed ? `${failed} failed` : "";
  setText(refs.bars, fmtInt(job.ohlcvRecordsLoaded || 0));
  setText(refs.rate, running ? fmtRate(job.barsPerSecond) : "—");
  setText(refs.eta, running && job.etaSeconds != null ? fmtDuration(job.etaSeconds) : "—");
  setText(refs.message, job.errorMessage && !job.message ? job.errorMessage : job.message || "");

  const cancellable = !isTerminal(job.status) && job.status !== "cancelling";
  refs.cancel.disabled = !cancellable || refs.cancel.dataset.busy === "1";
  refs.cancel.classList.toggle("d-none", isTerminal(job.status));
}

function render(jobs) {
  const container = $("#active-jobs");
  const ids = new Set(jobs.map((j) => j.jobId));
  for (const [id, card] of cards) {
    if (!ids.has(id)) {
      const hadFocus = card.node.contains(document.activeElement);
      card.node.remove();
      cards.delete(id);
      if (hadFocus) $("#active-title").focus();
    }
  }
  jobs.forEach((job, index) => {
    let card = cards.get(job.jobId);
    if (!card) {
      card = buildCard(job);
      cards.set(job.jobId, card);
    }
    updateCard(card, job);
    if (container.children[index] !== card.node) container.insertBefore(card.node, container.children[index] || null);
  });
  $("#active-empty").classList.toggle("d-none", jobs.length > 0);
  setText($("#active-count"), String(jobs.filter((j) => !isTerminal(j.status)).length));
}

async function cancel(id, button) {
  button.disabled = true;
  button.dataset.busy = "1";
  try {
    const res = await api.cancelJob(id);
    toast({ title: "Cancel requested", mono: shortId(id), body: res && res.status ? `Status: ${res.status}` : "", variant: "info" });
    pollActive();
  } catch (err) {
    errorToast(`Could not cancel job ${shortId(id)}`, err);
  } finally {
    delete button.dataset.busy;
  }
}

const FINISH = {
  completed: { title: "Job completed", variant: "success" },
  completed_with_errors: { title: "Job completed with errors", variant: "warning" },
  failed: { title: "Job failed", variant: "danger" },
  error: { title: "Job failed", variant: "danger" },
  cancelled: { title: "Job cancelled", variant: "warning" },
};

/** Announces a finished job once (toast, native notification when hidden, callbacks). */
export function announceFinished(job) {
  if (!job || !job.jobId || announced.has(job.jobId)) return;
  announced.add(job.jobId);
  const f = FINISH[job.status] || { title: "Job left the active list", variant: "info" };
  const parts = [kindLabel(job.jobType)];
  if (job.ohlcvRecordsLoaded) parts.push(`${fmtInt(job.ohlcvRecordsLoaded)} bars`);
  const failed = Array.isArray(job.failedSymbols) ? job.failedSymbols.length : 0;
  if (failed) parts.push(`${failed} symbol${failed === 1 ? "" : "s"} failed`);
  const text = job.errorMessage || job.message || "";
  const body = parts.join(" · ") + (text ? `\n${text}` : "");
  toast({ title: f.title, mono: shortId(job.jobId), body, variant: f.variant });
  if (document.hidden) {
    api.notify(`${f.title} (${shortId(job.jobId)})`, body).catch(() => {});
  }
  hooks.onFinished(job);
}

async function announceVanished(id) {
  try {
    const job = await api.jobDetail(id);
    if (job && !isTerminal(job.status)) {
      watched.add(id); // not in the active list yet (or any more) but not finished: look again later
      return;
    }
    announceFinished(job);
  } catch (err) {
    if (err && err.kind !== "not_found") {
      watched.add(id);
      return;
    }
    announceFinished({ jobId: id, status: "unknown", jobType: "" });
  }
}

/** Follows a job this page just submitted, so it is announced even if it finishes between polls. */
export function trackJob(jobId) {
  if (!jobId) return;
  seenLive.add(jobId);
  watched.add(jobId);
}

/** Fetches active jobs once (one call for all) and renders them. */
export function pollActive() {
  if (inFlight) return inFlight;
  inFlight = api
    .activeJobs()
    .then((list) => {
      const jobs = Array.isArray(list) ? list : [];
      $("#active-error").textContent = "";
      render(jobs);
      const ids = new Set();
      for (const job of jobs) {
        ids.add(job.jobId);
        if (!isTerminal(job.status)) seenLive.add(job.jobId);
        else if (seenLive.has(job.jobId)) announceFinished(job);
      }
      const missing = new Set([...previousIds, ...watched]);
      watched.clear();
      for (const id of missing) {
        if (!ids.has(id) && seenLive.has(id) && !announced.has(id)) announceVanished(id);
      }
      previousIds = ids;
      return jobs;
    })
    .catch((err) => {
      $("#active-error").textContent = `Cannot load active jobs: ${err.message}`;
      return null;
    })
    .finally(() => {
      inFlight = null;
    });
  return inFlight;
}

export function initJobs({ onFinished, openDetail } = {}) {
  hooks = { onFinished: onFinished || hooks.onFinished, openDetail: openDetail || hooks.openDetail };
  clear($("#active-jobs"));
  api.onJobFinished((job) => {
    if (job && job.jobId) seenLive.add(job.jobId);
    announceFinished(job);
    pollActive();
  }).catch(() => {});
  const first = pollActive();
  timer = setInterval(pollActive, POLL_MS);
  return first;
}

export function stopJobs() {
  clearInterval(timer);
}
