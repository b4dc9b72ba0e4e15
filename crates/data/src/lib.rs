//! # tickstock-data
//!
//! Market data in and out: the Polygon (Massive) REST client with its request budget, the
//! PostgreSQL/SQLite storage, the loader that ties them together, and what the data owner
//! reads of what is stored (coverage, gaps, the heat map, splits, history pages). Depends
//! on `tickstock-protocol` only; knows nothing of queues or workers.
//!
//! ## Layout
//! - [`polygon`]: the Polygon client with rate limit, shared budget and retries (`client/`:
//!   the client and endpoints, `request` the request and retry loop).
//! - [`store`]: PostgreSQL and SQLite storage with migrations (`store/`: `types`, `error`,
//!   `bars`, `universes`, `job_runs` with `history_query` (filters, search, keyset pages),
//!   one file per backend plus `postgres_bars`).
//! - [`loader`]: the Polygon-to-database job runner for every job kind (`loader/`: `plan`,
//!   `units`, `grouped` daily, `symbols` and `csv` resolution, `pace` reporting, the
//!   `estimate` of a job's requests and time).
//! - [`exec`]: what a running job sees: progress handle, cancellation, checkpoints, and the
//!   [`exec::JobRunner`] contract the queues run.
//! - [`joblog`]: each job's own log lines, captured from its tracing span.
//! - [`history`]: job history in the database (`job_runs`) as the lifecycle records it.
//! - [`completeness`]: coverage per symbol, gaps against the calendar, the import check.
//! - [`heatmap`]: completeness per symbol and month (the page's heat map).
//! - [`calendar_check`]: the coming holidays, checked against Polygon's list.
//! - [`splits`]: splits seen at Polygon, symbols flagged for a reload, the reload jobs.
//! - [`dashboard`]: today's totals and throughput over 24 hours and 7 days, from history.
//! - [`export`]: the job history as CSV.

pub mod calendar_check;
pub mod completeness;
pub mod dashboard;
pub mod exec;
pub mod export;
pub mod heatmap;
pub mod history;
pub mod joblog;
pub mod loader;
pub mod polygon;
pub mod splits;
pub mod store;

#[cfg(test)]
mod fuzz;
