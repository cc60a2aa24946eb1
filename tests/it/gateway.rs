//! Hospital gateway: registry, signed visit pushes (signature, timestamp, replay), amendments,
//! whole-bundle rejection, and the patient's own visits.

use std::sync::Arc;

use hmac::{Hmac, KeyInit, Mac};
use medclaim::http::auth::Role;
use medclaim::notify::ManualClock;
use reqwest::{Method, StatusCode};
use serde_json::json;
use sha2::Sha256;
use sqlx::Row;

use crate::common::{Options, TestApp, assert_error};
pub use crate::fixtures::{Creds, now, post_signed, register, send, signature_for};

/// The signature of a visit push (`POST /api/v1/gateway/visits`).
pub fn signature(secret: &str, ts: i64, nonce: &str, body: &str) -> String {
    signature_for(secret, "POST", VISITS, ts, nonce, body)
}

pub async fn admin(app: &TestApp) -> String {
    app.user_with("admin1", &[Role::Admin]).await.1
}

async fn hospital(app: &TestApp, token: &str) -> Creds {
    register(
        app,
        token,
        "/api/v1/admin/hospitals",
        json!({"name": "市第一人民医院", "level": 3}),
    )
    .await
}

/// A valid national id number from 17 digits.
pub fn id_number(first17: &str) -> String {
    format!(
        "{first17}{}",
        medclaim::accounts::domain::check_char(first17)
    )
}

/// The id number `TestApp::create_user` gives everyone.
pub const DEFAULT_ID: &str = "11010519491231002X";

/// A visit bundle; `lines` are (charge text, base amount as JSON number text).
pub fn bundle(
    patient: &str,
    visit_id: &str,
    date: &str,
    lines: &[(&str, &str)],
    total: &str,
) -> String {
    let items: Vec<String> = lines
        .iter()
        .map(|(text, amount)| {
            format!(
                r#"{{"chargeItemCodeableConcept":{{"text":"{text}"}},"priceComponent":[{{"type":"base","amount":{{"value":{amount},"currency":"CNY"}}}}]}}"#
            )
        })
        .collect();
    format!(
        r#"{{"resourceType":"Bundle","type":"collection","entry":[
 {{"fullUrl":"urn:uuid:8c3b2f7e-0001-4a59-9d4f-000000000001","resource":{{"resourceType":"Patient","identifier":[{{"system":"urn:medclaim:national-id","value":"{patient}"}}]}}}},
 {{"fullUrl":"urn:uuid:8c3b2f7e-0001-4a59-9d4f-000000000002","resource":{{"resourceType":"Encounter","status":"finished","class":{{"system":"http://terminology.hl7.org/CodeSystem/v3-ActCode","code":"AMB"}},"identifier":[{{"system":"urn:hospital:visit","value":"{visit_id}"}}],"period":{{"start":"{date}"}}}}}},
 {{"fullUrl":"urn:uuid:8c3b2f7e-0001-4a59-9d4f-000000000003","resource":{{"resourceType":"Condition","subject":{{"reference":"urn:uuid:8c3b2f7e-0001-4a59-9d4f-000000000001"}},"code":{{"coding":[{{"system":"http://hl7.org/fhir/sid/icd-10","code":"J06.9","display":"Acute upper respiratory infection"}}],"text":"上呼吸道感染"}}}}}},
 {{"fullUrl":"urn:uuid:8c3b2f7e-0001-4a59-9d4f-000000000004","resource":{{"resourceType":"Invoice","status":"issued","identifier":[{{"value":"INV-{visit_id}"}}],"lineItem":[{}],"totalGross":{{"value":{total},"currency":"CNY"}}}}}}]}}"#,
        items.join(",")
    )
}

async fn count(app: &TestApp, table: &str) -> i64 {
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT COUNT(*) AS n FROM {table}"
    )))
    .fetch_one(&app.db.pool)
    .await
    .unwrap()
    .try_get("n")
    .unwrap()
}

