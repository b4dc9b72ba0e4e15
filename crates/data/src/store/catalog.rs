//! The `symbols` table and the universes (`definition_groups`, `group_memberships`):
//! their SQL, written once for both databases on the job history's
//! [`Dialect`](super::job_runs::Dialect) and over the [`Schema`] read at connect time. A
//! field is written to whichever of its known columns the table has (TickStock's names
//! or this app's), each value bound as text, cast to its column's type and cut to its
//! length; the database spells the cast, a JSON field, a JSON merge and the universe
//! writers' lock. [`Store`](super::Store)'s methods in `universes.rs` check the input and
//! call these.

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::{Pool, Postgres, Row as _, Sqlite, Transaction};

use super::job_runs::{sql_trait, Arg, Dialect, Stmt, IN_LIST_CHUNK};
use super::schema::{Column, Schema};
use super::{find_group, format_date, format_stamp, GroupRow, SymbolRecord, UniverseDef};

/// Rows per multi-row statement. A row binds the symbol and one value per column written
/// (at most the 23 candidate columns, or the 13 TickStock defaults), so a statement stays
/// well under SQLite's 32766 and PostgreSQL's 65535 bound values.
const ROW_CHUNK: usize = 500;
/// Universe members per `INSERT` (two values each).
const MEMBER_CHUNK: usize = 1000;
const _: () = assert!(ROW_CHUNK * 47 < 32766 && MEMBER_CHUNK * 2 < 32766);

/// A date column read as text (`YYYY-MM-DD`, or a longer stamp starting with one); any
/// other text is no date.
fn parse_date(s: Option<String>) -> Option<NaiveDate> {
    let s = s?;
    NaiveDate::parse_from_str(s.get(..10).unwrap_or(&s), "%Y-%m-%d").ok()
}

/// One field of a symbol record: the columns it may land in, and its value per record.
struct Field {
    /// Candidate columns, in this app's schema and in TickStock's.
    columns: &'static [&'static str],
    values: Vec<Option<String>>,
}

/// The columns of `symbols` that hold when the row was refreshed from Polygon, and
/// Polygon's own update time: TickStock names them `last_updated` and `last_updated_utc`,
/// this app `refreshed_at` and `last_updated`.
fn refresh_columns(schema: &Schema) -> (&'static [&'static str], &'static [&'static str]) {
    if schema.symbols_tickstock() {
        (&["last_updated"], &["last_updated_utc"])
    } else {
        (&["refreshed_at"], &["last_updated"])
    }
}

/// The column that holds when a row was described from ticker details: TickStock's
/// `sic_updated_at` (its loader stamps it with every details call), this app's
/// `described_at`.
fn described_column(schema: &Schema) -> &'static [&'static str] {
    if schema.symbols_tickstock() {
        &["sic_updated_at"]
    } else {
        &["described_at"]
    }
}

/// The first of `candidates` the `symbols` table has.
fn first_column<'a>(schema: &Schema, candidates: &'a [&'a str]) -> Option<&'a str> {
    candidates
        .iter()
        .copied()
        .find(|c| schema.symbols.contains_key(*c))
}

/// The record's fields, each with the columns it may be written to.
fn fields(schema: &Schema, recs: &[SymbolRecord]) -> Vec<Field> {
    fn field(columns: &'static [&'static str], values: Vec<Option<String>>) -> Field {
        Field { columns, values }
    }
    let text = |f: &dyn Fn(&SymbolRecord) -> Option<String>| -> Vec<Option<String>> {
        recs.iter().map(f).collect()
    };
    let nonempty = |s: &str| Some(s.to_string()).filter(|s| !s.is_empty());
    let number = |v: Option<f64>| v.map(|v| v.to_string());
    let (refreshed, polygon_updated) = refresh_columns(schema);
    vec![
        field(&["name"], text(&|r| nonempty(&r.name))),
        field(&["market"], text(&|r| nonempty(&r.market))),
        field(
            &["exchange", "primary_exchange"],
            text(&|r| nonempty(&r.exchange)),
        ),
        field(&["type"], text(&|r| nonempty(&r.type_))),
        // `1`/`0`: a boolean on PostgreSQL, an integer on SQLite.
        field(&["active"], text(&|r| Some(u8::from(r.active).to_string()))),
        field(&["locale"], text(&|r| r.locale.clone())),
        field(
            &["currency", "currency_name"],
            text(&|r| r.currency.clone()),
        ),
        field(&["cik"], text(&|r| r.cik.clone())),
        field(&["composite_figi"], text(&|r| r.composite_figi.clone())),
        field(&["share_class_figi"], text(&|r| r.share_class_figi.clone())),
        field(polygon_updated, text(&|r| r.last_updated.map(format_stamp))),
        field(&["market_cap"], text(&|r| number(r.market_cap))),
        field(
            &["weighted_shares_outstanding"],
            text(&|r| number(r.weighted_shares_outstanding)),
        ),
        field(&["sic_code"], text(&|r| r.sic_code.clone())),
        field(&["sic_description"], text(&|r| r.sic_description.clone())),
        field(&["sector"], text(&|r| r.sector.clone())),
        field(&["industry"], text(&|r| r.industry.clone())),
        field(&["list_date"], text(&|r| r.list_date.map(format_date))),
        field(
            &["total_employees"],
            text(&|r| r.total_employees.map(|v| v.to_string())),
        ),
        field(refreshed, text(&|r| r.refreshed_at.map(format_stamp))),
        field(
            described_column(schema),
            text(&|r| r.described_at.map(format_stamp)),
        ),
    ]
}

