//! The Polygon (Massive) REST client: aggregates with `next_url` pagination, grouped daily
//! bars, reference tickers and ticker details, splits and market holidays.
//!
//! Every request goes through one [`Limiter`] shared by all clones of a [`PolygonClient`]
//! (retries count too): the in-process [`RateLimiter`], or the key's [`SharedBudget`] in
//! Redis that every process on the key counts against. It carries the key in the
//! `Authorization: Bearer` header (never in a URL), and is retried with backoff when the failure may go away
//! (429, 5xx, HTML gateway pages, timeouts, broken connections, truncated JSON). Permanent
//! refusals (401, 403, 404) fail at once with the server's own words. All waiting uses
//! `tokio::time::sleep`, so tests can run it on paused time.
//!
//! - [`client`]: [`PolygonClient`], [`PolygonConfig`] and the request/retry loop.
//! - [`pagination`]: [`AggregatesPager`] and the guard that stops paging which no longer
//!   moves forward (a repeated `next_url`, a `from` that does not advance, empty pages).
//! - [`rate_limit`]: the sliding-window [`RateLimiter`] and the margin over a plan's window.
//! - [`shared_budget`]: one budget per API key in Redis, shared by every process.
//! - [`limiter`]: [`Limiter`], either of the two, falling back to the in-process one.
//! - [`retry`]: backoff delays for server failures and for 429 answers.
//! - [`types`]: typed responses ([`TickerInfo`], [`TickerDetails`], [`GroupedBar`]) and queries.
//! - [`corporate`]: splits and the coming market holidays.
//! - [`errors`]: [`PolygonError`], with retryability and a stable kind name.

pub mod client;
pub mod corporate;
pub mod errors;
pub mod limiter;
pub mod pagination;
pub mod rate_limit;
pub mod retry;
pub mod shared_budget;
pub mod types;

pub use client::{PolygonClient, PolygonConfig, AGGREGATES_LIMIT};
pub use corporate::{MarketHoliday, Split, SplitQuery};
pub use errors::PolygonError;
pub use limiter::Limiter;
pub use pagination::{AggregatesPager, MAX_EMPTY_PAGES};
pub use rate_limit::{RateLimiter, RATE_MARGIN};
pub use shared_budget::{key_digest, SharedBudget};
pub use types::{GroupedBar, TickerDetails, TickerInfo, TickerQuery};
