//! Insurer connector and hub: the signed client against a stand-in insurer (an axum server in
//! this test harness, not in the product), the signed webhooks, the ledger, reconciliation, and
//! FHIR R4 validity of what we emit, checked by an independent validator.

use medclaim::money::Cents;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::http::{HeaderMap, StatusCode as AxumStatus};
use axum::response::IntoResponse;
use medclaim::fhir::{self, ClaimInput, ClaimItemInput, EligibilityInput};
use medclaim::http::auth::Role;
use medclaim::insurers::{ClaimSubmission, ConnectorError, InsurerClient};
use medclaim::registry::PartnerKind;
use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::Row;

use crate::common::{TestApp, assert_error};
use crate::fixtures::{inv, rated};
use crate::gateway::{Creds, admin, register, send, signature_for};

// ---------- fixtures ----------

pub(crate) async fn insurer(app: &TestApp, token: &str, base: &str) -> Creds {
    register(
        app,
        token,
        "/api/v1/admin/insurers",
        json!({"name": "平安健康", "fhir_base_url": base}),
    )
    .await
}

/// A student covered this year by `insurer_id` with `policy_no` (an administrator's coverage
/// import), and a case of theirs, typed in and submitted, waiting for that insurer.
pub(crate) async fn insured_case(
    app: &TestApp,
    username: &str,
    insurer_id: i64,
    policy_no: &str,
) -> i64 {
    let student = app.person(username, &[Role::Student]).await;
    let year = i64::from(chrono::Datelike::year(&crate::intake::today()));
    app.import_insured(username, year, insurer_id, policy_no)
        .await;
    let no = format!("INS-{username}");
    let claim = app
        .submitted_case(&student, rated(Some(3)), &[inv(&no, 15_050, 0)])
        .await;
    claim.id
}

pub(crate) fn money(yuan: &str) -> Value {
    serde_json::from_str(&format!(r#"{{"value":{yuan},"currency":"CNY"}}"#)).unwrap()
}

fn adjudication(code: &str, yuan: &str) -> Value {
    json!({"category": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/adjudication", "code": code}]},
           "amount": money(yuan)})
}

/// A ClaimResponse as an insurer would send it.
pub(crate) fn claim_response(id: &str, case_id: i64, outcome: &str, payout: &str) -> Value {
    json!({
        "resourceType": "ClaimResponse",
        "identifier": [{"system": "urn:insurer:claim-response", "value": id}],
        "status": "active",
        "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/claim-type", "code": "institutional"}]},
        "use": "claim",
        "patient": {"identifier": {"system": "urn:medclaim:student-id", "value": "2024001"}},
        "created": "2026-03-05",
        "insurer": {"display": "平安健康"},
        "request": {"identifier": {"system": "urn:medclaim:case", "value": case_id.to_string()}},
        "outcome": outcome,
        "disposition": "药费部分不在保障范围",
        "item": [
            {"itemSequence": 1, "adjudication": [adjudication("submitted", "100"), adjudication("benefit", "100")]},
            {"itemSequence": 2, "adjudication": [adjudication("submitted", "50.5"), adjudication("benefit", "0")]}
        ],
        "payment": {"type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/ex-paymenttype", "code": "complete"}]},
                    "amount": money(payout)}
    })
}

/// A PaymentReconciliation paying `(case id, yuan)` pairs into a bank account.
pub(crate) fn payment(id: &str, date: &str, paid: &[(i64, &str)]) -> Value {
    let total = paid
        .iter()
        .map(|(_, y)| medclaim::fhir::money::cents_from_decimal(y).unwrap())
        .sum::<Option<Cents>>()
        .unwrap();
    let detail: Vec<Value> = paid
        .iter()
        .map(|(case_id, yuan)| {
            json!({
                "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/payment-type", "code": "payment"}]},
                "request": {"identifier": {"system": "urn:medclaim:case", "value": case_id.to_string()}},
                "date": date,
                "payee": {"identifier": {"system": "urn:medclaim:bank-account", "value": "6222020200112233445"}},
                "amount": money(yuan)
            })
        })
        .collect();
    json!({
        "resourceType": "PaymentReconciliation",
        "identifier": [{"system": "urn:insurer:payment", "value": id}],
        "status": "active",
        "created": date,
        "paymentDate": date,
        "paymentAmount": money(&medclaim::fhir::money::number_from_cents(total).to_string()),
        "detail": detail
    })
}

