//! What a running job sees, wherever it runs (Redis worker, `tickstock load`, the app's
//! built-in worker): the [`JobRunner`] trait the loading code implements, and the
//! [`JobContext`] it is handed: a [`ProgressHandle`] to report through, cancellation to
//! check between chunks, and checkpoints of finished work. The lifecycle around a run is
//! `tickstock_queue::lifecycle::run_job`.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use tokio_util::sync::CancellationToken;

use tickstock_protocol::error::Result;
use tickstock_protocol::job::Job;
use tickstock_protocol::status::{JobState, JobStatus, Stamp, SymbolFailure};
use tickstock_protocol::unit::Unit;

/// The code that actually does a job. Failures of single symbols are recorded through
/// the context and do not fail the job; an `Err` fails the whole job. A runner that stops
/// early because the job was told to stop ([`JobContext::check`]) returns an error of kind
/// [`tickstock_protocol::ErrorKind::Cancelled`]; `Ok` means all work is done.
#[async_trait]
pub trait JobRunner: Send + Sync + 'static {
    async fn run(&self, job: &Job, ctx: &JobContext) -> Result<()>;

    /// One request of background work, made only from spare budget (no job waiting, the
    /// plan's rate limit letting it through now): the loader describes a registered symbol
    /// from its ticker details. Returns whether a request was made; `false` when there is
    /// nothing to do or no spare budget.
    async fn spare_request(&self) -> Result<bool> {
        Ok(false)
    }
}

/// Where progress goes. Returns true when the job must stop: cancel has been requested
/// meanwhile, or someone else has already ended it (a final state on its status).
#[async_trait]
pub trait StatusSink: Send + Sync + 'static {
    async fn progress(&self, job_id: &str, status: &JobStatus) -> Result<bool>;
}

/// Durable record of finished [`Unit`]s of a job, so a job resumed after a crash does not
/// redo them.
#[async_trait]
pub trait Checkpoints: Send + Sync + 'static {
    async fn done(&self, job_id: &str) -> Result<HashSet<Unit>>;
    async fn mark(&self, job_id: &str, unit: &Unit) -> Result<()>;
    /// Records a finished unit with the rows it wrote, so a resumed job's counts include
    /// what earlier runs loaded.
    async fn mark_rows(&self, job_id: &str, unit: &Unit, _rows: u64) -> Result<()> {
        self.mark(job_id, unit).await
    }
    /// Rows written by the finished units (0 where rows are not kept).
    async fn done_rows(&self, _job_id: &str) -> Result<u64> {
        Ok(0)
    }
}

/// Durable history of jobs (outlives Redis expiry): told when a job starts and ends.
#[async_trait]
pub trait JobHistory: Send + Sync + 'static {
    async fn record(&self, job: &Job, status: &JobStatus) -> Result<()>;

    /// Keeps a job's log lines (see [`crate::joblog`]) after those kept before.
    async fn log(&self, _job_id: &str, _lines: &[crate::joblog::LogLine]) -> Result<()> {
        Ok(())
    }

    /// The durable copy of an operator's order Redis keeps at `key` (the queue's pause),
    /// for a worker to put back when Redis lost it.
    async fn operator_order(&self, _key: &str) -> Result<Option<String>> {
        Ok(None)
    }
}

/// A sink that keeps progress in memory only (the [`ProgressHandle`] still holds it).
pub struct NoSink;

#[async_trait]
impl StatusSink for NoSink {
    async fn progress(&self, _job_id: &str, _status: &JobStatus) -> Result<bool> {
        Ok(false)
    }
}

/// Checkpoints kept in memory (for one-shot runs that are not resumed elsewhere).
#[derive(Default)]
pub struct MemoryCheckpoints(Mutex<HashSet<Unit>>);

#[async_trait]
impl Checkpoints for MemoryCheckpoints {
    async fn done(&self, _job_id: &str) -> Result<HashSet<Unit>> {
        Ok(self.0.lock().expect("checkpoint lock").clone())
    }
    async fn mark(&self, _job_id: &str, unit: &Unit) -> Result<()> {
        self.0.lock().expect("checkpoint lock").insert(unit.clone());
        Ok(())
    }
}

/// Why a job stopped early.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interrupt {
    /// A user asked to cancel it.
    Cancelled,
    /// The worker is shutting down; the job will be resumed.
    Shutdown,
}

