//! The reference tickers the fake knows: a default list of real names, types and
//! exchanges, and the fields a listing answers with.

use chrono::NaiveDate;
use serde_json::{json, Map, Value};

use super::*;

/// Default reference rows: (ticker, type, name, primary exchange).
pub(super) const DEFAULT_REFERENCE: &[(&str, &str, &str, &str)] = &[
    ("AAPL", "CS", "Apple Inc.", "XNAS"),
    ("MSFT", "CS", "Microsoft Corp", "XNAS"),
    ("NVDA", "CS", "Nvidia Corp", "XNAS"),
    ("AMZN", "CS", "Amazon.com Inc", "XNAS"),
    ("GOOGL", "CS", "Alphabet Inc. Class A", "XNAS"),
    ("META", "CS", "Meta Platforms, Inc. Class A", "XNAS"),
    ("TSLA", "CS", "Tesla, Inc.", "XNAS"),
    ("BRK.B", "CS", "Berkshire Hathaway Inc. Class B", "XNYS"),
    ("JPM", "CS", "JPMorgan Chase & Co.", "XNYS"),
    ("V", "CS", "Visa Inc.", "XNYS"),
    ("UNH", "CS", "UnitedHealth Group Inc", "XNYS"),
    ("XOM", "CS", "Exxon Mobil Corp", "XNYS"),
    ("JNJ", "CS", "Johnson & Johnson", "XNYS"),
    ("WMT", "CS", "Walmart Inc.", "XNYS"),
    ("MA", "CS", "Mastercard Inc", "XNYS"),
    ("PG", "CS", "Procter & Gamble Co", "XNYS"),
    ("HD", "CS", "Home Depot, Inc.", "XNYS"),
    ("CVX", "CS", "Chevron Corp", "XNYS"),
    ("MRK", "CS", "Merck & Co., Inc.", "XNYS"),
    ("ABBV", "CS", "AbbVie Inc.", "XNYS"),
    ("KO", "CS", "Coca-Cola Co", "XNYS"),
    ("PEP", "CS", "PepsiCo, Inc.", "XNAS"),
    ("COST", "CS", "Costco Wholesale Corp", "XNAS"),
    ("AVGO", "CS", "Broadcom Inc.", "XNAS"),
    ("ORCL", "CS", "Oracle Corp", "XNYS"),
    ("BAC", "CS", "Bank of America Corp", "XNYS"),
    ("CRM", "CS", "Salesforce, Inc.", "XNYS"),
    ("ADBE", "CS", "Adobe Inc.", "XNAS"),
    ("NFLX", "CS", "Netflix, Inc.", "XNAS"),
    ("AMD", "CS", "Advanced Micro Devices", "XNAS"),
    ("INTC", "CS", "Intel Corp", "XNAS"),
    ("DIS", "CS", "Walt Disney Co", "XNYS"),
    ("SPY", "ETF", "SPDR S&P 500 ETF Trust", "ARCX"),
    ("QQQ", "ETF", "Invesco QQQ Trust, Series 1", "XNAS"),
    (
        "DIA",
        "ETF",
        "SPDR Dow Jones Industrial Average ETF Trust",
        "ARCX",
    ),
    ("IWM", "ETF", "iShares Russell 2000 ETF", "ARCX"),
    ("VTI", "ETF", "Vanguard Total Stock Market ETF", "ARCX"),
    ("VOO", "ETF", "Vanguard S&P 500 ETF", "ARCX"),
    ("IVV", "ETF", "iShares Core S&P 500 ETF", "ARCX"),
    ("EFA", "ETF", "iShares MSCI EAFE ETF", "ARCX"),
    ("EEM", "ETF", "iShares MSCI Emerging Markets ETF", "ARCX"),
    ("AGG", "ETF", "iShares Core U.S. Aggregate Bond ETF", "ARCX"),
    ("TLT", "ETF", "iShares 20+ Year Treasury Bond ETF", "XNAS"),
    ("GLD", "ETF", "SPDR Gold Shares", "ARCX"),
    ("XLF", "ETF", "Financial Select Sector SPDR Fund", "ARCX"),
    ("XLK", "ETF", "Technology Select Sector SPDR Fund", "ARCX"),
    ("XLE", "ETF", "Energy Select Sector SPDR Fund", "ARCX"),
    ("VNQ", "ETF", "Vanguard Real Estate ETF", "ARCX"),
];

