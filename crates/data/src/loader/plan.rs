//! A job as a plan of units, one per (symbol, timeframe): symbols resolved, units already
//! checkpointed skipped, daily bars through grouped daily when that needs fewer requests,
//! the rest run `concurrency` at a time; a symbol whose requests fail is recorded with its
//! reason, a refused key or an unreachable Polygon stops the job.

use std::collections::HashMap;

use chrono::{NaiveDate, Utc};
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

/// What a job loads: its symbols and timeframes over its range, the units no earlier run
/// checkpointed and, per symbol, how many of its units are still to settle and the first
/// reason one of them failed.
struct JobPlan {
    symbols: Vec<Ticker>,
    timeframes: Vec<Timeframe>,
    from: NaiveDate,
    to: NaiveDate,
    pending: Vec<Unit>,
    remaining: HashMap<Ticker, usize>,
    failures: HashMap<Ticker, String>,
}

impl JobPlan {
    /// Every unit of the job, done or not.
    fn total_units(&self) -> u64 {
        (self.symbols.len() * self.timeframes.len()) as u64
    }

    /// One unit's result counted: its checkpoint, its failure, its symbol's status once
    /// all of the symbol's units are settled, and the progress published. An error ends
    /// the job.
    async fn settle(
        &mut self,
        ctx: &JobContext,
        unit_plan: UnitPlan,
        last_closed: NaiveDate,
        unit: &Unit,
        r: Result<UnitResult>,
    ) -> Result<()> {
        let p = ctx.progress();
        let (from, to) = (self.from, self.to);
        p.unit_settled(unit);
        let (symbol, tf) = (&unit.symbol, unit.timeframe);
        match r {
            Ok(UnitResult::Done(0))
                if unit_plan == UnitPlan::Range && holds_final_bar(tf, from, to, last_closed) =>
            {
                // Nothing silent: a symbol with no bars where sessions closed is named.
                let reason = no_bars_reason(symbol, from, to);
                warn!(%symbol, timeframe = %tf, "{reason}");
                self.failures
                    .entry(symbol.clone())
                    .or_insert_with(|| format!("{tf}: {reason}"));
                p.unit_done(0);
            }
            Ok(UnitResult::Done(rows)) => {
                ctx.mark_done_rows(unit, rows).await?;
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
                self.failures
                    .entry(symbol.clone())
                    .or_insert_with(|| format!("{tf}: {reason}"));
                p.unit_done(0);
            }
            Err(e) => return Err(e),
        }
        let left = self.remaining.get_mut(symbol).expect("planned symbol");
        *left -= 1;
        if *left == 0 {
            match self.failures.get(symbol) {
                Some(reason) => p.symbol_failed(symbol, reason),
                None => p.symbol_ok(symbol),
            }
        }
        p.publish().await
    }
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

