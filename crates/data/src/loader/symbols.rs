//! The symbols a job loads: universes from the database (or the built-in lists before
//! publishing), CSV files, the ETF universe rebuilt from Polygon's reference tickers; and
//! loaded symbols registered in `symbols` from ticker details.

use std::collections::HashSet;

use chrono::Utc;
use tracing::{info, warn};

use super::Loader;
use crate::exec::JobContext;
use crate::polygon::{TickerDetails, TickerInfo, TickerQuery};
use crate::store::{Store, SymbolRecord};
use tickstock_protocol::error::{Error, ErrorKind, Result};
use tickstock_protocol::job::{normalize_tickers, Job, JobSpec};
use tickstock_protocol::unit::Ticker;
use tickstock_protocol::universe;

/// A universe job with its members resolved into the message's `symbols` before it is
/// published, so TickStockPL workers (which load only `symbols`) can run it: from the
/// database's universes of the store's environment when a store is given, else from the
/// built-in lists. A job naming only a CSV file is left to the worker, which reads the
/// file; other kinds are returned as they are.
pub async fn resolve_for_publish(job: Job, store: Option<&Store>) -> Result<Job> {
    let key = match &job.spec {
        JobSpec::UniverseSeed { universe_type, .. } => universe_type.clone(),
        JobSpec::CsvUniverse {
            universe_key: Some(k),
            symbols: None,
            ..
        } => k.clone(),
        _ => return Ok(job),
    };
    let members = match store {
        Some(store) => store.universe_members(&key).await?,
        None => {
            let mut all = std::collections::BTreeSet::new();
            for part in universe::split_raw_keys(&key) {
                match universe::find_builtin(&part) {
                    Some(b) => all.extend(b.members()),
                    None => {
                        all.clear();
                        break;
                    }
                }
            }
            (!all.is_empty()).then(|| all.into_iter().collect())
        }
    };
    match members {
        Some(m) if !m.is_empty() => Ok(job.with_resolved_symbols(m)),
        Some(_) => Err(Error::invalid(format!("universe `{key}` has no members"))),
        None => Err(Error::invalid(format!("unknown universe key `{key}`"))),
    }
}

/// Symbols registered with one reference-list request each (`ticker=`) rather than the
/// list over their range: a range from the first to the last of a few symbols may span
/// most of the list.
pub const EXACT_LOOKUPS_UP_TO: usize = 10;

/// Reference-list requests a load registers its symbols with at most, whatever their
/// number: the whole active US stocks list is about a dozen pages of 1000.
pub const REGISTRATION_PAGES_MAX: u64 = 15;

/// What a `symbols` row carries where Polygon has no value, as TickStock's own loader
/// writes it (`ensure_symbol_exists`, `get_sector_industry_from_sic`,
/// `extract_country_from_address` and `_extract_etf_metadata` in TickSTockAppV2's
/// `src/data/historical_loader.py`): sector and industry `Unknown`, country `US`, currency
/// symbol `$`; for an ETF its type as `etf_type`, FMV supported, quarterly dividends, a
/// creation unit of 50,000 and the issuer, correlation reference and underlying index it
/// reads from the fund's name; for any other type those ETF fields empty. They are written
/// only where the row has no value, so a sector from the SIC code is never overwritten.
pub fn tickstock_defaults(r: &SymbolRecord) -> Vec<(&'static str, String)> {
    let mut d: Vec<(&'static str, String)> = vec![
        ("sector", "Unknown".into()),
        ("industry", "Unknown".into()),
        ("country", "US".into()),
        ("currency_symbol", "$".into()),
    ];
    if r.type_ == "ETF" {
        let (reference, index) = etf_reference(&r.symbol, &r.name);
        d.extend([
            ("etf_type", "ETF".to_string()),
            ("fmv_supported", "true".into()),
            ("dividend_frequency", "quarterly".into()),
            ("creation_unit_size", "50000".into()),
            ("issuer", etf_issuer(&r.name).into()),
            ("correlation_reference", reference.into()),
            ("underlying_index", index.into()),
        ]);
        if let Some(cap) = r.market_cap {
            d.push(("aum_millions", (cap / 1_000_000.0).to_string()));
        }
        if let Some(list) = r.list_date {
            d.push(("inception_date", list.to_string()));
        }
    } else {
        for col in [
            "issuer",
            "correlation_reference",
            "underlying_index",
            "dividend_frequency",
        ] {
            d.push((col, String::new()));
        }
    }
    d
}

