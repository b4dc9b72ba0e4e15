//! The bus commands: submit, status, jobs, cancel, health.

use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Subcommand};
use std::sync::Arc;

use tickstock_jobs::runtime::{Bus, HEARTBEAT_STALE_SECS};
use tickstock_jobs::service::{JobService, SubmitOptions};
use tickstock_protocol::job::{JobRequest, SymbolsInput};
use tickstock_protocol::status::JobState;
use tickstock_protocol::{Error, ErrorKind, Result};

use crate::output;
use crate::Global;

/// How much history: `--years`, or `--from` (and optionally `--to`).
#[derive(Args, Clone)]
pub struct RangeArgs {
    /// Years of history (0.003 = 1 day, 0.02 = 1 week, 0.08 = 1 month, up to 30).
    #[arg(long, conflicts_with = "from")]
    pub years: Option<f64>,
    /// First date to load (YYYY-MM-DD); overrides --years.
    #[arg(long)]
    pub from: Option<String>,
    /// Last date to load (YYYY-MM-DD); default today.
    #[arg(long, requires = "from")]
    pub to: Option<String>,
}

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

#[derive(Args)]
pub struct StatusArgs {
    pub job_id: String,
    /// Print the status as JSON.
    #[arg(long)]
    pub json: bool,
    /// Keep printing changes until the job ends (exit 0 completed, 3 with errors, 1 otherwise).
    #[arg(long)]
    pub watch: bool,
}

#[derive(Args)]
pub struct JobsArgs {
    #[arg(long)]
    pub json: bool,
    /// Only waiting and running jobs.
    #[arg(long)]
    pub active: bool,
    /// How many recent jobs.
    #[arg(long, default_value_t = 50)]
    pub limit: usize,
}

#[derive(Args)]
pub struct CancelArgs {
    /// The job to cancel.
    #[arg(required_unless_present = "all", conflicts_with = "all")]
    pub job_id: Option<String>,
    /// Cancel every active job.
    #[arg(long)]
    pub all: bool,
    #[arg(long)]
    pub json: bool,
}

#[derive(Args)]
pub struct HealthArgs {
    #[arg(long)]
    pub json: bool,
}

async fn connect(g: &Global) -> Result<Bus> {
    Bus::connect(g.bus_config()?).await
}

/// The database `DATABASE_URL` names, if set: universes are checked and resolved there.
async fn submit_store(g: &Global) -> Result<Option<tickstock_jobs::runtime::Store>> {
    match std::env::var("DATABASE_URL")
        .ok()
        .filter(|u| !u.trim().is_empty())
    {
        Some(url) => Ok(Some(
            tickstock_jobs::runtime::Store::connect_with(&url, &g.read_only_store_options()?)
                .await?,
        )),
        None => Ok(None),
    }
}

