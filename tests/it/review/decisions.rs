//! Deciding cases: two levels with corrections, returns that come back to the level that
//! returned them, four eyes, stale versions under concurrency, and the whole journey with the
//! student's fix.

use medclaim::http::auth::Role;
use reqwest::{Method, StatusCode};
use serde_json::json;

use super::*;
use crate::common::{TestApp, assert_error};
use crate::fixtures::inv;

#[tokio::test]
async fn two_levels_with_corrections_end_in_approval_and_payout() {
    let app = TestApp::spawn().await;
    let t = team(&app).await;
    let (case, invs) = submitted(
        &app,
        &t.student,
        None,
        &[inv("0001", 60_000, 10_000), inv("0002", 50_000, 0)],
    )
    .await;
    let v = version(&app, &t.r1.token, case).await;
    // No hospital level yet: no invoice can be approved.
    assert_error(
        &decide_invoice(
            &app,
            &t.r1.token,
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
            Some(&t.r1.token),
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
            &t.r1.token,
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
            &t.r1.token,
            invs[0],
            json!({"version": v, "level": 1, "decision": "approve", "self_pay_cents": 70_000}),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "self_pay_exceeds_total",
    );
    // Approve the first invoice with a corrected total: logged old → new.
    let (st, b) = decide_invoice(&app, &t.r1.token, invs[0], json!({"version": v, "level": 1, "decision": "approve", "total_cents": 61_000, "invoice_no": "00001"})).await;
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
        &t.r1.token,
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
            &t.r1.token,
            case,
            json!({"version": v, "level": 1, "decision": "approve"}),
        )
        .await,
        StatusCode::CONFLICT,
        "invalid_transition",
    );
    // Four eyes: someone holding both roles who decided at level 1 may not decide at level 2.
    app.grant(&t.r1, Role::Reviewer2).await;
    assert_error(
        &decide_case(
            &app,
            &t.r1.token,
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
        &t.r2.token,
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
    assert_eq!(inbox_kinds(&app, t.student.id).await, vec!["case_approved"]);
    let body: String = sqlx::query_scalar::<_, medclaim::seal::Sealed>(
        "SELECT body FROM notifications WHERE user_id = $1",
    )
    .bind(t.student.id)
    .fetch_one(&app.db.pool)
    .await
    .unwrap()
    .0;
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
        &t.student,
        Some(2),
        &[inv("A1", 10_000, 0), inv("A2", 20_000, 0)],
    )
    .await;
    let v = version(&app, &t.r1.token, case).await;
    assert_error(
        &decide_invoice(
            &app,
            &t.r1.token,
            invs[1],
            json!({"version": v, "level": 1, "decision": "reject"}),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "reason_required",
    );
    let (_, b) = decide_invoice(
        &app,
        &t.r1.token,
        invs[0],
        json!({"version": v, "level": 1, "decision": "approve"}),
    )
    .await;
    let v = b["version"].as_i64().unwrap();
    let (st, b) = decide_invoice(&app, &t.r1.token, invs[1], json!({"version": v, "level": 1, "decision": "reject", "reason": "发票照片不清晰", "may_edit": true})).await;
    assert_eq!(st, StatusCode::OK, "{b}");
    assert_eq!(b["status"], "returned");
    assert_eq!(b["review_level"], 1);
    assert_eq!(b["invoices"][0]["status"], "approved");
    assert_eq!(b["invoices"][0]["may_edit"], false);
    assert_eq!(b["invoices"][1]["status"], "rejected");
    assert_eq!(b["invoices"][1]["may_edit"], true);
    assert_eq!(
        inbox_kinds(&app, t.student.id).await,
        vec!["invoice_rejected", "case_returned"]
    );

    app.submit(&t.student, case).await;
    let b = case_json(&app, &t.r1.token, case).await;
    assert_eq!(b["status"], "submitted");
    assert_eq!(
        b["invoices"][0]["status"], "approved",
        "approved invoices stay approved"
    );
    let (_, q) = app.get("/api/v1/review/queue?level=1", &t.r1.token).await;
    assert_eq!(q["items"][0]["id"], case);
    let (st, b) = decide_invoice(
        &app,
        &t.r1.token,
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
        &t.student,
        Some(1),
        &[inv("B1", 30_000, 0), inv("B2", 5_000, 0)],
    )
    .await;
    let v = version(&app, &t.r1.token, case).await;
    let (_, b) = decide_case(
        &app,
        &t.r1.token,
        case,
        json!({"version": v, "level": 1, "decision": "approve"}),
    )
    .await;
    assert_eq!(b["status"], "level2", "{b}");
    let v = b["version"].as_i64().unwrap();
    // Level 2 rejects one invoice (editable) and returns the case.
    let (_, b) = decide_invoice(&app, &t.r2.token, invs[1], json!({"version": v, "level": 2, "decision": "reject", "reason": "金额与发票不符", "may_edit": true})).await;
    assert_eq!(
        b["status"], "level2",
        "re-deciding at level 2 waits for the case decision: {b}"
    );
    let v = b["version"].as_i64().unwrap();
    let (st, b) = decide_case(&app, &t.r2.token, case, json!({"version": v, "level": 2, "decision": "reject", "reason": "请更正第二张发票", "may_edit": true})).await;
    assert_eq!(st, StatusCode::OK, "{b}");
    assert_eq!(b["status"], "returned");
    assert_eq!(b["review_level"], 2);
    assert!(
        inbox_kinds(&app, t.student.id)
            .await
            .contains(&"case_returned".to_string())
    );

    app.submit(&t.student, case).await;
    let (_, q1) = app.get("/api/v1/review/queue?level=1", &t.r1.token).await;
    assert_eq!(q1["waiting"], 0, "not back to level 1: {q1}");
    let (_, q2) = app.get("/api/v1/review/queue?level=2", &t.r2.token).await;
    assert_eq!(q2["items"][0]["id"], case);
    let b = case_json(&app, &t.r2.token, case).await;
    assert_eq!(b["status"], "level2");
    assert_eq!(b["invoices"][0]["status"], "approved");
    assert_eq!(b["invoices"][1]["status"], "pending");
    // The fixed invoice is the last pending one: approving it approves the case.
    let (st, b) = decide_invoice(
        &app,
        &t.r2.token,
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
async fn nobody_decides_their_own_case() {
    let app = TestApp::spawn().await;
    let t = team(&app).await;
    let me = app.student_with("2024009", &[Role::Reviewer1]).await;
    let tok = me.token.clone();
    let (case, invs) = submitted(&app, &me, Some(1), &[inv("G1", 1_000, 0)]).await;
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
        &t.r1.token,
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
            &t.student,
            Some(2),
            &[inv(&no, 1_000, 0), inv(&format!("{no}x"), 1_000, 0)],
        )
        .await;
        let v = version(&app, &t.r1.token, case).await;
        let a = decide_invoice(
            &app,
            &t.r1.token,
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
        let d = case_json(&app, &t.r1.token, case).await;
        assert_eq!(d["decisions"].as_array().unwrap().len(), 1);
        assert_eq!(d["version"], v + 1);
    }
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
