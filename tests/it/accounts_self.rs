//! Issue 16 item 2: a forgotten password reset with a code by SMS, changing one's password, and
//! one's sessions (list, sign out one, sign out everywhere else), over the API and the pages.

use medclaim::http::auth::Role;
use reqwest::header::{COOKIE, SET_COOKIE, USER_AGENT};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::common::{PASSWORD, TestApp, assert_error};
use crate::intake::web_login;

const NEW_PASSWORD: &str = "a much better secret";
const IPHONE: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 \
                      (KHTML, like Gecko) Mobile/15E148 MicroMessenger/8.0.40";

async fn sign_in(app: &TestApp, username: &str, password: &str) -> (StatusCode, Value) {
    app.call(
        Method::POST,
        "/api/v1/auth/login",
        None,
        Some(json!({"username": username, "password": password})),
    )
    .await
}

async fn login_with(app: &TestApp, username: &str, password: &str) -> String {
    let (status, body) = sign_in(app, username, password).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["token"].as_str().unwrap().to_string()
}

async fn token_works(app: &TestApp, token: &str) -> bool {
    match app.get("/api/v1/me", token).await.0 {
        StatusCode::OK => true,
        StatusCode::UNAUTHORIZED => false,
        other => panic!("GET /api/v1/me answered {other}"),
    }
}

async fn start_reset(app: &TestApp, username: &str) -> StatusCode {
    app.call(
        Method::POST,
        "/api/v1/auth/password-reset/start",
        None,
        Some(json!({ "username": username })),
    )
    .await
    .0
}

async fn reset(app: &TestApp, username: &str, code: &str, password: &str) -> (StatusCode, Value) {
    app.call(
        Method::POST,
        "/api/v1/auth/password-reset",
        None,
        Some(json!({"username": username, "code": code, "password": password})),
    )
    .await
}

/// The SMS messages queued for `user_id`, newest first: the code each carries.
async fn codes_sent_to(app: &TestApp, user_id: i64) -> Vec<String> {
    let rows: Vec<medclaim::seal::Sealed> = sqlx::query_scalar(
        "SELECT payload FROM outbox WHERE channel = 'sms' AND user_id = $1 ORDER BY id DESC",
    )
    .bind(user_id)
    .fetch_all(&app.db.pool)
    .await
    .unwrap();
    rows.into_iter()
        .map(|payload| {
            let v: Value = serde_json::from_str(&payload.0).unwrap();
            let text = v["text"].as_str().unwrap();
            assert!(!text.contains("13800138000"), "no phone number in the text");
            text.chars()
                .filter(|c| c.is_ascii_digit())
                .take(6)
                .collect()
        })
        .collect()
}

async fn sms_count(app: &TestApp) -> i64 {
    sqlx::query_scalar("SELECT COUNT(*) FROM outbox WHERE channel = 'sms'")
        .fetch_one(&app.db.pool)
        .await
        .unwrap()
}

/// A new code for `username` now, as if the last one was asked for long ago.
async fn fresh_code(app: &TestApp, user_id: i64, username: &str) -> String {
    sqlx::query("UPDATE password_resets SET created_at = created_at - 3600000")
        .execute(&app.db.pool)
        .await
        .unwrap();
    assert_eq!(start_reset(app, username).await, StatusCode::ACCEPTED);
    codes_sent_to(app, user_id).await.remove(0)
}

fn other_than(code: &str) -> &'static str {
    if code == "000000" { "111111" } else { "000000" }
}

#[tokio::test]
async fn asking_for_a_reset_code_answers_alike_and_texts_only_a_real_account() {
    let app = TestApp::spawn().await;
    let id = app.create_user("2024001", "张三", &[Role::Student]).await;
    for username in ["2024001", "9999999", "not a name!"] {
        assert_eq!(
            start_reset(&app, username).await,
            StatusCode::ACCEPTED,
            "{username}"
        );
    }
    assert_eq!(sms_count(&app).await, 1, "one SMS, to the real account");
    let codes = codes_sent_to(&app, id).await;
    assert_eq!(codes.len(), 1);
    assert_eq!(codes[0].len(), 6);
    let stored: String = sqlx::query_scalar("SELECT secret_hash FROM password_resets")
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    assert!(
        !stored.contains(&codes[0]),
        "only a hash of the code is kept"
    );
    // Asking again at once still answers 202, but sends nothing (one code a minute).
    assert_eq!(start_reset(&app, "2024001").await, StatusCode::ACCEPTED);
    assert_eq!(sms_count(&app).await, 1);
}

