// Unit tests of the Operations card's pure parts and of its preview commands:
// `node --test ui/tests/`. The views and actions in the real window are the app's
// console_e2e tests.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";

import { throughputColumns, polygonColumns, rpmText, limitText, withAlpha } from "../js/dashboard.js";
import { workerState } from "../js/console-workers.js";

test("throughput points become chart columns per hour", () => {
  const points = [
    { start: 3600, completed: 4, failed: 2, cancelled: 0, bars: 10, jobsPerHour: 6, barsPerSecond: 12.5 },
    { start: 7200, completed: 0, failed: 0, cancelled: 0, bars: 0, jobsPerHour: 0, barsPerSecond: null },
  ];
  assert.deepEqual(throughputColumns(points), [[3600, 7200], [6, 0], [2, 0], [12.5, null]]);
  const [, all, failed] = throughputColumns([{ ...points[0], jobsPerHour: 0.25 }], 24);
  assert.deepEqual([all[0], failed[0]], [0.25, 2 / 24]);
  assert.deepEqual(throughputColumns(undefined), [[], [], [], []]);
});

test("Polygon requests per minute against the plan's limit", () => {
  const [x, n, limit] = polygonColumns([[3540, 3], [3600, 5]], 5, 3600);
  assert.equal(x.length, 60, "the whole last hour");
  assert.deepEqual([x[0], x[59]], [60, 3600]);
  assert.deepEqual([n[57], n[58], n[59]], [null, 3, 5], "unsampled minutes are gaps");
  assert.ok(limit.every((v) => v === 5));
  assert.ok(polygonColumns([], 0, 3600)[2].every((v) => v === null), "no limit: no line");
  assert.equal(rpmText({ available: true, limit: 5, lastMinute: 4 }), "4 / 5");
  assert.equal(rpmText({ available: true, limit: 0, lastMinute: 1200 }), "1,200");
  assert.equal(rpmText({ available: false, limit: 5, lastMinute: 0 }), "—");
  assert.equal(limitText({ limit: 5, scope: "this app", keyLastMinute: null }), "(plan: 5/min; this app)");
  assert.equal(
    limitText({ limit: 5, scope: "this app's built-in worker", keyLastMinute: 4 }),
    "(plan: 5/min; this app's built-in worker; 4 in the last minute on this API key, every process)",
  );
  assert.equal(limitText({ limit: 0, scope: "this app" }), "(no plan limit; this app)");
  assert.equal(withAlpha("#0d6efd", 0.5), "rgba(13, 110, 253, 0.5)");
  assert.equal(withAlpha("rgb(1,2,3)", 0.5), "rgb(1,2,3)");
});

test("worker states read as words with a badge", () => {
  assert.deepEqual(workerState("dead"), ["No heartbeat", "text-bg-danger"]);
  assert.deepEqual(workerState("quiet"), ["Quiet", "text-bg-warning"]);
  assert.equal(workerState("strange")[0], "strange");
});

test("every console command the page calls is declared and allowed", () => {
  const api = readFileSync(new URL("../js/api.js", import.meta.url), "utf8");
  const build = readFileSync(new URL("../../src-tauri/build.rs", import.meta.url), "utf8");
  const caps = JSON.parse(readFileSync(new URL("../../src-tauri/capabilities/main.json", import.meta.url), "utf8"));
  const called = [...api.matchAll(/invoke\("([a-z_]+)"/g)].map((m) => m[1]);
  assert.ok(called.includes("queue_view") && called.includes("dashboard"));
  for (const cmd of called) {
    assert.ok(build.includes(`"${cmd}"`), `${cmd} is missing from build.rs`);
    assert.ok(caps.permissions.includes(`allow-${cmd.replace(/_/g, "-")}`), `${cmd} is not allowed in capabilities/main.json`);
  }
});

test("the preview answers the console: pause, workers, dead letters, dashboard", async () => {
  globalThis.location = { search: "" };
  const { createPreviewBackend } = await import("../js/preview-backend.js");
  const b = createPreviewBackend();
  const q = await b.invoke("queue_view");
  assert.equal(q.mode, "redis");
  assert.equal(q.paused, null);
  assert.equal((await b.invoke("pause_queue")).changed, true);
  assert.equal((await b.invoke("pause_queue")).changed, false, "a second pause changes nothing");
  assert.equal((await b.invoke("queue_view")).paused.requestedBy, "admin_ui");
  assert.equal((await b.invoke("resume_queue")).message, "Queue resumed");
  const { workers } = await b.invoke("list_workers");
  await b.invoke("command_worker", { workerId: workers[1].id, command: "quiet" });
  assert.equal((await b.invoke("list_workers")).workers[1].state, "quiet");
  await assert.rejects(b.invoke("command_worker", { workerId: "nope", command: "stop" }), (e) => e.kind === "not_found");
  const { letters } = await b.invoke("list_dead_letters");
  assert.equal(letters.length, 3);
  const requeued = await b.invoke("requeue_dead_letter", { id: letters[0].id });
  assert.equal(requeued.jobId, letters[0].jobId);
  assert.equal((await b.invoke("purge_dead_letters")).message, "2 dead letters deleted");
  const d = await b.invoke("dashboard");
  assert.equal(d.hourly.length, 24);
  assert.equal(d.daily.length, 7);
  assert.ok(d.polygon.limit > 0);
});
