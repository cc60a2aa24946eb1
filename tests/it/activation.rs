//! Issue 16 item 1: self-service activation of an imported student where no campus sign-on is
//! configured — student id and the last six of the id number, a code by SMS to the roster phone
//! (read here from the outbox), then a password; the answer never tells whether the id exists.

use medclaim::accounts::domain::{IdNumber, Phone};
use medclaim::accounts::store::{self, NewUser};
use medclaim::config::{CasSettings, OidcSettings, SsoSettings};
use medclaim::http::auth::Role;
use reqwest::header::{COOKIE, SET_COOKIE};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::common::{Options, PASSWORD, TestApp, assert_error};

const ID_NUMBER: &str = "11010519491231002X";
const NEW_PASSWORD: &str = "my first good secret";

/// A student imported from the roster: phone and id number, no password.
async fn import_student(app: &TestApp, username: &str, phone: &str) -> i64 {
    let mut tx = app.db.begin().await.unwrap();
    let user = NewUser {
        username: username.into(),
        name: "李四".into(),
        class_name: Some("2024级1班".into()),
        phone: Phone::parse(phone).ok(),
        id_number: IdNumber::parse(ID_NUMBER).ok(),
        enrolment_status: "enrolled".into(),
        password_hash: None,
        roles: vec![Role::Student],
    };
    let id = store::insert_user(&mut tx, &app.keys, &user).await.unwrap();
    tx.commit().await.unwrap();
    id
}

async fn start(app: &TestApp, student_id: &str, last6: &str) -> (StatusCode, Value) {
    app.call(
        Method::POST,
        "/api/v1/auth/activate/start",
        None,
        Some(json!({"student_id": student_id, "id_last6": last6})),
    )
    .await
}

async fn activate(app: &TestApp, student_id: &str, code: &str, pw: &str) -> (StatusCode, Value) {
    app.call(
        Method::POST,
        "/api/v1/auth/activate",
        None,
        Some(json!({"student_id": student_id, "code": code, "password": pw})),
    )
    .await
}

/// The codes texted to `user_id`, newest first.
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
            assert_eq!(v["kind"], "activation_code");
            let text = v["text"].as_str().unwrap();
            assert!(!text.contains("1380013"), "no phone number in the text");
            assert!(!text.contains("002X"), "no id number in the text");
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

/// As if every code so far was asked for `minutes` earlier.
async fn age_codes(app: &TestApp, minutes: i64) {
    sqlx::query("UPDATE password_resets SET created_at = created_at - $1")
        .bind(minutes * 60_000)
        .execute(&app.db.pool)
        .await
        .unwrap();
}

async fn sign_in(app: &TestApp, username: &str, password: &str) -> StatusCode {
    app.call(
        Method::POST,
        "/api/v1/auth/login",
        None,
        Some(json!({"username": username, "password": password})),
    )
    .await
    .0
}

fn other_than(code: &str) -> &'static str {
    if code == "000000" { "111111" } else { "000000" }
}

#[tokio::test]
async fn an_imported_student_activates_with_a_code_sent_to_the_roster_phone() {
    let app = TestApp::spawn().await;
    let id = import_student(&app, "2024101", "13800138001").await;
    assert_eq!(
        sign_in(&app, "2024101", PASSWORD).await,
        StatusCode::UNAUTHORIZED,
        "no way in before activation"
    );
    let (status, body) = start(&app, "2024101", "31002x").await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(body, Value::Null, "no body");
    let codes = codes_sent_to(&app, id).await;
    assert_eq!(codes.len(), 1, "one SMS");
    let recipient: Option<String> =
        sqlx::query_scalar("SELECT recipient FROM outbox WHERE user_id = $1")
            .bind(id)
            .fetch_one(&app.db.pool)
            .await
            .unwrap();
    assert_eq!(
        recipient.as_deref(),
        Some("138****8001"),
        "to the roster phone"
    );
    // A weak password is refused and does not spend the code.
    let (status, body) = activate(&app, "2024101", &codes[0], "short").await;
    assert_error(
        &(status, body),
        StatusCode::UNPROCESSABLE_ENTITY,
        "weak_password",
    );
    let (status, body) = activate(&app, "2024101", &codes[0], NEW_PASSWORD).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["user"]["username"], "2024101");
    let token = body["token"].as_str().unwrap();
    assert_eq!(app.get("/api/v1/me", token).await.0, StatusCode::OK);
    assert_eq!(sign_in(&app, "2024101", NEW_PASSWORD).await, StatusCode::OK);
    // Single use, and an activated account cannot be activated again.
    let again = activate(&app, "2024101", &codes[0], "another fine secret").await;
    assert_error(&again, StatusCode::UNPROCESSABLE_ENTITY, "code_invalid");
    age_codes(&app, 120).await;
    assert_eq!(
        start(&app, "2024101", "31002X").await.0,
        StatusCode::ACCEPTED
    );
    assert_eq!(sms_count(&app).await, 1, "no SMS for an activated account");
    // The audit log says so, without personal data.
    let summaries: Vec<String> = sqlx::query_scalar(
        "SELECT summary FROM audit_events WHERE action LIKE 'account.activat%' ORDER BY id",
    )
    .fetch_all(&app.db.pool)
    .await
    .unwrap();
    assert_eq!(summaries.len(), 2, "{summaries:?}");
    for s in &summaries {
        assert!(!s.contains("002X") && !s.contains("13800138001"), "{s}");
    }
}

