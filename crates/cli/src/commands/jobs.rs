//! `tickstock jobs`: the recent jobs of the bus.

use std::process::ExitCode;

use clap::Args;

use tickstock_protocol::Result;

use crate::jobs::reader;
use crate::output;
use crate::Global;

#[derive(Args)]
pub struct JobsArgs {
    #[arg(long)]
    pub json: bool,
    /// Only waiting and running jobs.
    #[arg(long)]
    pub active: bool,
    /// How many recent jobs.
    #[arg(long, default_value_t = 50)]
    pub limit: usize,
}

pub async fn list(g: &Global, a: &JobsArgs) -> Result<ExitCode> {
    let service = reader(g).await?;
    let entries = if a.active {
        service.active().await?
    } else {
        service.recent(a.limit).await?
    };
    if a.json {
        output::json(&entries);
    } else {
        print!("{}", output::jobs_table(&entries));
    }
    Ok(ExitCode::SUCCESS)
}
