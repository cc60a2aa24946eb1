//! The upload store (issue 18): the same uploads, reads, thumbnails and orphan collection on the
//! local directory and on a real S3-compatible server (PyPI `moto[server]`, started here), and
//! `medclaim storage migrate --to s3://…` with its hash checks.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use medclaim::config::{S3Settings, StorageSettings};
use medclaim::db::FileStore;
use reqwest::{Method, StatusCode};

use crate::common::{Options, TestApp, run_cli_env};
use crate::intake::{file_part, jpeg, multipart, new_case, png, student};

fn ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

/// An S3-compatible server (moto) on a free loopback port, stopped when dropped.
pub struct Moto {
    child: Child,
    pub endpoint: String,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Moto {
    /// The connection settings for `s3://<bucket>/<prefix>` on this server.
    pub fn settings(&self, bucket: &str, prefix: &str) -> StorageSettings {
        StorageSettings {
            url: Some(format!("s3://{bucket}/{prefix}")),
            s3: self.s3(),
        }
    }

    pub fn s3(&self) -> S3Settings {
        S3Settings {
            endpoint: Some(self.endpoint.clone()),
            region: Some("us-east-1".into()),
            access_key_id: Some("medclaim-test".into()),
            secret_access_key: Some("medclaim-test-secret".into()),
        }
    }

    /// The `MEDCLAIM_S3_*` variables for the command line.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("MEDCLAIM_S3_ENDPOINT", self.endpoint.clone()),
            ("MEDCLAIM_S3_REGION", "us-east-1".into()),
            ("MEDCLAIM_S3_ACCESS_KEY_ID", "medclaim-test".into()),
            (
                "MEDCLAIM_S3_SECRET_ACCESS_KEY",
                "medclaim-test-secret".into(),
            ),
        ]
    }

    /// Creates a bucket (S3 `CreateBucket`; moto takes unsigned requests).
    pub async fn bucket(&self, name: &str) {
        let resp = reqwest::Client::new()
            .put(format!("{}/{name}", self.endpoint))
            .send()
            .await
            .expect("create bucket");
        assert!(
            resp.status().is_success(),
            "create bucket: {}",
            resp.status()
        );
    }
}

fn cache_dir() -> PathBuf {
    std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var("HOME").unwrap_or_default()).join(".cache"))
        .join("medclaim")
}

