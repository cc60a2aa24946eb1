//! Seals what was written before sealing existed: medical text columns and stored files. Runs
//! on every start after the schema migrations; each step works in batches of rows by id,
//! remembers its last id in `seal_progress` (an interrupted start resumes there) and is marked
//! done at the end (a later start skips it). Rows are told apart by the `enc1:` prefix and
//! files by their header, so running twice, or on a half-sealed database, changes nothing that
//! is already sealed. Several instances may run it at once: a row is only rewritten while it
//! still holds the plaintext that was read.

use std::path::{Path, PathBuf};

use sqlx::Row;

use super::{file_name, is_sealed, is_sealed_file, seal_file, seal_with};
use crate::crypto::Keys;
use crate::db::{Backend, Db, now_ms};

/// Every column that holds medical text: (table, columns). Name, class, student id, hospital
/// and invoice number stay clear (they are what staff search by).
pub const SEALED_COLUMNS: &[(&str, &[&str])] = &[
    ("cases", &["reason", "diagnosis_code"]),
    ("invoices", &["reason"]),
    ("review_decisions", &["reason"]),
    ("case_fee_lines", &["code", "display"]),
    ("visits", &["diagnosis_code", "diagnosis_text"]),
    ("visit_fee_lines", &["code", "display"]),
    ("support_threads", &["subject"]),
    ("support_messages", &["body"]),
    ("notifications", &["title", "body"]),
    ("outbox", &["payload"]),
    ("insurer_claims", &["disposition", "adjudication"]),
    ("files", &["original_name"]),
];

const BATCH: i64 = 500;
const FILES_STEP: &str = "files";

/// Where the stored content with a given name lives (`storage::path_of`): the sealing does not
/// own the upload directory's layout.
pub type PathOf = fn(&Path, &str) -> Option<PathBuf>;

/// What one run sealed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Sealed {
    pub values: u64,
    pub files: u64,
}

/// Seals every plaintext medical value and stored file (see the module comment).
pub async fn seal_existing(
    db: &Db,
    keys: &Keys,
    data_dir: &Path,
    path_of: PathOf,
) -> anyhow::Result<Sealed> {
    let mut out = Sealed::default();
    for (table, columns) in SEALED_COLUMNS {
        out.values += seal_table(db, keys, table, columns).await?;
    }
    out.files += seal_files(db, keys, data_dir, path_of).await?;
    if out != Sealed::default() && db.backend == Backend::Sqlite {
        // The plaintext the rows held lingers in freed pages and in the write-ahead log until
        // the file is rebuilt. (PostgreSQL keeps old row versions until they are vacuumed and
        // reused, and in its WAL archive: see docs/encryption-at-rest.md.)
        sqlx::query("VACUUM").execute(&db.pool).await?;
        sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
            .execute(&db.pool)
            .await?;
    }
    if out != Sealed::default() {
        tracing::info!(
            values = out.values,
            files = out.files,
            "sealed medical content written before sealing"
        );
    }
    Ok(out)
}

async fn progress(db: &Db, step: &str) -> anyhow::Result<Option<i64>> {
    let row: Option<(i64, i64)> =
        sqlx::query_as("SELECT last_id, done FROM seal_progress WHERE step = $1")
            .bind(step)
            .fetch_optional(&db.pool)
            .await?;
    Ok(match row {
        Some((_, 1)) => None,
        Some((last, _)) => Some(last),
        None => Some(0),
    })
}

async fn save_progress(
    exec: impl sqlx::Executor<'_, Database = sqlx::Any>,
    step: &str,
    last_id: i64,
    done: bool,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO seal_progress (step, last_id, done, updated_at) VALUES ($1, $2, $3, $4)
         ON CONFLICT (step) DO UPDATE SET last_id = excluded.last_id, done = excluded.done, updated_at = excluded.updated_at",
    )
    .bind(step)
    .bind(last_id)
    .bind(i64::from(done))
    .bind(now_ms())
    .execute(exec)
    .await?;
    Ok(())
}

async fn seal_table(db: &Db, keys: &Keys, table: &str, columns: &[&str]) -> anyhow::Result<u64> {
    let step = format!("text:{table}");
    let Some(mut last) = progress(db, &step).await? else {
        return Ok(0);
    };
    let mut sealed = 0;
    loop {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT id, {} FROM {table} WHERE id > $1 ORDER BY id LIMIT $2",
            columns.join(", ")
        )))
        .bind(last)
        .bind(BATCH)
        .fetch_all(&db.pool)
        .await?;
        let Some(end) = rows.last().map(|r| r.try_get::<i64, _>("id")).transpose()? else {
            break;
        };
        let mut tx = db.begin().await?;
        for row in &rows {
            let id: i64 = row.try_get("id")?;
            for col in columns {
                let Some(plain) = row.try_get::<Option<String>, _>(*col)? else {
                    continue;
                };
                if is_sealed(&plain) {
                    continue;
                }
                let done = sqlx::query(sqlx::AssertSqlSafe(format!(
                    "UPDATE {table} SET {col} = $1 WHERE id = $2 AND {col} = $3"
                )))
                .bind(seal_with(keys, &plain))
                .bind(id)
                .bind(&plain)
                .execute(&mut *tx)
                .await?;
                sealed += done.rows_affected();
            }
        }
        save_progress(&mut *tx, &step, end, false).await?;
        tx.commit().await?;
        last = end;
    }
    save_progress(&db.pool, &step, last, true).await?;
    Ok(sealed)
}

