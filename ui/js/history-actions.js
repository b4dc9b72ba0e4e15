// The job history's CSV export and its bulk Retry, Cancel and Delete of the selected rows.
import * as api from "./api.js";
import { $, shortId, count } from "./util.js";
import { toast, errorToast } from "./toasts.js";
import { confirmAction } from "./confirm.js";
import { selected, query } from "./history-state.js";

let hooks = null; // history.js's: what refreshes after jobs change or are submitted (bindActions)

async function exportCsv() {
  const btn = $("#btn-export-csv");
  btn.disabled = true;
  try {
    // The rows the table shows (its search, every filter and its order; all pages, not only
    // this one) with its columns, through the system's Save dialog; the backend says where
    // the file went and how many jobs it holds.
    const res = await api.exportJobsCsv({ ...query(), at: "first" });
    if (res && res.path) {
      const n = typeof res.rows === "number" ? `${count(res.rows, "job")} saved` : "Saved";
      toast({ title: "Jobs exported", body: `${n} to ${res.path}.`, variant: "success" });
    } else if (res && res.cancelled) toast({ title: "Export cancelled", body: "No file was written.", variant: "info" });
  } catch (err) {
    errorToast("Could not export jobs", err);
  } finally {
    btn.disabled = false;
  }
}

const BULK = {
  retry: { title: "Retry", done: "Retried", variant: "primary" },
  cancel: { title: "Cancel", done: "Cancel requested for", variant: "warning" },
  delete: { title: "Delete", done: "Deleted", variant: "danger" },
};

async function bulk(action) {
  const ids = [...selected];
  if (!ids.length) return;
  const b = BULK[action];
  if (action !== "retry") {
    const ok = await confirmAction({
      title: `${b.title} ${count(ids.length, "job")}?`,
      body: action === "delete" ? "Finished jobs are deleted from the history and the queue; active ones are left alone." : "Running jobs stop after their current chunk; waiting ones do not start.",
      confirmLabel: `${b.title} ${count(ids.length, "job")}`,
      variant: b.variant,
    });
    if (!ok) return;
  }
  try {
    const res = await api.bulkJobs(action, ids);
    const failed = Array.isArray(res.failed) ? res.failed : [];
    const lines = failed.slice(0, 5).map((f) => `${shortId(f.jobId)}: ${f.message}`);
    if (failed.length > 5) lines.push(`and ${failed.length - 5} more`);
    toast({
      title: `${b.done} ${count(res.done, "job")}`,
      body: failed.length ? `${count(failed.length, "job")} not changed:\n${lines.join("\n")}` : "",
      variant: failed.length ? "warning" : "success",
    });
    for (const id of res.jobIds || []) hooks.onSubmitted(id);
    selected.clear();
    hooks.onChanged();
  } catch (err) {
    errorToast(`Could not ${action} the selected jobs`, err);
  }
}

/** Wires Export and the bulk buttons. */
export function bindActions(h) {
  hooks = h;
  $("#btn-export-csv").addEventListener("click", exportCsv);
  $("#btn-bulk-retry").addEventListener("click", () => bulk("retry"));
  $("#btn-bulk-cancel").addEventListener("click", () => bulk("cancel"));
  $("#btn-bulk-delete").addEventListener("click", () => bulk("delete"));
}
