//! The `symbols` table and universes: symbol upserts and which symbols need refreshing,
//! universes listed and resolved to members as TickStock resolves a key (groups of the
//! store's environment, then the built-in lists), and a universe replaced whole.

use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};

use sqlx::{Postgres, Sqlite};

use super::catalog::CatalogSql;
use super::{normalise_symbol, Pool, Store, StoreError, SymbolRecord, UniverseSummary};

/// Runs a [`CatalogSql`] statement on the store's database, with `$p` the pool and
/// `$schema` the shape of its tables; a failure is the store's error.
macro_rules! on_catalog {
    ($store:expr, $p:ident, $schema:ident, $method:ident ( $($arg:expr),* $(,)? )) => {
        match &$store.pool {
            Pool::Postgres($p, $schema) => <Postgres as CatalogSql>::$method($($arg),*).await,
            Pool::Sqlite($p, $schema) => <Sqlite as CatalogSql>::$method($($arg),*).await,
        }
        .map_err(|e| $store.err(e))
    };
}

impl Store {
    /// Inserts or updates rows of the `symbols` table in one transaction. Optional fields
    /// that are `None` keep what is stored. Returns the number of records written.
    pub async fn upsert_symbols(&self, infos: &[SymbolRecord]) -> Result<u64, StoreError> {
        let mut recs: Vec<SymbolRecord> = Vec::with_capacity(infos.len());
        let mut seen = std::collections::HashMap::new();
        for info in infos {
            let mut r = info.clone();
            r.symbol = normalise_symbol(&r.symbol)?;
            match seen.get(&r.symbol) {
                Some(&i) => recs[i] = r,
                None => {
                    seen.insert(r.symbol.clone(), recs.len());
                    recs.push(r);
                }
            }
        }
        if recs.is_empty() {
            return Ok(0);
        }
        self.retrying("the symbols' rows", || async {
            on_catalog!(self, p, schema, upsert_symbols(p, schema, &recs))
        })
        .await
    }

    /// Which of `symbols` have no `symbols` row, or one not registered from Polygon within
    /// `max_age`.
    pub async fn symbols_to_refresh(
        &self,
        symbols: &[String],
        max_age: Duration,
    ) -> Result<Vec<String>, StoreError> {
        if symbols.is_empty() {
            return Ok(Vec::new());
        }
        let since = chrono::Duration::from_std(max_age)
            .ok()
            .and_then(|age| Utc::now().checked_sub_signed(age))
            .unwrap_or(DateTime::<Utc>::MIN_UTC);
        let fresh: std::collections::HashSet<String> =
            on_catalog!(self, p, schema, fresh_symbols(p, schema, symbols, since))?
                .into_iter()
                .collect();
        Ok(symbols
            .iter()
            .filter(|s| !fresh.contains(*s))
            .cloned()
            .collect())
    }

    /// Symbols registered within `max_age` whose ticker details are missing or older than
    /// that (among `only` when given), by symbol, at most `limit`: what spare requests
    /// describe.
    pub async fn symbols_to_describe(
        &self,
        only: Option<&[String]>,
        max_age: Duration,
        limit: usize,
    ) -> Result<Vec<String>, StoreError> {
        if only.is_some_and(|o| o.is_empty()) || limit == 0 {
            return Ok(Vec::new());
        }
        let since = chrono::Duration::from_std(max_age)
            .ok()
            .and_then(|age| Utc::now().checked_sub_signed(age))
            .unwrap_or(DateTime::<Utc>::MIN_UTC);
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        on_catalog!(
            self,
            p,
            schema,
            symbols_to_describe(p, schema, only, since, limit)
        )
    }

    /// Stamps rows described now without changing them: a ticker Polygon has no details
    /// for is not asked for again before the refresh age.
    pub async fn mark_described(&self, symbols: &[String]) -> Result<(), StoreError> {
        on_catalog!(self, p, schema, mark_described(p, schema, symbols))
    }

    /// Every universe of this store's environment with its member count, by key, and the
    /// built-in universes the database has no group for (offered from the lists that ship
    /// with the app, never written where the schema is not ours to change).
    pub async fn list_universes(&self) -> Result<Vec<UniverseSummary>, StoreError> {
        let groups = self.groups().await?;
        let mut out: Vec<UniverseSummary> = groups
            .iter()
            .map(|g| {
                let key = g.name.clone();
                let name = g
                    .description
                    .clone()
                    .filter(|d| !d.trim().is_empty())
                    .or_else(|| {
                        tickstock_protocol::universe::find_builtin(&key).map(|b| b.name.to_string())
                    })
                    .unwrap_or_else(|| g.name.clone());
                UniverseSummary {
                    key,
                    name,
                    kind: g.kind.clone(),
                    members: g.members,
                    as_of: g.as_of,
                }
            })
            .collect();
        for b in tickstock_protocol::universe::builtin() {
            if find_group(&groups, b.key).is_none() {
                out.push(UniverseSummary {
                    key: b.key.to_string(),
                    name: b.name.to_string(),
                    kind: b.kind.to_string(),
                    members: b.members().len() as i64,
                    as_of: b.as_of(),
                });
            }
        }
        out.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(out)
    }