/// Universe keys a submit accepts (in canonical form, as the request asks about them):
/// the built-in ones, and with a database, every universe of its environment.
async fn known_universes(
    store: Option<&tickstock_jobs::runtime::Store>,
) -> Result<std::collections::HashSet<String>> {
    match store {
        // A store lists the built-in universes too (offered where it has no such group).
        Some(store) => tickstock_jobs::runtime::Loader::known_universes_of(store).await,
        None => Ok(tickstock_protocol::universe::builtin()
            .iter()
            .map(|u| u.key.to_string())
            .collect()),
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
        let job = tickstock_jobs::runtime::resolve_for_publish(job, store.as_ref()).await?;
        let symbols = job
            .message_symbols()
            .or_else(|| job.spec.symbols().map(<[String]>::to_vec))
            .map(|s| s.len())
            .unwrap_or(0);
        let e = tickstock_jobs::reads::estimate::estimate(
            &job,
            symbols,
            a.requests_per_minute,
            true,
            chrono::Local::now().date_naive(),
        );
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

/// An error of the job service as the command line says it: the core names the option,
/// the command line names its flag.
pub fn flag_names(e: Error) -> Error {
    if e.message().contains("allow-duplicate") {
        Error::new(
            e.kind(),
            e.message()
                .replace("submit with allow-duplicate", "pass --allow-duplicate"),
        )
    } else {
        e
    }
}

/// The job history's database (`DATABASE_URL`), if set.
pub async fn history_store(g: &Global) -> Result<Option<tickstock_jobs::runtime::Store>> {
    match std::env::var("DATABASE_URL")
        .ok()
        .filter(|u| !u.trim().is_empty())
    {
        Some(url) => Ok(Some(
            tickstock_jobs::runtime::Store::connect_with(&url, &g.store_options()?).await?,
        )),
        None => Ok(None),
    }
}

/// The job service over the bus, recording in the history of `DATABASE_URL` when set.
async fn service(g: &Global) -> Result<JobService> {
    let bus = connect(g).await?;
    Ok(JobService::new(Arc::new(bus), history_store(g).await?))
}

/// The job service for reads of the bus only (no database is opened).
async fn reader(g: &Global) -> Result<JobService> {
    Ok(JobService::new(Arc::new(connect(g).await?), None))
}

#[derive(Args)]
pub struct CleanupArgs {
    #[arg(long)]
    pub json: bool,
}

/// Marks stale jobs failed: active with no live worker and no progress for 10 minutes,
/// and history rows (of `DATABASE_URL`) left active by a worker that is gone.
pub async fn cleanup(g: &Global, a: &CleanupArgs) -> Result<ExitCode> {
    let service = service(g).await?;
    let marked = if service.store().is_some() {
        service.cleanup_stale().await?
    } else {
        service.cleanup_stale_on_queue().await?
    };
    if a.json {
        output::json(&serde_json::json!({ "marked": marked }));
    } else {
        println!(
            "{marked} stale job{} marked failed",
            if marked == 1 { "" } else { "s" }
        );
    }
    Ok(ExitCode::SUCCESS)
}

#[derive(Args)]
pub struct ClearArgs {
    /// The first characters of the job ids to clear (at least 4).
    #[arg(long)]
    pub prefix: String,
    #[arg(long)]
    pub json: bool,
}

/// Deletes finished jobs whose id starts with the prefix from Redis and from the history
/// of `DATABASE_URL`, when set; active jobs are left alone.
pub async fn clear(g: &Global, a: &ClearArgs) -> Result<ExitCode> {
    let service = service(g).await?;
    let cleared = service.clear(&a.prefix).await?;
    if a.json {
        output::json(&serde_json::json!({ "cleared": cleared }));
    } else {
        println!(
            "{cleared} finished job{} cleared",
            if cleared == 1 { "" } else { "s" }
        );
    }
    Ok(ExitCode::SUCCESS)
}

#[derive(Args)]
pub struct TopUpArgs {
    /// Comma-separated tickers.
    #[arg(long, value_delimiter = ',', required_unless_present = "universe")]
    pub symbols: Vec<String>,
    /// A universe key (joined keys `A:B` for the union) instead of --symbols.
    #[arg(long, conflicts_with = "symbols")]
    pub universe: Option<String>,
    /// Comma-separated: 1min, hour, day, week, month.
    #[arg(long, value_delimiter = ',', default_value = "day")]
    pub timeframes: Vec<String>,
    /// Load only the sessions missing in the range (`tickstock gaps`), not from the last
    /// stored bar on.
    #[arg(long)]
    pub fill: bool,
    /// The range a fill checks, and where a top-up of a symbol with no bars starts.
    #[command(flatten)]
    pub range: RangeArgs,
    /// Queue the top-up even when an identical one (same symbols, timeframes and range)
    /// is active.
    #[arg(long)]
    pub allow_duplicate: bool,
    /// Print `{"job_id", "symbols"}`.
    #[arg(long)]
    pub json: bool,
}

/// Submits a `top_up` job (ours; never sent to TickStockPL workers): each symbol from its
/// last stored bar to the last closed session, or with --fill only its missing sessions.
pub async fn top_up(g: &Global, a: &TopUpArgs) -> Result<ExitCode> {
    let symbols = match &a.universe {
        Some(key) => {
            let store = submit_store(g).await?;
            let probe = tickstock_protocol::job::Job::new(
                tickstock_protocol::job::JobSpec::UniverseSeed {
                    universe_type: key.clone(),
                    refresh: false,
                    range: Default::default(),
                },
                &g.requested_by,
            );
            tickstock_jobs::runtime::resolve_for_publish(probe, store.as_ref())
                .await?
                .message_symbols()
                .unwrap_or_default()
        }
        None => a.symbols.clone(),
    };
    let request = JobRequest {
        kind: "top_up".into(),
        symbols: SymbolsInput::List(symbols),
        timeframes: a.timeframes.clone(),
        fill: a.fill,
        years: a.range.years.or(if a.range.from.is_none() {
            Some(1.0)
        } else {
            None
        }),
        start_date: a.range.from.clone(),
        end_date: a.range.to.clone(),
        ..Default::default()
    };
    let job = request
        .build(&g.requested_by, &|_| false)
        .map_err(|e| tickstock_protocol::job::field_errors_to_error(&e))?;
    // Through the job service like every submit: recorded in the history of
    // `DATABASE_URL` when set, and refused when an identical top-up is active.
    let submitted = service(g)
        .await?
        .submit_with(
            job,
            SubmitOptions {
                allow_duplicate: a.allow_duplicate,
            },
        )
        .await
        .map_err(flag_names)?;
    let job = submitted.job;
    if let Some(w) = submitted.warning {
        eprintln!("warning: {w}");
    }
    if a.json {
        output::json(&serde_json::json!({
            "job_id": job.id,
            "symbols": job.spec.symbols().map(<[String]>::len).unwrap_or(0),
        }));
    } else {
        println!("{}", job.id);
    }
    Ok(ExitCode::SUCCESS)
}

fn exit_for(state: JobState) -> ExitCode {
    match state {
        JobState::Completed => ExitCode::SUCCESS,
        JobState::CompletedWithErrors => ExitCode::from(3),
        _ => ExitCode::from(1),
    }
}

fn not_found(id: &str) -> Error {
    Error::new(
        ErrorKind::NotFound,
        format!("no job `{id}` (unknown, or its status expired)"),
    )
}

pub async fn status(g: &Global, a: &StatusArgs) -> Result<ExitCode> {
    let id = a.job_id.trim();
    if id.is_empty() {
        return Err(Error::invalid("job id is empty"));
    }
    let service = reader(g).await?;
    // The page shows the first eight characters of an id: a unique start is enough.
    let id = &service.resolve_id(id).await?;
    if !a.watch {
        let st = service.status(id).await?.ok_or_else(|| not_found(id))?;
        if a.json {
            output::json(&serde_json::json!({"job_id": id, "status": st}));
        } else {
            print!("{}", output::status_text(id, &st));
        }
        return Ok(ExitCode::SUCCESS);
    }
    // Watch: print each change; ride out Redis outages.
    let mut last = String::new();
    let mut outage = false;
    let mut missing = 0u32;
    loop {
        match service.status(id).await {
            Ok(Some(st)) => {
                if outage {
                    eprintln!("Redis is back");
                    outage = false;
                }
                missing = 0;
                let line = format!(
                    "{} {}% {}",
                    st.state,
                    st.progress,
                    st.message.clone().unwrap_or_default()
                );
                if line != last {
                    if a.json {
                        println!("{}", serde_json::json!({"job_id": id, "status": st}));
                    } else {
                        println!("{line}");
                    }
                    last = line;
                }
                if st.state.is_terminal() {
                    return Ok(exit_for(st.state));
                }
            }
            Ok(None) => {
                missing += 1;
                if missing > 20 {
                    return Err(not_found(id));
                }
            }
            Err(e) => {
                if !outage {
                    eprintln!("waiting for Redis: {}", e.message());
                    outage = true;
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

pub async fn list(g: &Global, a: &JobsArgs) -> Result<ExitCode> {
    let service = reader(g).await?;
    let entries = if a.active {
        service.active().await?
    } else {
        service.recent(a.limit).await?
    };
    if a.json {
        output::json(&entries);
    } else {
        print!("{}", output::jobs_table(&entries));
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn cancel(g: &Global, a: &CancelArgs) -> Result<ExitCode> {
    let service = service(g).await?;
    if a.all {
        let n = service.cancel_all(&g.requested_by).await?;
        if a.json {
            output::json(&serde_json::json!({"cancelled": n}));
        } else {
            println!(
                "Cancel requested for {}",
                tickstock_protocol::text::count(n as u64, "job")
            );
        }
        return Ok(ExitCode::SUCCESS);
    }
    let id = &service
        .resolve_id(a.job_id.as_deref().unwrap_or_default())
        .await?;
    let outcome = service.cancel(id, &g.requested_by).await?;
    if a.json {
        output::json(&outcome);
    } else if outcome.changed {
        println!("{} {}", outcome.job_id, outcome.state);
    } else {
        println!(
            "{} already {}; nothing to cancel",
            outcome.job_id, outcome.state
        );
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn health(g: &Global, a: &HealthArgs) -> Result<ExitCode> {
    let cfg = g.bus_config()?;
    let health = match Bus::connect(cfg.clone()).await {
        Ok(bus) => {
            bus.health(Duration::from_secs_f64(HEARTBEAT_STALE_SECS))
                .await
        }
        Err(e) => tickstock_jobs::runtime::Health {
            redis: tickstock_jobs::runtime::RedisHealth {
                url: cfg.redacted_url(),
                connected: false,
                rtt_ms: None,
                error: Some(e.message().to_string()),
                full: None,
            },
            legacy_heartbeat: None,
            producer_heartbeat: None,
            workers: Vec::new(),
            queue: None,
        },
    };
    if a.json {
        output::json(&health);
    } else {
        print!("{}", output::health_text(&health));
    }
    Ok(if health.redis.connected {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
