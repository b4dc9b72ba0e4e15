//! `tickstock cancel`: a job cancelled through the job service.

use std::process::ExitCode;

use clap::Args;

use tickstock_protocol::Result;

use crate::jobs::service;
use crate::output;
use crate::Global;

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
