//! # tickstock-testkit
//!
//! Test support for TickStock Admin, used by the integration suites and runnable by hand:
//! - [`redis_server`]: the shared Redis with a private namespace per test, and private
//!   `redis-server` processes a test may stop and restart;
//! - [`pg`]: a fresh PostgreSQL database per test, and private PostgreSQL servers a test
//!   may stop and start;
//! - [`sim`]: a job runner that simulates work (for testing the bus and the worker
//!   without Polygon), and the `sim-worker` binary built on it.

pub mod pg;
pub mod redis_server;
pub mod sim;
