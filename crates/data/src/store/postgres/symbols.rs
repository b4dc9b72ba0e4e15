//! The `symbols` table on PostgreSQL, written to the columns an existing TickStock schema
//! has (never altered): registered symbols, their refresh and description.

use super::pg_schema::PgSchema;
use super::{format_date, Store, StoreError, SymbolRecord};
use chrono::{DateTime, Utc};
use sqlx::{PgPool, Postgres, QueryBuilder};

/// One logical field of a symbol record and the columns it may land in.
pub(in crate::store::postgres) struct SymbolField {
    /// Candidate columns, in this app's schema and in TickStock's.
    columns: &'static [&'static str],
    values: Vec<Option<String>>,
}

/// The columns of `symbols` that hold when the row was refreshed from ticker details, and
/// Polygon's own update time: TickStock names them `last_updated` and `last_updated_utc`,
/// this app `refreshed_at` and `last_updated`.
pub(in crate::store::postgres) fn refresh_columns(
    schema: &PgSchema,
) -> (&'static [&'static str], &'static [&'static str]) {
    if schema.symbols_tickstock() {
        (&["last_updated"], &["last_updated_utc"])
    } else {
        (&["refreshed_at"], &["last_updated"])
    }
}

pub(in crate::store::postgres) fn field(
    columns: &'static [&'static str],
    values: Vec<Option<String>>,
) -> SymbolField {
    SymbolField { columns, values }
}

/// Inserts or updates `symbols` rows in whichever of the known columns the table has,
/// each value cast to its column's type and cut to its length; `NULL` keeps what is stored.
pub(in crate::store) async fn upsert_symbols(
    store: &Store,
    pool: &PgPool,
    schema: &PgSchema,
    recs: &[SymbolRecord],
) -> Result<u64, StoreError> {
    let text = |f: &dyn Fn(&SymbolRecord) -> Option<String>| recs.iter().map(f).collect::<Vec<_>>();
    let stamp = |t: Option<DateTime<Utc>>| {
        t.map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true))
    };
    let nonempty = |s: &str| Some(s.to_string()).filter(|s| !s.is_empty());
    let (refreshed, polygon_updated) = refresh_columns(schema);
    let fields = [
        field(&["name"], text(&|r| nonempty(&r.name))),
        field(&["market"], text(&|r| nonempty(&r.market))),
        field(
            &["exchange", "primary_exchange"],
            text(&|r| nonempty(&r.exchange)),
        ),
        field(&["type"], text(&|r| nonempty(&r.type_))),
        field(&["active"], text(&|r| Some(r.active.to_string()))),
        field(&["locale"], text(&|r| r.locale.clone())),
        field(
            &["currency", "currency_name"],
            text(&|r| r.currency.clone()),
        ),
        field(&["cik"], text(&|r| r.cik.clone())),
        field(&["composite_figi"], text(&|r| r.composite_figi.clone())),
        field(&["share_class_figi"], text(&|r| r.share_class_figi.clone())),
        field(polygon_updated, text(&|r| stamp(r.last_updated))),
        field(
            &["market_cap"],
            text(&|r| r.market_cap.map(|v| v.to_string())),
        ),
        field(
            &["weighted_shares_outstanding"],
            text(&|r| r.weighted_shares_outstanding.map(|v| v.to_string())),
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
        field(refreshed, text(&|r| stamp(r.refreshed_at))),
        field(described_column(schema), text(&|r| stamp(r.described_at))),
    ];
    let mut columns = String::from("symbol");
    let mut select = String::from("u.c0");
    let mut set = Vec::new();
    let mut arrays: Vec<Vec<Option<String>>> =
        vec![recs.iter().map(|r| Some(r.symbol.clone())).collect()];
    for f in &fields {
        for col in f.columns {
            let Some(info) = schema.symbols.get(*col) else {
                continue;
            };
            let values = fit_to_column(info, &f.values);
            let i = arrays.len();
            arrays.push(values);
            columns.push_str(&format!(", \"{col}\""));
            select.push_str(&format!(", CAST(u.c{i} AS {})", info.data_type));
            set.push(format!(
                "\"{col}\" = COALESCE(EXCLUDED.\"{col}\", symbols.\"{col}\")"
            ));
        }
    }
    let names: Vec<String> = (0..arrays.len()).map(|i| format!("c{i}")).collect();
    let mut qb = QueryBuilder::<Postgres>::new(format!(
        "INSERT INTO symbols ({columns}) SELECT {select} FROM UNNEST("
    ));
    for (i, a) in arrays.into_iter().enumerate() {
        if i > 0 {
            qb.push(", ");
        }
        qb.push_bind(a).push("::text[]");
    }
    qb.push(format!(
        ") AS u ({}) ON CONFLICT (symbol) DO ",
        names.join(", ")
    ));
    if set.is_empty() {
        qb.push("NOTHING");
    } else {
        qb.push(format!("UPDATE SET {}", set.join(", ")));
    }
    let mut tx = pool.begin().await.map_err(|e| store.err(e))?;
    let written = qb
        .build()
        .execute(&mut *tx)
        .await
        .map(|r| r.rows_affected())
        .map_err(|e| store.err(e))?;
    fill_defaults(schema, recs)?
        .build()
        .execute(&mut *tx)
        .await
        .map_err(|e| store.err(e))?;
    tx.commit().await.map_err(|e| store.err(e))?;
    Ok(written)
}