/// Handed to a [`JobRunner`] for one job.
#[derive(Clone)]
pub struct JobContext {
    job_id: String,
    cancel: CancellationToken,
    shutdown: CancellationToken,
    progress: ProgressHandle,
    checkpoints: Arc<dyn Checkpoints>,
}

impl JobContext {
    pub fn new(
        job_id: &str,
        cancel: CancellationToken,
        shutdown: CancellationToken,
        progress: ProgressHandle,
        checkpoints: Arc<dyn Checkpoints>,
    ) -> JobContext {
        JobContext {
            job_id: job_id.to_string(),
            cancel,
            shutdown,
            progress,
            checkpoints,
        }
    }

    pub fn job_id(&self) -> &str {
        &self.job_id
    }

    /// A context for work inside the job that can be stopped without ending the job: the
    /// token stops it as a cancel would (a cancel of the job still stops it too). A job
    /// that fails in one part stops its other parts with it and waits for them, so a
    /// write in flight is counted before the job ends.
    pub fn stoppable(&self) -> (JobContext, CancellationToken) {
        let stop = self.cancel.child_token();
        let ctx = JobContext {
            cancel: stop.clone(),
            ..self.clone()
        };
        (ctx, stop)
    }

    /// Why the job should stop now, if it should.
    pub fn interrupted(&self) -> Option<Interrupt> {
        if self.cancel.is_cancelled() {
            Some(Interrupt::Cancelled)
        } else if self.shutdown.is_cancelled() {
            Some(Interrupt::Shutdown)
        } else {
            None
        }
    }

    /// `Err(Cancelled)` once the job should stop: call it between chunks with `?`.
    pub fn check(&self) -> Result<()> {
        match self.interrupted() {
            None => Ok(()),
            Some(Interrupt::Cancelled) => Err(tickstock_protocol::Error::new(
                tickstock_protocol::ErrorKind::Cancelled,
                "cancelled",
            )),
            Some(Interrupt::Shutdown) => Err(tickstock_protocol::Error::new(
                tickstock_protocol::ErrorKind::Cancelled,
                "interrupted by shutdown",
            )),
        }
    }

    /// Runs `f` unless the job is told to stop first (then `Err(Cancelled)`, and `f` is
    /// dropped: an unfinished request is abandoned, never half-written).
    pub async fn unless_stopped<F: std::future::Future>(&self, f: F) -> Result<F::Output> {
        tokio::select! {
            out = f => Ok(out),
            _ = self.stopped() => {
                self.check()?;
                Err(tickstock_protocol::Error::new(tickstock_protocol::ErrorKind::Cancelled, "stopped"))
            }
        }
    }

    /// Resolves when the job should stop.
    pub async fn stopped(&self) {
        tokio::select! {
            _ = self.cancel.cancelled() => {}
            _ = self.shutdown.cancelled() => {}
        }
    }

    pub fn progress(&self) -> &ProgressHandle {
        &self.progress
    }

    /// Units already finished by an earlier run of this job.
    pub async fn done_units(&self) -> Result<HashSet<Unit>> {
        self.checkpoints.done(&self.job_id).await
    }

    /// Records a finished unit.
    pub async fn mark_done(&self, unit: &Unit) -> Result<()> {
        self.checkpoints.mark(&self.job_id, unit).await
    }

    /// Records a finished unit and the rows it wrote.
    pub async fn mark_done_rows(&self, unit: &Unit, rows: u64) -> Result<()> {
        self.checkpoints.mark_rows(&self.job_id, unit, rows).await
    }

    /// Rows written by the units finished in earlier runs of this job.
    pub async fn done_rows(&self) -> Result<u64> {
        self.checkpoints.done_rows(&self.job_id).await
    }
}

struct ProgressInner {
    job_id: String,
    status: Mutex<JobStatus>,
    units_total: AtomicU64,
    units_done: AtomicU64,
    /// Fractions of units in progress (a long unit moves the bar before it is done).
    partial: Mutex<std::collections::HashMap<Unit, f64>>,
    sink: Arc<dyn StatusSink>,
    last_write: Mutex<Option<Instant>>,
    every: Duration,
    cancel: CancellationToken,
}

/// Progress reporting for one job: cheap to clone, safe to share between tasks. Counters
/// change in memory; [`ProgressHandle::publish`] writes them out at most every `every`.
#[derive(Clone)]
pub struct ProgressHandle {
    inner: Arc<ProgressInner>,
}

