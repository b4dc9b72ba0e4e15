//! # tickstock-protocol
//!
//! The bottom layer of TickStock Admin: the job protocol shared with TickStockPL and the
//! values every other layer passes around, as pure data (no I/O, no Redis, no database).
//! Layers above: `tickstock-data` (Polygon, storage, loader), `tickstock-queue` (the Redis
//! bus, the embedded queue, the worker), `tickstock-jobs` (the job service, the one crate
//! the shells use for jobs).
//!
//! ## Layout
//! - [`job`]: the job message model, parsing that keeps unknown fields, and validation
//!   (`job/`: `wire`, `validate`, `request`).
//! - [`status`]: the job status value (legacy JSON string or hash), its states and times.
//! - [`keys`]: every Redis key and channel name, legacy and durable, with its meaning.
//! - [`timeframe`]: bar sizes, their wire names, Polygon timespans and tables.
//! - [`unit`](mod@unit): a [`Ticker`] and a [`Unit`] (symbol, timeframe), with the unit's
//!   stored `SYMBOL|timeframe` form.
//! - [`bars`]: the OHLCV bar type.
//! - [`calendar`]: NYSE sessions, holidays, early closes and expected bars.
//! - [`universe`]: universe keys, aliases and the built-in member lists.
//! - [`sic`]: sector from a SIC code, for the `symbols` table.
//! - [`settings`]: typed settings with secrets that cannot be printed.
//! - [`error`]: the error type every public function returns.
//! - [`text`]: counts and durations in words for messages ("1 symbol", "4 min 12 s").

pub mod bars;
pub mod calendar;
pub mod error;
pub mod job;
pub mod keys;
pub mod settings;
pub mod sic;
pub mod status;
pub mod text;
pub mod timeframe;
pub mod unit;
pub mod universe;

pub use bars::Bar;
pub use error::{Error, ErrorKind, Result};
pub use timeframe::Timeframe;
pub use unit::{Ticker, Unit};
