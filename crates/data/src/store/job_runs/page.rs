//! History pages ([`crate::store::history_query`]) in SQL written once for both databases on the
//! [`Dialect`]: the filters and the search as one `WHERE`, the order by a sort key that
//! is never NULL with the id as tie-break (each key has its index; see the migrations
//! `*_job_history_console.sql`), keyset conditions `(key, id) < (..)` for paging by
//! cursor, one `GROUP BY status` for the per-status counts, and one count for the
//! offset of a page reached by cursor or date.

use std::collections::BTreeMap;

use chrono::{Days, NaiveTime};
use sqlx::{Pool, Row};

use super::{sql_trait, Arg, Dialect, Stmt, RUN_COLUMNS};
use crate::store::history_query::{
    micros_to_time, page_size, Cursor, HistoryPage, HistoryPosition, HistoryQuery, HistorySort,
    Search,
};
use crate::store::{JobRun, Store, StoreError};

/// A bound value of a sort key.
fn key_arg(sort: HistorySort, key: i64) -> Arg {
    match sort {
        HistorySort::Submitted => Arg::Time(Some(micros_to_time(key))),
        _ => Arg::Int(key),
    }
}

fn clean(s: &Option<String>) -> Option<&str> {
    s.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

sql_trait! {
/// The queries of a history page, on top of [`Dialect`].
pub(crate) trait DialectPage: Dialect {
    /// The expression a page is ordered by.
    fn sort_key(sort: HistorySort) -> &'static str {
        match sort {
            HistorySort::Submitted => Self::SUBMITTED_KEY,
            HistorySort::Duration => Self::DURATION_KEY,
            HistorySort::Bars => "bars_loaded",
        }
    }

    /// ` WHERE ...`: every filter of `q` (the status only `with_status`) and the search.
    fn push_history_filter(
        s: &mut Stmt,
        q: &HistoryQuery,
        search: Option<&Search>,
        with_status: bool,
    ) {
        s.push(" WHERE 1 = 1");
        if with_status {
            if let Some(st) = clean(&q.status) {
                s.push(" AND status = ")
                    .bind(Stmt::text(st.to_ascii_lowercase()));
            }
        }
        if let Some(k) = clean(&q.kind) {
            s.push(" AND kind = ").bind(Stmt::text(k));
        }
        if let Some(who) = clean(&q.requested_by) {
            s.push(&format!(" AND {} = ", Self::param_text("requested_by")))
                .bind(Stmt::text(who));
        }
        if let Some(t) = q.since {
            s.push(" AND submitted_at >= ").bind(Arg::Time(Some(t)));
        }
        if let Some(t) = q.until {
            s.push(" AND submitted_at < ").bind(Arg::Time(Some(t)));
        }
        if let Some(t) = search {
            s.push(" AND (");
            Self::push_id_starts(s, &t.lower);
            s.push(" OR");
            Self::push_names_symbol(s, &t.upper);
            s.push(&format!(
                " OR lower({}) = ",
                Self::param_text("universe_type")
            ))
            .bind(Stmt::text(&t.lower));
            s.push(" OR");
            Self::push_names_universe_key(s, &t.lower);
            if let Some(st) = &t.status {
                s.push(" OR status = ").bind(Stmt::text(st));
            }
            for k in &t.kinds {
                s.push(" OR kind = ").bind(Stmt::text(*k));
            }
            s.push(")");
        }
    }

    /// A row's sort key as a cursor holds it.
    fn row_key(r: &Self::Row, sort: HistorySort, index: usize) -> Result<i64, sqlx::Error> {
        match sort {
            HistorySort::Submitted => Ok(Self::time(r, index)?
                .map(|t| t.timestamp_micros())
                .unwrap_or(0)),
            _ => r.try_get(index),
        }
    }

    /// Rows matching `q` in its order: at most `limit` after `keyset` (a condition in
    /// the order's direction, or its reverse when `reverse`), skipping `offset`.
    async fn history_rows(
        pool: &Pool<Self>,
        q: &HistoryQuery,
        search: Option<&Search>,
        keyset: Option<(&str, Arg, String)>,
        reverse: bool,
        offset: i64,
    ) -> Result<Vec<(JobRun, Cursor)>, sqlx::Error> {
        let key = Self::sort_key(q.sort);
        let mut s = Self::select_runs();
        s.sql = s
            .sql
            .replacen(" FROM job_runs", &format!(", {key} FROM job_runs"), 1);
        Self::push_history_filter(&mut s, q, search, true);
        if let Some((op, k, id)) = keyset {
            s.push(&format!(" AND ({key}, id) {op} ("))
                .bind(k)
                .push(", ")
                .bind(Stmt::text(id))
                .push(")");
        }
        let dir = if q.ascending != reverse {
            "ASC"
        } else {
            "DESC"
        };
        s.push(&format!(" ORDER BY {key} {dir}, id {dir} LIMIT "))
            .bind(Arg::Int(i64::from(page_size(q))));
        if offset > 0 {
            s.push(" OFFSET ").bind(Arg::Int(offset));
        }
        let rows = Self::query(&s).fetch_all(pool).await?;
        let mut out = rows
            .iter()
            .map(|r| {
                let run = Self::job_from_row(r)?;
                let key = Self::row_key(r, q.sort, RUN_COLUMNS)?;
                let id = run.id.clone();
                Ok((run, Cursor { key, id }))
            })
            .collect::<Result<Vec<_>, sqlx::Error>>()?;
        if reverse {
            out.reverse();
        }
        Ok(out)
    }

    /// Rows per status matching every filter but the status.
    async fn history_counts(
        pool: &Pool<Self>,
        q: &HistoryQuery,
        search: Option<&Search>,
    ) -> Result<BTreeMap<String, i64>, sqlx::Error> {
        let mut s = Self::stmt("SELECT status, count(*) FROM job_runs");
        Self::push_history_filter(&mut s, q, search, false);
        s.push(" GROUP BY status");
        let rows = Self::query(&s).fetch_all(pool).await?;
        rows.iter()
            .map(|r| Ok((r.try_get::<String, _>(0)?, r.try_get::<i64, _>(1)?)))
            .collect()
    }

    /// The cursor of the row `offset` rows into `q`'s order, read from the sort key's
    /// index (its key, the id and the columns the key is made of) without the rows.
    async fn history_boundary(
        pool: &Pool<Self>,
        q: &HistoryQuery,
        search: Option<&Search>,
        offset: i64,
    ) -> Result<Option<Cursor>, sqlx::Error> {
        let key = Self::sort_key(q.sort);
        let mut s = Self::stmt(format!("SELECT {key}, id FROM job_runs"));
        Self::push_history_filter(&mut s, q, search, true);
        let dir = if q.ascending { "ASC" } else { "DESC" };
        s.push(&format!(" ORDER BY {key} {dir}, id {dir} LIMIT 1 OFFSET "))
            .bind(Arg::Int(offset));
        let row = Self::query(&s).fetch_optional(pool).await?;
        row.map(|r| {
            Ok(Cursor {
                key: Self::row_key(&r, q.sort, 0)?,
                id: r.try_get(1)?,
            })
        })
        .transpose()
    }

    /// Rows matching `q` that come before `first` in its order.
    async fn history_rows_before(
        pool: &Pool<Self>,
        q: &HistoryQuery,
        search: Option<&Search>,
        first: &Cursor,
    ) -> Result<i64, sqlx::Error> {
        let key = Self::sort_key(q.sort);
        let mut s = Self::stmt("SELECT count(*) FROM job_runs");
        Self::push_history_filter(&mut s, q, search, true);
        let op = if q.ascending { "<" } else { ">" };
        s.push(&format!(" AND ({key}, id) {op} ("))
            .bind(key_arg(q.sort, first.key))
            .push(", ")
            .bind(Stmt::text(&first.id))
            .push(")");
        Self::query(&s).fetch_one(pool).await?.try_get(0)
    }

    /// One page of history as `q` asks (checked by [`Store::history_page`]).
    async fn history_page(
        pool: &Pool<Self>,
        q: &HistoryQuery,
        at: &Resolved,
    ) -> Result<HistoryPage, sqlx::Error> {
        let search = q.search.as_deref().and_then(Search::parse);
        let search = search.as_ref();
        let size = page_size(q);
        let counts = Self::history_counts(pool, q, search).await?;
        let total = match clean(&q.status) {
            Some(st) => counts.get(&st.to_ascii_lowercase()).copied().unwrap_or(0),
            None => counts.values().sum(),
        };
        let (fwd, back) = if q.ascending { (">", "<") } else { ("<", ">") };
        // A page past the last is the last page, said so (not an empty page past the end).
        let mut past_end = None;
        let clamped;
        let at = match at {
            Resolved::Offset(n) if *n > 0 && *n >= total => {
                past_end = Some(u32::try_from(*n / i64::from(size)).unwrap_or(u32::MAX));
                clamped = Resolved::Offset((total.max(1) - 1) / i64::from(size) * i64::from(size));
                &clamped
            }
            other => other,
        };
        let (rows, offset) = match at {
            Resolved::Offset(0) => (
                Self::history_rows(pool, q, search, None, false, 0).await?,
                Some(0),
            ),
            // A far page: its first row found from the key index alone, then the page
            // read by keyset from there (an OFFSET over whole rows reads every row it
            // skips).
            Resolved::Offset(n) => match Self::history_boundary(pool, q, search, *n).await? {
                Some(c) => {
                    let op = if q.ascending { ">=" } else { "<=" };
                    let k = (op, key_arg(q.sort, c.key), c.id);
                    (
                        Self::history_rows(pool, q, search, Some(k), false, 0).await?,
                        Some(*n),
                    )
                }
                None => (Vec::new(), Some(*n)),
            },
            Resolved::After(c) => {
                let k = (fwd, key_arg(q.sort, c.key), c.id.clone());
                let rows = Self::history_rows(pool, q, search, Some(k), false, 0).await?;
                (rows, None)
            }
            Resolved::Before(c) => {
                let k = (back, key_arg(q.sort, c.key), c.id.clone());
                let rows = Self::history_rows(pool, q, search, Some(k), true, 0).await?;
                if rows.len() < size as usize {
                    // Back at the start: the first page, full.
                    (
                        Self::history_rows(pool, q, search, None, false, 0).await?,
                        Some(0),
                    )
                } else {
                    (rows, None)
                }
            }
            Resolved::From(k) => {
                let k = (
                    if q.ascending { ">=" } else { "<" },
                    k.clone(),
                    String::new(),
                );
                let rows = Self::history_rows_from(pool, q, search, k).await?;
                (rows, None)
            }
        };
        let offset = match (offset, rows.first()) {
            (Some(n), _) => n,
            (None, Some((_, first))) => Self::history_rows_before(pool, q, search, first).await?,
            (None, None) => total,
        };
        let next = rows
            .last()
            .filter(|_| offset + (rows.len() as i64) < total)
            .map(|(_, c)| c.encode());
        let prev = rows.first().filter(|_| offset > 0).map(|(_, c)| c.encode());
        Ok(HistoryPage {
            items: rows.into_iter().map(|(r, _)| r).collect(),
            total,
            counts,
            offset,
            page_size: size,
            next,
            prev,
            past_end,
        })
    }

    /// Rows from a date on (a bound on the key alone, not a row).
    async fn history_rows_from(
        pool: &Pool<Self>,
        q: &HistoryQuery,
        search: Option<&Search>,
        (op, k, _): (&str, Arg, String),
    ) -> Result<Vec<(JobRun, Cursor)>, sqlx::Error> {
        // `(key, id) >= (t, '')` is `key >= t`; `(key, id) < (t, '')` is `key < t`.
        Self::history_rows(pool, q, search, Some((op, k, String::new())), false, 0).await
    }
}
}