impl ProgressHandle {
    /// `status` is the starting status (state `running`); `cancel` is cancelled when the
    /// sink reports that cancel was requested.
    pub fn new(
        job_id: &str,
        status: JobStatus,
        sink: Arc<dyn StatusSink>,
        every: Duration,
        cancel: CancellationToken,
    ) -> ProgressHandle {
        ProgressHandle {
            inner: Arc::new(ProgressInner {
                job_id: job_id.to_string(),
                status: Mutex::new(status),
                units_total: AtomicU64::new(0),
                units_done: AtomicU64::new(0),
                partial: Mutex::new(std::collections::HashMap::new()),
                sink,
                last_write: Mutex::new(None),
                every,
                cancel,
            }),
        }
    }

    fn with<R>(&self, f: impl FnOnce(&mut JobStatus) -> R) -> R {
        let mut st = self.inner.status.lock().expect("status lock");
        f(&mut st)
    }

    /// Sets the plan: how many symbols, and how many units of work (symbol x timeframe).
    /// Units already done (from a checkpoint) count as done.
    pub fn set_plan(&self, total_symbols: u64, total_units: u64, already_done: u64) {
        self.inner.units_total.store(total_units, Ordering::SeqCst);
        self.inner.units_done.store(already_done, Ordering::SeqCst);
        self.with(|s| {
            s.total_symbols = Some(total_symbols);
            s.processed_symbols.get_or_insert(0);
        });
        self.recompute();
    }

    fn recompute(&self) {
        let total = self.inner.units_total.load(Ordering::SeqCst);
        let done = self.inner.units_done.load(Ordering::SeqCst);
        let partial: f64 = self
            .inner
            .partial
            .lock()
            .expect("partial lock")
            .values()
            .sum();
        let pct = if total == 0 {
            0
        } else {
            (((done as f64 + partial) * 100.0) / total as f64)
                .floor()
                .min(99.0) as u8
        };
        self.with(|s| s.progress = pct);
    }

    /// Units of work not finished yet.
    pub fn units_left(&self) -> u64 {
        self.inner
            .units_total
            .load(Ordering::SeqCst)
            .saturating_sub(self.inner.units_done.load(Ordering::SeqCst))
    }

    pub fn set_current(&self, symbol: &str) {
        self.with(|s| s.current_symbol = Some(symbol.to_string()));
    }

    pub fn set_message(&self, message: impl Into<String>) {
        let m = message.into();
        self.with(|s| s.message = Some(m));
    }

    /// How far a unit in progress is (0 to 1), e.g. from the dates its pages have reached.
    pub fn unit_progress(&self, unit: &Unit, fraction: f64) {
        let f = fraction.clamp(0.0, 0.999);
        self.inner
            .partial
            .lock()
            .expect("partial lock")
            .insert(unit.clone(), f);
        self.recompute();
    }

    /// Forgets a unit's partial progress (it finished or failed).
    pub fn unit_settled(&self, unit: &Unit) {
        self.inner
            .partial
            .lock()
            .expect("partial lock")
            .remove(unit);
    }

    /// One unit finished, with the rows it wrote.
    pub fn unit_done(&self, rows: u64) {
        self.inner.units_done.fetch_add(1, Ordering::SeqCst);
        self.with(|s| {
            s.ohlcv_records_loaded = Some(s.ohlcv_records_loaded.unwrap_or(0) + rows);
        });
        self.recompute();
    }

    /// Rows written outside a unit (e.g. a grouped-daily day).
    pub fn add_records(&self, rows: u64) {
        self.with(|s| s.ohlcv_records_loaded = Some(s.ohlcv_records_loaded.unwrap_or(0) + rows));
    }

    /// A symbol is finished: every unit of it loaded.
    pub fn symbol_ok(&self, symbol: &str) {
        self.with(|s| {
            if !s.successful_symbols.iter().any(|x| x == symbol) {
                s.successful_symbols.push(symbol.to_string());
                s.processed_symbols = Some(s.processed_symbols.unwrap_or(0) + 1);
                s.symbols_loaded = Some(s.successful_symbols.len() as u64);
            }
        });
    }

    /// A symbol failed; the job goes on.
    pub fn symbol_failed(&self, symbol: &str, reason: &str) {
        self.with(|s| {
            if !s.failed_symbols.iter().any(|x| x == symbol) {
                s.failed_symbols.push(symbol.to_string());
                s.failures.push(SymbolFailure {
                    symbol: symbol.to_string(),
                    reason: reason.to_string(),
                });
                s.processed_symbols = Some(s.processed_symbols.unwrap_or(0) + 1);
            }
        });
    }

