// Unit tests for the page's pure logic (no browser needed): `node --test ui/tests/`.
// The DOM-driven behaviour is covered by the app's WebDriver tests.
import { test } from "node:test";
import assert from "node:assert/strict";

import { normaliseError, ApiError, isPreview } from "../js/api.js";
import { fmtDuration, fmtAge, fmtRate, shortId, symbolsSummary, splitSymbols, isTerminal, statusInfo, param } from "../js/util.js";
import { redisState, workerState } from "../js/status.js";
import { checkSettings } from "../js/settings-form.js";
import { prefixError } from "../js/ops.js";

test("backend errors become ApiError with kind, message and field", () => {
  const e = normaliseError({ kind: "invalid_input", message: "Enter at least one symbol.", field: "symbols" });
  assert.ok(e instanceof ApiError);
  assert.equal(e.kind, "invalid_input");
  assert.equal(e.message, "Enter at least one symbol.");
  assert.equal(e.field, "symbols");
  const unknown = normaliseError({ kind: "weird", message: "x" });
  assert.equal(unknown.kind, "internal");
  assert.equal(normaliseError("command health not found").message, "command health not found");
  assert.equal(normaliseError(undefined).kind, "internal");
  assert.equal(isPreview, true, "no window.__TAURI__ outside the app");
});

test("durations, ages and rates read naturally", () => {
  assert.equal(fmtDuration(45), "45 s");
  assert.equal(fmtDuration(200), "3 m 20 s");
  assert.equal(fmtDuration(3720), "1 h 02 m");
  assert.equal(fmtDuration(null), "—");
  assert.equal(fmtAge(3.4), "3 s ago");
  assert.equal(fmtAge(600), "10 min ago");
  assert.equal(fmtAge(null), "age unknown");
  assert.equal(fmtRate(12.34), "12.3 bars/s");
  assert.equal(fmtRate(null), "—");
  assert.equal(shortId("3f2a9c1e-aaaa-bbbb"), "3f2a9c1e");
});

test("job statuses: terminal ones and legacy aliases", () => {
  for (const s of ["completed", "completed_with_errors", "failed", "error", "cancelled"]) assert.ok(isTerminal(s), s);
  for (const s of ["submitted", "queued", "running", "cancelling", "pending", "processing"]) assert.ok(!isTerminal(s), s);
  assert.equal(statusInfo("processing").label, "Running");
  assert.equal(statusInfo("error").badge, "text-bg-danger");
  assert.equal(statusInfo("mystery").label, "mystery");
});

test("symbols summary reads wire (snake_case) and camelCase params", () => {
  assert.equal(symbolsSummary({ params: { symbols: ["AAPL", "MSFT", "NVDA", "AMZN", "TSLA"] } }), "AAPL, MSFT, NVDA +2 more");
  assert.equal(symbolsSummary({ params: { universe_type: "SP500" } }), "SP500");
  assert.equal(symbolsSummary({ params: { universeKey: "SPY:nasdaq100" } }), "SPY:nasdaq100");
  assert.equal(symbolsSummary({ params: {}, totalSymbols: 12 }), "12 symbols");
  assert.equal(param({ csv_file: "a.csv" }, "csv_file"), "a.csv");
  assert.deepEqual(splitSymbols("AAPL, msft\nNVDA;  TSLA"), ["AAPL", "msft", "NVDA", "TSLA"]);
});

test("Redis pill: connected with latency, down, embedded", () => {
  assert.deepEqual(redisState({ mode: "redis", redis: { connected: true, rttMs: 0.42 } }).text, "Redis connected · 0.4 ms");
  const down = redisState({ mode: "redis", redis: { connected: false, error: "Connection refused" } });
  assert.equal(down.text, "Redis down");
  assert.equal(down.cls, "pill-bad");
  assert.equal(down.title, "Connection refused");
  const full = redisState({ mode: "redis", redis: { connected: true, rttMs: 0.3, full: "Redis is full: 2 MB used of its 2 MB limit" } });
  assert.equal(full.text, "Redis full · writes refused");
  assert.equal(full.cls, "pill-warn");
  assert.equal(full.title, "Redis is full: 2 MB used of its 2 MB limit");
  assert.equal(redisState({ mode: "embedded", redis: { configured: false } }).text, "Embedded mode (no Redis)");
});

