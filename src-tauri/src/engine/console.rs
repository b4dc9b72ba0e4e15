//! The operations console over the engine: the queue (the Redis stream or the embedded
//! queue), its pause, the workers and their commands, the dead letters and the
//! dashboard's history. Pause, workers and dead letters live in Redis: in embedded mode
//! those calls say so rather than pretend.

use tickstock_jobs::reads::dashboard::Dashboard;
use tickstock_jobs::runtime::{Bus, WorkerCommand};
use tickstock_jobs::service::SubmitOptions;
use tickstock_protocol::status::JobState;
use tickstock_protocol::ErrorKind;

use super::{Engine, Mode};
use crate::error::{CmdResult, CommandError};
use crate::views::console::{
    ConsoleActionView, DeadLetterView, DeadLettersView, PauseView, QueueConsoleView, QueueRowView,
    WorkerRowView, WorkersConsoleView,
};

/// Dead letters listed at most.
const DEAD_LIMIT: usize = 500;

/// What embedded mode cannot do, as the console says it.
pub const EMBEDDED_PAUSE: &str =
    "Pause and resume need Redis mode: in embedded mode the built-in worker takes every queued job";
pub const EMBEDDED_WORKERS: &str =
    "Embedded mode: jobs run on the app's built-in worker. Workers, quiet and stop need Redis mode";
pub const EMBEDDED_DEAD: &str =
    "Embedded mode keeps no dead letters: a job that fails is failed in the history";

fn needs_redis(what: &str) -> CommandError {
    CommandError::new(ErrorKind::Config, format!("{what} needs Redis mode"))
}

fn age_since(iso: Option<&str>) -> Option<f64> {
    let t = tickstock_protocol::status::parse_time(iso?)?;
    Some(((chrono::Utc::now() - t).num_milliseconds().max(0)) as f64 / 1000.0)
}

impl Engine {
    /// The bus in Redis mode (connecting if needed), `None` in embedded mode.
    async fn console_bus(&self) -> CmdResult<Option<Bus>> {
        match &self.mode {
            Mode::Embedded { .. } => Ok(None),
            Mode::Redis { bus } => Ok(Some(bus.get().await?)),
        }
    }

    async fn require_bus(&self, what: &str) -> CmdResult<Bus> {
        self.console_bus().await?.ok_or_else(|| needs_redis(what))
    }

    /// Waiting and in-flight jobs with their ages, and the pause.
    pub async fn console_queue(&self) -> CmdResult<QueueConsoleView> {
        if let Some(bus) = self.console_bus().await? {
            let v = bus.queue_view().await?;
            return Ok(QueueConsoleView {
                mode: "redis",
                pausable: true,
                paused: v.paused.map(|p| PauseView {
                    requested_by: p.requested_by,
                    paused_at: p.paused_at,
                }),
                waiting: v.waiting.iter().map(QueueRowView::from).collect(),
                waiting_total: v.waiting_total,
                in_flight: v.in_flight.iter().map(QueueRowView::from).collect(),
                in_flight_total: v.in_flight_total,
                dead: Some(v.dead),
                note: None,
            });
        }
        let entries = match &self.mode {
            Mode::Embedded { queue: Some(q) } => q.active(),
            _ => Vec::new(),
        };
        let now_ms = chrono::Utc::now().timestamp_millis();
        let (mut waiting, mut running) = (Vec::new(), Vec::new());
        // Oldest first, as in Redis mode.
        for e in entries.iter().rev() {
            let Some(st) = &e.status else { continue };
            let queued = st.state == JobState::Queued;
            let row = QueueRowView {
                job_id: Some(e.job_id.clone()),
                kind: st.job_type.clone(),
                requested_by: None,
                status: Some(st.state.as_str().to_string()),
                worker: (!queued).then(|| "built-in".to_string()),
                deliveries: None,
                age_seconds: if queued {
                    (now_ms - e.submitted_ms).max(0) as f64 / 1000.0
                } else {
                    age_since(st.started_at.as_deref())
                        .unwrap_or((now_ms - e.submitted_ms).max(0) as f64 / 1000.0)
                },
                since: if queued {
                    st.submitted_at.clone()
                } else {
                    st.started_at.clone()
                },
            };
            if queued {
                waiting.push(row);
            } else {
                running.push(row);
            }
        }
        Ok(QueueConsoleView {
            mode: "embedded",
            pausable: false,
            paused: None,
            waiting_total: waiting.len() as u64,
            waiting,
            in_flight_total: running.len() as u64,
            in_flight: running,
            dead: None,
            note: Some(EMBEDDED_PAUSE.to_string()),
        })
    }

    pub async fn console_pause(&self, who: &str) -> CmdResult<ConsoleActionView> {
        let bus = self.require_bus("Pausing the queue").await?;
        // Through the job service, which keeps a copy in the database; without one (no
        // database yet) the pause is Redis's alone.
        let changed = match self.service() {
            Ok(service) => service.pause_queue(who).await?,
            Err(_) => bus.pause_queue(who).await?,
        };
        Ok(ConsoleActionView {
            changed,
            message: if changed {
                "Queue paused: running jobs finish, no worker starts another".into()
            } else {
                "The queue was already paused".into()
            },
            job_id: None,
        })
    }

    pub async fn console_resume(&self) -> CmdResult<ConsoleActionView> {
        let bus = self.require_bus("Resuming the queue").await?;
        let changed = match self.service() {
            Ok(service) => service.resume_queue().await?,
            Err(_) => bus.resume_queue().await?,
        };
        Ok(ConsoleActionView {
            changed,
            message: if changed {
                "Queue resumed".into()
            } else {
                "The queue was not paused".into()
            },
            job_id: None,
        })
    }

