// The Coverage view's gaps list: one page of the symbols the view's filter picks, checked
// for missing sessions over a range, with Fill per row and Fill all (top-up jobs with
// fill). Fill all first shows how many symbols and jobs it submits and their estimate of
// Polygon requests and time at the plan's rate, and submits only on confirm.
import * as api from "./api.js";
import { $, el, clear, icon, fmtInt, count } from "./util.js";
import { toast, errorToast } from "./toasts.js";
import { confirmAction } from "./confirm.js";
import { showingText, pageScope, pageMoves, fillConfirmText } from "./coverage-text.js";

let hooks = { onSubmitted: () => {}, filter: () => "" };
let lastGaps = [];
// The page asked for next, and the one shown (its offset, symbols checked and page size).
let offset = 0;
let shown = { offset: 0, checked: 0, total: 0, pageSize: 100, filter: "" };
let seq = 0;

async function fill(items, button) {
  if (button) button.disabled = true;
  try {
    const r = await api.fillGaps(items);
    for (const id of r.jobIds) hooks.onSubmitted(id);
    toast({
      title: r.jobIds.length === 1 ? "Fill submitted" : `${r.jobIds.length} fill jobs submitted`,
      body: r.warning || "Only the missing sessions are loaded.",
      variant: r.warning ? "warning" : "success",
      mono: r.jobIds.join(" "),
    });
  } catch (err) {
    errorToast("Could not submit the fill", err);
  } finally {
    if (button) button.disabled = false;
  }
}

function gapItem(g) {
  return { symbol: g.symbol, timeframe: g.timeframe, from: g.from, to: g.to };
}

/** Fill all: the gaps listed, after a confirmation with their estimate. */
async function fillAll(button) {
  const items = lastGaps.map(gapItem);
  if (!items.length) return;
  button.disabled = true;
  let text;
  try {
    text = fillConfirmText(await api.estimateFill(items));
  } catch (err) {
    const symbols = count(new Set(items.map((i) => i.symbol)).size, "symbol");
    text = { title: `Fill ${count(items.length, "gap")} of ${symbols}?`, lines: [`No estimate: ${err.message}`], confirmLabel: "Submit" };
  } finally {
    button.disabled = false;
  }
  const lines = [...text.lines];
  if (shown.total > shown.checked) {
    lines.push(`Only the gaps listed, in ${pageScope(shown.offset, shown.checked, shown.total, shown.filter)}.`);
  }
  const ok = await confirmAction({
    title: text.title,
    body: lines.map((l) => el("p", { class: "mb-2", text: l })),
    confirmLabel: text.confirmLabel,
  });
  if (ok) await fill(items, button);
}

/** Checks the gaps of the page of symbols asked for (`restart`: from the first page). */
export async function loadGaps({ restart = false } = {}) {
  if (restart) offset = 0;
  const tf = $("#cov-timeframe").value;
  const tbody = $("#cov-gaps tbody");
  const note = $("#cov-gaps-note");
  $("#btn-cov-fill-all").disabled = true;
  const filter = hooks.filter();
  const mine = ++seq;
  try {
    const r = await api.coverageGaps(tf, $("#cov-gaps-from").value, $("#cov-gaps-to").value, { filter, offset });
    if (mine !== seq) return;
    lastGaps = r.gaps;
    offset = r.offset;
    shown = { offset: r.offset, checked: r.symbolsChecked, total: r.symbolsTotal, pageSize: r.pageSize || r.symbolsChecked, filter };
    clear(tbody);
    if (!r.gaps.length) {
      const text = r.symbolsTotal ? "No gaps: every session of these symbols is stored." : filter ? showingText(0, 0, 0, filter) + "." : "No symbols stored yet.";
      tbody.append(el("tr", {}, el("td", { colSpan: 5, class: "text-body-secondary text-center py-3", text })));
    }
    for (const g of r.gaps) {
      const btn = el("button", { type: "button", class: "btn btn-sm btn-outline-primary py-0", title: `Load ${g.symbol} ${g.from} to ${g.to}` }, icon("bi-download"), " Fill");
      btn.addEventListener("click", () => fill([gapItem(g)], btn));
      tbody.append(el("tr", { dataset: { symbol: g.symbol, from: g.from } },
        el("td", { class: "font-monospace small", text: g.symbol }),
        el("td", { class: "small num", text: g.from }),
        el("td", { class: "small num", text: g.to }),
        el("td", { class: "text-end num", text: fmtInt(g.sessions) }),
        el("td", { class: "text-end" }, btn)));
    }
    $("#btn-cov-fill-all").disabled = r.gaps.length === 0;
    const gaps = `${fmtInt(r.gaps.length)} gap${r.gaps.length === 1 ? "" : "s"}`;
    note.textContent = `${showingText(r.offset, r.symbolsChecked, r.symbolsTotal, filter)} · ${gaps} · ${r.from} to ${r.to}`;
    const moves = pageMoves(r.offset, r.symbolsChecked, r.symbolsTotal);
    $("#cov-gaps-prev").disabled = !moves.prev;
    $("#cov-gaps-next").disabled = !moves.next;
  } catch (err) {
    if (mine !== seq) return;
    clear(tbody);
    tbody.append(el("tr", {}, el("td", { colSpan: 5, class: "text-danger text-center py-3", text: `Cannot check gaps: ${err.message}` })));
    note.textContent = "";
  }
}

/** Wires the list: `onSubmitted(id)` for each job submitted, `filter()` the view's filter. */
export function initGaps(options = {}) {
  hooks = { ...hooks, ...options };
  $("#btn-cov-gaps").addEventListener("click", () => loadGaps());
  $("#btn-cov-fill-all").addEventListener("click", (e) => fillAll(e.currentTarget));
  $("#cov-gaps-prev").addEventListener("click", () => {
    offset = Math.max(0, shown.offset - shown.pageSize);
    loadGaps();
  });
  $("#cov-gaps-next").addEventListener("click", () => {
    offset = shown.offset + shown.pageSize;
    loadGaps();
  });
}