/// Starts `python -m moto.server` from `MEDCLAIM_MOTO_PYTHON` (the venv `.ci/run` installs).
/// `None`, after printing why, when moto is not installed and `CI` is not `true`.
pub async fn start_moto() -> Option<Moto> {
    let python = std::env::var("MEDCLAIM_MOTO_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|_| cache_dir().join("moto-venv/bin/python"));
    let installed = Command::new(&python)
        .args(["-c", "import moto.server"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !installed {
        let what = format!("moto[server] is not installed in {}", python.display());
        assert!(!ci(), "CI=true but {what}");
        eprintln!("SKIPPED S3 storage test: {what} (run .ci/run to install it)");
        return None;
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(&python)
        .args([
            "-m",
            "moto.server",
            "-H",
            "127.0.0.1",
            "-p",
            &port.to_string(),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start moto.server");
    let moto = Moto {
        child,
        endpoint: format!("http://127.0.0.1:{port}"),
    };
    let client = reqwest::Client::new();
    for _ in 0..300 {
        if client.get(&moto.endpoint).send().await.is_ok() {
            return Some(moto);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("moto.server did not answer on {}", moto.endpoint);
}

async fn upload(app: &TestApp, token: &str, case_id: i64, bytes: Vec<u8>) -> serde_json::Value {
    let form =
        reqwest::multipart::Form::new().part("file", file_part(bytes, "p.jpg", "image/jpeg"));
    let (status, rec) = multipart(
        app,
        Method::POST,
        &format!("/api/v1/cases/{case_id}/records"),
        token,
        form,
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{rec}");
    rec
}

async fn fetch(app: &TestApp, token: &str, url: &str) -> (StatusCode, String, Vec<u8>) {
    crate::reports::download(app, url, token).await
}

/// The storage test set, on whatever store `app` was configured with.
async fn exercise(app: &TestApp) {
    let (_, token) = student(app, "2024001").await;
    let case_id = new_case(app, &token).await;
    let rec = upload(app, &token, case_id, jpeg(640, 480)).await;
    let (status, mime, photo) = fetch(app, &token, rec["url"].as_str().unwrap()).await;
    assert_eq!((status, mime.as_str()), (StatusCode::OK, "image/jpeg"));
    let img = image::load_from_memory(&photo).expect("the photo reads back");
    assert_eq!((img.width(), img.height()), (640, 480));
    let (status, mime, thumb) = fetch(app, &token, rec["thumb_url"].as_str().unwrap()).await;
    assert_eq!((status, mime.as_str()), (StatusCode::OK, "image/jpeg"));
    let t = image::load_from_memory(&thumb).unwrap();
    assert!(t.width() <= 320 && t.height() <= 320);
    // A PNG (kept lossless), and the same photo again: stored once.
    let rec2 = upload(app, &token, case_id, png(50, 40)).await;
    let (status, mime, _) = fetch(app, &token, rec2["url"].as_str().unwrap()).await;
    assert_eq!((status, mime.as_str()), (StatusCode::OK, "image/png"));
    upload(app, &token, case_id, jpeg(640, 480)).await;

    // Someone else gets nothing.
    let (_, other) = student(app, "2024002").await;
    let (status, _, _) = fetch(app, &other, rec["url"].as_str().unwrap()).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // What the store holds is sealed: no JPEG or PNG in the clear; four objects (two photos,
    // two thumbnails), the repeated photo stored once.
    let files = &app.state.files;
    let stored = files.list().await.unwrap();
    assert_eq!(stored.len(), 4, "{stored:?}");
    for s in &stored {
        let raw = files.get(&s.name).await.unwrap().unwrap();
        assert!(
            !raw.starts_with(&[0xFF, 0xD8, 0xFF]) && !raw.starts_with(b"\x89PNG"),
            "{} is stored in the clear",
            s.name
        );
        assert_eq!(raw.len() as u64, s.size);
    }

    // An object no row refers to is collected; the referenced ones stay and still serve.
    let orphan = "ab".repeat(32);
    files.put(&orphan, b"left behind".to_vec()).await.unwrap();
    assert!(files.exists(&orphan).await.unwrap());
    tokio::time::sleep(Duration::from_millis(20)).await;
    let deleted = medclaim::storage::sweep_orphans(&app.db, files, Duration::ZERO)
        .await
        .unwrap();
    assert_eq!(deleted, 1);
    assert!(!files.exists(&orphan).await.unwrap());
    assert_eq!(files.list().await.unwrap().len(), 4);
    let (status, _, again) = fetch(app, &token, rec["url"].as_str().unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(again, photo);
}

#[tokio::test]
async fn uploads_in_the_data_directory() {
    let app = TestApp::spawn().await;
    assert!(app.state.files.url().starts_with("file://"));
    exercise(&app).await;
    // On disk: <data_dir>/files/<2 hex digits>/<64 hex digits>, four of them.
    let mut on_disk = Vec::new();
    for shard in std::fs::read_dir(app.data_dir.join("files")).unwrap() {
        let shard = shard.unwrap();
        let prefix = shard.file_name().to_string_lossy().into_owned();
        for f in std::fs::read_dir(shard.path()).unwrap() {
            let name = f.unwrap().file_name().to_string_lossy().into_owned();
            assert!(
                name.len() == 64 && name.starts_with(&prefix),
                "{prefix}/{name}"
            );
            on_disk.push(name);
        }
    }
    assert_eq!(on_disk.len(), 4, "{on_disk:?}");
}

#[tokio::test]
async fn uploads_in_an_s3_bucket() {
    let Some(moto) = start_moto().await else {
        return;
    };
    moto.bucket("medclaim-uploads").await;
    let app = TestApp::spawn_with(Options {
        storage: Some(moto.settings("medclaim-uploads", "campus-a")),
        ..Options::default()
    })
    .await;
    assert_eq!(app.state.files.url(), "s3://medclaim-uploads/campus-a");
    exercise(&app).await;
    assert!(
        !app.data_dir.join("files").exists(),
        "nothing is written to the local directory"
    );
    // The bucket holds the objects under the prefix, and only there.
    let listing = reqwest::get(format!("{}/medclaim-uploads", moto.endpoint))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let keys: Vec<&str> = listing
        .split("<Key>")
        .skip(1)
        .map(|k| k.split("</Key>").next().unwrap())
        .collect();
    assert_eq!(keys.len(), 4, "{listing}");
    assert!(keys.iter().all(|k| k.starts_with("campus-a/")), "{keys:?}");
    // A bad URL is refused when the store is opened, with a message that says what to write.
    let err = FileStore::at("ftp://x", &StorageSettings::default()).unwrap_err();
    assert!(err.to_string().contains("s3://bucket/prefix"), "{err}");
}

fn out(o: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[tokio::test]
async fn storage_migrate_copies_a_directory_store_to_s3_and_checks_every_hash() {
    let Some(moto) = start_moto().await else {
        return;
    };
    moto.bucket("migrated").await;
    let app = TestApp::spawn().await;
    let (_, token) = student(&app, "2024001").await;
    let case_id = new_case(&app, &token).await;
    upload(&app, &token, case_id, jpeg(300, 200)).await;
    upload(&app, &token, case_id, png(30, 20)).await;
    let source = app.state.files.clone();
    let names: Vec<String> = source
        .list()
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.name)
        .collect();
    assert_eq!(names.len(), 4);

    let env: Vec<(&str, String)> = moto.env();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let migrate = || async {
        run_cli_env(
            &app.data_dir,
            &app.database_url,
            &["storage", "migrate", "--to", "s3://migrated/files"],
            None,
            &env,
        )
        .await
    };
    let first = migrate().await;
    assert!(first.status.success(), "{}", out(&first));
    assert!(
        out(&first).contains("4 file(s) in file://")
            && out(&first).contains("4 copied, 0 already there, 4 verified"),
        "{}",
        out(&first)
    );
    assert!(out(&first).contains("4 file(s) referenced by the database, 0 missing"));

    // The bucket serves exactly what the directory did.
    let dest = FileStore::at("s3://migrated/files", &moto.settings("migrated", "files")).unwrap();
    for name in &names {
        assert_eq!(
            medclaim::storage::read(&dest, name).await.unwrap(),
            medclaim::storage::read(&source, name).await.unwrap()
        );
    }

    // Run again: nothing to copy; a damaged copy in the bucket is replaced.
    dest.put(&names[0], b"damaged".to_vec()).await.unwrap();
    let second = migrate().await;
    assert!(second.status.success(), "{}", out(&second));
    assert!(
        out(&second).contains("1 copied, 3 already there, 4 verified"),
        "{}",
        out(&second)
    );

    // A source file whose content does not hash to its name is a failure, not a copy.
    let bad = "cd".repeat(32);
    source
        .put(&bad, b"not what the name says".to_vec())
        .await
        .unwrap();
    let third = migrate().await;
    assert!(!third.status.success());
    assert!(out(&third).contains("hash mismatch"), "{}", out(&third));
    source.delete(&bad).await.unwrap();

    // A referenced file missing from the source is reported (exit 4).
    let gone = names[1].clone();
    source.delete(&gone).await.unwrap();
    let fresh = FileStore::at("s3://migrated/other", &moto.settings("migrated", "other")).unwrap();
    assert!(fresh.list().await.unwrap().is_empty());
    let fourth = run_cli_env(
        &app.data_dir,
        &app.database_url,
        &["storage", "migrate", "--to", "s3://migrated/other"],
        None,
        &env,
    )
    .await;
    assert_eq!(fourth.status.code(), Some(4), "{}", out(&fourth));
    assert!(
        out(&fourth).contains(&format!("missing: {gone}")),
        "{}",
        out(&fourth)
    );
}
