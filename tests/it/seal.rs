//! Medical content at rest (issue 14, item 7): after normal use, and after sealing a database
//! and upload directory written before sealing existed, the raw rows and the raw files hold no
//! diagnosis, reason, fee line, message or photo; the app still shows all of it, the audit
//! chain still verifies, and the exports and the ledger are unchanged.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use medclaim::http::auth::Role;
use medclaim::seal::migrate::SEALED_COLUMNS;
use medclaim::seal::{FILE_MAGIC, SealedOpt, TEXT_PREFIX};
use reqwest::StatusCode;
use serde_json::json;

use crate::common::TestApp;

const MESSAGE: &str = "右下腹疼痛三天，医生怀疑阑尾炎，需要住院手术吗";
const REPLY: &str = "阑尾炎手术的住院费用可以报销，请附上出院小结";

struct Used {
    app: TestApp,
    admin: String,
    finance: String,
}

/// The demo university (cases in every state, pushed visits, an insurer's decisions and
/// payments, rejections, inbox and outbox) plus a support thread with a staff answer.
async fn used_app() -> Used {
    let app = TestApp::spawn().await;
    let mut settings = medclaim::Settings::new(app.data_dir.clone());
    settings.database_url = Some(app.database_url.clone());
    medclaim::demo::seed_all(&settings, &app.db, &app.keys)
        .await
        .expect("demo");
    let (_, admin) = app.user_with("seal-admin", &[Role::Admin]).await;
    let (_, finance) = app.user_with("seal-finance", &[Role::Finance]).await;
    let (_, student) = app.user_with("2025900001", &[Role::Student]).await;
    let (status, thread) = app
        .post(
            "/api/v1/support/threads",
            &student,
            json!({"subject": "阑尾炎住院能报吗", "body": MESSAGE}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{thread}");
    let id = thread["id"].as_i64().unwrap();
    let (status, body) = app
        .post(
            &format!("/api/v1/support/threads/{id}/messages"),
            &admin,
            json!({"body": REPLY}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    // The demo student claims the visit the hospital pushed for them (一键报销).
    let demo = login_any(&app, "2025000001").await;
    let (status, visits) = app.get("/api/v1/visits", &demo).await;
    assert_eq!(status, StatusCode::OK, "{visits}");
    let visit = visits["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["case_id"].is_null())
        .unwrap_or_else(|| panic!("an unclaimed visit: {visits}"))["id"]
        .as_i64()
        .unwrap();
    let (status, body) = app
        .post(
            "/api/v1/cases/from-visit",
            &demo,
            json!({"visit_id": visit}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    Used {
        app,
        admin,
        finance,
    }
}

async fn ids(app: &TestApp, table: &str) -> Vec<i64> {
    sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT id FROM {table} ORDER BY id"
    )))
    .fetch_all(&app.db.pool)
    .await
    .unwrap()
}

/// The answer's status and body (who may read what is not this test's business; that the
/// answers stay the same is).
async fn get_bytes(app: &TestApp, token: &str, path: &str) -> (StatusCode, Vec<u8>) {
    let resp = app
        .client
        .get(app.url(path))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    (resp.status(), resp.bytes().await.unwrap().to_vec())
}

fn answers(got: (StatusCode, Vec<u8>)) -> Vec<u8> {
    let mut out = format!("{} ", got.0.as_u16()).into_bytes();
    out.extend(got.1);
    out
}

/// Everything a person sees of the medical content, the exports and the ledger, by path.
async fn what_the_app_shows(u: &Used) -> BTreeMap<String, Vec<u8>> {
    let app = &u.app;
    let mut out = BTreeMap::new();
    for id in ids(app, "cases").await {
        let path = format!("/api/v1/cases/{id}");
        out.insert(path.clone(), answers(get_bytes(app, &u.admin, &path).await));
    }
    for id in ids(app, "support_threads").await {
        let path = format!("/api/v1/support/threads/{id}");
        out.insert(path.clone(), answers(get_bytes(app, &u.admin, &path).await));
    }
    let files: Vec<(i64, String)> = sqlx::query_as(
        "SELECT f.id, u.username FROM files f JOIN users u ON u.id = f.owner_id ORDER BY f.id",
    )
    .fetch_all(&app.db.pool)
    .await
    .unwrap();
    let mut tokens: BTreeMap<String, String> = BTreeMap::new();
    for (id, owner) in files {
        if !tokens.contains_key(&owner) {
            let token = login_any(app, &owner).await;
            tokens.insert(owner.clone(), token);
        }
        for path in [
            format!("/api/v1/files/{id}"),
            format!("/api/v1/files/{id}?thumb=true"),
        ] {
            // Photos as served to their owner (a draft's photos are the student's alone).
            let (status, bytes) = get_bytes(app, &tokens[&owner], &path).await;
            assert_eq!(status, StatusCode::OK, "{path}");
            out.insert(path, bytes);
        }
    }
    for path in [
        "/api/v1/reports/payouts.csv",
        "/api/v1/reports/statistics.csv",
        "/api/v1/admin/ledger",
        "/api/v1/admin/ledger/cases",
        "/api/v1/admin/reconciliation",
    ] {
        let got = get_bytes(app, &u.finance, path).await;
        assert_eq!(got.0, StatusCode::OK, "{path}");
        out.insert(path.into(), answers(got));
    }
    // Each student's inbox (notifications carry reasons), as the student sees it.
    let users: Vec<(i64, String)> = sqlx::query_as(
        "SELECT DISTINCT u.id, u.username FROM users u JOIN notifications n ON n.user_id = u.id ORDER BY u.id LIMIT 5",
    )
    .fetch_all(&app.db.pool)
    .await
    .unwrap();
    assert!(!users.is_empty(), "someone has notifications");
    for (id, username) in users {
        let token = login_any(app, &username).await;
        out.insert(
            format!("inbox of {id}"),
            answers(get_bytes(app, &token, "/api/v1/notifications?limit=100").await),
        );
    }
    out
}

/// Signs in a test user or a demo user.
async fn login_any(app: &TestApp, username: &str) -> String {
    for password in [crate::common::PASSWORD, medclaim::demo::DEMO_PASSWORD] {
        let (status, body) = app
            .call(
                reqwest::Method::POST,
                "/api/v1/auth/login",
                None,
                Some(json!({"username": username, "password": password})),
            )
            .await;
        if status == StatusCode::OK {
            return body["token"].as_str().unwrap().to_string();
        }
    }
    panic!("cannot sign in {username}");
}

/// The stored values of the sealed columns, as stored: (table.column, value).
async fn raw_values(app: &TestApp) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (table, columns) in SEALED_COLUMNS {
        for col in *columns {
            let values: Vec<Option<String>> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
                "SELECT {col} FROM {table} ORDER BY id"
            )))
            .fetch_all(&app.db.pool)
            .await
            .unwrap();
            out.extend(
                values
                    .into_iter()
                    .flatten()
                    .map(|v| (format!("{table}.{col}"), v)),
            );
        }
    }
    out
}

