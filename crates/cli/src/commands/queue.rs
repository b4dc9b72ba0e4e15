//! `tickstock queue`: the waiting and in-flight jobs with their ages; pause and resume the queue.

use std::process::ExitCode;

use clap::{Args, Subcommand};
use tickstock_jobs::runtime::{Bus, HEARTBEAT_STALE_SECS};
use tickstock_protocol::text::{count, duration};
use tickstock_protocol::Result;

use crate::jobs::{connect, service};
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

pub async fn queue(g: &Global, a: &QueueArgs) -> Result<ExitCode> {
    match a.action {
        // Through the job service: the pause is kept in the history's database too
        // (`DATABASE_URL`), so workers put it back when Redis restarts empty.
        Some(QueueAction::Pause) => {
            if service(g).await?.pause_queue(&g.requested_by).await? {
                println!("Queue paused: running jobs finish, no new job starts");
            } else {
                println!("Queue already paused");
            }
            return Ok(ExitCode::SUCCESS);
        }
        Some(QueueAction::Resume) => {
            if service(g).await?.resume_queue().await? {
                println!("Queue resumed");
            } else {
                println!("Queue was not paused");
            }
            return Ok(ExitCode::SUCCESS);
        }
        None => {}
    }
    let bus = connect(g).await?;
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