const VISITS: &str = "/api/v1/gateway/visits";

#[tokio::test]
async fn registry_is_admin_only_and_shows_the_secret_once() {
    let app = TestApp::spawn().await;
    let token = admin(&app).await;
    let (_, student) = app.user_with("2024001", &[Role::Student]).await;
    let refused = app
        .post(
            "/api/v1/admin/hospitals",
            &student,
            json!({"name": "X", "level": 1}),
        )
        .await;
    assert_error(&refused, StatusCode::FORBIDDEN, "forbidden");
    let bad_level = app
        .post(
            "/api/v1/admin/hospitals",
            &token,
            json!({"name": "X", "level": 7}),
        )
        .await;
    assert_error(
        &bad_level,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_input",
    );

    let h = hospital(&app, &token).await;
    assert_eq!(h.secret.len(), 64);
    let ins = register(
        &app,
        &token,
        "/api/v1/admin/insurers",
        json!({"name": "平安健康", "fhir_base_url": "https://fhir.insurer.example/r4/"}),
    )
    .await;

    let (status, list) = app.get("/api/v1/admin/hospitals", &token).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list["items"][0]["key_id"], h.key_id.as_str());
    assert_eq!(list["items"][0]["level"], 3);
    assert!(
        !list.to_string().contains(&h.secret),
        "secret listed: {list}"
    );
    let (_, insurers) = app.get("/api/v1/admin/insurers", &token).await;
    assert_eq!(
        insurers["items"][0]["fhir_base_url"],
        "https://fhir.insurer.example/r4"
    );
    assert_eq!(insurers["items"][0]["id"], ins.id);

    let stored: String = sqlx::query("SELECT secret_enc FROM hospitals WHERE id = $1")
        .bind(h.id)
        .fetch_one(&app.db.pool)
        .await
        .unwrap()
        .try_get("secret_enc")
        .unwrap();
    assert!(!stored.contains(&h.secret), "secret stored in plain");
}

