//! The cross-crate integration suite: real Redis (a namespace per test, or a private
//! server), real PostgreSQL (a database per test), and the fake Polygon server.
//!
//! Binaries (`tickstock`, `sim-worker`) are run from the target directory; the README's
//! test command builds them first.

mod support;

mod architecture;
mod budget;
mod bus;
mod cli;
mod completeness;
mod console;
mod coverage_counts;
mod dashboard;
mod faults;
mod lifecycle;
mod loader;
mod local;
mod market_calendar;
mod polygon;
mod registration;
mod schedules;
mod splits;
mod store;
mod tickstock;
mod vectors;
mod worker;
