//! `tickstock`: the TickStock Admin command line, a thin shell over `tickstock-jobs`.
//!
//! Exit codes: 0 success, 2 bad input (one line on stderr says why), 1 any other failure
//! (3: `load` or `status --watch` ended with some symbols failed). Logs go to stderr, filtered by
//! `RUST_LOG`.
//!
//! ## Layout
//! - `main.rs`: argument parsing, logging, exit codes.
//! - `jobs.rs`: submit, top-up, status, jobs, cancel, cleanup, clear, health.
//! - `data.rs`: worker, load, coverage, gaps, universe (Polygon and the database).
//! - `console.rs`: queue, workers, dead letters and history (the operations console).
//! - `output.rs`: human and `--json` output.
//! - `calendar.rs`: the coming NYSE holidays, checked against Polygon's.
//! - `splits.rs`: splits at Polygon, flagged symbols and their reload.

mod commands;
mod data;
mod jobs;
mod output;

use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use tickstock_protocol::settings::{BusConfig, DEFAULT_REDIS_URL};
use tickstock_protocol::{Error, ErrorKind};

/// TickStock Admin: load historical market data through TickStock's Redis job bus.
#[derive(Parser)]
#[command(name = "tickstock", version, about, long_about = None)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

/// Options every command takes.
#[derive(Args, Clone)]
pub struct Global {
    /// Redis URL (`redis://[user:password@]host:port[/db]`, `rediss://` for TLS).
    #[arg(long, global = true, env = "REDIS_URL", default_value = DEFAULT_REDIS_URL, hide_env_values = true)]
    pub redis_url: String,
    /// Prefix for every Redis key and channel (empty: TickStock's own names).
    #[arg(long, global = true, env = "TICKSTOCK_NAMESPACE", default_value = "")]
    pub namespace: String,
    /// Also publish jobs on the legacy pub/sub channel for TickStockPL workers.
    #[arg(long, global = true, env = "TICKSTOCK_PUBLISH_LEGACY", default_value_t = true, action = clap::ArgAction::Set)]
    pub publish_legacy: bool,
    /// Who submits or cancels (written into job messages and history): the operator,
    /// by default the OS user name.
    #[arg(long, global = true, env = "TICKSTOCK_USER", default_value_t = operator())]
    pub requested_by: String,
    /// TickStock environment whose universes are read and written (DEFAULT, TEST, UAT, PROD).
    #[arg(long, global = true, env = "TICKSTOCK_ENVIRONMENT", default_value = tickstock_jobs::runtime::DEFAULT_ENVIRONMENT)]
    pub environment: String,
    /// Whether the Redis URL was given (`--redis-url` or `REDIS_URL`) rather than the
    /// default: `load` then shares the key's Polygon budget through it.
    #[arg(skip)]
    pub redis_url_given: bool,
}

/// The operator's name: the OS user (`USER`, `USERNAME`, else the account's name).
pub fn operator() -> String {
    tickstock_protocol::settings::os_user().unwrap_or_else(|| "cli".into())
}

impl Global {
    pub fn bus_config(&self) -> Result<BusConfig, Error> {
        tickstock_protocol::settings::validate_redis_url(&self.redis_url)?;
        Ok(BusConfig::new(self.redis_url.clone())
            .with_namespace(self.namespace.clone())
            .with_publish_legacy(self.publish_legacy))
    }

    /// Store settings: the environment universes live in.
    /// Store options for commands that only read: no migrations, nothing seeded.
    pub fn read_only_store_options(&self) -> Result<tickstock_jobs::runtime::StoreOptions, Error> {
        Ok(tickstock_jobs::runtime::StoreOptions {
            migrate: false,
            ..self.store_options()?
        })
    }

    pub fn store_options(&self) -> Result<tickstock_jobs::runtime::StoreOptions, Error> {
        Ok(tickstock_jobs::runtime::StoreOptions {
            environment: tickstock_jobs::runtime::normalise_environment(&self.environment)?,
            ..Default::default()
        })
    }
}

#[derive(Subcommand)]
pub enum Command {
    /// Submit a job to the bus; prints its id (or, with --estimate, what it would cost).
    Submit(commands::submit::SubmitArgs),
    /// Show one job's status.
    Status(commands::status::StatusArgs),
    /// List active and recent jobs.
    Jobs(commands::jobs::JobsArgs),
    /// Cancel one job, or every active job.
    Cancel(commands::cancel::CancelArgs),
    /// Redis, workers and queue at a glance.
    Health(commands::health::HealthArgs),
    /// Mark stale jobs failed (no progress for 10 minutes and no live worker).
    Cleanup(commands::cleanup::CleanupArgs),
    /// Delete finished jobs whose id starts with --prefix (Redis and history).
    Clear(commands::cleanup::ClearArgs),
    /// Run a worker: take jobs from the bus and load them from Polygon into the database.
    Worker(commands::worker::WorkerArgs),
    /// Run one load in this process, without Redis, and exit when it ends.
    Load(commands::load::LoadArgs),
    /// Rows, symbols and date range of each OHLCV table; with --symbols, completeness per
    /// symbol against the NYSE calendar.
    Coverage(commands::coverage::CoverageArgs),
    /// Submit a top-up: each symbol from its last stored bar to the last closed session
    /// (or, with --fill, only the sessions missing in a range); prints the job's id.
    TopUp(commands::top_up::TopUpArgs),
    /// Sessions missing from stored bars, against the NYSE calendar (holidays and the
    /// afternoons of early closes are not gaps), rated as TickStock's import check.
    Gaps(commands::gaps::GapsArgs),
    /// List, show and import universes.
    Universe(commands::universe::UniverseArgs),
    /// Recurring jobs: list, add, rm, run, enable, disable.
    Schedule(commands::schedule::ScheduleArgs),
    /// Waiting and in-flight jobs with their ages, dead letters, pause; pause or resume.
    Queue(commands::queue::QueueArgs),
    /// Workers with their state; tell one to be quiet, stop, or take jobs again.
    Workers(commands::workers::WorkersArgs),
    /// Dead letters: list, requeue, rm, purge.
    Dead(commands::dead::DeadArgs),
    /// The job history of DATABASE_URL: search, filter, sort and page.
    History(commands::history::HistoryArgs),
    /// Splits at Polygon since each stored symbol's first bar: flags symbols whose stored
    /// bars predate a split's adjustment; --reload loads their stored range again.
    Splits(commands::splits::SplitsArgs),
    /// The coming NYSE holidays and 13:00 early closes; --check compares them with
    /// Polygon's upcoming market holidays and reports each disagreement.
    Calendar(commands::calendar::CalendarArgs),
}

