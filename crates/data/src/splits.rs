//! Splits: when Polygon's adjusted history of a stored symbol changed after its bars were
//! stored, the symbol is flagged and can be reloaded.
//!
//! [`check`] asks Polygon for the splits of the stored symbols since their first bar and
//! records each in `split_checks`. A split not executed yet is `upcoming` (checked again
//! next time); one with no stored bar before it is `unaffected`. Otherwise the stored bar
//! just before the split, in each stored timeframe, is compared with the bar Polygon
//! serves now: a close that differs by more than [`TOLERANCE`] means the stored bars
//! predate the adjustment and the symbol is `flagged`; the same close means they were
//! loaded after it (`unaffected`). One request per split and timeframe, never for a split
//! already settled.
//!
//! [`reload_jobs`] builds, for each flagged symbol, the load jobs that fetch its stored
//! range again (one `multi_timeframe_load` per distinct range of its timeframes);
//! `tickstock_jobs::splits::submit_reloads` submits them through the job service (an
//! identical job already active is not submitted again: it does the reload) and
//! [`mark_reloading`] records the ids of the jobs reloading each symbol. [`settle_reloads`] turns
//! `reloading` into `reloaded` once every one of those jobs completed (back to `flagged`,
//! with the reason, when one did not).

use std::collections::{BTreeMap, HashMap};

use chrono::{Duration, NaiveDate, Utc};
use serde::Serialize;

use crate::completeness::key_date;
use crate::polygon::{PolygonClient, SplitQuery};
use crate::store::{SplitCheckRow, Store, SymbolSpan};
use tickstock_protocol::error::Result;
use tickstock_protocol::job::{Job, JobRequest, SymbolsInput};
use tickstock_protocol::status::JobState;
use tickstock_protocol::timeframe::Timeframe;

/// Relative difference of closes above which stored bars are taken as unadjusted.
pub const TOLERANCE: f64 = 0.005;

/// Split check states.
pub const UPCOMING: &str = "upcoming";
pub const UNAFFECTED: &str = "unaffected";
pub const FLAGGED: &str = "flagged";
pub const RELOADING: &str = "reloading";
pub const RELOADED: &str = "reloaded";

/// Whether a state means the stored bars still need (or are getting) a reload.
pub fn needs_reload(state: &str) -> bool {
    matches!(state, FLAGGED | RELOADING)
}

/// What is stored of one symbol: its spans per timeframe.
fn stored(spans: Vec<SymbolSpan>) -> BTreeMap<String, Vec<SymbolSpan>> {
    let mut out: BTreeMap<String, Vec<SymbolSpan>> = BTreeMap::new();
    for s in spans {
        out.entry(s.symbol.clone()).or_default().push(s);
    }
    out
}

async fn stored_spans(
    store: &Store,
    symbols: Option<&[String]>,
) -> Result<BTreeMap<String, Vec<SymbolSpan>>> {
    let mut all = Vec::new();
    for tf in Timeframe::ALL {
        all.extend(store.symbol_spans(tf, symbols).await?);
    }
    Ok(stored(all))
}

/// Checks the splits of `symbols` (every stored symbol when `None`) as of `today` (a New
/// York date) and records them; returns the checks of those symbols, settled or not.
pub async fn check(
    store: &Store,
    polygon: &PolygonClient,
    symbols: Option<&[String]>,
    today: NaiveDate,
) -> Result<Vec<SplitCheckRow>> {
    let spans = stored_spans(store, symbols).await?;
    let first_of = |spans: &[SymbolSpan]| spans.iter().filter_map(|s| key_date(&s.first)).min();
    let mut splits = Vec::new();
    match symbols {
        Some(_) => {
            for (symbol, s) in &spans {
                splits.extend(
                    polygon
                        .splits(&SplitQuery {
                            ticker: Some(symbol.clone()),
                            since: first_of(s),
                        })
                        .await?,
                );
            }
        }
        None => {
            let since = spans.values().filter_map(|s| first_of(s)).min();
            if since.is_some() {
                splits = polygon
                    .splits(&SplitQuery {
                        ticker: None,
                        since,
                    })
                    .await?;
            }
        }
    }
    let known: HashMap<(String, NaiveDate), SplitCheckRow> = store
        .split_checks(symbols)
        .await?
        .into_iter()
        .map(|r| ((r.symbol.clone(), r.execution_date), r))
        .collect();
    for split in splits {
        let symbol = split.ticker.trim().to_ascii_uppercase();
        let Some(s) = spans.get(&symbol) else {
            continue;
        };
        if let Some(k) = known.get(&(symbol.clone(), split.execution_date)) {
            if k.state != UPCOMING {
                continue;
            }
        }
        let (state, detail) = if split.execution_date > today {
            (UPCOMING, "not executed yet".to_string())
        } else {
            verify(store, polygon, &symbol, s, split.execution_date).await?
        };
        store
            .upsert_split_check(&SplitCheckRow {
                symbol,
                execution_date: split.execution_date,
                split_from: split.split_from,
                split_to: split.split_to,
                state: state.to_string(),
                detail: Some(detail),
                reload_jobs: Vec::new(),
                seen_at: None,
                updated_at: None,
            })
            .await?;
    }
    Ok(store
        .split_checks(Some(&spans.keys().cloned().collect::<Vec<_>>()))
        .await?)
}

