//! `tickstock coverage`: what is stored, per timeframe or per symbol.

use std::process::ExitCode;

use clap::Args;
use tickstock_protocol::Result;

use crate::data::{parse_symbols, parse_timeframes, DataArgs};
use crate::{output, Global};

#[derive(Args)]
pub struct CoverageArgs {
    #[command(flatten)]
    pub data: DataArgs,
    /// Per symbol: first, last, bars, expected bars, completeness and sessions behind
    /// (comma-separated; `all` for every stored symbol). Without it, one row per table.
    #[arg(long, value_delimiter = ',')]
    pub symbols: Vec<String>,
    /// Timeframes for the per-symbol view (default: day).
    #[arg(long, value_delimiter = ',', default_value = "day")]
    pub timeframes: Vec<String>,
    /// First count the minute and hour tables into `bar_counts` again (after rows were
    /// written or deleted by others, e.g. TickStockPL), then report.
    #[arg(long)]
    pub rebuild: bool,
    #[arg(long)]
    pub json: bool,
}

pub async fn coverage(g: &Global, a: &CoverageArgs) -> Result<ExitCode> {
    if a.rebuild {
        let store = a.data.store(g).await?;
        for (tf, rows) in store.rebuild_bar_counts().await? {
            eprintln!("counted {rows} {} bars", tf.wire_name());
        }
        store.close().await;
    }
    if !a.symbols.is_empty() {
        return symbol_coverage(g, a).await;
    }
    let store = a.data.read_store(g).await?;
    let cov = store.coverage().await?;
    if a.json {
        output::json(&cov);
    } else {
        println!(
            "{:<14} {:>12} {:>8}  {:<25} {:<25}",
            "TABLE", "ROWS", "SYMBOLS", "EARLIEST", "LATEST"
        );
        for c in cov {
            println!(
                "{:<14} {:>12} {:>8}  {:<25} {:<25}",
                c.table,
                c.rows,
                c.symbols,
                c.earliest.unwrap_or_else(|| "-".into()),
                c.latest.unwrap_or_else(|| "-".into())
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn symbol_coverage(g: &Global, a: &CoverageArgs) -> Result<ExitCode> {
    let tfs = parse_timeframes(&a.timeframes)?;
    let all = a.symbols.len() == 1 && a.symbols[0].trim().eq_ignore_ascii_case("all");
    let symbols = if all {
        None
    } else {
        Some(parse_symbols(&a.symbols)?)
    };
    let store = a.data.read_store(g).await?;
    let rows = tickstock_jobs::reads::completeness::coverage(
        &store,
        symbols.as_deref(),
        &tfs,
        chrono::Utc::now(),
    )
    .await?;
    if a.json {
        output::json(&rows);
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{:<8} {:<6} {:<22} {:<22} {:>10} {:>10} {:>7}  {:<8} {:>6}",
        "SYMBOL", "TF", "FIRST", "LAST", "BARS", "EXPECTED", "COMPL", "RATING", "BEHIND"
    );
    for r in &rows {
        println!(
            "{:<8} {:<6} {:<22} {:<22} {:>10} {:>10} {:>6.1}%  {:<8} {:>6}",
            r.symbol,
            r.timeframe.wire_name(),
            r.first,
            r.last,
            r.bars,
            r.expected,
            r.completeness * 100.0,
            r.rating,
            r.sessions_behind
        );
    }
    if let Some(list) = &symbols {
        for s in list {
            for tf in &tfs {
                if !rows.iter().any(|r| &r.symbol == s && r.timeframe == *tf) {
                    println!("{s:<8} {:<6} no bars stored", tf.wire_name());
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
