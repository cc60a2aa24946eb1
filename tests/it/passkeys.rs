//! Passkeys (issue 16 item 3): registered, used and removed in real Chromium with a virtual
//! authenticator (Chrome DevTools Protocol `WebAuthn.addVirtualAuthenticator`); the API's
//! refusals; staff required to use theirs.

use medclaim::http::auth::Role;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use thirtyfour::cdp::Cdp;

use crate::browser::Browser;
use crate::common::{Options, PASSWORD, TestApp, assert_error};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The app on a known port: passkeys need a relying party (`http://localhost:<port>`).
pub(crate) async fn spawn_on_port(
    configure: Option<fn(&mut medclaim::Settings)>,
) -> (TestApp, u16) {
    let port = free_port();
    let app = TestApp::spawn_with(Options {
        port: Some(port),
        configure: configure
            .map(|f| Box::new(f) as Box<dyn FnOnce(&mut medclaim::Settings) + Send>),
        ..Options::default()
    })
    .await;
    (app, port)
}

/// A platform authenticator with fingerprint/face (user verification) that keeps passkeys.
/// Answers the DevTools handle and the authenticator's id.
pub(crate) async fn virtual_authenticator(browser: &Browser) -> (Cdp, String) {
    let cdp = browser.driver.cdp();
    cdp.send_raw("WebAuthn.enable", json!({})).await.unwrap();
    let added = cdp
        .send_raw(
            "WebAuthn.addVirtualAuthenticator",
            json!({"options": {
                "protocol": "ctap2",
                "transport": "internal",
                "hasResidentKey": true,
                "hasUserVerification": true,
                "isUserVerified": true,
                "automaticPresenceSimulation": true
            }}),
        )
        .await
        .unwrap();
    let id = added["authenticatorId"]
        .as_str()
        .expect("an authenticator id")
        .to_string();
    (cdp, id)
}

/// Signs out with the form on "我的" (submitted by script: a click at the foot of a phone-sized
/// page can land on the fixed tab bar while the passkey list is still growing above it).
pub(crate) async fn sign_out(browser: &Browser) {
    browser.goto("/app/me").await;
    browser.el("form.logout button").await;
    browser
        .script("document.querySelector('form.logout').submit();")
        .await;
    browser.wait_for("location.pathname === '/login'").await;
}

/// Clicks "使用指纹/面容登录" and answers whether it signed in (else the error is shown).
pub(crate) async fn sign_in_with_passkey(browser: &Browser) -> bool {
    browser.goto("/login").await;
    browser
        .wait_for("!document.getElementById('passkey-login').hidden")
        .await;
    browser.click("#passkey-sign-in").await;
    browser
        .wait_for(
            "location.pathname !== '/login' || !document.getElementById('passkey-error').hidden",
        )
        .await;
    browser.path().await != "/login"
}