        let mut plan = plan_units(ctx, symbols, timeframes, from, to).await?;
        // Says when the job waits for the plan's rate limit, and keeps a recent-window
        // rate and an ETA from the requests left, until the job ends.
        let _pace = self.start_pace(job, ctx, &plan).await?;
        let last_closed = calendar::last_closed_session(Utc::now(), FINAL_BAR_DELAY);
        self.load_grouped_days(job, ctx, &mut plan, last_closed)
            .await?;
        self.load_units(job, ctx, &mut plan, last_closed).await?;
        self.finish(ctx, &plan).await
    }

    /// Daily bars through grouped daily when that needs fewer requests.
    async fn load_grouped_days(
        &self,
        job: &Job,
        ctx: &JobContext,
        plan: &mut JobPlan,
        last_closed: NaiveDate,
    ) -> Result<()> {
        let p = ctx.progress();
        let day_pending: Vec<Ticker> = plan
            .pending
            .iter()
            .filter(|u| u.timeframe == Timeframe::Day)
            .map(|u| u.symbol.clone())
            .collect();
        let days = calendar::trading_days(plan.from, plan.to.min(last_closed));
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
            plan.pending
                .retain(|u| u.timeframe != Timeframe::Day || absent.contains(&u.symbol));
            for s in done {
                let left = plan.remaining.get_mut(&s).expect("planned symbol");
                *left -= 1;
                if *left == 0 {
                    p.symbol_ok(&s);
                }
            }
        }
        Ok(())
    }

    /// Publishes the requests and seconds the units left are estimated to take, and starts
    /// the job's pace reporter from them.
    async fn start_pace(
        &self,
        job: &Job,
        ctx: &JobContext,
        plan: &JobPlan,
    ) -> Result<PaceReporter> {
        let p = ctx.progress();
        let total_units = plan.total_units();
        let (from, to) = (plan.from, plan.to);
        let loading = format!(
            "Loading {} x {}, {from} to {to}",
            crate::exec::count(plan.symbols.len() as u64, "symbol"),
            crate::exec::count(plan.timeframes.len() as u64, "timeframe")
        );
        // The requests the units left will make, as `tickstock submit --estimate` counts
        // them (a resumed job's done units need none): the ETA counts down from it and the
        // job's detail compares it with the requests made.
        let rpm = self.polygon.rate_limiter().limit();
        let est = crate::loader::estimate::estimate(
            job,
            plan.symbols.len(),
            rpm,
            self.cfg.grouped_daily,
            Utc::now().date_naive(),
        );
        let estimated = (est.requests * plan.pending.len() as u64)
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
        Ok(PaceReporter::start(
            self.polygon.clone(),
            ctx.clone(),
            loading,
            estimated,
        ))
    }

    /// The units left, run `concurrency` at a time, each settled as it ends.
    async fn load_units(
        &self,
        job: &Job,
        ctx: &JobContext,
        plan: &mut JobPlan,
        last_closed: NaiveDate,
    ) -> Result<()> {
        let unit_plan = match &job.spec {
            JobSpec::TopUp { fill: true, .. } => UnitPlan::Fill,
            JobSpec::TopUp { fill: false, .. } => UnitPlan::TopUp,
            _ => UnitPlan::Range,
        };
        let (from, to) = (plan.from, plan.to);
        // Owned futures (nothing borrowed across the stream), run `concurrency` at a time,
        // in a context the loop below stops when one of them ends the job.
        let (units_ctx, stop_units) = ctx.stoppable();
        let units: Vec<_> = std::mem::take(&mut plan.pending)
            .into_iter()
            .map(|unit| {
                let this = self.clone();
                let ctx = units_ctx.clone();
                async move {
                    let r = match unit_plan {
                        UnitPlan::Range => this.load_unit(&ctx, &unit, from, to, last_closed).await,
                        UnitPlan::TopUp | UnitPlan::Fill => {
                            this.load_missing(&ctx, &unit, from, to, last_closed, unit_plan)
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
            let settled = plan.settle(ctx, unit_plan, last_closed, &unit, r).await;
            if let Err(e) = settled {
                fatal = Some(e);
                stop_units.cancel();
            }
        }
        match fatal {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Once every unit is settled: the symbols that loaded registered, and how many of
    /// them are still to describe.
    async fn finish(&self, ctx: &JobContext, plan: &JobPlan) -> Result<()> {
        ctx.check()?;
        let loaded: Vec<Ticker> = plan
            .symbols
            .iter()
            .filter(|s| !plan.failures.contains_key(*s))
            .cloned()
            .collect();
        let reg = self.register_symbols(ctx, &loaded).await?;
        if reg.left_to_describe > 0 {
            ctx.progress().update(|s| {
                s.extra
                    .insert("symbols_to_describe".into(), reg.left_to_describe.into());
            });
        }
        Ok(())
    }
}

/// The units of `symbols` x `timeframes` no earlier run checkpointed, with the plan and
/// the symbols already whole published.
async fn plan_units(
    ctx: &JobContext,
    symbols: Vec<Ticker>,
    timeframes: Vec<Timeframe>,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<JobPlan> {
    let p = ctx.progress();
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
    let plan = JobPlan {
        symbols,
        timeframes,
        from,
        to,
        pending,
        remaining,
        failures: HashMap::new(),
    };
    let total_units = plan.total_units();
    p.set_plan(
        plan.symbols.len() as u64,
        total_units,
        total_units - plan.pending.len() as u64,
    );
    for s in &plan.symbols {
        if plan.remaining[s] == 0 {
            p.symbol_ok(s);
        }
    }
    Ok(plan)
}
