// Bootstrap toasts in the bottom-right corner (#toasts). Text only: titles and bodies that
// come from the backend are set with textContent.
import { el, icon } from "./util.js";

const VARIANTS = {
  success: { icon: "check-circle-fill", cls: "text-success" },
  info: { icon: "info-circle-fill", cls: "text-primary" },
  warning: { icon: "exclamation-triangle-fill", cls: "text-warning" },
  danger: { icon: "x-octagon-fill", cls: "text-danger" },
};

/**
 * Shows a toast.
 * @param {{title: string, body?: string|Node, variant?: "success"|"info"|"warning"|"danger", mono?: string, delay?: number}} opts
 *   mono: a short identifier shown in monospace after the title (e.g. a job id).
 */
export function toast({ title, body = "", variant = "info", mono = "", delay }) {
  const v = VARIANTS[variant] || VARIANTS.info;
  const urgent = variant === "danger";
  const node = el(
    "div",
    {
      class: "toast",
      attrs: { role: urgent ? "alert" : "status", "aria-live": urgent ? "assertive" : "polite", "aria-atomic": "true" },
      dataset: { variant },
    },
    el(
      "div",
      { class: "toast-header" },
      icon(v.icon, `${v.cls} me-2`),
      el("strong", { class: "me-auto toast-title", text: title }),
      mono ? el("code", { class: "ms-2 toast-mono", text: mono }) : null,
      el("button", { type: "button", class: "btn-close ms-2", attrs: { "data-bs-dismiss": "toast", "aria-label": "Close" } }),
    ),
    body ? el("div", { class: "toast-body" }, body instanceof Node ? body : String(body)) : null,
  );
  document.getElementById("toasts").append(node);
  const t = window.bootstrap.Toast.getOrCreateInstance(node, {
    delay: delay ?? (urgent ? 10000 : 5000),
    autohide: true,
  });
  node.addEventListener("hidden.bs.toast", () => {
    t.dispose();
    node.remove();
  });
  t.show();
  return node;
}

/** Toast for a failed call: the error's message as the body. */
export function errorToast(title, err) {
  return toast({ title, body: err && err.message ? err.message : String(err), variant: "danger" });
}

// While a dialog is open, toasts show inside it above its footer, so they never cover the
// dialog's buttons; they go back to the corner when it closes.
const CORNER = "toast-container position-fixed bottom-0 end-0 p-3";
function placeToasts() {
  const container = document.getElementById("toasts");
  if (!container) return;
  const open = document.querySelector(".modal.show .modal-footer");
  if (open) {
    if (container.nextElementSibling !== open) open.before(container);
    container.className = "toast-container toast-in-modal px-3 pb-2";
  } else if (container.parentElement !== document.body) {
    document.body.append(container);
    container.className = CORNER;
  }
}
if (typeof document !== "undefined") {
  document.addEventListener("shown.bs.modal", placeToasts);
  document.addEventListener("hidden.bs.modal", placeToasts);
}