fn eligibility_response(inforce: bool) -> Value {
    let mut r = json!({
        "resourceType": "CoverageEligibilityResponse",
        "status": "active",
        "purpose": ["validation"],
        "patient": {"identifier": {"system": "urn:medclaim:student-id", "value": "2024001"}},
        "created": "2026-03-02",
        "request": {"identifier": {"system": "urn:medclaim:case", "value": "1"}},
        "outcome": "complete",
        "insurer": {"display": "平安健康"},
        "insurance": [{"coverage": {"identifier": {"system": "urn:medclaim:policy-no", "value": "P"}}, "inforce": inforce}]
    });
    if !inforce {
        r["disposition"] = json!("保单已于2025-12-31终止");
    }
    r
}

// ---------- the stand-in insurer ----------

/// Answers per policy number: `P-NOTCOVERED` not in force; `P-QUEUED` 202 (the ClaimResponse
/// comes later, by webhook); `P-SLOW` 503 once, then an answer; `P-PARTIAL` only the first item
/// paid; anything else every item paid in full.
#[derive(Clone)]
pub(crate) struct StandIn {
    key_id: String,
    pub(crate) secret: Arc<std::sync::Mutex<String>>,
    slow_failures_left: Arc<AtomicUsize>,
    pub(crate) received: Arc<std::sync::Mutex<Vec<Value>>>,
}

impl StandIn {
    /// Checks our four signature headers exactly as an insurer would.
    fn verified(&self, path: &str, headers: &HeaderMap, body: &str) -> bool {
        let h = |n: &str| {
            headers
                .get(n)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_string()
        };
        let ts: i64 = h("x-medclaim-timestamp").parse().unwrap_or(0);
        let fresh = (chrono::Utc::now().timestamp() - ts).abs() <= 300;
        let secret = self.secret.lock().unwrap().clone();
        fresh
            && h("x-medclaim-key") == self.key_id
            && !h("x-medclaim-nonce").is_empty()
            && h("x-medclaim-signature")
                == signature_for(&secret, "POST", path, ts, &h("x-medclaim-nonce"), body)
    }
}

fn policy_of(resource: &Value) -> String {
    resource["insurance"][0]["coverage"]["identifier"]["value"]
        .as_str()
        .unwrap_or("")
        .to_string()
}

async fn eligibility(
    axum::extract::State(s): axum::extract::State<StandIn>,
    uri: axum::http::Uri,
    headers: HeaderMap,
    body: String,
) -> axum::response::Response {
    if !s.verified(uri.path(), &headers, &body) {
        return AxumStatus::UNAUTHORIZED.into_response();
    }
    let req: Value = serde_json::from_str(&body).unwrap();
    s.received.lock().unwrap().push(req.clone());
    axum::Json(eligibility_response(policy_of(&req) != "P-NOTCOVERED")).into_response()
}

async fn submit(
    axum::extract::State(s): axum::extract::State<StandIn>,
    uri: axum::http::Uri,
    headers: HeaderMap,
    body: String,
) -> axum::response::Response {
    if !s.verified(uri.path(), &headers, &body) {
        return AxumStatus::UNAUTHORIZED.into_response();
    }
    let claim: Value = serde_json::from_str(&body).unwrap();
    s.received.lock().unwrap().push(claim.clone());
    match policy_of(&claim).as_str() {
        "P-QUEUED" => AxumStatus::ACCEPTED.into_response(),
        "P-SLOW"
            if s.slow_failures_left
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok() =>
        {
            AxumStatus::SERVICE_UNAVAILABLE.into_response()
        }
        "P-PARTIAL" => axum::Json(adjudicate(&claim, true)).into_response(),
        _ => axum::Json(adjudicate(&claim, false)).into_response(),
    }
}

