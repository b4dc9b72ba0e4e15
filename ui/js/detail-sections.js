// The job detail modal's sections: progress, timings, who and where, errors, bars, log, parameters.
import {
  el, clear, statusInfo, isTerminal, isRunning, shortId, fmtInt, fmtDuration, fmtDateTime, count,
} from "./util.js";

function kvList(entries) {
  const dl = el("dl", { class: "kv-list" });
  for (const [k, v] of entries) {
    dl.append(el("dt", { text: k }), el("dd", {}, v instanceof Node ? v : String(v ?? "—")));
  }
  return dl;
}

function paramValue(value) {
  if (value === null || value === undefined) return el("span", { class: "text-body-secondary", text: "—" });
  if (Array.isArray(value) && value.every((v) => v === null || typeof v !== "object")) {
    return el("span", { class: "font-monospace", text: value.length ? value.join(", ") : "(none)" });
  }
  if (typeof value === "object") return el("pre", { text: JSON.stringify(value, null, 2) });
  if (typeof value === "boolean") return el("span", { text: value ? "yes" : "no" });
  return el("span", { class: typeof value === "string" ? "font-monospace" : "num", text: String(value) });
}

function section(title, ...content) {
  return el("section", { class: "detail-section" }, el("h3", { text: title }), ...content);
}

/** Failures grouped by reason (the symbol's own name taken out), most common first. */
export function groupFailures(failures) {
  const groups = new Map();
  for (const f of failures) {
    const sym = typeof f === "string" ? f : f.symbol;
    const raw = typeof f === "string" ? "" : f.reason || "";
    const reason = sym ? raw.split(sym).join("…") : raw;
    if (!groups.has(reason)) groups.set(reason, []);
    groups.get(reason).push(sym);
  }
  return [...groups].map(([reason, symbols]) => ({ reason, symbols })).sort((a, b) => b.symbols.length - a.symbols.length);
}

function jobLink(id) {
  return el("a", { href: `#job=${id}`, class: "font-monospace", text: shortId(id), title: id });
}

/** The job's Polygon requests against its estimate: "31 made, 30 estimated". */
export function requestsText(job) {
  const made = fmtInt(job.polygonRequests || 0);
  return job.polygonRequestsEstimated == null ? made : `${made} made, ${fmtInt(job.polygonRequestsEstimated)} estimated`;
}

/** The run's duration beside the time its estimated requests take at the plan's rate:
 * "6 m 12 s (estimated 6 m 00 s)"; "— (estimated …)" while it runs. */
export function durationText(job) {
  const took = fmtDuration(job.durationSeconds);
  return job.secondsEstimated == null ? took : `${took} (estimated ${fmtDuration(job.secondsEstimated)})`;
}

