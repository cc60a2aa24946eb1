//! Partners stay in their lane (issue 14 §4): an insurer pays and decides only its own cases,
//! its decision is frozen once the case is paid, admin-set insurer URLs are `https` and public,
//! and what an insurer answers is read only up to a size cap.

use medclaim::insurers::ConnectorError;
use reqwest::StatusCode;
use serde_json::json;
use sqlx::Row;

use crate::common::{Options, TestApp, assert_error};
use crate::gateway::{admin, register, send};
use crate::insurers::{
    approve_by_insurer, claim_input, claim_response, client_for, insured_case, insurer, payment,
};

async fn audit_actions(app: &TestApp, action: &str) -> Vec<String> {
    sqlx::query("SELECT summary FROM audit_events WHERE action = $1 ORDER BY id")
        .bind(action)
        .fetch_all(&app.db.pool)
        .await
        .unwrap()
        .iter()
        .map(|r| r.try_get::<String, _>("summary").unwrap())
        .collect()
}

async fn count(app: &TestApp, sql: &str) -> i64 {
    sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(sql.to_string()))
        .fetch_one(&app.db.pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn an_insurer_cannot_pay_another_insurers_case_and_the_attempt_is_audited() {
    let app = TestApp::spawn().await;
    let token = admin(&app).await;
    let a = insurer(&app, &token, "https://a.example/fhir").await;
    let b = register(
        &app,
        &token,
        "/api/v1/admin/insurers",
        json!({"name": "太平洋保险", "fhir_base_url": "https://b.example/fhir"}),
    )
    .await;
    let case_a = insured_case(&app, "2024001", a.id, "P-A").await;
    let case_b = insured_case(&app, "2024002", b.id, "P-B").await;
    approve_by_insurer(&app, &a, case_a, "100").await;

    // B names A's case (next to one of its own): the whole notice is refused, nothing booked.
    let path = format!("/api/v1/insurers/{}/payments", b.id);
    let notice = payment("PAY-X", "2026-03-08", &[(case_b, "1"), (case_a, "100")]).to_string();
    assert_error(
        &send(&app, &path, &b, &notice).await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    assert_eq!(count(&app, "SELECT COUNT(*) FROM ledger_entries").await, 0);
    let (_, case) = app
        .get(
            &format!("/api/v1/cases/{case_a}"),
            &app.login("2024001").await,
        )
        .await;
    assert_eq!(case["status"], "approved", "A's case is not paid by B");
    let refused = audit_actions(&app, "ledger.payment_refused").await;
    assert_eq!(refused.len(), 1, "{refused:?}");
    assert!(refused[0].contains(&case_a.to_string()), "{refused:?}");
    assert!(refused[0].contains("PAY-X"), "{refused:?}");

    // A decision on another insurer's case is refused as well.
    let cr_path = format!("/api/v1/insurers/{}/claim-responses", b.id);
    let cr = claim_response("CR-X", case_a, "complete", "1").to_string();
    assert_error(
        &send(&app, &cr_path, &b, &cr).await,
        StatusCode::NOT_FOUND,
        "not_found",
    );

    // A pays its own case.
    let path = format!("/api/v1/insurers/{}/payments", a.id);
    let own = payment("PAY-A", "2026-03-08", &[(case_a, "100")]).to_string();
    let (status, got) = send(&app, &path, &a, &own).await;
    assert_eq!(status, StatusCode::CREATED, "{got}");
}

#[tokio::test]
async fn a_decision_is_frozen_once_the_case_is_paid() {
    let app = TestApp::spawn().await;
    let token = admin(&app).await;
    let a = insurer(&app, &token, "https://a.example/fhir").await;
    let case_id = insured_case(&app, "2024001", a.id, "P-A").await;
    approve_by_insurer(&app, &a, case_id, "100").await;
    let path = format!("/api/v1/insurers/{}/payments", a.id);
    let paid = payment("PAY-1", "2026-03-08", &[(case_id, "100")]).to_string();
    assert_eq!(send(&app, &path, &a, &paid).await.0, StatusCode::CREATED);

    // A later, different ClaimResponse: kept and flagged, the baseline stays.
    let cr_path = format!("/api/v1/insurers/{}/claim-responses", a.id);
    let later = claim_response("CR-LATER", case_id, "complete", "30").to_string();
    let (status, got) = send(&app, &cr_path, &a, &later).await;
    assert_eq!(status, StatusCode::OK, "{got}");
    assert_eq!(got["frozen"], true, "{got}");
    let row = sqlx::query(
        "SELECT status, approved_cents, response_identifier FROM insurer_claims WHERE case_id = $1",
    )
    .bind(case_id)
    .fetch_one(&app.db.pool)
    .await
    .unwrap();
    assert_eq!(row.try_get::<String, _>("status").unwrap(), "complete");
    assert_eq!(row.try_get::<i64, _>("approved_cents").unwrap(), 10_000);
    assert_eq!(
        row.try_get::<String, _>("response_identifier").unwrap(),
        format!("CR-{case_id}")
    );
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) FROM claim_responses WHERE response_identifier = 'CR-LATER'"
        )
        .await,
        1,
        "the later answer is recorded"
    );
    assert_eq!(
        audit_actions(&app, "insurer.claim_response_after_payment")
            .await
            .len(),
        1
    );
    let (_, ledger) = app
        .get(
            "/api/v1/admin/ledger/cases",
            &app.user_with("finance1", &[medclaim::http::auth::Role::Finance])
                .await
                .1,
        )
        .await;
    assert_eq!(ledger["items"][0]["owed_cents"], 10_000, "{ledger}");
    assert_eq!(ledger["items"][0]["balance_cents"], 0, "{ledger}");
}

