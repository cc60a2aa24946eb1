//! The invoice date (开票日期, issue 20): typed by the student or taken from the photo's QR code,
//! checked like the visit date, compared by the reviewer's QR check; and the prefill scan, which
//! has an allowance of its own and does not spend the student's uploads.

use reqwest::multipart::Form;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::common::{Options, TestApp, assert_error};
use crate::intake::{days_ago, file_part, jpeg, multipart, new_case, student};
use crate::invoice_qr::{FISCAL, PLAIN, qr_photo, scan, submit};

/// A fiscal e-receipt numbered `no` of `amount` yuan, dated `days` days ago.
fn receipt(no: &str, amount: &str, days: i64) -> String {
    let date = days_ago(days).replace('-', "");
    format!("CZ-EI-11,1.1.0,110601,{no},a1b2c3,{date},{amount}")
}

/// Adds an invoice through the API: `date` as `invoice_date` when given.
async fn add_invoice(
    app: &TestApp,
    token: &str,
    case_id: i64,
    no: &str,
    total_cents: &str,
    date: Option<&str>,
    photo: Vec<u8>,
) -> (StatusCode, Value) {
    let mut form = Form::new()
        .text("invoice_no", no.to_string())
        .text("total_cents", total_cents.to_string())
        .text("self_pay_cents", "0");
    if let Some(d) = date {
        form = form.text("invoice_date", d.to_string());
    }
    let form = form.part("photo", file_part(photo, "invoice.jpg", "image/jpeg"));
    let path = format!("/api/v1/cases/{case_id}/invoices");
    multipart(app, Method::POST, &path, token, form).await
}

fn created(got: (StatusCode, Value)) -> Value {
    assert_eq!(got.0, StatusCode::CREATED, "{}", got.1);
    got.1
}

#[tokio::test]
async fn the_invoice_date_is_a_real_date_within_the_claim_window() {
    let app = TestApp::spawn().await;
    let (_, token) = student(&app, "2024001").await;
    let case_id = new_case(&app, &token).await;

    let two_days = days_ago(2);
    let dated = created(
        add_invoice(
            &app,
            &token,
            case_id,
            "D-1",
            "1000",
            Some(&two_days),
            jpeg(320, 240),
        )
        .await,
    );
    assert_eq!(dated["invoice_date"], two_days.as_str(), "{dated}");
    let undated =
        created(add_invoice(&app, &token, case_id, "D-2", "1000", None, jpeg(320, 240)).await);
    assert_eq!(
        undated["invoice_date"],
        Value::Null,
        "no date, no code: none"
    );
    let empty = created(
        add_invoice(
            &app,
            &token,
            case_id,
            "D-3",
            "1000",
            Some(" "),
            jpeg(320, 240),
        )
        .await,
    );
    assert_eq!(
        empty["invoice_date"],
        Value::Null,
        "an empty field is no date"
    );

    let tomorrow = days_ago(-1);
    let too_old = days_ago(366);
    for bad in ["2026-02-30", "2026/01/05", "yesterday", &tomorrow, &too_old] {
        let got = add_invoice(
            &app,
            &token,
            case_id,
            "D-X",
            "1000",
            Some(bad),
            jpeg(320, 240),
        )
        .await;
        assert_error(
            &got,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_invoice_date",
        );
        assert!(
            got.1["error"]["fields"]["invoice_date"].is_string(),
            "{bad}: {}",
            got.1
        );
    }
    let case = crate::intake::case(&app, &token, case_id).await;
    assert_eq!(
        case["invoices"].as_array().unwrap().len(),
        3,
        "refused ones add nothing"
    );

    // JSON edits: a date sets it, `null` clears it, leaving it out keeps it.
    let path = format!("/api/v1/invoices/{}", dated["id"]);
    let patch = |body: Value| app.call(Method::PATCH, &path, Some(&token), Some(body));
    let five_days = days_ago(5);
    let got = patch(json!({"invoice_date": five_days})).await;
    assert_eq!(got.0, StatusCode::OK, "{}", got.1);
    assert_eq!(got.1["invoice_date"], five_days.as_str());
    let got = patch(json!({"total_cents": 1200})).await;
    assert_eq!(got.1["invoice_date"], five_days.as_str(), "{}", got.1);
    for bad in [json!("2025-13-01"), json!(20250101), json!(tomorrow)] {
        let got = patch(json!({"invoice_date": bad})).await;
        assert_error(
            &got,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_invoice_date",
        );
    }
    let got = patch(json!({"invoice_date": null})).await;
    assert_eq!(got.0, StatusCode::OK, "{}", got.1);
    assert_eq!(got.1["invoice_date"], Value::Null);

    // On the student's page the form comes back with the message, in either language, and
    // the date field keeps what was typed.
    let cookie = crate::intake::web_login(&app, "2024001").await;
    let html = crate::intake::page(&app, &cookie, &format!("/app/cases/{case_id}/invoices")).await;
    let at = html.find("name=\"csrf\" value=\"").expect("a CSRF field") + 19;
    let csrf = html[at..].split('"').next().unwrap().to_string();
    for (lang, message) in [
        ("zh-CN", "开票日期应为有效日期"),
        ("en", "The invoice date must be a valid date"),
    ] {
        let form = Form::new()
            .text("csrf", csrf.clone())
            .text("invoice_no", "D-P")
            .text("total", "10.00")
            .text("self_pay", "")
            .text("invoice_date", tomorrow.clone())
            .part(
                "photo",
                file_part(jpeg(320, 240), "invoice.jpg", "image/jpeg"),
            );
        let resp = app
            .client
            .post(app.url(&format!("/app/cases/{case_id}/invoices")))
            .header(
                reqwest::header::COOKIE,
                format!("{cookie}; medclaim_lang={lang}"),
            )
            .multipart(form)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY, "{lang}");
        let html = resp.text().await.unwrap();
        assert!(html.contains(message), "{lang}: {html}");
        assert!(
            html.contains(&format!("value=\"{tomorrow}\"")),
            "{lang}: the typed date is kept"
        );
    }
}

