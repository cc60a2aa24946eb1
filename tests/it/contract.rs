//! The API contract: one error catalogue (documented in `docs/errors.md`, generated from it) and
//! an OpenAPI document that tells the truth about every operation's answers. `.ci/contract.sh`
//! fuzzes the running server against the same document with schemathesis.

use std::collections::BTreeSet;

use medclaim::http::ErrorCode;
use medclaim::http::auth::Role;
use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::common::TestApp;

#[test]
fn errors_doc() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/errors.md");
    let generated = medclaim::http::error_code::catalogue_markdown();
    if std::env::var("UPDATE_ERRORS_DOC").is_ok_and(|v| v == "1") {
        std::fs::write(path, &generated).expect("write docs/errors.md");
    }
    let committed = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        committed == generated,
        "docs/errors.md is not what the error catalogue says; regenerate it with\n  \
         UPDATE_ERRORS_DOC=1 cargo test --test it contract::errors_doc\nand commit the result"
    );
}

#[test]
fn every_error_code_is_distinct_parses_back_and_has_both_messages() {
    let mut seen = BTreeSet::new();
    for &code in ErrorCode::ALL {
        assert!(seen.insert(code.as_str()), "{code} listed twice");
        assert_eq!(ErrorCode::parse(code.as_str()), Some(code));
        assert!(
            code.as_str()
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b == b'_'),
            "{code} is not snake_case"
        );
        assert!(code.status().is_client_error() || code.status().is_server_error());
        for lang in ["zh-CN", "en"] {
            // Exactly this language: no fallback to the other one.
            let msg = rust_i18n::Backend::translate(
                medclaim::_rust_i18n_backend(),
                lang,
                code.message_key(),
            );
            assert!(
                msg.as_deref().is_some_and(|m| !m.trim().is_empty()),
                "{code}: no {lang} message under {} in locales/errors.{lang}.yml",
                code.message_key()
            );
        }
    }
    assert_eq!(ErrorCode::parse("no_such_code"), None);
}

#[test]
fn no_schema_name_is_defined_twice() {
    let clashes = medclaim::app::schema_clashes();
    assert!(
        clashes.is_empty(),
        "schemas defined twice with different shapes (rename one with #[schema(as = ...)]): {clashes:?}"
    );
}

fn statuses(op: &Value) -> BTreeSet<String> {
    op["responses"]
        .as_object()
        .map(|r| r.keys().cloned().collect())
        .unwrap_or_default()
}

/// Partner calls are signed instead of signed in; login is the way in. Everything else needs a
/// session, so every other operation must declare `security`.
fn is_public(path: &str, op: &Value) -> bool {
    let signed = op["parameters"].as_array().is_some_and(|ps| {
        ps.iter().any(|p| {
            p["in"] == "header"
                && p["name"]
                    .as_str()
                    .is_some_and(|n| n.eq_ignore_ascii_case("x-medclaim-signature"))
        })
    });
    // Signing in with a passkey is the way in too, and so is resetting a forgotten password.
    signed
        || path == "/api/v1/auth/login"
        || path.starts_with("/api/v1/auth/passkey/")
        || path.starts_with("/api/v1/auth/password-reset")
        || path.starts_with("/api/v1/auth/activate")
}

