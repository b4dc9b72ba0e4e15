//! Daily bars of many symbols through grouped daily: one request per trading day instead
//! of one per symbol, each symbol's bars written and its day unit checkpointed. A symbol
//! that is in no grouped response (delisted, renamed, a typo) is handed back: one
//! aggregates request of its own confirms it has no bars before the job says so.

use std::collections::{HashMap, HashSet};

use chrono::NaiveDate;
use tracing::info;

use super::Loader;
use crate::exec::JobContext;
use tickstock_protocol::error::{Error, ErrorKind, Result};
use tickstock_protocol::timeframe::Timeframe;
use tickstock_protocol::unit::{Ticker, Unit};
use tickstock_protocol::Bar;

impl Loader {
    /// Daily bars of `symbols` through grouped daily, one request per day in `days`.
    /// Writes each symbol's bars and checkpoints its day unit; returns the symbols done
    /// and those no response named (left pending, for a request of their own).
    pub(super) async fn load_grouped_daily(
        self,
        ctx: JobContext,
        symbols: Vec<Ticker>,
        days: Vec<NaiveDate>,
    ) -> Result<(Vec<Ticker>, Vec<Ticker>)> {
        let p = ctx.progress().clone();
        let wanted: HashSet<Ticker> = symbols.iter().cloned().collect();
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
                if wanted.contains(g.ticker.as_str()) {
                    bars.entry(g.ticker).or_default().push(g.bar);
                }
            }
        }
        let mut done = Vec::with_capacity(symbols.len());
        let mut absent = Vec::new();
        for s in symbols {
            ctx.check()?;
            let list = bars.remove(s.as_str()).unwrap_or_default();
            if list.is_empty() {
                absent.push(s);
                continue;
            }
            self.store.write_bars(&s, Timeframe::Day, &list).await?;
            // Counted once committed, whatever happens to the checkpoint.
            p.add_records(list.len() as u64);
            let unit = Unit::new(s, Timeframe::Day);
            ctx.mark_done_rows(&unit, list.len() as u64).await?;
            p.unit_done(0);
            done.push(unit.symbol);
        }
        if !absent.is_empty() {
            info!(
                symbols = absent.len(),
                "in no grouped daily response: asking for each one's bars"
            );
        }
        p.publish().await?;
        Ok((done, absent))
    }
}
