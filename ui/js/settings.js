// Settings modal: connections, the Polygon key (never shown back: only a hint such as
// "••••1a2b"), rate limit and worker options. Validates each field on the client for the
// obvious mistakes and shows the backend's own message under the field it names. The form's
// fields are settings-form.js, its Test buttons settings-connections.js; saving is here.
import * as api from "./api.js";
import { $, el, clear } from "./util.js";
import { toast, errorToast } from "./toasts.js";
import { mergeProblems, problemLines, savedToast } from "./settings-check.js";
import {
  FIELD_INPUT, checkSettings, readForm, setFieldError, clearErrors, showErrors, fill, bindForm,
  currentView, keepView,
} from "./settings-form.js";
import { failedTests, clearTests, bindTests } from "./settings-connections.js";

const snakeToCamel = (s) => s.replace(/_([a-z])/g, (_, c) => c.toUpperCase());

let saving = false;
let hooks = { onSaved: () => {} };

const modal = () => window.bootstrap.Modal.getOrCreateInstance($("#settings-modal"));

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
    const problems = mergeProblems(impact && impact.problems, failedTests());
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
  clearTests();
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
    const current = currentView();
    const target = current && !current.apiKeySet ? $("#set-api-key") : $("#set-polygon-url");
    (target.disabled ? $("#set-polygon-url") : target).focus();
  });
  bindForm();
  bindTests();
}

/** Reads the settings at start-up and opens the modal on first run (no API key yet). */
export async function checkFirstRun() {
  try {
    const view = await api.getSettings();
    keepView(view);
    if (view && !view.apiKeySet) await openSettings({ welcome: true });
    return view;
  } catch (err) {
    errorToast("Could not read the settings", err);
    return null;
  }
}
