// The job history at scale, from `history_page`: search (id, symbols also inside universes,
// universe keys, status and kind words), filters (kind, status by its count pills, requester,
// dates), sort by submitted, duration or bars, page size, keyset pages that do not shift while
// reading (first, previous, next) and a jump to any page or date; rows selected for Retry,
// Cancel or Delete; CSV export. A job the page follows live is shown from the same model as
// its card. The filters' state is history-state.js, the table history-table.js, the export and
// bulk actions history-actions.js; the detail modal is detail.js.
import * as api from "./api.js";
import { $, $$, el, clear, debounce, fmtInt } from "./util.js";
import { errorToast } from "./toasts.js";
import { openJobDetail, initDetail } from "./detail.js";
import { state, selected, query } from "./history-state.js";
import { COLS, row, renderSelection, renderPage } from "./history-table.js";
import { bindActions } from "./history-actions.js";

export { openJobDetail };

const REFRESH_MS = 5000;

let current = null; // the last page answered
let notice = ""; // why the page shown is not the one asked for, until the next move
let seq = 0;
let hooks = { onChanged: () => {}, onSubmitted: () => {} };

/** Brings the row of a job in view up to date with the page's model of it. */
export function updateRow(job) {
  const tbody = $("#history-table tbody");
  const old = tbody && tbody.querySelector(`tr[data-job-id="${CSS.escape(job.jobId)}"]`);
  if (!old) return;
  const hadFocus = old === document.activeElement;
  const base = current && current.items.find((j) => j.jobId === job.jobId);
  const fresh = row({ ...(base || {}), ...job, submittedAt: old.dataset.submittedAt || job.submittedAt });
  old.replaceWith(fresh);
  if (hadFocus) fresh.focus();
}

/** Loads the current page of history (where it starts stays put) and renders it. */
export async function loadHistory() {
  const mySeq = ++seq;
  const tbody = $("#history-table tbody");
  let page;
  try {
    page = await api.historyPage(query());
  } catch (err) {
    if (mySeq !== seq) return;
    clear(tbody);
    tbody.append(el("tr", {}, el("td", { colSpan: COLS, class: "text-danger py-4 text-center", text: `Cannot load jobs: ${err.message}` })));
    $("#history-summary").textContent = "";
    return;
  }
  if (mySeq !== seq) return;
  current = page;
  if (page.askedPage) {
    // Past the last page: the last is shown, and the page says so; refreshes stay there.
    notice = `Page ${fmtInt(page.askedPage)} is past the end: showing the last page, ${fmtInt(page.page)}.`;
    state.at = `page:${page.page}`;
  }
  const noticeNode = $("#history-notice");
  noticeNode.textContent = notice;
  noticeNode.classList.toggle("d-none", !notice);
  renderPage(page);
}

/** Goes to the first page with the filters as they are now. */
function restart() {
  notice = "";
  state.at = "first";
  return loadHistory();
}

function jump(text) {
  const t = String(text || "").trim();
  notice = "";
  if (/^\d+$/.test(t)) state.at = `page:${t}`;
  else if (/^\d{4}-\d{2}-\d{2}$/.test(t)) {
    state.sort = "submitted";
    state.at = `date:${t}`;
  } else {
    errorToast("Cannot go there", { message: `"${t}" is neither a page number nor a date (YYYY-MM-DD).` });
    return;
  }
  loadHistory();
}

export function initHistory({ onChanged, onSubmitted } = {}) {
  if (onChanged) hooks.onChanged = onChanged;
  if (onSubmitted) hooks.onSubmitted = onSubmitted;
  initDetail({ onChanged, onSubmitted });
  const search = debounce(restart, 300);
  $("#history-filters").addEventListener("submit", (e) => {
    e.preventDefault();
    search.cancel();
    restart();
  });
  const bind = (sel, key, ev = "change", after = restart) =>
    $(sel).addEventListener(ev, (e) => {
      state[key] = e.target.value;
      after();
    });
  bind("#history-query", "search", "input", search);
  bind("#history-by", "requestedBy", "input", search);
  bind("#history-kind", "kind");
  bind("#history-since", "since");
  bind("#history-until", "until");
  $("#history-size").addEventListener("change", (e) => {
    state.pageSize = Number(e.target.value) || 25;
    restart();
  });
  $("#history-counts").addEventListener("click", (e) => {
    const b = e.target.closest("button[data-status]");
    if (!b) return;
    state.status = b.dataset.status;
    restart();
  });
  for (const b of $$("#history-table .btn-sort")) {
    b.addEventListener("click", () => {
      state.ascending = state.sort === b.dataset.sort ? !state.ascending : false;
      state.sort = b.dataset.sort;
      restart();
    });
  }
  $("#history-first").addEventListener("click", restart);
  $("#history-prev").addEventListener("click", () => {
    if (current && current.prev) {
      notice = "";
      state.at = `before:${current.prev}`;
      loadHistory();
    }
  });
  $("#history-next").addEventListener("click", () => {
    if (current && current.next) {
      notice = "";
      state.at = `after:${current.next}`;
      loadHistory();
    }
  });
  $("#history-jump").addEventListener("submit", (e) => {
    e.preventDefault();
    jump($("#history-goto").value);
  });
  $("#btn-history-refresh").addEventListener("click", () => loadHistory());
  bindActions(hooks);
  $("#history-select-all").addEventListener("change", (e) => {
    for (const b of $$("#history-table tbody .row-select")) {
      b.checked = e.target.checked;
      const id = b.closest("tr").dataset.jobId;
      if (b.checked) selected.add(id);
      else selected.delete(id);
    }
    renderSelection();
  });

  const tbody = $("#history-table tbody");
  tbody.addEventListener("click", (e) => {
    const tr = e.target.closest("tr[data-job-id]");
    if (!tr) return;
    if (e.target.classList.contains("row-select")) {
      if (e.target.checked) selected.add(tr.dataset.jobId);
      else selected.delete(tr.dataset.jobId);
      renderSelection();
      return;
    }
    if (e.target.closest(".col-select")) return;
    openJobDetail(tr.dataset.jobId);
  });
  tbody.addEventListener("keydown", (e) => {
    const tr = e.target.closest("tr[data-job-id]");
    if (!tr || e.target.classList.contains("row-select")) return;
    if (e.key === "Enter" || e.key === " ") {
      e.preventDefault();
      openJobDetail(tr.dataset.jobId);
    } else if (e.key === "ArrowDown" || e.key === "ArrowUp") {
      e.preventDefault();
      const next = e.key === "ArrowDown" ? tr.nextElementSibling : tr.previousElementSibling;
      if (next && next.dataset.jobId) next.focus();
    }
  });

  // The page in view is refreshed where it starts (new jobs do not shift a later page).
  setInterval(() => {
    if (!document.hidden) loadHistory();
  }, REFRESH_MS);
  return loadHistory();
}
