//! Invoice QR codes (issue 20): the code on an invoice photo is read when the photo is uploaded
//! and kept with the invoice; `POST /api/v1/invoices/scan` reads one without storing anything.
//! The photos are made here: a QR code of a real payload form (`qrcode` crate), turned by a
//! few degrees onto a noisy, unevenly lit page, saved as JPEG.

use medclaim::http::auth::Role;
use reqwest::multipart::Form;
use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::common::{TestApp, assert_error};
use crate::intake::{file_part, jpeg, multipart, new_case, student};

const FISCAL: &str = "CZ-EI-31,1.1.0,356765121,1052432406110,406210,20210124,2851.41000";
const DIGITAL: &str = "01,32,,24312000000123456789,1234.56,20240615,,B7C1";
const VAT: &str = "01,10,011001605111,80100798,64.9,20161018,85342965681116380258,BE2D";

/// How a generated photo is taken.
#[derive(Clone, Copy)]
struct Shot {
    /// Rotation of the code on the page, degrees.
    degrees: f64,
    /// Pixels per QR module.
    module: f64,
    /// Amplitude of the pixel noise (0–255).
    noise: i32,
    /// Brightness of the page, 0–1 (low light below 0.6).
    light: f64,
    jpeg_quality: u8,
}

const PLAIN: Shot = Shot {
    degrees: 7.0,
    module: 6.0,
    noise: 30,
    light: 0.9,
    jpeg_quality: 75,
};

/// A `w`×`h` JPEG "photo" of a page with `payload`'s QR code on it.
fn qr_photo(payload: &str, shot: Shot, w: u32, h: u32) -> Vec<u8> {
    let code = qrcode::QrCode::new(payload.as_bytes()).expect("payload fits a QR code");
    let modules = code.width() as f64;
    let colors = code.to_colors();
    let (cx, cy) = (f64::from(w) * 0.6, f64::from(h) * 0.4);
    let (sin, cos) = shot.degrees.to_radians().sin_cos();
    let mut seed: u32 = 0x9e37_79b9;
    let img = image::RgbImage::from_fn(w, h, |x, y| {
        // Where this pixel falls on the (unrotated) code, in modules from its centre.
        let (dx, dy) = (f64::from(x) - cx, f64::from(y) - cy);
        let u = (dx * cos + dy * sin) / shot.module + modules / 2.0;
        let v = (-dx * sin + dy * cos) / shot.module + modules / 2.0;
        let dark = u >= 0.0
            && v >= 0.0
            && u < modules
            && v < modules
            && colors[v as usize * code.width() + u as usize] == qrcode::Color::Dark;
        // Paper light falls off to the left; ink is not quite black.
        let paper = 235.0 * shot.light * (0.75 + 0.25 * f64::from(x) / f64::from(w));
        let base = if dark { 40.0 * shot.light } else { paper };
        seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        let noise = (seed >> 24) as i32 % (2 * shot.noise + 1) - shot.noise;
        let level = (base as i32 + noise).clamp(0, 255) as u8;
        image::Rgb([level, level, level.saturating_sub(8)])
    });
    let mut out = Vec::new();
    let enc = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, shot.jpeg_quality);
    image::DynamicImage::ImageRgb8(img)
        .write_with_encoder(enc)
        .unwrap();
    out
}

async fn add_invoice_photo(
    app: &TestApp,
    token: &str,
    case_id: i64,
    no: &str,
    total: &str,
    photo: Vec<u8>,
) -> Value {
    let form = Form::new()
        .text("invoice_no", no.to_string())
        .text("total_cents", total.to_string())
        .text("self_pay_cents", "0")
        .part("photo", file_part(photo, "invoice.jpg", "image/jpeg"));
    let path = format!("/api/v1/cases/{case_id}/invoices");
    let (status, body) = multipart(app, Method::POST, &path, token, form).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body
}

async fn scan(app: &TestApp, token: &str, photo: Vec<u8>) -> (StatusCode, Value) {
    let form = Form::new().part("photo", file_part(photo, "scan.jpg", "image/jpeg"));
    multipart(app, Method::POST, "/api/v1/invoices/scan", token, form).await
}

