// Bulk operations (ETF refresh, S&P 500, NASDAQ 100, cancel all) and job cleanup (stale jobs,
// clear by id prefix). Each destructive or expensive action asks for confirmation first.
import * as api from "./api.js";
import { $, el, shortId, fmtInt } from "./util.js";
import { toast, errorToast } from "./toasts.js";
import { confirmAction } from "./confirm.js";

const MIN_PREFIX = 4;
let hooks = { onChanged: () => {}, onSubmitted: () => {} };

function seedRequest(universe, years, refresh) {
  return {
    kind: "universe_seed",
    symbols: [],
    years,
    startDate: null,
    endDate: null,
    timespan: null,
    timeframes: [],
    universeType: universe,
    universeKey: universe.toLowerCase(),
    refresh,
  };
}

const yearsLabel = (y) => (y === 1 ? "1 year" : `${y} years`);

async function runSeed(button, { title, body, request }) {
  const ok = await confirmAction({ title, body, confirmLabel: "Submit job" });
  if (!ok) return;
  button.disabled = true;
  try {
    const res = await api.submitJob(request);
    toast({ title: "Job submitted", mono: shortId(res && res.jobId), body: title, variant: "success" });
    if (res && res.warning) toast({ title: "No worker will take it yet", mono: shortId(res.jobId), body: res.warning, variant: "warning" });
    hooks.onSubmitted(res && res.jobId);
    hooks.onChanged();
  } catch (err) {
    errorToast(`Could not submit: ${title}`, err);
  } finally {
    button.disabled = false;
  }
}

/** Checks a job id prefix; returns an error message or "". */
export function prefixError(value) {
  const v = value.trim();
  if (!v) return "";
  if (v.length < MIN_PREFIX) return `Enter at least ${MIN_PREFIX} characters of the job id (${v.length} so far).`;
  if (!/^[0-9a-fA-F-]+$/.test(v)) return "A job id has only hexadecimal digits (0–9, a–f) and dashes.";
  return "";
}

function updatePrefix() {
  const input = $("#clear-prefix");
  const msg = prefixError(input.value);
  input.classList.toggle("is-invalid", Boolean(msg));
  const fb = $("#clear-prefix-error");
  fb.textContent = msg;
  fb.classList.toggle("d-block", Boolean(msg));
  $("#btn-clear-jobs").disabled = Boolean(msg) || input.value.trim().length < MIN_PREFIX;
}

export function initOps({ onChanged, onSubmitted } = {}) {
  if (onChanged) hooks.onChanged = onChanged;
  if (onSubmitted) hooks.onSubmitted = onSubmitted;

  const etf = $("#btn-bulk-etf");
  etf.addEventListener("click", () =>
    runSeed(etf, {
      title: "Refresh all ETFs",
      body: "Re-seeds the ETF universe's member list and loads 1 year of daily bars for every ETF in it.",
      request: seedRequest("ETF", 1, true),
    }),
  );
  const sp = $("#btn-bulk-sp500");
  sp.addEventListener("click", () => {
    const years = Number($("#bulk-years").value) || 1;
    runSeed(sp, {
      title: `Load S&P 500 (${yearsLabel(years)})`,
      body: `Loads ${yearsLabel(years)} of bars for all S&P 500 members (about 500 symbols). On the free Polygon plan this takes hours.`,
      request: seedRequest("SP500", years, false),
    });
  });
  const nq = $("#btn-bulk-nasdaq100");
  nq.addEventListener("click", () => {
    const years = Number($("#bulk-years").value) || 1;
    runSeed(nq, {
      title: `Load NASDAQ 100 (${yearsLabel(years)})`,
      body: `Loads ${yearsLabel(years)} of bars for all NASDAQ 100 members (about 100 symbols).`,
      request: seedRequest("NASDAQ100", years, false),
    });
  });

  const cancelAllBtn = $("#btn-cancel-all");
  cancelAllBtn.addEventListener("click", async () => {
    const ok = await confirmAction({
      title: "Cancel all jobs?",
      body: "Every queued and running job is cancelled. Bars already loaded stay in the database.",
      confirmLabel: "Cancel all jobs",
      variant: "danger",
    });
    if (!ok) return;
    cancelAllBtn.disabled = true;
    try {
      const res = await api.cancelAll();
      const n = Number(res && res.cancelled) || 0;
      toast({ title: n ? `Cancelled ${fmtInt(n)} job${n === 1 ? "" : "s"}` : "No jobs to cancel", variant: n ? "warning" : "info" });
      hooks.onChanged();
    } catch (err) {
      errorToast("Could not cancel all jobs", err);
    } finally {
      cancelAllBtn.disabled = false;
    }
  });

  const staleBtn = $("#btn-cleanup-stale");
  staleBtn.addEventListener("click", async () => {
    staleBtn.disabled = true;
    try {
      const res = await api.cleanupStale();
      const n = Number(res && res.marked) || 0;
      toast({
        title: n ? `Marked ${fmtInt(n)} stale job${n === 1 ? "" : "s"} failed` : "No stale jobs found",
        variant: n ? "success" : "info",
      });
      hooks.onChanged();
    } catch (err) {
      errorToast("Could not clean up stale jobs", err);
    } finally {
      staleBtn.disabled = false;
    }
  });

  const prefixInput = $("#clear-prefix");
  prefixInput.addEventListener("input", updatePrefix);
  $("#clear-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    updatePrefix();
    const prefix = prefixInput.value.trim().toLowerCase();
    if (prefixError(prefix) || prefix.length < MIN_PREFIX) {
      if (!prefix) {
        prefixInput.classList.add("is-invalid");
        $("#clear-prefix-error").textContent = `Enter at least ${MIN_PREFIX} characters of the job id.`;
        $("#clear-prefix-error").classList.add("d-block");
      }
      prefixInput.focus();
      return;
    }
    const ok = await confirmAction({
      title: "Clear jobs?",
      body: [
        "Removes every finished job whose id starts with ",
        el("code", { text: prefix }),
        " from the job history. Loaded bars are not touched.",
      ],
      confirmLabel: "Clear jobs",
      variant: "danger",
    });
    if (!ok) return;
    const btn = $("#btn-clear-jobs");
    btn.disabled = true;
    try {
      const res = await api.clearJobs(prefix);
      const n = Number(res && res.cleared) || 0;
      toast({ title: n ? `Cleared ${fmtInt(n)} job${n === 1 ? "" : "s"}` : "No jobs matched", mono: prefix, variant: n ? "success" : "info" });
      prefixInput.value = "";
      hooks.onChanged();
    } catch (err) {
      if (err.kind === "invalid_input") {
        prefixInput.classList.add("is-invalid");
        $("#clear-prefix-error").textContent = err.message;
        $("#clear-prefix-error").classList.add("d-block");
      } else {
        errorToast("Could not clear jobs", err);
      }
    } finally {
      updatePrefix();
    }
  });
  updatePrefix();
}