/// The plaintexts of the sealed columns (opened through the row decoder), long enough to be
/// told apart from anything else in a file, and not also part of clear public text (the
/// rejection reasons a reviewer picks from, e.g. 专家门诊费用不予报销, and the notices).
async fn medical_texts(app: &TestApp) -> Vec<String> {
    let catalogue: Vec<(String, String)> = sqlx::query_as(
        "SELECT text_zh, text_en FROM rejection_reasons UNION ALL SELECT title, body FROM notices",
    )
    .fetch_all(&app.db.pool)
    .await
    .unwrap();
    let mut out = Vec::new();
    for (table, columns) in SEALED_COLUMNS {
        for col in *columns {
            let values: Vec<SealedOpt> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
                "SELECT {col} FROM {table} ORDER BY id"
            )))
            .fetch_all(&app.db.pool)
            .await
            .unwrap();
            for v in values.into_iter().filter_map(|v| v.0) {
                let in_catalogue = catalogue
                    .iter()
                    .any(|(zh, en)| zh.contains(v.as_str()) || en.contains(v.as_str()));
                if v.len() >= 8 && !in_catalogue {
                    out.push(v);
                }
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

/// Every value of every sealed column is sealed, and the columns that matter are not empty
/// (so this cannot pass on a database without medical content).
async fn assert_rows_sealed(app: &TestApp) {
    let values = raw_values(app).await;
    for (column, v) in &values {
        assert!(
            v.starts_with(TEXT_PREFIX),
            "{column} holds plaintext: {v:.40}"
        );
    }
    for must in [
        "cases.reason",
        "cases.diagnosis_code",
        "invoices.reason",
        "review_decisions.reason",
        "case_fee_lines.display",
        "visits.diagnosis_code",
        "visit_fee_lines.display",
        "support_messages.body",
        "notifications.body",
        "outbox.payload",
        "insurer_claims.adjudication",
    ] {
        assert!(
            values.iter().any(|(c, _)| c == must),
            "no {must} to check: the scenario should write some"
        );
    }
}

fn stored_files(data_dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for shard in std::fs::read_dir(data_dir.join("files")).unwrap() {
        for f in std::fs::read_dir(shard.unwrap().path()).unwrap() {
            out.push(f.unwrap().path());
        }
    }
    out.sort();
    out
}

/// Every stored file is sealed, none is named by the SHA-256 of what it holds, and no served
/// photo's bytes are in any of them.
fn assert_files_sealed(app: &TestApp, served: &[&Vec<u8>]) {
    let files = stored_files(&app.data_dir);
    assert!(!files.is_empty());
    let plain_names: Vec<String> = served
        .iter()
        .map(|b| medclaim::crypto::sha256_hex(b))
        .collect();
    let contents: Vec<Vec<u8>> = files.iter().map(|p| std::fs::read(p).unwrap()).collect();
    for (path, bytes) in files.iter().zip(&contents) {
        assert!(
            bytes.starts_with(FILE_MAGIC),
            "{} is not sealed",
            path.display()
        );
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        assert!(!plain_names.contains(&name), "{name} is a plaintext hash");
    }
    for plain in served {
        assert!(plain.len() > 200);
        // A stretch from the middle of the photo: past any header every JPEG shares.
        let mid = plain.len() / 2;
        let probe = &plain[mid..mid + 48];
        for (path, bytes) in files.iter().zip(&contents) {
            assert!(
                !bytes.windows(probe.len()).any(|w| w == probe),
                "{} holds photo bytes",
                path.display()
            );
        }
    }
}

/// On SQLite, the database file and its write-ahead log as someone would copy them: no
/// medical text anywhere in their bytes (freed pages included).
fn assert_sqlite_file_clean(app: &TestApp, texts: &[String]) {
    if !app.database_url.starts_with("sqlite:") {
        println!("raw database file check: PostgreSQL, rows checked through SQL only");
        return;
    }
    assert!(texts.len() > 20, "{} texts", texts.len());
    let db = app.data_dir.join("medclaim.db");
    let mut bytes = std::fs::read(&db).unwrap();
    if let Ok(wal) = std::fs::read(app.data_dir.join("medclaim.db-wal")) {
        bytes.extend(wal);
    }
    for t in texts {
        let needle = t.as_bytes();
        assert!(
            !bytes.windows(needle.len()).any(|w| w == needle),
            "the database file holds the plaintext {t:.40}"
        );
    }
}

async fn audit_verifies(app: &TestApp) {
    let out = app.cli(&["audit", "verify"], None).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test]
async fn normal_use_stores_no_medical_plaintext() {
    let u = used_app().await;
    let shown = what_the_app_shows(&u).await;
    let thread = shown
        .iter()
        .find(|(k, _)| k.starts_with("/api/v1/support/threads/"))
        .map(|(_, v)| String::from_utf8_lossy(v).to_string())
        .unwrap();
    assert!(
        thread.contains(MESSAGE) && thread.contains(REPLY),
        "{thread}"
    );
    assert_rows_sealed(&u.app).await;
    let photos: Vec<&Vec<u8>> = shown
        .iter()
        .filter(|(k, _)| k.starts_with("/api/v1/files/"))
        .map(|(_, v)| v)
        .collect();
    assert_files_sealed(&u.app, &photos);
    let texts = medical_texts(&u.app).await;
    assert!(texts.iter().any(|t| t == MESSAGE));
    assert_sqlite_file_clean(&u.app, &texts);
    audit_verifies(&u.app).await;
}

/// Writes the database and the upload directory back the way they were before sealing:
/// plaintext in every other row of the sealed columns (a half-done state), every file in
/// plaintext under the SHA-256 of its content.
async fn unseal_as_before(app: &TestApp) {
    for (table, columns) in SEALED_COLUMNS {
        for col in *columns {
            let rows: Vec<(i64, SealedOpt)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT id, {col} FROM {table} ORDER BY id"
            )))
            .fetch_all(&app.db.pool)
            .await
            .unwrap();
            for (id, v) in rows {
                let Some(plain) = v.0 else { continue };
                if id % 2 == 1 && *table != "support_messages" {
                    continue;
                }
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "UPDATE {table} SET {col} = $1 WHERE id = $2"
                )))
                .bind(plain)
                .bind(id)
                .execute(&app.db.pool)
                .await
                .unwrap();
            }
        }
    }
    let rows: Vec<(i64, String, Option<String>)> =
        sqlx::query_as("SELECT id, storage_key, thumb_key FROM files ORDER BY id")
            .fetch_all(&app.db.pool)
            .await
            .unwrap();
    let mut sealed_names = Vec::new();
    for (id, key, thumb) in rows {
        let mut plain_key = |key: &str| {
            let path = medclaim::storage::path_of(&app.data_dir, key).unwrap();
            let plain = medclaim::seal::open_file(std::fs::read(&path).unwrap()).unwrap();
            let name = medclaim::crypto::sha256_hex(&plain);
            let target = medclaim::storage::path_of(&app.data_dir, &name).unwrap();
            std::fs::create_dir_all(target.parent().unwrap()).unwrap();
            std::fs::write(&target, &plain).unwrap();
            sealed_names.push(path);
            name
        };
        let new_key = plain_key(&key);
        let new_thumb = thumb.as_deref().map(&mut plain_key);
        sqlx::query("UPDATE files SET storage_key = $1, sha256 = $1, thumb_key = $2 WHERE id = $3")
            .bind(new_key)
            .bind(new_thumb)
            .bind(id)
            .execute(&app.db.pool)
            .await
            .unwrap();
    }
    for p in sealed_names {
        let _ = std::fs::remove_file(p);
    }
    sqlx::query("DELETE FROM seal_progress")
        .execute(&app.db.pool)
        .await
        .unwrap();
}

