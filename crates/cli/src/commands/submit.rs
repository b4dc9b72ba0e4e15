//! `tickstock submit`: a job queued through the job service (one duplicate check, one history row).

use std::process::ExitCode;

use clap::{Args, Subcommand};
use std::sync::Arc;

use tickstock_jobs::service::{JobService, SubmitOptions};
use tickstock_protocol::job::{JobRequest, SymbolsInput};
use tickstock_protocol::Result;

use crate::data::RangeArgs;
use crate::jobs::{connect, flag_names, history_store, known_universes, submit_store};
use crate::output;
use crate::Global;

/// `tickstock submit`: the job, and how to submit it.
#[derive(Args)]
pub struct SubmitArgs {
    #[command(subcommand)]
    pub job: SubmitCommand,
    /// Queue the job even when an identical one (same kind and parameters) is active.
    #[arg(long, global = true)]
    pub allow_duplicate: bool,
    /// Print the Polygon requests and time the job would need at the plan's rate, and
    /// submit nothing.
    #[arg(long, global = true)]
    pub estimate: bool,
    /// The plan's requests per minute for --estimate (0 = unlimited).
    #[arg(long, global = true, env = "POLYGON_RPM", default_value_t = 5)]
    pub requests_per_minute: u32,
    /// With --estimate, print it as JSON.
    #[arg(long, global = true)]
    pub json: bool,
}

#[derive(Subcommand)]
pub enum SubmitCommand {
    /// `historical_load`: symbols at one timespan.
    HistoricalLoad {
        /// Comma-separated tickers.
        #[arg(long, value_delimiter = ',', required = true)]
        symbols: Vec<String>,
        /// minute, hour, day, week or month.
        #[arg(long, default_value = "day")]
        timespan: String,
        #[command(flatten)]
        range: RangeArgs,
    },
    /// `multi_timeframe_load`: symbols at several timeframes.
    MultiTimeframe {
        #[arg(long, value_delimiter = ',', required = true)]
        symbols: Vec<String>,
        /// Comma-separated: 1min, hour, day, week, month.
        #[arg(long, value_delimiter = ',', required = true)]
        timeframes: Vec<String>,
        #[command(flatten)]
        range: RangeArgs,
    },
    /// `universe_seed`: every member of a universe (SP500, NASDAQ100, DOW30, ETF).
    UniverseSeed {
        #[arg(long)]
        universe: String,
        /// Rebuild the universe first (ETF: from Polygon's reference tickers).
        #[arg(long)]
        refresh: bool,
        #[command(flatten)]
        range: RangeArgs,
    },
    /// `csv_universe_load`: a CSV file's symbols or the union of joined universe keys.
    CsvUniverse {
        /// Universe keys joined by `:` (e.g. `SPY:nasdaq100`).
        #[arg(long)]
        universe_key: Option<String>,
        /// A CSV file (read by the worker).
        #[arg(long)]
        csv_file: Option<String>,
        /// Already-resolved symbols (take precedence).
        #[arg(long, value_delimiter = ',')]
        symbols: Vec<String>,
        #[arg(long, value_delimiter = ',', default_value = "day")]
        timeframes: Vec<String>,
        #[command(flatten)]
        range: RangeArgs,
    },
}

impl SubmitCommand {
    /// The request the command describes.
    pub fn request(&self) -> JobRequest {
        let base = |kind: &str, range: &RangeArgs| JobRequest {
            kind: kind.into(),
            years: range.years.or(if range.from.is_none() {
                Some(1.0)
            } else {
                None
            }),
            start_date: range.from.clone(),
            end_date: range.to.clone(),
            ..Default::default()
        };
        match self {
            SubmitCommand::HistoricalLoad {
                symbols,
                timespan,
                range,
            } => JobRequest {
                symbols: SymbolsInput::List(symbols.clone()),
                timespan: Some(timespan.clone()),
                ..base("historical_load", range)
            },
            SubmitCommand::MultiTimeframe {
                symbols,
                timeframes,
                range,
            } => JobRequest {
                symbols: SymbolsInput::List(symbols.clone()),
                timeframes: timeframes.clone(),
                ..base("multi_timeframe_load", range)
            },
            SubmitCommand::UniverseSeed {
                universe,
                refresh,
                range,
            } => JobRequest {
                universe_type: Some(universe.clone()),
                refresh: *refresh,
                ..base("universe_seed", range)
            },
            SubmitCommand::CsvUniverse {
                universe_key,
                csv_file,
                symbols,
                timeframes,
                range,
            } => JobRequest {
                universe_key: universe_key.clone(),
                csv_file: csv_file.clone(),
                symbols: SymbolsInput::List(symbols.clone()),
                timeframes: timeframes.clone(),
                ..base("csv_universe_load", range)
            },
        }
    }
}

pub async fn submit(g: &Global, a: &SubmitArgs) -> Result<ExitCode> {
    let request = a.job.request();
    let needs_universes = request.universe_type.is_some() || request.universe_key.is_some();
    let store = if needs_universes {
        submit_store(g).await?
    } else {
        None
    };
    let known = if needs_universes {
        known_universes(store.as_ref()).await?
    } else {
        Default::default()
    };
    let job = request
        .build(&g.requested_by, &|k| known.contains(k))
        .map_err(|e| tickstock_protocol::job::field_errors_to_error(&e))?;
    if a.estimate {
        // Registration counts only the symbols the database does not hold registered.
        let store = match store {
            Some(s) => Some(s),
            None => submit_store(g).await.ok().flatten(),
        };
        let e = tickstock_jobs::reads::estimate::estimate_job(
            job,
            store.as_ref(),
            a.requests_per_minute,
            chrono::Local::now().date_naive(),
        )
        .await?;
        if a.json {
            output::json(&e);
        } else {
            println!("{}", e.summary());
        }
        return Ok(ExitCode::SUCCESS);
    }
    let store = match store {
        Some(s) => Some(s),
        None => history_store(g).await?,
    };
    // The service resolves universes (TickStockPL workers load only the message's
    // `symbols`) and records the job in the history of `DATABASE_URL`, when set.
    let service = JobService::new(Arc::new(connect(g).await?), store);
    let submitted = service
        .submit_with(
            job,
            SubmitOptions {
                allow_duplicate: a.allow_duplicate,
            },
        )
        .await
        .map_err(flag_names)?;
    println!("{}", submitted.job.id);
    if let Some(w) = submitted.warning {
        eprintln!("warning: {w}");
    }
    Ok(ExitCode::SUCCESS)
}
