//! The in-process job queue: what the desktop app runs in its embedded mode, with no
//! Redis. Jobs wait in a queue, run on a pool of tasks through the same [`JobRunner`], and
//! report through the same [`ProgressHandle`]; statuses live in memory and every start and
//! end is recorded in the durable [`JobHistory`], so history outlives the process.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::warn;

use crate::bus::{unix_now, CancelOutcome, JobEntry};
use crate::lifecycle::{run_job, JobHost, RunEnv};
use tickstock_data::exec::{Checkpoints, JobHistory, JobRunner, MemoryCheckpoints};
use tickstock_protocol::error::{Error, ErrorKind, Result};
use tickstock_protocol::job::Job;
use tickstock_protocol::status::{JobState, JobStatus, Stamp};

struct LocalJob {
    job: Job,
    status: JobStatus,
    submitted_ms: i64,
    cancel: CancellationToken,
}

struct Inner {
    runner: Arc<dyn JobRunner>,
    history: Option<Arc<dyn JobHistory>>,
    checkpoints: Option<Arc<dyn Checkpoints>>,
    jobs: Mutex<HashMap<String, LocalJob>>,
    queue: Mutex<VecDeque<String>>,
    wake: Notify,
    shutdown: CancellationToken,
    tracker: TaskTracker,
    progress_every: Duration,
    /// One spare request at a time (see [`LocalQueue::spare_request`]).
    sparing: std::sync::atomic::AtomicBool,
}

/// An in-process queue with its own workers. Cheap to clone.
#[derive(Clone)]
pub struct LocalQueue {
    inner: Arc<Inner>,
}

/// How many finished jobs are kept in memory (history keeps them all).
const KEEP_FINISHED: usize = 500;

/// Jobs of this queue: statuses kept in memory; an interrupted job waits as `queued` for
/// the next start when checkpoints are durable.
struct LocalHost(Arc<Inner>);

impl LocalHost {
    fn set(&self, job_id: &str, status: &JobStatus) {
        if let Some(j) = self.0.jobs.lock().expect("jobs lock").get_mut(job_id) {
            j.status = status.clone();
        }
    }
}

#[async_trait]
impl JobHost for LocalHost {
    async fn progress(&self, job: &Job, status: &JobStatus) -> Result<bool> {
        let mut jobs = self.0.jobs.lock().expect("jobs lock");
        if let Some(j) = jobs.get_mut(&job.id) {
            let cancelling = j.cancel.is_cancelled();
            j.status = status.clone();
            if cancelling {
                j.status.state = JobState::Cancelling;
            }
            return Ok(cancelling);
        }
        Ok(false)
    }

    async fn finish(&self, job: &Job, status: &JobStatus) -> Result<JobStatus> {
        self.set(&job.id, status);
        Ok(status.clone())
    }

    async fn release(&self, job: &Job, status: &JobStatus) -> Result<Option<JobState>> {
        self.set(&job.id, status);
        Ok(None)
    }

    fn resumable(&self) -> bool {
        self.0.checkpoints.is_some()
    }

    fn release_message(&self) -> String {
        "Interrupted when the app closed; resumes from its checkpoint on the next start".into()
    }
}

impl LocalQueue {
    /// Starts `concurrency` workers that run jobs until `shutdown` is cancelled. With
    /// durable `checkpoints`, a job interrupted by the shutdown is left `queued` for
    /// [`LocalQueue::submit`] to resume on the next start; without, it is failed.
    pub fn start(
        runner: Arc<dyn JobRunner>,
        history: Option<Arc<dyn JobHistory>>,
        checkpoints: Option<Arc<dyn Checkpoints>>,
        concurrency: usize,
        shutdown: CancellationToken,
    ) -> LocalQueue {
        let q = LocalQueue {
            inner: Arc::new(Inner {
                runner,
                history,
                checkpoints,
                jobs: Mutex::new(HashMap::new()),
                queue: Mutex::new(VecDeque::new()),
                wake: Notify::new(),
                shutdown,
                tracker: TaskTracker::new(),
                progress_every: Duration::from_millis(250),
                sparing: std::sync::atomic::AtomicBool::new(false),
            }),
        };
        for _ in 0..concurrency.max(1) {
            let me = q.clone();
            q.inner.tracker.spawn(async move { me.work().await });
        }
        q.inner.tracker.close();
        q
    }

