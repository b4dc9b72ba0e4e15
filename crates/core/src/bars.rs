//! The OHLCV bar as Polygon sends it and as the loader stores it.

use serde::{Deserialize, Serialize};

/// One aggregate bar, decoded straight from Polygon's `results[]`.
///
/// `t` is the Unix time in milliseconds of the start of the window (aggregates) or of
/// its end (grouped daily); windows are in US Eastern time.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Bar {
    pub t: i64,
    pub o: f64,
    pub h: f64,
    pub l: f64,
    pub c: f64,
    /// Volume: may be fractional.
    pub v: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vw: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n: Option<u64>,
}