#[tokio::test]
async fn the_qr_date_fills_an_empty_invoice_date_and_the_reviewer_sees_a_different_one() {
    let app = TestApp::spawn().await;
    let (_, token) = student(&app, "2024001").await;
    let case_id = new_case(&app, &token).await; // visited three days ago
    let photo = |payload: &str| qr_photo(payload, PLAIN, 1400, 1000);

    // Left empty: the QR's date is stored.
    let from_qr = created(
        add_invoice(
            &app,
            &token,
            case_id,
            "3000000001",
            "12345",
            None,
            photo(&receipt("3000000001", "123.45000", 3)),
        )
        .await,
    );
    assert_eq!(from_qr["invoice_date"], days_ago(3).as_str(), "{from_qr}");
    assert_eq!(from_qr["qr"]["date"], days_ago(3).as_str());
    // Typed: the student's date stays, even where the QR says otherwise.
    let typed = days_ago(4);
    let retyped = created(
        add_invoice(
            &app,
            &token,
            case_id,
            "3000000002",
            "5000",
            Some(&typed),
            photo(&receipt("3000000002", "50.00000", 2)),
        )
        .await,
    );
    assert_eq!(retyped["invoice_date"], typed.as_str(), "{retyped}");
    // A QR date outside the claim window is not taken (the invoice still is).
    let ancient = created(
        add_invoice(
            &app,
            &token,
            case_id,
            "1052432406110",
            "285141",
            None,
            photo(FISCAL),
        )
        .await,
    );
    assert_eq!(ancient["invoice_date"], Value::Null, "{ancient}");
    assert_eq!(ancient["qr"]["date"], "2021-01-24");
    // Within the window but 60 days before the visit: stored, and pointed out against the visit.
    let early = created(
        add_invoice(
            &app,
            &token,
            case_id,
            "3000000004",
            "700",
            None,
            photo(&receipt("3000000004", "7.00000", 63)),
        )
        .await,
    );
    assert_eq!(early["invoice_date"], days_ago(63).as_str(), "{early}");
    submit(&app, &token, case_id).await;

    let reviewer = app
        .person("rev1", &[medclaim::http::auth::Role::Reviewer1])
        .await;
    let detail = crate::review::case_json(&app, &reviewer.token, case_id).await;
    let invoices = detail["invoices"].as_array().unwrap();
    let by_no = |no: &str| invoices.iter().find(|i| i["invoice_no"] == no).unwrap();
    assert_eq!(by_no("3000000001")["invoice_date"], days_ago(3).as_str());
    assert_eq!(by_no("3000000001")["qr_differences"], json!([]));
    assert_eq!(
        by_no("3000000002")["qr_differences"],
        json!([{"field": "invoice_date", "typed": typed, "qr": days_ago(2)}])
    );
    assert_eq!(
        by_no("3000000004")["qr_differences"],
        json!([{"field": "date", "typed": days_ago(3), "qr": days_ago(63)}])
    );
    let mut flagged: Vec<i64> = detail["flags"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["kind"] == "qr_mismatch")
        .map(|f| f["invoice_id"].as_i64().unwrap())
        .collect();
    flagged.sort();
    let ids = |no: &str| by_no(no)["id"].as_i64().unwrap();
    // The 2021 receipt is also far from the visit: flagged like the early one.
    let mut expected = vec![ids("3000000002"), ids("1052432406110"), ids("3000000004")];
    expected.sort();
    assert_eq!(flagged, expected, "{detail}");
    assert_eq!(detail["status"], "submitted", "a mismatch rejects nothing");

    // The console page shows each invoice's date and says where it differs.
    let cookie = crate::intake::web_login(&app, "rev1").await;
    let html =
        crate::intake::page(&app, &cookie, &format!("/console/review/cases/{case_id}")).await;
    assert!(
        html.contains(&format!("开票日期 {}", days_ago(3))),
        "{html}"
    );
    assert!(
        html.contains(&format!(
            "填写开票日期 {typed}，二维码开票日期 {}",
            days_ago(2)
        )),
        "{html}"
    );
    assert!(html.contains("与二维码一致"), "{html}");
}

