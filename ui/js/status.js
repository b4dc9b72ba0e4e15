// The system status bar: Redis, workers and queue depth, from `health` every second, at once when another call fails on Redis, and on demand.
import * as api from "./api.js";
import { $, el, fmtAge, fmtTime } from "./util.js";
import { toast } from "./toasts.js";

// Often enough that the Redis pill turns red within 2 s of Redis going away (health
// itself gives up on a silent Redis after 1 s).
const POLL_MS = 1000;
const STALE_AGE_S = 60;
const PILL_CLASSES = ["pill-ok", "pill-warn", "pill-bad", "pill-muted", "pill-info"];

let inFlight = null;
const listeners = [];

/** "Built-in worker" for the app's own (its id says nothing more in embedded mode). */
function workerName(w) {
  if (!w.builtin) return `Worker ${w.id}`;
  return w.id === "built-in" ? "Built-in worker" : `Built-in worker ${w.id}`;
}

function setPill(node, cls, text, title) {
  node.classList.remove(...PILL_CLASSES);
  node.classList.add(cls);
  node.querySelector(".pill-text").textContent = text;
  if (title) node.title = title;
  else node.removeAttribute("title");
  node.dataset.state = cls.replace("pill-", "");
}

/** Text and state of the Redis pill for a health result. Exported for tests. */
export function redisState(h) {
  if (!h) return { cls: "pill-bad", text: "Redis status unknown" };
  if (h.mode === "embedded") {
    return { cls: "pill-muted", text: "Embedded mode (no Redis)", title: "No Redis URL is configured: jobs run in the built-in worker" };
  }
  const r = h.redis || {};
  if (r.connected && r.full) {
    return { cls: "pill-warn", text: "Redis full · writes refused", title: r.full };
  }
  if (r.connected) {
    const rtt = typeof r.rttMs === "number" ? ` · ${r.rttMs < 10 ? r.rttMs.toFixed(1) : Math.round(r.rttMs)} ms` : "";
    return { cls: "pill-ok", text: `Redis connected${rtt}` };
  }
  return { cls: "pill-bad", text: "Redis down", title: r.error || "Cannot reach Redis" };
}

/** Text and state of the worker pill for a health result. Exported for tests. */
export function workerState(h) {
  const workers = (h && Array.isArray(h.workers) ? h.workers : []).filter(Boolean);
  // A worker that missed three beats went silent: not counted as taking jobs.
  const alive = workers.filter((w) => w.alive && !w.silent);
  const legacy = h && h.legacyHeartbeat;
  const ages = alive.map((w) => w.ageSeconds).filter((a) => typeof a === "number");
  let count = alive.length;
  if (legacy && legacy.alive) {
    count += 1;
    if (typeof legacy.ageSeconds === "number") ages.push(legacy.ageSeconds);
  }
  const lines = workers.map(
    (w) =>
      `${workerName(w)}${w.host ? " on " + w.host : ""}: ${w.silent ? "silent" : w.alive ? "alive" : w.cannotConsume ? "cannot take jobs (" + w.cannotConsume + ")" : "stale"}, ${fmtAge(w.ageSeconds)}` +
      (w.currentJob ? `, job ${String(w.currentJob).slice(0, 8)}` : ""),
  );
  if (legacy && (legacy.alive || legacy.key)) {
    lines.push(`legacy TickStockPL heartbeat${legacy.key ? " (" + legacy.key + ")" : ""}: ${legacy.alive ? "alive" : "stale"}, ${fmtAge(legacy.ageSeconds)}`);
  }
  const bw = (h && h.builtinWorker) || { state: "on" };
  if (bw.state !== "on" && bw.reason) lines.unshift(`Built-in worker off: ${bw.reason}`);
  const title = lines.join("\n") || "No worker has reported a heartbeat";
  // The app's own worker meant to run and cannot: said first, with why.
  if (bw.state === "unable") {
    const others = count ? ` · ${count} other worker${count === 1 ? "" : "s"}` : "";
    return { cls: count ? "pill-warn" : "pill-bad", text: `Worker off: ${bw.short || "see Settings"}${others}`, title };
  }
  if (count === 0 && bw.state === "off" && !workers.length) {
    return { cls: "pill-bad", text: "No workers · built-in worker switched off", title };
  }
  if (count === 0) {
    const staleAges = workers.map((w) => w.ageSeconds).filter((a) => typeof a === "number");
    if (legacy && typeof legacy.ageSeconds === "number") staleAges.push(legacy.ageSeconds);
    if (staleAges.length) {
      return { cls: "pill-warn", text: `Workers stale · last ${fmtAge(Math.min(...staleAges))}`, title };
    }
    return { cls: "pill-bad", text: "No workers", title };
  }
  const freshest = ages.length ? Math.min(...ages) : null;
  const label = `${count} worker${count === 1 ? "" : "s"} · ${fmtAge(freshest)}`;
  if (freshest !== null && freshest > STALE_AGE_S) return { cls: "pill-warn", text: `${label} (stale)`, title };
  return { cls: "pill-ok", text: label, title };
}

