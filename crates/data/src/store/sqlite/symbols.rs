//! The `symbols` table on SQLite: registered symbols, their refresh and description.

use super::{format_date, Store, StoreError, SymbolRecord};
use super::{format_stamp, BEGIN_WRITE, SYMBOL_CHUNK};
use chrono::{DateTime, NaiveDate, Utc};
use sqlx::{QueryBuilder, Sqlite, SqlitePool};

pub(in crate::store) async fn upsert_symbols(
    store: &Store,
    pool: &SqlitePool,
    recs: &[SymbolRecord],
) -> Result<u64, StoreError> {
    async fn run(pool: &SqlitePool, recs: &[SymbolRecord]) -> Result<u64, sqlx::Error> {
        let opt = |s: &str| Some(s.to_string()).filter(|s| !s.is_empty());
        let mut tx = pool.begin_with(BEGIN_WRITE).await?;
        let mut written = 0;
        for chunk in recs.chunks(SYMBOL_CHUNK) {
            let mut qb = QueryBuilder::<Sqlite>::new(
                "INSERT INTO symbols (symbol, name, market, exchange, type, active, locale, currency, cik, \
                 composite_figi, share_class_figi, last_updated, market_cap, weighted_shares_outstanding, \
                 sic_code, sic_description, sector, industry, list_date, total_employees, refreshed_at, \
                 described_at) ",
            );
            qb.push_values(chunk, |mut b, r| {
                b.push_bind(r.symbol.clone())
                    .push_bind(opt(&r.name))
                    .push_bind(opt(&r.market))
                    .push_bind(opt(&r.exchange))
                    .push_bind(opt(&r.type_))
                    .push_bind(r.active)
                    .push_bind(r.locale.clone())
                    .push_bind(r.currency.clone())
                    .push_bind(r.cik.clone())
                    .push_bind(r.composite_figi.clone())
                    .push_bind(r.share_class_figi.clone())
                    .push_bind(r.last_updated.map(format_stamp))
                    .push_bind(r.market_cap)
                    .push_bind(r.weighted_shares_outstanding)
                    .push_bind(r.sic_code.clone())
                    .push_bind(r.sic_description.clone())
                    .push_bind(r.sector.clone())
                    .push_bind(r.industry.clone())
                    .push_bind(r.list_date.map(format_date))
                    .push_bind(r.total_employees)
                    .push_bind(r.refreshed_at.map(format_stamp))
                    .push_bind(r.described_at.map(format_stamp));
            });
            qb.push(
                " ON CONFLICT (symbol) DO UPDATE SET
                    name = COALESCE(excluded.name, symbols.name),
                    market = COALESCE(excluded.market, symbols.market),
                    exchange = COALESCE(excluded.exchange, symbols.exchange),
                    type = COALESCE(excluded.type, symbols.type),
                    active = excluded.active,
                    locale = COALESCE(excluded.locale, symbols.locale),
                    currency = COALESCE(excluded.currency, symbols.currency),
                    cik = COALESCE(excluded.cik, symbols.cik),
                    composite_figi = COALESCE(excluded.composite_figi, symbols.composite_figi),
                    share_class_figi = COALESCE(excluded.share_class_figi, symbols.share_class_figi),
                    last_updated = COALESCE(excluded.last_updated, symbols.last_updated),
                    market_cap = COALESCE(excluded.market_cap, symbols.market_cap),
                    weighted_shares_outstanding = COALESCE(excluded.weighted_shares_outstanding, symbols.weighted_shares_outstanding),
                    sic_code = COALESCE(excluded.sic_code, symbols.sic_code),
                    sic_description = COALESCE(excluded.sic_description, symbols.sic_description),
                    sector = COALESCE(excluded.sector, symbols.sector),
                    industry = COALESCE(excluded.industry, symbols.industry),
                    list_date = COALESCE(excluded.list_date, symbols.list_date),
                    total_employees = COALESCE(excluded.total_employees, symbols.total_employees),
                    refreshed_at = COALESCE(excluded.refreshed_at, symbols.refreshed_at),
                    described_at = COALESCE(excluded.described_at, symbols.described_at)",
            );
            written += qb.build().execute(&mut *tx).await?.rows_affected();
        }
        // Defaults only where the row has no value (of the columns this table has).
        for r in recs {
            for (col, value) in &r.defaults {
                if !matches!(*col, "sector" | "industry") {
                    continue;
                }
                sqlx::query(&format!(
                    "UPDATE symbols SET {col} = ? WHERE symbol = ? AND {col} IS NULL"
                ))
                .bind(value)
                .bind(&r.symbol)
                .execute(&mut *tx)
                .await?;
            }
        }
        tx.commit().await?;
        Ok(written)
    }
    run(pool, recs).await.map_err(|e| store.err(e))
}

pub(in crate::store::sqlite) fn parse_date(
    s: Option<String>,
    index: usize,
) -> Result<Option<NaiveDate>, sqlx::Error> {
    s.filter(|s| !s.is_empty())
        .map(|s| {
            NaiveDate::parse_from_str(s.get(..10).unwrap_or(&s), "%Y-%m-%d").map_err(|e| {
                sqlx::Error::ColumnDecode {
                    index: index.to_string(),
                    source: Box::new(e),
                }
            })
        })
        .transpose()
}

pub(in crate::store) async fn fresh_symbols(
    store: &Store,
    pool: &SqlitePool,
    symbols: &[String],
    since: DateTime<Utc>,
) -> Result<Vec<String>, StoreError> {
    let since = format_stamp(since);
    let mut fresh = Vec::new();
    for chunk in symbols.chunks(SYMBOL_CHUNK) {
        let mut qb =
            QueryBuilder::<Sqlite>::new("SELECT symbol FROM symbols WHERE refreshed_at >= ");
        qb.push_bind(since.clone()).push(" AND symbol IN (");
        let mut sep = qb.separated(", ");
        for s in chunk {
            sep.push_bind(s.clone());
        }
        qb.push(")");
        let rows: Vec<String> = qb
            .build_query_scalar()
            .fetch_all(pool)
            .await
            .map_err(|e| store.err(e))?;
        fresh.extend(rows);
    }
    Ok(fresh)
}

pub(in crate::store) async fn mark_described(
    store: &Store,
    pool: &SqlitePool,
    symbols: &[String],
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE symbols SET described_at = ? WHERE symbol IN (SELECT value FROM json_each(?))",
    )
    .bind(format_stamp(Utc::now()))
    .bind(serde_json::to_string(symbols).unwrap_or_default())
    .execute(pool)
    .await
    .map(|_| ())
    .map_err(|e| store.err(e))
}

pub(in crate::store) async fn symbols_to_describe(
    store: &Store,
    pool: &SqlitePool,
    only: Option<&[String]>,
    since: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<String>, StoreError> {
    let since = format_stamp(since);
    let mut qb = QueryBuilder::<Sqlite>::new("SELECT symbol FROM symbols WHERE refreshed_at >= ");
    qb.push_bind(since.clone())
        .push(" AND (described_at IS NULL OR described_at < ")
        .push_bind(since)
        .push(")");
    if let Some(only) = only {
        qb.push(" AND symbol IN (SELECT value FROM json_each(")
            .push_bind(serde_json::to_string(only).unwrap_or_default())
            .push("))");
    }
    qb.push(" ORDER BY symbol LIMIT ").push_bind(limit);
    qb.build_query_scalar()
        .fetch_all(pool)
        .await
        .map_err(|e| store.err(e))
}
