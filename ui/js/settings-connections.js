// The settings' Test buttons: Redis, the database and Polygon tried with the values in the form.
import * as api from "./api.js";
import { $, $$, el, icon, clear } from "./util.js";
import { createTestMemory } from "./settings-check.js";
import { keyRemoved } from "./settings-form.js";

const tests = createTestMemory();

/** The values each Test button tries, as the form holds them now. */
function testedValues() {
  return {
    redisUrl: [$("#set-redis-url").value.trim()],
    databaseUrl: [$("#set-database-url").value.trim()],
    apiKey: [$("#set-polygon-url").value.trim(), keyRemoved() ? null : $("#set-api-key").value.trim()],
  };
}

/** Test failures on exactly the values the form holds now: [{field, message}]. */
export const failedTests = () => tests.failures(testedValues());

/** Forgets the tests run and their results (the modal opens afresh). */
export function clearTests() {
  tests.clear();
  $$("#settings-modal .test-result").forEach((n) => clear(n));
}

function showTestResult(id, result, err) {
  const node = $(`#${id}`);
  clear(node);
  if (err) {
    node.className = "small test-result text-danger";
    node.append(icon("x-circle-fill", "me-1"), err.message);
    return;
  }
  const ok = Boolean(result && result.ok);
  node.className = `small test-result ${ok ? "text-success" : "text-danger"}`;
  node.append(icon(ok ? "check-circle-fill" : "x-circle-fill", "me-1"), String((result && result.message) || (ok ? "OK" : "Failed")));
  if (result && typeof result.latencyMs === "number") {
    node.append(el("span", { class: "text-body-secondary ms-1", text: `(${Math.round(result.latencyMs)} ms)` }));
  }
}

async function runTest(button, resultId, field, call) {
  const values = testedValues()[field];
  button.disabled = true;
  const node = $(`#${resultId}`);
  clear(node);
  node.className = "small test-result text-body-secondary";
  node.append(el("span", { class: "spinner-border spinner-border-sm me-1", attrs: { "aria-hidden": "true" } }), "Testing…");
  try {
    const result = await call();
    showTestResult(resultId, result, null);
    tests.record(field, values, result && result.ok, result && result.message);
  } catch (err) {
    showTestResult(resultId, null, err);
    tests.record(field, values, false, err.message);
  } finally {
    button.disabled = false;
  }
}

/** Wires the three Test buttons. */
export function bindTests() {
  const redisBtn = $("#btn-test-redis");
  redisBtn.addEventListener("click", () => runTest(redisBtn, "test-redis-result", "redisUrl", () => api.testRedis($("#set-redis-url").value.trim())));
  const dbBtn = $("#btn-test-database");
  dbBtn.addEventListener("click", () => runTest(dbBtn, "test-database-result", "databaseUrl", () => api.testDatabase($("#set-database-url").value.trim())));
  const polyBtn = $("#btn-test-polygon");
  polyBtn.addEventListener("click", () =>
    runTest(polyBtn, "test-polygon-result", "apiKey", () =>
      api.testPolygon($("#set-polygon-url").value.trim(), keyRemoved() ? null : $("#set-api-key").value.trim() || null),
    ),
  );
}
