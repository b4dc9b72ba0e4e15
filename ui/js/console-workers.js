// The Operations card's Workers tab: each worker's state and heartbeat, with Quiet, Stop and Resume.
import * as api from "./api.js";
import { $, el, clear, shortId, fmtDuration, fmtAge, fmtDateTime } from "./util.js";
import { confirmAction } from "./confirm.js";
import { emptyRow, note, actionButton, act } from "./console-common.js";

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

export function renderWorkers(v) {
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
