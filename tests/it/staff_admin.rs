//! Staff administration (issue 16 item 5, SPEC §13): admins list and search people, create
//! staff, grant and revoke roles, deactivate (sessions end at once) and reactivate, and hand
//! over a one-time reset link; the last active admin stays; every change audited old → new.

use medclaim::http::auth::Role;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::common::{TestApp, assert_error};

const NEW_PASSWORD: &str = "Staff-pass-2024!";

async fn patch(app: &TestApp, token: &str, id: i64, body: Value) -> (StatusCode, Value) {
    app.call(
        Method::PATCH,
        &format!("/api/v1/admin/users/{id}"),
        Some(token),
        Some(body),
    )
    .await
}

async fn audit_summaries(app: &TestApp, action: &str, id: i64) -> Vec<String> {
    sqlx::query_scalar(
        "SELECT summary FROM audit_events WHERE action = $1 AND object_id = $2 ORDER BY id",
    )
    .bind(action)
    .bind(id.to_string())
    .fetch_all(&app.db.pool)
    .await
    .unwrap()
}

async fn sign_in(app: &TestApp, username: &str, password: &str) -> (StatusCode, Value) {
    app.call(
        Method::POST,
        "/api/v1/auth/login",
        None,
        Some(json!({"username": username, "password": password})),
    )
    .await
}