/// A value as its column takes it: rounded for an integer column, cut to its length.
fn fit_to_column(info: &Column, value: Option<&String>) -> Option<String> {
    let integer = matches!(info.data_type.as_str(), "bigint" | "integer" | "smallint");
    value.map(|v| {
        let v = match v.parse::<f64>() {
            Ok(x) if integer && x.is_finite() => (x.round() as i64).to_string(),
            _ => v.clone(),
        };
        match info.max_len {
            Some(n) if v.chars().count() > n => v.chars().take(n).collect(),
            _ => v,
        }
    })
}

sql_trait! {
/// The `symbols` and universe statements on top of the [`Dialect`].
pub(super) trait CatalogSql: Dialect {
    /// Inserts or updates `symbols` rows in one transaction, in whichever of the known
    /// columns the table has; `NULL` keeps what is stored. Then each record's defaults go
    /// to the columns (of those the table has) where its row has no value. Returns the
    /// rows written.
    async fn upsert_symbols(
        pool: &Pool<Self>,
        schema: &Schema,
        recs: &[SymbolRecord],
    ) -> Result<u64, sqlx::Error> {
        let mut tx = Self::begin_write(pool).await?;
        let mut written = 0;
        for chunk in recs.chunks(ROW_CHUNK) {
            let s = Self::symbols_insert(schema, chunk);
            written += Self::rows_affected(&Self::query(&s).execute(&mut *tx).await?);
            if let Some(s) = Self::defaults_update(schema, chunk) {
                Self::query(&s).execute(&mut *tx).await?;
            }
        }
        tx.commit().await?;
        Ok(written)
    }

    /// `INSERT INTO symbols ... ON CONFLICT (symbol) DO UPDATE` for one chunk of records.
    fn symbols_insert(schema: &Schema, recs: &[SymbolRecord]) -> Stmt {
        let fields = fields(schema, recs);
        let columns: Vec<(&str, &Column, &[Option<String>])> = fields
            .iter()
            .flat_map(|f| {
                f.columns
                    .iter()
                    .filter_map(|c| schema.symbols.get_key_value(*c))
                    .map(|(name, info)| (name.as_str(), info, f.values.as_slice()))
            })
            .collect();
        let names: String = columns.iter().map(|(c, ..)| format!(", \"{c}\"")).collect();
        let mut s = Self::stmt(format!("INSERT INTO symbols (symbol{names}) VALUES "));
        for (i, r) in recs.iter().enumerate() {
            s.push(if i == 0 { "(" } else { ", (" })
                .bind(Stmt::text(&r.symbol));
            for (_, info, values) in &columns {
                s.push(", ");
                let value = fit_to_column(info, values[i].as_ref());
                Self::push_cast(&mut s, Arg::Text(value), &info.data_type);
            }
            s.push(")");
        }
        s.push(" ON CONFLICT (symbol) DO ");
        if columns.is_empty() {
            s.push("NOTHING");
        } else {
            let set: Vec<String> = columns
                .iter()
                .map(|(c, ..)| format!("\"{c}\" = COALESCE(excluded.\"{c}\", symbols.\"{c}\")"))
                .collect();
            s.push(&format!("UPDATE SET {}", set.join(", ")));
        }
        s
    }

    /// One `UPDATE .. FROM (VALUES ..)` that gives each record's defaults to the columns
    /// the table has where its row has none; `None` when no default has a column.
    fn defaults_update(schema: &Schema, recs: &[SymbolRecord]) -> Option<Stmt> {
        let mut columns: Vec<&'static str> = Vec::new();
        for r in recs {
            for (col, _) in &r.defaults {
                if schema.symbols.contains_key(*col) && !columns.contains(col) {
                    columns.push(col);
                }
            }
        }
        if columns.is_empty() {
            return None;
        }
        let mut s = Self::stmt("UPDATE symbols SET ");
        for (i, col) in columns.iter().enumerate() {
            if i > 0 {
                s.push(", ");
            }
            // VALUES names its columns column1, column2, ... on both databases.
            let value = Self::cast(
                &format!("u.column{}", i + 2),
                &schema.symbols[*col].data_type,
            );
            s.push(&format!("\"{col}\" = COALESCE(symbols.\"{col}\", {value})"));
        }
        s.push(" FROM (VALUES ");
        for (i, r) in recs.iter().enumerate() {
            s.push(if i == 0 { "(" } else { ", (" })
                .bind(Stmt::text(&r.symbol));
            for col in &columns {
                let value = r.defaults.iter().find(|(c, _)| c == col).map(|(_, v)| v);
                s.push(", ")
                    .bind(Arg::Text(fit_to_column(&schema.symbols[*col], value)));
            }
            s.push(")");
        }
        s.push(") AS u WHERE symbols.symbol = u.column1");
        Some(s)
    }

    /// Which of `symbols` were registered from Polygon at `since` or later.
    async fn fresh_symbols(
        pool: &Pool<Self>,
        schema: &Schema,
        symbols: &[String],
        since: DateTime<Utc>,
    ) -> Result<Vec<String>, sqlx::Error> {
        let Some(col) = first_column(schema, refresh_columns(schema).0) else {
            return Ok(Vec::new());
        };
        let mut fresh = Vec::new();
        for chunk in symbols.chunks(IN_LIST_CHUNK) {
            // A naive column holds UTC and sessions run in UTC: the comparison is in UTC.
            let mut s = Self::stmt(format!(
                "SELECT symbol{} FROM symbols WHERE \"{col}\" >= ",
                Self::AS_TEXT
            ));
            s.bind(Arg::Time(Some(since))).push(" AND");
            Self::push_in(&mut s, "symbol", chunk);
            fresh.extend(Self::texts(pool, &s).await?);
        }
        Ok(fresh)
    }

    /// Registered since `since` and not described since: the first `limit` by symbol,
    /// of `only` when given.
    async fn symbols_to_describe(
        pool: &Pool<Self>,
        schema: &Schema,
        only: Option<&[String]>,
        since: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<String>, sqlx::Error> {
        let registered = first_column(schema, refresh_columns(schema).0);
        let described = first_column(schema, described_column(schema));
        let (Some(registered), Some(described)) = (registered, described) else {
            return Ok(Vec::new());
        };
        let query = |chunk: Option<&[String]>| {
            let mut s = Self::stmt(format!(
                "SELECT symbol{} FROM symbols WHERE \"{registered}\" >= ",
                Self::AS_TEXT
            ));
            s.bind(Arg::Time(Some(since)))
                .push(&format!(
                    " AND (\"{described}\" IS NULL OR \"{described}\" < "
                ))
                .bind(Arg::Time(Some(since)))
                .push(")");
            if let Some(chunk) = chunk {
                s.push(" AND");
                Self::push_in(&mut s, "symbol", chunk);
            }
            s.push(" ORDER BY symbol LIMIT ").bind(Arg::Int(limit));
            s
        };
        let Some(only) = only else {
            return Self::texts(pool, &query(None)).await;
        };
        let mut out = Vec::new();
        for chunk in only.chunks(IN_LIST_CHUNK) {
            out.extend(Self::texts(pool, &query(Some(chunk))).await?);
        }
        out.sort();
        out.truncate(usize::try_from(limit).unwrap_or(0));
        Ok(out)
    }

    /// Stamps `symbols` as described now.
    async fn mark_described(
        pool: &Pool<Self>,
        schema: &Schema,
        symbols: &[String],
    ) -> Result<(), sqlx::Error> {
        let Some(col) = first_column(schema, described_column(schema)) else {
            return Ok(());
        };
        let now = format_stamp(Utc::now());
        for chunk in symbols.chunks(IN_LIST_CHUNK) {
            let mut s = Self::stmt(format!("UPDATE symbols SET \"{col}\" = "));
            Self::push_cast(&mut s, Stmt::text(&now), &schema.symbols[col].data_type);
            s.push(" WHERE");
            Self::push_in(&mut s, "symbol", chunk);
            Self::query(&s).execute(pool).await?;
        }
        Ok(())
    }

    /// The first column of every row a statement reads, as text.
    async fn texts(pool: &Pool<Self>, s: &Stmt) -> Result<Vec<String>, sqlx::Error> {
        let rows = Self::query(s).fetch_all(pool).await?;
        rows.iter().map(|r| r.try_get(0)).collect()
    }

    /// The universes of `environment` (when the groups have one) with their member
    /// counts; on TickStock's groups those of types UNIVERSE and ETF only, as TickStock
    /// resolves them, with the as-of date its `metadata` keeps.
    async fn groups(
        pool: &Pool<Self>,
        schema: &Schema,
        environment: &str,
    ) -> Result<Vec<GroupRow>, sqlx::Error> {
        let as_of = if schema.groups_as_of {
            format!("g.as_of{}", Self::AS_TEXT)
        } else if schema.groups_tickstock {
            let field = Self::json_field("g.metadata", "as_of");
            format!("CASE WHEN {field} LIKE '____-__-__' THEN {field} END")
        } else {
            "NULL".into()
        };
        let (int8, text) = (Self::AS_INT8, Self::AS_TEXT);
        let mut s = Self::stmt(format!(
            "SELECT g.id{int8}, g.name{text}, g.type{text}, g.description{text}, {as_of},
                    (SELECT count(*) FROM group_memberships m WHERE m.group_id = g.id)
               FROM definition_groups g WHERE 1 = 1"
        ));
        if schema.groups_environment {
            s.push(" AND g.environment = ")
                .bind(Stmt::text(environment));
        }
        if schema.groups_tickstock {
            s.push(" AND g.type IN ('UNIVERSE', 'ETF')");
        }
        s.push(" ORDER BY g.id");
        let rows = Self::query(&s).fetch_all(pool).await?;
        rows.iter()
            .map(|r| {
                Ok(GroupRow {
                    id: r.try_get(0)?,
                    name: r.try_get(1)?,
                    kind: r.try_get::<Option<String>, _>(2)?.unwrap_or_default(),
                    description: r.try_get(3)?,
                    as_of: parse_date(r.try_get(4)?),
                    members: r.try_get(5)?,
                })
            })
            .collect()
    }

    /// A group's members, by symbol.
    async fn group_members(pool: &Pool<Self>, id: i64) -> Result<Vec<String>, sqlx::Error> {
        let mut s = Self::stmt(format!(
            "SELECT symbol{} FROM group_memberships WHERE group_id = ",
            Self::AS_TEXT
        ));
        s.bind(Arg::Int(id)).push(" ORDER BY symbol");
        Self::texts(pool, &s).await
    }

    /// Writes a universe of `environment` in one transaction, in a form the table's
    /// constraints accept (TickStock's: `environment`, a type from its list, the as-of
    /// date in `metadata`). With `replace == false` an existing universe is left alone
    /// (seeding). Returns whether anything was written.
    async fn replace_universe(
        pool: &Pool<Self>,
        schema: &Schema,
        environment: &str,
        def: &UniverseDef,
        members: &[String],
        replace: bool,
    ) -> Result<bool, sqlx::Error> {
        let mut tx = Self::begin_write(pool).await?;
        if let Some(lock) = Self::UNIVERSE_LOCK {
            Self::query(&Self::stmt(lock)).execute(&mut *tx).await?;
        }
        let mut s = Self::stmt(format!(
            "SELECT id{}, name{} FROM definition_groups WHERE 1 = 1",
            Self::AS_INT8,
            Self::AS_TEXT
        ));
        if schema.groups_environment {
            s.push(" AND environment = ").bind(Stmt::text(environment));
        }
        s.push(" ORDER BY id");
        let rows: Vec<GroupRow> = Self::query(&s)
            .fetch_all(&mut *tx)
            .await?
            .iter()
            .map(|r| {
                Ok::<_, sqlx::Error>(GroupRow {
                    id: r.try_get(0)?,
                    name: r.try_get(1)?,
                    kind: String::new(),
                    description: None,
                    as_of: None,
                    members: 0,
                })
            })
            .collect::<Result<_, _>>()?;
        let id = match find_group(&rows, &def.key) {
            Some(_) if !replace => return Ok(false),
            Some(id) => {
                Self::update_group(&mut tx, schema, id, def).await?;
                id
            }
            None => Self::insert_group(&mut tx, schema, environment, def).await?,
        };
        for chunk in members.chunks(MEMBER_CHUNK) {
            let mut s = Self::stmt("INSERT INTO group_memberships (group_id, symbol) VALUES ");
            for (i, m) in chunk.iter().enumerate() {
                s.push(if i == 0 { "(" } else { ", (" })
                    .bind(Arg::Int(id))
                    .push(", ")
                    .bind(Stmt::text(m))
                    .push(")");
            }
            s.push(" ON CONFLICT DO NOTHING");
            Self::query(&s).execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    /// The as-of date as TickStock's `metadata` keeps it.
    fn as_of_json(def: &UniverseDef) -> String {
        serde_json::json!({
            "as_of": def.as_of.map(format_date),
            "source": "tickstock-admin",
        })
        .to_string()
    }

    /// Sets an existing group's type, description and as-of date, and drops its members.
    async fn update_group(
        tx: &mut Transaction<'static, Self>,
        schema: &Schema,
        id: i64,
        def: &UniverseDef,
    ) -> Result<(), sqlx::Error> {
        let mut s = Self::stmt("UPDATE definition_groups SET type = ");
        s.bind(Stmt::text(&def.kind))
            .push(", description = ")
            .bind(Stmt::text(&def.name))
            .push(&format!(", updated_at = {}", Self::NOW));
        if schema.groups_as_of {
            s.push(", as_of = ");
            Self::push_cast(&mut s, Arg::Text(def.as_of.map(format_date)), "date");
        } else if schema.groups_tickstock {
            s.push(", metadata =");
            Self::push_json_merge(&mut s, "metadata", Self::as_of_json(def));
        }
        s.push(" WHERE id = ").bind(Arg::Int(id));
        Self::query(&s).execute(&mut **tx).await?;
        let mut s = Self::stmt("DELETE FROM group_memberships WHERE group_id = ");
        s.bind(Arg::Int(id));
        Self::query(&s).execute(&mut **tx).await?;
        Ok(())
    }

    /// Adds a group; its id.
    async fn insert_group(
        tx: &mut Transaction<'static, Self>,
        schema: &Schema,
        environment: &str,
        def: &UniverseDef,
    ) -> Result<i64, sqlx::Error> {
        let mut cols = String::from("name, type, description");
        for (has, col) in [
            (schema.groups_as_of, ", as_of"),
            (schema.groups_tickstock, ", metadata"),
            (schema.groups_environment, ", environment"),
        ] {
            if has {
                cols.push_str(col);
            }
        }
        let mut s = Self::stmt(format!("INSERT INTO definition_groups ({cols}) VALUES ("));
        s.bind(Stmt::text(&def.key))
            .push(", ")
            .bind(Stmt::text(&def.kind))
            .push(", ")
            .bind(Stmt::text(&def.name));
        if schema.groups_as_of {
            s.push(", ");
            Self::push_cast(&mut s, Arg::Text(def.as_of.map(format_date)), "date");
        }
        if schema.groups_tickstock {
            s.push(", ")
                .bind(Stmt::text(Self::as_of_json(def)))
                .push(Self::JSON_PARAM);
        }
        if schema.groups_environment {
            s.push(", ").bind(Stmt::text(environment));
        }
        s.push(&format!(") RETURNING id{}", Self::AS_INT8));
        Self::query(&s).fetch_one(&mut **tx).await?.try_get(0)
    }
}
}

impl CatalogSql for Postgres {}
impl CatalogSql for Sqlite {}