fn yuan_text(cents: Cents) -> String {
    medclaim::fhir::money::number_from_cents(cents).to_string()
}

/// The stand-in's ClaimResponse for a claim: each item's net allowed in full, or (partial) only
/// the first one.
pub(crate) fn adjudicate(claim: &Value, partial: bool) -> Value {
    let case_id: i64 = claim["identifier"][0]["value"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let mut payout = Cents::ZERO;
    let items: Vec<Value> = claim["item"]
        .as_array()
        .unwrap()
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let net = medclaim::fhir::money::cents_from_decimal(&item["net"]["value"].to_string())
                .unwrap();
            let benefit = if partial && i > 0 { Cents::ZERO } else { net };
            payout += benefit;
            json!({"itemSequence": item["sequence"], "adjudication": [
                adjudication("submitted", &yuan_text(net)),
                adjudication("benefit", &yuan_text(benefit))]})
        })
        .collect();
    let outcome = if partial { "partial" } else { "complete" };
    let mut response = claim_response(
        &format!("CR-{case_id}"),
        case_id,
        outcome,
        &yuan_text(payout),
    );
    response["item"] = json!(items);
    response
}

/// Starts the stand-in; answers it and its base URL.
pub(crate) async fn stand_in(key_id: &str, secret: &str) -> (StandIn, String) {
    let s = StandIn {
        key_id: key_id.to_string(),
        secret: Arc::new(std::sync::Mutex::new(secret.to_string())),
        slow_failures_left: Arc::new(AtomicUsize::new(1)),
        received: Arc::default(),
    };
    let app = axum::Router::new()
        .route(
            "/fhir/CoverageEligibilityRequest",
            axum::routing::post(eligibility),
        )
        .route("/fhir/Claim/$submit", axum::routing::post(submit))
        .with_state(s.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}/fhir", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (s, base)
}

pub(crate) fn claim_input(case_id: i64, policy_no: &str) -> ClaimInput {
    ClaimInput {
        eligibility: EligibilityInput {
            case_id,
            student_id: "2024001".into(),
            policy_no: policy_no.into(),
            insurer_name: "平安健康".into(),
            visit_date: "2026-03-01".into(),
            created: "2026-03-02".into(),
        },
        hospital: "市第一人民医院".into(),
        diagnosis_code: Some("J06.9".into()),
        diagnosis_text: "上呼吸道感染".into(),
        items: vec![
            ClaimItemInput {
                code: Some("GH01".into()),
                display: "挂号费".into(),
                amount_cents: Cents::new(10000),
            },
            ClaimItemInput {
                code: None,
                display: "药费".into(),
                amount_cents: Cents::new(5050),
            },
        ],
    }
}

pub(crate) async fn client_for(app: &TestApp, id: i64) -> InsurerClient {
    let partner =
        medclaim::registry::store::find_by_id(&app.db.pool, &app.keys, PartnerKind::Insurer, id)
            .await
            .unwrap()
            .unwrap();
    InsurerClient::new(&partner, Duration::from_secs(5), OPEN).unwrap()
}

/// The tests' stand-in listens on loopback over http.
const OPEN: medclaim::registry::UrlPolicy = medclaim::registry::UrlPolicy {
    allow_http: true,
    allow_private: true,
};

// ---------- tests ----------

