//! Undo (SPEC §13 office): an admin reopens a rejected, booked (its seat released) or handed-in
//! case with a reason, back to level 2; a level-2 reviewer still reopens only approved cases; an
//! admin lifts a mistaken blacklist entry with a reason. Each step tells the student and is
//! audited.

use medclaim::http::auth::Role;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use super::*;
use crate::booking::{local_date, open_slot};
use crate::common::{TestApp, assert_error};
use crate::fixtures::{inv, rated};

async fn reopen(app: &TestApp, token: &str, case: i64, reason: &str) -> (StatusCode, Value) {
    let v: i64 = sqlx::query_scalar("SELECT version FROM cases WHERE id = $1")
        .bind(case)
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    app.post(
        &format!("/api/v1/review/cases/{case}/reopen"),
        token,
        json!({"version": v, "reason": reason}),
    )
    .await
}

async fn inbox_kinds(app: &TestApp, user: i64) -> Vec<String> {
    sqlx::query_scalar("SELECT kind FROM notifications WHERE user_id = $1 ORDER BY id")
        .bind(user)
        .fetch_all(&app.db.pool)
        .await
        .unwrap()
}

async fn audit_actions(app: &TestApp, case: i64) -> Vec<String> {
    sqlx::query_scalar(
        "SELECT action FROM audit_events WHERE object_type = 'case' AND object_id = $1 ORDER BY id",
    )
    .bind(case.to_string())
    .fetch_all(&app.db.pool)
    .await
    .unwrap()
}

