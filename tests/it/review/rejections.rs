//! Saying no: final rejections, the blacklist, and the preset reasons an administrator edits.

use reqwest::{Method, StatusCode};
use serde_json::json;

use super::*;
use crate::common::{TestApp, assert_error};
use crate::fixtures::{inv, rated};

#[tokio::test]
async fn final_rejections_and_blacklist() {
    let app = TestApp::spawn().await;
    let t = team(&app).await;
    // Every invoice rejected finally: the case is rejected.
    let (case, invs) = submitted(&app, &t.student, Some(2), &[inv("C1", 1_000, 0)]).await;
    let v = version(&app, &t.r1.token, case).await;
    let (_, b) = decide_invoice(&app, &t.r1.token, invs[0], json!({"version": v, "level": 1, "decision": "reject", "reason": "非正规医疗发票", "may_edit": false})).await;
    assert_eq!(b["status"], "rejected", "{b}");
    assert_eq!(b["may_edit"], false);
    assert_eq!(
        inbox_kinds(&app, t.student.id).await,
        vec!["invoice_rejected", "case_rejected"]
    );
    // A final rejection with one approved invoice: on to level 2 with the approved one only.
    let (case, invs) = submitted(
        &app,
        &t.student,
        Some(2),
        &[inv("D1", 1_000, 0), inv("D2", 2_000, 0)],
    )
    .await;
    let v = version(&app, &t.r1.token, case).await;
    let (_, b) = decide_invoice(
        &app,
        &t.r1.token,
        invs[0],
        json!({"version": v, "level": 1, "decision": "reject", "reason": "x", "may_edit": false}),
    )
    .await;
    let (_, b) = decide_invoice(
        &app,
        &t.r1.token,
        invs[1],
        json!({"version": b["version"], "level": 1, "decision": "approve"}),
    )
    .await;
    assert_eq!(b["status"], "level2", "{b}");

    // Whole-case rejection with blacklist (expert clinic): final, and the numbers are barred.
    let (case, _) = submitted(
        &app,
        &t.student,
        None,
        &[inv("E1", 1_000, 0), inv("E2", 2_000, 0)],
    )
    .await;
    let v = version(&app, &t.r1.token, case).await;
    let (st, b) = decide_case(&app, &t.r1.token, case, json!({"version": v, "level": 1, "decision": "reject", "reason": "专家门诊费用不予报销", "may_edit": false, "blacklist": true})).await;
    assert_eq!(st, StatusCode::OK, "{b}");
    assert_eq!(b["status"], "rejected");
    assert_eq!(b["invoices"][0]["status"], "rejected");
    assert_eq!(b["decisions"][0]["changes"]["blacklist"], true);
    let barred: Vec<String> = sqlx::query_scalar(
        "SELECT invoice_no FROM blacklist WHERE user_id = $1 ORDER BY invoice_no",
    )
    .bind(t.student.id)
    .fetch_all(&app.db.pool)
    .await
    .unwrap();
    assert_eq!(barred, vec!["E1", "E2"]);
    // Deciding a finished case, or a draft, is not a transition.
    assert_error(
        &decide_case(
            &app,
            &t.r1.token,
            case,
            json!({"version": b["version"], "level": 1, "decision": "approve"}),
        )
        .await,
        StatusCode::CONFLICT,
        "invalid_transition",
    );
    let draft_claim = app
        .draft_case(&t.student, rated(Some(1)), &[inv("F1", 100, 0)])
        .await;
    let (draft, dinv) = (draft_claim.id, draft_claim.invoices);
    // A draft is the student's alone (SPEC §2): staff read 404; its version comes from the row.
    assert_error(
        &app.get(&format!("/api/v1/review/cases/{draft}"), &t.r1.token)
            .await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    let v: i64 = sqlx::query_scalar("SELECT version FROM cases WHERE id = $1")
        .bind(draft)
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    assert_error(
        &decide_invoice(
            &app,
            &t.r1.token,
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
            Some(&t.r1.token),
            Some(json!({"version": v, "hospital_level": 2})),
        )
        .await,
        StatusCode::CONFLICT,
        "invalid_transition",
    );
    assert_error(
        &decide_case(
            &app,
            &t.r1.token,
            999_999,
            json!({"version": 1, "level": 1, "decision": "approve"}),
        )
        .await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
}

#[tokio::test]
async fn preset_rejection_reasons_are_admin_edited() {
    let app = TestApp::spawn().await;
    let t = team(&app).await;
    let (st, b) = app
        .get("/api/v1/admin/rejection-reasons", &t.r1.token)
        .await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(b["items"].as_array().unwrap().len(), 6);
    assert_eq!(b["items"][0]["text_zh"], "发票照片不清晰");
    assert_eq!(b["items"][0]["text_en"], "Invoice photo is not legible");
    assert_error(
        &app.get("/api/v1/admin/rejection-reasons", &t.student.token)
            .await,
        StatusCode::FORBIDDEN,
        "forbidden",
    );
    let new = json!({"text_zh": "重复报销", "text_en": "Already claimed", "sort_order": 0});
    assert_error(
        &app.post("/api/v1/admin/rejection-reasons", &t.r1.token, new.clone())
            .await,
        StatusCode::FORBIDDEN,
        "forbidden",
    );
    assert_error(
        &app.post(
            "/api/v1/admin/rejection-reasons",
            &t.admin.token,
            json!({"text_zh": " ", "text_en": "x"}),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_input",
    );
    let (st, r) = app
        .post("/api/v1/admin/rejection-reasons", &t.admin.token, new)
        .await;
    assert_eq!(st, StatusCode::CREATED, "{r}");
    let (_, b) = app
        .get("/api/v1/admin/rejection-reasons", &t.r2.token)
        .await;
    assert_eq!(b["items"][0]["text_en"], "Already claimed");
    let (st, _) = app
        .call(
            Method::PATCH,
            &format!("/api/v1/admin/rejection-reasons/{}", r["id"]),
            Some(&t.admin.token),
            Some(json!({"active": false, "text_en": "Claimed twice"})),
        )
        .await;
    assert_eq!(st, StatusCode::OK);
    let (_, b) = app
        .get("/api/v1/admin/rejection-reasons", &t.r2.token)
        .await;
    assert_eq!(b["items"].as_array().unwrap().len(), 6);
    let (_, b) = app
        .get("/api/v1/admin/rejection-reasons?all=true", &t.admin.token)
        .await;
    assert_eq!(b["items"][0]["text_en"], "Claimed twice");
    assert_eq!(b["items"][0]["active"], false);
}
