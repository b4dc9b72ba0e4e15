// The "Submit a load" form. Builds a job request from the fields, validates it with the
// backend as the user types (debounced) and shows each error under its field, exactly as the
// backend words it. Submits once (the button is disabled while invalid or in flight).
// The form's fields and checks are submit-form.js, its universes submit-universes.js.
import * as api from "./api.js";
import { $, el, kindLabel, shortId } from "./util.js";
import { toast, errorToast } from "./toasts.js";
import {
  state, isDates, buildRequest, applyKind, showErrors, updateControls, validateNow, validateSoon,
  onEdit, updateSymbolCount,
} from "./submit-form.js";
import { previewSoon, loadUniverses, onUniversePicked } from "./submit-universes.js";

const form = () => $("#submit-form");

function isoDay(date) {
  const p = (n) => String(n).padStart(2, "0");
  return `${date.getFullYear()}-${p(date.getMonth() + 1)}-${p(date.getDate())}`;
}

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
