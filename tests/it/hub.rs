//! Deployment B end to end: a visit a hospital pushed becomes a case in one request (and one
//! tap); a case covered by an external insurer goes to it through the outbox — eligibility,
//! claim, adjudication (at once, or later by webhook), payment — and the patient hears of each
//! step; the ledger reconciles. The insurer is the stand-in of `insurers.rs`.

use std::sync::Arc;

use medclaim::http::auth::Role;
use medclaim::notify::ManualClock;
use medclaim::notify::worker::{Tick, Worker};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::Row;

use crate::browser::Browser;
use crate::common::{Options, TestApp, assert_error};
use crate::gateway::{Creds, admin, bundle, id_number, register, send};
use crate::insurers::{StandIn, claim_response, insurer, payment, stand_in};

const VISITS: &str = "/api/v1/gateway/visits";

/// A registered hospital and an insurer played by the stand-in.
struct Hub {
    admin: String,
    hospital: Creds,
    insurer: Creds,
    stand_in: StandIn,
}

async fn hub(app: &TestApp) -> Hub {
    let admin = admin(app).await;
    let hospital = register(
        app,
        &admin,
        "/api/v1/admin/hospitals",
        json!({"name": "市第一人民医院", "level": 3}),
    )
    .await;
    // Register with a placeholder, start the stand-in with the real credentials, then point at it.
    let insurer = insurer(app, &admin, "http://127.0.0.1:9/fhir").await;
    let (stand_in, base) = stand_in(&insurer.key_id, &insurer.secret).await;
    sqlx::query("UPDATE insurers SET fhir_base_url = $1 WHERE id = $2")
        .bind(&base)
        .bind(insurer.id)
        .execute(&app.db.pool)
        .await
        .unwrap();
    Hub {
        admin,
        hospital,
        insurer,
        stand_in,
    }
}

/// A recent visit date (inside the claim window) and its year.
fn recent_day() -> (String, i64) {
    use chrono::Datelike;
    let d = chrono::Utc::now().date_naive() - chrono::Duration::days(10);
    (d.format("%Y-%m-%d").to_string(), i64::from(d.year()))
}

/// A student with their own national id number, covered in the visit's year — by the insurer
/// under `policy` when given, else by the university's fund — and a visit the hospital pushed
/// for them (two fee lines, 100 + 50.50 yuan). Answers (user id, token, visit id).
async fn patient(
    app: &TestApp,
    hub: &Hub,
    username: &str,
    first17: &str,
    policy: Option<&str>,
) -> (i64, String, i64) {
    let patient = uncovered_patient(app, hub, username, first17).await;
    let (_, year) = recent_day();
    match policy {
        Some(policy) => {
            app.import_insured(username, year, hub.insurer.id, policy)
                .await
        }
        None => app.import_coverage(username, &[year]).await,
    }
    patient
}

/// [`patient`] whom no coverage import names.
async fn uncovered_patient(
    app: &TestApp,
    hub: &Hub,
    username: &str,
    first17: &str,
) -> (i64, String, i64) {
    let (user_id, token) = app.user_with(username, &[Role::Student]).await;
    let number = id_number(first17);
    // The roster import gives the student their national id number (the hospital's key).
    app.import_students_csv(format!(
        "student_id,name,class,phone,id_number,status\n{username},{username},2024级1班,13800138000,{number},enrolled\n"
    ))
    .await;
    let (date, _) = recent_day();
    let visit = format!("V-{username}");
    let body = bundle(
        &number,
        &visit,
        &date,
        &[("挂号费", "100"), ("药费", "50.50")],
        "150.50",
    );
    let (status, got) = send(app, VISITS, &hub.hospital, &body).await;
    assert_eq!(status, StatusCode::CREATED, "{got}");
    (user_id, token, got["visit_id"].as_i64().unwrap())
}

async fn try_claim(app: &TestApp, token: &str, visit_id: i64) -> (StatusCode, Value) {
    app.post(
        "/api/v1/cases/from-visit",
        token,
        json!({"visit_id": visit_id}),
    )
    .await
}

async fn claim(app: &TestApp, token: &str, visit_id: i64) -> Value {
    let (status, case) = try_claim(app, token, visit_id).await;
    assert_eq!(status, StatusCode::CREATED, "{case}");
    case
}

async fn case_of(app: &TestApp, token: &str, id: i64) -> Value {
    let (status, case) = app.get(&format!("/api/v1/cases/{id}"), token).await;
    assert_eq!(status, StatusCode::OK, "{case}");
    case
}

