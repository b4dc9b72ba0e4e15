// About dialog: the version and the folders the app keeps the user's data and logs in
// (uninstalling leaves them).
import * as api from "./api.js";
import { $ } from "./util.js";
import { errorToast } from "./toasts.js";

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
  $("#btn-about-logs").addEventListener("click", async () => {
    try {
      await api.openLogDir();
    } catch (err) {
      errorToast("Could not open the log folder", err);
    }
  });
}