#[tokio::test]
async fn the_connector_speaks_signed_fhir_to_an_insurer_in_every_scenario() {
    let app = TestApp::spawn().await;
    let token = admin(&app).await;
    // Register with a placeholder, start the stand-in with the real credentials, then point at it.
    let creds = insurer(&app, &token, "http://127.0.0.1:9/fhir").await;
    let (stand_in, base) = stand_in(&creds.key_id, &creds.secret).await;
    sqlx::query("UPDATE insurers SET fhir_base_url = $1 WHERE id = $2")
        .bind(&base)
        .bind(creds.id)
        .execute(&app.db.pool)
        .await
        .unwrap();
    let client = client_for(&app, creds.id).await;

    let covered = client
        .check_eligibility(&fhir::coverage_eligibility_request(
            &claim_input(7, "P-COVERED").eligibility,
        ))
        .await
        .unwrap();
    assert!(covered.covered);
    let refused = client
        .check_eligibility(&fhir::coverage_eligibility_request(
            &claim_input(7, "P-NOTCOVERED").eligibility,
        ))
        .await
        .unwrap();
    assert!(!refused.covered);
    assert_eq!(refused.reason.as_deref(), Some("保单已于2025-12-31终止"));

    let ClaimSubmission::Adjudicated(partial) = client
        .submit_claim(&fhir::claim(&claim_input(7, "P-PARTIAL")))
        .await
        .unwrap()
    else {
        panic!("expected a synchronous ClaimResponse");
    };
    assert_eq!(partial.case_id, 7);
    assert_eq!(partial.outcome, "partial");
    assert_eq!(partial.payout_cents, Some(Cents::new(10000)));
    assert_eq!(partial.items[1].benefit_cents, Some(Cents::ZERO));

    assert_eq!(
        client
            .submit_claim(&fhir::claim(&claim_input(8, "P-QUEUED")))
            .await
            .unwrap(),
        ClaimSubmission::Accepted
    );

    let slow = fhir::claim(&claim_input(9, "P-SLOW"));
    assert!(matches!(
        client.submit_claim(&slow).await,
        Err(ConnectorError::Retryable(_))
    ));
    let ClaimSubmission::Adjudicated(done) = client.submit_claim(&slow).await.unwrap() else {
        panic!("the retry should be answered");
    };
    assert_eq!(
        (done.case_id, done.payout_cents),
        (9, Some(Cents::new(15050)))
    );

    let sent = stand_in.received.lock().unwrap().clone();
    let claim = sent.iter().find(|r| r["resourceType"] == "Claim").unwrap();
    assert_eq!(
        claim["identifier"][0],
        json!({"system": "urn:medclaim:case", "value": "7"})
    );
    assert_eq!(claim["total"], json!({"value": 150.5, "currency": "CNY"}));

    // The insurer no longer trusts our old secret: its refusal is not retryable.
    *stand_in.secret.lock().unwrap() = "rotated on their side".into();
    assert!(matches!(
        client.submit_claim(&slow).await,
        Err(ConnectorError::Refused(401))
    ));
}

#[tokio::test]
async fn claim_responses_are_verified_recorded_once_and_scoped_to_the_insurer() {
    let app = TestApp::spawn().await;
    let token = admin(&app).await;
    let ins = insurer(&app, &token, "https://a.example/fhir").await;
    let other = insurer(&app, &token, "https://b.example/fhir").await;
    let case_id = insured_case(&app, "2024001", ins.id, "P-1").await;
    let path = format!("/api/v1/insurers/{}/claim-responses", ins.id);
    let body = claim_response("CR-1", case_id, "partial", "100").to_string();

    let (status, got) = send(&app, &path, &ins, &body).await;
    assert_eq!(status, StatusCode::OK, "{got}");
    assert_eq!(got["payout_cents"], 10000);
    assert_eq!(got["duplicate"], false);
    let (status, again) = send(&app, &path, &ins, &body).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        again["duplicate"], true,
        "a duplicate ClaimResponse changes nothing"
    );
    let changed = claim_response("CR-1", case_id, "complete", "150.5").to_string();
    assert_error(
        &send(&app, &path, &ins, &changed).await,
        StatusCode::CONFLICT,
        "claim_response_conflict",
    );

    let row = sqlx::query("SELECT status, approved_cents FROM insurer_claims WHERE case_id = $1")
        .bind(case_id)
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    assert_eq!(row.try_get::<String, _>("status").unwrap(), "partial");
    assert_eq!(row.try_get::<i64, _>("approved_cents").unwrap(), 10000);

    // Another insurer's key on this insurer's path, and another insurer's own path for our case.
    assert_error(
        &send(&app, &path, &other, &body).await,
        StatusCode::UNAUTHORIZED,
        "bad_signature",
    );
    let other_path = format!("/api/v1/insurers/{}/claim-responses", other.id);
    let theirs = claim_response("CR-9", case_id, "complete", "1").to_string();
    assert_error(
        &send(&app, &other_path, &other, &theirs).await,
        StatusCode::NOT_FOUND,
        "not_found",
    );

    let no_request = body.replace("urn:medclaim:case", "urn:other");
    let (status, outcome) = send(&app, &path, &ins, &no_request).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        outcome["issue"][0]["expression"][0],
        "ClaimResponse.request.identifier"
    );
}