#[tokio::test]
async fn an_activation_code_does_not_reset_a_password_and_skips_no_step() {
    let app = TestApp::spawn().await;
    let id = import_student(&app, "2024105", "13800138005").await;
    let (status, _) = start(&app, "2024105", "31002x").await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let code = codes_sent_to(&app, id).await.remove(0);
    // The forgotten-password route does not take it: the account has no password yet.
    let (status, body) = app
        .call(
            Method::POST,
            "/api/v1/auth/password-reset",
            None,
            Some(json!({"username": "2024105", "code": code, "password": PASSWORD})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"]["code"], "code_invalid");
    assert_eq!(
        sign_in(&app, "2024105", PASSWORD).await,
        StatusCode::UNAUTHORIZED
    );
    // Nor does asking there send one (it would skip the id number's last six).
    let (status, _) = app
        .call(
            Method::POST,
            "/api/v1/auth/password-reset/start",
            None,
            Some(json!({"username": "2024105"})),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(
        codes_sent_to(&app, id).await.len(),
        1,
        "no reset code for an account without a password"
    );
    // The activation code still activates.
    let (status, body) = activate(&app, "2024105", &code, PASSWORD).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn asking_answers_alike_and_texts_only_a_real_match() {
    let app = TestApp::spawn().await;
    import_student(&app, "2024102", "13800138002").await;
    app.create_user("2024001", "张三", &[Role::Student]).await;
    for (student_id, last6) in [
        ("2024102", "123456"), // wrong last six
        ("9999999", "31002X"), // unknown id
        ("2024001", "31002X"), // already has a password
        ("not a name!", "31002X"),
        ("2024102", "1002X"), // too short
    ] {
        let (status, body) = start(&app, student_id, last6).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{student_id} {last6}");
        assert_eq!(body, Value::Null);
    }
    assert_eq!(sms_count(&app).await, 0, "no SMS");
    let (status, _) = start(&app, "2024102", "31002X").await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(sms_count(&app).await, 1);
    // An unknown id cannot activate either: as a wrong code.
    let unknown = activate(&app, "9999999", "123456", NEW_PASSWORD).await;
    assert_error(&unknown, StatusCode::UNPROCESSABLE_ENTITY, "code_invalid");
}

#[tokio::test]
async fn codes_expire_and_allow_a_few_wrong_tries() {
    let app = TestApp::spawn().await;
    let id = import_student(&app, "2024103", "13800138003").await;
    assert_eq!(
        start(&app, "2024103", "31002X").await.0,
        StatusCode::ACCEPTED
    );
    let code = codes_sent_to(&app, id).await.remove(0);
    sqlx::query("UPDATE password_resets SET expires_at = 1")
        .execute(&app.db.pool)
        .await
        .unwrap();
    let expired = activate(&app, "2024103", &code, NEW_PASSWORD).await;
    assert_error(&expired, StatusCode::UNPROCESSABLE_ENTITY, "code_expired");

    age_codes(&app, 2).await;
    assert_eq!(
        start(&app, "2024103", "31002X").await.0,
        StatusCode::ACCEPTED
    );
    let code = codes_sent_to(&app, id).await.remove(0);
    for _ in 0..5 {
        let wrong = activate(&app, "2024103", other_than(&code), NEW_PASSWORD).await;
        assert_error(&wrong, StatusCode::UNPROCESSABLE_ENTITY, "code_invalid");
    }
    let spent = activate(&app, "2024103", &code, NEW_PASSWORD).await;
    assert_error(&spent, StatusCode::TOO_MANY_REQUESTS, "too_many_attempts");
    assert_eq!(
        sign_in(&app, "2024103", NEW_PASSWORD).await,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn limits_per_account_and_per_phone_keep_answering_alike() {
    let app = TestApp::spawn().await;
    let a = import_student(&app, "2024104", "13800138004").await;
    let b = import_student(&app, "2024105", "13800138004").await;
    assert_eq!(
        start(&app, "2024104", "31002X").await.0,
        StatusCode::ACCEPTED
    );
    // Per account: one a minute.
    assert_eq!(
        start(&app, "2024104", "31002X").await.0,
        StatusCode::ACCEPTED
    );
    assert_eq!(sms_count(&app).await, 1);
    age_codes(&app, 2).await;
    assert_eq!(
        start(&app, "2024105", "31002X").await.0,
        StatusCode::ACCEPTED
    );
    age_codes(&app, 2).await;
    assert_eq!(
        start(&app, "2024104", "31002X").await.0,
        StatusCode::ACCEPTED
    );
    assert_eq!(sms_count(&app).await, 3);
    // Per phone: three an hour, whichever account asks.
    age_codes(&app, 2).await;
    for student_id in ["2024104", "2024105"] {
        let (status, body) = start(&app, student_id, "31002X").await;
        assert_eq!(status, StatusCode::ACCEPTED);
        assert_eq!(body, Value::Null);
    }
    assert_eq!(
        sms_count(&app).await,
        3,
        "no more SMS to that phone this hour"
    );
    assert_eq!(codes_sent_to(&app, a).await.len(), 2);
    assert_eq!(codes_sent_to(&app, b).await.len(), 1);
    age_codes(&app, 60).await;
    assert_eq!(
        start(&app, "2024105", "31002X").await.0,
        StatusCode::ACCEPTED
    );
    assert_eq!(sms_count(&app).await, 4, "an hour later it may again");
}

#[tokio::test]
async fn the_limit_per_address_stops_the_texts_but_not_the_answer() {
    let app = TestApp::spawn_with(Options {
        configure: Some(Box::new(|s| {
            s.activation_burst = 2;
            s.activation_per_minute = 1;
        })),
        ..Options::default()
    })
    .await;
    for n in 0..3 {
        import_student(&app, &format!("202420{n}"), &format!("1390013900{n}")).await;
    }
    for n in 0..3 {
        let (status, body) = start(&app, &format!("202420{n}"), "31002X").await;
        assert_eq!(status, StatusCode::ACCEPTED);
        assert_eq!(body, Value::Null);
    }
    assert_eq!(
        sms_count(&app).await,
        2,
        "the third address request sent nothing"
    );
}

async fn with_campus_sign_on(sso: SsoSettings) {
    let app = TestApp::spawn_with(Options {
        sso,
        ..Options::default()
    })
    .await;
    import_student(&app, "2024106", "13800138006").await;
    let (status, _) = start(&app, "2024106", "31002X").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let refused = activate(&app, "2024106", "123456", NEW_PASSWORD).await;
    assert_error(&refused, StatusCode::NOT_FOUND, "not_found");
    assert_eq!(sms_count(&app).await, 0);
    let login = app.client.get(app.url("/login")).send().await.unwrap();
    let html = login.text().await.unwrap();
    assert!(!html.contains("href=\"/activate\""), "no activation link");
    let page = app.client.get(app.url("/activate")).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_campus_sign_on_turns_activation_off() {
    with_campus_sign_on(SsoSettings {
        public_url: Some("http://127.0.0.1:9".into()),
        cas: Some(CasSettings {
            url: "http://127.0.0.1:9/cas".into(),
            id_attribute: None,
        }),
        ..Default::default()
    })
    .await;
    with_campus_sign_on(SsoSettings {
        public_url: Some("http://127.0.0.1:9".into()),
        oidc: Some(OidcSettings {
            issuer: "http://127.0.0.1:9/oidc".into(),
            client_id: "medclaim".into(),
            client_secret: "secret".into(),
            id_claim: "preferred_username".into(),
        }),
        ..Default::default()
    })
    .await;
}

fn cookies(resp: &reqwest::Response) -> String {
    resp.headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| v.split(';').next())
        .collect::<Vec<_>>()
        .join("; ")
}

fn csrf_of(html: &str) -> String {
    let at = html.find("name=\"csrf\" value=\"").unwrap() + "name=\"csrf\" value=\"".len();
    html[at..].split('"').next().unwrap().to_string()
}

#[tokio::test]
async fn the_pages_activate_and_sign_in() {
    let app = TestApp::spawn().await;
    let id = import_student(&app, "2024107", "13800138007").await;
    let login = app.client.get(app.url("/login")).send().await.unwrap();
    let html = login.text().await.unwrap();
    assert!(
        html.contains("href=\"/activate\""),
        "the login page offers activation"
    );
    assert!(html.contains("首次登录？激活账号"));

    let page = app.client.get(app.url("/activate")).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let jar = cookies(&page);
    let html = page.text().await.unwrap();
    assert!(html.contains("身份证号后六位"));
    let csrf = csrf_of(&html);

    // Without the CSRF token nothing is sent.
    let forged = app
        .client
        .post(app.url("/activate/start"))
        .header(COOKIE, &jar)
        .form(&[
            ("csrf", "nope"),
            ("student_id", "2024107"),
            ("id_last6", "31002X"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    assert_eq!(sms_count(&app).await, 0);

    let sent = app
        .client
        .post(app.url("/activate/start"))
        .header(COOKIE, &jar)
        .form(&[
            ("csrf", csrf.as_str()),
            ("student_id", "2024107"),
            ("id_last6", "31002X"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(sent.status(), StatusCode::OK);
    let html = sent.text().await.unwrap();
    assert!(html.contains("id=\"activate-code\""), "step 2");
    let code = codes_sent_to(&app, id).await.remove(0);
    let done = app
        .client
        .post(app.url("/activate"))
        .header(COOKIE, &jar)
        .form(&[
            ("csrf", csrf.as_str()),
            ("student_id", "2024107"),
            ("code", code.as_str()),
            ("password", NEW_PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(done.status(), StatusCode::SEE_OTHER);
    assert!(
        cookies(&done).contains("medclaim_session="),
        "{}",
        cookies(&done)
    );
    assert_eq!(sign_in(&app, "2024107", NEW_PASSWORD).await, StatusCode::OK);
}

#[tokio::test]
async fn a_student_activates_on_a_phone_in_chromium() {
    let app = TestApp::spawn().await;
    let id = import_student(&app, "2024108", "13800138008").await;
    let Some(b) = crate::browser::Browser::start(&app.addr, 375, 812).await else {
        return;
    };
    b.goto("/login").await;
    b.click("#activate-link").await;
    b.wait_for("location.pathname === '/activate'").await;
    b.fill("#activate-student-id", "2024108").await;
    b.fill("#activate-id-last6", "31002x").await;
    b.click("#activate-send").await;
    b.wait_for("document.querySelector('#activate-code') !== null")
        .await;
    let code = codes_sent_to(&app, id).await.remove(0);
    b.fill("#activate-code", &code).await;
    b.fill("#activate-password", NEW_PASSWORD).await;
    let overflow = b
        .script("return document.documentElement.scrollWidth;")
        .await;
    assert!(
        overflow.as_u64().unwrap() <= 375,
        "no sideways scrolling at 375 px ({overflow})"
    );
    b.click("#activate-submit").await;
    b.wait_for("location.pathname === '/app'").await;
    assert_eq!(b.path().await, "/app");
    b.stop().await;
    assert_eq!(sign_in(&app, "2024108", NEW_PASSWORD).await, StatusCode::OK);
}

/// Issue 16's journey, the student's half, in Chromium at 375×812: an imported student
/// activates the account with the SMS code, adds a passkey on "我的", signs out, and signs in
/// with the passkey alone (no login name, no password).
#[tokio::test]
async fn an_imported_student_activates_adds_a_passkey_and_signs_in_with_it_alone() {
    let (app, port) = crate::passkeys::spawn_on_port(None).await;
    let id = import_student(&app, "2024109", "13800138009").await;
    let base = format!("http://localhost:{port}");
    let Some(b) = crate::browser::Browser::start(&base, 375, 812).await else {
        return;
    };
    let _authenticator = crate::passkeys::virtual_authenticator(&b).await;
    b.goto("/login").await;
    b.click("#activate-link").await;
    b.wait_for("location.pathname === '/activate'").await;
    b.fill("#activate-student-id", "2024109").await;
    b.fill("#activate-id-last6", "31002x").await;
    b.click("#activate-send").await;
    b.wait_for("document.querySelector('#activate-code') !== null")
        .await;
    let code = codes_sent_to(&app, id).await.remove(0);
    b.fill("#activate-code", &code).await;
    b.fill("#activate-password", NEW_PASSWORD).await;
    b.click("#activate-submit").await;
    b.wait_for("location.pathname === '/app'").await;

    b.goto("/app/me").await;
    b.wait_for("!document.getElementById('passkeys').hidden")
        .await;
    b.click("#passkey-add").await;
    b.wait_for("document.querySelectorAll('#passkey-list li').length === 1")
        .await;
    let stored: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM passkeys WHERE user_id = $1")
        .bind(id)
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    assert_eq!(stored, 1);

    crate::passkeys::sign_out(&b).await;
    assert!(crate::passkeys::sign_in_with_passkey(&b).await);
    assert_eq!(b.path().await, "/app");
    b.stop().await;
}
