//! Staff answer support threads from the console; the student sees the answer.

use medclaim::http::auth::Role;
use reqwest::StatusCode;
use serde_json::json;

use crate::common::TestApp;
use crate::intake::{page, web_login};

#[tokio::test]
async fn staff_answer_a_thread_from_the_console() {
    let app = TestApp::spawn().await;
    let (_, student) = app.user_with("2024001", &[Role::Student]).await;
    app.create_user("desk", "王老师", &[Role::Reviewer1]).await;
    let (status, thread) = app
        .post(
            "/api/v1/support/threads",
            &student,
            json!({"subject": "报销进度<script>", "body": "请问多久到账？"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{thread}");
    let id = thread["id"].as_i64().unwrap();

    let cookie = web_login(&app, "desk").await;
    let list = page(&app, &cookie, "/console/support").await;
    assert!(
        list.contains("报销进度&#60;script&#62;"),
        "subject shown escaped: {list}"
    );
    assert!(!list.contains("<script>"), "no raw script tag");
    assert!(list.contains("待回复"));
    let html = page(&app, &cookie, &format!("/console/support/{id}")).await;
    assert!(html.contains("请问多久到账？"));
    let csrf = html
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_string();

    // Without the CSRF token nothing is written.
    let resp = app
        .client
        .post(app.url(&format!("/console/support/{id}")))
        .header(reqwest::header::COOKIE, &cookie)
        .form(&[("csrf", "forged"), ("body", "x")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    // An empty reply is refused with a message.
    let resp = app
        .client
        .post(app.url(&format!("/console/support/{id}")))
        .header(reqwest::header::COOKIE, &cookie)
        .form(&[("csrf", csrf.as_str()), ("body", "   ")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let resp = app
        .client
        .post(app.url(&format!("/console/support/{id}")))
        .header(reqwest::header::COOKIE, &cookie)
        .form(&[
            ("csrf", csrf.as_str()),
            ("body", "审核通过后 5 个工作日内到账。"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);

    let (_, view) = app
        .get(&format!("/api/v1/support/threads/{id}"), &student)
        .await;
    assert_eq!(view["status"], "answered", "{view}");
    let messages = view["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 2);
    assert_eq!(messages[1]["from_staff"], true);
    let (_, inbox) = app.get("/api/v1/notifications", &student).await;
    assert!(inbox.to_string().contains("5 个工作日"), "{inbox}");

    // A student cannot use the console page.
    let student_cookie = web_login(&app, "2024001").await;
    let resp = app
        .client
        .get(app.url("/console/support"))
        .header(reqwest::header::COOKIE, &student_cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::FORBIDDEN, "the one 403 page");
}