test("worker pill: count and freshest age, stale above 60 s, none", () => {
  const w = (ageSeconds, alive = true) => ({ id: "w", host: "h", ageSeconds, alive, builtin: false, currentJob: null });
  const two = workerState({ workers: [w(3), w(9)], legacyHeartbeat: { alive: false } });
  assert.equal(two.text, "2 workers · 3 s ago");
  assert.equal(two.cls, "pill-ok");
  assert.equal(workerState({ workers: [w(75)], legacyHeartbeat: null }).cls, "pill-warn");
  assert.equal(workerState({ workers: [w(95, false)], legacyHeartbeat: null }).cls, "pill-warn");
  const none = workerState({ workers: [], legacyHeartbeat: { alive: false, ageSeconds: null, key: null } });
  assert.equal(none.text, "No workers");
  assert.equal(none.cls, "pill-bad");
  const legacy = workerState({ workers: [], legacyHeartbeat: { alive: true, ageSeconds: 12, key: "tickstockpl:heartbeat" } });
  assert.equal(legacy.text, "1 worker · 12 s ago");
});

test("settings checks name the problem per field", () => {
  const good = {
    redisUrl: "", databaseUrl: "", polygonBaseUrl: "https://api.polygon.io", apiKey: null,
    requestsPerMinuteRaw: "5", workerConcurrencyRaw: "2",
  };
  assert.deepEqual(checkSettings(good), {});
  assert.deepEqual(checkSettings({ ...good, redisUrl: "rediss://u:p@host:6380/0", databaseUrl: "postgres://postgres@127.0.0.1/ts" }), {});
  const bad = checkSettings({
    ...good, redisUrl: "http://x", databaseUrl: "mysql://x", polygonBaseUrl: "api.polygon.io",
    apiKey: "has space", requestsPerMinuteRaw: "-1", workerConcurrencyRaw: "17",
  });
  assert.deepEqual(Object.keys(bad).sort(), ["apiKey", "databaseUrl", "polygonBaseUrl", "redisUrl", "requestsPerMinute", "workerConcurrency"]);
  assert.match(bad.workerConcurrency, /1 to 16/);
});

test("clear-by-prefix needs 4 hex characters", () => {
  assert.equal(prefixError(""), "");
  assert.match(prefixError("3f2"), /at least 4/);
  assert.match(prefixError("zzzz"), /hexadecimal/);
  assert.equal(prefixError("3f2a-9c"), "");
});

test("preview backend validates like the app and simulates jobs", async () => {
  globalThis.location = { search: "" };
  const { createPreviewBackend } = await import("../js/preview-backend.js");
  const b = createPreviewBackend();
  const base = { kind: "historical_load", symbols: "AAPL msft", years: 1, startDate: null, endDate: null, timespan: "day", timeframes: [], universeType: null, universeKey: null, refresh: false };
  assert.deepEqual(await b.invoke("validate_job", { request: base }), { ok: true, errors: [] });
  const bad = await b.invoke("validate_job", { request: { ...base, symbols: "12$" } });
  assert.equal(bad.ok, false);
  assert.equal(bad.errors[0].field, "symbols");
  await assert.rejects(b.invoke("submit_job", { request: { ...base, symbols: "" } }), (e) => e.kind === "invalid_input" && e.field === "symbols");
  const { jobId } = await b.invoke("submit_job", { request: base });
  const active = await b.invoke("active_jobs");
  assert.ok(active.some((j) => j.jobId === jobId));
  const page = await b.invoke("list_jobs", { filter: { query: jobId.slice(0, 8), kind: null, status: null, page: 1, pageSize: 20 } });
  assert.equal(page.items[0].jobId, jobId);
  const preview = await b.invoke("universe_preview", { key: "SPY:nasdaq100:nope" });
  assert.deepEqual(preview.unknown, ["nope"]);
  assert.ok(preview.count > 500);
  await assert.rejects(b.invoke("clear_jobs", { prefix: "ab" }), (e) => e.kind === "invalid_input");
  const exported = await b.invoke("export_jobs_csv", { query: { search: jobId.slice(0, 8), pageSize: 25, at: "first" } });
  assert.match(exported.path, /tickstock-jobs\.csv/, "Export CSV says where the file went");
  assert.match(exported.path, /preview: 1 jobs/, "the export holds the rows the history shows");
});