/** Fills the modal's body with the job's sections. */
export function renderSections(body, job) {
  const info = statusInfo(job.status);
  clear(body);
  const p = Math.max(0, Math.min(100, Math.round(Number(job.progress) || 0)));
  const bar = el("div", {
    class: `progress-bar${isRunning(job.status) ? " progress-bar-striped progress-bar-animated" : ""}${info.group === "bad" ? " bg-danger" : info.group === "warn" ? " bg-warning" : info.group === "done" ? " bg-success" : ""}`,
    attrs: { role: "progressbar", "aria-valuenow": p, "aria-valuemin": 0, "aria-valuemax": 100, "aria-label": "Progress" },
    text: `${p}%`,
  });
  bar.style.width = `${p}%`;
  const total = Number(job.totalSymbols) || 0;
  body.append(
    section(
      "Progress",
      el("div", { class: "progress mb-2" }, bar),
      kvList([
        ["Symbols", total ? `${fmtInt(job.processedSymbols || 0)} of ${fmtInt(total)} processed` : fmtInt(job.processedSymbols || 0)],
        ["Bars loaded", fmtInt(job.ohlcvRecordsLoaded || 0)],
        ...(job.polygonRequests != null || job.polygonRequestsEstimated != null ? [["Polygon requests", requestsText(job)]] : []),
        ...(job.currentSymbol && !isTerminal(job.status) ? [["Current symbol", el("span", { class: "font-monospace", text: job.currentSymbol })]] : []),
        ["Message", job.message || "—"],
      ]),
    ),
    section(
      "Timings",
      kvList([
        ["Submitted", fmtDateTime(job.submittedAt, { alwaysDate: true })],
        ["Started", fmtDateTime(job.startedAt, { alwaysDate: true })],
        ["Completed", fmtDateTime(job.completedAt, { alwaysDate: true })],
        ["Duration", durationText(job)],
      ]),
    ),
  );
  const links = [];
  if (job.retryOf) links.push(["Retry of", jobLink(job.retryOf)]);
  if (Array.isArray(job.retries) && job.retries.length) {
    links.push(["Retried as", el("span", {}, ...job.retries.flatMap((id, i) => (i ? [", ", jobLink(id)] : [jobLink(id)])))]);
  }
  if (job.requestedBy) links.push(["Requested by", job.requestedBy]);
  if (job.worker) links.push(["Worker", el("span", { class: "font-monospace", text: job.worker })]);
  if (links.length) body.append(section("Who and where", kvList(links)));
  if (job.errorMessage) {
    body.append(section("Error", el("div", { class: "alert alert-danger mb-0 error-text", attrs: { role: "alert" }, text: job.errorMessage })));
  }
  const groups = groupFailures(Array.isArray(job.failedSymbols) ? job.failedSymbols : []);
  if (groups.length > 1 || (groups.length === 1 && groups[0].symbols.length > 1)) {
    const list = el("ul", { class: "mb-0 error-groups" });
    for (const g of groups) {
      list.append(el("li", {}, el("strong", { text: count(g.symbols.length, "symbol") }), ` (${g.symbols.slice(0, 8).join(", ")}${g.symbols.length > 8 ? ", …" : ""}): `, el("span", { class: "error-text", text: g.reason || "no reason given" })));
    }
    body.append(section("Errors by reason", list));
  }
  const units = Array.isArray(job.units) ? job.units : [];
  if (units.length) {
    const tbody = el("tbody");
    for (const u of units) {
      tbody.append(el("tr", {}, el("td", { class: "font-monospace", text: u.symbol }), el("td", { text: u.timeframe }), el("td", { class: "text-end num", text: fmtInt(u.bars) })));
    }
    body.append(section(`Loaded per symbol and timeframe (${count(units.length, "unit")})`,
      el("div", { class: "failed-list table-responsive" },
        el("table", { class: "table table-sm mb-0 units-table" },
          el("thead", {}, el("tr", {}, el("th", { scope: "col", text: "Symbol" }), el("th", { scope: "col", text: "Timeframe" }), el("th", { scope: "col", class: "text-end", text: "Bars" }))),
          tbody))));
  }
  const failed = Array.isArray(job.failedSymbols) ? job.failedSymbols : [];
  if (failed.length) {
    const tbody = el("tbody");
    for (const f of failed) {
      const sym = typeof f === "string" ? f : f.symbol;
      const reason = typeof f === "string" ? "" : f.reason;
      tbody.append(el("tr", {}, el("td", { class: "font-monospace", text: sym || "?" }), el("td", { class: "error-text", text: reason || "—" })));
    }
    body.append(
      section(
        `Failed symbols (${fmtInt(failed.length)})`,
        el("div", { class: "failed-list table-responsive" },
          el("table", { class: "table table-sm mb-0" },
            el("thead", {}, el("tr", {}, el("th", { scope: "col", text: "Symbol" }), el("th", { scope: "col", text: "Reason" }))),
            tbody)),
      ),
    );
  }
  const ok = Array.isArray(job.successfulSymbols) ? job.successfulSymbols : [];
  if (ok.length) {
    const shown = ok.slice(0, 200).join(", ") + (ok.length > 200 ? ` … +${fmtInt(ok.length - 200)} more` : "");
    body.append(section(`Loaded symbols (${fmtInt(ok.length)})`, el("p", { class: "font-monospace small mb-0 text-break", text: shown })));
  }
  const log = Array.isArray(job.log) ? job.log : [];
  if (log.length) {
    const lines = el("div", { class: "job-log font-monospace small", attrs: { role: "log", "aria-label": "The job's log" } });
    for (const l of log) {
      const level = String(l.level || "INFO").toUpperCase();
      lines.append(el("div", { class: `log-line log-${level.toLowerCase()}` },
        el("span", { class: "log-time text-body-secondary", text: fmtDateTime(l.at), title: fmtDateTime(l.at, { alwaysDate: true }) }), " ",
        el("span", { class: "log-level", text: level.padEnd(5) }), " ",
        el("span", { class: "log-message", text: l.message || "" })));
    }
    body.append(section(`Log (${count(log.length, "line")})`, lines));
  }
  const params = job.params && typeof job.params === "object" ? Object.entries(job.params) : [];
  body.append(
    section(
      "Parameters",
      kvList([["job_id", el("span", { class: "font-monospace", text: job.jobId })], ["job_type", el("span", { class: "font-monospace", text: job.jobType })], ...params.filter(([k]) => k !== "job_id" && k !== "job_type").map(([k, v]) => [k, paramValue(v)])]),
    ),
  );
}
