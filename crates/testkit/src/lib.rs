//! # tickstock-testkit
//!
//! Test support for TickStock Admin, used by the integration suites and runnable by hand:
//! - [`fake_polygon`]: a fake Polygon REST server with deterministic bars, pagination and
//!   injectable faults, and the `fake-polygon` binary built on it;
//! - [`redis_server`]: the shared Redis with a private namespace per test, and private
//!   `redis-server` processes a test may stop and restart;
//! - [`sim`]: a job runner that simulates work (for testing the bus and the worker
//!   without Polygon), and the `sim-worker` binary built on it.

pub mod fake_polygon;
pub mod redis_server;
pub mod sim;