test("about: the preview answers with the version and the app's folders", async () => {
  globalThis.location = { search: "" };
  const { createPreviewBackend } = await import("../js/preview-backend.js");
  const info = await createPreviewBackend().invoke("about");
  for (const k of ["name", "version", "dataDir", "logDir", "configDir"]) assert.ok(info[k], k);
  const { showAbout } = await import("../js/about.js");
  const nodes = {};
  const root = { querySelector: (sel) => (nodes[sel] ??= { textContent: "" }) };
  showAbout(info, root);
  assert.equal(nodes["#about-version"].textContent, `v${info.version}`);
  assert.equal(nodes["#about-data-dir"].textContent, info.dataDir);
  assert.equal(nodes["#about-log-dir"].textContent, info.logDir);
});

test("counts agree in number and numbers are grouped", async () => {
  const { count, fmtInt } = await import("../js/util.js");
  assert.equal(count(1, "symbol"), "1 symbol");
  assert.equal(count(2, "symbol"), "2 symbols");
  assert.equal(count(0, "job"), "0 jobs");
  assert.match(fmtInt(1234567), /^1\D234\D567$/, "thousands are grouped whatever the locale");
});

test("the built-in worker is named once in the tooltip", () => {
  const w = workerState({
    workers: [{ id: "built-in", host: "vm", alive: true, ageSeconds: 0, builtin: true }],
    legacyHeartbeat: null,
  });
  assert.ok(w.title.startsWith("Built-in worker on vm: alive"), w.title);
  assert.ok(!/built-in built-in/i.test(w.title), w.title);
});

test("heat-map cells are coloured by completeness and say their figures", async () => {
  const { heatClass, heatTitle } = await import("../js/coverage.js");
  assert.equal(heatClass(1), "heat-good");
  assert.equal(heatClass(0.95), "heat-partial");
  assert.equal(heatClass(0.5), "heat-poor");
  assert.equal(heatClass(0), "heat-empty");
  assert.equal(heatClass(null), "heat-none");
  assert.equal(
    heatTitle("AAPL", { month: "2025-11", bars: 4, expected: 19, completeness: 4 / 19, rating: "poor" }),
    "AAPL 2025-11: 4 of 19 bars (21.1 %, poor)",
  );
  assert.match(heatTitle("AAPL", { month: "2025-01", completeness: null }), /before the first stored bar/);
});

test("coverage pages say which symbols they show, of how many, matching what", async () => {
  const { showingText, pageScope, pageMoves, filterLabel } = await import("../js/coverage-text.js");
  assert.equal(showingText(200, 200, 503), "Showing 201–400 of 503 symbols");
  assert.equal(showingText(0, 1, 1, " ibm "), "Showing 1–1 of 1 symbol matching IBM");
  assert.equal(showingText(0, 0, 0, "ibmx"), "No symbols match IBMX");
  assert.equal(showingText(0, 100, 1503, "a,ms"), "Showing 1–100 of 1,503 symbols matching A, MS");
  assert.equal(filterLabel("  aa  ms, "), "AA, MS");
  assert.equal(pageScope(100, 100, 503, "s"), "symbols 101–200 of 503 matching S");
  assert.deepEqual(pageMoves(0, 200, 503), { prev: false, next: true });
  assert.deepEqual(pageMoves(400, 103, 503), { prev: true, next: false });
  assert.deepEqual(pageMoves(0, 0, 0), { prev: false, next: false });
});

test("a fill of many gaps is confirmed with its symbols, jobs and estimate", async () => {
  const { fillConfirmText } = await import("../js/coverage-text.js");
  const t = fillConfirmText({ gaps: 120, symbols: 97, jobs: 1, requests: 97, registrationRequestsMax: 0, seconds: 1164, requestsPerMinute: 5 });
  assert.equal(t.title, "Fill 120 gaps of 97 symbols?");
  assert.equal(t.lines[0], "1 top-up job with fill will be submitted for 97 symbols; only the missing sessions are loaded.");
  assert.equal(t.lines[1], "Estimate: up to 97 Polygon requests for the bars, about 19 m 24 s at 5 requests a minute.");
  assert.equal(t.confirmLabel, "Submit 1 top-up job");
  const free = fillConfirmText({ gaps: 1, symbols: 1, jobs: 2, requests: 1, registrationRequestsMax: 1, seconds: null, requestsPerMinute: 0 });
  assert.equal(free.lines[1], "Estimate: up to 1 Polygon request for the bars, no wait for a rate limit (unlimited plan); up to 1 more to register symbols not yet known.");
  assert.equal(free.confirmLabel, "Submit 2 top-up jobs");
});