/// Issues a reset link for `id` and sets the password with it; answers the link's token.
async fn set_password_by_link(app: &TestApp, admin: &str, id: i64) -> String {
    let (status, link) = app
        .post(
            &format!("/api/v1/admin/users/{id}/reset-link"),
            admin,
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{link}");
    assert!(link["expires_at"].as_str().is_some(), "{link}");
    let url = link["url"].as_str().unwrap();
    let token = url
        .strip_prefix("/password-reset/link/")
        .unwrap()
        .to_string();
    let (status, body) = app
        .call(
            Method::POST,
            "/api/v1/auth/password-reset/link",
            None,
            Some(json!({"token": token, "password": NEW_PASSWORD})),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    token
}

#[tokio::test]
async fn an_admin_creates_a_level_two_reviewer_who_sets_a_password_and_reviews() {
    let app = TestApp::spawn().await;
    let admin = app.fixture_admin().await.token;
    let (status, user) = app
        .post(
            "/api/v1/admin/users",
            &admin,
            json!({"username": "rev2", "name": "王审核", "roles": ["reviewer2"],
                   "email": "rev2@example.edu"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{user}");
    assert_eq!(user["roles"], json!(["reviewer2"]));
    assert_eq!(user["active"], true);
    let id = user["id"].as_i64().unwrap();
    assert_eq!(
        audit_summaries(&app, "user.create", id).await,
        vec!["staff account created; roles: none -> reviewer2".to_string()]
    );

    // No password yet: cannot sign in.
    assert_error(
        &sign_in(&app, "rev2", NEW_PASSWORD).await,
        StatusCode::UNAUTHORIZED,
        "invalid_credentials",
    );
    let token = set_password_by_link(&app, &admin, id).await;
    // The link was also queued by e-mail.
    let emails: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM outbox WHERE channel = 'email' AND user_id = $1")
            .bind(id)
            .fetch_one(&app.db.pool)
            .await
            .unwrap();
    assert_eq!(emails, 1);
    // Only a hash of the token is kept; the link works once.
    let stored: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM password_resets WHERE via = 'link' AND secret_hash = $1",
    )
    .bind(&token)
    .fetch_one(&app.db.pool)
    .await
    .unwrap();
    assert_eq!(stored, 0);
    let again = app
        .call(
            Method::POST,
            "/api/v1/auth/password-reset/link",
            None,
            Some(json!({"token": token, "password": "Another-pass-2024!"})),
        )
        .await;
    assert_error(&again, StatusCode::UNPROCESSABLE_ENTITY, "code_invalid");

    let (status, body) = sign_in(&app, "rev2", NEW_PASSWORD).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let rev2 = body["token"].as_str().unwrap();
    let (status, body) = app.get("/api/v1/review/queue?level=2", rev2).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // Taken login name, bad input.
    let dup = app
        .post(
            "/api/v1/admin/users",
            &admin,
            json!({"username": "rev2", "name": "x", "roles": ["reviewer1"]}),
        )
        .await;
    assert_error(&dup, StatusCode::CONFLICT, "conflict");
    for roles in [json!(["student"]), json!(["boss"]), json!([])] {
        let bad = app
            .post(
                "/api/v1/admin/users",
                &admin,
                json!({"username": "rev3", "name": "x", "roles": roles}),
            )
            .await;
        assert_error(&bad, StatusCode::UNPROCESSABLE_ENTITY, "invalid_input");
        assert!(
            bad.1["error"]["fields"].to_string().contains("roles"),
            "{}",
            bad.1
        );
    }
}

#[tokio::test]
async fn roles_are_granted_and_revoked_and_deactivation_ends_sessions() {
    let app = TestApp::spawn().await;
    let admin = app.fixture_admin().await.token;
    let (id, token) = app.user_with("r1", &[Role::Reviewer1]).await;

    let (status, user) = patch(
        &app,
        &admin,
        id,
        json!({"roles": ["reviewer1", "reviewer2"]}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{user}");
    assert_eq!(user["roles"], json!(["reviewer1", "reviewer2"]));
    let (status, user) = patch(&app, &admin, id, json!({"roles": ["reviewer2"]})).await;
    assert_eq!(status, StatusCode::OK, "{user}");
    assert_eq!(
        audit_summaries(&app, "user.roles", id).await,
        vec![
            "roles: reviewer1 -> reviewer1,reviewer2".to_string(),
            "roles: reviewer1,reviewer2 -> reviewer2".to_string()
        ]
    );
    let (status, _) = app.get("/api/v1/review/queue?level=2", &token).await;
    assert_eq!(status, StatusCode::OK);

    // Deactivate: the old token stops at once, and signing in is refused.
    let (status, user) = patch(&app, &admin, id, json!({"active": false})).await;
    assert_eq!(status, StatusCode::OK, "{user}");
    assert_eq!(user["active"], false);
    let (status, _) = app.get("/api/v1/me", &token).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_error(
        &sign_in(&app, "r1", crate::common::PASSWORD).await,
        StatusCode::UNAUTHORIZED,
        "invalid_credentials",
    );
    // No reset link for a deactivated person.
    let refused = app
        .post(
            &format!("/api/v1/admin/users/{id}/reset-link"),
            &admin,
            json!({}),
        )
        .await;
    assert_error(&refused, StatusCode::CONFLICT, "conflict");

    let (status, user) = patch(&app, &admin, id, json!({"active": true})).await;
    assert_eq!(status, StatusCode::OK, "{user}");
    let (status, _) = sign_in(&app, "r1", crate::common::PASSWORD).await;
    assert_eq!(status, StatusCode::OK);
    let summaries: Vec<String> = sqlx::query_scalar(
        "SELECT summary FROM audit_events WHERE action IN ('user.deactivate', 'user.reactivate')
         AND object_id = $1 ORDER BY id",
    )
    .bind(id.to_string())
    .fetch_all(&app.db.pool)
    .await
    .unwrap();
    assert_eq!(summaries.len(), 2, "{summaries:?}");
    assert!(
        summaries[0].starts_with("active: 1 -> 0; 1 sessions ended"),
        "{summaries:?}"
    );
    assert!(summaries[1].starts_with("active: 0 -> 1"), "{summaries:?}");

    // Unknown person.
    let missing = patch(&app, &admin, 999_999, json!({"active": false})).await;
    assert_error(&missing, StatusCode::NOT_FOUND, "not_found");
}

#[tokio::test]
async fn the_last_active_admin_stays() {
    let app = TestApp::spawn().await;
    let admin = app.fixture_admin().await;
    let demote = patch(
        &app,
        &admin.token,
        admin.id,
        json!({"roles": ["reviewer1"]}),
    )
    .await;
    assert_error(&demote, StatusCode::CONFLICT, "last_admin");
    let deactivate = patch(&app, &admin.token, admin.id, json!({"active": false})).await;
    assert_error(&deactivate, StatusCode::CONFLICT, "last_admin");
    // An inactive admin does not count.
    let (other, _) = app.user_with("admin2", &[Role::Admin]).await;
    let (status, _) = patch(&app, &admin.token, other, json!({"active": false})).await;
    assert_eq!(status, StatusCode::OK);
    let demote = patch(&app, &admin.token, admin.id, json!({"roles": ["finance"]})).await;
    assert_error(&demote, StatusCode::CONFLICT, "last_admin");
    // With a second active admin it can go.
    let (status, _) = patch(&app, &admin.token, other, json!({"active": true})).await;
    assert_eq!(status, StatusCode::OK);
    let (status, user) = patch(&app, &admin.token, admin.id, json!({"roles": ["finance"]})).await;
    assert_eq!(status, StatusCode::OK, "{user}");
    assert_eq!(user["roles"], json!(["finance"]));
}

#[tokio::test]
async fn only_admins_with_a_fresh_authentication_manage_staff() {
    let app = TestApp::spawn().await;
    let admin = app.fixture_admin().await.token;
    let (r1, r1_token) = app.user_with("r1", &[Role::Reviewer1]).await;
    app.create_user("2024001", "张小明", &[Role::Student]).await;

    let anon = app
        .call(Method::GET, "/api/v1/admin/users", None, None)
        .await;
    assert_error(&anon, StatusCode::UNAUTHORIZED, "unauthenticated");
    let forbidden = app.get("/api/v1/admin/users", &r1_token).await;
    assert_error(&forbidden, StatusCode::FORBIDDEN, "forbidden");
    let forbidden = patch(&app, &r1_token, r1, json!({"roles": ["admin"]})).await;
    assert_error(&forbidden, StatusCode::FORBIDDEN, "forbidden");

    // Search by name and by login name; filter by role.
    let (status, page) = app
        .get("/api/v1/admin/users?q=%E5%B0%8F%E6%98%8E", &admin)
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let names: Vec<&str> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["username"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["2024001"]);
    let (_, page) = app.get("/api/v1/admin/users?role=reviewer1", &admin).await;
    assert_eq!(page["items"].as_array().unwrap().len(), 1, "{page}");
    let (_, page) = app.get("/api/v1/admin/users?limit=1", &admin).await;
    let next = page["next_cursor"].as_str().unwrap().to_string();
    let (_, page2) = app
        .get(
            &format!("/api/v1/admin/users?limit=1&cursor={next}"),
            &admin,
        )
        .await;
    assert_ne!(page["items"][0]["id"], page2["items"][0]["id"]);
    let bad = app.get("/api/v1/admin/users?role=boss", &admin).await;
    assert_error(&bad, StatusCode::UNPROCESSABLE_ENTITY, "invalid_input");

    // Stale authentication: changes need step-up, listing does not.
    sqlx::query("UPDATE sessions SET reauth_at = $1")
        .bind(medclaim::db::now_ms() - 3_600_000)
        .execute(&app.db.pool)
        .await
        .unwrap();
    let (status, _) = app.get("/api/v1/admin/users", &admin).await;
    assert_eq!(status, StatusCode::OK);
    let stale = app
        .post(
            "/api/v1/admin/users",
            &admin,
            json!({"username": "fin", "name": "x", "roles": ["finance"]}),
        )
        .await;
    assert_error(&stale, StatusCode::UNAUTHORIZED, "reauth_required");
    let stale = patch(&app, &admin, r1, json!({"active": false})).await;
    assert_error(&stale, StatusCode::UNAUTHORIZED, "reauth_required");
    let stale = app
        .post(
            &format!("/api/v1/admin/users/{r1}/reset-link"),
            &admin,
            json!({}),
        )
        .await;
    assert_error(&stale, StatusCode::UNAUTHORIZED, "reauth_required");
    // Step up with the password, then it works.
    let (status, body) = app
        .post(
            "/api/v1/auth/reauth",
            &admin,
            json!({"password": crate::common::PASSWORD}),
        )
        .await;
    assert!(status.is_success(), "{status} {body}");
    let (status, body) = patch(&app, &admin, r1, json!({"active": false})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
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
) -> reqwest::Response {
    app.client
        .post(app.url(path))
        .header(reqwest::header::COOKIE, cookie)
        .form(form)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn the_console_people_page_creates_staff_and_hands_over_a_reset_link() {
    let app = TestApp::spawn().await;
    app.fixture_admin().await;
    let cookie = crate::intake::web_login(&app, "fixture-admin").await;
    let html = crate::intake::page(&app, &cookie, "/console/people").await;
    assert!(html.contains("人员管理"), "{html}");
    assert!(html.contains("fixture-admin"));
    let csrf = csrf_in(&html);

    let resp = post_form(
        &app,
        &cookie,
        "/console/people",
        &[
            ("csrf", &csrf),
            ("username", "rev2web"),
            ("name", "李复审"),
            ("email", ""),
            ("role_reviewer2", "1"),
        ],
    )
    .await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let location = resp.headers()["location"].to_str().unwrap().to_string();
    assert!(location.contains("done=1"), "{location}");
    let html = crate::intake::page(&app, &cookie, &location).await;
    assert!(html.contains("李复审"), "{html}");
    let id: i64 = sqlx::query_scalar("SELECT id FROM users WHERE username = 'rev2web'")
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    let roles: Vec<String> = sqlx::query_scalar("SELECT role FROM user_roles WHERE user_id = $1")
        .bind(id)
        .fetch_all(&app.db.pool)
        .await
        .unwrap();
    assert_eq!(roles, vec!["reviewer2".to_string()]);

    // The reset link is shown once on the page; the person sets a password on its page.
    let resp = post_form(
        &app,
        &cookie,
        &format!("/console/people/{id}"),
        &[("csrf", &csrf), ("action", "reset_link")],
    )
    .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let html = resp.text().await.unwrap();
    let at = html.find("/password-reset/link/").expect("the link");
    let link = html[at..].split('<').next().unwrap().to_string();
    let resp = app.client.get(app.url(&link)).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let pre = resp
        .headers()
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("medclaim_csrf="))
        .map(|v| v.split(';').next().unwrap().to_string())
        .unwrap();
    let html = resp.text().await.unwrap();
    assert!(html.contains("rev2web"), "{html}");
    let resp = post_form(
        &app,
        &pre,
        &link,
        &[("csrf", &csrf_in(&html)), ("password", NEW_PASSWORD)],
    )
    .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let (status, body) = sign_in(&app, "rev2web", NEW_PASSWORD).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // Deactivate from the page.
    let resp = post_form(
        &app,
        &cookie,
        &format!("/console/people/{id}"),
        &[("csrf", &csrf), ("action", "deactivate")],
    )
    .await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let (status, _) = sign_in(&app, "rev2web", NEW_PASSWORD).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

/// Issue 16's journey, the office's half, in Chromium: an administrator creates a level-2
/// reviewer in the console and sends a reset link; the reviewer sets a password through it,
/// signs in and sees the level-2 queue.
#[tokio::test]
async fn an_admin_creates_a_level2_reviewer_in_the_console_who_signs_in_and_sees_the_queue() {
    let app = TestApp::spawn().await;
    app.create_user("adm", "管理员", &[Role::Admin]).await;
    let Some(b) = crate::browser::Browser::start(&app.addr, 1280, 900).await else {
        return;
    };
    b.sign_in("adm").await;
    b.goto("/console/people").await;
    b.fill("#new-staff input[name=username]", "rev2new").await;
    b.fill("#new-staff input[name=name]", "二级审核员").await;
    b.click("#new-staff input[name=role_reviewer2]").await;
    b.click("#new-staff button[type=submit]").await;
    let mut id = None;
    for _ in 0..100 {
        id = sqlx::query_scalar::<_, i64>("SELECT id FROM users WHERE username = 'rev2new'")
            .fetch_optional(&app.db.pool)
            .await
            .unwrap();
        if id.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let id = id.expect("the console created the person");
    let roles: Vec<String> =
        sqlx::query_scalar("SELECT role FROM user_roles WHERE user_id = $1 ORDER BY role")
            .bind(id)
            .fetch_all(&app.db.pool)
            .await
            .unwrap();
    assert_eq!(roles, ["reviewer2"]);
    b.wait_for("document.readyState === 'complete'").await;
    b.click(&format!(
        "form[action='/console/people/{id}'] button[value=reset_link]"
    ))
    .await;
    b.wait_for("document.querySelector('#reset-link .reset-url') !== null")
        .await;
    let url = b.text("#reset-link .reset-url").await;
    assert!(url.starts_with("/password-reset/link/"), "{url}");
    b.stop().await;

    let Some(r) = crate::browser::Browser::start(&app.addr, 375, 812).await else {
        return;
    };
    r.goto(&url).await;
    assert_eq!(r.text("#reset-username").await, "rev2new");
    r.fill("#reset-password", "a-new-passphrase-2026").await;
    r.click("#reset-submit").await;
    r.wait_for("location.pathname !== '/password-reset/link/' + location.pathname.split('/').pop() || document.getElementById('reset-notice') !== null")
        .await;
    r.sign_in_with("rev2new", "a-new-passphrase-2026").await;
    r.goto("/console/review?level=2").await;
    r.wait_for("document.readyState === 'complete'").await;
    assert_eq!(r.path().await, "/console/review");
    assert!(
        r.script("return document.getElementById('waiting') !== null")
            .await
            .as_bool()
            .unwrap(),
        "the level-2 queue shows"
    );
    r.stop().await;
}

/// Two administrators demoting each other at the same moment: one wins, and one active
/// administrator is left (PostgreSQL queues changes to people on a lock; SQLite has one writer).
#[tokio::test]
async fn two_admins_demoting_each_other_at_once_leave_one_admin() {
    let app = TestApp::spawn().await;
    for round in 0..3 {
        let (a_name, b_name) = (format!("adm_a{round}"), format!("adm_b{round}"));
        let a = app.create_user(&a_name, "甲", &[Role::Admin]).await;
        let b = app.create_user(&b_name, "乙", &[Role::Admin]).await;
        // Only these two are admins this round (the earlier rounds' survivors are set aside
        // directly: demoting them through the API is what the race below tests).
        sqlx::query("DELETE FROM user_roles WHERE role = 'admin' AND user_id NOT IN ($1, $2)")
            .bind(a)
            .bind(b)
            .execute(&app.db.pool)
            .await
            .unwrap();
        let (ta, tb) = (app.login(&a_name).await, app.login(&b_name).await);
        let demote = |token: String, id: i64| {
            let app = &app;
            async move {
                app.call(
                    Method::PATCH,
                    &format!("/api/v1/admin/users/{id}"),
                    Some(&token),
                    Some(json!({"roles": ["reviewer1"]})),
                )
                .await
            }
        };
        let (ra, rb) = tokio::join!(demote(ta, b), demote(tb, a));
        let oks = [&ra, &rb].iter().filter(|r| r.0 == StatusCode::OK).count();
        assert_eq!(oks, 1, "round {round}: {ra:?} {rb:?}");
        let admins: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM user_roles r JOIN users u ON u.id = r.user_id WHERE r.role = 'admin' AND u.active = 1",
        )
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
        assert_eq!(admins, 1, "round {round}");
    }
}
