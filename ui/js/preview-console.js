// The operations console's commands for the in-browser preview (preview-backend.js): a
// queue that pauses, two workers that take quiet and stop, a few dead letters and a
// dashboard of made-up numbers, so the Operations card can be seen without the app.

/**
 * @param {{sorted: () => object[], mode: () => string, fail: (kind: string, message: string) => never}} ctx
 */
export function previewConsoleCommands({ sorted, mode, fail }) {
  const now = () => Date.now();
  let paused = null;
  const workers = [
    { id: "app-preview-1a2b", host: "desk", pid: 4242, version: "0.1.0", concurrency: 2, command: null, builtin: true },
    { id: "worker-rack-7f3c", host: "rack-01", pid: 913, version: "0.1.0", concurrency: 4, command: null, builtin: false },
  ];
  const startedAt = new Date(now() - 3 * 3600 * 1000).toISOString();
  let dead = [1, 2, 3].map((i) => ({
    id: `${now() - i * 3600_000}-0`,
    jobId: `dead${i}000-0000-4000-8000-00000000000${i}`,
    kind: i === 3 ? null : "historical_load",
    reason: i === 3 ? "The message is not valid JSON" : "Delivered 5 times without finishing (worker crashed or was killed)",
    deliveries: i === 3 ? 1 : 5,
    failedAt: new Date(now() - i * 3600_000).toISOString(),
    ageSeconds: i * 3600,
    workerId: "worker-rack-7f3c",
    requeueable: i !== 3,
  }));
  const redisOnly = (what) => {
    if (mode() !== "redis") fail("config", `${what} needs Redis mode`);
  };
  const action = (message, jobId = null) => ({ changed: true, message, jobId });
  const hourly = [...Array(24)].map((_, i) => {
    const completed = Math.round(3 + 4 * Math.sin(i / 3) ** 2);
    const failed = i % 7 === 0 ? 1 : 0;
    return { start: Math.floor(now() / 3600_000 - 23 + i) * 3600, completed, failed, cancelled: 0, bars: completed * 4200, jobsPerHour: completed + failed, barsPerSecond: completed ? 150 + 40 * Math.cos(i) : null };
  });
  const daily = [...Array(7)].map((_, i) => {
    const completed = 40 + ((i * 13) % 25);
    return { start: Math.floor(now() / 86400_000 - 6 + i) * 86400, completed, failed: i % 3, cancelled: 1, bars: completed * 4000, jobsPerHour: (completed + (i % 3) + 1) / 24, barsPerSecond: 160 + 10 * i };
  });
  return {
    queue_view() {
      const active = sorted().filter((j) => j.active).reverse();
      const row = (j) => ({
        jobId: j.jobId,
        kind: j.jobType,
        requestedBy: "admin_ui",
        status: j.status,
        worker: j.status === "queued" ? null : workers[0].id,
        deliveries: j.status === "queued" ? null : 1,
        ageSeconds: (now() - Date.parse(j.submittedAt)) / 1000,
        since: j.submittedAt,
      });
      const waiting = active.filter((j) => j.status === "queued").map(row);
      const inFlight = active.filter((j) => j.status !== "queued").map(row);
      const redis = mode() === "redis";
      return {
        mode: mode(),
        pausable: redis,
        paused,
        waiting,
        waitingTotal: waiting.length,
        inFlight,
        inFlightTotal: inFlight.length,
        dead: redis ? dead.length : null,
        note: redis ? null : "Pause and resume need Redis mode: in embedded mode the built-in worker takes every queued job",
      };
    },
    pause_queue() {
      redisOnly("Pausing the queue");
      if (paused) return { changed: false, message: "The queue was already paused", jobId: null };
      paused = { requestedBy: "admin_ui", pausedAt: new Date().toISOString() };
      return action("Queue paused: running jobs finish, no worker starts another");
    },
    resume_queue() {
      redisOnly("Resuming the queue");
      const was = Boolean(paused);
      paused = null;
      return { changed: was, message: was ? "Queue resumed" : "The queue was not paused", jobId: null };
    },
    list_workers() {
      if (mode() !== "redis") return { mode: "embedded", workers: [], note: "Embedded mode: jobs run on the app's built-in worker. Workers, quiet and stop need Redis mode" };
      return {
        mode: "redis",
        note: null,
        workers: workers.map((w) => ({
          ...w,
          startedAt,
          currentJobs: w.builtin ? sorted().filter((j) => j.active && j.status !== "queued").map((j) => j.jobId).slice(0, 2) : [],
          heartbeatAgeSeconds: w.command === "stop" ? 75 : 3,
          state: w.command === "stop" ? "stopped" : w.command === "quiet" ? "quiet" : "running",
          cannotConsume: null,
        })),
      };
    },
    command_worker({ workerId, command }) {
      redisOnly("Telling a worker to be quiet or stop");
      const w = workers.find((x) => x.id === workerId) || fail("not_found", `No worker "${workerId}" has sent a heartbeat in the last day`);
      w.command = command === "resume" ? null : command;
      return action(command === "resume" ? `Worker ${w.id} takes jobs again` : command === "quiet" ? `Worker ${w.id} finishes its jobs and takes no more` : `Worker ${w.id} told to stop`);
    },
    list_dead_letters() {
      if (mode() !== "redis") return { mode: "embedded", letters: [], note: "Embedded mode keeps no dead letters: a job that fails is failed in the history" };
      return { mode: "redis", letters: dead.map((d) => ({ ...d })), note: null };
    },
    requeue_dead_letter({ id }) {
      const d = dead.find((x) => x.id === id) || fail("not_found", `No dead letter "${id}"`);
      dead = dead.filter((x) => x !== d);
      return action(`Job ${d.jobId} queued again`, d.jobId);
    },
    delete_dead_letter({ id }) {
      if (!dead.some((x) => x.id === id)) fail("not_found", `No dead letter "${id}"`);
      dead = dead.filter((x) => x.id !== id);
      return action("Dead letter deleted");
    },
    purge_dead_letters() {
      const n = dead.length;
      dead = [];
      return { changed: n > 0, message: `${n} dead letter${n === 1 ? "" : "s"} deleted`, jobId: null };
    },
    dashboard() {
      const minute = Math.floor(now() / 60_000) * 60;
      const perMinute = [...Array(30)].map((_, i) => [minute - (29 - i) * 60, Math.max(0, Math.round(4 + 2 * Math.sin(i / 2)))]);
      return {
        today: { completed: 37, failed: 2, cancelled: 1, bars: 155400 },
        hourly,
        daily,
        polygon: { available: true, limit: 5, lastMinute: perMinute[28][1], perMinute, scope: mode() === "redis" ? "this app's built-in worker (other workers count their own)" : "this app" },
        historyError: null,
      };
    },
  };
}