/// The default `(ticker, type)` reference rows: 32 common stocks and 16 ETFs.
pub fn default_reference_tickers() -> Vec<(String, String)> {
    DEFAULT_REFERENCE
        .iter()
        .map(|(t, ty, _, _)| (t.to_string(), ty.to_string()))
        .collect()
}

/// One reference row as the fake serves it.
#[derive(Debug, Clone)]
pub(super) struct RefTicker {
    pub(super) ticker: String,
    pub(super) ticker_type: String,
    pub(super) name: String,
    pub(super) exchange: String,
}

impl RefTicker {
    pub(super) fn new(ticker: &str, ticker_type: &str) -> Self {
        let known = DEFAULT_REFERENCE.iter().find(|r| r.0 == ticker);
        let name = known.map(|r| r.2.to_string()).unwrap_or_else(|| {
            if ticker_type == "ETF" {
                format!("{ticker} Index Fund")
            } else {
                format!("{ticker} Holdings Inc.")
            }
        });
        let exchange = known.map(|r| r.3.to_string()).unwrap_or_else(|| {
            match (ticker_type, mix(hash_str(ticker), 9) % 2) {
                ("ETF", _) => "ARCX",
                (_, 0) => "XNAS",
                _ => "XNYS",
            }
            .to_string()
        });
        RefTicker {
            ticker: ticker.to_string(),
            ticker_type: ticker_type.to_string(),
            name,
            exchange,
        }
    }

    pub(super) fn info_json(&self) -> Map<String, Value> {
        let h = hash_str(&self.ticker);
        let mut m = Map::new();
        m.insert("ticker".into(), json!(self.ticker));
        m.insert("name".into(), json!(self.name));
        m.insert("market".into(), json!("stocks"));
        m.insert("locale".into(), json!("us"));
        m.insert("primary_exchange".into(), json!(self.exchange));
        m.insert("type".into(), json!(self.ticker_type));
        m.insert("active".into(), json!(true));
        m.insert("currency_name".into(), json!("usd"));
        if self.ticker_type != "ETF" {
            m.insert("cik".into(), json!(format!("{:010}", h % 2_000_000)));
        }
        m.insert(
            "composite_figi".into(),
            json!(format!("BBG{:09X}", h % 0xF_FFFF_FFFF)),
        );
        m.insert(
            "share_class_figi".into(),
            json!(format!("BBG{:09X}", mix(h, 3) % 0xF_FFFF_FFFF)),
        );
        m.insert("last_updated_utc".into(), json!("2025-06-30T00:00:00Z"));
        m
    }

    pub(super) fn details_json(&self) -> Value {
        let h = hash_str(&self.ticker);
        let mut m = self.info_json();
        let shares = 100_000_000.0 + (h % 9_000_000_000) as f64;
        let price = base_price(h);
        m.insert("market_cap".into(), json!((shares * price).round()));
        if self.ticker_type != "ETF" {
            m.insert("sic_code".into(), json!(format!("{}", 1000 + h % 8000)));
            m.insert(
                "sic_description".into(),
                json!("SERVICES-PREPACKAGED SOFTWARE"),
            );
            m.insert("total_employees".into(), json!(100 + h % 300_000));
        }
        let list = NaiveDate::from_ymd_opt(1980, 1, 2).unwrap()
            + chrono::Duration::days((h % 14_000) as i64);
        m.insert(
            "list_date".into(),
            json!(list.format("%Y-%m-%d").to_string()),
        );
        m.insert("weighted_shares_outstanding".into(), json!(shares));
        m.insert("share_class_shares_outstanding".into(), json!(shares));
        m.insert(
            "description".into(),
            json!(format!("{} (test data).", self.name)),
        );
        m.insert("round_lot".into(), json!(100));
        Value::Object(m)
    }
}
