// The settings form's fields: filled from the stored settings, read back, checked on the client.
import { $ } from "./util.js";

/** Backend field name -> input id. */
export const FIELD_INPUT = {
  redisUrl: "set-redis-url",
  databaseUrl: "set-database-url",
  environment: "set-environment",
  operator: "set-operator",
  polygonBaseUrl: "set-polygon-url",
  apiKey: "set-api-key",
  requestsPerMinute: "set-rpm",
  workerConcurrency: "set-worker-concurrency",
};

let current = null; // last settings view
let removeKey = false;

/** The settings view last read or saved. */
export const currentView = () => current;

/** Keeps a settings view read without filling the form (the first run's check). */
export function keepView(view) {
  current = view;
}

/** Whether the stored key is to be removed when the form is saved. */
export const keyRemoved = () => removeKey;

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

export function readForm() {
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

export function setFieldError(field, message) {
  const id = FIELD_INPUT[field];
  if (!id) return false;
  const input = $(`#${id}`);
  const fb = $(`#${id}-error`);
  input.classList.toggle("is-invalid", Boolean(message));
  fb.textContent = message || "";
  fb.classList.toggle("d-block", Boolean(message));
  return true;
}

export function clearErrors() {
  for (const field of Object.keys(FIELD_INPUT)) setFieldError(field, "");
  const alert = $("#settings-error");
  alert.textContent = "";
  alert.classList.add("d-none");
}

export function showErrors(errors) {
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

export function fill(view) {
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

/** The form's own controls: live checks per field, the worker switch, the key's show and remove. */
export function bindForm() {
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
}