impl DialectPage for sqlx::Postgres {}
impl DialectPage for sqlx::Sqlite {}

/// Where a checked query starts.
#[derive(Debug, Clone)]
pub(crate) enum Resolved {
    Offset(i64),
    After(Cursor),
    Before(Cursor),
    /// A bound on the submit time (a date's start).
    From(Arg),
}

impl Store {
    /// A page of the job history as `q` asks: filters, search, order, and where to
    /// start (see [`crate::store::history_query`]), with the total, the counts per status and
    /// cursors to the pages either side.
    pub async fn history_page(&self, q: &HistoryQuery) -> Result<HistoryPage, StoreError> {
        check_query(q)?;
        let size = i64::from(page_size(q));
        let bad = |e: tickstock_protocol::Error| StoreError::invalid(e.message().to_string());
        let at = match &q.at {
            HistoryPosition::First => Resolved::Offset(0),
            HistoryPosition::Page(n) => Resolved::Offset(i64::from(*n) * size),
            HistoryPosition::After(c) => Resolved::After(Cursor::decode(c).map_err(bad)?),
            HistoryPosition::Before(c) => Resolved::Before(Cursor::decode(c).map_err(bad)?),
            HistoryPosition::Date(d) => {
                if q.sort != HistorySort::Submitted {
                    return Err(StoreError::invalid(
                        "A jump to a date needs the history ordered by submit time",
                    ));
                }
                // Newest first: from the end of the day back; oldest first: from its start.
                let day = if q.ascending {
                    *d
                } else {
                    d.checked_add_days(Days::new(1)).unwrap_or(*d)
                };
                Resolved::From(Arg::Time(Some(day.and_time(NaiveTime::MIN).and_utc())))
            }
        };
        match &self.pool {
            super::super::Pool::Postgres(p, _) => {
                <sqlx::Postgres as DialectPage>::history_page(p, q, &at).await
            }
            super::super::Pool::Sqlite(p, _) => {
                <sqlx::Sqlite as DialectPage>::history_page(p, q, &at).await
            }
        }
        .map_err(|e| self.err(e))
    }

