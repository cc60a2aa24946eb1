//! Accounts, errors, headers, health, metrics and OpenAPI.

use medclaim::http::auth::Role;
use reqwest::{Method, StatusCode};
use serde_json::json;

use chrono::Datelike;

use crate::common::{Options, PASSWORD, TestApp, assert_error};

#[tokio::test]
async fn login_me_logout() {
    let app = TestApp::spawn().await;
    let id = app.create_user("2024001", "张三", &[Role::Student]).await;
    let (status, body) = app
        .call(
            Method::POST,
            "/api/v1/auth/login",
            None,
            Some(json!({"username": "2024001", "password": PASSWORD})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["user"]["id"], id);
    assert_eq!(body["user"]["name"], "张三");
    assert_eq!(body["user"]["roles"], json!(["student"]));
    let token = body["token"].as_str().unwrap().to_string();

    let (status, me) = app.get("/api/v1/me", &token).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me["username"], "2024001");
    assert_eq!(me["phone_masked"], "138****8000");
    assert_eq!(me["id_number_masked"], "110***********002X");
    assert!(
        !me.to_string().contains("13800138000"),
        "full phone must not be shown"
    );

    let (status, _) = app.post("/api/v1/auth/logout", &token, json!({})).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_error(
        &app.get("/api/v1/me", &token).await,
        StatusCode::UNAUTHORIZED,
        "unauthenticated",
    );
}

/// A database out of reach — here the pool closed under the running server, as a PostgreSQL
/// failover leaves it for a few seconds (`.ci/failover.sh` does the real thing) — is answered
/// 503 `unavailable` with `Retry-After`, never 500; `/readyz` says so too.
#[tokio::test]
async fn a_database_out_of_reach_is_503_unavailable_with_retry_after() {
    let app = TestApp::spawn().await;
    app.create_user("2024009", "李四", &[Role::Student]).await;
    let token = app.login("2024009").await;
    app.db.close().await;

    let resp = app
        .client
        .get(app.url("/api/v1/me"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(resp.headers().contains_key(reqwest::header::RETRY_AFTER));
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["code"], "unavailable", "{body}");

    let ready = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), StatusCode::SERVICE_UNAVAILABLE);
}

#[tokio::test]
async fn unknown_user_and_wrong_password_look_the_same() {
    let app = TestApp::spawn().await;
    app.create_user("2024001", "张三", &[Role::Student]).await;
    let unknown = app
        .call(
            Method::POST,
            "/api/v1/auth/login",
            None,
            Some(json!({"username": "nobody", "password": PASSWORD})),
        )
        .await;
    let wrong = app
        .call(
            Method::POST,
            "/api/v1/auth/login",
            None,
            Some(json!({"username": "2024001", "password": "wrong password"})),
        )
        .await;
    assert_error(&unknown, StatusCode::UNAUTHORIZED, "invalid_credentials");
    assert_error(&wrong, StatusCode::UNAUTHORIZED, "invalid_credentials");
    assert_eq!(unknown.1, wrong.1);
}

#[tokio::test]
async fn five_failures_lock_the_account() {
    let app = TestApp::spawn().await;
    app.create_user("2024001", "张三", &[Role::Student]).await;
    let attempt = |password: &'static str| {
        app.call(
            Method::POST,
            "/api/v1/auth/login",
            None,
            Some(json!({"username": "2024001", "password": password})),
        )
    };
    for _ in 0..5 {
        assert_error(
            &attempt("wrong password").await,
            StatusCode::UNAUTHORIZED,
            "invalid_credentials",
        );
    }
    // Locked now: even the right password is refused, with the wrong password's answer.
    assert_error(
        &attempt(PASSWORD).await,
        StatusCode::UNAUTHORIZED,
        "invalid_credentials",
    );
    let (status, events) = {
        let (_, admin) = app.user_with("admin", &[Role::Admin]).await;
        app.get("/api/v1/admin/audit", &admin).await
    };
    assert_eq!(status, StatusCode::OK);
    assert!(
        events["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["action"] == "account.lock")
    );
    // After the lock expires the right password works again.
    sqlx::query("UPDATE users SET locked_until = 1 WHERE username = '2024001'")
        .execute(&app.db.pool)
        .await
        .unwrap();
    assert_eq!(attempt(PASSWORD).await.0, StatusCode::OK);
}