#[tokio::test]
async fn a_reset_code_works_once_and_ends_every_session() {
    let app = TestApp::spawn().await;
    let id = app.create_user("2024001", "张三", &[Role::Student]).await;
    let phone = app.login("2024001").await;
    let laptop = app.login("2024001").await;
    assert_eq!(start_reset(&app, "2024001").await, StatusCode::ACCEPTED);
    let code = codes_sent_to(&app, id).await.remove(0);

    assert_error(
        &reset(&app, "2024001", &code, "short").await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "weak_password",
    );
    let (status, body) = reset(&app, "2024001", &code, NEW_PASSWORD).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    assert!(!token_works(&app, &phone).await, "old sessions end");
    assert!(!token_works(&app, &laptop).await);
    assert_error(
        &sign_in(&app, "2024001", PASSWORD).await,
        StatusCode::UNAUTHORIZED,
        "invalid_credentials",
    );
    let (status, body) = sign_in(&app, "2024001", NEW_PASSWORD).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // Used once: not again.
    assert_error(
        &reset(&app, "2024001", &code, "yet another secret").await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "code_invalid",
    );
    assert_eq!(
        sign_in(&app, "2024001", NEW_PASSWORD).await.0,
        StatusCode::OK
    );
}

#[tokio::test]
async fn wrong_expired_and_too_many_codes_are_refused() {
    let app = TestApp::spawn().await;
    let id = app.create_user("2024001", "张三", &[Role::Student]).await;
    let token = app.login("2024001").await;
    assert_eq!(start_reset(&app, "2024001").await, StatusCode::ACCEPTED);
    let code = codes_sent_to(&app, id).await.remove(0);
    assert_error(
        &reset(&app, "2024001", other_than(&code), NEW_PASSWORD).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "code_invalid",
    );
    assert_error(
        &reset(&app, "9999999", &code, NEW_PASSWORD).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "code_invalid",
    );
    sqlx::query("UPDATE password_resets SET expires_at = 1")
        .execute(&app.db.pool)
        .await
        .unwrap();
    assert_error(
        &reset(&app, "2024001", &code, NEW_PASSWORD).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "code_expired",
    );

    // Five wrong tries spend a code: after them even the right one is refused.
    let code = fresh_code(&app, id, "2024001").await;
    for _ in 0..5 {
        assert_error(
            &reset(&app, "2024001", other_than(&code), NEW_PASSWORD).await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "code_invalid",
        );
    }
    assert_error(
        &reset(&app, "2024001", &code, NEW_PASSWORD).await,
        StatusCode::TOO_MANY_REQUESTS,
        "too_many_attempts",
    );
    assert!(token_works(&app, &token).await, "nothing changed");
    assert_eq!(sign_in(&app, "2024001", PASSWORD).await.0, StatusCode::OK);
    // A new code works again.
    let code = fresh_code(&app, id, "2024001").await;
    assert_eq!(
        reset(&app, "2024001", &code, NEW_PASSWORD).await.0,
        StatusCode::NO_CONTENT
    );
}

#[tokio::test]
async fn changing_the_password_keeps_this_session_and_ends_the_others() {
    let app = TestApp::spawn().await;
    app.create_user("2024001", "张三", &[Role::Student]).await;
    let here = app.login("2024001").await;
    let elsewhere = app.login("2024001").await;
    let change = |current: &'static str, new: &'static str| {
        let here = here.clone();
        let app = &app;
        async move {
            app.post(
                "/api/v1/me/password",
                &here,
                json!({"current_password": current, "new_password": new}),
            )
            .await
        }
    };
    assert_error(
        &change("not my password", NEW_PASSWORD).await,
        StatusCode::UNAUTHORIZED,
        "invalid_credentials",
    );
    assert_error(
        &change(PASSWORD, "short").await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "weak_password",
    );
    assert!(token_works(&app, &elsewhere).await, "nothing changed yet");
    let (status, body) = change(PASSWORD, NEW_PASSWORD).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    assert!(token_works(&app, &here).await, "this session stays");
    assert!(!token_works(&app, &elsewhere).await, "the other one ends");
    assert_eq!(
        sign_in(&app, "2024001", PASSWORD).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        sign_in(&app, "2024001", NEW_PASSWORD).await.0,
        StatusCode::OK
    );
}