/// Compares the stored bar before the split with Polygon's, in each stored timeframe.
async fn verify(
    store: &Store,
    polygon: &PolygonClient,
    symbol: &str,
    spans: &[SymbolSpan],
    date: NaiveDate,
) -> Result<(&'static str, String)> {
    let mut checked = Vec::new();
    for span in spans {
        let tf = span.timeframe;
        let Some(bar) = store.bar_before(symbol, tf, date).await? else {
            continue;
        };
        let Some(day) = key_date(&bar.time) else {
            continue;
        };
        let to = match tf {
            Timeframe::Week | Timeframe::Month => day + Duration::days(31),
            _ => day,
        };
        let theirs = polygon
            .aggregates_all(symbol, tf, day, to)
            .await?
            .into_iter()
            .find(|b| {
                if tf.is_dated() {
                    b.ny_date() == day
                } else {
                    crate::store::format_instant(b.time_utc()) == bar.time
                }
            });
        let Some(theirs) = theirs else {
            return Ok((
                FLAGGED,
                format!(
                    "{} bar at {} not served by Polygon to compare; reload to be sure",
                    tf.wire_name(),
                    bar.time
                ),
            ));
        };
        let diff = (bar.close - theirs.c).abs() / theirs.c.abs().max(f64::MIN_POSITIVE);
        if diff > TOLERANCE {
            return Ok((
                FLAGGED,
                format!(
                    "{} close at {}: stored {}, Polygon now {}",
                    tf.wire_name(),
                    bar.time,
                    bar.close,
                    theirs.c
                ),
            ));
        }
        checked.push(tf.wire_name());
    }
    Ok((
        UNAFFECTED,
        if checked.is_empty() {
            "no stored bar before the split".to_string()
        } else {
            format!("stored bars already adjusted ({})", checked.join(", "))
        },
    ))
}

/// The symbols with a split whose stored bars need a reload (`flagged`), of `symbols`
/// when given.
pub async fn flagged(store: &Store, symbols: Option<&[String]>) -> Result<Vec<String>> {
    let mut out: Vec<String> = store
        .split_checks(symbols)
        .await?
        .into_iter()
        .filter(|r| r.state == FLAGGED)
        .map(|r| r.symbol)
        .collect();
    out.dedup();
    Ok(out)
}

