//! `medclaim backup --to DIR` and `medclaim restore --from DIR`.
//!
//! A backup is a directory:
//! - `database.sqlite3` (SQLite: `VACUUM INTO`, one read transaction, so a consistent copy while
//!   the server goes on writing) or `database.pgdump` (PostgreSQL: `pg_dump --format=custom`,
//!   one snapshot);
//! - `keys.json`, the data directory's keys, when the keys live there (keys given by
//!   `MEDCLAIM_DATA_KEY`/`MEDCLAIM_INDEX_KEY` must be kept by whoever keeps the environment);
//! - `files/<2 digits>/<name>`, every object of the upload store, still sealed;
//! - `manifest.json`, the SHA-256 and size of each of the above.
//!
//! The database is copied first, the files after: an upload writes its file before the row that
//! refers to it commits, and no row of `files` is ever deleted, so every file the copied database
//! refers to is in the store when the files are listed. Files uploaded after the database copy
//! are in the backup too, unreferenced (the orphan sweep collects them after a restore).
//!
//! A restore checks every hash of the manifest before it writes anything, and goes only into an
//! empty data directory, an empty database and an empty upload store.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::config::Settings;
use crate::db::{Backend, Db, FileStore};

const FORMAT: &str = "medclaim-backup/1";
const MANIFEST: &str = "manifest.json";
const SQLITE_FILE: &str = "database.sqlite3";
const PG_FILE: &str = "database.pgdump";
const KEYS_FILE: &str = "keys.json";

#[derive(Serialize, Deserialize)]
struct Manifest {
    format: String,
    created_at: String,
    /// `sqlite` or `postgresql`.
    backend: String,
    database: String,
    /// path inside the backup → its SHA-256 and size.
    files: BTreeMap<String, Entry>,
}

#[derive(Serialize, Deserialize, PartialEq, Eq, Debug)]
struct Entry {
    sha256: String,
    size: u64,
}

/// What a backup wrote.
#[derive(Debug)]
pub struct BackupReport {
    pub database_bytes: u64,
    pub files: usize,
    pub file_bytes: u64,
    pub keys: bool,
    pub seconds: f64,
}

/// What a restore brought back.
#[derive(Debug)]
pub struct RestoreReport {
    pub files: usize,
    pub cases: i64,
    pub audit_events: i64,
}

fn backend_name(backend: Backend) -> &'static str {
    match backend {
        Backend::Sqlite => "sqlite",
        Backend::Postgres => "postgresql",
    }
}

fn hash_file(path: &Path) -> anyhow::Result<Entry> {
    use std::io::Read;
    let mut file =
        std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut size = 0u64;
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        size += n as u64;
        hasher.update(&buf[..n]);
    }
    Ok(Entry {
        sha256: hex::encode(hasher.finalize()),
        size,
    })
}

fn store_path(name: &str) -> String {
    format!("files/{}/{}", &name[..2], name)
}

/// Runs `program` with `args`, failing with its standard error when it fails.
async fn run_tool(program: &str, args: &[&std::ffi::OsStr]) -> anyhow::Result<()> {
    let out = tokio::process::Command::new(program)
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .with_context(|| format!("running {program} (is it installed and on PATH?)"))?;
    anyhow::ensure!(
        out.status.success(),
        "{program} failed: {}",
        String::from_utf8_lossy(&out.stderr).trim()
    );
    Ok(())
}