/// The column that holds when a row was described from ticker details: TickStock's
/// `sic_updated_at` (its loader stamps it with every details call), this app's
/// `described_at`.
pub(in crate::store::postgres) fn described_column(schema: &PgSchema) -> &'static [&'static str] {
    if schema.symbols_tickstock() {
        &["sic_updated_at"]
    } else {
        &["described_at"]
    }
}

/// Values as a column takes them: rounded for an integer column, cut to its length.
pub(in crate::store::postgres) fn fit_to_column(
    info: &super::pg_schema::Column,
    values: &[Option<String>],
) -> Vec<Option<String>> {
    let integer = matches!(info.data_type.as_str(), "bigint" | "integer" | "smallint");
    values
        .iter()
        .map(|v| {
            v.as_ref().map(|v| {
                let v = match v.parse::<f64>() {
                    Ok(x) if integer => (x.round() as i64).to_string(),
                    _ => v.clone(),
                };
                match info.max_len {
                    Some(n) if v.chars().count() > n => v.chars().take(n).collect(),
                    _ => v,
                }
            })
        })
        .collect()
}

/// One statement that gives each record's defaults to the columns (of those the table
/// has) where its row has no value.
pub(in crate::store::postgres) fn fill_defaults<'a>(
    schema: &PgSchema,
    recs: &[SymbolRecord],
) -> Result<QueryBuilder<'a, Postgres>, StoreError> {
    let mut columns: Vec<&'static str> = Vec::new();
    for r in recs {
        for (col, _) in &r.defaults {
            if schema.symbols.contains_key(*col) && !columns.contains(col) {
                columns.push(col);
            }
        }
    }
    let mut qb = QueryBuilder::<Postgres>::new("");
    if columns.is_empty() {
        qb.push("SELECT 1");
        return Ok(qb);
    }
    let symbols: Vec<String> = recs.iter().map(|r| r.symbol.clone()).collect();
    let set: Vec<String> = columns
        .iter()
        .enumerate()
        .map(|(i, col)| {
            let ty = &schema.symbols[*col].data_type;
            format!(
                "\"{col}\" = COALESCE(s.\"{col}\", CAST(u.c{} AS {ty}))",
                i + 1
            )
        })
        .collect();
    qb.push(format!(
        "UPDATE symbols s SET {} FROM UNNEST(",
        set.join(", ")
    ));
    qb.push_bind(symbols).push("::text[]");
    for col in &columns {
        let values: Vec<Option<String>> = recs
            .iter()
            .map(|r| {
                r.defaults
                    .iter()
                    .find(|(c, _)| c == col)
                    .map(|(_, v)| v.clone())
            })
            .collect();
        qb.push(", ")
            .push_bind(fit_to_column(&schema.symbols[*col], &values))
            .push("::text[]");
    }
    let names: Vec<String> = (0..=columns.len()).map(|i| format!("c{i}")).collect();
    qb.push(format!(
        ") AS u ({}) WHERE s.symbol = u.c0",
        names.join(", ")
    ));
    Ok(qb)
}

pub(in crate::store) async fn mark_described(
    store: &Store,
    pool: &PgPool,
    schema: &PgSchema,
    symbols: &[String],
) -> Result<(), StoreError> {
    let Some(col) = described_column(schema)
        .iter()
        .find(|c| schema.symbols.contains_key(**c))
    else {
        return Ok(());
    };
    // A naive column holds UTC (as every stamp this store writes).
    sqlx::query(&format!(
        "UPDATE symbols SET \"{col}\" = CAST($1 AS {}) WHERE symbol = ANY($2)",
        schema.symbols[*col].data_type
    ))
    .bind(Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true))
    .bind(symbols)
    .execute(pool)
    .await
    .map(|_| ())
    .map_err(|e| store.err(e))
}

pub(in crate::store) async fn symbols_to_describe(
    store: &Store,
    pool: &PgPool,
    schema: &PgSchema,
    only: Option<&[String]>,
    since: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<String>, StoreError> {
    let (refreshed, _) = refresh_columns(schema);
    let registered = refreshed.iter().find(|c| schema.symbols.contains_key(**c));
    let described = described_column(schema)
        .iter()
        .find(|c| schema.symbols.contains_key(**c));
    let (Some(registered), Some(described)) = (registered, described) else {
        return Ok(Vec::new());
    };
    sqlx::query_scalar(&format!(
        "SELECT symbol::text FROM symbols
          WHERE \"{registered}\" >= $1
            AND (\"{described}\" IS NULL OR \"{described}\" < $1)
            AND ($2::text[] IS NULL OR symbol = ANY($2))
          ORDER BY symbol LIMIT $3"
    ))
    .bind(since)
    .bind(only)
    .bind(limit)
    .fetch_all(pool)
    .await
    .map_err(|e| store.err(e))
}

pub(in crate::store) async fn fresh_symbols(
    store: &Store,
    pool: &PgPool,
    schema: &PgSchema,
    symbols: &[String],
    since: DateTime<Utc>,
) -> Result<Vec<String>, StoreError> {
    let (refreshed, _) = refresh_columns(schema);
    let Some(col) = refreshed.iter().find(|c| schema.symbols.contains_key(**c)) else {
        return Ok(Vec::new());
    };
    // A naive column holds UTC and sessions run in UTC, so the comparison is in UTC.
    sqlx::query_scalar(&format!(
        "SELECT symbol::text FROM symbols WHERE symbol = ANY($1) AND \"{col}\" >= $2"
    ))
    .bind(symbols)
    .bind(since)
    .fetch_all(pool)
    .await
    .map_err(|e| store.err(e))
}