    /// Queues a job.
    pub async fn submit(&self, job: Job) -> Result<()> {
        let mut st = crate::bus::Bus::initial_status(&job);
        st.state = JobState::Queued;
        st.message = Some("Queued for the built-in worker".into());
        self.enqueue(job, st).await
    }

    /// Queues a job interrupted when the app last closed, keeping the times it was
    /// submitted and started; it resumes from its checkpoints with its totals.
    pub async fn resume(
        &self,
        job: Job,
        submitted_at: Option<chrono::DateTime<chrono::Utc>>,
        started_at: Option<chrono::DateTime<chrono::Utc>>,
    ) -> Result<()> {
        let mut st = crate::bus::Bus::initial_status(&job);
        st.state = JobState::Queued;
        if let Some(t) = submitted_at {
            st.set_time("submitted_at", Stamp(t));
        }
        if let Some(t) = started_at {
            st.set_time("started_at", Stamp(t));
        }
        st.message = Some("Interrupted when the app closed; queued to resume".into());
        self.enqueue(job, st).await
    }

    async fn enqueue(&self, job: Job, st: JobStatus) -> Result<()> {
        if self.inner.shutdown.is_cancelled() {
            return Err(Error::new(
                ErrorKind::Internal,
                "the built-in worker is stopping",
            ));
        }
        {
            let mut jobs = self.inner.jobs.lock().expect("jobs lock");
            jobs.insert(
                job.id.clone(),
                LocalJob {
                    job: job.clone(),
                    submitted_ms: st
                        .time("submitted_at")
                        .map(|t| t.timestamp_millis())
                        .unwrap_or_else(|| (unix_now() * 1000.0) as i64),
                    status: st,
                    cancel: CancellationToken::new(),
                },
            );
            self.inner
                .queue
                .lock()
                .expect("queue lock")
                .push_back(job.id.clone());
        }
        self.inner.wake.notify_one();
        Ok(())
    }

    /// One job's status.
    pub fn status(&self, id: &str) -> Option<JobStatus> {
        self.inner
            .jobs
            .lock()
            .expect("jobs lock")
            .get(id)
            .map(|j| j.status.clone())
    }

    /// The job message of a job still in memory.
    pub fn job(&self, id: &str) -> Option<Job> {
        self.inner
            .jobs
            .lock()
            .expect("jobs lock")
            .get(id)
            .map(|j| j.job.clone())
    }

    /// Jobs waiting or running, newest first.
    pub fn active(&self) -> Vec<JobEntry> {
        let jobs = self.inner.jobs.lock().expect("jobs lock");
        let mut out: Vec<JobEntry> = jobs
            .iter()
            .filter(|(_, j)| j.status.state.is_active())
            .map(|(id, j)| JobEntry {
                job_id: id.clone(),
                submitted_ms: j.submitted_ms,
                status: Some(j.status.clone()),
            })
            .collect();
        out.sort_by_key(|e| std::cmp::Reverse(e.submitted_ms));
        out
    }

    /// Ends a job with a final status unless it has ended already; returns what stands.
    pub fn force_end(&self, id: &str, status: &JobStatus) -> JobStatus {
        let mut jobs = self.inner.jobs.lock().expect("jobs lock");
        match jobs.get_mut(id) {
            Some(j) if j.status.state.is_terminal() => j.status.clone(),
            Some(j) => {
                j.cancel.cancel();
                j.status = status.clone();
                status.clone()
            }
            None => status.clone(),
        }
    }

    /// Forgets finished jobs whose id starts with `prefix`; returns how many.
    pub fn forget_finished(&self, prefix: &str) -> usize {
        let mut jobs = self.inner.jobs.lock().expect("jobs lock");
        let before = jobs.len();
        jobs.retain(|id, j| !(id.starts_with(prefix) && j.status.state.is_terminal()));
        before - jobs.len()
    }

