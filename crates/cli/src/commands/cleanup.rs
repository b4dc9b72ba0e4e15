//! `tickstock cleanup` and `tickstock clear`: stale jobs marked failed, finished jobs cleared.

use std::process::ExitCode;

use clap::Args;

use tickstock_protocol::Result;

use crate::jobs::service;
use crate::output;
use crate::Global;

#[derive(Args)]
pub struct CleanupArgs {
    #[arg(long)]
    pub json: bool,
}

/// Marks stale jobs failed: active with no live worker and no progress for 10 minutes,
/// and history rows (of `DATABASE_URL`) left active by a worker that is gone.
pub async fn cleanup(g: &Global, a: &CleanupArgs) -> Result<ExitCode> {
    let service = service(g).await?;
    let marked = if service.store().is_some() {
        service.cleanup_stale().await?
    } else {
        service.cleanup_stale_on_queue().await?
    };
    if a.json {
        output::json(&serde_json::json!({ "marked": marked }));
    } else {
        println!(
            "{marked} stale job{} marked failed",
            if marked == 1 { "" } else { "s" }
        );
    }
    Ok(ExitCode::SUCCESS)
}

#[derive(Args)]
pub struct ClearArgs {
    /// The first characters of the job ids to clear (at least 4).
    #[arg(long)]
    pub prefix: String,
    #[arg(long)]
    pub json: bool,
}

/// Deletes finished jobs whose id starts with the prefix from Redis and from the history
/// of `DATABASE_URL`, when set; active jobs are left alone.
pub async fn clear(g: &Global, a: &ClearArgs) -> Result<ExitCode> {
    let service = service(g).await?;
    let cleared = service.clear(&a.prefix).await?;
    if a.json {
        output::json(&serde_json::json!({ "cleared": cleared }));
    } else {
        println!(
            "{cleared} finished job{} cleared",
            if cleared == 1 { "" } else { "s" }
        );
    }
    Ok(ExitCode::SUCCESS)
}
