//! `tickstock load`: one job run in the foreground, with no Redis, through the same lifecycle as a worker.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;
use tickstock_jobs::runtime::Bus;
use tickstock_jobs::runtime::Loader;
use tickstock_jobs::runtime::StoreHistory;
use tickstock_jobs::runtime::{run_job, ForegroundHost, RunEnd, RunEnv};
use tickstock_jobs::runtime::{JobHistory, MemoryCheckpoints, StatusSink};
use tickstock_protocol::job::{field_errors_to_error, Job, JobRequest, SymbolsInput};
use tickstock_protocol::status::{JobState, JobStatus};
use tickstock_protocol::{universe, Error, Result};
use tokio_util::sync::CancellationToken;

use crate::data::{ctrl_c_token, DataArgs, RangeArgs};
use crate::{output, Global};

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
    let (loader, job) = prepare(g, a).await?;
    let (started, end) = run(&loader, &job).await?;
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
    let (described, left) = describe(a, &loader, &fin).await?;
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
        error,
        described,
        symbols_to_describe: left,
    };
    if a.json {
        output::json(&summary);
    } else {
        print_summary(&summary, seconds);
    }
    match (state, result) {
        (JobState::Completed, _) => Ok(ExitCode::SUCCESS),
        (JobState::CompletedWithErrors, _) => Ok(ExitCode::from(3)),
        (JobState::Cancelled, _) => Ok(ExitCode::from(1)),
        (_, Err(e)) => Err(e),
        (_, Ok(())) => Ok(ExitCode::from(1)),
    }
}

/// The job the arguments ask for, checked before anything is opened, and the loader it
/// runs on.
async fn prepare(g: &Global, a: &LoadArgs) -> Result<(Loader, Job)> {
    let (data, request) = request(a);
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
    share_budget(g, &data, &loader).await?;
    let known = loader.known_universes().await?;
    let job = request
        .build(&g.requested_by, &|k| known.contains(k))
        .map_err(|e| field_errors_to_error(&e))?;
    Ok((loader, job))
}

/// The request of the arguments, with the data settings it runs with.
fn request(a: &LoadArgs) -> (DataArgs, JobRequest) {
    let mut data = a.data.clone();
    let csv_file = a.csv.as_deref().map(|given| csv_file(&mut data, given));
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
    (data, request)
}

/// `--csv PATH` names the operator's own file: its folder becomes the CSV folder of this
/// run and the job names the file alone (jobs only read inside the CSV folder).
fn csv_file(data: &mut DataArgs, given: &str) -> String {
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
}

/// Beside workers on the same key, a load spends the key's shared budget (when a Redis
/// URL is given; without one, or while Redis is down, only this process counts).
async fn share_budget(g: &Global, data: &DataArgs, loader: &Loader) -> Result<()> {
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
    Ok(())
}

/// Runs the job here through a worker's lifecycle, its progress on a terminal bar: when
/// it started, and how it ended.
async fn run(loader: &Loader, job: &Job) -> Result<(Instant, RunEnd)> {
    let bar = progress_bar();
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
    let end = run_job(job, status, Arc::new(loader.clone()), host, env).await?;
    bar.finish_and_clear();
    Ok((started, end))
}

fn progress_bar() -> ProgressBar {
    let bar = ProgressBar::new(100);
    bar.set_style(
        ProgressStyle::with_template("{elapsed_precise} [{bar:40}] {pos:>3}% {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar
}

/// With `--describe`, the loaded symbols still to describe are described now: how many
/// were, and how many are left.
async fn describe(a: &LoadArgs, loader: &Loader, fin: &JobStatus) -> Result<(usize, usize)> {
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
    Ok((described, left))
}

/// The summary as text, with `seconds` as measured (not rounded).
fn print_summary(summary: &LoadSummary, seconds: f64) {
    println!(
        "{}: {} ok, {} failed, {} in {:.1} s ({:.0} bars/s) into {}",
        summary.status,
        tickstock_protocol::text::count(summary.symbols_ok as u64, "symbol"),
        summary.symbols_failed,
        tickstock_protocol::text::count(summary.bars, "bar"),
        seconds,
        summary.bars_per_second,
        summary.database
    );
    for f in &summary.failures {
        println!("  failed {}: {}", f.symbol, f.reason);
    }
    if summary.described > 0 {
        println!(
            "  described {} from ticker details",
            tickstock_protocol::text::count(summary.described as u64, "symbol")
        );
    }
    if summary.symbols_to_describe > 0 {
        println!(
            "  {} (or run with --describe)",
            tickstock_jobs::runtime::describe_note(summary.symbols_to_describe)
        );
    }
}
