//! Notices, the inbox, the phone change by SMS code and support threads.

use super::*;
use crate::fixtures::{Person, inv, rated};

#[tokio::test]
async fn notices_list_valid_ones_by_priority_then_newest() {
    let app = TestApp::spawn().await;
    let (_, token) = student(&app, "2024001").await;
    let now = medclaim::db::now_ms();
    // Written directly: the API publishes a notice now, and this test needs notices published
    // at chosen moments (one still in the future) and one already expired.
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

/// `student`'s case is returned to them by a level-1 reviewer with `reason` (each return
/// notifies the student); the case is submitted again, ready for the next return.
async fn returned_with(
    app: &TestApp,
    student: &Person,
    reviewer: &Person,
    case: i64,
    reason: &str,
) {
    app.return_case(reviewer, case, 1, reason).await;
    app.submit(student, case).await;
}

#[tokio::test]
async fn inbox_pages_counts_unread_and_marks_read() {
    let app = TestApp::spawn().await;
    let me = app.student("2024001").await;
    let other = app.student("2024002").await;
    let token = me.token.clone();
    let other_token = other.token.clone();
    let (reviewer, _) = app.fixture_reviewers().await;
    let mine = app
        .submitted_case(&me, rated(Some(3)), &[inv("M-1", 10_000, 0)])
        .await;
    for n in 0..5 {
        returned_with(&app, &me, &reviewer, mine.id, &format!("mine {n}")).await;
    }
    let theirs = app
        .submitted_case(&other, rated(Some(3)), &[inv("T-1", 10_000, 0)])
        .await;
    returned_with(&app, &other, &reviewer, theirs.id, "theirs").await;
    let (status, first) = app.get("/api/v1/notifications?limit=3", &token).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(first["unread"], 5);
    // Which return each message tells of (its reason is in the body).
    let titles = |v: &Value| {
        v["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| {
                let body = n["body"].as_str().unwrap();
                let at = body.find("mine ").expect("the reason in the body");
                body[at..at + 6].to_string()
            })
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
    let (recipient, payload): (Option<String>, medclaim::seal::Sealed) = sqlx::query_as(
        "SELECT recipient, payload FROM outbox WHERE channel = 'sms' ORDER BY id DESC LIMIT 1",
    )
    .fetch_one(&app.db.pool)
    .await
    .unwrap();
    let payload = payload.0;
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
