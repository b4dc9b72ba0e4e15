//! # tickstock-core
//!
//! Everything TickStock Admin does, with no UI and no Tauri: the job protocol shared with
//! TickStockPL, the durable Redis job bus, the worker runtime, the Polygon client, the
//! PostgreSQL/SQLite storage and the loader that ties them together. The desktop app
//! (`src-tauri`) and the command line (`crates/cli`) are thin shells over this crate.
//!
//! ## Layout
//! - [`timeframe`]: bar sizes, their wire names, Polygon timespans and tables.
//! - [`calendar`]: NYSE sessions, holidays, early closes and expected bars.
//! - [`calendar_check`]: the coming holidays, checked against Polygon's list.
//! - [`completeness`]: coverage per symbol, gaps against the calendar, the import check.
//! - [`heatmap`]: completeness per symbol and month (the page's heat map).
//! - [`bars`]: the OHLCV bar type.
//! - [`unit`](mod@unit): a [`Ticker`] and a [`Unit`] (symbol, timeframe), with the unit's stored
//!   `SYMBOL|timeframe` form.
//! - [`job`]: the job message model, parsing that keeps unknown fields, and validation
//!   (`job/`: `wire`, `validate`, `request`).
//! - [`status`]: the job status value (legacy JSON string or hash) and its states.
//! - [`keys`]: every Redis key and channel name, legacy and durable, with its meaning.
//! - [`bus`]: the Redis job bus: submit, status, list, cancel, health.
//! - [`exec`]: what a running job sees: progress handle, cancellation, checkpoints.
//! - [`lifecycle`]: [`lifecycle::run_job`], the one place a job runs, on any queue.
//! - [`joblog`]: each job's own log lines, captured from its tracing span.
//! - [`worker`]: the worker runtime: consumer group, claims, heartbeats, take-over, dead letters
//!   (`worker/`: `step` takes an entry, `execute` runs it, `heartbeat`, `legacy` channels).
//! - [`loader`]: the Polygon-to-database job runner for every job kind (`loader/`: `plan`,
//!   `units`, `grouped` daily, `symbols` and `csv` resolution, `pace` reporting).
//! - [`local`]: the in-process job queue of the app's embedded mode (no Redis).
//! - [`queue`]: the job-queue seam, [`queue::JobQueue`], over the bus and the local queue.
//! - [`service`]: the job service, the one way a job is submitted (page, CLI, top-up,
//!   schedules, split reloads, retries, dead-letter requeues): watch, cancel, clean up, clear,
//!   resume.
//! - [`retry`]: retrying part of a job: its failed symbols, or the rest of it.
//! - [`dashboard`]: today's totals and throughput over 24 hours and 7 days, from history.
//! - [`history`]: job history in the database (`job_runs`).
//! - [`history_query`]: reading history at scale: filters, search, keyset pages, counts.
//! - [`export`]: the job history as CSV.
//! - [`polygon`]: the Polygon (Massive) REST client with rate limit and retries (`client/`:
//!   the client and endpoints, `request` the request and retry loop).
//! - [`store`]: PostgreSQL and SQLite storage with migrations (`store/`: `types`, `error`,
//!   `bars`, `universes`, `job_runs`, one file per backend plus `postgres_bars`).
//! - [`universe`]: universe keys, aliases and the built-in member lists.
//! - [`sic`]: sector from a SIC code, for the `symbols` table.
//! - [`splits`]: splits seen at Polygon, symbols flagged for a reload.
//! - [`schedule`]: recurring jobs, fired exactly once per due time across workers.
//! - [`settings`]: typed settings with secrets that cannot be printed.
//! - [`error`]: the error type every public function returns.
//! - [`estimate`]: Polygon requests and time a job will need, before it is submitted.
//! - [`metrics`]: Prometheus counters of jobs, bars and Polygon requests, and their endpoint.
//! - [`text`]: counts and durations in words for messages ("1 symbol", "4 min 12 s").

pub mod bars;
pub mod bus;
pub mod calendar;
pub mod calendar_check;
pub mod completeness;
pub mod dashboard;
pub mod error;
pub mod estimate;
pub mod exec;
pub mod export;
pub mod heatmap;
pub mod history;
pub mod history_query;
pub mod job;
pub mod joblog;
pub mod keys;
pub mod lifecycle;
pub mod loader;
pub mod local;
pub mod metrics;
pub mod polygon;
pub mod queue;
pub mod retry;
pub mod schedule;
pub mod service;
pub mod settings;
pub mod sic;
pub mod splits;
pub mod status;
pub mod store;
pub mod text;
pub mod timeframe;
pub mod unit;
pub mod universe;
pub mod worker;

#[cfg(test)]
mod fuzz;

pub use bars::Bar;
pub use error::{Error, ErrorKind, Result};
pub use timeframe::Timeframe;
pub use unit::{Ticker, Unit};