test("the submit form's estimate keeps the bars' requests apart from registration", async () => {
  const { estimateSentence } = await import("../js/coverage-text.js");
  assert.equal(
    estimateSentence({ requests: 30, registrationRequestsMax: 500, seconds: 360, requestsPerMinute: 5 }),
    "Estimate: up to 30 Polygon requests for the bars, about 6 m 00 s at 5 requests a minute; up to 500 more to register symbols not yet known.",
  );
});

test("the preview backend answers the coverage view's commands", async () => {
  const { createPreviewBackend } = await import("../js/preview-backend.js");
  const b = createPreviewBackend();
  const map = await b.invoke("coverage_map", { timeframe: "day", months: 6 });
  assert.equal(map.months.length, 6);
  assert.ok(map.rows.every((r) => r.cells.length === 6));
  assert.deepEqual([map.rows.length, map.total, map.offset, map.more], [200, 258, 0, 58]);
  const next = await b.invoke("coverage_map", { timeframe: "day", months: 6, page: { offset: 200 } });
  assert.deepEqual([next.rows.length, next.offset, next.more], [58, 200, 0]);
  const ibm = await b.invoke("coverage_map", { timeframe: "day", months: 6, page: { filter: "ibm" } });
  assert.deepEqual(ibm.rows.map((r) => r.symbol), ["IBM"]);
  const gaps = await b.invoke("coverage_gaps", { timeframe: "day", from: "2025-01-01", to: "2025-12-31" });
  assert.ok(gaps.gaps.length > 0);
  assert.deepEqual([gaps.symbolsChecked, gaps.symbolsTotal, gaps.pageSize], [100, 258, 100]);
  const e = await b.invoke("estimate_fill", { items: gaps.gaps });
  assert.equal(e.jobs, 1);
  assert.equal(e.gaps, gaps.gaps.length);
  const fill = await b.invoke("fill_gaps", { items: gaps.gaps });
  assert.equal(fill.jobIds.length, 1);
  const list = await b.invoke("list_schedules");
  await b.invoke("set_schedule_enabled", { name: list[0].name, enabled: false });
  assert.equal((await b.invoke("list_schedules"))[0].enabled, false);
  assert.ok(await b.invoke("run_schedule", { name: list[0].name }));
});

test("a built-in worker that cannot run is said in the status bar, with why", () => {
  const off = { state: "unable", short: "database unavailable", reason: "the database is unavailable (connection refused)" };
  const alone = workerState({ workers: [], legacyHeartbeat: null, builtinWorker: off });
  assert.equal(alone.text, "Worker off: database unavailable");
  assert.equal(alone.cls, "pill-bad");
  assert.ok(alone.title.startsWith("Built-in worker off: the database is unavailable"), alone.title);
  const beside = workerState({ workers: [{ id: "rack-1", alive: true, ageSeconds: 2 }], legacyHeartbeat: null, builtinWorker: off });
  assert.equal(beside.text, "Worker off: database unavailable · 1 other worker");
  assert.equal(beside.cls, "pill-warn", "not green while the app's own worker is off");
  const chosen = workerState({ workers: [], legacyHeartbeat: null, builtinWorker: { state: "off", short: "switched off", reason: "switched off in Settings" } });
  assert.equal(chosen.text, "No workers · built-in worker switched off");
  const ok = workerState({ workers: [{ id: "rack-1", alive: true, ageSeconds: 2 }], legacyHeartbeat: null, builtinWorker: { state: "on" } });
  assert.equal(ok.cls, "pill-ok");
});

test("a worker that went silent is not counted as taking jobs", () => {
  const w = workerState({ workers: [{ id: "rack-1", alive: true, silent: true, ageSeconds: 31 }], legacyHeartbeat: null });
  assert.equal(w.text, "Workers stale · last 31 s ago");
  assert.equal(w.cls, "pill-warn");
  assert.match(w.title, /rack-1: silent/);
});

