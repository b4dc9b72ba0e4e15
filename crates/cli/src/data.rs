//! The commands that touch Polygon and the database: worker, load, coverage, universe.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use clap::{Args, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use secrecy::SecretString;
use serde::Serialize;
use tickstock_jobs::runtime::Bus;
use tickstock_jobs::runtime::Store;
use tickstock_jobs::runtime::StoreHistory;
use tickstock_jobs::runtime::{run_job, ForegroundHost, RunEnd, RunEnv};
use tickstock_jobs::runtime::{JobHistory, MemoryCheckpoints, StatusSink};
use tickstock_jobs::runtime::{Loader, LoaderConfig};
use tickstock_jobs::runtime::{PolygonClient, PolygonConfig};
use tickstock_jobs::runtime::{Worker, WorkerConfig};
use tickstock_jobs::schedule::Scheduler;
use tickstock_jobs::service::JobService;
use tickstock_protocol::job::{field_errors_to_error, JobRequest, SymbolsInput};
use tickstock_protocol::status::{JobState, JobStatus};
use tickstock_protocol::{universe, Error, ErrorKind, Result, Timeframe};
use tokio_util::sync::CancellationToken;
use tracing::info;

use crate::jobs::RangeArgs;
use crate::{output, Global};

/// Where data goes and where it comes from.
#[derive(Args, Clone)]
pub struct DataArgs {
    /// Database: `postgres://user[:password]@host/db` or `sqlite://PATH`
    /// (default: an SQLite file in the user's data directory).
    #[arg(long, global = true, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
    /// Polygon (Massive) REST base URL.
    #[arg(long, global = true, env = "POLYGON_BASE_URL", default_value = tickstock_protocol::settings::DEFAULT_POLYGON_URL)]
    pub polygon_url: String,
    /// Polygon API key.
    #[arg(long, global = true, env = "POLYGON_API_KEY", hide_env_values = true)]
    pub api_key: Option<String>,
    /// The plan's requests per minute (0 = unlimited; the free plan allows 5). Default 5.
    /// With Redis, one value is shared by every process on the key: given here, it
    /// replaces the shared value; left out, the shared value (if any) is used.
    #[arg(long, global = true, env = "POLYGON_RPM")]
    pub requests_per_minute: Option<u32>,
    /// The plan's window in milliseconds instead of a minute: for tests only.
    #[arg(long, global = true, env = "TICKSTOCK_POLYGON_WINDOW_MS", hide = true)]
    pub polygon_window_ms: Option<u64>,
    /// (symbol, timeframe) downloads in flight at once within one job.
    #[arg(
        long,
        global = true,
        env = "TICKSTOCK_LOAD_CONCURRENCY",
        default_value_t = 4
    )]
    pub load_concurrency: usize,
    /// Where `csv_file` names are looked up.
    #[arg(long, global = true, env = "TICKSTOCK_CSV_DIR")]
    pub csv_dir: Option<PathBuf>,
    /// Register loaded symbols in `symbols` from Polygon's ticker details when their row is
    /// missing or older than this many days (one request per symbol); 0 = never.
    #[arg(
        long,
        global = true,
        env = "TICKSTOCK_SYMBOL_REFRESH_DAYS",
        default_value_t = 7
    )]
    pub symbol_refresh_days: u32,
}

/// The free plan's requests per minute, when none is given.
pub const DEFAULT_RPM: u32 = 5;

/// The default database: `sqlite://<data dir>/tickstock-admin/tickstock.sqlite`.
pub fn default_database_url() -> String {
    let dir = dirs::data_dir()
        .unwrap_or_else(|| PathBuf::from("."))
        .join("tickstock-admin");
    format!("sqlite://{}", dir.join("tickstock.sqlite").display())
}

impl DataArgs {
    pub fn database_url(&self) -> String {
        self.database_url
            .clone()
            .filter(|s| !s.trim().is_empty())
            .unwrap_or_else(default_database_url)
    }

    pub async fn store(&self, g: &Global) -> Result<Store> {
        Ok(Store::connect_with(&self.database_url(), &g.store_options()?).await?)
    }

