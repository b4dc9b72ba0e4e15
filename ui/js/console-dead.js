// The Operations card's Dead letters tab: Requeue, Delete, and Purge all.
import * as api from "./api.js";
import { $, $$, el, clear, kindLabel, fmtAge, fmtDateTime, fmtInt, count } from "./util.js";
import { confirmAction } from "./confirm.js";
import { jobCell, emptyRow, note, actionButton, act } from "./console-common.js";

export function renderDead(v) {
  note("#opsc-dead-note", v.note);
  $("#opsc-dead-summary").textContent = v.mode === "redis" ? count(v.letters.length, "dead letter") : "";
  $("#btn-dead-purge").disabled = !v.letters.length;
  const body = $("#opsc-dead tbody");
  clear(body);
  for (const d of v.letters) {
    body.append(
      el(
        "tr",
        { dataset: { deadId: d.id, jobId: d.jobId || "" } },
        jobCell(d.jobId),
        el("td", { class: "text-nowrap", text: kindLabel(d.kind) }),
        el("td", { class: "opsc-reason small", text: d.reason || "—" }),
        el("td", { class: "text-end", text: fmtInt(d.deliveries) }),
        el("td", { class: "text-nowrap", text: fmtAge(d.ageSeconds), title: d.failedAt ? fmtDateTime(d.failedAt) : "" }),
        el(
          "td",
          { class: "text-end text-nowrap" },
          Object.assign(
            actionButton("btn-outline-primary btn-dead-requeue me-1", "arrow-counterclockwise", "Requeue", d.requeueable ? "Queue the job again; it resumes from its checkpoints" : "Its message is not a job: it cannot be queued again", () => deadRequeue(d)),
            { disabled: !d.requeueable },
          ),
          actionButton("btn-outline-danger btn-dead-delete", "trash", "Delete", "Delete this dead letter", () => deadDelete(d)),
        ),
      ),
    );
  }
  if (!v.letters.length) body.append(emptyRow(6, v.mode === "redis" ? "No dead letters" : "—"));
}

async function deadRequeue(d) {
  await act(() => api.requeueDeadLetter(d.id), "Dead letter");
}

async function deadDelete(d) {
  const ok = await confirmAction({
    title: "Delete this dead letter?",
    body: `Job ${d.jobId || d.id} will not be retried; its history stays.`,
    confirmLabel: "Delete",
    variant: "danger",
  });
  if (ok) await act(() => api.deleteDeadLetter(d.id), "Dead letter");
}

export async function deadPurge() {
  const n = $$("#opsc-dead tbody tr[data-dead-id]").length;
  const ok = await confirmAction({
    title: `Purge ${count(n, "dead letter")}?`,
    body: "Every dead letter is deleted; none of their jobs will be retried.",
    confirmLabel: "Purge all",
    variant: "danger",
  });
  if (ok) await act(() => api.purgeDeadLetters(), "Dead letters");
}