/// The ETF issuer TickStock reads from a fund's name.
fn etf_issuer(name: &str) -> &'static str {
    let n = name.to_uppercase();
    if n.contains("SPDR") || n.contains("STATE STREET") {
        "State Street"
    } else if n.contains("ISHARES") || n.contains("BLACKROCK") {
        "BlackRock"
    } else if n.contains("VANGUARD") {
        "Vanguard"
    } else if n.contains("INVESCO") {
        "Invesco"
    } else if n.contains("FIDELITY") {
        "Fidelity"
    } else {
        "Other"
    }
}

/// The correlation reference and underlying index TickStock reads from an ETF's ticker
/// and name (S&P 500 when nothing matches), in its order.
fn etf_reference(ticker: &str, name: &str) -> (&'static str, &'static str) {
    let n = name.to_uppercase();
    let is = |list: &[&str]| list.contains(&ticker);
    let has = |words: &[&str]| words.iter().any(|w| n.contains(w));
    if is(&["SPY", "VOO", "IVV"]) || has(&["S&P 500"]) {
        ("SPY", "S&P 500")
    } else if is(&["QQQ", "TQQQ"]) || has(&["NASDAQ"]) {
        ("QQQ", "NASDAQ-100")
    } else if is(&["IWM", "IWN", "IWO"]) || has(&["RUSSELL 2000"]) {
        ("IWM", "Russell 2000")
    } else if is(&["VTI", "ITOT"]) || has(&["TOTAL STOCK"]) {
        ("VTI", "CRSP US Total Market")
    } else if is(&["VUG", "IVW", "SCHG"]) || has(&["GROWTH"]) {
        ("VUG", "Growth Index")
    } else if is(&["VTV", "IVE", "SCHV"]) || has(&["VALUE"]) {
        ("VTV", "Value Index")
    } else if is(&["VGT", "XLK", "FTEC"]) || has(&["TECHNOLOGY"]) {
        ("VGT", "Technology Sector")
    } else if is(&["XLF"]) || has(&["FINANCIAL"]) {
        ("XLF", "Financial Sector")
    } else if is(&["XLV"]) || has(&["HEALTH"]) {
        ("XLV", "Healthcare Sector")
    } else if is(&["XLE"]) || has(&["ENERGY"]) {
        ("XLE", "Energy Sector")
    } else if is(&["XLI"]) || has(&["INDUSTRIAL"]) {
        ("XLI", "Industrial Sector")
    } else if is(&["XLP"]) || has(&["CONSUMER STAPLES"]) {
        ("XLP", "Consumer Staples Sector")
    } else if is(&["XLY"]) || has(&["CONSUMER DISCRETIONARY"]) {
        ("XLY", "Consumer Discretionary Sector")
    } else if is(&["AGG", "BND"]) || has(&["BOND", "AGGREGATE"]) {
        ("AGG", "Bond Aggregate")
    } else if is(&["VEA", "IEFA"]) || has(&["EAFE", "DEVELOPED"]) {
        ("VEA", "EAFE Index")
    } else if is(&["EEM", "VWO"]) || has(&["EMERGING"]) {
        ("EEM", "Emerging Markets")
    } else if is(&["MTUM"]) || has(&["MOMENTUM"]) {
        ("MTUM", "Momentum Factor")
    } else if is(&["QUAL"]) || has(&["QUALITY"]) {
        ("QUAL", "Quality Factor")
    } else if is(&["USMV"]) || has(&["MIN VOL", "LOW VOL"]) {
        ("USMV", "Minimum Volatility")
    } else {
        ("SPY", "S&P 500")
    }
}

