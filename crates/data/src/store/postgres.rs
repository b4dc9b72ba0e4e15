//! The PostgreSQL backend: connecting (sessions in UTC, the shape of an existing
//! database's tables read once), migrations over a rewritten first migration, and the
//! `symbols` and universe SQL in whichever of TickStock's or this app's columns the
//! tables have. Bars are in `postgres_bars.rs`.

use std::str::FromStr;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Connection, PgConnection, PgPool, Postgres, QueryBuilder, Row as _};

use super::pg_schema::{self, PgSchema};
use super::{
    format_date, redact_url, GroupRow, Pool, Store, StoreError, StoreOptions, SymbolRecord,
    UniverseDef,
};

pub(super) async fn connect(url: &str, options: &StoreOptions) -> Result<Store, StoreError> {
    let parsed = url::Url::parse(url).ok();
    let secret = parsed
        .as_ref()
        .and_then(|u| u.password().map(str::to_string));
    // A URL without a database would use one named after the OS user (and create our
    // tables there): the database must be named.
    let names_db = parsed.as_ref().is_some_and(|u| {
        !u.path().trim_matches('/').is_empty() || u.query_pairs().any(|(k, _)| k == "dbname")
    });
    if !names_db {
        return Err(StoreError::invalid(format!(
            "the PostgreSQL URL `{}` names no database: add /DBNAME (postgres://user@host:5432/tickstock)",
            redact_url(url)
        )));
    }
    let opts = PgConnectOptions::from_str(url)
        .map_err(|e| {
            let mut msg = e.to_string();
            if let Some(p) = secret.as_deref().filter(|p| !p.is_empty()) {
                msg = msg.replace(p, "***");
            }
            StoreError::invalid(format!(
                "invalid PostgreSQL URL `{}`: {msg}",
                redact_url(url)
            ))
        })?
        // `CREATE TEMP TABLE IF NOT EXISTS` would otherwise log a notice on every write.
        .options([("client_min_messages", "warning"), ("TimeZone", "UTC")])
        .application_name("tickstock");
    let target = describe(&opts);

    // One direct attempt first: the pool would retry a refused connection until its
    // timeout and then report only that it timed out.
    let attempt = tokio::time::timeout(options.connect_timeout, PgConnection::connect_with(&opts));
    match attempt.await {
        Err(_) => {
            return Err(StoreError::Connect {
                target,
                message: format!(
                    "no answer within {} s",
                    options.connect_timeout.as_secs_f64()
                ),
            })
        }
        Ok(Ok(conn)) => {
            let _ = conn.close().await;
        }
        Ok(Err(e)) => {
            let message = match StoreError::from_sqlx(e, &target, secret.as_deref()) {
                StoreError::Connect { message, .. } => message,
                StoreError::Query { message, .. } => message
                    .strip_prefix(&format!("{target}: "))
                    .map(str::to_string)
                    .unwrap_or(message),
                other => other.to_string(),
            };
            return Err(StoreError::Connect { target, message });
        }
    }
    let pool = PgPoolOptions::new()
        .max_connections(options.max_connections.max(1))
        .acquire_timeout(options.acquire_timeout)
        .connect_lazy_with(opts);
    let mut store = Store {
        pool: Pool::Postgres(pool.clone(), Arc::default()),
        target: Arc::from(target.as_str()),
        secret: secret.map(|s| Arc::from(s.as_str())),
        environment: Arc::from(super::normalise_environment(&options.environment)?.as_str()),
        read_only_schema: false,
    };
    if !options.migrate {
        store.read_only_schema = true;
    } else if let Err(e) = store.migrate().await {
        // A role that may read (and perhaps write bars) but not create tables still loads
        // and reads what exists.
        if may_create(&pool).await == Some(false) {
            tracing::warn!(target = %store.target, "no privilege to update the schema; using the tables as they are: {e}");
            store.read_only_schema = true;
        } else {
            return Err(e);
        }
    }
    let schema = pg_schema::read(&store, &pool).await?;
    store.pool = Pool::Postgres(pool, Arc::new(schema));
    Ok(store)
}

/// Whether this role may create tables in its schema (`None` when that cannot be told).
async fn may_create(pool: &PgPool) -> Option<bool> {
    sqlx::query_scalar("SELECT has_schema_privilege(current_schema(), 'CREATE')")
        .fetch_one(pool)
        .await
        .ok()
}

/// Checksum of the first schema file as released before it stopped altering existing
/// (TickStock's) tables. Its statements were idempotent, so a database that applied it
/// is in the state the rewritten file gives, and the record is brought up to date.
const INIT_V1_SHA384: &str = "876272660a80e81a205659040baf667eee8ab78f9aff78b69a4371362ed31e6ecb67594600549ecdfd97697cbe0b3603";