#[tokio::test]
async fn every_operation_documents_the_statuses_it_can_answer() {
    let app = TestApp::spawn().await;
    let (status, doc) = app
        .call(Method::GET, "/api/v1/openapi.json", None, None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(doc, medclaim::app::openapi_document());

    let codes: BTreeSet<&str> =
        doc["components"]["schemas"]["Error"]["properties"]["error"]["properties"]["code"]["enum"]
            .as_array()
            .expect("Error lists its codes")
            .iter()
            .map(|c| c.as_str().unwrap())
            .collect();
    let catalogue: BTreeSet<&str> = ErrorCode::ALL.iter().map(|c| c.as_str()).collect();
    assert_eq!(codes, catalogue);

    let mut problems = Vec::new();
    let mut operations = 0;
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("path item") {
            if !["get", "put", "post", "delete", "patch"].contains(&method.as_str()) {
                continue;
            }
            operations += 1;
            let have = statuses(op);
            let mut missing = Vec::new();
            let mut need = |status: &str, why: &str| {
                if !have.contains(status) {
                    missing.push(format!(
                        "{} {path}: no {status} ({why})",
                        method.to_uppercase()
                    ));
                }
            };
            let secured = op["security"].as_array().is_some_and(|s| {
                s.iter()
                    .any(|r| r.as_object().is_some_and(|r| !r.is_empty()))
            });
            if secured {
                need("401", "signed-in callers only");
                if method != "get" {
                    need("403", "role, and the CSRF header for cookie callers");
                }
            } else if !is_public(path, op) {
                problems.push(format!(
                    "{} {path}: declares neither `security` nor a signature",
                    method.to_uppercase()
                ));
            }
            let content = &op["requestBody"]["content"];
            if content.get("application/json").is_some() {
                for (s, why) in [
                    ("400", "malformed JSON"),
                    ("413", "body too large"),
                    ("415", "not JSON"),
                    ("422", "a field missing or wrong"),
                ] {
                    need(s, why);
                }
            }
            if content.get("multipart/form-data").is_some() {
                for (s, why) in [
                    ("400", "unreadable form"),
                    ("413", "file too large"),
                    ("415", "file type"),
                    ("422", "missing field or file"),
                ] {
                    need(s, why);
                }
            }
            let params: Vec<&str> = op["parameters"]
                .as_array()
                .map(|ps| ps.iter().filter_map(|p| p["in"].as_str()).collect())
                .unwrap_or_default();
            if params.contains(&"path") {
                need("404", "a path naming nothing");
                need("400", "an unreadable path segment");
            }
            if params.contains(&"query") {
                need("400", "an unreadable query");
            }
            let paged = op["parameters"].as_array().is_some_and(|ps| {
                ps.iter()
                    .any(|p| p["in"] == "query" && p["name"] == "cursor")
            });
            if paged {
                need("422", "a cursor this list did not issue");
            }
            problems.append(&mut missing);
            // Every refusal is described with a body schema.
            for (status, response) in op["responses"].as_object().unwrap() {
                if status.starts_with('4')
                    && response["content"].as_object().is_none_or(|c| c.is_empty())
                {
                    problems.push(format!(
                        "{} {path}: {status} has no body schema",
                        method.to_uppercase()
                    ));
                }
            }
        }
    }
    assert!(operations > 50, "only {operations} operations");
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[tokio::test]
async fn axum_refusals_under_the_api_are_json_errors() {
    let app = TestApp::spawn().await;
    let (_, token) = app.user_with("2025990001", &[Role::Student]).await;
    // A path segment that is not a number (the role check runs first: a JSON refusal either way).
    let (status, body) = app.get("/api/v1/cases/not-a-number", &token).await;
    assert!(status.is_client_error(), "{status} {body}");
    assert!(body["error"]["code"].is_string(), "{body}");
    // A query that does not parse.
    let (status, body) = app.get("/api/v1/notifications?limit=many", &token).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"]["code"], "malformed_request");
    // A method the path does not take.
    let (status, body) = app
        .call(Method::PUT, "/api/v1/me", Some(&token), None)
        .await;
    // (the access table may refuse it first: a JSON refusal either way)
    assert!(status.is_client_error(), "{status} {body}");
    assert!(body["error"]["code"].is_string(), "{body}");
    // Pages keep their own answers.
    let resp = app
        .client
        .get(app.url("/app/cases/not-a-number"))
        .send()
        .await
        .unwrap();
    assert_ne!(
        resp.headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or(""),
        "application/json"
    );
}

#[tokio::test]
async fn a_partner_timestamp_at_the_edge_of_i64_is_refused_not_a_server_error() {
    let app = TestApp::spawn().await;
    for ts in ["-9223372036854775808", "9223372036854775807"] {
        let resp = app
            .client
            .post(app.url("/api/v1/gateway/visits"))
            .header("content-type", "application/fhir+json")
            .header("x-medclaim-key", "hk_nobody")
            .header("x-medclaim-timestamp", ts)
            .header("x-medclaim-nonce", "n1")
            .header("x-medclaim-signature", "00")
            .body("{}")
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED, "timestamp {ts}");
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["error"]["code"], "stale_signature");
    }
}
