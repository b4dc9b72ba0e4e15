//! The PostgreSQL backend: connecting (sessions in UTC, the shape of an existing
//! database's tables read once) and migrations over a rewritten first migration. Bars are
//! in `postgres_bars.rs`; the `symbols` and universe SQL, shared with SQLite, in
//! `catalog.rs`.

use std::str::FromStr;
use std::sync::Arc;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Connection, PgConnection, PgPool};

use super::schema::{self};
use super::{redact_url, Pool, Store, StoreError, StoreOptions};

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
    let schema = schema::read(&store, &pool).await?;
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
