// A single Bootstrap confirmation modal (#confirm-modal) reused by every destructive or
// expensive action. Escape / Cancel / the close button resolve false.
import { $, clear } from "./util.js";

let pending = null;

/**
 * Asks for confirmation.
 * @param {{title: string, body: string|Node|Node[], confirmLabel?: string, variant?: string}} opts
 * @returns {Promise<boolean>}
 */
export function confirmAction({ title, body, confirmLabel = "Confirm", variant = "primary" }) {
  const modalEl = $("#confirm-modal");
  const modal = window.bootstrap.Modal.getOrCreateInstance(modalEl);
  if (pending) pending(false);
  $("#confirm-title").textContent = title;
  const bodyEl = $("#confirm-body");
  clear(bodyEl);
  for (const part of [].concat(body)) {
    bodyEl.append(part instanceof Node ? part : document.createTextNode(String(part)));
  }
  const btn = $("#btn-confirm");
  btn.textContent = confirmLabel;
  btn.className = `btn btn-${variant}`;
  return new Promise((resolve) => {
    let answered = false;
    const finish = (value) => {
      if (answered) return;
      answered = true;
      pending = null;
      btn.removeEventListener("click", onConfirm);
      modalEl.removeEventListener("hidden.bs.modal", onHidden);
      resolve(value);
    };
    const onConfirm = () => {
      finish(true);
      modal.hide();
    };
    const onHidden = () => finish(false);
    pending = finish;
    btn.addEventListener("click", onConfirm);
    modalEl.addEventListener("hidden.bs.modal", onHidden);
    modalEl.addEventListener("shown.bs.modal", () => btn.focus(), { once: true });
    modal.show();
  });
}
