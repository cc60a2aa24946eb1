//! Claims intake (issue 3): cases, record photos, invoices, the rules and their error codes,
//! uploads, notices, inbox, phone change, support threads and the student pages.

use chrono::Datelike;
use medclaim::accounts::Role;
use reqwest::multipart::{Form, Part};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::common::{TestApp, assert_error};

pub fn today() -> chrono::NaiveDate {
    chrono::Utc::now()
        .with_timezone(&chrono_tz::Asia::Shanghai)
        .date_naive()
}

fn days_ago(n: i64) -> String {
    (today() - chrono::Duration::days(n))
        .format("%Y-%m-%d")
        .to_string()
}

/// Covers `user_id` for this year and the last.
pub async fn cover(app: &TestApp, user_id: i64) {
    let year = i64::from(today().year());
    for y in [year - 1, year] {
        sqlx::query("INSERT INTO coverage (user_id, year, created_at) VALUES ($1, $2, 0)")
            .bind(user_id)
            .bind(y)
            .execute(&app.db.pool)
            .await
            .unwrap();
    }
}

/// A covered student, signed in: (id, token).
pub async fn student(app: &TestApp, username: &str) -> (i64, String) {
    let (id, token) = app.user_with(username, &[Role::Student]).await;
    cover(app, id).await;
    (id, token)
}

/// A small JPEG (`w`×`h`, a gradient).
pub fn jpeg(w: u32, h: u32) -> Vec<u8> {
    let img = image::RgbImage::from_fn(w, h, |x, y| {
        image::Rgb([(x % 256) as u8, (y % 256) as u8, 128])
    });
    let mut out = Vec::new();
    let enc = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 80);
    image::DynamicImage::ImageRgb8(img)
        .write_with_encoder(enc)
        .unwrap();
    out
}

pub fn png(w: u32, h: u32) -> Vec<u8> {
    let img = image::RgbaImage::from_fn(w, h, |x, _| image::Rgba([(x % 256) as u8, 0, 0, 255]));
    let mut out = Vec::new();
    image::DynamicImage::ImageRgba8(img)
        .write_with_encoder(image::codecs::png::PngEncoder::new(&mut out))
        .unwrap();
    out
}