#[tokio::test]
async fn scanning_has_its_own_allowance_and_does_not_use_up_uploads() {
    let app = TestApp::spawn_with(Options {
        configure: Some(Box::new(|s: &mut medclaim::Settings| {
            s.uploads_per_minute = 1;
            s.upload_burst = 2;
            s.scans_per_minute = 1;
            s.scan_burst = 5;
        })),
        ..Options::default()
    })
    .await;
    let (_, token) = student(&app, "2024001").await;
    let case_id = new_case(&app, &token).await;
    let photo = qr_photo(&receipt("3000000101", "9.90000", 3), PLAIN, 1200, 900);

    // Five scans, more than the two uploads allowed at once: all answered.
    for n in 0..5 {
        let (status, body) = scan(&app, &token, photo.clone()).await;
        assert_eq!(status, StatusCode::OK, "scan {n}: {body}");
        assert_eq!(body["qr"]["number"], "3000000101");
    }
    // The scans' own bucket is bounded.
    let got = scan(&app, &token, photo.clone()).await;
    assert_error(&got, StatusCode::TOO_MANY_REQUESTS, "rate_limited");
    // The uploads' allowance is whole: two invoices go in, the third waits.
    for no in ["3000000101", "3000000102"] {
        let got = add_invoice(&app, &token, case_id, no, "990", None, photo.clone()).await;
        assert_eq!(got.0, StatusCode::CREATED, "{no}: {}", got.1);
    }
    let got = add_invoice(&app, &token, case_id, "3000000103", "990", None, photo).await;
    assert_error(&got, StatusCode::TOO_MANY_REQUESTS, "rate_limited");
}
