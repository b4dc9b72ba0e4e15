//! `tickstock dead`: the dead letters: list, requeue through the job service, delete, purge.

use std::process::ExitCode;
use std::sync::Arc;

use clap::{Args, Subcommand};
use tickstock_jobs::service::{JobService, SubmitOptions};
use tickstock_protocol::text::{count, duration};
use tickstock_protocol::{Error, ErrorKind, Result};

use crate::jobs::{connect, history_store};
use crate::{output, Global};

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

pub async fn dead(g: &Global, a: &DeadArgs) -> Result<ExitCode> {
    let bus = connect(g).await?;
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
            let service = JobService::new(Arc::new(bus.clone()), history_store(g).await?);
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