pub async fn multipart(
    app: &TestApp,
    method: Method,
    path: &str,
    token: &str,
    form: Form,
) -> (StatusCode, Value) {
    let resp = app
        .client
        .request(method, app.url(path))
        .bearer_auth(token)
        .multipart(form)
        .send()
        .await
        .expect("request");
    let status = resp.status();
    let text = resp.text().await.unwrap_or_default();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

fn file_part(bytes: Vec<u8>, name: &str, mime: &str) -> Part {
    Part::bytes(bytes)
        .file_name(name.to_string())
        .mime_str(mime)
        .unwrap()
}

pub async fn new_case(app: &TestApp, token: &str) -> i64 {
    let (status, body) = app
        .post(
            "/api/v1/cases",
            token,
            json!({"hospital": "北京大学第三医院", "reason": "急性肠胃炎", "visit_date": days_ago(3)}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body["id"].as_i64().unwrap()
}

pub async fn add_record(app: &TestApp, token: &str, case_id: i64) -> (StatusCode, Value) {
    let form = Form::new().part("file", file_part(jpeg(64, 48), "record.jpg", "image/jpeg"));
    multipart(
        app,
        Method::POST,
        &format!("/api/v1/cases/{case_id}/records"),
        token,
        form,
    )
    .await
}

pub async fn add_invoice(
    app: &TestApp,
    token: &str,
    case_id: i64,
    no: &str,
    total: &str,
    self_pay: &str,
) -> (StatusCode, Value) {
    let form = Form::new()
        .text("invoice_no", no.to_string())
        .text("total_cents", total.to_string())
        .text("self_pay_cents", self_pay.to_string())
        .part(
            "photo",
            file_part(jpeg(64, 48), "invoice.jpg", "image/jpeg"),
        );
    multipart(
        app,
        Method::POST,
        &format!("/api/v1/cases/{case_id}/invoices"),
        token,
        form,
    )
    .await
}

/// A case with a record photo and one invoice, ready to submit.
pub async fn ready_case(app: &TestApp, token: &str, invoice_no: &str) -> (i64, i64) {
    let case_id = new_case(app, token).await;
    assert_eq!(add_record(app, token, case_id).await.0, StatusCode::CREATED);
    let (status, inv) = add_invoice(app, token, case_id, invoice_no, "50000", "10000").await;
    assert_eq!(status, StatusCode::CREATED, "{inv}");
    (case_id, inv["id"].as_i64().unwrap())
}

async fn case(app: &TestApp, token: &str, id: i64) -> Value {
    let (status, body) = app.get(&format!("/api/v1/cases/{id}"), token).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

#[tokio::test]
async fn create_case_checks_coverage_and_visit_date() {
    let app = TestApp::spawn().await;
    let (_, uninsured) = app.user_with("2024009", &[Role::Student]).await;
    let (_, token) = student(&app, "2024001").await;
    let body = |d: String| json!({"hospital": "协和医院", "reason": "骨折", "visit_date": d});

    let got = app
        .post("/api/v1/cases", &uninsured, body(days_ago(1)))
        .await;
    assert_error(&got, StatusCode::FORBIDDEN, "not_insured");
    let future = (today() + chrono::Duration::days(1))
        .format("%Y-%m-%d")
        .to_string();
    assert_error(
        &app.post("/api/v1/cases", &token, body(future)).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "visit_date_out_of_range",
    );
    assert_error(
        &app.post("/api/v1/cases", &token, body(days_ago(366))).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "visit_date_out_of_range",
    );
    let bad = app
        .post("/api/v1/cases", &token, body("2025/01/02".into()))
        .await;
    assert_error(&bad, StatusCode::UNPROCESSABLE_ENTITY, "invalid_input");
    assert!(bad.1["error"]["fields"]["visit_date"].is_string());
    let empty = app
        .post(
            "/api/v1/cases",
            &token,
            json!({"hospital": " ", "reason": "x", "visit_date": days_ago(1)}),
        )
        .await;
    assert_error(&empty, StatusCode::UNPROCESSABLE_ENTITY, "invalid_input");
    let (_, list) = app.get("/api/v1/cases", &token).await;
    assert_eq!(list["items"], json!([]), "refused requests created nothing");

    let (status, c) = app.post("/api/v1/cases", &token, body(days_ago(365))).await;
    assert_eq!(status, StatusCode::CREATED, "{c}");
    for field in [
        "id",
        "status",
        "hospital",
        "hospital_level",
        "reason",
        "visit_date",
        "records",
        "invoices",
        "payout_cents",
        "version",
        "timeline",
    ] {
        assert!(c.get(field).is_some(), "case lacks {field}: {c}");
    }
    assert_eq!(c["status"], "draft");
    assert_eq!(c["visit_date"], days_ago(365));
    assert_eq!(c["timeline"][0]["event"], "created");
    let (_, list) = app.get("/api/v1/cases", &token).await;
    assert_eq!(list["items"][0]["id"], c["id"]);

    // A staff member cannot open a claim.
    let (_, staff) = app.user_with("r1", &[Role::Reviewer1]).await;
    assert_error(
        &app.post("/api/v1/cases", &staff, body(days_ago(1))).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    );
}

#[tokio::test]
async fn invoice_rules_each_with_its_code_and_nothing_changed() {
    let app = TestApp::spawn().await;
    let (_, token) = student(&app, "2024001").await;
    let (other_id, other) = student(&app, "2024002").await;
    let case_id = new_case(&app, &token).await;
    let v0 = case(&app, &token, case_id).await["version"]
        .as_i64()
        .unwrap();

    for (total, self_pay, field) in [
        ("0", "0", "total_cents"),
        ("-5", "0", "total_cents"),
        ("12.5", "0", "total_cents"),
        ("abc", "0", "total_cents"),
        ("100", "-1", "self_pay_cents"),
    ] {
        let got = add_invoice(&app, &token, case_id, "F1", total, self_pay).await;
        assert_error(&got, StatusCode::UNPROCESSABLE_ENTITY, "invalid_amount");
        assert!(got.1["error"]["fields"][field].is_string(), "{}", got.1);
    }
    assert_error(
        &add_invoice(&app, &token, case_id, "F1", "100", "101").await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "self_pay_exceeds_total",
    );
    let no_photo = Form::new()
        .text("invoice_no", "F1")
        .text("total_cents", "100")
        .text("self_pay_cents", "0");
    assert_error(
        &multipart(
            &app,
            Method::POST,
            &format!("/api/v1/cases/{case_id}/invoices"),
            &token,
            no_photo,
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "photo_required",
    );

    // Duplicate: the number is in another student's active claim.
    let other_case = new_case(&app, &other).await;
    assert_eq!(
        add_invoice(&app, &other, other_case, "DUP-1", "100", "0")
            .await
            .0,
        StatusCode::CREATED
    );
    assert_error(
        &add_invoice(&app, &token, case_id, "DUP-1", "100", "0").await,
        StatusCode::CONFLICT,
        "duplicate_invoice",
    );
    // Blacklisted for anyone.
    sqlx::query("INSERT INTO blacklist (user_id, invoice_no, created_at) VALUES ($1, 'BL-1', 0)")
        .bind(other_id)
        .execute(&app.db.pool)
        .await
        .unwrap();
    assert_error(
        &add_invoice(&app, &token, case_id, "BL-1", "100", "0").await,
        StatusCode::CONFLICT,
        "blacklisted_invoice",
    );
    let c = case(&app, &token, case_id).await;
    assert_eq!(c["invoices"], json!([]), "no refused invoice was stored");
    assert_eq!(
        c["version"].as_i64().unwrap(),
        v0,
        "refusals do not bump the version"
    );

    // Once the other claim is withdrawn, the number is free.
    assert_eq!(
        app.call(
            Method::DELETE,
            &format!("/api/v1/cases/{other_case}"),
            Some(&other),
            None
        )
        .await
        .0,
        StatusCode::NO_CONTENT
    );
    let (status, inv) = add_invoice(&app, &token, case_id, "DUP-1", "12345", "2345").await;
    assert_eq!(status, StatusCode::CREATED, "{inv}");
    for field in [
        "id",
        "invoice_no",
        "total_cents",
        "self_pay_cents",
        "covered_cents",
        "status",
        "reason",
        "may_edit",
        "photo",
    ] {
        assert!(inv.get(field).is_some(), "invoice lacks {field}: {inv}");
    }
    assert_eq!(inv["covered_cents"], 10_000);
    assert_eq!(inv["status"], "pending");
    assert_eq!(inv["may_edit"], true);
    assert_eq!(
        case(&app, &token, case_id).await["version"]
            .as_i64()
            .unwrap(),
        v0 + 1
    );

    // The same number twice in one's own case is a duplicate too; editing keeps its own number.
    assert_error(
        &add_invoice(&app, &token, case_id, "DUP-1", "100", "0").await,
        StatusCode::CONFLICT,
        "duplicate_invoice",
    );
    let inv_id = inv["id"].as_i64().unwrap();
    let patch = app
        .call(
            Method::PATCH,
            &format!("/api/v1/invoices/{inv_id}"),
            Some(&token),
            Some(json!({"invoice_no": "DUP-1", "self_pay_cents": 0})),
        )
        .await;
    assert_eq!(patch.0, StatusCode::OK, "{}", patch.1);
    assert_eq!(patch.1["covered_cents"], 12_345);
    let patch = app
        .call(
            Method::PATCH,
            &format!("/api/v1/invoices/{inv_id}"),
            Some(&token),
            Some(json!({"total_cents": 10.5})),
        )
        .await;
    assert_error(&patch, StatusCode::UNPROCESSABLE_ENTITY, "invalid_amount");
    let patch = app
        .call(
            Method::PATCH,
            &format!("/api/v1/invoices/{inv_id}"),
            Some(&token),
            Some(json!({"self_pay_cents": 20000})),
        )
        .await;
    assert_error(
        &patch,
        StatusCode::UNPROCESSABLE_ENTITY,
        "self_pay_exceeds_total",
    );
    assert_eq!(
        case(&app, &token, case_id).await["invoices"][0]["self_pay_cents"],
        0
    );
}

#[tokio::test]
async fn submit_needs_photo_and_invoice_then_locks_editing() {
    let app = TestApp::spawn().await;
    let (_, token) = student(&app, "2024001").await;
    let case_id = new_case(&app, &token).await;
    let submit = format!("/api/v1/cases/{case_id}/submit");
    assert_error(
        &app.post(&submit, &token, json!({})).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "incomplete_case",
    );
    let (status, inv) = add_invoice(&app, &token, case_id, "INV-1", "50000", "10000").await;
    assert_eq!(status, StatusCode::CREATED);
    assert_error(
        &app.post(&submit, &token, json!({})).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "incomplete_case",
    );
    assert_eq!(case(&app, &token, case_id).await["status"], "draft");
    let (status, rec) = add_record(&app, &token, case_id).await;
    assert_eq!(status, StatusCode::CREATED, "{rec}");

    let before = case(&app, &token, case_id).await;
    assert_eq!(before["actions"]["submit"], true);
    // Payout preview before submitting (rule 10): unrated hospital, (400.00 − 200.00) × 70%.
    assert_eq!(before["payout_preview"]["covered_cents"], 40_000);
    assert_eq!(before["payout_preview"]["payout_cents"], 14_000);

    let (status, c) = app.post(&submit, &token, json!({})).await;
    assert_eq!(status, StatusCode::OK, "{c}");
    assert_eq!(c["status"], "submitted");
    assert!(c["version"].as_i64() > before["version"].as_i64());
    assert_eq!(c["timeline"][1]["event"], "submitted");
    assert_eq!(c["actions"]["edit"], false);
    assert_eq!(c["invoices"][0]["may_edit"], false);

    let inv_id = inv["id"].as_i64().unwrap();
    let conflict =
        |got: (StatusCode, Value)| assert_error(&got, StatusCode::CONFLICT, "not_editable");
    conflict(
        app.call(
            Method::PATCH,
            &format!("/api/v1/cases/{case_id}"),
            Some(&token),
            Some(json!({"reason": "x"})),
        )
        .await,
    );
    conflict(
        app.call(
            Method::DELETE,
            &format!("/api/v1/cases/{case_id}"),
            Some(&token),
            None,
        )
        .await,
    );
    conflict(add_invoice(&app, &token, case_id, "INV-2", "100", "0").await);
    conflict(add_record(&app, &token, case_id).await);
    conflict(
        app.call(
            Method::PATCH,
            &format!("/api/v1/invoices/{inv_id}"),
            Some(&token),
            Some(json!({"total_cents": 100})),
        )
        .await,
    );
    conflict(
        app.call(
            Method::DELETE,
            &format!("/api/v1/invoices/{inv_id}"),
            Some(&token),
            None,
        )
        .await,
    );
    conflict(app.post(&submit, &token, json!({})).await);
    let after = case(&app, &token, case_id).await;
    assert_eq!(
        after["version"], c["version"],
        "refused edits changed nothing"
    );
    assert_eq!(after["invoices"][0]["total_cents"], 50_000);
}

#[tokio::test]
async fn returned_case_edits_only_items_marked_may_edit_and_resubmits() {
    let app = TestApp::spawn().await;
    let (_, token) = student(&app, "2024001").await;
    let (case_id, first) = ready_case(&app, &token, "R-1").await;
    let (_, second) = add_invoice(&app, &token, case_id, "R-2", "20000", "0").await;
    let second = second["id"].as_i64().unwrap();
    assert_eq!(
        app.post(
            &format!("/api/v1/cases/{case_id}/submit"),
            &token,
            json!({})
        )
        .await
        .0,
        StatusCode::OK
    );
    // A reviewer returns it: R-1 rejected for good, R-2 may be fixed.
    sqlx::query("UPDATE cases SET status = 'returned' WHERE id = $1")
        .bind(case_id)
        .execute(&app.db.pool)
        .await
        .unwrap();
    sqlx::query("UPDATE invoices SET status = 'rejected', reason = '非正规医疗发票', may_edit = 0 WHERE id = $1").bind(first).execute(&app.db.pool).await.unwrap();
    sqlx::query("UPDATE invoices SET status = 'rejected', reason = '金额与发票不符', may_edit = 1 WHERE id = $1").bind(second).execute(&app.db.pool).await.unwrap();

    let c = case(&app, &token, case_id).await;
    assert_eq!(c["status"], "returned");
    assert_eq!(c["actions"]["edit"], true);
    assert_eq!(c["invoices"][0]["may_edit"], false);
    assert_eq!(c["invoices"][0]["reason"], "非正规医疗发票");
    assert_eq!(c["invoices"][1]["may_edit"], true);
    // The preview leaves rejected invoices out.
    assert_eq!(c["payout_preview"]["covered_cents"], 0);

    assert_error(
        &app.call(
            Method::PATCH,
            &format!("/api/v1/invoices/{first}"),
            Some(&token),
            Some(json!({"total_cents": 1})),
        )
        .await,
        StatusCode::CONFLICT,
        "not_editable",
    );
    assert_error(
        &app.call(
            Method::DELETE,
            &format!("/api/v1/invoices/{first}"),
            Some(&token),
            None,
        )
        .await,
        StatusCode::CONFLICT,
        "not_editable",
    );
    let form = Form::new()
        .text("total_cents", "18000")
        .part("photo", file_part(jpeg(30, 30), "new.jpg", "image/jpeg"));
    let (status, fixed) = multipart(
        &app,
        Method::PATCH,
        &format!("/api/v1/invoices/{second}"),
        &token,
        form,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{fixed}");
    assert_eq!(fixed["total_cents"], 18_000);
    assert_eq!(
        fixed["status"], "pending",
        "an edited invoice is pending again"
    );
    assert_eq!(fixed["reason"], Value::Null);
    let v = case(&app, &token, case_id).await["version"]
        .as_i64()
        .unwrap();
    assert!(v > c["version"].as_i64().unwrap());

    let (status, again) = app
        .post(
            &format!("/api/v1/cases/{case_id}/submit"),
            &token,
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!(again["status"], "submitted");
    assert!(
        again["timeline"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["event"] == "resubmitted")
    );
    assert_eq!(
        again["invoices"][0]["status"], "rejected",
        "a final rejection stays"
    );
}

#[tokio::test]
async fn version_bumps_on_every_change() {
    let app = TestApp::spawn().await;
    let (_, token) = student(&app, "2024001").await;
    let case_id = new_case(&app, &token).await;
    let version = |c: Value| c["version"].as_i64().unwrap();
    let mut last = version(case(&app, &token, case_id).await);
    let mut step = |v: i64, what: &str| {
        assert!(v > last, "{what} must bump the version ({v} <= {last})");
        last = v;
    };
    let (_, rec) = add_record(&app, &token, case_id).await;
    step(
        version(case(&app, &token, case_id).await),
        "adding a record",
    );
    let (_, inv) = add_invoice(&app, &token, case_id, "V-1", "100", "0").await;
    step(
        version(case(&app, &token, case_id).await),
        "adding an invoice",
    );
    let inv_id = inv["id"].as_i64().unwrap();
    app.call(
        Method::PATCH,
        &format!("/api/v1/invoices/{inv_id}"),
        Some(&token),
        Some(json!({"total_cents": 200})),
    )
    .await;
    step(
        version(case(&app, &token, case_id).await),
        "editing an invoice",
    );
    let (status, c) = app
        .call(
            Method::PATCH,
            &format!("/api/v1/cases/{case_id}"),
            Some(&token),
            Some(json!({"hospital": "新医院", "hospital_level": 3})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{c}");
    assert_eq!(c["hospital_level"], 3);
    step(version(c), "editing the case");
    app.call(
        Method::DELETE,
        &format!("/api/v1/cases/{case_id}/records/{}", rec["id"]),
        Some(&token),
        None,
    )
    .await;
    step(
        version(case(&app, &token, case_id).await),
        "removing a record",
    );
    app.call(
        Method::DELETE,
        &format!("/api/v1/invoices/{inv_id}"),
        Some(&token),
        None,
    )
    .await;
    let c = case(&app, &token, case_id).await;
    step(version(c.clone()), "removing an invoice");
    assert_eq!(c["invoices"], json!([]));
    assert_eq!(c["records"], json!([]));
}

#[tokio::test]
async fn payout_preview_counts_the_years_earlier_approved_cases() {
    let app = TestApp::spawn().await;
    let (student_id, token) = student(&app, "2024001").await;
    let (case_id, _) = ready_case(&app, &token, "P-1").await;
    app.call(
        Method::PATCH,
        &format!("/api/v1/cases/{case_id}"),
        Some(&token),
        Some(json!({"hospital_level": 1})),
    )
    .await;
    // (400.00 − 200.00 deductible) × 90% = 180.00
    assert_eq!(
        case(&app, &token, case_id).await["payout_preview"]["payout_cents"],
        18_000
    );
    // An approved case this year already used the deductible and 49,950.00 of the cap.
    let year: i64 = sqlx::query_scalar("SELECT coverage_year FROM cases WHERE id = $1")
        .bind(case_id)
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO cases (student_id, hospital, reason, visit_date, coverage_year, status, payout_cents, deductible_used_cents, created_at, updated_at)
         VALUES ($1, 'h', 'r', $2, $3, 'approved', 4995000, 20000, 0, 0)",
    )
    .bind(student_id)
    .bind(days_ago(10))
    .bind(year)
    .execute(&app.db.pool)
    .await
    .unwrap();
    let p = case(&app, &token, case_id).await["payout_preview"].clone();
    assert_eq!(p["deductible_left_cents"], 0);
    assert_eq!(p["after_ratio_cents"], 36_000);
    assert_eq!(
        p["payout_cents"], 5_000,
        "capped by what is left of the year's cap"
    );
    assert_eq!(p["cap_applied"], true);
    assert_eq!(p["policy_version"], 1);
}

#[tokio::test]
async fn another_students_case_invoice_and_file_answer_404() {
    let app = TestApp::spawn().await;
    let (_, owner) = student(&app, "2024001").await;
    let (_, other) = student(&app, "2024002").await;
    let (case_id, inv_id) = ready_case(&app, &owner, "O-1").await;
    let c = case(&app, &owner, case_id).await;
    let file_url = c["records"][0]["url"].as_str().unwrap().to_string();
    let record_id = c["records"][0]["id"].as_i64().unwrap();
    let missing = |got: (StatusCode, Value)| assert_error(&got, StatusCode::NOT_FOUND, "not_found");
    missing(app.get(&format!("/api/v1/cases/{case_id}"), &other).await);
    missing(app.get("/api/v1/cases/999999", &other).await);
    missing(
        app.call(
            Method::PATCH,
            &format!("/api/v1/cases/{case_id}"),
            Some(&other),
            Some(json!({"reason": "mine"})),
        )
        .await,
    );
    missing(
        app.call(
            Method::DELETE,
            &format!("/api/v1/cases/{case_id}"),
            Some(&other),
            None,
        )
        .await,
    );
    missing(
        app.call(
            Method::PATCH,
            &format!("/api/v1/invoices/{inv_id}"),
            Some(&other),
            Some(json!({"total_cents": 1})),
        )
        .await,
    );
    missing(
        app.call(
            Method::DELETE,
            &format!("/api/v1/invoices/{inv_id}"),
            Some(&other),
            None,
        )
        .await,
    );
    missing(
        app.call(
            Method::DELETE,
            &format!("/api/v1/cases/{case_id}/records/{record_id}"),
            Some(&other),
            None,
        )
        .await,
    );
    missing(
        app.post(
            &format!("/api/v1/cases/{case_id}/submit"),
            &other,
            json!({}),
        )
        .await,
    );
    missing(add_record(&app, &other, case_id).await);
    missing(add_invoice(&app, &other, case_id, "X-1", "100", "0").await);
    missing(app.get(&file_url, &other).await);
    let (_, list) = app.get("/api/v1/cases", &other).await;
    assert_eq!(list["items"], json!([]));
    // Nothing changed for the owner; staff may read.
    assert_eq!(case(&app, &owner, case_id).await["version"], c["version"]);
    let (_, staff) = app.user_with("r1", &[Role::Reviewer1]).await;
    assert_eq!(
        app.get(&format!("/api/v1/cases/{case_id}"), &staff).await.0,
        StatusCode::OK
    );
    let resp = app
        .client
        .get(app.url(&file_url))
        .bearer_auth(&staff)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
}

#[tokio::test]
async fn text_is_stored_and_shown_literally() {
    let app = TestApp::spawn().await;
    let (_, token) = student(&app, "2024001").await;
    let nasty = "Robert'); DROP TABLE cases; -- <script>alert(1)</script> \"quoted\" 50%_";
    let (status, c) = app
        .post(
            "/api/v1/cases",
            &token,
            json!({"hospital": nasty, "reason": nasty, "visit_date": days_ago(1)}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{c}");
    let case_id = c["id"].as_i64().unwrap();
    let inv_no = "NO'1\"; DELETE FROM invoices; --<b>";
    let (status, inv) = add_invoice(&app, &token, case_id, inv_no, "100", "0").await;
    assert_eq!(status, StatusCode::CREATED, "{inv}");
    let c = case(&app, &token, case_id).await;
    assert_eq!(c["hospital"], nasty);
    assert_eq!(c["reason"], nasty);
    assert_eq!(c["invoices"][0]["invoice_no"], inv_no);
    let (status, thread) = app
        .post(
            "/api/v1/support/threads",
            &token,
            json!({"subject": nasty, "body": nasty}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(thread["messages"][0]["body"], nasty);

    let cookie = web_login(&app, "2024001").await;
    for path in [
        format!("/app/cases/{case_id}"),
        "/app".into(),
        format!("/app/support/{}", thread["id"]),
    ] {
        let html = page(&app, &cookie, &path).await;
        assert!(
            !html.contains("<script>alert(1)</script>"),
            "{path} must escape"
        );
        assert!(
            html.contains("&lt;script&gt;alert(1)&lt;/script&gt;")
                || html.contains("&#60;script&#62;"),
            "{path} shows the text"
        );
        assert!(!html.contains("<b>"), "{path}");
    }
}

/// Signs in through the login form; answers the session cookie (`name=value`).
pub async fn web_login(app: &TestApp, username: &str) -> String {
    let resp = app.client.get(app.url("/login")).send().await.unwrap();
    let csrf_cookie = resp
        .headers()
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("medclaim_csrf="))
        .map(|v| v.split(';').next().unwrap().to_string())
        .unwrap();
    let token = csrf_cookie.trim_start_matches("medclaim_csrf=").to_string();
    let resp = app
        .client
        .post(app.url("/login"))
        .header(reqwest::header::COOKIE, &csrf_cookie)
        .form(&[
            ("username", username),
            ("password", crate::common::PASSWORD),
            ("csrf", &token),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::SEE_OTHER, "web login");
    resp.headers()
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("medclaim_session="))
        .map(|v| v.split(';').next().unwrap().to_string())
        .unwrap()
}

pub async fn page(app: &TestApp, cookie: &str, path: &str) -> String {
    let resp = app
        .client
        .get(app.url(path))
        .header(reqwest::header::COOKIE, cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK, "{path}");
    resp.text().await.unwrap()
}

async fn upload_record(
    app: &TestApp,
    token: &str,
    case_id: i64,
    bytes: Vec<u8>,
    name: &str,
    mime: &str,
) -> (StatusCode, Value) {
    let form = Form::new().part("file", file_part(bytes, name, mime));
    multipart(
        app,
        Method::POST,
        &format!("/api/v1/cases/{case_id}/records"),
        token,
        form,
    )
    .await
}

async fn fetch(app: &TestApp, token: &str, url: &str) -> reqwest::Response {
    app.client
        .get(app.url(url))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

/// A PNG header claiming `w`×`h` pixels, with a tiny (valid) compressed body: a decompression
/// bomb's shape without its bytes.
fn png_claiming(w: u32, h: u32) -> Vec<u8> {
    fn crc(data: &[u8]) -> u32 {
        let mut c = 0xFFFF_FFFFu32;
        for &b in data {
            c ^= u32::from(b);
            for _ in 0..8 {
                c = if c & 1 != 0 {
                    0xEDB8_8320 ^ (c >> 1)
                } else {
                    c >> 1
                };
            }
        }
        !c
    }
    fn chunk(out: &mut Vec<u8>, kind: &[u8], data: &[u8]) {
        out.extend_from_slice(&(data.len() as u32).to_be_bytes());
        let mut body = kind.to_vec();
        body.extend_from_slice(data);
        out.extend_from_slice(&body);
        out.extend_from_slice(&crc(&body).to_be_bytes());
    }
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&w.to_be_bytes());
    ihdr.extend_from_slice(&h.to_be_bytes());
    ihdr.extend_from_slice(&[8, 0, 0, 0, 0]); // 8-bit greyscale
    chunk(&mut out, b"IHDR", &ihdr);
    chunk(
        &mut out,
        b"IDAT",
        &[0x78, 0x9C, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01],
    );
    chunk(&mut out, b"IEND", &[]);
    out
}

/// A JPEG with an EXIF block: orientation 6 (turn 90° clockwise) and a GPS position.
fn jpeg_with_exif(w: u32, h: u32) -> Vec<u8> {
    // TIFF header (big endian), IFD0 with Orientation=6 and a GPS IFD pointer.
    let mut t: Vec<u8> = b"MM\0\x2a\0\0\0\x08".to_vec();
    t.extend_from_slice(&2u16.to_be_bytes());
    t.extend_from_slice(&[0x01, 0x12, 0, 3, 0, 0, 0, 1, 0, 6, 0, 0]); // Orientation SHORT 6
    t.extend_from_slice(&[0x88, 0x25, 0, 4, 0, 0, 0, 1, 0, 0, 0, 38]); // GPS IFD at 38
    t.extend_from_slice(&0u32.to_be_bytes());
    // GPS IFD: GPSLatitudeRef = "N", and a marker string the output must not carry.
    t.extend_from_slice(&2u16.to_be_bytes());
    t.extend_from_slice(&[0x00, 0x01, 0, 2, 0, 0, 0, 2, b'N', 0, 0, 0]);
    t.extend_from_slice(&[0x00, 0x1B, 0, 7, 0, 0, 0, 16, 0, 0, 0, 68]); // GPSProcessingMethod
    t.extend_from_slice(&0u32.to_be_bytes());
    t.extend_from_slice(b"GPS-SECRET-SPOT!");
    let img = image::RgbImage::from_fn(w, h, |x, _| {
        if x < w / 2 {
            image::Rgb([255, 0, 0])
        } else {
            image::Rgb([0, 0, 255])
        }
    });
    let mut out = Vec::new();
    let mut enc = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 90);
    use image::ImageEncoder;
    enc.set_exif_metadata(t).unwrap();
    enc.write_image(img.as_raw(), w, h, image::ExtendedColorType::Rgb8)
        .unwrap();
    out
}

#[tokio::test]
async fn uploads_are_typed_by_content_and_limited() {
    let app = TestApp::spawn().await;
    let (_, token) = student(&app, "2024001").await;
    let case_id = new_case(&app, &token).await;
    // Not an image, whatever the name and declared type say.
    let got = upload_record(
        &app,
        &token,
        case_id,
        b"GIF89a\x01\x00\x01\x00".to_vec(),
        "x.jpg",
        "image/jpeg",
    )
    .await;
    assert_error(
        &got,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_file_type",
    );
    let got = upload_record(
        &app,
        &token,
        case_id,
        b"<html><script>alert(1)</script>".to_vec(),
        "x.png",
        "image/png",
    )
    .await;
    assert_error(
        &got,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_file_type",
    );
    // Too large: 25 MiB is the default limit.
    let big = vec![0xFFu8; 25 * 1024 * 1024 + 1];
    let got = upload_record(&app, &token, case_id, big, "big.jpg", "image/jpeg").await;
    assert_error(&got, StatusCode::PAYLOAD_TOO_LARGE, "file_too_large");
    // Decompression bombs: too wide for the decoder's limits, or too many pixels in total.
    for (w, h) in [(30_000, 30_000), (10_000, 10_000)] {
        let got = upload_record(
            &app,
            &token,
            case_id,
            png_claiming(w, h),
            "bomb.png",
            "image/png",
        )
        .await;
        assert_error(&got, StatusCode::UNPROCESSABLE_ENTITY, "image_too_large");
    }
    // A truncated JPEG is not an image we can read.
    let mut broken = jpeg(100, 100);
    broken.truncate(200);
    let got = upload_record(&app, &token, case_id, broken, "b.jpg", "image/jpeg").await;
    assert_error(&got, StatusCode::UNPROCESSABLE_ENTITY, "unreadable_image");
    assert_eq!(
        case(&app, &token, case_id).await["records"],
        json!([]),
        "nothing stored"
    );

    // PDF and WebP are accepted; the PDF is served as a PDF with nosniff.
    let pdf = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF".to_vec();
    let (status, rec) = upload_record(
        &app,
        &token,
        case_id,
        pdf.clone(),
        "r.pdf",
        "application/octet-stream",
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{rec}");
    let resp = fetch(&app, &token, rec["url"].as_str().unwrap()).await;
    assert_eq!(resp.headers()["content-type"], "application/pdf");
    assert_eq!(resp.headers()["x-content-type-options"], "nosniff");
    assert_eq!(resp.bytes().await.unwrap().to_vec(), pdf);
    let mut webp = Vec::new();
    image::DynamicImage::ImageRgba8(image::RgbaImage::from_pixel(
        40,
        30,
        image::Rgba([10, 200, 10, 255]),
    ))
    .write_with_encoder(image::codecs::webp::WebPEncoder::new_lossless(&mut webp))
    .unwrap();
    let (status, rec) = upload_record(&app, &token, case_id, webp, "w.webp", "image/webp").await;
    assert_eq!(status, StatusCode::CREATED, "{rec}");
    let resp = fetch(&app, &token, rec["url"].as_str().unwrap()).await;
    assert_eq!(resp.headers()["content-type"], "image/jpeg");
    // Stored outside any web root: no static route reaches it.
    let files = app.data_dir.join("files");
    assert!(files.is_dir(), "files stored under the data directory");
}

#[tokio::test]
async fn photos_are_turned_upright_scaled_and_stripped_of_exif() {
    let app = TestApp::spawn().await;
    let (_, token) = student(&app, "2024001").await;
    let case_id = new_case(&app, &token).await;
    let original = jpeg_with_exif(80, 40);
    assert!(
        original.windows(16).any(|w| w == b"GPS-SECRET-SPOT!"),
        "fixture carries GPS data"
    );
    let (status, rec) =
        upload_record(&app, &token, case_id, original, "exif.jpg", "image/jpeg").await;
    assert_eq!(status, StatusCode::CREATED, "{rec}");
    let stored = fetch(&app, &token, rec["url"].as_str().unwrap())
        .await
        .bytes()
        .await
        .unwrap()
        .to_vec();
    assert!(!stored.windows(4).any(|w| w == b"Exif"), "EXIF removed");
    assert!(
        !stored.windows(16).any(|w| w == b"GPS-SECRET-SPOT!"),
        "GPS removed"
    );
    let img = image::load_from_memory(&stored).unwrap();
    assert_eq!(
        (img.width(), img.height()),
        (40, 80),
        "turned upright by the EXIF orientation"
    );
    // Orientation 6: the left (red) half ends up on top.
    let top = img.to_rgb8().get_pixel(20, 5).0;
    assert!(top[0] > 200 && top[2] < 60, "red on top, got {top:?}");
    let thumb = fetch(&app, &token, rec["thumb_url"].as_str().unwrap()).await;
    assert_eq!(thumb.headers()["content-type"], "image/jpeg");

    // A 24-megapixel phone photo goes through, scaled to 4096 px on the long side.
    let big = jpeg(6000, 4000);
    assert!(big.len() < 25 * 1024 * 1024);
    let (status, rec) = upload_record(&app, &token, case_id, big, "phone.jpg", "image/jpeg").await;
    assert_eq!(status, StatusCode::CREATED, "{rec}");
    let stored = fetch(&app, &token, rec["url"].as_str().unwrap())
        .await
        .bytes()
        .await
        .unwrap()
        .to_vec();
    let img = image::load_from_memory(&stored).unwrap();
    assert_eq!((img.width(), img.height()), (4096, 2731));
    let thumb = fetch(&app, &token, rec["thumb_url"].as_str().unwrap())
        .await
        .bytes()
        .await
        .unwrap()
        .to_vec();
    let t = image::load_from_memory(&thumb).unwrap();
    assert!(t.width() <= 320 && t.height() <= 320);
}

#[tokio::test]
async fn notices_list_valid_ones_by_priority_then_newest() {
    let app = TestApp::spawn().await;
    let (_, token) = student(&app, "2024001").await;
    let now = medclaim::db::now_ms();
    for (title, priority, published, until) in [
        ("old-low", 1, now - 50_000, None),
        ("new-low", 1, now - 10_000, None),
        ("high", 9, now - 90_000, Some(now + 3_600_000)),
        ("expired", 99, now - 90_000, Some(now - 1)),
        ("future", 99, now + 3_600_000, None),
    ] {
        sqlx::query("INSERT INTO notices (title, body, priority, published_at, valid_until, created_at, updated_at) VALUES ($1, 'b', $2, $3, $4, 0, 0)")
            .bind(title)
            .bind(priority as i64)
            .bind(published)
            .bind(until)
            .execute(&app.db.pool)
            .await
            .unwrap();
    }
    let (status, body) = app.get("/api/v1/notices", &token).await;
    assert_eq!(status, StatusCode::OK);
    let titles: Vec<&str> = body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["title"].as_str().unwrap())
        .collect();
    assert_eq!(titles, ["high", "new-low", "old-low"]);
    assert_error(
        &app.call(Method::GET, "/api/v1/notices", None, None).await,
        StatusCode::UNAUTHORIZED,
        "unauthenticated",
    );
    let cookie = web_login(&app, "2024001").await;
    let html = page(&app, &cookie, "/app").await;
    assert!(html.contains("high") && !html.contains("expired"));
}

async fn notify(app: &TestApp, user_id: i64, title: &str) {
    sqlx::query("INSERT INTO notifications (user_id, kind, title, body, created_at) VALUES ($1, 'case_approved', $2, 'body', 0)")
        .bind(user_id)
        .bind(title)
        .execute(&app.db.pool)
        .await
        .unwrap();
}

#[tokio::test]
async fn inbox_pages_counts_unread_and_marks_read() {
    let app = TestApp::spawn().await;
    let (me, token) = student(&app, "2024001").await;
    let (other, other_token) = student(&app, "2024002").await;
    for n in 0..5 {
        notify(&app, me, &format!("mine {n}")).await;
    }
    notify(&app, other, "theirs").await;
    let (status, first) = app.get("/api/v1/notifications?limit=3", &token).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(first["unread"], 5);
    let titles = |v: &Value| {
        v["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["title"].as_str().unwrap().to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(titles(&first), ["mine 4", "mine 3", "mine 2"]);
    let cursor = first["next_cursor"].as_str().unwrap();
    let (_, second) = app
        .get(
            &format!("/api/v1/notifications?limit=3&cursor={cursor}"),
            &token,
        )
        .await;
    assert_eq!(titles(&second), ["mine 1", "mine 0"]);
    assert_eq!(second["next_cursor"], Value::Null);

    let id = first["items"][0]["id"].as_i64().unwrap();
    let theirs = app.get("/api/v1/notifications", &other_token).await.1["items"][0]["id"]
        .as_i64()
        .unwrap();
    assert_eq!(
        app.post(
            &format!("/api/v1/notifications/{id}/read"),
            &token,
            json!({})
        )
        .await
        .0,
        StatusCode::NO_CONTENT
    );
    assert_error(
        &app.post(
            &format!("/api/v1/notifications/{theirs}/read"),
            &token,
            json!({}),
        )
        .await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    let (_, after) = app.get("/api/v1/notifications", &token).await;
    assert_eq!(after["unread"], 4);
    assert_eq!(after["items"][0]["read"], true);
    let (status, marked) = app
        .post("/api/v1/notifications/read-all", &token, json!({}))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(marked["marked"], 4);
    assert_eq!(
        app.get("/api/v1/notifications", &token).await.1["unread"],
        0
    );
    assert_eq!(
        app.get("/api/v1/notifications", &other_token).await.1["unread"],
        1,
        "others untouched"
    );
}

async fn last_sms_code(app: &TestApp) -> (String, Option<String>, String) {
    let (recipient, payload): (Option<String>, String) = sqlx::query_as(
        "SELECT recipient, payload FROM outbox WHERE channel = 'sms' ORDER BY id DESC LIMIT 1",
    )
    .fetch_one(&app.db.pool)
    .await
    .unwrap();
    let v: Value = serde_json::from_str(&payload).unwrap();
    let text = v["text"].as_str().unwrap();
    let code: String = text
        .chars()
        .filter(|c| c.is_ascii_digit())
        .take(6)
        .collect();
    (code, recipient, payload)
}

#[tokio::test]
async fn phone_change_with_sms_code() {
    let app = TestApp::spawn().await;
    let (_, token) = student(&app, "2024001").await;
    assert_error(
        &app.post("/api/v1/me/phone/code", &token, json!({"phone": "12345"}))
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_input",
    );
    let (status, sent) = app
        .post(
            "/api/v1/me/phone/code",
            &token,
            json!({"phone": "139 0000 1111"}),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{sent}");
    assert_eq!(sent["sent_to"], "139****1111");
    let (code, recipient, payload) = last_sms_code(&app).await;
    assert_eq!(code.len(), 6);
    assert_eq!(recipient.as_deref(), Some("139****1111"));
    assert!(
        !payload.contains("13900001111"),
        "no plain phone number in the outbox payload"
    );
    let stored: String = sqlx::query_scalar("SELECT code_hash FROM phone_change_codes")
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    assert!(!stored.contains(&code), "only a hash of the code is kept");
    // Rate limit: not again within a minute.
    assert_error(
        &app.post(
            "/api/v1/me/phone/code",
            &token,
            json!({"phone": "13900001111"}),
        )
        .await,
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limited",
    );

    let wrong = if code == "000000" { "111111" } else { "000000" };
    assert_error(
        &app.post("/api/v1/me/phone", &token, json!({"code": wrong}))
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_code",
    );
    assert_eq!(
        app.get("/api/v1/me", &token).await.1["phone_masked"],
        "138****8000",
        "unchanged"
    );
    let (status, done) = app
        .post("/api/v1/me/phone", &token, json!({"code": code}))
        .await;
    assert_eq!(status, StatusCode::OK, "{done}");
    assert_eq!(done["phone_masked"], "139****1111");
    assert_eq!(
        app.get("/api/v1/me", &token).await.1["phone_masked"],
        "139****1111"
    );
    let bidx: String =
        sqlx::query_scalar("SELECT phone_bidx FROM users WHERE username = '2024001'")
            .fetch_one(&app.db.pool)
            .await
            .unwrap();
    assert_eq!(bidx, app.keys.blind_index("phone", "13900001111"));
    // A used code does not work twice.
    assert_error(
        &app.post("/api/v1/me/phone", &token, json!({"code": code}))
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "code_expired",
    );
    let audited: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM audit_events WHERE action = 'user.phone_change'")
            .fetch_one(&app.db.pool)
            .await
            .unwrap();
    assert_eq!(audited, 1);
}

#[tokio::test]
async fn phone_code_allows_five_tries_and_expires() {
    let app = TestApp::spawn().await;
    let (_, token) = student(&app, "2024001").await;
    app.post(
        "/api/v1/me/phone/code",
        &token,
        json!({"phone": "13900002222"}),
    )
    .await;
    let (code, _, _) = last_sms_code(&app).await;
    let wrong = if code == "000000" { "111111" } else { "000000" };
    for _ in 0..5 {
        assert_error(
            &app.post("/api/v1/me/phone", &token, json!({"code": wrong}))
                .await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_code",
        );
    }
    assert_error(
        &app.post("/api/v1/me/phone", &token, json!({"code": code}))
            .await,
        StatusCode::TOO_MANY_REQUESTS,
        "too_many_attempts",
    );
    // A new code, once the minute has passed, which then expires after 10 minutes.
    sqlx::query("UPDATE phone_change_codes SET created_at = created_at - 120000")
        .execute(&app.db.pool)
        .await
        .unwrap();
    app.post(
        "/api/v1/me/phone/code",
        &token,
        json!({"phone": "13900002222"}),
    )
    .await;
    let (code, _, _) = last_sms_code(&app).await;
    sqlx::query("UPDATE phone_change_codes SET expires_at = 1")
        .execute(&app.db.pool)
        .await
        .unwrap();
    assert_error(
        &app.post("/api/v1/me/phone", &token, json!({"code": code}))
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "code_expired",
    );
    assert_eq!(
        app.get("/api/v1/me", &token).await.1["phone_masked"],
        "138****8000"
    );
}

#[tokio::test]
async fn support_threads_between_student_and_staff() {
    let app = TestApp::spawn().await;
    let (_, token) = student(&app, "2024001").await;
    let (_, other) = student(&app, "2024002").await;
    let (_, staff) = app.user_with("r1", &[Role::Reviewer1]).await;
    let (status, t) = app
        .post(
            "/api/v1/support/threads",
            &token,
            json!({"subject": "发票丢了", "body": "怎么办？"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{t}");
    assert_eq!(t["status"], "open");
    let id = t["id"].as_i64().unwrap();
    assert_error(
        &app.get(&format!("/api/v1/support/threads/{id}"), &other)
            .await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    assert_error(
        &app.post(
            &format!("/api/v1/support/threads/{id}/messages"),
            &other,
            json!({"body": "hi"}),
        )
        .await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    assert_eq!(
        app.get("/api/v1/support/threads", &other).await.1["items"],
        json!([])
    );
    assert_error(
        &app.post(
            "/api/v1/support/threads",
            &token,
            json!({"subject": "", "body": "x"}),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_input",
    );

    let (_, all) = app.get("/api/v1/support/threads", &staff).await;
    assert_eq!(all["items"][0]["id"], id);
    let (status, m) = app
        .post(
            &format!("/api/v1/support/threads/{id}/messages"),
            &staff,
            json!({"body": "请到受理点补办。"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{m}");
    assert_eq!(m["from_staff"], true);
    let (_, t) = app
        .get(&format!("/api/v1/support/threads/{id}"), &token)
        .await;
    assert_eq!(t["status"], "answered");
    assert_eq!(t["messages"].as_array().unwrap().len(), 2);
    let inbox = app.get("/api/v1/notifications", &token).await.1;
    assert_eq!(inbox["items"][0]["kind"], "support_reply");
    let (status, _) = app
        .post(
            &format!("/api/v1/support/threads/{id}/messages"),
            &token,
            json!({"body": "好的"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(
        app.get(&format!("/api/v1/support/threads/{id}"), &token)
            .await
            .1["status"],
        "open"
    );
}

/// The whole journey in a real Chromium at phone size: sign in, new case, record photo (shrunk
/// in the browser), two invoices with a live validation message and a server-side refusal,
/// payout preview, submit, and the case shows as submitted.
#[tokio::test]
async fn wizard_in_chromium_at_phone_size() {
    let app = TestApp::spawn().await;
    let (student_id, _) = student(&app, "2024001").await;
    let Some(b) = crate::browser::Browser::start(&app.addr, 375, 812).await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let big_photo = dir.path().join("record.jpg");
    let big = jpeg(3000, 2000);
    std::fs::write(&big_photo, &big).unwrap();
    let invoice_photo = dir.path().join("invoice.png");
    std::fs::write(&invoice_photo, png(400, 300)).unwrap();

    b.sign_in("2024001").await;
    assert_eq!(b.path().await, "/app");
    assert!(b.text("#greeting").await.contains("2024001"));
    b.click("#new-case").await;
    // Step 1: confirm the profile.
    assert!(b.text("dl.facts").await.contains("138****8000"));
    b.click("#profile-ok").await;
    // Step 2: the case.
    b.fill("#hospital", "北京大学第三医院").await;
    b.fill("#reason", "急性肠胃炎").await;
    let date = days_ago(2);
    b.script(&format!(
        "document.getElementById('visit_date').value = '{date}'; return null;"
    ))
    .await;
    b.click("#case-next").await;
    b.wait_for("location.pathname.endsWith('/records')").await;
    let case_path = b.path().await;
    let case_id: i64 = case_path.split('/').nth(3).unwrap().parse().unwrap();

    // Record photo: the browser shrinks it before upload.
    let input = b.el("#record-file").await;
    assert_eq!(
        input.attr("capture").await.unwrap().as_deref(),
        Some("environment")
    );
    input.send_keys(big_photo.to_str().unwrap()).await.unwrap();
    b.wait_for(&format!(
        "document.getElementById('record-file').files[0].size < {} && !document.getElementById('record-form').hasAttribute('data-busy')",
        big.len()
    ))
    .await;
    let sent = b
        .script("return document.getElementById('record-file').files[0].size;")
        .await;
    assert!(
        sent.as_u64().unwrap() < big.len() as u64,
        "photo shrunk before upload ({sent} bytes)"
    );
    b.click("#record-upload").await;
    b.wait_for("document.querySelectorAll('#record-list img').length === 1")
        .await;
    b.click("#records-next").await;
    b.wait_for("location.pathname.endsWith('/invoices')").await;

    // Invoice 1, with a live message for a self-paid part above the total.
    b.fill("#invoice_no", "INV-0001").await;
    b.fill("#total", "300").await;
    b.fill("#self_pay", "400").await;
    b.wait_for("document.querySelector('.field-error[data-for=self_pay]').textContent.length > 0")
        .await;
    assert_eq!(
        b.text(".field-error[data-for=self_pay]").await,
        "自费金额不能大于总金额。"
    );
    b.fill("#self_pay", "50.5").await;
    b.wait_for("document.querySelector('.field-error[data-for=self_pay]').textContent === ''")
        .await;
    assert_eq!(b.text("#covered").await, "249.50");
    b.el("#invoice-photo")
        .await
        .send_keys(invoice_photo.to_str().unwrap())
        .await
        .unwrap();
    b.wait_for("!document.getElementById('invoice-form').hasAttribute('data-busy')")
        .await;
    b.click("#invoice-save").await;
    b.wait_for("document.querySelectorAll('#invoice-list li').length === 1")
        .await;

    // Invoice 2: the same number is refused by the server with a clear message.
    b.fill("#invoice_no", "INV-0001").await;
    b.fill("#total", "200").await;
    b.el("#invoice-photo")
        .await
        .send_keys(invoice_photo.to_str().unwrap())
        .await
        .unwrap();
    b.wait_for("!document.getElementById('invoice-form').hasAttribute('data-busy')")
        .await;
    b.click("#invoice-save").await;
    b.wait_for("document.getElementById('form-error') !== null")
        .await;
    assert_eq!(
        b.text("#form-error").await,
        "该发票号码已在其他报销申请中。"
    );
    assert_eq!(
        b.el("#total").await.value().await.unwrap().as_deref(),
        Some("200"),
        "typed values kept"
    );
    b.fill("#invoice_no", "INV-0002").await;
    b.el("#invoice-photo")
        .await
        .send_keys(invoice_photo.to_str().unwrap())
        .await
        .unwrap();
    b.wait_for("!document.getElementById('invoice-form').hasAttribute('data-busy')")
        .await;
    b.click("#invoice-save").await;
    b.wait_for("document.querySelectorAll('#invoice-list li').length === 2")
        .await;
    b.click("#invoices-next").await;

    // Preview: covered 449.50, minus the 200.00 deductible, at the unrated ratio 70% = 174.65.
    b.wait_for("location.pathname.endsWith('/review')").await;
    assert_eq!(b.text("#payout-amount").await, "¥174.65");
    let overflow = b
        .script("return document.documentElement.scrollWidth;")
        .await;
    assert!(
        overflow.as_u64().unwrap() <= 375,
        "no sideways scrolling at 375 px ({overflow})"
    );
    b.click("#submit-case").await;
    b.wait_for(&format!("location.pathname === '/app/cases/{case_id}'"))
        .await;
    assert_eq!(b.text("#case-status").await, "待一级审核");
    assert!(b.text("#timeline").await.contains("提交审核"));
    b.goto("/app").await;
    assert!(b.text("#my-cases").await.contains("待一级审核"));
    b.stop().await;

    let (status, n_inv, n_rec): (String, i64, i64) = sqlx::query_as(
        "SELECT status, (SELECT COUNT(*) FROM invoices WHERE case_id = c.id), (SELECT COUNT(*) FROM case_records WHERE case_id = c.id)
         FROM cases c WHERE id = $1 AND student_id = $2",
    )
    .bind(case_id)
    .bind(student_id)
    .fetch_one(&app.db.pool)
    .await
    .unwrap();
    assert_eq!((status.as_str(), n_inv, n_rec), ("submitted", 2, 1));
    // The stored record photo is at most 4096 px and came shrunk from the browser (≤ 2560).
    let (w, h): (i64, i64) = sqlx::query_as("SELECT f.width, f.height FROM files f JOIN case_records r ON r.file_id = f.id WHERE r.case_id = $1")
        .bind(case_id)
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    assert_eq!((w, h), (2560, 1707));
}
