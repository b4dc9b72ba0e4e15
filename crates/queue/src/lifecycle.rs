//! The one job lifecycle. [`run_job`] is the only place a job runs, whether a Redis worker
//! took it from the stream, the app's embedded queue popped it, or `tickstock load` runs it
//! in the foreground. The queue it came from is a [`JobHost`]: where progress is written,
//! how the final status is settled and how an interrupted job is handed back. Everything
//! else is decided here, once:
//! - the starting status is written and recorded in history;
//! - progress is throttled (`progress_every`) and kept current in history
//!   (`history_every`), so a job run by a headless worker is current there with no app open;
//! - the runner runs in its own task (a panic fails the job, never the worker);
//! - the end state follows from the result ([`tickstock_data::exec::finished_state`]); a job stopped
//!   by a shutdown (not by a cancel) is released back to its queue when the host can resume
//!   it from checkpoints, and failed with a clear reason when it cannot;
//! - the final status is settled through the host (a final state someone else wrote
//!   meanwhile stands), recorded in history and counted in [`crate::metrics`].

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn, Instrument};

use tickstock_data::exec::{
    finished_state, Checkpoints, JobContext, JobHistory, JobRunner, ProgressHandle, StatusSink,
};
use tickstock_protocol::error::{Error, ErrorKind, Result};
use tickstock_protocol::job::Job;
use tickstock_protocol::status::{JobState, JobStatus};

/// What a queue provides to a job it runs.
#[async_trait]
pub trait JobHost: Send + Sync + 'static {
    /// Writes a progress status. Returns true when the job must stop (cancel requested, or
    /// someone else ended it).
    async fn progress(&self, job: &Job, status: &JobStatus) -> Result<bool>;

    /// Writes the final status and takes the job off the queue. Returns the status that
    /// stands: a final state someone else wrote meanwhile wins, with this run's counts.
    async fn finish(&self, job: &Job, status: &JobStatus) -> Result<JobStatus>;

    /// Hands a job interrupted by a shutdown back to the queue with `status` (state
    /// `queued`). Returns the state it had been ended with meanwhile, if someone ended it:
    /// then it is finished with that state instead of released.
    async fn release(&self, job: &Job, status: &JobStatus) -> Result<Option<JobState>>;

    /// Whether an interrupted job can be resumed later from its checkpoints.
    fn resumable(&self) -> bool;

    /// The message of a released job (who resumes it, and when).
    fn release_message(&self) -> String {
        "Interrupted by a shutdown; resumes from its checkpoint".into()
    }
}

/// How [`run_job`] runs one job.
#[derive(Clone)]
pub struct RunEnv {
    pub checkpoints: Arc<dyn Checkpoints>,
    pub history: Option<Arc<dyn JobHistory>>,
    /// Cancelled when a user cancels the job (also tripped by the host's progress answer).
    pub cancel: CancellationToken,
    /// Cancelled when the worker shuts down: the job stops after its current chunk.
    pub shutdown: CancellationToken,
    /// Least time between two progress writes to the host.
    pub progress_every: Duration,
    /// Least time between two progress writes to history.
    pub history_every: Duration,
}

impl RunEnv {
    /// Defaults: progress every 250 ms, history every 2 s.
    pub fn new(checkpoints: Arc<dyn Checkpoints>, history: Option<Arc<dyn JobHistory>>) -> Self {
        RunEnv {
            checkpoints,
            history,
            cancel: CancellationToken::new(),
            shutdown: CancellationToken::new(),
            progress_every: Duration::from_millis(250),
            history_every: HISTORY_EVERY,
        }
    }
}

/// Least time between two history writes of a running job's progress.
pub const HISTORY_EVERY: Duration = Duration::from_secs(2);

/// How a run ended.
#[derive(Debug, Clone)]
pub enum RunEnd {
    /// It reached a final state (the status that stands), with the runner's error when it
    /// failed or stopped early.
    Finished {
        status: JobStatus,
        error: Option<Error>,
    },
    /// It was interrupted by a shutdown and handed back to its queue.
    Released(JobStatus),
}

impl RunEnd {
    pub fn status(&self) -> &JobStatus {
        match self {
            RunEnd::Finished { status, .. } | RunEnd::Released(status) => status,
        }
    }
}

/// Records a status of a job in history, logging (never failing the job) when the
/// database refuses. What a job does after its submit reaches history through here only
/// (the job service records the submit): its runs, and a worker's end of a job it will not
/// run (dead-lettered, rejected, or ended before it started).
pub async fn record(history: &Option<Arc<dyn JobHistory>>, job: &Job, st: &JobStatus) {
    if let Some(h) = history {
        if let Err(e) = h.record(job, st).await {
            warn!(job_id = %job.id, "could not record job history: {e}");
        }
    }
}

/// Progress goes to the host at once and to history at most every `every`.
struct LifecycleSink {
    job: Job,
    host: Arc<dyn JobHost>,
    history: Option<Arc<dyn JobHistory>>,
    every: Duration,
    last_history: Mutex<Option<Instant>>,
}

#[async_trait]
impl StatusSink for LifecycleSink {
    async fn progress(&self, _job_id: &str, status: &JobStatus) -> Result<bool> {
        // A progress write is a snapshot the next one replaces: one lost to a Redis that
        // stalls or restarts does not fail the job (checkpoints and the end do wait).
        let stop = match self.host.progress(&self.job, status).await {
            Ok(stop) => stop,
            Err(e) if e.is_retryable() => {
                warn!(job_id = %self.job.id, "progress not written, the job goes on: {e}");
                false
            }
            Err(e) => return Err(e),
        };
        let due = {
            let mut last = self.last_history.lock().expect("history lock");
            let due = last.is_none_or(|t| t.elapsed() >= self.every);
            if due {
                *last = Some(Instant::now());
            }
            due
        };
        if due && self.history.is_some() {
            record(&self.history, &self.job, status).await;
        }
        Ok(stop)
    }
}

