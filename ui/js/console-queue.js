// The Operations card's Queue tab: waiting and in-flight jobs as compact rows, and the queue's pause.
import * as api from "./api.js";
import { $, el, clear, kindLabel, statusBadge, fmtDuration, fmtDateTime, fmtInt } from "./util.js";
import { confirmAction } from "./confirm.js";
import { jobCell, emptyRow, note, act } from "./console-common.js";

export function renderQueue(q) {
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

export async function togglePause() {
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
