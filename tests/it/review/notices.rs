//! Notices an administrator publishes, edits and expires.

use reqwest::{Method, StatusCode};
use serde_json::json;

use super::*;
use crate::common::{TestApp, assert_error};

#[tokio::test]
async fn notices_are_published_edited_and_expired_safely() {
    let app = TestApp::spawn().await;
    let t = team(&app).await;
    let body = json!({"title": "关于2026年报销安排", "body": "**截止** 12月20日\n\n<script>alert(1)</script>", "priority": 5, "valid_until": "2099-12-31"});
    assert_error(
        &app.post("/api/v1/admin/notices", &t.r1.token, body.clone())
            .await,
        StatusCode::FORBIDDEN,
        "forbidden",
    );
    assert_error(
        &app.post(
            "/api/v1/admin/notices",
            &t.admin.token,
            json!({"title": "", "body": "x"}),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_input",
    );
    assert_error(
        &app.post(
            "/api/v1/admin/notices",
            &t.admin.token,
            json!({"title": "t", "body": "x", "valid_until": "soon"}),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_input",
    );
    let (st, n) = app
        .post("/api/v1/admin/notices", &t.admin.token, body)
        .await;
    assert_eq!(st, StatusCode::CREATED, "{n}");
    assert!(
        n["body_html"]
            .as_str()
            .unwrap()
            .contains("<strong>截止</strong>"),
        "{n}"
    );
    assert!(!n["body_html"].as_str().unwrap().contains("<script"), "{n}");
    assert_eq!(n["expired"], false);
    // End of that day in Asia/Shanghai.
    assert_eq!(n["valid_until"], "2099-12-31T15:59:59Z");
    let id = n["id"].as_i64().unwrap();
    let (st, n) = app
        .call(
            Method::PATCH,
            &format!("/api/v1/admin/notices/{id}"),
            Some(&t.admin.token),
            Some(json!({"title": "报销安排（更新）"})),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{n}");
    assert_eq!(n["title"], "报销安排（更新）");
    assert_eq!(n["priority"], 5);
    let (st, n) = app
        .post(
            &format!("/api/v1/admin/notices/{id}/expire"),
            &t.admin.token,
            json!({}),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{n}");
    assert_eq!(n["expired"], true);
    let (_, list) = app.get("/api/v1/admin/notices", &t.admin.token).await;
    assert_eq!(list["items"][0]["id"], id);
    assert_error(
        &app.post(
            "/api/v1/admin/notices/99999/expire",
            &t.admin.token,
            json!({}),
        )
        .await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
}
