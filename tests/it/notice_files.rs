//! Notices with an attachment (issue 17 item 8, SPEC §3 and §13): a PDF or an image sent with
//! the notice or attached later, stored like any upload, readable by every signed-in person.

use medclaim::http::auth::Role;
use reqwest::multipart::Form;
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::common::{TestApp, assert_error};
use crate::intake::{file_part, multipart, png};

const PDF: &[u8] = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF";

/// Attaches `file` to notice `id` as `token`.
async fn attach(
    app: &TestApp,
    token: &str,
    id: i64,
    file: reqwest::multipart::Part,
) -> (StatusCode, serde_json::Value) {
    let path = format!("/api/v1/admin/notices/{id}/attachment");
    multipart(
        app,
        Method::PUT,
        &path,
        token,
        Form::new().part("file", file),
    )
    .await
}

async fn fetch(app: &TestApp, token: &str, url: &str) -> (StatusCode, String, Vec<u8>) {
    crate::reports::download(app, url, token).await
}

#[tokio::test]
async fn a_notice_carries_a_pdf_or_an_image_that_every_student_can_open() {
    let app = TestApp::spawn().await;
    let admin = app.person("office", &[Role::Admin]).await;
    let student = app.student("2024001").await;
    let other = app.student("2024002").await;

    // Published with its PDF in one multipart request.
    let form = Form::new()
        .text("title", "2026 年报销须知")
        .text("body", "请阅读附件。")
        .text("priority", "5")
        .part(
            "file",
            file_part(PDF.to_vec(), "须知.pdf", "application/pdf"),
        );
    let (status, notice) = multipart(
        &app,
        Method::POST,
        "/api/v1/admin/notices",
        &admin.token,
        form,
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{notice}");
    assert_eq!(notice["file_mime"], "application/pdf");
    assert_eq!(notice["priority"], 5);
    let id = notice["id"].as_i64().unwrap();

    // Every student sees it with its file, and can open it.
    let (_, list) = app.get("/api/v1/notices", &student.token).await;
    let url = list["items"][0]["file_url"].as_str().unwrap().to_string();
    assert_eq!(list["items"][0]["file_mime"], "application/pdf");
    for reader in [&student, &other] {
        let (status, mime, bytes) = fetch(&app, &reader.token, &url).await;
        assert_eq!((status, mime.as_str()), (StatusCode::OK, "application/pdf"));
        assert_eq!(bytes, PDF);
    }

    // Replaced by an image; the old PDF is no longer the notice's.
    let (status, notice) = attach(
        &app,
        &admin.token,
        id,
        file_part(png(300, 200), "海报.png", "image/png"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{notice}");
    assert_eq!(notice["file_mime"], "image/png");
    let (status, _, _) = fetch(&app, &student.token, &url).await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "the replaced file is not readable any more"
    );
    let (status, mime, _) = fetch(&app, &other.token, notice["file_url"].as_str().unwrap()).await;
    assert_eq!((status, mime.as_str()), (StatusCode::OK, "image/png"));

    // Something that is neither: refused, the notice keeps its image.
    let form = Form::new().part(
        "file",
        file_part(b"MZ\x90\x00".to_vec(), "x.exe", "application/pdf"),
    );
    let (status, body) = multipart(
        &app,
        Method::PUT,
        &format!("/api/v1/admin/notices/{id}/attachment"),
        &admin.token,
        form,
    )
    .await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{body}");
    let (_, list) = app.get("/api/v1/notices", &student.token).await;
    assert_eq!(list["items"][0]["file_mime"], "image/png");

    // Removed.
    let (status, notice) = app
        .call(
            Method::DELETE,
            &format!("/api/v1/admin/notices/{id}/attachment"),
            Some(&admin.token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(notice["file_url"].is_null(), "{notice}");

    // Only admins attach; a notice sent as JSON still works and its body is still bounded.
    let (status, _) = attach(
        &app,
        &student.token,
        id,
        file_part(PDF.to_vec(), "a.pdf", "application/pdf"),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, plain) = app
        .post(
            "/api/v1/admin/notices",
            &admin.token,
            json!({"title": "无附件", "body": "x"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{plain}");
    assert!(plain["file_url"].is_null());
    let huge = "x".repeat(2 * 1024 * 1024);
    assert_error(
        &app.post(
            "/api/v1/admin/notices",
            &admin.token,
            json!({"title": "t", "body": huge}),
        )
        .await,
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
    );
    let form = Form::new()
        .text("title", "")
        .part("file", file_part(PDF.to_vec(), "a.pdf", "application/pdf"));
    let (status, _) = multipart(
        &app,
        Method::POST,
        "/api/v1/admin/notices",
        &admin.token,
        form,
    )
    .await;
    assert_eq!(
        status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "a bad notice stores nothing"
    );

    // Audited.
    let (_, log) = app
        .get("/api/v1/admin/audit?action=notice.attach", &admin.token)
        .await;
    assert_eq!(log["items"].as_array().unwrap().len(), 2, "{log}");
}

#[tokio::test]
async fn the_console_attaches_a_file_and_the_student_home_links_it() {
    let app = TestApp::spawn().await;
    let admin = app.person("office", &[Role::Admin]).await;
    let (status, notice) = app
        .post(
            "/api/v1/admin/notices",
            &admin.token,
            json!({"title": "体检通知", "body": "见附件"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let id = notice["id"].as_i64().unwrap();
    app.student("2024001").await;

    let cookie = crate::intake::web_login(&app, "office").await;
    let edit = crate::intake::page(&app, &cookie, &format!("/console/notices/{id}")).await;
    let csrf = edit
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .unwrap()
        .to_string();
    let form = Form::new().text("csrf", csrf).part(
        "file",
        file_part(PDF.to_vec(), "体检.pdf", "application/pdf"),
    );
    let resp = app
        .client
        .post(app.url(&format!("/console/notices/{id}/attachment")))
        .header("cookie", &cookie)
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let edit = crate::intake::page(&app, &cookie, &format!("/console/notices/{id}")).await;
    assert!(edit.contains("id=\"notice-attachment\""), "{edit}");

    let student = crate::intake::web_login(&app, "2024001").await;
    let home = crate::intake::page(&app, &student, "/app").await;
    assert!(
        home.contains("class=\"notice-attachment\"") && home.contains("下载附件（PDF）"),
        "{home}"
    );
}
