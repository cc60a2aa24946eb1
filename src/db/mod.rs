//! One database layer for SQLite and PostgreSQL.
//!
//! Queries go through sqlx's `Any` driver and are written once, with `$1`-style placeholders
//! (SQLite accepts them too). Column types are kept to what both sides share: BIGINT (money in
//! cents, instants in Unix milliseconds, 0/1 flags) and TEXT. `SUM` must be wrapped in
//! `CAST(… AS BIGINT)` because PostgreSQL answers NUMERIC. Where the dialects really differ, the
//! difference is spelled out here and nowhere else.

mod files;
pub mod lease;
mod migrate;

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use anyhow::Context;
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, Executor};

pub use files::{FileStore, S3Settings, StorageSettings, Stored, valid_name};
pub use migrate::{MIGRATIONS, migrate};

pub type Tx = sqlx::Transaction<'static, sqlx::Any>;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

#[derive(Clone, Debug)]
pub struct Db {
    /// For reads. (On SQLite the few small writes still made here, such as a session's "last
    /// seen", meet the writer at the file lock and wait on the busy timeout.)
    pub pool: AnyPool,
    /// For writes: [`Db::begin`], and a write that is its own transaction. On SQLite a pool of
    /// one connection, so writers queue here rather than on the file lock; on PostgreSQL the
    /// same pool as `pool`.
    pub writer: AnyPool,
    pub backend: Backend,
}

impl Db {
    /// Connects to `url` (`sqlite://…` or `postgres://…`).
    pub async fn connect(url: &str) -> anyhow::Result<Db> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Backend::Postgres
        } else {
            anyhow::bail!("unsupported DATABASE_URL scheme (use sqlite:// or postgres://)");
        };
        let options = AnyConnectOptions::from_str(url).context("parsing the database URL")?;
        let pool = pool_options(backend, if backend == Backend::Sqlite { 8 } else { 16 })
            .connect_with(options.clone())
            .await
            .context("connecting to the database")?;
        // SQLite has one writer at a time. Writers that each held a pooled connection would
        // meet at the file lock, and SQLite's busy handler makes the loser sleep (1, 2, 5 … 100
        // ms) and try again: under load most of a write's time went to those sleeps. One
        // connection for writes makes them queue in order in the pool instead, and hands the
        // lock on at once; reads keep their own connections (WAL lets them run beside it).
        let writer = match backend {
            Backend::Sqlite => pool_options(backend, 1)
                .connect_with(options)
                .await
                .context("connecting to the database")?,
            Backend::Postgres => pool.clone(),
        };
        Ok(Db {
            pool,
            writer,
            backend,
        })
    }

    /// The SQLite URL for a file in the data directory, created when missing.
    pub fn sqlite_url(data_dir: &Path) -> String {
        format!(
            "sqlite://{}?mode=rwc",
            data_dir.join("medclaim.db").display()
        )
    }

    /// Begins a transaction that will write, on the writer. On SQLite it takes the write lock
    /// at once (`BEGIN IMMEDIATE`): a writer outside this process (a `medclaim` command beside
    /// the server) then makes it wait on the busy timeout instead of failing with SQLITE_BUSY
    /// when a read lock would have to be upgraded.
    pub async fn begin(&self) -> Result<Tx, sqlx::Error> {
        match self.backend {
            Backend::Sqlite => self.writer.begin_with("BEGIN IMMEDIATE").await,
            Backend::Postgres => self.writer.begin().await,
        }
    }

    /// Closes both pools (on PostgreSQL they are one).
    pub async fn close(&self) {
        self.writer.close().await;
        self.pool.close().await;
    }

    pub async fn ping(&self) -> Result<(), sqlx::Error> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map(|_| ())
    }

    /// `FOR UPDATE SKIP LOCKED` where the backend has row locks; SQLite has one writer at a
    /// time, so the claiming `UPDATE … RETURNING` alone is enough there.
    pub fn skip_locked(&self) -> &'static str {
        match self.backend {
            Backend::Sqlite => "",
            Backend::Postgres => " FOR UPDATE SKIP LOCKED",
        }
    }
}

/// The pool settings of `backend` with `size` connections.
fn pool_options(backend: Backend, size: u32) -> AnyPoolOptions {
    let options = match backend {
        Backend::Sqlite => {
            AnyPoolOptions::new()
                .max_connections(size)
                .after_connect(|conn, _meta| {
                    Box::pin(async move {
                        // The busy timeout first: switching to WAL needs a moment alone with
                        // the file, and without it a command run beside a busy server
                        // (`medclaim storage migrate`, `backup`) fails at once with "database
                        // is locked" instead of waiting its turn. 30 s: a loaded machine can
                        // keep a writer busy for seconds.
                        conn.execute("PRAGMA busy_timeout = 30000").await?;
                        conn.execute("PRAGMA journal_mode = WAL").await?;
                        conn.execute("PRAGMA synchronous = NORMAL").await?;
                        conn.execute("PRAGMA foreign_keys = ON").await?;
                        Ok(())
                    })
                })
        }
        Backend::Postgres => AnyPoolOptions::new().max_connections(size),
    };
    // `test_before_acquire` on PostgreSQL (sqlx's default): an idle connection is pinged before
    // it is handed out and dropped when the ping fails, so connections to a primary that died
    // (failover) never reach a request a second time. A SQLite connection is a file this
    // process holds open: nothing to test, and the ping was a round trip to its thread on
    // every acquire.
    options
        .test_before_acquire(backend == Backend::Postgres)
        .acquire_timeout(Duration::from_secs(30))
}

/// `$1, $2, …, $n`: the placeholders of an `IN` list of `n` values (only numbers go into the
/// SQL text; the values are bound).
pub fn placeholders(n: usize) -> String {
    (1..=n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `($1, …, $w), ($w+1, …, $2w), …`: the `VALUES` of a multi-row insert of `rows` rows of
/// `width` columns.
pub fn row_placeholders(rows: usize, width: usize) -> String {
    (0..rows)
        .map(|r| {
            let row: Vec<String> = (1..=width).map(|c| format!("${}", r * width + c)).collect();
            format!("({})", row.join(", "))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Now, as Unix milliseconds.
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// True when the error says the database cannot be used *right now*, not that the request is
/// wrong: the connection was refused, reset or lost (`Io`, TLS), the pool found no connection
/// in time or is shutting down, or PostgreSQL refused the work because it is not (or no longer)
/// the primary or is going away — SQLSTATE 25006 `read_only_sql_transaction` (a standby, or a
/// node being promoted), 57P01/57P02/57P03 (admin or crash shutdown, cannot connect now) and the
/// 08 class (connection exceptions). During a PostgreSQL failover these are what the requests
/// in flight meet; the HTTP layer answers them 503 `unavailable` with `Retry-After`.
pub fn is_unavailable(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed => true,
        sqlx::Error::Database(db) => db.code().is_some_and(|code| is_unavailable_sqlstate(&code)),
        _ => false,
    }
}

fn is_unavailable_sqlstate(code: &str) -> bool {
    matches!(code, "25006" | "57P01" | "57P02" | "57P03") || code.starts_with("08")
}

/// True when the error is a unique-constraint violation (both backends).
pub fn is_unique_violation(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::Database(db) => {
            matches!(db.kind(), sqlx::error::ErrorKind::UniqueViolation)
        }
        _ => false,
    }
}

pub fn flag(b: bool) -> i64 {
    i64::from(b)
}