#[tokio::test]
async fn one_lists_signs_out_and_signs_out_everywhere_else() {
    let app = TestApp::spawn().await;
    app.create_user("2024001", "张三", &[Role::Student]).await;
    let (_, someone_else) = app.user_with("2024002", &[Role::Student]).await;
    let resp = app
        .client
        .post(app.url("/api/v1/auth/login"))
        .header(USER_AGENT, IPHONE)
        .json(&json!({"username": "2024001", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let phone = resp.json::<Value>().await.unwrap()["token"]
        .as_str()
        .unwrap()
        .to_string();
    let laptop = app.login("2024001").await;
    let tablet = app.login("2024001").await;

    let (status, list) = app.get("/api/v1/me/sessions", &phone).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    let items = list["items"].as_array().unwrap();
    assert_eq!(items.len(), 3, "{list}");
    let current: Vec<&Value> = items.iter().filter(|s| s["current"] == true).collect();
    assert_eq!(current.len(), 1, "{list}");
    assert_eq!(current[0]["device"], "WeChat · iPhone");
    assert!(current[0]["last_seen_at"].as_str().unwrap().ends_with('Z'));
    let session_of = |token: &str| {
        let app = &app;
        let token = token.to_string();
        async move {
            app.get("/api/v1/me/sessions", &token).await.1["items"]
                .as_array()
                .unwrap()
                .iter()
                .find(|s| s["current"] == true)
                .unwrap()["id"]
                .as_i64()
                .unwrap()
        }
    };
    let laptop_id = session_of(&laptop).await;
    let theirs = session_of(&someone_else).await;

    // Another person's session: 404, and it still works.
    assert_error(
        &app.call(
            Method::DELETE,
            &format!("/api/v1/me/sessions/{theirs}"),
            Some(&phone),
            None,
        )
        .await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    assert!(token_works(&app, &someone_else).await);

    let (status, _) = app
        .call(
            Method::DELETE,
            &format!("/api/v1/me/sessions/{laptop_id}"),
            Some(&phone),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert!(!token_works(&app, &laptop).await);
    assert!(token_works(&app, &tablet).await);
    assert_eq!(
        app.get("/api/v1/me/sessions", &phone).await.1["items"]
            .as_array()
            .unwrap()
            .len(),
        2
    );

    let (status, _) = app
        .post("/api/v1/me/sessions/revoke-others", &phone, json!({}))
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert!(!token_works(&app, &tablet).await);
    assert!(token_works(&app, &phone).await, "this session stays");
    assert!(token_works(&app, &someone_else).await, "others' untouched");
    let (_, list) = app.get("/api/v1/me/sessions", &phone).await;
    assert_eq!(list["items"].as_array().unwrap().len(), 1, "{list}");
}

fn csrf_in(html: &str) -> String {
    let at = html.find("name=\"csrf\" value=\"").expect("a CSRF field") + 19;
    html[at..].split('"').next().unwrap().to_string()
}

async fn post_form(
    app: &TestApp,
    cookie: &str,
    path: &str,
    form: &[(&str, &str)],
) -> (StatusCode, String) {
    let resp = app
        .client
        .post(app.url(path))
        .header(COOKIE, cookie)
        .form(form)
        .send()
        .await
        .unwrap();
    (resp.status(), resp.text().await.unwrap())
}

#[tokio::test]
async fn me_page_changes_the_password_and_lists_the_sessions() {
    let app = TestApp::spawn().await;
    app.create_user("2024001", "张三", &[Role::Student]).await;
    let elsewhere = app.login("2024001").await;
    let cookie = web_login(&app, "2024001").await;
    let (status, html) = app.page(&cookie, "/app/me").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("id=\"session-list\""), "{html}");
    assert_eq!(html.matches("class=\"session\"").count(), 2, "{html}");
    assert!(html.contains("本设备"), "{html}");
    assert!(html.contains("sign-out-others"));
    let csrf = csrf_in(&html);

    let (status, html) = post_form(
        &app,
        &cookie,
        "/app/me/password",
        &[
            ("csrf", &csrf),
            ("current_password", "not my password"),
            ("new_password", NEW_PASSWORD),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(html.contains("id=\"password-error\""), "{html}");
    // Without the right CSRF token: the 403 page, nothing changed.
    let (status, _) = post_form(
        &app,
        &cookie,
        "/app/me/password",
        &[
            ("csrf", "wrong"),
            ("current_password", PASSWORD),
            ("new_password", NEW_PASSWORD),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(token_works(&app, &elsewhere).await);
    let (status, html) = post_form(
        &app,
        &cookie,
        "/app/me/password",
        &[
            ("csrf", &csrf),
            ("current_password", PASSWORD),
            ("new_password", NEW_PASSWORD),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(html.contains("密码已修改"), "{html}");
    assert!(!token_works(&app, &elsewhere).await);
    assert_eq!(html.matches("class=\"session\"").count(), 1, "{html}");

    // Signing out a session from the list, and everywhere else.
    let second = login_with(&app, "2024001", NEW_PASSWORD).await;
    let third = login_with(&app, "2024001", NEW_PASSWORD).await;
    let (_, list) = app.get("/api/v1/me/sessions", &second).await;
    let second_id = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["current"] == true)
        .unwrap()["id"]
        .as_i64()
        .unwrap();
    let (status, html) = post_form(
        &app,
        &cookie,
        &format!("/app/me/sessions/{second_id}/revoke"),
        &[("csrf", &csrf)],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(!token_works(&app, &second).await);
    assert!(token_works(&app, &third).await);
    let (status, _) = post_form(
        &app,
        &cookie,
        "/app/me/sessions/revoke-others",
        &[("csrf", &csrf)],
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(!token_works(&app, &third).await);
    assert_eq!(app.page(&cookie, "/app/me").await.0, StatusCode::OK);
}

#[tokio::test]
async fn the_reset_page_sends_a_code_and_sets_a_new_password() {
    let app = TestApp::spawn().await;
    let id = app.create_user("2024001", "张三", &[Role::Student]).await;
    let old = app.login("2024001").await;
    let login = app.client.get(app.url("/login")).send().await.unwrap();
    assert!(
        login
            .text()
            .await
            .unwrap()
            .contains("href=\"/password-reset\"")
    );
    let resp = app
        .client
        .get(app.url("/password-reset"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let cookie = resp
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("medclaim_csrf="))
        .map(|v| v.split(';').next().unwrap().to_string())
        .expect("a CSRF cookie");
    let csrf = csrf_in(&resp.text().await.unwrap());

    let (status, _) = post_form(
        &app,
        &cookie,
        "/password-reset/start",
        &[("csrf", "wrong"), ("username", "2024001")],
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(sms_count(&app).await, 0);
    let (status, html) = post_form(
        &app,
        &cookie,
        "/password-reset/start",
        &[("csrf", &csrf), ("username", "2024001")],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(html.contains("验证码已发送"), "{html}");
    assert!(html.contains("name=\"code\""), "{html}");
    let code = codes_sent_to(&app, id).await.remove(0);

    let (status, html) = post_form(
        &app,
        &cookie,
        "/password-reset",
        &[
            ("csrf", &csrf),
            ("username", "2024001"),
            ("code", other_than(&code)),
            ("password", NEW_PASSWORD),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(html.contains("验证码不正确"), "{html}");
    let (status, html) = post_form(
        &app,
        &cookie,
        "/password-reset",
        &[
            ("csrf", &csrf),
            ("username", "2024001"),
            ("code", &code),
            ("password", NEW_PASSWORD),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(html.contains("密码已重设"), "{html}");
    assert!(!token_works(&app, &old).await);
    assert_eq!(
        sign_in(&app, "2024001", NEW_PASSWORD).await.0,
        StatusCode::OK
    );
}