/// Seals each stored file under its keyed name, points its rows there and removes the
/// plaintext file once no row names it; at the end, plaintext files no row names (left by an
/// interrupted run) are removed.
async fn seal_files(db: &Db, keys: &Keys, data_dir: &Path, path_of: PathOf) -> anyhow::Result<u64> {
    let Some(mut last) = progress(db, FILES_STEP).await? else {
        return Ok(0);
    };
    let mut sealed = 0;
    loop {
        let rows: Vec<(i64, String, Option<String>)> = sqlx::query_as(
            "SELECT id, storage_key, thumb_key FROM files WHERE id > $1 ORDER BY id LIMIT $2",
        )
        .bind(last)
        .bind(BATCH)
        .fetch_all(&db.pool)
        .await?;
        let Some(end) = rows.last().map(|r| r.0) else {
            break;
        };
        let mut replaced = Vec::new();
        let mut tx = db.begin().await?;
        for (id, key, thumb) in &rows {
            if let Some(new) = seal_file_at(keys, data_dir, path_of, key).await? {
                sqlx::query(
                    "UPDATE files SET storage_key = $1, sha256 = $1 WHERE id = $2 AND storage_key = $3",
                )
                .bind(&new)
                .bind(id)
                .bind(key)
                .execute(&mut *tx)
                .await?;
                replaced.push(key.clone());
                sealed += 1;
            }
            if let Some(thumb) = thumb
                && let Some(new) = seal_file_at(keys, data_dir, path_of, thumb).await?
            {
                sqlx::query("UPDATE files SET thumb_key = $1 WHERE id = $2 AND thumb_key = $3")
                    .bind(&new)
                    .bind(id)
                    .bind(thumb)
                    .execute(&mut *tx)
                    .await?;
                replaced.push(thumb.clone());
                sealed += 1;
            }
        }
        save_progress(&mut *tx, FILES_STEP, end, false).await?;
        tx.commit().await?;
        for old in replaced {
            remove_if_unreferenced(db, data_dir, path_of, &old).await?;
        }
        last = end;
    }
    sweep_plaintext(db, data_dir, path_of).await?;
    save_progress(&db.pool, FILES_STEP, last, true).await?;
    Ok(sealed)
}

/// Writes the sealed copy of the plaintext file named `key`; answers its new name, or `None`
/// when the file is already sealed or missing.
async fn seal_file_at(
    keys: &Keys,
    data_dir: &Path,
    path_of: PathOf,
    key: &str,
) -> anyhow::Result<Option<String>> {
    let Some(path) = path_of(data_dir, key) else {
        return Ok(None);
    };
    let bytes = match tokio::fs::read(&path).await {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            tracing::warn!(file = %key, "stored file is missing; left as it is");
            return Ok(None);
        }
        Err(e) => return Err(e.into()),
    };
    if is_sealed_file(&bytes) {
        return Ok(None);
    }
    let name = file_name(keys, &bytes);
    let target = path_of(data_dir, &name).expect("a keyed hash is a valid key");
    if !tokio::fs::try_exists(&target).await? {
        let dir = target.parent().expect("has a parent");
        tokio::fs::create_dir_all(dir).await?;
        let tmp = dir.join(format!("{name}.{}.tmp", crate::crypto::random_token()));
        tokio::fs::write(&tmp, seal_file(keys, &bytes)).await?;
        tokio::fs::rename(&tmp, &target).await?;
    }
    Ok(Some(name))
}

async fn referenced(db: &Db, key: &str) -> sqlx::Result<bool> {
    let n: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM files WHERE storage_key = $1 OR thumb_key = $1")
            .bind(key)
            .fetch_one(&db.pool)
            .await?;
    Ok(n > 0)
}

async fn remove_if_unreferenced(
    db: &Db,
    data_dir: &Path,
    path_of: PathOf,
    key: &str,
) -> anyhow::Result<()> {
    if referenced(db, key).await? {
        return Ok(());
    }
    if let Some(path) = path_of(data_dir, key) {
        match tokio::fs::remove_file(&path).await {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// Removes plaintext files that no row names any more (a run interrupted between sealing a
/// file and removing its plaintext leaves one). Sealed files are never touched here.
async fn sweep_plaintext(db: &Db, data_dir: &Path, path_of: PathOf) -> anyhow::Result<()> {
    let root = data_dir.join("files");
    let Ok(mut shards) = tokio::fs::read_dir(&root).await else {
        return Ok(());
    };
    while let Some(shard) = shards.next_entry().await? {
        if !shard.file_type().await?.is_dir() {
            continue;
        }
        let mut entries = tokio::fs::read_dir(shard.path()).await?;
        while let Some(entry) = entries.next_entry().await? {
            let name = entry.file_name().to_string_lossy().into_owned();
            if path_of(data_dir, &name).is_none() {
                continue;
            }
            let mut head = [0u8; 8];
            let n = {
                use tokio::io::AsyncReadExt;
                let mut f = tokio::fs::File::open(entry.path()).await?;
                f.read(&mut head).await?
            };
            if is_sealed_file(&head[..n]) {
                continue;
            }
            remove_if_unreferenced(db, data_dir, path_of, &name).await?;
        }
    }
    Ok(())
}