test("saving what failed its test asks first, naming it", async () => {
  const { createTestMemory, mergeProblems, problemLines, savedToast } = await import("../js/settings-check.js");
  const tests = createTestMemory();
  tests.record("apiKey", ["https://api.polygon.io", "badkey123"], false, "Polygon rejected the API key (HTTP 401)");
  tests.record("redisUrl", ["redis://127.0.0.1:6379"], true, "Connected");
  const now = { apiKey: ["https://api.polygon.io", "badkey123"], redisUrl: ["redis://127.0.0.1:6379"], databaseUrl: [""] };
  assert.deepEqual(tests.failures(now), [{ field: "apiKey", message: "Its test failed: Polygon rejected the API key (HTTP 401)." }]);
  assert.deepEqual(tests.failures({ ...now, apiKey: ["https://api.polygon.io", "otherkey1"] }), [], "another key: not the one that failed");
  const merged = mergeProblems([{ field: "databaseUrl", message: "The database does not answer: refused." }], tests.failures(now));
  assert.deepEqual(problemLines(merged), [
    "Database: The database does not answer: refused.",
    "Polygon API key: Its test failed: Polygon rejected the API key (HTTP 401).",
  ]);
  assert.equal(mergeProblems([{ field: "apiKey", message: "a" }], [{ field: "apiKey", message: "b" }]).length, 1);
  const warned = savedToast({ builtinWorker: { state: "unable", reason: "the database is unavailable (refused)" } }, true);
  assert.equal(warned.variant, "warning");
  assert.equal(warned.body, "The backend restarted with them. The built-in worker is off: the database is unavailable (refused).");
  assert.equal(savedToast({ builtinWorker: { state: "on" } }, false).variant, "success");
});

test("a running job whose worker went silent says so, and what happens next", async () => {
  const { silentNote } = await import("../js/jobs-cards.js");
  const job = { jobId: "j1", status: "running", worker: "rack-gone-1" };
  const gone = { id: "rack-gone-1", alive: true, silent: true, ageSeconds: 31 };
  const live = { id: "rack-live-1", alive: true, silent: false, ageSeconds: 2 };
  assert.equal(
    silentNote(job, [gone, live]),
    "Worker rack-gone-1 went silent (no heartbeat for 31 s): another worker resumes this job from its checkpoint once its lease lapses (a minute after the last beat).",
  );
  assert.match(silentNote(job, [gone]), /no other worker is running: the job resumes from its checkpoint when one starts\.$/);
  assert.equal(silentNote(job, [{ ...gone, silent: false }]), null, "a worker that beats");
  assert.equal(silentNote({ ...job, status: "submitted" }, [gone]), null, "only running jobs");
});

test("a finished job's toast says how it ended", async () => {
  const { finishToast } = await import("../js/jobs-finish.js");
  const done = finishToast({ jobId: "j1", status: "completed", jobType: "historical_load", ohlcvRecordsLoaded: 250 });
  assert.equal(done.title, "Job completed");
  assert.equal(done.variant, "success");
  assert.ok(!/Job submitted/.test(done.body), done.body);
  assert.equal(finishToast({ jobId: "j2", status: "failed", errorMessage: "boom" }).title, "Job failed");
  const odd = finishToast({ jobId: "j3", status: "submitted", message: "Job submitted" });
  assert.equal(odd.title, "Job left the active list");
  assert.equal(odd.body, "Its last state seen here was “Submitted”; it is no longer among the active jobs. Its detail shows what the history holds.");
});

test("schedule times are New York time, labelled, with the local time beside", async () => {
  const { fmtNewYork } = await import("../js/util.js");
  const was = process.env.TZ;
  try {
    process.env.TZ = "Europe/Berlin";
    // 16:30 in New York on 7 December 2026 (EST, UTC-5) is 21:30 UTC, 22:30 in Berlin.
    assert.equal(fmtNewYork("2026-12-07T21:30:00Z"), "2026-12-07 16:30 New York (22:30 here)");
    assert.equal(fmtNewYork("2026-12-08T04:00:00Z"), "2026-12-07 23:00 New York (2026-12-08 05:00 here)");
    process.env.TZ = "America/New_York";
    assert.equal(fmtNewYork("2026-12-07T21:30:00Z"), "2026-12-07 16:30 New York");
    assert.equal(fmtNewYork(null), "—");
  } finally {
    if (was === undefined) delete process.env.TZ;
    else process.env.TZ = was;
  }
});

test("the detail puts requests and time against their estimates", async () => {
  const { requestsText, durationText } = await import("../js/detail-sections.js");
  assert.equal(requestsText({ polygonRequests: 31, polygonRequestsEstimated: 30 }), "31 made, 30 estimated");
  assert.equal(requestsText({ polygonRequests: 4 }), "4");
  assert.equal(durationText({ durationSeconds: 372, secondsEstimated: 360 }), "6 m 12 s (estimated 6 m 00 s)");
  assert.equal(durationText({ durationSeconds: null, secondsEstimated: 87 }), "— (estimated 1 m 27 s)");
  assert.equal(durationText({ durationSeconds: 12 }), "12 s", "no estimate on an unlimited plan");
});