    /// Writes a job's row whatever state it holds: for a job the operator queued again
    /// (a final row goes back to `queued`).
    pub async fn reopen_job_run(&self, run: &JobRun) -> Result<(), StoreError> {
        match &self.pool {
            super::super::Pool::Postgres(p, _) => {
                <sqlx::Postgres as Dialect>::write_job_run(p, run, true).await
            }
            super::super::Pool::Sqlite(p, _) => {
                <sqlx::Sqlite as Dialect>::write_job_run(p, run, true).await
            }
        }
        .map_err(|e| self.err(e))
    }
}

/// The longest search a history query takes: longer than any id, symbol list or key an
/// operator types (SQLite refuses a `LIKE` pattern past 50,000 bytes).
pub const MAX_SEARCH_CHARS: usize = 200;

/// Refuses what no history row can match and what one database would read differently
/// from the other: a search past [`MAX_SEARCH_CHARS`], a date outside the years 1 to 9999.
fn check_query(q: &HistoryQuery) -> Result<(), StoreError> {
    if let Some(s) = &q.search {
        if s.chars().count() > MAX_SEARCH_CHARS {
            return Err(StoreError::invalid(format!(
                "A search is at most {MAX_SEARCH_CHARS} characters (this one has {})",
                s.chars().count()
            )));
        }
    }
    for (what, d) in [("since", q.since), ("until", q.until)] {
        if let Some(d) = d {
            if !(1..=9999).contains(&chrono::Datelike::year(&d)) {
                return Err(StoreError::invalid(format!(
                    "The {what} date must be in the years 1 to 9999"
                )));
            }
        }
    }
    Ok(())
}
