//! The operations console headless: `queue` (with `pause`/`resume`), `workers` (with
//! `quiet`/`stop`/`resume`), `dead` (`list`/`requeue`/`rm`/`purge`) and `history` over
//! the job history of `DATABASE_URL`.

use std::process::ExitCode;
use std::sync::Arc;

use chrono::{NaiveDate, NaiveTime};
use clap::{Args, Subcommand};
use tickstock_jobs::reads::history_query::{HistoryPosition, HistoryQuery};
use tickstock_jobs::runtime::Store;
use tickstock_jobs::runtime::{Bus, WorkerCommand, HEARTBEAT_STALE_SECS};
use tickstock_jobs::service::{JobService, SubmitOptions};
use tickstock_protocol::text::{count, duration};
use tickstock_protocol::{Error, ErrorKind, Result};

use crate::{output, Global};

#[derive(Args)]
pub struct QueueArgs {
    #[command(subcommand)]
    pub action: Option<QueueAction>,
    /// Print the queue as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Subcommand, Clone, Copy)]
pub enum QueueAction {
    /// Pause the queue: running jobs finish, no worker of ours starts another.
    Pause,
    /// Resume a paused queue.
    Resume,
}

#[derive(Args)]
pub struct WorkersArgs {
    #[command(subcommand)]
    pub action: Option<WorkerAction>,
    #[arg(long)]
    pub json: bool,
}

#[derive(Subcommand)]
pub enum WorkerAction {
    /// Finish current jobs and take no more.
    Quiet { id: String },
    /// Stop as on SIGTERM: the current chunk finishes, the job is handed back.
    Stop { id: String },
    /// Withdraw a quiet or stop command not yet carried out.
    Resume { id: String },
}

#[derive(Args)]
pub struct DeadArgs {
    #[command(subcommand)]
    pub action: DeadAction,
}

#[derive(Subcommand)]
pub enum DeadAction {
    /// The dead letters, newest first.
    List {
        #[arg(long)]
        json: bool,
        #[arg(long, default_value_t = 200)]
        limit: usize,
    },
    /// Queue a dead letter's job again (it resumes from its checkpoints); refused while an
    /// identical job is active.
    Requeue {
        id: String,
        /// Queue it even when an identical job (same kind and parameters) is active.
        #[arg(long)]
        allow_duplicate: bool,
    },
    /// Delete one dead letter.
    Rm { id: String },
    /// Delete every dead letter.
    Purge,
}

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

async fn bus(g: &Global) -> Result<Bus> {
    Bus::connect(g.bus_config()?).await
}

pub async fn queue(g: &Global, a: &QueueArgs) -> Result<ExitCode> {
    let bus = bus(g).await?;
    match a.action {
        Some(QueueAction::Pause) => {
            if bus.pause_queue(&g.requested_by).await? {
                println!("Queue paused: running jobs finish, no new job starts");
            } else {
                println!("Queue already paused");
            }
            return Ok(ExitCode::SUCCESS);
        }
        Some(QueueAction::Resume) => {
            if bus.resume_queue().await? {
                println!("Queue resumed");
            } else {
                println!("Queue was not paused");
            }
            return Ok(ExitCode::SUCCESS);
        }
        None => {}
    }
    let view = bus.queue_view().await?;
    let warning = no_taker(&bus, view.waiting_total, view.paused.is_some()).await;
    if a.json {
        output::json(&view);
        warn_after(warning);
        return Ok(ExitCode::SUCCESS);
    }
    match &view.paused {
        Some(p) => println!("PAUSED by {} at {}", p.requested_by, p.paused_at),
        None => println!("running"),
    }
    println!(
        "{} waiting, {} in flight, {} dead",
        view.waiting_total, view.in_flight_total, view.dead
    );
    if !view.waiting.is_empty() {
        println!(
            "\nWAITING  {:<36}  {:<21}  {:<12}  AGE",
            "JOB", "KIND", "BY"
        );
        for j in &view.waiting {
            println!(
                "         {:<36}  {:<21}  {:<12}  {}",
                j.job_id.as_deref().unwrap_or("-"),
                j.kind.as_deref().unwrap_or("-"),
                j.requested_by.as_deref().unwrap_or("-"),
                duration(j.age_seconds)
            );
        }
    }
    if !view.in_flight.is_empty() {
        println!(
            "\nIN FLIGHT {:<36}  {:<21}  {:<30}  {:>5}  AGE",
            "JOB", "KIND", "WORKER", "TRIES"
        );
        for j in &view.in_flight {
            println!(
                "          {:<36}  {:<21}  {:<30}  {:>5}  {}",
                j.job_id.as_deref().unwrap_or("-"),
                j.kind.as_deref().unwrap_or("-"),
                j.worker,
                j.deliveries,
                duration(j.age_seconds)
            );
        }
    }
    warn_after(warning);
    Ok(ExitCode::SUCCESS)
}

/// Why the waiting jobs will not start, when no live worker is there to take them (a
/// paused queue is said on the first line already).
async fn no_taker(bus: &Bus, waiting: u64, paused: bool) -> Option<String> {
    if waiting == 0 || paused {
        return None;
    }
    let health = bus
        .health(std::time::Duration::from_secs_f64(HEARTBEAT_STALE_SECS))
        .await;
    (!health.any_worker_alive()).then(|| {
        format!(
            "no live worker is listening: {} {} until one starts (tickstock worker, or the app's built-in worker)",
            count(waiting, "job"),
            if waiting == 1 { "waits" } else { "wait" }
        )
    })
}

/// A warning on stderr, on a line of its own after everything printed on stdout.
fn warn_after(warning: Option<String>) {
    if let Some(w) = warning {
        use std::io::Write;
        let _ = std::io::stdout().flush();
        eprintln!("warning: {w}");
    }
}

pub async fn workers(g: &Global, a: &WorkersArgs) -> Result<ExitCode> {
    let bus = bus(g).await?;
    let (id, command) = match &a.action {
        Some(WorkerAction::Quiet { id }) => (id, Some(WorkerCommand::Quiet)),
        Some(WorkerAction::Stop { id }) => (id, Some(WorkerCommand::Stop)),
        Some(WorkerAction::Resume { id }) => (id, None),
        None => {
            let rows = bus.worker_rows().await?;
            if a.json {
                output::json(&rows);
                return Ok(ExitCode::SUCCESS);
            }
            if rows.is_empty() {
                println!("No worker has sent a heartbeat in the last day");
            }
            for w in &rows {
                let i = &w.info;
                println!(
                    "{}  {:?}  host {} pid {} version {} started {} concurrency {} jobs [{}] last heartbeat {} ago",
                    i.id,
                    w.state,
                    i.host.as_deref().unwrap_or("-"),
                    i.pid.map(|p| p.to_string()).unwrap_or_else(|| "-".into()),
                    i.version.as_deref().unwrap_or("-"),
                    i.started_at.as_deref().unwrap_or("-"),
                    i.concurrency.map(|c| c.to_string()).unwrap_or_else(|| "-".into()),
                    i.current_jobs.join(","),
                    duration(i.age_seconds),
                );
            }
            return Ok(ExitCode::SUCCESS);
        }
    };
    match command {
        Some(c) => {
            bus.send_worker_command(id, c, &g.requested_by).await?;
            println!(
                "Worker {id} told to {}",
                match c {
                    WorkerCommand::Quiet => "finish its jobs and take no more",
                    WorkerCommand::Stop => "stop",
                }
            );
        }
        None => {
            if bus.clear_worker_command(id).await? {
                println!("Worker {id} takes jobs again");
            } else {
                println!("Worker {id} had no command to withdraw");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The history's database (`DATABASE_URL`), required by the commands that read it.
async fn history_db(g: &Global) -> Result<Store> {
    let url = std::env::var("DATABASE_URL")
        .ok()
        .filter(|u| !u.trim().is_empty())
        .ok_or_else(|| {
            Error::new(
                ErrorKind::Config,
                "No job history: set DATABASE_URL to the database the workers write",
            )
        })?;
    Ok(Store::connect_with(&url, &g.store_options()?).await?)
}

/// The history database when `DATABASE_URL` is set.
async fn maybe_history_db(g: &Global) -> Result<Option<Store>> {
    match std::env::var("DATABASE_URL") {
        Ok(u) if !u.trim().is_empty() => Ok(Some(history_db(g).await?)),
        _ => Ok(None),
    }
}

pub async fn dead(g: &Global, a: &DeadArgs) -> Result<ExitCode> {
    let bus = bus(g).await?;
    match &a.action {
        DeadAction::List { json, limit } => {
            let list = bus.dead_letters(*limit).await?;
            if *json {
                output::json(&list);
            } else if list.is_empty() {
                println!("No dead letters");
            } else {
                println!(
                    "{:<18}  {:<36}  {:<21}  {:>5}  {:<9}  REASON",
                    "ID", "JOB", "KIND", "TRIES", "AGE"
                );
                for d in &list {
                    println!(
                        "{:<18}  {:<36}  {:<21}  {:>5}  {:<9}  {}",
                        d.id,
                        d.job_id.as_deref().unwrap_or("-"),
                        d.kind.as_deref().unwrap_or("-"),
                        d.deliveries,
                        duration(d.age_seconds),
                        d.reason
                    );
                }
            }
        }
        DeadAction::Requeue {
            id,
            allow_duplicate,
        } => {
            let service = JobService::new(Arc::new(bus.clone()), maybe_history_db(g).await?);
            let job = service
                .requeue_dead(
                    id,
                    &g.requested_by,
                    SubmitOptions {
                        allow_duplicate: *allow_duplicate,
                    },
                )
                .await
                .map_err(crate::jobs::flag_names)?;
            println!("{}", job.id);
        }
        DeadAction::Rm { id } => {
            if !bus.delete_dead_letter(id).await? {
                return Err(Error::new(
                    ErrorKind::NotFound,
                    format!(
                        "No dead letter {}",
                        tickstock_protocol::error::quote_input(id)
                    ),
                ));
            }
            println!("Dead letter {id} deleted");
        }
        DeadAction::Purge => {
            let n = bus.purge_dead_letters().await?;
            println!("{} deleted", count(n, "dead letter"));
        }
    }
    Ok(ExitCode::SUCCESS)
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