#[tokio::test]
async fn per_address_rate_limit() {
    let app = TestApp::spawn_with(Options {
        login_per_minute: 3,
        configure: Some(Box::new(|s| s.login_burst = 3)),
        ..Options::default()
    })
    .await;
    let body = json!({"username": "nobody", "password": "x"});
    for _ in 0..3 {
        assert_eq!(
            app.call(Method::POST, "/api/v1/auth/login", None, Some(body.clone()))
                .await
                .0,
            StatusCode::UNAUTHORIZED
        );
    }
    let limited = app
        .call(Method::POST, "/api/v1/auth/login", None, Some(body))
        .await;
    assert_error(&limited, StatusCode::TOO_MANY_REQUESTS, "rate_limited");
}

#[tokio::test]
async fn forged_and_expired_tokens_are_refused() {
    let app = TestApp::spawn().await;
    let (_, token) = app.user_with("2024001", &[Role::Student]).await;
    assert_error(
        &app.get("/api/v1/me", "forged-token-value").await,
        StatusCode::UNAUTHORIZED,
        "unauthenticated",
    );
    let no_auth = app.call(Method::GET, "/api/v1/me", None, None).await;
    assert_error(&no_auth, StatusCode::UNAUTHORIZED, "unauthenticated");
    assert_eq!(app.get("/api/v1/me", &token).await.0, StatusCode::OK);
    // Absolute expiry passed.
    sqlx::query("UPDATE sessions SET expires_at = 1")
        .execute(&app.db.pool)
        .await
        .unwrap();
    assert_error(
        &app.get("/api/v1/me", &token).await,
        StatusCode::UNAUTHORIZED,
        "unauthenticated",
    );
    // Idle expiry: a fresh session left unused for longer than the idle limit.
    let token = app.login("2024001").await;
    sqlx::query("UPDATE sessions SET last_seen_at = 1 WHERE revoked_at IS NULL AND expires_at > 1")
        .execute(&app.db.pool)
        .await
        .unwrap();
    assert_error(
        &app.get("/api/v1/me", &token).await,
        StatusCode::UNAUTHORIZED,
        "unauthenticated",
    );
}

#[tokio::test]
async fn malformed_mistyped_and_oversize_bodies() {
    let app = TestApp::spawn().await;
    let login = app.url("/api/v1/auth/login");
    let send = |body: String, content_type: &'static str| {
        app.client
            .post(login.clone())
            .header("content-type", content_type)
            .body(body)
            .send()
    };
    let resp = send("{\"username\": ".into(), "application/json")
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["code"], "malformed_json");

    let resp = send(
        json!({"username": "a", "password": 5}).to_string(),
        "application/json",
    )
    .await
    .unwrap();
    assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["code"], "invalid_input");
    assert!(body["error"]["fields"]["password"].is_string(), "{body}");

    let resp = send(json!({"username": "a"}).to_string(), "application/json")
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY);

    let resp = send("username=a".into(), "application/x-www-form-urlencoded")
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);

    let big = format!(
        "{{\"username\": \"{}\", \"password\": \"x\"}}",
        "a".repeat(2 * 1024 * 1024)
    );
    let resp = send(big, "application/json").await.unwrap();
    assert_eq!(resp.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["code"], "payload_too_large");
}

#[tokio::test]
async fn roles_are_checked() {
    let app = TestApp::spawn().await;
    let (_, student) = app.user_with("2024001", &[Role::Student]).await;
    let (_, auditor) = app.user_with("audit", &[Role::Auditor]).await;
    assert_error(
        &app.get("/api/v1/admin/audit", &student).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    );
    let (status, page) = app.get("/api/v1/admin/audit?limit=1", &auditor).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(page["items"].as_array().unwrap().len(), 1);
    assert!(page["next_cursor"].is_i64(), "{page}");
}