    /// The store for a command that only reads: no migrations run, and no folder made for
    /// a database named in `DATABASE_URL` (a typo is said; the default file's folder is
    /// made as for any first start).
    pub async fn read_store(&self, g: &Global) -> Result<Store> {
        let named = self
            .database_url
            .as_deref()
            .is_some_and(|u| !u.trim().is_empty());
        let opts = tickstock_jobs::runtime::StoreOptions {
            create_folders: !named,
            ..g.read_only_store_options()?
        };
        Ok(Store::connect_with(&self.database_url(), &opts).await?)
    }

    pub fn polygon(&self) -> Result<PolygonClient> {
        let key = self
            .api_key
            .clone()
            .filter(|k| !k.trim().is_empty())
            .ok_or_else(|| {
                Error::new(
                    ErrorKind::Config,
                    "no Polygon API key: set POLYGON_API_KEY or pass --api-key",
                )
            })?;
        let mut cfg = PolygonConfig::new(self.polygon_url.clone(), SecretString::from(key))
            .with_requests_per_minute(self.requests_per_minute());
        if let Some(ms) = self.polygon_window_ms.filter(|ms| *ms > 0) {
            cfg.rate_window = Duration::from_millis(ms);
        }
        Ok(PolygonClient::new(cfg)?)
    }

    /// The plan's requests per minute: as given, else the free plan's 5.
    pub fn requests_per_minute(&self) -> u32 {
        self.requests_per_minute.unwrap_or(DEFAULT_RPM)
    }

    /// Counts `polygon`'s requests against the key's budget in Redis, shared by every
    /// process on the key. A value given with --requests-per-minute (or POLYGON_RPM) is an
    /// explicit setting and replaces the shared one. When Redis cannot be used, the
    /// process counts its own requests, with a warning.
    pub async fn share_budget(&self, polygon: &PolygonClient, bus: &Bus, who: &str) {
        let explicit = self.requests_per_minute.is_some();
        let who = format!(
            "{who} on {} (pid {})",
            tickstock_jobs::runtime::host_name(),
            std::process::id()
        );
        if let Err(e) = bus.share_polygon_budget(polygon, explicit, &who).await {
            tracing::warn!(
                "the Polygon request budget cannot be shared through Redis ({e}); \
                 this process counts only its own requests"
            );
        }
    }

    pub async fn loader(&self, g: &Global) -> Result<Loader> {
        let polygon = self.polygon()?;
        let store = self.store(g).await?;
        Ok(Loader::new(
            polygon,
            store,
            LoaderConfig {
                concurrency: self.load_concurrency.max(1),
                csv_dir: self.csv_dir.clone(),
                symbol_refresh: (self.symbol_refresh_days > 0)
                    .then(|| Duration::from_secs(u64::from(self.symbol_refresh_days) * 86_400)),
                ..LoaderConfig::default()
            },
        ))
    }
}

/// Waits for Ctrl-C or SIGTERM (what systemd, Docker and Kubernetes send); the exit
/// code a second one forces.
async fn stop_signal() -> i32 {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => tokio::select! {
                _ = tokio::signal::ctrl_c() => 130,
                _ = term.recv() => 143,
            },
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
                130
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
        130
    }
}

/// A token cancelled by the first Ctrl-C or SIGTERM (finish the current chunk, release
/// or record the job, deregister); a second one exits at once.
fn ctrl_c_token() -> CancellationToken {
    let token = CancellationToken::new();
    let t = token.clone();
    tokio::spawn(async move {
        stop_signal().await;
        eprintln!("stopping: finishing the current chunk (Ctrl-C again to force)");
        t.cancel();
        let code = stop_signal().await;
        std::process::exit(code);
    });
    token
}

