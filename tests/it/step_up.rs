//! Step-up (issue 16 item 4, SPEC §9): revealing a full phone number at the desk and changing
//! the policy need a password or passkey within the window (5 minutes by default); otherwise
//! 401 `reauth_required`, and the console page asks inline and then continues.

use medclaim::http::auth::Role;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::booking::local_date;
use crate::browser::Browser;
use crate::common::{PASSWORD, TestApp, assert_error};
use crate::fixtures::{inv, rated};

/// Makes every session of `username` stale for step-up: signed in long ago.
pub(crate) async fn age_sessions(app: &TestApp, username: &str, seconds_ago: i64) {
    let at = medclaim::db::now_ms() - seconds_ago * 1000;
    sqlx::query(
        "UPDATE sessions SET reauth_at = $1 WHERE user_id = (SELECT id FROM users WHERE username = $2)",
    )
    .bind(at)
    .bind(username)
    .execute(&app.db.pool)
    .await
    .unwrap();
}

fn policy_body() -> Value {
    json!({"ratios_bp": {"0": 9000, "1": 8500, "2": 8000, "3": 7500},
           "deductible_cents": 10_000, "annual_cap_cents": 5_000_000})
}

#[tokio::test]
async fn revealing_a_phone_and_changing_the_policy_need_a_fresh_authentication() {
    let app = TestApp::spawn().await;
    let admin = app.fixture_admin().await.token;
    let r1 = app.person("r1", &[Role::Reviewer1]).await;
    let r2 = app.person("r2", &[Role::Reviewer2]).await;
    let student = app.student_named("2024001", "学生2024001").await;
    let slot = app.open_slot(&local_date(1), "09:00", "09:30", 5).await;
    let (_, booking) = app
        .booked_case(
            &student,
            (&r1, &r2),
            rated(Some(3)),
            &[inv("U1", 30_000, 0)],
            slot,
        )
        .await;
    let booking = booking["id"].as_i64().unwrap();
    let reveal = format!("/api/v1/admin/bookings/{booking}/phone");

    // Just signed in with the password: fresh.
    let (status, body) = app.get(&reveal, &r1.token).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["phone"], "13800138000");
    let reveals: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM audit_events WHERE action = 'personal.reveal'")
            .fetch_one(&app.db.pool)
            .await
            .unwrap();
    assert_eq!(reveals, 1, "every reveal is audited");
    // The roster itself stays masked, and a student may not ask.
    let (_, roster) = app
        .get(&format!("/api/v1/admin/slots/{slot}/bookings"), &r1.token)
        .await;
    assert_eq!(roster["items"][0]["phone_masked"], "138****8000");
    assert_error(
        &app.get(&reveal, &student.token).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    );

    // Six minutes later: 401 reauth_required, for the phone and for the policy.
    age_sessions(&app, "r1", 6 * 60).await;
    age_sessions(&app, "fixture-admin", 6 * 60).await;
    assert_error(
        &app.get(&reveal, &r1.token).await,
        StatusCode::UNAUTHORIZED,
        "reauth_required",
    );
    let put = |token: String| {
        let app = &app;
        async move {
            app.call(
                Method::PUT,
                "/api/v1/admin/policy",
                Some(&token),
                Some(policy_body()),
            )
            .await
        }
    };
    assert_error(
        &put(admin.clone()).await,
        StatusCode::UNAUTHORIZED,
        "reauth_required",
    );
    // Reading stays open; the session itself is still valid.
    let (status, _) = app.get("/api/v1/admin/policy", &admin).await;
    assert_eq!(status, StatusCode::OK);

    // A wrong password does not count; the right one does, for the window.
    assert_error(
        &app.post(
            "/api/v1/auth/reauth",
            &r1.token,
            json!({"password": "nope"}),
        )
        .await,
        StatusCode::UNAUTHORIZED,
        "invalid_credentials",
    );
    assert_error(
        &app.post("/api/v1/auth/reauth", &r1.token, json!({})).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_input",
    );
    let (status, body) = app
        .post(
            "/api/v1/auth/reauth",
            &r1.token,
            json!({"password": PASSWORD}),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let (status, body) = app.get(&reveal, &r1.token).await;
    assert_eq!(
        (status, body["phone"].clone()),
        (StatusCode::OK, json!("13800138000"))
    );
    let (status, _) = app
        .post("/api/v1/auth/reauth", &admin, json!({"password": PASSWORD}))
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, body) = put(admin.clone()).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // A passkey step-up with none registered: nothing to start.
    assert_error(
        &app.post("/api/v1/auth/reauth/start", &r1.token, json!({}))
            .await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
}