#[tokio::test]
async fn rotated_secret_replaces_the_old_one_and_deactivation_locks_out() {
    let app = TestApp::spawn().await;
    let token = admin(&app).await;
    let old = hospital(&app, &token).await;
    let body = bundle(DEFAULT_ID, "V1", "2026-03-01", &[("挂号费", "10")], "10");

    let (status, rotated) = app
        .post(
            &format!("/api/v1/admin/hospitals/{}/rotate-secret", old.id),
            &token,
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{rotated}");
    let new = Creds {
        id: old.id,
        key_id: rotated["key_id"].as_str().unwrap().into(),
        secret: rotated["secret"].as_str().unwrap().into(),
    };
    assert_eq!(new.key_id, old.key_id);
    assert_ne!(new.secret, old.secret);
    assert_error(
        &send(&app, VISITS, &old, &body).await,
        StatusCode::UNAUTHORIZED,
        "bad_signature",
    );
    assert_eq!(send(&app, VISITS, &new, &body).await.0, StatusCode::CREATED);

    let (status, view) = app
        .post(
            &format!("/api/v1/admin/hospitals/{}/deactivate", old.id),
            &token,
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(view["active"], false);
    assert_error(
        &send(&app, VISITS, &new, &body).await,
        StatusCode::UNAUTHORIZED,
        "bad_signature",
    );
    let missing = app
        .post("/api/v1/admin/hospitals/999/deactivate", &token, json!({}))
        .await;
    assert_error(&missing, StatusCode::NOT_FOUND, "not_found");
}

#[tokio::test]
async fn push_is_stored_once_and_an_identical_repush_answers_200() {
    let app = TestApp::spawn().await;
    let token = admin(&app).await;
    let h = hospital(&app, &token).await;
    // 0.1 + 0.2 is not 0.3 in floating point; in cents it is.
    let body = bundle(
        DEFAULT_ID,
        "V-100",
        "2026-03-01T09:30:00+08:00",
        &[("挂号费", "0.1"), ("检查费", "0.20")],
        "0.3",
    );
    let first = app.pushed_visit(&h, &body).await;
    let visit_id = first["visit_id"].as_i64().unwrap();

    // The same visit re-pushed with other whitespace is the same content.
    let again = body.replace("\n", "");
    let (status, second) = send(&app, VISITS, &h, &again).await;
    assert_eq!(status, StatusCode::OK, "{second}");
    assert_eq!(second["visit_id"], visit_id);
    assert_eq!(count(&app, "visits").await, 1);
    assert_eq!(count(&app, "visit_revisions").await, 1);

    let row = sqlx::query(
        "SELECT total_cents, visit_date, patient_id_enc, patient_id_bidx FROM visits WHERE id = $1",
    )
    .bind(visit_id)
    .fetch_one(&app.db.pool)
    .await
    .unwrap();
    assert_eq!(row.try_get::<i64, _>("total_cents").unwrap(), 30);
    assert_eq!(
        row.try_get::<String, _>("visit_date").unwrap(),
        "2026-03-01"
    );
    let enc: String = row.try_get("patient_id_enc").unwrap();
    let bidx: String = row.try_get("patient_id_bidx").unwrap();
    assert!(
        !enc.contains(DEFAULT_ID) && !bidx.contains(DEFAULT_ID),
        "id number stored in plain"
    );
    let bundle_enc: String = sqlx::query("SELECT bundle_enc FROM visit_revisions")
        .fetch_one(&app.db.pool)
        .await
        .unwrap()
        .try_get("bundle_enc")
        .unwrap();
    assert!(!bundle_enc.contains(DEFAULT_ID));
}

#[tokio::test]
async fn bad_signatures_stale_timestamps_and_replays_are_refused() {
    let app = TestApp::spawn().await;
    let token = admin(&app).await;
    let h = hospital(&app, &token).await;
    let body = bundle(
        DEFAULT_ID,
        "V-200",
        "2026-03-01",
        &[("挂号费", "12.5")],
        "12.50",
    );

    let ts = now();
    let wrong_secret = signature("not the secret", ts, "n1", &body);
    let got = post_signed(&app, VISITS, &h.key_id, ts, "n1", &wrong_secret, &body).await;
    assert_error(&got, StatusCode::UNAUTHORIZED, "bad_signature");

    let sig = signature(&h.secret, ts, "n2", &body);
    let got = post_signed(&app, VISITS, "hsp_unknown", ts, "n2", &sig, &body).await;
    assert_error(&got, StatusCode::UNAUTHORIZED, "bad_signature");

    let tampered = body.replace("12.5", "125");
    let got = post_signed(
        &app,
        VISITS,
        &h.key_id,
        ts,
        "n3",
        &signature(&h.secret, ts, "n3", &body),
        &tampered,
    )
    .await;
    assert_error(&got, StatusCode::UNAUTHORIZED, "bad_signature");

    let stale = ts - 301;
    let got = post_signed(
        &app,
        VISITS,
        &h.key_id,
        stale,
        "n4",
        &signature(&h.secret, stale, "n4", &body),
        &body,
    )
    .await;
    assert_error(&got, StatusCode::UNAUTHORIZED, "stale_signature");
    let future = ts + 400;
    let got = post_signed(
        &app,
        VISITS,
        &h.key_id,
        future,
        "n5",
        &signature(&h.secret, future, "n5", &body),
        &body,
    )
    .await;
    assert_error(&got, StatusCode::UNAUTHORIZED, "stale_signature");

    let long_nonce = "n".repeat(65);
    let got = post_signed(
        &app,
        VISITS,
        &h.key_id,
        ts,
        &long_nonce,
        &signature(&h.secret, ts, &long_nonce, &body),
        &body,
    )
    .await;
    assert_error(&got, StatusCode::UNAUTHORIZED, "bad_signature");

    let unsigned = app
        .client
        .post(app.url(VISITS))
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(unsigned.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        count(&app, "visits").await,
        0,
        "refused requests store nothing"
    );

    let sig = signature(&h.secret, ts, "n6", &body);
    let ok = post_signed(&app, VISITS, &h.key_id, ts, "n6", &sig, &body).await;
    assert_eq!(ok.0, StatusCode::CREATED, "{}", ok.1);
    let replay = post_signed(&app, VISITS, &h.key_id, ts, "n6", &sig, &body).await;
    assert_error(&replay, StatusCode::CONFLICT, "replay");
}

#[tokio::test]
async fn the_signature_covers_method_and_path_and_the_old_form_is_refused() {
    let app = TestApp::spawn().await;
    let token = admin(&app).await;
    let h = hospital(&app, &token).await;
    let body = bundle(
        DEFAULT_ID,
        "V-300",
        "2026-03-01",
        &[("挂号费", "12.5")],
        "12.50",
    );
    let ts = now();

    // The form before method and path were signed: HMAC(secret, "ts.nonce.body").
    let mut mac = Hmac::<Sha256>::new_from_slice(h.secret.as_bytes()).unwrap();
    mac.update(format!("{ts}.m1.{body}").as_bytes());
    let old_form = hex::encode(mac.finalize().into_bytes());
    let got = post_signed(&app, VISITS, &h.key_id, ts, "m1", &old_form, &body).await;
    assert_error(&got, StatusCode::UNAUTHORIZED, "bad_signature");

    // Signed for another path or method: refused.
    let other_path = signature_for(
        &h.secret,
        "POST",
        "/api/v1/insurers/1/payments",
        ts,
        "m2",
        &body,
    );
    let got = post_signed(&app, VISITS, &h.key_id, ts, "m2", &other_path, &body).await;
    assert_error(&got, StatusCode::UNAUTHORIZED, "bad_signature");
    let other_method = signature_for(&h.secret, "PUT", VISITS, ts, "m3", &body);
    let got = post_signed(&app, VISITS, &h.key_id, ts, "m3", &other_method, &body).await;
    assert_error(&got, StatusCode::UNAUTHORIZED, "bad_signature");
    assert_eq!(count(&app, "visits").await, 0);

    let right = signature_for(&h.secret, "POST", VISITS, ts, "m4", &body);
    let got = post_signed(&app, VISITS, &h.key_id, ts, "m4", &right, &body).await;
    assert_eq!(got.0, StatusCode::CREATED, "{}", got.1);
}

#[tokio::test]
async fn extreme_timestamps_are_stale_not_a_server_error() {
    let app = TestApp::spawn().await;
    let token = admin(&app).await;
    let h = hospital(&app, &token).await;
    let body = bundle(
        DEFAULT_ID,
        "V-301",
        "2026-03-01",
        &[("挂号费", "12.5")],
        "12.50",
    );
    for (i, ts) in [i64::MIN, i64::MIN + 1, i64::MAX, -1]
        .into_iter()
        .enumerate()
    {
        let nonce = format!("x{i}");
        let sig = signature(&h.secret, ts, &nonce, &body);
        let got = post_signed(&app, VISITS, &h.key_id, ts, &nonce, &sig, &body).await;
        assert_error(&got, StatusCode::UNAUTHORIZED, "stale_signature");
    }
}

#[tokio::test]
async fn changed_content_is_an_amendment_that_keeps_the_previous_version() {
    let app = TestApp::spawn().await;
    let token = admin(&app).await;
    let h = hospital(&app, &token).await;
    let (_, patient) = app.user_with("2024001", &[Role::Student]).await;
    let first = bundle(
        DEFAULT_ID,
        "V-300",
        "2026-03-01",
        &[("挂号费", "10"), ("药费", "50.50")],
        "60.5",
    );
    let (status, a) = send(&app, VISITS, &h, &first).await;
    assert_eq!(status, StatusCode::CREATED);
    let amended = bundle(
        DEFAULT_ID,
        "V-300",
        "2026-03-01",
        &[("挂号费", "10"), ("药费", "40.50")],
        "50.5",
    );
    let (status, b) = send(&app, VISITS, &h, &amended).await;
    assert_eq!(status, StatusCode::CREATED, "{b}");
    assert_eq!(a["visit_id"], b["visit_id"], "an amendment keeps the visit");

    let (_, visits) = app.get("/api/v1/visits", &patient).await;
    assert_eq!(visits["items"].as_array().unwrap().len(), 1);
    assert_eq!(visits["items"][0]["total_cents"], 5050);
    assert_eq!(visits["items"][0]["revision"], 2);
    assert_eq!(visits["items"][0]["fee_lines"][1]["amount_cents"], 4050);
    assert_eq!(
        count(&app, "visit_revisions").await,
        2,
        "the previous version is kept"
    );

    let (_, audit) = app.get("/api/v1/admin/audit", &token).await;
    let actions: Vec<&str> = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["action"].as_str())
        .collect();
    assert!(
        actions.contains(&"visit.push") && actions.contains(&"visit.amend"),
        "{actions:?}"
    );
}

#[tokio::test]
async fn an_invalid_bundle_is_rejected_whole_with_every_problem_named() {
    let app = TestApp::spawn().await;
    let token = admin(&app).await;
    let h = hospital(&app, &token).await;
    let good = bundle(
        DEFAULT_ID,
        "V-400",
        "2026-03-01",
        &[("挂号费", "10"), ("药费", "1.234")],
        "11.23",
    );
    let no_patient_id = good.replace(
        r#""identifier":[{"system":"urn:medclaim:national-id","value":"11010519491231002X"}]"#,
        r#""name":[{"text":"张三"}]"#,
    );
    assert_ne!(good, no_patient_id);
    let (status, outcome) = send(&app, VISITS, &h, &no_patient_id).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{outcome}");
    assert_eq!(outcome["resourceType"], "OperationOutcome");
    let issues = outcome["issue"].as_array().unwrap();
    let at: Vec<&str> = issues
        .iter()
        .map(|i| i["expression"][0].as_str().unwrap())
        .collect();
    assert!(
        at.contains(&"Bundle.entry[0].resource.identifier"),
        "{at:?}"
    );
    assert!(
        at.contains(&"Bundle.entry[3].resource.lineItem[1].priceComponent[0].amount"),
        "{at:?}"
    );
    for issue in issues {
        assert_eq!(issue["severity"], "error");
        assert!(issue["code"].is_string() && issue["diagnostics"].is_string());
    }
    for table in ["visits", "visit_fee_lines", "visit_revisions"] {
        assert_eq!(
            count(&app, table).await,
            0,
            "{table}: nothing partial stored"
        );
    }

    let not_a_bundle = send(&app, VISITS, &h, r#"{"resourceType":"Patient"}"#).await;
    assert_eq!(not_a_bundle.0, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        not_a_bundle.1["issue"].as_array().unwrap().len(),
        6,
        "{}",
        not_a_bundle.1
    );
}

/// A bill with more fee lines than one statement stores keeps them all, in the hospital's
/// order.
#[tokio::test]
async fn a_long_bill_keeps_every_fee_line_in_order() {
    let app = TestApp::spawn().await;
    let token = admin(&app).await;
    let h = hospital(&app, &token).await;
    let (_, patient) = app.user_with("2024001", &[Role::Student]).await;
    let names: Vec<String> = (1..=450).map(|i| format!("药品{i}")).collect();
    let lines: Vec<(&str, &str)> = names.iter().map(|n| (n.as_str(), "1")).collect();
    let body = bundle(DEFAULT_ID, "V-LONG", "2026-03-01", &lines, "450");
    let (status, pushed) = send(&app, VISITS, &h, &body).await;
    assert_eq!(status, StatusCode::CREATED, "{pushed}");
    let (_, visits) = app.get("/api/v1/visits", &patient).await;
    let got: Vec<&str> = visits["items"][0]["fee_lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["display"].as_str().unwrap())
        .collect();
    assert_eq!(got, names);
}

#[tokio::test]
async fn patients_see_only_their_own_visits() {
    let app = TestApp::spawn().await;
    let token = admin(&app).await;
    let h = hospital(&app, &token).await;
    let (_, alice) = app.user_with("2024001", &[Role::Student]).await;
    let (_, bob) = app.user_with("2024002", &[Role::Student]).await;
    let bob_number = id_number("33010619980101123");
    // The roster import gives Bob his national id number (the hospital's key).
    app.import_students_csv(format!(
        "student_id,name,class,phone,id_number,status\n2024002,2024002,2024级1班,13800138000,{bob_number},enrolled\n"
    ))
    .await;

    let lower = DEFAULT_ID.to_lowercase();
    let (status, _) = send(
        &app,
        VISITS,
        &h,
        &bundle(&lower, "V-500", "2026-03-01", &[("挂号费", "10")], "10"),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, _) = send(
        &app,
        VISITS,
        &h,
        &bundle(DEFAULT_ID, "V-501", "2026-03-02", &[("药费", "20")], "20"),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);

    let (status, mine) = app.get("/api/v1/visits", &alice).await;
    assert_eq!(status, StatusCode::OK);
    let items = mine["items"].as_array().unwrap();
    assert_eq!(items.len(), 2, "{mine}");
    assert_eq!(items[0]["hospital_visit_id"], "V-501", "newest first");
    assert_eq!(items[0]["hospital"], "市第一人民医院");
    assert_eq!(items[0]["hospital_level"], 3);
    assert_eq!(items[0]["diagnosis_code"], "J06.9");
    assert_eq!(items[0]["source"], "hospital");
    assert!(
        !mine.to_string().contains(DEFAULT_ID),
        "the id number is never answered"
    );

    let (_, theirs) = app.get("/api/v1/visits", &bob).await;
    assert_eq!(theirs["items"].as_array().unwrap().len(), 0, "{theirs}");
    let (status, _) = app.call(Method::GET, "/api/v1/visits", None, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn simultaneous_identical_pushes_store_one_visit() {
    let app = TestApp::spawn().await;
    let token = admin(&app).await;
    let h = hospital(&app, &token).await;
    let body = bundle(DEFAULT_ID, "V-600", "2026-03-01", &[("挂号费", "10")], "10");
    let (a, b) = tokio::join!(send(&app, VISITS, &h, &body), send(&app, VISITS, &h, &body));
    let mut statuses = [a.0, b.0];
    statuses.sort();
    assert_eq!(
        statuses,
        [StatusCode::OK, StatusCode::CREATED],
        "{} {}",
        a.1,
        b.1
    );
    assert_eq!(a.1["visit_id"], b.1["visit_id"]);
    assert_eq!(count(&app, "visits").await, 1);
    assert_eq!(count(&app, "visit_revisions").await, 1);
}

/// The nonces are pruned by the background work, not by each push: old ones go at its next
/// run, one still inside the replay window stays.
#[tokio::test]
async fn nonces_older_than_the_window_are_pruned_by_the_background_work() {
    let app = TestApp::spawn_with(Options {
        outbox_worker: false,
        ..Options::default()
    })
    .await;
    let token = admin(&app).await;
    let h = hospital(&app, &token).await;
    // Written directly: a push records its nonce at the current time, never one this old.
    sqlx::query("INSERT INTO gateway_nonces (key_id, nonce, seen_at) VALUES ($1, 'ancient', 0)")
        .bind(&h.key_id)
        .execute(&app.db.pool)
        .await
        .unwrap();
    let body = bundle(DEFAULT_ID, "V-700", "2026-03-01", &[("挂号费", "10")], "10");
    assert_eq!(send(&app, VISITS, &h, &body).await.0, StatusCode::CREATED);
    let nonces = || async {
        sqlx::query("SELECT nonce FROM gateway_nonces ORDER BY nonce")
            .fetch_all(&app.db.pool)
            .await
            .unwrap()
            .iter()
            .map(|r| r.try_get("nonce").unwrap())
            .collect::<Vec<String>>()
    };
    assert_eq!(nonces().await.len(), 2, "the push itself prunes nothing");

    let clock = Arc::new(ManualClock::new(medclaim::db::now_ms()));
    let worker = medclaim::app::worker(&app.state, clock).unwrap();
    worker.tick().await.unwrap();
    let left = nonces().await;
    assert_eq!(left.len(), 1, "{left:?}");
    assert_ne!(left[0], "ancient");
}

fn between<'a>(html: &'a str, start: &str, end: &str) -> &'a str {
    let from = html
        .find(start)
        .unwrap_or_else(|| panic!("{start} not in page"))
        + start.len();
    &html[from..from + html[from..].find(end).unwrap()]
}

async fn page(
    app: &TestApp,
    token: &str,
    method: Method,
    path: &str,
    form: &[(&str, &str)],
) -> (StatusCode, String) {
    let mut req = app.client.request(method, app.url(path)).bearer_auth(token);
    if !form.is_empty() {
        req = req.form(form);
    }
    let resp = req.send().await.unwrap();
    (resp.status(), resp.text().await.unwrap())
}

#[tokio::test]
async fn the_console_registers_a_hospital_and_shows_its_secret_once() {
    let app = TestApp::spawn().await;
    let token = admin(&app).await;
    let (_, student) = app.user_with("2024001", &[Role::Student]).await;
    assert_eq!(
        page(&app, &student, Method::GET, "/console/partners", &[])
            .await
            .0,
        StatusCode::FORBIDDEN
    );

    let (status, html) = page(&app, &token, Method::GET, "/console/partners", &[]).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        html.contains("<h1>医院与保险公司</h1>"),
        "translated title: {html}"
    );
    let csrf = between(&html, r#"name="csrf" value=""#, "\"").to_string();

    let (status, html) = page(
        &app,
        &token,
        Method::POST,
        "/console/partners/hospitals",
        &[("csrf", "forged"), ("name", "区医院"), ("level", "2")],
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(!html.contains("issued-secret"));
    assert_eq!(
        count(&app, "hospitals").await,
        0,
        "a forged form registers nothing"
    );

    let (status, html) = page(
        &app,
        &token,
        Method::POST,
        "/console/partners/hospitals",
        &[("csrf", &csrf), ("name", "区医院"), ("level", "2")],
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let creds = Creds {
        id: 1,
        key_id: between(&html, r#"<code id="issued-key-id">"#, "<").to_string(),
        secret: between(&html, r#"<code id="issued-secret">"#, "<").to_string(),
    };
    let body = bundle(DEFAULT_ID, "V-800", "2026-03-01", &[("挂号费", "10")], "10");
    assert_eq!(
        send(&app, VISITS, &creds, &body).await.0,
        StatusCode::CREATED,
        "the shown secret works"
    );

    let (_, html) = page(&app, &token, Method::GET, "/console/partners", &[]).await;
    assert!(html.contains("区医院") && html.contains(&creds.key_id));
    assert!(
        !html.contains(&creds.secret),
        "the secret is shown only once"
    );

    let path = format!("/console/partners/hospitals/{}/deactivate", creds.id);
    let (status, _) = page(&app, &token, Method::POST, &path, &[("csrf", &csrf)]).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_error(
        &send(&app, VISITS, &creds, &body).await,
        StatusCode::UNAUTHORIZED,
        "bad_signature",
    );
}