pub(super) async fn accept_rewritten_init(store: &Store, pool: &PgPool) -> Result<(), StoreError> {
    let migrator = sqlx::migrate!("./migrations/postgres");
    let Some(init) = migrator.iter().find(|m| m.version == 20250701000001) else {
        return Ok(());
    };
    let exists: bool = sqlx::query_scalar("SELECT to_regclass('_sqlx_migrations') IS NOT NULL")
        .fetch_one(pool)
        .await
        .map_err(|e| store.err(e))?;
    if !exists {
        return Ok(());
    }
    let old: Vec<u8> = (0..INIT_V1_SHA384.len() / 2)
        .map(|i| u8::from_str_radix(&INIT_V1_SHA384[2 * i..2 * i + 2], 16).unwrap_or(0))
        .collect();
    let r = sqlx::query(
        "UPDATE _sqlx_migrations SET checksum = $1 WHERE version = $2 AND checksum = $3",
    )
    .bind(init.checksum.as_ref())
    .bind(init.version)
    .bind(&old)
    .execute(pool)
    .await;
    match r {
        Ok(done) if done.rows_affected() > 0 => {
            tracing::info!(target = %store.target, "schema record of the first migration updated to its current form");
            Ok(())
        }
        Ok(_) => Ok(()),
        // A role without UPDATE on the record: the migration run reports what it finds.
        Err(e) => {
            tracing::debug!("schema record not updated: {e}");
            Ok(())
        }
    }
}

fn describe(opts: &PgConnectOptions) -> String {
    let db = opts.get_database().unwrap_or(opts.get_username());
    match opts.get_socket() {
        Some(dir) => format!("PostgreSQL at {}:{}/{db}", dir.display(), opts.get_port()),
        None => format!("PostgreSQL at {}:{}/{db}", opts.get_host(), opts.get_port()),
    }
}

/// One logical field of a symbol record and the columns it may land in.
struct SymbolField {
    /// Candidate columns, in this app's schema and in TickStock's.
    columns: &'static [&'static str],
    values: Vec<Option<String>>,
}

/// The columns of `symbols` that hold when the row was refreshed from ticker details, and
/// Polygon's own update time: TickStock names them `last_updated` and `last_updated_utc`,
/// this app `refreshed_at` and `last_updated`.
fn refresh_columns(schema: &PgSchema) -> (&'static [&'static str], &'static [&'static str]) {
    if schema.symbols_tickstock() {
        (&["last_updated"], &["last_updated_utc"])
    } else {
        (&["refreshed_at"], &["last_updated"])
    }
}

fn field(columns: &'static [&'static str], values: Vec<Option<String>>) -> SymbolField {
    SymbolField { columns, values }
}

/// Inserts or updates `symbols` rows in whichever of the known columns the table has,
/// each value cast to its column's type and cut to its length; `NULL` keeps what is stored.
pub(super) async fn upsert_symbols(
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
fn described_column(schema: &PgSchema) -> &'static [&'static str] {
    if schema.symbols_tickstock() {
        &["sic_updated_at"]
    } else {
        &["described_at"]
    }
}

