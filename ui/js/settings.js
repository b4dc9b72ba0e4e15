// Settings modal: connections, the Polygon key (never shown back: only a hint such as
// "••••1a2b"), rate limit and worker options. Validates each field on the client for the
// obvious mistakes and shows the backend's own message under the field it names.
import * as api from "./api.js";
import { $, $$, el, icon, clear } from "./util.js";
import { toast, errorToast } from "./toasts.js";
import { createTestMemory, mergeProblems, problemLines, savedToast } from "./settings-check.js";

/** Backend field name -> input id. */
const FIELD_INPUT = {
  redisUrl: "set-redis-url",
  databaseUrl: "set-database-url",
  environment: "set-environment",
  operator: "set-operator",
  polygonBaseUrl: "set-polygon-url",
  apiKey: "set-api-key",
  requestsPerMinute: "set-rpm",
  workerConcurrency: "set-worker-concurrency",
};
const snakeToCamel = (s) => s.replace(/_([a-z])/g, (_, c) => c.toUpperCase());

let current = null; // last settings view
let removeKey = false;
let saving = false;
let hooks = { onSaved: () => {} };
const tests = createTestMemory();

/** The values each Test button tries, as the form holds them now. */
function testedValues() {
  return {
    redisUrl: [$("#set-redis-url").value.trim()],
    databaseUrl: [$("#set-database-url").value.trim()],
    apiKey: [$("#set-polygon-url").value.trim(), removeKey ? null : $("#set-api-key").value.trim()],
  };
}

const modal = () => window.bootstrap.Modal.getOrCreateInstance($("#settings-modal"));

function isInt(v) {
  return /^\d+$/.test(String(v).trim());
}

/** Client-side checks; returns {field: message}. Exported for tests. */
export function checkSettings(s) {
  const e = {};
  if (s.redisUrl && !/^(redis|rediss|unix):\/\/\S+$/i.test(s.redisUrl)) {
    e.redisUrl = "Use a redis:// or rediss:// URL (e.g. redis://127.0.0.1:6379), or leave it empty for embedded mode.";
  }
  if (s.databaseUrl && !/^(postgres|postgresql):\/\/\S+$|^sqlite:\S+$/i.test(s.databaseUrl)) {
    e.databaseUrl = "Use a postgres:// URL or a sqlite: path, or leave it empty for the embedded SQLite file.";
  }
  if (!s.polygonBaseUrl) {
    e.polygonBaseUrl = "Enter the Polygon base URL, e.g. https://api.polygon.io.";
  } else if (!/^https?:\/\/[^\s/]+(\/\S*)?$/i.test(s.polygonBaseUrl)) {
    e.polygonBaseUrl = "The Polygon base URL must start with https:// (or http://) and contain no spaces.";
  }
  if (s.apiKey !== null && s.apiKey !== undefined && s.apiKey !== "") {
    if (/\s/.test(s.apiKey)) e.apiKey = "The API key contains spaces; paste it exactly as Polygon shows it.";
    else if (s.apiKey.length < 8) e.apiKey = "That API key looks too short; Polygon keys are about 32 characters.";
  }
  if (!isInt(s.requestsPerMinuteRaw) || Number(s.requestsPerMinuteRaw) > 100000) {
    e.requestsPerMinute = "Enter a whole number of requests per minute: 0 for unlimited, 5 on the free plan.";
  }
  if (!isInt(s.workerConcurrencyRaw) || Number(s.workerConcurrencyRaw) < 1 || Number(s.workerConcurrencyRaw) > 16) {
    e.workerConcurrency = "Concurrency must be a whole number from 1 to 16.";
  }
  return e;
}

function readForm() {
  const key = $("#set-api-key").value.trim();
  const rpm = $("#set-rpm").value.trim();
  const conc = $("#set-worker-concurrency").value.trim();
  return {
    redisUrl: $("#set-redis-url").value.trim(),
    databaseUrl: $("#set-database-url").value.trim(),
    environment: $("#set-environment").value,
    operator: $("#set-operator").value.trim(),
    polygonBaseUrl: $("#set-polygon-url").value.trim(),
    apiKey: key && !removeKey ? key : null,
    removeApiKey: removeKey,
    requestsPerMinuteRaw: rpm,
    workerConcurrencyRaw: conc,
    requestsPerMinute: Number(rpm),
    publishLegacy: $("#set-publish-legacy").checked,
    workerEnabled: $("#set-worker-enabled").checked,
    workerConcurrency: Number(conc),
  };
}