    /// Jobs queued but not started.
    pub fn waiting(&self) -> usize {
        self.inner.queue.lock().expect("queue lock").len()
    }

    /// Cancels a job: at once if it has not started, after its current chunk if it runs.
    pub async fn cancel(&self, id: &str) -> Result<CancelOutcome> {
        let (st, changed) = {
            let mut jobs = self.inner.jobs.lock().expect("jobs lock");
            let Some(j) = jobs.get_mut(id) else {
                return Err(Error::new(
                    ErrorKind::NotFound,
                    format!("no job `{id}` is queued or running here"),
                ));
            };
            if j.status.state.is_terminal() {
                return Ok(CancelOutcome {
                    job_id: id.into(),
                    state: j.status.state,
                    changed: false,
                });
            }
            j.cancel.cancel();
            let queued = {
                let mut q = self.inner.queue.lock().expect("queue lock");
                let before = q.len();
                q.retain(|x| x != id);
                q.len() != before
            };
            if queued {
                j.status.state = JobState::Cancelled;
                j.status.message = Some("Cancelled before it started".into());
                j.status.set_time("completed_at", Stamp::now());
            } else {
                j.status.state = JobState::Cancelling;
                j.status.message =
                    Some("Cancel requested; stopping after the current chunk".into());
            }
            (j.status.clone(), true)
        };
        Ok(CancelOutcome {
            job_id: id.into(),
            state: st.state,
            changed,
        })
    }

    /// Cancels every active job; returns how many.
    pub async fn cancel_all(&self) -> usize {
        let ids: Vec<String> = self.active().into_iter().map(|e| e.job_id).collect();
        let mut n = 0;
        for id in ids {
            if matches!(self.cancel(&id).await, Ok(o) if o.changed) {
                n += 1;
            }
        }
        n
    }

    /// Waits until every worker has stopped (after the shutdown token is cancelled, running
    /// jobs stop after their current chunk and are recorded as interrupted).
    pub async fn stopped(&self) {
        self.inner.tracker.wait().await;
    }

    async fn next_job(&self) -> Option<String> {
        loop {
            if let Some(id) = self.inner.queue.lock().expect("queue lock").pop_front() {
                return Some(id);
            }
            tokio::select! {
                _ = self.inner.shutdown.cancelled() => return None,
                _ = self.inner.wake.notified() => {}
                _ = tokio::time::sleep(Duration::from_millis(500)) => self.spare_request().await,
            }
        }
    }

    /// While nothing waits or runs, one request of background work from spare budget
    /// (describing registered symbols from their ticker details), as a Redis worker makes
    /// them: only when the plan lets it through at once, one at a time.
    async fn spare_request(&self) {
        use std::sync::atomic::Ordering;
        let idle =
            self.inner.queue.lock().expect("queue lock").is_empty() && self.active().is_empty();
        if !idle || self.inner.sparing.swap(true, Ordering::AcqRel) {
            return;
        }
        if let Err(e) = self.inner.runner.spare_request().await {
            tracing::debug!("spare request not made: {e}");
        }
        self.inner.sparing.store(false, Ordering::Release);
    }

    async fn work(&self) {
        while let Some(id) = self.next_job().await {
            self.run_one(&id).await;
            self.forget_old();
        }
    }

    fn forget_old(&self) {
        let mut jobs = self.inner.jobs.lock().expect("jobs lock");
        let finished = jobs
            .values()
            .filter(|j| j.status.state.is_terminal())
            .count();
        if finished > KEEP_FINISHED {
            let mut old: Vec<(i64, String)> = jobs
                .iter()
                .filter(|(_, j)| j.status.state.is_terminal())
                .map(|(id, j)| (j.submitted_ms, id.clone()))
                .collect();
            old.sort();
            for (_, id) in old.into_iter().take(finished - KEEP_FINISHED) {
                jobs.remove(&id);
            }
        }
    }

