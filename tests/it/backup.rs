//! `medclaim backup` and `medclaim restore` (issue 18), through the real binary: a backup taken
//! while cases are being written restores into an empty data directory and database with every
//! case, file and audit event it copied, after which `medclaim audit verify` passes; a damaged
//! backup and an occupied target are refused.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use medclaim::db::{Db, FileStore};
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::common::{TestApp, fresh_database_url, run_cli};
use crate::intake::{file_part, jpeg, multipart, new_case, student};

fn out(o: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

async fn upload(app: &TestApp, token: &str, case_id: i64, w: u32) {
    let form = reqwest::multipart::Form::new()
        .part("file", file_part(jpeg(w, 100), "p.jpg", "image/jpeg"));
    let (status, rec) = multipart(
        app,
        Method::POST,
        &format!("/api/v1/cases/{case_id}/records"),
        token,
        form,
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{rec}");
}

async fn ids(db: &Db, sql: &'static str) -> Vec<i64> {
    sqlx::query_scalar(sql).fetch_all(&db.pool).await.unwrap()
}

/// A case per request, as fast as the server answers, until `stop`: answers the ids it was
/// given (each one acknowledged with 201).
async fn writer(app: Arc<TestApp>, token: String, stop: Arc<AtomicBool>) -> Vec<i64> {
    let mut made = Vec::new();
    let mut n = 0;
    while !stop.load(Ordering::Relaxed) {
        n += 1;
        let (status, body) = app
            .post(
                "/api/v1/cases",
                &token,
                json!({"hospital": "校医院", "reason": format!("写入 {n}"), "visit_date": crate::intake::today().to_string()}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        made.push(body["id"].as_i64().unwrap());
    }
    made
}

#[tokio::test]
async fn a_backup_taken_during_writes_restores_everything_it_copied() {
    let app = Arc::new(TestApp::spawn().await);
    let (_, token) = student(&app, "2024001").await;
    let case_id = new_case(&app, &token).await;
    upload(&app, &token, case_id, 200).await;
    upload(&app, &token, case_id, 300).await;
    let before = ids(&app.db, "SELECT id FROM cases ORDER BY id").await;

    let stop = Arc::new(AtomicBool::new(false));
    let writing = tokio::spawn(writer(app.clone(), token.clone(), stop.clone()));
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let target = tempfile::tempdir().unwrap();
    let backup_dir = target.path().join("b1");
    let (data_dir, url) = (app.data_dir.clone(), app.database_url.clone());
    let dir_arg = backup_dir.to_string_lossy().into_owned();
    let taken = run_cli(&data_dir, &url, &["backup", "--to", &dir_arg], None).await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    stop.store(true, Ordering::Relaxed);
    let written = writing.await.unwrap();
    assert!(taken.status.success(), "{}", out(&taken));
    assert!(out(&taken).contains("4 file(s)"), "{}", out(&taken));
    assert!(
        written.len() >= 2,
        "writes went on during the backup: {}",
        written.len()
    );
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(backup_dir.join("manifest.json")).unwrap()).unwrap();
    let entries = manifest["files"].as_object().unwrap();
    assert_eq!(
        entries.keys().filter(|k| k.starts_with("files/")).count(),
        4
    );
    assert!(
        entries
            .values()
            .all(|e| e["sha256"].as_str().unwrap().len() == 64)
    );

    // Into an empty data directory and an empty database.
    let fresh = tempfile::tempdir().unwrap();
    let fresh_url = fresh_database_url(fresh.path()).await;
    let arg = backup_dir.to_string_lossy().into_owned();
    let restored = run_cli(fresh.path(), &fresh_url, &["restore", "--from", &arg], None).await;
    assert!(restored.status.success(), "{}", out(&restored));
    let verified = run_cli(fresh.path(), &fresh_url, &["audit", "verify"], None).await;
    assert!(verified.status.success(), "{}", out(&verified));
    assert!(
        out(&verified).contains("audit log intact"),
        "{}",
        out(&verified)
    );

    let db = Db::connect(&fresh_url).await.unwrap();
    let got = ids(&db, "SELECT id FROM cases ORDER BY id").await;
    let all = ids(&app.db, "SELECT id FROM cases ORDER BY id").await;
    for id in &before {
        assert!(
            got.contains(id),
            "case {id}, acknowledged before the backup, is restored"
        );
    }
    assert!(got.iter().all(|id| all.contains(id)));
    assert!(
        got.len() > before.len(),
        "some of the writes during the backup are in it"
    );
    // A consistent cut: the restored cases are exactly the first ones, none missing between.
    assert_eq!(got, all[..got.len()].to_vec());
    // Every restored audit event is one of the original's (the restore's `audit verify` above
    // sealed those the backup caught before the original's sealer did).
    let original_events = ids(&app.db, "SELECT id FROM audit_events ORDER BY id").await;
    let restored_events = ids(&db, "SELECT id FROM audit_events ORDER BY id").await;
    assert!(!restored_events.is_empty());
    assert!(
        restored_events
            .iter()
            .all(|id| original_events.contains(id))
    );
    // Every file the restored database refers to opens, with the bytes the original serves.
    let restored_store = FileStore::directory(&fresh.path().join("files")).unwrap();
    let keys: Vec<String> = sqlx::query_scalar(
        "SELECT storage_key FROM files UNION SELECT thumb_key FROM files WHERE thumb_key IS NOT NULL",
    )
    .fetch_all(&db.pool)
    .await
    .unwrap();
    assert_eq!(keys.len(), 4);
    for key in keys {
        assert_eq!(
            medclaim::storage::read(&restored_store, &key)
                .await
                .unwrap(),
            medclaim::storage::read(&app.state.files, &key)
                .await
                .unwrap()
        );
    }
}

#[tokio::test]
async fn a_damaged_backup_or_an_occupied_target_is_refused() {
    let app = TestApp::spawn().await;
    let (_, token) = student(&app, "2024001").await;
    let case_id = new_case(&app, &token).await;
    upload(&app, &token, case_id, 200).await;
    let target = tempfile::tempdir().unwrap();
    let backup_dir = target.path().join("b");
    let arg = backup_dir.to_string_lossy().into_owned();
    let taken = app.cli(&["backup", "--to", &arg], None).await;
    assert!(taken.status.success(), "{}", out(&taken));
    // Not into a directory that holds something already.
    let again = app.cli(&["backup", "--to", &arg], None).await;
    assert!(!again.status.success());
    assert!(out(&again).contains("not empty"), "{}", out(&again));

    // Not into the live data directory and database.
    let occupied = app.cli(&["restore", "--from", &arg], None).await;
    assert!(!occupied.status.success());
    assert!(out(&occupied).contains("empty"), "{}", out(&occupied));

    // One flipped byte in a stored file: refused before anything is written.
    let shard = std::fs::read_dir(backup_dir.join("files"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let file = std::fs::read_dir(&shard)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let mut bytes = std::fs::read(&file).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x01;
    std::fs::write(&file, &bytes).unwrap();
    let fresh = tempfile::tempdir().unwrap();
    let fresh_url = fresh_database_url(fresh.path()).await;
    let refused = run_cli(fresh.path(), &fresh_url, &["restore", "--from", &arg], None).await;
    assert!(!refused.status.success());
    assert!(
        out(&refused).contains("damaged backup") && out(&refused).contains("SHA-256"),
        "{}",
        out(&refused)
    );
    assert!(!fresh.path().join("medclaim.db").exists());
    assert!(!fresh.path().join("files").exists());
    // A file slipped in that the manifest does not list is refused too.
    bytes[last] ^= 0x01;
    std::fs::write(&file, &bytes).unwrap();
    std::fs::write(shard.join("extra"), b"x").unwrap();
    let refused = run_cli(fresh.path(), &fresh_url, &["restore", "--from", &arg], None).await;
    assert!(!refused.status.success());
    assert!(
        out(&refused).contains("not in manifest.json"),
        "{}",
        out(&refused)
    );
    std::fs::remove_file(shard.join("extra")).unwrap();
    // Repaired, it restores.
    let restored = run_cli(fresh.path(), &fresh_url, &["restore", "--from", &arg], None).await;
    assert!(restored.status.success(), "{}", out(&restored));
    assert!(
        out(&restored).contains("1 case(s), 2 file(s)"),
        "{}",
        out(&restored)
    );
}

#[tokio::test]
async fn a_backup_of_an_s3_store_restores_into_an_empty_bucket_prefix() {
    let Some(moto) = crate::storage::start_moto().await else {
        return;
    };
    moto.bucket("backups").await;
    let app = TestApp::spawn_with(crate::common::Options {
        storage: Some(moto.settings("backups", "live")),
        ..crate::common::Options::default()
    })
    .await;
    let (_, token) = student(&app, "2024001").await;
    let case_id = new_case(&app, &token).await;
    upload(&app, &token, case_id, 200).await;
    let s3_env = moto.env();
    let with_store = |url: &'static str| {
        let mut env: Vec<(&str, &str)> = s3_env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        env.push(("MEDCLAIM_STORAGE_URL", url));
        env
    };
    let target = tempfile::tempdir().unwrap();
    let arg = target.path().join("b").to_string_lossy().into_owned();
    let taken = crate::common::run_cli_env(
        &app.data_dir,
        &app.database_url,
        &["backup", "--to", &arg],
        None,
        &with_store("s3://backups/live"),
    )
    .await;
    assert!(taken.status.success(), "{}", out(&taken));
    assert!(out(&taken).contains("2 file(s)"), "{}", out(&taken));

    // Not into the bucket prefix in use; into an empty one, yes.
    let fresh = tempfile::tempdir().unwrap();
    let fresh_url = fresh_database_url(fresh.path()).await;
    let occupied = crate::common::run_cli_env(
        fresh.path(),
        &fresh_url,
        &["restore", "--from", &arg],
        None,
        &with_store("s3://backups/live"),
    )
    .await;
    assert!(!occupied.status.success());
    assert!(
        out(&occupied).contains("s3://backups/live is not empty"),
        "{}",
        out(&occupied)
    );
    let restored = crate::common::run_cli_env(
        fresh.path(),
        &fresh_url,
        &["restore", "--from", &arg],
        None,
        &with_store("s3://backups/restored"),
    )
    .await;
    assert!(restored.status.success(), "{}", out(&restored));
    let verified = run_cli(fresh.path(), &fresh_url, &["audit", "verify"], None).await;
    assert!(verified.status.success(), "{}", out(&verified));
    let restored_store = FileStore::at(
        "s3://backups/restored",
        &moto.settings("backups", "restored"),
    )
    .unwrap();
    let listed = restored_store.list().await.unwrap();
    assert_eq!(listed.len(), 2);
    for s in listed {
        assert_eq!(
            medclaim::storage::read(&restored_store, &s.name)
                .await
                .unwrap(),
            medclaim::storage::read(&app.state.files, &s.name)
                .await
                .unwrap()
        );
    }
}
