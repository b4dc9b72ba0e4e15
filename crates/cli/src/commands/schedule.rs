//! `tickstock schedule`: recurring jobs: list, add, remove, run the due ones.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, Subcommand};
use tickstock_jobs::runtime::Bus;
use tickstock_jobs::runtime::Loader;
use tickstock_jobs::runtime::Store;
use tickstock_jobs::schedule::Scheduler;
use tickstock_jobs::service::JobService;
use tickstock_protocol::job::{field_errors_to_error, JobRequest};
use tickstock_protocol::{Error, ErrorKind, Result};

use crate::data::DataArgs;
use crate::{output, Global};

/// How often a worker looks for due schedules.
pub(crate) const SCHEDULER_EVERY: Duration = Duration::from_secs(15);

#[derive(Args)]
pub struct ScheduleArgs {
    #[command(flatten)]
    pub data: DataArgs,
    #[command(subcommand)]
    pub command: ScheduleCommand,
}

#[derive(Subcommand)]
pub enum ScheduleCommand {
    /// Every schedule with its next due time and its last job.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Adds a schedule: when (--cron, --every-trading-day or a --preset's) and what (a
    /// submit command, e.g. `historical-load --symbols AAPL --years 1`, or the preset's job
    /// over --symbols or --universe).
    Add(Box<ScheduleAddArgs>),
    /// Removes a schedule.
    Rm { name: String },
    /// Submits a schedule's job now.
    Run { name: String },
    /// Enables a schedule.
    Enable { name: String },
    /// Disables a schedule (it keeps its history).
    Disable { name: String },
}

#[derive(Args)]
pub struct ScheduleAddArgs {
    #[arg(long)]
    pub name: String,
    /// A cron expression in America/New_York, e.g. '30 16 * * 1-5'.
    #[arg(long, conflicts_with_all = ["every_trading_day", "preset"])]
    pub cron: Option<String>,
    /// Every NYSE trading day at this New York time (HH:MM).
    #[arg(long, conflicts_with = "preset")]
    pub every_trading_day: Option<String>,
    /// daily-top-up, weekly-refresh or monthly-refresh (TickStock's refreshes), or
    /// split-reload (check splits, reload the flagged symbols).
    #[arg(long)]
    pub preset: Option<String>,
    /// For a preset: the universe key.
    #[arg(long, requires = "preset", conflicts_with = "symbols")]
    pub universe: Option<String>,
    /// For a preset: comma-separated tickers.
    #[arg(long, value_delimiter = ',', requires = "preset")]
    pub symbols: Vec<String>,
    /// For a preset: timeframes (default day).
    #[arg(long, value_delimiter = ',', requires = "preset")]
    pub timeframes: Vec<String>,
    #[command(subcommand)]
    pub job: Option<crate::commands::submit::SubmitCommand>,
}

pub async fn schedule_cmd(g: &Global, a: &ScheduleArgs) -> Result<ExitCode> {
    let store = a.data.store(g).await?;
    match &a.command {
        ScheduleCommand::List { json } => list(g, &a.data, &store, *json).await?,
        ScheduleCommand::Add(args) => add(&store, args).await?,
        ScheduleCommand::Rm { name } => remove(&store, name).await?,
        ScheduleCommand::Enable { name } => set_enabled(&store, name, true).await?,
        ScheduleCommand::Disable { name } => set_enabled(&store, name, false).await?,
        ScheduleCommand::Run { name } => run(g, &a.data, &store, name).await?,
    }
    Ok(ExitCode::SUCCESS)
}

/// A scheduler on the bus and `store`, with Polygon when a key is given. `run` calls
/// Polygon (a `split_reload` schedule runs here when a key is at hand): it spends the
/// key's shared budget.
async fn scheduler(
    g: &Global,
    data: &DataArgs,
    store: &Store,
    calls_polygon: bool,
) -> Result<Scheduler> {
    let bus = Bus::connect(g.bus_config()?).await?;
    let polygon = match data.polygon() {
        Ok(p) => {
            if calls_polygon {
                data.share_budget(&p, &bus, "tickstock schedule run").await;
            }
            Some(p)
        }
        Err(_) => None,
    };
    let service = JobService::new(Arc::new(bus), Some(store.clone()));
    let s = Scheduler::new(store.clone(), Arc::new(service), "cli", None);
    Ok(match polygon {
        Some(p) => s.with_polygon(p),
        None => s,
    })
}

fn not_found(name: &str) -> Error {
    Error::new(ErrorKind::NotFound, format!("no schedule `{name}`"))
}

