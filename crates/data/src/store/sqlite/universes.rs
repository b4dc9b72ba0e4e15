//! Universes on SQLite: the groups, their members, and a universe replaced in one go.

use super::symbols::parse_date;
use super::{format_date, GroupRow, Store, StoreError, UniverseDef};
use super::{BEGIN_WRITE, MEMBER_CHUNK};
use sqlx::{QueryBuilder, Row as _, Sqlite, SqlitePool};

pub(in crate::store) async fn groups(
    store: &Store,
    pool: &SqlitePool,
) -> Result<Vec<GroupRow>, StoreError> {
    let rows = sqlx::query(
        "SELECT g.id, g.name, g.type, g.description, g.as_of,
                (SELECT count(*) FROM group_memberships m WHERE m.group_id = g.id)
           FROM definition_groups g ORDER BY g.id",
    )
    .fetch_all(pool)
    .await
    .map_err(|e| store.err(e))?;
    rows.iter()
        .map(|r| {
            Ok(GroupRow {
                id: r.try_get(0)?,
                name: r.try_get(1)?,
                kind: r.try_get::<Option<String>, _>(2)?.unwrap_or_default(),
                description: r.try_get(3)?,
                as_of: parse_date(r.try_get(4)?, 4)?,
                members: r.try_get(5)?,
            })
        })
        .collect::<Result<_, sqlx::Error>>()
        .map_err(|e| store.err(e))
}

pub(in crate::store) async fn group_members(
    store: &Store,
    pool: &SqlitePool,
    id: i64,
) -> Result<Vec<String>, StoreError> {
    sqlx::query_scalar("SELECT symbol FROM group_memberships WHERE group_id = ? ORDER BY symbol")
        .bind(id)
        .fetch_all(pool)
        .await
        .map_err(|e| store.err(e))
}

/// Writes a universe in one transaction. With `replace == false` an existing universe
/// is left alone (seeding). Returns whether anything was written.
pub(in crate::store) async fn replace_universe(
    store: &Store,
    pool: &SqlitePool,
    def: &UniverseDef,
    members: &[String],
    replace: bool,
) -> Result<bool, StoreError> {
    async fn run(
        pool: &SqlitePool,
        def: &UniverseDef,
        members: &[String],
        replace: bool,
    ) -> Result<bool, sqlx::Error> {
        let mut tx = pool.begin_with(BEGIN_WRITE).await?;
        let existing: Vec<(i64, String)> =
            sqlx::query_as("SELECT id, name FROM definition_groups ORDER BY id")
                .fetch_all(&mut *tx)
                .await?;
        let found = existing
            .iter()
            .find(|(_, n)| *n == def.key)
            .or_else(|| {
                existing
                    .iter()
                    .find(|(_, n)| tickstock_protocol::universe::canonical_key(n) == def.key)
            })
            .map(|(id, _)| *id);
        let as_of = def.as_of.map(format_date);
        let id = match found {
            Some(_) if !replace => return Ok(false),
            Some(id) => {
                sqlx::query(
                    "UPDATE definition_groups SET type = ?, description = ?, as_of = ?,
                            updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
                      WHERE id = ?",
                )
                .bind(&def.kind)
                .bind(&def.name)
                .bind(&as_of)
                .bind(id)
                .execute(&mut *tx)
                .await?;
                sqlx::query("DELETE FROM group_memberships WHERE group_id = ?")
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                id
            }
            None => {
                sqlx::query_scalar(
                    "INSERT INTO definition_groups (name, type, description, as_of)
                     VALUES (?, ?, ?, ?) RETURNING id",
                )
                .bind(&def.key)
                .bind(&def.kind)
                .bind(&def.name)
                .bind(&as_of)
                .fetch_one(&mut *tx)
                .await?
            }
        };
        for chunk in members.chunks(MEMBER_CHUNK) {
            let mut qb = QueryBuilder::<Sqlite>::new(
                "INSERT OR IGNORE INTO group_memberships (group_id, symbol) ",
            );
            qb.push_values(chunk, |mut b, s| {
                b.push_bind(id).push_bind(s.clone());
            });
            qb.build().execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(true)
    }
    run(pool, def, members, replace)
        .await
        .map_err(|e| store.err(e))
}
