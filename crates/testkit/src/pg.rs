//! PostgreSQL for tests.
//!
//! - [`fresh_database`]: a new, empty database `ts_test_<uuid>` on the shared server
//!   (`TEST_PG_URL`, default `postgres://postgres@127.0.0.1:5432/postgres`), so tests run in
//!   parallel without touching each other's tables.
//! - [`tickstock_database`]: a new database shaped like a real TickStock installation
//!   (`sql/tickstock_schema.sql`: its tables, types, constraints and universe groups).
//! - [`PrivatePostgres`]: a whole server of its own (`initdb` + `pg_ctl` in a temp folder on
//!   a free port) that a test may stop and start again, e.g. to see how a store behaves
//!   while the database is down. Stopped when dropped.

use std::io;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use sqlx::Connection;

/// The shared server tests create their databases on.
pub fn admin_url() -> String {
    std::env::var("TEST_PG_URL")
        .ok()
        .filter(|s| !s.trim().is_empty())
        .unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432/postgres".to_string())
}

/// A database created for one test.
#[derive(Debug, Clone)]
pub struct TestDb {
    /// URL of the new database.
    pub url: String,
    /// Its name (`ts_test_<uuid>`).
    pub name: String,
}

/// Creates an empty database on the shared server.
///
/// # Panics
/// When the server cannot be reached: the tests that call this need it.
pub async fn fresh_database() -> TestDb {
    let admin = admin_url();
    let name = format!("ts_test_{}", uuid::Uuid::new_v4().simple());
    let mut conn = sqlx::PgConnection::connect(&admin)
        .await
        .unwrap_or_else(|e| {
            panic!(
                "test PostgreSQL at {} is not reachable: {e}",
                redact(&admin)
            )
        });
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut conn)
        .await
        .unwrap_or_else(|e| panic!("cannot create test database {name}: {e}"));
    let _ = conn.close().await;
    let mut url = url::Url::parse(&admin).expect("TEST_PG_URL is a URL");
    url.set_path(&format!("/{name}"));
    TestDb {
        url: url.to_string(),
        name,
    }
}

/// TickStock's schema and universe groups, as an installation has them.
pub const TICKSTOCK_SCHEMA: &str = include_str!("../sql/tickstock_schema.sql");

/// Creates a database shaped like a real TickStock installation: TickStock's OHLCV,
/// `symbols` and universe tables with their own types and constraints, and universe groups
/// of the same name in the DEFAULT and TEST environments (see `sql/tickstock_schema.sql`).
///
/// # Panics
/// When the server cannot be reached or the schema does not apply.
pub async fn tickstock_database() -> TestDb {
    let db = fresh_database().await;
    let mut conn = sqlx::PgConnection::connect(&db.url)
        .await
        .unwrap_or_else(|e| panic!("cannot open test database {}: {e}", db.name));
    sqlx::raw_sql(TICKSTOCK_SCHEMA)
        .execute(&mut conn)
        .await
        .unwrap_or_else(|e| panic!("TickStock schema does not apply to {}: {e}", db.name));
    let _ = conn.close().await;
    db
}

impl TestDb {
    /// Drops the database (closing any connection still open to it).
    pub async fn drop_db(self) {
        let admin = admin_url();
        if let Ok(mut conn) = sqlx::PgConnection::connect(&admin).await {
            let _ = sqlx::query(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ))
            .execute(&mut conn)
            .await;
            let _ = conn.close().await;
        }
    }
}

fn redact(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        Ok(u) => u.to_string(),
        Err(_) => "(unparsable URL)".to_string(),
    }
}

/// A private PostgreSQL server in a temp folder, trust authentication, user `postgres`.
///
/// Its methods block (they run `pg_ctl`); from async code call them directly in a
/// multi-threaded runtime or through `spawn_blocking`.
pub struct PrivatePostgres {
    dir: tempfile::TempDir,
    bindir: PathBuf,
    port: u16,
    as_postgres: bool,
}

impl std::fmt::Debug for PrivatePostgres {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PrivatePostgres")
            .field("dir", &self.dir.path())
            .field("port", &self.port)
            .finish()
    }
}

impl PrivatePostgres {
    /// Creates a cluster (`initdb`) and starts it on a free port.
    pub fn new() -> io::Result<Self> {
        let bindir = find_bindir()?;
        let dir = tempfile::Builder::new().prefix("ts-pg-").tempdir()?;
        let as_postgres = is_root();
        if as_postgres {
            run(Command::new("chown")
                .arg("-R")
                .arg("postgres:")
                .arg(dir.path()))?;
        }
        let port = free_port()?;
        let pg = PrivatePostgres {
            dir,
            bindir,
            port,
            as_postgres,
        };
        let data = pg.data_dir();
        pg.run_pg(
            "initdb",
            &[
                "-D",
                path_str(&data)?,
                "-U",
                "postgres",
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--no-sync",
            ],
        )?;
        pg.start()?;
        Ok(pg)
    }

    /// `postgres://postgres@127.0.0.1:PORT/postgres`.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Starts the server (again) on the same port and waits until it accepts connections.
    pub fn start(&self) -> io::Result<()> {
        let data = self.data_dir();
        let log = self.dir.path().join("server.log");
        let opts = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off",
            self.port,
            path_str(self.dir.path())?
        );
        self.run_pg(
            "pg_ctl",
            &[
                "-D",
                path_str(&data)?,
                "-l",
                path_str(&log)?,
                "-o",
                &opts,
                "-w",
                "-t",
                "60",
                "start",
            ],
        )
        .map(|_| ())
    }

    /// Stops the server (fast shutdown: open connections are closed) and waits.
    pub fn stop(&self) -> io::Result<()> {
        let data = self.data_dir();
        self.run_pg(
            "pg_ctl",
            &["-D", path_str(&data)?, "-m", "fast", "-w", "stop"],
        )
        .map(|_| ())
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn run_pg(&self, tool: &str, args: &[&str]) -> io::Result<Output> {
        let bin = self.bindir.join(tool);
        let mut cmd = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&bin);
            c
        } else {
            Command::new(&bin)
        };
        cmd.args(args).current_dir(self.dir.path());
        run(&mut cmd)
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        if let Ok(data) = path_str(&self.data_dir()).map(str::to_string) {
            let _ = self.run_pg("pg_ctl", &["-D", &data, "-m", "immediate", "-w", "stop"]);
        }
    }
}

fn path_str(p: &Path) -> io::Result<&str> {
    p.to_str()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "temp path is not UTF-8"))
}

fn run(cmd: &mut Command) -> io::Result<Output> {
    let out = cmd.output()?;
    if out.status.success() {
        Ok(out)
    } else {
        Err(io::Error::other(format!(
            "{:?} failed ({}): {}{}",
            cmd.get_program(),
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )))
    }
}

/// The folder with `initdb` and `pg_ctl`: `pg_config --bindir`, else the newest
/// `/usr/lib/postgresql/*/bin`.
fn find_bindir() -> io::Result<PathBuf> {
    if let Ok(out) = Command::new("pg_config").arg("--bindir").output() {
        let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        if out.status.success() && dir.join("initdb").exists() && dir.join("pg_ctl").exists() {
            return Ok(dir);
        }
    }
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let version = e.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((version, bin))
        })
        .collect();
    found.sort();
    found.pop().map(|(_, b)| b).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::NotFound,
            "no PostgreSQL server binaries (initdb, pg_ctl) found: install postgresql",
        )
    })
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(|euid| euid == "0"))
        })
        .unwrap_or(false)
}

fn free_port() -> io::Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(l.local_addr()?.port())
}
