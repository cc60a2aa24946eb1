//! Review console: the queue, decisions and rule 6 in full, four eyes, stale versions under
//! concurrency, payout at final approval, policy, preset reasons, search, flags and notices.
//! Submitted cases are made by SQL (intake is another context).

use medclaim::accounts::Role;
use medclaim::db::now_ms;
use medclaim::review::domain::resubmit_status;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::common::{TestApp, assert_error};

pub struct Inv<'a> {
    pub no: &'a str,
    pub total: i64,
    pub self_pay: i64,
}

pub fn inv(no: &str, total: i64, self_pay: i64) -> Inv<'_> {
    Inv {
        no,
        total,
        self_pay,
    }
}

/// Inserts a case of `student` in `status`, submitted at `submitted_at`, with invoices;
/// answers (case id, invoice ids).
pub async fn case_in(
    app: &TestApp,
    student: i64,
    status: &str,
    hospital: &str,
    level: Option<i64>,
    submitted_at: i64,
    invoices: &[Inv<'_>],
) -> (i64, Vec<i64>) {
    let now = now_ms();
    let review_level = if status == "level2" { 2 } else { 1 };
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO cases (student_id, hospital, hospital_level, reason, visit_date, coverage_year, status, review_level,
            created_at, first_submitted_at, submitted_at, updated_at)
         VALUES ($1, $2, $3, '急性肠胃炎', '2026-03-02', 2026, $4, $5, $6, $7, $7, $6) RETURNING id",
    )
    .bind(student)
    .bind(hospital)
    .bind(level)
    .bind(status)
    .bind(review_level)
    .bind(now)
    .bind(submitted_at)
    .fetch_one(&app.db.pool)
    .await
    .unwrap();
    let mut ids = Vec::new();
    for i in invoices {
        let inv_id: i64 = sqlx::query_scalar(
            "INSERT INTO invoices (case_id, invoice_no, total_cents, self_pay_cents, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $5) RETURNING id",
        )
        .bind(id)
        .bind(i.no)
        .bind(i.total)
        .bind(i.self_pay)
        .bind(now)
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
        ids.push(inv_id);
    }
    (id, ids)
}