#[tokio::test]
async fn security_headers_health_metrics_openapi() {
    let app = TestApp::spawn_with(Options {
        configure: Some(Box::new(|s| s.metrics_token = Some("scrape".into()))),
        ..Options::default()
    })
    .await;
    let resp = app.client.get(app.url("/login")).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let h = resp.headers();
    let csp = h["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
        "{csp}"
    );
    assert!(csp.contains("frame-ancestors 'none'"));
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert!(h.contains_key("referrer-policy"));
    let html = resp.text().await.unwrap();
    assert!(html.contains("登录"), "zh-CN by default");
    assert!(!html.contains("<script>"), "no inline script");

    assert_eq!(
        app.client
            .get(app.url("/healthz"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    assert_eq!(
        app.client
            .get(app.url("/readyz"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );

    let metrics = app
        .client
        .get(app.url("/metrics"))
        .bearer_auth("scrape")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("medclaim_http_requests_total"),
        "{metrics}"
    );
    assert!(metrics.contains("route=\"/login\""), "{metrics}");
    assert!(metrics.contains("medclaim_http_request_duration_seconds_bucket"));

    let doc: serde_json::Value = app
        .client
        .get(app.url("/api/v1/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(doc["openapi"].as_str().unwrap().chars().next(), Some('3'));
    for path in [
        "/api/v1/auth/login",
        "/api/v1/auth/logout",
        "/api/v1/me",
        "/api/v1/admin/audit",
    ] {
        assert!(
            doc["paths"][path].is_object(),
            "{path} missing from OpenAPI"
        );
    }
    let resp = app
        .client
        .get(app.url("/api/v1/nothing-here"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
}

/// A client that keeps cookies like a browser, on the login page: answers it and the form's
/// CSRF token.
async fn browser_at_login(app: &TestApp) -> (reqwest::Client, String) {
    let client = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let page = client
        .get(app.url("/login"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let csrf = page
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_string();
    (client, csrf)
}

#[tokio::test]
async fn pages_sign_in_with_cookie_and_csrf() {
    let app = TestApp::spawn().await;
    app.create_user("2024001", "张三", &[Role::Student]).await;
    app.create_user("rev1", "王老师", &[Role::Reviewer1]).await;
    let (client, csrf) = browser_at_login(&app).await;

    // Without the token: refused.
    let resp = client
        .post(app.url("/login"))
        .form(&[
            ("username", "2024001"),
            ("password", PASSWORD),
            ("csrf", "nope"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);

    let resp = client
        .post(app.url("/login"))
        .form(&[
            ("username", "2024001"),
            ("password", PASSWORD),
            ("csrf", csrf.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let cookie = resp.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );
    let home = client.get(app.url("/app")).send().await.unwrap();
    assert_eq!(home.status(), StatusCode::OK);
    let html = home.text().await.unwrap();
    assert!(html.contains("张三"));
    // English on request.
    client
        .get(app.url("/lang/en?next=/app"))
        .send()
        .await
        .unwrap();
    let html = client
        .get(app.url("/app"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("My cases"), "{html}");
    // A cookie session cannot make a state-changing API call without the CSRF header.
    let resp = client
        .post(app.url("/api/v1/auth/logout"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);

    // Staff land on the console.
    let (staff, csrf) = browser_at_login(&app).await;
    staff
        .post(app.url("/login"))
        .form(&[
            ("username", "rev1"),
            ("password", PASSWORD),
            ("csrf", csrf.as_str()),
        ])
        .send()
        .await
        .unwrap();
    let resp = staff.get(app.url("/")).send().await.unwrap();
    assert_eq!(resp.headers()["location"], "/console");
    // Not signed in: pages go to the login page.
    let resp = app.client.get(app.url("/console")).send().await.unwrap();
    assert_eq!(resp.headers()["location"], "/login");
}

#[tokio::test]
async fn personal_data_is_encrypted_at_rest_with_a_blind_index() {
    let app = TestApp::spawn().await;
    app.create_user("2024001", "张三", &[Role::Student]).await;
    let (phone_enc, id_enc, id_bidx): (String, String, String) = sqlx::query_as(
        "SELECT phone_enc, id_number_enc, id_number_bidx FROM users WHERE username = '2024001'",
    )
    .fetch_one(&app.db.pool)
    .await
    .unwrap();
    assert!(!phone_enc.contains("13800138000"));
    assert!(!id_enc.contains("11010519491231002X"));
    assert_eq!(
        id_bidx,
        app.keys.blind_index("id_number", "11010519491231002X")
    );
    let found: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users WHERE id_number_bidx = $1")
        .bind(app.keys.blind_index("id_number", "11010519491231002X"))
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    assert_eq!(found, 1);
}

#[tokio::test]
async fn demo_is_idempotent_and_has_cases_in_every_state() {
    let app = TestApp::spawn().await;
    let mut settings = medclaim::Settings::new(app.data_dir.clone());
    settings.database_url = Some(app.database_url.clone());
    for _ in 0..2 {
        let logins = medclaim::demo::seed_all(&settings, &app.db, &app.keys)
            .await
            .unwrap();
        assert!(logins.iter().any(|l| l.role == "admin"));
    }
    let students: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM users u JOIN coverage c ON c.user_id = u.id JOIN user_roles r ON r.user_id = u.id AND r.role = 'student'
         WHERE c.year = (SELECT MAX(year) FROM coverage)",
    )
    .fetch_one(&app.db.pool)
    .await
    .unwrap();
    assert!(students >= 200, "{students}");
    let mut statuses: Vec<String> = sqlx::query_scalar("SELECT DISTINCT status FROM cases")
        .fetch_all(&app.db.pool)
        .await
        .unwrap();
    statuses.sort();
    assert_eq!(
        statuses,
        [
            "approved",
            "booked",
            "completed",
            "draft",
            "level2",
            "rejected",
            "returned",
            "submitted",
            "withdrawn"
        ]
    );
    let cases: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM cases")
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    assert_eq!(cases, 9 + 30 + 6, "a second run adds nothing");
    // Half a year of approvals, so last month's payouts are there to export.
    let approved_at: Vec<i64> = sqlx::query_scalar(
        "SELECT approved_at FROM cases WHERE approved_at IS NOT NULL ORDER BY approved_at",
    )
    .fetch_all(&app.db.pool)
    .await
    .unwrap();
    let months: std::collections::BTreeSet<String> = approved_at
        .iter()
        .map(|ms| {
            chrono::DateTime::from_timestamp_millis(*ms)
                .unwrap()
                .format("%Y-%m")
                .to_string()
        })
        .collect();
    assert!(months.len() >= 5, "{months:?}");
    let last_month = (chrono::Utc::now().date_naive().with_day(1).unwrap()
        - chrono::Duration::days(1))
    .format("%Y-%m")
    .to_string();
    assert!(months.contains(&last_month), "{months:?}");
    // A demo student signs in with the printed password and sees their cases.
    let (status, body) = app
        .call(
            Method::POST,
            "/api/v1/auth/login",
            None,
            Some(json!({"username": "2025000001", "password": medclaim::demo::DEMO_PASSWORD})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let token = body["token"].as_str().unwrap();
    let (_, cases) = app.get("/api/v1/cases", token).await;
    assert_eq!(cases["items"].as_array().unwrap().len(), 4, "{cases}");
    let (_, visits) = app.get("/api/v1/visits", token).await;
    assert_eq!(visits["items"].as_array().unwrap().len(), 2, "{visits}");
    // The demo insurer's ledger: one case paid a different amount, one approved and overdue.
    let (_, signed_in) = app
        .call(
            Method::POST,
            "/api/v1/auth/login",
            None,
            Some(json!({"username": "finance", "password": medclaim::demo::DEMO_PASSWORD})),
        )
        .await;
    let finance = signed_in["token"].as_str().unwrap();
    let (_, report) = app.get("/api/v1/admin/reconciliation", finance).await;
    let kinds: Vec<&str> = report["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["amount_differs", "unpaid_overdue"], "{report}");
    assert!(app.cli(&["audit", "verify"], None).await.status.success());
}
