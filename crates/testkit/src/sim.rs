//! A job runner that simulates loading: it walks a job's symbols, "loads" each for a fixed
//! time, records checkpoints and progress, and fails symbols whose name starts with `FAIL`.
//! Every start of a job is recorded in a Redis list so tests can count executions across
//! processes.

use std::time::Duration;

use async_trait::async_trait;
use redis::aio::ConnectionManager;
use redis::AsyncCommands;
use tickstock_data::exec::{JobContext, JobRunner};
use tickstock_protocol::job::{Job, JobSpec};
use tickstock_protocol::{Error, ErrorKind, Result, Ticker, Timeframe, Unit};

/// Rows the simulation "writes" per symbol.
pub const SIM_ROWS_PER_SYMBOL: u64 = 10;

/// The simulated runner.
pub struct SimRunner {
    per_symbol: Duration,
    log: Option<(ConnectionManager, String)>,
}

/// The Redis list in which [`SimRunner`] records executions, for a namespace.
pub fn executions_key(namespace: &str) -> String {
    format!("{namespace}:test:executions")
}

/// The Redis list in which [`SimRunner`] records finished units, for a namespace.
pub fn units_key(namespace: &str) -> String {
    format!("{namespace}:test:units")
}

impl SimRunner {
    pub fn new(per_symbol: Duration) -> SimRunner {
        SimRunner {
            per_symbol,
            log: None,
        }
    }

    /// Records each execution (job id) and each unit done in lists under `namespace`.
    pub fn with_log(mut self, conn: ConnectionManager, namespace: &str) -> SimRunner {
        self.log = Some((conn, namespace.to_string()));
        self
    }

    fn symbols(job: &Job) -> Vec<String> {
        match &job.spec {
            JobSpec::UniverseSeed { universe_type, .. } => {
                tickstock_protocol::universe::find_builtin(universe_type)
                    .map(|u| u.members().into_iter().take(5).collect())
                    .unwrap_or_default()
            }
            spec => spec.symbols().map(|s| s.to_vec()).unwrap_or_default(),
        }
    }
}

#[async_trait]
impl JobRunner for SimRunner {
    async fn run(&self, job: &Job, ctx: &JobContext) -> Result<()> {
        let symbols = Self::symbols(job);
        if symbols.is_empty() {
            return Err(Error::new(ErrorKind::InvalidInput, "job names no symbols"));
        }
        if let Some((conn, ns)) = &self.log {
            let mut c = conn.clone();
            let _: i64 = c.rpush(executions_key(ns), &job.id).await?;
        }
        // One unit per symbol, in the job's first timeframe.
        let tf = job
            .spec
            .timeframes()
            .first()
            .copied()
            .unwrap_or(Timeframe::Day);
        let units = symbols
            .iter()
            .map(|s| Ok(Unit::new(s.parse::<Ticker>()?, tf)))
            .collect::<Result<Vec<_>>>()?;
        let done = ctx.done_units().await?;
        let p = ctx.progress();
        let already = units.iter().filter(|u| done.contains(*u)).count() as u64;
        p.set_plan(symbols.len() as u64, symbols.len() as u64, already);
        for (s, unit) in symbols.iter().zip(&units) {
            if done.contains(unit) {
                p.symbol_ok(s);
                continue;
            }
            ctx.check()?;
            p.set_current(s);
            p.set_message(format!("Loading {s}"));
            p.publish().await?;
            tokio::select! {
                _ = tokio::time::sleep(self.per_symbol) => {}
                _ = ctx.stopped() => {}
            }
            ctx.check()?;
            if s.starts_with("FAIL") {
                p.symbol_failed(s, "simulated failure");
            } else {
                p.unit_done(SIM_ROWS_PER_SYMBOL);
                p.symbol_ok(s);
            }
            ctx.mark_done(unit).await?;
            if let Some((conn, ns)) = &self.log {
                let mut c = conn.clone();
                let _: i64 = c.rpush(units_key(ns), format!("{}|{s}", job.id)).await?;
            }
            p.publish().await?;
        }
        Ok(())
    }
}