/// The kinds of the patient's in-app notifications, oldest first.
async fn inbox(app: &TestApp, user_id: i64) -> Vec<String> {
    sqlx::query_scalar("SELECT kind FROM notifications WHERE user_id = $1 ORDER BY id")
        .bind(user_id)
        .fetch_all(&app.db.pool)
        .await
        .unwrap()
}

fn without_worker() -> Options {
    Options {
        outbox_worker: false,
        ..Options::default()
    }
}

/// A worker on a hand-driven clock; `tick` runs due insurer jobs (SMS and e-mail are not
/// configured here and are parked).
fn worker(app: &TestApp) -> (Worker, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new(medclaim::db::now_ms()));
    (
        medclaim::app::worker(&app.state, clock.clone()).unwrap(),
        clock,
    )
}

async fn insurer_jobs(app: &TestApp) -> Vec<(String, i64)> {
    sqlx::query_as("SELECT status, attempts FROM outbox WHERE channel = 'insurer' ORDER BY id")
        .fetch_all(&app.db.pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_pushed_visit_becomes_a_submitted_case_in_one_request() {
    let app = TestApp::spawn_with(without_worker()).await;
    let hub = hub(&app).await;
    let (_, token, visit_id) = patient(&app, &hub, "2024001", "11010520000101123", None).await;

    let case = claim(&app, &token, visit_id).await;
    assert_eq!(case["status"], "submitted");
    assert_eq!(case["source"], "hospital");
    assert_eq!(case["visit_id"], visit_id);
    assert_eq!(case["hospital"], "市第一人民医院");
    assert_eq!(case["hospital_level"], 3);
    assert_eq!(case["reason"], "上呼吸道感染");
    assert_eq!(case["diagnosis_code"], "J06.9");
    assert_eq!(case["records"], json!([]), "no photo needed");
    assert_eq!(
        case["fee_lines"],
        json!([{"code": null, "display": "挂号费", "amount_cents": 10000},
               {"code": null, "display": "药费", "amount_cents": 5050}])
    );
    let invoice = &case["invoices"][0];
    assert_eq!(invoice["invoice_no"], "INV-V-2024001");
    assert_eq!(invoice["total_cents"], 15050);
    assert_eq!(invoice["covered_cents"], 15050);
    assert_eq!(invoice["photo"], Value::Null);
    assert_eq!(invoice["may_edit"], false);
    assert_eq!(case["insurer"], Value::Null, "the university's fund");
    assert_eq!(case["actions"]["edit"], false);

    // Staff review it like any other case.
    let (_, reviewer) = app.user_with("reviewer1", &[Role::Reviewer1]).await;
    let (_, queue) = app.get("/api/v1/review/queue?level=1", &reviewer).await;
    assert_eq!(queue["items"][0]["id"], case["id"], "{queue}");

    // Once only, and only by its patient.
    assert_error(
        &try_claim(&app, &token, visit_id).await,
        StatusCode::CONFLICT,
        "visit_already_claimed",
    );
    let (_, visits) = app.get("/api/v1/visits", &token).await;
    assert_eq!(visits["items"][0]["case_id"], case["id"]);
    let (_, other, _) = patient(&app, &hub, "2024002", "11010520000101456", None).await;
    assert_error(
        &try_claim(&app, &other, visit_id).await,
        StatusCode::NOT_FOUND,
        "not_found",
    );

    // The hospital amends the visit afterwards: the claim under review keeps what was claimed.
    let (date, _) = recent_day();
    let amended = bundle(
        &id_number("11010520000101123"),
        "V-2024001",
        &date,
        &[("挂号费", "100"), ("药费", "80")],
        "180",
    );
    let (status, _) = send(&app, VISITS, &hub.hospital, &amended).await;
    assert_eq!(status, StatusCode::CREATED);
    let again = case_of(&app, &token, case["id"].as_i64().unwrap()).await;
    assert_eq!(again["fee_lines"], case["fee_lines"]);
    assert_eq!(again["invoices"][0]["total_cents"], 15050);
    assert!(insurer_jobs(&app).await.is_empty(), "no insurer involved");
}

#[tokio::test]
async fn two_taps_at_once_make_one_case() {
    let app = TestApp::spawn_with(without_worker()).await;
    let hub = hub(&app).await;
    let (_, token, visit_id) = patient(&app, &hub, "2024001", "11010520000101123", None).await;
    let taps: Vec<_> = (0..4).map(|_| try_claim(&app, &token, visit_id)).collect();
    let mut statuses: Vec<(StatusCode, String)> = futures_util::future::join_all(taps)
        .await
        .into_iter()
        .map(|(s, body)| (s, body["error"]["code"].as_str().unwrap_or("").to_string()))
        .collect();
    statuses.sort();
    assert_eq!(
        statuses,
        [
            (StatusCode::CREATED, String::new()),
            (StatusCode::CONFLICT, "visit_already_claimed".into()),
            (StatusCode::CONFLICT, "visit_already_claimed".into()),
            (StatusCode::CONFLICT, "visit_already_claimed".into()),
        ]
    );
    let cases: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM cases")
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    assert_eq!(cases, 1);
}

#[tokio::test]
async fn a_visit_outside_the_rules_is_refused_and_nothing_is_written() {
    let app = TestApp::spawn_with(without_worker()).await;
    let hub = hub(&app).await;
    let (_, token, visit_id) = uncovered_patient(&app, &hub, "2024001", "11010520000101123").await;
    assert_error(
        &try_claim(&app, &token, visit_id).await,
        StatusCode::FORBIDDEN,
        "not_insured",
    );
    let cases: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM cases")
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    assert_eq!(cases, 0);
    assert_error(
        &try_claim(&app, &token, 999_999).await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    let (status, _) = try_claim(&app, &hub.admin, visit_id).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "claims are the patient's");
}

#[tokio::test]
async fn the_insurer_adjudicates_through_the_outbox_in_every_scenario() {
    let app = TestApp::spawn_with(without_worker()).await;
    let hub = hub(&app).await;
    let (full_id, full, v1) =
        patient(&app, &hub, "2024001", "11010520000101011", Some("P-FULL")).await;
    let (refused_id, refused, v2) = patient(
        &app,
        &hub,
        "2024002",
        "11010520000101022",
        Some("P-NOTCOVERED"),
    )
    .await;
    let (_, partial, v3) = patient(
        &app,
        &hub,
        "2024003",
        "11010520000101033",
        Some("P-PARTIAL"),
    )
    .await;
    let (slow_id, slow, v4) =
        patient(&app, &hub, "2024004", "11010520000101044", Some("P-SLOW")).await;

    let c_full = claim(&app, &full, v1).await;
    assert_eq!(c_full["status"], "submitted");
    assert_eq!(c_full["insurer"]["status"], "waiting");
    assert_eq!(c_full["insurer"]["insurer_id"], hub.insurer.id);
    let c_refused = claim(&app, &refused, v2).await;
    let c_partial = claim(&app, &partial, v3).await;
    let c_slow = claim(&app, &slow, v4).await;
    let id = |c: &Value| c["id"].as_i64().unwrap();

    // The insurer decides, not staff: nothing in the queue, and no reviewer may decide.
    let (_, reviewer) = app.user_with("reviewer1", &[Role::Reviewer1]).await;
    let (_, queue) = app.get("/api/v1/review/queue?level=1", &reviewer).await;
    assert_eq!(queue["waiting"], 0, "{queue}");
    let decided = app
        .post(
            &format!("/api/v1/review/cases/{}", id(&c_full)),
            &reviewer,
            json!({"level": 1, "version": c_full["version"], "decision": "approve"}),
        )
        .await;
    assert_error(&decided, StatusCode::CONFLICT, "insurer_adjudicates");

    let (worker, clock) = worker(&app);
    let tick = worker.tick().await.unwrap();
    assert_eq!(
        (tick.sent, tick.failed),
        (3, 1),
        "the slow insurer failed once"
    );

    let full_case = case_of(&app, &full, id(&c_full)).await;
    assert_eq!(full_case["status"], "approved");
    assert_eq!(full_case["payout_cents"], 15050);
    assert_eq!(full_case["insurer"]["status"], "complete");
    assert_eq!(full_case["invoices"][0]["status"], "approved");
    assert_eq!(inbox(&app, full_id).await, ["insurer_approved"]);

    let refused_case = case_of(&app, &refused, id(&c_refused)).await;
    assert_eq!(refused_case["status"], "rejected");
    assert!(
        refused_case["invoices"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("保单已于2025-12-31终止"),
        "{refused_case}"
    );
    assert_eq!(inbox(&app, refused_id).await, ["case_rejected"]);

    let partial_case = case_of(&app, &partial, id(&c_partial)).await;
    assert_eq!(partial_case["status"], "approved");
    assert_eq!(partial_case["payout_cents"], 10000);
    assert_eq!(partial_case["insurer"]["status"], "partial");
    assert_eq!(partial_case["insurer"]["items"][1]["benefit_cents"], 0);

    // Slow, then successful: retried after the backoff, applied once.
    assert_eq!(
        case_of(&app, &slow, id(&c_slow)).await["status"],
        "submitted"
    );
    assert_eq!(worker.tick().await.unwrap(), Tick::default(), "not yet due");
    clock.advance_ms(31 * 60 * 1000);
    let tick = worker.tick().await.unwrap();
    assert_eq!((tick.sent, tick.failed), (1, 0));
    assert_eq!(
        case_of(&app, &slow, id(&c_slow)).await["status"],
        "approved"
    );
    assert_eq!(inbox(&app, slow_id).await, ["insurer_approved"]);
    assert_eq!(
        insurer_jobs(&app).await,
        [
            ("sent".to_string(), 1),
            ("sent".to_string(), 1),
            ("sent".to_string(), 1),
            ("sent".to_string(), 2)
        ]
    );

    // Every claim carried our case id, so the retry was the same claim to the insurer.
    let received = hub.stand_in.received.lock().unwrap().clone();
    let claims: Vec<&Value> = received
        .iter()
        .filter(|r| r["resourceType"] == "Claim")
        .collect();
    assert_eq!(
        claims.len(),
        4,
        "three answered at once, the slow one twice"
    );
    let slow_id = id(&c_slow).to_string();
    let slow_claims: Vec<&&Value> = claims
        .iter()
        .filter(|c| c["identifier"][0]["value"] == slow_id.as_str())
        .collect();
    assert_eq!(slow_claims.len(), 2);
    assert_eq!(slow_claims[0]["item"], slow_claims[1]["item"]);
    assert_eq!(
        slow_claims[0]["diagnosis"][0]["diagnosisCodeableConcept"]["coding"][0]["code"],
        "J06.9"
    );

    // Staff neither correct nor reopen what the insurer decided.
    let (_, admin_view) = app
        .get(&format!("/api/v1/review/cases/{}", id(&c_full)), &hub.admin)
        .await;
    let (_, reviewer2) = app.user_with("reviewer2", &[Role::Reviewer2]).await;
    let reopen = app
        .post(
            &format!("/api/v1/review/cases/{}/reopen", id(&c_full)),
            &reviewer2,
            json!({"version": admin_view["version"], "reason": "复核"}),
        )
        .await;
    assert_error(&reopen, StatusCode::CONFLICT, "insurer_adjudicates");
    let (status, corrected) = app
        .call(
            reqwest::Method::PATCH,
            &format!("/api/v1/review/cases/{}", id(&c_partial)),
            Some(&reviewer),
            Some(json!({"version": 99, "hospital": "别的医院"})),
        )
        .await;
    assert_error(
        &(status, corrected),
        StatusCode::CONFLICT,
        "insurer_adjudicates",
    );

    // Nothing to hand in for a case the insurer pays.
    let booked = app
        .post(
            "/api/v1/bookings",
            &full,
            json!({"case_id": id(&c_full), "slot_id": 1}),
        )
        .await;
    assert_error(&booked, StatusCode::CONFLICT, "insurer_pays");
}

#[tokio::test]
async fn a_later_claim_response_and_payments_reach_the_case_once() {
    let app = TestApp::spawn_with(without_worker()).await;
    let hub = hub(&app).await;
    let (user_id, token, visit_id) =
        patient(&app, &hub, "2024001", "11010520000101011", Some("P-QUEUED")).await;
    let case_id = claim(&app, &token, visit_id).await["id"].as_i64().unwrap();
    let (worker, _) = worker(&app);
    worker.tick().await.unwrap();
    let queued = case_of(&app, &token, case_id).await;
    assert_eq!(queued["status"], "submitted");
    assert_eq!(queued["insurer"]["status"], "queued");

    let path = format!("/api/v1/insurers/{}/claim-responses", hub.insurer.id);
    let response = claim_response("CR-LATE", case_id, "complete", "150.5").to_string();
    let (status, got) = send(&app, &path, &hub.insurer, &response).await;
    assert_eq!(status, StatusCode::OK, "{got}");
    assert_eq!(got["duplicate"], false);
    let (status, got) = send(&app, &path, &hub.insurer, &response).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(got["duplicate"], true, "the same ClaimResponse again");
    let approved = case_of(&app, &token, case_id).await;
    assert_eq!(approved["status"], "approved");
    assert_eq!(approved["payout_cents"], 15050);
    assert_eq!(inbox(&app, user_id).await, ["insurer_approved"]);

    let pay = format!("/api/v1/insurers/{}/payments", hub.insurer.id);
    let first = payment("PAY-1", "2026-11-20", &[(case_id, "150.5")]).to_string();
    let (status, got) = send(&app, &pay, &hub.insurer, &first).await;
    assert_eq!(status, StatusCode::CREATED, "{got}");
    let paid = case_of(&app, &token, case_id).await;
    assert_eq!(paid["status"], "completed");
    assert!(paid["paid_at"].is_string());
    assert!(
        paid["timeline"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["event"] == "paid")
    );
    let told =
        sqlx::query("SELECT body FROM notifications WHERE user_id = $1 AND kind = 'case_paid'")
            .bind(user_id)
            .fetch_one(&app.db.pool)
            .await
            .unwrap()
            .try_get::<medclaim::seal::Sealed, _>("body")
            .unwrap()
            .0;
    assert!(
        told.contains("150.50") && told.contains("****3445"),
        "{told}"
    );
    assert!(
        !told.contains("6222020200112233445"),
        "never the full account"
    );

    // Paid twice: recorded and flagged, the case and the patient are not told again.
    let second = payment("PAY-2", "2026-11-21", &[(case_id, "150.5")]).to_string();
    let (status, got) = send(&app, &pay, &hub.insurer, &second).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(got["entries"][0]["paid_twice"], true);
    assert_eq!(
        inbox(&app, user_id).await,
        ["insurer_approved", "case_paid"]
    );
    let (_, report) = app.get("/api/v1/admin/reconciliation", &hub.admin).await;
    assert_eq!(report["items"][0]["kind"], "paid_twice", "{report}");
}

#[tokio::test]
async fn a_case_typed_in_with_photos_also_goes_to_the_insurer_on_submit() {
    let app = TestApp::spawn_with(without_worker()).await;
    let hub = hub(&app).await;
    let (_, token) = crate::intake::student(&app, "2024001").await;
    // This year's coverage is the insurer's after all (a corrected coverage import).
    let year = i64::from(chrono::Datelike::year(&crate::intake::today()));
    app.import_insured("2024001", year, hub.insurer.id, "P-PARTIAL")
        .await;
    let (case_id, _) = crate::intake::ready_case(&app, &token, "FP0001").await;
    let (status, _) =
        crate::intake::add_invoice(&app, &token, case_id, "FP0002", "20000", "0").await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, submitted) = app
        .post(
            &format!("/api/v1/cases/{case_id}/submit"),
            &token,
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{submitted}");
    let (worker, _) = worker(&app);
    assert_eq!(worker.tick().await.unwrap().sent, 1);

    // The claim's items are the covered parts of the invoices (500 − 100 yuan, and 200 yuan);
    // the stand-in allows only the first.
    let received = hub.stand_in.received.lock().unwrap().clone();
    let claim = received
        .iter()
        .find(|r| r["resourceType"] == "Claim")
        .unwrap();
    let nets: Vec<&Value> = claim["item"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| &i["net"]["value"])
        .collect();
    assert_eq!(nets, [&json!(400), &json!(200)]);
    let decided = case_of(&app, &token, case_id).await;
    assert_eq!(decided["status"], "approved");
    assert_eq!(decided["source"], "student");
    assert_eq!(decided["payout_cents"], 40000);
    assert_eq!(decided["insurer"]["status"], "partial");
}

#[tokio::test]
async fn a_refused_call_is_parked_for_an_administrator_and_not_lost() {
    let app = TestApp::spawn_with(without_worker()).await;
    let hub = hub(&app).await;
    let (_, token, visit_id) =
        patient(&app, &hub, "2024001", "11010520000101011", Some("P-FULL")).await;
    let case_id = claim(&app, &token, visit_id).await["id"].as_i64().unwrap();
    // The insurer rotated its side of the secret: it answers 401, which retrying cannot mend.
    let real = hub.stand_in.secret.lock().unwrap().clone();
    *hub.stand_in.secret.lock().unwrap() = "changed on their side".into();
    let (worker, clock) = worker(&app);
    assert_eq!(worker.tick().await.unwrap().failed, 1);
    let (_, outbox) = app
        .get("/api/v1/admin/outbox?status=dead", &hub.admin)
        .await;
    let job = outbox["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["channel"] == "insurer")
        .unwrap_or_else(|| panic!("{outbox}"))
        .clone();
    assert!(job["last_error"].as_str().unwrap().contains("401"), "{job}");
    assert_eq!(case_of(&app, &token, case_id).await["status"], "submitted");

    // Fixed on their side, the administrator sends it again: delivered, the case decided.
    *hub.stand_in.secret.lock().unwrap() = real;
    let (status, _) = app
        .post(
            &format!("/api/v1/admin/outbox/{}/retry", job["id"]),
            &hub.admin,
            json!({}),
        )
        .await;
    assert!(status.is_success(), "{status}");
    clock.set(medclaim::db::now_ms());
    assert_eq!(worker.tick().await.unwrap().sent, 1);
    assert_eq!(case_of(&app, &token, case_id).await["status"], "approved");
}

/// The walk-through of issue 7: the hospital's front server pushes a signed visit, the patient
/// claims it with one tap on the phone, the insurer adjudicates and pays, and reconciliation is
/// clean — until one payment amount is altered, which flags exactly that case.
#[tokio::test]
async fn push_tap_adjudicate_pay_reconcile() {
    let app = TestApp::spawn().await; // the outbox worker runs in the background, as in production
    let hub = hub(&app).await;
    let (_, finance) = app.user_with("finance1", &[Role::Finance]).await;
    let (user_id, token, visit_id) =
        patient(&app, &hub, "2024001", "11010520000101011", Some("P-FULL")).await;
    let (_, other, other_visit) =
        patient(&app, &hub, "2024002", "11010520000101022", Some("P-FULL")).await;
    let (_, third, third_visit) =
        patient(&app, &hub, "2024003", "11010520000101033", Some("P-FULL")).await;

    let Some(browser) = Browser::start(&app.addr, 375, 812).await else {
        return;
    };
    browser.sign_in("2024001").await;
    browser.goto("/app").await;
    browser.el("#hospital-visits").await;
    browser.click(&format!("#claim-visit-{visit_id}")).await;
    browser
        .wait_for("document.querySelector('#case-source') !== null")
        .await;
    let path = browser.path().await;
    let case_id: i64 = path.trim_start_matches("/app/cases/").parse().unwrap();
    assert!(browser.text("#fee-lines").await.contains("药费"));
    assert!(browser.console_errors().await.is_empty());
    browser.stop().await;

    let other_case = claim(&app, &other, other_visit).await["id"]
        .as_i64()
        .unwrap();
    let third_case = claim(&app, &third, third_visit).await["id"]
        .as_i64()
        .unwrap();
    for (t, c) in [
        (&token, case_id),
        (&other, other_case),
        (&third, third_case),
    ] {
        wait_until(&app, t, c, "approved").await;
    }
    assert_eq!(inbox(&app, user_id).await, ["insurer_approved"]);

    // The insurer pays the first two as approved: the books are clean.
    let pay = format!("/api/v1/insurers/{}/payments", hub.insurer.id);
    let both = payment(
        "PAY-2026-11-A",
        "2026-11-24",
        &[(case_id, "150.5"), (other_case, "150.5")],
    );
    let (status, _) = send(&app, &pay, &hub.insurer, &both.to_string()).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(case_of(&app, &token, case_id).await["status"], "completed");
    assert_eq!(
        inbox(&app, user_id).await,
        ["insurer_approved", "case_paid"]
    );
    let window = "/api/v1/admin/reconciliation?from=2026-11-01&to=2026-11-30";
    let (_, report) = app.get(window, &finance).await;
    assert_eq!(report["items"], json!([]), "clean books");

    // The next payment carries an altered amount: exactly that case is flagged.
    let altered = payment("PAY-2026-11-B", "2026-11-24", &[(third_case, "105.5")]);
    let (status, _) = send(&app, &pay, &hub.insurer, &altered.to_string()).await;
    assert_eq!(status, StatusCode::CREATED);
    let (_, report) = app.get(window, &finance).await;
    let items = report["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{report}");
    assert_eq!(items[0]["kind"], "amount_differs");
    assert_eq!(items[0]["case_id"], third_case);
    assert_eq!(items[0]["approved_cents"], 15050);
    assert_eq!(items[0]["paid_cents"], 10550);
}

/// Polls the case until the background worker moved it to `status` (at most 20 s).
async fn wait_until(app: &TestApp, token: &str, case_id: i64, status: &str) {
    for _ in 0..200 {
        if case_of(app, token, case_id).await["status"] == status {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("case {case_id} never became {status}");
}