#[tokio::test]
async fn a_database_written_before_sealing_is_sealed_on_start() {
    let u = used_app().await;
    let before = what_the_app_shows(&u).await;

    unseal_as_before(&u.app).await;
    let plain = raw_values(&u.app).await;
    assert!(
        plain
            .iter()
            .any(|(c, v)| c == "support_messages.body" && v == MESSAGE),
        "the old way stores plaintext (else this test proves nothing)"
    );
    let files = stored_files(&u.app.data_dir);
    assert!(
        files
            .iter()
            .any(|p| !std::fs::read(p).unwrap().starts_with(FILE_MAGIC))
    );
    assert_eq!(
        what_the_app_shows(&u).await,
        before,
        "a half-sealed database reads the same"
    );

    // What `serve` does on start, through the binary.
    let out = u.app.cli(&["migrate"], None).await;
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!stdout.contains(" 0 value(s)"), "{stdout}");
    assert!(!stdout.contains(" 0 file(s)"), "{stdout}");

    assert_rows_sealed(&u.app).await;
    let photos: Vec<&Vec<u8>> = before
        .iter()
        .filter(|(k, _)| k.starts_with("/api/v1/files/"))
        .map(|(_, v)| v)
        .collect();
    assert_files_sealed(&u.app, &photos);
    let texts = medical_texts(&u.app).await;
    assert_sqlite_file_clean(&u.app, &texts);
    assert_eq!(
        what_the_app_shows(&u).await,
        before,
        "cases, files, messages, inboxes, exports and the ledger read as before"
    );
    audit_verifies(&u.app).await;

    // Idempotent: a second start seals nothing more.
    let again = u.app.cli(&["migrate"], None).await;
    let stdout = String::from_utf8_lossy(&again.stdout).to_string();
    assert!(
        stdout.contains("0 value(s) and 0 file(s) sealed"),
        "{stdout}"
    );
}
