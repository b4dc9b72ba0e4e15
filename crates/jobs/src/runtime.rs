//! What a shell opens and runs, named here so the CLI and the app depend on this crate
//! alone: the store, the Polygon client and the loader, the Redis bus and its views, a
//! worker, the embedded queue, the foreground lifecycle of `tickstock load`, history and
//! the job log, the metrics endpoint. Jobs are submitted, cancelled and retried through
//! [`crate::service::JobService`], never through these.

pub use tickstock_data::exec::{Checkpoints, JobHistory, MemoryCheckpoints, StatusSink};
pub use tickstock_data::history::{StoreCheckpoints, StoreHistory};
/// Each job's own log: the tracing layer that captures it, and the lines of a running job.
pub use tickstock_data::joblog;
pub use tickstock_data::loader::{describe_note, resolve_for_publish, Loader, LoaderConfig};
pub use tickstock_data::polygon::{PolygonClient, PolygonConfig};
pub use tickstock_data::store::{
    normalise_environment, JobRun, JobRunFilter, Store, StoreError, StoreOptions, UniversePreview,
    DEFAULT_ENVIRONMENT,
};
pub use tickstock_queue::bus::{
    Bus, CancelOutcome, DeadLetter, Health, InFlightJob, JobEntry, QueueDepth, QueuedJob,
    RedisHealth, WorkerCommand, WorkerRow, WorkerState, HEALTH_PING_TIMEOUT, HEARTBEAT_SILENT_SECS,
    HEARTBEAT_STALE_SECS,
};
pub use tickstock_queue::lifecycle::{run_job, ForegroundHost, RunEnd, RunEnv, HISTORY_EVERY};
pub use tickstock_queue::local::LocalQueue;
/// The Prometheus endpoint of a worker (`bind`, `serve` its `Sources`).
pub use tickstock_queue::metrics;
pub use tickstock_queue::worker::{host_name, new_worker_id, Worker, WorkerConfig};