#[derive(Args)]
pub struct WorkerArgs {
    #[command(flatten)]
    pub data: DataArgs,
    /// Jobs run at once.
    #[arg(long, env = "TICKSTOCK_WORKER_CONCURRENCY", default_value_t = 1)]
    pub concurrency: usize,
    /// Take over a job whose worker has been silent this long (seconds).
    #[arg(long, env = "TICKSTOCK_CLAIM_IDLE_SECS", default_value_t = 60)]
    pub claim_idle_secs: u64,
    /// Move a job delivered more often than this to the dead letters.
    #[arg(long, env = "TICKSTOCK_MAX_DELIVERIES", default_value_t = 5)]
    pub max_deliveries: u64,
    /// Also take jobs published on the legacy pub/sub channel.
    #[arg(long, env = "TICKSTOCK_LISTEN_LEGACY", default_value_t = true, action = clap::ArgAction::Set)]
    pub listen_legacy: bool,
    /// Worker id (default host-pid-random).
    #[arg(long, env = "TICKSTOCK_WORKER_ID")]
    pub worker_id: Option<String>,
    /// Fire due schedules (each due time fires once however many workers run).
    #[arg(long, env = "TICKSTOCK_SCHEDULER", default_value_t = true, action = clap::ArgAction::Set)]
    pub scheduler: bool,
    /// Slack-compatible webhook called when a scheduled job fails (`{"text": ...}`).
    #[arg(long, env = "TICKSTOCK_ALERT_WEBHOOK", hide_env_values = true)]
    pub alert_webhook: Option<String>,
    /// Serve Prometheus metrics at http://HOST:PORT/metrics (e.g. 127.0.0.1:9464).
    #[arg(long, env = "TICKSTOCK_METRICS_ADDR")]
    pub metrics_addr: Option<String>,
}

/// Longest take-over delay accepted (one day).
const MAX_CLAIM_IDLE_SECS: u64 = 86_400;

pub async fn worker(g: &Global, a: &WorkerArgs) -> Result<ExitCode> {
    if a.concurrency == 0 || a.concurrency > 64 {
        return Err(Error::invalid("--concurrency must be between 1 and 64"));
    }
    if a.claim_idle_secs == 0 || a.claim_idle_secs > MAX_CLAIM_IDLE_SECS {
        return Err(Error::invalid(format!(
            "--claim-idle-secs must be between 1 and {MAX_CLAIM_IDLE_SECS}"
        )));
    }
    let loader = a.data.loader(g).await?;
    let history: Arc<dyn JobHistory> = Arc::new(StoreHistory(loader.store().clone()));
    let bus = Bus::connect(g.bus_config()?).await?;
    a.data
        .share_budget(loader.polygon(), &bus, "tickstock worker")
        .await;
    let metrics = match &a.metrics_addr {
        Some(addr) => Some(tickstock_jobs::runtime::metrics::bind(addr).await?),
        None => None,
    };
    let shutdown = ctrl_c_token();
    if let Some(listener) = metrics {
        if let Ok(addr) = listener.local_addr() {
            eprintln!("metrics at http://{addr}/metrics");
        }
        let sources = tickstock_jobs::runtime::metrics::Sources {
            polygon: Some(loader.polygon().clone()),
            bus: Some(bus.clone()),
        };
        tokio::spawn(tickstock_jobs::runtime::metrics::serve(
            listener,
            sources,
            shutdown.clone(),
        ));
    }
    let cfg = WorkerConfig {
        id: a.worker_id.clone(),
        concurrency: a.concurrency,
        claim_idle: Duration::from_secs(a.claim_idle_secs.max(1)),
        max_deliveries: a.max_deliveries.max(1),
        listen_legacy: a.listen_legacy,
        ..WorkerConfig::default()
    };
    let w = Worker::with_history(
        bus.clone(),
        Arc::new(loader.clone()),
        cfg,
        shutdown.clone(),
        Some(history),
    );
    // Scheduled jobs are submitted through the job service, recorded in this worker's
    // database.
    let service = JobService::new(Arc::new(bus), Some(loader.store().clone()));
    // Jobs whose end the history missed (a full disk refused it) take their final status.
    match service.settle_history().await {
        Ok(0) => {}
        Ok(n) => info!(
            settled = n,
            "history rows settled from the queue's final statuses"
        ),
        Err(e) => tracing::warn!("history not settled from the queue: {e}"),
    }
    if a.scheduler {
        let scheduler = Scheduler::new(
            loader.store().clone(),
            Arc::new(service),
            w.id(),
            a.alert_webhook.clone(),
        )
        .with_polygon(loader.polygon().clone());
        let stop = shutdown.clone();
        tokio::spawn(async move {
            scheduler
                .run(SCHEDULER_EVERY, stop, |f| {
                    tracing::warn!(
                        schedule = f.name,
                        job_id = f.job_id,
                        state = f.state,
                        "scheduled job did not complete: {}",
                        f.message
                    )
                })
                .await
        });
    }
    info!(
        worker = w.id(),
        database = %loader.store().describe(),
        "worker ready"
    );
    eprintln!(
        "worker {} ready: Redis {}, database {}",
        w.id(),
        w.bus().redacted_url(),
        loader.store().describe()
    );
    w.run().await?;
    Ok(ExitCode::SUCCESS)
}