pub async fn submitted(
    app: &TestApp,
    student: i64,
    level: Option<i64>,
    invoices: &[Inv<'_>],
) -> (i64, Vec<i64>) {
    case_in(
        app,
        student,
        "submitted",
        "北京大学第三医院",
        level,
        now_ms(),
        invoices,
    )
    .await
}

/// What intake does when the student fixes the rejected items and submits again: editable
/// rejected invoices become pending, the case goes back to the level that returned it.
pub async fn resubmit(app: &TestApp, case_id: i64) {
    let level: i64 = sqlx::query_scalar("SELECT review_level FROM cases WHERE id = $1")
        .bind(case_id)
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    sqlx::query("UPDATE invoices SET status = 'pending', reason = NULL WHERE case_id = $1 AND status = 'rejected' AND may_edit = 1")
        .bind(case_id)
        .execute(&app.db.pool)
        .await
        .unwrap();
    sqlx::query("UPDATE cases SET status = $1, submitted_at = $2, version = version + 1 WHERE id = $3 AND status = 'returned'")
        .bind(resubmit_status(level).as_str())
        .bind(now_ms())
        .bind(case_id)
        .execute(&app.db.pool)
        .await
        .unwrap();
}

struct Team {
    student: (i64, String),
    r1: (i64, String),
    r2: (i64, String),
    admin: (i64, String),
}

async fn team(app: &TestApp) -> Team {
    Team {
        student: app.user_with("2024001", &[Role::Student]).await,
        r1: app.user_with("rev1", &[Role::Reviewer1]).await,
        r2: app.user_with("rev2", &[Role::Reviewer2]).await,
        admin: app.user_with("admin", &[Role::Admin]).await,
    }
}

async fn case_json(app: &TestApp, token: &str, id: i64) -> Value {
    let (s, b) = app.get(&format!("/api/v1/review/cases/{id}"), token).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    b
}

async fn version(app: &TestApp, token: &str, id: i64) -> i64 {
    case_json(app, token, id).await["version"].as_i64().unwrap()
}

async fn decide_invoice(
    app: &TestApp,
    token: &str,
    invoice: i64,
    body: Value,
) -> (StatusCode, Value) {
    app.post(&format!("/api/v1/review/invoices/{invoice}"), token, body)
        .await
}

async fn decide_case(app: &TestApp, token: &str, case: i64, body: Value) -> (StatusCode, Value) {
    app.post(&format!("/api/v1/review/cases/{case}"), token, body)
        .await
}

async fn inbox_kinds(app: &TestApp, user: i64) -> Vec<String> {
    sqlx::query_scalar("SELECT kind FROM notifications WHERE user_id = $1 ORDER BY id")
        .bind(user)
        .fetch_all(&app.db.pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn queue_is_oldest_submission_first_with_keyset_pages_and_age() {
    let app = TestApp::spawn().await;
    let t = team(&app).await;
    let now = now_ms();
    let s = t.student.0;
    let h = "协和医院";
    let (c_new, _) = case_in(
        &app,
        s,
        "submitted",
        h,
        None,
        now - 1_000,
        &[inv("N1", 100, 0)],
    )
    .await;
    let (c_old, _) = case_in(
        &app,
        s,
        "submitted",
        h,
        None,
        now - 3_600_000,
        &[inv("N2", 100, 0)],
    )
    .await;
    let (c_mid, _) = case_in(
        &app,
        s,
        "submitted",
        h,
        None,
        now - 60_000,
        &[inv("N3", 100, 0)],
    )
    .await;
    let (c_l2, _) = case_in(
        &app,
        s,
        "level2",
        h,
        Some(3),
        now - 10_000,
        &[inv("N4", 100, 0)],
    )
    .await;
    case_in(&app, s, "draft", h, None, now, &[inv("N5", 100, 0)]).await;

    let (st, p1) = app
        .get("/api/v1/review/queue?level=1&limit=2", &t.r1.1)
        .await;
    assert_eq!(st, StatusCode::OK, "{p1}");
    let ids: Vec<i64> = p1["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, vec![c_old, c_mid]);
    assert_eq!(p1["waiting"], 3);
    assert!(p1["oldest_age_seconds"].as_i64().unwrap() >= 3599, "{p1}");
    assert_eq!(p1["items"][0]["invoice_count"], 1);
    let cursor = p1["next_cursor"].as_str().unwrap();
    let (_, p2) = app
        .get(
            &format!("/api/v1/review/queue?level=1&limit=2&cursor={cursor}"),
            &t.r1.1,
        )
        .await;
    let ids: Vec<i64> = p2["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, vec![c_new]);
    assert!(p2["next_cursor"].is_null());

    let (_, q2) = app.get("/api/v1/review/queue?level=2", &t.r2.1).await;
    assert_eq!(q2["items"].as_array().unwrap().len(), 1);
    assert_eq!(q2["items"][0]["id"], c_l2);

    // A returned case that comes back queues by its resubmission time: last.
    sqlx::query("UPDATE cases SET status = 'returned' WHERE id = $1")
        .bind(c_old)
        .execute(&app.db.pool)
        .await
        .unwrap();
    resubmit(&app, c_old).await;
    let (_, p) = app.get("/api/v1/review/queue?level=1", &t.r1.1).await;
    let ids: Vec<i64> = p["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, vec![c_mid, c_new, c_old]);
}

#[tokio::test]
async fn roles_are_per_level() {
    let app = TestApp::spawn().await;
    let t = team(&app).await;
    let (_, fin) = app.user_with("fin", &[Role::Finance]).await;
    assert_error(
        &app.get("/api/v1/review/queue?level=2", &t.r1.1).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    );
    assert_error(
        &app.get("/api/v1/review/queue?level=1", &t.r2.1).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    );
    assert_error(
        &app.get("/api/v1/review/queue?level=1", &t.student.1).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    );
    assert_error(
        &app.get("/api/v1/review/queue?level=1", &fin).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    );
    let (st, _) = app
        .call(Method::GET, "/api/v1/review/queue?level=1", None, None)
        .await;
    assert_eq!(st, StatusCode::UNAUTHORIZED);

    let (case, invs) = submitted(&app, t.student.0, Some(2), &[inv("R1", 1000, 0)]).await;
    let v = version(&app, &t.r1.1, case).await;
    let approve1 = json!({"version": v, "level": 1, "decision": "approve"});
    let approve2 = json!({"version": v, "level": 2, "decision": "approve"});
    assert_error(
        &decide_invoice(&app, &t.r2.1, invs[0], approve1.clone()).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    );
    assert_error(
        &decide_invoice(&app, &t.r1.1, invs[0], approve2.clone()).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    );
    assert_error(
        &decide_invoice(&app, &t.student.1, invs[0], approve1.clone()).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    );
    assert_error(
        &decide_case(&app, &t.admin.1, case, approve1.clone()).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    );
    assert_error(
        &app.get(&format!("/api/v1/review/cases/{case}"), &t.student.1)
            .await,
        StatusCode::FORBIDDEN,
        "forbidden",
    );
    // Nothing changed by the refusals.
    assert_eq!(version(&app, &t.r1.1, case).await, v);
    assert_eq!(
        case_json(&app, &t.r1.1, case).await["invoices"][0]["status"],
        "pending"
    );
}

#[tokio::test]
async fn two_levels_with_corrections_end_in_approval_and_payout() {
    let app = TestApp::spawn().await;
    let t = team(&app).await;
    let (case, invs) = submitted(
        &app,
        t.student.0,
        None,
        &[inv("0001", 60_000, 10_000), inv("0002", 50_000, 0)],
    )
    .await;
    let v = version(&app, &t.r1.1, case).await;
    // No hospital level yet: no invoice can be approved.
    assert_error(
        &decide_invoice(
            &app,
            &t.r1.1,
            invs[0],
            json!({"version": v, "level": 1, "decision": "approve"}),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "hospital_level_required",
    );
    // Correct hospital name and level.
    let (st, b) = app
        .call(
            Method::PATCH,
            &format!("/api/v1/review/cases/{case}"),
            Some(&t.r1.1),
            Some(
                json!({"version": v, "hospital": "北京大学第三医院（本部）", "hospital_level": 3}),
            ),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{b}");
    assert_eq!(b["hospital_level"], 3);
    assert_eq!(b["decisions"][0]["result"], "correct");
    assert_eq!(
        b["decisions"][0]["changes"]["hospital_level"],
        json!({"old": null, "new": 3})
    );
    assert_eq!(
        b["decisions"][0]["changes"]["hospital"]["old"],
        "北京大学第三医院"
    );
    // The old version is stale now.
    assert_error(
        &decide_invoice(
            &app,
            &t.r1.1,
            invs[0],
            json!({"version": v, "level": 1, "decision": "approve"}),
        )
        .await,
        StatusCode::CONFLICT,
        "stale",
    );
    let v = b["version"].as_i64().unwrap();
    assert!(v > 1);
    // A correction that breaks the invoice rules is refused.
    assert_error(
        &decide_invoice(
            &app,
            &t.r1.1,
            invs[0],
            json!({"version": v, "level": 1, "decision": "approve", "self_pay_cents": 70_000}),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "self_pay_exceeds_total",
    );
    // Approve the first invoice with a corrected total: logged old → new.
    let (st, b) = decide_invoice(&app, &t.r1.1, invs[0], json!({"version": v, "level": 1, "decision": "approve", "total_cents": 61_000, "invoice_no": "00001"})).await;
    assert_eq!(st, StatusCode::OK, "{b}");
    assert_eq!(b["status"], "submitted");
    assert_eq!(b["invoices"][0]["total_cents"], 61_000);
    assert_eq!(b["invoices"][0]["invoice_no"], "00001");
    let d = &b["decisions"][1];
    assert_eq!(
        d["changes"]["total_cents"],
        json!({"old": 60_000, "new": 61_000})
    );
    assert_eq!(
        d["changes"]["invoice_no"],
        json!({"old": "0001", "new": "00001"})
    );
    assert_eq!(d["reviewer"], "rev1");
    // The last pending invoice decided: on to level 2.
    let v = b["version"].as_i64().unwrap();
    let (st, b) = decide_invoice(
        &app,
        &t.r1.1,
        invs[1],
        json!({"version": v, "level": 1, "decision": "approve"}),
    )
    .await;
    assert_eq!(st, StatusCode::OK, "{b}");
    assert_eq!(b["status"], "level2");
    let v = b["version"].as_i64().unwrap();
    // Level 1 cannot decide it any more.
    assert_error(
        &decide_case(
            &app,
            &t.r1.1,
            case,
            json!({"version": v, "level": 1, "decision": "approve"}),
        )
        .await,
        StatusCode::CONFLICT,
        "invalid_transition",
    );
    // Four eyes: someone holding both roles who decided at level 1 may not decide at level 2.
    sqlx::query("INSERT INTO user_roles (user_id, role) VALUES ($1, 'reviewer2')")
        .bind(t.r1.0)
        .execute(&app.db.pool)
        .await
        .unwrap();
    assert_error(
        &decide_case(
            &app,
            &t.r1.1,
            case,
            json!({"version": v, "level": 2, "decision": "approve"}),
        )
        .await,
        StatusCode::FORBIDDEN,
        "same_reviewer",
    );
    // Level 2 approves the case as a whole: payout by policy v1, level 3 = 80%, deductible 200.00.
    let (st, b) = decide_case(
        &app,
        &t.r2.1,
        case,
        json!({"version": v, "level": 2, "decision": "approve"}),
    )
    .await;
    assert_eq!(st, StatusCode::OK, "{b}");
    assert_eq!(b["status"], "approved");
    // covered = (610.00 − 100.00) + 500.00 = 1010.00; (1010 − 200) × 0.8 = 648.00
    assert_eq!(b["payout_cents"], 64_800);
    assert_eq!(b["policy_version"], 1);
    let pb = &b["payout_breakdown"];
    assert_eq!(pb["covered_cents"], 101_000);
    assert_eq!(pb["deductible_used_cents"], 20_000);
    assert_eq!(pb["ratio_bp"], 8000);
    assert_eq!(pb["cap_applied"], false);
    assert_eq!(inbox_kinds(&app, t.student.0).await, vec!["case_approved"]);
    let body: String = sqlx::query_scalar("SELECT body FROM notifications WHERE user_id = $1")
        .bind(t.student.0)
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    assert!(body.contains("648.00"), "{body}");
    // The audit chain recorded every step.
    let n: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM audit_events WHERE action LIKE 'review.%' OR action = 'case.status'",
    )
    .fetch_one(&app.db.pool)
    .await
    .unwrap();
    assert_eq!(n, 6);
}

#[tokio::test]
async fn editable_rejection_returns_and_resubmission_keeps_approved_invoices() {
    let app = TestApp::spawn().await;
    let t = team(&app).await;
    let (case, invs) = submitted(
        &app,
        t.student.0,
        Some(2),
        &[inv("A1", 10_000, 0), inv("A2", 20_000, 0)],
    )
    .await;
    let v = version(&app, &t.r1.1, case).await;
    assert_error(
        &decide_invoice(
            &app,
            &t.r1.1,
            invs[1],
            json!({"version": v, "level": 1, "decision": "reject"}),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "reason_required",
    );
    let (_, b) = decide_invoice(
        &app,
        &t.r1.1,
        invs[0],
        json!({"version": v, "level": 1, "decision": "approve"}),
    )
    .await;
    let v = b["version"].as_i64().unwrap();
    let (st, b) = decide_invoice(&app, &t.r1.1, invs[1], json!({"version": v, "level": 1, "decision": "reject", "reason": "发票照片不清晰", "may_edit": true})).await;
    assert_eq!(st, StatusCode::OK, "{b}");
    assert_eq!(b["status"], "returned");
    assert_eq!(b["review_level"], 1);
    assert_eq!(b["invoices"][0]["status"], "approved");
    assert_eq!(b["invoices"][0]["may_edit"], false);
    assert_eq!(b["invoices"][1]["status"], "rejected");
    assert_eq!(b["invoices"][1]["may_edit"], true);
    assert_eq!(
        inbox_kinds(&app, t.student.0).await,
        vec!["invoice_rejected", "case_returned"]
    );

    resubmit(&app, case).await;
    let b = case_json(&app, &t.r1.1, case).await;
    assert_eq!(b["status"], "submitted");
    assert_eq!(
        b["invoices"][0]["status"], "approved",
        "approved invoices stay approved"
    );
    let (_, q) = app.get("/api/v1/review/queue?level=1", &t.r1.1).await;
    assert_eq!(q["items"][0]["id"], case);
    let (st, b) = decide_invoice(
        &app,
        &t.r1.1,
        invs[1],
        json!({"version": b["version"], "level": 1, "decision": "approve"}),
    )
    .await;
    assert_eq!(st, StatusCode::OK, "{b}");
    assert_eq!(b["status"], "level2");
}

#[tokio::test]
async fn level2_return_comes_back_to_level2() {
    let app = TestApp::spawn().await;
    let t = team(&app).await;
    let (case, invs) = submitted(
        &app,
        t.student.0,
        Some(1),
        &[inv("B1", 30_000, 0), inv("B2", 5_000, 0)],
    )
    .await;
    let v = version(&app, &t.r1.1, case).await;
    let (_, b) = decide_case(
        &app,
        &t.r1.1,
        case,
        json!({"version": v, "level": 1, "decision": "approve"}),
    )
    .await;
    assert_eq!(b["status"], "level2", "{b}");
    let v = b["version"].as_i64().unwrap();
    // Level 2 rejects one invoice (editable) and returns the case.
    let (_, b) = decide_invoice(&app, &t.r2.1, invs[1], json!({"version": v, "level": 2, "decision": "reject", "reason": "金额与发票不符", "may_edit": true})).await;
    assert_eq!(
        b["status"], "level2",
        "re-deciding at level 2 waits for the case decision: {b}"
    );
    let v = b["version"].as_i64().unwrap();
    let (st, b) = decide_case(&app, &t.r2.1, case, json!({"version": v, "level": 2, "decision": "reject", "reason": "请更正第二张发票", "may_edit": true})).await;
    assert_eq!(st, StatusCode::OK, "{b}");
    assert_eq!(b["status"], "returned");
    assert_eq!(b["review_level"], 2);
    assert!(
        inbox_kinds(&app, t.student.0)
            .await
            .contains(&"case_returned".to_string())
    );

    resubmit(&app, case).await;
    let (_, q1) = app.get("/api/v1/review/queue?level=1", &t.r1.1).await;
    assert_eq!(q1["waiting"], 0, "not back to level 1: {q1}");
    let (_, q2) = app.get("/api/v1/review/queue?level=2", &t.r2.1).await;
    assert_eq!(q2["items"][0]["id"], case);
    let b = case_json(&app, &t.r2.1, case).await;
    assert_eq!(b["status"], "level2");
    assert_eq!(b["invoices"][0]["status"], "approved");
    assert_eq!(b["invoices"][1]["status"], "pending");
    // The fixed invoice is the last pending one: approving it approves the case.
    let (st, b) = decide_invoice(
        &app,
        &t.r2.1,
        invs[1],
        json!({"version": b["version"], "level": 2, "decision": "approve"}),
    )
    .await;
    assert_eq!(st, StatusCode::OK, "{b}");
    assert_eq!(b["status"], "approved");
    // Level 1 hospital: 90%; (300 + 50 − 200) × 0.9 = 135.00
    assert_eq!(b["payout_cents"], 13_500);
}

#[tokio::test]
async fn final_rejections_and_blacklist() {
    let app = TestApp::spawn().await;
    let t = team(&app).await;
    // Every invoice rejected finally: the case is rejected.
    let (case, invs) = submitted(&app, t.student.0, Some(2), &[inv("C1", 1_000, 0)]).await;
    let v = version(&app, &t.r1.1, case).await;
    let (_, b) = decide_invoice(&app, &t.r1.1, invs[0], json!({"version": v, "level": 1, "decision": "reject", "reason": "非正规医疗发票", "may_edit": false})).await;
    assert_eq!(b["status"], "rejected", "{b}");
    assert_eq!(b["may_edit"], false);
    assert_eq!(
        inbox_kinds(&app, t.student.0).await,
        vec!["invoice_rejected", "case_rejected"]
    );
    // A final rejection with one approved invoice: on to level 2 with the approved one only.
    let (case, invs) = submitted(
        &app,
        t.student.0,
        Some(2),
        &[inv("D1", 1_000, 0), inv("D2", 2_000, 0)],
    )
    .await;
    let v = version(&app, &t.r1.1, case).await;
    let (_, b) = decide_invoice(
        &app,
        &t.r1.1,
        invs[0],
        json!({"version": v, "level": 1, "decision": "reject", "reason": "x", "may_edit": false}),
    )
    .await;
    let (_, b) = decide_invoice(
        &app,
        &t.r1.1,
        invs[1],
        json!({"version": b["version"], "level": 1, "decision": "approve"}),
    )
    .await;
    assert_eq!(b["status"], "level2", "{b}");

    // Whole-case rejection with blacklist (expert clinic): final, and the numbers are barred.
    let (case, _) = submitted(
        &app,
        t.student.0,
        None,
        &[inv("E1", 1_000, 0), inv("E2", 2_000, 0)],
    )
    .await;
    let v = version(&app, &t.r1.1, case).await;
    let (st, b) = decide_case(&app, &t.r1.1, case, json!({"version": v, "level": 1, "decision": "reject", "reason": "专家门诊费用不予报销", "may_edit": false, "blacklist": true})).await;
    assert_eq!(st, StatusCode::OK, "{b}");
    assert_eq!(b["status"], "rejected");
    assert_eq!(b["invoices"][0]["status"], "rejected");
    assert_eq!(b["decisions"][0]["changes"]["blacklist"], true);
    let barred: Vec<String> = sqlx::query_scalar(
        "SELECT invoice_no FROM blacklist WHERE user_id = $1 ORDER BY invoice_no",
    )
    .bind(t.student.0)
    .fetch_all(&app.db.pool)
    .await
    .unwrap();
    assert_eq!(barred, vec!["E1", "E2"]);
    // Deciding a finished case, or a draft, is not a transition.
    assert_error(
        &decide_case(
            &app,
            &t.r1.1,
            case,
            json!({"version": b["version"], "level": 1, "decision": "approve"}),
        )
        .await,
        StatusCode::CONFLICT,
        "invalid_transition",
    );
    let (draft, dinv) = case_in(
        &app,
        t.student.0,
        "draft",
        "x",
        Some(1),
        now_ms(),
        &[inv("F1", 100, 0)],
    )
    .await;
    let v = version(&app, &t.r1.1, draft).await;
    assert_error(
        &decide_invoice(
            &app,
            &t.r1.1,
            dinv[0],
            json!({"version": v, "level": 1, "decision": "approve"}),
        )
        .await,
        StatusCode::CONFLICT,
        "invalid_transition",
    );
    assert_error(
        &app.call(
            Method::PATCH,
            &format!("/api/v1/review/cases/{draft}"),
            Some(&t.r1.1),
            Some(json!({"version": v, "hospital_level": 2})),
        )
        .await,
        StatusCode::CONFLICT,
        "invalid_transition",
    );
    assert_error(
        &decide_case(
            &app,
            &t.r1.1,
            999_999,
            json!({"version": 1, "level": 1, "decision": "approve"}),
        )
        .await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
}

#[tokio::test]
async fn nobody_decides_their_own_case() {
    let app = TestApp::spawn().await;
    let t = team(&app).await;
    let (me, tok) = app
        .user_with("2024009", &[Role::Student, Role::Reviewer1])
        .await;
    let (case, invs) = submitted(&app, me, Some(1), &[inv("G1", 1_000, 0)]).await;
    let v = version(&app, &tok, case).await;
    assert_error(
        &decide_invoice(
            &app,
            &tok,
            invs[0],
            json!({"version": v, "level": 1, "decision": "approve"}),
        )
        .await,
        StatusCode::FORBIDDEN,
        "same_reviewer",
    );
    // Someone else may.
    let (st, _) = decide_invoice(
        &app,
        &t.r1.1,
        invs[0],
        json!({"version": v, "level": 1, "decision": "approve"}),
    )
    .await;
    assert_eq!(st, StatusCode::OK);
}

#[tokio::test]
async fn two_reviewers_deciding_at_once_exactly_one_wins() {
    let app = TestApp::spawn().await;
    let t = team(&app).await;
    let (_, other) = app.user_with("rev1b", &[Role::Reviewer1]).await;
    for round in 0..3 {
        let no = format!("H{round}");
        let (case, invs) = submitted(
            &app,
            t.student.0,
            Some(2),
            &[inv(&no, 1_000, 0), inv(&format!("{no}x"), 1_000, 0)],
        )
        .await;
        let v = version(&app, &t.r1.1, case).await;
        let a = decide_invoice(
            &app,
            &t.r1.1,
            invs[0],
            json!({"version": v, "level": 1, "decision": "approve"}),
        );
        let b = decide_invoice(
            &app,
            &other,
            invs[0],
            json!({"version": v, "level": 1, "decision": "reject", "reason": "不清晰"}),
        );
        let (ra, rb) = tokio::join!(a, b);
        let oks = [&ra, &rb].iter().filter(|r| r.0 == StatusCode::OK).count();
        assert_eq!(oks, 1, "round {round}: {ra:?} {rb:?}");
        let loser = if ra.0 == StatusCode::OK { &rb } else { &ra };
        assert_error(loser, StatusCode::CONFLICT, "stale");
        let d = case_json(&app, &t.r1.1, case).await;
        assert_eq!(d["decisions"].as_array().unwrap().len(), 1);
        assert_eq!(d["version"], v + 1);
    }
}

async fn put_policy(
    app: &TestApp,
    admin: &str,
    ratios: [i64; 4],
    deductible: i64,
    cap: i64,
) -> Value {
    let (st, b) = app
        .call(
            Method::PUT,
            "/api/v1/admin/policy",
            Some(admin),
            Some(json!({"ratios_bp": {"0": ratios[0], "1": ratios[1], "2": ratios[2], "3": ratios[3]},
                        "deductible_cents": deductible, "annual_cap_cents": cap})),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{b}");
    b
}

/// Takes a submitted case through both levels; answers the approved case.
async fn approve_fully(app: &TestApp, t: &Team, case: i64) -> Value {
    let v = version(app, &t.r1.1, case).await;
    let (_, b) = decide_case(
        app,
        &t.r1.1,
        case,
        json!({"version": v, "level": 1, "decision": "approve"}),
    )
    .await;
    assert_eq!(b["status"], "level2", "{b}");
    let (_, b) = decide_case(
        app,
        &t.r2.1,
        case,
        json!({"version": b["version"], "level": 2, "decision": "approve"}),
    )
    .await;
    assert_eq!(b["status"], "approved", "{b}");
    b
}

#[tokio::test]
async fn policy_api_validates_and_versions() {
    let app = TestApp::spawn().await;
    let t = team(&app).await;
    let (st, p) = app.get("/api/v1/admin/policy", &t.admin.1).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(p["version"], 1);
    assert_eq!(
        p["ratios_bp"],
        json!({"0": 7000, "1": 9000, "2": 8500, "3": 8000})
    );
    assert_eq!(p["deductible_cents"], 20_000);
    assert_error(
        &app.get("/api/v1/admin/policy", &t.r1.1).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    );
    let bad = |ratios: Value, d: i64| json!({"ratios_bp": ratios, "deductible_cents": d, "annual_cap_cents": 100});
    let put = |b: Value| {
        app.call(
            Method::PUT,
            "/api/v1/admin/policy",
            Some(&t.admin.1),
            Some(b),
        )
    };
    let r = put(bad(json!({"0": 1, "1": 1, "2": 1, "3": 10_001}), 0)).await;
    assert_error(&r, StatusCode::UNPROCESSABLE_ENTITY, "invalid_ratio");
    assert_eq!(r.1["error"]["fields"]["ratios_bp.3"], "0–10000");
    assert_error(
        &put(bad(json!({"0": 1, "1": 1, "2": 1}), 0)).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_ratio",
    );
    assert_error(
        &put(bad(json!({"0": 1, "1": 1, "2": 1, "3": 1, "4": 1}), 0)).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_ratio",
    );
    assert_error(
        &put(bad(json!({"0": 1, "1": 1, "2": 1, "3": 1}), -1)).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_amount",
    );
    assert_error(
        &put(json!({"ratios_bp": {}})).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_input",
    );
    let (st, _) = app
        .call(
            Method::PUT,
            "/api/v1/admin/policy",
            Some(&t.r2.1),
            Some(bad(json!({"0": 1, "1": 1, "2": 1, "3": 1}), 0)),
        )
        .await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    let (_, p) = app.get("/api/v1/admin/policy", &t.admin.1).await;
    assert_eq!(p["version"], 1, "refusals changed nothing");
    let p = put_policy(
        &app,
        &t.admin.1,
        [5000, 6000, 7000, 8000],
        10_000,
        1_000_000,
    )
    .await;
    assert_eq!(p["version"], 2);
    let (_, p) = app.get("/api/v1/admin/policy", &t.admin.1).await;
    assert_eq!(p["ratios_bp"]["1"], 6000);
    assert_eq!(p["annual_cap_cents"], 1_000_000);
}

#[tokio::test]
async fn payout_shares_deductible_and_cap_across_the_year_and_reopen_recomputes() {
    let app = TestApp::spawn().await;
    let t = team(&app).await;
    // Deductible 200.00, cap 1000.00, level 1 = 90%.
    put_policy(&app, &t.admin.1, [7000, 9000, 8500, 8000], 20_000, 100_000).await;
    // Case 1: 150.00 covered — all of it eats the deductible, payout 0.
    let (c1, _) = submitted(&app, t.student.0, Some(1), &[inv("P1", 18_000, 3_000)]).await;
    let b = approve_fully(&app, &t, c1).await;
    assert_eq!(b["payout_cents"], 0);
    assert_eq!(b["payout_breakdown"]["deductible_used_cents"], 15_000);
    assert_eq!(b["policy_version"], 2);
    // Case 2: 1000.00 covered — 50.00 deductible left: (1000 − 50) × 90% = 855.00.
    let (c2, _) = submitted(&app, t.student.0, Some(1), &[inv("P2", 100_000, 0)]).await;
    let b = approve_fully(&app, &t, c2).await;
    assert_eq!(b["payout_cents"], 85_500);
    assert_eq!(b["payout_breakdown"]["deductible_left_cents"], 5_000);
    // Case 3: 500.00 covered — 450.00 after ratio, but only 145.00 of the cap is left.
    let (c3, _) = submitted(&app, t.student.0, Some(1), &[inv("P3", 50_000, 0)]).await;
    let b = approve_fully(&app, &t, c3).await;
    assert_eq!(b["payout_cents"], 14_500);
    assert_eq!(b["payout_breakdown"]["cap_applied"], true);
    assert_eq!(b["payout_breakdown"]["cap_left_cents"], 14_500);
    // Another year is separate: another student's usage too.
    let (other, _) = app.user_with("2024002", &[Role::Student]).await;
    let (c4, _) = submitted(&app, other, Some(3), &[inv("P4", 10_001, 0)]).await;
    let b = approve_fully(&app, &t, c4).await;
    // (100.01 − 100.01 deductible) → 0; policy 2 level 3 = 80%.
    assert_eq!(b["payout_cents"], 0);

    // Reopen case 2 (rule 11): level 2 again, payout superseded and recomputed under the new policy.
    assert_error(
        &app.post(
            &format!("/api/v1/review/cases/{c2}/reopen"),
            &t.r1.1,
            json!({"version": 1, "reason": "x"}),
        )
        .await,
        StatusCode::FORBIDDEN,
        "forbidden",
    );
    let v = version(&app, &t.admin.1, c2).await;
    let (st, b) = app
        .post(
            &format!("/api/v1/review/cases/{c2}/reopen"),
            &t.admin.1,
            json!({"version": v, "reason": "金额复核"}),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{b}");
    assert_eq!(b["status"], "level2");
    assert!(b["payout_cents"].is_null());
    let log = b["decisions"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(log["result"], "reopen");
    assert_eq!(log["changes"]["payout_cents"]["old"], 85_500);
    // Reopening what is not approved is not a transition.
    assert_error(
        &app.post(
            &format!("/api/v1/review/cases/{c2}/reopen"),
            &t.admin.1,
            json!({"version": b["version"], "reason": "x"}),
        )
        .await,
        StatusCode::CONFLICT,
        "invalid_transition",
    );
    put_policy(
        &app,
        &t.admin.1,
        [7000, 10_000, 8500, 8000],
        20_000,
        1_000_000,
    )
    .await;
    let (st, b) = decide_case(
        &app,
        &t.r2.1,
        c2,
        json!({"version": b["version"], "level": 2, "decision": "approve"}),
    )
    .await;
    assert_eq!(st, StatusCode::OK, "{b}");
    // Usage now: c1 (deductible 150.00, paid 0) and c3 (paid 145.00): (1000 − 50) × 100% = 950.00
    assert_eq!(b["payout_cents"], 95_000);
    assert_eq!(b["policy_version"], 3);
}

#[tokio::test]
async fn preset_rejection_reasons_are_admin_edited() {
    let app = TestApp::spawn().await;
    let t = team(&app).await;
    let (st, b) = app.get("/api/v1/admin/rejection-reasons", &t.r1.1).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(b["items"].as_array().unwrap().len(), 6);
    assert_eq!(b["items"][0]["text_zh"], "发票照片不清晰");
    assert_eq!(b["items"][0]["text_en"], "Invoice photo is not legible");
    assert_error(
        &app.get("/api/v1/admin/rejection-reasons", &t.student.1)
            .await,
        StatusCode::FORBIDDEN,
        "forbidden",
    );
    let new = json!({"text_zh": "重复报销", "text_en": "Already claimed", "sort_order": 0});
    assert_error(
        &app.post("/api/v1/admin/rejection-reasons", &t.r1.1, new.clone())
            .await,
        StatusCode::FORBIDDEN,
        "forbidden",
    );
    assert_error(
        &app.post(
            "/api/v1/admin/rejection-reasons",
            &t.admin.1,
            json!({"text_zh": " ", "text_en": "x"}),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_input",
    );
    let (st, r) = app
        .post("/api/v1/admin/rejection-reasons", &t.admin.1, new)
        .await;
    assert_eq!(st, StatusCode::CREATED, "{r}");
    let (_, b) = app.get("/api/v1/admin/rejection-reasons", &t.r2.1).await;
    assert_eq!(b["items"][0]["text_en"], "Already claimed");
    let (st, _) = app
        .call(
            Method::PATCH,
            &format!("/api/v1/admin/rejection-reasons/{}", r["id"]),
            Some(&t.admin.1),
            Some(json!({"active": false, "text_en": "Claimed twice"})),
        )
        .await;
    assert_eq!(st, StatusCode::OK);
    let (_, b) = app.get("/api/v1/admin/rejection-reasons", &t.r2.1).await;
    assert_eq!(b["items"].as_array().unwrap().len(), 6);
    let (_, b) = app
        .get("/api/v1/admin/rejection-reasons?all=true", &t.admin.1)
        .await;
    assert_eq!(b["items"][0]["text_en"], "Claimed twice");
    assert_eq!(b["items"][0]["active"], false);
}

#[tokio::test]
async fn search_by_invoice_number_student_id_and_name() {
    let app = TestApp::spawn().await;
    let t = team(&app).await;
    let zhang = app.create_user("2024101", "张伟", &[Role::Student]).await;
    let li = app.create_user("2024102", "李伟明", &[Role::Student]).await;
    let wang = app.create_user("2023201", "王芳", &[Role::Student]).await;
    let (c1, _) = submitted(
        &app,
        zhang,
        None,
        &[inv("0440319001", 100, 0), inv("9990001", 100, 0)],
    )
    .await;
    let (c2, _) = submitted(&app, li, None, &[inv("0440319002", 100, 0)]).await;
    let (c3, _) = submitted(&app, wang, None, &[inv("0550000001", 100, 0)]).await;
    case_in(
        &app,
        wang,
        "draft",
        "x",
        None,
        now_ms(),
        &[inv("0440319003", 100, 0)],
    )
    .await;
    let ids = |b: &Value| -> Vec<i64> {
        let mut v: Vec<i64> = b["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["id"].as_i64().unwrap())
            .collect();
        v.sort();
        v
    };
    let (st, b) = app.get("/api/v1/search?q=0440319002", &t.r1.1).await;
    assert_eq!(st, StatusCode::OK, "{b}");
    assert_eq!(ids(&b), vec![c2]);
    assert_eq!(b["items"][0]["matched"], "invoice_no");
    assert_eq!(b["items"][0]["student"]["name"], "李伟明");
    assert_eq!(b["items"][0]["invoices"][0]["invoice_no"], "0440319002");
    // Prefix: both, not the draft.
    let (_, b) = app.get("/api/v1/search?q=04403190", &t.r2.1).await;
    assert_eq!(ids(&b), vec![c1, c2]);
    assert_eq!(
        b["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["id"] == c1)
            .unwrap()["invoices"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    // Student id exact and prefix.
    let (_, b) = app.get("/api/v1/search?q=2023201", &t.admin.1).await;
    assert_eq!(ids(&b), vec![c3]);
    assert_eq!(b["items"][0]["matched"], "student_id");
    let (_, b) = app.get("/api/v1/search?q=20241", &t.admin.1).await;
    assert_eq!(ids(&b), vec![c1, c2]);
    // Name substring, Chinese.
    let (_, b) = app
        .get(&format!("/api/v1/search?q={}", "%E4%BC%9F"), &t.r1.1)
        .await; // 伟
    assert_eq!(ids(&b), vec![c1, c2]);
    assert_eq!(b["items"][0]["matched"], "student_name");
    let (_, b) = app
        .get("/api/v1/search?q=%E7%8E%8B%E8%8A%B3", &t.r1.1)
        .await; // 王芳
    assert_eq!(ids(&b), vec![c3]);
    // Wildcards are literal.
    let (_, b) = app.get("/api/v1/search?q=%25", &t.r1.1).await;
    assert_eq!(ids(&b), Vec::<i64>::new());
    assert_error(
        &app.get("/api/v1/search?q=%20", &t.r1.1).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_input",
    );
    assert_error(
        &app.get("/api/v1/search?q=2024101", &t.student.1).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    );
}

async fn photo(app: &TestApp, owner: i64, sha: &str) -> i64 {
    sqlx::query_scalar(
        "INSERT INTO files (owner_id, sha256, mime, size_bytes, storage_key, created_at) VALUES ($1, $2, 'image/jpeg', 10, $3, 0) RETURNING id",
    )
    .bind(owner)
    .bind(sha)
    .bind(format!("k/{sha}/{}", now_ms()))
    .fetch_one(&app.db.pool)
    .await
    .unwrap()
}

#[tokio::test]
async fn flags_point_at_duplicates_and_unusual_amounts() {
    let app = TestApp::spawn().await;
    let t = team(&app).await;
    let other = app.create_user("2024300", "赵六", &[Role::Student]).await;
    let (a, a_inv) = submitted(
        &app,
        other,
        None,
        &[inv("DUP-1", 1_000, 0), inv("A-2", 1_000, 0)],
    )
    .await;
    let (b, b_inv) = submitted(
        &app,
        t.student.0,
        None,
        &[
            inv("DUP-1", 1_000, 0),
            inv("B-2", 1_000, 0),
            inv("B-3", 1_000, 0),
        ],
    )
    .await;
    let fa = photo(&app, other, "aaaa").await;
    let fb = photo(&app, t.student.0, "aaaa").await;
    let fc = photo(&app, t.student.0, "cccc").await;
    for (inv_id, file) in [(a_inv[1], fa), (b_inv[1], fb), (b_inv[2], fc)] {
        sqlx::query("UPDATE invoices SET photo_file_id = $1 WHERE id = $2")
            .bind(file)
            .bind(inv_id)
            .execute(&app.db.pool)
            .await
            .unwrap();
    }
    let d = case_json(&app, &t.r1.1, b).await;
    let flags = d["flags"].as_array().unwrap();
    assert_eq!(flags.len(), 2, "{d}");
    assert!(flags.contains(&json!({"invoice_id": b_inv[0], "kind": "duplicate_invoice_no", "other_case_ids": [a], "median_cents": null})));
    assert!(flags.contains(&json!({"invoice_id": b_inv[1], "kind": "duplicate_photo", "other_case_ids": [a], "median_cents": null})));
    // Flags never decide: the case is still pending review.
    assert_eq!(d["status"], "submitted");

    // Amounts: a hospital's median of approved invoices (5 samples needed).
    let h = "同仁医院";
    for (i, total) in [10_000, 20_000, 30_000, 40_000].iter().enumerate() {
        let no = format!("H-{i}");
        let (c, _) = case_in(
            &app,
            other,
            "approved",
            h,
            Some(3),
            now_ms(),
            &[inv(&no, *total, 0)],
        )
        .await;
        sqlx::query("UPDATE invoices SET status = 'approved' WHERE case_id = $1")
            .bind(c)
            .execute(&app.db.pool)
            .await
            .unwrap();
    }
    let (c, c_inv) = case_in(
        &app,
        t.student.0,
        "submitted",
        h,
        Some(3),
        now_ms(),
        &[inv("BIG", 100_000, 0), inv("OK", 80_000, 0)],
    )
    .await;
    assert!(
        case_json(&app, &t.r1.1, c).await["flags"]
            .as_array()
            .unwrap()
            .is_empty(),
        "4 samples are not enough"
    );
    let (c5, _) = case_in(
        &app,
        other,
        "approved",
        h,
        Some(3),
        now_ms(),
        &[inv("H-5", 50_000, 0)],
    )
    .await;
    sqlx::query("UPDATE invoices SET status = 'approved' WHERE case_id = $1")
        .bind(c5)
        .execute(&app.db.pool)
        .await
        .unwrap();
    let d = case_json(&app, &t.r1.1, c).await;
    // Median 300.00: 1000.00 > 3 × 300.00 is flagged, 800.00 is not.
    assert_eq!(
        d["flags"],
        json!([{"invoice_id": c_inv[0], "kind": "amount_outlier", "other_case_ids": [], "median_cents": 30_000}])
    );
}

#[tokio::test]
async fn notices_are_published_edited_and_expired_safely() {
    let app = TestApp::spawn().await;
    let t = team(&app).await;
    let body = json!({"title": "关于2026年报销安排", "body": "**截止** 12月20日\n\n<script>alert(1)</script>", "priority": 5, "valid_until": "2099-12-31"});
    assert_error(
        &app.post("/api/v1/admin/notices", &t.r1.1, body.clone())
            .await,
        StatusCode::FORBIDDEN,
        "forbidden",
    );
    assert_error(
        &app.post(
            "/api/v1/admin/notices",
            &t.admin.1,
            json!({"title": "", "body": "x"}),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_input",
    );
    assert_error(
        &app.post(
            "/api/v1/admin/notices",
            &t.admin.1,
            json!({"title": "t", "body": "x", "valid_until": "soon"}),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_input",
    );
    let (st, n) = app.post("/api/v1/admin/notices", &t.admin.1, body).await;
    assert_eq!(st, StatusCode::CREATED, "{n}");
    assert!(
        n["body_html"]
            .as_str()
            .unwrap()
            .contains("<strong>截止</strong>"),
        "{n}"
    );
    assert!(!n["body_html"].as_str().unwrap().contains("<script"), "{n}");
    assert_eq!(n["expired"], false);
    // End of that day in Asia/Shanghai.
    assert_eq!(n["valid_until"], "2099-12-31T15:59:59Z");
    let id = n["id"].as_i64().unwrap();
    let (st, n) = app
        .call(
            Method::PATCH,
            &format!("/api/v1/admin/notices/{id}"),
            Some(&t.admin.1),
            Some(json!({"title": "报销安排（更新）"})),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{n}");
    assert_eq!(n["title"], "报销安排（更新）");
    assert_eq!(n["priority"], 5);
    let (st, n) = app
        .post(
            &format!("/api/v1/admin/notices/{id}/expire"),
            &t.admin.1,
            json!({}),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{n}");
    assert_eq!(n["expired"], true);
    let (_, list) = app.get("/api/v1/admin/notices", &t.admin.1).await;
    assert_eq!(list["items"][0]["id"], id);
    assert_error(
        &app.post("/api/v1/admin/notices/99999/expire", &t.admin.1, json!({}))
            .await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
}

/// The journey of the issue, through intake's real API: a level-1 and a level-2 reviewer take
/// a submitted case through corrections, a level-2 return, the student's fix and resubmission
/// (back to level 2, not level 1) and final approval; the student sees the policy's payout.
#[tokio::test]
async fn journey_with_student_fix_after_level2_return() {
    let app = TestApp::spawn().await;
    let (sid, stok) = crate::intake::student(&app, "2024555").await;
    let (_, r1) = app.user_with("rev1", &[Role::Reviewer1]).await;
    let (_, r2) = app.user_with("rev2", &[Role::Reviewer2]).await;
    let (case, inv1) = crate::intake::ready_case(&app, &stok, "J-1").await; // 500.00, 100.00 self-paid
    let (st, b) = crate::intake::add_invoice(&app, &stok, case, "J-2", "30000", "0").await;
    assert_eq!(st, StatusCode::CREATED, "{b}");
    let inv2 = b["id"].as_i64().unwrap();
    let (st, b) = app
        .post(&format!("/api/v1/cases/{case}/submit"), &stok, json!({}))
        .await;
    assert_eq!(st, StatusCode::OK, "{b}");

    let (_, q) = app.get("/api/v1/review/queue?level=1", &r1).await;
    assert_eq!(q["items"][0]["id"], case);
    let v = version(&app, &r1, case).await;
    let (st, b) = app
        .call(
            Method::PATCH,
            &format!("/api/v1/review/cases/{case}"),
            Some(&r1),
            Some(json!({"version": v, "hospital_level": 2})),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{b}");
    let (_, b) = decide_invoice(&app, &r1, inv1, json!({"version": b["version"], "level": 1, "decision": "approve", "self_pay_cents": 12_000})).await;
    let (_, b) = decide_invoice(
        &app,
        &r1,
        inv2,
        json!({"version": b["version"], "level": 1, "decision": "approve"}),
    )
    .await;
    assert_eq!(b["status"], "level2", "{b}");
    let (_, b) = decide_invoice(&app, &r2, inv2, json!({"version": b["version"], "level": 2, "decision": "reject", "reason": "金额与发票不符", "may_edit": true})).await;
    let (st, b) = decide_case(&app, &r2, case, json!({"version": b["version"], "level": 2, "decision": "reject", "reason": "请更正发票 J-2 的金额", "may_edit": true})).await;
    assert_eq!(st, StatusCode::OK, "{b}");
    assert_eq!(b["status"], "returned");

    // The student fixes only the rejected invoice and resubmits.
    let (st, b) = app
        .call(
            Method::PATCH,
            &format!("/api/v1/invoices/{inv1}"),
            Some(&stok),
            Some(json!({"total_cents": 1})),
        )
        .await;
    assert_ne!(
        st,
        StatusCode::OK,
        "an approved invoice stays as approved: {b}"
    );
    let (st, b) = app
        .call(
            Method::PATCH,
            &format!("/api/v1/invoices/{inv2}"),
            Some(&stok),
            Some(json!({"total_cents": 28_000})),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{b}");
    let (st, b) = app
        .post(&format!("/api/v1/cases/{case}/submit"), &stok, json!({}))
        .await;
    assert_eq!(st, StatusCode::OK, "{b}");
    let (_, q1) = app.get("/api/v1/review/queue?level=1", &r1).await;
    assert_eq!(q1["waiting"], 0, "{q1}");
    let (_, q2) = app.get("/api/v1/review/queue?level=2", &r2).await;
    assert_eq!(q2["items"][0]["id"], case, "{q2}");
    let b = case_json(&app, &r2, case).await;
    assert_eq!(b["invoices"][0]["status"], "approved");
    let (st, b) = decide_invoice(
        &app,
        &r2,
        inv2,
        json!({"version": b["version"], "level": 2, "decision": "approve"}),
    )
    .await;
    assert_eq!(st, StatusCode::OK, "{b}");
    assert_eq!(b["status"], "approved");

    // covered (500 − 120) + 280 = 660.00; (660 − 200) × 85% = 391.00
    let (st, c) = app.get(&format!("/api/v1/cases/{case}"), &stok).await;
    assert_eq!(st, StatusCode::OK, "{c}");
    assert_eq!(c["status"], "approved");
    assert_eq!(c["payout_cents"], 39_100, "{c}");
    assert_eq!(c["payout_breakdown"]["covered_cents"], 66_000, "{c}");
    assert_eq!(c["payout_breakdown"]["ratio_bp"], 8500);
    // The student's case page explains the stored payout line by line.
    let cookie = crate::intake::web_login(&app, "2024555").await;
    let html = crate::intake::page(&app, &cookie, &format!("/app/cases/{case}")).await;
    assert!(
        html.contains("报销金额计算") && html.contains("391.00") && html.contains("660.00"),
        "{html}"
    );
    assert!(html.contains("政策版本 1"), "{html}");
    assert!(
        inbox_kinds(&app, sid)
            .await
            .contains(&"case_approved".to_string())
    );
}

/// Presses `keys` on whatever has the focus (the page body after a load).
async fn press(b: &crate::browser::Browser, keys: &str) {
    b.driver
        .action_chain()
        .send_keys(keys)
        .perform()
        .await
        .unwrap();
}

/// Waits until the page at `path` is loaded and its shortcuts are listening.
async fn wait_page(b: &crate::browser::Browser, path: &str) {
    for _ in 0..200 {
        if b.path().await == path {
            let ready = b
                .script("return document.readyState === 'complete' && document.documentElement.getAttribute('data-keys') === 'ready'")
                .await;
            if ready == Value::Bool(true) {
                return;
            }
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("never reached {path}, at {}", b.path().await);
}

/// A level-1 reviewer clears a queue of three cases without the mouse: n opens the oldest,
/// a approves the current invoice (the next pending one is selected after each reload), each
/// finished case leads to the next, and the queue ends empty.
#[tokio::test]
async fn reviewer_clears_a_queue_of_three_with_the_keyboard() {
    let app = TestApp::spawn().await;
    let (sid, _) = app.user_with("2024001", &[Role::Student]).await;
    app.create_user("rev1", "审核员甲", &[Role::Reviewer1])
        .await;
    let now = now_ms();
    let h = "北京大学第三医院";
    let (c1, i1) = case_in(
        &app,
        sid,
        "submitted",
        h,
        Some(3),
        now - 30_000,
        &[inv("K-1a", 10_000, 0), inv("K-1b", 5_000, 0)],
    )
    .await;
    let (c2, _) = case_in(
        &app,
        sid,
        "submitted",
        h,
        Some(3),
        now - 20_000,
        &[inv("K-2", 10_000, 0)],
    )
    .await;
    let (c3, _) = case_in(
        &app,
        sid,
        "submitted",
        h,
        Some(3),
        now - 10_000,
        &[inv("K-3", 10_000, 0)],
    )
    .await;
    let Some(b) = crate::browser::Browser::start(&app.addr, 1366, 900).await else {
        return;
    };
    b.sign_in("rev1").await;
    b.goto("/console/review?level=1").await;
    wait_page(&b, "/console/review").await;
    assert_eq!(b.text("#waiting").await, "3");
    press(&b, "n").await;
    let case1 = format!("/console/review/cases/{c1}");
    wait_page(&b, &case1).await;
    // The first pending invoice is current; a approves it and the reloaded page makes the
    // second one current.
    let current = "return document.querySelector('.invoice.current').id";
    assert_eq!(b.script(current).await, json!(format!("invoice-{}", i1[0])));
    press(&b, "a").await;
    b.wait_for(&format!("document.readyState === 'complete' && document.querySelector('.invoice.current') && document.querySelector('.invoice.current').id === 'invoice-{}' && document.documentElement.getAttribute('data-keys') === 'ready'", i1[1])).await;
    press(&b, "a").await;
    wait_page(&b, &format!("/console/review/cases/{c2}")).await;
    // ? shows the shortcuts, again hides them.
    press(&b, "?").await;
    b.wait_for("!document.getElementById('kbd-help').hidden")
        .await;
    press(&b, "?").await;
    b.wait_for("document.getElementById('kbd-help').hidden")
        .await;
    press(&b, "a").await;
    wait_page(&b, &format!("/console/review/cases/{c3}")).await;
    press(&b, "j").await;
    press(&b, "k").await;
    press(&b, "a").await;
    wait_page(&b, "/console/review").await;
    assert!(
        b.script("return !!document.getElementById('queue-empty')")
            .await
            == Value::Bool(true)
    );
    assert_eq!(b.text("#waiting").await, "0");
    b.stop().await;
    let statuses: Vec<String> =
        sqlx::query_scalar("SELECT status FROM cases WHERE id IN ($1, $2, $3) ORDER BY id")
            .bind(c1)
            .bind(c2)
            .bind(c3)
            .fetch_all(&app.db.pool)
            .await
            .unwrap();
    assert_eq!(statuses, vec!["level2", "level2", "level2"]);
    let approved: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM review_decisions WHERE result = 'approve' AND level = 1",
    )
    .fetch_one(&app.db.pool)
    .await
    .unwrap();
    assert_eq!(approved, 4);
}

/// The console pages render what the API knows: queue, review screen with flags and payout
/// lines, search, policy (saved as a new version through the form) and notices (Markdown
/// rendered safely). Another role is refused.
#[tokio::test]
async fn console_pages_show_queue_case_search_policy_and_notices() {
    use crate::intake::{page, web_login};
    let app = TestApp::spawn().await;
    let t = team(&app).await;
    let other = app.create_user("2024300", "赵六", &[Role::Student]).await;
    let (case, _) = submitted(&app, t.student.0, Some(3), &[inv("PG-1", 12_345, 0)]).await;
    submitted(&app, other, Some(3), &[inv("PG-1", 100, 0)]).await;
    let r1 = web_login(&app, "rev1").await;
    let html = page(&app, &r1, "/console/review?level=1").await;
    assert!(
        html.contains(&format!("/console/review/cases/{case}")),
        "{html}"
    );
    assert!(html.contains("123.45"));
    let html = page(&app, &r1, &format!("/console/review/cases/{case}")).await;
    assert!(html.contains("PG-1") && html.contains("风险提示"), "{html}");
    assert!(html.contains("发票照片不清晰"), "preset reasons offered");
    assert!(html.contains("name=\"decision\" value=\"approve\""));
    let html = page(&app, &r1, "/console/search?q=PG-").await;
    assert!(
        html.contains("search-results") && html.contains("赵六"),
        "{html}"
    );

    let admin = web_login(&app, "admin").await;
    let html = page(&app, &admin, "/console/policy").await;
    assert!(html.contains("value=\"80.00\""), "{html}");
    let csrf = |html: &str| {
        let i = html.find("name=\"csrf\" value=\"").unwrap() + 19;
        html[i..i + html[i..].find('"').unwrap()].to_string()
    };
    let token = csrf(&html);
    let resp = app
        .client
        .post(app.url("/console/policy"))
        .header(reqwest::header::COOKIE, &admin)
        .form(&[
            ("csrf", token.as_str()),
            ("ratio0", "70"),
            ("ratio1", "90"),
            ("ratio2", "85"),
            ("ratio3", "82.5"),
            ("deductible", "150"),
            ("cap", "40000"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let (_, p) = app.get("/api/v1/admin/policy", &t.admin.1).await;
    assert_eq!(p["version"], 2);
    assert_eq!(p["ratios_bp"]["3"], 8250);
    assert_eq!(p["deductible_cents"], 15_000);
    let resp = app
        .client
        .post(app.url("/console/notices"))
        .header(reqwest::header::COOKIE, &admin)
        .form(&[
            ("csrf", token.as_str()),
            ("title", "交票时间调整"),
            ("body", "*下周一*起\n\n<script>x()</script>"),
            ("priority", "3"),
            ("valid_until", ""),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let html = page(&app, &admin, "/console/notices").await;
    assert!(
        html.contains("<em>下周一</em>") && html.contains("&lt;script&gt;"),
        "{html}"
    );
    assert!(!html.contains("<script>x()"));
    let resp = app
        .client
        .get(app.url("/console/policy"))
        .header(reqwest::header::COOKIE, &r1)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
}