    async fn run_one(&self, id: &str) {
        let Some((job, cancel, mut st)) = ({
            let jobs = self.inner.jobs.lock().expect("jobs lock");
            jobs.get(id)
                .map(|j| (j.job.clone(), j.cancel.clone(), j.status.clone()))
        }) else {
            return;
        };
        if cancel.is_cancelled() {
            return;
        }
        st.state = JobState::Running;
        if st.started_at.is_none() {
            st.set_time("started_at", Stamp::now());
        }
        st.worker_id = Some("built-in".into());
        st.message = Some("Running on the built-in worker".into());
        let env = RunEnv {
            checkpoints: self
                .inner
                .checkpoints
                .clone()
                .unwrap_or_else(|| Arc::new(MemoryCheckpoints::default())),
            history: self.inner.history.clone(),
            cancel,
            shutdown: self.inner.shutdown.child_token(),
            progress_every: self.inner.progress_every,
            history_every: crate::lifecycle::HISTORY_EVERY,
        };
        let host = Arc::new(LocalHost(self.inner.clone()));
        // The local host's writes cannot fail; an error here is the history's, logged there.
        if let Err(e) = run_job(&job, st, self.inner.runner.clone(), host, env).await {
            warn!(job_id = %job.id, "job ended with an error of its queue: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tickstock_data::exec::JobContext;
    use tickstock_protocol::job::{DateRange, JobSpec};
    use tickstock_protocol::timeframe::Timeframe;

    struct Slow;

    #[async_trait]
    impl JobRunner for Slow {
        async fn run(&self, job: &Job, ctx: &JobContext) -> Result<()> {
            let symbols = job.spec.symbols().unwrap_or_default().to_vec();
            ctx.progress()
                .set_plan(symbols.len() as u64, symbols.len() as u64, 0);
            for s in symbols {
                ctx.check()?;
                ctx.unless_stopped(tokio::time::sleep(Duration::from_millis(30)))
                    .await?;
                if s == "BAD" {
                    ctx.progress().symbol_failed(&s, "no data");
                } else {
                    ctx.progress().unit_done(1);
                    ctx.progress().symbol_ok(&s);
                }
                ctx.progress().publish().await?;
            }
            Ok(())
        }
    }

    fn job(symbols: &[&str]) -> Job {
        Job::new(
            JobSpec::Historical {
                symbols: symbols.iter().map(|s| s.to_string()).collect(),
                timespan: Timeframe::Day,
                range: DateRange {
                    years: Some(1.0),
                    ..Default::default()
                },
            },
            "test",
        )
    }

    async fn wait_state(q: &LocalQueue, id: &str, want: JobState) -> JobStatus {
        for _ in 0..400 {
            if let Some(s) = q.status(id) {
                if s.state == want {
                    return s;
                }
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("{id} never reached {want}: {:?}", q.status(id));
    }

    #[tokio::test]
    async fn runs_jobs_cancels_and_reports_errors() {
        let shutdown = CancellationToken::new();
        let q = LocalQueue::start(Arc::new(Slow), None, None, 1, shutdown.clone());
        let a = job(&["AAPL", "BAD"]);
        let b = job(&["S1", "S2", "S3", "S4", "S5", "S6", "S7", "S8", "S9", "S10"]);
        let c = job(&["MSFT"]);
        q.submit(a.clone()).await.unwrap();
        q.submit(b.clone()).await.unwrap();
        q.submit(c.clone()).await.unwrap();
        // c waits behind b: cancelling it is immediate.
        assert_eq!(q.cancel(&c.id).await.unwrap().state, JobState::Cancelled);
        let st = wait_state(&q, &a.id, JobState::CompletedWithErrors).await;
        assert_eq!(st.failures[0].reason, "no data");
        wait_state(&q, &b.id, JobState::Running).await;
        let out = q.cancel(&b.id).await.unwrap();
        assert_eq!(out.state, JobState::Cancelling);
        let st = wait_state(&q, &b.id, JobState::Cancelled).await;
        assert!(st.successful_symbols.len() < 10);
        assert!(q.active().is_empty());
        shutdown.cancel();
        q.stopped().await;
    }
}
