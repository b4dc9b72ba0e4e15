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
use tickstock_core::bus::Bus;
use tickstock_core::exec::{run_to_end, JobHistory, ProgressHandle, StatusSink};
use tickstock_core::history::StoreHistory;
use tickstock_core::job::{field_errors_to_error, JobRequest, SymbolsInput};
use tickstock_core::loader::{Loader, LoaderConfig};
use tickstock_core::polygon::{PolygonClient, PolygonConfig};
use tickstock_core::status::{JobState, JobStatus};
use tickstock_core::store::Store;
use tickstock_core::worker::{Worker, WorkerConfig};
use tickstock_core::{universe, Error, ErrorKind, Result};
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
    #[arg(long, global = true, env = "POLYGON_BASE_URL", default_value = tickstock_core::settings::DEFAULT_POLYGON_URL)]
    pub polygon_url: String,
    /// Polygon API key.
    #[arg(long, global = true, env = "POLYGON_API_KEY", hide_env_values = true)]
    pub api_key: Option<String>,
    /// The plan's requests per minute (0 = unlimited; the free plan allows 5).
    #[arg(long, global = true, env = "POLYGON_RPM", default_value_t = 5)]
    pub requests_per_minute: u32,
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
        let cfg = PolygonConfig::new(self.polygon_url.clone(), SecretString::from(key))
            .with_requests_per_minute(self.requests_per_minute);
        Ok(PolygonClient::new(cfg)?)
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

/// Cancelled on Ctrl-C (SIGINT) or SIGTERM, as sent by systemd, `docker stop` and
/// Kubernetes: the current chunk finishes and a worker's job is released. A second signal
/// exits at once.
fn ctrl_c_token() -> CancellationToken {
    let token = CancellationToken::new();
    let t = token.clone();
    tokio::spawn(async move {
        if stop_signal().await {
            eprintln!(
                "stopping: finishing the current chunk (a second Ctrl-C or SIGTERM forces it)"
            );
            t.cancel();
            stop_signal().await;
            std::process::exit(130);
        }
    });
    token
}

/// Waits for SIGINT or SIGTERM; false when no handler could be installed.
async fn stop_signal() -> bool {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let Ok(mut term) = signal(SignalKind::terminate()) else {
            return tokio::signal::ctrl_c().await.is_ok();
        };
        tokio::select! {
            r = tokio::signal::ctrl_c() => r.is_ok(),
            _ = term.recv() => true,
        }
    }
    #[cfg(not(unix))]
    {
        tokio::signal::ctrl_c().await.is_ok()
    }
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
}

pub async fn worker(g: &Global, a: &WorkerArgs) -> Result<ExitCode> {
    if a.concurrency == 0 || a.concurrency > 64 {
        return Err(Error::invalid("--concurrency must be between 1 and 64"));
    }
    let loader = a.data.loader(g).await?;
    let history: Arc<dyn JobHistory> = Arc::new(StoreHistory(loader.store().clone()));
    let bus = Bus::connect(g.bus_config()?).await?;
    let shutdown = ctrl_c_token();
    let cfg = WorkerConfig {
        id: a.worker_id.clone(),
        concurrency: a.concurrency,
        claim_idle: Duration::from_secs(a.claim_idle_secs.max(1)),
        max_deliveries: a.max_deliveries.max(1),
        listen_legacy: a.listen_legacy,
        ..WorkerConfig::default()
    };
    let w = Worker::with_history(bus, Arc::new(loader.clone()), cfg, shutdown, Some(history));
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
    pub failures: Vec<tickstock_core::status::SymbolFailure>,
    pub bars: u64,
    pub seconds: f64,
    pub bars_per_second: f64,
    pub database: String,
    pub error: Option<String>,
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
        csv_file: a.csv.clone(),
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
    let loader = a.data.loader(g).await?;
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
    status.started_at = Some(tickstock_core::bus::iso_now());
    status.worker_id = Some("tickstock load".into());
    let progress = ProgressHandle::new(
        &job.id,
        status,
        Arc::new(BarSink(bar.clone())),
        Duration::from_millis(100),
        CancellationToken::new(),
    );
    let history = StoreHistory(loader.store().clone());
    let _ = history.record(&job, &progress.snapshot()).await;
    let started = Instant::now();
    let (result, fin) = run_to_end(&loader, &job, &progress, ctrl_c_token()).await;
    bar.finish_and_clear();
    let _ = history.record(&job, &fin).await;
    let state = fin.state;
    let error = result
        .as_ref()
        .err()
        .filter(|_| state == JobState::Failed)
        .map(|e| e.message().to_string());
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
    };
    if a.json {
        output::json(&summary);
    } else {
        println!(
            "{}: {} symbols ok, {} failed, {} bars in {:.1} s ({:.0} bars/s) into {}",
            state,
            summary.symbols_ok,
            summary.symbols_failed,
            bars,
            seconds,
            summary.bars_per_second,
            summary.database
        );
        for f in &fin.failures {
            println!("  failed {}: {}", f.symbol, f.reason);
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
    #[arg(long)]
    pub json: bool,
}

pub async fn coverage(g: &Global, a: &CoverageArgs) -> Result<ExitCode> {
    let store = a.data.store(g).await?;
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
    let store = a.data.store(g).await?;
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
            let members = tickstock_core::job::normalize_symbols(&members)
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