/// A `symbols` row from a reference-list entry.
fn record_from_info(t: &TickerInfo) -> SymbolRecord {
    SymbolRecord {
        symbol: t.ticker.clone(),
        name: t.name.clone(),
        market: t.market.clone(),
        exchange: t.primary_exchange.clone().unwrap_or_default(),
        type_: t.ticker_type.clone().unwrap_or_default(),
        active: t.active,
        locale: Some(t.locale.clone()).filter(|s| !s.is_empty()),
        currency: t.currency_name.clone(),
        cik: t.cik.clone(),
        composite_figi: t.composite_figi.clone(),
        share_class_figi: t.share_class_figi.clone(),
        last_updated: t
            .last_updated_utc
            .as_deref()
            .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
            .map(|d| d.with_timezone(&Utc)),
        ..Default::default()
    }
}

/// A `symbols` row a load registers from a reference-list entry: now, with TickStock's
/// defaults, its details left to describe.
fn registered_from_info(t: &TickerInfo) -> SymbolRecord {
    let mut r = SymbolRecord {
        refreshed_at: Some(Utc::now()),
        ..record_from_info(t)
    };
    r.defaults = tickstock_defaults(&r);
    r
}

/// A `symbols` row from ticker details, registered and described now; sector from the SIC
/// code.
fn record_from_details(d: &TickerDetails) -> SymbolRecord {
    let sic = d.sic_code.clone().filter(|s| !s.trim().is_empty());
    let now = Utc::now();
    let mut r = SymbolRecord {
        market_cap: d.market_cap,
        weighted_shares_outstanding: d.weighted_shares_outstanding,
        sector: sic
            .as_deref()
            .and_then(tickstock_protocol::sic::sector_of)
            .map(str::to_string),
        industry: d.sic_description.clone(),
        sic_code: sic,
        sic_description: d.sic_description.clone(),
        list_date: d.list_date,
        total_employees: d.total_employees.and_then(|n| i64::try_from(n).ok()),
        refreshed_at: Some(now),
        described_at: Some(now),
        ..record_from_info(&d.info)
    };
    r.defaults = tickstock_defaults(&r);
    r
}

/// How symbol registration stands for a job's symbols.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Registration {
    /// Rows written from the reference list.
    pub registered: usize,
    /// Registered symbols whose ticker details are still to fetch (from spare requests).
    pub left_to_describe: usize,
}

impl Loader {
    pub(super) async fn members_of(&self, joined: &str) -> Result<Vec<String>> {
        let mut out: Vec<String> = Vec::new();
        let mut seen = HashSet::new();
        let mut unknown = Vec::new();
        for key in universe::split_raw_keys(joined) {
            match self.store.universe_members(&key).await? {
                Some(members) => {
                    for m in members {
                        if seen.insert(m.clone()) {
                            out.push(m);
                        }
                    }
                }
                None => unknown.push(key),
            }
        }
        if !unknown.is_empty() {
            return Err(Error::invalid(format!(
                "unknown universe key `{}`",
                unknown.join("`, `")
            )));
        }
        if out.is_empty() {
            return Err(Error::invalid(format!(
                "universe `{joined}` has no members"
            )));
        }
        Ok(out)
    }

