//! The upload store: content-addressed objects in a local directory or an S3-compatible object
//! store (crates.io `object_store`), one interface for both.
//!
//! The store only keeps bytes under a name; what goes in is already sealed (`crate::seal`, by
//! the `storage` context) and what comes out is opened there, so neither a bucket nor a disk
//! ever holds a photo in the clear. Nothing here hands out a URL: files are served only by the
//! application's own authorised routes.
//!
//! Names are 64 hexadecimal digits (a keyed hash of the content); an object lives at
//! `<root>/<first two digits>/<name>`, the layout the data directory has always used.

use std::path::Path as FsPath;
use std::sync::Arc;

use anyhow::Context;
use futures_util::TryStreamExt;
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};

/// `MEDCLAIM_STORAGE_URL`: `file:///srv/medclaim/files` or `s3://bucket/prefix`; unset: the
/// `files/` directory inside the data directory. The S3 connection: `MEDCLAIM_S3_ENDPOINT`
/// (unset: AWS itself; `http://…` is allowed for a store on a private network),
/// `MEDCLAIM_S3_REGION` (`us-east-1`), `MEDCLAIM_S3_ACCESS_KEY_ID`,
/// `MEDCLAIM_S3_SECRET_ACCESS_KEY`.
#[derive(Clone, Default)]
pub struct StorageSettings {
    pub url: Option<String>,
    pub s3: S3Settings,
}

#[derive(Clone, Default)]
pub struct S3Settings {
    pub endpoint: Option<String>,
    pub region: Option<String>,
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<String>,
}

impl std::fmt::Debug for S3Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Settings")
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("access_key_id", &self.access_key_id)
            .field(
                "secret_access_key",
                &self.secret_access_key.as_ref().map(|_| "<hidden>"),
            )
            .finish()
    }
}

impl std::fmt::Debug for StorageSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StorageSettings")
            .field("url", &self.url)
            .field("s3", &self.s3)
            .finish()
    }
}

/// One stored object, as a listing sees it.
#[derive(Clone, Debug)]
pub struct Stored {
    pub name: String,
    pub size: u64,
    pub modified: chrono::DateTime<chrono::Utc>,
    location: Path,
}

#[derive(Clone)]
pub struct FileStore {
    inner: Arc<dyn ObjectStore>,
    /// Where the names start inside `inner` (empty for a directory, the key prefix in a bucket).
    prefix: Option<Path>,
    /// `file:///…` or `s3://bucket/prefix`, for messages (never a credential).
    url: String,
}

impl std::fmt::Debug for FileStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileStore").field("url", &self.url).finish()
    }
}

/// True for a name the store accepts: 64 hexadecimal digits.
pub fn valid_name(name: &str) -> bool {
    name.len() == 64 && name.chars().all(|c| c.is_ascii_hexdigit())
}

impl FileStore {
    /// The store `settings` name; the data directory's `files/` when no URL is set.
    pub fn open(settings: &StorageSettings, data_dir: &FsPath) -> anyhow::Result<FileStore> {
        match settings.url.as_deref() {
            None => FileStore::directory(&data_dir.join("files")),
            Some(url) => FileStore::at(url, settings),
        }
    }

    /// The store at `url` (`file:///dir` or `s3://bucket[/prefix]`), with the S3 connection
    /// of `settings` for a bucket.
    pub fn at(url: &str, settings: &StorageSettings) -> anyhow::Result<FileStore> {
        if let Some(path) = url.strip_prefix("file://") {
            anyhow::ensure!(
                path.starts_with('/'),
                "storage URL {url}: a file URL needs an absolute path (file:///srv/medclaim/files)"
            );
            return FileStore::directory(FsPath::new(path));
        }
        let Some(rest) = url.strip_prefix("s3://") else {
            anyhow::bail!("storage URL {url}: use file:///path or s3://bucket/prefix");
        };
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        anyhow::ensure!(!bucket.is_empty(), "storage URL {url}: no bucket");
        let s3 = &settings.s3;
        let mut builder = AmazonS3Builder::new()
            .with_bucket_name(bucket)
            .with_region(s3.region.as_deref().unwrap_or("us-east-1"));
        if let Some(endpoint) = &s3.endpoint {
            builder = builder
                .with_endpoint(endpoint)
                .with_allow_http(endpoint.starts_with("http://"));
        }
        if let Some(id) = &s3.access_key_id {
            builder = builder.with_access_key_id(id);
        }
        if let Some(secret) = &s3.secret_access_key {
            builder = builder.with_secret_access_key(secret);
        }
        let store = builder
            .build()
            .with_context(|| format!("configuring the object store {url}"))?;
        let prefix = prefix.trim_matches('/');
        Ok(FileStore {
            inner: Arc::new(store),
            prefix: (!prefix.is_empty()).then(|| Path::from(prefix)),
            url: url.trim_end_matches('/').to_string(),
        })
    }

