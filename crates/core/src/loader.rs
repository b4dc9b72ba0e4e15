//! The loader: the [`JobRunner`] that downloads bars from Polygon and writes them to the
//! TickStock database, for every job kind.
//!
//! A job becomes a plan of units, one per (symbol, timeframe). Units run concurrently (as
//! many at once as `concurrency`; the Polygon client's shared rate limiter decides how fast
//! requests actually go), each page of bars written in its own transaction as it arrives,
//! so memory stays flat whatever the size of the load. Finished units are checkpointed and
//! skipped when a job is resumed. A symbol whose requests fail is recorded with the reason
//! and the job goes on; a database failure fails the job. Daily bars of many symbols on a
//! rate-limited plan come from grouped daily (one request per trading day) when that needs
//! fewer requests than one per symbol.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{NaiveDate, Utc};
use futures_util::stream::{self, StreamExt};
use tracing::{debug, info, warn};

use crate::calendar;
use crate::error::{Error, ErrorKind, Result};
use crate::exec::{JobContext, JobRunner};
use crate::job::{check_csv_name, normalize_symbols, Job, JobSpec};
use crate::polygon::{PolygonClient, PolygonError, TickerDetails, TickerInfo, TickerQuery};
use crate::store::{Store, SymbolRecord};
use crate::timeframe::Timeframe;
use crate::universe;
use crate::Bar;

/// How the loader behaves.
#[derive(Debug, Clone)]
pub struct LoaderConfig {
    /// Units (symbol x timeframe) in flight at once.
    pub concurrency: usize,
    /// The only folder `csv_file` names are read from (none: no file is read).
    pub csv_dir: Option<PathBuf>,
    /// Use grouped daily for daily bars when it needs fewer requests.
    pub grouped_daily: bool,
    /// Register every loaded symbol in `symbols` from Polygon's ticker details when its row
    /// is missing or older than this; `None` registers nothing.
    pub symbol_refresh: Option<Duration>,
}

/// How old a `symbols` row may be before a load refreshes it from ticker details.
pub const DEFAULT_SYMBOL_REFRESH: Duration = Duration::from_secs(7 * 86_400);

impl Default for LoaderConfig {
    fn default() -> Self {
        LoaderConfig {
            concurrency: 4,
            csv_dir: None,
            grouped_daily: true,
            symbol_refresh: Some(DEFAULT_SYMBOL_REFRESH),
        }
    }
}

/// The Polygon-to-database loader. Cheap to clone.
#[derive(Clone)]
pub struct Loader {
    polygon: PolygonClient,
    store: Store,
    cfg: LoaderConfig,
}

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

/// Largest CSV file a job may name (4 MiB: some 400,000 tickers).
pub const MAX_CSV_BYTES: u64 = 4 * 1024 * 1024;

fn too_big(name: &str) -> Error {
    Error::invalid(format!(
        "CSV file `{name}` is larger than the limit of {} MiB and was not read",
        MAX_CSV_BYTES / (1024 * 1024)
    ))
}

/// Reads at most [`MAX_CSV_BYTES`] of a regular file (checked again on the open handle,
/// in case the path changed since it was looked at), as UTF-8 text.
async fn read_csv_capped(path: &Path, name: &str) -> Result<String> {
    use tokio::io::AsyncReadExt;
    let unreadable = || Error::invalid(format!("cannot read CSV file `{name}`"));
    let file = tokio::fs::File::open(path)
        .await
        .map_err(|_| unreadable())?;
    let meta = file.metadata().await.map_err(|_| unreadable())?;
    if !meta.is_file() {
        return Err(Error::invalid(format!(
            "CSV file `{name}` is not a regular file and was not read"
        )));
    }
    let mut bytes = Vec::new();
    file.take(MAX_CSV_BYTES + 1)
        .read_to_end(&mut bytes)
        .await
        .map_err(|_| unreadable())?;
    if bytes.len() as u64 > MAX_CSV_BYTES {
        return Err(too_big(name));
    }
    String::from_utf8(bytes)
        .map_err(|_| Error::invalid(format!("CSV file `{name}` is not UTF-8 text")))
}

/// The unit key used in checkpoints: `SYMBOL|timeframe`.
pub fn unit_key(symbol: &str, tf: Timeframe) -> String {
    format!("{symbol}|{}", tf.wire_name())
}

/// How long after a session's close its daily bar counts as final.
pub const FINAL_BAR_DELAY: Duration = Duration::from_secs(15 * 60);