#[tokio::test]
async fn a_student_adds_a_passkey_signs_in_with_it_alone_and_a_removed_or_cloned_one_fails() {
    let (app, port) = spawn_on_port(None).await;
    let student = app.create_user("2024101", "李同学", &[Role::Student]).await;
    let Some(browser) = Browser::start(&format!("http://localhost:{port}"), 375, 812).await else {
        return;
    };
    let (cdp, authenticator) = virtual_authenticator(&browser).await;

    // After a password sign-in on a phone, the home page offers to add one.
    browser.sign_in("2024101").await;
    assert_eq!(browser.path().await, "/app");
    browser
        .wait_for("!document.getElementById('passkey-offer').hidden")
        .await;
    browser.click("#passkey-offer-add").await;
    browser
        .wait_for("!document.getElementById('passkey-offer-notice').hidden")
        .await;
    assert!(
        browser
            .text("#passkey-offer-notice")
            .await
            .contains("已添加"),
        "{}",
        browser.text("#passkey-offer-notice").await
    );
    let stored: Vec<(i64, i64)> = sqlx::query_as("SELECT id, user_id FROM passkeys ORDER BY id")
        .fetch_all(&app.db.pool)
        .await
        .unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].1, student);
    let passkey_id = stored[0].0;

    // "我的" lists it by name.
    browser.goto("/app/me").await;
    browser
        .wait_for("document.querySelectorAll('#passkey-list li').length === 1")
        .await;
    assert!(browser.text("#passkey-list").await.contains("本机"));

    // Signed out, the passkey alone signs in: no login name, no password.
    sign_out(&browser).await;
    assert!(sign_in_with_passkey(&browser).await);
    assert_eq!(browser.path().await, "/app");
    assert!(browser.text("#greeting").await.contains("李同学"));
    let (count, used): (i64, Option<i64>) =
        sqlx::query_as("SELECT sign_count, last_used_at FROM passkeys WHERE id = $1")
            .bind(passkey_id)
            .fetch_one(&app.db.pool)
            .await
            .unwrap();
    assert!(used.is_some(), "the use is recorded");

    // A counter that does not go above the stored one (a cloned authenticator) is refused.
    sign_out(&browser).await;
    sqlx::query("UPDATE passkeys SET sign_count = $1 WHERE id = $2")
        .bind(count + 1_000_000)
        .bind(passkey_id)
        .execute(&app.db.pool)
        .await
        .unwrap();
    assert!(
        !sign_in_with_passkey(&browser).await,
        "a counter regression signs in"
    );
    assert!(browser.text("#passkey-error").await.contains("无法验证"));
    sqlx::query("UPDATE passkeys SET sign_count = $1 WHERE id = $2")
        .bind(count)
        .bind(passkey_id)
        .execute(&app.db.pool)
        .await
        .unwrap();

    // Removed on "我的" (password sign-in), it no longer works, though the phone still has it.
    browser.sign_in("2024101").await;
    browser.goto("/app/me").await;
    browser
        .wait_for("document.querySelectorAll('#passkey-list li').length === 1")
        .await;
    browser
        .script("window.confirm = function () { return true; };")
        .await;
    browser.click(".passkey-remove").await;
    browser
        .wait_for("!document.getElementById('passkey-none').hidden")
        .await;
    let left: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM passkeys")
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    assert_eq!(left, 0);
    sign_out(&browser).await;
    let creds = cdp
        .send_raw(
            "WebAuthn.getCredentials",
            json!({"authenticatorId": authenticator}),
        )
        .await
        .unwrap();
    assert_eq!(creds["credentials"].as_array().map(Vec::len), Some(1));
    assert!(
        !sign_in_with_passkey(&browser).await,
        "a removed passkey signs in"
    );

    let errors = browser.console_errors().await;
    assert!(
        errors.iter().all(|e| e.contains("status of 401")),
        "{errors:?}"
    );
    browser.stop().await;
}

