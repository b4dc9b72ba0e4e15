//! What the data commands share: where data goes and comes from ([`DataArgs`]: the
//! database, Polygon, its plan), the range and list arguments, and the stop signals.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use secrecy::SecretString;
use tickstock_jobs::runtime::Bus;
use tickstock_jobs::runtime::Store;
use tickstock_jobs::runtime::{Loader, LoaderConfig};
use tickstock_jobs::runtime::{PolygonClient, PolygonConfig};
use tickstock_protocol::{Error, ErrorKind, Result, Timeframe};
use tokio_util::sync::CancellationToken;

use crate::Global;

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
pub(crate) async fn stop_signal() -> i32 {
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
pub(crate) fn ctrl_c_token() -> CancellationToken {
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

pub(crate) fn parse_timeframes(list: &[String]) -> Result<Vec<Timeframe>> {
    list.iter()
        .map(|t| {
            t.trim()
                .parse::<Timeframe>()
                .map_err(|e| Error::invalid(format!("--timeframes: {e}")))
        })
        .collect()
}

pub(crate) fn parse_symbols(list: &[String]) -> Result<Vec<String>> {
    tickstock_protocol::job::normalize_symbols(list).map_err(|e| Error::invalid(e.message))
}