    /// Members of a universe, sorted, resolved as TickStock resolves a key: a group of this
    /// store's environment by name (exact, then any case, then any spelling of the same
    /// key: [`tickstock_protocol::universe::canonical_key`]), else a built-in universe. On TickStock's
    /// own tables only groups of type UNIVERSE or ETF count (an ETF group such as `SPY` is
    /// that fund's holdings). A colon-joined key (`SPY:nasdaq100`) gives the union. `None`
    /// when a part is unknown.
    pub async fn universe_members(&self, key: &str) -> Result<Option<Vec<String>>, StoreError> {
        let parts = tickstock_protocol::universe::split_raw_keys(key);
        if parts.is_empty() {
            return Ok(None);
        }
        let groups = self.groups().await?;
        let mut all = std::collections::BTreeSet::new();
        for part in parts {
            if let Some(id) = find_group(&groups, &part) {
                let members = on_catalog!(self, p, _schema, group_members(p, id))?;
                all.extend(members);
            } else if let Some(b) = tickstock_protocol::universe::find_builtin(&part) {
                all.extend(b.members());
            } else {
                return Ok(None);
            }
        }
        Ok(Some(all.into_iter().collect()))
    }

    /// Creates or replaces a universe and its members in one transaction.
    pub async fn replace_universe(
        &self,
        key: &str,
        name: &str,
        kind: &str,
        as_of: Option<NaiveDate>,
        members: &[String],
    ) -> Result<(), StoreError> {
        if !tickstock_protocol::universe::is_valid_key_syntax(key) {
            return Err(StoreError::invalid(format!(
                "invalid universe key `{key}`: use letters, digits, `_`, `-` or `.`, at most 64 characters"
            )));
        }
        let key = tickstock_protocol::universe::canonical_key(key);
        let kind = match kind.trim() {
            "" => "UNIVERSE".to_string(),
            k => k.to_ascii_uppercase(),
        };
        let mut seen = std::collections::BTreeSet::new();
        for m in members {
            seen.insert(normalise_symbol(m)?);
        }
        let members: Vec<String> = seen.into_iter().collect();
        let def = UniverseDef {
            key,
            name: name.trim().to_string(),
            kind,
            as_of,
        };
        self.write_universe(&def, &members, true).await.map(|_| ())
    }

    /// Writes a universe and its members in one transaction; with `replace == false` an
    /// existing one is left alone (seeding). Whether anything was written.
    pub(super) async fn write_universe(
        &self,
        def: &UniverseDef,
        members: &[String],
        replace: bool,
    ) -> Result<bool, StoreError> {
        let env = self.environment();
        on_catalog!(
            self,
            p,
            schema,
            replace_universe(p, schema, env, def, members, replace)
        )
    }

    /// The universes of the store's environment with their member counts.
    pub(super) async fn groups(&self) -> Result<Vec<GroupRow>, StoreError> {
        let env = self.environment();
        on_catalog!(self, p, schema, groups(p, schema, env))
    }
}

/// A universe row with its member count.
#[derive(Debug, Clone)]
pub(crate) struct GroupRow {
    pub id: i64,
    pub name: String,
    pub kind: String,
    pub description: Option<String>,
    pub as_of: Option<NaiveDate>,
    pub members: i64,
}

/// What [`Store::replace_universe`] writes besides the members.
#[derive(Debug, Clone)]
pub(crate) struct UniverseDef {
    pub key: String,
    pub name: String,
    pub kind: String,
    pub as_of: Option<NaiveDate>,
}

/// The group a key part names: the exact name first, then the name in any case or
/// spelling (`SP_500` for `sp500`), then the group an alias stands for (`SPY` for `sp500`,
/// where no group is named `SPY`). The groups are those of the store's environment (and
/// types) already. An alias never reaches past a group of its own name: in a TickStock
/// database `SPY` is the SPY fund's holdings, and `sp500` is not that group.
pub(crate) fn find_group(groups: &[GroupRow], key: &str) -> Option<i64> {
    let key = key.trim();
    let normal = tickstock_protocol::universe::normal_form(key);
    let canonical = tickstock_protocol::universe::canonical_key(key);
    groups
        .iter()
        .find(|g| g.name == key)
        .or_else(|| groups.iter().find(|g| g.name.eq_ignore_ascii_case(key)))
        .or_else(|| {
            groups
                .iter()
                .find(|g| tickstock_protocol::universe::normal_form(&g.name) == normal)
        })
        .or_else(|| {
            groups
                .iter()
                .find(|g| tickstock_protocol::universe::normal_form(&g.name) == canonical)
        })
        .map(|g| g.id)
}

/// What a universe key (or joined keys `A:B`) holds in a database: how many members,
/// the first few, and the parts it does not know.
#[derive(Debug, Clone, serde::Serialize)]
pub struct UniversePreview {
    pub count: usize,
    pub sample: Vec<String>,
    pub unknown: Vec<String>,
}

impl Store {
    /// Previews a universe key or joined keys (members of the union, in order, each once;
    /// at most `sample` of them named).
    pub async fn universe_preview(
        &self,
        key: &str,
        sample: usize,
    ) -> Result<UniversePreview, StoreError> {
        let mut all: Vec<String> = Vec::new();
        let mut unknown = Vec::new();
        for part in tickstock_protocol::universe::split_keys(key) {
            match self.universe_members(&part).await? {
                Some(m) => {
                    for s in m {
                        if !all.contains(&s) {
                            all.push(s);
                        }
                    }
                }
                None => unknown.push(part),
            }
        }
        Ok(UniversePreview {
            count: all.len(),
            sample: all.into_iter().take(sample).collect(),
            unknown,
        })
    }
}