#[tokio::test]
async fn the_api_refuses_what_does_not_verify_and_names_the_relying_party() {
    let (app, port) = spawn_on_port(None).await;
    let (_, token) = app.user_with("2024102", &[Role::Student]).await;

    // Registration asks for a discoverable passkey with user verification, for localhost.
    let (status, options) = app
        .post("/api/v1/me/passkeys/register/start", &token, json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{options}");
    let pk = &options["publicKey"];
    assert_eq!(pk["rp"]["id"], "localhost");
    assert_eq!(pk["authenticatorSelection"]["residentKey"], "required");
    assert_eq!(pk["authenticatorSelection"]["userVerification"], "required");
    assert!(pk["challenge"].as_str().is_some_and(|c| c.len() >= 32));

    // Sign-in without a login name: no allowed list.
    let (status, options) = app
        .call(Method::POST, "/api/v1/auth/passkey/start", None, None)
        .await;
    assert_eq!(status, StatusCode::OK, "{options}");
    assert!(
        options["publicKey"]["allowCredentials"]
            .as_array()
            .is_none_or(Vec::is_empty)
    );
    assert!(options.get("mediation").is_none_or(Value::is_null));

    // A made-up assertion for that challenge is refused, and so is anything not a credential.
    let challenge = options["publicKey"]["challenge"].as_str().unwrap();
    let client_data = base64_url(
        json!({"type": "webauthn.get", "challenge": challenge, "origin": format!("http://localhost:{port}")})
            .to_string()
            .as_bytes(),
    );
    let forged = json!({"credential": {
        "id": "AAAA", "rawId": "AAAA", "type": "public-key", "extensions": {},
        "response": {"authenticatorData": "AAAA", "clientDataJSON": client_data,
                     "signature": "AAAA", "userHandle": base64_url(b"0123456789abcdef")}
    }});
    let got = app
        .call(
            Method::POST,
            "/api/v1/auth/passkey/finish",
            None,
            Some(forged.clone()),
        )
        .await;
    assert_error(&got, StatusCode::UNAUTHORIZED, "passkey_invalid");
    // The challenge was used up: the same answer again finds no ceremony.
    let got = app
        .call(
            Method::POST,
            "/api/v1/auth/passkey/finish",
            None,
            Some(forged),
        )
        .await;
    assert_error(&got, StatusCode::UNAUTHORIZED, "passkey_invalid");
    let got = app
        .call(
            Method::POST,
            "/api/v1/auth/passkey/finish",
            None,
            Some(json!({"credential": {"nope": 1}})),
        )
        .await;
    assert_error(&got, StatusCode::UNAUTHORIZED, "passkey_invalid");

    // Someone else's passkey id is not found; nothing to rename.
    let got = app
        .call(
            Method::PATCH,
            "/api/v1/me/passkeys/999",
            Some(&token),
            Some(json!({"name": "x"})),
        )
        .await;
    assert_error(&got, StatusCode::NOT_FOUND, "not_found");
    let got = app
        .call(
            Method::DELETE,
            "/api/v1/me/passkeys/999",
            Some(&token),
            None,
        )
        .await;
    assert_error(&got, StatusCode::NOT_FOUND, "not_found");
    let (status, list) = app.get("/api/v1/me/passkeys", &token).await;
    assert_eq!((status, list), (StatusCode::OK, json!([])));
}

fn base64_url(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

#[tokio::test]
async fn staff_with_a_passkey_must_use_it_when_configured() {
    let (app, _) = spawn_on_port(Some(|s| s.staff_passkey_required = true)).await;
    let reviewer = app
        .create_user("rev-pk", "Reviewer", &[Role::Reviewer1])
        .await;
    app.create_user("2024103", "Student", &[Role::Student])
        .await;
    // Without a passkey yet, the password still works (so the first one can be added).
    app.login("rev-pk").await;
    // A registered passkey, written directly: this test is about the password path once one
    // exists (registration itself is driven through the virtual authenticator above).
    sqlx::query(
        "INSERT INTO passkeys (user_id, user_handle, credential_id, passkey_json, name, sign_count, created_at)
         VALUES ($1, 'h', 'c', '{}', 'key', 0, 0)",
    )
    .bind(reviewer)
    .execute(&app.db.pool)
    .await
    .unwrap();
    let got = app
        .call(
            Method::POST,
            "/api/v1/auth/login",
            None,
            Some(json!({"username": "rev-pk", "password": PASSWORD})),
        )
        .await;
    assert_error(&got, StatusCode::FORBIDDEN, "passkey_required");
    // A wrong password still answers as a wrong password (nothing learned about passkeys).
    let got = app
        .call(
            Method::POST,
            "/api/v1/auth/login",
            None,
            Some(json!({"username": "rev-pk", "password": "wrong"})),
        )
        .await;
    assert_error(&got, StatusCode::UNAUTHORIZED, "invalid_credentials");
    // Students are not affected.
    app.login("2024103").await;
}
