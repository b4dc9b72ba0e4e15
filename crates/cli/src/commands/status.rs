//! `tickstock status`: one job's state, by id or the unique prefix the page shows.

use std::process::ExitCode;
use std::time::Duration;

use clap::Args;

use tickstock_protocol::status::JobState;
use tickstock_protocol::{Error, ErrorKind, Result};

use crate::jobs::reader;
use crate::output;
use crate::Global;

#[derive(Args)]
pub struct StatusArgs {
    pub job_id: String,
    /// Print the status as JSON.
    #[arg(long)]
    pub json: bool,
    /// Keep printing changes until the job ends (exit 0 completed, 3 with errors, 1 otherwise).
    #[arg(long)]
    pub watch: bool,
}

fn exit_for(state: JobState) -> ExitCode {
    match state {
        JobState::Completed => ExitCode::SUCCESS,
        JobState::CompletedWithErrors => ExitCode::from(3),
        _ => ExitCode::from(1),
    }
}

fn not_found(id: &str) -> Error {
    Error::new(
        ErrorKind::NotFound,
        format!("no job `{id}` (unknown, or its status expired)"),
    )
}

pub async fn status(g: &Global, a: &StatusArgs) -> Result<ExitCode> {
    let id = a.job_id.trim();
    if id.is_empty() {
        return Err(Error::invalid("job id is empty"));
    }
    let service = reader(g).await?;
    // The page shows the first eight characters of an id: a unique start is enough.
    let id = &service.resolve_id(id).await?;
    if !a.watch {
        let st = service.status(id).await?.ok_or_else(|| not_found(id))?;
        if a.json {
            output::json(&serde_json::json!({"job_id": id, "status": st}));
        } else {
            print!("{}", output::status_text(id, &st));
        }
        return Ok(ExitCode::SUCCESS);
    }
    // Watch: print each change; ride out Redis outages.
    let mut last = String::new();
    let mut outage = false;
    let mut missing = 0u32;
    loop {
        match service.status(id).await {
            Ok(Some(st)) => {
                if outage {
                    eprintln!("Redis is back");
                    outage = false;
                }
                missing = 0;
                let line = format!(
                    "{} {}% {}",
                    st.state,
                    st.progress,
                    st.message.clone().unwrap_or_default()
                );
                if line != last {
                    if a.json {
                        println!("{}", serde_json::json!({"job_id": id, "status": st}));
                    } else {
                        println!("{line}");
                    }
                    last = line;
                }
                if st.state.is_terminal() {
                    return Ok(exit_for(st.state));
                }
            }
            Ok(None) => {
                missing += 1;
                if missing > 20 {
                    return Err(not_found(id));
                }
            }
            Err(e) => {
                if !outage {
                    eprintln!("waiting for Redis: {}", e.message());
                    outage = true;
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}
