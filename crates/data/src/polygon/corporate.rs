//! Splits (`GET /v3/reference/splits`) and the coming market holidays
//! (`GET /v1/marketstatus/upcoming`).
//!
//! Splits page by `next_url` like the other v3 listings (at most 1000 a page), guarded
//! against paging that does not move. The holidays endpoint answers a bare JSON array,
//! one row per exchange and day: `{"date","exchange","name","status"}` with `status`
//! `closed` or `early-close` (then `open` and `close` are UTC instants).

use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use chrono_tz::America::New_York;
use serde::{Deserialize, Serialize};

use super::client::{Envelope, PolygonClient};
use super::errors::PolygonError;

/// One split: `split_to` shares for every `split_from` from `execution_date` on (a 4-for-1
/// split is 1 → 4, a 1-for-10 reverse split 10 → 1).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Split {
    pub ticker: String,
    pub execution_date: NaiveDate,
    pub split_from: f64,
    pub split_to: f64,
    /// Polygon's id of the split, when sent.
    #[serde(default)]
    pub id: Option<String>,
}

impl Split {
    /// How much prices before the split are divided by (volume multiplied by).
    pub fn factor(&self) -> f64 {
        if self.split_from > 0.0 {
            self.split_to / self.split_from
        } else {
            1.0
        }
    }
}

/// What splits to list. Unset fields are not sent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SplitQuery {
    pub ticker: Option<String>,
    /// Splits executed on or after this date.
    pub since: Option<NaiveDate>,
}

/// A day the market closes or closes early, as Polygon lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MarketHoliday {
    pub date: NaiveDate,
    /// `NYSE`, `NASDAQ`, `OTC`.
    pub exchange: String,
    pub name: String,
    /// `closed` or `early-close`.
    pub status: String,
    #[serde(default)]
    pub open: Option<DateTime<Utc>>,
    #[serde(default)]
    pub close: Option<DateTime<Utc>>,
}

impl MarketHoliday {
    /// The close in New York time on an early close.
    pub fn close_ny(&self) -> Option<NaiveTime> {
        self.close.map(|c| c.with_timezone(&New_York).time())
    }
}

/// The upcoming endpoint's bare array, as an envelope that is always OK.
#[derive(Debug, Deserialize)]
#[serde(transparent)]
struct HolidaysResponse(Vec<MarketHoliday>);

impl Envelope for HolidaysResponse {
    fn status(&self) -> &str {
        "OK"
    }
}

/// Largest page of splits Polygon serves.
pub const SPLITS_LIMIT: u32 = 1000;

impl PolygonClient {
    /// Splits matching `q`, oldest first, following `next_url` to the end.
    pub async fn splits(&self, q: &SplitQuery) -> Result<Vec<Split>, PolygonError> {
        let mut url = self.endpoint(&["v3", "reference", "splits"]);
        {
            let mut pairs = url.query_pairs_mut();
            if let Some(t) = &q.ticker {
                pairs.append_pair("ticker", t);
            }
            if let Some(d) = q.since {
                pairs.append_pair("execution_date.gte", &d.format("%Y-%m-%d").to_string());
            }
            pairs.append_pair("sort", "execution_date");
            pairs.append_pair("order", "asc");
            pairs.append_pair("limit", &SPLITS_LIMIT.to_string());
        }
        let label = match &q.ticker {
            Some(t) => format!("{t} splits"),
            None => "splits".to_string(),
        };
        let mut out: Vec<Split> = self.list_all(url, &label).await?;
        out.sort_by(|a, b| (a.execution_date, &a.ticker).cmp(&(b.execution_date, &b.ticker)));
        Ok(out)
    }

    /// The coming market holidays and early closes of every exchange Polygon lists.
    pub async fn upcoming_market_holidays(&self) -> Result<Vec<MarketHoliday>, PolygonError> {
        let url = self.endpoint(&["v1", "marketstatus", "upcoming"]);
        let resp: HolidaysResponse = self.get_json(&url, "upcoming market holidays").await?;
        Ok(resp.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_decode_with_integer_or_fractional_ratios() {
        let r: crate::polygon::types::ListResponse<Split> = serde_json::from_str(
            r#"{"results":[{"execution_date":"2020-08-31","id":"E36416cc","split_from":1,"split_to":4,"ticker":"AAPL"},
                {"execution_date":"2024-01-02","split_from":3,"split_to":2.5,"ticker":"X"}],
                "status":"OK","request_id":"a","next_url":"https://api.polygon.io/v3/reference/splits?cursor=YQ"}"#,
        )
        .unwrap();
        let s = r.results.unwrap();
        assert_eq!(s[0].factor(), 4.0);
        assert_eq!(s[0].id.as_deref(), Some("E36416cc"));
        assert_eq!(s[1].split_to, 2.5);
        assert!(r.next_url.is_some());
    }

    #[test]
    fn holidays_decode_polygons_bare_array() {
        let r: HolidaysResponse = serde_json::from_str(
            r#"[{"date":"2020-11-26","exchange":"NYSE","name":"Thanksgiving","status":"closed"},
                {"close":"2020-11-27T18:00:00.000Z","date":"2020-11-27","exchange":"NYSE","name":"Thanksgiving","open":"2020-11-27T14:30:00.000Z","status":"early-close"}]"#,
        )
        .unwrap();
        assert_eq!(r.0.len(), 2);
        assert_eq!(r.0[0].close_ny(), None);
        assert_eq!(r.0[1].close_ny(), NaiveTime::from_hms_opt(13, 0, 0));
    }
}
