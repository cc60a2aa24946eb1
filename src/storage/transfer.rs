//! `medclaim storage migrate --to URL`: copies every stored file to another store (a directory
//! to an S3 bucket, typically) and proves the copy: each object is read back from the new store
//! and its SHA-256 compared with the original's, its sealed content is opened and its keyed
//! hash compared with its name, and every file the database refers to must be there.

use std::collections::HashSet;

use sha2::{Digest, Sha256};

use crate::crypto::Keys;
use crate::db::{Db, FileStore};

/// What a migration did.
#[derive(Debug, Default)]
pub struct TransferReport {
    /// Objects in the source store with a stored-file name.
    pub listed: usize,
    /// Written to the destination.
    pub copied: usize,
    /// Already in the destination with the same bytes.
    pub present: usize,
    /// Read back from the destination with the right SHA-256 and content hash.
    pub verified: usize,
    pub bytes: u64,
    /// Files and thumbnails the database refers to.
    pub referenced: usize,
    /// Referenced names that are in neither store (reported, not invented).
    pub missing: Vec<String>,
}

fn sha256(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// The stored names the `files` table refers to (content and thumbnails).
pub async fn referenced_names(db: &Db) -> anyhow::Result<HashSet<String>> {
    Ok(sqlx::query_scalar(
        "SELECT storage_key FROM files UNION SELECT thumb_key FROM files WHERE thumb_key IS NOT NULL",
    )
    .fetch_all(&db.pool)
    .await?
    .into_iter()
    .collect())
}

/// Copies `from` into `to` and verifies every copy (see the module documentation). Fails on
/// the first object whose copy does not match.
pub async fn copy_store(
    db: &Db,
    keys: &Keys,
    from: &FileStore,
    to: &FileStore,
) -> anyhow::Result<TransferReport> {
    anyhow::ensure!(
        from.url() != to.url(),
        "the destination is the store in use ({})",
        from.url()
    );
    let mut report = TransferReport::default();
    let mut names = HashSet::new();
    for stored in from.list().await? {
        if !crate::db::valid_name(&stored.name) {
            continue;
        }
        report.listed += 1;
        let Some(bytes) = from.get(&stored.name).await? else {
            continue; // collected between the listing and the read
        };
        let want = sha256(&bytes);
        match to.get(&stored.name).await? {
            Some(there) if sha256(&there) == want => report.present += 1,
            _ => {
                to.put(&stored.name, bytes.clone()).await?;
                report.copied += 1;
            }
        }
        let back = to
            .get(&stored.name)
            .await?
            .ok_or_else(|| anyhow::anyhow!("{} is missing after the copy", stored.name))?;
        anyhow::ensure!(
            sha256(&back) == want,
            "hash mismatch: {} reads back different bytes from {}",
            stored.name,
            to.url()
        );
        let plain = crate::seal::open_file(back)
            .map_err(|_| anyhow::anyhow!("{} could not be opened with these keys", stored.name))?;
        anyhow::ensure!(
            crate::seal::file_name(keys, &plain) == stored.name,
            "hash mismatch: the content of {} does not hash to its name",
            stored.name
        );
        report.verified += 1;
        report.bytes += stored.size;
        names.insert(stored.name);
    }
    let referenced = referenced_names(db).await?;
    report.referenced = referenced.len();
    let mut missing: Vec<String> = referenced.difference(&names).cloned().collect();
    missing.sort();
    report.missing = missing;
    Ok(report)
}