/// Takes a backup of the database `db` (the one `settings` name), the upload store `files` and
/// the data directory's keys into `to`, which must not exist or be empty.
pub async fn backup(
    settings: &Settings,
    db: &Db,
    files: &FileStore,
    to: &Path,
) -> anyhow::Result<BackupReport> {
    let started = Instant::now();
    if to.exists() {
        let mut entries =
            std::fs::read_dir(to).with_context(|| format!("reading {}", to.display()))?;
        anyhow::ensure!(
            entries.next().is_none(),
            "{} is not empty: a backup goes into a new or empty directory",
            to.display()
        );
    }
    std::fs::create_dir_all(to).with_context(|| format!("creating {}", to.display()))?;
    // A backup holds everything needed to read the records: its owner only.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(to, std::fs::Permissions::from_mode(0o700))
            .with_context(|| format!("restricting {}", to.display()))?;
    }
    let to = to
        .canonicalize()
        .with_context(|| format!("resolving {}", to.display()))?;

    // 1. The database, as one consistent snapshot.
    let database = match db.backend {
        Backend::Sqlite => {
            let target = to.join(SQLITE_FILE);
            let literal = target.to_string_lossy().replace('\'', "''");
            sqlx::query(sqlx::AssertSqlSafe(format!("VACUUM INTO '{literal}'")))
                .execute(&db.pool)
                .await
                .context("copying the SQLite database (VACUUM INTO)")?;
            SQLITE_FILE
        }
        Backend::Postgres => {
            let target = to.join(PG_FILE);
            let url = settings.database_url();
            run_tool(
                "pg_dump",
                &[
                    "--format=custom".as_ref(),
                    "--no-owner".as_ref(),
                    "--no-privileges".as_ref(),
                    "--file".as_ref(),
                    target.as_os_str(),
                    "--dbname".as_ref(),
                    url.as_ref(),
                ],
            )
            .await?;
            PG_FILE
        }
    };

    // 2. The keys.
    let keys_path = settings.data_dir.join(KEYS_FILE);
    let keys = keys_path.exists();
    if keys {
        std::fs::copy(&keys_path, to.join(KEYS_FILE)).context("copying keys.json")?;
    }

    // 3. The upload store, after the database (see the module documentation).
    let mut file_count = 0;
    let mut file_bytes = 0;
    for stored in files.list().await? {
        if !crate::db::valid_name(&stored.name) {
            continue;
        }
        let Some(bytes) = files.get(&stored.name).await? else {
            continue;
        };
        let path = to.join(store_path(&stored.name));
        std::fs::create_dir_all(path.parent().expect("has a parent"))?;
        std::fs::write(&path, &bytes).with_context(|| format!("writing {}", path.display()))?;
        file_count += 1;
        file_bytes += bytes.len() as u64;
    }

    // 4. The manifest, written last: a backup without one is unfinished.
    let mut entries = BTreeMap::new();
    let mut paths = vec![database.to_string()];
    if keys {
        paths.push(KEYS_FILE.to_string());
    }
    paths.extend(listed_files(&to)?);
    for rel in paths {
        entries.insert(rel.clone(), hash_file(&to.join(&rel))?);
    }
    let database_bytes = entries[database].size;
    let manifest = Manifest {
        format: FORMAT.into(),
        created_at: chrono::Utc::now().to_rfc3339(),
        backend: backend_name(db.backend).into(),
        database: database.into(),
        files: entries,
    };
    let tmp = to.join("manifest.json.tmp");
    std::fs::write(&tmp, serde_json::to_vec_pretty(&manifest)?)?;
    std::fs::rename(&tmp, to.join(MANIFEST))?;
    Ok(BackupReport {
        database_bytes,
        files: file_count,
        file_bytes,
        keys,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// The `files/…` paths under a backup directory, relative to it.
fn listed_files(root: &Path) -> anyhow::Result<Vec<String>> {
    let mut out = Vec::new();
    let dir = root.join("files");
    if !dir.exists() {
        return Ok(out);
    }
    for shard in std::fs::read_dir(&dir)? {
        let shard = shard?;
        if !shard.file_type()?.is_dir() {
            out.push(format!("files/{}", shard.file_name().to_string_lossy()));
            continue;
        }
        for f in std::fs::read_dir(shard.path())? {
            let f = f?;
            out.push(format!(
                "files/{}/{}",
                shard.file_name().to_string_lossy(),
                f.file_name().to_string_lossy()
            ));
        }
    }
    out.sort();
    Ok(out)
}

/// Reads the manifest and checks every file against it: present, same size, same SHA-256, and
/// nothing under `files/` that it does not list.
fn check(from: &Path) -> anyhow::Result<Manifest> {
    let text = std::fs::read(from.join(MANIFEST)).with_context(|| {
        format!(
            "{} has no readable manifest.json: not a finished backup",
            from.display()
        )
    })?;
    let manifest: Manifest =
        serde_json::from_slice(&text).context("damaged backup: manifest.json does not parse")?;
    anyhow::ensure!(
        manifest.format == FORMAT,
        "unknown backup format {:?}",
        manifest.format
    );
    anyhow::ensure!(
        manifest.files.contains_key(&manifest.database),
        "damaged backup: the manifest lists no database file"
    );
    for (rel, want) in &manifest.files {
        anyhow::ensure!(
            !rel.contains("..") && !rel.starts_with('/'),
            "damaged backup: manifest path {rel:?}"
        );
        let path = from.join(rel);
        anyhow::ensure!(path.exists(), "damaged backup: {rel} is missing");
        let got = hash_file(&path)?;
        anyhow::ensure!(
            &got == want,
            "damaged backup: {rel} does not match its SHA-256 in manifest.json (refusing to restore)"
        );
    }
    for rel in listed_files(from)? {
        anyhow::ensure!(
            manifest.files.contains_key(&rel),
            "damaged backup: {rel} is not in manifest.json"
        );
    }
    Ok(manifest)
}

/// The SQLite file a `sqlite://` URL names.
fn sqlite_path(url: &str) -> anyhow::Result<PathBuf> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .context("not a SQLite URL")?;
    let path = rest.split('?').next().unwrap_or(rest);
    anyhow::ensure!(
        !path.is_empty() && path != ":memory:",
        "restore needs a SQLite file"
    );
    Ok(PathBuf::from(path))
}

/// Restores the backup in `from` into the data directory, database and upload store that
/// `settings` name, all of which must be empty. Checks every hash first.
pub async fn restore(settings: &Settings, from: &Path) -> anyhow::Result<RestoreReport> {
    let manifest = check(from)?;
    let url = settings.database_url();
    let backend = if url.starts_with("sqlite:") {
        Backend::Sqlite
    } else {
        Backend::Postgres
    };
    anyhow::ensure!(
        manifest.backend == backend_name(backend),
        "the backup is of a {} database; the configured database is {}",
        manifest.backend,
        backend_name(backend)
    );
    std::fs::create_dir_all(&settings.data_dir)
        .with_context(|| format!("creating {}", settings.data_dir.display()))?;
    let keys_target = settings.data_dir.join(KEYS_FILE);
    let has_keys = manifest.files.contains_key(KEYS_FILE);
    anyhow::ensure!(
        !(has_keys && keys_target.exists()),
        "{} exists: restore goes into an empty data directory",
        keys_target.display()
    );
    let files = settings.file_store()?;
    anyhow::ensure!(
        files.list().await?.is_empty(),
        "the upload store {} is not empty: restore goes into an empty store",
        files.url()
    );

    // The database.
    match backend {
        Backend::Sqlite => {
            let target = sqlite_path(&url)?;
            let occupied = target.exists() && std::fs::metadata(&target)?.len() > 0;
            anyhow::ensure!(
                !occupied,
                "{} exists: restore goes into an empty data directory",
                target.display()
            );
            let tmp = target.with_extension("restoring");
            std::fs::copy(from.join(&manifest.database), &tmp)
                .context("copying the database into place")?;
            std::fs::rename(&tmp, &target)?;
        }
        Backend::Postgres => {
            let db = Db::connect(&url).await?;
            let tables: i64 = sqlx::query_scalar(
                "SELECT CAST(COUNT(*) AS BIGINT) FROM information_schema.tables
                 WHERE table_schema NOT IN ('pg_catalog', 'information_schema')",
            )
            .fetch_one(&db.pool)
            .await?;
            db.close().await;
            anyhow::ensure!(
                tables == 0,
                "the database has {tables} table(s): restore goes into an empty database"
            );
            let dump = from.join(&manifest.database);
            run_tool(
                "pg_restore",
                &[
                    "--no-owner".as_ref(),
                    "--no-privileges".as_ref(),
                    "--exit-on-error".as_ref(),
                    "--single-transaction".as_ref(),
                    "--dbname".as_ref(),
                    url.as_ref(),
                    dump.as_os_str(),
                ],
            )
            .await?;
        }
    }

    // The keys, then the files.
    if has_keys {
        std::fs::copy(from.join(KEYS_FILE), &keys_target).context("restoring keys.json")?;
    }
    let mut restored = 0;
    for rel in manifest.files.keys() {
        let Some(name) = rel.strip_prefix("files/").and_then(|r| r.split('/').nth(1)) else {
            continue;
        };
        let bytes = std::fs::read(from.join(rel))?;
        files.put(name, bytes).await?;
        restored += 1;
    }

    let db = Db::connect(&url).await?;
    crate::db::migrate(&db).await?;
    let count = |sql: &'static str| {
        let pool = db.pool.clone();
        async move { sqlx::query_scalar::<_, i64>(sql).fetch_one(&pool).await }
    };
    let cases = count("SELECT CAST(COUNT(*) AS BIGINT) FROM cases").await?;
    let audit_events = count("SELECT CAST(COUNT(*) AS BIGINT) FROM audit_events").await?;
    db.close().await;
    Ok(RestoreReport {
        files: restored,
        cases,
        audit_events,
    })
}