function setFieldError(field, message) {
  const id = FIELD_INPUT[field];
  if (!id) return false;
  const input = $(`#${id}`);
  const fb = $(`#${id}-error`);
  input.classList.toggle("is-invalid", Boolean(message));
  fb.textContent = message || "";
  fb.classList.toggle("d-block", Boolean(message));
  return true;
}

function clearErrors() {
  for (const field of Object.keys(FIELD_INPUT)) setFieldError(field, "");
  const alert = $("#settings-error");
  alert.textContent = "";
  alert.classList.add("d-none");
}

function showErrors(errors) {
  for (const field of Object.keys(FIELD_INPUT)) setFieldError(field, errors[field] || "");
}

function renderKeyState() {
  const state = $("#api-key-state");
  const input = $("#set-api-key");
  const set = current && current.apiKeySet;
  const where = current && current.apiKeyStorage === "keyring" ? "the system keyring" : current && current.apiKeyStorage === "file" ? "the settings file" : "";
  if (removeKey) {
    state.textContent = "The stored key will be removed when you save.";
    input.placeholder = "No key after saving";
    input.disabled = true;
  } else if (set) {
    const hint = current.apiKeyHint || "••••";
    state.textContent = `A key is stored (${hint})${where ? " in " + where : ""}. Leave this empty to keep it.`;
    input.placeholder = `${hint} — leave empty to keep`;
    input.disabled = false;
  } else {
    state.textContent = "No key stored yet. Paste the key from your Polygon.io dashboard.";
    input.placeholder = "Your Polygon.io API key";
    input.disabled = false;
  }
  $("#btn-remove-key").classList.toggle("d-none", !set || removeKey);
  $("#btn-undo-remove-key").classList.toggle("d-none", !removeKey);
}

// Settings an environment variable sets: shown read only with the variable's name.
const OVERRIDE_FIELDS = {
  TICKSTOCK_REDIS_URL: "#set-redis-url",
  TICKSTOCK_DATABASE_URL: "#set-database-url",
  TICKSTOCK_ENVIRONMENT: "#set-environment",
  POLYGON_BASE_URL: "#set-polygon-url",
  POLYGON_RPM: "#set-rpm",
  TICKSTOCK_PUBLISH_LEGACY: "#set-publish-legacy",
  TICKSTOCK_WORKER: "#set-worker-enabled",
  TICKSTOCK_WORKER_CONCURRENCY: "#set-worker-concurrency",
};

function markOverridden(vars) {
  for (const [name, sel] of Object.entries(OVERRIDE_FIELDS)) {
    const input = $(sel);
    if (!input) continue;
    const on = vars.includes(name);
    const noteId = `${input.id}-env`;
    let note = document.getElementById(noteId);
    if (on) {
      input.disabled = true;
      input.dataset.overridden = name;
      if (!note) {
        note = document.createElement("div");
        note.id = noteId;
        note.className = "form-text text-warning";
        // Below the field's input group (inside it, the note squeezes the input to nothing).
        const group = input.closest(".input-group");
        if (group) group.after(note);
        else input.closest(".mb-2, .mb-3, .mb-4, .form-check, div")?.appendChild(note);
      }
      note.textContent = `Set by the environment variable ${name}: read only here, and not saved.`;
    } else {
      if (input.dataset.overridden) input.disabled = false;
      delete input.dataset.overridden;
      note?.remove();
    }
  }
}

