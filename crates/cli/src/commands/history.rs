//! `tickstock history`: job history at scale: filters, search, pages, export.

use std::process::ExitCode;

use chrono::{NaiveDate, NaiveTime};
use clap::Args;
use tickstock_jobs::reads::history_query::{HistoryPosition, HistoryQuery};
use tickstock_protocol::text::count;
use tickstock_protocol::{Error, Result};

use crate::jobs::history_db;
use crate::{output, Global};

#[derive(Args)]
pub struct HistoryArgs {
    /// Job id prefix, symbol, universe key, status or kind word.
    #[arg(long)]
    pub search: Option<String>,
    #[arg(long)]
    pub status: Option<String>,
    /// A job type (historical_load, multi_timeframe_load, universe_seed, ...).
    #[arg(long)]
    pub kind: Option<String>,
    /// Jobs requested by this operator (`--requested-by` is who runs this command).
    #[arg(long)]
    pub by: Option<String>,
    /// Submitted on or after this date (YYYY-MM-DD, UTC).
    #[arg(long)]
    pub since: Option<String>,
    /// Submitted before this date (YYYY-MM-DD, UTC).
    #[arg(long)]
    pub until: Option<String>,
    /// submitted, duration or bars.
    #[arg(long, default_value = "submitted")]
    pub sort: String,
    /// Oldest (shortest, fewest) first.
    #[arg(long)]
    pub asc: bool,
    /// Page number, from 1.
    #[arg(long, conflicts_with_all = ["after", "before", "date"])]
    pub page: Option<u32>,
    #[arg(long, default_value_t = 50)]
    pub page_size: u32,
    /// The page after this cursor (printed as `next`).
    #[arg(long, conflicts_with_all = ["before", "date"])]
    pub after: Option<String>,
    /// The page before this cursor (printed as `prev`).
    #[arg(long, conflicts_with = "date")]
    pub before: Option<String>,
    /// The page where this date (YYYY-MM-DD) begins.
    #[arg(long)]
    pub date: Option<String>,
    #[arg(long)]
    pub json: bool,
}

fn date(s: &str, what: &str) -> Result<NaiveDate> {
    NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d").map_err(|_| {
        Error::invalid(format!(
            "{what} {} is not a date: use YYYY-MM-DD",
            tickstock_protocol::error::quote_input(s)
        ))
    })
}

pub async fn history(g: &Global, a: &HistoryArgs) -> Result<ExitCode> {
    let store = history_db(g).await?;
    let midnight = |d: NaiveDate| d.and_time(NaiveTime::MIN).and_utc();
    let at = if let Some(c) = &a.after {
        HistoryPosition::After(c.clone())
    } else if let Some(c) = &a.before {
        HistoryPosition::Before(c.clone())
    } else if let Some(d) = &a.date {
        HistoryPosition::Date(date(d, "--date")?)
    } else {
        match a.page {
            Some(0) => return Err(Error::invalid("--page counts from 1")),
            Some(n) => HistoryPosition::Page(n - 1),
            None => HistoryPosition::First,
        }
    };
    let q = HistoryQuery {
        search: a.search.clone(),
        status: a.status.clone(),
        kind: a.kind.clone(),
        requested_by: a.by.clone(),
        since: a
            .since
            .as_deref()
            .map(|d| date(d, "--since"))
            .transpose()?
            .map(midnight),
        until: a
            .until
            .as_deref()
            .map(|d| date(d, "--until"))
            .transpose()?
            .map(midnight),
        sort: a.sort.parse()?,
        ascending: a.asc,
        page_size: a.page_size,
        at,
    };
    let page = store.history_page(&q).await?;
    if a.json {
        output::json(&page);
        return Ok(ExitCode::SUCCESS);
    }
    let (n, pages) = page.page_of();
    if let Some(asked) = page.past_end {
        println!(
            "Page {} is past the end: showing the last page, {}.",
            u64::from(asked) + 1,
            pages.max(1)
        );
    }
    println!(
        "{} (page {} of {}); {}",
        count(page.total as u64, "job"),
        n + 1,
        pages.max(1),
        page.counts
            .iter()
            .map(|(s, c)| format!("{s} {c}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    print!("{}", output::history_table(&page.items));
    if let Some(c) = &page.prev {
        println!("prev: --before {c}");
    }
    if let Some(c) = &page.next {
        println!("next: --after {c}");
    }
    Ok(ExitCode::SUCCESS)
}
