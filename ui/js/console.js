// The Operations card: the queue (waiting and in flight as compact rows, with the pause),
// the workers (with Quiet and Stop) and the dead letters (Requeue, Delete, Purge all).
// The visible tab refreshes every few seconds while the window is shown; every action asks
// first when it cannot be undone and says what it did in a toast. The Dashboard tab is
// dashboard.js.
import * as api from "./api.js";
import { $, $$, el, clear, kindLabel, shortId, statusBadge, fmtDuration, fmtAge, fmtDateTime, fmtInt, fmtTime, count } from "./util.js";
import { toast, errorToast } from "./toasts.js";
import { confirmAction } from "./confirm.js";
import { initDashboard, loadDashboard } from "./dashboard.js";

/** How often the visible tab is refreshed. */
export const REFRESH_MS = 5000;

const WORKER_STATES = {
  running: ["Running", "text-bg-success"],
  quiet: ["Quiet", "text-bg-warning"],
  stopping: ["Stopping", "text-bg-warning"],
  stopped: ["Stopped", "text-bg-secondary"],
  unable: ["Unable to take jobs", "text-bg-danger"],
  silent: ["Silent", "text-bg-warning"],
  dead: ["No heartbeat", "text-bg-danger"],
};

/** A worker state's label and badge class. */
export const workerState = (s) => WORKER_STATES[s] || [String(s || "Unknown"), "text-bg-secondary"];

let openDetail = () => {};
let onChanged = () => {};
let active = "queue";
let busy = false;

function jobCell(jobId) {
  if (!jobId) return el("td", { class: "text-body-secondary", text: "—" });
  const link = el("button", {
    type: "button",
    class: "btn btn-link btn-sm p-0 font-monospace opsc-job",
    text: shortId(jobId),
    title: `Job ${jobId}: show its detail`,
  });
  link.addEventListener("click", () => openDetail(jobId));
  return el("td", {}, link);
}

function emptyRow(cols, text) {
  return el("tr", { class: "opsc-empty" }, el("td", { attrs: { colspan: cols }, text }));
}

function note(sel, text) {
  const n = $(sel);
  n.textContent = text || "";
  n.classList.toggle("d-none", !text);
}

function renderQueue(q) {
  const paused = Boolean(q.paused);
  const state = $("#opsc-queue-state");
  state.dataset.state = paused ? "paused" : "running";
  state.className = `badge ${paused ? "text-bg-warning" : "text-bg-success"}`;
  state.textContent = paused ? "Paused" : "Running";
  state.title = paused ? `Paused by ${q.paused.requestedBy} at ${fmtDateTime(q.paused.pausedAt)}` : "Workers take jobs";
  const parts = [`${fmtInt(q.waitingTotal)} waiting`, `${fmtInt(q.inFlightTotal)} in flight`];
  if (q.dead !== null && q.dead !== undefined) parts.push(`${fmtInt(q.dead)} dead`);
  if (paused) parts.push(`paused by ${q.paused.requestedBy} ${fmtDateTime(q.paused.pausedAt, { seconds: false })}`);
  $("#opsc-queue-summary").textContent = parts.join(" · ");
  const btn = $("#btn-queue-pause");
  btn.classList.toggle("d-none", !q.pausable);
  btn.dataset.action = paused ? "resume" : "pause";
  btn.className = `btn btn-sm ms-auto ${paused ? "btn-success" : "btn-outline-warning"}${q.pausable ? "" : " d-none"}`;
  btn.querySelector("i").className = `bi bi-${paused ? "play-fill" : "pause-fill"}`;
  btn.querySelector(".label").textContent = paused ? "Resume queue" : "Pause queue";
  note("#opsc-queue-note", q.note);
  showQueueBadge(q.waitingTotal + q.inFlightTotal);
  const dead = $("#opsc-badge-dead");
  dead.textContent = q.dead ? fmtInt(q.dead) : "";
  dead.classList.toggle("d-none", !q.dead);

  const wait = $("#opsc-waiting tbody");
  clear(wait);
  for (const j of q.waiting) {
    wait.append(
      el(
        "tr",
        { dataset: { jobId: j.jobId || "" } },
        jobCell(j.jobId),
        el("td", { text: kindLabel(j.kind) }),
        el("td", { text: j.requestedBy || "—" }),
        el("td", { class: "text-end opsc-age", text: fmtDuration(j.ageSeconds), title: j.since ? `Since ${fmtDateTime(j.since)}` : "" }),
      ),
    );
  }
  if (q.waitingTotal > q.waiting.length) wait.append(emptyRow(4, `and ${fmtInt(q.waitingTotal - q.waiting.length)} more`));
  if (!q.waiting.length) wait.append(emptyRow(4, "Nothing waiting"));
  const fly = $("#opsc-inflight tbody");
  clear(fly);
  for (const j of q.inFlight) {
    fly.append(
      el(
        "tr",
        { dataset: { jobId: j.jobId || "" } },
        jobCell(j.jobId),
        el("td", {}, kindLabel(j.kind), " ", j.status ? statusBadge(j.status) : null),
        el("td", { class: "font-monospace small", text: j.worker || "—" }),
        el("td", { class: "text-end", text: j.deliveries ? fmtInt(j.deliveries) : "—" }),
        el("td", { class: "text-end opsc-age", text: fmtDuration(j.ageSeconds), title: j.since ? `Since ${fmtDateTime(j.since)}` : "" }),
      ),
    );
  }
  if (q.inFlightTotal > q.inFlight.length) fly.append(emptyRow(5, `and ${fmtInt(q.inFlightTotal - q.inFlight.length)} more`));
  if (!q.inFlight.length) fly.append(emptyRow(5, "Nothing in flight"));
}