    /// Rebuilds the ETF universe from Polygon's reference tickers (type ETF, active).
    pub(super) async fn refresh_etfs(&self, ctx: &JobContext) -> Result<Vec<String>> {
        ctx.progress()
            .set_message("Refreshing the ETF list from Polygon reference data");
        ctx.progress().publish().await?;
        let tickers = self
            .polygon
            .tickers(&TickerQuery {
                ticker_type: Some("ETF".into()),
                market: Some("stocks".into()),
                active: Some(true),
                limit: Some(TickerQuery::MAX_LIMIT),
                ..Default::default()
            })
            .await
            .map_err(Error::from)?;
        let records: Vec<SymbolRecord> = tickers
            .iter()
            .filter(|t| tickstock_protocol::job::check_ticker(&t.ticker).is_ok())
            .map(|t| {
                let mut r = record_from_info(t);
                if r.type_.is_empty() {
                    r.type_ = "ETF".into();
                }
                r.defaults = tickstock_defaults(&r);
                r
            })
            .collect();
        if records.is_empty() {
            return Err(Error::new(
                ErrorKind::Polygon,
                "Polygon returned no active ETFs; the ETF universe was left as it was",
            ));
        }
        self.store.upsert_symbols(&records).await?;
        let members: Vec<String> = records.iter().map(|r| r.symbol.clone()).collect();
        self.store
            .replace_universe(
                "etf",
                "ETFs",
                "ETF",
                Some(Utc::now().date_naive()),
                &members,
            )
            .await?;
        info!(
            count = members.len(),
            "ETF universe rebuilt from reference tickers"
        );
        Ok(members)
    }

    /// The symbols a job loads, resolved against the database's universes and CSV files.
    pub async fn resolve_symbols(
        &self,
        job: &Job,
        ctx: Option<&JobContext>,
    ) -> Result<Vec<Ticker>> {
        let raw = match &job.spec {
            JobSpec::Historical { symbols, .. }
            | JobSpec::MultiTimeframe { symbols, .. }
            | JobSpec::TopUp { symbols, .. } => symbols.clone(),
            JobSpec::UniverseSeed { refresh: false, .. } if job.message_symbols().is_some() => {
                job.message_symbols().unwrap_or_default()
            }
            JobSpec::UniverseSeed {
                universe_type,
                refresh,
                ..
            } => {
                if *refresh && universe::canonical_key(universe_type) == "etf" {
                    match ctx {
                        Some(ctx) => self.refresh_etfs(ctx).await?,
                        None => self.members_of(universe_type).await?,
                    }
                } else {
                    self.members_of(universe_type).await?
                }
            }
            JobSpec::CsvUniverse {
                symbols: Some(s), ..
            } => s.clone(),
            JobSpec::CsvUniverse {
                csv_file: Some(f),
                universe_key: None,
                ..
            } => self.symbols_from_csv(f).await?,
            JobSpec::CsvUniverse {
                universe_key: Some(k),
                ..
            } => self.members_of(k).await?,
            JobSpec::CsvUniverse { .. } => {
                return Err(Error::invalid(
                    "a CSV universe load needs `csv_file`, `universe_key` or `symbols`",
                ))
            }
        };
        normalize_tickers(&raw).map_err(|e| Error::invalid(e.message))
    }

    /// Registers loaded symbols in `symbols` from Polygon's reference list, when a row is
    /// missing or older than `symbol_refresh`: one `ticker=` request each for a few
    /// symbols, else the list over their range (at most [`REGISTRATION_PAGES_MAX`] pages
    /// for any set of US stocks), never one details call each. The ticker details only
    /// those have (SIC code, so sector and industry) are left to spare requests
    /// ([`Loader::describe_one`]) or `tickstock load --describe`; the status says how many
    /// are left. A listing that fails is logged and skipped: it never fails the bars
    /// already loaded.
    pub(super) async fn register_symbols(
        &self,
        ctx: &JobContext,
        symbols: &[Ticker],
    ) -> Result<Registration> {
        let Some(max_age) = self.cfg.symbol_refresh else {
            return Ok(Registration::default());
        };
        let names: Vec<String> = symbols.iter().map(Ticker::to_string).collect();
        let stale = match self.store.symbols_to_refresh(&names, max_age).await {
            Ok(s) => s,
            Err(e) => {
                warn!("cannot tell which symbols need registering: {e}");
                return Ok(Registration::default());
            }
        };
        let mut out = Registration::default();
        if !stale.is_empty() {
            let p = ctx.progress();
            p.set_message(format!(
                "Registering {} from Polygon's reference list",
                crate::exec::count(stale.len() as u64, "symbol"),
            ));
            // Now, not throttled: on a rate-limited plan the next write may be a minute away.
            p.flush().await?;
            let listed = ctx.unless_stopped(self.list_symbols(&stale)).await?;
            let records: Vec<SymbolRecord> = listed.iter().map(registered_from_info).collect();
            out.registered = records.len();
            if let Err(e) = self.store.upsert_symbols(&records).await {
                warn!("symbols not registered: {e}");
            }
            if records.len() < stale.len() {
                info!(
                    missing = stale.len() - records.len(),
                    "symbols not in Polygon's active reference list were not registered"
                );
            }
        }
        match self
            .store
            .symbols_to_describe(Some(&names), max_age, usize::MAX)
            .await
        {
            Ok(left) => out.left_to_describe = left.len(),
            Err(e) => warn!("cannot tell which symbols are left to describe: {e}"),
        }
        Ok(out)
    }