#[tokio::test]
async fn the_policy_page_asks_inline_and_then_saves() {
    let app = TestApp::spawn().await;
    app.create_user("boss", "Boss", &[Role::Admin]).await;
    let Some(browser) = Browser::start(&app.addr, 1280, 900).await else {
        return;
    };
    browser.sign_in("boss").await;
    age_sessions(&app, "boss", 6 * 60).await;
    browser.goto("/console/policy").await;
    let version = browser.text("h1 .chip").await;
    browser.fill("input[name=deductible]", "123.00").await;
    browser.click("#policy-form button[type=submit]").await;

    // The step-up prompt opens on the page, the typed values still there.
    browser
        .wait_for("document.getElementById('reauth-dialog')")
        .await;
    browser.fill("#reauth-password", "wrong password").await;
    browser.click("#reauth-confirm").await;
    browser
        .wait_for("!document.getElementById('reauth-error').hidden")
        .await;
    browser.fill("#reauth-password", PASSWORD).await;
    browser.click("#reauth-confirm").await;

    // …and the save continues.
    browser
        .wait_for(&format!(
            "!document.getElementById('reauth-dialog') && document.querySelector('h1 .chip') \
             && document.querySelector('h1 .chip').textContent !== '{version}'"
        ))
        .await;
    assert_eq!(browser.path().await, "/console/policy");
    let deductible: i64 =
        sqlx::query_scalar("SELECT deductible_cents FROM policies ORDER BY version DESC LIMIT 1")
            .fetch_one(&app.db.pool)
            .await
            .unwrap();
    assert_eq!(deductible, 12_300);
    let errors = browser.console_errors().await;
    assert!(
        errors.iter().all(|e| e.contains("status of 401")),
        "{errors:?}"
    );
    browser.stop().await;
}

#[tokio::test]
async fn the_desk_reveals_a_full_number_after_confirming_inline() {
    let app = TestApp::spawn().await;
    let r1 = app.person("r1", &[Role::Reviewer1]).await;
    let r2 = app.person("r2", &[Role::Reviewer2]).await;
    let student = app.student_named("2024001", "学生2024001").await;
    let slot = app.open_slot(&local_date(1), "09:00", "09:30", 5).await;
    let (_, booking) = app
        .booked_case(
            &student,
            (&r1, &r2),
            rated(Some(3)),
            &[inv("U2", 30_000, 0)],
            slot,
        )
        .await;
    let booking = booking["id"].as_i64().unwrap();
    let Some(browser) = Browser::start(&app.addr, 1280, 900).await else {
        return;
    };
    browser.sign_in("r1").await;
    age_sessions(&app, "r1", 6 * 60).await;
    browser.goto(&format!("/console/slots/{slot}")).await;
    let cell = format!("#phone-{booking}");
    assert_eq!(browser.text(&cell).await, "138****8000");
    browser.click(".reveal-phone").await;
    browser
        .wait_for("document.getElementById('reauth-dialog')")
        .await;
    browser.fill("#reauth-password", PASSWORD).await;
    browser.click("#reauth-confirm").await;
    browser
        .wait_for(&format!(
            "document.getElementById('phone-{booking}').textContent === '13800138000'"
        ))
        .await;
    assert!(
        browser
            .script("return !document.getElementById('reauth-dialog');")
            .await
            .as_bool()
            .unwrap()
    );
    browser.stop().await;
}

#[tokio::test]
async fn a_passkey_confirms_the_step_up_too() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let app = TestApp::spawn_with(crate::common::Options {
        port: Some(port),
        ..Default::default()
    })
    .await;
    let r1 = app.person("r1", &[Role::Reviewer1]).await;
    let r2 = app.person("r2", &[Role::Reviewer2]).await;
    let student = app.student_named("2024001", "学生2024001").await;
    let slot = app.open_slot(&local_date(1), "09:00", "09:30", 5).await;
    let (_, booking) = app
        .booked_case(
            &student,
            (&r1, &r2),
            rated(Some(3)),
            &[inv("U3", 30_000, 0)],
            slot,
        )
        .await;
    let booking = booking["id"].as_i64().unwrap();
    let Some(browser) = Browser::start(&format!("http://localhost:{port}"), 1280, 900).await else {
        return;
    };
    crate::passkeys::virtual_authenticator(&browser).await;
    // The reviewer adds a passkey on "我的".
    browser.sign_in("r1").await;
    browser.goto("/app/me").await;
    browser
        .wait_for("!document.getElementById('passkeys').hidden")
        .await;
    browser.click("#passkey-add").await;
    browser
        .wait_for("document.querySelectorAll('#passkey-list li').length === 1")
        .await;

    // Later, the desk's reveal asks; the passkey answers.
    age_sessions(&app, "r1", 6 * 60).await;
    browser.goto(&format!("/console/slots/{slot}")).await;
    browser.click(".reveal-phone").await;
    browser
        .wait_for("document.getElementById('reauth-passkey')")
        .await;
    browser.click("#reauth-passkey").await;
    browser
        .wait_for(&format!(
            "document.getElementById('phone-{booking}').textContent === '13800138000'"
        ))
        .await;
    let used: Option<i64> = sqlx::query_scalar("SELECT last_used_at FROM passkeys")
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    assert!(used.is_some(), "the step-up used the passkey");
    browser.stop().await;
}
