// About dialog: the version and the folders the app keeps the user's data and logs in
// (uninstalling leaves them).
import * as api from "./api.js";
import { $, el } from "./util.js";
import { errorToast, toast } from "./toasts.js";

/** Fills the dialog from the backend's answer. Exported for tests. */
export function showAbout(info, root = document) {
  const set = (id, text) => {
    const node = $(id, root);
    if (node) node.textContent = text || "";
  };
  set("#about-name", info.name === "tickstock-app" ? "TickStock Admin" : info.name || "TickStock Admin");
  set("#about-version", info.version ? `v${info.version}` : "");
  set("#about-data-dir", info.dataDir);
  set("#about-log-dir", info.logDir);
  set("#about-config-dir", info.configDir);
  set("#about-identifier", info.identifier);
  set("#about-tauri", info.tauriVersion);
}

export function initAbout() {
  const modalEl = $("#about-modal");
  if (!modalEl) return;
  const modal = () => window.bootstrap.Modal.getOrCreateInstance(modalEl);
  $("#btn-about").addEventListener("click", async () => {
    try {
      showAbout(await api.about());
      modal().show();
    } catch (err) {
      errorToast("Could not read the app's details", err);
    }
  });
  $("#btn-about-logs").addEventListener("click", openLogs);
}

/** Opens the log folder; where no file manager can, shows the folder with a Copy button. */
export async function openLogs() {
  try {
    await api.openLogDir();
  } catch (err) {
    let dir = "";
    try {
      dir = (await api.about()).logDir || "";
    } catch (_) {
      /* the message names the folder too */
    }
    const body = el("div", {},
      el("p", { class: "mb-2", text: err.message }),
      dir ? el("div", { class: "d-flex align-items-center gap-2" },
        el("code", { class: "text-break flex-grow-1", text: dir }),
        el("button", {
          type: "button",
          class: "btn btn-sm btn-outline-secondary btn-copy-path",
          text: "Copy path",
          onclick: (e) => copyText(dir, e.currentTarget),
        })) : null,
    );
    toast({ title: "The log folder", body, variant: "info", delay: 15000 });
  }
}

async function copyText(text, button) {
  try {
    await navigator.clipboard.writeText(text);
    button.textContent = "Copied";
  } catch (_) {
    // No clipboard access: select the path so Ctrl+C copies it.
    const code = button.parentElement.querySelector("code");
    const range = document.createRange();
    range.selectNodeContents(code);
    const sel = window.getSelection();
    sel.removeAllRanges();
    sel.addRange(range);
    button.textContent = "Press Ctrl+C";
  }
}
