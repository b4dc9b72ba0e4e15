// The Coverage view's texts, pure (no DOM): heat-map cells, the page counts of the heat map
// and the gaps list, and what a fill of many gaps would submit and cost.
import { fmtInt, count, fmtDuration } from "./util.js";

/** Background colour class of a completeness ratio (null: not loaded yet). */
export function heatClass(completeness) {
  if (completeness === null || completeness === undefined) return "heat-none";
  if (completeness >= 0.99) return "heat-good";
  if (completeness >= 0.9) return "heat-partial";
  if (completeness > 0) return "heat-poor";
  return "heat-empty";
}

/** The tooltip of one heat-map cell. */
export function heatTitle(symbol, cell) {
  if (cell.completeness === null || cell.completeness === undefined) {
    return `${symbol} ${cell.month}: before the first stored bar`;
  }
  const pct = (cell.completeness * 100).toFixed(1);
  return `${symbol} ${cell.month}: ${fmtInt(cell.bars)} of ${fmtInt(cell.expected)} bars (${pct} %, ${cell.rating})`;
}

/** The filter as the operator typed it, tidied: "ibm, aa" → "IBM, AA" ("" for none). */
export function filterLabel(filter) {
  return String(filter || "")
    .split(/[\s,]+/)
    .filter(Boolean)
    .map((p) => p.toUpperCase())
    .join(", ");
}

/**
 * What a page shows of the symbols a filter picks:
 * "Showing 201–400 of 503 symbols", "Showing 1–1 of 1 symbol matching IBM",
 * "No symbols match IBMX".
 */
export function showingText(offset, shown, total, filter = "") {
  const f = filterLabel(filter);
  const matching = f ? ` matching ${f}` : "";
  if (!total) return f ? `No symbols match ${f}` : "No symbols";
  if (!shown) return `${count(total, "symbol")}${matching}`;
  return `Showing ${fmtInt(offset + 1)}–${fmtInt(offset + shown)} of ${count(total, "symbol")}${matching}`;
}

/** Which symbols a page holds, for a sentence: "symbols 101–200 of 503 matching IB". */
export function pageScope(offset, shown, total, filter = "") {
  const f = filterLabel(filter);
  return `symbols ${fmtInt(offset + 1)}–${fmtInt(offset + shown)} of ${fmtInt(total)}${f ? ` matching ${f}` : ""}`;
}

/** Whether a page has others before and after it. */
export function pageMoves(offset, shown, total) {
  return { prev: offset > 0, next: offset + shown < total };
}

/** The time an estimate takes at the plan's rate, or that it does not wait. */
function estimateTime(e) {
  return e.seconds == null ? "no wait for a rate limit (unlimited plan)" : `about ${fmtDuration(e.seconds)} at ${fmtInt(e.requestsPerMinute)} requests a minute`;
}

/**
 * An estimate in one sentence, the bars' requests and their time apart from the symbols'
 * registration (which the time does not count): the submit form's and Fill all's.
 */
export function estimateSentence(e) {
  return `Estimate: up to ${count(e.requests, "Polygon request")} for the bars, ${estimateTime(e)}${e.registrationRequestsMax ? `; up to ${fmtInt(e.registrationRequestsMax)} more to register symbols not yet known` : ""}.`;
}

/**
 * The confirmation of a fill of many gaps, from its estimate:
 * {title, lines, confirmLabel}.
 */
export function fillConfirmText(e) {
  const jobs = count(e.jobs, "top-up job");
  return {
    title: `Fill ${count(e.gaps, "gap")} of ${count(e.symbols, "symbol")}?`,
    lines: [
      `${jobs} with fill will be submitted for ${count(e.symbols, "symbol")}; only the missing sessions are loaded.`,
      estimateSentence(e),
    ],
    confirmLabel: `Submit ${jobs}`,
  };
}
