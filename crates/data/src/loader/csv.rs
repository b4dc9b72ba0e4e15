//! CSV files a job names: read only from the configured folder (symbolic links resolved),
//! regular files of at most [`MAX_CSV_BYTES`], every entry a valid ticker; messages name
//! the file as given, never its contents.

use std::path::{Path, PathBuf};

use super::Loader;
use tickstock_protocol::error::{Error, Result};
use tickstock_protocol::job::check_csv_name;
use tickstock_protocol::universe;

/// Largest CSV file a job may name (4 MiB: some 400,000 tickers).
pub const MAX_CSV_BYTES: u64 = 4 * 1024 * 1024;

fn too_big(name: &str) -> Error {
    Error::invalid(format!(
        "CSV file `{name}` is larger than the limit of {} MiB and was not read",
        MAX_CSV_BYTES / (1024 * 1024)
    ))
}

/// Reads at most [`MAX_CSV_BYTES`] of a regular file (checked again on the open handle,
/// in case the path changed since it was looked at), as UTF-8 text.
async fn read_csv_capped(path: &Path, name: &str) -> Result<String> {
    use tokio::io::AsyncReadExt;
    let unreadable = || Error::invalid(format!("cannot read CSV file `{name}`"));
    let file = tokio::fs::File::open(path)
        .await
        .map_err(|_| unreadable())?;
    let meta = file.metadata().await.map_err(|_| unreadable())?;
    if !meta.is_file() {
        return Err(Error::invalid(format!(
            "CSV file `{name}` is not a regular file and was not read"
        )));
    }
    let mut bytes = Vec::new();
    file.take(MAX_CSV_BYTES + 1)
        .read_to_end(&mut bytes)
        .await
        .map_err(|_| unreadable())?;
    if bytes.len() as u64 > MAX_CSV_BYTES {
        return Err(too_big(name));
    }
    String::from_utf8(bytes)
        .map_err(|_| Error::invalid(format!("CSV file `{name}` is not UTF-8 text")))
}

impl Loader {
    /// The file a `csv_file` name means: inside the configured CSV folder only (after
    /// resolving symbolic links), a regular file of at most [`MAX_CSV_BYTES`]. `Ok(None)`
    /// when there is no such file (or no folder); an error when the name or the file may
    /// not be read. Messages name the file as given, never its contents.
    pub(super) fn find_csv(&self, name: &str) -> Result<Option<PathBuf>> {
        check_csv_name(name).map_err(Error::invalid)?;
        let Some(dir) = self.cfg.csv_dir.as_ref() else {
            return Ok(None);
        };
        let path = dir.join(name.trim());
        if std::fs::symlink_metadata(&path).is_err() {
            return Ok(None);
        }
        let outside = || {
            Error::invalid(format!(
                "CSV file `{name}` is outside the CSV folder and was not read"
            ))
        };
        let dir = std::fs::canonicalize(dir).map_err(|_| outside())?;
        let real = std::fs::canonicalize(&path).map_err(|_| outside())?;
        if !real.starts_with(&dir) {
            return Err(outside());
        }
        let meta = std::fs::metadata(&real).map_err(|_| outside())?;
        if !meta.is_file() {
            return Err(Error::invalid(format!(
                "CSV file `{name}` is not a regular file and was not read"
            )));
        }
        if meta.len() > MAX_CSV_BYTES {
            return Err(too_big(name));
        }
        Ok(Some(real))
    }

    pub(super) async fn symbols_from_csv(&self, name: &str) -> Result<Vec<String>> {
        if let Some(path) = self.find_csv(name)? {
            let text = read_csv_capped(&path, name).await?;
            let members = universe::parse_members(&text);
            if members.is_empty() {
                return Err(Error::invalid(format!(
                    "CSV file `{name}` lists no symbols"
                )));
            }
            // Report bad rows by count and position only: the file may hold anything.
            let bad: Vec<usize> = members
                .iter()
                .enumerate()
                .filter(|(_, m)| tickstock_protocol::job::check_ticker(m).is_err())
                .map(|(i, _)| i + 1)
                .collect();
            if let Some(first) = bad.first() {
                return Err(Error::invalid(format!(
                    "CSV file `{name}` has {} entries that are not valid tickers (the first is entry {first}); it was not loaded",
                    bad.len()
                )));
            }
            return Ok(members);
        }
        // TickStock names its universe files after the universe (`sp_500.csv`).
        let stem = Path::new(name)
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or(name);
        if let Some(members) = self.store.universe_members(stem).await? {
            return Ok(members);
        }
        Err(Error::invalid(format!(
            "CSV file `{name}` not found{}",
            if self.cfg.csv_dir.is_some() {
                " in the CSV folder"
            } else {
                " (no CSV folder is configured: --csv-dir or TICKSTOCK_CSV_DIR)"
            }
        )))
    }
}
