//! Universes on PostgreSQL: the groups, their members, and a universe replaced in one go.

use super::pg_schema::PgSchema;
use super::{format_date, GroupRow, Store, StoreError, UniverseDef};
use sqlx::{PgPool, Postgres, QueryBuilder, Row as _};

pub(in crate::store) async fn groups(
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

pub(in crate::store) async fn group_members(
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
pub(in crate::store) async fn replace_universe(
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
        let id = match crate::store::find_group(&rows, &def.key) {
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
