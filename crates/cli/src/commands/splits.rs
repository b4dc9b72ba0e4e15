//! `tickstock splits`: check stored symbols for splits at Polygon, list the symbols whose
//! stored bars predate a split's adjustment, and reload them through the job service.

use std::collections::HashMap;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use tickstock_jobs::runtime::Bus;
use tickstock_jobs::runtime::Store;
use tickstock_jobs::service::JobService;
use tickstock_jobs::splits::{self, SplitLine};
use tickstock_protocol::status::JobState;
use tickstock_protocol::{Error, Result};

use crate::data::DataArgs;
use crate::{output, Global};

#[derive(Args)]
pub struct SplitsArgs {
    #[command(flatten)]
    pub data: DataArgs,
    /// Comma-separated tickers (default: every stored symbol).
    #[arg(long, value_delimiter = ',')]
    pub symbols: Vec<String>,
    /// Submit a load of the stored range of each flagged symbol (one job per distinct
    /// range of its timeframes); the flag clears once those jobs completed.
    #[arg(long)]
    pub reload: bool,
    /// Only list what is recorded: ask Polygon nothing.
    #[arg(long)]
    pub no_check: bool,
    #[arg(long)]
    pub json: bool,
}

/// Job states for the reloads still waited for: the database's job history first, then
/// the bus (a job a TickStockPL worker ran is only there).
async fn reload_states(g: &Global, store: &Store) -> Result<HashMap<String, JobState>> {
    let mut states = HashMap::new();
    let mut unknown = Vec::new();
    for id in splits::pending_reload_jobs(store).await? {
        match splits::recorded_state(store, &id).await? {
            Some(s) if s.is_terminal() => {
                states.insert(id, s);
            }
            _ => unknown.push(id),
        }
    }
    if unknown.is_empty() {
        return Ok(states);
    }
    let bus = tokio::time::timeout(Duration::from_secs(3), async {
        Bus::connect(g.bus_config()?).await
    })
    .await;
    if let Ok(Ok(bus)) = bus {
        for id in unknown {
            if let Ok(Some(st)) = bus.status(&id).await {
                states.insert(id, st.state);
            }
        }
    }
    Ok(states)
}

pub async fn splits_cmd(g: &Global, a: &SplitsArgs) -> Result<ExitCode> {
    let symbols = if a.symbols.is_empty() {
        None
    } else {
        Some(
            tickstock_protocol::job::normalize_symbols(&a.symbols)
                .map_err(|e| Error::invalid(format!("--symbols: {}", e.message)))?,
        )
    };
    let store = a.data.store(g).await?;
    let states = reload_states(g, &store).await?;
    splits::settle_reloads(&store, &states).await?;

    let rows = if a.no_check {
        store.split_checks(symbols.as_deref()).await?
    } else {
        let polygon = a.data.polygon().map_err(|e| {
            Error::new(
                e.kind(),
                format!("{} (or --no-check to list what is recorded)", e.message()),
            )
        })?;
        let today = tickstock_protocol::bars::ny_date(chrono::Utc::now().timestamp_millis());
        splits::check(&store, &polygon, symbols.as_deref(), today).await?
    };

    if a.reload {
        // Through the job service: recorded in this database's history, and a reload
        // identical to an active job is not submitted again (that job reloads the symbol).
        let service = JobService::new(
            Arc::new(Bus::connect(g.bus_config()?).await?),
            Some(store.clone()),
        );
        let done =
            splits::submit_reloads(&store, &service, symbols.as_deref(), &g.requested_by).await?;
        if a.json {
            output::json(&done);
        } else if done.0.is_empty() {
            println!("no flagged symbol to reload");
        } else {
            for r in &done.0 {
                let ids: Vec<String> = r
                    .job_ids
                    .iter()
                    .map(|id| {
                        if r.already_active.contains(id) {
                            format!("{id} (already active)")
                        } else {
                            id.clone()
                        }
                    })
                    .collect();
                println!("{} {}", r.symbol, ids.join(" "));
            }
        }
        return Ok(ExitCode::SUCCESS);
    }

    let lines: Vec<SplitLine> = rows.into_iter().map(SplitLine::from).collect();
    if a.json {
        output::json(&lines);
        return Ok(ExitCode::SUCCESS);
    }
    if lines.is_empty() {
        println!("no splits recorded for the stored symbols");
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{:<8} {:<10} {:>9}  {:<10} DETAIL",
        "SYMBOL", "DATE", "RATIO", "STATE"
    );
    for l in &lines {
        println!(
            "{:<8} {:<10} {:>9}  {:<10} {}",
            l.symbol,
            l.execution_date,
            format!("{}:{}", l.split_to, l.split_from),
            l.state,
            l.detail.as_deref().unwrap_or("")
        );
    }
    let flagged = lines.iter().filter(|l| l.state == splits::FLAGGED).count();
    if flagged > 0 {
        println!("{flagged} flagged: `tickstock splits --reload` loads their stored range again");
    }
    Ok(ExitCode::SUCCESS)
}