/// `schedule list`: every schedule with its next due time and its last job.
async fn list(g: &Global, data: &DataArgs, store: &Store, json: bool) -> Result<()> {
    let schedules = scheduler(g, data, store, false)
        .await?
        .list(chrono::Utc::now())
        .await?;
    if json {
        output::json(&schedules);
        return Ok(());
    }
    println!(
        "{:<18} {:<20} {:<8} {:<26} {:<26} LAST JOB",
        "NAME", "WHEN", "ENABLED", "NEXT", "LAST DUE"
    );
    for s in schedules {
        println!(
            "{:<18} {:<20} {:<8} {:<26} {:<26} {}",
            s.row.name,
            s.row.spec,
            if s.row.enabled { "yes" } else { "no" },
            s.next_due
                .map(tickstock_jobs::schedule::describe_due)
                .unwrap_or_else(|| "-".into()),
            s.row
                .last_due
                .map(tickstock_jobs::schedule::describe_due)
                .unwrap_or_else(|| "-".into()),
            match (&s.row.last_job_id, &s.last_status) {
                (Some(id), Some(st)) => format!("{id} {st}"),
                (Some(id), None) => id.clone(),
                _ => "-".into(),
            }
        );
    }
    Ok(())
}

/// `schedule add`: the schedule stored once its job builds, with its next due time.
async fn add(store: &Store, add: &ScheduleAddArgs) -> Result<()> {
    let (spec, request) = spec_and_request(add)?;
    tickstock_jobs::schedule::validate(&add.name, &spec, &request)?;
    // The job must build now, as it will at its due times.
    let known = Loader::known_universes_of(store).await?;
    if request.kind != "top_up" && request.kind != tickstock_jobs::schedule::SPLIT_RELOAD {
        request
            .build(&format!("scheduler:{}", add.name), &|k| known.contains(k))
            .map_err(|e| field_errors_to_error(&e))?;
    }
    let value = serde_json::to_value(&request)
        .map_err(|e| Error::invalid(format!("the job cannot be stored: {e}")))?;
    store
        .add_schedule(add.name.trim(), spec.trim(), &value)
        .await?;
    let next = spec
        .parse::<tickstock_jobs::schedule::When>()?
        .next_due(chrono::Utc::now());
    println!(
        "schedule {} added; next due {}",
        add.name.trim(),
        next.map(tickstock_jobs::schedule::describe_due)
            .unwrap_or_else(|| "never".into())
    );
    Ok(())
}

/// When a schedule is due and the job it submits: a preset's, or a submit command's at
/// --cron or --every-trading-day.
fn spec_and_request(add: &ScheduleAddArgs) -> Result<(String, JobRequest)> {
    match (&add.preset, &add.job) {
        (Some(p), None) => preset(add, p),
        (None, Some(job)) => {
            let spec = match (&add.cron, &add.every_trading_day) {
                (Some(c), None) => c.clone(),
                (None, Some(t)) => format!("trading-days {}", t.trim()),
                _ => {
                    return Err(Error::invalid(
                        "give --cron 'EXPR' or --every-trading-day HH:MM",
                    ))
                }
            };
            Ok((spec, job.request()))
        }
        (Some(_), Some(_)) => Err(Error::invalid(
            "give either --preset or a submit command, not both",
        )),
        (None, None) => Err(Error::invalid(
            "give a submit command (e.g. `historical-load --symbols AAPL`) or --preset",
        )),
    }
}

/// The preset named `p`: its due times, and its job over --symbols or --universe in
/// --timeframes (day when none are given).
fn preset(add: &ScheduleAddArgs, p: &str) -> Result<(String, JobRequest)> {
    let preset = tickstock_jobs::schedule::PRESETS
        .iter()
        .find(|x| x.name == p.trim())
        .ok_or_else(|| {
            Error::invalid(format!(
                "unknown preset `{p}` (daily-top-up, weekly-refresh, monthly-refresh or split-reload)"
            ))
        })?;
    let symbols = if add.symbols.is_empty() {
        Vec::new()
    } else {
        tickstock_protocol::job::normalize_symbols(&add.symbols)
            .map_err(|e| Error::invalid(e.message))?
    };
    let timeframes = if add.timeframes.is_empty() {
        vec!["day".to_string()]
    } else {
        add.timeframes.clone()
    };
    Ok((
        preset.when.to_string(),
        tickstock_jobs::schedule::preset_request(preset, symbols, add.universe.clone(), timeframes),
    ))
}

/// `schedule rm`.
async fn remove(store: &Store, name: &str) -> Result<()> {
    if !store.remove_schedule(name.trim()).await? {
        return Err(not_found(name));
    }
    Ok(())
}

/// `schedule enable` (`on`) and `schedule disable`.
async fn set_enabled(store: &Store, name: &str, on: bool) -> Result<()> {
    if !store.enable_schedule(name.trim(), on).await? {
        return Err(not_found(name));
    }
    Ok(())
}

/// `schedule run`: the schedule's job submitted now, its id printed.
async fn run(g: &Global, data: &DataArgs, store: &Store, name: &str) -> Result<()> {
    let id = scheduler(g, data, store, true)
        .await?
        .run_now(name.trim())
        .await?;
    println!("{id}");
    Ok(())
}
