//! A job's own log lines: every tracing event inside a job's span ([`span`], entered by
//! `tickstock_queue::lifecycle::run_job` around the whole run) is captured by [`JobLogLayer`] into
//! a buffer per job, and the lifecycle keeps them with the job in the history
//! (`job_logs`) when it ends or is released. The job detail shows them: stored lines, then
//! those still in the buffer of a job running in this process.
//!
//! Install the layer beside the process's own output (the CLI and the app do):
//! `tracing_subscriber::registry().with(fmt_layer).with(joblog::layer())`. It records
//! INFO and above whatever the console's filter says, at most [`MAX_LINES`] per job.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::{LazyLock, Mutex};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::registry::LookupSpan;

/// Lines kept per job; later lines replace the oldest beyond it, and a note says so.
pub const MAX_LINES: usize = 2000;

/// One log line of a job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogLine {
    pub at: DateTime<Utc>,
    /// `INFO`, `WARN`, `ERROR` (DEBUG and TRACE are not kept).
    pub level: String,
    /// The event's message and its other fields (`key=value`).
    pub message: String,
}

#[derive(Default)]
struct Buffer {
    lines: Vec<LogLine>,
    dropped: usize,
}

static BUFFERS: LazyLock<Mutex<HashMap<String, Buffer>>> = LazyLock::new(Default::default);

/// The span a job runs in: events inside it are the job's log.
pub fn span(job_id: &str) -> tracing::Span {
    tracing::info_span!("job", job_id = %job_id)
}

/// The layer that captures job spans' events.
pub fn layer<S>() -> impl Layer<S>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    JobLogLayer
}

/// Lines captured for `job_id` and not yet taken, leaving them in place.
pub fn peek(job_id: &str) -> Vec<LogLine> {
    BUFFERS
        .lock()
        .expect("job log lock")
        .get(job_id)
        .map(|b| b.lines.clone())
        .unwrap_or_default()
}

/// Takes the lines captured for `job_id` (the buffer is emptied).
pub fn take(job_id: &str) -> Vec<LogLine> {
    let b = BUFFERS.lock().expect("job log lock").remove(job_id);
    match b {
        Some(mut b) => {
            if b.dropped > 0 {
                b.lines.insert(
                    0,
                    LogLine {
                        at: b.lines.first().map(|l| l.at).unwrap_or_else(Utc::now),
                        level: "INFO".into(),
                        message: format!("({} earlier lines not kept)", b.dropped),
                    },
                );
            }
            b.lines
        }
        None => Vec::new(),
    }
}

/// The job id a span was opened for.
struct JobId(String);

/// See the module documentation.
pub struct JobLogLayer;

#[derive(Default)]
struct Fields {
    message: String,
    rest: String,
    job_id: Option<String>,
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        match field.name() {
            "message" => self.message = value.to_string(),
            "job_id" => self.job_id = Some(value.to_string()),
            name => {
                let _ = write!(self.rest, " {name}={value}");
            }
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        match field.name() {
            "message" => self.message = format!("{value:?}"),
            "job_id" => self.job_id = Some(format!("{value:?}").trim_matches('"').to_string()),
            name => {
                let _ = write!(self.rest, " {name}={value:?}");
            }
        }
    }
}

impl<S> Layer<S> for JobLogLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(
        &self,
        attrs: &tracing::span::Attributes<'_>,
        id: &tracing::span::Id,
        ctx: Context<'_, S>,
    ) {
        if attrs.metadata().name() != "job" {
            return;
        }
        let mut f = Fields::default();
        attrs.record(&mut f);
        if let (Some(job_id), Some(span)) = (f.job_id, ctx.span(id)) {
            span.extensions_mut().insert(JobId(job_id));
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        if *event.metadata().level() > Level::INFO {
            return;
        }
        let Some(scope) = ctx.event_scope(event) else {
            return;
        };
        let Some(job_id) = scope
            .from_root()
            .find_map(|s| s.extensions().get::<JobId>().map(|j| j.0.clone()))
        else {
            return;
        };
        let mut f = Fields::default();
        event.record(&mut f);
        // The job's id is the log's own: not repeated on every line.
        let message = format!("{}{}", f.message, f.rest).trim().to_string();
        let line = LogLine {
            at: Utc::now(),
            level: event.metadata().level().to_string(),
            message,
        };
        let mut buffers = BUFFERS.lock().expect("job log lock");
        let b = buffers.entry(job_id).or_default();
        if b.lines.len() >= MAX_LINES {
            b.lines.remove(0);
            b.dropped += 1;
        }
        b.lines.push(line);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing_subscriber::layer::SubscriberExt;

    #[test]
    fn events_in_a_job_span_are_the_jobs_log() {
        let subscriber = tracing_subscriber::registry().with(layer());
        tracing::subscriber::with_default(subscriber, || {
            let s = span("job-a");
            let _g = s.enter();
            tracing::info!(symbol = "AAPL", "loaded {} bars", 21);
            tracing::debug!("not kept");
            {
                let inner = tracing::info_span!("page");
                let _i = inner.enter();
                tracing::warn!("slow page");
            }
            drop(_g);
            tracing::info!("outside any job");
        });
        let lines = take("job-a");
        let text: Vec<String> = lines
            .iter()
            .map(|l| format!("{} {}", l.level, l.message))
            .collect();
        assert_eq!(
            text,
            vec!["INFO loaded 21 bars symbol=AAPL", "WARN slow page"]
        );
        assert!(take("job-a").is_empty(), "taken once");
    }
}
