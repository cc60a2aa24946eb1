//! Claims intake (issue 3): cases, record photos, invoices, the rules and their error codes,
//! uploads, notices, inbox, phone change, support threads and the student pages.

use medclaim::http::auth::Role;
use reqwest::multipart::{Form, Part};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::common::{TestApp, assert_error};

mod cases;
mod messages;
mod pages;
mod uploads;

pub fn today() -> chrono::NaiveDate {
    chrono::Utc::now()
        .with_timezone(&chrono_tz::Asia::Shanghai)
        .date_naive()
}

pub fn days_ago(n: i64) -> String {
    (today() - chrono::Duration::days(n))
        .format("%Y-%m-%d")
        .to_string()
}

/// A covered student, signed in: (id, token). See [`TestApp::student`].
pub async fn student(app: &TestApp, username: &str) -> (i64, String) {
    let me = app.student(username).await;
    (me.id, me.token)
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

pub fn file_part(bytes: Vec<u8>, name: &str, mime: &str) -> Part {
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

pub async fn case(app: &TestApp, token: &str, id: i64) -> Value {
    let (status, body) = app.get(&format!("/api/v1/cases/{id}"), token).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
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
    let (status, html) = app.page(cookie, path).await;
    assert_eq!(status, StatusCode::OK, "{path}");
    html
}
