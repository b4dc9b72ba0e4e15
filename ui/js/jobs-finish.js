// Finished jobs announced once each: one toast per finish, or one summary when many finish together.
import * as api from "./api.js";
import { kindLabel, statusInfo, shortId, fmtInt, count } from "./util.js";
import { toast } from "./toasts.js";

let onFinished = () => {};

/** The toast for a job that left the active list: what happened, with its final state. */
export function finishToast(job) {
  const f = FINISH[job.status];
  if (f) return { title: f.title, body: jobSummary(job), variant: f.variant };
  // Gone from the active jobs without a final state here (the history has the rest).
  const last = statusInfo(job.status).label;
  return {
    title: "Job left the active list",
    body: `Its last state seen here was “${last}”; it is no longer among the active jobs. Its detail shows what the history holds.`,
    variant: "info",
  };
}

const FINISH = {
  completed: { title: "Job completed", variant: "success" },
  completed_with_errors: { title: "Job completed with errors", variant: "warning" },
  failed: { title: "Job failed", variant: "danger" },
  error: { title: "Job failed", variant: "danger" },
  cancelled: { title: "Job cancelled", variant: "warning" },
};

/** Finishes arriving within this long are announced together. */
const COALESCE_MS = 800;
/** More finishes than this at once give one summary toast. */
const MAX_SINGLE_TOASTS = 3;

const announced = new Set();
let pendingFinished = [];
let flushTimer = null;

function jobSummary(job) {
  const parts = [kindLabel(job.jobType)];
  if (job.ohlcvRecordsLoaded) parts.push(count(job.ohlcvRecordsLoaded, "bar"));
  const failed = Array.isArray(job.failedSymbols) ? job.failedSymbols.length : 0;
  if (failed) parts.push(`${failed} symbol${failed === 1 ? "" : "s"} failed`);
  const text = job.errorMessage || job.message || "";
  return parts.join(" · ") + (text ? `\n${text}` : "");
}

function flushFinished() {
  flushTimer = null;
  const jobs = pendingFinished;
  pendingFinished = [];
  if (!jobs.length) return;
  if (jobs.length <= MAX_SINGLE_TOASTS) {
    for (const job of jobs) {
      const f = finishToast(job);
      toast({ title: f.title, mono: shortId(job.jobId), body: f.body, variant: f.variant });
      if (document.hidden) api.notify(`${f.title} (${shortId(job.jobId)})`, f.body).catch(() => {});
    }
  } else {
    const counts = new Map();
    for (const job of jobs) {
      const label = statusInfo(job.status).label;
      counts.set(label, (counts.get(label) || 0) + 1);
    }
    const body = [...counts].sort((a, b) => b[1] - a[1]).map(([label, n]) => `${fmtInt(n)} ${label.toLowerCase()}`).join(" · ");
    const bad = jobs.some((j) => j.status === "failed" || j.status === "error");
    const warn = jobs.some((j) => j.status !== "completed");
    const title = `${fmtInt(jobs.length)} jobs finished`;
    toast({ title, body, variant: bad ? "danger" : warn ? "warning" : "success" });
    if (document.hidden) api.notify(title, body).catch(() => {});
  }
  onFinished(jobs);
}

/** Announces a finished job once; finishes close together are coalesced. */
export function announceFinished(job) {
  if (!job || !job.jobId || announced.has(job.jobId)) return;
  announced.add(job.jobId);
  pendingFinished.push(job);
  if (!flushTimer) flushTimer = setTimeout(flushFinished, COALESCE_MS);
}

/** What runs after finishes have been announced. */
export function initFinishes(fn) {
  if (fn) onFinished = fn;
}