/** The Queue tab's badge: jobs waiting or in flight (kept current from the status bar's
 * health whichever tab is shown, so it never keeps a count of a queue since emptied). */
export function showQueueBadge(n) {
  const badge = $("#opsc-badge-queue");
  if (badge) badge.textContent = n > 0 ? fmtInt(n) : "";
}

function actionButton(cls, iconName, label, title, onClick) {
  const b = el("button", { type: "button", class: `btn btn-xs ${cls}`, title }, el("i", { class: `bi bi-${iconName}`, attrs: { "aria-hidden": "true" } }), ` ${label}`);
  b.addEventListener("click", onClick);
  return b;
}

function renderWorkers(v) {
  note("#opsc-workers-note", v.note);
  const body = $("#opsc-workers tbody");
  clear(body);
  for (const w of v.workers) {
    const [label, cls] = workerState(w.state);
    const gone = w.state === "stopped" || w.state === "dead";
    // PID, version and start are shown on wide windows; on narrow ones in the id's tooltip,
    // so that State, Quiet and Stop always fit.
    const wide = "d-none d-xl-table-cell";
    const facts = [`PID ${w.pid ?? "—"}`, `version ${w.version || "—"}`, `started ${fmtDateTime(w.startedAt, { seconds: false })}`].join(" · ");
    const stateTitle = w.state === "silent" ? `No heartbeat for ${fmtDuration(w.heartbeatAgeSeconds)}: crashed, frozen or cut off; its jobs go to another worker once their lease lapses` : w.cannotConsume || "";
    const actions = el("td", { class: "text-end text-nowrap" });
    if (w.command && !gone) {
      actions.append(actionButton("btn-outline-secondary btn-worker-resume", "play", "Resume", "Withdraw the command: the worker takes jobs again", () => workerAction(w, "resume")));
    } else if (!gone) {
      actions.append(
        actionButton("btn-outline-warning btn-worker-quiet me-1", "moon", "Quiet", "Finish current jobs, take no more", () => workerAction(w, "quiet")),
        actionButton("btn-outline-danger btn-worker-stop", "stop-circle", "Stop", "Stop: the current chunk finishes and the job is handed back", () => workerAction(w, "stop")),
      );
    }
    body.append(
      el(
        "tr",
        { dataset: { workerId: w.id, state: w.state } },
        el("td", { class: "font-monospace small opsc-worker-id", text: w.id, title: `${w.id}: ${facts}` }, w.builtin ? el("span", { class: "badge text-bg-primary ms-1", text: "this app" }) : null),
        el("td", { class: "opsc-host", text: w.host || "—" }),
        el("td", { class: `text-end ${wide}`, text: w.pid ?? "—" }),
        el("td", { class: wide, text: w.version || "—" }),
        el("td", { class: wide, text: fmtDateTime(w.startedAt, { seconds: false }) }),
        el("td", { class: "text-end", text: w.concurrency ?? "—" }),
        el("td", { class: "font-monospace small", text: w.currentJobs.length ? w.currentJobs.map(shortId).join(", ") : "—", title: w.currentJobs.join("\n") }),
        el("td", { class: "opsc-heartbeat", text: fmtAge(w.heartbeatAgeSeconds) }),
        el("td", {}, el("span", { class: `badge worker-state ${cls}`, text: label, title: stateTitle })),
        actions,
      ),
    );
  }
  if (!v.workers.length) body.append(emptyRow(10, v.mode === "redis" ? "No worker has sent a heartbeat in the last day" : "No workers to list in embedded mode"));
}

async function workerAction(w, command) {
  if (command !== "resume") {
    const quiet = command === "quiet";
    const ok = await confirmAction({
      title: quiet ? `Quiet worker ${w.id}?` : `Stop worker ${w.id}?`,
      body: quiet
        ? "It finishes the jobs it is running and takes no more until you resume it."
        : "Its current chunk finishes, its jobs are handed back for another worker to resume, and the worker exits.",
      confirmLabel: quiet ? "Quiet" : "Stop",
      variant: quiet ? "warning" : "danger",
    });
    if (!ok) return;
  }
  await act(() => api.commandWorker(w.id, command), "Worker");
}