/// Logs to stderr filtered by `RUST_LOG` (else `default`); each job's own lines (INFO and
/// up inside its span) are captured for its history whatever the filter says.
fn init_logging(default: &str) {
    use tracing_subscriber::prelude::*;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let console = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_filter(filter);
    tracing_subscriber::registry()
        .with(console)
        .with(
            tickstock_jobs::runtime::joblog::layer()
                .with_filter(tracing_subscriber::filter::LevelFilter::INFO),
        )
        .init();
}

/// Whether the global option `id` was given on the command line or in its environment
/// variable (not left to its default), at any level of subcommands.
fn given(matches: &clap::ArgMatches, id: &str) -> bool {
    use clap::parser::ValueSource;
    let mut m = Some(matches);
    while let Some(cur) = m {
        if matches!(
            cur.value_source(id),
            Some(ValueSource::CommandLine | ValueSource::EnvVariable)
        ) {
            return true;
        }
        m = cur.subcommand().map(|(_, sub)| sub);
    }
    false
}

/// A message as a sentence: its first letter in upper case.
fn sentence(message: &str) -> String {
    let mut chars = message.chars();
    match chars.next() {
        Some(c) => c.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// Maps an error to the process exit code and prints its one-line reason.
pub fn fail(e: &Error) -> ExitCode {
    eprintln!("error: {}", sentence(e.message()));
    match e.kind() {
        ErrorKind::InvalidInput | ErrorKind::Config => ExitCode::from(2),
        _ => ExitCode::from(1),
    }
}

/// Output piped into a reader that stops early (`tickstock history | head`) ends the
/// command quietly, as the shell's own tools do, instead of a panic about a broken pipe.
fn quiet_on_closed_pipe() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let payload = info.payload();
        let text = payload
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| payload.downcast_ref::<&str>().copied())
            .unwrap_or_default();
        if text.contains("Broken pipe") {
            std::process::exit(0);
        }
        default(info)
    }));
}

#[tokio::main]
async fn main() -> ExitCode {
    use clap::{CommandFactory, FromArgMatches};
    quiet_on_closed_pipe();
    let matches = Cli::command().get_matches();
    let mut cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    cli.global.redis_url_given = given(&matches, "redis_url");
    init_logging(if matches!(cli.command, Command::Worker(_)) {
        "info"
    } else {
        "warn"
    });
    let result = match &cli.command {
        Command::Submit(cmd) => commands::submit::submit(&cli.global, cmd).await,
        Command::Status(a) => commands::status::status(&cli.global, a).await,
        Command::Jobs(a) => commands::jobs::list(&cli.global, a).await,
        Command::Cancel(a) => commands::cancel::cancel(&cli.global, a).await,
        Command::Health(a) => commands::health::health(&cli.global, a).await,
        Command::Worker(a) => commands::worker::worker(&cli.global, a).await,
        Command::Load(a) => commands::load::load(&cli.global, a).await,
        Command::Coverage(a) => commands::coverage::coverage(&cli.global, a).await,
        Command::Gaps(a) => commands::gaps::gaps(&cli.global, a).await,
        Command::Cleanup(a) => commands::cleanup::cleanup(&cli.global, a).await,
        Command::Clear(a) => commands::cleanup::clear(&cli.global, a).await,
        Command::TopUp(a) => commands::top_up::top_up(&cli.global, a).await,
        Command::Universe(a) => commands::universe::universe_cmd(&cli.global, a).await,
        Command::Schedule(a) => commands::schedule::schedule_cmd(&cli.global, a).await,
        Command::Queue(a) => commands::queue::queue(&cli.global, a).await,
        Command::Workers(a) => commands::workers::workers(&cli.global, a).await,
        Command::Dead(a) => commands::dead::dead(&cli.global, a).await,
        Command::History(a) => commands::history::history(&cli.global, a).await,
        Command::Splits(a) => commands::splits::splits_cmd(&cli.global, a).await,
        Command::Calendar(a) => commands::calendar::calendar_cmd(&cli.global, a).await,
    };
    match result {
        Ok(code) => code,
        Err(e) => fail(&e),
    }
}