pub(crate) async fn approve_by_insurer(app: &TestApp, ins: &Creds, case_id: i64, payout: &str) {
    let path = format!("/api/v1/insurers/{}/claim-responses", ins.id);
    let body = claim_response(&format!("CR-{case_id}"), case_id, "complete", payout).to_string();
    let (status, got) = send(app, &path, ins, &body).await;
    assert_eq!(status, StatusCode::OK, "{got}");
}

#[tokio::test]
async fn a_case_paid_twice_is_flagged_and_a_resent_notice_is_not() {
    let app = TestApp::spawn().await;
    let token = admin(&app).await;
    let (_, finance) = app.user_with("finance1", &[Role::Finance]).await;
    let ins = insurer(&app, &token, "https://a.example/fhir").await;
    let case_id = insured_case(&app, "2024001", ins.id, "P-1").await;
    approve_by_insurer(&app, &ins, case_id, "150.5").await;
    let path = format!("/api/v1/insurers/{}/payments", ins.id);

    let first = payment("PAY-1", "2026-03-06", &[(case_id, "150.50")]).to_string();
    let (status, got) = send(&app, &path, &ins, &first).await;
    assert_eq!(status, StatusCode::CREATED, "{got}");
    assert_eq!(got["entries"][0]["amount_cents"], 15050);
    assert_eq!(got["entries"][0]["destination_kind"], "bank");
    assert_eq!(got["entries"][0]["destination_masked"], "****3445");
    assert_eq!(got["entries"][0]["paid_twice"], false);
    let (_, report) = app.get("/api/v1/admin/reconciliation", &finance).await;
    assert_eq!(report["items"], json!([]), "paid as approved: clean");

    let (status, resent) = send(&app, &path, &ins, &first).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(resent["already_recorded"], true);

    let second = payment("PAY-2", "2026-03-07", &[(case_id, "150.5")]).to_string();
    let (status, got) = send(&app, &path, &ins, &second).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(got["entries"][0]["paid_twice"], true);

    let (status, report) = app
        .get(
            "/api/v1/admin/reconciliation?from=2026-03-01&to=2026-03-31",
            &finance,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let items = report["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{report}");
    assert_eq!(items[0]["kind"], "paid_twice");
    assert_eq!(items[0]["case_id"], case_id);
    assert_eq!(items[0]["paid_cents"], 30100);

    let (_, ledger) = app.get("/api/v1/admin/ledger", &finance).await;
    assert_eq!(ledger["items"][0]["owed_cents"], 15050);
    assert_eq!(ledger["items"][0]["paid_cents"], 30100);
    let (_, student) = app.user_with("2024009", &[Role::Student]).await;
    assert_error(
        &app.get("/api/v1/admin/reconciliation", &student).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    );
}

#[tokio::test]
async fn reconciliation_flags_exactly_the_case_paid_a_different_amount() {
    let app = TestApp::spawn().await;
    let token = admin(&app).await;
    let ins = insurer(&app, &token, "https://a.example/fhir").await;
    let right = insured_case(&app, "2024001", ins.id, "P-1").await;
    let altered = insured_case(&app, "2024002", ins.id, "P-2").await;
    approve_by_insurer(&app, &ins, right, "150.5").await;
    approve_by_insurer(&app, &ins, altered, "88").await;
    let path = format!("/api/v1/insurers/{}/payments", ins.id);
    let body = payment("PAY-9", "2026-03-06", &[(right, "150.5"), (altered, "80")]).to_string();
    let (status, got) = send(&app, &path, &ins, &body).await;
    assert_eq!(status, StatusCode::CREATED, "{got}");

    let (_, report) = app.get("/api/v1/admin/reconciliation", &token).await;
    assert_eq!(
        report["items"],
        json!([{"kind": "amount_differs", "case_id": altered, "insurer_id": ins.id,
                "approved_cents": 8800, "paid_cents": 8000, "entry_ids": [got["entries"][1]["id"]]}])
    );
    let (_, outside) = app
        .get("/api/v1/admin/reconciliation?from=2026-04-01", &token)
        .await;
    assert_eq!(outside["items"], json!([]), "the window is by payment date");
    let bad = app
        .get("/api/v1/admin/reconciliation?from=March", &token)
        .await;
    assert_error(&bad, StatusCode::UNPROCESSABLE_ENTITY, "invalid_input");

    // Money for a case nobody approved, and a payment notice that does not add up.
    let stray = insured_case(&app, "2024003", ins.id, "P-3").await;
    let (status, _) = send(
        &app,
        &path,
        &ins,
        &payment("PAY-10", "2026-03-08", &[(stray, "5")]).to_string(),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let (_, report) = app.get("/api/v1/admin/reconciliation", &token).await;
    let kinds: Vec<&str> = report["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["amount_differs", "paid_without_approval"]);
    let mut wrong_total = payment("PAY-11", "2026-03-08", &[(right, "1")]);
    wrong_total["paymentAmount"] = money("2");
    let (status, outcome) = send(&app, &path, &ins, &wrong_total.to_string()).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        outcome["issue"][0]["expression"][0],
        "PaymentReconciliation.paymentAmount"
    );
}

// ---------- FHIR validity, by an independent validator ----------

/// The JSON code blocks of docs/integration.md that are FHIR resources.
fn documented_resources() -> Vec<Value> {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/integration.md"))
        .unwrap();
    doc.split("```json")
        .skip(1)
        .filter_map(|block| block.split("```").next())
        .filter_map(|text| serde_json::from_str::<Value>(text).ok())
        .filter(|v| v.get("resourceType").is_some())
        .collect()
}

#[tokio::test]
async fn the_documented_bundle_is_accepted_by_the_gateway() {
    let app = TestApp::spawn().await;
    let token = admin(&app).await;
    let h = register(
        &app,
        &token,
        "/api/v1/admin/hospitals",
        json!({"name": "市第一人民医院", "level": 3}),
    )
    .await;
    let bundle = documented_resources()
        .into_iter()
        .find(|r| r["resourceType"] == "Bundle")
        .expect("docs show a bundle");
    let (status, got) = send(&app, "/api/v1/gateway/visits", &h, &bundle.to_string()).await;
    assert_eq!(status, StatusCode::CREATED, "{got}");
}

#[tokio::test]
async fn everything_we_emit_validates_as_fhir_r4() {
    let python = std::env::var("MEDCLAIM_FHIR_PYTHON").unwrap_or_else(|_| "python3".into());
    let has_validator = std::process::Command::new(&python)
        .args(["-c", "import fhir.resources"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !has_validator {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI must validate FHIR: install fhir.resources==6.4.0 for {python}"
        );
        eprintln!(
            "SKIPPED: no Python package fhir.resources for {python} (set MEDCLAIM_FHIR_PYTHON)"
        );
        return;
    }
    let app = TestApp::spawn().await;
    let token = admin(&app).await;
    let h = register(
        &app,
        &token,
        "/api/v1/admin/hospitals",
        json!({"name": "H", "level": 1}),
    )
    .await;
    let (status, outcome) = send(
        &app,
        "/api/v1/gateway/visits",
        &h,
        r#"{"resourceType":"Bundle","type":"batch"}"#,
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);

    let input = claim_input(42, "P-1");
    let mut resources = vec![
        ("ours-claim", fhir::claim(&input)),
        (
            "ours-eligibility-request",
            fhir::coverage_eligibility_request(&input.eligibility),
        ),
        ("ours-operation-outcome", outcome),
        (
            "theirs-claim-response",
            claim_response("CR-1", 42, "complete", "150.5"),
        ),
        (
            "theirs-payment",
            payment("PAY-1", "2026-03-06", &[(42, "150.5")]),
        ),
        ("theirs-eligibility-response", eligibility_response(false)),
    ];
    for (i, r) in documented_resources().into_iter().enumerate() {
        resources.push(if i == 0 { ("doc-0", r) } else { ("doc-n", r) });
    }
    let dir = tempfile::tempdir().unwrap();
    for (i, (name, r)) in resources.iter().enumerate() {
        std::fs::write(
            dir.path().join(format!("{i:02}-{name}.json")),
            r.to_string(),
        )
        .unwrap();
    }
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fhir/validate.py");
    let out = std::process::Command::new(&python)
        .arg(script)
        .arg(dir.path())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    println!("{text}{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "FHIR R4 validation failed:\n{text}");
    assert!(text.contains(&format!("{} checked, 0 invalid", resources.len())));
}

/// Issue 14 §4: the URL check of registration is repeated on every call, so an insurer whose
/// host name has since come to resolve to an internal address (DNS rebinding; here `localhost`)
/// is not called, and a literal internal address is refused before connecting.
#[tokio::test]
async fn a_partner_url_is_checked_again_when_it_is_called() {
    let app = TestApp::spawn().await;
    let token = admin(&app).await;
    let creds = insurer(&app, &token, "http://127.0.0.1:9/fhir").await;
    let (stand_in, base) = stand_in(&creds.key_id, &creds.secret).await;
    let port = base
        .trim_start_matches("http://127.0.0.1:")
        .trim_end_matches("/fhir")
        .to_string();
    let partner_at = |url: String| {
        let app = &app;
        async move {
            let mut partner = medclaim::registry::store::find_by_id(
                &app.db.pool,
                &app.keys,
                PartnerKind::Insurer,
                creds.id,
            )
            .await
            .unwrap()
            .unwrap();
            partner.fhir_base_url = Some(url);
            partner
        }
    };
    let public_only = medclaim::registry::UrlPolicy {
        allow_http: true,
        allow_private: false,
    };
    let request = fhir::coverage_eligibility_request(&claim_input(1, "P-1").eligibility);

    // A host name that resolves inside: refused as it resolves, nothing reaches the stand-in.
    let by_name = partner_at(format!("http://localhost:{port}/fhir")).await;
    let client = InsurerClient::new(&by_name, Duration::from_secs(5), public_only).unwrap();
    let refused = client.check_eligibility(&request).await.unwrap_err();
    assert!(
        matches!(refused, ConnectorError::Retryable(_)),
        "{refused:?}"
    );
    // A literal internal address, or plain http when only https is allowed: no client at all.
    let literal = partner_at(base.clone()).await;
    let why = InsurerClient::new(&literal, Duration::from_secs(5), public_only)
        .err()
        .expect("a literal loopback address is refused");
    assert!(why.to_string().contains("internal"), "{why}");
    let strict = medclaim::registry::UrlPolicy {
        allow_http: false,
        allow_private: false,
    };
    assert!(InsurerClient::new(&by_name, Duration::from_secs(5), strict).is_err());
    assert_eq!(stand_in.received.lock().unwrap().len(), 0);

    // Allowed by configuration (the tests' own setting), the same name is called.
    let client = InsurerClient::new(&by_name, Duration::from_secs(5), OPEN).unwrap();
    client.check_eligibility(&request).await.unwrap();
    assert_eq!(stand_in.received.lock().unwrap().len(), 1);
}
