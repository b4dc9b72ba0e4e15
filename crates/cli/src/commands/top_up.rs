//! `tickstock top-up`: stored symbols brought up to the last closed session, through the job service.

use std::process::ExitCode;

use clap::Args;

use tickstock_jobs::service::SubmitOptions;
use tickstock_protocol::job::{JobRequest, SymbolsInput};
use tickstock_protocol::Result;

use crate::data::RangeArgs;
use crate::jobs::{flag_names, service, submit_store};
use crate::output;
use crate::Global;

#[derive(Args)]
pub struct TopUpArgs {
    /// Comma-separated tickers.
    #[arg(long, value_delimiter = ',', required_unless_present = "universe")]
    pub symbols: Vec<String>,
    /// A universe key (joined keys `A:B` for the union) instead of --symbols.
    #[arg(long, conflicts_with = "symbols")]
    pub universe: Option<String>,
    /// Comma-separated: 1min, hour, day, week, month.
    #[arg(long, value_delimiter = ',', default_value = "day")]
    pub timeframes: Vec<String>,
    /// Load only the sessions missing in the range (`tickstock gaps`), not from the last
    /// stored bar on.
    #[arg(long)]
    pub fill: bool,
    /// The range a fill checks, and where a top-up of a symbol with no bars starts.
    #[command(flatten)]
    pub range: RangeArgs,
    /// Queue the top-up even when an identical one (same symbols, timeframes and range)
    /// is active.
    #[arg(long)]
    pub allow_duplicate: bool,
    /// Print `{"job_id", "symbols"}`.
    #[arg(long)]
    pub json: bool,
}

/// Submits a `top_up` job (ours; never sent to TickStockPL workers): each symbol from its
/// last stored bar to the last closed session, or with --fill only its missing sessions.
pub async fn top_up(g: &Global, a: &TopUpArgs) -> Result<ExitCode> {
    let symbols = match &a.universe {
        Some(key) => {
            let store = submit_store(g).await?;
            let probe = tickstock_protocol::job::Job::new(
                tickstock_protocol::job::JobSpec::UniverseSeed {
                    universe_type: key.clone(),
                    refresh: false,
                    range: Default::default(),
                },
                &g.requested_by,
            );
            tickstock_jobs::runtime::resolve_for_publish(probe, store.as_ref())
                .await?
                .message_symbols()
                .unwrap_or_default()
        }
        None => a.symbols.clone(),
    };
    let request = JobRequest {
        kind: "top_up".into(),
        symbols: SymbolsInput::List(symbols),
        timeframes: a.timeframes.clone(),
        fill: a.fill,
        years: a.range.years.or(if a.range.from.is_none() {
            Some(1.0)
        } else {
            None
        }),
        start_date: a.range.from.clone(),
        end_date: a.range.to.clone(),
        ..Default::default()
    };
    let job = request
        .build(&g.requested_by, &|_| false)
        .map_err(|e| tickstock_protocol::job::field_errors_to_error(&e))?;
    // Through the job service like every submit: recorded in the history of
    // `DATABASE_URL` when set, and refused when an identical top-up is active.
    let submitted = service(g)
        .await?
        .submit_with(
            job,
            SubmitOptions {
                allow_duplicate: a.allow_duplicate,
            },
        )
        .await
        .map_err(flag_names)?;
    let job = submitted.job;
    if let Some(w) = submitted.warning {
        eprintln!("warning: {w}");
    }
    if a.json {
        output::json(&serde_json::json!({
            "job_id": job.id,
            "symbols": job.spec.symbols().map(<[String]>::len).unwrap_or(0),
        }));
    } else {
        println!("{}", job.id);
    }
    Ok(ExitCode::SUCCESS)
}