    /// A copy of the status as it stands.
    pub fn snapshot(&self) -> JobStatus {
        self.with(|s| s.clone())
    }

    /// Changes the status with a closure (for fields not covered above).
    pub fn update(&self, f: impl FnOnce(&mut JobStatus)) {
        self.with(f)
    }

    /// Writes the status if the last write is older than the throttle interval.
    pub async fn publish(&self) -> Result<()> {
        {
            let last = self.inner.last_write.lock().expect("progress lock");
            if last.is_some_and(|t| t.elapsed() < self.inner.every) {
                return Ok(());
            }
        }
        self.flush().await
    }

    /// Writes the status now.
    pub async fn flush(&self) -> Result<()> {
        *self.inner.last_write.lock().expect("progress lock") = Some(Instant::now());
        // `timestamp` is the last update, as TickStockPL's workers write it (naive local
        // time); TickStock's stale-job cleanup reads it. `timestamp_utc` is the instant.
        self.with(|s| s.set_time("timestamp", Stamp::now()));
        let snapshot = self.snapshot();
        let cancel_requested = self
            .inner
            .sink
            .progress(&self.inner.job_id, &snapshot)
            .await?;
        if cancel_requested {
            self.inner.cancel.cancel();
        }
        Ok(())
    }

    /// The final status for an outcome (state, message, timings); the caller writes it.
    pub fn finish(&self, state: JobState, started: Instant, error: Option<String>) -> JobStatus {
        let mut st = self.snapshot();
        st.state = state;
        st.set_time("completed_at", Stamp::now());
        st.duration_seconds = Some((started.elapsed().as_secs_f64() * 1000.0).round() / 1000.0);
        st.current_symbol = None;
        let ok = st.successful_symbols.len();
        let failed = st.failed_symbols.len();
        let bars = st.ohlcv_records_loaded.unwrap_or(0);
        match state {
            JobState::Completed => {
                st.progress = 100;
                st.message = Some(format!(
                    "Completed: {}, {}",
                    count(ok as u64, "symbol"),
                    count(bars, "bar")
                ));
            }
            JobState::CompletedWithErrors => {
                st.progress = 100;
                st.message = Some(format!(
                    "{ok} of {} loaded, {failed} failed",
                    count((ok + failed) as u64, "symbol")
                ));
                st.error_message = Some(group_failures(&st.failures));
            }
            JobState::Cancelled => {
                st.message = Some(format!(
                    "Cancelled after {}, {}",
                    count(ok as u64, "symbol"),
                    count(bars, "bar")
                ));
            }
            JobState::Failed => {
                let e = error.unwrap_or_else(|| "failed".into());
                st.message = Some(format!("Failed: {e}"));
                st.error_message = Some(e);
            }
            _ => {}
        }
        // Registered symbols whose ticker details come later: said, not hidden.
        let left = st
            .extra
            .get("symbols_to_describe")
            .and_then(serde_json::Value::as_u64)
            .unwrap_or(0);
        if left > 0 && matches!(state, JobState::Completed | JobState::CompletedWithErrors) {
            let note = describe_note(left as usize);
            st.message = Some(match st.message.take() {
                Some(m) => format!("{m}; {note}"),
                None => note,
            });
        }
        st
    }
}

/// `1 symbol`, `2 symbols`: a count with its noun in the right number.
pub use tickstock_protocol::text::count;

