// The "Submit a load" form. Builds a job request from the fields, validates it with the
// backend as the user types (debounced) and shows each error under its field, exactly as the
// backend words it. Submits once (the button is disabled while invalid or in flight).
import * as api from "./api.js";
import { $, $$, el, clear, debounce, kindLabel, shortId, splitSymbols, fmtInt, count } from "./util.js";
import { toast, errorToast } from "./toasts.js";
import { estimateSentence } from "./coverage-text.js";

const VALIDATE_MS = 250;

/** Which parts of the form each job kind uses. */
const USES = {
  historical_load: { symbols: true, timespan: true },
  multi_timeframe_load: { symbols: true, timeframes: true },
  universe_seed: { universe: true, refresh: true },
  csv_universe_load: { universe: true, timeframes: true },
};

/** Backend error field -> inputs to mark and the feedback element. */
const FIELDS = {
  symbols: { inputs: ["#symbols"], feedback: "#symbols-error", group: "#grp-symbols" },
  years: { inputs: ["#duration"], feedback: "#duration-error" },
  dates: { inputs: ["#start-date", "#end-date"], feedback: "#dates-error", group: "#grp-dates" },
  timespan: { inputs: ["#timespan"], feedback: "#timespan-error", group: "#grp-timespan" },
  timeframes: { inputs: ["input[name=timeframe]"], feedback: "#timeframes-error", group: "#grp-timeframes" },
  universe: { inputs: ["#universe-key"], feedback: "#universe-error", group: "#grp-universe" },
  csvFile: { inputs: ["#universe-key"], feedback: "#universe-error", group: "#grp-universe" },
  kind: { inputs: ["#load-type"], feedback: "#kind-error" },
};
const FEEDBACKS = [...new Set(Object.values(FIELDS).map((f) => f.feedback))];

const state = {
  pristine: true,
  valid: false,
  inFlight: false,
  seq: 0,
  validationError: null,
  errorCount: 0,
  onSubmitted: () => {},
};

const form = () => $("#submit-form");
const kind = () => $("#load-type").value;
const isDates = () => $("#duration").value === "dates";

function isoDay(date) {
  const p = (n) => String(n).padStart(2, "0");
  return `${date.getFullYear()}-${p(date.getMonth() + 1)}-${p(date.getDate())}`;
}

/** The request the form currently describes. */
export function buildRequest() {
  const k = kind();
  const uses = USES[k] || {};
  const universeKey = $("#universe-key").value.trim();
  const dates = isDates();
  return {
    kind: k,
    symbols: uses.symbols ? $("#symbols").value : [],
    years: dates ? null : Number($("#duration").value),
    startDate: dates ? $("#start-date").value || null : null,
    endDate: dates ? $("#end-date").value || null : null,
    timespan: uses.timespan ? $("#timespan").value : null,
    timeframes: uses.timeframes ? $$("input[name=timeframe]:checked").map((c) => c.value) : [],
    universeType: k === "universe_seed" && universeKey ? universeKey.toUpperCase() : null,
    universeKey: uses.universe && universeKey ? universeKey : null,
    refresh: k === "universe_seed" ? $("#refresh").checked : false,
  };
}

function show(sel, visible) {
  $(sel).classList.toggle("d-none", !visible);
}

function applyKind() {
  const uses = USES[kind()] || {};
  show("#grp-symbols", !!uses.symbols);
  show("#grp-timespan", !!uses.timespan);
  show("#grp-timeframes", !!uses.timeframes);
  show("#grp-universe", !!uses.universe);
  show("#grp-refresh", !!uses.refresh);
  show("#grp-dates", isDates());
  const csv = kind() === "csv_universe_load";
  show("#universe-key-joined-note", csv);
  $("#universe-select").options[0].textContent = csv ? "Add a universe…" : "Choose a universe…";
}

function clearErrors() {
  for (const f of Object.values(FIELDS)) {
    for (const sel of f.inputs) $$(sel).forEach((n) => n.classList.remove("is-invalid"));
  }
  for (const sel of FEEDBACKS) {
    const fb = $(sel);
    fb.textContent = "";
    fb.classList.remove("d-block");
  }
}

/** Shows backend errors [{field, message}] under their fields. */
export function showErrors(errors) {
  clearErrors();
  const byFeedback = new Map();
  for (const e of errors) {
    let f = FIELDS[e.field] || FIELDS.kind;
    if (f.group && $(f.group).classList.contains("d-none")) f = FIELDS.kind;
    for (const sel of f.inputs) $$(sel).forEach((n) => n.classList.add("is-invalid"));
    if (!byFeedback.has(f.feedback)) byFeedback.set(f.feedback, []);
    byFeedback.get(f.feedback).push(String(e.message));
  }
  for (const [sel, messages] of byFeedback) {
    const fb = $(sel);
    fb.textContent = messages.join(" ");
    fb.classList.add("d-block");
  }
}

