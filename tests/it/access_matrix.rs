//! The authorization matrix (issue 14 §1, SPEC §2): every route is declared once in
//! `medclaim::http::access::RULES`; every API route (from the OpenAPI document) and every page
//! (from the routers' source) must have its entry, and every route is called as each role,
//! another student and anonymous, expecting 2xx/4xx-but-not-refused for those allowed, 401 (or
//! the login page) for anonymous, 403 for the wrong role and 404 for another student's things.

use std::collections::BTreeSet;

use medclaim::http::access::{Allow, RULES, admits, rule_for};
use medclaim::http::auth::Role;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::common::TestApp;
use crate::intake::{add_record, new_case, ready_case, student};

/// `(method, path pattern)` of every `.route("…", get(…).post(…))` in `src/`.
fn routes_in_source() -> BTreeSet<(String, String)> {
    let mut found = BTreeSet::new();
    let mut stack = vec![std::path::PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/src"
    ))];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                scan(&std::fs::read_to_string(&path).unwrap(), &mut found);
            }
        }
    }
    found
}

fn scan(text: &str, found: &mut BTreeSet<(String, String)>) {
    let mut rest = text;
    while let Some(at) = rest.find(".route(") {
        rest = &rest[at + ".route(".len()..];
        let trimmed = rest.trim_start();
        let Some(after_quote) = trimmed.strip_prefix('"') else {
            continue;
        };
        let Some(end) = after_quote.find('"') else {
            continue;
        };
        let path = &after_quote[..end];
        // The handler expression: up to the `)` closing `.route(`.
        let mut depth = 1;
        let mut handler_end = after_quote.len();
        for (i, c) in after_quote[end..].char_indices() {
            match c {
                '(' => depth += 1,
                ')' => {
                    depth -= 1;
                    if depth == 0 {
                        handler_end = end + i;
                        break;
                    }
                }
                _ => {}
            }
        }
        let handler = &after_quote[end..handler_end];
        for method in ["get", "post", "put", "patch", "delete"] {
            let token = format!("{method}(");
            let mut from = 0;
            while let Some(i) = handler[from..].find(&token) {
                let start = from + i;
                let before = handler[..start].chars().last();
                if !before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
                    found.insert((method.to_uppercase(), path.to_string()));
                }
                from = start + token.len();
            }
        }
    }
}

async fn routes_in_openapi(app: &TestApp) -> BTreeSet<(String, String)> {
    let doc: Value = app
        .client
        .get(app.url("/api/v1/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut found = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            if ["get", "post", "put", "patch", "delete"].contains(&method.as_str()) {
                found.insert((method.to_uppercase(), path.clone()));
            }
        }
    }
    found
}

#[tokio::test]
async fn every_route_is_declared_once_and_every_declaration_is_a_route() {
    let app = TestApp::spawn().await;
    let mut routed = routes_in_source();
    let api = routes_in_openapi(&app).await;
    assert!(
        api.len() > 50,
        "the OpenAPI document lists the API: {api:?}"
    );
    assert!(
        routed.len() > 50,
        "the source scan finds the pages: {routed:?}"
    );
    routed.extend(api);
    let missing: Vec<_> = routed
        .iter()
        .filter(|(m, p)| rule_for(&Method::from_bytes(m.as_bytes()).unwrap(), p).is_none())
        .collect();
    assert!(
        missing.is_empty(),
        "routes without an entry in src/http/access.rs: {missing:?}"
    );
    let mut seen = BTreeSet::new();
    for r in RULES {
        let key = (r.method.to_string(), r.path.to_string());
        assert!(seen.insert(key.clone()), "declared twice: {key:?}");
        assert!(routed.contains(&key), "declared but not routed: {key:?}");
    }
}

/// Someone calling: a name for messages, roles, a bearer token and the session's CSRF token.
struct Who {
    name: &'static str,
    roles: Vec<Role>,
    token: Option<String>,
    csrf: String,
}

/// The objects the routes' ids point at.
struct Fixture {
    app: TestApp,
    people: Vec<Who>,
    case_id: i64,
    draft_id: i64,
    invoice_id: i64,
    record_id: i64,
    record_file: i64,
    draft_file: i64,
    thread_id: i64,
    slot_id: i64,
}

