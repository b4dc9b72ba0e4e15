//! The symbols a job loads: universes from the database (or the built-in lists before
//! publishing), CSV files, the ETF universe rebuilt from Polygon's reference tickers; and
//! loaded symbols registered in `symbols` from ticker details.

use std::collections::HashSet;

use chrono::Utc;
use futures_util::stream::{self, StreamExt};
use tracing::{info, warn};

use super::Loader;
use crate::error::{Error, ErrorKind, Result};
use crate::exec::JobContext;
use crate::job::{normalize_tickers, Job, JobSpec};
use crate::polygon::{TickerDetails, TickerInfo, TickerQuery};
use crate::store::{Store, SymbolRecord};
use crate::unit::Ticker;
use crate::universe;

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

/// A `symbols` row from ticker details, refreshed now; sector from the SIC code.
fn record_from_details(d: &TickerDetails) -> SymbolRecord {
    let sic = d.sic_code.clone().filter(|s| !s.trim().is_empty());
    SymbolRecord {
        market_cap: d.market_cap,
        weighted_shares_outstanding: d.weighted_shares_outstanding,
        sector: sic
            .as_deref()
            .and_then(crate::sic::sector_of)
            .map(str::to_string),
        industry: d.sic_description.clone(),
        sic_code: sic,
        sic_description: d.sic_description.clone(),
        list_date: d.list_date,
        total_employees: d.total_employees.and_then(|n| i64::try_from(n).ok()),
        refreshed_at: Some(Utc::now()),
        ..record_from_info(&d.info)
    }
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
            .filter(|t| crate::job::check_ticker(&t.ticker).is_ok())
            .map(|t| {
                let mut r = record_from_info(t);
                if r.type_.is_empty() {
                    r.type_ = "ETF".into();
                }
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

    /// Registers loaded symbols in `symbols` from Polygon's ticker details, as TickStock's
    /// loader does, when a row is missing or older than `symbol_refresh`. A details call
    /// that fails is logged and skipped: it never fails the bars already loaded.
    pub(super) async fn register_symbols(
        &self,
        ctx: &JobContext,
        symbols: &[Ticker],
    ) -> Result<()> {
        let Some(max_age) = self.cfg.symbol_refresh else {
            return Ok(());
        };
        let names: Vec<String> = symbols.iter().map(Ticker::to_string).collect();
        let stale = match self.store.symbols_to_refresh(&names, max_age).await {
            Ok(s) => s,
            Err(e) => {
                warn!("cannot tell which symbols need registering: {e}");
                return Ok(());
            }
        };
        if stale.is_empty() {
            return Ok(());
        }
        let p = ctx.progress();
        p.set_message(format!(
            "Registering {} symbol{} from Polygon ticker details",
            stale.len(),
            if stale.len() == 1 { "" } else { "s" }
        ));
        // Now, not throttled: on a rate-limited plan the next write may be a minute away.
        p.flush().await?;
        let lookups: Vec<_> = stale
            .into_iter()
            .map(|symbol| {
                let polygon = self.polygon.clone();
                async move {
                    let r = polygon.ticker_details(&symbol).await;
                    (symbol, r)
                }
            })
            .collect();
        let results = stream::iter(lookups).buffer_unordered(self.cfg.concurrency.max(1));
        tokio::pin!(results);
        let mut batch = Vec::new();
        loop {
            let next = ctx.unless_stopped(results.next()).await?;
            let done = next.is_none();
            match next {
                Some((_, Ok(d))) => batch.push(record_from_details(&d)),
                Some((symbol, Err(e))) => {
                    warn!(symbol, "ticker details not registered: {e}");
                }
                None => {}
            }
            if batch.len() >= 50 || (done && !batch.is_empty()) {
                if let Err(e) = self.store.upsert_symbols(&batch).await {
                    warn!("symbols not registered: {e}");
                }
                batch.clear();
            }
            if done {
                return Ok(());
            }
        }
    }
}