    /// The workers seen in the last day, freshest first.
    pub async fn console_workers(&self) -> CmdResult<WorkersConsoleView> {
        let Some(bus) = self.console_bus().await? else {
            return Ok(WorkersConsoleView {
                mode: "embedded",
                workers: Vec::new(),
                note: Some(EMBEDDED_WORKERS.to_string()),
            });
        };
        let rows = bus.worker_rows().await?;
        let mut workers: Vec<WorkerRowView> = rows
            .iter()
            .map(|w| WorkerRowView::from_row(w, self.worker_id.as_deref()))
            .collect();
        if workers.iter().any(WorkerRowView::gone) {
            if let Some(active) = self.active_ids().await {
                WorkerRowView::keep_active_jobs(&mut workers, &active);
            }
        }
        Ok(WorkersConsoleView {
            mode: "redis",
            workers,
            note: None,
        })
    }

    /// `quiet`, `stop` or `resume` (withdraws a command not yet carried out).
    pub async fn console_worker_command(
        &self,
        id: &str,
        command: &str,
        who: &str,
    ) -> CmdResult<ConsoleActionView> {
        let bus = self
            .require_bus("Telling a worker to be quiet or stop")
            .await?;
        let id = id.trim();
        let message = match command {
            "quiet" | "stop" => {
                let c = if command == "quiet" {
                    WorkerCommand::Quiet
                } else {
                    WorkerCommand::Stop
                };
                bus.send_worker_command(id, c, who).await?;
                match c {
                    WorkerCommand::Quiet => {
                        format!("Worker {id} finishes its jobs and takes no more")
                    }
                    WorkerCommand::Stop => format!("Worker {id} told to stop"),
                }
            }
            "resume" => {
                if bus.clear_worker_command(id).await? {
                    format!("Worker {id} takes jobs again")
                } else {
                    format!("Worker {id} had no command to withdraw")
                }
            }
            other => {
                return Err(CommandError::field(
                    "command",
                    format!("Unknown worker command {other:?}: use quiet, stop or resume"),
                ))
            }
        };
        Ok(ConsoleActionView {
            changed: true,
            message,
            job_id: None,
        })
    }

    pub async fn console_dead_letters(&self) -> CmdResult<DeadLettersView> {
        let Some(bus) = self.console_bus().await? else {
            return Ok(DeadLettersView {
                mode: "embedded",
                letters: Vec::new(),
                note: Some(EMBEDDED_DEAD.to_string()),
            });
        };
        let list = bus.dead_letters(DEAD_LIMIT).await?;
        Ok(DeadLettersView {
            mode: "redis",
            letters: list.iter().map(DeadLetterView::from).collect(),
            note: None,
        })
    }

    /// Queues a dead letter's job again through the job service (refused while an
    /// identical job is active); its history row says `queued` again too.
    pub async fn console_requeue_dead(&self, id: &str, who: &str) -> CmdResult<ConsoleActionView> {
        self.require_bus("Requeueing a dead letter").await?;
        let job = self
            .service()?
            .requeue_dead(id, who, SubmitOptions::default())
            .await?;
        Ok(ConsoleActionView {
            changed: true,
            message: format!("Job {} queued again", job.id),
            job_id: Some(job.id),
        })
    }

    pub async fn console_delete_dead(&self, id: &str) -> CmdResult<ConsoleActionView> {
        let bus = self.require_bus("Deleting a dead letter").await?;
        if !bus.delete_dead_letter(id).await? {
            return Err(CommandError::new(
                ErrorKind::NotFound,
                format!(
                    "No dead letter {}",
                    tickstock_protocol::error::quote_input(id.trim())
                ),
            ));
        }
        Ok(ConsoleActionView {
            changed: true,
            message: "Dead letter deleted".into(),
            job_id: None,
        })
    }

    pub async fn console_purge_dead(&self) -> CmdResult<ConsoleActionView> {
        let bus = self.require_bus("Purging the dead letters").await?;
        let n = bus.purge_dead_letters().await?;
        Ok(ConsoleActionView {
            changed: n > 0,
            message: format!(
                "{} deleted",
                tickstock_protocol::text::count(n, "dead letter")
            ),
            job_id: None,
        })
    }

    /// The dashboard's numbers from the history.
    pub async fn dashboard(&self) -> CmdResult<Dashboard> {
        let now = chrono::Utc::now();
        let today_start = local_midnight(now);
        Ok(tickstock_jobs::reads::dashboard::dashboard(self.store()?, now, today_start).await?)
    }

    /// Requests this app's Polygon client has sent, and the plan's limit per minute.
    pub fn polygon_requests(&self) -> Option<(u64, u32)> {
        // The plan in force: the key's shared value once the budget is shared, which may
        // differ from this app's setting (another process set it explicitly).
        self.polygon
            .as_ref()
            .map(|p| (p.requests_sent(), p.rate_limiter().limit()))
    }

    /// Requests on this API key in the last minute by every process sharing its budget
    /// through Redis (`None`: the budget is not shared, or Redis did not answer).
    pub async fn polygon_key_spent(&self) -> Option<u64> {
        let budget = self.polygon.as_ref()?.rate_limiter().shared()?;
        budget.spent_in_plan_window().await.ok()
    }
}

/// The operator's local midnight of `now`, in UTC.
fn local_midnight(now: chrono::DateTime<chrono::Utc>) -> chrono::DateTime<chrono::Utc> {
    use chrono::TimeZone;
    let local = now.with_timezone(&chrono::Local);
    chrono::Local
        .from_local_datetime(&local.date_naive().and_time(chrono::NaiveTime::MIN))
        .earliest()
        .map(|t| t.with_timezone(&chrono::Utc))
        .unwrap_or(now - chrono::Duration::hours(24))
}