    /// The reference-list rows of `symbols` (those Polygon lists as active).
    async fn list_symbols(&self, symbols: &[String]) -> Vec<TickerInfo> {
        let wanted: HashSet<&str> = symbols.iter().map(String::as_str).collect();
        let base = TickerQuery {
            active: Some(true),
            limit: Some(TickerQuery::MAX_LIMIT),
            ..Default::default()
        };
        let queries: Vec<TickerQuery> = if symbols.len() <= EXACT_LOOKUPS_UP_TO {
            symbols
                .iter()
                .map(|s| TickerQuery {
                    ticker: Some(s.clone()),
                    ..base.clone()
                })
                .collect()
        } else {
            let first = symbols.iter().min().cloned();
            let last = symbols.iter().max().cloned();
            vec![TickerQuery {
                market: Some("stocks".into()),
                ticker_gte: first,
                ticker_lte: last,
                ..base
            }]
        };
        let mut out = Vec::new();
        for q in queries {
            match self.polygon.tickers(&q).await {
                Ok(rows) => out.extend(
                    rows.into_iter()
                        .filter(|t| wanted.contains(t.ticker.as_str())),
                ),
                Err(e) => warn!("reference list not read, symbols not registered: {e}"),
            }
        }
        out
    }

    /// Describes one registered symbol from its ticker details, when one is left and the
    /// plan's rate limit lets a request through now without waiting (spare budget only:
    /// never ahead of bars). Returns whether a request was made. A ticker Polygon does not
    /// know is stamped described, so it is not asked for again before `symbol_refresh`.
    pub async fn describe_one(&self) -> Result<bool> {
        let Some(max_age) = self.cfg.symbol_refresh else {
            return Ok(false);
        };
        if self.polygon.rate_limiter().available().await == Some(0) {
            return Ok(false);
        }
        let Some(symbol) = self
            .store
            .symbols_to_describe(None, max_age, 1)
            .await?
            .into_iter()
            .next()
        else {
            return Ok(false);
        };
        self.describe(&symbol).await?;
        Ok(true)
    }

    /// Fetches the ticker details of every symbol of `symbols` left to describe, waiting
    /// for the plan's rate limit as bars do (`tickstock load --describe`). Returns how many
    /// were described.
    pub async fn describe_all(&self, symbols: &[String]) -> Result<usize> {
        let Some(max_age) = self.cfg.symbol_refresh else {
            return Ok(0);
        };
        let left = self
            .store
            .symbols_to_describe(Some(symbols), max_age, usize::MAX)
            .await?;
        for s in &left {
            self.describe(s).await?;
        }
        Ok(left.len())
    }

    /// One details call, written to the symbol's row.
    async fn describe(&self, symbol: &str) -> Result<()> {
        let record = match self.polygon.ticker_details(symbol).await {
            Ok(d) => record_from_details(&d),
            Err(e @ crate::polygon::PolygonError::NotFound { .. }) => {
                warn!(symbol, "no ticker details: {e}");
                self.store.mark_described(&[symbol.to_string()]).await?;
                return Ok(());
            }
            Err(e) => return Err(Error::from(e)),
        };
        self.store.upsert_symbols(&[record]).await?;
        Ok(())
    }
}