    /// A store in the local directory `root` (created when missing).
    pub fn directory(root: &FsPath) -> anyhow::Result<FileStore> {
        std::fs::create_dir_all(root)
            .with_context(|| format!("creating the upload directory {}", root.display()))?;
        let store = LocalFileSystem::new_with_prefix(root)
            .with_context(|| format!("opening the upload directory {}", root.display()))?;
        Ok(FileStore {
            inner: Arc::new(store),
            prefix: None,
            url: format!("file://{}", root.display()),
        })
    }

    /// `file:///…` or `s3://bucket/prefix`.
    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn is_object_store(&self) -> bool {
        self.url.starts_with("s3://")
    }

    fn location(&self, name: &str) -> anyhow::Result<Path> {
        anyhow::ensure!(valid_name(name), "not a stored file name");
        let rel = format!("{}/{}", &name[..2], name);
        Ok(match &self.prefix {
            Some(p) => Path::from(format!("{p}/{rel}")),
            None => Path::from(rel),
        })
    }

    /// Writes `bytes` under `name` (replacing what was there: names are content hashes, so it
    /// is the same content). A directory store writes a temporary file and renames it.
    pub async fn put(&self, name: &str, bytes: Vec<u8>) -> anyhow::Result<()> {
        let at = self.location(name)?;
        self.inner
            .put(&at, PutPayload::from(bytes))
            .await
            .with_context(|| format!("writing a stored file to {}", self.url))?;
        Ok(())
    }

    pub async fn exists(&self, name: &str) -> anyhow::Result<bool> {
        let at = self.location(name)?;
        match self.inner.head(&at).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(e).with_context(|| format!("looking up a stored file in {}", self.url)),
        }
    }

    /// The bytes stored under `name`; `None` when there is no such object.
    pub async fn get(&self, name: &str) -> anyhow::Result<Option<Vec<u8>>> {
        let at = self.location(name)?;
        match self.inner.get(&at).await {
            Ok(got) => {
                let bytes = got
                    .bytes()
                    .await
                    .with_context(|| format!("reading a stored file from {}", self.url))?;
                Ok(Some(bytes.to_vec()))
            }
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(e).with_context(|| format!("reading a stored file from {}", self.url)),
        }
    }

    pub async fn delete(&self, name: &str) -> anyhow::Result<()> {
        let at = self.location(name)?;
        match self.inner.delete(&at).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(e).with_context(|| format!("deleting a stored file in {}", self.url)),
        }
    }

    /// Every object under the store's root, whatever its name: a temporary file left by an
    /// interrupted write of the old directory layout has a name that is not [`valid_name`].
    pub async fn list(&self) -> anyhow::Result<Vec<Stored>> {
        let metas: Vec<object_store::ObjectMeta> = self
            .inner
            .list(self.prefix.as_ref())
            .try_collect()
            .await
            .with_context(|| format!("listing {}", self.url))?;
        Ok(metas
            .into_iter()
            .filter_map(|m| {
                let name = m.location.filename()?.to_string();
                Some(Stored {
                    name,
                    size: m.size,
                    modified: m.last_modified,
                    location: m.location,
                })
            })
            .collect())
    }

    /// Deletes an object a listing found (whatever its name).
    pub async fn delete_stored(&self, stored: &Stored) -> anyhow::Result<()> {
        match self.inner.delete(&stored.location).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(e).with_context(|| format!("deleting in {}", self.url)),
        }
    }
}