function updateControls() {
  const btn = $("#btn-submit");
  btn.disabled = !state.valid || state.inFlight;
  btn.setAttribute("aria-busy", state.inFlight ? "true" : "false");
  btn.querySelector(".spinner-border").classList.toggle("d-none", !state.inFlight);
  btn.querySelector(".bi").classList.toggle("d-none", state.inFlight);
  btn.querySelector(".btn-label").textContent = state.inFlight ? "Submitting…" : "Submit load";
  let hint = "";
  if (state.inFlight) hint = "";
  else if (state.validationError) hint = `Could not check the form: ${state.validationError}`;
  else if (!state.valid && state.pristine) hint = "Fill in the form to submit.";
  else if (!state.valid) hint = state.errorCount === 1 ? "Fix the highlighted field." : `Fix the ${state.errorCount} highlighted fields.`;
  $("#submit-hint").textContent = hint;
  $("#submit-hint").classList.toggle("text-danger", Boolean(state.validationError));
}

/** Validates now; resolves to true when the backend accepts the request. */
export async function validateNow() {
  const seq = ++state.seq;
  let result;
  try {
    result = await api.validateJob(buildRequest());
  } catch (err) {
    if (seq !== state.seq) return state.valid;
    state.valid = false;
    state.validationError = err.message;
    updateControls();
    return false;
  }
  if (seq !== state.seq) return state.valid; // a newer check is on its way
  const errors = Array.isArray(result && result.errors) ? result.errors : [];
  state.validationError = null;
  state.valid = Boolean(result && result.ok) && errors.length === 0;
  state.errorCount = errors.length;
  if (state.pristine) clearErrors();
  else showErrors(errors);
  updateControls();
  if (state.valid) estimateSoon();
  else $("#submit-estimate").textContent = "";
  return state.valid;
}

/** Polygon requests and time at the plan's rate, shown before submitting. */
async function showEstimate() {
  const seq = state.seq;
  try {
    const e = await api.estimateJob(buildRequest());
    if (seq !== state.seq || !e) return;
    const node = $("#submit-estimate");
    node.textContent = estimateSentence(e);
    node.title = e.summary || "";
  } catch (_) {
    $("#submit-estimate").textContent = "";
  }
}
const estimateSoon = debounce(showEstimate, 400);

/** Submits again although an identical job is active. */
async function submitAnyway(request) {
  try {
    const res = await api.submitJob(request, true);
    toast({ title: "Job submitted", mono: shortId(res && res.jobId), body: `${kindLabel(request.kind)} load queued beside the identical one.`, variant: "success" });
    state.onSubmitted(res && res.jobId);
  } catch (err) {
    errorToast("Could not submit the job", err);
  }
}

const validateSoon = debounce(validateNow, VALIDATE_MS);

function onEdit() {
  state.pristine = false;
  state.seq++; // results of checks already under way describe an older form
  validateSoon();
}

function updateSymbolCount() {
  const n = splitSymbols($("#symbols").value).length;
  $("#symbols-count").textContent = n ? `${n} symbol${n === 1 ? "" : "s"}` : "";
}

// Universes -----------------------------------------------------------------------------

let previewSeq = 0;
async function refreshUniversePreview() {
  const key = $("#universe-key").value.trim();
  const box = $("#universe-preview");
  const seq = ++previewSeq;
  if (!key) {
    clear(box);
    box.classList.add("d-none");
    return;
  }
  try {
    const p = await api.universePreview(key);
    if (seq !== previewSeq) return;
    clear(box);
    const count = Number(p && p.count) || 0;
    const sample = Array.isArray(p && p.sample) ? p.sample : [];
    const unknown = Array.isArray(p && p.unknown) ? p.unknown : [];
    box.append(
      el("div", { class: "d-flex align-items-center gap-2" },
        el("i", { class: `bi ${count ? "bi-people text-success" : "bi-exclamation-circle text-warning"}`, attrs: { "aria-hidden": "true" } }),
        el("strong", { class: "universe-count", text: `${fmtInt(count)} symbol${count === 1 ? "" : "s"}` }),
      ),
    );
    if (sample.length) {
      const more = count > sample.length ? ` … +${fmtInt(count - sample.length)} more` : "";
      box.append(el("div", { class: "sample text-body-secondary mt-1", text: sample.join(", ") + more }));
    }
    if (unknown.length) {
      box.append(el("div", { class: "text-warning-emphasis mt-1 universe-unknown" },
        el("i", { class: "bi bi-question-circle me-1", attrs: { "aria-hidden": "true" } }),
        `Unknown key${unknown.length === 1 ? "" : "s"}: `,
        el("span", { class: "font-monospace", text: unknown.join(", ") })));
    }
    box.classList.remove("d-none");
  } catch (err) {
    if (seq !== previewSeq) return;
    clear(box);
    box.append(el("span", { class: "text-danger", text: `Preview unavailable: ${err.message}` }));
    box.classList.remove("d-none");
  }
}
const previewSoon = debounce(refreshUniversePreview, VALIDATE_MS);

