//! A job as a plan of units, one per (symbol, timeframe): symbols resolved, units already
//! checkpointed skipped, daily bars through grouped daily when that needs fewer requests,
//! the rest run `concurrency` at a time; a symbol whose requests fail is recorded with its
//! reason, a refused key or an unreachable Polygon stops the job.

use std::collections::HashMap;

use chrono::Utc;
use futures_util::stream::{self, StreamExt};
use tracing::warn;

use super::pace::PaceReporter;
use super::units::{holds_final_bar, no_bars_reason, UnitPlan, UnitResult, FINAL_BAR_DELAY};
use super::Loader;
use crate::exec::JobContext;
use crate::polygon::PolygonError;
use tickstock_protocol::calendar;
use tickstock_protocol::error::{Error, Result};
use tickstock_protocol::job::{Job, JobSpec};
use tickstock_protocol::status::figures;
use tickstock_protocol::timeframe::Timeframe;
use tickstock_protocol::unit::{Ticker, Unit};

fn polygon_reason(e: &PolygonError) -> String {
    e.to_string()
}

impl Loader {
    pub(super) async fn load_job(&self, job: &Job, ctx: &JobContext) -> Result<()> {
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
                "Resolved {}; include_ohlcv is false, so no bars were loaded",
                crate::exec::count(symbols.len() as u64, "symbol")
            ));
            return Ok(());
        }

        let done = ctx.done_units().await?;
        if !done.is_empty() {
            // A resumed job counts what its earlier runs loaded too.
            p.add_records(ctx.done_rows().await?);
        }
        let mut pending: Vec<Unit> = Vec::new();
        let mut remaining: HashMap<Ticker, usize> = HashMap::new();
        for s in &symbols {
            let mut left = 0;
            for tf in &timeframes {
                let unit = Unit::new(s.clone(), *tf);
                if !done.contains(&unit) {
                    pending.push(unit);
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
            "Loading {} x {}, {from} to {to}",
            crate::exec::count(symbols.len() as u64, "symbol"),
            crate::exec::count(timeframes.len() as u64, "timeframe")
        );
        // The requests the units left will make, as `tickstock submit --estimate` counts
        // them (a resumed job's done units need none): the ETA counts down from it and the
        // job's detail compares it with the requests made.
        let rpm = self.polygon.rate_limiter().limit();
        let est = crate::loader::estimate::estimate(
            job,
            symbols.len(),
            rpm,
            self.cfg.grouped_daily,
            Utc::now().date_naive(),
        );
        let estimated = (est.requests * pending.len() as u64)
            .checked_div(total_units)
            .unwrap_or(0);
        // At the plan's rate as the limiter keeps it (its window holds the margin).
        let window = self.polygon.rate_limiter().window().as_secs_f64();
        let seconds = (rpm > 0).then(|| (estimated as f64 * window / f64::from(rpm)).ceil() as u64);
        p.update(|s| {
            s.extra
                .insert(figures::POLYGON_REQUESTS_ESTIMATED.into(), estimated.into());
            match seconds {
                Some(secs) => s
                    .extra
                    .insert(figures::SECONDS_ESTIMATED.into(), secs.into()),
                None => s.extra.remove(figures::SECONDS_ESTIMATED),
            };
        });
        p.set_message(loading.clone());
        p.flush().await?;
        // Says when the job waits for the plan's rate limit, and keeps a recent-window
        // rate and an ETA from the requests left, until the job ends.
        let _pace = PaceReporter::start(self.polygon.clone(), ctx.clone(), loading, estimated);

        let mut failures: HashMap<Ticker, String> = HashMap::new();

        // Daily bars through grouped daily when that needs fewer requests.
        let day_pending: Vec<Ticker> = pending
            .iter()
            .filter(|u| u.timeframe == Timeframe::Day)
            .map(|u| u.symbol.clone())
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
            let (done, absent) = self
                .clone()
                .load_grouped_daily(ctx.clone(), day_pending, days)
                .await?;
            // Symbols no grouped response named keep their day unit: one aggregates
            // request each confirms whether they have bars at all.
            pending.retain(|u| u.timeframe != Timeframe::Day || absent.contains(&u.symbol));
            for s in done {
                let left = remaining.get_mut(&s).expect("planned symbol");
                *left -= 1;
                if *left == 0 {
                    p.symbol_ok(&s);
                }
            }
        }

        let plan = match &job.spec {
            JobSpec::TopUp { fill: true, .. } => UnitPlan::Fill,
            JobSpec::TopUp { fill: false, .. } => UnitPlan::TopUp,
            _ => UnitPlan::Range,
        };
        // Owned futures (nothing borrowed across the stream), run `concurrency` at a time,
        // in a context the loop below stops when one of them ends the job.
        let (units_ctx, stop_units) = ctx.stoppable();
        let units: Vec<_> = pending
            .into_iter()
            .map(|unit| {
                let this = self.clone();
                let ctx = units_ctx.clone();
                async move {
                    let r = match plan {
                        UnitPlan::Range => this.load_unit(&ctx, &unit, from, to, last_closed).await,
                        UnitPlan::TopUp | UnitPlan::Fill => {
                            this.load_missing(&ctx, &unit, from, to, last_closed, plan)
                                .await
                        }
                    };
                    (unit, r)
                }
            })
            .collect();
        let results = stream::iter(units).buffer_unordered(self.cfg.concurrency.max(1));
        tokio::pin!(results);
        // What ends the job early. The units in flight are stopped and waited for, never
        // dropped: a page being written commits or not as a whole and is counted when it
        // does, so the bars the job reports are the rows it committed.
        let mut fatal: Option<Error> = None;
        while let Some((unit, r)) = results.next().await {
            if fatal.is_some() {
                continue;
            }
            let settled: Result<()> = async {
                p.unit_settled(&unit);
                let (symbol, tf) = (&unit.symbol, unit.timeframe);
                match r {
                    Ok(UnitResult::Done(0))
                        if plan == UnitPlan::Range
                            && holds_final_bar(tf, from, to, last_closed) =>
                    {
                        // Nothing silent: a symbol with no bars where sessions closed is named.
                        let reason = no_bars_reason(symbol, from, to);
                        warn!(%symbol, timeframe = %tf, "{reason}");
                        failures
                            .entry(symbol.clone())
                            .or_insert_with(|| format!("{tf}: {reason}"));
                        p.unit_done(0);
                    }
                    Ok(UnitResult::Done(rows)) => {
                        ctx.mark_done_rows(&unit, rows).await?;
                        p.unit_done(0);
                    }
                    Ok(UnitResult::Failed(e)) if e.stops_the_job() => {
                        // A refused key or an unreachable Polygon fails every symbol alike:
                        // the job stops with that one reason instead of trying each.
                        warn!(%symbol, timeframe = %tf, "stopping the job: {e}");
                        return Err(Error::from(e));
                    }
                    Ok(UnitResult::Failed(e)) => {
                        let reason = polygon_reason(&e);
                        warn!(%symbol, timeframe = %tf, "{reason}");
                        failures
                            .entry(symbol.clone())
                            .or_insert_with(|| format!("{tf}: {reason}"));
                        p.unit_done(0);
                    }
                    Err(e) => return Err(e),
                }
                let left = remaining.get_mut(symbol).expect("planned symbol");
                *left -= 1;
                if *left == 0 {
                    match failures.get(symbol) {
                        Some(reason) => p.symbol_failed(symbol, reason),
                        None => p.symbol_ok(symbol),
                    }
                }
                p.publish().await
            }
            .await;
            if let Err(e) = settled {
                fatal = Some(e);
                stop_units.cancel();
            }
        }
        if let Some(e) = fatal {
            return Err(e);
        }
        ctx.check()?;
        let loaded: Vec<Ticker> = symbols
            .iter()
            .filter(|s| !failures.contains_key(*s))
            .cloned()
            .collect();
        let reg = self.register_symbols(ctx, &loaded).await?;
        if reg.left_to_describe > 0 {
            p.update(|s| {
                s.extra
                    .insert("symbols_to_describe".into(), reg.left_to_describe.into());
            });
        }
        Ok(())
    }
}
