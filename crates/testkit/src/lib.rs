//! # tickstock-testkit
//!
//! Test support for TickStock Admin, used by the integration suites and runnable by hand:
//! - [`fake_polygon`]: a fake Polygon (Massive) REST server with the real formats,
//!   pagination and errors, deterministic bars and injectable faults (binary
//!   `fake-polygon` for demos);
//! - [`redis_server`]: the shared Redis with a private namespace per test, and private
//!   `redis-server` processes a test may stop and restart;
//! - [`pg`]: a fresh PostgreSQL database per test, and private PostgreSQL servers a test
//!   may stop and start;
//! - [`sim`]: a job runner that simulates work (for testing the bus and the worker
//!   without Polygon), and the `sim-worker` binary built on it.

pub mod fake_polygon;
pub mod pg;
pub mod redis_server;
pub mod sim;
