//! One unit, a (symbol, timeframe): every page of a range fetched and written as it
//! arrives, only final dated bars kept; a top-up or fill loads just the ranges the stored
//! bars lack.

use chrono::{NaiveDate, Utc};
use tracing::debug;

use super::Loader;
use crate::exec::JobContext;
use crate::polygon::PolygonError;
use tickstock_protocol::calendar;
use tickstock_protocol::error::Result;
use tickstock_protocol::timeframe::Timeframe;
use tickstock_protocol::unit::Unit;

pub use tickstock_protocol::calendar::FINAL_BAR_DELAY;

pub(super) enum UnitResult {
    Done(u64),
    Failed(PolygonError),
}

/// What one (symbol, timeframe) of a job loads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum UnitPlan {
    /// The job's whole range.
    Range,
    /// From the last stored bar's session to the last closed one (the range's start for a
    /// symbol with no bars yet).
    TopUp,
    /// Only the sessions of the range with no bar, one request per run of them.
    Fill,
}

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

/// Whether `[from, to]` holds a closed session whose `tf` bar is final, so a symbol that
/// trades must have at least one bar there: a load that stores none says so.
pub(super) fn holds_final_bar(
    tf: Timeframe,
    from: NaiveDate,
    to: NaiveDate,
    last_closed: NaiveDate,
) -> bool {
    let (to, unfinished) = if tf.is_dated() {
        final_dated_range(tf, to, last_closed)
    } else {
        (to.min(last_closed), NaiveDate::MAX)
    };
    to >= from
        && calendar::trading_days(from, to)
            .into_iter()
            .any(|d| calendar::period_start(tf, d) < unfinished)
}

/// What a symbol that ends a load with no bars in its range is recorded with.
pub(super) fn no_bars_reason(symbol: &str, from: NaiveDate, to: NaiveDate) -> String {
    format!("no bars from Polygon for {symbol} in {from}..{to}")
}

/// How far `date` is through `[from, to]`, 0 to 1.
fn span_fraction(date: NaiveDate, from: NaiveDate, to: NaiveDate) -> f64 {
    let total = (to - from).num_days().max(1) as f64;
    ((date - from).num_days() as f64 / total).clamp(0.0, 1.0)
}

impl Loader {
    /// One unit: every page fetched and written as it arrives.
    pub(super) async fn load_unit(
        &self,
        ctx: &JobContext,
        unit: &Unit,
        from: NaiveDate,
        to: NaiveDate,
        last_closed: NaiveDate,
    ) -> Result<UnitResult> {
        ctx.check()?;
        let (symbol, tf) = (unit.symbol.as_str(), unit.timeframe);
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
                        p.unit_progress(unit, span_fraction(last.ny_date(), from, to));
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

    /// A top-up or fill of one unit: the ranges the stored bars lack, each loaded as
    /// [`Loader::load_unit`] loads a range.
    pub(super) async fn load_missing(
        &self,
        ctx: &JobContext,
        unit: &Unit,
        from: NaiveDate,
        to: NaiveDate,
        last_closed: NaiveDate,
        plan: UnitPlan,
    ) -> Result<UnitResult> {
        // Up to the last closed session, whatever the timeframe.
        let to = to.min(last_closed);
        let (symbol, tf) = (unit.symbol.as_str(), unit.timeframe);
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
            match self.load_unit(ctx, unit, a, b, last_closed).await? {
                UnitResult::Done(n) => rows += n,
                failed => return Ok(failed),
            }
        }
        Ok(UnitResult::Done(rows))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn a_range_needs_a_final_bar_before_empty_means_missing() {
        let last = d("2025-11-26");
        assert!(holds_final_bar(
            Timeframe::Day,
            d("2025-11-24"),
            d("2025-11-30"),
            last
        ));
        // Thanksgiving and the Friday after are not closed sessions yet, or not at all.
        assert!(!holds_final_bar(
            Timeframe::Day,
            d("2025-11-27"),
            d("2025-11-30"),
            last
        ));
        assert!(!holds_final_bar(
            Timeframe::Day,
            d("2025-11-29"),
            d("2025-11-30"),
            d("2025-11-28")
        ));
        // The week of Nov 24 is not final yet; the week before is.
        assert!(!holds_final_bar(
            Timeframe::Week,
            d("2025-11-24"),
            d("2025-11-26"),
            last
        ));
        assert!(holds_final_bar(
            Timeframe::Week,
            d("2025-11-17"),
            d("2025-11-26"),
            last
        ));
        assert!(holds_final_bar(
            Timeframe::Minute,
            d("2025-11-26"),
            d("2025-11-26"),
            last
        ));
        assert!(!holds_final_bar(
            Timeframe::Minute,
            d("2025-12-01"),
            d("2025-12-02"),
            last
        ));
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
