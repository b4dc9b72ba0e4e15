// Entry point: wires the page's sections together and marks the page ready
// (document.body.dataset.ready = "1") once the first health and jobs render is done.
import * as api from "./api.js";
import { $ } from "./util.js";
import { errorToast } from "./toasts.js";
import { initStatus, refreshHealth, onHealth } from "./status.js";
import { initSubmit } from "./submit.js";
import { loadUniverses } from "./submit-universes.js";
import { initJobs, pollActive } from "./jobs.js";
import { setQueuePaused, setWorkers } from "./jobs-cards.js";
import { initHistory, loadHistory, openJobDetail, updateRow } from "./history.js";
import { initOps } from "./ops.js";
import { initSummary, loadSummary } from "./summary.js";
import { initSettings, checkFirstRun } from "./settings.js";
import { initAbout, openLogs } from "./about.js";
import { initCoverage, loadCoverage } from "./coverage.js";
import { initConsole, refresh as refreshConsole } from "./console.js";
import { showQueueBadge } from "./console-queue.js";

const THEME_LABELS = {
  auto: ["circle-half", "Colour scheme: follows the system"],
  light: ["sun", "Colour scheme: light"],
  dark: ["moon-stars", "Colour scheme: dark"],
};

/** The header's light/dark toggle: auto → light → dark. */
function initThemeToggle() {
  const btn = $("#btn-theme");
  const theme = window.tickstockTheme;
  if (!btn || !theme) return;
  const show = (c) => {
    const [name, label] = THEME_LABELS[c] || THEME_LABELS.auto;
    btn.querySelector("i").className = `bi bi-${name}`;
    btn.title = label;
    btn.setAttribute("aria-label", label);
  };
  show(theme.choice());
  btn.addEventListener("click", () => show(theme.cycle()));
}

function jobsChanged() {
  // After a submit, retry, cancel or cleanup: refresh everything that shows jobs.
  pollActive();
  loadHistory();
  refreshHealth();
}

/** Every panel read again: after a change of settings (the backend may now be another
 * Redis and another database) and when jobs end (their bars are stored). */
function refreshAll({ settings = false } = {}) {
  jobsChanged();
  if (settings) loadUniverses();
  loadSummary();
  loadCoverage();
  refreshConsole();
}

async function start() {
  if (api.isPreview) $("#preview-badge").classList.remove("d-none");

  $("#btn-open-logs").addEventListener("click", openLogs);
  initThemeToggle();

  initSettings({ onSaved: () => refreshAll({ settings: true }) });
  // What the status bar reads every second also keeps the queue's pause on the job cards
  // and the Queue tab's count current.
  onHealth((h) => {
    const q = h && h.queue;
    setQueuePaused(q ? q.pausedBy : null);
    setWorkers(h && h.workers);
    showQueueBadge(q ? Number(q.waiting || 0) + Number(q.inFlight || 0) : 0);
  });
  initAbout();
  initOps({ onChanged: jobsChanged });
  const ready = Promise.all([
    initStatus(),
    initJobs({
      openDetail: openJobDetail,
      onChange: updateRow,
      onFinished: () => refreshAll(),
    }),
    initHistory({ onChanged: jobsChanged }),
  ]);
  initSubmit({
    onSubmitted: () => jobsChanged(),
  });
  initSummary();
  initConsole({ openDetail: openJobDetail, onChanged: jobsChanged });
  initCoverage({
    onSubmitted: () => jobsChanged(),
  });

  await ready;
  document.body.dataset.ready = "1";
  await checkFirstRun();
}

start().catch((err) => {
  // Keep the page usable and say what went wrong.
  console.error(err);
  document.body.dataset.ready = "1";
  errorToast("The page failed to start", err);
});
