// Active jobs: one model per job, fed by the backend's `job-events` (every change of every
// job, as it happens) and by a read-only `active_jobs` poll every two seconds; cards are
// updated in place (so focus and the progress animation survive), and the history row of
// the same job is updated from the same model. Finishes come from the backend's events
// only, once each; finishes close together are coalesced into one summary toast (and one
// native notification when the window is hidden).
// The cards are jobs-cards.js, the finishes' toasts jobs-finish.js.
import * as api from "./api.js";
import { $, clear, isTerminal } from "./util.js";
import { render, initCards } from "./jobs-cards.js";
import { announceFinished, initFinishes } from "./jobs-finish.js";

// The backend's job events carry every change at once; the poll only keeps the list whole
// (after a reload, or a change of settings).
const POLL_MS = 2000;

let inFlight = null;
let hooks = { onChange: () => {} };

/** How long a finished job's card keeps showing its final state. */
const FINISHED_CARD_MS = 10000;

// One model per job: the card and the history row both render from it.
const models = new Map(); // jobId -> job view
const finishedAt = new Map(); // jobId -> time its final state arrived

function renderModels() {
  const now = Date.now();
  for (const [id, t] of finishedAt) {
    if (now - t > FINISHED_CARD_MS) {
      finishedAt.delete(id);
      models.delete(id);
    }
  }
  const jobs = [...models.values()].sort((a, b) => String(b.submittedAt || "").localeCompare(String(a.submittedAt || "")));
  render(jobs);
}

/** The page's model of a job, when it is active or finished moments ago. */
export const jobModel = (jobId) => models.get(jobId);

/** Applies the backend's job events: one model per job, card and history row updated from it. */
function applyEvents(events) {
  if (!Array.isArray(events)) return;
  for (const ev of events) {
    const job = ev && ev.job;
    if (!job || !job.jobId) continue;
    models.set(job.jobId, job);
    if (ev.finished || isTerminal(job.status)) {
      if (!finishedAt.has(job.jobId)) finishedAt.set(job.jobId, Date.now());
      announceFinished(job);
    }
    hooks.onChange(job);
  }
  renderModels();
}

/** Fetches active jobs once (one call for all, read only) and renders them. */
export function pollActive() {
  if (inFlight) return inFlight;
  inFlight = api
    .activeJobs()
    .then((list) => {
      const jobs = Array.isArray(list) ? list : [];
      $("#active-error").textContent = "";
      const ids = new Set(jobs.map((j) => j.jobId));
      for (const id of [...models.keys()]) {
        if (!ids.has(id) && !finishedAt.has(id)) models.delete(id);
      }
      for (const job of jobs) {
        // A model already final stays final: a poll never moves a job back.
        const known = models.get(job.jobId);
        if (!(known && isTerminal(known.status) && !isTerminal(job.status))) {
          models.set(job.jobId, job);
          hooks.onChange(job);
        }
        if (isTerminal(job.status) && !finishedAt.has(job.jobId)) finishedAt.set(job.jobId, Date.now());
      }
      renderModels();
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

export function initJobs({ onFinished, openDetail, onChange } = {}) {
  if (onChange) hooks.onChange = onChange;
  initCards({ openDetail, onCancelled: pollActive });
  initFinishes(onFinished);
  clear($("#active-jobs"));
  api.onJobEvents(applyEvents).catch(() => {});
  const first = pollActive();
  setInterval(pollActive, POLL_MS);
  return first;
}
