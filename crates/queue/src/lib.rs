//! # tickstock-queue
//!
//! How a job travels and runs: the durable Redis job bus (legacy-compatible with
//! TickStockPL), the in-process queue of the app's embedded mode, the worker runtime, and
//! the one lifecycle every job runs through on either queue. Depends on `tickstock-protocol`
//! and `tickstock-data`.
//!
//! ## Layout
//! - [`bus`]: the Redis job bus: submit, status, list, cancel, health, control, dead
//!   letters, leases.
//! - [`lifecycle`]: [`lifecycle::run_job`], the one place a job runs, on any queue.
//! - [`worker`]: the worker runtime: consumer group, claims, heartbeats, take-over, dead
//!   letters (`worker/`: `step` takes an entry, `execute` runs it, `heartbeat`, `legacy`).
//! - [`local`]: the in-process job queue of the app's embedded mode (no Redis).
//! - [`metrics`]: Prometheus counters of jobs, bars and Polygon requests, and their endpoint.

pub mod bus;
pub mod lifecycle;
pub mod local;
pub mod metrics;
pub mod worker;
