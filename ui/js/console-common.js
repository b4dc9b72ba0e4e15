// The Operations card's shared parts: a job's link to its detail, empty rows, notes, action buttons.
import { $, el, shortId } from "./util.js";
import { toast, errorToast } from "./toasts.js";

const hooks = { openDetail: () => {}, onChanged: () => {}, refresh: async () => {} };

export function jobCell(jobId) {
  if (!jobId) return el("td", { class: "text-body-secondary", text: "—" });
  const link = el("button", {
    type: "button",
    class: "btn btn-link btn-sm p-0 font-monospace opsc-job",
    text: shortId(jobId),
    title: `Job ${jobId}: show its detail`,
  });
  link.addEventListener("click", () => hooks.openDetail(jobId));
  return el("td", {}, link);
}

export function emptyRow(cols, text) {
  return el("tr", { class: "opsc-empty" }, el("td", { attrs: { colspan: cols }, text }));
}

export function note(sel, text) {
  const n = $(sel);
  n.textContent = text || "";
  n.classList.toggle("d-none", !text);
}

export function actionButton(cls, iconName, label, title, onClick) {
  const b = el("button", { type: "button", class: `btn btn-xs ${cls}`, title }, el("i", { class: `bi bi-${iconName}`, attrs: { "aria-hidden": "true" } }), ` ${label}`);
  b.addEventListener("click", onClick);
  return b;
}

/** Runs an action, says what it did, and refreshes. */
export async function act(call, what) {
  try {
    const r = await call();
    toast({ title: r.message, variant: "success", mono: r.jobId ? shortId(r.jobId) : "" });
    hooks.onChanged();
  } catch (err) {
    errorToast(`${what}: the action failed`, err);
  }
  await hooks.refresh();
}

/** What a job's link opens, what an action's change refreshes, and how the tab is read again. */
export function initCommon({ openDetail, onChanged, refresh }) {
  if (openDetail) hooks.openDetail = openDetail;
  if (onChanged) hooks.onChanged = onChanged;
  hooks.refresh = refresh;
}
