//! `tickstock workers`: the workers as an operator reads them; quiet, stop or resume one.

use std::process::ExitCode;

use clap::{Args, Subcommand};
use tickstock_jobs::runtime::WorkerCommand;
use tickstock_protocol::text::duration;
use tickstock_protocol::Result;

use crate::jobs::connect;
use crate::{output, Global};

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

pub async fn workers(g: &Global, a: &WorkersArgs) -> Result<ExitCode> {
    let bus = connect(g).await?;
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
