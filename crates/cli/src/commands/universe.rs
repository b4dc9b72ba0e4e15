//! `tickstock universe`: universes in the database: list, show, import, preview.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use tickstock_protocol::{universe, Error, Result};

use crate::data::DataArgs;
use crate::{output, Global};

#[derive(Args)]
pub struct UniverseArgs {
    #[command(flatten)]
    pub data: DataArgs,
    #[command(subcommand)]
    pub command: UniverseCommand,
}

#[derive(Subcommand)]
pub enum UniverseCommand {
    /// Every universe with its member count and as-of date.
    List {
        #[arg(long)]
        json: bool,
    },
    /// The members of a universe (or of several joined by `:`).
    Show {
        key: String,
        #[arg(long)]
        json: bool,
    },
    /// Creates or replaces a universe from a CSV file's `symbol` (or first) column.
    Import {
        key: String,
        file: PathBuf,
        /// Display name (default: the key).
        #[arg(long)]
        name: Option<String>,
    },
}

pub async fn universe_cmd(g: &Global, a: &UniverseArgs) -> Result<ExitCode> {
    if let UniverseCommand::Show { key, .. } = &a.command {
        if universe::split_keys(key).is_empty() {
            return Err(Error::invalid(
                "give a universe key (e.g. sp500, or SPY:nasdaq100)",
            ));
        }
    }
    let store = match &a.command {
        UniverseCommand::Import { .. } => a.data.store(g).await?,
        _ => a.data.read_store(g).await?,
    };
    match &a.command {
        UniverseCommand::List { json } => {
            let list = store.list_universes().await?;
            if *json {
                output::json(&list);
            } else {
                println!(
                    "{:<16} {:<24} {:<9} {:>7}  AS OF",
                    "KEY", "NAME", "KIND", "MEMBERS"
                );
                for u in list {
                    println!(
                        "{:<16} {:<24} {:<9} {:>7}  {}",
                        u.key,
                        u.name,
                        u.kind,
                        u.members,
                        u.as_of.map(|d| d.to_string()).unwrap_or_else(|| "-".into())
                    );
                }
            }
        }
        UniverseCommand::Show { key, json } => {
            let mut all: Vec<String> = Vec::new();
            for part in universe::split_keys(key) {
                let members = store
                    .universe_members(&part)
                    .await?
                    .ok_or_else(|| Error::invalid(format!("unknown universe key `{part}`")))?;
                for m in members {
                    if !all.contains(&m) {
                        all.push(m);
                    }
                }
            }
            if *json {
                output::json(&serde_json::json!({"key": key, "members": all}));
            } else {
                println!("{}", all.join("\n"));
            }
        }
        UniverseCommand::Import { key, file, name } => {
            if !universe::is_valid_key_syntax(key) {
                return Err(Error::invalid(format!(
                    "`{key}` is not a valid universe key (letters, digits, `_`, `-`)"
                )));
            }
            let text = std::fs::read_to_string(file)
                .map_err(|e| Error::invalid(format!("cannot read `{}`: {e}", file.display())))?;
            let members = universe::parse_members(&text);
            let members = tickstock_protocol::job::normalize_symbols(&members)
                .map_err(|e| Error::invalid(format!("{}: {}", file.display(), e.message)))?;
            store
                .replace_universe(
                    key,
                    name.as_deref().unwrap_or(key),
                    "UNIVERSE",
                    Some(chrono::Utc::now().date_naive()),
                    &members,
                )
                .await?;
            println!(
                "universe {} now has {} members",
                universe::canonical_key(key),
                members.len()
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
