//! Typed Polygon responses and queries. Bars decode straight into [`Bar`]; envelopes keep
//! only what the client uses and ignore the rest, so new upstream fields do not break it.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use tickstock_protocol::bars::Bar;

/// One row of the grouped daily endpoint: the ticker and its daily bar. The bar's `t` is
/// the end of the day window (16:00 New York); use [`Bar::ny_date`] for the trading date.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupedBar {
    pub ticker: String,
    pub bar: Bar,
}

/// Filters for `GET /v3/reference/tickers`. Unset fields are not sent (Polygon's defaults
/// apply: active tickers only). `limit` is the page size (at most 1000; default 1000).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TickerQuery {
    /// Exactly this ticker.
    pub ticker: Option<String>,
    /// Tickers from this one on (`ticker.gte`).
    pub ticker_gte: Option<String>,
    /// Tickers up to this one (`ticker.lte`). Polygon has no filter by a list of tickers:
    /// a set is covered by the range from its first to its last.
    pub ticker_lte: Option<String>,
    /// `CS`, `ETF`, `ADRC`, ...
    pub ticker_type: Option<String>,
    /// `stocks`, `otc`, `crypto`, ...
    pub market: Option<String>,
    /// Primary exchange MIC (`XNAS`, `XNYS`, ...).
    pub exchange: Option<String>,
    pub active: Option<bool>,
    /// Search in ticker and name.
    pub search: Option<String>,
    pub limit: Option<u32>,
}

impl TickerQuery {
    /// Largest page Polygon serves for reference tickers.
    pub const MAX_LIMIT: u32 = 1000;

    /// Active tickers of one type (`CS`, `ETF`) in the stocks market.
    pub fn of_type(ticker_type: impl Into<String>) -> Self {
        TickerQuery {
            ticker_type: Some(ticker_type.into()),
            market: Some("stocks".into()),
            active: Some(true),
            ..Default::default()
        }
    }

    /// The query pairs to send.
    pub(crate) fn pairs(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        if let Some(t) = &self.ticker {
            out.push(("ticker", t.clone()));
        }
        if let Some(t) = &self.ticker_gte {
            out.push(("ticker.gte", t.clone()));
        }
        if let Some(t) = &self.ticker_lte {
            out.push(("ticker.lte", t.clone()));
        }
        if let Some(t) = &self.ticker_type {
            out.push(("type", t.clone()));
        }
        if let Some(m) = &self.market {
            out.push(("market", m.clone()));
        }
        if let Some(e) = &self.exchange {
            out.push(("exchange", e.clone()));
        }
        if let Some(a) = self.active {
            out.push(("active", a.to_string()));
        }
        if let Some(s) = &self.search {
            out.push(("search", s.clone()));
        }
        let limit = self
            .limit
            .unwrap_or(Self::MAX_LIMIT)
            .clamp(1, Self::MAX_LIMIT);
        out.push(("limit", limit.to_string()));
        out
    }
}

fn default_true() -> bool {
    true
}

/// One row of `GET /v3/reference/tickers`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TickerInfo {
    pub ticker: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub market: String,
    #[serde(default)]
    pub locale: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub primary_exchange: Option<String>,
    /// `CS`, `ETF`, ... (`type` on the wire).
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub ticker_type: Option<String>,
    #[serde(default = "default_true")]
    pub active: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cik: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub composite_figi: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub share_class_figi: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_updated_utc: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delisted_utc: Option<String>,
}

/// `GET /v3/reference/tickers/{T}`: the reference row plus company details.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TickerDetails {
    #[serde(flatten)]
    pub info: TickerInfo,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub market_cap: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sic_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sic_description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub list_date: Option<NaiveDate>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_employees: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weighted_shares_outstanding: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub share_class_shares_outstanding: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub homepage_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub round_lot: Option<u64>,
}

/// The fields every Polygon envelope has that decide success.
pub(crate) fn status_is_success(status: &str) -> bool {
    matches!(status, "OK" | "DELAYED")
}

/// Aggregates envelope (`/v2/aggs/ticker/...`).
#[derive(Debug, Deserialize)]
pub(crate) struct AggsResponse {
    #[serde(default)]
    pub status: String,
    /// The ticker the bars are of, as Polygon names it.
    #[serde(default)]
    pub ticker: Option<String>,
    #[serde(default)]
    pub results: Option<Vec<Bar>>,
    #[serde(default)]
    pub next_url: Option<String>,
}