/// For each flagged symbol (of `symbols` when given), the jobs that load its stored range
/// again: one per distinct range of its timeframes.
pub async fn reload_jobs(
    store: &Store,
    symbols: Option<&[String]>,
    requested_by: &str,
) -> Result<Vec<(String, Vec<Job>)>> {
    let list = flagged(store, symbols).await?;
    if list.is_empty() {
        return Ok(Vec::new());
    }
    let spans = stored_spans(store, Some(&list)).await?;
    let mut out = Vec::new();
    for symbol in list {
        let Some(s) = spans.get(&symbol) else {
            continue;
        };
        let mut ranges: BTreeMap<(NaiveDate, NaiveDate), Vec<String>> = BTreeMap::new();
        for span in s {
            if let (Some(a), Some(b)) = (key_date(&span.first), key_date(&span.last)) {
                ranges
                    .entry((a, b))
                    .or_default()
                    .push(span.timeframe.wire_name().to_string());
            }
        }
        let mut jobs = Vec::new();
        for ((from, to), timeframes) in ranges {
            let request = JobRequest {
                kind: "multi_timeframe_load".into(),
                symbols: SymbolsInput::List(vec![symbol.clone()]),
                timeframes,
                start_date: Some(from.format("%Y-%m-%d").to_string()),
                end_date: Some(to.format("%Y-%m-%d").to_string()),
                ..Default::default()
            };
            jobs.push(
                request
                    .build(requested_by, &|_| false)
                    .map_err(|e| tickstock_protocol::job::field_errors_to_error(&e))?,
            );
        }
        out.push((symbol, jobs));
    }
    Ok(out)
}

/// Records that `jobs` reload `symbol`: its flagged splits become `reloading`.
pub async fn mark_reloading(store: &Store, symbol: &str, jobs: &[String]) -> Result<()> {
    for mut r in store.split_checks(Some(&[symbol.to_string()])).await? {
        if r.state == FLAGGED {
            r.state = RELOADING.into();
            r.detail = Some(format!(
                "reload submitted at {}",
                Utc::now().format("%F %T UTC")
            ));
            r.reload_jobs = jobs.to_vec();
            store.upsert_split_check(&r).await?;
        }
    }
    Ok(())
}

/// Every job id a `reloading` split waits for.
pub async fn pending_reload_jobs(store: &Store) -> Result<Vec<String>> {
    let mut ids: Vec<String> = store
        .split_checks(None)
        .await?
        .into_iter()
        .filter(|r| r.state == RELOADING)
        .flat_map(|r| r.reload_jobs)
        .collect();
    ids.sort();
    ids.dedup();
    Ok(ids)
}

/// Settles `reloading` splits whose jobs ended, given the jobs' states (unknown or still
/// running ones are left as they are). Returns how many splits changed.
pub async fn settle_reloads(store: &Store, states: &HashMap<String, JobState>) -> Result<u64> {
    let mut changed = 0;
    for mut r in store.split_checks(None).await? {
        if r.state != RELOADING {
            continue;
        }
        let ends: Vec<(String, Option<JobState>)> = r
            .reload_jobs
            .iter()
            .map(|id| (id.clone(), states.get(id).copied()))
            .collect();
        if let Some((id, st)) = ends
            .iter()
            .find(|(_, s)| s.is_some_and(|s| s.is_terminal() && s != JobState::Completed))
        {
            r.state = FLAGGED.into();
            r.detail = Some(format!(
                "reload job {id} ended {}",
                st.map(JobState::as_str).unwrap_or("?")
            ));
        } else if !ends.is_empty() && ends.iter().all(|(_, s)| *s == Some(JobState::Completed)) {
            r.state = RELOADED.into();
            r.detail = Some(format!(
                "reloaded by {}",
                ends.iter()
                    .map(|(id, _)| id.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        } else {
            continue;
        }
        store.upsert_split_check(&r).await?;
        changed += 1;
    }
    Ok(changed)
}

/// The state of a job as the database's job history (`job_runs`) knows it.
pub async fn recorded_state(store: &Store, id: &str) -> Result<Option<JobState>> {
    Ok(store
        .job_run(id)
        .await?
        .and_then(|r| JobState::parse(&r.status)))
}

/// One line of `tickstock splits --json`.
#[derive(Debug, Clone, Serialize)]
pub struct SplitLine {
    pub symbol: String,
    pub execution_date: NaiveDate,
    pub split_from: f64,
    pub split_to: f64,
    pub state: String,
    pub needs_reload: bool,
    pub detail: Option<String>,
    pub reload_jobs: Vec<String>,
}

impl From<SplitCheckRow> for SplitLine {
    fn from(r: SplitCheckRow) -> Self {
        SplitLine {
            needs_reload: needs_reload(&r.state),
            symbol: r.symbol,
            execution_date: r.execution_date,
            split_from: r.split_from,
            split_to: r.split_to,
            state: r.state,
            detail: r.detail,
            reload_jobs: r.reload_jobs,
        }
    }
}
