// The Operations card: the queue (waiting and in flight as compact rows, with the pause),
// the workers (with Quiet and Stop) and the dead letters (Requeue, Delete, Purge all), each
// tab in a file of its own (console-queue.js, console-workers.js, console-dead.js; their
// shared parts console-common.js). The visible tab refreshes every few seconds while the
// window is shown; every action asks first when it cannot be undone and says what it did in
// a toast. The Dashboard tab is dashboard.js.
import * as api from "./api.js";
import { $, fmtTime } from "./util.js";
import { initDashboard, loadDashboard } from "./dashboard.js";
import { initCommon } from "./console-common.js";
import { renderQueue, togglePause } from "./console-queue.js";
import { renderWorkers } from "./console-workers.js";
import { renderDead, deadPurge } from "./console-dead.js";

/** How often the visible tab is refreshed. */
export const REFRESH_MS = 5000;

let active = "queue";
let busy = false;

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
  initCommon({ openDetail: opts.openDetail, onChanged: opts.onChanged, refresh });
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
