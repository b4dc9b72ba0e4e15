//! The two spellings of the [`Dialect`]: PostgreSQL's and SQLite's.

use std::future::Future;

use chrono::{DateTime, Utc};
use sqlx::{Pool, Postgres, Row, Sqlite, Transaction};

use super::{like_escape, Arg, DbQuery, Dialect, Stmt};
use crate::store::schema::OhlcvShape;
use tickstock_protocol::timeframe::Timeframe;

impl Dialect for Postgres {
    const JSON_PARAM: &'static str = "::jsonb";
    const AS_TEXT: &'static str = "::text";
    const AS_INT8: &'static str = "::int8";
    const UNIVERSE_LOCK: Option<&'static str> =
        Some("SELECT pg_advisory_xact_lock(hashtext('tickstock.definition_groups'))");
    const NOW: &'static str = "now()";
    const SUBMITTED_KEY: &'static str = "COALESCE(submitted_at, to_timestamp(0))";
    const DURATION_KEY: &'static str =
        "COALESCE((EXTRACT(EPOCH FROM (completed_at - started_at)) * 1000)::bigint, -1)";

    fn placeholder(n: usize) -> String {
        format!("${n}")
    }

    fn json_field(column: &str, field: &str) -> String {
        format!("({column}->>'{field}')")
    }

    fn cast(expr: &str, ty: &str) -> String {
        format!("CAST({expr} AS {ty})")
    }

    fn push_cast(stmt: &mut Stmt, arg: Arg, ty: &str) {
        stmt.push("CAST(").bind(arg).push(&format!(" AS {ty})"));
    }

    fn bar_time(
        row: &Self::Row,
        index: usize,
        tf: Timeframe,
        shape: OhlcvShape,
    ) -> Result<Option<String>, sqlx::Error> {
        crate::store::postgres_bars::decode_time(row, index, tf, shape)
    }

    fn push_json_merge(stmt: &mut Stmt, column: &str, json: String) {
        stmt.push(&format!(" COALESCE({column}, '{{}}'::jsonb) || "))
            .bind(Stmt::text(json))
            .push("::jsonb");
    }

    fn push_id_starts(stmt: &mut Stmt, lower: &str) {
        stmt.push(" lower(id) LIKE ")
            .bind(Stmt::text(format!("{}%", like_escape(lower))))
            .push(" ESCAPE '\\'");
    }

    fn push_names_universe_key(stmt: &mut Stmt, lower: &str) {
        stmt.push(" string_to_array(lower(params->>'universe_key'), ':') @> ARRAY[")
            .bind(Stmt::text(lower))
            .push("::text]");
    }

    fn push_prefix(stmt: &mut Stmt, column: &str, prefix: &str) {
        stmt.push(&format!(" starts_with(lower({column}), "))
            .bind(Stmt::text(prefix))
            .push(")");
    }

    fn push_names_symbol(stmt: &mut Stmt, symbol: &str) {
        stmt.push(" params @> jsonb_build_object('symbols', jsonb_build_array(")
            .bind(Stmt::text(symbol))
            .push("::text))");
    }

    fn bind_time(q: DbQuery<'_, Self>, t: Option<DateTime<Utc>>) -> DbQuery<'_, Self> {
        q.bind(t)
    }

    fn time(row: &Self::Row, index: usize) -> Result<Option<DateTime<Utc>>, sqlx::Error> {
        row.try_get(index)
    }

    fn rows_affected(result: &Self::QueryResult) -> u64 {
        result.rows_affected()
    }

    fn begin_write(
        pool: &Pool<Self>,
    ) -> impl Future<Output = Result<Transaction<'static, Self>, sqlx::Error>> + Send {
        pool.begin()
    }
}

impl Dialect for Sqlite {
    const JSON_PARAM: &'static str = "";
    const AS_TEXT: &'static str = "";
    const AS_INT8: &'static str = "";
    // A write transaction starts with `BEGIN IMMEDIATE`, which takes the file's write lock.
    const UNIVERSE_LOCK: Option<&'static str> = None;
    const NOW: &'static str = "strftime('%Y-%m-%dT%H:%M:%fZ', 'now')";
    const SUBMITTED_KEY: &'static str = "COALESCE(submitted_at, '1970-01-01T00:00:00.000000Z')";
    const DURATION_KEY: &'static str = "COALESCE(CAST((julianday(completed_at) - \
        julianday(started_at)) * 86400000 AS INTEGER), -1)";

    fn placeholder(_: usize) -> String {
        "?".into()
    }

    fn json_field(column: &str, field: &str) -> String {
        format!("json_extract({column}, '$.{field}')")
    }

    fn cast(expr: &str, _ty: &str) -> String {
        expr.to_string()
    }

    fn push_cast(stmt: &mut Stmt, arg: Arg, _ty: &str) {
        stmt.bind(arg);
    }

    fn bar_time(
        row: &Self::Row,
        index: usize,
        _tf: Timeframe,
        _shape: OhlcvShape,
    ) -> Result<Option<String>, sqlx::Error> {
        row.try_get(index)
    }

    fn push_json_merge(stmt: &mut Stmt, column: &str, json: String) {
        stmt.push(&format!(" json_patch(COALESCE({column}, '{{}}'), "))
            .bind(Stmt::text(json))
            .push(")");
    }

    fn push_id_starts(stmt: &mut Stmt, lower: &str) {
        Self::push_prefix(stmt, "id", lower);
    }

    fn push_names_universe_key(stmt: &mut Stmt, lower: &str) {
        stmt.push(" (':' || lower(json_extract(params, '$.universe_key')) || ':') LIKE ")
            .bind(Stmt::text(format!("%:{}:%", like_escape(lower))))
            .push(" ESCAPE '\\'");
    }

    fn push_prefix(stmt: &mut Stmt, column: &str, prefix: &str) {
        stmt.push(&format!(" lower(substr({column}, 1, "))
            .bind(Arg::Int(prefix.chars().count() as i64))
            .push(")) = ")
            .bind(Stmt::text(prefix));
    }

    fn push_names_symbol(stmt: &mut Stmt, symbol: &str) {
        stmt.push(
            " EXISTS (SELECT 1 FROM json_each(job_runs.params, '$.symbols') AS j WHERE j.value = ",
        )
        .bind(Stmt::text(symbol))
        .push(")");
    }

    fn bind_time(q: DbQuery<'_, Self>, t: Option<DateTime<Utc>>) -> DbQuery<'_, Self> {
        q.bind(t.map(crate::store::format_stamp))
    }

    fn time(row: &Self::Row, index: usize) -> Result<Option<DateTime<Utc>>, sqlx::Error> {
        crate::store::sqlite::parse_stamp(row.try_get(index)?, index)
    }

    fn rows_affected(result: &Self::QueryResult) -> u64 {
        result.rows_affected()
    }

    fn begin_write(
        pool: &Pool<Self>,
    ) -> impl Future<Output = Result<Transaction<'static, Self>, sqlx::Error>> + Send {
        pool.begin_with(crate::store::sqlite::BEGIN_WRITE)
    }
}
