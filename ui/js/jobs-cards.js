// Active job cards, updated in place from each job's model; they show a paused queue and silent workers.
import * as api from "./api.js";
import {
  $, el, icon, kindLabel, KIND_ICONS, statusInfo, isTerminal, isRunning,
  shortId, fmtInt, fmtRate, fmtDuration,
} from "./util.js";
import { toast, errorToast } from "./toasts.js";

const GROUP_CLASSES = ["st-running", "st-queued", "st-done", "st-warn", "st-bad"];

const cards = new Map(); // jobId -> {node, refs, job}
let pausedBy = null; // who paused the queue, while it is paused
let workers = []; // the status bar's workers, with their heartbeats
let hooks = { openDetail: () => {}, onCancelled: () => {} };

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

/**
 * What a running job's card says when its worker went silent (missed heartbeats), or null.
 * Exported for tests.
 */
export function silentNote(job, list) {
  if (!job || !isRunning(job.status) || !job.worker) return null;
  const w = (list || []).find((x) => x && x.id === job.worker);
  if (!w || !w.silent) return null;
  const others = (list || []).some((x) => x && x.id !== w.id && x.alive && !x.silent);
  const then = others
    ? "another worker resumes this job from its checkpoint once its lease lapses (a minute after the last beat)."
    : "no other worker is running: the job resumes from its checkpoint when one starts.";
  return `Worker ${w.id} went silent (no heartbeat for ${fmtDuration(w.ageSeconds)}): ${then}`;
}

function updateCard(card, job) {
  card.job = job;
  const { node, refs } = card;
  const info = statusInfo(job.status);
  // A waiting job does not start while the queue is paused: the card says so.
  const held = pausedBy !== null && info.group === "queued";
  const progress = Math.max(0, Math.min(100, Math.round(Number(job.progress) || 0)));
  // A job whose worker went silent is not running on: the card says what happens next.
  const silent = silentNote(job, workers);
  const running = isRunning(job.status) && !silent;
  node.classList.remove(...GROUP_CLASSES);
  node.classList.add(`st-${info.group}`);
  node.dataset.status = job.status;
  setText(refs.kind, kindLabel(job.jobType));
  setText(refs.status, held ? "Queue paused" : silent ? "Worker silent" : info.label);
  refs.status.title = held ? `Paused by ${pausedBy}: it starts when the queue is resumed` : silent ? "Its worker stopped sending heartbeats" : "";
  node.dataset.held = held ? "1" : "";
  node.dataset.silent = silent ? "1" : "";
  const badgeClass = `badge rounded-pill job-status ${silent ? "text-bg-warning" : info.badge}`;
  if (refs.status.className !== badgeClass) refs.status.className = badgeClass;
  refs.status.dataset.status = job.status || "";

  refs.bar.style.width = `${progress}%`; // CSSOM write: allowed by the CSP
  refs.bar.setAttribute("aria-valuenow", String(progress));
  setText(refs.bar, `${progress}%`);
  refs.bar.classList.toggle("progress-bar-striped", isRunning(job.status) || job.status === "cancelling");
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
  const message = job.errorMessage && !job.message ? job.errorMessage : job.message || "";
  setText(refs.message, held ? `Waiting: the queue is paused (by ${pausedBy}); this job starts when it is resumed.` : silent || message);

  const cancellable = !isTerminal(job.status) && job.status !== "cancelling";
  refs.cancel.disabled = !cancellable || refs.cancel.dataset.busy === "1";
  refs.cancel.classList.toggle("d-none", isTerminal(job.status));
}

export function render(jobs) {
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
    hooks.onCancelled();
  } catch (err) {
    errorToast(`Could not cancel job ${shortId(id)}`, err);
  } finally {
    delete button.dataset.busy;
  }
}

/** The queue's pause from the status bar's health (null: not paused); waiting cards say so. */
export function setQueuePaused(by) {
  const next = by ? String(by) : null;
  if (next === pausedBy) return;
  pausedBy = next;
  for (const card of cards.values()) if (card.job) updateCard(card, card.job);
}

/** The status bar's workers: a running job whose worker went silent says so on its card. */
export function setWorkers(list) {
  const next = Array.isArray(list) ? list : [];
  const key = (l) => l.map((w) => `${w.id}:${w.silent ? 1 : 0}:${w.alive ? 1 : 0}:${Math.round(w.ageSeconds || 0)}`).join(",");
  if (key(next) === key(workers)) return;
  workers = next;
  for (const card of cards.values()) if (card.job) updateCard(card, card.job);
}

/** What a card's Details button opens, and what runs once a cancel was asked for. */
export function initCards({ openDetail, onCancelled }) {
  if (openDetail) hooks.openDetail = openDetail;
  hooks.onCancelled = onCancelled;
}
