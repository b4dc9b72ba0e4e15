//! `tickstock calendar`: the coming NYSE holidays and early closes of our calendar, and with
//! `--check` every day on which Polygon's `/v1/marketstatus/upcoming` disagrees.

use std::process::ExitCode;

use chrono::Duration;
use clap::Args;
use serde::Serialize;
use tickstock_jobs::reads::calendar_check::{self, Disagreement, MarketDay};
use tickstock_protocol::Result;

use crate::data::DataArgs;
use crate::{output, Global};

#[derive(Args)]
pub struct CalendarArgs {
    #[command(flatten)]
    pub data: DataArgs,
    /// Compare with Polygon's upcoming market holidays (needs the API key); exit code 3
    /// when they disagree on any day.
    #[arg(long)]
    pub check: bool,
    /// How many days ahead to list.
    #[arg(long, default_value_t = 365)]
    pub days: u32,
    #[arg(long)]
    pub json: bool,
}

/// What `calendar --check --json` prints.
#[derive(Serialize)]
struct Checked {
    days: Vec<MarketDay>,
    disagreements: Vec<Disagreement>,
}

pub async fn calendar_cmd(_g: &Global, a: &CalendarArgs) -> Result<ExitCode> {
    let today = tickstock_protocol::bars::ny_date(chrono::Utc::now().timestamp_millis());
    let days = calendar_check::market_days(today, today + Duration::days(i64::from(a.days)));
    let disagreements = if a.check {
        let polygon = a.data.polygon()?;
        let theirs = polygon.upcoming_market_holidays().await?;
        Some(calendar_check::compare(today, &theirs))
    } else {
        None
    };
    let code = match &disagreements {
        Some(list) if !list.is_empty() => ExitCode::from(3),
        _ => ExitCode::SUCCESS,
    };
    if a.json {
        match disagreements {
            Some(disagreements) => output::json(&Checked {
                days,
                disagreements,
            }),
            None => output::json(&days),
        }
        return Ok(code);
    }
    println!(
        "{:<10} {:<3} {:<12} {:<6} NAME",
        "DATE", "DAY", "STATUS", "CLOSE"
    );
    for d in &days {
        println!(
            "{:<10} {:<3} {:<12} {:<6} {}",
            d.date,
            d.date.format("%a"),
            d.status,
            d.close.as_deref().unwrap_or("-"),
            d.name
        );
    }
    if let Some(list) = disagreements {
        if list.is_empty() {
            println!("Polygon agrees on every listed day");
        } else {
            println!("{} disagreement(s) with Polygon:", list.len());
            for x in &list {
                println!("  {}: {}", x.date, x.message);
            }
        }
    }
    Ok(code)
}
