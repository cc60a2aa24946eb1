//! Branding (issue 17 item 8): the admin sets the university's and the office's names, contact
//! and logo; the login page, the console, the student pages and the exports show them.

use std::io::Read;

use medclaim::http::auth::Role;
use reqwest::multipart::Form;
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::common::{TestApp, assert_error};
use crate::intake::{file_part, multipart, png};

fn branding() -> serde_json::Value {
    json!({
        "university_name": "示范大学",
        "office_name": "校医院医保办公室",
        "address": "校医院二楼 203 室",
        "opening_hours": "工作日 8:30–11:30, 14:00–17:00",
        "phone": "010-6275 0000",
    })
}

async fn public_page(app: &TestApp, path: &str) -> (StatusCode, String) {
    let resp = app.client.get(app.url(path)).send().await.unwrap();
    (resp.status(), resp.text().await.unwrap())
}

#[tokio::test]
async fn the_admin_sets_names_contact_and_logo_and_every_page_shows_them() {
    let app = TestApp::spawn().await;
    let admin = app.person("office", &[Role::Admin]).await;
    let finance = app.person("fin", &[Role::Finance]).await;
    app.student("2024001").await;

    // Nothing set: the product's own name and logo.
    let (_, login) = public_page(&app, "/login").await;
    assert!(!login.contains("id=\"org-name\"") && login.contains("/static/logo.svg"));
    let (status, _) = public_page(&app, "/branding/logo").await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let (status, b) = app
        .call(
            Method::PUT,
            "/api/v1/admin/branding",
            Some(&admin.token),
            Some(branding()),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{b}");
    assert_eq!(b["university_name"], "示范大学");
    let (_, got) = app.get("/api/v1/admin/branding", &admin.token).await;
    assert_eq!(got["phone"], "010-6275 0000");
    assert_eq!(got["has_logo"], false);
    // Bounded, NUL-free, admins only.
    let mut long = branding();
    long["phone"] = json!("1".repeat(51));
    assert_error(
        &app.call(
            Method::PUT,
            "/api/v1/admin/branding",
            Some(&admin.token),
            Some(long),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_input",
    );
    assert_error(
        &app.call(
            Method::PUT,
            "/api/v1/admin/branding",
            Some(&finance.token),
            Some(branding()),
        )
        .await,
        StatusCode::FORBIDDEN,
        "forbidden",
    );

    // The logo: an image only, public at /branding/logo.
    let form = Form::new().part(
        "file",
        file_part(b"%PDF-1.4\n%%EOF".to_vec(), "x.pdf", "application/pdf"),
    );
    let (status, _) = multipart(
        &app,
        Method::PUT,
        "/api/v1/admin/branding/logo",
        &admin.token,
        form,
    )
    .await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let form = Form::new().part("file", file_part(png(120, 120), "logo.png", "image/png"));
    let (status, b) = multipart(
        &app,
        Method::PUT,
        "/api/v1/admin/branding/logo",
        &admin.token,
        form,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{b}");
    assert_eq!(b["has_logo"], true);
    let resp = app
        .client
        .get(app.url("/branding/logo"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["content-type"], "image/png");

    // The login page, the console header, the student home and the booking page.
    let (_, login) = public_page(&app, "/login").await;
    assert!(login.contains("示范大学 · 校医院医保办公室"), "{login}");
    assert!(login.contains("src=\"/branding/logo\""));
    assert!(login.contains("校医院二楼 203 室") && login.contains("tel:010-6275 0000"));
    let cookie = crate::intake::web_login(&app, "office").await;
    let console = crate::intake::page(&app, &cookie, "/console").await;
    assert!(
        console.contains("<span id=\"org-name\">示范大学 · 校医院医保办公室</span>"),
        "{console}"
    );
    let student = crate::intake::web_login(&app, "2024001").await;
    let home = crate::intake::page(&app, &student, "/app").await;
    assert!(
        home.contains("id=\"office-contact\"") && home.contains("工作日 8:30–11:30"),
        "{home}"
    );
    let booking = crate::intake::page(&app, &student, "/app/booking").await;
    assert!(booking.contains("校医院二楼 203 室"), "{booking}");

    // The exports name the university: workbook company and the print header.
    let (status, _, bytes) =
        crate::reports::download(&app, "/api/v1/reports/payouts.xlsx", &finance.token).await;
    assert_eq!(status, StatusCode::OK);
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
    let mut part = |name: &str| {
        let mut s = String::new();
        zip.by_name(name).unwrap().read_to_string(&mut s).unwrap();
        s
    };
    assert!(part("docProps/app.xml").contains("<Company>示范大学 · 校医院医保办公室</Company>"));
    assert!(part("xl/worksheets/sheet1.xml").contains("&amp;C示范大学 · 校医院医保办公室"));

    // Removing the logo brings the product's back; every change is audited.
    let (status, b) = app
        .call(
            Method::DELETE,
            "/api/v1/admin/branding/logo",
            Some(&admin.token),
            None,
        )
        .await;
    assert_eq!(
        (status, b["has_logo"].as_bool()),
        (StatusCode::OK, Some(false))
    );
    let (status, _) = public_page(&app, "/branding/logo").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, log) = app
        .get("/api/v1/admin/audit?action=branding.update", &admin.token)
        .await;
    assert!(
        log["items"][0]["summary"]
            .as_str()
            .unwrap()
            .contains("-> 示范大学 / 校医院医保办公室"),
        "{log}"
    );
}

/// The console page in Chromium: the admin fills in the names and uploads a logo.
#[tokio::test]
async fn the_console_page_sets_the_branding() {
    let app = TestApp::spawn().await;
    app.person("office", &[Role::Admin]).await;
    let Some(b) = crate::browser::Browser::start(&app.addr, 1280, 900).await else {
        return;
    };
    b.sign_in("office").await;
    b.goto("/console/branding").await;
    b.assert_accessible("branding console").await;
    b.fill("input[name=university_name]", "示范大学").await;
    b.fill("input[name=office_name]", "医保办").await;
    b.fill("input[name=opening_hours]", "工作日 9:00–17:00")
        .await;
    b.click("#branding-form button[type=submit]").await;
    b.wait_for("location.search.includes('ok=saved')").await;
    assert!(b.text("#org-name").await.contains("示范大学 · 医保办"));
    let dir = tempfile::tempdir().unwrap();
    let logo = dir.path().join("logo.png");
    std::fs::write(&logo, png(64, 64)).unwrap();
    b.el("#logo-form input[type=file]")
        .await
        .send_keys(logo.to_str().unwrap())
        .await
        .unwrap();
    b.click("#logo-form button[type=submit]").await;
    b.wait_for("location.search.includes('ok=logo_saved')")
        .await;
    assert_eq!(
        b.el("#logo-preview")
            .await
            .attr("src")
            .await
            .unwrap()
            .as_deref(),
        Some("/branding/logo")
    );
    b.stop().await;
}