/// How often a worker looks for due schedules.
const SCHEDULER_EVERY: Duration = Duration::from_secs(15);

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
    pub job: Option<crate::jobs::SubmitCommand>,
}

pub async fn schedule_cmd(g: &Global, a: &ScheduleArgs) -> Result<ExitCode> {
    let store = a.data.store(g).await?;
    let bus = || async { Bus::connect(g.bus_config()?).await };
    // `run` calls Polygon (a `split_reload` schedule runs here when a key is at hand): it
    // spends the key's shared budget.
    let scheduler = |bus: Bus, calls_polygon: bool| {
        let store = store.clone();
        async move {
            let polygon = match a.data.polygon() {
                Ok(p) => {
                    if calls_polygon {
                        a.data
                            .share_budget(&p, &bus, "tickstock schedule run")
                            .await;
                    }
                    Some(p)
                }
                Err(_) => None,
            };
            let service = JobService::new(Arc::new(bus), Some(store.clone()));
            let s = Scheduler::new(store, Arc::new(service), "cli", None);
            match polygon {
                Some(p) => s.with_polygon(p),
                None => s,
            }
        }
    };
    let not_found = |name: &str| Error::new(ErrorKind::NotFound, format!("no schedule `{name}`"));
    match &a.command {
        ScheduleCommand::List { json } => {
            let list = scheduler(bus().await?, false)
                .await
                .list(chrono::Utc::now())
                .await?;
            if *json {
                output::json(&list);
                return Ok(ExitCode::SUCCESS);
            }
            println!(
                "{:<18} {:<20} {:<8} {:<26} {:<26} LAST JOB",
                "NAME", "WHEN", "ENABLED", "NEXT", "LAST DUE"
            );
            for s in list {
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
        }
        ScheduleCommand::Add(add) => {
            let (spec, request) = match (&add.preset, &add.job) {
                (Some(p), None) => {
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
                    (
                        preset.when.to_string(),
                        tickstock_jobs::schedule::preset_request(
                            preset,
                            symbols,
                            add.universe.clone(),
                            timeframes,
                        ),
                    )
                }
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
                    (spec, job.request())
                }
                (Some(_), Some(_)) => {
                    return Err(Error::invalid(
                        "give either --preset or a submit command, not both",
                    ))
                }
                (None, None) => {
                    return Err(Error::invalid(
                        "give a submit command (e.g. `historical-load --symbols AAPL`) or --preset",
                    ))
                }
            };
            tickstock_jobs::schedule::validate(&add.name, &spec, &request)?;
            // The job must build now, as it will at its due times.
            let known = Loader::known_universes_of(&store).await?;
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
        }
        ScheduleCommand::Rm { name } => {
            if !store.remove_schedule(name.trim()).await? {
                return Err(not_found(name));
            }
        }
        ScheduleCommand::Enable { name } | ScheduleCommand::Disable { name } => {
            let on = matches!(a.command, ScheduleCommand::Enable { .. });
            if !store.enable_schedule(name.trim(), on).await? {
                return Err(not_found(name));
            }
        }
        ScheduleCommand::Run { name } => {
            let id = scheduler(bus().await?, true)
                .await
                .run_now(name.trim())
                .await?;
            println!("{id}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[derive(Args)]
pub struct LoadArgs {
    #[command(flatten)]
    pub data: DataArgs,
    /// Comma-separated tickers.
    #[arg(long, value_delimiter = ',', conflicts_with_all = ["universe", "csv"])]
    pub symbols: Vec<String>,
    /// A universe key, or several joined by `:` (e.g. `SPY:nasdaq100`).
    #[arg(long, conflicts_with = "csv")]
    pub universe: Option<String>,
    /// A CSV file whose `symbol` (or first) column lists the tickers.
    #[arg(long)]
    pub csv: Option<String>,
    /// Comma-separated: 1min, hour, day, week, month.
    #[arg(long, value_delimiter = ',', default_value = "day")]
    pub timeframes: Vec<String>,
    #[command(flatten)]
    pub range: RangeArgs,
    /// Also fetch the ticker details (SIC code, so sector and industry) of the loaded
    /// symbols the reference list could not give, before returning: one request each, at
    /// the plan's rate. Without it workers fetch them from spare requests.
    #[arg(long)]
    pub describe: bool,
    /// Print the summary as JSON.
    #[arg(long)]
    pub json: bool,
}

/// What `load --json` prints.
#[derive(Serialize)]
pub struct LoadSummary {
    pub job_id: String,
    pub status: JobState,
    pub symbols_ok: usize,
    pub symbols_failed: usize,
    pub failures: Vec<tickstock_protocol::status::SymbolFailure>,
    pub bars: u64,
    pub seconds: f64,
    pub bars_per_second: f64,
    pub database: String,
    pub error: Option<String>,
    /// Loaded symbols described from ticker details by `--describe`.
    pub described: usize,
    /// Registered symbols whose ticker details are still to fetch (from spare requests).
    pub symbols_to_describe: usize,
}

/// Progress to a terminal bar (hidden when stderr is not a terminal).
struct BarSink(ProgressBar);

#[async_trait]
impl StatusSink for BarSink {
    async fn progress(&self, _job_id: &str, st: &JobStatus) -> Result<bool> {
        self.0.set_position(st.progress as u64);
        let bars = st.ohlcv_records_loaded.unwrap_or(0);
        self.0.set_message(format!(
            "{} bars · {}",
            bars,
            st.current_symbol
                .clone()
                .or_else(|| st.message.clone())
                .unwrap_or_default()
        ));
        Ok(false)
    }
}

pub async fn load(g: &Global, a: &LoadArgs) -> Result<ExitCode> {
    // `--csv PATH` names the operator's own file: its folder becomes the CSV folder of
    // this run and the job names the file alone (jobs only read inside the CSV folder).
    let mut data = a.data.clone();
    let csv_file = a.csv.as_deref().map(|given| {
        let path = std::path::Path::new(given);
        match (
            path.parent().filter(|d| !d.as_os_str().is_empty()),
            path.file_name().and_then(|f| f.to_str()),
        ) {
            (Some(dir), Some(file)) => {
                data.csv_dir = Some(dir.to_path_buf());
                file.to_string()
            }
            _ => {
                if data.csv_dir.is_none() {
                    data.csv_dir = Some(PathBuf::from("."));
                }
                given.to_string()
            }
        }
    });
    let request = JobRequest {
        kind: if a.symbols.is_empty() {
            "csv_universe_load".into()
        } else {
            "multi_timeframe_load".into()
        },
        symbols: SymbolsInput::List(a.symbols.clone()),
        years: a.range.years.or(if a.range.from.is_none() {
            Some(1.0)
        } else {
            None
        }),
        start_date: a.range.from.clone(),
        end_date: a.range.to.clone(),
        timeframes: a.timeframes.clone(),
        universe_key: a.universe.clone(),
        csv_file,
        ..Default::default()
    };
    if a.symbols.is_empty() && a.universe.is_none() && a.csv.is_none() {
        return Err(Error::invalid("give --symbols, --universe or --csv"));
    }
    // Input first: nothing is opened for a request that cannot run.
    let builtin_ok = request.build(&g.requested_by, &|k| universe::find_builtin(k).is_some());
    if let Err(errors) = &builtin_ok {
        if errors.iter().any(|e| e.field != "universe") {
            return Err(field_errors_to_error(errors));
        }
    }
    let loader = data.loader(g).await?;
    // Beside workers on the same key, a load spends the key's shared budget (when a Redis
    // URL is given; without one, or while Redis is down, only this process counts).
    if g.redis_url_given {
        match Bus::connect(g.bus_config()?).await {
            Ok(bus) => {
                data.share_budget(loader.polygon(), &bus, "tickstock load")
                    .await
            }
            Err(e) => tracing::warn!(
                "Redis unreachable ({}); this load counts only its own Polygon requests",
                e.message()
            ),
        }
    }
    let known = loader.known_universes().await?;
    let job = request
        .build(&g.requested_by, &|k| known.contains(k))
        .map_err(|e| field_errors_to_error(&e))?;

    let bar = ProgressBar::new(100);
    bar.set_style(
        ProgressStyle::with_template("{elapsed_precise} [{bar:40}] {pos:>3}% {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    let mut status = JobStatus::new(JobState::Running);
    status.job_type = Some(job.job_type().as_str().into());
    status.submitted_at = job.timestamp.clone();
    status.started_at = Some(tickstock_protocol::status::iso_now());
    status.worker_id = Some("tickstock load".into());
    let history: Arc<dyn JobHistory> = Arc::new(StoreHistory(loader.store().clone()));
    let env = RunEnv {
        checkpoints: Arc::new(MemoryCheckpoints::default()),
        history: Some(history),
        // Ctrl-C cancels the load after its current chunk.
        cancel: ctrl_c_token(),
        shutdown: CancellationToken::new(),
        progress_every: Duration::from_millis(100),
        history_every: tickstock_jobs::runtime::HISTORY_EVERY,
    };
    let started = Instant::now();
    let host = Arc::new(ForegroundHost::new(Arc::new(BarSink(bar.clone()))));
    let end = run_job(&job, status, Arc::new(loader.clone()), host, env).await?;
    bar.finish_and_clear();
    let (fin, result) = match end {
        RunEnd::Finished { status, error } => (status, error.map_or(Ok(()), Err)),
        RunEnd::Released(status) => (status, Ok(())),
    };
    let state = fin.state;
    let error = result
        .as_ref()
        .err()
        .filter(|_| state == JobState::Failed)
        .map(|e| e.message().to_string());
    let mut left = fin
        .extra
        .get("symbols_to_describe")
        .and_then(serde_json::Value::as_u64)
        .unwrap_or(0) as usize;
    let mut described = 0;
    if a.describe && left > 0 {
        eprintln!(
            "Describing {} from ticker details",
            tickstock_protocol::text::count(left as u64, "symbol")
        );
        described = loader.describe_all(&fin.successful_symbols).await?;
        left = left.saturating_sub(described);
    }
    let seconds = started.elapsed().as_secs_f64();
    let bars = fin.ohlcv_records_loaded.unwrap_or(0);
    let summary = LoadSummary {
        job_id: job.id.clone(),
        status: state,
        symbols_ok: fin.successful_symbols.len(),
        symbols_failed: fin.failed_symbols.len(),
        failures: fin.failures.clone(),
        bars,
        seconds: (seconds * 1000.0).round() / 1000.0,
        bars_per_second: if seconds > 0.0 {
            (bars as f64 / seconds).round()
        } else {
            0.0
        },
        database: loader.store().describe(),
        error: error.clone(),
        described,
        symbols_to_describe: left,
    };
    if a.json {
        output::json(&summary);
    } else {
        println!(
            "{}: {} ok, {} failed, {} in {:.1} s ({:.0} bars/s) into {}",
            state,
            tickstock_protocol::text::count(summary.symbols_ok as u64, "symbol"),
            summary.symbols_failed,
            tickstock_protocol::text::count(bars, "bar"),
            seconds,
            summary.bars_per_second,
            summary.database
        );
        for f in &fin.failures {
            println!("  failed {}: {}", f.symbol, f.reason);
        }
        if described > 0 {
            println!(
                "  described {} from ticker details",
                tickstock_protocol::text::count(described as u64, "symbol")
            );
        }
        if left > 0 {
            println!(
                "  {} (or run with --describe)",
                tickstock_jobs::runtime::describe_note(left)
            );
        }
    }
    match (state, result) {
        (JobState::Completed, _) => Ok(ExitCode::SUCCESS),
        (JobState::CompletedWithErrors, _) => Ok(ExitCode::from(3)),
        (JobState::Cancelled, _) => Ok(ExitCode::from(1)),
        (_, Err(e)) => Err(e),
        (_, Ok(())) => Ok(ExitCode::from(1)),
    }
}

#[derive(Args)]
pub struct CoverageArgs {
    #[command(flatten)]
    pub data: DataArgs,
    /// Per symbol: first, last, bars, expected bars, completeness and sessions behind
    /// (comma-separated; `all` for every stored symbol). Without it, one row per table.
    #[arg(long, value_delimiter = ',')]
    pub symbols: Vec<String>,
    /// Timeframes for the per-symbol view (default: day).
    #[arg(long, value_delimiter = ',', default_value = "day")]
    pub timeframes: Vec<String>,
    /// First count the minute and hour tables into `bar_counts` again (after rows were
    /// written or deleted by others, e.g. TickStockPL), then report.
    #[arg(long)]
    pub rebuild: bool,
    #[arg(long)]
    pub json: bool,
}

fn parse_timeframes(list: &[String]) -> Result<Vec<Timeframe>> {
    list.iter()
        .map(|t| {
            t.trim()
                .parse::<Timeframe>()
                .map_err(|e| Error::invalid(format!("--timeframes: {e}")))
        })
        .collect()
}

fn parse_symbols(list: &[String]) -> Result<Vec<String>> {
    tickstock_protocol::job::normalize_symbols(list).map_err(|e| Error::invalid(e.message))
}

pub async fn coverage(g: &Global, a: &CoverageArgs) -> Result<ExitCode> {
    if a.rebuild {
        let store = a.data.store(g).await?;
        for (tf, rows) in store.rebuild_bar_counts().await? {
            eprintln!("counted {rows} {} bars", tf.wire_name());
        }
        store.close().await;
    }
    if !a.symbols.is_empty() {
        return symbol_coverage(g, a).await;
    }
    let store = a.data.read_store(g).await?;
    let cov = store.coverage().await?;
    if a.json {
        output::json(&cov);
    } else {
        println!(
            "{:<14} {:>12} {:>8}  {:<25} {:<25}",
            "TABLE", "ROWS", "SYMBOLS", "EARLIEST", "LATEST"
        );
        for c in cov {
            println!(
                "{:<14} {:>12} {:>8}  {:<25} {:<25}",
                c.table,
                c.rows,
                c.symbols,
                c.earliest.unwrap_or_else(|| "-".into()),
                c.latest.unwrap_or_else(|| "-".into())
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn symbol_coverage(g: &Global, a: &CoverageArgs) -> Result<ExitCode> {
    let tfs = parse_timeframes(&a.timeframes)?;
    let all = a.symbols.len() == 1 && a.symbols[0].trim().eq_ignore_ascii_case("all");
    let symbols = if all {
        None
    } else {
        Some(parse_symbols(&a.symbols)?)
    };
    let store = a.data.read_store(g).await?;
    let rows = tickstock_jobs::reads::completeness::coverage(
        &store,
        symbols.as_deref(),
        &tfs,
        chrono::Utc::now(),
    )
    .await?;
    if a.json {
        output::json(&rows);
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{:<8} {:<6} {:<22} {:<22} {:>10} {:>10} {:>7}  {:<8} {:>6}",
        "SYMBOL", "TF", "FIRST", "LAST", "BARS", "EXPECTED", "COMPL", "RATING", "BEHIND"
    );
    for r in &rows {
        println!(
            "{:<8} {:<6} {:<22} {:<22} {:>10} {:>10} {:>6.1}%  {:<8} {:>6}",
            r.symbol,
            r.timeframe.wire_name(),
            r.first,
            r.last,
            r.bars,
            r.expected,
            r.completeness * 100.0,
            r.rating,
            r.sessions_behind
        );
    }
    if let Some(list) = &symbols {
        for s in list {
            for tf in &tfs {
                if !rows.iter().any(|r| &r.symbol == s && r.timeframe == *tf) {
                    println!("{s:<8} {:<6} no bars stored", tf.wire_name());
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

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

#[derive(Args)]
pub struct UniverseArgs {
    #[command(flatten)]
    pub data: DataArgs,
    #[command(subcommand)]
    pub command: UniverseCommand,
}

#[derive(Subcommand)]
pub enum UniverseCommand {
    /// Every universe with its member count and as-of date.
    List {
        #[arg(long)]
        json: bool,
    },
    /// The members of a universe (or of several joined by `:`).
    Show {
        key: String,
        #[arg(long)]
        json: bool,
    },
    /// Creates or replaces a universe from a CSV file's `symbol` (or first) column.
    Import {
        key: String,
        file: PathBuf,
        /// Display name (default: the key).
        #[arg(long)]
        name: Option<String>,
    },
}

pub async fn universe_cmd(g: &Global, a: &UniverseArgs) -> Result<ExitCode> {
    if let UniverseCommand::Show { key, .. } = &a.command {
        if universe::split_keys(key).is_empty() {
            return Err(Error::invalid(
                "give a universe key (e.g. sp500, or SPY:nasdaq100)",
            ));
        }
    }
    let store = match &a.command {
        UniverseCommand::Import { .. } => a.data.store(g).await?,
        _ => a.data.read_store(g).await?,
    };
    match &a.command {
        UniverseCommand::List { json } => {
            let list = store.list_universes().await?;
            if *json {
                output::json(&list);
            } else {
                println!(
                    "{:<16} {:<24} {:<9} {:>7}  AS OF",
                    "KEY", "NAME", "KIND", "MEMBERS"
                );
                for u in list {
                    println!(
                        "{:<16} {:<24} {:<9} {:>7}  {}",
                        u.key,
                        u.name,
                        u.kind,
                        u.members,
                        u.as_of.map(|d| d.to_string()).unwrap_or_else(|| "-".into())
                    );
                }
            }
        }
        UniverseCommand::Show { key, json } => {
            let mut all: Vec<String> = Vec::new();
            for part in universe::split_keys(key) {
                let members = store
                    .universe_members(&part)
                    .await?
                    .ok_or_else(|| Error::invalid(format!("unknown universe key `{part}`")))?;
                for m in members {
                    if !all.contains(&m) {
                        all.push(m);
                    }
                }
            }
            if *json {
                output::json(&serde_json::json!({"key": key, "members": all}));
            } else {
                println!("{}", all.join("\n"));
            }
        }
        UniverseCommand::Import { key, file, name } => {
            if !universe::is_valid_key_syntax(key) {
                return Err(Error::invalid(format!(
                    "`{key}` is not a valid universe key (letters, digits, `_`, `-`)"
                )));
            }
            let text = std::fs::read_to_string(file)
                .map_err(|e| Error::invalid(format!("cannot read `{}`: {e}", file.display())))?;
            let members = universe::parse_members(&text);
            let members = tickstock_protocol::job::normalize_symbols(&members)
                .map_err(|e| Error::invalid(format!("{}: {}", file.display(), e.message)))?;
            store
                .replace_universe(
                    key,
                    name.as_deref().unwrap_or(key),
                    "UNIVERSE",
                    Some(chrono::Utc::now().date_naive()),
                    &members,
                )
                .await?;
            println!(
                "universe {} now has {} members",
                universe::canonical_key(key),
                members.len()
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
