//! `tickstock gaps`: missing trading days against the NYSE calendar.

use std::process::ExitCode;

use clap::Args;
use tickstock_protocol::{Error, Result};

use crate::data::{parse_symbols, parse_timeframes, DataArgs, RangeArgs};
use crate::{output, Global};

#[derive(Args)]
pub struct GapsArgs {
    #[command(flatten)]
    pub data: DataArgs,
    /// Comma-separated tickers.
    #[arg(long, value_delimiter = ',', required = true)]
    pub symbols: Vec<String>,
    /// Comma-separated: 1min, hour, day, week, month.
    #[arg(long, value_delimiter = ',', default_value = "day")]
    pub timeframes: Vec<String>,
    #[command(flatten)]
    pub range: RangeArgs,
    #[arg(long)]
    pub json: bool,
}

/// Missing sessions against the NYSE calendar, and the import check's rating.
pub async fn gaps(g: &Global, a: &GapsArgs) -> Result<ExitCode> {
    let tfs = parse_timeframes(&a.timeframes)?;
    let symbols = parse_symbols(&a.symbols)?;
    let today = chrono::Utc::now().date_naive();
    let date = |s: &Option<String>, what: &str| -> Result<Option<chrono::NaiveDate>> {
        s.as_deref()
            .map(|v| {
                chrono::NaiveDate::parse_from_str(v.trim(), "%Y-%m-%d").map_err(|_| {
                    Error::invalid(format!(
                        "--{what} `{}` is not a date (YYYY-MM-DD)",
                        v.trim()
                    ))
                })
            })
            .transpose()
    };
    let to = date(&a.range.to, "to")?.unwrap_or(today);
    let from = match date(&a.range.from, "from")? {
        Some(f) => f,
        None => to - chrono::Duration::days((a.range.years.unwrap_or(1.0) * 365.0).round() as i64),
    };
    if from > to {
        return Err(Error::invalid(format!("--from {from} is after --to {to}")));
    }
    let store = a.data.read_store(g).await?;
    let mut reports = Vec::new();
    for s in &symbols {
        for tf in &tfs {
            reports.push(
                tickstock_jobs::reads::completeness::gaps(
                    &store,
                    s,
                    *tf,
                    from,
                    to,
                    chrono::Utc::now(),
                )
                .await?,
            );
        }
    }
    if a.json {
        output::json(&reports);
        return Ok(ExitCode::SUCCESS);
    }
    for r in &reports {
        println!(
            "{} {} {}..{}: {} of {} bars ({:.1}%, {}), {} gap{}{}",
            r.symbol,
            r.timeframe.wire_name(),
            r.from,
            r.to,
            r.bars,
            r.expected,
            r.completeness * 100.0,
            r.rating,
            r.gaps.len(),
            if r.gaps.len() == 1 { "" } else { "s" },
            if r.partial_sessions.is_empty() {
                String::new()
            } else {
                format!(", {} partial sessions", r.partial_sessions.len())
            }
        );
        for gap in &r.gaps {
            if gap.from == gap.to {
                println!("  missing {}", gap.from);
            } else {
                println!(
                    "  missing {} .. {} ({} sessions)",
                    gap.from, gap.to, gap.sessions
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
