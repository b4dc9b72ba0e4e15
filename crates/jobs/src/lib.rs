//! # tickstock-jobs
//!
//! The top layer and the one crate the shells (the `tickstock` CLI and the desktop app) use
//! for jobs: the job service, through which every job is submitted whoever starts it (page,
//! CLI, top-up, schedules, split reloads, retries, dead-letter requeues), the queue seam,
//! schedules and retries. [`runtime`] names what a shell opens and runs (the bus, the
//! store, the loader, a worker) and [`reads`] what it shows, so the shells depend on this
//! crate and `tickstock-protocol` alone (the architecture test reads `cargo metadata`).
//!
//! ## Layout
//! - [`service`]: the job service: submit (one duplicate check, one history row, one
//!   event), watch, cancel, clean up, clear, resume.
//! - `settle`: history rows settled from their queue's final status
//!   ([`service::JobService::settle_history`]).
//! - [`queue`]: the job-queue seam, [`queue::JobQueue`], over the bus and the local queue.
//! - [`schedule`]: recurring jobs, fired exactly once per due time across workers.
//! - [`retry`]: retrying part of a job: its failed symbols, or the rest of it.
//! - [`splits`]: split reloads submitted through the service (the checks re-exported).
//! - [`runtime`]: what a shell opens and runs (store, Polygon client, loader, bus, worker,
//!   embedded queue, foreground lifecycle, metrics endpoint).
//! - [`reads`]: what a shell reads (coverage, gaps, heat map, dashboard, export, estimate,
//!   history pages).

pub mod queue;
pub mod reads;
pub mod retry;
pub mod runtime;
pub mod schedule;
pub mod service;
mod settle;
pub mod splits;