/// Values as a column takes them: rounded for an integer column, cut to its length.
fn fit_to_column(
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
fn fill_defaults<'a>(
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

pub(super) async fn mark_described(
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

pub(super) async fn symbols_to_describe(
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

pub(super) async fn fresh_symbols(
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

pub(super) async fn groups(
    store: &Store,
    pool: &PgPool,
    schema: &PgSchema,
) -> Result<Vec<GroupRow>, StoreError> {
    let as_of = if schema.groups_as_of {
        "g.as_of"
    } else if schema.groups_tickstock {
        r"CASE WHEN g.metadata->>'as_of' ~ '^\d{4}-\d{2}-\d{2}$' THEN (g.metadata->>'as_of')::date END"
    } else {
        "NULL::date"
    };
    let mut filter = String::from("TRUE");
    if schema.groups_environment {
        filter.push_str(" AND g.environment = $1");
    }
    if schema.groups_tickstock {
        filter.push_str(" AND g.type IN ('UNIVERSE', 'ETF')");
    }
    let sql = format!(
        "SELECT g.id::int8, g.name::text, g.type::text, g.description::text, {as_of},
                (SELECT count(*) FROM group_memberships m WHERE m.group_id = g.id)
           FROM definition_groups g WHERE {filter} ORDER BY g.id"
    );
    let mut q = sqlx::query(&sql);
    if schema.groups_environment {
        q = q.bind(store.environment());
    }
    let rows = q.fetch_all(pool).await.map_err(|e| store.err(e))?;
    rows.iter()
        .map(|r| {
            Ok(GroupRow {
                id: r.try_get(0)?,
                name: r.try_get(1)?,
                kind: r.try_get::<Option<String>, _>(2)?.unwrap_or_default(),
                description: r.try_get(3)?,
                as_of: r.try_get(4)?,
                members: r.try_get(5)?,
            })
        })
        .collect::<Result<_, sqlx::Error>>()
        .map_err(|e| store.err(e))
}

pub(super) async fn group_members(
    store: &Store,
    pool: &PgPool,
    id: i64,
) -> Result<Vec<String>, StoreError> {
    sqlx::query_scalar(
        "SELECT symbol::text FROM group_memberships WHERE group_id = $1 ORDER BY symbol",
    )
    .bind(id)
    .fetch_all(pool)
    .await
    .map_err(|e| store.err(e))
}

/// Writes a universe of the store's environment in one transaction, in a form the table's
/// constraints accept (TickStock's: `environment`, a type from its list, the as-of date in
/// `metadata`). With `replace == false` an existing universe is left alone (seeding).
/// Returns whether anything was written.
pub(super) async fn replace_universe(
    store: &Store,
    pool: &PgPool,
    schema: &PgSchema,
    def: &UniverseDef,
    members: &[String],
    replace: bool,
) -> Result<bool, StoreError> {
    let env = store.environment().to_string();
    let run = async {
        let mut tx = pool.begin().await?;
        // Serialises universe writers (two processes seeding at once).
        sqlx::query("SELECT pg_advisory_xact_lock(hashtext('tickstock.definition_groups'))")
            .execute(&mut *tx)
            .await?;
        let existing: Vec<(i64, String)> = if schema.groups_environment {
            sqlx::query_as(
                "SELECT id::int8, name::text FROM definition_groups WHERE environment = $1 ORDER BY id",
            )
            .bind(&env)
            .fetch_all(&mut *tx)
            .await?
        } else {
            sqlx::query_as("SELECT id::int8, name::text FROM definition_groups ORDER BY id")
                .fetch_all(&mut *tx)
                .await?
        };
        let rows: Vec<GroupRow> = existing
            .into_iter()
            .map(|(id, name)| GroupRow {
                id,
                name,
                kind: String::new(),
                description: None,
                as_of: None,
                members: 0,
            })
            .collect();
        let as_of_json = serde_json::json!({
            "as_of": def.as_of.map(format_date),
            "source": "tickstock-admin",
        })
        .to_string();
        let id = match super::find_group(&rows, &def.key) {
            Some(_) if !replace => return Ok(false),
            Some(id) => {
                let mut qb = QueryBuilder::<Postgres>::new("UPDATE definition_groups SET type = ");
                qb.push_bind(&def.kind)
                    .push(", description = ")
                    .push_bind(&def.name)
                    .push(", updated_at = now()");
                if schema.groups_as_of {
                    qb.push(", as_of = ").push_bind(def.as_of);
                } else if schema.groups_tickstock {
                    qb.push(", metadata = COALESCE(metadata, '{}'::jsonb) || ")
                        .push_bind(&as_of_json)
                        .push("::jsonb");
                }
                qb.push(" WHERE id = ").push_bind(id);
                qb.build().execute(&mut *tx).await?;
                sqlx::query("DELETE FROM group_memberships WHERE group_id = $1")
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                id
            }
            None => {
                let mut cols = String::from("name, type, description");
                if schema.groups_as_of {
                    cols.push_str(", as_of");
                }
                if schema.groups_tickstock {
                    cols.push_str(", metadata");
                }
                if schema.groups_environment {
                    cols.push_str(", environment");
                }
                let mut qb = QueryBuilder::<Postgres>::new(format!(
                    "INSERT INTO definition_groups ({cols}) VALUES ("
                ));
                qb.push_bind(&def.key)
                    .push(", ")
                    .push_bind(&def.kind)
                    .push(", ")
                    .push_bind(&def.name);
                if schema.groups_as_of {
                    qb.push(", ").push_bind(def.as_of);
                }
                if schema.groups_tickstock {
                    qb.push(", ").push_bind(&as_of_json).push("::jsonb");
                }
                if schema.groups_environment {
                    qb.push(", ").push_bind(&env);
                }
                qb.push(") RETURNING id::int8");
                qb.build_query_scalar().fetch_one(&mut *tx).await?
            }
        };
        sqlx::query(
            "INSERT INTO group_memberships (group_id, symbol)
             SELECT $1, s FROM UNNEST($2::text[]) AS s ON CONFLICT DO NOTHING",
        )
        .bind(id)
        .bind(members)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok::<bool, sqlx::Error>(true)
    };
    run.await.map_err(|e| store.err(e))
}