/// One grouped daily row on the wire: `T` plus the bar fields.
#[derive(Debug, Deserialize)]
pub(crate) struct RawGroupedBar {
    #[serde(rename = "T")]
    pub ticker: String,
    pub t: i64,
    pub o: f64,
    pub h: f64,
    pub l: f64,
    pub c: f64,
    pub v: f64,
    #[serde(default)]
    pub vw: Option<f64>,
    #[serde(default)]
    pub n: Option<u64>,
}

impl From<RawGroupedBar> for GroupedBar {
    fn from(r: RawGroupedBar) -> Self {
        GroupedBar {
            ticker: r.ticker,
            bar: Bar {
                t: r.t,
                o: r.o,
                h: r.h,
                l: r.l,
                c: r.c,
                v: r.v,
                vw: r.vw,
                n: r.n,
            },
        }
    }
}

/// Grouped daily envelope.
#[derive(Debug, Deserialize)]
pub(crate) struct GroupedResponse {
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub results: Option<Vec<RawGroupedBar>>,
}

/// The envelope of a v3 reference listing (tickers, splits): a page of results and the
/// `next_url` of the next page.
#[derive(Debug, Deserialize)]
#[serde(bound(deserialize = "T: Deserialize<'de>"))]
pub(crate) struct ListResponse<T> {
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub results: Option<Vec<T>>,
    #[serde(default)]
    pub next_url: Option<String>,
}

/// Ticker details envelope.
#[derive(Debug, Deserialize)]
pub(crate) struct DetailsResponse {
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub results: Option<TickerDetails>,
}

/// Error bodies: 401/429 use `error`, 403/404 use `message`.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct ErrorBody {
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub error: Option<String>,
    #[serde(default)]
    pub message: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aggregates_envelope_with_missing_or_null_results_is_empty() {
        let r: AggsResponse = serde_json::from_str(
            r#"{"ticker":"X","queryCount":0,"resultsCount":0,"adjusted":true,"status":"OK","request_id":"a"}"#,
        )
        .unwrap();
        assert!(r.results.is_none());
        let r: AggsResponse =
            serde_json::from_str(r#"{"status":"DELAYED","results":null}"#).unwrap();
        assert!(r.results.is_none());
        assert!(status_is_success(&r.status));
        assert!(!status_is_success("ERROR"));
    }

    #[test]
    fn grouped_rows_decode_with_otc_and_without_optional_fields() {
        let r: GroupedResponse = serde_json::from_str(
            r#"{"status":"OK","results":[{"T":"AAPL","v":1.5,"o":1,"c":2,"h":3,"l":0.5,"t":1710187200000,"otc":true},
                {"T":"MSFT","v":100,"vw":2.1,"o":1,"c":2,"h":3,"l":0.5,"t":1710187200000,"n":9}]}"#,
        )
        .unwrap();
        let rows: Vec<GroupedBar> = r.results.unwrap().into_iter().map(Into::into).collect();
        assert_eq!(rows[0].ticker, "AAPL");
        assert_eq!(rows[0].bar.vw, None);
        assert_eq!(rows[1].bar.n, Some(9));
        assert_eq!(
            rows[1].bar.ny_date(),
            NaiveDate::from_ymd_opt(2024, 3, 11).unwrap()
        );
    }

    #[test]
    fn ticker_details_flatten_the_reference_row() {
        let r: DetailsResponse = serde_json::from_str(
            r#"{"status":"OK","request_id":"x","results":{"ticker":"AAPL","name":"Apple Inc.","market":"stocks",
              "locale":"us","primary_exchange":"XNAS","type":"CS","active":true,"currency_name":"usd",
              "cik":"0000320193","market_cap":3.1e12,"sic_code":"3571","list_date":"1980-12-12",
              "total_employees":161000,"weighted_shares_outstanding":15204137000,
              "address":{"city":"Cupertino"}}}"#,
        )
        .unwrap();
        let d = r.results.unwrap();
        assert_eq!(d.info.ticker, "AAPL");
        assert_eq!(d.info.ticker_type.as_deref(), Some("CS"));
        assert_eq!(d.list_date, NaiveDate::from_ymd_opt(1980, 12, 12));
        assert_eq!(d.total_employees, Some(161_000));
        let back = serde_json::to_value(&d).unwrap();
        assert_eq!(back["type"], "CS");
        assert_eq!(back["sic_code"], "3571");
    }

    #[test]
    fn query_pairs_clamp_the_limit() {
        let q = TickerQuery {
            limit: Some(5000),
            ..TickerQuery::of_type("ETF")
        };
        let pairs = q.pairs();
        assert!(pairs.contains(&("type", "ETF".into())));
        assert!(pairs.contains(&("active", "true".into())));
        assert!(pairs.contains(&("limit", "1000".into())));
    }
}