/// Dated bars (day, week, month) are stored only once final: their sessions have all
/// closed. Returns the last day to ask for and the first period start that is not final
/// yet (bars of it and later are left out), given the last closed session.
fn final_dated_range(
    tf: Timeframe,
    to: NaiveDate,
    last_closed: NaiveDate,
) -> (NaiveDate, NaiveDate) {
    let next_session = last_closed
        .iter_days()
        .skip(1)
        .find(|d| calendar::is_trading_day(*d))
        .unwrap_or(NaiveDate::MAX);
    (
        to.min(last_closed),
        calendar::period_start(tf, next_session),
    )
}

/// How far `date` is through `[from, to]`, 0 to 1.
fn span_fraction(date: NaiveDate, from: NaiveDate, to: NaiveDate) -> f64 {
    let total = (to - from).num_days().max(1) as f64;
    ((date - from).num_days() as f64 / total).clamp(0.0, 1.0)
}

fn polygon_reason(e: &PolygonError) -> String {
    e.to_string()
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
    pub fn new(polygon: PolygonClient, store: Store, cfg: LoaderConfig) -> Loader {
        Loader {
            polygon,
            store,
            cfg,
        }
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn polygon(&self) -> &PolygonClient {
        &self.polygon
    }

    /// The universe keys the database offers, as listed and in canonical form (a
    /// request asks about canonical keys).
    pub async fn known_universes(&self) -> Result<HashSet<String>> {
        Self::known_universes_of(&self.store).await
    }

    /// [`Loader::known_universes`] of any store.
    pub async fn known_universes_of(store: &Store) -> Result<HashSet<String>> {
        let mut known = HashSet::new();
        for u in store.list_universes().await? {
            known.insert(universe::canonical_key(&u.key));
            known.insert(u.key);
        }
        Ok(known)
    }

    async fn members_of(&self, joined: &str) -> Result<Vec<String>> {
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

    /// The file a `csv_file` name means: inside the configured CSV folder only (after
    /// resolving symbolic links), a regular file of at most [`MAX_CSV_BYTES`]. `Ok(None)`
    /// when there is no such file (or no folder); an error when the name or the file may
    /// not be read. Messages name the file as given, never its contents.
    fn find_csv(&self, name: &str) -> Result<Option<PathBuf>> {
        check_csv_name(name).map_err(Error::invalid)?;
        let Some(dir) = self.cfg.csv_dir.as_ref() else {
            return Ok(None);
        };
        let path = dir.join(name.trim());
        if std::fs::symlink_metadata(&path).is_err() {
            return Ok(None);
        }
        let outside = || {
            Error::invalid(format!(
                "CSV file `{name}` is outside the CSV folder and was not read"
            ))
        };
        let dir = std::fs::canonicalize(dir).map_err(|_| outside())?;
        let real = std::fs::canonicalize(&path).map_err(|_| outside())?;
        if !real.starts_with(&dir) {
            return Err(outside());
        }
        let meta = std::fs::metadata(&real).map_err(|_| outside())?;
        if !meta.is_file() {
            return Err(Error::invalid(format!(
                "CSV file `{name}` is not a regular file and was not read"
            )));
        }
        if meta.len() > MAX_CSV_BYTES {
            return Err(too_big(name));
        }
        Ok(Some(real))
    }

    async fn symbols_from_csv(&self, name: &str) -> Result<Vec<String>> {
        if let Some(path) = self.find_csv(name)? {
            let text = read_csv_capped(&path, name).await?;
            let members = universe::parse_members(&text);
            if members.is_empty() {
                return Err(Error::invalid(format!(
                    "CSV file `{name}` lists no symbols"
                )));
            }
            // Report bad rows by count and position only: the file may hold anything.
            let bad: Vec<usize> = members
                .iter()
                .enumerate()
                .filter(|(_, m)| crate::job::check_ticker(m).is_err())
                .map(|(i, _)| i + 1)
                .collect();
            if let Some(first) = bad.first() {
                return Err(Error::invalid(format!(
                    "CSV file `{name}` has {} entries that are not valid tickers (the first is entry {first}); it was not loaded",
                    bad.len()
                )));
            }
            return Ok(members);
        }
        // TickStock names its universe files after the universe (`sp_500.csv`).
        let stem = Path::new(name)
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or(name);
        if let Some(members) = self.store.universe_members(stem).await? {
            return Ok(members);
        }
        Err(Error::invalid(format!(
            "CSV file `{name}` not found{}",
            if self.cfg.csv_dir.is_some() {
                " in the CSV folder"
            } else {
                " (no CSV folder is configured: --csv-dir or TICKSTOCK_CSV_DIR)"
            }
        )))
    }

    /// Rebuilds the ETF universe from Polygon's reference tickers (type ETF, active).
    async fn refresh_etfs(&self, ctx: &JobContext) -> Result<Vec<String>> {
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
    ) -> Result<Vec<String>> {
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
        normalize_symbols(&raw).map_err(|e| Error::invalid(e.message))
    }

    async fn run_job(&self, job: &Job, ctx: &JobContext) -> Result<()> {
        let p = ctx.progress();
        p.set_message("Resolving symbols");
        let symbols = self.resolve_symbols(job, Some(ctx)).await?;
        let include_ohlcv = !matches!(
            job.spec,
            JobSpec::CsvUniverse {
                include_ohlcv: false,
                ..
            }
        );
        let timeframes = job.spec.timeframes();
        let (from, to) = job.spec.range().resolve(Utc::now().date_naive());
        if !include_ohlcv {
            p.set_plan(symbols.len() as u64, 0, 0);
            for s in &symbols {
                p.symbol_ok(s);
            }
            p.set_message(format!(
                "Resolved {} symbols; include_ohlcv is false, so no bars were loaded",
                symbols.len()
            ));
            return Ok(());
        }

        let done = ctx.done_units().await?;
        if !done.is_empty() {
            // A resumed job counts what its earlier runs loaded too.
            p.add_records(ctx.done_rows().await?);
        }
        let mut pending: Vec<(String, Timeframe)> = Vec::new();
        let mut remaining: HashMap<String, usize> = HashMap::new();
        for s in &symbols {
            let mut left = 0;
            for tf in &timeframes {
                if !done.contains(&unit_key(s, *tf)) {
                    pending.push((s.clone(), *tf));
                    left += 1;
                }
            }
            remaining.insert(s.clone(), left);
        }
        let total_units = (symbols.len() * timeframes.len()) as u64;
        p.set_plan(
            symbols.len() as u64,
            total_units,
            total_units - pending.len() as u64,
        );
        for s in &symbols {
            if remaining[s] == 0 {
                p.symbol_ok(s);
            }
        }
        let loading = format!(
            "Loading {} symbols x {} timeframes, {from} to {to}",
            symbols.len(),
            timeframes.len()
        );
        p.set_message(loading.clone());
        p.flush().await?;
        // Says when the job waits for the plan's rate limit, and keeps a recent-window
        // rate and an ETA from the requests left, until the job ends.
        let _pace = PaceReporter::start(self.polygon.clone(), ctx.clone(), loading);

        let mut failures: HashMap<String, String> = HashMap::new();

        // Daily bars through grouped daily when that needs fewer requests.
        let day_pending: Vec<String> = pending
            .iter()
            .filter(|(_, tf)| *tf == Timeframe::Day)
            .map(|(s, _)| s.clone())
            .collect();
        let last_closed = calendar::last_closed_session(Utc::now(), FINAL_BAR_DELAY);
        let days = calendar::trading_days(from, to.min(last_closed));
        let limited = !self.polygon.rate_limiter().is_unlimited();
        let top_up = matches!(job.spec, JobSpec::TopUp { .. });
        if self.cfg.grouped_daily
            && !top_up
            && limited
            && !day_pending.is_empty()
            && days.len() < day_pending.len()
        {
            let done = self
                .clone()
                .load_grouped_daily(ctx.clone(), day_pending, days)
                .await?;
            for s in done {
                let left = remaining.get_mut(&s).expect("planned symbol");
                *left -= 1;
                if *left == 0 {
                    p.symbol_ok(&s);
                }
            }
            pending.retain(|(_, tf)| *tf != Timeframe::Day);
        }

        let plan = match &job.spec {
            JobSpec::TopUp { fill: true, .. } => UnitPlan::Fill,
            JobSpec::TopUp { fill: false, .. } => UnitPlan::TopUp,
            _ => UnitPlan::Range,
        };
        // Owned futures (nothing borrowed across the stream), run `concurrency` at a time.
        let units: Vec<_> = pending
            .into_iter()
            .map(|(symbol, tf)| {
                let this = self.clone();
                let ctx = ctx.clone();
                async move {
                    let r = match plan {
                        UnitPlan::Range => {
                            this.load_unit(&ctx, &symbol, tf, from, to, last_closed)
                                .await
                        }
                        UnitPlan::TopUp | UnitPlan::Fill => {
                            this.load_missing(&ctx, &symbol, tf, from, to, last_closed, plan)
                                .await
                        }
                    };
                    (symbol, tf, r)
                }
            })
            .collect();
        let results = stream::iter(units).buffer_unordered(self.cfg.concurrency.max(1));
        tokio::pin!(results);
        while let Some((symbol, tf, r)) = results.next().await {
            p.unit_settled(&unit_key(&symbol, tf));
            match r {
                Ok(UnitResult::Done(rows)) => {
                    ctx.mark_done_rows(&unit_key(&symbol, tf), rows).await?;
                    p.unit_done(0);
                }
                Ok(UnitResult::Failed(e)) if e.stops_the_job() => {
                    // A refused key or an unreachable Polygon fails every symbol alike:
                    // the job stops with that one reason instead of trying each.
                    warn!(symbol, timeframe = %tf, "stopping the job: {e}");
                    return Err(Error::from(e));
                }
                Ok(UnitResult::Failed(e)) => {
                    let reason = polygon_reason(&e);
                    warn!(symbol, timeframe = %tf, "{reason}");
                    failures
                        .entry(symbol.clone())
                        .or_insert_with(|| format!("{tf}: {reason}"));
                    p.unit_done(0);
                }
                Err(e) => return Err(e),
            }
            let left = remaining.get_mut(&symbol).expect("planned symbol");
            *left -= 1;
            if *left == 0 {
                match failures.get(&symbol) {
                    Some(reason) => p.symbol_failed(&symbol, reason),
                    None => p.symbol_ok(&symbol),
                }
            }
            p.publish().await?;
        }
        ctx.check()?;
        let loaded: Vec<String> = symbols
            .iter()
            .filter(|s| !failures.contains_key(*s))
            .cloned()
            .collect();
        self.register_symbols(ctx, &loaded).await?;
        Ok(())
    }

    /// Registers loaded symbols in `symbols` from Polygon's ticker details, as TickStock's
    /// loader does, when a row is missing or older than `symbol_refresh`. A details call
    /// that fails is logged and skipped: it never fails the bars already loaded.
    async fn register_symbols(&self, ctx: &JobContext, symbols: &[String]) -> Result<()> {
        let Some(max_age) = self.cfg.symbol_refresh else {
            return Ok(());
        };
        let stale = match self.store.symbols_to_refresh(symbols, max_age).await {
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

    /// One (symbol, timeframe): every page fetched and written as it arrives.
    async fn load_unit(
        &self,
        ctx: &JobContext,
        symbol: &str,
        tf: Timeframe,
        from: NaiveDate,
        to: NaiveDate,
        last_closed: NaiveDate,
    ) -> Result<UnitResult> {
        ctx.check()?;
        let p = ctx.progress();
        p.set_current(symbol);
        // A daily, weekly or monthly bar of a session still open is not final: not stored.
        let (to, unfinished) = if tf.is_dated() {
            final_dated_range(tf, to, last_closed)
        } else {
            (to, NaiveDate::MAX)
        };
        if to < from {
            return Ok(UnitResult::Done(0));
        }
        let mut pager = self.polygon.aggregates(symbol, tf, from, to);
        let mut rows = 0u64;
        loop {
            ctx.check()?;
            let page = ctx.unless_stopped(pager.next_page()).await?;
            match page {
                Ok(Some(mut bars)) => {
                    if tf.is_dated() {
                        bars.retain(|b| calendar::period_start(tf, b.ny_date()) < unfinished);
                    }
                    if bars.is_empty() {
                        continue;
                    }
                    self.store.write_bars(symbol, tf, &bars).await?;
                    rows += bars.len() as u64;
                    p.add_records(bars.len() as u64);
                    if let Some(last) = bars.last() {
                        p.unit_progress(
                            &unit_key(symbol, tf),
                            span_fraction(last.ny_date(), from, to),
                        );
                    }
                    p.publish().await?;
                }
                Ok(None) => break,
                Err(e) => return Ok(UnitResult::Failed(e)),
            }
        }
        debug!(symbol, timeframe = %tf, rows, "unit loaded");
        Ok(UnitResult::Done(rows))
    }

    /// A top-up or fill of one (symbol, timeframe): the ranges the stored bars lack, each
    /// loaded as [`Loader::load_unit`] loads a range.
    #[allow(clippy::too_many_arguments)]
    async fn load_missing(
        &self,
        ctx: &JobContext,
        symbol: &str,
        tf: Timeframe,
        from: NaiveDate,
        to: NaiveDate,
        last_closed: NaiveDate,
        plan: UnitPlan,
    ) -> Result<UnitResult> {
        // Up to the last closed session, whatever the timeframe.
        let to = to.min(last_closed);
        let ranges: Vec<(NaiveDate, NaiveDate)> = if plan == UnitPlan::Fill {
            crate::completeness::gaps(&self.store, symbol, tf, from, to, Utc::now())
                .await?
                .gaps
                .iter()
                .map(|g| {
                    // A gap of weeks or months is a run of period starts: load to its end.
                    let end = match tf {
                        Timeframe::Week => g.to + chrono::Duration::days(6),
                        Timeframe::Month => {
                            g.to.checked_add_months(chrono::Months::new(1))
                                .and_then(|d| d.pred_opt())
                                .unwrap_or(g.to)
                        }
                        _ => g.to,
                    };
                    (g.from, end.min(to))
                })
                .collect()
        } else {
            let symbols = [symbol.to_string()];
            let last = self
                .store
                .symbol_spans(tf, Some(&symbols))
                .await?
                .into_iter()
                .next()
                .and_then(|s| crate::completeness::key_date(&s.last));
            // The last stored session again (it may have been partial), then the rest.
            let start = last.map(|d| calendar::period_start(tf, d)).unwrap_or(from);
            vec![(start, to.max(start))]
        };
        let mut rows = 0;
        for (a, b) in ranges {
            match self.load_unit(ctx, symbol, tf, a, b, last_closed).await? {
                UnitResult::Done(n) => rows += n,
                failed => return Ok(failed),
            }
        }
        Ok(UnitResult::Done(rows))
    }

    /// Daily bars of `symbols` through grouped daily, one request per day in `days`.
    /// Writes each symbol's bars and checkpoints its day unit; returns the symbols done.
    async fn load_grouped_daily(
        self,
        ctx: JobContext,
        symbols: Vec<String>,
        days: Vec<NaiveDate>,
    ) -> Result<Vec<String>> {
        let p = ctx.progress().clone();
        let wanted: HashSet<String> = symbols.iter().cloned().collect();
        let mut bars: HashMap<String, Vec<Bar>> = HashMap::new();
        info!(
            days = days.len(),
            symbols = symbols.len(),
            "daily bars through grouped daily"
        );
        let n = days.len();
        for (i, day) in days.into_iter().enumerate() {
            ctx.check()?;
            p.set_message(format!("Grouped daily {day} ({}/{n})", i + 1));
            p.publish().await?;
            // A day that cannot be fetched (after the client's retries) fails the job:
            // every symbol of this path would be missing it.
            let fetched = ctx.unless_stopped(self.polygon.grouped_daily(day)).await?;
            let rows = match fetched {
                Ok(rows) => rows,
                Err(e) if e.stops_the_job() => return Err(Error::from(e)),
                Err(e) => {
                    return Err(Error::new(
                        ErrorKind::Polygon,
                        format!("grouped daily for {day}: {e}"),
                    ))
                }
            };
            for g in rows {
                if wanted.contains(&g.ticker) {
                    bars.entry(g.ticker).or_default().push(g.bar);
                }
            }
        }
        let mut done = Vec::with_capacity(symbols.len());
        for s in symbols {
            ctx.check()?;
            let list = bars.remove(&s).unwrap_or_default();
            if !list.is_empty() {
                self.store.write_bars(&s, Timeframe::Day, &list).await?;
            }
            ctx.mark_done_rows(&unit_key(&s, Timeframe::Day), list.len() as u64)
                .await?;
            p.add_records(list.len() as u64);
            p.unit_done(0);
            done.push(s);
        }
        p.publish().await?;
        Ok(done)
    }
}

/// While a job runs: every second, the bars/s of the last minute (`bars_per_second`),
/// an ETA (`eta_seconds`) and, while a request waits for the plan's rate limit, a message
/// that says so ("waiting for the Polygon rate limit (5/min), next request in 23 s"). On a
/// limited plan the ETA is the requests left (at least one per unit) at the plan's rate;
/// otherwise it is the units left at the recent pace of units.
struct PaceReporter {
    _stop: tokio_util::sync::DropGuard,
}

/// The window over which the shown rate is measured.
const RATE_WINDOW: Duration = Duration::from_secs(60);

impl PaceReporter {
    fn start(polygon: PolygonClient, ctx: JobContext, loading: String) -> PaceReporter {
        let stop = tokio_util::sync::CancellationToken::new();
        let guard = stop.clone().drop_guard();
        tokio::spawn(async move {
            let p = ctx.progress().clone();
            let limiter = polygon.rate_limiter();
            let mut samples: std::collections::VecDeque<(std::time::Instant, u64, u64)> =
                std::collections::VecDeque::new();
            let mut waiting_shown = false;
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            loop {
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = tick.tick() => {}
                }
                let now = std::time::Instant::now();
                let snap = p.snapshot();
                let bars = snap.ohlcv_records_loaded.unwrap_or(0);
                let left = p.units_left();
                samples.push_back((now, bars, left));
                while samples
                    .front()
                    .is_some_and(|(t, ..)| now.duration_since(*t) > RATE_WINDOW)
                {
                    samples.pop_front();
                }
                let (t0, bars0, left0) = samples[0];
                let span = now.duration_since(t0).as_secs_f64();
                let rate = (span >= 1.0).then(|| bars.saturating_sub(bars0) as f64 / span);
                let wait = limiter
                    .waiting_for()
                    .filter(|w| *w >= Duration::from_secs(1));
                let eta = if limiter.is_unlimited() {
                    let units_rate =
                        (span >= 1.0).then(|| left0.saturating_sub(left) as f64 / span);
                    units_rate.filter(|r| *r > 0.0).map(|r| left as f64 / r)
                } else {
                    let per_request =
                        limiter.window().as_secs_f64() / f64::from(limiter.limit().max(1));
                    let next = wait.map(|w| w.as_secs_f64()).unwrap_or(0.0);
                    Some(next + left.saturating_sub(1) as f64 * per_request)
                };
                p.update(|s| {
                    match rate {
                        Some(r) => s
                            .extra
                            .insert("bars_per_second".into(), ((r * 10.0).round() / 10.0).into()),
                        None => s.extra.remove("bars_per_second"),
                    };
                    match eta.filter(|_| left > 0) {
                        Some(e) => s.extra.insert("eta_seconds".into(), e.round().into()),
                        None => s.extra.remove("eta_seconds"),
                    };
                    match wait {
                        Some(w) => {
                            s.extra.insert("rate_limited".into(), true.into());
                            s.message = Some(format!(
                                "waiting for the Polygon rate limit ({}), next request in {} s",
                                limiter.describe(),
                                w.as_secs_f64().ceil() as u64
                            ));
                        }
                        None => {
                            s.extra.remove("rate_limited");
                            if waiting_shown {
                                s.message = Some(loading.clone());
                            }
                        }
                    }
                });
                waiting_shown = wait.is_some();
                let _ = p.publish().await;
            }
        });
        PaceReporter { _stop: guard }
    }
}

enum UnitResult {
    Done(u64),
    Failed(PolygonError),
}

/// What one (symbol, timeframe) of a job loads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum UnitPlan {
    /// The job's whole range.
    Range,
    /// From the last stored bar's session to the last closed one (the range's start for a
    /// symbol with no bars yet).
    TopUp,
    /// Only the sessions of the range with no bar, one request per run of them.
    Fill,
}

#[async_trait]
impl JobRunner for Loader {
    async fn run(&self, job: &Job, ctx: &JobContext) -> Result<()> {
        self.run_job(job, ctx).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn unit_keys_name_symbol_and_timeframe() {
        assert_eq!(unit_key("AAPL", Timeframe::Minute), "AAPL|1min");
    }

    #[test]
    fn only_closed_periods_are_final() {
        // Last closed session Wednesday 2025-11-26 (Thanksgiving follows).
        let last = d("2025-11-26");
        assert_eq!(
            final_dated_range(Timeframe::Day, d("2025-12-31"), last),
            (last, d("2025-11-28"))
        );
        // The week of Nov 24 is not over (Friday Nov 28 still trades): not final.
        assert_eq!(
            final_dated_range(Timeframe::Week, d("2025-12-31"), last).1,
            d("2025-11-24")
        );
        // A month is final once its last session closed: Friday 2025-10-31.
        assert_eq!(
            final_dated_range(Timeframe::Month, d("2025-12-31"), d("2025-10-31")).1,
            d("2025-11-01")
        );
        // A range that ended before is untouched.
        assert_eq!(
            final_dated_range(Timeframe::Day, d("2024-12-31"), last).0,
            d("2024-12-31")
        );
    }
}
