//! Seeding of the built-in universes (`sp500`, `nasdaq100`, `dow30`, `etf`) from the member
//! lists that ship with the app. Only missing universes are written, so an operator's
//! refreshed list (or an existing TickStock group of the same key) is never overwritten.

use super::{find_group, Pool, Store, StoreError, UniverseDef};

pub(super) async fn seed_builtin_universes(store: &Store) -> Result<(), StoreError> {
    // TickStock's own groups are the operator's: built-ins are offered from memory there
    // (see `Store::universe_members`), never written behind their back.
    if let Pool::Postgres(_, schema) = &store.pool {
        if schema.groups_tickstock {
            return Ok(());
        }
    }
    let groups = store.groups().await?;
    for u in tickstock_protocol::universe::builtin() {
        if find_group(&groups, u.key).is_some() {
            continue;
        }
        let def = UniverseDef {
            key: u.key.to_string(),
            name: u.name.to_string(),
            kind: u.kind.to_string(),
            as_of: u.as_of(),
        };
        let members = u.members();
        let wrote = store.write_universe(&def, &members, false).await?;
        if wrote {
            tracing::info!(
                universe = u.key,
                members = members.len(),
                "seeded built-in universe"
            );
        }
    }
    Ok(())
}
