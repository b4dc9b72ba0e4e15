// The load form's universes: the picker's list, and a preview of the key typed or picked.
import * as api from "./api.js";
import { $, el, clear, debounce, fmtInt, count } from "./util.js";
import { VALIDATE_MS, kind, onEdit } from "./submit-form.js";

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
export const previewSoon = debounce(refreshUniversePreview, VALIDATE_MS);

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

export function onUniversePicked() {
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