function fill(view) {
  current = view;
  removeKey = false;
  $("#set-redis-url").value = view.redisUrl || "";
  $("#set-database-url").value = view.databaseUrl || "";
  $("#set-environment").value = view.environment || "DEFAULT";
  $("#set-operator").value = view.operator || "";
  $("#set-polygon-url").value = view.polygonBaseUrl || "";
  $("#set-api-key").value = "";
  $("#set-api-key").type = "password";
  $("#btn-toggle-key").setAttribute("aria-pressed", "false");
  $("#set-rpm").value = view.requestsPerMinute ?? 0;
  $("#set-publish-legacy").checked = Boolean(view.publishLegacy);
  $("#set-worker-enabled").checked = Boolean(view.workerEnabled);
  $("#set-worker-concurrency").value = view.workerConcurrency ?? 1;
  $("#set-worker-concurrency").disabled = !view.workerEnabled;
  markOverridden(view.overridden || []);
  $("#settings-mode").textContent = view.mode ? `Running in ${view.mode === "embedded" ? "embedded mode" : "Redis mode"}` : "";
  renderKeyState();
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

const FIELD_NAMES = {
  redisUrl: "Redis URL",
  namespace: "namespace",
  databaseUrl: "database",
  polygonBaseUrl: "Polygon base URL",
  workerEnabled: "built-in worker",
  workerConcurrency: "worker concurrency",
  environment: "environment",
  apiKey: "API key",
};
let restartAcknowledged = null;

function showRestartNote(fields, active) {
  const note = $("#settings-restart-note");
  const names = fields.map((f) => FIELD_NAMES[f] || f).join(", ");
  const jobs = `${active} active job${active === 1 ? "" : "s"}`;
  note.textContent = `Saving restarts the backend (changed: ${names}). ${jobs} will stop after the current chunk and resume from ${active === 1 ? "its" : "their"} checkpoint with ${active === 1 ? "its" : "their"} totals. Click “Save and restart” to go on.`;
  note.classList.remove("d-none");
  $("#btn-save-settings .save-label").textContent = "Save and restart";
}

/** Names what failed its check; the save button becomes "Save anyway". */
function showProblems(problems) {
  const note = $("#settings-problems");
  clear(note);
  note.append(
    el("div", { class: "fw-semibold", text: `Not saved yet: ${problems.length === 1 ? "this setting fails its check" : "these settings fail their checks"}.` }),
    el("ul", { class: "mb-1" }, ...problemLines(problems).map((line) => el("li", { text: line }))),
    el("div", { text: "Click “Save anyway” to save them as they are, or correct them and save again." }),
  );
  note.classList.remove("d-none");
  $("#btn-save-settings .save-label").textContent = "Save anyway";
}

function hideRestartNote() {
  restartAcknowledged = null;
  $("#settings-problems").classList.add("d-none");
  $("#settings-restart-note").classList.add("d-none");
  $("#btn-save-settings .save-label").textContent = "Save settings";
}

async function save(event) {
  event.preventDefault();
  if (saving) return;
  clearErrors();
  const s = readForm();
  const errors = checkSettings(s);
  if (Object.keys(errors).length) {
    showErrors(errors);
    const first = $("#settings-form .is-invalid");
    if (first) first.focus();
    return;
  }
  saving = true;
  const btn = $("#btn-save-settings");
  btn.disabled = true;
  btn.querySelector(".spinner-border").classList.remove("d-none");
  const payload = {
    redisUrl: s.redisUrl,
    databaseUrl: s.databaseUrl,
    environment: s.environment,
    operator: s.operator,
    polygonBaseUrl: s.polygonBaseUrl,
    apiKey: s.apiKey,
    removeApiKey: s.removeApiKey,
    requestsPerMinute: s.requestsPerMinute,
    publishLegacy: s.publishLegacy,
    workerEnabled: s.workerEnabled,
    workerConcurrency: s.workerConcurrency,
  };
  try {
    // Say before saving what failed its check and what a restart means for running
    // jobs; a second click on the same settings saves.
    const impact = await api.settingsImpact(payload);
    const restart = impact && Array.isArray(impact.restart) ? impact.restart : [];
    const problems = mergeProblems(impact && impact.problems, tests.failures(testedValues()));
    const restartNote = restart.length > 0 && impact.activeJobs > 0;
    // Keyed by the fields that failed, not their messages (a second try may word it
    // differently): "Save anyway" saves what was shown.
    const key = JSON.stringify([payload, problems.map((p) => p.field)]);
    if ((problems.length || restartNote) && restartAcknowledged !== key) {
      hideRestartNote();
      restartAcknowledged = key;
      if (restartNote) showRestartNote(restart, impact.activeJobs);
      if (problems.length) showProblems(problems);
      return;
    }
    const view = await api.saveSettings(payload);
    if (view) fill(view);
    toast(savedToast(view, restart.length > 0));
    modal().hide();
    hooks.onSaved(view);
  } catch (err) {
    const field = err.field ? (FIELD_INPUT[err.field] ? err.field : snakeToCamel(err.field)) : null;
    if (err.kind === "invalid_input" && field && setFieldError(field, err.message)) {
      $(`#${FIELD_INPUT[field]}`).focus();
    } else {
      const alert = $("#settings-error");
      alert.textContent = `Could not save the settings: ${err.message}`;
      alert.classList.remove("d-none");
    }
  } finally {
    saving = false;
    btn.disabled = false;
    btn.querySelector(".spinner-border").classList.add("d-none");
  }
}

/** Opens the settings modal (welcome: show the first-run note). */
export async function openSettings({ welcome = false } = {}) {
  clearErrors();
  hideRestartNote();
  tests.clear();
  $$("#settings-modal .test-result").forEach((n) => clear(n));
  $("#settings-welcome").classList.toggle("d-none", !welcome);
  try {
    fill(await api.getSettings());
  } catch (err) {
    const alert = $("#settings-error");
    alert.textContent = `Could not read the settings: ${err.message}`;
    alert.classList.remove("d-none");
  }
  modal().show();
}

export function initSettings({ onSaved } = {}) {
  if (onSaved) hooks.onSaved = onSaved;
  const modalEl = $("#settings-modal");
  $("#btn-settings").addEventListener("click", () => openSettings());
  $("#settings-form").addEventListener("submit", save);
  modalEl.addEventListener("shown.bs.modal", () => {
    const target = current && !current.apiKeySet ? $("#set-api-key") : $("#set-polygon-url");
    (target.disabled ? $("#set-polygon-url") : target).focus();
  });
  // Live per-field checks once the user has typed in a field.
  $("#settings-form").addEventListener("input", (e) => {
    const field = Object.keys(FIELD_INPUT).find((f) => FIELD_INPUT[f] === e.target.id);
    if (!field) return;
    const errors = checkSettings(readForm());
    setFieldError(field, errors[field] || "");
  });
  $("#set-worker-enabled").addEventListener("change", (e) => {
    $("#set-worker-concurrency").disabled = !e.target.checked;
  });
  $("#btn-toggle-key").addEventListener("click", (e) => {
    const input = $("#set-api-key");
    const show = input.type === "password";
    input.type = show ? "text" : "password";
    const btn = e.currentTarget;
    btn.setAttribute("aria-pressed", show ? "true" : "false");
    btn.setAttribute("aria-label", show ? "Hide API key" : "Show API key");
    btn.querySelector(".bi").className = `bi ${show ? "bi-eye-slash" : "bi-eye"}`;
  });
  $("#btn-remove-key").addEventListener("click", () => {
    removeKey = true;
    $("#set-api-key").value = "";
    setFieldError("apiKey", "");
    renderKeyState();
    $("#btn-undo-remove-key").focus();
  });
  $("#btn-undo-remove-key").addEventListener("click", () => {
    removeKey = false;
    renderKeyState();
    $("#set-api-key").focus();
  });
  const redisBtn = $("#btn-test-redis");
  redisBtn.addEventListener("click", () => runTest(redisBtn, "test-redis-result", "redisUrl", () => api.testRedis($("#set-redis-url").value.trim())));
  const dbBtn = $("#btn-test-database");
  dbBtn.addEventListener("click", () => runTest(dbBtn, "test-database-result", "databaseUrl", () => api.testDatabase($("#set-database-url").value.trim())));
  const polyBtn = $("#btn-test-polygon");
  polyBtn.addEventListener("click", () =>
    runTest(polyBtn, "test-polygon-result", "apiKey", () =>
      api.testPolygon($("#set-polygon-url").value.trim(), removeKey ? null : $("#set-api-key").value.trim() || null),
    ),
  );
}

/** Reads the settings at start-up and opens the modal on first run (no API key yet). */
export async function checkFirstRun() {
  try {
    const view = await api.getSettings();
    current = view;
    if (view && !view.apiKeySet) await openSettings({ welcome: true });
    return view;
  } catch (err) {
    errorToast("Could not read the settings", err);
    return null;
  }
}