#[tokio::test]
async fn insurer_urls_must_be_https_and_public_unless_configured() {
    let app = TestApp::spawn_with(Options {
        strict_partner_urls: true,
        ..Options::default()
    })
    .await;
    let token = admin(&app).await;
    let try_url = |url: &'static str| {
        let app = &app;
        let token = token.clone();
        async move {
            app.post(
                "/api/v1/admin/insurers",
                &token,
                json!({"name": "某保险", "fhir_base_url": url}),
            )
            .await
        }
    };
    assert_error(
        &try_url("http://93.184.216.34/fhir").await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "partner_url_not_https",
    );
    assert_error(
        &try_url("ftp://93.184.216.34/fhir").await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "partner_url_not_https",
    );
    for internal in [
        "https://127.0.0.1/fhir",
        "https://localhost:8443/fhir",
        "https://10.1.2.3/fhir",
        "https://192.168.0.10/fhir",
        "https://169.254.169.254/latest",
        "https://[::1]/fhir",
        "https://[fd00::1]/fhir",
        "https://[::ffff:127.0.0.1]/fhir",
        "https://100.64.0.1/fhir",
        "https://0.0.0.0/fhir",
    ] {
        let got = try_url(internal).await;
        assert_error(
            &got,
            StatusCode::UNPROCESSABLE_ENTITY,
            "partner_url_private",
        );
        assert!(
            got.1["error"]["fields"]["fhir_base_url"].is_string(),
            "{}",
            got.1
        );
    }
    let (status, got) = try_url("https://93.184.216.34/fhir").await;
    assert_eq!(status, StatusCode::CREATED, "{got}");
    // The console form answers the same refusal.
    let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM insurers")
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    assert_eq!(count, 1);
}

#[tokio::test]
async fn an_oversized_insurer_answer_is_refused_not_buffered() {
    // An insurer whose answer never ends (well: 8 MiB of JSON whitespace).
    let huge = axum::Router::new().route(
        "/fhir/Claim/$submit",
        axum::routing::post(|| async {
            let mut body = vec![b' '; 8 * 1024 * 1024];
            body.extend_from_slice(b"{}");
            ([("content-type", "application/fhir+json")], body)
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}/fhir", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, huge).await });
    let app = TestApp::spawn().await;
    let token = admin(&app).await;
    let creds = insurer(&app, &token, &base).await;
    let client = client_for(&app, creds.id).await;
    let claim = medclaim::fhir::claim(&claim_input(1, "P-1"));
    match client.submit_claim(&claim).await {
        Err(ConnectorError::BadAnswer(why)) => assert!(why.contains("larger than"), "{why}"),
        other => panic!("expected a refused answer, got {other:?}"),
    }
}