/** The universes of the database in use, into the picker (again after a change of settings). */
export async function loadUniverses() {
  const select = $("#universe-select");
  try {
    const list = await api.listUniverses();
    while (select.options.length > 1) select.remove(1);
    for (const u of Array.isArray(list) ? list : []) {
      const label = `${u.name || u.key} (${u.key}) · ${count(u.members, "symbol")}${u.asOf ? ` · as of ${u.asOf}` : ""}`;
      select.append(el("option", { value: u.key, text: label }));
    }
  } catch (err) {
    while (select.options.length > 1) select.remove(1);
    select.append(el("option", { value: "", disabled: true, text: `Universes unavailable: ${err.message}` }));
  }
}

function onUniversePicked() {
  const select = $("#universe-select");
  const key = select.value;
  if (!key) return;
  const input = $("#universe-key");
  if (kind() === "csv_universe_load" && input.value.trim()) {
    const parts = input.value.split(":").map((s) => s.trim()).filter(Boolean);
    if (!parts.includes(key)) parts.push(key);
    input.value = parts.join(":");
    select.value = "";
  } else {
    input.value = key;
  }
  refreshUniversePreview();
  onEdit();
}

// Submit --------------------------------------------------------------------------------

async function onSubmit(event) {
  event.preventDefault();
  if (state.inFlight) return; // no double submit
  state.pristine = false;
  state.inFlight = true;
  updateControls();
  validateSoon.cancel();
  try {
    const ok = await validateNow();
    if (!ok) {
      const first = $("#submit-form .is-invalid");
      if (first) first.focus();
      return;
    }
    const request = buildRequest();
    try {
      const res = await api.submitJob(request);
      const id = res && res.jobId;
      toast({ title: "Job submitted", mono: shortId(id), body: `${kindLabel(request.kind)} load queued.`, variant: "success" });
      if (res && res.warning) toast({ title: "No worker will take it yet", mono: shortId(id), body: res.warning, variant: "warning" });
      state.onSubmitted(id);
    } catch (err) {
      if (err.kind === "invalid_input" && /identical job is already active/i.test(err.message)) {
        const m = /active: ([0-9a-f-]{36})/i.exec(err.message);
        const body = el("div", {},
          el("p", { class: "mb-2", text: `The same load is already ${m ? `job ${shortId(m[1])}` : "active"}; nothing was submitted.` }),
          el("button", { type: "button", class: "btn btn-sm btn-outline-primary btn-submit-anyway", text: "Submit anyway", onclick: () => submitAnyway(request) }));
        toast({ title: "Already running", body, variant: "warning", delay: 12000 });
      } else if (err.kind === "invalid_input" && err.field) {
        showErrors([{ field: err.field, message: err.message }]);
        state.valid = false;
        state.errorCount = 1;
      } else {
        errorToast("Could not submit the job", err);
      }
    }
  } finally {
    state.inFlight = false;
    updateControls();
  }
}

export function initSubmit({ onSubmitted } = {}) {
  if (onSubmitted) state.onSubmitted = onSubmitted;
  const f = form();
  f.addEventListener("submit", onSubmit);
  f.addEventListener("input", (e) => {
    if (e.target.id === "universe-select") return;
    if (e.target.id === "symbols") updateSymbolCount();
    if (e.target.id === "universe-key") previewSoon();
    onEdit();
  });
  f.addEventListener("change", (e) => {
    if (e.target.id === "universe-select") return onUniversePicked();
    if (e.target.id === "load-type") applyKind();
    if (e.target.id === "duration") {
      if (isDates() && !$("#start-date").value && !$("#end-date").value) {
        const end = new Date();
        const start = new Date(end.getTime() - 30 * 86400000);
        $("#start-date").value = isoDay(start);
        $("#end-date").value = isoDay(end);
      }
      applyKind();
    }
    if (e.target.type === "checkbox" || e.target.tagName === "SELECT" || e.target.type === "date") onEdit();
  });
  // Enter submits from any field (Ctrl+Enter in the symbols box, where Enter is a new line),
  // also when the button is still disabled because a check is under way: the submit handler
  // validates first and submits only a valid request.
  f.addEventListener("keydown", (e) => {
    if (e.key !== "Enter" || e.isComposing) return;
    const t = e.target;
    const textarea = t.tagName === "TEXTAREA";
    if (textarea && !(e.ctrlKey || e.metaKey)) return;
    if (t.tagName === "BUTTON" || t.tagName === "SELECT") return;
    e.preventDefault();
    f.requestSubmit();
  });
  applyKind();
  updateSymbolCount();
  updateControls();
  validateNow();
  return loadUniverses();
}