/// Runs `job` from its starting status (state `running`, with its times and worker) to
/// its end. An `Err` is a failure of the host (Redis or the database went away while
/// writing a status): the job is then left as it stands on its queue, which retries it.
///
/// Everything logged while it runs is the job's own log ([`tickstock_data::joblog`]), kept in its
/// history when it ends or is released.
pub async fn run_job(
    job: &Job,
    start: JobStatus,
    runner: Arc<dyn JobRunner>,
    host: Arc<dyn JobHost>,
    env: RunEnv,
) -> Result<RunEnd> {
    let span = tickstock_data::joblog::span(&job.id);
    let history = env.history.clone();
    let end = run(job, start, runner, host, env, span.clone())
        .instrument(span)
        .await;
    let lines = tickstock_data::joblog::take(&job.id);
    if let (Some(h), false) = (&history, lines.is_empty()) {
        if let Err(e) = h.log(&job.id, &lines).await {
            warn!(job_id = %job.id, "could not keep the job's log: {e}");
        }
    }
    end
}

async fn run(
    job: &Job,
    start: JobStatus,
    runner: Arc<dyn JobRunner>,
    host: Arc<dyn JobHost>,
    env: RunEnv,
    span: tracing::Span,
) -> Result<RunEnd> {
    let started = Instant::now();
    let sink = Arc::new(LifecycleSink {
        job: job.clone(),
        host: host.clone(),
        history: env.history.clone(),
        every: env.history_every,
        last_history: Mutex::new(None),
    });
    let progress =
        ProgressHandle::new(&job.id, start, sink, env.progress_every, env.cancel.clone());
    // The first flush also records the start in history.
    progress.flush().await?;
    info!(job_id = %job.id, kind = %job.job_type(), "job started");

    let ctx = JobContext::new(
        &job.id,
        env.cancel.clone(),
        env.shutdown.clone(),
        progress.clone(),
        env.checkpoints.clone(),
    );
    let job2 = job.clone();
    let result = tokio::spawn(async move { runner.run(&job2, &ctx).await }.instrument(span))
        .await
        .unwrap_or_else(|e| {
            Err(Error::new(
                ErrorKind::Internal,
                if e.is_panic() {
                    "the job's code panicked"
                } else {
                    "the job's task was aborted"
                },
            ))
        });

    let stopped_early = matches!(&result, Err(e) if e.kind() == ErrorKind::Cancelled);
    let by_shutdown = stopped_early && !env.cancel.is_cancelled() && env.shutdown.is_cancelled();
    // Redis stopped answering longer than the job waits for it: nothing is wrong with the
    // job, so it is handed back to resume from its checkpoint, never failed.
    let queue_lost = matches!(&result, Err(e) if e.kind() == ErrorKind::Redis && e.is_retryable());
    let fin = if (by_shutdown || queue_lost) && host.resumable() {
        let mut st = progress.snapshot();
        st.state = JobState::Queued;
        st.current_symbol = None;
        st.message = Some(if queue_lost {
            "Redis did not answer for a while; released to resume from its checkpoint".into()
        } else {
            host.release_message()
        });
        if queue_lost {
            warn!(job_id = %job.id, "Redis did not answer; releasing the job to resume from its checkpoint");
        }
        match host.release(job, &st).await? {
            None => {
                record(&env.history, job, &st).await;
                info!(job_id = %job.id, "job released for resumption");
                return Ok(RunEnd::Released(st));
            }
            // Ended by someone else meanwhile: nothing to resume.
            Some(state) => progress.finish(state, started, None),
        }
    } else if by_shutdown {
        progress.finish(
            JobState::Failed,
            started,
            Some("interrupted: the worker stopped while the job ran".into()),
        )
    } else if stopped_early {
        progress.finish(JobState::Cancelled, started, None)
    } else {
        let (state, error) = finished_state(&result, &progress.snapshot());
        progress.finish(state, started, error)
    };
    let fin = host.finish(job, &fin).await?;
    record(&env.history, job, &fin).await;
    crate::metrics::job_ended(&fin);
    info!(job_id = %job.id, state = %fin.state, "job finished");
    Ok(RunEnd::Finished {
        status: fin,
        error: result.err(),
    })
}

/// A host that keeps nothing but the last status (for a job run in the foreground, as
/// `tickstock load` does), passing progress on to an observer.
pub struct ForegroundHost {
    observer: Arc<dyn StatusSink>,
}

impl ForegroundHost {
    pub fn new(observer: Arc<dyn StatusSink>) -> ForegroundHost {
        ForegroundHost { observer }
    }
}

#[async_trait]
impl JobHost for ForegroundHost {
    async fn progress(&self, job: &Job, status: &JobStatus) -> Result<bool> {
        self.observer.progress(&job.id, status).await
    }
    async fn finish(&self, _job: &Job, status: &JobStatus) -> Result<JobStatus> {
        Ok(status.clone())
    }
    async fn release(&self, _job: &Job, _status: &JobStatus) -> Result<Option<JobState>> {
        Ok(None)
    }
    fn resumable(&self) -> bool {
        false
    }
}