function renderQueue(h) {
  const node = $("#queue-depth");
  const text = node.querySelector(".pill-text");
  node.classList.remove(...PILL_CLASSES);
  if (!h || !h.queue) {
    node.classList.add("pill-muted");
    text.textContent = "Queue n/a";
    node.title = "No durable queue in this mode";
    return;
  }
  const q = h.queue;
  text.textContent = "";
  if (q.pausedBy) text.append(el("strong", { class: "queue-paused", text: "Queue paused" }), " · ");
  text.append(`${q.waiting} waiting · ${q.inFlight} in flight · `);
  text.append(el("span", { class: q.dead > 0 ? "queue-dead" : "", text: `${q.dead} dead` }));
  node.classList.add(q.pausedBy || q.dead > 0 ? "pill-warn" : q.waiting > 0 || q.inFlight > 0 ? "pill-info" : "pill-muted");
  node.dataset.paused = q.pausedBy ? "1" : "";
  node.title = q.pausedBy
    ? `Paused by ${q.pausedBy}: no worker starts a job until the queue is resumed (running jobs finish)`
    : "Jobs waiting for a worker · being worked on · given up after repeated failures";
}

function render(h, error) {
  if (error) {
    setPill($("#redis-pill"), "pill-bad", "Status unavailable", error.message);
    setPill($("#worker-pill"), "pill-muted", "Workers unknown");
    renderQueue(null);
    $("#health-updated").textContent = "";
    return;
  }
  const r = redisState(h);
  setPill($("#redis-pill"), r.cls, r.text, r.title);
  const w = workerState(h);
  setPill($("#worker-pill"), w.cls, w.text, w.title);
  renderQueue(h);
  $("#health-updated").textContent = `Updated ${fmtTime()}`;
  $("#mode-label").textContent = h.mode === "embedded" ? "Embedded mode" : "Redis mode";
}

/** Fetches health once and renders it. Resolves to the health result (or null on error). */
export function refreshHealth() {
  if (inFlight) return inFlight;
  inFlight = api
    .health()
    .then((h) => {
      render(h, null);
      listeners.forEach((cb) => cb(h));
      return h;
    })
    .catch((err) => {
      render(null, err);
      return null;
    })
    .finally(() => {
      inFlight = null;
    });
  return inFlight;
}

export const onHealth = (cb) => listeners.push(cb);

export function initStatus() {
  const btn = $("#btn-test-connection");
  btn.addEventListener("click", async () => {
    btn.disabled = true;
    try {
      const h = await refreshHealth();
      if (!h) {
        toast({ title: "Connection test failed", body: $("#redis-pill").title || "Health check failed", variant: "danger" });
        return;
      }
      const r = redisState(h);
      const w = workerState(h);
      const variant = r.cls === "pill-bad" ? "danger" : w.cls === "pill-ok" ? "success" : "warning";
      toast({ title: variant === "danger" ? "Connection test failed" : "Connection test", body: `${r.text}. ${w.text}.`, variant });
    } finally {
      btn.disabled = false;
    }
  });
  api.onRedisError(() => refreshHealth());
  const first = refreshHealth();
  setInterval(() => {
    if (!document.hidden) refreshHealth();
  }, POLL_MS);
  document.addEventListener("visibilitychange", () => {
    if (!document.hidden) refreshHealth();
  });
  return first;
}