/// Failures grouped by reason, most common first: `3 symbols (AAPL, MSFT, NVDA): not
/// found on Polygon ...`. A reason is compared with its own symbol's name taken out, so
/// the same refusal of many symbols is said once; at most 5 symbols are named per reason.
pub fn group_failures(failures: &[tickstock_protocol::status::SymbolFailure]) -> String {
    let mut groups: Vec<(String, Vec<&str>)> = Vec::new();
    for f in failures {
        let reason = if f.symbol.is_empty() {
            f.reason.clone()
        } else {
            f.reason.replace(&f.symbol, "…")
        };
        match groups.iter_mut().find(|(r, _)| *r == reason) {
            Some((_, symbols)) => symbols.push(&f.symbol),
            None => groups.push((reason, vec![&f.symbol])),
        }
    }
    groups.sort_by_key(|g| std::cmp::Reverse(g.1.len()));
    groups
        .iter()
        .map(|(reason, symbols)| {
            let mut named = symbols
                .iter()
                .take(5)
                .copied()
                .collect::<Vec<_>>()
                .join(", ");
            if symbols.len() > 5 {
                named += &format!(" and {} more", symbols.len() - 5);
            }
            let n = symbols.len();
            format!(
                "{n} symbol{} ({named}): {reason}",
                if n == 1 { "" } else { "s" }
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// The end state of a run: `Ok` is completed (with errors when a symbol failed, failed
/// when every symbol did), an error of kind `Cancelled` is cancelled, any other error is
/// failed with its message.
pub fn finished_state(result: &Result<()>, status: &JobStatus) -> (JobState, Option<String>) {
    match result {
        Ok(()) if status.failed_symbols.is_empty() => (JobState::Completed, None),
        Ok(()) if status.successful_symbols.is_empty() => (
            JobState::Failed,
            Some(format!(
                "every symbol failed: {}",
                group_failures(&status.failures)
            )),
        ),
        Ok(()) => (JobState::CompletedWithErrors, None),
        Err(e) if e.kind() == tickstock_protocol::ErrorKind::Cancelled => {
            (JobState::Cancelled, None)
        }
        Err(e) => (JobState::Failed, Some(e.message().to_string())),
    }
}

/// `3 symbols left to describe: from spare requests`.
pub fn describe_note(left: usize) -> String {
    format!(
        "{} left to describe: from spare requests",
        count(left as u64, "symbol")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Collect(Mutex<Vec<JobStatus>>, bool);

    #[async_trait]
    impl StatusSink for Collect {
        async fn progress(&self, _id: &str, s: &JobStatus) -> Result<bool> {
            self.0.lock().unwrap().push(s.clone());
            Ok(self.1)
        }
    }

    #[tokio::test]
    async fn progress_counts_units_and_throttles() {
        let sink = Arc::new(Collect(Mutex::new(Vec::new()), false));
        let cancel = CancellationToken::new();
        let p = ProgressHandle::new(
            "j",
            JobStatus::new(JobState::Running),
            sink.clone(),
            Duration::from_secs(3600),
            cancel.clone(),
        );
        p.set_plan(2, 4, 1);
        assert_eq!(p.snapshot().progress, 25);
        p.unit_done(10);
        p.unit_done(5);
        p.symbol_ok("AAPL");
        p.symbol_failed("MSFT", "HTTP 403");
        assert_eq!(p.snapshot().progress, 75);
        assert_eq!(p.snapshot().ohlcv_records_loaded, Some(15));
        p.publish().await.unwrap();
        p.publish().await.unwrap(); // throttled
        assert_eq!(sink.0.lock().unwrap().len(), 1);
        let fin = p.finish(JobState::CompletedWithErrors, Instant::now(), None);
        assert_eq!(fin.progress, 100);
        assert_eq!(
            fin.error_message.as_deref(),
            Some("1 symbol (MSFT): HTTP 403")
        );
        assert!(!cancel.is_cancelled());
    }

    #[test]
    fn failures_are_grouped_by_reason() {
        let f = |symbol: &str, reason: &str| tickstock_protocol::status::SymbolFailure {
            symbol: symbol.into(),
            reason: reason.into(),
        };
        let mut list: Vec<_> = (0..7)
            .map(|i| {
                let s = format!("S{i}");
                f(&s, &format!("not found on Polygon (HTTP 404): {s} day"))
            })
            .collect();
        list.push(f("X", "HTTP 403"));
        assert_eq!(
            group_failures(&list),
            "7 symbols (S0, S1, S2, S3, S4 and 2 more): not found on Polygon (HTTP 404): … day; \
             1 symbol (X): HTTP 403"
        );
        let mut st = JobStatus::new(JobState::Running);
        st.failed_symbols = vec!["X".into()];
        st.failures = vec![f("X", "HTTP 403")];
        let (state, e) = finished_state(&Ok(()), &st);
        assert_eq!(state, JobState::Failed);
        assert_eq!(
            e.as_deref(),
            Some("every symbol failed: 1 symbol (X): HTTP 403")
        );
    }

    #[tokio::test]
    async fn a_sink_reporting_cancel_trips_the_token() {
        let sink = Arc::new(Collect(Mutex::new(Vec::new()), true));
        let cancel = CancellationToken::new();
        let p = ProgressHandle::new(
            "j",
            JobStatus::new(JobState::Running),
            sink,
            Duration::ZERO,
            cancel.clone(),
        );
        p.flush().await.unwrap();
        assert!(cancel.is_cancelled());
    }
}