#[tokio::test]
async fn an_admin_undoes_a_final_rejection_and_lifts_its_blacklist_entries() {
    let app = TestApp::spawn().await;
    let t = team(&app).await;
    let (case, _) = submitted(
        &app,
        &t.student,
        None,
        &[inv("U1", 1_000, 0), inv("U2", 2_000, 0)],
    )
    .await;
    let v = version(&app, &t.r1.token, case).await;
    let (st, b) = decide_case(&app, &t.r1.token, case, json!({"version": v, "level": 1, "decision": "reject", "reason": "专家门诊费用不予报销", "may_edit": false, "blacklist": true})).await;
    assert_eq!(
        (st, b["status"].as_str()),
        (StatusCode::OK, Some("rejected")),
        "{b}"
    );

    // A level-2 reviewer may reopen approved cases only.
    assert_error(
        &reopen(&app, &t.r2.token, case, "看错了").await,
        StatusCode::FORBIDDEN,
        "forbidden",
    );
    assert_error(
        &reopen(&app, &t.admin.token, case, " ").await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "reason_required",
    );
    let (st, b) = reopen(&app, &t.admin.token, case, "误判，专家门诊可报销").await;
    assert_eq!(st, StatusCode::OK, "{b}");
    assert_eq!(b["status"], "level2");
    let log = b["decisions"].as_array().unwrap();
    let last = log
        .iter()
        .find(|d| d["result"] == "reopen")
        .expect("logged");
    assert_eq!(last["changes"]["status"]["old"], "rejected");
    assert!(
        inbox_kinds(&app, t.student.id)
            .await
            .contains(&"case_reopened".to_string())
    );
    assert!(
        audit_actions(&app, case)
            .await
            .contains(&"case.reopen".to_string())
    );

    // The blacklist: who and why, then lifted with a reason.
    let (st, _) = app.get("/api/v1/admin/blacklist", &t.r2.token).await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    let (st, list) = app.get("/api/v1/admin/blacklist", &t.admin.token).await;
    assert_eq!(st, StatusCode::OK, "{list}");
    let items = list["items"].as_array().unwrap();
    assert_eq!(items.len(), 2, "{list}");
    let e1 = items.iter().find(|e| e["invoice_no"] == "U1").unwrap();
    assert_eq!(e1["case_id"], case);
    assert_eq!(e1["student"], "2024001");
    assert_eq!(e1["created_by"], "rev1");
    assert_eq!(e1["reason"], "专家门诊费用不予报销");
    let path = format!("/api/v1/admin/blacklist/{}", e1["id"]);
    let lift = |token: &str, body: Value| {
        let (app, path, token) = (&app, path.clone(), token.to_string());
        async move {
            app.call(Method::DELETE, &path, Some(&token), Some(body))
                .await
        }
    };
    assert_error(
        &lift(&t.admin.token, json!({"reason": ""})).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "reason_required",
    );
    let (st, _) = lift(&t.r1.token, json!({"reason": "x"})).await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    let (st, b) = lift(&t.admin.token, json!({"reason": "误列入"})).await;
    assert_eq!(st, StatusCode::NO_CONTENT, "{b}");
    assert_error(
        &lift(&t.admin.token, json!({"reason": "误列入"})).await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    let (_, list) = app.get("/api/v1/admin/blacklist", &t.admin.token).await;
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    // The console page lists the other entry with its reason and a lift form.
    app.create_user("adm2", "管理员", &[Role::Admin]).await;
    let cookie = crate::intake::web_login(&app, "adm2").await;
    let html = crate::intake::page(&app, &cookie, "/console/blacklist").await;
    assert!(html.contains("U2") && !html.contains(">U1<"), "{html}");
    assert!(html.contains("专家门诊费用不予报销"));
    assert!(html.contains("/lift\""));
    assert!(
        inbox_kinds(&app, t.student.id)
            .await
            .contains(&"blacklist_lifted".to_string())
    );
    assert!(
        audit_actions(&app, case)
            .await
            .contains(&"blacklist.lift".to_string())
    );
    // The lifted number is no longer barred (the reopened case holds it now); the other is.
    let fresh = app
        .draft_case(&t.student, rated(Some(1)), &[inv("U3", 100, 0)])
        .await;
    let (st, b) =
        crate::intake::add_invoice(&app, &t.student.token, fresh.id, "U1", "100", "0").await;
    assert_error(&(st, b), StatusCode::CONFLICT, "duplicate_invoice");
    let (st, b) =
        crate::intake::add_invoice(&app, &t.student.token, fresh.id, "U2", "100", "0").await;
    assert_error(&(st, b), StatusCode::CONFLICT, "blacklisted_invoice");
}

#[tokio::test]
async fn an_admin_undoes_a_booking_and_a_hand_in_and_the_seat_comes_back() {
    let app = TestApp::spawn().await;
    let t = team(&app).await;
    let slot = open_slot(&app, &t.admin.token, &local_date(2), "09:00", "09:30", 1).await;
    let (claim, _) = app
        .booked_case(
            &t.student,
            (&t.r1, &t.r2),
            rated(Some(2)),
            &[inv("B1", 10_000, 0)],
            slot,
        )
        .await;
    let (st, b) = reopen(&app, &t.r2.token, claim.id, "金额有误").await;
    assert_error(&(st, b), StatusCode::FORBIDDEN, "forbidden");
    let (st, b) = reopen(&app, &t.admin.token, claim.id, "金额有误，重新审核").await;
    assert_eq!(
        (st, b["status"].as_str()),
        (StatusCode::OK, Some("level2")),
        "{b}"
    );
    assert!(b["payout_cents"].is_null(), "the payout is superseded: {b}");
    let (booked, status): (i64, String) = sqlx::query_as(
        "SELECT s.booked, b.status FROM slots s JOIN bookings b ON b.slot_id = s.id WHERE b.case_id = $1",
    )
    .bind(claim.id)
    .fetch_one(&app.db.pool)
    .await
    .unwrap();
    assert_eq!(
        (booked, status.as_str()),
        (0, "cancelled"),
        "the seat is free again"
    );
    // Approved again at level 2 (by another level-2 reviewer than the admin), it books again.
    let (_, r2b) = app.user_with("rev2b", &[Role::Reviewer2]).await;
    let v = version(&app, &r2b, claim.id).await;
    let (st, b) = decide_case(
        &app,
        &r2b,
        claim.id,
        json!({"version": v, "level": 2, "decision": "approve"}),
    )
    .await;
    assert_eq!(
        (st, b["status"].as_str()),
        (StatusCode::OK, Some("approved")),
        "{b}"
    );
    let booking = app.book(&t.student, slot, claim.id).await;

    // Handed in, then undone too.
    let (st, done) = app
        .post(
            &format!("/api/v1/admin/bookings/{}/complete", booking["id"]),
            &t.r1.token,
            json!({}),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{done}");
    let (st, b) = reopen(&app, &t.admin.token, claim.id, "交票材料不全").await;
    assert_eq!(
        (st, b["status"].as_str()),
        (StatusCode::OK, Some("level2")),
        "{b}"
    );
    let kinds = inbox_kinds(&app, t.student.id).await;
    assert_eq!(
        kinds.iter().filter(|k| *k == "case_reopened").count(),
        2,
        "{kinds:?}"
    );
    // Nothing to undo on a case under review.
    assert_error(
        &reopen(&app, &t.admin.token, claim.id, "再次").await,
        StatusCode::CONFLICT,
        "invalid_transition",
    );
}
