// The load form's fields: the request they describe, what each kind shows, the backend's checks.
import * as api from "./api.js";
import { $, $$, debounce, splitSymbols } from "./util.js";
import { estimateSentence } from "./coverage-text.js";

export const VALIDATE_MS = 250;

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

export const state = {
  pristine: true,
  valid: false,
  inFlight: false,
  seq: 0,
  validationError: null,
  errorCount: 0,
  onSubmitted: () => {},
};

export const kind = () => $("#load-type").value;
export const isDates = () => $("#duration").value === "dates";

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

export function applyKind() {
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

export function updateControls() {
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

export const validateSoon = debounce(validateNow, VALIDATE_MS);

export function onEdit() {
  state.pristine = false;
  state.seq++; // results of checks already under way describe an older form
  validateSoon();
}

export function updateSymbolCount() {
  const n = splitSymbols($("#symbols").value).length;
  $("#symbols-count").textContent = n ? `${n} symbol${n === 1 ? "" : "s"}` : "";
}
