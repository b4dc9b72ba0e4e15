//! What the job commands share: connecting to the bus, the job history and the job
//! service, and naming flags in errors.

use std::sync::Arc;

use tickstock_jobs::runtime::Bus;
use tickstock_jobs::service::JobService;
use tickstock_protocol::{Error, ErrorKind, Result};

use crate::Global;

pub(crate) async fn connect(g: &Global) -> Result<Bus> {
    Bus::connect(g.bus_config()?).await
}

/// `DATABASE_URL`, when set and not blank: the database the job commands read and write.
fn database_url() -> Option<String> {
    std::env::var("DATABASE_URL")
        .ok()
        .filter(|u| !u.trim().is_empty())
}

/// The job history's database (`DATABASE_URL`), if set.
pub async fn history_store(g: &Global) -> Result<Option<tickstock_jobs::runtime::Store>> {
    match database_url() {
        Some(url) => Ok(Some(
            tickstock_jobs::runtime::Store::connect_with(&url, &g.store_options()?).await?,
        )),
        None => Ok(None),
    }
}

/// The history's database (`DATABASE_URL`), required by the commands that only read it:
/// a mistyped SQLite path makes no folders there (the error names the missing folder).
pub(crate) async fn history_db(g: &Global) -> Result<tickstock_jobs::runtime::Store> {
    let url = database_url().ok_or_else(|| {
        Error::new(
            ErrorKind::Config,
            "No job history: set DATABASE_URL to the database the workers write",
        )
    })?;
    let options = tickstock_jobs::runtime::StoreOptions {
        create_folders: false,
        ..g.store_options()?
    };
    Ok(tickstock_jobs::runtime::Store::connect_with(&url, &options).await?)
}

/// The job service over the bus, recording in the history of `DATABASE_URL` when set.
pub(crate) async fn service(g: &Global) -> Result<JobService> {
    let bus = connect(g).await?;
    Ok(JobService::new(Arc::new(bus), history_store(g).await?))
}

/// The job service for reads of the bus only (no database is opened).
pub(crate) async fn reader(g: &Global) -> Result<JobService> {
    Ok(JobService::new(Arc::new(connect(g).await?), None))
}

/// The database `DATABASE_URL` names, if set: universes are checked and resolved there.
pub(crate) async fn submit_store(g: &Global) -> Result<Option<tickstock_jobs::runtime::Store>> {
    match database_url() {
        Some(url) => Ok(Some(
            tickstock_jobs::runtime::Store::connect_with(&url, &g.read_only_store_options()?)
                .await?,
        )),
        None => Ok(None),
    }
}

/// Universe keys a submit accepts (in canonical form, as the request asks about them):
/// the built-in ones, and with a database, every universe of its environment.
pub(crate) async fn known_universes(
    store: Option<&tickstock_jobs::runtime::Store>,
) -> Result<std::collections::HashSet<String>> {
    match store {
        // A store lists the built-in universes too (offered where it has no such group).
        Some(store) => tickstock_jobs::runtime::Loader::known_universes_of(store).await,
        None => Ok(tickstock_protocol::universe::builtin()
            .iter()
            .map(|u| u.key.to_string())
            .collect()),
    }
}

/// An error of the job service as the command line says it: the core names the option,
/// the command line names its flag.
pub fn flag_names(e: Error) -> Error {
    if e.message().contains("allow-duplicate") {
        Error::new(
            e.kind(),
            e.message()
                .replace("submit with allow-duplicate", "pass --allow-duplicate"),
        )
    } else {
        e
    }
}
