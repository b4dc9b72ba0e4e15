//! What a database's tables look like, read once at connect time, so the store writes
//! into TickStock's own PostgreSQL tables as they are (surrogate ids, `DECIMAL(12,4)`
//! prices, `BIGINT` volume, naive `TIMESTAMP` holding UTC, `transactions`, `environment`
//! on the universe groups, TickStock's wide `symbols` table) as well as into the ones this
//! app creates, without altering either. The `symbols` and universe SQL
//! (`catalog.rs`) is written once over this map on both databases: on SQLite it is read
//! from the file (an older file lacks the newer columns).

use std::collections::HashMap;

use sqlx::{PgPool, Row as _, SqlitePool};

use super::{time_column, Store, StoreError};
use tickstock_protocol::timeframe::Timeframe;

/// One OHLCV table's column types, as far as writing and reading bars depends on them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct OhlcvShape {
    /// The time column is `timestamp without time zone` (TickStock: naive, holding UTC).
    pub naive_time: bool,
    /// Prices and volume are all `double precision` and the time column is this app's
    /// type: rows may be COPYed in binary straight into the table.
    pub binary: bool,
    /// Volume is an integer column (`BIGINT`): values are rounded to whole shares.
    pub integer_volume: bool,
    /// The table has a `transactions` column, filled from Polygon's `n`.
    pub transactions: bool,
}

/// A column of the `symbols` table: its type (for casts, lower case) and length limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Column {
    pub data_type: String,
    pub max_len: Option<usize>,
}

/// The shape of every table the store reads or writes.
#[derive(Debug, Clone, Default)]
pub(crate) struct Schema {
    /// Per timeframe, in [`Timeframe::ALL`] order.
    pub ohlcv: [OhlcvShape; 5],
    /// `definition_groups` has `environment` (TickStock's, or ours since 2025-11).
    pub groups_environment: bool,
    /// `definition_groups` is TickStock's (it has `metadata`; ours has `as_of`): universes
    /// resolve among types UNIVERSE and ETF only, as TickStock resolves them.
    pub groups_tickstock: bool,
    /// `definition_groups` has our `as_of` column.
    pub groups_as_of: bool,
    /// Columns of `symbols` by name.
    pub symbols: HashMap<String, Column>,
}

impl Schema {
    /// `symbols` is TickStock's (it names Polygon's update time `last_updated_utc`).
    pub fn symbols_tickstock(&self) -> bool {
        self.symbols.contains_key("last_updated_utc")
    }
}

/// The shape of a PostgreSQL database's tables.
pub(crate) async fn read(store: &Store, pool: &PgPool) -> Result<Schema, StoreError> {
    let rows = sqlx::query(
        "SELECT table_name::text, column_name::text, data_type::text,
                character_maximum_length::int8
           FROM information_schema.columns
          WHERE table_schema = current_schema()
            AND table_name IN ('ohlcv_1min', 'ohlcv_hourly', 'ohlcv_daily', 'ohlcv_weekly',
                               'ohlcv_monthly', 'definition_groups', 'symbols')",
    )
    .fetch_all(pool)
    .await
    .map_err(|e| store.err(e))?;
    let mut tables: HashMap<String, HashMap<String, Column>> = HashMap::new();
    for r in &rows {
        let table: String = r.get(0);
        let max_len: Option<i64> = r.get(3);
        tables.entry(table).or_default().insert(
            r.get(1),
            Column {
                data_type: r.get::<String, _>(2).to_ascii_lowercase(),
                max_len: max_len.and_then(|n| usize::try_from(n).ok()),
            },
        );
    }
    let empty = HashMap::new();
    let mut schema = Schema::default();
    for (i, tf) in Timeframe::ALL.iter().enumerate() {
        let cols = tables.get(tf.table()).unwrap_or(&empty);
        let ty = |name: &str| cols.get(name).map(|c| c.data_type.as_str());
        let time = ty(time_column(*tf).trim_matches('"'));
        let ours_time = if tf.is_dated() {
            "date"
        } else {
            "timestamp with time zone"
        };
        schema.ohlcv[i] = OhlcvShape {
            naive_time: time == Some("timestamp without time zone"),
            binary: matches!(ty("symbol"), Some("character varying" | "text"))
                && time == Some(ours_time)
                && ["open", "high", "low", "close", "volume"]
                    .iter()
                    .all(|c| ty(c) == Some("double precision")),
            integer_volume: matches!(ty("volume"), Some("bigint" | "integer" | "smallint")),
            transactions: cols.contains_key("transactions"),
        };
    }
    let groups = tables.get("definition_groups").unwrap_or(&empty);
    schema.groups_environment = groups.contains_key("environment");
    schema.groups_tickstock = groups.contains_key("metadata");
    schema.groups_as_of = groups.contains_key("as_of");
    schema.symbols = tables.remove("symbols").unwrap_or_default();
    Ok(schema)
}

/// The shape of an SQLite file's `symbols` and `definition_groups` (bars have one shape
/// there: this app's). Its groups' `environment` column is not a key: a file holds one
/// environment, and a group's name is unique across the table.
pub(crate) async fn read_sqlite(store: &Store, pool: &SqlitePool) -> Result<Schema, StoreError> {
    let rows = sqlx::query(
        "SELECT m.name, p.name, lower(p.type)
           FROM sqlite_master m JOIN pragma_table_info(m.name) p
          WHERE m.type = 'table' AND m.name IN ('symbols', 'definition_groups')",
    )
    .fetch_all(pool)
    .await
    .map_err(|e| store.err(e))?;
    let mut schema = Schema::default();
    for r in &rows {
        let (table, column, data_type): (String, String, String) = (r.get(0), r.get(1), r.get(2));
        match table.as_str() {
            "symbols" => {
                schema.symbols.insert(
                    column,
                    Column {
                        data_type,
                        max_len: None,
                    },
                );
            }
            _ => match column.as_str() {
                "as_of" => schema.groups_as_of = true,
                "metadata" => schema.groups_tickstock = true,
                _ => {}
            },
        }
    }
    Ok(schema)
}