#[tokio::test]
async fn the_qr_code_of_an_uploaded_invoice_photo_is_kept_with_the_invoice() {
    let app = TestApp::spawn().await;
    let (_, token) = student(&app, "2024001").await;
    let case_id = new_case(&app, &token).await;

    let photo = qr_photo(FISCAL, PLAIN, 1600, 1200);
    let fiscal = add_invoice_photo(&app, &token, case_id, "1052432406110", "285141", photo).await;
    let qr = &fiscal["qr"];
    assert_eq!(qr["kind"], "fiscal", "{fiscal}");
    assert_eq!(qr["code"], "356765121");
    assert_eq!(qr["number"], "1052432406110");
    assert_eq!(qr["amount_cents"], 285_141);
    assert_eq!(qr["date"], "2021-01-24");
    assert_eq!(qr["check_code"], "406210");
    assert_eq!(qr["raw"], FISCAL);

    let turned = Shot {
        degrees: -12.0,
        ..PLAIN
    };
    let photo = qr_photo(DIGITAL, turned, 1400, 1000);
    let digital = add_invoice_photo(
        &app,
        &token,
        case_id,
        "24312000000123456789",
        "99900",
        photo,
    )
    .await;
    let qr = &digital["qr"];
    assert_eq!(qr["kind"], "vat", "{digital}");
    assert_eq!(qr["code"], Value::Null);
    assert_eq!(qr["number"], "24312000000123456789");
    assert_eq!(qr["amount_cents"], 123_456);
    assert_eq!(digital["total_cents"], 99_900, "the typed total stays");

    let plain = add_invoice_photo(&app, &token, case_id, "A0001", "1000", jpeg(640, 480)).await;
    assert_eq!(plain["qr"], Value::Null, "{plain}");

    // A new photo replaces what the old one said.
    let id = plain["id"].as_i64().unwrap();
    let form = Form::new().part(
        "photo",
        file_part(qr_photo(VAT, PLAIN, 1200, 900), "new.jpg", "image/jpeg"),
    );
    let path = format!("/api/v1/invoices/{id}");
    let (status, edited) = multipart(&app, Method::PATCH, &path, &token, form).await;
    assert_eq!(status, StatusCode::OK, "{edited}");
    assert_eq!(edited["qr"]["number"], "80100798");
    assert_eq!(edited["qr"]["amount_cents"], 6490);
    assert_eq!(edited["invoice_no"], "A0001", "the typed number stays");

    let case = crate::intake::case(&app, &token, case_id).await;
    let numbers: Vec<&Value> = case["invoices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| &i["qr"]["number"])
        .collect();
    assert_eq!(
        numbers,
        ["1052432406110", "24312000000123456789", "80100798"]
    );
}

#[tokio::test]
async fn scanning_answers_the_fields_and_stores_nothing() {
    let app = TestApp::spawn().await;
    let (_, token) = student(&app, "2024001").await;
    let files_before: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM files")
        .fetch_one(&app.db.pool)
        .await
        .unwrap();

    let (status, body) = scan(&app, &token, qr_photo(VAT, PLAIN, 1600, 1200)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["found"], true);
    assert_eq!(body["qr"]["kind"], "vat");
    assert_eq!(body["qr"]["code"], "011001605111");
    assert_eq!(body["qr"]["number"], "80100798");
    assert_eq!(body["qr"]["amount_cents"], 6490);
    assert_eq!(body["qr"]["date"], "2016-10-18");

    let (status, body) = scan(&app, &token, jpeg(800, 600)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["found"], false);
    assert_eq!(body["qr"], Value::Null);

    let files_after: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM files")
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    assert_eq!(files_after, files_before, "a scan stores no file");

    let form = Form::new().text("note", "no photo");
    let got = multipart(&app, Method::POST, "/api/v1/invoices/scan", &token, form).await;
    assert_error(&got, StatusCode::UNPROCESSABLE_ENTITY, "photo_required");

    let reviewer = app.person("rev1", &[Role::Reviewer1]).await;
    let (status, body) = scan(&app, &reviewer.token, qr_photo(FISCAL, PLAIN, 1200, 900)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["qr"]["amount_cents"], 285_141);

    let finance = app.person("fin", &[Role::Finance]).await;
    assert_eq!(
        scan(&app, &finance.token, jpeg(64, 48)).await.0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        scan(&app, "nobody", jpeg(64, 48)).await.0,
        StatusCode::UNAUTHORIZED
    );
}

/// The decode rate and time per photo on the generated set (recorded in docs/BENCHMARKS.md;
/// `cargo test --test it -- invoice_qr::decode_rate --nocapture` prints them).
#[test]
fn decode_rate_on_generated_photos() {
    let payloads = [FISCAL, DIGITAL, VAT];
    let shots = [
        PLAIN,
        Shot {
            degrees: 0.0,
            noise: 10,
            ..PLAIN
        },
        Shot {
            degrees: 25.0,
            ..PLAIN
        },
        Shot {
            degrees: -40.0,
            module: 8.0,
            ..PLAIN
        },
        Shot { noise: 60, ..PLAIN },
        Shot {
            light: 0.35,
            ..PLAIN
        },
        Shot {
            jpeg_quality: 30,
            ..PLAIN
        },
        Shot {
            module: 3.5,
            ..PLAIN
        },
    ];
    let mut read = 0;
    let mut total = 0;
    let mut elapsed = std::time::Duration::ZERO;
    for payload in payloads {
        for shot in shots {
            let photo = qr_photo(payload, shot, 2400, 1800);
            let started = std::time::Instant::now();
            let img = image::load_from_memory(&photo).unwrap();
            let text = medclaim::invoice_qr::decode::read_text(&img);
            elapsed += started.elapsed();
            total += 1;
            if text.as_deref() == Some(payload) {
                read += 1;
            } else {
                assert_eq!(text, None, "a code is never misread");
            }
        }
    }
    println!(
        "invoice QR decode: {read}/{total} photos read, {:.0} ms per 2400x1800 photo (decode + search)",
        elapsed.as_secs_f64() * 1000.0 / f64::from(total)
    );
    // The set is deliberately harsh (heavy noise in low light, 3.5-pixel modules): about two
    // thirds are read. Fewer means the search got worse.
    assert!(read * 3 >= total * 2, "read {read} of {total}");
}

/// A fiscal e-receipt payload numbered `no`, dated three days ago, of `amount` yuan.
fn recent_receipt(no: &str, amount: &str) -> String {
    let date = crate::intake::days_ago(3).replace('-', "");
    format!("CZ-EI-11,1.1.0,110601,{no},a1b2c3,{date},{amount}")
}

/// Submits `case_id` (which has its invoices) after adding a record photo.
async fn submit(app: &TestApp, token: &str, case_id: i64) {
    assert_eq!(
        crate::intake::add_record(app, token, case_id).await.0,
        StatusCode::CREATED
    );
    let path = format!("/api/v1/cases/{case_id}/submit");
    let (status, body) = app.post(&path, token, serde_json::json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn reviewers_see_whether_the_typed_invoice_matches_its_qr_code() {
    let app = TestApp::spawn().await;
    let (_, token) = student(&app, "2024001").await;
    let case_id = new_case(&app, &token).await;
    let photo = |payload: &str| qr_photo(payload, PLAIN, 1400, 1000);
    let same = recent_receipt("2000000001", "123.45000");
    let good = add_invoice_photo(&app, &token, case_id, "2000000001", "12345", photo(&same)).await;
    let off = recent_receipt("2000000002", "880.00000");
    let bad = add_invoice_photo(&app, &token, case_id, "2000000002", "88800", photo(&off)).await;
    submit(&app, &token, case_id).await;

    let reviewer = app.person("rev1", &[Role::Reviewer1]).await;
    let detail = crate::review::case_json(&app, &reviewer.token, case_id).await;
    let invoices = detail["invoices"].as_array().unwrap();
    assert_eq!(invoices[0]["id"], good["id"]);
    assert_eq!(invoices[0]["qr"]["number"], "2000000001");
    assert_eq!(invoices[0]["qr_differences"], serde_json::json!([]));
    assert_eq!(
        invoices[1]["qr_differences"],
        serde_json::json!([{"field": "total", "typed": "888.00", "qr": "880.00"}])
    );
    let flags: Vec<(&Value, &Value)> = detail["flags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (&f["kind"], &f["invoice_id"]))
        .collect();
    assert_eq!(flags, [(&Value::from("qr_mismatch"), &bad["id"])]);
    assert_eq!(detail["status"], "submitted", "a mismatch rejects nothing");

    // The console case page says it next to each invoice photo.
    let cookie = crate::intake::web_login(&app, "rev1").await;
    let html =
        crate::intake::page(&app, &cookie, &format!("/console/review/cases/{case_id}")).await;
    assert!(html.contains("与二维码一致"), "{html}");
    assert!(
        html.contains("填写金额 ¥888.00，二维码金额 ¥880.00"),
        "{html}"
    );

    // The same receipt typed with another number in a later claim is still a duplicate.
    let (_, other) = student(&app, "2024002").await;
    let later = new_case(&app, &other).await;
    add_invoice_photo(&app, &other, later, "9999", "12345", photo(&same)).await;
    submit(&app, &other, later).await;
    let detail = crate::review::case_json(&app, &reviewer.token, later).await;
    let kinds: Vec<(&Value, &Value)> = detail["flags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (&f["kind"], &f["other_case_ids"]))
        .collect();
    assert!(
        kinds.contains(&(
            &Value::from("duplicate_invoice_no"),
            &serde_json::json!([case_id])
        )),
        "{detail}"
    );
}
