// The preview's job history: pages, filters and counts, bulk actions, and the CSV export.

/**
 * @param {{jobs: Map<string, object>, sorted: () => object[], view: (job: object) => object}} ctx
 */
export function previewHistoryCommands({ jobs, sorted, view }) {
  /** The history table's rows for a query (every page), and the counts per status. */
  function historyRows(q0 = {}) {
    const base = matching({ query: q0.search, kind: q0.kind });
    const counts = {};
    for (const j of base) counts[j.status] = (counts[j.status] || 0) + 1;
    let all = q0.status ? base.filter((j) => j.status === q0.status) : base;
    if (q0.requestedBy) all = all.filter((j) => String(j.params.requested_by || "").toLowerCase() === q0.requestedBy.toLowerCase());
    return { all, counts };
  }

  function matching(filter = {}) {
    const qy = String(filter.query || "").trim();
    return sorted().filter((j) => {
      if (filter.kind && j.jobType !== filter.kind) return false;
      if (filter.status === "active" && !j.active) return false;
      if (filter.status && filter.status !== "active" && j.status !== filter.status) return false;
      if (qy) {
        const low = qy.toLowerCase();
        const up = qy.toUpperCase();
        const syms = Array.isArray(j.params.symbols) ? j.params.symbols : [];
        const uk = String(j.params.universe_key || j.params.universe_type || "").toLowerCase();
        if (!j.jobId.startsWith(low) && !syms.includes(up) && !uk.includes(low)) return false;
      }
      return true;
    });
  }
  const csvCell = (v) => {
    const s = v === null || v === undefined ? "" : String(v);
    return /[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
  };

  return {
    list_jobs({ filter }) {
      const all = matching(filter);
      const size = Math.max(1, Number(filter.pageSize) || 20);
      const page = Math.max(1, Number(filter.page) || 1);
      return { items: all.slice((page - 1) * size, page * size).map(view), total: all.length, page, pageSize: size, database: "SQLite at ~/.local/share/io.tickstock.admin/tickstock.sqlite (preview)" };
    },
    history_page({ query }) {
      const q0 = query || {};
      const { all, counts } = historyRows(q0);
      const size = Math.max(1, Number(q0.pageSize) || 25);
      const pages = Math.max(1, Math.ceil(all.length / size));
      const at = String(q0.at || "first");
      let page = 1;
      let askedPage = null;
      if (at.startsWith("page:")) {
        const asked = Math.max(1, Number(at.slice(5)) || 1);
        page = Math.min(pages, asked);
        if (asked > pages) askedPage = asked;
      }
      else if (at.startsWith("after:")) page = Math.min(pages, Number(at.slice(6)) + 1);
      else if (at.startsWith("before:")) page = Math.max(1, Number(at.slice(7)) - 1);
      const items = all.slice((page - 1) * size, page * size).map((j) => ({ ...view(j), requestedBy: j.params.requested_by || "preview", worker: j.startedAt ? "built-in" : null }));
      return {
        items, total: all.length, counts, page, pages, pageSize: size, askedPage,
        next: page < pages ? String(page) : null, prev: page > 1 ? String(page) : null,
        database: "SQLite at ~/.local/share/io.tickstock.admin/tickstock.sqlite (preview)",
      };
    },
    bulk_jobs({ action, jobIds }) {
      let done = 0;
      const failed = [];
      for (const id of jobIds) {
        const j = jobs.get(id);
        if (!j) failed.push({ jobId: id, message: "No such job" });
        else if (action === "delete" && j.active) failed.push({ jobId: id, message: "Active jobs are not deleted" });
        else {
          if (action === "delete") jobs.delete(id);
          if (action === "cancel" && j.active) j.status = "cancelling";
          done++;
        }
      }
      return { done, failed, jobIds: [] };
    },
    export_jobs_csv({ query }) {
      const cols = ["job_id", "kind", "symbols", "range", "requested_by", "worker", "status", "bars_loaded", "submitted_at", "duration_seconds"];
      const lines = [cols.join(",")];
      for (const j of historyRows(query || {}).all) {
        const syms = Array.isArray(j.params.symbols) ? j.params.symbols.join(" ") : j.params.universe_key || j.params.universe_type || "";
        lines.push([j.jobId, j.jobType, syms, "", j.params.requested_by || "preview", j.startedAt ? "built-in" : "", j.status, j.ohlcvRecordsLoaded, j.submittedAt, j.durationSeconds].map(csvCell).join(","));
      }
      // The app writes through a Save dialog; the preview only says where it would go.
      return { path: `~/tickstock-jobs.csv (preview: ${lines.length - 1} jobs, not written)` };
    },
  };
}
