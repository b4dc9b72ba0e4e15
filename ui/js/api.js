// The only module that talks to the Tauri backend. Every other module calls the typed
// functions below. Errors from a command arrive as {kind, message[, field]} and are rethrown
// as ApiError. When the page is opened in a plain browser (no window.__TAURI__), an in-memory
// imitation of the backend (preview-backend.js) stands in so the layout can be previewed.

/** Error kinds the backend sends. */
export const ERROR_KINDS = [
  "invalid_input",
  "not_found",
  "redis",
  "database",
  "polygon",
  "config",
  "cancelled",
  "internal",
];

export class ApiError extends Error {
  /**
   * @param {string} kind one of ERROR_KINDS
   * @param {string} message human-readable text, shown as is
   * @param {string|null} field the offending field, for invalid_input
   */
  constructor(kind, message, field = null) {
    super(message);
    this.name = "ApiError";
    this.kind = kind;
    this.field = field;
  }
}

/** Turns whatever a rejected invoke delivers into an ApiError. */
export function normaliseError(err) {
  if (err instanceof ApiError) return err;
  if (err && typeof err === "object") {
    const kind = ERROR_KINDS.includes(err.kind) ? err.kind : "internal";
    const message =
      typeof err.message === "string" && err.message
        ? err.message
        : "The app reported an error without a message.";
    const field = typeof err.field === "string" ? err.field : null;
    return new ApiError(kind, message, field);
  }
  if (typeof err === "string" && err) return new ApiError("internal", err);
  return new ApiError("internal", "The app reported an unknown error.");
}

const tauri = typeof window !== "undefined" ? window.__TAURI__ : undefined;

/** True when the page runs outside the desktop app, on the simulated backend. */
export const isPreview = !(tauri && tauri.core && typeof tauri.core.invoke === "function");

let backendPromise = null;
function backend() {
  if (!backendPromise) {
    if (!isPreview) {
      backendPromise = Promise.resolve({
        invoke: (cmd, args) => tauri.core.invoke(cmd, args),
        listen: (name, cb) => tauri.event.listen(name, cb),
      });
    } else {
      backendPromise = import("./preview-backend.js").then((m) => m.createPreviewBackend());
    }
  }
  return backendPromise;
}

const redisErrorHooks = [];
/** Called with the error whenever any command fails because of Redis (the status bar
 * re-checks health at once, so its pill agrees with the panel that saw the failure). */
export const onRedisError = (cb) => redisErrorHooks.push(cb);

/** Calls a backend command with one argument object. Throws ApiError. */
export async function invoke(cmd, args) {
  const b = await backend();
  try {
    return await b.invoke(cmd, args === undefined ? {} : args);
  } catch (err) {
    const e = normaliseError(err);
    if (e.kind === "redis" && cmd !== "health") redisErrorHooks.forEach((cb) => cb(e));
    throw e;
  }
}

/** Subscribes to a backend event; cb receives the payload. Returns an unlisten function. */
export async function listen(name, cb) {
  const b = await backend();
  return b.listen(name, (event) => cb(event && "payload" in event ? event.payload : event));
}

// Typed commands -----------------------------------------------------------------------

export const health = () => invoke("health");
export const validateJob = (request) => invoke("validate_job", { request });
export const submitJob = (request, allowDuplicate = false) => invoke("submit_job", { request, allowDuplicate });
export const estimateJob = (request) => invoke("estimate_job", { request });
export const historyPage = (query) => invoke("history_page", { query });
export const bulkJobs = (action, jobIds) => invoke("bulk_jobs", { action, jobIds });
export const activeJobs = () => invoke("active_jobs");
export const listJobs = (filter) => invoke("list_jobs", { filter });
export const jobDetail = (jobId) => invoke("job_detail", { jobId });
export const cancelJob = (jobId) => invoke("cancel_job", { jobId });
export const cancelAll = () => invoke("cancel_all");
export const retryJob = (jobId, part = "all") => invoke("retry_job", { jobId, part });
export const cleanupStale = () => invoke("cleanup_stale");
export const clearJobs = (prefix) => invoke("clear_jobs", { prefix });
/** The history table's rows for a history_page query (all pages) as a CSV file. */
export const exportJobsCsv = (query) => invoke("export_jobs_csv", { query });
export const listUniverses = () => invoke("list_universes");
export const universePreview = (key) => invoke("universe_preview", { key });
export const dataSummary = () => invoke("data_summary");
export const getSettings = () => invoke("get_settings");
export const saveSettings = (settings) => invoke("save_settings", { settings });
export const settingsImpact = (settings) => invoke("settings_impact", { settings });
export const testRedis = (url) => invoke("test_redis", { url });
export const testDatabase = (url) => invoke("test_database", { url });
export const testPolygon = (baseUrl, apiKey) => invoke("test_polygon", { baseUrl, apiKey });
export const openLogDir = () => invoke("open_log_dir");
export const notify = (title, body) => invoke("notify", { title, body });
export const about = () => invoke("about");
/** Every change of every job, in batches: [{job, finished}]. */
export const onJobEvents = (cb) => listen("job-events", cb);
/** page: {filter, offset, limit}: the symbols a filter picks (tickers or prefixes), one page of them. */
export const coverageMap = (timeframe, months, page = {}) => invoke("coverage_map", { timeframe, months, page });
export const coverageGaps = (timeframe, from, to, page = {}) => invoke("coverage_gaps", { timeframe, from, to, page });
export const fillGaps = (items) => invoke("fill_gaps", { items });
/** The jobs filling `items` would be, with their Polygon requests and time (nothing submitted). */
export const estimateFill = (items) => invoke("estimate_fill", { items });
export const listSchedules = () => invoke("list_schedules");
export const setScheduleEnabled = (name, enabled) => invoke("set_schedule_enabled", { name, enabled });
export const runSchedule = (name) => invoke("run_schedule", { name });
// Operations console
export const queueView = () => invoke("queue_view");
export const pauseQueue = () => invoke("pause_queue");
export const resumeQueue = () => invoke("resume_queue");
export const listWorkers = () => invoke("list_workers");
/** command: "quiet", "stop" or "resume". */
export const commandWorker = (workerId, command) => invoke("command_worker", { workerId, command });
export const listDeadLetters = () => invoke("list_dead_letters");
export const requeueDeadLetter = (id) => invoke("requeue_dead_letter", { id });
export const deleteDeadLetter = (id) => invoke("delete_dead_letter", { id });
export const purgeDeadLetters = () => invoke("purge_dead_letters");
export const dashboard = () => invoke("dashboard");