fn csrf_in(html: &str) -> String {
    html.split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .unwrap_or_default()
        .to_string()
}

async fn csrf_of(app: &TestApp, token: &str) -> String {
    let html = app
        .client
        .get(app.url("/app/me"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let csrf = csrf_in(&html);
    assert!(!csrf.is_empty(), "a CSRF token on /app/me: {html}");
    csrf
}

async fn fixture() -> Fixture {
    let app = TestApp::spawn().await;
    let (_, student_token) = student(&app, "2024001").await;
    let (_, other_token) = student(&app, "2024002").await;
    let (case_id, invoice_id) = ready_case(&app, &student_token, "MX-0001").await;
    let (status, submitted) = app
        .post(
            &format!("/api/v1/cases/{case_id}/submit"),
            &student_token,
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{submitted}");
    let record_id = submitted["records"][0]["id"].as_i64().unwrap();
    let record_file = submitted["records"][0]["file_id"].as_i64().unwrap();
    let draft_id = new_case(&app, &student_token).await;
    let (_, record) = add_record(&app, &student_token, draft_id).await;
    let (_, draft) = app
        .get(&format!("/api/v1/cases/{draft_id}"), &student_token)
        .await;
    let draft_file = draft["records"][0]["file_id"]
        .as_i64()
        .unwrap_or_else(|| panic!("draft record: {record} / {draft}"));
    let (status, thread) = app
        .post(
            "/api/v1/support/threads",
            &student_token,
            json!({"subject": "报销进度", "body": "请问何时审核？"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{thread}");
    let thread_id = thread["id"].as_i64().unwrap();

    let mut people = vec![
        Who {
            name: "anonymous",
            roles: vec![],
            token: None,
            csrf: String::new(),
        },
        Who {
            name: "student",
            roles: vec![Role::Student],
            token: Some(student_token),
            csrf: String::new(),
        },
        Who {
            name: "another student",
            roles: vec![Role::Student],
            token: Some(other_token),
            csrf: String::new(),
        },
    ];
    for (name, role) in [
        ("reviewer1", Role::Reviewer1),
        ("reviewer2", Role::Reviewer2),
        ("admin", Role::Admin),
        ("finance", Role::Finance),
        ("auditor", Role::Auditor),
    ] {
        let (_, token) = app.user_with(name, &[role]).await;
        people.push(Who {
            name,
            roles: vec![role],
            token: Some(token),
            csrf: String::new(),
        });
    }
    for who in people.iter_mut() {
        if let Some(t) = &who.token {
            who.csrf = csrf_of(&app, t).await;
        }
    }
    let admin = people[5].token.clone().unwrap();
    let slot_id = crate::booking::open_slot(
        &app,
        &admin,
        &crate::booking::local_date(7),
        "09:00",
        "09:30",
        5,
    )
    .await;
    Fixture {
        app,
        people,
        case_id,
        draft_id,
        invoice_id,
        record_id,
        record_file,
        draft_file,
        thread_id,
        slot_id,
    }
}

impl Fixture {
    /// The path with its parameters filled in with the fixture's objects.
    fn path(&self, pattern: &str) -> String {
        let id = if pattern.contains("/cases/{id}") {
            self.case_id
        } else if pattern.contains("/invoices/{id}") {
            self.invoice_id
        } else if pattern.contains("/files/{id}") {
            self.record_file
        } else if pattern.contains("/support/{id}") || pattern.contains("/threads/{id}") {
            self.thread_id
        } else if pattern.contains("/slots/{id}") {
            self.slot_id
        } else {
            999_999
        };
        pattern
            .replace("{id}", &id.to_string())
            .replace("{record_id}", &self.record_id.to_string())
            .replace("{rid}", &self.record_id.to_string())
            .replace("{kind}", "hospitals")
            .replace("{code}", "en")
            .replace("{file}", "app.css")
    }

    async fn call(&self, who: &Who, method: &str, path: &str) -> (StatusCode, String, String) {
        let method = Method::from_bytes(method.as_bytes()).unwrap();
        let page = !path.starts_with("/api/");
        let mut req = self.app.client.request(method.clone(), self.app.url(path));
        if let Some(t) = &who.token {
            req = req.bearer_auth(t);
        }
        if method != Method::GET {
            req = if page {
                req.form(&[("csrf", who.csrf.as_str())])
            } else {
                req.json(&json!({}))
            };
        }
        let resp = req.send().await.unwrap();
        let status = resp.status();
        let location = resp
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let body = resp.text().await.unwrap_or_default();
        (status, location, body)
    }
}

/// Routes whose object belongs to the student: another student must get 404 on a GET.
fn owned_get(path: &str) -> bool {
    [
        "/api/v1/cases/{id}",
        "/api/v1/files/{id}",
        "/api/v1/support/threads/{id}",
        "/app/cases/{id}",
        "/app/support/{id}",
    ]
    .contains(&path)
}

#[tokio::test]
async fn every_route_as_every_role() {
    let f = fixture().await;
    // Signing out last, so every identity stays signed in for the rest.
    let mut rules: Vec<_> = RULES.iter().collect();
    rules.sort_by_key(|r| r.path.ends_with("logout"));
    let mut failures = Vec::new();
    let mut calls = 0;
    for rule in rules {
        let path = f.path(rule.path);
        let page = !rule.path.starts_with("/api/");
        for who in &f.people {
            let (status, location, body) = f.call(who, rule.method, &path).await;
            calls += 1;
            let anonymous = who.token.is_none();
            let expected: Result<(), String> = if status.is_server_error() {
                Err("a server error".into())
            } else {
                match rule.allow {
                    Allow::Public => Ok(()),
                    Allow::Hospital | Allow::Insurer => (status == StatusCode::UNAUTHORIZED)
                        .then_some(())
                        .ok_or_else(|| "expected 401 without a signature".into()),
                    _ if anonymous && page => (status == StatusCode::SEE_OTHER
                        && location == "/login")
                        .then_some(())
                        .ok_or_else(|| "expected the login page".into()),
                    _ if anonymous => (status == StatusCode::UNAUTHORIZED)
                        .then_some(())
                        .ok_or_else(|| "expected 401".into()),
                    allow if !admits(allow, &who.roles) => {
                        let ok = status == StatusCode::FORBIDDEN
                            && (page || body.contains("\"forbidden\""));
                        ok.then_some(())
                            .ok_or_else(|| "expected 403 forbidden".into())
                    }
                    _ if who.name == "another student"
                        && rule.method == "GET"
                        && owned_get(rule.path) =>
                    {
                        (status == StatusCode::NOT_FOUND)
                            .then_some(())
                            .ok_or_else(|| "expected 404 for another student's thing".into())
                    }
                    _ => (status != StatusCode::UNAUTHORIZED && status != StatusCode::FORBIDDEN)
                        .then_some(())
                        .ok_or_else(|| "expected to be let in".into()),
                }
            };
            if let Err(why) = expected {
                failures.push(format!(
                    "{} {path} as {}: {status} {location} — {why}",
                    rule.method, who.name
                ));
            }
        }
    }
    assert!(calls > 1000, "{calls} calls");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[tokio::test]
async fn finance_and_auditors_read_no_medical_content_and_drafts_stay_private() {
    let f = fixture().await;
    let token = |name: &str| {
        f.people
            .iter()
            .find(|w| w.name == name)
            .and_then(|w| w.token.clone())
            .unwrap()
    };
    let get = |path: String, name: &'static str| {
        let t = token(name);
        let app = &f.app;
        async move { app.get(&path, &t).await.0 }
    };
    let (case, draft, thread) = (f.case_id, f.draft_id, f.thread_id);
    for name in ["finance", "auditor"] {
        assert_eq!(
            get("/api/v1/cases".into(), name).await,
            StatusCode::FORBIDDEN,
            "{name}"
        );
        assert_eq!(
            get(format!("/api/v1/cases/{case}"), name).await,
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            get(format!("/api/v1/review/cases/{case}"), name).await,
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            get("/api/v1/search?q=2024001".into(), name).await,
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            get(format!("/api/v1/support/threads/{thread}"), name).await,
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            get(format!("/api/v1/files/{}", f.record_file), name).await,
            StatusCode::NOT_FOUND,
            "{name} downloads no record photo"
        );
    }
    assert_eq!(
        get("/api/v1/admin/audit".into(), "auditor").await,
        StatusCode::OK
    );
    assert_eq!(
        get("/api/v1/admin/ledger/cases".into(), "finance").await,
        StatusCode::OK
    );

    for name in ["reviewer1", "reviewer2", "admin"] {
        assert_eq!(
            get(format!("/api/v1/cases/{case}"), name).await,
            StatusCode::OK,
            "{name}"
        );
        assert_eq!(
            get(format!("/api/v1/files/{}", f.record_file), name).await,
            StatusCode::OK
        );
        assert_eq!(
            get(format!("/api/v1/support/threads/{thread}"), name).await,
            StatusCode::OK
        );
        // A draft is the student's alone: its details and photos answer 404 to staff.
        assert_eq!(
            get(format!("/api/v1/cases/{draft}"), name).await,
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            get(format!("/api/v1/review/cases/{draft}"), name).await,
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            get(format!("/api/v1/files/{}", f.draft_file), name).await,
            StatusCode::NOT_FOUND
        );
        let (_, list) = f.app.get("/api/v1/cases", &token(name)).await;
        let ids: Vec<i64> = list["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["id"].as_i64().unwrap())
            .collect();
        assert_eq!(ids, vec![case], "{name} lists submitted cases only");
    }
    // The student still sees both, and the draft's photo.
    assert_eq!(
        get(format!("/api/v1/cases/{draft}"), "student").await,
        StatusCode::OK
    );
    assert_eq!(
        get(format!("/api/v1/files/{}", f.draft_file), "student").await,
        StatusCode::OK
    );
    assert_eq!(
        get(
            format!("/api/v1/files/{}", f.record_file),
            "another student"
        )
        .await,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn a_wrong_csrf_token_gets_the_one_403_page_on_every_kind_of_form() {
    let f = fixture().await;
    let student = f.people[1].token.clone().unwrap();
    let admin = f.people[5].token.clone().unwrap();
    let forbidden_page = |status: StatusCode, body: &str| {
        status == StatusCode::FORBIDDEN && body.contains("<h1>403</h1>")
    };
    // A URL-encoded form (CsrfForm), student and console side.
    for (token, path) in [
        (&student, "/app/support".to_string()),
        (&admin, format!("/console/slots/{}/delete", f.slot_id)),
    ] {
        let resp = f
            .app
            .client
            .post(f.app.url(&path))
            .bearer_auth(token)
            .form(&[("csrf", "forged"), ("subject", "x"), ("body", "y")])
            .send()
            .await
            .unwrap();
        let status = resp.status();
        let body = resp.text().await.unwrap();
        assert!(forbidden_page(status, &body), "{path}: {status} {body}");
    }
    // A multipart form (photo upload, roster import) reads its token itself: same page.
    for (token, path) in [
        (&student, format!("/app/cases/{}/records", f.draft_id)),
        (&admin, "/console/imports".to_string()),
    ] {
        let form = reqwest::multipart::Form::new()
            .text("csrf", "forged")
            .text("kind", "students")
            .part(
                "file",
                reqwest::multipart::Part::bytes(crate::intake::jpeg(8, 8)).file_name("a.jpg"),
            );
        let resp = f
            .app
            .client
            .post(f.app.url(&path))
            .bearer_auth(token)
            .multipart(form)
            .send()
            .await
            .unwrap();
        let status = resp.status();
        let body = resp.text().await.unwrap();
        assert!(forbidden_page(status, &body), "{path}: {status} {body}");
    }
    // Nothing happened: the slot is still there.
    assert_eq!(
        f.app
            .get(
                &format!("/api/v1/admin/slots/{}/bookings", f.slot_id),
                &admin
            )
            .await
            .0,
        StatusCode::OK
    );
}
