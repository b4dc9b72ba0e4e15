//! SQLite connections handed back to the pool with no transaction open, whatever the
//! database did to the one they had (see [`settle_transaction`]).

/// Keeps a connection that comes back to the pool out of any transaction. On a full disk
/// (`SQLITE_FULL`), an I/O error or no memory SQLite may roll the whole transaction back
/// itself; the driver still counts it open and its own `ROLLBACK` then fails ("no
/// transaction is active"), so the connection would go back to the pool "in a
/// transaction" and every later write on it fail with "begin_with at non-zero transaction
/// depth". Such a connection has a transaction opened and rolled back so the driver's count
/// is zero again; one that still is not is closed (`Ok(false)`), never reused.
pub(super) async fn settle_transaction(
    conn: &mut sqlx::SqliteConnection,
) -> Result<bool, sqlx::Error> {
    use sqlx::{Connection as _, Executor as _, TransactionManager as _};
    type Manager = <sqlx::Sqlite as sqlx::Database>::TransactionManager;
    if Manager::get_transaction_depth(conn) == 0 {
        return Ok(true);
    }
    // A dropped transaction's rollback is queued: a round trip runs it first.
    conn.ping().await?;
    if Manager::get_transaction_depth(conn) == 0 {
        return Ok(true);
    }
    tracing::warn!(
        "an SQLite connection came back with its transaction ended by the database; resetting it"
    );
    // Whether SQLite still has the transaction open or not, after this it has one, and the
    // driver's ROLLBACK then ends it and lowers its count.
    let _ = conn.execute("BEGIN").await;
    while Manager::get_transaction_depth(conn) > 0 {
        if Manager::rollback(conn).await.is_err() {
            return Ok(false);
        }
    }
    Ok(true)
}