function renderDead(v) {
  note("#opsc-dead-note", v.note);
  $("#opsc-dead-summary").textContent = v.mode === "redis" ? count(v.letters.length, "dead letter") : "";
  $("#btn-dead-purge").disabled = !v.letters.length;
  const body = $("#opsc-dead tbody");
  clear(body);
  for (const d of v.letters) {
    body.append(
      el(
        "tr",
        { dataset: { deadId: d.id, jobId: d.jobId || "" } },
        jobCell(d.jobId),
        el("td", { class: "text-nowrap", text: kindLabel(d.kind) }),
        el("td", { class: "opsc-reason small", text: d.reason || "—" }),
        el("td", { class: "text-end", text: fmtInt(d.deliveries) }),
        el("td", { class: "text-nowrap", text: fmtAge(d.ageSeconds), title: d.failedAt ? fmtDateTime(d.failedAt) : "" }),
        el(
          "td",
          { class: "text-end text-nowrap" },
          Object.assign(
            actionButton("btn-outline-primary btn-dead-requeue me-1", "arrow-counterclockwise", "Requeue", d.requeueable ? "Queue the job again; it resumes from its checkpoints" : "Its message is not a job: it cannot be queued again", () => deadRequeue(d)),
            { disabled: !d.requeueable },
          ),
          actionButton("btn-outline-danger btn-dead-delete", "trash", "Delete", "Delete this dead letter", () => deadDelete(d)),
        ),
      ),
    );
  }
  if (!v.letters.length) body.append(emptyRow(6, v.mode === "redis" ? "No dead letters" : "—"));
}

async function deadRequeue(d) {
  await act(() => api.requeueDeadLetter(d.id), "Dead letter");
}

async function deadDelete(d) {
  const ok = await confirmAction({
    title: "Delete this dead letter?",
    body: `Job ${d.jobId || d.id} will not be retried; its history stays.`,
    confirmLabel: "Delete",
    variant: "danger",
  });
  if (ok) await act(() => api.deleteDeadLetter(d.id), "Dead letter");
}

async function deadPurge() {
  const n = $$("#opsc-dead tbody tr[data-dead-id]").length;
  const ok = await confirmAction({
    title: `Purge ${count(n, "dead letter")}?`,
    body: "Every dead letter is deleted; none of their jobs will be retried.",
    confirmLabel: "Purge all",
    variant: "danger",
  });
  if (ok) await act(() => api.purgeDeadLetters(), "Dead letters");
}

/** Runs an action, says what it did, and refreshes. */
async function act(call, what) {
  try {
    const r = await call();
    toast({ title: r.message, variant: "success", mono: r.jobId ? shortId(r.jobId) : "" });
    onChanged();
  } catch (err) {
    errorToast(`${what}: the action failed`, err);
  }
  await refresh();
}

async function togglePause() {
  const btn = $("#btn-queue-pause");
  if (btn.dataset.action === "resume") return act(() => api.resumeQueue(), "Queue");
  const ok = await confirmAction({
    title: "Pause the queue?",
    body: "Running jobs finish; no worker starts another job until you resume. The pause lasts across restarts.",
    confirmLabel: "Pause",
    variant: "warning",
  });
  if (ok) await act(() => api.pauseQueue(), "Queue");
}

const LOADERS = {
  queue: () => api.queueView().then(renderQueue),
  workers: () => api.listWorkers().then(renderWorkers),
  dead: () => api.listDeadLetters().then(renderDead),
  dash: () => loadDashboard(),
};

let again = false;

/** Reloads the visible tab (one call at a time; a call meanwhile reloads once more after
 * it, since what it was asked for may have changed since the read under way began). */
export async function refresh() {
  if (busy) {
    again = true;
    return;
  }
  busy = true;
  try {
    do {
      again = false;
      try {
        await LOADERS[active]();
        $("#opsc-updated").textContent = `Updated ${fmtTime()}`;
        $("#ops-console").dataset.loaded = active;
      } catch (err) {
        $("#opsc-updated").textContent = `Not updated: ${err.message}`;
      }
    } while (again);
  } finally {
    busy = false;
  }
}

export function initConsole(opts = {}) {
  openDetail = opts.openDetail || openDetail;
  onChanged = opts.onChanged || onChanged;
  initDashboard();
  for (const [tab, name] of [["#opsc-tab-queue", "queue"], ["#opsc-tab-workers", "workers"], ["#opsc-tab-dead", "dead"], ["#opsc-tab-dash", "dash"]]) {
    $(tab).addEventListener("shown.bs.tab", () => {
      active = name;
      refresh();
    });
  }
  $("#btn-opsc-refresh").addEventListener("click", () => refresh());
  $("#btn-queue-pause").addEventListener("click", togglePause);
  $("#btn-dead-purge").addEventListener("click", deadPurge);
  setInterval(() => {
    if (document.visibilityState === "visible") refresh();
  }, REFRESH_MS);
  return refresh();
}
